//! Counters and gauges at Envoy's admin `/stats` (proxy-wasm `define_metric`). A name defined on
//! several threads is one Envoy stat, so counters add up across workers.
//!
//! | name | type | counts |
//! |---|---|---|
//! | `tokenwarden.allowed` | counter | requests let through |
//! | `tokenwarden.denied.<code>` | counter | refusals by error code (`expired_token`, `keys_unavailable`, …), except rate limiting |
//! | `tokenwarden.rate_limited` | counter | 429 answers (per-credential limits and failed-attempt throttling) |
//! | `tokenwarden.cache.hit`, `tokenwarden.cache.miss` | counter | verified-token cache lookups by JWTs and introspected tokens |
//! | `tokenwarden.fetch.<source>.ok`, `….failed` | counter | fetches of `jwks.<provider>`, `discovery.<provider>`, `keys`, `revoked_tokens` by this Envoy; a `304 Not Modified` that keeps the document counts as `ok` |
//! | `tokenwarden.key_age_seconds.<source>` | gauge | seconds since the last good fetch of the source (by any thread) |
//! | `tokenwarden.provider.<name>.allowed`, `….denied.<code>`, `….rate_limited`, `….cache.hit`, `….cache.miss` | counter | the same, per source that decided: a provider's name, `api_keys` or `introspection` |

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use tokenwarden::gateway::{CacheUse, Report};
use tokenwarden::ErrorCode;

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
            let source = source_name(id);
            for outcome in ["ok", "failed"] {
                self.id(
                    MetricType::Counter,
                    &format!("tokenwarden.fetch.{source}.{outcome}"),
                );
            }
        }
    }

    /// Counts one decision, in total and for the source that decided.
    pub fn decision(&self, d: &Report) {
        let provider = d
            .provider
            .as_deref()
            .map(|p| format!("provider.{}", stat_part(p)));
        let count = |what: &str| {
            self.add(&format!("tokenwarden.{what}"));
            if let Some(p) = &provider {
                self.add(&format!("tokenwarden.{p}.{what}"));
            }
        };
        match d.cache {
            CacheUse::Hit => count("cache.hit"),
            CacheUse::Miss => count("cache.miss"),
            CacheUse::None => {}
        }
        match d.code {
            None => count("allowed"),
            Some(code) => count(&outcome(code)),
        }
    }

    pub fn fetched(&self, id: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.add(&format!("tokenwarden.fetch.{}.{outcome}", source_name(id)));
    }

    pub fn key_age(&self, id: &str, secs: u64) {
        let name = format!("tokenwarden.key_age_seconds.{}", source_name(id));
        if let Some(m) = self.id(MetricType::Gauge, &name) {
            let _ = hostcalls::record_metric(m, secs);
        }
    }
}

/// A refusal's counter: `rate_limited`, or `denied.<code>`.
fn outcome(code: ErrorCode) -> String {
    if code == ErrorCode::RateLimited {
        "rate_limited".to_owned()
    } else {
        format!("denied.{}", code.as_str())
    }
}

/// A name as one stat-name segment: anything but ASCII letters, digits, `_` and `-` becomes
/// `_` (Envoy splits stat names at dots).
fn stat_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `jwks:idp` → `jwks.idp`.
pub fn source_name(id: &str) -> String {
    match id.split_once(':') {
        Some((kind, name)) => format!("{kind}.{}", stat_part(name)),
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{source_name, stat_part};

    #[test]
    fn source_names_have_no_stray_dots() {
        assert_eq!(source_name("jwks:idp"), "jwks.idp");
        assert_eq!(source_name("discovery:a.b:c d"), "discovery.a_b_c_d");
        assert_eq!(source_name("keys"), "keys");
        assert_eq!(stat_part("corp.idp"), "corp_idp");
    }
}
