//! The office's write rules (docs/backend.md, "Write rules"): an entity whose schema names a
//! `validate` endpoint has each push's mutations of it checked there, once per push and
//! endpoint, before the push's transaction starts.
//!
//! The call carries each mutation, the record as it is stored (server-only fields included: the
//! office sees everything) and the pushing user; the answer lists the mutations the office
//! refuses, with its code and its message for the user. A refused mutation is rejected with the
//! code `rule:<the office's code>`, so it lands in the device's refused changes with the office's
//! words; the rest of the push goes on as ever, and the server's own checks (scope, types,
//! conflicts) still apply to what the office accepted.
//!
//! The call happens outside the write transaction on purpose: a slow endpoint then holds back
//! this one push, never the other writers. The price is that the office judges the record as it
//! was just before the push, not under a lock (a write landing in between is not seen); the
//! conflict rules still see it.
//!
//! When the endpoint times out, fails or answers something that is not a verdict, the entity's
//! policy decides: `fail_closed` answers the whole push `503 rules_unavailable` (nothing applied,
//! the device sends it again later), `fail_open` applies the mutations as if accepted. Either
//! way it is logged and counted; nothing is dropped.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounterVec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use syncline_protocol::{codes, Mutation, Op, PushRequest, RulesFailure, WriteRules};

use crate::db::Tx;
use crate::error::StoreError;
use crate::push_hook::{post_signed, DELIVERY_HEADER};
use crate::store::{last_seq, load_rows, user_of, Store};

/// The largest answer read from a rules endpoint; a longer one is a broken answer.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The longest message of the office's that is passed on to the device, in characters.
pub const MAX_MESSAGE_CHARS: usize = 500;
/// The longest code of the office's, in bytes (`[a-z0-9_]`).
pub const MAX_CODE_LEN: usize = 64;

/// A refusal of one mutation decided before the push's transaction: the office's (its code
/// `rule:` and the office's) or the server's own (`missing_blob`), with its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The code the device sees: `rule:` and the office's code (`[a-z0-9_]`, 1 to
    /// [`MAX_CODE_LEN`] bytes), or one of the protocol's `codes`.
    pub code: String,
    /// The office's message for the user.
    pub message: String,
}

impl Refusal {
    /// The code the device sees.
    pub(crate) fn wire_code(&self) -> String {
        self.code.clone()
    }
}

/// The office's verdicts on a push: the refused mutations by `seq` (the rest were accepted, or
/// had no rules).
pub(crate) type Verdicts = HashMap<u64, Refusal>;

/// Why a push could not be judged and its entity's policy is `fail_closed`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RulesError {
    /// The endpoint timed out, failed or answered nonsense.
    #[error("the office's rules for `{entity}` could not be asked: {why}")]
    Unavailable {
        /// The entity whose rules failed.
        entity: String,
        /// What went wrong, for the log and the error body.
        why: String,
    },
    /// Reading the records to send failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task reading them ended without an answer (it panicked).
    #[error("the rules' read failed: {0}")]
    Task(String),
}

/// The counters of the rules calls (registered by `http::metrics`).
#[derive(Clone, Debug)]
pub(crate) struct RulesCounters {
    /// Calls by outcome: `answered`, `timeout`, `failed` (connection or status), `bad_answer`.
    pub(crate) calls: IntCounterVec,
    /// Mutations refused by the office.
    pub(crate) refused: prometheus::IntCounter,
    /// How long the calls took, answered or not.
    pub(crate) seconds: Histogram,
}

/// What the server calls the rules endpoints with.
#[derive(Clone)]
pub(crate) struct RulesCaller {
    /// `None` when no client could be built (no TLS backend): every call then fails, and the
    /// entity's policy decides, as for an endpoint that cannot be reached.
    http: Option<reqwest::Client>,
    /// The secret the calls are signed with (the `--rules-secret-file`), if configured.
    secret: Option<String>,
    counters: Option<RulesCounters>,
}

impl std::fmt::Debug for RulesCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("RulesCaller")
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

/// One mutation as the office sees it.
#[derive(Serialize)]
struct Asked<'a> {
    entity: &'a str,
    key: &'a str,
    op: Op,
    mutation_id: &'a str,
    seq: u64,
    fields: &'a Map<String, Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_version: Option<i64>,
    /// The record as stored before the push (`null`: no such record).
    current: Option<&'a StoredState>,
}

/// A rules call's body.
#[derive(Serialize)]
struct Question<'a> {
    user: &'a str,
    client_id: &'a str,
    mutations: Vec<Asked<'a>>,
}

/// A rules endpoint's answer: the refused mutations; every other one is accepted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    rejected: Vec<AnsweredRefusal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnsweredRefusal {
    mutation_id: String,
    code: String,
    message: String,
}

impl RulesCaller {
    /// A caller signing with `secret` when given, counting into `counters`.
    pub(crate) fn new(secret: Option<String>, counters: Option<RulesCounters>) -> RulesCaller {
        // No redirects: the answer must come from the configured endpoint itself. Each call
        // sets its own timeout, from its entity's rules.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| log::error!("no HTTP client for the write rules: {e}"))
            .ok();
        RulesCaller {
            http,
            secret,
            counters,
        }
    }

    /// Asks the office about `req`'s mutations of entities with rules: one call per endpoint,
    /// all at once. Mutations already processed (a replayed push) are not asked about again:
    /// their stored results stand.
    pub(crate) async fn judge(
        &self,
        store: &Store,
        user: &str,
        req: &PushRequest,
    ) -> Result<Verdicts, RulesError> {
        // One call per endpoint and settings: entities sharing a URL with another timeout or
        // policy are asked apart, each under its own.
        let mut by_url: HashMap<&WriteRules, Vec<&Mutation>> = HashMap::new();
        for m in &req.mutations {
            if syncline_protocol::key_problem(&m.key).is_some() {
                continue; // refused by the server itself, never stored
            }
            if let Some(rules) = store.ent(&m.entity).and_then(|e| e.def.rules.as_ref()) {
                by_url.entry(rules).or_default().push(m);
            }
        }
        if by_url.is_empty() {
            return Ok(Verdicts::new());
        }
        let asked: Vec<&Mutation> = by_url.values().flat_map(|ms| ms.iter().copied()).collect();
        let currents = {
            let (store, client) = (store.clone(), req.client_id.clone());
            let wanted: Vec<(String, String, u64)> = asked
                .iter()
                .map(|m| (m.entity.clone(), m.key.clone(), m.seq))
                .collect();
            let user = user.to_string();
            tokio::task::spawn_blocking(move || read_currents(&store, &user, &client, &wanted))
                .await
                .map_err(|e| RulesError::Task(e.to_string()))??
        };
        let calls = by_url.into_iter().map(|(rules, mutations)| {
            let question = Question {
                user,
                client_id: &req.client_id,
                mutations: mutations
                    .iter()
                    .filter_map(|m| {
                        let current = currents.get(&m.seq)?;
                        Some(Asked {
                            entity: &m.entity,
                            key: &m.key,
                            op: m.op,
                            mutation_id: &m.mutation_id,
                            seq: m.seq,
                            fields: &m.fields,
                            base_version: m.base_version,
                            current: current.as_ref(),
                        })
                    })
                    .collect(),
            };
            async move {
                if question.mutations.is_empty() {
                    return Ok(Vec::new());
                }
                self.ask(&rules.url, rules, &question).await
            }
        });
        let answers = futures_util::future::join_all(calls).await;
        let mut verdicts = Verdicts::new();
        for answer in answers {
            verdicts.extend(answer?);
        }
        if let Some(c) = &self.counters {
            c.refused.inc_by(verdicts.len() as u64);
        }
        Ok(verdicts)
    }

    /// One call: the office's refusals by `seq`, an empty list under `fail_open` when the
    /// call failed, or [`RulesError::Unavailable`] under `fail_closed`.
    async fn ask(
        &self,
        url: &str,
        rules: &WriteRules,
        question: &Question<'_>,
    ) -> Result<Vec<(u64, Refusal)>, RulesError> {
        let entity = question.mutations.first().map_or("", |m| m.entity);
        let started = Instant::now();
        let outcome = tokio::time::timeout(rules.timeout, self.call(url, question)).await;
        let (label, result) = match outcome {
            Ok(Ok(refusals)) => ("answered", Ok(refusals)),
            Ok(Err((label, why))) => (label, Err(why)),
            Err(_) => (
                "timeout",
                Err(format!("no answer within {} ms", rules.timeout.as_millis())),
            ),
        };
        if let Some(c) = &self.counters {
            c.calls.with_label_values(&[label]).inc();
            c.seconds.observe(started.elapsed().as_secs_f64());
        }
        match (result, rules.on_failure) {
            (Ok(refusals), _) => Ok(refusals),
            (Err(why), RulesFailure::FailOpen) => {
                log::warn!(
                    "the rules endpoint for `{entity}` failed ({why}); {} mutations accepted \
                     unchecked (fail_open)",
                    question.mutations.len()
                );
                Ok(Vec::new())
            }
            (Err(why), RulesFailure::FailClosed) => {
                log::warn!(
                    "the rules endpoint for `{entity}` failed ({why}); push held (fail_closed)"
                );
                Err(RulesError::Unavailable {
                    entity: entity.to_string(),
                    why,
                })
            }
        }
    }

    /// Sends the question and reads the answer, or says what was wrong with it (the metric's
    /// label and the reason).
    async fn call(
        &self,
        url: &str,
        question: &Question<'_>,
    ) -> Result<Vec<(u64, Refusal)>, (&'static str, String)> {
        let Some(http) = &self.http else {
            return Err(("failed", "the server has no HTTP client".to_string()));
        };
        let failed = |e: reqwest::Error| ("failed", e.to_string());
        let body = serde_json::to_string(question).map_err(|e| ("failed", e.to_string()))?;
        let delivery = question
            .mutations
            .first()
            .map_or_else(String::new, |m| format!("{}:{}", question.client_id, m.seq));
        let resp = match &self.secret {
            Some(secret) => post_signed(http, url, secret, &body, &delivery).await,
            None => {
                http.post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(DELIVERY_HEADER, &delivery)
                    .body(body)
                    .send()
                    .await
            }
        }
        .map_err(failed)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(("failed", format!("it answered HTTP {}", status.as_u16())));
        }
        // Read with a bound: a huge answer is refused as it streams, never held whole.
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err((
                    "bad_answer",
                    format!("its answer is over {MAX_ANSWER_BYTES} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| {
            (
                "bad_answer",
                format!("its answer is not {{\"rejected\": [...]}}: {e}"),
            )
        })?;
        verdicts_of(question, answer).map_err(|why| ("bad_answer", why))
    }
}

/// The refusals of an answer by `seq`, checked against what was asked.
fn verdicts_of(question: &Question<'_>, answer: Answer) -> Result<Vec<(u64, Refusal)>, String> {
    // Every mutation an id names: a push may carry one id twice, and a refusal of it must hold
    // back both, never let one through unjudged.
    let mut seqs: HashMap<&str, Vec<u64>> = HashMap::new();
    for m in &question.mutations {
        seqs.entry(m.mutation_id).or_default().push(m.seq);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(answer.rejected.len());
    for r in answer.rejected {
        let Some(refused) = seqs.get(r.mutation_id.as_str()) else {
            return Err(format!(
                "it refuses mutation `{}`, which it was not asked about",
                r.mutation_id
            ));
        };
        let code_ok = !r.code.is_empty()
            && r.code.len() <= MAX_CODE_LEN
            && r.code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !code_ok {
            return Err(format!(
                "code `{}` is not 1 to {MAX_CODE_LEN} of a-z, 0-9 and _",
                r.code.escape_debug()
            ));
        }
        let message = r.message.trim();
        if message.is_empty() || message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(format!(
                "the message for `{}` must be 1 to {MAX_MESSAGE_CHARS} characters",
                r.mutation_id
            ));
        }
        // Shown on a device's screen: no control characters (line breaks become spaces).
        let message: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let refusal = Refusal {
            code: format!("{}{}", codes::RULE_PREFIX, r.code),
            message,
        };
        for &seq in refused {
            if seen.insert(seq) {
                out.push((seq, refusal.clone()));
            }
        }
    }
    Ok(out)
}

/// A stored record as the office is shown it (a rules call's `current`).
#[derive(Serialize)]
struct StoredState {
    version: i64,
    deleted: bool,
    scope: String,
    fields: Map<String, Json>,
}

/// The stored state of each wanted record, by the asking mutation's `seq` (`None` inside: no
/// such record). Mutations the client pushed before (at or below its mark for the entity) are
/// left out: they are replayed, not judged again. The records are read many per statement
/// (`load_rows`): on PostgreSQL a statement per record would cost a round trip each.
fn read_currents(
    store: &Store,
    user: &str,
    client: &str,
    wanted: &[(String, String, u64)],
) -> Result<HashMap<u64, Option<StoredState>>, StoreError> {
    store.with_reader(|tx: &mut dyn Tx| {
        // A client id of another user's: the push is refused (403) without the office.
        if user_of(tx, client)?.is_some_and(|owner| owner != user) {
            return Ok(HashMap::new());
        }
        let mut by_entity: HashMap<&str, Vec<(&str, u64)>> = HashMap::new();
        for (entity, key, seq) in wanted {
            by_entity.entry(entity).or_default().push((key, *seq));
        }
        let mut out = HashMap::with_capacity(wanted.len());
        for (entity, asked) in by_entity {
            let Some(ent) = store.ent(entity) else {
                continue;
            };
            let mark = last_seq(tx, client, entity)?;
            let fresh: Vec<(&str, u64)> = asked
                .into_iter()
                .filter(|(_, seq)| mark.is_none_or(|last| *seq > last))
                .collect();
            let keys: Vec<&str> = fresh.iter().map(|(key, _)| *key).collect();
            let rows = load_rows(tx, ent, &keys)?;
            for (key, seq) in fresh {
                let state = rows.get(key).map(|row| StoredState {
                    version: row.version,
                    deleted: row.deleted,
                    fields: if row.deleted {
                        Map::new()
                    } else {
                        ent.fields_of(&row.data)
                    },
                    scope: row.scope.clone(),
                });
                out.insert(seq, state);
            }
        }
        Ok(out)
    })
}

/// How long a device waits before sending a push again that `fail_closed` rules held.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(5);
