//! Per-account API tokens for the admin app's JSON API.
//!
//! A token is a random secret the app shows once, when it is made; the store never sees it,
//! only its SHA-256 hash (64 lowercase hex digits, computed by the caller), so neither a copy of
//! the database nor its backups can be used to call the API. A token acts as its account, with
//! the account's roles at the time of each request; whether the account is disabled, and what
//! its roles allow, is the caller's check on every use.
//!
//! Making and revoking a token are written to the audit log in the same transaction as the
//! change (`api_token.create`, `api_token.revoke`), with the account's school. Tokens are
//! revoked, never deleted. Using one records `last_used_at`, at most once a minute per token
//! ([`USE_RECORD_INTERVAL`]) so a busy script does not write on every call.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use sqlx::FromRow;
use sqlx::error::ErrorKind;

use crate::admin::{ActingUser, AdminAccountId};
use crate::model::{SchoolId, timestamp_from_us, timestamp_to_us};
use crate::store::{AUDIT_INSERT, Arg, Backend, audit_args, bind_args, validate_text, with_pool};
use crate::{Store, StoreError};

/// The longest token name, in characters.
pub const MAX_TOKEN_NAME: usize = 100;
/// The most tokens one account may hold unrevoked at once.
pub const MAX_ACTIVE_TOKENS: i64 = 20;
/// A use is recorded only when the last recorded use is at least this old.
pub const USE_RECORD_INTERVAL: SignedDuration = SignedDuration::from_secs(60);

/// An API token's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiTokenId(pub i64);

impl fmt::Display for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored token, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Database id.
    pub id: ApiTokenId,
    /// The account it acts as.
    pub account: AdminAccountId,
    /// What its owner called it ("timetable sync", "trust dashboard").
    pub name: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was last used (to within [`USE_RECORD_INTERVAL`]), if ever.
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

impl ApiToken {
    /// Whether the token may still be used (its account permitting).
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

const TOKEN_COLUMNS: &str =
    "id, account_id, name, created_at_us, last_used_at_us, revoked_at_us, revoked_by";

#[derive(FromRow)]
struct TokenRow {
    id: i64,
    account_id: i64,
    name: String,
    created_at_us: i64,
    last_used_at_us: Option<i64>,
    revoked_at_us: Option<i64>,
    revoked_by: Option<String>,
}

impl TokenRow {
    fn into_token(self) -> Result<ApiToken, StoreError> {
        let at = |us: Option<i64>, what: &str| us.map(|us| timestamp_from_us(us, what)).transpose();
        Ok(ApiToken {
            id: ApiTokenId(self.id),
            account: AdminAccountId(self.account_id),
            name: self.name,
            created_at: timestamp_from_us(self.created_at_us, "API token creation time")?,
            last_used_at: at(self.last_used_at_us, "API token last use")?,
            revoked_at: at(self.revoked_at_us, "API token revocation time")?,
            revoked_by: self.revoked_by,
        })
    }
}

/// Why making a token was refused, decided inside the transaction.
enum Refusal {
    NoAccount,
    Disabled,
    TooMany,
}

impl Store {
    /// Stores a new token for `account` under `name`, by its SHA-256 hash (64 lowercase hex
    /// digits), and audits it as `api_token.create` in the same transaction. Refused with
    /// [`StoreError::InvalidInput`] for an unknown or disabled account, a bad name or hash, or
    /// an account already holding [`MAX_ACTIVE_TOKENS`] unrevoked tokens.
    pub async fn create_api_token(
        &self,
        account: AdminAccountId,
        name: &str,
        token_hash: &str,
        by: &ActingUser,
    ) -> Result<ApiTokenId, StoreError> {
        validate_acting(by)?;
        validate_text("API token name", name, MAX_TOKEN_NAME)?;
        validate_hash(token_hash)?;
        let now = Timestamp::now();
        let now_us = timestamp_to_us(now);
        let result: Result<Result<i64, Refusal>, sqlx::Error> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool.begin_with(self.backend.begin_write_sql()).await?;
                let owner: Option<(Option<i64>, String, bool)> = sqlx::query_as(
                    "SELECT school_id, username, disabled FROM admin_accounts WHERE id = $1",
                )
                .bind(account.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((school, username, disabled)) = owner else {
                    tx.rollback().await?;
                    return Ok(Err(Refusal::NoAccount));
                };
                if disabled {
                    tx.rollback().await?;
                    return Ok(Err(Refusal::Disabled));
                }
                let active: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM api_tokens WHERE account_id = $1 AND revoked_at_us IS NULL",
                )
                .bind(account.0)
                .fetch_one(&mut *tx)
                .await?;
                if active >= MAX_ACTIVE_TOKENS {
                    tx.rollback().await?;
                    return Ok(Err(Refusal::TooMany));
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_tokens (account_id, name, token_hash, created_at_us) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(account.0)
                .bind(name)
                .bind(token_hash)
                .bind(now_us)
                .fetch_one(&mut *tx)
                .await?;
                let target = format!("api_token:{id}");
                let detail = format!("account={username:?} name={name:?}");
                let audit = audit_args(
                    school.map(SchoolId),
                    now,
                    &by.name,
                    "api_token.create",
                    &target,
                    &detail,
                    by.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(Ok(id))
            }
            .await
        });
        match result {
            Ok(Ok(id)) => Ok(ApiTokenId(id)),
            Ok(Err(Refusal::NoAccount)) => Err(StoreError::invalid(
                "account",
                format!("there is no admin account {account}"),
            )),
            Ok(Err(Refusal::Disabled)) => Err(StoreError::invalid(
                "account",
                "the account is disabled; a disabled account cannot hold API tokens",
            )),
            Ok(Err(Refusal::TooMany)) => Err(StoreError::invalid(
                "API tokens",
                format!(
                    "the account already holds {MAX_ACTIVE_TOKENS} tokens; revoke one it no longer needs first"
                ),
            )),
            Err(sqlx::Error::Database(db)) if db.kind() == ErrorKind::UniqueViolation => {
                Err(StoreError::invalid(
                    "API token",
                    "a token with this hash exists already; make a new random token",
                ))
            }
            Err(e) => Err(StoreError::query("creating an API token")(e)),
        }
    }

    /// An account's tokens, revoked ones included, newest first.
    pub async fn api_tokens(&self, account: AdminAccountId) -> Result<Vec<ApiToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE account_id = $1 \
             ORDER BY created_at_us DESC, id DESC"
        );
        let rows: Vec<TokenRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(account.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("listing API tokens"))?;
        rows.into_iter().map(TokenRow::into_token).collect()
    }

    /// The unrevoked token with this hash, if there is one. Anything that is not a hash finds
    /// nothing. Whether its account may still use it is the caller's check.
    pub async fn active_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        if validate_hash(token_hash).is_err() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at_us IS NULL"
        );
        let row: Option<TokenRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token_hash).fetch_optional(pool).await
        })
        .map_err(StoreError::query("looking up an API token"))?;
        row.map(TokenRow::into_token).transpose()
    }

    /// Revokes one of `account`'s tokens and audits it as `api_token.revoke` in the same
    /// transaction. `false` (and no audit record) when the account has no such unrevoked token.
    pub async fn revoke_api_token(
        &self,
        account: AdminAccountId,
        id: ApiTokenId,
        by: &ActingUser,
    ) -> Result<bool, StoreError> {
        validate_acting(by)?;
        let now = Timestamp::now();
        let now_us = timestamp_to_us(now);
        let result: Result<bool, sqlx::Error> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool.begin_with(self.backend.begin_write_sql()).await?;
                let row: Option<(String, Option<i64>, String)> = sqlx::query_as(
                    "UPDATE api_tokens SET revoked_at_us = $1, revoked_by = $2 \
                     WHERE id = $3 AND account_id = $4 AND revoked_at_us IS NULL \
                     RETURNING name, \
                     (SELECT school_id FROM admin_accounts WHERE admin_accounts.id = $4), \
                     (SELECT username FROM admin_accounts WHERE admin_accounts.id = $4)",
                )
                .bind(now_us)
                .bind(&by.name)
                .bind(id.0)
                .bind(account.0)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((name, school, username)) = row else {
                    tx.rollback().await?;
                    return Ok(false);
                };
                let target = format!("api_token:{id}");
                let detail = format!("account={username:?} name={name:?}");
                let audit = audit_args(
                    school.map(SchoolId),
                    now,
                    &by.name,
                    "api_token.revoke",
                    &target,
                    &detail,
                    by.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(true)
            }
            .await
        });
        result.map_err(StoreError::query("revoking an API token"))
    }

    /// Records that a token was used at `at`, unless a use within [`USE_RECORD_INTERVAL`]
    /// before it is already recorded. `true` when it wrote.
    pub async fn record_api_token_use(
        &self,
        id: ApiTokenId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let at_us = timestamp_to_us(at);
        let stale_before = at_us.saturating_sub(USE_RECORD_INTERVAL.as_micros() as i64);
        const SQL: &str = "UPDATE api_tokens SET last_used_at_us = $1 \
             WHERE id = $2 AND (last_used_at_us IS NULL OR last_used_at_us <= $3)";
        let changed = with_pool!(&self.backend, pool => {
            sqlx::query(SQL)
                .bind(at_us)
                .bind(id.0)
                .bind(stale_before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("recording the use of an API token"))?;
        Ok(changed > 0)
    }
}

/// The actor's name and address go into the audit log: present, bounded, no control
/// characters (as every audited change of the admin records).
fn validate_acting(by: &ActingUser) -> Result<(), StoreError> {
    validate_text("acting user", &by.name, 200)?;
    if let Some(addr) = &by.from_addr {
        validate_text("acting user's address", addr, 100)?;
    }
    Ok(())
}

/// A SHA-256 hash as 64 lowercase hex digits.
fn validate_hash(hash: &str) -> Result<(), StoreError> {
    let ok = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "API token hash",
            "it must be the token's SHA-256 hash as 64 lowercase hex digits; never store the token itself",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_checked() {
        assert!(validate_hash(&"ab".repeat(32)).is_ok());
        assert!(validate_hash(&"AB".repeat(32)).is_err());
        assert!(validate_hash("hr_notahash").is_err());
        assert!(validate_hash(&"a".repeat(63)).is_err());
    }
}
