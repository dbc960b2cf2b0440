//! Bearer-token authentication: reading the `Authorization` header and checking a token against
//! the store (unknown or revoked → `unauthorized`, past its expiry → `token_expired`).

use crate::clock::now_ms;
use crate::db::Param;
use crate::error::StoreError;
use crate::store::Store;
use crate::token_hash::hash_token;

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No header, a malformed one, or an unknown or revoked token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The token's lifetime is over.
    #[error("the token has expired")]
    TokenExpired,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

impl Store {
    /// The user a token belongs to, if it is known, not revoked and not expired.
    pub fn authenticate(&self, token: &str) -> Result<String, AuthError> {
        Ok(self.token_holder(&hash_token(token))?.0)
    }

    /// The user and expiry (ms since the epoch; `None`: never) of the token with this hash, if
    /// it is known, not revoked and not expired. Live streams keep only the hash and check it
    /// again when the token is revoked or re-timed.
    pub(crate) fn token_holder(
        &self,
        token_hash: &str,
    ) -> Result<(String, Option<i64>), AuthError> {
        let found = self.with_reader(|tx| {
            tx.query_opt(
                "SELECT user_id, expires_at, revoked FROM tokens WHERE token = ?1",
                &[Param::Text(token_hash)],
                |r| Ok((r.text(0)?.to_string(), r.opt_int(1)?, r.bool(2)?)),
            )
        })?;
        match found {
            None => Err(AuthError::Unauthorized("unknown token")),
            Some((_, _, true)) => Err(AuthError::Unauthorized("the token was revoked")),
            Some((_, Some(expires_at), false)) if expires_at <= now_ms() => {
                Err(AuthError::TokenExpired)
            }
            Some((user, expires_at, false)) => Ok((user, expires_at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bearer_headers_are_parsed() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
    }

    #[test]
    fn tokens_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_sample(dir.path().join("a.db")).expect("open");
        s.create_user("u").expect("user");
        let t = s
            .issue_token("u", Some(Duration::from_secs(60)))
            .expect("token");
        assert_eq!(s.authenticate(&t).expect("valid"), "u");
        assert!(matches!(
            s.authenticate("nope"),
            Err(AuthError::Unauthorized(_))
        ));
        s.set_token_expiry(&t, Some(now_ms() - 1)).expect("expire");
        assert!(matches!(s.authenticate(&t), Err(AuthError::TokenExpired)));
        s.revoke_token(&t).expect("revoke");
        assert!(matches!(
            s.authenticate(&t),
            Err(AuthError::Unauthorized(_))
        ));
    }
}
