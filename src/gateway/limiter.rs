//! Rate-limit state kept by the host: proxy-wasm shared data (every Envoy worker), a Worker
//! isolate's memory, or a Durable Object. The core only needs load and compare-and-swap.

use std::collections::HashMap;

use crate::ratelimit::{self, Decision, GcraState, RateLimit};

/// Storage for GCRA states with compare-and-swap.
pub trait RateStore {
    /// The state under `key` (`None` = fresh bucket) and its version.
    fn load(&mut self, key: &str) -> (Option<GcraState>, u32);
    /// Stores `state` if `key` is still at `version`; `false` means another writer won.
    fn store(&mut self, key: &str, state: GcraState, version: u32) -> bool;
}

/// How often a compare-and-swap is retried before the request is refused.
const CAS_ATTEMPTS: usize = 8;

/// Takes one token. Under unbounded contention the answer is a refusal, never a free pass.
pub(super) fn consume(
    store: &mut dyn RateStore,
    key: &str,
    limit: &RateLimit,
    now_ms: u64,
) -> Decision {
    let mut last = None;
    for _ in 0..CAS_ATTEMPTS {
        let (state, version) = store.load(key);
        let d = ratelimit::check(state.unwrap_or_default(), limit, now_ms);
        if !d.allowed || store.store(key, d.state, version) {
            return d;
        }
        last = Some(d);
    }
    let mut d = last.unwrap_or_else(|| ratelimit::check(GcraState::default(), limit, now_ms));
    d.allowed = false;
    d.retry_after_secs = Some(d.retry_after_secs.unwrap_or(1));
    d
}

/// Whether a token is available, without taking it.
pub(super) fn peek(
    store: &mut dyn RateStore,
    key: &str,
    limit: &RateLimit,
    now_ms: u64,
) -> Decision {
    let (state, _) = store.load(key);
    ratelimit::check(state.unwrap_or_default(), limit, now_ms)
}

/// An in-memory store: one Worker isolate, tests, the CLI.
#[derive(Debug, Default)]
pub struct MemoryRateStore {
    entries: HashMap<String, (GcraState, u32)>,
}

impl RateStore for MemoryRateStore {
    fn load(&mut self, key: &str) -> (Option<GcraState>, u32) {
        match self.entries.get(key) {
            Some((s, v)) => (Some(*s), *v),
            None => (None, 0),
        }
    }

    fn store(&mut self, key: &str, state: GcraState, version: u32) -> bool {
        let current = self.entries.get(key).map_or(0, |(_, v)| *v);
        if current != version {
            return false;
        }
        self.entries
            .insert(key.to_owned(), (state, version.wrapping_add(1)));
        true
    }
}
