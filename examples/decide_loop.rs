//! One gateway decision in a timed loop (a cached RS256 token and an API key, as `make bench`
//! sends them to Envoy; the API key both from a polled store and looked up in a key service with
//! a warm cache), built natively and for wasm32-wasip1: the filter's own per-request work apart
//! from the V8 crossing and Envoy's host calls. The cases run in interleaved rounds (the machine
//! is noisy); prints `{"case":..,"ns_per_decision":<median of the rounds>,"rounds":[..]}`.

use std::time::Instant;

use serde_json::{json, Map};
use tokenwarden::apikey::{Environment, KeyPrefix, KeyStore, KeyType, NewKey};
use tokenwarden::gateway::{Decision, Gateway, MemoryRateStore, Request};
use tokenwarden::sign::SigningKey;
use tokenwarden::Algorithm;

/// Interleaved rounds per case; each gets `budget / ROUNDS` ms.
const ROUNDS: u128 = 5;

/// A case's name, its gateway and the request headers it decides on.
type Case<'a> = (&'a str, Gateway, [(&'a str, &'a str); 5]);

fn main() {
    let budget_ms: u128 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1500);
    let now = 1_800_000_000u64;
    let key = SigningKey::generate(Algorithm::RS256, Some("k".into())).expect("key");
    let claims = json!({
        "iss": "https://issuer.example", "sub": "user_8f3k29d", "aud": "api",
        "iat": now, "exp": now + 3600, "scope": "read:datasets"
    });
    let token = key
        .mint(
            claims.as_object().expect("claims"),
            Some("JWT"),
            &Map::new(),
        )
        .expect("mint");
    let mut keys = KeyStore::new();
    let new_key = NewKey {
        name: "bench".into(),
        permissions: vec!["*".into()],
        ..NewKey::default()
    };
    let prefix = KeyPrefix::standard(KeyType::Secret, Environment::Live);
    let api_key = keys.create(&prefix, new_key, now - 10).expect("api key");
    let store: serde_json::Value =
        serde_json::from_str(&keys.to_json().expect("store")).expect("store json");
    let provider = json!({
        "name": "bench", "issuer": "https://issuer.example", "audiences": ["api"],
        "algorithms": ["RS256"], "jwks": {"inline": {"keys": [key.public_jwk()]}}
    });
    let record = store["keys"][0].to_string();
    let cases = [
        (
            "jwt_cached",
            json!({"providers": [provider]}),
            "authorization",
            format!("Bearer {token}"),
        ),
        (
            "api_key_polled_store",
            json!({"api_keys": {"store": {"inline": store}},
            "sources": [{"type": "header", "name": "x-api-key"}]}),
            "x-api-key",
            api_key.secret.clone(),
        ),
        (
            "api_key_lookup_warm",
            json!({"api_keys": {"store": {"lookup": {"cluster": "keys", "path": "/keys/{hash}"}}},
            "sources": [{"type": "header", "name": "x-api-key"}]}),
            "x-api-key",
            api_key.secret.clone(),
        ),
    ];
    let path = "/v1/acme/datasets/sales";
    let gateways: Vec<Case<'_>> = cases
        .iter()
        .map(|(name, config, header, value)| {
            let gateway = Gateway::from_json(&config.to_string()).expect("config");
            let headers = [
                (":method", "GET"),
                (":path", path),
                (":authority", "127.0.0.1:10000"),
                ("user-agent", "wrk"),
                (*header, value.as_str()),
            ];
            (*name, gateway, headers)
        })
        .collect();
    let mut rounds: Vec<Vec<u64>> = vec![Vec::new(); gateways.len()];
    for _ in 0..ROUNDS {
        for (i, (name, gateway, headers)) in gateways.iter().enumerate() {
            let mut rates = MemoryRateStore::default();
            let request = Request {
                method: "GET",
                path,
                headers,
                peer: Some([127, 0, 0, 1].into()),
                now_ms: now * 1000,
                sample: 0,
            };
            // The first lookup is answered (the key service's record): the loop runs warm.
            let first = match gateway.decide(&request, &mut rates) {
                Decision::Call(_) => gateway.on_call(&request, 200, record.as_bytes(), &mut rates),
                d => d,
            };
            assert!(first.is_forward(), "{name}");
            let start = Instant::now();
            let mut n: u64 = 0;
            while start.elapsed().as_millis() < budget_ms / ROUNDS {
                for _ in 0..100 {
                    let d = gateway.decide(std::hint::black_box(&request), &mut rates);
                    std::hint::black_box(d);
                }
                n += 100;
            }
            rounds[i].push((start.elapsed().as_nanos() / u128::from(n)) as u64);
        }
    }
    for ((name, _, _), mut ns) in gateways.iter().zip(rounds) {
        let all = ns.clone();
        ns.sort_unstable();
        println!(
            "{}",
            json!({"case": name, "ns_per_decision": ns[ns.len() / 2], "rounds": all})
        );
    }
}
