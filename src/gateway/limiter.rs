//! Rate-limit state kept by the host: proxy-wasm shared data (every Envoy worker), a Worker
//! isolate's memory, or a Durable Object. The core only needs load and compare-and-swap.

use std::collections::HashMap;

use crate::ratelimit::{self, Admission, GcraState, RateLimit};

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
) -> Admission {
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
) -> Admission {
    let (state, _) = store.load(key);
    ratelimit::check(state.unwrap_or_default(), limit, now_ms)
}

/// An in-memory store: one Worker isolate, tests, the CLI. Bounded: when a new key finds it
/// full, the more idle half of the buckets (the earliest theoretical arrival times, long
/// refilled) is dropped, so requests from many addresses cannot grow an isolate's memory.
#[derive(Debug)]
pub struct MemoryRateStore {
    entries: HashMap<String, (GcraState, u32)>,
    capacity: usize,
}

impl Default for MemoryRateStore {
    fn default() -> Self {
        MemoryRateStore::with_capacity(MemoryRateStore::DEFAULT_CAPACITY)
    }
}

impl MemoryRateStore {
    /// Buckets kept by [`MemoryRateStore::default`] (~100 bytes each).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// At most `capacity` buckets (at least 2).
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryRateStore {
            entries: HashMap::new(),
            capacity: capacity.max(2),
        }
    }

    /// Buckets held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn drop_idle_half(&mut self) {
        let mut tats: Vec<u64> = self.entries.values().map(|(s, _)| s.tat_ms()).collect();
        let middle = tats.len() / 2;
        let (_, cut, _) = tats.select_nth_unstable(middle);
        let cut = *cut;
        self.entries.retain(|_, (s, _)| s.tat_ms() > cut);
    }
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
        if current == 0 && self.entries.len() >= self.capacity {
            self.drop_idle_half();
        }
        self.entries
            .insert(key.to_owned(), (state, version.wrapping_add(1)));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_store_is_bounded_and_keeps_the_busiest_buckets() {
        let limit = RateLimit::new(10, 1).unwrap();
        let mut store = MemoryRateStore::with_capacity(8);
        // One busy key, then a flood of one-off keys (addresses) over time.
        for i in 0..200u64 {
            let now = 1_000_000 + i * 10;
            consume(&mut store, "busy", &limit, now);
            consume(&mut store, &format!("fail:10.0.0.{i}"), &limit, now);
            assert!(store.len() <= 8, "{} buckets", store.len());
        }
        let (busy, _) = store.load("busy");
        assert!(busy.is_some(), "the busiest bucket survives the flood");
    }
}
