//! A pull answer as it is sent: written, compressed and streamed in chunks from a blocking
//! thread while it is read from the database, so the client receives and decompresses a page
//! while the server still works on it, and memory holds a chunk, never a page.

use std::io::Write as _;

use axum::http::header::ACCEPT_ENCODING;
use axum::http::HeaderMap;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::pull::{PullError, PullPlan};
use crate::store::Store;

use super::metrics::RowCounter;

/// Whether the client accepts a gzip-encoded response (`Accept-Encoding` lists `gzip` or `*`
/// with a non-zero quality).
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

/// Size of the body chunks a pull page is sent in.
pub(super) const CHUNK_BYTES: usize = 32 * 1024;

/// A writer that hands what it is given to a response body, chunk by chunk, from a blocking
/// thread. The bounded channel makes it wait for a slow client; a gone client fails the write.
pub(super) struct ChunkWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    /// A writer sending its chunks into `tx`.
    pub(super) fn new(tx: mpsc::Sender<std::io::Result<Bytes>>) -> ChunkWriter {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// A response body fed by a [`ChunkWriter`] (after its first chunk, received already); an
/// error item aborts the response.
pub(super) struct ChannelBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl ChannelBody {
    /// A body that sends `first`, then what `rx` receives.
    pub(super) fn new(first: Bytes, rx: mpsc::Receiver<std::io::Result<Bytes>>) -> ChannelBody {
        ChannelBody {
            first: Some(first),
            rx,
        }
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(first) = self.first.take() {
            return std::task::Poll::Ready(Some(Ok(http_body::Frame::data(first))));
        }
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(http_body::Frame::data)))
    }
}

/// Writes a pull page into `writer`, gzipped (fastest level: pages are large and the client
/// waits) when asked. Returns the page's rows (counted from its text, for the metrics).
pub(super) fn write_pull_body(
    store: &Store,
    user: &str,
    plan: &PullPlan,
    gzip: bool,
    writer: ChunkWriter,
) -> Result<u64, PullError> {
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
        let mut counted = RowCounter::new(&mut enc);
        store.write_pull(user, plan, &mut counted)?;
        let rows = counted.rows();
        enc.finish()?.flush()?;
        Ok(rows)
    } else {
        let mut counted = RowCounter::new(writer);
        store.write_pull(user, plan, &mut counted)?;
        counted.flush()?;
        Ok(counted.rows())
    }
}
