//! Token introspection (RFC 7662): asking the authorization server whether an opaque token is
//! active, and for how long that answer may be reused.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{AuthError, ErrorCode};
use crate::oauth::client_auth::OAuthClient;
use crate::oauth::error_response;
use crate::oauth::http::{check_body_size, require_secure_endpoint, HttpRequest};
// RFC 7662 §2.1 takes its token type hints from RFC 7009.
pub use crate::oauth::revocation::TokenTypeHint;

/// The introspection endpoint and the client (usually the resource server) that calls it.
/// A type of its own, so it cannot be passed where a revocation endpoint is meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrospectionEndpoint {
    url: String,
    client: OAuthClient,
}

impl IntrospectionEndpoint {
    /// Refuses an endpoint that is not `https://` (or loopback `http://`).
    pub fn new(
        url: impl Into<String>,
        client: OAuthClient,
    ) -> Result<IntrospectionEndpoint, AuthError> {
        let url = url.into();
        require_secure_endpoint(&url)?;
        Ok(IntrospectionEndpoint { url, client })
    }

    /// The form-encoded `POST` of RFC 7662 §2.1: `token`, an optional `token_type_hint`, and
    /// the client's authentication.
    pub fn request(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<HttpRequest, AuthError> {
        self.client
            .post_token(&self.url, token, hint.map(TokenTypeHint::as_str))
    }
}

/// An active token's metadata (RFC 7662 §2.2). Only active tokens are represented: inactive
/// ones are refused during parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub token_type: Option<String>,
    pub exp: Option<u64>,
    pub iat: Option<u64>,
    pub nbf: Option<u64>,
    pub sub: Option<String>,
    /// Empty when absent; a single string becomes one element.
    pub aud: Vec<String>,
    pub iss: Option<String>,
    pub jti: Option<String>,
    /// Every other member of the answer (extensions, custom claims).
    pub extra: Map<String, Value>,
}

impl Introspection {
    /// Parses the introspection response at `now` (unix seconds).
    ///
    /// `active` must be the JSON boolean `true`; `false` is [`ErrorCode::InactiveToken`], and
    /// so is an active token whose `exp` has passed or whose `nbf` lies ahead by this clock
    /// (fail closed on disagreement). A malformed answer is [`ErrorCode::InvalidResponse`]; an
    /// RFC 6749 error object (e.g. `invalid_client`) is [`ErrorCode::OauthError`].
    pub fn parse(status: u16, body: &[u8], now: u64) -> Result<Introspection, AuthError> {
        check_body_size(body)?;
        if status != 200 {
            return Err(match error_response::from_json_body(body) {
                Some(e) if (400..600).contains(&status) => e.into_auth_error(),
                _ => AuthError::new(ErrorCode::InvalidResponse),
            });
        }
        let raw: RawIntrospection =
            serde_json::from_slice(body).map_err(|_| AuthError::new(ErrorCode::InvalidResponse))?;
        let inactive = || AuthError::new(ErrorCode::InactiveToken);
        if !raw.active {
            return Err(inactive());
        }
        if raw.exp.is_some_and(|exp| exp <= now) || raw.nbf.is_some_and(|nbf| nbf > now) {
            return Err(inactive());
        }
        Ok(Introspection {
            scope: raw.scope,
            client_id: raw.client_id,
            username: raw.username,
            token_type: raw.token_type,
            exp: raw.exp,
            iat: raw.iat,
            nbf: raw.nbf,
            sub: raw.sub,
            aud: match raw.aud {
                None => Vec::new(),
                Some(Audience::One(a)) => vec![a],
                Some(Audience::Many(a)) => a,
            },
            iss: raw.iss,
            jti: raw.jti,
            extra: raw.extra,
        })
    }

    /// The space-separated `scope`, split.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// Until when (unix seconds, exclusive) this answer may be reused: never past `exp`, and
    /// never more than `max_ttl` after `now`, so a revocation is noticed within `max_ttl`.
    pub fn cache_until(&self, now: u64, max_ttl: u64) -> u64 {
        let cap = now.saturating_add(max_ttl);
        self.exp.map_or(cap, |exp| exp.min(cap)).max(now)
    }
}

#[derive(Deserialize)]
struct RawIntrospection {
    active: bool,
    scope: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    token_type: Option<String>,
    exp: Option<u64>,
    iat: Option<u64>,
    nbf: Option<u64>,
    sub: Option<String>,
    aud: Option<Audience>,
    iss: Option<String>,
    jti: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_auth::ClientAuth;
    use crate::oauth::error_response::OAuthErrorKind;

    const NOW: u64 = 1_419_350_000;

    fn rfc7662_example() -> &'static str {
        r#"{
          "active": true,
          "client_id": "l238j323ds-23ij4",
          "username": "jdoe",
          "scope": "read write dolphin",
          "sub": "Z5O3upPC88QrAjx00dis",
          "aud": "https://protected.example.net/resource",
          "iss": "https://server.example.com/",
          "exp": 1419356238,
          "iat": 1419350238,
          "extension_field": "twenty-seven"
        }"#
    }

    #[test]
    fn request_matches_rfc7662_example() {
        // RFC 7662 §2.1 (that example authenticates the resource server with a bearer token;
        // client_secret_basic is used here).
        let client = OAuthClient::new(
            "rs",
            ClientAuth::ClientSecretBasic {
                client_secret: "pw".into(),
            },
        )
        .unwrap();
        let ep =
            IntrospectionEndpoint::new("https://server.example.com/introspect", client).unwrap();
        let req = ep
            .request("mF_9.B5f-4.1JqM", Some(TokenTypeHint::AccessToken))
            .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.body,
            "token=mF_9.B5f-4.1JqM&token_type_hint=access_token"
        );
        assert_eq!(req.header("Authorization"), Some("Basic cnM6cHc="));
        assert_eq!(
            req.header("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn request_with_post_auth_and_no_hint() {
        let client = OAuthClient::new(
            "rs",
            ClientAuth::ClientSecretPost {
                client_secret: "pw".into(),
            },
        )
        .unwrap();
        let ep = IntrospectionEndpoint::new("https://as.example/introspect", client).unwrap();
        let req = ep.request("tok+en", None).unwrap();
        assert_eq!(req.body, "token=tok%2Ben&client_id=rs&client_secret=pw");
        let rt = ep.request("r", Some(TokenTypeHint::RefreshToken)).unwrap();
        assert!(rt
            .body
            .starts_with("token=r&token_type_hint=refresh_token&"));
        assert_eq!(
            ep.request("", None).unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn insecure_endpoint_is_refused() {
        let client = OAuthClient::new("rs", ClientAuth::None).unwrap();
        let err = IntrospectionEndpoint::new("http://as.example/introspect", client).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
    }

    #[test]
    fn parses_rfc7662_example_response() {
        let i = Introspection::parse(200, rfc7662_example().as_bytes(), NOW).unwrap();
        assert_eq!(i.client_id.as_deref(), Some("l238j323ds-23ij4"));
        assert_eq!(i.username.as_deref(), Some("jdoe"));
        assert_eq!(i.scopes().collect::<Vec<_>>(), ["read", "write", "dolphin"]);
        assert_eq!(i.sub.as_deref(), Some("Z5O3upPC88QrAjx00dis"));
        assert_eq!(i.aud, ["https://protected.example.net/resource"]);
        assert_eq!(i.iss.as_deref(), Some("https://server.example.com/"));
        assert_eq!(i.exp, Some(1_419_356_238));
        assert_eq!(i.iat, Some(1_419_350_238));
        assert_eq!(i.nbf, None);
        assert_eq!(i.jti, None);
    }

    #[test]
    fn audience_array_and_minimal_response() {
        let i = Introspection::parse(
            200,
            br#"{"active":true,"aud":["a","b"],"token_type":"Bearer","jti":"j1","nbf":1}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(i.aud, ["a", "b"]);
        assert_eq!(i.jti.as_deref(), Some("j1"));
        let min = Introspection::parse(200, br#"{"active":true}"#, NOW).unwrap();
        assert!(min.aud.is_empty());
        assert_eq!(min.scopes().count(), 0);
    }

    #[test]
    fn inactive_tokens() {
        let inactive = |body: &str| {
            Introspection::parse(200, body.as_bytes(), NOW)
                .unwrap_err()
                .code()
        };
        assert_eq!(inactive(r#"{"active":false}"#), ErrorCode::InactiveToken);
        assert_eq!(
            inactive(r#"{"active":false,"sub":"x","exp":99999999999}"#),
            ErrorCode::InactiveToken
        );
        assert_eq!(
            inactive(&format!(r#"{{"active":true,"exp":{NOW}}}"#)),
            ErrorCode::InactiveToken
        );
        assert_eq!(
            inactive(&format!(r#"{{"active":true,"nbf":{}}}"#, NOW + 1)),
            ErrorCode::InactiveToken
        );
        assert!(Introspection::parse(
            200,
            format!(r#"{{"active":true,"exp":{},"nbf":{NOW}}}"#, NOW + 1).as_bytes(),
            NOW
        )
        .is_ok());
    }

    #[test]
    fn wrong_types_are_invalid_responses() {
        for body in [
            "",
            "{}",
            "[]",
            "null",
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":null}"#,
            r#"{"active":true,"exp":"1419356238"}"#,
            r#"{"active":true,"exp":1419356238.5}"#,
            r#"{"active":true,"exp":-1}"#,
            r#"{"active":true,"aud":[1]}"#,
            r#"{"active":true,"aud":{"a":1}}"#,
            r#"{"active":true,"scope":["read"]}"#,
            r#"{"active":true,"active":false}"#,
            r#"{"active":true} {"active":true}"#,
        ] {
            let err = Introspection::parse(200, body.as_bytes(), NOW).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidResponse, "{body}");
        }
    }

    #[test]
    fn error_statuses() {
        let err = Introspection::parse(401, br#"{"error":"invalid_client"}"#, NOW).unwrap_err();
        assert_eq!(err.code(), ErrorCode::OauthError);
        assert_eq!(
            err.oauth_error().unwrap().kind(),
            OAuthErrorKind::InvalidClient
        );
        for status in [201, 302, 401, 500] {
            let err = Introspection::parse(status, br#"{"active":true}"#, NOW).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidResponse, "{status}");
        }
        let huge = vec![b' '; crate::oauth::MAX_RESPONSE_BYTES + 1];
        assert_eq!(
            Introspection::parse(200, &huge, NOW).unwrap_err().code(),
            ErrorCode::InvalidResponse
        );
    }

    #[test]
    fn unicode_values_survive() {
        let i = Introspection::parse(
            200,
            r#"{"active":true,"username":"jürgen","sub":"\u00e9\ud83d\ude00"}"#.as_bytes(),
            NOW,
        )
        .unwrap();
        assert_eq!(i.username.as_deref(), Some("jürgen"));
        assert_eq!(i.sub.as_deref(), Some("é😀"));
    }

    #[test]
    fn cache_lifetime_is_bounded_by_exp_and_max_ttl() {
        let i = Introspection::parse(200, rfc7662_example().as_bytes(), NOW).unwrap();
        // exp is NOW + 6238.
        assert_eq!(i.cache_until(NOW, 300), NOW + 300);
        assert_eq!(i.cache_until(NOW, 10_000), 1_419_356_238);
        assert_eq!(i.cache_until(NOW, 0), NOW);
        assert_eq!(i.cache_until(1_419_356_300, 300), 1_419_356_300);
        let no_exp = Introspection::parse(200, br#"{"active":true}"#, NOW).unwrap();
        assert_eq!(no_exp.cache_until(NOW, 60), NOW + 60);
        assert_eq!(no_exp.cache_until(u64::MAX - 1, 60), u64::MAX);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            status in 0u16..600,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            now in proptest::num::u64::ANY,
        ) {
            let _ = Introspection::parse(status, &body, now);
        }

        #[test]
        fn arbitrary_times_never_panic(exp in proptest::num::u64::ANY, now in proptest::num::u64::ANY, ttl in proptest::num::u64::ANY) {
            let body = format!(r#"{{"active":true,"exp":{exp}}}"#);
            if let Ok(i) = Introspection::parse(200, body.as_bytes(), now) {
                let until = i.cache_until(now, ttl);
                proptest::prop_assert!(until >= now && until <= exp);
            }
        }
    }
}
