//! The key store: records indexed by hash, the check a presented key goes through, and
//! create / revoke / rotate.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::format::{
    generate, hash_key, imported_head, parse, parse_hash, random_base62, Environment, KeyPrefix,
    KeyPrefixes,
};
use super::invalid_config;
use super::record::{validate, Entry, KeyRecord, StoredRecord};
use crate::error::{AuthError, ErrorCode};
use crate::policy::json_config_error;
use crate::ratelimit::RateLimit;

const ID_PREFIX: &str = "key_";
const ID_RANDOM_LEN: usize = 16;
const STORE_VERSION: u32 = 1;

/// Settings for a new key; the type and environment come from its prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKey {
    pub name: String,
    pub permissions: Vec<String>,
    /// Permissions the key may never use.
    pub denied: Vec<String>,
    pub datasets: Vec<String>,
    pub expires_at: Option<u64>,
    pub allowed_ips: Vec<String>,
    pub rate_limit: Option<String>,
    pub roles: Vec<String>,
    /// See [`KeyRecord::attributes`].
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// An existing key to import: its plaintext, or only the `sha256:` hash a platform kept.
#[derive(Clone, Copy)]
pub enum ImportedKey<'a> {
    Plaintext(&'a str),
    Hash(&'a str),
}

/// A freshly minted key: the secret is shown once and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedKey {
    pub secret: String,
    pub record: KeyRecord,
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("secret", &"<redacted>")
            .field("record", &self.record)
            .finish()
    }
}

/// The request facts a key is checked against.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// Unix seconds.
    pub now: u64,
    /// The client address as the host determined it; `None` fails every IP allow-list.
    pub client_ip: Option<IpAddr>,
    /// Environments this deployment serves; an empty list accepts no key.
    pub accepted_envs: &'a [Environment],
    pub prefixes: &'a KeyPrefixes,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreDocument<R> {
    version: u32,
    keys: Vec<R>,
}

/// The key store document `{"version": 1, "keys": [...]}`, validated at load and indexed by hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyStore {
    entries: Vec<Entry>,
    by_selector: BTreeMap<[u8; 8], Vec<usize>>,
    by_id: BTreeMap<String, usize>,
}

impl KeyStore {
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// Loads and validates a store. Every problem is `invalid_config` naming the key id (or
    /// index) and field: duplicate ids or hashes, bad hash format, CIDR, rate limit, ...
    pub fn from_json(json: &str) -> Result<KeyStore, AuthError> {
        let document: StoreDocument<StoredRecord> =
            serde_json::from_str(json).map_err(|e| json_config_error("key store", &e))?;
        if document.version != STORE_VERSION {
            return Err(invalid_config(
                "key store: unsupported version (expected 1)",
            ));
        }
        let mut store = KeyStore::new();
        for record in document.keys {
            store.insert(record)?;
        }
        Ok(store)
    }

    /// A store of the one record a key service answered for the key whose SHA-256 is `digest`,
    /// validated as a store entry is. A record of another key is refused: a service that mixes
    /// up keys must not let one key act as another.
    pub fn from_looked_up(json: &str, digest: &[u8; 32]) -> Result<KeyStore, AuthError> {
        let record: StoredRecord =
            serde_json::from_str(json).map_err(|e| json_config_error("key record", &e))?;
        let mut store = KeyStore::new();
        store.insert(record)?;
        if store.lookup(digest).is_none() {
            return Err(invalid_config(
                "key record: its hash is not the hash that was asked for",
            ));
        }
        Ok(store)
    }

    pub fn to_json(&self) -> Result<String, AuthError> {
        let document = StoreDocument {
            version: STORE_VERSION,
            keys: self.list().collect(),
        };
        serde_json::to_string_pretty(&document)
            .map_err(|_| invalid_config("key store could not be serialised"))
    }

    /// Every record, in insertion order. Records hold hashes, never secrets.
    pub fn list(&self) -> impl Iterator<Item = &KeyRecord> {
        self.entries.iter().map(|e| &e.record)
    }

    pub fn get(&self, id: &str) -> Option<&KeyRecord> {
        self.entry(id).map(|e| &e.record)
    }

    /// The standard prefixes plus every custom prefix a record of this store was issued under,
    /// so a store alone is enough to parse its keys.
    pub fn prefixes(&self) -> KeyPrefixes {
        let mut prefixes = KeyPrefixes::standard();
        for record in self.list() {
            if let Ok(p) = record.prefix() {
                if prefixes.find(p.as_str()).is_none() {
                    prefixes.entries.push(p);
                }
            }
        }
        prefixes
    }

    /// The key's parsed rate limit (validated at load).
    pub fn rate_limit(&self, id: &str) -> Option<RateLimit> {
        self.get(id).and_then(|r| r.rate_limit)
    }

    /// Authenticates a presented key. Refusals, in this order: `invalid_api_key` (malformed,
    /// bad checksum, unknown prefix or not in the store), `wrong_environment`,
    /// `revoked_api_key`, `expired_api_key` (`expires_at <= now`), `ip_not_allowed`.
    pub fn check(&self, presented: &str, ctx: &CheckContext<'_>) -> Result<&KeyRecord, AuthError> {
        let parsed = parse(presented, ctx.prefixes)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let entry = self
            .lookup(&digest)
            .ok_or_else(|| AuthError::new(ErrorCode::InvalidApiKey))?;
        let record = &entry.record;
        // A record whose type or environment disagrees with the key's own prefix means the store
        // was edited inconsistently; trust neither.
        if record.key_type != parsed.key_type() || record.environment != parsed.environment() {
            return Err(AuthError::new(ErrorCode::InvalidApiKey));
        }
        if !ctx.accepted_envs.contains(&parsed.environment()) {
            return Err(AuthError::new(ErrorCode::WrongEnvironment));
        }
        if record.revoked {
            return Err(AuthError::new(ErrorCode::RevokedApiKey));
        }
        if record.is_expired(ctx.now) {
            return Err(AuthError::new(ErrorCode::ExpiredApiKey));
        }
        if !entry.allowed_ips.is_empty() {
            let allowed = ctx
                .client_ip
                .is_some_and(|ip| entry.allowed_ips.iter().any(|c| c.contains(ip)));
            if !allowed {
                return Err(AuthError::new(ErrorCode::IpNotAllowed));
            }
        }
        Ok(record)
    }

    /// Mints and stores a key. The secret in the result is the only copy.
    pub fn create(
        &mut self,
        prefix: &KeyPrefix,
        spec: NewKey,
        now: u64,
    ) -> Result<CreatedKey, AuthError> {
        self.mint(prefix, spec, now, None)
    }

    fn mint(
        &mut self,
        prefix: &KeyPrefix,
        spec: NewKey,
        now: u64,
        rotated_from: Option<String>,
    ) -> Result<CreatedKey, AuthError> {
        let (secret, parsed) = generate(prefix)?;
        let stored = StoredRecord {
            display_prefix: parsed.display_prefix().to_owned(),
            rotated_from,
            ..self.new_record(prefix, spec, hash_key(&secret), now)?
        };
        let record = self.insert(stored)?.clone();
        Ok(CreatedKey { secret, record })
    }

    /// Adds a key a platform issued before tokenwarden, known by its plaintext or only by its
    /// SHA-256 (`sha256:<hex>`, as [`hash_key`] writes it): customers keep their keys. The
    /// prefix says the type and environment; a hash already in the store is refused.
    pub fn import(
        &mut self,
        prefix: &KeyPrefix,
        key: ImportedKey<'_>,
        spec: NewKey,
        now: u64,
    ) -> Result<&KeyRecord, AuthError> {
        let (hash, head) = match key {
            ImportedKey::Plaintext(k) => {
                let body = k
                    .strip_prefix(prefix.as_str())
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| {
                        invalid_config("an imported key does not start with the given prefix")
                    })?;
                // A key the edge would refuse by its shape must not be imported as if it worked.
                if prefix.imported().is_some_and(|f| !f.fits(body)) {
                    return Err(invalid_config(
                        "an imported key's body is outside the prefix's imported length or alphabet (letters, digits, _ and -)",
                    ));
                }
                (hash_key(k), imported_head(body))
            }
            ImportedKey::Hash(h) => {
                let digest = parse_hash(h).ok_or_else(|| {
                    invalid_config("an imported hash is not sha256: and 64 lowercase hex digits")
                })?;
                (
                    format!("sha256:{}", base16ct::lower::encode_string(&digest)),
                    imported_head(""),
                )
            }
        };
        if parse_hash(&hash).is_some_and(|d| self.lookup(&d).is_some()) {
            return Err(invalid_config("this key is already in the store"));
        }
        let stored = StoredRecord {
            display_prefix: format!("{}{head}", prefix.as_str()),
            ..self.new_record(prefix, spec, hash, now)?
        };
        self.insert(stored)
    }

    /// A fresh record of `spec` under `prefix` with `hash`, not yet checked (`insert` does).
    fn new_record(
        &self,
        prefix: &KeyPrefix,
        spec: NewKey,
        hash: String,
        now: u64,
    ) -> Result<StoredRecord, AuthError> {
        Ok(StoredRecord {
            id: self.fresh_id()?,
            name: spec.name,
            key_type: prefix.key_type(),
            environment: prefix.environment(),
            display_prefix: prefix.as_str().to_owned(),
            hash,
            permissions: spec.permissions,
            denied: spec.denied,
            datasets: spec.datasets,
            expires_at: spec.expires_at,
            revoked: false,
            revoked_at: None,
            allowed_ips: spec.allowed_ips,
            rate_limit: spec.rate_limit,
            created_at: now,
            rotated_from: None,
            roles: spec.roles,
            attributes: spec.attributes,
        })
    }

    /// Revokes a key at `now`. Revoking twice keeps the first `revoked_at`.
    pub fn revoke(&mut self, id: &str, now: u64) -> Result<&KeyRecord, AuthError> {
        let entry = self.entry_mut(id)?;
        if !entry.record.revoked {
            entry.record.revoked = true;
            entry.record.revoked_at = Some(now);
        }
        Ok(&entry.record)
    }

    /// Replaces a key with a new one with the same prefix and settings (`rotated_from` = old id).
    /// The old key stays valid for `overlap_secs` so clients can switch: its `expires_at` becomes
    /// the earlier of its current expiry and `now + overlap_secs`. Revoked and expired keys are
    /// not rotated.
    pub fn rotate(
        &mut self,
        id: &str,
        now: u64,
        overlap_secs: u64,
    ) -> Result<CreatedKey, AuthError> {
        let old = self.entry(id).ok_or_else(unknown_id)?.record.clone();
        if old.revoked {
            return Err(invalid_config("a revoked key cannot be rotated"));
        }
        if old.is_expired(now) {
            return Err(invalid_config("an expired key cannot be rotated"));
        }
        let prefix = old.prefix()?;
        let spec = NewKey {
            name: old.name,
            permissions: old.permissions,
            denied: old.denied,
            datasets: old.datasets,
            expires_at: old.expires_at,
            allowed_ips: old.allowed_ips,
            rate_limit: old.rate_limit.map(|l| l.to_string()),
            roles: old.roles,
            attributes: old.attributes,
        };
        let created = self.mint(&prefix, spec, now, Some(old.id))?;
        let old_entry = self.entry_mut(id)?;
        let overlap_end = now.saturating_add(overlap_secs);
        old_entry.record.expires_at = Some(
            old_entry
                .record
                .expires_at
                .map_or(overlap_end, |at| at.min(overlap_end)),
        );
        Ok(created)
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).and_then(|&i| self.entries.get(i))
    }

    fn entry_mut(&mut self, id: &str) -> Result<&mut Entry, AuthError> {
        let index = *self.by_id.get(id).ok_or_else(unknown_id)?;
        self.entries.get_mut(index).ok_or_else(unknown_id)
    }

    fn lookup(&self, digest: &[u8; 32]) -> Option<&Entry> {
        let mut found = None;
        for &index in self.by_selector.get(&selector(digest))? {
            let entry = self.entries.get(index)?;
            if bool::from(entry.digest.ct_eq(digest)) {
                found = Some(entry);
            }
        }
        found
    }

    fn fresh_id(&self) -> Result<String, AuthError> {
        for _ in 0..4 {
            let id = format!("{ID_PREFIX}{}", random_base62(ID_RANDOM_LEN)?);
            if !self.by_id.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(invalid_config(
            "the system random generator returned implausible output",
        ))
    }

    fn insert(&mut self, record: StoredRecord) -> Result<&KeyRecord, AuthError> {
        let index = self.entries.len();
        let entry = validate(record, index)?;
        let id = &entry.record.id;
        if self.by_id.contains_key(id) {
            return Err(invalid_config(format!("key '{id}': id is used twice")));
        }
        if self.lookup(&entry.digest).is_some() {
            return Err(invalid_config(format!(
                "key '{id}': hash is the same as another key's"
            )));
        }
        self.by_id.insert(id.clone(), index);
        self.by_selector
            .entry(selector(&entry.digest))
            .or_default()
            .push(index);
        self.entries.push(entry);
        Ok(&self.entries[index].record)
    }
}

fn unknown_id() -> AuthError {
    invalid_config("no key has this id")
}

fn selector(digest: &[u8; 32]) -> [u8; 8] {
    digest.first_chunk().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::apikey::{ImportedFormat, ImportedKey};

    /// Customers keep the keys a platform already issued: imported by plaintext or by hash,
    /// accepted by hash for a prefix configured for imported keys, refused otherwise with a
    /// clear code; minted keys keep their checksum.
    #[test]
    fn imported_keys_are_accepted_by_hash_only_where_configured() {
        let now = 1_800_000_000;
        let gopie = KeyPrefix::standard(KeyType::Secret, Environment::Live);
        let olytix =
            KeyPrefix::new("olytix-core_key_", KeyType::Secret, Environment::Live).unwrap();
        let mut store = KeyStore::new();
        let spec = |name: &str| NewKey {
            name: name.into(),
            ..NewKey::default()
        };
        let plain = store
            .import(
                &gopie,
                ImportedKey::Plaintext("sk_live_abc123def456ghi"),
                spec("gopie"),
                now,
            )
            .unwrap()
            .clone();
        assert_eq!(plain.display_prefix, "sk_live_abc1");
        let only_hash = hash_key("olytix-core_key_abc123xyz789");
        let hashed = store
            .import(&olytix, ImportedKey::Hash(&only_hash), spec("olytix"), now)
            .unwrap()
            .clone();
        assert_eq!(hashed.display_prefix, "olytix-core_key_****");
        assert!(
            store
                .import(
                    &gopie,
                    ImportedKey::Plaintext("sk_live_abc123def456ghi"),
                    spec("again"),
                    now
                )
                .is_err(),
            "one record per key"
        );
        assert!(
            store
                .import(
                    &gopie,
                    ImportedKey::Plaintext("pk_live_abc123def456"),
                    spec("x"),
                    now
                )
                .is_err(),
            "the prefix says the type"
        );
        assert!(store
            .import(&gopie, ImportedKey::Hash("sha256:XYZ"), spec("x"), now)
            .is_err());
        let reloaded = KeyStore::from_json(&store.to_json().unwrap()).unwrap();
        let format = ImportedFormat {
            min_len: 8,
            max_len: 64,
        };
        let prefixes = KeyPrefixes::standard()
            .with_prefix(gopie.clone().with_imported(format).unwrap())
            .unwrap()
            .with_prefix(olytix.with_imported(format).unwrap())
            .unwrap();
        let ctx = CheckContext {
            now,
            client_ip: None,
            accepted_envs: &[Environment::Live],
            prefixes: &prefixes,
        };
        assert_eq!(
            reloaded.check("sk_live_abc123def456ghi", &ctx).unwrap().id,
            plain.id
        );
        assert_eq!(
            reloaded
                .check("olytix-core_key_abc123xyz789", &ctx)
                .unwrap()
                .id,
            hashed.id
        );
        for bad in [
            "sk_live_abc123def456ghX",
            "sk_live_short",
            "sk_live_abc123def456ghi!",
            "olytix-core_key_abc123xyz78",
        ] {
            let e = reloaded.check(bad, &ctx).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidApiKey, "{bad}");
        }
        // Without the imported format configured, the same key is malformed.
        let standard = KeyPrefixes::standard();
        let strict = CheckContext {
            prefixes: &standard,
            ..ctx
        };
        assert_eq!(
            reloaded
                .check("sk_live_abc123def456ghi", &strict)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidApiKey
        );
        // Minted keys still need their checksum, also where imported keys are accepted.
        let mut minted = KeyStore::new();
        let key = minted.create(&gopie, spec("new"), now).unwrap();
        assert!(minted.check(&key.secret, &ctx).is_ok());
        assert!(crate::apikey::parse(&key.secret, &standard).is_ok());
        assert!(
            KeyPrefixes::standard()
                .with_prefix(
                    KeyPrefix::new("sk_live_", KeyType::Public, Environment::Live)
                        .unwrap()
                        .with_imported(format)
                        .unwrap()
                )
                .is_err(),
            "a standard prefix cannot change meaning"
        );
    }

    use super::*;
    use crate::apikey::fixtures::*;
    use crate::apikey::KeyType;
    use proptest::prelude::*;

    /// The example from the documentation, produced by an independent implementation.
    const EXAMPLE_STORE: &str = r#"{
      "version": 1,
      "keys": [
        {
          "id": "key_7Qm2VxK9pLr4Tn8B",
          "name": "analytics backend",
          "type": "rk",
          "env": "live",
          "display_prefix": "rk_live_OhBU",
          "hash": "sha256:b72fbe1d1f0853219dec83f366792ba2301a76222c24f34ff1c0c31d0166d231",
          "permissions": ["read:datasets", "execute:queries.readonly"],
          "datasets": ["sales"],
          "expires_at": 1767225600,
          "revoked": false,
          "revoked_at": null,
          "allowed_ips": ["203.0.113.0/24", "2001:db8::/32"],
          "rate_limit": "1000/hour",
          "created_at": 1735689600,
          "rotated_from": null,
          "roles": []
        }
      ]
    }"#;
    const EXAMPLE_KEY: &str = "rk_live_OhBUAp8pHOMIyDKbFcgIkw3nwcrohrcx2FbTiv";

    #[test]
    fn the_documented_example_authenticates() {
        let store = KeyStore::from_json(EXAMPLE_STORE).unwrap();
        let prefixes = KeyPrefixes::standard();
        let record = store
            .check(EXAMPLE_KEY, &ctx(&prefixes, Some("203.0.113.9")))
            .unwrap();
        assert_eq!(record.id, "key_7Qm2VxK9pLr4Tn8B");
        assert_eq!(
            parse(EXAMPLE_KEY, &prefixes).unwrap().display_prefix(),
            "rk_live_OhBU"
        );
        assert_eq!(hash_key(EXAMPLE_KEY), record.hash);
        let later = CheckContext {
            now: 1_767_225_600,
            ..ctx(&prefixes, Some("203.0.113.9"))
        };
        assert_eq!(
            code(store.check(EXAMPLE_KEY, &later)),
            ErrorCode::ExpiredApiKey
        );
    }

    #[test]
    fn check_accepts_a_valid_key() {
        let spec = NewKey {
            name: "backend".into(),
            permissions: vec!["read:datasets".into()],
            allowed_ips: vec!["203.0.113.0/24".into()],
            rate_limit: Some("1000/hour".into()),
            expires_at: Some(NOW + 1),
            ..NewKey::default()
        };
        let prefixes = KeyPrefixes::standard();
        let (store, created) = store_with(spec, &sk_live());
        let record = store
            .check(&created.secret, &ctx(&prefixes, Some("203.0.113.7")))
            .unwrap();
        assert_eq!(record, &created.record);
        assert_eq!(
            store.rate_limit(&record.id),
            Some(RateLimit::new(1000, 3600).unwrap())
        );
        assert!(store
            .check(&created.secret, &ctx(&prefixes, Some("::ffff:203.0.113.7")))
            .is_ok());
    }

    #[test]
    fn check_refuses_in_the_documented_order() {
        let prefixes = KeyPrefixes::standard();
        let test_prefix = KeyPrefix::standard(KeyType::Secret, Environment::Test);
        let everything_wrong = NewKey {
            allowed_ips: vec!["203.0.113.0/24".into()],
            expires_at: Some(NOW),
            ..NewKey::default()
        };
        let mut store = KeyStore::new();
        let key = store
            .create(&test_prefix, everything_wrong, NOW - 100)
            .unwrap();
        let id = key.record.id.clone();
        store.revoke(&id, NOW - 50).unwrap();
        let outside = ctx(&prefixes, Some("198.51.100.1"));
        // An unknown (but well-formed) key is invalid before anything else.
        let (unknown, _) = generate(&test_prefix).unwrap();
        assert_eq!(
            code(store.check(&unknown, &outside)),
            ErrorCode::InvalidApiKey
        );
        assert_eq!(
            code(store.check("sk_test_junk", &outside)),
            ErrorCode::InvalidApiKey
        );
        assert_eq!(
            code(store.check(&key.secret, &outside)),
            ErrorCode::WrongEnvironment
        );
        let both = [Environment::Live, Environment::Test];
        let any_env = CheckContext {
            accepted_envs: &both,
            ..outside
        };
        assert_eq!(
            code(store.check(&key.secret, &any_env)),
            ErrorCode::RevokedApiKey
        );
        let entry = store.entry_mut(&id).unwrap();
        entry.record.revoked = false;
        entry.record.revoked_at = None;
        assert_eq!(
            code(store.check(&key.secret, &any_env)),
            ErrorCode::ExpiredApiKey
        );
        store.entry_mut(&id).unwrap().record.expires_at = Some(NOW + 1);
        assert_eq!(
            code(store.check(&key.secret, &any_env)),
            ErrorCode::IpNotAllowed
        );
        let no_ip = CheckContext {
            client_ip: None,
            ..any_env
        };
        assert_eq!(
            code(store.check(&key.secret, &no_ip)),
            ErrorCode::IpNotAllowed
        );
        let inside = CheckContext {
            client_ip: Some("203.0.113.200".parse().unwrap()),
            ..any_env
        };
        assert!(store.check(&key.secret, &inside).is_ok());
        let nothing = CheckContext {
            accepted_envs: &[],
            ..inside
        };
        assert_eq!(
            code(store.check(&key.secret, &nothing)),
            ErrorCode::WrongEnvironment
        );
    }

    #[test]
    fn expiry_is_inclusive_of_now() {
        let prefixes = KeyPrefixes::standard();
        for (expires_at, ok) in [(NOW - 1, false), (NOW, false), (NOW + 1, true)] {
            let (store, key) = store_with(
                NewKey {
                    expires_at: Some(expires_at),
                    ..NewKey::default()
                },
                &sk_live(),
            );
            assert_eq!(store.check(&key.secret, &ctx(&prefixes, None)).is_ok(), ok);
        }
    }

    #[test]
    fn a_record_disagreeing_with_its_key_prefix_is_not_trusted() {
        let prefixes = KeyPrefixes::standard();
        let (mut store, key) = store_with(NewKey::default(), &sk_live());
        let id = key.record.id.clone();
        store.entry_mut(&id).unwrap().record.key_type = KeyType::Public;
        assert_eq!(
            code(store.check(&key.secret, &ctx(&prefixes, None))),
            ErrorCode::InvalidApiKey
        );
    }

    #[test]
    fn store_round_trips_through_json() {
        let mut store = KeyStore::new();
        let a = store
            .create(
                &sk_live(),
                NewKey {
                    name: "full".into(),
                    allowed_ips: vec!["2001:db8::/32".into(), "198.51.100.14".into()],
                    rate_limit: Some("100/min".into()),
                    roles: vec!["editor".into()],
                    datasets: vec!["sales".into()],
                    ..NewKey::default()
                },
                NOW,
            )
            .unwrap();
        store
            .create(
                &KeyPrefix::standard(KeyType::Restricted, Environment::Test),
                NewKey::default(),
                NOW,
            )
            .unwrap();
        store.revoke(&a.record.id, NOW + 5).unwrap();
        let json = store.to_json().unwrap();
        assert!(!json.contains(&a.secret));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["keys"][0]["type"], "sk");
        assert_eq!(value["keys"][0]["env"], "live");
        assert_eq!(value["keys"][0]["revoked_at"], NOW + 5);
        assert_eq!(value["keys"][1]["type"], "rk");
        let loaded = KeyStore::from_json(&json).unwrap();
        assert_eq!(loaded, store);
        assert_eq!(loaded.to_json().unwrap(), json);
    }

    #[test]
    fn minimal_records_load_with_defaults() {
        let store = KeyStore::from_json(&record_json(serde_json::json!({}))).unwrap();
        let record = store.get("key_abc").unwrap();
        assert!(record.permissions.is_empty() && record.allowed_ips.is_empty());
        assert_eq!((record.expires_at, record.revoked), (None, false));
        assert_eq!(store.rate_limit("key_abc"), None);
        assert!(KeyStore::from_json(r#"{"version": 1, "keys": []}"#).is_ok());
    }

    #[test]
    fn loading_refuses_duplicate_ids_and_hashes() {
        let record = |id: &str, hash: &str| {
            serde_json::json!({
                "id": id, "name": "", "type": "sk", "env": "live",
                "display_prefix": "sk_live_AbC1", "hash": hash, "created_at": 1
            })
        };
        let (h1, h2) = (hash_key("one"), hash_key("two"));
        let doc = |keys: Vec<serde_json::Value>| {
            serde_json::json!({"version": 1, "keys": keys}).to_string()
        };
        assert_eq!(
            load_err(&doc(vec![record("key_a", &h1), record("key_a", &h2)])),
            "key 'key_a': id is used twice"
        );
        assert_eq!(
            load_err(&doc(vec![record("key_a", &h1), record("key_b", &h1)])),
            "key 'key_b': hash is the same as another key's"
        );
        assert!(
            KeyStore::from_json(&doc(vec![record("key_a", &h1), record("key_b", &h2)])).is_ok()
        );
    }

    #[test]
    fn create_validates_the_settings() {
        let mut store = KeyStore::new();
        let bad = NewKey {
            allowed_ips: vec!["10.0.0.1/8".into()],
            ..NewKey::default()
        };
        assert_eq!(
            code(store.create(&sk_live(), bad, NOW)),
            ErrorCode::InvalidConfig
        );
        assert_eq!(store.list().count(), 0, "nothing is stored on refusal");
        let created = store.create(&sk_live(), NewKey::default(), NOW).unwrap();
        assert!(created.record.id.starts_with("key_"));
        assert_eq!(created.record.id.len(), 4 + 16);
        assert_eq!(created.record.created_at, NOW);
        assert_eq!(created.record.hash, hash_key(&created.secret));
        assert_eq!(created.record.display_prefix, &created.secret[..12]);
        let debug = format!("{created:?}");
        assert!(!debug.contains(&created.secret) && debug.contains("<redacted>"));
    }

    #[test]
    fn revoke_is_idempotent_and_takes_effect() {
        let prefixes = KeyPrefixes::standard();
        let (mut store, key) = store_with(NewKey::default(), &sk_live());
        let id = key.record.id.clone();
        let record = store.revoke(&id, NOW).unwrap();
        assert_eq!((record.revoked, record.revoked_at), (true, Some(NOW)));
        let record = store.revoke(&id, NOW + 10).unwrap();
        assert_eq!(record.revoked_at, Some(NOW));
        assert_eq!(
            code(store.check(&key.secret, &ctx(&prefixes, None))),
            ErrorCode::RevokedApiKey
        );
        assert_eq!(
            code(store.revoke("key_nope", NOW)),
            ErrorCode::InvalidConfig
        );
    }

    #[test]
    fn rotation_overlaps_then_retires_the_old_key() {
        let prefixes = custom_prefixes();
        let spec = NewKey {
            name: "etl".into(),
            permissions: vec!["read:datasets".into()],
            denied: vec![],
            datasets: vec!["sales".into()],
            allowed_ips: vec!["203.0.113.0/24".into()],
            rate_limit: Some("10/s".into()),
            roles: vec!["viewer".into()],
            attributes: BTreeMap::from([("org".into(), vec!["acme".into()])]),
            expires_at: Some(NOW + 10_000),
        };
        let (mut store, old) = store_with(spec, prefixes.find("dp_live_").unwrap());
        let rotated = store.rotate(&old.record.id, NOW, 600).unwrap();
        assert!(rotated.secret.starts_with("dp_live_"));
        assert_ne!(rotated.secret, old.secret);
        let new = &rotated.record;
        assert_eq!(new.rotated_from.as_deref(), Some(old.record.id.as_str()));
        assert_eq!(new.created_at, NOW);
        assert_eq!(
            (
                &new.name,
                &new.permissions,
                &new.datasets,
                &new.allowed_ips,
                &new.rate_limit,
                &new.roles,
                &new.attributes,
                new.expires_at,
                new.key_type
            ),
            (
                &old.record.name,
                &old.record.permissions,
                &old.record.datasets,
                &old.record.allowed_ips,
                &old.record.rate_limit,
                &old.record.roles,
                &old.record.attributes,
                old.record.expires_at,
                KeyType::Restricted
            )
        );
        assert_eq!(
            store.get(&old.record.id).unwrap().expires_at,
            Some(NOW + 600)
        );
        assert_eq!(store.get(&new.id), Some(new));
        let at = |now: u64| CheckContext {
            now,
            ..ctx(&prefixes, Some("203.0.113.1"))
        };
        assert!(store.check(&old.secret, &at(NOW + 599)).is_ok());
        assert_eq!(
            code(store.check(&old.secret, &at(NOW + 600))),
            ErrorCode::ExpiredApiKey
        );
        assert!(store.check(&rotated.secret, &at(NOW + 600)).is_ok());
        // An earlier existing expiry is kept.
        let (mut store, old) = store_with(
            NewKey {
                expires_at: Some(NOW + 60),
                ..NewKey::default()
            },
            &sk_live(),
        );
        store.rotate(&old.record.id, NOW, 600).unwrap();
        assert_eq!(
            store.get(&old.record.id).unwrap().expires_at,
            Some(NOW + 60)
        );
        // No overlap retires the old key immediately; a huge overlap saturates.
        let (mut store, old) = store_with(NewKey::default(), &sk_live());
        store.rotate(&old.record.id, NOW, 0).unwrap();
        assert_eq!(
            code(store.check(&old.secret, &at(NOW))),
            ErrorCode::ExpiredApiKey
        );
        let (mut store, old) = store_with(NewKey::default(), &sk_live());
        store.rotate(&old.record.id, NOW, u64::MAX).unwrap();
        assert_eq!(
            store.get(&old.record.id).unwrap().expires_at,
            Some(u64::MAX)
        );
    }

    #[test]
    fn rotation_refuses_revoked_expired_and_unknown_keys() {
        let (mut store, key) = store_with(NewKey::default(), &sk_live());
        let id = key.record.id.clone();
        assert_eq!(
            code(store.rotate("key_nope", NOW, 60)),
            ErrorCode::InvalidConfig
        );
        store.rotate(&id, NOW, 60).unwrap();
        assert_eq!(
            store.rotate(&id, NOW + 60, 60).unwrap_err().message(),
            "an expired key cannot be rotated"
        );
        store.revoke(&id, NOW).unwrap();
        assert_eq!(
            store.rotate(&id, NOW, 60).unwrap_err().message(),
            "a revoked key cannot be rotated"
        );
        assert_eq!(store.list().count(), 2);
    }

    #[test]
    fn a_store_knows_the_custom_prefixes_it_issued() {
        let mut store = KeyStore::new();
        let custom =
            KeyPrefix::new("olytix-core_key_", KeyType::Secret, Environment::Live).unwrap();
        let created = store
            .create(
                &custom,
                NewKey {
                    name: "cli".into(),
                    ..NewKey::default()
                },
                100,
            )
            .unwrap();
        let reloaded = KeyStore::from_json(&store.to_json().unwrap()).unwrap();
        let prefixes = reloaded.prefixes();
        assert!(prefixes.find("olytix-core_key_").is_some());
        assert!(prefixes.find("sk_live_").is_some());
        let ctx = CheckContext {
            now: 200,
            client_ip: None,
            accepted_envs: &[Environment::Live],
            prefixes: &prefixes,
        };
        assert_eq!(
            reloaded.check(&created.secret, &ctx).unwrap().id,
            created.record.id
        );
        let standard = KeyPrefixes::standard();
        let ctx = CheckContext {
            prefixes: &standard,
            ..ctx
        };
        assert_eq!(
            reloaded.check(&created.secret, &ctx).unwrap_err().code(),
            ErrorCode::InvalidApiKey
        );
    }

    proptest! {
        #[test]
        fn arbitrary_keys_never_panic(s in "\\PC{0,120}") {
            let prefixes = custom_prefixes();
            let _ = parse(&s, &prefixes);
            let store = KeyStore::new();
            let _ = store.check(&s, &ctx(&prefixes, None));
        }

        #[test]
        fn arbitrary_store_documents_never_panic(s in "\\PC{0,200}") {
            let _ = KeyStore::from_json(&s);
        }
    }
}
