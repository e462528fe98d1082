//! Review requests: pupils and staff ask from the block page ("this should not be blocked"),
//! teachers ask here ("allow this for my class this lesson"); the DSL, a deputy or the
//! online-safety lead approve one for chosen groups and a time (this lesson, today, until a
//! date, permanently) or decline it with a reason. Each decision is a change-control entry:
//! an approval is a site override checked by the gateway like any other change (so nothing can
//! allow illegal content) that follows the approval rules, expires by itself, and is live in
//! the DNS filter and the proxy before the page answers; a decline is recorded with its reason.
//! Requesters who are staff see their requests' outcomes here.
//!
//! What a decision, a teacher's request and the lesson-length setting do is written once here
//! ([`pending_request`], [`access_until`], [`approve_request`], [`class_target`],
//! [`class_request`], [`lesson_minutes`], [`set_lesson_minutes`]) and called both by these
//! pages and by the JSON API, which differ only in how they read the input and answer.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_policy::change::{ChangeVerdict, PolicyChange};
use hedgerow_store::{
    NewPolicyChange, NewReviewRequest, PolicyChangeRecord, ReviewKind, ReviewRequest,
    ReviewRequestId, ReviewStatus, SchoolId, StoreError, Verdict,
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
/// The longest lesson the setting takes, in minutes.
pub(crate) const MAX_LESSON_MINUTES: i64 = 600;

/// Why a review-request action was not done, for the page or the API to say in its own way.
#[derive(Debug)]
pub(crate) enum RequestError {
    /// There is no such request in the school.
    NotFound,
    /// The request has been decided already.
    AlreadyDecided,
    /// The input is not acceptable; the sentence says what to do.
    Invalid(String),
    /// The store failed or refused while doing `what`.
    Store(&'static str, StoreError),
}

/// How long "this lesson" lasts in this school, in minutes (60 unless set).
pub(crate) async fn lesson_minutes(app: &AdminApp, school: SchoolId) -> Result<i64, StoreError> {
    Ok(app
        .store
        .setting(school, LESSON_SETTING)
        .await?
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|m| (1..=MAX_LESSON_MINUTES).contains(m))
        .unwrap_or(DEFAULT_LESSON_MINUTES))
}

async fn page_lesson_minutes(app: &AdminApp, staff: &Staff) -> Result<i64, Response> {
    lesson_minutes(app, staff.school)
        .await
        .map_err(|e| server_error("reading a setting", e))
}

/// Sets how long "this lesson" lasts (1 to 600 minutes; `None` when what was sent is not a
/// whole number) and audits it.
pub(crate) async fn set_lesson_minutes(
    app: &AdminApp,
    staff: &Staff,
    minutes: Option<i64>,
) -> Result<i64, RequestError> {
    let minutes = match minutes {
        Some(m) if (1..=MAX_LESSON_MINUTES).contains(&m) => m,
        _ => {
            return Err(RequestError::Invalid(
                "A lesson lasts between 1 and 600 minutes. Enter a whole number of minutes.".into(),
            ));
        }
    };
    app.store
        .set_setting(staff.school, LESSON_SETTING, &minutes.to_string())
        .await
        .map_err(|e| RequestError::Store("saving a setting", e))?;
    app.store
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
        .map_err(|e| RequestError::Store("writing the audit log", e))?;
    Ok(minutes)
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
    let lesson_minutes = match page_lesson_minutes(&app, &staff).await {
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

/// When a teacher wants a site for their class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClassWhen {
    Lesson,
    Today,
}

/// The address a teacher asked for, with `https://` added when no scheme was given, and its
/// host; or a sentence saying it is not a web address.
pub(crate) fn class_target(url: &str) -> Result<(String, String), String> {
    let with_scheme = if url.contains("://") {
        url.to_owned()
    } else {
        format!("https://{url}")
    };
    match hedgerow_lists::Target::parse(&with_scheme) {
        Ok(target) => Ok((with_scheme, target.host.to_string())),
        Err(e) => Err(format!(
            "{url:?} is not a web address ({e}). Copy it from the browser's address bar."
        )),
    }
}

/// A teacher's request for a site for their class, as the queue keeps it: the group and the
/// time asked for go into the comment the reviewer reads.
pub(crate) fn class_request(
    staff: &Staff,
    (url, host): (String, String),
    group: Option<&str>,
    when: ClassWhen,
    comment: &str,
) -> NewReviewRequest {
    let when = match when {
        ClassWhen::Today => "today",
        ClassWhen::Lesson => "this lesson",
    };
    let group = group.unwrap_or("(not given)");
    NewReviewRequest {
        school: staff.school,
        created_at: Timestamp::now(),
        requested_by_user: Some(staff.account.username.clone()),
        device: None,
        client_addr: staff.peer,
        url,
        host,
        kind: ReviewKind::ShouldNotBeBlocked,
        verdict_at_request: Verdict::Block,
        category: None,
        rule: None,
        comment: format!("For {group}, {when}: {comment}"),
    }
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
    let url = match fields.required("url", "The address", NewReviewRequest::MAX_URL_CHARS) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let target = match class_target(&url) {
        Ok(target) => target,
        Err(e) => return bad_request(e),
    };
    let comment = match fields.required("comment", "What the class needs it for", 1_500) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let when = match fields.get("when") {
        Some("today") => ClassWhen::Today,
        _ => ClassWhen::Lesson,
    };
    let request = class_request(&staff, target, fields.get("group"), when, &comment);
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
    let minutes = fields
        .get("lesson_minutes")
        .and_then(|m| m.parse::<i64>().ok());
    match set_lesson_minutes(&app, &staff, minutes).await {
        Ok(_) => Redirect::to("/requests").into_response(),
        Err(e) => page_refusal(e),
    }
}

/// A refusal as the pages show it.
fn page_refusal(e: RequestError) -> Response {
    match e {
        RequestError::NotFound => not_found("review request"),
        RequestError::AlreadyDecided => bad_request(
            "This request has already been decided. Reload the requests page to see the outcome.",
        ),
        RequestError::Invalid(message) => bad_request(message),
        RequestError::Store(what, e @ StoreError::InvalidInput { .. }) => store_refusal(what, e),
        RequestError::Store(what, e) => server_error(what, e),
    }
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

/// A request of this school still waiting for a decision.
pub(crate) async fn pending_request(
    app: &AdminApp,
    school: SchoolId,
    id: i64,
) -> Result<ReviewRequest, RequestError> {
    match app.store.review_request(school, ReviewRequestId(id)).await {
        Ok(Some(r)) if r.status == ReviewStatus::New => Ok(r),
        Ok(Some(_)) => Err(RequestError::AlreadyDecided),
        Ok(None) => Err(RequestError::NotFound),
        Err(e) => Err(RequestError::Store("reading a review request", e)),
    }
}

/// How long an approval lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccessFor {
    /// As long as the school's lesson setting says, from now.
    Lesson,
    /// Until midnight tonight, in the school's zone.
    Today,
    /// Until a date (the end of that day) or a date and time.
    Until,
    /// Until someone removes it.
    Permanent,
}

impl AccessFor {
    pub(crate) fn parse(text: &str) -> Option<AccessFor> {
        match text {
            "lesson" => Some(AccessFor::Lesson),
            "today" => Some(AccessFor::Today),
            "until" => Some(AccessFor::Until),
            "permanent" => Some(AccessFor::Permanent),
            _ => None,
        }
    }
}

/// When an approval made `now` ends (`None`: permanently). `until` is read for
/// [`AccessFor::Until`] only: a date (access to the end of that day) or a local date and time.
pub(crate) async fn access_until(
    app: &AdminApp,
    school: SchoolId,
    access: Option<AccessFor>,
    until: Option<&str>,
    now: Timestamp,
) -> Result<Option<Timestamp>, RequestError> {
    match access {
        Some(AccessFor::Lesson) => {
            let minutes = lesson_minutes(app, school)
                .await
                .map_err(|e| RequestError::Store("reading a setting", e))?;
            Ok(Some(now + SignedDuration::from_mins(minutes)))
        }
        Some(AccessFor::Today) => {
            let today = now.to_zoned_datetime(app.zone.clone()).date();
            local_moment(&today.to_string(), &app.zone)
                .map(Some)
                .map_err(RequestError::Invalid)
        }
        Some(AccessFor::Until) => match until.map(|t| local_moment(t, &app.zone)) {
            Some(Ok(t)) if t > now => Ok(Some(t)),
            Some(Ok(_)) => Err(RequestError::Invalid(
                "That date has passed. Choose a later one.".into(),
            )),
            Some(Err(e)) => Err(RequestError::Invalid(e)),
            None => Err(RequestError::Invalid(
                "Choose the date the access should end.".into(),
            )),
        },
        Some(AccessFor::Permanent) => Ok(None),
        None => Err(RequestError::Invalid(
            "Choose how long: this lesson, today, until a date, or permanently.".into(),
        )),
    }
}

/// An approval recorded, and whether it is in force yet.
pub(crate) struct Approved {
    pub(crate) record: PolicyChangeRecord,
    /// Why the gateway could not bring it into force at once (its next check will).
    pub(crate) not_yet_in_force: Option<String>,
}

/// Approves `request` for `groups` (every group when empty) until `until`, with the decider's
/// `note`: a site override, checked by the gateway first (so nothing can allow illegal content
/// this way either), recorded as proposed by the requester and decided by `staff` in one
/// transaction with the request's decision, then brought into force.
pub(crate) async fn approve_request(
    app: &AdminApp,
    staff: &Staff,
    request: &ReviewRequest,
    groups: Vec<String>,
    until: Option<Timestamp>,
    note: &str,
    now: Timestamp,
) -> Result<Approved, RequestError> {
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
    let preview = app
        .control
        .preview(&staff.school_slug, &change)
        .map_err(|e| RequestError::Invalid(format!("The request was not approved: {e}.")))?;
    let record = app
        .store
        .approve_review_request(
            request.id,
            &NewPolicyChange {
                school: staff.school,
                // The person who asked proposed it; the one deciding is the second person.
                created_by: requester(request),
                reason: if request.request.comment.is_empty() {
                    note.to_owned()
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
            Some(note),
            now,
        )
        .await
        .map_err(|e| RequestError::Store("approving a review request", e))?;
    let not_yet_in_force = app.control.refresh().await.err();
    Ok(Approved {
        record,
        not_yet_in_force,
    })
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
    let request = match pending_request(&app, staff.school, id).await {
        Ok(r) => r,
        Err(e) => return page_refusal(e),
    };
    let note = match fields.required("note", "The reason for the decision", MAX_REASON) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let now = Timestamp::now();
    let access = fields.get("for").and_then(AccessFor::parse);
    let until = match access_until(&app, staff.school, access, fields.get("until"), now).await {
        Ok(until) => until,
        Err(e) => return page_refusal(e),
    };
    let approved = match approve_request(
        &app,
        &staff,
        &request,
        fields.all("groups"),
        until,
        &note,
        now,
    )
    .await
    {
        Ok(approved) => approved,
        Err(e) => return page_refusal(e),
    };
    if let Some(e) = approved.not_yet_in_force {
        return server_error("bringing the change into force", e);
    }
    Redirect::to(&format!("/changes/{}", approved.record.id)).into_response()
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
    let request = match pending_request(&app, staff.school, id).await {
        Ok(r) => r,
        Err(e) => return page_refusal(e),
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
