//! Operations, against a real server on loopback with a real SQLite file: the health probe, the
//! metrics page, request ids, the rate limits, the cap on concurrent pulls and graceful
//! shutdown.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use common::{assert_error, Api};
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::{json, Map, Value as Json};
use syncline_protocol::PullPage;
use syncline_server::testing::bulk_insert;
use syncline_server::testing::TestServer;
use syncline_server::{Limits, ServerOptions};

fn raw_client() -> Client {
    Client::builder().no_gzip().build().expect("client")
}

/// The samples of a metrics page: `name{labels}` → value.
fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let resp = raw_client()
        .get(format!("{}/metrics", server.url()))
        .send()
        .expect("metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")));
    parse_metrics(&resp.text().expect("text"))
}

fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// How much a series grew between two scrapes (absent counts as 0).
fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn options(f: impl FnOnce(&mut Limits)) -> ServerOptions {
    let mut options = ServerOptions::default();
    f(&mut options.limits);
    options
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Fills alice's and bob's project with 5,000 tasks of 10 KB notes: a page of them (50 MB,
/// uncompressed) is far more than the socket buffers and the server's chunk queue hold, so a
/// client that does not read keeps its pull in flight.
fn insert_big_tasks(server: &TestServer) {
    let notes = "n".repeat(10 * 1024);
    let rows = (0..5000).map(|i| {
        let mut f = Map::new();
        f.insert("project_id".into(), json!("p-harbor"));
        f.insert("title".into(), json!(format!("Big {i}")));
        f.insert("notes".into(), json!(notes));
        (format!("t-big-{i:05}"), f)
    });
    assert_eq!(
        bulk_insert(server.store(), "tasks", rows).expect("bulk"),
        5000
    );
}

/// Starts a pull of a full page of notes and returns once the answer's head arrived, without
/// reading its body.
fn start_big_pull(server: &TestServer, token: &str) -> Response {
    let resp = raw_client()
        .post(format!("{}/v1/pull", server.url()))
        .bearer_auth(token)
        .json(&json!({"entity": "tasks", "limit": 5000, "fields": ["notes"]}))
        .send()
        .expect("pull");
    assert_eq!(resp.status(), StatusCode::OK);
    resp
}

/// Reads a started pull to its end; returns its rows.
fn finish_pull(mut resp: Response) -> usize {
    let mut body = Vec::new();
    resp.read_to_end(&mut body).expect("the whole page");
    let page: PullPage = serde_json::from_slice(&body).expect("a page");
    page.upserts.len() + page.tombstones.len()
}

#[test]
fn healthz_checks_the_database() {
    let server = TestServer::start();
    let healthz = || {
        let resp = raw_client()
            .get(format!("{}/healthz", server.url()))
            .send()
            .expect("healthz");
        let status = resp.status();
        (status, resp.json::<Json>().expect("json"))
    };
    assert_eq!(
        healthz(),
        (StatusCode::OK, json!({"status": "ok", "database": "ok"})),
        "no token needed"
    );

    // The table the check reads goes away under the server: unavailable, with the reason.
    server
        .execute_sql("ALTER TABLE counters RENAME TO counters_away")
        .expect("rename");
    let (status, body) = healthz();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    let reason = body["database"].as_str().expect("a reason");
    assert!(reason.contains("counters"), "{reason}");

    server
        .execute_sql("ALTER TABLE counters_away RENAME TO counters")
        .expect("rename back");
    assert_eq!(healthz().0, StatusCode::OK, "ready again");
}

#[test]
fn metrics_count_requests_rows_conflicts_rejections_and_auth_failures() {
    let server = TestServer::with_demo();
    let other = TestServer::with_demo();
    let api = Api::new(&server);
    // Someone edits two tasks on the server, so bob's edits made on version 1 meet newer ones.
    for key in ["t-harbor-2", "t-harbor-3"] {
        let mut fields = Map::new();
        fields.insert("notes".into(), json!("server notes"));
        server
            .store()
            .upsert_record("tasks", key, &fields)
            .expect("edit");
    }
    let before = scrape(&server);

    let answer = api.push(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": "t-new", "op": "insert",
             "fields": {"project_id": "p-harbor", "title": "New"}, "base_version": null},
            {"mutation_id": "m2", "seq": 2, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"title": "Mine"}, "base_version": 1, "on_conflict": "report"},
            {"mutation_id": "m3", "seq": 3, "entity": "tasks", "key": "t-harbor-3", "op": "update",
             "fields": {"title": "Mine"}, "base_version": 1, "on_conflict": "overwrite"},
            {"mutation_id": "m4", "seq": 4, "entity": "tasks", "key": "t-nowhere", "op": "update",
             "fields": {"title": "Lost"}, "base_version": 1},
        ]),
    );
    let statuses: Vec<Json> = answer
        .results
        .iter()
        .map(|r| serde_json::to_value(r).expect("json")["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![
            json!("applied"),
            json!("conflict"),
            json!("applied"),
            json!("rejected")
        ]
    );
    let page = api.pull("demo-alice", "tasks", None, 1000, &["title"]);
    let pulled = (page.upserts.len() + page.tombstones.len()) as f64;
    assert!(
        pulled >= 5.0,
        "alice sees the harbour tasks and the new one"
    );
    let (status, body) = api.me(Some("not-a-token"));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let after = scrape(&server);
    let d = |series: &str| delta(&before, &after, series);
    assert_eq!(
        d(r#"syncline_http_requests_total{route="/v1/push",status="200"}"#),
        1.0
    );
    assert_eq!(
        d(r#"syncline_http_requests_total{route="/v1/pull",status="200"}"#),
        1.0
    );
    assert_eq!(
        d(r#"syncline_http_requests_total{route="/v1/me",status="401"}"#),
        1.0
    );
    assert_eq!(
        d("syncline_rows_pushed_total"),
        2.0,
        "the insert and the overwrite"
    );
    assert_eq!(
        d(r#"syncline_push_conflicts_total{resolution="reported"}"#),
        1.0
    );
    assert_eq!(
        d(r#"syncline_push_conflicts_total{resolution="overwritten"}"#),
        1.0
    );
    assert_eq!(
        d(r#"syncline_push_rejections_total{code="not_found"}"#),
        1.0
    );
    assert_eq!(d(r#"syncline_rows_pulled_total{entity="tasks"}"#), pulled);
    assert_eq!(
        d(r#"syncline_auth_failures_total{code="unauthorized"}"#),
        1.0
    );
    assert_eq!(d(r#"syncline_http_errors_total{code="unauthorized"}"#), 1.0);
    // The pull's latency: one observation, in the +Inf bucket and in the sum.
    assert_eq!(
        d(r#"syncline_http_request_duration_seconds_count{route="/v1/pull"}"#),
        1.0
    );
    assert_eq!(
        d(r#"syncline_http_request_duration_seconds_bucket{route="/v1/pull",le="+Inf"}"#),
        1.0
    );
    assert!(d(r#"syncline_http_request_duration_seconds_sum{route="/v1/pull"}"#) > 0.0);
    assert!(after.contains_key(
        r#"syncline_http_request_duration_seconds_bucket{route="/v1/pull",le="0.001"}"#
    ));
    // The scrape before this one was counted too: the page's own route is a label.
    assert!(d(r#"syncline_http_requests_total{route="/metrics",status="200"}"#) >= 1.0);
    // An unknown path is one label, not one per path.
    let resp = raw_client()
        .get(format!("{}/no/such/path-123", server.url()))
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let later = scrape(&server);
    assert_eq!(
        delta(
            &after,
            &later,
            r#"syncline_http_requests_total{route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert!(!later.keys().any(|k| k.contains("path-123")));

    // Servers count apart: the other one saw none of this.
    let theirs = scrape(&other);
    assert_eq!(theirs.get("syncline_rows_pushed_total"), Some(&0.0));
    assert!(!theirs.contains_key(r#"syncline_rows_pulled_total{entity="tasks"}"#));
}

#[test]
fn a_metrics_token_protects_the_metrics() {
    let server = TestServer::with_demo_options(ServerOptions {
        metrics_token: Some("scrape-me".into()),
        ..ServerOptions::default()
    });
    let url = format!("{}/metrics", server.url());
    for token in [None, Some("wrong"), Some("demo-alice")] {
        let mut req = raw_client().get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().expect("metrics");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert_error(&resp.json().expect("json"), "unauthorized");
    }
    let resp = raw_client()
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .expect("metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    let samples = parse_metrics(&resp.text().expect("text"));
    assert_eq!(
        samples.get(r#"syncline_auth_failures_total{code="unauthorized"}"#),
        Some(&3.0)
    );
}

#[test]
fn request_ids_are_echoed_kept_when_sane_and_in_error_bodies() {
    let server = TestServer::with_demo();
    let me = |id: Option<&str>, token: &str| {
        let mut req = raw_client()
            .get(format!("{}/v1/me", server.url()))
            .bearer_auth(token);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send().expect("me")
    };

    // None sent: a fresh UUID, a different one each time.
    let a = me(None, "demo-alice");
    let b = me(None, "demo-alice");
    assert_eq!(a.status(), StatusCode::OK);
    let id_a = header(&a, "x-request-id").expect("an id").to_string();
    let id_b = header(&b, "x-request-id").expect("an id").to_string();
    assert!(uuid::Uuid::parse_str(&id_a).is_ok(), "{id_a}");
    assert_ne!(id_a, id_b);

    // A sane one is kept.
    let sane = "Trace-42_a.b";
    let resp = me(Some(sane), "demo-alice");
    assert_eq!(header(&resp, "x-request-id"), Some(sane));

    // Insane ones are replaced by a UUID.
    let long = "a".repeat(65);
    for insane in ["has space", "semi;colon", long.as_str(), "a\tb"] {
        let resp = me(Some(insane), "demo-alice");
        let id = header(&resp, "x-request-id").expect("an id");
        assert_ne!(id, insane);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{insane:?} became {id}");
    }

    // Error bodies carry the id: from a handler (401), from the router (404, 405), with
    // the client's id or a made one.
    let resp = me(Some("err-1"), "nope");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Json = resp.json().expect("json");
    assert_error(&body, "unauthorized");
    assert_eq!(body["error"]["request_id"], "err-1");

    let resp = raw_client()
        .get(format!("{}/v1/push", server.url()))
        .header("x-request-id", "err-2")
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&resp, "x-request-id"), Some("err-2"));
    let body: Json = resp.json().expect("json");
    assert_eq!(body["error"]["request_id"], "err-2", "{body}");

    let resp = raw_client()
        .post(format!("{}/v1/nothing", server.url()))
        .send()
        .expect("request");
    let id = header(&resp, "x-request-id").expect("an id").to_string();
    let body: Json = resp.json().expect("json");
    assert_error(&body, "not_found");
    assert_eq!(body["error"]["request_id"], json!(id));
}

#[test]
fn a_user_over_the_rate_gets_429_with_retry_after_and_continues_after_waiting() {
    let server = TestServer::with_demo_options(options(|l| {
        l.rate_per_user = NonZeroU32::new(1);
        l.rate_burst = NonZeroU32::new(2).expect("burst");
    }));
    let api = Api::new(&server);
    // The burst of 2 passes (a third may too on a slow machine, a second after the first).
    let mut passed = 0;
    let resp = loop {
        let resp = raw_client()
            .get(format!("{}/v1/me", server.url()))
            .bearer_auth("demo-alice")
            .send()
            .expect("me");
        if resp.status() != StatusCode::OK {
            break resp;
        }
        passed += 1;
        assert!(passed <= 3, "the rate is never enforced");
    };
    assert!(passed >= 2, "the burst was not granted: {passed}");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = header(&resp, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert_eq!(wait, 1, "one request per second");
    let body: Json = resp.json().expect("json");
    assert_error(&body, "rate_limited");
    assert!(body["error"]["request_id"].is_string(), "{body}");
    // Pulls and pushes draw from the same bucket.
    let (status, body) = api.post(
        "/v1/pull",
        Some("demo-alice"),
        &json!({"entity": "tasks", "limit": 10, "fields": ["title"]}),
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Another user has their own bucket.
    assert_eq!(api.me(Some("demo-bob")).0, StatusCode::OK);

    std::thread::sleep(Duration::from_secs(wait));
    let (status, body) = api.me(Some("demo-alice"));
    assert_eq!(status, StatusCode::OK, "after waiting: {body}");
    assert_eq!(body["user_id"], "alice");
}

#[test]
fn an_address_that_keeps_failing_is_slowed_and_a_good_token_from_it_still_works() {
    let server = TestServer::with_demo_options(options(|l| {
        l.auth_failures_per_minute = NonZeroU32::new(3);
    }));
    let api = Api::new(&server);
    // The budget: 3 failures, and the 4th that finds it empty is still answered 401.
    for i in 0..4 {
        let (status, body) = api.me(Some(&format!("guess-{i}")));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}: {body}");
    }
    // A right token from the same address (another phone behind the office's NAT) is served.
    let (status, body) = api.me(Some("demo-alice"));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], "alice");
    // Another failure from it is slowed: 429 with when to try again (3 a minute: about 20 s).
    let resp = raw_client()
        .get(format!("{}/v1/me", server.url()))
        .bearer_auth("guess-again")
        .send()
        .expect("me");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = header(&resp, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((15..=20).contains(&wait), "{wait}");
    assert_error(&resp.json().expect("json"), "rate_limited");
    // And the good token still works while the address is slowed.
    assert_eq!(api.me(Some("demo-bob")).0, StatusCode::OK);
    // No header at all is a failure too.
    assert_eq!(api.me(None).0, StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn pulls_over_the_cap_get_503_busy_with_retry_after() {
    let wait = Duration::from_millis(300);
    let server = TestServer::with_demo_options(options(|l| {
        l.max_concurrent_pulls = 1;
        l.pull_wait = wait;
    }));
    insert_big_tasks(&server);
    let api = Api::new(&server);

    // alice's pull holds the only permit while she does not read its page.
    let held = start_big_pull(&server, "demo-alice");
    assert_eq!(scrape(&server).get("syncline_pulls_in_flight"), Some(&1.0));
    let started = Instant::now();
    let resp = raw_client()
        .post(format!("{}/v1/pull", server.url()))
        .bearer_auth("demo-bob")
        .json(&json!({"entity": "tasks", "limit": 10, "fields": ["title"]}))
        .send()
        .expect("pull");
    assert!(started.elapsed() >= wait, "it waited for a permit first");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "retry-after"), Some("2"));
    let body: Json = resp.json().expect("json");
    assert_error(&body, "busy");
    assert!(body["error"]["request_id"].is_string(), "{body}");
    // Other requests are not capped.
    assert_eq!(api.me(Some("demo-bob")).0, StatusCode::OK);

    // Once alice's page is through, the permit is back.
    assert_eq!(finish_pull(held), 5000);
    let page = api.pull("demo-bob", "tasks", None, 10, &["title"]);
    assert_eq!(page.upserts.len(), 10);
    assert_eq!(scrape(&server).get("syncline_pulls_in_flight"), Some(&0.0));
}

#[test]
fn a_pull_in_flight_at_shutdown_completes() {
    let server = TestServer::with_demo();
    insert_big_tasks(&server);
    let addr = server.addr();
    let in_flight = start_big_pull(&server, "demo-alice");

    // Shut down while the page is being sent.
    let stopper = std::thread::spawn(move || {
        let mut server = server;
        server.stop();
        server
    });
    // Generous: it only bounds how long a failure takes to show (a loaded machine may take a
    // while to get to the shutdown).
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(finish_pull(in_flight), 5000, "the whole page arrived");
    let server = stopper.join().expect("stopped");
    assert!(!server.is_running());
}

#[test]
fn a_pull_still_in_flight_after_the_grace_is_cut() {
    let server = TestServer::with_demo_options(ServerOptions {
        shutdown_grace: Duration::ZERO,
        ..ServerOptions::default()
    });
    insert_big_tasks(&server);
    let mut in_flight = start_big_pull(&server, "demo-alice");
    let stopper = std::thread::spawn(move || {
        let mut server = server;
        server.stop();
    });
    stopper.join().expect("stopped");
    // The server is gone; what it had not sent of the page never comes.
    let mut body = Vec::new();
    let read = in_flight.read_to_end(&mut body);
    assert!(
        read.is_err() || serde_json::from_slice::<PullPage>(&body).is_err(),
        "the page was cut ({} bytes)",
        body.len()
    );
    assert!(body.len() < 5000 * 10 * 1024);
}
