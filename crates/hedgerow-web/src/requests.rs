//! Review requests: pupils and staff ask from the block page ("this should not be blocked"),
//! teachers ask here ("allow this for my class this lesson"); the DSL, a deputy or the
//! online-safety lead approve one for chosen groups and a time (this lesson, today, until a
//! date, permanently) or decline it with a reason. Each decision is a change-control entry:
//! an approval is a site override checked by the gateway like any other change (so nothing can
//! allow illegal content) that follows the approval rules, expires by itself, and is live in
//! the DNS filter and the proxy before the page answers; a decline is recorded with its reason.
//! Requesters who are staff see their requests' outcomes here.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_policy::change::{ChangeVerdict, PolicyChange};
use hedgerow_store::{
    NewPolicyChange, NewReviewRequest, ReviewKind, ReviewRequest, ReviewRequestId, ReviewStatus,
    Verdict,
};
use jiff::{SignedDuration, Timestamp};

use crate::AdminApp;
use crate::changes::store_refusal;
use crate::form::{Fields, local_moment};
use crate::frame::{Frame, Staff, bad_request, forbidden, not_found, render, server_error};
use crate::policy::MAX_REASON;

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/requests"),
    ("POST", "/requests"),
    ("POST", "/requests/settings"),
    ("POST", "/requests/{id}/approve"),
    ("POST", "/requests/{id}/decline"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/requests", get(requests_page).post(ask))
        .route("/requests/settings", post(settings))
        .route("/requests/{id}/approve", post(approve))
        .route("/requests/{id}/decline", post(decline))
}

/// The per-school setting holding how long "this lesson" lasts, in minutes.
pub(crate) const LESSON_SETTING: &str = "review.lesson_minutes";
const DEFAULT_LESSON_MINUTES: i64 = 60;

async fn lesson_minutes(app: &AdminApp, staff: &Staff) -> Result<i64, Response> {
    match app.store.setting(staff.school, LESSON_SETTING).await {
        Ok(value) => Ok(value
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|m| (1..=600).contains(m))
            .unwrap_or(DEFAULT_LESSON_MINUTES)),
        Err(e) => Err(server_error("reading a setting", e)),
    }
}

struct RequestView {
    id: i64,
    when: String,
    who: String,
    url: String,
    host: String,
    asks: &'static str,
    category: String,
    comment: String,
    status: String,
    decided: String,
    group: Option<String>,
}

fn view(app: &AdminApp, r: &ReviewRequest, group: Option<String>) -> RequestView {
    let who = match (&r.request.requested_by_user, &r.request.device) {
        (Some(user), _) => user.clone(),
        (None, Some(device)) => format!("device {device}"),
        (None, None) => format!("address {}", r.request.client_addr),
    };
    RequestView {
        id: r.id.0,
        when: app.local_time(r.request.created_at),
        who,
        url: r.request.url.clone(),
        host: r.request.host.clone(),
        asks: match r.request.kind {
            ReviewKind::ShouldNotBeBlocked => "unblock",
            ReviewKind::ShouldBeBlocked => "block",
        },
        category: r.request.category.clone().unwrap_or_default(),
        comment: r.request.comment.clone(),
        status: r.status.to_string(),
        decided: match (&r.decided_by, r.decided_at) {
            (Some(by), Some(at)) => format!(
                "{by}, {}{}",
                app.local_time(at),
                r.decision_note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
            _ => String::new(),
        },
        group,
    }
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsTemplate {
    frame: Frame,
    can_review: bool,
    can_ask: bool,
    queue: Vec<RequestView>,
    decided: Vec<RequestView>,
    own: Vec<RequestView>,
    group_keys: Vec<String>,
    lesson_minutes: i64,
}

async fn requests_page(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    let can_review = staff.can(Permission::ReviewRequests);
    let can_ask = staff.can(Permission::RequestAccessForClass);
    if !can_review && !can_ask && !staff.can(Permission::ViewOwnRequests) {
        return forbidden(Permission::ReviewRequests);
    }
    let group_keys = match app.control.policy(&staff.school_slug) {
        Ok(spec) => spec.groups.iter().map(|g| g.key.clone()).collect(),
        Err(e) => return server_error("reading the policy in force", e),
    };
    let all = match app.store.review_requests(staff.school, None, 500).await {
        Ok(all) => all,
        Err(e) => return server_error("reading review requests", e),
    };
    let mut queue = Vec::new();
    let mut decided = Vec::new();
    if can_review {
        for r in all.iter() {
            if r.status == ReviewStatus::New {
                // The requester's own group is ticked first, when the requester is known.
                let group = match &r.request.requested_by_user {
                    Some(user) => match app.store.user(staff.school, user).await {
                        Ok(found) => found.map(|u| u.group_key),
                        Err(e) => return server_error("reading a user", e),
                    },
                    None => None,
                };
                queue.push(view(&app, r, group));
            } else if decided.len() < 20 {
                decided.push(view(&app, r, None));
            }
        }
    }
    let own = all
        .iter()
        .filter(|r| r.request.requested_by_user.as_deref() == Some(staff.account.username.as_str()))
        .map(|r| view(&app, r, None))
        .collect();
    let lesson_minutes = match lesson_minutes(&app, &staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    render(&RequestsTemplate {
        frame: staff.frame("/requests"),
        can_review,
        can_ask,
        queue,
        decided,
        own,
        group_keys,
        lesson_minutes,
    })
}

/// A teacher asks for a site for their class.
async fn ask(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::RequestAccessForClass) {
        return r;
    }
    let fields = Fields(fields);
    if let Err(r) = staff.check_csrf(fields.csrf()) {
        return r;
    }
    let url = match fields.required("url", "The address", NewReviewRequest::MAX_URL_CHARS) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let with_scheme = if url.contains("://") {
        url.clone()
    } else {
        format!("https://{url}")
    };
    let host = match hedgerow_lists::Target::parse(&with_scheme) {
        Ok(target) => target.host.to_string(),
        Err(e) => {
            return bad_request(format!(
                "{url:?} is not a web address ({e}). Copy it from the browser's address bar."
            ));
        }
    };
    let comment = match fields.required("comment", "What the class needs it for", 1_500) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let when = match fields.get("when") {
        Some("today") => "today",
        _ => "this lesson",
    };
    let group = fields.get("group").unwrap_or("(not given)").to_string();
    let request = NewReviewRequest {
        school: staff.school,
        created_at: Timestamp::now(),
        requested_by_user: Some(staff.account.username.clone()),
        device: None,
        client_addr: staff.peer,
        url: with_scheme,
        host,
        kind: ReviewKind::ShouldNotBeBlocked,
        verdict_at_request: Verdict::Block,
        category: None,
        rule: None,
        comment: format!("For {group}, {when}: {comment}"),
    };
    match app.store.insert_review_request(&request).await {
        Ok(_) => Redirect::to("/requests#own").into_response(),
        Err(e) => store_refusal("saving a review request", e),
    }
}

async fn settings(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::ReviewRequests) {
        return r;
    }
    let fields = Fields(fields);
    if let Err(r) = staff.check_csrf(fields.csrf()) {
        return r;
    }
    let minutes = match fields.get("lesson_minutes").map(str::parse::<i64>) {
        Some(Ok(m)) if (1..=600).contains(&m) => m,
        _ => {
            return bad_request(
                "A lesson lasts between 1 and 600 minutes. Enter a whole number of minutes.",
            );
        }
    };
    if let Err(e) = app
        .store
        .set_setting(staff.school, LESSON_SETTING, &minutes.to_string())
        .await
    {
        return server_error("saving a setting", e);
    }
    if let Err(e) = app
        .store
        .append_audit(&hedgerow_store::AuditEntry {
            school: Some(staff.school),
            at: Timestamp::now(),
            actor: staff.actor(),
            action: "setting.change".into(),
            target: LESSON_SETTING.into(),
            detail: format!("a lesson lasts {minutes} minutes"),
            from_addr: Some(staff.peer.to_string()),
        })
        .await
    {
        return server_error("writing the audit log", e);
    }
    Redirect::to("/requests").into_response()
}

/// Who asked, as the change log names the proposer: the signed-in user, or else the device
/// or address the request came from.
fn requester(request: &ReviewRequest) -> String {
    match (&request.request.requested_by_user, &request.request.device) {
        (Some(user), _) => user.clone(),
        (None, Some(device)) => format!("device:{device}"),
        (None, None) => format!("address:{}", request.request.client_addr),
    }
}

async fn pending_request(
    app: &AdminApp,
    staff: &Staff,
    id: i64,
) -> Result<ReviewRequest, Response> {
    match app
        .store
        .review_request(staff.school, ReviewRequestId(id))
        .await
    {
        Ok(Some(r)) if r.status == ReviewStatus::New => Ok(r),
        Ok(Some(_)) => Err(bad_request(
            "This request has already been decided. Reload the requests page to see the outcome.",
        )),
        Ok(None) => Err(not_found("review request")),
        Err(e) => Err(server_error("reading a review request", e)),
    }
}

async fn approve(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::ReviewRequests) {
        return r;
    }
    let fields = Fields(fields);
    if let Err(r) = staff.check_csrf(fields.csrf()) {
        return r;
    }
    let request = match pending_request(&app, &staff, id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let note = match fields.required("note", "The reason for the decision", MAX_REASON) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let now = Timestamp::now();
    let until = match fields.get("for") {
        Some("lesson") => match lesson_minutes(&app, &staff).await {
            Ok(m) => Some(now + SignedDuration::from_mins(m)),
            Err(r) => return r,
        },
        Some("today") => {
            let today = now.to_zoned_datetime(app.zone.clone()).date();
            match local_moment(&today.to_string(), &app.zone) {
                Ok(t) => Some(t),
                Err(e) => return bad_request(e),
            }
        }
        Some("until") => match fields.get("until").map(|t| local_moment(t, &app.zone)) {
            Some(Ok(t)) if t > now => Some(t),
            Some(Ok(_)) => return bad_request("That date has passed. Choose a later one."),
            Some(Err(e)) => return bad_request(e),
            None => return bad_request("Choose the date the access should end."),
        },
        Some("permanent") => None,
        _ => {
            return bad_request(
                "Choose how long: this lesson, today, until a date, or permanently.",
            );
        }
    };
    let groups = fields.all("groups");
    let change = PolicyChange::SiteOverride {
        host: request.request.host.clone(),
        path: None,
        verdict: match request.request.kind {
            ReviewKind::ShouldNotBeBlocked => ChangeVerdict::Allow,
            ReviewKind::ShouldBeBlocked => ChangeVerdict::Block,
        },
        groups: if groups.is_empty() {
            None
        } else {
            Some(groups)
        },
        until,
    };
    // Checked by the gateway first: an illegal-content entry cannot be allowed this way either.
    let preview = match app.control.preview(&staff.school_slug, &change) {
        Ok(p) => p,
        Err(e) => return bad_request(format!("The request was not approved: {e}.")),
    };
    let record = match app
        .store
        .approve_review_request(
            request.id,
            &NewPolicyChange {
                school: staff.school,
                // The person who asked proposed it; the one deciding is the second person.
                created_by: requester(&request),
                reason: if request.request.comment.is_empty() {
                    note.clone()
                } else {
                    format!("{note} (asked: {})", request.request.comment)
                        .chars()
                        .take(MAX_REASON)
                        .collect()
                },
                kind: preview.kind,
                change: change.to_json(),
                diff: preview.diff,
                applies_until: until,
                source: format!("review-request:{}", request.id),
            },
            &staff.actor(),
            Some(&note),
            now,
        )
        .await
    {
        Ok(record) => record,
        Err(e) => return store_refusal("approving a review request", e),
    };
    if let Err(e) = app.control.refresh().await {
        return server_error("bringing the change into force", e);
    }
    Redirect::to(&format!("/changes/{}", record.id)).into_response()
}

async fn decline(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::ReviewRequests) {
        return r;
    }
    let fields = Fields(fields);
    if let Err(r) = staff.check_csrf(fields.csrf()) {
        return r;
    }
    let request = match pending_request(&app, &staff, id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let reason = match fields.required("note", "The reason for declining", MAX_REASON) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let diff = format!(
        "review request {} about {}: declined, nothing changed",
        request.id, request.request.host
    );
    match app
        .store
        .decline_review_request(
            staff.school,
            request.id,
            &staff.actor(),
            &reason,
            &diff,
            Timestamp::now(),
        )
        .await
    {
        Ok(_) => Redirect::to("/requests").into_response(),
        Err(e) => store_refusal("declining a review request", e),
    }
}
