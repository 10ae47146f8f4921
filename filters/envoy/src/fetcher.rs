//! Remote documents (JWKS, OpenID discovery, API key stores) in proxy-wasm shared data.
//!
//! When to fetch is the core's ([`tokenwarden::schedule`]); what is Envoy's is keeping that
//! schedule where every thread sees it. `on_tick` fires on every Envoy thread, so each fetch id's
//! [`SourceState`] lives in shared data and is changed only by compare-and-swap
//! ([`update`]): the thread whose `begin` lands holds the lease and fetches, and the lease lapses
//! by itself (a thread that died mid-call blocks nobody). The fetcher stores a good
//! **document** — raw bytes with the fetch time and its validators; its version is the
//! shared-data `cas`, which changes on every write — and every thread feeds a new version to its
//! own gateway on its next tick (`Local::sync`). A `304 Not Modified` stores the same document
//! again with the new time, so every thread's copy stays usable. Failures and the unknown-`kid` cooldown are in the shared state too, so
//! an outage is logged once by whichever thread meets it first, not once per tick or thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use sha2::{Digest, Sha256};
use tokenwarden::gateway::{Gateway, SourceState, Validators};
use tokenwarden::schedule::Timing;

use crate::metrics::Metrics;

/// Shared-data keys are `tokenwarden/<scope>/…`: the scope names one plugin configuration (see
/// [`scope`]), so two filters with different configurations in one VM, or a configuration
/// replaced by an LDS update, never read each other's schedules, documents or buckets.
const SCHEDULE: &str = "fetch/schedule/";
/// `document2`: documents with their validators; a filter of the earlier format, in the same
/// VM during an upgrade, keeps to its own key.
const DOCUMENT: &str = "fetch/document2/";
/// Rewritten with every shared document: its version tells a thread, in one small read,
/// whether any document changed since it last looked.
const GENERATION: &str = "fetch/generation";

/// Compare-and-swap attempts before giving up (a held lease lapses anyway).
const CAS_TRIES: usize = 5;

/// The shared-data scope of a plugin configuration: 16 hex digits of its SHA-256.
pub fn scope(configuration: &[u8]) -> String {
    let digest = Sha256::digest(configuration);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn key(scope: &str, kind: &str, id: &str) -> String {
    format!("tokenwarden/{scope}/{kind}{id}")
}

/// The source's state and its version, creating it (due now) when absent. `None` if the host
/// fails.
fn load(scope: &str, id: &str) -> Option<(SourceState, u32)> {
    let key = key(scope, SCHEDULE, id);
    for _ in 0..2 {
        match hostcalls::get_shared_data(&key) {
            Ok((Some(bytes), Some(cas))) => {
                // An unreadable value (another filter version?) is replaced by a fresh one.
                return Some((SourceState::from_bytes(&bytes).unwrap_or_default(), cas));
            }
            Ok(_) | Err(Status::NotFound) => {
                // A new key cannot be compare-and-swapped (cas 0 means "no check"): write a
                // fresh schedule, then read it back for a real version. Two threads doing this
                // at the same instant can each win one lease: at most one extra fetch, once.
                hostcalls::set_shared_data(&key, Some(&SourceState::default().to_bytes()), None)
                    .ok()?;
            }
            Err(_) => return None,
        }
    }
    None
}

/// Creates the schedule of `id` unless it exists. Called from `on_configure`, which runs on
/// the main thread before any worker starts, so that the workers' first ticks already find a
/// key they can compare-and-swap.
pub fn ensure(scope: &str, id: &str) {
    let _ = load(scope, id);
}

/// Applies one of the core's schedule steps ([`SourceState::begin`], `finish`,
/// `request_refetch`) to the shared state of `id` by compare-and-swap, so that every thread
/// follows one schedule. Returns the step's result, or `None` if the shared state could not be
/// updated.
pub fn update<T>(scope: &str, id: &str, step: impl Fn(&mut SourceState) -> T) -> Option<T> {
    let key = key(scope, SCHEDULE, id);
    for _ in 0..CAS_TRIES {
        let (mut state, cas) = load(scope, id)?;
        let before = state;
        let out = step(&mut state);
        if state == before
            || hostcalls::set_shared_data(&key, Some(&state.to_bytes()), Some(cas)).is_ok()
        {
            return Some(out);
        }
    }
    None
}

/// A good document, as shared.
pub struct Document {
    /// Unix seconds of the fetch (or of the last `304` that kept it).
    pub fetched_at: u64,
    /// Its `ETag` / `Last-Modified`, so whichever thread fetches next can ask conditionally.
    pub validators: Validators,
    pub body: Vec<u8>,
    /// Changes with every store.
    pub version: u32,
}

/// Shares a good document (only the lease holder writes it, so no compare-and-swap). The value
/// is the fetch time (u64), each validator as a u16 length and its bytes, then the body.
pub fn store_document(
    scope: &str,
    id: &str,
    fetched_at: u64,
    validators: &Validators,
    body: &[u8],
) -> bool {
    let mut value = Vec::with_capacity(8 + body.len());
    value.extend_from_slice(&fetched_at.to_le_bytes());
    for v in [validators.etag(), validators.last_modified()] {
        // The core keeps no validator over 256 bytes.
        let v = v.unwrap_or_default().as_bytes();
        value.extend_from_slice(&(v.len() as u16).to_le_bytes());
        value.extend_from_slice(v);
    }
    value.extend_from_slice(body);
    match hostcalls::set_shared_data(&key(scope, DOCUMENT, id), Some(&value), None) {
        Ok(()) => {
            let _ = hostcalls::set_shared_data(&key(scope, GENERATION, ""), Some(&[1]), None);
            true
        }
        Err(status) => {
            log::warn!("{id}: the fetched document was not shared ({status:?})");
            false
        }
    }
}

/// After a `304` to this thread's conditional fetch: shares the document again with the new
/// time, so every thread's copy counts as just loaded. Only if the shared document is still
/// `version`, the one this thread's gateway holds (and asked about).
pub fn renew_document(scope: &str, id: &str, fetched_at: u64, version: Option<u32>) -> bool {
    match load_document(scope, id) {
        Some(doc) if Some(doc.version) == version => {
            store_document(scope, id, fetched_at, &doc.validators, &doc.body)
        }
        _ => false,
    }
}

/// The last good document of `id`, if any thread has fetched one.
pub fn load_document(scope: &str, id: &str) -> Option<Document> {
    let Ok((Some(value), Some(version))) = hostcalls::get_shared_data(&key(scope, DOCUMENT, id))
    else {
        return None;
    };
    let (at, mut rest) = value.split_at_checked(8)?;
    let mut validator = || {
        let (len, tail) = rest.split_at_checked(2)?;
        let (v, tail) = tail.split_at_checked(u16::from_le_bytes([len[0], len[1]]).into())?;
        rest = tail;
        Some(std::str::from_utf8(v).ok().filter(|v| !v.is_empty()))
    };
    let (etag, last_modified) = (validator()?, validator()?);
    Some(Document {
        fetched_at: u64::from_le_bytes(at.try_into().ok()?),
        validators: Validators::new(etag, last_modified),
        body: rest.to_vec(),
        version,
    })
}

/// The version of the generation key (`None`: no document shared yet).
fn generation(scope: &str) -> Option<u32> {
    match hostcalls::get_shared_data(&key(scope, GENERATION, "")) {
        Ok((_, cas)) => cas,
        Err(_) => None,
    }
}

/// A thread's gateway, and which shared documents it has been fed. Shared by the thread's root
/// context (ticks, fetches) and its requests.
pub struct Local {
    pub gateway: RefCell<Gateway>,
    /// The configuration's shared-data scope ([`scope`]).
    pub scope: String,
    /// `tokenwarden/<scope>/ratelimit/`: the prefix of this configuration's buckets.
    pub rate_prefix: String,
    /// Shared document version fed to the gateway, by fetch id.
    applied: RefCell<HashMap<String, u32>>,
    /// The generation seen at the last sync.
    generation: Cell<Option<u32>>,
    /// When a request last looked at the generation (ms).
    looked_ms: Cell<u64>,
}

/// Requests look for documents shared by other threads at most this often (the tick looks too):
/// a shared-data read per request would cost more than the rest of a cached decision.
const LOOK_EVERY_MS: u64 = 50;

impl Local {
    pub fn new(gateway: Gateway, scope: String) -> Local {
        Local {
            gateway: RefCell::new(gateway),
            rate_prefix: key(&scope, "ratelimit/", ""),
            scope,
            applied: RefCell::default(),
            generation: Cell::new(None),
            looked_ms: Cell::new(0),
        }
    }

    /// The timing of the source fetched as `id`, if it is one.
    pub fn timing(&self, id: &str) -> Option<Timing> {
        let g = self.gateway.try_borrow().ok()?;
        let fetch = g.fetches().into_iter().find(|f| f.id.to_string() == id)?;
        Some(fetch.timing)
    }

    /// This thread fed `version` of `id` to its gateway itself.
    pub fn applied(&self, id: &str, version: u32) {
        self.applied.borrow_mut().insert(id.to_owned(), version);
    }

    /// The shared version of `id` this thread's gateway holds.
    pub fn applied_version(&self, id: &str) -> Option<u32> {
        self.applied.borrow().get(id).copied()
    }

    /// Before a request: syncs when any thread shared a document since the last look, so a new
    /// key fetched by another thread is used within [`LOOK_EVERY_MS`] of its arrival.
    pub fn sync_if_changed(&self, metrics: &Metrics, now_ms: u64) {
        if now_ms.wrapping_sub(self.looked_ms.get()) < LOOK_EVERY_MS {
            return;
        }
        self.looked_ms.set(now_ms);
        let current = generation(&self.scope);
        if current.is_some() && current != self.generation.get() {
            self.sync(metrics, now_ms);
        }
    }

    /// Feeds new versions of the shared documents to the gateway and updates the key-age
    /// gauges.
    pub fn sync(&self, metrics: &Metrics, now_ms: u64) {
        // Read before the documents: a document shared meanwhile changes it again.
        self.generation.set(generation(&self.scope));
        // Two rounds: a discovery document makes the gateway ask for its JWKS next.
        for _ in 0..2 {
            let Ok(ids) = self.gateway.try_borrow().map(|g| {
                g.fetches()
                    .into_iter()
                    .map(|f| f.id.to_string())
                    .collect::<Vec<_>>()
            }) else {
                return;
            };
            let mut learned = false;
            for id in ids {
                let Some(doc) = load_document(&self.scope, &id) else {
                    continue;
                };
                metrics.key_age(&id, (now_ms / 1000).saturating_sub(doc.fetched_at));
                if self.applied.borrow().get(&id) == Some(&doc.version) {
                    continue;
                }
                let Ok(mut g) = self.gateway.try_borrow_mut() else {
                    return;
                };
                // The fetching thread's gateway accepted this document: so does this one
                // (same configuration). Either way this version is not tried again.
                let fed = g.on_fetched(&id, 200, &doc.validators, &doc.body, doc.fetched_at);
                if let Err(e) = fed {
                    log::warn!("{id}: a shared document was refused: {}", e.message());
                }
                self.applied(&id, doc.version);
                learned = true;
            }
            if !learned {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_tell_configurations_apart() {
        let a = scope(br#"{"providers":[]}"#);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, scope(br#"{"providers":[]}"#));
        assert_ne!(a, scope(br#"{"providers": []}"#));
    }
}
