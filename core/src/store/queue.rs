//! The sync-request queue's table: the scheduler's queue (`queue.rs`) as it survives a restart.
//! Changes are applied in the order the scheduler made them. The request being run stays in the
//! table (marked running) until it ends, so a crash mid-sync puts it back in the queue instead of
//! losing it.

use rusqlite::{params, Connection};

use crate::error::{Error, Result};
use crate::queue::{QueueChange, Queued, SyncRequest};

/// Tables of the queue (the store's second migration).
pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE sync_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    unit         TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    first        INTEGER NOT NULL DEFAULT 0,   -- 1: queued with discard_pending, runs before the rest
    state        TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running')),
    requested_at INTEGER NOT NULL
);
-- A unit is never queued twice (it may be queued once more while it runs).
CREATE UNIQUE INDEX sync_requests_one_per_unit ON sync_requests (unit) WHERE state = 'queued';
";

/// The one mapping from a `sync_requests` row to a kept request, reading columns by name.
fn queued_from_row(r: &rusqlite::Row<'_>) -> Result<Queued> {
    let state: String = r.get("state")?;
    if state != "queued" {
        return Err(Error::Corrupt(format!(
            "sync request in unexpected state `{state}`"
        )));
    }
    Ok(Queued {
        request: SyncRequest {
            id: r.get("id")?,
            unit: r.get("unit")?,
            priority: r.get("priority")?,
            requested_at: r.get("requested_at")?,
        },
        first: r.get("first")?,
        forced: false,
    })
}

/// Applies the scheduler's queue changes, in order. Each change is idempotent (it states the
/// row's new state rather than a step from the old one), so a batch that failed (a full disk)
/// can be applied again later, whole or after part of it got through.
pub(crate) fn apply(conn: &Connection, changes: &[QueueChange]) -> Result<()> {
    for change in changes {
        match change {
            QueueChange::Added { request, first } => {
                // A row the scheduler dropped since (its change lost with a failed batch) must
                // not block the unit's new request.
                conn.prepare_cached(
                    "DELETE FROM sync_requests WHERE unit = ?1 AND state = 'queued' AND id <> ?2",
                )?
                .execute(params![request.unit, request.id])?;
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO sync_requests (id, unit, priority, first, state, requested_at)
                     VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
                )?
                .execute(params![
                    request.id,
                    request.unit,
                    request.priority,
                    first,
                    request.requested_at
                ])?;
            }
            QueueChange::Raised { id, priority } => {
                conn.prepare_cached("UPDATE sync_requests SET priority = ?2 WHERE id = ?1")?
                    .execute(params![id, priority])?;
            }
            QueueChange::Discarded => {
                conn.prepare_cached("DELETE FROM sync_requests WHERE state = 'queued'")?
                    .execute([])?;
                conn.prepare_cached("UPDATE sync_requests SET first = 0 WHERE first = 1")?
                    .execute([])?;
            }
            QueueChange::Started { id } => {
                conn.prepare_cached("UPDATE sync_requests SET state = 'running' WHERE id = ?1")?
                    .execute([id])?;
            }
            QueueChange::Finished { id } => {
                conn.prepare_cached("DELETE FROM sync_requests WHERE id = ?1")?
                    .execute([id])?;
            }
        }
    }
    Ok(())
}

/// After a restart: a request that was running when the process died is queued again (unless
/// its unit is queued already).
pub(crate) fn recover(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DELETE FROM sync_requests WHERE state = 'running'
           AND unit IN (SELECT unit FROM sync_requests WHERE state = 'queued');
         UPDATE sync_requests SET state = 'queued' WHERE state = 'running';",
    )?;
    Ok(())
}

/// The kept requests (after [`recover`]), and the highest id ever given (new ids continue
/// after it).
pub(crate) fn kept(conn: &Connection) -> Result<(Vec<Queued>, i64)> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, unit, priority, first, state, requested_at FROM sync_requests",
    )?;
    let mut rows = stmt.query([])?;
    let mut kept = Vec::new();
    while let Some(row) = rows.next()? {
        kept.push(queued_from_row(row)?);
    }
    let highest: i64 = conn.query_row(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'sync_requests'), 0),
                COALESCE((SELECT MAX(id) FROM sync_requests), 0))",
        [],
        |r| r.get(0),
    )?;
    Ok((kept, highest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Queue;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(SCHEMA_SQL).expect("schema");
        conn
    }

    fn restored(conn: &Connection) -> Queue {
        recover(conn).expect("recover");
        let (kept, highest) = kept(conn).expect("kept");
        Queue::restore(kept, highest)
    }

    fn units(q: &Queue) -> Vec<String> {
        q.requests().map(|r| r.unit.clone()).collect()
    }

    #[test]
    fn the_stored_queue_matches_the_scheduler_s_after_a_restart() {
        let conn = db();
        let mut q = Queue::default();
        let mut changes = Vec::new();
        q.push("all", 0, false, false, 1, &mut changes);
        q.push("tasks", 0, false, false, 2, &mut changes);
        q.push("comments", 5, false, false, 3, &mut changes);
        let running = q.pop(&mut changes).expect("next");
        assert_eq!(running.unit, "comments");
        q.push("projects", 0, true, false, 4, &mut changes);
        q.push("all", 1, false, false, 5, &mut changes);
        apply(&conn, &changes).expect("apply");
        let back = restored(&conn);
        // The running request is queued again behind the discard_pending one; ids continue.
        assert_eq!(units(&back), vec!["projects", "comments", "all"]);
        assert!(back.requests().all(|r| r.id <= 4));
        let mut back = back;
        let mut more = Vec::new();
        back.push("x", 0, false, false, 6, &mut more);
        assert_eq!(back.requests().last().map(|r| r.id), Some(5));
    }

    #[test]
    fn a_batch_applied_twice_or_after_a_lost_one_leaves_the_scheduler_s_queue() {
        let conn = db();
        let mut q = Queue::default();
        let mut lost = Vec::new();
        q.push("all", 0, false, false, 1, &mut lost);
        let running = q.pop(&mut lost).expect("next");
        // That batch never reached the disk: the row of `all` stayed as first written, queued.
        let mut first = Vec::new();
        q.push("all", 0, false, false, 0, &mut first);
        apply(&conn, &[lost[0].clone()]).expect("the Added alone");
        let mut later = Vec::new();
        later.push(QueueChange::Finished { id: running.id });
        q.push("tasks", 0, false, false, 2, &mut later);
        // The unit's new request replaces the stale row instead of failing on the unique index,
        // and applying the same batch again changes nothing.
        apply(&conn, &first).expect("apply");
        apply(&conn, &later).expect("apply");
        apply(&conn, &later).expect("apply again");
        let back = restored(&conn);
        assert_eq!(units(&back), units(&q));
    }

    #[test]
    fn a_running_request_merges_into_the_queued_one_of_its_unit() {
        let conn = db();
        let mut q = Queue::default();
        let mut changes = Vec::new();
        q.push("all", 0, false, false, 1, &mut changes);
        let running = q.pop(&mut changes).expect("next");
        q.push("all", 0, false, false, 2, &mut changes);
        apply(&conn, &changes).expect("apply");
        assert_eq!(units(&restored(&conn)), vec!["all"], "nothing doubled");
        apply(&conn, &[QueueChange::Finished { id: running.id }]).expect("apply");
        assert_eq!(units(&restored(&conn)), vec!["all"]);
    }
}
