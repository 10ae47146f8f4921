//! The error catalogue: a platform's own words for each refusal — the code string, the message
//! and the body shape its guide documents — so a team that adopts the gateway keeps the answers
//! its customers were promised. Entries are chosen by stable code first, then by status
//! (`"401"`), then `"*"`; the stable code stays in audit lines and metrics whatever the client
//! sees, and `WWW-Authenticate` stays RFC 6750.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{AuthError, BodyParts, ErrorCode, ErrorStyle};

/// One refusal as a platform words it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorEntry {
    /// The code clients see (default: the stable code, e.g. `invalid_api_key`).
    #[serde(default)]
    pub code: Option<String>,
    /// The message; placeholders: `{retry_after}` (seconds, as in `Retry-After`), `{permission}`
    /// (the missing permissions of `insufficient_scope`), `{realm}`, `{status}`, `{error}` (the
    /// stable code). A placeholder without a value is left empty.
    #[serde(default)]
    pub message: Option<String>,
    /// `type` in the `typed` body (default: from the status, `authentication_error`, …).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// This entry's body shape (default: `error_style`).
    #[serde(default)]
    pub style: Option<ErrorStyle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selector {
    Code(ErrorCode),
    Status(u16),
    Any,
}

/// The configured entries, checked once at load.
#[derive(Debug, Clone, Default)]
pub struct ErrorCatalogue {
    entries: Vec<(Selector, ErrorEntry)>,
}

const PLACEHOLDERS: [&str; 5] = ["retry_after", "permission", "realm", "status", "error"];
/// Longest code or message a catalogue may hold: an answer is not a document.
const MAX_TEXT: usize = 512;

impl ErrorCatalogue {
    /// Checks every key and entry; the error names the key (`errors.invalid_api_key`) and the
    /// problem.
    pub fn new(config: &BTreeMap<String, ErrorEntry>) -> Result<ErrorCatalogue, AuthError> {
        let invalid = |key: &str, problem: &str| {
            AuthError::with_message(ErrorCode::InvalidConfig, format!("errors.{key}: {problem}"))
        };
        let mut entries = Vec::new();
        for (key, entry) in config {
            let selector = if key == "*" {
                Selector::Any
            } else if let Some(code) = ErrorCode::from_str_code(key) {
                Selector::Code(code)
            } else if let Some(status) = key.parse::<u16>().ok().filter(|s| (400..600).contains(s))
            {
                Selector::Status(status)
            } else {
                // Only code- or status-shaped keys reach a message: any other may be a secret
                // typed in the wrong place, and must not be written to a log.
                let code_shaped = key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                let status_shaped = key.bytes().all(|b| b.is_ascii_digit());
                let shown = if key.len() <= 64 && (code_shaped || status_shaped) {
                    key.as_str()
                } else {
                    "(key)"
                };
                return Err(invalid(
                    shown,
                    "not a stable error code, an HTTP status (400–599) or \"*\"",
                ));
            };
            for (field, text) in [
                ("code", &entry.code),
                ("message", &entry.message),
                ("type", &entry.kind),
            ] {
                let Some(text) = text else { continue };
                if text.len() > MAX_TEXT || text.chars().any(char::is_control) {
                    return Err(invalid(
                        key,
                        &format!("{field}: at most {MAX_TEXT} bytes, no control characters"),
                    ));
                }
                if field != "message" && text.contains('{') {
                    return Err(invalid(
                        key,
                        &format!("{field}: placeholders are for the message only"),
                    ));
                }
            }
            if let Some(message) = &entry.message {
                for name in placeholders(message) {
                    if !PLACEHOLDERS.contains(&name) {
                        return Err(invalid(
                            key,
                            "message: unknown placeholder (known: {retry_after}, {permission}, {realm}, {status}, {error})",
                        ));
                    }
                }
            }
            entries.push((selector, entry.clone()));
        }
        Ok(ErrorCatalogue { entries })
    }

    /// The entry for `error`: by its code, else its status, else `"*"`.
    fn entry(&self, error: &AuthError) -> Option<&ErrorEntry> {
        let find = |want: Selector| {
            self.entries
                .iter()
                .find(|(s, _)| *s == want)
                .map(|(_, e)| e)
        };
        find(Selector::Code(error.code()))
            .or_else(|| find(Selector::Status(error.status())))
            .or_else(|| find(Selector::Any))
    }

    /// The refusal's body in the platform's words.
    pub fn body(&self, error: &AuthError, style: ErrorStyle, realm: &str) -> String {
        let Some(entry) = self.entry(error) else {
            return error.body(style);
        };
        let message = entry.message.as_deref().map(|m| {
            let value = |name: &str| -> String {
                match name {
                    "retry_after" => error
                        .retry_after()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    "permission" => error.scope().unwrap_or_default().to_owned(),
                    "realm" => realm.to_owned(),
                    "status" => error.status().to_string(),
                    _ => error.code().as_str().to_owned(),
                }
            };
            fill(m, value)
        });
        error.body_with(
            entry.style.unwrap_or(style),
            &BodyParts {
                code: entry.code.as_deref(),
                message: message.as_deref(),
                kind: entry.kind.as_deref(),
            },
        )
    }
}

/// The names inside `{…}` in `text`.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// `text` with each known `{name}` replaced by `value(name)`.
fn fill(text: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match rest[start + 1..].split_once('}') {
            Some((name, after)) if PLACEHOLDERS.contains(&name) => {
                out.push_str(&value(name));
                rest = after;
            }
            _ => {
                out.push('{');
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn catalogue(v: Value) -> Result<ErrorCatalogue, AuthError> {
        ErrorCatalogue::new(&serde_json::from_value(v).unwrap())
    }

    fn body(c: &ErrorCatalogue, e: &AuthError, style: ErrorStyle) -> Value {
        serde_json::from_str(&c.body(e, style, "api")).unwrap()
    }

    #[test]
    fn entries_by_code_then_status_then_any() {
        let c = catalogue(json!({
            "invalid_api_key": {"code": "INVALID_API_KEY", "message": "The provided API key is invalid or has been revoked"},
            "rate_limited": {"code": "RATE_LIMITED", "message": "Rate limit exceeded. Retry after {retry_after} seconds"},
            "403": {"code": "FORBIDDEN", "message": "Insufficient permissions for this resource"},
            "*": {"code": "UNAUTHORIZED", "message": "Invalid or missing authentication"}
        }))
        .unwrap();
        assert_eq!(
            body(
                &c,
                &AuthError::new(ErrorCode::InvalidApiKey),
                ErrorStyle::Simple
            ),
            json!({"error": {"code": "INVALID_API_KEY", "message": "The provided API key is invalid or has been revoked"}})
        );
        let limited = AuthError::new(ErrorCode::RateLimited).with_retry_after(3600);
        assert_eq!(
            body(&c, &limited, ErrorStyle::Simple)["error"]["message"],
            json!("Rate limit exceeded. Retry after 3600 seconds")
        );
        let scope = AuthError::new(ErrorCode::InsufficientScope).with_scope("read:x");
        assert_eq!(
            body(&c, &scope, ErrorStyle::Simple)["error"]["code"],
            json!("FORBIDDEN")
        );
        assert_eq!(
            body(
                &c,
                &AuthError::new(ErrorCode::ExpiredToken),
                ErrorStyle::Simple
            )["error"]["code"],
            json!("UNAUTHORIZED")
        );
        // No entry: the core's own words.
        let plain = ErrorCatalogue::default();
        let e = AuthError::new(ErrorCode::ExpiredToken);
        assert_eq!(
            plain.body(&e, ErrorStyle::Typed, "api"),
            e.body(ErrorStyle::Typed)
        );
    }

    #[test]
    fn entries_keep_or_choose_the_body_shape() {
        let c = catalogue(json!({
            "401": {"code": "invalid_token", "message": "The provided token is expired or invalid."},
            "invalid_api_key": {"message": "The API key provided is invalid", "style": "typed"},
            "insufficient_scope": {"message": "missing {permission} ({error}, {status}, {realm}) {unknown"}
        }))
        .unwrap();
        assert_eq!(
            body(
                &c,
                &AuthError::new(ErrorCode::ExpiredToken),
                ErrorStyle::ErrorList
            ),
            json!({"type": "client_error", "errors": [{"code": "invalid_token", "detail": "The provided token is expired or invalid.", "attr": null, "extra": null}]})
        );
        assert_eq!(
            body(
                &c,
                &AuthError::new(ErrorCode::InvalidApiKey),
                ErrorStyle::Simple
            ),
            json!({"error": {"type": "authentication_error", "code": "invalid_api_key", "message": "The API key provided is invalid"}})
        );
        let scope = AuthError::new(ErrorCode::InsufficientScope).with_scope("read:x");
        assert_eq!(
            body(&c, &scope, ErrorStyle::Simple)["error"]["message"],
            json!("missing read:x (insufficient_scope, 403, api) {unknown")
        );
    }

    #[test]
    fn bad_entries_are_refused_at_load_naming_the_key() {
        for (v, want) in [
            (
                json!({"invalid_key_x": {}}),
                "errors.invalid_key_x: not a stable error code",
            ),
            (json!({"600": {}}), "errors.600: not a stable"),
            // A key that is neither code- nor status-shaped may be a secret: not quoted.
            (json!({"Zx8k2JqP9sLm": {}}), "errors.(key): not a stable"),
            (
                json!({"rate_limited": {"message": "in {seconds} s"}}),
                "errors.rate_limited: message: unknown placeholder",
            ),
            (
                json!({"401": {"code": "{status}"}}),
                "errors.401: code: placeholders are for the message only",
            ),
            (
                json!({"401": {"message": "a\nb"}}),
                "errors.401: message: at most",
            ),
        ] {
            let e = catalogue(v).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidConfig);
            assert!(e.message().starts_with(want), "{}", e.message());
        }
        assert!(serde_json::from_value::<BTreeMap<String, ErrorEntry>>(
            json!({"401": {"cod": "x"}})
        )
        .is_err());
    }
}
