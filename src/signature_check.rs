//! A JWS signature check handed to a host with native crypto. WebCrypto (Node, workerd,
//! browsers) verifies RSA and ECDSA in native code, several times faster than Rust compiled to
//! wasm; Envoy's proxy-wasm ABI has no crypto, so the filter and the CLI verify in the core.
//!
//! Only the primitive moves: [`Verifier::prepare`](crate::verify::Verifier::prepare) parses the
//! token, binds the algorithm, chooses the candidate keys and applies the signature-length rule;
//! the host answers whether the signature verifies under one of the keys;
//! [`Verifier::complete`](crate::verify::Verifier::complete) reads and checks the claims only
//! after a yes. HMAC never leaves the core: the secret stays in it, and it is faster there.

use std::sync::Arc;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{json, Value};

use crate::alg::Algorithm;
use crate::error::{AuthError, ErrorCode};
use crate::jwks::JwkSet;
use crate::key::VerifyingKey;
use crate::token::Header;
use crate::verify::Verified;

/// The algorithms worth handing to WebCrypto: RSA and ECDSA. HMAC keeps its secret in the core
/// and Ed25519 is faster there (docs/benchmarks.md).
pub const WEB_CRYPTO: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
];

/// WebCrypto's parameters for a JWS algorithm of [`WEB_CRYPTO`]: `{"import": …, "verify": …}`,
/// the `importKey` (from a JWK) and `verify` algorithm identifiers. RFC 7518 §3.5: the PSS salt
/// is as long as the hash output; §3.4: ECDSA signatures are `r || s`, WebCrypto's own form.
pub fn web_crypto(alg: Algorithm) -> Option<Value> {
    let pkcs1 = |hash: &str| json!({"import": {"name": "RSASSA-PKCS1-v1_5", "hash": hash}, "verify": {"name": "RSASSA-PKCS1-v1_5"}});
    let pss = |hash: &str, salt: u32| json!({"import": {"name": "RSA-PSS", "hash": hash}, "verify": {"name": "RSA-PSS", "saltLength": salt}});
    let ecdsa = |curve: &str, hash: &str| json!({"import": {"name": "ECDSA", "namedCurve": curve}, "verify": {"name": "ECDSA", "hash": hash}});
    Some(match alg {
        Algorithm::RS256 => pkcs1("SHA-256"),
        Algorithm::RS384 => pkcs1("SHA-384"),
        Algorithm::RS512 => pkcs1("SHA-512"),
        Algorithm::PS256 => pss("SHA-256", 32),
        Algorithm::PS384 => pss("SHA-384", 48),
        Algorithm::PS512 => pss("SHA-512", 64),
        Algorithm::ES256 => ecdsa("P-256", "SHA-256"),
        Algorithm::ES384 => ecdsa("P-384", "SHA-384"),
        Algorithm::ES512 => ecdsa("P-521", "SHA-512"),
        _ => return None,
    })
}

/// What [`Verifier::prepare`](crate::verify::Verifier::prepare) gives back.
#[derive(Debug)]
pub enum Prepared {
    /// Verified by the core: an algorithm the host does not verify natively.
    Verified(Verified),
    /// The host verifies this signature, then hands its verdict to `complete`.
    Check(SignatureCheck),
}

/// One signature to verify: the algorithm, the candidate keys (it verifies if any one does), the
/// signing input and the signature, whose length already fits every candidate. Holds the key set
/// it was prepared with, so a set replaced while the host verifies cannot change what is checked.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    pub(crate) alg: Algorithm,
    pub(crate) keys: Arc<JwkSet>,
    /// The candidates' positions in `keys`.
    pub(crate) candidates: Vec<usize>,
    pub(crate) input: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    pub(crate) header: Header,
    pub(crate) payload: Vec<u8>,
}

impl SignatureCheck {
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The candidates in the order to try, each with an id naming it among every key set of
    /// this process (`{set serial}.{position}`): a host caches its native copy of a key by it.
    pub fn keys(&self) -> impl Iterator<Item = (String, &VerifyingKey)> {
        let all = self.keys.keys();
        let serial = self.keys.serial();
        self.candidates
            .iter()
            .filter_map(move |&i| Some((format!("{serial}.{i}"), all.get(i)?.key())))
    }

    /// The JWS signing input, `BASE64URL(header) || '.' || BASE64URL(payload)`, as bytes.
    pub fn signing_input(&self) -> &[u8] {
        &self.input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The compact token this check was prepared from.
    pub fn token(&self) -> Result<String, AuthError> {
        let input = std::str::from_utf8(&self.input)
            .map_err(|_| AuthError::new(ErrorCode::MalformedToken))?;
        Ok(format!(
            "{input}.{}",
            Base64UrlUnpadded::encode_string(&self.signature)
        ))
    }

    /// The core's own verdict, for a host whose native crypto lacks the algorithm or the key.
    pub fn verify_in_core(&self) -> bool {
        self.keys()
            .any(|(_, k)| self.alg.verify(k, &self.input, &self.signature))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::sign::SigningKey;
    use crate::verify::{Validation, Verifier};

    const NOW: u64 = 1_800_000_000;

    fn setup(algs: &[Algorithm]) -> (Vec<SigningKey>, Verifier) {
        let keys: Vec<SigningKey> = algs
            .iter()
            .enumerate()
            .map(|(i, a)| SigningKey::generate(*a, Some(format!("k{i}"))).unwrap())
            .collect();
        let jwks = json!({ "keys": keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>() });
        let set = JwkSet::from_json(&jwks.to_string()).unwrap();
        (keys, Verifier::new(set, Validation::default()))
    }

    fn mint(key: &SigningKey, claims: Value) -> String {
        key.mint(claims.as_object().unwrap(), None, &Map::new())
            .unwrap()
    }

    fn check(v: &Verifier, token: &str) -> SignatureCheck {
        match v.prepare(token, NOW, |_| true).unwrap() {
            Prepared::Check(c) => c,
            Prepared::Verified(_) => panic!("verified by the core"),
        }
    }

    #[test]
    fn the_host_gets_the_key_named_by_kid_and_the_core_checks_the_claims_after_its_yes() {
        let (keys, v) = setup(&[Algorithm::RS256, Algorithm::ES256]);
        let token = mint(&keys[1], json!({"sub": "u", "exp": NOW + 60}));
        let c = check(&v, &token);
        assert_eq!(c.alg(), Algorithm::ES256);
        let serial = v.keys().serial();
        assert_eq!(
            c.keys().map(|(id, _)| id).collect::<Vec<_>>(),
            [format!("{serial}.1")]
        );
        assert_eq!(
            c.signing_input(),
            token.rsplit_once('.').unwrap().0.as_bytes()
        );
        assert!(c.verify_in_core());
        assert_eq!(v.complete(c, Some(true), NOW).unwrap().sub(), Some("u"));
        let e = v.complete(check(&v, &token), Some(false), NOW).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidSignature);
        let e = v
            .complete(check(&v, &token), Some(true), NOW + 3600)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::ExpiredToken);
    }

    #[test]
    fn without_a_verdict_the_core_verifies_and_a_forgery_fails() {
        let (keys, v) = setup(&[Algorithm::ES256]);
        let (other, _) = setup(&[Algorithm::ES256]);
        let forged = mint(&other[0], json!({"sub": "u", "exp": NOW + 60}));
        let e = v.complete(check(&v, &forged), None, NOW).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidSignature);
        let good = mint(&keys[0], json!({"sub": "u", "exp": NOW + 60}));
        assert!(v.complete(check(&v, &good), None, NOW).is_ok());
    }

    #[test]
    fn a_yes_for_a_check_prepared_with_other_keys_is_not_trusted() {
        let (keys, old) = setup(&[Algorithm::ES256]);
        let token = mint(&keys[0], json!({"sub": "u", "exp": NOW + 60}));
        let c = check(&old, &token);
        assert_eq!(c.token().unwrap(), token);
        // The keys were replaced (a rotation) while the host verified: the core checks again.
        let (_, rotated) = setup(&[Algorithm::ES256]);
        let e = rotated.complete(c, Some(true), NOW).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidSignature);
        // Still in the set: accepted on the core's own verification.
        let kept = Verifier::new(old.keys().clone(), Validation::default());
        assert!(kept.complete(check(&old, &token), Some(false), NOW).is_ok());
    }

    #[test]
    fn claims_are_not_read_before_the_verdict() {
        let (keys, v) = setup(&[Algorithm::ES256]);
        let token = mint(&keys[0], json!({"exp": NOW + 60}));
        let (head, sig) = token.rsplit_once('.').unwrap();
        let header = head.split('.').next().unwrap();
        // A payload that is not JSON, under the original signature.
        let bad = format!("{header}.bm90IGpzb24.{sig}");
        let e = v.complete(check(&v, &bad), Some(false), NOW).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidSignature);
    }

    #[test]
    fn web_crypto_takes_rsa_and_ecdsa_only() {
        for alg in Algorithm::ALL {
            assert_eq!(
                web_crypto(alg).is_some(),
                WEB_CRYPTO.contains(&alg),
                "{alg}"
            );
        }
        let es = web_crypto(Algorithm::ES384).unwrap();
        assert_eq!(es["import"]["namedCurve"], "P-384");
        assert_eq!(es["verify"]["hash"], "SHA-384");
        assert_eq!(
            web_crypto(Algorithm::PS512).unwrap()["verify"]["saltLength"],
            64
        );
    }

    #[test]
    fn hmac_and_algorithms_the_host_does_not_take_stay_in_the_core() {
        for alg in [Algorithm::HS256, Algorithm::EdDSA] {
            let (keys, v) = setup(&[alg]);
            let token = mint(&keys[0], json!({"sub": "u", "exp": NOW + 60}));
            match v.prepare(&token, NOW, |a| a == Algorithm::HS256).unwrap() {
                Prepared::Verified(ok) => assert_eq!(ok.sub(), Some("u")),
                Prepared::Check(_) => panic!("{alg:?} left the core"),
            }
        }
    }

    #[test]
    fn a_signature_of_the_wrong_length_never_reaches_the_host() {
        let (keys, v) = setup(&[Algorithm::RS256, Algorithm::ES256]);
        for key in &keys {
            let token = mint(key, json!({"exp": NOW + 60}));
            let (input, sig) = token.rsplit_once('.').unwrap();
            let sig = Base64UrlUnpadded::decode_vec(sig).unwrap();
            let shorter = format!(
                "{input}.{}",
                Base64UrlUnpadded::encode_string(&sig[..sig.len() - 1])
            );
            let e = v.prepare(&shorter, NOW, |_| true).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidSignature, "{:?}", key.alg());
        }
    }

    #[test]
    fn the_policy_and_kid_refusals_come_before_the_host() {
        let (keys, _) = setup(&[Algorithm::ES256]);
        let (_, v) = setup(&[Algorithm::RS256]);
        let token = mint(&keys[0], json!({"exp": NOW + 60}));
        let e = v.prepare(&token, NOW, |_| true).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnsupportedAlgorithm);
    }
}
