//! The authorization request (RFC 6749 §4.1.1 with RFC 7636 and OpenID Connect parameters)
//! and the redirect that brings its result back (RFC 6749 §4.1.2).

use std::fmt;

use crate::error::{AuthError, ErrorCode};
use crate::oauth::error_response::OAuthErrorResponse;
use crate::oauth::http::require_secure_endpoint;
use crate::oauth::pkce::CodeChallenge;
use crate::oauth::state::verify_state;

/// Callback queries above this size are refused unread.
pub const MAX_CALLBACK_LEN: usize = 16 * 1024;

const RESERVED: [&str; 11] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "resource",
    "audience",
    "prompt",
];

/// An authorization code flow request; [`AuthorizationRequest::to_url`] gives the URL to send
/// the user agent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    endpoint: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<CodeChallenge>,
    scope: Option<String>,
    nonce: Option<String>,
    resource: Vec<String>,
    audience: Option<String>,
    prompt: Option<String>,
    extra: Vec<(String, String)>,
}

impl AuthorizationRequest {
    /// The parameters every request carries: PKCE and `state` are not optional here.
    pub fn new(
        authorization_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
        state: impl Into<String>,
        code_challenge: CodeChallenge,
    ) -> AuthorizationRequest {
        AuthorizationRequest {
            endpoint: authorization_endpoint.into(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            state: state.into(),
            code_challenge: Some(code_challenge),
            scope: None,
            nonce: None,
            resource: Vec::new(),
            audience: None,
            prompt: None,
            extra: Vec::new(),
        }
    }

    /// Leaves PKCE out, for a confidential client whose provider refuses its parameters (GoPie
    /// documents a code exchange without `code_verifier`). Never for a public client: its code
    /// would be redeemable by whoever intercepts it.
    pub fn without_pkce(mut self) -> Self {
        self.code_challenge = None;
        self
    }

    /// Space-separated scopes, e.g. `openid profile`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// OpenID Connect `nonce`, later compared with the ID token's claim.
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// RFC 8707 `resource` indicator; may be given several times.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource.push(resource.into());
        self
    }

    /// `audience`, the non-standard equivalent some providers use instead of `resource`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// OpenID Connect `prompt`, e.g. `login` or `consent`.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// A provider-specific parameter. Names the request already sets are refused by `to_url`.
    pub fn extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The authorization URL: the endpoint (its own query kept) with the parameters appended,
    /// `application/x-www-form-urlencoded` as RFC 6749 Appendix B requires.
    pub fn to_url(&self) -> Result<String, AuthError> {
        require_secure_endpoint(&self.endpoint)?;
        Ok(append_query(&self.endpoint, &self.params()?))
    }

    /// The request's parameters in the order they are sent, once the request is checked. The
    /// authorization URL and a pushed authorization request (RFC 9126) carry exactly these.
    pub(crate) fn params(&self) -> Result<Vec<(&str, &str)>, AuthError> {
        self.check()?;
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
        ];
        if let Some(scope) = &self.scope {
            params.push(("scope", scope));
        }
        params.push(("state", self.state.as_str()));
        if let Some(challenge) = &self.code_challenge {
            params.extend([
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", challenge.method().as_str()),
            ]);
        }
        if let Some(nonce) = &self.nonce {
            params.push(("nonce", nonce));
        }
        for resource in &self.resource {
            params.push(("resource", resource));
        }
        if let Some(audience) = &self.audience {
            params.push(("audience", audience));
        }
        if let Some(prompt) = &self.prompt {
            params.push(("prompt", prompt));
        }
        params.extend(self.extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        Ok(params)
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    fn check(&self) -> Result<(), AuthError> {
        let config = |msg| Err(AuthError::with_message(ErrorCode::InvalidConfig, msg));
        if self.client_id.is_empty() || self.state.is_empty() {
            return config("client_id and state must not be empty");
        }
        if !is_valid_redirect_uri(&self.redirect_uri) {
            return config("redirect_uri must be an absolute URI without a fragment");
        }
        let existing = self
            .endpoint
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default();
        // A handful of names: a list is enough, and keeps a hash table out of the browser build.
        let mut names: Vec<String> = form_urlencoded::parse(existing.as_bytes())
            .map(|(n, _)| n.into_owned())
            .collect();
        if RESERVED.iter().any(|r| names.iter().any(|n| n == r)) {
            return config("the endpoint's query repeats a request parameter");
        }
        names.extend(RESERVED.iter().map(|r| (*r).to_owned()));
        for (name, _) in &self.extra {
            if name.is_empty() || names.contains(name) {
                return config("an extra parameter is empty or repeats another parameter");
            }
            names.push(name.clone());
        }
        Ok(())
    }
}

/// `endpoint` with `params` appended to its query (the endpoint's own query is kept).
pub(crate) fn append_query(endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut url = endpoint.trim_end_matches('&').to_owned();
    let start = match url.find('?') {
        Some(i) => i + 1,
        None => {
            url.push('?');
            url.len()
        }
    };
    form_urlencoded::Serializer::for_suffix(url, start)
        .extend_pairs(params.iter().copied())
        .finish()
}

/// RFC 6749 §3.1.2: absolute, no fragment. Custom schemes (native apps) are allowed.
fn is_valid_redirect_uri(uri: &str) -> bool {
    let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    scheme_ok && !uri.contains('#') && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A successful authorization response. `Debug` redacts the code.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    code: String,
    iss: Option<String>,
}

impl AuthorizationCode {
    /// The `code` to exchange at the token endpoint.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The RFC 9207 `iss` parameter, when the server sent one.
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// RFC 9207 mix-up defence: for servers that advertise
    /// `authorization_response_iss_parameter_supported`, `iss` must be present and exact.
    pub fn require_issuer(&self, expected_issuer: &str) -> Result<(), AuthError> {
        match &self.iss {
            Some(iss) if !expected_issuer.is_empty() && iss == expected_issuer => Ok(()),
            _ => Err(AuthError::with_message(
                ErrorCode::InvalidIssuer,
                "The authorization response issuer does not match",
            )),
        }
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("code", &"<redacted>")
            .field("iss", &self.iss)
            .finish()
    }
}

/// Reads the redirect URL the user agent arrived at; the fragment is ignored.
pub fn parse_callback_url(url: &str, expected_state: &str) -> Result<AuthorizationCode, AuthError> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let query = without_fragment
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    parse_callback_query(query, expected_state)
}

/// Reads the redirect's query string (a leading `?` is allowed), or a `form_post` body.
///
/// `state` is checked first, in constant time, for errors too: an error redirect nobody asked
/// for is refused as [`ErrorCode::StateMismatch`]. A provider error becomes
/// [`ErrorCode::OauthError`] with the [`OAuthErrorResponse`] attached. A malformed redirect is
/// [`ErrorCode::InvalidRequest`]: it is a request anyone can forge.
pub fn parse_callback_query(
    query: &str,
    expected_state: &str,
) -> Result<AuthorizationCode, AuthError> {
    let malformed = |msg| AuthError::with_message(ErrorCode::InvalidRequest, msg);
    if query.len() > MAX_CALLBACK_LEN {
        return Err(malformed("the callback is too large"));
    }
    let query = query.strip_prefix('?').unwrap_or(query);

    let mut params = CallbackParams::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "code" => &mut params.code,
            "state" => &mut params.state,
            "error" => &mut params.error,
            "error_description" => &mut params.error_description,
            "error_uri" => &mut params.error_uri,
            "iss" => &mut params.iss,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(malformed("a callback parameter is repeated"));
        }
    }

    verify_state(expected_state, params.state.as_deref().unwrap_or_default())?;

    if let Some(error) = params.error {
        let oauth = OAuthErrorResponse::new(
            &error,
            params.error_description.as_deref(),
            params.error_uri.as_deref(),
        )
        .ok_or_else(|| malformed("the callback error is malformed"))?;
        return Err(oauth.into_auth_error());
    }

    let code = params
        .code
        .filter(|c| !c.is_empty() && c.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .ok_or_else(|| malformed("the callback has no valid code"))?;
    Ok(AuthorizationCode {
        code,
        iss: params.iss,
    })
}

#[derive(Default)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_uri: Option<String>,
    iss: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::error_response::OAuthErrorKind;
    use crate::oauth::pkce::{CodeChallengeMethod, CodeVerifier};

    fn challenge() -> CodeChallenge {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        CodeChallenge::s256(&v)
    }

    fn request(endpoint: &str) -> AuthorizationRequest {
        AuthorizationRequest::new(
            endpoint,
            "s6BhdRkqt3",
            "https://client.example.org/cb",
            "af0ifjsldkj",
            challenge(),
        )
    }

    #[test]
    fn minimal_url_is_exact() {
        let url = request("https://server.example.com/authorize")
            .to_url()
            .unwrap();
        assert_eq!(
            url,
            "https://server.example.com/authorize?response_type=code&client_id=s6BhdRkqt3\
             &redirect_uri=https%3A%2F%2Fclient.example.org%2Fcb&state=af0ifjsldkj\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256"
        );
    }

    #[test]
    fn full_url_is_exact_and_encoded() {
        let url = request("https://server.example.com/authorize")
            .scope("openid profile email")
            .nonce("n-0S6_WzA2Mj")
            .resource("https://api.example.com/")
            .resource("urn:example:ledger")
            .audience("https://api.example.com")
            .prompt("login consent")
            .extra_param("ui_locales", "fr-CA fr")
            .extra_param("login_hint", "jürgen+x@example.com&admin=1")
            .to_url()
            .unwrap();
        assert_eq!(
            url,
            "https://server.example.com/authorize?response_type=code&client_id=s6BhdRkqt3\
             &redirect_uri=https%3A%2F%2Fclient.example.org%2Fcb&scope=openid+profile+email\
             &state=af0ifjsldkj&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256&nonce=n-0S6_WzA2Mj\
             &resource=https%3A%2F%2Fapi.example.com%2F&resource=urn%3Aexample%3Aledger\
             &audience=https%3A%2F%2Fapi.example.com&prompt=login+consent\
             &ui_locales=fr-CA+fr&login_hint=j%C3%BCrgen%2Bx%40example.com%26admin%3D1"
        );
    }

    #[test]
    fn existing_query_is_preserved() {
        for (endpoint, prefix) in [
            (
                "https://login.example.com/authorize?p=B2C_1_signin",
                "https://login.example.com/authorize?p=B2C_1_signin&response_type=code&",
            ),
            (
                "https://login.example.com/authorize?p=B2C_1_signin&",
                "https://login.example.com/authorize?p=B2C_1_signin&response_type=code&",
            ),
            (
                "https://login.example.com/authorize?",
                "https://login.example.com/authorize?response_type=code&",
            ),
        ] {
            let url = request(endpoint).to_url().unwrap();
            assert!(url.starts_with(prefix), "{url}");
        }
    }

    #[test]
    fn plain_method_is_named() {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let plain = CodeChallenge::new(&v, CodeChallengeMethod::Plain, true).unwrap();
        let url = AuthorizationRequest::new("https://as.example/a", "c", "app:/cb", "s", plain)
            .to_url()
            .unwrap();
        assert!(url.ends_with("&code_challenge_method=plain"), "{url}");
        assert!(url.contains("&redirect_uri=app%3A%2Fcb&"), "{url}");
    }

    #[test]
    fn loopback_http_is_allowed_plain_http_is_not() {
        assert!(request("http://localhost:8080/authorize").to_url().is_ok());
        let err = request("http://server.example.com/authorize")
            .to_url()
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
    }

    #[test]
    fn bad_configuration_is_refused() {
        let c = challenge();
        let e = "https://as.example/authorize";
        let cases = [
            AuthorizationRequest::new(e, "", "https://c/cb", "s", c.clone()),
            AuthorizationRequest::new(e, "c", "https://c/cb", "", c.clone()),
            AuthorizationRequest::new(e, "c", "https://c/cb#frag", "s", c.clone()),
            AuthorizationRequest::new(e, "c", "/relative/cb", "s", c.clone()),
            AuthorizationRequest::new(e, "c", "https://c/c b", "s", c.clone()),
            AuthorizationRequest::new(e, "c", "", "s", c.clone()),
            AuthorizationRequest::new(
                "https://as.example/a#x",
                "c",
                "https://c/cb",
                "s",
                c.clone(),
            ),
            AuthorizationRequest::new(
                "https://as.example/a?client_id=evil",
                "c",
                "https://c/cb",
                "s",
                c.clone(),
            ),
            request(e).extra_param("state", "override"),
            request(e).extra_param("", "v"),
            request(e).extra_param("x", "1").extra_param("x", "2"),
            request("https://as.example/a?x=1").extra_param("x", "2"),
        ];
        for (i, req) in cases.iter().enumerate() {
            let err = req.to_url().unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "case {i}");
        }
    }

    #[test]
    fn callback_with_code() {
        let ok = parse_callback_url(
            "https://client.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz#_=_",
            "xyz",
        )
        .unwrap();
        assert_eq!(ok.code(), "SplxlOBeZQQYbYS6WxSbIA");
        assert_eq!(ok.iss(), None);
        let q = parse_callback_query("?state=xyz&code=a%2Bb+c&app=1", "xyz").unwrap();
        assert_eq!(q.code(), "a+b c");
        let post = parse_callback_query("code=abc&state=xyz", "xyz").unwrap();
        assert_eq!(post.code(), "abc");
    }

    #[test]
    fn callback_state_is_checked_first() {
        for (query, expected) in [
            ("code=abc&state=xyz", "xyZ"),
            ("code=abc", "xyz"),
            ("code=abc&state=", "xyz"),
            ("code=abc&state=", ""),
            ("error=access_denied&state=other", "xyz"),
            ("error=access_denied", "xyz"),
            ("", "xyz"),
        ] {
            let err = parse_callback_query(query, expected).unwrap_err();
            assert_eq!(err.code(), ErrorCode::StateMismatch, "{query}");
        }
        let err = parse_callback_url("https://c.example/cb#code=abc&state=xyz", "xyz").unwrap_err();
        assert_eq!(err.code(), ErrorCode::StateMismatch);
    }

    #[test]
    fn callback_error_is_structured() {
        let err = parse_callback_query(
            "error=access_denied&error_description=The+user+said+%22no%22%0D%0ASet-Cookie%3A+x&state=xyz",
            "xyz",
        )
        .unwrap_err();
        assert_eq!(err.code(), ErrorCode::OauthError);
        assert_eq!(err.message(), "The authorization server returned an error");
        let oauth = err.oauth_error().unwrap();
        assert_eq!(oauth.kind(), OAuthErrorKind::AccessDenied);
        assert_eq!(
            oauth.error_description(),
            Some("The user said  no   Set-Cookie: x")
        );
        assert!(!err.body(crate::ErrorStyle::Simple).contains("user said"));

        let with_code =
            parse_callback_query("code=abc&error=server_error&state=xyz", "xyz").unwrap_err();
        assert_eq!(with_code.code(), ErrorCode::OauthError);

        let bad = parse_callback_query("error=%22bad%0A&state=xyz", "xyz").unwrap_err();
        assert_eq!(bad.code(), ErrorCode::InvalidRequest);
        assert!(bad.oauth_error().is_none());
    }

    #[test]
    fn malformed_callbacks_are_invalid_requests() {
        for query in [
            "state=xyz",
            "code=&state=xyz",
            "code=a%0Ab&state=xyz",
            "code=%C3%A9&state=xyz",
            "code=a&code=b&state=xyz",
            "code=a&state=xyz&state=xyz",
            "error=x&error=y&state=xyz",
            "code=a&state=xyz&iss=a&iss=b",
        ] {
            let err = parse_callback_query(query, "xyz").unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidRequest, "{query}");
        }
        let huge = format!("code={}&state=xyz", "a".repeat(MAX_CALLBACK_LEN));
        let err = parse_callback_query(&huge, "xyz").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn adversarial_encodings_do_not_panic() {
        for query in [
            "%",
            "%zz",
            "&&&",
            "=",
            "code=%ff%fe&state=xyz",
            "state=%E2%82",
        ] {
            assert!(parse_callback_query(query, "xyz").is_err(), "{query}");
        }
    }

    #[test]
    fn issuer_check_rfc9207() {
        let got = parse_callback_query(
            "code=abc&state=xyz&iss=https%3A%2F%2Fhonest.as.example",
            "xyz",
        )
        .unwrap();
        assert_eq!(got.iss(), Some("https://honest.as.example"));
        assert!(got.require_issuer("https://honest.as.example").is_ok());
        let err = got.require_issuer("https://attacker.example").unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidIssuer);
        let none = parse_callback_query("code=abc&state=xyz", "xyz").unwrap();
        assert!(none.require_issuer("https://honest.as.example").is_err());
        assert!(got.require_issuer("").is_err());
    }

    #[test]
    fn debug_redacts_the_code() {
        let got = parse_callback_query("code=SplxlOBeZQQYbYS6WxSbIA&state=xyz", "xyz").unwrap();
        assert!(!format!("{got:?}").contains("SplxlOBeZQQYbYS6WxSbIA"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_callbacks_never_panic(input in ".*", state in ".*") {
            let _ = parse_callback_url(&input, &state);
            let _ = parse_callback_query(&input, &state);
        }
    }
}
