//! RSA public keys with a precomputed Montgomery context for PKCS#1 v1.5 (RS256/384/512).
//!
//! Verification through the `rsa` crate recomputes its Montgomery constants on every call, which
//! made RS256 6× slower than ring. Here the constants are computed once at key load (crypto-bigint)
//! and `s^e mod n` runs with a bounded exponent; the result is compared, in constant time, with
//! the one valid encoding RFC 8017 §8.2.2 allows (encode-and-compare: nothing is parsed, so no
//! padding-parsing forgery can exist). PSS keeps the `rsa` crate's EMSA-PSS verification.

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, Uint, U2048, U3072, U4096, U64};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// An RSA public key ready for fast PKCS#1 v1.5 verification.
#[derive(Clone)]
pub struct RsaKey {
    public: RsaPublicKey,
    size: usize,
    e: U64,
    e_bits: usize,
    ctx: Ctx,
}

// The whole RsaKey is boxed inside VerifyingKey; boxing each variant would only add a hop.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Ctx {
    B2048(DynResidueParams<{ U2048::LIMBS }>, U2048),
    B3072(DynResidueParams<{ U3072::LIMBS }>, U3072),
    B4096(DynResidueParams<{ U4096::LIMBS }>, U4096),
}

/// The PKCS#1 v1.5 hash choices of RS256/384/512.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkcs1Hash {
    Sha256,
    Sha384,
    Sha512,
}

fn params<const L: usize>(n: &[u8]) -> Option<(DynResidueParams<L>, Uint<L>)>
where
    Uint<L>: Encoding,
{
    // Montgomery form needs an odd modulus; an even one is never a valid RSA key.
    if n.last().is_none_or(|b| b & 1 == 0) {
        return None;
    }
    let n = left_pad::<L>(n)?;
    Some((DynResidueParams::new(&n), n))
}

fn left_pad<const L: usize>(bytes: &[u8]) -> Option<Uint<L>>
where
    Uint<L>: Encoding,
{
    let width = Uint::<L>::BYTES;
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let bytes = &bytes[skip..];
    if bytes.len() > width {
        return None;
    }
    let mut buf = vec![0u8; width];
    buf[width - bytes.len()..].copy_from_slice(bytes);
    Some(Uint::<L>::from_be_slice(&buf))
}

/// Smallest and largest accepted modulus, in bits.
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;

impl RsaKey {
    /// Wraps a public key after the checks every RSA verification key must pass: a modulus of
    /// 2048 to 4096 bits that is odd, has no small prime factor and no ROCA fingerprint, and an
    /// odd exponent of at least 3 and at most 32 bits. `None` otherwise.
    ///
    /// The checks are made here, not only by the JWK/PEM loaders, because `VerifyingKey::Rsa`
    /// and [`Jwk::new`](crate::jwks::Jwk::new) are public: a key built by hand must not reach
    /// verification weaker than a loaded one (with `e = 1` every `s < n` is its own "signature").
    pub fn new(public: RsaPublicKey) -> Option<RsaKey> {
        let n = public.n().to_bytes_be();
        let bits = public.n().bits();
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return None;
        }
        let e_bytes = public.e().to_bytes_be();
        let e_ok = e_bytes.len() <= 4
            && *public.e() >= BigUint::from(3u32)
            && e_bytes.last().is_some_and(|b| b & 1 == 1);
        if !e_ok {
            return None;
        }
        crate::roca::check_modulus(&n).ok()?;
        let e = left_pad::<{ U64::LIMBS }>(&e_bytes)?;
        let e_bits = public.e().bits();
        let ctx = match n.len() {
            0..=256 => params(&n).map(|(p, n)| Ctx::B2048(p, n))?,
            257..=384 => params(&n).map(|(p, n)| Ctx::B3072(p, n))?,
            385..=512 => params(&n).map(|(p, n)| Ctx::B4096(p, n))?,
            _ => return None,
        };
        Some(RsaKey {
            size: public.size(),
            public,
            e,
            e_bits,
            ctx,
        })
    }

    /// Builds a key from its big-endian modulus and exponent, saying which check failed (the
    /// loaders name it to the operator; [`RsaKey::new`] only answers yes or no).
    pub(crate) fn from_components(n: &[u8], e: &[u8]) -> Result<RsaKey, &'static str> {
        let n_int = BigUint::from_bytes_be(n);
        let e_int = BigUint::from_bytes_be(e);
        let bits = n_int.bits();
        if bits < MIN_BITS {
            return Err("RSA modulus is shorter than 2048 bits");
        }
        if bits > MAX_BITS {
            return Err("RSA modulus is longer than 4096 bits");
        }
        if e.len() > 4 || e_int < BigUint::from(3u32) || e.last().is_none_or(|b| b & 1 == 0) {
            return Err("RSA public exponent must be odd, at least 3 and at most 32 bits");
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err("RSA modulus must be odd");
        }
        crate::roca::check_modulus(n)?;
        RsaPublicKey::new(n_int, e_int)
            .ok()
            .and_then(RsaKey::new)
            .ok_or("invalid RSA public key")
    }

    pub fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    /// Modulus length in bytes (the only valid signature length).
    pub fn size(&self) -> usize {
        self.size
    }

    /// `s^e mod n` as `size` big-endian bytes; `None` unless `0 < s < n` and the length is right.
    fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        if sig.len() != self.size {
            return None;
        }
        let out = match &self.ctx {
            Ctx::B2048(p, n) => op::<{ U2048::LIMBS }>(p, n, sig, &self.e, self.e_bits)?,
            Ctx::B3072(p, n) => op::<{ U3072::LIMBS }>(p, n, sig, &self.e, self.e_bits)?,
            Ctx::B4096(p, n) => op::<{ U4096::LIMBS }>(p, n, sig, &self.e, self.e_bits)?,
        };
        out.get(out.len() - self.size..).map(<[u8]>::to_vec)
    }

    /// RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2) by encode-and-compare.
    pub fn verify_pkcs1v15(&self, hash: Pkcs1Hash, message: &[u8], sig: &[u8]) -> bool {
        let Some(em) = self.public_op(sig) else {
            return false;
        };
        let (scheme, digest) = match hash {
            Pkcs1Hash::Sha256 => (
                Pkcs1v15Sign::new::<Sha256>(),
                Sha256::digest(message).to_vec(),
            ),
            Pkcs1Hash::Sha384 => (
                Pkcs1v15Sign::new::<Sha384>(),
                Sha384::digest(message).to_vec(),
            ),
            Pkcs1Hash::Sha512 => (
                Pkcs1v15Sign::new::<Sha512>(),
                Sha512::digest(message).to_vec(),
            ),
        };
        let t_len = scheme.prefix.len() + digest.len();
        if self.size < t_len + 11 {
            return false;
        }
        let mut expected = Vec::with_capacity(self.size);
        expected.extend_from_slice(&[0x00, 0x01]);
        expected.resize(self.size - t_len - 1, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(&scheme.prefix);
        expected.extend_from_slice(&digest);
        bool::from(em.ct_eq(&expected))
    }
}

fn op<const L: usize>(
    p: &DynResidueParams<L>,
    n: &Uint<L>,
    sig: &[u8],
    e: &U64,
    e_bits: usize,
) -> Option<Vec<u8>>
where
    Uint<L>: Encoding,
{
    let s = left_pad::<L>(sig)?;
    if s >= *n || s == Uint::<L>::ZERO {
        return None;
    }
    // The exponent is public: plain left-to-right square-and-multiply (65537 = 16 squarings and
    // one multiplication), half the work of a constant-time windowed ladder.
    let base = DynResidue::new(&s, *p);
    let mut acc = base;
    for bit in (0..e_bits.saturating_sub(1)).rev() {
        acc = acc.square();
        if bool::from(e.bit(bit)) {
            acc *= base;
        }
    }
    let m = acc.retrieve();
    Some(m.to_be_bytes().as_ref().to_vec())
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({} bits)", self.size * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;

    /// Keys built by hand get the loaders' checks: with `e = 1` the expected encoding itself
    /// would verify as a signature on any message.
    #[test]
    fn weak_keys_are_refused_when_built_by_hand() {
        let mut rng = crate::random::rng();
        let private = RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let n = private.to_public_key().n().clone();
        for e in [0u32, 1, 2, 4, 65536] {
            let public = RsaPublicKey::new_unchecked(n.clone(), BigUint::from(e));
            assert!(RsaKey::new(public).is_none(), "e = {e}");
        }
        let big_e = BigUint::from(1u64 << 40) + BigUint::from(1u8);
        assert!(RsaKey::new(RsaPublicKey::new_unchecked(n.clone(), big_e)).is_none());
        assert!(RsaKey::new(RsaPublicKey::new_unchecked(n.clone(), BigUint::from(3u8))).is_some());
        let even = &n + BigUint::from(1u8);
        assert!(RsaKey::new(RsaPublicKey::new_unchecked(even, BigUint::from(65537u32))).is_none());
        let small = RsaPrivateKey::new(&mut rng, 1024).unwrap().to_public_key();
        assert!(RsaKey::new(small).is_none());
    }

    /// The fast path must agree with the `rsa` crate on valid, mangled and boundary signatures.
    #[test]
    fn agrees_with_the_rsa_crate() {
        let mut rng = crate::random::rng();
        for bits in [2048, 3072] {
            let private = RsaPrivateKey::new(&mut rng, bits).unwrap();
            let public = private.to_public_key();
            let key = RsaKey::new(public.clone()).unwrap();
            for (i, msg) in [&b""[..], b"a", b"eyJhbGciOiJSUzI1NiJ9.e30"]
                .iter()
                .enumerate()
            {
                let digest = Sha256::digest(msg);
                let sig = private
                    .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
                    .unwrap();
                assert!(key.verify_pkcs1v15(Pkcs1Hash::Sha256, msg, &sig));
                assert!(!key.verify_pkcs1v15(Pkcs1Hash::Sha384, msg, &sig));
                let mut bad = sig.clone();
                let at = i * 7 % bad.len();
                bad[at] ^= 1;
                let reference = public
                    .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &bad)
                    .is_ok();
                assert_eq!(key.verify_pkcs1v15(Pkcs1Hash::Sha256, msg, &bad), reference);
                assert!(!key.verify_pkcs1v15(Pkcs1Hash::Sha256, msg, &sig[1..]));
            }
            let n = public.n().to_bytes_be();
            let n_minus_1 = (public.n() - BigUint::from(1u8)).to_bytes_be();
            for s in [
                n.clone(),
                n_minus_1,
                vec![0u8; n.len()],
                vec![0xff; n.len()],
            ] {
                assert!(!key.verify_pkcs1v15(Pkcs1Hash::Sha256, b"m", &s));
            }
        }
    }
}
