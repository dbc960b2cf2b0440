//! The sync scheduler as a state machine: every decision about *when* to sync (the request queue,
//! retries and backoff, reachability probes, debouncing, what the network state is) is made here,
//! from events and a clock passed in, with no I/O. The client's driver (`client.rs`) feeds it real
//! events and carries out its [`Action`]s; the simulation tests feed it a seeded clock and network.
//!
//! The queue's *order* lives in the durable queue (`queue.rs`); the machine mirrors only which
//! units are queued, which is all it needs to decide whether to start the next request.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::autosync::AutoSync;
use crate::network::{Connectivity, NetworkStatus, NetworkType};

#[cfg(test)]
mod simulation;

/// Milliseconds on the machine's clock (monotonic; its zero is arbitrary).
pub type Millis = u64;

/// Why a sync failed, as far as scheduling cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
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
pub enum ProbeResult {
    /// The server answered and accepted the token.
    Reachable,
    /// No answer.
    Unreachable,
    /// The server answered and refused the token.
    SignInNeeded,
}

/// Something that happened, fed to [`Machine::step`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The client started (or the user signed in).
    Start,
    /// The shell reported connectivity.
    Connectivity(Connectivity),
    /// The app came to the foreground.
    Resume,
    /// A local write was saved.
    LocalChange,
    /// A request for `unit` was written to the durable queue by the caller (with
    /// `discard_pending`, the queue was emptied first). `force` runs it even while the machine
    /// would wait (backoff, unreachable, sign-in needed): someone awaits its result.
    Queued {
        /// The unit.
        unit: String,
        /// Whether queued requests were dropped first.
        discard_pending: bool,
        /// Run despite backoff.
        force: bool,
    },
    /// The driver took the next request from the durable queue and started it.
    Started {
        /// The unit.
        unit: String,
    },
    /// The driver found the durable queue empty after [`Action::RunNext`].
    QueueEmpty,
    /// The running sync ended.
    Ended {
        /// The unit.
        unit: String,
        /// `None` on success; why otherwise, with a reason for the user.
        failure: Option<(FailureKind, String)>,
    },
    /// A probe ended.
    ProbeEnded(ProbeResult),
    /// The app set a new token.
    TokenChanged,
    /// The user asked to retry now (the banner's Retry action).
    RetryNow,
    /// Time passed (a timer the machine asked for came due).
    Tick,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write a request for `unit` to the durable queue (normal priority).
    Enqueue {
        /// The unit.
        unit: String,
    },
    /// Take the next request from the durable queue and run it; answer with
    /// [`Input::Started`] (or [`Input::QueueEmpty`]) and later [`Input::Ended`].
    RunNext,
    /// Ask the server whether it is reachable; answer with [`Input::ProbeEnded`].
    Probe,
}

/// The last failure, while it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Why, in words for the user.
    pub reason: String,
    /// Whether trying again can help (false when the user must sign in, or for a fault that
    /// retrying cannot fix); whether the machine retries *by itself* is `next_retry_at`.
    pub retryable: bool,
    /// When it will (machine clock).
    pub next_retry_at: Option<Millis>,
}

/// The scheduler.
#[derive(Debug)]
pub struct Machine {
    policy: AutoSync,
    rng: fastrand::Rng,
    os: Connectivity,
    /// Online as far as decisions go: goes false only after the flap debounce.
    effective_online: bool,
    /// Whether the shell has reported connectivity yet (the first report is taken as it is).
    reported: bool,
    offline_at: Option<Millis>,
    unreachable: bool,
    sign_in_needed: bool,
    probe_at: Option<Millis>,
    probe_attempt: u32,
    probing: bool,
    /// Units in the durable queue, with whether someone forces them.
    queued: BTreeMap<String, bool>,
    run_requested: bool,
    running: Option<String>,
    retry_attempt: u32,
    hold_until: Option<Millis>,
    change_at: Option<Millis>,
    periodic_at: Option<Millis>,
    failure: Option<Failure>,
}

fn ms(d: Duration) -> Millis {
    d.as_millis().min(u128::from(u64::MAX)) as Millis
}

impl Machine {
    /// A machine with `policy`, its jitter drawn from `seed`; connectivity is assumed until the
    /// shell says otherwise.
    pub fn new(policy: AutoSync, seed: u64) -> Machine {
        Machine {
            policy,
            rng: fastrand::Rng::with_seed(seed),
            os: Connectivity::online(NetworkType::Other),
            effective_online: true,
            reported: false,
            offline_at: None,
            unreachable: false,
            sign_in_needed: false,
            probe_at: None,
            probe_attempt: 0,
            probing: false,
            queued: BTreeMap::new(),
            run_requested: false,
            running: None,
            retry_attempt: 0,
            hold_until: None,
            change_at: None,
            periodic_at: None,
            failure: None,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &AutoSync {
        &self.policy
    }

    /// The network state.
    pub fn network(&self) -> NetworkStatus {
        if !self.effective_online {
            NetworkStatus::Offline
        } else if self.sign_in_needed {
            NetworkStatus::SignInNeeded
        } else if self.unreachable {
            NetworkStatus::ServerUnreachable
        } else {
            NetworkStatus::Online
        }
    }

    /// What the OS last reported.
    pub fn connectivity(&self) -> Connectivity {
        self.os
    }

    /// The unit being synced, if any.
    pub fn running(&self) -> Option<&str> {
        self.running.as_deref()
    }

    /// Whether the machine asked to run a request and waits for the driver to start it.
    pub fn starting(&self) -> bool {
        self.run_requested
    }

    /// The units queued (mirror of the durable queue's membership).
    pub fn queued(&self) -> impl Iterator<Item = &str> {
        self.queued.keys().map(String::as_str)
    }

    /// The standing failure, if any.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// When the machine next needs a [`Input::Tick`], if ever.
    pub fn next_wake(&self) -> Option<Millis> {
        let probe = self.probe_at.filter(|_| self.probe_allowed());
        [
            self.offline_at,
            self.change_at,
            self.periodic_at,
            self.hold_until,
            probe,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Feeds one input at time `now`; returns what to do, in order.
    pub fn step(&mut self, now: Millis, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        self.apply(now, input, &mut actions);
        self.fire_timers(now, &mut actions);
        self.maybe_run(&mut actions);
        actions
    }

    fn enqueue_auto(&mut self, actions: &mut Vec<Action>) {
        let unit = self.policy.unit.clone();
        self.enqueue(unit, actions);
    }

    fn enqueue(&mut self, unit: String, actions: &mut Vec<Action>) {
        if !self.queued.contains_key(&unit) {
            self.queued.insert(unit.clone(), false);
            actions.push(Action::Enqueue { unit });
        }
    }

    /// Full jitter: a uniform delay in `[0, min(cap, base * 2^(attempt-1))]`.
    fn backoff(&mut self, attempt: u32, base: Duration, cap: Duration) -> Millis {
        let exp = ms(base).saturating_mul(1u64 << attempt.saturating_sub(1).min(40));
        self.rng.u64(0..=exp.min(ms(cap)))
    }

    /// Forgets every failure and backoff: the network just came back (or the user asked).
    fn reset_backoff(&mut self) {
        self.retry_attempt = 0;
        self.hold_until = None;
        self.unreachable = false;
        self.probe_at = None;
        self.probe_attempt = 0;
        self.failure = None;
    }

    fn apply(&mut self, now: Millis, input: Input, actions: &mut Vec<Action>) {
        match input {
            Input::Start => {
                if self.policy.on_start {
                    self.enqueue_auto(actions);
                }
                self.periodic_at = self.policy.periodic.map(|p| now.saturating_add(ms(p)));
            }
            Input::Connectivity(c) => {
                self.os = c;
                let first = !std::mem::replace(&mut self.reported, true);
                if first && !c.connected {
                    // Until the first report the machine only assumed connectivity: there was
                    // no connection to flap.
                    self.effective_online = false;
                } else if c.connected {
                    // A return within the debounce was a flap: nothing changed for the user.
                    self.offline_at = None;
                    if !self.effective_online {
                        self.effective_online = true;
                        self.reset_backoff();
                        if self.policy.on_connectivity {
                            self.enqueue_auto(actions);
                        }
                    }
                } else if self.effective_online && self.offline_at.is_none() {
                    self.offline_at = Some(now.saturating_add(ms(self.policy.offline_debounce)));
                }
            }
            Input::Resume => {
                if self.policy.on_resume {
                    self.enqueue_auto(actions);
                }
                if self.unreachable && !self.probing {
                    self.probe_at = Some(now);
                }
            }
            Input::LocalChange => {
                if let Some(d) = self.policy.after_change {
                    // Changes within the window join the first one's sync (no starvation by a
                    // steady stream of edits).
                    self.change_at.get_or_insert(now.saturating_add(ms(d)));
                }
            }
            Input::Queued {
                unit,
                discard_pending,
                force,
            } => {
                if discard_pending {
                    // Someone may await this very unit: its request stays forced.
                    let awaited = self.queued.get(&unit).copied().unwrap_or(false);
                    self.queued.clear();
                    if awaited {
                        self.queued.insert(unit.clone(), true);
                    }
                }
                let forced = self.queued.entry(unit).or_insert(false);
                *forced |= force;
            }
            Input::Started { unit } => {
                self.run_requested = false;
                self.queued.remove(&unit);
                self.running = Some(unit);
            }
            Input::QueueEmpty => {
                self.run_requested = false;
                self.queued.clear();
            }
            Input::Ended { unit, failure } => {
                self.running = None;
                match failure {
                    None => {
                        self.reset_backoff();
                        self.periodic_at = self.policy.periodic.map(|p| now.saturating_add(ms(p)));
                    }
                    Some((kind, reason)) => self.failed(now, unit, kind, reason, actions),
                }
            }
            Input::ProbeEnded(_) if !self.probing => {}
            Input::ProbeEnded(result) => {
                self.probing = false;
                match result {
                    ProbeResult::Reachable => {
                        self.reset_backoff();
                    }
                    ProbeResult::SignInNeeded => {
                        self.unreachable = false;
                        self.probe_at = None;
                        self.sign_in_needed = true;
                        self.failure = Some(Failure {
                            reason: "sign-in needed".into(),
                            retryable: false,
                            next_retry_at: None,
                        });
                    }
                    ProbeResult::Unreachable if self.unreachable => {
                        self.probe_attempt += 1;
                        let delay = self.backoff(
                            self.probe_attempt,
                            self.policy.probe_base,
                            self.policy.probe_cap,
                        );
                        let at = now.saturating_add(delay);
                        self.probe_at = Some(at);
                        if let Some(f) = &mut self.failure {
                            f.next_retry_at = Some(at);
                        }
                    }
                    ProbeResult::Unreachable => {}
                }
            }
            Input::TokenChanged => {
                self.sign_in_needed = false;
                self.reset_backoff();
                if self.policy.on_start {
                    self.enqueue_auto(actions);
                }
            }
            Input::RetryNow => {
                self.reset_backoff();
                self.enqueue_auto(actions);
            }
            Input::Tick => {}
        }
    }

    fn failed(
        &mut self,
        now: Millis,
        unit: String,
        kind: FailureKind,
        reason: String,
        actions: &mut Vec<Action>,
    ) {
        let retry = self.policy.retry;
        let mut failure = Failure {
            reason,
            retryable: true,
            next_retry_at: None,
        };
        match kind {
            FailureKind::Offline => {
                // The offline banner says it all; the sync runs when connectivity returns.
                if retry {
                    self.enqueue(unit, actions);
                }
                return;
            }
            FailureKind::Unreachable => {
                self.unreachable = true;
                self.probe_attempt = 0;
                let delay = self
                    .backoff(1, self.policy.probe_base, self.policy.probe_cap)
                    .max(1);
                let at = now.saturating_add(delay);
                self.probe_at = Some(at);
                failure.next_retry_at = retry.then_some(at);
            }
            FailureKind::SignInNeeded => {
                self.sign_in_needed = true;
                failure.retryable = false;
            }
            FailureKind::Retryable { retry_after } => {
                self.retry_attempt += 1;
                let delay = match retry_after {
                    // The server's word wins, up to an hour (a bogus header must not park the
                    // client for days).
                    Some(d) => ms(d).min(3_600_000),
                    None => self.backoff(
                        self.retry_attempt,
                        self.policy.retry_base,
                        self.policy.retry_cap,
                    ),
                };
                if retry {
                    self.hold_until = Some(now.saturating_add(delay));
                    failure.next_retry_at = self.hold_until;
                }
            }
            FailureKind::Fatal => {
                failure.retryable = false;
                self.failure = Some(failure);
                return;
            }
        }
        if retry {
            self.enqueue(unit, actions);
        }
        self.failure = Some(failure);
    }

    fn fire_timers(&mut self, now: Millis, actions: &mut Vec<Action>) {
        if self.offline_at.is_some_and(|t| t <= now) {
            self.offline_at = None;
            self.effective_online = false;
            self.probing = false;
        }
        if self.change_at.is_some_and(|t| t <= now) {
            self.change_at = None;
            self.enqueue_auto(actions);
        }
        if let Some(t) = self.periodic_at.filter(|t| *t <= now) {
            self.periodic_at = self
                .policy
                .periodic
                .map(|p| t.max(now).saturating_add(ms(p)));
            self.enqueue_auto(actions);
        }
        if self.hold_until.is_some_and(|t| t <= now) {
            self.hold_until = None;
        }
        if self.probe_at.is_some_and(|t| t <= now) && self.probe_allowed() {
            self.probe_at = None;
            self.probing = true;
            actions.push(Action::Probe);
        }
    }

    /// A probe makes sense only while the server is unreachable over a working connection.
    fn probe_allowed(&self) -> bool {
        self.unreachable && self.effective_online && self.os.connected && !self.probing
    }

    fn maybe_run(&mut self, actions: &mut Vec<Action>) {
        if self.running.is_some() || self.run_requested || self.queued.is_empty() {
            return;
        }
        if !self.os.connected || !self.effective_online {
            return;
        }
        let forced = self.queued.values().any(|f| *f);
        let metered = self.os.metered && !self.policy.on_metered;
        let waiting =
            self.sign_in_needed || self.unreachable || self.hold_until.is_some() || metered;
        if waiting && !forced {
            return;
        }
        self.run_requested = true;
        actions.push(Action::RunNext);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(m: &mut Machine, now: Millis) -> String {
        let unit = m.queued().next().expect("something queued").to_string();
        m.step(now, Input::Started { unit: unit.clone() });
        unit
    }

    #[test]
    fn start_queues_the_auto_unit_and_runs_it() {
        let mut m = Machine::new(AutoSync::default(), 1);
        let actions = m.step(0, Input::Start);
        assert_eq!(
            actions,
            vec![Action::Enqueue { unit: "all".into() }, Action::RunNext]
        );
        assert_eq!(started(&mut m, 1), "all");
        assert_eq!(m.running(), Some("all"));
        m.step(
            5,
            Input::Ended {
                unit: "all".into(),
                failure: None,
            },
        );
        assert_eq!(m.running(), None);
        assert_eq!(m.next_wake(), Some(5 + 15 * 60 * 1000), "periodic sync");
    }

    #[test]
    fn connectivity_return_runs_at_once_and_flaps_are_ignored() {
        let mut m = Machine::new(AutoSync::default(), 2);
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
        assert_eq!(
            actions,
            vec![Action::Enqueue { unit: "all".into() }, Action::RunNext]
        );
        assert_eq!(m.network(), NetworkStatus::Online);
    }

    #[test]
    fn the_first_report_is_not_debounced() {
        let mut m = Machine::new(AutoSync::default(), 7);
        m.step(0, Input::Connectivity(Connectivity::offline()));
        assert_eq!(
            m.network(),
            NetworkStatus::Offline,
            "nothing to debounce yet"
        );
        assert_eq!(
            m.step(1, Input::Start),
            vec![Action::Enqueue { unit: "all".into() }]
        );
    }

    #[test]
    fn retry_after_is_honoured_and_holds_the_queue() {
        let mut m = Machine::new(AutoSync::default(), 3);
        m.step(0, Input::Start);
        started(&mut m, 0);
        let actions = m.step(
            10,
            Input::Ended {
                unit: "all".into(),
                failure: Some((
                    FailureKind::Retryable {
                        retry_after: Some(Duration::from_secs(30)),
                    },
                    "server error (503)".into(),
                )),
            },
        );
        assert_eq!(actions, vec![Action::Enqueue { unit: "all".into() }]);
        assert_eq!(m.failure().and_then(|f| f.next_retry_at), Some(30_010));
        assert!(m.step(30_009, Input::Tick).is_empty());
        assert_eq!(m.step(30_010, Input::Tick), vec![Action::RunNext]);
    }

    #[test]
    fn unreachable_server_is_probed_with_growing_backoff() {
        let policy = AutoSync {
            periodic: None,
            ..AutoSync::default()
        };
        let mut m = Machine::new(policy.clone(), 4);
        m.step(0, Input::Start);
        started(&mut m, 0);
        m.step(
            1,
            Input::Ended {
                unit: "all".into(),
                failure: Some((FailureKind::Unreachable, "server unreachable".into())),
            },
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
            m.step(wake, Input::ProbeEnded(ProbeResult::Reachable)),
            vec![Action::RunNext]
        );
        assert_eq!(m.network(), NetworkStatus::Online);
    }

    #[test]
    fn metered_networks_wait_when_the_policy_says_so() {
        let mut m = Machine::new(
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
        assert_eq!(
            m.step(1, Input::Start),
            vec![Action::Enqueue { unit: "all".into() }]
        );
        let forced = Input::Queued {
            unit: "tasks".into(),
            discard_pending: false,
            force: true,
        };
        assert_eq!(
            m.step(2, forced),
            vec![Action::RunNext],
            "an awaited sync runs"
        );
        m.step(
            3,
            Input::Started {
                unit: "tasks".into(),
            },
        );
        m.step(
            4,
            Input::Ended {
                unit: "tasks".into(),
                failure: None,
            },
        );
        assert!(m.step(5, Input::Tick).is_empty(), "`all` waits for wifi");
        let actions = m.step(
            6,
            Input::Connectivity(Connectivity::online(NetworkType::Wifi)),
        );
        assert_eq!(actions, vec![Action::RunNext]);
    }

    #[test]
    fn sign_in_needed_waits_for_a_token_unless_forced() {
        let mut m = Machine::new(AutoSync::default(), 5);
        m.step(0, Input::Start);
        started(&mut m, 0);
        m.step(
            1,
            Input::Ended {
                unit: "all".into(),
                failure: Some((FailureKind::SignInNeeded, "sign-in needed".into())),
            },
        );
        assert_eq!(m.network(), NetworkStatus::SignInNeeded);
        assert_eq!(m.next_wake().map(|w| w > 60_000), Some(true));
        assert!(m.step(2, Input::Tick).is_empty());
        assert_eq!(m.step(3, Input::TokenChanged), vec![Action::RunNext]);
    }
}
