//! Mutations as the app sees them: what a local write returns, where a mutation is on its way
//! to the server and to other devices, and the mutations the server refused (quarantined).

use std::collections::HashMap;

use syncline_protocol::{Op, Value};

/// Where a mutation is on its way from the device to everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Stage {
    /// Saved on the device, waiting to be pushed.
    Saved,
    /// The server applied it.
    Accepted,
    /// A pull brought back the server's record at (or past) the version it produced.
    Seen,
    /// The server refused it; it waits in quarantine for the user.
    Quarantined,
    /// It met a newer server version; the conflict inbox holds it for the user.
    InConflict,
    /// It met a newer server version and the entity's policy (or the user, resolving its
    /// conflict) let the server's record stand.
    Dropped,
    /// A new mutation carries it on (client-wins, a clean merge, or a resolved conflict).
    Replaced,
    /// The user discarded it from quarantine.
    Discarded,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Saved => "saved",
            Stage::Accepted => "accepted",
            Stage::Seen => "seen",
            Stage::Quarantined => "quarantined",
            Stage::InConflict => "in_conflict",
            Stage::Dropped => "dropped",
            Stage::Replaced => "replaced",
            Stage::Discarded => "discarded",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Stage> {
        [
            Stage::Saved,
            Stage::Accepted,
            Stage::Seen,
            Stage::Quarantined,
            Stage::InConflict,
            Stage::Dropped,
            Stage::Replaced,
            Stage::Discarded,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A mutation's stage, and the server version it produced once accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MutationStage {
    /// How far it got.
    pub stage: Stage,
    /// The record's server version it produced (from `Accepted` on).
    pub version: Option<i64>,
}

/// What a local write returns: the outbox entry that will carry it to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MutationReceipt {
    /// The client's sequence number of the mutation.
    pub seq: u64,
    /// The mutation's unique id.
    pub mutation_id: String,
}

/// A mutation the server refused, set aside with the server's reason.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct QuarantinedMutation {
    /// Its sequence number: what `retry_quarantined`, `edit_quarantined` and
    /// `discard_quarantined` take.
    pub seq: u64,
    /// Its id (for `mutation_stage`).
    pub mutation_id: String,
    /// The entity of the record it changes.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// What it does to the record.
    pub op: Op,
    /// The values it sets (none for a delete; fields the schema no longer declares left out).
    pub values: HashMap<String, Value>,
    /// The server's stable rejection code (`forbidden`, `invalid_value`, …; `docs/protocol.md`).
    pub code: String,
    /// The server's reason, for logs and support (not for end users: use `code`).
    pub message: String,
}
