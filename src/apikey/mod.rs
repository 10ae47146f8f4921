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

mod format;
mod record;
mod store;

pub use self::format::{
    generate, hash_key, parse, require_publishable, Environment, ImportedFormat, KeyPrefix,
    KeyPrefixes, KeyType, ParsedApiKey,
};
pub use self::record::KeyRecord;
pub use self::store::{CheckContext, CreatedKey, ImportedKey, KeyStore, NewKey};
use crate::error::{AuthError, ErrorCode};

fn invalid_config(message: impl Into<std::borrow::Cow<'static, str>>) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidConfig, message)
}

/// Keys, stores and request contexts the submodules' tests share.
#[cfg(test)]
mod fixtures {
    use std::fmt;

    use super::format::checksum;
    use super::*;
    use crate::error::ErrorCode;

    pub(super) const NOW: u64 = 1_750_000_000;
    pub(super) const LIVE: &[Environment] = &[Environment::Live];

    pub(super) fn sk_live() -> KeyPrefix {
        KeyPrefix::standard(KeyType::Secret, Environment::Live)
    }

    pub(super) fn custom_prefixes() -> KeyPrefixes {
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

    pub(super) fn ctx<'a>(prefixes: &'a KeyPrefixes, client_ip: Option<&str>) -> CheckContext<'a> {
        CheckContext {
            now: NOW,
            client_ip: client_ip.map(|ip| ip.parse().unwrap()),
            accepted_envs: LIVE,
            prefixes,
        }
    }

    pub(super) fn code<T: fmt::Debug>(r: Result<T, AuthError>) -> ErrorCode {
        r.unwrap_err().code()
    }

    /// A syntactically valid key with a correct checksum for any prefix and random part.
    pub(super) fn forge(prefix: &str, random: &str) -> String {
        let signed = format!("{prefix}{random}");
        let check = checksum(signed.as_bytes());
        signed + &check
    }

    pub(super) fn store_with(spec: NewKey, prefix: &KeyPrefix) -> (KeyStore, CreatedKey) {
        let mut store = KeyStore::new();
        let created = store.create(prefix, spec, NOW - 100).unwrap();
        (store, created)
    }

    pub(super) fn record_json(overrides: serde_json::Value) -> String {
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

    pub(super) fn load_err(json: &str) -> String {
        let e = KeyStore::from_json(json).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
        e.message().to_string()
    }
}
