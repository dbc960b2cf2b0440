//! The devices that push, as the server knows them: the user each client id is bound to (a
//! client id is never shared between users) and the highest `seq` applied per client and
//! entity, which makes a resent batch idempotent. Push writes both in its own transaction.

use crate::db::{Param, Tx};
use crate::error::StoreError;

/// The highest `seq` applied for a client's mutations of `entity` (`None`: nothing yet).
pub(crate) fn last_seq(
    tx: &mut dyn Tx,
    client_id: &str,
    entity: &str,
) -> Result<Option<u64>, StoreError> {
    let v = tx.query_opt(
        "SELECT last_seq FROM client_marks WHERE client_id = ?1 AND entity = ?2",
        &[Param::Text(client_id), Param::Text(entity)],
        |r| r.int(0),
    )?;
    Ok(v.and_then(|s| u64::try_from(s).ok()))
}

/// The user a client id is bound to, if any.
pub(crate) fn user_of(tx: &mut dyn Tx, client_id: &str) -> Result<Option<String>, StoreError> {
    tx.query_opt(
        "SELECT user_id FROM clients WHERE client_id = ?1",
        &[Param::Text(client_id)],
        |r| Ok(r.text(0)?.to_string()),
    )
}
