//! What the live stream says (`GET /v1/live`, `docs/protocol.md`): its events decoded from
//! their `event:` name and JSON `data:`, and whether a hinted position is news to the device.
//! A hint only ever leads to an ordinary pull (decision 0032), so nothing here touches data.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::sse::SseEvent;

/// One event of the live stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LiveEvent {
    /// The first event: the heartbeat interval in force.
    Hello {
        /// Milliseconds between pings when nothing else is sent.
        heartbeat_ms: u64,
    },
    /// These entities have changes visible to the user up to these positions (pull cursors).
    Changes {
        /// Entity → position.
        entities: BTreeMap<String, String>,
    },
    /// Nothing happened for a heartbeat interval.
    Ping,
    /// The server closes the stream.
    Bye {
        /// Why: `sign_in_needed` means the token is no longer good; anything else, reconnect.
        reason: ByeReason,
    },
}

/// Why the server closed the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByeReason {
    /// The token expired or was revoked.
    SignInNeeded,
    /// Shutting down, too slow a reader, or a reason this client does not know: reconnect.
    Reconnect,
}

#[derive(Deserialize)]
struct HelloData {
    heartbeat_ms: u64,
}

#[derive(Deserialize)]
struct ChangesData {
    entities: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ByeData {
    reason: String,
}

/// Why an event could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("live stream event `{event}` not understood: {detail}")]
pub(crate) struct UnknownEvent {
    /// Its name.
    pub event: String,
    /// What was wrong with it.
    pub detail: String,
}

impl LiveEvent {
    /// The event `e` carries. An event of a name this client does not know is an error too:
    /// the protocol names every event, so one it does not know means the two disagree.
    pub(crate) fn decode(e: &SseEvent) -> Result<LiveEvent, UnknownEvent> {
        let bad = |detail: String| UnknownEvent {
            event: e.event.clone(),
            detail,
        };
        let parse_err = |err: serde_json::Error| bad(err.to_string());
        Ok(match e.event.as_str() {
            "hello" => {
                let d: HelloData = serde_json::from_str(&e.data).map_err(parse_err)?;
                LiveEvent::Hello {
                    heartbeat_ms: d.heartbeat_ms,
                }
            }
            "changes" => {
                let d: ChangesData = serde_json::from_str(&e.data).map_err(parse_err)?;
                LiveEvent::Changes {
                    entities: d.entities,
                }
            }
            "ping" => LiveEvent::Ping,
            "bye" => {
                let d: ByeData = serde_json::from_str(&e.data).map_err(parse_err)?;
                LiveEvent::Bye {
                    reason: if d.reason == "sign_in_needed" {
                        ByeReason::SignInNeeded
                    } else {
                        ByeReason::Reconnect
                    },
                }
            }
            other => return Err(bad(format!("no event is called `{other}`"))),
        })
    }
}

/// Whether a hint of `hinted` is news to a device whose stored cursor is `stored`. Cursors are
/// opaque to clients (`docs/protocol.md`), so only when both read as integers can the device
/// tell it is already there; otherwise the hint is taken as news (a pull too many costs a
/// round trip, one too few costs the change).
pub(crate) fn is_news(stored: Option<&str>, hinted: &str) -> bool {
    let (Some(stored), Ok(hinted)) = (stored, hinted.trim().parse::<u128>()) else {
        return true;
    };
    match stored.trim().parse::<u128>() {
        Ok(stored) => stored < hinted,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn each_event_of_the_protocol() {
        assert_eq!(
            LiveEvent::decode(&sse("hello", r#"{"heartbeat_ms": 25000, "instance": "a"}"#)),
            Ok(LiveEvent::Hello {
                heartbeat_ms: 25_000
            })
        );
        assert_eq!(
            LiveEvent::decode(&sse(
                "changes",
                r#"{"entities": {"tasks": "1460", "comments": "1452"}}"#
            )),
            Ok(LiveEvent::Changes {
                entities: BTreeMap::from([
                    ("tasks".into(), "1460".into()),
                    ("comments".into(), "1452".into())
                ])
            })
        );
        assert_eq!(LiveEvent::decode(&sse("ping", "{}")), Ok(LiveEvent::Ping));
        assert_eq!(
            LiveEvent::decode(&sse("bye", r#"{"reason": "sign_in_needed"}"#)),
            Ok(LiveEvent::Bye {
                reason: ByeReason::SignInNeeded
            })
        );
        assert_eq!(
            LiveEvent::decode(&sse("bye", r#"{"reason": "too_slow"}"#)),
            Ok(LiveEvent::Bye {
                reason: ByeReason::Reconnect
            })
        );
    }

    #[test]
    fn what_cannot_be_understood_is_an_error() {
        for (event, data) in [
            ("changes", "{"),
            ("changes", r#"{"entities": {"tasks": 12}}"#),
            ("hello", "{}"),
            ("message", "{}"),
            ("bye", "null"),
        ] {
            assert!(
                LiveEvent::decode(&sse(event, data)).is_err(),
                "{event} {data}"
            );
        }
    }

    #[test]
    fn a_hint_is_news_unless_the_cursor_is_already_there() {
        assert!(is_news(None, "5"));
        assert!(is_news(Some("4"), "5"));
        assert!(!is_news(Some("5"), "5"));
        assert!(!is_news(Some("10"), "9"), "as integers, not as text");
        assert!(is_news(Some("9"), "10"), "as integers, not as text");
        assert!(is_news(Some("abc"), "5"), "an opaque cursor: news");
        assert!(is_news(Some("5"), "p-7"), "an opaque hint: news");
    }
}
