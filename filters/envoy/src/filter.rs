//! The per-request `HttpContext`: gathers the request facts, asks the gateway, and carries out
//! the decision (forward with identity headers, or answer). It holds nothing but a handle on the
//! worker's gateway.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use tokenwarden::audit::AuditEvent;
use tokenwarden::gateway::{self, Call, Decision, Request};

use crate::fetcher::{self, Local};
use crate::metrics::Metrics;
use crate::rate_store::SharedDataRateStore;

pub struct Filter {
    context_id: u32,
    /// The thread's gateway; its root context feeds it fetched documents between requests.
    local: Option<Rc<Local>>,
    metrics: Rc<Metrics>,
    /// The request's facts while a call (introspection, key lookup) is out (the gateway decides
    /// again from them when the answer arrives).
    pending: Option<Facts>,
    /// The most of the call's answer to read (its `max_bytes` plus one).
    call_limit: usize,
    /// Headers for the client on the upstream's response (`X-RateLimit-*` of an allowed request).
    response_headers: Vec<(String, String)>,
    /// A forwarded request's audit event, written once the upstream answers (or the stream
    /// ends without an answer), with that status and latency.
    audit: Option<AuditEvent>,
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
            call_limit: 0,
            response_headers: Vec::new(),
            audit: None,
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

    /// Makes the call the gateway asked for; `false` if it could not be sent. Neither case logs
    /// per request: a missing cluster is said once at start (`limitations`), and a call not sent
    /// is a failed call, logged once per outage by the core's outcome.
    fn dispatch_call(&self, call: &Call) -> bool {
        let Some(cluster) = call.cluster.as_deref() else {
            return false;
        };
        let mut headers = vec![
            (":method", call.method),
            (":path", call.path.as_str()),
            (":authority", call.authority.as_deref().unwrap_or(cluster)),
        ];
        // May include the client's credentials for the endpoint: never logged.
        headers.extend(call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let timeout = Duration::from_millis(call.timeout_ms);
        let body = call.body.as_deref().map(str::as_bytes);
        self.dispatch_http_call(cluster, headers, body, vec![], timeout)
            .is_ok()
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

    /// Carries out a decided request: forward it edited, or answer it.
    fn apply(&mut self, decision: Decision) -> Action {
        if let Some(report) = decision.report() {
            self.metrics.decision(report);
            match (&decision, report.audit.clone()) {
                (Decision::Forward(_), event) => self.audit = event,
                (_, Some(event)) => self.write_audit(event, None),
                (_, None) => {}
            }
        }
        match decision {
            Decision::Forward(f) => {
                for name in &f.upstream_remove {
                    self.set_http_request_header(name, None);
                }
                for (name, value) in &f.upstream_set {
                    self.set_http_request_header(name, Some(value));
                }
                if let Some(path) = &f.upstream_path {
                    self.set_http_request_header(":path", Some(path));
                }
                self.response_headers = f.response_headers;
                Action::Continue
            }
            Decision::Respond(reply) => {
                let headers = reply
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                self.send_http_response(
                    u32::from(reply.status),
                    headers,
                    Some(reply.body.as_bytes()),
                );
                Action::Pause
            }
            // Never asked for twice (an answer decides), and never a signature check (the
            // filter offers no native crypto); fail closed all the same.
            Decision::Call(_) | Decision::Verify(_) => self.apply(gateway::unconfigured()),
        }
    }

    /// Writes an audit line at the current time: the latency runs from the request's arrival.
    fn write_audit(&self, event: AuditEvent, status: Option<u16>) {
        let now = self.get_current_time().duration_since(UNIX_EPOCH);
        let now_ms = now.map_or(0, |d| d.as_millis() as u64);
        log::info!("{}", event.with_outcome(status, now_ms).to_json_line());
    }

    /// Decides again with the call's answer (status 0: none).
    fn finish_call(&mut self, facts: Option<Facts>, status: u16, body: &[u8]) -> Action {
        let (Some(local), Some(facts)) = (self.local.clone(), facts) else {
            return self.apply(gateway::unconfigured());
        };
        let Ok(gateway) = local.gateway.try_borrow() else {
            // Never while a callback runs (one thread, no re-entry); fail closed all the same.
            return self.apply(gateway::unconfigured());
        };
        let decision = facts.with_request(|request| {
            let mut rates = SharedDataRateStore::new(&local.rate_prefix);
            gateway.on_call(request, status, body, &mut rates)
        });
        drop(gateway);
        // The endpoint's outage state is shared by every thread, so an outage is logged once.
        if let Some(call) = decision.report().and_then(|r| r.call.as_ref()) {
            let line = fetcher::update(&local.scope, &call.purpose, |s| call.record(s)).flatten();
            match line {
                Some(line) if call.failed.is_some() => log::warn!("{line}"),
                Some(line) => log::info!("{line}"),
                None => {}
            }
        }
        self.apply(decision)
    }
}

impl Context for Filter {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        // Status 0 (no answer) is the endpoint failing (keys_unavailable), not a verdict.
        let (status, body) =
            crate::call_response(self, num_headers, body_size.min(self.call_limit));
        let facts = self.pending.take();
        if let Action::Continue = self.finish_call(facts, status, &body) {
            self.resume_http_request();
        }
    }
}

impl HttpContext for Filter {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some(event) = self.audit.take() {
            let status = self
                .get_http_response_header(":status")
                .and_then(|s| s.parse().ok());
            self.write_audit(event, status);
        }
        for (name, value) in std::mem::take(&mut self.response_headers) {
            // The edge's limit is the one this client is held to: replace any upstream copy.
            self.set_http_response_header(&name, Some(&value));
        }
        Action::Continue
    }

    /// A forwarded request that never got response headers (client gone, stream reset): its
    /// line says status 0.
    fn on_log(&mut self) {
        if let Some(event) = self.audit.take() {
            self.write_audit(event, Some(0));
        }
    }

    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(local) = self.local.clone() else {
            return self.apply(gateway::unconfigured());
        };
        let facts = self.facts();
        local.sync_if_changed(&self.metrics, facts.now_ms);
        let Ok(gateway) = local.gateway.try_borrow() else {
            return self.apply(gateway::unconfigured());
        };
        let mut rates = SharedDataRateStore::new(&local.rate_prefix);
        let decision = facts.with_request(|request| gateway.decide(request, &mut rates));
        drop(gateway);
        if let Some(id) = decision.report().and_then(|r| r.refetch.as_ref()) {
            // The next tick of any thread fetches; the core's cooldown holds across threads.
            let id = id.to_string();
            let timing = local.timing(&id);
            let moved = timing.and_then(|t| {
                fetcher::update(&local.scope, &id, |s| s.request_refetch(facts.now_ms, &t))
            });
            if moved == Some(true) {
                log::info!("{id}: refetching ahead of schedule (unknown key id or no keys)");
            }
        }
        if let Decision::Call(call) = &decision {
            if self.dispatch_call(call) {
                self.pending = Some(facts);
                self.call_limit =
                    usize::try_from(call.max_bytes.saturating_add(1)).unwrap_or(usize::MAX);
                return Action::Pause;
            }
            return self.finish_call(Some(facts), 0, &[]);
        }
        self.apply(decision)
    }
}
