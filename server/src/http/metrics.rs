//! Prometheus metrics of one server: requests and their latency per route, rows pushed and
//! pulled, conflicts, rejections and error answers by code, failed authentications, pulls in
//! flight. Served as text on `GET /metrics` (see [`super::ops`]).
//!
//! Only aggregates: labels are routes, statuses, stable codes and entity names (the schema's),
//! never a user, a key or a path a client made up, so the page tells nothing about anyone's data
//! and its size stays bounded whatever clients send.
//!
//! Each server has its own registry (no global recorder), so servers in one process (tests)
//! count apart.

use std::io::Write;
use std::time::Duration;

use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use syncline_protocol::{codes, Outcome, PushResponse};

use crate::push_hook::HookCounters;
use crate::rules::RulesCounters;
use crate::webhooks::WebhookCounters;

/// Latency buckets in seconds: a small push or page takes about a millisecond, a full page of
/// 5,000 rows to a slow client several seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why the metrics could not be set up or rendered.
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

struct Families {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    errors: IntCounterVec,
    auth_failures: IntCounterVec,
    rows_pushed: IntCounter,
    conflicts: IntCounterVec,
    rejections: IntCounterVec,
    rows_pulled: IntCounterVec,
    pulls_in_flight: IntGauge,
    live_streams: IntGauge,
    live_hints: IntCounter,
    hook: HookCounters,
    webhook: WebhookCounters,
    rules: RulesCounters,
    blob_bytes: IntCounterVec,
    uploads_in_progress: IntGauge,
    blob_refusals: IntCounterVec,
}

impl Families {
    fn new() -> Result<Families, prometheus::Error> {
        let registry = Registry::new();
        let counters = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let requests = counters(
            "syncline_http_requests_total",
            "HTTP requests answered, by route and status.",
            &["route", "status"],
        )?;
        let errors = counters(
            "syncline_http_errors_total",
            "Error answers, by error code.",
            &["code"],
        )?;
        let auth_failures = counters(
            "syncline_auth_failures_total",
            "Requests refused for their credentials, by error code.",
            &["code"],
        )?;
        let conflicts = counters(
            "syncline_push_conflicts_total",
            "Pushed mutations of records that changed since the edit, by resolution \
             (overwritten: last write wins; reported: answered `conflict`).",
            &["resolution"],
        )?;
        let rejections = counters(
            "syncline_push_rejections_total",
            "Pushed mutations rejected, by rejection code.",
            &["code"],
        )?;
        let rows_pulled = counters(
            "syncline_rows_pulled_total",
            "Rows (upserts and tombstones) sent in pull pages, by entity.",
            &["entity"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "syncline_http_request_duration_seconds",
                "Time from a request's arrival to the end of its answer's body, by route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        let rows_pushed = IntCounter::new(
            "syncline_rows_pushed_total",
            "Pushed mutations applied (answers to replayed batches included).",
        )?;
        registry.register(Box::new(rows_pushed.clone()))?;
        let pulls_in_flight = IntGauge::new(
            "syncline_pulls_in_flight",
            "Pulls streaming their page now (capped by --max-concurrent-pulls).",
        )?;
        registry.register(Box::new(pulls_in_flight.clone()))?;
        let live_streams = IntGauge::new(
            "syncline_live_streams",
            "Live streams (GET /v1/live) open now on this instance.",
        )?;
        registry.register(Box::new(live_streams.clone()))?;
        let live_hints = IntCounter::new(
            "syncline_live_hints_total",
            "`changes` hints sent on live streams.",
        )?;
        registry.register(Box::new(live_hints.clone()))?;
        let hook_calls = counters(
            "syncline_push_hook_calls_total",
            "Push hook call attempts, by outcome (delivered; retried: failed and tried again; \
             failed: given up).",
            &["outcome"],
        )?;
        let hook_skipped = counters(
            "syncline_push_hook_skipped_total",
            "Users a commit concerned who were not called about it, by reason (live: a stream \
             on this instance; queue_full; lagged: commits the hook fell behind on; \
             store_error: members not read).",
            &["reason"],
        )?;
        let hook_coalesced = IntCounter::new(
            "syncline_push_hook_coalesced_total",
            "Commits folded into a push hook call already waiting for its user.",
        )?;
        registry.register(Box::new(hook_coalesced.clone()))?;
        let webhook_batches = counters(
            "syncline_webhook_batches_total",
            "Webhook batches, by outcome (delivered; failed: sent again after a backoff).",
            &["outcome"],
        )?;
        let webhook_changes = IntCounter::new(
            "syncline_webhook_changes_total",
            "Changes delivered by the webhook.",
        )?;
        registry.register(Box::new(webhook_changes.clone()))?;
        let webhook_lag_positions = IntGauge::new(
            "syncline_webhook_lag_positions",
            "Change-log positions the webhook has not delivered yet, as its last round saw.",
        )?;
        registry.register(Box::new(webhook_lag_positions.clone()))?;
        let webhook_lag_seconds = IntGauge::new(
            "syncline_webhook_lag_seconds",
            "Age of the oldest change the webhook has not delivered, as its last round saw.",
        )?;
        registry.register(Box::new(webhook_lag_seconds.clone()))?;
        let rules_calls = counters(
            "syncline_rules_calls_total",
            "Calls to the office's write-rules endpoints, by outcome (answered; timeout; \
             failed: no connection or not 2xx; bad_answer: not a verdict).",
            &["outcome"],
        )?;
        let rules_refused = IntCounter::new(
            "syncline_rules_refused_total",
            "Mutations the office's write rules refused.",
        )?;
        registry.register(Box::new(rules_refused.clone()))?;
        let rules_seconds = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                "syncline_rules_call_seconds",
                "How long the calls to the write-rules endpoints took, answered or not.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0,
            ]),
        )?;
        registry.register(Box::new(rules_seconds.clone()))?;
        let blob_bytes = counters(
            "syncline_blob_bytes_total",
            "Attachment bytes received in uploads (in) and sent in downloads (out).",
            &["direction"],
        )?;
        let uploads_in_progress = IntGauge::new(
            "syncline_blob_uploads_in_progress",
            "Upload ranges being received now on this instance.",
        )?;
        registry.register(Box::new(uploads_in_progress.clone()))?;
        let blob_refusals = counters(
            "syncline_blob_refusals_total",
            "Blob requests refused, by code (blob_too_large, quota_exceeded, hash_mismatch, \
             wrong_offset, …).",
            &["code"],
        )?;
        Ok(Families {
            blob_bytes,
            uploads_in_progress,
            blob_refusals,
            registry,
            requests,
            latency,
            errors,
            auth_failures,
            rows_pushed,
            conflicts,
            rejections,
            rows_pulled,
            pulls_in_flight,
            live_streams,
            live_hints,
            hook: HookCounters {
                calls: hook_calls,
                skipped: hook_skipped,
                coalesced: hook_coalesced,
            },
            webhook: WebhookCounters {
                batches: webhook_batches,
                changes: webhook_changes,
                lag_positions: webhook_lag_positions,
                lag_seconds: webhook_lag_seconds,
            },
            rules: RulesCounters {
                calls: rules_calls,
                refused: rules_refused,
                seconds: rules_seconds,
            },
        })
    }
}

/// The metrics of one server. Recording never fails; if the registry could not be set up
/// (a bug: the names are constants, checked by a test) the server serves without metrics rather
/// than not at all, and `/metrics` answers 500.
pub struct Metrics {
    families: Option<Families>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.families.is_some())
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Metrics {
        let families = Families::new()
            .map_err(|e| log::error!("cannot set up the metrics, serving without: {e}"))
            .ok();
        Metrics { families }
    }

    /// One answered request: `route` is the matched route (a bounded set), not the path.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        if let Some(f) = &self.families {
            let mut itoa = itoa::Buffer::new();
            f.requests
                .with_label_values(&[route, itoa.format(status)])
                .inc();
            f.latency
                .with_label_values(&[route])
                .observe(elapsed.as_secs_f64());
        }
    }

    /// One error answer with its stable code.
    pub fn error(&self, code: &str) {
        if let Some(f) = &self.families {
            f.errors.with_label_values(&[code]).inc();
        }
    }

    /// One request refused for its credentials.
    pub fn auth_failure(&self, code: &str) {
        if let Some(f) = &self.families {
            f.auth_failures.with_label_values(&[code]).inc();
        }
    }

    /// Counts a push answer's results: applied rows, conflicts (overwritten or reported) and
    /// rejections by code.
    pub fn push_answered(&self, answer: &PushResponse) {
        let Some(f) = &self.families else {
            return;
        };
        let (mut applied, mut overwritten, mut reported) = (0, 0, 0);
        for result in &answer.results {
            match &result.outcome {
                Outcome::Applied { overwrote, .. } => {
                    applied += 1;
                    overwritten += u64::from(overwrote.is_some());
                }
                Outcome::Conflict { .. } => reported += 1,
                Outcome::Rejected { code, .. } => {
                    // The office's codes are its own: one label for them all keeps the
                    // series bounded.
                    let label = match codes::office_code(code) {
                        Some(_) => "rule",
                        None => code.as_str(),
                    };
                    f.rejections.with_label_values(&[label]).inc()
                }
            }
        }
        f.rows_pushed.inc_by(applied);
        f.conflicts
            .with_label_values(&["overwritten"])
            .inc_by(overwritten);
        f.conflicts
            .with_label_values(&["reported"])
            .inc_by(reported);
    }

    /// Rows sent in a pull page of `entity` (an entity of the schema: the request was checked).
    pub fn rows_pulled(&self, entity: &str, rows: u64) {
        if let Some(f) = &self.families {
            f.rows_pulled.with_label_values(&[entity]).inc_by(rows);
        }
    }

    /// A `changes` hint sent on a live stream.
    pub fn live_hint(&self) {
        if let Some(f) = &self.families {
            f.live_hints.inc();
        }
    }

    /// The text exposition format (`text/plain; version=0.0.4`), with the gauges read now.
    /// The push hook's counters (`None` when the metrics could not be set up).
    /// Counts attachment bytes received (`in`) or sent (`out`).
    pub fn blob_bytes(&self, direction: &'static str, bytes: u64) {
        if let Some(f) = &self.families {
            f.blob_bytes.with_label_values(&[direction]).inc_by(bytes);
        }
    }

    /// One more (`+1`) or one fewer (`-1`) upload range being received.
    pub fn upload_in_progress(&self, delta: i64) {
        if let Some(f) = &self.families {
            f.uploads_in_progress.add(delta);
        }
    }

    /// Counts a refused blob request by its code.
    pub fn blob_refused(&self, code: &str) {
        if let Some(f) = &self.families {
            f.blob_refusals.with_label_values(&[code]).inc();
        }
    }

    pub(crate) fn hook_counters(&self) -> Option<HookCounters> {
        self.families.as_ref().map(|f| f.hook.clone())
    }

    /// The write rules' counters (`None` when the metrics could not be set up).
    pub(crate) fn rules_counters(&self) -> Option<RulesCounters> {
        self.families.as_ref().map(|f| f.rules.clone())
    }

    /// The webhook's counters and gauges (`None` when the metrics could not be set up).
    pub(crate) fn webhook_counters(&self) -> Option<WebhookCounters> {
        self.families.as_ref().map(|f| f.webhook.clone())
    }

    pub fn render(
        &self,
        pulls_in_flight: usize,
        live_streams: usize,
    ) -> Result<Vec<u8>, MetricsError> {
        let f = self.families.as_ref().ok_or_else(|| {
            MetricsError(prometheus::Error::Msg(
                "the metrics could not be set up".into(),
            ))
        })?;
        f.pulls_in_flight
            .set(i64::try_from(pulls_in_flight).unwrap_or(i64::MAX));
        f.live_streams
            .set(i64::try_from(live_streams).unwrap_or(i64::MAX));
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&f.registry.gather(), &mut out)?;
        Ok(out)
    }
}

/// Counts the rows of the pull page written through it, from the page's JSON text: each array
/// opened at depth 3 (object → `upserts`/`tombstones` array → row) is a row. `fields` holds
/// strings only and values nested in a row are deeper, so nothing else is counted. Strings are
/// skipped with their escapes, so brackets in values do not count.
///
/// This sits between the store and the compressor; a page of 5,000 rows is scanned in well
/// under a millisecond (the bytes are skimmed with `memchr` inside strings).
pub(crate) struct RowCounter<W> {
    inner: W,
    depth: u32,
    in_string: bool,
    escaped: bool,
    rows: u64,
}

impl<W: Write> RowCounter<W> {
    pub(crate) fn new(inner: W) -> RowCounter<W> {
        RowCounter {
            inner,
            depth: 0,
            in_string: false,
            escaped: false,
            rows: 0,
        }
    }

    /// Rows seen so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    fn scan(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    b = &b[1..];
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', b) {
                    None => return,
                    Some(i) => {
                        if b[i] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                        }
                        b = &b[i + 1..];
                    }
                }
                continue;
            }
            match b[0] {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth == 3 && b[0] == b'[' {
                        self.rows += 1;
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            b = &b[1..];
        }
    }
}

impl<W: Write> Write for RowCounter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.scan(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use syncline_protocol::MutationResult;

    fn counted(page: &[u8], piece: usize) -> u64 {
        let mut c = RowCounter::new(Vec::new());
        for chunk in page.chunks(piece) {
            c.write_all(chunk).expect("write");
        }
        assert_eq!(c.inner, page, "the bytes pass unchanged");
        c.rows()
    }

    #[test]
    fn rows_of_a_page_are_counted_in_any_chunking() {
        let page = json!({
            "entity": "tasks",
            "fields": ["title", "tags", "meta"],
            "upserts": [
                ["t-1", 1, "a [bracket] \"quoted\" \\", ["x", ["y"]], {"k": [1, 2]}],
                ["t-\"2", 3, "]]]", [], null],
                ["t-3", 1, "{", {}, {"a": "["}]
            ],
            "tombstones": [["t-9", 7], ["t-[10", 2]],
            "cursor": "12",
            "has_more": false
        })
        .to_string();
        for piece in [1, 2, 3, 7, 64, page.len()] {
            assert_eq!(counted(page.as_bytes(), piece), 5, "chunks of {piece}");
        }
        let empty = br#"{"entity":"tasks","fields":[],"upserts":[],"tombstones":[],"cursor":"0","has_more":false}"#;
        assert_eq!(counted(empty, 5), 0);
    }

    #[test]
    fn families_register_and_render() {
        let m = Metrics::new();
        m.request("/v1/push", 200, Duration::from_millis(3));
        m.rows_pulled("tasks", 7);
        let answer = PushResponse {
            results: vec![
                MutationResult {
                    mutation_id: "m1".into(),
                    seq: 1,
                    outcome: Outcome::Applied {
                        version: 2,
                        overwrote: Some(1),
                    },
                },
                MutationResult {
                    mutation_id: "m2".into(),
                    seq: 2,
                    outcome: Outcome::Rejected {
                        code: "not_found".into(),
                        message: "m".into(),
                    },
                },
            ],
        };
        m.push_answered(&answer);
        let text = String::from_utf8(m.render(3, 2).expect("render")).expect("utf-8");
        for line in [
            r#"syncline_http_requests_total{route="/v1/push",status="200"} 1"#,
            r#"syncline_http_request_duration_seconds_count{route="/v1/push"} 1"#,
            r#"syncline_rows_pulled_total{entity="tasks"} 7"#,
            "syncline_rows_pushed_total 1",
            "syncline_live_streams 2",
            r#"syncline_push_conflicts_total{resolution="overwritten"} 1"#,
            r#"syncline_push_conflicts_total{resolution="reported"} 0"#,
            r#"syncline_push_rejections_total{code="not_found"} 1"#,
            "syncline_pulls_in_flight 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
