//! A browser or native app's sign-in as two steps around a redirect: [`begin`] makes the
//! authorization URL and the [`LoginTransaction`] the app keeps until the redirect comes back;
//! [`complete`] checks the redirect against that transaction and builds the code exchange.
//!
//! The transaction holds the `code_verifier`, so hosts store it where only this origin or app
//! can read it, and delete it before the exchange so that a replayed redirect finds none.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{AuthError, ErrorCode};
use crate::oauth::authorize::{parse_callback_url, AuthorizationRequest};
use crate::oauth::http::{require_secure_endpoint, HttpRequest};
use crate::oauth::members::{self, Slot};
use crate::oauth::par::ParEndpoint;
use crate::oauth::pkce::{CodeChallenge, CodeVerifier};
use crate::oauth::state::{generate_nonce, generate_state, verify_nonce};
use crate::oauth::token_request::TokenEndpoint;
use crate::oauth::token_response::parse_token_response;
use crate::oauth::unverified;
use crate::session::{ClockOffset, Session};

/// Schemes that would run or read content in the app itself if a provider redirected there.
const FORBIDDEN_REDIRECT_SCHEMES: [&str; 6] =
    ["javascript", "data", "file", "blob", "vbscript", "about"];

/// What the app asks for. `nonce` is added when `scope` includes `openid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginParams {
    pub authorization_endpoint: String,
    pub client_id: String,
    /// `https://`, loopback `http://`, or a custom scheme such as `com.example.app:/callback`.
    pub redirect_uri: String,
    pub scope: Option<String>,
    /// RFC 8707 resource indicator.
    pub resource: Option<String>,
    pub audience: Option<String>,
    pub prompt: Option<String>,
    /// Provider-specific parameters; names the request already sets are refused.
    pub extra: Vec<(String, String)>,
    /// A confidential client's choice only; see [`AuthorizationRequest::without_pkce`].
    pub without_pkce: bool,
}

/// The secrets of one sign-in in progress. `Debug` redacts them.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct LoginTransaction {
    pub state: String,
    /// Absent when a confidential client left PKCE out.
    pub code_verifier: Option<String>,
    pub nonce: Option<String>,
    pub redirect_uri: String,
}

/// Read through [`members`] rather than derived: one reader for every document in the browser
/// build. Members as the derived form: `state` and `redirect_uri` required.
impl<'de> Deserialize<'de> for LoginTransaction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LoginTransaction, D::Error> {
        let (mut state, mut code_verifier, mut nonce, mut redirect_uri) = (None, None, None, None);
        members::deserialize(
            d,
            &mut [
                ("state", Slot::Str(&mut state)),
                ("code_verifier", Slot::Str(&mut code_verifier)),
                ("nonce", Slot::Str(&mut nonce)),
                ("redirect_uri", Slot::Str(&mut redirect_uri)),
            ],
        )?;
        Ok(LoginTransaction {
            state: state.ok_or_else(|| D::Error::missing_field("state"))?,
            code_verifier,
            nonce,
            redirect_uri: redirect_uri.ok_or_else(|| D::Error::missing_field("redirect_uri"))?,
        })
    }
}

impl fmt::Debug for LoginTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginTransaction")
            .field("state", &"<redacted>")
            .field(
                "code_verifier",
                &self.code_verifier.as_ref().map(|_| "<redacted>"),
            )
            .field("nonce", &self.nonce.as_ref().map(|_| "<redacted>"))
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// A fresh PKCE S256 verifier, `state` and (for OpenID) `nonce`; returns the URL to send the
/// user agent to and the transaction to keep.
pub fn begin(params: &LoginParams) -> Result<(String, LoginTransaction), AuthError> {
    let (request, transaction) = authorization_request(params)?;
    Ok((request.to_url()?, transaction))
}

/// [`begin`] for a pushed authorization request (RFC 9126): returns the request to send to the
/// PAR endpoint and the transaction to keep. The URL to send the user agent to comes from the
/// endpoint's answer ([`crate::oauth::par::parse_par_response`], then
/// [`crate::oauth::par::PushedAuthorization::authorization_url`]).
pub fn begin_pushed(
    params: &LoginParams,
    par: &ParEndpoint,
) -> Result<(HttpRequest, LoginTransaction), AuthError> {
    require_secure_endpoint(&params.authorization_endpoint)?;
    let (request, transaction) = authorization_request(params)?;
    Ok((par.request(&request)?, transaction))
}

fn authorization_request(
    params: &LoginParams,
) -> Result<(AuthorizationRequest, LoginTransaction), AuthError> {
    check_redirect_uri(&params.redirect_uri)?;
    let verifier = CodeVerifier::generate()?;
    let state = generate_state()?;
    let openid = params
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    let nonce = if openid {
        Some(generate_nonce()?)
    } else {
        None
    };
    let mut request = AuthorizationRequest::new(
        params.authorization_endpoint.as_str(),
        params.client_id.as_str(),
        params.redirect_uri.as_str(),
        state.as_str(),
        CodeChallenge::s256(&verifier),
    );
    let optional = [
        (
            &params.scope,
            AuthorizationRequest::scope as fn(_, String) -> _,
        ),
        (&params.resource, AuthorizationRequest::resource),
        (&params.audience, AuthorizationRequest::audience),
        (&params.prompt, AuthorizationRequest::prompt),
        (&nonce, AuthorizationRequest::nonce),
    ];
    for (value, set) in optional {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            request = set(request, v.clone());
        }
    }
    for (name, value) in &params.extra {
        request = request.extra_param(name.as_str(), value.as_str());
    }
    if params.without_pkce {
        request = request.without_pkce();
    }
    Ok((
        request,
        LoginTransaction {
            state,
            code_verifier: (!params.without_pkce).then(|| verifier.as_str().to_owned()),
            nonce,
            redirect_uri: params.redirect_uri.clone(),
        },
    ))
}

/// Checks the redirect the user agent arrived at and builds the code exchange. Without a
/// transaction (none was stored, or it was used already) every redirect is refused as
/// [`ErrorCode::StateMismatch`]. `issuer` is checked against the RFC 9207 `iss` parameter when
/// the provider advertises it.
pub fn complete(
    callback_url: &str,
    transaction: Option<&LoginTransaction>,
    endpoint: &TokenEndpoint,
    issuer: Option<&str>,
) -> Result<HttpRequest, AuthError> {
    let expected_state = transaction.map_or("", |t| t.state.as_str());
    let code = parse_callback_url(callback_url, expected_state)?;
    let Some(transaction) = transaction else {
        return Err(AuthError::new(ErrorCode::StateMismatch));
    };
    if let Some(issuer) = issuer {
        code.require_issuer(issuer)?;
    }
    let verifier = match &transaction.code_verifier {
        Some(v) => Some(CodeVerifier::parse(v)?),
        None => None,
    };
    endpoint.authorization_code(code.code(), &transaction.redirect_uri, verifier.as_ref())
}

/// Compares the ID token's `nonce` with the transaction's. The ID token came straight from the
/// token endpoint over TLS, which OpenID Connect Core §3.1.3.7 accepts in place of its
/// signature; verify it with a `Verifier` before trusting any other claim in it. Only the
/// payload's `nonce` is read (a repeated `nonce` is refused), so this needs none of the JWS
/// header handling of `token`, which the browser build would otherwise carry.
pub fn check_id_token_nonce(
    id_token: Option<&str>,
    transaction: &LoginTransaction,
) -> Result<(), AuthError> {
    let Some(expected) = &transaction.nonce else {
        return Ok(());
    };
    let id_token = id_token.ok_or_else(|| {
        AuthError::with_message(
            ErrorCode::InvalidResponse,
            "the token response has no ID token",
        )
    })?;
    let claims = unverified::known_claims(&unverified::payload(id_token)?)?;
    verify_nonce(expected, claims.nonce.as_deref().unwrap_or_default())
}

/// Reads the code exchange's answer, received at `now` (host clock): checks the ID token's
/// `nonce` and starts the session.
pub fn session_from_exchange(
    status: u16,
    body: &[u8],
    transaction: &LoginTransaction,
    now: u64,
    clock: ClockOffset,
) -> Result<Session, AuthError> {
    let response = parse_token_response(status, body)?;
    check_id_token_nonce(response.id_token.as_deref(), transaction)?;
    Ok(Session::from_response(&response, now, clock))
}

/// `https://`, loopback `http://` or a custom scheme, never one that runs content.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), AuthError> {
    let scheme = uri.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => Ok(()),
        Some("http") => require_secure_endpoint(uri),
        Some(s) if !FORBIDDEN_REDIRECT_SCHEMES.contains(&s) => Ok(()),
        _ => Err(AuthError::with_message(
            ErrorCode::InvalidConfig,
            "redirect_uri must be https://, loopback http:// or an app's custom scheme",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_auth::{ClientAuth, OAuthClient};
    use base64ct::{Base64UrlUnpadded, Encoding};

    fn params(scope: &str) -> LoginParams {
        LoginParams {
            authorization_endpoint: "https://as.example/authorize".into(),
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: Some(scope.into()),
            ..LoginParams::default()
        }
    }

    fn endpoint() -> TokenEndpoint {
        let client = OAuthClient::new("app", ClientAuth::None).unwrap();
        TokenEndpoint::new("https://as.example/token", client).unwrap()
    }

    fn query_value(url: &str, name: &str) -> Option<String> {
        let query = url.split_once('?').unwrap().1;
        form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    }

    #[test]
    fn transactions_keep_their_stored_form() {
        let (_, tx) = begin(&params("openid")).unwrap();
        let json = serde_json::to_string(&tx).unwrap();
        assert_eq!(serde_json::from_str::<LoginTransaction>(&json).unwrap(), tx);
        let minimal: LoginTransaction =
            serde_json::from_str(r#"{"state":"s","redirect_uri":"https://app.example/cb"}"#)
                .unwrap();
        assert_eq!((minimal.code_verifier, minimal.nonce), (None, None));
        for bad in [
            r#"{"redirect_uri":"https://app.example/cb"}"#,
            r#"{"state":"s"}"#,
            r#"{"state":"s","state":"t","redirect_uri":"r"}"#,
            r#"{"state":"s","redirect_uri":"r","nonce":1}"#,
        ] {
            assert!(
                serde_json::from_str::<LoginTransaction>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn begin_sends_s256_state_and_nonce_for_openid() {
        let (url, tx) = begin(&params("openid offline_access")).unwrap();
        assert_eq!(
            query_value(&url, "state").as_deref(),
            Some(tx.state.as_str())
        );
        assert_eq!(
            query_value(&url, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let verifier = CodeVerifier::parse(tx.code_verifier.as_deref().unwrap()).unwrap();
        assert_eq!(
            query_value(&url, "code_challenge").as_deref(),
            Some(CodeChallenge::s256(&verifier).as_str())
        );
        assert_eq!(query_value(&url, "nonce"), tx.nonce);
        assert!(tx.nonce.is_some());
        let (url, tx) = begin(&params("read:datasets")).unwrap();
        assert_eq!(query_value(&url, "nonce"), None);
        assert_eq!(tx.nonce, None);
        let shown = format!("{tx:?}");
        assert!(
            !shown.contains(&tx.state) && !shown.contains(tx.code_verifier.as_deref().unwrap())
        );
    }

    #[test]
    fn a_pushed_begin_sends_the_parameters_to_the_par_endpoint() {
        let client = OAuthClient::new("app", ClientAuth::None).unwrap();
        let par = ParEndpoint::new("https://as.example/par", client).unwrap();
        let (request, tx) = begin_pushed(&params("openid"), &par).unwrap();
        assert_eq!(request.url, "https://as.example/par");
        let sent: Vec<(String, String)> = form_urlencoded::parse(request.body.as_bytes())
            .into_owned()
            .collect();
        let value = |name: &str| sent.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        assert_eq!(value("state"), Some(tx.state.clone()));
        assert_eq!(value("nonce"), tx.nonce.clone());
        assert_eq!(
            value("redirect_uri").as_deref(),
            Some("https://app.example/cb")
        );
        let verifier = CodeVerifier::parse(tx.code_verifier.as_deref().unwrap()).unwrap();
        assert_eq!(
            value("code_challenge").as_deref(),
            Some(CodeChallenge::s256(&verifier).as_str())
        );
        let insecure = LoginParams {
            authorization_endpoint: "http://as.example/authorize".into(),
            ..params("openid")
        };
        assert_eq!(
            begin_pushed(&insecure, &par).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
    }

    #[test]
    fn redirect_uris_are_https_loopback_or_app_schemes() {
        for ok in [
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "app://callback",
            "com.example.app:/oauth",
        ] {
            let p = LoginParams {
                redirect_uri: ok.into(),
                ..params("openid")
            };
            assert!(begin(&p).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "javascript:alert(1)",
            "DATA:text/html,x",
            "cb",
            "",
        ] {
            let p = LoginParams {
                redirect_uri: bad.into(),
                ..params("openid")
            };
            assert_eq!(
                begin(&p).unwrap_err().code(),
                ErrorCode::InvalidConfig,
                "{bad}"
            );
        }
        let p = LoginParams {
            authorization_endpoint: "http://as.example/a".into(),
            ..params("x")
        };
        assert!(begin(&p).is_err());
    }

    #[test]
    fn complete_checks_state_and_builds_the_exchange() {
        let (_, tx) = begin(&params("openid")).unwrap();
        let cb = format!("https://app.example/cb?code=abc&state={}", tx.state);
        let req = complete(&cb, Some(&tx), &endpoint(), None).unwrap();
        let sent = |name: &str| {
            form_urlencoded::parse(req.body.as_bytes())
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(sent("code").as_deref(), Some("abc"));
        assert_eq!(sent("code_verifier"), tx.code_verifier.clone());

        let (url, plain) = begin(&LoginParams {
            without_pkce: true,
            ..params("openid")
        })
        .unwrap();
        assert_eq!(query_value(&url, "code_challenge"), None);
        assert_eq!(plain.code_verifier, None);
        let plain_cb = format!("https://app.example/cb?code=abc&state={}", plain.state);
        let req = complete(&plain_cb, Some(&plain), &endpoint(), None).unwrap();
        assert!(!req.body.contains("code_verifier"), "{}", req.body);

        let tampered = "https://app.example/cb?code=abc&state=forged";
        assert_eq!(
            complete(tampered, Some(&tx), &endpoint(), None)
                .unwrap_err()
                .code(),
            ErrorCode::StateMismatch
        );
        assert_eq!(
            complete(&cb, None, &endpoint(), None).unwrap_err().code(),
            ErrorCode::StateMismatch
        );
        let denied = format!(
            "https://app.example/cb?error=access_denied&state={}",
            tx.state
        );
        let err = complete(&denied, Some(&tx), &endpoint(), None).unwrap_err();
        assert_eq!(err.code(), ErrorCode::OauthError);
        assert_eq!(err.oauth_error().unwrap().error(), "access_denied");

        let with_iss = format!("{cb}&iss=https%3A%2F%2Fevil.example");
        let err = complete(
            &with_iss,
            Some(&tx),
            &endpoint(),
            Some("https://as.example"),
        );
        assert_eq!(err.unwrap_err().code(), ErrorCode::InvalidIssuer);
    }

    #[test]
    fn id_token_nonce_must_match() {
        let (_, tx) = begin(&params("openid")).unwrap();
        let token = |nonce: &str| {
            let claims = serde_json::json!({ "nonce": nonce }).to_string();
            format!(
                "{}.{}.c2ln",
                Base64UrlUnpadded::encode_string(br#"{"alg":"RS256"}"#),
                Base64UrlUnpadded::encode_string(claims.as_bytes())
            )
        };
        let nonce = tx.nonce.clone().unwrap();
        assert!(check_id_token_nonce(Some(&token(&nonce)), &tx).is_ok());
        assert!(check_id_token_nonce(Some(&token("other")), &tx).is_err());
        assert!(check_id_token_nonce(None, &tx).is_err());
        assert!(check_id_token_nonce(Some("a.b"), &tx).is_err());
        let repeated = format!(
            "e30.{}.c2ln",
            Base64UrlUnpadded::encode_string(
                format!(r#"{{"nonce":"{nonce}","nonce":"{nonce}"}}"#).as_bytes()
            )
        );
        assert!(check_id_token_nonce(Some(&repeated), &tx).is_err());
        let (_, plain) = begin(&params("read")).unwrap();
        assert!(check_id_token_nonce(None, &plain).is_ok());
    }

    #[test]
    fn the_exchange_answer_starts_a_session() {
        let (_, tx) = begin(&params("read")).unwrap();
        let body =
            br#"{"access_token":"at","token_type":"Bearer","expires_in":60,"refresh_token":"rt"}"#;
        let s = session_from_exchange(200, body, &tx, 1000, ClockOffset::default()).unwrap();
        assert_eq!(s.access_token(), "at");
        let denied = br#"{"error":"invalid_grant"}"#;
        let err = session_from_exchange(400, denied, &tx, 1000, ClockOffset::default());
        assert_eq!(err.unwrap_err().code(), ErrorCode::OauthError);
        let (_, openid) = begin(&params("openid")).unwrap();
        let err = session_from_exchange(200, body, &openid, 1000, ClockOffset::default());
        assert_eq!(err.unwrap_err().code(), ErrorCode::InvalidResponse);
    }
}
