//! The limits a public server needs besides the body limits of [`super`]:
//!
//! - a request rate per authenticated user (all their devices together), answered
//!   `429 rate_limited` with `Retry-After`;
//! - a budget of failed authentications per peer address: once an address has used it up, its
//!   *failed* authentications get `429 rate_limited` with `Retry-After` instead of 401, until the
//!   budget refills, so a client stuck on a bad token backs off. A request that authenticates is
//!   served all the same: many devices share an address behind a NAT, and one phone with a
//!   stale token must not lock out the rest. Guessing is not what this stops (tokens the server
//!   issues are 122 random bits; JWTs are signed);
//! - a cap on concurrent pulls (each holds a blocking thread and a database reader while it
//!   streams its page): a pull waits briefly for a permit, then gets `503 busy` with
//!   `Retry-After`.
//!
//! Rates are GCRA buckets from `governor`, keyed by user id or address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use syncline_protocol::codes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::live::{DEFAULT_STREAMS_PER_INSTANCE, DEFAULT_STREAMS_PER_USER};

/// Default sustained requests per second per user.
pub const DEFAULT_RATE_PER_USER: u32 = 100;
/// Default burst of requests per user.
pub const DEFAULT_RATE_BURST: u32 = 1000;
/// Default failed authentications per minute per peer address.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 60;

/// What a busy pull is told to wait, in seconds. Short: a pull permit frees up when a page is
/// sent, typically well under a second.
const BUSY_RETRY_AFTER_SECS: u64 = 2;

/// Checks between two clean-ups of the keyed buckets (a bucket per user or address ever seen
/// would otherwise stay forever).
const HOUSEKEEPING_EVERY: u64 = 4096;

/// Configured limits; [`Limits::default`] is what `syncline-server` runs with unless told
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Sustained requests per second per user; `None`: unlimited.
    pub rate_per_user: Option<NonZeroU32>,
    /// Requests a user may make at once before the sustained rate applies.
    pub rate_burst: NonZeroU32,
    /// Failed authentications per minute per peer address (also the burst); `None`: unlimited.
    pub auth_failures_per_minute: Option<NonZeroU32>,
    /// Pulls streamed at the same time.
    pub max_concurrent_pulls: usize,
    /// How long a pull waits for a permit before it is answered `busy`.
    pub pull_wait: Duration,
    /// Live streams (`GET /v1/live`) one user may hold on this instance.
    pub max_streams_per_user: usize,
    /// Live streams this instance holds at most.
    pub max_streams: usize,
}

impl Default for Limits {
    /// 100 requests/s per user with a burst of 1,000, measured against what clients do: the
    /// server and core test suites need a burst of at most 13 at 50/s; the reference client's
    /// initial sync pulls pages of 1,000 rows at up to 239 pages/s on loopback
    /// (`docs/benchmarks.md`), so a burst of 1,000 lets a 1M-row initial sync through untouched,
    /// and 100/s sustained is 100k rows/s, about what the client applies (91–105k rows/s).
    /// 60 failed authentications per minute per address; 4 concurrent pulls per core, waiting
    /// up to 1 s. 10 live streams per user (a person's phone, tablet and a few stale streams
    /// of dropped connections not yet detected), 20,000 per instance (docs/scaling.md).
    fn default() -> Self {
        Limits {
            rate_per_user: NonZeroU32::new(DEFAULT_RATE_PER_USER),
            rate_burst: NonZeroU32::new(DEFAULT_RATE_BURST).unwrap_or(NonZeroU32::MIN),
            auth_failures_per_minute: NonZeroU32::new(DEFAULT_AUTH_FAILURES_PER_MINUTE),
            max_concurrent_pulls: default_max_concurrent_pulls(),
            pull_wait: Duration::from_secs(1),
            max_streams_per_user: DEFAULT_STREAMS_PER_USER,
            max_streams: DEFAULT_STREAMS_PER_INSTANCE,
        }
    }
}

/// 4 × the cores the process may use: a pull alternates between the database (a core) and
/// waiting for the client, so a few per core keep the cores busy without queueing readers.
pub fn default_max_concurrent_pulls() -> usize {
    4 * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Why a request was refused by a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The user made too many requests.
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited {
        /// Seconds until the next request is allowed.
        retry_after: u64,
    },
    /// The peer address failed authentication too often.
    #[error("too many failed authentications from this address; retry in {retry_after} s")]
    AddressBlocked {
        /// Seconds until requests from the address are looked at again.
        retry_after: u64,
    },
    /// No pull permit came free in time.
    #[error("the server is at its limit of concurrent pulls; retry in {retry_after} s")]
    Busy {
        /// Seconds to wait before pulling again.
        retry_after: u64,
    },
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        let (status, code, retry_after) = match e {
            LimitError::RateLimited { retry_after }
            | LimitError::AddressBlocked { retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                retry_after,
            ),
            LimitError::Busy { retry_after } => {
                (StatusCode::SERVICE_UNAVAILABLE, codes::BUSY, retry_after)
            }
        };
        ApiError::new(status, code, e.to_string()).with_retry_after(retry_after)
    }
}

/// The running limiters of one server (one router).
#[derive(Debug)]
pub(crate) struct Limiters {
    per_user: Option<DefaultKeyedRateLimiter<String>>,
    auth_failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses that used up their failure budget, and until when. Kept apart from the bucket
    /// because `governor` cannot look at a bucket without drawing from it.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    pulls: Arc<Semaphore>,
    max_pulls: usize,
    pull_wait: Duration,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// Whole seconds to wait for `d`, at least 1 (`Retry-After: 0` would invite a busy loop).
fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl Limiters {
    pub(crate) fn new(limits: &Limits) -> Limiters {
        let per_user = limits.rate_per_user.map(|rate| {
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(limits.rate_burst))
        });
        let auth_failures = limits
            .auth_failures_per_minute
            .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)));
        // A cap of 0 would refuse every pull: treat it as 1.
        let max_pulls = limits.max_concurrent_pulls.max(1);
        Limiters {
            per_user,
            auth_failures,
            blocked: Mutex::new(HashMap::new()),
            pulls: Arc::new(Semaphore::new(max_pulls)),
            max_pulls,
            pull_wait: limits.pull_wait,
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Draws one request from `user`'s bucket.
    pub(crate) fn check_user(&self, user: &str) -> Result<(), LimitError> {
        self.housekeeping();
        let Some(limiter) = &self.per_user else {
            return Ok(());
        };
        limiter
            .check_key(&user.to_string())
            .map_err(|not_until| LimitError::RateLimited {
                retry_after: ceil_secs(not_until.wait_time_from(self.clock.now())),
            })
    }

    /// Whether an address has used up its failure budget (its failed authentications are then
    /// refused with 429 until it refills).
    pub(crate) fn check_address(&self, addr: IpAddr) -> Result<(), LimitError> {
        if self.auth_failures.is_none() {
            return Ok(());
        }
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        match blocked.get(&addr) {
            Some(until) => {
                let now = Instant::now();
                if *until > now {
                    Err(LimitError::AddressBlocked {
                        retry_after: ceil_secs(*until - now),
                    })
                } else {
                    blocked.remove(&addr);
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Draws a failed authentication from `addr`'s budget; the one that finds it empty blocks
    /// the address until the next failure would be allowed.
    pub(crate) fn auth_failed(&self, addr: IpAddr) {
        let Some(limiter) = &self.auth_failures else {
            return;
        };
        if let Err(not_until) = limiter.check_key(&addr) {
            let wait = not_until.wait_time_from(self.clock.now());
            log::warn!("{addr} failed authentication too often; refusing it for {wait:?}");
            self.blocked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(addr, Instant::now() + wait);
        }
    }

    /// A pull permit, waiting up to the configured time for one to come free. The permit is
    /// held until the page is written.
    pub(crate) async fn pull_permit(&self) -> Result<OwnedSemaphorePermit, LimitError> {
        let busy = LimitError::Busy {
            retry_after: BUSY_RETRY_AFTER_SECS,
        };
        match tokio::time::timeout(self.pull_wait, self.pulls.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Closed: never happens (the semaphore is never closed); refuse rather than panic.
            Ok(Err(_)) | Err(_) => Err(busy),
        }
    }

    /// Pulls streaming now.
    pub(crate) fn pulls_in_flight(&self) -> usize {
        self.max_pulls
            .saturating_sub(self.pulls.available_permits())
    }

    /// Every [`HOUSEKEEPING_EVERY`] checks, forgets buckets that are full again (they would
    /// answer like new ones) and blocks that ended.
    fn housekeeping(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY
            != HOUSEKEEPING_EVERY - 1
        {
            return;
        }
        if let Some(l) = &self.per_user {
            l.retain_recent();
        }
        if let Some(l) = &self.auth_failures {
            l.retain_recent();
        }
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32, failures: u32) -> Limits {
        Limits {
            rate_per_user: NonZeroU32::new(rate),
            rate_burst: NonZeroU32::new(burst).expect("burst"),
            auth_failures_per_minute: NonZeroU32::new(failures),
            max_concurrent_pulls: 1,
            pull_wait: Duration::from_millis(50),
            ..Limits::default()
        }
    }

    #[test]
    fn users_have_their_own_buckets() {
        let l = Limiters::new(&limits(1, 3, 0));
        for _ in 0..3 {
            assert_eq!(l.check_user("alice"), Ok(()));
        }
        assert_eq!(
            l.check_user("alice"),
            Err(LimitError::RateLimited { retry_after: 1 })
        );
        assert_eq!(l.check_user("bob"), Ok(()));
    }

    #[test]
    fn no_rate_means_no_limit() {
        let l = Limiters::new(&limits(0, 1, 0));
        for _ in 0..1000 {
            assert_eq!(l.check_user("alice"), Ok(()));
        }
    }

    #[test]
    fn an_address_is_blocked_once_its_failure_budget_is_spent() {
        let l = Limiters::new(&limits(0, 1, 3));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert_eq!(l.check_address(a), Ok(()));
            l.auth_failed(a);
        }
        assert_eq!(l.check_address(a), Ok(()), "3 failures are the budget");
        l.auth_failed(a);
        // 3 per minute: the next failure is allowed in 20 s.
        assert!(matches!(
            l.check_address(a),
            Err(LimitError::AddressBlocked { retry_after }) if (19..=20).contains(&retry_after)
        ));
        assert_eq!(l.check_address(b), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(ceil_secs(Duration::ZERO), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }

    #[tokio::test]
    async fn a_pull_without_a_permit_is_busy() {
        let l = Limiters::new(&limits(0, 1, 0));
        let held = l.pull_permit().await.expect("the only permit");
        assert_eq!(l.pulls_in_flight(), 1);
        assert_eq!(
            l.pull_permit().await.err(),
            Some(LimitError::Busy {
                retry_after: BUSY_RETRY_AFTER_SECS
            })
        );
        drop(held);
        assert!(l.pull_permit().await.is_ok());
    }
}
