//! JSON Web Keys (RFC 7517) and PEM public keys → typed verifying keys, indexed by `kid`.
//!
//! Everything that makes a key unsafe is decided once, at load: the key material itself by
//! [`crate::key`] (RSA below 2048 bits or with the ROCA weakness, HMAC secrets shorter than the
//! hash output, points off the curve), and here what the JWK says about it: keys whose `use`,
//! `key_ops` or `alg` exclude JWS verification, and key sets that mix shared secrets with public
//! keys. Verification never sees such a key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64ct::{Base64UrlUnpadded, Encoding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::error::{AuthError, ErrorCode};
use crate::json::{self, JsonError, JsonLimits};
use crate::key::KeyFamily;
// The key types live in `crate::key`; a JWK wraps one, so callers reach them from here too.
pub use crate::key::{OctKey, VerifyingKey};

/// Most keys one set may hold; a larger remote document is refused rather than indexed.
pub const MAX_KEYS: usize = 100;
/// How many keys a token without `kid` may be tried against.
pub const MAX_KID_LESS_CANDIDATES: usize = 4;
/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Shape limits for a JWKS document: the `keys` array may hold [`MAX_KEYS`] entries.
const JWKS_JSON_LIMITS: JsonLimits = JsonLimits {
    max_depth: 16,
    max_members: MAX_KEYS,
};

/// One usable verification key with its identity and restrictions.
#[derive(Debug, Clone)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: VerifyingKey,
}

impl Jwk {
    /// Wraps a key with an optional `kid` and `alg` restriction.
    pub fn new(
        key: VerifyingKey,
        kid: Option<String>,
        alg: Option<Algorithm>,
    ) -> Result<Jwk, AuthError> {
        if let Some(a) = alg {
            if !a.fits(&key) {
                return Err(key_error(None, "alg does not match the key"));
            }
        }
        Ok(Jwk { kid, alg, key })
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm this key is restricted to by its JWK `alg`, if any.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether this key may verify a token signed with `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|a| a == alg) && alg.fits(&self.key)
    }

    /// Parses one JWK object. Refuses private keys, keys not meant for signature verification,
    /// and weak or malformed keys.
    pub fn from_value(v: &Value) -> Result<Jwk, AuthError> {
        let obj = v
            .as_object()
            .ok_or_else(|| key_error(None, "a JWK must be a JSON object"))?;
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(key_error(None, "kid must be a string")),
        };
        let err = |reason: &'static str| key_error(kid.as_deref(), reason);
        let kty = str_member(obj, "kty").ok_or_else(|| err("kty is missing"))?;
        if let Some(u) = obj.get("use") {
            if u != "sig" {
                return Err(err("the key's use is not sig"));
            }
        }
        if let Some(ops) = obj.get("key_ops") {
            check_key_ops(ops).map_err(err)?;
        }
        let alg = match obj.get("alg") {
            None => None,
            Some(Value::String(name)) => Some(
                Algorithm::from_name(name)
                    .map_err(|_| err("the key's alg is not a supported signature algorithm"))?,
            ),
            Some(_) => return Err(err("alg must be a string")),
        };
        let key = match kty {
            "oct" => oct_key(obj, alg).map_err(err)?,
            "RSA" => {
                refuse_private(obj, &["d", "p", "q", "dp", "dq", "qi", "oth"]).map_err(err)?;
                let n = b64_member(obj, "n").map_err(err)?;
                let e = b64_member(obj, "e").map_err(err)?;
                VerifyingKey::rsa(&n, &e).map_err(err)?
            }
            "EC" => {
                refuse_private(obj, &["d"]).map_err(err)?;
                ec_key(obj).map_err(err)?
            }
            "OKP" => {
                refuse_private(obj, &["d"]).map_err(err)?;
                if str_member(obj, "crv") != Some("Ed25519") {
                    return Err(err("unsupported OKP curve"));
                }
                let x = b64_member(obj, "x").map_err(err)?;
                VerifyingKey::ed25519(&x).map_err(err)?
            }
            _ => return Err(err("unsupported key type")),
        };
        if let Some(a) = alg {
            if a.family() != key.family() {
                return Err(err("the key's alg does not match its type or curve"));
            }
        }
        Jwk::new(key, kid.clone(), alg).map_err(|_| err("the key's alg does not match the key"))
    }

    /// Parses a PEM public key: SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Result<Jwk, AuthError> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use spki::DecodePublicKey;
        let pem = pem.trim();
        if pem.contains("PRIVATE KEY") {
            return Err(key_error(
                None,
                "this is a private key; give the public key",
            ));
        }
        if pem.contains("BEGIN CERTIFICATE") {
            return Err(key_error(
                None,
                "certificates are not read; extract the public key (openssl x509 -pubkey -noout)",
            ));
        }
        let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            let k = RsaPublicKey::from_pkcs1_pem(pem)
                .map_err(|_| key_error(None, "malformed PKCS#1 RSA key"))?;
            VerifyingKey::rsa(&k.n().to_bytes_be(), &k.e().to_bytes_be())
                .map_err(|r| key_error(None, r))?
        } else if let Ok(k) = RsaPublicKey::from_public_key_pem(pem) {
            VerifyingKey::rsa(&k.n().to_bytes_be(), &k.e().to_bytes_be())
                .map_err(|r| key_error(None, r))?
        } else if let Ok(k) = p256::PublicKey::from_public_key_pem(pem) {
            VerifyingKey::P256(k.into())
        } else if let Ok(k) = p384::PublicKey::from_public_key_pem(pem) {
            VerifyingKey::P384(k.into())
        } else if let Ok(k) = p521::PublicKey::from_public_key_pem(pem) {
            VerifyingKey::P521(
                p521::ecdsa::VerifyingKey::from_affine(*k.as_affine())
                    .map_err(|_| key_error(None, "invalid P-521 public key"))?,
            )
        } else if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            VerifyingKey::Ed25519(k)
        } else {
            return Err(key_error(
                None,
                "not a supported PEM public key (RSA, EC P-256/P-384/P-521 or Ed25519 SPKI)",
            ));
        };
        Jwk::new(key, None, None)
    }

    /// A shared HMAC secret given as raw bytes (e.g. read from a file).
    pub fn from_secret(secret: &[u8], alg: Option<Algorithm>) -> Result<Jwk, AuthError> {
        let key = oct_from_bytes(secret, alg).map_err(|r| key_error(None, r))?;
        Jwk::new(key, None, alg)
    }
}

fn key_error(kid: Option<&str>, reason: &'static str) -> AuthError {
    match kid {
        Some(kid) => AuthError::with_message(
            ErrorCode::InvalidKey,
            format!("key {:?}: {reason}", truncate(kid, 64)),
        ),
        None => AuthError::with_message(ErrorCode::InvalidKey, reason),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn str_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

fn b64_member(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, &'static str> {
    let s = str_member(obj, name).ok_or("a required key member is missing")?;
    Base64UrlUnpadded::decode_vec(s).map_err(|_| "a key member is not valid base64url")
}

fn refuse_private(obj: &Map<String, Value>, members: &[&str]) -> Result<(), &'static str> {
    if members.iter().any(|m| obj.contains_key(*m)) {
        return Err("a verification key set must not contain private key material");
    }
    Ok(())
}

/// RFC 7517 §4.3: recognised operations that exclude `verify` rule the key out; values outside
/// the registry are ignored, as the RFC allows other values.
fn check_key_ops(ops: &Value) -> Result<(), &'static str> {
    const KNOWN: [&str; 8] = [
        "sign",
        "verify",
        "encrypt",
        "decrypt",
        "wrapKey",
        "unwrapKey",
        "deriveKey",
        "deriveBits",
    ];
    let ops = ops.as_array().ok_or("key_ops must be an array")?;
    let mut known = ops
        .iter()
        .filter_map(Value::as_str)
        .filter(|o| KNOWN.contains(o))
        .peekable();
    if ops.iter().any(|o| !o.is_string()) {
        return Err("key_ops must contain strings");
    }
    if known.peek().is_some() && !known.any(|o| o == "verify") {
        return Err("the key's key_ops do not allow verify");
    }
    Ok(())
}

fn oct_key(obj: &Map<String, Value>, alg: Option<Algorithm>) -> Result<VerifyingKey, &'static str> {
    let k = b64_member(obj, "k")?;
    if alg.is_some_and(|a| a.family() != KeyFamily::Oct) {
        return Err("the key's alg is not an HMAC algorithm");
    }
    oct_from_bytes(&k, alg)
}

fn oct_from_bytes(k: &[u8], alg: Option<Algorithm>) -> Result<VerifyingKey, &'static str> {
    VerifyingKey::oct(k, |hash| alg.is_none_or(|a| a.hmac_hash() == Some(hash)))
}

fn ec_key(obj: &Map<String, Value>) -> Result<VerifyingKey, &'static str> {
    let crv = str_member(obj, "crv").ok_or("crv is missing")?;
    let x = b64_member(obj, "x")?;
    let y = b64_member(obj, "y")?;
    VerifyingKey::ec(crv, &x, &y)
}

/// Why a key of a set was left out (lenient loading of remote sets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// The refusal, naming the `kid` when there is one.
    pub error: AuthError,
}

/// A set of verification keys with a `kid` index.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    by_kid: HashMap<String, Vec<usize>>,
    ambiguous: Vec<String>,
    skipped: Vec<SkippedKey>,
    /// Different for every set built in this process (0: the empty default), so that hosts
    /// keeping native copies of keys (WebCrypto's) can name a key by set and position.
    serial: u64,
}

static SERIALS: AtomicU64 = AtomicU64::new(1);

impl JwkSet {
    /// Builds a set from keys. Refuses sets that mix shared secrets with public keys: a verifier
    /// holding both can be steered from one to the other.
    pub fn from_keys(keys: Vec<Jwk>) -> Result<JwkSet, AuthError> {
        if keys.len() > MAX_KEYS {
            return Err(AuthError::with_message(
                ErrorCode::InvalidKey,
                "too many keys in the key set",
            ));
        }
        let oct = keys
            .iter()
            .filter(|k| k.key.family() == KeyFamily::Oct)
            .count();
        if oct != 0 && oct != keys.len() {
            return Err(AuthError::with_message(
                ErrorCode::InvalidKey,
                "a key set must not mix shared secrets (oct) with public keys",
            ));
        }
        let mut by_kid: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(kid) = &k.kid {
                by_kid.entry(kid.clone()).or_default().push(i);
            }
        }
        Ok(JwkSet {
            keys,
            by_kid,
            ambiguous: Vec::new(),
            skipped: Vec::new(),
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Parses a JWKS document; any unusable key is an error (for configuration you control).
    pub fn from_json(json: &str) -> Result<JwkSet, AuthError> {
        let set = JwkSet::from_json_lenient(json)?;
        match set.skipped.first() {
            Some(s) => Err(s.error.clone()),
            None => Ok(set),
        }
    }

    /// Parses a JWKS document, leaving out keys that cannot verify JWS signatures (encryption
    /// keys, unknown types, weak keys) and recording why. For remote sets you do not control.
    pub fn from_json_lenient(json: &str) -> Result<JwkSet, AuthError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(AuthError::with_message(
                ErrorCode::InvalidKey,
                "the key set document is too large",
            ));
        }
        // The same strict reader as token headers and claims: a duplicate member (a second `use`,
        // `alg` or `keys`) would otherwise be read last-wins here and first-wins elsewhere.
        let doc = json::parse_object(json.as_bytes(), JWKS_JSON_LIMITS).map_err(|reason| {
            AuthError::with_message(
                ErrorCode::InvalidKey,
                match reason {
                    JsonError::TooManyMembers => "too many keys or members in the key set",
                    JsonError::DuplicateMember => "the key set repeats a member name",
                    _ => "the key set is not valid JSON",
                },
            )
        })?;
        let list = doc.get("keys").and_then(Value::as_array).ok_or_else(|| {
            AuthError::with_message(ErrorCode::InvalidKey, "the key set has no keys array")
        })?;
        if list.len() > MAX_KEYS {
            return Err(AuthError::with_message(
                ErrorCode::InvalidKey,
                "too many keys in the key set",
            ));
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        let mut all_kids: HashMap<(&str, &str), usize> = HashMap::new();
        for k in list {
            let kid = k.get("kid").and_then(Value::as_str);
            let kty = k.get("kty").and_then(Value::as_str).unwrap_or_default();
            if let Some(kid) = kid {
                *all_kids.entry((kid, kty)).or_default() += 1;
            }
        }
        for (index, v) in list.iter().enumerate() {
            match Jwk::from_value(v) {
                Ok(k) => keys.push(k),
                Err(error) => skipped.push(SkippedKey { index, error }),
            }
        }
        let mut set = JwkSet::from_keys(keys)?;
        // A kid shared by two entries of one type stays ambiguous even if one of them was left
        // out as unusable: which key the issuer signs with cannot be known.
        for skipped_key in &skipped {
            let entry = &list[skipped_key.index];
            if let (Some(kid), Some(kty)) = (
                entry.get("kid").and_then(Value::as_str),
                entry.get("kty").and_then(Value::as_str),
            ) {
                if all_kids.get(&(kid, kty)).is_some_and(|n| *n > 1) {
                    set.ambiguous.push(kid.to_owned());
                }
            }
        }
        set.skipped = skipped;
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// This set's serial number (see the field); its clones share it.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Keys left out by lenient loading, with the reason.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The keys a token with this `kid` and `alg` may be checked against.
    ///
    /// With a `kid`: exactly the key of that id that can verify `alg` (no key of that id →
    /// `unknown_key`, so the host can refetch; keys of that id but none for `alg` →
    /// `unsupported_algorithm`; more than one for `alg` → `unknown_key`). Keys of different types
    /// may share a `kid` (RFC 7517 §4.5; RFC 7520 §3 does so): the algorithm, bound to one key
    /// family, tells them apart. Without: the compatible keys, at most
    /// [`MAX_KID_LESS_CANDIDATES`].
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Result<Vec<&Jwk>, AuthError> {
        if self.keys.is_empty() {
            return Err(AuthError::new(ErrorCode::KeysUnavailable));
        }
        match kid {
            Some(kid) => {
                let named = self.by_kid.get(kid).map(Vec::as_slice).unwrap_or_default();
                if named.is_empty() && !self.ambiguous.iter().any(|a| a == kid) {
                    return Err(AuthError::new(ErrorCode::UnknownKey));
                }
                if self.ambiguous.iter().any(|a| a == kid) {
                    return Err(AuthError::with_message(
                        ErrorCode::UnknownKey,
                        "the kid names more than one key of one type",
                    ));
                }
                let usable: Vec<&Jwk> = named
                    .iter()
                    .map(|&i| &self.keys[i])
                    .filter(|k| k.allows(alg))
                    .collect();
                match usable.as_slice() {
                    [] => Err(AuthError::with_message(
                        ErrorCode::UnsupportedAlgorithm,
                        "the token algorithm does not match the key named by kid",
                    )),
                    [_] => Ok(usable),
                    _ => Err(AuthError::with_message(
                        ErrorCode::UnknownKey,
                        "the kid names more than one key for the token algorithm",
                    )),
                }
            }
            None => {
                let found: Vec<&Jwk> = self.keys.iter().filter(|k| k.allows(alg)).collect();
                if found.is_empty() {
                    Err(AuthError::with_message(
                        ErrorCode::UnsupportedAlgorithm,
                        "no key accepts the token algorithm",
                    ))
                } else if found.len() > MAX_KID_LESS_CANDIDATES {
                    Err(AuthError::with_message(
                        ErrorCode::UnknownKey,
                        "the token has no kid and too many keys could match",
                    ))
                } else {
                    Ok(found)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 7638 §3.1 example key and thumbprint.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn rfc7638_thumbprint() {
        let jwk = Jwk::from_value(
            &json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB","alg":"RS256","kid":"2011-04-29"}),
        )
        .unwrap();
        assert_eq!(
            jwk.key().thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(jwk.alg(), Some(Algorithm::RS256));
        assert!(jwk.allows(Algorithm::RS256));
        assert!(!jwk.allows(Algorithm::PS256));
        assert!(!jwk.allows(Algorithm::HS256));
    }

    #[test]
    fn refuses_private_material_and_wrong_use() {
        let e =
            Jwk::from_value(&json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB","d":"AQAB"})).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidKey);
        assert!(e.message().contains("private"));
        let e = Jwk::from_value(&json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB","use":"enc"}))
            .unwrap_err();
        assert!(e.message().contains("use"));
        let e =
            Jwk::from_value(&json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB","key_ops":["encrypt"]}))
                .unwrap_err();
        assert!(e.message().contains("key_ops"));
        assert!(Jwk::from_value(
            &json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB","key_ops":["verify"]})
        )
        .is_ok());
    }

    #[test]
    fn hmac_secret_length_is_tied_to_the_hash() {
        let k = Jwk::from_secret(&[7u8; 48], None).unwrap();
        assert!(k.allows(Algorithm::HS256) && k.allows(Algorithm::HS384));
        assert!(!k.allows(Algorithm::HS512));
        assert_eq!(
            Jwk::from_secret(&[7u8; 31], None).unwrap_err().code(),
            ErrorCode::InvalidKey
        );
        assert!(Jwk::from_secret(&[7u8; 40], Some(Algorithm::HS512)).is_err());
        assert!(Jwk::from_secret(&[], None).is_err());
    }

    #[test]
    fn mixed_sets_are_refused_and_lookup_is_exact() {
        let oct = json!({"kty":"oct","k":Base64UrlUnpadded::encode_string(&[1u8;32]),"kid":"a"});
        let rsa = json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB","kid":"b"});
        let mixed = json!({"keys":[oct, rsa]}).to_string();
        assert!(JwkSet::from_json(&mixed)
            .unwrap_err()
            .message()
            .contains("mix"));
        let set = JwkSet::from_json(&json!({"keys":[rsa]}).to_string()).unwrap();
        assert_eq!(
            set.candidates(Some("b"), Algorithm::RS256).unwrap().len(),
            1
        );
        assert_eq!(
            set.candidates(Some("zz"), Algorithm::RS256)
                .unwrap_err()
                .code(),
            ErrorCode::UnknownKey
        );
        assert_eq!(
            set.candidates(Some("b"), Algorithm::ES256)
                .unwrap_err()
                .code(),
            ErrorCode::UnsupportedAlgorithm
        );
        assert_eq!(set.candidates(None, Algorithm::PS512).unwrap().len(), 1);
        assert_eq!(
            JwkSet::default()
                .candidates(None, Algorithm::RS256)
                .unwrap_err()
                .code(),
            ErrorCode::KeysUnavailable
        );
    }

    #[test]
    fn keys_of_different_types_may_share_a_kid() {
        // RFC 7520 §3.1 and §3.3 publish an EC and an RSA key under one kid; RFC 7517 §4.5
        // allows it. The token's alg picks the one key of its family.
        let p256 = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = p256.verifying_key().to_encoded_point(false);
        let ec = json!({"kty":"EC","crv":"P-256","kid":"k",
            "x":Base64UrlUnpadded::encode_string(point.x().unwrap()),
            "y":Base64UrlUnpadded::encode_string(point.y().unwrap())});
        let rsa = json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB","kid":"k"});
        let set = JwkSet::from_json(&json!({"keys":[ec, rsa]}).to_string()).unwrap();
        let rs = set.candidates(Some("k"), Algorithm::RS256).unwrap();
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].key().family(), KeyFamily::Rsa);
        let es = set.candidates(Some("k"), Algorithm::ES256).unwrap();
        assert_eq!(es.len(), 1);
        assert_eq!(es[0].key().family(), KeyFamily::P256);
        // Neither key serves ES384.
        assert_eq!(
            set.candidates(Some("k"), Algorithm::ES384)
                .unwrap_err()
                .code(),
            ErrorCode::UnsupportedAlgorithm
        );
        // Two keys of one family under one kid stay ambiguous.
        let two = json!({"keys":[
            {"kty":"RSA","n":RFC7638_N,"e":"AQAB","kid":"k"},
            {"kty":"RSA","n":RFC7638_N,"e":"AQAB","kid":"k","alg":"RS256"}
        ]});
        let set = JwkSet::from_json(&two.to_string()).unwrap();
        assert_eq!(
            set.candidates(Some("k"), Algorithm::RS256)
                .unwrap_err()
                .code(),
            ErrorCode::UnknownKey
        );
        // ... unless their alg members tell them apart.
        assert_eq!(
            set.candidates(Some("k"), Algorithm::PS256).unwrap().len(),
            1
        );
    }

    #[test]
    fn lenient_loading_skips_and_explains() {
        let doc = json!({"keys":[
            {"kty":"RSA","n":RFC7638_N,"e":"AQAB","kid":"ok"},
            {"kty":"RSA","n":RFC7638_N,"e":"AQAB","kid":"enc","use":"enc"},
            {"kty":"XYZ","kid":"weird"}
        ]})
        .to_string();
        let set = JwkSet::from_json_lenient(&doc).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.skipped().len(), 2);
        assert!(set.skipped()[0].error.message().contains("\"enc\""));
        assert!(JwkSet::from_json(&doc).is_err());
    }

    #[test]
    fn duplicate_member_names_are_refused() {
        // Last-wins would read `use: sig` here; a first-wins reader of the same document sees an
        // encryption key. Neither reading is safe to act on.
        let dup_use = format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{RFC7638_N}","e":"AQAB","use":"enc","use":"sig"}}]}}"#
        );
        let dup_alg = format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{RFC7638_N}","e":"AQAB","alg":"RS256","alg":"PS256"}}]}}"#
        );
        let dup_keys =
            format!(r#"{{"keys":[],"keys":[{{"kty":"RSA","n":"{RFC7638_N}","e":"AQAB"}}]}}"#);
        for doc in [dup_use, dup_alg, dup_keys] {
            for result in [JwkSet::from_json(&doc), JwkSet::from_json_lenient(&doc)] {
                let e = result.unwrap_err();
                assert_eq!(e.code(), ErrorCode::InvalidKey, "{doc}");
                assert!(e.message().contains("repeats"), "{doc}: {}", e.message());
            }
        }
        // The key-count limit still holds, and a full set still loads.
        let key = json!({"kty":"RSA","n":RFC7638_N,"e":"AQAB"});
        let full = json!({ "keys": vec![key.clone(); MAX_KEYS] }).to_string();
        assert_eq!(JwkSet::from_json_lenient(&full).unwrap().len(), MAX_KEYS);
        let over = json!({ "keys": vec![key; MAX_KEYS + 1] }).to_string();
        assert_eq!(
            JwkSet::from_json_lenient(&over).unwrap_err().code(),
            ErrorCode::InvalidKey
        );
    }

    #[test]
    fn garbage_never_panics() {
        for doc in [
            "",
            "null",
            "{}",
            "{\"keys\":{}}",
            "{\"keys\":[1,\"x\",null,{}]}",
            "[[[[",
            "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"\",\"y\":\"\"}]}",
        ] {
            let _ = JwkSet::from_json_lenient(doc);
            let _ = JwkSet::from_json(doc);
        }
        for pem in [
            "",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "-----BEGIN PRIVATE KEY-----",
        ] {
            assert!(Jwk::from_pem(pem).is_err());
        }
    }
}
