//! A test-only hook of the store, compiled only with the `testing` feature (which only tests
//! and benchmarks enable), and off unless its environment variable is set.
//!
//! `SYNCLINE_TEST_SLOW_WRITES=<probability>,<ms>` holds a random share of write transactions
//! open for `<ms>` milliseconds after their work is done (their change-log positions are taken)
//! and before they commit. The ordering tests (`server/tests/ordering.rs`, `crash.rs`) set it on
//! the server processes they start, so that slow transactions overlap with other instances'
//! writes and with pulls: the case where positions could commit out of order if writes were not
//! serialized. It is read once, when a [`Store`](crate::Store) is opened, and a malformed value
//! refuses to open (a test must not silently run without its delays). Never set it in
//! production: every delayed transaction delays every other write behind it.

use std::time::Duration;

use crate::error::StoreError;

/// The environment variable of [`SlowWrites`].
const SLOW_WRITES_ENV: &str = "SYNCLINE_TEST_SLOW_WRITES";

/// Holds some write transactions open before they commit (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SlowWrites {
    /// Share of write transactions held, 0 to 1.
    probability: f64,
    /// How long each is held.
    delay: Duration,
}

impl SlowWrites {
    /// Reads [`SLOW_WRITES_ENV`]; `None` when it is unset or empty.
    pub(super) fn from_env() -> Result<Option<SlowWrites>, StoreError> {
        match std::env::var(SLOW_WRITES_ENV) {
            Ok(spec) if !spec.trim().is_empty() => {
                let slow = SlowWrites::parse(&spec)?;
                log::warn!(
                    "{SLOW_WRITES_ENV} is set: {:.0} % of write transactions are held open {} ms \
                     before they commit (a test hook; never use it in production)",
                    slow.probability * 100.0,
                    slow.delay.as_millis()
                );
                Ok(Some(slow))
            }
            _ => Ok(None),
        }
    }

    /// Parses `<probability>,<ms>`.
    fn parse(spec: &str) -> Result<SlowWrites, StoreError> {
        let bad = || {
            StoreError::Invalid(format!(
                "{SLOW_WRITES_ENV} must be `<probability 0..1>,<milliseconds>`, not `{spec}`"
            ))
        };
        let (p, ms) = spec.split_once(',').ok_or_else(bad)?;
        let probability: f64 = p.trim().parse().map_err(|_| bad())?;
        let ms: u64 = ms.trim().parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&probability) {
            return Err(bad());
        }
        Ok(SlowWrites {
            probability,
            delay: Duration::from_millis(ms),
        })
    }

    /// Sleeps for the delay with the configured probability. Called inside the write
    /// transaction, so the writer's lock (SQLite's file lock, PostgreSQL's advisory lock) is
    /// held all along.
    pub(super) fn maybe_pause(&self) {
        // The OS's RNG: no state to share between the server's threads. Should it fail, the
        // transaction is simply not held.
        let draw = getrandom::u64().map_or(1.0, |r| (r >> 11) as f64 / (1u64 << 53) as f64);
        if draw < self.probability {
            std::thread::sleep(self.delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_are_refused() {
        assert_eq!(
            SlowWrites::parse("0.25, 40").expect("valid"),
            SlowWrites {
                probability: 0.25,
                delay: Duration::from_millis(40)
            }
        );
        for bad in ["0.5", "1.5,10", "-0.1,10", "x,10", "0.5,-3", "0.5,ten"] {
            assert!(SlowWrites::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn probability_one_always_pauses_and_zero_never_does() {
        let always = SlowWrites::parse("1,30").expect("valid");
        let t = std::time::Instant::now();
        always.maybe_pause();
        assert!(t.elapsed() >= Duration::from_millis(30));
        let never = SlowWrites::parse("0,1000").expect("valid");
        let t = std::time::Instant::now();
        never.maybe_pause();
        assert!(t.elapsed() < Duration::from_millis(500));
    }
}
