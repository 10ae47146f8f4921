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

use crate::alg::Algorithm;
use crate::jwks::JwkSet;
use crate::key::VerifyingKey;
use crate::token::Header;
use crate::verify::Verified;

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
#[derive(Debug)]
pub struct SignatureCheck {
    pub(crate) alg: Algorithm,
    pub(crate) keys: Arc<JwkSet>,
    /// The candidates' positions in `keys` (hosts cache their native keys by it).
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

    /// The candidates in the order to try, each with its position in the key set it came from.
    pub fn keys(&self) -> impl Iterator<Item = (usize, &VerifyingKey)> {
        let all = self.keys.keys();
        self.candidates
            .iter()
            .filter_map(|&i| Some((i, all.get(i)?.key())))
    }

    /// The JWS signing input, `BASE64URL(header) || '.' || BASE64URL(payload)`, as bytes.
    pub fn signing_input(&self) -> &[u8] {
        &self.input
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The core's own verdict, for a host whose native crypto lacks the algorithm or the key.
    pub fn verify_in_core(&self) -> bool {
        self.keys()
            .any(|(_, k)| self.alg.verify(k, &self.input, &self.signature))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::*;
    use crate::error::ErrorCode;
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
        assert_eq!(c.keys().map(|(i, _)| i).collect::<Vec<_>>(), [1]);
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
        use base64ct::{Base64UrlUnpadded, Encoding};
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
