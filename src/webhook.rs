//! Webhook signatures: HMAC-SHA256 over the raw body, or over `"{timestamp}.{body}"` so a
//! captured delivery cannot be replayed outside a tolerance window. The header value is
//! `sha256=<lowercase hex>`; several comma-separated values and several candidate secrets are
//! accepted so senders and receivers can rotate secrets without downtime.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use crate::error::{AuthError, ErrorCode};

/// The prefix of each signature in the header value.
pub const SCHEME: &str = "sha256=";
/// Default replay window for timestamped signatures, in seconds either side of `now`.
pub const DEFAULT_TOLERANCE: u64 = 300;

const MAX_HEADER_LEN: usize = 4096;
const MAX_SIGNATURES: usize = 16;
const MAX_TIMESTAMP_LEN: usize = 20;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>` over the raw body.
pub fn sign(secret: &[u8], body: &[u8]) -> Result<String, AuthError> {
    Ok(format_signature(&mac(secret, &[body])?))
}

/// `sha256=<hex>` over `"{timestamp}.{body}"`; send `timestamp` in its own header.
pub fn sign_timestamped(secret: &[u8], timestamp: u64, body: &[u8]) -> Result<String, AuthError> {
    let ts = timestamp.to_string();
    Ok(format_signature(&mac(
        secret,
        &[ts.as_bytes(), b".", body],
    )?))
}

fn format_signature(mac: &[u8]) -> String {
    format!("{SCHEME}{}", base16ct::lower::encode_string(mac))
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], AuthError> {
    if secret.is_empty() {
        return Err(empty_secret());
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| empty_secret())?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

fn empty_secret() -> AuthError {
    AuthError::with_message(
        ErrorCode::InvalidConfig,
        "webhook secrets must not be empty",
    )
}

/// Checks incoming webhook signatures against the current (and previous) secrets.
/// `Debug` does not show the secrets.
#[derive(Clone)]
pub struct WebhookVerifier {
    secrets: Vec<Vec<u8>>,
    tolerance: u64,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier {
    /// At least one secret, none empty. During a rotation pass both the new and the old one.
    pub fn new(secrets: &[&[u8]]) -> Result<WebhookVerifier, AuthError> {
        if secrets.is_empty() || secrets.iter().any(|s| s.is_empty()) {
            return Err(empty_secret());
        }
        Ok(WebhookVerifier {
            secrets: secrets.iter().map(|s| s.to_vec()).collect(),
            tolerance: DEFAULT_TOLERANCE,
        })
    }

    /// The replay window for [`WebhookVerifier::verify_timestamped`], in seconds.
    pub fn with_tolerance(mut self, seconds: u64) -> WebhookVerifier {
        self.tolerance = seconds;
        self
    }

    /// Verifies a signature over the raw body.
    pub fn verify(&self, signature_header: &str, body: &[u8]) -> Result<(), AuthError> {
        self.check(signature_header, &[body])
    }

    /// Verifies a signature over `"{timestamp}.{body}"`, then that `timestamp` (decimal unix
    /// seconds, as sent) lies within the tolerance of `now`. The signature is checked first, so
    /// only an authentic but stale delivery gets [`ErrorCode::WebhookTimestampOutOfTolerance`].
    pub fn verify_timestamped(
        &self,
        signature_header: &str,
        timestamp: &str,
        body: &[u8],
        now: u64,
    ) -> Result<(), AuthError> {
        let ts = parse_timestamp(timestamp.trim())?;
        self.check(signature_header, &[timestamp.trim().as_bytes(), b".", body])?;
        if now.abs_diff(ts) > self.tolerance {
            return Err(AuthError::new(ErrorCode::WebhookTimestampOutOfTolerance));
        }
        Ok(())
    }

    /// Every secret against every signature, without stopping early.
    fn check(&self, header: &str, parts: &[&[u8]]) -> Result<(), AuthError> {
        let candidates = parse_header(header)?;
        let mut matched = Choice::from(0);
        for secret in &self.secrets {
            let expected = mac(secret, parts)?;
            for candidate in &candidates {
                matched |= expected.as_slice().ct_eq(candidate.as_slice());
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthError::with_message(
                ErrorCode::InvalidWebhookSignature,
                "The webhook signature does not match",
            ))
        }
    }
}

fn malformed() -> AuthError {
    AuthError::with_message(
        ErrorCode::InvalidWebhookSignature,
        "The webhook signature header is missing or malformed",
    )
}

/// The well-formed `sha256=` values of the header; other schemes (`v0=`, `sha1=`) are skipped.
fn parse_header(header: &str) -> Result<Vec<[u8; 32]>, AuthError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(malformed());
    }
    let mut out = Vec::new();
    for entry in header.split(',') {
        let Some(hex) = entry.trim().strip_prefix(SCHEME) else {
            continue;
        };
        let mut sig = [0u8; 32];
        let decoded = base16ct::mixed::decode(hex, &mut sig).map(|d| d.len());
        if hex.len() == 64 && matches!(decoded, Ok(32)) {
            out.push(sig);
        }
    }
    if out.is_empty() || out.len() > MAX_SIGNATURES {
        return Err(malformed());
    }
    Ok(out)
}

/// Canonical decimal only, so the signed text has exactly one spelling.
fn parse_timestamp(ts: &str) -> Result<u64, AuthError> {
    let canonical = !ts.is_empty()
        && ts.len() <= MAX_TIMESTAMP_LEN
        && ts.bytes().all(|b| b.is_ascii_digit())
        && (ts == "0" || !ts.starts_with('0'));
    if !canonical {
        return Err(malformed());
    }
    ts.parse().map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const OLD_SECRET: &[u8] = b"old_secret";
    const BODY: &[u8] = br#"{"event":"ping","id":1}"#;
    const TS: u64 = 1_700_000_000;
    // Computed independently with Python's hmac module:
    // hmac.new(b"whsec_test_secret", BODY, hashlib.sha256).hexdigest()
    const BODY_SIG: &str =
        "sha256=04d6a90f00ce52b02135ab5732a0d7e50be2a194c68687fc0d8449ac2772d1f1";
    // hmac.new(b"whsec_test_secret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    const TIMESTAMPED_SIG: &str =
        "sha256=cf15e3e06f941c4ab4d6df79cd09115df263d0cec90870d246bcb3b1580cb83c";
    // hmac.new(b"old_secret", BODY, hashlib.sha256).hexdigest()
    const OLD_BODY_SIG: &str =
        "sha256=804248b46661eadde6f418b3494e6ac4335425f597f7abec426e1754a620c2c4";

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::new(&[SECRET]).unwrap()
    }

    fn code(r: Result<(), AuthError>) -> ErrorCode {
        r.unwrap_err().code()
    }

    #[test]
    fn signs_known_values() {
        assert_eq!(sign(SECRET, BODY).unwrap(), BODY_SIG);
        assert_eq!(sign_timestamped(SECRET, TS, BODY).unwrap(), TIMESTAMPED_SIG);
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?").unwrap(),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sign(b"", BODY).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
    }

    #[test]
    fn verifies_the_raw_body() {
        assert!(verifier().verify(BODY_SIG, BODY).is_ok());
        assert!(verifier()
            .verify(&BODY_SIG.to_uppercase().replace("SHA256=", "sha256="), BODY)
            .is_ok());
        let err = verifier()
            .verify(BODY_SIG, b"{\"event\":\"ping\",\"id\":2}")
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidWebhookSignature);
        assert_eq!(err.message(), "The webhook signature does not match");
        assert_eq!(
            code(verifier().verify(OLD_BODY_SIG, BODY)),
            ErrorCode::InvalidWebhookSignature
        );
    }

    #[test]
    fn rotation_with_several_secrets_and_signatures() {
        let both = WebhookVerifier::new(&[SECRET, OLD_SECRET]).unwrap();
        assert!(both.verify(BODY_SIG, BODY).is_ok());
        assert!(both.verify(OLD_BODY_SIG, BODY).is_ok());
        let old_only = WebhookVerifier::new(&[OLD_SECRET]).unwrap();
        let header = format!("{OLD_BODY_SIG},{BODY_SIG}");
        assert!(old_only.verify(&header, BODY).is_ok());
        assert!(verifier().verify(&header, BODY).is_ok());
        let spaced = format!(" v0=abc , {BODY_SIG} , sha1=deadbeef");
        assert!(verifier().verify(&spaced, BODY).is_ok());
        let with_garbage = format!("sha256=zz,{BODY_SIG}");
        assert!(verifier().verify(&with_garbage, BODY).is_ok());
    }

    #[test]
    fn malformed_headers() {
        let wrong_len = &BODY_SIG[..BODY_SIG.len() - 2];
        let too_long = format!("{BODY_SIG}00");
        let many = vec![BODY_SIG; MAX_SIGNATURES + 1].join(",");
        let huge = format!("{BODY_SIG},{}", " ".repeat(MAX_HEADER_LEN));
        for header in [
            "",
            " ",
            "sha256=",
            "04d6a90f00ce52b02135ab5732a0d7e50be2a194c68687fc0d8449ac2772d1f1",
            "SHA256=04d6a90f00ce52b02135ab5732a0d7e50be2a194c68687fc0d8449ac2772d1f1",
            "sha512=04d6a90f00ce52b02135ab5732a0d7e50be2a194c68687fc0d8449ac2772d1f1",
            "sha256=g4d6a90f00ce52b02135ab5732a0d7e50be2a194c68687fc0d8449ac2772d1f1",
            "sha256=04d6a90f00ce52b02135ab5732a0d7e50be2a194c68687fc0d8449ac2772d1fé",
            wrong_len,
            &too_long,
            &many,
            &huge,
            ",,,",
        ] {
            let err = verifier().verify(header, BODY).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidWebhookSignature, "{header:?}");
            assert_eq!(
                err.message(),
                "The webhook signature header is missing or malformed"
            );
        }
    }

    #[test]
    fn timestamped_signatures_and_tolerance() {
        let v = verifier();
        assert!(v
            .verify_timestamped(TIMESTAMPED_SIG, "1700000000", BODY, TS)
            .is_ok());
        assert!(v
            .verify_timestamped(TIMESTAMPED_SIG, " 1700000000 ", BODY, TS)
            .is_ok());
        assert!(v
            .verify_timestamped(TIMESTAMPED_SIG, "1700000000", BODY, TS + 300)
            .is_ok());
        assert!(v
            .verify_timestamped(TIMESTAMPED_SIG, "1700000000", BODY, TS - 300)
            .is_ok());
        for now in [TS + 301, TS - 301, 0, u64::MAX] {
            let err = v
                .verify_timestamped(TIMESTAMPED_SIG, "1700000000", BODY, now)
                .unwrap_err();
            assert_eq!(
                err.code(),
                ErrorCode::WebhookTimestampOutOfTolerance,
                "{now}"
            );
        }
        let strict = verifier().with_tolerance(0);
        assert!(strict
            .verify_timestamped(TIMESTAMPED_SIG, "1700000000", BODY, TS)
            .is_ok());
        assert!(strict
            .verify_timestamped(TIMESTAMPED_SIG, "1700000000", BODY, TS + 1)
            .is_err());
    }

    #[test]
    fn timestamp_is_part_of_the_signed_text() {
        let v = verifier();
        // A replay with a fresh timestamp but the old signature fails the signature check.
        assert_eq!(
            code(v.verify_timestamped(TIMESTAMPED_SIG, "1700000300", BODY, TS + 300)),
            ErrorCode::InvalidWebhookSignature
        );
        // The raw-body signature is not a timestamped one, and vice versa.
        assert!(v
            .verify_timestamped(BODY_SIG, "1700000000", BODY, TS)
            .is_err());
        assert!(v.verify(TIMESTAMPED_SIG, BODY).is_err());
        // Stale and forged: the signature error wins.
        assert_eq!(
            code(v.verify_timestamped(BODY_SIG, "1", BODY, TS)),
            ErrorCode::InvalidWebhookSignature
        );
    }

    #[test]
    fn timestamps_must_be_canonical_decimal() {
        let v = verifier();
        for ts in [
            "",
            "01700000000",
            "+1700000000",
            "-1",
            "1700000000.0",
            "1.7e9",
            "0x65",
            "١٧٠٠٠٠٠٠٠٠",
            "18446744073709551616",
            "123456789012345678901",
        ] {
            let err = v
                .verify_timestamped(TIMESTAMPED_SIG, ts, BODY, TS)
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidWebhookSignature, "{ts:?}");
        }
        let zero = sign_timestamped(SECRET, 0, BODY).unwrap();
        assert!(v
            .with_tolerance(u64::MAX)
            .verify_timestamped(&zero, "0", BODY, TS)
            .is_ok());
    }

    #[test]
    fn secrets_are_required_and_hidden() {
        assert_eq!(
            WebhookVerifier::new(&[]).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        assert!(WebhookVerifier::new(&[SECRET, b""]).is_err());
        let shown = format!("{:?}", verifier());
        assert!(!shown.contains("whsec"), "{shown}");
    }

    #[test]
    fn empty_and_binary_bodies() {
        let sig = sign(SECRET, b"").unwrap();
        assert!(verifier().verify(&sig, b"").is_ok());
        let bin = [0u8, 255, 10, 13];
        let sig = sign(SECRET, &bin).unwrap();
        assert!(verifier().verify(&sig, &bin).is_ok());
        assert!(verifier().verify(&sig, &bin[..3]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_headers_never_panic(header in ".*", ts in ".*", body in proptest::collection::vec(proptest::num::u8::ANY, 0..64), now in proptest::num::u64::ANY) {
            let v = verifier();
            let _ = v.verify(&header, &body);
            let _ = v.verify_timestamped(&header, &ts, &body, now);
        }

        #[test]
        fn sign_verify_round_trip(secret in proptest::collection::vec(proptest::num::u8::ANY, 1..80), body in proptest::collection::vec(proptest::num::u8::ANY, 0..256), ts in proptest::num::u64::ANY) {
            let v = WebhookVerifier::new(&[&secret]).unwrap().with_tolerance(0);
            proptest::prop_assert!(v.verify(&sign(&secret, &body).unwrap(), &body).is_ok());
            let sig = sign_timestamped(&secret, ts, &body).unwrap();
            proptest::prop_assert!(v.verify_timestamped(&sig, &ts.to_string(), &body, ts).is_ok());
        }
    }
}
