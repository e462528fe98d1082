//! The annual review of filtering and monitoring (DfE standards: reviewed at least once a
//! year, by the senior leadership team with the DSL, the IT provider and a governor): the
//! record of each review (when, who took part and in what role, what it found, the actions
//! agreed with an owner and a due date, and whether they are done), and a plain reminder when
//! the next one is due or overdue. The store refuses a review without a governor.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hedgerow_accounts::Permission;
use hedgerow_store::{
    AnnualReview, NewAnnualReview, NewReviewAction, ReviewActionId, ReviewParticipant, StoreError,
};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use crate::AdminApp;
use crate::frame::{Frame, Staff, not_found, render, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/reviews"),
    ("POST", "/reviews"),
    ("POST", "/reviews/actions/{id}/done"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/reviews", get(reviews).post(record))
        .route("/reviews/actions/{id}/done", post(action_done))
}

/// Rows of participants and of actions the form offers; `?rows=N` asks for more.
const ROWS: usize = 8;
const MAX_ROWS: usize = 50;

/// Roles a participant can be given, as (key, label). The store takes any role key; these are
/// the people the DfE standards expect at a review.
const PARTICIPANT_ROLES: &[(&str, &str)] = &[
    ("governor", "Governor"),
    ("online-safety-governor", "Online-safety governor"),
    ("headteacher", "Headteacher"),
    ("senior-leader", "Senior leader"),
    ("dsl", "Designated safeguarding lead"),
    ("deputy-dsl", "Deputy DSL"),
    ("online-safety-lead", "Online-safety lead"),
    ("network-manager", "Network manager"),
    ("it-provider", "IT service provider"),
    ("teacher", "Teacher"),
    ("trust-admin", "Trust or local-authority administrator"),
    ("other", "Other"),
];

fn role_label(key: &str) -> String {
    PARTICIPANT_ROLES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| key.to_string(), |(_, label)| label.to_string())
}

fn long_date(date: Date) -> String {
    date.strftime("%-d %B %Y").to_string()
}

/// One review as the page shows it.
struct ReviewView {
    held_on: String,
    next_due: String,
    participants: Vec<(String, String)>,
    findings: String,
    actions: Vec<ActionView>,
    recorded: String,
}

struct ActionView {
    id: i64,
    action: String,
    owner: String,
    due: Option<String>,
    overdue: bool,
    done: Option<String>,
}

/// One participant row of the form.
#[derive(Default, Clone)]
struct ParticipantRow {
    name: String,
    role: String,
}

impl ParticipantRow {
    /// Whether the row has this role chosen.
    fn has_role(&self, key: &str) -> bool {
        role_key(&self.role) == key
    }
}

/// One action row of the form.
#[derive(Default, Clone)]
struct ActionRow {
    action: String,
    owner: String,
    due: String,
}

/// The form's values, to fill it in again when it is refused.
struct ReviewForm {
    held_on: String,
    next_due: String,
    findings: String,
    participants: Vec<ParticipantRow>,
    actions: Vec<ActionRow>,
}

impl ReviewForm {
    fn blank(today: Date, rows: usize) -> ReviewForm {
        ReviewForm {
            held_on: today.to_string(),
            next_due: String::new(),
            findings: String::new(),
            participants: vec![ParticipantRow::default(); rows],
            actions: vec![ActionRow::default(); rows],
        }
    }
}

#[derive(Template)]
#[template(path = "reviews.html")]
struct ReviewsTemplate {
    frame: Frame,
    message: Option<String>,
    /// "due by", "overdue since", or "due now: none recorded".
    reminder: String,
    overdue: bool,
    can_edit: bool,
    reviews: Vec<ReviewView>,
    form: ReviewForm,
    roles: &'static [(&'static str, &'static str)],
    more_rows: usize,
}

#[derive(Deserialize)]
struct RowsQuery {
    rows: Option<String>,
}

async fn reviews(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Query(query): Query<RowsQuery>,
) -> Response {
    if let Err(r) = staff.require(Permission::ViewChecks) {
        return r;
    }
    let rows = query
        .rows
        .as_deref()
        .and_then(|r| r.trim().parse::<usize>().ok())
        .unwrap_or(ROWS)
        .clamp(1, MAX_ROWS);
    let form = ReviewForm::blank(app.today(), rows);
    page(&app, &staff, None, form, StatusCode::OK).await
}

async fn page(
    app: &AdminApp,
    staff: &Staff,
    message: Option<String>,
    form: ReviewForm,
    status: StatusCode,
) -> Response {
    let due = match app.store.next_review_due(staff.school).await {
        Ok(d) => d,
        Err(e) => return server_error("reading when the next review is due", e),
    };
    let list = match app.store.annual_reviews(staff.school).await {
        Ok(list) => list,
        Err(e) => return server_error("reading annual reviews", e),
    };
    let today = app.today();
    let (reminder, overdue) = reminder(due, today);
    let more_rows = (form.participants.len().max(form.actions.len()) + ROWS).min(MAX_ROWS);
    let mut response = render(&ReviewsTemplate {
        frame: staff.frame("/reviews"),
        message,
        reminder,
        overdue,
        can_edit: staff.can(Permission::EditAnnualReview),
        reviews: list.iter().map(|r| view(app, r, today)).collect(),
        form,
        roles: PARTICIPANT_ROLES,
        more_rows,
    });
    if status != StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// The reminder sentence and whether it is overdue (a review is due now when none is recorded).
fn reminder(due: Option<Date>, today: Date) -> (String, bool) {
    match due {
        None => (
            "No annual review is recorded yet: one is due now.".to_string(),
            true,
        ),
        Some(due) if due < today => (
            format!(
                "The annual review is overdue: it was due by {}.",
                long_date(due)
            ),
            true,
        ),
        Some(due) if due == today => (
            format!("The annual review is due today, {}.", long_date(due)),
            true,
        ),
        Some(due) => (
            format!("The next annual review is due by {}.", long_date(due)),
            false,
        ),
    }
}

fn view(app: &AdminApp, review: &AnnualReview, today: Date) -> ReviewView {
    ReviewView {
        held_on: long_date(review.held_on),
        next_due: long_date(review.next_due),
        participants: review
            .participants
            .iter()
            .map(|p| (p.name.clone(), role_label(&p.role)))
            .collect(),
        findings: review.findings.clone(),
        actions: review
            .actions
            .iter()
            .map(|a| ActionView {
                id: a.id.0,
                action: a.action.action.clone(),
                owner: a.action.owner.clone(),
                due: a.action.due_on.map(long_date),
                overdue: a.done_at.is_none() && a.action.due_on.is_some_and(|d| d < today),
                done: a.done_at.map(|at| {
                    format!(
                        "Done {} by {}",
                        app.local_time(at),
                        a.done_by.as_deref().unwrap_or("someone")
                    )
                }),
            })
            .collect(),
        recorded: format!(
            "Recorded by {} on {}",
            review.recorded_by,
            app.local_time(review.recorded_at)
        ),
    }
}

/// Reads `YYYY-MM-DD` (what a date field sends); `what` names the field in the message.
fn parse_date(text: &str, what: &str) -> Result<Date, String> {
    text.trim().parse::<Date>().map_err(|_| {
        format!("The {what} {text:?} is not a date: give it as a date such as 2026-11-23.")
    })
}

/// A role key as the store takes it: the form's choices, or what was typed, folded to one.
fn role_key(text: &str) -> String {
    text.trim().to_ascii_lowercase().replace(['_', ' '], "-")
}

/// The form's rows and fields, read from `participant_name_3`, `action_owner_0`, ... (the
/// form numbers its rows, so it needs no script to have several).
fn read_form(fields: &[(String, String)], rows_seen: usize) -> ReviewForm {
    let value = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let highest = fields
        .iter()
        .filter_map(|(k, _)| {
            k.rsplit_once('_')
                .and_then(|(_, n)| n.parse::<usize>().ok())
        })
        .max()
        .map_or(0, |n| n + 1)
        .max(rows_seen)
        .min(MAX_ROWS);
    ReviewForm {
        held_on: value("held_on"),
        next_due: value("next_due"),
        findings: value("findings"),
        participants: (0..highest)
            .map(|i| ParticipantRow {
                name: value(&format!("participant_name_{i}")),
                role: value(&format!("participant_role_{i}")),
            })
            .collect(),
        actions: (0..highest)
            .map(|i| ActionRow {
                action: value(&format!("action_text_{i}")),
                owner: value(&format!("action_owner_{i}")),
                due: value(&format!("action_due_{i}")),
            })
            .collect(),
    }
}

/// The review the form describes, or what is wrong with it. Empty rows are left out; the
/// store checks the rest (a governor among the participants, lengths, dates).
fn to_review(
    form: &ReviewForm,
    school: hedgerow_store::SchoolId,
) -> Result<NewAnnualReview, String> {
    let held_on = parse_date(&form.held_on, "review date")?;
    let next_due = if form.next_due.trim().is_empty() {
        // At least once a year.
        held_on
            .checked_add(1.year())
            .map_err(|_| "The review date is too far in the future.".to_string())?
    } else {
        parse_date(&form.next_due, "next review date")?
    };
    let mut participants = Vec::new();
    for (i, row) in form.participants.iter().enumerate() {
        let name = row.name.trim();
        let role = role_key(&row.role);
        match (name.is_empty(), role.is_empty()) {
            (true, _) => continue,
            (false, true) => {
                return Err(format!(
                    "Participant {} ({name}) has no role: choose one.",
                    i + 1
                ));
            }
            (false, false) => participants.push(ReviewParticipant {
                name: name.to_string(),
                role,
            }),
        }
    }
    if participants.is_empty() {
        return Err(
            "Name the people who took part, with their roles; one of them must be a governor."
                .into(),
        );
    }
    let mut actions = Vec::new();
    for (i, row) in form.actions.iter().enumerate() {
        let action = row.action.trim();
        let owner = row.owner.trim();
        let due = row.due.trim();
        if action.is_empty() {
            if !owner.is_empty() || !due.is_empty() {
                return Err(format!(
                    "Action {} has an owner or a due date but no action: say what is to be done, or clear the row.",
                    i + 1
                ));
            }
            continue;
        }
        if owner.is_empty() {
            return Err(format!(
                "Action {} has no owner: say who will do it.",
                i + 1
            ));
        }
        let due_on = if due.is_empty() {
            None
        } else {
            Some(parse_date(due, &format!("due date of action {}", i + 1))?)
        };
        actions.push(NewReviewAction {
            action: action.to_string(),
            owner: owner.to_string(),
            due_on,
        });
    }
    Ok(NewAnnualReview {
        school,
        held_on,
        participants,
        findings: form.findings.trim().to_string(),
        next_due,
        actions,
    })
}

async fn record(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(r) = staff.require(Permission::EditAnnualReview) {
        return r;
    }
    let form = read_form(&fields, ROWS);
    let review = match to_review(&form, staff.school) {
        Ok(review) => review,
        Err(message) => {
            return page(&app, &staff, Some(message), form, StatusCode::BAD_REQUEST).await;
        }
    };
    match app.store.add_annual_review(&review, &staff.acting()).await {
        Ok(_) => Redirect::to("/reviews").into_response(),
        Err(e @ StoreError::InvalidInput { .. }) => {
            page(
                &app,
                &staff,
                Some(format!("The review was not recorded: {e}.")),
                form,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => server_error("recording an annual review", e),
    }
}

async fn action_done(
    State(app): State<Arc<AdminApp>>,
    staff: Staff,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = staff.require(Permission::EditAnnualReview) {
        return r;
    }
    let Some(id) = id.trim().parse::<i64>().ok().filter(|id| *id > 0) else {
        return not_found("review action");
    };
    match app
        .store
        .complete_review_action(
            staff.school,
            ReviewActionId(id),
            Timestamp::now(),
            &staff.acting(),
        )
        .await
    {
        Ok(true) => Redirect::to("/reviews").into_response(),
        Ok(false) => (
            StatusCode::CONFLICT,
            "There is no such open action: it may already be marked done. Go back to the annual review page and reload it.",
        )
            .into_response(),
        Err(e) => server_error("marking a review action done", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_form_rows_become_a_review_with_the_next_due_a_year_on() {
        let form = read_form(
            &fields(&[
                ("held_on", "2026-03-10"),
                ("next_due", ""),
                ("findings", " All good. "),
                ("participant_name_0", "Mrs Governor"),
                ("participant_role_0", "governor"),
                ("participant_name_1", ""),
                ("participant_role_1", "dsl"),
                ("participant_name_2", "Mr DSL"),
                ("participant_role_2", "Online Safety Lead"),
                ("action_text_0", "Add the new tablets"),
                ("action_owner_0", "Network manager"),
                ("action_due_0", "2026-04-01"),
                ("action_text_1", ""),
                ("action_owner_1", ""),
                ("action_due_1", ""),
            ]),
            2,
        );
        assert_eq!(form.participants.len(), 3);
        let review = to_review(&form, hedgerow_store::SchoolId(1)).unwrap();
        assert_eq!(review.held_on, date(2026, 3, 10));
        assert_eq!(review.next_due, date(2027, 3, 10));
        assert_eq!(review.findings, "All good.");
        assert_eq!(
            review.participants.len(),
            2,
            "the row without a name is left out"
        );
        assert_eq!(review.participants[1].role, "online-safety-lead");
        assert_eq!(review.actions.len(), 1);
        assert_eq!(review.actions[0].due_on, Some(date(2026, 4, 1)));
    }

    #[test]
    fn incomplete_rows_and_bad_dates_are_refused_with_what_to_do() {
        let refused = |pairs: &[(&str, &str)]| {
            to_review(&read_form(&fields(pairs), 1), hedgerow_store::SchoolId(1)).unwrap_err()
        };
        let base = [
            ("held_on", "2026-03-10"),
            ("participant_name_0", "Mrs Governor"),
            ("participant_role_0", "governor"),
        ];
        assert!(refused(&[("held_on", "10/03/2026")]).contains("not a date"));
        assert!(refused(&[("held_on", "2026-03-10")]).contains("governor"));
        let mut no_role = base.to_vec();
        no_role.extend([("participant_name_1", "Mr X"), ("participant_role_1", " ")]);
        assert!(refused(&no_role).contains("Participant 2 (Mr X) has no role"));
        let mut no_owner = base.to_vec();
        no_owner.push(("action_text_0", "Do it"));
        assert!(refused(&no_owner).contains("Action 1 has no owner"));
        let mut owner_only = base.to_vec();
        owner_only.push(("action_owner_0", "Someone"));
        assert!(refused(&owner_only).contains("no action"));
        let mut bad_due = base.to_vec();
        bad_due.extend([
            ("action_text_0", "Do it"),
            ("action_owner_0", "Me"),
            ("action_due_0", "soon"),
        ]);
        assert!(refused(&bad_due).contains("due date of action 1"));
    }

    #[test]
    fn the_reminder_says_when_the_review_is_due() {
        let today = date(2026, 3, 10);
        assert!(reminder(None, today).1);
        let (text, overdue) = reminder(Some(date(2026, 3, 1)), today);
        assert!(overdue && text.contains("overdue") && text.contains("1 March 2026"));
        assert!(reminder(Some(today), today).1);
        let (text, overdue) = reminder(Some(date(2027, 3, 10)), today);
        assert!(!overdue);
        assert_eq!(text, "The next annual review is due by 10 March 2027.");
    }
}
