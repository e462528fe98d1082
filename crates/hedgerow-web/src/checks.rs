//! The check log: when filtering and monitoring were checked, by whom, what was tested on which
//! group or device, how, the result and the follow-up (DfE filtering standard: regular checks,
//! recorded). Checks made by hand are recorded with a form; the built-in self-test runs from a
//! button here and records itself (through [`crate::GatewayControl::run_self_test`], so it
//! tests the policy the gateway enforces). Governors read the log; those who run checks write.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_store::{CheckEntry, CheckId, CheckMethod, CheckResult, NewCheck, StoreError};
use jiff::Timestamp;
use serde::Deserialize;

use crate::AdminApp;
use crate::frame::{Frame, Staff, not_found, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/checks"),
    ("POST", "/checks"),
    ("POST", "/checks/self-test"),
    ("GET", "/checks/{id}"),
    ("POST", "/checks/{id}/follow-up"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/checks", get(log).post(record_manual))
        .route("/checks/self-test", post(self_test))
        .route("/checks/{id}", get(detail))
        .route("/checks/{id}/follow-up", post(follow_up_done))
}

/// Checks shown per page of the log.
const PAGE_SIZE: u32 = 25;

/// One check as the pages show it.
struct CheckRow {
    id: i64,
    at: String,
    by: String,
    what: String,
    target: String,
    method: &'static str,
    result: &'static str,
    details: String,
    follow_up: Option<String>,
    /// "Done 3 Mar 2026 10:00 by jo", when it is.
    follow_up_done: Option<String>,
}

fn method_word(method: CheckMethod) -> &'static str {
    match method {
        CheckMethod::Manual => "By hand",
        CheckMethod::SelfTest => "Built-in self-test",
    }
}

fn result_word(result: CheckResult) -> &'static str {
    match result {
        CheckResult::Pass => "Pass",
        CheckResult::Fail => "Fail",
        CheckResult::Partial => "Partial",
    }
}

impl CheckRow {
    fn from(app: &AdminApp, entry: &CheckEntry) -> CheckRow {
        let check = &entry.check;
        CheckRow {
            id: entry.id.0,
            at: app.local_time(check.at),
            by: check.checked_by.clone(),
            what: check.what.clone(),
            target: check.target.clone(),
            method: method_word(check.method),
            result: result_word(check.result),
            details: check.details.clone(),
            follow_up: check.follow_up.clone(),
            follow_up_done: entry.follow_up_done_at.map(|at| {
                format!(
                    "Done {} by {}",
                    app.local_time(at),
                    entry.follow_up_done_by.as_deref().unwrap_or("someone")
                )
            }),
        }
    }
}

/// What the manual-check form held, to fill it in again when it is refused.
#[derive(Default, Deserialize)]
struct ManualForm {
    #[serde(default)]
    what: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    target_other: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    follow_up: String,
}

#[derive(Template)]
#[template(path = "checks.html")]
struct LogTemplate {
    frame: Frame,
    message: Option<String>,
    can_run: bool,
    checks: Vec<CheckRow>,
    page: u32,
    pages: u32,
    total: u64,
    /// The choices of group or device, with whether the form had it chosen.
    targets: Vec<(String, bool)>,
    form: ManualForm,
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

async fn log(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<PageQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewChecks) {
        return r;
    }
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    log_page(
        &app,
        &staff,
        page,
        None,
        ManualForm::default(),
        StatusCode::OK,
    )
    .await
}

/// The check log's page `page`, with a message (an error, usually) and the form as given.
async fn log_page(
    app: &AdminApp,
    staff: &Staff,
    page: u32,
    message: Option<String>,
    form: ManualForm,
    status: StatusCode,
) -> Response {
    let total = match app.store.count_checks(staff.school).await {
        Ok(n) => n,
        Err(e) => return server_error("counting checks", e),
    };
    let pages = u32::try_from(total.div_ceil(u64::from(PAGE_SIZE)))
        .unwrap_or(u32::MAX)
        .max(1);
    let page = page.min(pages);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let checks = match app.store.checks(staff.school, offset, PAGE_SIZE).await {
        Ok(list) => list.iter().map(|e| CheckRow::from(app, e)).collect(),
        Err(e) => return server_error("reading the check log", e),
    };
    let can_run = staff.can(Permission::RunChecks);
    let targets = if can_run {
        match targets(app, staff).await {
            Ok(t) => t
                .into_iter()
                .map(|value| {
                    let selected = value == form.target;
                    (value, selected)
                })
                .collect(),
            Err(r) => return r,
        }
    } else {
        Vec::new()
    };
    let mut response = render(&LogTemplate {
        frame: staff.frame("/checks"),
        message,
        can_run,
        checks,
        page,
        pages,
        total,
        targets,
        form,
    });
    if status != StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// What a check can be made on: every group, each group and each device.
async fn targets(app: &AdminApp, staff: &Staff) -> Result<Vec<String>, Response> {
    let mut targets = vec!["Every group".to_string()];
    // The policy in force names the groups; without it the form still works with
    // "something else".
    if let Ok(policy) = app.control.policy(&staff.school_slug) {
        targets.extend(
            policy
                .groups
                .iter()
                .map(|g| format!("Group {} ({})", g.key, g.name)),
        );
    }
    let devices = app
        .store
        .devices(staff.school)
        .await
        .map_err(|e| server_error("reading devices", e))?;
    targets.extend(devices.iter().map(|d| format!("Device {}", d.name)));
    Ok(targets)
}

/// Nothing but spaces counts as nothing.
fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

async fn record_manual(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    form: Result<Form<ManualForm>, FormRejection>,
) -> Response {
    let form = match staff.accept(Permission::RunChecks, form) {
        Ok(form) => form,
        Err(r) => return r,
    };
    let refuse = |message: String, form: ManualForm| {
        let app = Arc::clone(&app);
        let staff = &staff;
        async move { log_page(&app, staff, 1, Some(message), form, StatusCode::BAD_REQUEST).await }
    };
    let Some(what) = given(&form.what) else {
        return refuse(
            "Say what was tested (for example \"Tried gambling and adult sites from a KS2 iPad\")."
                .into(),
            form,
        )
        .await;
    };
    let Some(target) = given(&form.target_other).or_else(|| given(&form.target)) else {
        return refuse(
            "Choose the group or device the check was made on, or describe it under \"Something else\".".into(),
            form,
        )
        .await;
    };
    let Some(result) = CheckResult::parse(form.result.trim()) else {
        return refuse("Choose a result: pass, fail or partial.".into(), form).await;
    };
    let check = NewCheck {
        school: staff.school,
        at: Timestamp::now(),
        checked_by: staff.actor(),
        what,
        target,
        method: CheckMethod::Manual,
        result,
        details: form.details.trim().to_string(),
        follow_up: given(&form.follow_up),
    };
    match app.store.add_check(&check).await {
        Ok(id) => Redirect::to(&format!("/checks/{id}")).into_response(),
        Err(e @ StoreError::InvalidInput { .. }) => {
            refuse(format!("The check was not recorded: {e}."), form).await
        }
        Err(e) => server_error("recording a check", e),
    }
}

async fn self_test(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::RunChecks) {
        return r;
    }
    match app
        .control
        .run_self_test(&staff.school_slug, &staff.actor())
        .await
    {
        Ok(id) => Redirect::to(&format!("/checks/{id}")).into_response(),
        Err(message) => {
            log_page(
                &app,
                &staff,
                1,
                Some(format!(
                    "The self-test could not be run: {message}. Try again in a minute; if it keeps failing, tell the network manager."
                )),
                ManualForm::default(),
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
    }
}

/// A check of this school by id.
async fn find_check(app: &AdminApp, staff: &Staff, id: CheckId) -> Result<CheckEntry, Response> {
    match app.store.check(staff.school, id).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(not_found("check")),
        Err(e) => Err(server_error("reading the check log", e)),
    }
}

fn check_id(text: &str) -> Option<CheckId> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(CheckId)
}

#[derive(Template)]
#[template(path = "check.html")]
struct DetailTemplate {
    frame: Frame,
    message: Option<String>,
    can_run: bool,
    check: CheckRow,
}

async fn detail(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewChecks) {
        return r;
    }
    let Some(id) = check_id(&id) else {
        return not_found("check");
    };
    let entry = match find_check(&app, &staff, id).await {
        Ok(entry) => entry,
        Err(r) => return r,
    };
    render(&DetailTemplate {
        frame: staff.frame("/checks"),
        message: None,
        can_run: staff.can(Permission::RunChecks),
        check: CheckRow::from(&app, &entry),
    })
}

async fn follow_up_done(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::RunChecks) {
        return r;
    }
    let Some(id) = check_id(&id) else {
        return not_found("check");
    };
    match app
        .store
        .complete_check_follow_up(staff.school, id, Timestamp::now(), &staff.acting())
        .await
    {
        Ok(true) => Redirect::to(&format!("/checks/{id}")).into_response(),
        Ok(false) => {
            // Not this school's, no follow-up, or already done: say which.
            let entry = match find_check(&app, &staff, id).await {
                Ok(entry) => entry,
                Err(r) => return r,
            };
            let message = if entry.check.follow_up.is_none() {
                "This check has no follow-up to mark done."
            } else {
                "This follow-up was already marked done."
            };
            let mut response = render(&DetailTemplate {
                frame: staff.frame("/checks"),
                message: Some(message.into()),
                can_run: true,
                check: CheckRow::from(&app, &entry),
            });
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
        Err(e) => server_error("marking a follow-up done", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_paths_are_positive_numbers() {
        assert_eq!(check_id("12"), Some(CheckId(12)));
        assert_eq!(check_id("0"), None);
        assert_eq!(check_id("-3"), None);
        assert_eq!(check_id("self-test"), None);
        assert_eq!(check_id("<script>"), None);
    }

    #[test]
    fn blank_fields_count_as_not_given() {
        assert_eq!(given("  "), None);
        assert_eq!(given(" KS2 iPad "), Some("KS2 iPad".into()));
    }
}
