//! The policy in force and the change log through the API: read the policy (groups, schedules,
//! overrides, sanctions), search the log, propose a change with a reason (checked by the
//! running gateway, which refuses anything that would allow illegal content), and approve,
//! reject or revert one. The store audits each step in the same transaction as the change and
//! refuses self-approval; after a change of state the gateway's policy is rebuilt at once.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use hedgerow_accounts::Permission;
use hedgerow_policy::PolicySpec;
use hedgerow_policy::change::PolicyChange;
use hedgerow_policy::spec::{Action, InspectScope, SanctionKind, Selector, YoutubeRestrict};
use hedgerow_store::{ChangeFilter, ChangeStatus, PolicyChangeId, PolicyChangeRecord};
use jiff::Timestamp;
use jiff::civil::Time;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::warn;

use super::{
    ApiError, ApiPath, ApiQuery, ApiResult, ApiStaff, JsonBody, check_field, created, ok, require,
    require_any, text_param, time_param,
};
use crate::AdminApp;
use crate::frame::Staff;

/// The longest reason the change log keeps.
const MAX_REASON: usize = 2_000;
/// What the change log records as the source of a change made through the API.
const SOURCE: &str = "api";

/// Who may read the change log: those who change or approve the policy, and those who read
/// the check log (the change log is the record of what was decided and why).
const READ_CHANGES: &[Permission] = &[
    Permission::EditPolicy,
    Permission::ApprovePolicyChange,
    Permission::ViewChecks,
];

// ---------------------------------------------------------------------------------------------
// The policy in force
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/policy`: the school's policy as the gateway enforces it now.
pub(super) async fn policy(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
) -> ApiResult {
    require_any(
        &staff,
        &[Permission::EditPolicy, Permission::ApprovePolicyChange],
    )?;
    let spec = app
        .control
        .policy(&staff.school_slug)
        .map_err(|e| ApiError::unavailable("reading the policy in force", e))?;
    ok(&policy_json(&spec))
}

fn action_json(action: &Action) -> Value {
    match action {
        Action::Allow | Action::Block => json!({ "action": action.keyword() }),
        Action::AllowDuring(schedules) => {
            json!({ "action": action.keyword(), "schedules": schedules })
        }
        Action::AllowFor(users) => json!({ "action": action.keyword(), "users": users }),
    }
}

fn time_of_day(time: Time) -> String {
    if time == Time::MAX {
        "24:00".to_owned()
    } else {
        time.strftime("%H:%M").to_string()
    }
}

/// The policy as plain JSON: everything a script needs to know what is allowed for whom.
pub(super) fn policy_json(spec: &PolicySpec) -> Value {
    let groups: Vec<Value> = spec
        .groups
        .iter()
        .map(|g| {
            let actions: Vec<Value> = g
                .actions
                .iter()
                .map(|(selector, action)| {
                    let selector = match selector {
                        Selector::Category(key) => key.clone(),
                        Selector::List(name) => format!("list:{name}"),
                    };
                    let mut entry = action_json(action);
                    entry["selector"] = json!(selector);
                    entry
                })
                .collect();
            let inspect = match &g.web.inspect {
                InspectScope::Nothing => json!({ "scope": "nothing" }),
                InspectScope::All => json!({ "scope": "all" }),
                InspectScope::Categories(keys) => {
                    json!({ "scope": "categories", "categories": keys })
                }
            };
            json!({
                "key": g.key,
                "name": g.name,
                "kind": g.kind.key(),
                "default": action_json(&g.default),
                "actions": actions,
                "search": {
                    "safe_search": g.search.safe_search,
                    "youtube": match g.search.youtube {
                        YoutubeRestrict::Off => "off",
                        YoutubeRestrict::Moderate => "moderate",
                        YoutubeRestrict::Strict => "strict",
                    },
                    "block_unsafe_engines": g.search.block_unsafe_engines,
                },
                "web": {
                    "inspect": inspect,
                    "blocked_file_types": g.web.blocked_file_types,
                    "download_limit_bytes": g.web.download_limit_bytes,
                },
            })
        })
        .collect();
    let schedules: Vec<Value> = spec
        .schedules
        .iter()
        .map(|s| {
            json!({
                "key": s.key,
                "weekdays": s.weekdays.iter().map(|d| format!("{d:?}").to_lowercase()).collect::<Vec<_>>(),
                "school_days": s.school_days,
                "times": s.times.iter().map(|t| json!({
                    "start": time_of_day(t.start),
                    "end": time_of_day(t.end),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let overrides: Vec<Value> = spec
        .overrides
        .iter()
        .map(|o| {
            json!({
                "id": o.id,
                "host": o.host.as_text(),
                "path": o.path,
                "verdict": o.verdict.as_str(),
                "groups": o.groups,
                "until": o.until,
                "by": o.by,
                "reason": o.reason,
            })
        })
        .collect();
    let sanctions: Vec<Value> = spec
        .sanctions
        .iter()
        .map(|s| {
            let (kind, filter_as) = match &s.kind {
                SanctionKind::NoInternet => ("no-internet", None),
                SanctionKind::Restricted { group } => ("restricted", Some(group.clone())),
            };
            json!({
                "id": s.id,
                "username": s.username,
                "kind": kind,
                "filter_as": filter_as,
                "until": s.until,
                "by": s.by,
                "reason": s.reason,
            })
        })
        .collect();
    json!({
        "school": spec.school,
        "school_name": spec.school_name,
        "time_zone": spec.time_zone.iana_name(),
        "unknown_group": spec.unknown_group,
        "groups": groups,
        "schedules": schedules,
        "terms": spec.terms.iter().map(|t| json!({
            "name": t.name, "start": t.start, "end": t.end,
        })).collect::<Vec<_>>(),
        "closures": spec.closures.iter().map(|c| json!({
            "start": c.start, "end": c.end, "reason": c.reason,
        })).collect::<Vec<_>>(),
        "overrides": overrides,
        "sanctions": sanctions,
        "unsafe_search_engines": spec.unsafe_search_engines,
        "online_safety_lead": spec.online_safety_lead,
        "online_safety_contact": spec.online_safety_contact,
    })
}

// ---------------------------------------------------------------------------------------------
// The change log
// ---------------------------------------------------------------------------------------------

/// One entry of the change log as the API shows it.
#[derive(Serialize)]
pub(super) struct ChangeJson {
    id: i64,
    created_at: Timestamp,
    created_by: String,
    reason: String,
    kind: String,
    /// The change as proposed (`PolicyChange`), or null for a declined review request.
    change: Value,
    diff: String,
    status: &'static str,
    source: String,
    applies_until: Option<Timestamp>,
    applied_at: Option<Timestamp>,
    approved_by: Option<String>,
    approved_at: Option<Timestamp>,
    rejected_by: Option<String>,
    rejected_at: Option<Timestamp>,
    rejected_reason: Option<String>,
    reverted_by: Option<String>,
    reverted_at: Option<Timestamp>,
    revert_reason: Option<String>,
}

impl From<PolicyChangeRecord> for ChangeJson {
    fn from(c: PolicyChangeRecord) -> ChangeJson {
        ChangeJson {
            id: c.id.0,
            created_at: c.created_at,
            created_by: c.created_by,
            reason: c.reason,
            kind: c.kind,
            // Stored by the app as JSON; anything unreadable is shown as null, not guessed at.
            change: serde_json::from_str(&c.change).unwrap_or(Value::Null),
            diff: c.diff,
            status: c.status.as_str(),
            source: c.source,
            applies_until: c.applies_until,
            applied_at: c.applied_at,
            approved_by: c.approved_by,
            approved_at: c.approved_at,
            rejected_by: c.rejected_by,
            rejected_at: c.rejected_at,
            rejected_reason: c.rejected_reason,
            reverted_by: c.reverted_by,
            reverted_at: c.reverted_at,
            revert_reason: c.revert_reason,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ChangeParams {
    text: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    person: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
struct ChangePageJson {
    total: u64,
    limit: u32,
    offset: u32,
    changes: Vec<ChangeJson>,
}

/// `GET /api/v1/changes`: the change log, newest first, filtered and paged.
pub(super) async fn changes(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiQuery(params): ApiQuery<ChangeParams>,
) -> ApiResult {
    require_any(&staff, READ_CHANGES)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=ChangeFilter::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}.",
            ChangeFilter::MAX_LIMIT
        )));
    }
    let mut filter = ChangeFilter::school(staff.school);
    filter.text = text_param("text", &params.text)?;
    filter.kind = text_param("kind", &params.kind)?;
    filter.status = text_param("status", &params.status)?
        .map(|s| {
            ChangeStatus::parse(&s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status {s:?} is not one of pending_approval, applied, rejected, expired, reverted."
                ))
            })
        })
        .transpose()?;
    filter.person = text_param("person", &params.person)?;
    filter.since = time_param("since", &params.since)?;
    filter.until = time_param("until", &params.until)?;
    filter.limit = limit;
    filter.offset = params.offset.unwrap_or(0);
    let total = app
        .store
        .count_changes(&filter)
        .await
        .map_err(|e| ApiError::store("counting changes", e))?;
    let found = app
        .store
        .search_changes(&filter)
        .await
        .map_err(|e| ApiError::store("searching changes", e))?;
    ok(&ChangePageJson {
        total,
        limit,
        offset: filter.offset,
        changes: found.into_iter().map(ChangeJson::from).collect(),
    })
}

async fn find(app: &AdminApp, staff: &Staff, id: i64) -> Result<PolicyChangeRecord, ApiError> {
    app.store
        .policy_change(staff.school, PolicyChangeId(id))
        .await
        .map_err(|e| ApiError::store("reading a change", e))?
        .ok_or_else(|| ApiError::not_found("change"))
}

/// `GET /api/v1/changes/{id}`.
pub(super) async fn change(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    require_any(&staff, READ_CHANGES)?;
    ok(&ChangeJson::from(find(&app, &staff, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProposeBody {
    change: PolicyChange,
    reason: String,
}

/// `POST /api/v1/changes`: propose a change; it applies at once, or waits for a second
/// person when the school's approval rules name its kind.
pub(super) async fn propose(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<ProposeBody>,
) -> ApiResult {
    require(&staff, Permission::EditPolicy)?;
    check_field("reason", &body.reason, MAX_REASON, false)?;
    // Checked against the policy in force first, so a refused change says why in the
    // gateway's words before anything is recorded.
    app.control
        .preview(&staff.school_slug, &body.change)
        .map_err(|e| ApiError::unprocessable(format!("The change was not accepted: {e}")))?;
    let record = app
        .control
        .propose(
            &staff.school_slug,
            &body.change,
            &staff.actor(),
            body.reason.trim(),
            SOURCE,
        )
        .await
        .map_err(|e| ApiError::unprocessable(format!("The change was not recorded: {e}")))?;
    created(&ChangeJson::from(record))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonBody {
    reason: String,
}

/// Brings a change of state into force now rather than at the gateway's next check; if that
/// fails, the next check (within seconds) does it, so the answer stands.
async fn refresh(app: &AdminApp) {
    if let Err(e) = app.control.refresh().await {
        warn!("API: the policy could not be rebuilt at once (the next check will): {e}");
    }
}

fn wrong_state(record: &PolicyChangeRecord, wanted: &str) -> ApiError {
    ApiError::conflict(format!(
        "Change {} is {}, not {wanted}. List the change log to see where it stands.",
        record.id,
        record.status.as_str().replace('_', " ")
    ))
}

/// `POST /api/v1/changes/{id}/approve`: a second person approves a pending change.
pub(super) async fn approve(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    require(&staff, Permission::ApprovePolicyChange)?;
    let current = find(&app, &staff, id).await?;
    if current.status != ChangeStatus::PendingApproval {
        return Err(wrong_state(&current, "waiting for approval"));
    }
    if current
        .created_by
        .eq_ignore_ascii_case(staff.account.username.trim())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "You proposed change {id}, so a different person must approve it. Ask another approver."
            ),
        ));
    }
    let record = app
        .store
        .approve_change(staff.school, current.id, &staff.actor(), Timestamp::now())
        .await
        .map_err(|e| state_error("approving a change", e))?;
    refresh(&app).await;
    ok(&ChangeJson::from(record))
}

/// `POST /api/v1/changes/{id}/reject`: refuse a pending change, with a reason.
pub(super) async fn reject(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> ApiResult {
    require(&staff, Permission::ApprovePolicyChange)?;
    check_field("reason", &body.reason, MAX_REASON, false)?;
    let current = find(&app, &staff, id).await?;
    if current.status != ChangeStatus::PendingApproval {
        return Err(wrong_state(&current, "waiting for approval"));
    }
    let record = app
        .store
        .reject_change(
            staff.school,
            current.id,
            &staff.actor(),
            body.reason.trim(),
            Timestamp::now(),
        )
        .await
        .map_err(|e| state_error("rejecting a change", e))?;
    refresh(&app).await;
    ok(&ChangeJson::from(record))
}

/// `POST /api/v1/changes/{id}/revert`: undo an applied change from now on, with a reason.
pub(super) async fn revert(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    JsonBody(body): JsonBody<ReasonBody>,
) -> ApiResult {
    require(&staff, Permission::EditPolicy)?;
    check_field("reason", &body.reason, MAX_REASON, false)?;
    let current = find(&app, &staff, id).await?;
    if current.status != ChangeStatus::Applied {
        return Err(wrong_state(&current, "applied"));
    }
    let record = app
        .store
        .revert_change(
            staff.school,
            current.id,
            &staff.actor(),
            body.reason.trim(),
            Timestamp::now(),
        )
        .await
        .map_err(|e| state_error("reverting a change", e))?;
    refresh(&app).await;
    ok(&ChangeJson::from(record))
}

/// A refusal from the store after the state was checked: someone else acted in between (409),
/// or the store refused the input (422), or it failed (503).
fn state_error(what: &str, e: hedgerow_store::StoreError) -> ApiError {
    match e {
        hedgerow_store::StoreError::InvalidInput {
            field: "policy change",
            problem,
        } => ApiError::conflict(format!(
            "{problem}. List the change log to see where it stands."
        )),
        other => ApiError::store(what, other),
    }
}
