//! The store on real databases (SQLite, or PostgreSQL with `SYNCLINE_TEST_BACKEND=postgres`).

use super::*;
use serde_json::json;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Store::open_sample(dir.path().join("t.db")).expect("open");
    (dir, s)
}

fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn records_get_versions_and_positions() {
    let (_d, s) = store();
    assert_eq!(s.create_project("p1", "One").expect("project"), 1);
    let v = s
        .upsert_record(
            "tasks",
            "t1",
            &obj(json!({"project_id": "p1", "title": "A"})),
        )
        .expect("insert");
    assert_eq!(v, 1);
    let v = s
        .upsert_record("tasks", "t1", &obj(json!({"done": true})))
        .expect("update");
    assert_eq!(v, 2);
    let r = s.get_record("tasks", "t1").expect("get").expect("exists");
    assert_eq!(r.fields["title"], json!("A"));
    assert_eq!(r.fields["done"], json!(true));
    assert_eq!(r.fields["notes"], json!(null));
    assert_eq!(r.scope, "p1");
    assert_eq!(r.position, 3);
    assert_eq!(s.delete_record("tasks", "t1").expect("delete"), 3);
    assert!(
        s.get_record("tasks", "t1")
            .expect("get")
            .expect("tombstone")
            .deleted
    );
    assert!(matches!(
        s.delete_record("tasks", "t1"),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.count_records("tasks").expect("count"), 0);
    assert!(s
        .upsert_record("tasks", "t2", &obj(json!({"title": "no project"})))
        .is_err());
    assert!(s
        .upsert_record("tasks", "t2", &obj(json!({"colour": "red"})))
        .is_err());
    assert!(s.upsert_record("nope", "t2", &Map::new()).is_err());
}

#[test]
fn migrations_and_layout_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    {
        let s = Store::open_sample(&path).expect("open");
        s.create_project("p1", "One").expect("project");
    }
    let s = Store::open_sample(&path).expect("reopen");
    assert_eq!(s.count_records("projects").expect("count"), 1);
    assert_eq!(s.log_position().expect("pos"), 1);
}

#[test]
fn stored_data_survives_reordered_and_new_fields() {
    use crate::schema::ServedEntity;
    use syncline_protocol::ScopeRule;
    use syncline_protocol::{EntitySchema, FieldDef, FieldType};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.db");
    let notes = |fields: &[(&str, FieldType)]| {
        let mut e = EntitySchema::new("notes", "id")
            .field(FieldDef::required("project_id", FieldType::Text));
        for (name, ty) in fields {
            e = e.field(FieldDef::new(name, *ty));
        }
        ServerSchema::new(vec![ServedEntity::new(
            e,
            ScopeRule::Field("project_id".into()),
        )])
        .expect("schema")
    };
    {
        let s = Store::open(
            &path,
            notes(&[("a", FieldType::Text), ("b", FieldType::Integer)]),
        )
        .expect("open");
        s.upsert_record(
            "notes",
            "n1",
            &obj(json!({"project_id": "p", "a": "x", "b": 7})),
        )
        .expect("insert");
    }
    let s = Store::open(
        &path,
        notes(&[
            ("c", FieldType::Boolean),
            ("b", FieldType::Integer),
            ("a", FieldType::Text),
        ]),
    )
    .expect("reopen");
    let r = s.get_record("notes", "n1").expect("get").expect("exists");
    assert_eq!(
        Json::Object(r.fields),
        json!({"project_id": "p", "a": "x", "b": 7, "c": null})
    );
    let page = s
        .pull_page(
            "nobody",
            &syncline_protocol::PullRequest {
                entity: "notes".into(),
                cursor: None,
                limit: 10,
                fields: vec!["c".into(), "a".into()],
            },
        )
        .expect("pull");
    assert!(page.upserts.is_empty(), "not a member");
    s.create_user("u").expect("user");
    s.add_membership("u", "p").expect("member");
    let page = s
        .pull_page(
            "u",
            &syncline_protocol::PullRequest {
                entity: "notes".into(),
                cursor: None,
                limit: 10,
                fields: vec!["c".into(), "b".into(), "a".into()],
            },
        )
        .expect("pull");
    assert_eq!(
        page.upserts,
        vec![vec![
            json!("n1"),
            json!(1),
            json!(null),
            json!(7),
            json!("x")
        ]]
    );
}

#[test]
fn a_record_leaving_two_of_a_users_projects_is_one_tombstone() {
    let (_d, s) = store();
    s.create_user("u").expect("user");
    s.add_membership("u", "a").expect("member");
    s.add_membership("u", "b").expect("member");
    s.upsert_record("tasks", "t", &obj(json!({"project_id": "a", "title": "T"})))
        .expect("insert");
    s.upsert_record("tasks", "t", &obj(json!({"project_id": "b"})))
        .expect("move a→b");
    s.upsert_record("tasks", "t", &obj(json!({"project_id": "c"})))
        .expect("move b→c");
    let req = syncline_protocol::PullRequest {
        entity: "tasks".into(),
        cursor: None,
        limit: 10,
        fields: vec!["title".into()],
    };
    let page = s.pull_page("u", &req).expect("pull");
    assert!(page.upserts.is_empty());
    assert_eq!(page.tombstones, vec![("t".to_string(), 3)]);
    // Back in a: an upsert, no tombstone.
    s.upsert_record("tasks", "t", &obj(json!({"project_id": "a"})))
        .expect("move c→a");
    let page = s.pull_page("u", &req).expect("pull");
    assert_eq!(page.upserts.len(), 1);
    assert!(page.tombstones.is_empty());
}

#[test]
fn tokens_and_memberships() {
    let (_d, s) = store();
    assert!(s.create_user("u").expect("user"));
    assert!(!s.create_user("u").expect("again"));
    assert!(s.issue_token("nobody", None).is_err());
    let t = s.issue_token("u", None).expect("token");
    assert!(s.revoke_token(&t).expect("revoke"));
    assert!(!s.revoke_token("nope").expect("revoke"));
    assert!(s.add_membership("u", "p1").expect("add"));
    assert!(!s.add_membership("u", "p1").expect("add again"));
    assert_eq!(s.memberships("u").expect("list"), vec!["p1".to_string()]);
    assert!(s.remove_membership("u", "p1").expect("remove"));
}
