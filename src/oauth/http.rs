//! Network steps as data: the request a host sends for the core, the body encodings, and the
//! rule that secrets only travel over TLS.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{AuthError, ErrorCode};

/// Response bodies above this size are refused before parsing: no authorization server answer
/// (token, introspection, discovery) comes near it, and parsing cost stays bounded.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

const MAX_URL_LEN: usize = 2048;

/// A request the host should send. `Debug` shows header names and the body length only, since
/// headers and body carry client secrets, codes and tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// How request parameters are encoded in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 requires.
    #[default]
    Form,
    /// A JSON object of strings, for platforms that document JSON token requests.
    Json,
}

/// Request parameters in the order they are sent.
pub(crate) type Params<'a> = Vec<(&'static str, &'a str)>;

/// Encodes `params` as a body; returns the `Content-Type` and the body.
pub(crate) fn encode_body(
    params: &[(&str, &str)],
    format: BodyFormat,
) -> Result<(&'static str, String), AuthError> {
    match format {
        BodyFormat::Form => {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            ser.extend_pairs(params.iter().copied());
            Ok(("application/x-www-form-urlencoded", ser.finish()))
        }
        BodyFormat::Json => serde_json::to_string(&OrderedParams(params))
            .map(|body| ("application/json", body))
            .map_err(|_| AuthError::with_message(ErrorCode::InvalidConfig, "cannot encode JSON")),
    }
}

struct OrderedParams<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for OrderedParams<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

/// A `POST` with the given parameters, JSON accepted in return.
pub(crate) fn post(
    url: &str,
    params: &[(&str, &str)],
    format: BodyFormat,
    mut extra_headers: Vec<(String, String)>,
) -> Result<HttpRequest, AuthError> {
    let (content_type, body) = encode_body(params, format)?;
    let mut headers = vec![
        ("Content-Type".to_owned(), content_type.to_owned()),
        ("Accept".to_owned(), "application/json".to_owned()),
    ];
    headers.append(&mut extra_headers);
    Ok(HttpRequest {
        method: "POST".to_owned(),
        url: url.to_owned(),
        headers,
        body,
    })
}

/// Refuses a response body larger than [`MAX_RESPONSE_BYTES`].
pub(crate) fn check_body_size(body: &[u8]) -> Result<(), AuthError> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(AuthError::with_message(
            ErrorCode::InvalidResponse,
            "the response body is too large",
        ));
    }
    Ok(())
}

/// Accepts `https://` URLs, and `http://` only on a loopback host (`localhost`, `127.0.0.1`,
/// `[::1]`) for development. Also refuses what could make hosts disagree about the target:
/// user info, a fragment, whitespace, backslashes and non-ASCII (use punycode).
pub fn require_secure_endpoint(url: &str) -> Result<(), AuthError> {
    if is_secure_endpoint(url) {
        Ok(())
    } else {
        Err(AuthError::with_message(
            ErrorCode::InvalidConfig,
            "endpoints must be https:// URLs (http:// only on a loopback host)",
        ))
    }
}

pub(crate) fn is_secure_endpoint(url: &str) -> bool {
    if url.len() > MAX_URL_LEN
        || url
            .bytes()
            .any(|b| !(0x21..=0x7e).contains(&b) || b == b'\\' || b == b'#')
    {
        return false;
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let Some(host) = host_of(authority) else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("https") {
        return true;
    }
    scheme.eq_ignore_ascii_case("http")
        && (host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]")
}

/// The host of an authority (`host[:port]` or `[v6][:port]`); `None` when empty or malformed.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = (authority.get(..=end)?, authority.get(end + 1..)?);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port_ok = match port {
        None => true,
        Some(p) => !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()),
    };
    (!host.is_empty() && port_ok).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        for ok in [
            "https://as.example.com/token",
            "HTTPS://as.example.com:8443/oauth2/token?tenant=a",
            "https://as.example.com",
            "http://localhost:8080/token",
            "http://LOCALHOST/token",
            "http://127.0.0.1:9000/token",
            "http://[::1]:9000/token",
            "http://[::1]",
        ] {
            assert!(require_secure_endpoint(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            "",
            "as.example.com/token",
            "http://as.example.com/token",
            "http://127.0.0.2/token",
            "http://localhost.evil.com/token",
            "http://localhost@evil.com/token",
            "https://user:pass@as.example.com/token",
            "http://localhost\\@evil.com/",
            "https://as.example.com/token#frag",
            "https:// as.example.com/token",
            "https://as.example.com/tok en",
            "https://as.exämple.com/token",
            "https://",
            "https://:443/token",
            "https://as.example.com:/token",
            "https://as.example.com:80a/token",
            "http://[::1/token",
            "http://[::1]x/token",
            "ftp://as.example.com/",
            "javascript://as.example.com/%0aalert(1)",
            "https://as.example.com/\r\nX-Injected: 1",
        ] {
            let err = require_secure_endpoint(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "{bad:?}");
        }
        let long = format!("https://as.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(require_secure_endpoint(&long).is_err());
    }

    #[test]
    fn form_and_json_bodies() {
        let params = [("grant_type", "client_credentials"), ("scope", "a b&c=d")];
        let (ct, body) = encode_body(&params, BodyFormat::Form).unwrap();
        assert_eq!(ct, "application/x-www-form-urlencoded");
        assert_eq!(body, "grant_type=client_credentials&scope=a+b%26c%3Dd");
        let (ct, body) = encode_body(&params, BodyFormat::Json).unwrap();
        assert_eq!(ct, "application/json");
        assert_eq!(
            body,
            r#"{"grant_type":"client_credentials","scope":"a b&c=d"}"#
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let req = post(
            "https://as.example.com/token",
            &[("client_secret", "s3cr3t")],
            BodyFormat::Form,
            vec![("Authorization".into(), "Basic czNjcjN0".into())],
        )
        .unwrap();
        let shown = format!("{req:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("czNjcjN0"));
        assert!(shown.contains("Authorization"));
        assert_eq!(req.header("authorization"), Some("Basic czNjcjN0"));
        assert_eq!(req.header("accept"), Some("application/json"));
        assert_eq!(req.header("missing"), None);
    }

    #[test]
    fn body_size_is_bounded() {
        assert!(check_body_size(&vec![b'a'; MAX_RESPONSE_BYTES]).is_ok());
        let err = check_body_size(&vec![b'a'; MAX_RESPONSE_BYTES + 1]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidResponse);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_urls_never_panic(url in ".*") {
            let _ = require_secure_endpoint(&url);
        }

        #[test]
        fn arbitrary_authorities_never_panic(authority in "[\\[\\]:@a-z0-9.]{0,24}") {
            let _ = require_secure_endpoint(&format!("http://{authority}/x"));
        }
    }
}
