//! The server's view of the entities it serves: each entity's declaration (name, key, typed
//! fields, what clients may do with it) plus the rule that puts its records into a project, the
//! unit of access.
//!
//! Every entity and field name the server puts into SQL or accepts from a request is looked up
//! here; names are validated once, by [`syncline_protocol::Schema::new`], when a [`ServerSchema`] is
//! built.

use std::collections::HashMap;

use syncline_protocol::sample;
use syncline_protocol::{EntitySchema, FieldType, Schema, SyncMode};

/// How the records of an entity map to the project (scope) that grants access to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRule {
    /// The record is a project: its own key is its scope (the sample's `projects`).
    OwnKey,
    /// The record belongs to the project named by this required text field (the sample's
    /// `tasks.project_id`, `comments.project_id`).
    Field(String),
}

/// One entity as the server serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedEntity {
    /// The server's full declaration of the entity (clients pull subsets of its fields).
    pub schema: EntitySchema,
    /// How its records are scoped.
    pub scope: ScopeRule,
}

impl ServedEntity {
    /// An entity scoped by `scope`.
    pub fn new(schema: EntitySchema, scope: ScopeRule) -> Self {
        ServedEntity { schema, scope }
    }
}

/// A validated set of served entities.
#[derive(Debug, Clone)]
pub struct ServerSchema {
    entities: Vec<EntityDef>,
    by_name: HashMap<String, usize>,
}

/// A served entity with its lookups precomputed.
#[derive(Debug, Clone)]
pub struct EntityDef {
    /// The declaration.
    pub schema: EntitySchema,
    /// The scope rule.
    pub scope: ScopeRule,
    /// Index in `schema.fields` of the scope field (`None` for [`ScopeRule::OwnKey`]).
    pub scope_field: Option<usize>,
    field_index: HashMap<String, usize>,
}

impl EntityDef {
    /// Index in `schema.fields` of the field called `name` (never the key).
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.field_index.get(name).copied()
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

/// Why a set of entity declarations cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A name or declaration is invalid (see [`syncline_protocol::Schema::new`]).
    #[error(transparent)]
    Invalid(#[from] syncline_protocol::SchemaError),
    /// A scope rule names a field the entity lacks, or one that is not required text.
    #[error("entity `{entity}`: scope field `{field}` must be a declared, required text field")]
    BadScopeField {
        /// The entity.
        entity: String,
        /// The scope field it names.
        field: String,
    },
}

impl ServerSchema {
    /// Validates the declarations (names, duplicates, scope fields) and builds the lookups.
    pub fn new(entities: Vec<ServedEntity>) -> Result<ServerSchema, SchemaError> {
        Schema::new(entities.iter().map(|e| e.schema.clone()).collect())?;
        let mut defs = Vec::with_capacity(entities.len());
        let mut by_name = HashMap::new();
        for (i, e) in entities.into_iter().enumerate() {
            let scope_field = match &e.scope {
                ScopeRule::OwnKey => None,
                ScopeRule::Field(name) => {
                    let idx = e.schema.fields.iter().position(|f| &f.name == name);
                    let ok = idx.is_some_and(|i| {
                        let f = &e.schema.fields[i];
                        f.field_type == FieldType::Text && !f.nullable
                    });
                    if !ok {
                        return Err(SchemaError::BadScopeField {
                            entity: e.schema.name.clone(),
                            field: name.clone(),
                        });
                    }
                    idx
                }
            };
            let field_index = e
                .schema
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), i))
                .collect();
            by_name.insert(e.schema.name.clone(), i);
            defs.push(EntityDef {
                schema: e.schema,
                scope: e.scope,
                scope_field,
                field_index,
            });
        }
        Ok(ServerSchema {
            entities: defs,
            by_name,
        })
    }

    /// The sample app's entities ([`sample::server_entities`]): `projects` scoped by their own
    /// key, `tasks` and `comments` by their `project_id`.
    pub fn sample() -> Result<ServerSchema, SchemaError> {
        let entities = sample::server_entities()
            .into_iter()
            .map(|schema| {
                let scope = if schema.name == sample::PROJECTS {
                    ScopeRule::OwnKey
                } else {
                    ScopeRule::Field("project_id".to_string())
                };
                ServedEntity::new(schema, scope)
            })
            .collect();
        ServerSchema::new(entities)
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
    use syncline_protocol::FieldDef;

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
    }

    #[test]
    fn scope_fields_must_be_required_text() {
        let e =
            EntitySchema::new("notes", "id").field(FieldDef::new("project_id", FieldType::Text));
        let r = ServerSchema::new(vec![ServedEntity::new(
            e,
            ScopeRule::Field("project_id".into()),
        )]);
        assert!(matches!(r, Err(SchemaError::BadScopeField { .. })));
        let bad = EntitySchema::new("Notes", "id");
        assert!(ServerSchema::new(vec![ServedEntity::new(bad, ScopeRule::OwnKey)]).is_err());
    }
}
