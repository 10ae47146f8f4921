//! Remote documents (JWKS, OpenID discovery, API key stores) in proxy-wasm shared data.
//!
//! `on_tick` fires on every Envoy thread, so each fetch id has a **schedule** in shared data
//! that elects one fetcher per round: a thread takes the lease by compare-and-swap when the
//! fetch is due and nobody holds it, and the lease lapses by itself after the call's timeout
//! plus a margin (a thread that died mid-call blocks nobody). The fetcher stores a good
//! **document** — raw bytes with the fetch time; its version is the shared-data `cas`, which
//! changes on every write — and every thread feeds a new version to its own gateway on its next
//! tick (`Root::sync`). The schedule also carries the unknown-`kid` refetch cooldown and the
//! count of consecutive failures, so an outage is logged once by whichever thread meets it
//! first, not once per tick or per thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use sha2::{Digest, Sha256};
use tokenwarden::gateway::Gateway;

use crate::metrics::Metrics;

/// Shared-data keys are `tokenwarden/<scope>/…`: the scope names one plugin configuration (see
/// [`scope`]), so two filters with different configurations in one VM, or a configuration
/// replaced by an LDS update, never read each other's schedules, documents or buckets.
const SCHEDULE: &str = "fetch/schedule/";
const DOCUMENT: &str = "fetch/document/";
/// Rewritten with every shared document: its version tells a thread, in one small read,
/// whether any document changed since it last looked.
const GENERATION: &str = "fetch/generation";

/// No second unknown-`kid` refetch of a source within this time (across all threads).
pub const REFETCH_COOLDOWN_MS: u64 = 10_000;
/// A failed fetch is tried again after this long, doubling with each failure up to the
/// source's refresh interval: a source that was down at start is picked up within seconds.
const RETRY_BASE_MS: u64 = 1_000;
/// A held lease lapses this long after the call's own timeout.
const LEASE_MARGIN_MS: u64 = 2_000;
/// Compare-and-swap attempts before giving up (the lease lapses anyway).
const CAS_TRIES: usize = 5;

/// One fetch id's schedule, shared by all threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Unix ms at which the next fetch is due.
    pub next_ms: u64,
    /// A thread holds the lease until then (0: nobody).
    pub lease_until_ms: u64,
    /// No unknown-`kid` refetch before then.
    pub refetch_after_ms: u64,
    /// Consecutive failed fetches (0 = the last one succeeded, or none yet).
    pub failures: u32,
}

impl Schedule {
    const LEN: usize = 28;

    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0..8].copy_from_slice(&self.next_ms.to_le_bytes());
        out[8..16].copy_from_slice(&self.lease_until_ms.to_le_bytes());
        out[16..24].copy_from_slice(&self.refetch_after_ms.to_le_bytes());
        out[24..28].copy_from_slice(&self.failures.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Schedule> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let mut f = [0u8; 4];
        f.copy_from_slice(&bytes[24..28]);
        Some(Schedule {
            next_ms: u64_at(0),
            lease_until_ms: u64_at(8),
            refetch_after_ms: u64_at(16),
            failures: u32::from_le_bytes(f),
        })
    }

    /// Due, and nobody holds the lease.
    pub fn is_due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_ms && now_ms >= self.lease_until_ms
    }
}

/// The shared-data scope of a plugin configuration: 16 hex digits of its SHA-256.
pub fn scope(configuration: &[u8]) -> String {
    let digest = Sha256::digest(configuration);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn key(scope: &str, kind: &str, id: &str) -> String {
    format!("tokenwarden/{scope}/{kind}{id}")
}

/// The schedule and its version, creating it (due now) when absent. `None` if the host fails.
fn load(scope: &str, id: &str) -> Option<(Schedule, u32)> {
    let key = key(scope, SCHEDULE, id);
    for _ in 0..2 {
        match hostcalls::get_shared_data(&key) {
            Ok((Some(bytes), Some(cas))) => {
                // An unreadable value (another filter version?) is replaced by a fresh one.
                return Some((Schedule::from_bytes(&bytes).unwrap_or_default(), cas));
            }
            Ok(_) | Err(Status::NotFound) => {
                // A new key cannot be compare-and-swapped (cas 0 means "no check"): write a
                // fresh schedule, then read it back for a real version. Two threads doing this
                // at the same instant can each win one lease: at most one extra fetch, once.
                hostcalls::set_shared_data(&key, Some(&Schedule::default().to_bytes()), None)
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

/// Writes `s` if the schedule is still at `cas`.
fn store(scope: &str, id: &str, s: Schedule, cas: u32) -> bool {
    hostcalls::set_shared_data(&key(scope, SCHEDULE, id), Some(&s.to_bytes()), Some(cas)).is_ok()
}

/// Takes the lease of `id` when its fetch is due and nobody holds it; `true` if this thread
/// must fetch now.
pub fn try_acquire(scope: &str, id: &str, now_ms: u64, timeout_ms: u64) -> bool {
    for _ in 0..CAS_TRIES {
        let Some((mut s, cas)) = load(scope, id) else {
            return false;
        };
        if !s.is_due(now_ms) {
            return false;
        }
        s.lease_until_ms = now_ms
            .saturating_add(timeout_ms)
            .saturating_add(LEASE_MARGIN_MS);
        if store(scope, id, s, cas) {
            return true;
        }
    }
    false
}

/// Records the end of this thread's fetch of `id` and schedules the next one. Returns the
/// number of consecutive failures before this fetch (0: none — a new outage starts, or things
/// were fine).
pub fn finish(scope: &str, id: &str, now_ms: u64, refresh_ms: u64, ok: bool) -> u32 {
    for _ in 0..CAS_TRIES {
        let Some((mut s, cas)) = load(scope, id) else {
            return 0;
        };
        let before = s.failures;
        s.lease_until_ms = 0;
        // A refetch asked for while the call was out is served by this call's answer.
        s.failures = if ok { 0 } else { before.saturating_add(1) };
        s.next_ms = now_ms.saturating_add(next_fetch_in(refresh_ms, s.failures));
        if store(scope, id, s, cas) {
            return before;
        }
    }
    0
}

/// How long after a fetch the next one is due, given the consecutive failures so far.
pub fn next_fetch_in(refresh_ms: u64, failures: u32) -> u64 {
    if failures == 0 {
        return refresh_ms;
    }
    let backoff = RETRY_BASE_MS.saturating_mul(1 << failures.saturating_sub(1).min(20));
    backoff.min(refresh_ms)
}

/// An unknown `kid` (or no keys yet): asks for a fetch of `id` ahead of schedule, at most once
/// per [`REFETCH_COOLDOWN_MS`] across all threads. `true` if this call asked.
pub fn request_refetch(scope: &str, id: &str, now_ms: u64) -> bool {
    for _ in 0..CAS_TRIES {
        let Some((mut s, cas)) = load(scope, id) else {
            return false;
        };
        // Within the cooldown, or a fetch is due or out already (at start, say): nothing to
        // ask, and the cooldown is kept for a real rotation.
        if now_ms < s.refetch_after_ms || s.next_ms <= now_ms || s.lease_until_ms > now_ms {
            return false;
        }
        s.refetch_after_ms = now_ms.saturating_add(REFETCH_COOLDOWN_MS);
        s.next_ms = s.next_ms.min(now_ms);
        if store(scope, id, s, cas) {
            return true;
        }
    }
    false
}

/// A good document, as shared.
pub struct Document {
    /// Unix seconds of the fetch.
    pub fetched_at: u64,
    pub body: Vec<u8>,
    /// Changes with every store.
    pub version: u32,
}

/// Shares a good document (only the lease holder writes it, so no compare-and-swap).
pub fn store_document(scope: &str, id: &str, fetched_at: u64, body: &[u8]) -> bool {
    let mut value = Vec::with_capacity(8 + body.len());
    value.extend_from_slice(&fetched_at.to_le_bytes());
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

/// The last good document of `id`, if any thread has fetched one.
pub fn load_document(scope: &str, id: &str) -> Option<Document> {
    match hostcalls::get_shared_data(&key(scope, DOCUMENT, id)) {
        Ok((Some(value), Some(version))) if value.len() >= 8 => {
            let mut at = [0u8; 8];
            at.copy_from_slice(&value[..8]);
            Some(Document {
                fetched_at: u64::from_le_bytes(at),
                body: value[8..].to_vec(),
                version,
            })
        }
        _ => None,
    }
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

    /// This thread fed `version` of `id` to its gateway itself.
    pub fn applied(&self, id: &str, version: u32) {
        self.applied.borrow_mut().insert(id.to_owned(), version);
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
            let Ok(ids) = self
                .gateway
                .try_borrow()
                .map(|g| g.fetches().into_iter().map(|f| f.id).collect::<Vec<_>>())
            else {
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
                if let Err(e) = g.on_fetched(&id, 200, &doc.body, doc.fetched_at) {
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
    fn schedules_round_trip_and_refuse_other_lengths() {
        let s = Schedule {
            next_ms: 1,
            lease_until_ms: u64::MAX,
            refetch_after_ms: 3,
            failures: 7,
        };
        assert_eq!(Schedule::from_bytes(&s.to_bytes()), Some(s));
        assert_eq!(Schedule::from_bytes(&[0; 27]), None);
        assert_eq!(Schedule::from_bytes(&[]), None);
    }

    #[test]
    fn due_only_when_the_time_came_and_no_lease_is_held() {
        let s = Schedule {
            next_ms: 100,
            lease_until_ms: 200,
            ..Schedule::default()
        };
        assert!(!s.is_due(99));
        assert!(!s.is_due(150), "a held lease blocks other threads");
        assert!(s.is_due(200), "a lapsed lease (dead thread) no longer does");
        assert!(Schedule::default().is_due(0));
    }

    #[test]
    fn failed_fetches_are_retried_soon_then_less_often() {
        let refresh = 300_000;
        assert_eq!(next_fetch_in(refresh, 0), refresh);
        let waits: Vec<u64> = (1..=10).map(|f| next_fetch_in(refresh, f)).collect();
        assert_eq!(&waits[..4], &[1_000, 2_000, 4_000, 8_000]);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            next_fetch_in(refresh, 10),
            refresh,
            "never later than the refresh"
        );
        assert_eq!(
            next_fetch_in(500, 3),
            500,
            "a short refresh bounds the backoff"
        );
        assert_eq!(next_fetch_in(refresh, u32::MAX), refresh);
    }

    #[test]
    fn scopes_tell_configurations_apart() {
        let a = scope(br#"{"providers":[]}"#);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, scope(br#"{"providers":[]}"#));
        assert_ne!(a, scope(br#"{"providers": []}"#));
    }
}
