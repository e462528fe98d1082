//! The harness every store test file shares: a fresh database per test on every backend, and
//! the small builders the scenarios have in common.
//!
//! Each scenario is an `async fn(&TestDb)`; `backend_tests!` turns it into one test on a fresh
//! SQLite file (`sqlite::<name>`) and one on a fresh PostgreSQL database (`postgres::<name>`),
//! created on the server named by `HEDGEROW_TEST_POSTGRES_URL` and dropped afterwards. Without
//! that variable the PostgreSQL variants print a loud note and pass, unless
//! `HEDGEROW_REQUIRE_POSTGRES` is set, in which case they fail: CI must not silently test only
//! half the backends.

// Each test file is its own crate and uses only some of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use hedgerow_store::{
    ActingUser, ActivityEvent, EventSource, Reader, SchoolId, Store, StoreError, Verdict,
};
use jiff::Timestamp;
use sqlx::{AssertSqlSafe, Connection};
use tempfile::TempDir;

pub const POSTGRES_URL_VAR: &str = "HEDGEROW_TEST_POSTGRES_URL";
pub const REQUIRE_POSTGRES_VAR: &str = "HEDGEROW_REQUIRE_POSTGRES";

/// A well-formed Argon2id hash for accounts the tests create (the store never hashes itself).
pub const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

/// A fresh database for one test, with what is needed to reach it behind the store's back.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    kind: Kind,
}

enum Kind {
    Sqlite { path: PathBuf, _dir: TempDir },
    Postgres { admin_url: String, database: String },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create temp dir");
        let path = dir.path().join("hedgerow.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::open(&url).await.expect("open sqlite store");
        TestDb {
            store,
            url,
            kind: Kind::Sqlite { path, _dir: dir },
        }
    }

    /// `None` when no server is configured and none is required.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            if std::env::var_os(REQUIRE_POSTGRES_VAR).is_some() {
                panic!(
                    "{REQUIRE_POSTGRES_VAR} is set but {POSTGRES_URL_VAR} is not: start a test server with `eval \"$(scripts/test-env.sh --print-env)\"`"
                );
            }
            // Straight to the stderr handle: the test harness swallows `eprintln!` output of
            // passing tests, and this note must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!\n!!! SKIPPING PostgreSQL variant: {POSTGRES_URL_VAR} is not set.\n!!! Run `eval \"$(scripts/test-env.sh --print-env)\"` to test PostgreSQL too.\n!!!!!!!!"
            );
            return None;
        };
        // Process id, sequence and clock keep names apart across the test binaries, which
        // run at the same time against the same server.
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let database = format!(
            "hedgerow_test_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            Timestamp::now().as_microsecond() % 1_000_000_000
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the PostgreSQL test server");
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &database);
        let store = Store::open(&url).await.expect("open postgres store");
        Some(TestDb {
            store,
            url,
            kind: Kind::Postgres {
                admin_url,
                database,
            },
        })
    }

    /// Runs raw SQL on a separate connection, as a hand-editing administrator would.
    pub async fn raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        match &self.kind {
            Kind::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            }
            Kind::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            }
        }
    }

    /// The first column of every row of `sql` as text, read on a separate connection behind
    /// the store's back.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        match &self.kind {
            Kind::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("connect to sqlite");
                let rows: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .expect("query");
                let _ = conn.close().await;
                rows.into_iter().map(|r| r.0).collect()
            }
            Kind::Postgres { .. } => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect to postgres");
                let rows: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .expect("query");
                let _ = conn.close().await;
                rows.into_iter().map(|r| r.0).collect()
            }
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.kind, Kind::Sqlite { .. })
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Kind::Postgres {
            admin_url,
            database,
        } = self.kind
        {
            // Best effort: a leftover database only costs disk on a throw-away server.
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
                let _ = admin.close().await;
            }
        }
    }
}

/// The server URL with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// One test per backend for each named `async fn(&TestDb)` of the calling file.
// Not every test file runs its scenarios through the macro.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::common::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use backend_tests;

pub async fn school(store: &Store, slug: &str) -> SchoolId {
    store
        .ensure_school(slug, &format!("School {slug}"), "Europe/London")
        .await
        .expect("ensure school")
}

/// The head teacher, acting from a school address.
pub fn head() -> ActingUser {
    ActingUser {
        name: "head".to_owned(),
        from_addr: Some("10.9.8.7".to_owned()),
    }
}

/// A designated safeguarding lead reading for `purpose`.
pub fn reader(purpose: &str) -> Reader {
    Reader {
        actor: "staff:dsl".to_owned(),
        from_addr: Some("10.1.2.3".to_owned()),
        purpose: purpose.to_owned(),
    }
}

pub fn t0() -> Timestamp {
    // A fixed, microsecond-precise instant: the store keeps microseconds, so round trips
    // must compare equal.
    Timestamp::from_microsecond(1_767_000_000_123_456).expect("valid timestamp")
}

/// A typical DNS event with only the usual fields set.
pub fn event(
    school: SchoolId,
    at: Timestamp,
    user: Option<&str>,
    verdict: Verdict,
) -> ActivityEvent {
    ActivityEvent {
        school,
        at,
        source: EventSource::Dns,
        client_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
        user: user.map(str::to_owned),
        device: None,
        group: None,
        host: "example.org".to_owned(),
        url: None,
        method: None,
        qtype: Some("A".to_owned()),
        category: None,
        verdict,
        rule: "default".to_owned(),
        reason: None,
        search_term: None,
        status: None,
        bytes: None,
        duration_us: None,
        page_title: None,
    }
}

/// The field an `InvalidInput` error names; panics on any other error.
pub fn invalid_field(e: StoreError) -> &'static str {
    match e {
        StoreError::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}
