//! The `text/event-stream` format (WHATWG HTML, "server-sent events"), as far as the live stream
//! needs it: bytes in, in whatever chunks the network delivers them, events out. Lines end with
//! `\n`, `\r\n` or `\r` (a `\r` at the end of one chunk and a `\n` at the start of the next are
//! one line end); a blank line ends an event; a line starting with `:` is a comment; `event:`
//! names the event and each `data:` line adds a line to its data. `id:` and `retry:` are read
//! and ignored: the core keeps no replay position (a hint missed costs nothing, decision 0032)
//! and reconnects on its own schedule.
//!
//! One event may hold at most a given number of bytes (its type, data and the line being read):
//! past that the stream is broken, and whoever reads it drops it and starts again, so a server
//! that never ends a line cannot make the device buffer without end.

/// One event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// Its `event:` name; `message` when it had none.
    pub event: String,
    /// Its `data:` lines joined with `\n`.
    pub data: String,
}

/// Why the stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// An event grew past the limit before it ended.
    #[error("an event of the live stream is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// Reads a stream's bytes into events, keeping the unfinished line and event between chunks.
#[derive(Debug)]
pub(crate) struct SseParser {
    limit: usize,
    /// The line read so far (without its end).
    line: Vec<u8>,
    /// The last byte was a `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
    /// Whether the stream's first bytes were looked at for a byte order mark.
    started: bool,
    event: String,
    data: String,
    /// Whether a `data:` line was seen (an event without one is not dispatched).
    has_data: bool,
}

/// UTF-8's byte order mark, skipped once at the start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    /// A parser that refuses events over `limit` bytes.
    pub(crate) fn new(limit: usize) -> SseParser {
        SseParser {
            limit,
            line: Vec::new(),
            after_cr: false,
            started: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
        }
    }

    /// Reads `chunk`, appending the events it completes to `out`. After an error the parser's
    /// state is undefined: drop the stream.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if !self.started {
            // The mark may itself be split over chunks: wait until three bytes are in.
            self.line.extend_from_slice(chunk);
            if self.line.len() < BOM.len() && BOM.starts_with(&self.line) {
                return Ok(());
            }
            self.started = true;
            let held = std::mem::take(&mut self.line);
            let rest = held.strip_prefix(BOM).unwrap_or(&held);
            return self.feed_bytes(rest, out);
        }
        self.feed_bytes(chunk, out)
    }

    fn feed_bytes(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.line.extend_from_slice(&bytes[..end]);
            self.check_size()?;
            let line = std::mem::take(&mut self.line);
            self.line_read(&line, out);
            let crlf = bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n');
            if bytes[end] == b'\r' && end + 1 == bytes.len() {
                self.after_cr = true;
            }
            bytes = &bytes[end + if crlf { 2 } else { 1 }..];
        }
        self.line.extend_from_slice(bytes);
        self.check_size()
    }

    fn check_size(&self) -> Result<(), SseError> {
        if self.line.len() + self.data.len() + self.event.len() > self.limit {
            return Err(SseError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// One whole line, without its end.
    fn line_read(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        // Line ends are ASCII and never inside a UTF-8 sequence, so decoding line by line is
        // decoding the stream; the standard replaces what is not UTF-8.
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id`, `retry` and unknown fields: nothing the live stream uses.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if !std::mem::replace(&mut self.has_data, false) {
            return;
        }
        out.push(SseEvent {
            event: if event.is_empty() {
                "message".to_string()
            } else {
                event
            },
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(chunks: &[&[u8]], limit: usize) -> Result<Vec<SseEvent>, SseError> {
        let mut parser = SseParser::new(limit);
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out)?;
        }
        Ok(out)
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    const STREAM: &[u8] = b"\xEF\xBB\xBF: a comment\n\
event: hello\ndata: {\"heartbeat_ms\": 25000}\n\n\
event:changes\r\ndata:{\"entities\":\r\ndata: {\"tasks\": \"12\"}}\r\n\r\n\
:keep-alive\r\r\
event: ping\rdata: {}\r\r\
data\n\n\
event: nodata\n\n\
id: 7\nretry: 10\nevent: bye\ndata: {\"reason\": \"shutdown\"}\n\n\
event: unfinished\ndata: x";

    fn expected() -> Vec<SseEvent> {
        vec![
            ev("hello", "{\"heartbeat_ms\": 25000}"),
            ev("changes", "{\"entities\":\n{\"tasks\": \"12\"}}"),
            ev("ping", "{}"),
            ev("message", ""),
            ev("bye", "{\"reason\": \"shutdown\"}"),
        ]
    }

    #[test]
    fn every_line_end_comments_and_multiline_data() {
        assert_eq!(parse_in(&[STREAM], 1024), Ok(expected()));
    }

    #[test]
    fn the_same_events_whatever_the_chunks() {
        // Split once at every byte, and once byte by byte.
        for at in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(at);
            assert_eq!(parse_in(&[a, b], 1024), Ok(expected()), "split at {at}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(parse_in(&bytes, 1024), Ok(expected()));
        // Two splits, so a `\r` and its `\n` may arrive in chunks of their own.
        for at in 0..STREAM.len() {
            let (a, rest) = STREAM.split_at(at);
            let (b, c) = rest.split_at(rest.len().min(1));
            assert_eq!(parse_in(&[a, b, c], 1024), Ok(expected()), "at {at}");
        }
    }

    #[test]
    fn a_lone_cr_then_lf_in_the_next_chunk_is_one_line_end() {
        let got = parse_in(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"], 1024);
        assert_eq!(got, Ok(vec![ev("message", "a\nb")]));
    }

    #[test]
    fn an_event_over_the_limit_is_refused_even_without_a_line_end() {
        let big = format!("event: changes\ndata: {}\n\n", "x".repeat(100));
        assert_eq!(
            parse_in(&[big.as_bytes()], 64),
            Err(SseError::TooLarge { limit: 64 })
        );
        // A line that never ends, fed in small pieces.
        let mut parser = SseParser::new(64);
        let mut out = Vec::new();
        let mut refused = false;
        for _ in 0..100 {
            if parser.feed(b"data: xxxxxxxx", &mut out).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused && out.is_empty());
        // Right at the limit is fine (the line read counts whole); data lines count together.
        let exact = format!("data: {}\n\n", "a".repeat(58));
        assert_eq!(parse_in(&[exact.as_bytes()], 64).map(|e| e.len()), Ok(1));
        let over = format!("data: {}\n\n", "a".repeat(59));
        assert!(parse_in(&[over.as_bytes()], 64).is_err());
        let two = format!("data: {}\ndata: {}\n\n", "a".repeat(20), "b".repeat(30));
        assert_eq!(parse_in(&[two.as_bytes()], 64).map(|e| e.len()), Ok(1));
        let two_over = format!("data: {}\ndata: {}\n\n", "a".repeat(20), "b".repeat(40));
        assert!(parse_in(&[two_over.as_bytes()], 64).is_err());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let got = parse_in(&[b"event: ping\ndata: \xFF\n\n"], 1024);
        assert_eq!(got, Ok(vec![ev("ping", "\u{FFFD}")]));
    }
}
