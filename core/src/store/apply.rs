//! Applying what the server answered: a push's results and a pulled page. Each is checked
//! before anything is written, and applied in the caller's one transaction (with the pull
//! cursor, for a page), so a bad answer changes nothing.

use rusqlite::{params, Transaction};
use syncline_protocol::{EntitySchema, Mutation, MutationResult, Op, Outcome, Schema};

use super::sql::{self, EntitySql, OnExisting, MAX_KEY_LEN};
use super::{outbox, settle};
use crate::error::{Error, Result};
use crate::mutation::StageKind;
use crate::pulled::PulledPage;
use crate::record::fields_from_json;

/// Fewest rows of a pulled page applied in one transaction when local writes wait: a part of a
/// page costs a commit, and commits of parts too small cost an initial sync its throughput
/// (250-row parts always: UUIDv4 keys 138 % of a raw insert → 89-100 %).
const MIN_PART: usize = 100;

/// Longest pull cursor accepted from a server, in bytes.
const MAX_CURSOR_LEN: usize = 256;

/// What applying one pulled page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageStats {
    /// Records created or changed.
    pub upserts: u64,
    /// Records deleted.
    pub tombstones: u64,
}

/// What applying one push answer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PushStats {
    /// Mutations the server applied.
    pub applied: u64,
    /// Of those, how many overwrote a newer server version (last write wins).
    pub overwrote: u64,
    /// Mutations the server refused, now quarantined.
    pub quarantined: u64,
    /// Records whose edits met a newer server version (settled by the entity's policy).
    pub conflicts: u64,
    /// Of those, how many went to the conflict inbox for the user.
    pub to_inbox: u64,
}

fn malformed(entity: &str, what: impl std::fmt::Display) -> Error {
    Error::MalformedResponse(format!("pull of `{entity}`: {what}"))
}

/// Checks that a push answer has one result per mutation sent, in order, before anything of it
/// is written.
pub(crate) fn check_push_answer(sent: &[Mutation], results: &[MutationResult]) -> Result<()> {
    if sent.len() != results.len() {
        return Err(Error::MalformedResponse(format!(
            "push: {} results for {} mutations",
            results.len(),
            sent.len()
        )));
    }
    for (m, r) in sent.iter().zip(results) {
        if m.mutation_id != r.mutation_id || m.seq != r.seq {
            return Err(Error::MalformedResponse(format!(
                "push: result for `{}` (seq {}) where `{}` (seq {}) was sent",
                r.mutation_id, r.seq, m.mutation_id, m.seq
            )));
        }
    }
    Ok(())
}

/// Applies the server's answer to a push (checked by [`check_push_answer`]): applied mutations
/// leave the outbox and set their record's version, conflicts are settled by the entity's
/// policy, refused ones go to quarantine.
pub(crate) fn push_answer(
    tx: &Transaction<'_>,
    schema: &Schema,
    sent: &[Mutation],
    results: &[MutationResult],
) -> Result<PushStats> {
    let mut stats = PushStats::default();
    // Records whose conflict is settled: the rest of their chain was settled with them.
    let mut settled = std::collections::HashSet::new();
    for (m, r) in sent.iter().zip(results) {
        if settled.contains(&(m.entity.as_str(), m.key.as_str())) {
            continue;
        }
        match &r.outcome {
            Outcome::Applied { version, overwrote } => {
                outbox::remove(tx, m.seq)?;
                outbox::set_stage(
                    tx,
                    &m.mutation_id,
                    &m.entity,
                    &m.key,
                    StageKind::Accepted,
                    Some(*version),
                )?;
                let e = schema.entity(&m.entity)?;
                tx.prepare_cached(&EntitySql::of(e).raise_version())?
                    .execute(params![m.key, version])?;
                stats.applied += 1;
                stats.overwrote += u64::from(overwrote.is_some());
            }
            Outcome::Conflict { current } => {
                let e = schema.entity(&m.entity)?;
                let to_inbox = settle::settle_conflict(tx, e, &m.key, current.as_ref())?;
                stats.conflicts += 1;
                stats.to_inbox += u64::from(to_inbox);
                settled.insert((m.entity.as_str(), m.key.as_str()));
            }
            Outcome::Rejected { code, message } => {
                outbox::quarantine(tx, m.seq, code, message)?;
                outbox::set_stage(
                    tx,
                    &m.mutation_id,
                    &m.entity,
                    &m.key,
                    StageKind::Quarantined,
                    None,
                )?;
                stats.quarantined += 1;
            }
        }
    }
    outbox::prune_stages(tx)?;
    Ok(stats)
}

/// Checks a pulled page's shape (entity, fields, cursor, keys) before anything of it is written
/// (its decoding checked the same and every value's type; this keeps the store from trusting
/// that). A page is applied in several transactions, so a bad row must be found before the
/// first of them.
pub(crate) fn check_page(e: &EntitySchema, page: &PulledPage) -> Result<()> {
    let entity = e.name.as_str();
    if page.entity != e.name {
        return Err(malformed(
            entity,
            format!("page is for entity `{}`", page.entity),
        ));
    }
    if page.fields != e.field_names() {
        return Err(malformed(
            entity,
            format!(
                "page has fields {:?}, asked for {:?}",
                page.fields,
                e.field_names()
            ),
        ));
    }
    if page.cursor.is_empty() || page.cursor.len() > MAX_CURSOR_LEN {
        return Err(malformed(entity, "missing or oversized cursor"));
    }
    if page.values.len() != page.rows.len() * e.fields.len() {
        return Err(malformed(entity, "rows and values do not match"));
    }
    if page
        .rows
        .iter()
        .any(|row| row.key.is_empty() || row.key.len() > MAX_KEY_LEN)
    {
        return Err(malformed(entity, "row without a valid key"));
    }
    Ok(())
}

/// Applies one pulled page (checked by [`check_page`]) from row `start` on, in the caller's
/// transaction, then its tombstones and its cursor; returns where it stopped instead when
/// `writes_wait` says local writes wait for the writer (checked after each of at least
/// [`MIN_PART`] rows), so that a local write waits for a part of a page, not for a whole one,
/// while a pull no write interrupts keeps its large transactions. The cursor moves only with
/// the page's last part: a crash between parts pulls the page again, and applying its rows again
/// changes nothing (an upsert keeps the newer version). Records with pending local edits keep
/// them: the edits are re-applied over the server's values (they are pushed before the next
/// pull).
pub(crate) fn pull_page(
    tx: &Transaction<'_>,
    e: &EntitySchema,
    page: &PulledPage,
    start: usize,
    writes_wait: impl Fn() -> bool,
) -> Result<(PageStats, Option<usize>)> {
    let entity = e.name.as_str();
    let mut stats = PageStats::default();
    let has_pending = outbox::has_pending(tx, &e.name)?;
    let has_accepted = outbox::has_accepted(tx, &e.name)?;
    let has_quarantined = outbox::has_quarantined(tx, &e.name)?;
    {
        let table = EntitySql::of(e);
        let mut upsert = tx.prepare_cached(&table.insert(OnExisting::KeepNewer))?;
        let width = e.fields.len();
        for (i, row) in page.rows.iter().enumerate().skip(start) {
            let key = row.key.as_str();
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(malformed(entity, "row without a valid key"));
            }
            // Bound straight from the decoded page: key, version, then the fields in order.
            upsert.execute(sql::row_params(key, row.version, page.values_of(i, width)))?;
            if has_pending {
                reapply_pending(tx, e, key)?;
            }
            if has_quarantined {
                outbox::mark_pulled_over(tx, &e.name, key)?;
            }
            if has_accepted {
                outbox::mark_seen(tx, &e.name, key, row.version)?;
            }
            stats.upserts += 1;
            if i + 1 - start >= MIN_PART && i + 1 < page.rows.len() && writes_wait() {
                return Ok((stats, Some(i + 1)));
            }
        }
        let mut delete = tx.prepare_cached(&table.delete())?;
        for (key, version) in &page.tombstones {
            if has_accepted {
                outbox::mark_seen(tx, &e.name, key, *version)?;
            }
            if has_pending && !outbox::pending_for_record(tx, &e.name, key)?.is_empty() {
                continue;
            }
            if has_quarantined {
                outbox::mark_pulled_over(tx, &e.name, key)?;
            }
            stats.tombstones += delete.execute([key])? as u64;
        }
    }
    tx.prepare_cached("UPDATE pull_state SET cursor = ?2 WHERE entity = ?1")?
        .execute([&e.name, &page.cursor])?;
    Ok((stats, None))
}

/// Re-applies a record's pending local edits over values just pulled from the server.
fn reapply_pending(tx: &Transaction<'_>, e: &EntitySchema, key: &str) -> Result<()> {
    for m in outbox::pending_for_record(tx, &e.name, key)? {
        match m.op {
            Op::Insert | Op::Update => {
                sql::set_fields(tx, e, key, &fields_from_json(e, &m.fields)?)?
            }
            Op::Delete => sql::delete_row(tx, e, key)?,
        }
    }
    Ok(())
}
