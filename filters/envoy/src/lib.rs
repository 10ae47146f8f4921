//! tokenwarden as an Envoy HTTP filter (proxy-wasm ABI 0.2.1, runtime `envoy.wasm.runtime.v8`).
//!
//! Build: `cargo build -p tokenwarden-envoy --target wasm32-wasip1 --profile filter`, then load
//! `target/wasm32-wasip1/filter/tokenwarden_envoy.wasm`; `examples/envoy.yaml` is a complete config.
//!
//! Layout, after Envoy's own jwt_authn filter: [`config`] parses the plugin configuration once per
//! root context ([`Root::on_configure`]), [`filter`] is the per-request `HttpContext`.
//!
//! # State of this crate: the foundation
//! What works end to end in a real Envoy:
//! - the plugin configuration (`realm`, `error_style`) is parsed once; a bad one makes the plugin
//!   refuse to start with a single log line naming the field and the problem;
//! - a request **without** an `Authorization` header is answered `401` with the core's
//!   `missing_credentials` body in the configured style and `WWW-Authenticate: Bearer realm="…"`.
//!
//! What does **not** work yet: a request **with** an `Authorization` header is passed upstream
//! unchanged — nothing is verified. Do not deploy this as an access control. Verification will come
//! from the core's decision module (`tokenwarden::gateway`), which the filter will call.

pub mod config;
pub mod filter;

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::config::FilterConfig;
use crate::filter::Filter;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// The root context: one per plugin per worker thread (and one on the main thread). It owns the
/// parsed configuration; each request's [`Filter`] shares it.
#[derive(Default)]
pub struct Root {
    config: Option<Rc<FilterConfig>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match config::parse(&bytes) {
            Ok(config) => {
                self.config = Some(Rc::new(config));
                true
            }
            Err(err) => {
                // One line, naming the field: returning false makes Envoy refuse the plugin.
                log::error!("{err}");
                self.config = None;
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Without a configuration (Envoy should never ask then) the filter fails closed.
        Some(Box::new(Filter::new(self.config.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
