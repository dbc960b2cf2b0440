//! Bulk import and export (`syncline-server import ENTITY FILE`, `export ENTITY`) on the run's
//! backend: an export imports again as it was, server-only fields included; a bad line stops
//! an import with its number and nothing of its batch applied; imported records reach devices.

mod common;

use serde_json::{json, Value as Json};
use syncline_server::testing::{ScratchDb, TestServer};
use syncline_server::{export, import, ImportError, IMPORT_BATCH};

fn lines(text: &[u8]) -> Vec<Json> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect()
}

#[test]
fn an_export_imports_again_as_it_was() {
    let server = TestServer::with_demo();
    let store = server.store();
    let mut notes = serde_json::Map::new();
    notes.insert("internal_notes".into(), json!("Office only"));
    store
        .upsert_record("tasks", "t-harbor-1", &notes)
        .expect("notes");
    let mut out = Vec::new();
    let n = export(store, "tasks", &mut out).expect("export");
    let exported = lines(&out);
    assert_eq!(n as usize, exported.len());
    assert_eq!(n, store.count_records("tasks").expect("count"));
    let first = exported
        .iter()
        .find(|l| l["key"] == "t-harbor-1")
        .expect("t-harbor-1");
    assert_eq!(first["fields"]["internal_notes"], "Office only");

    // Into a fresh database: the same records, the same fields.
    let db = ScratchDb::new();
    let fresh = db.open_sample().expect("open");
    syncline_server::seed_demo(&fresh).expect("seed");
    let mut seen = Vec::new();
    let imported = import(&fresh, "tasks", &out[..], &mut |n| seen.push(n)).expect("import");
    assert_eq!(imported, n);
    assert_eq!(seen.last(), Some(&n), "progress reports the end");
    let mut again = Vec::new();
    export(&fresh, "tasks", &mut again).expect("export again");
    let fields = |ls: &[Json]| {
        let mut v: Vec<(String, Json)> = ls
            .iter()
            .map(|l| {
                (
                    l["key"].as_str().expect("key").to_string(),
                    l["fields"].clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(fields(&lines(&again)), fields(&exported));
}

#[test]
fn a_bad_line_stops_the_import_with_its_number_and_its_batch_is_not_applied() {
    let server = TestServer::with_demo();
    let store = server.store();
    let before = store.count_records("tasks").expect("count");
    let task = |i: usize| {
        json!({"key": format!("t-import-{i}"),
               "fields": {"project_id": "p-harbor", "title": format!("Imported {i}"), "done": false}})
        .to_string()
    };
    // A whole first batch, then a second one whose third line is not JSON.
    let mut text = String::new();
    for i in 0..IMPORT_BATCH + 2 {
        text.push_str(&task(i));
        text.push('\n');
    }
    text.push_str("{not json\n");
    text.push_str(&task(9999));
    text.push('\n');
    let err = import(store, "tasks", text.as_bytes(), &mut |_| {}).expect_err("a bad line");
    match &err {
        ImportError::BadLine {
            line, batch_start, ..
        } => {
            assert_eq!(
                (*line, *batch_start),
                (IMPORT_BATCH as u64 + 3, IMPORT_BATCH as u64 + 1)
            );
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("line {}:", IMPORT_BATCH + 3)),
        "{err}"
    );
    assert_eq!(
        store.count_records("tasks").expect("count"),
        before + IMPORT_BATCH as u64,
        "the first batch stays; nothing of the second"
    );

    // A record the schema refuses names its own line.
    let bad = format!(
        "{}\n{}\n",
        task(20_000),
        json!({"key": "t-import-x", "fields": {"project_id": "p-harbor", "title": "x", "done": "yes"}})
    );
    let err = import(store, "tasks", bad.as_bytes(), &mut |_| {}).expect_err("a wrong type");
    assert!(err.to_string().starts_with("line 2:"), "{err}");
    assert!(store
        .get_record("tasks", "t-import-20000")
        .expect("get")
        .is_none());
}

#[test]
fn imported_records_reach_the_devices() {
    let server = TestServer::with_demo();
    let line = json!({"key": "t-imported", "fields": {"project_id": "p-harbor",
                      "title": "From the ERP", "done": false}})
    .to_string();
    import(server.store(), "tasks", line.as_bytes(), &mut |_| {}).expect("import");
    let api = common::Api::new(&server);
    let pages = api.pull_all("demo-alice", "tasks", &["title"]);
    assert!(common::upsert_keys(&pages).contains(&"t-imported".to_string()));
}
