//! The sample app's entities, declared once: a field-team task list of projects (read-only on the
//! device), tasks (read/write) and comments (append-only). The server seeds them, the terminal
//! client shows them, the tests and benchmarks use them.

use crate::error::SchemaError;
use crate::schema::{ConflictPolicy, EntitySchema, FieldDef, FieldType, Schema, SyncMode};

/// Entity names of the sample app.
pub const PROJECTS: &str = "projects";
/// Tasks: what the field team edits offline.
pub const TASKS: &str = "tasks";
/// Comments on tasks: append-only.
pub const COMMENTS: &str = "comments";

/// The server's full view of the sample entities (the device keeps a subset: [`schema`]).
pub fn server_entities() -> Vec<EntitySchema> {
    use FieldType::*;
    vec![
        EntitySchema::new(PROJECTS, "id")
            .mode(SyncMode::ReadOnly)
            .field(FieldDef::required("name", Text))
            .field(FieldDef::new("description", Text))
            .field(FieldDef::new("archived", Boolean))
            .field(FieldDef::new("created_at", Timestamp))
            .field(FieldDef::new("budget_cents", Integer)),
        // Tasks are edited by several people: overlapping edits go to the user, the rest merges.
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
            .field(FieldDef::new("internal_notes", Text)),
        EntitySchema::new(COMMENTS, "id")
            .mode(SyncMode::AppendOnly)
            .field(FieldDef::required("project_id", Text))
            .field(FieldDef::required("task_id", Text).indexed())
            .field(FieldDef::required("author", Text))
            .field(FieldDef::required("body", Text))
            .field(FieldDef::new("created_at", Timestamp)),
    ]
}

/// The device's schema: the fields of each server entity the sample app needs.
pub fn schema() -> Result<Schema, SchemaError> {
    let keep: [(&str, &[&str]); 3] = [
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
            ],
        ),
        (
            COMMENTS,
            &["project_id", "task_id", "author", "body", "created_at"],
        ),
    ];
    let server = server_entities();
    let mut local = Vec::with_capacity(keep.len());
    for (name, fields) in keep {
        for entity in server.iter().filter(|e| e.name == name) {
            local.push(entity.project(fields)?);
        }
    }
    Schema::new(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_keeps_a_subset() {
        let schema = schema().expect("sample schema is valid");
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
        assert_eq!(
            schema.entity(COMMENTS).expect("comments").sync.mode,
            SyncMode::AppendOnly
        );
        assert!(Schema::new(server_entities()).is_ok());
    }
}
