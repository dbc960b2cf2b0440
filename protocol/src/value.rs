//! Field values: the typed form of what the local store keeps and the wire carries as JSON.

use crate::attachment::AttachmentRef;
use crate::error::SchemaError;
use crate::schema::{FieldDef, FieldType};

/// One field's value.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Value {
    /// No value.
    Null,
    /// UTF-8 text.
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
    /// A reference to a file's bytes (an `attachment` field).
    Attachment(AttachmentRef),
}

impl Value {
    /// Checks that this value may be stored in `field` and returns it in the field's own type
    /// (an integer given for a real or timestamp field becomes one).
    pub fn coerce(self, entity: &str, field: &FieldDef) -> Result<Value, SchemaError> {
        let coerced = match (self, field.field_type) {
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
            (Value::Attachment(r), FieldType::Attachment) => {
                r.problem().is_none().then_some(Value::Attachment(r))
            }
            _ => None,
        };
        coerced.ok_or_else(|| SchemaError::WrongType {
            entity: entity.to_string(),
            field: field.name.clone(),
            expected: field.field_type.name(),
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
            Value::Attachment(r) => r.to_json(),
        }
    }

    /// The attachment this value references, if it is one.
    pub fn attachment(&self) -> Option<&AttachmentRef> {
        match self {
            Value::Attachment(r) => Some(r),
            _ => None,
        }
    }

    /// Reads a wire value for `field`, refusing anything of the wrong type.
    pub fn from_json(
        entity: &str,
        field: &FieldDef,
        json: &serde_json::Value,
    ) -> Result<Value, SchemaError> {
        use serde_json::Value as J;
        let value = match (json, field.field_type) {
            (J::Null, _) => Some(Value::Null),
            (J::String(s), FieldType::Text) => Some(Value::Text(s.clone())),
            (J::Number(n), FieldType::Integer) => n.as_i64().map(Value::Integer),
            (J::Number(n), FieldType::Timestamp) => n.as_i64().map(Value::Timestamp),
            (J::Number(n), FieldType::Real) => n.as_f64().map(Value::Real),
            (J::Bool(b), FieldType::Boolean) => Some(Value::Boolean(*b)),
            (other, FieldType::Json) => Some(Value::Json(other.to_string())),
            (J::Object(_), FieldType::Attachment) => {
                AttachmentRef::from_json(json).map(Value::Attachment)
            }
            _ => None,
        };
        match value {
            Some(v) if v != Value::Null || field.nullable => Ok(v),
            _ => Err(SchemaError::WrongType {
                entity: entity.to_string(),
                field: field.name.clone(),
                expected: field.field_type.name(),
            }),
        }
    }
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
