//! What the server's data layer fails with: the database, the stored data, the served schema.
//! A leaf: every module that touches data uses these, and this module uses none of them.

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (or no connection could be had).
    #[error("database: {0}")]
    Postgres(String),
    /// A transaction's work failed and asked to roll back (its own error is returned instead).
    #[error("the transaction was rolled back")]
    RolledBack,
    /// A JSON value could not be encoded or decoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A value or declaration was refused by the schema (wrong type, bad name).
    #[error(transparent)]
    Value(#[from] syncline_protocol::SchemaError),
    /// The served entities are invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The schema file changes the declared schema in a way the stored data cannot follow
    /// (a field's type, a scope rule, a field made required that records lack, an entity with
    /// records left out): the server refuses to start. Each entry names the entity or field.
    #[error(
        "the schema is not compatible with the data in the database (docs/schema.md, \"Changing \
         the schema\"):\n  - {}",
        .0.join("\n  - ")
    )]
    IncompatibleSchema(Vec<String>),
    /// The database was written by a newer server.
    #[error("the database has schema version {found}; this server knows up to {known}")]
    TooNew {
        /// `PRAGMA user_version` found.
        found: i64,
        /// Migrations this server has.
        known: usize,
    },
    /// No entity of that name is served.
    #[error("unknown entity `{0}`")]
    UnknownEntity(String),
    /// The entity has no field of that name (or it is the key).
    #[error("entity `{entity}` has no field `{field}`")]
    UnknownField {
        /// The entity.
        entity: String,
        /// The field.
        field: String,
    },
    /// No user of that id exists.
    #[error("unknown user `{0}`")]
    UnknownUser(String),
    /// No live record with that key exists.
    #[error("no `{entity}` record with key `{key}`")]
    NotFound {
        /// The entity.
        entity: String,
        /// The key.
        key: String,
    },
    /// The request to the store is invalid (missing required field, bad key…).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Stored data does not have the expected shape.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Why a set of entity declarations cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A name or value is invalid (see [`syncline_protocol::Schema::new`]).
    #[error(transparent)]
    Invalid(#[from] syncline_protocol::SchemaError),
    /// A declaration is invalid: names, duplicates, scope rules, server-only or server-set
    /// fields. From a schema file, it names the line.
    #[error(transparent)]
    Declaration(#[from] syncline_protocol::SchemaFileError),
}
