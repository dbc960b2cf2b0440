//! Request and response bodies of any size, streamed between the async side and the blocking
//! threads that read and write blobs: an upload's range is appended while it arrives, and a
//! download is sent while it is read, each through a small channel of chunks, so neither ever
//! holds more than a few chunks of a file in memory.

use std::io::Read;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// Chunks in flight between the two sides (each up to 64 KiB).
pub(super) const CHANNEL_CHUNKS: usize = 4;

/// Bytes read from a blob at a time for a download.
const READ_CHUNK: usize = 64 * 1024;

/// A request body as a blocking reader; fed by [`feed`].
pub(super) struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    chunk: Bytes,
}

impl ChannelReader {
    /// A reader of what `rx` receives; it ends when the sender is dropped.
    pub(super) fn new(rx: mpsc::Receiver<std::io::Result<Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            chunk: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Sends `body`'s chunks to `tx` until it ends, fails (sent on as an error: the reader keeps
/// what came before) or the reader stops listening. Returns the bytes sent.
pub(super) async fn feed(mut body: Body, tx: mpsc::Sender<std::io::Result<Bytes>>) -> u64 {
    let mut sent = 0;
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => {
                let _ = tx
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        format!("the request body was cut off: {e}"),
                    )))
                    .await;
                return sent;
            }
        };
        sent += chunk.len() as u64;
        if tx.send(Ok(chunk)).await.is_err() {
            return sent;
        }
    }
    sent
}

/// Reads `len` bytes of `reader` into `tx`, chunk by chunk, on the calling (blocking) thread;
/// stops early when the receiver is gone (the client left). Returns the bytes sent.
pub(super) fn pump(
    mut reader: Box<dyn Read + Send>,
    len: u64,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
) -> u64 {
    let mut left = len;
    let mut sent = 0;
    while left > 0 {
        let mut buf = vec![0u8; READ_CHUNK.min(left as usize)];
        let n = match reader.read(&mut buf) {
            Ok(0) => {
                let _ = tx.blocking_send(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the blob ended early",
                )));
                return sent;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return sent;
            }
        };
        buf.truncate(n);
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return sent;
        }
        left -= n as u64;
        sent += n as u64;
    }
    sent
}
