//! Blobs in a folder: the embedded store's default, as the SQLite file is the database's.
//!
//! ```text
//! ROOT/blobs/ab/abcdef…       one file per blob, named by its hash (fanned out by its first
//!                             two digits, so no folder holds millions of files)
//! ROOT/uploads/<id>.part      an upload's bytes so far
//! ROOT/uploads/<id>.json      what it announced (hash and size)
//! ```
//!
//! An upload's offset is its part file's length, so it survives a restart of the server as it
//! is. Completion hashes the part file as it reads it, then renames it into place: a blob file
//! is whole or absent, never half written, even across a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Announced, BlobError, BlobHash, BlobStore, StoredBlob, UploadId};
use crate::token_hash::hex;

/// Bytes read and written at a time.
const CHUNK: usize = 64 * 1024;

/// What an upload's `.json` file holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    hash: String,
    size: u64,
    owner: String,
}

/// A blob store in a folder.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    blobs: PathBuf,
    uploads: PathBuf,
}

impl FsBlobStore {
    /// The store in `root` (made if missing).
    pub fn open(root: &Path) -> Result<FsBlobStore, BlobError> {
        let store = FsBlobStore {
            blobs: root.join("blobs"),
            uploads: root.join("uploads"),
        };
        fs::create_dir_all(&store.blobs)?;
        fs::create_dir_all(&store.uploads)?;
        Ok(store)
    }

    fn blob_path(&self, hash: &BlobHash) -> PathBuf {
        let h = hash.as_str();
        self.blobs.join(&h[..2]).join(h)
    }

    fn part_path(&self, upload: &UploadId) -> PathBuf {
        self.uploads.join(format!("{}.part", upload.as_str()))
    }

    fn meta_path(&self, upload: &UploadId) -> PathBuf {
        self.uploads.join(format!("{}.json", upload.as_str()))
    }

    fn forget(&self, upload: &UploadId) {
        // Best effort: a leftover part is only space, and a new upload never reuses an id.
        let _ = fs::remove_file(self.part_path(upload));
        let _ = fs::remove_file(self.meta_path(upload));
    }
}

impl BlobStore for FsBlobStore {
    fn announced(&self, upload: &UploadId) -> Result<Announced, BlobError> {
        let text = match fs::read(self.meta_path(upload)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NoUpload(upload.as_str().to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        let corrupt =
            || std::io::Error::other(format!("upload {} has a bad record", upload.as_str()));
        let meta: Meta = serde_json::from_slice(&text).map_err(|_| corrupt())?;
        Ok(Announced {
            hash: BlobHash::parse(&meta.hash).ok_or_else(corrupt)?,
            size: meta.size,
            owner: meta.owner,
        })
    }

    fn has(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        Ok(self.blob_path(hash).is_file())
    }

    fn create(&self, announced: &Announced) -> Result<UploadId, BlobError> {
        let id = UploadId::new()?;
        File::create(self.part_path(&id))?;
        // The record is written last: an upload without one does not exist.
        let mut meta = File::create(self.meta_path(&id))?;
        let record = Meta {
            hash: announced.hash.to_string(),
            size: announced.size,
            owner: announced.owner.clone(),
        };
        serde_json::to_writer(&mut meta, &record).map_err(std::io::Error::other)?;
        meta.sync_all()?;
        Ok(id)
    }

    fn offset(&self, upload: &UploadId) -> Result<u64, BlobError> {
        self.announced(upload)?;
        Ok(fs::metadata(self.part_path(upload))?.len())
    }

    fn append(&self, upload: &UploadId, at: u64, data: &mut dyn Read) -> Result<u64, BlobError> {
        let announced = self.announced(upload)?;
        let mut part = OpenOptions::new()
            .append(true)
            .open(self.part_path(upload))?;
        let mut offset = part.metadata()?.len();
        if at != offset {
            return Err(BlobError::WrongOffset {
                expected: offset,
                given: at,
            });
        }
        let mut buf = vec![0u8; CHUNK];
        let result = loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break Ok(offset),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // A range cut off half-way: what arrived is kept (written below the loop).
                Err(e) => break Err(BlobError::Io(e)),
            };
            if offset + n as u64 > announced.size {
                break Err(BlobError::TooLong {
                    size: announced.size,
                });
            }
            if let Err(e) = part.write_all(&buf[..n]) {
                break Err(e.into());
            }
            offset += n as u64;
        };
        // Durable before the offset is reported: a device that hears it never sends these
        // bytes again.
        part.sync_data()?;
        result
    }

    fn complete(&self, upload: &UploadId) -> Result<Announced, BlobError> {
        let announced = self.announced(upload)?;
        let part_path = self.part_path(upload);
        let mut part = File::open(&part_path)?;
        let received = part.metadata()?.len();
        if received != announced.size {
            return Err(BlobError::Incomplete {
                received,
                size: announced.size,
            });
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = part.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let actual = hex(&hasher.finalize());
        if actual != announced.hash.as_str() {
            self.forget(upload);
            return Err(BlobError::HashMismatch {
                announced: announced.hash.to_string(),
                actual,
            });
        }
        let target = self.blob_path(&announced.hash);
        if let Some(folder) = target.parent() {
            fs::create_dir_all(folder)?;
        }
        // Same bytes whichever upload wins a race to the same name: renaming over is harmless.
        fs::rename(&part_path, &target)?;
        let _ = fs::remove_file(self.meta_path(upload));
        Ok(announced)
    }

    fn open(&self, hash: &BlobHash, start: u64) -> Result<(u64, Box<dyn Read + Send>), BlobError> {
        let mut file = match File::open(self.blob_path(hash)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NoBlob(hash.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata()?.len();
        file.seek(SeekFrom::Start(start.min(size)))?;
        Ok((size, Box::new(file)))
    }

    fn list(&self) -> Result<Vec<StoredBlob>, BlobError> {
        let mut out = Vec::new();
        for fan in fs::read_dir(&self.blobs)? {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(fan.path())? {
                let entry = entry?;
                // Anything not named by a hash is not a blob (an editor's backup, say).
                let Some(hash) = entry.file_name().to_str().and_then(BlobHash::parse) else {
                    continue;
                };
                let meta = entry.metadata()?;
                out.push(StoredBlob {
                    hash,
                    size: meta.len(),
                    stored_at: meta.modified()?,
                });
            }
        }
        Ok(out)
    }

    fn delete(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        match fs::remove_file(self.blob_path(hash)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn drop_idle_uploads(&self, idle: Duration) -> Result<u64, BlobError> {
        let mut dropped = 0;
        for entry in fs::read_dir(&self.uploads)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".part"))
                .and_then(UploadId::parse)
            else {
                continue;
            };
            let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
            if age >= idle {
                self.forget(&id);
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> BlobHash {
        BlobHash::parse(&hex(&Sha256::digest(bytes))).expect("a hash")
    }

    fn store() -> (tempfile::TempDir, FsBlobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        (dir, store)
    }

    #[test]
    fn an_upload_in_ranges_resumes_at_its_offset_and_becomes_the_blob() {
        let (dir, store) = store();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let announced = Announced {
            hash: sha(&bytes),
            size: bytes.len() as u64,
            owner: "alice".into(),
        };
        assert!(!store.has(&announced.hash).expect("has"));
        let id = store.create(&announced).expect("create");
        assert_eq!(
            store.append(&id, 0, &mut &bytes[..70_000]).expect("first"),
            70_000
        );
        // A range from the wrong place is refused and changes nothing.
        assert!(matches!(
            store.append(&id, 0, &mut &bytes[..10]),
            Err(BlobError::WrongOffset {
                expected: 70_000,
                given: 0
            })
        ));
        // "Restarted": a new store over the same folder knows where the upload is.
        let store = FsBlobStore::open(dir.path()).expect("reopen");
        assert_eq!(store.offset(&id).expect("offset"), 70_000);
        assert!(matches!(
            store.complete(&id),
            Err(BlobError::Incomplete {
                received: 70_000,
                ..
            })
        ));
        assert_eq!(
            store
                .append(&id, 70_000, &mut &bytes[70_000..])
                .expect("rest"),
            200_000
        );
        assert_eq!(store.complete(&id).expect("complete"), announced);
        assert!(store.has(&announced.hash).expect("has"));
        assert!(
            matches!(store.offset(&id), Err(BlobError::NoUpload(_))),
            "the upload is gone"
        );
        let (size, mut reader) = store.open(&announced.hash, 199_990).expect("open");
        assert_eq!(size, 200_000);
        let mut tail = Vec::new();
        reader.read_to_end(&mut tail).expect("read");
        assert_eq!(tail, bytes[199_990..]);
    }

    #[test]
    fn bytes_that_hash_otherwise_or_run_long_are_refused() {
        let (_dir, store) = store();
        let announced = Announced {
            hash: sha(b"what the device says"),
            size: 20,
            owner: "alice".into(),
        };
        let id = store.create(&announced).expect("create");
        assert!(matches!(
            store.append(&id, 0, &mut &b"twenty-one bytes ...."[..]),
            Err(BlobError::TooLong { size: 20 })
        ));
        let at = store.offset(&id).expect("offset");
        store
            .append(&id, at, &mut &b"something else here!"[at as usize..])
            .expect("append");
        assert!(matches!(
            store.complete(&id),
            Err(BlobError::HashMismatch { .. })
        ));
        assert!(
            !store.has(&announced.hash).expect("has"),
            "never stored under a false name"
        );
        assert!(
            matches!(store.offset(&id), Err(BlobError::NoUpload(_))),
            "dropped"
        );
        assert!(matches!(
            store.open(&announced.hash, 0),
            Err(BlobError::NoBlob(_))
        ));
    }

    #[test]
    fn blobs_are_listed_and_deleted_and_idle_uploads_dropped() {
        let (_dir, store) = store();
        let bytes = b"a photo";
        let announced = Announced {
            hash: sha(bytes),
            size: bytes.len() as u64,
            owner: "alice".into(),
        };
        let id = store.create(&announced).expect("create");
        store.append(&id, 0, &mut &bytes[..]).expect("append");
        store.complete(&id).expect("complete");
        let idle = store.create(&announced).expect("create");
        let listed = store.list().expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!((&listed[0].hash, listed[0].size), (&announced.hash, 7));
        assert_eq!(
            store
                .drop_idle_uploads(Duration::from_secs(3600))
                .expect("keep"),
            0
        );
        assert_eq!(store.drop_idle_uploads(Duration::ZERO).expect("drop"), 1);
        assert!(matches!(store.offset(&idle), Err(BlobError::NoUpload(_))));
        assert!(store.delete(&announced.hash).expect("delete"));
        assert!(!store.delete(&announced.hash).expect("again"));
        assert!(store.list().expect("list").is_empty());
    }

    #[test]
    fn names_are_checked_before_they_reach_a_path() {
        assert!(BlobHash::parse("../../etc/passwd").is_none());
        assert!(BlobHash::parse(&"A".repeat(64)).is_none(), "lowercase only");
        assert!(BlobHash::parse(&"a".repeat(64)).is_some());
        assert!(UploadId::parse("../x").is_none());
        assert!(UploadId::parse(&"0".repeat(32)).is_some());
    }
}
