//! A flat JSON object read member by member into the fields a table names, as a derived
//! `Deserialize` of `Option` fields would (unknown members skipped, `null` as absent, a repeated
//! member refused) but in one visitor for every table: a derived reader per document (discovery,
//! token, error and PAR responses, claims, the stored forms of a session and a sign-in) was 10 KB
//! of the browser build for discovery alone.

use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, Visitor,
};
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
    Members(table).deserialize(d)
}

struct Members<'t, 'a, 'b>(&'t mut [(&'a str, Slot<'b>)]);

impl<'de> DeserializeSeed<'de> for Members<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = vec![false; self.0.len()];
        while let Some(key) = map.next_key::<String>()? {
            let Some(i) = self.0.iter().position(|(name, _)| *name == key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(A::Error::custom("repeated member"));
            }
            match &mut self.0[i].1 {
                Slot::Str(s) => **s = map.next_value()?,
                Slot::Bool(b) => **b = map.next_value()?,
                Slot::Strings(l) => **l = map.next_value()?,
                Slot::U64(n) => **n = map.next_value()?,
                Slot::Seconds(n) => **n = map.next_value::<Option<Seconds>>()?.map(|s| s.0),
            }
        }
        Ok(())
    }
}

struct Seconds(u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
        d.deserialize_any(SecondsVisitor)
    }
}

/// A visitor rather than an untagged enum, which would buffer the value in serde's `Content`
/// and bring that machinery into the browser build.
struct SecondsVisitor;

impl Visitor<'_> for SecondsVisitor {
    type Value = Seconds;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("seconds, as a number or a string of digits")
    }
    fn visit_u64<E>(self, n: u64) -> Result<Seconds, E> {
        Ok(Seconds(n))
    }
    fn visit_str<E: Error>(self, s: &str) -> Result<Seconds, E> {
        let digits_only = !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse() {
            Ok(n) if digits_only => Ok(Seconds(n)),
            _ => Err(E::custom("invalid seconds")),
        }
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
            r#"{"n":1.5}"#,
            r#"{"n":""}"#,
            r#"{"n":"+1"}"#,
            r#"{"n":"99999999999999999999"}"#,
            r#"{"s":"a","s":"a"}"#,
            r#"{"s":null,"s":"a"}"#,
            r#"{} {}"#,
            "[]",
            "{",
        ] {
            assert_eq!(read_all(bad), Err(()), "{bad}");
        }
    }
}
