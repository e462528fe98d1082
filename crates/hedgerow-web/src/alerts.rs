//! Monitoring alerts: the triage queue (`/alerts`), one alert with the person's activity
//! around it as evidence (`/alerts/{id}`), triage (`/alerts/{id}/triage`: triaged, false
//! positive or no further action, each with a required note; or reopen), and opening a
//! safeguarding concern from an alert in one step (`/alerts/{id}/concern`).
//!
//! Alerts name children and show their browsing, so they go to the readers of browsing
//! ([`Permission::ViewAlerts`], [`Permission::TriageAlerts`]), and every read goes through the
//! store's audited reads: the queue is written to the audit log as `alert.list`, an alert as
//! `alert.read`, its evidence as `activity.read`, a triage as `alert.triage`. Everything shown
//! came from outside (search terms, URLs, user names) and is only ever rendered through
//! askama's escaping.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_store::{
    Alert, AlertFilter, AlertId, AlertStatus, EventFilter, Reader, StoreError, StoredEvent, Verdict,
};
use jiff::{SignedDuration, Timestamp};

use crate::AdminApp;
use crate::explorer::{EventView, person_href};
use crate::form::Fields;
use crate::frame::{Frame, Staff, bad_request, not_found, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/alerts"),
    ("GET", "/alerts/{id}"),
    ("POST", "/alerts/{id}/triage"),
    ("POST", "/alerts/{id}/concern"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/alerts", get(queue))
        .route("/alerts/{id}", get(alert_page))
        .route("/alerts/{id}/triage", post(triage))
        .route("/alerts/{id}/concern", post(open_concern))
}

/// Alerts shown in each part of the queue.
const QUEUE_ROWS: u32 = 200;

/// How far either side of an alert its evidence reaches.
pub(crate) const EVIDENCE_MARGIN: SignedDuration = SignedDuration::from_mins(5);

/// Most evidence events read for one alert.
const EVIDENCE_ROWS: u32 = 500;

/// A category's name for staff; a category a school adds itself is shown by its key.
pub(crate) fn category_label(key: &str) -> String {
    hedgerow_risk::RiskCategory::parse(key).map_or_else(|| key.to_owned(), |c| c.label().to_owned())
}

/// A severity as staff read it: "5 — imminent risk".
pub(crate) fn severity_text(severity: u8) -> String {
    let meaning = match severity {
        1 => "advisory",
        2 => "low",
        3 => "moderate",
        4 => "high",
        _ => "imminent risk",
    };
    format!("{severity} — {meaning}")
}

/// A status as staff read it, capitalised for a table cell.
pub(crate) fn status_text(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::New => "New",
        AlertStatus::Triaged => "Triaged",
        AlertStatus::FalsePositive => "False positive",
        AlertStatus::NoFurtherAction => "No further action",
    }
}

/// Who an alert is about, as a table shows it.
fn person(alert: &Alert) -> String {
    match (&alert.user, &alert.device) {
        (Some(user), _) => user.clone(),
        (None, Some(device)) => format!("device {device}"),
        (None, None) => format!("address {}", alert.client_ip),
    }
}

/// Who is reading, from where and why: what the store writes into the audit log.
pub(crate) fn reader(staff: &Staff, purpose: String) -> Reader {
    Reader {
        actor: staff.actor(),
        from_addr: Some(staff.peer.to_string()),
        purpose,
    }
}

struct AlertRow {
    id: i64,
    at: String,
    when: String,
    person: String,
    group: String,
    category: String,
    severity: String,
    high: bool,
    count: u32,
    status: &'static str,
    is_new: bool,
}

fn row(app: &AdminApp, alert: &Alert) -> AlertRow {
    AlertRow {
        id: alert.id.0,
        at: alert.first_at.to_string(),
        when: app.local_time(alert.first_at),
        person: person(alert),
        group: alert.group.clone().unwrap_or_default(),
        category: category_label(&alert.category),
        severity: severity_text(alert.severity),
        high: alert.severity >= hedgerow_store::HIGH_SEVERITY,
        count: alert.count,
        status: status_text(alert.status),
        is_new: alert.status == AlertStatus::New,
    }
}

/// The queue's filters as chosen, for the form to show them again.
struct QueueForm {
    status: String,
    category: String,
    severity: String,
}

struct Choice {
    value: &'static str,
    label: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct QueueTemplate {
    frame: Frame,
    form: QueueForm,
    statuses: Vec<Choice>,
    categories: Vec<Choice>,
    severities: Vec<Choice>,
    rows: Vec<AlertRow>,
    new_count: usize,
    truncated: bool,
}

async fn queue(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewAlerts) {
        return r;
    }
    let fields = Fields(
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let status = match fields.get("status") {
        None | Some("all") => None,
        Some(s) => match AlertStatus::parse(s) {
            Some(status) => Some(status),
            None => {
                return bad_request(format!(
                    "{s:?} is not an alert status. Choose new, triaged, false positive or no further action."
                ));
            }
        },
    };
    let category = fields.get("category").map(str::to_owned);
    if category.as_deref().is_some_and(|c| c.chars().count() > 100) {
        return bad_request("The category is too long. Choose one from the list.");
    }
    let min_severity = match fields.get("severity") {
        None => None,
        Some(s) => match s.parse::<u8>() {
            Ok(n) if (1..=5).contains(&n) => Some(n),
            _ => {
                return bad_request(
                    "The severity is a number from 1 to 5. Choose one from the list.",
                );
            }
        },
    };
    let filter = AlertFilter {
        status,
        category: category.clone(),
        min_severity,
        ..AlertFilter::school(staff.school, QUEUE_ROWS)
    };
    let who = reader(&staff, "triage queue".into());
    // New alerts come first, whatever their age; then everything else, newest first.
    let mut alerts = Vec::new();
    let mut truncated = false;
    if status.is_none() {
        let new = AlertFilter {
            status: Some(AlertStatus::New),
            ..filter.clone()
        };
        match app.store.alerts(&new, &who).await {
            Ok(found) => {
                truncated |= found.len() == QUEUE_ROWS as usize;
                alerts.extend(found);
            }
            Err(e) => return refusal("reading alerts", e),
        }
    }
    match app.store.alerts(&filter, &who).await {
        Ok(found) => {
            truncated |= found.len() == QUEUE_ROWS as usize;
            alerts.extend(
                found
                    .into_iter()
                    .filter(|a| status.is_some() || a.status != AlertStatus::New),
            );
        }
        Err(e) => return refusal("reading alerts", e),
    }
    let rows: Vec<AlertRow> = alerts.iter().map(|a| row(&app, a)).collect();
    let new_count = rows.iter().filter(|r| r.is_new).count();
    let statuses = std::iter::once(Choice {
        value: "all",
        label: "Any status (new first)".into(),
    })
    .chain(AlertStatus::ALL.into_iter().map(|s| Choice {
        value: s.as_str(),
        label: status_text(s).into(),
    }))
    .collect();
    let categories = hedgerow_risk::RiskCategory::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str(),
            label: c.label().to_owned(),
        })
        .collect();
    let severities = [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 5)]
        .into_iter()
        .map(|(value, n)| Choice {
            value,
            label: format!("{} or higher", severity_text(n)),
        })
        .collect();
    render(&QueueTemplate {
        frame: staff.frame("/alerts"),
        form: QueueForm {
            status: status.map_or("all", AlertStatus::as_str).to_owned(),
            category: category.unwrap_or_default(),
            severity: min_severity.map(|n| n.to_string()).unwrap_or_default(),
        },
        statuses,
        categories,
        severities,
        rows,
        new_count,
        truncated,
    })
}

/// One evidence row, with whether it is the event that matched.
pub(crate) struct EvidenceRow {
    pub event: EventView,
    pub matched: bool,
}

/// Whether an evidence event is (one of) the events the alert is about: the same host with the
/// matched search term or address, or for a burst, a blocked attempt inside the burst.
fn is_match(alert: &Alert, stored: &StoredEvent) -> bool {
    let e = &stored.event;
    if e.host != alert.host {
        return false;
    }
    match alert.trigger {
        hedgerow_store::AlertTrigger::Burst => {
            e.verdict == Verdict::Block && e.at >= alert.first_at && e.at <= alert.last_at
        }
        _ => {
            e.search_term.as_deref() == Some(alert.matched_text.as_str())
                || (alert.url.is_some() && e.url == alert.url)
                || e.at == alert.first_at
                || e.at == alert.last_at
        }
    }
}

/// The person's activity from five minutes before the alert's first match to five minutes
/// after its last, oldest first, read with an audited read.
pub(crate) async fn evidence(
    app: &AdminApp,
    staff: &Staff,
    alert: &Alert,
    purpose: String,
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut filter = EventFilter {
        since: Some(alert.first_at - EVIDENCE_MARGIN),
        // `until` is exclusive; the margin's last microsecond belongs in.
        until: Some(alert.last_at + EVIDENCE_MARGIN + SignedDuration::from_micros(1)),
        ..EventFilter::school(alert.school, EVIDENCE_ROWS)
    };
    match &alert.user {
        Some(user) => filter.user = Some(user.clone()),
        None => filter.client_ip = Some(alert.client_ip),
    }
    let mut events = app
        .store
        .read_events(&reader(staff, purpose), &filter)
        .await?;
    events.reverse();
    Ok(events)
}

struct AlertView {
    id: i64,
    person: String,
    person_href: Option<String>,
    device: String,
    address: String,
    group: String,
    first: String,
    first_at: String,
    last: String,
    count: u32,
    category: String,
    severity: String,
    high: bool,
    trigger: &'static str,
    matched_text: String,
    matched_entry: String,
    host: String,
    url: Option<String>,
    status: &'static str,
    is_new: bool,
    triaged: Option<String>,
    triage_note: Option<String>,
    concern: Option<i64>,
    sent: Vec<String>,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertTemplate {
    frame: Frame,
    alert: AlertView,
    evidence: Vec<EvidenceRow>,
    evidence_full: bool,
    can_triage: bool,
    margin_minutes: i64,
}

fn alert_id(id: &str) -> Option<AlertId> {
    id.parse::<i64>().ok().filter(|n| *n > 0).map(AlertId)
}

async fn alert_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewAlerts) {
        return r;
    }
    let Some(id) = alert_id(&id) else {
        return not_found("alert");
    };
    let alert = match app
        .store
        .alert(staff.school, id, &reader(&staff, format!("alert #{id}")))
        .await
    {
        Ok(Some(alert)) => alert,
        Ok(None) => return not_found("alert"),
        Err(e) => return refusal("reading an alert", e),
    };
    let events = match evidence(&app, &staff, &alert, format!("evidence of alert #{id}")).await {
        Ok(events) => events,
        Err(e) => return refusal("reading the evidence of an alert", e),
    };
    let evidence_full = events.len() == EVIDENCE_ROWS as usize;
    let evidence = events
        .iter()
        .map(|e| EvidenceRow {
            event: EventView::new(&app.zone, e),
            matched: is_match(&alert, e),
        })
        .collect();
    let mut sent = Vec::new();
    if let Some(at) = alert.notified_at {
        sent.push(format!("Sent at once: {}", app.local_time(at)));
    }
    if let Some(at) = alert.digested_at {
        sent.push(format!("In a digest: {}", app.local_time(at)));
    }
    let view = AlertView {
        id: alert.id.0,
        person: person(&alert),
        person_href: alert
            .user
            .as_deref()
            .filter(|_| staff.can(Permission::ViewPersonActivity))
            .map(person_href),
        device: alert.device.clone().unwrap_or_default(),
        address: alert.client_ip.to_string(),
        group: alert.group.clone().unwrap_or_default(),
        first: app.local_time(alert.first_at),
        first_at: alert.first_at.to_string(),
        last: app.local_time(alert.last_at),
        count: alert.count,
        category: category_label(&alert.category),
        severity: severity_text(alert.severity),
        high: alert.severity >= hedgerow_store::HIGH_SEVERITY,
        trigger: alert.trigger.label(),
        matched_text: alert.matched_text.clone(),
        matched_entry: alert.matched_entry.clone(),
        host: alert.host.clone(),
        url: alert.url.clone(),
        status: status_text(alert.status),
        is_new: alert.status == AlertStatus::New,
        triaged: match (&alert.triaged_by, alert.triaged_at) {
            (Some(by), Some(at)) => Some(format!("{by}, {}", app.local_time(at))),
            _ => None,
        },
        triage_note: alert.triage_note.clone(),
        concern: alert.concern.map(|c| c.0),
        sent,
    };
    render(&AlertTemplate {
        frame: staff.frame("/alerts"),
        alert: view,
        evidence,
        evidence_full,
        can_triage: staff.can(Permission::TriageAlerts),
        margin_minutes: EVIDENCE_MARGIN.as_mins(),
    })
}

async fn triage(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let fields = match staff.accept(Permission::TriageAlerts, form) {
        Ok(fields) => Fields(fields),
        Err(r) => return r,
    };
    let Some(id) = alert_id(&id) else {
        return not_found("alert");
    };
    let Some(to) = fields.get("status").and_then(AlertStatus::parse) else {
        return bad_request(
            "Choose an outcome: triaged, false positive or no further action (or reopen). Nothing was changed.",
        );
    };
    // A blank note is the store's to refuse, so the page and the store say the same thing.
    let note = fields.get("note").unwrap_or("");
    match app
        .store
        .triage_alert(staff.school, id, to, note, &staff.actor(), Timestamp::now())
        .await
    {
        Ok(_) => Redirect::to(&format!("/alerts/{id}")).into_response(),
        Err(e) => refusal("triaging an alert", e),
    }
}

async fn open_concern(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    if let Err(r) = staff.accept(Permission::TriageAlerts, form) {
        return r;
    }
    let Some(id) = alert_id(&id) else {
        return not_found("alert");
    };
    let purpose = format!("opening a concern from alert #{id}");
    let alert = match app
        .store
        .alert(staff.school, id, &reader(&staff, purpose.clone()))
        .await
    {
        Ok(Some(alert)) => alert,
        Ok(None) => return not_found("alert"),
        Err(e) => return refusal("reading an alert", e),
    };
    if alert.status != AlertStatus::New {
        return refusal(
            "opening a concern",
            StoreError::AlertTransition {
                id,
                from: alert.status,
                to: AlertStatus::Triaged,
            },
        );
    }
    let events = match evidence(&app, &staff, &alert, purpose).await {
        Ok(events) => events,
        Err(e) => return refusal("reading the evidence of an alert", e),
    };
    match app
        .store
        .create_concern_from_alert(staff.school, id, &staff.actor(), Timestamp::now(), &events)
        .await
    {
        Ok(concern) => Redirect::to(&format!("/concerns/{concern}")).into_response(),
        Err(e) => refusal("opening a concern", e),
    }
}

/// A store refusal as the pages show it: what was wrong and what to do, with a fitting status.
pub(crate) fn refusal(what: &str, e: StoreError) -> Response {
    match e {
        StoreError::NotFound { what, .. } => not_found(what),
        e @ (StoreError::NoteRequired { .. } | StoreError::InvalidInput { .. }) => {
            bad_request(format!("{e}. Nothing was changed; go back and try again."))
        }
        e @ (StoreError::AlertTransition { .. } | StoreError::AlertChanged { .. }) => {
            (StatusCode::CONFLICT, format!("{e}. Nothing was changed.")).into_response()
        }
        other => server_error(what, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_and_categories_read_as_words() {
        assert_eq!(severity_text(5), "5 — imminent risk");
        assert_eq!(severity_text(1), "1 — advisory");
        assert_eq!(category_label("suicide_self_harm"), "Suicide and self-harm");
        assert_eq!(category_label("school_own"), "school_own");
        assert_eq!(alert_id("12"), Some(AlertId(12)));
        assert_eq!(alert_id("-1"), None);
        assert_eq!(alert_id("x"), None);
    }
}
