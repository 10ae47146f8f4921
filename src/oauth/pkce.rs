//! Proof Key for Code Exchange (RFC 7636): binds an authorization code to the client instance
//! that started the flow, so an intercepted code is useless.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};

use crate::error::{AuthError, ErrorCode};
use crate::random;

/// Shortest `code_verifier` RFC 7636 §4.1 allows.
pub const MIN_VERIFIER_LEN: usize = 43;
/// Longest `code_verifier` RFC 7636 §4.1 allows.
pub const MAX_VERIFIER_LEN: usize = 128;
/// Default length: 64 characters carry about 384 bits of entropy.
pub const DEFAULT_VERIFIER_LEN: usize = 64;

const UNRESERVED: &[u8; 66] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// A `code_verifier`: kept by the client, sent only to the token endpoint. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// A fresh verifier of [`DEFAULT_VERIFIER_LEN`] characters from the CSPRNG.
    pub fn generate() -> Result<CodeVerifier, AuthError> {
        CodeVerifier::generate_with_len(DEFAULT_VERIFIER_LEN)
    }

    /// A fresh verifier of `len` characters, drawn uniformly from the unreserved set.
    pub fn generate_with_len(len: usize) -> Result<CodeVerifier, AuthError> {
        if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&len) {
            return Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "a code_verifier must be 43 to 128 characters long",
            ));
        }
        let mut out = String::with_capacity(len);
        let mut pool = [0u8; 64];
        // About 49 characters survive per round; 16 rounds failing means a broken generator.
        for _ in 0..16 {
            if out.len() == len {
                break;
            }
            random::fill(&mut pool)?;
            // Rejection sampling: 198 = 3 * 66, so every accepted byte maps uniformly.
            for b in pool.iter().filter(|b| **b < 198) {
                if out.len() == len {
                    break;
                }
                if let Some(c) = UNRESERVED.get(usize::from(*b) % UNRESERVED.len()) {
                    out.push(char::from(*c));
                }
            }
        }
        if out.len() != len {
            return Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "the system random generator returned implausible output",
            ));
        }
        Ok(CodeVerifier(out))
    }

    /// Accepts a verifier received or stored elsewhere, checking length and characters.
    pub fn parse(verifier: &str) -> Result<CodeVerifier, AuthError> {
        let len_ok = (MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&verifier.len());
        if !len_ok || !verifier.bytes().all(|b| UNRESERVED.contains(&b)) {
            return Err(AuthError::with_message(
                ErrorCode::InvalidRequest,
                "the code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        Ok(CodeVerifier(verifier.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

/// `code_challenge_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeChallengeMethod {
    S256,
    /// The verifier itself; only for clients that cannot compute SHA-256 (RFC 7636 §4.2).
    Plain,
}

impl CodeChallengeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeChallengeMethod::S256 => "S256",
            CodeChallengeMethod::Plain => "plain",
        }
    }
}

/// The `code_challenge` sent in the authorization request, with its method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    value: String,
    method: CodeChallengeMethod,
}

impl CodeChallenge {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))`.
    pub fn s256(verifier: &CodeVerifier) -> CodeChallenge {
        CodeChallenge {
            value: Base64UrlUnpadded::encode_string(&Sha256::digest(verifier.as_str())),
            method: CodeChallengeMethod::S256,
        }
    }

    /// The challenge for `method`. `plain` exposes the verifier in the front channel, so it is
    /// refused unless `allow_plain` says the deployment explicitly needs it.
    pub fn new(
        verifier: &CodeVerifier,
        method: CodeChallengeMethod,
        allow_plain: bool,
    ) -> Result<CodeChallenge, AuthError> {
        match method {
            CodeChallengeMethod::S256 => Ok(CodeChallenge::s256(verifier)),
            CodeChallengeMethod::Plain if allow_plain => Ok(CodeChallenge {
                value: verifier.as_str().to_owned(),
                method,
            }),
            CodeChallengeMethod::Plain => Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "the plain code_challenge_method is not enabled",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn method(&self) -> CodeChallengeMethod {
        self.method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7636_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC7636_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        let v = CodeVerifier::parse(RFC7636_VERIFIER).unwrap();
        let c = CodeChallenge::s256(&v);
        assert_eq!(c.as_str(), RFC7636_CHALLENGE);
        assert_eq!(c.method().as_str(), "S256");
        let same = CodeChallenge::new(&v, CodeChallengeMethod::S256, false).unwrap();
        assert_eq!(same, c);
    }

    #[test]
    fn generated_verifiers_have_the_right_shape() {
        let v = CodeVerifier::generate().unwrap();
        assert_eq!(v.as_str().len(), DEFAULT_VERIFIER_LEN);
        assert!(CodeVerifier::parse(v.as_str()).is_ok());
        for len in [MIN_VERIFIER_LEN, 100, MAX_VERIFIER_LEN] {
            let v = CodeVerifier::generate_with_len(len).unwrap();
            assert_eq!(v.as_str().len(), len);
            assert!(v.as_str().bytes().all(|b| UNRESERVED.contains(&b)));
        }
        assert_ne!(CodeVerifier::generate().unwrap(), v);
    }

    #[test]
    fn generation_covers_the_whole_alphabet() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            seen.extend(CodeVerifier::generate_with_len(128).unwrap().0.into_bytes());
        }
        assert_eq!(seen.len(), UNRESERVED.len());
    }

    #[test]
    fn generation_refuses_lengths_outside_the_rfc_range() {
        for len in [0, 42, 129, usize::MAX] {
            let err = CodeVerifier::generate_with_len(len).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig);
        }
    }

    #[test]
    fn parse_checks_length_and_charset() {
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"~".repeat(128)).is_ok());
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", "a".repeat(42)),
            format!("{}=", "a".repeat(42)),
            format!("{} ", "a".repeat(42)),
            format!("{}é", "a".repeat(41)),
            String::new(),
        ] {
            let err = CodeVerifier::parse(&bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidRequest, "{bad:?}");
        }
    }

    #[test]
    fn plain_needs_the_flag() {
        let v = CodeVerifier::parse(RFC7636_VERIFIER).unwrap();
        let err = CodeChallenge::new(&v, CodeChallengeMethod::Plain, false).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        let plain = CodeChallenge::new(&v, CodeChallengeMethod::Plain, true).unwrap();
        assert_eq!(plain.as_str(), RFC7636_VERIFIER);
        assert_eq!(plain.method().as_str(), "plain");
    }

    #[test]
    fn debug_redacts_the_verifier() {
        let v = CodeVerifier::parse(RFC7636_VERIFIER).unwrap();
        assert!(!format!("{v:?}").contains(RFC7636_VERIFIER));
    }
}
