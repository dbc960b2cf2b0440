//! Entry points for fuzzing everything a server answers the device, and the schema-file text an
//! app hands the library: the `fuzz/` crate's targets (cargo-fuzz, nightly) and this module's own
//! proptest pass (stable, part of `cargo test`) call the same code, so both check one thing.
//!
//! Compiled for the crate's tests and with the `fuzzing` feature only, never in an app's build:
//! it reaches into the store to apply an answer in a transaction that is rolled back, so every
//! input meets the same device state. `docs/reliability.md` ("Fuzzing") has the commands.

use std::path::Path;
use std::sync::OnceLock;

use syncline_protocol::sample::{self, COMMENTS, TASKS};
use syncline_protocol::{
    FieldType, Me, Mutation, PullPage, PushResponse, SchemaFile, Value as Typed,
};

use crate::error::Error;
use crate::pulled::PulledPage;
use crate::record::Record;
use crate::store::Store;
use crate::transport::{answer_body, decode_answer};
use crate::SynclineError;

/// Which request the fuzzed bytes answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `POST /v1/pull`: a page of one entity (the `u8` picks the entity the device asked for).
    Pull(u8),
    /// `POST /v1/push`: the results for the device's pending mutations.
    Push,
    /// `GET /v1/me`: the reachability and token probe.
    Me,
}

/// A device's store on a scratch file, with synced records and pending mutations of every kind
/// (insert, update, delete, an append-only insert), that fuzzed answers are applied to.
pub struct ClientTarget {
    store: Store,
    /// The pending mutations, as a push would send them (what a push answer is matched against).
    sent: Vec<Mutation>,
}

impl ClientTarget {
    /// The process's one target, on a scratch folder of its own, made on first use: what a fuzz
    /// target applies every input to. Err when the store could not be made.
    pub fn shared() -> Result<&'static ClientTarget, String> {
        static TARGET: OnceLock<Result<ClientTarget, String>> = OnceLock::new();
        TARGET
            .get_or_init(|| {
                let dir =
                    std::env::temp_dir().join(format!("syncline-fuzz-{}", std::process::id()));
                std::fs::create_dir_all(&dir).map_err(|e| format!("scratch folder: {e}"))?;
                ClientTarget::open(&dir.join("device.db")).map_err(|e| format!("device store: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Opens (creating) the store at `path` with the sample schema, pulls two tasks into it and
    /// makes local edits, so answers meet existing rows, pending edits and the conflict inbox.
    pub fn open(path: &Path) -> Result<ClientTarget, SynclineError> {
        let schema = sample::schema()?;
        let store = Store::open(path, schema)?;
        let tasks = store.schema().entity(TASKS)?;
        let row = |key: &str, version: i64| {
            let mut row = vec![key.into(), version.into()];
            row.extend(
                tasks
                    .fields
                    .iter()
                    .map(|f| placeholder(f.field_type, f.nullable)),
            );
            row
        };
        let page = PullPage {
            entity: TASKS.into(),
            fields: tasks.field_names(),
            upserts: vec![row("t-synced-1", 3), row("t-synced-2", 1)],
            tombstones: vec![],
            cursor: "2".into(),
            has_more: false,
        };
        store.apply_pull_page(TASKS, &page)?;
        let text = |s: &str| Typed::Text(s.into());
        store.insert(
            TASKS,
            Record::new("t-new")
                .with("project_id", text("p-1"))
                .with("title", text("made offline")),
        )?;
        store.update(
            TASKS,
            "t-synced-1",
            [("title".to_string(), text("edited offline"))].into(),
        )?;
        store.delete(TASKS, "t-synced-2")?;
        store.insert(
            COMMENTS,
            Record::new("c-new")
                .with("project_id", text("p-1"))
                .with("task_id", text("t-new"))
                .with("body", text("hello")),
        )?;
        let mut sent = store.pending(TASKS, 100)?;
        sent.extend(store.pending(COMMENTS, 100)?);
        Ok(ClientTarget { store, sent })
    }

    /// Decodes `body` as the server's answer (`status`, `Retry-After` seconds) to `answer`, as the
    /// transport does, and applies a page or push answer to the store as the engine does (rolled
    /// back afterwards). A page or push answer is applied twice: as it came, and with its entity
    /// and fields (page) or mutation ids and sequence numbers (push) made to match what the
    /// device asked, so that random bytes get past those checks to the rows and outcomes.
    ///
    /// Panics when an answer causes anything but a typed error a bad answer may cause
    /// (malformed response, server error, sign-in needed): a panic is the fuzzers' finding.
    pub fn answer(&self, answer: Answer, status: u16, retry_after: Option<u64>, body: &[u8]) {
        match answer {
            Answer::Me => {
                expected(decode_answer::<Me>(status, retry_after, body).map(drop));
            }
            Answer::Pull(pick) => {
                let entities = self.store.schema().entities();
                let e = &entities[usize::from(pick) % entities.len()];
                // As the engine does: the body, decoded against the entity asked for.
                let Some(body) = expected(answer_body(status, retry_after, body)) else {
                    return;
                };
                if let Some(page) = expected(PulledPage::decode(e, body)) {
                    expected(self.store.try_pulled(&e.name, &page).map(drop));
                }
                let Some(page) = expected(decode_answer::<PullPage>(status, retry_after, body))
                else {
                    return;
                };
                let page = PullPage {
                    entity: e.name.clone(),
                    fields: e.field_names(),
                    ..page
                };
                if let Some(page) = expected(PulledPage::from_wire(e, &page)) {
                    expected(self.store.try_pulled(&e.name, &page).map(drop));
                }
            }
            Answer::Push => {
                let Some(response) =
                    expected(decode_answer::<PushResponse>(status, retry_after, body))
                else {
                    return;
                };
                expected(
                    self.store
                        .try_push_results(&self.sent, &response.results)
                        .map(drop),
                );
                // Results for the first mutations sent, as many as the answer has.
                let mut results = response.results;
                results.truncate(self.sent.len());
                let sent = &self.sent[..results.len()];
                for (r, m) in results.iter_mut().zip(sent) {
                    r.mutation_id.clone_from(&m.mutation_id);
                    r.seq = m.seq;
                }
                expected(self.store.try_push_results(sent, &results).map(drop));
            }
        }
    }
}

/// Reads a schema file's text and narrows it to a device schema, as the bindings'
/// `schemaFromFileText` does (every entity, then only the sample app's fields); an error is a
/// typed [`syncline_protocol::SchemaFileError`] or [`syncline_protocol::SchemaError`], never a
/// panic.
pub fn schema_file(text: &str) {
    if let Ok(file) = SchemaFile::parse(text) {
        let _ = file.device_schema();
        let keep: [(&str, &[&str]); 1] = [(TASKS, &["project_id", "title", "done"])];
        let _ = file.device_subset(&keep);
    }
}

/// A value of the given type for a pulled row (null where the field allows it).
fn placeholder(field_type: FieldType, nullable: bool) -> serde_json::Value {
    if nullable {
        return serde_json::Value::Null;
    }
    match field_type {
        FieldType::Text => "x".into(),
        FieldType::Integer | FieldType::Timestamp => 0.into(),
        FieldType::Real => 0.5.into(),
        FieldType::Boolean => false.into(),
        FieldType::Json => serde_json::json!({}),
    }
}

/// The value of `result`, or `None` for an error a bad answer may cause; panics on any other
/// error (a bad answer must never look like, say, a full disk or an app's mistake).
fn expected<T>(result: Result<T, Error>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(Error::MalformedResponse(_) | Error::Server { .. } | Error::SignInNeeded { .. }) => {
            None
        }
        Err(other) => panic!("a server answer caused an untyped or misplaced error: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    //! The stable pass: a few thousand generated answers per target, shaped like real ones (so
    //! they get past the JSON parser) with random values, plus raw bytes. It runs a fixed
    //! number of cases, never for a fixed time, so a slow machine cannot fail it.

    use proptest::prelude::*;
    use serde_json::{json, Value as J};

    use super::*;

    /// One process-wide target: opening a store per case would be most of the run.
    fn target() -> &'static ClientTarget {
        static TARGET: once_cell::sync::OnceCell<(tempfile::TempDir, ClientTarget)> =
            once_cell::sync::OnceCell::new();
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
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(J::from),
            any::<f64>().prop_map(J::from),
            Just(json!(u64::MAX)),
            "[a-z0-9-]{0,8}".prop_map(J::String),
            ".{0,300}".prop_map(J::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
                prop::collection::hash_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| J::Object(m.into_iter().collect())),
            ]
        })
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
                let tombstones: Vec<J> =
                    tombstones.into_iter().map(|(k, v)| json!([k, v])).collect();
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

    /// Every generated shape above stays accepted by the real decoder: without this, a change
    /// of the wire format would silently turn the pass into one that only tests the JSON parser.
    #[test]
    fn the_target_applies_a_real_answer() {
        let t = target();
        let answer = PushResponse {
            results: t
                .sent
                .iter()
                .map(|m| syncline_protocol::MutationResult {
                    mutation_id: m.mutation_id.clone(),
                    seq: m.seq,
                    outcome: syncline_protocol::Outcome::Applied {
                        version: 9,
                        overwrote: None,
                    },
                })
                .collect(),
        };
        let stats = t
            .store
            .try_push_results(&t.sent, &answer.results)
            .expect("applies");
        assert_eq!(stats.applied, t.sent.len() as u64);
        assert_eq!(t.sent.len(), 4, "insert, update, delete, comment");
    }
}
