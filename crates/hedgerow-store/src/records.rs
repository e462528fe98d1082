//! Safeguarding records: a concern grown into the full record of concern and incident, with
//! the people involved, incident types, the DSL's actions, guided procedures, sanctions the
//! gateway enforces, the outcome, retention, destruction, subject access and transfers.
//!
//! Records name children and say what worried the school about them, so every read that
//! returns one (a record, a list, a chronology, a subject-access export) is audited in the same
//! transaction as the read, and every change is audited with it. The store keeps vocabulary
//! keys (record types, incident types, actions) as text: the web layer checks them against
//! `hedgerow-records`; the store checks lengths and the closed sets its CHECKs hold, and
//! enforces the closing rule itself as a second line of defence.
//!
//! [`Store::record_meta`] alone is not audited: it returns only the record's type and who
//! recorded it, for the access check made before the audited read.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::{AssertSqlSafe, FromRow};

use crate::alerts::{
    ALERT_COLUMNS, AlertRow, CONCERN_COLUMNS, ConcernRow, EvidenceEvent, check_reader,
};
use crate::explorer::Count;
use crate::model::{
    AlertId, ConcernId, Reader, SchoolId, StoredEvent, timestamp_from_us, timestamp_to_us,
};
use crate::people::{PERSON_COLUMNS, PersonRow};
use crate::store::{
    Arg, Backend, EVENT_SELECT, EventRow, bind_args, unknown_school_or, validate_name,
    validate_text, with_pool,
};
use crate::tx::{audit, check_actor, check_key, check_long, in_tx};
use crate::{ActingUser, Alert, Concern, ConcernStatus, Person, Store, StoreError};

/// The record types the store accepts (`concerns.record_type`).
pub const RECORD_TYPES: [&str; 3] = ["online-safety", "child-protection", "staff-allegation"];
/// Where an incident happened (`concerns.location`).
pub const LOCATIONS: [&str; 3] = ["in-school", "out-of-school", "unknown"];
/// How a person is involved's role (`concern_people.person_role`).
pub const PERSON_ROLES: [&str; 4] = ["pupil", "staff", "parent-carer", "other"];
/// How a person is involved (`concern_people.involvement`).
pub const INVOLVEMENTS: [&str; 4] = ["affected", "responsible", "witness", "other"];
/// Sanction kinds (`concern_sanctions.kind`).
pub const SANCTION_KINDS: [&str; 2] = ["suspended", "restricted"];
/// Action kinds that count as "a referral was made" when a record is closed.
pub const REFERRAL_KINDS: [&str; 6] = [
    "social-care-referral",
    "police-101",
    "police-999",
    "ceop-report",
    "iwf-report",
    "lado-referral",
];

/// Limits on what one record may hold.
pub mod limits {
    /// The longest one-line text (summary, reporter, names), in characters.
    pub const SHORT_CHARS: usize = 500;
    /// The longest free text (disclosure, observations, notes, outcome), in characters.
    pub const LONG_CHARS: usize = 20_000;
    /// The most people on one record.
    pub const MAX_PEOPLE: usize = 50;
    /// The most incident types on one record.
    pub const MAX_TYPES: usize = 30;
    /// The most alerts linked when a record is made or updated.
    pub const MAX_ALERTS: usize = 200;
    /// The most records one list returns.
    pub const MAX_LIST: u32 = 1_000;
}

/// A record as the reporter fills it in (and as [`Store::update_record_details`] replaces it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// `online-safety`, `child-protection` or `staff-allegation`.
    pub record_type: String,
    /// Who reported it, in words (the signed-in recorder is kept separately).
    pub reporter: String,
    /// When it was reported.
    pub reported_at: Timestamp,
    /// When it happened, if known.
    pub incident_at: Option<Timestamp>,
    /// `in-school`, `out-of-school` or `unknown`.
    pub location: String,
    /// The people involved, the first pupil first.
    pub people: Vec<PersonInvolved>,
    /// Incident type keys, at least one.
    pub types: Vec<String>,
    /// One line.
    pub summary: String,
    /// The child's own words.
    pub disclosure: String,
    /// What was observed, heard and told, by whom and when.
    pub observations: String,
    /// Websites involved.
    pub websites: String,
    /// Apps and games involved.
    pub apps_games: String,
    /// Avatar and online-friend names.
    pub online_names: String,
    /// The evidence, described in words (never a copy of it).
    pub evidence_description: String,
    /// Alerts to link.
    pub alert_ids: Vec<AlertId>,
}

/// One person involved in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonInvolved {
    /// `pupil`, `staff`, `parent-carer` or `other`.
    pub person_role: String,
    /// `affected`, `responsible`, `witness` or `other`.
    pub involvement: String,
    /// Their name as staff know it.
    pub display_name: String,
    /// Their directory username, when they have one.
    pub username: Option<String>,
    /// Their date of birth, when known.
    pub date_of_birth: Option<Date>,
}

/// One entry in the record of action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcernAction {
    /// Action kind key, e.g. `ceop-report`.
    pub kind: String,
    /// When it was done.
    pub at: Timestamp,
    /// Who recorded it.
    pub by: String,
    /// What was done, in words.
    pub note: String,
}

/// A guided procedure started on a record, with the steps done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureState {
    /// Procedure key, e.g. `grooming`.
    pub procedure: String,
    /// When it was started.
    pub started_at: Timestamp,
    /// Who started it.
    pub started_by: String,
    /// Steps ticked, in the order they were done.
    pub done: Vec<StepDone>,
}

/// One ticked step of a procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDone {
    /// Step key, e.g. `secure-device`.
    pub step: String,
    /// When it was done.
    pub at: Timestamp,
    /// Who ticked it.
    pub by: String,
    /// What was done, in words (may be empty).
    pub note: String,
}

/// A sanction recorded on a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSanction {
    /// Database id.
    pub id: i64,
    /// Whose access it limits.
    pub username: String,
    /// `suspended` or `restricted`.
    pub kind: String,
    /// The stricter group a restricted person is filtered as.
    pub filter_as: Option<String>,
    /// When it starts.
    pub starts_at: Timestamp,
    /// When it ends by itself.
    pub until: Timestamp,
    /// The policy change that made it take effect.
    pub change_id: Option<i64>,
    /// When it was lifted early.
    pub lifted_at: Option<Timestamp>,
    /// Who lifted it.
    pub lifted_by: Option<String>,
}

/// A sanction to record with [`Store::record_sanction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSanction {
    /// Whose access it limits.
    pub username: String,
    /// `suspended` or `restricted`.
    pub kind: String,
    /// For `restricted`: the group to filter them as; `None` for `suspended`.
    pub filter_as: Option<String>,
    /// When it starts.
    pub starts_at: Timestamp,
    /// When it ends by itself; after `starts_at`.
    pub until: Timestamp,
    /// The policy change made through change control.
    pub change_id: Option<i64>,
}

/// A full safeguarding record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcernRecord {
    /// The concern it grew from: id, school, recorder, status, summary, evidence.
    pub concern: Concern,
    /// `online-safety`, `child-protection` or `staff-allegation`.
    pub record_type: String,
    /// Who reported it, in words.
    pub reporter: String,
    /// When it was reported.
    pub reported_at: Timestamp,
    /// When it happened, if known.
    pub incident_at: Option<Timestamp>,
    /// `in-school`, `out-of-school` or `unknown`.
    pub location: String,
    /// The people involved, in the order given.
    pub people: Vec<PersonInvolved>,
    /// Incident type keys, in the order given.
    pub types: Vec<String>,
    /// The child's own words.
    pub disclosure: String,
    /// What was observed, heard and told.
    pub observations: String,
    /// Websites involved.
    pub websites: String,
    /// Apps and games involved.
    pub apps_games: String,
    /// Avatar and online-friend names.
    pub online_names: String,
    /// The evidence, described.
    pub evidence_description: String,
    /// To whom it was handed (the DSL).
    pub handed_to: Option<String>,
    /// When.
    pub handed_at: Option<Timestamp>,
    /// The record of action, oldest first.
    pub actions: Vec<ConcernAction>,
    /// Guided procedures, in the order started.
    pub procedures: Vec<ProcedureState>,
    /// Sanctions, oldest first.
    pub sanctions: Vec<RecordSanction>,
    /// Every linked alert (the one it was opened from first), ascending otherwise.
    pub alert_ids: Vec<AlertId>,
    /// The outcome, once closed.
    pub outcome: Option<String>,
    /// Why no referral was made, when none was.
    pub no_referral_reason: Option<String>,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// Under legal hold: it cannot be destroyed.
    pub legal_hold: bool,
    /// Why it is held.
    pub legal_hold_reason: Option<String>,
}

impl ConcernRecord {
    /// The record as JSON: what a certificate of destruction hashes, a subject-access export
    /// contains and a transfer bundle carries. Keys are stable; times are RFC 3339 strings
    /// with microseconds, dates `YYYY-MM-DD`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let t = |t: &Timestamp| t.to_string();
        let ot = |t: &Option<Timestamp>| t.as_ref().map(Timestamp::to_string);
        let c = &self.concern;
        let evidence: Vec<EvidenceEvent> = c.evidence.iter().map(EvidenceEvent::of).collect();
        json!({
            "id": c.id.0,
            "record_type": self.record_type,
            "status": c.status.as_str(),
            "created_at": t(&c.created_at),
            "created_by": c.created_by,
            "reporter": self.reporter,
            "reported_at": t(&self.reported_at),
            "incident_at": ot(&self.incident_at),
            "location": self.location,
            "subject_user": c.subject_user,
            "subject_device": c.subject_device,
            "category": c.category,
            "summary": c.summary,
            "description": c.description,
            "types": self.types,
            "people": self.people.iter().map(|p| json!({
                "person_role": p.person_role,
                "involvement": p.involvement,
                "display_name": p.display_name,
                "username": p.username,
                "date_of_birth": p.date_of_birth.map(|d| d.to_string()),
            })).collect::<Vec<_>>(),
            "disclosure": self.disclosure,
            "observations": self.observations,
            "websites": self.websites,
            "apps_games": self.apps_games,
            "online_names": self.online_names,
            "evidence_description": self.evidence_description,
            "evidence": evidence,
            "handed_to": self.handed_to,
            "handed_at": ot(&self.handed_at),
            "actions": self.actions.iter().map(|a| json!({
                "kind": a.kind, "at": t(&a.at), "by": a.by, "note": a.note,
            })).collect::<Vec<_>>(),
            "procedures": self.procedures.iter().map(|p| json!({
                "procedure": p.procedure,
                "started_at": t(&p.started_at),
                "started_by": p.started_by,
                "done": p.done.iter().map(|s| json!({
                    "step": s.step, "at": t(&s.at), "by": s.by, "note": s.note,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "sanctions": self.sanctions.iter().map(|s| json!({
                "id": s.id,
                "username": s.username,
                "kind": s.kind,
                "filter_as": s.filter_as,
                "starts_at": t(&s.starts_at),
                "until": t(&s.until),
                "change_id": s.change_id,
                "lifted_at": ot(&s.lifted_at),
                "lifted_by": s.lifted_by,
            })).collect::<Vec<_>>(),
            "alert_ids": self.alert_ids.iter().map(|a| a.0).collect::<Vec<_>>(),
            "outcome": self.outcome,
            "no_referral_reason": self.no_referral_reason,
            "closed_at": ot(&self.closed_at),
            "closed_by": self.closed_by,
            "legal_hold": self.legal_hold,
            "legal_hold_reason": self.legal_hold_reason,
        })
    }

    /// The date of birth of the first pupil involved, if known: what child-protection
    /// retention counts from.
    pub fn first_pupil_date_of_birth(&self) -> Option<Date> {
        self.people
            .iter()
            .find(|p| p.person_role == "pupil")
            .and_then(|p| p.date_of_birth)
    }
}

/// One line of a list of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// The record.
    pub id: ConcernId,
    /// Its type key.
    pub record_type: String,
    /// New, open or closed.
    pub status: ConcernStatus,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// Who recorded it.
    pub created_by: String,
    /// When it was reported.
    pub reported_at: Timestamp,
    /// One line.
    pub summary: String,
    /// Incident type keys.
    pub types: Vec<String>,
    /// Display names of the people involved.
    pub people: Vec<String>,
    /// Under legal hold.
    pub legal_hold: bool,
}

/// Which records [`Store::records`] lists. Every `Some` narrows the result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordFilter {
    /// Only this status.
    pub status: Option<ConcernStatus>,
    /// Only records this account recorded.
    pub created_by: Option<String>,
    /// Only these record types; `None` for all.
    pub record_types: Option<Vec<String>>,
    /// Only records involving this username (as a person involved or the alert's subject).
    pub username: Option<String>,
    /// At most this many, newest first; capped at [`limits::MAX_LIST`].
    pub limit: u32,
}

/// One line of a person's chronology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChronologyEntry {
    /// When.
    pub at: Timestamp,
    /// On which record.
    pub concern: ConcernId,
    /// What happened, in words.
    pub what: String,
}

/// A person involved as stored: role, involvement, name, username, date of birth.
type InvolvedRow = (String, String, String, Option<String>, Option<String>);

/// A record with its row children, read in one transaction; turned into a [`ConcernRecord`].
struct RecordRows {
    full: FullRow,
    people: Vec<InvolvedRow>,
    types: Vec<(String,)>,
    actions: Vec<(String, i64, String, String)>,
    procedures: Vec<(String, i64, String)>,
    steps: Vec<(String, String, i64, String, String)>,
    sanctions: Vec<SanctionRow>,
    alerts: Vec<(i64,)>,
}

const RECORD_COLUMNS: &str = "record_type, reporter, \
     COALESCE(reported_at_us, created_at_us) AS reported_at_us, incident_at_us, location, \
     disclosure, observations, websites, apps_games, online_names, evidence_description, \
     handed_to, handed_at_us, outcome, no_referral_reason, closed_at_us, closed_by, legal_hold, \
     legal_hold_reason";

#[derive(FromRow)]
struct RecordRow {
    record_type: String,
    reporter: Option<String>,
    reported_at_us: i64,
    incident_at_us: Option<i64>,
    location: String,
    disclosure: String,
    observations: String,
    websites: String,
    apps_games: String,
    online_names: String,
    evidence_description: String,
    handed_to: Option<String>,
    handed_at_us: Option<i64>,
    outcome: Option<String>,
    no_referral_reason: Option<String>,
    closed_at_us: Option<i64>,
    closed_by: Option<String>,
    legal_hold: i64,
    legal_hold_reason: Option<String>,
}

#[derive(FromRow)]
struct FullRow {
    #[sqlx(flatten)]
    concern: ConcernRow,
    #[sqlx(flatten)]
    record: RecordRow,
}

const SANCTION_COLUMNS: &str = "id, username, kind, filter_as, starts_at_us, until_us, change_id, \
     lifted_at_us, lifted_by";

#[derive(FromRow)]
struct SanctionRow {
    id: i64,
    username: String,
    kind: String,
    filter_as: Option<String>,
    starts_at_us: i64,
    until_us: i64,
    change_id: Option<i64>,
    lifted_at_us: Option<i64>,
    lifted_by: Option<String>,
}

impl SanctionRow {
    fn into_sanction(self) -> Result<RecordSanction, StoreError> {
        Ok(RecordSanction {
            id: self.id,
            username: self.username,
            kind: self.kind,
            filter_as: self.filter_as,
            starts_at: timestamp_from_us(self.starts_at_us, "sanction start")?,
            until: timestamp_from_us(self.until_us, "sanction end")?,
            change_id: self.change_id,
            lifted_at: opt_time(self.lifted_at_us, "sanction lifting time")?,
            lifted_by: self.lifted_by,
        })
    }
}

fn opt_time(us: Option<i64>, what: &str) -> Result<Option<Timestamp>, StoreError> {
    us.map(|us| timestamp_from_us(us, what)).transpose()
}

fn parse_date(text: &str, what: &str) -> Result<Date, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} {text:?} is not a date: {e}")))
}

impl RecordRows {
    fn into_record(self) -> Result<ConcernRecord, StoreError> {
        let r = self.full.record;
        let concern = self.full.concern.into_concern()?;
        let mut procedures = self
            .procedures
            .into_iter()
            .map(|(procedure, at, by)| {
                Ok(ProcedureState {
                    procedure,
                    started_at: timestamp_from_us(at, "procedure start")?,
                    started_by: by,
                    done: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for (procedure, step, at, by, note) in self.steps {
            let done = StepDone {
                step,
                at: timestamp_from_us(at, "step time")?,
                by,
                note,
            };
            if let Some(p) = procedures.iter_mut().find(|p| p.procedure == procedure) {
                p.done.push(done);
            }
        }
        let mut alert_ids: Vec<AlertId> = concern.alert.into_iter().collect();
        for (alert,) in self.alerts {
            if !alert_ids.contains(&AlertId(alert)) {
                alert_ids.push(AlertId(alert));
            }
        }
        Ok(ConcernRecord {
            record_type: r.record_type,
            reporter: r.reporter.unwrap_or_else(|| concern.created_by.clone()),
            reported_at: timestamp_from_us(r.reported_at_us, "report time")?,
            incident_at: opt_time(r.incident_at_us, "incident time")?,
            location: r.location,
            people: self
                .people
                .into_iter()
                .map(|(role, involvement, name, username, dob)| {
                    Ok(PersonInvolved {
                        person_role: role,
                        involvement,
                        display_name: name,
                        username,
                        date_of_birth: dob
                            .map(|d| parse_date(&d, "a date of birth"))
                            .transpose()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            types: self.types.into_iter().map(|(t,)| t).collect(),
            disclosure: r.disclosure,
            observations: r.observations,
            websites: r.websites,
            apps_games: r.apps_games,
            online_names: r.online_names,
            evidence_description: r.evidence_description,
            handed_to: r.handed_to,
            handed_at: opt_time(r.handed_at_us, "hand-over time")?,
            actions: self
                .actions
                .into_iter()
                .map(|(kind, at, by, note)| {
                    Ok(ConcernAction {
                        kind,
                        at: timestamp_from_us(at, "action time")?,
                        by,
                        note,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            procedures,
            sanctions: self
                .sanctions
                .into_iter()
                .map(SanctionRow::into_sanction)
                .collect::<Result<_, _>>()?,
            alert_ids,
            outcome: r.outcome,
            no_referral_reason: r.no_referral_reason,
            closed_at: opt_time(r.closed_at_us, "closing time")?,
            closed_by: r.closed_by,
            legal_hold: r.legal_hold != 0,
            legal_hold_reason: r.legal_hold_reason,
            concern,
        })
    }
}

/// Reads one record and its children inside an open transaction `$tx`: evaluates to
/// `Result<Option<ConcernRecord>, StoreError>`.
macro_rules! load_record {
    ($tx:ident, $school:expr, $id:expr) => {
        async {
            let sql = format!(
                "SELECT {CONCERN_COLUMNS}, {RECORD_COLUMNS} FROM concerns \
                 WHERE school_id = $1 AND id = $2"
            );
            let full: Option<FullRow> = sqlx::query_as(AssertSqlSafe(sql))
                .bind($school.0)
                .bind($id)
                .fetch_optional(&mut *$tx)
                .await
                .map_err(StoreError::query("reading a safeguarding record"))?;
            let Some(full) = full else {
                return Ok::<_, StoreError>(None);
            };
            let people = sqlx::query_as(
                "SELECT person_role, involvement, display_name, username, date_of_birth \
                 FROM concern_people WHERE concern_id = $1 ORDER BY position, id",
            )
            .bind($id)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("reading the people on a record"))?;
            let types = sqlx::query_as(
                "SELECT type_key FROM concern_types WHERE concern_id = $1 \
                 ORDER BY position, type_key",
            )
            .bind($id)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("reading a record's incident types"))?;
            let actions = sqlx::query_as(
                "SELECT kind, at_us, by_user, note FROM concern_actions WHERE concern_id = $1 \
                 ORDER BY at_us, id",
            )
            .bind($id)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("reading a record's actions"))?;
            let procedures = sqlx::query_as(
                "SELECT procedure, started_at_us, started_by FROM concern_procedures \
                 WHERE concern_id = $1 ORDER BY started_at_us, procedure",
            )
            .bind($id)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("reading a record's procedures"))?;
            let steps = sqlx::query_as(
                "SELECT procedure, step, done_at_us, done_by, note FROM concern_steps \
                 WHERE concern_id = $1 ORDER BY done_at_us, step",
            )
            .bind($id)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("reading a record's procedure steps"))?;
            let sanctions = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {SANCTION_COLUMNS} FROM concern_sanctions WHERE concern_id = $1 \
                 ORDER BY starts_at_us, id"
            )))
            .bind($id)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("reading a record's sanctions"))?;
            let alerts = sqlx::query_as(
                "SELECT alert_id FROM concern_alerts WHERE concern_id = $1 ORDER BY alert_id",
            )
            .bind($id)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("reading a record's linked alerts"))?;
            RecordRows {
                full,
                people,
                types,
                actions,
                procedures,
                steps,
                sanctions,
                alerts,
            }
            .into_record()
            .map(Some)
        }
        .await
    };
}

/// Reads a record's status and legal hold inside `$tx`, or returns `NotFound`.
macro_rules! record_state {
    ($tx:ident, $school:expr, $id:expr) => {{
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT status, legal_hold FROM concerns WHERE school_id = $1 AND id = $2",
        )
        .bind($school.0)
        .bind($id.0)
        .fetch_optional(&mut *$tx)
        .await
        .map_err(StoreError::query("reading a record's status"))?;
        let Some((status, hold)) = row else {
            return Err(StoreError::NotFound {
                what: "safeguarding record",
                id: $id.0,
            });
        };
        let status = ConcernStatus::parse(&status).ok_or_else(|| {
            StoreError::Corrupt(format!("record {} has invalid status {status:?}", $id))
        })?;
        (status, hold != 0)
    }};
}

fn closed_error(id: ConcernId) -> StoreError {
    StoreError::invalid(
        "record status",
        format!("record #{id} is closed; reopen it before changing it"),
    )
}

fn check_new_record(record: &NewRecord) -> Result<(), StoreError> {
    use limits::*;
    check_key("record type", &record.record_type, &RECORD_TYPES)?;
    check_key("location", &record.location, &LOCATIONS)?;
    validate_text("reporter", &record.reporter, SHORT_CHARS)?;
    validate_text("summary", &record.summary, SHORT_CHARS)?;
    for (field, text) in [
        ("disclosure", &record.disclosure),
        ("observations", &record.observations),
        ("websites", &record.websites),
        ("apps and games", &record.apps_games),
        ("online names", &record.online_names),
        ("evidence description", &record.evidence_description),
    ] {
        check_long(field, text, LONG_CHARS)?;
    }
    if record.types.is_empty() {
        return Err(StoreError::invalid(
            "incident types",
            "none was chosen; choose at least one type of incident",
        ));
    }
    if record.types.len() > MAX_TYPES {
        return Err(StoreError::invalid(
            "incident types",
            format!("more than {MAX_TYPES} were chosen; choose fewer"),
        ));
    }
    for (i, t) in record.types.iter().enumerate() {
        validate_name("incident type", t)?;
        if record.types[..i].contains(t) {
            return Err(StoreError::invalid(
                "incident types",
                format!("{t:?} is chosen twice; choose each type once"),
            ));
        }
    }
    if record.people.len() > MAX_PEOPLE {
        return Err(StoreError::invalid(
            "people involved",
            format!("more than {MAX_PEOPLE} people are listed; record fewer"),
        ));
    }
    for p in &record.people {
        check_key("person's role", &p.person_role, &PERSON_ROLES)?;
        check_key("person's involvement", &p.involvement, &INVOLVEMENTS)?;
        validate_text("person's name", &p.display_name, SHORT_CHARS)?;
        if let Some(u) = &p.username {
            validate_name("person's username", u)?;
        }
    }
    if record.alert_ids.len() > MAX_ALERTS {
        return Err(StoreError::invalid(
            "linked alerts",
            format!("more than {MAX_ALERTS} alerts are linked; link fewer"),
        ));
    }
    Ok(())
}

/// The username the old concern pages show as the subject: the first pupil's, if any.
fn subject_of(record: &NewRecord) -> Option<&str> {
    record
        .people
        .iter()
        .find(|p| p.person_role == "pupil")
        .and_then(|p| p.username.as_deref())
}

/// Writes a record's people, types and alert links inside `$tx` (after clearing people and
/// types when `$replace`).
macro_rules! write_children {
    ($tx:ident, $school:expr, $id:expr, $record:expr) => {{
        for (position, p) in $record.people.iter().enumerate() {
            sqlx::query(
                "INSERT INTO concern_people (concern_id, position, person_role, involvement, \
                 display_name, username, date_of_birth) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind($id)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(&p.person_role)
            .bind(&p.involvement)
            .bind(p.display_name.trim())
            .bind(p.username.as_deref())
            .bind(p.date_of_birth.map(|d| d.to_string()))
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::query("saving a person on a record"))?;
        }
        for (position, t) in $record.types.iter().enumerate() {
            sqlx::query(
                "INSERT INTO concern_types (concern_id, type_key, position) VALUES ($1, $2, $3)",
            )
            .bind($id)
            .bind(t)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::query("saving a record's incident type"))?;
        }
        for alert in &$record.alert_ids {
            link_alert_in!($tx, $school, $id, *alert);
        }
    }};
}

/// Links an alert of the same school to record `$id` inside `$tx`; `NotFound` for an alert of
/// another school. The alert learns its concern when it has none yet.
macro_rules! link_alert_in {
    ($tx:ident, $school:expr, $id:expr, $alert:expr) => {{
        let alert: AlertId = $alert;
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM alerts WHERE school_id = $1 AND id = $2")
                .bind($school.0)
                .bind(alert.0)
                .fetch_optional(&mut *$tx)
                .await
                .map_err(StoreError::query("finding an alert to link"))?;
        if found.is_none() {
            return Err(StoreError::NotFound {
                what: "alert",
                id: alert.0,
            });
        }
        sqlx::query(
            "INSERT INTO concern_alerts (concern_id, alert_id) VALUES ($1, $2) \
             ON CONFLICT (concern_id, alert_id) DO NOTHING",
        )
        .bind($id)
        .bind(alert.0)
        .execute(&mut *$tx)
        .await
        .map_err(StoreError::query("linking an alert to a record"))?;
        sqlx::query("UPDATE alerts SET concern_id = $1 WHERE id = $2 AND concern_id IS NULL")
            .bind($id)
            .bind(alert.0)
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::query("linking an alert to a record"))?;
    }};
}

/// Reads every record involving `$username` inside `$tx`, oldest first: evaluates to
/// `Result<Vec<ConcernRecord>, StoreError>`.
macro_rules! records_of_person {
    ($tx:ident, $school:expr, $username:expr) => {
        async {
            let ids: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM concerns WHERE school_id = $1 AND (lower(subject_user) = \
                 lower($2) OR id IN (SELECT concern_id FROM concern_people \
                 WHERE lower(username) = lower($2))) ORDER BY created_at_us, id",
            )
            .bind($school.0)
            .bind($username)
            .fetch_all(&mut *$tx)
            .await
            .map_err(StoreError::query("finding a person's records"))?;
            let mut records = Vec::with_capacity(ids.len());
            for (id,) in ids {
                if let Some(record) = load_record!($tx, $school, id)? {
                    records.push(record);
                }
            }
            Ok::<_, StoreError>(records)
        }
        .await
    };
}

impl Store {
    /// Records a new concern or incident, status `new`, recorded by `by`. Audited as
    /// `concern.create`.
    pub async fn create_record(
        &self,
        school: SchoolId,
        record: &NewRecord,
        by: &ActingUser,
    ) -> Result<ConcernId, StoreError> {
        check_actor(by)?;
        check_new_record(record)?;
        let now = Timestamp::now();
        let category = record.types.first().map(String::as_str).unwrap_or("other");
        let id: i64 = in_tx!(self, "to save a record", |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO concerns (school_id, created_at_us, created_by, status, \
                 subject_user, category, summary, description, evidence, record_type, reporter, \
                 reported_at_us, incident_at_us, location, disclosure, observations, websites, \
                 apps_games, online_names, evidence_description) VALUES ($1, $2, $3, 'new', $4, \
                 $5, $6, '', '[]', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 RETURNING id",
            )
            .bind(school.0)
            .bind(timestamp_to_us(now))
            .bind(&by.name)
            .bind(subject_of(record))
            .bind(category)
            .bind(record.summary.trim())
            .bind(&record.record_type)
            .bind(record.reporter.trim())
            .bind(timestamp_to_us(record.reported_at))
            .bind(record.incident_at.map(timestamp_to_us))
            .bind(&record.location)
            .bind(&record.disclosure)
            .bind(&record.observations)
            .bind(&record.websites)
            .bind(&record.apps_games)
            .bind(&record.online_names)
            .bind(&record.evidence_description)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unknown_school_or(e, school, "saving a safeguarding record"))?;
            write_children!(tx, school, id, record);
            let detail = format!(
                "record_type={} types={} people={} alerts={}",
                record.record_type,
                record.types.join(","),
                record.people.len(),
                record.alert_ids.len()
            );
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.create",
                format!("concern:{id}"),
                detail
            );
            Ok::<_, StoreError>(id)
        })?;
        Ok(ConcernId(id))
    }

    /// The record's type and who recorded it, for the access check made before reading it.
    /// Not audited: it says nothing about anyone involved.
    pub async fn record_meta(
        &self,
        school: SchoolId,
        id: ConcernId,
    ) -> Result<Option<(String, String)>, StoreError> {
        with_pool!(&self.backend, pool => {
            sqlx::query_as(
                "SELECT record_type, created_by FROM concerns WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await
        })
        .map_err(StoreError::query("reading a record's type"))
    }

    /// One full record, or `None`. Audited as `concern.read` in the same transaction.
    pub async fn record(
        &self,
        school: SchoolId,
        id: ConcernId,
        reader: &Reader,
    ) -> Result<Option<ConcernRecord>, StoreError> {
        check_reader(reader)?;
        in_tx!(self, "to read a record", |tx| {
            let record = load_record!(tx, school, id.0)?;
            let detail = format!("purpose={:?} found={}", reader.purpose, record.is_some());
            audit!(
                tx,
                school,
                &reader.actor,
                reader.from_addr.as_deref(),
                "concern.read",
                format!("concern:{id}"),
                detail
            );
            Ok::<_, StoreError>(record)
        })
    }

    /// Records matching `filter`, newest first. Audited as `concern.list`.
    pub async fn records(
        &self,
        school: SchoolId,
        filter: &RecordFilter,
        reader: &Reader,
    ) -> Result<Vec<RecordSummary>, StoreError> {
        check_reader(reader)?;
        let limit = filter.limit.min(limits::MAX_LIST);
        let mut sql = String::from(
            "SELECT id, record_type, status, created_at_us, created_by, \
             COALESCE(reported_at_us, created_at_us), summary, legal_hold FROM concerns \
             WHERE school_id = $1",
        );
        let mut args = vec![Arg::I64(school.0)];
        let mut detail = format!("purpose={:?}", reader.purpose);
        if let Some(status) = filter.status {
            args.push(Arg::Str(status.as_str()));
            sql.push_str(&format!(" AND status = ${}", args.len()));
            detail.push_str(&format!(" status={status}"));
        }
        if let Some(by) = &filter.created_by {
            args.push(Arg::Str(by));
            sql.push_str(&format!(" AND created_by = ${}", args.len()));
            detail.push_str(&format!(" created_by={by:?}"));
        }
        if let Some(types) = &filter.record_types {
            if types.is_empty() {
                sql.push_str(" AND 1 = 0");
            } else {
                let mut marks = Vec::new();
                for t in types {
                    args.push(Arg::Str(t));
                    marks.push(format!("${}", args.len()));
                }
                sql.push_str(&format!(" AND record_type IN ({})", marks.join(", ")));
            }
            detail.push_str(&format!(" record_types={}", types.join(",")));
        }
        if let Some(user) = &filter.username {
            args.push(Arg::Str(user));
            let n = args.len();
            sql.push_str(&format!(
                " AND (lower(subject_user) = lower(${n}) OR id IN (SELECT concern_id FROM \
                 concern_people WHERE lower(username) = lower(${n})))"
            ));
            detail.push_str(&format!(" username={user:?}"));
        }
        sql.push_str(&format!(
            " ORDER BY created_at_us DESC, id DESC LIMIT {limit}"
        ));
        type IdText = (i64, String);
        type ListRow = (i64, String, String, i64, String, i64, String, i64);
        let (rows, people, types): (Vec<ListRow>, Vec<IdText>, Vec<IdText>) =
            in_tx!(self, "to list records", |tx| {
                let rows: Vec<ListRow> = bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("listing safeguarding records"))?;
                let (mut people, mut types) = (Vec::new(), Vec::new());
                if !rows.is_empty() {
                    let marks: Vec<String> = (1..=rows.len()).map(|i| format!("${i}")).collect();
                    let marks = marks.join(", ");
                    let people_sql = format!(
                        "SELECT concern_id, display_name FROM concern_people \
                     WHERE concern_id IN ({marks}) ORDER BY concern_id, position, id"
                    );
                    let types_sql = format!(
                        "SELECT concern_id, type_key FROM concern_types \
                     WHERE concern_id IN ({marks}) ORDER BY concern_id, position, type_key"
                    );
                    let ids = || rows.iter().map(|r| Arg::I64(r.0));
                    people = bind_args!(sqlx::query_as(AssertSqlSafe(people_sql)), ids())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(StoreError::query("listing the people on records"))?;
                    types = bind_args!(sqlx::query_as(AssertSqlSafe(types_sql)), ids())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(StoreError::query("listing records' incident types"))?;
                }
                detail.push_str(&format!(" limit={limit} returned={}", rows.len()));
                audit!(
                    tx,
                    school,
                    &reader.actor,
                    reader.from_addr.as_deref(),
                    "concern.list",
                    format!("school:{school}"),
                    detail
                );
                Ok::<_, StoreError>((rows, people, types))
            })?;
        let mut by_id: BTreeMap<i64, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for (id, name) in people {
            by_id.entry(id).or_default().1.push(name);
        }
        for (id, t) in types {
            by_id.entry(id).or_default().0.push(t);
        }
        rows.into_iter()
            .map(
                |(id, record_type, status, created_at, created_by, reported_at, summary, hold)| {
                    let (types, people) = by_id.remove(&id).unwrap_or_default();
                    Ok(RecordSummary {
                        id: ConcernId(id),
                        record_type,
                        status: ConcernStatus::parse(&status).ok_or_else(|| {
                            StoreError::Corrupt(format!("record {id} has status {status:?}"))
                        })?,
                        created_at: timestamp_from_us(created_at, "record time")?,
                        created_by,
                        reported_at: timestamp_from_us(reported_at, "report time")?,
                        summary,
                        types,
                        people,
                        legal_hold: hold != 0,
                    })
                },
            )
            .collect()
    }

    /// Replaces a record's details, people and incident types with `record`, and links any of
    /// its alerts not yet linked (links are never removed). Refused on a closed record.
    /// Audited as `concern.update`.
    pub async fn update_record_details(
        &self,
        school: SchoolId,
        id: ConcernId,
        record: &NewRecord,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        check_new_record(record)?;
        let category = record.types.first().map(String::as_str).unwrap_or("other");
        in_tx!(self, "to update a record", |tx| {
            let (status, _) = record_state!(tx, school, id);
            if status == ConcernStatus::Closed {
                return Err(closed_error(id));
            }
            // The category of an alert-born concern is the alert's; keep it.
            sqlx::query(
                "UPDATE concerns SET record_type = $1, reporter = $2, reported_at_us = $3, \
                 incident_at_us = $4, location = $5, summary = $6, disclosure = $7, \
                 observations = $8, websites = $9, apps_games = $10, online_names = $11, \
                 evidence_description = $12, updated_at_us = $13, \
                 category = CASE WHEN alert_id IS NULL THEN $14 ELSE category END, \
                 subject_user = COALESCE($15, subject_user) \
                 WHERE school_id = $16 AND id = $17",
            )
            .bind(&record.record_type)
            .bind(record.reporter.trim())
            .bind(timestamp_to_us(record.reported_at))
            .bind(record.incident_at.map(timestamp_to_us))
            .bind(&record.location)
            .bind(record.summary.trim())
            .bind(&record.disclosure)
            .bind(&record.observations)
            .bind(&record.websites)
            .bind(&record.apps_games)
            .bind(&record.online_names)
            .bind(&record.evidence_description)
            .bind(timestamp_to_us(Timestamp::now()))
            .bind(category)
            .bind(subject_of(record))
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("updating a safeguarding record"))?;
            for table in ["concern_people", "concern_types"] {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE concern_id = $1"
                )))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("replacing a record's people and types"))?;
            }
            write_children!(tx, school, id.0, record);
            let detail = format!(
                "record_type={} types={} people={}",
                record.record_type,
                record.types.join(","),
                record.people.len()
            );
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.update",
                format!("concern:{id}"),
                detail
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Records that the record was handed to `to` (the DSL) at `at`; a new record becomes
    /// open. Refused on a closed record. Audited as `concern.hand`.
    pub async fn hand_to_dsl(
        &self,
        school: SchoolId,
        id: ConcernId,
        to: &str,
        at: Timestamp,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        validate_text("handed to", to, limits::SHORT_CHARS)?;
        in_tx!(self, "to hand a record over", |tx| {
            let (status, _) = record_state!(tx, school, id);
            if status == ConcernStatus::Closed {
                return Err(closed_error(id));
            }
            sqlx::query(
                "UPDATE concerns SET handed_to = $1, handed_at_us = $2, updated_at_us = $3, \
                 status = CASE WHEN status = 'new' THEN 'open' ELSE status END \
                 WHERE school_id = $4 AND id = $5",
            )
            .bind(to.trim())
            .bind(timestamp_to_us(at))
            .bind(timestamp_to_us(Timestamp::now()))
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("handing a record over"))?;
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.hand",
                format!("concern:{id}"),
                format!("to={:?} at={at}", to.trim())
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Appends an action of `kind` done at `at` to the record of action. Allowed on a closed
    /// record too (a debrief often follows closing). Audited as `concern.action`.
    pub async fn add_action(
        &self,
        school: SchoolId,
        id: ConcernId,
        kind: &str,
        note: &str,
        at: Timestamp,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        validate_name("action kind", kind)?;
        check_long("action note", note, limits::LONG_CHARS)?;
        in_tx!(self, "to record an action", |tx| {
            record_state!(tx, school, id);
            sqlx::query(
                "INSERT INTO concern_actions (concern_id, kind, at_us, by_user, note) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id.0)
            .bind(kind)
            .bind(timestamp_to_us(at))
            .bind(&by.name)
            .bind(note.trim())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("saving an action"))?;
            sqlx::query("UPDATE concerns SET updated_at_us = $1 WHERE id = $2")
                .bind(timestamp_to_us(Timestamp::now()))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("saving an action"))?;
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.action",
                format!("concern:{id}"),
                format!("kind={kind} at={at}")
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Starts guided procedure `procedure` on a record; starting it again changes nothing.
    /// Refused on a closed record. Audited as `concern.procedure` when it starts.
    pub async fn start_procedure(
        &self,
        school: SchoolId,
        id: ConcernId,
        procedure: &str,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        validate_name("procedure", procedure)?;
        in_tx!(self, "to start a procedure", |tx| {
            let (status, _) = record_state!(tx, school, id);
            if status == ConcernStatus::Closed {
                return Err(closed_error(id));
            }
            let started = sqlx::query(
                "INSERT INTO concern_procedures (concern_id, procedure, started_at_us, \
                 started_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (concern_id, procedure) DO NOTHING",
            )
            .bind(id.0)
            .bind(procedure)
            .bind(timestamp_to_us(Timestamp::now()))
            .bind(&by.name)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("starting a procedure"))?
            .rows_affected();
            if started > 0 {
                audit!(
                    tx,
                    school,
                    &by.name,
                    by.from_addr.as_deref(),
                    "concern.procedure",
                    format!("concern:{id}"),
                    format!("started {procedure}")
                );
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Ticks `step` of a started procedure, with an optional note; ticking it again changes
    /// nothing. Refused when the procedure is not started or the record is closed. Audited as
    /// `concern.step`.
    pub async fn tick_step(
        &self,
        school: SchoolId,
        id: ConcernId,
        procedure: &str,
        step: &str,
        note: &str,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        validate_name("procedure", procedure)?;
        validate_name("procedure step", step)?;
        check_long("step note", note, limits::LONG_CHARS)?;
        in_tx!(self, "to tick a procedure step", |tx| {
            let (status, _) = record_state!(tx, school, id);
            if status == ConcernStatus::Closed {
                return Err(closed_error(id));
            }
            let started: Option<(i64,)> = sqlx::query_as(
                "SELECT started_at_us FROM concern_procedures WHERE concern_id = $1 \
                 AND procedure = $2",
            )
            .bind(id.0)
            .bind(procedure)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("reading a procedure"))?;
            if started.is_none() {
                return Err(StoreError::invalid(
                    "procedure",
                    format!("{procedure:?} is not started on record #{id}; start it first"),
                ));
            }
            let ticked = sqlx::query(
                "INSERT INTO concern_steps (concern_id, procedure, step, done_at_us, done_by, \
                 note) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (concern_id, procedure, step) DO NOTHING",
            )
            .bind(id.0)
            .bind(procedure)
            .bind(step)
            .bind(timestamp_to_us(Timestamp::now()))
            .bind(&by.name)
            .bind(note.trim())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("ticking a procedure step"))?
            .rows_affected();
            if ticked > 0 {
                audit!(
                    tx,
                    school,
                    &by.name,
                    by.from_addr.as_deref(),
                    "concern.step",
                    format!("concern:{id}"),
                    format!("{procedure}/{step}")
                );
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Records a sanction made through change control; returns its id. Refused on a closed
    /// record. Audited as `concern.sanction`.
    pub async fn record_sanction(
        &self,
        school: SchoolId,
        id: ConcernId,
        sanction: &NewSanction,
        by: &ActingUser,
    ) -> Result<i64, StoreError> {
        check_actor(by)?;
        validate_name("sanctioned username", &sanction.username)?;
        check_key("sanction kind", &sanction.kind, &SANCTION_KINDS)?;
        match (&*sanction.kind, &sanction.filter_as) {
            ("restricted", None) => {
                return Err(StoreError::invalid(
                    "sanction group",
                    "a restricted profile needs the group to filter them as; choose one",
                ));
            }
            ("suspended", Some(_)) => {
                return Err(StoreError::invalid(
                    "sanction group",
                    "a suspension blocks everything, so it takes no group; leave it empty",
                ));
            }
            (_, Some(group)) => validate_name("sanction group", group)?,
            _ => {}
        }
        if sanction.until <= sanction.starts_at {
            return Err(StoreError::invalid(
                "sanction end",
                "it is not after the start; choose a later end",
            ));
        }
        in_tx!(self, "to record a sanction", |tx| {
            let (status, _) = record_state!(tx, school, id);
            if status == ConcernStatus::Closed {
                return Err(closed_error(id));
            }
            let sanction_id: i64 = sqlx::query_scalar(
                "INSERT INTO concern_sanctions (concern_id, username, kind, filter_as, \
                 starts_at_us, until_us, change_id) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING id",
            )
            .bind(id.0)
            .bind(&sanction.username)
            .bind(&sanction.kind)
            .bind(sanction.filter_as.as_deref())
            .bind(timestamp_to_us(sanction.starts_at))
            .bind(timestamp_to_us(sanction.until))
            .bind(sanction.change_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("saving a sanction"))?;
            let detail = format!(
                "sanction:{sanction_id} {} {:?} from {} until {} change={:?}",
                sanction.kind,
                sanction.username,
                sanction.starts_at,
                sanction.until,
                sanction.change_id
            );
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.sanction",
                format!("concern:{id}"),
                detail
            );
            Ok::<_, StoreError>(sanction_id)
        })
    }

    /// Lifts a sanction early at `at`. Refused when it was already lifted. Audited as
    /// `concern.sanction-lift`.
    pub async fn lift_sanction(
        &self,
        school: SchoolId,
        id: ConcernId,
        sanction_id: i64,
        at: Timestamp,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        in_tx!(self, "to lift a sanction", |tx| {
            record_state!(tx, school, id);
            let row: Option<(Option<i64>,)> = sqlx::query_as(
                "SELECT lifted_at_us FROM concern_sanctions WHERE id = $1 AND concern_id = $2",
            )
            .bind(sanction_id)
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("reading a sanction"))?;
            match row {
                None => {
                    return Err(StoreError::NotFound {
                        what: "sanction on this record",
                        id: sanction_id,
                    });
                }
                Some((Some(_),)) => {
                    return Err(StoreError::invalid(
                        "sanction",
                        format!("sanction #{sanction_id} was already lifted; nothing to do"),
                    ));
                }
                Some((None,)) => {}
            }
            sqlx::query(
                "UPDATE concern_sanctions SET lifted_at_us = $1, lifted_by = $2 \
                 WHERE id = $3 AND lifted_at_us IS NULL",
            )
            .bind(timestamp_to_us(at))
            .bind(&by.name)
            .bind(sanction_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("lifting a sanction"))?;
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.sanction-lift",
                format!("concern:{id}"),
                format!("sanction:{sanction_id} at={at}")
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Sanctions in force on `username` at `now` (started, not ended, not lifted), soonest
    /// ending first. For enforcement, so not audited.
    pub async fn active_record_sanctions(
        &self,
        school: SchoolId,
        username: &str,
        now: Timestamp,
    ) -> Result<Vec<RecordSanction>, StoreError> {
        let sql = format!(
            "SELECT {} FROM concern_sanctions s JOIN concerns c ON c.id = s.concern_id \
             WHERE c.school_id = $1 AND lower(s.username) = lower($2) AND s.starts_at_us <= $3 \
             AND s.until_us > $3 AND s.lifted_at_us IS NULL ORDER BY s.until_us, s.id",
            SANCTION_COLUMNS
                .split(", ")
                .map(|c| format!("s.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows: Vec<SanctionRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .bind(username)
                .bind(timestamp_to_us(now))
                .fetch_all(pool)
                .await
        })
        .map_err(StoreError::query("reading sanctions in force"))?;
        rows.into_iter().map(SanctionRow::into_sanction).collect()
    }

    /// Links a further alert of this school to a record. Audited as `concern.link-alert`.
    pub async fn link_alert(
        &self,
        school: SchoolId,
        id: ConcernId,
        alert: AlertId,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        in_tx!(self, "to link an alert", |tx| {
            record_state!(tx, school, id);
            link_alert_in!(tx, school, id.0, alert);
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.link-alert",
                format!("concern:{id}"),
                format!("alert:{alert}")
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Closes a record with its outcome. Refused without an outcome, and without a
    /// `no_referral_reason` when the record of action holds no referral (see
    /// [`REFERRAL_KINDS`]). Audited as `concern.close`.
    pub async fn close_record(
        &self,
        school: SchoolId,
        id: ConcernId,
        outcome: &str,
        no_referral_reason: Option<&str>,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        let outcome = outcome.trim();
        if outcome.is_empty() {
            return Err(StoreError::invalid(
                "outcome",
                "it is empty; write a summary of the outcome before closing the record",
            ));
        }
        check_long("outcome", outcome, limits::LONG_CHARS)?;
        let reason = no_referral_reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(reason) = reason {
            check_long("reason no referral was made", reason, limits::LONG_CHARS)?;
        }
        in_tx!(self, "to close a record", |tx| {
            let (status, _) = record_state!(tx, school, id);
            if status == ConcernStatus::Closed {
                return Err(StoreError::invalid(
                    "record status",
                    format!("record #{id} is already closed"),
                ));
            }
            let kinds: Vec<(String,)> =
                sqlx::query_as("SELECT DISTINCT kind FROM concern_actions WHERE concern_id = $1")
                    .bind(id.0)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading a record's actions"))?;
            let referred = kinds
                .iter()
                .any(|(k,)| REFERRAL_KINDS.contains(&k.as_str()));
            if !referred && reason.is_none() {
                return Err(StoreError::invalid(
                    "reason no referral was made",
                    "no referral (children's social care, police, CEOP, IWF or LADO) is \
                     recorded on this record; say why no referral was made, or record the \
                     referral as an action first",
                ));
            }
            let now = Timestamp::now();
            sqlx::query(
                "UPDATE concerns SET status = 'closed', outcome = $1, no_referral_reason = $2, \
                 closed_at_us = $3, closed_by = $4, updated_at_us = $3 \
                 WHERE school_id = $5 AND id = $6",
            )
            .bind(outcome)
            .bind(reason)
            .bind(timestamp_to_us(now))
            .bind(&by.name)
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("closing a record"))?;
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.close",
                format!("concern:{id}"),
                format!("referral_made={referred}")
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Reopens a closed record (status open); its outcome stays for editing. Audited as
    /// `concern.reopen`.
    pub async fn reopen_record(
        &self,
        school: SchoolId,
        id: ConcernId,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        in_tx!(self, "to reopen a record", |tx| {
            let (status, _) = record_state!(tx, school, id);
            if status != ConcernStatus::Closed {
                return Err(StoreError::invalid(
                    "record status",
                    format!("record #{id} is not closed, so there is nothing to reopen"),
                ));
            }
            sqlx::query(
                "UPDATE concerns SET status = 'open', closed_at_us = NULL, closed_by = NULL, \
                 updated_at_us = $1 WHERE school_id = $2 AND id = $3",
            )
            .bind(timestamp_to_us(Timestamp::now()))
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("reopening a record"))?;
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.reopen",
                format!("concern:{id}"),
                String::new()
            );
            Ok::<_, StoreError>(())
        })
    }

    /// A person's chronology across every record involving them (as a person involved or
    /// the alert's subject), oldest first. Audited as `records.chronology`.
    pub async fn chronology(
        &self,
        school: SchoolId,
        username: &str,
        reader: &Reader,
    ) -> Result<Vec<ChronologyEntry>, StoreError> {
        check_reader(reader)?;
        validate_name("username", username)?;
        let records = in_tx!(self, "to read a chronology", |tx| {
            let records = records_of_person!(tx, school, username)?;
            let detail = format!("purpose={:?} records={}", reader.purpose, records.len());
            audit!(
                tx,
                school,
                &reader.actor,
                reader.from_addr.as_deref(),
                "records.chronology",
                format!("user:{username}"),
                detail
            );
            Ok::<_, StoreError>(records)
        })?;
        let mut entries = Vec::new();
        for r in &records {
            chronology_of(r, &mut entries);
        }
        entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.concern.cmp(&b.concern)));
        Ok(entries)
    }
}

/// The dated events of one record, in words, appended to `out`.
fn chronology_of(r: &ConcernRecord, out: &mut Vec<ChronologyEntry>) {
    let concern = r.concern.id;
    let mut push = |at: Timestamp, what: String| out.push(ChronologyEntry { at, concern, what });
    if let Some(at) = r.incident_at {
        push(at, format!("Incident: {}", r.concern.summary));
    }
    push(
        r.reported_at,
        format!(
            "Reported by {} ({}): {}",
            r.reporter,
            r.types.join(", "),
            r.concern.summary
        ),
    );
    if let (Some(to), Some(at)) = (&r.handed_to, r.handed_at) {
        push(at, format!("Handed to {to}"));
    }
    for a in &r.actions {
        let note = if a.note.is_empty() {
            String::new()
        } else {
            format!(": {}", a.note)
        };
        push(a.at, format!("Action {} by {}{note}", a.kind, a.by));
    }
    for p in &r.procedures {
        push(
            p.started_at,
            format!("Procedure {} started by {}", p.procedure, p.started_by),
        );
        for s in &p.done {
            push(
                s.at,
                format!("Step {}/{} done by {}", p.procedure, s.step, s.by),
            );
        }
    }
    for s in &r.sanctions {
        let what = match &s.filter_as {
            Some(group) => format!("restricted to {group}"),
            None => "internet access suspended".to_owned(),
        };
        push(
            s.starts_at,
            format!("Sanction on {}: {what} until {}", s.username, s.until),
        );
        if let Some(at) = s.lifted_at {
            push(
                at,
                format!(
                    "Sanction on {} lifted by {}",
                    s.username,
                    s.lifted_by.as_deref().unwrap_or("?")
                ),
            );
        }
    }
    if let Some(at) = r.closed_at {
        push(
            at,
            format!(
                "Closed by {}: {}",
                r.closed_by.as_deref().unwrap_or("?"),
                r.outcome.as_deref().unwrap_or("")
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Retention, legal hold and destruction
// ---------------------------------------------------------------------------------------------

/// How long each record type is kept before it is due for review: the rules in
/// `hedgerow-records`, under the store's name.
pub use hedgerow_records::RetentionRules as RecordRetention;

/// The school's calendar date of a moment (schools in this store work in Europe/London).
pub fn london_date(at: Timestamp) -> Date {
    match jiff::tz::TimeZone::get("Europe/London") {
        Ok(tz) => tz.to_datetime(at).date(),
        Err(_) => jiff::tz::TimeZone::UTC.to_datetime(at).date(),
    }
}

/// A record due for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewItem {
    /// The record.
    pub id: ConcernId,
    /// Its type key.
    pub record_type: String,
    /// When it became due.
    pub review_due: Date,
    /// Under legal hold (so it cannot be destroyed).
    pub legal_hold: bool,
    /// New, open or closed.
    pub status: ConcernStatus,
}

/// A certificate of destruction: kept for ever, proving what was destroyed without keeping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestructionCertificate {
    /// Database id; shown as "certificate #N".
    pub id: i64,
    /// The id the record had.
    pub concern_ref: ConcernId,
    /// Its type key.
    pub record_type: String,
    /// When it was recorded.
    pub opened_at: Timestamp,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// When it was due for review.
    pub review_due: Date,
    /// When it was destroyed.
    pub destroyed_at: Timestamp,
    /// Who destroyed it.
    pub destroyed_by: String,
    /// Why.
    pub reason: String,
    /// SHA-256 (hex) of the record's JSON ([`ConcernRecord::to_json`]) as it was.
    pub content_sha256: String,
    /// Rows removed: the record and everything on it.
    pub rows_removed: u64,
}

/// The review facts of every record of a school (`$1`), or of one (`$2`): id, type, status,
/// hold, reported, incident, and the first pupil's date of birth (from the record, else from
/// the directory).
const REVIEW_SELECT: &str = "SELECT c.id, c.record_type, c.status, c.legal_hold, \
     COALESCE(c.reported_at_us, c.created_at_us), c.incident_at_us, \
     (SELECT COALESCE(p.date_of_birth, (SELECT u.date_of_birth FROM users u \
        WHERE u.school_id = c.school_id AND lower(u.username) = lower(p.username) \
        ORDER BY u.id LIMIT 1)) \
      FROM concern_people p WHERE p.concern_id = c.id AND p.person_role = 'pupil' \
      ORDER BY p.position, p.id LIMIT 1) \
     FROM concerns c WHERE c.school_id = $1";

type ReviewRow = (i64, String, String, i64, i64, Option<i64>, Option<String>);

fn review_due_of(rules: &RecordRetention, row: &ReviewRow) -> Result<Date, StoreError> {
    let (_, record_type, _, _, reported_us, incident_us, dob) = row;
    let dob = dob
        .as_deref()
        .map(|d| parse_date(d, "a date of birth"))
        .transpose()?;
    let reported = london_date(timestamp_from_us(*reported_us, "report time")?);
    let incident = opt_time(*incident_us, "incident time")?.map(london_date);
    let record_type = hedgerow_records::RecordType::parse(record_type)
        .unwrap_or(hedgerow_records::RecordType::OnlineSafety);
    Ok(rules.review_due(record_type, dob, incident, reported))
}

/// Hex of the SHA-256 of `bytes`, as transfer bundles and certificates write it.
pub use hedgerow_records::sha256_hex;

const CERTIFICATE_COLUMNS: &str = "id, concern_ref, record_type, opened_at_us, closed_at_us, \
     review_due, destroyed_at_us, destroyed_by, reason, content_sha256, rows_removed";

#[derive(FromRow)]
struct CertificateRow {
    id: i64,
    concern_ref: i64,
    record_type: String,
    opened_at_us: i64,
    closed_at_us: Option<i64>,
    review_due: String,
    destroyed_at_us: i64,
    destroyed_by: String,
    reason: String,
    content_sha256: String,
    rows_removed: i64,
}

impl CertificateRow {
    fn into_certificate(self) -> Result<DestructionCertificate, StoreError> {
        Ok(DestructionCertificate {
            id: self.id,
            concern_ref: ConcernId(self.concern_ref),
            record_type: self.record_type,
            opened_at: timestamp_from_us(self.opened_at_us, "record time")?,
            closed_at: opt_time(self.closed_at_us, "closing time")?,
            review_due: parse_date(&self.review_due, "a review date")?,
            destroyed_at: timestamp_from_us(self.destroyed_at_us, "destruction time")?,
            destroyed_by: self.destroyed_by,
            reason: self.reason,
            content_sha256: self.content_sha256,
            rows_removed: u64::try_from(self.rows_removed).unwrap_or(0),
        })
    }
}

/// Tables whose rows hang off a concern, counted into a certificate's `rows_removed`.
const CHILD_TABLES: [&str; 7] = [
    "concern_people",
    "concern_types",
    "concern_actions",
    "concern_procedures",
    "concern_steps",
    "concern_sanctions",
    "concern_alerts",
];

impl Store {
    /// Puts a record under legal hold (it cannot then be destroyed) or lifts the hold.
    /// `reason` is required either way and audited as `concern.hold`; a held record keeps it.
    pub async fn set_legal_hold(
        &self,
        school: SchoolId,
        id: ConcernId,
        hold: bool,
        reason: &str,
        by: &ActingUser,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        validate_text("legal hold reason", reason.trim(), 2_000)?;
        let reason = reason.trim();
        in_tx!(self, "to change a legal hold", |tx| {
            record_state!(tx, school, id);
            sqlx::query(
                "UPDATE concerns SET legal_hold = $1, legal_hold_reason = $2, updated_at_us = $3 \
                 WHERE school_id = $4 AND id = $5",
            )
            .bind(i64::from(hold))
            .bind(hold.then_some(reason))
            .bind(timestamp_to_us(Timestamp::now()))
            .bind(school.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("changing a legal hold"))?;
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.hold",
                format!("concern:{id}"),
                format!("hold={hold} reason={reason:?}")
            );
            Ok::<_, StoreError>(())
        })
    }

    /// Records whose review date under `rules` is on or before `today`, soonest due first.
    /// Holds no names, so it is not audited.
    pub async fn records_for_review(
        &self,
        school: SchoolId,
        rules: &RecordRetention,
        today: Date,
    ) -> Result<Vec<ReviewItem>, StoreError> {
        let rows: Vec<ReviewRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(REVIEW_SELECT).bind(school.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("reading records' review dates"))?;
        let mut due = Vec::new();
        for row in &rows {
            let review_due = review_due_of(rules, row)?;
            if review_due > today {
                continue;
            }
            let (id, record_type, status, hold, ..) = row;
            due.push(ReviewItem {
                id: ConcernId(*id),
                record_type: record_type.clone(),
                review_due,
                legal_hold: *hold != 0,
                status: ConcernStatus::parse(status).ok_or_else(|| {
                    StoreError::Corrupt(format!("record {id} has status {status:?}"))
                })?,
            });
        }
        due.sort_by(|a, b| a.review_due.cmp(&b.review_due).then(a.id.cmp(&b.id)));
        Ok(due)
    }

    /// Destroys a closed record and everything on it, writing a certificate of destruction
    /// (with the SHA-256 of the record's JSON as it was) and a `concern.destroy` audit entry
    /// in the same transaction. Refused under legal hold and for a record not yet closed.
    pub async fn destroy_record(
        &self,
        school: SchoolId,
        id: ConcernId,
        reason: &str,
        rules: &RecordRetention,
        by: &ActingUser,
    ) -> Result<DestructionCertificate, StoreError> {
        check_actor(by)?;
        let reason = reason.trim();
        validate_text("reason for destruction", reason, 2_000)?;
        in_tx!(self, "to destroy a record", |tx| {
            let Some(record) = load_record!(tx, school, id.0)? else {
                return Err(StoreError::NotFound {
                    what: "safeguarding record",
                    id: id.0,
                });
            };
            if record.legal_hold {
                return Err(StoreError::invalid(
                    "legal hold",
                    format!(
                        "record #{id} is under legal hold ({}), so it cannot be destroyed; \
                         lift the hold first if it no longer applies",
                        record
                            .legal_hold_reason
                            .as_deref()
                            .unwrap_or("no reason given")
                    ),
                ));
            }
            if record.concern.status != ConcernStatus::Closed {
                return Err(StoreError::invalid(
                    "record status",
                    format!("record #{id} is not closed; close it with its outcome first"),
                ));
            }
            let json = serde_json::to_vec(&record.to_json())
                .map_err(|e| StoreError::invalid("record", e.to_string()))?;
            let content_sha256 = sha256_hex(&json);
            let review: Option<ReviewRow> =
                sqlx::query_as(AssertSqlSafe(format!("{REVIEW_SELECT} AND c.id = $2")))
                    .bind(school.0)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading a record's review date"))?;
            let review_due = match &review {
                Some(row) => review_due_of(rules, row)?,
                None => {
                    return Err(StoreError::NotFound {
                        what: "safeguarding record",
                        id: id.0,
                    });
                }
            };
            let mut rows_removed: i64 = 1;
            for table in CHILD_TABLES {
                let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM {table} WHERE concern_id = $1"
                )))
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::query("counting a record's rows"))?;
                rows_removed += n;
            }
            let deleted = sqlx::query("DELETE FROM concerns WHERE school_id = $1 AND id = $2")
                .bind(school.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("destroying a record"))?
                .rows_affected();
            if deleted != 1 {
                return Err(StoreError::NotFound {
                    what: "safeguarding record",
                    id: id.0,
                });
            }
            let now = Timestamp::now();
            let certificate = DestructionCertificate {
                id: 0,
                concern_ref: id,
                record_type: record.record_type.clone(),
                opened_at: record.concern.created_at,
                closed_at: record.closed_at,
                review_due,
                destroyed_at: Timestamp::from_microsecond(timestamp_to_us(now)).unwrap_or(now),
                destroyed_by: by.name.clone(),
                reason: reason.to_owned(),
                content_sha256,
                rows_removed: u64::try_from(rows_removed).unwrap_or(0),
            };
            let certificate_id: i64 = sqlx::query_scalar(
                "INSERT INTO destruction_certificates (school_id, concern_ref, record_type, \
                 opened_at_us, closed_at_us, review_due, destroyed_at_us, destroyed_by, reason, \
                 content_sha256, rows_removed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 $11) RETURNING id",
            )
            .bind(school.0)
            .bind(id.0)
            .bind(&certificate.record_type)
            .bind(timestamp_to_us(certificate.opened_at))
            .bind(certificate.closed_at.map(timestamp_to_us))
            .bind(certificate.review_due.to_string())
            .bind(timestamp_to_us(certificate.destroyed_at))
            .bind(&certificate.destroyed_by)
            .bind(&certificate.reason)
            .bind(&certificate.content_sha256)
            .bind(rows_removed)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("writing a certificate of destruction"))?;
            let detail = format!(
                "certificate:{certificate_id} sha256={} rows={rows_removed} reason={reason:?}",
                certificate.content_sha256
            );
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "concern.destroy",
                format!("concern:{id}"),
                detail
            );
            Ok::<_, StoreError>(DestructionCertificate {
                id: certificate_id,
                ..certificate
            })
        })
    }

    /// Every certificate of destruction of a school, newest first. They name no one.
    pub async fn destruction_certificates(
        &self,
        school: SchoolId,
    ) -> Result<Vec<DestructionCertificate>, StoreError> {
        let sql = format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM destruction_certificates WHERE school_id = $1 \
             ORDER BY destroyed_at_us DESC, id DESC"
        );
        let rows: Vec<CertificateRow> = with_pool!(&self.backend, pool => {
            sqlx::query_as(AssertSqlSafe(sql)).bind(school.0).fetch_all(pool).await
        })
        .map_err(StoreError::query("reading certificates of destruction"))?;
        rows.into_iter()
            .map(CertificateRow::into_certificate)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Subject access and transfers
// ---------------------------------------------------------------------------------------------

/// The most activity events a subject-access export carries.
pub const MAX_SUBJECT_ACCESS_EVENTS: u32 = 10_000;

/// Everything the store holds about one person, for a subject-access request.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectAccessData {
    /// Their directory entry, if they have one.
    pub person: Option<Person>,
    /// Every record involving them, oldest first (others on them are the caller's to redact).
    pub records: Vec<ConcernRecord>,
    /// Alerts about them, newest first.
    pub alerts: Vec<Alert>,
    /// Their activity, newest first, at most [`MAX_SUBJECT_ACCESS_EVENTS`].
    pub events: Vec<StoredEvent>,
    /// Whether more activity exists than `events` holds.
    pub events_truncated: bool,
}

/// A transfer of a pupil's file to record with [`Store::record_transfer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    /// `out` (sent to another school) or `in` (received from one).
    pub direction: String,
    /// The pupil's username here, if any.
    pub pupil_username: Option<String>,
    /// The pupil's name.
    pub pupil_name: String,
    /// The other school.
    pub other_school: String,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// When receipt should be confirmed by (five school days later).
    pub due_date: Date,
    /// SHA-256 (hex) of the bundle.
    pub sha256: String,
}

/// A logged transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Database id.
    pub id: i64,
    /// The transfer as logged.
    pub transfer: NewTransfer,
    /// Who logged it.
    pub sent_by: String,
    /// When receipt was confirmed.
    pub receipt_confirmed_at: Option<Timestamp>,
    /// Who confirmed it.
    pub receipt_confirmed_by: Option<String>,
    /// What they said.
    pub receipt_note: Option<String>,
}

const TRANSFER_COLUMNS: &str = "id, direction, pupil_username, pupil_name, other_school, \
     sent_at_us, sent_by, due_date, sha256, receipt_confirmed_at_us, receipt_confirmed_by, \
     receipt_note";

#[derive(FromRow)]
struct TransferRow {
    id: i64,
    direction: String,
    pupil_username: Option<String>,
    pupil_name: String,
    other_school: String,
    sent_at_us: i64,
    sent_by: String,
    due_date: String,
    sha256: String,
    receipt_confirmed_at_us: Option<i64>,
    receipt_confirmed_by: Option<String>,
    receipt_note: Option<String>,
}

impl TransferRow {
    fn into_transfer(self) -> Result<Transfer, StoreError> {
        Ok(Transfer {
            id: self.id,
            transfer: NewTransfer {
                direction: self.direction,
                pupil_username: self.pupil_username,
                pupil_name: self.pupil_name,
                other_school: self.other_school,
                sent_at: timestamp_from_us(self.sent_at_us, "transfer time")?,
                due_date: parse_date(&self.due_date, "a transfer due date")?,
                sha256: self.sha256,
            },
            sent_by: self.sent_by,
            receipt_confirmed_at: opt_time(self.receipt_confirmed_at_us, "receipt time")?,
            receipt_confirmed_by: self.receipt_confirmed_by,
            receipt_note: self.receipt_note,
        })
    }
}

impl Store {
    /// Everything held about `username`: directory entry, records, alerts and activity (capped).
    /// Audited as `records.subject-access` in the same transaction.
    pub async fn subject_access(
        &self,
        school: SchoolId,
        username: &str,
        reader: &Reader,
    ) -> Result<SubjectAccessData, StoreError> {
        check_reader(reader)?;
        validate_name("username", username)?;
        let person_sql = format!(
            "SELECT {PERSON_COLUMNS} FROM users WHERE school_id = $1 \
             AND lower(username) = lower($2) ORDER BY id LIMIT 1"
        );
        let alerts_sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE school_id = $1 \
             AND lower(user_name) = lower($2) ORDER BY first_at_us DESC, id DESC"
        );
        let events_sql = format!(
            "{EVENT_SELECT} WHERE school_id = $1 AND lower(user_name) = lower($2) \
             ORDER BY at_us DESC, id DESC LIMIT {}",
            MAX_SUBJECT_ACCESS_EVENTS + 1
        );
        let (person, records, alerts, mut events) =
            in_tx!(self, "a subject-access export", |tx| {
                let person: Option<PersonRow> = sqlx::query_as(AssertSqlSafe(person_sql))
                    .bind(school.0)
                    .bind(username)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading a person for subject access"))?;
                let records = records_of_person!(tx, school, username)?;
                let alerts: Vec<AlertRow> = sqlx::query_as(AssertSqlSafe(alerts_sql))
                    .bind(school.0)
                    .bind(username)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading alerts for subject access"))?;
                let events: Vec<EventRow> = sqlx::query_as(AssertSqlSafe(events_sql))
                    .bind(school.0)
                    .bind(username)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::query("reading activity for subject access"))?;
                let detail = format!(
                    "purpose={:?} records={} alerts={} events={}",
                    reader.purpose,
                    records.len(),
                    alerts.len(),
                    events.len().min(MAX_SUBJECT_ACCESS_EVENTS as usize)
                );
                audit!(
                    tx,
                    school,
                    &reader.actor,
                    reader.from_addr.as_deref(),
                    "records.subject-access",
                    format!("user:{username}"),
                    detail
                );
                Ok::<_, StoreError>((person, records, alerts, events))
            })?;
        let events_truncated = events.len() > MAX_SUBJECT_ACCESS_EVENTS as usize;
        events.truncate(MAX_SUBJECT_ACCESS_EVENTS as usize);
        Ok(SubjectAccessData {
            person: person.map(PersonRow::into_person).transpose()?,
            records,
            alerts: alerts
                .into_iter()
                .map(AlertRow::into_alert)
                .collect::<Result<_, _>>()?,
            events: events
                .into_iter()
                .map(EventRow::into_event)
                .collect::<Result<_, _>>()?,
            events_truncated,
        })
    }

    /// Every record involving `username`, oldest first, to go into a transfer bundle.
    /// Audited as `records.transfer-out` in the same transaction.
    pub async fn records_for_transfer(
        &self,
        school: SchoolId,
        username: &str,
        reader: &Reader,
    ) -> Result<Vec<ConcernRecord>, StoreError> {
        check_reader(reader)?;
        validate_name("username", username)?;
        in_tx!(self, "to read records for a transfer", |tx| {
            let records = records_of_person!(tx, school, username)?;
            let detail = format!("purpose={:?} records={}", reader.purpose, records.len());
            audit!(
                tx,
                school,
                &reader.actor,
                reader.from_addr.as_deref(),
                "records.transfer-out",
                format!("user:{username}"),
                detail
            );
            Ok::<_, StoreError>(records)
        })
    }

    /// Logs a transfer sent or received; returns its id. Audited as `records.transfer`.
    pub async fn record_transfer(
        &self,
        school: SchoolId,
        transfer: &NewTransfer,
        by: &ActingUser,
    ) -> Result<i64, StoreError> {
        check_actor(by)?;
        check_key("transfer direction", &transfer.direction, &["out", "in"])?;
        if let Some(u) = &transfer.pupil_username {
            validate_name("pupil's username", u)?;
        }
        validate_text("pupil's name", &transfer.pupil_name, limits::SHORT_CHARS)?;
        validate_text("other school", &transfer.other_school, limits::SHORT_CHARS)?;
        let hash_ok = transfer.sha256.len() == 64
            && transfer
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hash_ok {
            return Err(StoreError::invalid(
                "bundle checksum",
                "it is not a SHA-256 in lowercase hex (64 characters); copy it from the bundle",
            ));
        }
        in_tx!(self, "to log a transfer", |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO record_transfers (school_id, direction, pupil_username, pupil_name, \
                 other_school, sent_at_us, sent_by, due_date, sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(school.0)
            .bind(&transfer.direction)
            .bind(transfer.pupil_username.as_deref())
            .bind(transfer.pupil_name.trim())
            .bind(transfer.other_school.trim())
            .bind(timestamp_to_us(transfer.sent_at))
            .bind(&by.name)
            .bind(transfer.due_date.to_string())
            .bind(&transfer.sha256)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unknown_school_or(e, school, "logging a transfer"))?;
            let detail = format!(
                "{} {:?} other_school={:?} sha256={}",
                transfer.direction, transfer.pupil_name, transfer.other_school, transfer.sha256
            );
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "records.transfer",
                format!("transfer:{id}"),
                detail
            );
            Ok::<_, StoreError>(id)
        })
    }

    /// Confirms receipt of a logged transfer, with an optional note. Refused when already
    /// confirmed. Audited as `records.transfer-receipt`.
    pub async fn confirm_transfer_receipt(
        &self,
        school: SchoolId,
        id: i64,
        by: &ActingUser,
        note: &str,
    ) -> Result<(), StoreError> {
        check_actor(by)?;
        check_long("receipt note", note, limits::LONG_CHARS)?;
        let note = note.trim();
        in_tx!(self, "to confirm a transfer's receipt", |tx| {
            let row: Option<(Option<i64>,)> = sqlx::query_as(
                "SELECT receipt_confirmed_at_us FROM record_transfers \
                 WHERE school_id = $1 AND id = $2",
            )
            .bind(school.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("reading a transfer"))?;
            match row {
                None => {
                    return Err(StoreError::NotFound {
                        what: "transfer",
                        id,
                    });
                }
                Some((Some(_),)) => {
                    return Err(StoreError::invalid(
                        "transfer",
                        format!("receipt of transfer #{id} is already confirmed"),
                    ));
                }
                Some((None,)) => {}
            }
            sqlx::query(
                "UPDATE record_transfers SET receipt_confirmed_at_us = $1, \
                 receipt_confirmed_by = $2, receipt_note = $3 WHERE school_id = $4 AND id = $5",
            )
            .bind(timestamp_to_us(Timestamp::now()))
            .bind(&by.name)
            .bind((!note.is_empty()).then_some(note))
            .bind(school.0)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("confirming a transfer's receipt"))?;
            audit!(
                tx,
                school,
                &by.name,
                by.from_addr.as_deref(),
                "records.transfer-receipt",
                format!("transfer:{id}"),
                String::new()
            );
            Ok::<_, StoreError>(())
        })
    }

    /// The transfer log, newest first. It names pupils, so it is audited as
    /// `records.transfers`.
    pub async fn transfers(
        &self,
        school: SchoolId,
        reader: &Reader,
    ) -> Result<Vec<Transfer>, StoreError> {
        check_reader(reader)?;
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM record_transfers WHERE school_id = $1 \
             ORDER BY sent_at_us DESC, id DESC"
        );
        let rows: Vec<TransferRow> = in_tx!(self, "to read the transfer log", |tx| {
            let rows: Vec<TransferRow> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(school.0)
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::query("reading the transfer log"))?;
            let detail = format!("purpose={:?} returned={}", reader.purpose, rows.len());
            audit!(
                tx,
                school,
                &reader.actor,
                reader.from_addr.as_deref(),
                "records.transfers",
                format!("school:{school}"),
                detail
            );
            Ok::<_, StoreError>(rows)
        })?;
        rows.into_iter().map(TransferRow::into_transfer).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Termly figures
// ---------------------------------------------------------------------------------------------

/// Name-free figures for the governors' termly report: counts only. Suppressing small counts
/// is the report's job; the store gives the true counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TermlyFigures {
    /// Records reported in the period.
    pub records: u64,
    /// Per incident type key, most first.
    pub by_type: Vec<Count>,
    /// Per record type key, most first.
    pub by_record_type: Vec<Count>,
    /// Actions done in the period per kind, most first.
    pub actions_by_kind: Vec<Count>,
    /// Of those, referrals ([`REFERRAL_KINDS`]).
    pub referrals: u64,
    /// Sanctions starting in the period per kind, most first.
    pub sanctions_by_kind: Vec<Count>,
    /// Records closed in the period.
    pub closed: u64,
    /// Records not closed now (whenever they were reported).
    pub open_now: u64,
    /// Blocked activity in the period per category (the 10 most), most first.
    pub top_blocked_categories: Vec<Count>,
    /// Alerts first raised in the period per category, most first.
    pub alerts_by_category: Vec<Count>,
    /// Filtering checks done in the period.
    pub checks_done: u64,
    /// Of those, failed or partly failed.
    pub checks_failed: u64,
    /// The date of the latest annual review of filtering and monitoring, if any.
    pub last_annual_review: Option<Date>,
    /// When the next one is due, as that review set it.
    pub annual_review_next_due: Option<Date>,
    /// Records reported in the period per location key, most first.
    pub by_location: Vec<Count>,
    /// Of the records reported in the period, those closed now.
    pub reported_closed: u64,
    /// For each record closed in the period, seconds from its report to its closing,
    /// shortest first (for the median time to close).
    pub close_seconds: Vec<u64>,
}

impl TermlyFigures {
    /// Of the records reported in the period, those not closed now.
    pub fn reported_open(&self) -> u64 {
        self.records.saturating_sub(self.reported_closed)
    }

    /// The median days from report to closing over records closed in the period.
    pub fn median_days_to_close(&self) -> Option<f64> {
        let n = self.close_seconds.len();
        let middle = |i: usize| self.close_seconds.get(i).map(|&s| s as f64);
        let seconds = if n % 2 == 1 {
            middle(n / 2)?
        } else {
            (middle(n.checked_sub(1)? / 2)? + middle(n / 2)?) / 2.0
        };
        Some(seconds / 86_400.0)
    }
}

fn counts(rows: Vec<(Option<String>, i64)>) -> Vec<Count> {
    rows.into_iter()
        .map(|(key, n)| Count {
            key,
            count: u64::try_from(n).unwrap_or(0),
        })
        .collect()
}

impl Store {
    /// Name-free figures for `[from, to)`. Not audited: it holds no names.
    pub async fn termly_figures(
        &self,
        school: SchoolId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<TermlyFigures, StoreError> {
        const REPORTED: &str = "school_id = $1 AND COALESCE(reported_at_us, created_at_us) >= $2 \
             AND COALESCE(reported_at_us, created_at_us) < $3";
        let grouped = [
            format!(
                "SELECT t.type_key, COUNT(*) AS n FROM concern_types t JOIN concerns c \
                 ON c.id = t.concern_id WHERE c.{REPORTED} GROUP BY t.type_key \
                 ORDER BY n DESC, t.type_key"
            ),
            format!(
                "SELECT record_type, COUNT(*) AS n FROM concerns WHERE {REPORTED} \
                 GROUP BY record_type ORDER BY n DESC, record_type"
            ),
            "SELECT a.kind, COUNT(*) AS n FROM concern_actions a JOIN concerns c \
             ON c.id = a.concern_id WHERE c.school_id = $1 AND a.at_us >= $2 AND a.at_us < $3 \
             GROUP BY a.kind ORDER BY n DESC, a.kind"
                .to_owned(),
            "SELECT s.kind, COUNT(*) AS n FROM concern_sanctions s JOIN concerns c \
             ON c.id = s.concern_id WHERE c.school_id = $1 AND s.starts_at_us >= $2 \
             AND s.starts_at_us < $3 GROUP BY s.kind ORDER BY n DESC, s.kind"
                .to_owned(),
            "SELECT category, COUNT(*) AS n FROM activity_events WHERE school_id = $1 \
             AND verdict = 'block' AND at_us >= $2 AND at_us < $3 GROUP BY category \
             ORDER BY n DESC, category LIMIT 10"
                .to_owned(),
            "SELECT category, COUNT(*) AS n FROM alerts WHERE school_id = $1 \
             AND first_at_us >= $2 AND first_at_us < $3 GROUP BY category \
             ORDER BY n DESC, category"
                .to_owned(),
            format!(
                "SELECT location, COUNT(*) AS n FROM concerns WHERE {REPORTED} \
                 GROUP BY location ORDER BY n DESC, location"
            ),
        ];
        let scalars = [
            format!("SELECT COUNT(*) FROM concerns WHERE {REPORTED}"),
            "SELECT COUNT(*) FROM concerns WHERE school_id = $1 AND closed_at_us >= $2 \
             AND closed_at_us < $3"
                .to_owned(),
            "SELECT COUNT(*) FROM concerns WHERE school_id = $1 AND status <> 'closed' \
             AND $2 = $2 AND $3 = $3"
                .to_owned(),
            "SELECT COUNT(*) FROM check_log WHERE school_id = $1 AND at_us >= $2 AND at_us < $3"
                .to_owned(),
            "SELECT COUNT(*) FROM check_log WHERE school_id = $1 AND at_us >= $2 \
             AND at_us < $3 AND result <> 'pass'"
                .to_owned(),
            format!("SELECT COUNT(*) FROM concerns WHERE {REPORTED} AND status = 'closed'"),
        ];
        let (from_us, to_us) = (timestamp_to_us(from), timestamp_to_us(to));
        let (mut lists, mut numbers, review, mut close_seconds) = with_pool!(&self.backend, pool => {
            async {
                let mut lists = Vec::new();
                for sql in grouped {
                    let rows: Vec<(Option<String>, i64)> = sqlx::query_as(AssertSqlSafe(sql))
                        .bind(school.0)
                        .bind(from_us)
                        .bind(to_us)
                        .fetch_all(pool)
                        .await
                        .map_err(StoreError::query("counting for the termly report"))?;
                    lists.push(counts(rows));
                }
                let mut numbers = Vec::new();
                for sql in scalars {
                    let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                        .bind(school.0)
                        .bind(from_us)
                        .bind(to_us)
                        .fetch_one(pool)
                        .await
                        .map_err(StoreError::query("counting for the termly report"))?;
                    numbers.push(u64::try_from(n).unwrap_or(0));
                }
                let review: Option<(String, String)> = sqlx::query_as(
                    "SELECT held_on, next_due FROM annual_reviews WHERE school_id = $1 \
                     ORDER BY held_on DESC, id DESC LIMIT 1",
                )
                .bind(school.0)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::query("reading the latest annual review"))?;
                let close_seconds: Vec<i64> = sqlx::query_scalar(
                    "SELECT closed_at_us - COALESCE(reported_at_us, created_at_us) FROM concerns \
                     WHERE school_id = $1 AND closed_at_us >= $2 AND closed_at_us < $3",
                )
                .bind(school.0)
                .bind(from_us)
                .bind(to_us)
                .fetch_all(pool)
                .await
                .map_err(StoreError::query("timing closed records for the termly report"))?;
                Ok::<_, StoreError>((lists, numbers, review, close_seconds))
            }
            .await
        })?;
        let mut take_list = || lists.drain(..1).next().unwrap_or_default();
        let by_type = take_list();
        let by_record_type = take_list();
        let actions_by_kind = take_list();
        let sanctions_by_kind = take_list();
        let top_blocked_categories = take_list();
        let alerts_by_category = take_list();
        let by_location = take_list();
        let mut take_number = || numbers.drain(..1).next().unwrap_or_default();
        let records = take_number();
        let closed = take_number();
        let open_now = take_number();
        let checks_done = take_number();
        let checks_failed = take_number();
        let reported_closed = take_number();
        close_seconds.sort_unstable();
        let close_seconds = close_seconds
            .into_iter()
            .map(|us| u64::try_from(us / 1_000_000).unwrap_or(0))
            .collect();
        let referrals = actions_by_kind
            .iter()
            .filter(|c| {
                c.key
                    .as_deref()
                    .is_some_and(|k| REFERRAL_KINDS.contains(&k))
            })
            .map(|c| c.count)
            .sum();
        let (last_annual_review, annual_review_next_due) = match review {
            Some((held, next)) => (
                Some(parse_date(&held, "an annual review date")?),
                Some(parse_date(&next, "an annual review due date")?),
            ),
            None => (None, None),
        };
        Ok(TermlyFigures {
            records,
            by_type,
            by_record_type,
            actions_by_kind,
            referrals,
            sanctions_by_kind,
            closed,
            open_now,
            top_blocked_categories,
            alerts_by_category,
            checks_done,
            checks_failed,
            last_annual_review,
            annual_review_next_due,
            by_location,
            reported_closed,
            close_seconds,
        })
    }
}
