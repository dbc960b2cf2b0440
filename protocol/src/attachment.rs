//! Attachments on the wire (issue 23): the reference an `attachment` field holds, and the bodies
//! of the blob routes (`docs/protocol.md`, "Attachments").
//!
//! A field never carries a file's bytes. It names them by their SHA-256; the bytes travel on the
//! blob routes, uploaded resumably before the mutation that references them is pushed, and
//! downloaded through a record that references them (the server's access check).

use serde::{Deserialize, Serialize};

/// Uploads: `POST /v1/uploads` creates one ([`UploadRequest`] → [`UploadState`]); `HEAD` or
/// `GET /v1/uploads/{id}` tells its offset; `PATCH /v1/uploads/{id}` with `Upload-Offset`
/// appends a range; `POST /v1/uploads/{id}/complete` checks and keeps it.
pub const UPLOADS_PATH: &str = "/v1/uploads";
/// Downloads: `GET /v1/blobs/{sha256}?entity=E&key=K&field=F`, with optional `Range`.
pub const BLOBS_PATH: &str = "/v1/blobs";
/// The request and response header that carries an upload's offset.
pub const UPLOAD_OFFSET_HEADER: &str = "upload-offset";
/// The largest blob the reference server takes unless configured otherwise (100 MB).
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 100 * 1000 * 1000;
/// Longest media type or file name an attachment reference may carry, in bytes.
pub const MAX_ATTACHMENT_LABEL: usize = 255;

/// What an `attachment` field holds: a reference to a file's bytes, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    /// The lowercase hex SHA-256 of the bytes: the blob's name.
    pub sha256: String,
    /// The size in bytes.
    pub size: u64,
    /// The media type (`image/jpeg`), as the app gave it.
    pub media_type: String,
    /// The file name to show or save under (no folders).
    pub name: String,
}

impl AttachmentRef {
    /// What is wrong with this reference, if anything: a hash that is not 64 lowercase hex
    /// digits, an empty or overlong media type, an overlong name or one with a path in it.
    pub fn problem(&self) -> Option<&'static str> {
        if !is_sha256(&self.sha256) {
            Some("sha256 must be 64 lowercase hex digits")
        } else if self.size > i64::MAX as u64 {
            Some("size is out of range")
        } else if self.media_type.is_empty() || self.media_type.len() > MAX_ATTACHMENT_LABEL {
            Some("media_type must be 1 to 255 bytes")
        } else if self.name.len() > MAX_ATTACHMENT_LABEL {
            Some("name must be at most 255 bytes")
        } else if self.name.contains(['/', '\\']) || self.name.chars().any(char::is_control) {
            Some("name must be a file name, without folders or control characters")
        } else {
            None
        }
    }

    /// The wire form.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "name": self.name,
        })
    }

    /// Reads the wire form; `None` when it is not a well-formed reference.
    pub fn from_json(json: &serde_json::Value) -> Option<AttachmentRef> {
        let parsed: AttachmentRef = serde_json::from_value(json.clone()).ok()?;
        parsed.problem().is_none().then_some(parsed)
    }
}

/// Whether `text` is a SHA-256 as blobs are named: 64 lowercase hex digits.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `POST /v1/uploads`: the blob a device is about to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadRequest {
    /// The blob's SHA-256, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Where an upload stands: the answer to creating one or asking for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadState {
    /// The upload's id, for its routes; absent when the server already holds the blob (nothing
    /// to send: `complete` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Bytes the server has: where the next range starts.
    pub offset: u64,
    /// Whether the blob is complete on the server (already held, or just completed).
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> AttachmentRef {
        AttachmentRef {
            sha256: "ab".repeat(32),
            size: 3,
            media_type: "image/jpeg".into(),
            name: "valve.jpg".into(),
        }
    }

    #[test]
    fn references_round_trip_and_are_checked() {
        let r = photo();
        assert_eq!(AttachmentRef::from_json(&r.to_json()), Some(r.clone()));
        for bad in [
            AttachmentRef {
                sha256: "AB".repeat(32),
                ..photo()
            },
            AttachmentRef {
                media_type: String::new(),
                ..photo()
            },
            AttachmentRef {
                name: "../etc/passwd".into(),
                ..photo()
            },
            AttachmentRef {
                name: "x".repeat(256),
                ..photo()
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
            assert_eq!(AttachmentRef::from_json(&bad.to_json()), None);
        }
        let mut extra = r.to_json();
        extra["bytes"] = serde_json::json!("AAAA");
        assert_eq!(
            AttachmentRef::from_json(&extra),
            None,
            "unknown keys refused"
        );
        assert_eq!(AttachmentRef::from_json(&serde_json::json!("ab")), None);
    }
}
