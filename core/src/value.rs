//! Field values and records: the typed form of what the store keeps and the wire carries.

use std::collections::BTreeMap;

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};

use crate::error::{Error, Result};
use crate::schema::{EntitySchema, FieldDef, FieldType};

/// One field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// A boolean.
    Boolean(bool),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A JSON value, as its JSON text.
    Json(String),
}

/// A record as the app sees it: its key, the server version it is based on, and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The primary key.
    pub key: String,
    /// The server version this local copy is based on; `None` until the server has accepted it.
    pub version: Option<i64>,
    /// Field values by name (only the entity's declared fields).
    pub values: BTreeMap<String, Value>,
}

impl Record {
    /// A record with no fields set.
    pub fn new(key: impl Into<String>) -> Self {
        Record {
            key: key.into(),
            version: None,
            values: BTreeMap::new(),
        }
    }

    /// Sets a field (builder style).
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.values.insert(field.to_string(), value);
        self
    }

    /// The value of a field, `Null` when absent.
    pub fn get(&self, field: &str) -> &Value {
        self.values.get(field).unwrap_or(&Value::Null)
    }
}

impl Value {
    /// Checks that this value may be stored in `field` and returns it in the field's own type
    /// (an integer given for a real or timestamp field becomes one).
    pub fn coerce(self, entity: &str, field: &FieldDef) -> Result<Value> {
        let coerced = match (self, field.ty) {
            (Value::Null, _) if field.nullable => Some(Value::Null),
            (v @ Value::Text(_), FieldType::Text)
            | (v @ Value::Integer(_), FieldType::Integer)
            | (v @ Value::Real(_), FieldType::Real)
            | (v @ Value::Boolean(_), FieldType::Boolean)
            | (v @ Value::Timestamp(_), FieldType::Timestamp) => Some(v),
            (Value::Integer(i), FieldType::Real) => Some(Value::Real(i as f64)),
            (Value::Integer(i), FieldType::Timestamp) => Some(Value::Timestamp(i)),
            (Value::Json(text), FieldType::Json) => {
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .map(|_| Value::Json(text))
            }
            _ => None,
        };
        coerced.ok_or_else(|| Error::WrongType {
            entity: entity.to_string(),
            field: field.name.clone(),
            expected: field.ty.name(),
        })
    }

    /// The wire (JSON) form of this value.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Text(s) => J::String(s.clone()),
            Value::Integer(i) | Value::Timestamp(i) => J::from(*i),
            Value::Real(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Boolean(b) => J::Bool(*b),
            // Checked on write, so it parses; a corrupt row degrades to its text, not a panic.
            Value::Json(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| J::String(text.clone()))
            }
        }
    }

    /// Reads a wire value for `field`, refusing anything of the wrong type.
    pub fn from_json(entity: &str, field: &FieldDef, json: &serde_json::Value) -> Result<Value> {
        use serde_json::Value as J;
        let value = match (json, field.ty) {
            (J::Null, _) => Some(Value::Null),
            (J::String(s), FieldType::Text) => Some(Value::Text(s.clone())),
            (J::Number(n), FieldType::Integer) => n.as_i64().map(Value::Integer),
            (J::Number(n), FieldType::Timestamp) => n.as_i64().map(Value::Timestamp),
            (J::Number(n), FieldType::Real) => n.as_f64().map(Value::Real),
            (J::Bool(b), FieldType::Boolean) => Some(Value::Boolean(*b)),
            (other, FieldType::Json) => Some(Value::Json(other.to_string())),
            _ => None,
        };
        match value {
            Some(v) if v != Value::Null || field.nullable => Ok(v),
            _ => Err(Error::WrongType {
                entity: entity.to_string(),
                field: field.name.clone(),
                expected: field.ty.name(),
            }),
        }
    }

    /// Reads a stored column back into the field's type.
    pub fn from_sql(field: &FieldDef, raw: ValueRef<'_>) -> Result<Value> {
        Ok(match (raw, field.ty) {
            (ValueRef::Null, _) => Value::Null,
            (ValueRef::Text(t), FieldType::Text) => Value::Text(utf8(t)?),
            (ValueRef::Text(t), FieldType::Json) => Value::Json(utf8(t)?),
            (ValueRef::Integer(i), FieldType::Integer) => Value::Integer(i),
            (ValueRef::Integer(i), FieldType::Timestamp) => Value::Timestamp(i),
            (ValueRef::Integer(i), FieldType::Boolean) => Value::Boolean(i != 0),
            (ValueRef::Real(f), FieldType::Real) => Value::Real(f),
            (ValueRef::Integer(i), FieldType::Real) => Value::Real(i as f64),
            _ => {
                return Err(Error::Corrupt(format!(
                    "column `{}` holds a value that is not {}",
                    field.name,
                    field.ty.name()
                )))
            }
        })
    }
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Corrupt("text column is not UTF-8".into()))
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(SqlValue::Null),
            Value::Text(s) | Value::Json(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Integer(i) | Value::Timestamp(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
            Value::Boolean(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
        })
    }
}

/// Converts a map of wire values into typed values, checking every name and type against the
/// entity's schema.
pub fn fields_from_json(
    schema: &EntitySchema,
    json: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, Value>> {
    json.iter()
        .map(|(name, v)| {
            let def = schema.field_def(name)?;
            Ok((name.clone(), Value::from_json(&schema.name, def, v)?))
        })
        .collect()
}

/// The wire form of a map of typed values.
pub fn fields_to_json(
    values: &BTreeMap<String, Value>,
) -> serde_json::Map<String, serde_json::Value> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_values_are_type_checked() {
        let done = FieldDef::required("done", FieldType::Boolean);
        assert_eq!(
            Value::from_json("t", &done, &json!(true)).ok(),
            Some(Value::Boolean(true))
        );
        assert!(Value::from_json("t", &done, &json!("yes")).is_err());
        assert!(
            Value::from_json("t", &done, &json!(null)).is_err(),
            "required field"
        );
        let n = FieldDef::new("n", FieldType::Integer);
        assert!(Value::from_json("t", &n, &json!(1.5)).is_err());
        assert_eq!(
            Value::from_json("t", &n, &json!(null)).ok(),
            Some(Value::Null)
        );
        let j = FieldDef::new("tags", FieldType::Json);
        let v = Value::from_json("t", &j, &json!(["a", 1])).expect("any json");
        assert_eq!(v.to_json(), json!(["a", 1]));
    }

    #[test]
    fn app_values_are_type_checked() {
        let t = FieldDef::new("title", FieldType::Text);
        assert!(Value::Text("x".into()).coerce("tasks", &t).is_ok());
        assert!(Value::Integer(1).coerce("tasks", &t).is_err());
        let j = FieldDef::new("tags", FieldType::Json);
        assert!(Value::Json("{not json".into()).coerce("tasks", &j).is_err());
        let r = FieldDef::new("hours", FieldType::Real);
        assert_eq!(
            Value::Integer(2).coerce("tasks", &r).ok(),
            Some(Value::Real(2.0))
        );
        let req = FieldDef::required("title", FieldType::Text);
        assert!(Value::Null.coerce("tasks", &req).is_err());
    }
}
