//! The plugin configuration: the gateway's JSON document (`docs/configuration.md`, "Gateway
//! configuration" — the same schema the Worker reads) in the `configuration` field of Envoy's
//! wasm filter, a `google.protobuf.StringValue`. Parsed once per root context in `on_configure`.
//!
//! A refused document gives one line, naming the field: `invalid plugin configuration:
//! error_style: expected one of `simple`, `error_list`, `typed` (line 1 column …)`.

use tokenwarden::gateway::Gateway;

/// Longest log line written for a refused configuration.
const MAX_LINE: usize = 300;

/// Parses and builds the gateway, or returns the single log line that says why not.
pub fn load(bytes: &[u8]) -> Result<Gateway, String> {
    let fail = |problem: &str| {
        Err(one_line(&format!(
            "invalid plugin configuration: {problem}"
        )))
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return fail("configuration: empty; expected the gateway's JSON document");
    }
    let Ok(json) = std::str::from_utf8(bytes) else {
        return fail("configuration: not UTF-8");
    };
    match Gateway::from_json(json) {
        Ok(gateway) => Ok(gateway),
        Err(e) => fail(e.message()),
    }
}

/// A log line: no control characters (a newline would split it), bounded.
fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_LINE)
        .collect();
    if s.chars().count() > MAX_LINE {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INLINE: &str = r#""providers":[{"name":"idp","issuer":"https://idp.test","jwks":{"inline":{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA","alg":"HS256","kid":"k"}]}}}]"#;

    fn err(bytes: &[u8]) -> String {
        load(bytes).expect_err("refused")
    }

    #[test]
    fn a_valid_document_builds_a_gateway() {
        let json = format!(r#"{{"realm":"api","error_style":"typed",{INLINE}}}"#);
        let gw = load(json.as_bytes()).unwrap();
        assert_eq!(gw.config().realm, "api");
    }

    #[test]
    fn refusals_are_one_line_naming_the_field() {
        let e = err(format!(r#"{{"error_style":"nope",{INLINE}}}"#).as_bytes());
        assert!(
            e.starts_with(
                "invalid plugin configuration: error_style: expected one of `simple`, \
                 `error_list`, `typed`"
            ),
            "{e}"
        );
        assert!(err(b"").contains("configuration: empty"));
        assert!(err(b" \n").contains("configuration: empty"));
        assert!(err(&[b'{', 0xff, b'}']).contains("configuration: not UTF-8"));
        assert!(err(b"{\"realm\":").contains("invalid JSON at line 1"));
        assert!(err(br#"{"realm":"api"}"#).contains("providers/api_keys"));
        for e in [err(b"{\n\"realm\":\n"), err(&[b'x'; 5000])] {
            assert!(
                !e.contains('\n') && e.chars().count() <= MAX_LINE + 1,
                "{e}"
            );
        }
    }
}
