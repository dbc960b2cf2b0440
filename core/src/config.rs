//! Client configuration: where the server is, how long to wait for it, and the sync units.

use std::time::Duration;

use syncline_protocol::{Schema, MAX_PUSH_MUTATIONS};

use crate::autosync::{AutoSync, ALL_UNIT};
use crate::error::{Error, Result};

/// A named set of entities that sync together (`all`, `tasks`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncUnit {
    /// The unit's name, as passed to `sync_now`.
    pub name: String,
    /// Its entities, pushed and pulled in this order.
    pub entities: Vec<String>,
    /// Queued requests of higher priority run first (default 0).
    pub priority: i32,
}

impl SyncUnit {
    /// A unit of the given entities.
    pub fn new(name: &str, entities: &[&str]) -> Self {
        SyncUnit {
            name: name.to_string(),
            entities: entities.iter().map(|e| e.to_string()).collect(),
            priority: 0,
        }
    }

    /// The same unit with `priority` (builder style).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }
}

/// How the client talks to the server. [`Config::new`] gives sane defaults for everything but the
/// server's address and the user's token.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Config {
    /// Base URL of the sync server, e.g. `https://sync.example.com` (no `/v1`).
    pub server_url: String,
    /// The user's bearer token.
    pub token: String,
    /// Longest wait to open a connection.
    pub connect_timeout: Duration,
    /// Longest wait for one request, answer included.
    pub request_timeout: Duration,
    /// Longest a whole sync may run before it is abandoned (and retried later).
    pub sync_timeout: Duration,
    /// Largest response body accepted, after decompression; larger answers are refused unread.
    pub max_response_bytes: u64,
    /// Most mutations sent in one push.
    pub push_batch_size: u32,
    /// The sync units; empty means `all` plus one unit per entity.
    pub units: Vec<SyncUnit>,
    /// When the core syncs by itself.
    pub auto: AutoSync,
    /// Whether the client keeps a live stream (`GET /v1/live`) open while the app is in the
    /// foreground, online and signed in, so another device's change is pulled within moments
    /// instead of at the next sync (default true). The stream only ever queues syncs: when it
    /// fails, the automatic syncs of `auto` go on as before.
    pub live: bool,
    /// How often the server sends the live stream a heartbeat when nothing else happens,
    /// 5..=120 s (default 25 s). A stream silent for two heartbeats is taken as dead and opened
    /// again; shorter finds a dead connection sooner and wakes the radio more often.
    pub live_heartbeat: Duration,
    /// Attachments uploaded at once (default 2, at least 1).
    #[cfg_attr(feature = "uniffi", uniffi(default = 2))]
    pub max_parallel_uploads: u32,
    /// Whether attachments upload on mobile data too (default true); false waits for Wi-Fi or
    /// a wired network. Rows sync either way.
    #[cfg_attr(feature = "uniffi", uniffi(default = true))]
    pub uploads_on_cellular: bool,
    /// The attachment cache's budget in bytes (default 256 MiB): past it, the least recently
    /// used files are dropped (fetched again when asked for), never a file still to upload.
    #[cfg_attr(feature = "uniffi", uniffi(default = 268435456))]
    pub attachment_cache_bytes: u64,
}

impl Config {
    /// A configuration with default timeouts and limits.
    pub fn new(server_url: &str, token: &str) -> Self {
        Config {
            server_url: server_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            sync_timeout: Duration::from_secs(300),
            max_response_bytes: 16 * 1024 * 1024,
            // The protocol's most: each batch is a round trip and a write transaction on both
            // sides, and 500 pushed 10,000 mutations about 1.5x faster than 200 did
            // (docs/benchmarks.md, push throughput).
            push_batch_size: 500,
            units: Vec::new(),
            auto: AutoSync::default(),
            live: true,
            // Under the minute or two in which mobile NATs drop an idle connection.
            live_heartbeat: Duration::from_secs(25),
            max_parallel_uploads: 2,
            uploads_on_cellular: true,
            attachment_cache_bytes: 256 * 1024 * 1024,
        }
    }

    /// The configured units, or the defaults, checked against the schema.
    pub(crate) fn resolve_units(&self, schema: &Schema) -> Result<Vec<SyncUnit>> {
        if self.push_batch_size == 0 || self.push_batch_size as usize > MAX_PUSH_MUTATIONS {
            return Err(Error::InvalidConfig(format!(
                "push_batch_size must be 1..={}",
                MAX_PUSH_MUTATIONS
            )));
        }
        // The server's range (`docs/protocol.md`): a heartbeat it would clamp would have the
        // device take a healthy stream for dead.
        if !(5..=120).contains(&self.live_heartbeat.as_secs())
            || self.live_heartbeat.subsec_nanos() != 0
        {
            return Err(Error::InvalidConfig(
                "live_heartbeat must be whole seconds, 5..=120".into(),
            ));
        }
        if self.max_response_bytes < 1024 {
            return Err(Error::InvalidConfig(
                "max_response_bytes must be at least 1024".into(),
            ));
        }
        let units = if self.units.is_empty() {
            let all: Vec<&str> = schema.entities().iter().map(|e| e.name.as_str()).collect();
            let mut units = vec![SyncUnit::new(ALL_UNIT, &all)];
            units.extend(all.iter().map(|e| SyncUnit::new(e, &[e])));
            units
        } else {
            self.units.clone()
        };
        if !units.iter().any(|u| u.name == self.auto.unit) {
            return Err(Error::InvalidConfig(format!(
                "the automatic sync unit `{}` is not configured",
                self.auto.unit
            )));
        }
        for unit in &units {
            if unit.entities.is_empty() {
                return Err(Error::InvalidConfig(format!(
                    "sync unit `{}` has no entities",
                    unit.name
                )));
            }
            for entity in &unit.entities {
                schema.entity(entity).map_err(|_| {
                    Error::InvalidConfig(format!(
                        "sync unit `{}` names unknown entity `{entity}`",
                        unit.name
                    ))
                })?;
            }
        }
        Ok(units)
    }
}
