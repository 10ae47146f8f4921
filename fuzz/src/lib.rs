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
                    assert!(token.len() < 8 || !e.message().contains(token));
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
