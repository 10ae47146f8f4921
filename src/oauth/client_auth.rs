//! How a client identifies itself to the token, introspection and revocation endpoints
//! (RFC 6749 §2.3.1).

use std::fmt;

use base64ct::{Base64, Encoding};

use crate::error::{AuthError, ErrorCode};
use crate::oauth::http::{self, BodyFormat, HttpRequest, Params};

/// The client authentication method (`token_endpoint_auth_method` names in parentheses).
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: `client_id` in the body, no secret (`none`).
    None,
    /// `client_id` and `client_secret` in the body (`client_secret_post`).
    ClientSecretPost { client_secret: String },
    /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`).
    ClientSecretBasic { client_secret: String },
    /// An RFC 7523 §2.2 assertion signed with the client's private key (`private_key_jwt`),
    /// minted for one request by [`crate::oauth::client_assertion::private_key_jwt`].
    PrivateKeyJwt { client_assertion: String },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "None",
            ClientAuth::ClientSecretPost { .. } => "ClientSecretPost { client_secret: <redacted> }",
            ClientAuth::ClientSecretBasic { .. } => {
                "ClientSecretBasic { client_secret: <redacted> }"
            }
            ClientAuth::PrivateKeyJwt { .. } => "PrivateKeyJwt { client_assertion: <redacted> }",
        })
    }
}

/// A registered client: its id and how it authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    client_id: String,
    auth: ClientAuth,
}

impl OAuthClient {
    /// Refuses an empty `client_id` or secret, and control characters in either.
    pub fn new(client_id: impl Into<String>, auth: ClientAuth) -> Result<OAuthClient, AuthError> {
        let client_id = client_id.into();
        let secret_ok = match &auth {
            ClientAuth::None => true,
            ClientAuth::ClientSecretPost { client_secret }
            | ClientAuth::ClientSecretBasic { client_secret } => is_clean(client_secret),
            ClientAuth::PrivateKeyJwt { client_assertion } => is_clean(client_assertion),
        };
        if !is_clean(&client_id) || !secret_ok {
            return Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "the client id and secret must be non-empty, without control characters",
            ));
        }
        Ok(OAuthClient { client_id, auth })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn auth(&self) -> &ClientAuth {
        &self.auth
    }

    /// Adds this client's credentials to a request's parameters or headers.
    pub(crate) fn apply<'a>(
        &'a self,
        params: &mut Params<'a>,
        headers: &mut Vec<(String, String)>,
    ) {
        match &self.auth {
            ClientAuth::None => params.push(("client_id", &self.client_id)),
            ClientAuth::ClientSecretPost { client_secret } => {
                params.push(("client_id", &self.client_id));
                params.push(("client_secret", client_secret));
            }
            ClientAuth::ClientSecretBasic { client_secret } => {
                let user_pass = format!(
                    "{}:{}",
                    form_encode(&self.client_id),
                    form_encode(client_secret)
                );
                headers.push((
                    "Authorization".to_owned(),
                    format!("Basic {}", Base64::encode_string(user_pass.as_bytes())),
                ));
            }
            ClientAuth::PrivateKeyJwt { client_assertion } => {
                params.push(("client_id", &self.client_id));
                params.push(("client_assertion_type", JWT_BEARER));
                params.push(("client_assertion", client_assertion));
            }
        }
    }

    /// The form-encoded `POST` of one token to `url`, authenticated as this client, that RFC
    /// 7009 §2.1 defines and RFC 7662 §2.1 reuses: `token`, an optional `token_type_hint`, and
    /// the client's authentication (a public client sends `client_id`).
    pub(crate) fn post_token(
        &self,
        url: &str,
        token: &str,
        hint: Option<&'static str>,
    ) -> Result<HttpRequest, AuthError> {
        if token.is_empty() {
            return Err(AuthError::with_message(
                ErrorCode::InvalidRequest,
                "the token to send is empty",
            ));
        }
        let mut params = vec![("token", token)];
        if let Some(hint) = hint {
            params.push(("token_type_hint", hint));
        }
        let mut headers = Vec::new();
        self.apply(&mut params, &mut headers);
        http::post(url, &params, BodyFormat::Form, headers)
    }
}

/// RFC 7523 §2.2 `client_assertion_type`.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn is_clean(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(client: &OAuthClient) -> (Params<'_>, Vec<(String, String)>) {
        let mut params = Vec::new();
        let mut headers = Vec::new();
        client.apply(&mut params, &mut headers);
        (params, headers)
    }

    #[test]
    fn public_client_sends_only_its_id() {
        let c = OAuthClient::new("app", ClientAuth::None).unwrap();
        let (params, headers) = applied(&c);
        assert_eq!(params, [("client_id", "app")]);
        assert!(headers.is_empty());
    }

    #[test]
    fn client_secret_post_puts_both_in_the_body() {
        let c = OAuthClient::new(
            "app",
            ClientAuth::ClientSecretPost {
                client_secret: "s".into(),
            },
        )
        .unwrap();
        let (params, headers) = applied(&c);
        assert_eq!(params, [("client_id", "app"), ("client_secret", "s")]);
        assert!(headers.is_empty());
    }

    #[test]
    fn client_secret_basic_matches_rfc6749_example() {
        // RFC 6749 §2.3.1: `Authorization: Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3`.
        let c = OAuthClient::new(
            "s6BhdRkqt3",
            ClientAuth::ClientSecretBasic {
                client_secret: "7Fjfp0ZBr1KtDRbnfVdmIw".into(),
            },
        )
        .unwrap();
        let (params, headers) = applied(&c);
        assert!(params.is_empty());
        assert_eq!(
            headers,
            [(
                "Authorization".to_owned(),
                "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3".to_owned()
            )]
        );
    }

    #[test]
    fn client_secret_basic_form_encodes_first() {
        let c = OAuthClient::new(
            "my app:1",
            ClientAuth::ClientSecretBasic {
                client_secret: "p@ss:w/rd é".into(),
            },
        )
        .unwrap();
        let (_, headers) = applied(&c);
        let b64 = headers[0].1.strip_prefix("Basic ").unwrap();
        let decoded = Base64::decode_vec(b64).unwrap();
        assert_eq!(decoded, b"my+app%3A1:p%40ss%3Aw%2Frd+%C3%A9");
    }

    #[test]
    fn private_key_jwt_sends_the_assertion_in_the_body() {
        let c = OAuthClient::new(
            "app",
            ClientAuth::PrivateKeyJwt {
                client_assertion: "a1.b2.c3".into(),
            },
        )
        .unwrap();
        let (params, headers) = applied(&c);
        assert_eq!(
            params,
            [
                ("client_id", "app"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", "a1.b2.c3")
            ]
        );
        assert!(headers.is_empty());
        assert!(!format!("{c:?}").contains("a1.b2"));
    }

    #[test]
    fn refuses_empty_or_control_characters() {
        assert!(OAuthClient::new("", ClientAuth::None).is_err());
        assert!(OAuthClient::new("a\nb", ClientAuth::None).is_err());
        let empty = ClientAuth::ClientSecretPost {
            client_secret: String::new(),
        };
        assert_eq!(
            OAuthClient::new("app", empty).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        let ctl = ClientAuth::ClientSecretBasic {
            client_secret: "a\u{0}".into(),
        };
        assert!(OAuthClient::new("app", ctl).is_err());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = OAuthClient::new(
            "app",
            ClientAuth::ClientSecretPost {
                client_secret: "hunter2".into(),
            },
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("app") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
