//! Acceptable use agreements in the admin app (`/agreements`): each audience's current text
//! and its history, publishing a new version (which everyone in that audience must accept
//! again), the renewal date, who has and has not accepted (with a CSV), acceptances on paper
//! entered by staff, and printed letters to parents carrying each child's own portal link and
//! its QR code.
//!
//! Editing and publishing need `ManageAgreements`; the report, paper acceptances and letters
//! need `ViewAgreements`. The report is an audited read of the store (`agreement.report`),
//! because it names every person and whether they signed. A person's audience comes from
//! their filtering group as the gateway's policy describes it (`Audience::for_group`), so the
//! report judges people exactly as the gate does.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_agreements::{Audience, Renewal, Standing};
use hedgerow_store::{
    Acceptance, AcceptanceMethod, AcceptanceReportRow, AgreementSettings, AgreementVersion,
    NewAcceptance, SubjectKind, UserKind,
};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;

use crate::AdminApp;
use crate::explorer::url_encode;
use crate::form::read_fields;
use crate::frame::{Frame, Staff, bad_request, not_found, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/agreements"),
    ("GET", "/agreements/settings"),
    ("POST", "/agreements/settings"),
    ("GET", "/agreements/report"),
    ("GET", "/agreements/report.csv"),
    ("POST", "/agreements/paper"),
    ("POST", "/agreements/letters"),
    ("POST", "/agreements/remind"),
    ("GET", "/agreements/{audience}"),
    ("POST", "/agreements/{audience}"),
    ("GET", "/agreements/{audience}/v/{version}"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/agreements", get(overview))
        .route(
            "/agreements/settings",
            get(settings_page).post(save_settings),
        )
        .route("/agreements/report", get(report))
        .route("/agreements/report.csv", get(report_csv))
        .route("/agreements/paper", post(paper))
        .route("/agreements/letters", post(letters))
        .route("/agreements/remind", post(remind))
        .route("/agreements/{audience}", get(audience_page).post(publish))
        .route("/agreements/{audience}/v/{version}", get(version_page))
}

/// The most characters of a name typed into a form (signed by, a visitor's name).
pub(crate) const MAX_NAME: usize = 200;

/// The relationships a paper acceptance may be signed in, with how the form words them.
const RELATIONSHIPS: [(&str, &str); 3] = [
    ("self", "The person themselves"),
    ("parent-carer", "A parent or carer"),
    ("staff-on-behalf", "A member of staff on their behalf"),
];

/// The standings the report can be filtered by, in the order a reader looks for them.
const STANDINGS: [(&str, &str); 5] = [
    ("not-accepted", "Not accepted"),
    ("old-version", "Accepted an earlier version"),
    ("expired", "Expired"),
    ("expiring-soon", "Expiring soon"),
    ("current", "Current"),
];

/// The school's renewal rules; settings the store holds but this version cannot use (which
/// the settings form never writes) fall back to 1 September and 30 days.
pub fn renewal_of(settings: &AgreementSettings) -> Renewal {
    Renewal::new(
        settings.renewal_month,
        settings.renewal_day,
        settings.expiring_soon_days,
    )
    .unwrap_or(Renewal::DEFAULT)
}

pub(crate) use hedgerow_agreements::uk_date;

/// The school's filtering groups as the policy in force has them: key → (name, audience).
pub(crate) struct Groups(BTreeMap<String, (String, Audience)>);

impl Groups {
    /// Reads the groups from the running gateway; none when it cannot say (the report then
    /// judges each person by their kind and group key alone).
    pub(crate) fn of(app: &AdminApp, staff: &Staff) -> Groups {
        let groups = app
            .control
            .policy(&staff.school_slug)
            .map(|policy| {
                policy
                    .groups
                    .iter()
                    .map(|g| {
                        (
                            g.key.clone(),
                            (
                                g.name.clone(),
                                Audience::for_group(g.kind.key(), &g.key, &g.name),
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Groups(groups)
    }

    /// The audience of a person in group `key`.
    pub(crate) fn audience(&self, kind: UserKind, key: &str) -> Audience {
        match self.0.get(key) {
            Some((_, audience)) => *audience,
            None => Audience::for_group(kind.as_str(), key, key),
        }
    }

    /// The group's name, or its key when the policy does not name it.
    pub(crate) fn name<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map_or(key, |(name, _)| name.as_str())
    }

    fn in_audience(&self, audience: Audience) -> Vec<String> {
        self.0
            .values()
            .filter(|(_, a)| *a == audience)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// How one person stands with their audience's agreement today.
struct Judged<'a> {
    row: &'a AcceptanceReportRow,
    audience: Audience,
    standing: Standing,
    /// Their latest acceptance at the portal or on paper.
    accepted: Option<&'a Acceptance>,
    /// A parent's latest co-signature through a letter's link.
    cosigned: Option<&'a Acceptance>,
    /// Whether that co-signature is of the current version.
    cosigned_current: bool,
}

/// Everything a judgement needs besides the person.
struct Judge {
    groups: Groups,
    /// Audience key → current version id.
    current: BTreeMap<String, i64>,
    renewal: Renewal,
    today: Date,
    zone: jiff::tz::TimeZone,
}

impl Judge {
    async fn new(app: &AdminApp, staff: &Staff) -> Result<Judge, Response> {
        let current = app
            .store
            .current_agreements(staff.school)
            .await
            .map_err(|e| server_error("reading the current agreements", e))?;
        let settings = app
            .store
            .agreement_settings(staff.school)
            .await
            .map_err(|e| server_error("reading the agreement settings", e))?;
        Ok(Judge {
            groups: Groups::of(app, staff),
            current: current.into_iter().map(|v| (v.audience, v.id)).collect(),
            renewal: renewal_of(&settings),
            today: app.today(),
            zone: app.zone.clone(),
        })
    }

    fn date_of(&self, at: Timestamp) -> Date {
        at.to_zoned_datetime(self.zone.clone()).date()
    }

    /// A person judged against their group's agreement.
    fn judge<'a>(&self, row: &'a AcceptanceReportRow) -> Judged<'a> {
        self.judge_as(row, self.groups.audience(row.kind, &row.group_key))
    }

    /// A person judged against `audience`'s agreement (a staff member against the governors'
    /// or the social media accounts' agreement, which no filtering group has).
    fn judge_as<'a>(&self, row: &'a AcceptanceReportRow, audience: Audience) -> Judged<'a> {
        let current = self.current.get(audience.key()).copied();
        let latest = |parent: bool| {
            row.latest
                .iter()
                .filter(|a| a.audience == audience.key())
                .filter(|a| a.method.opens_gate() != parent)
                .max_by_key(|a| a.accepted_at)
        };
        let accepted = latest(false);
        let cosigned = latest(true);
        let standing = self.renewal.standing(
            accepted.map(|a| self.date_of(a.accepted_at)),
            accepted.is_some_and(|a| Some(a.version_id) == current),
            self.today,
        );
        Judged {
            row,
            audience,
            standing,
            accepted,
            cosigned,
            cosigned_current: cosigned.is_some_and(|a| Some(a.version_id) == current),
        }
    }
}

fn method_label(method: AcceptanceMethod) -> &'static str {
    match method {
        AcceptanceMethod::Portal => "at the portal",
        AcceptanceMethod::Paper => "on paper",
        AcceptanceMethod::ParentLink => "by a parent's link",
    }
}

fn method_key(method: AcceptanceMethod) -> &'static str {
    match method {
        AcceptanceMethod::Portal => "portal",
        AcceptanceMethod::Paper => "paper",
        AcceptanceMethod::ParentLink => "parent-link",
    }
}

fn relationship_label(key: &str) -> &str {
    RELATIONSHIPS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, label)| label)
}

/// The whole report, read once (an audited read).
async fn report_rows(app: &AdminApp, staff: &Staff) -> Result<Vec<AcceptanceReportRow>, Response> {
    app.store
        .agreement_report(staff.school, &staff.acting())
        .await
        .map_err(|e| server_error("reading who has accepted the agreements", e))
}

// ---------------------------------------------------------------------------------------------
// The overview
// ---------------------------------------------------------------------------------------------

struct AudienceSummary {
    key: &'static str,
    label: &'static str,
    current: Option<String>,
    groups: String,
    people: usize,
    letting_in: usize,
    expiring_soon: usize,
    not_current: usize,
}

#[derive(Template)]
#[template(path = "agreements.html")]
struct OverviewTemplate {
    frame: Frame,
    audiences: Vec<AudienceSummary>,
    renewal: String,
    can_manage: bool,
    can_view: bool,
}

async fn overview(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = may_read(&staff) {
        return r;
    }
    let current = match app.store.current_agreements(staff.school).await {
        Ok(c) => c,
        Err(e) => return server_error("reading the current agreements", e),
    };
    let judge = match Judge::new(&app, &staff).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    // The counts name no one, but they come from the report, so only its readers get them.
    let rows = if staff.can(Permission::ViewAgreements) {
        match report_rows(&app, &staff).await {
            Ok(rows) => rows,
            Err(r) => return r,
        }
    } else {
        Vec::new()
    };
    let judged: Vec<Judged> = rows.iter().map(|r| judge.judge(r)).collect();
    let audiences = Audience::ALL
        .iter()
        .map(|audience| {
            let version = current.iter().find(|v| v.audience == audience.key());
            let mine: Vec<&Judged> = judged.iter().filter(|j| j.audience == *audience).collect();
            AudienceSummary {
                key: audience.key(),
                label: audience.label(),
                current: version.map(|v| {
                    format!(
                        "Version {}, “{}”, published {} by {}",
                        v.version,
                        v.title,
                        app.local_time(v.published_at),
                        v.published_by
                    )
                }),
                groups: judge.groups.in_audience(*audience).join(", "),
                people: mine.len(),
                letting_in: mine.iter().filter(|j| j.standing.lets_in()).count(),
                expiring_soon: mine
                    .iter()
                    .filter(|j| matches!(j.standing, Standing::ExpiringSoon { .. }))
                    .count(),
                not_current: mine.iter().filter(|j| !j.standing.lets_in()).count(),
            }
        })
        .collect();
    render(&OverviewTemplate {
        frame: staff.frame("/agreements"),
        audiences,
        renewal: renewal_sentence(&judge.renewal, judge.today),
        can_manage: staff.can(Permission::ManageAgreements),
        can_view: staff.can(Permission::ViewAgreements),
    })
}

fn renewal_sentence(renewal: &Renewal, today: Date) -> String {
    format!(
        "Acceptances made today count until {}; the report shows them as expiring soon from {} days before.",
        uk_date(renewal.expires_on(today)),
        renewal.expiring_soon_days
    )
}

// ---------------------------------------------------------------------------------------------
// One audience: its text, its history, publishing a new version
// ---------------------------------------------------------------------------------------------

struct VersionRow {
    version: i32,
    title: String,
    published: String,
    note: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "agreements_audience.html")]
struct AudienceTemplate {
    frame: Frame,
    key: &'static str,
    label: &'static str,
    current: Option<VersionView>,
    notice: &'static str,
    groups: String,
    history: Vec<VersionRow>,
    can_manage: bool,
    message: Option<String>,
    title: String,
    body: String,
    note: String,
}

/// One version as shown: its text already rendered to safe HTML.
struct VersionView {
    version: i32,
    title: String,
    html: String,
    published: String,
    note: String,
}

fn view_of(app: &AdminApp, v: &AgreementVersion) -> VersionView {
    VersionView {
        version: v.version,
        title: v.title.clone(),
        html: hedgerow_agreements::render_body(&v.body),
        published: format!("{} by {}", app.local_time(v.published_at), v.published_by),
        note: v.note.clone(),
    }
}

/// The gate of the pages that show the texts: readers of the report, and their editors.
#[allow(clippy::result_large_err)]
fn may_read(staff: &Staff) -> Result<(), Response> {
    if staff.can(Permission::ManageAgreements) {
        Ok(())
    } else {
        staff.require(Permission::ViewAgreements)
    }
}

#[allow(clippy::result_large_err)]
fn audience_from(key: &str) -> Result<Audience, Response> {
    Audience::parse(key).ok_or_else(|| not_found("agreement audience"))
}

/// What the edit form holds when the page is shown again after a refusal.
struct Typed {
    title: String,
    body: String,
    note: String,
}

async fn audience_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(key): Path<String>,
) -> Response {
    if let Err(r) = may_read(&staff) {
        return r;
    }
    let audience = match audience_from(&key) {
        Ok(a) => a,
        Err(r) => return r,
    };
    show_audience(&app, &staff, audience, None, None, StatusCode::OK).await
}

async fn show_audience(
    app: &AdminApp,
    staff: &Staff,
    audience: Audience,
    message: Option<String>,
    typed: Option<Typed>,
    status: StatusCode,
) -> Response {
    let versions = match app
        .store
        .agreement_versions(staff.school, audience.key())
        .await
    {
        Ok(v) => v,
        Err(e) => return server_error("reading an agreement's versions", e),
    };
    let current = versions.first();
    let typed = typed.unwrap_or_else(|| match current {
        Some(v) => Typed {
            title: v.title.clone(),
            body: v.body.clone(),
            note: String::new(),
        },
        None => {
            let default = hedgerow_agreements::default_template(audience);
            Typed {
                title: default.title,
                body: default.body,
                note: String::new(),
            }
        }
    });
    let history = versions
        .iter()
        .map(|v| VersionRow {
            version: v.version,
            title: v.title.clone(),
            published: format!("{} by {}", app.local_time(v.published_at), v.published_by),
            note: v.note.clone(),
            current: Some(v.id) == current.map(|c| c.id),
        })
        .collect();
    let mut response = render(&AudienceTemplate {
        frame: staff.frame("/agreements"),
        key: audience.key(),
        label: audience.label(),
        current: current.map(|v| view_of(app, v)),
        notice: hedgerow_agreements::monitoring_notice(audience),
        groups: Groups::of(app, staff).in_audience(audience).join(", "),
        history,
        can_manage: staff.can(Permission::ManageAgreements),
        message,
        title: typed.title,
        body: typed.body,
        note: typed.note,
    });
    *response.status_mut() = status;
    response
}

async fn publish(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageAgreements) {
        return r;
    }
    let audience = match audience_from(&key) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let typed = Typed {
        title: fields.get("title").unwrap_or_default().to_string(),
        body: fields.get("body").unwrap_or_default().to_string(),
        note: fields.get("note").unwrap_or_default().to_string(),
    };
    let refuse = |message: String, typed: Typed| {
        show_audience(
            &app,
            &staff,
            audience,
            Some(message),
            Some(typed),
            StatusCode::BAD_REQUEST,
        )
    };
    if let Err(e) = hedgerow_agreements::check_template(&typed.title, &typed.body) {
        return refuse(format!("{e}"), typed).await;
    }
    if typed.note.chars().count() > 500 {
        return refuse(
            "The note is longer than 500 characters. Shorten it and publish again.".into(),
            typed,
        )
        .await;
    }
    if fields.get("confirm") != Some("yes") {
        return refuse(
            format!(
                "Tick the box to confirm that everyone in “{}” must accept the new version before they use the school's internet again. Nothing was published.",
                audience.label()
            ),
            typed,
        )
        .await;
    }
    match app
        .store
        .publish_agreement(
            staff.school,
            audience.key(),
            &typed.title,
            &typed.body,
            &staff.actor(),
            &typed.note,
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/agreements/{}", audience.key())).into_response(),
        Err(e) => server_error("publishing an agreement", e),
    }
}

#[derive(Template)]
#[template(path = "agreements_version.html")]
struct VersionTemplate {
    frame: Frame,
    key: &'static str,
    label: &'static str,
    shown: VersionView,
    is_current: bool,
}

async fn version_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path((key, version)): Path<(String, String)>,
) -> Response {
    if let Err(r) = may_read(&staff) {
        return r;
    }
    let audience = match audience_from(&key) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(number) = version.parse::<i32>() else {
        return not_found("agreement version");
    };
    let versions = match app
        .store
        .agreement_versions(staff.school, audience.key())
        .await
    {
        Ok(v) => v,
        Err(e) => return server_error("reading an agreement's versions", e),
    };
    let Some(found) = versions.iter().find(|v| v.version == number) else {
        return not_found("agreement version");
    };
    render(&VersionTemplate {
        frame: staff.frame("/agreements"),
        key: audience.key(),
        label: audience.label(),
        shown: view_of(&app, found),
        is_current: versions.first().map(|v| v.id) == Some(found.id),
    })
}

// ---------------------------------------------------------------------------------------------
// Renewal settings
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "agreements_settings.html")]
struct SettingsTemplate {
    frame: Frame,
    message: Option<String>,
    months: Vec<(i8, &'static str)>,
    month: i8,
    day: String,
    window: String,
    link_days: String,
    renewal: String,
}

async fn settings_page(State(app): State<Arc<AdminApp>>, staff: Staff) -> Response {
    if let Err(r) = staff.require(Permission::ManageAgreements) {
        return r;
    }
    let settings = match app.store.agreement_settings(staff.school).await {
        Ok(s) => s,
        Err(e) => return server_error("reading the agreement settings", e),
    };
    show_settings(&app, &staff, &settings, None, StatusCode::OK)
}

fn show_settings(
    app: &AdminApp,
    staff: &Staff,
    settings: &AgreementSettings,
    message: Option<String>,
    status: StatusCode,
) -> Response {
    let mut response = render(&SettingsTemplate {
        frame: staff.frame("/agreements"),
        message,
        months: (1..=12).zip(hedgerow_agreements::MONTH_NAMES).collect(),
        month: settings.renewal_month,
        day: settings.renewal_day.to_string(),
        window: settings.expiring_soon_days.to_string(),
        link_days: settings.parent_link_days.to_string(),
        renewal: renewal_sentence(&renewal_of(settings), app.today()),
    });
    *response.status_mut() = status;
    response
}

/// The most days a parent's link lasts: long enough for a letter home over a holiday.
const MAX_LINK_DAYS: i32 = 120;

/// Reads the settings form; the sentence says what was wrong.
fn settings_from(fields: &crate::form::Fields) -> Result<AgreementSettings, String> {
    let number = |name: &str, label: &str| -> Result<i64, String> {
        let text = fields.get(name).unwrap_or_default();
        text.parse::<i64>()
            .map_err(|_| format!("{label} must be a whole number; “{text}” is not."))
    };
    let month = number("renewal_month", "The renewal month")?;
    let day = number("renewal_day", "The renewal day")?;
    let window = number("expiring_soon_days", "The expiring-soon window")?;
    let link_days = number("parent_link_days", "How long parents' links last")?;
    let (Ok(month), Ok(day), Ok(window)) = (
        i8::try_from(month),
        i8::try_from(day),
        i32::try_from(window),
    ) else {
        return Err("The renewal date or window is out of range. Choose a month, a day of that month, and a window of 0 to 120 days.".into());
    };
    Renewal::new(month, day, window).map_err(|e| e.to_string())?;
    let link_days = i32::try_from(link_days)
        .ok()
        .filter(|d| (1..=MAX_LINK_DAYS).contains(d))
        .ok_or(format!(
            "Parents' links must last between 1 and {MAX_LINK_DAYS} days."
        ))?;
    Ok(AgreementSettings {
        renewal_month: month,
        renewal_day: day,
        expiring_soon_days: window,
        parent_link_days: link_days,
    })
}

async fn save_settings(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageAgreements) {
        return r;
    }
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    match settings_from(&fields) {
        Ok(settings) => match app
            .store
            .set_agreement_settings(staff.school, &settings, &staff.actor())
            .await
        {
            Ok(()) => Redirect::to("/agreements").into_response(),
            Err(e) => server_error("saving the agreement settings", e),
        },
        Err(message) => {
            // Show what was typed where it can be read back, defaults elsewhere.
            let typed = AgreementSettings {
                renewal_month: fields
                    .get("renewal_month")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(9),
                renewal_day: fields
                    .get("renewal_day")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(1),
                expiring_soon_days: fields
                    .get("expiring_soon_days")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(30),
                parent_link_days: fields
                    .get("parent_link_days")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(28),
            };
            show_settings(&app, &staff, &typed, Some(message), StatusCode::BAD_REQUEST)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report and its CSV
// ---------------------------------------------------------------------------------------------

#[derive(Default, Deserialize)]
struct ReportQuery {
    #[serde(default)]
    audience: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    standing: String,
    /// The username a paper acceptance was just recorded for.
    #[serde(default)]
    recorded: String,
    /// After e-mail reminders: how many were sent, how many people had no address, how many
    /// failed.
    #[serde(default)]
    reminded: Option<usize>,
    #[serde(default)]
    no_email: Option<usize>,
    #[serde(default)]
    failed: Option<usize>,
}

/// The agreements no filtering group has: staff are judged against them one by one, when the
/// report asks for them, and paper acceptances may name them.
const STAFF_ONLY_AUDIENCES: [Audience; 2] = [Audience::Governors, Audience::SocialMedia];

impl ReportQuery {
    /// The people the report shows, judged: against the agreement asked for when it is one
    /// no group has (staff only), else each against their own group's.
    fn judged<'a>(&self, judge: &Judge, rows: &'a [AcceptanceReportRow]) -> Vec<Judged<'a>> {
        let staff_only =
            Audience::parse(&self.audience).filter(|a| STAFF_ONLY_AUDIENCES.contains(a));
        rows.iter()
            .filter_map(|row| match staff_only {
                Some(_) if row.kind != UserKind::Staff => None,
                Some(audience) => Some(judge.judge_as(row, audience)),
                None => Some(judge.judge(row)),
            })
            .filter(|j| self.keeps(j))
            .collect()
    }

    fn keeps(&self, judged: &Judged) -> bool {
        let row = judged.row;
        (self.audience.is_empty() || judged.audience.key() == self.audience)
            && (self.group.is_empty() || row.group_key == self.group)
            && (self.class.is_empty() || row.class_name.as_deref() == Some(self.class.as_str()))
            && (self.standing.is_empty() || judged.standing.key() == self.standing)
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("audience", self.audience.as_str()),
            ("group", self.group.as_str()),
            ("class", self.class.as_str()),
            ("standing", self.standing.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }
}

/// One person's line in the report, as text.
struct ReportLine {
    username: String,
    name: String,
    group: String,
    class: String,
    audience: &'static str,
    audience_key: &'static str,
    standing_key: &'static str,
    standing: String,
    /// When, how, who signed, in what relationship; empty when never.
    accepted: String,
    accepted_at: String,
    method: &'static str,
    signed_by: String,
    relationship: String,
    version: String,
    cosigned: String,
    cosigned_at: String,
    cosigned_by: String,
}

fn line_of(app: &AdminApp, judge: &Judge, j: &Judged) -> ReportLine {
    let row = j.row;
    let accepted = j.accepted.map(|a| {
        format!(
            "{} {}, signed by {} ({}), version {}",
            app.local_time(a.accepted_at),
            method_label(a.method),
            a.signed_by,
            relationship_label(&a.relationship).to_lowercase(),
            a.version
        )
    });
    let cosigned = j.cosigned.map(|a| {
        format!(
            "{} by {}{}",
            app.local_time(a.accepted_at),
            a.signed_by,
            if j.cosigned_current {
                ""
            } else {
                " (an earlier version)"
            }
        )
    });
    ReportLine {
        username: row.username.clone(),
        name: row.display_name.clone(),
        group: judge.groups.name(&row.group_key).to_string(),
        class: row.class_name.clone().unwrap_or_default(),
        audience: j.audience.label(),
        audience_key: j.audience.key(),
        standing_key: j.standing.key(),
        standing: j.standing.label(),
        accepted: accepted.unwrap_or_default(),
        accepted_at: j
            .accepted
            .map(|a| a.accepted_at.to_string())
            .unwrap_or_default(),
        method: j.accepted.map_or("", |a| method_key(a.method)),
        signed_by: j.accepted.map(|a| a.signed_by.clone()).unwrap_or_default(),
        relationship: j
            .accepted
            .map(|a| a.relationship.clone())
            .unwrap_or_default(),
        version: j
            .accepted
            .map(|a| a.version.to_string())
            .unwrap_or_default(),
        cosigned: cosigned.unwrap_or_default(),
        cosigned_at: j
            .cosigned
            .map(|a| a.accepted_at.to_string())
            .unwrap_or_default(),
        cosigned_by: j.cosigned.map(|a| a.signed_by.clone()).unwrap_or_default(),
    }
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(options: impl IntoIterator<Item = (String, String)>, chosen: &str) -> Vec<Choice> {
    options
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == chosen,
            value,
            label,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "agreements_report.html")]
struct ReportTemplate {
    frame: Frame,
    lines: Vec<ReportLine>,
    total: usize,
    audiences: Vec<Choice>,
    groups: Vec<Choice>,
    classes: Vec<Choice>,
    letter_classes: Vec<String>,
    standings: Vec<Choice>,
    relationships: &'static [(&'static str, &'static str)],
    /// The agreements a paper acceptance may name besides the person's own.
    staff_only_audiences: Vec<(&'static str, &'static str)>,
    csv_href: String,
    recorded: Option<String>,
    /// The sentence after e-mail reminders were sent.
    reminded: Option<String>,
    /// The report's filters, for the reminder form.
    filters: Vec<(&'static str, String)>,
    today: String,
    has_portal: bool,
}

async fn report(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<ReportQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewAgreements) {
        return r;
    }
    let judge = match Judge::new(&app, &staff).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let rows = match report_rows(&app, &staff).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let classes = match app.store.class_names(staff.school).await {
        Ok(c) => c,
        Err(e) => return server_error("reading classes", e),
    };
    let lines: Vec<ReportLine> = query
        .judged(&judge, &rows)
        .iter()
        .map(|j| line_of(&app, &judge, j))
        .collect();
    let recorded = rows
        .iter()
        .find(|r| !query.recorded.is_empty() && r.username == query.recorded)
        .map(|r| r.display_name.clone());
    render(&ReportTemplate {
        frame: staff.frame("/agreements"),
        total: rows.len(),
        lines,
        audiences: choices(
            Audience::ALL.map(|a| (a.key().to_string(), a.label().to_string())),
            &query.audience,
        ),
        groups: choices(
            judge
                .groups
                .0
                .iter()
                .map(|(key, (name, _))| (key.clone(), name.clone())),
            &query.group,
        ),
        letter_classes: classes.clone(),
        classes: choices(
            classes.iter().map(|name| (name.clone(), name.clone())),
            &query.class,
        ),
        standings: choices(
            STANDINGS.map(|(k, l)| (k.to_string(), l.to_string())),
            &query.standing,
        ),
        relationships: &RELATIONSHIPS,
        staff_only_audiences: STAFF_ONLY_AUDIENCES
            .iter()
            .map(|a| (a.key(), a.label()))
            .collect(),
        csv_href: crate::explorer::link("/agreements/report.csv", &query.pairs()),
        recorded,
        reminded: query.reminded.map(|sent| {
            let mut sentence = format!(
                "Reminders e-mailed to {sent} {}.",
                if sent == 1 { "person" } else { "people" }
            );
            if let Some(n) = query.no_email.filter(|n| *n > 0) {
                sentence.push_str(&format!(
                    " {n} without an e-mail address were not reminded."
                ));
            }
            if let Some(n) = query.failed.filter(|n| *n > 0) {
                sentence.push_str(&format!(
                    " {n} could not be sent; check the mail server and try again."
                ));
            }
            sentence
        }),
        filters: query
            .pairs()
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect(),
        today: app.today().to_string(),
        has_portal: app.control.portal_url().is_some(),
    })
}

/// E-mails a reminder to everyone the report's filters select whose agreement is not current
/// (never accepted, an older version, ended, or ending soon) and who has an e-mail address,
/// then shows the report with how many were sent. Each one sent is audited
/// (`agreement.remind`), naming the person, not the address.
async fn remind(State(app): State<Arc<AdminApp>>, staff: Staff, request: Request) -> Response {
    if let Err(r) = staff.require(Permission::ViewAgreements) {
        return r;
    }
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let field = |name: &str| fields.get(name).unwrap_or_default().to_string();
    let query = ReportQuery {
        audience: field("audience"),
        group: field("group"),
        class: field("class"),
        standing: field("standing"),
        ..ReportQuery::default()
    };
    let judge = match Judge::new(&app, &staff).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let rows = match report_rows(&app, &staff).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let portal = app.control.portal_url();
    let (mut sent, mut no_email, mut failed) = (0, 0, 0);
    for judged in query.judged(&judge, &rows) {
        let Some(reminder) = hedgerow_agreements::reminder(
            &staff.school_name,
            &judged.row.display_name,
            judged.audience,
            &judged.standing,
            portal.as_deref(),
        ) else {
            continue;
        };
        let Some(to) = judged.row.email.as_deref().filter(|e| e.contains('@')) else {
            no_email += 1;
            continue;
        };
        match app
            .control
            .send_email(to, &reminder.subject, &reminder.text)
            .await
        {
            Ok(()) => {
                sent += 1;
                let audit = hedgerow_store::AuditEntry {
                    school: Some(staff.school),
                    at: Timestamp::now(),
                    actor: staff.actor(),
                    action: "agreement.remind".into(),
                    target: format!("user:{}", judged.row.username),
                    detail: format!(
                        "audience={} standing={}",
                        judged.audience.key(),
                        judged.standing.key()
                    ),
                    from_addr: Some(staff.peer.to_string()),
                };
                if let Err(e) = app.store.append_audit(&audit).await {
                    return server_error("writing the audit log", e);
                }
            }
            Err(problem) if sent == 0 && failed == 0 => {
                // The first one failing says the mail server is missing or down: stop there.
                return bad_request(problem);
            }
            Err(_) => failed += 1,
        }
    }
    let mut pairs: Vec<(&str, String)> = query
        .pairs()
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    pairs.push(("reminded", sent.to_string()));
    pairs.push(("no_email", no_email.to_string()));
    pairs.push(("failed", failed.to_string()));
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Redirect::to(&crate::explorer::link("/agreements/report", &pairs)).into_response()
}

async fn report_csv(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<ReportQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewAgreements) {
        return r;
    }
    let judge = match Judge::new(&app, &staff).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let rows = match report_rows(&app, &staff).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let mut csv = String::from(
        "username,name,group,class,audience,standing,accepted_at,method,signed_by,relationship,version,parent_cosigned_at,parent_signed_by\r\n",
    );
    for judged in query.judged(&judge, &rows) {
        let line = line_of(&app, &judge, &judged);
        let cells = [
            line.username.as_str(),
            &line.name,
            &line.group,
            &line.class,
            line.audience_key,
            line.standing_key,
            &line.accepted_at,
            line.method,
            &line.signed_by,
            &line.relationship,
            &line.version,
            &line.cosigned_at,
            &line.cosigned_by,
        ];
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                csv.push(',');
            }
            hedgerow_store::csv_cell(&mut csv, cell);
        }
        csv.push_str("\r\n");
    }
    let mut response = csv.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let name = format!(
        "attachment; filename=\"hedgerow-agreements-{}-{}.csv\"",
        file_safe(&staff.school_slug),
        judge.today
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn file_safe(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Paper acceptances
// ---------------------------------------------------------------------------------------------

/// How far back a paper form may be dated: last year's forms found in a drawer still count
/// for the year they were signed in, older ones would only ever show as expired.
const PAPER_MAX_AGE_DAYS: i64 = 800;

/// The moment a paper form signed on `date` is recorded at: midday, so no clock change or
/// time zone moves it to another day.
fn midday(date: Date, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
    date.to_datetime(jiff::civil::Time::constant(12, 0, 0, 0))
        .to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// Reads the date a paper form was signed; the sentence says what was wrong.
fn signed_on(text: &str, today: Date) -> Result<Date, String> {
    let date: Date = text.trim().parse().map_err(|_| {
        format!("“{text}” is not a date; write it as 2026-09-07 or pick it from the calendar.")
    })?;
    if date > today {
        return Err(format!(
            "The form cannot have been signed on {}, which is after today. Check the date on the paper form.",
            uk_date(date)
        ));
    }
    let oldest = today
        .checked_sub(jiff::Span::new().days(PAPER_MAX_AGE_DAYS))
        .unwrap_or(today);
    if date < oldest {
        return Err(format!(
            "A form signed on {} is too old to count; ask for the current agreement to be signed again.",
            uk_date(date)
        ));
    }
    Ok(date)
}

async fn paper(State(app): State<Arc<AdminApp>>, staff: Staff, request: Request) -> Response {
    if let Err(r) = staff.require(Permission::ViewAgreements) {
        return r;
    }
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let username = match fields.required("username", "The person's username", 100) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let signed_by = match fields.required("signed_by", "Who signed the form", MAX_NAME) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let relationship = fields.get("relationship").unwrap_or_default();
    if !RELATIONSHIPS.iter().any(|(k, _)| *k == relationship) {
        return bad_request(
            "Say who signed the form: the person themselves, a parent or carer, or a member of staff on their behalf.",
        );
    }
    let today = app.today();
    let date = match signed_on(fields.get("signed_on").unwrap_or_default(), today) {
        Ok(d) => d,
        Err(message) => return bad_request(message),
    };
    let person = match app.store.person(staff.school, &username).await {
        Ok(Some(p)) if !p.disabled => p,
        Ok(_) => {
            return bad_request(format!(
                "There is no one called “{username}” at this school. Check the username on the report and send the form again."
            ));
        }
        Err(e) => return server_error("looking up a person", e),
    };
    let audience = match fields.get("audience").unwrap_or_default() {
        "" => Groups::of(&app, &staff).audience(person.kind, &person.group_key),
        key => match Audience::parse(key).filter(|a| STAFF_ONLY_AUDIENCES.contains(a)) {
            Some(audience) if person.kind == UserKind::Staff => audience,
            Some(audience) => {
                return bad_request(format!(
                    "{} is not a member of staff, so cannot accept the agreement for {}. Choose their own agreement.",
                    person.display_name,
                    audience.label().to_lowercase()
                ));
            }
            None => {
                return bad_request(
                    "Choose which agreement was signed: the person's own, the governors' or the social media accounts'.",
                );
            }
        },
    };
    let version = match app
        .store
        .current_agreement(staff.school, audience.key())
        .await
    {
        Ok(Some(v)) => v,
        Ok(None) => {
            return bad_request(format!(
                "No agreement for {} has been published yet, so there is nothing to accept. Publish one first.",
                audience.label()
            ));
        }
        Err(e) => return server_error("reading the current agreement", e),
    };
    let Some(accepted_at) = midday(date, &app.zone) else {
        return bad_request("That date cannot be recorded; check it and send the form again.");
    };
    let acceptance = NewAcceptance {
        school: staff.school,
        version_id: version.id,
        subject_kind: SubjectKind::User,
        subject: person.username.clone(),
        signed_by,
        relationship: relationship.to_string(),
        method: AcceptanceMethod::Paper,
        recorded_by: Some(staff.actor()),
        client_addr: None,
        accepted_at,
    };
    match app.store.record_acceptance(&acceptance).await {
        Ok(_) => Redirect::to(&format!(
            "/agreements/report?recorded={}",
            url_encode(&person.username)
        ))
        .into_response(),
        Err(e) => server_error("recording a paper acceptance", e),
    }
}

// ---------------------------------------------------------------------------------------------
// Letters to parents
// ---------------------------------------------------------------------------------------------

struct Letter {
    child: String,
    class: String,
    link: String,
    qr: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "agreements_letters.html")]
struct LettersTemplate {
    school_name: String,
    class: String,
    letters: Vec<Letter>,
    reminders: bool,
}

#[derive(Template)]
#[template(path = "agreements_no_portal.html")]
struct NoPortalTemplate {
    frame: Frame,
}

/// The portal address with the trailing `/` every link is built on.
fn portal_base(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// One child's letter: the link `<portal>parent/<token>` in words and as a QR code.
fn letter(
    portal: &str,
    token: &str,
    child: &str,
    class: &str,
    expires: Date,
) -> Result<Letter, hedgerow_agreements::QrError> {
    let link = format!("{portal}parent/{token}");
    Ok(Letter {
        qr: hedgerow_agreements::qr_svg(&link)?,
        child: child.to_string(),
        class: class.to_string(),
        link,
        expires: uk_date(expires),
    })
}

/// A parent's link token and the SHA-256 the store keeps instead of it.
#[allow(clippy::result_large_err)]
fn fresh_link_token() -> Result<(String, String), Response> {
    let token = hedgerow_agreements::link_token(crate::frame::random_bytes()?);
    let hash = hedgerow_agreements::sha256_hex(token.as_bytes());
    Ok((token, hash))
}

async fn letters(State(app): State<Arc<AdminApp>>, staff: Staff, request: Request) -> Response {
    if let Err(r) = staff.require(Permission::ViewAgreements) {
        return r;
    }
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(portal) = app.control.portal_url() else {
        let mut response = render(&NoPortalTemplate {
            frame: staff.frame("/agreements"),
        });
        *response.status_mut() = StatusCode::CONFLICT;
        return response;
    };
    let portal = portal_base(&portal);
    let class = match fields.required("class", "The class", 100) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let reminders = fields.get("only_unsigned") == Some("yes");
    let members = match app.store.class_members(staff.school, &class).await {
        Ok(m) => m,
        Err(e) => return server_error("listing a class", e),
    };
    let mut pupils: Vec<_> = members
        .into_iter()
        .filter(|p| p.kind == UserKind::Pupil && !p.disabled)
        .collect();
    if pupils.is_empty() {
        return bad_request(format!(
            "The class “{class}” has no pupils. Choose another class, or import the class list first."
        ));
    }
    if reminders {
        let judge = match Judge::new(&app, &staff).await {
            Ok(j) => j,
            Err(r) => return r,
        };
        let rows = match report_rows(&app, &staff).await {
            Ok(rows) => rows,
            Err(r) => return r,
        };
        let cosigned: Vec<&str> = rows
            .iter()
            .map(|r| judge.judge(r))
            .filter(|j| j.cosigned_current)
            .map(|j| j.row.username.as_str())
            .collect();
        pupils.retain(|p| !cosigned.contains(&p.username.as_str()));
        if pupils.is_empty() {
            return bad_request(format!(
                "Every pupil in “{class}” already has a parent's co-signature of the current agreement, so there is no reminder to print."
            ));
        }
    }
    let settings = match app.store.agreement_settings(staff.school).await {
        Ok(s) => s,
        Err(e) => return server_error("reading the agreement settings", e),
    };
    let now = Timestamp::now();
    let expires_at =
        now + jiff::SignedDuration::from_hours(24 * i64::from(settings.parent_link_days));
    let mut letters = Vec::with_capacity(pupils.len());
    for pupil in &pupils {
        let (token, hash) = match fresh_link_token() {
            Ok(t) => t,
            Err(r) => return r,
        };
        if let Err(e) = app
            .store
            .create_parent_link(
                staff.school,
                &pupil.username,
                &hash,
                expires_at,
                &staff.actor(),
            )
            .await
        {
            return server_error("making a parent's link", e);
        }
        match letter(
            &portal,
            &token,
            &pupil.display_name,
            pupil.class_name.as_deref().unwrap_or(&class),
            expires_at.to_zoned_datetime(app.zone.clone()).date(),
        ) {
            Ok(l) => letters.push(l),
            Err(e) => return server_error("drawing a QR code", e),
        }
    }
    render(&LettersTemplate {
        school_name: staff.school_name.clone(),
        class,
        letters,
        reminders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> crate::form::Fields {
        crate::form::Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn settings_are_read_and_refused_with_a_sentence() {
        let good = settings_from(&form(&[
            ("renewal_month", "7"),
            ("renewal_day", "20"),
            ("expiring_soon_days", "14"),
            ("parent_link_days", "21"),
        ]))
        .unwrap();
        assert_eq!(
            (
                good.renewal_month,
                good.renewal_day,
                good.expiring_soon_days,
                good.parent_link_days
            ),
            (7, 20, 14, 21)
        );
        let bad_day = settings_from(&form(&[
            ("renewal_month", "2"),
            ("renewal_day", "31"),
            ("expiring_soon_days", "14"),
            ("parent_link_days", "21"),
        ]));
        assert!(bad_day.is_err());
        let bad_links = settings_from(&form(&[
            ("renewal_month", "9"),
            ("renewal_day", "1"),
            ("expiring_soon_days", "30"),
            ("parent_link_days", "0"),
        ]))
        .unwrap_err();
        assert!(bad_links.contains("between 1 and 120"), "{bad_links}");
        let not_number = settings_from(&form(&[("renewal_month", "Sept")])).unwrap_err();
        assert!(not_number.contains("Sept"), "{not_number}");
    }

    #[test]
    fn paper_dates_are_not_in_the_future_or_too_old() {
        let today: Date = "2026-10-05".parse().unwrap();
        assert_eq!(
            signed_on("2026-09-07", today).unwrap(),
            "2026-09-07".parse::<Date>().unwrap()
        );
        assert!(
            signed_on("2026-10-06", today)
                .unwrap_err()
                .contains("after today")
        );
        assert!(
            signed_on("2020-01-01", today)
                .unwrap_err()
                .contains("too old")
        );
        assert!(
            signed_on("7/9/2026", today)
                .unwrap_err()
                .contains("7/9/2026")
        );
    }

    #[test]
    fn paper_forms_are_recorded_at_midday_local_time() {
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let summer = midday("2026-07-01".parse().unwrap(), &zone).unwrap();
        assert_eq!(summer.to_string(), "2026-07-01T11:00:00Z");
        let winter = midday("2026-12-01".parse().unwrap(), &zone).unwrap();
        assert_eq!(winter.to_string(), "2026-12-01T12:00:00Z");
    }

    #[test]
    fn portal_links_have_one_slash() {
        assert_eq!(
            portal_base("http://portal.school/"),
            "http://portal.school/"
        );
        assert_eq!(portal_base("http://10.0.0.2:8080"), "http://10.0.0.2:8080/");
    }

    #[test]
    fn letters_print_one_page_per_child_with_the_link_and_its_qr_code() {
        let expires: Date = "2026-10-03".parse().unwrap();
        let (token, _) = fresh_link_token().unwrap();
        let letters = vec![
            letter("http://portal.school/", &token, "Bea Brown", "4B", expires).unwrap(),
            letter("http://portal.school/", "other", "<Cal>", "4B", expires).unwrap(),
        ];
        let html = LettersTemplate {
            school_name: "Test School".into(),
            class: "4B".into(),
            letters,
            reminders: true,
        }
        .render()
        .unwrap();
        assert!(html.contains(&format!("http://portal.school/parent/{token}")));
        assert_eq!(html.matches("<article class=\"letter\">").count(), 2);
        assert_eq!(html.matches("<svg").count(), 2, "a QR code on each letter");
        assert!(html.contains("break-after: page"));
        assert!(html.contains("Reminder"));
        assert!(html.contains("works until 3 October 2026"));
        // A child's name is text, never markup.
        assert!(!html.contains("<Cal>") && html.contains("Cal&"), "{html}");
    }

    #[test]
    fn link_tokens_are_fresh_and_only_their_hash_is_kept() {
        let (a, hash_a) = fresh_link_token().unwrap();
        let (b, _) = fresh_link_token().unwrap();
        assert_ne!(a, b);
        assert!(hedgerow_agreements::looks_like_token(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(!hash_a.contains(&a));
        assert_eq!(hash_a, hedgerow_agreements::sha256_hex(a.as_bytes()));
    }
}
