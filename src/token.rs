//! Compact JWS parsing (RFC 7515 §7.1) of untrusted input.
//!
//! Strict at every step: a size cap before any work, exactly three parts, canonical unpadded
//! base64url (no padding, no `+`/`/`, no whitespace, no stray bits), a header that is a JSON
//! object within depth and member limits with no duplicate names, an `alg` that is a known
//! algorithm (never `none`), and no `crit` extension we do not implement (we implement none).

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::error::{AuthError, ErrorCode};
use crate::json::{self, JsonLimits};

/// Size and shape limits for untrusted tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest token accepted, in bytes (default 16 KiB).
    pub max_token_bytes: usize,
    /// JSON limits for the header and the claims.
    pub json: JsonLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_token_bytes: 16 * 1024,
            json: JsonLimits::default(),
        }
    }
}

/// The JOSE header fields that matter to verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The algorithm the token claims. Only ever checked against what the key allows.
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub cty: Option<String>,
    /// Whether the header carried key-locating parameters (`jku`, `jwk`, `x5u`, `x5c`). They are
    /// never used to find keys; the flag exists so hosts can log or refuse such tokens.
    pub has_embedded_key_reference: bool,
}

/// A syntactically valid compact JWS whose signature has not been checked yet. `Debug` shows
/// the header and the part lengths only: signing input and signature together are the token.
#[derive(Clone)]
pub struct UntrustedToken<'a> {
    signing_input: &'a str,
    header: Header,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn malformed(msg: &'static str) -> AuthError {
    AuthError::with_message(ErrorCode::MalformedToken, msg)
}

impl<'a> UntrustedToken<'a> {
    /// Parses `token` within `limits`.
    pub fn parse(token: &'a str, limits: &Limits) -> Result<UntrustedToken<'a>, AuthError> {
        if token.len() > limits.max_token_bytes {
            return Err(AuthError::new(ErrorCode::TokenTooLarge));
        }
        if token.is_empty() {
            return Err(malformed("the token is empty"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(
                "a JWS must have exactly three dot-separated parts",
            ));
        };
        if h.is_empty() {
            return Err(malformed("the header is empty"));
        }
        let header_bytes =
            decode(h).map_err(|_| malformed("the header is not canonical base64url"))?;
        let payload = decode(p).map_err(|_| malformed("the payload is not canonical base64url"))?;
        let signature =
            decode(s).map_err(|_| malformed("the signature is not canonical base64url"))?;
        let header_json = json::parse_object(&header_bytes, limits.json).map_err(|reason| {
            if reason.is_limit() {
                AuthError::with_message(
                    ErrorCode::TokenTooLarge,
                    "the header exceeds the JSON limits",
                )
            } else {
                malformed("the header is not a valid JSON object")
            }
        })?;
        let header = Header::from_json(&header_json)?;
        if s.is_empty() {
            return Err(AuthError::with_message(
                ErrorCode::InvalidSignature,
                "the signature is missing",
            ));
        }
        let signing_input = &token[..h.len() + 1 + p.len()];
        Ok(UntrustedToken {
            signing_input,
            header,
            payload,
            signature,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes the signature covers.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// The decoded payload. Untrusted until the signature is verified.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

impl std::fmt::Debug for UntrustedToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UntrustedToken")
            .field("header", &self.header)
            .field("signing_input_len", &self.signing_input.len())
            .field("payload_len", &self.payload.len())
            .field("signature_len", &self.signature.len())
            .finish()
    }
}

fn decode(part: &str) -> Result<Vec<u8>, base64ct::Error> {
    Base64UrlUnpadded::decode_vec(part)
}

impl Header {
    fn from_json(h: &Map<String, Value>) -> Result<Header, AuthError> {
        let alg = match h.get("alg") {
            Some(Value::String(a)) => Algorithm::from_name(a)?,
            Some(_) => return Err(malformed("alg must be a string")),
            None => return Err(malformed("the header has no alg")),
        };
        if let Some(crit) = h.get("crit") {
            // We implement no extension, so any well-formed crit list names one we don't
            // understand (RFC 7515 §4.1.11): refuse.
            let ok_shape = crit
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
            return Err(malformed(if ok_shape {
                "the token requires an unsupported critical extension"
            } else {
                "crit must be a non-empty array of names"
            }));
        }
        if h.get("b64").is_some() {
            return Err(malformed("unencoded payloads (b64) are not supported"));
        }
        let opt_str = |name: &str| -> Result<Option<String>, AuthError> {
            match h.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(malformed("a header parameter has the wrong type")),
            }
        };
        Ok(Header {
            alg,
            kid: opt_str("kid")?,
            typ: opt_str("typ")?,
            cty: opt_str("cty")?,
            has_embedded_key_reference: ["jku", "jwk", "x5u", "x5c"]
                .iter()
                .any(|k| h.contains_key(*k)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    fn tok(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", enc(header), enc(payload), enc("sig"))
    }

    fn code(t: &str) -> ErrorCode {
        UntrustedToken::parse(t, &Limits::default())
            .unwrap_err()
            .code()
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = tok(
            r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#,
            r#"{"sub":"a"}"#,
        );
        let u = UntrustedToken::parse(&t, &Limits::default()).unwrap();
        assert_eq!(u.header().alg, Algorithm::RS256);
        assert_eq!(u.header().kid.as_deref(), Some("k1"));
        assert_eq!(u.payload(), br#"{"sub":"a"}"#);
        assert_eq!(u.signature(), b"sig");
        assert_eq!(u.signing_input(), t.rsplit_once('.').unwrap().0);
    }

    #[test]
    fn refuses_bad_shapes() {
        assert_eq!(code(""), ErrorCode::MalformedToken);
        assert_eq!(code("a.b"), ErrorCode::MalformedToken);
        assert_eq!(code("a.b.c.d"), ErrorCode::MalformedToken);
        assert_eq!(code(".e30.c2ln"), ErrorCode::MalformedToken);
        let good = tok(r#"{"alg":"HS256"}"#, "{}");
        assert_eq!(code(&format!("{good}=")), ErrorCode::MalformedToken);
        assert_eq!(
            code(&good.replacen('.', " .", 1)),
            ErrorCode::MalformedToken
        );
        assert_eq!(code(&format!("{}+", good)), ErrorCode::MalformedToken);
        let (hp, _) = good.rsplit_once('.').unwrap();
        assert_eq!(code(&format!("{hp}.")), ErrorCode::InvalidSignature);
    }

    #[test]
    fn refuses_dangerous_headers() {
        for (h, want) in [
            (r#"{"alg":"none"}"#, ErrorCode::UnsupportedAlgorithm),
            (r#"{"alg":"NoNe"}"#, ErrorCode::UnsupportedAlgorithm),
            (r#"{"alg":"HS1"}"#, ErrorCode::UnsupportedAlgorithm),
            (r#"{"alg":7}"#, ErrorCode::MalformedToken),
            (r#"{"typ":"JWT"}"#, ErrorCode::MalformedToken),
            (
                r#"{"alg":"RS256","crit":["exp"],"exp":1}"#,
                ErrorCode::MalformedToken,
            ),
            (r#"{"alg":"RS256","crit":[]}"#, ErrorCode::MalformedToken),
            (r#"{"alg":"RS256","b64":false}"#, ErrorCode::MalformedToken),
            (
                r#"{"alg":"RS256","alg":"HS256"}"#,
                ErrorCode::MalformedToken,
            ),
            (r#"{"alg":"RS256","kid":5}"#, ErrorCode::MalformedToken),
            (r#"["alg"]"#, ErrorCode::MalformedToken),
        ] {
            assert_eq!(code(&tok(h, "{}")), want, "{h}");
        }
    }

    #[test]
    fn debug_does_not_reveal_the_token() {
        let t = tok(r#"{"alg":"HS256","kid":"k1"}"#, r#"{"sub":"a"}"#);
        let u = UntrustedToken::parse(&t, &Limits::default()).unwrap();
        let shown = format!("{u:?}");
        let (h, rest) = t.split_once('.').unwrap();
        let (p, _) = rest.split_once('.').unwrap();
        assert!(!shown.contains(h) && !shown.contains(p), "{shown}");
        // The signature bytes b"sig" = [115, 105, 103] must not be listed either.
        assert!(!shown.contains("115, 105, 103"), "{shown}");
        assert!(shown.contains("HS256") && shown.contains("signature_len: 3"));
    }

    #[test]
    fn embedded_keys_are_flagged_not_used() {
        let t = tok(r#"{"alg":"ES256","jwk":{"kty":"EC"}}"#, "{}");
        let u = UntrustedToken::parse(&t, &Limits::default()).unwrap();
        assert!(u.header().has_embedded_key_reference);
    }

    #[test]
    fn size_limits() {
        let limits = Limits {
            max_token_bytes: 64,
            ..Limits::default()
        };
        let t = tok(r#"{"alg":"HS256"}"#, &"x".repeat(100));
        assert_eq!(
            UntrustedToken::parse(&t, &limits).unwrap_err().code(),
            ErrorCode::TokenTooLarge
        );
        let deep = format!(
            r#"{{"alg":"HS256","x":{}1{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert_eq!(code(&tok(&deep, "{}")), ErrorCode::TokenTooLarge);
    }
}
