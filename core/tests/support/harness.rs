//! Shared by the reliability harnesses (`crash.rs`, `soak.rs`, `convergence.rs`,
//! `docs/reliability.md`): a seeded random number generator, run lengths and seeds from the
//! environment, and the checks every harness ends with. Each check reads the real files: the
//! clients' SQLite databases and the server's store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value as Json;
use syncline_core::{Query, Record, Syncline, Value};
use syncline_server::Store;

pub use syncline_testing::{env_u64, Rng};

/// The run's seed: `name` from the environment, or one from the clock (printed by the harness,
/// so a failing run can be replayed).
pub fn seed_from_env(name: &str) -> u64 {
    env_u64(name, syncline_testing::clock_seed())
}

/// The task fields the harnesses write and compare (the others stay null everywhere).
pub const FIELDS: [&str; 4] = ["project_id", "title", "done", "priority"];

/// A task as the harnesses compare it: its fields of [`FIELDS`] as JSON, and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Snap {
    pub version: Option<i64>,
    pub fields: BTreeMap<String, Json>,
}

/// Key → task.
pub type Snapshot = BTreeMap<String, Snap>;

/// A value as the server stores it.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Text(s) | Value::Json(s) => Json::from(s.as_str()),
        Value::Integer(i) | Value::Timestamp(i) => Json::from(*i),
        Value::Real(f) => Json::from(*f),
        Value::Boolean(b) => Json::from(*b),
        Value::Attachment(r) => r.to_json(),
    }
}

/// [`FIELDS`] of a local record.
pub fn local_fields(r: &Record) -> BTreeMap<String, Json> {
    FIELDS
        .iter()
        .map(|f| (f.to_string(), r.get(f).map_or(Json::Null, to_json)))
        .collect()
}

/// Every live task of a client, with the versions its copies are based on.
pub fn client_tasks(client: &Syncline) -> Snapshot {
    client
        .query("tasks", &Query::all(100_000))
        .expect("query the client's tasks")
        .records
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                Snap {
                    version: r.version,
                    fields: local_fields(r),
                },
            )
        })
        .collect()
}

/// The live tasks among `keys` on the server, read from its store.
pub fn server_tasks<'a>(store: &Store, keys: impl IntoIterator<Item = &'a String>) -> Snapshot {
    let mut out = Snapshot::new();
    for key in keys {
        let Some(r) = store.get_record("tasks", key).expect("server read") else {
            continue;
        };
        if r.deleted {
            continue;
        }
        let fields = FIELDS
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    r.fields.get(*f).cloned().unwrap_or(Json::Null),
                )
            })
            .collect();
        out.insert(
            key.clone(),
            Snap {
                version: Some(r.version),
                fields,
            },
        );
    }
    out
}

/// The first difference between two snapshots, for messages.
pub fn first_difference(got: &Snapshot, want: &Snapshot) -> String {
    for (key, w) in want {
        match got.get(key) {
            None => return format!("`{key}` missing (want {w:?})"),
            Some(g) if g != w => return format!("`{key}`: {g:?}, want {w:?}"),
            Some(_) => {}
        }
    }
    match got.iter().find(|(k, _)| !want.contains_key(*k)) {
        Some((k, g)) => format!("`{k}` should not exist ({g:?})"),
        None => "none".into(),
    }
}

/// `PRAGMA integrity_check` of a SQLite file (opened read-write, so a WAL left by a killed
/// process is recovered first, as the next open of the app would).
pub fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("open the database file");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .expect("integrity_check")
}

/// Each task key's server versions that a client's mutations produced, as the client recorded
/// them (its `mutation_stages`: accepted, then seen). A version answered to one mutation is
/// recorded once.
pub fn accepted_versions(db: &Path) -> BTreeMap<String, Vec<i64>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the client's database");
    let mut stmt = conn
        .prepare(
            "SELECT key, version FROM mutation_stages
             WHERE entity = 'tasks' AND stage IN ('accepted', 'seen') ORDER BY key, version",
        )
        .expect("prepare");
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("query");
    for row in rows {
        let (key, version) = row.expect("row");
        out.entry(key).or_default().push(version);
    }
    out
}

/// Exactly once, from the versions: on the server every change of a record bumps its version
/// by one, so each version of `key` after `first` (what the fixture made, 0 for a record made by
/// clients) must have been answered to a client mutation. A mutation applied twice makes a
/// version nobody was answered (the client hears of one application only); a lost one leaves a
/// version answered that the server never reached. (A version may be answered twice: deleting a
/// record already deleted is answered with the tombstone's version and changes nothing.)
/// Returns `(duplicates, lost)` descriptions.
pub fn exactly_once(
    store: &Store,
    clients: &[&Path],
    keys: &BTreeSet<String>,
    first: &BTreeMap<String, i64>,
) -> (Vec<String>, Vec<String>) {
    let mut answered: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for db in clients {
        for (key, versions) in accepted_versions(db) {
            answered.entry(key).or_default().extend(versions);
        }
    }
    let (mut duplicates, mut lost) = (Vec::new(), Vec::new());
    for key in keys {
        let server_version = store
            .get_record("tasks", key)
            .expect("server read")
            .map_or(0, |r| r.version);
        let from = first.get(key).copied().unwrap_or(0);
        let mut got = answered.remove(key).unwrap_or_default();
        got.sort_unstable();
        let want: Vec<i64> = (from + 1..=server_version).collect();
        let unanswered: Vec<i64> = want.iter().filter(|v| !got.contains(v)).copied().collect();
        let beyond: Vec<i64> = got
            .iter()
            .filter(|v| **v > server_version)
            .copied()
            .collect();
        if !unanswered.is_empty() {
            duplicates.push(format!(
                "`{key}` at v{server_version}: versions {unanswered:?} answered to no mutation"
            ));
        }
        if !beyond.is_empty() {
            lost.push(format!(
                "`{key}` at v{server_version}: versions {beyond:?} were answered but the server \
                 never reached them"
            ));
        }
    }
    (duplicates, lost)
}
