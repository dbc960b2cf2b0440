//! Attachments' bytes on the server (issue 23): a content-addressed store of blobs, named by
//! their SHA-256, filled by resumable uploads.
//!
//! An upload is created with the size and hash the device announces, receives its bytes in
//! ranges at the offset the store reports (so a device that lost its connection, or was killed,
//! asks how much arrived and goes on from there), and is completed once whole: the store hashes
//! what it received and refuses a mismatch, so a blob is only ever the bytes its name says. A
//! blob the store already holds is never received again (the device asks first).
//!
//! [`BlobStore`] is the interface the routes use; [`fs::FsBlobStore`] keeps blobs in a folder
//! (the embedded default). Its calls block: the routes run them on blocking threads.

pub mod fs;

use std::io::Read;
use std::time::{Duration, SystemTime};

/// Whether `text` is exactly `len` lowercase hex digits: the only names that become paths.
fn lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A blob's name: the lowercase hex SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(String);

impl BlobHash {
    /// The hash `text` names, if it is 64 lowercase hex digits.
    pub fn parse(text: &str) -> Option<BlobHash> {
        syncline_protocol::is_sha256(text).then(|| BlobHash(text.to_string()))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An upload's name: what the store hands out when it is created (hex, 32 digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// The id `text` names, if it has the shape the store hands out.
    pub fn parse(text: &str) -> Option<UploadId> {
        lower_hex(text, 32).then(|| UploadId(text.to_string()))
    }

    /// A fresh random id.
    pub(crate) fn new() -> Result<UploadId, BlobError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        Ok(UploadId(crate::token_hash::hex(&bytes)))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an upload is to become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The blob's hash, as the device computed it.
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// Who creates it (a user's or a service's name): only they may send its bytes.
    pub owner: String,
}

/// A blob the store holds, as [`BlobStore::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its name.
    pub hash: BlobHash,
    /// Its size in bytes.
    pub size: u64,
    /// When it became whole (its upload completed).
    pub stored_at: SystemTime,
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No upload has this id (never created, completed, or expired).
    #[error("no upload {0}")]
    NoUpload(String),
    /// No blob has this hash.
    #[error("no blob {0}")]
    NoBlob(String),
    /// A range was sent at another offset than the upload has: the device asks for the offset
    /// and sends from there.
    #[error("the upload is at byte {expected}, not {given}")]
    WrongOffset {
        /// Where the upload is.
        expected: u64,
        /// Where the range said it starts.
        given: u64,
    },
    /// More bytes than announced.
    #[error("the upload was announced as {size} bytes; this range goes past it")]
    TooLong {
        /// The announced size.
        size: u64,
    },
    /// Completed before all its bytes arrived.
    #[error("the upload has {received} of its {size} bytes")]
    Incomplete {
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        size: u64,
    },
    /// The bytes received do not hash to the announced name: the upload is dropped, and the
    /// device sends the file again from its start.
    #[error("the bytes received hash to {actual}, not the announced {announced}")]
    HashMismatch {
        /// The announced hash.
        announced: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The store's storage failed.
    #[error("the blob store: {0}")]
    Io(#[from] std::io::Error),
}

/// A content-addressed blob store with resumable uploads. Every call blocks.
pub trait BlobStore: Send + Sync {
    /// Whether the store holds the blob `hash` (a device that asks first never sends it again).
    fn has(&self, hash: &BlobHash) -> Result<bool, BlobError>;

    /// Creates an upload of the announced blob; returns its id.
    fn create(&self, announced: &Announced) -> Result<UploadId, BlobError>;

    /// What the upload announced (and who created it).
    fn announced(&self, upload: &UploadId) -> Result<Announced, BlobError>;

    /// How many bytes the upload has received: where the next range starts.
    fn offset(&self, upload: &UploadId) -> Result<u64, BlobError>;

    /// Appends the bytes `data` yields, which start at byte `at` of the blob; returns the new
    /// offset. Read and written in chunks: a range of any size takes constant memory. A range
    /// cut off half-way keeps what arrived.
    fn append(&self, upload: &UploadId, at: u64, data: &mut dyn Read) -> Result<u64, BlobError>;

    /// Checks the whole upload against its announced size and hash and makes it the blob
    /// (replacing nothing: an equal blob may have arrived meanwhile). The upload is gone
    /// afterwards, also when it did not hash right.
    fn complete(&self, upload: &UploadId) -> Result<Announced, BlobError>;

    /// The blob's size, and a reader of its bytes from `start` on.
    fn open(&self, hash: &BlobHash, start: u64) -> Result<(u64, Box<dyn Read + Send>), BlobError>;

    /// Every blob the store holds, in no particular order (`blobs gc`).
    fn list(&self) -> Result<Vec<StoredBlob>, BlobError>;

    /// Deletes the blob `hash`; false when there was none.
    fn delete(&self, hash: &BlobHash) -> Result<bool, BlobError>;

    /// Drops the uploads nobody has sent to for `idle`: a device that comes back later starts
    /// its file again. Returns how many were dropped.
    fn drop_idle_uploads(&self, idle: Duration) -> Result<u64, BlobError>;
}
