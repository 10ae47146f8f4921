//! Route rules: method and path patterns, captures, permission templates, and the path checks
//! that keep two parsers from reading one request path differently.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::permissions::{is_name, parse_permission, Permission};
use super::{invalid_request, is_label, MAX_NAME_LEN};
use crate::error::AuthError;

const MAX_PATH_LEN: usize = 8192;
const MAX_METHOD_LEN: usize = 32;

/// Capture name to percent-decoded value.
pub type Captures = BTreeMap<String, String>;

/// The capture whose value a credential's dataset restriction applies to.
pub(super) const DATASET_CAPTURE: &str = "dataset";

/// One route rule.
///
/// `method` is an HTTP method (case-insensitive) or `*`; a `GET` rule also matches `HEAD`
/// because most frameworks answer `HEAD` with the `GET` handler. `path` is a pattern of
/// literal segments and captures: `{name}` matches one segment, a final `{name*}` matches the
/// remaining zero or more segments. A trailing slash is ignored on patterns and paths alike.
/// `require` lists permissions that must all be granted; they may use single-segment captures,
/// as in `read:datasets.{dataset}`, and a request whose captured value is not a valid name is
/// refused rather than spliced into a permission. A capture called `dataset` is also checked
/// against the credential's dataset restriction. `anonymous` rules need no credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(default = "any_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default)]
    pub anonymous: bool,
    /// Credentials this route accepts: `api_key`, `jwt`, `opaque_token` or `jwt:<provider>`;
    /// empty: any.
    #[serde(default)]
    pub credentials: Vec<String>,
    /// Path capture → claim of the credential (for an API key: an attribute of its record) that
    /// must equal it (or, for a list, hold it): ties a tenant in the path (`/v1/{org}/…`) to the
    /// credential.
    #[serde(default)]
    pub bind: BTreeMap<String, String>,
    /// `typ` headers a JWT must carry on this route (RFC 9068's `at+jwt`, say); empty: any.
    /// Other kinds of credential are governed by `credentials`.
    #[serde(default)]
    pub typ: Vec<String>,
}

fn any_method() -> String {
    "*".to_string()
}

/// An allowed request: the rule it matched and what its path captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The matched rule, or `None` when an unmatched route was allowed by configuration.
    pub rule: Option<String>,
    /// Percent-decoded captures; a `{rest*}` capture joins its segments with `/`.
    pub captures: Captures,
    /// The `dataset` capture, if the rule has one.
    pub dataset: Option<String>,
    /// The route needs no credential.
    pub anonymous: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Capture(String),
}

/// A compiled rule: pattern split into segments, permission templates checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    pub(super) name: String,
    /// Upper-case; `None` matches every method.
    method: Option<String>,
    segments: Vec<Segment>,
    rest: Option<String>,
    require: Vec<Vec<Part>>,
    pub(super) anonymous: bool,
    pub(super) credentials: Vec<String>,
    pub(super) bind: Vec<(String, String)>,
    pub(super) typ: Vec<String>,
}

impl Rule {
    /// The permissions this rule requires of a request with `captures`, each with its text.
    pub(super) fn required(
        &self,
        captures: &Captures,
    ) -> Result<Vec<(String, Permission)>, AuthError> {
        let mut required = Vec::with_capacity(self.require.len());
        for template in &self.require {
            let text = render(template, captures)?;
            let permission = parse_permission(&text)
                .map_err(|_| invalid_request("the path does not form a valid permission"))?;
            required.push((text, permission));
        }
        Ok(required)
    }
}

/// The first rule whose method and path pattern match, with its captures.
pub(super) fn find<'r>(
    rules: &'r [Rule],
    method: &str,
    path: &str,
) -> Result<Option<(&'r Rule, Captures)>, AuthError> {
    let method = normalize_method(method)?;
    let segments = split_path(path)?;
    Ok(rules.iter().find_map(|rule| {
        let method_ok = match rule.method.as_deref() {
            None => true,
            Some(m) => m == method || (m == "GET" && method == "HEAD"),
        };
        if !method_ok {
            return None;
        }
        match_segments(rule, &segments).map(|captures| (rule, captures))
    }))
}

pub(super) fn route_match(rule: &Rule, captures: Captures) -> RouteMatch {
    RouteMatch {
        rule: Some(rule.name.clone()),
        dataset: captures.get(DATASET_CAPTURE).cloned(),
        captures,
        anonymous: rule.anonymous,
    }
}

fn match_segments(rule: &Rule, segments: &[String]) -> Option<Captures> {
    let fixed = rule.segments.len();
    let length_ok = match rule.rest {
        Some(_) => segments.len() >= fixed,
        None => segments.len() == fixed,
    };
    if !length_ok {
        return None;
    }
    let mut captures = BTreeMap::new();
    for (pattern, segment) in rule.segments.iter().zip(segments) {
        match pattern {
            Segment::Literal(literal) if literal == segment => {}
            Segment::Literal(_) => return None,
            Segment::Capture(name) => {
                captures.insert(name.clone(), segment.clone());
            }
        }
    }
    if let Some(name) = &rule.rest {
        captures.insert(name.clone(), segments.get(fixed..)?.join("/"));
    }
    Some(captures)
}

fn render(template: &[Part], captures: &Captures) -> Result<String, AuthError> {
    let mut out = String::new();
    for part in template {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Capture(name) => match captures.get(name) {
                Some(value) if is_name(value) => out.push_str(value),
                _ => {
                    return Err(invalid_request(
                        "a path segment is not a valid resource name",
                    ))
                }
            },
        }
    }
    Ok(out)
}

fn normalize_method(method: &str) -> Result<String, AuthError> {
    if method.is_empty()
        || method.len() > MAX_METHOD_LEN
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err(invalid_request("the request method is not valid"));
    }
    Ok(method.to_ascii_uppercase())
}

/// Splits a request path into percent-decoded segments, refusing every form that two parsers
/// could read differently.
fn split_path(path: &str) -> Result<Vec<String>, AuthError> {
    if path.len() > MAX_PATH_LEN {
        return Err(invalid_request("the request path is too long"));
    }
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let Some(rest) = path.strip_prefix('/') else {
        return Err(invalid_request("the request path must start with /"));
    };
    for b in rest.bytes() {
        match b {
            b'\\' => return Err(invalid_request("the request path contains a backslash")),
            b'#' | b';' => {
                return Err(invalid_request(
                    "the request path contains a fragment or parameter delimiter",
                ))
            }
            0x21..=0x7e => {}
            _ => {
                return Err(invalid_request(
                    "the request path contains a control, space or non-ASCII byte",
                ))
            }
        }
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    rest.split('/').map(decode_segment).collect()
}

fn decode_segment(raw: &str) -> Result<String, AuthError> {
    if raw.is_empty() {
        return Err(invalid_request(
            "the request path contains an empty segment",
        ));
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(b) = input.next() {
        if b != b'%' {
            bytes.push(b);
            continue;
        }
        let decoded = match (input.next().and_then(hex), input.next().and_then(hex)) {
            (Some(hi), Some(lo)) => hi << 4 | lo,
            _ => {
                return Err(invalid_request(
                    "the request path has invalid percent-encoding",
                ))
            }
        };
        match decoded {
            b'/' | b'\\' => {
                return Err(invalid_request(
                    "the request path contains an encoded slash or backslash",
                ))
            }
            b'%' => {
                return Err(invalid_request(
                    "the request path contains an encoded percent sign",
                ))
            }
            // Refused raw, so refused encoded too: `/admin%3Bx` must not slip past an `admin`
            // rule here while a server that decodes before stripping `;` parameters (or before
            // splitting off a query or fragment) routes it to `/admin`.
            b';' | b'?' | b'#' => {
                return Err(invalid_request(
                    "the request path contains an encoded parameter, query or fragment delimiter",
                ))
            }
            0x00..=0x1f | 0x7f => {
                return Err(invalid_request(
                    "the request path contains an encoded control byte",
                ))
            }
            _ => bytes.push(decoded),
        }
    }
    let segment = String::from_utf8(bytes)
        .map_err(|_| invalid_request("the request path is not valid UTF-8"))?;
    if segment == "." || segment == ".." {
        return Err(invalid_request("the request path contains a dot segment"));
    }
    Ok(segment)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub(super) fn compile_rule(config: &RuleConfig) -> Result<Rule, String> {
    if !is_label(&config.name) {
        return Err("name must be 1-64 characters of letters, digits, _ - . :".into());
    }
    let method = match config.method.as_str() {
        "*" => None,
        m => Some(normalize_method(m).map_err(|_| "method must be * or an HTTP method")?),
    };
    let (segments, rest) = compile_pattern(&config.path)?;
    if config.anonymous && !config.require.is_empty() {
        return Err("an anonymous rule cannot require permissions".into());
    }
    let require = config
        .require
        .iter()
        .map(|t| compile_template(t, &segments, rest.as_deref()))
        .collect::<Result<_, _>>()?;
    for c in &config.credentials {
        let known = matches!(c.as_str(), "api_key" | "jwt" | "opaque_token")
            || c.strip_prefix("jwt:").is_some_and(|p| !p.is_empty());
        if !known {
            return Err("credentials: api_key, jwt, opaque_token or jwt:<provider>".into());
        }
    }
    let captured = |name: &str| {
        segments
            .iter()
            .any(|s| matches!(s, Segment::Capture(c) if c == name))
            || rest.as_deref() == Some(name)
    };
    if config.bind.keys().any(|c| !captured(c)) {
        return Err("bind: every key must be a capture of the rule's path".into());
    }
    if config
        .typ
        .iter()
        .any(|t| t.is_empty() || t.len() > MAX_NAME_LEN || !t.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err("typ: entries must be 1-64 printable ASCII characters".into());
    }
    if config.anonymous
        && (!config.credentials.is_empty() || !config.bind.is_empty() || !config.typ.is_empty())
    {
        return Err("an anonymous rule cannot restrict credentials".into());
    }
    Ok(Rule {
        name: config.name.clone(),
        method,
        segments,
        rest,
        require,
        anonymous: config.anonymous,
        credentials: config.credentials.clone(),
        bind: config.bind.clone().into_iter().collect(),
        typ: config.typ.clone(),
    })
}

fn compile_pattern(pattern: &str) -> Result<(Vec<Segment>, Option<String>), String> {
    let Some(body) = pattern.strip_prefix('/') else {
        return Err("path must start with /".into());
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    let mut segments = Vec::new();
    let mut rest = None;
    let mut seen = BTreeSet::new();
    if body.is_empty() {
        return Ok((segments, rest));
    }
    for raw in body.split('/') {
        if rest.is_some() {
            return Err("a {name*} capture must be the last segment".into());
        }
        if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            let (name, is_rest) = match inner.strip_suffix('*') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if !is_capture_name(name) {
                return Err(
                    "capture names must be a letter or _ followed by letters, digits, _".into(),
                );
            }
            if !seen.insert(name.to_string()) {
                return Err(format!("capture '{name}' appears twice"));
            }
            if is_rest {
                rest = Some(name.to_string());
            } else {
                segments.push(Segment::Capture(name.to_string()));
            }
        } else {
            let literal_ok = !raw.is_empty()
                && raw != "."
                && raw != ".."
                && raw != "*"
                && raw.bytes().all(|b| {
                    (0x21..=0x7e).contains(&b)
                        && !matches!(b, b'{' | b'}' | b'%' | b'\\' | b';' | b'?' | b'#')
                });
            if !literal_ok {
                return Err("path segments must be literal text (no empty, . or .. segments, no %, \\, ;, ?, #, braces or *) or {captures}".into());
            }
            segments.push(Segment::Literal(raw.to_string()));
        }
    }
    Ok((segments, rest))
}

fn is_capture_name(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn compile_template(
    text: &str,
    segments: &[Segment],
    rest: Option<&str>,
) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut remaining = text;
    while let Some(open) = remaining.find('{') {
        let (literal, after) = remaining.split_at(open);
        if !literal.is_empty() {
            parts.push(Part::Text(literal.to_string()));
        }
        let Some((name, tail)) = after.get(1..).and_then(|a| a.split_once('}')) else {
            return Err("a permission has an unclosed {".into());
        };
        if rest == Some(name) {
            return Err(format!(
                "permission uses the multi-segment capture '{name}', which cannot form a resource name"
            ));
        }
        if !segments.contains(&Segment::Capture(name.to_string())) {
            let shown = if is_capture_name(name) { name } else { "?" };
            return Err(format!("permission uses unknown capture '{shown}'"));
        }
        parts.push(Part::Capture(name.to_string()));
        remaining = tail;
    }
    if !remaining.is_empty() {
        parts.push(Part::Text(remaining.to_string()));
    }
    let sample: String = parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.as_str(),
            Part::Capture(_) => "x",
        })
        .collect();
    parse_permission(&sample)?;
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::policy::tests::{code, grant, policy, rules_err};
    use crate::policy::{Policy, PolicyConfig, Unmatched};
    use proptest::prelude::*;

    #[test]
    fn rules_are_validated_at_load() {
        let rule = |extra: &str| rules_err(&format!(r#"{{"name": "r", {extra}}}"#));
        assert_eq!(
            rule(r#""path": "v1/x""#),
            "rule 'r': path must start with /"
        );
        for path in [
            "/v1//x", "/v1/../x", "/v1/./x", "/v1/*", "/v1/%2F", "/a\\b", "/a;b", "/a?b", "/é",
        ] {
            assert!(
                rule(&format!(
                    r#""path": {}"#,
                    serde_json::to_string(path).unwrap()
                ))
                .contains("path segments must be literal text"),
                "{path}"
            );
        }
        assert!(rule(r#""path": "/{rest*}/x""#).contains("must be the last segment"));
        assert!(rule(r#""path": "/{a}/{a}""#).contains("capture 'a' appears twice"));
        assert!(rule(r#""path": "/{a}/{a*}""#).contains("appears twice"));
        assert!(rule(r#""path": "/{1a}""#).contains("capture names"));
        assert!(rule(r#""path": "/{}""#).contains("capture names"));
        assert_eq!(
            rule(r#""path": "/{a}", "require": ["read:{b}"]"#),
            "rule 'r': permission uses unknown capture 'b'"
        );
        assert!(rule(r#""path": "/{a*}", "require": ["read:{a}"]"#).contains("multi-segment"));
        assert!(rule(r#""path": "/{a}", "require": ["read:{a"]"#).contains("unclosed"));
        assert!(rule(r#""path": "/{a}", "require": ["read:x.{a}*"]"#).contains("resource"));
        assert!(rule(r#""path": "/", "require": ["read:"]"#).contains("resource"));
        assert!(rule(r#""path": "/", "method": "GE T""#).contains("method"));
        assert!(rule(r#""path": "/", "method": """#).contains("method"));
        assert!(
            rule(r#""path": "/", "anonymous": true, "require": ["read"]"#)
                .contains("anonymous rule cannot require")
        );
        assert_eq!(
            rules_err(r#"{"name": "a", "path": "/"}, {"name": "a", "path": "/x"}"#),
            "rule 'a' is defined twice"
        );
        assert!(rules_err(r#"{"name": "bad name", "path": "x"}"#).starts_with("rules[0]: name"));
        assert!(
            rules_err(r#"{"name": "ok", "path": "/"}, {"name": "x", "path": "x"}"#)
                .starts_with("rule 'x'")
        );
    }

    #[test]
    fn methods_match_case_insensitively_and_get_covers_head() {
        let p = policy();
        let g = grant(&["read:datasets"]);
        let path = "/v1/acme/web/datasets/sales";
        assert!(p.evaluate("get", path, &g).is_ok());
        assert_eq!(
            p.evaluate("HEAD", path, &g).unwrap().rule.as_deref(),
            Some("datasets-read")
        );
        assert_eq!(
            code(p.evaluate("POST", path, &g)),
            ErrorCode::AccessDenied,
            "no POST rule: unmatched"
        );
        assert_eq!(
            p.evaluate("PATCH", "/v1/me", &g).unwrap().rule.as_deref(),
            Some("me")
        );
        for bad in ["", "G3T", "GET ", "GÉT", "GET\r\n", &"A".repeat(33)] {
            assert_eq!(
                code(p.evaluate(bad, path, &g)),
                ErrorCode::InvalidRequest,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let p = Policy::from_json(
            r#"{"rules": [
                {"name": "public-report", "method": "GET", "path": "/reports/public", "anonymous": true},
                {"name": "reports", "path": "/reports/{id}", "require": ["read:reports.{id}"]},
                {"name": "never", "path": "/reports/public", "require": ["admin"]}
            ]}"#,
        )
        .unwrap();
        let d = p.evaluate("GET", "/reports/public", &grant(&[])).unwrap();
        assert_eq!(d.rule.as_deref(), Some("public-report"));
        assert!(d.anonymous);
        let e = p
            .evaluate("POST", "/reports/public", &grant(&[]))
            .unwrap_err();
        assert_eq!(e.message(), "rule 'reports' requires read:reports.public");
    }

    #[test]
    fn rest_captures_take_the_remainder() {
        let p = policy();
        let d = p.evaluate_anonymous("GET", "/static/css/site.css").unwrap();
        assert_eq!(d.captures["rest"], "css/site.css");
        assert_eq!(
            p.evaluate_anonymous("GET", "/static").unwrap().captures["rest"],
            ""
        );
        assert_eq!(
            p.evaluate_anonymous("GET", "/static/").unwrap().captures["rest"],
            ""
        );
        let d = p.evaluate_anonymous("GET", "/static/a%20b/c").unwrap();
        assert_eq!(d.captures["rest"], "a b/c");
        assert_eq!(
            code(p.evaluate("GET", "/admin/users", &grant(&["read"]))),
            ErrorCode::InsufficientScope
        );
        assert!(p
            .evaluate("PUT", "/admin/users/7", &grant(&["admin"]))
            .is_ok());
    }

    #[test]
    fn paths_are_normalized_only_in_safe_ways() {
        let p = policy();
        let g = grant(&["read:datasets"]);
        let dataset = |path: &str| p.evaluate("GET", path, &g).map(|d| d.dataset);
        let sales = Ok(Some("sales".to_string()));
        assert_eq!(dataset("/v1/acme/web/datasets/sales"), sales);
        assert_eq!(dataset("/v1/acme/web/datasets/sales/"), sales);
        assert_eq!(dataset("/v1/acme/web/datasets/sales?x=1"), sales);
        assert_eq!(
            dataset("/v1/acme/web/datasets/sales?next=/../../admin%2F"),
            sales
        );
        assert_eq!(dataset("/v1/acme/web/datasets/sa%6Ces"), sales);
        assert_eq!(dataset("/v1/acme/web/datasets/sa%6ces"), sales);
        let d = p
            .evaluate("GET", "/v1/%C3%A9t%C3%A9/web/datasets/sales", &g)
            .unwrap();
        assert_eq!(
            d.captures["org"], "été",
            "unicode is fine where no permission uses it"
        );
        assert_eq!(
            code(p.evaluate("GET", "/V1/acme/web/datasets/sales", &g)),
            ErrorCode::AccessDenied,
            "literals are case-sensitive"
        );
    }

    #[test]
    fn path_confusion_is_refused() {
        let p = policy();
        let g = grant(&["*"]);
        let long = format!("/v1/{}", "a".repeat(MAX_PATH_LEN));
        let many = "/a".repeat(MAX_PATH_LEN / 2 + 1);
        for (path, why) in [
            ("/v1/acme/web/datasets/../../admin/x", "dot segment"),
            ("/v1/acme/web/./datasets/sales", "dot segment"),
            ("/static/..", "dot segment"),
            ("/static/%2e%2e/admin", "dot segment"),
            ("/static/%2E%2E", "dot segment"),
            ("/static/.%2e", "dot segment"),
            ("/static/%2e", "dot segment"),
            ("/static/a%2Fb", "encoded slash"),
            ("/static/a%2fb", "encoded slash"),
            ("/static/a%5Cb", "encoded slash"),
            ("/static/a%5cb", "encoded slash"),
            ("/static/a\\b", "backslash"),
            ("/static\\..\\admin", "backslash"),
            ("/static/a%00", "encoded control"),
            ("/static/a%0d%0aX-Injected:%201", "encoded control"),
            ("/static/a%7F", "encoded control"),
            ("/static/a\0", "control, space or non-ASCII"),
            ("/static/a\tb", "control, space or non-ASCII"),
            ("/static/a b", "control, space or non-ASCII"),
            ("/static/é", "control, space or non-ASCII"),
            ("/static/\u{202e}", "control, space or non-ASCII"),
            ("/static/a\u{7f}", "control, space or non-ASCII"),
            ("/static//admin", "empty segment"),
            ("//static/a", "empty segment"),
            ("/static/a//", "empty segment"),
            ("/admin;x=1/users", "parameter delimiter"),
            ("/static/a#frag", "parameter delimiter"),
            ("/static/%", "percent-encoding"),
            ("/static/%4", "percent-encoding"),
            ("/static/%zz", "percent-encoding"),
            ("/static/%%32%65", "percent-encoding"),
            ("/static/%252e%252e", "encoded percent"),
            ("/static/%252F", "encoded percent"),
            ("/admin%3Bx=1/users", "encoded parameter"),
            ("/admin%3bx/users", "encoded parameter"),
            ("/static/a%3Fx", "encoded parameter"),
            ("/static/a%23x", "encoded parameter"),
            ("/static/%ff", "UTF-8"),
            ("/static/%C0%AE%C0%AE", "UTF-8"),
            ("", "must start with /"),
            ("static/a", "must start with /"),
            ("*", "must start with /"),
            ("http://evil/static/a", "must start with /"),
            ("?/static/a", "must start with /"),
            (long.as_str(), "too long"),
        ] {
            let e = p.evaluate("GET", path, &g).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidRequest, "{path:?}");
            assert!(e.message().contains(why), "{path:?}: {}", e.message());
            assert_eq!(
                code(p.evaluate_anonymous("GET", path)),
                ErrorCode::InvalidRequest
            );
        }
        // Thousands of segments within the length limit are only a linear scan.
        assert_eq!(
            code(p.evaluate("GET", &many, &g)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(p.evaluate("GET", &many[..MAX_PATH_LEN], &g)),
            ErrorCode::AccessDenied
        );
    }

    #[test]
    fn captures_cannot_inject_into_permissions() {
        let p = policy();
        let g = grant(&["read:datasets.sales"]);
        for path in [
            "/v1/acme/web/datasets/sales.secret",
            "/v1/acme/web/datasets/sales%2Esecret",
            "/v1/acme/web/datasets/*",
            "/v1/acme/web/datasets/%2A",
            "/v1/acme/web/datasets/sales:x",
            "/v1/acme/web/datasets/sa%20les",
            "/v1/acme/web/datasets/%C3%A9",
            "/v1/acme/web/datasets/%7Bdataset%7D",
        ] {
            let e = p.evaluate("GET", path, &g).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidRequest, "{path}");
            assert_eq!(e.message(), "a path segment is not a valid resource name");
        }
        let long = format!("/v1/acme/web/datasets/{}", "a".repeat(65));
        assert_eq!(
            code(p.evaluate("GET", &long, &g)),
            ErrorCode::InvalidRequest
        );
    }

    proptest! {
        #[test]
        fn arbitrary_requests_never_panic(method in "\\PC{0,10}", path in "\\PC{0,120}") {
            let p = policy();
            let _ = p.evaluate(&method, &path, &grant(&["*"]));
            let _ = p.evaluate_anonymous(&method, &path);
        }

        #[test]
        fn path_like_requests_never_panic(
            path in "(/([a-z.]{0,3}|%[0-9a-fA-F]{0,2}|\\{[a-z]*\\*?\\}|[\\\\;#?]|sales)){0,8}/?"
        ) {
            let p = policy();
            let _ = p.evaluate("GET", &path, &grant(&["*"]));
        }

        #[test]
        fn arbitrary_rule_configs_never_panic(
            name in "\\PC{0,12}", method in "\\PC{0,6}", path in "\\PC{0,40}", require in "\\PC{0,30}"
        ) {
            let config = PolicyConfig {
                default_roles: false,
                roles: BTreeMap::new(),
                rules: vec![RuleConfig { name, method, path, require: vec![require], anonymous: false, credentials: vec![], bind: Default::default(), typ: vec![] }],
                unmatched: Unmatched::Deny,
            };
            if let Ok(p) = Policy::new(&config) {
                let _ = p.evaluate("GET", "/a/b/c", &grant(&["*"]));
            }
        }
    }
}
