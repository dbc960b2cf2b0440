//! The stable fuzz pass over what a server answers a device: a few thousand generated answers
//! per target, shaped like real ones (so they get past the JSON parser) with random values, plus
//! raw bytes, applied to a device's store by `syncline_core::testing::fuzzing` (the entry points
//! the cargo-fuzz targets in `fuzz/` call). It runs a fixed number of cases, never for a fixed
//! time, so a slow machine cannot fail it.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value as J};
use syncline_core::testing::fuzzing::{schema_file, Answer, ClientTarget};

/// One process-wide target: opening a store per case would be most of the run.
fn target() -> &'static ClientTarget {
    static TARGET: OnceLock<(tempfile::TempDir, ClientTarget)> = OnceLock::new();
    &TARGET
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let target = ClientTarget::open(&dir.path().join("fuzz.db")).expect("open");
            (dir, target)
        })
        .1
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = J> {
    syncline_testing::json::any_json(&[], 300)
}

/// A pull page's shape with random content.
fn page() -> impl Strategy<Value = J> {
    (
        prop::collection::vec(prop::collection::vec(any_json(), 0..14), 0..4),
        prop::collection::vec((any_json(), any_json()), 0..3),
        any_json(),
        any_json(),
    )
        .prop_map(|(upserts, tombstones, cursor, has_more)| {
            let tombstones: Vec<J> = tombstones.into_iter().map(|(k, v)| json!([k, v])).collect();
            json!({"entity": "tasks", "fields": [], "upserts": upserts,
                   "tombstones": tombstones, "cursor": cursor, "has_more": has_more})
        })
}

/// A push answer's shape with random outcomes.
fn push_answer() -> impl Strategy<Value = J> {
    let outcome = prop_oneof![
        (any_json(), any_json()).prop_map(|(v, o)| json!({"status": "applied", "version": v, "overwrote": o})),
        any_json().prop_map(|c| json!({"status": "conflict", "current": c})),
        (
            prop::option::of(("[a-z-]{0,300}", any::<i64>(), prop::collection::hash_map("[a-z_]{1,14}", any_json(), 0..6)))
        )
            .prop_map(|c| json!({"status": "conflict", "current": c.map(|(k, v, f)| json!({"key": k, "version": v, "fields": f}))})),
        (any_json(), any_json()).prop_map(|(c, m)| json!({"status": "rejected", "code": c, "message": m})),
    ];
    prop::collection::vec((outcome, any::<u64>()), 0..6).prop_map(|results| {
        let results: Vec<J> = results
            .into_iter()
            .map(|(mut o, seq)| {
                o["mutation_id"] = json!("m");
                o["seq"] = json!(seq);
                o
            })
            .collect();
        json!({ "results": results })
    })
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![Just(200u16), Just(401), Just(429), Just(500), 100u16..600]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn pull_pages_never_panic(page in page(), pick in any::<u8>(), status in status()) {
        let body = serde_json::to_vec(&page).expect("encode");
        target().answer(Answer::Pull(pick), 200, None, &body);
        target().answer(Answer::Pull(pick), status, Some(1), &body);
    }

    #[test]
    fn push_answers_never_panic(answer in push_answer(), status in status()) {
        let body = serde_json::to_vec(&answer).expect("encode");
        target().answer(Answer::Push, 200, None, &body);
        target().answer(Answer::Push, status, None, &body);
    }

    #[test]
    fn error_bodies_never_panic(
        code in any_json(), message in any_json(), request_id in any_json(),
        status in status(), raw in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let body = serde_json::to_vec(&json!({"error": {"code": code, "message": message, "request_id": request_id}})).expect("encode");
        for answer in [Answer::Me, Answer::Push, Answer::Pull(1)] {
            target().answer(answer, status, Some(u64::MAX), &body);
            target().answer(answer, status, None, &raw);
        }
    }

    #[test]
    fn schema_files_never_panic(text in "(\\[entities\\.[a-z_]{1,6}(\\.fields)?\\]\n|[a-z_]{1,10} = (\"[a-z_]{0,10}\"|\\{ type = \"[a-z]{3,9}\"(, required = true)?(, access = \"server_only\")?(, set_on_insert = \"(user|now)\")? \\}|[0-9]{1,3}|true)\n|.{0,20}\n){0,24}") {
        schema_file(&text);
    }
}
