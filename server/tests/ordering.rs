//! Change-log ordering across server instances (issue 10): two `syncline-server` processes on
//! one database, concurrent pushers writing to either, pullers reading from either, some write
//! transactions deliberately held open before they commit. Every puller must end with exactly
//! the database's state.
//!
//! Why it can fail: a pull pages by change-log position and a client stores the page's
//! `cursor`. If a transaction could commit a position *below* a cursor some puller has already
//! been given (positions taken out of commit order), that puller never sees the change. The
//! server rules this out by serializing write transactions (`server/src/db/mod.rs`); the slow
//! transactions (`SYNCLINE_TEST_SLOW_WRITES`, a test hook) widen the window in which another
//! instance would otherwise commit later positions and a puller would read past the held one.
//! [`a_change_committed_behind_a_cursor_is_caught`] shows the checks catch exactly that.
//!
//! Runs on the test run's backend (`SYNCLINE_TEST_BACKEND`): two processes on one PostgreSQL
//! database, or two processes on one SQLite file. `SYNCLINE_ORDERING_RUNS` (default 6 on
//! SQLite, 3 on PostgreSQL) seeded runs, each on a fresh database; `SYNCLINE_ORDERING_SEED` fixes
//! the first seed (run `i` uses seed + i; by default it comes from the clock and failures print
//! it); `SYNCLINE_ORDERING_BATCHES` sets the batches each pusher sends per run (default 25).

mod instances;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Map, Value as Json};
use syncline_protocol::{Outcome, PullPage, PushResponse};
use syncline_server::testing::TestServer;
use syncline_server::testing::{test_backend, ScratchDb};
use syncline_server::Store;

use instances::{clock_seed, env_u64, Rng, ServerProcess};

/// The projects the tasks live in.
const PROJECTS: [&str; 3] = ["p-a", "p-b", "p-c"];
/// Users and their projects: ann sees everything, ben not `p-c`, so tasks moved there reach ben
/// as tombstones (departures).
const USERS: [(&str, &[&str]); 2] = [("ann", &PROJECTS), ("ben", &["p-a", "p-b"])];
/// The fields pullers keep, in this order.
const FIELDS: [&str; 4] = ["project_id", "title", "done", "priority"];

/// Share of write transactions held open, and for how long (ms), on both instances.
const SLOW_WRITES: (f64, u64) = (0.1, 40);

/// What a client keeps of `tasks`: key → (version, values in [`FIELDS`] order).
type Replica = BTreeMap<String, (i64, Vec<Json>)>;

/// Makes the users, their tokens and memberships, and the projects; returns (user, token).
fn setup(store: &Store) -> Vec<(String, String)> {
    let mut tokens = Vec::new();
    for p in PROJECTS {
        store.create_project(p, p).expect("project");
    }
    for (user, projects) in USERS {
        store.create_user(user).expect("user");
        for p in projects {
            store.add_membership(user, p).expect("membership");
        }
        let token = store.issue_token(user, None).expect("token");
        tokens.push((user.to_string(), token));
    }
    tokens
}

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// A client of `tasks` that only pulls, applying pages exactly as the Syncline client does:
/// upserts replace the record, tombstones delete it, the page's cursor is kept.
struct Puller {
    user: String,
    token: String,
    cursor: Option<String>,
    replica: Replica,
    /// The highest version seen of each key (upsert or tombstone): it must never go down.
    seen: HashMap<String, i64>,
    pages: u64,
}

impl Puller {
    fn new(user: &str, token: &str) -> Puller {
        Puller {
            user: user.to_string(),
            token: token.to_string(),
            cursor: None,
            replica: Replica::new(),
            seen: HashMap::new(),
            pages: 0,
        }
    }

    /// Pulls and applies one page from `url`; returns its `has_more`.
    fn page(&mut self, http: &Client, url: &str, limit: u32) -> Result<bool, String> {
        let body =
            json!({"entity": "tasks", "cursor": self.cursor, "limit": limit, "fields": FIELDS});
        let resp = http
            .post(format!("{url}/v1/pull"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .map_err(|e| format!("pull from {url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| format!("pull from {url}: {e}"))?;
        if status != StatusCode::OK {
            return Err(format!("pull from {url}: {status} {text}"));
        }
        let page: PullPage =
            serde_json::from_str(&text).map_err(|e| format!("pull page {text}: {e}"))?;
        self.apply(page)
    }

    fn apply(&mut self, page: PullPage) -> Result<bool, String> {
        self.pages += 1;
        for row in page.upserts {
            let key = row[0]
                .as_str()
                .ok_or("an upsert without a key")?
                .to_string();
            let version = row[1].as_i64().ok_or("an upsert without a version")?;
            self.saw(&key, version)?;
            self.replica.insert(key, (version, row[2..].to_vec()));
        }
        for (key, version) in page.tombstones {
            self.saw(&key, version)?;
            self.replica.remove(&key);
        }
        self.cursor = Some(page.cursor);
        Ok(page.has_more)
    }

    fn saw(&mut self, key: &str, version: i64) -> Result<(), String> {
        let last = self.seen.entry(key.to_string()).or_insert(version);
        if version < *last {
            return Err(format!(
                "{} got `{key}` at version {version} after version {last}",
                self.user
            ));
        }
        *last = version;
        Ok(())
    }

    /// Pulls until `has_more` is false, each page from a random instance with a random limit.
    fn pull_to_end(&mut self, http: &Client, urls: &[String], rng: &mut Rng) -> Result<(), String> {
        while self.page(http, rng.pick(urls).as_str(), 1 + rng.below(60) as u32)? {}
        Ok(())
    }
}

/// The user's view of `tasks` in the database (read through a store of its own, not through
/// any server): every live record among `keys` in one of the user's projects.
fn database_view(store: &Store, keys: &[String], user: &str) -> Replica {
    let scopes: HashSet<String> = store
        .memberships(user)
        .expect("memberships")
        .into_iter()
        .collect();
    let mut view = Replica::new();
    for key in keys {
        let Some(r) = store.get_record("tasks", key).expect("read") else {
            continue;
        };
        if r.deleted || !scopes.contains(&r.scope) {
            continue;
        }
        let values = FIELDS
            .iter()
            .map(|f| r.fields.get(*f).cloned().unwrap_or(Json::Null))
            .collect();
        view.insert(key.clone(), (r.version, values));
    }
    view
}

/// How `replica` differs from `expected` (at most 10 lines).
fn differences(replica: &Replica, expected: &Replica) -> Vec<String> {
    let mut out = Vec::new();
    for (key, want) in expected {
        match replica.get(key) {
            None => out.push(format!("missing `{key}` (database: v{})", want.0)),
            Some(got) if got != want => {
                out.push(format!("`{key}`: has {got:?}, database {want:?}"));
            }
            Some(_) => {}
        }
    }
    for (key, got) in replica {
        if !expected.contains_key(key) {
            out.push(format!(
                "extra `{key}` v{} (not live in the user's view)",
                got.0
            ));
        }
    }
    let n = out.len();
    out.truncate(10);
    if n > 10 {
        out.push(format!("… {} more", n - 10));
    }
    out
}

/// One applied mutation as its push's answer told it.
#[derive(Debug, Clone)]
struct Applied {
    key: String,
    delete: bool,
    version: i64,
}

/// What a pusher did.
#[derive(Debug, Default)]
struct Pushed {
    applied: Vec<Applied>,
    rejected: usize,
    /// The slowest push, to show the slow-writes hook was on.
    slowest: Duration,
}

/// A random batch of 1 to 12 inserts, updates (some moving the task to another project) and
/// deletes of tasks among `keys`, with `seq`s from `*seq` on.
fn random_batch(rng: &mut Rng, client: &str, keys: &[String], seq: &mut u64) -> Vec<Json> {
    let n = 1 + rng.below(12);
    (0..n)
        .map(|_| {
            *seq += 1;
            let key = rng.pick(keys).clone();
            let roll = rng.below(100);
            let (op, fields) = if roll < 40 {
                let fields = json!({
                    "project_id": rng.pick(&PROJECTS),
                    "title": format!("{client} #{seq}"),
                    "done": rng.chance(0.5),
                    "priority": rng.below(5),
                });
                ("insert", fields)
            } else if roll < 85 {
                let mut fields = Map::new();
                fields.insert("title".into(), json!(format!("{client} #{seq}")));
                if rng.chance(0.5) {
                    fields.insert("done".into(), json!(rng.chance(0.5)));
                }
                if rng.chance(0.5) {
                    fields.insert("priority".into(), json!(rng.below(5)));
                }
                if rng.chance(0.25) {
                    fields.insert("project_id".into(), json!(rng.pick(&PROJECTS)));
                }
                ("update", Json::Object(fields))
            } else {
                ("delete", json!({}))
            };
            json!({"mutation_id": format!("{client}-{seq}"), "seq": *seq, "entity": "tasks",
                   "key": key, "op": op, "fields": fields, "base_version": null})
        })
        .collect()
}

/// Sends `batches` random batches as `client`, each to a random instance; keeps what was
/// applied.
fn pusher(
    client: &str,
    token: &str,
    urls: &[String],
    keys: &[String],
    batches: u64,
    mut rng: Rng,
) -> Result<Pushed, String> {
    let http = http();
    let mut out = Pushed::default();
    let mut seq = 0u64;
    for _ in 0..batches {
        let mutations = random_batch(&mut rng, client, keys, &mut seq);
        let url = rng.pick(urls);
        let started = Instant::now();
        let resp = http
            .post(format!("{url}/v1/push"))
            .bearer_auth(token)
            .json(&json!({"client_id": client, "mutations": mutations}))
            .send()
            .map_err(|e| format!("push to {url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| format!("push to {url}: {e}"))?;
        out.slowest = out.slowest.max(started.elapsed());
        if status != StatusCode::OK {
            return Err(format!("push to {url}: {status} {text}"));
        }
        let answer: PushResponse =
            serde_json::from_str(&text).map_err(|e| format!("push answer {text}: {e}"))?;
        if answer.results.len() != mutations.len() {
            return Err(format!(
                "{} results for {} mutations",
                answer.results.len(),
                mutations.len()
            ));
        }
        for (m, r) in mutations.iter().zip(answer.results) {
            match r.outcome {
                Outcome::Applied { version, .. } => out.applied.push(Applied {
                    key: m["key"].as_str().unwrap_or_default().to_string(),
                    delete: m["op"] == "delete",
                    version,
                }),
                // Updates and deletes of tasks that do not exist (yet or any more), and ben's
                // writes to or from `p-c`: expected refusals.
                Outcome::Rejected { code, .. } if code == "not_found" || code == "forbidden" => {
                    out.rejected += 1;
                }
                other => return Err(format!("unexpected result for {m}: {other:?}")),
            }
        }
    }
    Ok(out)
}

/// Checks the pushes' answers against the database: every version a record went through was
/// handed to exactly one applied insert or update, or to deletes (deleting a tombstone again
/// answers its version, unchanged), and the record ends at the highest. Two writes answered the
/// same version would be a lost update (two transactions that both read the record before
/// either wrote it).
fn check_versions(store: &Store, keys: &[String], applied: &[Applied]) -> Vec<String> {
    let mut by_key: HashMap<&str, Vec<&Applied>> = HashMap::new();
    for a in applied {
        by_key.entry(&a.key).or_default().push(a);
    }
    let mut problems = Vec::new();
    for key in keys {
        let record = store.get_record("tasks", key).expect("read");
        let results = by_key.remove(key.as_str()).unwrap_or_default();
        let Some(record) = record else {
            if !results.is_empty() {
                problems.push(format!(
                    "`{key}`: {} applied writes, no record",
                    results.len()
                ));
            }
            continue;
        };
        let mut writers: HashMap<i64, usize> = HashMap::new();
        let mut versions: HashSet<i64> = HashSet::new();
        for a in &results {
            versions.insert(a.version);
            *writers.entry(a.version).or_default() += usize::from(!a.delete);
        }
        for (version, n) in &writers {
            let deletes = results.iter().any(|a| a.delete && a.version == *version);
            if *n > 1 || (*n == 1 && deletes) {
                problems.push(format!(
                    "`{key}`: version {version} was answered to several writes"
                ));
            }
        }
        let all: HashSet<i64> = (1..=record.version).collect();
        if versions != all {
            problems.push(format!(
                "`{key}` is at v{} but the answers name versions {:?}",
                record.version,
                {
                    let mut v: Vec<_> = versions.into_iter().collect();
                    v.sort_unstable();
                    v
                }
            ));
        }
    }
    problems.truncate(10);
    problems
}

/// The sizes of a run.
#[derive(Debug, Clone, Copy)]
struct Shape {
    pushers: usize,
    pullers: usize,
    batches: u64,
    keys: usize,
}

/// What a run did, for the summary line.
#[derive(Debug, Default)]
struct Summary {
    applied: usize,
    rejected: usize,
    pages: u64,
    slowest_push: Duration,
    elapsed: Duration,
}

/// One seeded run on a fresh database: two server processes, pushers and pullers, then the
/// checks. `Err` says what went wrong.
fn run(seed: u64, shape: Shape) -> Result<Summary, String> {
    let started = Instant::now();
    let db = ScratchDb::new();
    let store = db.open_sample().expect("open the scratch database");
    let tokens = setup(&store);
    let slow = format!("{},{}", SLOW_WRITES.0, SLOW_WRITES.1);
    let servers = [
        ServerProcess::start(&db.arg(), Some(&slow)),
        ServerProcess::start(&db.arg(), Some(&slow)),
    ];
    let urls: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.url().to_string()).collect());
    let keys: Arc<Vec<String>> =
        Arc::new((0..shape.keys).map(|i| format!("task-{i:03}")).collect());
    let done = Arc::new(AtomicBool::new(false));
    let mut seeds = Rng::new(seed);

    let pullers: Vec<_> = (0..shape.pullers)
        .map(|i| {
            let (user, token) = tokens[i % tokens.len()].clone();
            let (urls, done) = (urls.clone(), done.clone());
            let mut rng = Rng::new(seeds.next_u64());
            std::thread::spawn(move || -> Result<Puller, String> {
                let http = http();
                let mut puller = Puller::new(&user, &token);
                // During the load: pages from either instance, small and varied, so page ends
                // fall everywhere; now and then a short pause.
                while !done.load(Ordering::SeqCst) {
                    puller.page(
                        &http,
                        rng.pick(&urls[..]).as_str(),
                        1 + rng.below(40) as u32,
                    )?;
                    if rng.chance(0.2) {
                        std::thread::sleep(Duration::from_millis(rng.below(10) as u64));
                    }
                }
                // Every push was answered, so committed: pull to the end.
                puller.pull_to_end(&http, &urls, &mut rng)?;
                Ok(puller)
            })
        })
        .collect();
    let pushers: Vec<_> = (0..shape.pushers)
        .map(|i| {
            let (user, token) = tokens[i % tokens.len()].clone();
            let (urls, keys) = (urls.clone(), keys.clone());
            let rng = Rng::new(seeds.next_u64());
            let client = format!("{user}-device-{i}");
            std::thread::spawn(move || pusher(&client, &token, &urls, &keys, shape.batches, rng))
        })
        .collect();

    let mut summary = Summary::default();
    let mut applied = Vec::new();
    let mut failures = Vec::new();
    for p in pushers {
        match p
            .join()
            .map_err(|_| "a pusher panicked".to_string())
            .and_then(|r| r)
        {
            Ok(pushed) => {
                summary.rejected += pushed.rejected;
                summary.slowest_push = summary.slowest_push.max(pushed.slowest);
                applied.extend(pushed.applied);
            }
            Err(e) => failures.push(e),
        }
    }
    done.store(true, Ordering::SeqCst);
    let mut finished = Vec::new();
    for p in pullers {
        match p
            .join()
            .map_err(|_| "a puller panicked".to_string())
            .and_then(|r| r)
        {
            Ok(puller) => finished.push(puller),
            Err(e) => failures.push(e),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("\n"));
    }
    summary.applied = applied.len();

    // Each puller, having followed cursors across both instances during the load, holds exactly
    // its user's view of the database.
    for puller in &finished {
        summary.pages += puller.pages;
        let expected = database_view(&store, &keys, &puller.user);
        let diff = differences(&puller.replica, &expected);
        if !diff.is_empty() {
            failures.push(format!(
                "{} after {} pages differs from the database:\n  {}",
                puller.user,
                puller.pages,
                diff.join("\n  ")
            ));
        }
    }
    // A fresh pull from the beginning agrees too (so a difference above is the cursor's doing,
    // not the pull's).
    let http = http();
    let mut rng = Rng::new(seeds.next_u64());
    for (user, token) in &tokens {
        let mut fresh = Puller::new(user, token);
        fresh.pull_to_end(&http, &urls, &mut rng)?;
        let diff = differences(&fresh.replica, &database_view(&store, &keys, user));
        if !diff.is_empty() {
            failures.push(format!(
                "a fresh pull of {user} differs:\n  {}",
                diff.join("\n  ")
            ));
        }
    }
    failures.extend(check_versions(&store, &keys, &applied));
    let live = keys
        .iter()
        .filter(|k| {
            store
                .get_record("tasks", k)
                .expect("read")
                .is_some_and(|r| !r.deleted)
        })
        .count();
    let counted = store.count_records("tasks").expect("count") as usize;
    if counted != live {
        failures.push(format!(
            "{counted} live tasks in the database, {live} among the keys pushed"
        ));
    }
    // The run must have been a real one: writes applied and the slow-writes hook on.
    if summary.applied < shape.pushers * shape.batches as usize / 2 {
        failures.push(format!("only {} mutations applied", summary.applied));
    }
    if summary.slowest_push < Duration::from_millis(SLOW_WRITES.1) {
        failures.push(format!(
            "no push took {} ms (slowest {:?}): the slow-writes hook is off",
            SLOW_WRITES.1, summary.slowest_push
        ));
    }
    summary.elapsed = started.elapsed();
    if failures.is_empty() {
        Ok(summary)
    } else {
        Err(failures.join("\n"))
    }
}

#[test]
fn pullers_on_two_instances_end_with_the_databases_state() {
    let backend = test_backend();
    // About 8 s on SQLite and 15 s on PostgreSQL (a run there takes three times as long).
    let runs = env_u64(
        "SYNCLINE_ORDERING_RUNS",
        if backend == "sqlite" { 6 } else { 3 },
    );
    let first = env_u64("SYNCLINE_ORDERING_SEED", clock_seed());
    let shape = Shape {
        pushers: 6,
        pullers: 4,
        batches: env_u64("SYNCLINE_ORDERING_BATCHES", 25),
        keys: 120,
    };
    for i in 0..runs {
        let seed = first.wrapping_add(i);
        match run(seed, shape) {
            Ok(s) => println!(
                "ordering run {i} on {backend} (seed {seed}): {} applied, {} rejected, {} pages \
                 pulled, slowest push {} ms, {:.1} s",
                s.applied,
                s.rejected,
                s.pages,
                s.slowest_push.as_millis(),
                s.elapsed.as_secs_f64()
            ),
            Err(e) => panic!(
                "ordering run {i} on {backend} failed; replay its choices with \
                 SYNCLINE_ORDERING_SEED={seed} SYNCLINE_ORDERING_RUNS=1:\n{e}"
            ),
        }
    }
}

/// The negative check: a change that commits at a position below a cursor already handed out
/// (what an unserialized writer would produce) is missed by the puller holding that cursor, and
/// the comparison with the database reports it. The out-of-order commit is made by hand, as SQL
/// behind the server's back, because the server itself cannot produce one.
#[test]
fn a_change_committed_behind_a_cursor_is_caught() {
    let server = TestServer::start();
    let store = server.store();
    let tokens = setup(store);
    let (user, token) = &tokens[0];
    let urls = vec![server.url()];
    let http = http();
    let mut rng = Rng::new(7);
    let mut fields = Map::new();
    fields.insert("project_id".into(), json!("p-a"));
    fields.insert("title".into(), json!("first"));
    store.upsert_record("tasks", "a", &fields).expect("insert");
    // Changing `a` again moves it to a new position and frees its first one: a hole below the
    // end of the log, where a late commit can land.
    let hole = store
        .get_record("tasks", "a")
        .expect("read")
        .expect("a")
        .position;
    fields.insert("title".into(), json!("second"));
    store.upsert_record("tasks", "a", &fields).expect("update");

    let mut puller = Puller::new(user, token);
    puller.pull_to_end(&http, &urls, &mut rng).expect("pull");
    let cursor: i64 = puller
        .cursor
        .as_deref()
        .expect("a cursor")
        .parse()
        .expect("a number");
    assert!(cursor > hole, "the puller read past position {hole}");
    let keys = vec!["a".to_string(), "late".to_string()];
    assert!(differences(&puller.replica, &database_view(store, &keys, user)).is_empty());

    // A transaction that took position `hole` but commits only now, after the puller read past
    // it.
    let late = format!(
        "INSERT INTO records (position, entity, key, scope, version, deleted, data, writer)
         SELECT {hole}, entity, 'late', scope, 1, deleted, data, writer FROM records
         WHERE entity = 'tasks' AND key = 'a'"
    );
    server.execute_sql(&late).expect("the late commit");
    puller.pull_to_end(&http, &urls, &mut rng).expect("pull");
    let diff = differences(&puller.replica, &database_view(store, &keys, user));
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].starts_with("missing `late`"), "{diff:?}");

    // From the beginning it is there: only the cursor skipped it.
    let mut fresh = Puller::new(user, token);
    fresh.pull_to_end(&http, &urls, &mut rng).expect("pull");
    assert!(differences(&fresh.replica, &database_view(store, &keys, user)).is_empty());
}
