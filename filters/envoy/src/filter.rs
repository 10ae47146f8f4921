//! The per-request `HttpContext`: gathers the request facts, asks the gateway, and carries out
//! the decision (forward with identity headers, or answer). It holds nothing but a handle on the
//! worker's gateway.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use tokenwarden::gateway::{Decision, Gateway, Introspect, Request};
use tokenwarden::{AuthError, ErrorCode, ErrorStyle};

use crate::fetcher::{self, Local};
use crate::metrics::Metrics;
use crate::rate_store::SharedDataRateStore;

pub struct Filter {
    context_id: u32,
    /// The thread's gateway; its root context feeds it fetched documents between requests.
    local: Option<Rc<Local>>,
    metrics: Rc<Metrics>,
    /// The request's facts while an introspection call is out (the gateway decides again from
    /// them when the answer arrives).
    pending: Option<Facts>,
    /// Headers for the client on the upstream's response (`X-RateLimit-*` of an allowed request).
    response_headers: Vec<(String, String)>,
}

/// The request facts the gateway needs, owned so that they outlive one callback.
struct Facts {
    headers: Vec<(String, String)>,
    peer: Option<IpAddr>,
    now_ms: u64,
    sample: u32,
}

impl Facts {
    /// Runs `f` with the gateway's view of the request.
    fn with_request<T>(&self, f: impl FnOnce(&Request<'_>) -> T) -> T {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let pseudo = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, v)| *v)
        };
        f(&Request {
            method: pseudo(":method"),
            path: pseudo(":path"),
            headers: &headers,
            peer: self.peer,
            now_ms: self.now_ms,
            sample: self.sample,
        })
    }
}

impl Filter {
    pub fn new(context_id: u32, local: Option<Rc<Local>>, metrics: Rc<Metrics>) -> Self {
        Filter {
            context_id,
            local,
            metrics,
            pending: None,
            response_headers: Vec::new(),
        }
    }

    fn facts(&self) -> Facts {
        let now = self.get_current_time().duration_since(UNIX_EPOCH);
        Facts {
            headers: self.request_headers(),
            peer: self.peer(),
            now_ms: now.as_ref().map_or(0, |d| d.as_millis() as u64),
            // Audit sampling needs spread, not secrecy: mix the clock with the stream id.
            sample: now
                .map_or(0, |d| d.subsec_nanos())
                .wrapping_mul(0x9E37_79B9)
                ^ self.context_id,
        }
    }

    /// Makes the introspection call the gateway asked for; `false` if it could not be sent.
    fn dispatch_introspection(&self, call: &Introspect) -> bool {
        let Some(cluster) = call.cluster.as_deref() else {
            log::warn!(
                "introspection: no cluster configured (a url alone works only in the Worker)"
            );
            return false;
        };
        let mut headers = vec![
            (":method", "POST"),
            (":path", call.path.as_str()),
            (":authority", call.authority.as_deref().unwrap_or(cluster)),
        ];
        // Includes the client's credentials for the endpoint: never logged.
        headers.extend(call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let timeout = Duration::from_millis(call.timeout_ms);
        match self.dispatch_http_call(
            cluster,
            headers,
            Some(call.body.as_bytes()),
            vec![],
            timeout,
        ) {
            Ok(_token) => true,
            Err(status) => {
                log::warn!(
                    "introspection: the call to cluster {cluster} was not sent ({status:?})"
                );
                false
            }
        }
    }

    /// The request headers with values as text. Read as bytes (the SDK's string accessor panics
    /// on a value that is not UTF-8); such a value is kept with U+FFFD in place of the bad bytes,
    /// so a mangled credential is still a credential — and refused — not an absent one.
    fn request_headers(&self) -> Vec<(String, String)> {
        self.get_http_request_headers_bytes()
            .into_iter()
            .map(|(name, value)| {
                let text = String::from_utf8(value)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                (name, text)
            })
            .collect()
    }

    /// The downstream peer address (`source.address` is `ip:port`).
    fn peer(&self) -> Option<IpAddr> {
        let bytes = self.get_property(vec!["source", "address"])?;
        let text = std::str::from_utf8(&bytes).ok()?;
        text.parse::<SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| text.parse::<IpAddr>())
            .ok()
    }

    fn apply(&mut self, gateway: &Gateway, decision: &Decision) -> Action {
        if decision.introspect.is_some() || (!decision.allowed && decision.status < 200) {
            // Still undecided (the caller handles one introspection round): fail closed rather
            // than answer the placeholder status.
            return self.refuse_unavailable(gateway);
        }
        self.metrics.decision(decision);
        if let Some(line) = &decision.audit {
            log::info!("{line}");
        }
        if decision.allowed {
            for name in &decision.upstream_remove {
                self.set_http_request_header(name, None);
            }
            for (name, value) in &decision.upstream_set {
                self.set_http_request_header(name, Some(value));
            }
            if let Some(path) = &decision.upstream_path {
                self.set_http_request_header(":path", Some(path));
            }
            self.response_headers = client_response_headers(decision);
            return Action::Continue;
        }
        let headers = decision
            .response_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.send_http_response(
            u32::from(decision.status),
            headers,
            Some(decision.body.as_bytes()),
        );
        Action::Pause
    }

    /// Answers without a gateway (no valid configuration): fail closed.
    fn refuse_unconfigured(&self) -> Action {
        self.metrics.refused(ErrorCode::InvalidConfig);
        self.refuse_with(
            AuthError::new(ErrorCode::InvalidConfig),
            ErrorStyle::default(),
            None,
        )
    }

    /// `keys_unavailable`, in the gateway's configured status, style and realm.
    fn refuse_unavailable(&self, gateway: &Gateway) -> Action {
        self.metrics.refused(ErrorCode::KeysUnavailable);
        let config = gateway.config();
        let error =
            AuthError::new(ErrorCode::KeysUnavailable).with_status(config.keys_unavailable_status);
        self.refuse_with(error, config.error_style, Some(&config.realm))
    }

    fn refuse_with(&self, error: AuthError, style: ErrorStyle, realm: Option<&str>) -> Action {
        let challenge = realm.and_then(|r| error.www_authenticate(r));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(value) = challenge.as_deref() {
            headers.push(("www-authenticate", value));
        }
        self.send_http_response(
            u32::from(error.status()),
            headers,
            Some(error.body(style).as_bytes()),
        );
        Action::Pause
    }
}

/// What the client gets on the upstream's response to a forwarded request: the headers an
/// allowed decision carries (`X-RateLimit-Limit`, `-Remaining`, `-Reset` when a limit applied).
/// A refusal's headers go into the local answer instead.
fn client_response_headers(decision: &Decision) -> Vec<(String, String)> {
    if decision.allowed {
        decision.response_headers.clone()
    } else {
        Vec::new()
    }
}

impl Context for Filter {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let (Some(local), Some(facts)) = (self.local.clone(), self.pending.take()) else {
            return;
        };
        let Ok(gateway) = local.gateway.try_borrow() else {
            // Never while a callback runs (one thread, no re-entry); fail closed all the same.
            self.refuse_unconfigured();
            return;
        };
        // Status 0 (no answer) is the endpoint failing (keys_unavailable), not a verdict.
        let (status, body) = crate::call_response(self, body_size);
        let decision = facts.with_request(|request| {
            let mut rates = SharedDataRateStore::new(&local.rate_prefix);
            gateway.on_introspection(request, status, &body, &mut rates)
        });
        if let Action::Continue = self.apply(&gateway, &decision) {
            self.resume_http_request();
        }
    }
}

impl HttpContext for Filter {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for (name, value) in std::mem::take(&mut self.response_headers) {
            // The edge's limit is the one this client is held to: replace any upstream copy.
            self.set_http_response_header(&name, Some(&value));
        }
        Action::Continue
    }

    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(local) = self.local.clone() else {
            return self.refuse_unconfigured();
        };
        let facts = self.facts();
        local.sync_if_changed(&self.metrics, facts.now_ms);
        let Ok(gateway) = local.gateway.try_borrow() else {
            return self.refuse_unconfigured();
        };
        let mut rates = SharedDataRateStore::new(&local.rate_prefix);
        let decision = facts.with_request(|request| gateway.decide(request, &mut rates));
        if let Some(id) = &decision.refetch {
            // An unknown kid (the issuer may have rotated) or no keys yet: the next tick of any
            // thread fetches, at most once per cooldown across threads.
            if fetcher::request_refetch(&local.scope, id, facts.now_ms) {
                log::info!("{id}: refetching ahead of schedule (unknown key id or no keys)");
            }
        }
        if let Some(call) = &decision.introspect {
            if self.dispatch_introspection(call) {
                self.pending = Some(facts);
                return Action::Pause;
            }
            return self.refuse_unavailable(&gateway);
        }
        self.apply(&gateway, &decision)
    }
}

#[cfg(test)]
mod tests {
    use tokenwarden::apikey::{Environment, KeyPrefix, KeyStore, KeyType, NewKey};
    use tokenwarden::gateway::{MemoryRateStore, Request};

    use super::*;

    /// Regression: the X-RateLimit-* headers of an allowed decision were dropped, so clients
    /// only learnt of a limit from the 429 (found by tests/e2e/rate_limits.test.mjs).
    #[test]
    fn allowed_decisions_pass_their_rate_limit_headers_to_the_client() {
        let mut store = KeyStore::new();
        let prefix = KeyPrefix::standard(KeyType::Secret, Environment::Live);
        let key = store
            .create(&prefix, NewKey::default(), 1_700_000_000)
            .unwrap();
        let config = format!(
            r#"{{"api_keys": {{"store": {{"inline": {}}}}}, "rate_limits": [{{"limit": "5/minute"}}]}}"#,
            store.to_json().unwrap()
        );
        let gw = Gateway::from_json(&config).unwrap();
        let mut rs = MemoryRateStore::default();
        let decide = |credential: &str, rs: &mut MemoryRateStore| {
            let value = format!("Bearer {credential}");
            let headers = [("authorization", value.as_str())];
            gw.decide(
                &Request {
                    method: "GET",
                    path: "/",
                    headers: &headers,
                    peer: None,
                    now_ms: 1_700_000_000_000,
                    sample: 0,
                },
                rs,
            )
        };
        let allowed = decide(&key.secret, &mut rs);
        assert!(allowed.allowed, "{:?}", allowed.error);
        let headers = client_response_headers(&allowed);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-ratelimit-limit"), Some("5"));
        assert_eq!(get("x-ratelimit-remaining"), Some("4"));
        // A refusal's headers belong to the local answer, not to an upstream response.
        let refused = decide("sk_live_nope", &mut rs);
        assert!(!refused.allowed && client_response_headers(&refused).is_empty());
    }
}
