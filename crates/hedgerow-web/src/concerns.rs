//! Safeguarding records: online-safety concerns and incidents (`/concerns`), from the first
//! report to the outcome.
//!
//! Any member of staff who works with children records what they saw or heard
//! (`/concerns/new`) and can read back what they reported, nothing more. The DSL, the
//! deputies and the headteacher read every record and act on it: they take it on (handed to
//! the DSL, so it is open), record actions (referrals, informing parents, support), follow a
//! guided procedure as a checklist, apply a sanction that the DNS filter and the proxy
//! enforce at once and end by themselves (made through change control, so the change log
//! shows it too), link alerts, and close it with an outcome. A record of an allegation
//! against a member of staff is the headteacher's alone. Who may read what is decided by
//! `hedgerow_records::access` for every request, and a record someone may not read is "not
//! found", so its existence is not given away.
//!
//! Every read goes through the store's audited reads (`concern.read`, `concern.list`,
//! `records.chronology`). Files are never accepted as evidence: an uploaded image is refused
//! with the reason (indecent images must never be stored or copied), and evidence is
//! described in words instead.

// Handlers answer with a whole page when a gate refuses; boxing it would buy nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_policy::change::PolicyChange;
use hedgerow_records::{
    Access, ActionKind, IncidentType, Involvement, Location, PersonRole, Procedure, RecordType,
    SanctionKind,
};
use hedgerow_store::{
    AlertId, ChangeStatus, ConcernId, ConcernRecord, ConcernStatus, NewRecord, NewSanction,
    PersonInvolved, RecordFilter,
};
use jiff::{SignedDuration, Timestamp};

use crate::AdminApp;
use crate::alerts::{reader, refusal};
use crate::explorer::EventView;
use crate::form::{Fields, local_moment, read_fields, unreadable_form};
use crate::frame::{Frame, Staff, bad_request, not_found, render};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/concerns"),
    ("GET", "/concerns/new"),
    ("POST", "/concerns"),
    ("GET", "/concerns/{id}"),
    ("POST", "/concerns/{id}/take"),
    ("POST", "/concerns/{id}/actions"),
    ("POST", "/concerns/{id}/procedures"),
    ("POST", "/concerns/{id}/steps"),
    ("POST", "/concerns/{id}/sanctions"),
    ("POST", "/concerns/{id}/sanctions/{sanction}/lift"),
    ("POST", "/concerns/{id}/alerts"),
    ("POST", "/concerns/{id}/evidence"),
    ("POST", "/concerns/{id}/close"),
    ("POST", "/concerns/{id}/reopen"),
    ("GET", "/pupils/{username}/chronology"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/concerns", get(list).post(create))
        .route("/concerns/new", get(new_form))
        .route("/concerns/{id}", get(record_page))
        .route("/concerns/{id}/take", post(take))
        .route("/concerns/{id}/actions", post(add_action))
        .route("/concerns/{id}/procedures", post(start_procedure))
        .route("/concerns/{id}/steps", post(tick_step))
        .route("/concerns/{id}/sanctions", post(apply_sanction))
        .route(
            "/concerns/{id}/sanctions/{sanction}/lift",
            post(lift_sanction),
        )
        .route("/concerns/{id}/alerts", post(link_alert))
        .route("/concerns/{id}/evidence", post(keep_evidence))
        .route("/concerns/{id}/close", post(close))
        .route("/concerns/{id}/reopen", post(reopen))
        .route("/pupils/{username}/chronology", get(chronology))
        // The new-record form may carry a file (to be refused with the reason); 25 MB is enough
        // for a phone photo, which is what people try to attach.
        .layer(DefaultBodyLimit::max(25 * 1024 * 1024))
}

/// Rows shown in the list.
const LIST_ROWS: u32 = 500;
/// People rows on the new-record form (a record with more lists the rest in the text).
const PEOPLE_ROWS: usize = 4;
/// The longest sanction a record can apply from this page; longer ones are a policy matter.
const MAX_SANCTION_DAYS: i64 = 30;
/// Most characters in a free-text field of a record.
const LONG_TEXT: usize = 20_000;

fn concern_id(id: &str) -> Option<ConcernId> {
    id.parse::<i64>().ok().filter(|n| *n > 0).map(ConcernId)
}

fn may_use_records(staff: &Staff) -> Result<(), Response> {
    if staff.can(Permission::ManageConcerns) {
        Ok(())
    } else {
        staff.require(Permission::RecordConcern)
    }
}

/// How much of a record this person may see, read without an audit entry (the audited read
/// follows only when the answer is not "nothing"). `None` when the record does not exist or
/// they may not know of it.
async fn access_to(app: &AdminApp, staff: &Staff, id: ConcernId) -> Result<Access, Response> {
    let meta = match app.store.record_meta(staff.school, id).await {
        Ok(meta) => meta,
        Err(e) => return Err(refusal("reading a record", e)),
    };
    let access = match &meta {
        Some((record_type, created_by)) => hedgerow_records::access(
            &staff.actor(),
            &staff.roles,
            RecordType::parse(record_type).unwrap_or_default(),
            created_by,
        ),
        None => Access::None,
    };
    if access != Access::None {
        return Ok(access);
    }
    // Asking for a record one may not read (or one that does not exist: the two answer the
    // same) is written down too, so that someone trying numbers shows in the audit log.
    let audit = hedgerow_store::AuditEntry {
        school: Some(staff.school),
        at: Timestamp::now(),
        actor: staff.actor(),
        action: "concern.refused".into(),
        target: format!("concern:{}", id.0),
        detail: "not found, or not theirs to read".into(),
        from_addr: Some(staff.peer.to_string()),
    };
    if let Err(e) = app.store.append_audit(&audit).await {
        return Err(refusal("writing the audit log", e));
    }
    Err(not_found("record"))
}

/// The gate of every handler that changes a record: may act on records, may see this one in
/// full.
async fn may_act(app: &AdminApp, staff: &Staff, id: ConcernId) -> Result<(), Response> {
    staff.require(Permission::ManageConcerns)?;
    match access_to(app, staff, id).await? {
        Access::Full => Ok(()),
        _ => Err(not_found("record")),
    }
}

pub(crate) fn status_text(status: ConcernStatus) -> &'static str {
    match status {
        ConcernStatus::New => "New",
        ConcernStatus::Open => "Open",
        ConcernStatus::Closed => "Closed",
    }
}

fn type_label(key: &str) -> String {
    IncidentType::parse(key).map_or_else(|| key.to_owned(), |t| t.label().to_owned())
}

pub(crate) fn record_type_label(key: &str) -> &'static str {
    RecordType::parse(key).map_or("Online-safety concern", RecordType::label)
}

// ---------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------

struct RecordRow {
    id: i64,
    kind: &'static str,
    reported: String,
    summary: String,
    types: String,
    people: String,
    status: &'static str,
    is_new: bool,
    created_by: String,
    legal_hold: bool,
}

#[derive(Template)]
#[template(path = "concerns.html")]
struct ListTemplate {
    frame: Frame,
    rows: Vec<RecordRow>,
    all: bool,
    new_count: usize,
    truncated: bool,
}

async fn list(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = may_use_records(&staff) {
        return r;
    }
    let all = staff.can(Permission::ManageConcerns);
    let head = staff.roles.contains(&hedgerow_accounts::Role::Headteacher);
    let filter = RecordFilter {
        status: None,
        created_by: (!all).then(|| staff.actor()),
        record_types: None,
        username: None,
        limit: LIST_ROWS,
    };
    let records = match app
        .store
        .records(
            staff.school,
            &filter,
            &reader(&staff, "records list".into()),
        )
        .await
    {
        Ok(records) => records,
        Err(e) => return refusal("reading records", e),
    };
    let truncated = records.len() == LIST_ROWS as usize;
    let me = staff.actor();
    let mut rows: Vec<RecordRow> = records
        .into_iter()
        // An allegation against staff shows to the headteacher and to whoever recorded it.
        .filter(|r| {
            r.record_type != RecordType::StaffAllegation.key()
                || head
                || r.created_by.eq_ignore_ascii_case(&me)
        })
        .map(|r| RecordRow {
            id: r.id.0,
            kind: record_type_label(&r.record_type),
            reported: app.local_time(r.reported_at),
            summary: r.summary,
            types: r
                .types
                .iter()
                .map(|t| type_label(t))
                .collect::<Vec<_>>()
                .join(", "),
            people: if all {
                r.people.join(", ")
            } else {
                String::new()
            },
            status: status_text(r.status),
            is_new: r.status == ConcernStatus::New,
            created_by: r.created_by,
            legal_hold: r.legal_hold,
        })
        .collect();
    // New records first, then the rest, newest first (the store's order).
    rows.sort_by_key(|r| !r.is_new);
    let new_count = rows.iter().filter(|r| r.is_new).count();
    render(&ListTemplate {
        frame: staff.frame("/concerns"),
        rows,
        all,
        new_count,
        truncated,
    })
}

// ---------------------------------------------------------------------------------------------
// Recording a concern
// ---------------------------------------------------------------------------------------------

struct Choice {
    value: &'static str,
    label: &'static str,
}

fn choices<T: Copy>(
    all: &[T],
    key: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
) -> Vec<Choice> {
    all.iter()
        .map(|t| Choice {
            value: key(*t),
            label: label(*t),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "concern_new.html")]
struct NewTemplate {
    frame: Frame,
    reporter: String,
    now: String,
    record_types: Vec<Choice>,
    types: Vec<Choice>,
    locations: Vec<Choice>,
    person_roles: Vec<Choice>,
    involvements: Vec<Choice>,
    people_rows: Vec<usize>,
}

async fn new_form(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::RecordConcern) {
        return r;
    }
    let now = Timestamp::now()
        .to_zoned_datetime(app.zone.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    render(&NewTemplate {
        frame: staff.frame("/concerns"),
        reporter: staff.account.display_name.clone(),
        now,
        record_types: choices(RecordType::ALL, RecordType::key, RecordType::label),
        types: choices(IncidentType::ALL, IncidentType::key, IncidentType::label),
        locations: choices(Location::ALL, Location::key, Location::label),
        person_roles: choices(PersonRole::ALL, PersonRole::key, PersonRole::label),
        involvements: choices(Involvement::ALL, Involvement::key, Involvement::label),
        people_rows: (1..=PEOPLE_ROWS).collect(),
    })
}

/// The page shown when a file was attached: nothing is kept, and the reason is given.
#[derive(Template)]
#[template(path = "concern_upload_refused.html")]
struct UploadRefusedTemplate {
    frame: Frame,
    is_image: bool,
    message: String,
}

/// A form's fields, and the first file attached to it, if any: (name, content type, first
/// bytes).
type Attachment = (String, String, Vec<u8>);

async fn read_record_form(request: Request) -> Result<(Fields, Option<Attachment>), Response> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        let bytes = axum::body::to_bytes(request.into_body(), 1024 * 1024)
            .await
            .map_err(unreadable_form)?;
        return Ok((
            Fields(form_urlencoded::parse(&bytes).into_owned().collect()),
            None,
        ));
    }
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(unreadable_form)?;
    let mut fields = Vec::new();
    let mut attachment = None;
    while let Some(field) = parts.next_field().await.map_err(unreadable_form)? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().unwrap_or("").to_owned();
        let bytes = field.bytes().await.map_err(unreadable_form)?;
        match file_name {
            // Browsers send an empty part for a file input left empty.
            Some(file_name) if !(file_name.is_empty() && bytes.is_empty()) => {
                if attachment.is_none() {
                    let head = bytes.iter().take(64).copied().collect();
                    attachment = Some((file_name, content_type, head));
                }
            }
            Some(_) => {}
            None => fields.push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    Ok((Fields(fields), attachment))
}

fn optional_text(fields: &Fields, name: &str, label: &str) -> Result<String, Response> {
    match fields.get(name) {
        None => Ok(String::new()),
        Some(_) => fields.required(name, label, LONG_TEXT),
    }
}

/// Reads the new-record (or edit) form into a record, or says what is wrong.
fn record_from(fields: &Fields, zone: &jiff::tz::TimeZone) -> Result<NewRecord, Response> {
    let record_type = match fields.get("record_type") {
        None => RecordType::OnlineSafety,
        Some(key) => RecordType::parse(key).ok_or_else(|| {
            bad_request(format!(
                "{key:?} is not a kind of record. Choose one from the list."
            ))
        })?,
    };
    let reporter = fields.required("reporter", "Who reported it", 200)?;
    let reported_at = match fields.get("reported_at") {
        None => Timestamp::now(),
        Some(text) => local_moment(text, zone)
            .map_err(|e| bad_request(format!("When it was reported: {e}.")))?,
    };
    let incident_at = match fields.get("incident_at") {
        None => None,
        Some(text) => Some(
            local_moment(text, zone).map_err(|e| bad_request(format!("When it happened: {e}.")))?,
        ),
    };
    let location = match fields.get("location") {
        None => Location::Unknown,
        Some(key) => Location::parse(key).ok_or_else(|| {
            bad_request(format!(
                "{key:?} is not a place. Choose in school, outside school or not known."
            ))
        })?,
    };
    let mut types = Vec::new();
    for key in fields.all("type") {
        let t = IncidentType::parse(&key).ok_or_else(|| {
            bad_request(format!(
                "{key:?} is not a kind of incident. Tick the kinds from the list."
            ))
        })?;
        if !types.contains(&t.key().to_owned()) {
            types.push(t.key().to_owned());
        }
    }
    if types.is_empty() {
        return Err(bad_request(
            "Say what kind of incident it was: tick at least one kind (\"Other\" if none fits).",
        ));
    }
    let mut people = Vec::new();
    for n in 1..=PEOPLE_ROWS {
        let name_field = format!("person_{n}_name");
        if fields.get(&name_field).is_none() {
            continue;
        }
        let name = fields.required(&name_field, "A person's name", 200)?;
        let role = fields
            .get(&format!("person_{n}_role"))
            .and_then(PersonRole::parse)
            .unwrap_or(PersonRole::Pupil);
        let involvement = fields
            .get(&format!("person_{n}_involvement"))
            .and_then(Involvement::parse)
            .unwrap_or(Involvement::Affected);
        let username = fields
            .get(&format!("person_{n}_username"))
            .map(str::to_owned)
            .filter(|u| u.chars().count() <= 200);
        people.push(PersonInvolved {
            person_role: role.key().to_owned(),
            involvement: involvement.key().to_owned(),
            display_name: name,
            username,
            date_of_birth: None,
        });
    }
    if people.is_empty() {
        return Err(bad_request(
            "Name at least one person involved (a description such as \"a Year 5 pupil\" will do if you do not know the name).",
        ));
    }
    Ok(NewRecord {
        record_type: record_type.key().to_owned(),
        reporter,
        reported_at,
        incident_at,
        location: location.key().to_owned(),
        people,
        types,
        summary: fields.required("summary", "The summary", 500)?,
        disclosure: optional_text(fields, "disclosure", "The child's own words")?,
        observations: optional_text(fields, "observations", "What was observed, heard and told")?,
        websites: optional_text(fields, "websites", "Websites")?,
        apps_games: optional_text(fields, "apps_games", "Games and apps")?,
        online_names: optional_text(fields, "online_names", "Online names")?,
        evidence_description: optional_text(
            fields,
            "evidence_description",
            "The description of evidence",
        )?,
        alert_ids: Vec::new(),
    })
}

async fn create(State(app): State<Arc<AdminApp>>, staff: Staff, request: Request) -> Response {
    if let Err(r) = staff.require(Permission::RecordConcern) {
        return r;
    }
    let (fields, attachment) = match read_record_form(request).await {
        Ok(form) => form,
        Err(r) => return r,
    };
    if let Some((file_name, content_type, head)) = attachment {
        // Nothing of the file is kept, not even its name: refused before anything is written.
        let refusal = hedgerow_records::upload::refuse(&file_name, &content_type, &head);
        let page = render(&UploadRefusedTemplate {
            frame: staff.frame("/concerns"),
            is_image: refusal.is_image,
            message: refusal.message.to_owned(),
        });
        return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
    }
    let record = match record_from(&fields, &app.zone) {
        Ok(record) => record,
        Err(r) => return r,
    };
    let id = match app
        .store
        .create_record(staff.school, &record, &staff.acting())
        .await
    {
        Ok(id) => id,
        Err(e) => return refusal("recording a concern", e),
    };
    app.control
        .record_made(
            &staff.school_slug,
            crate::MadeRecord {
                id: id.0,
                record_type: record.record_type.clone(),
                record_type_label: record_type_label(&record.record_type).to_owned(),
                recorded_by: staff.account.display_name.clone(),
                at: Timestamp::now(),
            },
        )
        .await;
    Redirect::to(&format!("/concerns/{id}?recorded=1", id = id.0)).into_response()
}

// ---------------------------------------------------------------------------------------------
// One record
// ---------------------------------------------------------------------------------------------

struct PersonView {
    role: String,
    involvement: String,
    name: String,
    chronology: Option<String>,
}

struct ActionView {
    at: String,
    kind: String,
    by: String,
    note: String,
    referral: bool,
}

struct StepView {
    key: &'static str,
    label: &'static str,
    why: &'static str,
    done: Option<String>,
    note: String,
}

struct ProcedureView {
    key: &'static str,
    label: &'static str,
    started: Option<String>,
    steps: Vec<StepView>,
    done: usize,
}

struct SanctionView {
    id: i64,
    username: String,
    what: String,
    starts: String,
    ends: String,
    ended: bool,
    change: Option<i64>,
}

struct PupilChoice {
    username: String,
    name: String,
}

struct RecordView {
    id: i64,
    kind: &'static str,
    is_allegation: bool,
    status: &'static str,
    is_new: bool,
    is_closed: bool,
    reporter: String,
    recorded: String,
    recorded_by: String,
    reported: String,
    incident: String,
    location: &'static str,
    summary: String,
    types: Vec<String>,
    disclosure: String,
    observations: String,
    websites: String,
    apps_games: String,
    online_names: String,
    evidence_description: String,
    handed: String,
    outcome: String,
    no_referral_reason: String,
    closed: String,
    legal_hold: bool,
    legal_hold_reason: String,
    alerts: Vec<i64>,
    review_due: String,
    review_is_due: bool,
    /// Who an alert-born record is about (its alert's user, or device), and the alert's
    /// monitoring category, for records opened from an alert before anyone filled in details.
    subject: String,
    alert_category: String,
}

#[derive(Template)]
#[template(path = "concern.html")]
struct RecordTemplate {
    frame: Frame,
    record: RecordView,
    full: bool,
    just_recorded: bool,
    people: Vec<PersonView>,
    actions: Vec<ActionView>,
    action_kinds: Vec<Choice>,
    procedures: Vec<ProcedureView>,
    other_procedures: Vec<Choice>,
    sanctions: Vec<SanctionView>,
    pupils: Vec<PupilChoice>,
    groups: Vec<String>,
    evidence: Vec<EventView>,
    has_referral: bool,
}

fn local_or_blank(app: &AdminApp, at: Option<Timestamp>) -> String {
    at.map(|t| app.local_time(t)).unwrap_or_default()
}

fn location_label(key: &str) -> &'static str {
    Location::parse(key).map_or("Not known", Location::label)
}

fn view_of(app: &AdminApp, r: &ConcernRecord) -> RecordView {
    let c = &r.concern;
    let review_due = app.record_retention.review_due(
        RecordType::parse(&r.record_type).unwrap_or_default(),
        r.first_pupil_date_of_birth(),
        r.incident_at.map(hedgerow_store::london_date),
        hedgerow_store::london_date(r.reported_at),
    );
    RecordView {
        id: c.id.0,
        kind: record_type_label(&r.record_type),
        is_allegation: r.record_type == RecordType::StaffAllegation.key(),
        status: status_text(c.status),
        is_new: c.status == ConcernStatus::New,
        is_closed: c.status == ConcernStatus::Closed,
        reporter: r.reporter.clone(),
        recorded: app.local_time(c.created_at),
        recorded_by: c.created_by.clone(),
        reported: app.local_time(r.reported_at),
        incident: local_or_blank(app, r.incident_at),
        location: location_label(&r.location),
        summary: c.summary.clone(),
        types: r.types.iter().map(|t| type_label(t)).collect(),
        disclosure: r.disclosure.clone(),
        observations: r.observations.clone(),
        websites: r.websites.clone(),
        apps_games: r.apps_games.clone(),
        online_names: r.online_names.clone(),
        evidence_description: r.evidence_description.clone(),
        handed: match (&r.handed_to, r.handed_at) {
            (Some(to), Some(at)) => format!("{to}, {}", app.local_time(at)),
            _ => String::new(),
        },
        outcome: r.outcome.clone().unwrap_or_default(),
        no_referral_reason: r.no_referral_reason.clone().unwrap_or_default(),
        closed: match (&r.closed_by, r.closed_at) {
            (Some(by), Some(at)) => format!("{}, by {by}", app.local_time(at)),
            _ => String::new(),
        },
        legal_hold: r.legal_hold,
        legal_hold_reason: r.legal_hold_reason.clone().unwrap_or_default(),
        alerts: r.alert_ids.iter().map(|a| a.0).collect(),
        review_due: review_due.to_string(),
        review_is_due: review_due <= app.today(),
        subject: match (&c.subject_user, &c.subject_device) {
            (Some(user), Some(device)) => format!("{user} on {device}"),
            (Some(user), None) => user.clone(),
            (None, Some(device)) => format!("device {device}"),
            (None, None) => String::new(),
        },
        alert_category: if c.alert.is_some() {
            crate::alerts::category_label(&c.category)
        } else {
            String::new()
        },
    }
}

fn sanction_what(kind: &str, filter_as: Option<&str>) -> String {
    match (SanctionKind::parse(kind), filter_as) {
        (Some(SanctionKind::Restricted), Some(group)) => {
            format!("Restricted profile: filtered as {group}")
        }
        (Some(SanctionKind::Restricted), None) => "Restricted profile".into(),
        _ => "Internet access suspended".into(),
    }
}

async fn record_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    if let Err(r) = may_use_records(&staff) {
        return r;
    }
    let Some(id) = concern_id(&id) else {
        return not_found("record");
    };
    let access = match access_to(&app, &staff, id).await {
        Ok(access) => access,
        Err(r) => return r,
    };
    let full = access == Access::Full && staff.can(Permission::ManageConcerns);
    let record = match app
        .store
        .record(
            staff.school,
            id,
            &reader(&staff, format!("record #{id}", id = id.0)),
        )
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return not_found("record"),
        Err(e) => return refusal("reading a record", e),
    };
    let now = Timestamp::now();
    let people = record
        .people
        .iter()
        .map(|p| PersonView {
            role: PersonRole::parse(&p.person_role)
                .map_or(p.person_role.clone(), |r| r.label().to_owned()),
            involvement: Involvement::parse(&p.involvement)
                .map_or(p.involvement.clone(), |i| i.label().to_owned()),
            name: p.display_name.clone(),
            chronology: p
                .username
                .as_deref()
                .filter(|_| full && p.person_role == PersonRole::Pupil.key())
                .map(|u| format!("/pupils/{}/chronology", crate::explorer::url_encode(u))),
        })
        .collect();
    let pupils = record
        .people
        .iter()
        .filter(|p| p.person_role == PersonRole::Pupil.key())
        .filter_map(|p| {
            p.username.as_ref().map(|u| PupilChoice {
                username: u.clone(),
                name: p.display_name.clone(),
            })
        })
        .collect();
    let actions: Vec<ActionView> = record
        .actions
        .iter()
        .map(|a| ActionView {
            at: app.local_time(a.at),
            kind: ActionKind::parse(&a.kind).map_or(a.kind.clone(), |k| k.label().to_owned()),
            by: a.by.clone(),
            note: a.note.clone(),
            referral: ActionKind::parse(&a.kind).is_some_and(ActionKind::is_referral),
        })
        .collect();
    let has_referral = actions.iter().any(|a| a.referral);
    let incident_types: Vec<IncidentType> = record
        .types
        .iter()
        .filter_map(|t| IncidentType::parse(t))
        .collect();
    let suggested = Procedure::suggested_for(&incident_types);
    let mut procedures = Vec::new();
    for &procedure in Procedure::ALL {
        let state = record
            .procedures
            .iter()
            .find(|p| p.procedure == procedure.key());
        if state.is_none() && !suggested.contains(&procedure) {
            continue;
        }
        let steps: Vec<StepView> = procedure
            .steps()
            .iter()
            .map(|step| {
                let done = state.and_then(|s| s.done.iter().find(|d| d.step == step.key));
                StepView {
                    key: step.key,
                    label: step.label,
                    why: step.why,
                    done: done.map(|d| format!("{} by {}", app.local_time(d.at), d.by)),
                    note: done.map(|d| d.note.clone()).unwrap_or_default(),
                }
            })
            .collect();
        procedures.push(ProcedureView {
            key: procedure.key(),
            label: procedure.label(),
            started: state.map(|s| format!("{} by {}", app.local_time(s.started_at), s.started_by)),
            done: steps.iter().filter(|s| s.done.is_some()).count(),
            steps,
        });
    }
    let other_procedures = Procedure::ALL
        .iter()
        .filter(|p| !procedures.iter().any(|v| v.key == p.key()))
        .map(|p| Choice {
            value: p.key(),
            label: p.label(),
        })
        .collect();
    let sanctions = record
        .sanctions
        .iter()
        .map(|s| {
            let (ends, ended) = match (s.lifted_at, &s.lifted_by) {
                (Some(at), Some(by)) => (
                    format!("Lifted early {}, by {by}", app.local_time(at)),
                    true,
                ),
                _ if s.until <= now => {
                    (format!("Ended by itself {}", app.local_time(s.until)), true)
                }
                _ => (format!("Ends by itself {}", app.local_time(s.until)), false),
            };
            SanctionView {
                id: s.id,
                username: s.username.clone(),
                what: sanction_what(&s.kind, s.filter_as.as_deref()),
                starts: app.local_time(s.starts_at),
                ends,
                ended,
                change: s.change_id,
            }
        })
        .collect();
    let groups = if full {
        app.control
            .policy(&staff.school_slug)
            .map(|spec| spec.groups.iter().map(|g| g.key.clone()).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let evidence = if full {
        record
            .concern
            .evidence
            .iter()
            .map(|e| EventView::new(&app.zone, e))
            .collect()
    } else {
        Vec::new()
    };
    render(&RecordTemplate {
        frame: staff.frame("/concerns"),
        record: view_of(&app, &record),
        full,
        just_recorded: query.as_deref() == Some("recorded=1"),
        people,
        actions: if full { actions } else { Vec::new() },
        action_kinds: choices(ActionKind::ALL, ActionKind::key, ActionKind::label),
        procedures: if full { procedures } else { Vec::new() },
        other_procedures,
        sanctions: if full { sanctions } else { Vec::new() },
        pupils,
        groups,
        evidence,
        has_referral,
    })
}

/// Runs a change handler: the gate, then the form, then `change`, then back to the record.
macro_rules! acting_on_record {
    ($app:ident, $staff:ident, $id:ident, $request:ident, |$fields:ident, $cid:ident| $body:expr) => {{
        let Some($cid) = concern_id(&$id) else {
            return not_found("record");
        };
        if let Err(r) = may_act(&$app, &$staff, $cid).await {
            return r;
        }
        let $fields = match read_fields($request).await {
            Ok(fields) => fields,
            Err(r) => return r,
        };
        let outcome: Result<(), Response> = $body;
        match outcome {
            Ok(()) => Redirect::to(&format!("/concerns/{}", $cid.0)).into_response(),
            Err(r) => r,
        }
    }};
}

async fn take(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |_fields, cid| {
        app.store
            .hand_to_dsl(
                staff.school,
                cid,
                &staff.actor(),
                Timestamp::now(),
                &staff.acting(),
            )
            .await
            .map_err(|e| refusal("taking a record on", e))
    })
}

async fn add_action(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |fields, cid| {
        async {
            let kind = fields.required("kind", "The action", 50)?;
            let kind = ActionKind::parse(&kind).ok_or_else(|| {
                bad_request(format!(
                    "{kind:?} is not an action. Choose one from the list."
                ))
            })?;
            let note = optional_text(&fields, "note", "The note")?;
            let at = match fields.get("at") {
                None => Timestamp::now(),
                Some(text) => local_moment(text, &app.zone)
                    .map_err(|e| bad_request(format!("When it was done: {e}.")))?,
            };
            app.store
                .add_action(staff.school, cid, kind.key(), &note, at, &staff.acting())
                .await
                .map_err(|e| refusal("recording an action", e))
        }
        .await
    })
}

async fn start_procedure(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |fields, cid| {
        async {
            let key = fields.required("procedure", "The procedure", 50)?;
            let procedure = Procedure::parse(&key).ok_or_else(|| {
                bad_request(format!(
                    "{key:?} is not a procedure. Choose one from the list."
                ))
            })?;
            app.store
                .start_procedure(staff.school, cid, procedure.key(), &staff.acting())
                .await
                .map_err(|e| refusal("starting a procedure", e))
        }
        .await
    })
}

async fn tick_step(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |fields, cid| {
        async {
            let key = fields.required("procedure", "The procedure", 50)?;
            let procedure = Procedure::parse(&key).ok_or_else(|| {
                bad_request(format!(
                    "{key:?} is not a procedure. Choose one from the list."
                ))
            })?;
            let step = fields.required("step", "The step", 50)?;
            if !procedure.steps().iter().any(|s| s.key == step) {
                return Err(bad_request(format!(
                    "{step:?} is not a step of this procedure. Reload the page and tick it again."
                )));
            }
            let note = optional_text(&fields, "note", "The note")?;
            app.store
                .tick_step(
                    staff.school,
                    cid,
                    procedure.key(),
                    &step,
                    &note,
                    &staff.acting(),
                )
                .await
                .map_err(|e| refusal("ticking a step", e))
        }
        .await
    })
}

async fn apply_sanction(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |fields, cid| {
        async {
            let username = fields.required("username", "The pupil", 200)?;
            let kind = fields.required("kind", "The sanction", 50)?;
            let kind = SanctionKind::parse(&kind).ok_or_else(|| {
                bad_request("Choose a sanction: internet access suspended, or a restricted profile.")
            })?;
            let filter_as = match kind {
                SanctionKind::Suspended => None,
                SanctionKind::Restricted => Some(fields.required(
                    "filter_as",
                    "The group to filter them as",
                    100,
                )?),
            };
            let now = Timestamp::now();
            let until = match (fields.get("until"), fields.get("days")) {
                (Some(text), _) => local_moment(text, &app.zone)
                    .map_err(|e| bad_request(format!("Until: {e}.")))?,
                (None, Some(days)) => {
                    let days: i64 = days.parse().ok().filter(|d| (1..=MAX_SANCTION_DAYS).contains(d)).ok_or_else(|| {
                        bad_request(format!("The number of days is a whole number from 1 to {MAX_SANCTION_DAYS}."))
                    })?;
                    now + SignedDuration::from_hours(24 * days)
                }
                (None, None) => {
                    return Err(bad_request(
                        "Say how long the sanction lasts: a number of days or an end date and time.",
                    ));
                }
            };
            if until <= now {
                return Err(bad_request("The sanction's end is in the past. Choose a later end."));
            }
            if until > now + SignedDuration::from_hours(24 * MAX_SANCTION_DAYS) {
                return Err(bad_request(format!(
                    "A sanction from a record lasts at most {MAX_SANCTION_DAYS} days. For longer, change the pupil's group in the policy."
                )));
            }
            let reason = fields.required("reason", "The reason", 500)?;
            let change = PolicyChange::Sanction {
                username: username.clone(),
                filter_as: filter_as.clone(),
                until,
            };
            let made = app
                .control
                .propose(
                    &staff.school_slug,
                    &change,
                    &staff.actor(),
                    &format!("record #{}: {reason}", cid.0),
                    "record",
                )
                .await
                .map_err(|e| bad_request(format!("The sanction was not applied: {e}.")))?;
            app.store
                .record_sanction(
                    staff.school,
                    cid,
                    &NewSanction {
                        username,
                        kind: kind.key().to_owned(),
                        filter_as,
                        starts_at: now,
                        until,
                        change_id: Some(made.id.0),
                    },
                    &staff.acting(),
                )
                .await
                .map_err(|e| refusal("recording a sanction", e))?;
            if made.status == ChangeStatus::PendingApproval {
                // Recorded, but the school's rules want a second person before it applies.
                return Err(Redirect::to(&format!("/changes/{}", made.id)).into_response());
            }
            Ok(())
        }
        .await
    })
}

async fn lift_sanction(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path((id, sanction)): Path<(String, String)>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |_fields, cid| {
        async {
            let sanction_id: i64 = sanction.parse().map_err(|_| not_found("sanction"))?;
            let record = app
                .store
                .record(
                    staff.school,
                    cid,
                    &reader(&staff, format!("lifting a sanction on record #{}", cid.0)),
                )
                .await
                .map_err(|e| refusal("reading a record", e))?
                .ok_or_else(|| not_found("record"))?;
            let sanction = record
                .sanctions
                .iter()
                .find(|s| s.id == sanction_id)
                .ok_or_else(|| not_found("sanction"))?;
            if let Some(change) = sanction.change_id {
                app.control
                    .propose(
                        &staff.school_slug,
                        &PolicyChange::LiftSanction {
                            id: format!("change-{change}"),
                        },
                        &staff.actor(),
                        &format!("record #{}: sanction lifted early", cid.0),
                        "record",
                    )
                    .await
                    .map_err(|e| bad_request(format!("The sanction was not lifted: {e}.")))?;
            }
            app.store
                .lift_sanction(
                    staff.school,
                    cid,
                    sanction_id,
                    Timestamp::now(),
                    &staff.acting(),
                )
                .await
                .map_err(|e| refusal("lifting a sanction", e))
        }
        .await
    })
}

async fn link_alert(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |fields, cid| {
        async {
            let alert = fields.required("alert", "The alert number", 20)?;
            let alert = alert
                .trim_start_matches('#')
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    bad_request(format!(
                        "{alert:?} is not an alert number. Copy it from the alert's page, e.g. 42."
                    ))
                })?;
            app.store
                .link_alert(staff.school, cid, AlertId(alert), &staff.acting())
                .await
                .map_err(|e| refusal("linking an alert", e))
        }
        .await
    })
}

/// The longest stretch of someone's activity kept as evidence in one go.
const MAX_EVIDENCE_SPAN: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Keeps a stretch of a person's activity with the record, so it outlives the activity log's
/// retention: read with an audited read (`activity.read`), copied in (`concern.evidence`).
async fn keep_evidence(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |fields, cid| {
        async {
            if !staff.can(Permission::ViewPersonActivity) {
                return Err(crate::frame::forbidden(Permission::ViewPersonActivity));
            }
            let username = fields.required("username", "Whose activity", 200)?;
            let since = local_moment(&fields.required("from", "From", 40)?, &app.zone)
                .map_err(|e| bad_request(format!("From: {e}.")))?;
            let until = local_moment(&fields.required("to", "To", 40)?, &app.zone)
                .map_err(|e| bad_request(format!("To: {e}.")))?;
            if until <= since {
                return Err(bad_request(
                    "\"To\" must be after \"From\". Choose the times again.",
                ));
            }
            if until - since > MAX_EVIDENCE_SPAN {
                return Err(bad_request(
                    "Keep at most seven days of activity at a time; choose a shorter stretch.",
                ));
            }
            let filter = hedgerow_store::EventFilter {
                since: Some(since),
                until: Some(until),
                user: Some(username.clone()),
                ..hedgerow_store::EventFilter::school(
                    staff.school,
                    u32::try_from(hedgerow_store::MAX_RECORD_EVIDENCE).unwrap_or(u32::MAX),
                )
            };
            let events = app
                .store
                .read_events(
                    &reader(&staff, format!("evidence for record #{}", cid.0)),
                    &filter,
                )
                .await
                .map_err(|e| refusal("reading activity for evidence", e))?;
            app.store
                .keep_evidence(staff.school, cid, &events, &staff.acting())
                .await
                .map(|_| ())
                .map_err(|e| refusal("keeping evidence", e))
        }
        .await
    })
}

async fn close(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |fields, cid| {
        async {
            let outcome = fields.get("outcome").unwrap_or("").to_owned();
            let reason = fields.get("no_referral_reason").map(str::to_owned);
            let record = app
                .store
                .record(
                    staff.school,
                    cid,
                    &reader(&staff, format!("closing record #{}", cid.0)),
                )
                .await
                .map_err(|e| refusal("reading a record", e))?
                .ok_or_else(|| not_found("record"))?;
            let kinds: Vec<ActionKind> = record
                .actions
                .iter()
                .filter_map(|a| ActionKind::parse(&a.kind))
                .collect();
            hedgerow_records::check_close(&outcome, &kinds, reason.as_deref())
                .map_err(|e| bad_request(format!("The record was not closed: {e}")))?;
            app.store
                .close_record(
                    staff.school,
                    cid,
                    &outcome,
                    reason.as_deref(),
                    &staff.acting(),
                )
                .await
                .map_err(|e| refusal("closing a record", e))
        }
        .await
    })
}

async fn reopen(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    acting_on_record!(app, staff, id, request, |_fields, cid| {
        app.store
            .reopen_record(staff.school, cid, &staff.acting())
            .await
            .map_err(|e| refusal("reopening a record", e))
    })
}

// ---------------------------------------------------------------------------------------------
// A pupil's chronology
// ---------------------------------------------------------------------------------------------

struct ChronologyRow {
    at: String,
    record: i64,
    what: String,
}

#[derive(Template)]
#[template(path = "chronology.html")]
struct ChronologyTemplate {
    frame: Frame,
    username: String,
    rows: Vec<ChronologyRow>,
}

async fn chronology(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(username): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageConcerns) {
        return r;
    }
    if username.is_empty() || username.chars().count() > 200 {
        return not_found("pupil");
    }
    let head = staff.roles.contains(&hedgerow_accounts::Role::Headteacher);
    let entries = match app
        .store
        .chronology(
            staff.school,
            &username,
            &reader(&staff, format!("chronology of {username}")),
        )
        .await
    {
        Ok(entries) => entries,
        Err(e) => return refusal("reading a chronology", e),
    };
    // An allegation against staff is the headteacher's: its lines leave everyone else's view
    // of the chronology, as the record itself does.
    let mut hidden = std::collections::HashSet::new();
    if !head {
        let mut seen = std::collections::HashSet::new();
        for entry in &entries {
            if seen.insert(entry.concern.0) {
                match app.store.record_meta(staff.school, entry.concern).await {
                    Ok(Some((kind, _))) if kind == RecordType::StaffAllegation.key() => {
                        hidden.insert(entry.concern.0);
                    }
                    Ok(_) => {}
                    Err(e) => return refusal("reading a chronology", e),
                }
            }
        }
    }
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| !hidden.contains(&e.concern.0))
        .collect();
    render(&ChronologyTemplate {
        frame: staff.frame("/concerns"),
        rows: entries
            .into_iter()
            .map(|e| ChronologyRow {
                at: app.local_time(e.at),
                record: e.concern.0,
                what: e.what,
            })
            .collect(),
        username,
    })
}
