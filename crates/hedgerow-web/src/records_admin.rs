//! Looking after the safeguarding records themselves (`/records`), for the DSL, the deputies
//! and the headteacher (`ManageRecords`): the retention review list, legal holds, destruction
//! with a certificate, subject-access exports and transfers of a pupil's file to and from
//! another school.
//!
//! Anything touching one record also needs full access to it under
//! `hedgerow_records::access`, and a record the person may not see is "not found", so an
//! allegation against a member of staff stays the headteacher's alone here too: it is left
//! out of review lists, subject-access exports and outgoing transfers for anyone else.
//!
//! Every read of a record goes through the store's audited reads (`concern.read`,
//! `records.subject-access`, `records.transfer-out`, `records.transfers`). Transfer bundles are
//! sealed with a SHA-256 (`hedgerow_records::seal`) that the sending school gives separately;
//! a bundle that does not match is refused before anything in it is used.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::{Permission, Role};
use hedgerow_policy::{Calendar, Closure, Term};
use hedgerow_records::subject_access::{
    ActionExport, ActivityExport, AlertExport, PersonDetails, PersonExport, RecordExport,
    SanctionExport,
};
use hedgerow_records::{
    Access, ActionKind, IncidentType, Involvement, Location, PersonRole, RecordType,
    SubjectAccessExport, TransferBundle, TransferPupil,
};
use hedgerow_store::{
    ConcernId, ConcernRecord, NewRecord, NewTransfer, PersonInvolved, StoreError,
    record_limits as limits,
};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

use crate::AdminApp;
use crate::alerts::{reader, refusal};
use crate::concerns::{record_type_label, status_text};
use crate::form::{Fields, read_fields, unreadable_form};
use crate::frame::{Frame, Staff, bad_request, not_found, render};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("POST", "/concerns/{id}/hold"),
    ("POST", "/concerns/{id}/destroy"),
    ("GET", "/records"),
    ("GET", "/records/subject-access"),
    ("GET", "/records/subject-access/{username}"),
    ("GET", "/records/subject-access/{username}/export.json"),
    ("GET", "/records/subject-access/{username}/export.html"),
    ("GET", "/records/transfers"),
    ("POST", "/records/transfers"),
    ("POST", "/records/transfers/{id}/receipt"),
    ("POST", "/records/transfers/receive"),
];

/// The largest transfer file accepted through the form. The CSRF layer reads at most 8 MB of
/// any form, so this matches it; a bigger bundle would be refused there first.
const RECEIVE_BODY_LIMIT: usize = crate::csrf::MAX_FORM_BYTES;

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/concerns/{id}/hold", post(legal_hold))
        .route("/concerns/{id}/destroy", post(destroy))
        .route("/records", get(overview))
        .route("/records/subject-access", get(subject_access_form))
        .route(
            "/records/subject-access/{username}",
            get(subject_access_page),
        )
        .route(
            "/records/subject-access/{username}/export.json",
            get(subject_access_json),
        )
        .route(
            "/records/subject-access/{username}/export.html",
            get(subject_access_html),
        )
        .route("/records/transfers", get(transfer_log).post(send_transfer))
        .route("/records/transfers/{id}/receipt", post(confirm_receipt))
        .route(
            "/records/transfers/receive",
            post(receive_transfer).layer(DefaultBodyLimit::max(RECEIVE_BODY_LIMIT)),
        )
}

fn concern_id(id: &str) -> Option<ConcernId> {
    id.parse::<i64>().ok().filter(|n| *n > 0).map(ConcernId)
}

fn is_head(staff: &Staff) -> bool {
    staff.roles.contains(&Role::Headteacher)
}

/// Whether this person may see record `id` in full, read without an audit entry (only the
/// record's type and recorder). `Ok(false)` when it does not exist or they may not know of it.
async fn sees_in_full(app: &AdminApp, staff: &Staff, id: ConcernId) -> Result<bool, Response> {
    let meta = match app.store.record_meta(staff.school, id).await {
        Ok(Some(meta)) => meta,
        Ok(None) => return Ok(false),
        Err(e) => return Err(refusal("reading a record", e)),
    };
    Ok(may_see(staff, &meta.0, &meta.1))
}

/// The access rule for a record of `record_type` recorded by `created_by`.
fn may_see(staff: &Staff, record_type: &str, created_by: &str) -> bool {
    // A type this version does not know is treated as the narrowest, not the widest.
    let record_type = RecordType::parse(record_type).unwrap_or(RecordType::StaffAllegation);
    hedgerow_records::access(&staff.actor(), &staff.roles, record_type, created_by) == Access::Full
}

/// The gate of the two record-changing handlers: may manage records, may see this one.
async fn gate_record(app: &AdminApp, staff: &Staff, id: &str) -> Result<ConcernId, Response> {
    staff.require(Permission::ManageRecords)?;
    let Some(id) = concern_id(id) else {
        return Err(not_found("record"));
    };
    if sees_in_full(app, staff, id).await? {
        Ok(id)
    } else {
        Err(not_found("record"))
    }
}

/// A name made safe for a download's file name: letters, digits, dots, dashes, underscores.
fn file_name_part(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if safe.is_empty() {
        "pupil".into()
    } else {
        safe
    }
}

/// A download: the body with its type and an attachment file name, plus any extra headers.
fn download(
    body: Vec<u8>,
    content_type: &'static str,
    file_name: &str,
    extra: &[(&'static str, String)],
) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Legal hold and destruction
// ---------------------------------------------------------------------------------------------

async fn legal_hold(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let id = match gate_record(&app, &staff, &id).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let fields = match read_fields(request).await {
        Ok(fields) => fields,
        Err(r) => return r,
    };
    let hold = match fields.get("hold") {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return bad_request(
                "Say whether to place the legal hold or end it (hold = on or off). Go back, \
                 reload the record and use its button.",
            );
        }
    };
    let reason = match fields.required("reason", "The reason for the legal hold", 500) {
        Ok(reason) => reason,
        Err(r) => return r,
    };
    match app
        .store
        .set_legal_hold(staff.school, id, hold, &reason, &staff.acting())
        .await
    {
        Ok(()) => Redirect::to(&format!("/concerns/{}", id.0)).into_response(),
        Err(e) => refusal("changing a legal hold", e),
    }
}

async fn destroy(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let id = match gate_record(&app, &staff, &id).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let fields = match read_fields(request).await {
        Ok(fields) => fields,
        Err(r) => return r,
    };
    if fields.get("confirm") != Some("yes") {
        return bad_request(
            "The record was not destroyed: tick the box to confirm that the record and \
             everything on it will be deleted for good, then send the form again.",
        );
    }
    let reason = fields.get("reason").unwrap_or("").to_owned();
    if reason.chars().count() > 500 {
        return bad_request(
            "The reason for destruction is longer than 500 characters. Shorten it and send \
             the form again.",
        );
    }
    let record = match app
        .store
        .record(
            staff.school,
            id,
            &reader(&staff, format!("destroying record #{}", id.0)),
        )
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return not_found("record"),
        Err(e) => return refusal("reading a record", e),
    };
    if let Err(e) = hedgerow_records::check_destroy(record.legal_hold, &reason) {
        let status = if record.legal_hold {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        return (status, format!("The record was not destroyed. {e}")).into_response();
    }
    match app
        .store
        .destroy_record(
            staff.school,
            id,
            &reason,
            &app.record_retention,
            &staff.acting(),
        )
        .await
    {
        Ok(certificate) => {
            Redirect::to(&format!("/records#certificate-{}", certificate.id)).into_response()
        }
        Err(e) => refusal("destroying a record", e),
    }
}

// ---------------------------------------------------------------------------------------------
// The overview: review list and certificates
// ---------------------------------------------------------------------------------------------

struct ReviewRow {
    id: i64,
    kind: String,
    review_due: String,
    status: &'static str,
    legal_hold: bool,
}

struct CertificateRow {
    id: i64,
    concern_ref: i64,
    kind: String,
    opened: String,
    closed: String,
    review_due: String,
    destroyed: String,
    destroyed_by: String,
    reason: String,
    sha256: String,
    rows_removed: u64,
}

#[derive(Template)]
#[template(path = "records_overview.html")]
struct OverviewTemplate {
    frame: Frame,
    today: String,
    review: Vec<ReviewRow>,
    certificates: Vec<CertificateRow>,
    years: (u32, u32, u32),
}

async fn overview(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let today = app.today();
    let due = match app
        .store
        .records_for_review(staff.school, &app.record_retention, today)
        .await
    {
        Ok(due) => due,
        Err(e) => return refusal("reading the review list", e),
    };
    let mut review = Vec::with_capacity(due.len());
    for item in due {
        match sees_in_full(&app, &staff, item.id).await {
            Ok(true) => review.push(ReviewRow {
                id: item.id.0,
                kind: record_type_label(&item.record_type).to_owned(),
                review_due: item.review_due.to_string(),
                status: status_text(item.status),
                legal_hold: item.legal_hold,
            }),
            Ok(false) => {}
            Err(r) => return r,
        }
    }
    let certificates = match app.store.destruction_certificates(staff.school).await {
        Ok(certificates) => certificates,
        Err(e) => return refusal("reading certificates of destruction", e),
    };
    let certificates = certificates
        .into_iter()
        .map(|c| CertificateRow {
            id: c.id,
            concern_ref: c.concern_ref.0,
            kind: record_type_label(&c.record_type).to_owned(),
            opened: app.local_time(c.opened_at),
            closed: c.closed_at.map(|t| app.local_time(t)).unwrap_or_default(),
            review_due: c.review_due.to_string(),
            destroyed: app.local_time(c.destroyed_at),
            destroyed_by: c.destroyed_by,
            reason: c.reason,
            sha256: c.content_sha256,
            rows_removed: c.rows_removed,
        })
        .collect();
    let rules = &app.record_retention;
    render(&OverviewTemplate {
        frame: staff.frame("/records"),
        today: today.to_string(),
        review,
        certificates,
        years: (
            rules.child_protection_years_after_birth,
            rules.staff_allegation_years,
            rules.online_safety_years,
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Subject access
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "records_subject_access_form.html")]
struct SubjectAccessFormTemplate {
    frame: Frame,
}

async fn subject_access_form(
    State(_app): State<Arc<AdminApp>>,
    staff: Staff,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let username = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "username")
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    });
    if let Some(username) = username {
        return Redirect::to(&format!(
            "/records/subject-access/{}",
            crate::explorer::url_encode(&username)
        ))
        .into_response();
    }
    render(&SubjectAccessFormTemplate {
        frame: staff.frame("/records"),
    })
}

/// The note added for anyone but the headteacher: what is left out, without saying whether
/// there is anything to leave out.
const ALLEGATIONS_NOTE: &str = "Records of allegations against members of staff are not in \
this export: only the headteacher may read them. Ask the headteacher to check for any and add \
them before the response is sent.";

const TRUNCATED_NOTE: &str = "Only the newest 10,000 browsing events are included; there are \
more. Ask the network manager for the rest if the request covers them.";

fn export_of_record(r: &ConcernRecord) -> RecordExport {
    let c = &r.concern;
    RecordExport {
        id: c.id.0,
        record_type: r.record_type.clone(),
        status: c.status.as_str().to_owned(),
        recorded_by: c.created_by.clone(),
        reporter: r.reporter.clone(),
        reported_at: r.reported_at,
        incident_at: r.incident_at,
        location: r.location.clone(),
        types: r.types.clone(),
        summary: c.summary.clone(),
        people: r
            .people
            .iter()
            .map(|p| PersonExport {
                person_role: p.person_role.clone(),
                involvement: p.involvement.clone(),
                name: p.display_name.clone(),
                username: p.username.clone(),
            })
            .collect(),
        disclosure: r.disclosure.clone(),
        observations: r.observations.clone(),
        websites: r.websites.clone(),
        apps_games: r.apps_games.clone(),
        online_names: r.online_names.clone(),
        evidence_description: r.evidence_description.clone(),
        handed_to: r.handed_to.clone(),
        actions: r
            .actions
            .iter()
            .map(|a| ActionExport {
                kind: a.kind.clone(),
                at: a.at,
                by: a.by.clone(),
                note: a.note.clone(),
            })
            .collect(),
        sanctions: r
            .sanctions
            .iter()
            .map(|s| SanctionExport {
                kind: s.kind.clone(),
                starts_at: s.starts_at,
                until: s.until,
                lifted_at: s.lifted_at,
            })
            .collect(),
        outcome: r.outcome.clone(),
        no_referral_reason: r.no_referral_reason.clone(),
        closed_at: r.closed_at,
    }
}

/// The redacted export of everything held about `username`, read with the store's audited
/// subject-access read. Allegations against staff go only to the headteacher.
async fn build_export(
    app: &AdminApp,
    staff: &Staff,
    username: &str,
    purpose: &str,
) -> Result<SubjectAccessExport, Response> {
    let data = app
        .store
        .subject_access(
            staff.school,
            username,
            &reader(staff, format!("subject-access {purpose}")),
        )
        .await
        .map_err(|e| refusal("reading a subject-access export", e))?;
    let person = match &data.person {
        Some(p) => PersonDetails {
            username: p.username.clone(),
            name: p.display_name.clone(),
            kind: p.kind.as_str().to_owned(),
            group: Some(p.group_key.clone()),
            year_group: p.year_group.clone(),
            class_name: p.class_name.clone(),
            date_of_birth: p.date_of_birth,
        },
        None => PersonDetails {
            username: username.to_owned(),
            name: username.to_owned(),
            kind: "not in the directory".to_owned(),
            group: None,
            year_group: None,
            class_name: None,
            date_of_birth: None,
        },
    };
    let records = data
        .records
        .iter()
        .filter(|r| may_see(staff, &r.record_type, &r.concern.created_by))
        .map(export_of_record)
        .collect();
    let mut notes = Vec::new();
    if !is_head(staff) {
        notes.push(ALLEGATIONS_NOTE.to_owned());
    }
    if data.events_truncated {
        notes.push(TRUNCATED_NOTE.to_owned());
    }
    let mut export = SubjectAccessExport {
        generated_at: Timestamp::now(),
        school: staff.school_name.clone(),
        person,
        records,
        alerts: data
            .alerts
            .iter()
            .map(|a| AlertExport {
                id: a.id.0,
                first_at: a.first_at,
                last_at: a.last_at,
                category: a.category.clone(),
                severity: a.severity,
                status: a.status.as_str().to_owned(),
                matched_text: a.matched_text.clone(),
            })
            .collect(),
        activity: data
            .events
            .iter()
            .map(|e| ActivityExport {
                at: e.event.at,
                host: e.event.host.clone(),
                url: e.event.url.clone(),
                decision: e.event.verdict.as_str().to_owned(),
                category: e.event.category.clone(),
                device: e.event.device.clone(),
            })
            .collect(),
        notes,
    };
    export.redact_third_parties();
    Ok(export)
}

struct ExportRecordRow {
    id: i64,
    kind: String,
    reported: String,
    summary: String,
    status: String,
}

#[derive(Template)]
#[template(path = "records_subject_access.html")]
struct SubjectAccessTemplate {
    frame: Frame,
    username: String,
    username_path: String,
    name: String,
    kind: String,
    records: Vec<ExportRecordRow>,
    alerts: usize,
    activity: usize,
    notes: Vec<String>,
}

#[allow(clippy::result_large_err)]
fn checked_username(username: &str) -> Result<String, Response> {
    let username = username.trim();
    if username.is_empty()
        || username.chars().count() > 200
        || username.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(bad_request(
            "That is not a username. Go back and type the person's username as the directory \
             has it.",
        ));
    }
    Ok(username.to_owned())
}

async fn subject_access_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(username): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let username = match checked_username(&username) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let export = match build_export(&app, &staff, &username, "page").await {
        Ok(export) => export,
        Err(r) => return r,
    };
    render(&SubjectAccessTemplate {
        frame: staff.frame("/records"),
        username_path: crate::explorer::url_encode(&username),
        username,
        name: export.person.name.clone(),
        kind: export.person.kind.clone(),
        records: export
            .records
            .iter()
            .map(|r| ExportRecordRow {
                id: r.id,
                kind: record_type_label(&r.record_type).to_owned(),
                reported: app.local_time(r.reported_at),
                summary: r.summary.clone(),
                status: r.status.clone(),
            })
            .collect(),
        alerts: export.alerts.len(),
        activity: export.activity.len(),
        notes: export.notes,
    })
}

async fn subject_access_json(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(username): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let username = match checked_username(&username) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let export = match build_export(&app, &staff, &username, "export.json").await {
        Ok(export) => export,
        Err(r) => return r,
    };
    match serde_json::to_vec_pretty(&export) {
        Ok(body) => download(
            body,
            "application/json",
            &format!(
                "subject-access-{}-{}.json",
                file_name_part(&username),
                app.today()
            ),
            &[],
        ),
        Err(e) => crate::frame::server_error("writing a subject-access export", e),
    }
}

async fn subject_access_html(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(username): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let username = match checked_username(&username) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let export = match build_export(&app, &staff, &username, "export.html").await {
        Ok(export) => export,
        Err(r) => return r,
    };
    download(
        hedgerow_records::render_html(&export).into_bytes(),
        "text/html; charset=utf-8",
        &format!(
            "subject-access-{}-{}.html",
            file_name_part(&username),
            app.today()
        ),
        &[],
    )
}

// ---------------------------------------------------------------------------------------------
// Transfers
// ---------------------------------------------------------------------------------------------

/// The school's test of "is this a school day?": a weekday inside a term and not in a
/// closure (the policy's own calendar); with no terms configured, any weekday, since a
/// deadline still needs counting.
fn school_days(terms: &[Term], closures: &[Closure]) -> impl Fn(Date) -> bool {
    let calendar = (!terms.is_empty()).then(|| Calendar::new(terms, closures));
    move |date| match &calendar {
        Some(calendar) => calendar.is_school_day(date),
        None => !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday),
    }
}

/// Five school days after `from`, by the school's calendar.
fn due_date(app: &AdminApp, staff: &Staff, from: Date) -> Date {
    // Without the school's policy (the gateway not answering) weekdays are the best guess.
    let (terms, closures) = match app.control.policy(&staff.school_slug) {
        Ok(spec) => (spec.terms, spec.closures),
        Err(_) => (Vec::new(), Vec::new()),
    };
    hedgerow_records::add_school_days(from, 5, school_days(&terms, &closures))
}

struct TransferRow {
    id: i64,
    outgoing: bool,
    pupil: String,
    other_school: String,
    sent: String,
    sent_by: String,
    due_date: String,
    overdue: bool,
    sha256: String,
    confirmed: bool,
    receipt: String,
    receipt_note: String,
}

#[derive(Template)]
#[template(path = "records_transfers.html")]
struct TransfersTemplate {
    frame: Frame,
    rows: Vec<TransferRow>,
}

async fn transfer_log(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let transfers = match app
        .store
        .transfers(staff.school, &reader(&staff, "transfer log".into()))
        .await
    {
        Ok(transfers) => transfers,
        Err(e) => return refusal("reading the transfer log", e),
    };
    let today = app.today();
    let rows = transfers
        .into_iter()
        .map(|t| {
            let confirmed = t.receipt_confirmed_at.is_some();
            TransferRow {
                id: t.id,
                outgoing: t.transfer.direction == "out",
                pupil: match &t.transfer.pupil_username {
                    Some(u) => format!("{} ({u})", t.transfer.pupil_name),
                    None => t.transfer.pupil_name.clone(),
                },
                other_school: t.transfer.other_school.clone(),
                sent: app.local_time(t.transfer.sent_at),
                sent_by: t.sent_by.clone(),
                due_date: t.transfer.due_date.to_string(),
                overdue: !confirmed && t.transfer.due_date < today,
                sha256: t.transfer.sha256.clone(),
                confirmed,
                receipt: match (t.receipt_confirmed_at, &t.receipt_confirmed_by) {
                    (Some(at), Some(by)) => format!("{}, recorded by {by}", app.local_time(at)),
                    (Some(at), None) => app.local_time(at),
                    _ => String::new(),
                },
                receipt_note: t.receipt_note.clone().unwrap_or_default(),
            }
        })
        .collect();
    render(&TransfersTemplate {
        frame: staff.frame("/records"),
        rows,
    })
}

/// Whether a record goes with a pupil to a new school: allegations against staff do not
/// (they are about the member of staff and stay with the employer).
fn travels_with_pupil(record: &ConcernRecord) -> bool {
    record.record_type != RecordType::StaffAllegation.key()
}

async fn send_transfer(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let fields = match read_fields(request).await {
        Ok(fields) => fields,
        Err(r) => return r,
    };
    let username = match fields.required("username", "The pupil's username", 200) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let other_school = match fields.required("other_school", "The new school", limits::SHORT_CHARS)
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let person = match app.store.person(staff.school, &username).await {
        Ok(person) => person,
        Err(e) => return refusal("looking up a pupil", e),
    };
    let records = match app
        .store
        .records_for_transfer(
            staff.school,
            &username,
            &reader(&staff, format!("transfer to {other_school}")),
        )
        .await
    {
        Ok(records) => records,
        Err(e) => return refusal("reading records for a transfer", e),
    };
    let records: Vec<&ConcernRecord> = records.iter().filter(|r| travels_with_pupil(r)).collect();
    // The pupil's name and date of birth: from the directory, else as the records give them.
    let named = records.iter().flat_map(|r| r.people.iter()).find(|p| {
        p.username
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case(&username))
    });
    let (name, date_of_birth) = match (&person, named) {
        (Some(p), _) => (
            p.display_name.clone(),
            p.date_of_birth.or(named.and_then(|n| n.date_of_birth)),
        ),
        (None, Some(n)) => (n.display_name.clone(), n.date_of_birth),
        (None, None) => {
            return not_found("pupil with that username in the directory or in any record");
        }
    };
    let now = Timestamp::now();
    let bundle = TransferBundle::new(
        staff.school_name.clone(),
        now,
        TransferPupil {
            name: name.clone(),
            username: Some(username.clone()),
            date_of_birth,
        },
        records.iter().map(|r| r.to_json()).collect(),
    );
    let (bytes, sha256) = match hedgerow_records::seal(&bundle) {
        Ok(sealed) => sealed,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The transfer file could not be made. {e}"),
            )
                .into_response();
        }
    };
    let today = app.today();
    let transfer = NewTransfer {
        direction: "out".into(),
        pupil_username: Some(username.clone()),
        pupil_name: name,
        other_school,
        sent_at: now,
        due_date: due_date(&app, &staff, today),
        sha256: sha256.clone(),
    };
    if let Err(e) = app
        .store
        .record_transfer(staff.school, &transfer, &staff.acting())
        .await
    {
        return refusal("logging a transfer", e);
    }
    download(
        bytes,
        "application/json",
        &format!(
            "hedgerow-transfer-{}-{today}.json",
            file_name_part(&username)
        ),
        &[("x-hedgerow-sha256", sha256)],
    )
}

async fn confirm_receipt(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let Some(id) = id.parse::<i64>().ok().filter(|n| *n > 0) else {
        return not_found("transfer");
    };
    let fields = match read_fields(request).await {
        Ok(fields) => fields,
        Err(r) => return r,
    };
    let confirmed_by = match fields.required(
        "confirmed_by",
        "Who at the new school confirmed receipt",
        limits::SHORT_CHARS,
    ) {
        Ok(who) => who,
        Err(r) => return r,
    };
    let note = match fields.get("note") {
        None => String::new(),
        Some(_) => match fields.required("note", "The note", 2_000) {
            Ok(note) => note,
            Err(r) => return r,
        },
    };
    let note = if note.is_empty() {
        format!("Confirmed by {confirmed_by}.")
    } else {
        format!("Confirmed by {confirmed_by}. {note}")
    };
    match app
        .store
        .confirm_transfer_receipt(staff.school, id, &staff.acting(), &note)
        .await
    {
        Ok(()) => Redirect::to(&format!("/records/transfers#transfer-{id}")).into_response(),
        Err(e) => refusal("confirming a transfer's receipt", e),
    }
}

#[derive(Template)]
#[template(path = "records_transfer_refused.html")]
struct RefusedTemplate {
    frame: Frame,
    message: String,
}

fn refused(staff: &Staff, message: String) -> Response {
    let mut response = render(&RefusedTemplate {
        frame: staff.frame("/records"),
        message,
    });
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

struct ImportedRow {
    id: i64,
    summary: String,
    kind: String,
}

#[derive(Template)]
#[template(path = "records_transfer_imported.html")]
struct ImportedTemplate {
    frame: Frame,
    from_school: String,
    pupil: String,
    sha256: String,
    rows: Vec<ImportedRow>,
}

/// The receive form: the bundle's bytes, the checksum given separately, and the pupil's
/// username here (optional).
async fn read_receive_form(request: Request) -> Result<(Vec<u8>, Fields), Response> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Err(bad_request(
            "Choose the transfer file to upload (the form sends it as a file). Go back, \
             reload the page and try again.",
        ));
    }
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(unreadable_form)?;
    let mut bundle = None;
    let mut fields = Vec::new();
    while let Some(field) = parts.next_field().await.map_err(unreadable_form)? {
        let name = field.name().unwrap_or("").to_owned();
        let is_file = field.file_name().is_some();
        let bytes = field.bytes().await.map_err(unreadable_form)?;
        if name == "bundle" && is_file {
            bundle = Some(bytes.to_vec());
        } else if !is_file && bytes.len() <= 64 * 1024 {
            fields.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    match bundle {
        Some(bytes) if !bytes.is_empty() => Ok((bytes, Fields(fields))),
        _ => Err(bad_request(
            "No transfer file was chosen. Go back, choose the file the sending school sent \
             and try again.",
        )),
    }
}

fn text_of(value: &serde_json::Value, key: &str) -> String {
    value
        .get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn time_of(value: &serde_json::Value, key: &str) -> Option<Timestamp> {
    value
        .get(key)
        .and_then(serde_json::Value::as_str)
        .and_then(|t| t.parse().ok())
}

/// Shortens `text` to at most `max` characters, saying so.
fn within(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let marker =
        " [shortened on import: the full text is in the transfer file, which must be kept]";
    let keep = max.saturating_sub(marker.chars().count());
    let mut short: String = text.chars().take(keep).collect();
    short.push_str(marker);
    short
}

/// One line, without control characters (the store refuses them in one-line fields).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// What was done about a record at the sending school, as a dated text block for the
/// imported record's observations, so nothing is lost when it is re-recorded here.
fn history_block(
    record: &serde_json::Value,
    from_school: &str,
    zone: &jiff::tz::TimeZone,
) -> String {
    let when = |key: &str, v: &serde_json::Value| {
        time_of(v, key)
            .map(|t| {
                t.to_zoned_datetime(zone.clone())
                    .strftime("%-d %b %Y %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|| "date not given".into())
    };
    let mut lines = vec![format!(
        "--- Transferred from {from_school}: their record #{}, status {}, recorded by {} on {} ---",
        record
            .get("id")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0),
        text_of(record, "status"),
        text_of(record, "created_by"),
        when("created_at", record),
    )];
    let description = text_of(record, "description");
    if !description.trim().is_empty() {
        lines.push(format!("Description: {description}"));
    }
    if let Some(to) = record.get("handed_to").and_then(serde_json::Value::as_str) {
        lines.push(format!("Handed to {to} on {}.", when("handed_at", record)));
    }
    for action in record
        .get("actions")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = text_of(action, "kind");
        lines.push(format!(
            "{}: {} (by {}) {}",
            when("at", action),
            ActionKind::label_for(&kind),
            text_of(action, "by"),
            text_of(action, "note"),
        ));
    }
    for procedure in record
        .get("procedures")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        lines.push(format!(
            "{}: procedure {} started (by {})",
            when("started_at", procedure),
            text_of(procedure, "procedure"),
            text_of(procedure, "started_by"),
        ));
        for step in procedure
            .get("done")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            lines.push(format!(
                "{}: step {} done (by {}) {}",
                when("at", step),
                text_of(step, "step"),
                text_of(step, "by"),
                text_of(step, "note"),
            ));
        }
    }
    for sanction in record
        .get("sanctions")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        lines.push(format!(
            "Sanction ({}) from {} until {}{}",
            text_of(sanction, "kind"),
            when("starts_at", sanction),
            when("until", sanction),
            if time_of(sanction, "lifted_at").is_some() {
                format!(", lifted {}", when("lifted_at", sanction))
            } else {
                String::new()
            },
        ));
    }
    if let Some(outcome) = record.get("outcome").and_then(serde_json::Value::as_str) {
        lines.push(format!("Outcome: {outcome}"));
    }
    if let Some(reason) = record
        .get("no_referral_reason")
        .and_then(serde_json::Value::as_str)
    {
        lines.push(format!("Why no referral was made: {reason}"));
    }
    if time_of(record, "closed_at").is_some() {
        lines.push(format!(
            "Closed on {} by {}.",
            when("closed_at", record),
            text_of(record, "closed_by")
        ));
    }
    lines.join("\n")
}

/// A record from a transfer bundle as a new record of this school. Usernames are the other
/// school's, so they are dropped, except the transferred pupil's when `username_here` says
/// who they are here.
fn record_from_bundle(
    record: &serde_json::Value,
    bundle: &TransferBundle,
    username_here: Option<&str>,
    zone: &jiff::tz::TimeZone,
) -> NewRecord {
    let from = &bundle.from_school;
    let their_username = bundle.pupil.username.as_deref();
    let people = record
        .get("people")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .take(limits::MAX_PEOPLE)
        .filter_map(|p| {
            let name = one_line(&text_of(p, "display_name"));
            if name.is_empty() {
                return None;
            }
            let role = PersonRole::parse(&text_of(p, "person_role")).unwrap_or(PersonRole::Other);
            let involvement =
                Involvement::parse(&text_of(p, "involvement")).unwrap_or(Involvement::Other);
            let is_the_pupil = their_username.is_some()
                && p.get("username").and_then(serde_json::Value::as_str) == their_username;
            Some(PersonInvolved {
                person_role: role.key().to_owned(),
                involvement: involvement.key().to_owned(),
                display_name: within(name, limits::SHORT_CHARS),
                username: username_here.filter(|_| is_the_pupil).map(str::to_owned),
                date_of_birth: p
                    .get("date_of_birth")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|d| d.parse().ok()),
            })
        })
        .collect();
    let mut types: Vec<String> = Vec::new();
    for key in record
        .get("types")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
    {
        if let Some(t) = IncidentType::parse(key)
            && !types.iter().any(|k| k == t.key())
            && types.len() < limits::MAX_TYPES
        {
            types.push(t.key().to_owned());
        }
    }
    if types.is_empty() {
        types.push(IncidentType::Other.key().to_owned());
    }
    let summary = one_line(&text_of(record, "summary"));
    let summary = within(
        format!(
            "Transferred from {from}: {}",
            if summary.is_empty() {
                "no summary given"
            } else {
                &summary
            }
        ),
        limits::SHORT_CHARS,
    );
    let reporter = one_line(&text_of(record, "reporter"));
    let observations = text_of(record, "observations");
    let history = history_block(record, from, zone);
    let observations = if observations.trim().is_empty() {
        history
    } else {
        format!("{observations}\n\n{history}")
    };
    let long = |key: &str| within(text_of(record, key), limits::LONG_CHARS);
    NewRecord {
        record_type: RecordType::parse(&text_of(record, "record_type"))
            .unwrap_or(RecordType::OnlineSafety)
            .key()
            .to_owned(),
        reporter: within(
            if reporter.is_empty() {
                format!("Not recorded ({from})")
            } else {
                reporter
            },
            limits::SHORT_CHARS,
        ),
        reported_at: time_of(record, "reported_at").unwrap_or(bundle.created_at),
        incident_at: time_of(record, "incident_at"),
        location: Location::parse(&text_of(record, "location"))
            .unwrap_or(Location::Unknown)
            .key()
            .to_owned(),
        people,
        types,
        summary,
        disclosure: long("disclosure"),
        observations: within(observations, limits::LONG_CHARS),
        websites: long("websites"),
        apps_games: long("apps_games"),
        online_names: long("online_names"),
        evidence_description: long("evidence_description"),
        alert_ids: Vec::new(),
    }
}

async fn receive_transfer(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageRecords) {
        return r;
    }
    let (bytes, fields) = match read_receive_form(request).await {
        Ok(form) => form,
        Err(r) => return r,
    };
    let Some(expected) = fields.get("sha256") else {
        return refused(
            &staff,
            "The checksum is missing. The sending school gives it separately from the file \
             (by phone or a separate message); type it in and upload the file again. If you do \
             not have it, ask the sending school for it."
                .into(),
        );
    };
    let bundle = match hedgerow_records::open(&bytes, Some(expected)) {
        Ok(bundle) => bundle,
        Err(e) => return refused(&staff, format!("Nothing was imported. {e}")),
    };
    let sha256 = hedgerow_records::sha256_hex(&bytes);
    let username_here = match fields.get("username") {
        None => None,
        Some(u) => match checked_username(u) {
            Ok(u) => Some(u),
            Err(r) => return r,
        },
    };
    let records: Vec<NewRecord> = bundle
        .records
        .iter()
        .map(|r| record_from_bundle(r, &bundle, username_here.as_deref(), &app.zone))
        .collect();
    let today = app.today();
    let transfer = NewTransfer {
        direction: "in".into(),
        pupil_username: username_here.clone(),
        pupil_name: within(one_line(&bundle.pupil.name), limits::SHORT_CHARS),
        other_school: within(one_line(&bundle.from_school), limits::SHORT_CHARS),
        sent_at: bundle.created_at,
        due_date: due_date(&app, &staff, today),
        sha256: sha256.clone(),
    };
    let transfer_id = match app
        .store
        .record_transfer(staff.school, &transfer, &staff.acting())
        .await
    {
        Ok(id) => id,
        Err(e) => return refusal("logging a received transfer", e),
    };
    if let Err(e) = app
        .store
        .confirm_transfer_receipt(
            staff.school,
            transfer_id,
            &staff.acting(),
            "Received here; the file matched the sending school's checksum.",
        )
        .await
    {
        return refusal("confirming a received transfer", e);
    }
    let mut rows = Vec::with_capacity(records.len());
    for record in &records {
        match app
            .store
            .create_record(staff.school, record, &staff.acting())
            .await
        {
            Ok(id) => rows.push(ImportedRow {
                id: id.0,
                summary: record.summary.clone(),
                kind: record_type_label(&record.record_type).to_owned(),
            }),
            Err(e) => return import_failed(&staff, &rows, e),
        }
    }
    render(&ImportedTemplate {
        frame: staff.frame("/records"),
        from_school: bundle.from_school.clone(),
        pupil: bundle.pupil.name.clone(),
        sha256,
        rows,
    })
}

/// A record of a good bundle the store would not take: says which were imported already.
fn import_failed(staff: &Staff, done: &[ImportedRow], e: StoreError) -> Response {
    let done: Vec<String> = done.iter().map(|r| format!("#{}", r.id)).collect();
    refused(
        staff,
        format!(
            "The transfer file is genuine, but one of its records could not be saved here ({e}). \
             {} Tell the sending school what this says, and keep the file.",
            if done.is_empty() {
                "No record was imported.".to_owned()
            } else {
                format!("Records {} were imported before it.", done.join(", "))
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn school_days_follow_terms_and_closures() {
        // Thursday 3 July 2025; no calendar: weekdays only.
        let weekdays = school_days(&[], &[]);
        assert!(weekdays(date(2025, 7, 3)));
        assert!(!weekdays(date(2025, 7, 5)));
        let terms = [Term {
            name: "Summer".into(),
            start: date(2025, 4, 22),
            end: date(2025, 7, 22),
        }];
        let closures = [Closure {
            start: date(2025, 7, 7),
            end: date(2025, 7, 7),
            reason: "INSET".into(),
        }];
        let is_school_day = school_days(&terms, &closures);
        assert!(is_school_day(date(2025, 7, 3)));
        assert!(!is_school_day(date(2025, 7, 7)));
        assert!(!is_school_day(date(2025, 7, 23)));
        // Thursday 3 July + 5 school days skips the weekend and the INSET day.
        let due = hedgerow_records::add_school_days(date(2025, 7, 3), 5, is_school_day);
        assert_eq!(due, date(2025, 7, 11));
    }

    #[test]
    fn a_bundled_record_keeps_its_history_in_the_observations() {
        let record = serde_json::json!({
            "id": 7, "record_type": "child-protection", "status": "closed",
            "created_at": "2025-01-10T09:00:00Z", "created_by": "t.teacher",
            "reporter": "Ms Teacher", "reported_at": "2025-01-10T09:00:00Z",
            "incident_at": null, "location": "in-school", "summary": "Chat asked for photos",
            "description": "", "types": ["grooming", "not-a-type", "grooming"],
            "people": [
                {"person_role": "pupil", "involvement": "affected", "display_name": "Ada Example",
                 "username": "ada.e", "date_of_birth": "2014-02-28"},
                {"person_role": "pupil", "involvement": "witness", "display_name": "Bo Other",
                 "username": "bo.o", "date_of_birth": null}
            ],
            "disclosure": "He said keep it secret", "observations": "Seen by Ms Teacher",
            "websites": "", "apps_games": "ChatApp", "online_names": "", "evidence_description": "",
            "handed_to": "d.dsl", "handed_at": "2025-01-10T10:00:00Z",
            "actions": [{"kind": "ceop-report", "at": "2025-01-10T11:00:00Z", "by": "d.dsl",
                         "note": "Reported to CEOP"}],
            "procedures": [], "sanctions": [],
            "outcome": "Police involved", "no_referral_reason": null,
            "closed_at": "2025-02-01T12:00:00Z", "closed_by": "d.dsl"
        });
        let bundle = TransferBundle::new(
            "Old School".into(),
            "2025-07-01T12:00:00Z".parse().unwrap(),
            TransferPupil {
                name: "Ada Example".into(),
                username: Some("ada.e".into()),
                date_of_birth: None,
            },
            vec![record.clone()],
        );
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let new = record_from_bundle(&record, &bundle, Some("ada.new"), &zone);
        assert_eq!(new.record_type, "child-protection");
        assert_eq!(
            new.summary,
            "Transferred from Old School: Chat asked for photos"
        );
        assert_eq!(new.types, vec!["grooming".to_owned()]);
        assert_eq!(new.people.len(), 2);
        assert_eq!(new.people[0].username.as_deref(), Some("ada.new"));
        assert_eq!(new.people[1].username, None);
        assert_eq!(new.people[0].date_of_birth, Some(date(2014, 2, 28)));
        assert!(new.observations.starts_with("Seen by Ms Teacher\n\n"));
        assert!(new.observations.contains("Reported to CEOP"));
        assert!(new.observations.contains("Outcome: Police involved"));
        assert!(new.observations.contains("Handed to d.dsl"));
        let without = record_from_bundle(&record, &bundle, None, &zone);
        assert!(without.people.iter().all(|p| p.username.is_none()));
    }

    #[test]
    fn long_text_is_shortened_with_a_marker() {
        let long = "x".repeat(600);
        let short = within(long, 500);
        assert_eq!(short.chars().count(), 500);
        assert!(short.ends_with("must be kept]"));
        assert_eq!(file_name_part("ada e/../x"), "ada_e_.._x");
    }
}
