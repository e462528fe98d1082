//! The store's error type: every variant says what went wrong and what an operator can do.

use std::path::PathBuf;

use crate::{AlertId, AlertStatus};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names neither SQLite nor PostgreSQL.
    #[error(
        "unsupported database URL {url:?}: use sqlite:///path/to/hedgerow.db or postgres://user@host:5432/dbname"
    )]
    UnsupportedUrl {
        /// The URL with any password removed.
        url: String,
    },

    /// The URL looked like one we support but could not be parsed.
    #[error("invalid database URL {url:?}: {source}; check its spelling and escaping")]
    InvalidUrl {
        /// The URL with any password removed.
        url: String,
        /// What sqlx disliked about it.
        #[source]
        source: sqlx::Error,
    },

    /// The SQLite file's directory is missing; SQLite only creates the file itself.
    #[error(
        "the directory {} for the SQLite database does not exist: create it or choose another path",
        dir.display()
    )]
    MissingDirectory {
        /// The directory that should hold the database file.
        dir: PathBuf,
    },

    /// Opening the first connection failed.
    #[error(
        "could not open the {backend} database {url:?}: {source}; check the URL, that the server is running, and the credentials or file permissions"
    )]
    Connect {
        /// "sqlite" or "postgres".
        backend: &'static str,
        /// The URL (or path) with any password removed.
        url: String,
        /// The underlying failure.
        #[source]
        source: sqlx::Error,
    },

    /// Bringing the schema up to date failed; the database is left at its previous version.
    #[error(
        "could not bring the {backend} database schema up to date: {source}; if the database was created by a newer Hedgerow, upgrade Hedgerow"
    )]
    Migrate {
        /// "sqlite" or "postgres".
        backend: &'static str,
        /// The underlying failure.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A statement failed.
    #[error("database error while {context}: {source}")]
    Query {
        /// What the store was doing, e.g. "reading activity events".
        context: &'static str,
        /// The underlying failure.
        #[source]
        source: sqlx::Error,
    },

    /// A caller passed a value the store will not accept.
    #[error("invalid {field}: {problem}")]
    InvalidInput {
        /// Which argument or field was wrong.
        field: &'static str,
        /// What was wrong with it and how to fix it.
        problem: String,
    },

    /// A stored row could not be turned back into a value; someone edited the database by hand
    /// or it was written by an incompatible version.
    #[error(
        "the database holds a value the store cannot read ({0}); it may have been edited by hand or written by a newer Hedgerow"
    )]
    Corrupt(String),

    /// A sign-in name matches accounts in more than one school (or, ignoring case, more than
    /// one account in a school), so a sign-in cannot tell which is meant.
    #[error(
        "the username {username:?} belongs to more than one account ({}); sign-in cannot tell them apart, so rename all but one (for example with a school prefix)",
        schools.join(", ")
    )]
    AmbiguousUsername {
        /// The name as given at sign-in.
        username: String,
        /// The slugs of the schools holding a matching account (one per account).
        schools: Vec<String>,
    },

    /// The school has no record with this id (or it belongs to another school).
    #[error(
        "there is no {what} #{id} in this school; check the link, or whether it belongs to another school"
    )]
    NotFound {
        /// What was looked for, e.g. "alert".
        what: &'static str,
        /// The id asked for.
        id: i64,
    },

    /// A step that must say why was given no note.
    #[error("a note is required to {action}: say what you found and what was done")]
    NoteRequired {
        /// What was being done, e.g. "triage an alert".
        action: &'static str,
    },

    /// Triage asked for a move the alert's status does not allow.
    #[error(
        "alert #{id} is {} and cannot be set to {}: a new alert can be marked triaged, false positive or no further action, and a decided alert can only be reopened (set back to new) first",
        from.label(),
        to.label()
    )]
    AlertTransition {
        /// The alert.
        id: AlertId,
        /// Its status now.
        from: AlertStatus,
        /// The status asked for.
        to: AlertStatus,
    },

    /// Someone else changed the alert between reading and updating it.
    #[error("alert #{id} was changed by someone else at the same moment; reload it and try again")]
    AlertChanged {
        /// The alert.
        id: AlertId,
    },

    /// The event writer gave up at shutdown with events it had accepted but could not write.
    #[error(
        "the activity writer stopped with {unwritten} accepted events not saved because the database kept failing (last error: {last_error}); check the database and its disk"
    )]
    ShutdownIncomplete {
        /// How many accepted events were lost.
        unwritten: u64,
        /// The last write error, rendered.
        last_error: String,
    },

    /// The event writer's background thread could not start or died unexpectedly.
    #[error("the activity writer stopped: {0}")]
    WriterTask(String),
}

impl StoreError {
    /// Builds a `map_err` adaptor that labels a sqlx failure with what the store was doing.
    pub(crate) fn query(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { context, source }
    }

    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> StoreError {
        StoreError::InvalidInput {
            field,
            problem: problem.into(),
        }
    }
}

/// Removes the password from a `scheme://user:password@host/...` URL so it can go into
/// error messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..rest_start],
        &userinfo[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/x?sslmode=require"),
            "postgres://bob:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact_url("postgres://bob@db/x"), "postgres://bob@db/x");
        assert_eq!(
            redact_url("sqlite:///var/lib/h.db"),
            "sqlite:///var/lib/h.db"
        );
        assert_eq!(redact_url("sqlite:h.db"), "sqlite:h.db");
    }
}
