//! Verification cost per algorithm: tokenwarden and the `jsonwebtoken` crate on the same tokens,
//! the same keys and the same checks (signature, exp, iss, aud), in one run.
//!
//! `scripts/bench.sh` turns criterion's medians into docs/benchmarks.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jsonwebtoken as jwt;
use serde_json::{json, Map, Value};
use tokenwarden::sign::SigningKey;
use tokenwarden::{Algorithm, JwkSet, Validation, Verifier};

const ALGS: [Algorithm; 7] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::ES512,
];

fn claims(now: u64) -> Map<String, Value> {
    // About 300 bytes once signed with HS256, like a typical access token.
    json!({
        "iss": "https://issuer.example",
        "sub": "user_8f3k29d",
        "aud": "https://api.example",
        "iat": now,
        "exp": now + 3600,
        "scope": "read:datasets execute:queries",
        "org": "acme"
    })
    .as_object()
    .cloned()
    .unwrap_or_default()
}

fn peer_key(key: &SigningKey) -> Option<(jwt::DecodingKey, jwt::Algorithm)> {
    let jwk = key.public_jwk();
    let s = |n: &str| jwk[n].as_str().unwrap_or_default().to_owned();
    Some(match key.alg() {
        Algorithm::HS256 => {
            let k =
                <base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(&s("k")).ok()?;
            (jwt::DecodingKey::from_secret(&k), jwt::Algorithm::HS256)
        }
        Algorithm::RS256 => (
            jwt::DecodingKey::from_rsa_components(&s("n"), &s("e")).ok()?,
            jwt::Algorithm::RS256,
        ),
        Algorithm::PS256 => (
            jwt::DecodingKey::from_rsa_components(&s("n"), &s("e")).ok()?,
            jwt::Algorithm::PS256,
        ),
        Algorithm::ES256 => (
            jwt::DecodingKey::from_ec_components(&s("x"), &s("y")).ok()?,
            jwt::Algorithm::ES256,
        ),
        Algorithm::ES384 => (
            jwt::DecodingKey::from_ec_components(&s("x"), &s("y")).ok()?,
            jwt::Algorithm::ES384,
        ),
        Algorithm::EdDSA => (
            jwt::DecodingKey::from_ed_components(&s("x")).ok()?,
            jwt::Algorithm::EdDSA,
        ),
        _ => return None,
    })
}

fn bench(c: &mut Criterion) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for alg in ALGS {
        let key = SigningKey::generate(alg, Some("bench".into())).expect("key");
        let token = key
            .mint(&claims(now), Some("JWT"), &Map::new())
            .expect("token");
        let validation = Validation {
            algorithms: vec![alg],
            issuers: vec!["https://issuer.example".into()],
            audiences: vec!["https://api.example".into()],
            ..Validation::default()
        };
        let ours = Verifier::new(
            JwkSet::from_keys(vec![key.verifying_jwk().expect("jwk")]).expect("set"),
            validation,
        );
        assert!(ours.verify(&token, now).is_ok(), "{alg}");

        let mut group = c.benchmark_group(format!("verify/{alg}"));
        group.bench_function("tokenwarden", |b| {
            b.iter(|| ours.verify(black_box(&token), now))
        });
        if let Some((peer, peer_alg)) = peer_key(&key) {
            let mut v = jwt::Validation::new(peer_alg);
            v.set_issuer(&["https://issuer.example"]);
            v.set_audience(&["https://api.example"]);
            assert!(
                jwt::decode::<Value>(&token, &peer, &v).is_ok(),
                "jsonwebtoken {alg}"
            );
            group.bench_function("jsonwebtoken", |b| {
                b.iter(|| jwt::decode::<Value>(black_box(&token), &peer, &v))
            });
        }
        group.finish();
        println!("token bytes {alg}: {}", token.len());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
