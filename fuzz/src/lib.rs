//! Bodies of the cargo-fuzz targets, as ordinary functions.
//!
//! The targets in `fuzz_targets/` only hand their input to these. Keeping the bodies here lets
//! the main crate's `tests/fuzz_bodies.rs` build them and run them on the seeds in
//! `fuzz/seeds/`, so they keep compiling against the crate's API although fuzzing itself is not
//! part of CI. Besides panics inside the crate, the `assert!`s below are findings: they state
//! what must hold for any input.

use std::sync::LazyLock;

use serde_json::Value;
use tokenwarden::token::{Limits, UntrustedToken};
use tokenwarden::{ErrorCode, Jwk, JwkSet, Validation, Verifier};

/// RFC 7515 A.1's HMAC key.
const HS256_JWK: &str = r#"{"kty":"oct","alg":"HS256",
    "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;

/// RFC 7515 A.2's RSA public key.
const RS256_JWK: &str = r#"{"kty":"RSA","alg":"RS256","e":"AQAB",
    "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}"#;

/// The RFC 7515 A.1/A.2 tokens expire at 1300819380: verify before that, just after it (inside
/// the default leeway), and at the end of time.
const TIMES: [u64; 3] = [1_300_819_280, 1_300_819_420, u64::MAX];

/// One verifier per fixed key, with the default validation. The RFC's example tokens (the seeds)
/// verify with them, so the fuzzer starts from inputs that reach the claim checks.
static VERIFIERS: LazyLock<[Verifier; 2]> = LazyLock::new(|| {
    [HS256_JWK, RS256_JWK].map(|jwk| {
        let jwk = Jwk::from_value(&serde_json::from_str(jwk).unwrap()).unwrap();
        Verifier::new(JwkSet::from_keys(vec![jwk]).unwrap(), Validation::default())
    })
});

/// Parses and verifies `data` as a compact JWS; answers whether any fixed verifier accepted it.
pub fn verify_token(data: &[u8]) -> bool {
    // Lossy, not `from_utf8`: invalid UTF-8 still exercises the parser (as U+FFFD).
    let token = String::from_utf8_lossy(data);
    let token = token.as_ref();
    if let Ok(u) = UntrustedToken::parse(token, &Limits::default()) {
        assert!(token.starts_with(u.signing_input()));
        assert!(!u.signature().is_empty());
    }
    let mut accepted = false;
    for v in VERIFIERS.iter() {
        let signature_ok = v.verify_signature(token).is_ok();
        for now in TIMES {
            match v.verify(token, now) {
                Ok(verified) => {
                    assert!(
                        signature_ok,
                        "a token verified without its signature holding"
                    );
                    assert!(
                        verified.exp().is_some(),
                        "the default validation requires exp"
                    );
                    accepted = true;
                }
                Err(e) => {
                    // Keys are loaded and valid: a token can never make them unavailable.
                    assert!(
                        !matches!(e.code(), ErrorCode::KeysUnavailable | ErrorCode::InvalidKey),
                        "{e}"
                    );
                    // A message never quotes the token. Only token-shaped inputs count: the
                    // fuzzer also tries the messages' own words as tokens (the first finding
                    // of `make fuzz` was "a JWS must have exactly three dot-separated parts").
                    let token_shaped = token.len() >= 16 && token.matches('.').count() >= 2;
                    assert!(!token_shaped || !e.message().contains(token), "{e}");
                }
            }
        }
    }
    accepted
}

/// Loads `data` as a JWK Set, as a single JWK and as a PEM public key; answers how many keys
/// loaded in all.
pub fn jwks(data: &[u8]) -> usize {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let mut loaded = 0;
    match JwkSet::from_json_lenient(text) {
        Ok(set) => {
            for k in set.keys() {
                assert_eq!(k.key().thumbprint().len(), 43);
            }
            for s in set.skipped() {
                assert_eq!(s.error.code(), ErrorCode::InvalidKey);
            }
            // The strict loader fails exactly when the lenient one skipped something.
            assert_eq!(JwkSet::from_json(text).is_ok(), set.skipped().is_empty());
            loaded += set.len();
        }
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidKey),
    }
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
        match Jwk::from_value(&v) {
            Ok(k) => {
                assert_eq!(k.key().thumbprint().len(), 43);
                loaded += 1;
            }
            Err(e) => assert_eq!(e.code(), ErrorCode::InvalidKey),
        }
    }
    match Jwk::from_pem(text) {
        Ok(k) => {
            assert_eq!(k.key().thumbprint().len(), 43);
            loaded += 1;
        }
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidKey),
    }
    loaded
}

thread_local! {
    /// A fixed gateway for the decision target: an HS256 provider (RFC 7515 A.1's key, tokens
    /// of any issuer), an API key store holding one minted key, a route policy with scoped
    /// roles, binds and credential kinds, an error catalogue, a rate limit and an
    /// introspection endpoint. Per thread: a gateway holds its caches in `RefCell`s.
    static GATEWAY: (tokenwarden::gateway::Gateway, String) = fixed_gateway();
}

fn fixed_gateway() -> (tokenwarden::gateway::Gateway, String) {
    use tokenwarden::apikey::{Environment, KeyPrefix, KeyStore, KeyType, NewKey};
    let mut store = KeyStore::new();
    let key = store
        .create(
            &KeyPrefix::standard(KeyType::Secret, Environment::Live),
            NewKey {
                name: "fuzz".into(),
                permissions: vec!["read:datasets".into()],
                attributes: [("org".to_string(), vec!["acme".to_string()])].into(),
                ..NewKey::default()
            },
            1_700_000_000,
        )
        .unwrap();
    let store: Value = serde_json::from_str(&store.to_json().unwrap()).unwrap();
    let hs: Value = serde_json::from_str(HS256_JWK).unwrap();
    let config = serde_json::json!({
        "providers": [{"name": "hs", "jwks": {"inline": {"keys": [hs]}}, "denied_claim": "deny",
            "claim_headers": {"org": "x-org"}}],
        "api_keys": {"store": {"inline": store}, "environments": ["live", "test"],
            "prefixes": [{"prefix": "dp_live_", "type": "rk", "env": "live", "imported": {}}]},
        "introspection": {"endpoint": {"url": "https://as.test/introspect"}, "client_id": "gw", "client_secret": "s"},
        "sources": [{"type": "bearer"}, {"type": "header", "name": "x-api-key"},
            {"type": "query", "name": "api_key"}, {"type": "cookie", "name": "session"}],
        "client_ip": {"header": "x-forwarded-for", "trusted_hops": 1},
        "rate_limits": [{"limit": "5/minute"}],
        "policy": {"unmatched": "deny", "rules": [
            {"name": "health", "method": "GET", "path": "/health", "anonymous": true},
            {"name": "data", "method": "GET", "path": "/v1/{org}/{project}/datasets/{dataset}",
             "require": ["read:datasets.{dataset}"], "bind": {"org": "org"}},
            {"name": "keys", "method": "*", "path": "/keys/{rest*}", "credentials": ["api_key"]},
            {"name": "at", "path": "/at", "typ": ["at+jwt"]},
            {"name": "me", "path": "/me"}
        ]},
        "errors": {"401": {"code": "UNAUTHORIZED", "message": "{error} {realm} {status}"},
            "rate_limited": {"code": "SLOW", "message": "retry after {retry_after}"}}
    });
    let gw = tokenwarden::gateway::Gateway::from_json(&config.to_string()).unwrap();
    (gw, key.secret)
}

/// Decides an arbitrary request: the first line is `METHOD PATH`, every other `name: value` a
/// header, up to a blank line; `$KEY` anywhere stands for the store's key, so inputs reach the
/// key checks. A decision that asks for a call (an opaque token's introspection) is finished with
/// the text after the blank line as the endpoint's answer, its status from an `x-fuzz-status`
/// header (200 by default). Whatever the request and the answer, the decision is well-formed: a
/// refusal has an error status, a JSON body and clean headers; a forward sets only clean headers;
/// a failed call's log reason never quotes the answer. Answers whether a decision forwarded.
pub fn gateway_decide(data: &[u8]) -> bool {
    GATEWAY.with(|(gw, key)| decide_one(gw, key, data))
}

fn decide_one(gw: &tokenwarden::gateway::Gateway, key: &str, data: &[u8]) -> bool {
    use tokenwarden::gateway::{Decision, MemoryRateStore, Request};
    let text = String::from_utf8_lossy(data).replace("$KEY", key);
    let (head, answer) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or((first, "/"));
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim_start()))
        .collect();
    let status = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-fuzz-status"))
        .and_then(|(_, v)| v.parse::<u16>().ok())
        .unwrap_or(200);
    let mut rates = MemoryRateStore::default();
    let mut forwarded = false;
    for now_ms in [1_700_000_000_000, 1_300_819_280_000] {
        let request = Request {
            method,
            path,
            headers: &headers,
            peer: Some("203.0.113.9".parse().unwrap()),
            now_ms,
            sample: 0,
        };
        let decision = gw.decide(&request, &mut rates);
        forwarded |= well_formed(&decision);
        if let Decision::Call(_) = decision {
            let answered = gw.on_call(&request, status, answer.as_bytes(), &mut rates);
            assert!(
                !matches!(answered, Decision::Call(_)),
                "one call per decision"
            );
            let outcome = answered
                .report()
                .and_then(|r| r.call.clone())
                .expect("a call's outcome");
            if let Some(why) = &outcome.failed {
                assert!(
                    answer.len() < 8 || !why.contains(answer),
                    "the failure reason does not quote the answer"
                );
            }
            forwarded |= well_formed(&answered);
        }
    }
    forwarded
}

/// Asserts what every final decision must be; `true` if it forwards.
fn well_formed(decision: &tokenwarden::gateway::Decision) -> bool {
    use tokenwarden::gateway::Decision;
    let clean = |v: &str| !v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    match decision {
        Decision::Forward(f) => {
            for (name, value) in &f.upstream_set {
                assert!(clean(name) && clean(value), "a clean upstream header");
            }
            if let Some(p) = &f.upstream_path {
                assert!(p.starts_with('/'), "an upstream path is a path");
            }
            assert!(f.report.code.is_none());
            true
        }
        Decision::Respond(r) => {
            assert!(
                matches!(r.status, 400 | 401 | 403 | 429 | 502 | 503),
                "status {}",
                r.status
            );
            assert!(
                serde_json::from_str::<Value>(&r.body).is_ok(),
                "a JSON body"
            );
            for (name, value) in &r.headers {
                assert!(clean(name) && clean(value), "a clean response header");
            }
            assert!(r.report.code.is_some());
            false
        }
        _ => false,
    }
}

/// An arbitrary gateway configuration: loaded, or refused as `invalid_config` without quoting
/// any secret member of the document (an HMAC `k`, a private JWK member, a client secret).
/// Identifiers (a `kid`, a role or rule name) are public and may be named.
pub fn gateway_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match tokenwarden::gateway::Gateway::from_json(&text) {
        Ok(mut gw) => {
            let _ = gw.limitations(tokenwarden::gateway::Host::Envoy);
            let _ = gw.due_fetches(0);
        }
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::InvalidConfig);
            let mut secrets = Vec::new();
            if let Ok(doc) = serde_json::from_str::<Value>(&text) {
                secret_members(&doc, &mut secrets);
            }
            for secret in secrets.iter().filter(|s| s.len() >= 8) {
                assert!(
                    !e.message().contains(secret.as_str()),
                    "an error quotes a secret"
                );
            }
        }
    }
}

/// The string values of members that hold secrets, anywhere in `v`.
fn secret_members(v: &Value, out: &mut Vec<String>) {
    const SECRET: [&str; 8] = ["k", "d", "p", "q", "dp", "dq", "qi", "client_secret"];
    match v {
        Value::Object(m) => {
            for (name, value) in m {
                match value {
                    Value::String(s) if SECRET.contains(&name.as_str()) => out.push(s.clone()),
                    other => secret_members(other, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| secret_members(x, out)),
        _ => {}
    }
}

/// An arbitrary key store document, and the store's key checks against it.
pub fn key_store(data: &[u8]) {
    use tokenwarden::apikey::{CheckContext, Environment, KeyPrefixes, KeyStore};
    let text = String::from_utf8_lossy(data);
    match KeyStore::from_json(&text) {
        Ok(store) => {
            let again = KeyStore::from_json(&store.to_json().unwrap()).unwrap();
            assert_eq!(
                again.to_json().unwrap(),
                store.to_json().unwrap(),
                "a stable round trip"
            );
            let prefixes = KeyPrefixes::standard();
            let ctx = CheckContext {
                now: 1_700_000_000,
                client_ip: None,
                accepted_envs: &[Environment::Live, Environment::Test],
                prefixes: &prefixes,
            };
            for line in text.lines().take(4) {
                if let Ok(record) = store.check(line.trim(), &ctx) {
                    assert!(!record.revoked, "a revoked key passed");
                    assert!(
                        record.expires_at.is_none_or(|at| at > 1_700_000_000),
                        "an expired key passed"
                    );
                }
            }
        }
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidConfig),
    }
}

/// An arbitrary route policy (after the first line) evaluated on the first line's `METHOD PATH`.
pub fn policy(data: &[u8]) {
    use tokenwarden::policy::{Grant, Policy};
    let text = String::from_utf8_lossy(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (method, path) = first.split_once(' ').unwrap_or((first, "/"));
    let policy = match Policy::from_json(rest) {
        Ok(p) => p,
        Err(e) => return assert_eq!(e.code(), ErrorCode::InvalidConfig),
    };
    let grants = [
        Grant::default(),
        Grant::from_scopes(["*"]),
        Grant {
            roles: vec!["admin@org=acme".into(), "viewer".into()],
            ..Grant::from_scopes(["read:datasets.sales", "write"])
        }
        .with_denied(["delete:*"]),
    ];
    for grant in &grants {
        if let Err(e) = policy.evaluate(method, path, grant) {
            assert!(matches!(
                e.code(),
                ErrorCode::InvalidRequest | ErrorCode::AccessDenied | ErrorCode::InsufficientScope
            ));
        }
    }
    let _ = policy.evaluate_anonymous(method, path);
}

/// Arbitrary answers of an authorization server: token, introspection, discovery and error
/// responses, each at a success and an error status.
pub fn oauth_responses(data: &[u8]) {
    use tokenwarden::oauth::discovery::ProviderMetadata;
    use tokenwarden::oauth::introspection::Introspection;
    use tokenwarden::oauth::token_response::parse_token_response;
    for status in [200, 400, 401, 503] {
        if let Ok(t) = parse_token_response(status, data) {
            assert_eq!(status, 200, "only a 200 carries tokens");
            assert!(!t.access_token.is_empty());
        }
        if let Ok(i) = Introspection::parse(status, data, 1_700_000_000) {
            assert_eq!(status, 200);
            let _ = i.scopes().count();
        }
        let _ = ProviderMetadata::parse(status, data, "https://as.example");
    }
}

/// An arbitrary webhook signature header (first line) over an arbitrary body (the rest).
pub fn webhook(data: &[u8]) {
    use tokenwarden::webhook::WebhookVerifier;
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let header = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    let verifier = WebhookVerifier::new(&[b"fuzz-webhook-secret-0123456789"]).unwrap();
    assert!(verifier.verify(&header, body).is_err() || header.starts_with("sha256="));
    let (timestamp, body) = match body.iter().position(|b| *b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&body[..i]).into_owned(),
            &body[i + 1..],
        ),
        None => (String::new(), body),
    };
    let _ = verifier.verify_timestamped(&header, &timestamp, body, 1_700_000_000);
}

/// Arbitrary CIDR entries and rate-limit strings: parsed, or refused with a stable code.
pub fn cidr_and_rate_limit(data: &[u8]) {
    use tokenwarden::cidr::Cidr;
    use tokenwarden::ratelimit::RateLimit;
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = text.parse::<Cidr>() {
        assert!(
            c.contains(c.network()),
            "a block holds its own network address"
        );
    }
    if let Ok(l) = text.parse::<RateLimit>() {
        assert!(l.count() >= 1 && l.period_secs() >= 1);
        let again: RateLimit = l.to_string().parse().unwrap();
        assert_eq!(again, l, "a limit reads back as written");
    }
}
