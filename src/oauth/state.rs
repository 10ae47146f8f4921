//! `state` (CSRF protection of the redirect, RFC 6749 §10.12) and `nonce` (ID token replay
//! protection, OpenID Connect Core §3.1.2.1): unguessable values the client keeps and later
//! compares in constant time.

use base64ct::{Base64UrlUnpadded, Encoding};
use subtle::ConstantTimeEq;

use crate::error::{AuthError, ErrorCode};
use crate::random;

/// 256 random bits, base64url without padding (43 characters).
pub fn generate_state() -> Result<String, AuthError> {
    random_token()
}

/// 256 random bits, base64url without padding (43 characters).
pub fn generate_nonce() -> Result<String, AuthError> {
    random_token()
}

fn random_token() -> Result<String, AuthError> {
    Ok(Base64UrlUnpadded::encode_string(&random::bytes::<32>()?))
}

/// Compares the `state` returned on the redirect with the one the client stored. An empty
/// stored value never matches, so a lost session cannot be mistaken for a valid one.
pub fn verify_state(expected: &str, received: &str) -> Result<(), AuthError> {
    if constant_time_eq(expected, received) {
        Ok(())
    } else {
        Err(AuthError::new(ErrorCode::StateMismatch))
    }
}

/// Compares an ID token's `nonce` claim with the one the client stored.
pub fn verify_nonce(expected: &str, received: &str) -> Result<(), AuthError> {
    if constant_time_eq(expected, received) {
        Ok(())
    } else {
        Err(AuthError::with_message(
            ErrorCode::InvalidClaim,
            "The nonce does not match",
        ))
    }
}

/// Equal and non-empty; the time taken depends only on the lengths.
fn constant_time_eq(expected: &str, received: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_long_random_base64url() {
        let a = generate_state().unwrap();
        let b = generate_state().unwrap();
        let n = generate_nonce().unwrap();
        assert_eq!(a.len(), 43);
        assert_eq!(Base64UrlUnpadded::decode_vec(&a).unwrap().len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
        assert_ne!(a, n);
    }

    #[test]
    fn state_must_match_exactly() {
        let s = "xyzABC-_123";
        assert!(verify_state(s, s).is_ok());
        for bad in [
            "",
            "xyzABC-_12",
            "xyzABC-_1234",
            "XYZABC-_123",
            "xyzABC-_123 ",
        ] {
            let err = verify_state(s, bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::StateMismatch, "{bad:?}");
        }
    }

    #[test]
    fn empty_expected_state_never_matches() {
        assert_eq!(
            verify_state("", "").unwrap_err().code(),
            ErrorCode::StateMismatch
        );
        assert!(verify_nonce("", "").is_err());
    }

    #[test]
    fn nonce_mismatch_is_an_invalid_claim() {
        assert!(verify_nonce("n-0S6_WzA2Mj", "n-0S6_WzA2Mj").is_ok());
        let err = verify_nonce("n-0S6_WzA2Mj", "n-0S6_WzA2Mk").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClaim);
        assert_eq!(err.message(), "The nonce does not match");
    }

    #[test]
    fn unicode_is_compared_bytewise() {
        assert!(verify_state("é", "é").is_ok());
        assert!(verify_state("é", "e\u{301}").is_err());
    }
}
