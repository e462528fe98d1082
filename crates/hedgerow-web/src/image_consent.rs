//! The image consent register (`/image-consent`): for each pupil and each use of their image
//! (school website, social media, newsletter, press, displays) whether a parent gave or
//! refused consent, or has not been asked; one pupil's history of changes with a form to
//! record a parent's new word; and the printable "do not photograph or publish" list for a
//! class, which names every pupil with any use not given.
//!
//! Reading needs `ViewImageConsent` and is an audited read (`image-consent.read`): the register
//! names children. Changing needs `ManageImageConsent` and writes a history row saying who,
//! when, via `staff` and why. No row means not asked, which counts as not given, so a child
//! whose parents never answered is on the list too.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use hedgerow_accounts::Permission;
use hedgerow_agreements::{Consent, ImageUse};
use hedgerow_store::{ConsentEntry, ImageConsentRow, UserKind};
use serde::Deserialize;

use crate::AdminApp;
use crate::explorer::url_encode;
use crate::form::read_fields;
use crate::frame::{Frame, Staff, bad_request, not_found, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/image-consent"),
    ("GET", "/image-consent/do-not-photograph"),
    ("GET", "/image-consent/{username}"),
    ("POST", "/image-consent/{username}"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/image-consent", get(register))
        .route("/image-consent/do-not-photograph", get(do_not_photograph))
        .route("/image-consent/{username}", get(pupil_page).post(change))
}

#[derive(Default, Deserialize)]
struct ClassQuery {
    #[serde(default)]
    class: String,
}

impl ClassQuery {
    fn class(&self) -> Option<&str> {
        let class = self.class.trim();
        (!class.is_empty()).then_some(class)
    }
}

/// A pupil's state for each use, in the order of [`ImageUse::ALL`]; a state this version does
/// not know is treated as not asked (so as not given).
fn states_of(states: &BTreeMap<String, ConsentEntry>) -> Vec<(ImageUse, Option<Consent>)> {
    ImageUse::ALL
        .iter()
        .map(|use_| {
            (
                *use_,
                states
                    .get(use_.key())
                    .and_then(|entry| Consent::parse(&entry.state)),
            )
        })
        .collect()
}

fn state_label(state: Option<Consent>) -> &'static str {
    match state {
        Some(consent) => consent.label(),
        None => "Not asked",
    }
}

fn state_key(state: Option<Consent>) -> &'static str {
    match state {
        Some(consent) => consent.key(),
        None => "not-asked",
    }
}

struct Cell {
    key: &'static str,
    label: &'static str,
}

struct RegisterLine {
    username: String,
    href: String,
    name: String,
    class: String,
    cells: Vec<Cell>,
}

struct ClassChoice {
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "consent_register.html")]
struct RegisterTemplate {
    frame: Frame,
    uses: Vec<&'static str>,
    lines: Vec<RegisterLine>,
    classes: Vec<ClassChoice>,
    class: String,
    list_href: String,
}

async fn class_choices(
    app: &AdminApp,
    staff: &Staff,
    chosen: Option<&str>,
) -> Result<Vec<ClassChoice>, Response> {
    let classes = app
        .store
        .class_names(staff.school)
        .await
        .map_err(|e| server_error("reading classes", e))?;
    Ok(classes
        .into_iter()
        .map(|name| ClassChoice {
            selected: Some(name.as_str()) == chosen,
            name,
        })
        .collect())
}

async fn rows(
    app: &AdminApp,
    staff: &Staff,
    class: Option<&str>,
) -> Result<Vec<ImageConsentRow>, Response> {
    app.store
        .image_consents(staff.school, class, &staff.acting())
        .await
        .map_err(|e| server_error("reading the image consent register", e))
}

fn pupil_href(username: &str) -> String {
    format!("/image-consent/{}", url_encode(username))
}

fn list_href(class: Option<&str>) -> String {
    match class {
        Some(class) => format!(
            "/image-consent/do-not-photograph?class={}",
            url_encode(class)
        ),
        None => "/image-consent/do-not-photograph".into(),
    }
}

async fn register(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<ClassQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewImageConsent) {
        return r;
    }
    let classes = match class_choices(&app, &staff, query.class()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rows = match rows(&app, &staff, query.class()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let lines = rows
        .iter()
        .map(|row| RegisterLine {
            username: row.pupil.clone(),
            href: pupil_href(&row.pupil),
            name: row.display_name.clone(),
            class: row.class_name.clone().unwrap_or_default(),
            cells: states_of(&row.states)
                .into_iter()
                .map(|(_, state)| Cell {
                    key: state_key(state),
                    label: state_label(state),
                })
                .collect(),
        })
        .collect();
    render(&RegisterTemplate {
        frame: staff.frame("/image-consent"),
        uses: ImageUse::ALL.iter().map(|u| u.label()).collect(),
        lines,
        classes,
        class: query.class().unwrap_or_default().to_string(),
        list_href: list_href(query.class()),
    })
}

struct ListLine {
    name: String,
    class: String,
    /// The uses not given, as people read them.
    not_given: String,
    /// Whether any of them was refused outright (rather than never asked).
    refused: bool,
}

#[derive(Template)]
#[template(path = "consent_do_not_photograph.html")]
struct ListTemplate {
    school_name: String,
    class: String,
    lines: Vec<ListLine>,
    printed: String,
    classes: Vec<ClassChoice>,
}

async fn do_not_photograph(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<ClassQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewImageConsent) {
        return r;
    }
    let classes = match class_choices(&app, &staff, query.class()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rows = match rows(&app, &staff, query.class()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let lines = rows
        .iter()
        .filter_map(|row| {
            let states = states_of(&row.states);
            let missing = hedgerow_agreements::not_given(&states);
            (!missing.is_empty()).then(|| ListLine {
                name: row.display_name.clone(),
                class: row.class_name.clone().unwrap_or_default(),
                not_given: missing
                    .iter()
                    .map(|u| u.label())
                    .collect::<Vec<_>>()
                    .join(", "),
                refused: states
                    .iter()
                    .any(|(_, state)| *state == Some(Consent::Refused)),
            })
        })
        .collect();
    render(&ListTemplate {
        school_name: staff.school_name.clone(),
        class: query.class().unwrap_or("every class").to_string(),
        lines,
        printed: app.local_time(jiff::Timestamp::now()),
        classes,
    })
}

struct StateLine {
    key: &'static str,
    label: &'static str,
    state: &'static str,
    changed: String,
}

struct HistoryLine {
    use_label: String,
    old: &'static str,
    new: &'static str,
    when: String,
    by: String,
    via: &'static str,
    note: String,
}

#[derive(Template)]
#[template(path = "consent_pupil.html")]
struct PupilTemplate {
    frame: Frame,
    username: String,
    action: String,
    name: String,
    class: String,
    states: Vec<StateLine>,
    history: Vec<HistoryLine>,
    can_manage: bool,
    uses: Vec<(&'static str, &'static str)>,
    message: Option<String>,
}

fn via_label(via: &str) -> &'static str {
    match via {
        "parent-link" => "a parent, through the letter's link",
        "staff" => "staff, on a parent's word",
        _ => "another way",
    }
}

/// The pupil behind `username`, or the answer to give: unknown names and anyone who is not an
/// enabled pupil are "not found", so the page cannot be used to look people up.
async fn pupil_of(
    app: &AdminApp,
    staff: &Staff,
    username: &str,
) -> Result<hedgerow_store::Person, Response> {
    match app.store.person(staff.school, username).await {
        Ok(Some(p)) if p.kind == UserKind::Pupil && !p.disabled => Ok(p),
        Ok(_) => Err(not_found("pupil")),
        Err(e) => Err(server_error("looking up a pupil", e)),
    }
}

async fn pupil_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(username): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewImageConsent) {
        return r;
    }
    show_pupil(&app, &staff, &username, None, StatusCode::OK).await
}

async fn show_pupil(
    app: &AdminApp,
    staff: &Staff,
    username: &str,
    message: Option<String>,
    status: StatusCode,
) -> Response {
    let pupil = match pupil_of(app, staff, username).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let current = match app
        .store
        .image_consent_for(staff.school, &pupil.username)
        .await
    {
        Ok(c) => c,
        Err(e) => return server_error("reading a pupil's image consent", e),
    };
    // The history is the audited read of this pupil's consent.
    let history = match app
        .store
        .image_consent_history(staff.school, &pupil.username, &staff.acting())
        .await
    {
        Ok(h) => h,
        Err(e) => return server_error("reading a pupil's image consent history", e),
    };
    let states = ImageUse::ALL
        .iter()
        .map(|use_| {
            let entry = current.get(use_.key());
            let state = entry.and_then(|e| Consent::parse(&e.state));
            StateLine {
                key: use_.key(),
                label: use_.label(),
                state: state_label(state),
                changed: entry
                    .map(|e| {
                        format!(
                            "{} by {} ({})",
                            app.local_time(e.changed_at),
                            e.changed_by,
                            via_label(&e.via)
                        )
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    let history = history
        .iter()
        .map(|c| HistoryLine {
            use_label: ImageUse::parse(&c.use_key)
                .map_or(c.use_key.clone(), |u| u.label().to_string()),
            old: state_label(c.old_state.as_deref().and_then(Consent::parse)),
            new: state_label(Consent::parse(&c.new_state)),
            when: app.local_time(c.changed_at),
            by: c.changed_by.clone(),
            via: via_label(&c.via),
            note: c.note.clone(),
        })
        .collect();
    let mut response = render(&PupilTemplate {
        frame: staff.frame("/image-consent"),
        username: pupil.username.clone(),
        action: pupil_href(&pupil.username),
        name: pupil.display_name.clone(),
        class: pupil.class_name.clone().unwrap_or_default(),
        states,
        history,
        can_manage: staff.can(Permission::ManageImageConsent),
        uses: ImageUse::ALL.iter().map(|u| (u.key(), u.label())).collect(),
        message,
    });
    *response.status_mut() = status;
    response
}

/// The most characters of the note saying whose word a change was made on.
const MAX_NOTE: usize = 500;

async fn change(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(username): Path<String>,
    request: Request,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageImageConsent) {
        return r;
    }
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let pupil = match pupil_of(&app, &staff, &username).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(use_) = fields.get("use").and_then(ImageUse::parse) else {
        return bad_request("Choose which use of the pupil's image the change is for.");
    };
    let Some(state) = fields.get("state").and_then(Consent::parse) else {
        return bad_request("Choose whether consent is given or refused.");
    };
    let note = match fields.required(
        "note",
        "The note (whose word the change is on, and when they gave it)",
        MAX_NOTE,
    ) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match app
        .store
        .set_image_consent(
            staff.school,
            &pupil.username,
            use_.key(),
            state.key(),
            &staff.actor(),
            "staff",
            &note,
            jiff::Timestamp::now(),
        )
        .await
    {
        Ok(true) => Redirect::to(&pupil_href(&pupil.username)).into_response(),
        Ok(false) => {
            show_pupil(
                &app,
                &staff,
                &pupil.username,
                Some(format!(
                    "{} was already {} for {}; nothing changed.",
                    use_.label(),
                    state.label().to_lowercase(),
                    pupil.display_name
                )),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => server_error("recording an image consent change", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: &str) -> ConsentEntry {
        ConsentEntry {
            state: state.into(),
            changed_at: jiff::Timestamp::UNIX_EPOCH,
            changed_by: "test".into(),
            via: "staff".into(),
        }
    }

    #[test]
    fn unknown_and_missing_states_count_as_not_asked() {
        let mut states = BTreeMap::new();
        states.insert("website".to_string(), entry("given"));
        states.insert("press".to_string(), entry("refused"));
        states.insert("newsletter".to_string(), entry("maybe"));
        let read = states_of(&states);
        assert_eq!(read.len(), ImageUse::ALL.len());
        let of = |u: ImageUse| read.iter().find(|(x, _)| *x == u).unwrap().1;
        assert_eq!(of(ImageUse::Website), Some(Consent::Given));
        assert_eq!(of(ImageUse::Press), Some(Consent::Refused));
        assert_eq!(of(ImageUse::Newsletter), None);
        assert_eq!(of(ImageUse::Displays), None);
        let missing = hedgerow_agreements::not_given(&read);
        assert!(!missing.contains(&ImageUse::Website));
        assert!(missing.contains(&ImageUse::Press));
        assert!(missing.contains(&ImageUse::Newsletter));
        assert_eq!(state_label(None), "Not asked");
    }

    #[test]
    fn the_list_link_keeps_the_class() {
        assert_eq!(
            list_href(Some("Year 3 & 4")),
            "/image-consent/do-not-photograph?class=Year%203%20%26%204"
        );
        assert_eq!(list_href(None), "/image-consent/do-not-photograph");
    }
}
