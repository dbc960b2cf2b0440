//! The fault-proxy soak (issue 13, `docs/reliability.md`): several real clients edit the same
//! records for many rounds while every request between them and the real server may meet a
//! random fault in the proxy: a connection closed or reset, an answer held past the client's
//! request timeout or lost after the server applied the push, a truncated, cut or garbage body,
//! 5xx and 429 with `Retry-After`. The clients sync by themselves (after each write, every
//! second, retrying with backoff) and now and then when asked.
//!
//! Every 100 rounds the network heals, the server writes one more task, and each client must
//! converge on its own (its scheduler, no call from the test) within a generous bound: nothing
//! pending, in conflict or quarantined, its tasks equal to the server's (the new one included),
//! and every server version answered to a client mutation (none applied twice, none
//! acknowledged and lost). A client that does not converge in time is a stall; the goal is 0
//! (jepsen-powersync's anchor: about 0.5 % of its kill runs stalled).
//!
//! `SYNCLINE_SOAK_ROUNDS` (default 200) rounds; `SYNCLINE_SOAK_SEED` replays a run's choices
//! (the faults each request meets, the edits; not the thread interleavings).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use support::harness::{
    client_tasks, env_u64, exactly_once, first_difference, integrity, seed_from_env, server_tasks,
    Rng, Snapshot,
};
use support::proxy::{Fault, FaultProxy};
use support::{client_with_schema, new_task, schema_with_task_policy, server_put, server_with};
use syncline_core::{AutoSync, Config, ConflictPolicy, Record, Syncline, SynclineError, Value};
use syncline_protocol::sample::TASKS;
use syncline_server::testing::TestServer;
use syncline_server::{Limits, ServerOptions};

/// The client's request timeout; [`Fault::Delay`] holds answers longer.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a healed client may take to converge before it counts as stalled: far beyond its
/// retry cap (2 s) and periodic sync (1 s), for a loaded machine.
const CONVERGE_WITHIN: Duration = Duration::from_secs(120);

/// Records every client edits (made on the server first, at version 1).
const SHARED: [&str; 6] = [
    "t-shared-1",
    "t-shared-2",
    "t-soak-1",
    "t-soak-2",
    "t-soak-3",
    "t-soak-4",
];

/// Rounds of faults before the network heals and every client must converge.
const STORM_ROUNDS: u64 = 100;

fn faults() -> Vec<Fault> {
    vec![
        Fault::Drop,
        Fault::Reset,
        Fault::Delay(REQUEST_TIMEOUT + Duration::from_millis(500)),
        Fault::LoseAnswer,
        Fault::TruncatedJson,
        Fault::CutMidBody,
        Fault::Garbage,
        Fault::Throttled {
            status: 503,
            retry_after: 1,
        },
        Fault::Throttled {
            status: 429,
            retry_after: 1,
        },
        Fault::Throttled {
            status: 500,
            retry_after: 0,
        },
    ]
}

/// A client that syncs by itself, quickly, with a short request timeout.
fn config(url: &str, token: &str) -> Config {
    let mut config = Config::new(url, token);
    config.connect_timeout = REQUEST_TIMEOUT;
    config.request_timeout = REQUEST_TIMEOUT;
    config.sync_timeout = Duration::from_secs(30);
    config.auto = AutoSync {
        after_change: Some(Duration::from_millis(100)),
        periodic: Some(Duration::from_secs(1)),
        retry_base: Duration::from_millis(100),
        retry_cap: Duration::from_secs(2),
        probe_base: Duration::from_millis(200),
        probe_cap: Duration::from_secs(2),
        ..AutoSync::default()
    };
    // The soak's tally counts the proxy's requests and faults per sync; a stream is neither.
    config.live = false;
    config
}

struct Device {
    name: String,
    db: PathBuf,
    client: Syncline,
    /// Tasks this device created (only it edits or deletes them).
    own: Vec<String>,
    made: usize,
}

/// What the soak saw, for the summary and `docs/reliability.md`.
#[derive(Debug, Default)]
struct Tally {
    rounds: u64,
    edits: u64,
    syncs_asked: u64,
    syncs_failed: u64,
    /// Requests through the proxy, and the faults among them by kind.
    requests: u64,
    faults: BTreeMap<String, u64>,
    /// Times the network healed, clients that did not converge after one, and how.
    heals: u64,
    stalls: u64,
    stalled: String,
    /// The longest a heal took until every client had converged.
    slowest: Duration,
}

/// One write by `d`: mostly an edit of a shared record, sometimes a task of its own made or
/// deleted. A shared record not pulled yet is `NotFound`, which is fine.
fn edit(d: &mut Device, rng: &mut Rng, round: u64) -> Result<bool, String> {
    let r = rng.next_u64() % 100;
    let title = format!("{} r{round} {}", d.name, rng.below(1000));
    let result = if r < 75 || (r >= 90 && d.own.is_empty()) {
        let key = *rng.pick(&SHARED);
        let mut changes = HashMap::from([("title".to_string(), Value::Text(title))]);
        if rng.chance(0.4) {
            changes.insert("done".into(), Value::Boolean(rng.chance(0.5)));
        }
        if rng.chance(0.3) {
            changes.insert("priority".into(), Value::Integer(rng.below(5) as i64));
        }
        d.client
            .update(TASKS, Record::new(key).with_values(changes))
            .map(|r| r.is_some())
    } else if r < 90 {
        d.made += 1;
        let key = format!("{}-n{}", d.name, d.made);
        let done = d
            .client
            .insert(TASKS, new_task(&key, "p-shared", &title))
            .map(|_| true);
        d.own.push(key);
        done
    } else {
        let i = rng.below(d.own.len());
        let key = d.own.swap_remove(i);
        d.client.delete(TASKS, &key).map(|_| true)
    };
    match result {
        Ok(wrote) => Ok(wrote),
        Err(SynclineError::NotFound { .. }) => Ok(false),
        Err(e) => Err(format!("{}: a local write failed: {e:?}", d.name)),
    }
}

/// The tasks of the shared project on a client (alice also has her own project's).
fn shared_tasks(client: &Syncline) -> Snapshot {
    client_tasks(client)
        .into_iter()
        .filter(|(_, t)| t.fields["project_id"] == json!("p-shared"))
        .collect()
}

/// Whether `d` has converged: nothing pending or unsettled, and its tasks are the server's.
fn converged(d: &Device, on_server: &Snapshot) -> bool {
    let s = d.client.status();
    s.pending == 0
        && s.conflicts == 0
        && s.quarantined == 0
        && shared_tasks(&d.client) == *on_server
}

fn run(seed: u64, rounds: u64) -> Result<Tally, String> {
    let (server, users) = server_with(ServerOptions {
        // Four devices syncing every second through retries is real use, not abuse.
        limits: Limits {
            rate_per_user: None,
            auth_failures_per_minute: None,
            ..Limits::default()
        },
        ..ServerOptions::default()
    });
    for key in &SHARED[2..] {
        server_put(
            &server,
            "tasks",
            key,
            json!({"project_id": "p-shared", "title": format!("Task {key}"), "done": false}),
        );
    }
    let proxy = FaultProxy::start(&server.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut devices: Vec<Device> = [
        ("alice-phone", &users.alice),
        ("alice-tablet", &users.alice),
        ("bob-phone", &users.bob),
        ("bob-laptop", &users.bob),
    ]
    .into_iter()
    .map(|(name, token)| Device {
        name: name.to_string(),
        db: dir.path().join(format!("{name}.db")),
        // Last write wins, so that nothing waits for a user (the other policies and the inbox
        // are the convergence property test's).
        client: client_with_schema(
            dir.path(),
            name,
            schema_with_task_policy(ConflictPolicy::LastWriteWins),
            config(&proxy.url(), token),
        ),
        own: Vec::new(),
        made: 0,
    })
    .collect();

    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut round = 0;
    while round < rounds {
        // A storm of `STORM_ROUNDS` rounds, then the network heals and every client must
        // converge by itself: each heal is one more chance to stall.
        for _ in 0..STORM_ROUNDS.min(rounds - round) {
            // The weather changes: from a few faults to most requests failing.
            if round % 25 == 0 {
                let p = [0.1, 0.3, 0.5, 0.8][rng.below(4)];
                proxy.chaos(rng.next_u64(), p, faults());
            }
            let i = rng.below(devices.len());
            for _ in 0..1 + rng.below(3) {
                if edit(&mut devices[i], &mut rng, round)? {
                    tally.edits += 1;
                }
            }
            if rng.chance(0.2) {
                let d = &devices[rng.below(devices.len())];
                tally.syncs_asked += 1;
                match d.client.sync_now_blocking("all") {
                    Ok(_) => {}
                    // What a broken network and a struggling server look like from the app.
                    Err(e)
                        if e.is_retryable() || matches!(e, SynclineError::BadResponse { .. }) =>
                    {
                        tally.syncs_failed += 1
                    }
                    Err(e) => return Err(format!("{}: sync failed with {e:?}", d.name)),
                }
            }
            std::thread::sleep(Duration::from_millis(rng.range(5, 40)));
            round += 1;
            tally.rounds += 1;
        }
        heal_and_check(&server, &proxy, &devices, &mut tally)?;
    }
    tally.requests = proxy.requests().len() as u64;
    tally.faults = proxy.injected();
    if tally.stalls > 0 {
        return Err(format!(
            "{} stalls in {} heals of {} clients:{}",
            tally.stalls,
            tally.heals,
            devices.len(),
            tally.stalled
        ));
    }
    Ok(tally)
}

/// The network heals; nobody asks for a sync: each client must converge by itself. A task
/// written on the server now must reach every client too, so a client whose scheduler stopped
/// syncing (a stalled queue) cannot pass for converged because its outbox is empty. Then every
/// server version must have been answered to exactly one mutation, and every file be sound.
fn heal_and_check(
    server: &TestServer,
    proxy: &FaultProxy,
    devices: &[Device],
    tally: &mut Tally,
) -> Result<(), String> {
    proxy.heal();
    tally.heals += 1;
    let healed = Instant::now();
    let heal_key = format!("t-after-storm-{}", tally.heals);
    server_put(
        server,
        "tasks",
        &heal_key,
        json!({"project_id": "p-shared", "title": "Written after the storm", "done": false}),
    );
    let mut keys: BTreeSet<String> = SHARED.iter().map(|k| k.to_string()).collect();
    for d in devices {
        keys.extend((1..=d.made).map(|n| format!("{}-n{n}", d.name)));
    }
    let mut compared = keys.clone();
    compared.extend((1..=tally.heals).map(|h| format!("t-after-storm-{h}")));
    let mut waiting: Vec<usize> = (0..devices.len()).collect();
    while !waiting.is_empty() && healed.elapsed() < CONVERGE_WITHIN {
        let on_server = server_tasks(server.store(), &compared);
        waiting.retain(|&i| !converged(&devices[i], &on_server));
        std::thread::sleep(Duration::from_millis(100));
    }
    tally.slowest = tally.slowest.max(healed.elapsed());
    if !waiting.is_empty() {
        // A stall: counted and described; the user's sync gets it going again for the next
        // storm (the run fails at its end).
        tally.stalls += waiting.len() as u64;
        let on_server = server_tasks(server.store(), &compared);
        for &i in &waiting {
            let d = &devices[i];
            tally.stalled.push_str(&format!(
                "\nheal {}, {}: {:?}, queue {:?}; differs: {}",
                tally.heals,
                d.name,
                d.client.status(),
                d.client.queued_syncs(),
                first_difference(&shared_tasks(&d.client), &on_server)
            ));
            let _ = d.client.sync_now_blocking("all");
        }
    }
    let dbs: Vec<&std::path::Path> = devices.iter().map(|d| d.db.as_path()).collect();
    let first: BTreeMap<String, i64> = SHARED.iter().map(|k| (k.to_string(), 1)).collect();
    let (duplicates, lost) = exactly_once(server.store(), &dbs, &keys, &first);
    if !duplicates.is_empty() || !lost.is_empty() {
        return Err(format!(
            "heal {}: applied twice: {duplicates:?}; lost: {lost:?}",
            tally.heals
        ));
    }
    for d in devices {
        let check = integrity(&d.db);
        if check != "ok" {
            return Err(format!("{}: integrity_check {check}", d.name));
        }
    }
    Ok(())
}

#[test]
fn clients_converge_after_a_storm_of_network_faults() {
    let seed = seed_from_env("SYNCLINE_SOAK_SEED");
    let rounds = env_u64("SYNCLINE_SOAK_ROUNDS", 200);
    let started = Instant::now();
    match run(seed, rounds) {
        Ok(t) => println!(
            "fault-proxy soak (seed {seed}): {} rounds, {} edits, {} syncs asked ({} failed by \
             faults); {} requests, {} faults injected ({:?}); {} heals x 4 clients: stalls {} \
             (goal 0; jepsen-powersync ~0.5 % of kill runs), slowest heal {:.1?}; duplicated 0, \
             lost 0; {:.0?} in all",
            t.rounds,
            t.edits,
            t.syncs_asked,
            t.syncs_failed,
            t.requests,
            t.faults.values().sum::<u64>(),
            t.faults,
            t.heals,
            t.stalls,
            t.slowest,
            started.elapsed()
        ),
        Err(e) => {
            panic!(
                "fault-proxy soak failed; replay its choices with SYNCLINE_SOAK_SEED={seed}:\n{e}"
            )
        }
    }
}
