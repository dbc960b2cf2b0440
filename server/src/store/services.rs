//! Service identities: the office's own systems (a dispatcher, an ERP) on the backend API. A
//! service is not a device user: it has no memberships and never appears among a project's
//! members; it reaches the scopes it was given (or all of them), read-only if it was made so.
//! Its tokens are kept as SHA-256 hashes, as device tokens are, and revoked the same way.

use crate::clock::now_ms;
use crate::db::{Param, Tx};
use crate::error::StoreError;

/// A service and what it may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its name: what server-set fields name as the user when it writes.
    pub name: String,
    /// The scopes (projects) it was given; empty when it has all of them.
    pub scopes: Vec<String>,
    /// Whether it reaches every scope, present and future.
    pub all_scopes: bool,
    /// Whether it may only read.
    pub read_only: bool,
}

impl Service {
    /// Whether it reaches records of `scope`.
    pub fn reaches(&self, scope: &str) -> bool {
        self.all_scopes || self.scopes.iter().any(|s| s == scope)
    }
}

/// Creates a service with its first token (its hash). Refused when the name is taken, by a
/// service or a user (server-set fields name either as "the user"), or when it would reach
/// nothing.
pub(super) fn create(
    tx: &mut dyn Tx,
    service: &Service,
    token_hash: &str,
) -> Result<(), StoreError> {
    if let Some(problem) = syncline_protocol::key_problem(&service.name) {
        return Err(StoreError::Invalid(format!(
            "a service name follows the key rule: {problem}"
        )));
    }
    match (service.all_scopes, service.scopes.is_empty()) {
        (false, true) => {
            return Err(StoreError::Invalid(
                "a service needs --scope at least once, or --all-scopes".into(),
            ))
        }
        (true, false) => {
            return Err(StoreError::Invalid(
                "--all-scopes already gives every scope: leave out --scope".into(),
            ))
        }
        _ => {}
    }
    let taken = tx.exists(
        "SELECT 1 FROM services WHERE name = ?1",
        &[Param::Text(&service.name)],
    )? || tx.exists(
        "SELECT 1 FROM users WHERE user_id = ?1",
        &[Param::Text(&service.name)],
    )?;
    if taken {
        return Err(StoreError::Invalid(format!(
            "the name {} is taken by a service or a user",
            service.name
        )));
    }
    tx.execute(
        "INSERT INTO services (name, all_scopes, read_only, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[
            Param::Text(&service.name),
            Param::Bool(service.all_scopes),
            Param::Bool(service.read_only),
            Param::Int(now_ms()),
        ],
    )?;
    for scope in &service.scopes {
        tx.execute(
            "INSERT INTO service_scopes (name, scope) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            &[Param::Text(&service.name), Param::Text(scope)],
        )?;
    }
    tx.execute(
        "INSERT INTO service_tokens (token, name, created_at) VALUES (?1, ?2, ?3)",
        &[
            Param::Text(token_hash),
            Param::Text(&service.name),
            Param::Int(now_ms()),
        ],
    )?;
    Ok(())
}

/// The service a token (its hash) authenticates, if it is known and not revoked.
pub(super) fn holder(tx: &mut dyn Tx, token_hash: &str) -> Result<Option<Service>, StoreError> {
    let name = tx.query_opt(
        "SELECT name FROM service_tokens WHERE token = ?1 AND revoked = FALSE",
        &[Param::Text(token_hash)],
        |r| Ok(r.text(0)?.to_string()),
    )?;
    match name {
        Some(name) => named(tx, &name),
        None => Ok(None),
    }
}

/// The service called `name`, if any.
pub(super) fn named(tx: &mut dyn Tx, name: &str) -> Result<Option<Service>, StoreError> {
    let Some((all_scopes, read_only)) = tx.query_opt(
        "SELECT all_scopes, read_only FROM services WHERE name = ?1",
        &[Param::Text(name)],
        |r| Ok((r.bool(0)?, r.bool(1)?)),
    )?
    else {
        return Ok(None);
    };
    let scopes = tx.query_all(
        "SELECT scope FROM service_scopes WHERE name = ?1 ORDER BY scope",
        &[Param::Text(name)],
        |r| Ok(r.text(0)?.to_string()),
    )?;
    Ok(Some(Service {
        name: name.to_string(),
        scopes,
        all_scopes,
        read_only,
    }))
}

/// Every service, by name.
pub(super) fn list(tx: &mut dyn Tx) -> Result<Vec<Service>, StoreError> {
    let names = tx.query_all("SELECT name FROM services ORDER BY name", &[], |r| {
        Ok(r.text(0)?.to_string())
    })?;
    let mut services = Vec::with_capacity(names.len());
    for name in names {
        if let Some(service) = named(tx, &name)? {
            services.push(service);
        }
    }
    Ok(services)
}

/// Revokes the service token with this hash; false when there is none.
pub(super) fn revoke_token(tx: &mut dyn Tx, token_hash: &str) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE service_tokens SET revoked = TRUE WHERE token = ?1",
        &[Param::Text(token_hash)],
    )? == 1)
}
