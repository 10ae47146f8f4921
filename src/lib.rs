//! tokenwarden: the sans-IO core of a bearer-token auth toolkit.
//!
//! Every function takes the current time (`now`, unix seconds) as an argument and returns network
//! steps as data, so the same decisions run unchanged in Envoy, browsers, Workers and the CLI.

pub mod error;

pub use error::{AuthError, ErrorCode, ErrorStyle};
pub mod apikey;
pub mod cidr;
pub mod policy;
pub mod random;
pub mod ratelimit;
