//! Schema files: an app's entities declared once, in TOML, for the server and the devices alike.
//! `docs/schema.md` describes the format; `schema/sample.toml` is the sample app's file.
//!
//! A file declares, per entity, its fields and their types, the sync settings devices use, the
//! scope rule that puts each record into a project (the server's unit of access), and the rules
//! of the fields clients may not write (read-only, set by the server) or not even see
//! (server-only). The server serves all of it ([`SchemaFile::entities`]); a device keeps the
//! fields clients may see, or a subset of them ([`SchemaFile::device_subset`]).
//!
//! TOML rather than JSON: people write these files by hand, with comments, and TOML's tables
//! read like the declarations they are. The parser walks the document itself (no serde layer),
//! so every error names its line and the entity and field it concerns.

use std::collections::HashSet;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::error::{SchemaError, SchemaFileError};
use crate::schema::{
    validate_identifier, ConflictPolicy, EntitySchema, FieldDef, FieldType, Schema, SyncMode,
    MAX_NAME_LEN,
};

/// How the records of an entity map to the project (scope) that grants access to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRule {
    /// The record is a project: its own key is its scope (the sample's `projects`).
    OwnKey,
    /// The record belongs to the project named by this required text field (the sample's
    /// `tasks.project_id`, `comments.project_id`).
    Field(String),
}

/// A value the server writes into a field itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerValue {
    /// The id of the user whose push writes the record (`"user"`). A server-side write has no
    /// user: it gives the value itself, or leaves the field as it is.
    User,
    /// The server's clock, in milliseconds since the Unix epoch (`"now"`), for a timestamp or
    /// integer field. A server-side write that gives the field keeps its value.
    Now,
}

/// When the server writes a [`ServerValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOn {
    /// When a write creates the record (`set_on_insert`): a new key, or a key whose record was
    /// deleted.
    Insert,
    /// On every insert and update (`set_on_write`).
    Write,
}

/// A field the server sets: what it writes and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSet {
    /// What the server writes.
    pub value: ServerValue,
    /// When.
    pub on: SetOn,
}

/// One entity as the server serves it: the full declaration (server-only fields included), its
/// scope rule, and the fields only the server writes or sees.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityDecl {
    /// Name, key, every field and the sync settings. A field clients may not write has
    /// `writable == false` ([`SchemaFile::new`] sees to it for server-only and server-set fields).
    pub schema: EntitySchema,
    /// How its records are scoped.
    pub scope: ScopeRule,
    /// Fields that never leave the server: never pulled, never accepted in a push, answered as
    /// unknown when a client names them.
    pub server_only: Vec<String>,
    /// Fields the server sets itself, whatever the client sent (a push naming one is rejected).
    pub server_set: Vec<(String, ServerSet)>,
    /// The office's write rules: an endpoint the server asks, once per push, whether each of
    /// the push's mutations of this entity may be applied (`[entities.NAME.validate]`).
    pub validate: Option<WriteRules>,
}

/// Where the server asks whether devices' writes of an entity are accepted, and what it does
/// when the answer does not come (`docs/backend.md`, "Write rules").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteRules {
    /// The endpoint the server POSTs each push's mutations of the entity to (`http` or
    /// `https`).
    pub url: String,
    /// How long the server waits for the answer, connection included.
    pub timeout: std::time::Duration,
    /// What a timeout or a broken answer means.
    pub on_failure: RulesFailure,
}

/// What the server does with a push when the office's rules could not be asked: the endpoint
/// timed out, failed, or answered something that is not a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RulesFailure {
    /// The push is answered `503 rules_unavailable` and nothing of it is applied: its changes
    /// wait on the device, which sends them again later (`"fail_closed"`, the default).
    FailClosed,
    /// The mutations are applied as if the office had accepted them, and the failure is logged
    /// and counted (`"fail_open"`).
    FailOpen,
}

impl WriteRules {
    /// How long the server waits for an answer unless the schema says otherwise.
    pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
    /// The longest wait a schema may configure: a push holds a device's sync that long, and a
    /// device gives up on an answer after 30 s by default, so the `503` and its `Retry-After`
    /// must come well before.
    pub const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
}

impl EntityDecl {
    /// An entity scoped by `scope`, with no server-only or server-set fields.
    pub fn new(schema: EntitySchema, scope: ScopeRule) -> Self {
        EntityDecl {
            schema,
            scope,
            server_only: Vec::new(),
            server_set: Vec::new(),
            validate: None,
        }
    }

    /// Puts the entity's writes under the office's rules (builder style).
    pub fn validated_by(mut self, rules: WriteRules) -> Self {
        self.validate = Some(rules);
        self
    }

    /// Makes a field server-only (builder style).
    pub fn server_only(mut self, field: &str) -> Self {
        self.server_only.push(field.to_string());
        self
    }

    /// Makes a field one the server sets (builder style).
    pub fn set_by_server(mut self, field: &str, set: ServerSet) -> Self {
        self.server_set.push((field.to_string(), set));
        self
    }

    /// The entity's name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// Whether the field called `name` never leaves the server.
    pub fn is_server_only(&self, name: &str) -> bool {
        self.server_only.iter().any(|f| f == name)
    }

    /// What the server sets into the field called `name`, if anything.
    pub fn server_set(&self, name: &str) -> Option<ServerSet> {
        self.server_set
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, set)| *set)
    }

    /// The entity as clients see it: its fields without the server-only ones, and every field
    /// the server sets marked not writable.
    pub fn client_schema(&self) -> EntitySchema {
        let fields = self
            .schema
            .fields
            .iter()
            .filter(|f| !self.is_server_only(&f.name))
            .map(|f| FieldDef {
                writable: f.writable && self.server_set(&f.name).is_none(),
                ..f.clone()
            })
            .collect();
        EntitySchema {
            fields,
            ..self.schema.clone()
        }
    }

    /// Whether clients may create records of it.
    fn insertable(&self) -> bool {
        self.schema.sync.mode != SyncMode::ReadOnly
    }

    /// Checks the declaration and marks server-only and server-set fields not writable.
    fn validate(&mut self) -> Result<(), SchemaFileError> {
        let name = self.schema.name.clone();
        let err = |field: Option<&str>, message: String| SchemaFileError::at(&name, field, message);
        Schema::new(vec![self.schema.clone()]).map_err(|e| match &e {
            SchemaError::InvalidName(n) if self.schema.field_def(n).is_ok() => {
                err(Some(n), e.to_string())
            }
            _ => err(None, e.to_string()),
        })?;
        for f in &self.server_only {
            if self.schema.field_def(f).is_err() {
                return Err(err(
                    None,
                    format!("`{f}` is marked server-only but is not a declared field"),
                ));
            }
        }
        let mut set = HashSet::new();
        for (f, rule) in &self.server_set {
            let def = self.schema.field_def(f).map_err(|_| {
                err(
                    None,
                    format!("`{f}` is set by the server but is not a declared field"),
                )
            })?;
            if !set.insert(f.as_str()) {
                return Err(err(
                    Some(f),
                    "has two server-set rules; give it set_on_insert or set_on_write, not both"
                        .into(),
                ));
            }
            let fits = match rule.value {
                ServerValue::User => def.field_type == FieldType::Text,
                ServerValue::Now => {
                    matches!(def.field_type, FieldType::Timestamp | FieldType::Integer)
                }
            };
            if !fits {
                let (value, needs) = match rule.value {
                    ServerValue::User => ("\"user\"", "a text field"),
                    ServerValue::Now => ("\"now\"", "a timestamp or integer field"),
                };
                return Err(err(
                    Some(f),
                    format!(
                        "the server sets {value} only into {needs}, and this one is {}",
                        def.field_type.name()
                    ),
                ));
            }
        }
        let server_only = self.server_only.clone();
        let server_set: Vec<String> = self.server_set.iter().map(|(f, _)| f.clone()).collect();
        for f in &mut self.schema.fields {
            if server_only.contains(&f.name) || server_set.contains(&f.name) {
                f.writable = false;
            }
        }
        if let ScopeRule::Field(scope) = &self.scope {
            let Ok(def) = self.schema.field_def(scope) else {
                return Err(err(
                    None,
                    format!(
                        "the scope field `{scope}` is not declared: declare it as a required text \
                         field, or scope each record by its own key (scope = \"{}\")",
                        self.schema.key
                    ),
                ));
            };
            if def.field_type != FieldType::Text || def.nullable {
                return Err(err(
                    Some(scope),
                    "names each record's project (the scope), so it must be required text".into(),
                ));
            }
            if self.server_set(scope).is_some() {
                return Err(err(
                    Some(scope),
                    "names each record's project (the scope); the server cannot set it".into(),
                ));
            }
            if self.insertable() && !def.writable {
                return Err(err(
                    Some(scope),
                    "names the project of each record clients create, so clients must be able \
                     to write it (or make the entity read_only)"
                        .into(),
                ));
            }
        }
        if self.insertable() {
            for f in &self.schema.fields {
                if !f.nullable && !f.writable && self.server_set(&f.name).is_none() {
                    return Err(err(
                        Some(&f.name),
                        format!(
                            "is required, but clients may not write it and the server does not \
                             set it, so clients could never create a `{name}` record: make it \
                             optional, give it set_on_insert, or make the entity read_only"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A validated set of entity declarations, read from a schema file ([`SchemaFile::parse`]) or
/// built in code ([`SchemaFile::new`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaFile {
    entities: Vec<EntityDecl>,
}

impl SchemaFile {
    /// Validates declarations built in code: names, duplicates, scope rules, server-only and
    /// server-set fields. Marks server-only and server-set fields not writable.
    pub fn new(mut entities: Vec<EntityDecl>) -> Result<SchemaFile, SchemaFileError> {
        let mut names = HashSet::new();
        for e in &mut entities {
            e.validate()?;
            if !names.insert(e.schema.name.clone()) {
                return Err(SchemaFileError::at(
                    &e.schema.name,
                    None,
                    "is declared twice",
                ));
            }
        }
        Ok(SchemaFile { entities })
    }

    /// Reads a schema file's text (TOML, `docs/schema.md`) and validates it.
    pub fn parse(text: &str) -> Result<SchemaFile, SchemaFileError> {
        let lines = Lines::new(text);
        let doc = DeTable::parse(text).map_err(|e| SchemaFileError {
            line: e.span().map(|s| lines.line(&s)),
            entity: None,
            field: None,
            message: e.message().trim_end().to_string(),
        })?;
        let mut reader = Reader {
            lines: &lines,
            spots: Vec::new(),
        };
        let mut entities = Vec::new();
        for (key, value) in doc.get_ref().iter() {
            let span = key.span();
            match key.get_ref().as_ref() {
                "entities" => {
                    let table = reader.table(value.get_ref(), &value.span(), None, None)?;
                    for (name, decl) in table.iter() {
                        entities.push(reader.entity(
                            name.get_ref(),
                            &name.span(),
                            decl.get_ref(),
                            &decl.span(),
                        )?);
                    }
                }
                other => {
                    return Err(reader.error(
                        &span,
                        None,
                        None,
                        format!(
                            "unknown key `{other}`: a schema file holds only entities, each \
                             in an [entities.NAME] table"
                        ),
                    ))
                }
            }
        }
        if entities.is_empty() {
            return Err(SchemaFileError {
                line: None,
                entity: None,
                field: None,
                message: "the file declares no entity (an [entities.NAME] table)".into(),
            });
        }
        SchemaFile::new(entities).map_err(|mut e| {
            if e.line.is_none() {
                e.line = reader.spot(e.entity.as_deref(), e.field.as_deref());
            }
            e
        })
    }

    /// Every entity, in the file's order.
    pub fn entities(&self) -> &[EntityDecl] {
        &self.entities
    }

    /// The entity called `name`.
    pub fn entity(&self, name: &str) -> Option<&EntityDecl> {
        self.entities.iter().find(|e| e.schema.name == name)
    }

    /// The device schema of every entity with every field clients may see (server-only fields
    /// left out; read-only and server-set fields kept, not writable).
    pub fn device_schema(&self) -> Result<Schema, SchemaError> {
        Schema::new(
            self.entities
                .iter()
                .map(EntityDecl::client_schema)
                .collect(),
        )
    }

    /// The device schema of the listed entities, in the order given, each with the listed
    /// fields in the order given (an empty list: every field clients may see). A server-only
    /// field is `UnknownField`, as for a field the file does not declare.
    pub fn device_subset(&self, keep: &[(&str, &[&str])]) -> Result<Schema, SchemaError> {
        let mut out = Vec::with_capacity(keep.len());
        for (name, fields) in keep {
            let entity = self
                .entity(name)
                .ok_or_else(|| SchemaError::UnknownEntity(name.to_string()))?
                .client_schema();
            out.push(if fields.is_empty() {
                entity
            } else {
                entity.project(fields)?
            });
        }
        Schema::new(out)
    }
}

/// Byte offsets of line starts, to turn a span into a 1-based line number.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.starts.partition_point(|&s| s <= span.start).max(1)
    }
}

/// Walks a parsed document, remembering where each entity and field is declared (so errors
/// found after parsing, by [`SchemaFile::new`], still name their line).
struct Reader<'l> {
    lines: &'l Lines,
    spots: Vec<(String, Option<String>, usize)>,
}

type Table<'i> = DeTable<'i>;

const ENTITY_KEYS: &str = "key, scope, mode, conflict, page_size, validate, fields";
const VALIDATE_KEYS: &str = "url, timeout_ms, on_failure";
const FIELD_KEYS: &str = "type, required, indexed, access, set_on_insert, set_on_write";

impl Reader<'_> {
    fn error(
        &self,
        span: &Range<usize>,
        entity: Option<&str>,
        field: Option<&str>,
        message: String,
    ) -> SchemaFileError {
        SchemaFileError {
            line: Some(self.lines.line(span)),
            entity: entity.map(str::to_string),
            field: field.map(str::to_string),
            message,
        }
    }

    fn spot(&self, entity: Option<&str>, field: Option<&str>) -> Option<usize> {
        let find = |field: Option<&str>| {
            self.spots
                .iter()
                .find(|(e, f, _)| Some(e.as_str()) == entity && f.as_deref() == field)
                .map(|(_, _, line)| *line)
        };
        find(field).or_else(|| find(None))
    }

    fn table<'v, 'i>(
        &self,
        value: &'v DeValue<'i>,
        span: &Range<usize>,
        entity: Option<&str>,
        field: Option<&str>,
    ) -> Result<&'v Table<'i>, SchemaFileError> {
        value.as_table().ok_or_else(|| {
            self.error(
                span,
                entity,
                field,
                format!("expected a table, found {}", value.type_str()),
            )
        })
    }

    fn string<'v>(
        &self,
        value: &'v DeValue<'_>,
        span: &Range<usize>,
        entity: &str,
        field: Option<&str>,
        key: &str,
    ) -> Result<&'v str, SchemaFileError> {
        value.as_str().ok_or_else(|| {
            self.error(
                span,
                Some(entity),
                field,
                format!("`{key}` must be a string, not {}", value.type_str()),
            )
        })
    }

    fn boolean(
        &self,
        value: &DeValue<'_>,
        span: &Range<usize>,
        entity: &str,
        field: &str,
        key: &str,
    ) -> Result<bool, SchemaFileError> {
        value.as_bool().ok_or_else(|| {
            self.error(
                span,
                Some(entity),
                Some(field),
                format!("`{key}` must be true or false, not {}", value.type_str()),
            )
        })
    }

    /// One of a few named values.
    fn choice<T: Copy>(
        &self,
        value: &DeValue<'_>,
        span: &Range<usize>,
        entity: &str,
        field: Option<&str>,
        key: &str,
        options: &[(&str, T)],
    ) -> Result<T, SchemaFileError> {
        let text = self.string(value, span, entity, field, key)?;
        options
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                self.error(
                    span,
                    Some(entity),
                    field,
                    format!(
                        "`{key} = \"{text}\"` is not known; expected one of {}",
                        names.join(", ")
                    ),
                )
            })
    }

    fn identifier(
        &self,
        name: &str,
        span: &Range<usize>,
        entity: Option<&str>,
        what: &str,
    ) -> Result<(), SchemaFileError> {
        validate_identifier(name).map_err(|_| {
            self.error(
                span,
                entity,
                None,
                format!(
                    "`{name}` is not a valid {what} name: lowercase letters, digits and _, \
                     starting with a letter, at most {MAX_NAME_LEN} bytes"
                ),
            )
        })
    }

    fn entity(
        &mut self,
        name: &str,
        name_span: &Range<usize>,
        value: &DeValue<'_>,
        span: &Range<usize>,
    ) -> Result<EntityDecl, SchemaFileError> {
        self.identifier(name, name_span, None, "entity")?;
        self.spots
            .push((name.to_string(), None, self.lines.line(name_span)));
        let table = self.table(value, span, Some(name), None)?;
        let mut schema = EntitySchema::new(name, "id");
        let mut scope = None;
        let mut fields = None;
        let mut validate = None;
        for (key, value) in table.iter() {
            let (key_span, span) = (key.span(), value.span());
            let value = value.get_ref();
            match key.get_ref().as_ref() {
                "key" => {
                    let key_name = self.string(value, &span, name, None, "key")?;
                    self.identifier(key_name, &span, Some(name), "key")?;
                    schema.key = key_name.to_string();
                }
                "scope" => {
                    let field = self.string(value, &span, name, None, "scope")?;
                    self.identifier(field, &span, Some(name), "scope field")?;
                    scope = Some(field.to_string());
                }
                "mode" => {
                    schema.sync.mode = self.choice(
                        value,
                        &span,
                        name,
                        None,
                        "mode",
                        &[
                            ("read_write", SyncMode::ReadWrite),
                            ("read_only", SyncMode::ReadOnly),
                            ("append_only", SyncMode::AppendOnly),
                        ],
                    )?;
                }
                "conflict" => {
                    schema.sync.conflict = self.choice(
                        value,
                        &span,
                        name,
                        None,
                        "conflict",
                        &[
                            ("last_write_wins", ConflictPolicy::LastWriteWins),
                            ("server_wins", ConflictPolicy::ServerWins),
                            ("client_wins", ConflictPolicy::ClientWins),
                            ("manual", ConflictPolicy::Manual),
                            ("locked_offline", ConflictPolicy::LockedOffline),
                        ],
                    )?;
                }
                "page_size" => {
                    let rows = value
                        .as_integer()
                        .filter(|i| i.radix() == 10)
                        .and_then(|i| i.as_str().parse::<u32>().ok())
                        .filter(|&n| n > 0)
                        .ok_or_else(|| {
                            self.error(
                                &span,
                                Some(name),
                                None,
                                format!(
                                    "`page_size` must be a whole number of rows from 1 to {}",
                                    u32::MAX
                                ),
                            )
                        })?;
                    schema.sync.page_size = rows;
                }
                "fields" => fields = Some((value, span)),
                "validate" => validate = Some(self.write_rules(name, value, &span)?),
                other => {
                    return Err(self.error(
                        &key_span,
                        Some(name),
                        None,
                        format!("unknown key `{other}`; an entity has {ENTITY_KEYS}"),
                    ))
                }
            }
        }
        let Some(scope) = scope else {
            return Err(self.error(
                name_span,
                Some(name),
                None,
                format!(
                    "has no `scope`: name the text field that holds each record's project \
                     (scope = \"project_id\"), or the key for records that are projects \
                     (scope = \"{}\")",
                    schema.key
                ),
            ));
        };
        let scope = if scope == schema.key {
            ScopeRule::OwnKey
        } else {
            ScopeRule::Field(scope)
        };
        let mut decl = EntityDecl::new(schema, scope);
        decl.validate = validate;
        if let Some((value, span)) = fields {
            let table = self.table(value, &span, Some(name), None)?;
            for (field, def) in table.iter() {
                self.field(
                    &mut decl,
                    field.get_ref(),
                    &field.span(),
                    def.get_ref(),
                    &def.span(),
                )?;
            }
        }
        Ok(decl)
    }

    /// An entity's `validate` table: the office's write-rules endpoint.
    fn write_rules(
        &self,
        entity: &str,
        value: &DeValue<'_>,
        span: &Range<usize>,
    ) -> Result<WriteRules, SchemaFileError> {
        let table = self.table(value, span, Some(entity), None)?;
        let mut url = None;
        let mut rules = WriteRules {
            url: String::new(),
            timeout: WriteRules::DEFAULT_TIMEOUT,
            on_failure: RulesFailure::FailClosed,
        };
        for (key, value) in table.iter() {
            let (key_span, span) = (key.span(), value.span());
            let value = value.get_ref();
            match key.get_ref().as_ref() {
                "url" => {
                    let text = self.string(value, &span, entity, None, "validate.url")?;
                    let scheme_ok = ["http://", "https://"]
                        .iter()
                        .any(|s| text.len() > s.len() && text.starts_with(s));
                    if !scheme_ok || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        return Err(self.error(
                            &span,
                            Some(entity),
                            None,
                            format!(
                                "`validate.url = \"{text}\"` is not an http:// or https:// URL"
                            ),
                        ));
                    }
                    url = Some(text.to_string());
                }
                "timeout_ms" => {
                    let max = WriteRules::MAX_TIMEOUT.as_millis() as u64;
                    let ms = value
                        .as_integer()
                        .filter(|i| i.radix() == 10)
                        .and_then(|i| i.as_str().parse::<u64>().ok())
                        .filter(|&n| (1..=max).contains(&n))
                        .ok_or_else(|| {
                            self.error(
                                &span,
                                Some(entity),
                                None,
                                format!("`validate.timeout_ms` must be a whole number of milliseconds from 1 to {max}"),
                            )
                        })?;
                    rules.timeout = std::time::Duration::from_millis(ms);
                }
                "on_failure" => {
                    rules.on_failure = self.choice(
                        value,
                        &span,
                        entity,
                        None,
                        "validate.on_failure",
                        &[
                            ("fail_closed", RulesFailure::FailClosed),
                            ("fail_open", RulesFailure::FailOpen),
                        ],
                    )?;
                }
                other => {
                    return Err(self.error(
                        &key_span,
                        Some(entity),
                        None,
                        format!("unknown key `validate.{other}`; `validate` has {VALIDATE_KEYS}"),
                    ))
                }
            }
        }
        rules.url = url.ok_or_else(|| {
            self.error(
                span,
                Some(entity),
                None,
                "`validate` needs a `url`: the endpoint that says whether a push's writes are accepted".to_string(),
            )
        })?;
        Ok(rules)
    }

    fn field(
        &mut self,
        decl: &mut EntityDecl,
        name: &str,
        name_span: &Range<usize>,
        value: &DeValue<'_>,
        span: &Range<usize>,
    ) -> Result<(), SchemaFileError> {
        let entity = decl.schema.name.clone();
        let entity = entity.as_str();
        self.identifier(name, name_span, Some(entity), "field")?;
        self.spots.push((
            entity.to_string(),
            Some(name.to_string()),
            self.lines.line(name_span),
        ));
        let type_of = |text: &str, span: &Range<usize>| {
            FieldType::from_name(text).ok_or_else(|| {
                let names: Vec<&str> = FieldType::ALL.iter().map(|t| t.name()).collect();
                self.error(
                    span,
                    Some(entity),
                    Some(name),
                    format!(
                        "unknown type `{text}`; expected one of {}",
                        names.join(", ")
                    ),
                )
            })
        };
        let server_values = [("user", ServerValue::User), ("now", ServerValue::Now)];
        let mut def = FieldDef::new(name, FieldType::Text);
        let mut typed = false;
        let mut access = "read_write";
        let mut set: Option<ServerSet> = None;
        if let Some(text) = value.as_str() {
            def.field_type = type_of(text, span)?;
            typed = true;
        } else {
            let table = value.as_table().ok_or_else(|| {
                self.error(
                    span,
                    Some(entity),
                    Some(name),
                    format!(
                        "expected a type (\"text\") or a table ({{ type = \"text\", … }}), found {}",
                        value.type_str()
                    ),
                )
            })?;
            for (key, value) in table.iter() {
                let (key_span, span) = (key.span(), value.span());
                let value = value.get_ref();
                let key = key.get_ref().as_ref();
                match key {
                    "type" => {
                        let text = self.string(value, &span, entity, Some(name), key)?;
                        def.field_type = type_of(text, &span)?;
                        typed = true;
                    }
                    "required" => {
                        def.nullable = !self.boolean(value, &span, entity, name, key)?;
                    }
                    "indexed" => def.indexed = self.boolean(value, &span, entity, name, key)?,
                    "access" => {
                        access = self.choice(
                            value,
                            &span,
                            entity,
                            Some(name),
                            key,
                            &[
                                ("read_write", "read_write"),
                                ("read_only", "read_only"),
                                ("server_only", "server_only"),
                            ],
                        )?;
                    }
                    "set_on_insert" | "set_on_write" => {
                        if set.is_some() {
                            return Err(self.error(
                                &key_span,
                                Some(entity),
                                Some(name),
                                "give set_on_insert or set_on_write, not both".into(),
                            ));
                        }
                        let value =
                            self.choice(value, &span, entity, Some(name), key, &server_values)?;
                        let on = if key == "set_on_insert" {
                            SetOn::Insert
                        } else {
                            SetOn::Write
                        };
                        set = Some(ServerSet { value, on });
                    }
                    other => {
                        return Err(self.error(
                            &key_span,
                            Some(entity),
                            Some(name),
                            format!("unknown key `{other}`; a field has {FIELD_KEYS}"),
                        ))
                    }
                }
            }
        }
        if !typed {
            return Err(self.error(name_span, Some(entity), Some(name), "has no `type`".into()));
        }
        match access {
            "read_only" => def.writable = false,
            "server_only" => decl.server_only.push(name.to_string()),
            _ => {}
        }
        if let Some(set) = set {
            decl.server_set.push((name.to_string(), set));
        }
        if decl.schema.field_def(name).is_ok() || decl.schema.key == name {
            return Err(self.error(
                name_span,
                Some(entity),
                Some(name),
                format!(
                    "is declared twice, or is also the entity's key (`{}`)",
                    decl.schema.key
                ),
            ));
        }
        decl.schema.fields.push(def);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[entities.notes]
scope = "project_id"

[entities.notes.fields]
project_id = { type = "text", required = true }
body = "text"
"#;

    fn error_of(text: &str) -> SchemaFileError {
        SchemaFile::parse(text).expect_err("the file is invalid")
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let file = SchemaFile::parse(MINIMAL).expect("valid");
        let notes = file.entity("notes").expect("notes");
        assert_eq!(notes.schema.key, "id");
        assert_eq!(notes.scope, ScopeRule::Field("project_id".into()));
        assert_eq!(notes.schema.sync, crate::SyncSettings::default());
        assert_eq!(
            notes.schema.fields,
            vec![
                FieldDef::required("project_id", FieldType::Text),
                FieldDef::new("body", FieldType::Text)
            ]
        );
    }

    #[test]
    fn field_rules_are_read() {
        let file = SchemaFile::parse(
            r#"
[entities.notes]
key = "note_id"
scope = "project_id"
mode = "append_only"
conflict = "server_wins"
page_size = 250

[entities.notes.fields]
project_id = { type = "text", required = true, indexed = true }
author = { type = "text", required = true, set_on_insert = "user" }
edited_at = { type = "timestamp", set_on_write = "now" }
status = { type = "text", access = "read_only" }
secret = { type = "json", access = "server_only" }
"#,
        )
        .expect("valid");
        let notes = file.entity("notes").expect("notes");
        assert_eq!(notes.schema.key, "note_id");
        assert_eq!(notes.schema.sync.mode, SyncMode::AppendOnly);
        assert_eq!(notes.schema.sync.conflict, ConflictPolicy::ServerWins);
        assert_eq!(notes.schema.sync.page_size, 250);
        assert_eq!(
            notes.server_set("author"),
            Some(ServerSet {
                value: ServerValue::User,
                on: SetOn::Insert
            })
        );
        assert_eq!(
            notes.server_set("edited_at"),
            Some(ServerSet {
                value: ServerValue::Now,
                on: SetOn::Write
            })
        );
        assert!(notes.is_server_only("secret"));
        let writable: Vec<(&str, bool)> = notes
            .schema
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.writable))
            .collect();
        assert_eq!(
            writable,
            vec![
                ("project_id", true),
                ("author", false),
                ("edited_at", false),
                ("status", false),
                ("secret", false)
            ]
        );
        // Devices never see the server-only field.
        let device = file.device_schema().expect("device schema");
        assert_eq!(
            device.entity("notes").expect("notes").field_names(),
            vec!["project_id", "author", "edited_at", "status"]
        );
        assert!(matches!(
            file.device_subset(&[("notes", &["secret"])]),
            Err(SchemaError::UnknownField { .. })
        ));
        assert!(matches!(
            file.device_subset(&[("nope", &[])]),
            Err(SchemaError::UnknownEntity(_))
        ));
        let subset = file
            .device_subset(&[("notes", &["status", "project_id"])])
            .expect("subset");
        assert_eq!(
            subset.entity("notes").expect("notes").field_names(),
            vec!["status", "project_id"]
        );
    }

    #[test]
    fn an_entity_scoped_by_its_key_names_the_key() {
        let file = SchemaFile::parse(
            "[entities.teams]\nkey = \"team\"\nscope = \"team\"\nmode = \"read_only\"\n",
        )
        .expect("valid");
        assert_eq!(file.entities()[0].scope, ScopeRule::OwnKey);
        assert!(file.entities()[0].schema.fields.is_empty());
    }

    #[test]
    fn errors_name_the_line_the_entity_and_the_field() {
        /// File text; the error's line (0: none), entity and field; a part of its message.
        type Case<'a> = (&'a str, usize, Option<&'a str>, Option<&'a str>, &'a str);
        let cases: &[Case] = &[
            ("[entities.notes\n", 1, None, None, ""),
            ("colour = 1\n", 1, None, None, "unknown key `colour`"),
            ("", 0, None, None, "declares no entity"),
            (
                "[entities.Notes]\nscope = \"id\"\n",
                1,
                None,
                None,
                "`Notes` is not a valid entity name",
            ),
            (
                "[entities.notes]\nscope = \"id\"\nmood = \"calm\"\n",
                3,
                Some("notes"),
                None,
                "unknown key `mood`",
            ),
            (
                "\n[entities.notes]\nmode = \"read_only\"\n",
                2,
                Some("notes"),
                None,
                "has no `scope`",
            ),
            (
                "[entities.notes]\nscope = \"id\"\nmode = \"readonly\"\n",
                3,
                Some("notes"),
                None,
                "`mode = \"readonly\"` is not known; expected one of \"read_write\"",
            ),
            (
                "[entities.notes]\nscope = \"id\"\npage_size = 0\n",
                3,
                Some("notes"),
                None,
                "page_size",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nbody = \"txt\"\n",
                4,
                Some("notes"),
                Some("body"),
                "unknown type `txt`; expected one of text, integer",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nbody = { required = true }\n",
                4,
                Some("notes"),
                Some("body"),
                "has no `type`",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nbody = { type = \"text\", requird = true }\n",
                4,
                Some("notes"),
                Some("body"),
                "unknown key `requird`",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nid = \"text\"\n",
                4,
                Some("notes"),
                Some("id"),
                "the entity's key",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\n\nwho = { type = \"integer\", set_on_insert = \"user\" }\n",
                5,
                Some("notes"),
                Some("who"),
                "only into a text field, and this one is integer",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nat = { type = \"text\", set_on_write = \"now\" }\n",
                4,
                Some("notes"),
                Some("at"),
                "timestamp or integer",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nat = { type = \"timestamp\", set_on_write = \"now\", set_on_insert = \"now\" }\n",
                4,
                Some("notes"),
                Some("at"),
                "not both",
            ),
            (
                "[entities.notes]\nscope = \"project\"\n[entities.notes.fields]\nbody = \"text\"\n",
                1,
                Some("notes"),
                None,
                "the scope field `project` is not declared",
            ),
            (
                "[entities.notes]\nscope = \"project\"\n[entities.notes.fields]\nproject = \"text\"\n",
                4,
                Some("notes"),
                Some("project"),
                "must be required text",
            ),
            (
                "[entities.notes]\nscope = \"project\"\n[entities.notes.fields]\nproject = { type = \"text\", required = true, access = \"read_only\" }\n",
                4,
                Some("notes"),
                Some("project"),
                "clients must be able to write it",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nstamp = { type = \"text\", required = true, access = \"server_only\" }\n",
                4,
                Some("notes"),
                Some("stamp"),
                "clients could never create a `notes` record",
            ),
            (
                "[entities.notes]\nscope = \"id\"\n[entities.notes]\n",
                3,
                None,
                None,
                "",
            ),
        ];
        for (text, line, entity, field, needle) in cases {
            let e = error_of(text);
            assert_eq!(e.line, (*line > 0).then_some(*line), "{text:?}: {e}");
            assert_eq!(e.entity.as_deref(), *entity, "{text:?}: {e}");
            assert_eq!(e.field.as_deref(), *field, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
        let e =
            error_of("[entities.notes]\nscope = \"id\"\n[entities.notes.fields]\nbody = \"txt\"\n");
        assert_eq!(
            e.to_string(),
            "line 4: field `notes.body`: unknown type `txt`; expected one of text, integer, real, \
             boolean, timestamp, json, attachment"
        );
    }

    #[test]
    fn a_read_only_entity_may_have_required_fields_clients_cannot_write() {
        let text = "[entities.notes]\nscope = \"id\"\nmode = \"read_only\"\n[entities.notes.fields]\nstamp = { type = \"text\", required = true, access = \"server_only\" }\n";
        assert!(SchemaFile::parse(text).is_ok());
    }

    #[test]
    fn declarations_built_in_code_are_checked_too() {
        let notes = EntitySchema::new("notes", "id")
            .field(FieldDef::required("project_id", FieldType::Text))
            .field(FieldDef::new("secret", FieldType::Text));
        let scope = ScopeRule::Field("project_id".into());
        let file = SchemaFile::new(vec![
            EntityDecl::new(notes.clone(), scope.clone()).server_only("secret")
        ])
        .expect("valid");
        assert!(
            !file.entities()[0].schema.fields[1].writable,
            "server-only fields are not writable"
        );
        let e = SchemaFile::new(vec![
            EntityDecl::new(notes.clone(), scope.clone()).server_only("nope")
        ])
        .expect_err("unknown field");
        assert_eq!(e.entity.as_deref(), Some("notes"));
        let twice = EntityDecl::new(notes, scope);
        assert!(SchemaFile::new(vec![twice.clone(), twice]).is_err());
    }
}
