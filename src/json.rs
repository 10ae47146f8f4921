//! Strict JSON reading for untrusted token parts.
//!
//! serde_json does the parsing; this layer adds what a token parser needs on top: a nesting-depth
//! limit, a member-count limit, and refusal of duplicate member names (RFC 7515 §4 allows
//! last-wins, but two parsers disagreeing on a duplicate `alg` or `sub` is a classic bypass).

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Shape limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Maximum nesting of arrays/objects (the top-level object counts as 1).
    pub max_depth: usize,
    /// Maximum number of members in any one object.
    pub max_members: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_depth: 16,
            max_members: 64,
        }
    }
}

/// Why a document was refused. The texts are fixed, short and never quote the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    TooDeep,
    TooManyMembers,
    DuplicateMember,
    Invalid,
    TrailingData,
    NotAnObject,
}

impl JsonError {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonError::TooDeep => "JSON nested too deeply",
            JsonError::TooManyMembers => "too many JSON members",
            JsonError::DuplicateMember => "duplicate JSON member name",
            JsonError::Invalid => "invalid JSON",
            JsonError::TrailingData => "trailing data after JSON",
            JsonError::NotAnObject => "not a JSON object",
        }
    }

    /// Whether the document broke a size or shape limit rather than being malformed.
    pub fn is_limit(self) -> bool {
        matches!(self, JsonError::TooDeep | JsonError::TooManyMembers)
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for JsonError {}

/// Parses `bytes` as a JSON object within `limits`.
pub fn parse_object(bytes: &[u8], limits: JsonLimits) -> Result<Map<String, Value>, JsonError> {
    let refused = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict {
        limits,
        depth: 1,
        refused: &refused,
    }
    .deserialize(&mut de)
    .map_err(|_| refused.get().unwrap_or(JsonError::Invalid))?;
    de.end().map_err(|_| JsonError::TrailingData)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

/// The seed that enforces the limits. serde_json only carries a message out of a visitor, so the
/// kind of refusal is recorded in `refused` for [`parse_object`] to return.
#[derive(Clone, Copy)]
struct Strict<'a> {
    limits: JsonLimits,
    depth: usize,
    refused: &'a Cell<Option<JsonError>>,
}

impl Strict<'_> {
    fn refuse<E: serde::de::Error>(self, kind: JsonError) -> E {
        self.refused.set(Some(kind));
        E::custom(kind)
    }

    fn nested<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= self.limits.max_depth {
            return Err(self.refuse(JsonError::TooDeep));
        }
        Ok(Strict {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            if out.len() >= self.limits.max_members {
                return Err(self.refuse(JsonError::TooManyMembers));
            }
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.len() >= self.limits.max_members {
                return Err(self.refuse(JsonError::TooManyMembers));
            }
            if out.contains_key(&key) {
                return Err(self.refuse(JsonError::DuplicateMember));
            }
            let v = map.next_value_seed(inner)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_objects() {
        let m = parse_object(
            br#"{"a":1,"b":[1,{"c":null}],"d":"x"}"#,
            JsonLimits::default(),
        )
        .unwrap();
        assert_eq!(m["a"], 1);
    }

    #[test]
    fn refuses_duplicates_depth_and_width() {
        let lim = JsonLimits {
            max_depth: 3,
            max_members: 3,
        };
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#, lim),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":[[1]]}"#, lim),
            Err(JsonError::TooDeep)
        );
        assert!(parse_object(br#"{"a":[1]}"#, lim).is_ok());
        assert_eq!(
            parse_object(br#"{"a":1,"b":2,"c":3,"d":4}"#, lim),
            Err(JsonError::TooManyMembers)
        );
        assert_eq!(
            parse_object(br#"{"a":[1,2,3,4]}"#, lim),
            Err(JsonError::TooManyMembers)
        );
    }

    #[test]
    fn each_refusal_has_its_kind_and_fixed_text() {
        let lim = JsonLimits::default();
        assert_eq!(parse_object(b"[1]", lim), Err(JsonError::NotAnObject));
        assert_eq!(parse_object(b"{} {}", lim), Err(JsonError::TrailingData));
        assert_eq!(parse_object(b"{", lim), Err(JsonError::Invalid));
        assert_eq!(
            parse_object(br#"{"a":1e999}"#, lim),
            Err(JsonError::Invalid)
        );
        assert_eq!(parse_object(&[b'['; 100_000], lim), Err(JsonError::TooDeep));
        assert!(JsonError::TooDeep.is_limit() && JsonError::TooManyMembers.is_limit());
        assert!(!JsonError::DuplicateMember.is_limit());
        for (kind, text) in [
            (JsonError::TooDeep, "JSON nested too deeply"),
            (JsonError::TooManyMembers, "too many JSON members"),
            (JsonError::DuplicateMember, "duplicate JSON member name"),
            (JsonError::Invalid, "invalid JSON"),
            (JsonError::TrailingData, "trailing data after JSON"),
            (JsonError::NotAnObject, "not a JSON object"),
        ] {
            assert_eq!(kind.as_str(), text);
            assert_eq!(kind.to_string(), text);
        }
    }

    #[test]
    fn refuses_non_objects_and_trailing_data() {
        let lim = JsonLimits::default();
        assert!(parse_object(b"[1]", lim).is_err());
        assert!(parse_object(b"\"x\"", lim).is_err());
        assert!(parse_object(b"{} {}", lim).is_err());
        assert!(parse_object(b"{", lim).is_err());
        assert!(parse_object(b"", lim).is_err());
        assert!(parse_object(&[b'['; 100_000], lim).is_err());
    }
}
