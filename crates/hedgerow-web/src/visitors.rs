//! Visitors' day codes (`/visitors`): reception issues a code for a named visitor and a day
//! (today unless another is chosen); the visitor types it at the access portal with their name
//! and accepts the visitor agreement, which admits up to three of their devices until the end
//! of that day. The code is shown once, in large type, and only its SHA-256 is kept, so the
//! list of the day's codes shows who they are for and how many devices each admitted, never
//! the codes. Needs `IssueVisitorCodes`.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use hedgerow_accounts::Permission;
use jiff::civil::Date;
use serde::Deserialize;

use crate::AdminApp;
use crate::agreements::{MAX_NAME, uk_date};
use crate::form::read_fields;
use crate::frame::{Frame, Staff, bad_request, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[("GET", "/visitors"), ("POST", "/visitors")];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new().route("/visitors", get(page).post(issue))
}

/// How far ahead a code may be issued: enough for a visit booked next term.
const MAX_DAYS_AHEAD: i64 = 120;

struct CodeLine {
    visitor: String,
    issued: String,
    devices: i64,
}

#[derive(Template)]
#[template(path = "visitors.html")]
struct VisitorsTemplate {
    frame: Frame,
    /// The code just issued, with who and which day it is for: shown this once.
    issued: Option<(String, String, String)>,
    day: String,
    day_label: String,
    today: String,
    codes: Vec<CodeLine>,
    message: Option<String>,
    visitor: String,
}

#[derive(Default, Deserialize)]
struct DayQuery {
    #[serde(default)]
    day: String,
}

async fn page(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<DayQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::IssueVisitorCodes) {
        return r;
    }
    let today = app.today();
    let day = match query.day.trim() {
        "" => today,
        text => match text.parse::<Date>() {
            Ok(day) => day,
            Err(_) => {
                return bad_request(format!(
                    "“{text}” is not a date; write it as 2026-09-07 or pick it from the calendar."
                ));
            }
        },
    };
    show(&app, &staff, day, None, None, String::new(), StatusCode::OK).await
}

async fn show(
    app: &AdminApp,
    staff: &Staff,
    day: Date,
    issued: Option<(String, String, String)>,
    message: Option<String>,
    visitor: String,
    status: StatusCode,
) -> Response {
    let codes = match app.store.visitor_codes(staff.school, day).await {
        Ok(c) => c,
        Err(e) => return server_error("reading visitors' codes", e),
    };
    let mut response = render(&VisitorsTemplate {
        frame: staff.frame("/visitors"),
        issued,
        day: day.to_string(),
        day_label: uk_date(day),
        today: app.today().to_string(),
        codes: codes
            .iter()
            .map(|c| CodeLine {
                visitor: c.visitor_name.clone(),
                issued: format!("{} by {}", app.local_time(c.issued_at), c.issued_by),
                devices: c.devices_admitted,
            })
            .collect(),
        message,
        visitor,
    });
    *response.status_mut() = status;
    response
}

/// Reads the day a code is for; the sentence says what was wrong.
fn visit_day(text: &str, today: Date) -> Result<Date, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(today);
    }
    let day: Date = text.parse().map_err(|_| {
        format!("“{text}” is not a date; write it as 2026-09-07 or pick it from the calendar.")
    })?;
    if day < today {
        return Err(format!(
            "{} has passed; a code can be for today or a later day.",
            uk_date(day)
        ));
    }
    let latest = today
        .checked_add(jiff::Span::new().days(MAX_DAYS_AHEAD))
        .unwrap_or(today);
    if day > latest {
        return Err(format!(
            "{} is more than {MAX_DAYS_AHEAD} days away; issue the code nearer the visit.",
            uk_date(day)
        ));
    }
    Ok(day)
}

/// A new code and the SHA-256 of its canonical form, which is all the store keeps.
#[allow(clippy::result_large_err)]
fn fresh_code() -> Result<(String, String), Response> {
    let code = hedgerow_agreements::day_code(crate::frame::random_bytes()?);
    let canonical = hedgerow_agreements::normalise_day_code(&code).unwrap_or_else(|| code.clone());
    let hash = hedgerow_agreements::sha256_hex(canonical.as_bytes());
    Ok((code, hash))
}

async fn issue(State(app): State<Arc<AdminApp>>, staff: Staff, request: Request) -> Response {
    if let Err(r) = staff.require(Permission::IssueVisitorCodes) {
        return r;
    }
    let fields = match read_fields(request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let today = app.today();
    let typed = fields.get("visitor").unwrap_or_default().to_string();
    let refuse = |message: String| {
        show(
            &app,
            &staff,
            today,
            None,
            Some(message),
            typed.clone(),
            StatusCode::BAD_REQUEST,
        )
    };
    let visitor = match fields.required("visitor", "The visitor's name", MAX_NAME) {
        Ok(v) => v,
        Err(_) => {
            return refuse(format!(
                "Give the visitor's full name (at most {MAX_NAME} characters), as on the signing-in sheet."
            ))
            .await;
        }
    };
    let day = match visit_day(fields.get("day").unwrap_or_default(), today) {
        Ok(d) => d,
        Err(message) => return refuse(message).await,
    };
    let (code, hash) = match fresh_code() {
        Ok(c) => c,
        Err(r) => return r,
    };
    match app
        .store
        .issue_visitor_code(staff.school, &hash, &visitor, day, &staff.actor())
        .await
    {
        Ok(_) => {
            show(
                &app,
                &staff,
                day,
                Some((code, visitor, uk_date(day))),
                None,
                String::new(),
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) => server_error("issuing a visitor's code", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_for_today_or_a_day_soon() {
        let today: Date = "2026-10-05".parse().unwrap();
        assert_eq!(visit_day("", today).unwrap(), today);
        assert_eq!(
            visit_day("2026-10-09", today).unwrap(),
            "2026-10-09".parse::<Date>().unwrap()
        );
        assert!(
            visit_day("2026-10-04", today)
                .unwrap_err()
                .contains("has passed")
        );
        assert!(
            visit_day("2027-06-01", today)
                .unwrap_err()
                .contains("120 days")
        );
        assert!(
            visit_day("next tuesday", today)
                .unwrap_err()
                .contains("next tuesday")
        );
    }

    #[test]
    fn codes_are_fresh_and_kept_only_as_a_hash_of_their_canonical_form() {
        let (code, hash) = fresh_code().unwrap();
        let (other, _) = fresh_code().unwrap();
        assert_ne!(code, other);
        let canonical = hedgerow_agreements::normalise_day_code(&code).unwrap();
        assert_eq!(hash, hedgerow_agreements::sha256_hex(canonical.as_bytes()));
        // A visitor typing it in lower case without the hyphen meets the same hash.
        let typed = code.to_lowercase().replace('-', "");
        let again = hedgerow_agreements::normalise_day_code(&typed).unwrap();
        assert_eq!(hedgerow_agreements::sha256_hex(again.as_bytes()), hash);
    }
}
