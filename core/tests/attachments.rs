//! Attachments end to end (issue 23) on the real reference server over loopback, on the run's
//! backend: a photo attached on one device is streamed into its cache, uploaded in the
//! background and pushed only once the server has it, while the device's other writes go out
//! at once; another device fetches it through the record, its hash checked; a cached file that
//! was damaged is fetched again; a file the server refuses quarantines its mutation.

mod support;

use std::sync::Arc;

use support::{client_with, eventually, manual, new_task, server_with};
use syncline_core::{AttachmentState, Connectivity, NetworkType, Syncline, Value};
use syncline_protocol::sample::TASKS;
use syncline_server::blobs::fs::FsBlobStore;
use syncline_server::testing::TestServer;
use syncline_server::{Attachments, BlobLimits, ServerOptions};

fn server(limits: BlobLimits, blobs: &std::path::Path) -> (TestServer, support::Users) {
    let store = FsBlobStore::open(blobs).expect("blob store");
    server_with(ServerOptions {
        attachments: Some(Arc::new(Attachments::new(Arc::new(store), limits))),
        ..ServerOptions::default()
    })
}

/// A photo-sized file of distinct bytes.
fn photo(dir: &std::path::Path, name: &str, len: usize, seed: u8) -> (std::path::PathBuf, Vec<u8>) {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("write photo");
    (path, bytes)
}

fn photo_on_server(server: &TestServer, key: &str) -> Option<String> {
    server
        .store()
        .get_record(TASKS, key)
        .expect("read")
        .and_then(|r| r.fields.get("photo").cloned())
        .and_then(|p| p.get("sha256").and_then(|h| h.as_str()).map(str::to_string))
}

fn device(dir: &std::path::Path, name: &str, url: &str, token: &str) -> Syncline {
    let mut config = manual(url, token);
    // Uploads wait for Wi-Fi, so the test decides when they may start.
    config.uploads_on_cellular = false;
    let client = client_with(dir, name, config);
    client.report_connectivity(Connectivity::online(NetworkType::Cellular));
    client
}

#[test]
fn a_photo_is_pushed_only_once_uploaded_and_others_are_not_held_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, users) = server(BlobLimits::default(), &dir.path().join("server-blobs"));
    let alice = device(dir.path(), "alice", &server.url(), &users.alice);
    alice.sync_now_blocking("all").expect("first sync");

    alice
        .insert(TASKS, new_task("t-valve", "p-shared", "Valve"))
        .expect("insert");
    let (path, bytes) = photo(dir.path(), "valve.jpg", 300_000, 7);
    let receipt = alice
        .attach(TASKS, "t-valve", "photo", &path, "image/jpeg")
        .expect("attach")
        .expect("a change");
    assert!(!receipt.mutation_id.is_empty());
    // Shown at once from the device's own cache, whatever the network.
    let AttachmentState::Ready {
        path: cached,
        reference,
    } = alice.attachment(TASKS, "t-valve", "photo").expect("state")
    else {
        panic!("the attached file is cached");
    };
    assert_eq!(std::fs::read(&cached).expect("cached file"), bytes);
    assert_eq!(
        (reference.size, reference.name.as_str()),
        (300_000, "valve.jpg")
    );
    assert_eq!(alice.uploads_waiting().expect("waiting"), (1, 300_000));
    alice
        .insert(TASKS, new_task("t-fence", "p-shared", "Fence"))
        .expect("another write");

    // On mobile data the upload waits; the task and the other write go out, the photo does not.
    alice.sync_now_blocking("all").expect("sync on cellular");
    assert!(server
        .store()
        .get_record(TASKS, "t-fence")
        .expect("read")
        .is_some());
    assert!(server
        .store()
        .get_record(TASKS, "t-valve")
        .expect("read")
        .is_some());
    assert_eq!(
        photo_on_server(&server, "t-valve"),
        None,
        "never before its file"
    );
    assert_eq!(alice.pending_keys(TASKS).expect("pending"), vec!["t-valve"]);

    // On Wi-Fi it uploads, and the held mutation follows.
    alice.report_connectivity(Connectivity::online(NetworkType::Wifi));
    alice.sync_now_blocking("all").expect("sync on wifi");
    eventually("the photo is uploaded and pushed", || {
        let _ = alice.sync_now_blocking("all");
        photo_on_server(&server, "t-valve").as_deref() == Some(reference.sha256.as_str())
    });
    assert_eq!(alice.uploads_waiting().expect("waiting"), (0, 0));
    assert!(alice.pending_keys(TASKS).expect("pending").is_empty());

    // bob pulls the record, and fetches the file through it.
    let bob = device(dir.path(), "bob", &server.url(), &users.bob);
    bob.sync_now_blocking("all").expect("bob syncs");
    let fetched = bob
        .fetch_attachment_blocking(TASKS, "t-valve", "photo")
        .expect("fetch");
    assert_eq!(std::fs::read(&fetched).expect("fetched"), bytes);
    assert!(matches!(
        bob.attachment(TASKS, "t-valve", "photo").expect("state"),
        AttachmentState::Ready { .. }
    ));
    // A damaged cached file is dropped and fetched again.
    std::fs::write(&fetched, b"bit rot").expect("damage");
    assert!(matches!(
        bob.attachment(TASKS, "t-valve", "photo").expect("state"),
        AttachmentState::Missing { .. }
    ));
    let again = bob
        .fetch_attachment_blocking(TASKS, "t-valve", "photo")
        .expect("fetch again");
    assert_eq!(std::fs::read(&again).expect("fetched"), bytes);
    // A task without a photo says so.
    assert_eq!(
        bob.attachment(TASKS, "t-fence", "photo").expect("state"),
        AttachmentState::Empty
    );
    // Only attachment fields take files.
    assert!(alice
        .attach(TASKS, "t-fence", "title", &path, "image/jpeg")
        .is_err());
}

#[test]
fn a_file_the_server_refuses_quarantines_its_mutation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = BlobLimits {
        max_blob_bytes: 1_000,
        quota_bytes: None,
    };
    let (server, users) = server(limits, &dir.path().join("server-blobs"));
    let alice = device(dir.path(), "alice", &server.url(), &users.alice);
    alice.report_connectivity(Connectivity::online(NetworkType::Wifi));
    alice
        .insert(TASKS, new_task("t-big", "p-shared", "Big"))
        .expect("insert");
    let (path, _) = photo(dir.path(), "big.jpg", 5_000, 1);
    alice
        .attach(TASKS, "t-big", "photo", &path, "image/jpeg")
        .expect("attach");
    alice.sync_now_blocking("all").expect("sync");
    eventually("the photo's mutation is quarantined", || {
        alice
            .quarantined()
            .expect("quarantined")
            .iter()
            .any(|q| q.code == "blob_too_large")
    });
    assert_eq!(alice.uploads_waiting().expect("waiting"), (0, 0));
    let q = alice.quarantined().expect("quarantined");
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].key, "t-big");
    // The rest of the record went out.
    alice.sync_now_blocking("all").expect("sync");
    let on_server = server.store().get_record(TASKS, "t-big").expect("read");
    assert!(on_server.is_some_and(|r| r.fields["photo"].is_null()));
    let _ = Value::Null;
}
