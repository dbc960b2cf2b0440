//! Shared helpers for the core's end-to-end tests: users and clients on a real reference server,
//! and a fault-injecting HTTP proxy that sits between them.
#![allow(dead_code)] // each test file uses its own share of the helpers

pub mod harness;
pub mod proxy;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use syncline_core::{AutoSync, Config, ConflictPolicy, Record, Schema, Syncline, Value};
use syncline_protocol::sample;
use syncline_server::testing::TestServer;
use syncline_server::ServerOptions;

/// Tokens of the fixture's users.
pub struct Users {
    /// alice: member of `p-shared` and `p-alice`.
    pub alice: String,
    /// bob: member of `p-shared`.
    pub bob: String,
    /// carol: member of `p-carol` only.
    pub carol: String,
}

/// A fresh server with three users, three projects and a few tasks and comments:
/// `t-shared-1`, `t-shared-2` in `p-shared`, `t-alice-1` in `p-alice`, `t-carol-1` in `p-carol`,
/// and a comment on each of `t-shared-1` and `t-carol-1`.
pub fn server() -> (TestServer, Users) {
    server_with(ServerOptions::default())
}

/// [`server`] with the given server options (limits).
pub fn server_with(options: ServerOptions) -> (TestServer, Users) {
    let server = TestServer::try_start_with_options(options).expect("test server");
    let store = server.store();
    let mut tokens = Vec::new();
    for user in ["alice", "bob", "carol"] {
        store.create_user(user).expect("user");
        tokens.push(store.issue_token(user, None).expect("token"));
    }
    for (project, members) in [
        ("p-shared", &["alice", "bob"][..]),
        ("p-alice", &["alice"]),
        ("p-carol", &["carol"]),
    ] {
        store
            .create_project(project, &format!("Project {project}"))
            .expect("project");
        for m in members {
            store.add_membership(m, project).expect("membership");
        }
    }
    for (task, project) in [
        ("t-shared-1", "p-shared"),
        ("t-shared-2", "p-shared"),
        ("t-alice-1", "p-alice"),
        ("t-carol-1", "p-carol"),
    ] {
        server_put(
            &server,
            "tasks",
            task,
            json!({"project_id": project, "title": format!("Task {task}"), "done": false, "internal_notes": "server only"}),
        );
    }
    for (comment, task, project) in [
        ("c-shared", "t-shared-1", "p-shared"),
        ("c-carol", "t-carol-1", "p-carol"),
    ] {
        server_put(
            &server,
            "comments",
            comment,
            json!({"project_id": project, "task_id": task, "author": "x", "body": "hello"}),
        );
    }
    let users = Users {
        alice: tokens[0].clone(),
        bob: tokens[1].clone(),
        carol: tokens[2].clone(),
    };
    (server, users)
}

/// Writes a record on the server directly (as another system would); returns its new version.
pub fn server_put(server: &TestServer, entity: &str, key: &str, fields: serde_json::Value) -> i64 {
    let serde_json::Value::Object(map) = fields else {
        panic!("fields must be an object")
    };
    server
        .store()
        .upsert_record(entity, key, &map)
        .expect("server write")
}

/// A configuration that syncs only when the test asks (so reports are deterministic): no
/// automatic syncs, and no live stream, whose hints would queue syncs of their own.
pub fn manual(server_url: &str, token: &str) -> Config {
    let mut config = Config::new(server_url, token);
    config.auto = AutoSync::manual();
    config.live = false;
    config
}

/// A sample-app client of `token` on `server_url`, with its database in `dir`, that syncs only
/// when asked.
pub fn client(dir: &Path, name: &str, server_url: &str, token: &str) -> Syncline {
    client_with(dir, name, manual(server_url, token))
}

/// A sample-app client with a given configuration.
pub fn client_with(dir: &Path, name: &str, config: Config) -> Syncline {
    client_with_schema(dir, name, sample::schema().expect("schema"), config)
}

/// A client of `schema` with a given configuration.
pub fn client_with_schema(dir: &Path, name: &str, schema: Schema, config: Config) -> Syncline {
    Syncline::open(&dir.join(format!("{name}.db")), schema, config).expect("open client")
}

/// The sample schema with the tasks' conflict policy replaced.
pub fn schema_with_task_policy(policy: ConflictPolicy) -> Schema {
    let mut entities = sample::schema().expect("schema").entities().to_vec();
    for e in &mut entities {
        if e.name == sample::TASKS {
            e.sync.conflict = policy;
        }
    }
    Schema::new(entities).expect("schema")
}

/// One field's new value, as `update` takes it.
pub fn set(field: &str, value: Value) -> HashMap<String, Value> {
    HashMap::from([(field.to_string(), value)])
}

/// A new task of the sample app.
pub fn new_task(key: &str, project: &str, title: &str) -> Record {
    Record::new(key)
        .with("project_id", Value::Text(project.into()))
        .with("title", Value::Text(title.into()))
        .with("done", Value::Boolean(false))
}

/// Polls `check` until it holds, for at most 30 s (a generous bound for background work on a
/// loaded machine; the tests assert what happens, never how fast).
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a client's database file holds outside the entity tables (the outbox, the pull cursors,
/// the conflict inbox), read through a connection of the test's own, as text to compare before
/// and after something that must change nothing.
pub fn stored_state(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the client's database");
    let mut out = String::new();
    for sql in [
        "SELECT seq, mutation_id, state, fields FROM outbox ORDER BY seq",
        "SELECT entity, cursor FROM pull_state ORDER BY entity",
        "SELECT id, entity, key FROM conflicts ORDER BY id",
    ] {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).expect("query");
        while let Some(row) = rows.next().expect("row") {
            for i in 0..columns {
                let v: rusqlite::types::Value = row.get(i).expect("value");
                out.push_str(&format!("{v:?}|"));
            }
            out.push('\n');
        }
        out.push_str("--\n");
    }
    out
}
