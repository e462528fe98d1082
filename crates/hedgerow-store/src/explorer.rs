//! The activity explorer: filtered, keyset-paged reads of browsing history for the admin app,
//! a person's timeline, CSV export, and the non-personal dashboard summary.
//!
//! Paging is by keyset on `(at_us, id)`, newest first, never `OFFSET`: a page starts strictly
//! after the last row of the one before, so page 1,000 costs what page 1 costs. The indexes
//! that make every filter fast are in `migrations/*/0004_explorer.sql`.
//!
//! Every read of events is audited like [`Store::read_events`]: the audit record is written in
//! the same transaction as the read, so if it cannot be written nothing is returned. A CSV
//! export is audited once, before its first row is written. [`Store::activity_summary`] is not
//! a read of anyone's history (it returns no user or device names), so it is not audited.

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::str::FromStr;

use jiff::Timestamp;
use sqlx::AssertSqlSafe;

use crate::model::{
    AuditEntry, AuditRecord, EventSource, Reader, SchoolId, StoredEvent, Verdict,
    timestamp_from_us, timestamp_to_us,
};
use crate::store::{
    AUDIT_INSERT, Arg, Backend, EVENT_SELECT, EventRow, audit_args, bind_args, validate_text,
    with_pool,
};
use crate::{Store, StoreError};

/// Where a page starts: the `(time, id)` of the last event of the previous page. The next page
/// holds the events strictly older than it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// `at_us` of the last event shown.
    pub at_us: i64,
    /// Database id of the last event shown.
    pub id: i64,
}

impl Cursor {
    /// The cursor that continues after this event.
    pub fn after(event: &StoredEvent) -> Cursor {
        Cursor {
            at_us: timestamp_to_us(event.event.at),
            id: event.id,
        }
    }
}

impl Cursor {
    /// The cursor that continues after this audit record (the audit log pages the same way).
    pub fn after_audit(record: &AuditRecord) -> Cursor {
        Cursor {
            at_us: timestamp_to_us(record.entry.at),
            id: record.id,
        }
    }
}

/// `AT_US.ID`, safe in a URL query string.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.at_us, self.id)
    }
}

impl FromStr for Cursor {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Cursor, StoreError> {
        let bad = || {
            StoreError::invalid(
                "explorer cursor",
                format!("{s:?} is not a page cursor; use the `next` value of the previous page"),
            )
        };
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Cursor {
            at_us: at.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// How [`ExplorerQuery::host`] matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFilter {
    /// Exactly this host name (indexed).
    Exact(String),
    /// This host or any name under it: `example.com` matches `example.com` and
    /// `www.example.com`, not `badexample.com`. Walks the time range (no index on suffixes).
    WithSubdomains(String),
}

/// What the activity explorer shows. Every `Some` field narrows the result; results are newest
/// first, one page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplorerQuery {
    /// The school to read from; events of other schools are never returned.
    pub school: SchoolId,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events strictly before this time.
    pub until: Option<Timestamp>,
    /// Only this user name (exact).
    pub user: Option<String>,
    /// Only this device name (exact).
    pub device: Option<String>,
    /// Only this client address.
    pub client_ip: Option<IpAddr>,
    /// Only this category (exact, as stored).
    pub category: Option<String>,
    /// Only allowed or only blocked events.
    pub verdict: Option<Verdict>,
    /// Only events seen by the DNS filter, the proxy or an explain lookup.
    pub source: Option<EventSource>,
    /// Only events whose search term contains this text, ignoring case (ASCII case on SQLite).
    pub search_term: Option<String>,
    /// Only this host, or this host and its subdomains.
    pub host: Option<HostFilter>,
    /// Continue after this cursor; `None` for the first page.
    pub page: Option<Cursor>,
    /// Events per page, 1 to [`ExplorerQuery::MAX_PAGE_SIZE`] (larger values are capped).
    pub page_size: u32,
}

impl ExplorerQuery {
    /// The largest page.
    pub const MAX_PAGE_SIZE: u32 = 500;

    /// The first page of a school's events, newest first, with no other filter.
    pub fn school(school: SchoolId, page_size: u32) -> ExplorerQuery {
        ExplorerQuery {
            school,
            since: None,
            until: None,
            user: None,
            device: None,
            client_ip: None,
            category: None,
            verdict: None,
            source: None,
            search_term: None,
            host: None,
            page: None,
            page_size,
        }
    }

    fn effective_page_size(&self) -> u32 {
        self.page_size.clamp(1, Self::MAX_PAGE_SIZE)
    }

    /// The filter in words, for the audit log.
    fn describe(&self) -> String {
        let mut d = String::new();
        if let Some(v) = self.since {
            d.push_str(&format!(" since={v}"));
        }
        if let Some(v) = self.until {
            d.push_str(&format!(" until={v}"));
        }
        if let Some(v) = &self.user {
            d.push_str(&format!(" user={v:?}"));
        }
        if let Some(v) = &self.device {
            d.push_str(&format!(" device={v:?}"));
        }
        if let Some(v) = self.client_ip {
            d.push_str(&format!(" client_ip={v}"));
        }
        if let Some(v) = &self.category {
            d.push_str(&format!(" category={v:?}"));
        }
        if let Some(v) = self.verdict {
            d.push_str(&format!(" verdict={v}"));
        }
        if let Some(v) = self.source {
            d.push_str(&format!(" source={v}"));
        }
        if let Some(v) = &self.search_term {
            d.push_str(&format!(" search_term~{v:?}"));
        }
        match &self.host {
            Some(HostFilter::Exact(h)) => d.push_str(&format!(" host={h:?}")),
            Some(HostFilter::WithSubdomains(h)) => d.push_str(&format!(" host=*.{h:?}")),
            None => {}
        }
        d
    }
}

/// One page of the explorer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplorerPage {
    /// Newest first.
    pub events: Vec<StoredEvent>,
    /// The cursor of the next page, or `None` when this is the last.
    pub next: Option<Cursor>,
}

/// Which of a school's audit records to show, newest first, one page at a time (the audit log
/// page of the admin app). Every `Some` field narrows the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The school whose records to read; store-wide records and other schools' are never
    /// returned.
    pub school: SchoolId,
    /// Only records by this actor (exact, ignoring ASCII case).
    pub actor: Option<String>,
    /// Only this action or the actions under it: `activity` matches `activity`,
    /// `activity.read` and `activity.export`, not `activityx`.
    pub action: Option<String>,
    /// Only records at or after this time.
    pub since: Option<Timestamp>,
    /// Only records strictly before this time.
    pub until: Option<Timestamp>,
    /// Continue after this cursor; `None` for the first page.
    pub page: Option<Cursor>,
    /// Records per page, 1 to [`AuditQuery::MAX_PAGE_SIZE`] (larger values are capped).
    pub page_size: u32,
}

impl AuditQuery {
    /// The largest page.
    pub const MAX_PAGE_SIZE: u32 = 500;

    /// The first page of a school's audit log, with no other filter.
    pub fn school(school: SchoolId, page_size: u32) -> AuditQuery {
        AuditQuery {
            school,
            actor: None,
            action: None,
            since: None,
            until: None,
            page: None,
            page_size,
        }
    }
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    /// Newest first.
    pub records: Vec<AuditRecord>,
    /// The cursor of the next page, or `None` when this is the last.
    pub next: Option<Cursor>,
}

/// A count per key; `key` is `None` for events without one (no category, no group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// The category, group or host.
    pub key: Option<String>,
    /// How many events.
    pub count: u64,
}

/// Dashboard figures for a period: counts only, never a user or device name, so roles that
/// may not see any child's activity (governors) may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySummary {
    /// Events of the period, allowed and blocked.
    pub total_events: u64,
    /// Blocked events of the period.
    pub blocked_events: u64,
    /// Blocked events per category, most first.
    pub blocks_by_category: Vec<Count>,
    /// Blocked events per policy group, most first.
    pub blocks_by_group: Vec<Count>,
    /// The most-blocked hosts, most first.
    pub top_blocked_hosts: Vec<Count>,
    /// Blocked attempts in the `circumvention` category (proxies, VPNs, hidden destinations).
    pub circumvention_attempts: u64,
}

/// The category the gateway records for circumvention attempts.
const CIRCUMVENTION: &str = "circumvention";

/// Blocked circumvention attempts of a period: `$1` the school, `$2`..`$3` the period, `$4`
/// [`CIRCUMVENTION`]. `category = $4` lets it use the partial category index.
const CIRCUMVENTION_COUNT_SQL: &str = "SELECT COUNT(*) FROM activity_events \
     WHERE school_id = $1 AND category = $4 AND verdict = 'block' AND at_us >= $2 AND at_us < $3";

/// The longest person timeline one call returns.
pub const MAX_TIMELINE: u32 = 5_000;

/// A SQL statement under construction with its arguments, numbered `$1, $2, ...`.
struct Sql {
    text: String,
    args: Vec<Arg<'static>>,
}

impl Sql {
    fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends `fragment` with each `?` replaced by the next parameter number.
    fn push(&mut self, fragment: &str, args: impl IntoIterator<Item = Arg<'static>>) {
        let mut args = args.into_iter();
        for c in fragment.chars() {
            if c == '?' {
                let arg = args.next().expect("an argument for every placeholder");
                self.args.push(arg);
                self.text.push_str(&format!("${}", self.args.len()));
            } else {
                self.text.push(c);
            }
        }
        debug_assert!(args.next().is_none(), "more arguments than placeholders");
    }
}

/// `%`, `_` and `\` escaped for `LIKE ... ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The SELECT, WHERE clause, ORDER BY and LIMIT of an explorer query.
fn build_query(
    store: &Store,
    query: &ExplorerQuery,
    cursor: Option<Cursor>,
    limit: u32,
) -> Result<Sql, StoreError> {
    if matches!(store.backend, Backend::Postgres(_)) && pg_search_first(query) {
        return pg_search_query(query, cursor, limit);
    }
    let mut sql = Sql::new(EVENT_SELECT);
    if matches!(store.backend, Backend::Sqlite(_)) {
        // SQLite plans without statistics unless ANALYZE has run, and then rates every
        // (school, x, time) index alike: it may walk the blocked events for "this user's
        // blocked events", or every event for a search. Name the index of the most selective
        // filter instead (each one also serves ORDER BY at_us, id and the cursor).
        sql.push(" INDEXED BY ", []);
        sql.push(sqlite_index(query), []);
    }
    push_filters(&mut sql, query, cursor, false)?;
    sql.push(
        " ORDER BY at_us DESC, id DESC LIMIT ?",
        [Arg::I64(i64::from(limit))],
    );
    Ok(sql)
}

/// Appends ` WHERE ...` for every filter of `query` and the cursor. With `hide_time`, the
/// school and time are compared as `school_id + 0` and `at_us + 0`, which no B-tree index
/// serves, so PostgreSQL can only narrow the rows through the trigram index.
fn push_filters(
    sql: &mut Sql,
    query: &ExplorerQuery,
    cursor: Option<Cursor>,
    hide_time: bool,
) -> Result<(), StoreError> {
    let (school, at) = if hide_time {
        ("school_id + 0", "at_us + 0")
    } else {
        ("school_id", "at_us")
    };
    sql.push(&format!(" WHERE {school} = ?"), [Arg::I64(query.school.0)]);
    if let Some(v) = query.since {
        sql.push(&format!(" AND {at} >= ?"), [Arg::I64(timestamp_to_us(v))]);
    }
    if let Some(v) = query.until {
        sql.push(&format!(" AND {at} < ?"), [Arg::I64(timestamp_to_us(v))]);
    }
    if let Some(v) = &query.user {
        sql.push(" AND user_name = ?", [Arg::Owned(v.clone())]);
    }
    if let Some(v) = &query.device {
        sql.push(" AND device_name = ?", [Arg::Owned(v.clone())]);
    }
    if let Some(v) = query.client_ip {
        sql.push(" AND client_ip = ?", [Arg::Owned(v.to_string())]);
    }
    if let Some(v) = &query.category {
        sql.push(" AND category = ?", [Arg::Owned(v.clone())]);
    }
    if let Some(v) = query.verdict {
        sql.push(" AND verdict = ?", [Arg::Owned(v.as_str().to_owned())]);
    }
    if let Some(v) = query.source {
        sql.push(" AND source = ?", [Arg::Owned(v.as_str().to_owned())]);
    }
    if let Some(pattern) = search_pattern(query) {
        if pattern == "%%" {
            return Err(StoreError::invalid(
                "explorer search term",
                "it is empty; give some text or leave the filter out",
            ));
        }
        sql.push(
            " AND search_term IS NOT NULL AND lower(search_term) LIKE ? ESCAPE '\\'",
            [Arg::Owned(pattern)],
        );
    }
    match &query.host {
        Some(HostFilter::Exact(h)) => {
            sql.push(" AND host = ?", [Arg::Owned(normal_host(h)?)]);
        }
        Some(HostFilter::WithSubdomains(h)) => {
            let h = normal_host(h)?;
            let pattern = format!("%.{}", like_escape(&h));
            sql.push(
                " AND (host = ? OR host LIKE ? ESCAPE '\\')",
                [Arg::Owned(h), Arg::Owned(pattern)],
            );
        }
        None => {}
    }
    if let Some(c) = cursor {
        // The first conjunct bounds the index range; the second breaks ties within one
        // microsecond by id. Written this way (not as a row value) so both planners use it.
        sql.push(
            &format!(" AND {at} <= ? AND ({at} < ? OR id < ?)"),
            [Arg::I64(c.at_us), Arg::I64(c.at_us), Arg::I64(c.id)],
        );
    }
    Ok(())
}

/// Search-term entries of the range, newest first, that [`pg_search_query`] looks at before
/// turning to the trigram index: 4,000 index entries cost a few milliseconds, and a term on
/// at least 1 in 40 searches fills a page of 100 from them.
const PG_RECENT_SEARCHES: i64 = 4_000;

/// A PostgreSQL explorer query driven by its search-term substring, in up to two steps.
///
/// Given `ORDER BY ... LIMIT`, the planner walks the partial index of all searches newest
/// first, hoping to meet a page of matches soon; for a rare term, or one matching nothing,
/// that walks every search of the range (432 ms p95 on 10 million events), while the trigram
/// index alone is slow for a common term (it finds, and reads, every match of the range). So:
///
/// 1. `recent`: the newest [`PG_RECENT_SEARCHES`] search entries of the range (after the
///    cursor), from the partial index; `quick`: those matching every filter. If `quick` holds
///    a full page, or `recent` is every search of the range, the page is the newest of
///    `quick`: anything outside `recent` is older than all of it.
/// 2. Otherwise `trigram`: every match of the range, found through `activity_events_search_trgm`
///    (school and time hidden from the B-tree indexes), then the newest page of those. Only
///    rare terms get here, so there are few matches to read.
///
/// `MATERIALIZED` CTEs are planned for all their rows (no LIMIT to chase) and run only when
/// read, so the branch whose one-time filter is false costs nothing. The page's rows are then
/// read by primary key.
fn pg_search_query(
    query: &ExplorerQuery,
    cursor: Option<Cursor>,
    limit: u32,
) -> Result<Sql, StoreError> {
    let limit = i64::from(limit);
    let mut sql =
        Sql::new("WITH recent AS MATERIALIZED (SELECT id, at_us, search_term FROM activity_events");
    sql.push(
        " WHERE school_id = ? AND search_term IS NOT NULL",
        [Arg::I64(query.school.0)],
    );
    if let Some(v) = query.since {
        sql.push(" AND at_us >= ?", [Arg::I64(timestamp_to_us(v))]);
    }
    if let Some(v) = query.until {
        sql.push(" AND at_us < ?", [Arg::I64(timestamp_to_us(v))]);
    }
    if let Some(c) = cursor {
        sql.push(
            " AND at_us <= ? AND (at_us < ? OR id < ?)",
            [Arg::I64(c.at_us), Arg::I64(c.at_us), Arg::I64(c.id)],
        );
    }
    sql.push(
        " ORDER BY at_us DESC, id DESC LIMIT ?), ",
        [Arg::I64(PG_RECENT_SEARCHES)],
    );
    let pattern = search_pattern(query).expect("a search term");
    if query.category.is_none()
        && query.verdict.is_none()
        && query.source.is_none()
        && query.host.is_none()
    {
        // Nothing but the term to test: the index entries say it all.
        sql.push(
            "quick AS MATERIALIZED (SELECT id, at_us FROM recent \
             WHERE lower(search_term) LIKE ? ESCAPE '\\'), ",
            [Arg::Owned(pattern)],
        );
    } else {
        sql.push(
            "quick AS MATERIALIZED (SELECT id, at_us FROM activity_events",
            [],
        );
        push_filters(&mut sql, query, cursor, false)?;
        sql.push(" AND id IN (SELECT id FROM recent WHERE ", []);
        sql.push(
            "lower(search_term) LIKE ? ESCAPE '\\')), ",
            [Arg::Owned(pattern)],
        );
    }
    sql.push(
        "trigram AS MATERIALIZED (SELECT id, at_us FROM activity_events",
        [],
    );
    push_filters(&mut sql, query, cursor, true)?;
    sql.push(
        "), small AS (SELECT (SELECT count(*) FROM quick) < ? \
         AND (SELECT count(*) FROM recent) = ? AS use_trigram), \
         page AS (SELECT id, at_us FROM quick WHERE NOT (SELECT use_trigram FROM small) \
         UNION ALL SELECT id, at_us FROM trigram WHERE (SELECT use_trigram FROM small)) ",
        [Arg::I64(limit), Arg::I64(PG_RECENT_SEARCHES)],
    );
    sql.push(EVENT_SELECT, []);
    sql.push(
        " WHERE id IN (SELECT id FROM page ORDER BY at_us DESC, id DESC LIMIT ?) \
         ORDER BY at_us DESC, id DESC",
        [Arg::I64(limit)],
    );
    Ok(sql)
}

/// The `LIKE` pattern of the query's search term, lower-cased; `None` without one.
fn search_pattern(query: &ExplorerQuery) -> Option<String> {
    let term = query.search_term.as_ref()?.trim();
    Some(format!("%{}%", like_escape(&term.to_lowercase())))
}

/// Whether a PostgreSQL explorer query is driven by its search-term substring: it has three
/// letters or digits in a row (so the trigram index `activity_events_search_trgm` can narrow
/// it) and no more selective filter (user, device, address, exact host).
fn pg_search_first(query: &ExplorerQuery) -> bool {
    let Some(term) = &query.search_term else {
        return false;
    };
    // pg_trgm extracts trigrams only from runs of letters and digits.
    let mut run = 0;
    let has_trigram = term.chars().any(|c| {
        run = if c.is_alphanumeric() { run + 1 } else { 0 };
        run >= 3
    });
    has_trigram
        && query.user.is_none()
        && query.device.is_none()
        && query.client_ip.is_none()
        && !matches!(query.host, Some(HostFilter::Exact(_)))
}

/// The index that serves `query` best on SQLite: the most selective filter first.
fn sqlite_index(query: &ExplorerQuery) -> &'static str {
    if query.user.is_some() {
        "activity_events_school_user_at"
    } else if query.device.is_some() {
        "activity_events_school_device_at"
    } else if query.client_ip.is_some() {
        "activity_events_school_ip_at"
    } else if matches!(query.host, Some(HostFilter::Exact(_))) {
        "activity_events_school_host_at"
    } else if query.search_term.is_some() {
        // Walks only the ~2 % of events with a search term, testing it in the index.
        "activity_events_school_at_search"
    } else if query.category.is_some() && query.verdict.is_some() {
        "activity_events_school_category_verdict_at"
    } else if query.verdict.is_some() && query.category.is_none() {
        "activity_events_school_verdict_at"
    } else {
        "activity_events_school_at"
    }
}

/// A person's events of a period, oldest first (see [`Store::person_timeline`]).
fn timeline_query(
    store: &Store,
    school: SchoolId,
    user: &str,
    since: Timestamp,
    until: Timestamp,
    limit: u32,
) -> Sql {
    let mut sql = Sql::new(EVENT_SELECT);
    if matches!(store.backend, Backend::Sqlite(_)) {
        sql.push(" INDEXED BY activity_events_school_user_at", []);
    }
    // `user_name = ?` (never IS or a function of it) keeps the partial user index usable.
    sql.push(
        " WHERE school_id = ? AND user_name = ? AND at_us >= ? AND at_us < ? \
         ORDER BY at_us, id LIMIT ?",
        [
            Arg::I64(school.0),
            Arg::Owned(user.to_owned()),
            Arg::I64(timestamp_to_us(since)),
            Arg::I64(timestamp_to_us(until)),
            Arg::I64(i64::from(limit)),
        ],
    );
    sql
}

fn normal_host(h: &str) -> Result<String, StoreError> {
    let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() {
        return Err(StoreError::invalid(
            "explorer host",
            "it is empty; give a host name such as example.com",
        ));
    }
    Ok(h)
}

/// The reader's name and purpose go into the audit log: present, bounded, no control
/// characters (the same rule `read_events` applies).
fn check_reader(reader: &Reader) -> Result<(), StoreError> {
    validate_text("reader actor", &reader.actor, 200)?;
    validate_text("reader purpose", &reader.purpose, 1_000)
}

/// Writes the audit record of a read of `school`'s activity, inside `executor`.
macro_rules! audit_read {
    ($executor:expr, $school:expr, $reader:expr, $action:expr, $detail:expr) => {{
        let target = format!("school:{}", $school);
        let detail: String = $detail;
        let audit = audit_args(
            Some($school),
            Timestamp::now(),
            &$reader.actor,
            $action,
            &target,
            &detail,
            $reader.from_addr.as_deref(),
        );
        bind_args!(sqlx::query(AUDIT_INSERT), audit)
            .execute($executor)
            .await
            .map(|_| ())
    }};
}

impl Store {
    /// One page of a school's activity, newest first, filtered by `query`. Audited as
    /// `activity.read` in the same transaction as the read.
    pub async fn explore(
        &self,
        reader: &Reader,
        query: &ExplorerQuery,
    ) -> Result<ExplorerPage, StoreError> {
        check_reader(reader)?;
        let size = query.effective_page_size();
        // One extra row says whether there is a next page.
        let sql = build_query(self, query, query.page, size + 1)?;
        let mut events = self
            .audited_read(reader, query.school, "activity.read", sql, |n| {
                format!(
                    "purpose={:?} explorer{} page={} page_size={size} returned={}",
                    reader.purpose,
                    query.describe(),
                    query.page.map_or("first".to_owned(), |c| c.to_string()),
                    n.min(size as usize),
                )
            })
            .await?;
        let next = if events.len() > size as usize {
            events.truncate(size as usize);
            events.last().map(Cursor::after)
        } else {
            None
        };
        Ok(ExplorerPage { events, next })
    }

    /// One person's activity between `since` (inclusive) and `until` (exclusive), oldest first:
    /// the first `limit` events of the period (capped at [`MAX_TIMELINE`]). Audited as
    /// `activity.read`.
    pub async fn person_timeline(
        &self,
        reader: &Reader,
        school: SchoolId,
        user: &str,
        since: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_reader(reader)?;
        let limit = limit.clamp(1, MAX_TIMELINE);
        let sql = timeline_query(self, school, user, since, until, limit);
        self.audited_read(reader, school, "activity.read", sql, |n| {
            format!(
                "purpose={:?} timeline user={user:?} since={since} until={until} limit={limit} returned={n}",
                reader.purpose
            )
        })
        .await
    }

    /// Writes every event matching `query` (its `page` is where to start, `page_size` is
    /// ignored) as CSV, newest first, reading 500 at a time. Audited once as `activity.export`
    /// before the first row is written: if the audit record cannot be written, nothing is.
    /// Returns how many events were written.
    ///
    /// Fields are quoted when they hold a comma, quote or line break, and a text cell that a
    /// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage
    /// return) is prefixed with `'`.
    pub async fn export_events_csv(
        &self,
        reader: &Reader,
        query: &ExplorerQuery,
        mut writer: impl Write,
    ) -> Result<u64, StoreError> {
        check_reader(reader)?;
        // Validate the filter before auditing an export that could not run.
        build_query(self, query, None, 1)?;
        let detail = format!(
            "purpose={:?} export csv{}",
            reader.purpose,
            query.describe()
        );
        with_pool!(&self.backend, pool => {
            audit_read!(pool, query.school, reader, "activity.export", detail)
        })
        .map_err(StoreError::query("auditing an export of activity events"))?;

        let io = |e: std::io::Error| {
            StoreError::invalid("export destination", format!("writing the CSV failed: {e}"))
        };
        writer.write_all(CSV_HEADER.as_bytes()).map_err(io)?;
        let mut written = 0u64;
        let mut cursor = query.page;
        let size = ExplorerQuery::MAX_PAGE_SIZE;
        let mut line = String::new();
        loop {
            let sql = build_query(self, query, cursor, size)?;
            let rows: Vec<EventRow> = with_pool!(&self.backend, pool => {
                bind_args!(sqlx::query_as(AssertSqlSafe(sql.text)), sql.args)
                    .fetch_all(pool)
                    .await
            })
            .map_err(StoreError::query("reading activity events to export"))?;
            let full = rows.len() == size as usize;
            for row in rows {
                let event = row.into_event()?;
                line.clear();
                csv_row(&mut line, &event);
                writer.write_all(line.as_bytes()).map_err(io)?;
                written += 1;
                cursor = Some(Cursor::after(&event));
            }
            if !full {
                break;
            }
        }
        writer.flush().map_err(io)?;
        Ok(written)
    }

    /// Dashboard counts for a school between `since` (inclusive) and `until` (exclusive), with
    /// the `top_hosts` most-blocked hosts. Holds no user or device names, so it is not audited
    /// as a read of anyone's activity.
    pub async fn activity_summary(
        &self,
        school: SchoolId,
        since: Timestamp,
        until: Timestamp,
        top_hosts: u32,
    ) -> Result<ActivitySummary, StoreError> {
        let range = || {
            [
                Arg::I64(school.0),
                Arg::I64(timestamp_to_us(since)),
                Arg::I64(timestamp_to_us(until)),
            ]
        };
        let total = self
            .scalar(
                "SELECT COUNT(*) FROM activity_events \
                 WHERE school_id = $1 AND at_us >= $2 AND at_us < $3",
                range().into(),
            )
            .await?;
        let blocked = self
            .scalar(
                "SELECT COUNT(*) FROM activity_events \
                 WHERE school_id = $1 AND verdict = 'block' AND at_us >= $2 AND at_us < $3",
                range().into(),
            )
            .await?;
        let mut circ = Vec::from(range());
        circ.push(Arg::Owned(CIRCUMVENTION.to_owned()));
        let circumvention_attempts = self.scalar(CIRCUMVENTION_COUNT_SQL, circ).await?;
        let grouped = |column: &str, limit: Option<u32>| {
            let mut text = format!(
                "SELECT {column} AS key, COUNT(*) AS n FROM activity_events \
                 WHERE school_id = $1 AND verdict = 'block' AND at_us >= $2 AND at_us < $3 \
                 GROUP BY {column} ORDER BY n DESC, key"
            );
            if let Some(limit) = limit {
                text.push_str(&format!(" LIMIT {limit}"));
            }
            text
        };
        let blocks_by_category = self
            .counts(grouped("category", None), range().into())
            .await?;
        let blocks_by_group = self
            .counts(grouped("group_key", None), range().into())
            .await?;
        let top_blocked_hosts = self
            .counts(grouped("host", Some(top_hosts.min(1_000))), range().into())
            .await?;
        Ok(ActivitySummary {
            total_events: total,
            blocked_events: blocked,
            blocks_by_category,
            blocks_by_group,
            top_blocked_hosts,
            circumvention_attempts,
        })
    }

    /// One page of a school's audit log, newest first, filtered by `query`. Reading the log
    /// is not itself audited: it holds no one's browsing, only who looked and what changed.
    pub async fn audit_search(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let size = query.page_size.clamp(1, AuditQuery::MAX_PAGE_SIZE);
        let mut sql = Sql::new(
            "SELECT id, school_id, at_us, actor, action, target, detail, from_addr \
             FROM audit_log",
        );
        sql.push(" WHERE school_id = ?", [Arg::I64(query.school.0)]);
        if let Some(v) = query.since {
            sql.push(" AND at_us >= ?", [Arg::I64(timestamp_to_us(v))]);
        }
        if let Some(v) = query.until {
            sql.push(" AND at_us < ?", [Arg::I64(timestamp_to_us(v))]);
        }
        if let Some(actor) = &query.actor {
            let actor = actor.trim();
            if actor.is_empty() {
                return Err(StoreError::invalid(
                    "audit actor filter",
                    "it is empty; give a user name or leave the filter out",
                ));
            }
            sql.push(
                " AND lower(actor) = ?",
                [Arg::Owned(actor.to_ascii_lowercase())],
            );
        }
        if let Some(action) = &query.action {
            let action = action.trim().trim_end_matches('.');
            if action.is_empty() {
                return Err(StoreError::invalid(
                    "audit action filter",
                    "it is empty; give an action such as activity.read or leave the filter out",
                ));
            }
            sql.push(
                " AND (action = ? OR action LIKE ? ESCAPE '\\')",
                [
                    Arg::Owned(action.to_owned()),
                    Arg::Owned(format!("{}.%", like_escape(action))),
                ],
            );
        }
        if let Some(c) = query.page {
            // As in the explorer: the first conjunct bounds the index range, the second breaks
            // ties within one microsecond by id.
            sql.push(
                " AND at_us <= ? AND (at_us < ? OR id < ?)",
                [Arg::I64(c.at_us), Arg::I64(c.at_us), Arg::I64(c.id)],
            );
        }
        // One extra row says whether there is a next page.
        sql.push(
            " ORDER BY at_us DESC, id DESC LIMIT ?",
            [Arg::I64(i64::from(size) + 1)],
        );
        type Row = (
            i64,
            Option<i64>,
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
        );
        let rows: Vec<Row> = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_as(AssertSqlSafe(sql.text)), sql.args)
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("reading the audit log"))?;
        let mut records = rows
            .into_iter()
            .map(
                |(id, school, at_us, actor, action, target, detail, from_addr)| {
                    Ok(AuditRecord {
                        id,
                        entry: AuditEntry {
                            school: school.map(SchoolId),
                            at: timestamp_from_us(at_us, "audit entry time")?,
                            actor,
                            action,
                            target,
                            detail,
                            from_addr,
                        },
                    })
                },
            )
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = if records.len() > size as usize {
            records.truncate(size as usize);
            records.last().map(Cursor::after_audit)
        } else {
            None
        };
        Ok(AuditPage { records, next })
    }

    /// Refreshes the planner's statistics on activity events (`ANALYZE`), as after a bulk
    /// load. PostgreSQL's autovacuum does this by itself in time; SQLite never does.
    pub async fn analyze_activity(&self) -> Result<(), StoreError> {
        with_pool!(&self.backend, pool => {
            sqlx::query("ANALYZE activity_events").execute(pool).await.map(|_| ())
        })
        .map_err(StoreError::query("analysing activity events"))
    }

    async fn scalar(&self, sql: &str, args: Vec<Arg<'static>>) -> Result<u64, StoreError> {
        let sql = sql.to_owned();
        let n: i64 = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_scalar(AssertSqlSafe(sql)), args).fetch_one(pool).await
        })
        .map_err(StoreError::query("summarising activity"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn counts(&self, sql: String, args: Vec<Arg<'static>>) -> Result<Vec<Count>, StoreError> {
        let rows: Vec<(Option<String>, i64)> = with_pool!(&self.backend, pool => {
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(pool).await
        })
        .map_err(StoreError::query("summarising activity"))?;
        Ok(rows
            .into_iter()
            .map(|(key, n)| Count {
                key,
                count: u64::try_from(n).unwrap_or(0),
            })
            .collect())
    }

    /// Runs `sql` and appends the audit record in one write transaction, as `read_events` does.
    async fn audited_read(
        &self,
        reader: &Reader,
        school: SchoolId,
        action: &str,
        sql: Sql,
        detail: impl FnOnce(usize) -> String,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to read activity events"))?;
            let rows: Vec<EventRow> = bind_args!(sqlx::query_as(AssertSqlSafe(sql.text)), sql.args)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::query("reading activity events"))?;
            audit_read!(&mut *tx, school, reader, action, detail(rows.len()))
                .map_err(StoreError::query("auditing a read of activity events"))?;
            tx.commit()
                .await
                .map_err(StoreError::query("committing the audit of a read"))?;
            rows
        });
        rows.into_iter().map(EventRow::into_event).collect()
    }
}

const CSV_HEADER: &str = "id,time,source,client_ip,user,device,group,host,url,method,qtype,\
category,verdict,rule,reason,search_term,status,bytes,duration_us,page_title\r\n";

/// One CSV record (RFC 4180, CRLF), text cells protected against formula injection.
fn csv_row(out: &mut String, e: &StoredEvent) {
    let ev = &e.event;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let cells: [String; 20] = [
        e.id.to_string(),
        ev.at.to_string(),
        ev.source.as_str().to_owned(),
        ev.client_ip.to_string(),
        opt(&ev.user),
        opt(&ev.device),
        opt(&ev.group),
        ev.host.clone(),
        opt(&ev.url),
        opt(&ev.method),
        opt(&ev.qtype),
        opt(&ev.category),
        ev.verdict.as_str().to_owned(),
        ev.rule.clone(),
        opt(&ev.reason),
        opt(&ev.search_term),
        num(ev.status.map(u64::from)),
        num(ev.bytes),
        num(ev.duration_us.map(u64::from)),
        opt(&ev.page_title),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// Appends one cell: `'` before anything a spreadsheet would evaluate, then RFC 4180 quoting.
pub fn csv_cell(out: &mut String, value: &str) {
    let guarded;
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{value}");
        guarded.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(v: &str) -> String {
        let mut s = String::new();
        csv_cell(&mut s, v);
        s
    }

    #[test]
    fn csv_cells_are_quoted_and_guarded() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            at_us: 1_767_000_000_123_456,
            id: 42,
        };
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        assert!("12".parse::<Cursor>().is_err());
        assert!("a.b".parse::<Cursor>().is_err());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }

    /// SQLite's plan for `sql`, one line per step.
    async fn sqlite_plan(store: &Store, sql: Sql) -> Vec<String> {
        let Backend::Sqlite(pool) = &store.backend else {
            panic!("a SQLite store");
        };
        let text = format!("EXPLAIN QUERY PLAN {}", sql.text);
        let rows: Vec<(i64, i64, i64, String)> =
            bind_args!(sqlx::query_as(AssertSqlSafe(text)), sql.args)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("no plan for {:?}: {e}", sql.text));
        rows.into_iter().map(|(_, _, _, detail)| detail).collect()
    }

    /// Asserts that the plan searches `index` with every column of `constrained` bound (not a
    /// walk of the whole index, nor of the table).
    fn assert_searches(plan: &[String], index: &str, constrained: &str) {
        let wanted = format!("INDEX {index} ({constrained}");
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH activity_events") && step.contains(&wanted)),
            "expected a search of {index} on ({constrained}...), got {plan:?}"
        );
        assert!(
            !plan
                .iter()
                .any(|step| step.starts_with("SCAN activity_events")),
            "expected no scan of activity_events, got {plan:?}"
        );
    }

    fn plain_sql(text: &str, args: Vec<Arg<'static>>) -> Sql {
        Sql {
            text: text.to_owned(),
            args,
        }
    }

    /// The user, device and category indexes are partial (`... IS NOT NULL`, migration 0012):
    /// SQLite may only use them for a query whose filter implies that, and refuses an
    /// `INDEXED BY` it cannot honour. This fails if a filter on those columns stops being
    /// written so that their index serves it.
    #[tokio::test]
    async fn partial_indexes_serve_their_filters_on_sqlite() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open_sqlite_file(&dir.path().join("plans.db"))
            .await
            .expect("a SQLite store");
        let school = SchoolId(1);
        let since = Timestamp::from_second(1_790_000_000).expect("a valid time");
        let until = Timestamp::from_second(1_790_086_400).expect("a valid time");
        let mut query = ExplorerQuery::school(school, 50);
        query.since = Some(since);
        query.until = Some(until);
        let cursor = Some(Cursor {
            at_us: 1_790_050_000_000_000,
            id: 7,
        });

        let by_user = ExplorerQuery {
            user: Some("pupil0042".to_owned()),
            verdict: Some(Verdict::Block),
            ..query.clone()
        };
        let plan = sqlite_plan(&store, build_query(&store, &by_user, cursor, 51).unwrap()).await;
        assert_searches(
            &plan,
            "activity_events_school_user_at",
            "school_id=? AND user_name=? AND at_us>? AND at_us<?",
        );

        let by_device = ExplorerQuery {
            device: Some("ipad-3".to_owned()),
            ..query.clone()
        };
        let plan = sqlite_plan(&store, build_query(&store, &by_device, None, 51).unwrap()).await;
        assert_searches(
            &plan,
            "activity_events_school_device_at",
            "school_id=? AND device_name=? AND at_us>? AND at_us<?",
        );

        let by_category = ExplorerQuery {
            category: Some("social".to_owned()),
            verdict: Some(Verdict::Block),
            ..query.clone()
        };
        let plan = sqlite_plan(
            &store,
            build_query(&store, &by_category, cursor, 51).unwrap(),
        )
        .await;
        assert_searches(
            &plan,
            "activity_events_school_category_verdict_at",
            "school_id=? AND category=? AND verdict=? AND at_us>? AND at_us<?",
        );

        let timeline = timeline_query(&store, school, "pupil0042", since, until, 100);
        let plan = sqlite_plan(&store, timeline).await;
        assert_searches(
            &plan,
            "activity_events_school_user_at",
            "school_id=? AND user_name=? AND at_us>? AND at_us<?",
        );

        // Unnamed, so SQLite chooses; the category index is the only one binding four columns.
        let range = || {
            vec![
                Arg::I64(school.0),
                Arg::I64(timestamp_to_us(since)),
                Arg::I64(timestamp_to_us(until)),
                Arg::Owned(CIRCUMVENTION.to_owned()),
            ]
        };
        let plan = sqlite_plan(&store, plain_sql(CIRCUMVENTION_COUNT_SQL, range())).await;
        assert_searches(
            &plan,
            "activity_events_school_category_verdict_at",
            "school_id=? AND category=? AND verdict=? AND at_us>? AND at_us<?",
        );
        // Without statistics SQLite prefers the period's range of (school, time) here, as it
        // did before the category index was partial; either way it must not scan the table.
        let plan = sqlite_plan(&store, plain_sql(crate::alerts::CIRCUMVENTION_SQL, range())).await;
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH activity_events USING ")),
            "expected an index search, got {plan:?}"
        );
        assert!(
            !plan
                .iter()
                .any(|step| step.starts_with("SCAN activity_events")),
            "expected no scan of activity_events, got {plan:?}"
        );
    }
}
