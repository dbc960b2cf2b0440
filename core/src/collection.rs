//! [`Collection`]: one entity's records as an app's own serde type, for Rust apps. The type is
//! checked against the schema when the collection is made (`model.rs`); every call then goes
//! through the untyped API (`client.rs`), so typed and untyped code see the same records, the
//! same outbox and the same live queries.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_stream::Stream;

use crate::client::Syncline;
use crate::error::SynclineError;
use crate::live::ListenerHandle;
use crate::model::Model;
use crate::mutation::MutationReceipt;
use crate::record::{Page, Query};

/// What the public calls return.
type Result<T> = std::result::Result<T, SynclineError>;

impl Syncline {
    /// The records of `entity` as values of the app's type `T`, a struct that derives serde's
    /// `Serialize` and `Deserialize`. `T` is checked against the entity's schema now, from the
    /// type alone (no record or instance is needed), and any mismatch is an error naming the
    /// field: [`SynclineError::ModelMismatch`]. The rules:
    ///
    /// - Each field of `T` (by its serde name, so `#[serde(rename)]` counts) is the entity's key
    ///   (a `String`) or a field the schema declares; a server-only field is not declared on
    ///   the device, so it cannot be one.
    /// - Types: text takes `String` or an enum of unit variants (written as their names),
    ///   integer any integer type up to 64 bits (a value out of the type's range is an error on
    ///   that read or write), real `f64` or `f32`, boolean `bool`, timestamp `i64` (milliseconds
    ///   since the Unix epoch), json any serde type (stored as its JSON text). Newtypes count as
    ///   what they wrap (`struct Millis(i64)` is a timestamp).
    /// - A field that may be null is an `Option` and a required one is not: nullable fields,
    ///   and fields only the server writes, which are null in a record made here until it is
    ///   pulled back.
    /// - `T` has the key and every required field clients write, so an insert is whole. It may
    ///   leave out nullable fields and fields only the server writes: it does not read them, and
    ///   its writes leave them as they are.
    ///
    /// A type whose fields cannot be traced from its `Deserialize` (`serde_json::Value`, an
    /// untagged enum, `#[serde(flatten)]`) is refused with [`SynclineError::InvalidInput`];
    /// give a json field a concrete type. An unknown entity is `InvalidInput` too.
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use syncline_core::{
    ///     AutoSync, Config, EntitySchema, FieldDef, FieldType, Schema, Syncline, SynclineError,
    /// };
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Task {
    ///     id: String,
    ///     project_id: String,
    ///     title: String,
    ///     done: Option<bool>,
    ///     tags: Option<Vec<String>>,
    /// }
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Sloppy {
    ///     id: String,
    ///     project_id: String,
    ///     title: String,
    ///     done: String,
    /// }
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let schema = Schema::new(vec![EntitySchema::new("tasks", "id")
    ///     .field(FieldDef::required("project_id", FieldType::Text))
    ///     .field(FieldDef::required("title", FieldType::Text))
    ///     .field(FieldDef::new("done", FieldType::Boolean))
    ///     .field(FieldDef::new("tags", FieldType::Json))])?;
    /// let mut config = Config::new("http://127.0.0.1:8787", "demo-alice");
    /// config.auto = AutoSync::manual();
    /// let client = Syncline::open(&dir.path().join("app.db"), schema, config)?;
    /// let tasks = client.collection::<Task>("tasks")?;
    /// assert_eq!(tasks.entity(), "tasks");
    ///
    /// let Err(SynclineError::ModelMismatch { field, .. }) = client.collection::<Sloppy>("tasks")
    /// else { panic!("a text in a boolean field") };
    /// assert_eq!(field, "done");
    /// # Ok(()) }
    /// ```
    pub fn collection<T: Serialize + DeserializeOwned>(
        &self,
        entity: &str,
    ) -> Result<Collection<T>> {
        let model = Model::check::<T>(self.schema().entity(entity)?)?;
        Ok(Collection {
            client: self.clone(),
            model: Arc::new(model),
            _type: PhantomData,
        })
    }
}

/// One entity's records as the app's type `T`, made by [`Syncline::collection`], which checked
/// `T` against the schema. Reads and writes go through the client's own calls (the same store,
/// outbox, sync and live queries), converted on the way: a stored record that does not fit `T`
/// (a json field's content, a number out of range) is a [`SynclineError::RecordMismatch`]
/// naming the record and field, never a panic. Cheap to clone.
///
/// ```no_run
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)]
/// # struct Task { id: String, project_id: String, title: String, done: Option<bool> }
/// # fn demo(client: &syncline_core::Syncline) -> syncline_core::Result<()> {
/// use syncline_core::{Query, Value};
///
/// let tasks = client.collection::<Task>("tasks")?;
/// tasks.insert(&Task {
///     id: "t-1".into(),
///     project_id: "p-harbor".into(),
///     title: "Inspect pump".into(),
///     done: Some(false),
/// })?;
/// if let Some(mut task) = tasks.get("t-1")? {
///     task.done = Some(true);
///     tasks.update(&task)?;
/// }
/// let open = tasks.query(&Query::all(50).filter("done", Value::Boolean(false)))?;
/// # Ok(()) }
/// ```
pub struct Collection<T> {
    client: Syncline,
    model: Arc<Model>,
    /// `fn() -> T`: the collection makes and takes `T`s but holds none, so it is `Send` and
    /// `Sync` whatever `T` is.
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection {
            client: self.client.clone(),
            model: self.model.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    /// The entity's name.
    pub fn entity(&self) -> &str {
        self.model.entity()
    }

    /// Creates the record `model` describes, as [`Syncline::insert`] does: every field of `T`
    /// is written (`None` as null), but those only the server writes.
    pub fn insert(&self, model: &T) -> Result<MutationReceipt> {
        self.client.insert(self.entity(), self.model.record(model)?)
    }

    /// Writes `model` over the record with its key, as [`Syncline::update`] does: the whole
    /// model is the patch. Every field of `T` is written, a `None` as null (so a model can clear
    /// a field; leaving `None`s out would make that impossible), but those only the server
    /// writes; fields `T` does not have keep their values, and so does a field serde leaves
    /// out (`#[serde(skip_serializing_if = "Option::is_none")]`: `None` then means "as it
    /// was"). `None` when nothing changed.
    pub fn update(&self, model: &T) -> Result<Option<MutationReceipt>> {
        self.client.update(self.entity(), self.model.record(model)?)
    }

    /// Deletes the record with this key.
    pub fn delete(&self, key: &str) -> Result<MutationReceipt> {
        self.client.delete(self.entity(), key)
    }

    /// The record with this key, if the device has it.
    pub fn get(&self, key: &str) -> Result<Option<T>> {
        self.client
            .get(self.entity(), key)?
            .map(|record| self.model.read(record))
            .transpose()
    }

    /// The records `query` selects, as [`Syncline::query`] reads them. The next page starts at
    /// `query.offset + query.limit` when this one is full; [`Syncline::query`] also gives each
    /// record's sync state.
    pub fn query(&self, query: &Query) -> Result<Vec<T>> {
        read_all(&self.model, self.client.query(self.entity(), query))
    }

    /// Calls `listener` with the records `query` selects now and after every change, as
    /// [`Syncline::watch`] does (throttled, never the same page twice; on the client's
    /// listeners' thread, so return quickly). Stops when the handle is dropped or stopped.
    pub fn watch(
        &self,
        query: &Query,
        listener: impl Fn(Result<Vec<T>>) + Send + Sync + 'static,
    ) -> Result<ListenerHandle>
    where
        T: 'static,
    {
        let model = self.model.clone();
        self.client.watch(self.entity(), query, move |page| {
            listener(read_all(&model, page))
        })
    }

    /// [`Collection::watch`] as a [`Stream`], for an app's own async runtime: the records
    /// `query` selects now, then after every change, converted on the task that polls it. A
    /// slow reader gets the newest list, never a backlog; a failed read or conversion is an
    /// `Err` item and the stream goes on. Dropping it stops the watch.
    ///
    /// ```no_run
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Serialize, Deserialize)]
    /// # struct Task { id: String, project_id: String, title: String, done: Option<bool> }
    /// # async fn demo(client: &syncline_core::Syncline) -> syncline_core::Result<()> {
    /// use syncline_core::Query;
    /// use tokio_stream::StreamExt;
    ///
    /// let tasks = client.collection::<Task>("tasks")?;
    /// let mut lists = tasks.stream(&Query::all(50))?;
    /// while let Some(list) = lists.next().await {
    ///     for task in list? {
    ///         println!("{} {}", if task.done == Some(true) { "✓" } else { " " }, task.title);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(
        &self,
        query: &Query,
    ) -> Result<impl Stream<Item = Result<Vec<T>>> + Send + Unpin + 'static>
    where
        T: 'static,
    {
        let model = self.model.clone();
        self.client
            .answers(self.entity(), query, move |page| read_all(&model, page))
    }
}

/// A page's records as `T`s; the first that does not fit is the error.
fn read_all<T: DeserializeOwned>(model: &Model, page: Result<Page>) -> Result<Vec<T>> {
    page?
        .records
        .into_iter()
        .map(|record| model.read(record))
        .collect()
}
