//! The shared edge decision, request by request: what the Envoy filter and the Worker will do.

use serde_json::{json, Map, Value};
use tokenwarden::apikey::{Environment, KeyPrefix, KeyStore, KeyType, NewKey};
use tokenwarden::gateway::{
    CacheUse, Call, Decision, Gateway, MemoryRateStore, Request, Validators,
};
use tokenwarden::sign::SigningKey;
use tokenwarden::Algorithm;
use tokenwarden::ErrorCode;

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://auth.test";

struct Fixture {
    key: SigningKey,
    live: String,
    test_key: String,
    limited: String,
    pinned: String,
    store: Value,
}

fn fixture() -> Fixture {
    let key = SigningKey::generate(Algorithm::ES256, Some("k1".into())).unwrap();
    let mut store = KeyStore::new();
    let prefix = |t, e| KeyPrefix::standard(t, e);
    let live = store
        .create(
            &prefix(KeyType::Restricted, Environment::Live),
            NewKey {
                name: "dashboard".into(),
                permissions: vec!["read:datasets".into()],
                datasets: vec!["sales".into()],
                ..NewKey::default()
            },
            NOW - 10,
        )
        .unwrap();
    let test_key = store
        .create(
            &prefix(KeyType::Secret, Environment::Test),
            NewKey {
                name: "ci".into(),
                ..NewKey::default()
            },
            NOW - 10,
        )
        .unwrap();
    let limited = store
        .create(
            &prefix(KeyType::Secret, Environment::Live),
            NewKey {
                name: "limited".into(),
                rate_limit: Some("2/minute".into()),
                ..NewKey::default()
            },
            NOW - 10,
        )
        .unwrap();
    let pinned = store
        .create(
            &prefix(KeyType::Secret, Environment::Live),
            NewKey {
                name: "pinned".into(),
                allowed_ips: vec!["203.0.113.0/24".into()],
                ..NewKey::default()
            },
            NOW - 10,
        )
        .unwrap();
    Fixture {
        store: serde_json::from_str(&store.to_json().unwrap()).unwrap(),
        key,
        live: live.secret,
        test_key: test_key.secret,
        limited: limited.secret,
        pinned: pinned.secret,
    }
}

fn config(f: &Fixture, extra: Value) -> Value {
    let mut c = json!({
        "realm": "datasets-api",
        "providers": [{
            "name": "idp", "issuer": ISS, "audiences": ["api"],
            "jwks": {"inline": {"keys": [f.key.public_jwk()]}},
            "claim_headers": {"org": "x-auth-org"}
        }],
        "api_keys": {"store": {"inline": f.store}, "environments": ["live"]},
        "sources": [{"type": "bearer"}, {"type": "header", "name": "x-api-key"}, {"type": "query", "name": "api_key"}],
        "client_ip": {"header": "x-forwarded-for", "trusted_hops": 1},
        "policy": {
            "rules": [
                {"name": "health", "method": "GET", "path": "/health", "anonymous": true},
                {"name": "datasets-read", "method": "GET", "path": "/v1/{org}/datasets/{dataset}", "require": ["read:datasets.{dataset}"]},
                {"name": "admin", "method": "*", "path": "/admin/{rest*}", "require": ["manage:organization"]}
            ],
            "unmatched": "authenticated"
        }
    });
    if let (Some(m), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    c
}

fn token(f: &Fixture, claims: Value) -> String {
    let mut base: Map<String, Value> = json!({"iss": ISS, "aud": "api", "sub": "user_1", "iat": NOW, "exp": NOW + 600, "scope": "read:datasets.sales", "org": "acme"})
        .as_object()
        .cloned()
        .unwrap();
    for (k, v) in claims.as_object().unwrap() {
        if v.is_null() {
            base.remove(k);
        } else {
            base.insert(k.clone(), v.clone());
        }
    }
    f.key.mint(&base, Some("at+jwt"), &Map::new()).unwrap()
}

/// A decision with every part a test looks at in one place: `allowed` for a forward (status
/// 200), the reply's status for a refusal, status 0 while a call (introspection, key lookup)
/// is pending.
#[derive(Debug)]
struct Seen {
    allowed: bool,
    status: u16,
    error: Option<ErrorCode>,
    upstream_set: Vec<(String, String)>,
    upstream_remove: Vec<String>,
    upstream_path: Option<String>,
    response_headers: Vec<(String, String)>,
    body: String,
    refetch: Option<String>,
    provider: Option<String>,
    audit: Option<String>,
    cache_hit: bool,
    cache_miss: bool,
    asks: Option<Call>,
}

fn seen(d: Decision) -> Seen {
    let report = d.report().cloned().unwrap_or_default();
    let mut s = Seen {
        allowed: false,
        status: 0,
        error: report.code,
        upstream_set: Vec::new(),
        upstream_remove: Vec::new(),
        upstream_path: None,
        response_headers: Vec::new(),
        body: String::new(),
        refetch: report.refetch.map(|id| id.to_string()),
        provider: report.provider,
        audit: report.audit.map(|e| e.to_json_line()),
        cache_hit: report.cache == CacheUse::Hit,
        cache_miss: report.cache == CacheUse::Miss,
        asks: None,
    };
    match d {
        Decision::Forward(f) => {
            s.allowed = true;
            s.status = 200;
            s.upstream_set = f.upstream_set;
            s.upstream_remove = f.upstream_remove;
            s.upstream_path = f.upstream_path;
            s.response_headers = f.response_headers;
        }
        Decision::Respond(r) => {
            s.status = r.status;
            s.response_headers = r.headers;
            s.body = r.body;
        }
        Decision::Call(c) => s.asks = Some(c),
        Decision::Verify(_) => panic!("no native crypto was offered"),
    }
    s
}

fn call(
    gw: &Gateway,
    store: &mut MemoryRateStore,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    now: u64,
) -> Seen {
    seen(gw.decide(
        &Request {
            method,
            path,
            headers,
            peer: Some("10.0.0.2".parse().unwrap()),
            now_ms: now * 1000,
            sample: 0,
        },
        store,
    ))
}

fn code(d: &Seen) -> &'static str {
    d.error.map(ErrorCode::as_str).unwrap_or("allowed")
}

fn header<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

const XFF: (&str, &str) = ("x-forwarded-for", "203.0.113.7");

#[test]
fn jwt_requests() {
    let f = fixture();
    let gw = Gateway::from_json(&config(&f, json!({})).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let t = token(&f, json!({}));
    let auth = format!("Bearer {t}");
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/sales",
        &[
            ("authorization", &auth),
            ("x-auth-sub", "admin"),
            ("X-Auth-Org", "evil"),
            XFF,
        ],
        NOW,
    );
    assert!(d.allowed, "{:?}", d.error);
    assert_eq!(d.provider.as_deref(), Some("idp"));
    assert_eq!(header(&d.upstream_set, "x-auth-sub"), Some("user_1"));
    assert_eq!(
        header(&d.upstream_set, "x-auth-scopes"),
        Some("read:datasets.sales")
    );
    assert_eq!(header(&d.upstream_set, "x-auth-org"), Some("acme"));
    assert_eq!(
        header(&d.upstream_set, "x-auth-rule"),
        Some("datasets-read")
    );
    assert_eq!(header(&d.upstream_set, "x-auth-dataset"), Some("sales"));
    assert_eq!(header(&d.upstream_set, "x-auth-credential"), Some("jwt"));
    assert!(
        d.upstream_remove.iter().any(|h| h == "x-auth-sub"),
        "forged identity headers must be removed"
    );
    assert!(d.upstream_remove.iter().any(|h| h == "x-auth-org"));
    assert!(
        !d.upstream_remove.iter().any(|h| h == "x-auth-key-id"),
        "a header the request does not carry costs the host no call"
    );
    let audit: Value = serde_json::from_str(d.audit.as_deref().unwrap()).unwrap();
    assert_eq!(audit["sub"], "user_1");
    assert!(
        !d.audit.as_ref().unwrap().contains(&t),
        "the audit line must not carry the token"
    );

    let deny = |claims: Value, now: u64| {
        code(&call(
            &gw,
            &mut MemoryRateStore::default(),
            "GET",
            "/v1/acme/datasets/sales",
            &[
                ("authorization", &format!("Bearer {}", token(&f, claims))),
                XFF,
            ],
            now,
        ))
    };
    assert_eq!(deny(json!({}), NOW + 600 + 61), "expired_token");
    assert_eq!(deny(json!({"nbf": NOW + 3600}), NOW), "token_not_yet_valid");
    assert_eq!(deny(json!({"aud": "other"}), NOW), "invalid_audience");
    assert_eq!(
        deny(json!({"iss": "https://evil.test"}), NOW),
        "invalid_issuer"
    );
    let unknown_issuer = call(
        &gw,
        &mut MemoryRateStore::default(),
        "GET",
        "/v1/acme/datasets/sales",
        &[(
            "authorization",
            &format!("Bearer {}", token(&f, json!({"iss": "https://evil.test"}))),
        )],
        NOW,
    );
    assert_eq!(unknown_issuer.provider, None, "no provider was reached");
    assert_eq!(
        deny(json!({"scope": "read:datasets.hr"}), NOW),
        "insufficient_scope"
    );
    let (h, _) = t.rsplit_once('.').unwrap();
    let tampered = format!("Bearer {h}.{}", "A".repeat(86));
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/sales",
        &[("authorization", &tampered), XFF],
        NOW,
    );
    assert_eq!(code(&d), "invalid_signature");
    assert_eq!(
        d.provider.as_deref(),
        Some("idp"),
        "refusals are counted per provider"
    );
    assert_eq!(d.status, 401);
    assert!(header(&d.response_headers, "www-authenticate")
        .unwrap()
        .starts_with("Bearer realm=\"datasets-api\", error=\"invalid_token\""));
    let body: Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(body["error"]["code"], "invalid_signature");

    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/hr",
        &[("authorization", &auth), XFF],
        NOW,
    );
    assert_eq!(d.status, 403);
    let www = header(&d.response_headers, "www-authenticate").unwrap();
    assert!(
        www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"read:datasets.hr\""),
        "{www}"
    );
    let big = format!("Bearer eyJ{}.e30.sig", "A".repeat(20_000));
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/v1/acme/datasets/sales",
            &[("authorization", &big), XFF],
            NOW
        )),
        "token_too_large"
    );
}

#[test]
fn api_key_requests() {
    let f = fixture();
    let gw = Gateway::from_json(&config(&f, json!({})).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/sales",
        &[("x-api-key", &f.live), XFF],
        NOW,
    );
    assert!(d.allowed, "{:?}", d.error);
    assert_eq!(d.provider.as_deref(), Some("api_keys"));
    assert!(header(&d.upstream_set, "x-auth-key-id")
        .unwrap()
        .starts_with("key_"));
    assert_eq!(
        header(&d.upstream_set, "x-auth-credential"),
        Some("api_key")
    );
    // The key is limited to the sales dataset: another dataset is denied outright.
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/v1/acme/datasets/hr",
            &[("x-api-key", &f.live), XFF],
            NOW
        )),
        "access_denied"
    );
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/v1/acme/datasets/sales",
            &[("authorization", &format!("Bearer {}", f.test_key)), XFF],
            NOW
        )),
        "wrong_environment"
    );
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("x-api-key", "sk_live_nope"), XFF],
            NOW
        )),
        "invalid_api_key"
    );
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("x-api-key", &f.pinned), XFF],
            NOW
        )),
        "allowed"
    );
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[
                ("x-api-key", &f.pinned),
                ("x-forwarded-for", "198.51.100.1")
            ],
            NOW
        )),
        "ip_not_allowed"
    );
    // The query parameter is a configured source; the key is stripped from the upstream path only when asked.
    let q = format!("/v1/acme/datasets/sales?api_key={}&x=1", f.live);
    let d = call(&gw, &mut rs, "GET", &q, &[XFF], NOW);
    assert!(d.allowed && d.upstream_path.is_none());
    let strip =
        Gateway::from_json(&config(&f, json!({"strip_credential": true})).to_string()).unwrap();
    let d = call(&strip, &mut rs, "GET", &q, &[XFF], NOW);
    assert_eq!(
        d.upstream_path.as_deref(),
        Some("/v1/acme/datasets/sales?x=1")
    );
    let d = call(
        &strip,
        &mut rs,
        "GET",
        "/x",
        &[("x-api-key", &f.live), XFF],
        NOW,
    );
    assert!(d.upstream_remove.iter().any(|h| h == "x-api-key"));
    // Two different credentials are refused.
    let t = format!("Bearer {}", token(&f, json!({})));
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &t), ("x-api-key", &f.live), XFF],
            NOW
        )),
        "invalid_request"
    );
}

#[test]
fn anonymous_routes_preflight_and_missing_credentials() {
    let f = fixture();
    let gw =
        Gateway::from_json(&config(&f, json!({"error_style": "error_list"})).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    assert!(call(&gw, &mut rs, "GET", "/health", &[], NOW).allowed);
    let d = call(&gw, &mut rs, "GET", "/v1/acme/datasets/sales", &[], NOW);
    assert_eq!((d.status, code(&d)), (401, "missing_credentials"));
    assert_eq!(
        header(&d.response_headers, "www-authenticate"),
        Some("Bearer realm=\"datasets-api\"")
    );
    let body: Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(body["errors"][0]["code"], "missing_credentials");
    let pre = call(
        &gw,
        &mut rs,
        "OPTIONS",
        "/v1/acme/datasets/sales",
        &[
            ("origin", "https://app.test"),
            ("access-control-request-method", "GET"),
        ],
        NOW,
    );
    assert!(pre.allowed);
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/v1/acme/../admin/x",
            &[("x-api-key", &f.live), XFF],
            NOW
        )),
        "invalid_request"
    );
}

#[test]
fn rate_limits_reach_429_and_recover() {
    let f = fixture();
    let gw = Gateway::from_json(&config(&f, json!({})).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let go = |rs: &mut MemoryRateStore, now| {
        call(&gw, rs, "GET", "/x", &[("x-api-key", &f.limited), XFF], now)
    };
    assert!(go(&mut rs, NOW).allowed);
    let second = go(&mut rs, NOW);
    assert!(second.allowed);
    assert_eq!(
        header(&second.response_headers, "x-ratelimit-remaining"),
        Some("0")
    );
    let third = go(&mut rs, NOW);
    assert_eq!((third.status, code(&third)), (429, "rate_limited"));
    assert!(header(&third.response_headers, "retry-after").is_some());
    assert_eq!(
        header(&third.response_headers, "x-ratelimit-limit"),
        Some("2")
    );
    assert!(
        go(&mut rs, NOW + 31).allowed,
        "one token refills after period/count"
    );

    let strict =
        Gateway::from_json(&config(&f, json!({"failed_attempts": "3/minute"})).to_string())
            .unwrap();
    let mut rs = MemoryRateStore::default();
    for _ in 0..3 {
        assert_eq!(
            code(&call(
                &strict,
                &mut rs,
                "GET",
                "/x",
                &[("x-api-key", "sk_live_guess"), XFF],
                NOW
            )),
            "invalid_api_key"
        );
    }
    let locked = call(
        &strict,
        &mut rs,
        "GET",
        "/x",
        &[("x-api-key", &f.live), XFF],
        NOW,
    );
    assert_eq!(
        code(&locked),
        "rate_limited",
        "brute force from one address is throttled"
    );
    let other_ip = call(
        &strict,
        &mut rs,
        "GET",
        "/x",
        &[("x-api-key", &f.live), ("x-forwarded-for", "203.0.113.8")],
        NOW,
    );
    assert!(other_ip.allowed);
}

#[test]
fn remote_jwks_rotation_outage_and_discovery() {
    let f = fixture();
    let remote = json!({"providers": [{"name": "idp", "issuer": ISS, "audiences": ["api"],
        "jwks": {"remote": {"cluster": "idp", "path": "/jwks", "refresh_secs": 60, "max_stale_secs": 600}}}]});
    let mut gw = Gateway::from_json(&config(&f, remote).to_string()).unwrap();
    let fetches = gw.fetches();
    assert_eq!(fetches.len(), 1);
    assert_eq!(
        (
            fetches[0].id.to_string().as_str(),
            fetches[0].path.as_str(),
            fetches[0].cluster.as_deref()
        ),
        ("jwks:idp", "/jwks", Some("idp"))
    );
    let mut rs = MemoryRateStore::default();
    let auth = format!("Bearer {}", token(&f, json!({})));
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &auth), XFF],
        NOW,
    );
    assert_eq!(
        (d.status, code(&d)),
        (503, "keys_unavailable"),
        "no keys ever loaded: fail closed"
    );
    let jwks = json!({"keys": [f.key.public_jwk()]}).to_string();
    gw.on_fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        jwks.as_bytes(),
        NOW,
    )
    .unwrap();
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW
        )
        .allowed
    );
    // Garbage and errors keep the last good keys.
    assert!(gw
        .on_fetched("jwks:idp", 200, &Validators::default(), b"<html>", NOW + 60)
        .is_err());
    assert!(gw
        .on_fetched("jwks:idp", 500, &Validators::default(), b"", NOW + 60)
        .is_err());
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW + 100
        )
        .allowed
    );
    // ... but only for max_stale_secs past the refresh interval.
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW + 661
        )),
        "keys_unavailable"
    );
    // A rotated key: unknown kid asks the host to refetch.
    let rotated = SigningKey::generate(Algorithm::ES256, Some("k2".into())).unwrap();
    let claims: Map<String, Value> =
        json!({"iss": ISS, "aud": "api", "sub": "u", "exp": NOW + 600})
            .as_object()
            .cloned()
            .unwrap();
    let new_token = format!(
        "Bearer {}",
        rotated.mint(&claims, None, &Map::new()).unwrap()
    );
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &new_token), XFF],
        NOW + 10,
    );
    assert_eq!(
        (code(&d), d.refetch.as_deref()),
        ("unknown_key", Some("jwks:idp"))
    );
    let both = json!({"keys": [f.key.public_jwk(), rotated.public_jwk()]}).to_string();
    gw.on_fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        both.as_bytes(),
        NOW + 10,
    )
    .unwrap();
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &new_token), XFF],
            NOW + 10
        )
        .allowed
    );

    let disc = json!({"providers": [{"name": "idp", "issuer": ISS, "jwks": {"discovery": {"cluster": "idp"}}}], "keys_unavailable_status": 401});
    let mut gw = Gateway::from_json(&config(&f, disc).to_string()).unwrap();
    assert_eq!(gw.fetches()[0].path, "/.well-known/openid-configuration");
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &auth), XFF],
        NOW,
    );
    assert_eq!((d.status, code(&d)), (401, "keys_unavailable"));
    let doc = json!({"issuer": ISS, "jwks_uri": format!("{ISS}/oauth/jwks"), "authorization_endpoint": format!("{ISS}/auth"), "token_endpoint": format!("{ISS}/token")}).to_string();
    let next = gw
        .on_fetched(
            "discovery:idp",
            200,
            &Validators::default(),
            doc.as_bytes(),
            NOW,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (next.id.to_string().as_str(), next.path.as_str()),
        ("jwks:idp", "/oauth/jwks")
    );
    gw.on_fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        jwks.as_bytes(),
        NOW,
    )
    .unwrap();
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW
        )
        .allowed
    );
    let wrong =
        json!({"issuer": "https://evil.test", "jwks_uri": "https://evil.test/jwks"}).to_string();
    assert!(gw
        .on_fetched(
            "discovery:idp",
            200,
            &Validators::default(),
            wrong.as_bytes(),
            NOW
        )
        .is_err());
}

#[test]
fn bad_configuration_names_the_field() {
    let f = fixture();
    let msg = |c: Value| {
        Gateway::from_json(&c.to_string())
            .unwrap_err()
            .message()
            .to_owned()
    };
    assert!(msg(config(&f, json!({"audiences": ["x"]}))).contains("`audiences`"));
    assert!(msg(json!({"realm": "x"})).contains("providers/api_keys"));
    assert!(msg(config(&f, json!({"rate_limits": [{"limit": "lots"}]})))
        .contains("rate_limits[0].limit"));
    assert!(msg(config(&f, json!({"keys_unavailable_status": 500})))
        .contains("keys_unavailable_status"));
    let weak = json!({"providers": [{"name": "a", "issuer": ISS, "jwks": {"inline": {"keys": [{"kty": "oct", "k": "c2hvcnQ", "kid": "short"}]}}}]});
    let m = msg(config(&f, weak));
    assert!(
        m.contains("providers[0].jwks.inline") && m.contains("short"),
        "{m}"
    );
    assert!(Gateway::from_json("{not json")
        .unwrap_err()
        .message()
        .contains("invalid JSON"));
    let remote_no_cluster =
        json!({"providers": [{"name": "a", "issuer": ISS, "jwks": {"remote": {"path": "/jwks"}}}]});
    assert!(msg(config(&f, remote_no_cluster)).contains("providers[0].jwks"));
}

#[test]
fn verified_tokens_are_cached_but_never_past_exp_or_a_key_change() {
    let f = fixture();
    let remote = json!({"providers": [{"name": "idp", "issuer": ISS, "audiences": ["api"],
        "jwks": {"remote": {"cluster": "idp", "path": "/jwks"}}}], "cache": {"max_entries": 100, "max_ttl_secs": 60}});
    let mut gw = Gateway::from_json(&config(&f, remote).to_string()).unwrap();
    gw.on_fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        json!({"keys": [f.key.public_jwk()]}).to_string().as_bytes(),
        NOW,
    )
    .unwrap();
    let mut rs = MemoryRateStore::default();
    let t = token(&f, json!({"exp": NOW + 30}));
    let auth = format!("Bearer {t}");
    let first = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &auth), XFF],
        NOW,
    );
    assert!(first.allowed && !first.cache_hit && first.cache_miss);
    let second = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &auth), XFF],
        NOW + 1,
    );
    assert!(
        second.allowed && second.cache_hit,
        "a repeated token is not verified again"
    );
    assert!(!second.cache_miss);
    // The same document fetched again (a periodic refresh) keeps the cached verdicts and
    // renews the keys' age: `max_stale_secs` counts from the last good fetch.
    gw.on_fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        json!({"keys": [f.key.public_jwk()]}).to_string().as_bytes(),
        NOW + 1,
    )
    .unwrap();
    let third = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &auth), XFF],
        NOW + 1,
    );
    assert!(
        third.allowed && third.cache_hit,
        "an unchanged refresh keeps the cache"
    );
    let disabled =
        Gateway::from_json(&config(&f, json!({"cache": {"max_entries": 0}})).to_string()).unwrap();
    let t2 = format!("Bearer {}", token(&f, json!({})));
    for _ in 0..2 {
        assert!(
            !call(
                &disabled,
                &mut rs,
                "GET",
                "/x",
                &[("authorization", &t2), XFF],
                NOW
            )
            .cache_hit
        );
    }
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW
        )
        .allowed
    );
    // A cache hit still ends at exp.
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW + 30 + 61
        )),
        "expired_token"
    );
    // After a key rotation that drops the signing key, the cached verdict is gone too.
    let other = SigningKey::generate(Algorithm::ES256, Some("k9".into())).unwrap();
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW + 1
        )
        .allowed
    );
    gw.on_fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        json!({"keys": [other.public_jwk()]}).to_string().as_bytes(),
        NOW + 2,
    )
    .unwrap();
    assert_eq!(
        code(&call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW + 2
        )),
        "unknown_key"
    );
}

#[test]
fn opaque_tokens_are_introspected_and_cached() {
    let f = fixture();
    let extra = json!({"introspection": {"endpoint": {"cluster": "idp", "authority": "auth.test", "path": "/token/introspection"},
        "client_id": "gateway", "client_secret": "s3cret", "cache_secs": 60}});
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let headers = [("authorization", "Bearer opaque-AbC123"), XFF];
    let pending = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/sales",
        &headers,
        NOW,
    );
    let ask = pending.asks.clone().expect("an introspection call");
    assert!(!pending.allowed && pending.status == 0);
    assert_eq!(
        (ask.cluster.as_deref(), ask.path.as_str()),
        (Some("idp"), "/token/introspection")
    );
    let body = ask.body.as_deref().unwrap_or_default();
    assert_eq!((ask.method, ask.purpose), ("POST", "introspection"));
    assert_eq!(ask.max_bytes, 64 * 1024, "hosts read no more of the answer");
    assert!(body.contains("token=opaque-AbC123") && body.contains("token_type_hint=access_token"));
    assert!(ask
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("authorization") && v.starts_with("Basic ")));
    let req = Request {
        method: "GET",
        path: "/v1/acme/datasets/sales",
        headers: &headers,
        peer: None,
        now_ms: NOW * 1000,
        sample: 0,
    };
    let active = json!({"active": true, "sub": "svc_1", "scope": "read:datasets.sales", "exp": NOW + 300, "client_id": "c1"}).to_string();
    let d = seen(gw.on_call(&req, 200, active.as_bytes(), &mut rs));
    assert!(d.allowed, "{:?}", d.error);
    assert_eq!(header(&d.upstream_set, "x-auth-sub"), Some("svc_1"));
    let again = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/sales",
        &headers,
        NOW + 1,
    );
    assert!(
        again.allowed && again.cache_hit && again.asks.is_none(),
        "an active answer is reused"
    );

    let other = [("authorization", "Bearer opaque-revoked"), XFF];
    let req = Request {
        headers: &other,
        ..req
    };
    let d = seen(gw.on_call(&req, 200, br#"{"active": false}"#, &mut rs));
    assert_eq!((d.status, code(&d)), (401, "inactive_token"));
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/sales",
        &other,
        NOW + 1,
    );
    assert_eq!(code(&d), "inactive_token", "the negative answer is reused");
    let third = [("authorization", "Bearer opaque-outage"), XFF];
    let req = Request {
        headers: &third,
        ..req
    };
    let d = seen(gw.on_call(&req, 500, b"", &mut rs));
    assert_eq!((d.status, code(&d)), (503, "keys_unavailable"));
    assert!(
        call(&gw, &mut rs, "GET", "/x", &third, NOW).asks.is_some(),
        "an outage is not cached"
    );
}

#[test]
fn an_endpoint_outage_is_logged_once_when_it_starts_and_once_when_it_ends() {
    let f = fixture();
    let extra = json!({"introspection": {"endpoint": {"cluster": "idp", "path": "/token/introspection"},
        "client_id": "gateway", "client_secret": "s3cret"}});
    let mut gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let mut answer = |gw: &mut Gateway, token: &str, status: u16, body: &[u8]| {
        let headers = [
            ("authorization", format!("Bearer {token}")),
            (XFF.0, XFF.1.into()),
        ];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let req = Request {
            method: "GET",
            path: "/v1/acme/datasets/sales",
            headers: &headers,
            peer: None,
            now_ms: NOW * 1000,
            sample: 0,
        };
        let d = gw.on_call(&req, status, body, &mut rs);
        let outcome = d.report().and_then(|r| r.call.clone()).expect("an outcome");
        (outcome.failed.clone(), gw.record_call(&outcome))
    };
    let (failed, line) = answer(&mut gw, "opaque-1", 500, b"");
    assert_eq!(failed.as_deref(), Some("HTTP 500"));
    let line = line.expect("the outage's start is logged");
    assert!(
        line.starts_with(
            "introspection: call to /token/introspection from cluster idp failed: HTTP 500;"
        ),
        "{line}"
    );
    assert!(
        !line.contains("s3cret") && !line.contains("opaque-1"),
        "{line}"
    );
    let (failed, line) = answer(&mut gw, "opaque-2", 0, b"");
    assert!(failed.is_some_and(|w| w.starts_with("no answer")));
    assert_eq!(line, None, "logged once per outage, not per request");
    let (failed, line) = answer(&mut gw, "opaque-3", 200, b"<html>");
    assert!(failed.is_some() && line.is_none());
    // An inactive token is a verdict: the endpoint answers again.
    let (failed, line) = answer(&mut gw, "opaque-4", 200, br#"{"active": false}"#);
    assert_eq!(failed, None);
    assert_eq!(
        line.as_deref(),
        Some("introspection: answered again after 3 failed call(s)")
    );
    assert_eq!(
        answer(&mut gw, "opaque-5", 200, br#"{"active": false}"#).1,
        None
    );
}

#[test]
fn worker_urls_take_the_source_path_when_they_have_none() {
    let f = fixture();
    // One source entry for both hosts: Envoy reads cluster + path, the Worker url (+ path).
    let extra = json!({"introspection": {"endpoint": {"cluster": "idp", "path": "/oauth/introspect",
        "url": "http://127.0.0.1:9/"}, "client_id": "gateway", "client_secret": "s3cret"}});
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let headers = [("authorization", "Bearer opaque-1"), XFF];
    let d = call(&gw, &mut rs, "GET", "/x", &headers, NOW);
    let ask = d.asks.expect("an introspection call");
    assert_eq!(
        ask.url.as_deref(),
        Some("http://127.0.0.1:9/oauth/introspect")
    );
    let extra = json!({"introspection": {"endpoint": {"url": "http://127.0.0.1:9/introspect/v2",
        "path": "/ignored"}, "client_id": "gateway", "client_secret": "s3cret"}});
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let d = call(&gw, &mut rs, "GET", "/x", &headers, NOW);
    assert_eq!(
        d.asks.unwrap().url.as_deref(),
        Some("http://127.0.0.1:9/introspect/v2"),
        "a URL with a path is used as written"
    );
}

#[test]
fn decisions_serialize_for_the_worker_with_the_error_as_its_code() {
    let f = fixture();
    let gw = Gateway::from_json(&config(&f, json!({})).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let req = Request {
        method: "GET",
        path: "/v1/acme/datasets/sales",
        headers: &[XFF],
        peer: None,
        now_ms: NOW * 1000,
        sample: 0,
    };
    let d = gw.decide(&req, &mut rs);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["action"], json!("respond"));
    assert_eq!(v["status"], json!(401));
    assert_eq!(v["report"]["code"], json!("missing_credentials"));
    assert_eq!(v["body"].as_str(), Some(d.reply().unwrap().body.as_str()));
    assert_eq!(v["headers"][0], json!(["content-type", "application/json"]));
    let t = token(&f, json!({}));
    let auth = format!("Bearer {t}");
    let headers = [("authorization", auth.as_str()), XFF];
    let d = gw.decide(
        &Request {
            headers: &headers,
            ..req
        },
        &mut rs,
    );
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["action"], json!("forward"));
    assert_eq!(v["report"]["code"], json!(null));
    assert_eq!(v["report"]["provider"], json!("idp"));
    assert_eq!(v["report"]["cache"], json!("miss"));
    assert!(v["upstream_set"].as_array().is_some_and(|a| !a.is_empty()));
}

/// Regression (moved from the Envoy filter): the X-RateLimit-* headers of an allowed decision
/// were dropped, so clients only learnt of a limit from the 429 (found by
/// tests/e2e/rate_limits.test.mjs). They travel in the forward, for the upstream's response.
#[test]
fn allowed_decisions_carry_their_rate_limit_headers_for_the_client() {
    let f = fixture();
    let extra = json!({"rate_limits": [{"limit": "5/minute"}]});
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let allowed = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("x-api-key", &f.live), XFF],
        NOW,
    );
    assert!(allowed.allowed, "{:?}", allowed.error);
    assert_eq!(
        header(&allowed.response_headers, "x-ratelimit-limit"),
        Some("5")
    );
    assert_eq!(
        header(&allowed.response_headers, "x-ratelimit-remaining"),
        Some("4")
    );
    // A refusal's headers belong to the local reply.
    let refused = gw.decide(
        &Request {
            method: "GET",
            path: "/x",
            headers: &[("x-api-key", "sk_live_nope"), XFF],
            peer: None,
            now_ms: NOW * 1000,
            sample: 0,
        },
        &mut rs,
    );
    assert!(refused.forward().is_none() && refused.reply().is_some());
}

/// Moved from the Envoy filter: each host is told, once at start, which sources it cannot
/// fetch (Envoy needs a cluster, hosts that fetch by URL need a url).
#[test]
fn each_host_is_told_which_sources_it_cannot_fetch() {
    use tokenwarden::gateway::Host;
    let json = json!({"providers": [
        {"name": "idp", "issuer": "https://idp.test", "jwks": {"remote": {"cluster": "jwks", "path": "/jwks"}}},
        {"name": "w", "issuer": "https://w.test", "jwks": {"remote": {"url": "https://w.test/jwks"}}}
    ]});
    let mut gw = Gateway::from_json(&json.to_string()).unwrap();
    let envoy = gw.limitations(Host::Envoy);
    assert_eq!(envoy.len(), 1, "{envoy:?}");
    assert!(envoy[0].starts_with("jwks:w: no cluster"), "{}", envoy[0]);
    let fetch = gw.limitations(Host::Fetch);
    assert_eq!(fetch.len(), 1, "{fetch:?}");
    assert!(fetch[0].starts_with("jwks:idp: no url"), "{}", fetch[0]);
    // A URL host is never handed the source it cannot fetch.
    let due: Vec<String> = gw.due_fetches(0).iter().map(|f| f.id.to_string()).collect();
    assert_eq!(due, ["jwks:w"]);
}

/// The schedule a URL-fetching host follows (the Worker, verifyJwt): a source down at start
/// is retried after 1, 2, 4 … s, not at `refresh_secs`; a garbage document keeps the last good
/// keys; an unknown `kid` moves the next fetch forward once per cooldown.
#[test]
fn a_fetch_answered_with_an_error_status_is_logged_with_that_status() {
    let f = fixture();
    let remote = json!({"providers": [{"name": "idp", "issuer": ISS, "audiences": ["api"],
        "jwks": {"remote": {"url": "https://keys.test/jwks"}}}]});
    let mut gw = Gateway::from_json(&config(&f, remote).to_string()).unwrap();
    let ms = NOW * 1000;
    assert_eq!(gw.due_fetches(ms).len(), 1);
    // A wrong path is the usual mistake: the log says 404, not the core's reading of it.
    let line = gw.fetched("jwks:idp", 404, &Validators::default(), b"", ms + 10);
    assert!(
        line.as_deref()
            .is_some_and(|l| l.contains("failed: HTTP 404;")),
        "{line:?}"
    );
}

#[test]
fn the_core_schedules_remote_sources_for_url_hosts() {
    let f = fixture();
    let remote = json!({"providers": [{"name": "idp", "issuer": ISS, "audiences": ["api"],
        "jwks": {"remote": {"url": "https://keys.test/jwks", "refresh_secs": 300}}}]});
    let mut gw = Gateway::from_json(&config(&f, remote).to_string()).unwrap();
    let ms = NOW * 1000;
    let due = gw.due_fetches(ms);
    assert_eq!(due.len(), 1);
    assert!(due[0].first, "never loaded: a request may wait for it");
    assert!(gw.due_fetches(ms).is_empty(), "one fetch at a time");
    let line = gw.fetched("jwks:idp", 0, &Validators::default(), b"", ms + 10);
    assert!(line.is_some_and(|l| l.contains("jwks:idp") && l.contains("no answer")));
    assert!(gw.due_fetches(ms + 500).is_empty());
    assert_eq!(gw.due_fetches(ms + 1_010).len(), 1, "retried after 1 s");
    assert_eq!(
        gw.fetched("jwks:idp", 500, &Validators::default(), b"", ms + 1_020),
        None,
        "logged once per outage"
    );
    assert!(gw.due_fetches(ms + 2_000).is_empty());
    assert_eq!(gw.due_fetches(ms + 3_020).len(), 1, "then after 2 s");
    let jwks = json!({"keys": [f.key.public_jwk()]}).to_string();
    let line = gw.fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        jwks.as_bytes(),
        ms + 3_030,
    );
    assert!(line.is_some_and(|l| l.contains("after 2 failed attempt(s)")));
    let mut rs = MemoryRateStore::default();
    let auth = format!("Bearer {}", token(&f, json!({})));
    let ok = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &auth), XFF],
        NOW + 4,
    );
    assert!(ok.allowed, "{:?}", ok.error);
    assert_eq!(gw.poll_timeout(), Some(ms + 3_030 + 300_000));
    // Garbage at the next refresh: the last good keys stay.
    let at = ms + 3_030 + 300_000;
    assert_eq!(gw.due_fetches(at).len(), 1);
    assert!(gw
        .fetched("jwks:idp", 200, &Validators::default(), b"<html>", at)
        .is_some());
    let other = token(&f, json!({"sub": "user_2"}));
    let auth = format!("Bearer {other}");
    let still = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("authorization", &auth), XFF],
        at / 1000,
    );
    assert!(still.allowed, "{:?}", still.error);
    // An unknown kid moves the next fetch to now, then not again within the cooldown.
    assert!(gw.request_refetch("jwks:idp", at + 10));
    assert_eq!(gw.due_fetches(at + 10).len(), 1);
    assert!(!gw.request_refetch("jwks:idp", at + 20), "the fetch is out");
    gw.fetched(
        "jwks:idp",
        200,
        &Validators::default(),
        jwks.as_bytes(),
        at + 100,
    );
    assert!(
        !gw.request_refetch("jwks:idp", at + 3_000),
        "within the cooldown"
    );
    assert!(gw.due_fetches(at + 3_000).is_empty());
    assert!(gw.request_refetch("jwks:idp", at + 10_010));
    assert!(!gw.request_refetch("nope", at + 10_010));
}

/// Conditional fetches: a document loaded with an `ETag` is asked for again with
/// `If-None-Match`, and a `304 Not Modified` keeps it as a fresh load would (usable past the
/// `refresh + max_stale` that would otherwise end it, backoff reset). A `304` to a fetch that
/// asked for none (nothing loaded yet, or no validator to send) is a failure.
#[test]
fn a_304_keeps_the_document_in_use() {
    let f = fixture();
    let remote = json!({"providers": [{"name": "idp", "issuer": ISS, "audiences": ["api"],
        "jwks": {"remote": {"url": "https://keys.test/jwks", "refresh_secs": 60, "max_stale_secs": 60}}}]});
    let cfg = config(&f, remote).to_string();
    let jwks = json!({"keys": [f.key.public_jwk()]}).to_string();
    let v1 = Validators::new(Some("\"v1\""), Some("Tue, 01 Dec 2026 00:00:00 GMT"));
    let none = Validators::default();
    let condition = |gw: &mut Gateway, at: u64| {
        let due = gw.due_fetches(at);
        assert_eq!(due.len(), 1, "due at {at}");
        assert_eq!(header(&due[0].headers, "accept"), Some("application/json"));
        header(&due[0].headers, "if-none-match").map(str::to_owned)
    };
    let mut rs = MemoryRateStore::default();
    let ask = |gw: &Gateway, rs: &mut MemoryRateStore, now: u64| {
        // A token of its own each time: a cached verification would not look at the keys.
        let auth = format!(
            "Bearer {}",
            token(&f, json!({"sub": format!("user_{now}")}))
        );
        call(gw, rs, "GET", "/x", &[("authorization", &auth), XFF], now)
    };
    let ms = NOW * 1000;

    let mut gw = Gateway::from_json(&cfg).unwrap();
    assert_eq!(condition(&mut gw, ms), None);
    let line = gw.fetched("jwks:idp", 304, &v1, b"", ms);
    assert!(
        line.is_some_and(|l| l.contains("304 Not Modified")),
        "a 304 with nothing loaded is a failure"
    );
    assert_eq!(code(&ask(&gw, &mut rs, NOW)), "keys_unavailable");
    let loaded = ms + 1_000;
    assert_eq!(condition(&mut gw, loaded), None, "retried after 1 s");
    gw.fetched("jwks:idp", 200, &v1, jwks.as_bytes(), loaded);
    assert!(ask(&gw, &mut rs, NOW + 1).allowed);
    // The conditional header survives a failed fetch, and a 304 ends the outage.
    let t = loaded + 60_000;
    assert_eq!(condition(&mut gw, t).as_deref(), Some("\"v1\""));
    gw.fetched("jwks:idp", 500, &none, b"", t);
    assert_eq!(condition(&mut gw, t + 1_000).as_deref(), Some("\"v1\""));
    let line = gw.fetched("jwks:idp", 304, &none, b"", t + 1_000);
    assert!(line.is_some_and(|l| l.contains("after 1 failed attempt(s)")));
    assert_eq!(gw.poll_timeout(), Some(t + 61_000), "backoff reset");
    assert_eq!(condition(&mut gw, t + 61_000).as_deref(), Some("\"v1\""));
    assert_eq!(gw.fetched("jwks:idp", 304, &none, b"", t + 61_000), None);
    // Past the first load's refresh + max_stale (120 s), renewed by the 304s.
    let late = NOW + 175;
    assert!(loaded + 120_000 < late * 1000);
    let d = ask(&gw, &mut rs, late);
    assert!(d.allowed, "{:?}", d.error);

    // Loaded without validators: the next fetch asks for none, and a 304 is no answer to it.
    let mut plain = Gateway::from_json(&cfg).unwrap();
    condition(&mut plain, loaded);
    plain.fetched("jwks:idp", 200, &none, jwks.as_bytes(), loaded);
    assert_eq!(condition(&mut plain, t), None);
    assert!(plain.fetched("jwks:idp", 304, &v1, b"", t).is_some());
    let d = ask(&plain, &mut rs, late);
    assert_eq!((d.status, code(&d)), (503, "keys_unavailable"));
}

/// Regression: the gateway told a JWT by its `eyJ` prefix, so a valid JWS whose header JSON
/// starts with white space (RFC 7515 allows it) was refused as malformed.
#[test]
fn a_jws_is_recognised_by_shape_not_by_its_first_bytes() {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use hmac::{Hmac, Mac};
    let secret = b"0123456789abcdef0123456789abcdef";
    let k = Base64UrlUnpadded::encode_string(secret);
    let gw = Gateway::from_json(
        &json!({"providers": [{"name": "hs", "issuer": ISS,
            "jwks": {"inline": {"keys": [{"kty": "oct", "k": k, "kid": "k", "alg": "HS256"}]}}}]})
        .to_string(),
    )
    .unwrap();
    let header = Base64UrlUnpadded::encode_string(b"\n {\"alg\":\"HS256\",\"kid\":\"k\"}");
    let claims = json!({"iss": ISS, "sub": "u", "exp": NOW + 600}).to_string();
    let input = format!(
        "{header}.{}",
        Base64UrlUnpadded::encode_string(claims.as_bytes())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    let token = format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&mac.finalize().into_bytes())
    );
    assert!(!token.starts_with("eyJ"));
    let mut rs = MemoryRateStore::default();
    let auth = format!("Bearer {token}");
    let d = call(&gw, &mut rs, "GET", "/", &[("authorization", &auth)], NOW);
    assert!(d.allowed, "{:?}", d.error);
}

/// Real servers answer the minimal RFC 7662 shape (`active`, `scope`, `exp`, `client_id`,
/// `username`, no `sub`): the caller is forwarded and audited as `username` (then `client_id`),
/// configured members become headers, and `audiences` / `client_ids` refuse a token issued to
/// another client of the server.
#[test]
fn introspected_tokens_forward_an_identity_and_can_require_an_audience_or_client() {
    let gw_with = |extra: Value| {
        let mut i = json!({"endpoint": {"cluster": "idp", "path": "/introspect"},
            "client_id": "gw", "client_secret": "s"});
        i.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Gateway::from_json(&json!({ "introspection": i }).to_string()).unwrap()
    };
    let ask = |gw: &Gateway, token: &str, answer: Value| {
        let auth = format!("Bearer {token}");
        let headers = [
            ("authorization", auth.as_str()),
            ("x-auth-tenant", "forged"),
        ];
        let req = Request {
            method: "GET",
            path: "/",
            headers: &headers,
            peer: None,
            now_ms: NOW * 1000,
            sample: 0,
        };
        let mut rs = MemoryRateStore::default();
        assert!(matches!(gw.decide(&req, &mut rs), Decision::Call(_)));
        seen(gw.on_call(&req, 200, answer.to_string().as_bytes(), &mut rs))
    };
    let minimal = json!({"active": true, "scope": "read", "exp": NOW + 60,
        "client_id": "mobile-app", "username": "jdoe", "tenant": "acme"});
    let gw = gw_with(
        json!({"claim_headers": {"tenant": "x-auth-tenant", "client_id": "x-auth-client"}}),
    );
    let d = ask(&gw, "opaque-1", minimal.clone());
    assert!(d.allowed, "{:?}", d.error);
    assert_eq!(header(&d.upstream_set, "x-auth-sub"), Some("jdoe"));
    assert_eq!(header(&d.upstream_set, "x-auth-tenant"), Some("acme"));
    assert_eq!(header(&d.upstream_set, "x-auth-client"), Some("mobile-app"));
    assert!(
        d.upstream_remove.iter().any(|h| h == "x-auth-tenant"),
        "a forged copy is removed"
    );
    let audit: Value = serde_json::from_str(d.audit.as_deref().unwrap()).unwrap();
    assert_eq!(audit["sub"], json!("jdoe"));
    // Only client_id: that names the caller.
    let d = ask(
        &gw,
        "opaque-2",
        json!({"active": true, "client_id": "svc-7"}),
    );
    assert_eq!(header(&d.upstream_set, "x-auth-sub"), Some("svc-7"));
    // An explicit order.
    let gw = gw_with(json!({"identity": ["client_id"]}));
    let d = ask(&gw, "opaque-3", minimal.clone());
    assert_eq!(header(&d.upstream_set, "x-auth-sub"), Some("mobile-app"));
    // Audience and client requirements.
    let gw = gw_with(json!({"audiences": ["https://api.example"], "client_ids": ["mobile-app"]}));
    let d = ask(&gw, "opaque-4", minimal.clone());
    assert_eq!((d.status, code(&d)), (401, "invalid_audience"));
    let mut with_aud = minimal.clone();
    with_aud["aud"] = json!(["https://other.example", "https://api.example"]);
    assert!(ask(&gw, "opaque-5", with_aud.clone()).allowed);
    with_aud["client_id"] = json!("someone-else");
    let d = ask(&gw, "opaque-6", with_aud);
    assert_eq!((d.status, code(&d)), (401, "invalid_claim"));
    assert!(Gateway::from_json(
        &json!({"introspection": {"endpoint": {"cluster": "idp", "path": "/i"},
            "client_id": "gw", "client_secret": "s", "identity": []}})
        .to_string()
    )
    .is_err());
}

/// Regression: an issuer with a path (Keycloak realms, Okta authorization servers) had its
/// discovery document fetched at the server root by Envoy, as-is when the Worker's `url` was the
/// issuer, and a `url` with a path was fetched again as the JWKS. The document is
/// `<issuer>/.well-known/openid-configuration` (OIDC Discovery §4) and the JWKS the path its
/// `jwks_uri` names, on the same server.
#[test]
fn discovery_follows_an_issuer_with_a_path() {
    let issuer = "https://sso.example.com/realms/acme";
    let gw_with = |source: Value| {
        Gateway::from_json(
            &json!({"providers": [{"name": "kc", "issuer": issuer, "jwks": {"discovery": source}}]})
                .to_string(),
        )
        .unwrap()
    };
    let first = |gw: &Gateway| {
        let f = gw.fetches().remove(0);
        (f.id.to_string(), f.path, f.url)
    };
    let doc = "/realms/acme/.well-known/openid-configuration";
    assert_eq!(
        first(&gw_with(json!({"cluster": "sso"}))),
        ("discovery:kc".into(), doc.into(), None)
    );
    for (url, expect) in [
        (
            issuer.to_owned(),
            format!("{issuer}/.well-known/openid-configuration"),
        ),
        (
            format!("{issuer}/"),
            format!("{issuer}/.well-known/openid-configuration"),
        ),
        (
            "http://127.0.0.1:8080".to_owned(),
            format!("http://127.0.0.1:8080{doc}"),
        ),
        (
            format!("http://127.0.0.1:8080{doc}"),
            format!("http://127.0.0.1:8080{doc}"),
        ),
    ] {
        assert_eq!(
            first(&gw_with(json!({ "url": url }))).2,
            Some(expect),
            "url {url}"
        );
    }
    let mut gw = gw_with(json!({"cluster": "sso", "url": "http://127.0.0.1:8080/realms/acme"}));
    let meta = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "authorization_endpoint": format!("{issuer}/auth"), "token_endpoint": format!("{issuer}/token")});
    let next = gw
        .on_fetched(
            "discovery:kc",
            200,
            &Validators::default(),
            meta.to_string().as_bytes(),
            NOW,
        )
        .unwrap()
        .expect("the JWKS to fetch next");
    let certs = "/realms/acme/protocol/openid-connect/certs";
    assert_eq!(
        (next.path.as_str(), next.url.as_deref()),
        (certs, Some(&*format!("http://127.0.0.1:8080{certs}")))
    );
    assert_eq!(
        first(&gw),
        (
            "jwks:kc".into(),
            certs.into(),
            Some(format!("http://127.0.0.1:8080{certs}"))
        )
    );
}

/// The error catalogue changes what the client reads, never the stable code in the report,
/// the audit line or the challenge.
#[test]
fn catalogue_words_reach_the_client_and_the_stable_code_stays_in_the_audit() {
    let f = fixture();
    let extra = json!({"errors": {"invalid_api_key": {"code": "INVALID_API_KEY", "message": "The provided API key is invalid or has been revoked"}}});
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/x",
        &[("x-api-key", "sk_live_nope"), XFF],
        NOW,
    );
    assert_eq!(d.status, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&d.body).unwrap(),
        json!({"error": {"code": "INVALID_API_KEY", "message": "The provided API key is invalid or has been revoked"}})
    );
    assert_eq!(code(&d), "invalid_api_key");
    let audit: Value = serde_json::from_str(d.audit.as_deref().unwrap()).unwrap();
    assert_eq!(audit["error_code"], json!("invalid_api_key"));
    assert!(header(&d.response_headers, "www-authenticate")
        .is_some_and(|h| h.contains(r#"error="invalid_token""#)));
    let bad = json!({"errors": {"not_a_code": {"code": "X"}}});
    let e = Gateway::from_json(&config(&f, bad).to_string()).unwrap_err();
    assert!(
        e.message().starts_with("errors.not_a_code"),
        "{}",
        e.message()
    );
}

/// Regression for a platform that lets customers delete long-lived JWT "API keys" (shared/
/// reference 001): such a token stays valid by signature and expiry, so the gateway refuses it
/// by the revoked-tokens list (by `jti`, or a subject's tokens issued before a cut-off), also
/// from the verified-token cache; a list configured but not loaded lets no token pass.
#[test]
fn revoked_tokens_are_refused_even_when_cached() {
    let f = fixture();
    let remote = json!({"revoked_tokens": {"remote": {"url": "https://lists.test/revoked.json", "refresh_secs": 60}}});
    let mut gw = Gateway::from_json(&config(&f, remote).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let deleted = format!("Bearer {}", token(&f, json!({"jti": "key-deleted"})));
    let kept = format!(
        "Bearer {}",
        token(&f, json!({"jti": "key-kept", "sub": "user_2"}))
    );
    let ask = |gw: &Gateway, rs: &mut MemoryRateStore, auth: &str, now: u64| {
        call(gw, rs, "GET", "/x", &[("authorization", auth), XFF], now)
    };
    let d = ask(&gw, &mut rs, &kept, NOW);
    assert_eq!(
        (d.status, code(&d)),
        (503, "keys_unavailable"),
        "not loaded: fail closed"
    );
    let due = gw.due_fetches(NOW * 1000);
    assert_eq!(
        due.iter().map(|f| f.id.to_string()).collect::<Vec<_>>(),
        ["revoked_tokens"]
    );
    let list = json!({"version": 1, "jti": [], "subjects": []}).to_string();
    assert_eq!(
        gw.fetched(
            "revoked_tokens",
            200,
            &Validators::default(),
            list.as_bytes(),
            NOW * 1000
        ),
        None
    );
    assert!(
        ask(&gw, &mut rs, &deleted, NOW).allowed,
        "cached from here on"
    );
    let list = json!({"version": 1, "jti": ["key-deleted"],
        "subjects": [{"sub": "user_2", "issued_before": NOW + 1, "iss": ISS}]})
    .to_string();
    assert!(gw.due_fetches(NOW * 1000 + 60_000).len() == 1);
    gw.fetched(
        "revoked_tokens",
        200,
        &Validators::default(),
        list.as_bytes(),
        NOW * 1000 + 60_000,
    );
    let d = ask(&gw, &mut rs, &deleted, NOW + 61);
    assert_eq!((d.status, code(&d)), (401, "revoked_token"));
    assert_eq!(d.provider.as_deref(), Some("idp"));
    let d = ask(&gw, &mut rs, &kept, NOW + 61);
    assert_eq!(
        code(&d),
        "revoked_token",
        "issued before the subject's cut-off"
    );
    assert!(
        ask(
            &gw,
            &mut rs,
            &format!("Bearer {}", token(&f, json!({"sub": "user_3"}))),
            NOW + 61
        )
        .allowed
    );
    // API keys are named by id in the list's `api_keys`, not by `jti`.
    assert!(
        ask(&gw, &mut rs, &format!("Bearer {}", f.live), NOW + 61).error
            != Some(ErrorCode::RevokedToken)
    );
    let bad = json!({"revoked_tokens": {"inline": {"version": 2}}});
    assert!(Gateway::from_json(&config(&f, bad).to_string())
        .unwrap_err()
        .message()
        .starts_with("revoked_tokens.inline"));
}

/// Guide 002's HS256 tokens carry no `iss`: a provider without an issuer is chosen by its keys
/// and checks no issuer (said once at start on every host); one with an issuer still refuses a
/// token without `iss`.
#[test]
fn a_provider_without_an_issuer_is_chosen_by_its_keys() {
    use tokenwarden::gateway::Host;
    let f = fixture();
    let hs = SigningKey::generate(Algorithm::HS256, Some("hs-1".into())).unwrap();
    let gw = Gateway::from_json(
        &json!({"providers": [
            {"name": "idp", "issuer": ISS, "jwks": {"inline": {"keys": [f.key.public_jwk()]}}},
            {"name": "legacy", "algorithms": ["HS256"], "jwks": {"inline": {"keys": [hs.private_jwk()]}}}
        ]})
        .to_string(),
    )
    .unwrap();
    assert!(gw
        .limitations(Host::Envoy)
        .iter()
        .any(|l| l.contains("legacy: no issuer")));
    let mint = |key: &SigningKey, claims: Value| {
        key.mint(claims.as_object().unwrap(), None, &Map::new())
            .unwrap()
    };
    let mut rs = MemoryRateStore::default();
    let ask = |t: &str, rs: &mut MemoryRateStore| {
        let auth = format!("Bearer {t}");
        call(&gw, rs, "GET", "/", &[("authorization", &auth)], NOW)
    };
    let legacy = mint(
        &hs,
        json!({"sub": "u-002", "scope": "read", "iat": NOW, "exp": NOW + 86_400}),
    );
    let d = ask(&legacy, &mut rs);
    assert!(d.allowed, "{:?}", d.error);
    assert_eq!(d.provider.as_deref(), Some("legacy"));
    assert_eq!(
        header(&d.upstream_set, "x-auth-issuer"),
        None,
        "no issuer was checked"
    );
    let other_iss = mint(
        &hs,
        json!({"sub": "u", "iss": "https://anyone", "exp": NOW + 60}),
    );
    assert!(
        ask(&other_iss, &mut rs).allowed,
        "documented: any issuer signed by its keys"
    );
    let forged = mint(
        &SigningKey::generate(Algorithm::HS256, Some("hs-1".into())).unwrap(),
        json!({"sub": "u", "exp": NOW + 60}),
    );
    assert_eq!(code(&ask(&forged, &mut rs)), "invalid_signature");
    let no_iss_for_idp = mint(&f.key, json!({"sub": "u", "aud": "api", "exp": NOW + 60}));
    assert_ne!(code(&ask(&no_iss_for_idp, &mut rs)), "allowed");
    let disc =
        json!({"providers": [{"name": "d", "jwks": {"discovery": {"url": "https://x.test"}}}]});
    assert!(Gateway::from_json(&disc.to_string())
        .unwrap_err()
        .message()
        .contains("providers[0].issuer: required for discovery"));
}

/// Tenancy and credential kinds per route (GoPie's `/v1/{org}/…`, 001's
/// `/companies/{company_id}/…`): `bind` ties a path capture to a claim of the credential, and
/// `credentials` says which kinds (and which providers) a route accepts.
#[test]
fn routes_bind_the_tenant_to_the_credential_and_choose_credential_kinds() {
    let f = fixture();
    let extra = json!({"policy": {"unmatched": "deny", "rules": [
        {"name": "org-data", "method": "GET", "path": "/v1/{org}/datasets/{dataset}",
         "require": ["read:datasets.{dataset}"], "bind": {"org": "org"}, "credentials": ["jwt:idp"]},
        {"name": "company", "method": "GET", "path": "/companies/{company_id}/datasets",
         "bind": {"company_id": "companies"}},
        {"name": "keys-only", "method": "GET", "path": "/keys-only", "credentials": ["api_key"]}
    ]}});
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let ask = |path: &str, credential: &str, rs: &mut MemoryRateStore| {
        call(
            &gw,
            rs,
            "GET",
            path,
            &[("authorization", credential), XFF],
            NOW,
        )
    };
    let acme = format!("Bearer {}", token(&f, json!({"org": "acme"})));
    assert!(ask("/v1/acme/datasets/sales", &acme, &mut rs).allowed);
    let other = ask("/v1/globex/datasets/sales", &acme, &mut rs);
    assert_eq!((other.status, code(&other)), (403, "access_denied"));
    let no_org = format!("Bearer {}", token(&f, json!({"org": null})));
    assert_eq!(
        code(&ask("/v1/acme/datasets/sales", &no_org, &mut rs)),
        "access_denied"
    );
    let key = format!("Bearer {}", f.live);
    assert_eq!(
        code(&ask("/v1/acme/datasets/sales", &key, &mut rs)),
        "access_denied",
        "JWTs of idp only"
    );
    assert!(ask("/keys-only", &key, &mut rs).allowed);
    assert_eq!(code(&ask("/keys-only", &acme, &mut rs)), "access_denied");
    let member = format!("Bearer {}", token(&f, json!({"companies": ["c-1", 42]})));
    assert!(ask("/companies/c-1/datasets", &member, &mut rs).allowed);
    assert!(
        ask("/companies/42/datasets", &member, &mut rs).allowed,
        "a number's text"
    );
    assert_eq!(
        code(&ask("/companies/c-2/datasets", &member, &mut rs)),
        "access_denied"
    );
    for bad in [
        json!({"name": "r", "path": "/x", "bind": {"org": "org"}}),
        json!({"name": "r", "path": "/x", "credentials": ["cookie"]}),
        json!({"name": "r", "path": "/x", "anonymous": true, "credentials": ["jwt"]}),
    ] {
        let c = config(&f, json!({"policy": {"rules": [bad]}}));
        assert!(Gateway::from_json(&c.to_string()).is_err(), "{c}");
    }
}

/// GoPie's `denied_operations` travel with the credential: a deny list on a key record, and one
/// from a configured JWT claim, beat every scope (a malformed list fails closed).
#[test]
fn deny_lists_travel_with_the_credential() {
    let f = fixture();
    let mut store = KeyStore::new();
    let denied_key = store
        .create(
            &KeyPrefix::standard(KeyType::Secret, Environment::Live),
            NewKey {
                name: "no-deletes".into(),
                denied: vec!["delete:*".into(), "write:sensitive_data".into()],
                ..NewKey::default()
            },
            NOW - 10,
        )
        .unwrap();
    let store: Value = serde_json::from_str(&store.to_json().unwrap()).unwrap();
    let extra = json!({
        "api_keys": {"store": {"inline": store}},
        "providers": [{"name": "idp", "issuer": ISS, "audiences": ["api"], "denied_claim": "denied_operations",
            "jwks": {"inline": {"keys": [f.key.public_jwk()]}}}],
        "policy": {"unmatched": "deny", "rules": [
            {"name": "delete", "method": "DELETE", "path": "/v1/datasets/{dataset}", "require": ["delete:datasets.{dataset}"]},
            {"name": "read", "method": "GET", "path": "/v1/datasets/{dataset}", "require": ["read:datasets.{dataset}"]},
            {"name": "sensitive", "method": "POST", "path": "/v1/sensitive", "require": ["write:sensitive_data"]}
        ]}
    });
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let ask = |method: &str, path: &str, credential: &str, rs: &mut MemoryRateStore| {
        code(&call(
            &gw,
            rs,
            method,
            path,
            &[("authorization", credential), XFF],
            NOW,
        ))
    };
    let key = format!("Bearer {}", denied_key.secret);
    assert_eq!(
        ask("GET", "/v1/datasets/sales", &key, &mut rs),
        "allowed",
        "sk keys grant *"
    );
    assert_eq!(
        ask("DELETE", "/v1/datasets/sales", &key, &mut rs),
        "access_denied"
    );
    assert_eq!(ask("POST", "/v1/sensitive", &key, &mut rs), "access_denied");
    let jwt = |denied: Value| {
        format!(
            "Bearer {}",
            token(
                &f,
                json!({"scope": "read:datasets delete:datasets write:sensitive_data", "denied_operations": denied})
            )
        )
    };
    let list = jwt(json!(["delete:*", "write:sensitive_data"]));
    assert_eq!(ask("GET", "/v1/datasets/sales", &list, &mut rs), "allowed");
    assert_eq!(
        ask("DELETE", "/v1/datasets/sales", &list, &mut rs),
        "access_denied"
    );
    assert_eq!(
        ask("POST", "/v1/sensitive", &list, &mut rs),
        "access_denied"
    );
    let text = jwt(json!("delete:*"));
    assert_eq!(
        ask("DELETE", "/v1/datasets/sales", &text, &mut rs),
        "access_denied"
    );
    assert_eq!(ask("POST", "/v1/sensitive", &text, &mut rs), "allowed");
    let malformed = jwt(json!(["delete:*", 7]));
    assert_eq!(
        ask("GET", "/v1/datasets/sales", &malformed, &mut rs),
        "access_denied",
        "fail closed"
    );
    let none = jwt(Value::Null);
    assert_eq!(
        ask("DELETE", "/v1/datasets/sales", &none, &mut rs),
        "allowed"
    );
}

/// GoPie's tenancy: a key record's attributes bind `/v1/{org}/…` like a JWT claim does, roles
/// hold per organisation or project (`admin@org=acme`, `editor@project=web`), and a route can
/// take only JWTs of a given `typ`.
#[test]
fn keys_carry_their_tenant_roles_hold_per_scope_and_routes_choose_a_typ() {
    let f = fixture();
    let mut store = KeyStore::new();
    let mut key = |name: &str, roles: &[&str], org: &[&str]| {
        let created = store
            .create(
                &KeyPrefix::standard(KeyType::Restricted, Environment::Live),
                NewKey {
                    name: name.into(),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                    attributes: [(
                        "org".to_string(),
                        org.iter().map(|o| o.to_string()).collect(),
                    )]
                    .into_iter()
                    .filter(|(_, v): &(String, Vec<String>)| !v.is_empty())
                    .collect(),
                    ..NewKey::default()
                },
                NOW - 10,
            )
            .unwrap();
        format!("Bearer {}", created.secret)
    };
    let org_admin = key("org-admin", &["admin@org=acme"], &["acme"]);
    let web_editor = key("web-editor", &["editor@org=acme/project=web"], &["acme"]);
    let viewer_everywhere = key("viewer", &["viewer"], &["acme", "globex"]);
    let untenanted = key("untenanted", &["admin"], &[]);
    let malformed = key("malformed", &["admin@org", "admin@"], &["acme"]);
    let store: Value = serde_json::from_str(&store.to_json().unwrap()).unwrap();
    let extra = json!({
        "api_keys": {"store": {"inline": store}},
        "policy": {"unmatched": "deny", "rules": [
            {"name": "read", "method": "GET", "path": "/v1/{org}/{project}/datasets",
             "require": ["read:datasets"], "bind": {"org": "org"}},
            {"name": "create", "method": "POST", "path": "/v1/{org}/{project}/datasets",
             "require": ["create:datasets"], "bind": {"org": "org"}},
            {"name": "billing", "method": "GET", "path": "/v1/{org}/billing",
             "require": ["manage:billing"], "bind": {"org": "org"}},
            {"name": "at-only", "method": "GET", "path": "/at-only", "typ": ["at+jwt"]}
        ]}
    });
    let gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let mut rs = MemoryRateStore::default();
    let mut ask = |method: &str, path: &str, credential: &str| {
        let d = call(
            &gw,
            &mut rs,
            method,
            path,
            &[("authorization", credential), XFF],
            NOW,
        );
        (d.status, code(&d))
    };
    let allowed = (200, "allowed");
    let denied = (403, "access_denied");
    let short = (403, "insufficient_scope");
    assert_eq!(ask("POST", "/v1/acme/web/datasets", &org_admin), allowed);
    assert_eq!(ask("GET", "/v1/acme/billing", &org_admin), allowed);
    assert_eq!(
        ask("GET", "/v1/globex/web/datasets", &org_admin),
        denied,
        "another org"
    );
    assert_eq!(ask("POST", "/v1/acme/web/datasets", &web_editor), allowed);
    assert_eq!(
        ask("POST", "/v1/acme/app/datasets", &web_editor),
        short,
        "another project"
    );
    assert_eq!(
        ask("GET", "/v1/acme/billing", &web_editor),
        short,
        "no project here"
    );
    assert_eq!(
        ask("GET", "/v1/globex/app/datasets", &viewer_everywhere),
        allowed
    );
    assert_eq!(
        ask("POST", "/v1/globex/app/datasets", &viewer_everywhere),
        short
    );
    assert_eq!(
        ask("GET", "/v1/acme/web/datasets", &untenanted),
        denied,
        "no org attribute"
    );
    assert_eq!(
        ask("GET", "/v1/acme/web/datasets", &malformed),
        short,
        "a malformed scope grants nothing"
    );

    let at = format!("Bearer {}", token(&f, json!({})));
    let plain = format!("Bearer {}", {
        let claims = json!({"iss": ISS, "aud": "api", "sub": "u", "exp": NOW + 600});
        f.key
            .mint(claims.as_object().unwrap(), Some("JWT"), &Map::new())
            .unwrap()
    });
    assert_eq!(ask("GET", "/at-only", &at), allowed);
    assert_eq!(ask("GET", "/at-only", &plain), (401, "invalid_token_type"));
    assert_eq!(
        ask("GET", "/at-only", &org_admin),
        allowed,
        "typ constrains JWTs only"
    );

    for bad in [
        json!({"name": "r", "path": "/x", "typ": [""]}),
        json!({"name": "r", "path": "/x", "anonymous": true, "typ": ["at+jwt"]}),
    ] {
        let c = config(&f, json!({"policy": {"rules": [bad]}}));
        assert!(Gateway::from_json(&c.to_string()).is_err(), "{c}");
    }
    let mut bad_store = KeyStore::new();
    let refused = bad_store.create(
        &KeyPrefix::standard(KeyType::Secret, Environment::Live),
        NewKey {
            name: "x".into(),
            attributes: [("org".to_string(), vec!["a/b".to_string()])].into(),
            ..NewKey::default()
        },
        NOW,
    );
    assert_eq!(refused.unwrap_err().code(), ErrorCode::InvalidConfig);
}

/// Every remote document has a size cap hosts read up to (plus one byte) and the core enforces:
/// a JWKS 256 KiB at most, a key store 64 MiB unless configured; a larger answer is a failed
/// fetch that keeps the last good document.
#[test]
fn documents_over_their_size_cap_are_failed_fetches() {
    let f = fixture();
    let extra = json!({
        "providers": [{"name": "idp", "issuer": ISS, "audiences": ["api"],
            "jwks": {"remote": {"url": "https://keys.test/jwks", "max_bytes": 1_000_000_000}}}],
        "api_keys": {"store": {"remote": {"url": "https://keys.test/store", "max_bytes": 4096}}}
    });
    let mut gw = Gateway::from_json(&config(&f, extra).to_string()).unwrap();
    let due = gw.due_fetches(NOW * 1000);
    let cap = |id: &str| {
        due.iter()
            .find(|d| d.id.to_string() == id)
            .unwrap()
            .max_bytes
    };
    assert_eq!(
        cap("jwks:idp"),
        256 * 1024,
        "a JWKS is never read past 256 KiB"
    );
    assert_eq!(cap("keys"), 4096);
    let jwks = json!({"keys": [f.key.public_jwk()]}).to_string();
    let none = Validators::default();
    assert_eq!(
        gw.fetched("jwks:idp", 200, &none, jwks.as_bytes(), NOW * 1000),
        None
    );
    let auth = format!("Bearer {}", token(&f, json!({})));
    let mut rs = MemoryRateStore::default();
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW
        )
        .allowed
    );
    // Valid JSON, one byte too long: refused as too large, and the keys stay in use.
    let padded = format!("{jwks}{}", " ".repeat(256 * 1024 + 1 - jwks.len()));
    let later = (NOW + 400) * 1000;
    gw.due_fetches(later);
    let line = gw.fetched("jwks:idp", 200, &none, padded.as_bytes(), later);
    assert!(line.is_some_and(|l| l.contains("larger than max_bytes (262144)")));
    let auth = format!("Bearer {}", token(&f, json!({"sub": "other"})));
    assert!(
        call(
            &gw,
            &mut rs,
            "GET",
            "/x",
            &[("authorization", &auth), XFF],
            NOW + 400
        )
        .allowed
    );
    let store = KeyStore::new().to_json().unwrap();
    let big = format!("{store:<4097}");
    let line = gw.fetched("keys", 200, &none, big.as_bytes(), NOW * 1000);
    assert!(line.is_some_and(|l| l.contains("keys: the document is larger than max_bytes (4096)")));
    assert_eq!(
        gw.fetched("keys", 200, &none, store.as_bytes(), NOW * 1000 + 2000),
        Some(String::from(
            "keys: fetched again after 1 failed attempt(s)"
        ))
    );
}

/// The key service's record for `secret`: the store's own entry, as the service would answer.
fn record_of(f: &Fixture, secret: &str) -> Value {
    let hash = tokenwarden::apikey::hash_key(secret);
    f.store["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["hash"] == hash.as_str())
        .cloned()
        .unwrap()
}

/// A gateway whose API keys are looked up (`extra` goes into `api_keys.store.lookup`).
fn lookup_gateway(f: &Fixture, lookup: Value, more: Value) -> Gateway {
    let mut l = json!({"cluster": "keys", "url": "https://keys.test", "path": "/v1/keys/{hash}"});
    for (k, v) in lookup.as_object().unwrap() {
        l[k] = v.clone();
    }
    let mut extra = json!({"api_keys": {"store": {"lookup": l}, "environments": ["live"]}});
    for (k, v) in more.as_object().unwrap() {
        extra[k] = v.clone();
    }
    Gateway::from_json(&config(f, extra).to_string()).unwrap()
}

/// One request with an API key, and its call answered when the gateway asks for one
/// (`answer`: status and body). Returns the decision and whether a call was asked.
fn with_key(
    gw: &Gateway,
    rs: &mut MemoryRateStore,
    key: &str,
    now: u64,
    answer: (u16, &str),
) -> (Seen, Option<Call>) {
    let headers = [("x-api-key", key), XFF];
    let req = Request {
        method: "GET",
        path: "/v1/acme/datasets/sales",
        headers: &headers,
        peer: None,
        now_ms: now * 1000,
        sample: 0,
    };
    match gw.decide(&req, rs) {
        Decision::Call(c) => (
            seen(gw.on_call(&req, answer.0, answer.1.as_bytes(), rs)),
            Some(c),
        ),
        d => (seen(d), None),
    }
}

#[test]
fn api_keys_are_looked_up_by_hash_and_the_answers_cached() {
    let f = fixture();
    let gw = lookup_gateway(&f, json!({}), json!({}));
    let mut rs = MemoryRateStore::default();
    let live = record_of(&f, &f.live).to_string();
    let (d, asked) = with_key(&gw, &mut rs, &f.live, NOW, (200, &live));
    assert!(d.allowed && d.cache_miss, "{d:?}");
    assert_eq!(
        header(&d.upstream_set, "x-auth-key-id"),
        record_of(&f, &f.live)["id"].as_str()
    );
    let asked = asked.expect("a lookup");
    let hex = tokenwarden::apikey::hash_key(&f.live)["sha256:".len()..].to_owned();
    assert_eq!(
        (asked.method, asked.purpose, asked.cluster.as_deref()),
        ("GET", "api_keys.store.lookup", Some("keys"))
    );
    assert_eq!(asked.path, format!("/v1/keys/{hex}"));
    assert_eq!(
        asked.max_bytes,
        64 * 1024,
        "hosts read no more of the answer"
    );
    assert_eq!(
        asked.url.as_deref(),
        Some(format!("https://keys.test/v1/keys/{hex}").as_str())
    );
    let sent = serde_json::to_string(&asked).unwrap();
    assert!(!sent.contains(&f.live), "the key itself never leaves");
    assert!(asked.body.is_none());

    // Positive answers are reused for positive_ttl_secs (60), then asked again.
    let (d, asked) = with_key(&gw, &mut rs, &f.live, NOW + 59, (500, ""));
    assert!(d.allowed && d.cache_hit && asked.is_none(), "{d:?}");
    let (d, asked) = with_key(&gw, &mut rs, &f.live, NOW + 60, (200, &live));
    assert!(d.allowed && asked.is_some(), "expired: asked again");

    // Unknown keys (404) are reused for negative_ttl_secs (30).
    let (d, asked) = with_key(&gw, &mut rs, &f.limited, NOW, (404, ""));
    assert_eq!(
        (d.status, code(&d), asked.is_some()),
        (401, "invalid_api_key", true)
    );
    assert_eq!(d.provider.as_deref(), Some("api_keys"));
    let (d, asked) = with_key(&gw, &mut rs, &f.limited, NOW + 29, (500, ""));
    assert_eq!((code(&d), asked.is_none()), ("invalid_api_key", true));
    let limited = record_of(&f, &f.limited).to_string();
    let (d, asked) = with_key(&gw, &mut rs, &f.limited, NOW + 30, (200, &limited));
    assert!(d.allowed && asked.is_some(), "negative entry expired");

    // A key that fails its format or checksum is refused without a call.
    let mut typo = f.live.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    let (d, asked) = with_key(&gw, &mut rs, &typo, NOW, (200, &live));
    assert_eq!((code(&d), asked.is_none()), ("invalid_api_key", true));
}

/// A looked-up record goes through the store's own checks, on every request (cached or not).
#[test]
fn looked_up_records_pass_the_same_checks_as_the_store() {
    let f = fixture();
    let gw = lookup_gateway(&f, json!({"positive_ttl_secs": 600}), json!({}));
    let mut rs = MemoryRateStore::default();
    let answer = |secret: &str, fields: Value| {
        let mut r = record_of(&f, secret);
        for (k, v) in fields.as_object().unwrap() {
            r[k] = v.clone();
        }
        r.to_string()
    };
    let test_key = answer(&f.test_key, json!({}));
    let (d, _) = with_key(&gw, &mut rs, &f.test_key, NOW, (200, &test_key));
    assert_eq!(code(&d), "wrong_environment");
    let revoked = answer(&f.limited, json!({"revoked": true}));
    let (d, _) = with_key(&gw, &mut rs, &f.limited, NOW, (200, &revoked));
    assert_eq!(code(&d), "revoked_api_key");
    let expiring = answer(&f.live, json!({"expires_at": NOW + 5}));
    assert!(
        with_key(&gw, &mut rs, &f.live, NOW, (200, &expiring))
            .0
            .allowed
    );
    let (d, asked) = with_key(&gw, &mut rs, &f.live, NOW + 5, (500, ""));
    assert_eq!(
        (code(&d), asked.is_none()),
        ("expired_api_key", true),
        "expiry is checked on the cached record"
    );
    let pinned = answer(&f.pinned, json!({}));
    assert!(
        with_key(&gw, &mut rs, &f.pinned, NOW, (200, &pinned))
            .0
            .allowed
    );
    let elsewhere = [
        ("x-api-key", f.pinned.as_str()),
        ("x-forwarded-for", "198.51.100.1"),
    ];
    let d = call(
        &gw,
        &mut rs,
        "GET",
        "/v1/acme/datasets/sales",
        &elsewhere,
        NOW + 1,
    );
    assert_eq!((code(&d), d.asks.is_none()), ("ip_not_allowed", true));
    // The record's own rate limit and grant apply as from the store.
    let limited = answer(&f.limited, json!({"revoked": false}));
    let gw = lookup_gateway(&f, json!({}), json!({}));
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            with_key(&gw, &mut rs, &f.limited, NOW, (200, &limited))
                .0
                .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
}

#[test]
fn bad_key_service_answers_fail_closed_and_are_not_cached() {
    let f = fixture();
    let gw = lookup_gateway(&f, json!({}), json!({}));
    let mut rs = MemoryRateStore::default();
    let mut unknown_field = record_of(&f, &f.live);
    unknown_field["scopes"] = json!(["*"]);
    let mut bad_ip = record_of(&f, &f.live);
    bad_ip["allowed_ips"] = json!(["10.0.0.1/8"]);
    let other = record_of(&f, &f.limited).to_string();
    let store_document = f.store.to_string();
    for (status, body, why) in [
        (500, "", "a server error"),
        (0, "", "no answer"),
        (403, "", "another status"),
        (200, "not json", "bad JSON"),
        (200, store_document.as_str(), "a whole store"),
        (200, &unknown_field.to_string(), "an unknown field"),
        (200, &bad_ip.to_string(), "a record that does not validate"),
        (200, other.as_str(), "the record of another key"),
    ] {
        let (d, asked) = with_key(&gw, &mut rs, &f.live, NOW, (status, body));
        assert!(asked.is_some(), "{why}");
        assert_eq!((d.status, code(&d)), (503, "keys_unavailable"), "{why}");
        let (_, again) = with_key(&gw, &mut rs, &f.live, NOW, (status, body));
        assert!(again.is_some(), "{why} is not cached");
    }
}

#[test]
fn the_lookup_cache_is_bounded() {
    let f = fixture();
    let gw = lookup_gateway(&f, json!({"max_entries": 2}), json!({}));
    let mut rs = MemoryRateStore::default();
    let keys = [&f.live, &f.limited, &f.pinned];
    for k in keys {
        let r = record_of(&f, k).to_string();
        let (d, asked) = with_key(&gw, &mut rs, k, NOW, (200, &r));
        assert!(d.allowed && asked.is_some());
    }
    let (_, asked) = with_key(&gw, &mut rs, &f.pinned, NOW, (500, ""));
    assert!(asked.is_none(), "the newest answer is kept");
    let live = record_of(&f, &f.live).to_string();
    let (_, asked) = with_key(&gw, &mut rs, &f.live, NOW, (200, &live));
    assert!(
        asked.is_some(),
        "the least recently used answer was dropped"
    );
    let off = lookup_gateway(&f, json!({"max_entries": 0}), json!({}));
    for _ in 0..2 {
        let (d, asked) = with_key(&off, &mut rs, &f.live, NOW, (200, &live));
        assert!(
            d.allowed && asked.is_some(),
            "max_entries 0: asked every time"
        );
    }
}

/// A key revoked while its record is cached: the polled revoked-tokens list names it by id and
/// is checked on every request, so the revocation holds within one poll of the list.
#[test]
fn the_revocation_list_beats_a_cached_lookup() {
    let f = fixture();
    let list = json!({"revoked_tokens": {"remote": {"url": "https://lists.test/revoked.json", "refresh_secs": 30}}});
    let mut gw = lookup_gateway(&f, json!({"positive_ttl_secs": 3600}), list);
    let mut rs = MemoryRateStore::default();
    let live = record_of(&f, &f.live).to_string();
    let (d, _) = with_key(&gw, &mut rs, &f.live, NOW, (200, &live));
    assert_eq!(
        (d.status, code(&d)),
        (503, "keys_unavailable"),
        "no list loaded: fail closed"
    );
    let feed = |gw: &mut Gateway, ids: Value, now: u64| {
        let list = json!({"version": 1, "api_keys": ids}).to_string();
        assert!(gw.due_fetches(now * 1000).len() == 1);
        gw.fetched(
            "revoked_tokens",
            200,
            &Validators::default(),
            list.as_bytes(),
            now * 1000,
        )
    };
    feed(&mut gw, json!([]), NOW);
    let (d, _) = with_key(&gw, &mut rs, &f.live, NOW, (200, &live));
    assert!(d.allowed, "{:?}", d.error);
    let id = record_of(&f, &f.live)["id"].clone();
    feed(&mut gw, json!([id]), NOW + 30);
    let (d, asked) = with_key(&gw, &mut rs, &f.live, NOW + 31, (200, &live));
    assert_eq!(
        (d.status, code(&d), asked.is_none()),
        (401, "revoked_api_key", true),
        "refused from the cached record"
    );
    // The same list revokes a key of a polled store.
    let polled = json!({"revoked_tokens": {"inline": {"version": 1, "api_keys": [id]}}});
    let gw = Gateway::from_json(&config(&f, polled).to_string()).unwrap();
    let (d, _) = with_key(&gw, &mut rs, &f.live, NOW, (500, ""));
    assert_eq!(code(&d), "revoked_api_key");
}

#[test]
fn lookup_configuration_is_checked_at_load() {
    let f = fixture();
    let err = |lookup: Value| {
        let extra = json!({"api_keys": {"store": {"lookup": lookup}}});
        Gateway::from_json(&config(&f, extra).to_string())
            .unwrap_err()
            .message()
            .to_owned()
    };
    for (lookup, starts) in [
        (
            json!({"cluster": "k", "path": "/keys"}),
            "api_keys.store.lookup.path: must hold {hash}",
        ),
        (
            json!({"cluster": "k", "path": "/{hash}/{hash}"}),
            "api_keys.store.lookup.path",
        ),
        (
            json!({"cluster": "k", "path": "/k/{hash} x"}),
            "api_keys.store.lookup.path",
        ),
        (
            json!({"cluster": "k", "path": "k/{hash}"}),
            "api_keys.store.lookup.path: must start with /",
        ),
        (
            json!({"path": "/k/{hash}"}),
            "api_keys.store.lookup: needs a cluster",
        ),
        (
            json!({"url": "https://k.test/v1", "path": "/k/{hash}"}),
            "api_keys.store.lookup.url: the service's origin only",
        ),
        (
            json!({"url": "http://k.test", "path": "/k/{hash}"}),
            "api_keys.store.lookup.url: must be https",
        ),
        (
            json!({"cluster": "k", "path": "/k/{hash}", "timeout_ms": 0}),
            "api_keys.store.lookup: refresh_secs and timeout_ms",
        ),
        (
            json!({"cluster": "k", "path": "/k/{hash}", "refresh_secs": 5}),
            "api_keys.store.lookup.refresh_secs: unknown field",
        ),
        (
            json!({"cluster": "k"}),
            "api_keys.store.lookup: missing field `path`",
        ),
    ] {
        let m = err(lookup.clone());
        assert!(m.starts_with(starts), "{lookup}: {m}");
    }
    let gw = lookup_gateway(&f, json!({"url": null}), json!({}));
    let lines = gw.limitations(tokenwarden::gateway::Host::Fetch);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("api_keys.store.lookup: no url")),
        "{lines:?}"
    );
    assert!(gw.limitations(tokenwarden::gateway::Host::Envoy).is_empty());
}
