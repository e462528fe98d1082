//! The activity explorer: search a school's browsing by person, device, address, site, time,
//! category, verdict and search term, page back through it newest first, open one person's
//! timeline, and download what a search found as CSV.
//!
//! Only the DSL, deputies and headteacher may use it (`ViewPersonActivity`, and
//! `ExportActivity` for the CSV). Every read goes through the store's audited calls
//! (`explore`, `person_timeline`, `export_events_csv`), which write the audit record with the
//! reader's name, address and purpose in the same transaction as the read, so nothing here
//! can show browsing without leaving a record. Opening the page without a search shows only
//! the form, so following the "Activity" link reads nobody's browsing.
//!
//! Everything shown came from outside (host names, URLs and search terms are whatever a
//! pupil's device asked for), so it is only ever rendered through askama's escaping, and
//! links are built with [`url_encode`].

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hedgerow_accounts::Permission;
use hedgerow_store::{
    Cursor, ExplorerQuery, HostFilter, Reader, SchoolId, StoreError, StoredEvent, Verdict,
};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::AdminApp;
use crate::frame::{Frame, Staff, bad_request, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/activity"),
    ("GET", "/activity/person/{username}"),
    ("GET", "/activity/export.csv"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/activity", get(explorer))
        .route("/activity/person/{username}", get(timeline))
        .route("/activity/export.csv", get(export))
}

/// Events per page unless the form asks for another size.
const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page the form offers (the store allows more, but a page this long is already
/// more than anyone reads on a tablet).
const MAX_PAGE_SIZE: u32 = 200;
/// The longest text a filter field accepts.
const MAX_FIELD_CHARS: usize = 200;
/// The longest reason for looking (the store accepts 1,000 characters of purpose, and the
/// page adds its own words).
const MAX_PURPOSE_CHARS: usize = 500;
/// The purpose recorded when the reader gives no reason (the page they used is recorded too).
const NO_REASON: &str = "no reason given";
/// Events a timeline page shows; the period can be narrowed to see the rest.
const TIMELINE_ROWS: u32 = 1_000;
/// How far back a timeline looks when no start is given.
const TIMELINE_DEFAULT_DAYS: i64 = 7;
/// The largest CSV the app builds for one download. The export is built in memory before it
/// is sent, so a bound keeps one download from exhausting the gateway's memory; a larger one
/// is refused with advice to narrow the period.
const MAX_EXPORT_BYTES: usize = 64 * 1024 * 1024;

/// The explorer's search form, as the browser sends it (every field optional; an empty field
/// is no filter). Also the filters of the CSV export.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ActivityForm {
    pub user: String,
    pub device: String,
    /// The device's IP address.
    pub address: String,
    /// A host name: the site and every name under it.
    pub site: String,
    /// `datetime-local` in the school's zone.
    pub from: String,
    pub to: String,
    pub category: String,
    /// `allow`, `block` or empty for both.
    pub verdict: String,
    pub search: String,
    /// Why the person is looking, recorded in the audit log.
    pub purpose: String,
    pub per_page: String,
    /// The cursor of the page to show (from an "Older events" link).
    pub after: String,
}

impl ActivityForm {
    /// The filters as query-string pairs, for links that keep them (paging, CSV).
    fn filter_pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("user", self.user.trim()),
            ("device", self.device.trim()),
            ("address", self.address.trim()),
            ("site", self.site.trim()),
            ("from", self.from.trim()),
            ("to", self.to.trim()),
            ("category", self.category.trim()),
            ("verdict", self.verdict.trim()),
            ("search", self.search.trim()),
            ("purpose", self.purpose.trim()),
        ]
    }
}

/// What the form asked for, checked: the store's query and the reason for looking.
pub(crate) struct ActivitySearch {
    pub query: ExplorerQuery,
    pub purpose: String,
}

/// Checks the explorer's form. Every problem is reported (not just the first), each as a
/// sentence that says which field and what to do.
pub(crate) fn parse_activity_form(
    zone: &TimeZone,
    school: SchoolId,
    form: &ActivityForm,
) -> Result<ActivitySearch, Vec<String>> {
    let mut errors = Vec::new();
    let mut query = ExplorerQuery::school(school, DEFAULT_PAGE_SIZE);
    query.user = text_field("Person", &form.user, MAX_FIELD_CHARS, &mut errors);
    query.device = text_field("Device", &form.device, MAX_FIELD_CHARS, &mut errors);
    query.category = text_field("Category", &form.category, MAX_FIELD_CHARS, &mut errors)
        .map(|c| c.to_ascii_lowercase());
    query.search_term = text_field("Search term", &form.search, MAX_FIELD_CHARS, &mut errors);
    if let Some(address) = text_field("Address", &form.address, 64, &mut errors) {
        match address.parse::<IpAddr>() {
            Ok(ip) => query.client_ip = Some(ip),
            Err(_) => errors.push(format!(
                "Address “{address}” is not an IP address. Give one such as 10.0.3.21 or fd00::15, or leave it empty."
            )),
        }
    }
    if let Some(site) = text_field("Site", &form.site, MAX_FIELD_CHARS, &mut errors) {
        match site_host(&site) {
            Some(host) => query.host = Some(HostFilter::WithSubdomains(host)),
            None => errors.push(format!(
                "Site “{site}” has no host name in it. Give one such as example.com, or leave it empty."
            )),
        }
    }
    query.since = local_time_field(zone, "From", &form.from, &mut errors);
    query.until = local_time_field(zone, "To", &form.to, &mut errors);
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since >= until
    {
        errors.push("“From” must be earlier than “To”. Swap them or widen the period.".into());
    }
    match form.verdict.trim() {
        "" => {}
        "allow" | "allowed" => query.verdict = Some(Verdict::Allow),
        "block" | "blocked" => query.verdict = Some(Verdict::Block),
        _ => errors.push("Verdict must be “Allowed”, “Blocked” or “Either”.".into()),
    }
    query.page_size = page_size_field(&form.per_page, &mut errors);
    match form.after.trim() {
        "" => {}
        after => match after.parse::<Cursor>() {
            Ok(cursor) => query.page = Some(cursor),
            Err(_) => errors.push(
                "The page link is damaged or out of date. Search again to start from the newest events."
                    .into(),
            ),
        },
    }
    let purpose = text_field(
        "Reason for looking",
        &form.purpose,
        MAX_PURPOSE_CHARS,
        &mut errors,
    )
    .unwrap_or_else(|| NO_REASON.into());
    if errors.is_empty() {
        Ok(ActivitySearch { query, purpose })
    } else {
        Err(errors)
    }
}

/// A trimmed, bounded text field without control characters; `None` when empty (no filter)
/// or wrong (with the problem added to `errors`).
pub(crate) fn text_field(
    label: &str,
    value: &str,
    max_chars: usize,
    errors: &mut Vec<String>,
) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.chars().count() > max_chars {
        errors.push(format!(
            "{label} is longer than {max_chars} characters. Shorten it."
        ));
        return None;
    }
    if value.chars().any(char::is_control) {
        errors.push(format!(
            "{label} contains control characters (such as line breaks). Remove them."
        ));
        return None;
    }
    Some(value.to_owned())
}

/// A `datetime-local` value (`2026-03-14T09:30`, seconds optional, or a date alone for
/// midnight) read as the school's local time.
pub(crate) fn local_time_field(
    zone: &TimeZone,
    label: &str,
    value: &str,
    errors: &mut Vec<String>,
) -> Option<Timestamp> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let civil = value.parse::<jiff::civil::DateTime>().or_else(|e| {
        value
            .parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|_| e)
    });
    // A time in the hour the clocks skip is moved forward, one in the hour they repeat is the
    // first of the two: what a person means by it either way.
    match civil.and_then(|dt| dt.to_zoned_datetime(zone.clone())) {
        Ok(zoned) => Some(zoned.timestamp()),
        Err(_) => {
            let shown: String = value.chars().take(40).collect();
            errors.push(format!(
                "{label} “{shown}” is not a date and time. Use the date picker, or write it as 2026-03-14T09:30."
            ));
            None
        }
    }
}

/// The host name in what someone typed as a site: `https://www.example.com/page` gives
/// `www.example.com`.
fn site_host(site: &str) -> Option<String> {
    let rest = site.split_once("://").map_or(site, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("").trim();
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_owned())
}

pub(crate) fn page_size_field(value: &str, errors: &mut Vec<String>) -> u32 {
    match value.trim() {
        "" => DEFAULT_PAGE_SIZE,
        n => match n.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                errors.push(format!(
                    "Events per page must be a number from 1 to {MAX_PAGE_SIZE}."
                ));
                DEFAULT_PAGE_SIZE
            }
        },
    }
}

/// `value` percent-encoded for a URL path segment or query value: only unreserved characters
/// stay as they are, so nothing typed or logged can break out of a link.
pub(crate) fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path?name=value&...` with each value encoded and empty values left out.
pub(crate) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = path.to_owned();
    let mut first = true;
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        out.push(if first { '?' } else { '&' });
        first = false;
        out.push_str(name);
        out.push('=');
        out.push_str(&url_encode(value));
    }
    out
}

/// A time as the school reads it, to the second (what an investigation needs).
pub(crate) fn local_time_precise(zone: &TimeZone, at: Timestamp) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%-d %b %Y %H:%M:%S")
        .to_string()
}

/// A time as a `datetime-local` field's value in the school's zone.
fn datetime_local(zone: &TimeZone, at: Timestamp) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The link to a person's timeline.
pub(crate) fn person_href(username: &str) -> String {
    format!("/activity/person/{}", url_encode(username))
}

/// Who is reading, from where and why: what the store writes into the audit log.
fn reader(staff: &Staff, purpose: &str, page: &str) -> Reader {
    Reader {
        actor: staff.actor(),
        from_addr: Some(staff.peer.to_string()),
        purpose: format!("{page}: {purpose}"),
    }
}

/// One event as a row of the explorer or a timeline.
pub(crate) struct EventView {
    /// RFC 3339, for `<time datetime>`.
    pub at: String,
    pub time: String,
    pub source: &'static str,
    pub user: Option<String>,
    pub person_href: Option<String>,
    pub device: Option<String>,
    pub address: String,
    pub host: String,
    pub url: Option<String>,
    pub search_term: Option<String>,
    /// The page's title, when the proxy read one.
    pub page_title: Option<String>,
    pub blocked: bool,
    pub category: Option<String>,
    pub rule: String,
    pub reason: Option<String>,
}

impl EventView {
    pub(crate) fn new(zone: &TimeZone, stored: &StoredEvent) -> EventView {
        let e = &stored.event;
        EventView {
            at: e.at.to_string(),
            time: local_time_precise(zone, e.at),
            source: match e.source {
                hedgerow_store::EventSource::Dns => "DNS",
                hedgerow_store::EventSource::Proxy => "Web proxy",
                hedgerow_store::EventSource::Explain => "Explain",
            },
            user: e.user.clone(),
            person_href: e.user.as_deref().map(person_href),
            device: e.device.clone(),
            address: e.client_ip.to_string(),
            host: e.host.clone(),
            url: e.url.clone(),
            search_term: e.search_term.clone(),
            page_title: e.page_title.clone(),
            blocked: e.verdict == Verdict::Block,
            category: e.category.clone(),
            rule: e.rule.clone(),
            reason: e.reason.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityTemplate {
    frame: Frame,
    form: ActivityForm,
    /// The page size chosen, for the select.
    per_page: u32,
    errors: Vec<String>,
    results: Option<Results>,
}

struct Results {
    events: Vec<EventView>,
    older_href: Option<String>,
    newest_href: Option<String>,
    csv_href: Option<String>,
}

/// Renders with a status other than 200 (a form with problems is a 400, on the page).
fn with_status(mut response: Response, status: StatusCode) -> Response {
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// What to say on the page when the store refuses a filter (an empty search term, say);
/// `None` for a failure of the store itself, which is not the person's to fix.
fn refusal_message(e: &StoreError) -> Option<String> {
    match e {
        StoreError::InvalidInput { field, problem, .. } => Some(format!(
            "The {} filter cannot be used: {problem}.",
            field.trim_start_matches("explorer ")
        )),
        _ => None,
    }
}

async fn explorer(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    RawQuery(raw): RawQuery,
    form: Result<Query<ActivityForm>, QueryRejection>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewPersonActivity) {
        return r;
    }
    let (form, mut errors) = match form {
        Ok(Query(form)) => (form, Vec::new()),
        Err(e) => (
            ActivityForm::default(),
            vec![format!(
                "The search could not be read ({}). Search again from the form.",
                e.body_text()
            )],
        ),
    };
    let searched = raw.as_deref().is_some_and(|q| !q.is_empty());
    let mut page_errors = Vec::new();
    let per_page = page_size_field(&form.per_page, &mut page_errors);
    let mut results = None;
    if searched && errors.is_empty() {
        match parse_activity_form(&app.zone, staff.school, &form) {
            Err(problems) => errors = problems,
            Ok(search) => {
                let reader = reader(&staff, &search.purpose, "activity explorer");
                match app.store.explore(&reader, &search.query).await {
                    Ok(page) => {
                        let mut pairs = form.filter_pairs();
                        let per_page_text = per_page.to_string();
                        if per_page != DEFAULT_PAGE_SIZE {
                            pairs.push(("per_page", &per_page_text));
                        }
                        let older_href = page.next.map(|cursor| {
                            let cursor = cursor.to_string();
                            let mut pairs = pairs.clone();
                            pairs.push(("after", &cursor));
                            link("/activity", &pairs)
                        });
                        let newest_href = search
                            .query
                            .page
                            .is_some()
                            .then(|| link("/activity", &pairs));
                        let csv_href = staff
                            .can(Permission::ExportActivity)
                            .then(|| link("/activity/export.csv", &form.filter_pairs()));
                        results = Some(Results {
                            events: page
                                .events
                                .iter()
                                .map(|e| EventView::new(&app.zone, e))
                                .collect(),
                            older_href,
                            newest_href,
                            csv_href,
                        });
                    }
                    Err(e) => match refusal_message(&e) {
                        Some(message) => errors.push(message),
                        None => return server_error("exploring activity", e),
                    },
                }
            }
        }
    }
    let failed = !errors.is_empty();
    let response = render(&ActivityTemplate {
        frame: staff.frame("/activity"),
        form,
        per_page,
        errors,
        results,
    });
    if failed {
        with_status(response, StatusCode::BAD_REQUEST)
    } else {
        response
    }
}

/// The timeline's filter: a period (both ends optional) and the reason for looking.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TimelineForm {
    from: String,
    to: String,
    purpose: String,
}

#[derive(Template)]
#[template(path = "activity_person.html")]
struct TimelineTemplate {
    frame: Frame,
    username: String,
    /// The directory's record of the person, when there is one.
    person: Option<PersonView>,
    self_href: String,
    explorer_href: String,
    from: String,
    to: String,
    purpose: String,
    period: String,
    errors: Vec<String>,
    events: Vec<EventView>,
    more: bool,
    csv_href: Option<String>,
}

struct PersonView {
    name: String,
    kind: String,
    group: String,
}

async fn timeline(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    username: Result<Path<String>, PathRejection>,
    form: Result<Query<TimelineForm>, QueryRejection>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewPersonActivity) {
        return r;
    }
    let username = match username {
        Ok(Path(u)) => u,
        Err(_) => {
            return bad_request(
                "That link does not name a person. Open the person from the activity explorer.",
            );
        }
    };
    let mut errors = Vec::new();
    let form = match form {
        Ok(Query(form)) => form,
        Err(e) => {
            errors.push(format!(
                "The period could not be read ({}). Choose it again below.",
                e.body_text()
            ));
            TimelineForm::default()
        }
    };
    let mut username_errors = Vec::new();
    let Some(username) = text_field(
        "The person's user name",
        &username,
        MAX_FIELD_CHARS,
        &mut username_errors,
    ) else {
        return bad_request(
            username_errors
                .pop()
                .unwrap_or_else(|| "That link does not name a person.".into()),
        );
    };
    let now = Timestamp::now();
    let since = local_time_field(&app.zone, "From", &form.from, &mut errors);
    let until = local_time_field(&app.zone, "To", &form.to, &mut errors);
    let until_or_now = until.unwrap_or(now);
    let since =
        since.unwrap_or(until_or_now - SignedDuration::from_hours(24 * TIMELINE_DEFAULT_DAYS));
    if since >= until_or_now {
        errors.push("“From” must be earlier than “To”. Swap them or widen the period.".into());
    }
    let purpose = text_field(
        "Reason for looking",
        &form.purpose,
        MAX_PURPOSE_CHARS,
        &mut errors,
    )
    .unwrap_or_else(|| NO_REASON.into());

    let person = match app.store.user(staff.school, &username).await {
        Ok(user) => user.map(|u| PersonView {
            name: u.display_name,
            kind: u.kind.to_string(),
            group: u.group_key,
        }),
        Err(e) => return server_error("reading a user", e),
    };
    let mut events = Vec::new();
    let mut more = false;
    if errors.is_empty() {
        let reader = reader(&staff, &purpose, "person timeline");
        match app
            .store
            .person_timeline(
                &reader,
                staff.school,
                &username,
                since,
                until_or_now,
                TIMELINE_ROWS + 1,
            )
            .await
        {
            Ok(mut found) => {
                more = found.len() > TIMELINE_ROWS as usize;
                found.truncate(TIMELINE_ROWS as usize);
                events = found.iter().map(|e| EventView::new(&app.zone, e)).collect();
            }
            Err(e) => match refusal_message(&e) {
                Some(message) => errors.push(message),
                None => return server_error("reading a person's timeline", e),
            },
        }
    }
    let from_value = datetime_local(&app.zone, since);
    let to_value = if form.to.trim().is_empty() {
        String::new()
    } else {
        datetime_local(&app.zone, until_or_now)
    };
    let period = format!(
        "{} to {}",
        app.local_time(since),
        if until.is_some() {
            app.local_time(until_or_now)
        } else {
            "now".into()
        }
    );
    let csv_href = staff.can(Permission::ExportActivity).then(|| {
        link(
            "/activity/export.csv",
            &[
                ("user", &username),
                ("from", &from_value),
                ("to", &to_value),
                ("purpose", form.purpose.trim()),
            ],
        )
    });
    let failed = !errors.is_empty();
    let response = render(&TimelineTemplate {
        frame: staff.frame("/activity"),
        self_href: person_href(&username),
        explorer_href: link("/activity", &[("user", &username)]),
        username,
        person,
        from: from_value,
        to: to_value,
        purpose: form.purpose.trim().to_owned(),
        period,
        errors,
        events,
        more,
        csv_href,
    });
    if failed {
        with_status(response, StatusCode::BAD_REQUEST)
    } else {
        response
    }
}

/// A CSV under construction that refuses to grow past [`MAX_EXPORT_BYTES`].
struct BoundedCsv {
    bytes: Vec<u8>,
    too_large: bool,
}

impl std::io::Write for BoundedCsv {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_EXPORT_BYTES {
            self.too_large = true;
            return Err(std::io::Error::other("the export is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn export(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    form: Result<Query<ActivityForm>, QueryRejection>,
) -> Response {
    if let Err(r) = staff.require(Permission::ExportActivity) {
        return r;
    }
    let form = match form {
        Ok(Query(form)) => form,
        Err(e) => {
            return bad_request(format!(
                "The export's filters could not be read ({}). Search again in the activity explorer and use its download link.",
                e.body_text()
            ));
        }
    };
    let mut search = match parse_activity_form(&app.zone, staff.school, &form) {
        Ok(search) => search,
        Err(problems) => {
            return bad_request(format!(
                "The export's filters have problems:\n- {}\nCorrect them in the activity explorer and download again.",
                problems.join("\n- ")
            ));
        }
    };
    // An export is everything the filters match, from the newest.
    search.query.page = None;
    let reader = reader(&staff, &search.purpose, "CSV export");
    let mut csv = BoundedCsv {
        bytes: Vec::new(),
        too_large: false,
    };
    match app
        .store
        .export_events_csv(&reader, &search.query, &mut csv)
        .await
    {
        Ok(_) => {}
        Err(_) if csv.too_large => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The export would be larger than {} MB. Narrow the period (From and To) or add filters, and download again in parts.",
                    MAX_EXPORT_BYTES / (1024 * 1024)
                ),
            )
                .into_response();
        }
        Err(e) => {
            return match refusal_message(&e) {
                Some(message) => bad_request(message),
                None => server_error("exporting activity", e),
            };
        }
    }
    let stamp = Timestamp::now()
        .to_zoned_datetime(app.zone.clone())
        .strftime("%Y%m%d-%H%M")
        .to_string();
    // The slug is lowercase letters, digits and dashes (the store checks it), so it is safe
    // in a header; anything else is left out rather than trusted.
    let slug: String = staff
        .school_slug
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let disposition = format!("attachment; filename=\"hedgerow-activity-{slug}-{stamp}.csv\"");
    let mut response = csv.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> TimeZone {
        TimeZone::get("Europe/London").unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> ActivityForm {
        let mut form = ActivityForm::default();
        for (name, value) in pairs {
            let value = value.to_string();
            match *name {
                "user" => form.user = value,
                "address" => form.address = value,
                "site" => form.site = value,
                "from" => form.from = value,
                "to" => form.to = value,
                "verdict" => form.verdict = value,
                "search" => form.search = value,
                "per_page" => form.per_page = value,
                "after" => form.after = value,
                "category" => form.category = value,
                other => panic!("no field {other}"),
            }
        }
        form
    }

    #[test]
    fn a_full_form_becomes_a_query() {
        let search = parse_activity_form(
            &london(),
            SchoolId(3),
            &form(&[
                ("user", " pupil.a "),
                ("address", "10.0.3.21"),
                ("site", "https://www.Example.com/page?q=1"),
                ("from", "2026-07-01T09:30"),
                ("to", "2026-07-01"),
                ("verdict", "block"),
                ("search", "volcano"),
                ("per_page", "25"),
                ("after", "1767000000123456.42"),
                ("category", "Gambling"),
            ]),
        );
        // From 09:30 to midnight the same day: From is later, so this is refused.
        let errors = search.err().expect("from after to");
        assert_eq!(errors.len(), 1, "{errors:?}");

        let search = parse_activity_form(
            &london(),
            SchoolId(3),
            &form(&[
                ("user", " pupil.a "),
                ("address", "10.0.3.21"),
                ("site", "https://www.Example.com/page?q=1"),
                ("from", "2026-07-01T09:30"),
                ("to", "2026-07-02 10:15:30"),
                ("verdict", "blocked"),
                ("search", "volcano"),
                ("per_page", "25"),
                ("after", "1767000000123456.42"),
                ("category", "Gambling"),
            ]),
        )
        .expect("valid");
        let q = search.query;
        assert_eq!(q.school, SchoolId(3));
        assert_eq!(q.user.as_deref(), Some("pupil.a"));
        assert_eq!(q.client_ip, Some("10.0.3.21".parse().unwrap()));
        assert_eq!(
            q.host,
            Some(HostFilter::WithSubdomains("www.Example.com".into()))
        );
        // British Summer Time: 09:30 in London is 08:30 UTC.
        assert_eq!(q.since.unwrap().to_string(), "2026-07-01T08:30:00Z");
        assert_eq!(q.until.unwrap().to_string(), "2026-07-02T09:15:30Z");
        assert_eq!(q.verdict, Some(Verdict::Block));
        assert_eq!(q.search_term.as_deref(), Some("volcano"));
        assert_eq!(q.category.as_deref(), Some("gambling"));
        assert_eq!(q.page_size, 25);
        assert_eq!(
            q.page,
            Some(Cursor {
                at_us: 1_767_000_000_123_456,
                id: 42
            })
        );
        assert_eq!(search.purpose, NO_REASON);
    }

    #[test]
    fn winter_times_are_gmt() {
        let q = parse_activity_form(
            &london(),
            SchoolId(1),
            &form(&[("from", "2026-01-15T09:30")]),
        )
        .expect("valid")
        .query;
        assert_eq!(q.since.unwrap().to_string(), "2026-01-15T09:30:00Z");
    }

    #[test]
    fn every_bad_field_is_named() {
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let errors = parse_activity_form(
            &london(),
            SchoolId(1),
            &form(&[
                ("user", &long),
                ("address", "not-an-address"),
                ("site", "https:///"),
                ("from", "yesterday"),
                ("to", "2026-13-45T99:00"),
                ("verdict", "maybe"),
                ("search", "line\nbreak"),
                ("per_page", "100000"),
                ("after", "<script>"),
            ]),
        )
        .err()
        .expect("refused");
        assert_eq!(errors.len(), 9, "{errors:#?}");
        let all = errors.join("\n");
        for needle in [
            "Person is longer than 200",
            "Address “not-an-address”",
            "Site “https:///”",
            "From “yesterday”",
            "To “2026-13-45T99:00”",
            "Verdict",
            "Search term contains control characters",
            "Events per page",
            "page link is damaged",
        ] {
            assert!(all.contains(needle), "{needle} in {all}");
        }
    }

    #[test]
    fn an_empty_form_is_every_event() {
        let search =
            parse_activity_form(&london(), SchoolId(1), &ActivityForm::default()).expect("valid");
        assert_eq!(
            search.query,
            ExplorerQuery::school(SchoolId(1), DEFAULT_PAGE_SIZE)
        );
    }

    #[test]
    fn links_encode_everything_that_could_break_out() {
        assert_eq!(
            link(
                "/activity",
                &[
                    ("user", "a b&c=d"),
                    ("device", ""),
                    ("search", "<script>\"'/"),
                    ("after", "1.2"),
                ]
            ),
            "/activity?user=a%20b%26c%3Dd&search=%3Cscript%3E%22%27%2F&after=1.2"
        );
        assert_eq!(
            person_href("<b>x</b>/../é"),
            "/activity/person/%3Cb%3Ex%3C%2Fb%3E%2F..%2F%C3%A9"
        );
    }

    #[test]
    fn sites_are_host_names() {
        assert_eq!(site_host("example.com").as_deref(), Some("example.com"));
        assert_eq!(
            site_host("http://www.example.com/a/b?c").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(site_host("example.com.").as_deref(), Some("example.com"));
        assert_eq!(site_host("https://"), None);
    }
}
