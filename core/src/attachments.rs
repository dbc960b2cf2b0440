//! Attachments on the device (issue 23): files copied into a content-addressed cache beside the
//! database, uploaded resumably before the mutations that reference them are pushed, and
//! downloaded on demand through the record that references them. Files are streamed in chunks,
//! never held whole in memory.
//!
//! The bookkeeping (what waits to upload, which mutation waits for which blob, what the cache
//! holds) is the store's (`store/blobs.rs`); this module moves bytes.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::digest::{Context, SHA256};
use syncline_protocol::{codes, AttachmentRef};

use crate::error::{Error, Result};
use crate::runtime::blocking;
use crate::store::{Store, Upload};
use crate::transport::Transport;

/// Bytes sent per upload request. One request's bytes are what a kill can make the device send
/// again; each also costs the server an fsync, so not too small either (docs/benchmarks.md).
pub(crate) const UPLOAD_CHUNK: usize = 4 * 1024 * 1024;

/// Bytes read and hashed at a time.
const IO_CHUNK: usize = 64 * 1024;

/// The lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    let detail = format!("{what} {}: {e}", path.display());
    if e.kind() == std::io::ErrorKind::StorageFull {
        Error::Storage {
            kind: crate::status::StorageErrorKind::DiskFull,
            detail,
        }
    } else {
        Error::Attachment(detail)
    }
}

/// Copies `source` into the store's attachment cache under its SHA-256, streaming: returns the
/// hash and the size. The copy is written to a temporary file and renamed into place, so a
/// cached file is whole or absent, even across a crash.
pub(crate) fn store_file(store: &Store, source: &Path) -> Result<(String, u64)> {
    let tmp_dir = store.attachments_folder().join("tmp");
    fs::create_dir_all(&tmp_dir).map_err(|e| io("cannot create", &tmp_dir, e))?;
    let mut input = File::open(source)
        .map_err(|e| Error::AttachmentSource(format!("{}: {e}", source.display())))?;
    let tmp = tmp_dir.join(format!("attach-{}", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut out = File::create(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
        let mut digest = Context::new(&SHA256);
        let mut buf = vec![0u8; IO_CHUNK];
        let mut size = 0u64;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io("cannot read", source, e)),
            };
            digest.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| io("cannot write", &tmp, e))?;
            size += n as u64;
        }
        out.sync_all().map_err(|e| io("cannot write", &tmp, e))?;
        let hash = hex(digest.finish().as_ref());
        let target = store.blob_path(&hash);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| io("cannot create", parent, e))?;
        }
        fs::rename(&tmp, &target).map_err(|e| io("cannot keep", &target, e))?;
        Ok((hash, size))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The SHA-256 of the file at `path` (streamed), and its size.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut digest = Context::new(&SHA256);
    let mut buf = vec![0u8; IO_CHUNK];
    let mut size = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((hex(digest.finish().as_ref()), size));
        }
        digest.update(&buf[..n]);
        size += n as u64;
    }
}

/// What uploading the waiting blobs did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UploadReport {
    /// Blobs now complete on the server.
    pub completed: u64,
    /// Blobs the server refused for good (their mutations are quarantined).
    pub refused: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
}

/// Whether an error is the server's final word on a blob (never worth sending again).
fn refusal(e: &Error) -> Option<(String, String)> {
    match e {
        Error::Server { code, message, .. }
            if code == codes::BLOB_TOO_LARGE
                || code == codes::QUOTA_EXCEEDED
                || code == codes::FORBIDDEN
                || code == codes::BAD_REQUEST =>
        {
            Some((code.clone(), message.clone()))
        }
        _ => None,
    }
}

/// Uploads every waiting blob, up to `parallel` at once; stops at the first failure that is not
/// about one blob (offline, signed out) and reports it, keeping what was sent (the next round
/// goes on from the server's offset).
pub(crate) async fn upload_waiting(
    store: &Arc<Store>,
    transport: &Arc<Transport>,
    parallel: usize,
) -> Result<UploadReport> {
    let s = store.clone();
    let waiting = blocking(move || s.blobs_to_upload()).await?;
    let mut report = UploadReport::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut first_error = None;
    for upload in waiting {
        while tasks.len() >= parallel.max(1) {
            if let Some(done) = tasks.join_next().await {
                note(&mut report, &mut first_error, done);
            }
        }
        if first_error.is_some() {
            break;
        }
        let (store, transport) = (store.clone(), transport.clone());
        tasks.spawn(async move { upload_one(&store, &transport, upload).await });
    }
    while let Some(done) = tasks.join_next().await {
        note(&mut report, &mut first_error, done);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Adds one upload's outcome to the report.
fn note(
    report: &mut UploadReport,
    first_error: &mut Option<Error>,
    done: std::result::Result<Result<(bool, u64)>, tokio::task::JoinError>,
) {
    match done {
        Ok(Ok((completed, sent))) => {
            report.bytes_sent += sent;
            if completed {
                report.completed += 1;
            } else {
                report.refused += 1;
            }
        }
        Ok(Err(e)) => {
            first_error.get_or_insert(e);
        }
        Err(e) => {
            first_error.get_or_insert(Error::Attachment(format!("an upload task failed: {e}")));
        }
    }
}

/// Uploads one blob from where the server has it: `Ok((true, sent))` once complete,
/// `Ok((false, sent))` when the server refused it for good (its mutations are quarantined).
async fn upload_one(
    store: &Arc<Store>,
    transport: &Transport,
    upload: Upload,
) -> Result<(bool, u64)> {
    let path = store.blob_path(&upload.hash);
    let mut sent = 0u64;
    // A whole new upload after the server dropped ours (idle, or a hash mismatch), at most once.
    for _attempt in 0..2 {
        let known = match &upload.upload_id {
            Some(id) if _attempt == 0 => match transport.upload_state(id).await {
                Ok(state) => Some((id.clone(), state.offset)),
                Err(Error::Server { status: 404, .. }) => None,
                Err(e) => return Err(e),
            },
            _ => None,
        };
        let (id, mut offset) = match known {
            Some(known) => known,
            None => match transport.start_upload(&upload.hash, upload.size).await {
                Ok(state) if state.complete => {
                    let (s, h) = (store.clone(), upload.hash.clone());
                    blocking(move || s.blob_uploaded(&h)).await?;
                    return Ok((true, sent));
                }
                Ok(state) => {
                    let id = state.upload_id.ok_or_else(|| {
                        Error::MalformedResponse("an upload without an id".into())
                    })?;
                    let (s, h, i) = (store.clone(), upload.hash.clone(), id.clone());
                    blocking(move || s.set_blob_upload_id(&h, Some(&i))).await?;
                    (id, state.offset)
                }
                Err(e) => return give_up_or_fail(store, &upload.hash, e, sent).await,
            },
        };
        while offset < upload.size {
            let (p, at) = (path.clone(), offset);
            let chunk = blocking(move || {
                read_chunk(&p, at).map_err(|e| Error::Attachment(format!("{}: {e}", p.display())))
            })
            .await;
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    // The cached file of a waiting upload is gone or damaged: nothing can
                    // send it again, so its mutations are quarantined with the reason.
                    let e = Error::Server {
                        status: 0,
                        code: "file_missing".into(),
                        message: e.to_string(),
                        retry_after: None,
                    };
                    return give_up_or_fail(store, &upload.hash, e, sent).await;
                }
            };
            let len = chunk.len() as u64;
            let next = transport.append_upload(&id, offset, chunk).await?;
            if next == offset + len {
                sent += len;
            }
            offset = next;
        }
        match transport.complete_upload(&id).await {
            Ok(_) => {
                let (s, h) = (store.clone(), upload.hash.clone());
                blocking(move || s.blob_uploaded(&h)).await?;
                return Ok((true, sent));
            }
            Err(Error::Server { code, .. })
                if code == codes::HASH_MISMATCH || code == codes::NOT_FOUND =>
            {
                let (s, h) = (store.clone(), upload.hash.clone());
                blocking(move || s.set_blob_upload_id(&h, None)).await?;
                continue;
            }
            Err(e) => return give_up_or_fail(store, &upload.hash, e, sent).await,
        }
    }
    Err(Error::Attachment(format!(
        "the upload of {} was refused twice as not matching its hash",
        upload.hash
    )))
}

/// A refusal quarantines the blob's mutations (`Ok((false, sent))`); any other error is passed
/// on, to be tried again later.
async fn give_up_or_fail(
    store: &Arc<Store>,
    hash: &str,
    e: Error,
    sent: u64,
) -> Result<(bool, u64)> {
    let refused = match &e {
        Error::Server { code, message, .. } if code == "file_missing" => {
            Some((code.clone(), message.clone()))
        }
        other => refusal(other),
    };
    match refused {
        Some((code, message)) => {
            let (s, h) = (store.clone(), hash.to_string());
            blocking(move || s.blob_refused(&h, &code, &message)).await?;
            Ok((false, sent))
        }
        None => Err(e),
    }
}

/// Up to [`UPLOAD_CHUNK`] bytes of the file at `path` from `offset`.
fn read_chunk(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(UPLOAD_CHUNK);
    file.take(UPLOAD_CHUNK as u64).read_to_end(&mut buf)?;
    if buf.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{} ends before byte {offset}", path.display()),
        ));
    }
    Ok(buf)
}

/// Downloads the blob `reference` names through the record `(entity, key, field)` into the
/// cache, going on from a part file a cut download left; checks its SHA-256 before it keeps it.
/// `progress` hears the bytes the device has of it. Returns its path.
pub(crate) async fn download(
    store: &Arc<Store>,
    transport: &Transport,
    reference: &AttachmentRef,
    through: (&str, &str, &str),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<PathBuf> {
    let folder = store.attachments_folder().to_path_buf();
    let part = folder
        .join("tmp")
        .join(format!("{}.part", reference.sha256));
    let target = store.blob_path(&reference.sha256);
    let (p, f) = (part.clone(), folder.clone());
    let mut have = blocking(move || {
        fs::create_dir_all(f.join("tmp")).map_err(|e| io("cannot create", &f, e))?;
        Ok(fs::metadata(&p).map(|m| m.len()).unwrap_or(0))
    })
    .await?;
    if have > reference.size {
        have = 0;
    }
    let mut body = transport.download(&reference.sha256, through, have).await?;
    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(have > 0)
        .write(true)
        .truncate(have == 0)
        .open(&part)
        .map_err(|e| io("cannot write", &part, e))?;
    progress(have);
    while let Some(chunk) = body.chunk().await? {
        // Small writes of an open file: not worth a trip to the blocking pool each.
        out.write_all(&chunk)
            .map_err(|e| io("cannot write", &part, e))?;
        have += chunk.len() as u64;
        if have > reference.size {
            let _ = fs::remove_file(&part);
            return Err(Error::MalformedResponse(format!(
                "the blob {} is longer than its {} bytes",
                reference.sha256, reference.size
            )));
        }
        progress(have);
    }
    drop(out);
    let (expected, size) = (reference.sha256.clone(), reference.size);
    let s = store.clone();
    blocking(move || {
        let (hash, len) = hash_file(&part).map_err(|e| io("cannot read", &part, e))?;
        if hash != expected || len != size {
            let _ = fs::remove_file(&part);
            return Err(Error::MalformedResponse(format!(
                "the downloaded file hashes to {hash} ({len} bytes), not {expected} ({size} bytes)"
            )));
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| io("cannot create", parent, e))?;
        }
        fs::rename(&part, &target).map_err(|e| io("cannot keep", &target, e))?;
        s.blob_cached(&expected, size)?;
        Ok(target)
    })
    .await
}

/// How closely a cached file is checked before it is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Its size only: cheap enough for a screen that asks on every draw.
    Size,
    /// Its SHA-256 too, reading the whole file: for an explicit fetch.
    Hash,
}

/// The cached file of `reference` when it is there and whole (checked as `check` says; a
/// damaged one is dropped so it is fetched again), marked as used now.
pub(crate) fn cached_file(
    store: &Store,
    reference: &AttachmentRef,
    check: Check,
) -> Result<Option<PathBuf>> {
    if !store.blob_is_cached(&reference.sha256)? {
        return Ok(None);
    }
    let path = store.blob_path(&reference.sha256);
    let whole = match check {
        Check::Size => fs::metadata(&path).is_ok_and(|m| m.len() == reference.size),
        Check::Hash => hash_file(&path)
            .is_ok_and(|(hash, size)| hash == reference.sha256 && size == reference.size),
    };
    if !whole {
        log::warn!(
            "the cached file of {} is missing or damaged; fetching it again",
            reference.sha256
        );
        let _ = fs::remove_file(&path);
        store.blob_uncached(&reference.sha256)?;
        return Ok(None);
    }
    store.blob_cached(&reference.sha256, reference.size)?;
    Ok(Some(path))
}

/// Drops least recently used cached files until the cache holds at most `budget` bytes; files
/// of blobs still to upload or of unsettled mutations are never dropped. Returns bytes freed.
pub(crate) fn evict(store: &Store, budget: u64) -> Result<u64> {
    let (candidates, mut total) = store.blobs_evictable()?;
    let mut freed = 0;
    for (hash, size) in candidates {
        if total <= budget {
            break;
        }
        let _ = fs::remove_file(store.blob_path(&hash));
        store.blob_uncached(&hash)?;
        total = total.saturating_sub(size);
        freed += size;
    }
    Ok(freed)
}
