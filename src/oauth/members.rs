//! A flat JSON object read member by member into the fields a table names, as a derived
//! `Deserialize` of `Option` fields would (unknown members skipped, `null` as absent, a repeated
//! member refused) but in one visitor for every table: a derived reader per document (discovery,
//! token, error and PAR responses, claims, the stored forms of a session and a sign-in) was 10 KB
//! of the browser build for discovery alone.

use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Where a named member goes, and so what it must hold.
pub enum Slot<'a> {
    Str(&'a mut Option<String>),
    Bool(&'a mut Option<bool>),
    Strings(&'a mut Option<Vec<String>>),
    U64(&'a mut Option<u64>),
    /// A number of seconds: a JSON integer, or a string of ASCII digits as some providers send.
    Seconds(&'a mut Option<u64>),
}

/// Reads `json`, an object, into the slots of `table`; `Err` for anything else, a member of
/// the wrong type, or one that is repeated.
pub fn read(json: &[u8], table: &mut [(&str, Slot<'_>)]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    deserialize(&mut de, table)?;
    de.end()
}

/// [`read`] from any deserializer: a type's own `Deserialize` (a stored form) through the table.
pub fn deserialize<'de, D: Deserializer<'de>>(
    d: D,
    table: &mut [(&str, Slot<'_>)],
) -> Result<(), D::Error> {
    d.deserialize_any(Members(table))
}

/// Every value is read with `deserialize_any` and visitors that answer every visit serde_json
/// makes: a value of another type is then this fixed error, not serde's "invalid type" message,
/// whose formatting (escaped strings, floats) would be most of serde's cost in the browser build.
fn mistyped<E: Error>() -> E {
    E::custom("a JSON value of another type")
}

/// The visits a JSON value can make that a visitor below does not take.
macro_rules! refuse_other_visits {
    ($($visit:ident($($arg:ty)?)),*) => {
        $(fn $visit<E: Error>(self $(, _: $arg)?) -> Result<Self::Value, E> {
            Err(mistyped())
        })*
    };
}

struct Members<'t, 'a, 'b>(&'t mut [(&'a str, Slot<'b>)]);

impl<'de> Visitor<'de> for Members<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = vec![false; self.0.len()];
        while let Some(key) = map.next_key_seed(MemberValue)? {
            let Value::Str(key) = key else {
                return Err(mistyped());
            };
            let Some(i) = self.0.iter().position(|(name, _)| *name == key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(A::Error::custom("repeated member"));
            }
            match (&mut self.0[i].1, map.next_value_seed(MemberValue)?) {
                (_, Value::Null) => {}
                (Slot::Str(s), Value::Str(v)) => **s = Some(v),
                (Slot::Bool(b), Value::Bool(v)) => **b = Some(v),
                (Slot::Strings(l), Value::Strings(v)) => **l = Some(v),
                (Slot::U64(n) | Slot::Seconds(n), Value::U64(v)) => **n = Some(v),
                (Slot::Seconds(n), Value::Str(v)) => **n = Some(seconds(&v).ok_or_else(mistyped)?),
                _ => return Err(mistyped()),
            }
        }
        Ok(())
    }

    refuse_other_visits!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str),
        visit_unit()
    );

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(mistyped())
    }
}

/// A string of ASCII digits as seconds.
fn seconds(s: &str) -> Option<u64> {
    let digits_only = !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    s.parse().ok().filter(|_| digits_only)
}

/// A member's value, when it is of a type some slot takes.
enum Value {
    Null,
    Bool(bool),
    U64(u64),
    Str(String),
    Strings(Vec<String>),
}

struct MemberValue;

impl<'de> DeserializeSeed<'de> for MemberValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a boolean, a whole number or a list of strings")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::U64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        while let Some(item) = seq.next_element_seed(MemberValue)? {
            let Value::Str(item) = item else {
                return Err(mistyped());
            };
            list.push(item);
        }
        Ok(Value::Strings(list))
    }

    // Negative numbers (`i64`) and any with a fraction or exponent (`f64`), `-0` included.
    refuse_other_visits!(visit_i64(i64), visit_f64(f64));

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(mistyped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The members `s`, `b`, `l` and `n`, one of each kind.
    type Read = (
        Option<String>,
        Option<bool>,
        Option<Vec<String>>,
        Option<u64>,
    );

    fn read_all(json: &str) -> Result<Read, ()> {
        let (mut s, mut b, mut l, mut n) = (None, None, None, None);
        read(
            json.as_bytes(),
            &mut [
                ("s", Slot::Str(&mut s)),
                ("b", Slot::Bool(&mut b)),
                ("l", Slot::Strings(&mut l)),
                ("n", Slot::Seconds(&mut n)),
            ],
        )
        .map_err(|_| ())?;
        Ok((s, b, l, n))
    }

    #[test]
    fn reads_named_members_and_skips_others() {
        assert_eq!(
            read_all(r#"{"s":"x","other":{"s":1},"b":true,"l":["a","b"],"n":5}"#),
            Ok((
                Some("x".into()),
                Some(true),
                Some(vec!["a".into(), "b".into()]),
                Some(5)
            ))
        );
        assert_eq!(
            read_all(r#"{"s":null,"b":null}"#),
            Ok((None, None, None, None))
        );
        assert_eq!(read_all(r#"{"n":"0300"}"#).unwrap().3, Some(300));
        assert_eq!(read_all(r#"{"l":[]}"#).unwrap().2, Some(vec![]));
        assert_eq!(
            read_all(r#"{"\u0073":"escaped"}"#).unwrap().0.unwrap(),
            "escaped"
        );
    }

    #[test]
    fn refuses_wrong_types_repeats_and_non_objects() {
        for bad in [
            r#"{"s":1}"#,
            r#"{"b":"true"}"#,
            r#"{"l":["a",1]}"#,
            r#"{"l":"a"}"#,
            r#"{"n":-1}"#,
            r#"{"n":-0}"#,
            r#"{"n":1.5}"#,
            r#"{"n":""}"#,
            r#"{"n":"+1"}"#,
            r#"{"n":"99999999999999999999"}"#,
            r#"{"s":"a","s":"a"}"#,
            r#"{"s":null,"s":"a"}"#,
            r#"{"s":["a"]}"#,
            r#"{"s":{}}"#,
            r#"{"l":[["a"]]}"#,
            r#"{"l":["a",null]}"#,
            r#"{"l":{}}"#,
            r#"{"b":1}"#,
            r#"{} {}"#,
            "[]",
            "{",
            "null",
            "true",
            "1",
            "-1",
            "1.5",
            r#""{}""#,
        ] {
            assert_eq!(read_all(bad), Err(()), "{bad}");
        }
    }
}
