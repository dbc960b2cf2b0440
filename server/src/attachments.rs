//! Attachments on the server (issue 23): the rules around the blob store, for the blob routes
//! and for pushes. An upload is bound to the user who created it and checked against the size
//! limit and their quota; a download is allowed only through a record the reader can see whose
//! attachment field names the blob; a pushed mutation may reference only a blob its user has
//! uploaded (`docs/protocol.md`, "Attachments").
//!
//! Why a user must have uploaded a blob themselves before they may reference it, rather than
//! any blob the server holds: otherwise knowing a hash would be enough to read a file. A device
//! could push a record naming someone else's photo by its hash and then download it through
//! that record. So "the server already has it" saves the bytes only for the user who sent them
//! before (a reinstalled phone, the same photo on two records); another user sends them once.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use syncline_protocol::{codes, AttachmentRef, FieldType, PushRequest, UploadRequest, UploadState};

use crate::blobs::{Announced, BlobError, BlobHash, BlobStore, UploadId};
use crate::error::StoreError;
use crate::rules::{Refusal, Verdicts};
use crate::store::{Service, Store};

/// The size limit and quota of attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLimits {
    /// The largest blob taken, in bytes.
    pub max_blob_bytes: u64,
    /// The most bytes one user may have uploaded in all (`None`: no quota).
    pub quota_bytes: Option<u64>,
}

impl Default for BlobLimits {
    fn default() -> Self {
        BlobLimits {
            max_blob_bytes: syncline_protocol::DEFAULT_MAX_BLOB_BYTES,
            quota_bytes: None,
        }
    }
}

/// Why a blob route refused.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// The request itself is malformed (a hash that is not one).
    #[error("{0}")]
    BadRequest(String),
    /// Over the size limit.
    #[error("the file is {size} bytes; this server takes at most {max}")]
    TooLarge {
        /// The announced size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Over the user's quota.
    #[error("the file would take {user} to {would} bytes of attachments; the quota is {quota}")]
    Quota {
        /// Whose quota.
        user: String,
        /// Their usage with this file.
        would: u64,
        /// The quota.
        quota: u64,
    },
    /// No such upload or blob, or one the caller may not see (answered alike, so nobody learns
    /// what exists).
    #[error("{0}")]
    NotFound(String),
    /// Another request is sending to the same upload.
    #[error("another request is sending to this upload")]
    Busy,
    /// The store's blob operation failed or refused.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who reads a blob: a device's user, or a service of the backend API.
#[derive(Debug, Clone, Copy)]
pub enum BlobReader<'a> {
    /// A device user.
    User(&'a str),
    /// A backend service.
    Service(&'a Service),
}

/// Which record a download goes through: the blob must be the value of its attachment field.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Through {
    /// The record's entity.
    pub entity: String,
    /// The record's key.
    pub key: String,
    /// Its attachment field that names the blob.
    pub field: String,
}

/// The blob store with its limits, as the routes and pushes use it.
pub struct Attachments {
    blobs: Arc<dyn BlobStore>,
    limits: BlobLimits,
    /// Uploads a request is appending to right now: a second one at once is refused, so two
    /// ranges never interleave in one file.
    sending: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Attachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachments")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Marks an upload as being sent to until dropped.
struct Sending<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

fn hash_of(text: &str) -> Result<BlobHash, AttachmentError> {
    BlobHash::parse(text).ok_or_else(|| {
        AttachmentError::BadRequest(format!(
            "{text:?} is not a SHA-256 (64 lowercase hex digits)"
        ))
    })
}

fn upload_of(text: &str) -> Result<UploadId, AttachmentError> {
    UploadId::parse(text).ok_or_else(|| AttachmentError::NotFound(format!("no upload {text}")))
}

impl Attachments {
    /// Attachments kept in `blobs`, under `limits`.
    pub fn new(blobs: Arc<dyn BlobStore>, limits: BlobLimits) -> Attachments {
        Attachments {
            blobs,
            limits,
            sending: Mutex::new(HashSet::new()),
        }
    }

    /// The blob store.
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// `POST /v1/uploads`: starts the upload of a blob, or answers that `owner` sent it before
    /// (nothing to send).
    pub fn start(
        &self,
        store: &Store,
        owner: &str,
        request: &UploadRequest,
    ) -> Result<UploadState, AttachmentError> {
        let hash = hash_of(&request.sha256)?;
        if request.size > self.limits.max_blob_bytes {
            return Err(AttachmentError::TooLarge {
                size: request.size,
                max: self.limits.max_blob_bytes,
            });
        }
        if store.has_uploaded_blob(owner, hash.as_str())? && self.blobs.has(&hash)? {
            // Claimed again: fresh for `blobs gc` until the push that references it.
            store.record_blob_upload(owner, hash.as_str(), request.size)?;
            return Ok(UploadState {
                upload_id: None,
                offset: request.size,
                complete: true,
            });
        }
        if let Some(quota) = self.limits.quota_bytes {
            let would = store.blob_usage(owner)?.saturating_add(request.size);
            if would > quota {
                return Err(AttachmentError::Quota {
                    user: owner.to_string(),
                    would,
                    quota,
                });
            }
        }
        let id = self.blobs.create(&Announced {
            hash,
            size: request.size,
            owner: owner.to_string(),
        })?;
        Ok(UploadState {
            upload_id: Some(id.as_str().to_string()),
            offset: 0,
            complete: false,
        })
    }

    /// The announced blob of `owner`'s upload `id`; another user's is "not found".
    fn owned(&self, owner: &str, id: &str) -> Result<(UploadId, Announced), AttachmentError> {
        let id = upload_of(id)?;
        let announced = match self.blobs.announced(&id) {
            Err(BlobError::NoUpload(_)) => None,
            other => Some(other?),
        };
        match announced {
            Some(a) if a.owner == owner => Ok((id, a)),
            _ => Err(AttachmentError::NotFound(format!(
                "no upload {}",
                id.as_str()
            ))),
        }
    }

    /// `HEAD`/`GET /v1/uploads/{id}`: how much of the upload has arrived.
    pub fn state(&self, owner: &str, id: &str) -> Result<UploadState, AttachmentError> {
        let (id, _) = self.owned(owner, id)?;
        Ok(UploadState {
            offset: self.blobs.offset(&id)?,
            upload_id: Some(id.as_str().to_string()),
            complete: false,
        })
    }

    /// `PATCH /v1/uploads/{id}`: appends the bytes `data` yields at `at`; returns the new offset.
    pub fn append(
        &self,
        owner: &str,
        id: &str,
        at: u64,
        data: &mut dyn Read,
    ) -> Result<u64, AttachmentError> {
        let (id, _) = self.owned(owner, id)?;
        if !self
            .sending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.as_str().to_string())
        {
            return Err(AttachmentError::Busy);
        }
        let _sending = Sending {
            set: &self.sending,
            id: id.as_str().to_string(),
        };
        Ok(self.blobs.append(&id, at, data)?)
    }

    /// `POST /v1/uploads/{id}/complete`: checks the bytes against the announced hash and keeps
    /// them; from now on `owner` may reference the blob.
    pub fn complete(
        &self,
        store: &Store,
        owner: &str,
        id: &str,
    ) -> Result<UploadState, AttachmentError> {
        let (id, _) = self.owned(owner, id)?;
        let blob = self.blobs.complete(&id)?;
        store.record_blob_upload(owner, blob.hash.as_str(), blob.size)?;
        Ok(UploadState {
            upload_id: None,
            offset: blob.size,
            complete: true,
        })
    }

    /// Checks that `reader` may read the blob `hash` through the record `through`: the record
    /// exists, is live and in the reader's scope, and its attachment field names the blob.
    /// Every failure is "not found", so a reader learns nothing of what they may not see.
    pub fn check_readable(
        &self,
        store: &Store,
        reader: BlobReader<'_>,
        hash: &str,
        through: &Through,
    ) -> Result<BlobHash, AttachmentError> {
        let hash = hash_of(hash)?;
        let hidden = || AttachmentError::NotFound(format!("no blob {hash} through that record"));
        let Some(def) = store.schema().entity(&through.entity) else {
            return Err(hidden());
        };
        let field = def.field_index(&through.field).ok_or_else(hidden)?;
        let visible = match reader {
            BlobReader::User(_) => !def.is_server_only(field),
            BlobReader::Service(_) => true,
        };
        if !visible || def.schema.fields[field].field_type != FieldType::Attachment {
            return Err(hidden());
        }
        let record = match store.get_record(&through.entity, &through.key)? {
            Some(r) if !r.deleted => r,
            _ => return Err(hidden()),
        };
        let allowed = match reader {
            BlobReader::User(user) => store.memberships(user)?.contains(&record.scope),
            BlobReader::Service(service) => service.reaches(&record.scope),
        };
        let names_it = record
            .fields
            .get(&through.field)
            .and_then(AttachmentRef::from_json)
            .is_some_and(|r| r.sha256 == hash.as_str());
        if allowed && names_it {
            Ok(hash)
        } else {
            Err(hidden())
        }
    }

    /// The blob's size and a reader of its bytes from `start` on.
    pub fn open(
        &self,
        hash: &BlobHash,
        start: u64,
    ) -> Result<(u64, Box<dyn Read + Send>), AttachmentError> {
        match self.blobs.open(hash, start) {
            Err(BlobError::NoBlob(_)) => Err(AttachmentError::NotFound(format!("no blob {hash}"))),
            other => Ok(other?),
        }
    }
}

/// What `blobs gc` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs the store holds.
    pub blobs: u64,
    /// Blobs deleted: no live record referenced them, and none was uploaded or claimed within
    /// the grace period.
    pub deleted: u64,
    /// Their bytes.
    pub deleted_bytes: u64,
    /// Uploads dropped for being idle longer than the grace period.
    pub idle_uploads: u64,
}

/// Deletes the blobs no live record references that are older than `grace` (by their upload
/// and by their last claim), and the uploads idle for `grace`. The grace period covers a device
/// that uploaded a file and has not pushed the record naming it yet.
pub fn collect_garbage(
    store: &Store,
    attachments: &Attachments,
    grace: std::time::Duration,
) -> Result<GcReport, AttachmentError> {
    // Read before listing: a record written meanwhile names a blob that is younger than the
    // grace period, so it is kept either way.
    let referenced = store.referenced_blobs()?;
    let now = std::time::SystemTime::now();
    let cutoff_ms = crate::clock::now_ms().saturating_sub(grace.as_millis() as i64);
    let mut report = GcReport::default();
    for blob in attachments.blobs.list()? {
        report.blobs += 1;
        let old = now.duration_since(blob.stored_at).unwrap_or_default() >= grace;
        if !old || referenced.contains(blob.hash.as_str()) {
            continue;
        }
        if store
            .blob_last_claimed(blob.hash.as_str())?
            .is_some_and(|at| at > cutoff_ms)
        {
            continue;
        }
        if attachments.blobs.delete(&blob.hash)? {
            store.forget_blob(blob.hash.as_str())?;
            report.deleted += 1;
            report.deleted_bytes += blob.size;
        }
    }
    report.idle_uploads = attachments.blobs.drop_idle_uploads(grace)?;
    Ok(report)
}

/// The push's mutations that reference a blob their user has not uploaded (or that the
/// store no longer holds), refused as `missing_blob`: a device never pulls a record whose
/// file is not there. One check per distinct blob. A server that keeps no attachments
/// (`attachments` is `None`) refuses every reference.
pub(crate) fn missing_blobs(
    attachments: Option<&Attachments>,
    store: &Store,
    user: &str,
    push: &PushRequest,
) -> Result<Verdicts, AttachmentError> {
    let mut verdicts = Verdicts::new();
    let mut known: HashMap<String, bool> = HashMap::new();
    for m in &push.mutations {
        let Some(def) = store.schema().entity(&m.entity) else {
            continue;
        };
        for field in &def.schema.fields {
            if field.field_type != FieldType::Attachment {
                continue;
            }
            // A malformed reference is the type check's to refuse, later.
            let Some(r) = m.fields.get(&field.name).and_then(AttachmentRef::from_json) else {
                continue;
            };
            let held = match known.get(&r.sha256) {
                Some(held) => *held,
                None => {
                    let hash = hash_of(&r.sha256)?;
                    let held = match attachments {
                        Some(a) => {
                            store.has_uploaded_blob(user, &r.sha256)? && a.blobs.has(&hash)?
                        }
                        None => false,
                    };
                    known.insert(r.sha256.clone(), held);
                    held
                }
            };
            if !held {
                verdicts.insert(
                    m.seq,
                    Refusal {
                        code: codes::MISSING_BLOB.to_string(),
                        message: format!(
                            "the file of `{}.{}` ({}) has not been uploaded",
                            m.entity, field.name, r.name
                        ),
                    },
                );
            }
        }
    }
    Ok(verdicts)
}
