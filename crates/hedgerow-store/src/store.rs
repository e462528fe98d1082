//! The [`Store`]: one API over SQLite or PostgreSQL.
//!
//! SQL text is written once and shared by both backends: SQLite accepts PostgreSQL's
//! `$1`-style placeholders, both support `ON CONFLICT ... RETURNING`, and the schemas use the
//! same column names with i64-compatible integer types. What still differs (connection set-up,
//! migrations, how to start a write transaction) lives in [`Backend`]. The `with_pool!` macro
//! expands one body for each pool type, so the per-backend code cannot drift apart.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, FromRow};

use crate::StoreError;
use crate::error::redact_url;
use crate::model::{
    ActivityEvent, AuditEntry, AuditRecord, Device, DeviceId, EventFilter, EventSource, NewDevice,
    NewReviewRequest, NewUser, Reader, ReviewKind, ReviewRequest, ReviewRequestId, ReviewStatus,
    School, SchoolId, StoredEvent, User, UserId, UserKind, Verdict, timestamp_from_us,
    timestamp_to_us,
};

/// Pages the SQLite write-ahead log may grow to before it is copied into the database (the
/// default is 1,000). One batch of activity events dirties more than 1,000 pages (the host and
/// address indexes take rows at scattered places), so with the default every batch also
/// checkpointed and synced; at 10,000 (a WAL of up to about 40 MB on disk) the writer takes
/// about 13 % less CPU per event and a quarter more events a second (docs/benchmarks.md,
/// "Activity log writes"), at no cost in memory.
const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up. Long enough to
/// ride out a large purge; short enough that a wedged process shows up as errors, not a hang.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Columns written per activity event; `EVENT_ROWS_PER_INSERT * EVENT_COLUMNS` must stay under
/// SQLite's limit of 32,766 bound parameters per statement (PostgreSQL allows 65,535). The
/// activity writer's batch is one such statement (see [`Store::insert_events`]).
const EVENT_COLUMNS: usize = 20;
pub const EVENT_ROWS_PER_INSERT: usize = 1_600;
const _: () = assert!(EVENT_COLUMNS * EVENT_ROWS_PER_INSERT <= 32_766);

const EVENT_INSERT_PREFIX: &str = "INSERT INTO activity_events (school_id, at_us, source, \
     client_ip, user_name, device_name, group_key, host, url, method, qtype, category, verdict, \
     rule, reason, search_term, status, bytes, duration_us, page_title) VALUES ";

/// The statements for a full chunk, built once because the writer sends many of them: one with
/// `$N` parameters (PostgreSQL) and one with anonymous `?` parameters (SQLite). SQLite looks a
/// numbered parameter up by a linear scan of every parameter name, which makes binding a
/// 19,000-parameter statement quadratic; anonymous parameters have no names to scan.
static FULL_EVENT_INSERT_NUMBERED: LazyLock<String> =
    LazyLock::new(|| event_insert_sql(EVENT_ROWS_PER_INSERT, Placeholders::Numbered));
static FULL_EVENT_INSERT_ANONYMOUS: LazyLock<String> =
    LazyLock::new(|| event_insert_sql(EVENT_ROWS_PER_INSERT, Placeholders::Anonymous));

/// How a statement's parameters are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placeholders {
    /// `$1, $2, ...`: PostgreSQL's only form.
    Numbered,
    /// `?, ?, ...`: bound in order; SQLite binds these without looking names up.
    Anonymous,
}

pub(crate) const EVENT_SELECT: &str = "SELECT id, school_id, at_us, source, client_ip, user_name, \
     device_name, group_key, host, url, method, qtype, category, verdict, rule, reason, \
     search_term, status, bytes, duration_us, page_title FROM activity_events";

pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audit_log (school_id, at_us, actor, action, target, \
     detail, from_addr) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Actor recorded for retention purges, which run on a timer rather than for a person.
const RETENTION_ACTOR: &str = "system:retention";

/// A handle to the database. Cloning is cheap and clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// The one connection activity batches are written on, when they have one of their own:
    /// always for a SQLite file, and for PostgreSQL on the activity writer's own runtime (see
    /// [`Store::with_own_activity_connection`]). A batch is a 1,600-row statement whose
    /// prepared program takes megabytes; on the shared pool every connection the writer
    /// happened to get would keep its own copy.
    activity_writes: Option<Backend>,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The statement that opens a transaction which will write.
    ///
    /// SQLite's default deferred transaction takes the write lock only at the first write, and
    /// if another connection committed in between, the upgrade fails at once with SQLITE_BUSY
    /// (busy_timeout does not help). Taking the lock up front makes it wait instead.
    pub(crate) fn begin_write_sql(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "BEGIN IMMEDIATE",
            Backend::Postgres(_) => "BEGIN",
        }
    }
}

/// Runs the same body against whichever pool the store holds, binding it to `$pool`.
macro_rules! with_pool {
    ($backend:expr, $pool:ident => $body:expr) => {
        match $backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// A value to bind. Arguments are collected once as `Arg`s and bound by `bind_args!` inside
/// each backend's arm, so building a query never needs to know the backend.
pub(crate) enum Arg<'a> {
    I64(i64),
    OptI64(Option<i64>),
    Str(&'a str),
    OptStr(Option<&'a str>),
    Owned(String),
    Bool(bool),
}

macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::I64(v) => query.bind(v),
                Arg::OptI64(v) => query.bind(v),
                Arg::Str(v) => query.bind(v),
                Arg::OptStr(v) => query.bind(v),
                Arg::Owned(v) => query.bind(v),
                Arg::Bool(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

#[derive(FromRow)]
struct SchoolRow {
    id: i64,
    slug: String,
    name: String,
    timezone: String,
    created_at_us: i64,
}

impl SchoolRow {
    fn into_school(self) -> Result<School, StoreError> {
        Ok(School {
            id: SchoolId(self.id),
            slug: self.slug,
            name: self.name,
            timezone: self.timezone,
            created_at: timestamp_from_us(self.created_at_us, "school creation time")?,
        })
    }
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    school_id: i64,
    username: String,
    display_name: String,
    kind: String,
    group_key: String,
    password_hash: Option<String>,
    demo_only: bool,
    created_at_us: i64,
    disabled: bool,
}

impl UserRow {
    fn into_user(self) -> Result<User, StoreError> {
        let kind = UserKind::parse(&self.kind).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "user {:?} has unknown kind {:?}",
                self.username, self.kind
            ))
        })?;
        Ok(User {
            id: UserId(self.id),
            school: SchoolId(self.school_id),
            username: self.username,
            display_name: self.display_name,
            kind,
            group_key: self.group_key,
            password_hash: self.password_hash,
            demo_only: self.demo_only,
            created_at: timestamp_from_us(self.created_at_us, "user creation time")?,
            disabled: self.disabled,
        })
    }
}

#[derive(FromRow)]
struct DeviceRow {
    id: i64,
    school_id: i64,
    name: String,
    kind: String,
    group_key: Option<String>,
    addresses: String,
    authenticated: bool,
    created_at_us: i64,
}

impl DeviceRow {
    fn into_device(self) -> Result<Device, StoreError> {
        Ok(Device {
            id: DeviceId(self.id),
            school: SchoolId(self.school_id),
            addresses: split_addresses(&self.addresses),
            name: self.name,
            kind: self.kind,
            group_key: self.group_key,
            authenticated: self.authenticated,
            created_at: timestamp_from_us(self.created_at_us, "device creation time")?,
        })
    }
}

/// An activity event as stored; shared by the plain reads here and the explorer's.
#[derive(FromRow)]
pub(crate) struct EventRow {
    id: i64,
    school_id: i64,
    at_us: i64,
    source: String,
    client_ip: String,
    user_name: Option<String>,
    device_name: Option<String>,
    group_key: Option<String>,
    host: String,
    url: Option<String>,
    method: Option<String>,
    qtype: Option<String>,
    category: Option<String>,
    verdict: String,
    rule: String,
    reason: Option<String>,
    search_term: Option<String>,
    status: Option<i64>,
    bytes: Option<i64>,
    duration_us: Option<i64>,
    page_title: Option<String>,
}

impl EventRow {
    pub(crate) fn into_event(self) -> Result<StoredEvent, StoreError> {
        let id = self.id;
        let corrupt = |what: &str, value: &dyn fmt::Debug| {
            StoreError::Corrupt(format!("activity event {id} has invalid {what} {value:?}"))
        };
        let source =
            EventSource::parse(&self.source).ok_or_else(|| corrupt("source", &self.source))?;
        let verdict =
            Verdict::parse(&self.verdict).ok_or_else(|| corrupt("verdict", &self.verdict))?;
        let client_ip = self
            .client_ip
            .parse()
            .map_err(|_| corrupt("client address", &self.client_ip))?;
        let status = self
            .status
            .map(u16::try_from)
            .transpose()
            .map_err(|_| corrupt("HTTP status", &self.status))?;
        let bytes = self
            .bytes
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt("byte count", &self.bytes))?;
        let duration_us = self
            .duration_us
            .map(u32::try_from)
            .transpose()
            .map_err(|_| corrupt("duration", &self.duration_us))?;
        Ok(StoredEvent {
            id,
            event: ActivityEvent {
                school: SchoolId(self.school_id),
                at: timestamp_from_us(self.at_us, "activity event time")?,
                source,
                client_ip,
                user: self.user_name,
                device: self.device_name,
                group: self.group_key,
                host: self.host,
                url: self.url,
                method: self.method,
                qtype: self.qtype,
                category: self.category,
                verdict,
                rule: self.rule,
                reason: self.reason,
                search_term: self.search_term,
                status,
                bytes,
                duration_us,
                page_title: self.page_title,
            },
        })
    }
}

const USER_COLUMNS: &str = "id, school_id, username, display_name, kind, group_key, \
     password_hash, demo_only, created_at_us, disabled";

const REVIEW_SELECT: &str = "SELECT id, school_id, created_at_us, requested_by_user, device, \
     client_addr, url, host, kind, verdict_at_request, category, rule, comment, status, \
     decided_by, decided_at_us, decision_note FROM review_requests";

#[derive(FromRow)]
struct ReviewRow {
    id: i64,
    school_id: i64,
    created_at_us: i64,
    requested_by_user: Option<String>,
    device: Option<String>,
    client_addr: String,
    url: String,
    host: String,
    kind: String,
    verdict_at_request: String,
    category: Option<String>,
    rule: Option<String>,
    comment: String,
    status: String,
    decided_by: Option<String>,
    decided_at_us: Option<i64>,
    decision_note: Option<String>,
}

impl ReviewRow {
    fn into_request(self) -> Result<ReviewRequest, StoreError> {
        let id = self.id;
        let corrupt = |what: &str, value: &dyn fmt::Debug| {
            StoreError::Corrupt(format!("review request {id} has invalid {what} {value:?}"))
        };
        let kind = ReviewKind::parse(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?;
        let verdict = match self.verdict_at_request.as_str() {
            "blocked" => Verdict::Block,
            "allowed" => Verdict::Allow,
            other => return Err(corrupt("verdict", &other)),
        };
        let status =
            ReviewStatus::parse(&self.status).ok_or_else(|| corrupt("status", &self.status))?;
        let client_addr = self
            .client_addr
            .parse()
            .map_err(|_| corrupt("client address", &self.client_addr))?;
        Ok(ReviewRequest {
            id: ReviewRequestId(id),
            request: NewReviewRequest {
                school: SchoolId(self.school_id),
                created_at: timestamp_from_us(self.created_at_us, "review request time")?,
                requested_by_user: self.requested_by_user,
                device: self.device,
                client_addr,
                url: self.url,
                host: self.host,
                kind,
                verdict_at_request: verdict,
                category: self.category,
                rule: self.rule,
                comment: self.comment,
            },
            status,
            decided_by: self.decided_by,
            decided_at: self
                .decided_at_us
                .map(|us| timestamp_from_us(us, "review decision time"))
                .transpose()?,
            decision_note: self.decision_note,
        })
    }
}

/// How a verdict is written in `review_requests.verdict_at_request`.
fn review_verdict(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Block => "blocked",
        Verdict::Allow => "allowed",
    }
}

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    school_id: Option<i64>,
    at_us: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
    from_addr: Option<String>,
}

impl AuditRow {
    fn into_record(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            id: self.id,
            entry: AuditEntry {
                school: self.school_id.map(SchoolId),
                at: timestamp_from_us(self.at_us, "audit entry time")?,
                actor: self.actor,
                action: self.action,
                target: self.target,
                detail: self.detail,
                from_addr: self.from_addr,
            },
        })
    }
}

impl Store {
    /// Opens (and if needed creates and migrates) the database named by `url`.
    ///
    /// Accepts `sqlite:///absolute/path.db`, `sqlite://relative/path.db` (query parameters such
    /// as `?mode=rwc` are allowed), `sqlite::memory:` (one connection, gone when closed), and
    /// `postgres://` / `postgresql://` URLs. A SQLite file is created if missing, but its
    /// directory must exist.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let url = url.trim();
        let shown = redact_url(url);
        if url.starts_with("sqlite:") {
            let options =
                SqliteConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
                    url: shown.clone(),
                    source,
                })?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            Store::open_sqlite(options, shown, in_memory).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options =
                PgConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
                    url: shown.clone(),
                    source,
                })?;
            Store::open_postgres(options, shown).await
        } else {
            Err(StoreError::UnsupportedUrl { url: shown })
        }
    }

    /// Opens (creating and migrating if needed) a SQLite database file.
    pub async fn open_sqlite_file(path: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Store::open_sqlite(options, path.display().to_string(), false).await
    }

    async fn open_sqlite(
        options: SqliteConnectOptions,
        shown: String,
        in_memory: bool,
    ) -> Result<Store, StoreError> {
        if !in_memory && let Some(dir) = options.get_filename().parent() {
            let exists = dir.as_os_str().is_empty()
                || tokio::fs::metadata(dir)
                    .await
                    .map(|m| m.is_dir())
                    .unwrap_or(false);
            if !exists {
                return Err(StoreError::MissingDirectory {
                    dir: dir.to_path_buf(),
                });
            }
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .pragma(
                "wal_autocheckpoint",
                SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string(),
            );
        let pool_options = if in_memory {
            // An in-memory database lives only as long as a connection to it, so keep exactly
            // one open for the pool's whole life.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            // WAL lets readers run beside the single writer; a few connections are plenty.
            SqlitePoolOptions::new().max_connections(4)
        };
        let pool = pool_options
            .connect_with(options.clone())
            .await
            .map_err(|source| StoreError::Connect {
                backend: "sqlite",
                url: shown,
                source,
            })?;
        SQLITE_MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: "sqlite",
                source,
            })?;
        // Connected at its first batch, after the migrations, so it never sees an unmigrated
        // file (and costs nothing until there is activity to write); an in-memory database has
        // only its one connection, which does everything.
        let activity_writes = (!in_memory).then(|| {
            Backend::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with(options),
            )
        });
        Ok(Store {
            backend: Backend::Sqlite(pool),
            activity_writes,
        })
    }

    async fn open_postgres(options: PgConnectOptions, shown: String) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                backend: "postgres",
                url: shown,
                source,
            })?;
        POSTGRES_MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: "postgres",
                source,
            })?;
        Ok(Store {
            backend: Backend::Postgres(pool),
            activity_writes: None,
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Closes every connection; waits for queries in flight. Other clones become unusable.
    pub async fn close(&self) {
        self.close_activity_writes().await;
        with_pool!(&self.backend, pool => pool.close().await)
    }

    /// A copy of this store whose activity batches go through a PostgreSQL connection of
    /// their own, opened when first needed on the runtime that uses it; `None` when nothing
    /// needs to change (SQLite connections run on threads of their own and belong to no
    /// runtime).
    ///
    /// The activity writer runs on a thread and runtime of its own. A PostgreSQL connection
    /// it opened in the shared pool would be handed later to tasks on the gateway's runtime,
    /// and would be dead there once the writer's runtime had ended. Close the copy with
    /// [`Store::close_activity_writes`] before that runtime ends.
    pub(crate) fn with_own_activity_connection(&self) -> Option<Store> {
        match (&self.backend, &self.activity_writes) {
            (Backend::Postgres(pool), None) => {
                let own = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with((*pool.connect_options()).clone());
                Some(Store {
                    backend: self.backend.clone(),
                    activity_writes: Some(Backend::Postgres(own)),
                })
            }
            _ => None,
        }
    }

    /// Closes the activity batches' own connection, if this store has one.
    pub(crate) async fn close_activity_writes(&self) {
        if let Some(writes) = &self.activity_writes {
            with_pool!(writes, pool => pool.close().await)
        }
    }

    /// Creates the school with this slug, or updates its name and time zone if it exists.
    pub async fn ensure_school(
        &self,
        slug: &str,
        name: &str,
        timezone: &str,
    ) -> Result<SchoolId, StoreError> {
        validate_slug(slug)?;
        validate_text("school name", name, 200)?;
        if let Err(e) = jiff::tz::TimeZone::get(timezone) {
            return Err(StoreError::invalid(
                "school time zone",
                format!(
                    "{timezone:?} is not a known IANA time zone ({e}); use a name such as Europe/London"
                ),
            ));
        }
        const SQL: &str = "INSERT INTO schools (slug, name, timezone, created_at_us) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (slug) DO UPDATE SET name = excluded.name, timezone = excluded.timezone \
             RETURNING id";
        let args = [
            Arg::Str(slug),
            Arg::Str(name),
            Arg::Str(timezone),
            Arg::I64(timestamp_to_us(Timestamp::now())),
        ];
        let id: i64 = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_scalar(SQL), args).fetch_one(pool).await
        })
        .map_err(StoreError::query("saving a school"))?;
        Ok(SchoolId(id))
    }

    /// The school with this slug, if any.
    pub async fn school_by_slug(&self, slug: &str) -> Result<Option<School>, StoreError> {
        const SQL: &str =
            "SELECT id, slug, name, timezone, created_at_us FROM schools WHERE slug = $1";
        let row: Option<SchoolRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).bind(slug).fetch_optional(pool).await
        })
        .map_err(StoreError::query("looking up a school"))?;
        row.map(SchoolRow::into_school).transpose()
    }

    /// Every school, ordered by slug.
    pub async fn schools(&self) -> Result<Vec<School>, StoreError> {
        const SQL: &str =
            "SELECT id, slug, name, timezone, created_at_us FROM schools ORDER BY slug";
        let rows: Vec<SchoolRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).fetch_all(pool).await
        })
        .map_err(StoreError::query("listing schools"))?;
        rows.into_iter().map(SchoolRow::into_school).collect()
    }

    /// Creates the user, or replaces every field but the creation time of the user with the
    /// same username in this school (including clearing the password if `password_hash` is
    /// `None`).
    pub async fn upsert_user(
        &self,
        school: SchoolId,
        user: &NewUser,
    ) -> Result<UserId, StoreError> {
        validate_name("username", &user.username)?;
        validate_text("display name", &user.display_name, 200)?;
        validate_name("user group key", &user.group_key)?;
        if let Some(hash) = &user.password_hash
            && !hash.starts_with("$argon2")
        {
            return Err(StoreError::invalid(
                "password hash",
                "it is not an argon2 PHC string ($argon2id$...); hash the password before storing it, never store it as given",
            ));
        }
        const SQL: &str = "INSERT INTO users (school_id, username, display_name, kind, group_key, \
             password_hash, demo_only, created_at_us, disabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (school_id, username) DO UPDATE SET \
             display_name = excluded.display_name, kind = excluded.kind, \
             group_key = excluded.group_key, password_hash = excluded.password_hash, \
             demo_only = excluded.demo_only, disabled = excluded.disabled \
             RETURNING id";
        let args = [
            Arg::I64(school.0),
            Arg::Str(&user.username),
            Arg::Str(&user.display_name),
            Arg::Str(user.kind.as_str()),
            Arg::Str(&user.group_key),
            Arg::OptStr(user.password_hash.as_deref()),
            Arg::Bool(user.demo_only),
            Arg::I64(timestamp_to_us(Timestamp::now())),
            Arg::Bool(user.disabled),
        ];
        let id: i64 = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_scalar(SQL), args).fetch_one(pool).await
        })
        .map_err(|e| unknown_school_or(e, school, "saving a user"))?;
        Ok(UserId(id))
    }

    /// The user with this username in this school, if any.
    pub async fn user(&self, school: SchoolId, username: &str) -> Result<Option<User>, StoreError> {
        const SQL: &str = "SELECT id, school_id, username, display_name, kind, group_key, \
             password_hash, demo_only, created_at_us, disabled \
             FROM users WHERE school_id = $1 AND username = $2";
        let row: Option<UserRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).bind(school.0).bind(username).fetch_optional(pool).await
        })
        .map_err(StoreError::query("looking up a user"))?;
        row.map(UserRow::into_user).transpose()
    }

    /// The account to check a sign-in against: by username in one school, or (when the proxy
    /// does not know the school) in every school. Case is ignored, as the configuration
    /// ignores it when it checks usernames are unique.
    ///
    /// A name that matches more than one account (the same username in two schools of a
    /// trust) is refused with [`StoreError::AmbiguousUsername`] rather than guessed at. A name
    /// that could never be stored (empty, over 200 characters) simply finds nobody.
    pub async fn user_for_login(
        &self,
        school: Option<SchoolId>,
        username: &str,
    ) -> Result<Option<User>, StoreError> {
        if validate_name("username", username).is_err() {
            return Ok(None);
        }
        let rows: Vec<UserRow> = match school {
            Some(school) => {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users \
                     WHERE school_id = $1 AND lower(username) = lower($2) ORDER BY id LIMIT 10"
                );
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(AssertSqlSafe(sql))
                        .bind(school.0)
                        .bind(username)
                        .fetch_all(pool)
                        .await
                })
            }
            None => {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users \
                     WHERE lower(username) = lower($1) ORDER BY id LIMIT 10"
                );
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(AssertSqlSafe(sql)).bind(username).fetch_all(pool).await
                })
            }
        }
        .map_err(StoreError::query("looking up a user to sign in"))?;
        match rows.len() {
            0 => Ok(None),
            1 => rows.into_iter().next().map(UserRow::into_user).transpose(),
            _ => {
                let mut schools = Vec::with_capacity(rows.len());
                for row in &rows {
                    const SQL: &str = "SELECT slug FROM schools WHERE id = $1";
                    let slug: Option<String> = with_pool!(&self.backend, pool => {
                        sqlx::query_scalar(SQL).bind(row.school_id).fetch_optional(pool).await
                    })
                    .map_err(StoreError::query("looking up a user to sign in"))?;
                    schools.push(slug.unwrap_or_else(|| format!("school {}", row.school_id)));
                }
                Err(StoreError::AmbiguousUsername {
                    username: username.to_owned(),
                    schools,
                })
            }
        }
    }

    /// Every user of this school, ordered by username.
    pub async fn users(&self, school: SchoolId) -> Result<Vec<User>, StoreError> {
        const SQL: &str = "SELECT id, school_id, username, display_name, kind, group_key, \
             password_hash, demo_only, created_at_us, disabled \
             FROM users WHERE school_id = $1 ORDER BY username";
        let rows: Vec<UserRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).bind(school.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("listing users"))?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    /// Creates the device, or replaces every field but the creation time of the device with
    /// the same name in this school.
    pub async fn upsert_device(
        &self,
        school: SchoolId,
        device: &NewDevice,
    ) -> Result<DeviceId, StoreError> {
        validate_name("device name", &device.name)?;
        validate_name("device kind", &device.kind)?;
        if let Some(group) = &device.group_key {
            validate_name("device group key", group)?;
        }
        let addresses = join_addresses(&device.addresses)?;
        const SQL: &str = "INSERT INTO devices (school_id, name, kind, group_key, addresses, \
             authenticated, created_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (school_id, name) DO UPDATE SET kind = excluded.kind, \
             group_key = excluded.group_key, addresses = excluded.addresses, \
             authenticated = excluded.authenticated \
             RETURNING id";
        let args = [
            Arg::I64(school.0),
            Arg::Str(&device.name),
            Arg::Str(&device.kind),
            Arg::OptStr(device.group_key.as_deref()),
            Arg::Owned(addresses),
            Arg::Bool(device.authenticated),
            Arg::I64(timestamp_to_us(Timestamp::now())),
        ];
        let id: i64 = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_scalar(SQL), args).fetch_one(pool).await
        })
        .map_err(|e| unknown_school_or(e, school, "saving a device"))?;
        Ok(DeviceId(id))
    }

    /// Every device of this school, ordered by name.
    pub async fn devices(&self, school: SchoolId) -> Result<Vec<Device>, StoreError> {
        const SQL: &str = "SELECT id, school_id, name, kind, group_key, addresses, \
             authenticated, created_at_us FROM devices WHERE school_id = $1 ORDER BY name";
        let rows: Vec<DeviceRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(SQL).bind(school.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("listing devices"))?;
        rows.into_iter().map(DeviceRow::into_device).collect()
    }

    /// Stores events all-or-nothing.
    ///
    /// Up to [`EVENT_ROWS_PER_INSERT`] events (the writer's whole batch) go in one statement
    /// with no explicit transaction: a statement is atomic by itself, and inside `BEGIN` SQLite
    /// would also copy every page the statement changes into a statement journal, so that it
    /// could undo that one statement alone. More events than that take one transaction.
    ///
    /// NUL characters (which PostgreSQL text cannot hold, and which a hostile client can put in
    /// a request) are replaced with U+FFFD so one odd request cannot make a whole batch fail.
    pub async fn insert_events(&self, events: &[ActivityEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let placeholders = match &self.backend {
            Backend::Sqlite(_) => Placeholders::Anonymous,
            Backend::Postgres(_) => Placeholders::Numbered,
        };
        let statement = |chunk: &[ActivityEvent]| {
            let full = chunk.len() == EVENT_ROWS_PER_INSERT;
            let sql = match (full, placeholders) {
                (true, Placeholders::Numbered) => FULL_EVENT_INSERT_NUMBERED.clone(),
                (true, Placeholders::Anonymous) => FULL_EVENT_INSERT_ANONYMOUS.clone(),
                (false, _) => event_insert_sql(chunk.len(), placeholders),
            };
            (sql, full)
        };
        let backend = self
            .activity_writes
            .clone()
            .unwrap_or_else(|| self.backend.clone());
        with_pool!(&backend, pool => {
            if events.len() <= EVENT_ROWS_PER_INSERT {
                let (sql, full) = statement(events);
                bind_args!(sqlx::query(AssertSqlSafe(sql)), events.iter().flat_map(event_args))
                    // Only the full-size statement recurs often enough to be worth caching.
                    .persistent(full)
                    .execute(pool)
                    .await
                    .map_err(StoreError::query("saving activity events"))?;
                return Ok(());
            }
            let mut tx = pool
                .begin_with(backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to save activity events"))?;
            for chunk in events.chunks(EVENT_ROWS_PER_INSERT) {
                let (sql, full) = statement(chunk);
                bind_args!(sqlx::query(AssertSqlSafe(sql)), chunk.iter().flat_map(event_args))
                    .persistent(full)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("saving activity events"))?;
            }
            tx.commit()
                .await
                .map_err(StoreError::query("committing activity events"))?;
        });
        Ok(())
    }

    /// Reads activity events, newest first, and records who read them and why in the audit
    /// log, in the same transaction: if the audit record cannot be written, nothing is
    /// returned.
    pub async fn read_events(
        &self,
        reader: &Reader,
        filter: &EventFilter,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        validate_text("reader actor", &reader.actor, 200)?;
        validate_text("reader purpose", &reader.purpose, 1_000)?;
        let limit = filter.limit.min(EventFilter::MAX_LIMIT);

        let mut sql = String::from(EVENT_SELECT);
        let mut args = vec![Arg::I64(filter.school.0)];
        sql.push_str(" WHERE school_id = $1");
        if let Some(since) = filter.since {
            args.push(Arg::I64(timestamp_to_us(since)));
            sql.push_str(&format!(" AND at_us >= ${}", args.len()));
        }
        if let Some(until) = filter.until {
            args.push(Arg::I64(timestamp_to_us(until)));
            sql.push_str(&format!(" AND at_us < ${}", args.len()));
        }
        if let Some(user) = &filter.user {
            args.push(Arg::Str(user));
            sql.push_str(&format!(" AND user_name = ${}", args.len()));
        }
        if let Some(ip) = filter.client_ip {
            args.push(Arg::Owned(ip.to_string()));
            sql.push_str(&format!(" AND client_ip = ${}", args.len()));
        }
        if let Some(verdict) = filter.verdict {
            args.push(Arg::Str(verdict.as_str()));
            sql.push_str(&format!(" AND verdict = ${}", args.len()));
        }
        args.push(Arg::I64(i64::from(limit)));
        sql.push_str(&format!(
            " ORDER BY at_us DESC, id DESC LIMIT ${}",
            args.len()
        ));

        let rows: Vec<EventRow> = with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to read activity events"))?;
            let rows: Vec<EventRow> = bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::query("reading activity events"))?;
            let detail = describe_read(reader, filter, limit, rows.len());
            let target = format!("school:{}", filter.school);
            let audit = audit_args(
                Some(filter.school),
                Timestamp::now(),
                &reader.actor,
                "activity.read",
                &target,
                &detail,
                reader.from_addr.as_deref(),
            );
            bind_args!(sqlx::query(AUDIT_INSERT), audit)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("auditing a read of activity events"))?;
            tx.commit()
                .await
                .map_err(StoreError::query("committing the audit of a read"))?;
            rows
        });
        rows.into_iter().map(EventRow::into_event).collect()
    }

    /// How many activity events a school has. A bare count says nothing about any child, so
    /// it is not audited.
    pub async fn count_events(&self, school: SchoolId) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM activity_events WHERE school_id = $1";
        let n: i64 = with_pool!(&self.backend, pool => {
            sqlx::query_scalar(SQL).bind(school.0).fetch_one(pool).await
        })
        .map_err(StoreError::query("counting activity events"))?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative event count {n}")))
    }

    /// Deletes a school's activity events older than `cutoff` (retention) and audits it as
    /// `activity.purge` in the same transaction. Returns how many were deleted.
    pub async fn purge_events_before(
        &self,
        school: SchoolId,
        cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM activity_events WHERE school_id = $1 AND at_us < $2";
        self.purge_audited(school, cutoff, SQL, "activity.purge", "events")
            .await
    }

    /// Runs a retention `DELETE` (`$1` the school, `$2` the cutoff in microseconds) and audits
    /// it as `action` by [`RETENTION_ACTOR`] in the same transaction; `what` names the deleted
    /// records in the audit detail and in errors. Returns how many were deleted.
    pub(crate) async fn purge_audited(
        &self,
        school: SchoolId,
        cutoff: Timestamp,
        sql: &'static str,
        action: &str,
        what: &str,
    ) -> Result<u64, StoreError> {
        let cutoff_us = timestamp_to_us(cutoff);
        let deleted = with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting a retention purge"))?;
            let deleted = sqlx::query(sql)
                .bind(school.0)
                .bind(cutoff_us)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("purging old records"))?
                .rows_affected();
            let detail = format!("deleted {deleted} {what} before {cutoff}");
            let target = format!("school:{school}");
            let audit = audit_args(
                Some(school),
                Timestamp::now(),
                RETENTION_ACTOR,
                action,
                &target,
                &detail,
                None,
            );
            bind_args!(sqlx::query(AUDIT_INSERT), audit)
                .execute(&mut *tx)
                .await
                .map_err(|e| unknown_school_or(e, school, "auditing a retention purge"))?;
            tx.commit()
                .await
                .map_err(StoreError::query("committing a retention purge"))?;
            deleted
        });
        Ok(deleted)
    }

    /// Appends a record to the audit log. There is deliberately no way to change or remove one.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        validate_text("audit actor", &entry.actor, 200)?;
        validate_text("audit action", &entry.action, 100)?;
        let args = audit_args(
            entry.school,
            entry.at,
            &entry.actor,
            &entry.action,
            &entry.target,
            &entry.detail,
            entry.from_addr.as_deref(),
        );
        with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query(AUDIT_INSERT), args).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(|e| match entry.school {
            Some(school) => unknown_school_or(e, school, "writing the audit log"),
            None => StoreError::query("writing the audit log")(e),
        })?;
        Ok(())
    }

    /// The newest `limit` audit records, newest first: for one school, or for every school
    /// and store-wide entries when `school` is `None`.
    pub async fn audit_entries(
        &self,
        school: Option<SchoolId>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = i64::from(limit);
        let rows: Vec<AuditRow> = match school {
            Some(school) => {
                const SQL: &str = "SELECT id, school_id, at_us, actor, action, target, detail, \
                     from_addr FROM audit_log WHERE school_id = $1 \
                     ORDER BY at_us DESC, id DESC LIMIT $2";
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(SQL).bind(school.0).bind(limit).fetch_all(pool).await
                })
            }
            None => {
                const SQL: &str = "SELECT id, school_id, at_us, actor, action, target, detail, \
                     from_addr FROM audit_log ORDER BY at_us DESC, id DESC LIMIT $1";
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(SQL).bind(limit).fetch_all(pool).await
                })
            }
        }
        .map_err(StoreError::query("reading the audit log"))?;
        rows.into_iter().map(AuditRow::into_record).collect()
    }

    /// Stores a review request from the block page (or the "report a site" page) with status
    /// `new`, and returns its id.
    ///
    /// The comment may be empty and may hold line breaks, but not other control characters,
    /// and at most [`NewReviewRequest::MAX_COMMENT_CHARS`] characters: the form limits it,
    /// this checks it, and so does the database. NUL characters anywhere are replaced, as in
    /// activity events.
    pub async fn insert_review_request(
        &self,
        request: &NewReviewRequest,
    ) -> Result<ReviewRequestId, StoreError> {
        validate_text(
            "review request URL",
            &request.url,
            NewReviewRequest::MAX_URL_CHARS,
        )?;
        validate_text("review request host", &request.host, 255)?;
        let comment = request.comment.replace('\0', "\u{FFFD}");
        if comment.chars().count() > NewReviewRequest::MAX_COMMENT_CHARS {
            return Err(StoreError::invalid(
                "review request comment",
                format!(
                    "it is longer than {} characters; shorten it",
                    NewReviewRequest::MAX_COMMENT_CHARS
                ),
            ));
        }
        if comment
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(StoreError::invalid(
                "review request comment",
                "it contains control characters; remove them",
            ));
        }
        const SQL: &str = "INSERT INTO review_requests (school_id, created_at_us, \
             requested_by_user, device, client_addr, url, host, kind, verdict_at_request, \
             category, rule, comment) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
        let args = [
            Arg::I64(request.school.0),
            Arg::I64(timestamp_to_us(request.created_at)),
            opt_text(&request.requested_by_user),
            opt_text(&request.device),
            Arg::Owned(request.client_addr.to_string()),
            text(&request.url),
            text(&request.host),
            Arg::Str(request.kind.as_str()),
            Arg::Str(review_verdict(request.verdict_at_request)),
            opt_text(&request.category),
            opt_text(&request.rule),
            Arg::Owned(comment),
        ];
        let id: i64 = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_scalar(SQL), args).fetch_one(pool).await
        })
        .map_err(|e| unknown_school_or(e, request.school, "saving a review request"))?;
        Ok(ReviewRequestId(id))
    }

    /// A school's review requests, newest first: all of them, or those with one status.
    /// `limit` is capped at [`EventFilter::MAX_LIMIT`].
    pub async fn review_requests(
        &self,
        school: SchoolId,
        status: Option<ReviewStatus>,
        limit: u32,
    ) -> Result<Vec<ReviewRequest>, StoreError> {
        let limit = i64::from(limit.min(EventFilter::MAX_LIMIT));
        let rows: Vec<ReviewRow> = match status {
            Some(status) => {
                let sql = format!(
                    "{REVIEW_SELECT} WHERE school_id = $1 AND status = $2 \
                     ORDER BY created_at_us DESC, id DESC LIMIT $3"
                );
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(AssertSqlSafe(sql))
                        .bind(school.0)
                        .bind(status.as_str())
                        .bind(limit)
                        .fetch_all(pool)
                        .await
                })
            }
            None => {
                let sql = format!(
                    "{REVIEW_SELECT} WHERE school_id = $1 \
                     ORDER BY created_at_us DESC, id DESC LIMIT $2"
                );
                with_pool!(&self.backend, pool => {
                    sqlx::query_as(AssertSqlSafe(sql))
                        .bind(school.0)
                        .bind(limit)
                        .fetch_all(pool)
                        .await
                })
            }
        }
        .map_err(StoreError::query("reading review requests"))?;
        rows.into_iter().map(ReviewRow::into_request).collect()
    }

    /// One review request of this school, or `None`.
    pub async fn review_request(
        &self,
        school: SchoolId,
        id: ReviewRequestId,
    ) -> Result<Option<ReviewRequest>, StoreError> {
        let sql = format!("{REVIEW_SELECT} WHERE school_id = $1 AND id = $2");
        let row: Option<ReviewRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await
        })
        .map_err(StoreError::query("reading a review request"))?;
        row.map(ReviewRow::into_request).transpose()
    }

    /// Approves or declines a new review request of this school, and records the decision in
    /// the audit log in the same transaction. Returns `false` (and changes nothing) when there
    /// is no such request in this school or it was already decided.
    pub async fn decide_review_request(
        &self,
        school: SchoolId,
        id: ReviewRequestId,
        status: ReviewStatus,
        decided_by: &str,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        if status == ReviewStatus::New {
            return Err(StoreError::invalid(
                "review decision",
                "a decision is \"approved\" or \"declined\", not \"new\"",
            ));
        }
        validate_text("review decided by", decided_by, 200)?;
        if let Some(note) = note {
            validate_text(
                "review decision note",
                note,
                NewReviewRequest::MAX_COMMENT_CHARS,
            )?;
        }
        const SQL: &str = "UPDATE review_requests SET status = $1, decided_by = $2, \
             decided_at_us = $3, decision_note = $4 \
             WHERE id = $5 AND school_id = $6 AND status = 'new'";
        let at = Timestamp::now();
        let args = [
            Arg::Str(status.as_str()),
            Arg::Str(decided_by),
            Arg::I64(timestamp_to_us(at)),
            Arg::OptStr(note),
            Arg::I64(id.0),
            Arg::I64(school.0),
        ];
        let changed = with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to decide a review request"))?;
            let changed = bind_args!(sqlx::query(SQL), args)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("deciding a review request"))?
                .rows_affected();
            if changed > 0 {
                let target = format!("review_request:{id}");
                let detail = match note {
                    Some(note) => format!("{status}: {note}"),
                    None => status.to_string(),
                };
                let audit = audit_args(
                    Some(school),
                    at,
                    decided_by,
                    "review.decide",
                    &target,
                    &detail,
                    None,
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("auditing a review decision"))?;
            }
            tx.commit()
                .await
                .map_err(StoreError::query("committing a review decision"))?;
            changed
        });
        Ok(changed > 0)
    }

    /// A per-school setting, if set.
    pub async fn setting(&self, school: SchoolId, key: &str) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT value FROM settings WHERE school_id = $1 AND key = $2";
        with_pool!(&self.backend, pool => {
            sqlx::query_scalar(SQL).bind(school.0).bind(key).fetch_optional(pool).await
        })
        .map_err(StoreError::query("reading a setting"))
    }

    /// Sets a per-school setting, replacing any previous value.
    pub async fn set_setting(
        &self,
        school: SchoolId,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        validate_name("setting key", key)?;
        const SQL: &str = "INSERT INTO settings (school_id, key, value, updated_at_us) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (school_id, key) DO UPDATE SET \
             value = excluded.value, updated_at_us = excluded.updated_at_us";
        let args = [
            Arg::I64(school.0),
            Arg::Str(key),
            Arg::Str(value),
            Arg::I64(timestamp_to_us(Timestamp::now())),
        ];
        with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query(SQL), args).execute(pool).await.map(|r| r.rows_affected())
        })
        .map_err(|e| unknown_school_or(e, school, "saving a setting"))?;
        Ok(())
    }
}

/// `INSERT ... VALUES ($1, ..., $19), ($20, ...)` for `rows` events.
fn event_insert_sql(rows: usize, placeholders: Placeholders) -> String {
    let mut sql = String::with_capacity(EVENT_INSERT_PREFIX.len() + rows * EVENT_COLUMNS * 6);
    sql.push_str(EVENT_INSERT_PREFIX);
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..EVENT_COLUMNS {
            if col > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match placeholders {
                Placeholders::Numbered => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
                Placeholders::Anonymous => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

/// The bind values of one event, in `EVENT_INSERT_PREFIX` column order.
fn event_args(e: &ActivityEvent) -> [Arg<'_>; EVENT_COLUMNS] {
    [
        Arg::I64(e.school.0),
        Arg::I64(timestamp_to_us(e.at)),
        Arg::Str(e.source.as_str()),
        Arg::Owned(e.client_ip.to_string()),
        opt_text(&e.user),
        opt_text(&e.device),
        opt_text(&e.group),
        text(&e.host),
        opt_text(&e.url),
        opt_text(&e.method),
        opt_text(&e.qtype),
        opt_text(&e.category),
        Arg::Str(e.verdict.as_str()),
        text(&e.rule),
        opt_text(&e.reason),
        opt_text(&e.search_term),
        Arg::OptI64(e.status.map(i64::from)),
        // A transfer over 9.2 exabytes cannot happen; saturating beats failing the batch.
        Arg::OptI64(e.bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX))),
        Arg::OptI64(e.duration_us.map(i64::from)),
        opt_text(&e.page_title),
    ]
}

/// Text from the network, with NUL (which PostgreSQL cannot store) replaced.
fn text(s: &str) -> Arg<'_> {
    if s.contains('\0') {
        Arg::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Arg::Str(s)
    }
}

fn opt_text(s: &Option<String>) -> Arg<'_> {
    match s {
        Some(s) => text(s),
        None => Arg::OptStr(None),
    }
}

pub(crate) fn audit_args<'a>(
    school: Option<SchoolId>,
    at: Timestamp,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    detail: &'a str,
    from_addr: Option<&'a str>,
) -> [Arg<'a>; 7] {
    [
        Arg::OptI64(school.map(|s| s.0)),
        Arg::I64(timestamp_to_us(at)),
        Arg::Str(actor),
        Arg::Str(action),
        Arg::Str(target),
        Arg::Str(detail),
        Arg::OptStr(from_addr),
    ]
}

/// The audit detail of a read: enough to answer "who looked at what, and why" later.
fn describe_read(reader: &Reader, filter: &EventFilter, limit: u32, returned: usize) -> String {
    let mut detail = format!("purpose={:?}", reader.purpose);
    if let Some(since) = filter.since {
        detail.push_str(&format!(" since={since}"));
    }
    if let Some(until) = filter.until {
        detail.push_str(&format!(" until={until}"));
    }
    if let Some(user) = &filter.user {
        detail.push_str(&format!(" user={user:?}"));
    }
    if let Some(ip) = filter.client_ip {
        detail.push_str(&format!(" client_ip={ip}"));
    }
    if let Some(verdict) = filter.verdict {
        detail.push_str(&format!(" verdict={verdict}"));
    }
    detail.push_str(&format!(" limit={limit} returned={returned}"));
    detail
}

/// Turns a foreign-key failure into "that school does not exist"; other errors keep `context`.
pub(crate) fn unknown_school_or(
    e: sqlx::Error,
    school: SchoolId,
    context: &'static str,
) -> StoreError {
    let is_fk =
        matches!(&e, sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation);
    if is_fk {
        StoreError::invalid(
            "school",
            format!("there is no school with id {school}; create it with ensure_school first"),
        )
    } else {
        StoreError::query(context)(e)
    }
}

fn validate_slug(slug: &str) -> Result<(), StoreError> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && !slug.starts_with('-')
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "school slug",
            format!(
                "{slug:?} must be 1 to 64 lowercase letters, digits and dashes, not starting with a dash (e.g. st-marys)"
            ),
        ))
    }
}

/// Free text that must be present: not empty, not padded, no control characters.
pub(crate) fn validate_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::invalid(field, "it is empty; give a value"));
    }
    if value.chars().count() > max_chars {
        return Err(StoreError::invalid(
            field,
            format!("it is longer than {max_chars} characters; shorten it"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            format!("{value:?} contains control characters; remove them"),
        ));
    }
    Ok(())
}

/// Identifiers such as usernames and group keys: text without surrounding spaces.
pub(crate) fn validate_name(field: &'static str, value: &str) -> Result<(), StoreError> {
    validate_text(field, value, 200)?;
    if value.trim() != value {
        return Err(StoreError::invalid(
            field,
            format!("{value:?} starts or ends with spaces; remove them"),
        ));
    }
    Ok(())
}

/// Stores the address list comma-separated: IPs and CIDRs never contain commas.
fn join_addresses(addresses: &[String]) -> Result<String, StoreError> {
    for a in addresses {
        if a.trim().is_empty() || a.contains([',', '[', ']', '"']) || a.trim() != a {
            return Err(StoreError::invalid(
                "device address",
                format!("{a:?} is not an address; give one IP address or CIDR range per entry"),
            ));
        }
    }
    Ok(addresses.join(","))
}

/// Reads the comma-separated form; also tolerates a JSON-style list typed in by hand.
fn split_addresses(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .map(|a| a.trim().trim_matches(['[', ']', '"', ' ']))
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether retrying a failed event insert can never succeed because of the data itself
/// (as opposed to the database being busy, down or out of space).
pub(crate) fn is_data_error(e: &StoreError) -> bool {
    let StoreError::Query {
        source: sqlx::Error::Database(db),
        ..
    } = e
    else {
        return false;
    };
    match db.kind() {
        ErrorKind::UniqueViolation
        | ErrorKind::ForeignKeyViolation
        | ErrorKind::NotNullViolation
        | ErrorKind::CheckViolation => true,
        _ => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // PostgreSQL class 22 is "data exception"; SQLite 18 is SQLITE_TOOBIG.
            (code.len() == 5 && code.starts_with("22")) || code == "18"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_every_placeholder() {
        let sql = event_insert_sql(2, Placeholders::Numbered);
        assert!(sql.ends_with("$19, $20), ($21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40)"));
        let sql = event_insert_sql(2, Placeholders::Anonymous);
        assert_eq!(sql.matches('?').count(), 2 * EVENT_COLUMNS);
        assert!(!sql.contains('$'));
    }

    #[test]
    fn addresses_round_trip_and_tolerate_json() {
        let list = vec!["10.0.0.0/24".to_owned(), "192.168.1.7".to_owned()];
        let joined = join_addresses(&list).expect("valid addresses");
        assert_eq!(split_addresses(&joined), list);
        assert_eq!(
            split_addresses(r#"["10.0.0.1", "fd00::/8"]"#),
            vec!["10.0.0.1", "fd00::/8"]
        );
        assert_eq!(split_addresses(""), Vec::<String>::new());
        assert!(join_addresses(&["a,b".to_owned()]).is_err());
    }

    #[test]
    fn slugs_are_checked() {
        assert!(validate_slug("st-marys-2").is_ok());
        assert!(validate_slug("St Marys").is_err());
        assert!(validate_slug("").is_err());
        assert!(validate_slug("-x").is_err());
    }
}
