//! Typed models: an app's serde type as an entity's records. [`Model::check`] holds the type
//! against the entity's schema before any record exists, from the type alone: `serde-reflection`
//! traces the fields and their types that its `Deserialize` asks for. Records then cross over
//! through their JSON form (`serde_json`), field by field as the schema types them.
//!
//! The rules, which `Collection`'s documentation gives the app:
//! - every field of the type is the entity's key (text, never an `Option`) or a field the device
//!   schema declares (server-only fields are not in it), of a matching type;
//! - a field that may be null (nullable, or written by the server, so null in a record made here
//!   until the server's copy is pulled) is an `Option`, and a required one is not: the mismatch
//!   shows when the collection is made, not on some later read;
//! - the type has the key and every required field clients write, so that an insert can be whole;
//!   nullable fields and fields only the server writes may be left out.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_reflection::{ContainerFormat, Format, Samples, Tracer, TracerConfig};
use syncline_protocol::{EntitySchema, FieldDef, FieldType, Value};

use crate::error::SynclineError;
use crate::record::Record;

/// What the model calls return.
type Result<T> = std::result::Result<T, SynclineError>;

/// A model type checked against one entity: what it needs to turn its values into records and
/// back.
#[derive(Debug)]
pub(crate) struct Model {
    /// The entity, as the client's schema declares it.
    entity: EntitySchema,
    /// The type's fields, by their serialized names.
    fields: Vec<String>,
}

impl Model {
    /// Checks `T` against `entity`: every field, its type and whether it may be null; and that no
    /// required field clients write is missing. The first mismatch is the error.
    pub(crate) fn check<T: DeserializeOwned>(entity: &EntitySchema) -> Result<Model> {
        let fields = trace::<T>(&entity.name)?;
        let mismatch = |field: &str, expected: String, found: String| {
            Err(SynclineError::ModelMismatch {
                entity: entity.name.clone(),
                field: field.to_string(),
                expected,
                found,
            })
        };
        for (name, format) in &fields.fields {
            let (optional, kind) = fields.shape(format);
            if *name == entity.key {
                if optional || kind != Kind::Text {
                    return mismatch(
                        name,
                        "String (the key, never null)".into(),
                        fields.describe(format),
                    );
                }
                continue;
            }
            let Ok(def) = entity.field_def(name) else {
                return mismatch(
                    name,
                    format!("one of the fields of `{}`: {}", entity.name, names(entity)),
                    format!(
                        "a field `{name}`, which the device schema does not declare (unknown, \
                         or server-only)"
                    ),
                );
            };
            if !kind.fits(def.field_type) {
                return mismatch(name, expected(def), fields.describe(format));
            }
            let may_be_null = def.nullable || !def.writable;
            if may_be_null && !optional {
                let why = if def.writable {
                    "nullable"
                } else {
                    "written by the server, null in a record made here until it is pulled back"
                };
                return mismatch(
                    name,
                    format!("Option<…> of {} (the field is {why})", expected(def)),
                    fields.describe(format),
                );
            }
            if !may_be_null && optional {
                return mismatch(
                    name,
                    format!("{}, not an Option (the field is required)", expected(def)),
                    fields.describe(format),
                );
            }
        }
        let has = |name: &str| fields.fields.iter().any(|(n, _)| n == name);
        let required = entity.fields.iter().filter(|f| !f.nullable && f.writable);
        if let Some(missing) = std::iter::once(&entity.key)
            .chain(required.map(|f| &f.name))
            .find(|name| !has(name))
        {
            let what = match entity.field_def(missing) {
                Ok(def) => format!("{} (the field is required)", expected(def)),
                Err(_) => "String (the key)".into(),
            };
            return mismatch(
                missing,
                what,
                format!("nothing: the model has no field `{missing}`"),
            );
        }
        Ok(Model {
            entity: entity.clone(),
            fields: fields.fields.into_iter().map(|(name, _)| name).collect(),
        })
    }

    /// The entity's name.
    pub(crate) fn entity(&self) -> &str {
        &self.entity.name
    }

    /// `model` as a record: its key, and its fields as the schema types them, nulls included
    /// (`None` clears a field). Fields only the server writes are left out: clients never send
    /// them.
    pub(crate) fn record<T: Serialize>(&self, model: &T) -> Result<Record> {
        let e = &self.entity;
        let json = serde_json::to_value(model).map_err(|err| SynclineError::InvalidInput {
            detail: format!("a `{}` model cannot be serialized: {err}", e.name),
        })?;
        let serde_json::Value::Object(json) = json else {
            return Err(SynclineError::InvalidInput {
                detail: format!("a `{}` model must serialize to a map of fields", e.name),
            });
        };
        let mut key = None;
        let mut values = Vec::with_capacity(json.len());
        for (name, value) in json {
            if name == e.key {
                key = value.as_str().map(str::to_owned);
                continue;
            }
            // A name only serialization produces (`#[serde(rename(serialize = …))]`) was not
            // checked: the store refuses it as an unknown field.
            let def = e.field_def(&name)?;
            if def.writable {
                values.push((name, Value::from_json(&e.name, def, &value)?));
            }
        }
        let key = key.ok_or_else(|| SynclineError::InvalidInput {
            detail: format!(
                "a `{}` model must serialize its key `{}` as text",
                e.name, e.key
            ),
        })?;
        Ok(Record::new(key).with_values(values))
    }

    /// `record` as a `T`, or which field does not fit: a json field's content, a number out of
    /// the type's range, a value the type's own `Deserialize` refuses.
    pub(crate) fn read<T: DeserializeOwned>(&self, record: Record) -> Result<T> {
        let e = &self.entity;
        let mut json = serde_json::Map::with_capacity(self.fields.len());
        for name in &self.fields {
            if *name == e.key {
                json.insert(name.clone(), record.key.clone().into());
            } else if let Some(value) = record.get(name) {
                json.insert(name.clone(), value.to_json());
            }
        }
        serde_path_to_error::deserialize(serde_json::Value::Object(json)).map_err(|err| {
            SynclineError::RecordMismatch {
                entity: e.name.clone(),
                key: record.key,
                field: err.path().to_string(),
                detail: err.into_inner().to_string(),
            }
        })
    }
}

/// What a model field's type holds, as far as the schema's types go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string, or an enum of variants without data (serde writes those as their names).
    Text,
    /// `i64`: an integer, or a timestamp (whose milliseconds need all 64 bits).
    I64,
    /// Any other integer up to 64 bits: checked against the range on each read and write.
    Integer,
    /// `f32`, `f64`.
    Real,
    /// `bool`.
    Boolean,
    /// Anything else (a list, a map, a struct, an enum with data): a json field only.
    Other,
}

impl Kind {
    /// Whether a value of this kind can be stored in a field of type `t`.
    fn fits(self, t: FieldType) -> bool {
        match t {
            FieldType::Text => self == Kind::Text,
            FieldType::Integer => matches!(self, Kind::I64 | Kind::Integer),
            FieldType::Real => self == Kind::Real,
            FieldType::Boolean => self == Kind::Boolean,
            FieldType::Timestamp => self == Kind::I64,
            FieldType::Json => true,
            // `AttachmentRef` (a struct): checked as a reference when the value is converted.
            FieldType::Attachment => self == Kind::Other,
        }
    }
}

/// A model type's traced fields, and the containers (enums, newtypes) their types name.
struct Traced {
    fields: Vec<(String, Format)>,
    containers: BTreeMap<String, ContainerFormat>,
}

impl Traced {
    /// Whether `format` is an `Option` (through newtypes), and what it holds.
    fn shape(&self, format: &Format) -> (bool, Kind) {
        match self.unwrap(format) {
            Format::Option(inner) => (true, self.kind(inner)),
            other => (false, self.kind(other)),
        }
    }

    /// `format` without the newtype structs around it (serde's JSON writes a newtype as its
    /// content, so `struct Millis(i64)` is an i64 here).
    fn unwrap<'a>(&'a self, format: &'a Format) -> &'a Format {
        match format {
            Format::TypeName(name) => match self.containers.get(name) {
                Some(ContainerFormat::NewTypeStruct(inner)) => self.unwrap(inner),
                _ => format,
            },
            _ => format,
        }
    }

    fn kind(&self, format: &Format) -> Kind {
        match self.unwrap(format) {
            Format::Str => Kind::Text,
            Format::I64 => Kind::I64,
            Format::I8 | Format::I16 | Format::I32 => Kind::Integer,
            Format::U8 | Format::U16 | Format::U32 | Format::U64 => Kind::Integer,
            Format::F32 | Format::F64 => Kind::Real,
            Format::Bool => Kind::Boolean,
            Format::TypeName(name) => match self.containers.get(name) {
                Some(ContainerFormat::Enum(variants))
                    if variants
                        .values()
                        .all(|v| v.value == serde_reflection::VariantFormat::Unit) =>
                {
                    Kind::Text
                }
                _ => Kind::Other,
            },
            _ => Kind::Other,
        }
    }

    /// `format` as the Rust type an app would write, for errors.
    fn describe(&self, format: &Format) -> String {
        match format {
            Format::TypeName(name) => match self.containers.get(name) {
                Some(ContainerFormat::Enum(_)) => format!("an enum `{name}`"),
                _ => name.clone(),
            },
            Format::Unit => "()".into(),
            Format::Bool => "bool".into(),
            Format::I8 => "i8".into(),
            Format::I16 => "i16".into(),
            Format::I32 => "i32".into(),
            Format::I64 => "i64".into(),
            Format::I128 => "i128".into(),
            Format::U8 => "u8".into(),
            Format::U16 => "u16".into(),
            Format::U32 => "u32".into(),
            Format::U64 => "u64".into(),
            Format::U128 => "u128".into(),
            Format::F32 => "f32".into(),
            Format::F64 => "f64".into(),
            Format::Char => "char".into(),
            Format::Str => "String".into(),
            Format::Bytes => "bytes".into(),
            Format::Option(inner) => format!("Option<{}>", self.describe(inner)),
            Format::Seq(inner) => format!("Vec<{}>", self.describe(inner)),
            Format::Map { key, value } => {
                format!(
                    "a map of {} to {}",
                    self.describe(key),
                    self.describe(value)
                )
            }
            Format::Tuple(_) | Format::TupleArray { .. } => "a tuple".into(),
            Format::Variable(_) => "a type that could not be traced".into(),
        }
    }
}

/// The most passes over a model type while tracing its enums: far more than any model needs,
/// and a bound on a type whose `Deserialize` never lets the tracing finish.
const MAX_TRACES: usize = 256;

/// Traces `T`'s fields from its `Deserialize`. One pass sees one variant of each enum; the
/// enums it names are traced again until every variant is seen, so a text enum (variants
/// without data, which serde writes as names) is told from one with data.
fn trace<T: DeserializeOwned>(entity: &str) -> Result<Traced> {
    let untraceable = |why: String| SynclineError::InvalidInput {
        detail: format!(
            "the model `{}` for `{entity}` cannot be checked: {why}. A model is a struct with \
             named fields, of types that say what they hold (not `serde_json::Value`, an \
             untagged enum or `#[serde(flatten)]`: give a json field a concrete type)",
            std::any::type_name::<T>()
        ),
    };
    let samples = Samples::new();
    let mut traces = 0;
    let mut pass = |tracer: &mut Tracer| {
        traces += 1;
        if traces > MAX_TRACES {
            return Err(untraceable("its enums never finish tracing".into()));
        }
        tracer
            .trace_type_once::<T>(&samples)
            .map(|(format, _)| format)
            .map_err(|e| untraceable(e.to_string()))
    };
    // Enums are only known by name once a pass has met them: a pass that meets new ones starts
    // over with them known.
    let mut enums: BTreeSet<String> = BTreeSet::new();
    let (format, mut containers) = loop {
        let mut tracer = Tracer::new(TracerConfig::default());
        let format = pass(&mut tracer)?;
        // A pass that finishes one enum may leave another, met on the way, unfinished again.
        let mut unfinished = true;
        while unfinished {
            unfinished = false;
            for name in &enums {
                while tracer.check_incomplete_enum(name).is_some() {
                    unfinished = true;
                    pass(&mut tracer)?;
                }
            }
        }
        let containers = tracer.registry_unchecked();
        let met: BTreeSet<String> = containers
            .iter()
            .filter(|(_, c)| matches!(c, ContainerFormat::Enum(_)))
            .map(|(name, _)| name.clone())
            .collect();
        if met.is_subset(&enums) {
            break (format, containers);
        }
        enums.extend(met);
    };
    let fields = match &format {
        Format::TypeName(name) => match containers.remove(name) {
            Some(ContainerFormat::Struct(fields)) => fields,
            _ => return Err(untraceable(format!("`{name}` is not a struct"))),
        },
        _ => return Err(untraceable("it is not a struct".into())),
    };
    Ok(Traced {
        fields: fields.into_iter().map(|f| (f.name, f.value)).collect(),
        containers,
    })
}

/// What a field's type takes, for errors.
fn expected(def: &FieldDef) -> String {
    let rust = match def.field_type {
        FieldType::Text => "String, or an enum of unit variants",
        FieldType::Integer => "i64, i32, u32 or another integer",
        FieldType::Real => "f64 or f32",
        FieldType::Boolean => "bool",
        FieldType::Timestamp => "i64, milliseconds since the Unix epoch",
        FieldType::Json => "any serde type",
        FieldType::Attachment => "syncline_core::AttachmentRef",
    };
    format!("{} ({rust})", def.field_type.name())
}

/// The entity's key and field names, for errors.
fn names(e: &EntitySchema) -> String {
    std::iter::once(e.key.as_str())
        .chain(e.fields.iter().map(|f| f.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use syncline_protocol::{EntitySchema, FieldDef, FieldType};

    fn tasks() -> EntitySchema {
        EntitySchema::new("tasks", "id")
            .field(FieldDef::required("title", FieldType::Text))
            .field(FieldDef::new("done", FieldType::Boolean))
            .field(FieldDef::new("priority", FieldType::Integer))
            .field(FieldDef::new("due_at", FieldType::Timestamp))
            .field(FieldDef::new("tags", FieldType::Json))
            .field(FieldDef::new("updated_at", FieldType::Timestamp).read_only())
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Level {
        Low,
        High,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Millis(i64);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Task {
        id: String,
        #[serde(rename = "title")]
        name: String,
        done: Option<bool>,
        priority: Option<u8>,
        due_at: Option<Millis>,
        tags: Option<Vec<Level>>,
        updated_at: Option<i64>,
    }

    #[test]
    fn a_model_goes_to_a_record_and_back() {
        let model = Model::check::<Task>(&tasks()).expect("fits");
        let task = Task {
            id: "t-1".into(),
            name: "Pump".into(),
            done: None,
            priority: Some(3),
            due_at: Some(Millis(5)),
            tags: Some(vec![Level::High]),
            updated_at: Some(9),
        };
        let record = model.record(&task).expect("record");
        assert_eq!(record.key, "t-1");
        assert_eq!(record.get("title"), Some(&Value::Text("Pump".into())));
        assert_eq!(record.get("done"), Some(&Value::Null), "None writes null");
        assert_eq!(record.get("due_at"), Some(&Value::Timestamp(5)));
        assert_eq!(record.get("tags"), Some(&Value::Json("[\"high\"]".into())));
        assert_eq!(record.get("updated_at"), None, "the server writes it");
        let back: Task = model
            .read(record.with("updated_at", Value::Timestamp(9)))
            .expect("read");
        assert_eq!(back, task);
    }

    #[test]
    fn a_text_enum_fits_a_text_field() {
        #[derive(Serialize, Deserialize)]
        struct Named {
            id: String,
            title: Level,
        }
        let model = Model::check::<Named>(&tasks()).expect("fits");
        let record = model
            .record(&Named {
                id: "t".into(),
                title: Level::Low,
            })
            .expect("record");
        assert_eq!(record.get("title"), Some(&Value::Text("low".into())));
    }

    #[test]
    fn an_enum_with_data_is_no_text_even_when_its_first_variant_has_none() {
        #[derive(Serialize, Deserialize)]
        enum Mixed {
            Low,
            Custom(String),
        }
        #[derive(Serialize, Deserialize)]
        struct Named {
            id: String,
            title: Mixed,
        }
        match Model::check::<Named>(&tasks()) {
            Err(SynclineError::ModelMismatch { field, found, .. }) => {
                assert_eq!((&*field, &*found), ("title", "an enum `Mixed`"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_record_that_does_not_fit_names_its_field() {
        let model = Model::check::<Task>(&tasks()).expect("fits");
        let record = Record::new("t-1")
            .with("title", Value::Text("x".into()))
            .with("priority", Value::Integer(1000));
        match model.read::<Task>(record) {
            Err(SynclineError::RecordMismatch {
                entity, key, field, ..
            }) => assert_eq!((&*entity, &*key, &*field), ("tasks", "t-1", "priority")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_model_of_untraceable_types_is_refused_with_the_reason() {
        #[derive(Serialize, Deserialize)]
        struct Loose {
            id: String,
            title: String,
            tags: Option<serde_json::Value>,
        }
        match Model::check::<Loose>(&tasks()) {
            Err(SynclineError::InvalidInput { detail }) => {
                assert!(detail.contains("serde_json::Value"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
}
