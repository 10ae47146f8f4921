//! OAuth 2.0 and OpenID Connect client building blocks, sans-IO: every network step is an
//! [`HttpRequest`] to send or a response (status and body bytes) to parse.

pub mod client_auth;
pub mod error_response;
pub mod http;

pub use client_auth::{ClientAuth, OAuthClient};
pub use error_response::{OAuthErrorKind, OAuthErrorResponse};
pub use http::{require_secure_endpoint, BodyFormat, HttpRequest, MAX_RESPONSE_BYTES};
