//! `kill -9` under write load (issue 10): the real server binary on the test run's database
//! (`SYNCLINE_TEST_BACKEND`), pushers sending batches, the process killed with SIGKILL mid-load
//! and restarted on the same database, several times.
//!
//! What must hold after every kill:
//! - every push the server acknowledged (200 with its results) is in the database;
//! - a batch whose answer was lost is in the database entirely or not at all (one transaction);
//! - re-sending it (same `client_id` and `seq`s) is answered as if it had been sent once: the
//!   versions a single writer expects, whether the first attempt committed or not;
//! - re-sending an acknowledged batch answers the stored results and changes nothing.
//!
//! Between kills, devices now and then give up on an answer after 5 ms and send the batch again
//! at once (the server, alive, usually committed the first): answered as if sent once too.
//!
//! Each pusher is one device writing its own tasks, so it can predict every version and field the
//! server must end with. Some write transactions are held open 20 ms before they commit
//! (`SYNCLINE_TEST_SLOW_WRITES`), so kills often land inside one. `SYNCLINE_CRASH_CYCLES` (default
//! 5) kill/restart cycles; `SYNCLINE_CRASH_SEED` fixes the seed (default: the clock; printed on
//! failure).

mod instances;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Map, Value as Json};
use syncline_protocol::{Outcome, PushResponse};
use syncline_server::testing::{test_backend, ScratchDb};
use syncline_server::Store;

use instances::{clock_seed, env_u64, Rng, ServerProcess};

const DEVICES: usize = 4;
const KEYS_PER_DEVICE: usize = 30;
const PROJECTS: [&str; 2] = ["p-x", "p-y"];
/// The fields the devices write (the others stay null).
const FIELDS: [&str; 4] = ["project_id", "title", "done", "priority"];
/// Share of write transactions held open before commit, and for how long (ms).
const SLOW_WRITES: &str = "0.3,20";

/// A record as its only writer knows it must be.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    version: i64,
    deleted: bool,
    /// [`FIELDS`] (empty when deleted).
    fields: Map<String, Json>,
}

/// Key → record.
type Model = BTreeMap<String, Rec>;

/// A batch as sent, with the version each mutation must be answered.
#[derive(Debug, Clone)]
struct Batch {
    mutations: Vec<Json>,
    versions: Vec<i64>,
}

/// A device writing its own tasks: a model of what the server holds after each batch.
struct Device {
    id: String,
    token: String,
    keys: Vec<String>,
    seq: u64,
    rng: Rng,
    /// After every batch made (acknowledged or not).
    model: Model,
    /// After the last acknowledged batch.
    acked_model: Model,
    /// The batch whose answer was lost, to send again.
    pending: Option<Batch>,
    /// The last acknowledged batch and its answer.
    last_acked: Option<(Batch, PushResponse)>,
    acked: usize,
    /// Batches sent again after giving up on their answer (server alive).
    resent: usize,
}

/// Why a push got no usable answer.
enum Failed {
    /// No answer (connection refused, reset, cut): the server may or may not have committed.
    Cut(String),
    /// An answer that is wrong: a test failure.
    Wrong(String),
}

impl Device {
    fn new(i: usize, token: &str, seed: u64) -> Device {
        Device {
            id: format!("device-{i}"),
            token: token.to_string(),
            keys: (0..KEYS_PER_DEVICE)
                .map(|k| format!("d{i}-task-{k:02}"))
                .collect(),
            seq: 0,
            rng: Rng::new(seed),
            model: Model::new(),
            acked_model: Model::new(),
            pending: None,
            last_acked: None,
            acked: 0,
            resent: 0,
        }
    }

    /// A random batch of 1 to 15 mutations of the device's tasks (insert when absent or
    /// deleted, else update or delete), applied to the model.
    fn make_batch(&mut self) -> Batch {
        let n = 1 + self.rng.below(15);
        let mut batch = Batch {
            mutations: Vec::new(),
            versions: Vec::new(),
        };
        for _ in 0..n {
            self.seq += 1;
            let seq = self.seq;
            let key = self.rng.pick(&self.keys).clone();
            let current = self.model.get(&key).cloned();
            let live = current.as_ref().is_some_and(|r| !r.deleted);
            let version = current.as_ref().map_or(1, |r| r.version + 1);
            let (op, fields, next) = if !live {
                let fields = json!({
                    "project_id": self.rng.pick(&PROJECTS),
                    "title": format!("{} #{seq}", self.id),
                    "done": self.rng.chance(0.5),
                    "priority": self.rng.below(5),
                });
                let Json::Object(map) = fields.clone() else {
                    unreachable!()
                };
                let rec = Rec {
                    version,
                    deleted: false,
                    fields: map,
                };
                ("insert", fields, rec)
            } else if self.rng.chance(0.8) {
                let mut change = Map::new();
                change.insert("title".into(), json!(format!("{} #{seq}", self.id)));
                if self.rng.chance(0.5) {
                    change.insert("done".into(), json!(self.rng.chance(0.5)));
                }
                if self.rng.chance(0.3) {
                    change.insert("project_id".into(), json!(self.rng.pick(&PROJECTS)));
                }
                let mut rec = current.unwrap_or_else(|| unreachable!());
                rec.version = version;
                rec.fields.extend(change.clone());
                ("update", Json::Object(change), rec)
            } else {
                let rec = Rec {
                    version,
                    deleted: true,
                    fields: Map::new(),
                };
                ("delete", json!({}), rec)
            };
            self.model.insert(key.clone(), next);
            batch.mutations.push(json!({
                "mutation_id": format!("{}-{seq}", self.id), "seq": seq, "entity": "tasks",
                "key": key, "op": op, "fields": fields, "base_version": null
            }));
            batch.versions.push(version);
        }
        batch
    }

    /// Sends `batch` to `url`; checks every mutation is answered applied at its version.
    fn send(&self, http: &Client, url: &str, batch: &Batch) -> Result<PushResponse, Failed> {
        self.send_within(http, url, batch, Duration::from_secs(30))
    }

    /// [`Device::send`], giving up on the answer after `timeout`.
    fn send_within(
        &self,
        http: &Client,
        url: &str,
        batch: &Batch,
        timeout: Duration,
    ) -> Result<PushResponse, Failed> {
        let resp = http
            .post(format!("{url}/v1/push"))
            .bearer_auth(&self.token)
            .timeout(timeout)
            .json(&json!({"client_id": self.id, "mutations": batch.mutations}))
            .send()
            .map_err(|e| Failed::Cut(e.to_string()))?;
        let status = resp.status();
        let text = resp.text().map_err(|e| Failed::Cut(e.to_string()))?;
        if status != StatusCode::OK {
            return Err(Failed::Wrong(format!("{}: {status} {text}", self.id)));
        }
        let answer: PushResponse = serde_json::from_str(&text)
            .map_err(|e| Failed::Wrong(format!("{}: answer {text}: {e}", self.id)))?;
        let got: Vec<Option<i64>> = answer
            .results
            .iter()
            .map(|r| match r.outcome {
                Outcome::Applied { version, .. } => Some(version),
                _ => None,
            })
            .collect();
        let want: Vec<Option<i64>> = batch.versions.iter().copied().map(Some).collect();
        if got != want {
            return Err(Failed::Wrong(format!(
                "{}: batch from seq {} answered versions {got:?}, a single writer expects \
                 {want:?}: {text}",
                self.id, batch.mutations[0]["seq"]
            )));
        }
        Ok(answer)
    }

    fn acknowledge(&mut self, batch: Batch, answer: PushResponse) {
        self.pending = None;
        self.acked += 1;
        self.acked_model = self.model.clone();
        self.last_acked = Some((batch, answer));
    }

    /// Pushes batches until the server stops answering; the cut batch stays pending. Counts
    /// each acknowledged batch in `acks` too.
    fn push_until_cut(mut self, url: &str, acks: &AtomicUsize) -> Result<Device, String> {
        let http = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        loop {
            let batch = self.make_batch();
            // Now and then the device gives up on the answer after 5 ms, while the server goes
            // on and usually commits (the lost answer of a flaky network, with the server
            // alive): the batch is sent again at once, and must be answered as if sent once.
            if self.rng.chance(0.15) {
                match self.send_within(&http, url, &batch, Duration::from_millis(5)) {
                    Ok(answer) => {
                        self.acknowledge(batch, answer);
                        acks.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    Err(Failed::Cut(_)) => self.resent += 1,
                    Err(Failed::Wrong(e)) => return Err(e),
                }
            }
            match self.send(&http, url, &batch) {
                Ok(answer) => {
                    self.acknowledge(batch, answer);
                    acks.fetch_add(1, Ordering::SeqCst);
                }
                Err(Failed::Cut(_)) => {
                    self.pending = Some(batch);
                    return Ok(self);
                }
                Err(Failed::Wrong(e)) => return Err(e),
            }
        }
    }

    /// What the database holds of the device's tasks (through the test's own store).
    fn database(&self, store: &Store) -> Model {
        let mut out = Model::new();
        for key in &self.keys {
            if let Some(r) = store.get_record("tasks", key).expect("read") {
                let fields = if r.deleted {
                    Map::new()
                } else {
                    FIELDS
                        .iter()
                        .map(|f| {
                            (
                                f.to_string(),
                                r.fields.get(*f).cloned().unwrap_or(Json::Null),
                            )
                        })
                        .collect()
                };
                out.insert(
                    key.clone(),
                    Rec {
                        version: r.version,
                        deleted: r.deleted,
                        fields,
                    },
                );
            }
        }
        out
    }
}

/// The first difference between two models, for messages.
fn first_difference(got: &Model, want: &Model) -> String {
    for (key, w) in want {
        match got.get(key) {
            None => return format!("`{key}` missing (want {w:?})"),
            Some(g) if g != w => return format!("`{key}`: {g:?}, want {w:?}"),
            Some(_) => {}
        }
    }
    match got.keys().find(|k| !want.contains_key(*k)) {
        Some(k) => format!("`{k}` should not exist"),
        None => "none".into(),
    }
}

/// Sends each device's pending batch again; it must be answered as if sent once.
fn resend_pending(devices: &mut [Device], url: &str) -> Result<(), String> {
    let http = Client::new();
    for d in devices.iter_mut() {
        if let Some(batch) = d.pending.clone() {
            match d.send(&http, url, &batch) {
                Ok(answer) => d.acknowledge(batch, answer),
                Err(Failed::Cut(e)) => return Err(format!("{}: resend cut: {e}", d.id)),
                Err(Failed::Wrong(e)) => return Err(format!("resend: {e}")),
            }
        }
    }
    Ok(())
}

/// Every device's tasks in the database are exactly its model.
fn check_exact(devices: &[Device], store: &Store) -> Result<(), String> {
    for d in devices {
        let db = d.database(store);
        if db != d.model {
            return Err(format!(
                "{}: the database differs from what was acknowledged: {}",
                d.id,
                first_difference(&db, &d.model)
            ));
        }
    }
    Ok(())
}

/// Counts of what the kills left, for the summary line.
#[derive(Debug, Default)]
struct Tally {
    acked: usize,
    cut_committed: usize,
    cut_lost: usize,
    resent: usize,
}

fn run(seed: u64, cycles: u64) -> Result<Tally, String> {
    let db = ScratchDb::new();
    let store = db.open_sample().expect("open the scratch database");
    for p in PROJECTS {
        store.create_project(p, p).expect("project");
    }
    store.create_user("cy").expect("user");
    for p in PROJECTS {
        store.add_membership("cy", p).expect("membership");
    }
    let token = store.issue_token("cy", None).expect("token");
    let mut rng = Rng::new(seed);
    let mut devices: Vec<Device> = (0..DEVICES)
        .map(|i| Device::new(i, &token, rng.next_u64()))
        .collect();
    let mut tally = Tally::default();

    for cycle in 0..cycles {
        let mut server = ServerProcess::start(&db.arg(), Some(SLOW_WRITES));
        resend_pending(&mut devices, server.url())?;
        check_exact(&devices, &store)
            .map_err(|e| format!("cycle {cycle}, after resending: {e}"))?;
        let before: usize = devices.iter().map(|d| d.acked).sum();

        let url = server.url().to_string();
        let acks = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = devices
            .drain(..)
            .map(|d| {
                let (url, acks) = (url.clone(), acks.clone());
                std::thread::spawn(move || d.push_until_cut(&url, &acks))
            })
            .collect();
        // The random pause counts from the first acknowledged push: a loaded machine may take
        // longer than the shortest pause to answer one, and a kill before any answer fails the
        // cycle ("nothing was acknowledged") without saying anything about the server.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acks.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300 + rng.below(700) as u64));
        server.kill();
        for t in threads {
            devices.push(t.join().map_err(|_| "a pusher panicked".to_string())??);
        }
        let acked: usize = devices.iter().map(|d| d.acked).sum::<usize>() - before;
        if acked == 0 {
            return Err(format!(
                "cycle {cycle}: nothing was acknowledged before the kill"
            ));
        }
        tally.acked += acked;

        // The server is dead: what is in the database now is all it committed.
        for d in &devices {
            let db = d.database(&store);
            if db == d.model {
                tally.cut_committed += 1;
            } else if db == d.acked_model {
                tally.cut_lost += 1;
            } else {
                return Err(format!(
                    "cycle {cycle}, {}: the database is neither the acknowledged state ({}) nor \
                     that plus the cut batch ({})",
                    d.id,
                    first_difference(&db, &d.acked_model),
                    first_difference(&db, &d.model)
                ));
            }
        }
    }

    // Last restart: the cut batches resent, then everything is exactly as acknowledged, and
    // sending each device's last batch once more answers the same and changes nothing.
    let server = ServerProcess::start(&db.arg(), None);
    resend_pending(&mut devices, server.url())?;
    check_exact(&devices, &store).map_err(|e| format!("after the last restart: {e}"))?;
    let log_end = store.log_position().expect("log position");
    let http = Client::new();
    for d in &devices {
        let Some((batch, answer)) = &d.last_acked else {
            continue;
        };
        match d.send(&http, server.url(), batch) {
            Ok(again) if again == *answer => {}
            Ok(again) => {
                return Err(format!(
                    "{}: replay answered {again:?}, first {answer:?}",
                    d.id
                ))
            }
            Err(Failed::Cut(e) | Failed::Wrong(e)) => return Err(format!("replay: {e}")),
        }
    }
    check_exact(&devices, &store).map_err(|e| format!("after the replays: {e}"))?;
    if store.log_position().expect("log position") != log_end {
        return Err("replaying acknowledged batches wrote to the change log".into());
    }
    tally.resent = devices.iter().map(|d| d.resent).sum();
    Ok(tally)
}

#[test]
fn acknowledged_pushes_survive_kill_9_and_resends_are_idempotent() {
    let seed = env_u64("SYNCLINE_CRASH_SEED", clock_seed());
    let cycles = env_u64("SYNCLINE_CRASH_CYCLES", 5);
    let backend = test_backend();
    match run(seed, cycles) {
        Ok(t) => {
            println!(
                "kill -9 on {backend} (seed {seed}): {cycles} kills, {} batches acknowledged, \
                 cut batches found committed {} / not committed {}, {} answers given up on \
                 and resent",
                t.acked, t.cut_committed, t.cut_lost, t.resent
            );
            // Every kill cut every device's batch in flight (or its next one).
            assert_eq!(
                t.cut_committed + t.cut_lost,
                DEVICES * cycles as usize,
                "each kill leaves each device one batch without an answer"
            );
        }
        Err(e) => panic!(
            "kill -9 test on {backend} failed; replay its choices with SYNCLINE_CRASH_SEED={seed}:\n{e}"
        ),
    }
}
