//! Users and their bearer tokens. Tokens are kept as SHA-256 hashes (`token_hash.rs`), so a
//! leaked database yields no usable token; a token from before hashing is hashed when the store
//! opens.

use std::time::Duration;

use crate::clock::now_ms;
use crate::db::{Param, Tx};
use crate::error::StoreError;
use crate::token_hash::hash_token;

/// Whether a user exists.
pub(super) fn has_user(tx: &mut dyn Tx, user_id: &str) -> Result<bool, StoreError> {
    tx.exists(
        "SELECT 1 FROM users WHERE user_id = ?1",
        &[Param::Text(user_id)],
    )
}

/// Replaces tokens kept in plain text (by servers before hashing) with their hashes.
pub(super) fn hash_plain_tokens(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let plain = tx.query_all("SELECT token FROM tokens WHERE hashed = FALSE", &[], |r| {
        Ok(r.text(0)?.to_string())
    })?;
    for token in &plain {
        tx.execute(
            "UPDATE tokens SET token = ?1, hashed = TRUE WHERE token = ?2",
            &[Param::Text(&hash_token(token)), Param::Text(token)],
        )?;
    }
    if !plain.is_empty() {
        log::info!("{} stored tokens replaced by their hashes", plain.len());
    }
    Ok(())
}

/// When a token issued now for `ttl` expires (`None`: never).
fn ttl_expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|d| now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

/// Creates a user; returns false when it already existed (nothing changes then). A service's
/// name is refused: server-set fields name either as "the user".
pub(super) fn create_user(tx: &mut dyn Tx, user_id: &str) -> Result<bool, StoreError> {
    if tx.exists(
        "SELECT 1 FROM services WHERE name = ?1",
        &[Param::Text(user_id)],
    )? {
        return Err(StoreError::Invalid(format!(
            "{user_id} is the name of a service"
        )));
    }
    let n = tx.execute(
        "INSERT INTO users (user_id, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        &[Param::Text(user_id), Param::Int(now_ms())],
    )?;
    Ok(n == 1)
}

/// Registers a token's hash for a user; a token that belongs to another user is refused.
pub(super) fn add_token(
    tx: &mut dyn Tx,
    user_id: &str,
    token_hash: &str,
    ttl: Option<Duration>,
) -> Result<(), StoreError> {
    if !has_user(tx, user_id)? {
        return Err(StoreError::UnknownUser(user_id.to_string()));
    }
    tx.execute(
        "INSERT INTO tokens (token, user_id, created_at, expires_at, hashed)
         VALUES (?1, ?2, ?3, ?4, TRUE) ON CONFLICT DO NOTHING",
        &[
            Param::Text(token_hash),
            Param::Text(user_id),
            Param::Int(now_ms()),
            Param::OptInt(ttl_expiry(ttl)),
        ],
    )?;
    let owner = tx.query_opt(
        "SELECT user_id FROM tokens WHERE token = ?1",
        &[Param::Text(token_hash)],
        |r| Ok(r.text(0)?.to_string()),
    )?;
    if owner.as_deref() != Some(user_id) {
        return Err(StoreError::Invalid(
            "that token belongs to another user".into(),
        ));
    }
    Ok(())
}

/// Revokes the token with this hash; false when there is none.
pub(super) fn revoke_token(tx: &mut dyn Tx, token_hash: &str) -> Result<bool, StoreError> {
    let revoked = tx.execute(
        "UPDATE tokens SET revoked = TRUE WHERE token = ?1",
        &[Param::Text(token_hash)],
    )? == 1;
    if revoked {
        // Its live streams close at once.
        tx.touched().token(token_hash);
    }
    Ok(revoked)
}

/// Sets the expiry of the token with this hash; false when there is none.
pub(super) fn set_token_expiry(
    tx: &mut dyn Tx,
    token_hash: &str,
    expires_at_ms: Option<i64>,
) -> Result<bool, StoreError> {
    let changed = tx.execute(
        "UPDATE tokens SET expires_at = ?1 WHERE token = ?2",
        &[Param::OptInt(expires_at_ms), Param::Text(token_hash)],
    )? == 1;
    if changed {
        // Its live streams take the new expiry.
        tx.touched().token(token_hash);
    }
    Ok(changed)
}

/// Every user with the number of projects they are a member of, sorted by id.
pub(super) fn users(tx: &mut dyn Tx) -> Result<Vec<(String, usize)>, StoreError> {
    tx.query_all(
        "SELECT u.user_id, (SELECT COUNT(*) FROM memberships m WHERE m.user_id = u.user_id)
         FROM users u ORDER BY u.user_id",
        &[],
        |r| {
            Ok((
                r.text(0)?.to_string(),
                usize::try_from(r.int(1)?).unwrap_or(0),
            ))
        },
    )
}
