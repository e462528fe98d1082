//! A safeguarding concern as opened from an alert (`/concerns/{id}`): read-only for now, with
//! the copy of the person's activity kept as evidence. The safeguarding records work adds
//! editing, actions and outcomes.
//!
//! A concern names a child and what worried the school, so it is shown only to those who may
//! see alerts, and every view is written to the audit log (`concern.read`) by the store's
//! audited read.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use hedgerow_accounts::Permission;
use hedgerow_store::ConcernId;

use crate::AdminApp;
use crate::alerts::{category_label, reader, refusal};
use crate::explorer::EventView;
use crate::frame::{Frame, Staff, not_found, render};

pub(crate) const ROUTES: &[(&str, &str)] = &[("GET", "/concerns/{id}")];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new().route("/concerns/{id}", get(concern_page))
}

struct ConcernView {
    id: i64,
    created: String,
    created_by: String,
    status: &'static str,
    subject_user: String,
    subject_device: String,
    category: String,
    summary: String,
    description: String,
    alert: Option<i64>,
}

#[derive(Template)]
#[template(path = "concern.html")]
struct ConcernTemplate {
    frame: Frame,
    concern: ConcernView,
    evidence: Vec<EventView>,
}

async fn concern_page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewAlerts) {
        return r;
    }
    let Some(id) = id.parse::<i64>().ok().filter(|n| *n > 0).map(ConcernId) else {
        return not_found("concern");
    };
    let concern = match app
        .store
        .concern(staff.school, id, &reader(&staff, format!("concern #{id}")))
        .await
    {
        Ok(Some(concern)) => concern,
        Ok(None) => return not_found("concern"),
        Err(e) => return refusal("reading a concern", e),
    };
    let view = ConcernView {
        id: concern.id.0,
        created: app.local_time(concern.created_at),
        created_by: concern.created_by.clone(),
        status: match concern.status {
            hedgerow_store::ConcernStatus::New => "New",
            hedgerow_store::ConcernStatus::Open => "Open",
            hedgerow_store::ConcernStatus::Closed => "Closed",
        },
        subject_user: concern.subject_user.clone().unwrap_or_default(),
        subject_device: concern.subject_device.clone().unwrap_or_default(),
        category: category_label(&concern.category),
        summary: concern.summary.clone(),
        description: concern.description.clone(),
        alert: concern.alert.map(|a| a.0),
    };
    render(&ConcernTemplate {
        frame: staff.frame("/alerts"),
        concern: view,
        evidence: concern
            .evidence
            .iter()
            .map(|e| EventView::new(&app.zone, e))
            .collect(),
    })
}
