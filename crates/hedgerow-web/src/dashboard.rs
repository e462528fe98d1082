//! The dashboard: this week's figures without names (so governors may see them), what is
//! waiting (requests, changes to approve), and when checks and the annual review are due.
//! Teachers, who see no school-wide figures, see their own requests instead.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_store::{ChangeFilter, ChangeStatus, ReviewStatus};
use jiff::{SignedDuration, Timestamp};

use crate::AdminApp;

pub(crate) const ROUTES: &[(&str, &str)] = &[("GET", "/"), ("POST", "/school")];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/", get(dashboard))
        .route("/school", post(switch_school))
}
use crate::frame::{Frame, Staff, render, server_error};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardTemplate {
    frame: Frame,
    aggregates: Option<Figures>,
    pending_requests: Option<usize>,
    pending_changes: Option<u64>,
    last_check: Option<String>,
    review_due: Option<String>,
    review_overdue: bool,
    own_requests: Vec<(String, String)>,
}

struct Figures {
    today_blocked: u64,
    week_total: u64,
    week_blocked: u64,
    week_circumvention: u64,
    by_category: Vec<(String, u64)>,
    by_group: Vec<(String, u64)>,
    top_hosts: Vec<(String, u64)>,
}

fn pairs(counts: &[hedgerow_store::Count]) -> Vec<(String, u64)> {
    counts
        .iter()
        .map(|c| (c.key.clone().unwrap_or_else(|| "(none)".into()), c.count))
        .collect()
}

async fn dashboard(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::ViewDashboard) {
        return r;
    }
    let now = Timestamp::now();
    let aggregates = if staff.can(Permission::ViewAggregates) {
        let week = match app
            .store
            .activity_summary(
                staff.school,
                now - SignedDuration::from_hours(24 * 7),
                now,
                10,
            )
            .await
        {
            Ok(s) => s,
            Err(e) => return server_error("summarising activity", e),
        };
        let midnight = now
            .to_zoned_datetime(app.zone.clone())
            .start_of_day()
            .map(|z| z.timestamp())
            .unwrap_or(now);
        let today = match app
            .store
            .activity_summary(staff.school, midnight, now, 1)
            .await
        {
            Ok(s) => s,
            Err(e) => return server_error("summarising activity", e),
        };
        Some(Figures {
            today_blocked: today.blocked_events,
            week_total: week.total_events,
            week_blocked: week.blocked_events,
            week_circumvention: week.circumvention_attempts,
            by_category: pairs(&week.blocks_by_category),
            by_group: pairs(&week.blocks_by_group),
            top_hosts: pairs(&week.top_blocked_hosts),
        })
    } else {
        None
    };
    let pending_requests = if staff.can(Permission::ReviewRequests) {
        match app
            .store
            .review_requests(staff.school, Some(ReviewStatus::New), 500)
            .await
        {
            Ok(list) => Some(list.len()),
            Err(e) => return server_error("reading review requests", e),
        }
    } else {
        None
    };
    let pending_changes = if staff.can(Permission::ApprovePolicyChange) {
        let mut filter = ChangeFilter::school(staff.school);
        filter.status = Some(ChangeStatus::PendingApproval);
        match app.store.count_changes(&filter).await {
            Ok(n) => Some(n),
            Err(e) => return server_error("counting changes", e),
        }
    } else {
        None
    };
    let (last_check, review_due, review_overdue) = if staff.can(Permission::ViewChecks) {
        let checks = match app.store.checks(staff.school, 0, 1).await {
            Ok(c) => c,
            Err(e) => return server_error("reading checks", e),
        };
        let due = match app.store.next_review_due(staff.school).await {
            Ok(d) => d,
            Err(e) => return server_error("reading reviews", e),
        };
        let today = now.to_zoned_datetime(app.zone.clone()).date();
        (
            checks.first().map(|c| app.local_time(c.check.at)),
            Some(
                due.map(|d| d.strftime("%-d %B %Y").to_string())
                    .unwrap_or_else(|| "now: no review is recorded yet".into()),
            ),
            due.is_none_or(|d| d <= today),
        )
    } else {
        (None, None, false)
    };
    let own_requests = if staff.can(Permission::ViewOwnRequests) {
        match app.store.review_requests(staff.school, None, 200).await {
            Ok(list) => list
                .into_iter()
                .filter(|r| r.request.requested_by_user.as_deref() == Some(&staff.account.username))
                .take(10)
                .map(|r| (r.request.url.clone(), r.status.to_string()))
                .collect(),
            Err(e) => return server_error("reading review requests", e),
        }
    } else {
        Vec::new()
    };
    render(&DashboardTemplate {
        frame: staff.frame("/"),
        aggregates,
        pending_requests,
        pending_changes,
        last_check,
        review_due,
        review_overdue,
        own_requests,
    })
}

/// A trust-wide account chooses the school it works in; kept in its session.
async fn switch_school(staff: Staff, Form(fields): Form<Vec<(String, String)>>) -> Response {
    if let Err(r) = staff.require(Permission::AllSchools) {
        return r;
    }
    let fields = crate::form::Fields(fields);
    let Some(slug) = fields.get("school") else {
        return crate::frame::bad_request("Choose a school from the list.");
    };
    if !staff.schools.iter().any(|(s, _)| s == slug) {
        return crate::frame::bad_request(format!(
            "There is no school {slug:?}. Choose one from the list."
        ));
    }
    let Some(session) = staff.session() else {
        return crate::frame::bad_request("Choosing a school needs a browser session.");
    };
    if let Err(e) = session.insert(crate::frame::SCHOOL_KEY, slug).await {
        return server_error("saving a session", e);
    }
    Redirect::to("/").into_response()
}
