//! The verified-credential cache: a repeated token skips the signature check.
//!
//! Keyed by a SHA-256 of the credential (the credential itself is never stored), bounded, and an
//! entry never outlives the token's `exp`, its own TTL, or the key set it was verified with (a
//! JWKS refresh clears the provider's entries). Two generations approximate LRU in O(1): hits
//! are promoted to the young generation; when it is full the old one is dropped whole.

use std::cell::RefCell;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A cache of values valid until a unix-second deadline.
#[derive(Debug)]
pub struct CredentialCache<V> {
    capacity: usize,
    inner: RefCell<Generations<V>>,
}

#[derive(Debug)]
struct Generations<V> {
    young: HashMap<[u8; 32], (u64, V)>,
    old: HashMap<[u8; 32], (u64, V)>,
}

/// The cache key of a credential.
pub fn key(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

impl<V: Clone> CredentialCache<V> {
    /// At most about `capacity` entries (0 disables the cache).
    pub fn new(capacity: usize) -> Self {
        CredentialCache {
            capacity,
            inner: RefCell::new(Generations {
                young: HashMap::new(),
                old: HashMap::new(),
            }),
        }
    }

    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<V> {
        let mut g = self.inner.borrow_mut();
        if let Some((until, v)) = g.young.get(key) {
            return (*until > now).then(|| v.clone());
        }
        let (until, v) = g.old.remove(key)?;
        if until <= now {
            return None;
        }
        let out = v.clone();
        Self::insert_young(&mut g, self.capacity, *key, until, v);
        Some(out)
    }

    pub fn insert(&self, key: [u8; 32], until: u64, value: V) {
        if self.capacity == 0 {
            return;
        }
        let mut g = self.inner.borrow_mut();
        Self::insert_young(&mut g, self.capacity, key, until, value);
    }

    fn insert_young(g: &mut Generations<V>, capacity: usize, key: [u8; 32], until: u64, value: V) {
        let half = capacity.div_ceil(2);
        if g.young.len() >= half && !g.young.contains_key(&key) {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, (until, value));
    }

    /// Drops every entry matching `pred` (e.g. all tokens of a provider whose keys changed).
    pub fn retain(&self, pred: impl Fn(&V) -> bool) {
        let mut g = self.inner.borrow_mut();
        g.young.retain(|_, (_, v)| pred(v));
        g.old.retain(|_, (_, v)| pred(v));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.inner.borrow();
        g.young.len() + g.old.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_stay_bounded() {
        let c = CredentialCache::new(4);
        c.insert(key("a"), 100, 1);
        assert_eq!(c.get(&key("a"), 99), Some(1));
        assert_eq!(c.get(&key("a"), 100), None);
        for i in 0..100 {
            c.insert(key(&i.to_string()), 1000, i);
        }
        assert!(c.len() <= 4);
        assert_eq!(c.get(&key("99"), 0), Some(99));
    }

    #[test]
    fn hits_survive_eviction_and_retain_clears() {
        let c = CredentialCache::new(4);
        c.insert(key("hot"), 1000, 0);
        for i in 0..10 {
            c.insert(key(&i.to_string()), 1000, i + 1);
            assert_eq!(c.get(&key("hot"), 0), Some(0), "a used entry is promoted");
        }
        c.retain(|v| *v != 0);
        assert_eq!(c.get(&key("hot"), 0), None);
        let off = CredentialCache::new(0);
        off.insert(key("x"), 1000, 1);
        assert!(off.is_empty());
    }
}
