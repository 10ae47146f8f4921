//! Lookup-on-miss API keys, for key stores too large to poll into every proxy: a presented key
//! is asked of a key service by its SHA-256 (never the key itself), one record at a time, and
//! the answer is cached by that digest: found keys for `positive_ttl_secs`, unknown ones for
//! `negative_ttl_secs`, at most about `max_entries` of them, the least recently used dropped
//! first. Memory follows the keys in use, not the store. A cached record is checked on every
//! request like a polled store's (`KeyStore::check`), so expiry and IP lists hold at once;
//! revocations come through the polled revoked-tokens list.

use std::sync::Arc;

use super::cache::CredentialCache;
use super::call::Call;
use super::config::KeyLookupConfig;
use crate::apikey::KeyStore;
use crate::error::{AuthError, ErrorCode};

/// What the lookup is called in calls and refusals.
pub(super) const PURPOSE: &str = "api_keys.store.lookup";
/// Longest answer read as a record (one record is far smaller).
const MAX_ANSWER: usize = 64 * 1024;

/// The key service and the cache of its answers.
#[derive(Debug)]
pub(super) struct KeyLookup {
    cfg: KeyLookupConfig,
    /// A one-record store per found key, an empty one per unknown key.
    cache: CredentialCache<Arc<KeyStore>>,
}

impl KeyLookup {
    pub fn new(cfg: &KeyLookupConfig) -> KeyLookup {
        KeyLookup {
            cache: CredentialCache::new(cfg.max_entries),
            cfg: cfg.clone(),
        }
    }

    /// The cached answer for the key whose SHA-256 is `digest`: a store holding its record, or
    /// an empty store when the service said it does not know it.
    pub fn cached(&self, digest: &[u8; 32], now: u64) -> Option<Arc<KeyStore>> {
        self.cache.get(digest, now)
    }

    /// Where the calls go, for log lines: the path as configured, `{hash}` unfilled.
    pub fn location(&self) -> String {
        let url = self
            .cfg
            .url
            .as_ref()
            .map(|u| format!("{}{}", u.trim_end_matches('/'), self.cfg.path));
        super::sources::location(self.cfg.cluster.as_deref(), url.as_deref(), &self.cfg.path)
    }

    /// The GET that asks the service for the key whose SHA-256 is `digest`.
    pub fn call(&self, digest: &[u8; 32]) -> Call {
        let path = self
            .cfg
            .path
            .replace("{hash}", &base16ct::lower::encode_string(digest));
        Call {
            purpose: PURPOSE,
            method: "GET",
            cluster: self.cfg.cluster.clone(),
            authority: self.cfg.authority.clone(),
            url: self
                .cfg
                .url
                .as_ref()
                .map(|u| format!("{}{path}", u.trim_end_matches('/'))),
            path,
            timeout_ms: self.cfg.timeout_ms,
            headers: vec![("accept".into(), "application/json".into())],
            max_bytes: MAX_ANSWER as u64,
            body: None,
        }
    }

    /// The service's answer (status 0: none) for `digest`: `200` with the key's record or `404`
    /// for an unknown key, both cached. Anything else, a record that does not validate, or one
    /// of another key, is an outage (`keys_unavailable`), not cached.
    pub fn answered(
        &self,
        digest: &[u8; 32],
        status: u16,
        body: &[u8],
        now: u64,
    ) -> Result<Arc<KeyStore>, AuthError> {
        let unavailable = |why: &str| {
            AuthError::with_message(
                ErrorCode::KeysUnavailable,
                format!("{PURPOSE}: the key service {why}"),
            )
        };
        let (store, ttl) = match status {
            200 => {
                let text = std::str::from_utf8(body)
                    .ok()
                    .filter(|t| t.len() <= MAX_ANSWER)
                    .ok_or_else(|| unavailable("answered no readable record"))?;
                let store = KeyStore::from_looked_up(text, digest)
                    .map_err(|e| unavailable(&format!("answered a bad record: {}", e.message())))?;
                (store, self.cfg.positive_ttl_secs)
            }
            404 => (KeyStore::new(), self.cfg.negative_ttl_secs),
            0 => return Err(unavailable("did not answer")),
            s => return Err(unavailable(&format!("answered HTTP {s}"))),
        };
        let store = Arc::new(store);
        if ttl > 0 {
            self.cache
                .insert(*digest, now.saturating_add(ttl), Arc::clone(&store));
        }
        Ok(store)
    }
}
