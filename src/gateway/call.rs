//! A call the core asks the host to make in the middle of a decision, an introspection POST or
//! a key lookup GET, whose answer goes back to [`super::Gateway::on_call`]. The core writes the
//! whole request; a host only sends it, so a new kind of call needs no host change.

use serde::Serialize;

/// An HTTP request for the host to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// What the call is for, for log lines: `introspection` or `api_keys.store.lookup`.
    pub purpose: &'static str,
    /// `GET` or `POST`.
    pub method: &'static str,
    pub cluster: Option<String>,
    pub authority: Option<String>,
    /// The absolute URL, for hosts that fetch by URL.
    pub url: Option<String>,
    pub path: String,
    pub timeout_ms: u64,
    /// May hold client credentials (introspection): never log these.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The longest answer the core accepts: hosts read at most one byte more (the core then
    /// refuses it), never a whole oversized answer.
    pub max_bytes: u64,
}
