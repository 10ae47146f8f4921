//! Token revocation (RFC 7009): telling the authorization server that a token is no longer
//! needed, so that a copy left behind — a refresh token read from storage by an injected script,
//! say — stops working when the user signs out, not when it expires.

use crate::error::{AuthError, ErrorCode};
use crate::oauth::client_auth::OAuthClient;
use crate::oauth::error_response;
use crate::oauth::http::{check_body_size, require_secure_endpoint, HttpRequest};

/// `token_type_hint` (RFC 7009 §2.1 and its registry, §4.1.2; RFC 7662 §2.1 reuses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
        }
    }
}

/// A revocation endpoint and the client whose token it revokes. A type of its own, so an
/// introspection endpoint cannot be passed where a revocation is meant:
///
/// ```compile_fail
/// use tokenwarden::oauth::{ClientAuth, IntrospectionEndpoint, OAuthClient, RevocationEndpoint};
/// let client = OAuthClient::new("spa", ClientAuth::None).unwrap();
/// let revoke: RevocationEndpoint =
///     IntrospectionEndpoint::new("https://as.example/introspect", client).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationEndpoint {
    url: String,
    client: OAuthClient,
}

impl RevocationEndpoint {
    /// Refuses an endpoint that is not `https://` (or loopback `http://`).
    pub fn new(
        url: impl Into<String>,
        client: OAuthClient,
    ) -> Result<RevocationEndpoint, AuthError> {
        let url = url.into();
        require_secure_endpoint(&url)?;
        Ok(RevocationEndpoint { url, client })
    }

    /// The form-encoded `POST` of RFC 7009 §2.1: `token`, an optional `token_type_hint`, and
    /// the client's authentication (a public client sends `client_id`).
    pub fn request(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<HttpRequest, AuthError> {
        self.client
            .post_token(&self.url, token, hint.map(TokenTypeHint::as_str))
    }
}

/// RFC 7009 §2.2: 200 means revoked — also for a token the server no longer knew, which is the
/// same outcome. Anything else is the server's OAuth error (`unsupported_token_type`, …) or, for
/// a 503 and other answers without one, `invalid_response`: the caller may try again later.
pub fn parse_revocation_response(status: u16, body: &[u8]) -> Result<(), AuthError> {
    check_body_size(body)?;
    if status == 200 {
        return Ok(());
    }
    Err(match error_response::from_json_body(body) {
        Some(e) if (400..600).contains(&status) => e.into_auth_error(),
        _ => AuthError::with_message(
            ErrorCode::InvalidResponse,
            "the revocation endpoint did not revoke the token",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_auth::ClientAuth;

    fn endpoint(auth: ClientAuth) -> RevocationEndpoint {
        let client = OAuthClient::new("spa", auth).unwrap();
        RevocationEndpoint::new("https://as.example/revoke", client).unwrap()
    }

    fn form(body: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn a_public_client_revokes_its_refresh_token() {
        let r = endpoint(ClientAuth::None)
            .request("rt-1 &x=y", Some(TokenTypeHint::RefreshToken))
            .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "https://as.example/revoke");
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.header("authorization"), None);
        let f = form(&r.body);
        assert!(f.contains(&("token".into(), "rt-1 &x=y".into())), "{f:?}");
        assert!(f.contains(&("token_type_hint".into(), "refresh_token".into())));
        assert!(f.contains(&("client_id".into(), "spa".into())));
        assert_eq!(f.len(), 3, "nothing smuggled through the token: {f:?}");
    }

    #[test]
    fn a_confidential_client_authenticates() {
        let r = endpoint(ClientAuth::ClientSecretBasic {
            client_secret: "s3cret".into(),
        })
        .request("at-1", None)
        .unwrap();
        assert!(r.header("authorization").unwrap().starts_with("Basic "));
        assert!(!form(&r.body).iter().any(|(k, _)| k == "token_type_hint"));
    }

    #[test]
    fn refusals() {
        let client = OAuthClient::new("spa", ClientAuth::None).unwrap();
        assert_eq!(
            RevocationEndpoint::new("http://as.example/revoke", client)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidConfig
        );
        assert_eq!(
            endpoint(ClientAuth::None)
                .request("", None)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn responses() {
        assert!(parse_revocation_response(200, b"").is_ok());
        assert!(parse_revocation_response(200, b"{}").is_ok());
        let e =
            parse_revocation_response(400, br#"{"error":"unsupported_token_type"}"#).unwrap_err();
        assert_eq!(e.oauth_error().unwrap().error(), "unsupported_token_type");
        for (status, body) in [(503, &b""[..]), (500, b"<html>"), (302, b"")] {
            assert_eq!(
                parse_revocation_response(status, body).unwrap_err().code(),
                ErrorCode::InvalidResponse,
                "{status}"
            );
        }
        let huge = vec![b' '; crate::oauth::MAX_RESPONSE_BYTES + 1];
        assert!(parse_revocation_response(200, &huge).is_err());
    }
}
