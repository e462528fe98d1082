//! The change log: every policy change with who, when, the difference and the reason,
//! searchable and exportable as CSV; one change's page, where a second person approves or
//! rejects it and anyone who edits the policy can revert it. After each decision the gateway
//! rebuilds its policy at once (`GatewayControl::refresh`), so the DNS filter and the proxy
//! follow within the request.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_store::{ChangeFilter, ChangeStatus, PolicyChangeId, PolicyChangeRecord, StoreError};
use serde::Deserialize;

use crate::AdminApp;
use crate::form::{Fields, local_moment};
use crate::frame::{Frame, Staff, bad_request, forbidden, not_found, render, server_error};
use crate::policy::MAX_REASON;

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/changes"),
    ("GET", "/changes/export.csv"),
    ("GET", "/changes/{id}"),
    ("POST", "/changes/{id}/approve"),
    ("POST", "/changes/{id}/reject"),
    ("POST", "/changes/{id}/revert"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/changes", get(change_log))
        .route("/changes/export.csv", get(export))
        .route("/changes/{id}", get(change_page))
        .route("/changes/{id}/approve", post(approve))
        .route("/changes/{id}/reject", post(reject))
        .route("/changes/{id}/revert", post(revert))
}

/// Reading the change log: those who edit or approve the policy, and the headteacher (who
/// reads the audit log). Governors do not: sanctions in the log name pupils.
#[allow(clippy::result_large_err)]
fn require_read(staff: &Staff) -> Result<(), Response> {
    if staff.can(Permission::EditPolicy)
        || staff.can(Permission::ApprovePolicyChange)
        || staff.can(Permission::ViewAuditLog)
    {
        Ok(())
    } else {
        Err(forbidden(Permission::EditPolicy))
    }
}

#[derive(Deserialize, Default)]
struct Search {
    text: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    person: Option<String>,
    since: Option<String>,
    until: Option<String>,
    page: Option<u32>,
}

const PAGE: u32 = 50;

impl Search {
    /// The store's filter, or a sentence saying which field is wrong.
    fn filter(&self, app: &AdminApp, staff: &Staff) -> Result<ChangeFilter, String> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(200).collect::<String>())
        };
        let mut filter = ChangeFilter::school(staff.school);
        filter.text = text(&self.text);
        filter.kind = text(&self.kind);
        filter.person = text(&self.person);
        filter.status = match text(&self.status) {
            None => None,
            Some(s) => Some(
                ChangeStatus::parse(&s)
                    .ok_or_else(|| format!("{s:?} is not a status; choose one from the list"))?,
            ),
        };
        filter.since = text(&self.since)
            .map(|s| local_moment(&s, &app.zone))
            .transpose()?;
        filter.until = text(&self.until)
            .map(|s| local_moment(&s, &app.zone))
            .transpose()?;
        filter.limit = PAGE;
        filter.offset = self.page.unwrap_or(0).min(10_000) * PAGE;
        Ok(filter)
    }

    fn query_string(&self) -> String {
        let mut pairs = Vec::new();
        for (name, value) in [
            ("text", &self.text),
            ("kind", &self.kind),
            ("status", &self.status),
            ("person", &self.person),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                pairs.push(format!("{name}={}", percent(v)));
            }
        }
        pairs.join("&")
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Row {
    id: i64,
    when: String,
    by: String,
    kind: String,
    status: &'static str,
    diff: String,
    reason: String,
}

fn status_label(status: ChangeStatus) -> &'static str {
    match status {
        ChangeStatus::PendingApproval => "waiting for approval",
        ChangeStatus::Applied => "in force",
        ChangeStatus::Rejected => "rejected",
        ChangeStatus::Expired => "expired",
        ChangeStatus::Reverted => "reverted",
    }
}

#[derive(Template)]
#[template(path = "changes.html")]
struct ChangeLogTemplate {
    frame: Frame,
    search: Search,
    statuses: Vec<(&'static str, &'static str)>,
    rows: Vec<Row>,
    total: u64,
    page: u32,
    more: bool,
    query: String,
    message: Option<String>,
}

async fn change_log(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(search): Query<Search>,
) -> Response {
    if let Err(r) = require_read(&staff) {
        return r;
    }
    let statuses = ChangeStatus::ALL
        .iter()
        .map(|s| (s.as_str(), status_label(*s)))
        .collect();
    let filter = match search.filter(&app, &staff) {
        Ok(f) => f,
        Err(message) => {
            return render(&ChangeLogTemplate {
                frame: staff.frame("/changes"),
                query: search.query_string(),
                search,
                statuses,
                rows: Vec::new(),
                total: 0,
                page: 0,
                more: false,
                message: Some(message),
            });
        }
    };
    let (records, total) = match tokio::try_join!(
        app.store.search_changes(&filter),
        app.store.count_changes(&filter)
    ) {
        Ok(found) => found,
        Err(e) => return store_refusal("searching the change log", e),
    };
    let page = search.page.unwrap_or(0);
    let rows = records
        .iter()
        .map(|c| Row {
            id: c.id.0,
            when: app.local_time(c.created_at),
            by: c.created_by.clone(),
            kind: c.kind.clone(),
            status: status_label(c.status),
            diff: c.diff.clone(),
            reason: c.reason.clone(),
        })
        .collect();
    render(&ChangeLogTemplate {
        frame: staff.frame("/changes"),
        query: search.query_string(),
        search,
        statuses,
        rows,
        total,
        more: u64::from(filter.offset) + u64::from(PAGE) < total,
        page,
        message: None,
    })
}

async fn export(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(search): Query<Search>,
) -> Response {
    if let Err(r) = require_read(&staff) {
        return r;
    }
    let filter = match search.filter(&app, &staff) {
        Ok(f) => f,
        Err(message) => return bad_request(message),
    };
    match app.store.export_changes_csv(&filter, &staff.actor()).await {
        Ok(csv) => {
            let mut response = csv.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"hedgerow-change-log.csv\""),
            );
            response
        }
        Err(e) => store_refusal("exporting the change log", e),
    }
}

#[derive(Template)]
#[template(path = "change.html")]
struct ChangeTemplate {
    frame: Frame,
    change: PolicyChangeRecord,
    status: &'static str,
    times: Vec<(&'static str, String)>,
    can_approve: bool,
    can_revert: bool,
    own: bool,
}

async fn change_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = require_read(&staff) {
        return r;
    }
    let change = match app
        .store
        .policy_change(staff.school, PolicyChangeId(id))
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => return not_found("change"),
        Err(e) => return server_error("reading a change", e),
    };
    let mut times = vec![("Proposed", app.local_time(change.created_at))];
    for (label, at) in [
        ("Applied", change.applied_at),
        ("Approved", change.approved_at),
        ("Rejected", change.rejected_at),
        ("Reverted", change.reverted_at),
        ("Applies until", change.applies_until),
    ] {
        if let Some(at) = at {
            times.push((label, app.local_time(at)));
        }
    }
    render(&ChangeTemplate {
        frame: staff.frame("/changes"),
        status: status_label(change.status),
        times,
        can_approve: staff.can(Permission::ApprovePolicyChange)
            && change.status == ChangeStatus::PendingApproval,
        can_revert: staff.can(Permission::EditPolicy) && change.status == ChangeStatus::Applied,
        own: change.created_by == staff.account.username,
        change,
    })
}

async fn approve(State(app): State<Arc<AdminApp>>, staff: Staff, Path(id): Path<i64>) -> Response {
    if let Err(r) = staff.require(Permission::ApprovePolicyChange) {
        return r;
    }
    let done = app
        .store
        .approve_change(
            staff.school,
            PolicyChangeId(id),
            &staff.actor(),
            jiff::Timestamp::now(),
        )
        .await;
    decided(&app, id, done).await
}

async fn reject(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::ApprovePolicyChange) {
        return r;
    }
    let fields = Fields(fields);
    let reason = match fields.required("reason", "The reason for rejecting", MAX_REASON) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let done = app
        .store
        .reject_change(
            staff.school,
            PolicyChangeId(id),
            &staff.actor(),
            &reason,
            jiff::Timestamp::now(),
        )
        .await;
    decided(&app, id, done).await
}

async fn revert(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::EditPolicy) {
        return r;
    }
    let fields = Fields(fields);
    let reason = match fields.required("reason", "The reason for reverting", MAX_REASON) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let done = app
        .store
        .revert_change(
            staff.school,
            PolicyChangeId(id),
            &staff.actor(),
            &reason,
            jiff::Timestamp::now(),
        )
        .await;
    decided(&app, id, done).await
}

/// After a decision: the gateway rebuilds its policy now, and the person sees the change.
async fn decided(
    app: &AdminApp,
    id: i64,
    done: Result<PolicyChangeRecord, StoreError>,
) -> Response {
    if let Err(e) = done {
        return store_refusal("deciding a change", e);
    }
    if let Err(e) = app.control.refresh().await {
        return server_error("bringing the change into force", e);
    }
    Redirect::to(&format!("/changes/{id}")).into_response()
}

/// A store error: the person's mistake (self-approval, a change already decided, a bad
/// field) is told as such; anything else is the store's trouble.
pub(crate) fn store_refusal(what: &str, e: StoreError) -> Response {
    match e {
        StoreError::InvalidInput { .. } => bad_request(format!("{e}.")),
        other => server_error(what, other),
    }
}
