//! When the core syncs by itself: the automatic-sync policy an app configures.

use std::time::Duration;

/// Name of the unit that holds every entity when the app configures no units.
pub const ALL_UNIT: &str = "all";

/// When the core syncs by itself. [`AutoSync::default`] is what an app wants;
/// [`AutoSync::manual`] syncs only when asked (tests, tools).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AutoSync {
    /// The unit synced automatically.
    pub unit: String,
    /// Sync when the client starts and after a new token is set (sign-in).
    pub on_start: bool,
    /// Sync as soon as connectivity returns.
    pub on_connectivity: bool,
    /// Sync when the app comes back to the foreground.
    pub on_resume: bool,
    /// Sync this long after a local write (writes within the window share one sync).
    pub after_change: Option<Duration>,
    /// Sync this long after the last successful sync.
    pub periodic: Option<Duration>,
    /// Keep the live stream open (with `Config::live`) and sync when it hints that the server
    /// has changes for this device, and once after it reopens (hints sent while it was closed
    /// are lost). False in [`AutoSync::manual`]: no stream, so no sync the app did not ask for.
    pub on_hint: bool,
    /// Sync over metered networks (mobile data). When false, queued requests wait for an
    /// unmetered network; only an awaited `sync_now` runs on a metered one.
    pub on_metered: bool,
    /// Retry a failed sync by itself (with backoff).
    pub retry: bool,
    /// First retry delay bound; it doubles per failure up to `retry_cap` (full jitter).
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_cap: Duration,
    /// First reachability probe delay once the server is unreachable; doubles up to `probe_cap`.
    pub probe_base: Duration,
    /// Longest delay between probes.
    pub probe_cap: Duration,
    /// A loss of connectivity shorter than this is ignored (a flap), and so is its return.
    pub offline_debounce: Duration,
}

impl Default for AutoSync {
    fn default() -> Self {
        AutoSync {
            unit: ALL_UNIT.to_string(),
            on_start: true,
            on_connectivity: true,
            on_resume: true,
            after_change: Some(Duration::from_secs(2)),
            periodic: Some(Duration::from_secs(15 * 60)),
            on_hint: true,
            on_metered: true,
            retry: true,
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(5 * 60),
            probe_base: Duration::from_secs(2),
            probe_cap: Duration::from_secs(5 * 60),
            offline_debounce: Duration::from_secs(1),
        }
    }
}

impl AutoSync {
    /// Nothing automatic: syncs run only when asked, failures are not retried, no live stream. Network state is
    /// still tracked (and probed) so status and banners stay true.
    pub fn manual() -> Self {
        AutoSync {
            on_start: false,
            on_connectivity: false,
            on_resume: false,
            after_change: None,
            periodic: None,
            on_hint: false,
            retry: false,
            offline_debounce: Duration::ZERO,
            ..AutoSync::default()
        }
    }
}
