//! Review requests through the API beyond listing and declining: approving one for groups and
//! a time, and a teacher asking for a site for their class. Both call the requests page's own
//! functions ([`crate::requests`]), so the checks, the change recorded and its wording are the
//! page's; only how the input is read and the answer given differ.

use std::sync::Arc;

use axum::extract::State;
use hedgerow_accounts::Permission;
use hedgerow_store::{NewReviewRequest, StoreError};
use jiff::Timestamp;
use serde::Deserialize;
use tracing::warn;

use super::policy::ChangeJson;
use super::records::ReviewRequestJson;
use super::{
    ApiError, ApiPath, ApiResult, ApiStaff, JsonBody, check_field, created, optional_field, require,
};
use crate::AdminApp;
use crate::policy::MAX_REASON;
use crate::requests::{
    AccessFor, ClassWhen, RequestError, access_until, approve_request, class_request, class_target,
    pending_request,
};

/// The longest group key taken (group keys in the configuration are short words).
const MAX_GROUP_CHARS: usize = 100;
/// The most groups one approval names.
const MAX_GROUPS: usize = 100;
/// The longest comment a teacher's request keeps (the page's limit).
const MAX_COMMENT: usize = 1_500;

/// A refusal from the requests page's functions, as the API says it.
pub(super) fn request_error(e: RequestError) -> ApiError {
    match e {
        RequestError::NotFound => ApiError::not_found("review request"),
        RequestError::AlreadyDecided => ApiError::conflict(
            "This review request has already been decided. List the review requests to see the outcome.",
        ),
        RequestError::Invalid(message) => ApiError::unprocessable(message),
        // Someone decided it between our reading it and the store's recording the decision.
        RequestError::Store(
            _,
            StoreError::InvalidInput {
                field: "review request",
                ..
            },
        ) => ApiError::conflict("Someone decided this review request a moment ago."),
        RequestError::Store(what, e) => ApiError::store(what, e),
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum ForField {
    Lesson,
    Today,
    Until,
    Permanent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApproveBody {
    #[serde(default)]
    groups: Vec<String>,
    #[serde(rename = "for")]
    access: ForField,
    until: Option<String>,
    note: String,
}

/// `POST /api/v1/review-requests/{id}/approve`: allow (or, for a "should be blocked" request,
/// block) the request's site for the chosen groups (every group when none are named) for this
/// lesson, today, until a date, or permanently. Checked by the gateway like any change,
/// recorded as proposed by the requester and approved by the caller, and brought into force.
pub(super) async fn approve_review_request(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    JsonBody(body): JsonBody<ApproveBody>,
) -> ApiResult {
    require(&staff, Permission::ReviewRequests)?;
    check_field("note", &body.note, MAX_REASON, false)?;
    if body.groups.len() > MAX_GROUPS {
        return Err(ApiError::unprocessable(format!(
            "groups names more than {MAX_GROUPS} groups. Name fewer, or none for every group."
        )));
    }
    for group in &body.groups {
        check_field("groups", group, MAX_GROUP_CHARS, false)?;
    }
    let until = optional_field("until", body.until, 100, false)?;
    let request = pending_request(&app, staff.school, id)
        .await
        .map_err(request_error)?;
    let access = match body.access {
        ForField::Lesson => AccessFor::Lesson,
        ForField::Today => AccessFor::Today,
        ForField::Until => AccessFor::Until,
        ForField::Permanent => AccessFor::Permanent,
    };
    let now = Timestamp::now();
    let until = access_until(&app, staff.school, Some(access), until.as_deref(), now)
        .await
        .map_err(request_error)?;
    let groups = body.groups.iter().map(|g| g.trim().to_owned()).collect();
    let approved = approve_request(&app, &staff, &request, groups, until, body.note.trim(), now)
        .await
        .map_err(request_error)?;
    // Recorded either way; if the gateway could not rebuild its policy at once, its next
    // check (within seconds) does, so the answer stands.
    if let Some(e) = approved.not_yet_in_force {
        warn!("API: the policy could not be rebuilt at once (the next check will): {e}");
    }
    created(&ChangeJson::from(approved.record))
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum WhenField {
    Lesson,
    Today,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AskBody {
    url: String,
    group: Option<String>,
    when: WhenField,
    comment: String,
}

/// `POST /api/v1/review-requests`: ask for a site for your class, this lesson or today. It
/// joins the queue as the requests page's form would put it there.
pub(super) async fn ask_for_class(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<AskBody>,
) -> ApiResult {
    require(&staff, Permission::RequestAccessForClass)?;
    check_field("url", &body.url, NewReviewRequest::MAX_URL_CHARS, false)?;
    let target = class_target(body.url.trim()).map_err(ApiError::unprocessable)?;
    check_field("comment", &body.comment, MAX_COMMENT, true)?;
    let group = optional_field("group", body.group, MAX_GROUP_CHARS, false)?;
    let when = match body.when {
        WhenField::Lesson => ClassWhen::Lesson,
        WhenField::Today => ClassWhen::Today,
    };
    let request = class_request(
        &staff,
        target,
        group.as_deref().map(str::trim),
        when,
        body.comment.trim(),
    );
    let id = app
        .store
        .insert_review_request(&request)
        .await
        .map_err(|e| ApiError::store("saving a review request", e))?;
    let saved = app
        .store
        .review_request(staff.school, id)
        .await
        .map_err(|e| ApiError::store("reading a review request", e))?
        .ok_or_else(|| ApiError::unavailable("reading back a review request", id))?;
    created(&ReviewRequestJson::from(saved))
}
