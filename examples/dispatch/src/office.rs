//! The dispatcher: what an office's own system does with the backend API (docs/backend.md), over
//! plain HTTP and JSON as any backend would. It provisions a project and its field team, hands
//! out tasks with internal notes the devices never see, and follows the change feed: when a
//! device ticks a task done, it answers with a comment, "Office: received".

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The comment the office writes under a task a device ticked done.
pub const RECEIVED: &str = "Office: received";
/// How long one long poll of the feed waits for a change, in seconds.
const FEED_WAIT_SECS: u64 = 25;

/// What went wrong talking to the server.
#[derive(Debug)]
pub struct OfficeError(pub String);

impl std::fmt::Display for OfficeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OfficeError {}

impl From<reqwest::Error> for OfficeError {
    fn from(e: reqwest::Error) -> Self {
        OfficeError(e.to_string())
    }
}

/// One task the office hands out.
#[derive(Debug, Clone)]
pub struct Job {
    /// The task's key.
    pub key: String,
    /// What the technician reads.
    pub title: String,
    /// The office's own notes (server-only: never on a device).
    pub internal_notes: String,
    /// When it is due, ms since the epoch.
    pub due_at: i64,
}

/// The office, signed in as a service (`syncline-server service add dispatch --all-scopes`).
pub struct Office {
    http: Client,
    base: String,
    token: String,
    /// The service's name: the author of its own writes, whose changes it does not answer.
    pub name: String,
}

impl Office {
    /// The office on the server at `base` (`http://host:port`) with a service token.
    pub fn new(base: &str, token: &str, name: &str) -> Result<Office, OfficeError> {
        let http = Client::builder()
            // A long poll waits up to FEED_WAIT_SECS; the client waits a little longer.
            .timeout(Duration::from_secs(FEED_WAIT_SECS + 15))
            .build()?;
        Ok(Office {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            name: name.to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/admin/{path}", self.base)
    }

    /// The answer's JSON, or the server's error as text.
    fn json(resp: Response) -> Result<Value, OfficeError> {
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(OfficeError(format!("HTTP {}: {body}", status.as_u16())))
        }
    }

    /// Creates the project `scope` (or renames it), adds each of `team` as a user (kept when
    /// there already) and as a member. Safe to run again.
    pub fn provision(&self, scope: &str, name: &str, team: &[&str]) -> Result<(), OfficeError> {
        let put = self
            .http
            .put(self.url(&format!("scopes/{scope}")))
            .bearer_auth(&self.token)
            .json(&json!({ "name": name }))
            .send()?;
        Self::json(put)?;
        for user in team {
            let added = self
                .http
                .post(self.url("users"))
                .bearer_auth(&self.token)
                .json(&json!({ "id": user }))
                .send()?;
            // An existing user answers `"created": false`: provisioning may run again.
            Self::json(added)?;
            let member = self
                .http
                .put(self.url(&format!("scopes/{scope}/members/{user}")))
                .bearer_auth(&self.token)
                .send()?;
            Self::json(member)?;
        }
        Ok(())
    }

    /// Hands out `jobs` in `scope` in one all-or-nothing batch; `false` when they were handed
    /// out before. The `Idempotency-Key` makes a retry after a lost answer write nothing twice,
    /// and `if_version: 0` creates each task only if it does not exist yet, so a run on another
    /// day never reopens a task a technician has closed.
    pub fn hand_out(
        &self,
        scope: &str,
        jobs: &[Job],
        idempotency_key: &str,
    ) -> Result<bool, OfficeError> {
        let operations: Vec<Value> = jobs
            .iter()
            .map(|job| {
                json!({"op": "upsert", "entity": "tasks", "key": job.key, "if_version": 0,
                       "fields": {"project_id": scope, "title": job.title, "done": false,
                                  "due_at": job.due_at, "internal_notes": job.internal_notes}})
            })
            .collect();
        let resp = self
            .http
            .post(self.url("batch"))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", idempotency_key)
            .json(&json!({ "operations": operations }))
            .send()?;
        if resp.status() == StatusCode::CONFLICT {
            return Ok(false); // `version_conflict`: the tasks exist already
        }
        Self::json(resp).map(|_| true)
    }

    /// Writes "Office: received" under `task` in `scope`, once: the comment's key is the task's,
    /// and `if_version: 0` writes it only if it is not there yet.
    pub fn acknowledge(&self, scope: &str, task: &str) -> Result<(), OfficeError> {
        let resp = self
            .http
            .put(self.url(&format!("records/comments/received-{task}")))
            .bearer_auth(&self.token)
            .json(
                &json!({"fields": {"project_id": scope, "task_id": task, "body": RECEIVED},
                          "if_version": 0}),
            )
            .send()?;
        match resp.status() {
            // Already acknowledged (the feed delivers at least once, and after a restart).
            StatusCode::CONFLICT => Ok(()),
            _ => Self::json(resp).map(|_| ()),
        }
    }

    /// One long poll of the task changes in `scope` after `cursor`: acknowledges every task a
    /// device (not the office itself) has ticked done, and returns the next cursor.
    pub fn follow_once(&self, scope: &str, cursor: Option<&str>) -> Result<String, OfficeError> {
        let mut query = vec![
            ("entity", "tasks".to_string()),
            ("scope", scope.to_string()),
            ("wait", FEED_WAIT_SECS.to_string()),
        ];
        if let Some(cursor) = cursor {
            query.push(("after", cursor.to_string()));
        }
        let resp = self
            .http
            .get(self.url("changes"))
            .bearer_auth(&self.token)
            .query(&query)
            .send()?;
        let page = Self::json(resp)?;
        for change in page["changes"].as_array().into_iter().flatten() {
            let by_a_device = change["author"].as_str().is_some_and(|a| a != self.name);
            if by_a_device && change["fields"]["done"] == json!(true) {
                if let Some(task) = change["key"].as_str() {
                    self.acknowledge(scope, task)?;
                }
            }
        }
        page["cursor"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| OfficeError(format!("the feed answered no cursor: {page}")))
    }

    /// Follows the feed from `cursor` until `stop` is set, calling `keep` with each new cursor
    /// (to store it: a restart resumes there). A failed poll is retried after a pause.
    pub fn follow(
        &self,
        scope: &str,
        mut cursor: Option<String>,
        stop: &AtomicBool,
        mut keep: impl FnMut(&str),
    ) {
        while !stop.load(Ordering::Relaxed) {
            match self.follow_once(scope, cursor.as_deref()) {
                Ok(next) => {
                    keep(&next);
                    cursor = Some(next);
                }
                Err(e) => {
                    eprintln!("the feed failed, trying again in 2 s: {e}");
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        }
    }
}
