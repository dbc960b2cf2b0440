//! A pulled page decoded straight from the response body into typed field values, each checked
//! against the entity's schema as it is read.
//!
//! Why not `serde_json::from_slice::<PullPage>`: that builds a `serde_json::Value` per value (and
//! a `Vec` per row), which the store then checks and copies once more into a [`Value`]. Under
//! callgrind that tree, its copies and its drops were the largest part of the client's work in an
//! initial sync (`docs/benchmarks.md`). Here each value is visited once: a text is allocated once,
//! numbers and booleans not at all, and a page's values sit in one flat vector.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
#[cfg(any(test, feature = "testing"))]
use syncline_protocol::PullPage;
use syncline_protocol::{AttachmentRef, EntitySchema, FieldDef, FieldType, SchemaError, Value};

use crate::error::{Error, Result};

/// One upsert of a pulled page: its key and version (its values are in [`PulledPage::values`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PulledRow {
    /// The record's key, as the server sent it (checked when applied).
    pub key: String,
    /// The record's server version.
    pub version: i64,
}

/// A pull page whose values have been checked against the entity's fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PulledPage {
    /// The entity the page says it is of.
    pub entity: String,
    /// The fields the page says its rows carry (equal to the schema's, or decoding failed).
    pub fields: Vec<String>,
    /// The upserts, in the page's order.
    pub rows: Vec<PulledRow>,
    /// Every upsert's field values, row after row, one per schema field.
    pub values: Vec<Value>,
    /// Deleted records: key and version.
    pub tombstones: Vec<(String, i64)>,
    /// The cursor to store with the page.
    pub cursor: String,
    /// Whether more changes remain after `cursor`.
    pub has_more: bool,
}

impl PulledPage {
    /// Decodes a pull answer's body for entity `e`; any problem (bad JSON, another entity, other
    /// fields, a short or long row, a value of the wrong type) is a `MalformedResponse`.
    pub(crate) fn decode(e: &EntitySchema, body: &[u8]) -> Result<PulledPage> {
        let malformed = |err: &dyn fmt::Display| {
            Error::MalformedResponse(format!("pull of `{}`: {err}", e.name))
        };
        // UTF-8 checked once for the whole body: a parser over bytes checks every string again.
        let text = std::str::from_utf8(body).map_err(|err| malformed(&err))?;
        let mut de = serde_json::Deserializer::from_str(text);
        PageSeed { e }
            .deserialize(&mut de)
            .and_then(|page| de.end().map(|()| page))
            .map_err(|err| malformed(&err))
    }

    /// The same checks for a page already parsed into the wire type (tests and tools build
    /// those): it is encoded and decoded again, so there is one decoder to trust.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn from_wire(e: &EntitySchema, page: &PullPage) -> Result<PulledPage> {
        let body = serde_json::to_vec(page)
            .map_err(|err| Error::MalformedResponse(format!("pull of `{}`: {err}", e.name)))?;
        PulledPage::decode(e, &body)
    }

    /// The field values of row `i` (of [`PulledPage::rows`]).
    pub(crate) fn values_of(&self, i: usize, width: usize) -> &[Value] {
        &self.values[i * width..(i + 1) * width]
    }
}

/// Decodes the page object.
struct PageSeed<'a> {
    e: &'a EntitySchema,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = PulledPage;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<PulledPage, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = PulledPage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a pull page object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<PulledPage, A::Error> {
        let e = self.e;
        let (mut entity, mut fields, mut rows, mut tombstones, mut cursor, mut has_more) =
            (None, None, None, None, None, None);
        let mut values = Vec::new();
        // Entity and fields are checked as soon as they are read (servers send them before the
        // rows), so a page of another entity or shape says so rather than "wrong type".
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match name.as_ref() {
                "entity" => {
                    let v: String = once(&entity, "entity", || map.next_value())?;
                    if v != e.name {
                        return Err(de::Error::custom(format!("page is for entity `{v}`")));
                    }
                    entity = Some(v);
                }
                "fields" => {
                    let v: Vec<String> = once(&fields, "fields", || map.next_value())?;
                    if v != e.field_names() {
                        return Err(de::Error::custom(format!(
                            "page has fields {v:?}, asked for {:?}",
                            e.field_names()
                        )));
                    }
                    fields = Some(v);
                }
                "upserts" => {
                    let seed = RowsSeed {
                        e,
                        values: &mut values,
                    };
                    rows = Some(once(&rows, "upserts", || map.next_value_seed(seed))?);
                }
                "tombstones" => {
                    tombstones = Some(once(&tombstones, "tombstones", || map.next_value())?)
                }
                "cursor" => cursor = Some(once(&cursor, "cursor", || map.next_value())?),
                "has_more" => has_more = Some(once(&has_more, "has_more", || map.next_value())?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |name: &'static str| de::Error::missing_field(name);
        Ok(PulledPage {
            entity: entity.ok_or_else(|| missing("entity"))?,
            fields: fields.ok_or_else(|| missing("fields"))?,
            rows: rows.ok_or_else(|| missing("upserts"))?,
            values,
            tombstones: tombstones.ok_or_else(|| missing("tombstones"))?,
            cursor: cursor.ok_or_else(|| missing("cursor"))?,
            has_more: has_more.ok_or_else(|| missing("has_more"))?,
        })
    }
}

/// Reads a member that must appear once.
fn once<T, E: de::Error>(
    seen: &Option<T>,
    name: &'static str,
    read: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    if seen.is_some() {
        return Err(E::duplicate_field(name));
    }
    read()
}

/// Decodes `upserts`: keys and versions into the returned rows, values appended to `values`.
struct RowsSeed<'a, 'v> {
    e: &'a EntitySchema,
    values: &'v mut Vec<Value>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_> {
    type Value = Vec<PulledRow>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Vec<PulledRow>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_> {
    type Value = Vec<PulledRow>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let hint = seq.size_hint().unwrap_or(0).min(4096);
        let mut rows = Vec::with_capacity(hint);
        self.values.reserve(hint * self.e.fields.len());
        while let Some(row) = seq.next_element_seed(RowSeed {
            e: self.e,
            values: self.values,
        })? {
            rows.push(row);
        }
        Ok(rows)
    }
}

/// Decodes one row `[key, version, values…]`.
struct RowSeed<'a, 'v> {
    e: &'a EntitySchema,
    values: &'v mut Vec<Value>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = PulledRow;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<PulledRow, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = PulledRow;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row [key, version, values…]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<PulledRow, A::Error> {
        let expected = self.e.fields.len() + 2;
        let short = |n: usize| de::Error::custom(format!("row of {n} values, expected {expected}"));
        let key = match seq.next_element::<String>() {
            Ok(Some(key)) => key,
            Ok(None) => return Err(short(0)),
            Err(_) => return Err(de::Error::custom("row without a valid key")),
        };
        let version = match seq.next_element::<i64>() {
            Ok(Some(v)) => v,
            Ok(None) => return Err(short(1)),
            Err(_) => {
                return Err(de::Error::custom(format!(
                    "row `{key}` has no integer version"
                )))
            }
        };
        for (i, def) in self.e.fields.iter().enumerate() {
            let seed = FieldSeed {
                entity: &self.e.name,
                key: &key,
                def,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => self.values.push(v),
                None => return Err(short(i + 2)),
            }
        }
        let mut extra = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            extra += 1;
        }
        if extra > 0 {
            return Err(de::Error::custom(format!(
                "row of {} values, expected {expected}",
                expected + extra
            )));
        }
        Ok(PulledRow { key, version })
    }
}

/// Decodes one field's value, refusing anything of the wrong type; the same rules as
/// [`Value::from_json`] (a JSON field takes any JSON value, as its text).
struct FieldSeed<'a> {
    entity: &'a str,
    key: &'a str,
    def: &'a FieldDef,
}

impl FieldSeed<'_> {
    fn wrong<E: de::Error>(&self) -> E {
        let err = SchemaError::WrongType {
            entity: self.entity.to_string(),
            field: self.def.name.clone(),
            expected: self.def.field_type.name(),
        };
        E::custom(format!("row `{}`: {err}", self.key))
    }

    fn int<E: de::Error>(&self, i: i64) -> std::result::Result<Value, E> {
        match self.def.field_type {
            FieldType::Integer => Ok(Value::Integer(i)),
            FieldType::Timestamp => Ok(Value::Timestamp(i)),
            FieldType::Real => Ok(Value::Real(i as f64)),
            _ => Err(self.wrong()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        if self.def.field_type == FieldType::Attachment {
            // A reference is a small object: read whole, then checked like a local write.
            return match Option::<AttachmentRef>::deserialize(d)? {
                None => self.visit_unit(),
                Some(r) if r.problem().is_none() => Ok(Value::Attachment(r)),
                Some(_) => Err(self.wrong()),
            };
        }
        if self.def.field_type != FieldType::Json {
            return d.deserialize_any(self);
        }
        // A JSON field keeps the value's text as the server wrote it (servers write compact
        // JSON): no tree is built and written out again.
        let raw = <&serde_json::value::RawValue>::deserialize(d)?;
        match raw.get() {
            "null" => self.visit_unit(),
            text => Ok(Value::Json(text.to_owned())),
        }
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value of type {}", self.def.field_type.name())
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Value, E> {
        if self.def.nullable {
            Ok(Value::Null)
        } else {
            Err(self.wrong())
        }
    }

    fn visit_none<E: de::Error>(self) -> std::result::Result<Value, E> {
        self.visit_unit()
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> std::result::Result<Value, E> {
        match self.def.field_type {
            FieldType::Boolean => Ok(Value::Boolean(b)),
            _ => Err(self.wrong()),
        }
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> std::result::Result<Value, E> {
        self.int(i)
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> std::result::Result<Value, E> {
        match (i64::try_from(u), self.def.field_type) {
            (Ok(i), _) => self.int(i),
            // Beyond i64: only a real or JSON field can hold it (as `Number::as_f64` would).
            (Err(_), FieldType::Real) => Ok(Value::Real(u as f64)),
            (Err(_), _) => Err(self.wrong()),
        }
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> std::result::Result<Value, E> {
        match self.def.field_type {
            FieldType::Real => Ok(Value::Real(f)),
            _ => Err(self.wrong()),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Value, E> {
        match self.def.field_type {
            FieldType::Text => Ok(Value::Text(s.to_owned())),
            _ => Err(self.wrong()),
        }
    }

    fn visit_string<E: de::Error>(self, s: String) -> std::result::Result<Value, E> {
        match self.def.field_type {
            FieldType::Text => Ok(Value::Text(s)),
            _ => Err(self.wrong()),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<Value, A::Error> {
        Err(self.wrong())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> std::result::Result<Value, A::Error> {
        Err(self.wrong())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use syncline_protocol::sample::{self, TASKS};

    use super::*;

    fn tasks() -> EntitySchema {
        sample::schema()
            .expect("schema")
            .entity(TASKS)
            .expect("tasks")
            .clone()
    }

    /// The old way: the wire type, then `Value::from_json` per value.
    fn via_wire(e: &EntitySchema, body: &serde_json::Value) -> Option<Vec<Value>> {
        let page: PullPage = serde_json::from_value(body.clone()).ok()?;
        let mut out = Vec::new();
        for row in &page.upserts {
            if row.len() != e.fields.len() + 2 {
                return None;
            }
            for (def, v) in e.fields.iter().zip(&row[2..]) {
                out.push(Value::from_json(&e.name, def, v).ok()?);
            }
        }
        Some(out)
    }

    fn page_with(e: &EntitySchema, rows: serde_json::Value) -> serde_json::Value {
        json!({"entity": e.name, "fields": e.field_names(), "upserts": rows,
               "tombstones": [["gone", 3]], "cursor": "7", "has_more": true})
    }

    #[test]
    fn decodes_what_the_wire_type_and_from_json_accept_and_nothing_else() {
        let e = tasks();
        let n = e.fields.len();
        let good = |values: Vec<serde_json::Value>| {
            let mut row = vec![json!("k1"), json!(4)];
            row.extend(values);
            json!([row])
        };
        // Every field null, then each field given each kind of JSON value in turn.
        let kinds = [
            json!(null),
            json!(true),
            json!(-3),
            json!(7),
            json!(u64::MAX),
            json!(1.5),
            json!("t\"ext é"),
            json!([1, "a", {"b": null}]),
            json!({"x": [1.25]}),
        ];
        for slot in 0..n {
            for kind in &kinds {
                let mut values = vec![json!(null); n];
                // Required fields get a value of their own type, except the one under test.
                for (i, def) in e.fields.iter().enumerate() {
                    if i != slot && !def.nullable {
                        values[i] = match def.field_type {
                            FieldType::Text => json!("x"),
                            FieldType::Boolean => json!(false),
                            _ => json!(1),
                        };
                    }
                }
                values[slot] = kind.clone();
                let body = page_with(&e, good(values));
                let old = via_wire(&e, &body);
                let new = PulledPage::decode(&e, &serde_json::to_vec(&body).expect("json"));
                match (&old, &new) {
                    (Some(old), Ok(page)) => {
                        assert_eq!(old, &page.values, "{} = {kind}", e.fields[slot].name);
                        assert_eq!(page.rows[0].key, "k1");
                        assert_eq!(page.rows[0].version, 4);
                        assert_eq!(page.tombstones, vec![("gone".to_string(), 3)]);
                        assert_eq!((page.cursor.as_str(), page.has_more), ("7", true));
                    }
                    (None, Err(Error::MalformedResponse(_))) => {}
                    _ => panic!(
                        "{} = {kind}: wire {old:?}, decoded {new:?}",
                        e.fields[slot].name
                    ),
                }
            }
        }
    }

    #[test]
    fn bad_pages_are_malformed_with_a_reason() {
        let e = tasks();
        let n = e.fields.len();
        // A good row (required fields are text in this schema) with one value too many.
        let mut long = vec![json!("k"), json!(1)];
        long.extend(e.fields.iter().map(|f| match f.nullable {
            true => json!(null),
            false => json!("x"),
        }));
        long.push(json!(null));
        assert_eq!(long.len(), n + 3);
        let mut other = page_with(&e, json!([]));
        other["entity"] = json!("invoices");
        let mut colour = page_with(&e, json!([]));
        colour["fields"]
            .as_array_mut()
            .expect("fields")
            .push(json!("colour"));
        let mut no_cursor = page_with(&e, json!([]));
        no_cursor.as_object_mut().expect("page").remove("cursor");
        for (what, body, says) in [
            (
                "short row",
                page_with(&e, json!([["k", 1, "p"]])),
                "row of 3 values",
            ),
            (
                "long row",
                page_with(&e, json!([long])),
                "of 14 values, expected 13",
            ),
            ("key", page_with(&e, json!([[5, 1]])), "valid key"),
            (
                "version",
                page_with(&e, json!([["k", "1"]])),
                "integer version",
            ),
            ("entity", other, "invoices"),
            ("fields", colour, "colour"),
            ("no cursor", no_cursor, "cursor"),
        ] {
            let body = serde_json::to_vec(&body).expect("json");
            match PulledPage::decode(&e, &body) {
                Err(Error::MalformedResponse(m)) => assert!(m.contains(says), "{what}: {m}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        for garbage in [&b"{"[..], b"[]", b"{\"entity\": \"tasks\"} x", b""] {
            assert!(matches!(
                PulledPage::decode(&e, garbage),
                Err(Error::MalformedResponse(_))
            ));
        }
    }
}
