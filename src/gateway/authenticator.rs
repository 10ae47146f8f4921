//! Credential → identity: which source a presented credential goes to (a JWT provider by its
//! `iss`, the API key store by prefix, introspection for the rest), and what it proves.

use std::net::IpAddr;

use serde_json::Value;

use super::call::Call;
use super::config::{IdentityMember, IntrospectionConfig, SourceConfig};
use super::extract::{self, Shape};
use super::native_check::PendingSignature;
use super::sources::Provider;
use super::{cache, CacheUse, Gateway, Request, API_KEYS, INTROSPECTION};
use crate::apikey::{CheckContext, Environment, KeyStore};
use crate::audit::CredentialKind;
use crate::error::{AuthError, ErrorCode};
use crate::oauth::introspection::Introspection;
use crate::policy::Grant;
use crate::ratelimit::RateLimit;
use crate::revoked_tokens::TokenFacts;
use crate::signature_check::Prepared;
use crate::token::{Limits, UntrustedToken};
use crate::verify::Verified;

/// A credential that passed.
#[derive(Debug, Clone)]
pub(super) struct Authenticated {
    /// How a cache took part: the verified-token cache, the introspection or key lookup answers
    /// (a polled store has none).
    pub cache: CacheUse,
    /// The provider name, [`API_KEYS`] or [`INTROSPECTION`] (for metrics).
    pub provider: String,
    pub kind: CredentialKind,
    /// Unix seconds after which the credential is no longer valid.
    pub expires_at: u64,
    /// Key id, or token `sub`: the rate-limit identity.
    pub id: String,
    pub sub: Option<String>,
    pub jti: Option<String>,
    /// A JWT's `typ` header, for rules that accept only some (`at+jwt`).
    pub typ: Option<String>,
    /// `iat`, for a revocation of a subject's tokens issued before a cut-off.
    pub issued_at: Option<u64>,
    pub issuer: Option<String>,
    /// An API key's environment.
    pub environment: Option<Environment>,
    pub scopes: Vec<String>,
    pub grant: Grant,
    pub own_limit: Option<RateLimit>,
    pub claim_headers: Vec<(String, String)>,
    /// The values of the claims (or, for an API key, the record's attributes) route rules bind
    /// path captures to (`bind`).
    pub bound: Vec<(String, Vec<String>)>,
    pub source: SourceConfig,
    pub strip: bool,
}

/// A failed authentication: the error, the source that refused once known, and whether its
/// keys are worth fetching again (an unknown `kid`: the issuer may have rotated them).
pub(super) struct Refusal<'g> {
    pub error: AuthError,
    pub provider: Option<&'g str>,
    pub refetch: bool,
}

impl<'g> Refusal<'g> {
    pub fn by(error: AuthError, provider: &'g str) -> Refusal<'g> {
        Refusal {
            error,
            provider: Some(provider),
            refetch: false,
        }
    }
}

impl From<AuthError> for Refusal<'_> {
    fn from(error: AuthError) -> Self {
        Refusal {
            error,
            provider: None,
            refetch: false,
        }
    }
}

// A value returned once per request and moved at once: boxing would cost an allocation on
// every decision to save a copy.
#[allow(clippy::large_enum_variant)]
pub(super) enum Step {
    /// Decided: a credential passed, or none was presented.
    Done(Option<Authenticated>),
    /// Not without an answer: an opaque token for the introspection endpoint, or an API key for
    /// the key service.
    Call(Call),
    /// Not without the host's verdict on a JWT's signature (hosts with native crypto).
    Verify(PendingSignature),
}

impl Gateway {
    /// `Err` says why not, and which source was asked.
    pub(super) fn authenticate(
        &self,
        req: &Request<'_>,
        now: u64,
        client_ip: Option<IpAddr>,
    ) -> Result<Step, Refusal<'_>> {
        let found = extract::credential(&self.config.sources, req.headers, req.path)?;
        let Some(found) = found else {
            return Ok(Step::Done(None));
        };
        match self.shape(found.value) {
            Shape::Jwt if !self.sources.providers.is_empty() => self.authenticate_jwt(found, now),
            Shape::ApiKey => self
                .authenticate_key(found, now, client_ip)
                .map_err(|e| Refusal::by(e, API_KEYS)),
            _ if self.introspector.is_some() => self.introspection_call(found.value, now),
            _ if self.sources.api_keys.is_some() => Err(Refusal::by(
                AuthError::new(ErrorCode::InvalidApiKey),
                API_KEYS,
            )),
            _ => Err(AuthError::new(ErrorCode::MalformedToken).into()),
        }
    }

    /// What a presented credential looks like: an API key when it starts with a known prefix.
    pub(super) fn shape(&self, value: &str) -> Shape {
        let is_prefix = |v: &str| {
            self.sources.api_keys.as_ref().is_some_and(|k| {
                v.find('_').is_some()
                    && (0..=v.len().min(40))
                        .any(|i| v.is_char_boundary(i) && k.prefixes.find(&v[..i]).is_some())
            })
        };
        extract::shape(value, is_prefix)
    }

    fn authenticate_jwt(&self, found: extract::Found<'_>, now: u64) -> Result<Step, Refusal<'_>> {
        let cache_key = cache::key(found.value);
        if let Some(mut hit) = self.jwt_cache.get(&cache_key, now) {
            hit.source = found.source.clone();
            hit.cache = CacheUse::Hit;
            return Ok(Step::Done(Some(hit)));
        }
        let token = found.value;
        let untrusted = UntrustedToken::parse(token, &Limits::default())?;
        let (index, provider) = self.jwt_provider(&untrusted, now)?;
        let prepared = provider
            .verifier
            .prepare(token, now, |a| self.native_algorithms.contains(&a))
            .map_err(|e| provider_refusal(provider, e))?;
        match prepared {
            Prepared::Verified(verified) => Ok(Step::Done(Some(
                self.jwt_verified(provider, verified, found, cache_key, now),
            ))),
            Prepared::Check(check) => Ok(Step::Verify(PendingSignature::new(index, check))),
        }
    }

    /// A JWT whose signature the host verified ([`Step::Verify`]): its claims checked, cached.
    pub(super) fn complete_jwt(
        &self,
        found: extract::Found<'_>,
        pending: &PendingSignature,
        verdict: Option<bool>,
        now: u64,
    ) -> Result<Authenticated, Refusal<'_>> {
        let Some(provider) = pending.provider_in(&self.sources.providers, found.value) else {
            return Err(AuthError::new(ErrorCode::InvalidSignature).into());
        };
        let verified = provider
            .verifier
            .complete(pending.check().clone(), verdict, now)
            .map_err(|e| provider_refusal(provider, e))?;
        let cache_key = cache::key(found.value);
        Ok(self.jwt_verified(provider, verified, found, cache_key, now))
    }

    /// The provider a token goes to: by its `iss`, else the only one, else (providers without an
    /// issuer) the one holding its `kid`; with usable keys.
    fn jwt_provider(
        &self,
        untrusted: &UntrustedToken<'_>,
        now: u64,
    ) -> Result<(usize, &Provider), Refusal<'_>> {
        let iss = crate::json::parse_object(untrusted.payload(), Default::default())
            .ok()
            .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_owned));
        let providers = self.sources.providers.as_slice();
        let by_issuer = iss.as_deref().and_then(|iss| {
            providers
                .iter()
                .position(|p| p.cfg.issuer.as_deref() == Some(iss))
        });
        let index = match (by_issuer, &iss, providers) {
            (Some(i), _, _) => Some(i),
            (None, None, [_]) => Some(0),
            // Providers without an issuer are chosen by their keys: the one holding the token's
            // `kid`, else the first.
            _ => {
                let kid = untrusted.header().kid.as_deref();
                let issuerless = || {
                    providers
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.cfg.issuer.is_none())
                };
                issuerless()
                    .find(|(_, p)| {
                        p.verifier
                            .keys()
                            .keys()
                            .iter()
                            .any(|k| k.kid().is_some() && k.kid() == kid)
                    })
                    .or_else(|| issuerless().next())
                    .map(|(i, _)| i)
            }
        }
        .ok_or_else(|| AuthError::new(ErrorCode::InvalidIssuer))?;
        let provider = &providers[index];
        if !provider.has_usable_keys(now) {
            return Err(Refusal {
                refetch: provider.is_remote(),
                ..Refusal::by(
                    AuthError::new(ErrorCode::KeysUnavailable),
                    &provider.cfg.name,
                )
            });
        }
        Ok((index, provider))
    }

    /// The identity a verified JWT proves, put in the verified-token cache under `cache_key`
    /// (the token's [`cache::key`], computed once per decision).
    fn jwt_verified(
        &self,
        provider: &Provider,
        verified: Verified,
        found: extract::Found<'_>,
        cache_key: [u8; 32],
        now: u64,
    ) -> Authenticated {
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
        let claim_headers =
            claim_headers(&provider.cfg.claim_headers, |c| verified.claim(c).cloned());
        let sub = verified.sub().map(str::to_owned);
        let bound = self.bound_values(|c| verified.claim(c).cloned());
        let auth = Authenticated {
            cache: CacheUse::Miss,
            expires_at: verified.exp().unwrap_or(now),
            kind: CredentialKind::Jwt,
            id: sub.clone().unwrap_or_default(),
            sub,
            jti: verified.jti().map(str::to_owned),
            typ: verified.header().typ.clone(),
            issued_at: verified.claim("iat").and_then(Value::as_u64),
            issuer: provider.cfg.issuer.clone(),
            environment: None,
            provider: provider.cfg.name.clone(),
            grant: denied_by_claim(
                Grant {
                    roles: strings("roles"),
                    datasets: strings("datasets"),
                    ..Grant::from_scopes(scopes.iter().map(String::as_str))
                },
                provider
                    .cfg
                    .denied_claim
                    .as_deref()
                    .and_then(|c| verified.claim(c)),
            ),
            scopes,
            own_limit: None,
            claim_headers,
            bound,
            source: found.source.clone(),
            strip: self.config.strip_credential || !provider.cfg.forward_token,
        };
        let until = auth
            .expires_at
            .min(now.saturating_add(self.config.cache.max_ttl_secs));
        self.jwt_cache.insert(cache_key, until, auth.clone());
        auth
    }

    /// An API key against the polled store, or against the key service's cached answer (a
    /// [`Step::Call`] to the service when there is none). A key that fails its format and
    /// checksum is refused without a call.
    fn authenticate_key(
        &self,
        found: extract::Found<'_>,
        now: u64,
        client_ip: Option<IpAddr>,
    ) -> Result<Step, AuthError> {
        let keys = self
            .sources
            .api_keys
            .as_ref()
            .ok_or_else(|| AuthError::new(ErrorCode::InvalidApiKey))?;
        if let Some(lookup) = &keys.lookup {
            let digest = cache::key(found.value);
            if let Some(store) = lookup.cached(&digest, now) {
                return self
                    .checked_key(&store, found, now, client_ip, CacheUse::Hit)
                    .map(|a| Step::Done(Some(a)));
            }
            // Only a well-formed key is worth a call (a hit is parsed by the store's check).
            crate::apikey::parse(found.value, &keys.prefixes)?;
            return Ok(Step::Call(lookup.call(&digest)));
        }
        let store = keys
            .usable_store(now)
            .ok_or_else(|| AuthError::new(ErrorCode::KeysUnavailable))?;
        self.checked_key(store, found, now, client_ip, CacheUse::None)
            .map(|a| Step::Done(Some(a)))
    }

    /// The key service's answer for a presented key (status 0: none), cached, then the key
    /// checked against it.
    pub(super) fn looked_up(
        &self,
        found: extract::Found<'_>,
        status: u16,
        body: &[u8],
        now: u64,
        client_ip: Option<IpAddr>,
    ) -> Result<Authenticated, AuthError> {
        let lookup = self
            .sources
            .api_keys
            .as_ref()
            .and_then(|k| k.lookup.as_ref())
            .ok_or_else(|| AuthError::new(ErrorCode::InvalidApiKey))?;
        let store = lookup.answered(&cache::key(found.value), status, body, now)?;
        self.checked_key(&store, found, now, client_ip, CacheUse::Miss)
    }

    /// The store's checks (`KeyStore::check`, the same for a polled store and a looked-up
    /// record) and the identity the key proves.
    fn checked_key(
        &self,
        store: &KeyStore,
        found: extract::Found<'_>,
        now: u64,
        client_ip: Option<IpAddr>,
        cache: CacheUse,
    ) -> Result<Authenticated, AuthError> {
        let keys = self
            .sources
            .api_keys
            .as_ref()
            .ok_or_else(|| AuthError::new(ErrorCode::InvalidApiKey))?;
        let ctx = CheckContext {
            now,
            client_ip,
            accepted_envs: &keys.environments,
            prefixes: &keys.prefixes,
        };
        let record = store.check(found.value, &ctx)?;
        let grant = record.grant();
        Ok(Authenticated {
            cache,
            expires_at: record.expires_at.unwrap_or(u64::MAX),
            kind: CredentialKind::ApiKey,
            provider: API_KEYS.to_owned(),
            id: record.id.clone(),
            sub: None,
            jti: None,
            typ: None,
            issued_at: None,
            issuer: None,
            environment: Some(record.environment),
            scopes: record.effective_permissions(),
            grant,
            own_limit: record.rate_limit,
            claim_headers: Vec::new(),
            bound: self
                .bound_claims
                .iter()
                .filter_map(|c| Some((c.clone(), record.attributes.get(c)?.clone())))
                .collect(),
            source: found.source.clone(),
            strip: self.config.strip_credential,
        })
    }

    fn introspection_call(&self, token: &str, now: u64) -> Result<Step, Refusal<'_>> {
        let Some(introspector) = &self.introspector else {
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
                    a.cache = CacheUse::Hit;
                    Step::Done(Some(a))
                })
                .map_err(|e| Refusal::by(e, INTROSPECTION));
        }
        introspector
            .call(token)
            .map(Step::Call)
            .map_err(|e| Refusal::by(e, INTROSPECTION))
    }

    /// The values of every claim a route rule binds a capture to: a string, the strings of an
    /// array, or a number's text.
    fn bound_values(&self, get: impl Fn(&str) -> Option<Value>) -> Vec<(String, Vec<String>)> {
        self.bound_claims
            .iter()
            .filter_map(|claim| {
                let values = match get(claim)? {
                    Value::String(s) => vec![s],
                    Value::Array(a) => a
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::String(s) => Some(s),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        })
                        .collect(),
                    Value::Number(n) => vec![n.to_string()],
                    _ => return None,
                };
                Some((claim.clone(), values))
            })
            .collect()
    }

    /// A token or API key on the revoked-tokens list is refused (checked on every request,
    /// cached or not); with a list configured but not loaded, no credential passes.
    pub(super) fn not_revoked(
        &self,
        auth: Option<&Authenticated>,
        now: u64,
    ) -> Result<(), Refusal<'_>> {
        let (Some(a), Some(revocations)) = (auth, &self.sources.revocations) else {
            return Ok(());
        };
        // The source that authenticated `a`, borrowed from the gateway for the refusal.
        let provider = match a.kind {
            CredentialKind::ApiKey => Some(API_KEYS),
            CredentialKind::OpaqueToken => Some(INTROSPECTION),
            _ => self
                .sources
                .providers
                .iter()
                .find(|p| p.cfg.name == a.provider)
                .map(|p| p.cfg.name.as_str()),
        };
        let refusal = |error| Refusal {
            error,
            provider,
            refetch: false,
        };
        let list = revocations
            .usable(now)
            .ok_or_else(|| refusal(AuthError::new(ErrorCode::KeysUnavailable)))?;
        if a.kind == CredentialKind::ApiKey {
            return list.check_api_key(&a.id).map_err(refusal);
        }
        list.check(TokenFacts {
            iss: a.issuer.as_deref(),
            sub: a.sub.as_deref(),
            jti: a.jti.as_deref(),
            iat: a.issued_at,
        })
        .map_err(refusal)
    }

    /// The identity an introspection answer proves, cached (active answers up to the token's
    /// `exp`, inactive ones briefly); an endpoint failure is an outage, not a verdict.
    pub(super) fn introspected(
        &self,
        found: extract::Found<'_>,
        status: u16,
        body: &[u8],
        now: u64,
    ) -> Result<Authenticated, AuthError> {
        let settings = &self
            .introspector
            .as_ref()
            .ok_or_else(|| AuthError::new(ErrorCode::MalformedToken))?
            .settings;
        let cache_key = cache::key(found.value);
        match Introspection::parse(status, body, now).and_then(|i| accepted(settings, i)) {
            Ok(i) => {
                let identity = settings.identity.iter().find_map(|m| match m {
                    IdentityMember::Sub => i.sub.clone(),
                    IdentityMember::Username => i.username.clone(),
                    IdentityMember::ClientId => i.client_id.clone(),
                });
                let member = |name: &str| match name {
                    "sub" => i.sub.as_ref().map(|v| Value::String(v.clone())),
                    "username" => i.username.as_ref().map(|v| Value::String(v.clone())),
                    "client_id" => i.client_id.as_ref().map(|v| Value::String(v.clone())),
                    "scope" => i.scope.as_ref().map(|v| Value::String(v.clone())),
                    "iss" => i.iss.as_ref().map(|v| Value::String(v.clone())),
                    "aud" => Some(Value::from(i.aud.clone())),
                    other => i.extra.get(other).cloned(),
                };
                let headers = claim_headers(&settings.claim_headers, member);
                let bound = self.bound_values(member);
                let auth = Authenticated {
                    cache: CacheUse::Miss,
                    expires_at: i.exp.unwrap_or(u64::MAX),
                    kind: CredentialKind::OpaqueToken,
                    provider: INTROSPECTION.to_owned(),
                    id: identity.clone().unwrap_or_default(),
                    sub: identity,
                    jti: i.jti.clone(),
                    typ: None,
                    issued_at: i.iat,
                    issuer: i.iss.clone(),
                    environment: None,
                    scopes: i.scopes().map(str::to_owned).collect(),
                    grant: Grant::from_scopes(i.scopes()),
                    own_limit: None,
                    claim_headers: headers,
                    bound,
                    source: found.source.clone(),
                    strip: self.config.strip_credential,
                };
                self.introspection_cache.insert(
                    cache_key,
                    i.cache_until(now, settings.cache_secs),
                    Ok(auth.clone()),
                );
                Ok(auth)
            }
            // A verdict on the token: cached briefly, like an inactive one.
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::InactiveToken | ErrorCode::InvalidAudience | ErrorCode::InvalidClaim
                ) =>
            {
                self.introspection_cache.insert(
                    cache_key,
                    now.saturating_add(settings.negative_cache_secs),
                    Err(e.clone()),
                );
                Err(e)
            }
            Err(_) => Err(AuthError::with_message(
                ErrorCode::KeysUnavailable,
                "the introspection endpoint did not answer",
            )),
        }
    }
}

/// A grant with the deny list a token carries: a space-separated string or an array of
/// permissions. Anything else there (a number, a non-string element) denies every rule that
/// requires a permission: what it meant to deny is unknown (fail closed).
fn denied_by_claim(grant: Grant, claim: Option<&Value>) -> Grant {
    match claim {
        None => grant,
        Some(Value::String(s)) => grant.with_denied(s.split_ascii_whitespace()),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            grant.with_denied(a.iter().filter_map(Value::as_str))
        }
        Some(_) => Grant {
            denied_unparsable: true,
            ..grant
        },
    }
}

/// The headers `configured` (claim → header) asks for, from the claims `get` finds: arrays are
/// joined with spaces, other non-strings are JSON.
fn claim_headers(
    configured: &std::collections::BTreeMap<String, String>,
    get: impl Fn(&str) -> Option<Value>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (claim, header) in configured {
        let Some(v) = get(claim) else { continue };
        let text = match v {
            Value::String(s) => s,
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
        out.push((header.to_ascii_lowercase(), text));
    }
    out
}

/// An active answer passes the configured audience and client checks (RFC 7662 §4: a token
/// issued to another client of the server must not be accepted here).
fn accepted(settings: &IntrospectionConfig, i: Introspection) -> Result<Introspection, AuthError> {
    if !settings.audiences.is_empty() && !i.aud.iter().any(|a| settings.audiences.contains(a)) {
        return Err(AuthError::new(ErrorCode::InvalidAudience));
    }
    if !settings.client_ids.is_empty()
        && !i
            .client_id
            .as_ref()
            .is_some_and(|c| settings.client_ids.contains(c))
    {
        return Err(AuthError::with_message(
            ErrorCode::InvalidClaim,
            "the token was issued to a client this API does not accept",
        ));
    }
    Ok(i)
}

/// A refusal by a provider's verifier; an unknown `kid` makes a remote key set worth refetching.
fn provider_refusal(provider: &Provider, e: AuthError) -> Refusal<'_> {
    Refusal {
        refetch: e.code() == ErrorCode::UnknownKey && provider.is_remote(),
        ..Refusal::by(e, &provider.cfg.name)
    }
}
