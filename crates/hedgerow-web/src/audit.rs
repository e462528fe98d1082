//! The audit log page: who did what, when and from where, for every change and every view or
//! export of a person's browsing or records, newest first, filtered by who, what and when, a
//! page at a time.
//!
//! Only the DSL, deputies and headteacher may read it (`ViewAuditLog`). The log is
//! append-only (the store has no way to change a record and the database refuses `UPDATE` and
//! `DELETE` on it), and this page only reads. Records hold text from outside (search filters
//! quote what was typed), so they are shown through askama's escaping like everything else.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use hedgerow_accounts::Permission;
use hedgerow_store::{AuditQuery, Cursor, StoreError};
use serde::Deserialize;

use crate::AdminApp;
use crate::explorer::{link, local_time_field, local_time_precise, page_size_field, text_field};
use crate::frame::{Frame, Staff, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[("GET", "/audit")];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new().route("/audit", get(audit_log))
}

/// The audit page's filters, as the browser sends them (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuditForm {
    /// A staff user name (or a component such as `system:retention`).
    actor: String,
    /// An action, or the start of several: `activity` finds `activity.read` and
    /// `activity.export`.
    action: String,
    from: String,
    to: String,
    per_page: String,
    after: String,
}

/// The actions the filter suggests, with what each means.
const ACTIONS: &[(&str, &str)] = &[
    ("activity", "Any view, export or purge of browsing"),
    ("activity.read", "Views of browsing (explorer, timelines)"),
    ("activity.export", "Exports of browsing"),
    (
        "activity.purge",
        "Browsing removed after the retention period",
    ),
    ("policy", "Any policy change, approval, rejection or revert"),
    ("review", "Review requests decided and annual reviews"),
    (
        "account",
        "Staff accounts: created, roles, passwords, second factor",
    ),
    ("check", "Checks and their follow-up"),
    ("contact", "The roles and contacts register"),
    ("change_control", "Which changes need a second person"),
];

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditTemplate {
    frame: Frame,
    actor: String,
    action: String,
    from: String,
    to: String,
    per_page: u32,
    actions: &'static [(&'static str, &'static str)],
    errors: Vec<String>,
    records: Vec<RecordView>,
    older_href: Option<String>,
    newest_href: Option<String>,
}

struct RecordView {
    at: String,
    time: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    from_addr: Option<String>,
}

async fn audit_log(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    form: Result<Query<AuditForm>, QueryRejection>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewAuditLog) {
        return r;
    }
    let mut errors = Vec::new();
    let form = match form {
        Ok(Query(form)) => form,
        Err(e) => {
            errors.push(format!(
                "The filter could not be read ({}). Choose it again below.",
                e.body_text()
            ));
            AuditForm::default()
        }
    };
    let mut query = AuditQuery::school(staff.school, 50);
    query.actor = text_field("Who", &form.actor, 200, &mut errors);
    query.action = text_field("Action", &form.action, 100, &mut errors);
    query.since = local_time_field(&app.zone, "From", &form.from, &mut errors);
    query.until = local_time_field(&app.zone, "To", &form.to, &mut errors);
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since >= until
    {
        errors.push("“From” must be earlier than “To”. Swap them or widen the period.".into());
    }
    query.page_size = page_size_field(&form.per_page, &mut errors);
    match form.after.trim() {
        "" => {}
        after => match after.parse::<Cursor>() {
            Ok(cursor) => query.page = Some(cursor),
            Err(_) => errors.push(
                "The page link is damaged or out of date. Filter again to start from the newest records."
                    .into(),
            ),
        },
    }

    let mut records = Vec::new();
    let mut older_href = None;
    let mut newest_href = None;
    if errors.is_empty() {
        match app.store.audit_search(&query).await {
            Ok(page) => {
                let per_page = query.page_size.to_string();
                let mut pairs = vec![
                    ("actor", form.actor.trim()),
                    ("action", form.action.trim()),
                    ("from", form.from.trim()),
                    ("to", form.to.trim()),
                ];
                if query.page_size != 50 {
                    pairs.push(("per_page", &per_page));
                }
                older_href = page.next.map(|cursor| {
                    let cursor = cursor.to_string();
                    let mut pairs = pairs.clone();
                    pairs.push(("after", &cursor));
                    link("/audit", &pairs)
                });
                newest_href = query.page.is_some().then(|| link("/audit", &pairs));
                records = page
                    .records
                    .into_iter()
                    .map(|r| RecordView {
                        at: r.entry.at.to_string(),
                        time: local_time_precise(&app.zone, r.entry.at),
                        actor: r.entry.actor,
                        action: r.entry.action,
                        target: r.entry.target,
                        detail: r.entry.detail,
                        from_addr: r.entry.from_addr,
                    })
                    .collect();
            }
            Err(StoreError::InvalidInput { problem, .. }) => {
                errors.push(format!("The filter cannot be used: {problem}."));
            }
            Err(e) => return server_error("reading the audit log", e),
        }
    }
    let failed = !errors.is_empty();
    let mut response = render(&AuditTemplate {
        frame: staff.frame("/audit"),
        actor: form.actor,
        action: form.action,
        from: form.from,
        to: form.to,
        per_page: query.page_size,
        actions: ACTIONS,
        errors,
        records,
        older_href,
        newest_href,
    });
    if failed && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}
