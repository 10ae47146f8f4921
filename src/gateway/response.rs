//! The verdict and everything a host shows of it: identity headers for the upstream, the local
//! reply with its status, challenge and body, and the audit line. Rendered here once, so every
//! host answers the same bytes.

use serde::{Serialize, Serializer};

use super::authenticator::Authenticated;
use super::call::{Call, CallOutcome};
use super::config::{GatewayConfig, SourceConfig};
use super::native_check::PendingSignature;
use super::sources::SourceId;
use super::{extract, Gateway, Request};
use crate::audit::{AuditEvent, CredentialKind, CredentialRef, Timestamp};
use crate::error::{AuthError, ErrorCode, ErrorStyle};
use crate::policy;

/// Longest value put into an identity header.
const MAX_HEADER_VALUE: usize = 1024;

/// What the host must do with a request. Serializes, tagged by `action`, to the JSON the
/// Worker reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Send the request upstream, edited as said.
    Forward(Forward),
    /// Answer the client; the upstream is not called.
    Respond(LocalReply),
    /// Not decided yet: make this call (introspection, a key lookup), then pass its answer to
    /// [`Gateway::on_call`] (status 0 when it could not be made or got no answer).
    Call(Call),
    /// Not decided yet: verify this JWT signature natively, then pass the verdict to
    /// [`Gateway::on_verified`]. Only for a host that offered its algorithms
    /// ([`Gateway::verify_natively`]).
    Verify(PendingSignature),
}

/// An allowed request and how to edit it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forward {
    /// Headers to set on the upstream request (after removing `upstream_remove`).
    pub upstream_set: Vec<(String, String)>,
    /// Headers to remove from the upstream request: the incoming identity headers (a client must
    /// not forge them) and, when configured, the credential — only those the request carries, so
    /// a host makes no call for a header that is not there.
    pub upstream_remove: Vec<String>,
    /// A new request path when a query-parameter credential is stripped.
    pub upstream_path: Option<String>,
    /// Headers for the client on the upstream's response, replacing the upstream's copies
    /// (`X-RateLimit-*` when a limit applied).
    pub response_headers: Vec<(String, String)>,
    pub report: Report,
}

/// The gateway's own answer (a refusal).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub report: Report,
}

/// What a host logs and counts about a decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The refusal's stable code.
    #[serde(serialize_with = "code_str")]
    pub code: Option<ErrorCode>,
    /// Which source decided on the credential: a provider's name, `api_keys` or
    /// `introspection`; `None` when none was reached (no or unreadable credential, unknown
    /// issuer).
    pub provider: Option<String>,
    /// The audit event, when sampled (refusals always are). Hosts fill in what only they see,
    /// [`AuditEvent::with_outcome`], before writing its line: for a forwarded request the
    /// upstream's status and the latency to its answer. Serializes as the line as decided.
    #[serde(serialize_with = "audit_line")]
    pub audit: Option<AuditEvent>,
    pub cache: CacheUse,
    /// A fetch id worth fetching ahead of schedule (an unknown `kid`: the issuer may have
    /// rotated its keys); hosts pass it to the schedule, which applies the cooldown.
    pub refetch: Option<SourceId>,
    /// For a decision finished by a call's answer, what that answer was worth, for the host's
    /// outage log ([`CallOutcome::record`]).
    pub call: Option<CallOutcome>,
}

/// How a cache took part (for metrics): the verified-token cache, or the answers of an
/// introspection endpoint or key service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheUse {
    /// No token to cache (a key of a polled store, no credential, or refused before
    /// verification).
    #[default]
    None,
    Hit,
    /// Verified, introspected or looked up without the cache's help.
    Miss,
}

fn audit_line<S: Serializer>(event: &Option<AuditEvent>, s: S) -> Result<S::Ok, S::Error> {
    event.as_ref().map(AuditEvent::to_json_line).serialize(s)
}

fn code_str<S: Serializer>(c: &Option<ErrorCode>, s: S) -> Result<S::Ok, S::Error> {
    c.map(ErrorCode::as_str).serialize(s)
}

impl Decision {
    pub fn is_forward(&self) -> bool {
        matches!(self, Decision::Forward(_))
    }

    pub fn report(&self) -> Option<&Report> {
        match self {
            Decision::Forward(f) => Some(&f.report),
            Decision::Respond(r) => Some(&r.report),
            Decision::Call(_) | Decision::Verify(_) => None,
        }
    }

    fn report_mut(&mut self) -> Option<&mut Report> {
        match self {
            Decision::Forward(f) => Some(&mut f.report),
            Decision::Respond(r) => Some(&mut r.report),
            Decision::Call(_) | Decision::Verify(_) => None,
        }
    }

    /// Notes what the call that finished this decision was worth.
    pub(super) fn with_call(mut self, outcome: CallOutcome) -> Decision {
        if let Some(report) = self.report_mut() {
            report.call = Some(outcome);
        }
        self
    }

    /// The refusal's code, if refused.
    pub fn code(&self) -> Option<ErrorCode> {
        self.report().and_then(|r| r.code)
    }

    /// The local reply, if any.
    pub fn reply(&self) -> Option<&LocalReply> {
        match self {
            Decision::Respond(r) => Some(r),
            _ => None,
        }
    }

    pub fn forward(&self) -> Option<&Forward> {
        match self {
            Decision::Forward(f) => Some(f),
            _ => None,
        }
    }
}

/// The answer to every request when there is no valid configuration: fail closed.
pub fn unconfigured() -> Decision {
    let e = AuthError::new(ErrorCode::InvalidConfig);
    Decision::Respond(LocalReply {
        status: e.status(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: e.body(ErrorStyle::default()),
        report: Report {
            code: Some(e.code()),
            ..Report::default()
        },
    })
}

/// The `x-auth-credential` value: the same names as the audit line's `credential_kind`, so an
/// upstream is never told an introspected opaque token was a JWT.
pub(super) fn credential_kind_name(kind: CredentialKind) -> &'static str {
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

fn cache_use(auth: Option<&Authenticated>) -> CacheUse {
    auth.map_or(CacheUse::None, |a| a.cache)
}

/// Builds the decision for one request.
pub(super) struct Answer<'g, 'r> {
    pub gw: &'g Gateway,
    pub req: &'r Request<'r>,
    pub client_ip: Option<std::net::IpAddr>,
}

impl Answer<'_, '_> {
    fn config(&self) -> &GatewayConfig {
        &self.gw.config
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
    pub fn ip_key(&self) -> Option<String> {
        self.client_ip.map(|ip| format!("fail:{ip}"))
    }

    fn audit(
        &self,
        event: AuditEvent,
        auth: Option<&Authenticated>,
        sampled: bool,
    ) -> Option<AuditEvent> {
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
        Some(AuditEvent {
            credential,
            client_ip: self.client_ip.map(|ip| ip.to_string()),
            user_agent,
            ..event
        })
    }

    pub fn allow(
        &self,
        auth: Option<&Authenticated>,
        route: Option<&policy::RouteMatch>,
        response_headers: Vec<(String, String)>,
    ) -> Decision {
        let h = &self.config().identity_headers;
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
            push(
                &mut set,
                &h.environment,
                a.environment.map(|e| e.as_str().to_owned()),
            );
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
        if let Some(d) = route {
            push(&mut set, &h.rule, d.rule.clone());
            push(&mut set, &h.dataset, d.dataset.clone());
        }
        let rate = self.config().audit_sample_rate;
        let sampled = f64::from(self.req.sample) < rate * f64::from(u32::MAX) || rate >= 1.0;
        let mut event = AuditEvent::allow(
            Timestamp::Millis(self.req.now_ms),
            self.req.method,
            self.req.path,
            200,
        );
        event.route = route.and_then(|d| d.rule.clone());
        event.dataset = route.and_then(|d| d.dataset.clone());
        Decision::Forward(Forward {
            upstream_set: set,
            upstream_remove,
            upstream_path,
            response_headers,
            report: Report {
                code: None,
                provider: auth.map(|a| a.provider.clone()),
                audit: self.audit(event, auth, sampled),
                cache: cache_use(auth),
                refetch: None,
                call: None,
            },
        })
    }

    pub fn deny(&self, e: AuthError, auth: Option<&Authenticated>) -> Decision {
        self.refuse(e, auth, Vec::new(), None, None)
    }

    /// A refusal with `headers` (rate-limit headers), the source that refused (when it is not
    /// `auth`'s), and a fetch worth making early.
    pub fn refuse(
        &self,
        e: AuthError,
        auth: Option<&Authenticated>,
        mut headers: Vec<(String, String)>,
        provider: Option<&str>,
        refetch: Option<SourceId>,
    ) -> Decision {
        let config = self.config();
        let e = if e.code() == ErrorCode::KeysUnavailable {
            e.with_status(config.keys_unavailable_status)
        } else {
            e
        };
        headers.push(("content-type".into(), "application/json".into()));
        if let Some(v) = e.www_authenticate(&config.realm) {
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
        Decision::Respond(LocalReply {
            status: e.status(),
            headers,
            body: self
                .gw
                .catalogue
                .body(&e, config.error_style, &config.realm),
            report: Report {
                code: Some(e.code()),
                provider: provider
                    .map(str::to_owned)
                    .or_else(|| auth.map(|a| a.provider.clone())),
                audit: self.audit(event, auth, true),
                cache: cache_use(auth),
                refetch,
                call: None,
            },
        })
    }
}
