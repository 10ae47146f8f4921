//! tokenwarden as an Envoy HTTP filter (proxy-wasm ABI 0.2.1, runtime `envoy.wasm.runtime.v8`).
//!
//! Build: `make filter` (= `cargo build -p tokenwarden-envoy --target wasm32-wasip1 --profile
//! filter`), then load `target/wasm32-wasip1/filter/tokenwarden_envoy.wasm`;
//! `examples/envoy.yaml` is a complete config.
//!
//! The decision is the core's (`tokenwarden::gateway`), shared with the Worker: this crate only
//! does Envoy's I/O. Layout, after Envoy's own jwt_authn filter: [`config`] turns the plugin
//! configuration into a gateway once per root context ([`Root::on_configure`]), [`filter`] is the
//! per-request `HttpContext`, [`rate_store`] keeps rate-limit buckets in shared data,
//! [`fetcher`] schedules remote documents and shares them between threads, [`metrics`] counts
//! at Envoy's `/stats`.
//!
//! # State of this crate
//! Works in a real Envoy (tests in `tests/e2e/`): JWT providers with inline, remote and
//! discovered JWKS, inline and remote API key stores (fetched by one elected thread, shared
//! through shared data, refetched early on an unknown `kid`, last good document kept through an
//! outage), RFC 7662 introspection of opaque tokens (a `dispatch_http_call` per uncached
//! token, the request paused meanwhile), credential sources, route policy, identity headers
//! (forged copies removed), error styles and `WWW-Authenticate`, rate limits shared by all
//! workers (`X-RateLimit-*` on allowed responses too), the audit line per decision in Envoy's log, and a bad configuration refused with one
//! log line naming the field; metrics at `/stats`.

pub mod config;
pub mod fetcher;
pub mod filter;
pub mod metrics;
pub mod rate_store;

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use tokenwarden::gateway::{self, Fetch, Host, Validators};
use tokenwarden::{AuthError, ErrorCode};

use crate::fetcher::Local;
use crate::filter::Filter;
use crate::metrics::Metrics;

/// How often every thread looks at the shared schedule and documents. Bounds how late a due
/// fetch, an unknown-`kid` refetch, or a new document on another thread is seen.
const TICK: Duration = Duration::from_millis(500);

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// The root context: one per plugin per worker thread (and one on the main thread). It owns the
/// thread's gateway (configuration, keys, verified-token cache), which each request's [`Filter`]
/// shares, and makes this thread's share of the remote fetches.
#[derive(Default)]
pub struct Root {
    local: Option<Rc<Local>>,
    metrics: Rc<Metrics>,
    /// Fetches out, by call token.
    calls: HashMap<u32, Fetch>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(fetch) = self.calls.remove(&token_id) else {
            return;
        };
        // Never more than the core accepts plus one byte (which the core then refuses).
        let limit = usize::try_from(fetch.max_bytes.saturating_add(1)).unwrap_or(usize::MAX);
        let (status, body) = call_response(self, num_headers, body_size.min(limit));
        let header = |name| {
            if num_headers == 0 {
                return None;
            }
            let value = self.get_http_call_response_header_bytes(name)?;
            String::from_utf8(value).ok()
        };
        let validators = Validators::new(
            header("etag").as_deref(),
            header("last-modified").as_deref(),
        );
        self.fetched(fetch, status, &validators, &body);
    }
}

/// The status and body of a `dispatch_http_call` answer. A call that timed out or could not
/// connect may arrive without headers: status 0, which callers treat as "no answer", never as a
/// verdict. A call Envoy reset (an answer past its buffer limit, a dropped connection) arrives
/// with no header map at all, and reading the missing map panics inside proxy-wasm, which kills
/// the VM: such an answer is status 0 without a read.
pub(crate) fn call_response<C: Context + ?Sized>(
    ctx: &C,
    num_headers: usize,
    body_size: usize,
) -> (u16, Vec<u8>) {
    if num_headers == 0 {
        return (0, Vec::new());
    }
    let status = ctx
        .get_http_call_response_header_bytes(":status")
        .and_then(|s| std::str::from_utf8(&s).ok()?.parse::<u16>().ok())
        .unwrap_or(0);
    let body = ctx
        .get_http_call_response_body(0, body_size)
        .unwrap_or_default();
    (status, body)
}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match config::load(&bytes) {
            Ok(gateway) => {
                for line in gateway.limitations(Host::Envoy) {
                    log::warn!("{line}");
                }
                let ids: Vec<String> = gateway
                    .fetches()
                    .into_iter()
                    .map(|f| f.id.to_string())
                    .collect();
                let scope = fetcher::scope(&bytes);
                self.metrics.define(&ids);
                // Call outage states too: two threads creating one at once could both log an
                // outage's start.
                for id in ids.iter().map(String::as_str).chain(gateway::CALL_PURPOSES) {
                    fetcher::ensure(&scope, id);
                }
                if !ids.is_empty() {
                    self.set_tick_period(TICK);
                }
                self.local = Some(Rc::new(Local::new(gateway, scope)));
                true
            }
            Err(line) => {
                // One line, naming the field: returning false makes Envoy refuse the plugin.
                log::error!("{line}");
                self.local = None;
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let Some(local) = self.local.clone() else {
            return;
        };
        let now_ms = self.now_ms();
        local.sync(&self.metrics, now_ms);
        let Ok(fetches) = local.gateway.try_borrow().map(|g| g.fetches()) else {
            return;
        };
        for fetch in fetches {
            self.begin(&local, fetch, now_ms);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Without a gateway (Envoy should never ask then) the filter fails closed.
        Some(Box::new(Filter::new(
            context_id,
            self.local.clone(),
            self.metrics.clone(),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl Root {
    fn now_ms(&self) -> u64 {
        self.get_current_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Fetches `fetch` if the shared schedule says it is due and this thread wins its lease.
    /// A source without a cluster is never fetched (said once at start).
    fn begin(&mut self, local: &Local, fetch: Fetch, now_ms: u64) {
        if fetch.cluster.is_none() {
            return;
        }
        let id = fetch.id.to_string();
        if fetcher::update(&local.scope, &id, |s| s.begin(now_ms, &fetch.timing)) == Some(true) {
            self.dispatch(fetch, now_ms);
        }
    }

    /// Sends this thread's fetch (it holds the lease).
    fn dispatch(&mut self, fetch: Fetch, now_ms: u64) {
        let Some(cluster) = fetch.cluster.clone() else {
            return;
        };
        let authority = fetch.authority.clone().unwrap_or_else(|| cluster.clone());
        let mut headers = vec![
            (":method", "GET"),
            (":path", fetch.path.as_str()),
            (":authority", authority.as_str()),
        ];
        // `accept`, and the conditional header once a document is in use.
        headers.extend(fetch.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let timeout = Duration::from_millis(fetch.timeout_ms);
        match self.dispatch_http_call(&cluster, headers, None, vec![], timeout) {
            Ok(token) => {
                self.calls.insert(token, fetch);
            }
            // Unknown cluster, or Envoy not ready for calls yet: a failure like any other.
            Err(_) => self.finish(&fetch, now_ms, 0, Some(&unsent())),
        }
    }

    /// This thread's fetch answered (or timed out: status 0).
    fn fetched(&mut self, fetch: Fetch, status: u16, validators: &Validators, body: &[u8]) {
        let Some(local) = self.local.clone() else {
            return;
        };
        let now_ms = self.now_ms();
        let now = now_ms / 1000;
        let result = match local.gateway.try_borrow_mut() {
            Ok(mut g) => g.on_fetched(&fetch.id.to_string(), status, validators, body, now),
            Err(_) => return,
        };
        let next = match result {
            Ok(next) => next,
            Err(e) => return self.finish(&fetch, now_ms, status, Some(&e)),
        };
        let (scope, id) = (local.scope.as_str(), fetch.id.to_string());
        let shared = if status == 304 {
            // Still current (the core checked it asked): every thread's copy is renewed.
            fetcher::renew_document(scope, &id, now, local.applied_version(&id))
        } else {
            fetcher::store_document(scope, &id, now, validators, body)
        };
        if shared {
            if let Some(doc) = fetcher::load_document(scope, &id) {
                // This thread's gateway has it already.
                local.applied(&id, doc.version);
            }
        }
        self.metrics.key_age(&id, 0);
        self.finish(&fetch, now_ms, status, None);
        // Discovery answered with the JWKS to fetch: now, not at the next tick.
        if let Some(next) = next {
            self.begin(&local, next, now_ms);
        }
    }

    /// Records a fetch's end in the shared schedule; the core says what deserves a log line
    /// (an outage once when it starts and once when it ends).
    fn finish(&mut self, fetch: &Fetch, now_ms: u64, status: u16, error: Option<&AuthError>) {
        let ok = error.is_none();
        self.metrics.fetched(&fetch.id.to_string(), ok);
        let Some(local) = self.local.clone() else {
            return;
        };
        let id = fetch.id.to_string();
        let transition =
            fetcher::update(&local.scope, &id, |s| s.finish(now_ms, &fetch.timing, ok));
        let line = transition.and_then(|t| gateway::fetch_log_line(fetch, t, status, error));
        match line {
            Some(line) if ok => log::info!("{line}"),
            Some(line) => log::warn!("{line}"),
            None => {}
        }
    }
}

/// A fetch that could not be sent (no cluster, or Envoy refused the call).
fn unsent() -> AuthError {
    AuthError::with_message(ErrorCode::KeysUnavailable, "the call was not sent")
}
