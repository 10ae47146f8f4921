//! Rate-limit arithmetic: the generic cell rate algorithm (GCRA) on plain numbers.
//!
//! The core keeps no counters: a host stores one small [`GcraState`] per key (Envoy shared data,
//! a Durable Object, Redis), passes it in with `now_ms`, and stores back the state it gets out,
//! typically with a compare-and-swap so concurrent workers cannot both spend the last request.
//!
//! A limit of `count` per `period` allows a burst of `count` requests from an idle bucket, then one
//! request every `period / count`. The arithmetic is exact: the state keeps the sub-millisecond
//! remainder, so `3/second` refills at exactly 333⅓ ms and a full bucket is back after exactly one
//! period. All operations saturate instead of overflowing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{AuthError, ErrorCode};

/// Longer than any sensible limit (`18446744073709551615/18446744073709551s` is 41).
const MAX_LIMIT_LEN: usize = 64;

/// The largest period whose length in milliseconds still fits in a `u64`.
const MAX_PERIOD_SECS: u64 = u64::MAX / 1000;

/// `count` requests per `period_secs`. Both are at least 1; the period fits in `u64` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    count: u64,
    period_secs: u64,
}

impl RateLimit {
    /// Refuses a zero count or period and periods too long to express in milliseconds.
    pub fn new(count: u64, period_secs: u64) -> Result<RateLimit, AuthError> {
        if count == 0 {
            return Err(invalid("rate limit count must be at least 1"));
        }
        if period_secs == 0 {
            return Err(invalid("rate limit period must be at least 1 second"));
        }
        if period_secs > MAX_PERIOD_SECS {
            return Err(invalid("rate limit period is too long"));
        }
        Ok(RateLimit { count, period_secs })
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn period_secs(&self) -> u64 {
        self.period_secs
    }

    fn period_ms(&self) -> u64 {
        // `new` guarantees the product fits.
        self.period_secs.saturating_mul(1000)
    }
}

impl FromStr for RateLimit {
    type Err = AuthError;

    /// Parses `<count>/<period>` where the period is an optional multiplier and a unit:
    /// `1000/hour`, `100/minute`, `100/min`, `10/s`, `5000/day`, `60/10s`. Units are `s`, `sec`,
    /// `second`, `min`, `minute`, `h`, `hr`, `hour`, `d`, `day` (plurals allowed). A bare `m` is
    /// refused because it reads as "month" as easily as "minute".
    fn from_str(s: &str) -> Result<RateLimit, AuthError> {
        if s.is_empty() {
            return Err(invalid("rate limit is empty"));
        }
        if s.len() > MAX_LIMIT_LEN {
            return Err(invalid("rate limit is too long"));
        }
        let (count_text, period_text) = s
            .split_once('/')
            .ok_or_else(|| invalid("rate limit must look like 1000/hour"))?;
        let count = parse_number(count_text, "rate limit count is not a number")?;
        let unit_start = period_text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| invalid("rate limit period needs a unit such as s, min, hour or day"))?;
        let (multiplier_text, unit) = period_text.split_at(unit_start);
        let multiplier = if multiplier_text.is_empty() {
            1
        } else {
            parse_number(multiplier_text, "rate limit period is not a number")?
        };
        let unit_secs = match unit {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(invalid("rate limit period has an unknown unit")),
        };
        let period_secs = multiplier
            .checked_mul(unit_secs)
            .ok_or_else(|| invalid("rate limit period is too long"))?;
        RateLimit::new(count, period_secs)
    }
}

impl fmt::Display for RateLimit {
    /// The canonical form, which parses back to the same limit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.period_secs {
            1 => write!(f, "{}/second", self.count),
            60 => write!(f, "{}/minute", self.count),
            3600 => write!(f, "{}/hour", self.count),
            86_400 => write!(f, "{}/day", self.count),
            secs => write!(f, "{}/{}s", self.count, secs),
        }
    }
}

/// The string form (`1000/hour`), so a document holding a limit is checked when it is read.
impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RateLimit, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|e: AuthError| {
            serde::de::Error::custom(format_args!(
                "{}, expected a count per period such as `100/minute`",
                e.message()
            ))
        })
    }
}

/// The canonical string form, which deserializes back to the same limit.
impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn invalid(message: &'static str) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidConfig, message)
}

/// ASCII digits only (no sign, no spaces); overflow is "too large", never a wrap.
fn parse_number(text: &str, not_a_number: &'static str) -> Result<u64, AuthError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(not_a_number));
    }
    text.parse()
        .map_err(|_| invalid("rate limit number is too large"))
}

/// The per-key state: the theoretical arrival time (TAT) of the next request, in unix
/// milliseconds plus a remainder in units of `1 / count` ms. A fresh key is `GcraState::default()`.
///
/// A remainder that does not fit the current limit (the count was lowered) is clamped, which
/// changes the TAT by less than a millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GcraState {
    tat_ms: u64,
    remainder: u64,
}

impl GcraState {
    /// The theoretical arrival time (unix ms): the further in the past, the longer the bucket
    /// has been idle (hosts drop the most idle buckets first).
    pub fn tat_ms(&self) -> u64 {
        self.tat_ms
    }

    /// Size of [`GcraState::to_bytes`].
    pub const LEN: usize = 16;

    /// A fixed-size big-endian encoding, so a host can compare-and-swap it as an opaque value.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.tat_ms.to_be_bytes());
        out[8..].copy_from_slice(&self.remainder.to_be_bytes());
        out
    }

    /// `None` unless `bytes` is exactly [`GcraState::LEN`] long. What to do with a corrupt value
    /// (start fresh or refuse) is the host's policy.
    pub fn from_bytes(bytes: &[u8]) -> Option<GcraState> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        let (tat, remainder) = bytes.split_at(8);
        Some(GcraState {
            tat_ms: u64::from_be_bytes(tat.try_into().ok()?),
            remainder: u64::from_be_bytes(remainder.try_into().ok()?),
        })
    }

    /// Whether the bucket is full again at `now_ms`: its TAT has passed, so [`check`] decides
    /// exactly as for a fresh bucket, whatever the limit, and a store may drop the state.
    pub fn is_idle(&self, now_ms: u64) -> bool {
        self.tat_ms < now_ms
    }
}

/// The outcome of one [`check`]: what to answer and what to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub allowed: bool,
    /// The configured count (`X-RateLimit-Limit`).
    pub limit: u64,
    /// Requests still allowed right now after this one (`X-RateLimit-Remaining`).
    pub remaining: u64,
    /// Seconds, rounded up, until the bucket is full again (`X-RateLimit-Reset`, as a delta).
    pub reset_after_secs: u64,
    /// Seconds, rounded up, until a request can succeed; `None` when allowed (`Retry-After`).
    pub retry_after_secs: Option<u64>,
    /// The state to store. On refusal it equals the input, so nothing needs writing back.
    pub state: GcraState,
}

impl Admission {
    /// Response headers for this admission: the `X-RateLimit-*` trio always, plus `Retry-After`
    /// on refusal.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("X-RateLimit-Limit", self.limit.to_string()),
            ("X-RateLimit-Remaining", self.remaining.to_string()),
            ("X-RateLimit-Reset", self.reset_after_secs.to_string()),
        ];
        if let Some(secs) = self.retry_after_secs {
            headers.push(("Retry-After", secs.to_string()));
        }
        headers
    }

    /// The 429 refusal, or `None` when the request is allowed.
    pub fn error(&self) -> Option<AuthError> {
        self.retry_after_secs
            .map(|secs| AuthError::new(ErrorCode::RateLimited).with_retry_after(secs))
    }
}

/// Decides one request at `now_ms` (unix milliseconds). Pure: the caller stores `state` from
/// the result. A clock that moves backwards can only cause refusals, never extra requests.
pub fn check(state: GcraState, limit: &RateLimit, now_ms: u64) -> Admission {
    // Time is measured in ticks of 1/count ms, so the emission interval period/count is the
    // integer `period_ms` and nothing is rounded. Every value fits in u128; saturate regardless.
    let count = u128::from(limit.count);
    let interval = u128::from(limit.period_ms());
    let period = interval.saturating_mul(count);
    let now = u128::from(now_ms).saturating_mul(count);
    let remainder = u128::from(state.remainder).min(count.saturating_sub(1));
    let tat = u128::from(state.tat_ms)
        .saturating_mul(count)
        .saturating_add(remainder);

    let base = tat.max(now);
    let new_tat = base.saturating_add(interval);
    let conforms_at = new_tat.saturating_sub(period);
    let ticks_per_sec = count.saturating_mul(1000);
    // A TAT past the end of u64 milliseconds cannot be stored; refuse rather than saturate,
    // because a state that stops advancing would allow every later request.
    let new_tat_ms = u64::try_from(new_tat / count).ok();

    let Some(tat_ms) = new_tat_ms.filter(|_| now >= conforms_at) else {
        return Admission {
            allowed: false,
            limit: limit.count,
            remaining: 0,
            reset_after_secs: ceil_secs(base - now, ticks_per_sec),
            retry_after_secs: Some(match new_tat_ms {
                Some(_) => ceil_secs(conforms_at - now, ticks_per_sec),
                None => u64::MAX,
            }),
            state,
        };
    };
    let headroom = now.saturating_add(period).saturating_sub(new_tat);
    let remaining = (headroom / interval).min(count.saturating_sub(1));
    Admission {
        allowed: true,
        limit: limit.count,
        remaining: saturate_u64(remaining),
        reset_after_secs: ceil_secs(new_tat - now, ticks_per_sec),
        retry_after_secs: None,
        state: GcraState {
            tat_ms,
            remainder: saturate_u64(new_tat % count),
        },
    }
}

fn ceil_secs(ticks: u128, ticks_per_sec: u128) -> u64 {
    saturate_u64(ticks.div_ceil(ticks_per_sec))
}

fn saturate_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn serde_uses_the_string_form() {
        let limit: RateLimit = serde_json::from_str(r#""100/min""#).unwrap();
        assert_eq!(limit, RateLimit::new(100, 60).unwrap());
        assert_eq!(serde_json::to_string(&limit).unwrap(), r#""100/minute""#);
        let e = serde_json::from_str::<RateLimit>(r#""0/hour""#).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("rate limit count must be at least 1"));
        assert!(serde_json::from_str::<RateLimit>("100").is_err());
    }

    #[test]
    fn an_idle_state_decides_like_a_fresh_bucket() {
        let limit: RateLimit = "3/minute".parse().unwrap();
        let mut state = GcraState::default();
        for _ in 0..3 {
            state = check(state, &limit, 1_000_000).state;
        }
        assert!(!state.is_idle(1_000_000), "just used");
        assert!(!check(state, &limit, 1_000_000).allowed);
        let later = 1_000_000 + 60_001;
        assert!(state.is_idle(later));
        for other in ["3/minute", "1/second", "1000/hour"] {
            let l: RateLimit = other.parse().unwrap();
            assert_eq!(
                check(state, &l, later),
                check(GcraState::default(), &l, later),
                "{other}"
            );
        }
    }

    const T0: u64 = 1_700_000_000_000;

    fn limit(s: &str) -> RateLimit {
        s.parse().unwrap()
    }

    fn err(s: &str) -> String {
        let e = s.parse::<RateLimit>().unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig, "{s:?}");
        e.message().to_string()
    }

    /// Sends `n` requests at `now_ms`, returning how many were allowed and the final state.
    fn burst(mut state: GcraState, l: &RateLimit, now_ms: u64, n: u64) -> (u64, GcraState) {
        let mut allowed = 0;
        for _ in 0..n {
            let d = check(state, l, now_ms);
            if d.allowed {
                allowed += 1;
            }
            state = d.state;
        }
        (allowed, state)
    }

    #[test]
    fn parses_documented_forms() {
        for (text, count, period) in [
            ("1000/hour", 1000, 3600),
            ("100/minute", 100, 60),
            ("100/min", 100, 60),
            ("10/second", 10, 1),
            ("10/s", 10, 1),
            ("5000/day", 5000, 86_400),
            ("60/10s", 60, 10),
            ("1/2hours", 1, 7200),
            ("7/3d", 7, 259_200),
            ("5/15min", 5, 900),
            ("18446744073709551615/s", u64::MAX, 1),
        ] {
            let l = limit(text);
            assert_eq!((l.count(), l.period_secs()), (count, period), "{text}");
        }
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for (text, shown) in [
            ("1000/hours", "1000/hour"),
            ("100/min", "100/minute"),
            ("10/s", "10/second"),
            ("5000/d", "5000/day"),
            ("60/10s", "60/10s"),
            ("60/60min", "60/hour"),
            ("1/90s", "1/90s"),
            ("1/2h", "1/7200s"),
        ] {
            let l = limit(text);
            assert_eq!(l.to_string(), shown);
            assert_eq!(limit(shown), l);
        }
    }

    #[test]
    fn refuses_zero_overflow_and_garbage() {
        assert!(err("0/hour").contains("at least 1"));
        assert!(err("10/0s").contains("at least 1 second"));
        assert!(err("18446744073709551616/s").contains("too large"));
        assert!(err("1/18446744073709551616s").contains("too large"));
        assert!(err("1/18446744073709551615d").contains("too long"));
        assert!(err("1/18446744073709552s").contains("too long"));
        assert!(err("").contains("empty"));
        assert!(err(&"9".repeat(10_000)).contains("too long"));
        assert!(err("100").contains("1000/hour"));
        assert!(err("100/10").contains("needs a unit"));
        assert!(err("100/m").contains("unknown unit"));
        assert!(err("100/month").contains("unknown unit"));
        assert!(err("100/ms").contains("unknown unit"));
        for bad in [
            "/hour", "-1/hour", "+1/hour", " 1/hour", "1/hour ", "1 /hour", "1/ hour", "1/Hour",
            "1/hour/2", "1//hour", "1/-5s", "1.5/s", "1/1.5s", "１/s", "1/ｓ", "1/s\0", "abc",
        ] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad:?}");
        }
        assert_eq!(
            RateLimit::new(0, 1).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        assert!(RateLimit::new(1, u64::MAX / 1000).is_ok());
        assert!(RateLimit::new(1, u64::MAX / 1000 + 1).is_err());
    }

    #[test]
    fn fresh_bucket_allows_exactly_count_then_refuses() {
        let l = limit("10/second");
        let mut state = GcraState::default();
        for expected_remaining in (0..10).rev() {
            let d = check(state, &l, T0);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            assert_eq!(d.retry_after_secs, None);
            state = d.state;
        }
        let refused = check(state, &l, T0);
        assert_eq!(
            refused,
            Admission {
                allowed: false,
                limit: 10,
                remaining: 0,
                reset_after_secs: 1,
                retry_after_secs: Some(1),
                state,
            }
        );
    }

    #[test]
    fn refills_one_request_per_interval() {
        let l = limit("10/second");
        let (allowed, state) = burst(GcraState::default(), &l, T0, 10);
        assert_eq!(allowed, 10);
        assert!(!check(state, &l, T0 + 99).allowed);
        let (allowed, state) = burst(state, &l, T0 + 100, 5);
        assert_eq!(allowed, 1);
        let (allowed, _) = burst(state, &l, T0 + 350, 5);
        assert_eq!(allowed, 2);
    }

    #[test]
    fn recovers_fully_after_one_period() {
        for text in ["10/second", "1000/hour", "60/10s", "3/second", "7/minute"] {
            let l = limit(text);
            let (allowed, state) = burst(GcraState::default(), &l, T0, l.count() + 5);
            assert_eq!(allowed, l.count(), "{text}");
            let period_ms = l.period_secs() * 1000;
            let (allowed, _) = burst(state, &l, T0 + period_ms - 1, l.count() + 5);
            assert_eq!(allowed, l.count() - 1, "{text} just before the period");
            let (allowed, _) = burst(state, &l, T0 + period_ms, l.count() + 5);
            assert_eq!(allowed, l.count(), "{text} after the period");
        }
    }

    #[test]
    fn uneven_intervals_are_exact() {
        // 3/second refills every 333⅓ ms: at 333 ms not yet, at 334 ms one, at 667 ms another.
        let l = limit("3/second");
        let (_, state) = burst(GcraState::default(), &l, T0, 3);
        assert!(!check(state, &l, T0 + 333).allowed);
        let d = check(state, &l, T0 + 334);
        assert!(d.allowed);
        assert!(!check(d.state, &l, T0 + 666).allowed);
        let d = check(d.state, &l, T0 + 667);
        assert!(d.allowed);
        let d = check(d.state, &l, T0 + 1000);
        assert!(d.allowed);
        assert!(!check(d.state, &l, T0 + 1000).allowed);
        // Over a long steady stream the rate is exactly 3 per second.
        let mut state = GcraState::default();
        let mut allowed = 0;
        for ms in (0..30_000).step_by(10) {
            let d = check(state, &l, T0 + ms);
            allowed += u64::from(d.allowed);
            state = d.state;
        }
        assert_eq!(allowed, 3 + 90 - 1);
    }

    #[test]
    fn sub_millisecond_intervals_are_supported() {
        let l = limit("5000/second");
        let (allowed, state) = burst(GcraState::default(), &l, T0, 6000);
        assert_eq!(allowed, 5000);
        let (allowed, _) = burst(state, &l, T0 + 1, 100);
        assert_eq!(allowed, 5);
    }

    #[test]
    fn refusal_leaves_state_unchanged_and_reports_retry() {
        let l = limit("1000/hour");
        let (_, state) = burst(GcraState::default(), &l, T0, 1000);
        let d = check(state, &l, T0);
        assert!(!d.allowed);
        assert_eq!(d.state, state);
        // One request every 3.6 s: a retry succeeds after 4 whole seconds.
        assert_eq!(d.retry_after_secs, Some(4));
        assert_eq!(d.reset_after_secs, 3600);
        let e = d.error().unwrap();
        assert_eq!(e.code(), ErrorCode::RateLimited);
        assert_eq!(e.retry_after(), Some(4));
        assert_eq!(
            d.headers(),
            vec![
                ("X-RateLimit-Limit", "1000".to_string()),
                ("X-RateLimit-Remaining", "0".to_string()),
                ("X-RateLimit-Reset", "3600".to_string()),
                ("Retry-After", "4".to_string()),
            ]
        );
    }

    #[test]
    fn allowed_headers_have_no_retry_after() {
        let d = check(GcraState::default(), &limit("1000/hour"), T0);
        assert!(d.error().is_none());
        assert_eq!(
            d.headers(),
            vec![
                ("X-RateLimit-Limit", "1000".to_string()),
                ("X-RateLimit-Remaining", "999".to_string()),
                ("X-RateLimit-Reset", "4".to_string()),
            ]
        );
    }

    #[test]
    fn a_clock_moving_backwards_only_refuses() {
        let l = limit("10/second");
        let d = check(GcraState::default(), &l, T0);
        let earlier = check(d.state, &l, T0 - 10_000);
        assert!(!earlier.allowed);
        assert_eq!(earlier.retry_after_secs, Some(10));
    }

    #[test]
    fn lowering_the_count_clamps_the_remainder() {
        let (_, state) = burst(GcraState::default(), &limit("1000/second"), T0, 1);
        let d = check(state, &limit("3/second"), T0);
        assert!(d.allowed);
        assert_eq!(d.remaining, 1);
    }

    #[test]
    fn state_round_trips_through_bytes() {
        let l = limit("3/second");
        let (_, state) = burst(GcraState::default(), &l, T0, 2);
        let bytes = state.to_bytes();
        assert_eq!(bytes.len(), GcraState::LEN);
        assert_eq!(GcraState::from_bytes(&bytes), Some(state));
        assert_eq!(GcraState::default().to_bytes(), [0u8; 16]);
        assert_eq!(GcraState::from_bytes(&bytes[..15]), None);
        assert_eq!(GcraState::from_bytes(&[0u8; 17]), None);
        assert_eq!(GcraState::from_bytes(&[]), None);
    }

    #[test]
    fn extremes_saturate_instead_of_overflowing() {
        let max = RateLimit::new(u64::MAX, MAX_PERIOD_SECS).unwrap();
        let one = RateLimit::new(1, 1).unwrap();
        let full = GcraState::from_bytes(&[0xff; 16]).unwrap();
        for l in [max, one] {
            for now in [0, 1, T0, u64::MAX - 1, u64::MAX] {
                for s in [GcraState::default(), full] {
                    let d = check(s, &l, now);
                    assert!(d.remaining < l.count() || l.count() == u64::MAX);
                    if !d.allowed {
                        assert_eq!(d.state, s);
                        assert!(d.retry_after_secs.unwrap() >= 1);
                    }
                }
            }
        }
        // At the end of u64 time the state cannot advance, so requests are refused rather
        // than allowed forever by a state that stopped moving.
        let d = check(GcraState::default(), &one, u64::MAX - 1000);
        assert!(d.allowed);
        assert_eq!(d.state.to_bytes()[..8], u64::MAX.to_be_bytes());
        let d = check(d.state, &one, u64::MAX - 1000);
        assert_eq!(d.retry_after_secs, Some(u64::MAX));
        assert!(!check(GcraState::default(), &one, u64::MAX).allowed);
        assert!(!check(full, &one, u64::MAX).allowed);
    }

    proptest! {
        #[test]
        fn arbitrary_limit_text_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<RateLimit>();
        }

        #[test]
        fn structured_limit_text_never_panics(
            count in "[0-9]{0,25}", mult in "[0-9]{0,25}", unit in "[a-z]{0,8}"
        ) {
            if let Ok(l) = format!("{count}/{mult}{unit}").parse::<RateLimit>() {
                prop_assert_eq!(l.to_string().parse::<RateLimit>().unwrap(), l);
            }
        }

        #[test]
        fn check_never_panics_and_keeps_invariants(
            count in 1u64.., period in 1u64..=MAX_PERIOD_SECS,
            tat in any::<u64>(), remainder in any::<u64>(), now in any::<u64>()
        ) {
            let l = RateLimit::new(count, period).unwrap();
            let bytes = [tat.to_be_bytes(), remainder.to_be_bytes()].concat();
            let state = GcraState::from_bytes(&bytes).unwrap();
            let d = check(state, &l, now);
            prop_assert_eq!(d.limit, count);
            prop_assert!(d.remaining < count);
            prop_assert_eq!(d.allowed, d.retry_after_secs.is_none());
            if !d.allowed {
                prop_assert_eq!(d.state, state);
            }
            prop_assert_eq!(GcraState::from_bytes(&d.state.to_bytes()), Some(d.state));
        }

        #[test]
        fn idle_bucket_allows_exactly_count(count in 1u64..200, period in 1u64..100_000, now in 0u64..u64::MAX / 2) {
            let l = RateLimit::new(count, period).unwrap();
            let (allowed, _) = burst(GcraState::default(), &l, now, count + 3);
            prop_assert_eq!(allowed, count);
        }
    }
}
