//! The sync engine: one sync of a unit pushes each entity's outbox and then pulls the entity's
//! changes page by page, applying each page in its own transaction as it arrives (while the next
//! page is already on its way), so memory stays flat whatever the data size.

use std::path::PathBuf;
use std::sync::Arc;

use syncline_protocol::{AttachmentRef, PullRequest, PushRequest};

use crate::attachments::UploadReport;

use crate::config::SyncUnit;
use crate::error::Result;
use crate::pulled::PulledPage;
use crate::runtime::blocking;
use crate::status::{Phase, SyncProgress};
use crate::store::Store;
use crate::transport::Transport;

/// What one entity's step of a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EntityReport {
    /// The entity this step pushed and pulled.
    pub entity: String,
    /// Mutations the server applied.
    pub pushed: u64,
    /// Of those, how many overwrote a newer server version (last write wins).
    pub overwrote: u64,
    /// Mutations the server rejected, now in quarantine.
    pub quarantined: u64,
    /// Records whose edits met a newer server version (settled by the entity's policy).
    pub conflicts: u64,
    /// Of those, how many went to the conflict inbox for the user.
    pub to_inbox: u64,
    /// Records created or changed by the pull.
    pub pulled: u64,
    /// Records deleted by the pull.
    pub deleted: u64,
    /// Pull pages applied.
    pub pages: u64,
}

/// What a whole sync of a unit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncReport {
    /// The unit that was synced.
    pub unit: String,
    /// One report per entity of the unit, in the unit's order.
    pub entities: Vec<EntityReport>,
}

impl SyncReport {
    /// Adds what `other` (another run) did to the entities this report has.
    pub(crate) fn add(&mut self, other: &SyncReport) {
        for mine in &mut self.entities {
            if let Some(theirs) = other.entities.iter().find(|e| e.entity == mine.entity) {
                mine.pushed += theirs.pushed;
                mine.overwrote += theirs.overwrote;
                mine.quarantined += theirs.quarantined;
                mine.conflicts += theirs.conflicts;
                mine.to_inbox += theirs.to_inbox;
                mine.pulled += theirs.pulled;
                mine.deleted += theirs.deleted;
                mine.pages += theirs.pages;
            }
        }
    }
}

/// Receives a running sync's progress (per step, push batch and pull page: never per record).
pub type ProgressFn = dyn Fn(SyncProgress) + Send + Sync;

/// How attachments upload and are cached, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlobSettings {
    /// Uploads at once.
    pub parallel: usize,
    /// Whether uploads run on mobile data.
    pub on_cellular: bool,
    /// The cache's budget in bytes.
    pub cache_bytes: u64,
}

/// A round of uploads that holds only the store and the transport: run in the background, it
/// must not keep the client (and its queue writer, which flushes when the client is dropped)
/// alive past the app's last reference.
pub(crate) struct Uploader {
    store: Arc<Store>,
    transport: Arc<Transport>,
}

impl Uploader {
    /// Uploads every waiting blob, `parallel` at once.
    pub(crate) async fn run(self, parallel: usize) -> Result<UploadReport> {
        crate::attachments::upload_waiting(&self.store, &self.transport, parallel).await
    }
}

/// Pushes and pulls units between one store and one server.
pub struct Engine {
    /// How attachments upload and are cached.
    pub(crate) blobs: BlobSettings,
    store: Arc<Store>,
    transport: Arc<Transport>,
    push_batch_size: usize,
}

impl Engine {
    /// An engine for `store`, talking through `transport`.
    pub fn new(store: Arc<Store>, transport: Transport, push_batch_size: usize) -> Engine {
        Engine {
            blobs: BlobSettings {
                parallel: 2,
                on_cellular: true,
                cache_bytes: 256 * 1024 * 1024,
            },
            store,
            transport: Arc::new(transport),
            push_batch_size,
        }
    }

    /// The transport (to change the token).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The engine with these attachment settings (builder style).
    pub(crate) fn with_blobs(mut self, blobs: BlobSettings) -> Engine {
        self.blobs = blobs;
        self
    }

    /// Uploads the blobs waiting for it, `parallel` at once; their held mutations go out with
    /// the next push.
    pub(crate) async fn upload_blobs(&self, parallel: usize) -> Result<UploadReport> {
        self.uploader().run(parallel).await
    }

    /// What a background round of uploads needs: the store and the transport, not the engine.
    pub(crate) fn uploader(&self) -> Uploader {
        Uploader {
            store: self.store.clone(),
            transport: self.transport.clone(),
        }
    }

    /// Downloads an attachment's file into the cache through the record that references it.
    pub(crate) async fn download_attachment(
        &self,
        reference: &AttachmentRef,
        through: (&str, &str, &str),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<PathBuf> {
        crate::attachments::download(&self.store, &self.transport, reference, through, progress)
            .await
    }

    /// Syncs every entity of `unit`: its push, then its pull, telling `progress` at each step and
    /// batch. Stops at the first error; what was applied before it stays applied (each batch and
    /// page is its own transaction).
    pub async fn sync(&self, unit: &SyncUnit, progress: &ProgressFn) -> Result<SyncReport> {
        let mut report = SyncReport {
            unit: unit.name.clone(),
            entities: Vec::new(),
        };
        let total = unit.entities.len() as u32;
        let mut items = 0;
        for (done, entity) in unit.entities.iter().enumerate() {
            let mut entity_report = EntityReport {
                entity: entity.clone(),
                ..EntityReport::default()
            };
            let tell = |phase: Phase, r: &EntityReport| {
                progress(SyncProgress {
                    phase,
                    entities_done: done as u32,
                    entities_total: total,
                    items: items + r.pushed + r.quarantined + r.pulled + r.deleted,
                })
            };
            let pushing = || Phase::Pushing {
                entity: entity.clone(),
            };
            let pulling = || Phase::Pulling {
                entity: entity.clone(),
            };
            tell(pushing(), &entity_report);
            self.push(entity, &mut entity_report, &|r| tell(pushing(), r))
                .await?;
            tell(pulling(), &entity_report);
            self.pull(entity, &mut entity_report, &|r| tell(pulling(), r))
                .await?;
            let r = &entity_report;
            items += r.pushed + r.quarantined + r.pulled + r.deleted;
            report.entities.push(entity_report);
        }
        Ok(report)
    }

    /// Sends the entity's pending mutations, oldest first, batch by batch.
    async fn push(
        &self,
        entity: &str,
        report: &mut EntityReport,
        batch_done: &(dyn Fn(&EntityReport) + Sync),
    ) -> Result<()> {
        loop {
            let store = self.store.clone();
            let (name, limit) = (entity.to_string(), self.push_batch_size);
            let batch = blocking(move || store.pending(&name, limit)).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let request = PushRequest {
                client_id: self.store.client_id().to_string(),
                mutations: batch,
            };
            let response = self.transport.push(&request).await?;
            let store = self.store.clone();
            let stats =
                blocking(move || store.apply_push_results(&request.mutations, &response.results))
                    .await?;
            report.pushed += stats.applied;
            report.overwrote += stats.overwrote;
            report.quarantined += stats.quarantined;
            report.conflicts += stats.conflicts;
            report.to_inbox += stats.to_inbox;
            log::debug!("push {entity}: {stats:?}");
            batch_done(report);
        }
    }

    /// Pulls the entity's changes since its cursor; applies page N while fetching page N+1.
    async fn pull(
        &self,
        entity: &str,
        report: &mut EntityReport,
        page_done: &(dyn Fn(&EntityReport) + Sync),
    ) -> Result<()> {
        let schema = self.store.schema().entity(entity)?;
        let request = |cursor: Option<String>| PullRequest {
            entity: entity.to_string(),
            cursor,
            limit: schema.sync.page_size,
            fields: schema.field_names(),
        };
        let store = self.store.clone();
        let name = entity.to_string();
        let cursor = blocking(move || store.pull_cursor(&name)).await?;
        let mut page = self.transport.pull(&request(cursor), schema).await?;
        loop {
            let has_more = page.has_more;
            let next = has_more.then(|| request(Some(page.cursor.clone())));
            let store = self.store.clone();
            let name = entity.to_string();
            let apply = blocking(move || store.apply_pulled(&name, &page));
            let (stats, next_page): (_, Option<PulledPage>) = match next {
                Some(next) => {
                    let (stats, fetched) = tokio::join!(apply, self.transport.pull(&next, schema));
                    (stats?, Some(fetched?))
                }
                None => (apply.await?, None),
            };
            report.pulled += stats.upserts;
            report.deleted += stats.tombstones;
            report.pages += 1;
            page_done(report);
            match next_page {
                Some(p) => page = p,
                None => return Ok(()),
            }
        }
    }
}
