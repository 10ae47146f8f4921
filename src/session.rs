//! The client's token lifecycle as a state machine the SDK drives: whether to use, refresh or
//! give up on its tokens, how to back off after a failed refresh, and how to recover once from
//! a `401`.
//!
//! Token times are kept on the authorization server's clock: `now` (the host's clock) is
//! corrected by a [`ClockOffset`] learned from a server's `Date` header, so a device whose clock
//! is wrong neither uses expired tokens nor refreshes in a loop. Backoff deadlines are pacing,
//! not validity, and stay on the host's clock. All arithmetic saturates.

use std::fmt;
use std::time::UNIX_EPOCH;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{AuthError, ErrorCode};
use crate::oauth::error_response::OAuthErrorKind;
use crate::oauth::http::HttpRequest;
use crate::oauth::members::{self, Slot};
use crate::oauth::token_request::{TokenEndpoint, TokenParams};
use crate::oauth::token_response::{parse_token_response, TokenResponse};

/// Refresh at the latest this many seconds before the access token expires.
pub const MIN_REFRESH_MARGIN: u64 = 60;

/// The server clock minus the host clock, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockOffset(i64);

impl ClockOffset {
    pub fn from_seconds(offset: i64) -> ClockOffset {
        ClockOffset(offset)
    }

    /// Learns the offset from an HTTP `Date` header (IMF-fixdate; the two obsolete formats
    /// RFC 9110 §5.6.7 requires recipients to accept are accepted too) received at `now`.
    pub fn from_date_header(date: &str, now: u64) -> Result<ClockOffset, AuthError> {
        let server = httpdate::parse_http_date(date)
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .ok_or_else(|| {
                AuthError::with_message(
                    ErrorCode::InvalidResponse,
                    "the Date header is not an HTTP date",
                )
            })?
            .as_secs();
        let diff = i128::from(server) - i128::from(now);
        let clamped = diff.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        Ok(ClockOffset(i64::try_from(clamped).unwrap_or_default()))
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    /// The server's time when the host's clock reads `now`.
    pub fn apply(self, now: u64) -> u64 {
        if self.0 >= 0 {
            now.saturating_add(self.0.unsigned_abs())
        } else {
            now.saturating_sub(self.0.unsigned_abs())
        }
    }
}

/// The tokens a session holds, with absolute times on the server's clock. `Debug` redacts them.
/// The serde form is what hosts keep in storage and send to their other tabs.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct StoredTokens {
    pub access_token: String,
    /// `None` when the server did not say (`expires_in` absent): used until a `401`.
    pub access_expires_at: Option<u64>,
    pub refresh_token: Option<String>,
    /// `None` when the server did not say.
    pub refresh_expires_at: Option<u64>,
    pub issued_at: u64,
    /// The OpenID ID token of the sign-in (or of the last refresh that sent one): the user's
    /// claims for `getUser()` and the `id_token_hint` of RP-initiated logout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Read through [`members`] rather than derived: one reader for every document in the browser
/// build. Members as the derived form: `access_token` and `issued_at` required.
impl<'de> Deserialize<'de> for StoredTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StoredTokens, D::Error> {
        let (mut access_token, mut access_expires_at, mut refresh_token) = (None, None, None);
        let (mut refresh_expires_at, mut issued_at, mut id_token) = (None, None, None);
        members::deserialize(
            d,
            &mut [
                ("access_token", Slot::Str(&mut access_token)),
                ("access_expires_at", Slot::U64(&mut access_expires_at)),
                ("refresh_token", Slot::Str(&mut refresh_token)),
                ("refresh_expires_at", Slot::U64(&mut refresh_expires_at)),
                ("issued_at", Slot::U64(&mut issued_at)),
                ("id_token", Slot::Str(&mut id_token)),
            ],
        )?;
        Ok(StoredTokens {
            access_token: access_token.ok_or_else(|| D::Error::missing_field("access_token"))?,
            access_expires_at,
            refresh_token,
            refresh_expires_at,
            issued_at: issued_at.ok_or_else(|| D::Error::missing_field("issued_at"))?,
            id_token,
        })
    }
}

impl StoredTokens {
    /// The tokens of a response received when the server's clock read `server_now`.
    pub fn from_response(response: &TokenResponse, server_now: u64) -> StoredTokens {
        StoredTokens {
            access_token: response.access_token.clone(),
            access_expires_at: response.expires_in.map(|s| server_now.saturating_add(s)),
            refresh_token: response.refresh_token.clone(),
            refresh_expires_at: response
                .refresh_expires_in
                .map(|s| server_now.saturating_add(s)),
            issued_at: server_now,
            id_token: response.id_token.clone(),
        }
    }

    /// The same tokens without the access token, for storage policies that keep it in memory
    /// only: restored, the session refreshes before its first call (or is over without a
    /// usable refresh token).
    pub fn without_access_token(&self) -> StoredTokens {
        StoredTokens {
            access_token: String::new(),
            access_expires_at: Some(0),
            ..self.clone()
        }
    }

    /// Refresh when less than `max(60 s, 10 % of the lifetime)` remains, but never earlier than
    /// half-way, so a token shorter-lived than two minutes is still used before being replaced.
    fn refresh_margin(&self, expires_at: u64) -> u64 {
        let lifetime = expires_at.saturating_sub(self.issued_at);
        MIN_REFRESH_MARGIN.max(lifetime / 10).min(lifetime / 2)
    }
}

impl fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredTokens")
            .field("access_token", &"<redacted>")
            .field("access_expires_at", &self.access_expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("issued_at", &self.issued_at)
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What to do before the next authenticated call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Send the call with the current access token.
    Use,
    /// Refresh first, then send the call with the new access token.
    RefreshFirst,
    /// The access token is expired and the last refresh failed: retry the refresh no earlier
    /// than `retry_at` (host clock).
    Wait { retry_at: u64 },
    /// The session is over: sign in again.
    Expired,
}

/// Exponential backoff with "equal jitter": the n-th consecutive failure waits between half and
/// all of `min(max, base * 2^(n-1))` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: u64,
    max: u64,
}

impl Default for Backoff {
    /// 2 s doubling up to 5 min.
    fn default() -> Self {
        Backoff { base: 2, max: 300 }
    }
}

impl Backoff {
    /// Refuses a zero `base` (a retry loop) and `max < base`.
    pub fn new(base: u64, max: u64) -> Result<Backoff, AuthError> {
        if base == 0 || max < base {
            return Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "backoff needs 0 < base <= max",
            ));
        }
        Ok(Backoff { base, max })
    }

    /// The delay in seconds after `failures` consecutive failures. `jitter` is a uniformly
    /// random value the caller draws (passed in so tests are deterministic).
    pub fn delay(&self, failures: u32, jitter: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(63);
        let ceiling = self.base.saturating_mul(1u64 << doublings).min(self.max);
        let floor = ceiling / 2;
        floor + u64::from(jitter) % (ceiling - floor + 1)
    }
}

/// One signed-in session's tokens and refresh state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    tokens: StoredTokens,
    clock: ClockOffset,
    backoff: Backoff,
    failures: u32,
    retry_at: Option<u64>,
    ended: bool,
}

impl Session {
    pub fn new(tokens: StoredTokens, clock: ClockOffset) -> Session {
        Session {
            tokens,
            clock,
            backoff: Backoff::default(),
            failures: 0,
            retry_at: None,
            ended: false,
        }
    }

    /// A session from the first token response, received at `now` (host clock).
    pub fn from_response(response: &TokenResponse, now: u64, clock: ClockOffset) -> Session {
        Session::new(
            StoredTokens::from_response(response, clock.apply(now)),
            clock,
        )
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Session {
        self.backoff = backoff;
        self
    }

    pub fn tokens(&self) -> &StoredTokens {
        &self.tokens
    }

    pub fn access_token(&self) -> &str {
        &self.tokens.access_token
    }

    pub fn clock_offset(&self) -> ClockOffset {
        self.clock
    }

    /// The server's time when the host's clock reads `now`; use it for `exp`/`nbf` checks too.
    pub fn server_now(&self, now: u64) -> u64 {
        self.clock.apply(now)
    }

    /// Updates the clock offset from a server's `Date` header received at `now`. On an
    /// unparsable header the offset is left as it was.
    pub fn observe_date_header(&mut self, date: &str, now: u64) -> Result<(), AuthError> {
        self.clock = ClockOffset::from_date_header(date, now)?;
        Ok(())
    }

    /// Consecutive failed refreshes since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Ends the session locally (sign-out).
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// What to do at `now` (host clock) before an authenticated call.
    pub fn decide(&self, now: u64) -> NextStep {
        if self.ended {
            return NextStep::Expired;
        }
        let t = self.server_now(now);
        let Some(expires_at) = self.tokens.access_expires_at else {
            return NextStep::Use;
        };
        let expired = t >= expires_at;
        let due = expired || expires_at.saturating_sub(t) < self.tokens.refresh_margin(expires_at);
        match (due, self.refresh_usable(t), expired) {
            (false, _, _) => NextStep::Use,
            (true, false, true) => NextStep::Expired,
            (true, false, false) => NextStep::Use,
            (true, true, _) => match self.retry_at {
                Some(retry_at) if now < retry_at && expired => NextStep::Wait { retry_at },
                Some(retry_at) if now < retry_at => NextStep::Use,
                _ => NextStep::RefreshFirst,
            },
        }
    }

    /// Whether the access token should be replaced now (expired or inside the refresh margin),
    /// whatever the refresh token: a client-credentials cache fetches a new token when this says
    /// so, rather than waiting for `Expired`.
    pub fn renewal_due(&self, now: u64) -> bool {
        let Some(expires_at) = self.tokens.access_expires_at else {
            return self.ended;
        };
        let t = self.server_now(now);
        self.ended
            || t >= expires_at
            || expires_at.saturating_sub(t) < self.tokens.refresh_margin(expires_at)
    }

    /// Whether a refresh may be attempted now: a usable refresh token and no backoff pending.
    pub fn can_refresh(&self, now: u64) -> bool {
        !self.ended
            && self.refresh_usable(self.server_now(now))
            && self.retry_at.iter().all(|r| now >= *r)
    }

    fn refresh_usable(&self, server_now: u64) -> bool {
        self.tokens.refresh_token.is_some()
            && self
                .tokens
                .refresh_expires_at
                .iter()
                .all(|r| server_now < *r)
    }

    /// The refresh request to send. [`ErrorCode::SessionExpired`] when the session is over or
    /// has no usable refresh token.
    pub fn refresh_request(
        &self,
        endpoint: &TokenEndpoint,
        params: TokenParams<'_>,
        now: u64,
    ) -> Result<HttpRequest, AuthError> {
        match &self.tokens.refresh_token {
            Some(rt) if !self.ended && self.refresh_usable(self.server_now(now)) => {
                endpoint.refresh_token(rt, params)
            }
            _ => Err(AuthError::new(ErrorCode::SessionExpired)),
        }
    }

    /// Applies the token endpoint's answer to a refresh sent earlier, received at `now`. Call
    /// [`Session::observe_date_header`] with the response's `Date` first.
    ///
    /// * Success: the access token is replaced; the refresh token only if a new one came
    ///   (rotation). Backoff is reset.
    /// * `invalid_grant` (in a `400`/`401`, or a `200` as some providers send errors): the refresh
    ///   token is dead, the session ends, [`ErrorCode::SessionExpired`] (the provider's error
    ///   attached).
    /// * Any other `4xx` but `408`/`429`, or another RFC 6749 error object in a `200`: retrying
    ///   the same request cannot help; the session ends with the parsed error.
    /// * Anything else (`5xx`, `408`, `429`, `server_error`, `temporarily_unavailable`, a garbled
    ///   `200`): backoff; the error carries `retry_after` in seconds.
    pub fn on_refresh_response(
        &mut self,
        status: u16,
        body: &[u8],
        now: u64,
        jitter: u32,
    ) -> Result<(), AuthError> {
        if self.ended {
            return Err(AuthError::new(ErrorCode::SessionExpired));
        }
        let err = match parse_token_response(status, body) {
            Ok(response) => {
                self.apply_refresh(&response, now);
                return Ok(());
            }
            Err(err) => err,
        };
        let kind = err.oauth_error().map(|o| o.kind());
        let retry_later = status >= 500
            || status == 408
            || status == 429
            || matches!(
                kind,
                Some(OAuthErrorKind::ServerError | OAuthErrorKind::TemporarilyUnavailable)
            );
        let rejected = (400..500).contains(&status) || kind.is_some();
        if retry_later || !rejected {
            let delay = self.schedule_retry(now, jitter);
            return Err(err.with_retry_after(delay));
        }
        self.ended = true;
        match err.oauth_error() {
            Some(o) if o.kind() == OAuthErrorKind::InvalidGrant => {
                Err(AuthError::new(ErrorCode::SessionExpired).with_oauth_error(o.clone()))
            }
            _ => Err(err),
        }
    }

    /// Records a refresh that got no response (network error, timeout); returns the delay in
    /// seconds before the next attempt.
    pub fn on_refresh_network_failure(&mut self, now: u64, jitter: u32) -> u64 {
        self.schedule_retry(now, jitter)
    }

    fn schedule_retry(&mut self, now: u64, jitter: u32) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let delay = self.backoff.delay(self.failures, jitter);
        self.retry_at = Some(now.saturating_add(delay));
        delay
    }

    fn apply_refresh(&mut self, response: &TokenResponse, now: u64) {
        let fresh = StoredTokens::from_response(response, self.server_now(now));
        let (refresh_token, refresh_expires_at) = match fresh.refresh_token {
            Some(rt) => (Some(rt), fresh.refresh_expires_at),
            None => (
                self.tokens.refresh_token.take(),
                self.tokens.refresh_expires_at,
            ),
        };
        // A refresh answer need not repeat the ID token (OpenID Connect Core §12.2).
        let id_token = fresh.id_token.or_else(|| self.tokens.id_token.take());
        self.tokens = StoredTokens {
            refresh_token,
            refresh_expires_at,
            id_token,
            ..fresh
        };
        self.failures = 0;
        self.retry_at = None;
    }
}

/// A `429` is waited out at most this many times per call before it reaches the caller.
pub const MAX_RATE_LIMIT_RETRIES: u32 = 3;
/// The longest single wait for a `429`, in seconds; a server asking for more gets its `429`
/// handed to the caller instead of a hung call.
pub const MAX_RATE_LIMIT_WAIT: u64 = 60;

/// How long to wait before sending a call again after its `attempt`-th `429` (1-based) at
/// `now`, or `None` to hand the `429` to the caller. `Retry-After` (seconds or an HTTP date) is
/// honoured as a floor under exponential backoff from 1 s with equal jitter; the wait is at
/// least 1 s and at most [`MAX_RATE_LIMIT_WAIT`].
pub fn rate_limit_delay(
    retry_after: Option<&str>,
    attempt: u32,
    now: u64,
    jitter: u32,
) -> Option<u64> {
    if attempt == 0 || attempt > MAX_RATE_LIMIT_RETRIES {
        return None;
    }
    let backoff = Backoff {
        base: 1,
        max: MAX_RATE_LIMIT_WAIT,
    }
    .delay(attempt, jitter);
    let asked = match retry_after.map(str::trim) {
        None => 0,
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse::<u64>().unwrap_or(u64::MAX)
        }
        Some(v) => httpdate::parse_http_date(v)
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |t| t.as_secs().saturating_sub(now)),
    };
    if asked > MAX_RATE_LIMIT_WAIT {
        return None;
    }
    Some(asked.max(backoff).max(1))
}

/// Transient failures a server-side client retries by itself: no answer (status 0: a timeout
/// or a refused connection) and the gateway statuses 502, 503, 504.
const TRANSIENT: [u16; 4] = [0, 502, 503, 504];

/// How long a server-side API client waits before its `attempt`-th retry (1-based) of a call
/// that got `status`, or `None` to hand the answer to the caller: a `429` as
/// [`rate_limit_delay`]; a transient failure after exponential backoff from 1 s with equal
/// jitter (`Retry-After` of a `503` as a floor), at most `max_retries` times and never longer
/// than [`MAX_RATE_LIMIT_WAIT`] per wait; anything else is an answer.
pub fn retry_delay(
    status: u16,
    retry_after: Option<&str>,
    attempt: u32,
    max_retries: u32,
    now: u64,
    jitter: u32,
) -> Option<u64> {
    if attempt == 0 || attempt > max_retries {
        return None;
    }
    match status {
        429 => rate_limit_delay(
            retry_after,
            attempt.min(MAX_RATE_LIMIT_RETRIES),
            now,
            jitter,
        ),
        s if TRANSIENT.contains(&s) => {
            let floor = if s == 503 {
                rate_limit_delay(retry_after, 1, now, 0)?
            } else {
                0
            };
            let backoff = Backoff {
                base: 1,
                max: MAX_RATE_LIMIT_WAIT,
            }
            .delay(attempt, jitter);
            Some(backoff.max(floor).max(1))
        }
        _ => None,
    }
}

/// Whether a call may be sent a second time (after a `401` refresh or a `429`): only idempotent
/// methods (RFC 9110 §9.2.2), unless the caller said its request is safe to replay.
pub fn may_replay(method: &str, caller_allows: bool) -> bool {
    caller_allows
        || ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
}

/// The next step of [`UnauthorizedRecovery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryStep {
    /// This response is final: hand it to the caller.
    Deliver,
    /// Refresh the session now (even if [`Session::decide`] says `Use`), then call
    /// [`UnauthorizedRecovery::on_refreshed`].
    Refresh,
    /// Send the request once more with the new access token, then call
    /// [`UnauthorizedRecovery::on_response`].
    Retry,
    /// Recovery failed (the refresh failed, or the steps were driven out of order): surface the
    /// original `401`.
    GiveUp,
}

/// One API call's recovery from a `401` on a token the client believed valid (revoked early,
/// clock skew): exactly one refresh, then exactly one retry, never a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnauthorizedRecovery {
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    #[default]
    FirstAttempt,
    Refreshing,
    Retried,
    Done,
}

impl UnauthorizedRecovery {
    pub fn new() -> UnauthorizedRecovery {
        UnauthorizedRecovery::default()
    }

    /// The API answered `status` at `now`.
    pub fn on_response(&mut self, status: u16, session: &Session, now: u64) -> RecoveryStep {
        let (phase, step) = match self.phase {
            Phase::FirstAttempt if status == 401 && session.can_refresh(now) => {
                (Phase::Refreshing, RecoveryStep::Refresh)
            }
            Phase::FirstAttempt | Phase::Retried => (Phase::Done, RecoveryStep::Deliver),
            Phase::Refreshing | Phase::Done => (Phase::Done, RecoveryStep::GiveUp),
        };
        self.phase = phase;
        step
    }

    /// The forced refresh finished; `ok` when [`Session::on_refresh_response`] succeeded.
    pub fn on_refreshed(&mut self, ok: bool) -> RecoveryStep {
        let (phase, step) = match self.phase {
            Phase::Refreshing if ok => (Phase::Retried, RecoveryStep::Retry),
            _ => (Phase::Done, RecoveryStep::GiveUp),
        };
        self.phase = phase;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_auth::{ClientAuth, OAuthClient};

    const T0: u64 = 1_700_000_000;

    fn response(body: &str) -> TokenResponse {
        parse_token_response(200, body.as_bytes()).unwrap()
    }

    fn session(expires_in: u64) -> Session {
        let body = format!(
            r#"{{"access_token":"at1","token_type":"Bearer","expires_in":{expires_in},"refresh_token":"rt1","refresh_expires_in":86400}}"#
        );
        Session::from_response(&response(&body), T0, ClockOffset::default())
    }

    fn endpoint() -> TokenEndpoint {
        let client = OAuthClient::new("app", ClientAuth::None).unwrap();
        TokenEndpoint::new("https://as.example/token", client).unwrap()
    }

    #[test]
    fn tokens_from_response() {
        let s = session(3600);
        let t = s.tokens();
        assert_eq!(t.access_token, "at1");
        assert_eq!(t.issued_at, T0);
        assert_eq!(t.access_expires_at, Some(T0 + 3600));
        assert_eq!(t.refresh_token.as_deref(), Some("rt1"));
        assert_eq!(t.refresh_expires_at, Some(T0 + 86400));
        let shown = format!("{s:?}");
        assert!(!shown.contains("at1") && !shown.contains("rt1"), "{shown}");
    }

    #[test]
    fn refresh_margin_is_ten_percent_or_a_minute() {
        // 3600 s lifetime: margin 360 s.
        let s = session(3600);
        assert_eq!(s.decide(T0), NextStep::Use);
        assert_eq!(s.decide(T0 + 3240), NextStep::Use);
        assert_eq!(s.decide(T0 + 3241), NextStep::RefreshFirst);
        assert_eq!(s.decide(T0 + 3600), NextStep::RefreshFirst);
        assert_eq!(s.decide(T0 + 100_000), NextStep::Expired);
        // 300 s lifetime: 10 % is 30 s, so the 60 s floor applies.
        let s = session(300);
        assert_eq!(s.decide(T0 + 240), NextStep::Use);
        assert_eq!(s.decide(T0 + 241), NextStep::RefreshFirst);
        // 60 s lifetime: capped at half the lifetime so the token is used at all.
        let s = session(60);
        assert_eq!(s.decide(T0), NextStep::Use);
        assert_eq!(s.decide(T0 + 30), NextStep::Use);
        assert_eq!(s.decide(T0 + 31), NextStep::RefreshFirst);
        // 0 s lifetime: expired at once.
        assert_eq!(session(0).decide(T0), NextStep::RefreshFirst);
    }

    #[test]
    fn without_refresh_token_use_until_expiry() {
        let r = response(r#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#);
        let s = Session::from_response(&r, T0, ClockOffset::default());
        assert_eq!(s.decide(T0 + 3500), NextStep::Use);
        assert_eq!(s.decide(T0 + 3599), NextStep::Use);
        assert_eq!(s.decide(T0 + 3600), NextStep::Expired);
        assert!(!s.can_refresh(T0));
        let err = s
            .refresh_request(&endpoint(), TokenParams::default(), T0)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::SessionExpired);
    }

    #[test]
    fn expired_refresh_token_is_unusable() {
        let s = session(3600);
        // Refresh token expires at T0 + 86400.
        assert_eq!(s.decide(T0 + 86_399), NextStep::RefreshFirst);
        assert_eq!(s.decide(T0 + 86_400), NextStep::Expired);
        assert!(s
            .refresh_request(&endpoint(), TokenParams::default(), T0 + 86_400)
            .is_err());
    }

    #[test]
    fn unknown_expiry_is_used_until_a_401() {
        let r = response(r#"{"access_token":"at","token_type":"Bearer"}"#);
        let s = Session::from_response(&r, T0, ClockOffset::default());
        assert_eq!(s.decide(u64::MAX), NextStep::Use);
    }

    #[test]
    fn refresh_request_uses_the_stored_token() {
        let s = session(3600);
        let req = s
            .refresh_request(&endpoint(), TokenParams::default(), T0)
            .unwrap();
        assert_eq!(
            req.body,
            "grant_type=refresh_token&refresh_token=rt1&client_id=app"
        );
    }

    #[test]
    fn clock_offset_from_date_header() {
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            ClockOffset::from_date_header(date, 784_111_777)
                .unwrap()
                .seconds(),
            0
        );
        let behind = ClockOffset::from_date_header(date, 784_111_777 - 120).unwrap();
        assert_eq!(behind.seconds(), 120);
        assert_eq!(behind.apply(1000), 1120);
        let ahead = ClockOffset::from_date_header(date, 784_111_777 + 30).unwrap();
        assert_eq!(ahead.seconds(), -30);
        assert_eq!(ahead.apply(1000), 970);
        assert_eq!(ahead.apply(10), 0);
        assert_eq!(ClockOffset::from_seconds(5).apply(u64::MAX), u64::MAX);
        let far = ClockOffset::from_date_header(date, u64::MAX).unwrap();
        assert_eq!(far.seconds(), i64::MIN);
        assert_eq!(far.apply(u64::MAX), u64::MAX - i64::MIN.unsigned_abs());
        // A leap day and the obsolete formats RFC 9110 still requires.
        let leap = ClockOffset::from_date_header("Thu, 29 Feb 2024 12:00:00 GMT", 0).unwrap();
        assert_eq!(leap.seconds(), 1_709_208_000);
        for obsolete in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            let o = ClockOffset::from_date_header(obsolete, 784_111_777).unwrap();
            assert_eq!(o.seconds(), 0, "{obsolete}");
        }
    }

    #[test]
    fn bad_date_headers_are_refused() {
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Thu, 29 Feb 2023 12:00:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:60 GMT",
            "Thu, 01 Jan 1969 00:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
            "1700000000",
        ] {
            let err = ClockOffset::from_date_header(bad, T0).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidResponse, "{bad:?}");
        }
    }

    #[test]
    fn decisions_use_the_server_clock() {
        // The host clock is 1000 s behind the server's.
        let server_date = "Tue, 14 Nov 2023 22:30:00 GMT"; // 1_700_001_000
        let clock = ClockOffset::from_date_header(server_date, T0).unwrap();
        assert_eq!(clock.seconds(), 1000);
        let r = response(
            r#"{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}"#,
        );
        let mut s = Session::from_response(&r, T0, clock);
        assert_eq!(s.tokens().issued_at, T0 + 1000);
        assert_eq!(s.tokens().access_expires_at, Some(T0 + 4600));
        assert_eq!(s.server_now(T0), T0 + 1000);
        assert_eq!(s.decide(T0 + 3240), NextStep::Use);
        assert_eq!(s.decide(T0 + 3241), NextStep::RefreshFirst);
        // The host clock is then set 500 s forward: re-learning the offset keeps the same
        // server view, so the decisions do not move.
        s.observe_date_header(server_date, T0 + 500).unwrap();
        assert_eq!(s.clock_offset().seconds(), 500);
        assert_eq!(s.decide(T0 + 500 + 3240), NextStep::Use);
        assert_eq!(s.decide(T0 + 500 + 3241), NextStep::RefreshFirst);
        // An unparsable header leaves the offset alone.
        let before = s.clone();
        assert!(s.observe_date_header("garbage", T0).is_err());
        assert_eq!(s, before);
    }

    #[test]
    fn rotation_replaces_the_refresh_token_only_when_a_new_one_comes() {
        let mut s = session(3600);
        let now = T0 + 3300;
        s.on_refresh_response(
            200,
            br#"{"access_token":"at2","token_type":"Bearer","expires_in":600}"#,
            now,
            0,
        )
        .unwrap();
        let t = s.tokens();
        assert_eq!(t.access_token, "at2");
        assert_eq!(t.issued_at, now);
        assert_eq!(t.access_expires_at, Some(now + 600));
        assert_eq!(t.refresh_token.as_deref(), Some("rt1"));
        assert_eq!(t.refresh_expires_at, Some(T0 + 86400));

        s.on_refresh_response(
            200,
            br#"{"access_token":"at3","token_type":"Bearer","expires_in":600,"refresh_token":"rt2"}"#,
            now + 600,
            0,
        )
        .unwrap();
        let t = s.tokens();
        assert_eq!(t.access_token, "at3");
        assert_eq!(t.refresh_token.as_deref(), Some("rt2"));
        assert_eq!(t.refresh_expires_at, None);

        s.on_refresh_response(
            200,
            br#"{"access_token":"at4","token_type":"Bearer","refresh_token":"","refresh_expires_in":5}"#,
            now + 700,
            0,
        )
        .unwrap();
        assert_eq!(s.tokens().refresh_token.as_deref(), Some("rt2"));
        assert_eq!(s.tokens().refresh_expires_at, None);
        assert_eq!(s.tokens().access_expires_at, None);
    }

    #[test]
    fn invalid_grant_ends_the_session() {
        for status in [400, 401, 200] {
            let mut s = session(3600);
            let err = s
                .on_refresh_response(
                    status,
                    br#"{"error":"invalid_grant","error_description":"Token is not active"}"#,
                    T0 + 3500,
                    7,
                )
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::SessionExpired);
            assert_eq!(err.oauth_error().unwrap().error(), "invalid_grant");
            assert_eq!(err.retry_after(), None);
            assert!(s.is_ended());
            assert_eq!(s.decide(T0 + 3500), NextStep::Expired);
            assert_eq!(s.decide(T0), NextStep::Expired);
            assert!(!s.can_refresh(T0));
            let again = s.on_refresh_response(200, b"{}", T0, 0).unwrap_err();
            assert_eq!(again.code(), ErrorCode::SessionExpired);
        }
    }

    #[test]
    fn other_client_errors_end_the_session_with_their_error() {
        for (status, body, code) in [
            (
                401,
                &br#"{"error":"invalid_client"}"#[..],
                ErrorCode::OauthError,
            ),
            (400, br#"{"error":"invalid_scope"}"#, ErrorCode::OauthError),
            (400, b"", ErrorCode::InvalidResponse),
            (403, b"<html>forbidden</html>", ErrorCode::InvalidResponse),
            (404, b"", ErrorCode::InvalidResponse),
            (
                200,
                br#"{"error":"bad_refresh_token"}"#,
                ErrorCode::OauthError,
            ),
        ] {
            let mut s = session(3600);
            let err = s
                .on_refresh_response(status, body, T0 + 3500, 0)
                .unwrap_err();
            assert_eq!(err.code(), code, "{status}");
            assert!(s.is_ended(), "{status}");
        }
    }

    #[test]
    fn transient_failures_back_off_with_jitter() {
        let mut s = session(3600);
        let now = T0 + 3595;
        // 503: first failure waits 1..=2 s.
        let err = s.on_refresh_response(503, b"", now, 0).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidResponse);
        assert_eq!(err.retry_after(), Some(1));
        assert!(!s.is_ended());
        assert_eq!(s.failures(), 1);
        // Still valid: keep using the access token while backing off.
        assert_eq!(s.decide(now), NextStep::Use);
        assert!(!s.can_refresh(now));
        assert_eq!(s.decide(now + 1), NextStep::RefreshFirst);
        // 429 and a network failure: 2..=4 s, then 4..=8 s.
        let err = s.on_refresh_response(429, b"", now + 1, 1).unwrap_err();
        assert_eq!(err.retry_after(), Some(3));
        assert_eq!(s.on_refresh_network_failure(now + 4, 4), 8);
        assert_eq!(s.failures(), 3);
        // Past expiry while backing off: wait.
        assert_eq!(s.decide(T0 + 3600), NextStep::Wait { retry_at: now + 12 });
        assert_eq!(s.decide(now + 12), NextStep::RefreshFirst);
        // server_error in a 400, a garbled 200 and a 408 are transient too.
        for (status, body) in [
            (400, &br#"{"error":"temporarily_unavailable"}"#[..]),
            (400, br#"{"error":"server_error"}"#),
            (200, b"<html>captive portal</html>"),
            (408, b""),
            (302, b""),
            (503, br#"{"error":"invalid_grant"}"#),
        ] {
            let err = s.on_refresh_response(status, body, now, 0).unwrap_err();
            assert!(err.retry_after().is_some(), "{status}");
            assert!(!s.is_ended(), "{status}");
        }
        // Success resets the backoff.
        s.on_refresh_response(
            200,
            br#"{"access_token":"at2","token_type":"Bearer","expires_in":3600}"#,
            now + 20,
            0,
        )
        .unwrap();
        assert_eq!(s.failures(), 0);
        assert!(s.can_refresh(now + 20));
        assert_eq!(s.decide(now + 20), NextStep::Use);
    }

    #[test]
    fn backoff_is_exponential_bounded_and_jittered() {
        let b = Backoff::default();
        let ceilings = [2, 4, 8, 16, 32, 64, 128, 256, 300, 300];
        for (i, ceiling) in ceilings.iter().enumerate() {
            let failures = u32::try_from(i + 1).unwrap();
            assert_eq!(b.delay(failures, 0), ceiling / 2, "{failures}");
            assert_eq!(
                b.delay(failures, u32::try_from(*ceiling - ceiling / 2).unwrap()),
                *ceiling
            );
        }
        for failures in [0, 1, 64, 65, u32::MAX] {
            for jitter in [0, 1, 12345, u32::MAX] {
                assert!(b.delay(failures, jitter) <= 300);
            }
        }
        let huge = Backoff::new(u64::MAX / 2, u64::MAX).unwrap();
        assert!(huge.delay(u32::MAX, u32::MAX) >= u64::MAX / 2);
        assert_eq!(
            Backoff::new(0, 10).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        assert!(Backoff::new(10, 5).is_err());
        let one = Backoff::new(1, 1).unwrap();
        assert!([0, 1].contains(&one.delay(5, 7)));
        let custom = session(3600).with_backoff(Backoff::new(10, 60).unwrap());
        let mut c = custom;
        assert_eq!(c.on_refresh_network_failure(T0, 0), 5);
    }

    #[test]
    fn saturating_times_never_panic() {
        let r = response(
            r#"{"access_token":"at","token_type":"Bearer","expires_in":18446744073709551615,"refresh_token":"rt","refresh_expires_in":18446744073709551615}"#,
        );
        let mut s = Session::from_response(&r, u64::MAX, ClockOffset::from_seconds(i64::MAX));
        assert_eq!(s.tokens().access_expires_at, Some(u64::MAX));
        // Both tokens "expire" at u64::MAX, which the clock reaches.
        assert_eq!(s.decide(u64::MAX), NextStep::Expired);
        assert_eq!(s.decide(0), NextStep::Use);
        let delay = s.on_refresh_network_failure(u64::MAX, u32::MAX);
        assert!(delay <= 300);
        let neg = Session::from_response(&r, 0, ClockOffset::from_seconds(i64::MIN));
        assert_eq!(neg.tokens().issued_at, 0);
        assert_eq!(neg.decide(0), NextStep::Use);
    }

    #[test]
    fn sign_out_ends_the_session() {
        let mut s = session(3600);
        s.end();
        assert_eq!(s.decide(T0), NextStep::Expired);
        assert!(s
            .refresh_request(&endpoint(), TokenParams::default(), T0)
            .is_err());
    }

    #[test]
    fn a_401_triggers_one_refresh_then_one_retry() {
        let mut s = session(3600);
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::Refresh);
        s.on_refresh_response(
            200,
            br#"{"access_token":"at2","token_type":"Bearer","expires_in":3600}"#,
            T0,
            0,
        )
        .unwrap();
        assert_eq!(r.on_refreshed(true), RecoveryStep::Retry);
        // The retry is also a 401: deliver it, no second refresh.
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::Deliver);
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::GiveUp);
        assert_eq!(r.on_refreshed(true), RecoveryStep::GiveUp);
    }

    #[test]
    fn recovery_paths() {
        let s = session(3600);
        // Not a 401: deliver.
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(200, &s, T0), RecoveryStep::Deliver);
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(403, &s, T0), RecoveryStep::Deliver);
        // Retry succeeded.
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::Refresh);
        assert_eq!(r.on_refreshed(true), RecoveryStep::Retry);
        assert_eq!(r.on_response(200, &s, T0), RecoveryStep::Deliver);
        // Refresh failed.
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::Refresh);
        assert_eq!(r.on_refreshed(false), RecoveryStep::GiveUp);
        // Out of order.
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_refreshed(true), RecoveryStep::GiveUp);
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::GiveUp);
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::Refresh);
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::GiveUp);
    }

    #[test]
    fn no_refresh_on_401_without_a_refresh_token_or_during_backoff() {
        let plain = Session::from_response(
            &response(r#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#),
            T0,
            ClockOffset::default(),
        );
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(401, &plain, T0), RecoveryStep::Deliver);

        let mut s = session(3600);
        s.on_refresh_network_failure(T0, 0);
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(401, &s, T0), RecoveryStep::Deliver);
        let mut r = UnauthorizedRecovery::new();
        assert_eq!(r.on_response(401, &s, T0 + 1), RecoveryStep::Refresh);
    }

    #[test]
    fn stored_tokens_need_their_members_once_with_their_types() {
        for bad in [
            r#"{"issued_at":1}"#,
            r#"{"access_token":"a"}"#,
            r#"{"access_token":"a","issued_at":1,"issued_at":2}"#,
            r#"{"access_token":"a","issued_at":"1"}"#,
        ] {
            assert!(serde_json::from_str::<StoredTokens>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_tokens_round_trip_and_drop_the_access_token() {
        let s = session(3600);
        let json = serde_json::to_string(s.tokens()).unwrap();
        let back: StoredTokens = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, s.tokens());
        let restored = Session::new(s.tokens().without_access_token(), ClockOffset::default());
        assert_eq!(restored.access_token(), "");
        assert_eq!(restored.decide(T0), NextStep::RefreshFirst);
        let mut no_refresh = s.tokens().without_access_token();
        no_refresh.refresh_token = None;
        let restored = Session::new(no_refresh, ClockOffset::default());
        assert_eq!(restored.decide(T0), NextStep::Expired);
    }

    #[test]
    fn renewal_is_due_inside_the_margin_without_a_refresh_token() {
        let body = r#"{"access_token":"cc","token_type":"Bearer","expires_in":3600}"#;
        let s = Session::from_response(&response(body), T0, ClockOffset::default());
        assert!(!s.renewal_due(T0 + 3240));
        assert!(s.renewal_due(T0 + 3241));
        assert_eq!(s.decide(T0 + 3241), NextStep::Use);
        let body = r#"{"access_token":"cc","token_type":"Bearer"}"#;
        let mut s = Session::from_response(&response(body), T0, ClockOffset::default());
        assert!(!s.renewal_due(u64::MAX));
        s.end();
        assert!(s.renewal_due(T0));
    }

    #[test]
    fn rate_limit_waits_are_bounded() {
        assert_eq!(rate_limit_delay(None, 0, T0, 0), None);
        assert_eq!(rate_limit_delay(Some("5"), 1, T0, 0), Some(5));
        // Backoff is a floor: 1, 2, 4 s ceilings with equal jitter.
        assert_eq!(rate_limit_delay(Some("0"), 3, T0, 0), Some(2));
        assert_eq!(rate_limit_delay(None, 3, T0, 2), Some(4));
        assert_eq!(rate_limit_delay(Some("61"), 1, T0, 0), None);
        assert_eq!(
            rate_limit_delay(Some("99999999999999999999999"), 1, T0, 0),
            None
        );
        assert_eq!(
            rate_limit_delay(Some("2"), MAX_RATE_LIMIT_RETRIES + 1, T0, 0),
            None
        );
        // An HTTP date 30 s ahead; a garbled value falls back to backoff.
        let date = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(T0 + 30));
        assert_eq!(rate_limit_delay(Some(&date), 1, T0, 0), Some(30));
        assert_eq!(rate_limit_delay(Some("soon"), 1, T0, 0), Some(1));
        assert_eq!(rate_limit_delay(Some("-3"), 1, T0, 0), Some(1));
    }

    #[test]
    fn only_idempotent_methods_are_replayed_unless_allowed() {
        for m in ["GET", "get", "HEAD", "PUT", "DELETE", "OPTIONS"] {
            assert!(may_replay(m, false), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", ""] {
            assert!(!may_replay(m, false), "{m}");
            assert!(may_replay(m, true), "{m}");
        }
    }

    proptest::proptest! {
        #[test]
        fn date_parsing_never_panics(date in ".*", now in proptest::num::u64::ANY) {
            let _ = ClockOffset::from_date_header(&date, now);
        }

        #[test]
        fn decide_never_panics(
            expires_in in proptest::num::u64::ANY,
            issued in proptest::num::u64::ANY,
            now in proptest::num::u64::ANY,
            offset in proptest::num::i64::ANY,
        ) {
            let body = format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":{expires_in},"refresh_token":"r"}}"#);
            let s = Session::from_response(&response(&body), issued, ClockOffset::from_seconds(offset));
            let _ = s.decide(now);
        }

        #[test]
        fn refresh_responses_never_panic(
            status in 0u16..600,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
            now in proptest::num::u64::ANY,
            jitter in proptest::num::u32::ANY,
        ) {
            let mut s = session(3600);
            if let Err(e) = s.on_refresh_response(status, &body, now, jitter) {
                proptest::prop_assert!(s.is_ended() || e.retry_after().is_some_and(|d| d <= 300));
            }
        }
    }

    #[test]
    fn server_clients_retry_transient_failures_and_429s_within_bounds() {
        let now = 1_800_000_000;
        for status in [0, 502, 503, 504] {
            let first = retry_delay(status, None, 1, 3, now, 0).unwrap();
            let third = retry_delay(status, None, 3, 3, now, u32::MAX).unwrap();
            assert!(
                (1..=1).contains(&first) && (2..=4).contains(&third),
                "{status}"
            );
            assert_eq!(
                retry_delay(status, None, 4, 3, now, 0),
                None,
                "past max_retries"
            );
        }
        assert_eq!(
            retry_delay(503, Some("7"), 1, 3, now, 0),
            Some(7),
            "Retry-After is a floor"
        );
        assert_eq!(
            retry_delay(503, Some("3600"), 1, 3, now, 0),
            None,
            "too long a wait is the caller's"
        );
        assert_eq!(retry_delay(429, Some("2"), 1, 3, now, 0), Some(2));
        assert_eq!(
            retry_delay(429, None, 5, 9, now, 0),
            rate_limit_delay(None, 3, now, 0)
        );
        for status in [200, 400, 401, 403, 404, 500] {
            assert_eq!(
                retry_delay(status, None, 1, 3, now, 0),
                None,
                "{status} is an answer"
            );
        }
        assert_eq!(retry_delay(503, None, 0, 3, now, 0), None);
        assert_eq!(retry_delay(503, None, 1, 0, now, 0), None, "retries off");
    }
}
