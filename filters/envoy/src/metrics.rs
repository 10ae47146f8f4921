//! Counters and gauges at Envoy's admin `/stats` (proxy-wasm `define_metric`). A name defined on
//! several threads is one Envoy stat, so counters add up across workers. The names are the
//! core's ([`tokenwarden::gateway::metrics`]), shared with the Worker.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use tokenwarden::gateway::metrics::{decision_counters, fetch_counter, key_age_gauge};
use tokenwarden::gateway::Report;

/// The metric ids this thread has defined, by name.
#[derive(Default)]
pub struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
}

impl Metrics {
    fn id(&self, kind: MetricType, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, name).ok()?;
        self.ids.borrow_mut().insert(name.to_owned(), id);
        Some(id)
    }

    fn add(&self, name: &str) {
        if let Some(id) = self.id(MetricType::Counter, name) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    /// Defines the fixed counters (at 0) so that dashboards find them before the first request.
    pub fn define(&self, sources: &[String]) {
        for name in ["allowed", "rate_limited", "cache.hit", "cache.miss"] {
            self.id(MetricType::Counter, &format!("tokenwarden.{name}"));
        }
        for id in sources {
            for ok in [true, false] {
                self.id(MetricType::Counter, &fetch_counter(id, ok));
            }
        }
    }

    /// Counts one decision, in total and for the source that decided.
    pub fn decision(&self, d: &Report) {
        for name in decision_counters(d) {
            self.add(&name);
        }
    }

    pub fn fetched(&self, id: &str, ok: bool) {
        self.add(&fetch_counter(id, ok));
    }

    pub fn key_age(&self, id: &str, secs: u64) {
        if let Some(m) = self.id(MetricType::Gauge, &key_age_gauge(id)) {
            let _ = hostcalls::record_metric(m, secs);
        }
    }
}
