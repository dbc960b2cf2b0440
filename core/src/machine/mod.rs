//! The sync scheduler as a state machine: every decision about *when* to sync (the request queue,
//! retries and backoff, reachability probes, debouncing, what the network state is) is made here,
//! from events and a clock passed in, with no I/O. The client's driver (`driver.rs`) feeds it real
//! events and carries out its [`Action`]s; the simulation tests feed it a seeded clock and network.
//!
//! Its state is a few enums ([`Link`], [`Server`], [`Run`]) rather than flags, so a contradictory
//! state (unreachable *and* waiting for sign-in, probing while offline) cannot be represented.
//! The queue is the machine's own ([`Queue`]); every change to it comes out as an
//! [`Action::Persist`] for the store. The live stream (`GET /v1/live`) is a part of its own
//! ([`LiveStream`], `live_stream.rs`): the machine tells it whether a stream is wanted, and
//! turns its hints into queued requests like any other.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::autosync::AutoSync;
use crate::network::{Connectivity, NetworkStatus, NetworkType};
use crate::queue::{Queue, QueueChange, SyncRequest};
use crate::status::{FailureReason, SyncProgress, SyncState};

mod live_stream;
#[cfg(test)]
mod simulation;

pub(crate) use live_stream::{LiveSettings, StreamEnd};
use live_stream::{LiveStream, StreamEffect};

/// Priority of a sync a live hint asks for: ahead of background syncs (whose units default to
/// 0), behind one somebody awaits (`sync_now`, 1000).
pub(crate) const HINTED_PRIORITY: i32 = 100;

/// Milliseconds on the machine's clock (monotonic; its zero is arbitrary).
pub(crate) type Millis = u64;

/// Why a sync failed, as far as scheduling cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The device was offline.
    Offline,
    /// The server could not be reached.
    Unreachable,
    /// The server refused the token.
    SignInNeeded,
    /// Worth retrying; the server may have said how long to wait.
    Retryable {
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help (a bug, a broken store): shown, not retried.
    Fatal,
}

/// What a reachability probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeResult {
    /// The server answered and accepted the token.
    Reachable,
    /// No answer.
    Unreachable,
    /// The server answered and refused the token.
    SignInNeeded,
}

/// Something that happened, fed to [`Machine::step`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// The client started.
    Start,
    /// The shell reported connectivity.
    Connectivity(Connectivity),
    /// The app came to the foreground.
    Resume,
    /// The app went to the background: the live stream closes.
    Pause,
    /// A local write was saved.
    LocalChange,
    /// The app asked for a sync of `unit`. With `discard_pending` the queue is emptied first;
    /// `force` runs it even while the machine would wait (backoff, unreachable, sign-in
    /// needed, metered): someone awaits its result.
    Requested {
        unit: String,
        /// Its priority (higher runs first).
        priority: i32,
        /// Whether queued requests are dropped first.
        discard_pending: bool,
        /// Run despite waiting.
        force: bool,
    },
    /// The running sync ended: `None` on success.
    Ended(Option<(FailureKind, FailureReason)>),
    /// A probe ended.
    ProbeEnded(ProbeResult),
    /// The app set a new token.
    TokenChanged,
    /// The user asked to retry now (the banner's Retry action).
    RetryNow,
    /// Time passed (a timer the machine asked for came due).
    Tick,
    /// Live stream `conn` opened (the server answered 200).
    StreamOpened { conn: u64 },
    /// Something arrived on live stream `conn` (a hello, a ping): it is alive.
    StreamHeard { conn: u64 },
    /// Live stream `conn` says these units have changes the device lacks (the driver compared
    /// the hinted positions with the stored cursors and chose the units).
    Hinted { conn: u64, units: Vec<String> },
    /// Live stream `conn` ended, or never opened.
    StreamEnded { conn: u64, end: StreamEnd },
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Persist these queue changes, after any persisted before.
    Persist(Vec<QueueChange>),
    /// Run this request; answer with [`Input::Ended`].
    Run(SyncRequest),
    /// Ask the server whether it is reachable; answer with [`Input::ProbeEnded`].
    Probe,
    /// Open live stream `conn`; answer with [`Input::StreamOpened`], [`Input::StreamHeard`],
    /// [`Input::Hinted`] and [`Input::StreamEnded`] naming it.
    OpenStream { conn: u64 },
    /// Close live stream `conn`; whatever it still says is ignored.
    CloseStream { conn: u64 },
}

/// The standing failure, while it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The code the banner shows.
    pub reason: FailureReason,
    /// Whether trying again can help; whether the machine retries *by itself* is
    /// `next_retry_at`.
    pub retryable: bool,
    /// When it will (machine clock).
    pub next_retry_at: Option<Millis>,
}

/// The connection as decisions see it: the OS's reports, debounced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No report yet: assumed up (the first report is taken as it is).
    Assumed,
    /// Connected, as far as decisions go.
    Up,
    /// The OS reported no connectivity; it counts as down at `at` unless it returns first (a
    /// flap).
    Dropping {
        /// When it counts as down.
        at: Millis,
    },
    /// No connectivity, for longer than the flap debounce.
    Down,
}

/// What the machine knows of the server, and what automatic syncs wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// Answering, as far as the last sync or probe showed.
    Answering,
    /// The last sync failed in a way a retry can fix; automatic syncs wait `until` (none when
    /// the policy does not retry, or the wait is over).
    BackingOff {
        /// Failures in a row.
        attempt: u32,
        until: Option<Millis>,
        /// Why it failed.
        reason: FailureReason,
    },
    /// No answer over a working connection: probes look for it with backoff.
    Unreachable {
        /// Probes that found nothing, in a row.
        attempt: u32,
        /// When the next probe goes out (once the connection allows and none is on its way).
        next_probe: Millis,
    },
    /// The token was refused: nothing syncs by itself until the app sets a new one.
    SignInNeeded,
    /// The last sync failed in a way retrying cannot fix; shown until a sync succeeds.
    Broken {
        /// Why it failed.
        reason: FailureReason,
    },
}

/// Whether a sync runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Run {
    /// No sync is running.
    Idle,
    /// This request's.
    Running(SyncRequest),
}

#[derive(Debug)]
pub(crate) struct Machine {
    policy: AutoSync,
    /// Each unit's configured priority (automatic requests and retries use it).
    priorities: BTreeMap<String, i32>,
    rng: fastrand::Rng,
    /// Wall time (ms since the Unix epoch) at machine time 0.
    wall_zero: i64,
    /// What the OS last reported.
    os: Connectivity,
    link: Link,
    server: Server,
    /// Whether a probe is on its way (a fact about the world, kept whatever the server state
    /// became meanwhile: there is never a second one, and a late answer is recognised).
    probe_in_flight: bool,
    queue: Queue,
    run: Run,
    /// When the changes saved so far get their sync.
    change_at: Option<Millis>,
    /// When the next periodic sync is due.
    periodic_at: Option<Millis>,
    /// Whether the app is in the foreground (assumed at start; `Pause` and `Resume` say).
    foreground: bool,
    live: LiveStream,
}

fn ms(d: Duration) -> Millis {
    d.as_millis().min(u128::from(u64::MAX)) as Millis
}

impl Machine {
    /// A machine with `policy`, the units' priorities, its jitter drawn from `seed`, the queue
    /// the store kept, and `wall_zero` (epoch ms) at machine time 0. Connectivity is assumed
    /// until the shell says otherwise.
    pub(crate) fn new(
        policy: AutoSync,
        priorities: BTreeMap<String, i32>,
        seed: u64,
        wall_zero: i64,
        queue: Queue,
    ) -> Machine {
        Machine {
            policy,
            priorities,
            rng: fastrand::Rng::with_seed(seed),
            wall_zero,
            os: Connectivity::online(NetworkType::Other),
            link: Link::Assumed,
            server: Server::Answering,
            probe_in_flight: false,
            queue,
            run: Run::Idle,
            change_at: None,
            periodic_at: None,
            foreground: true,
            // Its own generator: the scheduler's jitter stays as it was with or without it.
            live: LiveStream::new(LiveSettings::off(), seed.rotate_left(29) ^ 0x11fe),
        }
    }

    /// The same machine with a live stream as `settings` say.
    pub(crate) fn with_live(mut self, settings: LiveSettings) -> Machine {
        self.live.configure(settings);
        self
    }

    /// Whether a live stream is open.
    pub(crate) fn is_live(&self) -> bool {
        self.live.is_live()
    }

    /// Whether live stream `conn` is the one being opened or open.
    pub(crate) fn is_current_stream(&self, conn: u64) -> bool {
        self.live.state_conn() == Some(conn)
    }

    /// Whether a live stream should be open: enabled (the stream says), hints wanted
    /// (`AutoSync::on_hint`), in the foreground, with connectivity (reported or assumed), and a
    /// token the server has not refused.
    fn live_wanted(&self) -> bool {
        self.policy.on_hint
            && self.foreground
            && self.os.connected
            && self.link != Link::Down
            && self.server != Server::SignInNeeded
    }

    pub(crate) fn policy(&self) -> &AutoSync {
        &self.policy
    }

    pub(crate) fn network(&self) -> NetworkStatus {
        match (self.link, self.server) {
            (Link::Down, _) => NetworkStatus::Offline,
            (_, Server::SignInNeeded) => NetworkStatus::SignInNeeded,
            (_, Server::Unreachable { .. }) => NetworkStatus::ServerUnreachable,
            _ => NetworkStatus::Online,
        }
    }

    /// What the OS last reported.
    pub(crate) fn connectivity(&self) -> Connectivity {
        self.os
    }

    /// The request being synced, if any.
    pub(crate) fn running(&self) -> Option<&SyncRequest> {
        match &self.run {
            Run::Running(request) => Some(request),
            Run::Idle => None,
        }
    }

    /// The queued requests, in the order they will run.
    pub(crate) fn queued(&self) -> impl Iterator<Item = &SyncRequest> {
        self.queue.requests()
    }

    /// The standing failure, if any.
    pub(crate) fn failure(&self) -> Option<Failure> {
        let failure = |reason, retryable, next_retry_at| Failure {
            reason,
            retryable,
            next_retry_at,
        };
        match self.server {
            Server::Answering => None,
            Server::BackingOff { until, reason, .. } => Some(failure(reason, true, until)),
            Server::Unreachable { next_probe, .. } => Some(failure(
                FailureReason::Unreachable,
                true,
                self.policy.retry.then_some(next_probe),
            )),
            Server::SignInNeeded => Some(failure(FailureReason::SignInNeeded, false, None)),
            Server::Broken { reason } => Some(failure(reason, false, None)),
        }
    }

    /// What the scheduler is doing, for the status: a running sync wins, then being offline,
    /// then a standing failure. `progress` is the running sync's.
    pub(crate) fn sync_state(&self, progress: Option<&SyncProgress>) -> SyncState {
        if let Some(request) = self.running() {
            return SyncState::Syncing {
                unit: request.unit.clone(),
                progress: progress
                    .cloned()
                    .unwrap_or_else(|| SyncProgress::starting(0)),
            };
        }
        if self.network() == NetworkStatus::Offline {
            return SyncState::Offline;
        }
        match self.failure() {
            Some(f) => SyncState::Failed {
                reason: f.reason,
                retryable: f.retryable,
                next_retry_at: f.next_retry_at.map(|t| self.wall(t)),
            },
            None => SyncState::Idle,
        }
    }

    /// A machine time as wall time (epoch ms).
    fn wall(&self, t: Millis) -> i64 {
        self.wall_zero
            .saturating_add(i64::try_from(t).unwrap_or(i64::MAX))
    }

    /// When the machine next needs a [`Input::Tick`], if ever.
    pub(crate) fn next_wake(&self) -> Option<Millis> {
        let dropping = match self.link {
            Link::Dropping { at } => Some(at),
            _ => None,
        };
        let hold = match self.server {
            Server::BackingOff { until, .. } => until,
            _ => None,
        };
        let probe = match self.server {
            Server::Unreachable { next_probe, .. } if self.probe_allowed() => Some(next_probe),
            _ => None,
        };
        [
            dropping,
            self.change_at,
            self.periodic_at,
            hold,
            probe,
            self.live.next_wake(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Feeds one input at time `now`; returns what to do, in order.
    pub(crate) fn step(&mut self, now: Millis, input: Input) -> Vec<Action> {
        let mut changes = Vec::new();
        let mut actions = Vec::new();
        let mut effects = Vec::new();
        if input == Input::TokenChanged {
            // An open stream speaks for the old token (maybe another user's): start again.
            self.live.restart(now, &mut effects);
        }
        self.apply(now, input, &mut changes);
        self.fire_timers(now, &mut changes, &mut actions);
        self.live.reconcile(now, self.live_wanted(), &mut effects);
        self.live.tick(now, &mut effects);
        let run = self.maybe_run(&mut changes);
        if !changes.is_empty() {
            actions.insert(0, Action::Persist(changes));
        }
        actions.extend(run.map(Action::Run));
        actions.extend(effects.into_iter().map(|e| match e {
            StreamEffect::Open { conn } => Action::OpenStream { conn },
            StreamEffect::Close { conn } => Action::CloseStream { conn },
        }));
        actions
    }

    /// Queues `unit` for a live hint: at least [`HINTED_PRIORITY`], never forced, so backoff,
    /// sign-in and metered rules hold as for any automatic sync.
    fn enqueue_hinted(&mut self, unit: &str, now: Millis, changes: &mut Vec<QueueChange>) {
        let priority = self
            .priorities
            .get(unit)
            .copied()
            .unwrap_or(0)
            .max(HINTED_PRIORITY);
        let wall = self.wall(now);
        self.queue.push(unit, priority, false, false, wall, changes);
    }

    /// Queues `unit` at its configured priority.
    fn enqueue(&mut self, unit: &str, now: Millis, changes: &mut Vec<QueueChange>) {
        let priority = self.priorities.get(unit).copied().unwrap_or(0);
        let wall = self.wall(now);
        self.queue.push(unit, priority, false, false, wall, changes);
    }

    fn enqueue_auto(&mut self, now: Millis, changes: &mut Vec<QueueChange>) {
        let unit = self.policy.unit.clone();
        self.enqueue(&unit, now, changes);
    }

    /// Full jitter: a uniform delay in `[0, min(cap, base * 2^(attempt-1))]`.
    fn backoff(&mut self, attempt: u32, base: Duration, cap: Duration) -> Millis {
        let exp = ms(base).saturating_mul(1u64 << attempt.saturating_sub(1).min(40));
        self.rng.u64(0..=exp.min(ms(cap)))
    }

    /// Forgets every failure and backoff (the network came back, the user asked, the server
    /// answered); a refused token stays refused until a new one is set.
    fn forget_failures(&mut self) {
        if self.server != Server::SignInNeeded {
            self.server = Server::Answering;
        }
    }

    fn apply(&mut self, now: Millis, input: Input, changes: &mut Vec<QueueChange>) {
        match input {
            Input::Start => {
                if self.policy.on_start {
                    self.enqueue_auto(now, changes);
                }
                self.periodic_at = self.policy.periodic.map(|p| now.saturating_add(ms(p)));
            }
            Input::Connectivity(c) => self.connectivity_reported(now, c, changes),
            Input::Resume => {
                self.foreground = true;
                if self.policy.on_resume {
                    self.enqueue_auto(now, changes);
                }
                if let Server::Unreachable { next_probe, .. } = &mut self.server {
                    *next_probe = now;
                }
            }
            Input::Pause => self.foreground = false,
            Input::LocalChange => {
                if let Some(d) = self.policy.after_change {
                    // Changes within the window join the first one's sync (no starvation by a
                    // steady stream of edits).
                    self.change_at.get_or_insert(now.saturating_add(ms(d)));
                }
            }
            Input::Requested {
                unit,
                priority,
                discard_pending,
                force,
            } => {
                let wall = self.wall(now);
                self.queue
                    .push(&unit, priority, discard_pending, force, wall, changes);
            }
            Input::Ended(failure) => {
                let Run::Running(request) = std::mem::replace(&mut self.run, Run::Idle) else {
                    return;
                };
                changes.push(QueueChange::Finished { id: request.id });
                match failure {
                    None => {
                        self.server = Server::Answering;
                        self.periodic_at = self.policy.periodic.map(|p| now.saturating_add(ms(p)));
                    }
                    Some((kind, reason)) => self.failed(now, &request.unit, kind, reason, changes),
                }
            }
            Input::ProbeEnded(result) => self.probe_ended(now, result),
            Input::TokenChanged => {
                self.server = Server::Answering;
                if self.policy.on_start {
                    self.enqueue_auto(now, changes);
                }
            }
            Input::RetryNow => {
                self.forget_failures();
                self.enqueue_auto(now, changes);
            }
            Input::Tick => {}
            Input::StreamOpened { conn } => {
                if self.live.opened(now, conn) {
                    // Hints sent while no stream was open are lost: one sync catches up.
                    let unit = self.policy.unit.clone();
                    self.enqueue_hinted(&unit, now, changes);
                }
            }
            Input::StreamHeard { conn } => {
                self.live.heard(now, conn);
            }
            Input::Hinted { conn, units } => {
                if self.live.heard(now, conn) {
                    for unit in units {
                        self.enqueue_hinted(&unit, now, changes);
                    }
                }
            }
            Input::StreamEnded { conn, end } => {
                let current = self.live.ended(now, conn, end).is_some();
                // Only a refused token is news for the scheduler: the same as a sync's 401.
                if current && end == StreamEnd::SignInNeeded {
                    self.server = Server::SignInNeeded;
                }
            }
        }
    }

    fn connectivity_reported(
        &mut self,
        now: Millis,
        c: Connectivity,
        changes: &mut Vec<QueueChange>,
    ) {
        self.os = c;
        self.link = match (self.link, c.connected) {
            // Until the first report the machine only assumed connectivity: nothing to debounce.
            (Link::Assumed, true) => Link::Up,
            (Link::Assumed, false) => Link::Down,
            // A return within the debounce was a flap: nothing changed for the user.
            (Link::Up | Link::Dropping { .. }, true) => Link::Up,
            (Link::Up, false) => Link::Dropping {
                at: now.saturating_add(ms(self.policy.offline_debounce)),
            },
            (link @ (Link::Dropping { .. } | Link::Down), false) => link,
            (Link::Down, true) => {
                self.forget_failures();
                if self.policy.on_connectivity {
                    self.enqueue_auto(now, changes);
                }
                Link::Up
            }
        };
    }

    fn probe_ended(&mut self, now: Millis, result: ProbeResult) {
        if !std::mem::replace(&mut self.probe_in_flight, false) {
            return;
        }
        // An answer that comes after the world moved on (the connection dropped, a sync
        // answered first) says nothing new.
        let Server::Unreachable { attempt, .. } = self.server else {
            return;
        };
        if self.link == Link::Down {
            return;
        }
        self.server = match result {
            ProbeResult::Reachable => Server::Answering,
            ProbeResult::SignInNeeded => Server::SignInNeeded,
            ProbeResult::Unreachable => {
                let attempt = attempt + 1;
                let delay = self.backoff(attempt, self.policy.probe_base, self.policy.probe_cap);
                Server::Unreachable {
                    attempt,
                    next_probe: now.saturating_add(delay),
                }
            }
        };
    }

    fn failed(
        &mut self,
        now: Millis,
        unit: &str,
        kind: FailureKind,
        reason: FailureReason,
        changes: &mut Vec<QueueChange>,
    ) {
        let retry = self.policy.retry;
        self.server = match kind {
            // The offline banner says it all; the sync runs when connectivity returns.
            FailureKind::Offline => self.server,
            FailureKind::Unreachable => {
                let delay = self
                    .backoff(1, self.policy.probe_base, self.policy.probe_cap)
                    .max(1);
                Server::Unreachable {
                    attempt: 0,
                    next_probe: now.saturating_add(delay),
                }
            }
            FailureKind::SignInNeeded => Server::SignInNeeded,
            FailureKind::Retryable { retry_after } => {
                let attempt = match self.server {
                    Server::BackingOff { attempt, .. } => attempt + 1,
                    _ => 1,
                };
                let delay = match retry_after {
                    // The server's word wins, up to an hour (a bogus header must not park the
                    // client for days).
                    Some(d) => ms(d).min(3_600_000),
                    None => self.backoff(attempt, self.policy.retry_base, self.policy.retry_cap),
                };
                Server::BackingOff {
                    attempt,
                    until: retry.then_some(now.saturating_add(delay)),
                    reason,
                }
            }
            FailureKind::Fatal => Server::Broken { reason },
        };
        if retry && kind != FailureKind::Fatal {
            self.enqueue(unit, now, changes);
        }
    }

    fn fire_timers(
        &mut self,
        now: Millis,
        changes: &mut Vec<QueueChange>,
        actions: &mut Vec<Action>,
    ) {
        if matches!(self.link, Link::Dropping { at } if at <= now) {
            self.link = Link::Down;
        }
        if self.change_at.is_some_and(|t| t <= now) {
            self.change_at = None;
            self.enqueue_auto(now, changes);
        }
        if let Some(t) = self.periodic_at.filter(|t| *t <= now) {
            self.periodic_at = self
                .policy
                .periodic
                .map(|p| t.max(now).saturating_add(ms(p)));
            self.enqueue_auto(now, changes);
        }
        if let Server::BackingOff { until, .. } = &mut self.server {
            if until.is_some_and(|t| t <= now) {
                *until = None;
            }
        }
        let due =
            matches!(self.server, Server::Unreachable { next_probe, .. } if next_probe <= now);
        if due && self.probe_allowed() {
            self.probe_in_flight = true;
            actions.push(Action::Probe);
        }
    }

    /// A probe makes sense only over a working connection, and one at a time.
    fn probe_allowed(&self) -> bool {
        self.link != Link::Down && self.os.connected && !self.probe_in_flight
    }

    /// The request to start now, if the machine may start one.
    fn maybe_run(&mut self, changes: &mut Vec<QueueChange>) -> Option<SyncRequest> {
        if self.run != Run::Idle || self.queue.is_empty() {
            return None;
        }
        if !self.os.connected || self.link == Link::Down {
            return None;
        }
        let metered = self.os.metered && !self.policy.on_metered;
        let waiting = metered
            || match self.server {
                Server::SignInNeeded | Server::Unreachable { .. } => true,
                Server::BackingOff { until, .. } => until.is_some(),
                Server::Answering | Server::Broken { .. } => false,
            };
        // While automatic syncs wait (backoff, sign-in, metered), only a request someone awaits
        // may run, never whatever else heads the queue.
        let request = if waiting {
            self.queue.pop_forced(changes)?
        } else {
            self.queue.pop(changes)?
        };
        self.run = Run::Running(request.clone());
        Some(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(policy: AutoSync, seed: u64) -> Machine {
        let priorities = BTreeMap::from([("all".to_string(), 0), ("tasks".to_string(), 0)]);
        Machine::new(policy, priorities, seed, 0, Queue::default())
    }

    /// The units the actions start, in order.
    fn runs(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Run(r) => Some(r.unit.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether the actions queue a request for `unit`.
    fn queues(actions: &[Action], unit: &str) -> bool {
        actions.iter().any(|a| match a {
            Action::Persist(changes) => changes
                .iter()
                .any(|c| matches!(c, QueueChange::Added { request, .. } if request.unit == unit)),
            _ => false,
        })
    }

    fn failed(kind: FailureKind, reason: FailureReason) -> Input {
        Input::Ended(Some((kind, reason)))
    }

    #[test]
    fn start_queues_the_auto_unit_and_runs_it() {
        let mut m = machine(AutoSync::default(), 1);
        let actions = m.step(0, Input::Start);
        assert!(queues(&actions, "all"));
        assert_eq!(runs(&actions), vec!["all"]);
        assert_eq!(m.running().map(|r| r.unit.as_str()), Some("all"));
        let actions = m.step(5, Input::Ended(None));
        assert!(
            matches!(&actions[..], [Action::Persist(c)] if matches!(c[..], [QueueChange::Finished { .. }]))
        );
        assert_eq!(m.running(), None);
        assert_eq!(m.next_wake(), Some(5 + 15 * 60 * 1000), "periodic sync");
    }

    #[test]
    fn connectivity_return_runs_at_once_and_flaps_are_ignored() {
        let mut m = machine(AutoSync::default(), 2);
        m.step(
            0,
            Input::Connectivity(Connectivity::online(NetworkType::Wifi)),
        );
        m.step(0, Input::Connectivity(Connectivity::offline()));
        assert_eq!(m.network(), NetworkStatus::Online, "debounced");
        // Back within the debounce: a flap, no sync.
        let actions = m.step(
            500,
            Input::Connectivity(Connectivity::online(NetworkType::Wifi)),
        );
        assert!(actions.is_empty());
        m.step(600, Input::Connectivity(Connectivity::offline()));
        m.step(1600, Input::Tick);
        assert_eq!(m.network(), NetworkStatus::Offline);
        let actions = m.step(
            9000,
            Input::Connectivity(Connectivity::online(NetworkType::Cellular)),
        );
        assert!(queues(&actions, "all"));
        assert_eq!(runs(&actions), vec!["all"]);
        assert_eq!(m.network(), NetworkStatus::Online);
    }

    #[test]
    fn the_first_report_is_not_debounced() {
        let mut m = machine(AutoSync::default(), 7);
        m.step(0, Input::Connectivity(Connectivity::offline()));
        assert_eq!(
            m.network(),
            NetworkStatus::Offline,
            "nothing to debounce yet"
        );
        let actions = m.step(1, Input::Start);
        assert!(queues(&actions, "all"));
        assert!(runs(&actions).is_empty());
    }

    #[test]
    fn retry_after_is_honoured_and_holds_the_queue() {
        let mut m = machine(AutoSync::default(), 3);
        m.step(0, Input::Start);
        let actions = m.step(
            10,
            failed(
                FailureKind::Retryable {
                    retry_after: Some(Duration::from_secs(30)),
                },
                FailureReason::ServerError { status: 503 },
            ),
        );
        assert!(queues(&actions, "all"));
        assert!(runs(&actions).is_empty());
        let failure = m.failure().expect("failed");
        assert_eq!(failure.next_retry_at, Some(30_010));
        assert_eq!(failure.reason, FailureReason::ServerError { status: 503 });
        assert!(m.step(30_009, Input::Tick).is_empty());
        assert_eq!(runs(&m.step(30_010, Input::Tick)), vec!["all"]);
    }

    #[test]
    fn unreachable_server_is_probed_with_growing_backoff() {
        let policy = AutoSync {
            periodic: None,
            ..AutoSync::default()
        };
        let mut m = machine(policy.clone(), 4);
        m.step(0, Input::Start);
        m.step(
            1,
            failed(FailureKind::Unreachable, FailureReason::Unreachable),
        );
        assert_eq!(m.network(), NetworkStatus::ServerUnreachable);
        let mut now = 1;
        for _ in 0..20 {
            let wake = m.next_wake().expect("a probe is scheduled");
            assert!(wake - now <= ms(policy.probe_cap));
            now = wake;
            assert_eq!(m.step(now, Input::Tick), vec![Action::Probe]);
            m.step(now, Input::ProbeEnded(ProbeResult::Unreachable));
        }
        let actions = m.step(now, Input::ProbeEnded(ProbeResult::Reachable));
        assert!(
            actions.is_empty(),
            "a probe answer while not probing changes nothing"
        );
        let wake = m.next_wake().expect("probe");
        assert_eq!(m.step(wake, Input::Tick), vec![Action::Probe]);
        assert_eq!(
            runs(&m.step(wake, Input::ProbeEnded(ProbeResult::Reachable))),
            vec!["all"]
        );
        assert_eq!(m.network(), NetworkStatus::Online);
    }

    #[test]
    fn metered_networks_wait_when_the_policy_says_so() {
        let mut m = machine(
            AutoSync {
                on_metered: false,
                ..AutoSync::default()
            },
            6,
        );
        let cellular = Connectivity {
            metered: true,
            ..Connectivity::online(NetworkType::Cellular)
        };
        m.step(0, Input::Connectivity(cellular));
        let actions = m.step(1, Input::Start);
        assert!(queues(&actions, "all") && runs(&actions).is_empty());
        let forced = Input::Requested {
            unit: "tasks".into(),
            priority: 1000,
            discard_pending: false,
            force: true,
        };
        assert_eq!(
            runs(&m.step(2, forced)),
            vec!["tasks"],
            "an awaited sync runs"
        );
        m.step(4, Input::Ended(None));
        assert!(m.step(5, Input::Tick).is_empty(), "`all` waits for wifi");
        let actions = m.step(
            6,
            Input::Connectivity(Connectivity::online(NetworkType::Wifi)),
        );
        assert_eq!(runs(&actions), vec!["all"]);
    }

    #[test]
    fn sign_in_needed_waits_for_a_token_unless_forced() {
        let mut m = machine(AutoSync::default(), 5);
        m.step(0, Input::Start);
        m.step(
            1,
            failed(FailureKind::SignInNeeded, FailureReason::SignInNeeded),
        );
        assert_eq!(m.network(), NetworkStatus::SignInNeeded);
        assert_eq!(m.next_wake().map(|w| w > 60_000), Some(true));
        assert!(m.step(2, Input::Tick).is_empty());
        assert_eq!(runs(&m.step(3, Input::TokenChanged)), vec!["all"]);
    }

    fn live_machine(seed: u64) -> Machine {
        let hints_only = AutoSync {
            on_hint: true,
            ..AutoSync::manual()
        };
        machine(hints_only, seed).with_live(LiveSettings {
            enabled: true,
            heartbeat: Duration::from_secs(5),
        })
    }

    /// The streams the actions open and close.
    fn streams(actions: &[Action]) -> Vec<Action> {
        actions
            .iter()
            .filter(|a| matches!(a, Action::OpenStream { .. } | Action::CloseStream { .. }))
            .cloned()
            .collect()
    }

    #[test]
    fn the_stream_follows_foreground_connectivity_and_sign_in() {
        let mut m = live_machine(11);
        assert_eq!(
            streams(&m.step(0, Input::Start)),
            vec![Action::OpenStream { conn: 1 }],
            "foreground and assumed online from the start"
        );
        m.step(5, Input::StreamOpened { conn: 1 });
        assert!(m.is_live());
        assert_eq!(
            streams(&m.step(6, Input::Pause)),
            vec![Action::CloseStream { conn: 1 }]
        );
        assert!(!m.is_live());
        assert_eq!(
            streams(&m.step(7, Input::Resume)),
            vec![Action::OpenStream { conn: 2 }]
        );
        assert_eq!(
            streams(&m.step(8, Input::Connectivity(Connectivity::offline()))),
            vec![Action::CloseStream { conn: 2 }],
            "closed at once, before the banner's debounce"
        );
        assert_eq!(
            streams(&m.step(
                9,
                Input::Connectivity(Connectivity::online(NetworkType::Wifi))
            )),
            vec![Action::OpenStream { conn: 3 }]
        );
        let actions = m.step(
            10,
            Input::StreamEnded {
                conn: 3,
                end: StreamEnd::SignInNeeded,
            },
        );
        assert!(streams(&actions).is_empty());
        assert_eq!(
            m.network(),
            NetworkStatus::SignInNeeded,
            "a sync's 401 path"
        );
        assert_eq!(m.next_wake(), None, "no reconnect until a new token");
        assert_eq!(
            streams(&m.step(11, Input::TokenChanged)),
            vec![Action::OpenStream { conn: 4 }]
        );
    }

    #[test]
    fn a_failing_stream_leaves_the_status_and_the_queue_alone() {
        let mut m = live_machine(12);
        m.step(0, Input::Start);
        m.step(1, Input::StreamOpened { conn: 1 });
        let before = (m.sync_state(None), m.failure(), m.network());
        let actions = m.step(
            2,
            Input::StreamEnded {
                conn: 1,
                end: StreamEnd::Failed,
            },
        );
        assert!(actions.is_empty(), "{actions:?}");
        assert_eq!(before, (m.sync_state(None), m.failure(), m.network()));
        assert_eq!(m.queued().count(), 0);
        // Reopened within the first backoff bound; that stream catches up what was missed.
        let wake = m.next_wake().expect("a reconnect");
        assert!(wake - 2 <= 1_000);
        assert_eq!(
            streams(&m.step(wake, Input::Tick)),
            vec![Action::OpenStream { conn: 2 }]
        );
        let actions = m.step(wake + 1, Input::StreamOpened { conn: 2 });
        assert!(queues(&actions, "all"), "a catch-up sync after a loss");
    }

    #[test]
    fn hints_queue_above_background_and_wait_out_backoff() {
        let mut m = live_machine(13);
        m.step(0, Input::Start);
        m.step(1, Input::StreamOpened { conn: 1 });
        let hint = |units: &[&str]| Input::Hinted {
            conn: 1,
            units: units.iter().map(|u| u.to_string()).collect(),
        };
        assert_eq!(runs(&m.step(2, hint(&["tasks"]))), vec!["tasks"]);
        // While it runs, a background request and another hint queue; the hint goes first.
        m.step(3, Input::RetryNow);
        m.step(4, hint(&["all", "tasks"]));
        let order: Vec<(String, i32)> = m.queued().map(|r| (r.unit.clone(), r.priority)).collect();
        assert_eq!(
            order,
            vec![
                ("all".to_string(), HINTED_PRIORITY),
                ("tasks".to_string(), HINTED_PRIORITY)
            ],
            "`all` raised to the hint's priority"
        );
        // A failure with Retry-After: hints queue but do not run until it passes.
        m.step(
            5,
            failed(
                FailureKind::Retryable {
                    retry_after: Some(Duration::from_secs(30)),
                },
                FailureReason::ServerError { status: 503 },
            ),
        );
        assert!(runs(&m.step(6, hint(&["comments"]))).is_empty());
        assert!(m.queued().any(|r| r.unit == "comments"));
        // A stale stream's hint counts for nothing.
        let stale = Input::Hinted {
            conn: 99,
            units: vec!["projects".into()],
        };
        m.step(7, stale);
        assert!(!m.queued().any(|r| r.unit == "projects"));
    }

    #[test]
    fn both_ways_of_learning_the_token_is_refused_end_the_same() {
        // Learnt by a probe while the server was unreachable, or by a sync failing: either way
        // nothing is probed any more and Retry is not offered.
        let mut by_probe = machine(AutoSync::default(), 8);
        by_probe.step(0, Input::Start);
        by_probe.step(
            1,
            failed(FailureKind::Unreachable, FailureReason::Unreachable),
        );
        let wake = by_probe.next_wake().expect("probe");
        assert_eq!(by_probe.step(wake, Input::Tick), vec![Action::Probe]);
        by_probe.step(wake, Input::ProbeEnded(ProbeResult::SignInNeeded));

        let mut by_sync = machine(AutoSync::default(), 8);
        by_sync.step(0, Input::Start);
        by_sync.step(
            1,
            failed(FailureKind::Unreachable, FailureReason::Unreachable),
        );
        let forced = Input::Requested {
            unit: "all".into(),
            priority: 1000,
            discard_pending: false,
            force: true,
        };
        assert_eq!(runs(&by_sync.step(2, forced)), vec!["all"]);
        by_sync.step(
            3,
            failed(FailureKind::SignInNeeded, FailureReason::SignInNeeded),
        );

        for m in [&by_probe, &by_sync] {
            assert_eq!(m.network(), NetworkStatus::SignInNeeded);
            assert_eq!(m.server, Server::SignInNeeded);
            let f = m.failure().expect("failure");
            assert_eq!(f.reason, FailureReason::SignInNeeded);
            assert!(!f.retryable);
        }
    }
}
