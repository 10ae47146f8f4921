//! A JWT whose signature the host verifies with native crypto ([`Decision::Verify`]): the Worker
//! has WebCrypto, several times faster than the core in wasm on a cache miss; Envoy has none and
//! never asks. Everything but the primitive stays in the core (see [`crate::signature_check`]).

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::Value;

use super::sources::Provider;
use super::{Decision, Gateway, RateStore, Request};
use crate::signature_check::SignatureCheck;

/// The signature to verify, with the provider whose keys were chosen. Serializes to what the
/// host needs: `alg`, the candidate keys (`id`, unique in this process, and `jwk`: the public
/// key), the signing `input` and the `signature` (base64url).
#[derive(Debug, Clone)]
pub struct PendingSignature {
    provider: usize,
    check: SignatureCheck,
}

impl PendingSignature {
    pub(super) fn new(provider: usize, check: SignatureCheck) -> PendingSignature {
        PendingSignature { provider, check }
    }

    pub fn check(&self) -> &SignatureCheck {
        &self.check
    }

    /// The provider this check was prepared by, if `token` is the token it was prepared from
    /// (whole: signing input and signature).
    pub(super) fn provider_in<'p>(
        &self,
        providers: &'p [Provider],
        token: &str,
    ) -> Option<&'p Provider> {
        let same = self.check.token().is_ok_and(|t| t == token);
        same.then(|| providers.get(self.provider)).flatten()
    }
}

/// Two decisions are equal when they ask the same question of the same key set.
impl PartialEq for PendingSignature {
    fn eq(&self, other: &Self) -> bool {
        self.provider == other.provider
            && self.check.alg() == other.check.alg()
            && self.check.signing_input() == other.check.signing_input()
            && self.check.signature() == other.check.signature()
            && self
                .check
                .keys()
                .map(|(i, _)| i)
                .eq(other.check.keys().map(|(i, _)| i))
    }
}

impl Serialize for PendingSignature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let keys: Vec<Value> = self
            .check
            .keys()
            .map(|(id, key)| serde_json::json!({ "id": id, "jwk": key.public_members() }))
            .collect();
        let mut out = s.serialize_struct("PendingSignature", 4)?;
        out.serialize_field("alg", self.check.alg().name())?;
        out.serialize_field("keys", &keys)?;
        out.serialize_field(
            "input",
            &Base64UrlUnpadded::encode_string(self.check.signing_input()),
        )?;
        out.serialize_field(
            "signature",
            &Base64UrlUnpadded::encode_string(self.check.signature()),
        )?;
        out.end()
    }
}

impl Gateway {
    /// Finishes a decision that asked for a signature check ([`Decision::Verify`]), given the
    /// host's verdict (`None`: it could not verify natively, so the core does).
    pub fn on_verified(
        &self,
        req: &Request<'_>,
        pending: &PendingSignature,
        verdict: Option<bool>,
        limiter: &mut dyn RateStore,
    ) -> Decision {
        let now = req.now_ms / 1000;
        let ctx = self.answer(req);
        let found = match self.presented(req) {
            Ok(found) => found,
            Err(r) => return self.refuse(&ctx, r, limiter),
        };
        let answered = self.complete_jwt(found, pending, verdict, now);
        self.conclude(&ctx, answered, now, limiter)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::alg::Algorithm;
    use crate::error::ErrorCode;
    use crate::gateway::MemoryRateStore;
    use crate::sign::SigningKey;
    use crate::signature_check::WEB_CRYPTO;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://idp.test";

    fn gateway(key: &SigningKey) -> Gateway {
        let config = json!({"providers": [{"name": "idp", "issuer": ISS,
            "jwks": {"inline": {"keys": [key.public_jwk()]}}}]});
        let mut gw = Gateway::from_json(&config.to_string()).unwrap();
        gw.verify_natively(WEB_CRYPTO.to_vec());
        gw
    }

    fn token(key: &SigningKey, sub: &str) -> String {
        let claims = json!({"iss": ISS, "sub": sub, "exp": NOW + 600});
        key.mint(claims.as_object().unwrap(), None, &Map::new())
            .unwrap()
    }

    fn with_request<T>(token: &str, f: impl FnOnce(&Request<'_>) -> T) -> T {
        let value = format!("Bearer {token}");
        let headers = [("authorization", value.as_str())];
        f(&Request {
            method: "GET",
            path: "/",
            headers: &headers,
            peer: None,
            now_ms: NOW * 1000,
            sample: 0,
        })
    }

    fn pending(gw: &Gateway, token: &str) -> PendingSignature {
        let mut rs = MemoryRateStore::default();
        match with_request(token, |req| gw.decide(req, &mut rs)) {
            Decision::Verify(p) => p,
            other => panic!("no signature check: {:?}", other.code()),
        }
    }

    fn finish(gw: &Gateway, token: &str, p: &PendingSignature, verdict: Option<bool>) -> Decision {
        let mut rs = MemoryRateStore::default();
        with_request(token, |req| gw.on_verified(req, p, verdict, &mut rs))
    }

    #[test]
    fn the_host_is_asked_on_a_miss_and_its_yes_is_cached() {
        let key = SigningKey::generate(Algorithm::ES256, Some("k".into())).unwrap();
        let gw = gateway(&key);
        let t = token(&key, "alice");
        let p = pending(&gw, &t);
        let asked = serde_json::to_value(&p).unwrap();
        assert_eq!(asked["alg"], "ES256");
        let jwk = key.public_jwk();
        for member in ["kty", "crv", "x", "y"] {
            assert_eq!(asked["keys"][0]["jwk"][member], jwk[member], "{member}");
        }
        assert_eq!(
            asked["input"],
            Base64UrlUnpadded::encode_string(t.rsplit_once('.').unwrap().0.as_bytes())
        );
        assert!(matches!(
            finish(&gw, &t, &p, Some(true)),
            Decision::Forward(_)
        ));
        // The verified token is in the cache: no second question.
        let mut rs = MemoryRateStore::default();
        assert!(matches!(
            with_request(&t, |req| gw.decide(req, &mut rs)),
            Decision::Forward(_)
        ));
    }

    #[test]
    fn a_no_refuses_and_no_verdict_lets_the_core_decide() {
        let key = SigningKey::generate(Algorithm::RS256, Some("k".into())).unwrap();
        let other = SigningKey::generate(Algorithm::RS256, Some("k".into())).unwrap();
        let gw = gateway(&key);
        let good = token(&key, "alice");
        let d = finish(&gw, &good, &pending(&gw, &good), Some(false));
        assert_eq!(d.code(), Some(ErrorCode::InvalidSignature));
        let forged = token(&other, "mallory");
        let d = finish(&gw, &forged, &pending(&gw, &forged), None);
        assert_eq!(d.code(), Some(ErrorCode::InvalidSignature));
        let d = finish(&gw, &good, &pending(&gw, &good), None);
        assert!(matches!(d, Decision::Forward(_)), "{:?}", d.code());
    }

    #[test]
    fn a_yes_for_one_token_does_not_pass_another() {
        let key = SigningKey::generate(Algorithm::ES256, Some("k".into())).unwrap();
        let gw = gateway(&key);
        let asked = token(&key, "alice");
        let p = pending(&gw, &asked);
        let other = token(&key, "bob");
        let d = finish(&gw, &other, &p, Some(true));
        assert_eq!(d.code(), Some(ErrorCode::InvalidSignature));
    }

    #[test]
    fn a_yes_for_a_token_checked_before_a_rotation_is_not_trusted() {
        let old = SigningKey::generate(Algorithm::ES256, Some("k".into())).unwrap();
        let new = SigningKey::generate(Algorithm::ES256, Some("k2".into())).unwrap();
        let config = json!({"providers": [{"name": "idp", "issuer": ISS,
            "jwks": {"remote": {"cluster": "idp", "path": "/jwks", "refresh_secs": 60}}}]});
        let mut gw = Gateway::from_json(&config.to_string()).unwrap();
        gw.verify_natively(WEB_CRYPTO.to_vec());
        let feed = |gw: &mut Gateway, key: &SigningKey| {
            let jwks = json!({"keys": [key.public_jwk()]}).to_string();
            gw.fetched(
                "jwks:idp",
                200,
                &Default::default(),
                jwks.as_bytes(),
                NOW * 1000,
            );
        };
        feed(&mut gw, &old);
        let t = token(&old, "alice");
        let p = pending(&gw, &t);
        // The old key is rotated out while the host verifies.
        feed(&mut gw, &new);
        let d = finish(&gw, &t, &p, Some(true));
        assert_eq!(d.code(), Some(ErrorCode::UnknownKey));
        let mut rs = MemoryRateStore::default();
        let again = with_request(&t, |req| gw.decide(req, &mut rs));
        assert_eq!(again.code(), Some(ErrorCode::UnknownKey), "not cached");
    }

    #[test]
    fn a_yes_for_one_signature_does_not_pass_another_on_the_same_input() {
        let key = SigningKey::generate(Algorithm::ES256, Some("k".into())).unwrap();
        let gw = gateway(&key);
        let t = token(&key, "alice");
        let p = pending(&gw, &t);
        // The same signing input with another signature (one byte changed).
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut sig = Base64UrlUnpadded::decode_vec(sig).unwrap();
        sig[10] ^= 1;
        let spliced = format!("{input}.{}", Base64UrlUnpadded::encode_string(&sig));
        let d = finish(&gw, &spliced, &p, Some(true));
        assert_eq!(d.code(), Some(ErrorCode::InvalidSignature));
    }

    #[test]
    fn hmac_is_never_handed_over() {
        let key = SigningKey::generate(Algorithm::HS256, Some("k".into())).unwrap();
        let config = json!({"providers": [{"name": "idp", "issuer": ISS,
            "jwks": {"inline": {"keys": [key.private_jwk()]}}}]});
        let mut gw = Gateway::from_json(&config.to_string()).unwrap();
        gw.verify_natively(Algorithm::ALL.to_vec());
        let mut rs = MemoryRateStore::default();
        let d = with_request(&token(&key, "alice"), |req| gw.decide(req, &mut rs));
        assert!(matches!(d, Decision::Forward(_)), "{:?}", d.code());
    }
}
