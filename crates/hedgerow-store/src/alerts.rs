//! Monitoring alerts and the safeguarding concerns opened from them.
//!
//! The gateway raises an alert when a person's activity matches a risk library entry or when
//! they make a burst of blocked attempts in one category ([`Store::raise_alert`]). Repeats fold
//! into the person's open alert so a child searching the same thing ten times makes one alert
//! with a count of ten, not ten e-mails to the DSL. Staff then triage each alert
//! ([`Store::triage_alert`]) or open a concern from it in one step
//! ([`Store::create_concern_from_alert`]).
//!
//! Alerts and concerns name children and say what worried the school about them, so every read
//! of one for a person ([`Store::alert`], [`Store::alerts`], [`Store::concern`]) is audited in
//! the same transaction as the read, like browsing history. [`Store::alerts_for_digest`] is the
//! delivery path to the DSL (the digest it feeds is itself the disclosure) and
//! [`Store::alert_summary`] holds no names, so neither is audited.
//!
//! Folding is atomic: SQLite takes its write lock at the start of the transaction, and
//! PostgreSQL takes a transaction-scoped advisory lock on (school, person, category) first, so
//! two gateway nodes raising the same alert at once make one alert with a count of two.

use std::fmt;
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, FromRow};

use crate::explorer::Count;
use crate::model::{
    ActivityEvent, AlertId, ConcernId, EventSource, Reader, SchoolId, StoredEvent, Verdict,
    timestamp_from_us, timestamp_to_us,
};
use crate::store::{
    AUDIT_INSERT, Arg, Backend, audit_args, bind_args, unknown_school_or, validate_name,
    validate_text, with_pool,
};
use crate::{ActingUser, Store, StoreError};

/// Where an alert has got to. A new alert waits for a person; the other three are outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    /// Waiting for someone to look at it.
    New,
    /// Looked at and acted on (usually linked to a safeguarding concern).
    Triaged,
    /// The match was wrong: nothing worrying happened.
    FalsePositive,
    /// Real, but nothing needs doing.
    NoFurtherAction,
}

impl AlertStatus {
    /// Every status, in the order the admin app offers them.
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::New,
        AlertStatus::Triaged,
        AlertStatus::FalsePositive,
        AlertStatus::NoFurtherAction,
    ];

    /// `"new"`, `"triaged"`, `"false_positive"` or `"no_further_action"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Triaged => "triaged",
            AlertStatus::FalsePositive => "false_positive",
            AlertStatus::NoFurtherAction => "no_further_action",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// How the status reads in a sentence or on a page, e.g. "false positive".
    pub fn label(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Triaged => "triaged",
            AlertStatus::FalsePositive => "false positive",
            AlertStatus::NoFurtherAction => "no further action",
        }
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What made the gateway raise an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertTrigger {
    /// A search term matched a risk library entry.
    SearchTerm,
    /// A URL matched.
    Url,
    /// A page title (seen where the proxy inspects) matched.
    PageTitle,
    /// Many blocked attempts in one category in a short time.
    Burst,
}

impl AlertTrigger {
    /// Every trigger.
    pub const ALL: [AlertTrigger; 4] = [
        AlertTrigger::SearchTerm,
        AlertTrigger::Url,
        AlertTrigger::PageTitle,
        AlertTrigger::Burst,
    ];

    /// `"search_term"`, `"url"`, `"page_title"` or `"burst"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertTrigger::SearchTerm => "search_term",
            AlertTrigger::Url => "url",
            AlertTrigger::PageTitle => "page_title",
            AlertTrigger::Burst => "burst",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<AlertTrigger> {
        AlertTrigger::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// How the trigger reads on a page, e.g. "search term".
    pub fn label(self) -> &'static str {
        match self {
            AlertTrigger::SearchTerm => "search term",
            AlertTrigger::Url => "web address",
            AlertTrigger::PageTitle => "page title",
            AlertTrigger::Burst => "burst of blocked attempts",
        }
    }
}

impl fmt::Display for AlertTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One match (or burst) as the gateway reports it to [`Store::raise_alert`].
///
/// Text fields come from the network (search terms, URLs, user names typed at sign-in), so the
/// store never refuses them: control characters are replaced and over-long text is cut, because
/// losing an alert over an odd search term would be worse than storing it tidied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// The school whose gateway saw it.
    pub school: SchoolId,
    /// When the matching event happened.
    pub at: Timestamp,
    /// The signed-in user, if known.
    pub user: Option<String>,
    /// The device name, if known.
    pub device: Option<String>,
    /// The client's address; identifies the person when `user` is `None`.
    pub client_ip: IpAddr,
    /// The policy group applied.
    pub group: Option<String>,
    /// Risk category, e.g. `suicide_self_harm`.
    pub category: String,
    /// 1 (advisory) to 5 (imminent risk).
    pub severity: u8,
    /// What matched.
    pub trigger: AlertTrigger,
    /// The text that matched (the search term, URL or title), or a description of the burst.
    pub matched_text: String,
    /// The risk library entry that matched.
    pub matched_entry: String,
    /// The host of the matching event.
    pub host: String,
    /// The URL of the matching event, if the proxy saw it.
    pub url: Option<String>,
}

impl NewAlert {
    /// The longest matched text kept, in characters.
    pub const MAX_TEXT_CHARS: usize = 2_000;
    /// The longest URL kept, in characters.
    pub const MAX_URL_CHARS: usize = 8_192;
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Database id; shown to staff as "alert #N".
    pub id: AlertId,
    /// The school it belongs to.
    pub school: SchoolId,
    /// New, or how it was triaged.
    pub status: AlertStatus,
    /// When the first matching event happened.
    pub first_at: Timestamp,
    /// When the latest folded-in event happened.
    pub last_at: Timestamp,
    /// How many matches folded into it (at least 1).
    pub count: u32,
    /// The signed-in user, if known.
    pub user: Option<String>,
    /// The device name, if known.
    pub device: Option<String>,
    /// The client's address.
    pub client_ip: IpAddr,
    /// The policy group applied.
    pub group: Option<String>,
    /// Risk category.
    pub category: String,
    /// The highest severity seen, 1 to 5.
    pub severity: u8,
    /// What triggered the most severe match.
    pub trigger: AlertTrigger,
    /// The text of the most severe match.
    pub matched_text: String,
    /// The library entry of the most severe match.
    pub matched_entry: String,
    /// The host of the most severe match.
    pub host: String,
    /// The URL of the most severe match, if seen.
    pub url: Option<String>,
    /// When it was last sent to staff at once (e-mail, webhook).
    pub notified_at: Option<Timestamp>,
    /// When it went out in a digest.
    pub digested_at: Option<Timestamp>,
    /// Who triaged it.
    pub triaged_by: Option<String>,
    /// When.
    pub triaged_at: Option<Timestamp>,
    /// What they found and did.
    pub triage_note: Option<String>,
    /// The concern opened from it, if any.
    pub concern: Option<ConcernId>,
}

impl Alert {
    /// The highest severity, 5: imminent risk.
    pub const MAX_SEVERITY: u8 = 5;
}

/// What [`Store::raise_alert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedAlert {
    /// The alert as it now stands.
    pub alert: Alert,
    /// `true`: the match folded into an open alert; `false`: a new alert was made.
    pub folded: bool,
    /// The alert's severity before this match folded in (`None` for a new alert), so routing
    /// can notify again when a folded match is more severe.
    pub previous_severity: Option<u8>,
}

/// Which alerts [`Store::alerts`] lists. Every `Some` field narrows the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFilter {
    /// The school to read from.
    pub school: SchoolId,
    /// Only alerts with this status.
    pub status: Option<AlertStatus>,
    /// Only this category (exact).
    pub category: Option<String>,
    /// Only alerts at least this severe.
    pub min_severity: Option<u8>,
    /// Only alerts first raised at or after this time.
    pub since: Option<Timestamp>,
    /// Only alerts first raised strictly before this time.
    pub until: Option<Timestamp>,
    /// At most this many, newest first; capped at [`AlertFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl AlertFilter {
    /// The most alerts one read returns.
    pub const MAX_LIMIT: u32 = 1_000;

    /// The newest `limit` alerts of a school, whatever their status.
    pub fn school(school: SchoolId, limit: u32) -> AlertFilter {
        AlertFilter {
            school,
            status: None,
            category: None,
            min_severity: None,
            since: None,
            until: None,
            limit,
        }
    }
}

/// Where a concern has got to. The safeguarding records work extends what happens after `new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcernStatus {
    /// Just opened, not yet picked up.
    New,
    /// Being worked on.
    Open,
    /// Closed.
    Closed,
}

impl ConcernStatus {
    /// `"new"`, `"open"` or `"closed"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcernStatus::New => "new",
            ConcernStatus::Open => "open",
            ConcernStatus::Closed => "closed",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<ConcernStatus> {
        match s {
            "new" => Some(ConcernStatus::New),
            "open" => Some(ConcernStatus::Open),
            "closed" => Some(ConcernStatus::Closed),
            _ => None,
        }
    }
}

impl fmt::Display for ConcernStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A safeguarding concern: for now the pre-filled record opened from an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concern {
    /// Database id; shown as "concern #N".
    pub id: ConcernId,
    /// The school it belongs to.
    pub school: SchoolId,
    /// When it was opened.
    pub created_at: Timestamp,
    /// Who opened it.
    pub created_by: String,
    /// New, open or closed.
    pub status: ConcernStatus,
    /// The user it is about, if known.
    pub subject_user: Option<String>,
    /// The device it is about, if known.
    pub subject_device: Option<String>,
    /// Risk category.
    pub category: String,
    /// One line.
    pub summary: String,
    /// What happened, in sentences.
    pub description: String,
    /// The alert it was opened from.
    pub alert: Option<AlertId>,
    /// A copy of the activity around the alert, oldest first; `id` is the activity event's id
    /// at the time (the event itself may since have gone with retention).
    pub evidence: Vec<StoredEvent>,
}

/// How many alerts had one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusCounts {
    /// Still waiting.
    pub new: u64,
    /// Triaged (acted on).
    pub triaged: u64,
    /// Marked false positive.
    pub false_positive: u64,
    /// Marked no further action.
    pub no_further_action: u64,
}

/// Alerts of one category in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryAlerts {
    /// Risk category, e.g. `suicide_self_harm`.
    pub category: String,
    /// Alerts raised.
    pub count: u64,
    /// Of which at least [`HIGH_SEVERITY`].
    pub high_severity: u64,
}

/// Circumvention attempts of one kind and verdict in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircumventionCount {
    /// The rule that recorded them, e.g. `proxy:sni-mismatch` or `dns:doh-canary`.
    pub rule: String,
    /// Blocked or (for staff, who may) allowed.
    pub verdict: Verdict,
    /// Activity events.
    pub attempts: u64,
    /// Distinct people (users, or addresses where no one was signed in).
    pub people: u64,
}

/// Severity from which an alert counts as high in [`AlertSummary`].
pub const HIGH_SEVERITY: u8 = 4;

/// Alert figures for a period, for the weekly report: counts only, never a name, so roles that
/// may not see any child's activity (governors) may see them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertSummary {
    /// Alerts first raised in the period.
    pub total: u64,
    /// Matches folded into them (each alert counts at least one).
    pub occurrences: u64,
    /// Per category, most first.
    pub by_category: Vec<CategoryAlerts>,
    /// Alerts of severity 1 to 5 at indexes 0 to 4.
    pub by_severity: [u64; 5],
    /// Per policy group, most first; `key` is `None` for alerts without a group.
    pub by_group: Vec<Count>,
    /// Per status, as they stand now.
    pub by_status: StatusCounts,
    /// Triaged alerts linked to a concern.
    pub triaged_to_concern: u64,
    /// Seconds from first match to triage, for every decided alert, ascending.
    pub response_seconds: Vec<i64>,
    /// The same for alerts of at least [`HIGH_SEVERITY`].
    pub high_severity_response_seconds: Vec<i64>,
    /// Activity events in the `circumvention` category in the period, most first.
    pub circumvention: Vec<CircumventionCount>,
}

impl AlertSummary {
    /// False positives among decided alerts; `None` when none was decided.
    pub fn false_positive_rate(&self) -> Option<f64> {
        let s = &self.by_status;
        let decided = s.triaged + s.false_positive + s.no_further_action;
        (decided > 0).then(|| s.false_positive as f64 / decided as f64)
    }

    /// Median seconds to triage; `None` when nothing was triaged.
    pub fn median_response_seconds(&self) -> Option<i64> {
        nearest_rank(&self.response_seconds, 0.5)
    }

    /// 90th percentile seconds to triage; `None` when nothing was triaged.
    pub fn p90_response_seconds(&self) -> Option<i64> {
        nearest_rank(&self.response_seconds, 0.9)
    }
}

/// The nearest-rank percentile of ascending values: always one of the values, no interpolation.
fn nearest_rank(sorted: &[i64], fraction: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

pub(crate) const ALERT_COLUMNS: &str = "id, school_id, status, first_at_us, last_at_us, event_count, \
     user_name, device_name, client_ip, group_key, category, severity, trigger_kind, \
     matched_text, matched_entry, host, url, notified_at_us, digested_at_us, triaged_by, \
     triaged_at_us, triage_note, concern_id";

pub(crate) const CONCERN_COLUMNS: &str = "id, school_id, created_at_us, created_by, status, subject_user, \
     subject_device, category, summary, description, alert_id, evidence";

/// The category the gateway records for circumvention attempts (as the explorer counts them).
const CIRCUMVENTION: &str = "circumvention";

/// Circumvention attempts of a period by rule and verdict, with how many people (or, without
/// a user, addresses) made them: `$1` the school, `$2`..`$3` the period, `$4`
/// [`CIRCUMVENTION`]. `category = $4` lets it use the partial category index.
pub(crate) const CIRCUMVENTION_SQL: &str = "SELECT rule, verdict, COUNT(*), \
     COUNT(DISTINCT COALESCE('user:' || user_name, 'ip:' || client_ip)) \
     FROM activity_events WHERE school_id = $1 AND category = $4 \
     AND at_us >= $2 AND at_us < $3 GROUP BY rule, verdict ORDER BY 3 DESC, rule, verdict";

/// The longest triage note, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// Ids per `UPDATE ... WHERE id IN (...)`, well under both backends' parameter limits.
const IDS_PER_UPDATE: usize = 500;

/// The most alerts one digest read returns: far more than any school's day.
const MAX_DIGEST: i64 = 10_000;

#[derive(FromRow)]
pub(crate) struct AlertRow {
    id: i64,
    school_id: i64,
    status: String,
    first_at_us: i64,
    last_at_us: i64,
    event_count: i64,
    user_name: Option<String>,
    device_name: Option<String>,
    client_ip: String,
    group_key: Option<String>,
    category: String,
    severity: i64,
    trigger_kind: String,
    matched_text: String,
    matched_entry: String,
    host: String,
    url: Option<String>,
    notified_at_us: Option<i64>,
    digested_at_us: Option<i64>,
    triaged_by: Option<String>,
    triaged_at_us: Option<i64>,
    triage_note: Option<String>,
    concern_id: Option<i64>,
}

impl AlertRow {
    pub(crate) fn into_alert(self) -> Result<Alert, StoreError> {
        let id = self.id;
        let corrupt = |what: &str, value: &dyn fmt::Debug| {
            StoreError::Corrupt(format!("alert {id} has invalid {what} {value:?}"))
        };
        let opt_time =
            |us: Option<i64>, what: &str| us.map(|us| timestamp_from_us(us, what)).transpose();
        Ok(Alert {
            id: AlertId(id),
            school: SchoolId(self.school_id),
            status: AlertStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            first_at: timestamp_from_us(self.first_at_us, "alert time")?,
            last_at: timestamp_from_us(self.last_at_us, "alert time")?,
            count: u32::try_from(self.event_count)
                .map_err(|_| corrupt("count", &self.event_count))?,
            user: self.user_name,
            device: self.device_name,
            client_ip: self
                .client_ip
                .parse()
                .map_err(|_| corrupt("client address", &self.client_ip))?,
            group: self.group_key,
            category: self.category,
            severity: u8::try_from(self.severity)
                .ok()
                .filter(|s| (1..=Alert::MAX_SEVERITY).contains(s))
                .ok_or_else(|| corrupt("severity", &self.severity))?,
            trigger: AlertTrigger::parse(&self.trigger_kind)
                .ok_or_else(|| corrupt("trigger", &self.trigger_kind))?,
            matched_text: self.matched_text,
            matched_entry: self.matched_entry,
            host: self.host,
            url: self.url,
            notified_at: opt_time(self.notified_at_us, "alert notification time")?,
            digested_at: opt_time(self.digested_at_us, "alert digest time")?,
            triaged_by: self.triaged_by,
            triaged_at: opt_time(self.triaged_at_us, "alert triage time")?,
            triage_note: self.triage_note,
            concern: self.concern_id.map(ConcernId),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ConcernRow {
    id: i64,
    school_id: i64,
    created_at_us: i64,
    created_by: String,
    status: String,
    subject_user: Option<String>,
    subject_device: Option<String>,
    category: String,
    summary: String,
    description: String,
    alert_id: Option<i64>,
    evidence: String,
}

impl ConcernRow {
    pub(crate) fn into_concern(self) -> Result<Concern, StoreError> {
        let id = self.id;
        let status = ConcernStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!("concern {id} has invalid status {:?}", self.status))
        })?;
        let evidence: Vec<EvidenceEvent> = serde_json::from_str(&self.evidence).map_err(|e| {
            StoreError::Corrupt(format!("concern {id} has unreadable evidence: {e}"))
        })?;
        Ok(Concern {
            id: ConcernId(id),
            school: SchoolId(self.school_id),
            created_at: timestamp_from_us(self.created_at_us, "concern creation time")?,
            created_by: self.created_by,
            status,
            subject_user: self.subject_user,
            subject_device: self.subject_device,
            category: self.category,
            summary: self.summary,
            description: self.description,
            alert: self.alert_id.map(AlertId),
            evidence: evidence
                .into_iter()
                .map(|e| e.into_stored(id, SchoolId(self.school_id)))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The most activity events one record keeps as evidence.
pub const MAX_RECORD_EVIDENCE: usize = 2_000;

/// The stored JSON form of one evidence event. Kept apart from [`ActivityEvent`] so the public
/// types need no serde and the stored form only changes on purpose.
#[derive(Serialize, Deserialize)]
pub(crate) struct EvidenceEvent {
    id: i64,
    at_us: i64,
    source: String,
    client_ip: String,
    user: Option<String>,
    device: Option<String>,
    group: Option<String>,
    host: String,
    url: Option<String>,
    method: Option<String>,
    qtype: Option<String>,
    category: Option<String>,
    verdict: String,
    rule: String,
    reason: Option<String>,
    search_term: Option<String>,
    status: Option<u16>,
    bytes: Option<u64>,
    duration_us: Option<u32>,
    /// Absent in evidence copied before page titles were recorded.
    #[serde(default)]
    page_title: Option<String>,
}

impl EvidenceEvent {
    pub(crate) fn of(stored: &StoredEvent) -> EvidenceEvent {
        let e = &stored.event;
        EvidenceEvent {
            id: stored.id,
            at_us: timestamp_to_us(e.at),
            source: e.source.as_str().to_owned(),
            client_ip: e.client_ip.to_string(),
            user: e.user.clone(),
            device: e.device.clone(),
            group: e.group.clone(),
            host: e.host.clone(),
            url: e.url.clone(),
            method: e.method.clone(),
            qtype: e.qtype.clone(),
            category: e.category.clone(),
            verdict: e.verdict.as_str().to_owned(),
            rule: e.rule.clone(),
            reason: e.reason.clone(),
            search_term: e.search_term.clone(),
            status: e.status,
            bytes: e.bytes,
            duration_us: e.duration_us,
            page_title: e.page_title.clone(),
        }
    }

    fn into_stored(self, concern: i64, school: SchoolId) -> Result<StoredEvent, StoreError> {
        let corrupt = |what: &str, value: &str| {
            StoreError::Corrupt(format!(
                "concern {concern} has evidence with invalid {what} {value:?}"
            ))
        };
        Ok(StoredEvent {
            id: self.id,
            event: ActivityEvent {
                // Evidence is checked to belong to the concern's school when it is stored.
                school,
                at: timestamp_from_us(self.at_us, "evidence event time")?,
                source: EventSource::parse(&self.source)
                    .ok_or_else(|| corrupt("source", &self.source))?,
                client_ip: self
                    .client_ip
                    .parse()
                    .map_err(|_| corrupt("client address", &self.client_ip))?,
                user: self.user,
                device: self.device,
                group: self.group,
                host: self.host,
                url: self.url,
                method: self.method,
                qtype: self.qtype,
                category: self.category,
                verdict: Verdict::parse(&self.verdict)
                    .ok_or_else(|| corrupt("verdict", &self.verdict))?,
                rule: self.rule,
                reason: self.reason,
                search_term: self.search_term,
                status: self.status,
                bytes: self.bytes,
                duration_us: self.duration_us,
                page_title: self.page_title,
            },
        })
    }
}

/// Text from the network made storable: control characters become spaces, NULs (which
/// PostgreSQL cannot hold) included, and anything past `max_chars` is cut.
fn tidy(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn tidy_opt(text: &Option<String>, max_chars: usize) -> Option<String> {
    text.as_deref()
        .map(|t| tidy(t, max_chars))
        .filter(|t| !t.trim().is_empty())
}

/// What folding compares: the user when known, otherwise the address.
fn person_key(user: Option<&str>, client_ip: IpAddr) -> String {
    match user {
        Some(user) => format!("user:{user}"),
        None => format!("ip:{client_ip}"),
    }
}

/// A stable 64-bit key for PostgreSQL's advisory lock (FNV-1a): the same alert key on every
/// gateway node gives the same lock. Collisions only make unrelated raises wait for each other.
fn fold_lock_key(school: SchoolId, person: &str, category: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts: [&[u8]; 5] = [
        &school.0.to_le_bytes(),
        b"\x1f",
        person.as_bytes(),
        b"\x1f",
        category.as_bytes(),
    ];
    for byte in parts.into_iter().flatten() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// A triage note: required, at most [`MAX_NOTE_CHARS`], line breaks allowed.
fn check_note(note: &str) -> Result<String, StoreError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(StoreError::NoteRequired {
            action: "triage an alert",
        });
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(StoreError::invalid(
            "triage note",
            format!("it is longer than {MAX_NOTE_CHARS} characters; shorten it"),
        ));
    }
    if note
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(StoreError::invalid(
            "triage note",
            "it contains control characters; remove them",
        ));
    }
    Ok(note.to_owned())
}

pub(crate) fn check_reader(reader: &Reader) -> Result<(), StoreError> {
    validate_text("reader actor", &reader.actor, 200)?;
    validate_text("reader purpose", &reader.purpose, 1_000)
}

/// Whether triage may move an alert from `from` to `to`: a new alert gets an outcome, and a
/// decided one can only be reopened (so changing an outcome leaves two audited steps).
fn transition_allowed(from: AlertStatus, to: AlertStatus) -> bool {
    match from {
        AlertStatus::New => to != AlertStatus::New,
        _ => to == AlertStatus::New,
    }
}

/// The concern's one-line summary and its description, written from the alert.
fn concern_text(alert: &Alert) -> (String, String) {
    let who = match (&alert.user, &alert.device) {
        (Some(user), Some(device)) => format!("{user} on {device}"),
        (Some(user), None) => user.clone(),
        (None, Some(device)) => format!("device {device}"),
        (None, None) => format!("the device at {}", alert.client_ip),
    };
    let summary = format!(
        "{} (severity {}) for {who}, from alert #{}",
        alert.category, alert.severity, alert.id
    );
    let times = if alert.count > 1 {
        format!(
            "{} times between {} and {}",
            alert.count, alert.first_at, alert.last_at
        )
    } else {
        format!("at {}", alert.first_at)
    };
    let mut description = format!(
        "Opened from alert #{}. The {} {:?} matched the risk library entry {:?} \
         (category {}, severity {}) {times}, on {}",
        alert.id,
        alert.trigger.label(),
        alert.matched_text,
        alert.matched_entry,
        alert.category,
        alert.severity,
        alert.host,
    );
    if let Some(url) = &alert.url {
        description.push_str(&format!(" ({url})"));
    }
    description.push_str(&format!(". Address {}", alert.client_ip));
    if let Some(group) = &alert.group {
        description.push_str(&format!(", policy group {group}"));
    }
    description.push('.');
    (summary, description)
}

impl Store {
    /// Records a match as an alert, folding it into the same person's open alert in the same
    /// category when that alert's latest match is no older than `fold_window` before `at`:
    /// the count goes up by one, the times widen, and a more severe match replaces the matched
    /// text (and entry, trigger, host and URL) and raises the severity. Otherwise a new alert
    /// is made. The person is the user when known, else the client address.
    ///
    /// Atomic across gateway nodes sharing one PostgreSQL database (see the module notes).
    pub async fn raise_alert(
        &self,
        alert: &NewAlert,
        fold_window: SignedDuration,
    ) -> Result<RaisedAlert, StoreError> {
        if !(1..=Alert::MAX_SEVERITY).contains(&alert.severity) {
            return Err(StoreError::invalid(
                "alert severity",
                format!(
                    "{} is not a severity; use 1 (advisory) to 5 (imminent risk)",
                    alert.severity
                ),
            ));
        }
        validate_name("alert category", &alert.category)?;
        if fold_window.is_negative() {
            return Err(StoreError::invalid(
                "fold window",
                "it is negative; use zero (never fold) or a positive duration",
            ));
        }
        let user = tidy_opt(&alert.user, 200);
        let device = tidy_opt(&alert.device, 200);
        let group = tidy_opt(&alert.group, 200);
        let matched_text = tidy(&alert.matched_text, NewAlert::MAX_TEXT_CHARS);
        let matched_entry = tidy(&alert.matched_entry, NewAlert::MAX_TEXT_CHARS);
        let host = tidy(&alert.host, 1_000);
        let url = tidy_opt(&alert.url, NewAlert::MAX_URL_CHARS);
        let person = person_key(user.as_deref(), alert.client_ip);
        let at_us = timestamp_to_us(alert.at);
        let window_us = i64::try_from(fold_window.as_micros()).unwrap_or(i64::MAX);
        let fold_from_us = at_us.saturating_sub(window_us);
        let severity = i64::from(alert.severity);
        let lock_key = fold_lock_key(alert.school, &person, &alert.category);
        let is_postgres = matches!(self.backend, Backend::Postgres(_));

        let find_sql = "SELECT id, severity FROM alerts WHERE school_id = $1 AND person_key = $2 \
             AND category = $3 AND status = 'new' AND last_at_us >= $4 \
             ORDER BY last_at_us DESC, id DESC LIMIT 1";
        // Every right-hand side sees the row as it was, so the CASEs compare with the old
        // severity.
        let fold_sql = format!(
            "UPDATE alerts SET event_count = event_count + 1, \
             last_at_us = CASE WHEN last_at_us < $1 THEN $1 ELSE last_at_us END, \
             first_at_us = CASE WHEN first_at_us > $1 THEN $1 ELSE first_at_us END, \
             matched_text = CASE WHEN severity < $2 THEN $3 ELSE matched_text END, \
             matched_entry = CASE WHEN severity < $2 THEN $4 ELSE matched_entry END, \
             trigger_kind = CASE WHEN severity < $2 THEN $5 ELSE trigger_kind END, \
             host = CASE WHEN severity < $2 THEN $6 ELSE host END, \
             url = CASE WHEN severity < $2 THEN $7 ELSE url END, \
             severity = CASE WHEN severity < $2 THEN $2 ELSE severity END, \
             device_name = COALESCE(device_name, $8), group_key = COALESCE(group_key, $9) \
             WHERE id = $10 AND status = 'new' RETURNING {ALERT_COLUMNS}"
        );
        let insert_sql = format!(
            "INSERT INTO alerts (school_id, first_at_us, last_at_us, person_key, user_name, \
             device_name, client_ip, group_key, category, severity, trigger_kind, matched_text, \
             matched_entry, host, url) \
             VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING {ALERT_COLUMNS}"
        );
        let client_ip = alert.client_ip.to_string();
        let result: Result<(AlertRow, Option<i64>), StoreError> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool
                    .begin_with(self.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query("starting to raise an alert"))?;
                if is_postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(lock_key)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("locking an alert to fold into"))?;
                }
                let open: Option<(i64, i64)> = sqlx::query_as(find_sql)
                    .bind(alert.school.0)
                    .bind(&person)
                    .bind(&alert.category)
                    .bind(fold_from_us)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("looking for an alert to fold into"))?;
                let mut folded = None;
                if let Some((id, previous)) = open {
                    // Zero rows means someone triaged it a moment ago: start a new alert.
                    let row: Option<AlertRow> = sqlx::query_as(AssertSqlSafe(fold_sql))
                        .bind(at_us)
                        .bind(severity)
                        .bind(&matched_text)
                        .bind(&matched_entry)
                        .bind(alert.trigger.as_str())
                        .bind(&host)
                        .bind(url.as_deref())
                        .bind(device.as_deref())
                        .bind(group.as_deref())
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(StoreError::query("folding a match into an alert"))?;
                    folded = row.map(|row| (row, Some(previous)));
                }
                let outcome = match folded {
                    Some(done) => done,
                    None => {
                        let row: AlertRow = sqlx::query_as(AssertSqlSafe(insert_sql))
                            .bind(alert.school.0)
                            .bind(at_us)
                            .bind(&person)
                            .bind(user.as_deref())
                            .bind(device.as_deref())
                            .bind(&client_ip)
                            .bind(group.as_deref())
                            .bind(&alert.category)
                            .bind(severity)
                            .bind(alert.trigger.as_str())
                            .bind(&matched_text)
                            .bind(&matched_entry)
                            .bind(&host)
                            .bind(url.as_deref())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| unknown_school_or(e, alert.school, "saving an alert"))?;
                        (row, None)
                    }
                };
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing an alert"))?;
                Ok(outcome)
            }
            .await
        });
        let (row, previous) = result?;
        let alert = row.into_alert()?;
        Ok(RaisedAlert {
            alert,
            folded: previous.is_some(),
            previous_severity: previous.and_then(|s| u8::try_from(s).ok()),
        })
    }

    /// Records that the alert was sent to staff at once (e-mail, webhook) at `at`; a later
    /// notification (say, after a more severe match folded in) moves the time on.
    pub async fn mark_alert_notified(&self, id: AlertId, at: Timestamp) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE alerts SET notified_at_us = $1 WHERE id = $2";
        let changed = with_pool!(&self.backend, pool => {
            sqlx::query(SQL)
                .bind(timestamp_to_us(at))
                .bind(id.0)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("marking an alert as notified"))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "alert",
                id: id.0,
            });
        }
        Ok(())
    }

    /// A school's alerts first raised in `[since, until)` that have been neither notified nor
    /// put in a digest, oldest first: what the next digest should hold.
    pub async fn alerts_for_digest(
        &self,
        school: SchoolId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Alert>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE school_id = $1 AND first_at_us >= $2 \
             AND first_at_us < $3 AND notified_at_us IS NULL AND digested_at_us IS NULL \
             ORDER BY first_at_us, id LIMIT $4"
        );
        let rows: Vec<AlertRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(timestamp_to_us(since))
                .bind(timestamp_to_us(until))
                .bind(MAX_DIGEST)
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("reading alerts for a digest"))?;
        rows.into_iter().map(AlertRow::into_alert).collect()
    }

    /// Records that these alerts went out in a digest at `at`, all in one transaction.
    pub async fn mark_alerts_digested(
        &self,
        ids: &[AlertId],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let at_us = timestamp_to_us(at);
        with_pool!(&self.backend, pool => {
            let mut tx = pool
                .begin_with(self.backend.begin_write_sql())
                .await
                .map_err(StoreError::query("starting to mark alerts as digested"))?;
            for chunk in ids.chunks(IDS_PER_UPDATE) {
                let placeholders: Vec<String> =
                    (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "UPDATE alerts SET digested_at_us = $1 WHERE id IN ({})",
                    placeholders.join(", ")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql)).bind(at_us);
                for id in chunk {
                    query = query.bind(id.0);
                }
                query
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("marking alerts as digested"))?;
            }
            tx.commit()
                .await
                .map_err(StoreError::query("committing digested alerts"))?;
        });
        Ok(())
    }

    /// One alert of this school, or `None`. Audited as `alert.read` in the same transaction.
    pub async fn alert(
        &self,
        school: SchoolId,
        id: AlertId,
        reader: &Reader,
    ) -> Result<Option<Alert>, StoreError> {
        check_reader(reader)?;
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE school_id = $1 AND id = $2");
        let target = format!("alert:{id}");
        let row: Option<AlertRow> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool
                    .begin_with(self.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query("starting to read an alert"))?;
                let row: Option<AlertRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(school.0)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading an alert"))?;
                let detail = format!(
                    "purpose={:?} found={}",
                    reader.purpose,
                    row.is_some()
                );
                let audit = audit_args(
                    Some(school),
                    Timestamp::now(),
                    &reader.actor,
                    "alert.read",
                    &target,
                    &detail,
                    reader.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unknown_school_or(e, school, "auditing a read of an alert"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing the audit of an alert read"))?;
                Ok::<_, StoreError>(row)
            }
            .await
        })?;
        row.map(AlertRow::into_alert).transpose()
    }

    /// A school's alerts matching `filter`, newest first (by first match). Audited as
    /// `alert.list` in the same transaction.
    pub async fn alerts(
        &self,
        filter: &AlertFilter,
        reader: &Reader,
    ) -> Result<Vec<Alert>, StoreError> {
        check_reader(reader)?;
        let limit = filter.limit.min(AlertFilter::MAX_LIMIT);
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE school_id = $1");
        let mut args = vec![Arg::I64(filter.school.0)];
        let mut detail = format!("purpose={:?}", reader.purpose);
        if let Some(status) = filter.status {
            args.push(Arg::Str(status.as_str()));
            sql.push_str(&format!(" AND status = ${}", args.len()));
            detail.push_str(&format!(" status={status}"));
        }
        if let Some(category) = &filter.category {
            args.push(Arg::Str(category));
            sql.push_str(&format!(" AND category = ${}", args.len()));
            detail.push_str(&format!(" category={category:?}"));
        }
        if let Some(min) = filter.min_severity {
            args.push(Arg::I64(i64::from(min)));
            sql.push_str(&format!(" AND severity >= ${}", args.len()));
            detail.push_str(&format!(" min_severity={min}"));
        }
        if let Some(since) = filter.since {
            args.push(Arg::I64(timestamp_to_us(since)));
            sql.push_str(&format!(" AND first_at_us >= ${}", args.len()));
            detail.push_str(&format!(" since={since}"));
        }
        if let Some(until) = filter.until {
            args.push(Arg::I64(timestamp_to_us(until)));
            sql.push_str(&format!(" AND first_at_us < ${}", args.len()));
            detail.push_str(&format!(" until={until}"));
        }
        args.push(Arg::I64(i64::from(limit)));
        sql.push_str(&format!(
            " ORDER BY first_at_us DESC, id DESC LIMIT ${}",
            args.len()
        ));
        let target = format!("school:{}", filter.school);
        let school = filter.school;
        let rows: Vec<AlertRow> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool
                    .begin_with(self.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query("starting to read alerts"))?;
                let rows: Vec<AlertRow> = bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading alerts"))?;
                detail.push_str(&format!(" limit={limit} returned={}", rows.len()));
                let audit = audit_args(
                    Some(school),
                    Timestamp::now(),
                    &reader.actor,
                    "alert.list",
                    &target,
                    &detail,
                    reader.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unknown_school_or(e, school, "auditing a read of alerts"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing the audit of an alert list"))?;
                Ok::<_, StoreError>(rows)
            }
            .await
        })?;
        rows.into_iter().map(AlertRow::into_alert).collect()
    }

    /// Triages an alert of this school and audits it as `alert.triage` in the same
    /// transaction. A new alert may become triaged, false positive or no further action; a
    /// decided alert may only be reopened (set back to new), which clears the outcome (the
    /// audit log keeps it). The note is required: [`StoreError::NoteRequired`] when blank,
    /// [`StoreError::AlertTransition`] for any other move, [`StoreError::NotFound`] when the
    /// school has no such alert. Returns the alert as it now stands.
    pub async fn triage_alert(
        &self,
        school: SchoolId,
        id: AlertId,
        to: AlertStatus,
        note: &str,
        by: &str,
        at: Timestamp,
    ) -> Result<Alert, StoreError> {
        let note = check_note(note)?;
        validate_name("triaged by", by)?;
        let at_us = timestamp_to_us(at);
        let update = format!(
            "UPDATE alerts SET status = $1, triaged_by = $2, triaged_at_us = $3, \
             triage_note = $4 WHERE school_id = $5 AND id = $6 AND status = $7 \
             RETURNING {ALERT_COLUMNS}"
        );
        let target = format!("alert:{id}");
        let row: AlertRow = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool
                    .begin_with(self.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query("starting to triage an alert"))?;
                let current: Option<String> = sqlx::query_scalar(
                    "SELECT status FROM alerts WHERE school_id = $1 AND id = $2",
                )
                .bind(school.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query("reading an alert to triage"))?;
                let Some(current) = current else {
                    return Err(StoreError::NotFound { what: "alert", id: id.0 });
                };
                let from = AlertStatus::parse(&current).ok_or_else(|| {
                    StoreError::Corrupt(format!("alert {id} has invalid status {current:?}"))
                })?;
                if !transition_allowed(from, to) {
                    return Err(StoreError::AlertTransition { id, from, to });
                }
                let reopening = to == AlertStatus::New;
                // The same statement on PostgreSQL's READ COMMITTED guards against a second
                // person triaging between the read above and here: then no row matches.
                let row: Option<AlertRow> = sqlx::query_as(AssertSqlSafe(update))
                    .bind(to.as_str())
                    .bind((!reopening).then_some(by))
                    .bind((!reopening).then_some(at_us))
                    .bind((!reopening).then_some(note.as_str()))
                    .bind(school.0)
                    .bind(id.0)
                    .bind(from.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("triaging an alert"))?;
                let Some(row) = row else {
                    return Err(StoreError::AlertChanged { id });
                };
                let detail = format!("{from} -> {to}: {note}");
                let audit = audit_args(
                    Some(school),
                    at,
                    by,
                    "alert.triage",
                    &target,
                    &detail,
                    None,
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("auditing a triage"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing a triage"))?;
                Ok(row)
            }
            .await
        })?;
        row.into_alert()
    }

    /// Opens a concern from a new alert in one step: the concern names the alert's person and
    /// category, describes the match, and keeps a copy of `evidence` (the person's activity
    /// around the alert, read by the caller with an audited read) so it outlives activity-log
    /// retention. In the same transaction the alert becomes triaged with the note "Concern #N
    /// opened" and a link to it, and both steps are audited (`concern.create`,
    /// `alert.triage`).
    pub async fn create_concern_from_alert(
        &self,
        school: SchoolId,
        id: AlertId,
        by: &str,
        at: Timestamp,
        evidence: &[StoredEvent],
    ) -> Result<ConcernId, StoreError> {
        validate_name("concern created by", by)?;
        if let Some(stray) = evidence.iter().find(|e| e.event.school != school) {
            return Err(StoreError::invalid(
                "concern evidence",
                format!(
                    "activity event {} belongs to school {}, not {school}; give only this school's events",
                    stray.id, stray.event.school
                ),
            ));
        }
        let mut evidence: Vec<&StoredEvent> = evidence.iter().collect();
        evidence.sort_by_key(|e| (e.event.at, e.id));
        let evidence_json = serde_json::to_string(
            &evidence
                .iter()
                .map(|e| EvidenceEvent::of(e))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| StoreError::invalid("concern evidence", e.to_string()))?;
        let at_us = timestamp_to_us(at);
        let select = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE school_id = $1 AND id = $2");
        let insert = "INSERT INTO concerns (school_id, created_at_us, created_by, status, \
             subject_user, subject_device, category, summary, description, alert_id, evidence) \
             VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $8, $9, $10) RETURNING id";
        let update = "UPDATE alerts SET status = 'triaged', triaged_by = $1, triaged_at_us = $2, \
             triage_note = $3, concern_id = $4 WHERE id = $5 AND status = 'new'";
        let evidence_count = evidence.len();
        let concern: i64 = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool
                    .begin_with(self.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query("starting to open a concern"))?;
                let row: Option<AlertRow> = sqlx::query_as(AssertSqlSafe(select))
                    .bind(school.0)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading the alert for a concern"))?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound { what: "alert", id: id.0 });
                };
                let alert = row.into_alert()?;
                if alert.status != AlertStatus::New {
                    return Err(StoreError::AlertTransition {
                        id,
                        from: alert.status,
                        to: AlertStatus::Triaged,
                    });
                }
                let (summary, description) = concern_text(&alert);
                let concern: i64 = sqlx::query_scalar(insert)
                    .bind(school.0)
                    .bind(at_us)
                    .bind(by)
                    .bind(alert.user.as_deref())
                    .bind(alert.device.as_deref())
                    .bind(&alert.category)
                    .bind(&summary)
                    .bind(&description)
                    .bind(id.0)
                    .bind(&evidence_json)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::query("saving a concern"))?;
                let note = format!("Concern #{concern} opened");
                let changed = sqlx::query(update)
                    .bind(by)
                    .bind(at_us)
                    .bind(&note)
                    .bind(concern)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("linking an alert to its concern"))?
                    .rows_affected();
                if changed == 0 {
                    return Err(StoreError::AlertChanged { id });
                }
                let concern_target = format!("concern:{concern}");
                let concern_detail =
                    format!("from alert:{id} with {evidence_count} evidence events");
                let alert_target = format!("alert:{id}");
                let alert_detail = format!("new -> triaged: {note}");
                for (action, target, detail) in [
                    ("concern.create", &concern_target, &concern_detail),
                    ("alert.triage", &alert_target, &alert_detail),
                ] {
                    let audit = audit_args(Some(school), at, by, action, target, detail, None);
                    bind_args!(sqlx::query(AUDIT_INSERT), audit)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::query("auditing a new concern"))?;
                }
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing a new concern"))?;
                Ok(concern)
            }
            .await
        })?;
        Ok(ConcernId(concern))
    }

    /// Keeps a copy of `events` (a person's activity, read by the caller with an audited
    /// read) with a record as evidence, beside what it already keeps: events it holds already
    /// are not copied twice, and the whole stays in time order and at most
    /// [`MAX_RECORD_EVIDENCE`] events. Audited as `concern.evidence`. Returns how many events
    /// were added.
    pub async fn keep_evidence(
        &self,
        school: SchoolId,
        id: ConcernId,
        events: &[StoredEvent],
        by: &ActingUser,
    ) -> Result<usize, StoreError> {
        validate_name("evidence kept by", &by.name)?;
        if let Some(stray) = events.iter().find(|e| e.event.school != school) {
            return Err(StoreError::invalid(
                "record evidence",
                format!(
                    "activity event {} belongs to school {}, not {school}; give only this school's events",
                    stray.id, stray.event.school
                ),
            ));
        }
        let select = "SELECT evidence FROM concerns WHERE school_id = $1 AND id = $2";
        let update = "UPDATE concerns SET evidence = $1 WHERE school_id = $2 AND id = $3";
        let at = Timestamp::now();
        with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool
                    .begin_with(self.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query("starting to keep evidence"))?;
                let stored: Option<String> = sqlx::query_scalar(select)
                    .bind(school.0)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading a record's evidence"))?;
                let Some(stored) = stored else {
                    return Err(StoreError::NotFound { what: "record", id: id.0 });
                };
                let mut kept: Vec<EvidenceEvent> = serde_json::from_str(&stored).map_err(|e| {
                    StoreError::Corrupt(format!("record {id} has unreadable evidence: {e}"))
                })?;
                let before = kept.len();
                let held: std::collections::HashSet<i64> = kept.iter().map(|e| e.id).collect();
                kept.extend(
                    events
                        .iter()
                        .filter(|e| !held.contains(&e.id))
                        .map(EvidenceEvent::of),
                );
                if kept.len() > MAX_RECORD_EVIDENCE {
                    return Err(StoreError::invalid(
                        "record evidence",
                        format!(
                            "a record keeps at most {MAX_RECORD_EVIDENCE} events; choose a shorter time"
                        ),
                    ));
                }
                kept.sort_by_key(|e| (e.at_us, e.id));
                let added = kept.len() - before;
                let json = serde_json::to_string(&kept)
                    .map_err(|e| StoreError::invalid("record evidence", e.to_string()))?;
                sqlx::query(update)
                    .bind(&json)
                    .bind(school.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("keeping evidence"))?;
                let target = format!("concern:{id}");
                let detail = format!("{added} activity events kept as evidence");
                let audit = audit_args(
                    Some(school),
                    at,
                    &by.name,
                    "concern.evidence",
                    &target,
                    &detail,
                    by.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("auditing kept evidence"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing kept evidence"))?;
                Ok(added)
            }
            .await
        })
    }

    /// One concern of this school, or `None`. Audited as `concern.read` in the same
    /// transaction.
    pub async fn concern(
        &self,
        school: SchoolId,
        id: ConcernId,
        reader: &Reader,
    ) -> Result<Option<Concern>, StoreError> {
        check_reader(reader)?;
        let sql =
            format!("SELECT {CONCERN_COLUMNS} FROM concerns WHERE school_id = $1 AND id = $2");
        let target = format!("concern:{id}");
        let row: Option<ConcernRow> = with_pool!(&self.backend, pool => {
            async {
                let mut tx = pool
                    .begin_with(self.backend.begin_write_sql())
                    .await
                    .map_err(StoreError::query("starting to read a concern"))?;
                let row: Option<ConcernRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(school.0)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading a concern"))?;
                let detail = format!("purpose={:?} found={}", reader.purpose, row.is_some());
                let audit = audit_args(
                    Some(school),
                    Timestamp::now(),
                    &reader.actor,
                    "concern.read",
                    &target,
                    &detail,
                    reader.from_addr.as_deref(),
                );
                bind_args!(sqlx::query(AUDIT_INSERT), audit)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unknown_school_or(e, school, "auditing a read of a concern"))?;
                tx.commit()
                    .await
                    .map_err(StoreError::query("committing the audit of a concern read"))?;
                Ok::<_, StoreError>(row)
            }
            .await
        })?;
        row.map(ConcernRow::into_concern).transpose()
    }

    /// Alert figures for alerts first raised in `[since, until)`, and circumvention attempts
    /// (activity in the `circumvention` category) in the same period. Holds no names, so it
    /// is not audited.
    pub async fn alert_summary(
        &self,
        school: SchoolId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<AlertSummary, StoreError> {
        type SummaryRow = (
            String,
            String,
            i64,
            Option<String>,
            i64,
            Option<i64>,
            Option<i64>,
            i64,
        );
        const ALERTS: &str = "SELECT status, category, severity, group_key, first_at_us, \
             triaged_at_us, concern_id, event_count FROM alerts \
             WHERE school_id = $1 AND first_at_us >= $2 AND first_at_us < $3";
        let (since_us, until_us) = (timestamp_to_us(since), timestamp_to_us(until));
        let rows: Vec<SummaryRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(ALERTS)
                .bind(school.0)
                .bind(since_us)
                .bind(until_us)
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("summarising alerts"))?;
        let circumvention: Vec<(String, String, i64, i64)> = with_pool!(&self.backend, pool => {
            sqlx::query_as(CIRCUMVENTION_SQL)
                .bind(school.0)
                .bind(since_us)
                .bind(until_us)
                .bind(CIRCUMVENTION)
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("counting circumvention attempts"))?;

        let mut summary = AlertSummary::default();
        let mut categories: Vec<CategoryAlerts> = Vec::new();
        let mut groups: Vec<Count> = Vec::new();
        for (status, category, severity, group, first_at_us, triaged_at_us, concern, count) in rows
        {
            let status = AlertStatus::parse(&status).ok_or_else(|| {
                StoreError::Corrupt(format!("an alert has invalid status {status:?}"))
            })?;
            let high = severity >= i64::from(HIGH_SEVERITY);
            summary.total += 1;
            summary.occurrences += u64::try_from(count).unwrap_or(0);
            if let Some(slot) = usize::try_from(severity - 1)
                .ok()
                .and_then(|i| summary.by_severity.get_mut(i))
            {
                *slot += 1;
            }
            match categories.iter_mut().find(|c| c.category == category) {
                Some(c) => {
                    c.count += 1;
                    c.high_severity += u64::from(high);
                }
                None => categories.push(CategoryAlerts {
                    category,
                    count: 1,
                    high_severity: u64::from(high),
                }),
            }
            match groups.iter_mut().find(|g| g.key == group) {
                Some(g) => g.count += 1,
                None => groups.push(Count {
                    key: group,
                    count: 1,
                }),
            }
            let s = &mut summary.by_status;
            match status {
                AlertStatus::New => s.new += 1,
                AlertStatus::Triaged => s.triaged += 1,
                AlertStatus::FalsePositive => s.false_positive += 1,
                AlertStatus::NoFurtherAction => s.no_further_action += 1,
            }
            if status == AlertStatus::Triaged && concern.is_some() {
                summary.triaged_to_concern += 1;
            }
            if let Some(triaged) = triaged_at_us {
                let seconds = triaged.saturating_sub(first_at_us).max(0) / 1_000_000;
                summary.response_seconds.push(seconds);
                if high {
                    summary.high_severity_response_seconds.push(seconds);
                }
            }
        }
        categories.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.category.cmp(&b.category))
        });
        groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        summary.by_category = categories;
        summary.by_group = groups;
        summary.response_seconds.sort_unstable();
        summary.high_severity_response_seconds.sort_unstable();
        summary.circumvention = circumvention
            .into_iter()
            .map(|(rule, verdict, attempts, people)| {
                Ok(CircumventionCount {
                    verdict: Verdict::parse(&verdict).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "an activity event has invalid verdict {verdict:?}"
                        ))
                    })?,
                    rule,
                    attempts: u64::try_from(attempts).unwrap_or(0),
                    people: u64::try_from(people).unwrap_or(0),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(summary)
    }

    /// Deletes a school's alerts that were decided as false positive or no further action,
    /// opened no concern, and saw their last match before `cutoff` (retention), auditing it as
    /// `alert.purge` in the same transaction. New alerts and alerts that became or joined a
    /// safeguarding record are kept: those follow the records' own retention. Returns how many
    /// were deleted.
    pub async fn purge_decided_alerts_before(
        &self,
        school: SchoolId,
        cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM alerts WHERE school_id = $1 AND last_at_us < $2 \
             AND status IN ('false_positive', 'no_further_action') AND concern_id IS NULL";
        self.purge_audited(
            school,
            cutoff,
            SQL,
            "alert.purge",
            "decided alerts last seen",
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_alerts_get_an_outcome_and_decided_ones_only_reopen() {
        use AlertStatus::*;
        for to in [Triaged, FalsePositive, NoFurtherAction] {
            assert!(transition_allowed(New, to));
            assert!(transition_allowed(to, New));
            for other in [Triaged, FalsePositive, NoFurtherAction] {
                assert!(!transition_allowed(to, other), "{to} -> {other}");
            }
        }
        assert!(!transition_allowed(New, New));
    }

    #[test]
    fn statuses_and_triggers_round_trip() {
        for s in AlertStatus::ALL {
            assert_eq!(AlertStatus::parse(s.as_str()), Some(s));
        }
        for t in AlertTrigger::ALL {
            assert_eq!(AlertTrigger::parse(t.as_str()), Some(t));
        }
        assert_eq!(AlertStatus::parse("closed"), None);
        assert_eq!(AlertTrigger::parse(""), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 0.5), None);
        assert_eq!(nearest_rank(&[7], 0.9), Some(7));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 0.5), Some(5));
        assert_eq!(nearest_rank(&v, 0.9), Some(9));
        assert_eq!(nearest_rank(&v, 1.0), Some(10));
    }

    #[test]
    fn network_text_is_tidied_not_refused() {
        assert_eq!(tidy("a\0b\nc", 100), "a b c");
        assert_eq!(tidy("ééééé", 3), "ééé");
        assert_eq!(tidy_opt(&Some(" \t".to_owned()), 10), None);
    }

    #[test]
    fn notes_are_required_and_checked() {
        assert!(matches!(
            check_note("  \n "),
            Err(StoreError::NoteRequired { .. })
        ));
        assert_eq!(
            check_note(" spoke to pupil\n ").ok().as_deref(),
            Some("spoke to pupil")
        );
        assert!(check_note("bell\u{7}").is_err());
        assert!(check_note(&"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
    }

    #[test]
    fn lock_keys_separate_people_and_categories() {
        let a = fold_lock_key(SchoolId(1), "user:amy", "drugs");
        assert_eq!(a, fold_lock_key(SchoolId(1), "user:amy", "drugs"));
        assert_ne!(a, fold_lock_key(SchoolId(2), "user:amy", "drugs"));
        assert_ne!(a, fold_lock_key(SchoolId(1), "user:amyd", "rugs"));
        assert_ne!(a, fold_lock_key(SchoolId(1), "user:amy", "gambling"));
    }
}
