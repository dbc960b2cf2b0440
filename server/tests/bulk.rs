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

/// A service's token on `server` (scopes as given).
fn service_token(server: &TestServer, name: &str, scopes: &[&str], read_only: bool) -> String {
    server
        .store()
        .add_service(&syncline_server::Service {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            all_scopes: scopes.is_empty(),
            read_only,
        })
        .expect("service")
}

fn task_line(key: &str, project: &str) -> String {
    json!({"key": key, "fields": {"project_id": project, "title": format!("Imported {key}"),
                                  "internal_notes": "From the ERP"}})
    .to_string()
}

#[test]
fn import_and_export_over_http_stream_as_the_service_sees_them() {
    let server = TestServer::with_demo();
    let erp = service_token(&server, "erp", &["p-harbor"], false);
    let http = reqwest::blocking::Client::new();
    let import = |token: &str, body: Vec<u8>, gzip: bool| {
        let mut req = http
            .post(format!("{}/v1/admin/import/tasks", server.url()))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson");
        let body = if gzip {
            req = req.header("content-encoding", "gzip");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, &body).expect("gzip");
            enc.finish().expect("gzip")
        } else {
            body
        };
        let resp = req.body(body).send().expect("import");
        (resp.status().as_u16(), resp.json::<Json>().expect("JSON"))
    };

    // 2,500 lines, gzipped (three batches): all in, authored by the service.
    let text: String = (0..2500)
        .map(|i| task_line(&format!("t-http-{i}"), "p-harbor") + "\n")
        .collect();
    let (status, answer) = import(&erp, text.into_bytes(), true);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"entity": "tasks", "imported": 2500}));
    let (changes_status, feed) = {
        let resp = http
            .get(format!(
                "{}/v1/admin/changes?entity=tasks&limit=1000",
                server.url()
            ))
            .bearer_auth(&erp)
            .send()
            .expect("feed");
        (resp.status().as_u16(), resp.json::<Json>().expect("JSON"))
    };
    assert_eq!(changes_status, 200);
    let authored = feed["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["key"] == "t-http-0")
        .expect("t-http-0 in the feed");
    assert_eq!(authored["author"], json!("erp"));

    // A bad line: refused with its number; the batch before it stays.
    let mut text: String = (0..1000)
        .map(|i| task_line(&format!("t-more-{i}"), "p-harbor") + "\n")
        .collect();
    text.push_str(&task_line("t-more-x", "p-harbor"));
    text.push_str("\n{not a record\n");
    let (status, answer) = import(&erp, text.into_bytes(), false);
    assert_eq!(status, 400, "{answer}");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("line 1002: not a record"), "{message}");
    let stored = |key: &str| server.store().get_record("tasks", key).expect("get");
    assert!(stored("t-more-999").is_some(), "the first batch stays");
    assert!(stored("t-more-x").is_none(), "nothing of the failed batch");

    // Outside its scopes, and read-only: refused.
    let (status, answer) = import(&erp, task_line("t-depot", "p-depot").into_bytes(), false);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("p-depot")),
        "{answer}"
    );
    let audit = service_token(&server, "audit", &[], true);
    let (status, _) = import(&audit, task_line("t-x", "p-harbor").into_bytes(), false);
    assert_eq!(status, 403);
    // A line longer than the limit is refused as a bad line, not read whole.
    let long = format!(
        "{{\"key\": \"t-long\", \"pad\": \"{}\"}}\n",
        "x".repeat(syncline_server::MAX_IMPORT_LINE + 10)
    );
    let (status, answer) = import(&erp, long.into_bytes(), false);
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("longer than")),
        "{answer}"
    );

    // The export: the records the service reaches, server-only fields included, streamed.
    let exported = |token: &str| {
        let resp = http
            .get(format!("{}/v1/admin/export/tasks", server.url()))
            .bearer_auth(token)
            .send()
            .expect("export");
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-ndjson")
        );
        lines(&resp.bytes().expect("body"))
    };
    let mine = exported(&erp);
    assert!(mine.iter().all(|l| l["fields"]["project_id"] == "p-harbor"));
    let first = mine
        .iter()
        .find(|l| l["key"] == "t-http-0")
        .expect("imported");
    assert_eq!(first["fields"]["internal_notes"], "From the ERP");
    let everything = exported(&audit);
    assert!(
        everything.len() > mine.len(),
        "an all-scopes service sees every project"
    );
    assert_eq!(
        everything.len() as u64,
        server.store().count_records("tasks").expect("count")
    );
    // Unknown entity.
    let resp = http
        .get(format!("{}/v1/admin/export/nope", server.url()))
        .bearer_auth(&erp)
        .send()
        .expect("export");
    assert_eq!(resp.status().as_u16(), 404);
}

/// An upload cut off half-way commits nothing of its batch in progress (only a body read to its
/// end is whole), and a line that is not UTF-8 is refused, never imported mangled.
#[test]
fn a_cut_upload_commits_nothing_of_its_last_batch_and_bytes_must_be_utf8() {
    let server = TestServer::with_demo();
    let erp = service_token(&server, "erp", &["p-harbor"], false);
    /// 1,500 lines, then a failure: the client aborts the chunked upload.
    struct Cut {
        text: Vec<u8>,
        at: usize,
    }
    impl std::io::Read for Cut {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if self.at == self.text.len() {
                return Err(std::io::Error::other("the connection broke"));
            }
            let n = out.len().min(self.text.len() - self.at).min(4096);
            out[..n].copy_from_slice(&self.text[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    let text: String = (0..1500)
        .map(|i| task_line(&format!("t-cut-{i}"), "p-harbor") + "\n")
        .collect();
    let sent = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/import/tasks", server.url()))
        .bearer_auth(&erp)
        .body(reqwest::blocking::Body::new(Cut {
            text: text.into_bytes(),
            at: 0,
        }))
        .send();
    assert!(
        sent.map_or(true, |r| !r.status().is_success()),
        "a cut upload is never a success"
    );
    let stored = |key: &str| server.store().get_record("tasks", key).expect("get");
    // The import runs on after the answer is lost: wait until its first batch is in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while stored("t-cut-999").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first batch never came"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(stored("t-cut-1000").is_none(), "nothing of the cut batch");
    assert!(stored("t-cut-1499").is_none(), "nothing of the cut batch");

    let mut latin1 = task_line("t-latin", "p-harbor").into_bytes();
    latin1.extend_from_slice(b"\n{\"key\": \"t-caf\xe9\", \"fields\": {}}\n");
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admin/import/tasks", server.url()))
        .bearer_auth(&erp)
        .body(latin1)
        .send()
        .expect("import");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Json = resp.json().expect("JSON");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("line 2: not UTF-8")),
        "{body}"
    );
}
