//! JWT verification: keys + [`Policy`] → [`Verified`] claims or an [`AuthError`].
//!
//! Order of checks: parse (cheap, bounded) → algorithm allowed by policy → key chosen by `kid`
//! and bound to its algorithm family → signature → claims. Nothing in the claims is read before
//! the signature holds.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::error::{AuthError, ErrorCode};
use crate::json;
use crate::jwks::JwkSet;
use crate::token::{Header, Limits, UntrustedToken};

/// What a token must satisfy besides a valid signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Algorithms accepted. Empty means "whatever the key allows": the key's family (and its JWK
    /// `alg`, when set) still binds the algorithm, so the token never chooses it.
    pub algorithms: Vec<Algorithm>,
    /// Accepted issuers; when non-empty `iss` is required and must be one of them.
    pub issuers: Vec<String>,
    /// Accepted audiences; when non-empty `aud` is required and must contain one of them.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// Refuse tokens without `exp` (default true).
    pub require_exp: bool,
    /// Longest accepted lifetime `exp - iat`, in seconds (requires `iat`).
    pub max_lifetime: Option<u64>,
    /// Oldest accepted token `now - iat`, in seconds (requires `iat`).
    pub max_age: Option<u64>,
    /// Expected `typ` header, compared per RFC 7515 §4.1.9 (case-insensitive, `application/`
    /// optional), e.g. `at+jwt` for RFC 9068 access tokens.
    pub typ: Option<String>,
    /// Claims that must be present (any value but null).
    pub required_claims: Vec<String>,
    /// Size and shape limits for the token.
    #[serde(skip)]
    pub limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            algorithms: Vec::new(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: 60,
            require_exp: true,
            max_lifetime: None,
            max_age: None,
            typ: None,
            required_claims: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Verifies tokens against a key set under a policy.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: JwkSet,
    policy: Policy,
}

/// A token whose signature and claims passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    header: Header,
    claims: Map<String, Value>,
}

impl Verifier {
    pub fn new(keys: JwkSet, policy: Policy) -> Verifier {
        Verifier { keys, policy }
    }

    pub fn keys(&self) -> &JwkSet {
        &self.keys
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks only the JWS signature and returns the payload (for non-JWT JWS uses and vectors).
    pub fn verify_signature(&self, token: &str) -> Result<(Header, Vec<u8>), AuthError> {
        let untrusted = UntrustedToken::parse(token, &self.policy.limits)?;
        self.check_signature(&untrusted)?;
        Ok((untrusted.header().clone(), untrusted.payload().to_vec()))
    }

    /// Verifies a JWT at time `now` (unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Verified, AuthError> {
        let untrusted = UntrustedToken::parse(token, &self.policy.limits)?;
        self.check_signature(&untrusted)?;
        let claims =
            json::parse_object(untrusted.payload(), self.policy.limits.json).map_err(|reason| {
                if reason.starts_with("too many") || reason.ends_with("too deeply") {
                    AuthError::with_message(
                        ErrorCode::TokenTooLarge,
                        "the claims exceed the JSON limits",
                    )
                } else {
                    AuthError::with_message(
                        ErrorCode::MalformedToken,
                        "the claims are not a valid JSON object",
                    )
                }
            })?;
        let verified = Verified {
            header: untrusted.header().clone(),
            claims,
        };
        self.check_claims(&verified, now)?;
        Ok(verified)
    }

    fn check_signature(&self, t: &UntrustedToken<'_>) -> Result<(), AuthError> {
        let alg = t.header().alg;
        if !self.policy.algorithms.is_empty() && !self.policy.algorithms.contains(&alg) {
            return Err(AuthError::with_message(
                ErrorCode::UnsupportedAlgorithm,
                "the token algorithm is not allowed by the policy",
            ));
        }
        let candidates = self.keys.candidates(t.header().kid.as_deref(), alg)?;
        let input = t.signing_input().as_bytes();
        if candidates
            .iter()
            .any(|k| alg.verify(k.key(), input, t.signature()))
        {
            Ok(())
        } else {
            Err(AuthError::new(ErrorCode::InvalidSignature))
        }
    }

    fn check_claims(&self, v: &Verified, now: u64) -> Result<(), AuthError> {
        let p = &self.policy;
        let exp = v.numeric_date("exp")?;
        let nbf = v.numeric_date("nbf")?;
        let iat = v.numeric_date("iat")?;
        match exp {
            Some(exp) if now >= exp.saturating_add(p.leeway) => {
                return Err(AuthError::new(ErrorCode::ExpiredToken))
            }
            None if p.require_exp => {
                return Err(AuthError::with_message(
                    ErrorCode::InvalidClaim,
                    "the token has no exp",
                ))
            }
            _ => {}
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(p.leeway)) {
            return Err(AuthError::new(ErrorCode::TokenNotYetValid));
        }
        if iat.is_some_and(|iat| iat > now.saturating_add(p.leeway)) {
            return Err(AuthError::with_message(
                ErrorCode::TokenNotYetValid,
                "the token was issued in the future",
            ));
        }
        if p.max_lifetime.is_some() || p.max_age.is_some() {
            let iat = iat.ok_or_else(|| {
                AuthError::with_message(ErrorCode::InvalidClaim, "the token has no iat")
            })?;
            if let (Some(max), Some(exp)) = (p.max_lifetime, exp) {
                if exp.saturating_sub(iat) > max {
                    return Err(AuthError::with_message(
                        ErrorCode::TokenTooOld,
                        "the token lifetime exceeds the maximum",
                    ));
                }
            }
            if p.max_lifetime.is_some() && exp.is_none() {
                return Err(AuthError::with_message(
                    ErrorCode::InvalidClaim,
                    "the token has no exp",
                ));
            }
            if p.max_age
                .is_some_and(|max| now.saturating_sub(iat) > max.saturating_add(p.leeway))
            {
                return Err(AuthError::new(ErrorCode::TokenTooOld));
            }
        }
        if !p.issuers.is_empty() {
            match v.claims.get("iss") {
                Some(Value::String(iss)) if p.issuers.iter().any(|i| i == iss) => {}
                _ => return Err(AuthError::new(ErrorCode::InvalidIssuer)),
            }
        }
        if !p.audiences.is_empty() {
            let ok = match v.claims.get("aud") {
                Some(Value::String(a)) => p.audiences.contains(a),
                Some(Value::Array(list)) => list.iter().any(|a| {
                    a.as_str()
                        .is_some_and(|a| p.audiences.iter().any(|x| x == a))
                }),
                _ => false,
            };
            if !ok {
                return Err(AuthError::new(ErrorCode::InvalidAudience));
            }
        }
        if let Some(want) = &p.typ {
            if !v
                .header
                .typ
                .as_deref()
                .is_some_and(|t| media_type_eq(t, want))
            {
                return Err(AuthError::new(ErrorCode::InvalidTokenType));
            }
        }
        for name in &p.required_claims {
            if v.claims.get(name).is_none_or(Value::is_null) {
                return Err(AuthError::with_message(
                    ErrorCode::InvalidClaim,
                    "a required claim is missing",
                ));
            }
        }
        Ok(())
    }
}

/// RFC 7515 §4.1.9: media types compare case-insensitively and `application/` may be omitted.
fn media_type_eq(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().to_ascii_lowercase();
        s.strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(s)
    }
    norm(a) == norm(b)
}

impl Verified {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// All claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn sub(&self) -> Option<&str> {
        self.str_claim("sub")
    }

    pub fn iss(&self) -> Option<&str> {
        self.str_claim("iss")
    }

    pub fn jti(&self) -> Option<&str> {
        self.str_claim("jti")
    }

    /// `exp` as unix seconds (already validated as a number).
    pub fn exp(&self) -> Option<u64> {
        self.numeric_date("exp").ok().flatten()
    }

    /// Audiences, whether `aud` is a string or an array.
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Granted scopes from `scope` (space-separated, RFC 8693/9068), `scp` (array or string) or
    /// `permissions` (array), merged without duplicates.
    pub fn scopes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for name in ["scope", "scp", "permissions"] {
            match self.claims.get(name) {
                Some(Value::String(s)) => out.extend(s.split_ascii_whitespace()),
                Some(Value::Array(a)) => out.extend(a.iter().filter_map(Value::as_str)),
                _ => {}
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|s| !s.is_empty() && seen.insert(*s));
        out
    }

    /// A NumericDate claim (RFC 7519 §2): must be a JSON number; fractions are truncated,
    /// negatives refused, huge values saturate.
    fn numeric_date(&self, name: &str) -> Result<Option<u64>, AuthError> {
        match self.claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                if let Some(u) = n.as_u64() {
                    Ok(Some(u))
                } else {
                    match n.as_f64() {
                        Some(f) if f.is_finite() && f >= 0.0 => Ok(Some(if f >= u64::MAX as f64 {
                            u64::MAX
                        } else {
                            f as u64
                        })),
                        _ => Err(AuthError::with_message(
                            ErrorCode::InvalidClaim,
                            "a date claim is not a valid NumericDate",
                        )),
                    }
                }
            }
            Some(_) => Err(AuthError::with_message(
                ErrorCode::InvalidClaim,
                "a date claim must be a JSON number",
            )),
        }
    }
}
