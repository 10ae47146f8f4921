//! One error type for every refusal, with a stable machine code.
//!
//! Hosts map an [`AuthError`] to an HTTP status, an RFC 6750 `WWW-Authenticate` value and a JSON
//! body in one of the styles API platforms document. Messages are fixed strings chosen by the
//! core: they never echo a credential, a token or any other input.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::oauth::OAuthErrorResponse;

/// Stable error codes. The string form (`as_str`) is part of the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No credential was presented.
    MissingCredentials,
    /// The request is malformed (bad header syntax, two credentials, ...).
    InvalidRequest,
    /// The token is not a well-formed compact JWS / JWT.
    MalformedToken,
    /// The token exceeds a configured size or shape limit.
    TokenTooLarge,
    /// The signature does not verify.
    InvalidSignature,
    /// The token's `alg` is not allowed for the key or policy.
    UnsupportedAlgorithm,
    /// No key matches the token's `kid` (or it is ambiguous).
    UnknownKey,
    /// `exp` has passed.
    ExpiredToken,
    /// `nbf` (or `iat`) lies in the future.
    TokenNotYetValid,
    /// The token is older or longer-lived than the policy allows.
    TokenTooOld,
    /// `iss` is missing or not accepted.
    InvalidIssuer,
    /// `aud` is missing or not accepted.
    InvalidAudience,
    /// The `typ` header is not the expected one.
    InvalidTokenType,
    /// A required claim is missing or has the wrong type/value.
    InvalidClaim,
    /// The credential is not a valid API key (format, checksum or unknown).
    InvalidApiKey,
    /// The API key was revoked.
    RevokedApiKey,
    /// The API key has expired.
    ExpiredApiKey,
    /// The API key belongs to another environment (e.g. `sk_test_` in live).
    WrongEnvironment,
    /// The client address is not on the key's allow-list.
    IpNotAllowed,
    /// The credential lacks a permission the route requires.
    InsufficientScope,
    /// An explicit deny or a role rule forbids the request.
    AccessDenied,
    /// Too many requests.
    RateLimited,
    /// No verification keys are available (JWKS/key store never loaded).
    KeysUnavailable,
    /// A key or key set could not be loaded (bad JWK/PEM, weak key).
    InvalidKey,
    /// The token was rejected by an introspection endpoint (`active: false`).
    InactiveToken,
    /// The token (its `jti`, or its subject before a cut-off) is on the revocation list.
    RevokedToken,
    /// A webhook signature is missing, malformed or wrong.
    InvalidWebhookSignature,
    /// A webhook timestamp is outside the tolerance window.
    WebhookTimestampOutOfTolerance,
    /// The OAuth `state` returned does not match the one sent.
    StateMismatch,
    /// The authorization server answered with an RFC 6749 §5.2 / §4.1.2.1 error.
    OauthError,
    /// The authorization server's response could not be understood.
    InvalidResponse,
    /// The session cannot continue: the refresh token was rejected or expired.
    SessionExpired,
    /// A username and password sign-in was refused (wrong password, unknown user, locked).
    InvalidCredentials,
    /// Configuration is invalid.
    InvalidConfig,
    /// A token was asked to carry a scope or dataset beyond what its issuer is granted.
    GrantExceeded,
}

impl ErrorCode {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 35] = [
        ErrorCode::MissingCredentials,
        ErrorCode::InvalidRequest,
        ErrorCode::MalformedToken,
        ErrorCode::TokenTooLarge,
        ErrorCode::InvalidSignature,
        ErrorCode::UnsupportedAlgorithm,
        ErrorCode::UnknownKey,
        ErrorCode::ExpiredToken,
        ErrorCode::TokenNotYetValid,
        ErrorCode::TokenTooOld,
        ErrorCode::InvalidIssuer,
        ErrorCode::InvalidAudience,
        ErrorCode::InvalidTokenType,
        ErrorCode::InvalidClaim,
        ErrorCode::InvalidApiKey,
        ErrorCode::RevokedApiKey,
        ErrorCode::ExpiredApiKey,
        ErrorCode::WrongEnvironment,
        ErrorCode::IpNotAllowed,
        ErrorCode::InsufficientScope,
        ErrorCode::AccessDenied,
        ErrorCode::RateLimited,
        ErrorCode::KeysUnavailable,
        ErrorCode::InvalidKey,
        ErrorCode::InactiveToken,
        ErrorCode::RevokedToken,
        ErrorCode::InvalidWebhookSignature,
        ErrorCode::WebhookTimestampOutOfTolerance,
        ErrorCode::StateMismatch,
        ErrorCode::OauthError,
        ErrorCode::InvalidResponse,
        ErrorCode::SessionExpired,
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidConfig,
        ErrorCode::GrantExceeded,
    ];

    /// The stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingCredentials => "missing_credentials",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::MalformedToken => "malformed_token",
            ErrorCode::TokenTooLarge => "token_too_large",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::UnsupportedAlgorithm => "unsupported_algorithm",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::TokenNotYetValid => "token_not_yet_valid",
            ErrorCode::TokenTooOld => "token_too_old",
            ErrorCode::InvalidIssuer => "invalid_issuer",
            ErrorCode::InvalidAudience => "invalid_audience",
            ErrorCode::InvalidTokenType => "invalid_token_type",
            ErrorCode::InvalidClaim => "invalid_claim",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::RevokedApiKey => "revoked_api_key",
            ErrorCode::ExpiredApiKey => "expired_api_key",
            ErrorCode::WrongEnvironment => "wrong_environment",
            ErrorCode::IpNotAllowed => "ip_not_allowed",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::KeysUnavailable => "keys_unavailable",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::InactiveToken => "inactive_token",
            ErrorCode::RevokedToken => "revoked_token",
            ErrorCode::InvalidWebhookSignature => "invalid_webhook_signature",
            ErrorCode::WebhookTimestampOutOfTolerance => "webhook_timestamp_out_of_tolerance",
            ErrorCode::StateMismatch => "state_mismatch",
            ErrorCode::OauthError => "oauth_error",
            ErrorCode::InvalidResponse => "invalid_response",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::GrantExceeded => "grant_exceeded",
        }
    }

    /// Parses the stable string form.
    pub fn from_str_code(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The HTTP status a server answers with.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidRequest
            | StateMismatch
            | OauthError
            | InvalidWebhookSignature
            | WebhookTimestampOutOfTolerance => 400,
            MissingCredentials | MalformedToken | TokenTooLarge | InvalidSignature
            | UnsupportedAlgorithm | UnknownKey | ExpiredToken | TokenNotYetValid | TokenTooOld
            | InvalidIssuer | InvalidAudience | InvalidTokenType | InvalidClaim | InvalidApiKey
            | RevokedApiKey | ExpiredApiKey | WrongEnvironment | InactiveToken | RevokedToken
            | SessionExpired | InvalidCredentials => 401,
            IpNotAllowed | InsufficientScope | AccessDenied | GrantExceeded => 403,
            RateLimited => 429,
            InvalidResponse => 502,
            KeysUnavailable | InvalidKey | InvalidConfig => 503,
        }
    }

    /// The RFC 6750 §3.1 error code for an answer with `status`, if any.
    fn bearer_error(self, status: u16) -> Option<&'static str> {
        match status {
            400 => Some("invalid_request"),
            401 if self == ErrorCode::MissingCredentials => None,
            401 => Some("invalid_token"),
            403 if self == ErrorCode::InsufficientScope => Some("insufficient_scope"),
            _ => None,
        }
    }

    /// A fixed, human-readable message. Never contains request data.
    pub fn default_message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            MissingCredentials => "No credentials were provided",
            InvalidRequest => "The request is malformed",
            MalformedToken => "The token is malformed",
            TokenTooLarge => "The token exceeds the size limits",
            InvalidSignature => "The token signature is invalid",
            UnsupportedAlgorithm => "The token algorithm is not allowed",
            UnknownKey => "No verification key matches the token",
            ExpiredToken => "The token has expired",
            TokenNotYetValid => "The token is not valid yet",
            TokenTooOld => "The token is older than the allowed maximum",
            InvalidIssuer => "The token issuer is not accepted",
            InvalidAudience => "The token audience is not accepted",
            InvalidTokenType => "The token type is not accepted",
            InvalidClaim => "A required claim is missing or invalid",
            InvalidApiKey => "The provided API key is invalid",
            RevokedApiKey => "The provided API key has been revoked",
            ExpiredApiKey => "The provided API key has expired",
            WrongEnvironment => "The API key belongs to another environment",
            IpNotAllowed => "Requests from this address are not allowed for this credential",
            InsufficientScope => "The credential lacks a required permission",
            AccessDenied => "Access to this resource is denied",
            RateLimited => "Rate limit exceeded",
            KeysUnavailable => "Verification keys are unavailable",
            InvalidKey => "The key is invalid or too weak",
            InactiveToken => "The token is not active",
            RevokedToken => "The token has been revoked",
            InvalidWebhookSignature => "The webhook signature is invalid",
            WebhookTimestampOutOfTolerance => "The webhook timestamp is outside the tolerance",
            StateMismatch => "The state parameter does not match",
            OauthError => "The authorization server returned an error",
            InvalidResponse => "The authorization server response is invalid",
            SessionExpired => "The session has expired; sign in again",
            InvalidCredentials => "The username or password was refused",
            InvalidConfig => "The configuration is invalid",
            GrantExceeded => "The requested scopes or datasets exceed the grant",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body style of an error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStyle {
    /// `{"error":{"code","message"}}`
    #[default]
    Simple,
    /// `{"type":"client_error","errors":[{"code","detail","attr","extra"}]}`
    ErrorList,
    /// `{"error":{"type","code","message"}}`
    Typed,
}

/// A refusal: a stable code plus a message safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    code: ErrorCode,
    message: Cow<'static, str>,
    scope: Option<String>,
    retry_after: Option<u64>,
    oauth_error: Option<Box<OAuthErrorResponse>>,
    status: Option<u16>,
}

impl AuthError {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        AuthError {
            code,
            message: Cow::Borrowed(code.default_message()),
            scope: None,
            retry_after: None,
            oauth_error: None,
            status: None,
        }
    }

    /// An error with a specific message. The message must not contain secrets or raw input.
    pub fn with_message(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        AuthError {
            message: message.into(),
            ..AuthError::new(code)
        }
    }

    /// Names the scope(s) that were missing (for `insufficient_scope`).
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Seconds after which a retry may succeed (for `rate_limited`).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Attaches the authorization server's own error, kept apart from the fixed message so that
    /// provider text never reaches a header or body unless the host chooses to show it.
    pub fn with_oauth_error(mut self, error: OAuthErrorResponse) -> Self {
        self.oauth_error = Some(Box::new(error));
        self
    }

    /// Answers with another status than the code's own; for deployments that want a key outage
    /// (`keys_unavailable`) to look like any other 401 instead of a 503.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The authorization server's RFC 6749 error, for `oauth_error` refusals.
    pub fn oauth_error(&self) -> Option<&OAuthErrorResponse> {
        self.oauth_error.as_deref()
    }

    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.status())
    }

    /// The RFC 6750 `WWW-Authenticate` value for 401 and 403 answers; `None` otherwise.
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        let status = self.status();
        if status != 401 && status != 403 {
            return None;
        }
        let mut value = format!("Bearer realm=\"{}\"", quote_safe(realm));
        if let Some(err) = self.code.bearer_error(status) {
            value.push_str(&format!(
                ", error=\"{err}\", error_description=\"{}\"",
                quote_safe(&self.message)
            ));
        }
        if let Some(scope) = &self.scope {
            value.push_str(&format!(", scope=\"{}\"", quote_safe(scope)));
        }
        Some(value)
    }

    /// The JSON error body in the requested style.
    pub fn body(&self, style: ErrorStyle) -> String {
        self.body_with(style, &BodyParts::default())
    }

    /// The body in `style` with a platform's own code, message or `type` where `parts` has one
    /// (the gateway's error catalogue).
    pub fn body_with(&self, style: ErrorStyle, parts: &BodyParts<'_>) -> String {
        let code = parts.code.unwrap_or(self.code.as_str());
        let message = parts.message.unwrap_or(&self.message);
        let value = match style {
            ErrorStyle::Simple => serde_json::json!({
                "error": { "code": code, "message": message }
            }),
            ErrorStyle::ErrorList => serde_json::json!({
                "type": if self.status() >= 500 { "server_error" } else { "client_error" },
                "errors": [{
                    "code": code,
                    "detail": message,
                    "attr": null,
                    "extra": self.scope.as_ref().map(|s| serde_json::json!({ "scope": s })),
                }]
            }),
            ErrorStyle::Typed => serde_json::json!({
                "error": { "type": parts.kind.unwrap_or(self.error_type()), "code": code, "message": message }
            }),
        };
        value.to_string()
    }

    fn error_type(&self) -> &'static str {
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            400 => "invalid_request_error",
            _ => "api_error",
        }
    }
}

/// What a platform says instead of the core's words (each `None` keeps the core's).
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyParts<'a> {
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
    /// `type` of the `typed` style.
    pub kind: Option<&'a str>,
}

/// RFC 7230 quoted-string content: drop `"` and `\` and control characters.
fn quote_safe(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AuthError {}

impl From<ErrorCode> for AuthError {
    fn from(code: ErrorCode) -> Self {
        AuthError::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_str_code(c.as_str()), Some(c));
            seen.insert(c.as_str());
            let status = c.status();
            assert!([400, 401, 403, 429, 502, 503].contains(&status), "{c}");
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len());
        assert_eq!(seen.len(), 35);
    }

    #[test]
    fn issue_codes_exist_with_expected_statuses() {
        for (s, status) in [
            ("missing_credentials", 401),
            ("malformed_token", 401),
            ("invalid_signature", 401),
            ("unsupported_algorithm", 401),
            ("unknown_key", 401),
            ("expired_token", 401),
            ("token_not_yet_valid", 401),
            ("invalid_issuer", 401),
            ("invalid_audience", 401),
            ("invalid_api_key", 401),
            ("revoked_api_key", 401),
            ("expired_api_key", 401),
            ("wrong_environment", 401),
            ("ip_not_allowed", 403),
            ("insufficient_scope", 403),
            ("rate_limited", 429),
            ("keys_unavailable", 503),
        ] {
            let code = ErrorCode::from_str_code(s).expect(s);
            assert_eq!(code.status(), status, "{s}");
        }
    }

    #[test]
    fn www_authenticate_follows_rfc6750() {
        let missing = AuthError::new(ErrorCode::MissingCredentials);
        assert_eq!(
            missing.www_authenticate("api").unwrap(),
            "Bearer realm=\"api\""
        );
        let expired = AuthError::new(ErrorCode::ExpiredToken);
        assert_eq!(
            expired.www_authenticate("api").unwrap(),
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The token has expired\""
        );
        let scope = AuthError::new(ErrorCode::InsufficientScope).with_scope("read:datasets.sales");
        assert!(scope
            .www_authenticate("api")
            .unwrap()
            .ends_with("error=\"insufficient_scope\", error_description=\"The credential lacks a required permission\", scope=\"read:datasets.sales\""));
        assert_eq!(
            AuthError::new(ErrorCode::RateLimited).www_authenticate("api"),
            None
        );
    }

    #[test]
    fn header_values_cannot_be_broken_by_quotes() {
        let e = AuthError::with_message(ErrorCode::InvalidClaim, "bad \"x\"\r\n");
        let v = e.www_authenticate("r\"ealm").unwrap();
        assert!(!v.contains('\r') && !v.contains('\n'));
        assert_eq!(v.matches('"').count() % 2, 0);
    }

    #[test]
    fn bodies_in_three_styles() {
        let e = AuthError::new(ErrorCode::InvalidApiKey);
        let simple: serde_json::Value = serde_json::from_str(&e.body(ErrorStyle::Simple)).unwrap();
        assert_eq!(simple["error"]["code"], "invalid_api_key");
        assert_eq!(
            simple["error"]["message"],
            "The provided API key is invalid"
        );
        let list: serde_json::Value = serde_json::from_str(&e.body(ErrorStyle::ErrorList)).unwrap();
        assert_eq!(list["type"], "client_error");
        assert_eq!(list["errors"][0]["code"], "invalid_api_key");
        assert!(list["errors"][0]["attr"].is_null());
        let typed: serde_json::Value = serde_json::from_str(&e.body(ErrorStyle::Typed)).unwrap();
        assert_eq!(typed["error"]["type"], "authentication_error");
        assert_eq!(typed["error"]["code"], "invalid_api_key");
    }
}
