//! The people page through the API: staff accounts (never a password hash or a TOTP secret,
//! apart from a new secret shown once) and how many people each group and class has; the bulk
//! import of pupils, classes and staff from a CSV export, checked as a dry run or applied; and
//! creating accounts, changing their roles, disabling and enabling them.
//!
//! Every rule is the page's own ([`crate::people`]): who may grant which role
//! (`can_grant`), the password rules, the import's reading, planning and applying. The API
//! adds one rule of its own: a token cannot change its own account's roles, so a leaked token
//! cannot reshape the account it acts as, and a script cannot lock itself out by accident.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use hedgerow_accounts::{Permission, Role, can_grant};
use hedgerow_import::{ImportError, Kind};
use hedgerow_store::{AdminAccount, AdminAccountId, ImportPlan, StoreError, admin_limits};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiPath, ApiResult, ApiStaff, JsonBody, check_field, created, json_response, ok,
    require, require_any,
};
use crate::AdminApp;
use crate::frame::{Staff, roles_of};
use crate::people::{
    AccountError, Checked, NewAccount, NewSecret, apply_import, apply_roles, check_role_change,
    create_account_checked, import_groups, mapping_text, parse_roles, read_checked,
    set_disabled_checked, target_account, visible_accounts,
};

/// The largest request body the import takes: a 5 MB file written as a JSON string (line
/// breaks and quotes escaped) with the other fields around it.
pub(crate) const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The longest year group mapping taken (a line per year group).
const MAX_MAPPING_CHARS: usize = 20_000;
/// The longest password taken (the password rules set the least).
const MAX_PASSWORD_CHARS: usize = 1_000;

// ---------------------------------------------------------------------------------------------
// Accounts and counts
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct AccountJson {
    id: i64,
    username: String,
    display_name: String,
    email: String,
    roles: Vec<&'static str>,
    /// A trust-wide account (no school of its own).
    trust_wide: bool,
    totp_enrolled: bool,
    disabled: bool,
    created_at: Timestamp,
    last_sign_in_at: Option<Timestamp>,
}

impl From<&AdminAccount> for AccountJson {
    fn from(a: &AdminAccount) -> AccountJson {
        AccountJson {
            id: a.id.0,
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            email: a.email.clone(),
            roles: roles_of(a).into_iter().map(Role::key).collect(),
            trust_wide: a.school.is_none(),
            totp_enrolled: a.totp_secret.is_some(),
            disabled: a.disabled,
            created_at: a.created_at,
            last_sign_in_at: a.last_login_at,
        }
    }
}

#[derive(Serialize)]
struct GroupCountJson {
    group: String,
    kind: &'static str,
    active: u64,
    disabled: u64,
}

#[derive(Serialize)]
struct ClassCountJson {
    name: String,
    year_group: Option<String>,
    teacher: Option<String>,
    pupils: u64,
}

#[derive(Serialize)]
struct PeopleJson {
    /// Only for those who manage accounts.
    accounts: Option<Vec<AccountJson>>,
    /// The roles the caller may give or take away.
    grantable_roles: Vec<&'static str>,
    groups: Vec<GroupCountJson>,
    classes: Vec<ClassCountJson>,
}

/// `GET /api/v1/people`: the staff accounts (for those who manage them) and how many people
/// each group and class has (counts only, no names).
pub(super) async fn people(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
) -> ApiResult {
    require_any(
        &staff,
        &[Permission::ManageAccounts, Permission::ImportPeople],
    )?;
    let accounts = if staff.can(Permission::ManageAccounts) {
        let accounts = visible_accounts(&app, &staff)
            .await
            .map_err(|e| ApiError::store("listing accounts", e))?;
        Some(accounts.iter().map(AccountJson::from).collect())
    } else {
        None
    };
    let counts = app
        .store
        .people_counts(staff.school)
        .await
        .map_err(|e| ApiError::store("counting people", e))?;
    ok(&PeopleJson {
        accounts,
        grantable_roles: Role::ALL
            .into_iter()
            .filter(|r| can_grant(&staff.roles, *r))
            .map(Role::key)
            .collect(),
        groups: counts
            .groups
            .into_iter()
            .map(|g| GroupCountJson {
                group: g.group_key,
                kind: g.kind.as_str(),
                active: g.active,
                disabled: g.disabled,
            })
            .collect(),
        classes: counts
            .classes
            .into_iter()
            .map(|c| ClassCountJson {
                name: c.name,
                year_group: c.year_group,
                teacher: c.teacher,
                pupils: c.pupils,
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum KindField {
    Pupils,
    Classes,
    Staff,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportBody {
    kind: KindField,
    csv: String,
    mapping: Option<String>,
    #[serde(default)]
    disable_missing: bool,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Serialize)]
struct ProblemJson {
    /// The row as a spreadsheet numbers it (the header is row 1), when it is about one row.
    row: Option<usize>,
    message: String,
}

/// The 422 of an import: every problem (up to 500) and how many there were.
#[derive(Serialize)]
struct ImportRefusedJson {
    error: String,
    total: usize,
    problems: Vec<ProblemJson>,
}

fn import_refused(problems: Vec<ProblemJson>, total: usize) -> ApiResult {
    let error = format!(
        "Nothing was imported: the file has {total} problem{} (listed in problems, each with its row). Put {} right and send the file again.",
        if total == 1 { "" } else { "s" },
        if total == 1 { "it" } else { "them" },
    );
    Ok(json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ImportRefusedJson {
            error,
            total,
            problems,
        },
    ))
}

fn import_problems(problems: &[ImportError]) -> Vec<ProblemJson> {
    problems
        .iter()
        .map(|p| ProblemJson {
            row: p.row(),
            message: p.to_string(),
        })
        .collect()
}

#[derive(Serialize)]
struct UpdatedJson {
    name: String,
    changes: Vec<String>,
}

#[derive(Serialize)]
struct PlanJson {
    created: Vec<String>,
    created_count: u64,
    updated: Vec<UpdatedJson>,
    updated_count: u64,
    unchanged_count: u64,
    enabled_count: u64,
    disabled: Vec<String>,
    disabled_count: u64,
    conflicts: Vec<String>,
}

impl From<ImportPlan> for PlanJson {
    fn from(p: ImportPlan) -> PlanJson {
        PlanJson {
            created: p.created,
            created_count: p.created_count,
            updated: p
                .updated
                .into_iter()
                .map(|u| UpdatedJson {
                    name: u.name,
                    changes: u.changes,
                })
                .collect(),
            updated_count: p.updated_count,
            unchanged_count: p.unchanged_count,
            enabled_count: p.enabled_count,
            disabled: p.disabled,
            disabled_count: p.disabled_count,
            conflicts: p.conflicts,
        }
    }
}

#[derive(Serialize)]
struct ImportJson {
    kind: &'static str,
    dry_run: bool,
    /// Whether the import was applied (never for a dry run).
    applied: bool,
    rows: usize,
    encoding: &'static str,
    mapping: String,
    unused_columns: Vec<String>,
    warnings: Vec<ProblemJson>,
    plan: PlanJson,
}

/// `POST /api/v1/people/import`: read a CSV export of pupils, classes or staff and show what
/// importing it would change; unless `dry_run`, apply it in one transaction. A file with any
/// problem is refused whole (422, every problem with its row) and nothing changes.
pub(super) async fn import(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<ImportBody, IMPORT_BODY_LIMIT>,
) -> ApiResult {
    require(&staff, Permission::ImportPeople)?;
    let kind = match body.kind {
        KindField::Pupils => Kind::Pupils,
        KindField::Classes => Kind::Classes,
        KindField::Staff => Kind::Staff,
    };
    if body.csv.bytes().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::unprocessable(
            "There was no file to import. Send the CSV file exported from your information system as the csv field.",
        ));
    }
    let policy = app
        .control
        .policy(&staff.school_slug)
        .map_err(|e| ApiError::unavailable("reading the policy", e))?;
    let groups = import_groups(&policy);
    let mapping_text = match body.mapping {
        Some(mapping) if !mapping.trim().is_empty() => {
            check_field("mapping", &mapping, MAX_MAPPING_CHARS, true)?;
            mapping
        }
        _ => mapping_text(&app, &staff, &groups)
            .await
            .map_err(|e| ApiError::store("reading a setting", e))?,
    };
    let checked = Checked {
        kind,
        bytes: body.csv.into_bytes(),
        mapping_text,
        groups,
        disable_missing: body.disable_missing,
        pasted: String::new(),
    };
    let (import, batch) = match read_checked(&checked, app.today()) {
        Ok(read) => read,
        Err((problems, total)) => return import_refused(import_problems(&problems), total),
    };
    let store_refusal = |e: StoreError| match e {
        StoreError::InvalidInput { problem, .. } => import_refused(
            vec![ProblemJson {
                row: None,
                message: problem,
            }],
            1,
        ),
        other => Err(ApiError::store("importing people", other)),
    };
    let planned = match app.store.plan_people_import(staff.school, &batch).await {
        Ok(plan) => plan,
        Err(e) => return store_refusal(e),
    };
    let plan = if body.dry_run {
        planned
    } else if !planned.conflicts.is_empty() {
        let total = planned.conflicts.len();
        let problems = planned
            .conflicts
            .into_iter()
            .map(|message| ProblemJson { row: None, message })
            .collect();
        return import_refused(problems, total);
    } else {
        match apply_import(&app, &staff, &checked, &batch).await {
            Ok(plan) => plan,
            Err(e) => return store_refusal(e),
        }
    };
    ok(&ImportJson {
        kind: kind.key(),
        dry_run: body.dry_run,
        applied: !body.dry_run,
        rows: import.records.len(),
        encoding: import.encoding.name(),
        mapping: checked.mapping_text,
        unused_columns: import.unused_columns,
        warnings: import
            .warnings
            .into_iter()
            .map(|w| ProblemJson {
                row: w.row,
                message: w.message,
            })
            .collect(),
        plan: PlanJson::from(plan),
    })
}

// ---------------------------------------------------------------------------------------------
// Staff accounts
// ---------------------------------------------------------------------------------------------

/// A refusal from the people page's functions, as the API says it.
fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::NotFound => ApiError::not_found("account"),
        AccountError::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, message),
        AccountError::Invalid(message) => ApiError::unprocessable(message),
        AccountError::Failed(what, e) => ApiError::unavailable(what, e),
    }
}

#[derive(Serialize)]
struct SecretJson {
    secret: String,
    otpauth_uri: String,
}

impl From<NewSecret> for SecretJson {
    fn from(s: NewSecret) -> SecretJson {
        SecretJson {
            secret: s.base32,
            otpauth_uri: s.uri,
        }
    }
}

#[derive(Serialize)]
struct AccountChangedJson {
    account: AccountJson,
    /// A TOTP secret made now because the roles need a second factor: shown this once.
    totp: Option<SecretJson>,
}

fn roles_field(keys: &[String]) -> Result<BTreeSet<Role>, ApiError> {
    if keys.len() > admin_limits::ROLES {
        return Err(ApiError::unprocessable(format!(
            "roles names more than {} roles. Name each role once.",
            admin_limits::ROLES
        )));
    }
    parse_roles(keys.iter().map(String::as_str)).map_err(ApiError::unprocessable)
}

async fn reread(app: &AdminApp, id: AdminAccountId) -> Result<AdminAccount, ApiError> {
    app.store
        .admin_account(id)
        .await
        .map_err(|e| ApiError::store("reading an account", e))?
        .ok_or_else(|| ApiError::unavailable("reading back an account", id.0))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccountBody {
    username: String,
    display_name: String,
    email: String,
    roles: Vec<String>,
    password: String,
}

/// `POST /api/v1/people/accounts`: create a staff account with roles the caller may grant and
/// a first password within the password rules. When the roles need a second factor the answer
/// holds the TOTP secret, this once.
pub(super) async fn create_account(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    JsonBody(body): JsonBody<NewAccountBody>,
) -> ApiResult {
    require(&staff, Permission::ManageAccounts)?;
    check_field("username", &body.username, admin_limits::USERNAME, false)?;
    check_field(
        "display_name",
        &body.display_name,
        admin_limits::NAME,
        false,
    )?;
    check_field("email", &body.email, admin_limits::EMAIL, false)?;
    check_field("password", &body.password, MAX_PASSWORD_CHARS, false)?;
    let roles = roles_field(&body.roles)?;
    let new = NewAccount {
        username: body.username.trim().to_owned(),
        display_name: body.display_name.trim().to_owned(),
        email: body.email.trim().to_owned(),
        roles,
        password: body.password,
        password_again: None,
    };
    let (id, secret) = create_account_checked(&app, &staff, new)
        .await
        .map_err(account_error)?;
    let account = reread(&app, id).await?;
    created(&AccountChangedJson {
        account: AccountJson::from(&account),
        totp: secret.map(SecretJson::from),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RolesBody {
    roles: Vec<String>,
}

/// `POST /api/v1/people/accounts/{id}/roles`: give an account exactly these roles (each role
/// added or taken away must be one the caller may grant). Not the token's own account.
pub(super) async fn set_roles(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    JsonBody(body): JsonBody<RolesBody>,
) -> ApiResult {
    require(&staff, Permission::ManageAccounts)?;
    let wanted = roles_field(&body.roles)?;
    let target = target_account(&app, &staff, id)
        .await
        .map_err(account_error)?;
    if target.id == staff.account.id {
        return Err(ApiError::unprocessable(
            "A token cannot change its own account's roles. Change them on the people page, or ask another person who manages accounts.",
        ));
    }
    let secret = if check_role_change(&staff, &target, &wanted).map_err(account_error)? {
        apply_roles(&app, &staff, &target, &wanted)
            .await
            .map_err(account_error)?
    } else {
        None
    };
    let account = reread(&app, target.id).await?;
    ok(&AccountChangedJson {
        account: AccountJson::from(&account),
        totp: secret.map(SecretJson::from),
    })
}

async fn set_disabled(app: &AdminApp, staff: &Staff, id: i64, disabled: bool) -> ApiResult {
    require(staff, Permission::ManageAccounts)?;
    let account = set_disabled_checked(app, staff, id, disabled)
        .await
        .map_err(account_error)?;
    ok(&AccountJson::from(&account))
}

/// `POST /api/v1/people/accounts/{id}/disable`: the account can no longer sign in (nor its
/// tokens work). Not your own, nor one holding a role you could not grant.
pub(super) async fn disable_account(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    set_disabled(&app, &staff, id, true).await
}

/// `POST /api/v1/people/accounts/{id}/enable`: the account may sign in again.
pub(super) async fn enable_account(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult {
    set_disabled(&app, &staff, id, false).await
}
