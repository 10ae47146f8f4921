//! tokenwarden as an Envoy HTTP filter (proxy-wasm ABI 0.2.1, runtime `envoy.wasm.runtime.v8`).
//!
//! Build: `make filter` (= `cargo build -p tokenwarden-envoy --target wasm32-wasip1 --profile
//! filter`), then load `target/wasm32-wasip1/filter/tokenwarden_envoy.wasm`;
//! `examples/envoy.yaml` is a complete config.
//!
//! The decision is the core's (`tokenwarden::gateway`), shared with the Worker: this crate only
//! does Envoy's I/O. Layout, after Envoy's own jwt_authn filter: [`config`] turns the plugin
//! configuration into a gateway once per root context ([`Root::on_configure`]), [`filter`] is the
//! per-request `HttpContext`, [`rate_store`] keeps rate-limit buckets in shared data.
//!
//! # State of this crate
//! Works in a real Envoy (tests in `tests/e2e/`): JWT providers with **inline** JWKS and inline
//! API key stores, RFC 7662 introspection of opaque tokens (a `dispatch_http_call` per uncached
//! token, the request paused meanwhile), credential sources, route policy, identity headers
//! (forged copies removed), error styles and `WWW-Authenticate`, rate limits shared by all
//! workers, the audit line per decision in Envoy's log, and a bad configuration refused with one
//! log line naming the field.
//!
//! Not yet: **remote** JWKS, discovery and key stores (`dispatch_http_call` on a timer by one
//! elected worker, shared through shared data) — with such a source every request that needs it
//! is refused (`keys_unavailable`, fail closed) and a line at start says so; the unknown-`kid`
//! refetch; metrics.

pub mod config;
pub mod filter;
pub mod rate_store;

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use tokenwarden::gateway::Gateway;

use crate::filter::Filter;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// The root context: one per plugin per worker thread (and one on the main thread). It owns the
/// worker's gateway (configuration, keys, verified-token cache); each request's [`Filter`]
/// shares it.
#[derive(Default)]
pub struct Root {
    gateway: Option<Rc<Gateway>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match config::load(&bytes) {
            Ok(gateway) => {
                for line in config::limitations(&gateway) {
                    log::warn!("{line}");
                }
                self.gateway = Some(Rc::new(gateway));
                true
            }
            Err(line) => {
                // One line, naming the field: returning false makes Envoy refuse the plugin.
                log::error!("{line}");
                self.gateway = None;
                false
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Without a gateway (Envoy should never ask then) the filter fails closed.
        Some(Box::new(Filter::new(context_id, self.gateway.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
