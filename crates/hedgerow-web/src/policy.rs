//! The policy editor: the policy in force (configuration plus the changes in force) shown
//! group by group, and forms for each kind of change: category actions and group defaults,
//! schedules, site overrides and sanctions. Every form needs a reason; every change goes
//! through the gateway's change control (`GatewayControl::propose`), so it is checked against
//! the loaded lists (nothing can allow illegal content), recorded with who, when, the
//! difference and the reason, held for a second person when the school's approval rules say
//! so, and otherwise live in the DNS filter and the proxy before the page answers.
//!
//! The approval rules (which kinds of change wait for a second person) are read and set by
//! [`approval_choices`] and [`set_approval_rules`], which the JSON API calls too.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_policy::change::{ChangeAction, ChangeKind, ChangeVerdict, PolicyChange};
use hedgerow_policy::{GroupKind, SanctionKind, Selector, Verdict};

use crate::AdminApp;
use crate::form::{Fields, local_moment};
use crate::frame::{Frame, Staff, bad_request, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/policy"),
    ("POST", "/policy/change"),
    ("POST", "/policy/approval-rules"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/policy", get(policy_page))
        .route("/policy/change", post(propose))
        .route("/policy/approval-rules", post(approval_rules))
}

/// The longest reason kept (the store's limit too).
pub(crate) const MAX_REASON: usize = 2_000;

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyTemplate {
    frame: Frame,
    school_name: String,
    groups: Vec<GroupView>,
    categories: Vec<(&'static str, String)>,
    schedules: Vec<(String, String)>,
    overrides: Vec<OverrideView>,
    sanctions: Vec<SanctionView>,
    group_keys: Vec<String>,
    approval_kinds: Vec<(&'static str, &'static str, bool)>,
    can_set_rules: bool,
}

struct GroupView {
    key: String,
    name: String,
    kind: &'static str,
    default: String,
    actions: Vec<(String, String)>,
}

struct OverrideView {
    id: String,
    site: String,
    verdict: &'static str,
    groups: String,
    until: String,
    by: String,
    reason: String,
}

struct SanctionView {
    id: String,
    username: String,
    what: String,
    until: String,
    by: String,
    reason: String,
}

fn kind_name(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::Pupil => "pupils",
        GroupKind::Staff => "staff",
        GroupKind::Visitor => "visitors",
        GroupKind::Unidentified => "unidentified devices",
    }
}

/// What each approval-rule kind means, for the settings form and the API.
fn kind_label(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::UnblockForPupils => {
            "Anything that lets pupils or unidentified devices reach more than before"
        }
        ChangeKind::Block => "Blocking a site by hand",
        ChangeKind::Override => "Other site overrides (for staff or visitors)",
        ChangeKind::Sanction => "Sanctions on a user, and lifting them",
        ChangeKind::CategoryAction => {
            "Category actions and defaults that do not loosen pupils' filtering"
        }
        ChangeKind::Schedule => "Schedules no pupils' group is allowed anything by",
        ChangeKind::RiskLibrary => {
            "Monitoring's risk libraries: entries switched off, re-rated or added"
        }
    }
}

async fn policy_page(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::EditPolicy) {
        return r;
    }
    let spec = match app.control.policy(&staff.school_slug) {
        Ok(spec) => spec,
        Err(e) => return server_error("reading the policy in force", e),
    };
    let rules = match app.store.approval_rules(staff.school).await {
        Ok(rules) => rules,
        Err(e) => return server_error("reading the approval rules", e),
    };
    let groups = spec
        .groups
        .iter()
        .map(|g| GroupView {
            key: g.key.clone(),
            name: g.name.clone(),
            kind: kind_name(g.kind),
            default: g.default.to_string(),
            actions: g
                .actions
                .iter()
                .map(|(selector, action)| {
                    let shown = match selector {
                        Selector::Category(key) => hedgerow_lists::category(key)
                            .map_or_else(|| key.clone(), |c| c.name.to_string()),
                        Selector::List(_) => selector.to_string(),
                    };
                    (shown, action.to_string())
                })
                .collect(),
        })
        .collect();
    let categories = hedgerow_lists::CATEGORIES
        .iter()
        .filter(|c| c.kind != hedgerow_lists::CategoryKind::Illegal)
        .map(|c| {
            let name = match c.parent {
                Some(parent) => format!("{} (in {parent})", c.name),
                None => c.name.to_string(),
            };
            (c.key, name)
        })
        .collect();
    let time = |t: jiff::Timestamp| app.local_time(t);
    let overrides = spec
        .overrides
        .iter()
        .map(|o| OverrideView {
            id: o.id.clone(),
            site: format!("{}{}", o.host, o.path.as_deref().unwrap_or("")),
            verdict: match o.verdict {
                Verdict::Allow => "allow",
                Verdict::Block => "block",
            },
            groups: o
                .groups
                .as_ref()
                .map_or_else(|| "every group".into(), |g| g.join(", ")),
            until: o.until.map_or_else(|| "permanently".into(), time),
            by: o.by.clone(),
            reason: o.reason.clone(),
        })
        .collect();
    let sanctions = spec
        .sanctions
        .iter()
        .map(|s| SanctionView {
            id: s.id.clone(),
            username: s.username.clone(),
            what: match &s.kind {
                SanctionKind::NoInternet => "no internet".into(),
                SanctionKind::Restricted { group } => format!("filtered as {group}"),
            },
            until: time(s.until),
            by: s.by.clone(),
            reason: s.reason.clone(),
        })
        .collect();
    render(&PolicyTemplate {
        frame: staff.frame("/policy"),
        school_name: spec.school_name.clone(),
        group_keys: spec.groups.iter().map(|g| g.key.clone()).collect(),
        groups,
        categories,
        schedules: spec
            .schedules
            .iter()
            .map(|s| (s.key.clone(), hedgerow_policy::change::describe_schedule(s)))
            .collect(),
        overrides,
        sanctions,
        approval_kinds: approval_choices(&rules),
        can_set_rules: staff.can(Permission::ApprovePolicyChange),
    })
}

/// Reads one of the editor's forms into a change. The error says which field was wrong.
pub(crate) fn change_from_form(
    fields: &Fields,
    zone: &jiff::tz::TimeZone,
) -> Result<PolicyChange, String> {
    let field = |name: &str, label: &str| {
        fields
            .get(name)
            .map(str::to_string)
            .ok_or_else(|| format!("{label} is missing; fill it in and send the form again"))
    };
    let until = |required: bool| -> Result<Option<jiff::Timestamp>, String> {
        match fields.get("until") {
            Some(text) => {
                let at = local_moment(text, zone)?;
                if at <= jiff::Timestamp::now() {
                    return Err("the end time is in the past; choose a later one".into());
                }
                Ok(Some(at))
            }
            None if required => {
                Err("the end date and time is missing; a sanction needs one".into())
            }
            None => Ok(None),
        }
    };
    let action = |text: &str| -> Result<Option<ChangeAction>, String> {
        match text {
            "allow" => Ok(Some(ChangeAction::Allow)),
            "block" => Ok(Some(ChangeAction::Block)),
            "inherit" => Ok(None),
            other => match other.strip_prefix("allow-during:") {
                Some(schedule) if !schedule.trim().is_empty() => {
                    Ok(Some(ChangeAction::AllowDuring(vec![
                        schedule.trim().to_string(),
                    ])))
                }
                _ => Err(format!(
                    "{other:?} is not an action; choose allow, block, allow during a schedule or inherit"
                )),
            },
        }
    };
    let groups = || {
        let chosen = fields.all("groups");
        if chosen.is_empty() {
            None
        } else {
            Some(chosen)
        }
    };
    match fields.get("change").unwrap_or("") {
        "category-action" => Ok(PolicyChange::CategoryAction {
            group: field("group", "The group")?,
            selector: field("category", "The category")?,
            action: action(&field("action", "The action")?)?,
        }),
        "group-default" => Ok(PolicyChange::GroupDefault {
            group: field("group", "The group")?,
            action: action(&field("action", "The action")?)?
                .ok_or("a group's default cannot be inherited; choose allow or block")?,
        }),
        "site-override" => Ok(PolicyChange::SiteOverride {
            host: field("host", "The site")?,
            path: fields.get("path").map(str::to_string),
            verdict: match fields.get("verdict") {
                Some("allow") => ChangeVerdict::Allow,
                Some("block") => ChangeVerdict::Block,
                _ => return Err("choose whether to allow or block the site".into()),
            },
            groups: groups(),
            until: until(false)?,
        }),
        "remove-override" => Ok(PolicyChange::RemoveOverride {
            id: field("id", "The override")?,
        }),
        "sanction" => Ok(PolicyChange::Sanction {
            username: field("username", "The user name")?,
            filter_as: fields.get("filter_as").map(str::to_string),
            until: until(true)?.ok_or("the end date and time is missing")?,
        }),
        "lift-sanction" => Ok(PolicyChange::LiftSanction {
            id: field("id", "The sanction")?,
        }),
        "schedule" => Ok(PolicyChange::Schedule {
            key: field("key", "The schedule's name")?,
            days: fields.all("days"),
            school_days: fields.get("school_days").is_some(),
            times: fields
                .get("times")
                .unwrap_or("")
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        }),
        other => Err(format!("{other:?} is not a kind of change this form knows")),
    }
}

async fn propose(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::EditPolicy) {
        return r;
    }
    let fields = Fields(fields);
    let reason = match fields.required("reason", "The reason for the change", MAX_REASON) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let change = match change_from_form(&fields, &app.zone) {
        Ok(change) => change,
        Err(e) => return bad_request(format!("The change was not made: {e}.")),
    };
    propose_and_show(&app, &staff, &change, &reason).await
}

/// Puts a change from an admin form through change control and shows its change-log entry,
/// or says why it was not made.
pub(crate) async fn propose_and_show(
    app: &AdminApp,
    staff: &Staff,
    change: &PolicyChange,
    reason: &str,
) -> Response {
    match app
        .control
        .propose(&staff.school_slug, change, &staff.actor(), reason, "admin")
        .await
    {
        Ok(record) => Redirect::to(&format!("/changes/{}", record.id)).into_response(),
        Err(e) => bad_request(format!("The change was not made: {e}.")),
    }
}

/// Every kind of change with what it means and whether `rules` (the school's approval rules)
/// hold it for a second person.
pub(crate) fn approval_choices(rules: &[String]) -> Vec<(&'static str, &'static str, bool)> {
    ChangeKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str(),
                kind_label(*k),
                rules.iter().any(|r| r == k.as_str()),
            )
        })
        .collect()
}

/// Why the approval rules were not set.
#[derive(Debug)]
pub(crate) enum RulesError {
    /// Not a kind of change; the sentence says which.
    UnknownKind(String),
    /// The store failed.
    Store(hedgerow_store::StoreError),
}

/// Sets which kinds of change need a second person's approval (none when `kinds` is empty);
/// the store audits it.
pub(crate) async fn set_approval_rules(
    app: &AdminApp,
    staff: &Staff,
    kinds: &[String],
) -> Result<Vec<&'static str>, RulesError> {
    let mut chosen = Vec::new();
    for kind in kinds {
        match ChangeKind::parse(kind) {
            // A kind named twice is held once.
            Some(k) if chosen.contains(&k.as_str()) => {}
            Some(k) => chosen.push(k.as_str()),
            None => {
                return Err(RulesError::UnknownKind(format!(
                    "{kind:?} is not a kind of change."
                )));
            }
        }
    }
    app.store
        .set_approval_rules(staff.school, &chosen, &staff.actor())
        .await
        .map_err(RulesError::Store)?;
    Ok(chosen)
}

async fn approval_rules(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::ApprovePolicyChange) {
        return r;
    }
    let fields = Fields(fields);
    match set_approval_rules(&app, &staff, &fields.all("kinds")).await {
        Ok(_) => Redirect::to("/policy#approval").into_response(),
        Err(RulesError::UnknownKind(message)) => bad_request(message),
        Err(RulesError::Store(e)) => server_error("saving the approval rules", e),
    }
}
