//! The convergence property test (issue 13, `docs/reliability.md`): 2 to 5 real clients of the
//! real server, under each conflict policy, run a random interleaving of offline edits, deletes
//! and inserts of the same records, connectivity changes, syncs and conflict resolutions.
//!
//! After every step, every conflict is accounted for: a mutation whose stage is "in conflict"
//! has its record in the inbox, and no edit was dropped except where the policy lets the
//! server's version stand (last write wins, server wins, locked offline) or the user kept
//! theirs; under client-wins and manual an edit is never dropped by itself. At the end every
//! client comes online and settles as a user would (syncs, resolves what waits in the inbox,
//! discards what the server refused), and then every client equals the server, nothing is
//! pending, and every server version was answered to exactly one mutation.
//!
//! `PROPTEST_CASES` (default 24) cases, `PROPTEST_RNG_SEED` to replay a run; proptest keeps
//! failing cases in `convergence.proptest-regressions` and replays them first.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{
    Config as ProptestConfig, FileFailurePersistence, TestCaseError, TestRunner,
};
use support::harness::{client_tasks, env_u64, exactly_once, first_difference, server_tasks};
use support::{client_with_schema, manual, new_task, schema_with_task_policy, server};
use syncline_core::Record;
use syncline_core::{
    ConflictPolicy, Connectivity, NetworkType, Resolution, Syncline, SynclineError, Value,
};
use syncline_protocol::sample::TASKS;

/// The records the clients fight over: two the server has from the start (at version 1) and
/// two any client may create.
const KEYS: [&str; 4] = ["t-shared-1", "t-shared-2", "n-0", "n-1"];
/// The fields edited: a small set of values each, so sides often agree or collide.
const FIELDS: [&str; 3] = ["title", "done", "priority"];

#[derive(Debug, Clone)]
enum Step {
    Edit {
        client: usize,
        key: usize,
        field: usize,
        value: u8,
    },
    Delete {
        client: usize,
        key: usize,
    },
    Insert {
        client: usize,
        key: usize,
        value: u8,
    },
    Sync {
        client: usize,
    },
    Offline {
        client: usize,
    },
    Online {
        client: usize,
    },
    /// Resolves the client's oldest conflict: keep mine, keep theirs, or a merged title.
    Resolve {
        client: usize,
        choice: u8,
    },
}

fn policies() -> impl Strategy<Value = ConflictPolicy> {
    prop_oneof![
        Just(ConflictPolicy::LastWriteWins),
        Just(ConflictPolicy::ServerWins),
        Just(ConflictPolicy::ClientWins),
        Just(ConflictPolicy::Manual),
        Just(ConflictPolicy::LockedOffline),
    ]
}

fn step(n: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..n, 0..KEYS.len(), 0..FIELDS.len(), 0..3u8)
            .prop_map(|(client, key, field, value)| Step::Edit { client, key, field, value }),
        1 => (0..n, 0..KEYS.len()).prop_map(|(client, key)| Step::Delete { client, key }),
        1 => (0..n, 0..KEYS.len(), 0..3u8)
            .prop_map(|(client, key, value)| Step::Insert { client, key, value }),
        3 => (0..n).prop_map(|client| Step::Sync { client }),
        1 => (0..n).prop_map(|client| Step::Offline { client }),
        1 => (0..n).prop_map(|client| Step::Online { client }),
        2 => (0..n, 0..3u8).prop_map(|(client, choice)| Step::Resolve { client, choice }),
    ]
}

/// A policy, the number of clients, the steps, and how the user settles the inbox at the end.
fn cases() -> impl Strategy<Value = (ConflictPolicy, usize, Vec<Step>, u8)> {
    (policies(), 2..=5usize).prop_flat_map(|(policy, n)| {
        (
            Just(policy),
            Just(n),
            proptest::collection::vec(step(n), 5..40),
            0..3u8,
        )
    })
}

fn value_of(field: &str, client: usize, value: u8) -> Value {
    match field {
        "title" => Value::Text(format!("v{value}")),
        "done" => Value::Boolean(value % 2 == 1),
        _ => Value::Integer(i64::from(value) + 10 * client as i64 % 2),
    }
}

fn resolution(choice: u8, client: usize) -> Resolution {
    match choice % 3 {
        0 => Resolution::KeepMine,
        1 => Resolution::KeepTheirs,
        _ => Resolution::Merged {
            values: HashMap::from([(
                "title".to_string(),
                Value::Text(format!("merged by {client}")),
            )]),
        },
    }
}

/// What the cases did, summed over a run (for `docs/reliability.md`).
#[derive(Debug, Default)]
struct Tally {
    cases: BTreeMap<String, u64>,
    writes: u64,
    offline_writes: u64,
    syncs: u64,
    /// Conflicts the server reported, and those of them that went to the inbox.
    conflicts: u64,
    to_inbox: u64,
    overwrote: u64,
    resolved: u64,
    discarded: u64,
}

static TALLY: std::sync::Mutex<Option<Tally>> = std::sync::Mutex::new(None);

fn tally(f: impl FnOnce(&mut Tally)) {
    let mut t = TALLY.lock().expect("tally");
    f(t.get_or_insert_with(Tally::default));
}

/// Counts a sync's conflicts.
fn count_sync(report: &syncline_core::SyncReport) {
    tally(|t| {
        t.syncs += 1;
        for e in &report.entities {
            t.conflicts += e.conflicts;
            t.to_inbox += e.to_inbox;
            t.overwrote += e.overwrote;
        }
    });
}

struct Device {
    db: PathBuf,
    client: Syncline,
    online: bool,
    /// Keys whose conflicts this device's user resolved (keeping theirs may drop an edit).
    resolved: HashSet<String>,
}

/// `(mutation id, key, stage)` of every task mutation a client remembers.
fn stages(db: &Path) -> Vec<(String, String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the client's database");
    let mut stmt = conn
        .prepare("SELECT mutation_id, key, stage FROM mutation_stages WHERE entity = 'tasks'")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

/// Every conflict is accounted for on device `i`: a mutation in conflict has its record in the
/// inbox; an edit is dropped only where the policy or the user let the server's version stand.
fn check_conflicts(d: &Device, i: usize, policy: ConflictPolicy) -> Result<(), TestCaseError> {
    let inbox: BTreeSet<String> = d
        .client
        .conflicts()
        .map_err(|e| TestCaseError::fail(format!("conflicts: {e:?}")))?
        .into_iter()
        .map(|c| c.key)
        .collect();
    let server_may_win = matches!(
        policy,
        ConflictPolicy::LastWriteWins | ConflictPolicy::ServerWins | ConflictPolicy::LockedOffline
    );
    for (id, key, stage) in stages(&d.db) {
        match stage.as_str() {
            "in_conflict" if !inbox.contains(&key) => {
                return Err(TestCaseError::fail(format!(
                    "client {i}: mutation {id} of `{key}` is in conflict, but the inbox has no \
                     conflict of `{key}` ({inbox:?})"
                )))
            }
            "dropped" if !server_may_win && !d.resolved.contains(&key) => {
                return Err(TestCaseError::fail(format!(
                    "client {i}: mutation {id} of `{key}` was dropped under {policy:?} without \
                     the user keeping theirs"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn fail(e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{e:?}"))
}

/// Runs one case; the property's checks fail it.
fn run_case(
    policy: ConflictPolicy,
    n: usize,
    steps: &[Step],
    final_choice: u8,
) -> Result<(), TestCaseError> {
    tally(|t| *t.cases.entry(format!("{policy:?}")).or_default() += 1);
    let (server, users) = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = schema_with_task_policy(policy);
    let mut devices: Vec<Device> = (0..n)
        .map(|i| {
            // Alice and bob, both members of `p-shared`, on several devices each.
            let token = if i % 2 == 0 { &users.alice } else { &users.bob };
            let name = format!("device-{i}");
            Device {
                db: dir.path().join(format!("{name}.db")),
                client: client_with_schema(
                    dir.path(),
                    &name,
                    schema.clone(),
                    manual(&server.url(), token),
                ),
                online: true,
                resolved: HashSet::new(),
            }
        })
        .collect();
    for d in &devices {
        d.client.sync_now_blocking("all").map_err(fail)?;
    }

    for step in steps {
        let i = match step {
            Step::Edit { client, .. }
            | Step::Delete { client, .. }
            | Step::Insert { client, .. }
            | Step::Sync { client }
            | Step::Offline { client }
            | Step::Online { client }
            | Step::Resolve { client, .. } => *client,
        };
        let d = &mut devices[i];
        let written = match step {
            Step::Edit {
                key, field, value, ..
            } => {
                let name = FIELDS[*field];
                d.client
                    .update(
                        TASKS,
                        Record::new(KEYS[*key]).with_values(HashMap::from([(
                            name.to_string(),
                            value_of(name, i, *value),
                        )])),
                    )
                    .map(|_| ())
            }
            Step::Delete { key, .. } => d.client.delete(TASKS, KEYS[*key]).map(|_| ()),
            Step::Insert { key, value, .. } => d
                .client
                .insert(
                    TASKS,
                    new_task(KEYS[*key], "p-shared", &format!("v{value}")),
                )
                .map(|_| ()),
            Step::Sync { .. } => match d.client.sync_now_blocking("all") {
                Err(SynclineError::Offline) if !d.online => Ok(()),
                Ok(report) => {
                    count_sync(&report);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Step::Offline { .. } => {
                d.client.report_connectivity(Connectivity::offline());
                d.online = false;
                Ok(())
            }
            Step::Online { .. } => {
                d.client
                    .report_connectivity(Connectivity::online(NetworkType::Wifi));
                d.online = true;
                Ok(())
            }
            Step::Resolve { choice, .. } => {
                let conflicts = d.client.conflicts().map_err(fail)?;
                match conflicts.first() {
                    Some(c) => {
                        d.resolved.insert(c.key.clone());
                        tally(|t| t.resolved += 1);
                        d.client.resolve(c.id, resolution(*choice, i)).map(|_| ())
                    }
                    None => Ok(()),
                }
            }
        };
        let write = matches!(
            step,
            Step::Edit { .. } | Step::Delete { .. } | Step::Insert { .. }
        );
        match written {
            Ok(()) if write => tally(|t| {
                t.writes += 1;
                t.offline_writes += u64::from(!d.online);
            }),
            Ok(()) => {}
            // What the app is told when the record is not there, or already is.
            Err(SynclineError::NotFound { .. } | SynclineError::AlreadyExists { .. }) => {}
            // Editing while not online, under the policy that forbids it.
            Err(SynclineError::NotAllowed { .. })
                if policy == ConflictPolicy::LockedOffline && !d.online => {}
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "client {i}, step {step:?}: {e:?}"
                )))
            }
        }
        check_conflicts(d, i, policy)?;
    }

    // Everyone comes online and settles as a user would, until nothing is left to do.
    for d in &mut devices {
        d.client
            .report_connectivity(Connectivity::online(NetworkType::Wifi));
        d.online = true;
    }
    let mut settled = false;
    for _ in 0..12 {
        let mut work = false;
        for (i, d) in devices.iter_mut().enumerate() {
            let report = d
                .client
                .sync_now_blocking("all")
                .map_err(|e| fail(format!("client {i}: settling sync: {e:?}")))?;
            count_sync(&report);
            for c in d.client.conflicts().map_err(fail)? {
                d.resolved.insert(c.key.clone());
                let r = resolution(final_choice, i);
                d.client
                    .resolve(c.id, r.clone())
                    .map_err(|e| fail(format!("client {i}: resolving {c:?} with {r:?}: {e:?}")))?;
                tally(|t| t.resolved += 1);
                work = true;
            }
            for q in d.client.quarantined().map_err(fail)? {
                d.client
                    .discard_quarantined(q.seq)
                    .map_err(|e| fail(format!("client {i}: discarding {q:?}: {e:?}")))?;
                tally(|t| t.discarded += 1);
                work = true;
            }
            work |= d.client.status().pending > 0;
            check_conflicts(d, i, policy)?;
        }
        if !work {
            settled = true;
            break;
        }
    }
    prop_assert!(settled, "the clients never settled");
    // One more round: each pulls what the others pushed last.
    for d in &devices {
        d.client.sync_now_blocking("all").map_err(fail)?;
    }

    let keys: BTreeSet<String> = KEYS.iter().map(|k| k.to_string()).collect();
    let on_server = server_tasks(server.store(), &keys);
    for (i, d) in devices.iter().enumerate() {
        let s = d.client.status();
        prop_assert_eq!(
            (s.pending, s.conflicts, s.quarantined),
            (0, 0, 0),
            "client {} not settled",
            i
        );
        let local: support::harness::Snapshot = client_tasks(&d.client)
            .into_iter()
            .filter(|(k, _)| keys.contains(k))
            .collect();
        prop_assert!(
            local == on_server,
            "client {} differs from the server: {}",
            i,
            first_difference(&local, &on_server)
        );
    }
    let dbs: Vec<&Path> = devices.iter().map(|d| d.db.as_path()).collect();
    let first: BTreeMap<String, i64> = KEYS[..2].iter().map(|k| (k.to_string(), 1)).collect();
    let (duplicates, lost) = exactly_once(server.store(), &dbs, &keys, &first);
    prop_assert!(
        duplicates.is_empty() && lost.is_empty(),
        "applied twice: {:?}; lost: {:?}",
        duplicates,
        lost
    );
    Ok(())
}

#[test]
fn clients_converge_under_every_conflict_policy() {
    // `ProptestConfig::default()` reads `PROPTEST_CASES` and `PROPTEST_RNG_SEED`; without them a
    // run is 24 cases (a case runs a server and up to five clients). A failure is shrunk, but
    // not forever.
    let cases_wanted = env_u64("PROPTEST_CASES", 24) as u32;
    let config = ProptestConfig {
        cases: cases_wanted,
        max_shrink_iters: 200,
        // Beside this file: `convergence.proptest-regressions`.
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    };
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&cases(), |(policy, n, steps, final_choice)| {
        run_case(policy, n, &steps, final_choice)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let t = TALLY.lock().expect("tally").take().unwrap_or_default();
    println!(
        "convergence property: {} cases run ({cases_wanted} new, the rest kept regressions) in \
         {:.0?}, by policy {:?}: {} writes ({} offline), {} syncs, {} conflicts reported ({} to \
         the inbox), {} overwrites by last write wins, {} resolutions, {} refused mutations \
         discarded; every case converged, nothing applied twice or lost",
        t.cases.values().sum::<u64>(),
        started.elapsed(),
        t.cases,
        t.writes,
        t.offline_writes,
        t.syncs,
        t.conflicts,
        t.to_inbox,
        t.overwrote,
        t.resolved,
        t.discarded
    );
}
