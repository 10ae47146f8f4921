//! A list of revoked tokens, for tokens that are valid by signature and expiry but must no longer
//! pass: long-lived JWT "API keys" a customer deleted, or every token of a subject issued before
//! an incident; and API keys by id, for key stores too large to poll (a looked-up key's cached
//! record would otherwise live on until its TTL). Checked after verification, on every request
//! (also for a cached token or key), so a revocation is in force as soon as the list that
//! carries it is loaded.
//!
//! ```json
//! {"version": 1,
//!  "jti": ["8f14e45f-ceea-467f-a0e6-…"],
//!  "subjects": [{"sub": "user_42", "issued_before": 1767225600, "iss": "https://auth.example"}],
//!  "api_keys": ["key_Lm4zQ8v2Xc9pT1rB"]}
//! ```

use std::collections::HashSet;

use serde::Deserialize;

use crate::error::{AuthError, ErrorCode};

/// Longest `jti` or `sub` kept; a longer one is a malformed list.
const MAX_ID: usize = 512;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedTokens {
    jti: HashSet<String>,
    subjects: Vec<SubjectCutoff>,
    api_keys: HashSet<String>,
}

/// Every token of `sub` (of `iss`, when given) issued before `issued_before` is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectCutoff {
    pub sub: String,
    /// Unix seconds; a token without `iat` counts as issued before any cut-off.
    pub issued_before: u64,
    #[serde(default)]
    pub iss: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    #[serde(default)]
    jti: Vec<String>,
    #[serde(default)]
    subjects: Vec<SubjectCutoff>,
    #[serde(default)]
    api_keys: Vec<String>,
}

/// What a token says about itself that a revocation can name.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenFacts<'a> {
    pub iss: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub jti: Option<&'a str>,
    pub iat: Option<u64>,
}

impl RevokedTokens {
    pub fn from_json(text: &str) -> Result<RevokedTokens, AuthError> {
        let invalid = |m: &'static str| AuthError::with_message(ErrorCode::InvalidConfig, m);
        let doc: Document = serde_json::from_str(text).map_err(|_| {
            invalid("revoked tokens: not the expected JSON (version, jti, subjects, api_keys)")
        })?;
        if doc.version != 1 {
            return Err(invalid("revoked tokens: version must be 1"));
        }
        let too_long = |s: &str| s.is_empty() || s.len() > MAX_ID;
        if doc.jti.iter().any(|j| too_long(j))
            || doc.subjects.iter().any(|s| too_long(&s.sub))
            || doc.api_keys.iter().any(|k| too_long(k))
        {
            return Err(invalid(
                "revoked tokens: an empty or over-long jti, sub or API key id",
            ));
        }
        Ok(RevokedTokens {
            jti: doc.jti.into_iter().collect(),
            subjects: doc.subjects,
            api_keys: doc.api_keys.into_iter().collect(),
        })
    }

    /// `revoked_api_key` when the list names this key id.
    pub fn check_api_key(&self, id: &str) -> Result<(), AuthError> {
        if self.api_keys.contains(id) {
            return Err(AuthError::new(ErrorCode::RevokedApiKey));
        }
        Ok(())
    }

    /// `revoked_token` when the list names this token.
    pub fn check(&self, token: TokenFacts<'_>) -> Result<(), AuthError> {
        let by_jti = token.jti.is_some_and(|j| self.jti.contains(j));
        let by_subject = token.sub.is_some_and(|sub| {
            self.subjects.iter().any(|c| {
                c.sub == sub
                    && c.iss.as_deref().is_none_or(|iss| token.iss == Some(iss))
                    && token.iat.is_none_or(|iat| iat < c.issued_before)
            })
        });
        if by_jti || by_subject {
            return Err(AuthError::new(ErrorCode::RevokedToken));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_revoked_by_jti_or_by_subject_before_a_cutoff() {
        let list = RevokedTokens::from_json(
            r#"{"version": 1, "jti": ["t-1"],
                "subjects": [{"sub": "u-1", "issued_before": 1000},
                             {"sub": "u-2", "issued_before": 1000, "iss": "https://a"}]}"#,
        )
        .unwrap();
        let token = |iss, sub, jti, iat| TokenFacts { iss, sub, jti, iat };
        let revoked = |t| list.check(t).map_err(|e| e.code());
        assert_eq!(
            revoked(token(None, Some("x"), Some("t-1"), Some(5))),
            Err(ErrorCode::RevokedToken)
        );
        assert_eq!(
            revoked(token(None, Some("x"), Some("t-2"), Some(5))),
            Ok(())
        );
        assert_eq!(
            revoked(token(None, Some("u-1"), None, Some(999))),
            Err(ErrorCode::RevokedToken)
        );
        assert_eq!(
            revoked(token(None, Some("u-1"), None, Some(1000))),
            Ok(()),
            "issued after the cut-off"
        );
        assert_eq!(
            revoked(token(None, Some("u-1"), None, None)),
            Err(ErrorCode::RevokedToken),
            "no iat: before"
        );
        assert_eq!(
            revoked(token(Some("https://b"), Some("u-2"), None, Some(1))),
            Ok(()),
            "another issuer"
        );
        assert_eq!(
            revoked(token(Some("https://a"), Some("u-2"), None, Some(1))),
            Err(ErrorCode::RevokedToken)
        );
    }

    #[test]
    fn api_keys_are_revoked_by_id() {
        let list = RevokedTokens::from_json(r#"{"version": 1, "api_keys": ["key_a"]}"#).unwrap();
        assert_eq!(
            list.check_api_key("key_a").map_err(|e| e.code()),
            Err(ErrorCode::RevokedApiKey)
        );
        assert_eq!(list.check_api_key("key_b").map_err(|e| e.code()), Ok(()));
        let jti_only = TokenFacts {
            jti: Some("key_a"),
            ..TokenFacts::default()
        };
        assert_eq!(
            list.check(jti_only).map_err(|e| e.code()),
            Ok(()),
            "ids are not jtis"
        );
    }

    #[test]
    fn malformed_lists_are_refused() {
        for bad in [
            "",
            "{}",
            r#"{"version": 2}"#,
            r#"{"version": 1, "jti": [""]}"#,
            r#"{"version": 1, "subjects": [{"sub": "u"}]}"#,
            r#"{"version": 1, "extra": true}"#,
            r#"{"version": 1, "api_keys": [""]}"#,
        ] {
            assert!(RevokedTokens::from_json(bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"version": 1, "jti": ["{}"]}}"#, "j".repeat(MAX_ID + 1));
        assert!(RevokedTokens::from_json(&long).is_err());
    }
}
