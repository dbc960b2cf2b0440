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
//!
//! Two runs in three also keep a live stream (`live_stream.rs`), with its own chaos: streams
//! that fail to open, are refused (401, 429 with Retry-After), dropped, or go silent; the app
//! going to the background and back; other devices' changes hinted on the stream. Checked too:
//!
//! - a stream is only ever open, or being opened, while the OS is connected, the app is in the
//!   foreground and the token is not refused; never two at once;
//! - a stream failure never starts a sync, never touches the queue, the server state or the
//!   network state, and never changes the status (so neither the banner);
//! - a hint never starts a sync while automatic syncs wait (backoff, sign-in, metered);
//! - each reconnect delay is within the full-jitter bound (or the server's Retry-After);
//! - once calm, a stream opens within a bound, and another device's change reaches the device
//!   through a hint within seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use super::live_stream::{reconnect_bound, StreamState, RETRY_AFTER_CAP};
use super::{
    Action, FailureKind, Input, LiveSettings, Machine, Millis, ProbeResult, Server, StreamEnd,
};
use crate::autosync::AutoSync;
use crate::network::{Connectivity, NetworkStatus, NetworkType};
use crate::queue::{Queue, QueueChange};
use crate::status::{FailureReason, SyncState};

/// Seeded runs per test run.
const RUNS: u64 = 10_000;
/// Once calm, the outbox must be empty within this (longest probe or retry delay, plus a sync).
const DRAIN_BOUND: Millis = 6 * 60 * 1000;
/// Once calm and live, another device's change must be on the device within this.
const HINT_BOUND: Millis = 10_000;

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
    /// What the pull brings: the server's positions of the unit's entities when it started.
    pulled_to: BTreeMap<&'static str, u64>,
}

/// What the simulated live stream does next.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StreamNext {
    /// The server answers 200.
    Opens,
    /// A ping.
    Ping,
    /// The stream ends so.
    Ends(StreamEnd),
    /// Nothing ever again (a half-open connection): only the machine's deadline ends it.
    Silent,
}

/// The live stream as the simulated server holds it.
struct SimStream {
    conn: u64,
    next: StreamNext,
    at: Millis,
    open: bool,
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
    foreground: bool,
    live: bool,
    stream: Option<SimStream>,
    /// Other devices' changes: the server's position per entity, and the device's cursor.
    server_pos: BTreeMap<&'static str, u64>,
    device_pos: BTreeMap<&'static str, u64>,
    streams_opened: u64,
    hints: u64,
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
            )
            .with_live(LiveSettings {
                enabled: seed % 3 != 0,
                heartbeat: Duration::from_secs(if seed % 4 == 0 { 5 } else { 25 }),
            }),
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
            foreground: true,
            live: seed % 3 != 0,
            stream: None,
            server_pos: ENTITIES.iter().map(|e| (*e, 0)).collect(),
            device_pos: ENTITIES.iter().map(|e| (*e, 0)).collect(),
            streams_opened: 0,
            hints: 0,
        }
    }

    /// Whether automatic syncs wait (backoff, sign-in, unreachable, metered), so only an
    /// awaited request may start.
    fn syncs_wait(&self) -> bool {
        let m = &self.machine;
        (m.os.metered && !m.policy.on_metered)
            || match m.server {
                Server::SignInNeeded | Server::Unreachable { .. } => true,
                Server::BackingOff { until, .. } => until.is_some(),
                Server::Answering | Server::Broken { .. } => false,
            }
    }

    /// What a stream failure must leave alone.
    fn scheduler_view(&self) -> String {
        let m = &self.machine;
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            m.server,
            m.link,
            m.queued().collect::<Vec<_>>(),
            m.running(),
            m.sync_state(None),
            m.failure(),
            m.network(),
            (m.change_at, m.periodic_at, m.probe_in_flight),
        )
    }

    /// Feeds a stream input; a failure is held to leave the scheduler alone.
    fn feed_stream(&mut self, input: Input) {
        let failure = matches!(
            input,
            Input::StreamEnded {
                end: StreamEnd::Failed | StreamEnd::RetryAfter(_),
                ..
            }
        );
        let hint = matches!(input, Input::Hinted { .. });
        // Timers due now would fire in the same step; judge the input alone.
        let quiet = self.machine.next_wake().is_none_or(|t| t > self.now);
        let (before, waiting) = (self.scheduler_view(), self.syncs_wait());
        let failures = self.machine.live.failures();
        let end = match input {
            Input::StreamEnded { conn, end } if self.machine.live.state_conn() == Some(conn) => {
                Some(end)
            }
            _ => None,
        };
        let actions = self.machine.step(self.now, input.clone());
        if failure && quiet {
            assert!(
                !actions
                    .iter()
                    .any(|a| matches!(a, Action::Run(_) | Action::Persist(_))),
                "a stream failure started a sync or touched the queue: {actions:?}"
            );
            assert_eq!(
                before,
                self.scheduler_view(),
                "a stream failure changed the scheduler at {}",
                self.now
            );
        }
        if hint && waiting {
            assert!(
                !actions.iter().any(|a| matches!(a, Action::Run(_))),
                "a hint started a sync while automatic syncs wait"
            );
        }
        if let Some(end) = end {
            if let StreamState::Waiting { at } = self.machine.live.state() {
                let bound = match end {
                    StreamEnd::RetryAfter(d) => {
                        super::ms(d.min(RETRY_AFTER_CAP)).max(reconnect_bound(failures + 1))
                    }
                    _ => reconnect_bound(failures + 1),
                };
                assert!(
                    at - self.now <= bound,
                    "reconnect in {} ms, over the bound {bound} after {} failures",
                    at - self.now,
                    failures + 1
                );
            }
        }
        self.carry_out(actions);
    }

    fn feed(&mut self, input: Input) {
        let actions = self.machine.step(self.now, input);
        self.carry_out(actions);
    }

    fn carry_out(&mut self, actions: Vec<Action>) {
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
                    let pulled_to = entities
                        .iter()
                        .map(|e| (*e, self.server_pos.get(e).copied().unwrap_or(0)))
                        .collect();
                    self.sync = Some(InFlightSync {
                        unit: request.unit,
                        ends_at,
                        pushed,
                        pulled_to,
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
                Action::OpenStream { conn } => {
                    assert!(self.live, "a stream opened while disabled");
                    assert!(self.os_connected, "a stream opened while offline");
                    assert!(self.foreground, "a stream opened in the background");
                    assert_ne!(self.machine.network(), NetworkStatus::SignInNeeded);
                    assert!(self.stream.is_none(), "a second stream");
                    self.streams_opened += 1;
                    let (next, delay) = match self.server {
                        ServerMode::Down => (StreamNext::Ends(StreamEnd::Failed), 5..500),
                        ServerMode::RefusesToken => {
                            (StreamNext::Ends(StreamEnd::SignInNeeded), 5..200)
                        }
                        ServerMode::Busy { retry_after_s } => (
                            StreamNext::Ends(StreamEnd::RetryAfter(Duration::from_secs(
                                retry_after_s,
                            ))),
                            5..200,
                        ),
                        ServerMode::Up | ServerMode::LosesAnswers => (StreamNext::Opens, 5..300),
                    };
                    let at = self.now + self.rng.u64(delay);
                    self.stream = Some(SimStream {
                        conn,
                        next,
                        at,
                        open: false,
                    });
                }
                Action::CloseStream { conn } => {
                    assert_eq!(
                        self.stream.as_ref().map(|s| s.conn),
                        Some(conn),
                        "closed a stream that is not there"
                    );
                    self.stream = None;
                }
            }
        }
        self.check();
    }

    fn heartbeat(&self) -> Millis {
        super::ms(self.machine.live.settings().heartbeat)
    }

    /// The simulated stream's next event comes due.
    fn stream_event(&mut self) {
        let heartbeat = self.heartbeat();
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let conn = stream.conn;
        match stream.next {
            StreamNext::Silent => stream.at = Millis::MAX,
            StreamNext::Opens => {
                stream.open = true;
                stream.next = StreamNext::Ping;
                stream.at = self.now + heartbeat;
                self.feed_stream(Input::StreamOpened { conn });
            }
            StreamNext::Ping => {
                stream.at = self.now + heartbeat;
                self.feed_stream(Input::StreamHeard { conn });
            }
            StreamNext::Ends(end) => {
                self.stream = None;
                self.feed_stream(Input::StreamEnded { conn, end });
            }
        }
    }

    /// Another device changed `entity` on the server; an open stream hints it.
    fn colleague_edit(&mut self, entity: &'static str) {
        *self.server_pos.entry(entity).or_insert(0) += 1;
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        if !stream.open || stream.next == StreamNext::Silent {
            return;
        }
        let conn = stream.conn;
        self.hints += 1;
        // The driver's rule: only entities whose cursor is behind; each as its own unit.
        let units = ENTITIES
            .iter()
            .filter(|e| self.device_pos[*e] < self.server_pos[*e])
            .map(|e| e.to_string())
            .collect();
        self.feed_stream(Input::Hinted { conn, units });
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
        if matches!(
            self.machine.live.state(),
            StreamState::Connecting { .. } | StreamState::Open { .. }
        ) {
            assert!(
                self.os_connected
                    && self.foreground
                    && self.machine.network() != NetworkStatus::SignInNeeded,
                "a stream stays open while it should not at {}",
                self.now
            );
        }
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
                        for (e, pos) in &sync.pulled_to {
                            let mine = self.device_pos.entry(e).or_insert(0);
                            *mine = (*mine).max(*pos);
                        }
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
        if !connected {
            // The connection is gone, but nothing says so on the stream itself.
            if let Some(stream) = self.stream.as_mut() {
                stream.next = StreamNext::Silent;
            }
        }
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
                };
                // An open stream learns of it: cut, or told the token is no longer good.
                let end = match self.server {
                    ServerMode::Down => Some(StreamEnd::Failed),
                    ServerMode::RefusesToken => Some(StreamEnd::SignInNeeded),
                    _ => None,
                };
                if let (Some(stream), Some(end)) = (self.stream.as_mut(), end) {
                    stream.next = StreamNext::Ends(end);
                    stream.at = self.now;
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
            70..=74 => {
                self.foreground = true;
                self.feed(Input::Resume);
            }
            75..=77 => {
                self.foreground = false;
                self.feed(Input::Pause);
            }
            78..=79 => self.stream_chaos(),
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

    /// Something happens to the stream or on the server: a colleague's edit, the connection
    /// dropped, gone silent, the token revoked mid-stream (a `bye`).
    fn stream_chaos(&mut self) {
        let roll = self.rng.u32(0..4);
        let Some(stream) = self.stream.as_mut() else {
            let entity = ENTITIES[self.rng.usize(0..2)];
            self.colleague_edit(entity);
            return;
        };
        match roll {
            0 => {
                stream.next = StreamNext::Ends(StreamEnd::Failed);
                stream.at = self.now;
            }
            1 => stream.next = StreamNext::Silent,
            _ => {
                let entity = ENTITIES[self.rng.usize(0..2)];
                self.colleague_edit(entity);
            }
        }
    }

    fn stream_at(&self) -> Option<Millis> {
        self.stream
            .as_ref()
            .map(|s| s.at)
            .filter(|at| *at != Millis::MAX)
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
        let stream_at = self.stream_at();
        let next = [
            self.machine.next_wake(),
            sync_end,
            self.probe_ends_at,
            stream_at,
        ]
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
        } else if stream_at == Some(next) {
            self.stream_event();
        } else {
            self.feed(Input::Tick);
        }
        true
    }

    fn all_applied_once(&self) -> bool {
        self.outbox.is_empty() && self.applied.len() as u64 == self.next_id - 1
    }
}

/// One seeded run; returns the streams it opened and the hints they carried.
fn run(seed: u64) -> (u64, u64) {
    let mut w = World::new(seed);
    w.feed(Input::Start);
    let chaos_ends = w.rng.u64(60_000..30 * 60_000);
    while w.now < chaos_ends {
        let event_at = (w.now + w.rng.u64(0..60_000)).min(chaos_ends);
        while w.advance(event_at) {}
        w.chaos_event();
    }
    // Calm: the network and server come back, the user signs in again, the app is in front.
    w.server = ServerMode::Up;
    if let Some(stream) = w.stream.as_mut() {
        // The server's answers are good from now on; a stream held through the chaos may be
        // silent, though, and it is up to the machine to notice.
        if matches!(stream.next, StreamNext::Ends(_)) {
            stream.next = if stream.open {
                StreamNext::Ping
            } else {
                StreamNext::Opens
            };
        }
    }
    if !w.foreground {
        w.foreground = true;
        w.feed(Input::Resume);
    }
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
    if !w.live {
        assert_eq!(w.streams_opened, 0);
        return (0, 0);
    }
    // Live: a stream opens within the bound (the longest reconnect delay and then some) …
    let deadline = w.now + DRAIN_BOUND;
    while !w
        .stream
        .as_ref()
        .is_some_and(|s| s.open && s.next == StreamNext::Ping)
    {
        assert!(
            w.advance(deadline),
            "seed {seed}: no live stream {DRAIN_BOUND} ms after calm: {:?}, foreground {}, os {:?}, link {:?}, server {:?}, world stream {:?}",
            w.machine.live.state(),
            w.machine.foreground,
            w.machine.os,
            w.machine.link,
            w.machine.server,
            w.stream.as_ref().map(|s| (s.conn, s.next, s.at, s.open)),
        );
    }
    assert!(w.machine.is_live());
    // … and another device's change reaches the device through it, within seconds.
    let entity = ENTITIES[w.rng.usize(0..2)];
    w.colleague_edit(entity);
    let deadline = w.now + HINT_BOUND;
    while w.device_pos[entity] < w.server_pos[entity] {
        assert!(
            w.advance(deadline),
            "seed {seed}: a hinted change of `{entity}` not pulled within {HINT_BOUND} ms"
        );
    }
    (w.streams_opened, w.hints)
}

#[test]
fn seeded_runs_drain_the_outbox_exactly_once_and_never_stick() {
    let first = std::env::var("SYNCLINE_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (mut streams, mut hints) = (0, 0);
    for seed in first..first + RUNS {
        let (s, h) = run(seed);
        streams += s;
        hints += h;
    }
    // The stream's chaos did happen (the counts only vary with the seeds).
    assert!(
        streams > RUNS && hints > RUNS / 2,
        "{streams} streams, {hints} hints"
    );
}
