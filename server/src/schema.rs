//! The server's view of the entities it serves: each entity's declaration (name, key, typed
//! fields, what clients may do with it), the rule that puts its records into a project (the unit
//! of access), and the fields only the server writes or sees. The declarations come from a
//! schema file (`docs/schema.md`, [`ServerSchema::load`], [`ServerSchema::parse`]) or from code
//! ([`ServerSchema::new`]).
//!
//! Every entity and field name the server puts into SQL or accepts from a request is looked up
//! here; names are validated once, by [`syncline_protocol::SchemaFile::new`], when a
//! [`ServerSchema`] is built.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use syncline_protocol::sample;
use syncline_protocol::{
    EntityDecl, EntitySchema, SchemaFile, ScopeRule, ServerSet, SyncMode, WriteRules,
};

use crate::error::SchemaError;

/// One entity as the server serves it: its declaration, scope rule, server-only and server-set
/// fields ([`EntityDecl`], built with `ServedEntity::new(schema, scope)` and its builders).
pub type ServedEntity = EntityDecl;

/// A validated set of served entities.
#[derive(Debug, Clone)]
pub struct ServerSchema {
    entities: Vec<EntityDef>,
    by_name: HashMap<String, usize>,
}

/// A served entity with its lookups precomputed.
#[derive(Debug, Clone)]
pub struct EntityDef {
    /// The declaration, every field included (clients pull subsets of the fields they may see).
    pub schema: EntitySchema,
    /// The scope rule.
    pub scope: ScopeRule,
    /// Index in `schema.fields` of the scope field (`None` for [`ScopeRule::OwnKey`]).
    pub scope_field: Option<usize>,
    field_index: HashMap<String, usize>,
    /// Per field (by index): never leaves the server.
    server_only: Vec<bool>,
    /// Per field (by index): what the server sets into it.
    server_set: Vec<Option<ServerSet>>,
    /// The office's write rules for devices' pushes, if the schema names an endpoint.
    pub rules: Option<WriteRules>,
}

impl EntityDef {
    fn new(decl: EntityDecl) -> EntityDef {
        let scope_field = match &decl.scope {
            ScopeRule::OwnKey => None,
            ScopeRule::Field(name) => decl.schema.fields.iter().position(|f| &f.name == name),
        };
        let field_index = decl
            .schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        let server_only = decl
            .schema
            .fields
            .iter()
            .map(|f| decl.is_server_only(&f.name))
            .collect();
        let server_set = decl
            .schema
            .fields
            .iter()
            .map(|f| decl.server_set(&f.name))
            .collect();
        EntityDef {
            schema: decl.schema,
            scope: decl.scope,
            scope_field,
            field_index,
            server_only,
            server_set,
            rules: decl.validate,
        }
    }

    /// Index in `schema.fields` of the field called `name` (never the key), server-only fields
    /// included: for the server's own reads and writes.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.field_index.get(name).copied()
    }

    /// Index of the field called `name` as clients may name it: `None` for a server-only field,
    /// exactly as for one that does not exist (so a client cannot learn it exists).
    pub fn client_field_index(&self, name: &str) -> Option<usize> {
        self.field_index(name).filter(|&i| !self.is_server_only(i))
    }

    /// Whether field `i` never leaves the server.
    pub fn is_server_only(&self, i: usize) -> bool {
        self.server_only.get(i).copied().unwrap_or(false)
    }

    /// What the server sets into field `i`, if anything.
    pub fn server_set(&self, i: usize) -> Option<ServerSet> {
        self.server_set.get(i).copied().flatten()
    }

    /// The fields the server sets, with their indexes.
    pub fn server_set_fields(&self) -> impl Iterator<Item = (usize, ServerSet)> + '_ {
        self.server_set
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
    }

    /// The entity's name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// What clients may do with its records.
    pub fn mode(&self) -> SyncMode {
        self.schema.sync.mode
    }
}

/// Why the schema file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the schema file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a valid schema; the error names the line, entity and field.
    #[error("schema file {}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        source: SchemaError,
    },
}

impl From<SchemaFile> for ServerSchema {
    fn from(file: SchemaFile) -> Self {
        let defs: Vec<EntityDef> = file
            .entities()
            .iter()
            .cloned()
            .map(EntityDef::new)
            .collect();
        let by_name = defs
            .iter()
            .enumerate()
            .map(|(i, e)| (e.schema.name.clone(), i))
            .collect();
        ServerSchema {
            entities: defs,
            by_name,
        }
    }
}

impl ServerSchema {
    /// Validates the declarations (names, duplicates, scope rules, field rules) and builds the
    /// lookups.
    pub fn new(entities: Vec<ServedEntity>) -> Result<ServerSchema, SchemaError> {
        Ok(SchemaFile::new(entities)?.into())
    }

    /// Reads a schema file's text (`docs/schema.md`); errors name the line.
    pub fn parse(text: &str) -> Result<ServerSchema, SchemaError> {
        Ok(SchemaFile::parse(text)?.into())
    }

    /// Reads and validates the schema file at `path` (`syncline-server --schema FILE`).
    pub fn load(path: &Path) -> Result<ServerSchema, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ServerSchema::parse(&text).map_err(|source| LoadError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The sample app's entities (`schema/sample.toml`, compiled in): `projects` scoped by their
    /// own key, `tasks` and `comments` by their `project_id`.
    pub fn sample() -> Result<ServerSchema, SchemaError> {
        Ok(sample::file()?.into())
    }

    /// The entity called `name`.
    pub fn entity(&self, name: &str) -> Option<&EntityDef> {
        self.by_name.get(name).map(|&i| &self.entities[i])
    }

    /// All entities, in declaration order.
    pub fn entities(&self) -> &[EntityDef] {
        &self.entities
    }

    /// The entity whose records are the projects themselves ([`ScopeRule::OwnKey`]), if any.
    pub fn project_entity(&self) -> Option<&EntityDef> {
        self.entities.iter().find(|e| e.scope == ScopeRule::OwnKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncline_protocol::{FieldDef, FieldType, ServerValue, SetOn};

    #[test]
    fn the_sample_schema_is_served() {
        let s = ServerSchema::sample().expect("valid");
        assert_eq!(s.entities().len(), 3);
        assert_eq!(
            s.project_entity().map(|e| e.name().to_string()),
            Some("projects".into())
        );
        let tasks = s.entity("tasks").expect("tasks");
        assert_eq!(tasks.scope_field, tasks.field_index("project_id"));
        assert!(tasks.field_index("id").is_none(), "the key is not a field");
        let internal = tasks.field_index("internal_notes").expect("declared");
        assert!(tasks.is_server_only(internal));
        assert_eq!(tasks.client_field_index("internal_notes"), None);
        assert_eq!(
            tasks.client_field_index("title"),
            tasks.field_index("title")
        );
        let comments = s.entity("comments").expect("comments");
        let set: Vec<(&str, ServerSet)> = comments
            .server_set_fields()
            .map(|(i, set)| (comments.schema.fields[i].name.as_str(), set))
            .collect();
        assert_eq!(
            set,
            vec![
                (
                    "author",
                    ServerSet {
                        value: ServerValue::User,
                        on: SetOn::Insert
                    }
                ),
                (
                    "created_at",
                    ServerSet {
                        value: ServerValue::Now,
                        on: SetOn::Insert
                    }
                )
            ]
        );
    }

    #[test]
    fn scope_fields_must_be_required_text() {
        let e =
            EntitySchema::new("notes", "id").field(FieldDef::new("project_id", FieldType::Text));
        let r = ServerSchema::new(vec![ServedEntity::new(
            e,
            ScopeRule::Field("project_id".into()),
        )]);
        assert!(
            matches!(&r, Err(SchemaError::Declaration(d)) if d.field.as_deref() == Some("project_id")),
            "{r:?}"
        );
        let bad = EntitySchema::new("Notes", "id");
        assert!(ServerSchema::new(vec![ServedEntity::new(bad, ScopeRule::OwnKey)]).is_err());
    }
}
