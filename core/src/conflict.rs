//! Conflicts: a local edit made on a record version the server has since replaced. The three-way
//! merge decides field by field; what it cannot decide waits in the conflict inbox (kept by the
//! store, `store/inbox.rs`) with all three versions until the user resolves it.

use std::collections::HashMap;

use syncline_protocol::{Value, WireFields};

/// A conflict waiting for the user, with all three versions.
///
/// The three are not the same shape: `local` and `remote` are whole records (every field the
/// device knows, or `None` for a deletion), while `base` holds only the fields in `fields`, as
/// they were before the local edit. A screen shows, for each name in `fields`, the value before
/// (`base`), this device's (`local`) and the server's (`remote`); the fields outside `fields`
/// merged cleanly and need no decision. A field absent from `base` had no value before the edit.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Conflict {
    /// Names it for `resolve`.
    pub id: i64,
    /// Entity of the record both sides changed.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// The fields both sides changed (every changed field when one side deleted the record).
    pub fields: Vec<String>,
    /// Only the fields in `fields`, as they were before the local edit (not a whole record).
    pub base: HashMap<String, Value>,
    /// The whole local record; `None` when it was deleted on this device.
    pub local: Option<HashMap<String, Value>>,
    /// The server's whole record; `None` when it was deleted on the server.
    pub remote: Option<HashMap<String, Value>>,
    /// The server version the conflict was found against.
    pub remote_version: Option<i64>,
    /// When it was found, ms since the Unix epoch.
    pub created_at: i64,
}

/// How the user settles a conflict.
///
/// `Merged` carries the values the user chose, here both titles of a task both sides renamed:
///
/// ```no_run
/// # fn demo(client: &syncline_core::Syncline) -> syncline_core::Result<()> {
/// use std::collections::HashMap;
/// use syncline_core::{Resolution, Value};
///
/// for conflict in client.conflicts()? {
///     let title = |side: &Option<HashMap<String, Value>>| {
///         side.as_ref().and_then(|fields| fields.get("title")).cloned()
///     };
///     if let (Some(Value::Text(mine)), Some(Value::Text(theirs))) =
///         (title(&conflict.local), title(&conflict.remote))
///     {
///         let title = Value::Text(format!("{mine} / {theirs}"));
///         let values = HashMap::from([("title".to_string(), title)]);
///         client.resolve(conflict.id, Resolution::Merged { values })?;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Resolution {
    /// The local version wins: it is written over the server's.
    KeepMine,
    /// The server's version stands; the local edit is dropped.
    KeepTheirs,
    /// These values (a record the user merged) are written over the server's.
    Merged {
        /// The record as the user merged it (fields not named keep the local row's values).
        values: HashMap<String, Value>,
    },
}

/// The outcome of a three-way merge of one record's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Merge {
    /// Local changes the server's version does not contradict: apply them over it.
    pub(crate) clean: WireFields,
    /// Fields changed differently on both sides.
    pub(crate) overlapping: Vec<String>,
}

/// Merges the fields changed locally (`local`, with their values before the edit in `base`)
/// into the server's record (`remote`). A field the server left at its base value takes the
/// local value; a field both sides set to the same value needs nothing; anything else overlaps.
pub(crate) fn merge3(base: &WireFields, local: &WireFields, remote: &WireFields) -> Merge {
    let mut merge = Merge::default();
    let null = serde_json::Value::Null;
    for (name, mine) in local {
        let theirs = remote.get(name).unwrap_or(&null);
        let before = base.get(name).unwrap_or(&null);
        // Same on both sides, or changed here and changed back: nothing to decide.
        if theirs == mine || (mine == before && base.contains_key(name)) {
            continue;
        }
        if theirs == before {
            merge.clean.insert(name.clone(), mine.clone());
        } else {
            merge.overlapping.push(name.clone());
        }
    }
    merge
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> WireFields {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn different_fields_merge_and_the_same_field_overlaps() {
        let base = obj(json!({"title": "a", "done": false, "notes": "x"}));
        let local = obj(json!({"title": "mine", "done": true, "notes": "same"}));
        let remote = obj(json!({"title": "a", "done": false, "notes": "same", "due": 3}));
        let m = merge3(&base, &local, &remote);
        assert_eq!(m.clean, obj(json!({"title": "mine", "done": true})));
        assert!(m.overlapping.is_empty(), "notes: both sides wrote the same");
        let remote = obj(json!({"title": "theirs", "done": false, "notes": "x"}));
        let m = merge3(&base, &local, &remote);
        assert_eq!(m.clean, obj(json!({"done": true, "notes": "same"})));
        assert_eq!(m.overlapping, vec!["title".to_string()]);
        // Changed here and back again: the server's value stands, no conflict.
        let local = obj(json!({"title": "a"}));
        let m = merge3(&base, &local, &remote);
        assert!(m.clean.is_empty() && m.overlapping.is_empty(), "{m:?}");
    }
}
