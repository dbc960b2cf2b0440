//! `SynclineClient`: the object the shells hold. Every method converts its arguments, calls the
//! core and converts the answer; nothing else lives here.

use std::sync::Arc;

use syncline_core as core;

use crate::error::{CallbackError, SynclineError};
use crate::types::*;

/// Receives the sync status: the current value at once, then every change (coalesced).
#[uniffi::export(with_foreign)]
pub trait StatusListener: Send + Sync {
    /// Called on a background thread; hop to the main thread to render.
    fn on_status(&self, status: SyncStatus) -> std::result::Result<(), CallbackError>;
}

/// A listener's registration; `stop` (or dropping it) stops the calls.
#[derive(uniffi::Object)]
pub struct ListenerHandle {
    subscription: core::Subscription,
}

#[uniffi::export]
impl ListenerHandle {
    /// Stops the listener; it is not called again.
    pub fn stop(&self) -> Result<()> {
        self.subscription.stop();
        Ok(())
    }
}

/// An offline-first client of one user: local data, outbox, sync and status.
#[derive(uniffi::Object)]
pub struct SynclineClient {
    inner: core::Syncline,
}

type Result<T> = std::result::Result<T, SynclineError>;

/// A configuration with the core's defaults for `server_url` and `token`.
#[uniffi::export]
pub fn default_config(server_url: String, token: String) -> Result<ClientConfig> {
    Ok(core::Config::new(&server_url, &token).into())
}

/// Automatic sync switched off (syncs run only when asked).
#[uniffi::export]
pub fn manual_auto_sync() -> Result<AutoSyncConfig> {
    Ok(core::AutoSync::manual().into())
}

/// The sample app's entities (projects, tasks, comments), as the demo and the tests use them.
#[uniffi::export]
pub fn sample_schema() -> Result<Vec<EntityDecl>> {
    let schema = core::sample::schema().map_err(core::Error::from)?;
    Ok(schema.entities().iter().map(EntityDecl::from).collect())
}

#[uniffi::export]
impl SynclineClient {
    /// Opens (creating if needed) the store at `path` for `entities`, with `config`, and starts
    /// syncing as `config.auto_sync` says.
    #[uniffi::constructor]
    pub fn open(
        path: String,
        entities: Vec<EntityDecl>,
        config: ClientConfig,
    ) -> Result<Arc<Self>> {
        let schema = schema_to_core(entities)?;
        let inner = core::Syncline::open(path.as_ref(), schema, config.into())?;
        Ok(Arc::new(SynclineClient { inner }))
    }

    /// This device's client id.
    pub fn client_id(&self) -> Result<String> {
        Ok(self.inner.client_id().to_string())
    }

    /// Creates a record (saved at once; synced later).
    pub fn insert(&self, entity: String, key: String, fields: Fields) -> Result<WriteReceipt> {
        let mut record = core::Record::new(key);
        record.values = fields_to_core(fields);
        Ok(self.inner.insert(&entity, record)?.into())
    }

    /// Changes fields of a record; `None` when nothing changed.
    pub fn update(
        &self,
        entity: String,
        key: String,
        fields: Fields,
    ) -> Result<Option<WriteReceipt>> {
        Ok(self
            .inner
            .update(&entity, &key, fields_to_core(fields))?
            .map(Into::into))
    }

    /// Deletes a record.
    pub fn delete(&self, entity: String, key: String) -> Result<WriteReceipt> {
        Ok(self.inner.delete(&entity, &key)?.into())
    }

    /// A record by key.
    pub fn get(&self, entity: String, key: String) -> Result<Option<SyncRecord>> {
        Ok(self.inner.get(&entity, &key)?.map(Into::into))
    }

    /// A page of records, in one call.
    pub fn query(&self, entity: String, query: QuerySpec) -> Result<RecordPage> {
        let page = self.inner.query(&entity, &query.into())?;
        Ok(RecordPage {
            records: page.records.into_iter().map(Into::into).collect(),
            next_offset: page.next_offset,
        })
    }

    /// Queues a sync of `unit` and returns at once.
    pub fn trigger_sync(&self, unit: String, discard_pending: bool) -> Result<()> {
        Ok(self.inner.trigger_sync(&unit, discard_pending)?)
    }

    /// Syncs `unit` and returns what it did (Kotlin `suspend`, Swift `async`).
    pub async fn sync_now(&self, unit: String) -> Result<SyncReport> {
        Ok(self.inner.sync_now(&unit).await?.into())
    }

    /// The shell reports the OS's connectivity (at start and on every change).
    pub fn report_connectivity(
        &self,
        connected: bool,
        network_type: NetworkType,
        metered: bool,
    ) -> Result<()> {
        self.inner.report_connectivity(core::Connectivity {
            connected,
            kind: network_type.into(),
            metered,
        });
        Ok(())
    }

    /// The app came to the foreground.
    pub fn resumed(&self) -> Result<()> {
        self.inner.resumed();
        Ok(())
    }

    /// The banner's Retry action.
    pub fn retry(&self) -> Result<()> {
        self.inner.retry();
        Ok(())
    }

    /// Replaces the user's token after signing in again.
    pub fn set_token(&self, token: String) -> Result<()> {
        self.inner.set_token(&token);
        Ok(())
    }

    /// The network state.
    pub fn network_status(&self) -> Result<NetworkStatus> {
        Ok(self.inner.network_status().into())
    }

    /// The network type the OS last reported.
    pub fn network_type(&self) -> Result<NetworkType> {
        Ok(self.inner.network_type().into())
    }

    /// The current status (with its banner).
    pub fn status(&self) -> Result<SyncStatus> {
        Ok(self.inner.status().into())
    }

    /// Calls `listener` with the current status at once and with every change after.
    pub fn listen(&self, listener: Arc<dyn StatusListener>) -> Result<Arc<ListenerHandle>> {
        let subscription = self.inner.listen(move |status| {
            if let Err(e) = listener.on_status(status.into()) {
                log::warn!("the status listener failed: {e}");
            }
        });
        Ok(Arc::new(ListenerHandle { subscription }))
    }

    /// Conflicts waiting for the user.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        Ok(self
            .inner
            .conflicts()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Settles a conflict; the chosen version syncs next.
    pub fn resolve(&self, id: i64, resolution: Resolution) -> Result<Option<WriteReceipt>> {
        Ok(self.inner.resolve(id, resolution.into())?.map(Into::into))
    }

    /// Changes the server refused, with its reasons.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>> {
        Ok(self
            .inner
            .quarantined()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Sends a refused change again; returns its new seq.
    pub fn retry_quarantined(&self, seq: u64) -> Result<u64> {
        Ok(self.inner.retry_quarantined(seq)?)
    }

    /// Edits a refused change and sends it again; returns its new seq.
    pub fn edit_quarantined(&self, seq: u64, fields: Fields) -> Result<u64> {
        Ok(self.inner.edit_quarantined(seq, fields_to_core(fields))?)
    }

    /// Drops a refused change and undoes it locally.
    pub fn discard_quarantined(&self, seq: u64) -> Result<()> {
        Ok(self.inner.discard_quarantined(seq)?)
    }

    /// Where a change is on its way.
    pub fn mutation_stage(&self, mutation_id: String) -> Result<Option<MutationStage>> {
        Ok(self
            .inner
            .mutation_stage(&mutation_id)?
            .map(|s| s.stage.into()))
    }
}
