//! The edge decision ([`crate::gateway`]) for JavaScript hosts — the Worker in
//! `filters/worker`. Requests, decisions and fetches cross as JSON text (the core's serde_json,
//! one string per call rather than many small JS values).
//!
//! Rate-limit state lives either in this instance (a Worker isolate's own buckets) or, for
//! limits shared by a fleet, in a compare-and-swap store outside (a Durable Object): a decision
//! then starts from this instance's copy of the buckets and returns what it read and wrote, for
//! the host to commit atomically — or, if another isolate won, to remember the fresher buckets
//! the store answered and decide again.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::gateway::metrics::{decision_counters, fetch_counter};
use crate::gateway::{
    CallOutcome, Decision, Host, MemoryRateStore, PendingSignature, RateStore, Request, Validators,
};
use crate::ratelimit::GcraState;
use crate::signature_check::WEB_CRYPTO;

/// A configured gateway with its per-isolate rate-limit buckets.
#[wasm_bindgen(js_name = Gateway)]
pub struct JsGateway {
    gateway: crate::gateway::Gateway,
    rates: MemoryRateStore,
    shared: HashMap<String, Bucket>,
    checks: Checks,
}

/// Signature checks out with the host ([`Decision::Verify`]), by id (never reused), until it
/// forgets them.
#[derive(Default)]
struct Checks {
    next: u64,
    out: BTreeMap<u64, PendingSignature>,
}

/// Checks out at once in one isolate; past it the oldest is dropped (its request fails closed).
const MAX_CHECKS: usize = 1024;

impl Checks {
    fn add(&mut self, pending: PendingSignature) -> u64 {
        if self.out.len() >= MAX_CHECKS {
            self.out.pop_first();
        }
        let id = self.next;
        self.next += 1;
        self.out.insert(id, pending);
        id
    }
}

/// The request facts as the host sends them.
#[derive(Deserialize)]
struct Facts {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// The client's address as the platform reports it (`CF-Connecting-IP`).
    #[serde(default)]
    peer: Option<String>,
    now_ms: u64,
    #[serde(default)]
    sample: u32,
}

impl Facts {
    fn parse(json: &str) -> Result<Facts, JsError> {
        serde_json::from_str(json).map_err(|_| JsError::new("request: not the expected JSON"))
    }

    fn with_request<T>(&self, f: impl FnOnce(&Request<'_>) -> T) -> T {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        f(&Request {
            method: &self.method,
            path: &self.path,
            headers: &headers,
            // An unparsable address is no address: allow-lists then refuse.
            peer: self.peer.as_deref().and_then(|p| p.parse::<IpAddr>().ok()),
            now_ms: self.now_ms,
            sample: self.sample,
        })
    }
}

/// One bucket of a shared store: its state (hex of [`GcraState::to_bytes`], `null` = fresh) and
/// version.
#[derive(Serialize, Deserialize, Clone)]
struct Bucket {
    state: Option<String>,
    version: u32,
}

/// A write for the shared store: set `key` to `state` if it is still at `version`.
#[derive(Serialize)]
struct Write {
    key: String,
    state: String,
    version: u32,
}

/// Buckets of the shared store this isolate remembers (its guesses; the store validates them).
const MAX_SHARED_BUCKETS: usize = 10_000;

/// A decision's view of the shared store: the isolate's last-known buckets, with the decision's
/// own writes on top. Keys it does not know read as fresh buckets at version 0; every read and
/// write is recorded for the host to commit.
struct Snapshot<'a> {
    known: &'a HashMap<String, Bucket>,
    written: HashMap<String, Bucket>,
    /// The store cannot be reached: every write fails, so limited requests are refused, as when
    /// Envoy's shared data fails.
    closed: bool,
    reads: HashMap<String, u32>,
    writes: Vec<Write>,
}

impl Snapshot<'_> {
    fn bucket(&self, key: &str) -> Bucket {
        self.written
            .get(key)
            .or_else(|| self.known.get(key))
            .cloned()
            .unwrap_or(Bucket {
                state: None,
                version: 0,
            })
    }
}

impl RateStore for Snapshot<'_> {
    fn load(&mut self, key: &str) -> (Option<GcraState>, u32) {
        let bucket = self.bucket(key);
        self.reads.entry(key.to_owned()).or_insert(bucket.version);
        let state = bucket
            .state
            .as_deref()
            .and_then(|h| base16ct::lower::decode_vec(h).ok())
            .and_then(|b| GcraState::from_bytes(&b));
        (state, bucket.version)
    }

    fn store(&mut self, key: &str, state: GcraState, version: u32) -> bool {
        if self.closed || self.bucket(key).version != version {
            return false;
        }
        let hex = base16ct::lower::encode_string(&state.to_bytes());
        self.writes.push(Write {
            key: key.to_owned(),
            state: hex.clone(),
            version,
        });
        // Later reads in the same decision see this write, as in any store.
        self.written.insert(
            key.to_owned(),
            Bucket {
                state: Some(hex),
                version: version.wrapping_add(1),
            },
        );
        true
    }
}

/// A decision with the shared-store reads to validate and writes to commit (both empty when
/// the isolate's own buckets were used).
#[derive(Serialize)]
struct Outcome<'a> {
    decision: &'a Decision,
    /// The id of a signature check the decision stopped at, for `onVerified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<u64>,
    /// The counters the decision adds one to (the filter's stat names).
    metrics: Vec<String>,
    reads: HashMap<String, u32>,
    writes: Vec<Write>,
}

/// Whether a stored bucket (hex of its state, as in decisions' writes) is full again at
/// `now_ms`, so a shared store may drop it: it decides like a fresh bucket. An unreadable state
/// is read as fresh by decisions, so it is idle too.
#[wasm_bindgen(js_name = bucketIdle)]
pub fn bucket_idle(state: &str, now_ms: u64) -> bool {
    base16ct::lower::decode_vec(state)
        .ok()
        .and_then(|b| GcraState::from_bytes(&b))
        .is_none_or(|s| s.is_idle(now_ms))
}

/// The decision for every request when the configuration is invalid (fail closed), with the
/// counters it adds one to, as Envoy counts it: `{decision, metrics}`.
#[wasm_bindgen]
pub fn unconfigured() -> String {
    let decision = crate::gateway::unconfigured();
    let out = Outcome {
        metrics: decision.report().map(decision_counters).unwrap_or_default(),
        decision: &decision,
        check: None,
        reads: HashMap::new(),
        writes: Vec::new(),
    };
    serde_json::to_string(&out).unwrap_or_default()
}

#[wasm_bindgen(js_class = Gateway)]
impl JsGateway {
    /// Parses and builds; throws an `Error` whose message names the field (never its value).
    #[wasm_bindgen(constructor)]
    pub fn new(config: &str) -> Result<JsGateway, JsError> {
        let gateway = crate::gateway::Gateway::from_json(config)
            .map_err(|e| JsError::new(&format!("invalid configuration: {}", e.message())))?;
        Ok(JsGateway {
            gateway,
            rates: MemoryRateStore::default(),
            shared: HashMap::new(),
            checks: Checks::default(),
        })
    }

    /// The host verifies RSA and ECDSA signatures with WebCrypto: a decision may then stop at
    /// one (`action: verify`, with `check`: its id for `onVerified`).
    #[wasm_bindgen(js_name = useWebCrypto)]
    pub fn use_web_crypto(&mut self) {
        self.gateway.verify_natively(WEB_CRYPTO.to_vec());
    }

    /// Decides one request (JSON facts: method, path, headers as pairs, peer, now_ms, sample).
    /// `store`: `local` (this isolate's buckets), `shared` (the shared store, as last seen:
    /// commit the returned reads and writes) or `closed` (the shared store is unreachable).
    /// Returns `{decision, reads, writes}`.
    pub fn decide(&mut self, request: &str, store: &str) -> Result<String, JsError> {
        let facts = Facts::parse(request)?;
        let gateway = &mut self.gateway;
        let checks = &mut self.checks;
        with_store(&mut self.rates, &self.shared, store, |store| {
            let decision = facts.with_request(|req| gateway.decide(req, store));
            // An unknown `kid`: the schedule moves the fetch forward, within its cooldown.
            if let Some(id) = decision.report().and_then(|r| r.refetch.as_ref()) {
                gateway.request_refetch(&id.to_string(), facts.now_ms);
            }
            let check = match &decision {
                Decision::Verify(pending) => Some(checks.add(pending.clone())),
                _ => None,
            };
            (decision, check)
        })
    }

    /// Finishes a decision that stopped at a signature (`action: verify`), given WebCrypto's
    /// verdict (`undefined`: it could not verify, the core does). `store` as for
    /// [`JsGateway::decide`]; the check stays until `forgetCheck`, for the store's retries.
    #[wasm_bindgen(js_name = onVerified)]
    pub fn on_verified(
        &mut self,
        request: &str,
        check: f64,
        verdict: Option<bool>,
        store: &str,
    ) -> Result<String, JsError> {
        let facts = Facts::parse(request)?;
        let gateway = &self.gateway;
        let pending = self.checks.out.get(&(check as u64));
        with_store(&mut self.rates, &self.shared, store, |store| {
            let decision = match pending {
                Some(p) => facts.with_request(|req| gateway.on_verified(req, p, verdict, store)),
                None => crate::gateway::unconfigured(),
            };
            (decision, None)
        })
    }

    /// The host is done with a signature check (ids are JSON numbers: exact far past any count).
    #[wasm_bindgen(js_name = forgetCheck)]
    pub fn forget_check(&mut self, check: f64) {
        self.checks.out.remove(&(check as u64));
    }

    /// Finishes a decision that asked for a call (introspection, a key lookup), given its
    /// status (0: no answer) and body. `store` as for [`JsGateway::decide`].
    #[wasm_bindgen(js_name = onCall)]
    pub fn on_call(
        &mut self,
        request: &str,
        status: u16,
        body: &[u8],
        store: &str,
    ) -> Result<String, JsError> {
        let facts = Facts::parse(request)?;
        let gateway = &self.gateway;
        with_store(&mut self.rates, &self.shared, store, |store| {
            (
                facts.with_request(|req| gateway.on_call(req, status, body, store)),
                None,
            )
        })
    }

    /// Counts what a call was worth (a decision's `report.call`, as JSON) in this isolate's
    /// outage states, once per call: the line to log when the endpoint's outage starts or ends.
    #[wasm_bindgen(js_name = recordCall)]
    pub fn record_call(&mut self, outcome: &str) -> Result<Option<String>, JsError> {
        let outcome: CallOutcome = serde_json::from_str(outcome)
            .map_err(|_| JsError::new("call outcome: not the expected JSON"))?;
        Ok(self.gateway.record_call(&outcome))
    }

    /// Merges buckets the shared store answered (`{key: {state, version}}`) into this
    /// isolate's copy, which the next `shared` decisions start from.
    #[wasm_bindgen(js_name = rememberShared)]
    pub fn remember_shared(&mut self, buckets: &str) -> Result<(), JsError> {
        let buckets: HashMap<String, Bucket> = serde_json::from_str(buckets)
            .map_err(|_| JsError::new("buckets: not the expected JSON"))?;
        if self.shared.len() + buckets.len() > MAX_SHARED_BUCKETS {
            self.shared.clear();
        }
        self.shared.extend(buckets);
        Ok(())
    }

    /// What this host cannot do with the configuration, one log line each.
    pub fn limitations(&self) -> Vec<String> {
        self.gateway.limitations(Host::Fetch)
    }

    /// When a document is next due (unix ms), once `dueFetches` has been asked: before then it
    /// would return nothing. `undefined`: no remote documents (or not asked yet).
    #[wasm_bindgen(js_name = nextFetchAt)]
    pub fn next_fetch_at(&self) -> Option<f64> {
        self.gateway.poll_timeout().map(|ms| ms as f64)
    }

    /// The documents due at `now_ms`, as a JSON array; each is leased until its answer is
    /// given to `fetched`.
    #[wasm_bindgen(js_name = dueFetches)]
    pub fn due_fetches(&mut self, now_ms: u64) -> String {
        serde_json::to_string(&self.gateway.due_fetches(now_ms)).unwrap_or_else(|_| "[]".into())
    }

    /// A fetch's answer (status 0: no answer) with its `ETag` and `Last-Modified` headers as
    /// received (the next fetch sends them back). Returns JSON `{log, counter}`: the log line
    /// the outcome deserves, if any, and its counter (`tokenwarden.fetch.<source>.ok|failed`);
    /// a refused document leaves the previous keys in use.
    pub fn fetched(
        &mut self,
        id: &str,
        status: u16,
        etag: Option<String>,
        last_modified: Option<String>,
        body: &[u8],
        now_ms: u64,
    ) -> String {
        let validators = Validators::new(etag.as_deref(), last_modified.as_deref());
        let log = self.gateway.fetched(id, status, &validators, body, now_ms);
        let ok = self.gateway.source_state(id).failures == 0;
        serde_json::json!({ "log": log, "counter": fetch_counter(id, ok) }).to_string()
    }
}

/// Runs `decide` against the isolate's buckets, or against its copy of the shared store.
fn with_store(
    rates: &mut MemoryRateStore,
    shared: &HashMap<String, Bucket>,
    store: &str,
    decide: impl FnOnce(&mut dyn RateStore) -> (Decision, Option<u64>),
) -> Result<String, JsError> {
    let mut snapshot = Snapshot {
        known: shared,
        written: HashMap::new(),
        closed: store == "closed",
        reads: HashMap::new(),
        writes: Vec::new(),
    };
    let (decision, check) = match store {
        "local" => decide(rates),
        "shared" | "closed" => decide(&mut snapshot),
        _ => return Err(JsError::new("store: local, shared or closed")),
    };
    let out = Outcome {
        metrics: decision.report().map(decision_counters).unwrap_or_default(),
        decision: &decision,
        check,
        reads: snapshot.reads,
        writes: snapshot.writes,
    };
    serde_json::to_string(&out).map_err(|_| JsError::new("decision: not serializable"))
}
