//! Plain data types that cross the store's API: identifiers, records and filters.

use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;

use crate::StoreError;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Database id of a school. Every other record belongs to exactly one school.
    SchoolId
);
id_type!(
    /// Database id of a user account.
    UserId
);
id_type!(
    /// Database id of a device.
    DeviceId
);
id_type!(
    /// Database id of a review request.
    ReviewRequestId
);
id_type!(
    /// Database id of a monitoring alert; shown to staff as "alert #N".
    AlertId
);
id_type!(
    /// Database id of a safeguarding concern; shown to staff as "concern #N".
    ConcernId
);

/// A school (or other site) served by this store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct School {
    /// Database id.
    pub id: SchoolId,
    /// Short stable name used in URLs and configuration, e.g. `st-marys`.
    pub slug: String,
    /// Human-readable name.
    pub name: String,
    /// IANA time zone the school works in, e.g. `Europe/London`.
    pub timezone: String,
    /// When the school was first stored.
    pub created_at: Timestamp,
}

/// What sort of person an account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// A child at the school.
    Pupil,
    /// A member of staff.
    Staff,
    /// A guest, supply teacher or other visitor.
    Visitor,
}

impl UserKind {
    /// The name stored in the database and used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Pupil => "pupil",
            UserKind::Staff => "staff",
            UserKind::Visitor => "visitor",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<UserKind> {
        match s {
            "pupil" => Some(UserKind::Pupil),
            "staff" => Some(UserKind::Staff),
            "visitor" => Some(UserKind::Visitor),
            _ => None,
        }
    }
}

impl fmt::Display for UserKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user account as written by [`crate::Store::upsert_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name, unique within the school.
    pub username: String,
    /// Name shown to staff.
    pub display_name: String,
    /// Pupil, staff or visitor.
    pub kind: UserKind,
    /// Policy group key, e.g. `ks2`.
    pub group_key: String,
    /// Argon2 PHC string, or `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    /// The account only works while the gateway runs in demo mode.
    pub demo_only: bool,
    /// A disabled account cannot log in but keeps its history.
    pub disabled: bool,
}

/// A stored user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Database id.
    pub id: UserId,
    /// The school the account belongs to.
    pub school: SchoolId,
    /// Login name, unique within the school.
    pub username: String,
    /// Name shown to staff.
    pub display_name: String,
    /// Pupil, staff or visitor.
    pub kind: UserKind,
    /// Policy group key.
    pub group_key: String,
    /// Argon2 PHC string, if the account has a password.
    pub password_hash: Option<String>,
    /// Only usable in demo mode.
    pub demo_only: bool,
    /// When the account was first stored.
    pub created_at: Timestamp,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
}

/// A device as written by [`crate::Store::upsert_device`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Name, unique within the school.
    pub name: String,
    /// Free-form kind such as `ipad`, `laptop` or `guest-wifi`.
    pub kind: String,
    /// Policy group applied to traffic from the device, if it has its own.
    pub group_key: Option<String>,
    /// IP addresses or CIDR ranges, kept exactly as given (parsing is the identity layer's job).
    pub addresses: Vec<String>,
    /// `true`: people on this device must log in through the proxy;
    /// `false`: the device itself is the identity.
    pub authenticated: bool,
}

/// A stored device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Database id.
    pub id: DeviceId,
    /// The school the device belongs to.
    pub school: SchoolId,
    /// Name, unique within the school.
    pub name: String,
    /// Free-form kind.
    pub kind: String,
    /// Policy group for the device, if any.
    pub group_key: Option<String>,
    /// IP addresses or CIDR ranges as given.
    pub addresses: Vec<String>,
    /// Whether users must log in via the proxy.
    pub authenticated: bool,
    /// When the device was first stored.
    pub created_at: Timestamp,
}

/// The filtering decision recorded for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The request was let through.
    Allow,
    /// The request was refused.
    Block,
}

impl Verdict {
    /// `"allow"` or `"block"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "allow" => Some(Verdict::Allow),
            "block" => Some(Verdict::Block),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the gateway saw the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    /// The DNS resolver.
    Dns,
    /// The HTTP(S) proxy.
    Proxy,
    /// An "explain this decision" lookup by staff.
    Explain,
}

impl EventSource {
    /// `"dns"`, `"proxy"` or `"explain"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Dns => "dns",
            EventSource::Proxy => "proxy",
            EventSource::Explain => "explain",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<EventSource> {
        match s {
            "dns" => Some(EventSource::Dns),
            "proxy" => Some(EventSource::Proxy),
            "explain" => Some(EventSource::Explain),
            _ => None,
        }
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One filtering decision: the unit of browsing history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    /// The school whose gateway made the decision.
    pub school: SchoolId,
    /// When the decision was made (stored to the microsecond).
    pub at: Timestamp,
    /// DNS, proxy or explain.
    pub source: EventSource,
    /// Address of the client device.
    pub client_ip: IpAddr,
    /// Logged-in user, if known.
    pub user: Option<String>,
    /// Device name, if known.
    pub device: Option<String>,
    /// Policy group applied.
    pub group: Option<String>,
    /// Host name asked for.
    pub host: String,
    /// Full URL or path, when the proxy could see it.
    pub url: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// DNS query type, e.g. `AAAA`.
    pub qtype: Option<String>,
    /// Content category of the host.
    pub category: Option<String>,
    /// Allowed or blocked.
    pub verdict: Verdict,
    /// The policy rule that decided.
    pub rule: String,
    /// Human-readable reason, if any.
    pub reason: Option<String>,
    /// Search terms extracted from the URL, for safeguarding review.
    pub search_term: Option<String>,
    /// The page's `<title>`, when the proxy saw an uncompressed HTML page (plain HTTP or an
    /// inspected tunnel): decoded, whitespace collapsed, at most 300 characters. Monitoring
    /// matches risk phrases against it when the search term and address match nothing.
    pub page_title: Option<String>,
    /// HTTP status returned.
    pub status: Option<u16>,
    /// Bytes transferred.
    pub bytes: Option<u64>,
    /// Time taken, microseconds.
    pub duration_us: Option<u32>,
}

/// An activity event as read back, with its database id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Database id; larger ids were stored later.
    pub id: i64,
    /// The event itself.
    pub event: ActivityEvent,
}

/// Who is reading browsing history, and why. Recorded in the audit log on every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// The person or component reading, e.g. `staff:jsmith` or `report:weekly`.
    pub actor: String,
    /// Where the request came from, if over the network.
    pub from_addr: Option<String>,
    /// Why the data is needed, e.g. `safeguarding concern #42`.
    pub purpose: String,
}

/// Which activity events to read. Every field narrows the result; `limit` caps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// The school to read from; events of other schools are never returned.
    pub school: SchoolId,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events strictly before this time.
    pub until: Option<Timestamp>,
    /// Only events for this user name (exact match).
    pub user: Option<String>,
    /// Only events from this client address. An `IpAddr` rather than text so that
    /// different spellings of one address match what was stored.
    pub client_ip: Option<IpAddr>,
    /// Only allowed or only blocked events.
    pub verdict: Option<Verdict>,
    /// At most this many events, newest first; capped at [`EventFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl EventFilter {
    /// The most events one read can return, so a single request cannot pull a whole history.
    pub const MAX_LIMIT: u32 = 100_000;

    /// A filter for the newest `limit` events of a school.
    pub fn school(school: SchoolId, limit: u32) -> EventFilter {
        EventFilter {
            school,
            since: None,
            until: None,
            user: None,
            client_ip: None,
            verdict: None,
            limit,
        }
    }
}

/// An audit record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The school concerned, or `None` for store-wide actions.
    pub school: Option<SchoolId>,
    /// When it happened.
    pub at: Timestamp,
    /// Who did it.
    pub actor: String,
    /// What was done, e.g. `activity.read`.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// Free-form detail.
    pub detail: String,
    /// Network address the action came from, if any.
    pub from_addr: Option<String>,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Database id; larger ids were appended later.
    pub id: i64,
    /// The entry as appended.
    pub entry: AuditEntry,
}

/// What a review request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewKind {
    /// "This should not be blocked": usually sent from the block page.
    ShouldNotBeBlocked,
    /// "This should be blocked": a page that was allowed but should not have been.
    ShouldBeBlocked,
}

impl ReviewKind {
    /// `"should_not_be_blocked"` or `"should_be_blocked"`, as stored and as sent by the form.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewKind::ShouldNotBeBlocked => "should_not_be_blocked",
            ReviewKind::ShouldBeBlocked => "should_be_blocked",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<ReviewKind> {
        match s {
            "should_not_be_blocked" => Some(ReviewKind::ShouldNotBeBlocked),
            "should_be_blocked" => Some(ReviewKind::ShouldBeBlocked),
            _ => None,
        }
    }
}

impl fmt::Display for ReviewKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a review request has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewStatus {
    /// Waiting for someone to look at it.
    New,
    /// The change was made (or the page was found to be right as it is and the asker was told).
    Approved,
    /// Looked at, and left as it was.
    Declined,
}

impl ReviewStatus {
    /// `"new"`, `"approved"` or `"declined"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::New => "new",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Declined => "declined",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<ReviewStatus> {
        match s {
            "new" => Some(ReviewStatus::New),
            "approved" => Some(ReviewStatus::Approved),
            "declined" => Some(ReviewStatus::Declined),
            _ => None,
        }
    }
}

impl fmt::Display for ReviewStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A review request as sent from the block page or the "report a site" page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReviewRequest {
    /// The school whose gateway served the page.
    pub school: SchoolId,
    /// When it was sent.
    pub created_at: Timestamp,
    /// The signed-in user who sent it, if known.
    pub requested_by_user: Option<String>,
    /// The device it came from, if known.
    pub device: Option<String>,
    /// The client's address.
    pub client_addr: IpAddr,
    /// The page the request is about.
    pub url: String,
    /// Its host name.
    pub host: String,
    /// Unblock or block.
    pub kind: ReviewKind,
    /// What the filter decided for this person when they asked (stored as `blocked` or
    /// `allowed`).
    pub verdict_at_request: Verdict,
    /// The category that decided, if any.
    pub category: Option<String>,
    /// The rule that decided, if known.
    pub rule: Option<String>,
    /// What the person wrote; at most [`NewReviewRequest::MAX_COMMENT_CHARS`] characters,
    /// empty if they wrote nothing.
    pub comment: String,
}

impl NewReviewRequest {
    /// The longest comment stored, in characters (also a database CHECK).
    pub const MAX_COMMENT_CHARS: usize = 2_000;
    /// The longest URL stored, in characters.
    pub const MAX_URL_CHARS: usize = 8_192;
}

/// A stored review request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRequest {
    /// Database id.
    pub id: ReviewRequestId,
    /// The request as sent.
    pub request: NewReviewRequest,
    /// New, approved or declined.
    pub status: ReviewStatus,
    /// Who approved or declined it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
    /// Why, in their words.
    pub decision_note: Option<String>,
}

/// Converts a stored microsecond count back into a timestamp.
pub(crate) fn timestamp_from_us(us: i64, what: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us)
        .map_err(|e| StoreError::Corrupt(format!("{what} {us} is not a valid time: {e}")))
}

/// The stored form of a timestamp. jiff's range fits comfortably in i64 microseconds.
pub(crate) fn timestamp_to_us(t: Timestamp) -> i64 {
    t.as_microsecond()
}
