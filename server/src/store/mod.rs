//! The server's data, on either database: [`Store`] owns the [`Database`], opens it (table
//! layouts, the declared schema's check, token hashing, all in one transaction) and runs every
//! read and write in a transaction of its own ([`Store::with_reader`], [`Store::with_writer`]).
//! Its public methods are the admin operations that the command line, the demo seed, tests and
//! benchmarks use; push and pull (`push.rs`, `pull.rs`) run their own work through the same
//! transactions.
//!
//! Layers, each using only those before it, and never this file:
//! `json_array`, `entity`, `positions` ← `records`, `accounts`, `clients`, `services` ←
//! `memberships`, `service_writes`, `webhook_state`,
//! `declarations` (and `slow_writes`, a test hook compiled with the `testing` feature only).
//! The children are free functions over a transaction ([`Tx`]); only this file holds a
//! connection, and no child refers back to it.

mod accounts;
mod blob_uploads;
mod bulk_rows;
mod clients;
mod declarations;
mod entity;
mod json_array;
mod memberships;
mod positions;
mod records;
mod service_writes;
mod services;
#[cfg(feature = "testing")]
mod slow_writes;
mod webhook_state;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value as Json};

use crate::db::{self, Database, Location, Tx};
use crate::error::StoreError;
use crate::schema::ServerSchema;
use crate::token_hash::{hash_token, new_token};
use crate::wakeup::Hub;

pub(crate) use bulk_rows::load_rows;
pub(crate) use clients::{last_seq, user_of};
pub(crate) use entity::{check_key, Ent, FieldProblem, Layout};
pub(crate) use json_array::split_array;
pub(crate) use memberships::user_scopes;
pub(crate) use positions::Positions;
// The bulk loaders of `testing` take positions for the rows they write.
#[cfg(feature = "testing")]
pub(crate) use positions::reserve_positions;
pub use records::StoredRecord;
pub(crate) use records::{live_records, load_row, save_row_at, NextState, Row};
pub use service_writes::{ServiceWrite, WriteError, WriteKind, Written};
pub use services::Service;
pub use webhook_state::WebhookState;

struct Inner {
    db: Box<dyn Database>,
    /// Woken by every commit that touched the change log, memberships or tokens (the live
    /// streams subscribe to it).
    hub: Arc<Hub>,
    schema: ServerSchema,
    layouts: Vec<Layout>,
    /// Test hook (`SYNCLINE_TEST_SLOW_WRITES`, off unless set): holds some write transactions
    /// open before commit.
    #[cfg(feature = "testing")]
    slow_writes: Option<slow_writes::SlowWrites>,
}

/// The server's data, on either database ([`Location`]). Cheap to clone (shared); all methods
/// block, so async code calls them from `spawn_blocking`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db", &self.inner.db.describe())
            .finish()
    }
}

impl Store {
    /// Opens the database at `location` (a SQLite file, created if missing, or a PostgreSQL
    /// URL), brings its tables up to date, records the storage layout of `schema`'s entities,
    /// and checks `schema` against the one the database was last opened with
    /// ([`StoreError::IncompatibleSchema`] when the stored data cannot follow the change).
    pub fn open(location: impl Into<Location>, schema: ServerSchema) -> Result<Store, StoreError> {
        let hub = Arc::new(Hub::new());
        let db = db::open(&location.into(), hub.clone())?;
        let mut layouts = Vec::new();
        db.write(&mut |tx| {
            layouts = entity::load_layouts(tx, &schema)?;
            // In the same transaction: an incompatible schema leaves the database as it was.
            declarations::check_and_record(tx, &schema, &layouts)?;
            accounts::hash_plain_tokens(tx)
        })?;
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                hub,
                schema,
                layouts,
                #[cfg(feature = "testing")]
                slow_writes: slow_writes::SlowWrites::from_env()?,
            }),
        })
    }

    /// Opens the database at `location` serving the sample app's entities
    /// ([`ServerSchema::sample`]).
    pub fn open_sample(location: impl Into<Location>) -> Result<Store, StoreError> {
        Store::open(location, ServerSchema::sample()?)
    }

    /// The SQLite file, when the store is one.
    pub fn path(&self) -> Option<&Path> {
        self.inner.db.file()
    }

    /// What the database is, for logs (a PostgreSQL URL comes without its password).
    pub fn describe(&self) -> String {
        self.inner.db.describe()
    }

    /// Checks that the database answers (readiness).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.inner.db.ping()
    }

    /// The wake-up of this store's commits (see `wakeup.rs`).
    pub(crate) fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// The served entities.
    pub fn schema(&self) -> &ServerSchema {
        &self.inner.schema
    }

    /// The entity called `name` with its storage layout.
    pub(crate) fn ent(&self, name: &str) -> Option<Ent<'_>> {
        let entities = self.inner.schema.entities();
        let i = entities.iter().position(|e| e.name() == name)?;
        Some(Ent {
            def: &entities[i],
            layout: &self.inner.layouts[i],
        })
    }

    /// [`Store::ent`], or [`StoreError::UnknownEntity`].
    pub(crate) fn ent_or_err(&self, name: &str) -> Result<Ent<'_>, StoreError> {
        self.ent(name)
            .ok_or_else(|| StoreError::UnknownEntity(name.to_string()))
    }

    /// Runs `f` in a read-only transaction (one committed snapshot; never blocks writes).
    pub(crate) fn with_reader<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transact(false, f)
    }

    /// Runs `f` in a write transaction (serialized with all others), committing when it
    /// succeeds and rolling back when it fails.
    pub(crate) fn with_writer<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transact(true, f)
    }

    fn transact<T, E: From<StoreError>>(
        &self,
        write: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut f = Some(f);
        let mut out: Option<Result<T, E>> = None;
        let mut work = |tx: &mut dyn Tx| -> Result<(), StoreError> {
            let f = f.take().ok_or(StoreError::RolledBack)?;
            let result = f(tx);
            let failed = result.is_err();
            #[cfg(feature = "testing")]
            if let (true, false, Some(slow)) = (write, failed, &self.inner.slow_writes) {
                // Positions are taken, the commit has not happened: the window the ordering
                // tests widen.
                slow.maybe_pause();
            }
            out = Some(result);
            if failed {
                Err(StoreError::RolledBack)
            } else {
                Ok(())
            }
        };
        let done = if write {
            self.inner.db.write(&mut work)
        } else {
            self.inner.db.read(&mut work)
        };
        match (done, out) {
            (Ok(()), Some(Ok(v))) => Ok(v),
            (_, Some(Err(e))) => Err(e),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(StoreError::RolledBack.into()),
        }
    }

    // ----- users and tokens -----

    /// Creates a user; returns false when it already existed (nothing changes then).
    pub fn create_user(&self, user_id: &str) -> Result<bool, StoreError> {
        if user_id.is_empty() {
            return Err(StoreError::Invalid("a user id cannot be empty".into()));
        }
        self.with_writer(|tx| accounts::create_user(tx, user_id))
    }

    /// Whether a user exists.
    pub fn user_exists(&self, user_id: &str) -> Result<bool, StoreError> {
        self.with_reader(|tx| accounts::has_user(tx, user_id))
    }

    /// Makes sure a user authenticated elsewhere (by a JWT from the team's identity provider)
    /// exists, creating it on first sight; returns whether it was created. A read first, so an
    /// existing user costs no write.
    pub fn ensure_user(&self, user_id: &str) -> Result<bool, StoreError> {
        if self.user_exists(user_id)? {
            return Ok(false);
        }
        self.create_user(user_id)
    }

    /// Every user with the number of projects they are a member of, sorted by id.
    pub fn users(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.with_reader(accounts::users)
    }

    /// Issues a new random token (256 bits from the OS) for a user, valid for `ttl` (forever
    /// when `None`). Only its hash is stored: this is the one time the token is seen.
    pub fn issue_token(&self, user_id: &str, ttl: Option<Duration>) -> Result<String, StoreError> {
        let token = new_token().map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.add_token(user_id, &token, ttl)?;
        Ok(token)
    }

    /// Registers a given token string for a user (the demo's fixed tokens). Idempotent for the
    /// same user; a token that belongs to another user is refused.
    pub fn add_token(
        &self,
        user_id: &str,
        token: &str,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        if token.is_empty() {
            return Err(StoreError::Invalid("a token cannot be empty".into()));
        }
        let token_hash = hash_token(token);
        self.with_writer(|tx| accounts::add_token(tx, user_id, &token_hash, ttl))
    }

    /// Revokes a token, a device's or a service's; returns false when no such token exists.
    pub fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let token_hash = hash_token(token);
        self.with_writer(|tx| {
            Ok(
                accounts::revoke_token(tx, &token_hash)?
                    || services::revoke_token(tx, &token_hash)?,
            )
        })
    }

    // ----- services -----

    /// Creates a service for the backend API and returns its first token (random, 256 bits;
    /// only its hash is stored: this is the one time it is seen).
    pub fn add_service(&self, service: &Service) -> Result<String, StoreError> {
        let token = new_token().map_err(|e| StoreError::Invalid(e.to_string()))?;
        let token_hash = hash_token(&token);
        self.with_writer(|tx| services::create(tx, service, &token_hash))?;
        Ok(token)
    }

    /// The service a token (its hash) authenticates, if it is a service's and not revoked.
    pub(crate) fn service_holder(&self, token_hash: &str) -> Result<Option<Service>, StoreError> {
        self.with_reader(|tx| services::holder(tx, token_hash))
    }

    /// The service called `name`, if any (a JWT names a service by its name).
    pub(crate) fn service_named(&self, name: &str) -> Result<Option<Service>, StoreError> {
        self.with_reader(|tx| services::named(tx, name))
    }

    /// Every service, by name.
    pub fn services(&self) -> Result<Vec<Service>, StoreError> {
        self.with_reader(services::list)
    }

    /// Takes or renews webhook `name`'s lease for `holder` for `lease`; returns its cursor, or
    /// `None` while another instance holds it. A new webhook starts at the log's end.
    pub(crate) fn webhook_lease(
        &self,
        name: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let now = crate::clock::now_ms();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        self.with_writer(|tx| {
            let end = positions::log_position(tx)?;
            webhook_state::lease(tx, name, holder, now, until, end)
        })
    }

    /// Moves webhook `name`'s cursor from `from` to `to` for the lease holder; false when the
    /// lease or the cursor moved meanwhile.
    pub(crate) fn webhook_advance(
        &self,
        name: &str,
        holder: &str,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError> {
        let now = crate::clock::now_ms();
        self.with_writer(|tx| webhook_state::advance(tx, name, holder, from, to, now))
    }

    /// Gives up `holder`'s lease of webhook `name`.
    pub(crate) fn webhook_release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.with_writer(|tx| webhook_state::release(tx, name, holder))
    }

    /// Where webhook `name` stands (if it ever ran), the log's end, and when the oldest change
    /// it has not delivered was made (ms since the epoch; `None`: nothing waits).
    pub fn webhook_status(
        &self,
        name: &str,
    ) -> Result<(Option<WebhookState>, i64, Option<i64>), StoreError> {
        self.with_reader(|tx| {
            let state = webhook_state::state(tx, name)?;
            let end = positions::log_position(tx)?;
            let oldest = match &state {
                Some(s) => webhook_state::oldest_after(tx, s.cursor)?,
                None => None,
            };
            Ok((state, end, oldest))
        })
    }

    /// Sets webhook `name`'s cursor: it delivers again every change after `cursor`.
    pub fn webhook_replay(&self, name: &str, cursor: i64) -> Result<(), StoreError> {
        self.with_writer(|tx| webhook_state::set_cursor(tx, name, cursor))
    }

    /// A service's write: every operation of `writes` in one transaction, all or nothing.
    /// Returns what each did, or (with `idempotency`) the answer `respond` made for the first
    /// call with the same key: `idempotency` is the `Idempotency-Key` and a fingerprint of the
    /// request; the same key with another request is refused.
    pub fn service_write(
        &self,
        service: &Service,
        writes: &[ServiceWrite],
        idempotency: Option<(&str, &str)>,
        respond: &dyn Fn(&[Written]) -> String,
    ) -> Result<String, WriteError> {
        let ents: Vec<Option<Ent<'_>>> = writes.iter().map(|w| self.ent(&w.entity)).collect();
        self.with_writer(|tx| {
            if let Some((key, request)) = idempotency {
                if let Some((seen, answer)) = service_writes::remembered(tx, &service.name, key)? {
                    return if seen == request {
                        Ok(answer)
                    } else {
                        Err(WriteError::IdempotencyKeyReused(key.to_string()))
                    };
                }
            }
            let written = service_writes::apply(tx, &ents, service, writes)?;
            let answer = respond(&written);
            if let Some((key, request)) = idempotency {
                service_writes::remember(tx, &service.name, key, request, &answer)?;
            }
            Ok(answer)
        })
    }

    /// Sets a token's expiry to a given time in milliseconds since the epoch (`None`: never).
    /// Tests use it to make a token expire without waiting.
    pub fn set_token_expiry(
        &self,
        token: &str,
        expires_at_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let token_hash = hash_token(token);
        self.with_writer(|tx| accounts::set_token_expiry(tx, &token_hash, expires_at_ms))
    }

    // ----- attachments' blobs -----

    /// Notes that `user` uploaded (or claimed) the blob `hash` of `size` bytes: it counts in
    /// their quota from now on.
    pub fn record_blob_upload(&self, user: &str, hash: &str, size: u64) -> Result<(), StoreError> {
        let at = crate::clock::now_ms();
        self.with_writer(|tx| blob_uploads::record(tx, user, hash, size, at))
    }

    /// Whether `user` uploaded (or claimed) the blob `hash`: what they may reference.
    pub fn has_uploaded_blob(&self, user: &str, hash: &str) -> Result<bool, StoreError> {
        self.with_reader(|tx| blob_uploads::has(tx, user, hash))
    }

    /// Bytes of the blobs `user` uploaded, each counted once.
    pub fn blob_usage(&self, user: &str) -> Result<u64, StoreError> {
        self.with_reader(|tx| blob_uploads::usage(tx, user))
    }

    /// Every blob a live record references (`blobs gc` keeps these).
    pub fn referenced_blobs(&self) -> Result<HashSet<String>, StoreError> {
        let mut out = HashSet::new();
        for def in self.schema().entities() {
            let ent = self.ent_or_err(def.name())?;
            self.with_reader(|tx| blob_uploads::referenced(tx, ent, &mut out))?;
        }
        Ok(out)
    }

    /// When the blob `hash` was last uploaded or claimed, ms since the epoch (`None`: never
    /// recorded).
    pub fn blob_last_claimed(&self, hash: &str) -> Result<Option<i64>, StoreError> {
        self.with_reader(|tx| blob_uploads::last_claimed(tx, hash))
    }

    /// Forgets a deleted blob in every user's quota.
    pub fn forget_blob(&self, hash: &str) -> Result<(), StoreError> {
        self.with_writer(|tx| blob_uploads::forget(tx, hash))
    }

    // ----- memberships -----

    /// Makes a user a member of a project; returns false when they already were. The project's
    /// records get fresh change-log positions, so the new member's next pull delivers them even
    /// if their cursor is past them (other members re-receive them unchanged, harmlessly).
    pub fn add_membership(&self, user_id: &str, project_id: &str) -> Result<bool, StoreError> {
        self.with_writer(|tx| memberships::add(tx, user_id, project_id))
    }

    /// Removes a user from a project; returns false when they were not a member. Every live
    /// record of the project is revoked for that user: their next pull of its entity delivers
    /// it as a tombstone (unless another of their projects still shows it), so it leaves their
    /// devices.
    pub fn remove_membership(&self, user_id: &str, project_id: &str) -> Result<bool, StoreError> {
        self.with_writer(|tx| memberships::remove(tx, user_id, project_id))
    }

    /// The projects a user is a member of, sorted.
    pub fn memberships(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let mut v: Vec<String> = self
            .with_reader(|tx| user_scopes(tx, user_id))?
            .into_iter()
            .collect();
        v.sort();
        Ok(v)
    }

    /// The members of each of `scopes`, as (scope, user) pairs: whom a commit in them concerns
    /// (the push hook). One read transaction, one indexed query per scope.
    pub(crate) fn scope_members(
        &self,
        scopes: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.with_reader(|tx| {
            let mut pairs = Vec::new();
            for scope in scopes {
                let users = tx.query_all(
                    "SELECT user_id FROM memberships WHERE project_id = ?1",
                    &[crate::db::Param::Text(scope)],
                    |r| Ok(r.text(0)?.to_string()),
                )?;
                pairs.extend(users.into_iter().map(|u| (scope.clone(), u)));
            }
            Ok(pairs)
        })
    }

    // ----- records -----

    /// Creates or renames a project (a record of the entity scoped by its own key, `projects`
    /// in the sample). Returns its version.
    pub fn create_project(&self, project_id: &str, name: &str) -> Result<i64, StoreError> {
        let entity = self
            .inner
            .schema
            .project_entity()
            .ok_or_else(|| StoreError::UnknownEntity("(project entity)".into()))?
            .name()
            .to_string();
        let mut fields = Map::new();
        fields.insert("name".into(), Json::String(name.to_string()));
        self.upsert_record(&entity, project_id, &fields)
    }

    /// Server-side write, as if another system edited the record: creates it (required fields
    /// must be given) or applies `fields` over the current state; a deleted record is created
    /// anew. Every field may be written, read-only and server-only ones included; a server-set
    /// `"now"` field that `fields` does not give gets the server's time (a `"user"` one has no
    /// user to take). Bumps the version and the change-log position. Returns the new version.
    pub fn upsert_record(
        &self,
        entity: &str,
        key: &str,
        fields: &Map<String, Json>,
    ) -> Result<i64, StoreError> {
        let ent = self.ent_or_err(entity)?;
        check_key(key)?;
        let changes = ent.check_fields(fields).map_err(|p| match p {
            FieldProblem::Unknown(_) => StoreError::UnknownField {
                entity: entity.to_string(),
                field: fields
                    .keys()
                    .find(|k| ent.def.field_index(k).is_none())
                    .cloned()
                    .unwrap_or_default(),
            },
            FieldProblem::Invalid(m) => StoreError::Invalid(m),
        })?;
        self.with_writer(|tx| records::upsert(tx, ent, key, changes))
    }

    /// Server-side delete: leaves a tombstone (version +1, fresh position). Returns the
    /// tombstone's version; a missing or already deleted record is `NotFound`.
    pub fn delete_record(&self, entity: &str, key: &str) -> Result<i64, StoreError> {
        let ent = self.ent_or_err(entity)?;
        self.with_writer(|tx| records::delete(tx, ent, key))
    }

    /// A record's stored state (deleted ones included), or `None`.
    pub fn get_record(&self, entity: &str, key: &str) -> Result<Option<StoredRecord>, StoreError> {
        let ent = self.ent_or_err(entity)?;
        self.with_reader(|tx| records::get(tx, ent, key))
    }

    /// Number of live (not deleted) records of an entity.
    pub fn count_records(&self, entity: &str) -> Result<u64, StoreError> {
        self.ent_or_err(entity)?;
        self.with_reader(|tx| live_records(tx, entity))
    }

    // ----- clients and the change log -----

    /// The highest `seq` applied for a client's mutations of `entity` (`None`: nothing yet).
    pub fn client_last_seq(
        &self,
        client_id: &str,
        entity: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.with_reader(|tx| clients::last_seq(tx, client_id, entity))
    }

    /// The user a client id is bound to, if any.
    pub fn client_user(&self, client_id: &str) -> Result<Option<String>, StoreError> {
        self.with_reader(|tx| clients::user_of(tx, client_id))
    }

    /// The current end of the change log (the highest position handed out).
    pub fn log_position(&self) -> Result<i64, StoreError> {
        self.with_reader(positions::log_position)
    }
}

#[cfg(test)]
mod tests;
