//! OpenID Connect Discovery 1.0 (and RFC 8414 fields): where a provider's endpoints are.
//!
//! The document decides where secrets and codes are sent, so it is held to the rules that stop
//! an impersonating or misconfigured provider: the `issuer` must equal the expected one exactly
//! (Discovery §4.3) and every endpoint must be `https://` (loopback `http://` for development).

use crate::error::{AuthError, ErrorCode};
use crate::oauth::http::{
    check_body_size, is_secure_endpoint, require_secure_endpoint, HttpRequest,
};
use crate::oauth::members::{self, Slot};
use crate::oauth::pkce::CodeChallengeMethod;

const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// `<issuer>/.well-known/openid-configuration`, a terminating `/` of the issuer removed first
/// (Discovery §4). The issuer must be a secure URL without query or fragment.
pub fn discovery_url(issuer: &str) -> Result<String, AuthError> {
    check_issuer(issuer)?;
    Ok(format!(
        "{}{WELL_KNOWN}",
        issuer.strip_suffix('/').unwrap_or(issuer)
    ))
}

/// RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted between the issuer's host
/// and its path (`https://as.example/.well-known/oauth-authorization-server/tenant`). Some
/// providers publish endpoints there only (the revocation endpoint, say).
pub fn authorization_server_metadata_url(issuer: &str) -> Result<String, AuthError> {
    check_issuer(issuer)?;
    let issuer = issuer.strip_suffix('/').unwrap_or(issuer);
    let start = issuer.find("://").map_or(0, |i| i + 3);
    let (origin, path) = match issuer[start..].find('/') {
        Some(i) => issuer.split_at(start + i),
        None => (issuer, ""),
    };
    Ok(format!(
        "{origin}/.well-known/oauth-authorization-server{path}"
    ))
}

/// The `GET` for the discovery document.
pub fn discovery_request(issuer: &str) -> Result<HttpRequest, AuthError> {
    Ok(HttpRequest {
        method: "GET".to_owned(),
        url: discovery_url(issuer)?,
        headers: vec![("Accept".to_owned(), "application/json".to_owned())],
        body: String::new(),
    })
}

fn check_issuer(issuer: &str) -> Result<(), AuthError> {
    require_secure_endpoint(issuer)?;
    if issuer.contains('?') {
        return Err(AuthError::with_message(
            ErrorCode::InvalidConfig,
            "the issuer must not have a query",
        ));
    }
    Ok(())
}

/// A checked provider configuration. Lists the provider does not advertise are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub registration_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
    pub pushed_authorization_request_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    /// RFC 9207: the authorization response carries `iss`, which the client must then check.
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 9126: authorization requests must go through the PAR endpoint.
    pub require_pushed_authorization_requests: bool,
}

impl ProviderMetadata {
    /// Parses and checks a discovery response against the issuer the client was configured with.
    pub fn parse(
        status: u16,
        body: &[u8],
        expected_issuer: &str,
    ) -> Result<ProviderMetadata, AuthError> {
        check_issuer(expected_issuer)?;
        check_body_size(body)?;
        if status != 200 {
            return Err(AuthError::with_message(
                ErrorCode::InvalidResponse,
                "the discovery request did not succeed",
            ));
        }
        let raw =
            RawMetadata::read(body).ok_or_else(|| AuthError::new(ErrorCode::InvalidResponse))?;
        if raw.issuer.as_deref() != Some(expected_issuer) {
            return Err(AuthError::with_message(
                ErrorCode::InvalidResponse,
                "the discovery document is for another issuer",
            ));
        }
        let metadata = ProviderMetadata::from(raw);
        if !metadata.endpoints().all(is_secure_endpoint) {
            return Err(AuthError::with_message(
                ErrorCode::InvalidResponse,
                "the discovery document lists an insecure endpoint",
            ));
        }
        Ok(metadata)
    }

    /// Whether the provider advertises this PKCE method. A missing list promises nothing
    /// (RFC 8414 §2), so the answer is then `false`.
    pub fn supports_pkce(&self, method: CodeChallengeMethod) -> bool {
        self.code_challenge_methods_supported
            .iter()
            .any(|m| m == method.as_str())
    }

    fn endpoints(&self) -> impl Iterator<Item = &str> {
        [
            &self.authorization_endpoint,
            &self.token_endpoint,
            &self.userinfo_endpoint,
            &self.jwks_uri,
            &self.registration_endpoint,
            &self.introspection_endpoint,
            &self.revocation_endpoint,
            &self.end_session_endpoint,
            &self.pushed_authorization_request_endpoint,
            &self.device_authorization_endpoint,
        ]
        .into_iter()
        .filter_map(|e| e.as_deref())
    }
}

#[derive(Default)]
struct RawMetadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    registration_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    pushed_authorization_request_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
    scopes_supported: Option<Vec<String>>,
    response_types_supported: Option<Vec<String>>,
    response_modes_supported: Option<Vec<String>>,
    grant_types_supported: Option<Vec<String>>,
    subject_types_supported: Option<Vec<String>>,
    code_challenge_methods_supported: Option<Vec<String>>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    id_token_signing_alg_values_supported: Option<Vec<String>>,
    claims_supported: Option<Vec<String>>,
    authorization_response_iss_parameter_supported: Option<bool>,
    require_pushed_authorization_requests: Option<bool>,
}

impl RawMetadata {
    /// The document's members, `None` unless it is an object with an `issuer` and every member
    /// named here has its type.
    fn read(body: &[u8]) -> Option<RawMetadata> {
        let mut r = RawMetadata::default();
        members::read(
            body,
            &mut [
                ("issuer", Slot::Str(&mut r.issuer)),
                (
                    "authorization_endpoint",
                    Slot::Str(&mut r.authorization_endpoint),
                ),
                ("token_endpoint", Slot::Str(&mut r.token_endpoint)),
                ("userinfo_endpoint", Slot::Str(&mut r.userinfo_endpoint)),
                ("jwks_uri", Slot::Str(&mut r.jwks_uri)),
                (
                    "registration_endpoint",
                    Slot::Str(&mut r.registration_endpoint),
                ),
                (
                    "introspection_endpoint",
                    Slot::Str(&mut r.introspection_endpoint),
                ),
                ("revocation_endpoint", Slot::Str(&mut r.revocation_endpoint)),
                (
                    "end_session_endpoint",
                    Slot::Str(&mut r.end_session_endpoint),
                ),
                (
                    "pushed_authorization_request_endpoint",
                    Slot::Str(&mut r.pushed_authorization_request_endpoint),
                ),
                (
                    "device_authorization_endpoint",
                    Slot::Str(&mut r.device_authorization_endpoint),
                ),
                ("scopes_supported", Slot::Strings(&mut r.scopes_supported)),
                (
                    "response_types_supported",
                    Slot::Strings(&mut r.response_types_supported),
                ),
                (
                    "response_modes_supported",
                    Slot::Strings(&mut r.response_modes_supported),
                ),
                (
                    "grant_types_supported",
                    Slot::Strings(&mut r.grant_types_supported),
                ),
                (
                    "subject_types_supported",
                    Slot::Strings(&mut r.subject_types_supported),
                ),
                (
                    "code_challenge_methods_supported",
                    Slot::Strings(&mut r.code_challenge_methods_supported),
                ),
                (
                    "token_endpoint_auth_methods_supported",
                    Slot::Strings(&mut r.token_endpoint_auth_methods_supported),
                ),
                (
                    "id_token_signing_alg_values_supported",
                    Slot::Strings(&mut r.id_token_signing_alg_values_supported),
                ),
                ("claims_supported", Slot::Strings(&mut r.claims_supported)),
                (
                    "authorization_response_iss_parameter_supported",
                    Slot::Bool(&mut r.authorization_response_iss_parameter_supported),
                ),
                (
                    "require_pushed_authorization_requests",
                    Slot::Bool(&mut r.require_pushed_authorization_requests),
                ),
            ],
        )
        .ok()?;
        r.issuer.is_some().then_some(r)
    }
}

impl From<RawMetadata> for ProviderMetadata {
    fn from(r: RawMetadata) -> ProviderMetadata {
        ProviderMetadata {
            issuer: r.issuer.unwrap_or_default(),
            authorization_endpoint: r.authorization_endpoint,
            token_endpoint: r.token_endpoint,
            userinfo_endpoint: r.userinfo_endpoint,
            jwks_uri: r.jwks_uri,
            registration_endpoint: r.registration_endpoint,
            introspection_endpoint: r.introspection_endpoint,
            revocation_endpoint: r.revocation_endpoint,
            end_session_endpoint: r.end_session_endpoint,
            pushed_authorization_request_endpoint: r.pushed_authorization_request_endpoint,
            device_authorization_endpoint: r.device_authorization_endpoint,
            scopes_supported: r.scopes_supported.unwrap_or_default(),
            response_types_supported: r.response_types_supported.unwrap_or_default(),
            response_modes_supported: r.response_modes_supported.unwrap_or_default(),
            grant_types_supported: r.grant_types_supported.unwrap_or_default(),
            subject_types_supported: r.subject_types_supported.unwrap_or_default(),
            code_challenge_methods_supported: r
                .code_challenge_methods_supported
                .unwrap_or_default(),
            token_endpoint_auth_methods_supported: r
                .token_endpoint_auth_methods_supported
                .unwrap_or_default(),
            id_token_signing_alg_values_supported: r
                .id_token_signing_alg_values_supported
                .unwrap_or_default(),
            claims_supported: r.claims_supported.unwrap_or_default(),
            authorization_response_iss_parameter_supported: r
                .authorization_response_iss_parameter_supported
                .unwrap_or(false),
            require_pushed_authorization_requests: r
                .require_pushed_authorization_requests
                .unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::MAX_RESPONSE_BYTES;

    const ISSUER: &str = "https://server.example.com";

    fn doc(issuer: &str) -> String {
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": "https://server.example.com/connect/authorize",
            "token_endpoint": "https://server.example.com/connect/token",
            "userinfo_endpoint": "https://server.example.com/connect/userinfo",
            "jwks_uri": "https://server.example.com/jwks.json",
            "introspection_endpoint": "https://server.example.com/introspect",
            "revocation_endpoint": "https://server.example.com/revoke",
            "end_session_endpoint": "https://server.example.com/logout?client=1",
            "pushed_authorization_request_endpoint": "https://server.example.com/par",
            "scopes_supported": ["openid", "profile", "email"],
            "response_types_supported": ["code", "code id_token"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public", "pairwise"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "authorization_response_iss_parameter_supported": true,
            "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.server.example.com/token"},
            "frontchannel_logout_supported": true
        })
        .to_string()
    }

    #[test]
    fn discovery_urls() {
        for (issuer, url) in [
            (
                "https://server.example.com",
                "https://server.example.com/.well-known/openid-configuration",
            ),
            (
                "https://server.example.com/",
                "https://server.example.com/.well-known/openid-configuration",
            ),
            (
                "https://login.example.com/tenant-1/v2.0",
                "https://login.example.com/tenant-1/v2.0/.well-known/openid-configuration",
            ),
            (
                "https://login.example.com/tenant-1/",
                "https://login.example.com/tenant-1/.well-known/openid-configuration",
            ),
            (
                "http://localhost:8080/realms/dev",
                "http://localhost:8080/realms/dev/.well-known/openid-configuration",
            ),
        ] {
            assert_eq!(discovery_url(issuer).unwrap(), url);
        }
        for (issuer, url) in [
            (
                "https://server.example.com",
                "https://server.example.com/.well-known/oauth-authorization-server",
            ),
            (
                "https://server.example.com/",
                "https://server.example.com/.well-known/oauth-authorization-server",
            ),
            (
                "https://server.example.com/issuer1",
                "https://server.example.com/.well-known/oauth-authorization-server/issuer1",
            ),
            (
                "http://localhost:8080/realms/dev/",
                "http://localhost:8080/.well-known/oauth-authorization-server/realms/dev",
            ),
        ] {
            assert_eq!(authorization_server_metadata_url(issuer).unwrap(), url);
        }
        let req = discovery_request(ISSUER).unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.header("Accept"), Some("application/json"));
        assert!(req.body.is_empty());
    }

    #[test]
    fn bad_issuers_are_config_errors() {
        for issuer in [
            "",
            "http://server.example.com",
            "https://server.example.com?x=1",
            "https://server.example.com#f",
            "server.example.com",
        ] {
            assert_eq!(
                discovery_url(issuer).unwrap_err().code(),
                ErrorCode::InvalidConfig,
                "{issuer}"
            );
            assert_eq!(
                ProviderMetadata::parse(200, doc(issuer).as_bytes(), issuer)
                    .unwrap_err()
                    .code(),
                ErrorCode::InvalidConfig
            );
        }
    }

    #[test]
    fn parses_a_full_document() {
        let m = ProviderMetadata::parse(200, doc(ISSUER).as_bytes(), ISSUER).unwrap();
        assert_eq!(m.issuer, ISSUER);
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("https://server.example.com/connect/token")
        );
        assert_eq!(
            m.end_session_endpoint.as_deref(),
            Some("https://server.example.com/logout?client=1")
        );
        assert_eq!(m.scopes_supported, ["openid", "profile", "email"]);
        assert_eq!(m.response_modes_supported, Vec::<String>::new());
        assert!(m.authorization_response_iss_parameter_supported);
        assert!(!m.require_pushed_authorization_requests);
        assert!(m.supports_pkce(CodeChallengeMethod::S256));
        assert!(!m.supports_pkce(CodeChallengeMethod::Plain));
    }

    #[test]
    fn minimal_document() {
        let m = ProviderMetadata::parse(200, br#"{"issuer":"https://server.example.com"}"#, ISSUER)
            .unwrap();
        assert_eq!(m.token_endpoint, None);
        assert!(!m.supports_pkce(CodeChallengeMethod::S256));
    }

    #[test]
    fn issuer_must_match_exactly() {
        for other in [
            "https://server.example.com/",
            "https://SERVER.example.com",
            "https://server.example.com:443",
            "https://evil.example.com",
            "https://server.example.com.evil.com",
            "",
        ] {
            let err = ProviderMetadata::parse(200, doc(other).as_bytes(), ISSUER).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidResponse, "{other}");
            assert_eq!(
                err.message(),
                "the discovery document is for another issuer"
            );
        }
        // The trailing slash is significant both ways.
        let slash = "https://server.example.com/";
        assert!(ProviderMetadata::parse(200, doc(slash).as_bytes(), slash).is_ok());
    }

    #[test]
    fn insecure_endpoints_are_refused() {
        for (field, value) in [
            ("token_endpoint", "http://server.example.com/token"),
            ("jwks_uri", "http://server.example.com/jwks"),
            (
                "authorization_endpoint",
                "https://user@server.example.com/a",
            ),
            ("revocation_endpoint", "//server.example.com/revoke"),
            ("end_session_endpoint", "javascript:alert(1)"),
            ("introspection_endpoint", "https://server.example.com/i#x"),
        ] {
            let mut v: serde_json::Value = serde_json::from_str(&doc(ISSUER)).unwrap();
            v[field] = serde_json::Value::from(value);
            let err = ProviderMetadata::parse(200, v.to_string().as_bytes(), ISSUER).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidResponse, "{field}");
            assert_eq!(
                err.message(),
                "the discovery document lists an insecure endpoint"
            );
        }
    }

    #[test]
    fn loopback_http_is_fine_for_development() {
        let issuer = "http://127.0.0.1:8080";
        let body = serde_json::json!({
            "issuer": issuer,
            "token_endpoint": "http://127.0.0.1:8080/token",
        })
        .to_string();
        assert!(ProviderMetadata::parse(200, body.as_bytes(), issuer).is_ok());
    }

    #[test]
    fn malformed_documents_are_invalid_responses() {
        for (status, body) in [
            (404, doc(ISSUER)),
            (500, String::new()),
            (200, String::new()),
            (200, "[]".to_owned()),
            (200, "{}".to_owned()),
            (200, r#"{"issuer":null}"#.to_owned()),
            (200, r#"{"issuer":["https://server.example.com"]}"#.to_owned()),
            (200, r#"{"issuer":"https://server.example.com","token_endpoint":7}"#.to_owned()),
            (200, r#"{"issuer":"https://server.example.com","scopes_supported":"openid"}"#.to_owned()),
            (200, r#"{"issuer":"https://server.example.com","scopes_supported":[1]}"#.to_owned()),
            (200, r#"{"issuer":"https://server.example.com","require_pushed_authorization_requests":"true"}"#.to_owned()),
            (200, r#"{"issuer":"https://evil.example","issuer":"https://server.example.com"}"#.to_owned()),
            (200, format!("{} x", doc(ISSUER))),
            (200, "\u{feff}{\"issuer\":\"https://server.example.com\"}".to_owned()),
        ] {
            let err = ProviderMetadata::parse(status, body.as_bytes(), ISSUER).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidResponse, "{status} {body}");
        }
        let huge = format!(
            r#"{{"issuer":"{ISSUER}","claims_supported":["{}"]}}"#,
            "a".repeat(MAX_RESPONSE_BYTES)
        );
        assert!(ProviderMetadata::parse(200, huge.as_bytes(), ISSUER).is_err());
    }

    #[test]
    fn unicode_issuer_is_compared_bytewise() {
        let body =
            serde_json::json!({"issuer": "https://server.example.com/tenant\u{0301}"}).to_string();
        let err =
            ProviderMetadata::parse(200, body.as_bytes(), "https://server.example.com/tenant")
                .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidResponse);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(status in 0u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = ProviderMetadata::parse(status, &body, ISSUER);
        }

        #[test]
        fn arbitrary_endpoints_never_panic(endpoint in ".*") {
            let body = serde_json::json!({"issuer": ISSUER, "token_endpoint": endpoint}).to_string();
            let _ = ProviderMetadata::parse(200, body.as_bytes(), ISSUER);
        }
    }
}
