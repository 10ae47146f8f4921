//! The authorization server's own error (RFC 6749 §4.1.2.1 and §5.2), as a typed value.
//!
//! Provider text is untrusted. The fields are held to the RFC's character sets, which exclude
//! `"`, `\` and control characters, so a host may show them in a header or a log line without
//! escaping: an invalid `error` code refuses the whole response, a description is cleaned, an
//! invalid `error_uri` is dropped.

use crate::error::{AuthError, ErrorCode};
use crate::oauth::members::{self, Slot};

const MAX_ERROR_LEN: usize = 64;
const MAX_DESCRIPTION_LEN: usize = 512;
const MAX_URI_LEN: usize = 512;

/// An RFC 6749 error response: the `error` code and its optional companions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthErrorResponse {
    error: String,
    error_description: Option<String>,
    error_uri: Option<String>,
}

/// The error codes RFC 6749 defines, so callers can branch without string matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthErrorKind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    /// An extension code (for example OpenID Connect's `login_required`).
    Other,
}

impl OAuthErrorResponse {
    /// Checks the fields against RFC 6749 Appendix A. `None` when `error` is empty, too long or
    /// outside the allowed characters: such a response cannot be trusted to mean anything.
    pub fn new(
        error: &str,
        error_description: Option<&str>,
        error_uri: Option<&str>,
    ) -> Option<OAuthErrorResponse> {
        if error.is_empty() || error.len() > MAX_ERROR_LEN || !error.chars().all(is_nqschar) {
            return None;
        }
        let error_description = error_description
            .map(clean_description)
            .filter(|d| !d.is_empty());
        let error_uri = error_uri
            .filter(|u| !u.is_empty() && u.len() <= MAX_URI_LEN && u.chars().all(is_uri_char))
            .map(str::to_owned);
        Some(OAuthErrorResponse {
            error: error.to_owned(),
            error_description,
            error_uri,
        })
    }

    /// The provider's error code, e.g. `invalid_grant`.
    pub fn error(&self) -> &str {
        &self.error
    }

    /// The provider's description, cleaned to printable ASCII and at most 512 characters.
    pub fn error_description(&self) -> Option<&str> {
        self.error_description.as_deref()
    }

    pub fn error_uri(&self) -> Option<&str> {
        self.error_uri.as_deref()
    }

    pub fn kind(&self) -> OAuthErrorKind {
        match self.error.as_str() {
            "invalid_request" => OAuthErrorKind::InvalidRequest,
            "invalid_client" => OAuthErrorKind::InvalidClient,
            "invalid_grant" => OAuthErrorKind::InvalidGrant,
            "unauthorized_client" => OAuthErrorKind::UnauthorizedClient,
            "unsupported_grant_type" => OAuthErrorKind::UnsupportedGrantType,
            "invalid_scope" => OAuthErrorKind::InvalidScope,
            "access_denied" => OAuthErrorKind::AccessDenied,
            "unsupported_response_type" => OAuthErrorKind::UnsupportedResponseType,
            "server_error" => OAuthErrorKind::ServerError,
            "temporarily_unavailable" => OAuthErrorKind::TemporarilyUnavailable,
            _ => OAuthErrorKind::Other,
        }
    }

    /// The `oauth_error` refusal that carries this value.
    pub fn into_auth_error(self) -> AuthError {
        AuthError::new(ErrorCode::OauthError).with_oauth_error(self)
    }
}

/// Reads an RFC 6749 §5.2 JSON error body; `None` when the body is anything else.
pub(crate) fn from_json_body(body: &[u8]) -> Option<OAuthErrorResponse> {
    let (mut error, mut description, mut uri) = (None, None, None);
    members::read(
        body,
        &mut [
            ("error", Slot::Str(&mut error)),
            ("error_description", Slot::Str(&mut description)),
            ("error_uri", Slot::Str(&mut uri)),
        ],
    )
    .ok()?;
    OAuthErrorResponse::new(&error?, description.as_deref(), uri.as_deref())
}

/// NQSCHAR: `%x20-21 / %x23-5B / %x5D-7E`.
fn is_nqschar(c: char) -> bool {
    matches!(c, '\x20'..='\x7e') && c != '"' && c != '\\'
}

/// The URI-reference characters RFC 6749 allows in `error_uri`: `%x21 / %x23-5B / %x5D-7E`.
fn is_uri_char(c: char) -> bool {
    is_nqschar(c) && c != ' '
}

fn clean_description(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if is_nqschar(c) { c } else { ' ' })
        .take(MAX_DESCRIPTION_LEN)
        .collect();
    cleaned.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_fields() {
        let e = OAuthErrorResponse::new(
            "invalid_grant",
            Some("The refresh token has expired"),
            Some("https://as.example/errors#grant"),
        )
        .unwrap();
        assert_eq!(e.error(), "invalid_grant");
        assert_eq!(e.error_description(), Some("The refresh token has expired"));
        assert_eq!(e.error_uri(), Some("https://as.example/errors#grant"));
        assert_eq!(e.kind(), OAuthErrorKind::InvalidGrant);
    }

    #[test]
    fn refuses_codes_outside_the_rfc_charset() {
        for bad in ["", "bad\"code", "a\\b", "line\nbreak", "é", &"x".repeat(65)] {
            assert!(
                OAuthErrorResponse::new(bad, None, None).is_none(),
                "{bad:?}"
            );
        }
        assert!(OAuthErrorResponse::new("spaces are allowed", None, None).is_some());
    }

    #[test]
    fn cleans_descriptions_so_they_are_header_safe() {
        let e = OAuthErrorResponse::new(
            "invalid_grant",
            Some("AADSTS70008: \"expired\"\r\nTrace ID: 42 \\ é"),
            None,
        )
        .unwrap();
        assert_eq!(
            e.error_description(),
            Some("AADSTS70008:  expired   Trace ID: 42")
        );
        let long = OAuthErrorResponse::new("x", Some(&"a".repeat(2000)), None).unwrap();
        assert_eq!(long.error_description().unwrap().len(), 512);
        let blank = OAuthErrorResponse::new("x", Some("\r\n"), None).unwrap();
        assert_eq!(blank.error_description(), None);
    }

    #[test]
    fn drops_invalid_uris() {
        for bad in ["has space", "quote\"", "", "\u{7f}"] {
            let e = OAuthErrorResponse::new("x", None, Some(bad)).unwrap();
            assert_eq!(e.error_uri(), None, "{bad:?}");
        }
    }

    #[test]
    fn kinds_cover_rfc6749_codes() {
        for (code, kind) in [
            ("invalid_request", OAuthErrorKind::InvalidRequest),
            ("invalid_client", OAuthErrorKind::InvalidClient),
            ("unauthorized_client", OAuthErrorKind::UnauthorizedClient),
            (
                "unsupported_grant_type",
                OAuthErrorKind::UnsupportedGrantType,
            ),
            ("invalid_scope", OAuthErrorKind::InvalidScope),
            ("access_denied", OAuthErrorKind::AccessDenied),
            (
                "unsupported_response_type",
                OAuthErrorKind::UnsupportedResponseType,
            ),
            ("server_error", OAuthErrorKind::ServerError),
            (
                "temporarily_unavailable",
                OAuthErrorKind::TemporarilyUnavailable,
            ),
            ("login_required", OAuthErrorKind::Other),
            ("INVALID_GRANT", OAuthErrorKind::Other),
        ] {
            assert_eq!(
                OAuthErrorResponse::new(code, None, None).unwrap().kind(),
                kind
            );
        }
    }

    #[test]
    fn auth_error_carries_the_value_but_a_fixed_message() {
        let e = OAuthErrorResponse::new("access_denied", Some("User said no"), None)
            .unwrap()
            .into_auth_error();
        assert_eq!(e.code(), ErrorCode::OauthError);
        assert_eq!(e.message(), "The authorization server returned an error");
        assert_eq!(e.oauth_error().unwrap().error(), "access_denied");
        assert!(!e.body(crate::ErrorStyle::Simple).contains("User said no"));
    }

    #[test]
    fn reads_json_error_bodies() {
        let e = from_json_body(br#"{"error":"invalid_client","error_description":"bad secret"}"#)
            .unwrap();
        assert_eq!(e.kind(), OAuthErrorKind::InvalidClient);
        assert_eq!(e.error_description(), Some("bad secret"));
        for bad in [
            &b"{}"[..],
            b"{\"error\":42}",
            b"{\"error\":null}",
            b"[\"error\"]",
            b"not json",
            b"{\"error\":\"x\",\"error\":\"y\"}",
            b"{\"error\":\"x\",\"error_description\":7}",
        ] {
            assert!(
                from_json_body(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
