//! What the store's write paths share: a write transaction on either backend, an audit entry
//! written inside it, and the checks every module makes on keys, free text and the acting
//! user before anything is written.

use crate::store::validate_text;
use crate::{ActingUser, StoreError};

/// Appends one audit entry inside the open transaction `$tx`, so the change and the record of
/// it are committed together or not at all.
macro_rules! audit {
    ($tx:ident, $school:expr, $actor:expr, $from:expr, $action:expr, $target:expr, $detail:expr) => {{
        let target: &str = &$target;
        let detail = $detail;
        let detail: &str = detail.as_ref();
        let audit = $crate::store::audit_args(
            Some($school),
            jiff::Timestamp::now(),
            $actor,
            $action,
            target,
            detail,
            $from,
        );
        $crate::store::bind_args!(sqlx::query($crate::store::AUDIT_INSERT), audit)
            .execute(&mut *$tx)
            .await
            .map_err(|e| $crate::store::unknown_school_or(e, $school, "writing the audit log"))?;
    }};
}
pub(crate) use audit;

/// Runs `$body` in a write transaction `$tx` on whichever backend the store holds, committing
/// when it succeeds; evaluates to `Result<T, StoreError>`.
macro_rules! in_tx {
    ($store:expr, $what:literal, |$tx:ident| $body:block) => {
        $crate::store::with_pool!(&$store.backend, pool => {
            async {
                let mut $tx = pool
                    .begin_with($store.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query(concat!("starting ", $what)))?;
                let out = async { $body }.await?;
                $tx.commit()
                    .await
                    .map_err(StoreError::query(concat!("committing ", $what)))?;
                Ok::<_, StoreError>(out)
            }
            .await
        })
    };
}
pub(crate) use in_tx;

/// The longest name of an acting user the audit log keeps.
const ACTOR_CHARS: usize = 200;

pub(crate) fn check_actor(by: &ActingUser) -> Result<(), StoreError> {
    validate_text("acting user", &by.name, ACTOR_CHARS)?;
    if let Some(addr) = &by.from_addr {
        validate_text("acting user's address", addr, 100)?;
    }
    Ok(())
}

/// A vocabulary key (a record type, an audience, a consent state) from its closed set.
pub(crate) fn check_key(
    field: &'static str,
    value: &str,
    allowed: &[&str],
) -> Result<(), StoreError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(StoreError::invalid(
            field,
            format!(
                "{value:?} is not one of {}; choose one of those",
                allowed.join(", ")
            ),
        ))
    }
}

/// Free text that may be empty and may hold line breaks, within `max` characters.
pub(crate) fn check_long(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.chars().count() > max {
        return Err(StoreError::invalid(
            field,
            format!("it is longer than {max} characters; shorten it"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(StoreError::invalid(
            field,
            "it contains control characters; remove them",
        ));
    }
    Ok(())
}
