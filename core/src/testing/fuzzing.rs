//! Entry points for fuzzing everything a server answers the device, and the schema-file text an
//! app hands the library: the `fuzz/` crate's targets (cargo-fuzz, nightly) and the crate's
//! proptest pass (`tests/fuzz_answers.rs`, stable, part of `cargo test`) call the same code, so
//! both check one thing.
//!
//! Compiled for the crate's tests and with the `testing` feature only, never in an app's build:
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
        FieldType::Attachment => serde_json::json!({
            "sha256": "0".repeat(64), "size": 0, "media_type": "text/plain", "name": "x.txt"
        }),
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
    use super::*;

    /// A real answer is accepted by the target: without this, a change of the wire format would
    /// silently turn the fuzz passes (`tests/fuzz_answers.rs`, `fuzz/`) into ones that only
    /// test the JSON parser.
    #[test]
    fn the_target_applies_a_real_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = ClientTarget::open(&dir.path().join("fuzz.db")).expect("open");
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
