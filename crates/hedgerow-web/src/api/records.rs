//! The rest of what the pages do, through the API: who the token is (`/me`), the dashboard's
//! figures (aggregates only), the audit log, review requests (list, decline; approving and
//! asking are in [`super::requests`]), the check log
//! (list, record, run the self-test, mark a follow-up done), annual reviews (list, record,
//! mark an action done) and the roles and contacts register.
//!
//! Changes are audited by the store in the same transaction where it does so; a manual check,
//! which the store records without an audit entry, is audited here straight after.

use std::sync::Arc;

use axum::extract::State;
use hedgerow_accounts::Permission;
use hedgerow_store::{
    ActivitySummary, AnnualReview, AuditEntry, ChangeFilter, ChangeStatus, CheckEntry, CheckId,
    CheckMethod, CheckResult, Contact, ContactDetails, ContactId, ContactRole, Count,
    NewAnnualReview, NewCheck, NewReviewAction, ReviewActionId, ReviewParticipant, ReviewRequest,
    ReviewRequestId, ReviewStatus, StoreError, admin_limits,
};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::policy::ChangeJson;
use super::{
    ApiError, ApiPath, ApiQuery, ApiResult, ApiStaff, JsonBody, check_field, created, no_content,
    ok, optional_field, require, text_param, time_param,
};
use crate::AdminApp;
use crate::frame::Staff;

// ---------------------------------------------------------------------------------------------
// Who is asking
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct MeJson {
    username: String,
    display_name: String,
    roles: Vec<&'static str>,
    permissions: Vec<String>,
    school: SchoolJson,
}

#[derive(Serialize)]
struct SchoolJson {
    id: i64,
    slug: String,
}

/// `GET /api/v1/me`: the account the token acts as, its roles and what they allow.
pub(super) async fn me(ApiStaff(staff): ApiStaff) -> ApiResult {
    ok(&MeJson {
        username: staff.account.username.clone(),
        display_name: staff.account.display_name.clone(),
        roles: staff.roles.iter().map(|r| r.key()).collect(),
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| staff.can(*p))
            .map(|p| format!("{p:?}"))
            .collect(),
        school: SchoolJson {
            id: staff.school.0,
            slug: staff.school_slug.clone(),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Dashboard figures
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct CountJson {
    key: Option<String>,
    count: u64,
}

fn counts(counts: Vec<Count>) -> Vec<CountJson> {
    counts
        .into_iter()
        .map(|c| CountJson {
            key: c.key,
            count: c.count,
        })
        .collect()
}

#[derive(Serialize)]
struct SummaryJson {
    since: Timestamp,
    until: Timestamp,
    total_events: u64,
    blocked_events: u64,
    circumvention_attempts: u64,
    blocks_by_category: Vec<CountJson>,
    blocks_by_group: Vec<CountJson>,
    top_blocked_hosts: Vec<CountJson>,
    blocked_today: u64,
    /// Only for those who decide review requests.
    pending_review_requests: Option<usize>,
    /// Only for those who approve changes.
    pending_changes: Option<u64>,
    /// Only for those who read the check log.
    last_check_at: Option<Timestamp>,
    next_review_due: Option<Date>,
    review_overdue: Option<bool>,
}

#[derive(Deserialize)]
pub(super) struct SummaryParams {
    since: Option<String>,
    until: Option<String>,
    top: Option<u32>,
}

/// `GET /api/v1/summary`: the dashboard's figures for a period (the last seven days unless
/// told otherwise). Counts only: no person is named, so governors may read it.
pub(super) async fn summary(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> ApiResult {
    require(&staff, Permission::ViewAggregates)?;
    let now = Timestamp::now();
    let until = time_param("until", &params.until)?.unwrap_or(now);
    let since = match time_param("since", &params.since)? {
        Some(since) => since,
        None => until
            .checked_sub(SignedDuration::from_hours(24 * 7))
            .map_err(|_| ApiError::bad_request("until is too early; give a later time."))?,
    };
    let top = params.top.unwrap_or(10);
    if !(1..=100).contains(&top) {
        return Err(ApiError::bad_request("top must be between 1 and 100."));
    }
    let period: ActivitySummary = app
        .store
        .activity_summary(staff.school, since, until, top)
        .await
        .map_err(|e| ApiError::store("summarising activity", e))?;
    let midnight = now
        .to_zoned_datetime(app.zone.clone())
        .start_of_day()
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let today = app
        .store
        .activity_summary(staff.school, midnight, now, 1)
        .await
        .map_err(|e| ApiError::store("summarising activity", e))?;
    let pending_review_requests = if staff.can(Permission::ReviewRequests) {
        let waiting = app
            .store
            .review_requests(staff.school, Some(ReviewStatus::New), 1_000)
            .await
            .map_err(|e| ApiError::store("reading review requests", e))?;
        Some(waiting.len())
    } else {
        None
    };
    let pending_changes = if staff.can(Permission::ApprovePolicyChange) {
        let mut filter = ChangeFilter::school(staff.school);
        filter.status = Some(ChangeStatus::PendingApproval);
        Some(
            app.store
                .count_changes(&filter)
                .await
                .map_err(|e| ApiError::store("counting changes", e))?,
        )
    } else {
        None
    };
    let (last_check_at, next_review_due, review_overdue) = if staff.can(Permission::ViewChecks) {
        let last = app
            .store
            .checks(staff.school, 0, 1)
            .await
            .map_err(|e| ApiError::store("reading checks", e))?;
        let due = app
            .store
            .next_review_due(staff.school)
            .await
            .map_err(|e| ApiError::store("reading reviews", e))?;
        let today = now.to_zoned_datetime(app.zone.clone()).date();
        (
            last.first().map(|c| c.check.at),
            due,
            Some(due.is_none_or(|d| d <= today)),
        )
    } else {
        (None, None, None)
    };
    ok(&SummaryJson {
        since,
        until,
        total_events: period.total_events,
        blocked_events: period.blocked_events,
        circumvention_attempts: period.circumvention_attempts,
        blocks_by_category: counts(period.blocks_by_category),
        blocks_by_group: counts(period.blocks_by_group),
        top_blocked_hosts: counts(period.top_blocked_hosts),
        blocked_today: today.blocked_events,
        pending_review_requests,
        pending_changes,
        last_check_at,
        next_review_due,
        review_overdue,
    })
}

// ---------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct AuditJson {
    id: i64,
    at: Timestamp,
    actor: String,
    action: String,
    target: String,
    detail: String,
    from_addr: Option<String>,
}

#[derive(Serialize)]
struct AuditPageJson {
    entries: Vec<AuditJson>,
}

#[derive(Deserialize)]
pub(super) struct LimitParams {
    limit: Option<u32>,
}

/// `GET /api/v1/audit`: the school's newest audit records.
pub(super) async fn audit(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiQuery(params): ApiQuery<LimitParams>,
) -> ApiResult {
    require(&staff, Permission::ViewAuditLog)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000."));
    }
    let entries = app
        .store
        .audit_entries(Some(staff.school), limit)
        .await
        .map_err(|e| ApiError::store("reading the audit log", e))?;
    ok(&AuditPageJson {
        entries: entries
            .into_iter()
            .map(|r| AuditJson {
                id: r.id,
                at: r.entry.at,
                actor: r.entry.actor,
                action: r.entry.action,
                target: r.entry.target,
                detail: r.entry.detail,
                from_addr: r.entry.from_addr,
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Review requests
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct ReviewRequestJson {
    id: i64,
    created_at: Timestamp,
    requested_by_user: Option<String>,
    device: Option<String>,
    client_addr: String,
    url: String,
    host: String,
    kind: &'static str,
    verdict_at_request: &'static str,
    category: Option<String>,
    rule: Option<String>,
    comment: String,
    status: &'static str,
    decided_by: Option<String>,
    decided_at: Option<Timestamp>,
    decision_note: Option<String>,
}

impl From<ReviewRequest> for ReviewRequestJson {
    fn from(r: ReviewRequest) -> ReviewRequestJson {
        let q = r.request;
        ReviewRequestJson {
            id: r.id.0,
            created_at: q.created_at,
            requested_by_user: q.requested_by_user,
            device: q.device,
            client_addr: q.client_addr.to_string(),
            url: q.url,
            host: q.host,
            kind: q.kind.as_str(),
            verdict_at_request: q.verdict_at_request.as_str(),
            category: q.category,
            rule: q.rule,
            comment: q.comment,
            status: r.status.as_str(),
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            decision_note: r.decision_note,
        }
    }
}

#[derive(Serialize)]
struct ReviewRequestPageJson {
    requests: Vec<ReviewRequestJson>,
}

#[derive(Deserialize)]
pub(super) struct ReviewRequestParams {
    status: Option<String>,
    limit: Option<u32>,
}

/// The most review requests one call lists.
const MAX_REVIEW_REQUESTS: u32 = 1_000;

/// `GET /api/v1/review-requests`: the queue, newest first (all, or of one status).
pub(super) async fn review_requests(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiQuery(params): ApiQuery<ReviewRequestParams>,
) -> ApiResult {
    require(&staff, Permission::ReviewRequests)?;
    let status = text_param("status", &params.status)?
        .map(|s| {
            ReviewStatus::parse(&s).ok_or_else(|| {
                ApiError::bad_request(format!("status {s:?} is not new, approved or declined."))
            })
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_REVIEW_REQUESTS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_REVIEW_REQUESTS}."
        )));
    }
    let requests = app
        .store
        .review_requests(staff.school, status, limit)
        .await
        .map_err(|e| ApiError::store("reading review requests", e))?;
    ok(&ReviewRequestPageJson {
        requests: requests.into_iter().map(ReviewRequestJson::from).collect(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonBody {
    reason: String,
}

/// `POST /api/v1/review-requests/{id}/decline`: leave the page as it is, with a reason the
/// requester sees; recorded as a change-log entry.
pub(super) async fn decline_review_request(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> ApiResult {
    require(&staff, Permission::ReviewRequests)?;
    check_field("reason", &body.reason, 2_000, false)?;
    let waiting = app
        .store
        .review_requests(staff.school, Some(ReviewStatus::New), MAX_REVIEW_REQUESTS)
        .await
        .map_err(|e| ApiError::store("reading review requests", e))?;
    let Some(request) = waiting.into_iter().find(|r| r.id.0 == id) else {
        return Err(ApiError::not_found(
            "undecided review request (it may have been decided already)",
        ));
    };
    let diff = format!(
        "review request {id} declined: {} left as it is",
        request.request.url
    );
    let record = app
        .store
        .decline_review_request(
            staff.school,
            ReviewRequestId(id),
            &staff.actor(),
            body.reason.trim(),
            &diff,
            Timestamp::now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::InvalidInput {
                field: "review request",
                ..
            } => ApiError::conflict("Someone decided this review request a moment ago."),
            other => ApiError::store("declining a review request", other),
        })?;
    ok(&ChangeJson::from(record))
}

// ---------------------------------------------------------------------------------------------
// Check log
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct CheckJson {
    id: i64,
    at: Timestamp,
    checked_by: String,
    what: String,
    target: String,
    method: &'static str,
    result: &'static str,
    details: String,
    follow_up: Option<String>,
    follow_up_done_at: Option<Timestamp>,
    follow_up_done_by: Option<String>,
}

impl From<CheckEntry> for CheckJson {
    fn from(c: CheckEntry) -> CheckJson {
        CheckJson {
            id: c.id.0,
            at: c.check.at,
            checked_by: c.check.checked_by,
            what: c.check.what,
            target: c.check.target,
            method: c.check.method.as_str(),
            result: c.check.result.as_str(),
            details: c.check.details,
            follow_up: c.check.follow_up,
            follow_up_done_at: c.follow_up_done_at,
            follow_up_done_by: c.follow_up_done_by,
        }
    }
}

#[derive(Serialize)]
struct CheckPageJson {
    total: u64,
    limit: u32,
    offset: u32,
    checks: Vec<CheckJson>,
}

#[derive(Deserialize)]
pub(super) struct PageParams {
    limit: Option<u32>,
    offset: Option<u32>,
}

/// `GET /api/v1/checks`: the check log, newest first.
pub(super) async fn checks(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult {
    require(&staff, Permission::ViewChecks)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=admin_limits::CHECK_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}.",
            admin_limits::CHECK_PAGE
        )));
    }
    let offset = params.offset.unwrap_or(0);
    let total = app
        .store
        .count_checks(staff.school)
        .await
        .map_err(|e| ApiError::store("counting checks", e))?;
    let checks = app
        .store
        .checks(staff.school, offset, limit)
        .await
        .map_err(|e| ApiError::store("reading checks", e))?;
    ok(&CheckPageJson {
        total,
        limit,
        offset,
        checks: checks.into_iter().map(CheckJson::from).collect(),
    })
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum ResultField {
    Pass,
    Fail,
    Partial,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckBody {
    at: Option<Timestamp>,
    what: String,
    target: String,
    result: ResultField,
    details: Option<String>,
    follow_up: Option<String>,
}

/// `POST /api/v1/checks`: record a check made by hand.
pub(super) async fn add_check(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<CheckBody>,
) -> ApiResult {
    require(&staff, Permission::RunChecks)?;
    let now = Timestamp::now();
    let at = body.at.unwrap_or(now);
    if at > now + SignedDuration::from_mins(5) {
        return Err(ApiError::unprocessable(
            "The check's time is in the future. Give when it was made, or leave at out for now.",
        ));
    }
    check_field("what", &body.what, admin_limits::CHECK_WHAT, false)?;
    check_field("target", &body.target, admin_limits::CHECK_WHAT, false)?;
    let details = optional_field("details", body.details, admin_limits::CHECK_DETAILS, true)?;
    let follow_up = optional_field("follow_up", body.follow_up, admin_limits::NOTE, true)?;
    let check = NewCheck {
        school: staff.school,
        at,
        checked_by: staff.actor(),
        what: body.what.trim().to_owned(),
        target: body.target.trim().to_owned(),
        method: CheckMethod::Manual,
        result: match body.result {
            ResultField::Pass => CheckResult::Pass,
            ResultField::Fail => CheckResult::Fail,
            ResultField::Partial => CheckResult::Partial,
        },
        details: details.unwrap_or_default(),
        follow_up,
    };
    let id = app
        .store
        .add_check(&check)
        .await
        .map_err(|e| ApiError::store("recording a check", e))?;
    audit_change(&app, &staff, "check.add", &format!("check:{id}"), &{
        format!("{}: {}", check.result, check.what)
    })
    .await;
    created(&CheckJson::from(CheckEntry {
        id,
        check,
        follow_up_done_at: None,
        follow_up_done_by: None,
    }))
}

/// Writes an audit record for a change the store does not audit itself. The change is made
/// by then, so a failure here is logged rather than reported as the change failing.
async fn audit_change(app: &AdminApp, staff: &Staff, action: &str, target: &str, detail: &str) {
    let entry = AuditEntry {
        school: Some(staff.school),
        at: Timestamp::now(),
        actor: staff.actor(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: detail.to_owned(),
        from_addr: Some(staff.peer.to_string()),
    };
    if let Err(e) = app.store.append_audit(&entry).await {
        warn!("API: {action} on {target} was not audited: {e}");
    }
}

/// `POST /api/v1/checks/self-test`: run the built-in self-test now and record it.
pub(super) async fn self_test(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
) -> ApiResult {
    require(&staff, Permission::RunChecks)?;
    let id: CheckId = app
        .control
        .run_self_test(&staff.school_slug, &staff.actor())
        .await
        .map_err(|e| {
            warn!("API: the self-test did not run: {e}");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "The self-test could not run: {e}. Try again in a minute; if it keeps failing, the gateway's log says more."
                ),
            )
        })?;
    let check = app
        .store
        .check(staff.school, id)
        .await
        .map_err(|e| ApiError::store("reading checks", e))?
        .ok_or_else(|| ApiError::unavailable("reading back the self-test", id))?;
    created(&CheckJson::from(check))
}

/// `POST /api/v1/checks/{id}/follow-up-done`: the follow-up of a check has been done.
pub(super) async fn check_follow_up_done(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    require(&staff, Permission::RunChecks)?;
    let done = app
        .store
        .complete_check_follow_up(staff.school, CheckId(id), Timestamp::now(), &staff.acting())
        .await
        .map_err(|e| ApiError::store("marking a follow-up done", e))?;
    if done {
        no_content()
    } else {
        Err(ApiError::not_found(
            "check with a follow-up still to do (it may be done already)",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Annual reviews
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct ParticipantJson {
    name: String,
    role: String,
}

#[derive(Serialize)]
struct ActionJson {
    id: i64,
    action: String,
    owner: String,
    due_on: Option<Date>,
    done_at: Option<Timestamp>,
    done_by: Option<String>,
}

#[derive(Serialize)]
struct ReviewJson {
    id: i64,
    held_on: Date,
    participants: Vec<ParticipantJson>,
    findings: String,
    next_due: Date,
    actions: Vec<ActionJson>,
    recorded_by: String,
    recorded_at: Timestamp,
}

impl From<AnnualReview> for ReviewJson {
    fn from(r: AnnualReview) -> ReviewJson {
        ReviewJson {
            id: r.id.0,
            held_on: r.held_on,
            participants: r
                .participants
                .into_iter()
                .map(|p| ParticipantJson {
                    name: p.name,
                    role: p.role,
                })
                .collect(),
            findings: r.findings,
            next_due: r.next_due,
            actions: r
                .actions
                .into_iter()
                .map(|a| ActionJson {
                    id: a.id.0,
                    action: a.action.action,
                    owner: a.action.owner,
                    due_on: a.action.due_on,
                    done_at: a.done_at,
                    done_by: a.done_by,
                })
                .collect(),
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        }
    }
}

#[derive(Serialize)]
struct ReviewPageJson {
    next_due: Option<Date>,
    overdue: bool,
    reviews: Vec<ReviewJson>,
}

/// `GET /api/v1/annual-reviews`: every annual review, newest first, and when the next is due.
pub(super) async fn annual_reviews(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
) -> ApiResult {
    require(&staff, Permission::ViewChecks)?;
    let reviews = app
        .store
        .annual_reviews(staff.school)
        .await
        .map_err(|e| ApiError::store("reading annual reviews", e))?;
    let next_due = reviews.first().map(|r| r.next_due);
    let today = Timestamp::now().to_zoned_datetime(app.zone.clone()).date();
    ok(&ReviewPageJson {
        next_due,
        overdue: next_due.is_none_or(|d| d <= today),
        reviews: reviews.into_iter().map(ReviewJson::from).collect(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ParticipantBody {
    name: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActionBody {
    action: String,
    owner: String,
    due_on: Option<Date>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReviewBody {
    held_on: Date,
    participants: Vec<ParticipantBody>,
    findings: String,
    next_due: Date,
    #[serde(default)]
    actions: Vec<ActionBody>,
}

/// `POST /api/v1/annual-reviews`: record an annual review (a governor must have taken part).
pub(super) async fn add_annual_review(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<ReviewBody>,
) -> ApiResult {
    require(&staff, Permission::EditAnnualReview)?;
    let review = NewAnnualReview {
        school: staff.school,
        held_on: body.held_on,
        participants: body
            .participants
            .into_iter()
            .map(|p| ReviewParticipant {
                name: p.name.trim().to_owned(),
                role: p.role.trim().to_owned(),
            })
            .collect(),
        findings: body.findings,
        next_due: body.next_due,
        actions: body
            .actions
            .into_iter()
            .map(|a| NewReviewAction {
                action: a.action,
                owner: a.owner.trim().to_owned(),
                due_on: a.due_on,
            })
            .collect(),
    };
    let id = app
        .store
        .add_annual_review(&review, &staff.acting())
        .await
        .map_err(|e| ApiError::store("recording an annual review", e))?;
    let saved = app
        .store
        .annual_reviews(staff.school)
        .await
        .map_err(|e| ApiError::store("reading annual reviews", e))?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::unavailable("reading back an annual review", id))?;
    created(&ReviewJson::from(saved))
}

/// `POST /api/v1/annual-reviews/actions/{id}/done`: an action agreed at a review is done.
pub(super) async fn review_action_done(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    require(&staff, Permission::EditAnnualReview)?;
    let done = app
        .store
        .complete_review_action(
            staff.school,
            ReviewActionId(id),
            Timestamp::now(),
            &staff.acting(),
        )
        .await
        .map_err(|e| ApiError::store("marking a review action done", e))?;
    if done {
        no_content()
    } else {
        Err(ApiError::not_found(
            "review action still to do (it may be done already)",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Roles and contacts register
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct ContactJson {
    id: i64,
    role: &'static str,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    updated_by: String,
    updated_at: Timestamp,
}

impl From<Contact> for ContactJson {
    fn from(c: Contact) -> ContactJson {
        ContactJson {
            id: c.id.0,
            role: c.details.role.as_str(),
            name: c.details.name,
            email: c.details.email,
            phone: c.details.phone,
            notes: c.details.notes,
            updated_by: c.updated_by,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Serialize)]
struct ContactPageJson {
    contacts: Vec<ContactJson>,
}

/// `GET /api/v1/contacts`: the register, in role order.
pub(super) async fn contacts(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
) -> ApiResult {
    require(&staff, Permission::ViewDashboard)?;
    let contacts = app
        .store
        .contacts(staff.school)
        .await
        .map_err(|e| ApiError::store("reading the contacts register", e))?;
    ok(&ContactPageJson {
        contacts: contacts.into_iter().map(ContactJson::from).collect(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContactBody {
    role: String,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
}

impl ContactBody {
    fn details(self) -> Result<ContactDetails, ApiError> {
        let role = ContactRole::parse(self.role.trim()).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "role {:?} is not one of {}.",
                self.role,
                ContactRole::ALL.map(|r| r.as_str()).join(", ")
            ))
        })?;
        check_field("name", &self.name, admin_limits::NAME, false)?;
        Ok(ContactDetails {
            role,
            name: self.name.trim().to_owned(),
            email: optional_field("email", self.email, admin_limits::EMAIL, false)?
                .map(|e| e.trim().to_owned()),
            phone: optional_field("phone", self.phone, admin_limits::PHONE, false)?
                .map(|p| p.trim().to_owned()),
            notes: optional_field("notes", self.notes, admin_limits::NOTE, true)?,
        })
    }
}

async fn saved_contact(app: &AdminApp, staff: &Staff, id: ContactId) -> Result<Contact, ApiError> {
    app.store
        .contacts(staff.school)
        .await
        .map_err(|e| ApiError::store("reading the contacts register", e))?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("contact"))
}

/// `POST /api/v1/contacts`: add someone to the register.
pub(super) async fn add_contact(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<ContactBody>,
) -> ApiResult {
    require(&staff, Permission::ManageContacts)?;
    let details = body.details()?;
    let id = app
        .store
        .set_contact(staff.school, None, &details, &staff.acting())
        .await
        .map_err(|e| ApiError::store("saving a contact", e))?
        .ok_or_else(|| ApiError::unavailable("saving a contact", "no row was written"))?;
    created(&ContactJson::from(saved_contact(&app, &staff, id).await?))
}

/// `PUT /api/v1/contacts/{id}`: replace a register entry.
pub(super) async fn replace_contact(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    JsonBody(body): JsonBody<ContactBody>,
) -> ApiResult {
    require(&staff, Permission::ManageContacts)?;
    let details = body.details()?;
    let id = app
        .store
        .set_contact(staff.school, Some(ContactId(id)), &details, &staff.acting())
        .await
        .map_err(|e| ApiError::store("saving a contact", e))?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    ok(&ContactJson::from(saved_contact(&app, &staff, id).await?))
}

/// `DELETE /api/v1/contacts/{id}`: remove a register entry.
pub(super) async fn remove_contact(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    require(&staff, Permission::ManageContacts)?;
    let removed = app
        .store
        .remove_contact(staff.school, ContactId(id), &staff.acting())
        .await
        .map_err(|e| ApiError::store("removing a contact", e))?;
    if removed {
        no_content()
    } else {
        Err(ApiError::not_found("contact"))
    }
}
