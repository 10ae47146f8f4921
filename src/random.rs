//! The one place randomness enters the core: the operating system's (or browser's) CSPRNG.
//!
//! A failing CSPRNG is an error, never a fallback to something weaker.

use crate::error::{AuthError, ErrorCode};

/// Fills `buf` from the system CSPRNG.
pub fn fill(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|_| {
        AuthError::with_message(
            ErrorCode::InvalidConfig,
            "the system random generator failed",
        )
    })
}

/// The same CSPRNG for code that takes a rand_core 0.6 generator (key generation, P-521 ECDSA
/// nonces), so no other module reaches for the operating system itself. It panics if the system
/// generator fails, as those crates' signatures leave no error to return.
pub fn rng() -> impl rand_core::CryptoRngCore {
    rand_core::OsRng
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_differ() {
        let a = super::bytes::<32>().unwrap();
        let b = super::bytes::<32>().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn rng_draws_differ() {
        use rand_core::RngCore as _;
        let mut rng = super::rng();
        assert_ne!(rng.next_u64(), rng.next_u64());
    }
}
