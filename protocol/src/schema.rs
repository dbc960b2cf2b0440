//! Entity schemas: what the app keeps of each server entity, and the checks that make every name
//! safe to put into SQL.
//!
//! The app declares each local entity once (name, key, fields with types, sync settings). Every
//! table and column the store creates, and every field a pull asks for, comes from a declaration
//! that passed [`Schema::new`]; names from anywhere else (the server, the app at run time) are
//! looked up in the schema, never spliced into SQL.

use std::collections::HashMap;

use crate::error::SchemaError;

type Result<T> = std::result::Result<T, SchemaError>;

/// Longest entity or field name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 63;

/// The type of a field, on the wire and in the local store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum FieldType {
    /// UTF-8 text.
    Text,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit float.
    Real,
    /// true or false (stored as 0/1).
    Boolean,
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp,
    /// Any JSON value, kept as its JSON text.
    Json,
    /// A file: a reference to its bytes (hash, size, media type, name), kept as JSON text; the
    /// bytes travel on the blob routes (`docs/protocol.md`, "Attachments").
    Attachment,
}

impl FieldType {
    /// The SQLite column type used for this field.
    pub fn sql_type(self) -> &'static str {
        match self {
            FieldType::Text | FieldType::Json | FieldType::Attachment => "TEXT",
            FieldType::Integer | FieldType::Boolean | FieldType::Timestamp => "INTEGER",
            FieldType::Real => "REAL",
        }
    }

    /// Every type, in the order docs list them.
    pub const ALL: [FieldType; 7] = [
        FieldType::Text,
        FieldType::Integer,
        FieldType::Real,
        FieldType::Boolean,
        FieldType::Timestamp,
        FieldType::Json,
        FieldType::Attachment,
    ];

    /// The type called `name` in schema files and docs (`text`, `integer`, …).
    pub fn from_name(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The name used in schema files, docs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Real => "real",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Json => "json",
            FieldType::Attachment => "attachment",
        }
    }
}

/// One field of an entity.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FieldDef {
    /// Column and wire name (a lowercase identifier).
    pub name: String,
    /// The field's type, on the wire and in the local store.
    pub field_type: FieldType,
    /// Whether null is allowed.
    pub nullable: bool,
    /// Whether the local table keeps an index on it (for queries by this field).
    pub indexed: bool,
    /// Whether clients may write it. False for a field only the server writes (read-only for
    /// clients, or set by the server: a comment's author, a creation time): the core refuses a
    /// local write that names it and leaves it out of what it pushes, and the server rejects a
    /// push that names it (`read_only_field`). In a record the device created, such a field is
    /// null until the server's version of the record is pulled, even when it is required.
    #[cfg_attr(feature = "uniffi", uniffi(default = true))]
    pub writable: bool,
}

impl FieldDef {
    /// A field that may be null.
    pub fn new(name: &str, field_type: FieldType) -> Self {
        FieldDef {
            name: name.to_string(),
            field_type,
            nullable: true,
            indexed: false,
            writable: true,
        }
    }

    /// A field that must always have a value.
    pub fn required(name: &str, field_type: FieldType) -> Self {
        FieldDef {
            name: name.to_string(),
            field_type,
            nullable: false,
            indexed: false,
            writable: true,
        }
    }

    /// Asks for a local index on this field (builder style).
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    /// Makes the field one clients may read but never write (builder style).
    pub fn read_only(mut self) -> Self {
        self.writable = false;
        self
    }
}

/// What the device may do with an entity's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SyncMode {
    /// Created, edited and deleted on the device; pushed and pulled.
    ReadWrite,
    /// Pulled only; local writes are refused.
    ReadOnly,
    /// Records may be created on the device but never edited or deleted (conflict-free by design).
    AppendOnly,
}

/// What happens when a local edit was made on a version the server has since replaced (another
/// device or user changed the record). A read-only entity is [`SyncMode::ReadOnly`] instead: it
/// cannot be edited locally, so it cannot conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ConflictPolicy {
    /// The edit's changed fields overwrite the server's (field by field); the report counts it.
    #[default]
    LastWriteWins,
    /// The server's record stands; the local edit is dropped (the conflict inbox keeps a copy).
    ServerWins,
    /// The whole local record replaces the server's.
    ClientWins,
    /// Three-way merge: changes to different fields are merged by themselves; fields changed on
    /// both sides go to the conflict inbox for the user.
    Manual,
    /// Editing is refused (the core answers `LockedOffline`) unless the network state is online: not while
    /// offline, the server is unreachable or sign-in is needed, so edits are made on fresh data.
    /// A conflict that still happens is resolved as server-wins.
    LockedOffline,
}

/// How an entity syncs.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncSettings {
    /// What the device may do with the records (read-only entities refuse local writes).
    pub mode: SyncMode,
    /// What happens when a local edit meets a newer server version.
    pub conflict: ConflictPolicy,
    /// Rows per pull page (the server may cap it).
    pub page_size: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            mode: SyncMode::ReadWrite,
            conflict: ConflictPolicy::LastWriteWins,
            page_size: 1000,
        }
    }
}

/// One entity as the device keeps it: a denormalized subset of the server's.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EntitySchema {
    /// Entity name (also the local table's name, prefixed).
    pub name: String,
    /// Name of the primary key field; keys are text (ids are made on the device, offline).
    pub key: String,
    /// The fields kept locally, not counting the key.
    pub fields: Vec<FieldDef>,
    /// How it syncs.
    pub sync: SyncSettings,
}

impl EntitySchema {
    /// An entity with the given key field and no fields yet.
    pub fn new(name: &str, key: &str) -> Self {
        EntitySchema {
            name: name.to_string(),
            key: key.to_string(),
            fields: Vec::new(),
            sync: SyncSettings::default(),
        }
    }

    /// Adds a field (builder style).
    pub fn field(mut self, field: FieldDef) -> Self {
        self.fields.push(field);
        self
    }

    /// Sets the sync mode (builder style).
    pub fn mode(mut self, mode: SyncMode) -> Self {
        self.sync.mode = mode;
        self
    }

    /// Sets the conflict policy (builder style).
    pub fn conflict(mut self, policy: ConflictPolicy) -> Self {
        self.sync.conflict = policy;
        self
    }

    /// Sets the pull page size (builder style).
    pub fn page_size(mut self, rows: u32) -> Self {
        self.sync.page_size = rows;
        self
    }

    /// The declaration of a field, or `UnknownField`.
    pub fn field_def(&self, name: &str) -> Result<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| SchemaError::UnknownField {
                entity: self.name.clone(),
                field: name.to_string(),
            })
    }

    /// Position of a field in `fields`, or `UnknownField`.
    pub fn field_index(&self, name: &str) -> Result<usize> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| SchemaError::UnknownField {
                entity: self.name.clone(),
                field: name.to_string(),
            })
    }

    /// Names of the kept fields, in declaration order.
    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.name.clone()).collect()
    }

    /// A copy that keeps only the named fields (the device's subset of a server entity).
    pub fn project(&self, keep: &[&str]) -> Result<EntitySchema> {
        let mut fields = Vec::with_capacity(keep.len());
        for name in keep {
            fields.push(self.field_def(name)?.clone());
        }
        Ok(EntitySchema {
            fields,
            ..self.clone()
        })
    }

    fn validate(&self) -> Result<()> {
        validate_identifier(&self.name)?;
        validate_identifier(&self.key)?;
        let mut seen = std::collections::HashSet::new();
        seen.insert(self.key.as_str());
        for f in &self.fields {
            validate_identifier(&f.name)?;
            if !seen.insert(f.name.as_str()) {
                return Err(SchemaError::InvalidSchema(format!(
                    "entity `{}` declares field `{}` twice (or as both key and field)",
                    self.name, f.name
                )));
            }
        }
        if self.sync.page_size == 0 {
            return Err(SchemaError::InvalidSchema(format!(
                "entity `{}` has a page size of 0",
                self.name
            )));
        }
        Ok(())
    }
}

/// A validated set of entity declarations.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    entities: Vec<EntitySchema>,
    by_name: HashMap<String, usize>,
}

impl Schema {
    /// Validates every name and type and builds the schema.
    pub fn new(entities: Vec<EntitySchema>) -> Result<Schema> {
        let mut by_name = HashMap::new();
        for (i, e) in entities.iter().enumerate() {
            e.validate()?;
            if by_name.insert(e.name.clone(), i).is_some() {
                return Err(SchemaError::InvalidSchema(format!(
                    "entity `{}` is declared twice",
                    e.name
                )));
            }
        }
        Ok(Schema { entities, by_name })
    }

    /// The entity declared under `name`, or `UnknownEntity`.
    pub fn entity(&self, name: &str) -> Result<&EntitySchema> {
        self.by_name
            .get(name)
            .map(|&i| &self.entities[i])
            .ok_or_else(|| SchemaError::UnknownEntity(name.to_string()))
    }

    /// All entities, in declaration order.
    pub fn entities(&self) -> &[EntitySchema] {
        &self.entities
    }
}

/// Checks that `name` is a lowercase ASCII identifier: `[a-z][a-z0-9_]*`, at most
/// [`MAX_NAME_LEN`] bytes. Names starting with `_` are reserved for the store's own columns.
pub fn validate_identifier(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some('a'..='z'));
    let rest_ok = chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if first_ok && rest_ok && name.len() <= MAX_NAME_LEN {
        Ok(())
    } else {
        Err(SchemaError::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        for ok in ["tasks", "a", "due_at", "x9"] {
            assert!(validate_identifier(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            "_version",
            "Tasks",
            "9a",
            "a-b",
            "a b",
            "t\"; DROP TABLE x; --",
            "é",
            &long,
        ] {
            assert!(
                matches!(validate_identifier(bad), Err(SchemaError::InvalidName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn schema_rejects_duplicates_and_bad_names() {
        let e = EntitySchema::new("tasks", "id").field(FieldDef::new("title", FieldType::Text));
        assert!(Schema::new(vec![e.clone(), e.clone()]).is_err());
        let dup = e.clone().field(FieldDef::new("title", FieldType::Integer));
        assert!(Schema::new(vec![dup]).is_err());
        let key_twice = e.clone().field(FieldDef::new("id", FieldType::Text));
        assert!(Schema::new(vec![key_twice]).is_err());
        let bad = EntitySchema::new("tasks", "id").field(FieldDef::new("Title", FieldType::Text));
        assert!(matches!(
            Schema::new(vec![bad]),
            Err(SchemaError::InvalidName(_))
        ));
        let schema = Schema::new(vec![e]).expect("valid");
        assert!(matches!(
            schema.entity("nope"),
            Err(SchemaError::UnknownEntity(_))
        ));
        assert!(schema.entity("tasks").is_ok());
    }

    #[test]
    fn projection_keeps_only_named_fields() {
        let e = EntitySchema::new("tasks", "id")
            .field(FieldDef::new("title", FieldType::Text))
            .field(FieldDef::new("secret", FieldType::Text));
        let p = e.project(&["title"]).expect("known field");
        assert_eq!(p.field_names(), vec!["title".to_string()]);
        assert!(e.project(&["nope"]).is_err());
    }
}
