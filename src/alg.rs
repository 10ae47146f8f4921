//! JWS algorithms (RFC 7518 §3, RFC 8037) and the key family each one is bound to.
//!
//! The token's `alg` header only ever *selects among* algorithms that the key and the
//! validation settings already allow; it can never widen them. `none` is not an algorithm here
//! at all.

mod ecdsa;

use std::fmt;

use hmac::Mac;
use jwt_compact::{alg as jc, Algorithm as _, AlgorithmSignature as _};
use serde::{Deserialize, Serialize};

pub use self::ecdsa::{EcSignature, Es384, Es512};
use crate::error::{AuthError, ErrorCode};
use crate::key::{HmacHash, VerifyingKey};
// Their home is `crate::key`; these paths predate it.
pub use crate::key::{KeyFamily, Pkcs1Hash, RsaKey};

/// A supported JWS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// The registered `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses an `alg` value exactly (names are case-sensitive, RFC 7515 §4.1.1).
    /// `none` in any spelling is refused with its own message.
    pub fn from_name(name: &str) -> Result<Algorithm, AuthError> {
        if name.trim().eq_ignore_ascii_case("none") {
            return Err(AuthError::with_message(
                ErrorCode::UnsupportedAlgorithm,
                "unsigned tokens (alg none) are never accepted",
            ));
        }
        Algorithm::ALL
            .iter()
            .copied()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                AuthError::with_message(
                    ErrorCode::UnsupportedAlgorithm,
                    "the token algorithm is not supported",
                )
            })
    }

    /// The key family this algorithm requires.
    pub fn family(self) -> KeyFamily {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Oct,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::P256,
            Algorithm::ES384 => KeyFamily::P384,
            Algorithm::ES512 => KeyFamily::P521,
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }

    /// The hash of an HMAC algorithm; `None` for the public-key ones.
    pub(crate) fn hmac_hash(self) -> Option<HmacHash> {
        match self {
            Algorithm::HS256 => Some(HmacHash::Sha256),
            Algorithm::HS384 => Some(HmacHash::Sha384),
            Algorithm::HS512 => Some(HmacHash::Sha512),
            _ => None,
        }
    }

    /// Whether `key` can verify this algorithm: the right family and, for a shared secret, long
    /// enough for the hash (and not excluded when the secret was prepared).
    pub(crate) fn fits(self, key: &VerifyingKey) -> bool {
        match (self.hmac_hash(), key) {
            (Some(hash), VerifyingKey::Oct(k)) => k.supports(hash),
            _ => self.family() == key.family(),
        }
    }

    /// The length every signature of this algorithm under `key` has: the MAC's output, the RSA
    /// modulus (RFC 8017 §8.2.2 step 1), the curve's `r || s` (RFC 7518 §3.4), 64 for Ed25519.
    /// Checked before any verification, by the core or by a host's native crypto.
    pub fn signature_len(self, key: &VerifyingKey) -> usize {
        match (self, key) {
            (Algorithm::HS256, _) => 32,
            (Algorithm::HS384, _) => 48,
            (Algorithm::HS512 | Algorithm::ES256 | Algorithm::EdDSA, _) => 64,
            (Algorithm::ES384, _) => 96,
            (Algorithm::ES512, _) => 132,
            (_, VerifyingKey::Rsa(k)) => k.size(),
            _ => 0,
        }
    }

    /// Verifies `signature` over `message`. The caller has already checked that `key` belongs to
    /// this algorithm's family; a mismatch here still answers `false`, never panics.
    pub fn verify(self, key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.signature_len(key) {
            return false;
        }
        match (self, key) {
            (Algorithm::HS256, VerifyingKey::Oct(k)) => k.hs256.as_ref().is_some_and(|mac| {
                mac.clone()
                    .chain_update(message)
                    .verify_slice(signature)
                    .is_ok()
            }),
            (Algorithm::HS384, VerifyingKey::Oct(k)) => k.hs384.as_ref().is_some_and(|mac| {
                mac.clone()
                    .chain_update(message)
                    .verify_slice(signature)
                    .is_ok()
            }),
            (Algorithm::HS512, VerifyingKey::Oct(k)) => k.hs512.as_ref().is_some_and(|mac| {
                mac.clone()
                    .chain_update(message)
                    .verify_slice(signature)
                    .is_ok()
            }),
            (Algorithm::RS256, VerifyingKey::Rsa(k)) => {
                k.verify_pkcs1v15(Pkcs1Hash::Sha256, message, signature)
            }
            (Algorithm::RS384, VerifyingKey::Rsa(k)) => {
                k.verify_pkcs1v15(Pkcs1Hash::Sha384, message, signature)
            }
            (Algorithm::RS512, VerifyingKey::Rsa(k)) => {
                k.verify_pkcs1v15(Pkcs1Hash::Sha512, message, signature)
            }
            (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512, VerifyingKey::Rsa(k)) => {
                let pss = match self {
                    Algorithm::PS256 => jc::Rsa::ps256(),
                    Algorithm::PS384 => jc::Rsa::ps384(),
                    _ => jc::Rsa::ps512(),
                };
                jc::RsaSignature::try_from_slice(signature)
                    .is_ok_and(|sig| pss.verify_signature(&sig, k.public(), message))
            }
            (Algorithm::ES256, VerifyingKey::P256(k)) => {
                p256::ecdsa::Signature::try_from_slice(signature)
                    .is_ok_and(|sig| jc::Es256.verify_signature(&sig, k, message))
            }
            (Algorithm::ES384, VerifyingKey::P384(k)) => {
                EcSignature::<p384::ecdsa::Signature>::try_from_slice(signature)
                    .is_ok_and(|sig| Es384.verify_signature(&sig, k, message))
            }
            (Algorithm::ES512, VerifyingKey::P521(k)) => {
                EcSignature::<p521::ecdsa::Signature>::try_from_slice(signature)
                    .is_ok_and(|sig| Es512.verify_signature(&sig, k, message))
            }
            (Algorithm::EdDSA, VerifyingKey::Ed25519(k)) => {
                ed25519_dalek::Signature::try_from_slice(signature)
                    .is_ok_and(|sig| jc::Ed25519.verify_signature(&sig, k, message))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        Algorithm::from_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_refused_in_every_spelling() {
        for n in ["none", "None", "NONE", "nOnE", " none"] {
            let e = Algorithm::from_name(n).unwrap_err();
            assert_eq!(e.code(), ErrorCode::UnsupportedAlgorithm, "{n}");
        }
    }

    #[test]
    fn names_are_exact() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()).unwrap(), a);
        }
        for bad in ["hs256", "RS256 ", "ES256K", "", "HS1", "RSA1_5", "A256GCM"] {
            assert!(Algorithm::from_name(bad).is_err(), "{bad}");
        }
    }
}
