//! The backend API (issue 22): service identities and what they reach, on the real server over
//! loopback HTTP, on either database (`SYNCLINE_TEST_BACKEND`).

mod common;

use common::assert_error;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value as Json};
use syncline_server::testing::TestServer;
use syncline_server::Service;

/// `GET path` with `token`: the status and the JSON body.
fn get(server: &TestServer, path: &str, token: Option<&str>) -> (StatusCode, Json) {
    let mut req = Client::new().get(format!("{}{path}", server.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("request");
    let status = resp.status();
    (status, resp.json().expect("a JSON body"))
}

fn service(server: &TestServer, name: &str, scopes: &[&str], all_scopes: bool) -> String {
    server
        .store()
        .add_service(&Service {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            all_scopes,
            read_only: false,
        })
        .expect("add the service")
}

#[test]
fn a_service_reads_a_record_with_its_server_only_fields_within_its_scopes() {
    let server = TestServer::with_demo();
    // The office's notes: a server-only field no device ever sees.
    let mut fields = serde_json::Map::new();
    fields.insert(
        "internal_notes".into(),
        json!("Customer asked for a call first"),
    );
    server
        .store()
        .upsert_record("tasks", "t-harbor-1", &fields)
        .expect("office notes");
    let erp = service(&server, "erp", &["p-harbor"], false);

    let (status, body) = get(&server, "/v1/admin/records/tasks/t-harbor-1", Some(&erp));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "t-harbor-1");
    assert_eq!(body["scope"], "p-harbor");
    assert_eq!(body["deleted"], false);
    assert_eq!(
        body["fields"]["internal_notes"],
        "Customer asked for a call first"
    );
    assert!(body["version"].as_i64().is_some_and(|v| v >= 2), "{body}");
    assert!(body["position"].is_string(), "a cursor string: {body}");

    // Outside its scopes: 403; no such record or entity: 404.
    let (status, body) = get(&server, "/v1/admin/records/tasks/t-depot-1", Some(&erp));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, "forbidden");
    let (status, body) = get(&server, "/v1/admin/records/tasks/t-nowhere", Some(&erp));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "not_found");
    let (status, body) = get(&server, "/v1/admin/records/invoices/i-1", Some(&erp));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "unknown_entity");

    // A service with every scope reaches p-depot too.
    let audit = service(&server, "audit", &[], true);
    let (status, body) = get(&server, "/v1/admin/records/tasks/t-depot-1", Some(&audit));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "p-depot");
}

#[test]
fn devices_get_403_and_no_or_unknown_or_revoked_tokens_401() {
    let server = TestServer::with_demo();
    let erp = service(&server, "erp", &["p-harbor"], false);
    let path = "/v1/admin/records/tasks/t-harbor-1";
    // A device's token, even one whose user sees the record: devices have their own routes.
    let (status, body) = get(&server, path, Some("demo-alice"));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, "forbidden");
    for token in [None, Some("not-a-token")] {
        let (status, body) = get(&server, path, token);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert_error(&body, "unauthorized");
    }
    // A service's token is no device token either.
    let (status, _) = get(&server, "/v1/me", Some(&erp));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // `token revoke` ends a service's token like a device's.
    assert!(server.store().revoke_token(&erp).expect("revoke"));
    let (status, body) = get(&server, path, Some(&erp));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // And a service never shows among the users (no memberships, no member lists).
    let users: Vec<String> = server
        .store()
        .users()
        .expect("users")
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert!(!users.contains(&"erp".to_string()), "{users:?}");
}

/// The change feed in one call: `GET /v1/admin/changes?…`.
fn changes(server_url: &str, token: &str, query: &str) -> (StatusCode, Json) {
    let resp = Client::new()
        .get(format!("{server_url}/v1/admin/changes?{query}"))
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(120))
        .send()
        .expect("request");
    let status = resp.status();
    (status, resp.json().expect("a JSON body"))
}

/// Alice's phone ticks `t-harbor-1` done (a push through the device protocol).
fn alice_ticks(api: &common::Api, seq: u64, version: i64) {
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([{"mutation_id": format!("m{seq}"), "seq": seq, "entity": "tasks",
                "key": "t-harbor-1", "op": "update", "fields": {"done": true},
                "base_version": version}]),
    );
    assert_eq!(
        common::outcome(&resp, 0)["status"],
        "applied",
        "{:?}",
        resp.results
    );
}

#[test]
fn the_feed_reports_a_devices_change_with_who_where_and_when_and_resumes() {
    let server = TestServer::with_demo();
    let url = server.url();
    let erp = service(&server, "erp", &["p-harbor"], false);
    let audit = service(&server, "audit", &[], true);
    // From the start: the demo data, in log order, only the service's scopes.
    let (status, first) = changes(&url, &erp, "limit=1000");
    assert_eq!(status, StatusCode::OK, "{first}");
    let all = first["changes"].as_array().expect("changes");
    assert!(!all.is_empty());
    assert!(all.iter().all(|c| c["scope"] == "p-harbor"), "{first}");
    let positions: Vec<i64> = all
        .iter()
        .map(|c| c["position"].as_str().expect("text").parse().expect("int"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "log order");
    assert_eq!(first["has_more"], false);
    let cursor = first["cursor"].as_str().expect("cursor").to_string();
    let everyone = changes(&url, &audit, "limit=1000").1;
    assert!(everyone["changes"].as_array().expect("changes").len() > all.len());

    // Nothing new after the cursor.
    let (_, none) = changes(&url, &erp, &format!("after={cursor}"));
    assert_eq!(none["changes"], json!([]));
    assert_eq!(none["cursor"], cursor.as_str());

    // A device's change: who made it, from which client, when, with every field.
    let api = common::Api::new(&server);
    let version = server
        .store()
        .get_record("tasks", "t-harbor-1")
        .expect("get")
        .expect("exists")
        .version;
    alice_ticks(&api, 1, version);
    let (_, page) = changes(&url, &erp, &format!("after={cursor}&entity=tasks"));
    let change = &page["changes"][0];
    assert_eq!(page["changes"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(change["key"], "t-harbor-1");
    assert_eq!(change["op"], "update");
    assert_eq!(change["version"], version + 1);
    assert_eq!(change["author"], "alice");
    assert_eq!(change["client_id"], "alice-phone");
    assert!(
        change["at"].as_i64().is_some_and(|t| t > 1_700_000_000_000),
        "{change}"
    );
    assert_eq!(change["fields"]["done"], true);
    assert!(
        change["fields"]
            .as_object()
            .expect("fields")
            .contains_key("internal_notes"),
        "server-only fields too: {change}"
    );
    // Filters: another entity has nothing; a scope the service does not reach is 403; a bad
    // cursor 400; an unknown entity 404.
    let (_, comments) = changes(&url, &erp, &format!("after={cursor}&entity=comments"));
    assert_eq!(comments["changes"], json!([]));
    let (status, body) = changes(&url, &erp, "scope=p-depot");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = changes(&url, &erp, "after=yesterday");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = changes(&url, &erp, "entity=invoices");
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Pages: one at a time, each resuming where the last stopped, none skipped.
    let mut after = String::from("0");
    let mut seen = Vec::new();
    loop {
        let (_, page) = changes(&url, &erp, &format!("after={after}&limit=3"));
        for c in page["changes"].as_array().expect("changes") {
            seen.push(c["position"].as_str().expect("text").to_string());
        }
        after = page["cursor"].as_str().expect("cursor").to_string();
        if page["has_more"] == false {
            break;
        }
    }
    let (_, whole) = changes(&url, &erp, "limit=1000");
    let whole: Vec<String> = whole["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["position"].as_str().expect("text").to_string())
        .collect();
    assert_eq!(seen, whole);
}

/// A waiting long poll answers when a commit wakes it: on SQLite in the process; on PostgreSQL
/// (`SYNCLINE_TEST_BACKEND=postgres`) the push goes to another instance than the poll, so only
/// LISTEN/NOTIFY can wake it.
#[test]
fn a_waiting_long_poll_wakes_on_a_commit_even_on_another_instance() {
    let db = syncline_server::testing::ScratchDb::new();
    db.open_sample()
        .and_then(|store| syncline_server::seed_demo(&store))
        .expect("seed");
    let a = TestServer::start_at(db.location().clone());
    let b = (syncline_server::testing::test_backend() == "postgres")
        .then(|| TestServer::start_at(db.location().clone()));
    let polled = b.as_ref().unwrap_or(&a);
    let erp = service(polled, "erp", &["p-harbor"], false);
    let (_, now) = changes(&polled.url(), &erp, "limit=1000");
    let cursor = now["cursor"].as_str().expect("cursor").to_string();
    let version = a
        .store()
        .get_record("tasks", "t-harbor-1")
        .expect("get")
        .expect("exists")
        .version;

    let url = polled.url();
    let waiting = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let answer = changes(&url, &erp, &format!("after={cursor}&wait=30"));
        (start.elapsed(), answer)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pushed = std::time::Instant::now();
    alice_ticks(&common::Api::new(&a), 1, version);
    let (waited, (status, page)) = waiting.join().expect("the poll");
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["changes"][0]["key"], "t-harbor-1", "{page}");
    assert!(
        waited < std::time::Duration::from_secs(30),
        "woken, not timed out"
    );
    println!(
        "long poll ({}): answered {:.1} ms after the push began",
        if b.is_some() {
            "PostgreSQL, two instances"
        } else {
            "SQLite"
        },
        pushed.elapsed().as_secs_f64() * 1000.0
    );
}

/// `method path` with a JSON body as `token`: the status and the JSON answer.
fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Json>,
    idempotency_key: Option<&str>,
) -> (StatusCode, Json) {
    let mut req = Client::new()
        .request(method, format!("{}{path}", server.url()))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().expect("request");
    let status = resp.status();
    (status, resp.json().expect("a JSON body"))
}

#[test]
fn a_service_writes_what_devices_cannot_and_devices_pull_it() {
    let server = TestServer::with_demo();
    let api = common::Api::new(&server);
    let erp = service(&server, "erp", &["p-harbor"], false);
    let put =
        |path: &str, body: Json| send(&server, reqwest::Method::PUT, path, &erp, Some(body), None);
    // A new task with the office's notes (server-only) for the field.
    let (status, body) = put(
        "/v1/admin/records/tasks/t-office-1",
        json!({"fields": {"project_id": "p-harbor", "title": "Check the fence gate",
                          "done": false, "internal_notes": "Gate code 4711"}}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 1);
    // A device pulls it, without the server-only field.
    let pages = api.pull_all("demo-alice", "tasks", &["title"]);
    // Upserts are `[key, version, title]`.
    let row = pages
        .iter()
        .flat_map(|p| p.upserts.iter())
        .find(|r| r[0] == "t-office-1")
        .expect("alice pulls the office's task");
    assert_eq!(row[2], json!("Check the fence gate"));
    let (status, _) = api.post(
        "/v1/pull",
        Some("demo-alice"),
        &json!({"entity": "tasks", "limit": 10, "fields": ["internal_notes"]}),
    );
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "devices never see server-only fields"
    );
    // The feed names the service as the author.
    let (_, feed) = changes(&server.url(), &erp, "entity=tasks&limit=1000");
    let last = feed["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["key"] == "t-office-1")
        .expect("in the feed")
        .clone();
    assert_eq!(last["author"], "erp");
    assert_eq!(last["client_id"], Json::Null);
    assert_eq!(last["op"], "insert");

    // A read-only entity: the office renames its project.
    let (status, body) = put(
        "/v1/admin/records/projects/p-harbor",
        json!({"fields": {"name": "Harbor pump station (phase 2)"}}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");

    // Version-checked: a stale if_version is 409 with the current version, nothing applied.
    let (status, body) = send(
        &server,
        reqwest::Method::PATCH,
        "/v1/admin/records/tasks/t-office-1",
        &erp,
        Some(json!({"fields": {"title": "Stale"}, "if_version": 7})),
        None,
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error(&body, "version_conflict");
    assert_eq!(body["error"]["current_version"], 1);
    let (status, body) = send(
        &server,
        reqwest::Method::PATCH,
        "/v1/admin/records/tasks/t-office-1",
        &erp,
        Some(json!({"fields": {"title": "Check the fence gate and lock"}, "if_version": 1})),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    // Create-only: if_version 0 on an existing record is a conflict.
    let (status, _) = put(
        "/v1/admin/records/tasks/t-office-1",
        json!({"fields": {"title": "Again"}, "if_version": 0}),
    );
    assert_eq!(status, StatusCode::CONFLICT);

    // Refusals: outside its scopes (creating there, or moving a task there), a patch of
    // nothing, an unknown field, a wrong type, a device's token.
    let (status, body) = put(
        "/v1/admin/records/tasks/t-office-2",
        json!({"fields": {"project_id": "p-depot", "title": "Not ours", "done": false}}),
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = put(
        "/v1/admin/records/tasks/t-office-1",
        json!({"fields": {"project_id": "p-depot"}}),
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = send(
        &server,
        reqwest::Method::PATCH,
        "/v1/admin/records/tasks/t-none",
        &erp,
        Some(json!({"fields": {"title": "x"}})),
        None,
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = put(
        "/v1/admin/records/tasks/t-office-1",
        json!({"fields": {"colour": "red"}}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "unknown_field");
    let (status, body) = put(
        "/v1/admin/records/tasks/t-office-1",
        json!({"fields": {"done": "yes"}}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "invalid_value");
    let (status, _) = send(
        &server,
        reqwest::Method::PUT,
        "/v1/admin/records/tasks/t-office-1",
        "demo-alice",
        Some(json!({"fields": {"title": "Mine"}})),
        None,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Delete: a tombstone the devices pull.
    let (status, body) = send(
        &server,
        reqwest::Method::DELETE,
        "/v1/admin/records/tasks/t-office-1?if_version=2",
        &erp,
        None,
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted"], true);
    let pages = api.pull_all("demo-alice", "tasks", &["title"]);
    assert!(common::tombstone_keys(&pages).contains(&"t-office-1".to_string()));

    // A read-only service writes nothing.
    let audit = server
        .store()
        .add_service(&Service {
            name: "audit".into(),
            scopes: vec![],
            all_scopes: true,
            read_only: true,
        })
        .expect("audit");
    let (status, _) = send(
        &server,
        reqwest::Method::PUT,
        "/v1/admin/records/tasks/t-office-3",
        &audit,
        Some(json!({"fields": {"project_id": "p-harbor", "title": "x", "done": false}})),
        None,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[test]
fn a_services_write_meets_a_devices_pending_edit_as_another_devices_would() {
    let server = TestServer::with_demo();
    let api = common::Api::new(&server);
    let erp = service(&server, "erp", &["p-harbor"], false);
    let version = server
        .store()
        .get_record("tasks", "t-harbor-2")
        .expect("get")
        .expect("exists")
        .version;
    // The office retitles the task the phone is editing offline.
    let (status, _) = send(
        &server,
        reqwest::Method::PATCH,
        "/v1/admin/records/tasks/t-harbor-2",
        &erp,
        Some(json!({"fields": {"title": "Office title"}})),
        None,
    );
    assert_eq!(status, StatusCode::OK);
    let resp = api.push(
        "demo-alice",
        "alice-phone",
        json!([{"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": "t-harbor-2",
                "op": "update", "fields": {"title": "Phone title"}, "base_version": version,
                "on_conflict": "report"}]),
    );
    assert_eq!(
        common::outcome(&resp, 0)["status"],
        "conflict",
        "{:?}",
        resp.results
    );
}

#[test]
fn a_batch_is_all_or_nothing_and_idempotent_under_its_key() {
    let server = TestServer::with_demo();
    let erp = service(&server, "erp", &["p-harbor"], false);
    let task = |key: &str, title: &str| {
        json!({"op": "upsert", "entity": "tasks", "key": key,
               "fields": {"project_id": "p-harbor", "title": title, "done": false}})
    };
    let count = || server.store().count_records("tasks").expect("count");
    let before = count();
    // The third operation fails: nothing of the batch is applied.
    let (status, body) = send(
        &server,
        reqwest::Method::POST,
        "/v1/admin/batch",
        &erp,
        Some(
            json!({"operations": [task("t-b-1", "One"), task("t-b-2", "Two"),
            {"op": "patch", "entity": "tasks", "key": "t-missing", "fields": {"title": "x"}}]}),
        ),
        None,
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("operation 2:")));
    assert_eq!(count(), before, "nothing applied");

    // Twice with the same key: one write, the same answer.
    let ops = json!({"operations": [task("t-b-1", "One"), task("t-b-2", "Two"),
        {"op": "patch", "entity": "tasks", "key": "t-b-1", "fields": {"done": true}}]});
    let first = send(
        &server,
        reqwest::Method::POST,
        "/v1/admin/batch",
        &erp,
        Some(ops.clone()),
        Some("import-2026-12-07"),
    );
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(first.1["results"][2]["version"], 2);
    let again = send(
        &server,
        reqwest::Method::POST,
        "/v1/admin/batch",
        &erp,
        Some(ops),
        Some("import-2026-12-07"),
    );
    assert_eq!(again, first);
    assert_eq!(count(), before + 2);
    let t1 = server
        .store()
        .get_record("tasks", "t-b-1")
        .expect("get")
        .expect("t-b-1");
    assert_eq!(t1.version, 2, "applied once");
    // The same key with another request is refused.
    let (status, body) = send(
        &server,
        reqwest::Method::POST,
        "/v1/admin/batch",
        &erp,
        Some(json!({"operations": [task("t-b-3", "Three")]})),
        Some("import-2026-12-07"),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error(&body, "idempotency_key_reused");
    // At most 1,000 operations.
    let many: Vec<Json> = (0..1001)
        .map(|i| task(&format!("t-many-{i}"), "x"))
        .collect();
    let (status, _) = send(
        &server,
        reqwest::Method::POST,
        "/v1/admin/batch",
        &erp,
        Some(json!({"operations": many})),
        None,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn a_backend_provisions_a_team_over_http_without_the_command_line() {
    let server = TestServer::with_demo();
    let api = common::Api::new(&server);
    let admin = service(&server, "provisioning", &[], true);
    let harbor_only = service(&server, "harbor-desk", &["p-harbor"], false);
    let call = |method: reqwest::Method, path: &str, token: &str, body: Option<Json>| {
        send(&server, method, path, token, body, None)
    };
    use reqwest::Method;
    // A scope, a user, a membership, a device token: the team's phone syncs the scope.
    let (status, body) = call(
        Method::PUT,
        "/v1/admin/scopes/p-lab",
        &admin,
        Some(json!({"name": "Lab"})),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        Method::POST,
        "/v1/admin/users",
        &admin,
        Some(json!({"id": "dana"})),
    );
    assert_eq!(
        (status, body["created"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    let (status, body) = call(
        Method::PUT,
        "/v1/admin/scopes/p-lab/members/dana",
        &admin,
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        Method::POST,
        "/v1/admin/users/dana/tokens",
        &admin,
        Some(json!({"ttl_days": 90})),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("a token").to_string();
    assert_eq!(api.me(Some(&token)).1["user_id"], "dana");
    let pages = api.pull_all(&token, "projects", &["name"]);
    assert!(common::upsert_keys(&pages).contains(&"p-lab".to_string()));
    let (_, users) = call(Method::GET, "/v1/admin/users", &admin, None);
    assert!(users["users"]
        .as_array()
        .expect("users")
        .iter()
        .any(|u| u["id"] == "dana"));

    // A service with some scopes manages their memberships only, and nothing deployment-wide.
    let (status, _) = call(
        Method::PUT,
        "/v1/admin/scopes/p-harbor/members/dana",
        &harbor_only,
        None,
    );
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        Method::PUT,
        "/v1/admin/scopes/p-lab/members/alice",
        &harbor_only,
        None,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        Method::POST,
        "/v1/admin/users",
        &harbor_only,
        Some(json!({"id": "eve"})),
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        Method::POST,
        "/v1/admin/users/nobody/tokens",
        &admin,
        Some(json!({})),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A user may not take a service's name.
    let (status, _) = call(
        Method::POST,
        "/v1/admin/users",
        &admin,
        Some(json!({"id": "harbor-desk"})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Membership removed: dana's next pull takes p-harbor's records away; revoked: 401.
    let (status, body) = call(
        Method::DELETE,
        "/v1/admin/scopes/p-harbor/members/dana",
        &admin,
        None,
    );
    assert_eq!(
        (status, body["changed"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    let (status, body) = call(
        Method::POST,
        "/v1/admin/tokens/revoke",
        &admin,
        Some(json!({"token": token})),
    );
    assert_eq!(
        (status, body["revoked"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
    assert_eq!(api.me(Some(&token)).0, StatusCode::UNAUTHORIZED);
}

#[test]
fn services_and_the_webhook_are_managed_over_http_too() {
    use reqwest::Method;
    let server = TestServer::with_demo();
    let admin = service(&server, "provisioning", &[], true);
    let harbor_only = service(&server, "harbor-desk", &["p-harbor"], false);
    let call = |method: Method, path: &str, token: &str, body: Option<Json>| {
        send(&server, method, path, token, body, None)
    };
    // A new service, its token in the answer, and it works.
    let (status, body) = call(
        Method::POST,
        "/v1/admin/services",
        &admin,
        Some(json!({"name": "erp", "scopes": ["p-harbor"]})),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let erp = body["token"].as_str().expect("a token").to_string();
    assert_eq!(
        get(&server, "/v1/admin/records/tasks/t-harbor-1", Some(&erp)).0,
        StatusCode::OK
    );
    let (_, list) = call(Method::GET, "/v1/admin/services", &admin, None);
    let names: Vec<&str> = list["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, vec!["erp", "harbor-desk", "provisioning"]);
    // Only a service with every scope manages services; a taken name is refused.
    let (status, _) = call(
        Method::POST,
        "/v1/admin/services",
        &harbor_only,
        Some(json!({"name": "x", "all_scopes": true})),
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(
        Method::POST,
        "/v1/admin/services",
        &admin,
        Some(json!({"name": "erp", "scopes": ["p-harbor"]})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The webhook: not running here; a replay sets where it would resume.
    let (status, body) = call(Method::GET, "/v1/admin/webhook", &admin, None);
    assert_eq!(
        (status, body["running"].clone()),
        (StatusCode::OK, json!(false)),
        "{body}"
    );
    let (status, _) = call(
        Method::POST,
        "/v1/admin/webhook/replay",
        &admin,
        Some(json!({"from": 3})),
    );
    assert_eq!(status, StatusCode::OK);
    let (_, body) = call(Method::GET, "/v1/admin/webhook", &admin, None);
    assert_eq!(body["cursor"], "3", "{body}");
    assert!(
        body["lag_positions"].as_i64().is_some_and(|n| n > 0),
        "{body}"
    );
    let (status, _) = call(
        Method::POST,
        "/v1/admin/webhook/replay",
        &admin,
        Some(json!({"from": -1})),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A batch is written a chunk of rows per statement (`bulk_rows.rs`), except keys written twice
/// and records moving scope, which go one by one: all of them end as if written in order, and
/// devices pull exactly that.
#[test]
fn a_large_batch_of_new_existing_repeated_moving_and_deleted_records_lands_as_written_in_order() {
    let server = TestServer::with_demo();
    let erp = service(&server, "erp", &[], true);
    let api = common::Api::new(&server);
    let task = |key: String, title: &str, project: &str| {
        json!({"op": "upsert", "entity": "tasks", "key": key,
               "fields": {"project_id": project, "title": title, "done": false}})
    };
    let batch = |ops: Vec<Json>| {
        let (status, body) = send(
            &server,
            reqwest::Method::POST,
            "/v1/admin/batch",
            &erp,
            Some(json!({ "operations": ops })),
            None,
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    // 150 new records: two full chunks and a tail.
    batch(
        (0..150)
            .map(|i| task(format!("t-big-{i}"), "New", "p-harbor"))
            .collect(),
    );
    let cursor = api
        .pull_all("demo-alice", "tasks", &["title"])
        .last()
        .map(|p| p.cursor.clone());

    let mut ops: Vec<Json> = (0..100)
        .map(|i| task(format!("t-big-{i}"), "Edited", "p-harbor"))
        .collect();
    ops.push(task("t-big-100".into(), "Moved", "p-ridge"));
    ops.push(task("t-big-101".into(), "Twice", "p-harbor"));
    ops.push(
        json!({"op": "patch", "entity": "tasks", "key": "t-big-101", "fields": {"done": true}}),
    );
    ops.push(json!({"op": "delete", "entity": "tasks", "key": "t-big-102"}));
    ops.extend((200..246).map(|i| task(format!("t-big-{i}"), "Also new", "p-harbor")));
    let body = batch(ops);
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 150);
    assert_eq!(results[0]["version"], 2);
    assert_eq!(results[101]["version"], 2, "the first write of t-big-101");
    assert_eq!(results[102]["version"], 3, "the second sees the first");
    assert_eq!(results[103]["deleted"], true);
    assert_eq!(results[104]["version"], 1);

    let stored = |key: &str| {
        server
            .store()
            .get_record("tasks", key)
            .expect("get")
            .expect(key)
    };
    assert_eq!(stored("t-big-0").fields["title"], json!("Edited"));
    assert_eq!(stored("t-big-100").scope, "p-ridge");
    let twice = stored("t-big-101");
    assert_eq!(
        (
            twice.version,
            twice.fields["title"].clone(),
            twice.fields["done"].clone()
        ),
        (3, json!("Twice"), json!(true))
    );
    assert!(stored("t-big-102").deleted);
    assert_eq!(stored("t-big-245").version, 1);
    // Every record of the batch has its own position.
    let mut positions: Vec<i64> = (0..150)
        .map(|i| format!("t-big-{i}"))
        .chain((200..246).map(|i| format!("t-big-{i}")))
        .map(|k| stored(&k).position)
        .collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), 196);

    // Alice (p-harbor) pulls the edits and the new ones, and the moved and the deleted record
    // as tombstones; carol (p-ridge) gets the moved one.
    let pages = api.pull_from("demo-alice", "tasks", cursor.as_deref(), &["title"]);
    let upserts = common::upsert_keys(&pages);
    let tombstones = common::tombstone_keys(&pages);
    assert_eq!(
        upserts.iter().filter(|k| k.starts_with("t-big-")).count(),
        100 + 1 + 46
    );
    assert!(
        tombstones.contains(&"t-big-100".to_string()),
        "{tombstones:?}"
    );
    assert!(
        tombstones.contains(&"t-big-102".to_string()),
        "{tombstones:?}"
    );
    let carol = common::upsert_keys(&api.pull_all("demo-carol", "tasks", &["title"]));
    assert!(carol.contains(&"t-big-100".to_string()));
}

/// A record that moves to a scope the consumer does not see leaves its feed as `moved_out`
/// (as a device's pull gets a tombstone), and comes back as an update when it returns; a
/// consumer that sees both scopes sees a plain update.
#[test]
fn a_record_moving_out_of_the_consumers_scopes_is_reported_as_moved_out() {
    let server = TestServer::with_demo();
    let harbor_only = service(&server, "erp", &["p-harbor"], false);
    let everything = service(&server, "audit", &[], true);
    let start = |token: &str, query: &str| {
        let (status, page) = changes(&server.url(), token, query);
        assert_eq!(status, StatusCode::OK, "{page}");
        page["cursor"].as_str().expect("cursor").to_string()
    };
    let (from_erp, from_audit) = (
        start(&harbor_only, ""),
        start(&everything, "scope=p-harbor"),
    );
    let all_from = start(&everything, "");
    let move_to = |project: &str| {
        server
            .store()
            .upsert_record(
                "tasks",
                "t-harbor-2",
                json!({ "project_id": project })
                    .as_object()
                    .expect("fields"),
            )
            .expect("move")
    };
    let version = move_to("p-depot");
    for (token, query) in [
        (&harbor_only, format!("after={from_erp}")),
        (&everything, format!("after={from_audit}&scope=p-harbor")),
    ] {
        let (status, page) = changes(&server.url(), token, &query);
        assert_eq!(status, StatusCode::OK, "{page}");
        let moved = &page["changes"][0];
        assert_eq!(moved["op"], json!("moved_out"), "{page}");
        assert_eq!(moved["key"], json!("t-harbor-2"));
        assert_eq!(moved["scope"], json!("p-harbor"), "the scope it left");
        assert_eq!(moved["version"], json!(version));
        assert_eq!(moved["fields"], json!({}), "nothing of where it went");
        assert_eq!(page["changes"].as_array().map(Vec::len), Some(1), "{page}");
    }
    // Seen from everywhere it is an update in its new scope.
    let (_, page) = changes(&server.url(), &everything, &format!("after={all_from}"));
    assert_eq!(page["changes"][0]["op"], json!("update"), "{page}");
    assert_eq!(page["changes"][0]["scope"], json!("p-depot"));
    // Back in p-harbor: an update again, and no stale moved_out after it.
    let cursor = start(&harbor_only, &format!("after={from_erp}"));
    move_to("p-harbor");
    let (_, page) = changes(&server.url(), &harbor_only, &format!("after={cursor}"));
    let ops: Vec<&Json> = page["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| &c["op"])
        .collect();
    assert_eq!(ops, [&json!("update")], "{page}");
    let (_, page) = changes(&server.url(), &harbor_only, &format!("after={from_erp}"));
    let ops: Vec<&Json> = page["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| &c["op"])
        .collect();
    assert_eq!(
        ops,
        [&json!("update")],
        "from before the move: only its latest state, {page}"
    );
}
