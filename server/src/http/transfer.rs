//! Import and export over HTTP (docs/backend.md, "Import and export"): the server binary's
//! `import` and `export` for a backend without shell access, streamed both ways in constant
//! memory. An import's body is read chunk by chunk into the same line-by-line import the command
//! runs (batches of 1,000, each all or nothing); an export is written row by row into the
//! response as the database hands the rows over.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use serde::Serialize;
use syncline_protocol::codes;
use tokio::sync::mpsc;

use crate::bulk::{export_for, import_as, ImportError};
use crate::store::{Service, Store};

use super::error::ApiError;
use super::pull_body::{ChannelBody, ChunkWriter};

/// The media type of both directions: one JSON record per line.
pub(super) const NDJSON: &str = "application/x-ndjson";

/// Chunks of an import's body waiting for the import at most (each as the client sent it).
const BODY_CHUNKS_IN_FLIGHT: usize = 8;

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Imported {
    /// The entity.
    entity: String,
    /// Records written.
    imported: u64,
}

/// What the handler hands the import: a chunk of the body, or its real end.
enum Piece {
    Chunk(Bytes),
    End,
}

/// A request body as a blocking reader: the chunks the handler receives, in order. Only the
/// body's real end is the end of the file: a channel closed without it (the client went away,
/// the body could not be read) is an error, so a cut upload never commits its last lines as if
/// they were all.
struct BodyReader {
    rx: mpsc::Receiver<Piece>,
    current: Bytes,
    /// The real end was seen: every read from now on is the end of the file.
    ended: bool,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Piece::Chunk(chunk)) => self.current = chunk,
                Some(Piece::End) => self.ended = true,
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the request body ended early",
                    ))
                }
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Runs an import of `entity` by `service` from `body` (`POST /v1/admin/import/{entity}`).
pub(super) async fn import(
    store: Store,
    service: Service,
    entity: String,
    body: Body,
) -> Result<Imported, ApiError> {
    if store.ent(&entity).is_none() {
        return Err(unknown_entity(&entity));
    }
    if service.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            format!("the service {} is read-only", service.name),
        ));
    }
    let (tx, rx) = mpsc::channel(BODY_CHUNKS_IN_FLIGHT);
    let name = entity.clone();
    let import = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::new(BodyReader {
            rx,
            current: Bytes::new(),
            ended: false,
        });
        import_as(&store, &service, &name, reader, &mut |_| {})
    });
    // The body goes to the import as it arrives; an import that stopped (a bad line) drops its
    // end of the channel, and the rest of the body is not read.
    let mut body = body;
    let mut whole = true;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // Dropping the sender without `End` fails the import's read: nothing more is
            // committed.
            whole = false;
            break;
        };
        if let Ok(data) = frame.into_data() {
            if tx.send(Piece::Chunk(data)).await.is_err() {
                break;
            }
        }
    }
    if whole {
        let _ = tx.send(Piece::End).await;
    }
    drop(tx);
    let imported = match import.await {
        Ok(result) => result.map_err(import_error)?,
        Err(e) => return Err(ApiError::internal(format!("the import failed: {e}"))),
    };
    Ok(Imported { entity, imported })
}

fn unknown_entity(entity: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::UNKNOWN_ENTITY,
        format!("the server has no entity `{entity}`"),
    )
}

fn import_error(e: ImportError) -> ApiError {
    match e {
        ImportError::BadLine { .. } | ImportError::Io(_) => ApiError::bad_request(e.to_string()),
        ImportError::Store(s) => ApiError::internal(s),
    }
}

/// Exports streaming at once at most: each holds a blocking thread while its client reads.
const MAX_EXPORTS: usize = 4;
static EXPORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_EXPORTS);

/// Streams the export of `entity` for `service` (`GET /v1/admin/export/{entity}`).
pub(super) fn export(store: Store, service: Service, entity: String) -> Result<Response, ApiError> {
    if store.ent(&entity).is_none() {
        return Err(unknown_entity(&entity));
    }
    let Ok(permit) = EXPORTS.try_acquire() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::BUSY,
            format!("{MAX_EXPORTS} exports are running; try again shortly"),
        )
        .with_retry_after(5));
    };
    let (tx, rx) = mpsc::channel(8);
    let failed = tx.clone();
    let export = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut writer = ChunkWriter::new(tx.clone());
        let written = export_for(&store, &service, &entity, &mut writer)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|_| std::io::Write::flush(&mut writer));
        if let Err(e) = written {
            // A client that went away is no failure of ours.
            match e.kind() {
                std::io::ErrorKind::BrokenPipe => log::debug!("export of {entity}: {e}"),
                _ => log::error!("export of {entity} for {} failed: {e}", service.name),
            }
            // Cuts the answer: the client sees a broken body, never a short export as whole.
            let _ = tx.blocking_send(Err(e));
        }
    });
    tokio::spawn(async move {
        // A panic in the export cuts the answer too.
        if export.await.is_err() {
            let _ = failed
                .send(Err(std::io::Error::other("the export failed")))
                .await;
        }
    });
    let mut resp = Response::new(Body::new(ChannelBody::new(Bytes::new(), rx)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(resp)
}
