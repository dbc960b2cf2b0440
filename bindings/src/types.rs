//! The records and enums that cross the FFI, and their conversions from and to the core's types.
//! Values travel as a small typed enum; a page of records crosses in one call.

use std::collections::HashMap;
use std::time::Duration;

use syncline_core as core;

use crate::error::SynclineError;

/// One field's value.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    /// No value.
    Null,
    /// Text.
    Text {
        /// The text.
        value: String,
    },
    /// A 64-bit integer.
    Integer {
        /// The number.
        value: i64,
    },
    /// A 64-bit float.
    Real {
        /// The number.
        value: f64,
    },
    /// True or false.
    Boolean {
        /// The flag.
        value: bool,
    },
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp {
        /// The instant.
        epoch_ms: i64,
    },
    /// A JSON document, as text.
    Json {
        /// The document.
        json: String,
    },
}

impl From<core::Value> for FieldValue {
    fn from(v: core::Value) -> Self {
        match v {
            core::Value::Null => FieldValue::Null,
            core::Value::Text(value) => FieldValue::Text { value },
            core::Value::Integer(value) => FieldValue::Integer { value },
            core::Value::Real(value) => FieldValue::Real { value },
            core::Value::Boolean(value) => FieldValue::Boolean { value },
            core::Value::Timestamp(epoch_ms) => FieldValue::Timestamp { epoch_ms },
            core::Value::Json(json) => FieldValue::Json { json },
        }
    }
}

impl From<FieldValue> for core::Value {
    fn from(v: FieldValue) -> Self {
        match v {
            FieldValue::Null => core::Value::Null,
            FieldValue::Text { value } => core::Value::Text(value),
            FieldValue::Integer { value } => core::Value::Integer(value),
            FieldValue::Real { value } => core::Value::Real(value),
            FieldValue::Boolean { value } => core::Value::Boolean(value),
            FieldValue::Timestamp { epoch_ms } => core::Value::Timestamp(epoch_ms),
            FieldValue::Json { json } => core::Value::Json(json),
        }
    }
}

/// Field values by name.
pub type Fields = HashMap<String, FieldValue>;

pub(crate) fn fields_to_core(f: Fields) -> std::collections::BTreeMap<String, core::Value> {
    f.into_iter().map(|(k, v)| (k, v.into())).collect()
}

pub(crate) fn fields_from_core(f: std::collections::BTreeMap<String, core::Value>) -> Fields {
    f.into_iter().map(|(k, v)| (k, v.into())).collect()
}

/// A record: its key, the server version it is based on, and its fields (unset fields absent).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncRecord {
    /// The key.
    pub key: String,
    /// The server version (`None` for a record the server has not accepted yet).
    pub version: Option<i64>,
    /// The fields.
    pub fields: Fields,
}

impl From<core::Record> for SyncRecord {
    fn from(r: core::Record) -> Self {
        SyncRecord {
            key: r.key,
            version: r.version,
            fields: fields_from_core(r.values),
        }
    }
}

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FieldType {
    /// Text.
    Text,
    /// 64-bit integer.
    Integer,
    /// 64-bit float.
    Real,
    /// Boolean.
    Boolean,
    /// Milliseconds since the epoch.
    Timestamp,
    /// JSON text.
    Json,
}

/// A field of an entity.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldDecl {
    /// Its name (`[a-z][a-z0-9_]*`).
    pub name: String,
    /// Its type.
    pub field_type: FieldType,
    /// Whether it may be unset.
    pub nullable: bool,
    /// Whether local queries filter or sort by it (adds an index).
    pub indexed: bool,
}

/// What the device may do with an entity's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncMode {
    /// Created, edited, deleted on the device.
    ReadWrite,
    /// Pulled only.
    ReadOnly,
    /// Created on the device, never changed.
    AppendOnly,
}

/// What happens when a local edit meets a newer server version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConflictPolicy {
    /// The edit's fields overwrite the server's.
    LastWriteWins,
    /// The server's record stands.
    ServerWins,
    /// The whole local record replaces the server's.
    ClientWins,
    /// Three-way merge; overlapping fields go to the conflict inbox.
    Manual,
    /// Edits refused unless online; conflicts resolved as server-wins.
    LockedOffline,
}

/// An entity the app syncs.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntityDecl {
    /// Its name.
    pub name: String,
    /// Its key field's name.
    pub key: String,
    /// Its fields (the subset of the server's the device keeps).
    pub fields: Vec<FieldDecl>,
    /// What the device may do.
    pub mode: SyncMode,
    /// Its conflict policy.
    pub conflict: ConflictPolicy,
    /// Rows per pull page.
    pub page_size: u32,
}

impl From<&core::FieldDef> for FieldDecl {
    fn from(f: &core::FieldDef) -> Self {
        FieldDecl {
            name: f.name.clone(),
            field_type: match f.ty {
                core::FieldType::Text => FieldType::Text,
                core::FieldType::Integer => FieldType::Integer,
                core::FieldType::Real => FieldType::Real,
                core::FieldType::Boolean => FieldType::Boolean,
                core::FieldType::Timestamp => FieldType::Timestamp,
                core::FieldType::Json => FieldType::Json,
            },
            nullable: f.nullable,
            indexed: f.indexed,
        }
    }
}

impl From<&core::EntitySchema> for EntityDecl {
    fn from(e: &core::EntitySchema) -> Self {
        EntityDecl {
            name: e.name.clone(),
            key: e.key.clone(),
            fields: e.fields.iter().map(FieldDecl::from).collect(),
            mode: match e.sync.mode {
                core::SyncMode::ReadWrite => SyncMode::ReadWrite,
                core::SyncMode::ReadOnly => SyncMode::ReadOnly,
                core::SyncMode::AppendOnly => SyncMode::AppendOnly,
            },
            conflict: match e.sync.conflict {
                core::ConflictPolicy::LastWriteWins => ConflictPolicy::LastWriteWins,
                core::ConflictPolicy::ServerWins => ConflictPolicy::ServerWins,
                core::ConflictPolicy::ClientWins => ConflictPolicy::ClientWins,
                core::ConflictPolicy::Manual => ConflictPolicy::Manual,
                core::ConflictPolicy::LockedOffline => ConflictPolicy::LockedOffline,
            },
            page_size: e.sync.page_size,
        }
    }
}

/// Builds and checks the core schema from the app's declarations.
pub(crate) fn schema_to_core(entities: Vec<EntityDecl>) -> Result<core::Schema, SynclineError> {
    let entities = entities
        .into_iter()
        .map(|e| {
            let mut schema = core::EntitySchema::new(&e.name, &e.key)
                .mode(match e.mode {
                    SyncMode::ReadWrite => core::SyncMode::ReadWrite,
                    SyncMode::ReadOnly => core::SyncMode::ReadOnly,
                    SyncMode::AppendOnly => core::SyncMode::AppendOnly,
                })
                .conflict(match e.conflict {
                    ConflictPolicy::LastWriteWins => core::ConflictPolicy::LastWriteWins,
                    ConflictPolicy::ServerWins => core::ConflictPolicy::ServerWins,
                    ConflictPolicy::ClientWins => core::ConflictPolicy::ClientWins,
                    ConflictPolicy::Manual => core::ConflictPolicy::Manual,
                    ConflictPolicy::LockedOffline => core::ConflictPolicy::LockedOffline,
                })
                .page_size(e.page_size);
            for f in e.fields {
                let ty = match f.field_type {
                    FieldType::Text => core::FieldType::Text,
                    FieldType::Integer => core::FieldType::Integer,
                    FieldType::Real => core::FieldType::Real,
                    FieldType::Boolean => core::FieldType::Boolean,
                    FieldType::Timestamp => core::FieldType::Timestamp,
                    FieldType::Json => core::FieldType::Json,
                };
                let mut def = core::FieldDef::new(&f.name, ty);
                def.nullable = f.nullable;
                def.indexed = f.indexed;
                schema = schema.field(def);
            }
            schema
        })
        .collect();
    Ok(core::Schema::new(entities).map_err(core::Error::from)?)
}

/// When the client syncs by itself (see the core's `AutoSync`); durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AutoSyncConfig {
    /// The unit synced automatically.
    pub unit: String,
    /// Sync on start and after a new token.
    pub on_start: bool,
    /// Sync when connectivity returns.
    pub on_connectivity: bool,
    /// Sync when the app is resumed.
    pub on_resume: bool,
    /// Sync this long after a local change (`None`: never).
    pub after_change_ms: Option<u64>,
    /// Sync this long after the last good sync (`None`: never).
    pub periodic_ms: Option<u64>,
    /// Sync automatically over metered networks.
    pub on_metered: bool,
    /// Retry failed syncs by themselves.
    pub retry: bool,
    /// First retry delay bound.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_cap_ms: u64,
    /// First probe delay bound once the server is unreachable.
    pub probe_base_ms: u64,
    /// Longest probe delay.
    pub probe_cap_ms: u64,
    /// Connectivity losses shorter than this are ignored.
    pub offline_debounce_ms: u64,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl From<core::AutoSync> for AutoSyncConfig {
    fn from(a: core::AutoSync) -> Self {
        AutoSyncConfig {
            unit: a.unit,
            on_start: a.on_start,
            on_connectivity: a.on_connectivity,
            on_resume: a.on_resume,
            after_change_ms: a.after_change.map(ms),
            periodic_ms: a.periodic.map(ms),
            on_metered: a.on_metered,
            retry: a.retry,
            retry_base_ms: ms(a.retry_base),
            retry_cap_ms: ms(a.retry_cap),
            probe_base_ms: ms(a.probe_base),
            probe_cap_ms: ms(a.probe_cap),
            offline_debounce_ms: ms(a.offline_debounce),
        }
    }
}

impl From<AutoSyncConfig> for core::AutoSync {
    fn from(a: AutoSyncConfig) -> Self {
        core::AutoSync {
            unit: a.unit,
            on_start: a.on_start,
            on_connectivity: a.on_connectivity,
            on_resume: a.on_resume,
            after_change: a.after_change_ms.map(Duration::from_millis),
            periodic: a.periodic_ms.map(Duration::from_millis),
            on_metered: a.on_metered,
            retry: a.retry,
            retry_base: Duration::from_millis(a.retry_base_ms),
            retry_cap: Duration::from_millis(a.retry_cap_ms),
            probe_base: Duration::from_millis(a.probe_base_ms),
            probe_cap: Duration::from_millis(a.probe_cap_ms),
            offline_debounce: Duration::from_millis(a.offline_debounce_ms),
        }
    }
}

/// A named set of entities that sync together.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncUnitDecl {
    /// The unit's name.
    pub name: String,
    /// Its entities, in order.
    pub entities: Vec<String>,
    /// Higher runs first.
    pub priority: i32,
}

/// How the client talks to the server; make one with `default_config`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientConfig {
    /// The server's base URL.
    pub server_url: String,
    /// The user's bearer token.
    pub token: String,
    /// Longest wait to connect.
    pub connect_timeout_ms: u64,
    /// Longest wait for one request.
    pub request_timeout_ms: u64,
    /// Longest a whole sync may run.
    pub sync_timeout_ms: u64,
    /// Largest response body accepted.
    pub max_response_bytes: u64,
    /// Most mutations per push.
    pub push_batch_size: u32,
    /// The sync units (empty: `all` plus one per entity).
    pub units: Vec<SyncUnitDecl>,
    /// Automatic sync.
    pub auto_sync: AutoSyncConfig,
}

impl From<core::Config> for ClientConfig {
    fn from(c: core::Config) -> Self {
        ClientConfig {
            server_url: c.server_url,
            token: c.token,
            connect_timeout_ms: ms(c.connect_timeout),
            request_timeout_ms: ms(c.request_timeout),
            sync_timeout_ms: ms(c.sync_timeout),
            max_response_bytes: c.max_response_bytes as u64,
            push_batch_size: c.push_batch_size as u32,
            units: c
                .units
                .into_iter()
                .map(|u| SyncUnitDecl {
                    name: u.name,
                    entities: u.entities,
                    priority: u.priority,
                })
                .collect(),
            auto_sync: c.auto.into(),
        }
    }
}

impl From<ClientConfig> for core::Config {
    fn from(c: ClientConfig) -> Self {
        let mut config = core::Config::new(&c.server_url, &c.token);
        config.connect_timeout = Duration::from_millis(c.connect_timeout_ms);
        config.request_timeout = Duration::from_millis(c.request_timeout_ms);
        config.sync_timeout = Duration::from_millis(c.sync_timeout_ms);
        config.max_response_bytes = usize::try_from(c.max_response_bytes).unwrap_or(usize::MAX);
        config.push_batch_size = c.push_batch_size as usize;
        config.units = c
            .units
            .into_iter()
            .map(|u| core::SyncUnit {
                name: u.name,
                entities: u.entities,
                priority: u.priority,
            })
            .collect();
        config.auto = c.auto_sync.into();
        config
    }
}

/// What the shell reports about the OS's connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkType {
    /// Wi-Fi.
    Wifi,
    /// Mobile data.
    Cellular,
    /// Wired.
    Ethernet,
    /// Anything else.
    Other,
    /// No network.
    None,
}

impl From<NetworkType> for core::NetworkType {
    fn from(t: NetworkType) -> Self {
        match t {
            NetworkType::Wifi => core::NetworkType::Wifi,
            NetworkType::Cellular => core::NetworkType::Cellular,
            NetworkType::Ethernet => core::NetworkType::Ethernet,
            NetworkType::Other => core::NetworkType::Other,
            NetworkType::None => core::NetworkType::None,
        }
    }
}

impl From<core::NetworkType> for NetworkType {
    fn from(t: core::NetworkType) -> Self {
        match t {
            core::NetworkType::Wifi => NetworkType::Wifi,
            core::NetworkType::Cellular => NetworkType::Cellular,
            core::NetworkType::Ethernet => NetworkType::Ethernet,
            core::NetworkType::Other => NetworkType::Other,
            core::NetworkType::None => NetworkType::None,
        }
    }
}

/// The network as the core sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkStatus {
    /// Connected and the server answers.
    Online,
    /// No connectivity.
    Offline,
    /// Connected, but the server cannot be reached.
    ServerUnreachable,
    /// The server refused the token.
    SignInNeeded,
}

impl From<core::NetworkStatus> for NetworkStatus {
    fn from(s: core::NetworkStatus) -> Self {
        match s {
            core::NetworkStatus::Online => NetworkStatus::Online,
            core::NetworkStatus::Offline => NetworkStatus::Offline,
            core::NetworkStatus::ServerUnreachable => NetworkStatus::ServerUnreachable,
            core::NetworkStatus::SignInNeeded => NetworkStatus::SignInNeeded,
        }
    }
}

/// What a running sync is doing.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Starting.
    Starting,
    /// Sending an entity's changes.
    Pushing {
        /// The entity.
        entity: String,
    },
    /// Fetching an entity's changes.
    Pulling {
        /// The entity.
        entity: String,
    },
}

/// What the engine is doing.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// Nothing to do.
    Idle,
    /// A sync runs.
    Syncing {
        /// The unit.
        unit: String,
        /// Its step.
        phase: SyncPhase,
        /// Entities done.
        entities_done: u32,
        /// Entities in the unit.
        entities_total: u32,
        /// Mutations pushed and records pulled so far.
        items: u64,
    },
    /// The last sync failed.
    Failed {
        /// Why, for the user.
        reason: String,
        /// Whether the core retries by itself.
        retryable: bool,
        /// When, ms since the epoch.
        next_retry_at: Option<i64>,
    },
    /// Offline.
    Offline,
}

/// Everything a shell shows about sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// What the engine is doing.
    pub state: SyncState,
    /// The network state.
    pub network: NetworkStatus,
    /// The OS's network type.
    pub network_type: NetworkType,
    /// Whether it is metered.
    pub metered: bool,
    /// Changes waiting to be pushed.
    pub pending: u64,
    /// Conflicts waiting for the user.
    pub conflicts: u64,
    /// Refused changes waiting for the user.
    pub quarantined: u64,
    /// Last good sync, ms since the epoch.
    pub last_synced_at: Option<i64>,
    /// The banner to show.
    pub banner: Banner,
}

impl From<core::Status> for SyncStatus {
    fn from(s: core::Status) -> Self {
        let banner = s.banner.clone().into();
        SyncStatus {
            state: match s.state {
                core::SyncState::Idle => SyncState::Idle,
                core::SyncState::Syncing { unit, progress } => SyncState::Syncing {
                    unit,
                    phase: match progress.phase {
                        core::Phase::Starting => SyncPhase::Starting,
                        core::Phase::Pushing { entity } => SyncPhase::Pushing { entity },
                        core::Phase::Pulling { entity } => SyncPhase::Pulling { entity },
                    },
                    entities_done: progress.entities_done,
                    entities_total: progress.entities_total,
                    items: progress.items,
                },
                core::SyncState::Failed {
                    reason,
                    retryable,
                    next_retry_at,
                } => SyncState::Failed {
                    reason: format!("{reason:?}"),
                    retryable,
                    next_retry_at,
                },
                core::SyncState::Offline => SyncState::Offline,
            },
            network: s.network.into(),
            network_type: s.network_type.into(),
            metered: s.metered,
            pending: s.pending,
            conflicts: s.conflicts,
            quarantined: s.quarantined,
            last_synced_at: s.last_synced_at,
            banner,
        }
    }
}

/// The banner every shell shows the same way, with its words ready.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Banner {
    /// Which banner.
    pub kind: BannerKind,
    /// Its title (`None` when hidden): "Syncing…", "Sync failed: …", "You're offline · …".
    pub title: Option<String>,
    /// When the core retries, ms since the epoch (failures only); the shell counts down to it.
    pub next_retry_at: Option<i64>,
    /// Entities done and in the running sync (syncing only).
    pub progress_done: u32,
    /// Entities in the running sync (0 when unknown).
    pub progress_total: u32,
    /// Whether to offer a Retry action (it calls `retry`).
    pub show_retry: bool,
}

/// Which banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BannerKind {
    /// Nothing to show.
    Hidden,
    /// "Syncing…".
    Syncing,
    /// "Sync failed".
    Failed,
    /// "You're offline".
    Offline,
}

impl From<core::Banner> for Banner {
    fn from(b: core::Banner) -> Self {
        Banner {
            kind: match b.kind {
                core::BannerKind::Hidden => BannerKind::Hidden,
                core::BannerKind::Syncing => BannerKind::Syncing,
                core::BannerKind::Failed => BannerKind::Failed,
                core::BannerKind::Offline => BannerKind::Offline,
            },
            title: None,
            next_retry_at: b.next_retry_at,
            progress_done: b.entities_done,
            progress_total: b.entities_total,
            show_retry: b.can_retry,
        }
    }
}

/// What one entity's step of a sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntityReport {
    /// The entity.
    pub entity: String,
    /// Mutations the server applied.
    pub pushed: u64,
    /// Of those, overwrites of a newer version.
    pub overwrote: u64,
    /// Mutations refused (quarantined).
    pub quarantined: u64,
    /// Records with conflicts.
    pub conflicts: u64,
    /// Of those, sent to the inbox.
    pub to_inbox: u64,
    /// Records created or changed by the pull.
    pub pulled: u64,
    /// Records deleted by the pull.
    pub deleted: u64,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// The unit.
    pub unit: String,
    /// One report per entity.
    pub entities: Vec<EntityReport>,
}

impl From<core::SyncReport> for SyncReport {
    fn from(r: core::SyncReport) -> Self {
        SyncReport {
            unit: r.unit,
            entities: r
                .entities
                .into_iter()
                .map(|e| EntityReport {
                    entity: e.entity,
                    pushed: e.pushed,
                    overwrote: e.overwrote,
                    quarantined: e.quarantined,
                    conflicts: e.conflicts,
                    to_inbox: e.to_inbox,
                    pulled: e.pulled,
                    deleted: e.deleted,
                })
                .collect(),
        }
    }
}

/// A conflict waiting for the user, with all three versions.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    /// Its id.
    pub id: i64,
    /// The entity.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// The fields both sides changed.
    pub fields: Vec<String>,
    /// Those fields before the local edit.
    pub base: Fields,
    /// The local record (`None`: deleted here).
    pub local: Option<Fields>,
    /// The server's record (`None`: deleted there).
    pub remote: Option<Fields>,
}

impl From<core::Conflict> for Conflict {
    fn from(c: core::Conflict) -> Self {
        Conflict {
            id: c.id,
            entity: c.entity,
            key: c.key,
            fields: c.fields,
            base: fields_from_core(c.base),
            local: c.local.map(fields_from_core),
            remote: c.remote.map(fields_from_core),
        }
    }
}

/// How the user settles a conflict.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Resolution {
    /// The local version wins.
    KeepMine,
    /// The server's version stands.
    KeepTheirs,
    /// These values are written.
    Merged {
        /// The merged fields.
        fields: Fields,
    },
}

impl From<Resolution> for core::Resolution {
    fn from(r: Resolution) -> Self {
        match r {
            Resolution::KeepMine => core::Resolution::KeepMine,
            Resolution::KeepTheirs => core::Resolution::KeepTheirs,
            Resolution::Merged { fields } => core::Resolution::Merged(fields_to_core(fields)),
        }
    }
}

/// A change the server refused.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QuarantinedChange {
    /// Its sequence number (for retry, edit, discard).
    pub seq: u64,
    /// Its id.
    pub mutation_id: String,
    /// The entity.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// "insert", "update" or "delete".
    pub op: String,
    /// The server's code.
    pub code: String,
    /// The server's reason.
    pub message: String,
}

impl From<core::QuarantinedMutation> for QuarantinedChange {
    fn from(q: core::QuarantinedMutation) -> Self {
        QuarantinedChange {
            seq: q.mutation.seq,
            mutation_id: q.mutation.mutation_id,
            entity: q.mutation.entity,
            key: q.mutation.key,
            op: q.mutation.op.as_str().to_string(),
            code: q.code,
            message: q.message,
        }
    }
}

/// Where a change is on its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MutationStage {
    /// Saved on the device.
    Saved,
    /// Accepted by the server.
    Accepted,
    /// Seen in pulled data.
    Seen,
    /// Refused; in quarantine.
    Quarantined,
    /// In the conflict inbox.
    InConflict,
    /// The server's version stood.
    Dropped,
    /// Carried on by a newer change.
    Replaced,
    /// Discarded by the user.
    Discarded,
}

impl From<core::Stage> for MutationStage {
    fn from(s: core::Stage) -> Self {
        match s {
            core::Stage::Saved => MutationStage::Saved,
            core::Stage::Accepted => MutationStage::Accepted,
            core::Stage::Seen => MutationStage::Seen,
            core::Stage::Quarantined => MutationStage::Quarantined,
            core::Stage::InConflict => MutationStage::InConflict,
            core::Stage::Dropped => MutationStage::Dropped,
            core::Stage::Replaced => MutationStage::Replaced,
            core::Stage::Discarded => MutationStage::Discarded,
        }
    }
}

/// What a write returns.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WriteReceipt {
    /// The change's sequence number.
    pub seq: u64,
    /// The change's id (for `mutation_stage`).
    pub mutation_id: String,
}

impl From<core::MutationReceipt> for WriteReceipt {
    fn from(r: core::MutationReceipt) -> Self {
        WriteReceipt {
            seq: r.seq,
            mutation_id: r.mutation_id,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SortOrder {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// A field equality filter.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Filter {
    /// The field (or the key field).
    pub field: String,
    /// The value it must have.
    pub value: FieldValue,
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Sort {
    /// The field.
    pub field: String,
    /// The direction.
    pub order: SortOrder,
}

/// A query of one entity.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QuerySpec {
    /// Equality filters.
    pub filters: Vec<Filter>,
    /// Sort keys (the key breaks ties).
    pub sort: Vec<Sort>,
    /// Page size.
    pub limit: u32,
    /// Records to skip.
    pub offset: u64,
}

impl From<QuerySpec> for core::Query {
    fn from(q: QuerySpec) -> Self {
        core::Query {
            filters: q
                .filters
                .into_iter()
                .map(|f| (f.field, f.value.into()))
                .collect(),
            order_by: q
                .sort
                .into_iter()
                .map(|s| {
                    (
                        s.field,
                        match s.order {
                            SortOrder::Ascending => core::SortOrder::Ascending,
                            SortOrder::Descending => core::SortOrder::Descending,
                        },
                    )
                })
                .collect(),
            limit: q.limit,
            offset: q.offset,
        }
    }
}

/// A page of query results.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordPage {
    /// The records.
    pub records: Vec<SyncRecord>,
    /// Offset of the next page, if there may be one.
    pub next_offset: Option<u64>,
}

/// The banner's second line at `now_ms` (epoch ms); replaced by each front end's own words.
#[uniffi::export]
pub fn banner_detail(banner: Banner, now_ms: i64) -> Result<Option<String>, SynclineError> {
    let _ = (banner, now_ms);
    Ok(None)
}
