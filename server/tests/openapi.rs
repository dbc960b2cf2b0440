//! The OpenAPI document (`docs/openapi.json`, served at `GET /v1/openapi.json`) against the
//! server it describes: the committed file is what the code generates, every route the router
//! serves is documented with the methods it answers and nothing else, and real answers of the
//! running server match the schemas the document gives them.

mod common;

use std::collections::BTreeSet;

use common::Api;
use reqwest::blocking::Client;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};
use syncline_server::testing::TestServer;
use syncline_server::{openapi_json, route_paths, Service, OPENAPI_PATH};

/// What regenerates the committed document.
const REGENERATE: &str = "cargo run -p syncline-server -- openapi > docs/openapi.json";

/// The methods probed on every path.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

fn generated() -> String {
    openapi_json().expect("the document serializes")
}

fn document() -> Json {
    serde_json::from_str(&generated()).expect("the document is JSON")
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let path = committed_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = generated();
    if committed == generated {
        return;
    }
    // Where they part, so the failure says what drifted without printing 80 KB.
    let first = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
    panic!(
        "docs/openapi.json is not the document the code generates (first difference at line \
         {}:\n  committed: {:?}\n  generated: {:?}).\nA route, a parameter or a body type \
         changed: regenerate it with\n\n    {REGENERATE}\n\nand commit it with the change.",
        first + 1,
        committed.lines().nth(first).unwrap_or("<end of file>"),
        generated.lines().nth(first).unwrap_or("<end of file>"),
    );
}

/// Every `$ref` string under `value`.
fn refs<'a>(value: &'a Json, out: &mut Vec<&'a str>) {
    match value {
        Json::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Json::as_str) {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Json::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_with_a_token_on_every_v1_route() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("a local $ref");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let tags = &operation["tags"];
            assert_eq!(tags.as_array().map(Vec::len), Some(1), "{method} {path}");
            let tag = tags[0].as_str().expect("a tag");
            let schemes: BTreeSet<&str> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Json::as_object)
                .flat_map(|r| r.keys().map(String::as_str))
                .collect();
            // The project's rule: every `/v1/` request is authenticated, the kind of token by
            // the route's tag.
            let expected: &[&str] = match (tag, path.as_str()) {
                // An attachment is read by devices and by the office alike.
                ("device", "/v1/blobs/{sha256}") => &["device_token", "service_token"],
                ("device", _) => &["device_token"],
                ("backend", _) => &["service_token"],
                ("ops", "/v1/openapi.json") => &["device_token", "service_token"],
                ("ops", "/metrics") => &["metrics_token"],
                ("ops", "/healthz") => &[],
                other => panic!("{method} {path}: unexpected tag and path {other:?}"),
            };
            assert_eq!(
                schemes,
                expected.iter().copied().collect(),
                "{method} {path}"
            );
            if path.starts_with("/v1/") {
                assert!(
                    operation["responses"]["401"].is_object(),
                    "{method} {path} documents no 401"
                );
            }
        }
    }
}

/// `path` with each `{name}` replaced by a value.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closing brace") + start;
        out.push('x');
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_documented_routes_are_exactly_the_served_ones() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let served: BTreeSet<String> = route_paths().into_iter().collect();
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented and not served"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "served and not documented: annotate the handler with #[utoipa::path] and list it in \
         http/openapi.rs, then {REGENERATE}"
    );

    // Each path answers exactly its documented methods: the router's own answers to the others
    // are 405, and to an unknown path its `no such endpoint`. No token is sent, so nothing runs
    // beyond the routing and the authentication (a 401 is a route that exists).
    let server = TestServer::start();
    let client = Client::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        let url = format!("{}{}", server.url(), concrete(path));
        for method in METHODS {
            let documented = operations.get(method.to_ascii_lowercase()).is_some();
            let resp = client
                .request(
                    Method::from_bytes(method.as_bytes()).expect("a method"),
                    &url,
                )
                .send()
                .expect("request");
            let status = resp.status();
            let body: Json = resp.json().unwrap_or(Json::Null);
            let no_such_endpoint =
                status == StatusCode::NOT_FOUND && body["error"]["message"] == "no such endpoint";
            if documented {
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED && !no_such_endpoint,
                    "{method} {path} is documented and the router answers {status} {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served and not documented: {body}"
                );
            }
        }
    }
    // The probe itself can tell: an unknown path is the router's 404.
    let resp = client
        .get(format!("{}/v1/nothing-here", server.url()))
        .send()
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[test]
fn the_served_document_is_the_generated_one_and_takes_a_token_of_either_kind() {
    let server = TestServer::with_demo();
    let service = server
        .store()
        .add_service(&Service {
            name: "erp".into(),
            scopes: vec![],
            all_scopes: true,
            read_only: true,
        })
        .expect("a service");
    let url = format!("{}{OPENAPI_PATH}", server.url());
    let client = Client::new();
    for token in ["demo-alice", service.as_str()] {
        let resp = client.get(&url).bearer_auth(token).send().expect("request");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{token}"
        );
        assert_eq!(resp.text().expect("a body"), generated());
    }
    for token in [None, Some("nobody's")] {
        let mut req = client.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().expect("request");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let body: Json = resp.json().expect("an error body");
        common::assert_error(&body, "unauthorized");
    }
}

// ---------------------------------------------------------------------------------------------
// Real answers against the document's schemas.

/// Checks real answers against a document's schemas: types, required and known properties
/// (an answer's property that its schema does not name is drift too, though JSON Schema would
/// let it through), `enum`, `oneOf` (exactly one), `allOf`, arrays with `items` and
/// `prefixItems`, numeric bounds. `pattern` and `format` are not checked.
struct Checker<'a> {
    doc: &'a Json,
}

impl Checker<'_> {
    fn resolve<'s>(&'s self, schema: &'s Json) -> &'s Json {
        let mut schema = schema;
        while let Some(reference) = schema.get("$ref").and_then(Json::as_str) {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            schema = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} does not resolve"));
        }
        schema
    }

    /// The problems of `value` at `at` against `schema`. `closed`: whether properties the
    /// schema does not name are problems here (not inside an `allOf` branch, which names only
    /// its share; the `allOf` checks the union).
    fn check(&self, value: &Json, schema: &Json, at: &str, closed: bool) -> Vec<String> {
        let schema = self.resolve(schema);
        if schema == &json!(true) || schema == &json!({}) {
            return vec![];
        }
        if schema == &json!(false) {
            return vec![format!("{at}: nothing is allowed here")];
        }
        let mut problems = Vec::new();
        if let Some(branches) = schema.get("allOf").and_then(Json::as_array) {
            for b in branches {
                problems.extend(self.check(value, b, at, false));
            }
            if closed {
                if let (Some(known), Some(object)) = (self.known(value, schema), value.as_object())
                {
                    for key in object.keys().filter(|k| !known.contains(*k)) {
                        problems.push(format!("{at}: `{key}` is not in the schema"));
                    }
                }
            }
        }
        if let Some(branches) = schema.get("oneOf").and_then(Json::as_array) {
            let passing = branches
                .iter()
                .filter(|b| self.check(value, b, at, closed).is_empty())
                .count();
            if passing != 1 {
                problems.push(format!(
                    "{at}: {passing} branches of oneOf match {value}, not 1"
                ));
            }
        }
        if let Some(branches) = schema.get("anyOf").and_then(Json::as_array) {
            if !branches
                .iter()
                .any(|b| self.check(value, b, at, closed).is_empty())
            {
                problems.push(format!("{at}: no branch of anyOf matches {value}"));
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Json::as_array) {
            if !allowed.contains(value) {
                problems.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Json::String(t) => vec![t.as_str()],
                Json::Array(ts) => ts.iter().filter_map(Json::as_str).collect(),
                _ => vec![],
            };
            let is = |t: &str| match t {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "string" => value.is_string(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => false,
            };
            if !types.iter().any(|t| is(t)) {
                problems.push(format!("{at}: {value} is not of type {types:?}"));
                return problems;
            }
        }
        if let Some(n) = value.as_f64() {
            if schema["minimum"].as_f64().is_some_and(|min| n < min) {
                problems.push(format!("{at}: {n} is below the minimum"));
            }
            if schema["maximum"].as_f64().is_some_and(|max| n > max) {
                problems.push(format!("{at}: {n} is above the maximum"));
            }
        }
        if let Some(object) = value.as_object() {
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().expect("a property name");
                if !object.contains_key(name) {
                    problems.push(format!("{at}: the required `{name}` is missing"));
                }
            }
            let properties = schema["properties"].as_object();
            for (key, v) in object {
                let here = format!("{at}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => problems.extend(self.check(v, s, &here, true)),
                    None => match schema.get("additionalProperties") {
                        Some(Json::Bool(false)) => {
                            problems.push(format!("{at}: `{key}` is not allowed"))
                        }
                        Some(s) => problems.extend(self.check(v, s, &here, true)),
                        // Only a schema that describes objects says which keys it knows.
                        None if closed && properties.is_some() => {
                            problems.push(format!("{at}: `{key}` is not in the schema"))
                        }
                        None => {}
                    },
                }
            }
        }
        if let Some(items) = value.as_array() {
            let prefix = schema["prefixItems"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            for (i, item) in items.iter().enumerate() {
                let here = format!("{at}[{i}]");
                match prefix.get(i) {
                    Some(s) => problems.extend(self.check(item, s, &here, true)),
                    None => {
                        if let Some(s) = schema.get("items") {
                            problems.extend(self.check(item, s, &here, true));
                        }
                    }
                }
            }
        }
        problems
    }

    /// The property names a schema knows for `value` (`None`: any), through `$ref`, `allOf`
    /// and the `oneOf`/`anyOf` branches that match it.
    fn known(&self, value: &Json, schema: &Json) -> Option<BTreeSet<String>> {
        let schema = self.resolve(schema);
        let mut names = BTreeSet::new();
        if let Some(p) = schema["properties"].as_object() {
            names.extend(p.keys().cloned());
        }
        if schema
            .get("additionalProperties")
            .is_some_and(|a| a != &json!(false))
        {
            return None;
        }
        for b in schema["allOf"].as_array().into_iter().flatten() {
            names.extend(self.known(value, b)?);
        }
        for key in ["oneOf", "anyOf"] {
            for b in schema[key].as_array().into_iter().flatten() {
                if self.check(value, b, "", false).is_empty() {
                    names.extend(self.known(value, b)?);
                }
            }
        }
        Some(names)
    }

    /// The schema of the JSON answer with `status` of `method path`.
    fn answer_schema(&self, method: &str, path: &str, status: u16) -> &Json {
        let answer =
            &self.doc["paths"][path][method.to_ascii_lowercase()]["responses"][status.to_string()];
        assert!(
            answer.is_object(),
            "the document has no {status} for {method} {path}"
        );
        let schema = &self.resolve(answer)["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "the {status} of {method} {path} has no JSON schema"
        );
        schema
    }

    /// Asserts that a real answer matches its documented schema.
    fn assert_answer(&self, method: &str, path: &str, status: StatusCode, body: &Json) {
        let schema = self.answer_schema(method, path, status.as_u16());
        let problems = self.check(body, schema, "$", true);
        assert!(
            problems.is_empty(),
            "the {status} answer of {method} {path} does not match the document:\n  {}\n{body:#}",
            problems.join("\n  ")
        );
    }
}

fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Json>,
) -> (StatusCode, Json) {
    let mut req = Client::new()
        .request(
            Method::from_bytes(method.as_bytes()).expect("a method"),
            format!("{}{path}", server.url()),
        )
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().expect("request");
    let status = resp.status();
    (status, resp.json().expect("a JSON body"))
}

#[test]
fn real_answers_match_their_schemas() {
    let doc = document();
    let checker = Checker { doc: &doc };
    let server = TestServer::with_demo();
    let api = Api::new(&server);

    // A push with every outcome: applied, applied over a newer version, conflict, rejected.
    let mut fields = serde_json::Map::new();
    fields.insert("notes".into(), json!("server notes"));
    server
        .store()
        .upsert_record("tasks", "t-harbor-2", &fields)
        .expect("a server edit");
    let (status, body) = api.push_raw(
        "demo-bob",
        "bob-phone",
        json!([
            {"mutation_id": "m1", "seq": 1, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"title": "Mine"}, "base_version": 1, "on_conflict": "report"},
            {"mutation_id": "m2", "seq": 2, "entity": "tasks", "key": "t-harbor-2", "op": "update",
             "fields": {"title": "Mine again"}, "base_version": 1},
            {"mutation_id": "m3", "seq": 3, "entity": "tasks", "key": "t-harbor-3", "op": "update",
             "fields": {"title": "Fresh"}},
            {"mutation_id": "m4", "seq": 4, "entity": "tasks", "key": "t-harbor-3", "op": "update",
             "fields": {"colour": "red"}},
        ]),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let statuses: Vec<&Json> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!("conflict"),
            &json!("applied"),
            &json!("applied"),
            &json!("rejected")
        ],
        "{body}"
    );
    assert!(body["results"][1]["overwrote"].is_i64(), "{body}");
    checker.assert_answer("POST", "/v1/push", status, &body);

    // A pull page with upserts and a tombstone.
    api.push(
        "demo-alice",
        "alice-phone",
        json!([{"mutation_id": "d1", "seq": 1, "entity": "tasks", "key": "t-harbor-4",
                "op": "delete"}]),
    );
    let (status, body) = api.post(
        "/v1/pull",
        Some("demo-alice"),
        &json!({"entity": "tasks", "limit": 100, "fields": ["title", "done"]}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body["upserts"].as_array().expect("upserts").is_empty());
    assert!(!body["tombstones"]
        .as_array()
        .expect("tombstones")
        .is_empty());
    checker.assert_answer("POST", "/v1/pull", status, &body);

    // Error bodies: the route's own, and a shared one (a reference to components.responses).
    let (status, body) = api.post(
        "/v1/pull",
        Some("demo-alice"),
        &json!({"entity": "invoices", "limit": 1, "fields": []}),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["request_id"].is_string(), "{body}");
    checker.assert_answer("POST", "/v1/pull", status, &body);
    let (status, body) = api.me(Some("nobody's"));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    checker.assert_answer("GET", "/v1/me", status, &body);
    let (status, body) = api.me(Some("demo-alice"));
    checker.assert_answer("GET", "/v1/me", status, &body);

    // The backend: a record read, a version conflict (with `current_version`), a batch, the
    // change feed, the provisioning lists, the webhook's state.
    let erp = server
        .store()
        .add_service(&Service {
            name: "erp".into(),
            scopes: vec![],
            all_scopes: true,
            read_only: false,
        })
        .expect("a service");
    let record = "/v1/admin/records/{entity}/{key}";
    let (status, body) = send(
        &server,
        "GET",
        "/v1/admin/records/tasks/t-harbor-2",
        &erp,
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    checker.assert_answer("GET", record, status, &body);
    let (status, body) = send(
        &server,
        "GET",
        "/v1/admin/records/tasks/t-harbor-4",
        &erp,
        None,
    );
    assert_eq!(body["deleted"], true, "{body}");
    checker.assert_answer("GET", record, status, &body);
    let (status, body) = send(
        &server,
        "PATCH",
        "/v1/admin/records/tasks/t-harbor-2",
        &erp,
        Some(json!({"fields": {"internal_notes": "call first"}, "if_version": 1})),
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["current_version"].is_i64(), "{body}");
    checker.assert_answer("PATCH", record, status, &body);
    let (status, body) = send(
        &server,
        "POST",
        "/v1/admin/batch",
        &erp,
        Some(json!({"operations": [
            {"op": "patch", "entity": "tasks", "key": "t-harbor-2", "fields": {"done": true}},
            {"op": "delete", "entity": "tasks", "key": "t-harbor-2"},
        ]})),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    checker.assert_answer("POST", "/v1/admin/batch", status, &body);
    let (status, body) = send(&server, "GET", "/v1/admin/changes?limit=50", &erp, None);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body["changes"].as_array().expect("changes").is_empty());
    checker.assert_answer("GET", "/v1/admin/changes", status, &body);
    for path in ["/v1/admin/users", "/v1/admin/services", "/v1/admin/webhook"] {
        let (status, body) = send(&server, "GET", path, &erp, None);
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        checker.assert_answer("GET", path, status, &body);
    }
    let (status, body) = send(
        &server,
        "POST",
        "/v1/admin/webhook/replay",
        &erp,
        Some(json!({"from": 0})),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&server, "GET", "/v1/admin/webhook", &erp, None);
    assert_eq!(body["running"], true, "{body}");
    checker.assert_answer("GET", "/v1/admin/webhook", status, &body);
    // A device's token on the backend: the shared 403.
    let (status, body) = send(&server, "GET", "/v1/admin/users", "demo-alice", None);
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    checker.assert_answer("GET", "/v1/admin/users", status, &body);

    // The health probe.
    let resp = Client::new()
        .get(format!("{}/healthz", server.url()))
        .send()
        .expect("request");
    let status = resp.status();
    checker.assert_answer("GET", "/healthz", status, &resp.json().expect("JSON"));
}

#[test]
fn the_checker_finds_drift() {
    // The checks above can fail: an unknown property, a missing required one, a wrong type,
    // and a push result that matches no outcome are all found.
    let doc = document();
    let checker = Checker { doc: &doc };
    let me = checker.answer_schema("GET", "/v1/me", 200);
    assert!(checker
        .check(&json!({"user_id": "a"}), me, "$", true)
        .is_empty());
    assert!(!checker
        .check(&json!({"user_id": "a", "extra": 1}), me, "$", true)
        .is_empty());
    assert!(!checker.check(&json!({}), me, "$", true).is_empty());
    assert!(!checker
        .check(&json!({"user_id": 1}), me, "$", true)
        .is_empty());
    let push = checker.answer_schema("POST", "/v1/push", 200);
    let applied = json!({"results": [{"mutation_id": "m", "seq": 1, "status": "applied",
                                       "version": 2}]});
    assert!(checker.check(&applied, push, "$", true).is_empty());
    for drifted in [
        json!({"results": [{"mutation_id": "m", "seq": 1, "status": "done", "version": 2}]}),
        json!({"results": [{"mutation_id": "m", "seq": 1, "status": "applied", "version": 2,
                            "extra": true}]}),
        json!({"results": [{"seq": 1, "status": "applied", "version": 2}]}),
    ] {
        assert!(
            !checker.check(&drifted, push, "$", true).is_empty(),
            "{drifted}"
        );
    }
}
