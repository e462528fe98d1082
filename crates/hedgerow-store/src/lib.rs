//! Persistent storage for Hedgerow: schools, users, devices, browsing activity and the audit
//! log, over an embedded SQLite file (the default) or a PostgreSQL server.
//!
//! # Shape
//!
//! * [`Store`] is a cheap-to-clone handle. [`Store::open`] takes a `sqlite://` or
//!   `postgres://` URL, creates a missing SQLite file (WAL journal, `synchronous=NORMAL`,
//!   foreign keys on, 5 s busy timeout) and applies the embedded, versioned migrations
//!   (`migrations/sqlite`, `migrations/postgres`).
//! * Every record belongs to a school ([`SchoolId`]); one store can serve a whole trust.
//! * Times are [`jiff::Timestamp`]s in the API and integer microseconds since the Unix epoch in
//!   the database (`*_at_us` columns), so both backends sort and index identically.
//! * [`writer::EventWriter`] batches activity events in the background so recording one never
//!   waits on the database.
//!
//! # Browsing history is sensitive
//!
//! Activity events describe what children looked at. [`Store::read_events`] therefore takes a
//! [`Reader`] (who, from where, why) and writes an `activity.read` audit record in the same
//! transaction as the read; retention purges are audited as `activity.purge`. The audit log
//! is append-only: the API has no way to change it and database triggers refuse `UPDATE` and
//! `DELETE` on it.
//!
//! # Choices beyond the original sketch
//!
//! * [`EventFilter::client_ip`] is an [`std::net::IpAddr`], not text, so different spellings
//!   of one address match what was stored.
//! * [`EventFilter::limit`] is capped at [`EventFilter::MAX_LIMIT`]; results are newest first.
//! * Device addresses are a `Vec<String>` kept exactly as given, stored comma-separated.
//! * Creation times are stored as `created_at_us`; integer columns are `BIGINT` in PostgreSQL.
//! * [`Store::purge_events_before`] records the actor `system:retention`.
//! * [`writer::WriterConfig::shutdown_grace`] bounds how long shutdown retries a failing
//!   database; accepted events the database refuses as invalid (for example an unknown
//!   school) are dropped and counted rather than retried for ever.
//! * [`Store::setting`] / [`Store::set_setting`] give the optional per-school key/value table.
//! * Review requests from the block page ([`Store::insert_review_request`],
//!   [`Store::review_requests`], [`Store::decide_review_request`]) store the verdict at the
//!   time as `blocked` / `allowed`; comments are capped at 2,000 characters by the store and a
//!   CHECK.
//! * Monitoring alerts and the concerns opened from them live in `alerts.rs`
//!   ([`Store::raise_alert`], [`Store::triage_alert`], [`Store::create_concern_from_alert`],
//!   [`Store::alert_summary`]); reads that name a person are audited like browsing history.
//! * [`Store::user_for_login`] finds a sign-in name in one school or across all of them,
//!   ignoring case, and refuses a name two schools share rather than guess.
//! * Acceptable use agreements, their acceptances, parents' links, image consent and
//!   visitors' day codes live in `agreements.rs` ([`Store::publish_agreement`],
//!   [`Store::record_acceptance`], [`Store::agreement_gate_rows`], [`Store::set_image_consent`],
//!   [`Store::admit_visitor`]); reports naming pupils are audited.

mod admin;
mod agreements;
mod alerts;
mod changes;
mod error;
mod explorer;
mod model;
mod people;
mod records;
mod sched;
mod store;
mod tokens;
mod tx;
pub mod writer;

pub use admin::{
    ActingUser, AdminAccount, AdminAccountId, AnnualReview, AnnualReviewId, CheckEntry, CheckId,
    CheckMethod, CheckResult, Contact, ContactDetails, ContactId, ContactRole, NewAdminAccount,
    NewAnnualReview, NewCheck, NewReviewAction, REVIEW_GOVERNOR_ROLES, ReviewAction,
    ReviewActionId, ReviewParticipant, limits as admin_limits,
};
pub use agreements::{
    AUDIENCES, Acceptance, AcceptanceMethod, AcceptanceReportRow, AgreementSettings,
    AgreementVersion, CONSENT_STATES, CONSENT_VIA, ConsentChange, ConsentEntry, DEFAULTS_ACTOR,
    GateAcceptance, IMAGE_USES, ImageConsentRow, MAX_DEVICES_PER_CODE, NewAcceptance, ParentLink,
    RELATIONSHIPS, SubjectKind, VisitorAdmission, VisitorCode, limits as agreement_limits,
};
pub use alerts::{
    Alert, AlertFilter, AlertStatus, AlertSummary, AlertTrigger, CategoryAlerts,
    CircumventionCount, Concern, ConcernStatus, HIGH_SEVERITY, MAX_NOTE_CHARS, MAX_RECORD_EVIDENCE,
    NewAlert, RaisedAlert, StatusCounts,
};
pub use changes::{
    APPROVAL_SETTING, ChangeFilter, ChangeStatus, ChangesVersion, DEFAULT_APPROVAL_REQUIRED,
    NewPolicyChange, PolicyChangeId, PolicyChangeRecord, parse_approval_rules,
};
pub use error::StoreError;
/// One CSV cell, defused against spreadsheet formulas: for the admin app's own CSV downloads.
pub use explorer::csv_cell;
pub use explorer::{
    ActivitySummary, AuditPage, AuditQuery, Count, Cursor, ExplorerPage, ExplorerQuery, HostFilter,
    MAX_TIMELINE,
};
pub use model::{
    ActivityEvent, AlertId, AuditEntry, AuditRecord, ConcernId, Device, DeviceId, EventFilter,
    EventSource, NewDevice, NewReviewRequest, NewUser, Reader, ReviewKind, ReviewRequest,
    ReviewRequestId, ReviewStatus, School, SchoolId, StoredEvent, User, UserId, UserKind, Verdict,
};
pub use people::{
    ClassCount, ClassRecord, GroupCount, ImportPlan, ImportedClass, ImportedPerson, PeopleBatch,
    PeopleCounts, Person, PlannedChange,
};
pub use records::{
    ChronologyEntry, ConcernAction, ConcernRecord, DestructionCertificate, INVOLVEMENTS, LOCATIONS,
    MAX_SUBJECT_ACCESS_EVENTS, NewRecord, NewSanction, NewTransfer, PERSON_ROLES, PersonInvolved,
    ProcedureState, RECORD_TYPES, REFERRAL_KINDS, RecordFilter, RecordRetention, RecordSanction,
    RecordSummary, ReviewItem, SANCTION_KINDS, StepDone, SubjectAccessData, TermlyFigures,
    Transfer, limits as record_limits, london_date, sha256_hex,
};
pub use store::{EVENT_ROWS_PER_INSERT, Store};
pub use tokens::{ApiToken, ApiTokenId, MAX_ACTIVE_TOKENS, MAX_TOKEN_NAME, USE_RECORD_INTERVAL};
pub use writer::{EventSink, EventWriter, Rejected, WriterConfig, WriterHandle, WriterStats};
