//! The sync-request queue's table: the request being run stays in it (marked running) until it
//! ends, so a crash mid-sync puts it back in the queue instead of losing it. Free functions over
//! the store's connection, like the outbox.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::queue::{Enqueued, SyncRequest};
use crate::shared::now_ms;

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

/// The one mapping from a `sync_requests` row to a request, reading columns by name.
fn request_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SyncRequest> {
    Ok(SyncRequest {
        id: r.get("id")?,
        unit: r.get("unit")?,
        priority: r.get("priority")?,
        requested_at: r.get("requested_at")?,
    })
}

/// Queues a sync of `unit`. With `discard_pending`, every queued request is dropped first (never
/// the running one) and this one goes ahead of anything queued later without it.
pub(crate) fn enqueue(
    conn: &Connection,
    unit: &str,
    priority: i32,
    discard_pending: bool,
) -> Result<Enqueued> {
    if discard_pending {
        conn.prepare_cached("DELETE FROM sync_requests WHERE state = 'queued'")?
            .execute([])?;
        conn.prepare_cached("UPDATE sync_requests SET first = 0 WHERE first = 1")?
            .execute([])?;
    }
    let queued: Option<i64> = conn
        .prepare_cached("SELECT id FROM sync_requests WHERE unit = ?1 AND state = 'queued'")?
        .query_row([unit], |r| r.get(0))
        .optional()?;
    if let Some(id) = queued {
        conn.prepare_cached("UPDATE sync_requests SET priority = MAX(priority, ?2) WHERE id = ?1")?
            .execute(params![id, priority])?;
        return Ok(Enqueued::AlreadyQueued);
    }
    conn.prepare_cached(
        "INSERT INTO sync_requests (unit, priority, first, requested_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![unit, priority, discard_pending, now_ms()])?;
    Ok(Enqueued::Added)
}

/// Takes the next request to run (marking it running), if any.
pub(crate) fn start_next(conn: &Connection) -> Result<Option<SyncRequest>> {
    let next = conn
        .prepare_cached(
            "SELECT id, unit, priority, requested_at FROM sync_requests WHERE state = 'queued'
             ORDER BY first DESC, priority DESC, id ASC LIMIT 1",
        )?
        .query_row([], request_from_row)
        .optional()?;
    if let Some(request) = &next {
        conn.prepare_cached("UPDATE sync_requests SET state = 'running' WHERE id = ?1")?
            .execute([request.id])?;
    }
    Ok(next)
}

/// Removes a request that has run (successfully or not: retries are new requests).
pub(crate) fn finish(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM sync_requests WHERE id = ?1")?
        .execute([id])?;
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

/// The queued requests, in the order they will run.
pub(crate) fn queued(conn: &Connection) -> Result<Vec<SyncRequest>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, unit, priority, requested_at FROM sync_requests WHERE state = 'queued'
         ORDER BY first DESC, priority DESC, id ASC",
    )?;
    let rows = stmt.query_map([], request_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(SCHEMA_SQL).expect("schema");
        conn
    }

    fn units(conn: &Connection) -> Vec<String> {
        queued(conn)
            .expect("queued")
            .into_iter()
            .map(|r| r.unit)
            .collect()
    }

    #[test]
    fn a_unit_is_queued_once_and_priority_orders() {
        let conn = db();
        assert_eq!(
            enqueue(&conn, "comments", 0, false).expect("q"),
            Enqueued::Added
        );
        assert_eq!(
            enqueue(&conn, "comments", 0, false).expect("q"),
            Enqueued::AlreadyQueued
        );
        assert_eq!(
            enqueue(&conn, "tasks", 5, false).expect("q"),
            Enqueued::Added
        );
        assert_eq!(
            enqueue(&conn, "comments", 9, false).expect("q"),
            Enqueued::AlreadyQueued
        );
        assert_eq!(enqueue(&conn, "all", 0, false).expect("q"), Enqueued::Added);
        // comments took the higher priority of its two requests.
        assert_eq!(units(&conn), vec!["comments", "tasks", "all"]);
    }

    #[test]
    fn discard_pending_drops_the_queue_but_not_the_running_request() {
        let conn = db();
        enqueue(&conn, "all", 0, false).expect("q");
        enqueue(&conn, "tasks", 0, false).expect("q");
        let running = start_next(&conn).expect("next").expect("one");
        assert_eq!(running.unit, "all");
        enqueue(&conn, "comments", 0, false).expect("q");
        enqueue(&conn, "projects", 0, true).expect("q");
        assert_eq!(units(&conn), vec!["projects"], "queued ones dropped");
        // A later high-priority request still runs after the discard_pending one.
        enqueue(&conn, "tasks", 100, false).expect("q");
        assert_eq!(units(&conn), vec!["projects", "tasks"]);
        finish(&conn, running.id).expect("finish");
        assert_eq!(
            start_next(&conn).expect("next").map(|r| r.unit).as_deref(),
            Some("projects")
        );
    }

    #[test]
    fn a_running_request_survives_a_crash() {
        let conn = db();
        enqueue(&conn, "all", 0, false).expect("q");
        start_next(&conn).expect("next").expect("one");
        // The unit is requested again while it runs: both are kept.
        assert_eq!(enqueue(&conn, "all", 0, false).expect("q"), Enqueued::Added);
        enqueue(&conn, "tasks", 0, false).expect("q");
        recover(&conn).expect("recover");
        // The running "all" merged into the queued one; nothing is lost, nothing doubled.
        assert_eq!(units(&conn), vec!["all", "tasks"]);
        let conn2 = db();
        enqueue(&conn2, "tasks", 0, false).expect("q");
        start_next(&conn2).expect("next");
        recover(&conn2).expect("recover");
        assert_eq!(
            units(&conn2),
            vec!["tasks"],
            "a lone running request is queued again"
        );
    }
}
