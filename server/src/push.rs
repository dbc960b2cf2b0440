//! `POST /v1/push` semantics: client-id binding, per-mutation validation and scope checks,
//! field rules (server-only fields are unknown to clients, read-only and server-set ones are
//! refused, server-set values are filled in), versioning and conflict handling, and idempotent
//! replay. A whole batch runs in one write transaction, so each mutation's effects, its stored
//! result and the client's `last_seq` are committed together.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value as Json};
use syncline_protocol::{
    codes, MutationResult, OnConflict, Op, Outcome, PushRequest, PushResponse, WireRecord,
    MAX_PUSH_MUTATIONS,
};
use syncline_protocol::{ServerValue, SyncMode};

use crate::clock::now_ms;
use crate::db::{Param, Tx};
use crate::error::StoreError;
use crate::rules::{Refusal, Verdicts};
use crate::store::{
    load_row, save_row_at, user_scopes, Ent, FieldProblem, NextState, Positions, Row, Store,
};

/// Longest client id accepted, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// Why a whole push was refused (single mutations are rejected in their results instead).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The batch is malformed: too long, `seq` not strictly increasing, bad client id.
    #[error("{0}")]
    BadRequest(String),
    /// The client id belongs to another user.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed; nothing was applied.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the shape of a batch: its length, the client id, and that `seq` strictly increases.
pub fn check_batch(req: &PushRequest) -> Result<(), PushError> {
    if req.mutations.len() > MAX_PUSH_MUTATIONS {
        return Err(PushError::BadRequest(format!(
            "a push carries at most {MAX_PUSH_MUTATIONS} mutations, this one has {}",
            req.mutations.len()
        )));
    }
    // Control characters too: PostgreSQL's text cannot hold U+0000 (the key rule's reason).
    if req.client_id.is_empty()
        || req.client_id.len() > MAX_CLIENT_ID_LEN
        || req.client_id.chars().any(char::is_control)
    {
        return Err(PushError::BadRequest(format!(
            "client_id must be 1 to {MAX_CLIENT_ID_LEN} bytes long, without control characters"
        )));
    }
    let mut previous: Option<u64> = None;
    for m in &req.mutations {
        if i64::try_from(m.seq).is_err() {
            return Err(PushError::BadRequest(format!(
                "seq {} is out of range",
                m.seq
            )));
        }
        if previous.is_some_and(|p| m.seq <= p) {
            return Err(PushError::BadRequest(format!(
                "seq must strictly increase within a batch ({} follows {})",
                m.seq,
                previous.unwrap_or_default()
            )));
        }
        previous = Some(m.seq);
    }
    Ok(())
}

fn rejected(code: &str, message: impl Into<String>) -> Outcome {
    Outcome::Rejected {
        code: code.to_string(),
        message: message.into(),
    }
}

impl Store {
    /// Applies a push for `user_id`: binds the client id on first use, replays stored results
    /// for already-seen `seq`s, applies the rest, and commits everything in one transaction.
    pub fn push(&self, user_id: &str, req: &PushRequest) -> Result<PushResponse, PushError> {
        self.push_judged(user_id, req, &Verdicts::new())
    }

    /// [`Store::push`] with the office's verdicts on its mutations (`rules.rs`): a refused
    /// mutation that passes the server's own checks is rejected with the office's code and
    /// words instead of being written.
    pub(crate) fn push_judged(
        &self,
        user_id: &str,
        req: &PushRequest,
        verdicts: &Verdicts,
    ) -> Result<PushResponse, PushError> {
        check_batch(req)?;
        let results = self.with_writer(|tx| push_in(self, tx, user_id, req, verdicts))?;
        Ok(PushResponse { results })
    }
}

fn push_in(
    store: &Store,
    tx: &mut dyn Tx,
    user_id: &str,
    req: &PushRequest,
    verdicts: &Verdicts,
) -> Result<Vec<MutationResult>, PushError> {
    let client = &req.client_id;
    let bound = tx.query_opt(
        "SELECT user_id FROM clients WHERE client_id = ?1",
        &[Param::Text(client)],
        |r| Ok(r.text(0)?.to_string()),
    )?;
    match bound {
        Some(owner) if owner == user_id => {}
        Some(_) => {
            return Err(PushError::Forbidden(
                "this client_id is bound to another user".to_string(),
            ))
        }
        None => {
            tx.execute(
                "INSERT INTO clients (client_id, user_id, created_at) VALUES (?1, ?2, ?3)",
                &[
                    Param::Text(client),
                    Param::Text(user_id),
                    Param::Int(now_ms()),
                ],
            )?;
        }
    }
    // The mark of each entity in the batch, and the batch's lowest seq of it: clients only ever
    // resend from their oldest unacknowledged mutation of an entity on, so older results go.
    let mut marks: HashMap<&str, Option<i64>> = HashMap::new();
    for m in &req.mutations {
        if marks.contains_key(m.entity.as_str()) {
            continue;
        }
        let mark = tx.query_opt(
            "SELECT last_seq FROM client_marks WHERE client_id = ?1 AND entity = ?2",
            &[Param::Text(client), Param::Text(&m.entity)],
            |r| r.int(0),
        )?;
        tx.execute(
            "DELETE FROM push_results WHERE client_id = ?1 AND entity = ?2 AND seq < ?3",
            &[
                Param::Text(client),
                Param::Text(&m.entity),
                Param::Int(m.seq as i64),
            ],
        )?;
        marks.insert(m.entity.as_str(), mark);
    }
    let scopes = user_scopes(tx, user_id)?;
    let mut results = Vec::with_capacity(req.mutations.len());
    let (mut applied, mut replayed) = (0usize, 0usize);
    // Written once at the end, not per mutation: each statement inside the serialized section
    // is a round trip on PostgreSQL (docs/benchmarks.md, "What the serialized writes cost").
    let mut new_results: Vec<(i64, &str, String)> = Vec::new();
    let mut new_marks: Vec<(&str, i64)> = Vec::new();
    let positions = Positions::new(req.mutations.len());
    for m in &req.mutations {
        let seq = m.seq as i64;
        let mark = marks.get(m.entity.as_str()).copied().flatten();
        if mark.is_some_and(|last| seq <= last) {
            replayed += 1;
            let stored = tx.query_opt(
                "SELECT result FROM push_results WHERE client_id = ?1 AND seq = ?2",
                &[Param::Text(client), Param::Int(seq)],
                |r| Ok(serde_json::from_str::<MutationResult>(r.text(0)?)?),
            )?;
            let result = match stored {
                Some(result) => result,
                None => MutationResult {
                    mutation_id: m.mutation_id.clone(),
                    seq: m.seq,
                    outcome: rejected(
                        codes::INVALID_MUTATION,
                        format!(
                            "seq {} was already processed and its result is no longer kept",
                            m.seq
                        ),
                    ),
                },
            };
            results.push(result);
            continue;
        }
        let who = Who {
            client,
            user: user_id,
            now: now_ms(),
            positions: &positions,
            refusal: verdicts.get(&m.seq),
        };
        let outcome = apply(store, tx, &scopes, &who, m)?;
        applied += 1;
        let result = MutationResult {
            mutation_id: m.mutation_id.clone(),
            seq: m.seq,
            outcome,
        };
        let text = serde_json::to_string(&result).map_err(StoreError::from)?;
        new_results.push((seq, m.entity.as_str(), text));
        match new_marks.iter_mut().find(|(e, _)| *e == m.entity) {
            Some(mark) => mark.1 = seq,
            None => new_marks.push((m.entity.as_str(), seq)),
        }
        marks.insert(m.entity.as_str(), Some(seq));
        results.push(result);
    }
    store_results(tx, client, &new_results)?;
    for (entity, seq) in new_marks {
        tx.execute(
            "INSERT INTO client_marks (client_id, entity, last_seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (client_id, entity) DO UPDATE SET last_seq = excluded.last_seq",
            &[Param::Text(client), Param::Text(entity), Param::Int(seq)],
        )?;
    }
    log::debug!("push from {user_id}/{client}: {applied} processed, {replayed} replayed");
    Ok(results)
}

/// Who makes a mutation, and when: what the server records as its writer and sets into
/// server-set fields.
struct Who<'a> {
    /// The client id (the record's writer, for conflict detection).
    client: &'a str,
    /// The authenticated user (`"user"` fields).
    user: &'a str,
    /// The server's time for this mutation (`"now"` fields), ms since the epoch.
    now: i64,
    /// Where the batch's change-log positions come from.
    positions: &'a Positions,
    /// The office's refusal of this mutation, if its write rules refused it.
    refusal: Option<&'a Refusal>,
}

impl Who<'_> {
    /// The office's refusal as the mutation's outcome, when there is one: checked where the
    /// mutation would be written, so the server's own refusals (scope, types) come first and a
    /// reported conflict still goes to the user.
    fn refused(&self) -> Option<Outcome> {
        self.refusal
            .map(|r| rejected(&r.wire_code(), r.message.clone()))
    }
}

/// Checks the fields of a mutation as a client may send them, and returns each as (slot,
/// canonical value). A server-only field is refused exactly like a field that does not exist,
/// so a client cannot learn it exists; a field only the server writes is `read_only_field`.
/// Refusing (rather than overwriting the value) tells a client it holds a value the server will
/// never store, instead of letting it believe its write went through.
fn check_client_fields(
    ent: Ent<'_>,
    fields: &Map<String, Json>,
) -> Result<Vec<(usize, Json)>, Outcome> {
    for name in fields.keys() {
        if *name == ent.def.schema.key {
            continue; // `check_fields` says it is the key
        }
        let Some(i) = ent.def.client_field_index(name) else {
            return Err(rejected(
                codes::UNKNOWN_FIELD,
                format!("entity `{}` has no field `{name}`", ent.name()),
            ));
        };
        if !ent.def.schema.fields[i].writable {
            let why = match ent.def.server_set(i).map(|s| s.value) {
                Some(ServerValue::User) => "is set by the server to the pushing user's id",
                Some(ServerValue::Now) => "is set by the server to its own time",
                None => "is read-only for clients",
            };
            return Err(rejected(
                codes::READ_ONLY_FIELD,
                format!("field `{}.{name}` {why}; leave it out", ent.name()),
            ));
        }
    }
    ent.check_fields(fields).map_err(|p| match p {
        FieldProblem::Unknown(msg) => rejected(codes::UNKNOWN_FIELD, msg),
        FieldProblem::Invalid(msg) => rejected(codes::INVALID_VALUE, msg),
    })
}

/// The fields of a stored record a client may see (server-only ones left out).
fn client_fields_of(ent: Ent<'_>, data: &[Json]) -> Map<String, Json> {
    let mut fields = ent.fields_of(data);
    for (i, f) in ent.def.schema.fields.iter().enumerate() {
        if ent.def.is_server_only(i) {
            fields.remove(&f.name);
        }
    }
    fields
}

/// Results stored per statement: one multi-row `INSERT` for up to this many mutations.
const RESULTS_PER_STATEMENT: usize = 16;

/// The `INSERT` of [`RESULTS_PER_STATEMENT`] results, written once.
static STORE_RESULTS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let rows: Vec<String> = (0..RESULTS_PER_STATEMENT)
        .map(|i| {
            let p = 1 + 3 * i;
            format!(
                "(?{p}, ?{}, ?{}, ?{})",
                p + 1,
                p + 2,
                RESULTS_PER_STATEMENT * 3 + 1
            )
        })
        .collect();
    format!(
        "INSERT INTO push_results (seq, entity, result, client_id) VALUES {}
         ON CONFLICT (client_id, seq) DO UPDATE SET entity = excluded.entity, result = excluded.result",
        rows.join(", ")
    )
});

/// Stores the results of a push's processed mutations (for replays), many per statement.
fn store_results(
    tx: &mut dyn Tx,
    client: &str,
    results: &[(i64, &str, String)],
) -> Result<(), StoreError> {
    let mut chunks = results.chunks_exact(RESULTS_PER_STATEMENT);
    for chunk in chunks.by_ref() {
        let mut params = Vec::with_capacity(RESULTS_PER_STATEMENT * 3 + 1);
        for (seq, entity, text) in chunk {
            params.extend([Param::Int(*seq), Param::Text(entity), Param::Text(text)]);
        }
        params.push(Param::Text(client));
        let sql: &'static str = STORE_RESULTS_SQL.as_str();
        tx.execute(sql, &params)?;
    }
    for (seq, entity, text) in chunks.remainder() {
        tx.execute(
            "INSERT INTO push_results (client_id, seq, entity, result) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (client_id, seq) DO UPDATE SET entity = excluded.entity, result = excluded.result",
            &[
                Param::Text(client),
                Param::Int(*seq),
                Param::Text(entity),
                Param::Text(text),
            ],
        )?;
    }
    Ok(())
}

/// Validates and applies one mutation; refusals become `rejected` outcomes, only store failures
/// are errors.
fn apply(
    store: &Store,
    tx: &mut dyn Tx,
    scopes: &HashSet<String>,
    who: &Who<'_>,
    m: &syncline_protocol::Mutation,
) -> Result<Outcome, StoreError> {
    let client = who.client;
    let Some(ent) = store.ent(&m.entity) else {
        return Ok(rejected(
            codes::UNKNOWN_ENTITY,
            format!("the server has no entity `{}`", m.entity),
        ));
    };
    match (ent.def.mode(), m.op) {
        (SyncMode::ReadOnly, _) => {
            return Ok(rejected(
                codes::READ_ONLY,
                format!("`{}` is read-only for clients", ent.name()),
            ))
        }
        (SyncMode::AppendOnly, Op::Update | Op::Delete) => {
            return Ok(rejected(
                codes::APPEND_ONLY,
                format!("`{}` records cannot be changed or deleted", ent.name()),
            ))
        }
        _ => {}
    }
    // Before anything reaches the database: PostgreSQL cannot store some keys SQLite would
    // (U+0000), and a database error would fail the whole batch on every retry.
    if let Some(problem) = syncline_protocol::key_problem(&m.key) {
        return Ok(rejected(codes::INVALID_KEY, problem));
    }
    if m.op == Op::Delete && !m.fields.is_empty() {
        return Ok(rejected(
            codes::INVALID_MUTATION,
            "a delete carries no fields",
        ));
    }
    let changes = match check_client_fields(ent, &m.fields) {
        Ok(c) => c,
        Err(refused) => return Ok(refused),
    };
    let outside = |scope: &str| !scopes.contains(scope);
    let forbidden = || {
        Ok(rejected(
            codes::FORBIDDEN,
            "the record is outside your projects".to_string(),
        ))
    };
    let report = m.on_conflict == OnConflict::Report;
    let Some(cur) = load_row(tx, ent, &m.key)? else {
        if m.op != Op::Insert {
            // Whether a record exists is not revealed outside the user's scope; for an entity
            // scoped by its own key the scope is known without it.
            if ent.scope_of(&m.key, &[]).is_some_and(|s| outside(&s)) {
                return forbidden();
            }
            return Ok(rejected(
                codes::NOT_FOUND,
                format!("no `{}` record with key `{}`", ent.name(), m.key),
            ));
        }
        let write = Write {
            current: None,
            creating: true,
            data: ent.empty_data(),
            overwrote: None,
        };
        return write_fields(tx, ent, who, m, write, &changes, &outside);
    };
    if outside(&cur.scope) {
        return forbidden();
    }
    // Changed since the edit: a newer version that another client (or the server) made. This
    // client's own earlier edits of the record never conflict with its later ones.
    let conflict = m.base_version != Some(cur.version) && cur.writer.as_deref() != Some(client);
    if cur.deleted {
        if conflict && report {
            return Ok(Outcome::Conflict { current: None });
        }
        return match m.op {
            // Already gone: the client's intent holds, nothing changes.
            Op::Delete => Ok(Outcome::Applied {
                version: cur.version,
                overwrote: None,
            }),
            Op::Update => Ok(rejected(
                codes::NOT_FOUND,
                format!("the `{}` record `{}` was deleted", ent.name(), m.key),
            )),
            Op::Insert if ent.def.mode() == SyncMode::AppendOnly => Ok(rejected(
                codes::APPEND_ONLY,
                format!("`{}` records cannot be recreated", ent.name()),
            )),
            // Created anew over the tombstone.
            Op::Insert => {
                let write = Write {
                    current: Some(&cur),
                    creating: true,
                    data: ent.empty_data(),
                    overwrote: conflict.then_some(cur.version),
                };
                write_fields(tx, ent, who, m, write, &changes, &outside)
            }
        };
    }
    if conflict && report {
        return Ok(Outcome::Conflict {
            current: Some(WireRecord {
                key: m.key.clone(),
                version: cur.version,
                fields: client_fields_of(ent, &cur.data),
            }),
        });
    }
    match m.op {
        Op::Insert if ent.def.mode() == SyncMode::AppendOnly => Ok(rejected(
            codes::APPEND_ONLY,
            format!(
                "a `{}` record with key `{}` already exists",
                ent.name(),
                m.key
            ),
        )),
        Op::Insert | Op::Update => {
            // The current scope passed the check above, so `outside` only refuses a move to a
            // project the user is not a member of.
            let write = Write {
                current: Some(&cur),
                creating: false,
                data: cur.data.clone(),
                overwrote: conflict.then_some(cur.version),
            };
            write_fields(tx, ent, who, m, write, &changes, &outside)
        }
        Op::Delete => {
            if let Some(refused) = who.refused() {
                return Ok(refused);
            }
            let position = who.positions.take(tx)?;
            let version = save_row_at(
                tx,
                ent,
                &m.key,
                Some(&cur),
                NextState {
                    scope: &cur.scope,
                    deleted: true,
                    data: &[],
                    writer: Some(client),
                    author: Some(who.user),
                    at: who.now,
                },
                position,
            )?;
            Ok(Outcome::Applied {
                version,
                overwrote: conflict.then_some(cur.version),
            })
        }
    }
}

fn missing_field(ent: Ent<'_>, field: &str) -> Outcome {
    rejected(
        codes::INVALID_VALUE,
        format!("a new `{}` record needs field `{field}`", ent.name()),
    )
}

/// A record's write as push makes it: its state before and the data the changes go over.
struct Write<'r> {
    /// The stored record (`None`: the key is new).
    current: Option<&'r Row>,
    /// Whether the write creates the record (a new key, or over a tombstone): server-set
    /// `set_on_insert` fields are filled and every required field must have a value.
    creating: bool,
    /// The data the changes are applied over (all null when creating).
    data: Vec<Json>,
    /// The version the write overwrote, when it conflicted and overwrote (last write wins).
    overwrote: Option<i64>,
}

/// Writes `changes` and the server-set values over the data as the record's next state, unless
/// a new record lacks a required field, or the result names no project or one outside the
/// user's scope.
fn write_fields(
    tx: &mut dyn Tx,
    ent: Ent<'_>,
    who: &Who<'_>,
    m: &syncline_protocol::Mutation,
    write: Write<'_>,
    changes: &[(usize, Json)],
    outside: &dyn Fn(&str) -> bool,
) -> Result<Outcome, StoreError> {
    let Write {
        current,
        creating,
        mut data,
        overwrote,
    } = write;
    for (slot, v) in changes {
        data[*slot] = v.clone();
    }
    // The client cannot have named these (`check_client_fields`), so nothing of its is lost.
    for (slot, v) in ent.server_values(creating, Some(who.user), who.now) {
        data[slot] = v;
    }
    if creating {
        if let Some(missing) = ent.missing_required(&data) {
            return Ok(missing_field(ent, missing));
        }
    }
    let Some(scope) = ent.scope_of(&m.key, &data) else {
        return Ok(missing_field(ent, "project"));
    };
    if outside(&scope) {
        return Ok(rejected(
            codes::FORBIDDEN,
            format!("you are not a member of project `{scope}`"),
        ));
    }
    if let Some(refused) = who.refused() {
        return Ok(refused);
    }
    let next = NextState {
        scope: &scope,
        deleted: false,
        data: &data,
        writer: Some(who.client),
        author: Some(who.user),
        at: who.now,
    };
    let position = who.positions.take(tx)?;
    let version = save_row_at(tx, ent, &m.key, current, next, position)?;
    Ok(Outcome::Applied { version, overwrote })
}
