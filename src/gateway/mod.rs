//! The request decision shared by every edge: credential extraction, JWT providers, API keys,
//! route policy, rate limits, identity headers and the audit event — one function, so the Envoy
//! filter and the Worker give the same answer for the same request.
//!
//! Sans-IO like the rest of the core: the host passes the request facts and the time, keeps the
//! rate-limit state (through [`RateStore`]), fetches remote key sets when [`Gateway::fetches`] or
//! a decision's `refetch` asks, and hands the bodies back to [`Gateway::on_fetched`].

mod cache;
pub mod config;
pub mod extract;
mod limiter;

use std::net::IpAddr;

use serde::{Serialize, Serializer};
use serde_json::Value;

pub use self::config::GatewayConfig;
use self::config::{JwksSource, KeyStoreSource, ProviderConfig, RemoteSource, SourceConfig};
use self::extract::Shape;
pub use self::limiter::{MemoryRateStore, RateStore};
use crate::apikey::{CheckContext, Environment, KeyPrefix, KeyPrefixes, KeyStore};
use crate::audit::{AuditEvent, CredentialKind, CredentialRef, Timestamp};
use crate::error::{AuthError, ErrorCode};
use crate::jwks::JwkSet;
use crate::oauth::client_auth::{ClientAuth, OAuthClient};
use crate::oauth::introspection::{IntrospectionEndpoint, TokenTypeHint};
use crate::policy::{self, Grant};
use crate::ratelimit::RateLimit;
use crate::token::{Limits, UntrustedToken};
use crate::verify::{self, Verifier};

/// Longest value put into an identity header.
const MAX_HEADER_VALUE: usize = 1024;

/// The facts of one request, as the host sees them.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Path with query string, as received.
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    /// The connection's peer address.
    pub peer: Option<IpAddr>,
    /// Unix milliseconds.
    pub now_ms: u64,
    /// A random draw for audit sampling.
    pub sample: u32,
}

/// What the host must do with the request. Serializes to the JSON the Worker reads (`error` as
/// its code).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Forward upstream (`true`) or answer with `status`, `response_headers` and `body`.
    pub allowed: bool,
    pub status: u16,
    /// The answer's headers; on an allowed request, headers the host adds to the upstream's
    /// response (`X-RateLimit-*` when a limit applied).
    pub response_headers: Vec<(String, String)>,
    pub body: String,
    /// Headers to set on the upstream request (after removing `upstream_remove`).
    pub upstream_set: Vec<(String, String)>,
    /// Headers to remove from the upstream request: the incoming identity headers (a client must
    /// not forge them) and, when configured, the credential — only those the request carries, so
    /// a host makes no call for a header that is not there.
    pub upstream_remove: Vec<String>,
    /// A new request path when a query-parameter credential is stripped.
    pub upstream_path: Option<String>,
    /// The refusal, when refused.
    #[serde(serialize_with = "error_code")]
    pub error: Option<AuthError>,
    /// A fetch id to refresh now (an unknown `kid`: the issuer may have rotated its keys).
    pub refetch: Option<String>,
    /// Which source decided on the credential: a provider's name, `api_keys` or
    /// `introspection`; `None` when none was reached (no or unreadable credential, unknown
    /// issuer). Hosts count decisions per source.
    pub provider: Option<String>,
    /// The audit line for this decision, when sampled (refusals always are).
    pub audit: Option<String>,
    /// The token was accepted from the verified-token cache (for metrics).
    pub cache_hit: bool,
    /// A JWT or introspected token was checked without the cache's help (for metrics: a miss).
    pub cache_miss: bool,
    /// Set on an undecided request: make this introspection call, then call
    /// [`Gateway::on_introspection`] (`allowed` is false and `status` 0 until then).
    pub introspect: Option<Introspect>,
}

/// A document the host fetches for the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetch {
    /// Pass back to [`Gateway::on_fetched`].
    pub id: String,
    pub cluster: Option<String>,
    pub authority: Option<String>,
    pub path: String,
    pub url: Option<String>,
    pub timeout_ms: u64,
    pub refresh_secs: u64,
}

#[derive(Debug)]
struct Provider {
    cfg: ProviderConfig,
    verifier: Verifier,
    /// Unix seconds of the last successful load; `None` = never loaded (inline keys: always).
    loaded_at: Option<u64>,
    /// The JWKS path learned from discovery.
    discovered_path: Option<String>,
    /// SHA-256 of the last JWKS document loaded: the same document again only renews
    /// `loaded_at` and keeps the verified-token cache.
    document: Option<[u8; 32]>,
}

#[derive(Debug)]
struct ApiKeys {
    store: Option<KeyStore>,
    loaded_at: Option<u64>,
    prefixes: KeyPrefixes,
    environments: Vec<Environment>,
    remote: Option<RemoteSource>,
}

/// A configured gateway. One per worker thread / isolate.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    policy: Option<policy::Policy>,
    providers: Vec<Provider>,
    api_keys: Option<ApiKeys>,
    limits: Vec<(Option<String>, RateLimit)>,
    failed_attempts: Option<RateLimit>,
    removed_headers: Vec<String>,
    jwt_cache: cache::CredentialCache<Authenticated>,
    introspection_cache: cache::CredentialCache<Result<Authenticated, AuthError>>,
}

fn config_error(msg: String) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidConfig, msg)
}

impl Gateway {
    /// Builds the runtime from a validated configuration; inline keys and stores are loaded
    /// strictly (any unusable key is a configuration error naming it).
    pub fn new(config: GatewayConfig) -> Result<Gateway, AuthError> {
        let policy = config
            .policy
            .as_ref()
            .map(policy::Policy::new)
            .transpose()?;
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
            let vpolicy = verify::Validation {
                algorithms: p.algorithms.clone(),
                issuers: vec![p.issuer.clone()],
                audiences: p.audiences.clone(),
                leeway: p.leeway,
                typ: p.typ.clone(),
                required_claims: p.required_claims.clone(),
                max_lifetime: p.max_lifetime,
                ..verify::Validation::default()
            };
            providers.push(Provider {
                cfg: p.clone(),
                verifier: Verifier::new(keys, vpolicy),
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
                    let prefix = KeyPrefix::new(&p.prefix, p.key_type, p.env).map_err(|e| {
                        config_error(format!("api_keys.prefixes[{i}]: {}", e.message()))
                    })?;
                    prefixes = prefixes.with_prefix(prefix).map_err(|e| {
                        config_error(format!("api_keys.prefixes[{i}]: {}", e.message()))
                    })?;
                }
                let (store, loaded_at, remote) = match &k.store {
                    KeyStoreSource::Inline(doc) => (
                        Some(KeyStore::from_json(&doc.to_string()).map_err(|e| {
                            config_error(format!("api_keys.store.inline: {}", e.message()))
                        })?),
                        Some(0),
                        None,
                    ),
                    KeyStoreSource::Remote(r) => (None, None, Some(r.clone())),
                };
                Some(ApiKeys {
                    store,
                    loaded_at,
                    prefixes,
                    environments: k.environments.clone(),
                    remote,
                })
            }
        };
        let mut limits = Vec::new();
        for (i, l) in config.rate_limits.iter().enumerate() {
            let limit: RateLimit = l.limit.parse().map_err(|e: AuthError| {
                config_error(format!("rate_limits[{i}].limit: {}", e.message()))
            })?;
            limits.push((l.rule.clone(), limit));
        }
        let failed_attempts = config
            .failed_attempts
            .as_deref()
            .map(|l| l.parse::<RateLimit>())
            .transpose()
            .map_err(|e| config_error(format!("failed_attempts: {}", e.message())))?;
        let mut removed_headers = config.identity_headers.names();
        for p in &config.providers {
            removed_headers.extend(p.claim_headers.values().map(|h| h.to_ascii_lowercase()));
        }
        removed_headers.sort();
        removed_headers.dedup();
        let jwt_cache = cache::CredentialCache::new(config.cache.max_entries);
        let introspection_cache = cache::CredentialCache::new(config.cache.max_entries);
        Ok(Gateway {
            introspection_cache,
            jwt_cache,
            config,
            policy,
            providers,
            api_keys,
            limits,
            failed_attempts,
            removed_headers,
        })
    }

    /// Parses and builds in one step.
    pub fn from_json(json: &str) -> Result<Gateway, AuthError> {
        Gateway::new(GatewayConfig::from_json(json)?)
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The documents the host must fetch now and then every `refresh_secs`.
    pub fn fetches(&self) -> Vec<Fetch> {
        let mut out = Vec::new();
        for p in &self.providers {
            match &p.cfg.jwks {
                JwksSource::Remote(r) => out.push(fetch(
                    format!("jwks:{}", p.cfg.name),
                    r,
                    r.path.clone().unwrap_or_default(),
                )),
                JwksSource::Discovery(r) => match &p.discovered_path {
                    Some(path) => out.push(fetch(format!("jwks:{}", p.cfg.name), r, path.clone())),
                    None => out.push(fetch(
                        format!("discovery:{}", p.cfg.name),
                        r,
                        r.path
                            .clone()
                            .unwrap_or_else(|| "/.well-known/openid-configuration".into()),
                    )),
                },
                JwksSource::Inline(_) => {}
            }
        }
        if let Some(r) = self.api_keys.as_ref().and_then(|k| k.remote.as_ref()) {
            out.push(fetch("keys".into(), r, r.path.clone().unwrap_or_default()));
        }
        out
    }

    /// Feeds a fetched document back. On an error the previous keys stay in use (stale-if-error,
    /// bounded by `max_stale_secs`). A discovery document answers with the JWKS fetch to do next.
    pub fn on_fetched(
        &mut self,
        id: &str,
        status: u16,
        body: &[u8],
        now: u64,
    ) -> Result<Option<Fetch>, AuthError> {
        let bad = |what: &str| {
            AuthError::with_message(ErrorCode::KeysUnavailable, format!("{id}: {what}"))
        };
        if status != 200 {
            return Err(bad("the fetch did not answer 200"));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("the document is not UTF-8"))?;
        if let Some(name) = id.strip_prefix("jwks:") {
            let p = self
                .providers
                .iter_mut()
                .find(|p| p.cfg.name == name)
                .ok_or_else(|| bad("unknown fetch id"))?;
            let digest = cache::key(text);
            if p.document == Some(digest) {
                // A refresh that found the same keys: tokens verified with them stay valid.
                p.loaded_at = Some(now);
                return Ok(None);
            }
            let set = JwkSet::from_json_lenient(text).map_err(|e| bad(e.message()))?;
            if set.is_empty() {
                return Err(bad("the key set has no usable key"));
            }
            p.verifier = Verifier::new(set, p.verifier.validation().clone());
            p.loaded_at = Some(now);
            p.document = Some(digest);
            // Tokens verified with the previous keys must be verified again.
            let issuer = p.cfg.issuer.clone();
            self.jwt_cache
                .retain(|a| a.issuer.as_deref() != Some(issuer.as_str()));
            return Ok(None);
        }
        if let Some(name) = id.strip_prefix("discovery:") {
            let p = self
                .providers
                .iter_mut()
                .find(|p| p.cfg.name == name)
                .ok_or_else(|| bad("unknown fetch id"))?;
            let meta =
                crate::oauth::discovery::ProviderMetadata::parse(status, body, &p.cfg.issuer)
                    .map_err(|e| bad(e.message()))?;
            let path = meta
                .jwks_uri
                .as_deref()
                .and_then(url_path)
                .ok_or_else(|| bad("the discovery document has no usable jwks_uri"))?;
            p.discovered_path = Some(path.clone());
            let JwksSource::Discovery(r) = &p.cfg.jwks else {
                return Err(bad("not a discovery provider"));
            };
            return Ok(Some(fetch(format!("jwks:{name}"), r, path)));
        }
        if id == "keys" {
            let k = self
                .api_keys
                .as_mut()
                .ok_or_else(|| bad("API keys are not configured"))?;
            k.store = Some(KeyStore::from_json(text).map_err(|e| bad(e.message()))?);
            k.loaded_at = Some(now);
            return Ok(None);
        }
        Err(bad("unknown fetch id"))
    }

    /// Decides one request.
    pub fn decide(&self, req: &Request<'_>, limiter: &mut dyn RateStore) -> Decision {
        let now = req.now_ms / 1000;
        let client_ip = extract::client_ip(&self.config.client_ip, req.headers, req.peer);
        let mut ctx = Outcome::new(self, req, client_ip);
        if self.config.cors_preflight && is_preflight(req) {
            return ctx.allow(None, None);
        }
        if let (Some(limit), Some(key)) = (&self.failed_attempts, ctx.ip_key()) {
            let d = limiter::peek(limiter, &key, limit, req.now_ms);
            if let Some(e) = d.error() {
                return ctx.deny_with(e, d.headers());
            }
        }
        match self.authenticate(req, now, client_ip) {
            Ok(Step::Done(auth)) => self.authorize(&mut ctx, auth, limiter),
            Ok(Step::Introspect(call)) => Decision::pending(call),
            Err(r) => self.refuse(&mut ctx, r, limiter),
        }
    }

    /// Finishes a decision that asked for introspection (`Decision::introspect`), given the
    /// endpoint's answer. The answer is cached (bounded by the token's `exp`).
    pub fn on_introspection(
        &self,
        req: &Request<'_>,
        status: u16,
        body: &[u8],
        limiter: &mut dyn RateStore,
    ) -> Decision {
        let now = req.now_ms / 1000;
        let client_ip = extract::client_ip(&self.config.client_ip, req.headers, req.peer);
        let mut ctx = Outcome::new(self, req, client_ip);
        let found = match extract::credential(&self.config.sources, req.headers, req.path) {
            Ok(Some(found)) => found,
            Ok(None) => {
                let missing = AuthError::new(ErrorCode::MissingCredentials);
                return self.refuse(&mut ctx, missing.into(), limiter);
            }
            Err(e) => return self.refuse(&mut ctx, e.into(), limiter),
        };
        match self.introspected(found, status, body, now) {
            Ok(auth) => self.authorize(&mut ctx, Some(auth), limiter),
            Err(e) => self.refuse(&mut ctx, Refusal::by(e, INTROSPECTION), limiter),
        }
    }

    fn authorize(
        &self,
        ctx: &mut Outcome<'_, '_>,
        auth: Option<Authenticated>,
        limiter: &mut dyn RateStore,
    ) -> Decision {
        let req = ctx.req;
        let rule_decision = match (&self.policy, &auth) {
            (Some(p), None) => p.evaluate_anonymous(req.method, req.path),
            (Some(p), Some(a)) => p.evaluate(req.method, req.path, &a.grant),
            (None, None) => Err(AuthError::new(ErrorCode::MissingCredentials)),
            (None, Some(_)) => Ok(policy::RouteMatch {
                rule: None,
                captures: Default::default(),
                dataset: None,
                anonymous: false,
            }),
        };
        let decision = match rule_decision {
            Ok(d) => d,
            Err(e) => return ctx.deny(e, auth.as_ref()),
        };
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            for (key, limit) in self.applicable_limits(a, decision.rule.as_deref()) {
                let d = limiter::consume(limiter, &key, &limit, req.now_ms);
                headers = d
                    .headers()
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v))
                    .collect();
                if let Some(e) = d.error() {
                    return ctx.deny_full(e, auth.as_ref(), headers, None);
                }
            }
        }
        let mut out = ctx.allow(auth.as_ref(), Some(&decision));
        out.response_headers = headers;
        out
    }

    /// A refusal; failed authentications count against the client address.
    fn refuse(
        &self,
        ctx: &mut Outcome<'_, '_>,
        r: Refusal<'_>,
        limiter: &mut dyn RateStore,
    ) -> Decision {
        if r.error.status() == 401 && r.error.code() != ErrorCode::MissingCredentials {
            if let (Some(limit), Some(key)) = (&self.failed_attempts, ctx.ip_key()) {
                limiter::consume(limiter, &key, limit, ctx.req.now_ms);
            }
        }
        let mut d = ctx.deny_full(r.error, None, Vec::new(), r.refetch);
        d.provider = r.provider.map(str::to_owned);
        d
    }

    fn introspected(
        &self,
        found: extract::Found<'_>,
        status: u16,
        body: &[u8],
        now: u64,
    ) -> Result<Authenticated, AuthError> {
        let cfg = self
            .config
            .introspection
            .as_ref()
            .ok_or_else(|| AuthError::new(ErrorCode::MalformedToken))?;
        let cache_key = cache::key(found.value);
        match crate::oauth::introspection::Introspection::parse(status, body, now) {
            Ok(i) => {
                let auth = Authenticated {
                    from_cache: false,
                    expires_at: i.exp.unwrap_or(u64::MAX),
                    kind: CredentialKind::OpaqueToken,
                    provider: INTROSPECTION.to_owned(),
                    id: i
                        .sub
                        .clone()
                        .or_else(|| i.client_id.clone())
                        .unwrap_or_default(),
                    sub: i.sub.clone(),
                    jti: i.jti.clone(),
                    issuer: i.iss.clone(),
                    scopes: i.scopes().map(str::to_owned).collect(),
                    grant: Grant::from_scopes(i.scopes()),
                    own_limit: None,
                    claim_headers: Vec::new(),
                    source: found.source.clone(),
                    strip: self.config.strip_credential,
                };
                self.introspection_cache.insert(
                    cache_key,
                    i.cache_until(now, cfg.cache_secs),
                    Ok(auth.clone()),
                );
                Ok(auth)
            }
            Err(e) if e.code() == ErrorCode::InactiveToken => {
                self.introspection_cache.insert(
                    cache_key,
                    now.saturating_add(cfg.negative_cache_secs),
                    Err(e.clone()),
                );
                Err(e)
            }
            // The endpoint failing is an outage, not a verdict on the token: not cached.
            Err(_) => Err(AuthError::with_message(
                ErrorCode::KeysUnavailable,
                "the introspection endpoint did not answer",
            )),
        }
    }

    fn introspection_call(&self, token: &str, now: u64) -> Result<Step, Refusal<'_>> {
        let Some(cfg) = &self.config.introspection else {
            return Err(AuthError::new(ErrorCode::MalformedToken).into());
        };
        // The token size cap holds for opaque tokens too: never post an oversized value to the
        // endpoint (nor cache it).
        if token.len() > Limits::default().max_token_bytes {
            return Err(Refusal::by(
                AuthError::new(ErrorCode::TokenTooLarge),
                INTROSPECTION,
            ));
        }
        if let Some(cached) = self.introspection_cache.get(&cache::key(token), now) {
            return cached
                .map(|mut a| {
                    a.from_cache = true;
                    Step::Done(Some(a))
                })
                .map_err(|e| Refusal::by(e, INTROSPECTION));
        }
        let secret = cfg.client_secret.clone();
        let auth = if cfg.auth_method == "client_secret_post" {
            ClientAuth::ClientSecretPost {
                client_secret: secret,
            }
        } else {
            ClientAuth::ClientSecretBasic {
                client_secret: secret,
            }
        };
        let path = cfg.endpoint.path.clone().unwrap_or_default();
        let endpoint_url = source_url(&cfg.endpoint, &path);
        let url = endpoint_url.clone().unwrap_or_else(|| {
            format!(
                "https://{}{}",
                cfg.endpoint.authority.as_deref().unwrap_or("introspection"),
                path
            )
        });
        let request = OAuthClient::new(cfg.client_id.clone(), auth)
            .and_then(|client| IntrospectionEndpoint::new(url, client))
            .and_then(|e| e.request(token, Some(TokenTypeHint::AccessToken)))
            .map_err(|e| Refusal::by(e, INTROSPECTION))?;
        Ok(Step::Introspect(Introspect {
            cluster: cfg.endpoint.cluster.clone(),
            authority: cfg.endpoint.authority.clone(),
            url: endpoint_url,
            path,
            timeout_ms: cfg.endpoint.timeout_ms,
            headers: request.headers,
            body: request.body,
        }))
    }

    fn applicable_limits(&self, a: &Authenticated, rule: Option<&str>) -> Vec<(String, RateLimit)> {
        let mut out = Vec::new();
        if let Some(l) = &a.own_limit {
            out.push((format!("key:{}", a.id), *l));
        }
        for (i, (r, l)) in self.limits.iter().enumerate() {
            if r.is_none() || r.as_deref() == rule {
                out.push((format!("rule{i}:{}", a.id), *l));
            }
        }
        out
    }

    /// `Err` says why not, and which source was asked.
    fn authenticate(
        &self,
        req: &Request<'_>,
        now: u64,
        client_ip: Option<IpAddr>,
    ) -> Result<Step, Refusal<'_>> {
        let found = extract::credential(&self.config.sources, req.headers, req.path)?;
        let Some(found) = found else {
            return Ok(Step::Done(None));
        };
        let is_prefix = |v: &str| {
            self.api_keys.as_ref().is_some_and(|k| {
                v.find('_').is_some()
                    && (0..=v.len().min(40))
                        .any(|i| v.is_char_boundary(i) && k.prefixes.find(&v[..i]).is_some())
            })
        };
        match extract::shape(found.value, is_prefix) {
            Shape::Jwt if !self.providers.is_empty() => self
                .authenticate_jwt(found, now)
                .map(|a| Step::Done(Some(a))),
            Shape::ApiKey => self
                .authenticate_key(found, now, client_ip)
                .map(|a| Step::Done(Some(a)))
                .map_err(|e| Refusal::by(e, API_KEYS)),
            _ if self.config.introspection.is_some() => self.introspection_call(found.value, now),
            _ if self.api_keys.is_some() => Err(Refusal::by(
                AuthError::new(ErrorCode::InvalidApiKey),
                API_KEYS,
            )),
            _ => Err(AuthError::new(ErrorCode::MalformedToken).into()),
        }
    }

    fn authenticate_jwt(
        &self,
        found: extract::Found<'_>,
        now: u64,
    ) -> Result<Authenticated, Refusal<'_>> {
        let cache_key = cache::key(found.value);
        if let Some(mut hit) = self.jwt_cache.get(&cache_key, now) {
            hit.source = found.source.clone();
            hit.from_cache = true;
            return Ok(hit);
        }
        let auth = self.verify_jwt(found, now)?;
        let until = auth
            .expires_at
            .min(now.saturating_add(self.config.cache.max_ttl_secs));
        self.jwt_cache.insert(cache_key, until, auth.clone());
        Ok(auth)
    }

    fn verify_jwt(
        &self,
        found: extract::Found<'_>,
        now: u64,
    ) -> Result<Authenticated, Refusal<'_>> {
        let token = found.value;
        let untrusted = UntrustedToken::parse(token, &Limits::default())?;
        let iss = crate::json::parse_object(untrusted.payload(), Default::default())
            .ok()
            .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_owned));
        let provider = match (&iss, self.providers.as_slice()) {
            (Some(iss), ps) => ps.iter().find(|p| &p.cfg.issuer == iss),
            (None, [only]) => Some(only),
            (None, _) => None,
        }
        .ok_or_else(|| AuthError::new(ErrorCode::InvalidIssuer))?;
        if provider.loaded_at.is_none() || self.stale(provider, now) {
            return Err(Refusal {
                refetch: remote_id(provider),
                ..Refusal::by(
                    AuthError::new(ErrorCode::KeysUnavailable),
                    &provider.cfg.name,
                )
            });
        }
        let verified = provider.verifier.verify(token, now).map_err(|e| Refusal {
            refetch: (e.code() == ErrorCode::UnknownKey)
                .then(|| remote_id(provider))
                .flatten(),
            ..Refusal::by(e, &provider.cfg.name)
        })?;
        let strings = |name: &str| -> Vec<String> {
            match verified.claim(name) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
                _ => Vec::new(),
            }
        };
        let scopes: Vec<String> = verified.scopes().into_iter().map(str::to_owned).collect();
        let mut claim_headers = Vec::new();
        for (claim, header) in &provider.cfg.claim_headers {
            if let Some(v) = verified.claim(claim) {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| {
                            x.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => other.to_string(),
                };
                claim_headers.push((header.to_ascii_lowercase(), text));
            }
        }
        let sub = verified.sub().map(str::to_owned);
        Ok(Authenticated {
            from_cache: false,
            expires_at: verified.exp().unwrap_or(now),
            kind: CredentialKind::Jwt,
            id: sub.clone().unwrap_or_default(),
            sub,
            jti: verified.jti().map(str::to_owned),
            issuer: Some(provider.cfg.issuer.clone()),
            provider: provider.cfg.name.clone(),
            grant: Grant {
                roles: strings("roles"),
                datasets: strings("datasets"),
                ..Grant::from_scopes(scopes.iter().map(String::as_str))
            },
            scopes,
            own_limit: None,
            claim_headers,
            source: found.source.clone(),
            strip: self.config.strip_credential || !provider.cfg.forward_token,
        })
    }

    fn authenticate_key(
        &self,
        found: extract::Found<'_>,
        now: u64,
        client_ip: Option<IpAddr>,
    ) -> Result<Authenticated, AuthError> {
        let keys = self
            .api_keys
            .as_ref()
            .ok_or_else(|| AuthError::new(ErrorCode::InvalidApiKey))?;
        let store = match (&keys.store, keys.loaded_at) {
            (Some(s), Some(at))
                if !keys.remote.as_ref().is_some_and(|r| {
                    now.saturating_sub(at) > r.refresh_secs + r.max_stale_secs
                }) =>
            {
                s
            }
            _ => return Err(AuthError::new(ErrorCode::KeysUnavailable)),
        };
        let ctx = CheckContext {
            now,
            client_ip,
            accepted_envs: &keys.environments,
            prefixes: &keys.prefixes,
        };
        let record = store.check(found.value, &ctx)?;
        let grant = record.grant();
        Ok(Authenticated {
            from_cache: false,
            expires_at: record.expires_at.unwrap_or(u64::MAX),
            kind: CredentialKind::ApiKey,
            provider: API_KEYS.to_owned(),
            id: record.id.clone(),
            sub: None,
            jti: None,
            issuer: None,
            scopes: record.effective_permissions(),
            grant,
            own_limit: record.rate_limit,
            claim_headers: Vec::new(),
            source: found.source.clone(),
            strip: self.config.strip_credential,
        })
    }

    fn stale(&self, p: &Provider, now: u64) -> bool {
        match (&p.cfg.jwks, p.loaded_at) {
            (JwksSource::Remote(r) | JwksSource::Discovery(r), Some(at)) => {
                now.saturating_sub(at) > r.refresh_secs + r.max_stale_secs
            }
            _ => false,
        }
    }
}

fn remote_id(p: &Provider) -> Option<String> {
    match p.cfg.jwks {
        JwksSource::Inline(_) => None,
        _ => Some(format!("jwks:{}", p.cfg.name)),
    }
}

fn fetch(id: String, r: &RemoteSource, path: String) -> Fetch {
    Fetch {
        id,
        cluster: r.cluster.clone(),
        authority: r.authority.clone(),
        url: source_url(r, &path),
        path,
        timeout_ms: r.timeout_ms,
        refresh_secs: r.refresh_secs,
    }
}

/// A source's absolute URL for the Worker: its `url`, with `path` appended when the URL has no
/// path of its own — so one source entry can name both an Envoy cluster + path and a URL.
fn source_url(r: &RemoteSource, path: &str) -> Option<String> {
    r.url.as_ref().map(|u| match url_path(u) {
        Some(_) => u.clone(),
        None => format!("{}{}", u.trim_end_matches('/'), path),
    })
}

fn error_code<S: Serializer>(e: &Option<AuthError>, s: S) -> Result<S::Ok, S::Error> {
    e.as_ref().map(|e| e.code().as_str()).serialize(s)
}

/// The path (with query) of an absolute URL, if it has one beyond `/`.
fn url_path(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let i = rest.find('/')?;
    let path = &rest[i..];
    (path.len() > 1).then(|| path.to_owned())
}

fn is_preflight(req: &Request<'_>) -> bool {
    req.method.eq_ignore_ascii_case("OPTIONS")
        && extract::header(req.headers, "origin")
            .ok()
            .flatten()
            .is_some()
        && extract::header(req.headers, "access-control-request-method")
            .ok()
            .flatten()
            .is_some()
}

/// Where authentication got to.
/// The source name of API keys in [`Decision::provider`].
pub const API_KEYS: &str = "api_keys";
/// The source name of introspected tokens in [`Decision::provider`].
pub const INTROSPECTION: &str = "introspection";

/// A failed authentication: the error, a fetch worth making again (an unknown `kid`), and the
/// source that refused, once known.
struct Refusal<'g> {
    error: AuthError,
    refetch: Option<String>,
    provider: Option<&'g str>,
}

impl<'g> Refusal<'g> {
    fn by(error: AuthError, provider: &'g str) -> Refusal<'g> {
        Refusal {
            error,
            refetch: None,
            provider: Some(provider),
        }
    }
}

impl From<AuthError> for Refusal<'_> {
    fn from(error: AuthError) -> Self {
        Refusal {
            error,
            refetch: None,
            provider: None,
        }
    }
}

enum Step {
    /// Decided: a credential passed, or none was presented.
    Done(Option<Authenticated>),
    /// An opaque token: the host must call the introspection endpoint.
    Introspect(Introspect),
}

/// An introspection call for the host to make (RFC 7662 §2.1), then pass the answer to
/// [`Gateway::on_introspection`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspect {
    pub cluster: Option<String>,
    pub authority: Option<String>,
    /// The endpoint's absolute URL (the configured `url`, with `path` appended when it has none).
    pub url: Option<String>,
    pub path: String,
    pub timeout_ms: u64,
    /// Includes the client authentication; never log these.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Decision {
    /// Not decided yet: the host performs `introspect` first.
    fn pending(call: Introspect) -> Decision {
        Decision {
            allowed: false,
            status: 0,
            response_headers: Vec::new(),
            body: String::new(),
            upstream_set: Vec::new(),
            upstream_remove: Vec::new(),
            upstream_path: None,
            error: None,
            refetch: None,
            audit: None,
            cache_hit: false,
            cache_miss: false,
            provider: None,
            introspect: Some(call),
        }
    }
}

/// A credential that passed.
#[derive(Debug, Clone)]
struct Authenticated {
    /// Answered by the verified-token cache.
    from_cache: bool,
    /// The provider name, [`API_KEYS`] or [`INTROSPECTION`] (for metrics).
    provider: String,
    kind: CredentialKind,
    /// Unix seconds after which the credential is no longer valid.
    expires_at: u64,
    /// Key id, or token `sub`: the rate-limit identity.
    id: String,
    sub: Option<String>,
    jti: Option<String>,
    issuer: Option<String>,
    scopes: Vec<String>,
    grant: Grant,
    own_limit: Option<RateLimit>,
    claim_headers: Vec<(String, String)>,
    source: SourceConfig,
    strip: bool,
}

/// Builds decisions for one request.
struct Outcome<'g, 'r> {
    gw: &'g Gateway,
    req: &'r Request<'r>,
    client_ip: Option<IpAddr>,
}

/// The `x-auth-credential` value: the same names as the audit line's `credential_kind`, so an
/// upstream is never told an introspected opaque token was a JWT.
fn credential_kind_name(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::ApiKey => "api_key",
        CredentialKind::Jwt => "jwt",
        CredentialKind::OpaqueToken => "opaque_token",
    }
}

/// Header values never carry control characters, and are bounded.
fn header_value(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_HEADER_VALUE)
        .collect()
}

impl<'g, 'r> Outcome<'g, 'r> {
    fn new(gw: &'g Gateway, req: &'r Request<'r>, client_ip: Option<IpAddr>) -> Self {
        Outcome { gw, req, client_ip }
    }

    /// The identity headers the request carries (header names are matched case-insensitively).
    fn present_identity_headers(&self) -> Vec<String> {
        self.gw
            .removed_headers
            .iter()
            .filter(|name| {
                self.req
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect()
    }

    /// The failed-attempt bucket of the client address.
    fn ip_key(&self) -> Option<String> {
        self.client_ip.map(|ip| format!("fail:{ip}"))
    }

    fn audit(
        &self,
        event: AuditEvent,
        auth: Option<&Authenticated>,
        sampled: bool,
    ) -> Option<String> {
        if !sampled {
            return None;
        }
        let user_agent = extract::header(self.req.headers, "user-agent")
            .ok()
            .flatten()
            .map(str::to_owned);
        let credential = auth.map(|a| match a.kind {
            CredentialKind::ApiKey => CredentialRef::api_key(a.id.clone()),
            kind => CredentialRef::token(kind, a.sub.clone(), a.jti.clone()),
        });
        Some(
            AuditEvent {
                credential,
                client_ip: self.client_ip.map(|ip| ip.to_string()),
                user_agent,
                ..event
            }
            .to_json_line(),
        )
    }

    fn allow(
        &mut self,
        auth: Option<&Authenticated>,
        decision: Option<&policy::RouteMatch>,
    ) -> Decision {
        let h = &self.gw.config.identity_headers;
        let mut set: Vec<(String, String)> = Vec::new();
        fn push(set: &mut Vec<(String, String)>, name: &Option<String>, value: Option<String>) {
            if let (Some(n), Some(v)) = (name, value) {
                set.push((n.to_ascii_lowercase(), header_value(&v)));
            }
        }
        let mut upstream_remove = self.present_identity_headers();
        let mut upstream_path = None;
        if let Some(a) = auth {
            push(&mut set, &h.sub, a.sub.clone());
            push(&mut set, &h.scopes, Some(a.scopes.join(" ")));
            push(
                &mut set,
                &h.key_id,
                (a.kind == CredentialKind::ApiKey).then(|| a.id.clone()),
            );
            push(
                &mut set,
                &h.credential_kind,
                Some(credential_kind_name(a.kind).to_owned()),
            );
            push(&mut set, &h.issuer, a.issuer.clone());
            for (name, value) in &a.claim_headers {
                set.push((name.clone(), header_value(value)));
            }
            if a.strip {
                match &a.source {
                    SourceConfig::Bearer => upstream_remove.push("authorization".into()),
                    SourceConfig::Header { name } => {
                        upstream_remove.push(name.to_ascii_lowercase())
                    }
                    SourceConfig::Query { name } => {
                        upstream_path = Some(extract::without_query_param(self.req.path, name))
                    }
                    SourceConfig::Cookie { .. } => {}
                }
            }
        }
        if let Some(d) = decision {
            push(&mut set, &h.rule, d.rule.clone());
            push(&mut set, &h.dataset, d.dataset.clone());
        }
        let sampled = f64::from(self.req.sample)
            < self.gw.config.audit_sample_rate * f64::from(u32::MAX)
            || self.gw.config.audit_sample_rate >= 1.0;
        let mut event = AuditEvent::allow(
            Timestamp::Millis(self.req.now_ms),
            self.req.method,
            self.req.path,
            200,
        );
        event.route = decision.and_then(|d| d.rule.clone());
        event.dataset = decision.and_then(|d| d.dataset.clone());
        Decision {
            allowed: true,
            status: 200,
            response_headers: Vec::new(),
            body: String::new(),
            upstream_set: set,
            upstream_remove,
            upstream_path,
            error: None,
            refetch: None,
            audit: self.audit(event, auth, sampled),
            provider: auth.map(|a| a.provider.clone()),
            cache_hit: auth.is_some_and(|a| a.from_cache),
            cache_miss: auth.is_some_and(|a| !a.from_cache && a.kind != CredentialKind::ApiKey),
            introspect: None,
        }
    }

    fn deny(&mut self, e: AuthError, auth: Option<&Authenticated>) -> Decision {
        self.deny_full(e, auth, Vec::new(), None)
    }

    fn deny_with(&mut self, e: AuthError, headers: Vec<(&'static str, String)>) -> Decision {
        let headers = headers
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v))
            .collect();
        self.deny_full(e, None, headers, None)
    }

    fn deny_full(
        &mut self,
        e: AuthError,
        auth: Option<&Authenticated>,
        mut headers: Vec<(String, String)>,
        refetch: Option<String>,
    ) -> Decision {
        let e = if e.code() == ErrorCode::KeysUnavailable {
            e.with_status(self.gw.config.keys_unavailable_status)
        } else {
            e
        };
        headers.push(("content-type".into(), "application/json".into()));
        if let Some(v) = e.www_authenticate(&self.gw.config.realm) {
            headers.push(("www-authenticate".into(), v));
        }
        if let Some(secs) = e.retry_after() {
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
            {
                headers.push(("retry-after".into(), secs.to_string()));
            }
        }
        let event = AuditEvent::deny(
            Timestamp::Millis(self.req.now_ms),
            self.req.method,
            self.req.path,
            &e,
        );
        Decision {
            allowed: false,
            status: e.status(),
            response_headers: headers,
            body: e.body(self.gw.config.error_style),
            upstream_set: Vec::new(),
            upstream_remove: self.present_identity_headers(),
            upstream_path: None,
            refetch,
            audit: self.audit(event, auth, true),
            provider: auth.map(|a| a.provider.clone()),
            error: Some(e),
            cache_hit: auth.is_some_and(|a| a.from_cache),
            cache_miss: auth.is_some_and(|a| !a.from_cache && a.kind != CredentialKind::ApiKey),
            introspect: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: an introspected opaque token was announced upstream as
    /// `x-auth-credential: jwt` (found by tests/e2e/introspection_oidc.test.mjs).
    #[test]
    fn an_introspected_token_is_announced_as_opaque_token() {
        let gw = Gateway::from_json(
            r#"{"introspection": {"endpoint": {"cluster": "idp", "path": "/introspect"},
                "client_id": "gw", "client_secret": "s"}}"#,
        )
        .unwrap();
        let headers = [("authorization", "Bearer opaque-123")];
        let req = Request {
            method: "GET",
            path: "/",
            headers: &headers,
            peer: None,
            now_ms: 1_700_000_000_000,
            sample: 0,
        };
        let mut rs = MemoryRateStore::default();
        assert!(gw.decide(&req, &mut rs).introspect.is_some());
        let answer = br#"{"active": true, "client_id": "app", "scope": "read:reports"}"#;
        let d = gw.on_introspection(&req, 200, answer, &mut rs);
        assert!(d.allowed, "{:?}", d.error);
        let kind = d
            .upstream_set
            .iter()
            .find(|(n, _)| n == "x-auth-credential")
            .map(|(_, v)| v.as_str());
        assert_eq!(kind, Some("opaque_token"));
        assert_eq!(credential_kind_name(CredentialKind::Jwt), "jwt");
        assert_eq!(credential_kind_name(CredentialKind::ApiKey), "api_key");
    }

    /// Regression: an opaque token over the 16 KiB token cap was posted to the introspection
    /// endpoint (found by tests/e2e/introspection_oidc.test.mjs).
    #[test]
    fn an_oversized_opaque_token_is_refused_without_introspection() {
        let gw = Gateway::from_json(
            r#"{"introspection": {"endpoint": {"cluster": "idp", "path": "/introspect"},
                "client_id": "gw", "client_secret": "s"}}"#,
        )
        .unwrap();
        let mut rs = MemoryRateStore::default();
        let decide = |token: &str, rs: &mut MemoryRateStore| {
            let value = format!("Bearer {token}");
            let headers = [("authorization", value.as_str())];
            let req = Request {
                method: "GET",
                path: "/",
                headers: &headers,
                peer: None,
                now_ms: 1_700_000_000_000,
                sample: 0,
            };
            gw.decide(&req, rs)
        };
        let big = decide(&"o".repeat(16 * 1024 + 1), &mut rs);
        assert!(big.introspect.is_none());
        assert_eq!(
            (big.status, big.error.map(|e| e.code())),
            (401, Some(ErrorCode::TokenTooLarge))
        );
        assert!(decide(&"o".repeat(16 * 1024), &mut rs).introspect.is_some());
    }
}
