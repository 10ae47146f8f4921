//! Metric names, one vocabulary for every host: the filter's Envoy stats and the Worker's
//! Analytics Engine data points count the same things under the same names.
//!
//! | name | counts |
//! |---|---|
//! | `tokenwarden.allowed` | requests let through |
//! | `tokenwarden.denied.<code>` | refusals by stable code, except rate limiting |
//! | `tokenwarden.rate_limited` | 429 answers |
//! | `tokenwarden.cache.hit`, `tokenwarden.cache.miss` | verified-token cache use, and key lookup answers (`api_keys.store.lookup`) |
//! | `tokenwarden.provider.<name>.<any of the above>` | the same, per source that decided |
//! | `tokenwarden.fetch.<source>.ok`, `….failed` | fetches of `jwks.<provider>`, `discovery.<provider>`, `keys`, `revoked_tokens` |
//! | `tokenwarden.key_age_seconds.<source>` | (gauge) seconds since the source's last good load |

use super::response::{CacheUse, Report};
use crate::error::ErrorCode;

/// The counters one decision adds one to: its outcome, then (when a source decided) the same
/// per source, then the cache use and its per-source twin.
pub fn decision_counters(report: &Report) -> Vec<String> {
    let outcome = match report.code {
        None => "allowed".to_owned(),
        Some(ErrorCode::RateLimited) => "rate_limited".to_owned(),
        Some(code) => format!("denied.{}", code.as_str()),
    };
    let cache = match report.cache {
        CacheUse::Hit => Some("cache.hit"),
        CacheUse::Miss => Some("cache.miss"),
        CacheUse::None => None,
    };
    let provider = report.provider.as_deref().map(stat_part);
    let mut names = Vec::with_capacity(4);
    for what in std::iter::once(outcome.as_str()).chain(cache) {
        names.push(format!("tokenwarden.{what}"));
        if let Some(p) = &provider {
            names.push(format!("tokenwarden.provider.{p}.{what}"));
        }
    }
    names
}

/// `tokenwarden.fetch.<source>.ok` or `….failed` for fetch id `id`.
pub fn fetch_counter(id: &str, ok: bool) -> String {
    let outcome = if ok { "ok" } else { "failed" };
    format!("tokenwarden.fetch.{}.{outcome}", source_name(id))
}

/// `tokenwarden.key_age_seconds.<source>` for fetch id `id`.
pub fn key_age_gauge(id: &str) -> String {
    format!("tokenwarden.key_age_seconds.{}", source_name(id))
}

/// A name as one stat-name segment: anything but ASCII letters, digits, `_` and `-` becomes
/// `_` (Envoy splits stat names at dots).
fn stat_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `jwks:idp` → `jwks.idp`.
fn source_name(id: &str) -> String {
    match id.split_once(':') {
        Some((kind, name)) => format!("{kind}.{}", stat_part(name)),
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_no_stray_dots_and_count_per_source() {
        assert_eq!(
            fetch_counter("jwks:idp", true),
            "tokenwarden.fetch.jwks.idp.ok"
        );
        assert_eq!(
            fetch_counter("discovery:a.b:c d", false),
            "tokenwarden.fetch.discovery.a_b_c_d.failed"
        );
        assert_eq!(key_age_gauge("keys"), "tokenwarden.key_age_seconds.keys");
        let report = Report {
            code: Some(ErrorCode::ExpiredToken),
            provider: Some("corp.idp".into()),
            cache: CacheUse::Miss,
            ..Report::default()
        };
        assert_eq!(
            decision_counters(&report),
            [
                "tokenwarden.denied.expired_token",
                "tokenwarden.provider.corp_idp.denied.expired_token",
                "tokenwarden.cache.miss",
                "tokenwarden.provider.corp_idp.cache.miss"
            ]
        );
        let limited = Report {
            code: Some(ErrorCode::RateLimited),
            ..Report::default()
        };
        assert_eq!(decision_counters(&limited), ["tokenwarden.rate_limited"]);
        assert_eq!(
            decision_counters(&Report::default()),
            ["tokenwarden.allowed"]
        );
    }
}
