//! The stable fuzz pass over what clients send: generated push and pull bodies shaped like real
//! ones with random values (so they get past the JSON parser to validation and the store), raw
//! bytes, gzipped and falsely gzipped bodies, and `Authorization` headers (opaque, raw, JWTs
//! signed over generated claims), through the whole router. The server must answer every one
//! without failing (never 500, never a panic). A fixed number of cases, never a time budget, so a
//! slow machine cannot fail it. The long run is the cargo-fuzz target `server_request` in
//! `fuzz/` (`docs/reliability.md`).

use proptest::prelude::*;
use serde_json::{json, Value as J};
use syncline_server::testing::fuzzing::{signed_jwt, Encoding, ServerTarget, TOKEN};
use syncline_testing::json;

/// One server for the whole pass: opening a database per case would be most of the run.
fn target() -> &'static ServerTarget {
    static TARGET: std::sync::OnceLock<ServerTarget> = std::sync::OnceLock::new();
    TARGET.get_or_init(ServerTarget::new)
}

/// Names the server looks up (entities, projects, fields), so that values get past the lookup.
const WORDS: &[&str] = &[
    "tasks",
    "comments",
    "projects",
    "p-harbor",
    "title",
    "internal_notes",
    "author",
];

fn any_json() -> impl Strategy<Value = J> {
    json::any_json(WORDS, 40)
}

fn mutation() -> impl Strategy<Value = J> {
    let fields = prop::collection::hash_map(
        prop_oneof![
            Just("project_id".to_string()),
            Just("title".to_string()),
            Just("done".to_string()),
            Just("task_id".to_string()),
            Just("body".to_string()),
            Just("author".to_string()),
            "[a-z_]{1,10}"
        ],
        prop_oneof![Just(json!("p-harbor")), Just(json!("p-ridge")), any_json()],
        0..5,
    );
    (
        any_json(),
        prop_oneof![any::<u64>().prop_map(J::from), any_json()],
        prop_oneof![Just(json!("tasks")), Just(json!("comments")), any_json()],
        prop_oneof!["t-[a-z0-9]{0,6}".prop_map(J::String), any_json()],
        prop_oneof![
            Just(json!("insert")),
            Just(json!("update")),
            Just(json!("delete")),
            any_json()
        ],
        fields,
        prop::option::of(any_json()),
        prop_oneof![Just(json!("overwrite")), Just(json!("report")), any_json()],
    )
        .prop_map(|(id, seq, entity, key, op, fields, base, conflict)| {
            json!({"mutation_id": id, "seq": seq, "entity": entity, "key": key, "op": op,
                   "fields": fields, "base_version": base, "on_conflict": conflict})
        })
}

fn push_body() -> impl Strategy<Value = J> {
    (
        prop_oneof![Just(json!("device-fuzz")), any_json()],
        prop::collection::vec(mutation(), 0..5),
    )
        .prop_map(|(client, mutations)| json!({"client_id": client, "mutations": mutations}))
}

fn pull_body() -> impl Strategy<Value = J> {
    (
        prop_oneof![Just(json!("tasks")), Just(json!("comments")), any_json()],
        prop_oneof![
            Just(J::Null),
            "[0-9]{1,25}".prop_map(J::String),
            "-?[0-9a-z]{0,6}".prop_map(J::String),
            any_json()
        ],
        prop_oneof![(0u32..6000).prop_map(J::from), any_json()],
        prop::collection::vec(
            prop_oneof![
                Just(json!("title")),
                Just(json!("project_id")),
                Just(json!("internal_notes")),
                any_json()
            ],
            0..4,
        ),
    )
        .prop_map(|(entity, cursor, limit, fields)| {
            json!({"entity": entity, "cursor": cursor, "limit": limit, "fields": fields})
        })
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        4 => Just(Encoding::Identity),
        1 => Just(Encoding::Gzip),
        1 => Just(Encoding::FalseGzip),
    ]
}

fn bearer() -> Vec<u8> {
    format!("Bearer {TOKEN}").into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn pushes_never_fail_the_server(body in push_body(), enc in encoding()) {
        let body = serde_json::to_vec(&body).expect("encode");
        target().request(0, Some(&bearer()), enc, &body);
    }

    #[test]
    fn pulls_never_fail_the_server(body in pull_body(), enc in encoding()) {
        let body = serde_json::to_vec(&body).expect("encode");
        target().request(2, Some(&bearer()), enc, &body);
    }

    #[test]
    fn raw_bodies_never_fail_the_server(
        endpoint in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..256), enc in encoding(),
    ) {
        target().request(endpoint, Some(&bearer()), enc, &body);
    }

    #[test]
    fn authorization_headers_never_fail_the_server(
        endpoint in any::<u8>(),
        raw in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80),
            "(Bearer|bearer|Basic) ?[A-Za-z0-9._~+/=-]{0,80}( x)?".prop_map(String::into_bytes),
            "Bearer ey[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_-]{0,20}".prop_map(String::into_bytes),
        ],
    ) {
        target().request(endpoint, Some(&raw), Encoding::Identity, b"{}");
        target().request(endpoint, None, Encoding::Identity, b"{}");
    }

    #[test]
    fn jwt_claims_never_fail_the_server(
        endpoint in any::<u8>(),
        alg in prop_oneof![Just(json!("HS256")), Just(json!("none")), Just(json!("RS256")), any_json()],
        extra in any_json(),
        sub in prop_oneof![Just(json!("alice")), any_json()],
        exp in prop_oneof![Just(json!(4_102_444_800i64)), any_json()],
        nbf in prop::option::of(any_json()),
        raw_claims in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let header = serde_json::to_vec(&json!({"alg": alg, "typ": "JWT", "kid": extra})).expect("header");
        let claims = match raw_claims {
            Some(raw) => raw,
            None => serde_json::to_vec(&json!({"sub": sub, "exp": exp, "nbf": nbf, "aud": extra})).expect("claims"),
        };
        target().request(endpoint, Some(&signed_jwt(&header, &claims)), Encoding::Identity, b"{\"entity\":\"tasks\",\"limit\":5,\"fields\":[\"title\"]}");
    }
}

/// The generated shapes reach the store: a well-formed push and pull are answered 200, so the
/// pass is not stuck at the parser or the authentication.
#[test]
fn the_target_answers_real_requests() {
    let push = json!({"client_id": "device-ok", "mutations": [{"mutation_id": "m-ok", "seq": 1,
        "entity": "tasks", "key": "t-ok", "op": "insert",
        "fields": {"project_id": "p-harbor", "title": "ok"}}]});
    let push = serde_json::to_vec(&push).expect("encode");
    assert_eq!(
        target()
            .request(0, Some(&bearer()), Encoding::Gzip, &push)
            .as_u16(),
        200
    );
    let pull = br#"{"entity":"tasks","limit":5,"fields":["title"]}"#;
    let jwt = signed_jwt(
        br#"{"alg":"HS256","typ":"JWT"}"#,
        br#"{"sub":"alice","exp":4102444800}"#,
    );
    assert_eq!(
        target()
            .request(2, Some(&jwt), Encoding::Identity, pull)
            .as_u16(),
        200
    );
}
