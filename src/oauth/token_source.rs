//! A token handed out by the app's own backend (GoPie's `createPublicToken` behind
//! `POST /api/gopie-token` → `{"token"}`): what its answer means and when the token expires.
//! The session it starts has no refresh token; `Session::renewal_due` says when to ask the
//! backend again.

use crate::error::{AuthError, ErrorCode};
use crate::oauth::http::MAX_RESPONSE_BYTES;
use crate::oauth::members::{self, Slot};
use crate::oauth::unverified;
use crate::session::{ClockOffset, Session, StoredTokens};

/// Reads the backend's answer received at `now` (host clock). `{"token"}` (or `{"access_token"}`)
/// with an optional `expires_in`; without it the expiry is the token's own `exp` when the token
/// is a JWT (read, not verified: the edge verifies it, this only schedules the renewal), else
/// the token is used until a `401`.
///
/// `401`/`403` mean the user has no session at the backend: [`ErrorCode::SessionExpired`].
/// Any other answer that is not a `2xx` with a token is [`ErrorCode::InvalidResponse`], with
/// `retry_after` for `5xx`, `408` and `429` (the backend may recover).
pub fn session_from_token_source(
    status: u16,
    body: &[u8],
    now: u64,
    clock: ClockOffset,
) -> Result<Session, AuthError> {
    let invalid = |msg| AuthError::with_message(ErrorCode::InvalidResponse, msg);
    match status {
        200..=299 => {}
        401 | 403 => {
            return Err(AuthError::with_message(
                ErrorCode::SessionExpired,
                "the token source refused: no session at the backend",
            ))
        }
        408 | 429 | 500..=599 => {
            return Err(invalid("the token source is unavailable").with_retry_after(1))
        }
        _ => return Err(invalid("the token source answered with an error status")),
    }
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(invalid("the token source's answer is too large"));
    }
    let (mut token, mut access_token, mut expires_in) = (None, None, None);
    members::read(
        body,
        &mut [
            ("token", Slot::Str(&mut token)),
            ("access_token", Slot::Str(&mut access_token)),
            ("expires_in", Slot::U64(&mut expires_in)),
        ],
    )
    .map_err(|_| invalid("the token source's answer is not the expected JSON object"))?;
    let token = match (token, access_token) {
        (Some(t), None) | (None, Some(t)) if is_token(&t) => t,
        _ => return Err(invalid("the token source's answer has no usable token")),
    };
    let server_now = clock.apply(now);
    let expires_at = match expires_in {
        Some(secs) => Some(server_now.saturating_add(secs)),
        None => unverified::payload(&token)
            .and_then(|p| unverified::known_claims(&p))
            .ok()
            .and_then(|c| c.exp),
    };
    Ok(Session::new(
        StoredTokens {
            access_token: token,
            access_expires_at: expires_at,
            refresh_token: None,
            refresh_expires_at: None,
            issued_at: server_now,
            id_token: None,
        },
        clock,
    ))
}

/// A bearer token (RFC 6750 §2.1 `b64token`), so it can go into an `Authorization` header.
fn is_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 16 * 1024
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    const NOW: u64 = 1_700_000_000;

    fn jwt(claims: &str) -> String {
        format!(
            "e30.{}.c2ln",
            Base64UrlUnpadded::encode_string(claims.as_bytes())
        )
    }

    fn read(status: u16, body: &str) -> Result<Session, AuthError> {
        session_from_token_source(status, body.as_bytes(), NOW, ClockOffset::default())
    }

    #[test]
    fn expires_in_sets_the_expiry_and_renewal_comes_before_it() {
        let s = read(200, r#"{"token":"abc","expires_in":3600}"#).unwrap();
        assert_eq!(s.access_token(), "abc");
        assert_eq!(s.tokens().access_expires_at, Some(NOW + 3600));
        assert!(!s.renewal_due(NOW + 3000));
        assert!(s.renewal_due(NOW + 3300));
        assert!(
            !s.can_refresh(NOW),
            "nothing to refresh with: the backend is asked again"
        );
    }

    #[test]
    fn without_expires_in_the_jwt_exp_is_used_unverified() {
        let token = jwt(&format!(r#"{{"exp":{}}}"#, NOW + 600));
        let s = read(200, &format!(r#"{{"token":"{token}"}}"#)).unwrap();
        assert_eq!(s.tokens().access_expires_at, Some(NOW + 600));
        assert!(s.renewal_due(NOW + 541));
        // expires_in wins over exp; an opaque token without either is used until a 401.
        let s = read(200, &format!(r#"{{"token":"{token}","expires_in":60}}"#)).unwrap();
        assert_eq!(s.tokens().access_expires_at, Some(NOW + 60));
        let s = read(200, r#"{"access_token":"opaque"}"#).unwrap();
        assert_eq!(s.tokens().access_expires_at, None);
        assert!(!s.renewal_due(NOW + 86_400));
    }

    #[test]
    fn the_backend_clock_is_used_for_expires_in() {
        let clock = ClockOffset::from_seconds(-100);
        let s = session_from_token_source(200, br#"{"token":"t","expires_in":300}"#, NOW, clock)
            .unwrap();
        assert_eq!(s.tokens().access_expires_at, Some(NOW - 100 + 300));
    }

    #[test]
    fn refusals_and_garbage_have_stable_codes() {
        for status in [401, 403] {
            let e = read(status, "{}").unwrap_err();
            assert_eq!(e.code(), ErrorCode::SessionExpired);
        }
        for status in [429, 500, 503] {
            let e = read(status, "").unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidResponse);
            assert!(e.retry_after().is_some());
        }
        assert_eq!(read(404, "").unwrap_err().retry_after(), None);
        for body in [
            "",
            "[]",
            "{}",
            r#"{"token":""}"#,
            r#"{"token":"a b"}"#,
            r#"{"token":"a\r\nx: y"}"#,
            r#"{"token":"a","access_token":"b"}"#,
            r#"{"token":"a","token":"b"}"#,
            r#"{"token":"a","expires_in":-1}"#,
        ] {
            let e = read(200, body).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidResponse, "{body}");
        }
    }
}
