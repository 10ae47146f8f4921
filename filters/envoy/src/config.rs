//! The plugin configuration: JSON in the `configuration` field of Envoy's wasm filter (a
//! `google.protobuf.StringValue`), parsed once per root context in `on_configure`.
//!
//! ```json
//! { "realm": "api", "error_style": "simple" }
//! ```
//!
//! | field | type | default | meaning |
//! |---|---|---|---|
//! | `realm` | string, 1–128 printable characters, no `"` or `\` | required | `realm` of `WWW-Authenticate: Bearer realm="…"` |
//! | `error_style` | `"simple"` \| `"error_list"` \| `"typed"` | `"simple"` | JSON body style of refusals (the core's `ErrorStyle`) |
//!
//! Unknown fields are refused rather than ignored: a misspelt security setting must not silently
//! fall back to a default. Every problem is reported as one [`ConfigError`] naming the field.

use std::fmt;

use serde_json::{Map, Value};
use tokenwarden::ErrorStyle;

/// The fields this version understands; anything else is refused.
const KNOWN_FIELDS: [&str; 2] = ["realm", "error_style"];
/// Longest accepted realm, in bytes.
const MAX_REALM_LEN: usize = 128;

/// The parsed, validated configuration shared by every request of one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterConfig {
    pub realm: String,
    pub error_style: ErrorStyle,
}

/// Why a configuration was refused: the field (a JSON path such as `error_style`, or
/// `configuration` for the document as a whole) and the problem, fit for one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// No "tokenwarden" prefix: Envoy already starts the line with `wasm log <plugin name> <root_id>:`.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid plugin configuration: field `{}`: {}",
            self.field, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

/// Parses and validates the plugin configuration bytes.
pub fn parse(bytes: &[u8]) -> Result<FilterConfig, ConfigError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::new(
            "configuration",
            "is empty; expected a JSON object such as {\"realm\":\"api\"}",
        ));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ConfigError::new("configuration", format!("is not valid JSON ({e})")))?;
    let Value::Object(object) = value else {
        return Err(ConfigError::new(
            "configuration",
            format!("must be a JSON object, found {}", kind(&value)),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(ConfigError::new(
            printable(unknown),
            format!("is not a known field (known: {})", KNOWN_FIELDS.join(", ")),
        ));
    }
    Ok(FilterConfig {
        realm: realm(&object)?,
        error_style: error_style(&object)?,
    })
}

fn realm(object: &Map<String, Value>) -> Result<String, ConfigError> {
    let field = "realm";
    let realm = match object.get(field) {
        None => return Err(ConfigError::new(field, "is required")),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(ConfigError::new(
                field,
                format!("must be a string, found {}", kind(other)),
            ))
        }
    };
    if realm.is_empty() {
        return Err(ConfigError::new(field, "must not be empty"));
    }
    if realm.len() > MAX_REALM_LEN {
        return Err(ConfigError::new(
            field,
            format!("is longer than {MAX_REALM_LEN} bytes"),
        ));
    }
    // The realm goes inside a quoted-string of a response header: refuse what would need escaping
    // rather than let the core drop characters silently.
    if realm
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(ConfigError::new(
            field,
            "must not contain '\"', '\\' or control characters",
        ));
    }
    Ok(realm.clone())
}

fn error_style(object: &Map<String, Value>) -> Result<ErrorStyle, ConfigError> {
    let field = "error_style";
    const EXPECTED: &str = "must be one of \"simple\", \"error_list\", \"typed\"";
    match object.get(field) {
        None => Ok(ErrorStyle::default()),
        Some(Value::String(s)) => match s.as_str() {
            "simple" => Ok(ErrorStyle::Simple),
            "error_list" => Ok(ErrorStyle::ErrorList),
            "typed" => Ok(ErrorStyle::Typed),
            other => Err(ConfigError::new(
                field,
                format!("{EXPECTED}, found \"{}\"", printable(other)),
            )),
        },
        Some(other) => Err(ConfigError::new(
            field,
            format!("{EXPECTED}, found {}", kind(other)),
        )),
    }
}

/// The JSON type of a value, for messages (never the value itself: later fields hold secrets).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Short, single-line, quote-free echo of user text for a log line.
fn printable(s: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_control() || c == '"' || c == '`' {
                '?'
            } else {
                c
            }
        })
        .take(MAX)
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> ConfigError {
        parse(json.as_bytes()).expect_err(json)
    }

    #[test]
    fn accepts_every_style_and_defaults_to_simple() {
        for (name, style) in [
            ("simple", ErrorStyle::Simple),
            ("error_list", ErrorStyle::ErrorList),
            ("typed", ErrorStyle::Typed),
        ] {
            let json = format!(r#"{{"realm":"api","error_style":"{name}"}}"#);
            let config = parse(json.as_bytes()).unwrap();
            assert_eq!(config.error_style, style);
            assert_eq!(config.realm, "api");
        }
        assert_eq!(
            parse(br#"{"realm":"api"}"#).unwrap().error_style,
            ErrorStyle::Simple
        );
    }

    #[test]
    fn names_the_field_and_the_problem() {
        let e = err(r#"{"realm":"api","error_style":"nope"}"#);
        assert_eq!(e.field, "error_style");
        assert_eq!(
            e.to_string(),
            "invalid plugin configuration: field `error_style`: must be one of \
             \"simple\", \"error_list\", \"typed\", found \"nope\""
        );
        assert_eq!(
            err(r#"{"realm":"api","error_style":3}"#).field,
            "error_style"
        );
        assert_eq!(err(r#"{"error_style":"typed"}"#).field, "realm");
        assert_eq!(err(r#"{"realm":""}"#).field, "realm");
        assert_eq!(err(r#"{"realm":7}"#).field, "realm");
        assert_eq!(err(r#"{"realm":"a\"b"}"#).field, "realm");
        assert_eq!(err(r#"{"realm":"a\nb"}"#).field, "realm");
        assert_eq!(
            err(&format!(r#"{{"realm":"{}"}}"#, "r".repeat(129))).field,
            "realm"
        );
        assert_eq!(
            err(r#"{"realm":"api","error_syle":"typed"}"#).field,
            "error_syle"
        );
    }

    #[test]
    fn refuses_documents_that_are_not_an_object() {
        for json in [
            "",
            "  \n",
            "{",
            "{\"realm\":\"api\"} x",
            "[]",
            "\"api\"",
            "null",
        ] {
            let e = err(json);
            assert_eq!(e.field, "configuration", "{json:?}");
            assert!(!e.to_string().contains('\n'), "{json:?}");
        }
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn log_lines_are_single_lines_without_raw_input() {
        let e = err("{\"realm\":\"api\",\"x\\n\\\"y\":1}");
        assert!(!e.to_string().contains('\n'));
        let long = format!(r#"{{"realm":"api","error_style":"{}"}}"#, "z".repeat(500));
        assert!(err(&long).to_string().len() < 200);
    }
}
