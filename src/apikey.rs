//! API keys: generation, strict parsing, hashed storage and the checks a request goes through.
//!
//! # Format
//!
//! `<prefix><random><checksum>`, for example `sk_live_` + 32 + 6 characters:
//!
//! * the prefix names the key type and environment: `sk_`/`pk_`/`rk_` then `live_`/`test_`,
//!   or a configured custom prefix such as `olytix-core_key_` mapped to a type and environment;
//! * 32 base62 characters from the CSPRNG (≈190 bits; the 4 shown in the display prefix leave
//!   ≈167 secret bits);
//! * 6 base62 characters encoding the CRC32 of prefix and random part, so secret scanners can
//!   recognise a leaked key and a typo is refused before any store lookup. CRC32 detects every
//!   single-character change and every adjacent transposition.
//!
//! # Storage
//!
//! Only `sha256:<64 lowercase hex>` of the whole key is stored. The key already carries ≥160
//! random bits, so a fast unsalted hash is enough: there is nothing to brute-force. Lookups index
//! by the first 8 digest bytes (timing there reveals bits of a hash of the attacker's own input,
//! which is useless without a preimage) and confirm the full digest in constant time.
//!
//! # Key types
//!
//! The type is a ceiling and the record's `permissions` narrow it; an empty list means the
//! ceiling. `sk` (secret) keys have full access, `*`. `pk` (public) keys are read-only: only
//! `read` permissions survive (`read:*` when none are listed) and they cannot carry roles, whose
//! permissions would escape the filter. `rk` (restricted) keys have exactly the listed
//! permissions and roles, none when the list is empty. See [`KeyRecord::effective_permissions`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cidr::Cidr;
use crate::error::{AuthError, ErrorCode};
use crate::policy::{json_config_error, Grant, Permission};
use crate::ratelimit::RateLimit;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
const MAX_PREFIX_LEN: usize = 32;
/// Presented keys longer than this are refused before any other work.
const MAX_KEY_LEN: usize = MAX_PREFIX_LEN + BODY_LEN;
/// Random characters shown after the prefix in listings.
const DISPLAY_RANDOM_CHARS: usize = 4;
const HASH_PREFIX: &str = "sha256:";
const ID_PREFIX: &str = "key_";
const ID_RANDOM_LEN: usize = 16;
const MAX_ID_LEN: usize = 64;
const MAX_NAME_LEN: usize = 200;
const MAX_LABEL_LEN: usize = 64;
const STORE_VERSION: u32 = 1;

/// What a key may do; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyType {
    /// `sk`: full access.
    #[serde(rename = "sk")]
    Secret,
    /// `pk`: read-only, safe to embed in a client.
    #[serde(rename = "pk")]
    Public,
    /// `rk`: exactly the listed permissions.
    #[serde(rename = "rk")]
    Restricted,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Secret => "sk",
            KeyType::Public => "pk",
            KeyType::Restricted => "rk",
        }
    }
}

/// Keeps test keys out of production and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }
}

/// A key prefix and the type and environment it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix {
    prefix: String,
    key_type: KeyType,
    environment: Environment,
}

impl KeyPrefix {
    /// A custom prefix: 2-32 characters of letters, digits, `_` and `-`, ending in `_` so the
    /// boundary with the base62 body is unambiguous.
    pub fn new(
        prefix: &str,
        key_type: KeyType,
        environment: Environment,
    ) -> Result<KeyPrefix, AuthError> {
        let well_formed = (2..=MAX_PREFIX_LEN).contains(&prefix.len())
            && prefix.ends_with('_')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !well_formed {
            return Err(invalid_config(
                "API key prefixes must be 2-32 characters of letters, digits, _ and -, ending in _",
            ));
        }
        Ok(KeyPrefix {
            prefix: prefix.to_string(),
            key_type,
            environment,
        })
    }

    /// `sk_live_`, `pk_test_` and so on.
    pub fn standard(key_type: KeyType, environment: Environment) -> KeyPrefix {
        KeyPrefix {
            prefix: format!("{}_{}_", key_type.as_str(), environment.as_str()),
            key_type,
            environment,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }
}

/// The prefixes a deployment recognises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefixes {
    entries: Vec<KeyPrefix>,
}

impl KeyPrefixes {
    /// The six standard prefixes (`sk_live_` ... `rk_test_`).
    pub fn standard() -> KeyPrefixes {
        let mut entries = Vec::new();
        for key_type in [KeyType::Secret, KeyType::Public, KeyType::Restricted] {
            for environment in [Environment::Live, Environment::Test] {
                entries.push(KeyPrefix::standard(key_type, environment));
            }
        }
        KeyPrefixes { entries }
    }

    /// No prefixes, for deployments that accept only custom ones.
    pub fn none() -> KeyPrefixes {
        KeyPrefixes {
            entries: Vec::new(),
        }
    }

    /// Adds a custom prefix; a prefix already present is refused even with the same meaning.
    pub fn with_prefix(mut self, prefix: KeyPrefix) -> Result<KeyPrefixes, AuthError> {
        if self.find(prefix.as_str()).is_some() {
            return Err(invalid_config("API key prefix is configured twice"));
        }
        self.entries.push(prefix);
        Ok(self)
    }

    pub fn find(&self, prefix: &str) -> Option<&KeyPrefix> {
        self.entries.iter().find(|p| p.prefix == prefix)
    }
}

impl Default for KeyPrefixes {
    fn default() -> Self {
        KeyPrefixes::standard()
    }
}

/// What a well-formed key says about itself, before any store lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedApiKey {
    prefix: KeyPrefix,
    display_prefix: String,
}

impl ParsedApiKey {
    pub fn key_type(&self) -> KeyType {
        self.prefix.key_type
    }

    pub fn environment(&self) -> Environment {
        self.prefix.environment
    }

    pub fn prefix(&self) -> &str {
        &self.prefix.prefix
    }

    /// The prefix plus the first 4 random characters: enough to tell keys apart in a listing,
    /// too little to matter for the secret.
    pub fn display_prefix(&self) -> &str {
        &self.display_prefix
    }
}

/// Mints a new key. The returned string is the only copy of the secret.
pub fn generate(prefix: &KeyPrefix) -> Result<(String, ParsedApiKey), AuthError> {
    let random = random_base62(RANDOM_LEN)?;
    let mut key = String::with_capacity(prefix.prefix.len() + BODY_LEN);
    key.push_str(&prefix.prefix);
    key.push_str(&random);
    key.push_str(&checksum(key.as_bytes()));
    let display_prefix = format!("{}{}", prefix.prefix, random_head(&random));
    Ok((
        key,
        ParsedApiKey {
            prefix: prefix.clone(),
            display_prefix,
        },
    ))
}

/// Accepts exactly `<known prefix><32 base62><6 base62 checksum>`; anything else, including
/// surrounding whitespace, is `invalid_api_key`.
pub fn parse(key: &str, prefixes: &KeyPrefixes) -> Result<ParsedApiKey, AuthError> {
    if key.len() > MAX_KEY_LEN || key.len() <= BODY_LEN || !key.is_ascii() {
        return Err(malformed());
    }
    let (prefix_text, body) = key.split_at(key.len() - BODY_LEN);
    let (random, check) = body.split_at(RANDOM_LEN);
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(malformed());
    }
    let prefix = prefixes.find(prefix_text).ok_or_else(malformed)?;
    let signed = key.get(..key.len() - CHECKSUM_LEN).ok_or_else(malformed)?;
    if checksum(signed.as_bytes()) != check {
        return Err(malformed());
    }
    Ok(ParsedApiKey {
        prefix: prefix.clone(),
        display_prefix: format!("{prefix_text}{}", random_head(random)),
    })
}

/// For code that runs where its users can read it (browsers, mobile apps): only publishable
/// `pk_` keys. A secret or restricted key, or anything that looks like one, is refused before it
/// is sent anywhere, with a message that says why.
pub fn require_publishable(key: &str) -> Result<ParsedApiKey, AuthError> {
    let secret = || {
        invalid_config(
            "secret (sk_) and restricted (rk_) API keys must stay on a server; use a pk_ key here",
        )
    };
    if key.starts_with("sk_") || key.starts_with("rk_") {
        return Err(secret());
    }
    let parsed = parse(key, &KeyPrefixes::standard())?;
    if parsed.key_type() != KeyType::Public {
        return Err(secret());
    }
    Ok(parsed)
}

/// The stored form of a key: `sha256:` and 64 lowercase hex digits.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{HASH_PREFIX}{}", base16ct::lower::encode_string(&digest))
}

/// Only the canonical lowercase form is accepted, so one key has exactly one stored hash.
fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix(HASH_PREFIX)?;
    let mut out = [0u8; 32];
    base16ct::lower::decode(hex, &mut out)
        .ok()
        .filter(|d| d.len() == 32)?;
    Some(out)
}

fn malformed() -> AuthError {
    AuthError::with_message(ErrorCode::InvalidApiKey, "The API key is malformed")
}

fn invalid_config(message: impl Into<std::borrow::Cow<'static, str>>) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidConfig, message)
}

fn random_head(random: &str) -> &str {
    random.get(..DISPLAY_RANDOM_CHARS).unwrap_or(random)
}

/// Six base62 digits of the CRC32, most significant first.
fn checksum(data: &[u8]) -> String {
    let mut value = crc32(data);
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// CRC-32 (IEEE 802.3, the zlib/PNG one), a bit at a time: a key is ~40 bytes, and the 16 KiB of
/// tables a faster CRC carries would be a sixth of the browser build's download.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Uniform base62 by rejection sampling: bytes >= 248 (= 4 * 62) are discarded, so `b % 62`
/// has no bias. A generator that keeps producing rejected bytes is treated as failed.
fn random_base62(len: usize) -> Result<String, AuthError> {
    let mut out = String::with_capacity(len);
    for _ in 0..8 {
        for b in crate::random::bytes::<64>()? {
            if b < 248 {
                out.push(char::from(BASE62[usize::from(b % 62)]));
                if out.len() == len {
                    return Ok(out);
                }
            }
        }
    }
    Err(invalid_config(
        "the system random generator returned implausible output",
    ))
}

/// One stored key. Unknown fields are refused: a misspelt `allowed_ips` must not silently
/// drop a restriction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// `key_` plus 16 random base62 characters for generated keys.
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    #[serde(rename = "env")]
    pub environment: Environment,
    /// The key's prefix plus its first 4 random characters, safe to show.
    pub display_prefix: String,
    /// `sha256:` and 64 lowercase hex digits of the whole key.
    pub hash: String,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Datasets the key may touch; empty means all.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Unix seconds; the key is refused from this instant on.
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub revoked_at: Option<u64>,
    /// CIDR blocks; empty means any address.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// For example `1000/hour`; see [`RateLimit`].
    #[serde(default)]
    pub rate_limit: Option<String>,
    pub created_at: u64,
    /// The key this one replaced, while both are valid during a rotation.
    #[serde(default)]
    pub rotated_from: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl KeyRecord {
    /// The permissions this key actually holds, after applying its type's ceiling.
    /// The prefix this key was issued under (its display prefix minus the shown random part).
    pub fn prefix(&self) -> Result<KeyPrefix, AuthError> {
        let text = self
            .display_prefix
            .get(
                ..self
                    .display_prefix
                    .len()
                    .saturating_sub(DISPLAY_RANDOM_CHARS),
            )
            .unwrap_or_default();
        KeyPrefix::new(text, self.key_type, self.environment)
    }

    pub fn effective_permissions(&self) -> Vec<String> {
        match self.key_type {
            KeyType::Secret if self.permissions.is_empty() => vec!["*".to_string()],
            KeyType::Public if self.permissions.is_empty() => vec!["read:*".to_string()],
            KeyType::Public => self
                .permissions
                .iter()
                .filter(|p| p.parse::<Permission>().is_ok_and(|p| p.has_action("read")))
                .cloned()
                .collect(),
            KeyType::Secret | KeyType::Restricted => self.permissions.clone(),
        }
    }

    /// What the policy engine needs to decide a request made with this key.
    pub fn grant(&self) -> Grant {
        Grant {
            permissions: self.effective_permissions(),
            denied: Vec::new(),
            roles: match self.key_type {
                KeyType::Public => Vec::new(),
                KeyType::Secret | KeyType::Restricted => self.roles.clone(),
            },
            datasets: self.datasets.clone(),
        }
    }

    fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Settings for a new key; the type and environment come from its prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKey {
    pub name: String,
    pub permissions: Vec<String>,
    pub datasets: Vec<String>,
    pub expires_at: Option<u64>,
    pub allowed_ips: Vec<String>,
    pub rate_limit: Option<String>,
    pub roles: Vec<String>,
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    record: KeyRecord,
    digest: [u8; 32],
    allowed_ips: Vec<Cidr>,
    rate_limit: Option<RateLimit>,
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
        let document: StoreDocument<KeyRecord> =
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
        self.entry(id).and_then(|e| e.rate_limit)
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
        let record = KeyRecord {
            id: self.fresh_id()?,
            name: spec.name,
            key_type: parsed.key_type(),
            environment: parsed.environment(),
            display_prefix: parsed.display_prefix,
            hash: hash_key(&secret),
            permissions: spec.permissions,
            datasets: spec.datasets,
            expires_at: spec.expires_at,
            revoked: false,
            revoked_at: None,
            allowed_ips: spec.allowed_ips,
            rate_limit: spec.rate_limit,
            created_at: now,
            rotated_from,
            roles: spec.roles,
        };
        self.insert(record.clone())?;
        Ok(CreatedKey { secret, record })
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
            datasets: old.datasets,
            expires_at: old.expires_at,
            allowed_ips: old.allowed_ips,
            rate_limit: old.rate_limit,
            roles: old.roles,
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

    fn insert(&mut self, record: KeyRecord) -> Result<(), AuthError> {
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
        Ok(())
    }
}

fn unknown_id() -> AuthError {
    invalid_config("no key has this id")
}

fn selector(digest: &[u8; 32]) -> [u8; 8] {
    digest.first_chunk().copied().unwrap_or_default()
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Dataset names and roles must be plain, printable and short.
fn is_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LABEL_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The shape of a display prefix: a valid key prefix plus 4 base62 characters.
fn is_display_prefix(s: &str, key_type: KeyType, environment: Environment) -> bool {
    let Some(split) = s.len().checked_sub(DISPLAY_RANDOM_CHARS) else {
        return false;
    };
    match (s.get(..split), s.get(split..)) {
        (Some(prefix), Some(head)) => {
            head.bytes().all(|b| b.is_ascii_alphanumeric())
                && KeyPrefix::new(prefix, key_type, environment).is_ok()
        }
        _ => false,
    }
}

fn validate(record: KeyRecord, index: usize) -> Result<Entry, AuthError> {
    if !is_id(&record.id) {
        return Err(invalid_config(format!(
            "keys[{index}]: id must be 1-64 characters of letters, digits, _ and -"
        )));
    }
    let id = record.id.as_str();
    let fail = |field: &str, why: &str| invalid_config(format!("key '{id}': {field}: {why}"));
    if record.name.chars().count() > MAX_NAME_LEN || record.name.chars().any(char::is_control) {
        return Err(fail(
            "name",
            "at most 200 characters, no control characters",
        ));
    }
    if !is_display_prefix(&record.display_prefix, record.key_type, record.environment) {
        return Err(fail(
            "display_prefix",
            "must be the key prefix followed by 4 base62 characters",
        ));
    }
    let digest = parse_hash(&record.hash).ok_or_else(|| {
        fail(
            "hash",
            "must be sha256: followed by 64 lowercase hex digits",
        )
    })?;
    for permission in &record.permissions {
        permission
            .parse::<Permission>()
            .map_err(|e| fail("permissions", e.message()))?;
    }
    if record.datasets.iter().any(|d| !is_label(d)) {
        return Err(fail(
            "datasets",
            "entries must be 1-64 printable ASCII characters",
        ));
    }
    if record.roles.iter().any(|r| !is_label(r)) {
        return Err(fail(
            "roles",
            "entries must be 1-64 printable ASCII characters",
        ));
    }
    if record.key_type == KeyType::Public && !record.roles.is_empty() {
        return Err(fail("roles", "pk keys are read-only and cannot have roles"));
    }
    if record.revoked_at.is_some() && !record.revoked {
        return Err(fail("revoked_at", "is set but revoked is false"));
    }
    let allowed_ips = record
        .allowed_ips
        .iter()
        .map(|entry| entry.parse::<Cidr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail("allowed_ips", e.message()))?;
    let rate_limit = record
        .rate_limit
        .as_deref()
        .map(str::parse::<RateLimit>)
        .transpose()
        .map_err(|e| fail("rate_limit", e.message()))?;
    if record.rotated_from.as_deref().is_some_and(|r| !is_id(r)) {
        return Err(fail("rotated_from", "must be a key id"));
    }
    Ok(Entry {
        record,
        digest,
        allowed_ips,
        rate_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const NOW: u64 = 1_750_000_000;
    const LIVE: &[Environment] = &[Environment::Live];

    fn sk_live() -> KeyPrefix {
        KeyPrefix::standard(KeyType::Secret, Environment::Live)
    }

    #[test]
    fn only_publishable_keys_pass_in_clients() {
        let pk = generate(&KeyPrefix::standard(KeyType::Public, Environment::Test))
            .unwrap()
            .0;
        assert_eq!(
            require_publishable(&pk).unwrap().key_type(),
            KeyType::Public
        );
        for key_type in [KeyType::Secret, KeyType::Restricted] {
            let key = generate(&KeyPrefix::standard(key_type, Environment::Live))
                .unwrap()
                .0;
            let err = require_publishable(&key).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig);
            assert!(err.message().contains("server") && !err.message().contains(&key));
        }
        assert_eq!(
            require_publishable("sk_live_short").unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        assert_eq!(
            require_publishable("pk_live_short").unwrap_err().code(),
            ErrorCode::InvalidApiKey
        );
    }

    fn custom_prefixes() -> KeyPrefixes {
        KeyPrefixes::standard()
            .with_prefix(
                KeyPrefix::new("olytix-core_key_", KeyType::Secret, Environment::Live).unwrap(),
            )
            .unwrap()
            .with_prefix(
                KeyPrefix::new("dp_live_", KeyType::Restricted, Environment::Live).unwrap(),
            )
            .unwrap()
    }

    fn ctx<'a>(prefixes: &'a KeyPrefixes, client_ip: Option<&str>) -> CheckContext<'a> {
        CheckContext {
            now: NOW,
            client_ip: client_ip.map(|ip| ip.parse().unwrap()),
            accepted_envs: LIVE,
            prefixes,
        }
    }

    fn code<T: fmt::Debug>(r: Result<T, AuthError>) -> ErrorCode {
        r.unwrap_err().code()
    }

    /// A syntactically valid key with a correct checksum for any prefix and random part.
    fn forge(prefix: &str, random: &str) -> String {
        let signed = format!("{prefix}{random}");
        let check = checksum(signed.as_bytes());
        signed + &check
    }

    fn store_with(spec: NewKey, prefix: &KeyPrefix) -> (KeyStore, CreatedKey) {
        let mut store = KeyStore::new();
        let created = store.create(prefix, spec, NOW - 100).unwrap();
        (store, created)
    }

    fn record_json(overrides: serde_json::Value) -> String {
        let mut record = serde_json::json!({
            "id": "key_abc",
            "name": "backend",
            "type": "sk",
            "env": "live",
            "display_prefix": "sk_live_AbC1",
            "hash": format!("sha256:{}", "ab".repeat(32)),
            "created_at": 1
        });
        for (k, v) in overrides.as_object().unwrap() {
            record[k] = v.clone();
        }
        serde_json::json!({"version": 1, "keys": [record]}).to_string()
    }

    fn load_err(json: &str) -> String {
        let e = KeyStore::from_json(json).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
        e.message().to_string()
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let (key, parsed) = generate(&sk_live()).unwrap();
        assert_eq!(key.len(), 8 + 32 + 6);
        assert!(key.starts_with("sk_live_"));
        assert!(key[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(parsed.key_type(), KeyType::Secret);
        assert_eq!(parsed.environment(), Environment::Live);
        assert_eq!(parsed.prefix(), "sk_live_");
        assert_eq!(parsed.display_prefix(), &key[..12]);
        assert_eq!(parse(&key, &KeyPrefixes::standard()).unwrap(), parsed);
        let hash = hash_key(&key);
        assert!(hash.starts_with("sha256:"));
        assert_eq!(hash.len(), 7 + 64);
        assert!(parse_hash(&hash).is_some());
    }

    #[test]
    fn generated_keys_differ_and_use_the_whole_alphabet() {
        let mut seen = BTreeSet::new();
        let mut chars = BTreeSet::new();
        for _ in 0..200 {
            let (key, _) = generate(&sk_live()).unwrap();
            chars.extend(key[8..40].chars());
            assert!(seen.insert(key));
        }
        assert_eq!(chars.len(), 62);
    }

    #[test]
    fn checksum_encoding_is_fixed_width_base62() {
        assert_eq!(checksum(b""), "000000");
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the CRC-32 check value");
        assert_eq!(
            crc32(b"sk_live_00000000000000000000000000000000"),
            2_283_820_664
        );
        assert_eq!(
            checksum(b"sk_live_00000000000000000000000000000000"),
            "2UYg5A"
        );
        let key = forge("sk_live_", &"0".repeat(32));
        assert_eq!(key, "sk_live_000000000000000000000000000000002UYg5A");
        assert!(parse(&key, &KeyPrefixes::standard()).is_ok());
    }

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
    fn hash_is_lowercase_hex_sha256() {
        assert_eq!(
            hash_key("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            parse_hash(&hash_key("abc")).unwrap().to_vec(),
            Sha256::digest(b"abc").to_vec()
        );
        for bad in [
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256:ba7816bf",
            "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\u{e9}",
            "",
        ] {
            assert_eq!(parse_hash(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_single_character_typo_is_caught_by_the_checksum() {
        let prefixes = KeyPrefixes::standard();
        let (key, _) = generate(&sk_live()).unwrap();
        for i in 8..key.len() {
            for replacement in BASE62.iter().map(|&b| char::from(b)) {
                let mut typo: Vec<char> = key.chars().collect();
                if typo[i] == replacement {
                    continue;
                }
                typo[i] = replacement;
                let typo: String = typo.into_iter().collect();
                assert_eq!(code(parse(&typo, &prefixes)), ErrorCode::InvalidApiKey);
            }
            let mut swapped: Vec<char> = key.chars().collect();
            if i + 1 < key.len() && swapped[i] != swapped[i + 1] {
                swapped.swap(i, i + 1);
                let swapped: String = swapped.into_iter().collect();
                assert!(parse(&swapped, &prefixes).is_err());
            }
        }
    }

    #[test]
    fn parse_accepts_only_the_exact_format() {
        let prefixes = KeyPrefixes::standard();
        let (key, _) = generate(&KeyPrefix::standard(KeyType::Public, Environment::Test)).unwrap();
        assert!(parse(&key, &prefixes).is_ok());
        let random = &key[8..40];
        for bad in [
            String::new(),
            " ".to_string(),
            format!("{key}\n"),
            format!(" {key}"),
            format!("{key} "),
            format!("Bearer {key}"),
            key.to_uppercase(),
            key[..key.len() - 1].to_string(),
            format!("{key}0"),
            key.replacen("pk_test_", "PK_TEST_", 1),
            forge("pk_prod_", random),
            forge("xx_test_", random),
            forge("pk_test", random),
            forge("pk_test__", random),
            forge("pk_test_", &random[..31]),
            forge("pk_test_", &format!("{random}A")),
            forge("pk_test_", &format!("{}_", &random[..31])),
            forge("pk_test_", &format!("{}-", &random[..31])),
            forge("pk_test_", &format!("{}é", &random[..30])),
            forge("pk_test_", &format!("{}\0", &random[..31])),
            forge("", &format!("{random}{random}")),
            "sk_live_".to_string(),
            "a".repeat(1_000_000),
            format!("{}{key}", "sk_live_".repeat(10)),
        ] {
            assert_eq!(
                code(parse(&bad, &prefixes)),
                ErrorCode::InvalidApiKey,
                "{bad:?}"
            );
        }
        assert_eq!(
            parse("sk_live_x", &prefixes).unwrap_err().message(),
            "The API key is malformed"
        );
    }

    #[test]
    fn custom_prefixes_map_to_a_type_and_environment() {
        let prefixes = custom_prefixes();
        let olytix = prefixes.find("olytix-core_key_").unwrap().clone();
        let (key, parsed) = generate(&olytix).unwrap();
        assert!(key.starts_with("olytix-core_key_"));
        assert_eq!(key.len(), 16 + 38);
        assert_eq!(parsed.display_prefix(), &key[..20]);
        let again = parse(&key, &prefixes).unwrap();
        assert_eq!(
            (again.key_type(), again.environment()),
            (KeyType::Secret, Environment::Live)
        );
        let (dp, _) = generate(prefixes.find("dp_live_").unwrap()).unwrap();
        assert_eq!(
            parse(&dp, &prefixes).unwrap().key_type(),
            KeyType::Restricted
        );
        // Without the custom prefix configured the key is unknown.
        assert_eq!(
            code(parse(&key, &KeyPrefixes::standard())),
            ErrorCode::InvalidApiKey
        );
        // Only-custom deployments can drop the standard prefixes.
        let only = KeyPrefixes::none().with_prefix(olytix.clone()).unwrap();
        assert!(parse(&key, &only).is_ok());
        let (sk, _) = generate(&sk_live()).unwrap();
        assert_eq!(code(parse(&sk, &only)), ErrorCode::InvalidApiKey);
    }

    #[test]
    fn custom_prefixes_are_validated() {
        for bad in [
            "",
            "_",
            "dp",
            "dp_live",
            "dp live_",
            "dp.live_",
            "dp_livé_",
            "dp_live_\n",
            &format!("{}_", "a".repeat(32)),
        ] {
            assert_eq!(
                KeyPrefix::new(bad, KeyType::Secret, Environment::Live)
                    .unwrap_err()
                    .code(),
                ErrorCode::InvalidConfig,
                "{bad:?}"
            );
        }
        assert!(KeyPrefix::new(
            &format!("{}_", "a".repeat(31)),
            KeyType::Secret,
            Environment::Live
        )
        .is_ok());
        let dup = KeyPrefixes::standard()
            .with_prefix(KeyPrefix::new("sk_live_", KeyType::Public, Environment::Test).unwrap());
        assert_eq!(code(dup), ErrorCode::InvalidConfig);
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
    fn loading_refuses_bad_records_naming_key_and_field() {
        use serde_json::json;
        for (overrides, message) in [
            (json!({"id": "key abc"}), "keys[0]: id must be"),
            (json!({"id": ""}), "keys[0]: id must be"),
            (
                json!({"hash": "sha256:abc"}),
                "key 'key_abc': hash: must be sha256:",
            ),
            (json!({"hash": "md5:00"}), "key 'key_abc': hash:"),
            (
                json!({"allowed_ips": ["203.0.113.5/24"]}),
                "key 'key_abc': allowed_ips: IP allow-list entry has host bits set",
            ),
            (
                json!({"allowed_ips": ["nope"]}),
                "key 'key_abc': allowed_ips: IP allow-list entry is not",
            ),
            (
                json!({"rate_limit": "0/hour"}),
                "key 'key_abc': rate_limit: rate limit count must be at least 1",
            ),
            (json!({"rate_limit": "lots"}), "key 'key_abc': rate_limit:"),
            (
                json!({"permissions": ["read:"]}),
                "key 'key_abc': permissions: permission resource",
            ),
            (json!({"datasets": [""]}), "key 'key_abc': datasets:"),
            (json!({"datasets": ["a b"]}), "key 'key_abc': datasets:"),
            (json!({"roles": ["x\ny"]}), "key 'key_abc': roles:"),
            (
                json!({"type": "pk", "display_prefix": "pk_live_AbC1", "roles": ["viewer"]}),
                "key 'key_abc': roles: pk keys are read-only",
            ),
            (
                json!({"revoked_at": 5}),
                "key 'key_abc': revoked_at: is set but revoked is false",
            ),
            (
                json!({"rotated_from": "../etc"}),
                "key 'key_abc': rotated_from:",
            ),
            (
                json!({"display_prefix": "sk_live_"}),
                "key 'key_abc': display_prefix:",
            ),
            (
                json!({"display_prefix": "sk_live_A_C1"}),
                "key 'key_abc': display_prefix:",
            ),
            (
                json!({"display_prefix": "skliveAbC1"}),
                "key 'key_abc': display_prefix:",
            ),
            (json!({"name": "a\u{0}b"}), "key 'key_abc': name:"),
            (json!({"name": "x".repeat(201)}), "key 'key_abc': name:"),
        ] {
            let msg = load_err(&record_json(overrides.clone()));
            assert!(msg.starts_with(message), "{overrides}: {msg}");
        }
        // serde-level problems are located but not quoted.
        for (overrides, ..) in [
            (json!({"alowed_ips": ["10.0.0.0/8"]}),),
            (json!({"type": "sk_live"}),),
            (json!({"env": "prod"}),),
            (json!({"expires_at": -1}),),
            (json!({"revoked": "yes"}),),
        ] {
            let msg = load_err(&record_json(overrides.clone()));
            assert!(
                msg.starts_with(
                    "key store: unknown, missing, duplicate or mistyped field at line 1"
                ),
                "{overrides}: {msg}"
            );
            assert!(!msg.contains("alowed") && !msg.contains("prod"));
        }
        assert_eq!(
            load_err(r#"{"version": 2, "keys": []}"#),
            "key store: unsupported version (expected 1)"
        );
        assert!(load_err(r#"{"keys": []}"#).contains("field"));
        assert!(load_err(r#"{"version": 1, "keys": [], "extra": 1}"#).contains("field"));
        assert!(load_err("").contains("unexpected end"));
        assert!(load_err("{\"version\": 1, \"keys\": [}").contains("syntax"));
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
            datasets: vec!["sales".into()],
            allowed_ips: vec!["203.0.113.0/24".into()],
            rate_limit: Some("10/s".into()),
            roles: vec!["viewer".into()],
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
    fn effective_permissions_apply_the_type_ceiling() {
        let record = |key_type: KeyType, permissions: &[&str]| KeyRecord {
            key_type,
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            ..KeyStore::from_json(&record_json(serde_json::json!({})))
                .unwrap()
                .get("key_abc")
                .unwrap()
                .clone()
        };
        let mixed = [
            "read:datasets",
            "write:datasets",
            "read",
            "*",
            "*:datasets",
            "readx:y",
            "delete:*",
        ];
        assert_eq!(record(KeyType::Secret, &[]).effective_permissions(), ["*"]);
        assert_eq!(
            record(KeyType::Secret, &["read:x"]).effective_permissions(),
            ["read:x"]
        );
        assert_eq!(
            record(KeyType::Public, &[]).effective_permissions(),
            ["read:*"]
        );
        assert_eq!(
            record(KeyType::Public, &mixed).effective_permissions(),
            ["read:datasets", "read"]
        );
        assert!(record(KeyType::Public, &["write:x"])
            .effective_permissions()
            .is_empty());
        assert!(record(KeyType::Restricted, &[])
            .effective_permissions()
            .is_empty());
        assert_eq!(
            record(KeyType::Restricted, &mixed).effective_permissions(),
            mixed
        );
    }

    #[test]
    fn key_grants_drive_the_policy_engine() {
        let policy = Policy::from_json(
            r#"{"rules": [
                {"name": "read", "method": "GET", "path": "/v1/datasets/{dataset}", "require": ["read:datasets.{dataset}"]},
                {"name": "write", "method": "PUT", "path": "/v1/datasets/{dataset}", "require": ["update:datasets.{dataset}"]}
            ]}"#,
        )
        .unwrap();
        let store = KeyStore::from_json(&record_json(serde_json::json!({
            "type": "pk", "display_prefix": "pk_live_AbC1",
            "permissions": ["read:datasets", "update:datasets"], "datasets": ["sales"]
        })))
        .unwrap();
        let grant = store.get("key_abc").unwrap().grant();
        assert!(policy.evaluate("GET", "/v1/datasets/sales", &grant).is_ok());
        assert_eq!(
            code(policy.evaluate("PUT", "/v1/datasets/sales", &grant)),
            ErrorCode::InsufficientScope,
            "pk keys are read-only whatever they list"
        );
        assert_eq!(
            code(policy.evaluate("GET", "/v1/datasets/hr", &grant)),
            ErrorCode::AccessDenied
        );
        let editor = KeyStore::from_json(&record_json(serde_json::json!({
            "type": "rk", "display_prefix": "rk_live_AbC1", "roles": ["editor"]
        })))
        .unwrap();
        let grant = editor.get("key_abc").unwrap().grant();
        assert_eq!(grant.roles, ["editor"]);
        assert!(policy.evaluate("PUT", "/v1/datasets/hr", &grant).is_ok());
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
        fn near_miss_keys_never_panic(prefix in "[a-z_-]{0,20}", body in "[0-9A-Za-z_é]{30,40}") {
            let key = forge(&prefix, &body);
            let _ = parse(&key, &custom_prefixes());
            let _ = parse(&format!("{prefix}{body}"), &custom_prefixes());
        }

        #[test]
        fn arbitrary_store_documents_never_panic(s in "\\PC{0,200}") {
            let _ = KeyStore::from_json(&s);
        }

        #[test]
        fn arbitrary_record_fields_never_panic(
            id in "\\PC{0,10}", prefix in "\\PC{0,14}", hash in "\\PC{0,72}",
            ip in "\\PC{0,20}", limit in "\\PC{0,12}", permission in "\\PC{0,16}",
        ) {
            let json = record_json(serde_json::json!({
                "id": id, "display_prefix": prefix, "hash": hash,
                "allowed_ips": [ip], "rate_limit": limit, "permissions": [permission]
            }));
            let _ = KeyStore::from_json(&json);
        }
    }
}

#[cfg(test)]
mod store_prefix_tests {
    use super::*;

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
}
