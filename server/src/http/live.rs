//! `GET /v1/live`: the live stream's HTTP face (docs/protocol.md). Authenticates like every
//! route, takes a place under the stream caps (`429 too_many_streams` with `Retry-After`), and
//! writes the stream's events (`crate::live`) as server-sent events, with axum's keep-alive
//! sending `ping` after each `heartbeat` without another event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use syncline_protocol::codes;

use super::error::ApiError;
use super::ops::Ops;
use crate::live::{open, Credential, LiveEvent, Opening};
use crate::store::Store;

/// Heartbeat when the request names none, and the range a requested one is clamped to.
const DEFAULT_HEARTBEAT_SECS: u64 = 25;
const MIN_HEARTBEAT_SECS: u64 = 5;
const MAX_HEARTBEAT_SECS: u64 = 120;

/// The query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LiveQuery {
    /// Seconds between pings when idle (25 without it; clamped to 5..=120).
    heartbeat: Option<u64>,
}

/// The handler's work, for `user` authenticated by `credential` (the route in `http/mod.rs`
/// extracts them).
pub(super) async fn live(
    store: Store,
    ops: Arc<Ops>,
    user: String,
    credential: Credential,
    query: LiveQuery,
) -> Result<Response, ApiError> {
    let heartbeat = Duration::from_secs(
        query
            .heartbeat
            .unwrap_or(DEFAULT_HEARTBEAT_SECS)
            .clamp(MIN_HEARTBEAT_SECS, MAX_HEARTBEAT_SECS),
    );
    let streams = ops.streams.clone();
    let slot = streams.try_open(&user).map_err(|e| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::TOO_MANY_STREAMS,
            e.to_string(),
        )
        .with_retry_after(e.retry_after_secs())
    })?;
    let hello = LiveEvent::Hello {
        heartbeat_ms: u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX),
        instance: streams.instance().to_string(),
    };
    let opening = Opening {
        user,
        credential,
        slot,
        hello,
        closing: streams.closing(),
    };
    let events = open(store, opening).await?;
    let events = events.map(move |e| Ok::<_, Infallible>(to_sse(&ops, &e)));
    let ping = Event::default().event("ping").data("{}");
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat).event(ping))
        .into_response();
    // nginx buffers answers unless told not to; a buffered hint is a late hint.
    resp.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(resp)
}

/// One event as the protocol writes it.
fn to_sse(ops: &Arc<Ops>, event: &LiveEvent) -> Event {
    match event {
        LiveEvent::Hello {
            heartbeat_ms,
            instance,
        } => Event::default()
            .event("hello")
            .data(json!({"heartbeat_ms": heartbeat_ms, "instance": instance}).to_string()),
        LiveEvent::Changes(entities) => {
            ops.metrics.live_hint();
            // Positions as cursor strings, as `POST /v1/pull` returns them.
            let entities: serde_json::Map<String, serde_json::Value> = entities
                .iter()
                .map(|(e, p)| (e.clone(), p.to_string().into()))
                .collect();
            Event::default()
                .event("changes")
                .data(json!({ "entities": entities }).to_string())
        }
        LiveEvent::Bye(reason) => Event::default()
            .event("bye")
            .data(json!({"reason": reason.as_str()}).to_string()),
    }
}
