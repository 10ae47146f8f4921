//! The cheapest useful proxy-wasm filter: two header reads and two header adds per request.
//! `make bench` runs it beside tokenwarden to measure the V8 crossing on its own.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(FloorRoot) });
}}

struct FloorRoot;

impl Context for FloorRoot {}

impl RootContext for FloorRoot {
    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Floor;

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let auth = self
            .get_http_request_header_bytes("authorization")
            .map_or(0, |v| v.len());
        let path = self
            .get_http_request_header_bytes(":path")
            .map_or(0, |v| v.len());
        self.add_http_request_header("x-floor-auth-len", &auth.to_string());
        self.add_http_request_header("x-floor-path-len", &path.to_string());
        Action::Continue
    }
}
