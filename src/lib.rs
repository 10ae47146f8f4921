//! tokenwarden: the sans-IO core of a bearer-token auth toolkit.
//!
//! Every function takes the current time (`now`, unix seconds) as an argument and returns network
//! steps as data, so the same decisions run unchanged in Envoy, browsers, Workers and the CLI.

pub mod alg;
pub mod apikey;
pub mod audit;
pub mod cidr;
pub mod error;
pub mod gateway;
pub mod json;
pub mod jwks;
pub mod key;
pub mod oauth;
pub mod policy;
pub mod random;
pub mod ratelimit;
pub mod remote_jwks;
pub mod revoked_tokens;
mod roca;
pub mod schedule;
pub mod scoped_token;
pub mod session;
pub mod sign;
pub mod signature_check;
pub mod token;
pub mod verify;
#[cfg(feature = "js-exports")]
pub mod wasm;
pub mod webhook;

pub use alg::Algorithm;
pub use error::{AuthError, ErrorCode, ErrorStyle};
pub use jwks::{Jwk, JwkSet};
pub use verify::{Validation, Verified, Verifier};
