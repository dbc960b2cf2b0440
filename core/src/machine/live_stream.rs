//! The live stream's states (`GET /v1/live`, decision 0032), a part of the scheduler with no
//! I/O: whether a stream should be open, when the next attempt goes out, when an open one is
//! dead. The scheduler says whether a stream is wanted (online, in the foreground, signed in,
//! enabled) and carries out the [`StreamEffect`]s; times are the scheduler's clock, in ms.
//!
//! A stream failure only ever moves this machine: it never touches the queue, the server state
//! or the link, so it can neither start, delay nor block a sync, nor change the banner. The one
//! exception is a refused token, which the scheduler handles like a sync's 401.

use std::time::Duration;

/// Reconnect delays: full jitter over `BASE * 2^(failures-1)`, at most `CAP`.
pub(crate) const RECONNECT_BASE: Duration = Duration::from_secs(1);
/// The longest reconnect delay.
pub(crate) const RECONNECT_CAP: Duration = Duration::from_secs(5 * 60);
/// A stream that stayed open this long was healthy: its end starts the backoff afresh.
pub(crate) const HEALTHY: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured (a bogus header must not park the stream for days).
pub(crate) const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// How the live stream is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiveSettings {
    /// Whether the client keeps a stream open at all.
    pub enabled: bool,
    /// The heartbeat interval asked of the server.
    pub heartbeat: Duration,
}

impl LiveSettings {
    /// No stream.
    pub(crate) fn off() -> LiveSettings {
        LiveSettings {
            enabled: false,
            heartbeat: Duration::from_secs(25),
        }
    }

    /// How long a stream may stay silent before it counts as dead: two heartbeats, plus a fifth
    /// of one for a slow network (a ping is due every interval; one late ping is not a death).
    pub(crate) fn silence_limit(&self) -> u64 {
        let h = ms(self.heartbeat).max(1);
        h.saturating_mul(2).saturating_add(h / 5)
    }
}

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamState {
    /// Not wanted (disabled, offline, in the background, signed out).
    Closed,
    /// Wanted; the next attempt goes out `at`.
    Waiting { at: u64 },
    /// Attempt `conn` is on its way; given up if it has not opened by `deadline`.
    Connecting { conn: u64, deadline: u64 },
    /// Stream `conn` is open since `since`; dead unless something arrives by `deadline`.
    Open {
        conn: u64,
        since: u64,
        deadline: u64,
    },
}

/// What the driver must do about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamEffect {
    /// Open stream `conn`; answer with opened, heard and ended inputs naming it.
    Open { conn: u64 },
    /// Close stream `conn` (its later inputs are ignored anyway).
    Close { conn: u64 },
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// The connection failed or closed, the server said goodbye, or an event could not be read:
    /// reconnect after a jittered delay.
    Failed,
    /// The server refused the stream with `Retry-After` (`429 too_many_streams`).
    RetryAfter(Duration),
    /// The token was refused (401, or `bye` with `sign_in_needed` confirmed by `/v1/me`).
    SignInNeeded,
}

/// The live stream's machine.
#[derive(Debug)]
pub(crate) struct LiveStream {
    settings: LiveSettings,
    state: StreamState,
    /// Failures in a row since the last healthy stream.
    failures: u32,
    next_conn: u64,
    rng: fastrand::Rng,
    /// A stream was lost while wanted: hints may have been missed, so the next stream to open
    /// asks for a catch-up sync.
    lost: bool,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl LiveStream {
    pub(crate) fn new(settings: LiveSettings, seed: u64) -> LiveStream {
        LiveStream {
            settings,
            state: StreamState::Closed,
            failures: 0,
            next_conn: 1,
            rng: fastrand::Rng::with_seed(seed),
            lost: false,
        }
    }

    /// Takes `settings` (before the first step).
    pub(crate) fn configure(&mut self, settings: LiveSettings) {
        self.settings = settings;
    }

    #[cfg(test)]
    pub(crate) fn settings(&self) -> LiveSettings {
        self.settings
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> StreamState {
        self.state
    }

    /// Failures in a row since the last healthy stream.
    #[cfg(test)]
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether a stream is open: the device hears of changes as they happen.
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.state, StreamState::Open { .. })
    }

    /// The stream now being tried or open: any other is one the machine has closed, whatever
    /// its task still thinks.
    pub(crate) fn state_conn(&self) -> Option<u64> {
        self.current()
    }

    /// The stream now being tried or open.
    fn current(&self) -> Option<u64> {
        match self.state {
            StreamState::Connecting { conn, .. } | StreamState::Open { conn, .. } => Some(conn),
            _ => None,
        }
    }

    /// When the machine next needs a tick for the stream.
    pub(crate) fn next_wake(&self) -> Option<u64> {
        match self.state {
            StreamState::Closed => None,
            StreamState::Waiting { at } => Some(at),
            StreamState::Connecting { deadline, .. } | StreamState::Open { deadline, .. } => {
                Some(deadline)
            }
        }
    }

    /// Brings the stream in line with whether one is `wanted` now: closes one that is not,
    /// schedules one that is (at once: the stream was closed on purpose, not lost).
    pub(crate) fn reconcile(&mut self, now: u64, wanted: bool, effects: &mut Vec<StreamEffect>) {
        let wanted = wanted && self.settings.enabled;
        match (wanted, self.state) {
            (true, StreamState::Closed) => self.state = StreamState::Waiting { at: now },
            (true, _) | (false, StreamState::Closed) => {}
            (false, _) => {
                if let Some(conn) = self.current() {
                    effects.push(StreamEffect::Close { conn });
                }
                self.state = StreamState::Closed;
            }
        }
    }

    /// Opens the stream whose time has come, gives up on one that is silent for too long.
    pub(crate) fn tick(&mut self, now: u64, effects: &mut Vec<StreamEffect>) {
        match self.state {
            StreamState::Waiting { at } if at <= now => {
                let conn = self.next_conn;
                self.next_conn += 1;
                self.state = StreamState::Connecting {
                    conn,
                    deadline: now.saturating_add(self.settings.silence_limit()),
                };
                effects.push(StreamEffect::Open { conn });
            }
            StreamState::Connecting { conn, deadline }
            | StreamState::Open { conn, deadline, .. }
                if deadline <= now =>
            {
                effects.push(StreamEffect::Close { conn });
                self.ended(now, conn, StreamEnd::Failed);
            }
            _ => {}
        }
    }

    /// Stream `conn` opened (the server answered 200). Returns whether a catch-up sync is due
    /// (an earlier stream was lost, so hints may have been missed meanwhile).
    pub(crate) fn opened(&mut self, now: u64, conn: u64) -> bool {
        if !matches!(self.state, StreamState::Connecting { conn: c, .. } if c == conn) {
            return false;
        }
        self.state = StreamState::Open {
            conn,
            since: now,
            deadline: now.saturating_add(self.settings.silence_limit()),
        };
        std::mem::replace(&mut self.lost, false)
    }

    /// Something arrived on stream `conn` (any event, a ping included): it lives on. Returns
    /// whether `conn` is the open stream (what it says counts only then).
    pub(crate) fn heard(&mut self, now: u64, conn: u64) -> bool {
        match &mut self.state {
            StreamState::Open {
                conn: c, deadline, ..
            } if *c == conn => {
                *deadline = now.saturating_add(self.settings.silence_limit());
                true
            }
            _ => false,
        }
    }

    /// Stream `conn` ended (or never opened) as `end` says; the next attempt waits a jittered
    /// delay. Returns the delay when `conn` was the current stream.
    pub(crate) fn ended(&mut self, now: u64, conn: u64, end: StreamEnd) -> Option<u64> {
        if self.current() != Some(conn) {
            return None;
        }
        if let StreamState::Open { since, .. } = self.state {
            if now.saturating_sub(since) >= ms(HEALTHY) {
                self.failures = 0;
            }
        }
        self.failures = self.failures.saturating_add(1);
        self.lost = true;
        let jitter = self.backoff();
        let delay = match end {
            // The server's word, at least, and never more than an hour.
            StreamEnd::RetryAfter(d) => ms(d).min(ms(RETRY_AFTER_CAP)).max(jitter),
            StreamEnd::Failed | StreamEnd::SignInNeeded => jitter,
        };
        self.state = StreamState::Waiting {
            at: now.saturating_add(delay),
        };
        Some(delay)
    }

    /// Starts the stream again at once (a new token: the open one speaks for the old one).
    pub(crate) fn restart(&mut self, now: u64, effects: &mut Vec<StreamEffect>) {
        if let Some(conn) = self.current() {
            effects.push(StreamEffect::Close { conn });
            self.state = StreamState::Waiting { at: now };
        }
    }

    /// Full jitter: uniform in `[0, min(cap, base * 2^(failures-1))]`.
    fn backoff(&mut self) -> u64 {
        self.rng.u64(0..=reconnect_bound(self.failures))
    }
}

/// The longest reconnect delay after `failures` failures in a row.
pub(crate) fn reconnect_bound(failures: u32) -> u64 {
    let exp = ms(RECONNECT_BASE).saturating_mul(1u64 << failures.saturating_sub(1).min(40));
    exp.min(ms(RECONNECT_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> LiveStream {
        LiveStream::new(
            LiveSettings {
                enabled: true,
                heartbeat: Duration::from_secs(5),
            },
            9,
        )
    }

    #[test]
    fn opens_when_wanted_and_closes_when_not() {
        let mut s = stream();
        let mut fx = Vec::new();
        s.reconcile(0, true, &mut fx);
        assert_eq!(s.state(), StreamState::Waiting { at: 0 });
        s.tick(0, &mut fx);
        assert_eq!(fx, vec![StreamEffect::Open { conn: 1 }]);
        assert!(!s.opened(10, 1), "the first stream catches nothing up");
        assert!(s.is_live());
        fx.clear();
        s.reconcile(20, false, &mut fx);
        assert_eq!(fx, vec![StreamEffect::Close { conn: 1 }]);
        assert_eq!(s.state(), StreamState::Closed);
        assert!(
            !s.heard(21, 1),
            "a closed stream's events count for nothing"
        );
    }

    #[test]
    fn silence_past_two_heartbeats_is_death_and_backoff_grows() {
        let mut s = stream();
        let mut fx = Vec::new();
        s.reconcile(0, true, &mut fx);
        s.tick(0, &mut fx);
        s.opened(0, 1);
        assert_eq!(s.next_wake(), Some(11_000), "2 × 5 s + 1 s");
        assert!(s.heard(4_000, 1));
        assert_eq!(s.next_wake(), Some(15_000));
        fx.clear();
        s.tick(15_000, &mut fx);
        assert_eq!(fx, vec![StreamEffect::Close { conn: 1 }]);
        let StreamState::Waiting { at } = s.state() else {
            panic!("waiting")
        };
        assert!(at - 15_000 <= 1_000);
        for failures in 2..30 {
            let mut now = s.next_wake().expect("waiting");
            fx.clear();
            s.tick(now, &mut fx);
            let [StreamEffect::Open { conn }] = fx[..] else {
                panic!("opens")
            };
            now += 5;
            let delay = s.ended(now, conn, StreamEnd::Failed).expect("current");
            assert!(delay <= reconnect_bound(failures));
            assert!(delay <= ms(RECONNECT_CAP));
        }
        // A healthy stream starts the backoff afresh.
        let now = s.next_wake().expect("waiting");
        fx.clear();
        s.tick(now, &mut fx);
        let [StreamEffect::Open { conn }] = fx[..] else {
            panic!("opens")
        };
        assert!(s.opened(now, conn), "after a loss, a catch-up is due");
        let later = now + ms(HEALTHY);
        s.heard(later - 1, conn);
        let delay = s.ended(later, conn, StreamEnd::Failed).expect("current");
        assert_eq!(s.failures(), 1);
        assert!(delay <= 1_000);
    }

    #[test]
    fn retry_after_is_honoured_and_stale_streams_are_ignored() {
        let mut s = stream();
        let mut fx = Vec::new();
        s.reconcile(0, true, &mut fx);
        s.tick(0, &mut fx);
        assert_eq!(
            s.ended(1, 7, StreamEnd::Failed),
            None,
            "not the current one"
        );
        let delay = s.ended(1, 1, StreamEnd::RetryAfter(Duration::from_secs(30)));
        assert!(delay.is_some_and(|d| d >= 30_000));
        assert!(
            !s.opened(2, 1),
            "an answer after the end counts for nothing"
        );
        assert_eq!(
            s.state(),
            StreamState::Waiting {
                at: 1 + delay.unwrap_or(0)
            }
        );
    }
}
