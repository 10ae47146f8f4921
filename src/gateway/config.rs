//! The gateway configuration: one JSON document read by the Envoy filter and the Worker alike,
//! so both make the same decision for the same request.
//!
//! Unknown fields are refused everywhere: a misspelt `audiences` must not silently turn an
//! audience check off. Errors name the field and the problem, never quote the document.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::catalogue::ErrorEntry;
use crate::alg::Algorithm;
use crate::apikey::{Environment, KeyType};
use crate::error::{AuthError, ErrorCode, ErrorStyle};
use crate::policy::PolicyConfig;
use crate::ratelimit::RateLimit;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// `realm` of `WWW-Authenticate` challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// JSON body style of refusals.
    #[serde(default)]
    pub error_style: ErrorStyle,
    /// A platform's own words per refusal: by stable code, status (`"401"`) or `"*"`.
    #[serde(default)]
    pub errors: BTreeMap<String, ErrorEntry>,
    /// JWT issuers.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// API keys.
    #[serde(default)]
    pub api_keys: Option<ApiKeysConfig>,
    /// Tokens refused although valid by signature and expiry (by `jti`, or by subject before a
    /// cut-off), and API keys by id: `{"inline": <list>}` or `{"remote": <source>}`, polled like
    /// the key store.
    #[serde(default)]
    pub revoked_tokens: Option<KeyStoreSource>,
    /// Where credentials are read from, in order. Default: `Authorization: Bearer` only.
    #[serde(default = "default_sources")]
    pub sources: Vec<SourceConfig>,
    /// Route rules and roles. Absent: every authenticated request passes, anonymous ones do not.
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// Rate limits by rule and credential (in addition to each API key's own limit).
    #[serde(default)]
    pub rate_limits: Vec<RateLimitConfig>,
    /// Failed authentications tolerated per client address (e.g. `20/minute`), brute-force guard.
    #[serde(default)]
    pub failed_attempts: Option<RateLimit>,
    /// How the client address is determined.
    #[serde(default)]
    pub client_ip: ClientIpConfig,
    /// Names of the identity headers sent upstream (incoming copies are always removed).
    #[serde(default)]
    pub identity_headers: IdentityHeaders,
    /// Remove the credential before forwarding.
    #[serde(default)]
    pub strip_credential: bool,
    /// Let CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) through.
    #[serde(default = "yes")]
    pub cors_preflight: bool,
    /// Status when keys were never loaded: 503 (default) or 401.
    #[serde(default = "default_unavailable")]
    pub keys_unavailable_status: u16,
    /// Fraction of decisions written to the audit log (0.0–1.0); refusals are always written.
    #[serde(default = "one")]
    pub audit_sample_rate: f64,
    /// The verified-token cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// RFC 7662 introspection for opaque (non-JWT, non-API-key) tokens.
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
}

/// An introspection endpoint and the credentials this gateway uses to call it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// Where the endpoint is (`cluster` + `authority` + `path`, or `url`).
    pub endpoint: RemoteSource,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub auth_method: ClientAuthMethod,
    /// How long an active answer is reused (never past the token's `exp`).
    #[serde(default = "default_introspection_cache")]
    pub cache_secs: u64,
    /// How long an inactive answer is reused.
    #[serde(default = "default_negative_cache")]
    pub negative_cache_secs: u64,
    /// Which member of the answer names the caller upstream and in audit lines, the first one
    /// present (RFC 7662 makes `sub` optional; many servers answer `username` or only
    /// `client_id`).
    #[serde(default = "default_identity")]
    pub identity: Vec<IdentityMember>,
    /// Member → upstream header, as a provider's `claim_headers`.
    #[serde(default)]
    pub claim_headers: BTreeMap<String, String>,
    /// When not empty, the answer's `aud` must hold one of these. Without it and `client_ids`,
    /// any active token of the server passes, whichever client it was issued to.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// When not empty, the answer's `client_id` must be one of these.
    #[serde(default)]
    pub client_ids: Vec<String>,
}

/// A member of an introspection answer that can name the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMember {
    Sub,
    Username,
    ClientId,
}

fn default_identity() -> Vec<IdentityMember> {
    vec![
        IdentityMember::Sub,
        IdentityMember::Username,
        IdentityMember::ClientId,
    ]
}

/// How the gateway authenticates to the introspection endpoint (RFC 7591 names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

fn default_introspection_cache() -> u64 {
    60
}
fn default_negative_cache() -> u64 {
    10
}

/// Bounds of the verified-token cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Entries kept (about); 0 disables the cache.
    #[serde(default = "default_cache_entries")]
    pub max_entries: usize,
    /// Longest time a verified token is trusted without re-verifying, in seconds.
    #[serde(default = "default_refresh")]
    pub max_ttl_secs: u64,
}

fn default_cache_entries() -> usize {
    10_000
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: default_cache_entries(),
            max_ttl_secs: default_refresh(),
        }
    }
}

fn default_realm() -> String {
    "api".to_owned()
}
fn default_sources() -> Vec<SourceConfig> {
    vec![SourceConfig::Bearer]
}
fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}
fn default_unavailable() -> u16 {
    503
}
fn default_leeway() -> u64 {
    60
}
fn default_refresh() -> u64 {
    300
}
fn default_timeout() -> u64 {
    2000
}
fn default_live() -> Vec<Environment> {
    vec![Environment::Live]
}

/// One JWT issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Used in metrics, logs and fetch ids.
    pub name: String,
    /// Tokens are routed to the provider whose `issuer` equals their `iss`. Absent: a provider
    /// selected by its keys that checks no issuer at all (for platforms whose tokens carry no
    /// `iss`); tokens of any issuer signed by its keys then pass.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Accepted algorithms; empty = what the keys allow.
    #[serde(default)]
    pub algorithms: Vec<Algorithm>,
    pub jwks: JwksSource,
    #[serde(default = "default_leeway")]
    pub leeway: u64,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub required_claims: Vec<String>,
    #[serde(default)]
    pub max_lifetime: Option<u64>,
    /// Claim → upstream header; arrays are joined with spaces, objects are JSON.
    #[serde(default)]
    pub claim_headers: BTreeMap<String, String>,
    /// Keep the token in the upstream request.
    #[serde(default = "yes")]
    pub forward_token: bool,
    /// A claim listing permissions the token may never use (GoPie's `denied_operations`), as a
    /// space-separated string or an array; they beat every scope and role.
    #[serde(default)]
    pub denied_claim: Option<String>,
}

/// Where a provider's keys come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum JwksSource {
    /// A JWKS document in the configuration.
    Inline(Value),
    /// A JWKS fetched from an upstream cluster.
    Remote(RemoteSource),
    /// OpenID discovery at `<issuer>/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery(RemoteSource),
}

/// A document fetched by the host (an Envoy cluster, or a URL for the Worker).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSource {
    /// Envoy cluster name (the Worker uses `url`).
    #[serde(default)]
    pub cluster: Option<String>,
    /// `:authority` of the request.
    #[serde(default)]
    pub authority: Option<String>,
    /// Path of the document; for discovery defaults to `/.well-known/openid-configuration`.
    #[serde(default)]
    pub path: Option<String>,
    /// Absolute URL (Worker).
    #[serde(default)]
    pub url: Option<String>,
    /// Refresh interval in seconds.
    #[serde(default = "default_refresh")]
    pub refresh_secs: u64,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// How long stale keys are kept when refreshes fail (default 24 h).
    #[serde(default = "default_max_stale")]
    pub max_stale_secs: u64,
    /// Largest document accepted, in bytes (defaults by kind: a JWKS 256 KiB, a discovery
    /// document 64 KiB, a key store 64 MiB, a revoked-tokens list 16 MiB). Hosts read no more
    /// than this plus one byte; a larger document is a failed fetch and the last good one stays.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

fn default_max_stale() -> u64 {
    86_400
}

/// API keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysConfig {
    pub store: ApiKeyStore,
    /// Environments this deployment accepts (default: live only).
    #[serde(default = "default_live")]
    pub environments: Vec<Environment>,
    /// Custom prefixes in addition to `sk_`/`pk_`/`rk_` `live_`/`test_`.
    #[serde(default)]
    pub prefixes: Vec<PrefixConfig>,
}

/// Where a document of the gateway's (the revoked-tokens list) comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyStoreSource {
    Inline(Value),
    Remote(RemoteSource),
}

/// Where API keys come from: the whole store (inline, or polled: every proxy holds every key),
/// or one key at a time from a key service when a request presents it (memory bounded by the
/// cache, not by the fleet's number of keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ApiKeyStore {
    Inline(Value),
    Remote(RemoteSource),
    Lookup(KeyLookupConfig),
}

/// A key service asked for one key record by the key's SHA-256, and the cache of its answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLookupConfig {
    /// Envoy cluster name (the Worker uses `url`).
    #[serde(default)]
    pub cluster: Option<String>,
    /// `:authority` of the request.
    #[serde(default)]
    pub authority: Option<String>,
    /// The service's origin (Worker, CLI); `path` is appended.
    #[serde(default)]
    pub url: Option<String>,
    /// The request path with `{hash}`, replaced by the 64 lowercase hex digits of the presented
    /// key's SHA-256 (never the key): `/v1/keys/{hash}`.
    pub path: String,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// How long a found key's record is reused.
    #[serde(default = "default_positive_ttl")]
    pub positive_ttl_secs: u64,
    /// How long "no such key" is reused.
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl_secs: u64,
    /// Answers kept (about; the least recently used go first); 0 asks the service every time.
    #[serde(default = "default_cache_entries")]
    pub max_entries: usize,
}

fn default_positive_ttl() -> u64 {
    60
}
fn default_negative_ttl() -> u64 {
    30
}

/// A custom key prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixConfig {
    pub prefix: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub env: Environment,
    /// Also accept keys the platform issued in its own format (imported into the store with
    /// `tokenwarden keys import`), found by their hash. A standard prefix (`sk_live_`) may be
    /// given again for this.
    #[serde(default)]
    pub imported: Option<ImportedConfig>,
}

/// The length range of an imported key's body (after the prefix), in characters of letters,
/// digits, `_` and `-`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedConfig {
    #[serde(default = "default_imported_min")]
    pub min_length: usize,
    #[serde(default = "default_imported_max")]
    pub max_length: usize,
}

fn default_imported_min() -> usize {
    8
}
fn default_imported_max() -> usize {
    128
}

/// A place a credential may be presented.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// `Authorization: Bearer <credential>`.
    Bearer,
    /// A named header carrying the bare credential (e.g. `x-api-key`).
    Header { name: String },
    /// A cookie.
    Cookie { name: String },
    /// A query parameter (e.g. `api_key`); off unless configured, since URLs end up in logs.
    Query { name: String },
}

/// A rate limit applied after authorization.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Rule name this limit applies to; absent = every rule.
    #[serde(default)]
    pub rule: Option<String>,
    /// `1000/hour`, `100/minute`, ...
    pub limit: RateLimit,
}

/// How the client address is found.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIpConfig {
    /// Read the address from this header instead of the connection (e.g. `cf-connecting-ip`,
    /// or `x-forwarded-for` with `trusted_hops`).
    #[serde(default)]
    pub header: Option<String>,
    /// For `x-forwarded-for`: how many proxies in front of us append to it. The client is the
    /// entry that many places from the right.
    #[serde(default)]
    pub trusted_hops: usize,
}

/// Names of the identity headers; `None` disables one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityHeaders {
    #[serde(default = "h_sub")]
    pub sub: Option<String>,
    #[serde(default = "h_scopes")]
    pub scopes: Option<String>,
    #[serde(default = "h_key_id")]
    pub key_id: Option<String>,
    #[serde(default = "h_kind")]
    pub credential_kind: Option<String>,
    #[serde(default = "h_issuer")]
    pub issuer: Option<String>,
    #[serde(default = "h_rule")]
    pub rule: Option<String>,
    #[serde(default = "h_dataset")]
    pub dataset: Option<String>,
    /// An API key's environment (`live`, `test`): one API can serve both modes, as Stripe-style
    /// platforms do, and the origin learns which.
    #[serde(default = "h_environment")]
    pub environment: Option<String>,
}

fn h_sub() -> Option<String> {
    Some("x-auth-sub".into())
}
fn h_scopes() -> Option<String> {
    Some("x-auth-scopes".into())
}
fn h_key_id() -> Option<String> {
    Some("x-auth-key-id".into())
}
fn h_kind() -> Option<String> {
    Some("x-auth-credential".into())
}
fn h_issuer() -> Option<String> {
    Some("x-auth-issuer".into())
}
fn h_rule() -> Option<String> {
    Some("x-auth-rule".into())
}
fn h_dataset() -> Option<String> {
    Some("x-auth-dataset".into())
}
fn h_environment() -> Option<String> {
    Some("x-auth-env".into())
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            sub: h_sub(),
            scopes: h_scopes(),
            key_id: h_key_id(),
            credential_kind: h_kind(),
            issuer: h_issuer(),
            rule: h_rule(),
            dataset: h_dataset(),
            environment: h_environment(),
        }
    }
}

impl IdentityHeaders {
    /// Every configured name, lower-cased.
    pub fn names(&self) -> Vec<String> {
        [
            &self.sub,
            &self.scopes,
            &self.key_id,
            &self.credential_kind,
            &self.issuer,
            &self.rule,
            &self.dataset,
            &self.environment,
        ]
        .into_iter()
        .flatten()
        .map(|n| n.to_ascii_lowercase())
        .collect()
    }
}

/// The problem in a serde data error, without the offending value: serde quotes values
/// (`invalid type: string "…"`, `unknown variant `…``) and a configuration holds secrets. What
/// follows ", expected" comes from the types, never from the document. An unknown field is
/// named only when it is a near miss of a field that exists (`error_syle` for `error_style`)
/// or shaped like a field name (`audiences` one level too high): any other key may be a secret
/// typed where a field name belongs. The `bool` says whether the problem names the key.
fn data_problem(serde_message: &str) -> (String, bool) {
    let msg = serde_message
        .rsplit_once(" at line ")
        .map_or(serde_message, |(m, _)| m);
    let name = |rest: &str| -> Option<String> {
        let n = rest.split('`').next()?;
        (n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .then(|| n.to_owned())
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let expected: Vec<&str> = rest.split_once("expected ").map_or(Vec::new(), |(_, e)| {
            e.split('`').skip(1).step_by(2).collect()
        });
        return match name(rest) {
            Some(n) => match expected.iter().find(|e| near_miss(&n, e)) {
                Some(e) => (format!("unknown field `{n}` (did you mean `{e}`?)"), true),
                None if field_shaped(&n) => (format!("unknown field `{n}`"), true),
                None => ("unknown field".to_owned(), false),
            },
            None => ("unknown field".to_owned(), false),
        };
    }
    for kind in ["missing field `", "duplicate field `"] {
        if let Some(rest) = msg.strip_prefix(kind) {
            let kind = kind.trim_end_matches(" `");
            return match name(rest) {
                Some(n) => (format!("{kind} `{n}`"), true),
                None => (kind.to_owned(), true),
            };
        }
    }
    let problem = match msg.rsplit_once(", expected ") {
        Some((_, expected)) => format!("expected {expected}"),
        None => "unexpected value".to_owned(),
    };
    (problem, true)
}

/// A key shaped like the configuration's own names (lowercase words joined by `_`), which a
/// secret (digits, capitals, other signs) never is.
fn field_shaped(name: &str) -> bool {
    name.len() <= 32 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Whether `a` is `b` misspelt: at most two edits apart (and not a short word matching anything).
fn near_miss(a: &str, b: &str) -> bool {
    if a.len() < 3 || a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()] <= 2
}

/// A configuration error: its JSON path (from serde_path_to_error) and problem, or where the
/// document stops being JSON.
fn config_json_error(
    json: &str,
    path: Option<&serde_path_to_error::Path>,
    e: serde_json::Error,
) -> AuthError {
    // serde_json reports some type errors (a number where an enum is expected) as syntax
    // errors: only a document that does not parse at all is invalid JSON.
    if (e.is_syntax() || e.is_eof()) && serde_json::from_str::<serde::de::IgnoredAny>(json).is_err()
    {
        return invalid(format!(
            "invalid JSON at line {} column {}",
            e.line(),
            e.column()
        ));
    }
    let (problem, key_shown) = data_problem(&e.to_string());
    let field = path
        .map(|p| shown_path(p, key_shown))
        .filter(|p| !p.is_empty() && p.len() <= 128)
        .unwrap_or_else(|| "configuration".to_owned());
    invalid(format!(
        "{field}: {problem} (line {} column {})",
        e.line(),
        e.column()
    ))
}

/// A path as a message may show it. Map keys come from the document, so a key is shown only
/// when plain (letters, digits, `_`, `-`; at most 64) and otherwise as `?`; an unknown key the
/// problem does not name (it may be a secret) is left out altogether.
fn shown_path(path: &serde_path_to_error::Path, last_key_shown: bool) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let keep = match segments.last() {
        Some(Segment::Map { .. } | Segment::Unknown) if !last_key_shown => segments.len() - 1,
        _ => segments.len(),
    };
    let plain = |k: &str| {
        !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let mut out = String::new();
    for segment in &segments[..keep] {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if plain(key) { key } else { "?" });
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

fn invalid(msg: String) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidConfig, msg)
}

fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl GatewayConfig {
    /// Parses and validates. The error names the field and the problem (`field: problem`), or
    /// the line and column for JSON syntax/type errors.
    pub fn from_json(json: &str) -> Result<GatewayConfig, AuthError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let config: GatewayConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().clone();
            config_json_error(json, Some(&path), e.into_inner())
        })?;
        de.end().map_err(|e| config_json_error(json, None, e))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), AuthError> {
        if self.providers.is_empty() && self.api_keys.is_none() && self.introspection.is_none() {
            return Err(invalid(
                "providers/api_keys/introspection: configure at least one way to authenticate"
                    .into(),
            ));
        }
        if self.sources.is_empty() {
            return Err(invalid(
                "sources: at least one credential source is needed".into(),
            ));
        }
        if !self
            .realm
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(invalid(
                "realm: printable ASCII without quotes or backslashes".into(),
            ));
        }
        if !(self.keys_unavailable_status == 401 || self.keys_unavailable_status == 503) {
            return Err(invalid(
                "keys_unavailable_status: must be 401 or 503".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.audit_sample_rate) {
            return Err(invalid("audit_sample_rate: must be between 0 and 1".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            if p.name.is_empty() || !names.insert(p.name.as_str()) {
                return Err(invalid(format!("providers[{i}].name: empty or used twice")));
            }
            match (&p.issuer, &p.jwks) {
                (Some(iss), _) if iss.is_empty() => {
                    return Err(invalid(format!("providers[{i}].issuer: empty")));
                }
                (None, JwksSource::Discovery(_)) => {
                    return Err(invalid(format!(
                        "providers[{i}].issuer: required for discovery"
                    )));
                }
                _ => {}
            }
            for h in p.claim_headers.values() {
                if !header_name_ok(h) {
                    return Err(invalid(format!(
                        "providers[{i}].claim_headers: invalid header name"
                    )));
                }
            }
            if let JwksSource::Remote(r) | JwksSource::Discovery(r) = &p.jwks {
                r.validate(&format!("providers[{i}].jwks"))?;
            }
        }
        for (i, s) in self.sources.iter().enumerate() {
            if let SourceConfig::Header { name }
            | SourceConfig::Cookie { name }
            | SourceConfig::Query { name } = s
            {
                if !header_name_ok(name) {
                    return Err(invalid(format!("sources[{i}].name: invalid name")));
                }
            }
        }
        if let Some(i) = &self.introspection {
            i.endpoint.validate("introspection.endpoint")?;
            if i.endpoint.path.is_none() && i.endpoint.url.is_none() {
                return Err(invalid("introspection.endpoint.path: required".into()));
            }
            for h in i.claim_headers.values() {
                if !header_name_ok(h) {
                    return Err(invalid(
                        "introspection.claim_headers: invalid header name".into(),
                    ));
                }
            }
            if i.identity.is_empty() {
                return Err(invalid(
                    "introspection.identity: name at least one member".into(),
                ));
            }
            if i.client_id.is_empty() || i.client_secret.is_empty() {
                return Err(invalid(
                    "introspection: client_id and client_secret are required".into(),
                ));
            }
        }
        if let Some(KeyStoreSource::Remote(r)) = &self.revoked_tokens {
            r.validate("revoked_tokens")?;
        }
        if let Some(k) = &self.api_keys {
            match &k.store {
                ApiKeyStore::Remote(r) => r.validate("api_keys.store")?,
                ApiKeyStore::Lookup(l) => l.validate("api_keys.store.lookup")?,
                ApiKeyStore::Inline(_) => {}
            }
            if k.environments.is_empty() {
                return Err(invalid(
                    "api_keys.environments: accept at least one environment".into(),
                ));
            }
        }
        for n in self.identity_headers.names() {
            if !header_name_ok(&n) {
                return Err(invalid("identity_headers: invalid header name".into()));
            }
        }
        if let Some(h) = &self.client_ip.header {
            if !header_name_ok(h) {
                return Err(invalid("client_ip.header: invalid header name".into()));
            }
        }
        Ok(())
    }
}

impl RemoteSource {
    fn validate(&self, field: &str) -> Result<(), AuthError> {
        match (&self.cluster, &self.url) {
            (None, None) => {
                return Err(invalid(format!(
                    "{field}: needs a cluster (Envoy) or a url (Worker)"
                )))
            }
            (_, Some(url)) => crate::oauth::http::require_secure_endpoint(url).map_err(|_| {
                invalid(format!("{field}.url: must be https (or http on loopback)"))
            })?,
            _ => {}
        }
        if self.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            return Err(invalid(format!("{field}.path: must start with /")));
        }
        if self.refresh_secs == 0 || self.timeout_ms == 0 {
            return Err(invalid(format!(
                "{field}: refresh_secs and timeout_ms must be positive"
            )));
        }
        Ok(())
    }
}

impl KeyLookupConfig {
    fn validate(&self, field: &str) -> Result<(), AuthError> {
        let as_source = RemoteSource {
            cluster: self.cluster.clone(),
            authority: self.authority.clone(),
            path: Some(self.path.clone()),
            url: self.url.clone(),
            refresh_secs: default_refresh(),
            timeout_ms: self.timeout_ms,
            max_stale_secs: default_max_stale(),
            max_bytes: None,
        };
        as_source.validate(field)?;
        if self.url.as_deref().is_some_and(|u| {
            u.split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].len() > 1))
                .unwrap_or(false)
        }) {
            return Err(invalid(format!(
                "{field}.url: the service's origin only; the path template goes in path"
            )));
        }
        let template_ok = self.path.matches("{hash}").count() == 1
            && self
                .path
                .replace("{hash}", "")
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'{' | b'}' | b'#'));
        if !template_ok {
            return Err(invalid(format!(
                "{field}.path: must hold {{hash}} once, in printable ASCII without spaces, braces \
                 or #"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod error_message_tests {
    use super::GatewayConfig;

    const P: &str =
        r#""providers":[{"name":"a","issuer":"https://i","jwks":{"inline":{"keys":[]}}}]"#;

    fn msg(json: &str) -> String {
        GatewayConfig::from_json(json)
            .unwrap_err()
            .message()
            .to_owned()
    }

    #[test]
    fn data_errors_name_the_field_path_and_never_the_value() {
        let m = msg(&format!(r#"{{"error_style":"s3cret",{P}}}"#));
        assert!(
            m.starts_with("error_style: expected one of `simple`, `error_list`, `typed`"),
            "{m}"
        );
        assert!(!m.contains("s3cret"), "{m}");
        let m = msg(&format!(r#"{{"realm":["s3cret"],{P}}}"#));
        assert!(m.starts_with("realm: expected a string"), "{m}");
        assert!(!m.contains("s3cret"), "{m}");
        // (`issuer` may be left out since providers without an issuer exist: `jwks` may not.)
        let m = msg(r#"{"providers":[{"name":"a","issuer":"https://i"}]}"#);
        assert!(m.starts_with("providers[0]: missing field `jwks`"), "{m}");
        let m = msg(&format!(r#"{{"error_syle":"typed",{P}}}"#));
        assert!(
            m.starts_with("error_syle: unknown field `error_syle` (did you mean `error_style`?)"),
            "{m}"
        );
        // Regression (fuzzing, gateway_config): a secret typed where a field name belongs was
        // quoted in the path and the problem. Only near misses of real fields are named.
        for secret in [
            "Zx8k2JqP9sLm",
            "fuzz-secret-value_core",
            "4f9a0c3b7e",
            "fuzz-secret-value.gopie.app",
        ] {
            let m = msg(&format!(
                r#"{{"introspection":{{"endpoint":{{"url":"https://a"}},"client_id":"gw","{secret}":1}},{P}}}"#
            ));
            assert!(m.starts_with("introspection: unknown field (line"), "{m}");
            assert!(!m.contains(secret), "{m}");
        }
        let m = msg(
            r#"{"providers":[{"name":"a","issuer":"https://i","jwks":{"inline":{"keys":[]}},"leeway":"s3cret"}]}"#,
        );
        assert!(m.starts_with("providers[0].leeway: expected u64"), "{m}");
        assert!(!m.contains("s3cret"), "{m}");
        let m = msg(
            r#"{"providers":[{"name":"a","issuer":"https://i","jwks":{"inline":{"keys":[]}}},{"name":"b","issuer":"https://j","jwks":{"inline":{"keys":[]}},"algorithms":["ES256", 7]}]}"#,
        );
        assert!(
            m.starts_with("providers[1].algorithms[1]: unexpected value"),
            "{m}"
        );
        let m = msg(&format!(
            "{{\n  \"realm\": \"a\",\n  \"cache\": {{\"max_entries\": -1}},\n  {P}}}"
        ));
        assert!(m.starts_with("cache.max_entries: expected usize"), "{m}");
        let m = msg(&format!(
            r#"{{"client_ip":{{"trusted_hops":1,"header":{{}}}},{P}}}"#
        ));
        assert!(m.starts_with("client_ip.header: expected a string"), "{m}");
        let m = msg(&format!("{{\"x\\ny s3cret\":1,{P}}}"));
        assert!(m.starts_with("configuration: unknown field (line"), "{m}");
        assert!(!m.contains("s3cret") && !m.contains('\n'), "{m}");
    }

    #[test]
    fn syntax_errors_give_the_position() {
        assert_eq!(msg(r#"{"realm": "x","#), "invalid JSON at line 1 column 14");
        assert!(msg(&format!("{{{P}}} trailing")).starts_with("invalid JSON at line 1"));
        assert!(msg("").starts_with("invalid JSON"));
    }
}
