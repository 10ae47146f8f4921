//! When each remote document (a JWKS, a discovery document, a key store) is fetched, quinn-style:
//! the core keeps the timers and the hosts only ask what is due, fetch it and report back.
//!
//! One curve for every host: a loaded document is fetched again every `refresh`; a failed fetch
//! is retried after 1 s, doubling with each consecutive failure up to `refresh`, so a source
//! that was down at start is picked up within seconds, not at the next refresh; an unknown `kid`
//! (the issuer may have rotated its keys) moves the next fetch to now, at most once per cooldown;
//! a document is usable for `refresh + max_stale` after it was loaded, then requests fail closed.
//!
//! [`SourceState`] is plain data with a fixed byte form, so a host whose threads share nothing
//! but a key-value store (Envoy's shared data) can keep it there and update it by
//! compare-and-swap with the same methods a single-threaded host calls on a [`Schedule`].

use std::fmt;

/// Default least time between two unknown-`kid` refetches of one source.
pub const REFETCH_COOLDOWN_MS: u64 = 10_000;
/// The first retry after a failed fetch; each further failure doubles it, up to `refresh`.
const RETRY_BASE_MS: u64 = 1_000;
/// A fetch's lease lapses this long after its own timeout, so a host that lost the answer
/// (a thread or isolate gone mid-call) blocks nobody for long.
const LEASE_MARGIN_MS: u64 = 2_000;

/// A source's timing settings, from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub refresh_ms: u64,
    pub timeout_ms: u64,
    /// How long past `refresh` a document stays usable while fetches fail.
    pub max_stale_ms: u64,
    pub refetch_cooldown_ms: u64,
}

impl Timing {
    /// Timing from the configuration's seconds.
    pub fn from_secs(refresh_secs: u64, timeout_ms: u64, max_stale_secs: u64) -> Timing {
        Timing {
            refresh_ms: refresh_secs.saturating_mul(1000),
            timeout_ms,
            max_stale_ms: max_stale_secs.saturating_mul(1000),
            refetch_cooldown_ms: REFETCH_COOLDOWN_MS,
        }
    }

    /// How long after a fetch the next one is due, given the consecutive failures so far.
    pub fn next_fetch_in(&self, failures: u32) -> u64 {
        if failures == 0 {
            return self.refresh_ms;
        }
        let backoff = RETRY_BASE_MS.saturating_mul(1 << failures.saturating_sub(1).min(20));
        backoff.min(self.refresh_ms)
    }

    /// Whether a document loaded at `loaded_at_ms` may still be used at `now_ms`.
    pub fn is_usable(&self, loaded_at_ms: u64, now_ms: u64) -> bool {
        now_ms.saturating_sub(loaded_at_ms) <= self.refresh_ms.saturating_add(self.max_stale_ms)
    }
}

/// One source's place in the schedule. The zero value is "never fetched, due now".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceState {
    /// Unix ms at which the next fetch is due.
    pub next_ms: u64,
    /// A fetch is out until then (0: none).
    pub lease_until_ms: u64,
    /// When an unknown `kid` last moved a fetch forward (0: never); the cooldown is counted
    /// from it with the timing in force when the next one is asked for.
    pub last_refetch_ms: u64,
    /// Consecutive failed fetches (0: the last one succeeded, or none yet).
    pub failures: u32,
}

/// What a finished fetch changed, for the host's log: an outage is logged once when it starts
/// and once when it ends, not once per retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Loaded,
    /// Loaded again after this many failed attempts.
    Recovered {
        failures: u32,
    },
    OutageStarted,
    StillFailing,
}

impl Transition {
    /// The one log line this transition deserves, if any. `why` says what failed (never a
    /// document's content).
    pub fn log_line(self, id: &str, location: &str, why: &str) -> Option<String> {
        match self {
            Transition::Loaded | Transition::StillFailing => None,
            Transition::Recovered { failures } => Some(format!(
                "{id}: fetched again after {failures} failed attempt(s)"
            )),
            Transition::OutageStarted => Some(format!(
                "{id}: fetch of {location} failed: {why}; the last good document stays in use \
                 (max_stale_secs), without one requests answer keys_unavailable; logged once \
                 until a fetch succeeds"
            )),
        }
    }

    /// The same for a call made in a request: `why` says what failed (never the answer's
    /// content), `location` where the call went (never a key's hash).
    pub fn call_log_line(self, purpose: &str, location: &str, why: &str) -> Option<String> {
        match self {
            Transition::Loaded | Transition::StillFailing => None,
            Transition::Recovered { failures } => Some(format!(
                "{purpose}: answered again after {failures} failed call(s)"
            )),
            Transition::OutageStarted => Some(format!(
                "{purpose}: call to {location} failed: {why}; credentials it would decide on \
                 answer keys_unavailable, answers cached before stay in use until they expire; \
                 logged once until a call succeeds"
            )),
        }
    }
}

impl SourceState {
    const LEN: usize = 28;

    pub fn to_bytes(self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0..8].copy_from_slice(&self.next_ms.to_le_bytes());
        out[8..16].copy_from_slice(&self.lease_until_ms.to_le_bytes());
        out[16..24].copy_from_slice(&self.last_refetch_ms.to_le_bytes());
        out[24..28].copy_from_slice(&self.failures.to_le_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<SourceState> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let mut f = [0u8; 4];
        f.copy_from_slice(&bytes[24..28]);
        Some(SourceState {
            next_ms: u64_at(0),
            lease_until_ms: u64_at(8),
            last_refetch_ms: u64_at(16),
            failures: u32::from_le_bytes(f),
        })
    }

    /// Due, and no fetch is out.
    pub fn is_due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_ms && now_ms >= self.lease_until_ms
    }

    /// Takes the lease when due: `true` if the caller must fetch now.
    pub fn begin(&mut self, now_ms: u64, timing: &Timing) -> bool {
        if !self.is_due(now_ms) {
            return false;
        }
        self.lease_until_ms = now_ms
            .saturating_add(timing.timeout_ms)
            .saturating_add(LEASE_MARGIN_MS);
        true
    }

    /// Records the end of a fetch and schedules the next one. A refetch asked for while the
    /// fetch was out is served by its answer.
    pub fn finish(&mut self, now_ms: u64, timing: &Timing, ok: bool) -> Transition {
        self.lease_until_ms = 0;
        let transition = self.record(ok);
        self.next_ms = now_ms.saturating_add(timing.next_fetch_in(self.failures));
        transition
    }

    /// Counts one attempt's outcome: the outage bookkeeping alone, for a fetch (`finish`) and
    /// for a call the host makes in a request (introspection, a key lookup), which has no
    /// schedule of its own.
    pub fn record(&mut self, ok: bool) -> Transition {
        let before = self.failures;
        self.failures = if ok { 0 } else { before.saturating_add(1) };
        match (ok, before) {
            (true, 0) => Transition::Loaded,
            (true, failures) => Transition::Recovered { failures },
            (false, 0) => Transition::OutageStarted,
            (false, _) => Transition::StillFailing,
        }
    }

    /// An unknown `kid` (or no keys): moves the next fetch to now, at most once per cooldown.
    /// Nothing to do when a fetch is due or out already (at start, during an outage's retries),
    /// and the cooldown is then kept for a real rotation. `true` if the fetch was moved.
    pub fn request_refetch(&mut self, now_ms: u64, timing: &Timing) -> bool {
        let cooling = self.last_refetch_ms != 0
            && now_ms
                < self
                    .last_refetch_ms
                    .saturating_add(timing.refetch_cooldown_ms);
        if cooling || self.next_ms <= now_ms || self.lease_until_ms > now_ms {
            return false;
        }
        self.last_refetch_ms = now_ms;
        self.next_ms = now_ms;
        true
    }

    /// When this source next needs the host: its due time, or when a lease lapses.
    pub fn wakeup_ms(&self) -> u64 {
        self.next_ms.max(self.lease_until_ms)
    }
}

/// The states of one owner's sources (a Worker isolate's gateway, a JavaScript key cache), by
/// fetch id. Sources appear on first use.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    sources: Vec<(String, SourceState)>,
}

impl Schedule {
    pub fn state(&self, id: &str) -> SourceState {
        self.sources
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    pub fn state_mut(&mut self, id: &str) -> &mut SourceState {
        let i = match self.sources.iter().position(|(i, _)| i == id) {
            Some(i) => i,
            None => {
                self.sources.push((id.to_owned(), SourceState::default()));
                self.sources.len() - 1
            }
        };
        &mut self.sources[i].1
    }

    /// The earliest time any source needs the host (`None`: no source yet). A host with timers
    /// sleeps until then; a request-driven host asks [`SourceState::begin`] on each request.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.sources.iter().map(|(_, s)| s.wakeup_ms()).min()
    }

    /// Forgets sources whose ids are no longer used (a discovery source once its JWKS is known).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.sources.retain(|(id, _)| keep(id));
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transition::Loaded => "loaded",
            Transition::Recovered { .. } => "recovered",
            Transition::OutageStarted => "outage_started",
            Transition::StillFailing => "still_failing",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing {
        refresh_ms: 300_000,
        timeout_ms: 2_000,
        max_stale_ms: 86_400_000,
        refetch_cooldown_ms: REFETCH_COOLDOWN_MS,
    };

    #[test]
    fn states_round_trip_and_refuse_other_lengths() {
        let s = SourceState {
            next_ms: 1,
            lease_until_ms: u64::MAX,
            last_refetch_ms: 3,
            failures: 7,
        };
        assert_eq!(SourceState::from_bytes(&s.to_bytes()), Some(s));
        assert_eq!(SourceState::from_bytes(&[0; 27]), None);
        assert_eq!(SourceState::from_bytes(&[]), None);
    }

    #[test]
    fn due_only_when_the_time_came_and_no_fetch_is_out() {
        let s = SourceState {
            next_ms: 100,
            lease_until_ms: 200,
            ..SourceState::default()
        };
        assert!(!s.is_due(99));
        assert!(!s.is_due(150), "a held lease blocks other fetchers");
        assert!(
            s.is_due(200),
            "a lapsed lease (a lost answer) no longer does"
        );
        assert!(SourceState::default().is_due(0));
    }

    #[test]
    fn one_fetch_at_a_time_and_its_lease_lapses() {
        let mut s = SourceState::default();
        assert!(s.begin(1_000, &T));
        assert!(!s.begin(1_001, &T), "the lease is held");
        assert!(s.begin(1_000 + 2_000 + LEASE_MARGIN_MS, &T));
    }

    #[test]
    fn failed_fetches_are_retried_soon_then_less_often() {
        assert_eq!(T.next_fetch_in(0), T.refresh_ms);
        let waits: Vec<u64> = (1..=10).map(|f| T.next_fetch_in(f)).collect();
        assert_eq!(&waits[..4], &[1_000, 2_000, 4_000, 8_000]);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            T.next_fetch_in(10),
            T.refresh_ms,
            "never later than the refresh"
        );
        let short = Timing {
            refresh_ms: 500,
            ..T
        };
        assert_eq!(
            short.next_fetch_in(3),
            500,
            "a short refresh bounds the backoff"
        );
        assert_eq!(T.next_fetch_in(u32::MAX), T.refresh_ms);
    }

    #[test]
    fn an_outage_is_reported_when_it_starts_and_when_it_ends() {
        let mut s = SourceState::default();
        let mut now = 0;
        let mut seen = Vec::new();
        for ok in [true, false, false, false, true, true] {
            assert!(s.begin(now, &T), "due at {now}");
            seen.push(s.finish(now, &T, ok));
            now = s.next_ms;
        }
        assert_eq!(
            seen,
            [
                Transition::Loaded,
                Transition::OutageStarted,
                Transition::StillFailing,
                Transition::StillFailing,
                Transition::Recovered { failures: 3 },
                Transition::Loaded,
            ]
        );
        assert!(Transition::OutageStarted
            .log_line("jwks:idp", "/jwks", "HTTP 500")
            .is_some_and(|l| l.contains("jwks:idp") && l.contains("HTTP 500")));
        assert_eq!(Transition::StillFailing.log_line("x", "/", "-"), None);
        assert_eq!(Transition::Loaded.log_line("x", "/", "-"), None);
    }

    #[test]
    fn a_source_down_at_start_is_picked_up_within_seconds() {
        // Down for the first 5 s, up afterwards: fetched again by 1+2+4 = 7 s, not at refresh.
        let mut s = SourceState::default();
        let mut now = 0;
        loop {
            assert!(s.begin(now, &T));
            if s.finish(now, &T, now >= 5_000) != Transition::StillFailing && now >= 5_000 {
                break;
            }
            now = s.next_ms;
        }
        assert!(now <= 7_000, "loaded at {now} ms");
    }

    #[test]
    fn an_unknown_kid_refetches_once_per_cooldown() {
        let mut s = SourceState::default();
        assert!(s.begin(0, &T));
        s.finish(0, &T, true);
        assert!(s.request_refetch(1_000, &T));
        assert_eq!(s.next_ms, 1_000);
        assert!(!s.request_refetch(1_001, &T), "due already");
        assert!(s.begin(1_001, &T));
        s.finish(1_100, &T, true);
        assert!(!s.request_refetch(5_000, &T), "within the cooldown");
        assert!(s.request_refetch(1_000 + REFETCH_COOLDOWN_MS, &T));
        // Out or failing: the next fetch comes anyway, and the cooldown is kept.
        let mut out = SourceState::default();
        assert!(out.begin(0, &T));
        assert!(!out.request_refetch(1, &T));
        assert_eq!(out.last_refetch_ms, 0);
        // The cooldown in force when a refetch is asked for is the one that counts.
        let long = Timing {
            refetch_cooldown_ms: 3_600_000,
            ..T
        };
        assert!(!s.request_refetch(2_000_000, &long));
    }

    #[test]
    fn documents_are_usable_for_refresh_plus_max_stale() {
        let limit = T.refresh_ms + T.max_stale_ms;
        assert!(T.is_usable(1_000, 1_000 + limit));
        assert!(!T.is_usable(1_000, 1_001 + limit));
        assert!(
            T.is_usable(5_000, 1_000),
            "a clock that went back is no staleness"
        );
    }

    #[test]
    fn a_schedule_wakes_the_host_at_the_earliest_source() {
        let mut sched = Schedule::default();
        assert_eq!(sched.poll_timeout(), None);
        assert!(sched.state_mut("a").begin(0, &T));
        sched.state_mut("a").finish(0, &T, true);
        assert!(sched.state_mut("b").begin(0, &T));
        sched.state_mut("b").finish(0, &T, false);
        assert_eq!(sched.poll_timeout(), Some(1_000));
        assert_eq!(sched.state("a").next_ms, T.refresh_ms);
        sched.retain(|id| id == "a");
        assert_eq!(sched.poll_timeout(), Some(T.refresh_ms));
    }
}
