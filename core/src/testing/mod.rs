//! Test support that needs the crate's insides, compiled for this crate's tests and with the
//! `testing` feature only (its integration tests, the benchmarks and the fuzz targets turn it
//! on), never in an app's build:
//!
//! - [`fuzzing`]: the fuzz targets' entry points, which apply a server's answer to a device's
//!   store in a transaction that is rolled back;
//! - [`StorageFaults`]: switches on a client's own store connection that make the disk full or
//!   the file read-only, for the storage-fault tests (`tests/storage_faults.rs`).
//!
//! Test support that needs no crate's insides is the `syncline-testing` crate.

pub mod fuzzing;

use crate::client::Syncline;
use crate::error::SynclineError;

/// A client's store as the storage-fault tests reach it. The switches act on the store's own
/// writer connection, because SQLite's `max_page_count` and `query_only` are per connection.
#[derive(Clone, Copy)]
pub struct StorageFaults<'a> {
    client: &'a Syncline,
}

impl std::fmt::Debug for StorageFaults<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageFaults").finish_non_exhaustive()
    }
}

impl<'a> StorageFaults<'a> {
    /// The switches of `client`'s store.
    pub fn of(client: &'a Syncline) -> StorageFaults<'a> {
        StorageFaults { client }
    }

    /// Pages the database holds now.
    pub fn page_count(&self) -> Result<i64, SynclineError> {
        Ok(self.client.store().page_count()?)
    }

    /// Caps the database at `pages` pages (SQLite's `max_page_count`): a full disk. Returns the
    /// cap SQLite set.
    pub fn limit_pages(&self, pages: i64) -> Result<i64, SynclineError> {
        Ok(self.client.store().limit_pages(pages)?)
    }

    /// Makes the writer refuse every write with `SQLITE_READONLY` (`PRAGMA query_only`), the
    /// code a read-only file or mount gives, or accept them again.
    pub fn set_read_only(&self, read_only: bool) -> Result<(), SynclineError> {
        Ok(self.client.store().set_read_only(read_only)?)
    }
}
