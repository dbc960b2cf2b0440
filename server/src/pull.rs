//! `POST /v1/pull` semantics and its fast path: one page of the changes to one entity after a
//! cursor, visible to the user, projected to the requested fields.
//!
//! The page is written straight into the response body: rows come from one cached statement
//! (an index range scan on (entity, position)), each stored data array is split in place into
//! its elements and the requested ones are copied in the requested order. No JSON tree is built
//! and nothing is allocated per row.

use std::io::Write;
use std::ops::Range;

use syncline_protocol::{PullPage, PullRequest, MAX_PULL_LIMIT};

use crate::db::{Next, Param, Row, Tx};
use crate::error::StoreError;
use crate::store::{split_array, Ent, Store};

/// Why a pull was refused.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The entity is not served.
    #[error("the server has no entity `{0}`")]
    UnknownEntity(String),
    /// A requested field is not a field of the entity (or is its key).
    #[error("{0}")]
    UnknownField(String),
    /// The cursor is not one this server hands out.
    #[error("malformed cursor `{0}`")]
    BadCursor(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The page could not be written out (the client went away).
    #[error("sending the page: {0}")]
    Io(#[from] std::io::Error),
}

const RECORDS_SQL: &str = "SELECT position, key, version, deleted, data FROM records
    WHERE entity = ?1 AND position > ?2
      AND scope IN (SELECT project_id FROM memberships WHERE user_id = ?3)
    ORDER BY position LIMIT ?4";

/// Departures from the user's projects of records they can no longer see, latest per key.
const DEPARTURES_SQL: &str = "SELECT d.position, d.key, d.version FROM departures d
    WHERE d.entity = ?1 AND d.position > ?2
      AND d.old_scope IN (SELECT project_id FROM memberships WHERE user_id = ?3)
      AND NOT EXISTS (SELECT 1 FROM records r WHERE r.entity = d.entity AND r.key = d.key
                      AND r.scope IN (SELECT project_id FROM memberships WHERE user_id = ?3))
      AND d.position = (SELECT MAX(d2.position) FROM departures d2
                        WHERE d2.entity = d.entity AND d2.key = d.key
                          AND d2.old_scope IN (SELECT project_id FROM memberships WHERE user_id = ?3))
    ORDER BY d.position LIMIT ?4";

/// Records of projects the user was removed from, unless one of their projects still shows
/// them.
const REVOCATIONS_SQL: &str = "SELECT v.position, v.key, v.version FROM revocations v
    WHERE v.user_id = ?3 AND v.entity = ?1 AND v.position > ?2
      AND NOT EXISTS (SELECT 1 FROM records r WHERE r.entity = v.entity AND r.key = v.key
                      AND r.scope IN (SELECT project_id FROM memberships WHERE user_id = ?3))
    ORDER BY v.position LIMIT ?4";

/// Parses a cursor: omitted means the beginning, otherwise a decimal change-log position.
pub fn parse_cursor(cursor: Option<&str>) -> Result<i64, PullError> {
    match cursor {
        None => Ok(0),
        Some(s) => {
            let ok = !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| s.parse::<i64>().ok())
                .flatten()
                .ok_or_else(|| PullError::BadCursor(s.chars().take(40).collect()))
        }
    }
}

/// A validated pull request: what [`Store::write_pull`] needs to write the page.
#[derive(Debug, Clone)]
pub struct PullPlan {
    entity: String,
    fields: Vec<String>,
    slots: Vec<usize>,
    cursor: i64,
    limit: usize,
}

/// Bytes of page text gathered before they go to the sink (the compressor or the socket).
const STAGE_BYTES: usize = 64 * 1024;

impl Store {
    /// Checks a pull request against the schema (entity, fields clients may see, cursor) without
    /// touching the database, and clamps its limit to [`MAX_PULL_LIMIT`].
    pub fn plan_pull(&self, req: &PullRequest) -> Result<PullPlan, PullError> {
        let ent = self
            .ent(&req.entity)
            .ok_or_else(|| PullError::UnknownEntity(req.entity.clone()))?;
        let mut slots = Vec::with_capacity(req.fields.len());
        for f in &req.fields {
            if *f == ent.def.schema.key {
                return Err(PullError::UnknownField(format!(
                    "`{f}` is the key of `{}`; it is always sent",
                    ent.name()
                )));
            }
            // A server-only field gets the very answer a field that does not exist gets: the
            // client learns nothing of it.
            let i = ent.def.client_field_index(f).ok_or_else(|| {
                PullError::UnknownField(format!("entity `{}` has no field `{f}`", ent.name()))
            })?;
            slots.push(ent.layout.slots[i]);
        }
        Ok(PullPlan {
            entity: ent.name().to_string(),
            fields: req.fields.clone(),
            slots,
            cursor: parse_cursor(req.cursor.as_deref())?,
            limit: req.limit.clamp(1, MAX_PULL_LIMIT) as usize,
        })
    }

    /// Writes one page of changes for `user_id` as the JSON text of a [`PullPage`] into `sink`,
    /// in chunks of about 64 KiB (so a compressor and the socket can start early).
    pub fn write_pull(
        &self,
        user_id: &str,
        plan: &PullPlan,
        sink: &mut dyn Write,
    ) -> Result<(), PullError> {
        let ent = self
            .ent(&plan.entity)
            .ok_or_else(|| PullError::UnknownEntity(plan.entity.clone()))?;
        self.with_reader(|tx| write_page(tx, ent, user_id, plan, sink))
    }

    /// One page of changes for `user_id`, as the JSON body of a [`PullPage`].
    pub fn pull(&self, user_id: &str, req: &PullRequest) -> Result<Vec<u8>, PullError> {
        let plan = self.plan_pull(req)?;
        let mut body = Vec::new();
        self.write_pull(user_id, &plan, &mut body)?;
        Ok(body)
    }

    /// [`Store::pull`], parsed: for tests and tools.
    pub fn pull_page(&self, user_id: &str, req: &PullRequest) -> Result<PullPage, PullError> {
        let body = self.pull(user_id, req)?;
        serde_json::from_slice(&body).map_err(|e| PullError::Store(StoreError::Json(e)))
    }
}

fn write_page(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    user_id: &str,
    plan: &PullPlan,
    sink: &mut dyn Write,
) -> Result<(), PullError> {
    let (cursor, limit) = (plan.cursor, plan.limit);
    let fetch = (limit + 1) as i64;
    let params = [
        Param::Text(ent.name()),
        Param::Int(cursor),
        Param::Text(user_id),
        Param::Int(fetch),
    ];
    // Tombstones for records that left the user's sight: moved out of one of their projects,
    // or in a project they were removed from. Both lists are short and in position order.
    let read = |r: &dyn Row| Ok((r.int(0)?, r.text(1)?.to_string(), r.int(2)?));
    let mut departures: Vec<(i64, String, i64)> = tx.query_all(DEPARTURES_SQL, &params, read)?;
    let revocations = tx.query_all(REVOCATIONS_SQL, &params, read)?;
    if !revocations.is_empty() {
        departures.extend(revocations);
        departures.sort_unstable_by_key(|d| d.0);
    }

    let mut out: Vec<u8> = Vec::with_capacity(STAGE_BYTES + 4096);
    out.extend_from_slice(b"{\"entity\":");
    serde_json::to_writer(&mut out, ent.name()).map_err(StoreError::from)?;
    out.extend_from_slice(b",\"fields\":");
    serde_json::to_writer(&mut out, &plan.fields).map_err(StoreError::from)?;
    out.extend_from_slice(b",\"upserts\":[");
    let mut tombs: Vec<u8> = Vec::new();

    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(ent.layout.width);
    let mut itoa_buf = itoa::Buffer::new();
    let (mut emitted, mut upserts, mut end, mut has_more) = (0usize, 0usize, cursor, false);
    let mut next_dep = departures.iter().peekable();
    // Records and departures are merged in position order; each row is copied straight from
    // the database's buffer into the page.
    let mut step = |r: &dyn Row| -> Result<Next, PullError> {
        let position = r.int(0)?;
        while let Some((dep_pos, key, version)) = next_dep.next_if(|d| d.0 < position) {
            if emitted == limit {
                has_more = true;
                return Ok(Next::Stop);
            }
            write_tombstone(&mut tombs, key.as_bytes(), *version, &mut itoa_buf)?;
            end = *dep_pos;
            emitted += 1;
        }
        if emitted == limit {
            has_more = true;
            return Ok(Next::Stop);
        }
        let key = r.text(1)?.as_bytes();
        let version = r.int(2)?;
        if r.bool(3)? {
            write_tombstone(&mut tombs, key, version, &mut itoa_buf)?;
        } else {
            let data = r.text(4)?.as_bytes();
            if split_array(data, &mut ranges).is_none() {
                let key = String::from_utf8_lossy(key);
                return Err(
                    StoreError::Corrupt(format!("record `{key}` has malformed data")).into(),
                );
            }
            if upserts > 0 {
                out.push(b',');
            }
            out.push(b'[');
            write_json_str(&mut out, key)?;
            out.push(b',');
            out.extend_from_slice(itoa_buf.format(version).as_bytes());
            for &slot in &plan.slots {
                out.push(b',');
                match ranges.get(slot).and_then(|r| data.get(r.clone())) {
                    Some(value) => out.extend_from_slice(value),
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b']');
            upserts += 1;
            if out.len() >= STAGE_BYTES {
                sink.write_all(&out)?;
                out.clear();
            }
        }
        end = position;
        emitted += 1;
        Ok(Next::Continue)
    };
    // The row callback can only fail with a store error; a failure of the sink is kept aside
    // and the query stopped.
    let mut failure = None;
    tx.query(RECORDS_SQL, &params, &mut |r| match step(r) {
        Ok(next) => Ok(next),
        Err(PullError::Store(e)) => Err(e),
        Err(other) => {
            failure = Some(other);
            Err(StoreError::RolledBack)
        }
    })
    .map_err(|e| failure.take().unwrap_or(PullError::Store(e)))?;
    if !has_more {
        for (dep_pos, key, version) in next_dep {
            if emitted == limit {
                has_more = true;
                break;
            }
            write_tombstone(&mut tombs, key.as_bytes(), *version, &mut itoa_buf)?;
            end = *dep_pos;
            emitted += 1;
        }
    }
    out.extend_from_slice(b"],\"tombstones\":[");
    out.extend_from_slice(&tombs);
    out.extend_from_slice(b"],\"cursor\":\"");
    out.extend_from_slice(itoa_buf.format(end).as_bytes());
    write!(out, "\",\"has_more\":{has_more}}}")?;
    sink.write_all(&out)?;
    sink.flush()?;
    Ok(())
}

fn write_tombstone(
    out: &mut Vec<u8>,
    key: &[u8],
    version: i64,
    buf: &mut itoa::Buffer,
) -> Result<(), PullError> {
    if !out.is_empty() {
        out.push(b',');
    }
    out.push(b'[');
    write_json_str(out, key)?;
    out.push(b',');
    out.extend_from_slice(buf.format(version).as_bytes());
    out.push(b']');
    Ok(())
}

/// Writes `s` (UTF-8 text from the store) as a JSON string.
fn write_json_str(out: &mut Vec<u8>, s: &[u8]) -> Result<(), PullError> {
    if s.iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        return Ok(());
    }
    let text = std::str::from_utf8(s)
        .map_err(|e| StoreError::Corrupt(format!("text is not UTF-8: {e}")))?;
    serde_json::to_writer(&mut *out, text).map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_decimal_positions() {
        assert_eq!(parse_cursor(None).ok(), Some(0));
        assert_eq!(parse_cursor(Some("1200")).ok(), Some(1200));
        for bad in ["", "-1", "+1", "1.0", "abc", " 1", "99999999999999999999"] {
            assert!(
                matches!(parse_cursor(Some(bad)), Err(PullError::BadCursor(_))),
                "{bad}"
            );
        }
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn the_pull_scans_the_position_index_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.db");
        let _s = Store::open_sample(path.as_path()).expect("open");
        let params = [
            Param::Text("tasks"),
            Param::Int(0),
            Param::Text("u"),
            Param::Int(10),
        ];
        let records = crate::db::sqlite::explain(&path, RECORDS_SQL, &params).expect("plan");
        let departures = crate::db::sqlite::explain(&path, DEPARTURES_SQL, &params).expect("plan");
        println!("records:\n{records}\ndepartures:\n{departures}");
        assert!(records.contains("records_by_entity_position"), "{records}");
        assert!(!records.contains("TEMP B-TREE"), "no sort: {records}");
    }
}
