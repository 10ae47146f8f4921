//! A key set fetched from a URL on the core's schedule ([`crate::schedule`]), with the
//! [`Verifier`] it feeds: `verifyJwt`'s remote keys in the npm package. The host fetches when
//! [`RemoteJwks::begin`] says so and hands the answer to [`RemoteJwks::fetched`]; an unknown
//! `kid` asks [`RemoteJwks::request_refetch`] whether to fetch again before retrying.

use crate::alg::Algorithm;
use crate::error::{AuthError, ErrorCode};
use crate::jwks::JwkSet;
use crate::schedule::{SourceState, Timing, Transition};
use crate::signature_check::{Prepared, SignatureCheck};
use crate::verify::{self, Verified, Verifier};

#[derive(Debug)]
pub struct RemoteJwks {
    verifier: Verifier,
    state: SourceState,
    /// Unix ms of the last good load (`None`: never).
    loaded_at_ms: Option<u64>,
    /// Why the last fetch failed, for a caller that has no keys at all.
    last_error: Option<AuthError>,
}

impl RemoteJwks {
    pub fn new(policy: verify::Validation) -> RemoteJwks {
        RemoteJwks {
            verifier: Verifier::new(JwkSet::default(), policy),
            state: SourceState::default(),
            loaded_at_ms: None,
            last_error: None,
        }
    }

    /// Takes the fetch when it is due: `true` if the host must fetch now.
    pub fn begin(&mut self, now_ms: u64, timing: &Timing) -> bool {
        self.state.begin(now_ms, timing)
    }

    /// Nothing was ever loaded: a caller has nothing to verify with until the fetch answers.
    pub fn is_empty(&self) -> bool {
        self.loaded_at_ms.is_none()
    }

    /// The fetch's answer (status 0: none). A refused document keeps the previous keys.
    pub fn fetched(
        &mut self,
        status: u16,
        body: &[u8],
        now_ms: u64,
        timing: &Timing,
    ) -> Transition {
        let result = match status {
            200 => std::str::from_utf8(body)
                .map_err(|_| AuthError::new(ErrorCode::InvalidKey))
                .and_then(JwkSet::from_json_lenient)
                .and_then(|set| match set.is_empty() {
                    true => Err(AuthError::with_message(
                        ErrorCode::KeysUnavailable,
                        "the key set has no usable key",
                    )),
                    false => Ok(set),
                }),
            0 => Err(AuthError::with_message(
                ErrorCode::KeysUnavailable,
                "the JWKS did not answer",
            )),
            s => Err(AuthError::with_message(
                ErrorCode::KeysUnavailable,
                format!("the JWKS answered HTTP {s}"),
            )),
        };
        let ok = result.is_ok();
        match result {
            Ok(set) => {
                self.verifier = Verifier::new(set, self.verifier.validation().clone());
                self.loaded_at_ms = Some(now_ms);
                self.last_error = None;
            }
            Err(e) => {
                let message = e.message().to_owned();
                self.last_error =
                    Some(AuthError::with_message(ErrorCode::KeysUnavailable, message));
            }
        }
        self.state.finish(now_ms, timing, ok)
    }

    /// An unknown `kid`: `true` if the host should fetch now (within the cooldown, not).
    pub fn request_refetch(&mut self, now_ms: u64, timing: &Timing) -> bool {
        self.state.request_refetch(now_ms, timing) && self.state.begin(now_ms, timing)
    }

    /// [`Verifier::prepare`] with the keys loaded, if at `now_ms` (the host's clock) they are not
    /// older than `refresh + max_stale`; `now` (unix seconds) is for the claims.
    pub fn prepare(
        &self,
        token: &str,
        now: u64,
        now_ms: u64,
        timing: &Timing,
        native: impl Fn(Algorithm) -> bool,
    ) -> Result<Prepared, AuthError> {
        self.usable(now_ms, timing)?.prepare(token, now, native)
    }

    /// [`Verifier::complete`]: the check holds its own keys, so a refetch meanwhile is harmless.
    pub fn complete(
        &self,
        check: SignatureCheck,
        verdict: Option<bool>,
        now: u64,
    ) -> Result<Verified, AuthError> {
        self.verifier.complete(check, verdict, now)
    }

    fn usable(&self, now_ms: u64, timing: &Timing) -> Result<&Verifier, AuthError> {
        match self.loaded_at_ms {
            Some(at) if timing.is_usable(at, now_ms) => Ok(&self.verifier),
            _ => Err(self
                .last_error
                .clone()
                .unwrap_or_else(|| AuthError::new(ErrorCode::KeysUnavailable))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SigningKey;

    const T: Timing = Timing {
        refresh_ms: 600_000,
        timeout_ms: 5_000,
        max_stale_ms: 3_600_000,
        refetch_cooldown_ms: 30_000,
    };
    const NOW: u64 = 1_800_000_000_000;

    fn token(key: &SigningKey) -> String {
        let claims = serde_json::json!({"sub": "u", "exp": NOW / 1000 + 86_400 * 2});
        key.mint(claims.as_object().unwrap(), None, &serde_json::Map::new())
            .unwrap()
    }

    #[test]
    fn keys_load_refresh_refetch_and_expire_on_the_schedule() {
        let one = SigningKey::generate(Algorithm::ES256, Some("one".into())).unwrap();
        let two = SigningKey::generate(Algorithm::ES256, Some("two".into())).unwrap();
        let jwks = |keys: &[&SigningKey]| {
            let keys: Vec<_> = keys.iter().map(|k| k.public_jwk()).collect();
            serde_json::json!({ "keys": keys }).to_string()
        };
        // Through the host-delegated path, with the core as the host's crypto.
        let verify = |r: &RemoteJwks, key: &SigningKey, now_ms: u64| match r.prepare(
            &token(key),
            now_ms / 1000,
            now_ms,
            &T,
            |_| true,
        )? {
            Prepared::Check(c) => r.complete(c, None, now_ms / 1000),
            Prepared::Verified(v) => Ok(v),
        };
        let mut r = RemoteJwks::new(verify::Validation::default());
        let e = verify(&r, &one, NOW).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KeysUnavailable);
        assert!(r.begin(NOW, &T) && r.is_empty());
        assert_eq!(r.fetched(500, b"", NOW, &T), Transition::OutageStarted);
        let e = verify(&r, &one, NOW).unwrap_err();
        assert!(e.message().contains("HTTP 500"), "{}", e.message());
        assert!(
            !r.begin(NOW + 500, &T) && r.begin(NOW + 1_000, &T),
            "retried after 1 s"
        );
        r.fetched(200, jwks(&[&one]).as_bytes(), NOW + 1_000, &T);
        assert!(verify(&r, &one, NOW + 1_000).is_ok());
        // Rotation: an unknown kid refetches once, then the cooldown holds.
        let e = verify(&r, &two, NOW + 2_000).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnknownKey);
        assert!(r.request_refetch(NOW + 2_000, &T));
        r.fetched(200, jwks(&[&one, &two]).as_bytes(), NOW + 2_100, &T);
        assert!(verify(&r, &two, NOW + 2_100).is_ok());
        assert!(!r.request_refetch(NOW + 3_000, &T), "within the cooldown");
        // Garbage keeps the last good keys, until refresh + max_stale has passed.
        assert!(r.begin(NOW + 2_100 + T.refresh_ms, &T));
        r.fetched(200, b"<html>", NOW + 2_100 + T.refresh_ms, &T);
        assert!(verify(&r, &one, NOW + 2_100 + T.refresh_ms).is_ok());
        let late = NOW + 2_101 + T.refresh_ms + T.max_stale_ms;
        let e = verify(&r, &one, late).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KeysUnavailable);
    }
}
