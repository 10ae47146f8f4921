//! Verification in a timed loop, built natively and for wasm32-wasip1 so the cost at the edge
//! (V8 running the wasm) can be compared with native on the same machine. `scripts/bench.sh`
//! runs both; each line printed is `{"alg":..,"ns_per_verify":..,"iterations":..}`.

use std::time::Instant;

use serde_json::{json, Map};
use tokenwarden::sign::SigningKey;
use tokenwarden::{Algorithm, JwkSet, Validation, Verifier};

fn main() {
    let budget_ms: u128 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1500);
    let now = 1_800_000_000u64;
    let claims: Map<String, serde_json::Value> = json!({
        "iss": "https://issuer.example", "sub": "user_8f3k29d", "aud": "https://api.example",
        "iat": now, "exp": now + 3600, "scope": "read:datasets execute:queries", "org": "acme"
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let key = SigningKey::generate(alg, Some("k".into())).expect("key");
        let token = key.mint(&claims, Some("JWT"), &Map::new()).expect("mint");
        let validation = Validation {
            issuers: vec!["https://issuer.example".into()],
            audiences: vec!["https://api.example".into()],
            ..Validation::default()
        };
        let v = Verifier::new(
            JwkSet::from_keys(vec![key.verifying_jwk().expect("jwk")]).expect("set"),
            validation,
        );
        assert!(v.verify(&token, now).is_ok());
        // Warm up, then run batches until the time budget is spent.
        for _ in 0..10 {
            let _ = v.verify(&token, now);
        }
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed().as_millis() < budget_ms {
            for _ in 0..10 {
                let _ = std::hint::black_box(v.verify(std::hint::black_box(&token), now));
            }
            n += 10;
        }
        let ns = start.elapsed().as_nanos() / u128::from(n);
        println!(
            "{}",
            json!({"alg": alg.name(), "ns_per_verify": ns as u64, "iterations": n})
        );
    }
}
