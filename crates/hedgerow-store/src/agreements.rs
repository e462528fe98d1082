//! Acceptable use agreements: each audience's versioned text, who accepted which version (and
//! how, and who signed), the yearly renewal settings, parents' per-child links, the image
//! consent register with its history, and visitors' day codes with the addresses they let on.
//!
//! The store keeps vocabularies (audiences, image uses) as text checked against the closed
//! sets below and the tables' CHECKs; the pure crate `hedgerow-agreements` names and explains
//! them and the web layer checks what people send against it. Every change is audited in the
//! same transaction as the change. Reads that list pupils with what they accepted or consented
//! to ([`Store::agreement_report`], [`Store::image_consents`], [`Store::image_consent_history`])
//! are audited too, like other reads of pupils' data; [`Store::image_consent_for`] is not,
//! because it serves the parent's page about their own child.
//!
//! # Choices
//!
//! * The current version of an audience's agreement is its highest version number.
//! * An acceptance for a user names a user of the school (matched ignoring case, stored with
//!   the spelling the school uses); devices and visitors are taken as given, because devices
//!   and guests may be known only to the configuration or the portal.
//! * A paper acceptance must say who entered it (`recorded_by`).
//! * Re-admitting a visitor's address adds a row; the three-device limit counts distinct
//!   addresses, and [`Store::visitor_admissions`] returns each address once per code.
//! * [`Store::agreements_fingerprint`] is built from the tables' highest ids and the settings'
//!   revisions, so it needs no extra write on the hot path of accepting.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::error::ErrorKind;
use sqlx::{AssertSqlSafe, FromRow};

use crate::model::{SchoolId, UserKind, timestamp_from_us, timestamp_to_us};
use crate::store::{Arg, Backend, unknown_school_or, validate_name, validate_text, with_pool};
use crate::tx::{audit, check_actor, check_key, check_long, in_tx};
use crate::{ActingUser, Store, StoreError};

/// The audiences an agreement can be for, as stored (`agreement_versions.audience`), in the
/// order pages list them.
pub const AUDIENCES: [&str; 7] = [
    "eyfs-ks1",
    "ks2",
    "staff",
    "governors",
    "visitors",
    "parents",
    "social-media",
];
/// Who signed, relative to the subject (`agreement_acceptances.relationship`).
pub const RELATIONSHIPS: [&str; 3] = ["self", "parent-carer", "staff-on-behalf"];
/// The uses of a pupil's image a parent consents to (`image_consents.use_key`).
pub const IMAGE_USES: [&str; 5] = ["website", "social-media", "newsletter", "press", "displays"];
/// The states of consent (`image_consents.state`).
pub const CONSENT_STATES: [&str; 2] = ["given", "refused"];
/// How a consent change reached the school (`image_consent_changes.via`).
pub const CONSENT_VIA: [&str; 2] = ["parent-link", "staff"];
/// The most devices (distinct client addresses) one visitor day code lets on.
pub const MAX_DEVICES_PER_CODE: usize = 3;
/// The actor recorded for the default texts published at start.
pub const DEFAULTS_ACTOR: &str = "system:defaults";

/// Length limits, in characters.
pub mod limits {
    /// An agreement's title.
    pub const TITLE: usize = 200;
    /// An agreement's body.
    pub const BODY: usize = 20_000;
    /// A publishing note or a consent change note.
    pub const NOTE: usize = 2_000;
    /// A person's name (who signed, a visitor's name, who did something).
    pub const NAME: usize = 200;
}

/// One published version of an audience's agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementVersion {
    /// Database id; acceptances refer to it.
    pub id: i64,
    /// The school it belongs to.
    pub school: SchoolId,
    /// Audience key, one of [`AUDIENCES`].
    pub audience: String,
    /// 1, 2, ... within the school and audience.
    pub version: i32,
    /// The title shown above it.
    pub title: String,
    /// The text, in the pure crate's simple markup.
    pub body: String,
    /// When it was published (and became current).
    pub published_at: Timestamp,
    /// Who published it.
    pub published_by: String,
    /// Why (may be empty).
    pub note: String,
}

/// A school's renewal date, "expiring soon" window and parents' link lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgreementSettings {
    /// Month of the yearly renewal date, 1 to 12.
    pub renewal_month: i8,
    /// Day of the yearly renewal date (29 February allowed).
    pub renewal_day: i8,
    /// How many days before expiry an acceptance counts as expiring soon, 0 to 120.
    pub expiring_soon_days: i32,
    /// How many days a parent's link works, 1 to 365.
    pub parent_link_days: i32,
}

impl Default for AgreementSettings {
    /// 1 September, 30 days, links for 28 days.
    fn default() -> AgreementSettings {
        AgreementSettings {
            renewal_month: 9,
            renewal_day: 1,
            expiring_soon_days: 30,
            parent_link_days: 28,
        }
    }
}

/// How an acceptance was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AcceptanceMethod {
    /// Clicked at the access portal.
    Portal,
    /// Signed on paper and entered by staff.
    Paper,
    /// Co-signed by a parent through their link (does not by itself let anyone in).
    ParentLink,
}

impl AcceptanceMethod {
    /// Every method.
    pub const ALL: [AcceptanceMethod; 3] = [
        AcceptanceMethod::Portal,
        AcceptanceMethod::Paper,
        AcceptanceMethod::ParentLink,
    ];

    /// `"portal"`, `"paper"` or `"parent-link"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AcceptanceMethod::Portal => "portal",
            AcceptanceMethod::Paper => "paper",
            AcceptanceMethod::ParentLink => "parent-link",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<AcceptanceMethod> {
        AcceptanceMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether an acceptance made this way can let its subject through the gateway.
    pub fn opens_gate(self) -> bool {
        matches!(self, AcceptanceMethod::Portal | AcceptanceMethod::Paper)
    }
}

impl fmt::Display for AcceptanceMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of thing accepted an agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectKind {
    /// A user, by username.
    User,
    /// A device, by name.
    Device,
    /// A visitor, by the name they typed.
    Visitor,
}

impl SubjectKind {
    /// Every kind.
    pub const ALL: [SubjectKind; 3] =
        [SubjectKind::User, SubjectKind::Device, SubjectKind::Visitor];

    /// `"user"`, `"device"` or `"visitor"`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Device => "device",
            SubjectKind::Visitor => "visitor",
        }
    }

    /// Parses the stored name; `None` for anything unknown.
    pub fn parse(s: &str) -> Option<SubjectKind> {
        SubjectKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An acceptance to record with [`Store::record_acceptance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAcceptance {
    /// The school.
    pub school: SchoolId,
    /// The version accepted (must belong to the school).
    pub version_id: i64,
    /// What accepted it.
    pub subject_kind: SubjectKind,
    /// The username, device name or visitor's name.
    pub subject: String,
    /// The name of whoever signed.
    pub signed_by: String,
    /// One of [`RELATIONSHIPS`].
    pub relationship: String,
    /// How.
    pub method: AcceptanceMethod,
    /// The member of staff who entered it (required for paper).
    pub recorded_by: Option<String>,
    /// The address it was accepted from, at the portal.
    pub client_addr: Option<IpAddr>,
    /// When it was accepted (for paper: the day it was signed).
    pub accepted_at: Timestamp,
}

/// A stored acceptance, with the audience and version number of what was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    /// Database id.
    pub id: i64,
    /// The school.
    pub school: SchoolId,
    /// The version accepted.
    pub version_id: i64,
    /// That version's audience.
    pub audience: String,
    /// That version's number.
    pub version: i32,
    /// What accepted it.
    pub subject_kind: SubjectKind,
    /// The username, device name or visitor's name.
    pub subject: String,
    /// Who signed.
    pub signed_by: String,
    /// One of [`RELATIONSHIPS`].
    pub relationship: String,
    /// How.
    pub method: AcceptanceMethod,
    /// Who entered it, for paper.
    pub recorded_by: Option<String>,
    /// The client address, for the portal.
    pub client_addr: Option<String>,
    /// When.
    pub accepted_at: Timestamp,
}

/// The latest portal or paper acceptance of one subject for one audience, for the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateAcceptance {
    /// What accepted.
    pub subject_kind: SubjectKind,
    /// Who.
    pub subject: String,
    /// The audience of the version accepted.
    pub audience: String,
    /// The version accepted.
    pub version_id: i64,
    /// When.
    pub accepted_at: Timestamp,
}

/// One person in the acceptance report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptanceReportRow {
    /// Username.
    pub username: String,
    /// Name shown to staff.
    pub display_name: String,
    /// Pupil, staff or visitor.
    pub kind: UserKind,
    /// Filtering group key.
    pub group_key: String,
    /// Year group label.
    pub year_group: Option<String>,
    /// Class.
    pub class_name: Option<String>,
    /// E-mail address, where an import gave one (for reminders).
    pub email: Option<String>,
    /// For each audience they accepted anything of: the latest portal-or-paper acceptance and
    /// the latest parent-link co-signature, in [`AUDIENCES`] order, portal-or-paper first.
    pub latest: Vec<Acceptance>,
}

/// A parent's link to one child's agreement and image consent (the token itself is never
/// stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentLink {
    /// Database id.
    pub id: i64,
    /// The school.
    pub school: SchoolId,
    /// The child's username.
    pub child: String,
    /// When the letter was made.
    pub created_at: Timestamp,
    /// Who made it.
    pub created_by: String,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When a parent last opened it.
    pub last_used_at: Option<Timestamp>,
    /// Whether a newer letter replaced it.
    pub revoked: bool,
}

/// A pupil's consent for one use as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEntry {
    /// `given` or `refused`.
    pub state: String,
    /// When it was last changed.
    pub changed_at: Timestamp,
    /// Who changed it (a member of staff, or the parent's name).
    pub changed_by: String,
    /// `parent-link` or `staff`.
    pub via: String,
}

/// One pupil in the image consent register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConsentRow {
    /// Username.
    pub pupil: String,
    /// Name shown to staff.
    pub display_name: String,
    /// Class.
    pub class_name: Option<String>,
    /// Filtering group key.
    pub group_key: String,
    /// Consent per use key; a missing use has not been asked (treat as not given).
    pub states: BTreeMap<String, ConsentEntry>,
}

/// One change in a pupil's image consent history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentChange {
    /// Which use.
    pub use_key: String,
    /// The state before (`None`: not asked).
    pub old_state: Option<String>,
    /// The state after.
    pub new_state: String,
    /// When.
    pub changed_at: Timestamp,
    /// Who.
    pub changed_by: String,
    /// `parent-link` or `staff`.
    pub via: String,
    /// Why, or what the parent said (may be empty).
    pub note: String,
}

/// A visitor's day code (the code itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorCode {
    /// Database id.
    pub id: i64,
    /// The school.
    pub school: SchoolId,
    /// The visitor's name as reception typed it.
    pub visitor_name: String,
    /// The day it works on.
    pub day: Date,
    /// Who issued it.
    pub issued_by: String,
    /// When.
    pub issued_at: Timestamp,
    /// How many distinct devices (client addresses) it has let on.
    pub devices_admitted: i64,
}

/// A client address a day code let on, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorAdmission {
    /// The client's address.
    pub client_addr: IpAddr,
    /// When the admission ends (the end of the code's day).
    pub until: Timestamp,
    /// The visitor's name on the code.
    pub visitor_name: String,
    /// The code.
    pub code_id: i64,
}

const VERSION_COLUMNS: &str = "id, school_id, audience, version, title, body, published_at_us, \
     published_by, note";

const ACCEPTANCE_SELECT: &str = "SELECT a.id, a.school_id, a.version_id, v.audience, v.version, \
     a.subject_kind, a.subject, a.signed_by, a.relationship, a.method, a.recorded_by, \
     a.client_addr, a.accepted_at_us FROM agreement_acceptances a \
     JOIN agreement_versions v ON v.id = a.version_id";

const LINK_COLUMNS: &str = "id, school_id, child, created_at_us, created_by, expires_at_us, \
     last_used_at_us, revoked";

const CODE_SELECT: &str = "SELECT c.id, c.school_id, c.visitor_name, c.day, c.issued_by, \
     c.issued_at_us, (SELECT COUNT(DISTINCT a.client_addr) FROM visitor_admissions a \
     WHERE a.code_id = c.id) AS devices_admitted FROM visitor_codes c";

/// Versions current for each audience: the highest number of each.
const CURRENT_VERSIONS: &str = "SELECT id, school_id, audience, version, title, body, \
     published_at_us, published_by, note FROM agreement_versions v WHERE school_id = $1 \
     AND version = (SELECT MAX(w.version) FROM agreement_versions w \
     WHERE w.school_id = v.school_id AND w.audience = v.audience)";

#[derive(FromRow)]
struct VersionRow {
    id: i64,
    school_id: i64,
    audience: String,
    version: i64,
    title: String,
    body: String,
    published_at_us: i64,
    published_by: String,
    note: String,
}

impl VersionRow {
    fn into_version(self) -> Result<AgreementVersion, StoreError> {
        Ok(AgreementVersion {
            id: self.id,
            school: SchoolId(self.school_id),
            version: i32::try_from(self.version).map_err(|_| {
                StoreError::Corrupt(format!(
                    "agreement version {} has invalid number {}",
                    self.id, self.version
                ))
            })?,
            audience: self.audience,
            title: self.title,
            body: self.body,
            published_at: timestamp_from_us(self.published_at_us, "agreement publishing time")?,
            published_by: self.published_by,
            note: self.note,
        })
    }
}

#[derive(FromRow)]
struct AcceptanceRow {
    id: i64,
    school_id: i64,
    version_id: i64,
    audience: String,
    version: i64,
    subject_kind: String,
    subject: String,
    signed_by: String,
    relationship: String,
    method: String,
    recorded_by: Option<String>,
    client_addr: Option<String>,
    accepted_at_us: i64,
}

impl AcceptanceRow {
    fn into_acceptance(self) -> Result<Acceptance, StoreError> {
        let id = self.id;
        let corrupt = |what: &str, value: &dyn fmt::Debug| {
            StoreError::Corrupt(format!("acceptance {id} has invalid {what} {value:?}"))
        };
        Ok(Acceptance {
            id,
            school: SchoolId(self.school_id),
            version_id: self.version_id,
            version: i32::try_from(self.version)
                .map_err(|_| corrupt("version number", &self.version))?,
            audience: self.audience,
            subject_kind: SubjectKind::parse(&self.subject_kind)
                .ok_or_else(|| corrupt("subject kind", &self.subject_kind))?,
            subject: self.subject,
            signed_by: self.signed_by,
            relationship: self.relationship,
            method: AcceptanceMethod::parse(&self.method)
                .ok_or_else(|| corrupt("method", &self.method))?,
            recorded_by: self.recorded_by,
            client_addr: self.client_addr,
            accepted_at: timestamp_from_us(self.accepted_at_us, "acceptance time")?,
        })
    }
}

#[derive(FromRow)]
struct LinkRow {
    id: i64,
    school_id: i64,
    child: String,
    created_at_us: i64,
    created_by: String,
    expires_at_us: i64,
    last_used_at_us: Option<i64>,
    revoked: i64,
}

impl LinkRow {
    fn into_link(self) -> Result<ParentLink, StoreError> {
        Ok(ParentLink {
            id: self.id,
            school: SchoolId(self.school_id),
            child: self.child,
            created_at: timestamp_from_us(self.created_at_us, "parent link creation time")?,
            created_by: self.created_by,
            expires_at: timestamp_from_us(self.expires_at_us, "parent link expiry")?,
            last_used_at: self
                .last_used_at_us
                .map(|us| timestamp_from_us(us, "parent link use time"))
                .transpose()?,
            revoked: self.revoked != 0,
        })
    }
}

#[derive(FromRow)]
struct CodeRow {
    id: i64,
    school_id: i64,
    visitor_name: String,
    day: String,
    issued_by: String,
    issued_at_us: i64,
    devices_admitted: i64,
}

impl CodeRow {
    fn into_code(self) -> Result<VisitorCode, StoreError> {
        Ok(VisitorCode {
            id: self.id,
            school: SchoolId(self.school_id),
            day: self.day.parse().map_err(|_| {
                StoreError::Corrupt(format!(
                    "visitor code {} has invalid day {:?}",
                    self.id, self.day
                ))
            })?,
            visitor_name: self.visitor_name,
            issued_by: self.issued_by,
            issued_at: timestamp_from_us(self.issued_at_us, "visitor code issue time")?,
            devices_admitted: self.devices_admitted,
        })
    }
}

#[derive(FromRow)]
struct ConsentRow {
    pupil: String,
    use_key: String,
    state: String,
    changed_at_us: i64,
    changed_by: String,
    via: String,
}

impl ConsentRow {
    fn into_entry(self) -> Result<(String, String, ConsentEntry), StoreError> {
        Ok((
            self.pupil,
            self.use_key,
            ConsentEntry {
                state: self.state,
                changed_at: timestamp_from_us(self.changed_at_us, "image consent time")?,
                changed_by: self.changed_by,
                via: self.via,
            },
        ))
    }
}

/// A SHA-256 as 64 lowercase hexadecimal digits, as `sha256_hex` makes it.
fn check_sha256(field: &'static str, value: &str) -> Result<(), StoreError> {
    let ok = value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            field,
            "it is not a SHA-256 in lowercase hexadecimal; hash the token or code with sha256_hex",
        ))
    }
}

fn check_settings(settings: &AgreementSettings) -> Result<(), StoreError> {
    let AgreementSettings {
        renewal_month: month,
        renewal_day: day,
        expiring_soon_days,
        parent_link_days,
    } = *settings;
    if !(1..=12).contains(&month) {
        return Err(StoreError::invalid(
            "renewal month",
            format!("{month} is not a month; give 1 (January) to 12 (December)"),
        ));
    }
    // 2024 is a leap year, so 29 February is allowed (renewing on 28 February in other years).
    if Date::new(2024, month, day).is_err() {
        return Err(StoreError::invalid(
            "renewal day",
            format!("month {month} has no day {day}; give a day that exists in that month"),
        ));
    }
    if !(0..=120).contains(&expiring_soon_days) {
        return Err(StoreError::invalid(
            "expiring soon window",
            format!(
                "{expiring_soon_days} days is outside 0 to 120; give a number of days in that range"
            ),
        ));
    }
    if !(1..=365).contains(&parent_link_days) {
        return Err(StoreError::invalid(
            "parent link lifetime",
            format!(
                "{parent_link_days} days is outside 1 to 365; give a number of days in that range"
            ),
        ));
    }
    Ok(())
}

fn check_new_acceptance(a: &NewAcceptance) -> Result<(), StoreError> {
    validate_name("subject", &a.subject)?;
    validate_text("signed by", a.signed_by.trim(), limits::NAME)?;
    check_key("relationship", &a.relationship, &RELATIONSHIPS)?;
    if let Some(by) = &a.recorded_by {
        validate_text("recorded by", by, limits::NAME)?;
    }
    if a.method == AcceptanceMethod::Paper && a.recorded_by.is_none() {
        return Err(StoreError::invalid(
            "recorded by",
            "a paper acceptance must say which member of staff entered it",
        ));
    }
    if a.method == AcceptanceMethod::ParentLink && a.relationship != "parent-carer" {
        return Err(StoreError::invalid(
            "relationship",
            "a co-signature through a parent's link is signed by a parent or carer; use parent-carer",
        ));
    }
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

/// Users' rows sort by these, the same on both backends (whose collations differ).
fn name_order(
    class: &Option<String>,
    display: &str,
    username: &str,
) -> (bool, String, String, String) {
    (
        class.is_none(),
        class.as_deref().unwrap_or_default().to_lowercase(),
        display.to_lowercase(),
        username.to_lowercase(),
    )
}

fn audience_position(audience: &str) -> usize {
    AUDIENCES
        .iter()
        .position(|a| *a == audience)
        .unwrap_or(AUDIENCES.len())
}

/// The user's stored username in this school (matched ignoring case), inside `$tx`;
/// `$pupils_only` restricts it to pupils. Refuses an unknown name with a sentence.
macro_rules! stored_username {
    ($tx:ident, $school:expr, $name:expr, $pupils_only:expr) => {{
        let sql = if $pupils_only {
            "SELECT username FROM users WHERE school_id = $1 AND lower(username) = lower($2) \
             AND kind = 'pupil' ORDER BY id LIMIT 1"
        } else {
            "SELECT username FROM users WHERE school_id = $1 AND lower(username) = lower($2) \
             ORDER BY id LIMIT 1"
        };
        let found: Option<(String,)> = sqlx::query_as(sql)
            .bind($school.0)
            .bind($name)
            .fetch_optional(&mut *$tx)
            .await
            .map_err(StoreError::query("looking up a person"))?;
        match found {
            Some((name,)) => name,
            None => {
                return Err(StoreError::invalid(
                    if $pupils_only { "pupil" } else { "user" },
                    format!(
                        "there is no {} {:?} in this school; check the username",
                        if $pupils_only { "pupil" } else { "user" },
                        $name
                    ),
                ));
            }
        }
    }};
}

impl Store {
    /// Publishes a new version of an audience's agreement, numbered one past the latest, and
    /// makes it current: everyone in that audience must accept again. Audited as
    /// `agreement.publish`.
    pub async fn publish_agreement(
        &self,
        school: SchoolId,
        audience: &str,
        title: &str,
        body: &str,
        by: &str,
        note: &str,
    ) -> Result<AgreementVersion, StoreError> {
        check_key("audience", audience, &AUDIENCES)?;
        validate_text("title", title.trim(), limits::TITLE)?;
        if body.trim().is_empty() {
            return Err(StoreError::invalid(
                "agreement text",
                "it is empty; write the agreement",
            ));
        }
        check_long("agreement text", body, limits::BODY)?;
        check_long("note", note, limits::NOTE)?;
        validate_text("published by", by, limits::NAME)?;
        let title = title.trim();
        let note = note.trim();
        let now = timestamp_to_us(Timestamp::now());
        let insert = format!(
            "INSERT INTO agreement_versions (school_id, audience, version, title, body, \
             published_at_us, published_by, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING {VERSION_COLUMNS}"
        );
        let row: VersionRow = in_tx!(self, "to publish an agreement", |tx| {
            let latest: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM agreement_versions \
                 WHERE school_id = $1 AND audience = $2",
            )
            .bind(school.0)
            .bind(audience)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("numbering an agreement version"))?;
            let row: VersionRow = sqlx::query_as(AssertSqlSafe(insert))
                .bind(school.0)
                .bind(audience)
                .bind(latest + 1)
                .bind(title)
                .bind(body)
                .bind(now)
                .bind(by)
                .bind(note)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::invalid(
                            "agreement version",
                            "someone else published this agreement at the same moment; reload the page and publish again if it is still needed",
                        )
                    } else {
                        unknown_school_or(e, school, "publishing an agreement")
                    }
                })?;
            audit!(
                tx,
                school,
                by,
                None,
                "agreement.publish",
                format!("agreement:{}", row.id),
                format!("audience={audience} version={} note={note:?}", row.version)
            );
            Ok::<_, StoreError>(row)
        })?;
        row.into_version()
    }

    /// Publishes version 1 of each `(audience, title, body)` whose audience has no version
    /// yet, by [`DEFAULTS_ACTOR`]; returns how many it published. Safe to run on every start
    /// and on several gateway nodes at once.
    pub async fn ensure_default_agreements(
        &self,
        school: SchoolId,
        defaults: &[(String, String, String)],
    ) -> Result<usize, StoreError> {
        for (audience, title, body) in defaults {
            check_key("audience", audience, &AUDIENCES)?;
            validate_text("title", title.trim(), limits::TITLE)?;
            if body.trim().is_empty() {
                return Err(StoreError::invalid(
                    "agreement text",
                    "it is empty; write the agreement",
                ));
            }
            check_long("agreement text", body, limits::BODY)?;
        }
        let now = timestamp_to_us(Timestamp::now());
        in_tx!(self, "to publish the default agreements", |tx| {
            let mut published = 0;
            for (audience, title, body) in defaults {
                let exists: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM agreement_versions WHERE school_id = $1 AND audience = $2 \
                     LIMIT 1",
                )
                .bind(school.0)
                .bind(audience)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query("looking for an agreement"))?;
                if exists.is_some() {
                    continue;
                }
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO agreement_versions (school_id, audience, version, title, body, \
                     published_at_us, published_by, note) VALUES ($1, $2, 1, $3, $4, $5, $6, $7) \
                     ON CONFLICT (school_id, audience, version) DO NOTHING RETURNING id",
                )
                .bind(school.0)
                .bind(audience)
                .bind(title.trim())
                .bind(body)
                .bind(now)
                .bind(DEFAULTS_ACTOR)
                .bind("The project's default text.")
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| unknown_school_or(e, school, "publishing a default agreement"))?;
                if let Some(id) = id {
                    published += 1;
                    audit!(
                        tx,
                        school,
                        DEFAULTS_ACTOR,
                        None,
                        "agreement.publish",
                        format!("agreement:{id}"),
                        format!("audience={audience} version=1 note=\"default text\"")
                    );
                }
            }
            Ok::<_, StoreError>(published)
        })
    }

    /// The current (highest) version of an audience's agreement, or `None` when none was
    /// published.
    pub async fn current_agreement(
        &self,
        school: SchoolId,
        audience: &str,
    ) -> Result<Option<AgreementVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE school_id = $1 \
             AND audience = $2 ORDER BY version DESC LIMIT 1"
        );
        let row: Option<VersionRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(school.0).bind(audience).fetch_optional(pool).await
        })
        .map_err(StoreError::query("reading an agreement"))?;
        row.map(VersionRow::into_version).transpose()
    }

    /// The current version of every audience that has one, in [`AUDIENCES`] order.
    pub async fn current_agreements(
        &self,
        school: SchoolId,
    ) -> Result<Vec<AgreementVersion>, StoreError> {
        let rows: Vec<VersionRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(CURRENT_VERSIONS).bind(school.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("reading the current agreements"))?;
        let mut versions = rows
            .into_iter()
            .map(VersionRow::into_version)
            .collect::<Result<Vec<_>, _>>()?;
        versions.sort_by_key(|v| audience_position(&v.audience));
        Ok(versions)
    }

    /// Every version of an audience's agreement, newest first.
    pub async fn agreement_versions(
        &self,
        school: SchoolId,
        audience: &str,
    ) -> Result<Vec<AgreementVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE school_id = $1 \
             AND audience = $2 ORDER BY version DESC"
        );
        let rows: Vec<VersionRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(school.0).bind(audience).fetch_all(pool).await
        })
        .map_err(StoreError::query("reading an agreement's versions"))?;
        rows.into_iter().map(VersionRow::into_version).collect()
    }

    /// One version of this school's agreements by id, or `None`.
    pub async fn agreement_version(
        &self,
        school: SchoolId,
        id: i64,
    ) -> Result<Option<AgreementVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE school_id = $1 AND id = $2"
        );
        let row: Option<VersionRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(school.0).bind(id).fetch_optional(pool).await
        })
        .map_err(StoreError::query("reading an agreement version"))?;
        row.map(VersionRow::into_version).transpose()
    }

    /// The school's renewal settings, or [`AgreementSettings::default`] when never set.
    pub async fn agreement_settings(
        &self,
        school: SchoolId,
    ) -> Result<AgreementSettings, StoreError> {
        let row: Option<(i64, i64, i64, i64)> = with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT renewal_month, renewal_day, expiring_soon_days, parent_link_days \
                 FROM agreement_settings WHERE school_id = $1",
            )
            .bind(school.0)
            .fetch_optional(pool)
            .await
        })
        .map_err(StoreError::query("reading the agreement settings"))?;
        let Some((month, day, window, link_days)) = row else {
            return Ok(AgreementSettings::default());
        };
        let corrupt = || {
            StoreError::Corrupt(format!(
                "school {school} has invalid agreement settings {month}/{day}/{window}/{link_days}"
            ))
        };
        Ok(AgreementSettings {
            renewal_month: i8::try_from(month).map_err(|_| corrupt())?,
            renewal_day: i8::try_from(day).map_err(|_| corrupt())?,
            expiring_soon_days: i32::try_from(window).map_err(|_| corrupt())?,
            parent_link_days: i32::try_from(link_days).map_err(|_| corrupt())?,
        })
    }

    /// Sets the school's renewal settings. Audited as `agreement.settings`.
    pub async fn set_agreement_settings(
        &self,
        school: SchoolId,
        settings: &AgreementSettings,
        by: &str,
    ) -> Result<(), StoreError> {
        check_settings(settings)?;
        validate_text("changed by", by, limits::NAME)?;
        let now = timestamp_to_us(Timestamp::now());
        in_tx!(self, "to save the agreement settings", |tx| {
            sqlx::query(
                "INSERT INTO agreement_settings (school_id, renewal_month, renewal_day, \
                 expiring_soon_days, parent_link_days, updated_at_us, updated_by, revision) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1) ON CONFLICT (school_id) DO UPDATE SET \
                 renewal_month = excluded.renewal_month, renewal_day = excluded.renewal_day, \
                 expiring_soon_days = excluded.expiring_soon_days, \
                 parent_link_days = excluded.parent_link_days, \
                 updated_at_us = excluded.updated_at_us, updated_by = excluded.updated_by, \
                 revision = agreement_settings.revision + 1",
            )
            .bind(school.0)
            .bind(i64::from(settings.renewal_month))
            .bind(i64::from(settings.renewal_day))
            .bind(i64::from(settings.expiring_soon_days))
            .bind(i64::from(settings.parent_link_days))
            .bind(now)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(|e| unknown_school_or(e, school, "saving the agreement settings"))?;
            audit!(
                tx,
                school,
                by,
                None,
                "agreement.settings",
                format!("school:{school}"),
                format!(
                    "renewal={:02}-{:02} expiring_soon_days={} parent_link_days={}",
                    settings.renewal_month,
                    settings.renewal_day,
                    settings.expiring_soon_days,
                    settings.parent_link_days
                )
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Records an acceptance of one of the school's agreement versions. A user subject must
    /// be a user of the school (the stored spelling of their username is kept). Audited as
    /// `agreement.accept`, by whoever entered it or else the subject.
    pub async fn record_acceptance(
        &self,
        acceptance: &NewAcceptance,
    ) -> Result<Acceptance, StoreError> {
        check_new_acceptance(acceptance)?;
        let a = acceptance;
        let school = a.school;
        let client_addr = a.client_addr.map(|ip| ip.to_string());
        let signed_by = a.signed_by.trim();
        let accepted_at_us = timestamp_to_us(a.accepted_at);
        in_tx!(self, "to record an acceptance", |tx| {
            let version: Option<(String, i64)> = sqlx::query_as(
                "SELECT audience, version FROM agreement_versions WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(a.version_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("finding the agreement accepted"))?;
            let Some((audience, version)) = version else {
                return Err(StoreError::NotFound {
                    what: "agreement version",
                    id: a.version_id,
                });
            };
            let subject = match a.subject_kind {
                SubjectKind::User => stored_username!(tx, school, &a.subject, false),
                SubjectKind::Device | SubjectKind::Visitor => a.subject.clone(),
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO agreement_acceptances (school_id, version_id, subject_kind, subject, \
                 signed_by, relationship, method, recorded_by, client_addr, accepted_at_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(school.0)
            .bind(a.version_id)
            .bind(a.subject_kind.as_str())
            .bind(&subject)
            .bind(signed_by)
            .bind(&a.relationship)
            .bind(a.method.as_str())
            .bind(a.recorded_by.as_deref())
            .bind(client_addr.as_deref())
            .bind(accepted_at_us)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unknown_school_or(e, school, "recording an acceptance"))?;
            let actor = match &a.recorded_by {
                Some(by) => by.clone(),
                None => format!("{}:{subject}", a.subject_kind),
            };
            audit!(
                tx,
                school,
                &actor,
                client_addr.as_deref(),
                "agreement.accept",
                format!("{}:{subject}", a.subject_kind),
                format!(
                    "acceptance={id} audience={audience} version={version} method={} relationship={} signed_by={signed_by:?}",
                    a.method, a.relationship
                )
            );
            let version = i32::try_from(version).map_err(|_| {
                StoreError::Corrupt(format!(
                    "agreement version {} has invalid number {version}",
                    a.version_id
                ))
            })?;
            Ok::<_, StoreError>(Acceptance {
                id,
                school,
                version_id: a.version_id,
                audience,
                version,
                subject_kind: a.subject_kind,
                subject,
                signed_by: signed_by.to_owned(),
                relationship: a.relationship.clone(),
                method: a.method,
                recorded_by: a.recorded_by.clone(),
                client_addr,
                accepted_at: a.accepted_at,
            })
        })
    }

    /// Every acceptance by one subject (a user matched ignoring case), newest first.
    pub async fn acceptances_for(
        &self,
        school: SchoolId,
        kind: SubjectKind,
        subject: &str,
    ) -> Result<Vec<Acceptance>, StoreError> {
        let sql = format!(
            "{ACCEPTANCE_SELECT} WHERE a.school_id = $1 AND a.subject_kind = $2 \
             AND lower(a.subject) = lower($3) ORDER BY a.accepted_at_us DESC, a.id DESC"
        );
        let rows: Vec<AcceptanceRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(kind.as_str())
                .bind(subject)
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("reading acceptances"))?;
        rows.into_iter()
            .map(AcceptanceRow::into_acceptance)
            .collect()
    }

    /// What the gateway needs to decide who is held: each audience's current version id, and
    /// the latest portal or paper acceptance per (subject kind, subject, audience).
    pub async fn agreement_gate_rows(
        &self,
        school: SchoolId,
    ) -> Result<(Vec<(String, i64)>, Vec<GateAcceptance>), StoreError> {
        let current_sql = "SELECT audience, id FROM agreement_versions v WHERE school_id = $1 \
             AND version = (SELECT MAX(w.version) FROM agreement_versions w \
             WHERE w.school_id = v.school_id AND w.audience = v.audience)";
        let accepted_sql = "SELECT a.subject_kind, a.subject, v.audience, a.version_id, \
             a.accepted_at_us, a.id FROM agreement_acceptances a \
             JOIN agreement_versions v ON v.id = a.version_id \
             WHERE a.school_id = $1 AND a.method IN ('portal', 'paper')";
        type Accepted = (String, String, String, i64, i64, i64);
        let (mut current, accepted): (Vec<(String, i64)>, Vec<Accepted>) = with_pool!(&self.backend, pool => {
            async {
                let current = sqlx::query_as(current_sql).bind(school.0).fetch_all(pool).await?;
                let accepted = sqlx::query_as(accepted_sql).bind(school.0).fetch_all(pool).await?;
                Ok::<_, sqlx::Error>((current, accepted))
            }
            .await
        })
        .map_err(StoreError::query("reading acceptances for the gateway"))?;
        current.sort_by_key(|(audience, _)| audience_position(audience));
        let mut latest: HashMap<(String, String, String), (i64, i64, i64)> = HashMap::new();
        for (kind, subject, audience, version_id, at_us, id) in accepted {
            let entry = latest
                .entry((kind, subject, audience))
                .or_insert((version_id, at_us, id));
            if (at_us, id) > (entry.1, entry.2) {
                *entry = (version_id, at_us, id);
            }
        }
        let mut gate = latest
            .into_iter()
            .map(|((kind, subject, audience), (version_id, at_us, _))| {
                Ok(GateAcceptance {
                    subject_kind: SubjectKind::parse(&kind).ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "an acceptance has invalid subject kind {kind:?}"
                        ))
                    })?,
                    subject,
                    audience,
                    version_id,
                    accepted_at: timestamp_from_us(at_us, "acceptance time")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        gate.sort_by(|a, b| {
            (a.subject_kind, &a.subject, audience_position(&a.audience)).cmp(&(
                b.subject_kind,
                &b.subject,
                audience_position(&b.audience),
            ))
        });
        Ok((current, gate))
    }

    /// A short text that changes whenever an agreement version, an acceptance, a school's
    /// settings or a visitor admission is written, in any school: the gateway polls it and
    /// re-reads only when it changes.
    pub async fn agreements_fingerprint(&self) -> Result<String, StoreError> {
        const SQL: &str = "SELECT \
             (SELECT COALESCE(MAX(id), 0) FROM agreement_versions), \
             (SELECT COALESCE(MAX(id), 0) FROM agreement_acceptances), \
             (SELECT CAST(COALESCE(SUM(revision), 0) AS BIGINT) FROM agreement_settings), \
             (SELECT COUNT(*) FROM agreement_settings), \
             (SELECT COALESCE(MAX(id), 0) FROM visitor_admissions)";
        let (versions, acceptances, revisions, settings, admissions): (i64, i64, i64, i64, i64) =
            with_pool!(&self.backend, pool => {
                sqlx::query_as(SQL).fetch_one(pool).await
            })
            .map_err(StoreError::query("reading the agreements fingerprint"))?;
        Ok(format!(
            "v{versions}-a{acceptances}-s{settings}.{revisions}-d{admissions}"
        ))
    }

    /// Every user of the school who is not disabled, with their latest acceptances (see
    /// [`AcceptanceReportRow::latest`]), ordered by kind, group, class and name. Audited as
    /// `agreement.report`.
    pub async fn agreement_report(
        &self,
        school: SchoolId,
        actor: &ActingUser,
    ) -> Result<Vec<AcceptanceReportRow>, StoreError> {
        check_actor(actor)?;
        let users_sql = "SELECT username, display_name, kind, group_key, year_group, class_name, \
             email FROM users WHERE school_id = $1 AND disabled = $2";
        let accepted_sql =
            format!("{ACCEPTANCE_SELECT} WHERE a.school_id = $1 AND a.subject_kind = 'user'");
        type UserRow = (
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let (users, accepted): (Vec<UserRow>, Vec<AcceptanceRow>) =
            in_tx!(self, "to read the acceptance report", |tx| {
                let users: Vec<UserRow> = sqlx::query_as(users_sql)
                    .bind(school.0)
                    .bind(false)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading users for the acceptance report"))?;
                let accepted: Vec<AcceptanceRow> = sqlx::query_as(AssertSqlSafe(accepted_sql))
                    .bind(school.0)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading acceptances for the report"))?;
                audit!(
                    tx,
                    school,
                    &actor.name,
                    actor.from_addr.as_deref(),
                    "agreement.report",
                    format!("school:{school}"),
                    format!("people={} acceptances={}", users.len(), accepted.len())
                );
                Ok::<_, StoreError>((users, accepted))
            })?;
        // The latest acceptance per (subject, audience, gate-opening or co-signature).
        let mut latest: HashMap<(String, String, bool), Acceptance> = HashMap::new();
        for row in accepted {
            let a = row.into_acceptance()?;
            let key = (a.subject.clone(), a.audience.clone(), a.method.opens_gate());
            match latest.get(&key) {
                Some(old) if (old.accepted_at, old.id) >= (a.accepted_at, a.id) => {}
                _ => {
                    latest.insert(key, a);
                }
            }
        }
        let mut by_subject: HashMap<String, Vec<Acceptance>> = HashMap::new();
        for ((subject, _, _), a) in latest {
            by_subject.entry(subject).or_default().push(a);
        }
        let mut report = users
            .into_iter()
            .map(
                |(username, display_name, kind, group_key, year_group, class_name, email)| {
                    let kind = UserKind::parse(&kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("user {username:?} has invalid kind {kind:?}"))
                    })?;
                    let mut latest = by_subject.remove(&username).unwrap_or_default();
                    latest
                        .sort_by_key(|a| (audience_position(&a.audience), !a.method.opens_gate()));
                    Ok(AcceptanceReportRow {
                        username,
                        display_name,
                        kind,
                        group_key,
                        year_group,
                        class_name,
                        email,
                        latest,
                    })
                },
            )
            .collect::<Result<Vec<_>, StoreError>>()?;
        report.sort_by_cached_key(|r| {
            (
                r.kind.as_str(),
                r.group_key.clone(),
                name_order(&r.class_name, &r.display_name, &r.username),
            )
        });
        Ok(report)
    }

    /// Makes a parent's link for a pupil of the school, revoking the child's older links so
    /// only the newest letter works. Audited as `parent-link.create` (never with the token).
    pub async fn create_parent_link(
        &self,
        school: SchoolId,
        child: &str,
        token_sha256: &str,
        expires_at: Timestamp,
        by: &str,
    ) -> Result<ParentLink, StoreError> {
        validate_name("child", child)?;
        check_sha256("link token", token_sha256)?;
        validate_text("created by", by, limits::NAME)?;
        let now = Timestamp::now();
        if expires_at <= now {
            return Err(StoreError::invalid(
                "link expiry",
                "it is in the past; give a time after now",
            ));
        }
        let sql = format!(
            "INSERT INTO parent_links (school_id, child, token_sha256, created_at_us, created_by, \
             expires_at_us, revoked) VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING {LINK_COLUMNS}"
        );
        let row: LinkRow = in_tx!(self, "to make a parent's link", |tx| {
            let child = stored_username!(tx, school, child, true);
            let revoked = sqlx::query(
                "UPDATE parent_links SET revoked = 1 WHERE school_id = $1 AND child = $2 \
                 AND revoked = 0",
            )
            .bind(school.0)
            .bind(&child)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("revoking a child's older links"))?
            .rows_affected();
            let row: LinkRow = sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(&child)
                .bind(token_sha256)
                .bind(timestamp_to_us(now))
                .bind(by)
                .bind(timestamp_to_us(expires_at))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::invalid(
                            "link token",
                            "it is already in use; make a new random token",
                        )
                    } else {
                        unknown_school_or(e, school, "saving a parent's link")
                    }
                })?;
            audit!(
                tx,
                school,
                by,
                None,
                "parent-link.create",
                format!("pupil:{child}"),
                format!(
                    "link={} expires={expires_at} revoked_older={revoked}",
                    row.id
                )
            );
            Ok::<_, StoreError>(row)
        })?;
        row.into_link()
    }

    /// The link with this token hash, if it is neither revoked nor expired at `now`. Any
    /// school: the token alone identifies it.
    pub async fn parent_link(
        &self,
        token_sha256: &str,
        now: Timestamp,
    ) -> Result<Option<ParentLink>, StoreError> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM parent_links WHERE token_sha256 = $1 AND revoked = 0 \
             AND expires_at_us > $2"
        );
        let row: Option<LinkRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(token_sha256)
                .bind(timestamp_to_us(now))
                .fetch_optional(pool)
                .await
        })
        .map_err(StoreError::query("reading a parent's link"))?;
        row.map(LinkRow::into_link).transpose()
    }

    /// Notes that a parent opened the link at `at`.
    pub async fn mark_parent_link_used(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        let changed = with_pool!(&self.backend, pool => {
            sqlx::query("UPDATE parent_links SET last_used_at_us = $1 WHERE id = $2")
                .bind(timestamp_to_us(at))
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(StoreError::query("noting a parent's link was used"))?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "parent's link",
                id,
            });
        }
        Ok(())
    }

    /// Sets a pupil's consent for one use of their image and records the change in the
    /// history; `false` (and no history row or audit entry) when it already stood so.
    /// Audited as `image-consent.change`.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_image_consent(
        &self,
        school: SchoolId,
        pupil: &str,
        use_key: &str,
        state: &str,
        by: &str,
        via: &str,
        note: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        validate_name("pupil", pupil)?;
        check_key("image use", use_key, &IMAGE_USES)?;
        check_key("consent", state, &CONSENT_STATES)?;
        check_key("changed via", via, &CONSENT_VIA)?;
        validate_text("changed by", by.trim(), limits::NAME)?;
        check_long("note", note, limits::NOTE)?;
        let by = by.trim();
        let note = note.trim();
        let at_us = timestamp_to_us(at);
        in_tx!(self, "to change image consent", |tx| {
            let pupil = stored_username!(tx, school, pupil, true);
            let old: Option<(String,)> = sqlx::query_as(
                "SELECT state FROM image_consents WHERE school_id = $1 AND pupil = $2 \
                 AND use_key = $3",
            )
            .bind(school.0)
            .bind(&pupil)
            .bind(use_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("reading image consent"))?;
            let old = old.map(|(s,)| s);
            if old.as_deref() == Some(state) {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO image_consents (school_id, pupil, use_key, state, changed_at_us, \
                 changed_by, via) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (school_id, pupil, use_key) DO UPDATE SET state = excluded.state, \
                 changed_at_us = excluded.changed_at_us, changed_by = excluded.changed_by, \
                 via = excluded.via",
            )
            .bind(school.0)
            .bind(&pupil)
            .bind(use_key)
            .bind(state)
            .bind(at_us)
            .bind(by)
            .bind(via)
            .execute(&mut *tx)
            .await
            .map_err(|e| unknown_school_or(e, school, "saving image consent"))?;
            sqlx::query(
                "INSERT INTO image_consent_changes (school_id, pupil, use_key, old_state, \
                 new_state, changed_at_us, changed_by, via, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(school.0)
            .bind(&pupil)
            .bind(use_key)
            .bind(old.as_deref())
            .bind(state)
            .bind(at_us)
            .bind(by)
            .bind(via)
            .bind(note)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("recording an image consent change"))?;
            audit!(
                tx,
                school,
                by,
                None,
                "image-consent.change",
                format!("pupil:{pupil}"),
                format!(
                    "use={use_key} old={} new={state} via={via}",
                    old.as_deref().unwrap_or("not-asked")
                )
            );
            Ok::<_, StoreError>(true)
        })
    }

    /// The image consent register: every pupil not disabled (of one class, when given), by
    /// class then name. Audited as `image-consent.read`.
    pub async fn image_consents(
        &self,
        school: SchoolId,
        class: Option<&str>,
        actor: &ActingUser,
    ) -> Result<Vec<ImageConsentRow>, StoreError> {
        check_actor(actor)?;
        let pupils_sql = if class.is_some() {
            "SELECT username, display_name, class_name, group_key FROM users WHERE school_id = $1 \
             AND kind = 'pupil' AND disabled = $2 AND class_name = $3"
        } else {
            "SELECT username, display_name, class_name, group_key FROM users WHERE school_id = $1 \
             AND kind = 'pupil' AND disabled = $2"
        };
        let consents_sql = "SELECT pupil, use_key, state, changed_at_us, changed_by, via \
             FROM image_consents WHERE school_id = $1";
        type PupilRow = (String, String, Option<String>, String);
        let (pupils, consents): (Vec<PupilRow>, Vec<ConsentRow>) =
            in_tx!(self, "to read the image consent register", |tx| {
                let mut query = sqlx::query_as(pupils_sql).bind(school.0).bind(false);
                if let Some(class) = class {
                    query = query.bind(class);
                }
                let pupils: Vec<PupilRow> = query
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading pupils for the consent register"))?;
                let consents: Vec<ConsentRow> = sqlx::query_as(consents_sql)
                    .bind(school.0)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading image consent"))?;
                audit!(
                    tx,
                    school,
                    &actor.name,
                    actor.from_addr.as_deref(),
                    "image-consent.read",
                    format!("school:{school}"),
                    format!(
                        "register class={:?} pupils={}",
                        class.unwrap_or("all"),
                        pupils.len()
                    )
                );
                Ok::<_, StoreError>((pupils, consents))
            })?;
        let mut states: HashMap<String, BTreeMap<String, ConsentEntry>> = HashMap::new();
        for row in consents {
            let (pupil, use_key, entry) = row.into_entry()?;
            states.entry(pupil).or_default().insert(use_key, entry);
        }
        let mut register: Vec<ImageConsentRow> = pupils
            .into_iter()
            .map(
                |(pupil, display_name, class_name, group_key)| ImageConsentRow {
                    states: states.remove(&pupil).unwrap_or_default(),
                    pupil,
                    display_name,
                    class_name,
                    group_key,
                },
            )
            .collect();
        register.sort_by_cached_key(|r| name_order(&r.class_name, &r.display_name, &r.pupil));
        Ok(register)
    }

    /// One pupil's consent per use (matched ignoring case), for the parent's page. Not
    /// audited: it serves the parent's own child.
    pub async fn image_consent_for(
        &self,
        school: SchoolId,
        pupil: &str,
    ) -> Result<BTreeMap<String, ConsentEntry>, StoreError> {
        let rows: Vec<ConsentRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT pupil, use_key, state, changed_at_us, changed_by, via FROM image_consents \
                 WHERE school_id = $1 AND lower(pupil) = lower($2)",
            )
            .bind(school.0)
            .bind(pupil)
            .fetch_all(pool)
            .await
        })
        .map_err(StoreError::query("reading a pupil's image consent"))?;
        rows.into_iter()
            .map(|row| row.into_entry().map(|(_, use_key, entry)| (use_key, entry)))
            .collect()
    }

    /// One pupil's consent changes, newest first. Audited as `image-consent.read`.
    pub async fn image_consent_history(
        &self,
        school: SchoolId,
        pupil: &str,
        actor: &ActingUser,
    ) -> Result<Vec<ConsentChange>, StoreError> {
        check_actor(actor)?;
        type ChangeRow = (String, Option<String>, String, i64, String, String, String);
        let rows: Vec<ChangeRow> = in_tx!(self, "to read an image consent history", |tx| {
            let rows: Vec<ChangeRow> = sqlx::query_as(
                "SELECT use_key, old_state, new_state, changed_at_us, changed_by, via, note \
                 FROM image_consent_changes WHERE school_id = $1 AND lower(pupil) = lower($2) \
                 ORDER BY changed_at_us DESC, id DESC",
            )
            .bind(school.0)
            .bind(pupil)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::query("reading an image consent history"))?;
            audit!(
                tx,
                school,
                &actor.name,
                actor.from_addr.as_deref(),
                "image-consent.read",
                format!("pupil:{pupil}"),
                format!("history changes={}", rows.len())
            );
            Ok::<_, StoreError>(rows)
        })?;
        rows.into_iter()
            .map(
                |(use_key, old_state, new_state, at_us, changed_by, via, note)| {
                    Ok(ConsentChange {
                        use_key,
                        old_state,
                        new_state,
                        changed_at: timestamp_from_us(at_us, "image consent change time")?,
                        changed_by,
                        via,
                        note,
                    })
                },
            )
            .collect()
    }

    /// Stores a visitor's day code (as the SHA-256 of its canonical form) for `day`. Audited
    /// as `visitor-code.issue`.
    pub async fn issue_visitor_code(
        &self,
        school: SchoolId,
        code_sha256: &str,
        visitor_name: &str,
        day: Date,
        by: &str,
    ) -> Result<VisitorCode, StoreError> {
        check_sha256("day code", code_sha256)?;
        validate_text("visitor's name", visitor_name.trim(), limits::NAME)?;
        validate_text("issued by", by, limits::NAME)?;
        let visitor_name = visitor_name.trim();
        let now = Timestamp::now();
        let day_text = day.to_string();
        let id: i64 = in_tx!(self, "to issue a day code", |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO visitor_codes (school_id, code_sha256, visitor_name, day, issued_by, \
                 issued_at_us) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(school.0)
            .bind(code_sha256)
            .bind(visitor_name)
            .bind(&day_text)
            .bind(by)
            .bind(timestamp_to_us(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::invalid(
                        "day code",
                        "this code was issued already; issue another code",
                    )
                } else {
                    unknown_school_or(e, school, "issuing a day code")
                }
            })?;
            audit!(
                tx,
                school,
                by,
                None,
                "visitor-code.issue",
                format!("visitor-code:{id}"),
                format!("day={day_text} visitor={visitor_name:?}")
            );
            Ok::<_, StoreError>(id)
        })?;
        Ok(VisitorCode {
            id,
            school,
            visitor_name: visitor_name.to_owned(),
            day,
            issued_by: by.to_owned(),
            // As stored: microseconds.
            issued_at: timestamp_from_us(timestamp_to_us(now), "visitor code issue time")?,
            devices_admitted: 0,
        })
    }

    /// The day codes issued for `day`, newest first.
    pub async fn visitor_codes(
        &self,
        school: SchoolId,
        day: Date,
    ) -> Result<Vec<VisitorCode>, StoreError> {
        let sql = format!(
            "{CODE_SELECT} WHERE c.school_id = $1 AND c.day = $2 \
             ORDER BY c.issued_at_us DESC, c.id DESC"
        );
        let rows: Vec<CodeRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(day.to_string())
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("reading day codes"))?;
        rows.into_iter().map(CodeRow::into_code).collect()
    }

    /// The day code with this hash, whatever its day (the portal says which day it was for).
    pub async fn visitor_code_by_hash(
        &self,
        school: SchoolId,
        code_sha256: &str,
    ) -> Result<Option<VisitorCode>, StoreError> {
        let sql = format!("{CODE_SELECT} WHERE c.school_id = $1 AND c.code_sha256 = $2");
        let row: Option<CodeRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(code_sha256)
                .fetch_optional(pool)
                .await
        })
        .map_err(StoreError::query("reading a day code"))?;
        row.map(CodeRow::into_code).transpose()
    }

    /// Lets `client_addr` on with a day code until `until`. Refused (`InvalidInput`) when the
    /// code has already let on [`MAX_DEVICES_PER_CODE`] other addresses; the same address
    /// again is fine. Audited as `visitor.admit`.
    pub async fn admit_visitor(
        &self,
        school: SchoolId,
        code_id: i64,
        client_addr: IpAddr,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if until <= at {
            return Err(StoreError::invalid(
                "admission end",
                "it is not after the admission time; give the end of the code's day",
            ));
        }
        let addr = client_addr.to_string();
        in_tx!(self, "to admit a visitor", |tx| {
            // A no-op write locks the code's row on PostgreSQL (SQLite's transaction already
            // holds the write lock), so two devices at once cannot both be the third.
            let name: Option<(String,)> = sqlx::query_as(
                "UPDATE visitor_codes SET issued_at_us = issued_at_us \
                 WHERE school_id = $1 AND id = $2 RETURNING visitor_name",
            )
            .bind(school.0)
            .bind(code_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("finding a day code"))?;
            let Some((visitor_name,)) = name else {
                return Err(StoreError::NotFound {
                    what: "visitor day code",
                    id: code_id,
                });
            };
            let admitted: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT client_addr FROM visitor_admissions WHERE code_id = $1",
            )
            .bind(code_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::query("counting a day code's devices"))?;
            let again = admitted.iter().any(|(a,)| *a == addr);
            if !again && admitted.len() >= MAX_DEVICES_PER_CODE {
                return Err(StoreError::invalid(
                    "day code",
                    format!(
                        "it has already let {MAX_DEVICES_PER_CODE} devices on; ask reception for another code"
                    ),
                ));
            }
            sqlx::query(
                "INSERT INTO visitor_admissions (school_id, code_id, client_addr, \
                 admitted_at_us, until_us) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(school.0)
            .bind(code_id)
            .bind(&addr)
            .bind(timestamp_to_us(at))
            .bind(timestamp_to_us(until))
            .execute(&mut *tx)
            .await
            .map_err(|e| unknown_school_or(e, school, "admitting a visitor"))?;
            let actor = format!("visitor:{visitor_name}");
            audit!(
                tx,
                school,
                &actor,
                Some(addr.as_str()),
                "visitor.admit",
                format!("visitor-code:{code_id}"),
                format!("client={addr} until={until} again={again}")
            );
            Ok::<_, StoreError>(())
        })
    }

    /// The addresses day codes let on whose admission lasts beyond `now`, each once per code
    /// with its latest end.
    pub async fn visitor_admissions(
        &self,
        school: SchoolId,
        now: Timestamp,
    ) -> Result<Vec<VisitorAdmission>, StoreError> {
        let rows: Vec<(String, i64, String, i64)> = with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT a.client_addr, MAX(a.until_us), c.visitor_name, a.code_id \
                 FROM visitor_admissions a JOIN visitor_codes c ON c.id = a.code_id \
                 WHERE a.school_id = $1 AND a.until_us > $2 \
                 GROUP BY a.client_addr, c.visitor_name, a.code_id",
            )
            .bind(school.0)
            .bind(timestamp_to_us(now))
            .fetch_all(pool)
            .await
        })
        .map_err(StoreError::query("reading visitor admissions"))?;
        let mut admissions = rows
            .into_iter()
            .map(|(addr, until_us, visitor_name, code_id)| {
                Ok(VisitorAdmission {
                    client_addr: addr.parse().map_err(|_| {
                        StoreError::Corrupt(format!(
                            "a visitor admission has invalid address {addr:?}"
                        ))
                    })?,
                    until: timestamp_from_us(until_us, "visitor admission end")?,
                    visitor_name,
                    code_id,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        admissions.sort_by_key(|a| (a.code_id, a.client_addr));
        Ok(admissions)
    }

    /// Retention for visitors: deletes day codes issued, admissions made and visitors'
    /// acceptances recorded before `cutoff` (a visitor's name and device address are kept only
    /// as long as the school needs them), in one transaction audited as `visitor.purge` by
    /// `system:retention`. Returns how many rows went.
    pub async fn purge_visitors_before(
        &self,
        school: SchoolId,
        cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        let cutoff_us = timestamp_to_us(cutoff);
        in_tx!(self, "a purge of old visitors", |tx| {
            let mut deleted = 0;
            for sql in [
                "DELETE FROM visitor_admissions WHERE school_id = $1 AND admitted_at_us < $2",
                "DELETE FROM agreement_acceptances WHERE school_id = $1 \
                 AND subject_kind = 'visitor' AND accepted_at_us < $2",
                "DELETE FROM visitor_codes WHERE school_id = $1 AND issued_at_us < $2 \
                 AND NOT EXISTS (SELECT 1 FROM visitor_admissions a WHERE a.code_id = visitor_codes.id)",
            ] {
                deleted += sqlx::query(sql)
                    .bind(school.0)
                    .bind(cutoff_us)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("purging old visitors"))?
                    .rows_affected();
            }
            audit!(
                tx,
                school,
                "system:retention",
                None,
                "visitor.purge",
                format!("school:{school}"),
                format!(
                    "deleted {deleted} visitor codes, admissions and acceptances before {cutoff}"
                )
            );
            Ok::<_, StoreError>(deleted)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip() {
        for m in AcceptanceMethod::ALL {
            assert_eq!(AcceptanceMethod::parse(m.as_str()), Some(m));
        }
        for k in SubjectKind::ALL {
            assert_eq!(SubjectKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AcceptanceMethod::parse("email"), None);
        assert!(AcceptanceMethod::Paper.opens_gate());
        assert!(!AcceptanceMethod::ParentLink.opens_gate());
    }

    #[test]
    fn settings_are_checked() {
        assert!(check_settings(&AgreementSettings::default()).is_ok());
        let leap = AgreementSettings {
            renewal_month: 2,
            renewal_day: 29,
            ..AgreementSettings::default()
        };
        assert!(check_settings(&leap).is_ok());
        for bad in [
            AgreementSettings {
                renewal_month: 13,
                ..AgreementSettings::default()
            },
            AgreementSettings {
                renewal_month: 4,
                renewal_day: 31,
                ..AgreementSettings::default()
            },
            AgreementSettings {
                expiring_soon_days: 121,
                ..AgreementSettings::default()
            },
            AgreementSettings {
                expiring_soon_days: -1,
                ..AgreementSettings::default()
            },
            AgreementSettings {
                parent_link_days: 0,
                ..AgreementSettings::default()
            },
        ] {
            assert!(check_settings(&bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn hashes_are_checked() {
        assert!(check_sha256("x", &"a1".repeat(32)).is_ok());
        assert!(check_sha256("x", &"A1".repeat(32)).is_err());
        assert!(check_sha256("x", "abc").is_err());
    }
}
