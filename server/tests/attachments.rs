//! Attachments on a real server over loopback HTTP, on the run's backend (docs/protocol.md,
//! "Attachments"): a resumable upload in ranges (a range at the wrong offset is refused with
//! the upload's offset), completion checked against the SHA-256, a blob its user sent before
//! never sent again, a download only through a record the caller sees whose field names the
//! blob (with `Range`), a push that references a blob its user has not uploaded refused
//! `missing_blob`, the size limit and the quota, uploads bound to their user, metrics, and
//! `blobs gc`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{outcome, Api};
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use syncline_server::blobs::fs::FsBlobStore;
use syncline_server::testing::TestServer;
use syncline_server::{collect_garbage, Attachments, BlobLimits, ServerOptions, HARBOR};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Setup {
    server: TestServer,
    api: Api,
    attachments: Arc<Attachments>,
    _dir: tempfile::TempDir,
}

fn setup(limits: BlobLimits) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = FsBlobStore::open(dir.path()).expect("blob store");
    let attachments = Arc::new(Attachments::new(Arc::new(blobs), limits));
    let server = TestServer::with_demo_options(ServerOptions {
        attachments: Some(attachments.clone()),
        ..ServerOptions::default()
    });
    let api = Api::new(&server);
    Setup {
        server,
        api,
        attachments,
        _dir: dir,
    }
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.url)
    }

    fn start(&self, token: &str, bytes: &[u8]) -> (StatusCode, Json) {
        self.api.post(
            "/v1/uploads",
            Some(token),
            &json!({"sha256": sha(bytes), "size": bytes.len()}),
        )
    }

    fn append(&self, token: &str, id: &str, at: u64, bytes: &[u8]) -> reqwest::blocking::Response {
        self.api
            .client
            .patch(self.url(&format!("/v1/uploads/{id}")))
            .bearer_auth(token)
            .header("Upload-Offset", at.to_string())
            .body(bytes.to_vec())
            .send()
            .expect("append")
    }

    fn complete(&self, token: &str, id: &str) -> (StatusCode, Json) {
        self.api.post(
            &format!("/v1/uploads/{id}/complete"),
            Some(token),
            &json!({}),
        )
    }

    /// Uploads `bytes` whole as `token`'s user.
    fn upload(&self, token: &str, bytes: &[u8]) {
        let (status, state) = self.start(token, bytes);
        assert_eq!(status, StatusCode::OK, "{state}");
        if state["complete"] == json!(true) {
            return;
        }
        let id = state["upload_id"]
            .as_str()
            .expect("an upload id")
            .to_string();
        assert_eq!(self.append(token, &id, 0, bytes).status(), StatusCode::OK);
        let (status, body) = self.complete(token, &id);
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    fn download(
        &self,
        token: &str,
        hash: &str,
        key: &str,
        range: Option<&str>,
    ) -> reqwest::blocking::Response {
        let mut req = self
            .api
            .client
            .get(self.url(&format!(
                "/v1/blobs/{hash}?entity=tasks&key={key}&field=photo"
            )))
            .bearer_auth(token);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        req.send().expect("download")
    }
}

fn photo_ref(bytes: &[u8], name: &str) -> Json {
    json!({"sha256": sha(bytes), "size": bytes.len(), "media_type": "image/jpeg", "name": name})
}

fn insert_task(key: &str, photo: Json) -> Json {
    json!([{"seq": 1, "mutation_id": format!("m-{key}"), "entity": "tasks", "key": key,
        "op": "insert", "fields": {"project_id": HARBOR, "title": "Valve", "photo": photo}}])
}

#[test]
fn an_upload_resumes_at_its_offset_and_the_blob_is_read_through_its_record() {
    let s = setup(BlobLimits::default());
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let hash = sha(&bytes);

    let (status, state) = s.start("demo-alice", &bytes);
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        (state["offset"].clone(), state["complete"].clone()),
        (json!(0), json!(false))
    );
    let id = state["upload_id"].as_str().expect("id").to_string();

    let first = s.append("demo-alice", &id, 0, &bytes[..100_000]);
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["upload-offset"], "100000");
    // A range from elsewhere: refused, with where the upload is.
    let wrong = s.append("demo-alice", &id, 50_000, &bytes[50_000..]);
    assert_eq!(wrong.status(), StatusCode::CONFLICT);
    assert_eq!(wrong.headers()["upload-offset"], "100000");
    let body: Json = wrong.json().expect("json");
    common::assert_error(&body, "wrong_offset");
    // Another user cannot see or feed it.
    let theirs = s.append("demo-bob", &id, 100_000, &bytes[100_000..]);
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    // Completing early is refused; asking tells where to go on from.
    let (status, body) = s.complete("demo-alice", &id);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    common::assert_error(&body, "upload_incomplete");
    let asked = s
        .api
        .client
        .get(s.url(&format!("/v1/uploads/{id}")))
        .bearer_auth("demo-alice")
        .send()
        .expect("ask");
    assert_eq!(asked.headers()["upload-offset"], "100000");
    assert_eq!(
        s.append("demo-alice", &id, 100_000, &bytes[100_000..])
            .status(),
        StatusCode::OK
    );
    let (status, body) = s.complete("demo-alice", &id);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["complete"], json!(true));

    // The same file again from the same user: nothing to send.
    let (status, again) = s.start("demo-alice", &bytes);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["complete"], json!(true));
    assert!(again.get("upload_id").is_none(), "{again}");

    let pushed = s.api.push(
        "demo-alice",
        "alice-phone",
        insert_task("t-valve", photo_ref(&bytes, "valve.jpg")),
    );
    assert_eq!(
        outcome(&pushed, 0)["status"],
        json!("applied"),
        "{pushed:?}"
    );

    // bob shares the project: the whole blob, and a range of it.
    let whole = s.download("demo-bob", &hash, "t-valve", None);
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "application/octet-stream");
    assert_eq!(whole.headers()["etag"], format!("\"{hash}\"").as_str());
    assert_eq!(whole.bytes().expect("bytes").as_ref(), &bytes[..]);
    let part = s.download("demo-bob", &hash, "t-valve", Some("bytes=299990-"));
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        "bytes 299990-299999/300000"
    );
    assert_eq!(part.bytes().expect("bytes").as_ref(), &bytes[299_990..]);
    let outside = s.download("demo-bob", &hash, "t-valve", Some("bytes=300000-"));
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // carol is not in the project; a field or record that does not name the blob is no way in.
    for (token, key) in [("demo-carol", "t-valve"), ("demo-bob", "t-missing")] {
        let refused = s.download(token, &hash, key, None);
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{token} {key}");
    }
    let other = s.download("demo-bob", &sha(b"another file"), "t-valve", None);
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    let metrics = reqwest::blocking::get(s.url("/metrics"))
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("syncline_blob_bytes_total{direction=\"in\"} 300000"),
        "{metrics}"
    );
    assert!(
        metrics.contains("syncline_blob_bytes_total{direction=\"out\"} 300010"),
        "{metrics}"
    );
    assert!(
        metrics.contains("syncline_blob_refusals_total{code=\"wrong_offset\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_push_may_reference_only_what_its_user_uploaded() {
    let s = setup(BlobLimits::default());
    let photo = b"alice's photo of the valve";
    s.upload("demo-alice", photo);
    // bob knows the hash but never sent the bytes: knowing a hash is no way to a file.
    let pushed = s.api.push(
        "demo-bob",
        "bob-phone",
        insert_task("t-bob", photo_ref(photo, "v.jpg")),
    );
    let refused = outcome(&pushed, 0);
    assert_eq!(refused["status"], json!("rejected"), "{pushed:?}");
    assert_eq!(refused["code"], json!("missing_blob"));
    assert!(s
        .server
        .store()
        .get_record("tasks", "t-bob")
        .expect("read")
        .is_none());
    // A malformed reference is a type error, not a missing blob.
    let pushed = s.api.push(
        "demo-alice",
        "alice-phone",
        insert_task(
            "t-bad",
            json!({"sha256": "nope", "size": 1, "media_type": "x/y", "name": "n"}),
        ),
    );
    assert_eq!(
        outcome(&pushed, 0)["code"],
        json!("invalid_value"),
        "{pushed:?}"
    );
}

#[test]
fn the_size_limit_the_quota_and_the_hash_are_enforced() {
    let s = setup(BlobLimits {
        max_blob_bytes: 1_000,
        quota_bytes: Some(1_500),
    });
    let (status, body) = s.start("demo-alice", &[0u8; 1_001]);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    common::assert_error(&body, "blob_too_large");
    s.upload("demo-alice", &[1u8; 1_000]);
    let (status, body) = s.start("demo-alice", &[2u8; 600]);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    common::assert_error(&body, "quota_exceeded");
    // bob has his own quota.
    s.upload("demo-bob", &[2u8; 600]);

    // Bytes that are not what was announced: refused and dropped.
    let (_, state) = s.api.post(
        "/v1/uploads",
        Some("demo-bob"),
        &json!({"sha256": sha(b"announced"), "size": 9}),
    );
    let id = state["upload_id"].as_str().expect("id").to_string();
    assert_eq!(
        s.append("demo-bob", &id, 0, b"different").status(),
        StatusCode::OK
    );
    let (status, body) = s.complete("demo-bob", &id);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    common::assert_error(&body, "hash_mismatch");
    let (status, _) = s.complete("demo-bob", &id);
    assert_eq!(status, StatusCode::NOT_FOUND, "the upload is gone");
}

#[test]
fn blobs_gc_deletes_what_no_record_references_after_the_grace() {
    let s = setup(BlobLimits::default());
    let kept = b"referenced by a task";
    let orphan = b"uploaded, never referenced";
    s.upload("demo-alice", kept);
    s.upload("demo-alice", orphan);
    let pushed = s.api.push(
        "demo-alice",
        "alice-phone",
        insert_task("t-gc", photo_ref(kept, "k.jpg")),
    );
    assert_eq!(outcome(&pushed, 0)["status"], json!("applied"));
    let store = s.server.store();

    let report = collect_garbage(store, &s.attachments, Duration::from_secs(3600)).expect("gc");
    assert_eq!((report.blobs, report.deleted), (2, 0), "within the grace");
    let report = collect_garbage(store, &s.attachments, Duration::ZERO).expect("gc");
    assert_eq!(
        (report.blobs, report.deleted, report.deleted_bytes),
        (2, 1, 26)
    );
    assert_eq!(
        s.download("demo-alice", &sha(kept), "t-gc", None).status(),
        StatusCode::OK
    );
    // The orphan is gone: its user must send it again to reference it.
    let (_, state) = s.start("demo-alice", orphan);
    assert_eq!(state["complete"], json!(false), "{state}");
}
