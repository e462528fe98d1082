//! API tokens in the store, run against every backend like `tests/admin.rs`: each scenario is
//! an `async fn(&TestDb)` run once on a fresh SQLite file and once on a fresh PostgreSQL
//! database (from `HEDGEROW_TEST_POSTGRES_URL`; skipped loudly without it unless
//! `HEDGEROW_REQUIRE_POSTGRES` is set).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use hedgerow_store::{
    ActingUser, AdminAccountId, ApiTokenId, MAX_ACTIVE_TOKENS, NewAdminAccount, SchoolId, Store,
    StoreError, USE_RECORD_INTERVAL,
};
use jiff::{SignedDuration, Timestamp};
use sqlx::{AssertSqlSafe, Connection};
use tempfile::TempDir;

const POSTGRES_URL_VAR: &str = "HEDGEROW_TEST_POSTGRES_URL";
const REQUIRE_POSTGRES_VAR: &str = "HEDGEROW_REQUIRE_POSTGRES";

/// A fresh database for one test, with what is needed to reach it behind the store's back.
struct TestDb {
    store: Store,
    url: String,
    kind: Kind,
}

enum Kind {
    Sqlite { path: PathBuf, _dir: TempDir },
    Postgres { admin_url: String, database: String },
}

impl TestDb {
    async fn sqlite() -> TestDb {
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
    async fn postgres() -> Option<TestDb> {
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

    /// The first column of every row of `sql` as text, read on a separate connection behind
    /// the store's back.
    async fn texts(&self, sql: &str) -> Vec<String> {
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

    async fn cleanup(self) {
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
fn with_database(url: &str, database: &str) -> String {
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

macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

backend_tests!(
    tokens_round_trip_revoke_and_audit,
    token_input_is_checked,
    active_tokens_are_bounded_per_account,
    token_use_is_recorded_at_most_once_a_minute,
    the_database_holds_only_hashes,
);

const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

async fn school(store: &Store, slug: &str) -> SchoolId {
    store
        .ensure_school(slug, &format!("School {slug}"), "Europe/London")
        .await
        .expect("ensure school")
}

fn head() -> ActingUser {
    ActingUser {
        name: "head".to_owned(),
        from_addr: Some("10.9.8.7".to_owned()),
    }
}

async fn account(store: &Store, school: Option<SchoolId>, username: &str) -> AdminAccountId {
    store
        .create_admin_account(
            &NewAdminAccount {
                school,
                username: username.to_owned(),
                display_name: format!("{username} (test)"),
                email: format!("{username}@example.org"),
                password_hash: PASSWORD_HASH.to_owned(),
                roles: vec!["network-manager".to_owned()],
            },
            &head(),
        )
        .await
        .expect("create account")
}

/// A distinct hash-shaped value per seed (the store never hashes anything itself).
fn hash(seed: u32) -> String {
    format!("{seed:064x}")
}

fn invalid_field(e: StoreError) -> &'static str {
    match e {
        StoreError::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// The newest audit records (actor, action, target, address) of a school, or of every school
/// and the store-wide ones with `None`, newest first.
async fn audit(
    store: &Store,
    school: Option<SchoolId>,
) -> Vec<(String, String, String, Option<String>)> {
    store
        .audit_entries(school, 100)
        .await
        .expect("audit entries")
        .into_iter()
        .map(|r| {
            (
                r.entry.actor,
                r.entry.action,
                r.entry.target,
                r.entry.from_addr,
            )
        })
        .collect()
}

async fn tokens_round_trip_revoke_and_audit(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    let other = account(s, Some(a), "other").await;
    let before = Timestamp::now();
    let id = s
        .create_api_token(nm, "timetable <sync>", &hash(1), &head())
        .await
        .expect("create token");
    let listed = s.api_tokens(nm).await.expect("list");
    assert_eq!(listed.len(), 1);
    let token = &listed[0];
    assert_eq!(token.id, id);
    assert_eq!(token.account, nm);
    assert_eq!(token.name, "timetable <sync>", "stored exactly as given");
    assert!(token.created_at >= before && token.created_at <= Timestamp::now());
    assert_eq!(token.last_used_at, None);
    assert!(token.is_active());
    assert!(
        s.api_tokens(other).await.expect("list").is_empty(),
        "tokens are per account"
    );

    let found = s.active_api_token(&hash(1)).await.expect("look up");
    assert_eq!(found.as_ref(), Some(token));
    assert_eq!(s.active_api_token(&hash(2)).await.expect("look up"), None);
    assert_eq!(
        s.active_api_token("hr_not-a-hash").await.expect("look up"),
        None
    );
    assert_eq!(s.active_api_token("").await.expect("look up"), None);

    let created = audit(s, Some(a)).await;
    assert_eq!(
        created[0],
        (
            "head".to_owned(),
            "api_token.create".to_owned(),
            format!("api_token:{id}"),
            Some("10.9.8.7".to_owned())
        )
    );

    // Another account cannot revoke it, and nothing is audited for the attempt.
    assert!(
        !s.revoke_api_token(other, id, &head())
            .await
            .expect("revoke")
    );
    assert_eq!(audit(s, Some(a)).await.len(), created.len());
    assert!(s.revoke_api_token(nm, id, &head()).await.expect("revoke"));
    assert!(
        !s.revoke_api_token(nm, id, &head())
            .await
            .expect("revoke twice"),
        "once only"
    );
    assert!(
        !s.revoke_api_token(nm, ApiTokenId(9_999), &head())
            .await
            .expect("revoke")
    );
    assert_eq!(
        s.active_api_token(&hash(1)).await.expect("look up"),
        None,
        "revoked"
    );
    let listed = s.api_tokens(nm).await.expect("list");
    assert!(!listed[0].is_active());
    assert!(listed[0].revoked_at.is_some());
    assert_eq!(listed[0].revoked_by.as_deref(), Some("head"));
    let revoked = audit(s, Some(a)).await;
    assert_eq!(revoked.len(), created.len() + 1);
    assert_eq!(revoked[0].1, "api_token.revoke");
    assert_eq!(revoked[0].2, format!("api_token:{id}"));

    // A trust-wide account's token is audited store-wide.
    let trust = account(s, None, "trust").await;
    let trust_token = s
        .create_api_token(
            trust,
            "trust dashboard",
            &hash(3),
            &ActingUser::new("trust"),
        )
        .await
        .expect("create trust token");
    let everything = audit(s, None).await;
    assert!(
        everything
            .iter()
            .any(|e| e.1 == "api_token.create" && e.2 == format!("api_token:{trust_token}")),
        "{everything:?}"
    );
    assert!(
        !audit(s, Some(a))
            .await
            .iter()
            .any(|e| e.2 == format!("api_token:{trust_token}")),
        "not in a school's log"
    );
}

async fn token_input_is_checked(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    for bad in [
        "",
        "hr_abcdef",
        &"AB".repeat(32),
        &"a".repeat(65),
        &"g".repeat(64),
    ] {
        let e = s
            .create_api_token(nm, "name", bad, &head())
            .await
            .unwrap_err();
        assert_eq!(invalid_field(e), "API token hash", "{bad:?}");
    }
    for bad in ["", "   ", "line\nbreak", &"n".repeat(101)] {
        let e = s
            .create_api_token(nm, bad, &hash(1), &head())
            .await
            .unwrap_err();
        assert_eq!(invalid_field(e), "API token name", "{bad:?}");
    }
    let e = s
        .create_api_token(AdminAccountId(9_999), "name", &hash(1), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "account");
    let e = s
        .create_api_token(nm, "name", &hash(1), &ActingUser::new(""))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "acting user");

    s.create_api_token(nm, "first", &hash(1), &head())
        .await
        .expect("create");
    let e = s
        .create_api_token(nm, "again", &hash(1), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "API token", "the same hash twice");

    // A disabled account can hold no new token (and the caller refuses its old ones).
    assert!(
        s.set_admin_disabled(nm, true, &head())
            .await
            .expect("disable")
    );
    let e = s
        .create_api_token(nm, "later", &hash(2), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "account");
    assert_eq!(
        s.api_tokens(nm).await.expect("list").len(),
        1,
        "nothing half-made"
    );
}

async fn active_tokens_are_bounded_per_account(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    let limit = u32::try_from(MAX_ACTIVE_TOKENS).expect("small");
    let mut first = None;
    for n in 0..limit {
        let id = s
            .create_api_token(nm, &format!("token {n}"), &hash(n), &head())
            .await
            .expect("create within the limit");
        first.get_or_insert(id);
    }
    let e = s
        .create_api_token(nm, "one too many", &hash(limit), &head())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "API tokens");
    assert!(
        s.revoke_api_token(nm, first.expect("made some"), &head())
            .await
            .expect("revoke")
    );
    s.create_api_token(nm, "replacement", &hash(limit), &head())
        .await
        .expect("room again after a revocation");
    let listed = s.api_tokens(nm).await.expect("list");
    assert_eq!(listed.len(), limit as usize + 1);
    assert_eq!(listed[0].name, "replacement", "newest first");
}

async fn token_use_is_recorded_at_most_once_a_minute(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    let id = s
        .create_api_token(nm, "script", &hash(1), &head())
        .await
        .expect("create");
    // Times are stored to the microsecond.
    let t0 = Timestamp::from_microsecond(Timestamp::now().as_microsecond()).expect("in range");
    assert!(s.record_api_token_use(id, t0).await.expect("first use"));
    let soon = t0 + SignedDuration::from_secs(10);
    assert!(!s.record_api_token_use(id, soon).await.expect("soon after"));
    let token = s
        .active_api_token(&hash(1))
        .await
        .expect("look up")
        .expect("active");
    assert_eq!(token.last_used_at, Some(t0));
    let later = t0 + USE_RECORD_INTERVAL + SignedDuration::from_secs(1);
    assert!(s.record_api_token_use(id, later).await.expect("later"));
    let token = s
        .active_api_token(&hash(1))
        .await
        .expect("look up")
        .expect("active");
    assert_eq!(token.last_used_at, Some(later));
    assert!(
        !s.record_api_token_use(ApiTokenId(9_999), later)
            .await
            .expect("unknown")
    );
}

async fn the_database_holds_only_hashes(db: &TestDb) {
    let s = &db.store;
    let a = school(s, "alpha").await;
    let nm = account(s, Some(a), "nm").await;
    s.create_api_token(nm, "script", &hash(7), &head())
        .await
        .expect("create");
    assert_eq!(
        db.texts("SELECT token_hash FROM api_tokens").await,
        vec![hash(7)]
    );
    // The audit log names the token by id and name, never by its hash.
    let details = db.texts("SELECT detail FROM audit_log").await;
    assert!(details.iter().all(|d| !d.contains(&hash(7))), "{details:?}");
}
