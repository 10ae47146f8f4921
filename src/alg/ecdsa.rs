//! ES384 and ES512 behind jwt-compact's [`Algorithm`] trait, which ships only ES256.
//!
//! Signatures are the fixed-width JWS form (r‖s, RFC 7518 §3.4); anything else is refused before
//! the curve arithmetic runs.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
use p384::ecdsa::signature::{RandomizedSigner as _, Signer as _, Verifier as _};

/// A fixed-width ECDSA signature for curve `C`.
#[derive(Debug, Clone)]
pub struct EcSignature<S>(S);

impl AlgorithmSignature for EcSignature<p384::ecdsa::Signature> {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(96);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        p384::ecdsa::Signature::from_slice(slice)
            .map(EcSignature)
            .map_err(|_| anyhow::anyhow!("malformed ES384 signature"))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

impl AlgorithmSignature for EcSignature<p521::ecdsa::Signature> {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(132);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        p521::ecdsa::Signature::from_slice(slice)
            .map(EcSignature)
            .map_err(|_| anyhow::anyhow!("malformed ES512 signature"))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

/// ECDSA over P-384 with SHA-384 (RFC 7518 §3.4).
#[derive(Debug, Clone, Copy, Default)]
pub struct Es384;

impl Algorithm for Es384 {
    type SigningKey = p384::ecdsa::SigningKey;
    type VerifyingKey = p384::ecdsa::VerifyingKey;
    type Signature = EcSignature<p384::ecdsa::Signature>;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES384")
    }

    fn sign(&self, key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        EcSignature(key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        key.verify(message, &signature.0).is_ok()
    }
}

/// ECDSA over P-521 with SHA-512 (RFC 7518 §3.4).
#[derive(Debug, Clone, Copy, Default)]
pub struct Es512;

impl Algorithm for Es512 {
    type SigningKey = p521::ecdsa::SigningKey;
    type VerifyingKey = p521::ecdsa::VerifyingKey;
    type Signature = EcSignature<p521::ecdsa::Signature>;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES512")
    }

    fn sign(&self, key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        // P-521 signs with a random nonce here (p521 offers no deterministic signer).
        EcSignature(key.sign_with_rng(&mut crate::random::rng(), message))
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        key.verify(message, &signature.0).is_ok()
    }
}
