//! Signing in with a username and password, for platforms that issue tokens for them: a
//! platform's own endpoint (Olytix's `POST /api/v1/auth/token` with JSON
//! `{"username","password"}`), or the legacy RFC 6749 §4.3 password grant. The answer is a
//! token response like any other and starts the same [`Session`] a code exchange starts.
//!
//! The password is only ever in the request body: `HttpRequest`'s `Debug` shows the body's
//! length, and no error here carries it.

use crate::error::{AuthError, ErrorCode};
use crate::oauth::error_response::OAuthErrorKind;
use crate::oauth::http::{self, require_secure_endpoint, BodyFormat, HttpRequest};
use crate::oauth::token_request::{push_params, TokenEndpoint, TokenParams};
use crate::oauth::token_response::parse_token_response;
use crate::session::{ClockOffset, Session};

/// A platform's own sign-in endpoint: a body of exactly two fields, the username and the
/// password, under the names the platform documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEndpoint {
    url: String,
    format: BodyFormat,
    username_field: String,
    password_field: String,
}

impl CredentialEndpoint {
    /// Fields `username` and `password`; refuses an endpoint that is not `https://` (or
    /// loopback `http://`), since the password travels in the body.
    pub fn new(
        url: impl Into<String>,
        format: BodyFormat,
    ) -> Result<CredentialEndpoint, AuthError> {
        let url = url.into();
        require_secure_endpoint(&url)?;
        Ok(CredentialEndpoint {
            url,
            format,
            username_field: "username".to_owned(),
            password_field: "password".to_owned(),
        })
    }

    /// Other field names (`email`, `login`, `pass`, …): non-empty, distinct, printable.
    pub fn with_fields(
        mut self,
        username_field: impl Into<String>,
        password_field: impl Into<String>,
    ) -> Result<CredentialEndpoint, AuthError> {
        let (user, pass) = (username_field.into(), password_field.into());
        let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !printable(&user) || !printable(&pass) || user == pass {
            return Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "the username and password field names must be distinct and printable",
            ));
        }
        self.username_field = user;
        self.password_field = pass;
        Ok(self)
    }

    /// The sign-in request: the two fields and nothing else.
    pub fn request(&self, username: &str, password: &str) -> Result<HttpRequest, AuthError> {
        require_credentials(username, password)?;
        http::post(
            &self.url,
            &[
                (self.username_field.as_str(), username),
                (self.password_field.as_str(), password),
            ],
            self.format,
            Vec::new(),
        )
    }
}

/// RFC 6749 §4.3, the resource owner password credentials grant: `grant_type=password`,
/// `username`, `password`, the requested scope and resource, and the client's authentication.
/// Legacy: OAuth 2.1 and RFC 9700 §2.4 drop it, since the app sees the password; for providers
/// that still offer it to first-party apps.
pub fn password_grant(
    endpoint: &TokenEndpoint,
    username: &str,
    password: &str,
    params: TokenParams<'_>,
) -> Result<HttpRequest, AuthError> {
    require_credentials(username, password)?;
    let mut p = vec![
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ];
    push_params(&mut p, params);
    endpoint.request(p)
}

/// Starts the session from the sign-in's answer, received at `now` (host clock). A refusal of
/// the credentials is [`ErrorCode::InvalidCredentials`], whatever body the platform uses: a
/// `400`/`401`/`403` without an RFC 6749 error (Olytix answers `401`
/// `{"error":{"code":"UNAUTHORIZED",…}}`), or `invalid_grant`, which RFC 6749 §5.2 gives for
/// wrong resource owner credentials. Other provider errors stay `oauth_error`.
pub fn session_from_response(
    status: u16,
    body: &[u8],
    now: u64,
    clock: ClockOffset,
) -> Result<Session, AuthError> {
    match parse_token_response(status, body) {
        Ok(response) => Ok(Session::from_response(&response, now, clock)),
        Err(err) => Err(credentials_refused(status, err)),
    }
}

fn credentials_refused(status: u16, err: AuthError) -> AuthError {
    let refused = matches!(status, 400 | 401 | 403)
        && match err.oauth_error() {
            None => true,
            Some(o) => o.kind() == OAuthErrorKind::InvalidGrant,
        };
    if !refused {
        return err;
    }
    let refusal = AuthError::new(ErrorCode::InvalidCredentials);
    match err.oauth_error() {
        Some(o) => refusal.with_oauth_error(o.clone()),
        None => refusal,
    }
}

fn require_credentials(username: &str, password: &str) -> Result<(), AuthError> {
    if username.is_empty() || password.is_empty() {
        return Err(AuthError::with_message(
            ErrorCode::InvalidRequest,
            "the username or password is empty",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_auth::{ClientAuth, OAuthClient};

    const OLYTIX: &str = "http://localhost:8000/api/v1/auth/token";

    #[test]
    fn olytix_sign_in_is_exactly_username_and_password() {
        let ep = CredentialEndpoint::new(OLYTIX, BodyFormat::Json).unwrap();
        let req = ep.request("user@company.com", "your-password").unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, OLYTIX);
        assert_eq!(req.header("Content-Type"), Some("application/json"));
        assert_eq!(req.header("Authorization"), None);
        assert_eq!(
            req.body,
            r#"{"username":"user@company.com","password":"your-password"}"#
        );
        assert!(!format!("{req:?}").contains("your-password"));
    }

    #[test]
    fn field_names_and_form_bodies_are_configurable() {
        let ep = CredentialEndpoint::new("https://p.example/login", BodyFormat::Form)
            .unwrap()
            .with_fields("email", "pass")
            .unwrap();
        let req = ep.request("a@b.c", "p&=ss").unwrap();
        assert_eq!(req.body, "email=a%40b.c&pass=p%26%3Dss");
        let base = CredentialEndpoint::new("https://p.example/login", BodyFormat::Form).unwrap();
        for (u, p) in [("", "pass"), ("user", "user"), ("a b", "p"), ("u", "\n")] {
            let err = base.clone().with_fields(u, p).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "{u:?} {p:?}");
        }
        assert_eq!(
            ep.request("", "p").unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            ep.request("u", "").unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
        let insecure = CredentialEndpoint::new("http://p.example/login", BodyFormat::Json);
        assert_eq!(insecure.unwrap_err().code(), ErrorCode::InvalidConfig);
    }

    #[test]
    fn the_password_grant_follows_rfc6749_section_4_3() {
        // RFC 6749 §4.3.2's example, with the client in the body.
        let client = OAuthClient::new("app", ClientAuth::None).unwrap();
        let ep = TokenEndpoint::new("https://server.example.com/token", client).unwrap();
        let req = password_grant(
            &ep,
            "johndoe",
            "A3ddj3w",
            TokenParams {
                scope: Some("read"),
                ..TokenParams::default()
            },
        )
        .unwrap();
        assert_eq!(
            req.body,
            "grant_type=password&username=johndoe&password=A3ddj3w&scope=read&client_id=app"
        );
    }

    #[test]
    fn olytix_answer_starts_a_session_and_a_refusal_is_invalid_credentials() {
        let body = br#"{"access_token":"eyJ.x.y","token_type":"bearer","expires_in":3600,"refresh_token":"refresh_abc123"}"#;
        let s = session_from_response(200, body, 1000, ClockOffset::default()).unwrap();
        assert_eq!(s.access_token(), "eyJ.x.y");
        assert_eq!(s.tokens().access_expires_at, Some(4600));
        assert_eq!(s.tokens().refresh_token.as_deref(), Some("refresh_abc123"));

        let olytix =
            br#"{"error":{"code":"UNAUTHORIZED","message":"Invalid or missing authentication"}}"#;
        let err = session_from_response(401, olytix, 1000, ClockOffset::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidCredentials);
        assert_eq!(err.status(), 401);

        let grant = br#"{"error":"invalid_grant"}"#;
        let err = session_from_response(400, grant, 1000, ClockOffset::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidCredentials);
        assert_eq!(err.oauth_error().unwrap().error(), "invalid_grant");

        let client = br#"{"error":"invalid_client"}"#;
        let err = session_from_response(401, client, 1000, ClockOffset::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::OauthError);
        let down = session_from_response(503, b"", 1000, ClockOffset::default()).unwrap_err();
        assert_eq!(down.code(), ErrorCode::InvalidResponse);
    }
}
