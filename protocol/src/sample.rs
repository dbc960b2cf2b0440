//! The sample app's entities, declared once, in `schema/sample.toml`: a field-team task list of
//! projects (read-only on the device), tasks (read/write, with a server-only field) and comments
//! (append-only, author and creation time set by the server). The server serves the file (it is
//! its compiled-in default), the terminal client shows it, the tests and benchmarks use it.

use crate::error::{SchemaError, SchemaFileError};
use crate::schema::Schema;
use crate::schema_file::SchemaFile;

/// Entity names of the sample app.
pub const PROJECTS: &str = "projects";
/// Tasks: what the field team edits offline.
pub const TASKS: &str = "tasks";
/// Comments on tasks: append-only.
pub const COMMENTS: &str = "comments";

/// The text of `schema/sample.toml`, compiled in: the one declaration of the sample entities.
pub const SCHEMA_TOML: &str = include_str!("../../schema/sample.toml");

/// The fields of each entity the sample app keeps on the device (in this order).
const DEVICE_FIELDS: [(&str, &[&str]); 3] = [
    (PROJECTS, &["name", "description", "archived"]),
    (
        TASKS,
        &[
            "project_id",
            "title",
            "notes",
            "done",
            "priority",
            "due_at",
            "assignee",
            "estimate_hours",
            "tags",
            "updated_at",
            "photo",
        ],
    ),
    (
        COMMENTS,
        &["project_id", "task_id", "author", "body", "created_at"],
    ),
];

/// The server's full view of the sample entities: [`SCHEMA_TOML`], parsed.
pub fn file() -> Result<SchemaFile, SchemaFileError> {
    SchemaFile::parse(SCHEMA_TOML)
}

/// The device's schema: the fields of each server entity the sample app needs.
pub fn schema() -> Result<Schema, SchemaError> {
    file()?.device_subset(&DEVICE_FIELDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ConflictPolicy, EntitySchema, FieldDef, FieldType, SyncMode};
    use crate::schema_file::{ScopeRule, ServerSet, ServerValue, SetOn};

    /// The sample as it was declared in code before the schema file: the file must declare the
    /// same entities, fields and settings.
    fn declared_in_code() -> Vec<EntitySchema> {
        use FieldType::*;
        vec![
            EntitySchema::new(PROJECTS, "id")
                .mode(SyncMode::ReadOnly)
                .field(FieldDef::required("name", Text))
                .field(FieldDef::new("description", Text))
                .field(FieldDef::new("archived", Boolean))
                .field(FieldDef::new("created_at", Timestamp))
                .field(FieldDef::new("budget_cents", Integer)),
            EntitySchema::new(TASKS, "id")
                .conflict(ConflictPolicy::Manual)
                .field(FieldDef::required("project_id", Text).indexed())
                .field(FieldDef::required("title", Text))
                .field(FieldDef::new("notes", Text))
                .field(FieldDef::new("done", Boolean))
                .field(FieldDef::new("priority", Integer))
                .field(FieldDef::new("due_at", Timestamp))
                .field(FieldDef::new("assignee", Text))
                .field(FieldDef::new("estimate_hours", Real))
                .field(FieldDef::new("tags", Json))
                .field(FieldDef::new("updated_at", Timestamp))
                .field(FieldDef::new("photo", Attachment))
                .field(FieldDef::new("internal_notes", Text).read_only()),
            EntitySchema::new(COMMENTS, "id")
                .mode(SyncMode::AppendOnly)
                .field(FieldDef::required("project_id", Text))
                .field(FieldDef::required("task_id", Text).indexed())
                // The server sets these two now, so clients may not write them.
                .field(FieldDef::required("author", Text).read_only())
                .field(FieldDef::required("body", Text))
                .field(FieldDef::new("created_at", Timestamp).read_only()),
        ]
    }

    #[test]
    fn the_file_declares_what_the_code_did() {
        let file = file().expect("the sample file is valid");
        let server: Vec<EntitySchema> = file.entities().iter().map(|e| e.schema.clone()).collect();
        assert_eq!(server, declared_in_code());
        let project_id = ScopeRule::Field("project_id".into());
        let scopes: Vec<&ScopeRule> = file.entities().iter().map(|e| &e.scope).collect();
        assert_eq!(scopes, vec![&ScopeRule::OwnKey, &project_id, &project_id]);
        let comments = file.entity(COMMENTS).expect("comments");
        assert_eq!(
            comments.server_set("author"),
            Some(ServerSet {
                value: ServerValue::User,
                on: SetOn::Insert
            })
        );
        assert_eq!(
            comments.server_set("created_at"),
            Some(ServerSet {
                value: ServerValue::Now,
                on: SetOn::Insert
            })
        );
        assert!(file
            .entity(TASKS)
            .expect("tasks")
            .is_server_only("internal_notes"));
    }

    #[test]
    fn the_device_keeps_a_subset() {
        let schema = schema().expect("sample schema is valid");
        // Exactly the fields and settings the hand-written sample kept.
        let expected: Vec<EntitySchema> = declared_in_code()
            .iter()
            .zip(DEVICE_FIELDS)
            .map(|(e, (_, keep))| e.project(keep).expect("declared"))
            .collect();
        assert_eq!(schema.entities(), expected.as_slice());
        let tasks = schema.entity(TASKS).expect("tasks");
        assert!(
            tasks.field_def("internal_notes").is_err(),
            "server-only field stays on the server"
        );
        assert!(tasks.field_def("title").is_ok());
        assert_eq!(
            schema.entity(PROJECTS).expect("projects").sync.mode,
            SyncMode::ReadOnly
        );
        let comments = schema.entity(COMMENTS).expect("comments");
        assert_eq!(comments.sync.mode, SyncMode::AppendOnly);
        assert!(!comments.field_def("author").expect("author").writable);
        assert!(comments.field_def("body").expect("body").writable);
        // Every field clients may see, server-only ones left out.
        let all = file()
            .expect("file")
            .device_schema()
            .expect("device schema");
        assert_eq!(all.entity(TASKS).expect("tasks").fields.len(), 11);
    }
}
