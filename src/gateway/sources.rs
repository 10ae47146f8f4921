//! Where keys come from: JWT providers (inline, remote or discovered JWKS) and the API key store
//! (inline or remote), the fetches the remote ones need, and how long a fetched document stays
//! usable. When to fetch is [`crate::schedule`]'s.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use super::config::{
    ApiKeyStore, GatewayConfig, JwksSource, KeyStoreSource, ProviderConfig, RemoteSource,
};
use super::key_lookup::KeyLookup;
use super::{cache, config_error};
use crate::apikey::{Environment, ImportedFormat, KeyPrefix, KeyPrefixes, KeyStore};
use crate::error::{AuthError, ErrorCode};
use crate::jwks::{JwkSet, MAX_JWKS_BYTES};
use crate::oauth::discovery::ProviderMetadata;
use crate::revoked_tokens::RevokedTokens;
use crate::schedule::Timing;
use crate::verify::{self, Verifier};

/// A remote document, by what it feeds. Its text form (`jwks:<provider>`,
/// `discovery:<provider>`, `keys`) names it in logs, metrics and a host's shared storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceId {
    Jwks(String),
    Discovery(String),
    KeyStore,
    RevokedTokens,
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceId::Jwks(p) => write!(f, "jwks:{p}"),
            SourceId::Discovery(p) => write!(f, "discovery:{p}"),
            SourceId::KeyStore => f.write_str("keys"),
            SourceId::RevokedTokens => f.write_str("revoked_tokens"),
        }
    }
}

impl FromStr for SourceId {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<SourceId, AuthError> {
        if let Some(p) = s.strip_prefix("jwks:") {
            Ok(SourceId::Jwks(p.to_owned()))
        } else if let Some(p) = s.strip_prefix("discovery:") {
            Ok(SourceId::Discovery(p.to_owned()))
        } else if s == "keys" {
            Ok(SourceId::KeyStore)
        } else if s == "revoked_tokens" {
            Ok(SourceId::RevokedTokens)
        } else {
            Err(AuthError::with_message(
                ErrorCode::KeysUnavailable,
                "unknown fetch id",
            ))
        }
    }
}

impl Serialize for SourceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A document the host fetches for the gateway (a GET).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetch {
    /// Pass back with the answer.
    pub id: SourceId,
    pub cluster: Option<String>,
    pub authority: Option<String>,
    pub path: String,
    pub url: Option<String>,
    /// The request headers to send: `accept`, and `if-none-match` or `if-modified-since` once
    /// a document from this place is in use (a `304` answer then keeps it).
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u64,
    /// The largest document accepted: hosts read at most one byte more, and a longer one fails.
    pub max_bytes: u64,
    /// Nothing was ever loaded from this source, so requests that need it are refused until
    /// it is: a host that can hold a request while it fetches may wait for this one.
    pub first: bool,
    #[serde(skip)]
    pub timing: Timing,
}

/// Where a fetch goes: validators are sent back only to the place that gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    cluster: Option<String>,
    authority: Option<String>,
    path: String,
    url: Option<String>,
}

impl Place {
    fn of(f: &Fetch) -> Place {
        Place {
            cluster: f.cluster.clone(),
            authority: f.authority.clone(),
            path: f.path.clone(),
            url: f.url.clone(),
        }
    }
}

/// Longest `ETag` or `Last-Modified` kept: a validator is echoed in a request header, so a
/// source cannot make the gateway send an arbitrary amount.
const MAX_VALIDATOR_LEN: usize = 256;

/// A fetched document's validators (RFC 9110 §8.8): sent back with the next fetch of the same
/// place, so that an unchanged document is answered `304 Not Modified` and not parsed again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    /// A response's `ETag` and `Last-Modified` headers, as received. One that is empty, longer
    /// than 256 bytes or not printable ASCII (a control character would end the request
    /// header it is echoed in) is ignored.
    pub fn new(etag: Option<&str>, last_modified: Option<&str>) -> Validators {
        let fits = |v: &&str| {
            !v.is_empty()
                && v.len() <= MAX_VALIDATOR_LEN
                && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        };
        let keep = |v: Option<&str>| v.map(str::trim).filter(fits).map(str::to_owned);
        Validators {
            etag: keep(etag),
            last_modified: keep(last_modified),
        }
    }

    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    pub fn last_modified(&self) -> Option<&str> {
        self.last_modified.as_deref()
    }

    /// The request header asking for the document only if it changed (a server ignores
    /// `if-modified-since` beside `if-none-match`, so one is enough).
    fn condition(&self) -> Option<(String, String)> {
        match (&self.etag, &self.last_modified) {
            (Some(e), _) => Some(("if-none-match".into(), e.clone())),
            (None, Some(d)) => Some(("if-modified-since".into(), d.clone())),
            (None, None) => None,
        }
    }
}

#[derive(Debug)]
pub(super) struct Provider {
    pub cfg: ProviderConfig,
    pub verifier: Verifier,
    /// Unix seconds of the last successful load; `None` = never loaded (inline keys: always).
    pub loaded_at: Option<u64>,
    /// The JWKS path learned from discovery.
    discovered_path: Option<String>,
    /// SHA-256 of the last JWKS document loaded: the same document again only renews
    /// `loaded_at` and keeps the verified-token cache.
    document: Option<[u8; 32]>,
}

impl Provider {
    fn remote(&self) -> Option<&RemoteSource> {
        match &self.cfg.jwks {
            JwksSource::Remote(r) | JwksSource::Discovery(r) => Some(r),
            JwksSource::Inline(_) => None,
        }
    }

    /// Its keys are fetched (and so may be fetched again on an unknown `kid`).
    pub fn is_remote(&self) -> bool {
        self.remote().is_some()
    }

    /// Keys loaded, and not older than the source allows.
    pub fn has_usable_keys(&self, now: u64) -> bool {
        usable(self.loaded_at, self.remote(), now)
    }
}

#[derive(Debug)]
pub(super) struct ApiKeys {
    pub store: Option<KeyStore>,
    pub loaded_at: Option<u64>,
    pub prefixes: KeyPrefixes,
    pub environments: Vec<Environment>,
    /// Keys asked of a key service one at a time instead of a store held here.
    pub lookup: Option<KeyLookup>,
    remote: Option<RemoteSource>,
}

impl ApiKeys {
    /// The store, if loaded and not older than the source allows.
    pub fn usable_store(&self, now: u64) -> Option<&KeyStore> {
        self.store
            .as_ref()
            .filter(|_| usable(self.loaded_at, self.remote.as_ref(), now))
    }
}

fn usable(loaded_at: Option<u64>, remote: Option<&RemoteSource>, now: u64) -> bool {
    match (loaded_at, remote) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(at), Some(r)) => {
            timing(r).is_usable(at.saturating_mul(1000), now.saturating_mul(1000))
        }
    }
}

fn timing(r: &RemoteSource) -> Timing {
    Timing::from_secs(r.refresh_secs, r.timeout_ms, r.max_stale_secs)
}

/// The revoked-tokens list, inline or polled.
#[derive(Debug)]
pub(super) struct Revocations {
    list: Option<RevokedTokens>,
    loaded_at: Option<u64>,
    remote: Option<RemoteSource>,
}

impl Revocations {
    /// The list, if loaded and not older than the source allows: without it no token passes.
    pub fn usable(&self, now: u64) -> Option<&RevokedTokens> {
        self.list
            .as_ref()
            .filter(|_| usable(self.loaded_at, self.remote.as_ref(), now))
    }
}

/// Every key source of a gateway.
#[derive(Debug)]
pub(super) struct Sources {
    pub providers: Vec<Provider>,
    pub api_keys: Option<ApiKeys>,
    pub revocations: Option<Revocations>,
    /// The validators of each document in use, with the place that gave them (at most one
    /// per source).
    validators: Vec<(SourceId, Place, Validators)>,
}

/// What feeding a document changed.
pub(super) enum Fed {
    /// The keys changed: tokens verified with the provider's previous keys must be verified
    /// again.
    NewKeys { provider: String },
    /// Nothing a cached decision depends on changed.
    Same,
    /// A discovery document named the JWKS: fetch it next.
    Next(Fetch),
}

impl Sources {
    /// Builds the sources; inline keys and stores are loaded strictly (any unusable key is a
    /// configuration error naming it).
    pub fn new(config: &GatewayConfig) -> Result<Sources, AuthError> {
        let mut providers = Vec::new();
        for (i, p) in config.providers.iter().enumerate() {
            let (keys, loaded_at) = match &p.jwks {
                JwksSource::Inline(doc) => (
                    JwkSet::from_json(&doc.to_string()).map_err(|e| {
                        config_error(format!("providers[{i}].jwks.inline: {}", e.message()))
                    })?,
                    Some(0),
                ),
                _ => (JwkSet::default(), None),
            };
            let validation = verify::Validation {
                algorithms: p.algorithms.clone(),
                issuers: p.issuer.iter().cloned().collect(),
                audiences: p.audiences.clone(),
                leeway: p.leeway,
                typ: p.typ.clone(),
                required_claims: p.required_claims.clone(),
                max_lifetime: p.max_lifetime,
                ..verify::Validation::default()
            };
            providers.push(Provider {
                cfg: p.clone(),
                verifier: Verifier::new(keys, validation),
                loaded_at,
                discovered_path: None,
                document: None,
            });
        }
        let api_keys = match &config.api_keys {
            None => None,
            Some(k) => {
                let mut prefixes = KeyPrefixes::standard();
                for (i, p) in k.prefixes.iter().enumerate() {
                    let at = |e: AuthError| {
                        config_error(format!("api_keys.prefixes[{i}]: {}", e.message()))
                    };
                    let mut prefix = KeyPrefix::new(&p.prefix, p.key_type, p.env).map_err(at)?;
                    if let Some(i) = p.imported {
                        let format = ImportedFormat {
                            min_len: i.min_length,
                            max_len: i.max_length,
                        };
                        prefix = prefix.with_imported(format).map_err(at)?;
                    }
                    prefixes = prefixes.with_prefix(prefix).map_err(at)?;
                }
                let (store, loaded_at, remote) = match &k.store {
                    ApiKeyStore::Inline(doc) => (
                        Some(KeyStore::from_json(&doc.to_string()).map_err(|e| {
                            config_error(format!("api_keys.store.inline: {}", e.message()))
                        })?),
                        Some(0),
                        None,
                    ),
                    ApiKeyStore::Remote(r) => (None, None, Some(r.clone())),
                    ApiKeyStore::Lookup(_) => (None, None, None),
                };
                Some(ApiKeys {
                    store,
                    loaded_at,
                    prefixes,
                    environments: k.environments.clone(),
                    lookup: match &k.store {
                        ApiKeyStore::Lookup(l) => Some(KeyLookup::new(l)),
                        _ => None,
                    },
                    remote,
                })
            }
        };
        let revocations = match &config.revoked_tokens {
            None => None,
            Some(KeyStoreSource::Inline(doc)) => Some(Revocations {
                list: Some(RevokedTokens::from_json(&doc.to_string()).map_err(|e| {
                    config_error(format!("revoked_tokens.inline: {}", e.message()))
                })?),
                loaded_at: Some(0),
                remote: None,
            }),
            Some(KeyStoreSource::Remote(r)) => Some(Revocations {
                list: None,
                loaded_at: None,
                remote: Some(r.clone()),
            }),
        };
        Ok(Sources {
            providers,
            api_keys,
            revocations,
            validators: Vec::new(),
        })
    }

    /// The fetch each remote source needs next: a provider's JWKS (its discovery document
    /// first, until that named the JWKS) and the key store.
    pub fn fetches(&self) -> Vec<Fetch> {
        let mut out = Vec::new();
        for p in &self.providers {
            let name = p.cfg.name.clone();
            let first = p.loaded_at.is_none();
            match &p.cfg.jwks {
                JwksSource::Remote(r) => out.push(fetch(
                    SourceId::Jwks(name),
                    r,
                    r.path.clone().unwrap_or_default(),
                    first,
                )),
                JwksSource::Discovery(r) => match &p.discovered_path {
                    Some(path) => out.push(discovered_jwks(name, r, path.clone(), first)),
                    None => {
                        let issuer = p.cfg.issuer.as_deref().unwrap_or_default();
                        out.push(discovery(name, r, issuer, first))
                    }
                },
                JwksSource::Inline(_) => {}
            }
        }
        if let Some(k) = &self.api_keys {
            if let Some(r) = &k.remote {
                let path = r.path.clone().unwrap_or_default();
                out.push(fetch(SourceId::KeyStore, r, path, k.loaded_at.is_none()));
            }
        }
        if let Some(v) = &self.revocations {
            if let Some(r) = &v.remote {
                let path = r.path.clone().unwrap_or_default();
                out.push(fetch(
                    SourceId::RevokedTokens,
                    r,
                    path,
                    v.loaded_at.is_none(),
                ));
            }
        }
        for f in &mut out {
            f.headers.extend(self.condition(f));
        }
        out
    }

    /// The conditional header for `f`, if a document from its place is in use.
    fn condition(&self, f: &Fetch) -> Option<(String, String)> {
        let place = Place::of(f);
        let (_, _, v) = self
            .validators
            .iter()
            .find(|(id, p, _)| *id == f.id && *p == place)?;
        v.condition()
    }

    /// After a document of `id` fetched from `place` was fed: its validators replace any
    /// earlier ones (none kept: the next fetch is unconditional).
    pub fn keep_validators(&mut self, id: &SourceId, place: Option<&Fetch>, v: &Validators) {
        self.validators.retain(|(i, _, _)| i != id);
        if let (Some(f), Some(_)) = (place, v.condition()) {
            self.validators.push((id.clone(), Place::of(f), v.clone()));
        }
    }

    /// A `304 Not Modified`: the document in use is still current, so it is as good as just
    /// loaded, with nothing to parse. Only an answer to a conditional fetch (one this gateway
    /// asked for, with a document in use) can say so; any other `304` is a failure.
    pub fn revalidate(&mut self, id: &SourceId, now: u64) -> Result<(), AuthError> {
        let asked = self
            .fetches()
            .iter()
            .any(|f| f.id == *id && self.condition(f).is_some());
        let loaded_at = match id {
            SourceId::Jwks(name) => self
                .providers
                .iter_mut()
                .find(|p| p.cfg.name == *name)
                .map(|p| &mut p.loaded_at),
            SourceId::KeyStore => self.api_keys.as_mut().map(|k| &mut k.loaded_at),
            SourceId::RevokedTokens => self.revocations.as_mut().map(|v| &mut v.loaded_at),
            SourceId::Discovery(_) => None,
        };
        match loaded_at {
            Some(at @ Some(_)) if asked => {
                *at = Some(now);
                Ok(())
            }
            _ => Err(AuthError::with_message(
                ErrorCode::KeysUnavailable,
                format!("{id}: 304 Not Modified, but no document to keep"),
            )),
        }
    }

    /// Feeds a fetched document. On an error the previous keys stay in use (stale-if-error,
    /// bounded by `max_stale_secs`).
    pub fn feed(&mut self, id: &SourceId, body: &[u8], now: u64) -> Result<Fed, AuthError> {
        let bad = |what: &str| {
            AuthError::with_message(ErrorCode::KeysUnavailable, format!("{id}: {what}"))
        };
        let text = std::str::from_utf8(body).map_err(|_| bad("the document is not UTF-8"))?;
        let provider = |providers: &mut Vec<Provider>, name: &str| {
            let i = providers.iter().position(|p| p.cfg.name == name);
            i.ok_or_else(|| bad("unknown fetch id"))
        };
        match id {
            SourceId::Jwks(name) => {
                let i = provider(&mut self.providers, name)?;
                let p = &mut self.providers[i];
                let digest = cache::key(text);
                if p.document == Some(digest) {
                    // A refresh that found the same keys: tokens verified with them stay valid.
                    p.loaded_at = Some(now);
                    return Ok(Fed::Same);
                }
                let set = JwkSet::from_json_lenient(text).map_err(|e| bad(e.message()))?;
                if set.is_empty() {
                    return Err(bad("the key set has no usable key"));
                }
                p.verifier = Verifier::new(set, p.verifier.validation().clone());
                p.loaded_at = Some(now);
                p.document = Some(digest);
                Ok(Fed::NewKeys {
                    provider: p.cfg.name.clone(),
                })
            }
            SourceId::Discovery(name) => {
                let i = provider(&mut self.providers, name)?;
                let p = &mut self.providers[i];
                let issuer = p.cfg.issuer.as_deref().unwrap_or_default();
                let meta =
                    ProviderMetadata::parse(200, body, issuer).map_err(|e| bad(e.message()))?;
                let path = meta
                    .jwks_uri
                    .as_deref()
                    .and_then(url_path)
                    .ok_or_else(|| bad("the discovery document has no usable jwks_uri"))?;
                p.discovered_path = Some(path);
                // As listed, so it carries a validator if its document is in use already.
                let jwks = SourceId::Jwks(name.clone());
                let next = self.fetches().into_iter().find(|f| f.id == jwks);
                next.map(Fed::Next)
                    .ok_or_else(|| bad("not a discovery provider"))
            }
            SourceId::KeyStore => {
                let k = self
                    .api_keys
                    .as_mut()
                    .ok_or_else(|| bad("API keys are not configured"))?;
                k.store = Some(KeyStore::from_json(text).map_err(|e| bad(e.message()))?);
                k.loaded_at = Some(now);
                Ok(Fed::Same)
            }
            SourceId::RevokedTokens => {
                let v = self
                    .revocations
                    .as_mut()
                    .ok_or_else(|| bad("revoked_tokens is not configured"))?;
                v.list = Some(RevokedTokens::from_json(text).map_err(|e| bad(e.message()))?);
                v.loaded_at = Some(now);
                Ok(Fed::Same)
            }
        }
    }
}

/// A document's size cap: the configured `max_bytes`, never above what its kind can need.
fn max_bytes(id: &SourceId, r: &RemoteSource) -> u64 {
    let (default, ceiling) = match id {
        SourceId::Jwks(_) => (MAX_JWKS_BYTES as u64, MAX_JWKS_BYTES as u64),
        SourceId::Discovery(_) => (MAX_DISCOVERY_BYTES, MAX_DISCOVERY_BYTES),
        SourceId::KeyStore => (64 << 20, u64::MAX),
        SourceId::RevokedTokens => (16 << 20, u64::MAX),
    };
    r.max_bytes.map_or(default, |m| m.min(ceiling))
}

const MAX_DISCOVERY_BYTES: u64 = 64 * 1024;

fn fetch(id: SourceId, r: &RemoteSource, path: String, first: bool) -> Fetch {
    Fetch {
        max_bytes: max_bytes(&id, r),
        id,
        cluster: r.cluster.clone(),
        authority: r.authority.clone(),
        url: source_url(r, &path),
        path,
        headers: vec![("accept".into(), "application/json".into())],
        timeout_ms: r.timeout_ms,
        first,
        timing: timing(r),
    }
}

/// The discovery document of `issuer` (OpenID Connect Discovery §4: the issuer's path, then
/// `/.well-known/openid-configuration`), from the source's cluster (`path` overrides) or `url`:
/// a `url` naming the document is used as written, any other `url` is taken for the issuer's
/// location (with or without its path) and the document's place derived from it.
fn discovery(name: String, r: &RemoteSource, issuer: &str, first: bool) -> Fetch {
    let path = r.path.clone().unwrap_or_else(|| {
        let issuer_path = url_path(issuer).unwrap_or_default();
        format!("{}{WELL_KNOWN}", issuer_path.trim_end_matches('/'))
    });
    let url = r.url.as_ref().map(|u| match url_path(u) {
        Some(p) if p.ends_with(WELL_KNOWN) => u.clone(),
        Some(_) => format!("{}{WELL_KNOWN}", u.trim_end_matches('/')),
        None => format!("{}{path}", u.trim_end_matches('/')),
    });
    Fetch {
        url,
        ..fetch(SourceId::Discovery(name), r, path, first)
    }
}

/// The JWKS a discovery document named: its path on the same server as the document (the
/// cluster, or the `url`'s origin), never another host.
fn discovered_jwks(name: String, r: &RemoteSource, path: String, first: bool) -> Fetch {
    let url = r.url.as_deref().map(|u| format!("{}{path}", origin(u)));
    Fetch {
        url,
        ..fetch(SourceId::Jwks(name), r, path, first)
    }
}

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// `scheme://authority` of an absolute URL.
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(i) => &url[..start + i],
        None => url.trim_end_matches('/'),
    }
}

/// A source's absolute URL for hosts that fetch by URL: its `url`, with `path` appended when
/// the URL has no path of its own — so one source entry can name both an Envoy cluster + path
/// and a URL.
pub(super) fn source_url(r: &RemoteSource, path: &str) -> Option<String> {
    r.url.as_ref().map(|u| match url_path(u) {
        Some(_) => u.clone(),
        None => format!("{}{}", u.trim_end_matches('/'), path),
    })
}

/// Where a fetch or call goes, for log lines: the path on a cluster, or the URL.
pub(super) fn location(cluster: Option<&str>, url: Option<&str>, path: &str) -> String {
    match (cluster, url) {
        (Some(c), _) => format!("{path} from cluster {c}"),
        (None, Some(u)) => u.to_owned(),
        (None, None) => path.to_owned(),
    }
}

/// The path (with query) of an absolute URL, if it has one beyond `/`.
fn url_path(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let i = rest.find('/')?;
    let path = &rest[i..];
    (path.len() > 1).then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_round_trip_through_their_text() {
        for id in [
            SourceId::Jwks("idp".into()),
            SourceId::Discovery("a:b".into()),
            SourceId::KeyStore,
        ] {
            assert_eq!(id.to_string().parse::<SourceId>().unwrap(), id);
        }
        assert!("nope".parse::<SourceId>().is_err());
    }

    #[test]
    fn validators_are_bounded_and_sent_only_to_the_place_that_gave_them() {
        let long = format!("\"{}\"", "a".repeat(254));
        assert_eq!(
            Validators::new(Some(&long), None).etag(),
            Some(long.as_str())
        );
        let longer = format!("\"{}\"", "a".repeat(255));
        assert_eq!(Validators::new(Some(&longer), None).etag(), None);
        for bad in ["\"a\r\nx: y\"", "\"a\u{7f}\"", "\"é\"", " "] {
            assert_eq!(Validators::new(Some(bad), Some(bad)), Validators::default());
        }
        let date = "Tue, 01 Dec 2026 00:00:00 GMT";
        let v = Validators::new(None, Some(date));
        assert_eq!(
            v.condition(),
            Some(("if-modified-since".into(), date.into()))
        );

        let config = GatewayConfig::from_json(
            r#"{"api_keys": {"store": {"remote": {"url": "https://keys.test/store.json"}}}}"#,
        )
        .unwrap();
        let mut sources = Sources::new(&config).unwrap();
        let [keys] = &sources.fetches()[..] else {
            panic!("one fetch")
        };
        let elsewhere = Fetch {
            url: Some("https://other.test/store.json".into()),
            ..keys.clone()
        };
        let etag = Validators::new(Some("\"v1\""), None);
        sources.keep_validators(&SourceId::KeyStore, Some(&elsewhere), &etag);
        assert_eq!(sources.fetches()[0].headers.len(), 1, "only accept");
        sources.keep_validators(&SourceId::KeyStore, Some(keys), &etag);
        let sent = sources.fetches()[0].headers.clone();
        assert_eq!(sent[1], ("if-none-match".into(), "\"v1\"".into()));
    }
}
