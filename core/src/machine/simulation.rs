//! The scheduler ([`Machine`]) driven through thousands of seeded runs with a simulated clock,
//! network and server. Each run has a chaos phase (connectivity flaps and outages, the server
//! down, metered networks (half the runs do not sync over them), answering 503 with Retry-After, losing answers after applying, refusing the token; local
//! edits, resumes, user triggers with and without `discard_pending`, awaited syncs) and then a
//! calm phase (network and server up, token valid). Checked:
//!
//! - at most one sync and one probe run at a time, and a sync only starts when asked;
//! - the queue as persisted (the machine's [`Action::Persist`] changes applied in order, as the
//!   store applies them) always equals the machine's own queue and running request;
//! - the two ways of learning that the token is refused (a sync failing, a probe) agree: while
//!   sign-in is needed nothing is probed, Retry is not offered and the reason says so;
//! - the status says "Syncing…" exactly while a sync runs (it never sticks);
//! - the server applies every mutation exactly once, even when answers are lost;
//! - once calm, the outbox drains within a bound, and the machine ends idle and online.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Action, FailureKind, Input, Machine, Millis, ProbeResult};
use crate::autosync::AutoSync;
use crate::network::{Connectivity, NetworkStatus, NetworkType};
use crate::queue::{Queue, QueueChange};
use crate::status::{FailureReason, SyncState};

/// Seeded runs per test run.
const RUNS: u64 = 10_000;
/// Once calm, the outbox must be empty within this (longest probe or retry delay, plus a sync).
const DRAIN_BOUND: Millis = 6 * 60 * 1000;

const ENTITIES: [&str; 2] = ["tasks", "comments"];

fn unit_entities(unit: &str) -> Vec<&'static str> {
    match unit {
        "all" => ENTITIES.to_vec(),
        "tasks" => vec!["tasks"],
        _ => vec!["comments"],
    }
}

/// How the simulated server behaves at the moment.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ServerMode {
    Up,
    Down,
    Busy { retry_after_s: u64 },
    LosesAnswers,
    RefusesToken,
}

struct Pending {
    seq: u64,
    id: u64,
    entity: &'static str,
}

/// One request as the simulated store keeps it: unit, priority, first, running.
type Persisted = BTreeMap<i64, (String, i32, bool, bool)>;

struct InFlightSync {
    unit: String,
    ends_at: Millis,
    /// The outbox entries the push took (those present when it started).
    pushed: Vec<u64>,
}

struct World {
    rng: fastrand::Rng,
    now: Millis,
    machine: Machine,
    os_connected: bool,
    server: ServerMode,
    /// The queue as the store would hold it, from the machine's persisted changes.
    persisted: Persisted,
    outbox: Vec<Pending>,
    next_seq: u64,
    next_id: u64,
    /// Server: last applied seq per entity (its idempotency mark) and applies per mutation.
    server_mark: BTreeMap<&'static str, u64>,
    applied: BTreeMap<u64, u32>,
    sync: Option<InFlightSync>,
    probe_ends_at: Option<Millis>,
    syncs_started: u64,
    steps: u64,
}

impl World {
    fn new(seed: u64) -> World {
        World {
            rng: fastrand::Rng::with_seed(seed),
            now: 0,
            // Half the runs refuse to sync automatically over metered networks.
            machine: Machine::new(
                AutoSync {
                    on_metered: seed % 2 == 0,
                    ..AutoSync::default()
                },
                ["all", "tasks", "comments"]
                    .into_iter()
                    .map(|u| (u.to_string(), 0))
                    .collect(),
                seed ^ 0x5eed,
                0,
                Queue::default(),
            ),
            os_connected: true,
            server: ServerMode::Up,
            persisted: Persisted::new(),
            outbox: Vec::new(),
            next_seq: 1,
            next_id: 1,
            server_mark: BTreeMap::new(),
            applied: BTreeMap::new(),
            sync: None,
            probe_ends_at: None,
            syncs_started: 0,
            steps: 0,
        }
    }

    fn feed(&mut self, input: Input) {
        let actions = self.machine.step(self.now, input);
        for action in actions {
            match action {
                Action::Persist(changes) => self.persist(&changes),
                Action::Run(request) => {
                    assert!(self.sync.is_none(), "a second sync started while one runs");
                    assert!(self.os_connected, "a sync started while the OS is offline");
                    let entities = unit_entities(&request.unit);
                    let pushed = self
                        .outbox
                        .iter()
                        .filter(|p| entities.contains(&p.entity))
                        .map(|p| p.seq)
                        .collect();
                    let ends_at = self.now + self.rng.u64(20..3000);
                    self.sync = Some(InFlightSync {
                        unit: request.unit,
                        ends_at,
                        pushed,
                    });
                    self.syncs_started += 1;
                }
                Action::Probe => {
                    assert!(self.probe_ends_at.is_none(), "two probes at once");
                    assert_ne!(
                        self.machine.network(),
                        NetworkStatus::SignInNeeded,
                        "a probe while sign-in is needed"
                    );
                    self.probe_ends_at = Some(self.now + self.rng.u64(5..500));
                }
            }
        }
        self.check();
    }

    /// Applies queue changes as the store does (`store/queue.rs`).
    fn persist(&mut self, changes: &[QueueChange]) {
        for change in changes {
            match change {
                QueueChange::Added { request, first } => {
                    let unit_queued = self
                        .persisted
                        .values()
                        .any(|(u, _, _, running)| *u == request.unit && !running);
                    assert!(!unit_queued, "`{}` persisted twice", request.unit);
                    let row = (request.unit.clone(), request.priority, *first, false);
                    assert!(
                        self.persisted.insert(request.id, row).is_none(),
                        "id reused"
                    );
                }
                QueueChange::Raised { id, priority } => {
                    self.persisted
                        .get_mut(id)
                        .expect("raised a stored request")
                        .1 = *priority;
                }
                QueueChange::Discarded => {
                    self.persisted.retain(|_, (_, _, _, running)| *running);
                    for row in self.persisted.values_mut() {
                        row.2 = false;
                    }
                }
                QueueChange::Started { id } => {
                    self.persisted
                        .get_mut(id)
                        .expect("started a stored request")
                        .3 = true;
                }
                QueueChange::Finished { id } => {
                    assert!(
                        self.persisted.remove(id).is_some(),
                        "finished an unknown request"
                    );
                }
            }
        }
    }

    /// Invariants that hold after every step.
    fn check(&self) {
        let status = self.machine.sync_state(None);
        let syncing = matches!(status, SyncState::Syncing { .. });
        assert_eq!(
            syncing,
            self.sync.is_some(),
            "status says syncing = {syncing} at {}",
            self.now
        );
        let machine_view: Persisted = self
            .machine
            .queued()
            .map(|r| (r.id, (r.unit.clone(), r.priority, false, false)))
            .chain(
                self.machine
                    .running()
                    .map(|r| (r.id, (r.unit.clone(), r.priority, false, true))),
            )
            .collect();
        let stored: Persisted = self
            .persisted
            .iter()
            .map(|(id, (u, p, _, running))| (*id, (u.clone(), *p, false, *running)))
            .collect();
        assert_eq!(
            machine_view, stored,
            "the persisted queue differs from the machine's"
        );
        match self.machine.network() {
            NetworkStatus::SignInNeeded => {
                let f = self
                    .machine
                    .failure()
                    .expect("a failure while sign-in is needed");
                assert_eq!(f.reason, FailureReason::SignInNeeded);
                assert!(!f.retryable && f.next_retry_at.is_none());
            }
            NetworkStatus::ServerUnreachable => {
                let f = self.machine.failure().expect("a failure while unreachable");
                assert_eq!(f.reason, FailureReason::Unreachable);
            }
            NetworkStatus::Online => {
                // The converse: a refused token is never shown while the network says online.
                let reason = self.machine.failure().map(|f| f.reason);
                assert_ne!(reason, Some(FailureReason::SignInNeeded), "at {}", self.now);
                assert_ne!(reason, Some(FailureReason::Unreachable), "at {}", self.now);
            }
            NetworkStatus::Offline => {}
        }
        assert!(
            self.applied.values().all(|n| *n == 1),
            "a mutation was applied twice"
        );
    }

    fn end_sync(&mut self) {
        let Some(sync) = self.sync.take() else { return };
        let failure = if !self.os_connected {
            Some(FailureKind::Unreachable)
        } else {
            match self.server {
                ServerMode::Down => Some(FailureKind::Unreachable),
                ServerMode::RefusesToken => Some(FailureKind::SignInNeeded),
                ServerMode::Busy { retry_after_s } => Some(FailureKind::Retryable {
                    retry_after: Some(Duration::from_secs(retry_after_s)),
                }),
                ServerMode::Up | ServerMode::LosesAnswers => {
                    // The server applies the push (idempotently, by seq per entity).
                    for seq in &sync.pushed {
                        if let Some(p) = self.outbox.iter().find(|p| p.seq == *seq) {
                            let mark = self.server_mark.entry(p.entity).or_insert(0);
                            if p.seq > *mark {
                                *mark = p.seq;
                                *self.applied.entry(p.id).or_insert(0) += 1;
                            }
                        }
                    }
                    if self.server == ServerMode::LosesAnswers {
                        Some(FailureKind::Retryable { retry_after: None })
                    } else {
                        self.outbox.retain(|p| !sync.pushed.contains(&p.seq));
                        None
                    }
                }
            }
        };
        let failed = failure.is_some();
        let _ = sync.unit;
        self.feed(Input::Ended(failure.map(|kind| {
            let reason = match kind {
                FailureKind::Unreachable => FailureReason::Unreachable,
                FailureKind::SignInNeeded => FailureReason::SignInNeeded,
                _ => FailureReason::ServerError { status: 503 },
            };
            (kind, reason)
        })));
        // The driver's drain rule: after a good sync, anything still pending gets a sync.
        if !failed && !self.outbox.is_empty() {
            self.feed(Input::LocalChange);
        }
    }

    fn end_probe(&mut self) {
        self.probe_ends_at = None;
        let result = if !self.os_connected || self.server == ServerMode::Down {
            ProbeResult::Unreachable
        } else if self.server == ServerMode::RefusesToken {
            ProbeResult::SignInNeeded
        } else {
            ProbeResult::Reachable
        };
        self.feed(Input::ProbeEnded(result));
    }

    fn set_connectivity(&mut self, connected: bool, metered: bool) {
        self.os_connected = connected;
        let c = if connected {
            Connectivity {
                metered,
                ..Connectivity::online(if metered {
                    NetworkType::Cellular
                } else {
                    NetworkType::Wifi
                })
            }
        } else {
            Connectivity::offline()
        };
        self.feed(Input::Connectivity(c));
    }

    fn chaos_event(&mut self) {
        match self.rng.u32(0..100) {
            0..=14 => {
                let connected = !self.os_connected;
                let metered = self.rng.bool();
                self.set_connectivity(connected, metered);
            }
            15..=24 => {
                self.server = match self.rng.u32(0..5) {
                    0 => ServerMode::Down,
                    1 => ServerMode::Busy {
                        retry_after_s: self.rng.u64(1..120),
                    },
                    2 => ServerMode::LosesAnswers,
                    3 => ServerMode::RefusesToken,
                    _ => ServerMode::Up,
                }
            }
            25..=29 => {
                if self.server == ServerMode::RefusesToken {
                    self.server = ServerMode::Up;
                }
                self.feed(Input::TokenChanged);
            }
            30..=69 => {
                let entity = ENTITIES[self.rng.usize(0..2)];
                self.outbox.push(Pending {
                    seq: self.next_seq,
                    id: self.next_id,
                    entity,
                });
                self.next_seq += 1;
                self.next_id += 1;
                self.feed(Input::LocalChange);
            }
            70..=79 => self.feed(Input::Resume),
            80..=89 => {
                let unit = ["all", "tasks", "comments"][self.rng.usize(0..3)].to_string();
                let discard = self.rng.bool();
                let force = self.rng.u32(0..4) == 0;
                self.feed(Input::Requested {
                    unit,
                    priority: if force { 1000 } else { 0 },
                    discard_pending: discard,
                    force,
                });
            }
            _ => self.feed(Input::RetryNow),
        }
    }

    /// Advances to the next thing that happens before `until` (a timer, a sync or probe ending,
    /// or `until` itself); returns false when `until` is reached.
    fn advance(&mut self, until: Millis) -> bool {
        self.steps += 1;
        assert!(
            self.steps < 1_000_000,
            "the run does not progress at {}",
            self.now
        );
        let sync_end = self.sync.as_ref().map(|s| s.ends_at);
        let next = [self.machine.next_wake(), sync_end, self.probe_ends_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(until)
            .max(self.now);
        if next >= until {
            self.now = until;
            return false;
        }
        self.now = next;
        if sync_end == Some(next) {
            self.end_sync();
        } else if self.probe_ends_at == Some(next) {
            self.end_probe();
        } else {
            self.feed(Input::Tick);
        }
        true
    }

    fn all_applied_once(&self) -> bool {
        self.outbox.is_empty() && self.applied.len() as u64 == self.next_id - 1
    }
}

fn run(seed: u64) {
    let mut w = World::new(seed);
    w.feed(Input::Start);
    let chaos_ends = w.rng.u64(60_000..30 * 60_000);
    while w.now < chaos_ends {
        let event_at = (w.now + w.rng.u64(0..60_000)).min(chaos_ends);
        while w.advance(event_at) {}
        w.chaos_event();
    }
    // Calm: the network and server come back, the user signs in again.
    w.server = ServerMode::Up;
    if !w.os_connected || w.machine.connectivity().metered {
        w.set_connectivity(true, false);
    }
    if w.machine.network() == NetworkStatus::SignInNeeded {
        w.feed(Input::TokenChanged);
    }
    let deadline = w.now + DRAIN_BOUND;
    while !w.all_applied_once() {
        assert!(
            w.advance(deadline),
            "seed {seed}: outbox not drained {DRAIN_BOUND} ms after calm: {} pending, network {:?}, queue {:?}, failure {:?}",
            w.outbox.len(),
            w.machine.network(),
            w.persisted,
            w.machine.failure()
        );
    }
    // The machine must settle, idle and online, within the same bound (a retry that was
    // waiting when the outbox drained still runs, and succeeds).
    while w.sync.is_some()
        || w.probe_ends_at.is_some()
        || w.machine.failure().is_some()
        || w.machine.queued().next().is_some()
    {
        assert!(
            w.advance(deadline),
            "seed {seed}: not settled {DRAIN_BOUND} ms after calm: network {:?}, queue {:?}, failure {:?}",
            w.machine.network(),
            w.persisted,
            w.machine.failure()
        );
    }
    assert_eq!(w.machine.network(), NetworkStatus::Online, "seed {seed}");
    assert_eq!(w.machine.failure(), None, "seed {seed}");
    assert_eq!(w.machine.sync_state(None), SyncState::Idle, "seed {seed}");
    assert!(w.syncs_started > 0);
}

#[test]
fn seeded_runs_drain_the_outbox_exactly_once_and_never_stick() {
    let first = std::env::var("SYNCLINE_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..first + RUNS {
        run(seed);
    }
}
