//! One gateway decision in a timed loop (a cached RS256 token and an API key, as `make bench`
//! sends them to Envoy), built natively and for wasm32-wasip1: the filter's own per-request work
//! apart from the V8 crossing and Envoy's host calls. Prints `{"case":..,"ns_per_decision":..}`.

use std::time::Instant;

use serde_json::{json, Map};
use tokenwarden::apikey::{Environment, KeyPrefix, KeyStore, KeyType, NewKey};
use tokenwarden::gateway::{Gateway, MemoryRateStore, Request};
use tokenwarden::sign::SigningKey;
use tokenwarden::Algorithm;

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
    let cases = [
        (
            "jwt_cached",
            json!({"providers": [provider]}),
            "authorization",
            format!("Bearer {token}"),
        ),
        (
            "api_key",
            json!({"api_keys": {"store": {"inline": store}},
            "sources": [{"type": "header", "name": "x-api-key"}]}),
            "x-api-key",
            api_key.secret.clone(),
        ),
    ];
    for (name, config, header, value) in cases {
        let gateway = Gateway::from_json(&config.to_string()).expect("config");
        let mut rates = MemoryRateStore::default();
        let headers = [
            (":method", "GET"),
            (":path", "/v1/acme/datasets/sales"),
            (":authority", "127.0.0.1:10000"),
            ("user-agent", "wrk"),
            (header, value.as_str()),
        ];
        let request = Request {
            method: "GET",
            path: "/v1/acme/datasets/sales",
            headers: &headers,
            peer: Some([127, 0, 0, 1].into()),
            now_ms: now * 1000,
            sample: 0,
        };
        assert!(gateway.decide(&request, &mut rates).is_forward(), "{name}");
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed().as_millis() < budget_ms {
            for _ in 0..100 {
                std::hint::black_box(gateway.decide(std::hint::black_box(&request), &mut rates));
            }
            n += 100;
        }
        let ns = start.elapsed().as_nanos() / u128::from(n);
        println!(
            "{}",
            json!({"case": name, "ns_per_decision": ns as u64, "iterations": n})
        );
    }
}
