//! A JWT's claims read without its signature, for tokens this client received straight from a
//! server over TLS (an ID token from the token endpoint, OpenID Connect Core §3.1.3.7; a token
//! from the app's own backend). What is read serves the client itself (a nonce, an expiry, the
//! user's profile), never an authorization decision. No JWS header handling is involved, so the
//! browser build carries none.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::de::DeserializeOwned;

use crate::error::{AuthError, ErrorCode};
use crate::oauth::members::{self, Slot};

/// The decoded payload of a compact JWS (`header.payload.signature`).
pub fn payload(token: &str) -> Result<Vec<u8>, AuthError> {
    let invalid = |msg| AuthError::with_message(ErrorCode::InvalidResponse, msg);
    match token.split('.').collect::<Vec<_>>()[..] {
        [_, payload, _] => Base64UrlUnpadded::decode_vec(payload)
            .map_err(|_| invalid("the token payload is not base64url")),
        _ => Err(invalid("the token is not a compact JWS")),
    }
}

/// The claims the client reads (an ID token's `nonce` and `sub`, a token's `exp`, a UserInfo
/// answer's `sub`): one reader for all keeps the browser build small.
#[derive(Debug, Default)]
pub struct KnownClaims {
    pub sub: Option<String>,
    pub exp: Option<u64>,
    pub nonce: Option<String>,
}

/// [`KnownClaims`] of a JSON object (a token's payload, a UserInfo answer); a repeated one is
/// refused.
pub fn known_claims(json: &[u8]) -> Result<KnownClaims, AuthError> {
    let mut c = KnownClaims::default();
    members::read(
        json,
        &mut [
            ("sub", Slot::Str(&mut c.sub)),
            ("exp", Slot::U64(&mut c.exp)),
            ("nonce", Slot::Str(&mut c.nonce)),
        ],
    )
    .map_err(|_| {
        AuthError::with_message(
            ErrorCode::InvalidResponse,
            "the claims are not the expected JSON object",
        )
    })?;
    Ok(c)
}

/// The payload read as `T`; a repeated claim `T` names is refused.
pub fn claims<T: DeserializeOwned>(token: &str) -> Result<T, AuthError> {
    serde_json::from_slice(&payload(token)?).map_err(|_| {
        AuthError::with_message(
            ErrorCode::InvalidResponse,
            "the token claims are not the expected JSON object",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        format!(
            "e30.{}.sig",
            Base64UrlUnpadded::encode_string(claims.as_bytes())
        )
    }

    #[derive(serde::Deserialize)]
    struct Exp {
        exp: Option<u64>,
    }

    #[test]
    fn reads_claims_of_a_compact_jws() {
        assert_eq!(claims::<Exp>(&token(r#"{"exp":5}"#)).unwrap().exp, Some(5));
        assert_eq!(claims::<Exp>(&token("{}")).unwrap().exp, None);
    }

    #[test]
    fn refuses_what_is_not_one() {
        for bad in ["a.b", "a.b.c.d", "", "e30.!!.x"] {
            let e = payload(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidResponse, "{bad}");
        }
        assert!(claims::<Exp>(&token("[]")).is_err());
        assert!(claims::<Exp>(&token(r#"{"exp":1,"exp":2}"#)).is_err());
        assert!(claims::<Exp>(&token(r#"{"exp":"soon"}"#)).is_err());
    }
}
