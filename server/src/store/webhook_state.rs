//! A webhook's durable delivery cursor (the last change-log position its receiver took) and the
//! lease that lets exactly one instance deliver at a time when several share a database: an
//! instance delivers only while it holds an unexpired lease, renews it as it goes, and moves the
//! cursor only from where it read it, so a lease that passed to another instance meanwhile
//! cannot move it.

use crate::db::{Param, Tx};
use crate::error::StoreError;

/// Where a webhook stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookState {
    /// The last position its receiver took.
    pub cursor: i64,
    /// The instance holding the lease, if any.
    pub holder: Option<String>,
    /// Until when (ms since the epoch).
    pub lease_until: Option<i64>,
    /// When a batch was last delivered (ms since the epoch).
    pub delivered_at: Option<i64>,
}

/// Takes or renews the lease of webhook `name` for `holder` until `until`; a webhook seen for
/// the first time starts at `start` (the log's end: it delivers what happens from now on).
/// Returns its cursor, or `None` while another instance holds an unexpired lease.
pub(super) fn lease(
    tx: &mut dyn Tx,
    name: &str,
    holder: &str,
    now: i64,
    until: i64,
    start: i64,
) -> Result<Option<i64>, StoreError> {
    tx.execute(
        "INSERT INTO webhook_state (name, cursor) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        &[Param::Text(name), Param::Int(start)],
    )?;
    let taken = tx.execute(
        "UPDATE webhook_state SET holder = ?2, lease_until = ?3
         WHERE name = ?1 AND (holder IS NULL OR holder = ?2 OR lease_until < ?4)",
        &[
            Param::Text(name),
            Param::Text(holder),
            Param::Int(until),
            Param::Int(now),
        ],
    )? == 1;
    if !taken {
        return Ok(None);
    }
    tx.query_opt(
        "SELECT cursor FROM webhook_state WHERE name = ?1",
        &[Param::Text(name)],
        |r| r.int(0),
    )
}

/// Moves the cursor from `from` to `to` for the lease holder; false when the lease or the
/// cursor moved meanwhile (nothing changes then).
pub(super) fn advance(
    tx: &mut dyn Tx,
    name: &str,
    holder: &str,
    from: i64,
    to: i64,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE webhook_state SET cursor = ?4, delivered_at = ?5
         WHERE name = ?1 AND holder = ?2 AND cursor = ?3",
        &[
            Param::Text(name),
            Param::Text(holder),
            Param::Int(from),
            Param::Int(to),
            Param::Int(now),
        ],
    )? == 1)
}

/// Gives up `holder`'s lease of webhook `name` (at shutdown), so another instance takes over at
/// once.
pub(super) fn release(tx: &mut dyn Tx, name: &str, holder: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE webhook_state SET holder = NULL, lease_until = NULL
         WHERE name = ?1 AND holder = ?2",
        &[Param::Text(name), Param::Text(holder)],
    )?;
    Ok(())
}

/// Where webhook `name` stands, if it ever ran.
pub(super) fn state(tx: &mut dyn Tx, name: &str) -> Result<Option<WebhookState>, StoreError> {
    tx.query_opt(
        "SELECT cursor, holder, lease_until, delivered_at FROM webhook_state WHERE name = ?1",
        &[Param::Text(name)],
        |r| {
            Ok(WebhookState {
                cursor: r.int(0)?,
                holder: r.opt_text(1)?.map(str::to_string),
                lease_until: r.opt_int(2)?,
                delivered_at: r.opt_int(3)?,
            })
        },
    )
}

/// Sets the cursor of webhook `name` to `cursor` (a replay from there), whoever holds it.
pub(super) fn set_cursor(tx: &mut dyn Tx, name: &str, cursor: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO webhook_state (name, cursor) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET cursor = ?2",
        &[Param::Text(name), Param::Int(cursor)],
    )?;
    Ok(())
}

/// When the first change after `cursor` was made (ms since the epoch), if there is one and the
/// server recorded its time.
pub(super) fn oldest_after(tx: &mut dyn Tx, cursor: i64) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT changed_at FROM records WHERE position > ?1 ORDER BY position LIMIT 1",
            &[Param::Int(cursor)],
            |r| r.opt_int(0),
        )?
        .flatten())
}
