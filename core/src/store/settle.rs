//! Settling what the server would not take as it was: a conflict, by the entity's policy (during
//! a push), a conflict the user resolves from the inbox, and the user's actions on quarantined
//! mutations (retry, edit, discard). Each runs in the caller's one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{Connection, Transaction};
use syncline_protocol::{ConflictPolicy, EntitySchema, Op, Schema, Value, WireFields, WireRecord};

use super::inbox::{self, NewConflict};
use super::outbox::{self, Entry, EntryState};
use super::sql::{delete_row, read_record, set_fields, write_row};
use crate::conflict::{merge3, Conflict, Resolution};
use crate::error::{Error, Result};
use crate::mutation::{MutationReceipt, QuarantinedMutation, StageKind};
use crate::record::{coerce_all, declared, fields_from_json, fields_to_json, values_of, Record};

/// Every field of `record`, nulls included, as JSON.
fn full(e: &EntitySchema, record: &Record) -> WireFields {
    values_of(record, e.fields.iter().map(|f| &f.name))
}

/// [`declared`] fields, typed.
fn declared_values(e: &EntitySchema, fields: &WireFields) -> Result<HashMap<String, Value>> {
    // A conflict's versions may hold null where the schema requires a value: the base of a
    // record both sides created holds null (nothing was there before). Null is read as null;
    // checking it against the field made the whole inbox unreadable.
    let (nulls, set): (WireFields, WireFields) = declared(e, fields)
        .into_iter()
        .partition(|(_, v)| v.is_null());
    let mut values: HashMap<String, Value> = fields_from_json(e, &set)?.into_iter().collect();
    values.extend(nulls.into_iter().map(|(name, _)| (name, Value::Null)));
    Ok(values)
}

/// The server's record reduced to the fields this device keeps, each checked against the schema.
fn kept(e: &EntitySchema, remote: &WireRecord) -> Result<WireRecord> {
    let fields = declared(e, &remote.fields);
    fields_from_json(e, &fields).map_err(|err| {
        Error::MalformedResponse(format!("conflict record `{}`: {err}", remote.key))
    })?;
    Ok(WireRecord {
        key: remote.key.clone(),
        version: remote.version,
        fields,
    })
}

/// Writes the server's record over the local row (or deletes the row).
fn take_remote(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    key: &str,
    remote: Option<&WireRecord>,
) -> Result<()> {
    let Some(remote) = remote else {
        return delete_row(tx, e, key);
    };
    let values = fields_from_json(e, &remote.fields)
        .map_err(|err| Error::MalformedResponse(format!("conflict record `{key}`: {err}")))?;
    write_row(tx, e, key, Some(remote.version), &values)
}

/// Records a mutation that carries a decision already made: it overwrites on conflict.
fn record_decided(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    key: &str,
    op: Op,
    fields: &WireFields,
    base_version: Option<i64>,
    base_fields: &WireFields,
) -> Result<MutationReceipt> {
    let receipt = outbox::record(tx, &e.name, key, op, fields, base_version, base_fields)?;
    outbox::set_overwrite(tx, receipt.seq)?;
    Ok(receipt)
}

fn set_stages(tx: &Transaction<'_>, chain: &[Entry], stage: StageKind) -> Result<()> {
    for entry in chain {
        let m = &entry.mutation;
        outbox::set_stage(tx, &m.mutation_id, &m.entity, &m.key, stage, None)?;
    }
    Ok(())
}

/// Settles a record whose pending edits met a newer server version (`remote`; `None` when the
/// server deleted it), by the entity's policy. Every pending edit of the record is taken out of
/// the outbox and replaced by what the policy decides. Returns whether the conflict went to the
/// inbox.
pub(crate) fn settle_conflict(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    key: &str,
    remote: Option<&WireRecord>,
) -> Result<bool> {
    let remote = remote.map(|r| kept(e, r)).transpose()?;
    let remote = remote.as_ref();
    let chain = outbox::chain(tx, &e.name, key)?;
    for entry in &chain {
        outbox::remove(tx, entry.mutation.seq)?;
    }
    let local = read_record(tx, e, key)?.map(|r| full(e, &r));
    // What the chain changed, and those fields' values before its first edit (an open conflict
    // of the record holds an even older base).
    let mut changed = BTreeSet::new();
    let mut base = inbox::base_of(tx, &e.name, key)?.unwrap_or_default();
    for entry in &chain {
        for (name, v) in &entry.base_fields {
            base.entry(name.clone()).or_insert_with(|| v.clone());
        }
        changed.extend(entry.mutation.fields.keys().cloned());
        if entry.mutation.op == Op::Delete {
            changed.extend(e.fields.iter().map(|f| f.name.clone()));
        }
    }
    let remote_version = remote.map(|r| r.version);
    match e.sync.conflict {
        ConflictPolicy::LastWriteWins
        | ConflictPolicy::ServerWins
        | ConflictPolicy::LockedOffline => {
            take_remote(tx, e, key, remote)?;
            set_stages(tx, &chain, StageKind::Dropped)?;
            log::info!("conflict on {}/{key}: the server's version stands", e.name);
            Ok(false)
        }
        ConflictPolicy::ClientWins => {
            match (&local, remote) {
                (Some(mine), Some(theirs)) => {
                    record_decided(
                        tx,
                        e,
                        key,
                        Op::Update,
                        mine,
                        Some(theirs.version),
                        &theirs.fields,
                    )?;
                }
                (Some(mine), None) => {
                    record_decided(tx, e, key, Op::Insert, mine, None, &WireFields::new())?;
                }
                (None, Some(theirs)) => {
                    record_decided(
                        tx,
                        e,
                        key,
                        Op::Delete,
                        &WireFields::new(),
                        Some(theirs.version),
                        &theirs.fields,
                    )?;
                }
                (None, None) => {}
            }
            set_stages(tx, &chain, StageKind::Replaced)?;
            Ok(false)
        }
        ConflictPolicy::Manual => {
            if let (Some(mine), Some(theirs)) = (&local, remote) {
                let mine_changed: WireFields = changed
                    .iter()
                    .map(|n| (n.clone(), mine.get(n).cloned().unwrap_or_default()))
                    .collect();
                let merge = merge3(&base, &mine_changed, &theirs.fields);
                take_remote(tx, e, key, remote)?;
                if !merge.clean.is_empty() {
                    set_fields(tx, e, key, &fields_from_json(e, &merge.clean)?)?;
                    let before: WireFields = merge
                        .clean
                        .keys()
                        .map(|n| (n.clone(), theirs.fields.get(n).cloned().unwrap_or_default()))
                        .collect();
                    outbox::record(
                        tx,
                        &e.name,
                        key,
                        Op::Update,
                        &merge.clean,
                        Some(theirs.version),
                        &before,
                    )?;
                }
                if merge.overlapping.is_empty() {
                    set_stages(tx, &chain, StageKind::Replaced)?;
                    log::info!("conflict on {}/{key}: merged by field", e.name);
                    return Ok(false);
                }
                let overlap_base: WireFields = merge
                    .overlapping
                    .iter()
                    .map(|n| (n.clone(), base.get(n).cloned().unwrap_or_default()))
                    .collect();
                inbox::insert(
                    tx,
                    &NewConflict {
                        entity: &e.name,
                        key,
                        fields: &merge.overlapping,
                        base: &overlap_base,
                        local: Some(mine),
                        remote: Some(&theirs.fields),
                        remote_version,
                    },
                )?;
            } else {
                // One side deleted the record: nothing to merge field by field.
                let fields: Vec<String> = changed.into_iter().collect();
                inbox::insert(
                    tx,
                    &NewConflict {
                        entity: &e.name,
                        key,
                        fields: &fields,
                        base: &base,
                        local: local.as_ref(),
                        remote: remote.map(|r| &r.fields),
                        remote_version,
                    },
                )?;
                take_remote(tx, e, key, remote)?;
            }
            set_stages(tx, &chain, StageKind::InConflict)?;
            log::info!("conflict on {}/{key}: sent to the inbox", e.name);
            Ok(true)
        }
    }
}

/// The conflicts waiting for the user, oldest first. Fields the app's schema no longer declares
/// (an app update removed them) are left out rather than failing the whole inbox; a conflict of
/// an entity the schema no longer has is skipped.
pub(crate) fn conflicts(conn: &Connection, schema: &Schema) -> Result<Vec<Conflict>> {
    let stored = inbox::all(conn)?;
    let mut out = Vec::with_capacity(stored.len());
    for c in stored {
        let Ok(e) = schema.entity(&c.entity) else {
            log::warn!(
                "conflict {} is of an entity no longer declared: skipped",
                c.id
            );
            continue;
        };
        out.push(Conflict {
            id: c.id,
            entity: c.entity.clone(),
            key: c.key,
            fields: c
                .fields
                .into_iter()
                .filter(|n| e.field_def(n).is_ok())
                .collect(),
            base: declared_values(e, &c.base)?,
            local: c.local.map(|l| declared_values(e, &l)).transpose()?,
            remote: c.remote.map(|r| declared_values(e, &r)).transpose()?,
            remote_version: c.remote_version,
            created_at: c.created_at,
        });
    }
    Ok(out)
}

/// Settles conflict `id` as the user decided, in one transaction: the chosen version is
/// written locally and (unless the server's stands) queued to overwrite the server's.
/// Returns the mutation that carries it, if any.
pub(crate) fn resolve(
    tx: &Transaction<'_>,
    schema: &Schema,
    id: i64,
    resolution: Resolution,
) -> Result<(String, Option<MutationReceipt>)> {
    let c = inbox::get(tx, id)?.ok_or(Error::NoSuchConflict(id))?;
    let e = schema.entity(&c.entity)?;
    let key = c.key.as_str();
    let current = read_record(tx, e, key)?;
    let chosen: Option<WireFields> = match resolution {
        Resolution::KeepTheirs => {
            inbox::remove(tx, id)?;
            settled_by_user(tx, &c.entity, key, StageKind::Dropped)?;
            return Ok((e.name.clone(), None));
        }
        // Mine: the conflicting fields as I had them (or my deletion).
        Resolution::KeepMine => c.local.map(|mine| match &current {
            Some(_) if c.remote.is_some() => c
                .fields
                .iter()
                .map(|n| (n.clone(), mine.get(n).cloned().unwrap_or_default()))
                .collect(),
            _ => mine,
        }),
        Resolution::Merged { values } => Some(fields_to_json(&coerce_all(e, values)?)),
    };
    let receipt = match (chosen, &current) {
        (None, None) => None,
        (None, Some(row)) => {
            delete_row(tx, e, key)?;
            Some(record_decided(
                tx,
                e,
                key,
                Op::Delete,
                &WireFields::new(),
                c.remote_version,
                &full(e, row),
            )?)
        }
        (Some(values), Some(row)) => {
            let changes: BTreeMap<String, Value> = fields_from_json(e, &values)?
                .into_iter()
                .filter(|(n, v)| row.get_or_null(n) != v)
                .collect();
            if changes.is_empty() {
                None
            } else {
                set_fields(tx, e, key, &changes)?;
                let before = values_of(row, changes.keys());
                Some(record_decided(
                    tx,
                    e,
                    key,
                    Op::Update,
                    &fields_to_json(&changes),
                    c.remote_version,
                    &before,
                )?)
            }
        }
        (Some(values), None) => {
            let typed = fields_from_json(e, &values)?;
            write_row(tx, e, key, None, &typed)?;
            Some(record_decided(
                tx,
                e,
                key,
                Op::Insert,
                &fields_to_json(&typed),
                c.remote_version,
                &WireFields::new(),
            )?)
        }
    };
    inbox::remove(tx, id)?;
    // The user's version goes out as a new mutation; when it changes nothing, the server's
    // record already says what the user chose.
    let stage = match receipt {
        Some(_) => StageKind::Replaced,
        None => StageKind::Dropped,
    };
    settled_by_user(tx, &c.entity, key, stage)?;
    Ok((e.name.clone(), receipt))
}

/// After the user resolved a conflict of `entity`/`key`: once the inbox holds no other conflict
/// of the record, its mutations that waited there are no longer in conflict (their stage would
/// otherwise say so for ever: finished stages are pruned, `in_conflict` ones never).
fn settled_by_user(tx: &Transaction<'_>, entity: &str, key: &str, stage: StageKind) -> Result<()> {
    if inbox::base_of(tx, entity, key)?.is_none() {
        outbox::settle_stages(tx, entity, key, StageKind::InConflict, stage)?;
    }
    Ok(())
}

/// The quarantined mutations, oldest first, with their values typed by the schema. Fields the
/// schema no longer declares are left out; a mutation of an entity it no longer has is skipped.
pub(crate) fn quarantined(conn: &Connection, schema: &Schema) -> Result<Vec<QuarantinedMutation>> {
    let mut out = Vec::new();
    for entry in outbox::quarantined(conn)? {
        let m = entry.mutation;
        let Ok(e) = schema.entity(&m.entity) else {
            log::warn!(
                "quarantined seq {} is of an undeclared entity: skipped",
                m.seq
            );
            continue;
        };
        let (code, message) = entry.reason.unwrap_or_default();
        out.push(QuarantinedMutation {
            seq: m.seq,
            values: declared_values(e, &m.fields)?,
            mutation_id: m.mutation_id,
            entity: m.entity,
            key: m.key,
            op: m.op,
            code,
            message,
        });
    }
    Ok(out)
}

/// A quarantined entry by seq.
fn quarantined_entry(tx: &Transaction<'_>, seq: u64) -> Result<Entry> {
    match outbox::entry(tx, seq)? {
        Some(entry) if entry.state == EntryState::Quarantined => Ok(entry),
        _ => Err(Error::NoSuchQuarantined(seq)),
    }
}

/// Sends a quarantined mutation again, as it is (after the cause was fixed on the server).
/// Returns its new seq.
pub(crate) fn retry_quarantined(
    tx: &Transaction<'_>,
    schema: &Schema,
    seq: u64,
) -> Result<(String, u64)> {
    let entry = quarantined_entry(tx, seq)?;
    let e = schema.entity(&entry.mutation.entity)?;
    let fields = still_current(tx, e, &entry, seq)?;
    let new_seq = outbox::requeue(tx, &entry, Some(&fields))?;
    Ok((e.name.clone(), new_seq))
}

/// What a retried change may still send: it goes to the end of the outbox, behind anything
/// written since, so it must not undo newer edits. An update keeps only the fields whose
/// local value is still its own; an insert sends the record as it is now. A change that later
/// edits or a deletion replaced entirely cannot be retried (discard it).
fn still_current(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    entry: &Entry,
    seq: u64,
) -> Result<WireFields> {
    let m = &entry.mutation;
    let row = read_record(tx, e, &m.key)?;
    let replaced = || {
        Error::NotEditable(format!(
            "later changes of {}/{} replaced the quarantined mutation {seq}: discard it",
            m.entity, m.key
        ))
    };
    match (m.op, row) {
        (Op::Delete, None) => Ok(WireFields::new()),
        (Op::Delete, Some(_)) | (_, None) => Err(replaced()),
        (Op::Insert, Some(row)) => Ok(fields_to_json(&row.values)),
        (Op::Update, Some(row)) => {
            let mine = fields_from_json(e, &m.fields)?;
            let kept: BTreeMap<String, Value> = mine
                .into_iter()
                .filter(|(n, v)| row.get_or_null(n) == v)
                .collect();
            if kept.is_empty() {
                return Err(replaced());
            }
            Ok(fields_to_json(&kept))
        }
    }
}

/// Changes fields of a quarantined insert or update (locally too) and sends it again.
/// Returns its new seq.
pub(crate) fn edit_quarantined(
    tx: &Transaction<'_>,
    schema: &Schema,
    seq: u64,
    changes: HashMap<String, Value>,
) -> Result<(String, u64)> {
    let entry = quarantined_entry(tx, seq)?;
    let m = &entry.mutation;
    let e = schema.entity(&m.entity)?;
    if m.op == Op::Delete {
        return Err(Error::NotEditable(format!(
            "the quarantined mutation {seq} deletes {}/{}: retry or discard it",
            m.entity, m.key
        )));
    }
    let changes = coerce_all(e, changes)?;
    if read_record(tx, e, &m.key)?.is_none() {
        return Err(Error::NotEditable(format!(
            "{}/{} was deleted since: discard the quarantined mutation {seq}",
            m.entity, m.key
        )));
    }
    set_fields(tx, e, &m.key, &changes)?;
    // What is still this change's own (see `still_current`), plus the user's edit.
    let mut fields = match still_current(tx, e, &entry, seq) {
        Ok(fields) => fields,
        // Nothing of it is its own any more: the user's edit is all it carries.
        Err(Error::NotEditable(_)) => WireFields::new(),
        Err(other) => return Err(other),
    };
    fields.extend(fields_to_json(&changes));
    let new_seq = outbox::requeue(tx, &entry, Some(&fields))?;
    Ok((e.name.clone(), new_seq))
}

/// Drops a quarantined mutation and undoes it locally: an insert's record goes, an update's
/// fields get their earlier values back, a deleted record comes back. Unless a pull has
/// replaced the record since (`pulled_over`): then it shows the server's state already, which
/// stays as it is.
pub(crate) fn discard_quarantined(
    tx: &Transaction<'_>,
    schema: &Schema,
    seq: u64,
) -> Result<String> {
    let entry = quarantined_entry(tx, seq)?;
    let m = &entry.mutation;
    let e = schema.entity(&m.entity)?;
    outbox::remove(tx, m.seq)?;
    let before = fields_from_json(e, &entry.base_fields)?;
    match m.op {
        _ if entry.pulled_over => {}
        Op::Insert => delete_row(tx, e, &m.key)?,
        Op::Update => {
            // Only fields that still show this change: a field a pull or a later edit has
            // changed since keeps its newer value.
            if let Some(row) = read_record(tx, e, &m.key)? {
                let mine = fields_from_json(e, &m.fields)?;
                let undo: BTreeMap<String, Value> = before
                    .into_iter()
                    .filter(|(n, _)| mine.get(n).is_some_and(|v| row.get_or_null(n) == v))
                    .collect();
                set_fields(tx, e, &m.key, &undo)?;
            }
        }
        Op::Delete => {
            if read_record(tx, e, &m.key)?.is_none() {
                write_row(tx, e, &m.key, m.base_version, &before)?;
            }
        }
    }
    outbox::set_stage(
        tx,
        &m.mutation_id,
        &m.entity,
        &m.key,
        StageKind::Discarded,
        None,
    )?;
    Ok(e.name.clone())
}
