//! A call the core asks the host to make in the middle of a decision, an introspection POST or
//! a key lookup GET, whose answer goes back to [`super::Gateway::on_call`]. The core writes the
//! whole request; a host only sends it, so a new kind of call needs no host change.

use serde::{Deserialize, Serialize};

use crate::schedule::SourceState;

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

/// What a call's answer was worth, for the host's outage log. Hosts keep one [`SourceState`]
/// per purpose (in Envoy shared by every thread) and pass it to [`CallOutcome::record`] after
/// each call, so an endpoint's outage is logged once when it starts and once when it ends, as a
/// fetch's is, not once per request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOutcome {
    /// `introspection` or `api_keys.store.lookup`: also the name its state is kept under.
    pub purpose: String,
    /// Where the call went: cluster and path (a lookup's as configured, `{hash}` unfilled), or
    /// the URL.
    pub location: String,
    /// Why the answer gave no verdict; `None` when it gave one (a found or unknown key, an
    /// active or inactive token).
    pub failed: Option<String>,
}

impl CallOutcome {
    /// Counts this outcome in the purpose's `state`; the log line it deserves, if any.
    pub fn record(&self, state: &mut SourceState) -> Option<String> {
        state.record(self.failed.is_none()).call_log_line(
            &self.purpose,
            &self.location,
            self.failed.as_deref().unwrap_or_default(),
        )
    }
}
