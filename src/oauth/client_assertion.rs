//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): the client proves who it is with
//! a short-lived JWT signed by its private key instead of a shared secret; the provider checks
//! it against the public key it registered. One assertion per request: a fresh `jti` so the
//! provider can refuse a replay, and a lifetime just long enough for the request.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

use crate::error::{AuthError, ErrorCode};
use crate::key::KeyFamily;
use crate::sign::SigningKey;

/// Seconds an assertion is valid for: it is sent at once, and a stolen one expires quickly.
pub const ASSERTION_LIFETIME: u64 = 60;

/// The assertion for one request to `audience` (the endpoint's URL) at `now`: `iss` and `sub`
/// are the client id, `aud` the endpoint, `jti` 128 random bits, `iat` now, `exp` a minute
/// later. An HMAC key is refused: that would be `client_secret_jwt`, not a private key.
pub fn private_key_jwt(
    client_id: &str,
    audience: &str,
    key: &SigningKey,
    now: u64,
) -> Result<String, AuthError> {
    if key.alg().family() == KeyFamily::Oct {
        return Err(AuthError::with_message(
            ErrorCode::InvalidConfig,
            "private_key_jwt needs an asymmetric private key (RSA, EC or Ed25519)",
        ));
    }
    if client_id.is_empty() || audience.is_empty() {
        return Err(AuthError::with_message(
            ErrorCode::InvalidConfig,
            "the client assertion needs a client id and an audience",
        ));
    }
    let jti = Base64UrlUnpadded::encode_string(&crate::random::bytes::<16>()?);
    let mut claims = Map::new();
    claims.insert("iss".into(), client_id.into());
    claims.insert("sub".into(), client_id.into());
    claims.insert("aud".into(), audience.into());
    claims.insert("jti".into(), jti.into());
    claims.insert("iat".into(), now.into());
    claims.insert(
        "exp".into(),
        Value::from(now.saturating_add(ASSERTION_LIFETIME)),
    );
    key.mint(&claims, None, &Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::jwks::JwkSet;
    use crate::verify::{Validation, Verifier};

    #[test]
    fn the_assertion_verifies_with_the_public_key_and_carries_rfc7523_claims() {
        let key = SigningKey::generate(Algorithm::ES256, Some("k1".into())).unwrap();
        let aud = "https://as.example/token";
        let jwt = private_key_jwt("app", aud, &key, 1_700_000_000).unwrap();
        let jwks = format!(r#"{{"keys":[{}]}}"#, key.public_jwk());
        let policy = Validation {
            algorithms: vec![Algorithm::ES256],
            issuers: vec!["app".into()],
            audiences: vec![aud.into()],
            leeway: 0,
            ..Validation::default()
        };
        let verifier = Verifier::new(JwkSet::from_json(&jwks).unwrap(), policy);
        let verified = verifier.verify(&jwt, 1_700_000_030).unwrap();
        let claims = verified.claims();
        assert_eq!(claims["sub"], "app");
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_000_060u64);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
        let again = private_key_jwt("app", aud, &key, 1_700_000_000).unwrap();
        assert_ne!(jwt, again, "a fresh jti per assertion");
        assert!(verifier.verify(&jwt, 1_700_000_061).is_err(), "short-lived");
    }

    #[test]
    fn hmac_keys_and_empty_names_are_refused() {
        let hmac = SigningKey::generate(Algorithm::HS256, None).unwrap();
        let err = private_key_jwt("app", "https://as/token", &hmac, 0).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        let rsa = SigningKey::generate(Algorithm::ES256, None).unwrap();
        assert!(private_key_jwt("", "https://as/token", &rsa, 0).is_err());
    }
}
