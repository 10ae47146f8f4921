//! Typed verifying keys: one variant per key family, checked when built from its components.
//!
//! Whatever a key came from (a JWK, a PEM file, a secret), the component checks live here once:
//! RSA below 2048 bits or with the ROCA weakness, HMAC secrets shorter than the hash output and
//! points off the curve never become a [`VerifyingKey`]. This module knows nothing of `alg`:
//! algorithms (`crate::alg`) are bound to a [`KeyFamily`] and depend on keys, not the reverse.

mod rsa;

use std::fmt;

use ::rsa::traits::PublicKeyParts;
use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

pub use self::rsa::{Pkcs1Hash, RsaKey};

/// The kind of key an algorithm needs. A key of one family never verifies another's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// Shared secret (`kty: oct`).
    Oct,
    /// RSA public key.
    Rsa,
    /// EC key on P-256.
    P256,
    /// EC key on P-384.
    P384,
    /// EC key on P-521.
    P521,
    /// Ed25519 public key (`kty: OKP`).
    Ed25519,
}

/// The SHA-2 hash of an HMAC algorithm (HS256/HS384/HS512, RFC 7518 §3.2): a secret is prepared
/// once per hash its length allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HmacHash {
    Sha256,
    Sha384,
    Sha512,
}

/// A shared secret, prepared once per HMAC algorithm its length allows.
#[derive(Clone)]
pub struct OctKey {
    pub(crate) hs256: Option<Hmac<Sha256>>,
    pub(crate) hs384: Option<Hmac<Sha384>>,
    pub(crate) hs512: Option<Hmac<Sha512>>,
    thumbprint_input: String,
}

impl fmt::Debug for OctKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OctKey(<redacted>)")
    }
}

impl OctKey {
    /// Whether the secret was prepared for `hash`: long enough, and not excluded when built.
    pub fn supports(&self, hash: HmacHash) -> bool {
        match hash {
            HmacHash::Sha256 => self.hs256.is_some(),
            HmacHash::Sha384 => self.hs384.is_some(),
            HmacHash::Sha512 => self.hs512.is_some(),
        }
    }
}

/// A key that can verify signatures of exactly one [`KeyFamily`].
#[derive(Clone)]
pub enum VerifyingKey {
    Oct(Box<OctKey>),
    Rsa(Box<RsaKey>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyingKey::Oct(_) => f.write_str("VerifyingKey::Oct(<redacted>)"),
            other => write!(
                f,
                "VerifyingKey::{:?}({})",
                other.family(),
                other.thumbprint()
            ),
        }
    }
}

impl VerifyingKey {
    /// The family of algorithms this key serves.
    pub fn family(&self) -> KeyFamily {
        match self {
            VerifyingKey::Oct(_) => KeyFamily::Oct,
            VerifyingKey::Rsa(_) => KeyFamily::Rsa,
            VerifyingKey::P256(_) => KeyFamily::P256,
            VerifyingKey::P384(_) => KeyFamily::P384,
            VerifyingKey::P521(_) => KeyFamily::P521,
            VerifyingKey::Ed25519(_) => KeyFamily::Ed25519,
        }
    }

    /// The RFC 7638 required members of the JWK, in canonical (sorted) order. For an `oct` key
    /// the required member `k` is the shared secret itself: never publish this map (or a JWKS
    /// built from it) for HMAC keys.
    pub fn public_members(&self) -> Map<String, Value> {
        let b64 = |b: &[u8]| Value::String(Base64UrlUnpadded::encode_string(b));
        let mut m = Map::new();
        match self {
            VerifyingKey::Oct(k) => {
                m.insert("k".into(), Value::String(k.thumbprint_input.clone()));
                m.insert("kty".into(), "oct".into());
            }
            VerifyingKey::Rsa(k) => {
                m.insert("e".into(), b64(&k.public().e().to_bytes_be()));
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64(&k.public().n().to_bytes_be()));
            }
            VerifyingKey::P256(k) => {
                ec_members(&mut m, "P-256", k.to_encoded_point(false).as_bytes())
            }
            VerifyingKey::P384(k) => {
                ec_members(&mut m, "P-384", k.to_encoded_point(false).as_bytes())
            }
            VerifyingKey::P521(k) => {
                ec_members(&mut m, "P-521", k.to_encoded_point(false).as_bytes())
            }
            VerifyingKey::Ed25519(k) => {
                m.insert("crv".into(), "Ed25519".into());
                m.insert("kty".into(), "OKP".into());
                m.insert("x".into(), b64(k.as_bytes()));
            }
        }
        m
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn thumbprint(&self) -> String {
        let canonical = Value::Object(self.public_members()).to_string();
        Base64UrlUnpadded::encode_string(&Sha256::digest(canonical.as_bytes()))
    }

    /// A shared secret, prepared for each hash that `allowed` admits and its length reaches.
    /// The reason is a fixed text the caller prefixes with the key's identity.
    pub(crate) fn oct(
        secret: &[u8],
        allowed: impl Fn(HmacHash) -> bool,
    ) -> Result<VerifyingKey, &'static str> {
        let admits = |hash: HmacHash, min: usize| allowed(hash) && secret.len() >= min;
        let key = OctKey {
            hs256: admits(HmacHash::Sha256, 32)
                .then(|| Hmac::<Sha256>::new_from_slice(secret).ok())
                .flatten(),
            hs384: admits(HmacHash::Sha384, 48)
                .then(|| Hmac::<Sha384>::new_from_slice(secret).ok())
                .flatten(),
            hs512: admits(HmacHash::Sha512, 64)
                .then(|| Hmac::<Sha512>::new_from_slice(secret).ok())
                .flatten(),
            thumbprint_input: Base64UrlUnpadded::encode_string(secret),
        };
        if key.hs256.is_none() && key.hs384.is_none() && key.hs512.is_none() {
            return Err("HMAC secret is shorter than the hash output");
        }
        Ok(VerifyingKey::Oct(Box::new(key)))
    }

    /// An RSA public key from its big-endian modulus `n` and exponent `e`.
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Result<VerifyingKey, &'static str> {
        RsaKey::from_components(n, e).map(|k| VerifyingKey::Rsa(Box::new(k)))
    }

    /// An EC public key from its curve name (`P-256`, `P-384`, `P-521`) and full-size
    /// big-endian coordinates.
    pub(crate) fn ec(crv: &str, x: &[u8], y: &[u8]) -> Result<VerifyingKey, &'static str> {
        let size = match crv {
            "P-256" => 32,
            "P-384" => 48,
            "P-521" => 66,
            _ => return Err("unsupported EC curve"),
        };
        if x.len() != size || y.len() != size {
            return Err("EC coordinates must be the full size of the curve");
        }
        let mut sec1 = Vec::with_capacity(1 + 2 * size);
        sec1.push(0x04);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        let bad = "EC point is not on the curve";
        Ok(match crv {
            "P-256" => VerifyingKey::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| bad)?,
            ),
            "P-384" => VerifyingKey::P384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| bad)?,
            ),
            _ => VerifyingKey::P521(
                p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| bad)?,
            ),
        })
    }

    /// An Ed25519 public key from its 32-byte encoding `x` (RFC 8037 §2).
    pub(crate) fn ed25519(x: &[u8]) -> Result<VerifyingKey, &'static str> {
        let x: [u8; 32] = x.try_into().map_err(|_| "Ed25519 x must be 32 bytes")?;
        ed25519_dalek::VerifyingKey::from_bytes(&x)
            .map(VerifyingKey::Ed25519)
            .map_err(|_| "invalid Ed25519 public key")
    }
}

fn ec_members(m: &mut Map<String, Value>, crv: &str, sec1: &[u8]) {
    let coord = (sec1.len().saturating_sub(1)) / 2;
    let (x, y) = sec1.get(1..).unwrap_or_default().split_at(coord);
    m.insert("crv".into(), crv.into());
    m.insert("kty".into(), "EC".into());
    m.insert("x".into(), Base64UrlUnpadded::encode_string(x).into());
    m.insert("y".into(), Base64UrlUnpadded::encode_string(y).into());
}
