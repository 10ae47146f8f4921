//! Token endpoint requests (RFC 6749 §4.1.3, §4.4 and §6) built as data for the host to send.

use crate::error::{AuthError, ErrorCode};
use crate::oauth::client_auth::{ClientAuth, OAuthClient};
use crate::oauth::http::{self, require_secure_endpoint, BodyFormat, HttpRequest, Params};
use crate::oauth::pkce::CodeVerifier;

/// A token endpoint and the client that calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEndpoint {
    url: String,
    client: OAuthClient,
    format: BodyFormat,
    refresh: RefreshStyle,
}

/// What a refresh request carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RefreshStyle {
    /// RFC 6749 §6: `grant_type`, `refresh_token`, the requested scope and resource, and the
    /// client's authentication.
    #[default]
    Grant,
    /// `refresh_token` alone, for platforms whose own refresh endpoint refuses anything else
    /// (Olytix's `/api/v1/auth/refresh`): no `grant_type`, no client, no scope.
    TokenOnly,
}

/// What the requested token should be good for. Empty strings are treated as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenParams<'a> {
    /// Space-separated scopes.
    pub scope: Option<&'a str>,
    /// RFC 8707 resource indicator.
    pub resource: Option<&'a str>,
    /// `audience`, used by some providers instead of `resource`.
    pub audience: Option<&'a str>,
}

impl TokenEndpoint {
    /// Refuses an endpoint that is not `https://` (or loopback `http://`).
    pub fn new(url: impl Into<String>, client: OAuthClient) -> Result<TokenEndpoint, AuthError> {
        let url = url.into();
        require_secure_endpoint(&url)?;
        Ok(TokenEndpoint {
            url,
            client,
            format: BodyFormat::Form,
            refresh: RefreshStyle::Grant,
        })
    }

    /// Sends JSON bodies instead of the RFC's form encoding, for platforms that document it.
    pub fn with_body_format(mut self, format: BodyFormat) -> Self {
        self.format = format;
        self
    }

    /// How [`TokenEndpoint::refresh_token`] shapes its body.
    pub fn with_refresh_style(mut self, style: RefreshStyle) -> Self {
        self.refresh = style;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &OAuthClient {
        &self.client
    }

    /// Exchanges an authorization code; `redirect_uri` must be the one used to obtain it. The
    /// verifier is absent only for a confidential client that left PKCE out.
    pub fn authorization_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&CodeVerifier>,
    ) -> Result<HttpRequest, AuthError> {
        require_value(code, "the authorization code is empty")?;
        require_value(redirect_uri, "the redirect_uri is empty")?;
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = code_verifier {
            p.push(("code_verifier", v.as_str()));
        }
        self.request(p)
    }

    /// Obtains a new access token with a refresh token; a narrower `scope` may be asked for.
    pub fn refresh_token(
        &self,
        refresh_token: &str,
        params: TokenParams<'_>,
    ) -> Result<HttpRequest, AuthError> {
        require_value(refresh_token, "the refresh token is empty")?;
        if self.refresh == RefreshStyle::TokenOnly {
            return http::post(
                &self.url,
                &[("refresh_token", refresh_token)],
                self.format,
                Vec::new(),
            );
        }
        let mut p = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        push_params(&mut p, params);
        self.request(p)
    }

    /// A token for the client itself. RFC 6749 §4.4 allows this grant to confidential clients
    /// only, so a client without a secret is refused.
    pub fn client_credentials(&self, params: TokenParams<'_>) -> Result<HttpRequest, AuthError> {
        if *self.client.auth() == ClientAuth::None {
            return Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "client_credentials needs an authenticated client",
            ));
        }
        let mut p = vec![("grant_type", "client_credentials")];
        push_params(&mut p, params);
        self.request(p)
    }

    pub(crate) fn request<'a>(&'a self, mut params: Params<'a>) -> Result<HttpRequest, AuthError> {
        let mut headers = Vec::new();
        self.client.apply(&mut params, &mut headers);
        http::post(&self.url, &params, self.format, headers)
    }
}

/// Adds the scope, resource and audience a token request asks for, when given.
pub(crate) fn push_params<'a>(p: &mut Params<'a>, params: TokenParams<'a>) {
    for (name, value) in [
        ("scope", params.scope),
        ("resource", params.resource),
        ("audience", params.audience),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            p.push((name, v));
        }
    }
}

fn require_value(value: &str, msg: &'static str) -> Result<(), AuthError> {
    if value.is_empty() {
        Err(AuthError::with_message(ErrorCode::InvalidRequest, msg))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic() -> OAuthClient {
        OAuthClient::new(
            "s6BhdRkqt3",
            ClientAuth::ClientSecretBasic {
                client_secret: "gX1fBat3bV".into(),
            },
        )
        .unwrap()
    }

    fn verifier() -> CodeVerifier {
        CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap()
    }

    #[test]
    fn authorization_code_matches_rfc6749_example() {
        let ep = TokenEndpoint::new("https://server.example.com/token", basic()).unwrap();
        let req = ep
            .authorization_code(
                "SplxlOBeZQQYbYS6WxSbIA",
                "https://client.example.com/cb",
                Some(&verifier()),
            )
            .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.url, "https://server.example.com/token");
        assert_eq!(
            req.headers,
            [
                (
                    "Content-Type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned()
                ),
                ("Accept".to_owned(), "application/json".to_owned()),
                (
                    "Authorization".to_owned(),
                    "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW".to_owned()
                ),
            ]
        );
        assert_eq!(
            req.body,
            "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA\
             &redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb\
             &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn a_json_exchange_without_pkce_is_gopies() {
        let client = OAuthClient::new(
            "YOUR_CLIENT_ID",
            ClientAuth::ClientSecretPost {
                client_secret: "YOUR_CLIENT_SECRET".into(),
            },
        )
        .unwrap();
        let ep = TokenEndpoint::new("https://auth.gopie.app/oauth/token", client)
            .unwrap()
            .with_body_format(BodyFormat::Json);
        let req = ep
            .authorization_code("abc", "https://yourapp.com/callback", None)
            .unwrap();
        assert_eq!(
            req.body,
            r#"{"grant_type":"authorization_code","code":"abc","redirect_uri":"https://yourapp.com/callback","client_id":"YOUR_CLIENT_ID","client_secret":"YOUR_CLIENT_SECRET"}"#
        );
    }

    #[test]
    fn public_client_sends_client_id_in_body() {
        let client = OAuthClient::new("spa", ClientAuth::None).unwrap();
        let ep = TokenEndpoint::new("http://localhost:8080/token", client).unwrap();
        let req = ep
            .authorization_code("c", "http://localhost/cb", Some(&verifier()))
            .unwrap();
        assert_eq!(req.header("Authorization"), None);
        assert!(req.body.ends_with("&client_id=spa"), "{}", req.body);
    }

    #[test]
    fn refresh_with_client_secret_post() {
        let client = OAuthClient::new(
            "app",
            ClientAuth::ClientSecretPost {
                client_secret: "s&=+".into(),
            },
        )
        .unwrap();
        let ep = TokenEndpoint::new("https://as.example/token", client).unwrap();
        let req = ep
            .refresh_token(
                "tGzv3JOkF0XG5Qx2TlKWIA",
                TokenParams {
                    scope: Some("read write"),
                    ..TokenParams::default()
                },
            )
            .unwrap();
        assert_eq!(
            req.body,
            "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&scope=read+write\
             &client_id=app&client_secret=s%26%3D%2B"
        );
        assert_eq!(req.header("Authorization"), None);
    }

    #[test]
    fn client_credentials_with_resource_and_audience() {
        let ep = TokenEndpoint::new("https://as.example/token", basic()).unwrap();
        let req = ep
            .client_credentials(TokenParams {
                scope: Some("reports:read"),
                resource: Some("https://api.example.com/"),
                audience: Some("https://api.example.com"),
            })
            .unwrap();
        assert_eq!(
            req.body,
            "grant_type=client_credentials&scope=reports%3Aread\
             &resource=https%3A%2F%2Fapi.example.com%2F&audience=https%3A%2F%2Fapi.example.com"
        );
        let bare = ep
            .client_credentials(TokenParams {
                scope: Some(""),
                ..TokenParams::default()
            })
            .unwrap();
        assert_eq!(bare.body, "grant_type=client_credentials");
    }

    #[test]
    fn json_body_option() {
        let client = OAuthClient::new(
            "app",
            ClientAuth::ClientSecretPost {
                client_secret: "s\"x".into(),
            },
        )
        .unwrap();
        let ep = TokenEndpoint::new("https://as.example/token", client)
            .unwrap()
            .with_body_format(BodyFormat::Json);
        let req = ep
            .client_credentials(TokenParams {
                audience: Some("api"),
                ..TokenParams::default()
            })
            .unwrap();
        assert_eq!(req.header("Content-Type"), Some("application/json"));
        assert_eq!(
            req.body,
            r#"{"grant_type":"client_credentials","audience":"api","client_id":"app","client_secret":"s\"x"}"#
        );
    }

    #[test]
    fn a_token_only_refresh_sends_the_refresh_token_alone() {
        let client = OAuthClient::new("app", ClientAuth::None).unwrap();
        let ep = TokenEndpoint::new("https://olytix.example/api/v1/auth/refresh", client)
            .unwrap()
            .with_body_format(BodyFormat::Json)
            .with_refresh_style(RefreshStyle::TokenOnly);
        let req = ep
            .refresh_token(
                "refresh_abc",
                TokenParams {
                    scope: Some("read"),
                    ..TokenParams::default()
                },
            )
            .unwrap();
        assert_eq!(req.body, r#"{"refresh_token":"refresh_abc"}"#);
        assert_eq!(req.header("Authorization"), None);
        assert!(ep.refresh_token("", TokenParams::default()).is_err());
    }

    #[test]
    fn public_clients_cannot_use_client_credentials() {
        let client = OAuthClient::new("spa", ClientAuth::None).unwrap();
        let ep = TokenEndpoint::new("https://as.example/token", client).unwrap();
        let err = ep.client_credentials(TokenParams::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
    }

    #[test]
    fn insecure_endpoints_are_refused() {
        for url in [
            "http://as.example/token",
            "https://as.example/token#x",
            "as.example/token",
        ] {
            let err = TokenEndpoint::new(url, basic()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "{url}");
        }
    }

    #[test]
    fn empty_grant_values_are_refused() {
        let ep = TokenEndpoint::new("https://as.example/token", basic()).unwrap();
        let v = verifier();
        for err in [
            ep.authorization_code("", "https://c/cb", Some(&v))
                .unwrap_err(),
            ep.authorization_code("c", "", None).unwrap_err(),
            ep.refresh_token("", TokenParams::default()).unwrap_err(),
        ] {
            assert_eq!(err.code(), ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn unicode_values_are_percent_encoded() {
        let ep = TokenEndpoint::new("https://as.example/token", basic()).unwrap();
        let req = ep
            .refresh_token(
                "rt",
                TokenParams {
                    scope: Some("café\r\n"),
                    ..TokenParams::default()
                },
            )
            .unwrap();
        assert_eq!(
            req.body,
            "grant_type=refresh_token&refresh_token=rt&scope=caf%C3%A9%0D%0A"
        );
    }
}
