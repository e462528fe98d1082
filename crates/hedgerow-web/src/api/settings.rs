//! The school's settings that the pages keep, through the API: how long "this lesson" lasts
//! for review-request approvals (the requests page), and which kinds of policy change wait for
//! a second person's approval (the policy page). Read and set with the pages' own functions.

use std::sync::Arc;

use axum::extract::State;
use hedgerow_accounts::Permission;
use serde::{Deserialize, Serialize};

use super::requests::request_error;
use super::{ApiError, ApiResult, ApiStaff, JsonBody, ok, require, require_any};
use crate::AdminApp;
use crate::frame::Staff;
use crate::policy::{RulesError, approval_choices, set_approval_rules};
use crate::requests::{lesson_minutes, set_lesson_minutes};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LessonJson {
    lesson_minutes: i64,
}

/// `GET /api/v1/settings/lesson-minutes`: how long "this lesson" lasts, in minutes.
pub(super) async fn get_lesson_minutes(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
) -> ApiResult {
    require(&staff, Permission::ReviewRequests)?;
    let minutes = lesson_minutes(&app, staff.school)
        .await
        .map_err(|e| ApiError::store("reading a setting", e))?;
    ok(&LessonJson {
        lesson_minutes: minutes,
    })
}

/// `PUT /api/v1/settings/lesson-minutes`: set it (1 to 600 minutes); audited.
pub(super) async fn put_lesson_minutes(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<LessonJson>,
) -> ApiResult {
    require(&staff, Permission::ReviewRequests)?;
    let minutes = set_lesson_minutes(&app, &staff, Some(body.lesson_minutes))
        .await
        .map_err(request_error)?;
    ok(&LessonJson {
        lesson_minutes: minutes,
    })
}

#[derive(Serialize)]
struct KindJson {
    kind: &'static str,
    description: &'static str,
    requires_approval: bool,
}

#[derive(Serialize)]
struct ApprovalRulesJson {
    /// The kinds that wait for a second person, in the order of `kinds`.
    requires_approval: Vec<&'static str>,
    /// Every kind of change, what it means, and whether it waits.
    kinds: Vec<KindJson>,
}

async fn approval_rules_json(app: &AdminApp, staff: &Staff) -> ApiResult {
    let rules = app
        .store
        .approval_rules(staff.school)
        .await
        .map_err(|e| ApiError::store("reading the approval rules", e))?;
    let kinds: Vec<KindJson> = approval_choices(&rules)
        .into_iter()
        .map(|(kind, description, requires_approval)| KindJson {
            kind,
            description,
            requires_approval,
        })
        .collect();
    ok(&ApprovalRulesJson {
        requires_approval: kinds
            .iter()
            .filter(|k| k.requires_approval)
            .map(|k| k.kind)
            .collect(),
        kinds,
    })
}

/// `GET /api/v1/settings/approval-rules`: which kinds of change wait for a second person.
pub(super) async fn get_approval_rules(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
) -> ApiResult {
    require_any(
        &staff,
        &[Permission::EditPolicy, Permission::ApprovePolicyChange],
    )?;
    approval_rules_json(&app, &staff).await
}

/// The most kinds one request names (there are six; repeats are held once).
const MAX_KINDS: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApprovalRulesBody {
    requires_approval: Vec<String>,
}

/// `PUT /api/v1/settings/approval-rules`: set the kinds that wait (an empty list: none);
/// audited.
pub(super) async fn put_approval_rules(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<ApprovalRulesBody>,
) -> ApiResult {
    require(&staff, Permission::ApprovePolicyChange)?;
    if body.requires_approval.len() > MAX_KINDS {
        return Err(ApiError::unprocessable(format!(
            "requires_approval names more than {MAX_KINDS} kinds. Name each kind once."
        )));
    }
    set_approval_rules(&app, &staff, &body.requires_approval)
        .await
        .map_err(|e| match e {
            RulesError::UnknownKind(message) => ApiError::unprocessable(format!(
                "{message} Use the kinds GET /api/v1/settings/approval-rules lists."
            )),
            RulesError::Store(e) => ApiError::store("saving the approval rules", e),
        })?;
    approval_rules_json(&app, &staff).await
}
