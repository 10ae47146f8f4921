//! Reading a token endpoint's answer (RFC 6749 §5.1 success, §5.2 error).

use std::fmt;

use crate::error::{AuthError, ErrorCode};
use crate::oauth::error_response;
use crate::oauth::http::check_body_size;
use crate::oauth::members::{self, Slot};

/// A successful token response. The token type is always `Bearer` (others are refused).
/// `Debug` redacts the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// An RFC 6750 `b64token`, safe to put in an `Authorization` header.
    pub access_token: String,
    /// Lifetime in seconds from when the response was received.
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub id_token: Option<String>,
    /// Refresh token lifetime in seconds (Keycloak and others); `0` is read as "not stated".
    pub refresh_expires_in: Option<u64>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &redact(&self.refresh_token))
            .field("scope", &self.scope)
            .field("id_token", &redact(&self.id_token))
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

/// Parses a token endpoint response.
///
/// * `200` with an access token: [`TokenResponse`], after checking `token_type` is `Bearer`
///   (any case) and every field's syntax.
/// * An RFC 6749 §5.2 error object with any error status, or with `200` and no access token
///   (some providers do this): [`ErrorCode::OauthError`] with the
///   [`OAuthErrorResponse`](crate::oauth::OAuthErrorResponse).
/// * Anything else, or a body over [`MAX_RESPONSE_BYTES`](crate::oauth::MAX_RESPONSE_BYTES):
///   [`ErrorCode::InvalidResponse`].
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenResponse, AuthError> {
    check_body_size(body)?;
    if status != 200 {
        return Err(error_from_body(status, body));
    }
    let mut raw = RawTokenResponse::read(body).ok_or_else(invalid)?;
    match raw.access_token.take() {
        Some(access_token) => success(access_token, raw),
        None => Err(error_from_body(status, body)),
    }
}

fn success(access_token: String, raw: RawTokenResponse) -> Result<TokenResponse, AuthError> {
    if !raw
        .token_type
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(AuthError::with_message(
            ErrorCode::InvalidResponse,
            "the token type is not Bearer",
        ));
    }
    if !is_b64token(&access_token) {
        return Err(invalid());
    }
    let refresh_token = non_empty(raw.refresh_token);
    let id_token = non_empty(raw.id_token);
    let scope = non_empty(raw.scope);
    let vschar = |s: &Option<String>| s.iter().all(|s| is_vschar(s));
    if !vschar(&refresh_token) || !vschar(&id_token) || !scope.iter().all(|s| is_scope(s)) {
        return Err(invalid());
    }
    Ok(TokenResponse {
        access_token,
        expires_in: raw.expires_in,
        refresh_token,
        scope,
        id_token,
        refresh_expires_in: raw.refresh_expires_in.filter(|s| *s > 0),
    })
}

fn error_from_body(status: u16, body: &[u8]) -> AuthError {
    let is_error_status = status == 200 || (400..600).contains(&status);
    match error_response::from_json_body(body) {
        Some(e) if is_error_status => e.into_auth_error(),
        _ => invalid(),
    }
}

fn invalid() -> AuthError {
    AuthError::new(ErrorCode::InvalidResponse)
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// RFC 6749 Appendix A `VSCHAR` (`%x20-7E`).
fn is_vschar(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// RFC 6749 §3.3: scope tokens of `%x21 / %x23-5B / %x5D-7E` separated by spaces.
fn is_scope(s: &str) -> bool {
    s.bytes().all(|b| {
        b == b' ' || (b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    })
}

#[derive(Default)]
struct RawTokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    scope: Option<String>,
    id_token: Option<String>,
    refresh_expires_in: Option<u64>,
}

impl RawTokenResponse {
    fn read(body: &[u8]) -> Option<RawTokenResponse> {
        let mut r = RawTokenResponse::default();
        members::read(
            body,
            &mut [
                ("access_token", Slot::Str(&mut r.access_token)),
                ("token_type", Slot::Str(&mut r.token_type)),
                ("expires_in", Slot::Seconds(&mut r.expires_in)),
                ("refresh_token", Slot::Str(&mut r.refresh_token)),
                ("scope", Slot::Str(&mut r.scope)),
                ("id_token", Slot::Str(&mut r.id_token)),
                (
                    "refresh_expires_in",
                    Slot::Seconds(&mut r.refresh_expires_in),
                ),
            ],
        )
        .ok()?;
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::error_response::OAuthErrorKind;
    use crate::oauth::MAX_RESPONSE_BYTES;

    fn ok(body: &str) -> TokenResponse {
        parse_token_response(200, body.as_bytes()).unwrap()
    }

    fn code(status: u16, body: &str) -> ErrorCode {
        parse_token_response(status, body.as_bytes())
            .unwrap_err()
            .code()
    }

    #[test]
    fn rfc6749_example_response() {
        // RFC 6749 §4.1.4, with the token type this toolkit requires.
        let t = ok(r#"{
            "access_token":"2YotnFZFEjr1zCsicMWpAA",
            "token_type":"Bearer",
            "expires_in":3600,
            "example_parameter":"example_value"
        }"#);
        assert_eq!(t.access_token, "2YotnFZFEjr1zCsicMWpAA");
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.refresh_token, None);
    }

    #[test]
    fn all_fields() {
        let t = ok(
            r#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
            "token_type":"bearer","expires_in":"300","refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA",
            "scope":"openid profile","id_token":"eyJ.eyJ.sig","refresh_expires_in":1800,
            "not_before_policy":0,"session_state":{"nested":[1,2,3]}}"#,
        );
        assert_eq!(t.expires_in, Some(300));
        assert_eq!(t.refresh_token.as_deref(), Some("tGzv3JOkF0XG5Qx2TlKWIA"));
        assert_eq!(t.scope.as_deref(), Some("openid profile"));
        assert_eq!(t.id_token.as_deref(), Some("eyJ.eyJ.sig"));
        assert_eq!(t.refresh_expires_in, Some(1800));
    }

    #[test]
    fn token_type_must_be_bearer() {
        for tt in ["\"BEARER\"", "\"Bearer\"", "\"bEaReR\""] {
            let body = format!(r#"{{"access_token":"a","token_type":{tt}}}"#);
            assert!(parse_token_response(200, body.as_bytes()).is_ok(), "{tt}");
        }
        for tt in [
            "\"DPoP\"",
            "\"mac\"",
            "\"\"",
            "\"Bearer \"",
            "null",
            "1",
            "[\"Bearer\"]",
        ] {
            let body = format!(r#"{{"access_token":"a","token_type":{tt}}}"#);
            assert_eq!(code(200, &body), ErrorCode::InvalidResponse, "{tt}");
        }
        assert_eq!(
            code(200, r#"{"access_token":"a"}"#),
            ErrorCode::InvalidResponse
        );
    }

    #[test]
    fn expires_in_tolerates_digit_strings_only() {
        for (v, want) in [("0", Some(0)), ("\"3600\"", Some(3600)), ("null", None)] {
            let t = ok(&format!(
                r#"{{"access_token":"a","token_type":"Bearer","expires_in":{v}}}"#
            ));
            assert_eq!(t.expires_in, want, "{v}");
        }
        for v in [
            "-1",
            "3600.5",
            "1e3",
            "\"\"",
            "\"-1\"",
            "\"36 00\"",
            "\"0x10\"",
            "\"99999999999999999999\"",
            "18446744073709551616",
            "true",
            "{}",
            "\"３６００\"",
        ] {
            let body = format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":{v}}}"#);
            assert_eq!(code(200, &body), ErrorCode::InvalidResponse, "{v}");
        }
    }

    #[test]
    fn zero_refresh_lifetime_means_unstated() {
        let t = ok(r#"{"access_token":"a","token_type":"Bearer","refresh_expires_in":0}"#);
        assert_eq!(t.refresh_expires_in, None);
    }

    #[test]
    fn empty_optional_strings_are_absent() {
        let t = ok(
            r#"{"access_token":"a","token_type":"Bearer","refresh_token":"","scope":"","id_token":""}"#,
        );
        assert_eq!(t.refresh_token, None);
        assert_eq!(t.scope, None);
        assert_eq!(t.id_token, None);
    }

    #[test]
    fn token_syntax_is_enforced() {
        for at in ["", "a b", "a\r\nX: y", "é", "a=b", "===", "a\"b"] {
            let body = serde_json::json!({"access_token": at, "token_type": "Bearer"}).to_string();
            assert_eq!(code(200, &body), ErrorCode::InvalidResponse, "{at:?}");
        }
        assert!(
            ok(r#"{"access_token":"abc+/~-._==","token_type":"Bearer"}"#)
                .access_token
                .ends_with("==")
        );
        for (field, v) in [
            ("refresh_token", "a\nb"),
            ("id_token", "é"),
            ("scope", "a\"b"),
            ("scope", "a\\b"),
        ] {
            let body = serde_json::json!({"access_token": "a", "token_type": "Bearer", field: v})
                .to_string();
            assert_eq!(code(200, &body), ErrorCode::InvalidResponse, "{field}");
        }
    }

    #[test]
    fn error_responses_are_typed() {
        let err = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"Refresh token expired","error_uri":"https://as.example/e"}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::OauthError);
        let oauth = err.oauth_error().unwrap();
        assert_eq!(oauth.kind(), OAuthErrorKind::InvalidGrant);
        assert_eq!(oauth.error_description(), Some("Refresh token expired"));
        assert_eq!(oauth.error_uri(), Some("https://as.example/e"));

        let client = parse_token_response(401, br#"{"error":"invalid_client"}"#).unwrap_err();
        assert_eq!(
            client.oauth_error().unwrap().kind(),
            OAuthErrorKind::InvalidClient
        );

        let on_200 =
            parse_token_response(200, br#"{"error":"bad_verification_code"}"#).unwrap_err();
        assert_eq!(
            on_200.oauth_error().unwrap().error(),
            "bad_verification_code"
        );

        let on_503 =
            parse_token_response(503, br#"{"error":"temporarily_unavailable"}"#).unwrap_err();
        assert_eq!(on_503.code(), ErrorCode::OauthError);
    }

    #[test]
    fn everything_else_is_an_invalid_response() {
        for (status, body) in [
            (200, ""),
            (200, "null"),
            (200, "[]"),
            (200, "\"access_token\""),
            (200, "{}"),
            (200, r#"{"access_token":1,"token_type":"Bearer"}"#),
            (200, r#"{"access_token":null,"token_type":"Bearer"}"#),
            (
                200,
                r#"{"access_token":"a","token_type":"Bearer"} trailing"#,
            ),
            (
                200,
                r#"{"access_token":"a","access_token":"b","token_type":"Bearer"}"#,
            ),
            (201, r#"{"access_token":"a","token_type":"Bearer"}"#),
            (204, ""),
            (302, r#"{"error":"invalid_grant"}"#),
            (400, ""),
            (400, "<html>Bad Request</html>"),
            (400, r#"{"error":""}"#),
            (400, r#"{"error":"bad\"code"}"#),
            (400, r#"{"message":"invalid_grant"}"#),
            (500, "Internal Server Error"),
            (0, ""),
        ] {
            assert_eq!(
                code(status, body),
                ErrorCode::InvalidResponse,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn oversized_bodies_are_refused_unread() {
        let mut body = br#"{"access_token":"a","token_type":"Bearer","pad":""#.to_vec();
        body.resize(MAX_RESPONSE_BYTES, b'x');
        body.extend_from_slice(b"\"}");
        let err = parse_token_response(200, &body).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidResponse);
        assert_eq!(err.message(), "the response body is too large");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
        // Unknown members are skipped without recursion.
        let skipped = format!(r#"{{"access_token":"a","token_type":"Bearer","x":{deep}}}"#);
        assert!(parse_token_response(200, skipped.as_bytes()).is_ok());
        // Known members hit serde_json's recursion limit.
        let known = format!(r#"{{"access_token":{deep},"token_type":"Bearer"}}"#);
        assert_eq!(code(200, &known), ErrorCode::InvalidResponse);
        assert_eq!(
            code(400, &format!(r#"{{"error":{deep}}}"#)),
            ErrorCode::InvalidResponse
        );
    }

    #[test]
    fn debug_redacts_tokens() {
        let t = ok(
            r#"{"access_token":"SECRETAT","token_type":"Bearer","refresh_token":"SECRETRT","id_token":"SECRETID"}"#,
        );
        let shown = format!("{t:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(status in 0u16..1000, body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_token_response(status, &body);
        }

        #[test]
        fn arbitrary_json_strings_never_panic(at in ".*", tt in ".*", exp in ".*") {
            let body = serde_json::json!({"access_token": at, "token_type": tt, "expires_in": exp}).to_string();
            let _ = parse_token_response(200, body.as_bytes());
        }
    }
}
