//! A stored key's record: its fields, what they grant, and the checks a record passes before a
//! store holds it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::format::{
    is_display_prefix, parse_hash, Environment, KeyPrefix, KeyType, DISPLAY_RANDOM_CHARS,
};
use super::invalid_config;
use crate::cidr::Cidr;
use crate::error::AuthError;
use crate::policy::{Grant, Permission};
use crate::ratelimit::RateLimit;

const MAX_ID_LEN: usize = 64;
const MAX_NAME_LEN: usize = 200;
const MAX_LABEL_LEN: usize = 64;
const MAX_ATTRIBUTES: usize = 16;
const MAX_ATTRIBUTE_VALUES: usize = 64;
const MAX_ATTRIBUTE_VALUE_LEN: usize = 128;

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
    /// Permissions this key may never use, whatever it or its roles grant (GoPie's
    /// `denied_operations`: `delete:*`, `write:sensitive_data`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
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
    /// Stored as text such as `1000/hour`, parsed when the store loads; see [`RateLimit`].
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    pub created_at: u64,
    /// The key this one replaced, while both are valid during a rotation.
    #[serde(default)]
    pub rotated_from: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Facts about the key's holder that route rules can bind path captures to, as they bind
    /// JWT claims: `{"org": ["acme"]}` ties the key to `/v1/acme/…` under `"bind": {"org": "org"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl KeyRecord {
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

    /// The permissions this key actually holds, after applying its type's ceiling.
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
            roles: match self.key_type {
                KeyType::Public => Vec::new(),
                KeyType::Secret | KeyType::Restricted => self.roles.clone(),
            },
            datasets: self.datasets.clone(),
            ..Grant::from_scopes(self.effective_permissions().iter().map(String::as_str))
        }
        .with_denied(self.denied.iter().map(String::as_str))
    }

    pub(super) fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A record as a store document spells it, before [`validate`]. The rate limit is still text
/// so that a bad one is refused by `validate`, naming the key and the field in the same order
/// as every other field, rather than by serde with only a line and column.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredRecord {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) key_type: KeyType,
    #[serde(rename = "env")]
    pub(super) environment: Environment,
    pub(super) display_prefix: String,
    pub(super) hash: String,
    #[serde(default)]
    pub(super) permissions: Vec<String>,
    #[serde(default)]
    pub(super) denied: Vec<String>,
    #[serde(default)]
    pub(super) datasets: Vec<String>,
    #[serde(default)]
    pub(super) expires_at: Option<u64>,
    #[serde(default)]
    pub(super) revoked: bool,
    #[serde(default)]
    pub(super) revoked_at: Option<u64>,
    #[serde(default)]
    pub(super) allowed_ips: Vec<String>,
    #[serde(default)]
    pub(super) rate_limit: Option<String>,
    pub(super) created_at: u64,
    #[serde(default)]
    pub(super) rotated_from: Option<String>,
    #[serde(default)]
    pub(super) roles: Vec<String>,
    #[serde(default)]
    pub(super) attributes: BTreeMap<String, Vec<String>>,
}

/// A record that passed [`validate`], with what the store's checks need parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) record: KeyRecord,
    pub(super) digest: [u8; 32],
    pub(super) allowed_ips: Vec<Cidr>,
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

/// Checks every field of a loaded or new record; errors name the key (or its index) and field.
pub(super) fn validate(record: StoredRecord, index: usize) -> Result<Entry, AuthError> {
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
            "must be the key prefix followed by 4 base62 characters (or *)",
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
    for permission in &record.denied {
        permission
            .parse::<Permission>()
            .map_err(|e| fail("denied", e.message()))?;
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
    check_attributes(&record.attributes).map_err(|why| fail("attributes", why))?;
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
    let StoredRecord {
        id,
        name,
        key_type,
        environment,
        display_prefix,
        hash,
        permissions,
        denied,
        datasets,
        expires_at,
        revoked,
        revoked_at,
        allowed_ips: allowed_ip_text,
        rate_limit: _,
        created_at,
        rotated_from,
        roles,
        attributes,
    } = record;
    Ok(Entry {
        record: KeyRecord {
            id,
            name,
            key_type,
            environment,
            display_prefix,
            hash,
            permissions,
            denied,
            datasets,
            expires_at,
            revoked,
            revoked_at,
            allowed_ips: allowed_ip_text,
            rate_limit,
            created_at,
            rotated_from,
            roles,
            attributes,
        },
        digest,
        allowed_ips,
    })
}

/// Attribute names follow route capture names; values are short printable ASCII, so a value
/// compared with a path segment can never smuggle a separator or a control byte.
fn check_attributes(attributes: &BTreeMap<String, Vec<String>>) -> Result<(), &'static str> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err("at most 16 attributes");
    }
    for (name, values) in attributes {
        let name_ok = name.len() <= MAX_LABEL_LEN
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err("names must be a letter or _ followed by letters, digits, _");
        }
        if values.len() > MAX_ATTRIBUTE_VALUES {
            return Err("at most 64 values per attribute");
        }
        let value_ok = |v: &String| {
            !v.is_empty()
                && v.len() <= MAX_ATTRIBUTE_VALUE_LEN
                && v.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
        };
        if !values.iter().all(value_ok) {
            return Err("values must be 1-128 printable ASCII characters other than /");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::fixtures::{code, load_err, record_json};
    use crate::apikey::KeyStore;
    use crate::error::ErrorCode;
    use crate::policy::Policy;
    use proptest::prelude::*;

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
    fn rate_limits_are_parsed_when_the_store_loads() {
        use serde_json::json;
        let store = KeyStore::from_json(&record_json(json!({"rate_limit": "100/min"}))).unwrap();
        assert_eq!(
            store.get("key_abc").unwrap().rate_limit,
            Some(RateLimit::new(100, 60).unwrap())
        );
        assert!(
            store
                .to_json()
                .unwrap()
                .contains(r#""rate_limit": "100/minute""#),
            "stored as text, in the canonical form"
        );
        assert_eq!(
            load_err(&record_json(json!({"rate_limit": "100/fortnight"}))),
            "key 'key_abc': rate_limit: rate limit period has an unknown unit"
        );
        assert!(load_err(&record_json(json!({"rate_limit": 100})))
            .starts_with("key store: unknown, missing, duplicate or mistyped field at line 1"));
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
