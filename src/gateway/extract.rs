//! Where credentials come from, and what kind each one is.
//!
//! A JWT and an API key are told apart by shape (three dot-separated parts, the first a JSON
//! object in base64url) and prefix; anything else is neither and is refused as malformed, or
//! introspected when configured, rather than guessed at.

use std::net::IpAddr;

use base64ct::Encoding;

use super::config::{ClientIpConfig, SourceConfig};
use crate::error::{AuthError, ErrorCode};

/// A credential found in a request, with the header or parameter it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub value: &'a str,
    pub source: &'a SourceConfig,
}

/// Case-insensitive header lookup; a header present twice counts as ambiguous.
pub fn header<'a>(
    headers: &'a [(&'a str, &'a str)],
    name: &str,
) -> Result<Option<&'a str>, AuthError> {
    let mut found = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v);
    let first = found.next();
    if found.next().is_some() {
        return Err(AuthError::with_message(
            ErrorCode::InvalidRequest,
            "a credential header is repeated",
        ));
    }
    Ok(first)
}

/// The first credential present, in source order. Two different credentials in one request are
/// refused: which one to trust would be a guess.
pub fn credential<'a>(
    sources: &'a [SourceConfig],
    headers: &'a [(&'a str, &'a str)],
    path: &'a str,
) -> Result<Option<Found<'a>>, AuthError> {
    let mut found: Option<Found<'a>> = None;
    for source in sources {
        let value = match source {
            SourceConfig::Bearer => match header(headers, "authorization")? {
                Some(v) => bearer(v)?,
                None => None,
            },
            SourceConfig::Header { name } => header(headers, name)?
                .map(str::trim)
                .filter(|v| !v.is_empty()),
            SourceConfig::Cookie { name } => cookie(headers, name),
            SourceConfig::Query { name } => query(path, name),
        };
        if let Some(value) = value {
            match &found {
                Some(f) if f.value != value => {
                    return Err(AuthError::with_message(
                        ErrorCode::InvalidRequest,
                        "more than one credential was presented",
                    ))
                }
                Some(_) => {}
                None => found = Some(Found { value, source }),
            }
        }
    }
    Ok(found)
}

/// RFC 6750 §2.1: `Bearer` (case-insensitive) and one token. Another scheme is not ours.
fn bearer(value: &str) -> Result<Option<&str>, AuthError> {
    let value = value.trim();
    let Some((scheme, rest)) = value.split_once(' ') else {
        return if value.eq_ignore_ascii_case("bearer") {
            Err(AuthError::with_message(
                ErrorCode::InvalidRequest,
                "the Bearer credential is empty",
            ))
        } else {
            Ok(None)
        };
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(AuthError::with_message(
            ErrorCode::InvalidRequest,
            "malformed Authorization header",
        ));
    }
    Ok(Some(token))
}

fn cookie<'a>(headers: &'a [(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

fn query<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let (_, q) = path.split_once('?')?;
    q.split('#')
        .next()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The request path with one query parameter removed (to strip a `?api_key=` before forwarding).
pub fn without_query_param(path: &str, name: &str) -> String {
    let Some((p, q)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(name))
        .collect();
    if kept.is_empty() {
        p.to_owned()
    } else {
        format!("{p}?{}", kept.join("&"))
    }
}

/// What a presented credential looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Jwt,
    ApiKey,
    Unknown,
}

/// Tells a JWT from an API key without trusting either.
pub fn shape(value: &str, is_api_key_prefix: impl Fn(&str) -> bool) -> Shape {
    if is_compact_jws(value) {
        Shape::Jwt
    } else if is_api_key_prefix(value) {
        Shape::ApiKey
    } else {
        Shape::Unknown
    }
}

/// Three dot-separated parts whose first is a JSON object in base64url: `eyJ` (`{"`) in the
/// common case, and also a header JSON that starts with white space, which RFC 7515 allows.
fn is_compact_jws(value: &str) -> bool {
    let mut parts = value.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if header.starts_with("eyJ") {
        return true;
    }
    base64ct::Base64UrlUnpadded::decode_vec(header).is_ok_and(|json| {
        json.iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .is_some_and(|b| *b == b'{')
    })
}

/// The client address: the connection's peer, or a configured header. With `x-forwarded-for`
/// and `trusted_hops = n`, the client is the n-th entry from the right (each trusted proxy
/// appends one); fewer entries than that means the header cannot be trusted: `None`.
pub fn client_ip(
    cfg: &ClientIpConfig,
    headers: &[(&str, &str)],
    peer: Option<IpAddr>,
) -> Option<IpAddr> {
    let Some(name) = &cfg.header else {
        return peer;
    };
    let value = header(headers, name).ok().flatten()?;
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    let pick = if cfg.trusted_hops == 0 {
        entries.last()
    } else {
        entries
            .len()
            .checked_sub(cfg.trusted_hops)
            .and_then(|i| entries.get(i))
    };
    pick.and_then(|s| s.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Vec<SourceConfig> {
        vec![
            SourceConfig::Bearer,
            SourceConfig::Header {
                name: "x-api-key".into(),
            },
            SourceConfig::Cookie {
                name: "session".into(),
            },
            SourceConfig::Query {
                name: "api_key".into(),
            },
        ]
    }

    #[test]
    fn finds_credentials_in_each_source() {
        let s = sources();
        let get = |h: &[(&str, &str)], path: &str| {
            credential(&s, h, path).unwrap().map(|f| f.value.to_owned())
        };
        assert_eq!(
            get(&[("Authorization", "Bearer abc")], "/"),
            Some("abc".into())
        );
        assert_eq!(
            get(&[("authorization", "bearer  abc ")], "/"),
            Some("abc".into())
        );
        assert_eq!(
            get(&[("X-API-Key", "sk_live_x")], "/"),
            Some("sk_live_x".into())
        );
        assert_eq!(
            get(&[("cookie", "a=1; session=tok; b=2")], "/"),
            Some("tok".into())
        );
        assert_eq!(get(&[], "/v1?x=1&api_key=k1"), Some("k1".into()));
        assert_eq!(get(&[("Authorization", "Basic dXNlcjpwYXNz")], "/"), None);
        assert_eq!(get(&[], "/v1"), None);
    }

    #[test]
    fn refuses_ambiguity() {
        let s = sources();
        let code = |h: &[(&str, &str)], path: &str| credential(&s, h, path).unwrap_err().code();
        assert_eq!(
            code(&[("authorization", "Bearer a"), ("x-api-key", "b")], "/"),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(
                &[("authorization", "Bearer a"), ("Authorization", "Bearer a")],
                "/"
            ),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&[("authorization", "Bearer a b")], "/"),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(&[("authorization", "Bearer")], "/"),
            ErrorCode::InvalidRequest
        );
        // The same credential twice is not ambiguous.
        assert!(credential(
            &s,
            &[("authorization", "Bearer a"), ("x-api-key", "a")],
            "/"
        )
        .unwrap()
        .is_some());
    }

    #[test]
    fn shapes() {
        let prefix = |v: &str| v.starts_with("sk_live_");
        assert_eq!(shape("eyJhbGciOiJIUzI1NiJ9.e30.sig", prefix), Shape::Jwt);
        assert_eq!(shape("sk_live_abc", prefix), Shape::ApiKey);
        assert_eq!(shape("opaque-token", prefix), Shape::Unknown);
        assert_eq!(shape("eyJ.only-two", prefix), Shape::Unknown);
        // Regression: a JWS whose header JSON starts with white space (`\n{"alg"…`) was
        // refused as malformed because it does not start with `eyJ`.
        assert_eq!(shape("CnsiYWxnIjoiSFMyNTYifQ.e30.sig", prefix), Shape::Jwt);
        assert_eq!(shape("IHsiYWxnIjoiSFMyNTYifQ.e30.sig", prefix), Shape::Jwt);
        assert_eq!(
            shape("b3BhcXVl.e30.sig", prefix),
            Shape::Unknown,
            "not a JSON object"
        );
        assert_eq!(shape("a.b.c.d", prefix), Shape::Unknown);
    }

    #[test]
    fn forwarded_for_with_trusted_hops() {
        let cfg = |hops| ClientIpConfig {
            header: Some("x-forwarded-for".into()),
            trusted_hops: hops,
        };
        let h = [("X-Forwarded-For", "198.51.100.9, 203.0.113.7, 10.0.0.1")];
        assert_eq!(
            client_ip(&cfg(1), &h, None),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            client_ip(&cfg(2), &h, None),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(client_ip(&cfg(4), &h, None), None);
        assert_eq!(
            client_ip(&cfg(1), &[("x-forwarded-for", "garbage")], None),
            None
        );
        let peer = Some("192.0.2.1".parse().unwrap());
        assert_eq!(client_ip(&ClientIpConfig::default(), &h, peer), peer);
    }

    #[test]
    fn strips_one_query_parameter() {
        assert_eq!(
            without_query_param("/v1?api_key=k&x=1", "api_key"),
            "/v1?x=1"
        );
        assert_eq!(without_query_param("/v1?api_key=k", "api_key"), "/v1");
        assert_eq!(without_query_param("/v1", "api_key"), "/v1");
    }
}
