//! What a schema declaration or a value can be wrong with.

/// A declaration, a name or a value that the schema does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A name is not a lowercase identifier (`[a-z][a-z0-9_]*`, at most 63 bytes).
    #[error("`{0}` is not a valid entity or field name (lowercase letters, digits and _, starting with a letter)")]
    InvalidName(String),
    /// The declaration contradicts itself (a name declared twice, a page size of 0).
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// No entity of that name is declared.
    #[error("unknown entity `{0}`")]
    UnknownEntity(String),
    /// The entity declares no field of that name.
    #[error("entity `{entity}` has no field `{field}`")]
    UnknownField {
        /// The entity that was asked.
        entity: String,
        /// The name it does not declare.
        field: String,
    },
    /// A value does not have the field's declared type (or is null where null is not allowed).
    #[error("field `{entity}.{field}` expects {expected}")]
    WrongType {
        /// The entity of the field.
        entity: String,
        /// The field whose type was not met.
        field: String,
        /// The declared type's name (`text`, `integer`, …).
        expected: &'static str,
    },
}

/// What is wrong with a schema file (`docs/schema.md`), and where: the line, and the entity and
/// field it concerns. Displayed as `line 31: field `comments.author`: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SchemaFileError {
    /// 1-based line of the declaration at fault (`None` for declarations built in code).
    pub line: Option<usize>,
    /// The entity concerned, if one is.
    pub entity: Option<String>,
    /// The field concerned, if one is.
    pub field: Option<String>,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl SchemaFileError {
    /// An error about `entity` (and `field`), without a line yet.
    pub(crate) fn at(entity: &str, field: Option<&str>, message: impl Into<String>) -> Self {
        SchemaFileError {
            line: None,
            entity: Some(entity.to_string()),
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    fn describe(&self) -> String {
        let mut out = String::new();
        if let Some(line) = self.line {
            out.push_str(&format!("line {line}: "));
        }
        match (&self.entity, &self.field) {
            (Some(e), Some(f)) => out.push_str(&format!("field `{e}.{f}`: ")),
            (Some(e), None) => out.push_str(&format!("entity `{e}`: ")),
            _ => {}
        }
        out.push_str(&self.message);
        out
    }
}

impl From<SchemaFileError> for SchemaError {
    fn from(e: SchemaFileError) -> Self {
        SchemaError::InvalidSchema(e.to_string())
    }
}
