//! Mutations as the app sees them: what a local write returns, where a mutation is on its way
//! to the server and to other devices, and the mutations the server rejected (quarantined).

use std::collections::HashMap;

use syncline_protocol::{Op, Value};

/// Where a mutation is on its way from the device to everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum MutationStage {
    /// Saved on the device, waiting to be pushed.
    Saved,
    /// The server applied it, producing this version of the record.
    Accepted {
        /// The record's server version the mutation produced.
        version: i64,
    },
    /// A pull brought back the server's record at (or past) the version it produced.
    Seen {
        /// The record's server version the mutation produced.
        version: i64,
    },
    /// The server rejected it; it waits in quarantine for the user.
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

impl MutationStage {
    /// The version the mutation produced, once the server accepted it.
    pub fn version(self) -> Option<i64> {
        match self {
            MutationStage::Accepted { version } | MutationStage::Seen { version } => Some(version),
            _ => None,
        }
    }

    /// A stage read back from the table; `None` when the row cannot be one (an accepted or
    /// seen stage without its version, or an unknown kind): the caller reports it corrupt.
    pub(crate) fn from_stored(kind: &str, version: Option<i64>) -> Option<MutationStage> {
        Some(match (StageKind::parse(kind)?, version) {
            (StageKind::Saved, _) => MutationStage::Saved,
            (StageKind::Accepted, Some(version)) => MutationStage::Accepted { version },
            (StageKind::Seen, Some(version)) => MutationStage::Seen { version },
            (StageKind::Accepted | StageKind::Seen, None) => return None,
            (StageKind::Quarantined, _) => MutationStage::Quarantined,
            (StageKind::InConflict, _) => MutationStage::InConflict,
            (StageKind::Dropped, _) => MutationStage::Dropped,
            (StageKind::Replaced, _) => MutationStage::Replaced,
            (StageKind::Discarded, _) => MutationStage::Discarded,
        })
    }
}

/// A [`MutationStage`] without its version: the `stage` column of the `mutation_stages` table,
/// which the store sets and moves between kinds (`in_conflict` to `dropped`) without reading
/// the version it keeps beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageKind {
    Saved,
    Accepted,
    Seen,
    Quarantined,
    InConflict,
    Dropped,
    Replaced,
    Discarded,
}

impl StageKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StageKind::Saved => "saved",
            StageKind::Accepted => "accepted",
            StageKind::Seen => "seen",
            StageKind::Quarantined => "quarantined",
            StageKind::InConflict => "in_conflict",
            StageKind::Dropped => "dropped",
            StageKind::Replaced => "replaced",
            StageKind::Discarded => "discarded",
        }
    }

    fn parse(s: &str) -> Option<StageKind> {
        [
            StageKind::Saved,
            StageKind::Accepted,
            StageKind::Seen,
            StageKind::Quarantined,
            StageKind::InConflict,
            StageKind::Dropped,
            StageKind::Replaced,
            StageKind::Discarded,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == s)
    }
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

/// A quarantined mutation: the server rejected it, and it waits with the server's code and
/// reason for the user to retry, edit or discard it.
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
