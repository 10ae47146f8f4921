//! The edge decision ([`crate::gateway`]) for JavaScript hosts — the Worker in
//! `filters/worker`. Requests, decisions and fetches cross as JSON text (the core's serde_json,
//! one string per call rather than many small JS values).
//!
//! Rate-limit state lives either in this instance (a Worker isolate's own buckets) or, for
//! limits shared by a fleet, in a compare-and-swap store outside (a Durable Object): the host
//! then passes a snapshot of the buckets it knows and gets back what the decision read and
//! wrote, to commit atomically, or to decide again with fresher states if another isolate won.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::error::{AuthError, ErrorCode, ErrorStyle};
use crate::gateway::{Decision, MemoryRateStore, RateStore, Request};
use crate::ratelimit::GcraState;

/// A configured gateway with its per-isolate rate-limit buckets.
#[wasm_bindgen(js_name = Gateway)]
pub struct JsGateway {
    gateway: crate::gateway::Gateway,
    rates: MemoryRateStore,
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

/// The host's snapshot of a shared store. Keys it does not know read as fresh buckets at
/// version 0; every read is reported so the host can validate it at commit.
#[derive(Deserialize, Default)]
struct Snapshot {
    #[serde(default)]
    buckets: HashMap<String, Bucket>,
    /// The store cannot be reached: every write fails, so limited requests are refused, as when
    /// Envoy's shared data fails.
    #[serde(default)]
    closed: bool,
    #[serde(skip)]
    reads: HashMap<String, u32>,
    #[serde(skip)]
    writes: Vec<Write>,
}

impl RateStore for Snapshot {
    fn load(&mut self, key: &str) -> (Option<GcraState>, u32) {
        let bucket = self.buckets.get(key).cloned().unwrap_or(Bucket {
            state: None,
            version: 0,
        });
        self.reads.entry(key.to_owned()).or_insert(bucket.version);
        let state = bucket
            .state
            .as_deref()
            .and_then(|h| base16ct::lower::decode_vec(h).ok())
            .and_then(|b| GcraState::from_bytes(&b));
        (state, bucket.version)
    }

    fn store(&mut self, key: &str, state: GcraState, version: u32) -> bool {
        let current = self.buckets.get(key).map_or(0, |b| b.version);
        if self.closed || current != version {
            return false;
        }
        let hex = base16ct::lower::encode_string(&state.to_bytes());
        self.writes.push(Write {
            key: key.to_owned(),
            state: hex.clone(),
            version,
        });
        // Later reads in the same decision see this write, as in any store.
        self.buckets.insert(
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
    reads: HashMap<String, u32>,
    writes: Vec<Write>,
}

/// A refusal the host answers by itself, as the Envoy filter does.
#[derive(Serialize)]
struct Refusal {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn refusal(error: AuthError, style: ErrorStyle, realm: Option<&str>) -> String {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some(v) = realm.and_then(|r| error.www_authenticate(r)) {
        headers.push(("www-authenticate", v));
    }
    let r = Refusal {
        status: error.status(),
        headers,
        body: error.body(style),
    };
    serde_json::to_string(&r).unwrap_or_default()
}

/// The answer to every request when the configuration is invalid: fail closed.
#[wasm_bindgen(js_name = invalidConfigRefusal)]
pub fn invalid_config_refusal() -> String {
    refusal(
        AuthError::new(ErrorCode::InvalidConfig),
        ErrorStyle::default(),
        None,
    )
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
        })
    }

    /// Decides one request (JSON facts: method, path, headers as pairs, peer, now_ms, sample).
    /// Without `shared`, rate limits use this isolate's buckets; with a snapshot JSON
    /// (`{"buckets": {key: {state, version}}, "closed": false}`), the shared store's.
    /// Returns `{decision, reads, writes}`.
    pub fn decide(&mut self, request: &str, shared: Option<String>) -> Result<String, JsError> {
        let facts = Facts::parse(request)?;
        let gateway = &self.gateway;
        with_store(&mut self.rates, shared, |store| {
            facts.with_request(|req| gateway.decide(req, store))
        })
    }

    /// Finishes a decision that asked for introspection, given the endpoint's status (0: no
    /// answer) and body. `shared` as for [`JsGateway::decide`].
    #[wasm_bindgen(js_name = onIntrospection)]
    pub fn on_introspection(
        &mut self,
        request: &str,
        status: u16,
        body: &[u8],
        shared: Option<String>,
    ) -> Result<String, JsError> {
        let facts = Facts::parse(request)?;
        let gateway = &self.gateway;
        with_store(&mut self.rates, shared, |store| {
            facts.with_request(|req| gateway.on_introspection(req, status, body, store))
        })
    }

    /// The documents to fetch now and every `refresh_secs`, as a JSON array.
    pub fn fetches(&self) -> String {
        serde_json::to_string(&self.gateway.fetches()).unwrap_or_else(|_| "[]".into())
    }

    /// Feeds a fetched document back (status 0: no answer). Returns the next fetch as JSON
    /// (discovery names the JWKS) or `null`; throws when the document was refused, and the
    /// previous keys stay in use.
    #[wasm_bindgen(js_name = onFetched)]
    pub fn on_fetched(
        &mut self,
        id: &str,
        status: u16,
        body: &[u8],
        now: u64,
    ) -> Result<String, JsError> {
        let next = self
            .gateway
            .on_fetched(id, status, body, now)
            .map_err(|e| JsError::new(e.message()))?;
        Ok(serde_json::to_string(&next).unwrap_or_else(|_| "null".into()))
    }

    /// `keys_unavailable` in the configured status, style and realm: the answer when a call
    /// the decision needs could not be made.
    pub fn unavailable(&self) -> String {
        let config = self.gateway.config();
        let error =
            AuthError::new(ErrorCode::KeysUnavailable).with_status(config.keys_unavailable_status);
        refusal(error, config.error_style, Some(&config.realm))
    }
}

/// Runs `decide` against the isolate's buckets, or against the host's shared-store snapshot.
fn with_store(
    rates: &mut MemoryRateStore,
    shared: Option<String>,
    decide: impl FnOnce(&mut dyn RateStore) -> Decision,
) -> Result<String, JsError> {
    let (decision, reads, writes) = match shared {
        None => (decide(rates), HashMap::new(), Vec::new()),
        Some(json) => {
            let mut snapshot: Snapshot = serde_json::from_str(&json)
                .map_err(|_| JsError::new("shared: not the expected JSON"))?;
            let d = decide(&mut snapshot);
            (d, snapshot.reads, snapshot.writes)
        }
    };
    let out = Outcome {
        decision: &decision,
        reads,
        writes,
    };
    serde_json::to_string(&out).map_err(|_| JsError::new("decision: not serializable"))
}
