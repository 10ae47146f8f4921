//! JWT verification: keys + [`Validation`] → [`Verified`] claims or an [`AuthError`].
//!
//! Order of checks: parse (cheap, bounded) → algorithm allowed by the [`Validation`] → key
//! chosen by `kid` and bound to its algorithm family → signature → claims. Nothing in the claims
//! is read before the signature holds.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::error::{AuthError, ErrorCode};
use crate::json;
use crate::jwks::{Jwk, JwkSet};
use crate::signature_check::{Prepared, SignatureCheck};
use crate::token::{Header, Limits, UntrustedToken};

/// What a token must satisfy besides a valid signature (jsonwebtoken's `Validation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Validation {
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

impl Default for Validation {
    fn default() -> Self {
        Validation {
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

/// Verifies tokens against a key set under [`Validation`] settings.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Shared with the [`SignatureCheck`]s in flight, which must see the keys they were given.
    keys: Arc<JwkSet>,
    validation: Validation,
}

/// A token whose signature and claims passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    header: Header,
    claims: Map<String, Value>,
}

impl Verifier {
    pub fn new(keys: JwkSet, validation: Validation) -> Verifier {
        Verifier {
            keys: Arc::new(keys),
            validation,
        }
    }

    pub fn keys(&self) -> &JwkSet {
        &self.keys
    }

    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Checks only the JWS signature and returns the payload (for non-JWT JWS uses and vectors).
    pub fn verify_signature(&self, token: &str) -> Result<(Header, Vec<u8>), AuthError> {
        let untrusted = UntrustedToken::parse(token, &self.validation.limits)?;
        self.check_signature(&untrusted)?;
        Ok((untrusted.header().clone(), untrusted.payload().to_vec()))
    }

    /// Verifies a JWT at time `now` (unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Verified, AuthError> {
        match self.prepare(token, now, |_| false)? {
            Prepared::Verified(verified) => Ok(verified),
            Prepared::Check(check) => self.complete(check, None, now),
        }
    }

    /// Verifies a JWT at `now` as [`Verifier::verify`] does, except that the signature of an
    /// algorithm for which `native` answers true is left to the host ([`SignatureCheck`]); HMAC
    /// always stays in the core.
    pub fn prepare(
        &self,
        token: &str,
        now: u64,
        native: impl Fn(Algorithm) -> bool,
    ) -> Result<Prepared, AuthError> {
        let untrusted = UntrustedToken::parse(token, &self.validation.limits)?;
        let alg = untrusted.header().alg;
        if alg.hmac_hash().is_some() || !native(alg) {
            self.check_signature(&untrusted)?;
            return self
                .accept(untrusted.header().clone(), untrusted.payload(), now)
                .map(Prepared::Verified);
        }
        let all = self.keys.keys();
        let candidates: Vec<usize> = self
            .candidates(&untrusted)?
            .into_iter()
            .filter(|k| alg.signature_len(k.key()) == untrusted.signature().len())
            .filter_map(|k| all.iter().position(|j| std::ptr::eq(j, k)))
            .collect();
        if candidates.is_empty() {
            return Err(AuthError::new(ErrorCode::InvalidSignature));
        }
        Ok(Prepared::Check(SignatureCheck {
            alg,
            keys: Arc::clone(&self.keys),
            candidates,
            input: untrusted.signing_input().as_bytes().to_vec(),
            signature: untrusted.signature().to_vec(),
            header: untrusted.header().clone(),
            payload: untrusted.payload().to_vec(),
        }))
    }

    /// Finishes a [`Verifier::prepare`] with the host's verdict on its signature (`None`: the
    /// host could not verify it natively, so the core does). A check prepared with another key
    /// set (this verifier's keys were replaced meanwhile, or another verifier prepared it) is
    /// not taken on trust: the core verifies the token again with this verifier's keys.
    pub fn complete(
        &self,
        check: SignatureCheck,
        verdict: Option<bool>,
        now: u64,
    ) -> Result<Verified, AuthError> {
        if !Arc::ptr_eq(&check.keys, &self.keys) {
            return self.verify(&check.token()?, now);
        }
        if !verdict.unwrap_or_else(|| check.verify_in_core()) {
            return Err(AuthError::new(ErrorCode::InvalidSignature));
        }
        self.accept(check.header, &check.payload, now)
    }

    /// The keys the token may be verified with: its algorithm allowed by the policy, then chosen
    /// by `kid` and bound to the algorithm.
    fn candidates<'k>(&'k self, t: &UntrustedToken<'_>) -> Result<Vec<&'k Jwk>, AuthError> {
        let alg = t.header().alg;
        if !self.validation.algorithms.is_empty() && !self.validation.algorithms.contains(&alg) {
            return Err(AuthError::with_message(
                ErrorCode::UnsupportedAlgorithm,
                "the token algorithm is not allowed by the policy",
            ));
        }
        self.keys.candidates(t.header().kid.as_deref(), alg)
    }

    fn check_signature(&self, t: &UntrustedToken<'_>) -> Result<(), AuthError> {
        let alg = t.header().alg;
        let input = t.signing_input().as_bytes();
        if self
            .candidates(t)?
            .iter()
            .any(|k| alg.verify(k.key(), input, t.signature()))
        {
            Ok(())
        } else {
            Err(AuthError::new(ErrorCode::InvalidSignature))
        }
    }

    /// The claims of a token whose signature holds, read and checked at `now`.
    fn accept(&self, header: Header, payload: &[u8], now: u64) -> Result<Verified, AuthError> {
        let claims =
            json::parse_object(payload, self.validation.limits.json).map_err(|reason| {
                if reason.is_limit() {
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
        let verified = Verified { header, claims };
        self.check_claims(&verified, now)?;
        Ok(verified)
    }

    fn check_claims(&self, v: &Verified, now: u64) -> Result<(), AuthError> {
        let p = &self.validation;
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
        // RFC 7519 §4.1.3: a StringOrURI or an array of them — every element, so that a
        // non-string element beside an accepted audience does not pass either.
        let audiences: Option<Vec<&str>> = match v.claims.get("aud") {
            None => Some(Vec::new()),
            Some(Value::String(a)) => Some(vec![a.as_str()]),
            Some(Value::Array(list)) => list.iter().map(Value::as_str).collect(),
            Some(_) => None,
        };
        let Some(audiences) = audiences else {
            return Err(AuthError::with_message(
                ErrorCode::InvalidAudience,
                "aud is not a string or an array of strings",
            ));
        };
        if !p.audiences.is_empty() && !audiences.iter().any(|a| p.audiences.iter().any(|x| x == a))
        {
            return Err(AuthError::new(ErrorCode::InvalidAudience));
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
pub(crate) fn media_type_eq(a: &str, b: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::Jwk;
    use crate::sign::SigningKey;
    use base64ct::{Base64UrlUnpadded, Encoding};
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn setup(alg: Algorithm, validation: Validation) -> (SigningKey, Verifier) {
        let key = SigningKey::generate(alg, Some("k1".into())).unwrap();
        let set = JwkSet::from_keys(vec![key.verifying_jwk().unwrap()]).unwrap();
        (key, Verifier::new(set, validation))
    }

    fn base() -> Value {
        json!({"sub":"user_123","iss":"https://issuer.test","aud":"api","iat":NOW - 10,"exp":NOW + 3600,"scope":"read:data write:data"})
    }

    fn code(v: &Verifier, t: &str, now: u64) -> ErrorCode {
        v.verify(t, now).unwrap_err().code()
    }

    #[test]
    fn every_algorithm_round_trips_and_detects_tampering() {
        for alg in Algorithm::ALL {
            let (key, v) = setup(alg, Validation::default());
            let t = key.mint(&claims(base()), Some("JWT"), &Map::new()).unwrap();
            let ok = v.verify(&t, NOW).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(ok.sub(), Some("user_123"));
            assert_eq!(ok.header().alg, alg);
            let (head, _) = t.rsplit_once('.').unwrap();
            let forged = claims(json!({"sub":"admin","exp":NOW + 3600}));
            let body =
                Base64UrlUnpadded::encode_string(Value::Object(forged).to_string().as_bytes());
            let (h, _) = head.split_once('.').unwrap();
            let tampered = format!("{h}.{body}.{}", t.rsplit_once('.').unwrap().1);
            assert_eq!(
                code(&v, &tampered, NOW),
                ErrorCode::InvalidSignature,
                "{alg}"
            );
        }
    }

    #[test]
    fn the_token_cannot_choose_the_algorithm() {
        // An RS256 key set; a token claiming HS256 with the public key bytes as the secret.
        let (rsa, v) = setup(Algorithm::RS256, Validation::default());
        let n = rsa.public_jwk()["n"].as_str().unwrap().to_owned();
        let confused =
            SigningKey::from_jwk(&json!({"kty":"oct","alg":"HS256","kid":"k1","k":n})).unwrap();
        let t = confused.mint(&claims(base()), None, &Map::new()).unwrap();
        assert_eq!(code(&v, &t, NOW), ErrorCode::UnsupportedAlgorithm);
        // Same key family, algorithm outside the allowed list.
        let (key, _) = setup(Algorithm::RS256, Validation::default());
        let set = JwkSet::from_keys(vec![Jwk::from_value(&{
            let mut j = key.public_jwk();
            j.as_object_mut().unwrap().remove("alg");
            j
        })
        .unwrap()])
        .unwrap();
        let strict = Verifier::new(
            set,
            Validation {
                algorithms: vec![Algorithm::PS256],
                ..Validation::default()
            },
        );
        let t = key.mint(&claims(base()), None, &Map::new()).unwrap();
        assert_eq!(code(&strict, &t, NOW), ErrorCode::UnsupportedAlgorithm);
    }

    #[test]
    fn time_claims_with_leeway() {
        let (key, v) = setup(Algorithm::ES256, Validation::default());
        let mint = |c: Value| key.mint(&claims(c), None, &Map::new()).unwrap();
        let t = mint(json!({"exp": NOW}));
        assert!(v.verify(&t, NOW + 59).is_ok());
        assert_eq!(code(&v, &t, NOW + 60), ErrorCode::ExpiredToken);
        let t = mint(json!({"exp": NOW + 999, "nbf": NOW + 61}));
        assert_eq!(code(&v, &t, NOW), ErrorCode::TokenNotYetValid);
        assert!(v.verify(&t, NOW + 1).is_ok());
        let t = mint(json!({"exp": NOW + 999, "iat": NOW + 3600}));
        assert_eq!(code(&v, &t, NOW), ErrorCode::TokenNotYetValid);
        assert_eq!(
            code(&v, &mint(json!({"sub":"x"})), NOW),
            ErrorCode::InvalidClaim
        );
        assert_eq!(
            code(&v, &mint(json!({"exp": "1900000000"})), NOW),
            ErrorCode::InvalidClaim
        );
        assert_eq!(
            code(&v, &mint(json!({"exp": -1})), NOW),
            ErrorCode::InvalidClaim
        );
        assert!(v.verify(&mint(json!({"exp": 1e300})), NOW).is_ok());
        assert!(v
            .verify(&mint(json!({"exp": (NOW + 10) as f64 + 0.5})), NOW)
            .is_ok());
        let lax = Verifier::new(
            v.keys().clone(),
            Validation {
                require_exp: false,
                leeway: 0,
                ..Validation::default()
            },
        );
        assert!(lax.verify(&mint(json!({"sub":"x"})), NOW).is_ok());
        assert_eq!(
            code(&lax, &mint(json!({"exp": NOW})), NOW),
            ErrorCode::ExpiredToken
        );
    }

    #[test]
    fn issuer_audience_type_and_required_claims() {
        let validation = Validation {
            issuers: vec!["https://a.test".into(), "https://issuer.test".into()],
            audiences: vec!["other".into(), "api".into()],
            typ: Some("at+jwt".into()),
            required_claims: vec!["sub".into(), "scope".into()],
            ..Validation::default()
        };
        let (key, v) = setup(Algorithm::EdDSA, validation);
        let mint = |c: Value, typ: &str| key.mint(&claims(c), Some(typ), &Map::new()).unwrap();
        let good = mint(base(), "at+jwt");
        let ok = v.verify(&good, NOW).unwrap();
        assert_eq!(ok.scopes(), vec!["read:data", "write:data"]);
        assert!(v.verify(&mint(base(), "application/AT+JWT"), NOW).is_ok());
        assert_eq!(
            code(&v, &mint(base(), "JWT"), NOW),
            ErrorCode::InvalidTokenType
        );
        let mut c = base();
        c["aud"] = json!(["x", "api"]);
        assert!(v.verify(&mint(c.clone(), "at+jwt"), NOW).is_ok());
        c["aud"] = json!(["x", "y"]);
        assert_eq!(
            code(&v, &mint(c.clone(), "at+jwt"), NOW),
            ErrorCode::InvalidAudience
        );
        c["aud"] = json!(7);
        assert_eq!(
            code(&v, &mint(c.clone(), "at+jwt"), NOW),
            ErrorCode::InvalidAudience
        );
        // Regression: a non-string element beside the accepted audience passed.
        for bad in [
            json!(["api", 7]),
            json!(["api", null]),
            json!(["api", ["x"]]),
        ] {
            c["aud"] = bad;
            assert_eq!(
                code(&v, &mint(c.clone(), "at+jwt"), NOW),
                ErrorCode::InvalidAudience
            );
        }
        // Malformed even where no audience is required.
        let any = Verifier::new(v.keys().clone(), Validation::default());
        assert_eq!(
            code(&any, &mint(c, "at+jwt"), NOW),
            ErrorCode::InvalidAudience
        );
        let mut c = base();
        c["iss"] = json!("https://evil.test");
        assert_eq!(
            code(&v, &mint(c.clone(), "at+jwt"), NOW),
            ErrorCode::InvalidIssuer
        );
        c.as_object_mut().unwrap().remove("iss");
        assert_eq!(code(&v, &mint(c, "at+jwt"), NOW), ErrorCode::InvalidIssuer);
        let mut c = base();
        c.as_object_mut().unwrap().remove("scope");
        assert_eq!(code(&v, &mint(c, "at+jwt"), NOW), ErrorCode::InvalidClaim);
    }

    #[test]
    fn lifetime_and_age_limits() {
        let validation = Validation {
            max_lifetime: Some(3600),
            max_age: Some(7200),
            ..Validation::default()
        };
        let (key, v) = setup(Algorithm::HS256, validation);
        let mint = |c: Value| key.mint(&claims(c), None, &Map::new()).unwrap();
        assert!(v
            .verify(&mint(json!({"iat": NOW, "exp": NOW + 3600})), NOW)
            .is_ok());
        assert_eq!(
            code(&v, &mint(json!({"iat": NOW, "exp": NOW + 3601})), NOW),
            ErrorCode::TokenTooOld
        );
        assert_eq!(
            code(&v, &mint(json!({"exp": NOW + 60})), NOW),
            ErrorCode::InvalidClaim
        );
        let old = mint(json!({"iat": NOW - 8000, "exp": NOW + 100}));
        assert!(matches!(code(&v, &old, NOW), ErrorCode::TokenTooOld));
    }

    #[test]
    fn scopes_from_every_claim_shape() {
        let (key, v) = setup(
            Algorithm::HS256,
            Validation {
                require_exp: false,
                ..Validation::default()
            },
        );
        let mint = |c: Value| key.mint(&claims(c), None, &Map::new()).unwrap();
        let s = v
            .verify(
                &mint(json!({"scp":["a","b"],"permissions":["b","c"],"scope":"  d  a "})),
                NOW,
            )
            .unwrap();
        assert_eq!(s.scopes(), vec!["d", "a", "b", "c"]);
    }

    #[test]
    fn claim_json_limits() {
        let (key, v) = setup(
            Algorithm::HS256,
            Validation {
                require_exp: false,
                ..Validation::default()
            },
        );
        let wide: Map<String, Value> = (0..100).map(|i| (format!("c{i}"), json!(i))).collect();
        assert_eq!(
            code(&v, &key.mint(&wide, None, &Map::new()).unwrap(), NOW),
            ErrorCode::TokenTooLarge
        );
        let t = key.mint(&claims(base()), None, &Map::new()).unwrap();
        let (hp, _) = t.rsplit_once('.').unwrap();
        let (h, _) = hp.split_once('.').unwrap();
        let dup = Base64UrlUnpadded::encode_string(br#"{"sub":"a","sub":"admin"}"#);
        let input = format!("{h}.{dup}");
        let sig = Base64UrlUnpadded::encode_string(&key.sign_bytes(input.as_bytes()).unwrap());
        assert_eq!(
            code(&v, &format!("{input}.{sig}"), NOW),
            ErrorCode::MalformedToken
        );
    }

    #[test]
    fn kid_less_tokens_try_compatible_keys_only() {
        let a = SigningKey::generate(Algorithm::ES256, None).unwrap();
        let b = SigningKey::generate(Algorithm::ES256, None).unwrap();
        let r = SigningKey::generate(Algorithm::RS256, None).unwrap();
        let set = JwkSet::from_keys(vec![
            a.verifying_jwk().unwrap(),
            b.verifying_jwk().unwrap(),
            r.verifying_jwk().unwrap(),
        ])
        .unwrap();
        let v = Verifier::new(set, Validation::default());
        let t = b.mint(&claims(base()), None, &Map::new()).unwrap();
        assert!(v.verify(&t, NOW).is_ok());
        let stranger = SigningKey::generate(Algorithm::ES256, None).unwrap();
        let t = stranger.mint(&claims(base()), None, &Map::new()).unwrap();
        assert_eq!(code(&v, &t, NOW), ErrorCode::InvalidSignature);
        let e = SigningKey::generate(Algorithm::EdDSA, None).unwrap();
        let t = e.mint(&claims(base()), None, &Map::new()).unwrap();
        assert_eq!(code(&v, &t, NOW), ErrorCode::UnsupportedAlgorithm);
    }

    #[test]
    fn private_jwk_round_trips() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg, Some("x".into())).unwrap();
            let again = SigningKey::from_jwk(&key.private_jwk()).unwrap();
            let t = again.mint(&claims(base()), None, &Map::new()).unwrap();
            let v = Verifier::new(
                JwkSet::from_keys(vec![key.verifying_jwk().unwrap()]).unwrap(),
                Validation::default(),
            );
            assert!(v.verify(&t, NOW).is_ok(), "{alg}");
        }
    }

    #[test]
    fn a_private_jwk_whose_kty_or_crv_is_not_its_algs_is_refused() {
        for alg in Algorithm::ALL {
            let jwk = SigningKey::generate(alg, None).unwrap().private_jwk();
            for (member, wrong) in [
                ("kty", json!("EC")),
                ("kty", json!("oct")),
                ("crv", json!("P-384")),
            ] {
                let mut bad = jwk.clone();
                if member == "crv" && bad.get("crv").is_none() {
                    continue;
                }
                if bad.get(member) == Some(&wrong) {
                    continue;
                }
                bad[member] = wrong.clone();
                let e = SigningKey::from_jwk(&bad).expect_err("refused");
                assert_eq!(
                    e.code(),
                    ErrorCode::InvalidKey,
                    "{alg} with {member} {wrong}"
                );
            }
            let mut no_kty = jwk.clone();
            no_kty.as_object_mut().unwrap().remove("kty");
            assert!(SigningKey::from_jwk(&no_kty).is_err(), "{alg} without kty");
        }
    }
}
