//! The schema file on a real server over loopback: server-set fields are the server's (a push
//! naming one is rejected, a push leaving it out gets the server's value), server-only fields
//! are unknown to clients, read-only ones refused; a changed file is checked at start against
//! the data (compatible changes just work, incompatible ones are refused with the entity or
//! field named); the `--schema` flag of the server binary. Runs on SQLite and, with
//! `SYNCLINE_TEST_BACKEND=postgres`, on PostgreSQL.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{assert_error, outcome, Api};
use reqwest::StatusCode;
use serde_json::{json, Map, Value as Json};
use syncline_server::testing::ScratchDb;
use syncline_server::testing::TestServer;
use syncline_server::{ServerSchema, Store, StoreError};

fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn open(db: &ScratchDb, text: &str) -> Result<Store, StoreError> {
    Store::open(
        db.location().clone(),
        ServerSchema::parse(text).expect("a valid schema file"),
    )
}

/// The problems of a refused start.
fn refused(result: Result<Store, StoreError>) -> Vec<String> {
    match result.expect_err("an incompatible schema") {
        StoreError::IncompatibleSchema(problems) => problems,
        other => panic!("not a schema refusal: {other}"),
    }
}

/// A user `u` (token returned) who is a member of project `p1`.
fn member(store: &Store) -> String {
    store.create_user("u").expect("user");
    store.add_membership("u", "p1").expect("member");
    store.issue_token("u", None).expect("token")
}

#[test]
fn a_push_cannot_set_a_comments_author_and_one_without_gets_the_pushing_user() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let store = server.store();
    let comment = |seq: u64, key: &str, extra: Json| {
        let mut fields =
            obj(json!({"project_id": "p-harbor", "task_id": "t-harbor-1", "body": "on it"}));
        fields.extend(obj(extra));
        json!({"mutation_id": format!("m{seq}"), "seq": seq, "entity": "comments", "key": key,
               "op": "insert", "fields": fields, "base_version": null})
    };
    let before = now_ms();
    let batch = json!([
        comment(1, "c-forged", json!({"author": "alice"})),
        comment(2, "c-backdated", json!({"created_at": 0})),
        comment(3, "c-honest", json!({})),
    ]);
    let resp = api.push("demo-bob", "bob-phone", batch.clone());
    let after = now_ms();

    let forged = outcome(&resp, 0);
    assert_eq!(forged["code"], "read_only_field", "{forged}");
    assert_eq!(
        forged["message"],
        "field `comments.author` is set by the server to the pushing user's id; leave it out"
    );
    assert_eq!(outcome(&resp, 1)["code"], "read_only_field");
    for key in ["c-forged", "c-backdated"] {
        assert!(
            store.get_record("comments", key).expect("get").is_none(),
            "{key}: nothing stored"
        );
    }
    assert_eq!(outcome(&resp, 2)["status"], "applied");
    let honest = store
        .get_record("comments", "c-honest")
        .expect("get")
        .expect("stored");
    assert_eq!(honest.fields["author"], json!("bob"));
    let created = honest.fields["created_at"].as_i64().expect("a time");
    assert!(
        (before..=after).contains(&created),
        "server time: {created}"
    );

    // The same batch again: the stored results, nothing applied twice.
    assert_eq!(api.push("demo-bob", "bob-phone", batch), resp);
    let again = store
        .get_record("comments", "c-honest")
        .expect("get")
        .expect("stored");
    assert_eq!(again.version, 1);

    // Alice pulls it with bob as its author.
    let pages = api.pull_all("demo-alice", "comments", &["author", "body"]);
    let row = pages
        .iter()
        .flat_map(|p| p.upserts.iter())
        .find(|u| u[0] == json!("c-honest"))
        .expect("pulled");
    assert_eq!(row[2], json!("bob"));

    // The server's own writes may set them (the demo's comments carry historical times).
    store
        .upsert_record(
            "comments",
            "c-imported",
            &obj(
                json!({"project_id": "p-harbor", "task_id": "t-harbor-1", "author": "dana",
                        "body": "from the old system", "created_at": 5}),
            ),
        )
        .expect("server-side write");
    let imported = store
        .get_record("comments", "c-imported")
        .expect("get")
        .expect("stored");
    assert_eq!(
        (
            imported.fields["author"].clone(),
            imported.fields["created_at"].clone()
        ),
        (json!("dana"), json!(5))
    );
}

#[test]
fn a_server_only_field_is_unknown_to_clients() {
    let server = TestServer::with_demo();
    let api = Api::new(&server);
    let store = server.store();
    store
        .upsert_record(
            "tasks",
            "t-harbor-2",
            &obj(json!({"internal_notes": "supplier is late, do not tell the crew"})),
        )
        .expect("the server writes it");
    let stored = store
        .get_record("tasks", "t-harbor-2")
        .expect("get")
        .expect("exists");
    assert_eq!(
        stored.fields["internal_notes"],
        json!("supplier is late, do not tell the crew")
    );

    // Naming it in a pull is answered as for a field that does not exist.
    let pull = |field: &str| {
        api.post(
            "/v1/pull",
            Some("demo-bob"),
            &json!({"entity": "tasks", "limit": 10, "fields": ["title", field]}),
        )
    };
    let (status, hidden) = pull("internal_notes");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&hidden, "unknown_field");
    let (_, missing) = pull("colour");
    assert_eq!(
        hidden["error"]["message"]
            .as_str()
            .map(|m| m.replace("internal_notes", "colour")),
        missing["error"]["message"].as_str().map(str::to_string),
        "the same answer as for a field that does not exist"
    );

    // A pull of everything else never carries it.
    let (status, body) = api.post(
        "/v1/pull",
        Some("demo-bob"),
        &json!({"entity": "tasks", "limit": 1000,
                "fields": ["project_id", "title", "notes", "done", "priority", "due_at",
                           "assignee", "estimate_hours", "tags", "updated_at"]}),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        !body.to_string().contains("supplier is late"),
        "server-only values never leave the server"
    );

    // Naming it in a push is rejected as unknown, and changes nothing.
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"internal_notes": "mine now"}, "base_version": 2},
            {"mutation_id": "m2", "seq": 2, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"colour": "red"}, "base_version": 2},
        ]),
    );
    let (named, unknown) = (outcome(&resp, 0), outcome(&resp, 1));
    assert_eq!(named["code"], "unknown_field", "{named}");
    assert_eq!(
        named["message"]
            .as_str()
            .map(|m| m.replace("internal_notes", "colour")),
        unknown["message"].as_str().map(str::to_string)
    );
    // A reported conflict shows the current record without it.
    let resp = api.push(
        "demo-bob",
        "bob-phone",
        json!([{"mutation_id": "m3", "seq": 3, "entity": "tasks", "key": "t-harbor-2",
                "op": "update", "fields": {"done": true}, "base_version": 1,
                "on_conflict": "report"}]),
    );
    let conflict = outcome(&resp, 0);
    assert_eq!(conflict["status"], "conflict", "{conflict}");
    assert!(conflict["current"]["fields"]["title"].is_string());
    assert!(
        conflict["current"]["fields"]
            .get("internal_notes")
            .is_none(),
        "{conflict}"
    );
    let after = store
        .get_record("tasks", "t-harbor-2")
        .expect("get")
        .expect("exists");
    assert_eq!(after.version, 2);
    assert_eq!(
        after.fields["internal_notes"],
        stored.fields["internal_notes"]
    );
}

const NOTES: &str = r#"
[entities.notes]
scope = "project_id"

[entities.notes.fields]
project_id = { type = "text", required = true }
body       = "text"
status     = { type = "text", access = "read_only" }
created_by = { type = "text", set_on_insert = "user" }
edited_at  = { type = "timestamp", set_on_write = "now" }
secret     = { type = "text", access = "server_only" }
"#;

#[test]
fn read_only_and_server_set_fields_of_a_custom_schema() {
    let db = ScratchDb::new();
    let store = open(&db, NOTES).expect("open");
    let token = member(&store);
    let server = TestServer::try_start_with_store(store).expect("server");
    let api = Api::new(&server);
    let store = server.store();
    let insert = |seq: u64, key: &str, fields: Json| {
        json!({"mutation_id": format!("m{seq}"), "seq": seq, "entity": "notes", "key": key,
               "op": "insert", "fields": fields, "base_version": null})
    };
    let resp = api.push(
        &token,
        "dev",
        json!([
            insert(
                1,
                "n-status",
                json!({"project_id": "p1", "status": "approved"})
            ),
            insert(2, "n-stamp", json!({"project_id": "p1", "edited_at": 1})),
            insert(3, "n1", json!({"project_id": "p1", "body": "hello"})),
        ]),
    );
    assert_eq!(outcome(&resp, 0)["code"], "read_only_field");
    assert_eq!(
        outcome(&resp, 0)["message"],
        "field `notes.status` is read-only for clients; leave it out"
    );
    assert_eq!(
        outcome(&resp, 1)["message"],
        "field `notes.edited_at` is set by the server to its own time; leave it out"
    );
    assert_eq!(outcome(&resp, 2)["status"], "applied");
    let n1 = store
        .get_record("notes", "n1")
        .expect("get")
        .expect("stored");
    assert_eq!(n1.fields["created_by"], json!("u"));
    let first_edit = n1.fields["edited_at"].as_i64().expect("set on insert too");

    // The server's write sets the read-only field; a client's update sets only `edited_at`.
    store
        .upsert_record(
            "notes",
            "n1",
            &obj(json!({"status": "approved", "secret": "s"})),
        )
        .expect("server-side write");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let resp = api.push(
        &token,
        "dev",
        json!([{"mutation_id": "m4", "seq": 4, "entity": "notes", "key": "n1", "op": "update",
                "fields": {"body": "hello again"}, "base_version": 2}]),
    );
    assert_eq!(outcome(&resp, 0)["status"], "applied");
    let n1 = store
        .get_record("notes", "n1")
        .expect("get")
        .expect("stored");
    assert_eq!(n1.fields["status"], json!("approved"));
    assert_eq!(n1.fields["created_by"], json!("u"), "set on insert only");
    assert!(n1.fields["edited_at"].as_i64().expect("time") > first_edit);
    let pages = api.pull_all(&token, "notes", &["status", "created_by", "body"]);
    assert_eq!(
        pages[0].upserts,
        vec![vec![
            json!("n1"),
            json!(3),
            json!("approved"),
            json!("u"),
            json!("hello again")
        ]]
    );
}

const V1: &str = r#"
[entities.notes]
scope = "project_id"

[entities.notes.fields]
project_id = { type = "text", required = true }
body       = "text"
"#;

/// V1 plus an optional field and a new entity: compatible.
const V2: &str = r#"
[entities.notes]
scope = "project_id"

[entities.notes.fields]
project_id = { type = "text", required = true }
body       = "text"
colour     = "text"

[entities.tags]
scope = "project_id"

[entities.tags.fields]
project_id = { type = "text", required = true }
label      = "text"
"#;

#[test]
fn compatible_changes_just_work_on_restart() {
    let db = ScratchDb::new();
    let store = open(&db, V1).expect("v1");
    let token = member(&store);
    store
        .upsert_record(
            "notes",
            "n1",
            &obj(json!({"project_id": "p1", "body": "old"})),
        )
        .expect("a v1 record");
    drop(store);

    // Restart with an optional field and a new entity: old records pull the field as null.
    let server = TestServer::try_start_with_store(open(&db, V2).expect("v2")).expect("server");
    let api = Api::new(&server);
    let pages = api.pull_all(&token, "notes", &["body", "colour"]);
    assert_eq!(
        pages[0].upserts,
        vec![vec![json!("n1"), json!(1), json!("old"), json!(null)]]
    );
    let resp = api.push(
        &token,
        "dev",
        json!([
            {"mutation_id": "m1", "seq": 1, "entity": "notes", "key": "n1", "op": "update",
             "fields": {"colour": "red"}, "base_version": 1},
            {"mutation_id": "m2", "seq": 2, "entity": "tags", "key": "g1", "op": "insert",
             "fields": {"project_id": "p1", "label": "urgent"}},
        ]),
    );
    assert_eq!(outcome(&resp, 0)["version"], 2);
    assert_eq!(outcome(&resp, 1)["version"], 1);
    drop(server);

    // Back to v1 (the new field and entity left out): still fine, their data is kept; tags has
    // a live record, so leaving it out is refused until it is gone.
    let problems = refused(open(&db, V1));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .starts_with("entity `tags`: left out of the schema, but it has 1 stored record(s)"),
        "{problems:?}"
    );
    let store = open(&db, V2).expect("v2 again");
    store.delete_record("tags", "g1").expect("delete");
    drop(store);
    let store = open(&db, V1).expect("v1 without tags' live records");
    assert!(store.get_record("notes", "n1").expect("get").is_some());
    drop(store);
    // Declared again, the field's value is still there.
    let store = open(&db, V2).expect("v2 once more");
    let n1 = store.get_record("notes", "n1").expect("get").expect("n1");
    assert_eq!(n1.fields["colour"], json!("red"));
}

#[test]
fn incompatible_changes_are_refused_at_start_naming_entity_and_field() {
    let db = ScratchDb::new();
    let store = open(&db, V2).expect("v2");
    member(&store);
    store
        .upsert_record(
            "notes",
            "n1",
            &obj(json!({"project_id": "p1", "body": "b", "colour": "red"})),
        )
        .expect("n1");
    store
        .upsert_record("notes", "n2", &obj(json!({"project_id": "p1"})))
        .expect("n2");
    drop(store);

    let cases: &[(&str, &str, &str)] = &[
        (
            "a type changed",
            "body       = \"text\"",
            "body = \"integer\"",
        ),
        (
            "an optional field made required",
            "colour     = \"text\"",
            "colour = { type = \"text\", required = true }",
        ),
        (
            "a new required field",
            "colour     = \"text\"",
            "colour = \"text\"\nsize = { type = \"integer\", required = true }",
        ),
        (
            "a scope rule changed",
            "[entities.notes]\nscope = \"project_id\"",
            "[entities.notes]\nscope = \"id\"",
        ),
    ];
    let expected = [
        "field `notes.body`: its type changed from text to integer",
        "field `notes.colour`: is now required, but 1 stored record(s) have no value for it",
        "field `notes.size`: is new and required, but 2 stored record(s) have no value for it",
        "entity `notes`: its scope rule changed from field `project_id` to its own key",
    ];
    for ((what, old, new), want) in cases.iter().zip(expected) {
        let text = V2.replacen(old, new, 1);
        assert_ne!(text, V2, "{what}: the case changes the file");
        let problems = refused(open(&db, &text));
        assert_eq!(problems.len(), 1, "{what}: {problems:?}");
        assert!(problems[0].starts_with(want), "{what}: {problems:?}");
    }
    // Several problems are reported together, and the message says where to read more.
    let text = V2
        .replacen("body       = \"text\"", "body = \"json\"", 1)
        .replacen("label      = \"text\"", "label = \"boolean\"", 1);
    let err = open(&db, &text).expect_err("two type changes");
    let message = err.to_string();
    assert!(message.contains("field `notes.body`: its type changed from text to json"));
    assert!(message.contains("field `tags.label`: its type changed from text to boolean"));
    assert!(message.contains("docs/schema.md"), "{message}");

    // Refused starts changed nothing; once every record has a colour, it may become required.
    let store = open(&db, V2).expect("v2 still opens");
    store
        .upsert_record("notes", "n2", &obj(json!({"colour": "blue"})))
        .expect("fill in");
    drop(store);
    let required = V2.replacen(
        "colour     = \"text\"",
        "colour = { type = \"text\", required = true }",
        1,
    );
    let server = TestServer::try_start_with_store(open(&db, &required).expect("now compatible"))
        .expect("server");
    let api = Api::new(&server);
    let token = server.store().issue_token("u", None).expect("token");
    let resp = api.push(
        &token,
        "dev",
        json!([{"mutation_id": "m1", "seq": 1, "entity": "notes", "key": "n3", "op": "insert",
                "fields": {"project_id": "p1"}}]),
    );
    assert_eq!(outcome(&resp, 0)["code"], "invalid_value", "now required");
    drop(server);

    // A field left out keeps its type (its values stay stored) ...
    let without_body = V2.replacen("body       = \"text\"\n", "", 1);
    open(&db, &without_body).expect("leaving a field out is compatible");
    let problems = refused(open(
        &db,
        &V2.replacen("body       = \"text\"", "body = \"real\"", 1),
    ));
    assert!(problems[0].starts_with("field `notes.body`: its type changed from text to real"));
    // ... and records made while it was left out lack it, so it comes back optional only.
    let store = open(&db, &without_body).expect("without body");
    store
        .upsert_record("notes", "n4", &obj(json!({"project_id": "p1"})))
        .expect("n4 has no body");
    drop(store);
    let problems = refused(open(
        &db,
        &V2.replacen(
            "body       = \"text\"",
            "body = { type = \"text\", required = true }",
            1,
        ),
    ));
    assert!(
        problems[0].starts_with("field `notes.body`: is now required"),
        "{problems:?}"
    );
    open(&db, V2).expect("back as optional");
}

#[test]
fn schema_file_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.toml");
    std::fs::write(
        &path,
        V1.replacen("body       = \"text\"", "body = \"txt\"", 1),
    )
    .expect("write");
    let err = syncline_server::ServerSchema::load(&path).expect_err("bad type");
    assert_eq!(
        err.to_string(),
        format!(
            "schema file {}: line 7: field `notes.body`: unknown type `txt`; expected one of \
             text, integer, real, boolean, timestamp, json, attachment",
            path.display()
        )
    );
    let err = syncline_server::ServerSchema::load(&dir.path().join("none.toml"))
        .expect_err("no such file");
    assert!(
        err.to_string().starts_with("cannot read the schema file"),
        "{err}"
    );
    std::fs::write(&path, V1).expect("write");
    let schema = syncline_server::ServerSchema::load(&path).expect("valid");
    assert!(schema.entity("notes").is_some());
}

/// The server binary with `--schema`: the sample file is what the compiled-in default is, a bad
/// file stops it before it listens.
#[test]
fn the_server_binary_takes_a_schema_file() {
    let db = ScratchDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[entities.notes]\nscope = \"project_id\"\nmood = 1\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_syncline-server"))
        .args(["--listen", "127.0.0.1:0", "--db", &db.arg(), "--schema"])
        .arg(&bad)
        .env("RUST_LOG", "off")
        .output()
        .expect("run the server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: entity `notes`: unknown key `mood`"),
        "{stderr}"
    );

    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/sample.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncline-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--db",
            &db.arg(),
            "--seed-demo",
            "--schema",
            sample,
        ])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let stdout = child.stdout.take().expect("stdout");
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("listening on ").map(str::to_string));
    let pulled = url.map(|url| {
        reqwest::blocking::Client::new()
            .post(format!("{url}/v1/pull"))
            .bearer_auth("demo-bob")
            .json(&json!({"entity": "tasks", "limit": 10, "fields": ["title", "internal_notes"]}))
            .send()
            .map(|r| r.status())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        pulled.map(|r| r.ok()),
        Some(Some(StatusCode::BAD_REQUEST)),
        "the server ran the file: internal_notes is server-only"
    );
}
