//! The per-request `HttpContext`: holds nothing but a handle on the shared configuration.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use tokenwarden::{AuthError, ErrorCode, ErrorStyle};

use crate::config::FilterConfig;

/// The header credentials arrive in (the only source in this foundation).
const AUTHORIZATION: &str = "authorization";

pub struct Filter {
    config: Option<Rc<FilterConfig>>,
}

impl Filter {
    pub fn new(config: Option<Rc<FilterConfig>>) -> Self {
        Filter { config }
    }

    /// Answers the request locally with the core's error: status, JSON body, `WWW-Authenticate`.
    fn refuse(&self, error: &AuthError, realm: &str, style: ErrorStyle) -> Action {
        let body = error.body(style);
        let www_authenticate = error.www_authenticate(realm);
        let mut headers = vec![("content-type", "application/json")];
        if let Some(value) = www_authenticate.as_deref() {
            headers.push(("www-authenticate", value));
        }
        self.send_http_response(u32::from(error.status()), headers, Some(body.as_bytes()));
        Action::Pause
    }
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            // No valid configuration: fail closed.
            return self.refuse(
                &AuthError::new(ErrorCode::InvalidConfig),
                "tokenwarden",
                ErrorStyle::default(),
            );
        };
        // Read as bytes: the SDK's string accessor panics on a value that is not UTF-8.
        match self.get_http_request_header_bytes(AUTHORIZATION) {
            None => self.refuse(
                &AuthError::new(ErrorCode::MissingCredentials),
                &config.realm,
                config.error_style,
            ),
            // Foundation: a present credential is not verified yet (see the crate docs).
            Some(_) => Action::Continue,
        }
    }
}
