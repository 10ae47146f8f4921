//! Pushed authorization requests (RFC 9126): the authorization request's parameters go to the
//! authorization server in a back-channel `POST`, and the user agent carries only a short-lived
//! `request_uri`, so nothing of the request can be read or altered in the browser.

use crate::error::{AuthError, ErrorCode};
use crate::oauth::authorize::{append_query, AuthorizationRequest};
use crate::oauth::client_auth::OAuthClient;
use crate::oauth::error_response;
use crate::oauth::http::{self, check_body_size, require_secure_endpoint, BodyFormat, HttpRequest};
use crate::oauth::members::{self, Slot};

/// The PAR endpoint (`pushed_authorization_request_endpoint`) and the client that pushes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParEndpoint {
    url: String,
    client: OAuthClient,
}

impl ParEndpoint {
    /// Refuses an endpoint that is not `https://` (or loopback `http://`).
    pub fn new(url: impl Into<String>, client: OAuthClient) -> Result<ParEndpoint, AuthError> {
        let url = url.into();
        require_secure_endpoint(&url)?;
        Ok(ParEndpoint { url, client })
    }

    /// RFC 9126 §2.1: the parameters the authorization URL would carry, form-encoded, with the
    /// client's authentication as at the token endpoint. The request must name this endpoint's
    /// client, and may not carry `request_uri`, which the server must reject here.
    pub fn request(&self, authorization: &AuthorizationRequest) -> Result<HttpRequest, AuthError> {
        let config = |msg| Err(AuthError::with_message(ErrorCode::InvalidConfig, msg));
        let mut params = authorization.params()?;
        if authorization.client_id() != self.client.client_id() {
            return config("the pushed request names another client than the PAR endpoint's");
        }
        if params.iter().any(|(name, _)| *name == "request_uri") {
            return config("a pushed authorization request cannot carry request_uri");
        }
        let mut auth = Vec::new();
        let mut headers = Vec::new();
        self.client.apply(&mut auth, &mut headers);
        // The authorization parameters already name the client.
        params.extend(auth.into_iter().filter(|(name, _)| *name != "client_id"));
        http::post(&self.url, &params, BodyFormat::Form, headers)
    }
}

/// The PAR endpoint's answer (RFC 9126 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedAuthorization {
    /// The reference to the pushed request, used once in the authorization URL.
    pub request_uri: String,
    /// Seconds the `request_uri` stays valid.
    pub expires_in: u64,
}

impl PushedAuthorization {
    /// RFC 9126 §4: the authorization endpoint with only `client_id` and `request_uri`.
    pub fn authorization_url(
        &self,
        authorization_endpoint: &str,
        client_id: &str,
    ) -> Result<String, AuthError> {
        require_secure_endpoint(authorization_endpoint)?;
        Ok(append_query(
            authorization_endpoint,
            &[("client_id", client_id), ("request_uri", &self.request_uri)],
        ))
    }
}

/// RFC 9126 §2.2–2.3: `201 Created` (`200` is accepted too) with a `request_uri` and a positive
/// `expires_in`. A refusal is the server's OAuth error (RFC 6749 §5.2) or, without one,
/// `invalid_response`.
pub fn parse_par_response(status: u16, body: &[u8]) -> Result<PushedAuthorization, AuthError> {
    check_body_size(body)?;
    if matches!(status, 200 | 201) {
        let (mut request_uri, mut expires_in) = (None, None);
        let read = members::read(
            body,
            &mut [
                ("request_uri", Slot::Str(&mut request_uri)),
                ("expires_in", Slot::U64(&mut expires_in)),
            ],
        );
        return match (read, request_uri, expires_in) {
            (Ok(()), Some(request_uri), Some(expires_in))
                if !request_uri.is_empty() && expires_in > 0 =>
            {
                Ok(PushedAuthorization {
                    request_uri,
                    expires_in,
                })
            }
            _ => Err(AuthError::with_message(
                ErrorCode::InvalidResponse,
                "the PAR answer has no valid request_uri and expires_in",
            )),
        };
    }
    Err(match error_response::from_json_body(body) {
        Some(e) if (400..600).contains(&status) => e.into_auth_error(),
        _ => AuthError::with_message(
            ErrorCode::InvalidResponse,
            "the pushed authorization request was refused",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_auth::ClientAuth;
    use crate::oauth::pkce::{CodeChallenge, CodeVerifier};

    fn form(body: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    /// The request of RFC 9126 §2.1 (its code challenge is for a verifier the RFC does not give).
    fn rfc_request(verifier: &CodeVerifier) -> AuthorizationRequest {
        AuthorizationRequest::new(
            "https://as.example.com/authorize",
            "s6BhdRkqt3",
            "https://client.example.org/cb",
            "af0ifjsldkj",
            CodeChallenge::s256(verifier),
        )
        .scope("account-information")
    }

    #[test]
    fn rfc9126_push_by_a_confidential_client() {
        let verifier = CodeVerifier::generate().unwrap();
        let client = OAuthClient::new(
            "s6BhdRkqt3",
            ClientAuth::ClientSecretBasic {
                client_secret: "7Fjfp0ZBr1KtDRbnfVdmIw".into(),
            },
        )
        .unwrap();
        let par = ParEndpoint::new("https://as.example.com/as/par", client).unwrap();
        let r = par.request(&rfc_request(&verifier)).unwrap();
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("POST", "https://as.example.com/as/par")
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            r.header("authorization"),
            Some("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3")
        );
        let challenge = CodeChallenge::s256(&verifier);
        let expected: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", "s6BhdRkqt3"),
            ("redirect_uri", "https://client.example.org/cb"),
            ("scope", "account-information"),
            ("state", "af0ifjsldkj"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(form(&r.body), expected);
    }

    #[test]
    fn a_public_client_sends_the_authorize_urls_parameters_once() {
        let verifier = CodeVerifier::generate().unwrap();
        let request = rfc_request(&verifier)
            .nonce("n-0S6_WzA2Mj")
            .resource("https://api.example")
            .extra_param("ui_locales", "de");
        let client = OAuthClient::new("s6BhdRkqt3", ClientAuth::None).unwrap();
        let r = ParEndpoint::new("https://as.example.com/as/par", client)
            .unwrap()
            .request(&request)
            .unwrap();
        assert_eq!(r.header("authorization"), None);
        let url = request.to_url().unwrap();
        let query = url.split_once('?').unwrap().1;
        assert_eq!(form(&r.body), form(query), "the same parameters, in order");
        let ids = form(&r.body)
            .iter()
            .filter(|(n, _)| n == "client_id")
            .count();
        assert_eq!(ids, 1);
    }

    #[test]
    fn refusals_before_sending() {
        let verifier = CodeVerifier::generate().unwrap();
        let public = |id: &str| OAuthClient::new(id, ClientAuth::None).unwrap();
        assert_eq!(
            ParEndpoint::new("http://as.example.com/as/par", public("s6BhdRkqt3"))
                .unwrap_err()
                .code(),
            ErrorCode::InvalidConfig
        );
        let par = ParEndpoint::new("https://as.example.com/as/par", public("other")).unwrap();
        assert_eq!(
            par.request(&rfc_request(&verifier)).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        let par = ParEndpoint::new("https://as.example.com/as/par", public("s6BhdRkqt3")).unwrap();
        let smuggled = rfc_request(&verifier).extra_param("request_uri", "urn:x");
        assert!(par
            .request(&smuggled)
            .unwrap_err()
            .message()
            .contains("request_uri"));
    }

    #[test]
    fn rfc9126_answer_and_authorization_url() {
        let body = br#"{
          "request_uri": "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c",
          "expires_in": 60
        }"#;
        let pushed = parse_par_response(201, body).unwrap();
        assert_eq!(pushed.expires_in, 60);
        assert_eq!(parse_par_response(200, body).unwrap(), pushed);
        assert_eq!(
            pushed
                .authorization_url("https://as.example.com/authorize", "s6BhdRkqt3")
                .unwrap(),
            "https://as.example.com/authorize?client_id=s6BhdRkqt3&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A6esc_11ACC5bwc014ltc14eY22c"
        );
        assert_eq!(
            pushed
                .authorization_url("https://as.example.com/authorize?tenant=a", "s6BhdRkqt3")
                .unwrap(),
            "https://as.example.com/authorize?tenant=a&client_id=s6BhdRkqt3&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A6esc_11ACC5bwc014ltc14eY22c",
            "the endpoint's own query is kept"
        );
        assert_eq!(
            pushed
                .authorization_url("http://as.example.com/authorize", "s6BhdRkqt3")
                .unwrap_err()
                .code(),
            ErrorCode::InvalidConfig
        );
    }

    #[test]
    fn refused_and_malformed_answers() {
        let e = parse_par_response(
            400,
            br#"{"error":"invalid_request","error_description":"The redirect_uri is not valid for the given client"}"#,
        )
        .unwrap_err();
        assert_eq!(e.oauth_error().unwrap().error(), "invalid_request");
        for (status, body) in [
            (201, &br#"{"expires_in":60}"#[..]),
            (201, br#"{"request_uri":"","expires_in":60}"#),
            (201, br#"{"request_uri":"urn:x"}"#),
            (201, br#"{"request_uri":"urn:x","expires_in":0}"#),
            (201, br#"{"request_uri":"urn:x","expires_in":"60"}"#),
            (201, b"<html>"),
            (405, b""),
            (413, b""),
            (429, b""),
            (302, br#"{"error":"invalid_request"}"#),
        ] {
            assert_eq!(
                parse_par_response(status, body).unwrap_err().code(),
                ErrorCode::InvalidResponse,
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
        let huge = vec![b' '; crate::oauth::MAX_RESPONSE_BYTES + 1];
        assert!(parse_par_response(201, &huge).is_err());
    }
}
