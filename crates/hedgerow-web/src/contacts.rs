//! The roles and contacts register: the named designated safeguarding lead and deputies, the
//! online-safety lead, the online-safety governor, the data protection officer, the network
//! manager and the headteacher, with how to reach them. Every member of staff can read it (it
//! is who to go to); the DSL, the headteacher and the trust keep it. The block page names the
//! online-safety lead from here.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_store::{Contact, ContactDetails, ContactId, ContactRole, StoreError};
use serde::Deserialize;

use crate::AdminApp;
use crate::frame::{Frame, Staff, not_found, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/contacts"),
    ("POST", "/contacts"),
    ("POST", "/contacts/{id}/remove"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/contacts", get(register).post(save))
        .route("/contacts/{id}/remove", post(remove))
}

/// A role's name on the page.
fn role_name(role: ContactRole) -> &'static str {
    match role {
        ContactRole::Dsl => "Designated safeguarding lead",
        ContactRole::DeputyDsl => "Deputy designated safeguarding lead",
        ContactRole::OnlineSafetyLead => "Online-safety lead",
        ContactRole::OnlineSafetyGovernor => "Online-safety governor",
        ContactRole::Dpo => "Data protection officer",
        ContactRole::NetworkManager => "Network manager",
        ContactRole::Headteacher => "Headteacher",
    }
}

/// Roles every school should have someone in, with what to say when no one is named.
const EXPECTED_ROLES: [ContactRole; 5] = [
    ContactRole::Dsl,
    ContactRole::OnlineSafetyLead,
    ContactRole::OnlineSafetyGovernor,
    ContactRole::Dpo,
    ContactRole::NetworkManager,
];

struct ContactRow {
    id: i64,
    role: &'static str,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    updated: String,
}

/// The add-or-replace form's values.
#[derive(Default, Deserialize)]
struct ContactForm {
    /// The entry replaced; empty to add one.
    #[serde(default)]
    id: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    notes: String,
}

impl ContactForm {
    fn from_contact(contact: &Contact) -> ContactForm {
        let d = &contact.details;
        ContactForm {
            id: contact.id.0.to_string(),
            role: d.role.as_str().to_string(),
            name: d.name.clone(),
            email: d.email.clone().unwrap_or_default(),
            phone: d.phone.clone().unwrap_or_default(),
            notes: d.notes.clone().unwrap_or_default(),
        }
    }

    fn has_role(&self, key: &str) -> bool {
        self.role == key
    }
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct RegisterTemplate {
    frame: Frame,
    message: Option<String>,
    can_manage: bool,
    contacts: Vec<ContactRow>,
    missing: Vec<&'static str>,
    roles: Vec<(&'static str, &'static str)>,
    form: ContactForm,
    editing: bool,
}

#[derive(Deserialize)]
struct EditQuery {
    edit: Option<String>,
}

async fn register(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<EditQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewDashboard) {
        return r;
    }
    page(
        &app,
        &staff,
        None,
        query.edit.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

/// The register, with the form empty, filled from the entry `edit`, or as given (`form`).
async fn page(
    app: &AdminApp,
    staff: &Staff,
    message: Option<String>,
    edit: Option<&str>,
    form: Option<ContactForm>,
    status: StatusCode,
) -> Response {
    let contacts = match app.store.contacts(staff.school).await {
        Ok(c) => c,
        Err(e) => return server_error("reading the contacts register", e),
    };
    let can_manage = staff.can(Permission::ManageContacts);
    let form = match (form, edit.and_then(contact_id)) {
        (Some(form), _) => form,
        (None, Some(id)) if can_manage => match contacts.iter().find(|c| c.id == id) {
            Some(contact) => ContactForm::from_contact(contact),
            None => return not_found("contact"),
        },
        _ => ContactForm::default(),
    };
    let missing = EXPECTED_ROLES
        .iter()
        .filter(|role| !contacts.iter().any(|c| c.details.role == **role))
        .map(|role| role_name(*role))
        .collect();
    let rows = contacts
        .iter()
        .map(|c| ContactRow {
            id: c.id.0,
            role: role_name(c.details.role),
            name: c.details.name.clone(),
            email: c.details.email.clone(),
            phone: c.details.phone.clone(),
            notes: c.details.notes.clone(),
            updated: format!("{}, by {}", app.local_time(c.updated_at), c.updated_by),
        })
        .collect();
    let editing = !form.id.trim().is_empty();
    let mut response = render(&RegisterTemplate {
        frame: staff.frame("/contacts"),
        message,
        can_manage,
        contacts: rows,
        missing,
        roles: ContactRole::ALL
            .iter()
            .map(|r| (r.as_str(), role_name(*r)))
            .collect(),
        form,
        editing,
    });
    if status != StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

fn contact_id(text: &str) -> Option<ContactId> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(ContactId)
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The entry the form describes (and the entry it replaces), or what is wrong with it.
fn to_details(form: &ContactForm) -> Result<(Option<ContactId>, ContactDetails), String> {
    let id = if form.id.trim().is_empty() {
        None
    } else {
        Some(contact_id(&form.id).ok_or(
            "The entry to replace is not one of the register's; reload the page and try again.",
        )?)
    };
    let role = ContactRole::parse(form.role.trim()).ok_or("Choose the role this person holds.")?;
    let name = form.name.trim();
    if name.is_empty() {
        return Err("Give the person's name.".into());
    }
    Ok((
        id,
        ContactDetails {
            role,
            name: name.to_string(),
            email: optional(&form.email),
            phone: optional(&form.phone),
            notes: optional(&form.notes),
        },
    ))
}

async fn save(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    form: Result<Form<ContactForm>, FormRejection>,
) -> Response {
    let form = match staff.accept(Permission::ManageContacts, form) {
        Ok(form) => form,
        Err(r) => return r,
    };
    let (id, details) = match to_details(&form) {
        Ok(parts) => parts,
        Err(message) => {
            return page(
                &app,
                &staff,
                Some(message),
                None,
                Some(form),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    match app
        .store
        .set_contact(staff.school, id, &details, &staff.acting())
        .await
    {
        Ok(Some(_)) => Redirect::to("/contacts").into_response(),
        Ok(None) => not_found("contact"),
        Err(e @ StoreError::InvalidInput { .. }) => {
            page(
                &app,
                &staff,
                Some(format!("The entry was not saved: {e}.")),
                None,
                Some(form),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => server_error("saving a contact", e),
    }
}

async fn remove(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ManageContacts) {
        return r;
    }
    let Some(id) = contact_id(&id) else {
        return not_found("contact");
    };
    match app
        .store
        .remove_contact(staff.school, id, &staff.acting())
        .await
    {
        Ok(true) => Redirect::to("/contacts").into_response(),
        Ok(false) => not_found("contact"),
        Err(e) => server_error("removing a contact", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(id: &str, role: &str, name: &str) -> ContactForm {
        ContactForm {
            id: id.into(),
            role: role.into(),
            name: name.into(),
            email: " osl@school.example ".into(),
            ..ContactForm::default()
        }
    }

    #[test]
    fn the_form_becomes_an_entry_or_says_what_is_missing() {
        let (id, details) = to_details(&form("", "online-safety-lead", " Ms Lead ")).unwrap();
        assert_eq!(id, None);
        assert_eq!(details.role, ContactRole::OnlineSafetyLead);
        assert_eq!(details.name, "Ms Lead");
        assert_eq!(details.email.as_deref(), Some("osl@school.example"));
        assert_eq!(details.phone, None);
        assert_eq!(
            to_details(&form("7", "dpo", "X")).unwrap().0,
            Some(ContactId(7))
        );
        assert!(
            to_details(&form("", "wizard", "X"))
                .unwrap_err()
                .contains("role")
        );
        assert!(
            to_details(&form("", "dsl", "  "))
                .unwrap_err()
                .contains("name")
        );
        assert!(
            to_details(&form("x", "dsl", "X"))
                .unwrap_err()
                .contains("reload")
        );
    }

    #[test]
    fn every_role_has_a_name() {
        for role in ContactRole::ALL {
            assert!(!role_name(role).is_empty());
        }
    }
}
