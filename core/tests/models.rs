//! Typed models and streams end to end: an app's serde types as records, synced through the real
//! reference server, checked against the schema; live queries and the status as `Stream`s polled
//! on the test's own tokio runtime (not the core's).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{client, eventually, server, server_put};
use syncline_core::{Connectivity, NetworkType, Query, SortOrder, Syncline, SynclineError, Value};
use syncline_protocol::sample::{COMMENTS, TASKS};
use tokio_stream::{Stream, StreamExt};

/// A task as an app would model the sample's `tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Task {
    id: String,
    project_id: String,
    title: String,
    done: Option<bool>,
    priority: Option<i32>,
    due_at: Option<i64>,
    estimate_hours: Option<f64>,
    tags: Option<Vec<String>>,
}

fn task(id: &str, project: &str, title: &str) -> Task {
    Task {
        id: id.into(),
        project_id: project.into(),
        title: title.into(),
        done: Some(false),
        priority: Some(2),
        due_at: Some(1_700_000_000_000),
        estimate_hours: Some(1.5),
        tags: Some(vec!["pump".into(), "urgent".into()]),
    }
}

fn shared() -> Query {
    Query::all(100)
        .filter("project_id", Value::Text("p-shared".into()))
        .order("title", SortOrder::Ascending)
}

/// The next item of `stream`, or a failure after 30 s (a generous bound on a loaded machine).
async fn next<S: Stream + Unpin>(stream: &mut S, what: &str) -> S::Item {
    match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("the stream ended before {what}"),
        Err(_) => panic!("nothing came: {what}"),
    }
}

#[test]
fn a_typed_task_syncs_to_another_client_and_back() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = client(dir.path(), "phone", &server.url(), &users.alice);
    let tablet = client(dir.path(), "tablet", &server.url(), &users.bob);
    let phone_tasks = phone.collection::<Task>(TASKS).expect("the model fits");
    let tablet_tasks = tablet.collection::<Task>(TASKS).expect("the model fits");

    let new = task("t-typed", "p-shared", "Inspect pump");
    phone_tasks.insert(&new).expect("insert");
    assert_eq!(phone_tasks.get("t-typed").expect("get"), Some(new.clone()));
    phone.sync_now_blocking("all").expect("push");
    tablet.sync_now_blocking("all").expect("pull");
    assert_eq!(
        tablet_tasks.get("t-typed").expect("get"),
        Some(new.clone()),
        "the other client reads it typed, every field as written"
    );

    // The whole model is the patch: a `None` clears its field.
    let changed = Task {
        done: Some(true),
        tags: None,
        ..new.clone()
    };
    assert!(tablet_tasks.update(&changed).expect("update").is_some());
    assert_eq!(
        tablet_tasks.update(&changed).expect("update again"),
        None,
        "nothing changed the second time"
    );
    tablet.sync_now_blocking("all").expect("push");
    phone.sync_now_blocking("all").expect("pull");
    assert_eq!(
        phone_tasks.get("t-typed").expect("get"),
        Some(changed.clone())
    );
    let record = phone.get(TASKS, "t-typed").expect("get").expect("there");
    assert!(
        record.get("tags").is_none_or(|v| *v == Value::Null),
        "cleared, not left as it was: {record:?}"
    );

    // A query with a filter, typed; the fixture's tasks come back too.
    let done = phone_tasks
        .query(&shared().filter("done", Value::Boolean(true)))
        .expect("query");
    assert_eq!(done, vec![changed.clone()]);
    let titles: Vec<String> = phone_tasks
        .query(&shared())
        .expect("query")
        .into_iter()
        .map(|t| t.title)
        .collect();
    assert_eq!(
        titles,
        ["Inspect pump", "Task t-shared-1", "Task t-shared-2"]
    );
    assert_eq!(phone_tasks.get("t-none").expect("get"), None);

    // A typed watch (callback) sees the change too.
    let seen: Arc<Mutex<Vec<Vec<Task>>>> = Arc::default();
    let sink = seen.clone();
    let _watch = phone_tasks
        .watch(&shared(), move |list| {
            sink.lock().expect("lock").push(list.expect("a list"))
        })
        .expect("watch");
    eventually("the list now", || seen.lock().expect("lock").len() == 1);
    phone_tasks.delete("t-typed").expect("delete");
    eventually("the list without it", || {
        seen.lock()
            .expect("lock")
            .last()
            .is_some_and(|list| list.len() == 2)
    });
}

#[test]
fn a_stored_record_that_does_not_fit_the_model_is_an_error_naming_it() {
    let (server, users) = server();
    server_put(
        &server,
        TASKS,
        "t-shared-1",
        json!({"project_id": "p-shared", "title": "Odd", "tags": {"not": "a list"}}),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now_blocking("all").expect("sync");
    let tasks = device.collection::<Task>(TASKS).expect("the model fits");
    let wrong = |result: syncline_core::Result<_>| match result {
        Err(SynclineError::RecordMismatch {
            entity,
            key,
            field,
            detail,
        }) => {
            assert_eq!((&*entity, &*key, &*field), (TASKS, "t-shared-1", "tags"));
            assert!(detail.contains("sequence"), "{detail}");
        }
        other => panic!("{other:?}"),
    };
    wrong(tasks.get("t-shared-1").map(drop));
    wrong(tasks.query(&shared()).map(drop));
    assert!(tasks.get("t-shared-2").expect("the others read").is_some());
}

/// What `collection::<M>` says about a model that does not fit.
fn mismatch<M: Serialize + serde::de::DeserializeOwned>(
    client: &Syncline,
    entity: &str,
) -> (String, String, String, String) {
    match client.collection::<M>(entity) {
        Err(SynclineError::ModelMismatch {
            entity,
            field,
            expected,
            found,
        }) => (entity, field, expected, found),
        Err(other) => panic!("another error: {other:?}"),
        Ok(_) => panic!("{} fits `{entity}`", std::any::type_name::<M>()),
    }
}

#[test]
fn a_model_that_does_not_fit_the_schema_is_refused_naming_the_field_and_types() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);

    #[derive(Serialize, Deserialize)]
    struct WrongType {
        id: String,
        project_id: String,
        title: String,
        done: Option<String>,
    }
    let (entity, field, expected, found) = mismatch::<WrongType>(&device, TASKS);
    assert_eq!((&*entity, &*field), (TASKS, "done"));
    assert!(expected.contains("boolean (bool)"), "{expected}");
    assert_eq!(found, "Option<String>");

    #[derive(Serialize, Deserialize)]
    struct UnknownField {
        id: String,
        project_id: String,
        title: String,
        colour: Option<String>,
    }
    let (_, field, expected, found) = mismatch::<UnknownField>(&device, TASKS);
    assert_eq!(field, "colour");
    assert!(expected.contains("project_id, title, notes"), "{expected}");
    assert!(found.contains("does not declare"), "{found}");

    #[derive(Serialize, Deserialize)]
    struct ServerOnly {
        id: String,
        project_id: String,
        title: String,
        internal_notes: Option<String>,
    }
    let (_, field, _, found) = mismatch::<ServerOnly>(&device, TASKS);
    assert_eq!(field, "internal_notes");
    assert!(found.contains("server-only"), "{found}");

    #[derive(Serialize, Deserialize)]
    struct MissingRequired {
        id: String,
        project_id: String,
        done: Option<bool>,
    }
    let (_, field, expected, found) = mismatch::<MissingRequired>(&device, TASKS);
    assert_eq!(field, "title");
    assert!(
        expected.contains("text") && expected.contains("required"),
        "{expected}"
    );
    assert!(found.contains("no field `title`"), "{found}");

    #[derive(Serialize, Deserialize)]
    struct OptionalRequired {
        id: String,
        project_id: String,
        title: Option<String>,
    }
    let (_, field, expected, found) = mismatch::<OptionalRequired>(&device, TASKS);
    assert_eq!(field, "title");
    assert!(expected.contains("not an Option"), "{expected}");
    assert_eq!(found, "Option<String>");

    #[derive(Serialize, Deserialize)]
    struct NullableNotOption {
        id: String,
        project_id: String,
        title: String,
        done: bool,
    }
    let (_, field, expected, found) = mismatch::<NullableNotOption>(&device, TASKS);
    assert_eq!(field, "done");
    assert!(expected.starts_with("Option<…> of boolean"), "{expected}");
    assert_eq!(found, "bool");

    // The server writes a comment's author: null here until it comes back, so an Option.
    #[derive(Serialize, Deserialize)]
    struct Comment {
        id: String,
        project_id: String,
        task_id: String,
        body: String,
        author: String,
    }
    let (entity, field, expected, _) = mismatch::<Comment>(&device, COMMENTS);
    assert_eq!((&*entity, &*field), (COMMENTS, "author"));
    assert!(expected.contains("written by the server"), "{expected}");

    #[derive(Serialize, Deserialize)]
    struct NoKey {
        project_id: String,
        title: String,
    }
    let (_, field, _, _) = mismatch::<NoKey>(&device, TASKS);
    assert_eq!(field, "id");

    // Milliseconds since 1970 need all 64 bits.
    #[derive(Serialize, Deserialize)]
    struct NarrowTime {
        id: String,
        project_id: String,
        title: String,
        due_at: Option<i32>,
    }
    let (_, field, expected, found) = mismatch::<NarrowTime>(&device, TASKS);
    assert_eq!(field, "due_at");
    assert!(expected.contains("timestamp (i64"), "{expected}");
    assert_eq!(found, "Option<i32>");

    match device.collection::<Task>("nope") {
        Err(SynclineError::InvalidInput { detail }) => assert!(detail.contains("nope"), "{detail}"),
        other => panic!("{:?}", other.map(|c| c.entity().to_string())),
    }
}

#[tokio::test]
async fn streams_on_the_apps_runtime_see_a_remote_change() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    device.sync_now("all").await.expect("first sync");
    let tasks = device.collection::<Task>(TASKS).expect("the model fits");
    let mut typed = tasks.stream(&shared()).expect("stream");
    let mut pages = device.watch_stream(TASKS, &shared()).expect("stream");
    let first = next(&mut typed, "the list now").await.expect("a list");
    assert_eq!(first.len(), 2);
    let page = next(&mut pages, "the page now").await.expect("a page");
    assert_eq!(page.records.len(), 2);

    // Another client's task reaches the server; this device pulls it.
    server_put(
        &server,
        TASKS,
        "t-remote",
        json!({"project_id": "p-shared", "title": "A remote one", "done": true, "tags": ["x"]}),
    );
    device.sync_now("all").await.expect("pull");
    let list = next(&mut typed, "the pulled task").await.expect("a list");
    let remote = list.iter().find(|t| t.id == "t-remote").expect("pulled");
    assert_eq!(remote.title, "A remote one");
    assert_eq!(remote.tags, Some(vec!["x".to_string()]));
    let page = next(&mut pages, "the pulled page").await.expect("a page");
    assert!(page.records.iter().any(|r| r.key == "t-remote"));

    // A query the schema refuses fails at once, not as an item.
    assert!(tasks
        .stream(&Query::all(5).filter("nope", Value::Null))
        .is_err());
}

#[tokio::test]
async fn status_and_banner_streams_never_repeat_an_item() {
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let device = client(dir.path(), "device", &server.url(), &users.alice);
    let statuses = collect(device.status_stream());
    let banners = collect(device.banner_stream());
    let tasks = device.collection::<Task>(TASKS).expect("the model fits");
    for round in 0..3 {
        tasks
            .insert(&task(&format!("t-{round}"), "p-shared", "Again"))
            .expect("insert");
        device.sync_now("all").await.expect("sync");
        device.report_connectivity(Connectivity::offline());
        device.report_connectivity(Connectivity::online(NetworkType::Wifi));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let statuses = statuses.finish().await;
    let banners = banners.finish().await;
    assert!(statuses.len() >= 3, "{statuses:?}");
    assert!(banners.len() >= 2, "{banners:?}");
    for pair in statuses.windows(2) {
        assert_ne!(pair[0], pair[1], "the same status twice in a row");
    }
    for pair in banners.windows(2) {
        assert_ne!(pair[0], pair[1], "the same banner twice in a row");
    }
    assert!(
        banners.len() < statuses.len(),
        "a status change that leaves the banner alone yields no banner"
    );
}

/// A stream read on a task of the test's runtime until `finish`.
struct Collected<T> {
    items: Arc<Mutex<Vec<T>>>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> Collected<T> {
    async fn finish(self) -> Vec<T> {
        self.task.abort();
        let _ = self.task.await;
        std::mem::take(&mut *self.items.lock().expect("lock"))
    }
}

fn collect<T: Send + 'static>(
    mut stream: impl Stream<Item = T> + Send + Unpin + 'static,
) -> Collected<T> {
    let items: Arc<Mutex<Vec<T>>> = Arc::default();
    let sink = items.clone();
    let task = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            sink.lock().expect("lock").push(item);
        }
    });
    Collected { items, task }
}
