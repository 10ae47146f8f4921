//! Rate-limit state in proxy-wasm shared data, so every Envoy worker (every VM of the same
//! `vm_id`) draws from the same buckets. The gateway only needs load and compare-and-swap.
//!
//! Shared data has no delete, and a client controls some bucket keys (the failed-attempt bucket
//! of each address it connects from, and IPv6 gives it plenty), so buckets live in a fixed
//! number of **slots** instead of one key each: a bucket may sit in either of two slots chosen
//! by a hash of its key, and a slot holds the key's tag beside the state. A new bucket takes a
//! free slot, or else the more idle of its two (a bucket so dropped starts fresh next time).
//! Failed-attempt buckets and credential buckets have separate slots, so a flood of addresses
//! can never displace the bucket of an authenticated credential.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use sha2::{Digest, Sha256};
use tokenwarden::gateway::RateStore;
use tokenwarden::ratelimit::GcraState;

/// Slots per pool: ~6 MB of shared data at most per pool and configuration.
pub const SLOTS: u32 = 1 << 16;
const TAG_LEN: usize = 8;

/// Shared data as a [`RateStore`]: the host holds every bucket, under the configuration's
/// prefix (`Local::rate_prefix`).
pub struct SharedDataRateStore<'a> {
    pub prefix: &'a str,
    /// The key, tag and slot of the last `load`, for the `store` that follows it.
    chosen: Option<(String, [u8; TAG_LEN], String)>,
}

impl<'a> SharedDataRateStore<'a> {
    pub fn new(prefix: &'a str) -> Self {
        SharedDataRateStore {
            prefix,
            chosen: None,
        }
    }
}

/// Where a bucket key may live: its tag and the names of its two slots.
fn placement(prefix: &str, key: &str) -> ([u8; TAG_LEN], [String; 2]) {
    let digest = Sha256::digest(key.as_bytes());
    let slot = |i: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&digest[i..i + 4]);
        u32::from_le_bytes(b) % SLOTS
    };
    let pool = if key.starts_with("fail:") { 'a' } else { 'c' };
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&digest[8..8 + TAG_LEN]);
    let (first, mut second) = (slot(0), slot(4));
    if second == first {
        second = (first + 1) % SLOTS;
    }
    (
        tag,
        [
            format!("{prefix}{pool}{first}"),
            format!("{prefix}{pool}{second}"),
        ],
    )
}

/// A slot's content: the owner's tag and its state.
enum Slot {
    Free,
    Held {
        tag: [u8; TAG_LEN],
        state: GcraState,
        cas: u32,
    },
    /// The host failed, or the value is not ours to read.
    Unusable,
}

fn read(name: &str) -> Slot {
    match hostcalls::get_shared_data(name) {
        Ok((Some(bytes), Some(cas))) if bytes.len() == TAG_LEN + GcraState::LEN => {
            let mut tag = [0u8; TAG_LEN];
            tag.copy_from_slice(&bytes[..TAG_LEN]);
            match GcraState::from_bytes(&bytes[TAG_LEN..]) {
                Some(state) => Slot::Held { tag, state, cas },
                None => Slot::Unusable,
            }
        }
        Ok((None, _)) | Err(Status::NotFound) => Slot::Free,
        _ => Slot::Unusable,
    }
}

impl RateStore for SharedDataRateStore<'_> {
    fn load(&mut self, key: &str) -> (Option<GcraState>, u32) {
        let (tag, names) = placement(self.prefix, key);
        let slots = names.each_ref().map(|n| read(n));
        for (slot, name) in slots.iter().zip(&names) {
            if let Slot::Held { tag: t, state, cas } = slot {
                if *t == tag {
                    self.chosen = Some((key.to_owned(), tag, name.clone()));
                    return (Some(*state), *cas);
                }
            }
        }
        // A fresh bucket: a free slot, else the more idle one (its owner starts fresh later).
        let pick = |slot: &Slot| match slot {
            Slot::Free => Some((0, 0)),
            Slot::Held { state, cas, .. } => Some((state.tat_ms(), *cas)),
            Slot::Unusable => None,
        };
        let choice = match (pick(&slots[0]), pick(&slots[1])) {
            (Some(a), Some(b)) if b.0 < a.0 => Some((b, &names[1])),
            (Some(a), _) => Some((a, &names[0])),
            (None, Some(b)) => Some((b, &names[1])),
            (None, None) => None,
        };
        match choice {
            Some(((_, cas), name)) => {
                self.chosen = Some((key.to_owned(), tag, name.clone()));
                (None, cas)
            }
            None => {
                self.chosen = None;
                (None, 0)
            }
        }
    }

    fn store(&mut self, key: &str, state: GcraState, version: u32) -> bool {
        let Some((loaded, tag, name)) = self.chosen.take() else {
            log::warn!("rate limit state not stored (shared data unreadable); counting as over");
            return false;
        };
        if loaded != key {
            return false;
        }
        let mut value = [0u8; TAG_LEN + GcraState::LEN];
        value[..TAG_LEN].copy_from_slice(&tag);
        value[TAG_LEN..].copy_from_slice(&state.to_bytes());
        // Envoy treats cas 0 as "no check": two workers creating the same bucket in a free slot
        // at the same instant can both win once. Afterwards every write is a real
        // compare-and-swap, and taking over a held slot always is one.
        let cas = (version != 0).then_some(version);
        match hostcalls::set_shared_data(&name, Some(&value), cas) {
            Ok(()) => true,
            Err(Status::CasMismatch) => false,
            Err(other) => {
                log::warn!("rate limit state not stored ({other:?}); counting the request as over");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_two_distinct_slots_in_its_pool_and_a_stable_tag() {
        for key in ["fail:203.0.113.7", "key:key_abc", "sub:user_1:rule", ""] {
            let (tag, [a, b]) = placement("p/", key);
            assert_ne!(a, b);
            let pool = if key.starts_with("fail:") {
                "p/a"
            } else {
                "p/c"
            };
            assert!(a.starts_with(pool) && b.starts_with(pool), "{a} {b}");
            for name in [&a, &b] {
                let n: u32 = name[pool.len()..].parse().unwrap();
                assert!(n < SLOTS);
            }
            assert_eq!(placement("p/", key).0, tag);
        }
        assert_ne!(placement("p/", "key:a").0, placement("p/", "key:b").0);
    }
}
