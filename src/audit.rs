//! The audit event: one JSON line per access decision, for log pipelines and incident review.
//!
//! An event names credentials by identifier only (API key id, token `sub` and `jti`), never by
//! secret or token. Free-text fields come from requests, so [`AuditEvent::to_json_line`] cleans
//! them whatever the caller put in: control, line-separator and bidi-override characters are
//! removed, lengths are capped, and the path loses its query (where `access_token=` may sit).

use std::borrow::Cow;

use serde::Serialize;

use crate::error::{AuthError, ErrorCode};

const MAX_USER_AGENT_CHARS: usize = 256;
const MAX_PATH_CHARS: usize = 1024;
const MAX_FIELD_CHARS: usize = 256;
const MAX_METHOD_CHARS: usize = 16;
const MAX_IP_CHARS: usize = 64;

/// 9999-12-31T23:59:59Z, the last instant RFC 3339's four-digit year can express.
const MAX_SECS: u64 = 253_402_300_799;
const SECS_PER_DAY: u64 = 86_400;

/// Characters of a secret that [`redact`] keeps: enough to tell a `pk_live_` key or an
/// `eyJ` token apart in a log, far too few to use.
pub const REDACTED_PREFIX_CHARS: usize = 6;

/// A secret (token, code, key) as it may appear in a debug log: its first
/// [`REDACTED_PREFIX_CHARS`] characters, or none for values too short to spare them, then `…`.
pub fn redact(secret: &str) -> String {
    let mut shown: String = if secret.chars().count() >= 4 * REDACTED_PREFIX_CHARS {
        secret.chars().take(REDACTED_PREFIX_CHARS).collect()
    } else {
        String::new()
    };
    shown.push('…');
    shown
}

/// When the decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    /// Unix seconds.
    Seconds(u64),
    /// Unix milliseconds, rendered with a fractional part.
    Millis(u64),
}

impl Timestamp {
    /// RFC 3339 in UTC, e.g. `2024-02-29T12:00:00Z` or `2024-02-29T12:00:00.250Z`. Instants past
    /// year 9999 are clamped to its last second.
    pub fn to_rfc3339(self) -> String {
        match self {
            Timestamp::Seconds(secs) => format!("{}Z", date_time(secs)),
            Timestamp::Millis(ms) => {
                let secs = ms / 1000;
                let millis = if secs > MAX_SECS { 999 } else { ms % 1000 };
                format!("{}.{millis:03}Z", date_time(secs))
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` for unix seconds, clamped to [`MAX_SECS`].
fn date_time(secs: u64) -> String {
    let secs = secs.min(MAX_SECS);
    let (year, month, day) = civil_from_days(secs / SECS_PER_DAY);
    let rem = secs % SECS_PER_DAY;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// `civil_from_days`, restricted to non-negative days so it needs no signed arithmetic.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of each year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of the 400-year era, [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year, [0, 365]
    let mp = (5 * doy + 2) / 153; // March = 0, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    (year, month, day)
}

/// The kind of credential a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ApiKey,
    Jwt,
    /// An opaque token checked by introspection.
    OpaqueToken,
}

/// Which credential was used, by identifier only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRef {
    pub kind: CredentialKind,
    /// The API key's public id (never the key).
    pub key_id: Option<String>,
    /// The token's subject.
    pub sub: Option<String>,
    /// The token's id, to find one token among a subject's many.
    pub jti: Option<String>,
}

impl CredentialRef {
    pub fn api_key(key_id: impl Into<String>) -> CredentialRef {
        CredentialRef {
            kind: CredentialKind::ApiKey,
            key_id: Some(key_id.into()),
            sub: None,
            jti: None,
        }
    }

    pub fn token(kind: CredentialKind, sub: Option<String>, jti: Option<String>) -> CredentialRef {
        CredentialRef {
            kind,
            key_id: None,
            sub,
            jti,
        }
    }
}

/// The access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

/// One access decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub timestamp: Timestamp,
    pub credential: Option<CredentialRef>,
    pub method: String,
    /// The name of the policy rule that matched.
    pub route: Option<String>,
    pub path: String,
    pub dataset: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub decision: Verdict,
    pub error_code: Option<ErrorCode>,
    pub status: u16,
    pub latency_ms: u64,
}

impl AuditEvent {
    /// The event once the request is answered at `now_ms`: `latency_ms` is counted from the
    /// decision's timestamp (the request's arrival), and `status`, when given, is what the
    /// client got from upstream rather than the gateway's own.
    pub fn with_outcome(mut self, status: Option<u16>, now_ms: u64) -> AuditEvent {
        let start_ms = match self.timestamp {
            Timestamp::Seconds(s) => s.saturating_mul(1000),
            Timestamp::Millis(ms) => ms,
        };
        self.latency_ms = now_ms.saturating_sub(start_ms);
        if let Some(status) = status {
            self.status = status;
        }
        self
    }

    /// An allowed request; the other fields start empty.
    pub fn allow(
        timestamp: Timestamp,
        method: impl Into<String>,
        path: impl Into<String>,
        status: u16,
    ) -> AuditEvent {
        AuditEvent {
            timestamp,
            credential: None,
            method: method.into(),
            route: None,
            path: path.into(),
            dataset: None,
            client_ip: None,
            user_agent: None,
            decision: Verdict::Allow,
            error_code: None,
            status,
            latency_ms: 0,
        }
    }

    /// A refused request, with the refusal's code and status.
    pub fn deny(
        timestamp: Timestamp,
        method: impl Into<String>,
        path: impl Into<String>,
        error: &AuthError,
    ) -> AuditEvent {
        AuditEvent {
            decision: Verdict::Deny,
            error_code: Some(error.code()),
            ..AuditEvent::allow(timestamp, method, path, error.status())
        }
    }

    /// The event as one line of JSON, without a trailing newline.
    pub fn to_json_line(&self) -> String {
        fn opt(s: &Option<String>, max: usize) -> Option<Cow<'_, str>> {
            s.as_deref().map(|s| clean(s, max))
        }
        let credential = self.credential.as_ref();
        let line = Line {
            timestamp: self.timestamp.to_rfc3339(),
            decision: self.decision.as_str(),
            status: self.status,
            error_code: self.error_code.map(ErrorCode::as_str),
            credential_kind: credential.map(|c| c.kind),
            key_id: credential.and_then(|c| opt(&c.key_id, MAX_FIELD_CHARS)),
            sub: credential.and_then(|c| opt(&c.sub, MAX_FIELD_CHARS)),
            jti: credential.and_then(|c| opt(&c.jti, MAX_FIELD_CHARS)),
            method: clean(&self.method, MAX_METHOD_CHARS),
            route: opt(&self.route, MAX_FIELD_CHARS),
            path: clean(
                self.path.split(['?', '#']).next().unwrap_or_default(),
                MAX_PATH_CHARS,
            ),
            dataset: opt(&self.dataset, MAX_FIELD_CHARS),
            client_ip: opt(&self.client_ip, MAX_IP_CHARS),
            user_agent: opt(&self.user_agent, MAX_USER_AGENT_CHARS),
            latency_ms: self.latency_ms,
        };
        // Serializing strings and integers cannot fail; `{}` keeps the output one valid line.
        serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[derive(Serialize)]
struct Line<'a> {
    timestamp: String,
    decision: &'static str,
    status: u16,
    error_code: Option<&'static str>,
    credential_kind: Option<CredentialKind>,
    key_id: Option<Cow<'a, str>>,
    sub: Option<Cow<'a, str>>,
    jti: Option<Cow<'a, str>>,
    method: Cow<'a, str>,
    route: Option<Cow<'a, str>>,
    path: Cow<'a, str>,
    dataset: Option<Cow<'a, str>>,
    client_ip: Option<Cow<'a, str>>,
    user_agent: Option<Cow<'a, str>>,
    latency_ms: u64,
}

/// Drops characters that can break or disguise a log line, then keeps at most `max` characters.
/// Printable ASCII within the bound (nearly every line) is borrowed as it is.
fn clean(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max && s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Cow::Borrowed(s);
    }
    s.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_brings_the_upstream_status_and_the_latency_from_arrival() {
        let decided = AuditEvent::allow(Timestamp::Millis(1_000_250), "GET", "/v1/x", 200);
        let line: serde_json::Value = serde_json::from_str(
            &decided
                .clone()
                .with_outcome(Some(502), 1_000_395)
                .to_json_line(),
        )
        .unwrap();
        assert_eq!(
            (line["status"].as_u64(), line["latency_ms"].as_u64()),
            (Some(502), Some(145))
        );
        let refused = decided.with_outcome(None, 1_000_000);
        assert_eq!(
            (refused.status, refused.latency_ms),
            (200, 0),
            "no status: the gateway's; a clock step back: 0"
        );
    }

    #[test]
    fn redaction_keeps_a_short_prefix_of_long_secrets_only() {
        assert_eq!(
            redact("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
            "eyJhbG…"
        );
        assert_eq!(redact("short-secret"), "…");
        assert_eq!(redact(""), "…");
        assert_eq!(redact("ééééééééééééééééééééééééé"), "éééééé…");
    }

    #[test]
    fn rfc3339_known_instants() {
        // Reference values from Python's datetime.fromtimestamp(s, timezone.utc).
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (68_212_800, "1972-02-29T12:00:00Z"),
            (78_796_799, "1972-06-30T23:59:59Z"),
            (946_684_799, "1999-12-31T23:59:59Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (1_709_164_800, "2024-02-29T00:00:00Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (1_709_251_200, "2024-03-01T00:00:00Z"),
            (4_107_456_000, "2100-02-28T00:00:00Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (253_402_300_800, "9999-12-31T23:59:59Z"),
            (u64::MAX, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(Timestamp::Seconds(secs).to_rfc3339(), text, "{secs}");
        }
    }

    #[test]
    fn rfc3339_with_milliseconds() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
            (1_709_251_200_007, "2024-03-01T00:00:00.007Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (u64::MAX, "9999-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(Timestamp::Millis(ms).to_rfc3339(), text, "{ms}");
        }
    }

    /// Walks every day from 1970 to 9999 with a naive calendar and compares.
    #[test]
    fn civil_conversion_matches_a_naive_calendar_for_every_day() {
        let is_leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        let last_day = MAX_SECS / SECS_PER_DAY;
        for days in 0..=last_day {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let month_len = match m {
                2 if is_leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > month_len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        assert_eq!((y, m, d), (10_000, 1, 1));
    }

    fn full_event() -> AuditEvent {
        AuditEvent {
            credential: Some(CredentialRef::api_key("key_8f3a")),
            route: Some("datasets.read".into()),
            dataset: Some("sales".into()),
            client_ip: Some("203.0.113.7".into()),
            user_agent: Some("curl/8.4.0".into()),
            latency_ms: 3,
            ..AuditEvent::allow(
                Timestamp::Millis(1_709_208_000_250),
                "GET",
                "/v1/datasets/sales",
                200,
            )
        }
    }

    #[test]
    fn allow_line_is_exact() {
        assert_eq!(
            full_event().to_json_line(),
            r#"{"timestamp":"2024-02-29T12:00:00.250Z","decision":"allow","status":200,"error_code":null,"credential_kind":"api_key","key_id":"key_8f3a","sub":null,"jti":null,"method":"GET","route":"datasets.read","path":"/v1/datasets/sales","dataset":"sales","client_ip":"203.0.113.7","user_agent":"curl/8.4.0","latency_ms":3}"#
        );
    }

    #[test]
    fn deny_line_carries_the_error() {
        let err = AuthError::new(ErrorCode::ExpiredToken);
        let event = AuditEvent {
            credential: Some(CredentialRef::token(
                CredentialKind::Jwt,
                Some("user-42".into()),
                Some("jti-1".into()),
            )),
            ..AuditEvent::deny(Timestamp::Seconds(1_700_000_000), "POST", "/v1/query", &err)
        };
        assert_eq!(
            event.to_json_line(),
            r#"{"timestamp":"2023-11-14T22:13:20Z","decision":"deny","status":401,"error_code":"expired_token","credential_kind":"jwt","key_id":null,"sub":"user-42","jti":"jti-1","method":"POST","route":null,"path":"/v1/query","dataset":null,"client_ip":null,"user_agent":null,"latency_ms":0}"#
        );
        let anonymous = AuditEvent::deny(
            Timestamp::Seconds(0),
            "GET",
            "/",
            &AuthError::new(ErrorCode::MissingCredentials),
        );
        let v: serde_json::Value = serde_json::from_str(&anonymous.to_json_line()).unwrap();
        assert!(v["credential_kind"].is_null());
        assert_eq!(v["error_code"], "missing_credentials");
        let opaque = CredentialRef::token(CredentialKind::OpaqueToken, None, None);
        let e = AuditEvent {
            credential: Some(opaque),
            ..anonymous
        };
        assert!(e
            .to_json_line()
            .contains(r#""credential_kind":"opaque_token""#));
    }

    #[test]
    fn hostile_input_stays_on_one_line() {
        let event = AuditEvent {
            user_agent: Some("Mozilla\r\n{\"decision\":\"allow\"}\u{2028}x\u{2029}\u{202e}gnp.exe\u{0}\u{7f}\u{85}\t".into()),
            route: Some("r\nx".into()),
            dataset: Some("\u{1b}[31mred".into()),
            client_ip: Some("1.2.3.4\n5.6.7.8".into()),
            credential: Some(CredentialRef::token(
                CredentialKind::Jwt,
                Some("sub\u{2066}".into()),
                Some("\"quoted\"".into()),
            )),
            ..AuditEvent::allow(Timestamp::Seconds(0), "GET\r\n", "/a\nb", 200)
        };
        let line = event.to_json_line();
        assert_eq!(line.lines().count(), 1);
        assert!(!line.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{202e}', '\u{1b}']));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["user_agent"], "Mozilla{\"decision\":\"allow\"}xgnp.exe");
        assert_eq!(v["decision"], "allow");
        assert_eq!(v["route"], "rx");
        assert_eq!(v["dataset"], "[31mred");
        assert_eq!(v["client_ip"], "1.2.3.45.6.7.8");
        assert_eq!(v["sub"], "sub");
        assert_eq!(v["jti"], "\"quoted\"");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/ab");
    }

    #[test]
    fn lengths_are_capped_on_character_boundaries() {
        let event = AuditEvent {
            user_agent: Some("é".repeat(1000)),
            route: Some("r".repeat(1000)),
            client_ip: Some("1".repeat(1000)),
            ..AuditEvent::allow(
                Timestamp::Seconds(0),
                "X".repeat(100),
                "/".repeat(5000),
                200,
            )
        };
        let v: serde_json::Value = serde_json::from_str(&event.to_json_line()).unwrap();
        let len = |k: &str| v[k].as_str().unwrap().chars().count();
        assert_eq!(len("user_agent"), 256);
        assert_eq!(len("route"), 256);
        assert_eq!(len("client_ip"), 64);
        assert_eq!(len("method"), 16);
        assert_eq!(len("path"), 1024);
    }

    #[test]
    fn the_query_never_reaches_the_log() {
        for (path, logged) in [
            ("/v1/data?access_token=eyJhbGciOi.secret", "/v1/data"),
            ("/v1/data#frag", "/v1/data"),
            ("?api_key=sk_live_x", ""),
            ("/plain", "/plain"),
        ] {
            let e = AuditEvent::allow(Timestamp::Seconds(0), "GET", path, 200);
            let line = e.to_json_line();
            assert!(
                !line.contains("secret") && !line.contains("sk_live"),
                "{line}"
            );
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["path"], logged);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_one_json_line(
            ua in ".*",
            path in ".*",
            sub in ".*",
            ts in proptest::num::u64::ANY,
        ) {
            let e = AuditEvent {
                user_agent: Some(ua),
                credential: Some(CredentialRef::token(CredentialKind::Jwt, Some(sub), None)),
                ..AuditEvent::allow(Timestamp::Millis(ts), "GET", path, 200)
            };
            let line = e.to_json_line();
            proptest::prop_assert_eq!(line.lines().count(), 1);
            let separators = ['\u{2028}', '\u{2029}'];
            proptest::prop_assert!(!line.contains(separators));
            proptest::prop_assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok());
        }
    }
}
