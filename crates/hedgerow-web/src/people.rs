//! The people page: staff accounts (create, change roles, disable and enable, with who may
//! grant what fenced by `hedgerow_accounts::can_grant`), how many pupils each group and class
//! has, and the bulk import of pupils, classes and staff from school information system
//! exports.
//!
//! An import is checked before anything changes: `POST /people/import` reads the file (an
//! upload, or CSV pasted into a text box, which suits tablets), refuses it whole with every
//! problem and its row, or shows what would change; the confirm form carries the file back
//! (base64 in a hidden field, so no file is kept on the server) to `POST
//! /people/import/confirm`, which reads it again and commits it in one transaction.
//!
//! The rules are written once here and called by these pages and by the JSON API alike: which
//! accounts a person manages ([`visible_accounts`]), reading an import ([`read_checked`]) and
//! applying it ([`apply_import`]), and creating accounts, changing roles and disabling
//! ([`create_account_checked`], [`check_role_change`], [`apply_roles`],
//! [`set_disabled_checked`]), each refusing with an [`AccountError`] that the page and the API
//! say in their own way.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Form, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use hedgerow_accounts::{
    Permission, Role, TotpSecret, can, can_grant, check_new_password, hash_password,
    requires_second_factor,
};
use hedgerow_import::{
    GroupKind, Import, ImportError, ImportOptions, Kind, Records, SchoolGroup, YearMapping,
    read_import,
};
use hedgerow_store::{
    AdminAccount, AdminAccountId, ImportPlan, ImportedClass, ImportedPerson, NewAdminAccount,
    PeopleBatch, StoreError, UserKind,
};
use serde::Deserialize;

use crate::AdminApp;
use crate::frame::{
    Frame, Staff, bad_request, forbidden, not_found, render, roles_of, server_error,
};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/people"),
    ("POST", "/people/import"),
    ("POST", "/people/import/confirm"),
    ("POST", "/people/accounts"),
    ("POST", "/people/accounts/{id}/roles"),
    ("POST", "/people/accounts/{id}/disable"),
    ("POST", "/people/accounts/{id}/enable"),
];

/// Room for a 5 MB file in base64 (a third more) with the rest of the form around it.
const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Where the school's year group mapping is kept (the store's per-school settings).
pub const MAPPING_SETTING: &str = "people.year-mapping";

/// How many of the file's rows the preview shows as read.
const SAMPLE_ROWS: usize = 25;

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/people", get(people_page))
        .route(
            "/people/import",
            post(preview_import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route(
            "/people/import/confirm",
            post(confirm_import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route("/people/accounts", post(create_account))
        .route("/people/accounts/{id}/roles", post(change_roles))
        .route("/people/accounts/{id}/disable", post(disable_account))
        .route("/people/accounts/{id}/enable", post(enable_account))
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

pub(crate) struct RoleChoice {
    key: &'static str,
    name: &'static str,
    checked: bool,
    grantable: bool,
}

pub(crate) struct AccountLine {
    id: i64,
    username: String,
    name: String,
    roles: String,
    totp: bool,
    last_sign_in: String,
    disabled: bool,
    is_self: bool,
    role_choices: Vec<RoleChoice>,
}

pub(crate) struct GroupLine {
    group: String,
    kind: String,
    active: u64,
    disabled: u64,
}

pub(crate) struct ClassLine {
    name: String,
    year: String,
    teacher: String,
    pupils: u64,
}

/// What the import form shows (again, after a refusal).
pub(crate) struct ImportFormValues {
    kind: &'static str,
    pasted: String,
    mapping: String,
    disable_missing: bool,
    pupil_groups: String,
}

/// What the create-account form shows again after a refusal.
#[derive(Default)]
pub(crate) struct NewAccountValues {
    username: String,
    display_name: String,
    email: String,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeopleTemplate {
    frame: Frame,
    error: Option<String>,
    notice: Option<String>,
    accounts: Option<Vec<AccountLine>>,
    grantable: Vec<(&'static str, &'static str)>,
    new_account: NewAccountValues,
    groups: Vec<GroupLine>,
    classes: Vec<ClassLine>,
    can_import: bool,
    form: ImportFormValues,
}

/// Whether this person may see the page at all.
#[allow(clippy::result_large_err)]
fn require_people(staff: &Staff) -> Result<(), Response> {
    if staff.can(Permission::ImportPeople) || staff.can(Permission::ManageAccounts) {
        Ok(())
    } else {
        Err(forbidden(Permission::ImportPeople))
    }
}

async fn people_page(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = require_people(&staff) {
        return r;
    }
    people_with(
        &app,
        &staff,
        StatusCode::OK,
        None,
        None,
        NewAccountValues::default(),
    )
    .await
}

/// The people page with a message.
async fn people_with(
    app: &AdminApp,
    staff: &Staff,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    new_account: NewAccountValues,
) -> Response {
    let accounts = if staff.can(Permission::ManageAccounts) {
        match account_lines(app, staff).await {
            Ok(lines) => Some(lines),
            Err(r) => return r,
        }
    } else {
        None
    };
    let counts = match app.store.people_counts(staff.school).await {
        Ok(c) => c,
        Err(e) => return server_error("counting people", e),
    };
    let form = match import_form_defaults(app, staff).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let page = PeopleTemplate {
        frame: staff.frame("/people"),
        error,
        notice,
        accounts,
        grantable: Role::ALL
            .iter()
            .filter(|r| can_grant(&staff.roles, **r))
            .map(|r| (r.key(), r.name()))
            .collect(),
        new_account,
        groups: counts
            .groups
            .into_iter()
            .map(|g| GroupLine {
                group: g.group_key,
                kind: g.kind.to_string(),
                active: g.active,
                disabled: g.disabled,
            })
            .collect(),
        classes: counts
            .classes
            .into_iter()
            .map(|c| ClassLine {
                name: c.name,
                year: c.year_group.unwrap_or_default(),
                teacher: c.teacher.unwrap_or_default(),
                pupils: c.pupils,
            })
            .collect(),
        can_import: staff.can(Permission::ImportPeople),
        form,
    };
    (status, render(&page)).into_response()
}

/// Whether `account` is one this person manages: their own school's, or (for a trust
/// administrator) a trust-wide one.
fn visible(staff: &Staff, account: &AdminAccount) -> bool {
    match account.school {
        Some(school) => school == staff.school,
        None => staff.can(Permission::AllSchools),
    }
}

/// The accounts this person manages: their school's, and for a trust administrator the
/// trust-wide ones too.
pub(crate) async fn visible_accounts(
    app: &AdminApp,
    staff: &Staff,
) -> Result<Vec<AdminAccount>, StoreError> {
    let mut accounts = app.store.admin_accounts(Some(staff.school)).await?;
    if staff.can(Permission::AllSchools) {
        let all = app.store.admin_accounts(None).await?;
        accounts.extend(all.into_iter().filter(|a| a.school.is_none()));
    }
    Ok(accounts)
}

async fn account_lines(app: &AdminApp, staff: &Staff) -> Result<Vec<AccountLine>, Response> {
    let accounts = visible_accounts(app, staff)
        .await
        .map_err(|e| server_error("listing accounts", e))?;
    Ok(accounts
        .into_iter()
        .map(|a| {
            let held = roles_of(&a);
            AccountLine {
                id: a.id.0,
                roles: held.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
                totp: a.totp_secret.is_some(),
                last_sign_in: a
                    .last_login_at
                    .map(|t| app.local_time(t))
                    .unwrap_or_else(|| "never".to_owned()),
                disabled: a.disabled,
                is_self: a.id == staff.account.id,
                role_choices: Role::ALL
                    .iter()
                    .map(|r| RoleChoice {
                        key: r.key(),
                        name: r.name(),
                        checked: held.contains(r),
                        grantable: can_grant(&staff.roles, *r),
                    })
                    .collect(),
                username: a.username,
                name: a.display_name,
            }
        })
        .collect())
}

/// The school's groups as the import sees them, from the policy in force.
#[allow(clippy::result_large_err)]
fn school_groups(app: &AdminApp, staff: &Staff) -> Result<Vec<SchoolGroup>, Response> {
    let policy = app
        .control
        .policy(&staff.school_slug)
        .map_err(|e| server_error("reading the policy", e))?;
    Ok(import_groups(&policy))
}

/// A policy's groups as an import sees them (pupil, staff, or neither). Shared with the
/// command line's `hedgerow people import`.
pub fn import_groups(policy: &hedgerow_policy::PolicySpec) -> Vec<SchoolGroup> {
    policy
        .groups
        .iter()
        .map(|g| {
            let kind = match g.kind {
                hedgerow_policy::GroupKind::Pupil => GroupKind::Pupil,
                hedgerow_policy::GroupKind::Staff => GroupKind::Staff,
                _ => GroupKind::Other,
            };
            SchoolGroup::new(g.key.clone(), kind)
        })
        .collect()
}

fn pupil_group_keys(groups: &[SchoolGroup]) -> String {
    let keys: Vec<&str> = groups
        .iter()
        .filter(|g| g.kind == GroupKind::Pupil)
        .map(|g| g.key.as_str())
        .collect();
    if keys.is_empty() {
        "none (the policy has no pupil group)".to_owned()
    } else {
        keys.join(", ")
    }
}

/// The saved mapping if it still reads against the policy, else the suggested one.
pub(crate) async fn mapping_text(
    app: &AdminApp,
    staff: &Staff,
    groups: &[SchoolGroup],
) -> Result<String, StoreError> {
    let saved = app.store.setting(staff.school, MAPPING_SETTING).await?;
    Ok(match saved {
        Some(text) if YearMapping::parse(&text, groups).is_ok() => text,
        _ => YearMapping::suggested(groups).to_text(),
    })
}

async fn import_form_defaults(app: &AdminApp, staff: &Staff) -> Result<ImportFormValues, Response> {
    let groups = school_groups(app, staff)?;
    Ok(ImportFormValues {
        kind: Kind::Pupils.key(),
        pasted: String::new(),
        mapping: mapping_text(app, staff, &groups)
            .await
            .map_err(|e| server_error("reading a setting", e))?,
        disable_missing: false,
        pupil_groups: pupil_group_keys(&groups),
    })
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

/// The import form, from either a multipart upload or a plain form.
#[derive(Default, Deserialize)]
#[serde(default)]
struct ImportForm {
    csrf: String,
    kind: String,
    /// CSV pasted into the text box.
    csv: String,
    /// The year group mapping.
    mapping: String,
    /// "on" when ticked.
    disable_missing: Option<String>,
    /// The file, base64, carried by the confirm form.
    data: String,
    #[serde(skip)]
    file: Vec<u8>,
}

fn unreadable_form(e: impl std::fmt::Display) -> Response {
    bad_request(format!(
        "The form could not be read ({e}). Go back, reload the page and try again; a file must be at most 5 MB."
    ))
}

async fn read_import_form(request: Request) -> Result<ImportForm, Response> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        return Form::<ImportForm>::from_request(request, &())
            .await
            .map(|Form(form)| form)
            .map_err(unreadable_form);
    }
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(unreadable_form)?;
    let mut form = ImportForm::default();
    while let Some(field) = parts.next_field().await.map_err(unreadable_form)? {
        let name = field.name().unwrap_or("").to_owned();
        let bytes = field.bytes().await.map_err(unreadable_form)?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "csrf" => form.csrf = text(),
            "kind" => form.kind = text(),
            "csv" => form.csv = text(),
            "mapping" => form.mapping = text(),
            "disable_missing" => form.disable_missing = Some(text()),
            "data" => form.data = text(),
            "file" => form.file = bytes.to_vec(),
            _ => {}
        }
    }
    Ok(form)
}

pub(crate) struct SampleRow {
    row: usize,
    username: String,
    name: String,
    year: String,
    class: String,
    group: String,
}

#[derive(Template)]
#[template(path = "people_preview.html")]
struct PreviewTemplate {
    frame: Frame,
    kind: &'static str,
    /// Every problem, each with its row; the import is refused when there is any.
    problems: Vec<String>,
    problem_total: usize,
    warnings: Vec<String>,
    unused_columns: String,
    encoding: &'static str,
    rows: usize,
    sample: Vec<SampleRow>,
    plan: Option<ImportPlan>,
    /// How many new, changed and disabled the plan does not list.
    more: (u64, u64, u64),
    /// The file for the confirm form, base64.
    data: String,
    form: ImportFormValues,
}

#[derive(Template)]
#[template(path = "people_done.html")]
struct DoneTemplate {
    frame: Frame,
    kind: &'static str,
    plan: ImportPlan,
}

/// What a checked import needs: its kind, bytes, mapping and options.
pub(crate) struct Checked {
    pub(crate) kind: Kind,
    pub(crate) bytes: Vec<u8>,
    pub(crate) mapping_text: String,
    pub(crate) groups: Vec<SchoolGroup>,
    pub(crate) disable_missing: bool,
    /// What was pasted into the page's text box, to show again (empty from the API).
    pub(crate) pasted: String,
}

/// The form's kind, file and mapping, or the page that says what is missing.
async fn checked_form(
    app: &AdminApp,
    staff: &Staff,
    form: ImportForm,
    confirm: bool,
) -> Result<Checked, Response> {
    let Some(kind) = Kind::parse(&form.kind) else {
        return Err(bad_request(
            "Choose what the file holds: pupils, classes or staff.",
        ));
    };
    let bytes = if confirm {
        base64::engine::general_purpose::STANDARD
            .decode(form.data.trim())
            .map_err(|_| bad_request("The confirmed file was damaged on the way. Go back to the people page and check the file again."))?
    } else if !form.file.is_empty() {
        form.file
    } else {
        form.csv.clone().into_bytes()
    };
    let groups = school_groups(app, staff)?;
    let checked = Checked {
        kind,
        bytes,
        mapping_text: form.mapping,
        groups,
        disable_missing: form.disable_missing.is_some(),
        pasted: form.csv,
    };
    if checked.bytes.iter().all(u8::is_ascii_whitespace) {
        let values = NewAccountValues::default();
        return Err(people_with(
            app,
            staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("There was no file to import. Choose the CSV file exported from your information system, or paste its text into the box.".to_owned()),
            None,
            values,
        )
        .await);
    }
    Ok(checked)
}

fn form_values(checked: &Checked) -> ImportFormValues {
    ImportFormValues {
        kind: checked.kind.key(),
        pasted: checked.pasted.clone(),
        mapping: checked.mapping_text.clone(),
        disable_missing: checked.disable_missing,
        pupil_groups: pupil_group_keys(&checked.groups),
    }
}

/// The import read from a checked form on `today` (the school's date, which pupils' dates of
/// birth are checked against): the records and the store batch, or every problem found (each
/// with its row where it is about one) and how many there were in all.
pub(crate) fn read_checked(
    checked: &Checked,
    today: jiff::civil::Date,
) -> Result<(Import, PeopleBatch), (Vec<ImportError>, usize)> {
    let mapping = YearMapping::parse(&checked.mapping_text, &checked.groups).map_err(|errors| {
        let n = errors.len();
        (errors, n)
    })?;
    let options = ImportOptions {
        groups: &checked.groups,
        mapping: &mapping,
        today,
    };
    let import = read_import(checked.kind, &checked.bytes, &options)
        .map_err(|refused| (refused.problems, refused.total))?;
    let batch = import_batch(&import, checked.disable_missing);
    Ok((import, batch))
}

/// The problems as the page lists them.
fn problem_lines(problems: &[ImportError]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

/// Imports a checked batch in one transaction (the store plans it again inside and refuses a
/// plan with conflicts), then keeps the mapping that worked as the school's.
pub(crate) async fn apply_import(
    app: &AdminApp,
    staff: &Staff,
    checked: &Checked,
    batch: &PeopleBatch,
) -> Result<ImportPlan, StoreError> {
    let plan = app
        .store
        .import_people(staff.school, batch, &staff.acting())
        .await?;
    if let Err(e) = app
        .store
        .set_setting(staff.school, MAPPING_SETTING, &checked.mapping_text)
        .await
    {
        tracing::warn!("the year group mapping was not saved: {e}");
    }
    Ok(plan)
}

/// The store's batch for an import read without problems. Shared with the command line.
pub fn import_batch(import: &Import, disable_missing: bool) -> PeopleBatch {
    match &import.records {
        Records::Pupils(pupils) => PeopleBatch::People {
            kind: UserKind::Pupil,
            people: pupils
                .iter()
                .map(|p| ImportedPerson {
                    username: p.username.clone(),
                    display_name: p.display_name.clone(),
                    group_key: p.group.clone(),
                    year_group: p.year.map(|y| y.label()),
                    class_name: p.class.clone(),
                    email: p.email.clone(),
                    staff_code: None,
                    suggested_roles: Vec::new(),
                    date_of_birth: p.date_of_birth,
                })
                .collect(),
            disable_missing,
        },
        Records::Staff(staff) => PeopleBatch::People {
            kind: UserKind::Staff,
            people: staff
                .iter()
                .map(|s| ImportedPerson {
                    username: s.username.clone(),
                    display_name: s.display_name.clone(),
                    group_key: s.group.clone(),
                    year_group: None,
                    class_name: None,
                    email: s.email.clone(),
                    staff_code: s.staff_code.clone(),
                    suggested_roles: s.roles.clone(),
                    date_of_birth: None,
                })
                .collect(),
            disable_missing,
        },
        Records::Classes(classes) => PeopleBatch::Classes(
            classes
                .iter()
                .map(|c| ImportedClass {
                    name: c.name.clone(),
                    year_group: c.year.map(|y| y.label()),
                    group_key: c.group.clone(),
                    teacher: c.teacher.clone(),
                })
                .collect(),
        ),
    }
}

fn sample(import: &Import) -> Vec<SampleRow> {
    match &import.records {
        Records::Pupils(p) => p
            .iter()
            .take(SAMPLE_ROWS)
            .map(|p| SampleRow {
                row: p.row,
                username: p.username.clone(),
                name: p.display_name.clone(),
                year: p.year.map(|y| y.label()).unwrap_or_default(),
                class: p.class.clone().unwrap_or_default(),
                group: p.group.clone(),
            })
            .collect(),
        Records::Staff(s) => s
            .iter()
            .take(SAMPLE_ROWS)
            .map(|s| SampleRow {
                row: s.row,
                username: s.username.clone(),
                name: s.display_name.clone(),
                year: String::new(),
                class: s.roles.join(", "),
                group: s.group.clone(),
            })
            .collect(),
        Records::Classes(c) => c
            .iter()
            .take(SAMPLE_ROWS)
            .map(|c| SampleRow {
                row: c.row,
                username: String::new(),
                name: c.name.clone(),
                year: c.year.map(|y| y.label()).unwrap_or_default(),
                class: c.teacher.clone().unwrap_or_default(),
                group: c.group.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn refused_page(staff: &Staff, checked: &Checked, problems: Vec<String>, total: usize) -> Response {
    let page = PreviewTemplate {
        frame: staff.frame("/people"),
        kind: checked.kind.key(),
        problems,
        problem_total: total,
        warnings: Vec::new(),
        unused_columns: String::new(),
        encoding: "",
        rows: 0,
        sample: Vec::new(),
        plan: None,
        more: (0, 0, 0),
        data: String::new(),
        form: form_values(checked),
    };
    (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
}

async fn preview_import(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ImportPeople) {
        return r;
    }
    let form = match read_import_form(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let checked = match checked_form(&app, &staff, form, false).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (import, batch) = match read_checked(&checked, app.today()) {
        Ok(read) => read,
        Err((problems, total)) => {
            return refused_page(&staff, &checked, problem_lines(&problems), total);
        }
    };
    let plan = match app.store.plan_people_import(staff.school, &batch).await {
        Ok(plan) => plan,
        Err(StoreError::InvalidInput { problem, .. }) => {
            return refused_page(&staff, &checked, vec![problem], 1);
        }
        Err(e) => return server_error("planning an import", e),
    };
    let page = PreviewTemplate {
        frame: staff.frame("/people"),
        kind: checked.kind.key(),
        problems: Vec::new(),
        problem_total: 0,
        warnings: import.warnings.iter().map(ToString::to_string).collect(),
        unused_columns: import.unused_columns.join(", "),
        encoding: import.encoding.name(),
        rows: import.records.len(),
        sample: sample(&import),
        more: (
            plan.created_count.saturating_sub(plan.created.len() as u64),
            plan.updated_count.saturating_sub(plan.updated.len() as u64),
            plan.disabled_count
                .saturating_sub(plan.disabled.len() as u64),
        ),
        plan: Some(plan),
        data: base64::engine::general_purpose::STANDARD.encode(&checked.bytes),
        form: form_values(&checked),
    };
    render(&page)
}

async fn confirm_import(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ImportPeople) {
        return r;
    }
    let form = match read_import_form(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let checked = match checked_form(&app, &staff, form, true).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (_, batch) = match read_checked(&checked, app.today()) {
        Ok(read) => read,
        Err((problems, total)) => {
            return refused_page(&staff, &checked, problem_lines(&problems), total);
        }
    };
    let plan = match apply_import(&app, &staff, &checked, &batch).await {
        Ok(plan) => plan,
        Err(StoreError::InvalidInput { problem, .. }) => {
            return refused_page(&staff, &checked, vec![problem], 1);
        }
        Err(e) => return server_error("importing people", e),
    };
    render(&DoneTemplate {
        frame: staff.frame("/people"),
        kind: checked.kind.key(),
        plan,
    })
}

// ---------------------------------------------------------------------------------------------
// Staff accounts
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "people_account.html")]
struct AccountCreatedTemplate {
    frame: Frame,
    username: String,
    created: bool,
    secret: Option<String>,
    uri: Option<String>,
}

/// A form's fields as pairs, so repeated checkboxes (`role=dsl&role=teacher`) all arrive.
type Pairs = Vec<(String, String)>;

fn field<'a>(pairs: &'a Pairs, name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The roles a form asks for, or what was not a role.
#[allow(clippy::result_large_err)]
fn roles_in(pairs: &Pairs) -> Result<BTreeSet<Role>, Response> {
    parse_roles(
        pairs
            .iter()
            .filter(|(k, _)| k == "role")
            .map(|(_, v)| v.as_str()),
    )
    .map_err(bad_request)
}

/// Role keys read into roles, or a sentence saying which is not a role.
pub(crate) fn parse_roles<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<Role>, String> {
    keys.into_iter()
        .map(|v| Role::parse(v).map_err(|e| format!("{e}.")))
        .collect()
}

fn cannot_grant(role: Role) -> String {
    format!(
        "You cannot give or take away the role \"{}\". Roles that can read pupils' browsing are granted only by the designated safeguarding lead or the headteacher, and the trust administrator role only by a trust administrator.",
        role.name()
    )
}

/// Why an account was not created or changed, for the page or the API to say in its own way.
#[derive(Debug)]
pub(crate) enum AccountError {
    /// No such account among those this person manages.
    NotFound,
    /// The roles of the person asking do not allow it (`can_grant`); the sentence says why.
    Forbidden(String),
    /// The input is not acceptable; the sentence says what to do.
    Invalid(String),
    /// Something failed while doing `what`.
    Failed(&'static str, String),
}

/// A TOTP secret made for an account, shown once: base32, and the `otpauth://` URI.
pub(crate) struct NewSecret {
    pub(crate) base32: String,
    pub(crate) uri: String,
}

/// A new TOTP secret stored for an account, to show once.
async fn enrol_totp(
    app: &AdminApp,
    staff: &Staff,
    id: AdminAccountId,
    username: &str,
) -> Result<NewSecret, AccountError> {
    let secret = TotpSecret::generate()
        .map_err(|e| AccountError::Failed("making a TOTP secret", e.to_string()))?;
    let base32 = secret.to_base32();
    app.store
        .set_admin_totp_secret(id, Some(&base32), &staff.acting())
        .await
        .map_err(|e| AccountError::Failed("saving a TOTP secret", e.to_string()))?;
    Ok(NewSecret {
        uri: secret.otpauth_uri("Hedgerow", username),
        base32,
    })
}

/// A new account as asked for, before any check.
pub(crate) struct NewAccount {
    pub(crate) username: String,
    pub(crate) display_name: String,
    pub(crate) email: String,
    pub(crate) roles: BTreeSet<Role>,
    pub(crate) password: String,
    /// The password typed again, where the form asks for it twice.
    pub(crate) password_again: Option<String>,
}

/// Creates an account after the checks the people page makes: at least one role, every role
/// one this person may grant, the password typed the same twice (where it was) and within the
/// password rules. A trust administrator's account is trust-wide; any other is this school's.
/// When the roles need a second factor a TOTP secret is made, to show once.
pub(crate) async fn create_account_checked(
    app: &AdminApp,
    staff: &Staff,
    new: NewAccount,
) -> Result<(AdminAccountId, Option<NewSecret>), AccountError> {
    if new.roles.is_empty() {
        return Err(AccountError::Invalid(
            "Choose at least one role for the new account.".into(),
        ));
    }
    if let Some(role) = new.roles.iter().find(|r| !can_grant(&staff.roles, **r)) {
        return Err(AccountError::Forbidden(cannot_grant(*role)));
    }
    if new
        .password_again
        .as_ref()
        .is_some_and(|again| *again != new.password)
    {
        return Err(AccountError::Invalid(
            "The two passwords are not the same. Type the new password twice.".into(),
        ));
    }
    if let Err(problem) = check_new_password(&new.password, &new.username, &new.display_name) {
        return Err(AccountError::Invalid(format!(
            "The password was not accepted: {problem}."
        )));
    }
    let password = new.password;
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => return Err(AccountError::Failed("hashing a password", e.to_string())),
        Err(e) => return Err(AccountError::Failed("hashing a password", e.to_string())),
    };
    let roles: Vec<Role> = new.roles.into_iter().collect();
    let account = NewAdminAccount {
        school: if roles.contains(&Role::TrustAdmin) {
            None
        } else {
            Some(staff.school)
        },
        username: new.username.clone(),
        display_name: new.display_name,
        email: new.email,
        password_hash: hash,
        roles: roles.iter().map(|r| r.key().to_owned()).collect(),
    };
    let id = match app
        .store
        .create_admin_account(&account, &staff.acting())
        .await
    {
        Ok(id) => id,
        Err(StoreError::InvalidInput { field, problem }) => {
            return Err(AccountError::Invalid(format!(
                "The {field} was not accepted: {problem}."
            )));
        }
        Err(e) => return Err(AccountError::Failed("creating an account", e.to_string())),
    };
    let secret = if requires_second_factor(&roles) {
        Some(enrol_totp(app, staff, id, &new.username).await?)
    } else {
        None
    };
    Ok((id, secret))
}

/// A refusal as the people page shows it: the page again with the message, or a plain page.
async fn account_refusal(
    app: &AdminApp,
    staff: &Staff,
    e: AccountError,
    values: NewAccountValues,
) -> Response {
    let (status, message) = match e {
        AccountError::NotFound => return not_found("account"),
        AccountError::Failed(what, e) => return server_error(what, e),
        AccountError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
        AccountError::Invalid(message) => (StatusCode::UNPROCESSABLE_ENTITY, message),
    };
    people_with(app, staff, status, Some(message), None, values).await
}

async fn create_account(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    pairs: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let pairs = match staff.accept(Permission::ManageAccounts, pairs) {
        Ok(form) => form,
        Err(r) => return r,
    };
    let values = NewAccountValues {
        username: field(&pairs, "username").trim().to_owned(),
        display_name: field(&pairs, "display_name").trim().to_owned(),
        email: field(&pairs, "email").trim().to_owned(),
    };
    let roles = match roles_in(&pairs) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let new = NewAccount {
        username: values.username.clone(),
        display_name: values.display_name.clone(),
        email: values.email.clone(),
        roles,
        password: field(&pairs, "password").to_owned(),
        password_again: Some(field(&pairs, "password_again").to_owned()),
    };
    match create_account_checked(&app, &staff, new).await {
        Ok((_, secret)) => render(&AccountCreatedTemplate {
            frame: staff.frame("/people"),
            username: values.username,
            created: true,
            uri: secret.as_ref().map(|s| s.uri.clone()),
            secret: secret.map(|s| s.base32),
        }),
        Err(e) => account_refusal(&app, &staff, e, values).await,
    }
}

/// The account a change is about, if this person may see it.
pub(crate) async fn target_account(
    app: &AdminApp,
    staff: &Staff,
    id: i64,
) -> Result<AdminAccount, AccountError> {
    match app.store.admin_account(AdminAccountId(id)).await {
        Ok(Some(account)) if visible(staff, &account) => Ok(account),
        Ok(_) => Err(AccountError::NotFound),
        Err(e) => Err(AccountError::Failed("reading an account", e.to_string())),
    }
}

/// Whether this person may give `target` exactly the roles `wanted`: every role added or
/// taken away one they may grant, at least one role left, and never their own last role that
/// manages accounts. `Ok(false)` when nothing would change.
pub(crate) fn check_role_change(
    staff: &Staff,
    target: &AdminAccount,
    wanted: &BTreeSet<Role>,
) -> Result<bool, AccountError> {
    let held: BTreeSet<Role> = roles_of(target).into_iter().collect();
    let mut changed = wanted.symmetric_difference(&held);
    if let Some(role) = changed.clone().find(|r| !can_grant(&staff.roles, **r)) {
        return Err(AccountError::Forbidden(cannot_grant(*role)));
    }
    if wanted.is_empty() {
        return Err(AccountError::Invalid(format!(
            "Give {} at least one role, or disable the account instead.",
            target.username
        )));
    }
    if target.id == staff.account.id
        && !can(
            &wanted.iter().copied().collect::<Vec<_>>(),
            Permission::ManageAccounts,
        )
    {
        return Err(AccountError::Invalid("You cannot take away your own last role that manages accounts: ask another person who manages accounts to do it.".to_owned()));
    }
    Ok(changed.next().is_some())
}

/// Gives `target` the roles `wanted` (checked by [`check_role_change`]); when they now need a
/// second factor and the account has none, makes a TOTP secret to show once, since without it
/// the account could not sign in.
pub(crate) async fn apply_roles(
    app: &AdminApp,
    staff: &Staff,
    target: &AdminAccount,
    wanted: &BTreeSet<Role>,
) -> Result<Option<NewSecret>, AccountError> {
    let keys: Vec<String> = wanted.iter().map(|r| r.key().to_owned()).collect();
    match app
        .store
        .set_admin_roles(target.id, &keys, &staff.acting())
        .await
    {
        Ok(true) => {}
        Ok(false) => return Err(AccountError::NotFound),
        Err(e) => return Err(AccountError::Failed("changing roles", e.to_string())),
    }
    let wanted: Vec<Role> = wanted.iter().copied().collect();
    if requires_second_factor(&wanted) && target.totp_secret.is_none() {
        return enrol_totp(app, staff, target.id, &target.username)
            .await
            .map(Some);
    }
    Ok(None)
}

async fn change_roles(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
    pairs: Result<Form<Pairs>, FormRejection>,
) -> Response {
    let pairs = match staff.accept(Permission::ManageAccounts, pairs) {
        Ok(form) => form,
        Err(r) => return r,
    };
    let target = match target_account(&app, &staff, id).await {
        Ok(a) => a,
        Err(e) => return account_refusal(&app, &staff, e, NewAccountValues::default()).await,
    };
    let wanted = match roles_in(&pairs) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match check_role_change(&staff, &target, &wanted) {
        Ok(true) => {}
        Ok(false) => return Redirect::to("/people").into_response(),
        Err(e) => return account_refusal(&app, &staff, e, NewAccountValues::default()).await,
    }
    match apply_roles(&app, &staff, &target, &wanted).await {
        Ok(Some(secret)) => render(&AccountCreatedTemplate {
            frame: staff.frame("/people"),
            username: target.username,
            created: false,
            secret: Some(secret.base32),
            uri: Some(secret.uri),
        }),
        Ok(None) => Redirect::to("/people").into_response(),
        Err(e) => account_refusal(&app, &staff, e, NewAccountValues::default()).await,
    }
}

/// Disables or enables an account this person manages: never their own, and never one
/// holding a role they could not grant.
pub(crate) async fn set_disabled_checked(
    app: &AdminApp,
    staff: &Staff,
    id: i64,
    disabled: bool,
) -> Result<AdminAccount, AccountError> {
    let target = target_account(app, staff, id).await?;
    if target.id == staff.account.id {
        return Err(AccountError::Invalid("You cannot disable or enable your own account: ask another person who manages accounts.".to_owned()));
    }
    if let Some(r) = roles_of(&target)
        .into_iter()
        .find(|r| !can_grant(&staff.roles, *r))
    {
        return Err(AccountError::Forbidden(format!(
            "You cannot disable or enable {}: the account holds the role \"{}\", which you could not grant.",
            target.username,
            r.name()
        )));
    }
    match app
        .store
        .set_admin_disabled(target.id, disabled, &staff.acting())
        .await
    {
        Ok(true) => Ok(AdminAccount { disabled, ..target }),
        Ok(false) => Err(AccountError::NotFound),
        Err(e) => Err(AccountError::Failed("disabling an account", e.to_string())),
    }
}

async fn set_disabled(app: Arc<AdminApp>, staff: Staff, id: i64, disabled: bool) -> Response {
    if let Err(r) = staff.require(Permission::ManageAccounts) {
        return r;
    }
    match set_disabled_checked(&app, &staff, id, disabled).await {
        Ok(_) => Redirect::to("/people").into_response(),
        Err(e) => account_refusal(&app, &staff, e, NewAccountValues::default()).await,
    }
}

async fn disable_account(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Response {
    set_disabled(app, staff, id, true).await
}

async fn enable_account(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Response {
    set_disabled(app, staff, id, false).await
}
