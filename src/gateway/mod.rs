//! The request decision shared by every edge: credential extraction, JWT providers, API keys,
//! route policy, rate limits, identity headers and the audit event — one function, so the Envoy
//! filter, the Worker and the CLI give the same answer for the same request.
//!
//! Sans-IO like the rest of the core. Per request the host passes the facts and the time, keeps
//! the rate-limit state (through [`RateStore`]) and carries out the [`Decision`]. For the remote
//! key sources it asks what is due ([`Gateway::due_fetches`], or [`Gateway::fetches`] with a
//! [`SourceState`] it keeps itself), fetches, and hands the answer back
//! ([`Gateway::fetched`] / [`Gateway::on_fetched`]).
//!
//! One role per file, as in Envoy's jwt_authn: [`config`] (the JSON document), [`extract`]
//! (where credentials come from), `sources` (providers, key store, their fetches), `authenticator`
//! (credential → identity), `introspection` (RFC 7662 calls), `key_lookup` (API keys asked of a
//! key service), `call` (the request either makes the host send), `limiter` (rate-limit stores),
//! `cache` (verified credentials) and `response` (the verdict and how it is rendered).

mod authenticator;
mod cache;
mod call;
pub mod catalogue;
pub mod config;
pub mod extract;
mod introspection;
mod key_lookup;
mod limiter;
pub mod metrics;
mod native_check;
mod response;
mod sources;

use std::net::IpAddr;

use self::authenticator::{Authenticated, Refusal, Step};
pub use self::call::{Call, CallOutcome};
use self::catalogue::ErrorCatalogue;
pub use self::config::GatewayConfig;
use self::introspection::Introspector;
pub use self::limiter::{MemoryRateStore, RateStore};
pub use self::native_check::PendingSignature;
use self::response::Answer;
pub use self::response::{unconfigured, CacheUse, Decision, Forward, LocalReply, Report};
use self::sources::{Fed, Sources};
pub use self::sources::{Fetch, SourceId, Validators};
use crate::alg::Algorithm;
use crate::error::{AuthError, ErrorCode};
use crate::policy;
use crate::ratelimit::RateLimit;
pub use crate::schedule::SourceState;
use crate::schedule::{Schedule, Transition};

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

/// The source name of API keys in [`Report::provider`].
pub const API_KEYS: &str = "api_keys";
/// The source name of introspected tokens in [`Report::provider`].
pub const INTROSPECTION: &str = "introspection";
/// What the calls a gateway may ask for are called ([`CallOutcome::purpose`]): hosts that share
/// outage states between threads create them at start.
pub const CALL_PURPOSES: [&str; 2] = [INTROSPECTION, key_lookup::PURPOSE];

/// A kind of host, for what it cannot do with a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Calls Envoy clusters.
    Envoy,
    /// Fetches URLs (a Worker, Node).
    Fetch,
}

/// A configured gateway. One per worker thread / isolate.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    policy: Option<policy::Policy>,
    sources: Sources,
    /// When each remote source is due, for hosts that keep it here (a Worker isolate).
    schedule: Schedule,
    /// The outage states of the calls this gateway's host makes for it ([`Gateway::record_call`]).
    calls: Schedule,
    introspector: Option<Introspector>,
    limits: Vec<(Option<String>, RateLimit)>,
    failed_attempts: Option<RateLimit>,
    removed_headers: Vec<String>,
    /// The claims route rules bind path captures to, read from each credential.
    bound_claims: Vec<String>,
    catalogue: ErrorCatalogue,
    jwt_cache: cache::CredentialCache<Authenticated>,
    introspection_cache: cache::CredentialCache<Result<Authenticated, AuthError>>,
    /// JWT algorithms the host verifies itself ([`Gateway::verify_natively`]); none by default.
    native_algorithms: Vec<Algorithm>,
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
        let sources = Sources::new(&config)?;
        let catalogue = ErrorCatalogue::new(&config.errors)?;
        let mut bound_claims: Vec<String> = policy
            .iter()
            .flat_map(|p| p.bound_claims().map(str::to_owned))
            .collect();
        bound_claims.sort();
        bound_claims.dedup();
        let introspector = config
            .introspection
            .as_ref()
            .map(Introspector::new)
            .transpose()?;
        let limits = config
            .rate_limits
            .iter()
            .map(|l| (l.rule.clone(), l.limit))
            .collect();
        let mut removed_headers = config.identity_headers.names();
        for p in &config.providers {
            removed_headers.extend(p.claim_headers.values().map(|h| h.to_ascii_lowercase()));
        }
        if let Some(i) = &config.introspection {
            removed_headers.extend(i.claim_headers.values().map(|h| h.to_ascii_lowercase()));
        }
        removed_headers.sort();
        removed_headers.dedup();
        Ok(Gateway {
            jwt_cache: cache::CredentialCache::new(config.cache.max_entries),
            introspection_cache: cache::CredentialCache::new(config.cache.max_entries),
            native_algorithms: Vec::new(),
            failed_attempts: config.failed_attempts,
            limits,
            introspector,
            schedule: Schedule::default(),
            calls: Schedule::default(),
            sources,
            policy,
            removed_headers,
            bound_claims,
            catalogue,
            config,
        })
    }

    /// Parses and builds in one step.
    pub fn from_json(json: &str) -> Result<Gateway, AuthError> {
        Gateway::new(GatewayConfig::from_json(json)?)
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// What `host` cannot do with this configuration, one log line each (say them at start).
    pub fn limitations(&self, host: Host) -> Vec<String> {
        let (missing, how) = match host {
            Host::Envoy => (
                "cluster",
                "a url works only where documents are fetched by URL",
            ),
            Host::Fetch => ("url", "a cluster works only in Envoy"),
        };
        let lacks = |cluster: &Option<String>, url: &Option<String>| match host {
            Host::Envoy => cluster.is_none(),
            Host::Fetch => url.is_none(),
        };
        let mut lines: Vec<String> = self
            .sources
            .fetches()
            .iter()
            .filter(|f| lacks(&f.cluster, &f.url))
            .map(|f| {
                format!(
                    "{}: no {missing} ({how}); requests that need this source are refused with \
                     keys_unavailable",
                    f.id
                )
            })
            .collect();
        for p in self.config.providers.iter().filter(|p| p.issuer.is_none()) {
            lines.push(format!(
                "providers {}: no issuer: tokens of any issuer signed by its keys are accepted",
                p.name
            ));
        }
        let lookup = self.config.api_keys.as_ref().and_then(|k| match &k.store {
            config::ApiKeyStore::Lookup(l) => Some(l),
            _ => None,
        });
        if lookup.is_some_and(|l| lacks(&l.cluster, &l.url)) {
            lines.push(format!(
                "api_keys.store.lookup: no {missing} ({how}); API keys are refused with \
                 keys_unavailable"
            ));
        }
        if let Some(i) = &self.config.introspection {
            if lacks(&i.endpoint.cluster, &i.endpoint.url) {
                lines.push(format!(
                    "introspection.endpoint: no {missing} ({how}); opaque tokens are refused \
                     with keys_unavailable"
                ));
            }
        }
        lines
    }

    /// The fetch each remote source needs next, whenever it is due. For hosts that keep the
    /// schedule themselves, one [`SourceState`] per fetch id (Envoy keeps it in shared data).
    pub fn fetches(&self) -> Vec<Fetch> {
        self.sources.fetches()
    }

    /// For hosts that fetch by URL: the fetches due at `now_ms` by this gateway's own
    /// schedule, each leased until its answer is handed to [`Gateway::fetched`]. A source
    /// without a `url` is never due ([`Gateway::limitations`] says so once).
    pub fn due_fetches(&mut self, now_ms: u64) -> Vec<Fetch> {
        let mut fetches = self.sources.fetches();
        fetches.retain(|f| f.url.is_some());
        self.schedule
            .retain(|id| fetches.iter().any(|f| f.id.to_string() == id));
        fetches
            .into_iter()
            .filter(|f| {
                self.schedule
                    .state_mut(&f.id.to_string())
                    .begin(now_ms, &f.timing)
            })
            .collect()
    }

    /// When this gateway's own schedule next needs the host (unix ms), if it has sources.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.schedule.poll_timeout()
    }

    /// An answer to a fetch from [`Gateway::due_fetches`] (status 0: no answer): feeds the
    /// document and schedules the next fetch. Returns the log line the outcome deserves, if any.
    pub fn fetched(
        &mut self,
        id: &str,
        status: u16,
        validators: &Validators,
        body: &[u8],
        now_ms: u64,
    ) -> Option<String> {
        let fetch = self
            .sources
            .fetches()
            .into_iter()
            .find(|f| f.id.to_string() == id)?;
        let result = self.on_fetched(id, status, validators, body, now_ms / 1000);
        let transition = self
            .schedule
            .state_mut(id)
            .finish(now_ms, &fetch.timing, result.is_ok());
        fetch_log_line(&fetch, transition, status, result.err().as_ref())
    }

    /// Where fetch `id` stands in this gateway's schedule (`failures` 0: its last fetch, if any,
    /// succeeded).
    pub fn source_state(&self, id: &str) -> SourceState {
        self.schedule.state(id)
    }

    /// An unknown `kid` (or no keys): fetch `id` ahead of this gateway's own schedule, within
    /// the cooldown. `true` if a fetch is now due.
    pub fn request_refetch(&mut self, id: &str, now_ms: u64) -> bool {
        let Some(f) = self
            .sources
            .fetches()
            .into_iter()
            .find(|f| f.id.to_string() == id)
        else {
            return false;
        };
        self.schedule
            .state_mut(id)
            .request_refetch(now_ms, &f.timing)
    }

    /// Feeds a fetched document back (status 0: no answer) with the response's validators. On
    /// an error the previous keys stay in use (stale-if-error, bounded by `max_stale_secs`). A
    /// `304` to a conditional fetch keeps the document in use as if it was just loaded. A
    /// discovery document answers with the JWKS fetch to do next.
    pub fn on_fetched(
        &mut self,
        id: &str,
        status: u16,
        validators: &Validators,
        body: &[u8],
        now: u64,
    ) -> Result<Option<Fetch>, AuthError> {
        let source: SourceId = id.parse()?;
        match status {
            200 => {}
            304 => return self.sources.revalidate(&source, now).map(|()| None),
            _ => {
                return Err(AuthError::with_message(
                    ErrorCode::KeysUnavailable,
                    format!("{id}: the fetch did not answer 200"),
                ))
            }
        }
        // Before feeding: a discovery document is no longer fetched once it named the JWKS.
        let place = self.sources.fetches().into_iter().find(|f| f.id == source);
        if let Some(max) = place.as_ref().map(|f| f.max_bytes) {
            if body.len() as u64 > max {
                return Err(AuthError::with_message(
                    ErrorCode::KeysUnavailable,
                    format!("{id}: the document is larger than max_bytes ({max})"),
                ));
            }
        }
        let fed = self.sources.feed(&source, body, now)?;
        self.sources
            .keep_validators(&source, place.as_ref(), validators);
        match fed {
            Fed::NewKeys { provider } => {
                // Tokens verified with the previous keys must be verified again.
                self.jwt_cache.retain(|a| a.provider != provider);
                Ok(None)
            }
            Fed::Same => Ok(None),
            Fed::Next(next) => Ok(Some(next)),
        }
    }

    /// Decides one request.
    pub fn decide(&self, req: &Request<'_>, limiter: &mut dyn RateStore) -> Decision {
        let now = req.now_ms / 1000;
        let ctx = self.answer(req);
        if self.config.cors_preflight && is_preflight(req) {
            return ctx.allow(None, None, Vec::new());
        }
        if let (Some(limit), Some(key)) = (&self.failed_attempts, ctx.ip_key()) {
            let d = limiter::peek(limiter, &key, limit, req.now_ms);
            if let Some(e) = d.error() {
                return ctx.refuse(e, None, owned(d.headers()), None, None);
            }
        }
        match self.authenticate(req, now, ctx.client_ip) {
            Ok(Step::Done(auth)) => match self.not_revoked(auth.as_ref(), now) {
                Ok(()) => self.authorize(&ctx, auth, limiter),
                Err(r) => self.refuse(&ctx, r, limiter),
            },
            Ok(Step::Call(call)) => Decision::Call(call),
            Ok(Step::Verify(pending)) => Decision::Verify(pending),
            Err(r) => self.refuse(&ctx, r, limiter),
        }
    }

    /// Lets decisions stop at a JWT signature of these algorithms for the host to verify with its
    /// native crypto ([`Decision::Verify`]). HMAC always stays in the core.
    pub fn verify_natively(&mut self, algorithms: Vec<Algorithm>) {
        self.native_algorithms = algorithms;
    }

    /// Finishes a decision that asked for a call ([`Decision::Call`]), given its answer (status
    /// 0: no answer, or the call could not be made): the introspection endpoint's for an opaque
    /// token, the key service's for an API key. The answer is cached.
    pub fn on_call(
        &self,
        req: &Request<'_>,
        status: u16,
        body: &[u8],
        limiter: &mut dyn RateStore,
    ) -> Decision {
        let now = req.now_ms / 1000;
        let ctx = self.answer(req);
        let found = match self.presented(req) {
            Ok(found) => found,
            Err(r) => return self.refuse(&ctx, r, limiter),
        };
        let looked_up = self
            .sources
            .api_keys
            .as_ref()
            .is_some_and(|k| k.lookup.is_some())
            && self.shape(found.value) == extract::Shape::ApiKey;
        let answered = if looked_up {
            self.looked_up(found, status, body, now, ctx.client_ip)
                .map_err(|e| Refusal::by(e, API_KEYS))
        } else {
            self.introspected(found, status, body, now)
                .map_err(|e| Refusal::by(e, INTROSPECTION))
        };
        let outcome = CallOutcome {
            purpose: if looked_up {
                key_lookup::PURPOSE
            } else {
                INTROSPECTION
            }
            .to_owned(),
            location: self.call_location(looked_up),
            failed: match &answered {
                Err(r) if r.error.code() == ErrorCode::KeysUnavailable => {
                    Some(failure(status, &r.error))
                }
                _ => None,
            },
        };
        self.conclude(&ctx, answered, now, limiter)
            .with_call(outcome)
    }

    /// The credential of a request whose decision resumes (after a call or a signature check),
    /// read again from the request; refused when there is none.
    fn presented<'a>(&'a self, req: &'a Request<'a>) -> Result<extract::Found<'a>, Refusal<'a>> {
        match extract::credential(&self.config.sources, req.headers, req.path) {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(AuthError::new(ErrorCode::MissingCredentials).into()),
            Err(e) => Err(e.into()),
        }
    }

    /// A resumed decision's end: an authenticated credential through revocation and the route,
    /// or its refusal.
    fn conclude(
        &self,
        ctx: &Answer<'_, '_>,
        answered: Result<Authenticated, Refusal<'_>>,
        now: u64,
        limiter: &mut dyn RateStore,
    ) -> Decision {
        match answered {
            Ok(auth) => match self.not_revoked(Some(&auth), now) {
                Ok(()) => self.authorize(ctx, Some(auth), limiter),
                Err(r) => self.refuse(ctx, r, limiter),
            },
            Err(r) => self.refuse(ctx, r, limiter),
        }
    }

    /// Where this gateway's key lookup (`looked_up`) or introspection calls go, for log lines.
    fn call_location(&self, looked_up: bool) -> String {
        let lookup = self
            .sources
            .api_keys
            .as_ref()
            .and_then(|k| k.lookup.as_ref());
        match (looked_up, lookup, &self.introspector) {
            (true, Some(l), _) => l.location(),
            (false, _, Some(i)) => i.location(),
            _ => String::new(),
        }
    }

    /// Counts a call's outcome in this gateway's own outage states (hosts whose gateway is
    /// not shared: the Worker's isolate); the log line it deserves, if any.
    pub fn record_call(&mut self, outcome: &CallOutcome) -> Option<String> {
        outcome.record(self.calls.state_mut(&outcome.purpose))
    }

    fn answer<'r>(&self, req: &'r Request<'r>) -> Answer<'_, 'r> {
        Answer {
            gw: self,
            req,
            client_ip: extract::client_ip(&self.config.client_ip, req.headers, req.peer),
        }
    }

    fn authorize(
        &self,
        ctx: &Answer<'_, '_>,
        auth: Option<Authenticated>,
        limiter: &mut dyn RateStore,
    ) -> Decision {
        let req = ctx.req;
        let route = match (&self.policy, &auth) {
            (Some(p), None) => p.evaluate_anonymous(req.method, req.path),
            (Some(p), Some(a)) => p.evaluate_for(req.method, req.path, &a.grant, |demands, c| {
                credential_fits_route(demands, a, c)
            }),
            (None, None) => Err(AuthError::new(ErrorCode::MissingCredentials)),
            (None, Some(_)) => Ok(policy::RouteMatch {
                rule: None,
                captures: Default::default(),
                dataset: None,
                anonymous: false,
            }),
        };
        let route = match route {
            Ok(d) => d,
            Err(e) => return ctx.deny(e, auth.as_ref()),
        };
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            for (key, limit) in self.applicable_limits(a, route.rule.as_deref()) {
                let d = limiter::consume(limiter, &key, &limit, req.now_ms);
                headers = owned(d.headers());
                if let Some(e) = d.error() {
                    return ctx.refuse(e, auth.as_ref(), headers, None, None);
                }
            }
        }
        ctx.allow(auth.as_ref(), Some(&route), headers)
    }

    /// A refusal; failed authentications count against the client address.
    fn refuse(
        &self,
        ctx: &Answer<'_, '_>,
        r: Refusal<'_>,
        limiter: &mut dyn RateStore,
    ) -> Decision {
        if r.error.status() == 401 && r.error.code() != ErrorCode::MissingCredentials {
            if let (Some(limit), Some(key)) = (&self.failed_attempts, ctx.ip_key()) {
                limiter::consume(limiter, &key, limit, ctx.req.now_ms);
            }
        }
        let refetch = r
            .provider
            .filter(|_| r.refetch)
            .map(|name| SourceId::Jwks(name.to_owned()));
        ctx.refuse(r.error, None, Vec::new(), r.provider, refetch)
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
}

/// A rule's `credentials` (which kinds it accepts), `typ` (which JWTs) and `bind` (path
/// captures that must equal a claim of the credential: the tenant in the path is its own).
fn credential_fits_route(
    demands: policy::CredentialRules<'_>,
    a: &Authenticated,
    captures: &policy::Captures,
) -> Result<(), AuthError> {
    use crate::audit::CredentialKind;
    let rule = demands.rule;
    let accepts = |k: &String| match (k.as_str(), a.kind) {
        ("api_key", CredentialKind::ApiKey)
        | ("jwt", CredentialKind::Jwt)
        | ("opaque_token", CredentialKind::OpaqueToken) => true,
        (k, CredentialKind::Jwt) => k.strip_prefix("jwt:") == Some(a.provider.as_str()),
        _ => false,
    };
    if !demands.kinds.is_empty() && !demands.kinds.iter().any(accepts) {
        return Err(AuthError::with_message(
            ErrorCode::AccessDenied,
            format!("rule '{rule}' does not accept this kind of credential"),
        ));
    }
    if a.kind == CredentialKind::Jwt && !demands.typ.is_empty() {
        let typ_ok = a.typ.as_deref().is_some_and(|t| {
            demands
                .typ
                .iter()
                .any(|want| crate::verify::media_type_eq(t, want))
        });
        if !typ_ok {
            return Err(AuthError::with_message(
                ErrorCode::InvalidTokenType,
                format!("rule '{rule}' does not accept a token of this typ"),
            ));
        }
    }
    for (capture, claim) in demands.bind {
        let wanted = captures.get(capture);
        let held = a
            .bound
            .iter()
            .find(|(c, _)| c == claim)
            .is_some_and(|(_, values)| wanted.is_some_and(|w| values.contains(w)));
        if !held {
            return Err(AuthError::with_message(
                ErrorCode::AccessDenied,
                format!("rule '{rule}': the credential is not for this {capture}"),
            ));
        }
    }
    Ok(())
}

/// The log line a fetch's outcome deserves: once when an outage starts, once when it ends.
pub fn fetch_log_line(
    fetch: &Fetch,
    transition: Transition,
    status: u16,
    error: Option<&AuthError>,
) -> Option<String> {
    let why = error.map(|e| failure(status, e)).unwrap_or_default();
    let location = sources::location(fetch.cluster.as_deref(), fetch.url.as_deref(), &fetch.path);
    transition.log_line(&fetch.id.to_string(), &location, &why)
}

/// Why an answer (status 0: none) was refused, for an outage's log line: the status, or for a
/// usable status the core's message (never the answer's content).
fn failure(status: u16, error: &AuthError) -> String {
    match status {
        0 => "no answer (timeout, connection failure, or the call was not sent)".into(),
        200 | 304 => error.message().to_owned(),
        s => format!("HTTP {s}"),
    }
}

fn owned(headers: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
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
        assert!(matches!(gw.decide(&req, &mut rs), Decision::Call(_)));
        let answer = br#"{"active": true, "client_id": "app", "scope": "read:reports"}"#;
        let d = gw.on_call(&req, 200, answer, &mut rs);
        let Decision::Forward(f) = d else {
            panic!("{:?}", d.code())
        };
        let kind = f
            .upstream_set
            .iter()
            .find(|(n, _)| n == "x-auth-credential")
            .map(|(_, v)| v.as_str());
        assert_eq!(kind, Some("opaque_token"));
        use crate::audit::CredentialKind;
        use response::credential_kind_name;
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
        let reply = big.reply().expect("refused without introspection");
        assert_eq!(
            (reply.status, big.code()),
            (401, Some(ErrorCode::TokenTooLarge))
        );
        assert!(matches!(
            decide(&"o".repeat(16 * 1024), &mut rs),
            Decision::Call(_)
        ));
    }
}
