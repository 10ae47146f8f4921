//! Every Project Wycheproof file in ../shared/vectors/wycheproof, run through the same code paths
//! production uses (JWK/PEM loading, algorithm binding, signature check).
//!
//! Agreement is required on every `valid`/`invalid` case. `acceptable` cases are recorded and
//! asserted to get the answer documented in docs/security.md. Where we deliberately refuse a case
//! Wycheproof calls `valid`, it is listed in `DELIBERATE_REFUSALS` with the reason, and the test
//! asserts the refusal (so the list cannot go stale silently).

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};
use tokenwarden::{Algorithm, ErrorCode, Jwk, JwkSet, Validation, Verifier};

/// (file, tcId, why we refuse a case the vector calls valid)
const DELIBERATE_REFUSALS: &[(&str, u64, &str)] = &[
    (
        "json_web_signature_test.json",
        346,
        "the JWK says alg PS256 but the token is PS384: we honour the JWK alg exactly (RFC 7517 §4.4)",
    ),
    (
        "json_web_signature_test.json",
        350,
        "the JWK says alg PS256 but the token is PS384: we honour the JWK alg exactly (RFC 7517 §4.4)",
    ),
    (
        "json_web_signature_test.json",
        347,
        "the JWK says alg ES521, which is not a registered algorithm (P-521 is ES512): key refused",
    ),
    (
        "json_web_signature_test.json",
        351,
        "the JWK says alg ES521, which is not a registered algorithm (P-521 is ES512): key refused",
    ),
    (
        "json_web_signature_test.json",
        372,
        "a '?' inside the base64url header: we decode strictly and never skip invalid characters",
    ),
    (
        "json_web_signature_test.json",
        373,
        "a '?' inside the base64url payload: we decode strictly and never skip invalid characters",
    ),
];

/// (file, tcId, tcId of a `valid` case with the byte-identical token): Wycheproof calls the same
/// token both valid and invalid, so no verifier can agree with both; we accept it.
const CONTRADICTORY: &[(&str, u64, u64)] = &[
    ("json_web_signature_test.json", 367, 357),
    ("json_web_signature_test.json", 370, 357),
];

/// (file, flag, our answer) for Wycheproof's `acceptable` cases.
const ACCEPTABLE: &[(&str, &str, bool)] = &[
    // PKCS#1 v1.5 DigestInfo without the NULL parameter: we refuse (only the canonical encoding).
    ("rsa_signature_2048_sha256_test.json", "MissingNull", false),
    ("rsa_signature_2048_sha384_test.json", "MissingNull", false),
    ("rsa_signature_2048_sha512_test.json", "MissingNull", false),
    ("rsa_signature_3072_sha256_test.json", "MissingNull", false),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/wycheproof")
}

fn load(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the vectors live in ../shared)", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Tallies agreement for one file; panics with every disagreement listed.
struct Tally {
    file: &'static str,
    checked: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(file: &'static str) -> Tally {
        Tally {
            file,
            checked: 0,
            failures: Vec::new(),
        }
    }

    fn check(&mut self, test: &Value, ours: bool) {
        self.checked += 1;
        let id = test["tcId"].as_u64().unwrap();
        let result = test["result"].as_str().unwrap();
        let flags: Vec<&str> = test["flags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let expected = match result {
            "valid" => !DELIBERATE_REFUSALS
                .iter()
                .any(|(f, t, _)| *f == self.file && *t == id),
            "invalid" => CONTRADICTORY
                .iter()
                .any(|(f, t, _)| *f == self.file && *t == id),
            "acceptable" => ACCEPTABLE
                .iter()
                .find(|(f, flag, _)| *f == self.file && flags.contains(flag))
                .map(|(_, _, answer)| *answer)
                .unwrap_or_else(|| {
                    panic!(
                        "{} tc {id}: undocumented acceptable case {flags:?}",
                        self.file
                    )
                }),
            other => panic!("unknown result {other}"),
        };
        if ours != expected {
            self.failures.push(format!(
                "tc {id} ({result}, {flags:?}, {}): we said {}",
                test["comment"].as_str().unwrap_or(""),
                if ours { "valid" } else { "invalid" }
            ));
        }
    }

    fn finish(self) {
        assert!(self.checked > 0, "{}: no test cases ran", self.file);
        assert!(
            self.failures.is_empty(),
            "{}: {} disagreements:\n{}",
            self.file,
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

fn tests(group: &Value) -> &Vec<Value> {
    group["tests"].as_array().unwrap()
}

fn groups(doc: &Value) -> &Vec<Value> {
    doc["testGroups"].as_array().unwrap()
}

/// ECDSA (P1363 = JWS r‖s form), Ed25519 and RSA files: key from the group's JWK (and PEM when
/// given, which must agree), signature through `Algorithm::verify` via a one-key verifier.
fn signature_file(file: &'static str, alg: Algorithm) {
    let doc = load(file);
    let mut tally = Tally::new(file);
    for g in groups(&doc) {
        let from_jwk = match g.get("publicKeyJwk").or_else(|| g.get("keyJwk")) {
            Some(jwk) => {
                // The vectors' JWKs carry `alg` for the file's main hash; bind to `alg` instead.
                let mut jwk = jwk.clone();
                jwk.as_object_mut().unwrap().remove("alg");
                Jwk::from_value(&jwk)
            }
            // A few EC groups give only the SEC1 point: build the JWK from its coordinates.
            None => {
                let point = hex(g["publicKey"]["uncompressed"].as_str().unwrap());
                let size = (point.len() - 1) / 2;
                let b64 = |b: &[u8]| {
                    <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(b)
                };
                let crv = if size == 32 { "P-256" } else { "P-384" };
                Jwk::from_value(&serde_json::json!({
                    "kty": "EC", "crv": crv, "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..])
                }))
            }
        };
        if let Some(pem) = g.get("publicKeyPem").and_then(Value::as_str) {
            let from_pem = Jwk::from_pem(pem);
            assert_eq!(
                from_jwk.as_ref().map(|k| k.key().thumbprint()).ok(),
                from_pem.as_ref().map(|k| k.key().thumbprint()).ok(),
                "{file}: PEM and JWK loading disagree"
            );
        }
        let key = from_jwk.unwrap_or_else(|e| panic!("{file}: key refused: {e}"));
        for t in tests(g) {
            let msg = hex(t["msg"].as_str().unwrap());
            let sig = hex(t["sig"].as_str().unwrap());
            tally.check(t, alg.verify(key.key(), &msg, &sig));
        }
    }
    tally.finish();
}

#[test]
fn ecdsa_p256_p1363() {
    signature_file("ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::ES256);
}

#[test]
fn ecdsa_p384_p1363() {
    signature_file("ecdsa_secp384r1_sha384_p1363_test.json", Algorithm::ES384);
}

#[test]
fn ed25519() {
    signature_file("ed25519_test.json", Algorithm::EdDSA);
}

#[test]
fn rsa_pkcs1_2048_sha256() {
    signature_file("rsa_signature_2048_sha256_test.json", Algorithm::RS256);
}

#[test]
fn rsa_pkcs1_2048_sha384() {
    signature_file("rsa_signature_2048_sha384_test.json", Algorithm::RS384);
}

#[test]
fn rsa_pkcs1_2048_sha512() {
    signature_file("rsa_signature_2048_sha512_test.json", Algorithm::RS512);
}

#[test]
fn rsa_pkcs1_3072_sha256() {
    signature_file("rsa_signature_3072_sha256_test.json", Algorithm::RS256);
}

#[test]
fn rsa_pss_2048_sha256_mgf1_32() {
    signature_file("rsa_pss_2048_sha256_mgf1_32_test.json", Algorithm::PS256);
}

/// HMAC files test the MAC primitive (including truncated tags and short keys, which JWS never
/// uses). Full-length tags with keys long enough for JWS also run through our HS* path; every
/// truncated tag must be refused there.
fn hmac_file<M: Mac + hmac::digest::KeyInit + Clone>(
    file: &'static str,
    alg: Algorithm,
    out_bits: usize,
) {
    let doc = load(file);
    let mut tally = Tally::new(file);
    for g in groups(&doc) {
        let tag_bits = g["tagSize"].as_u64().unwrap() as usize;
        for t in tests(g) {
            let key = hex(t["key"].as_str().unwrap());
            let msg = hex(t["msg"].as_str().unwrap());
            let tag = hex(t["tag"].as_str().unwrap());
            let primitive = <M as Mac>::new_from_slice(&key)
                .map(|m| {
                    tag.len() * 8 == tag_bits
                        && m.chain_update(&msg).verify_truncated_left(&tag).is_ok()
                })
                .unwrap_or(false);
            tally.check(t, primitive);
            if let Ok(jwk) = Jwk::from_secret(&key, Some(alg)) {
                let ours = alg.verify(jwk.key(), &msg, &tag);
                if tag_bits == out_bits {
                    assert_eq!(
                        ours, primitive,
                        "{file} tc {}: JWS path disagrees",
                        t["tcId"]
                    );
                } else {
                    assert!(
                        !ours,
                        "{file} tc {}: a truncated tag passed the JWS path",
                        t["tcId"]
                    );
                }
            } else {
                assert!(
                    key.len() * 8 < out_bits,
                    "{file}: a key long enough was refused"
                );
            }
        }
    }
    tally.finish();
}

#[test]
fn hmac_sha256() {
    hmac_file::<Hmac<Sha256>>("hmac_sha256_test.json", Algorithm::HS256, 256);
}

#[test]
fn hmac_sha384() {
    hmac_file::<Hmac<Sha384>>("hmac_sha384_test.json", Algorithm::HS384, 384);
}

#[test]
fn hmac_sha512() {
    hmac_file::<Hmac<Sha512>>("hmac_sha512_test.json", Algorithm::HS512, 512);
}

/// JWS cases: one key per group (the public part when given), the compact token verified with
/// the default validation. A key we refuse to load makes the case invalid.
#[test]
fn json_web_signature() {
    let file = "json_web_signature_test.json";
    let doc = load(file);
    let mut tally = Tally::new(file);
    for g in groups(&doc) {
        let key = g
            .get("public")
            .or_else(|| g.get("private"))
            .expect("group key");
        let verifier = Jwk::from_value(key)
            .and_then(|k| JwkSet::from_keys(vec![k]))
            .map(|set| Verifier::new(set, Validation::default()));
        for t in tests(g) {
            let jws = match &t["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let ours = verifier
                .as_ref()
                .is_ok_and(|v| v.verify_signature(&jws).is_ok());
            tally.check(t, ours);
        }
    }
    let jws_of = |id: u64| {
        groups(&doc)
            .iter()
            .flat_map(tests)
            .find(|t| t["tcId"] == id)
            .map(|t| t["jws"].clone())
            .unwrap()
    };
    for (_, contradicting, valid) in CONTRADICTORY {
        assert_eq!(
            jws_of(*contradicting),
            jws_of(*valid),
            "tc {contradicting} is not a copy of tc {valid}"
        );
    }
    tally.finish();
}

/// JWK-set cases: the set loaded as a remote JWKS would be (lenient: unusable keys left out),
/// then the token verified against it.
#[test]
fn json_web_key() {
    let file = "json_web_key_test.json";
    let doc = load(file);
    let mut tally = Tally::new(file);
    for g in groups(&doc) {
        let set = g
            .get("public")
            .or_else(|| g.get("private"))
            .expect("group key set");
        let verifier = JwkSet::from_json_lenient(&set.to_string())
            .map(|s| Verifier::new(s, Validation::default()));
        for t in tests(g) {
            let jws = t["jws"].as_str().unwrap();
            let ours = verifier
                .as_ref()
                .is_ok_and(|v| v.verify_signature(jws).is_ok());
            tally.check(t, ours);
        }
    }
    tally.finish();
}

/// The refusals above come with stable codes, not just `false`.
#[test]
fn refusals_carry_stable_codes() {
    let doc = load("json_web_signature_test.json");
    let hs = &groups(&doc)[0];
    let v = Verifier::new(
        JwkSet::from_keys(vec![Jwk::from_value(&hs["private"]).unwrap()]).unwrap(),
        Validation::default(),
    );
    let code = |i: usize| {
        v.verify_signature(tests(hs)[i]["jws"].as_str().unwrap())
            .unwrap_err()
            .code()
    };
    assert_eq!(code(1), ErrorCode::InvalidSignature); // modified signature
    assert_eq!(code(2), ErrorCode::InvalidSignature); // missing signature
    assert_eq!(code(3), ErrorCode::MalformedToken); // missing separator
    assert_eq!(code(15), ErrorCode::UnsupportedAlgorithm); // alg none
}
