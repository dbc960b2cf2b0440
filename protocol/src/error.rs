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
