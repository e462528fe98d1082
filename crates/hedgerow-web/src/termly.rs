//! The governors' termly safeguarding report (`/records/termly`, and `/records/termly.pdf` to
//! download): records by incident type and term with the trend over up to five terms before,
//! where incidents happened, actions, referrals and sanctions, and the filtering and
//! monitoring summary, for one term the reader picks (`?term=N`).
//!
//! The figures come from [`hedgerow_store::Store::termly_figures`], which holds counts only,
//! and every label comes from a fixed vocabulary, so no name can reach the report; small
//! counts are suppressed by `hedgerow-report` as it renders. Governors may read it
//! ([`Permission::ViewTermlyReport`]). Terms are the school's configured term dates; a school
//! with none gets the usual English terms, and the page says so.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hedgerow_accounts::Permission;
use hedgerow_records::{ActionKind, IncidentType, Location, RecordType};
use hedgerow_report::{
    AnnualReview, FilteringSummary, MAX_PREVIOUS_TERMS, Sanctions, SelfTest, SuppressionPolicy,
    Term, TermCounts, TermlyReport,
};
use hedgerow_store::{CheckMethod, CheckResult, Count, TermlyFigures};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

use crate::AdminApp;
use crate::alerts::category_label;
use crate::form::Fields;
use crate::frame::{Staff, bad_request, server_error};

pub(crate) const ROUTES: &[(&str, &str)] =
    &[("GET", "/records/termly"), ("GET", "/records/termly.pdf")];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/records/termly", get(html))
        .route("/records/termly.pdf", get(pdf))
}

/// How many checks are read back to find the latest self-test: a school records a few a
/// term, so the latest self-test is well within this.
const CHECKS_SEARCHED: u32 = 500;

/// The picker and links shown above the report on the page (not in the PDF).
#[derive(Template)]
#[template(path = "termly_picker.html")]
struct PickerTemplate {
    options: Vec<TermOption>,
    chosen: usize,
    usual_terms: bool,
}

struct TermOption {
    index: usize,
    label: String,
}

async fn html(State(app): State<Arc<AdminApp>>, staff: Staff, query: RawQuery) -> Response {
    let (report, choice) = match report(&app, &staff, query).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let picker = PickerTemplate {
        options: choice
            .terms
            .iter()
            .enumerate()
            .map(|(index, t)| TermOption {
                index,
                label: format!("{} ({} to {})", t.label, t.starts, t.ends),
            })
            .collect(),
        chosen: choice.chosen,
        usual_terms: choice.usual_terms,
    };
    let picker = match picker.render() {
        Ok(picker) => picker,
        Err(e) => return server_error("rendering the termly report's term picker", e),
    };
    let page = with_picker(hedgerow_report::render_termly_html(&report), &picker);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::VARY, HeaderValue::from_static("Cookie")),
        ],
        page,
    )
        .into_response()
}

async fn pdf(State(app): State<Arc<AdminApp>>, staff: Staff, query: RawQuery) -> Response {
    match report(&app, &staff, query).await {
        Ok((report, _)) => {
            let name = format!(
                "attachment; filename=\"termly-report-{}.pdf\"",
                report.term.starts
            );
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/pdf"),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        HeaderValue::from_str(&name)
                            .unwrap_or(HeaderValue::from_static("attachment")),
                    ),
                ],
                hedgerow_report::render_termly_pdf(&report),
            )
                .into_response()
        }
        Err(refusal) => refusal,
    }
}

/// Puts the picker at the top of the report's body, so the page stays the report's own
/// self-contained document (its styles apply to it alone).
fn with_picker(document: String, picker: &str) -> String {
    match document.find("<body>") {
        Some(at) => {
            let after = at + "<body>".len();
            let mut page = String::with_capacity(document.len() + picker.len() + 1);
            page.push_str(document.get(..after).unwrap_or_default());
            page.push('\n');
            page.push_str(picker);
            page.push_str(document.get(after..).unwrap_or_default());
            page
        }
        None => format!("{picker}{document}"),
    }
}

/// The terms offered, oldest first, and which one the report is for.
struct TermChoice {
    terms: Vec<Term>,
    chosen: usize,
    /// No term dates are configured: these are the usual English terms.
    usual_terms: bool,
}

/// The school's terms, oldest first; with none configured, the usual English terms of this
/// school year and the one before that have started by `today`.
fn school_terms(configured: &[hedgerow_policy::Term], today: Date) -> (Vec<Term>, bool) {
    if configured.is_empty() {
        return (usual_terms(today), true);
    }
    let mut terms: Vec<Term> = configured
        .iter()
        .map(|t| Term {
            label: t.name.clone(),
            starts: t.start,
            ends: t.end,
        })
        .collect();
    terms.sort_by_key(|t| (t.starts, t.ends));
    (terms, false)
}

/// Autumn (1 September to 31 December), Spring (1 January to Easter, taken as 31 March) and
/// Summer (1 April to 31 August) of the last two school years, up to the one `today` is in.
fn usual_terms(today: Date) -> Vec<Term> {
    let year = if today.month() >= 9 {
        today.year()
    } else {
        today.year() - 1
    };
    let mut terms = Vec::new();
    for autumn_year in [year - 1, year] {
        let spring_year = autumn_year + 1;
        let three = [
            ("Autumn", autumn_year, (9, 1), (12, 31)),
            ("Spring", spring_year, (1, 1), (3, 31)),
            ("Summer", spring_year, (4, 1), (8, 31)),
        ];
        for (name, y, (m1, d1), (m2, d2)) in three {
            if let (Ok(starts), Ok(ends)) = (Date::new(y, m1, d1), Date::new(y, m2, d2))
                && starts <= today
            {
                terms.push(Term {
                    label: format!("{name} term {y}"),
                    starts,
                    ends,
                });
            }
        }
    }
    terms
}

/// The term asked for (`?term=N`, its place in the list), or by default the term holding
/// `today`, else the latest that has started, else the first.
#[allow(clippy::result_large_err)]
fn chosen_term(terms: &[Term], query: Option<&str>, today: Date) -> Result<usize, Response> {
    let fields = Fields(
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    if let Some(text) = fields.get("term") {
        return text
            .parse::<usize>()
            .ok()
            .filter(|&n| n < terms.len())
            .ok_or_else(|| {
                bad_request(format!(
                    "There is no term {text:?}. Choose a term from the list on the termly report page."
                ))
            });
    }
    let holding = terms
        .iter()
        .position(|t| t.starts <= today && today <= t.ends);
    let started = terms.iter().rposition(|t| t.starts <= today);
    Ok(holding.or(started).unwrap_or(0))
}

#[allow(clippy::result_large_err)]
async fn report(
    app: &AdminApp,
    staff: &Staff,
    RawQuery(query): RawQuery,
) -> Result<(TermlyReport, TermChoice), Response> {
    staff.require(Permission::ViewTermlyReport)?;
    let zone = app.zone.clone();
    let now = Timestamp::now().to_zoned_datetime(zone.clone());
    let today = now.date();
    let policy = app
        .control
        .policy(&staff.school_slug)
        .map_err(|e| server_error("reading the school's term dates for the termly report", e))?;
    let (terms, usual) = school_terms(&policy.terms, today);
    if terms.is_empty() {
        return Err(bad_request(
            "No term has started yet, so there is no termly report to show. Check the term dates in the school's configuration.",
        ));
    }
    let chosen = chosen_term(&terms, query.as_deref(), today)?;
    let first = chosen.saturating_sub(MAX_PREVIOUS_TERMS);
    let shown = terms.get(first..=chosen).unwrap_or_default();
    let at = |d: Date| -> Result<Timestamp, Response> {
        d.to_zoned_datetime(zone.clone())
            .map(|z| z.timestamp())
            .map_err(|_| bad_request("That term's dates are out of range."))
    };
    let mut figures = Vec::with_capacity(shown.len());
    for term in shown {
        let after = term
            .ends
            .checked_add(1.days())
            .map_err(|_| bad_request("That term's dates are out of range."))?;
        let f = app
            .store
            .termly_figures(staff.school, at(term.starts)?, at(after)?)
            .await
            .map_err(|e| server_error("reading the termly figures", e))?;
        figures.push(f);
    }
    let self_test = latest_self_test(app, staff).await?;
    let (Some((term, previous)), Some(this_term)) = (shown.split_last(), figures.last()) else {
        return Err(bad_request("There is no such term."));
    };
    let report = TermlyReport {
        school_name: staff.school_name.clone(),
        term: term.clone(),
        previous_terms: previous.to_vec(),
        generated_at: now,
        by_incident_type: incident_rows(&figures),
        by_record_type: record_type_rows(&figures),
        by_location: location_rows(this_term),
        open: this_term.reported_open(),
        closed: this_term.reported_closed,
        median_days_to_close: this_term.median_days_to_close(),
        actions: action_rows(this_term, false),
        referrals: action_rows(this_term, true),
        sanctions: sanctions(this_term),
        filtering: filtering(this_term, self_test, today),
        suppression: SuppressionPolicy::default(),
    };
    Ok((
        report,
        TermChoice {
            terms,
            chosen,
            usual_terms: usual,
        },
    ))
}

/// The latest built-in self-test in the check log.
#[allow(clippy::result_large_err)]
async fn latest_self_test(app: &AdminApp, staff: &Staff) -> Result<SelfTest, Response> {
    let checks = app
        .store
        .checks(staff.school, 0, CHECKS_SEARCHED)
        .await
        .map_err(|e| server_error("reading the check log for the termly report", e))?;
    Ok(checks
        .iter()
        .find(|c| c.check.method == CheckMethod::SelfTest)
        .map_or(SelfTest::NotRun, |c| {
            let on = hedgerow_store::london_date(c.check.at);
            match c.check.result {
                CheckResult::Pass => SelfTest::Passed { on },
                CheckResult::Fail | CheckResult::Partial => SelfTest::Failed {
                    on,
                    failures: self_test_failures(&c.check.details),
                },
            }
        }))
}

/// The number of decisions that did not match the policy, from the self-test's own summary
/// line ("...; N did not match the policy."); at least 1, since the test did not pass.
fn self_test_failures(details: &str) -> u64 {
    details
        .lines()
        .find_map(|line| {
            let (before, _) = line.split_once(" did not match the policy")?;
            before.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .unwrap_or(1)
        .max(1)
}

fn count_of(counts: &[Count], key: &str) -> u64 {
    counts
        .iter()
        .filter(|c| c.key.as_deref() == Some(key))
        .map(|c| c.count)
        .sum()
}

/// One row per key in `order` and then any other key met in some term, with that key's
/// count in each term; rows that are 0 in every term are left out when `drop_empty`.
fn rows_by_term(
    figures: &[TermlyFigures],
    counts: impl Fn(&TermlyFigures) -> &[Count],
    order: &[&str],
    label: impl Fn(&str) -> String,
    drop_empty: bool,
) -> Vec<TermCounts> {
    let mut keys: Vec<String> = order.iter().map(|k| (*k).to_owned()).collect();
    for f in figures {
        for c in counts(f) {
            if let Some(key) = &c.key
                && !keys.contains(key)
            {
                keys.push(key.clone());
            }
        }
    }
    keys.into_iter()
        .map(|key| TermCounts {
            label: label(&key),
            per_term: figures.iter().map(|f| count_of(counts(f), &key)).collect(),
        })
        .filter(|row| !drop_empty || row.per_term.iter().any(|&n| n > 0))
        .collect()
}

fn incident_rows(figures: &[TermlyFigures]) -> Vec<TermCounts> {
    let order: Vec<&str> = IncidentType::ALL.iter().map(|t| t.key()).collect();
    rows_by_term(
        figures,
        |f| &f.by_type,
        &order,
        |k| IncidentType::label_for(k).to_owned(),
        true,
    )
}

fn record_type_rows(figures: &[TermlyFigures]) -> Vec<TermCounts> {
    let order: Vec<&str> = RecordType::ALL.iter().map(|t| t.key()).collect();
    rows_by_term(
        figures,
        |f| &f.by_record_type,
        &order,
        |k| RecordType::label_for(k).to_owned(),
        false,
    )
}

fn location_rows(this_term: &TermlyFigures) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = Location::ALL
        .iter()
        .map(|l| {
            (
                l.label().to_owned(),
                count_of(&this_term.by_location, l.key()),
            )
        })
        .collect();
    for c in &this_term.by_location {
        if let Some(key) = c.key.as_deref()
            && Location::parse(key).is_none()
        {
            rows.push((key.to_owned(), c.count));
        }
    }
    rows
}

/// Actions apart from referrals (`referrals` false), or the referrals: every referral kind
/// is listed, 0 or not, so governors see what was not needed as well.
fn action_rows(this_term: &TermlyFigures, referrals: bool) -> Vec<(String, u64)> {
    let is_referral = |key: &str| ActionKind::parse(key).is_some_and(ActionKind::is_referral);
    let order: Vec<&str> = ActionKind::ALL
        .iter()
        .filter(|k| k.is_referral() == referrals)
        .map(|k| k.key())
        .collect();
    let mut rows: Vec<(String, u64)> = order
        .iter()
        .map(|key| {
            (
                ActionKind::label_for(key).to_owned(),
                count_of(&this_term.actions_by_kind, key),
            )
        })
        .filter(|(_, n)| referrals || *n > 0)
        .collect();
    if !referrals {
        for c in &this_term.actions_by_kind {
            if let Some(key) = c.key.as_deref()
                && ActionKind::parse(key).is_none()
                && !is_referral(key)
            {
                rows.push((key.to_owned(), c.count));
            }
        }
    }
    rows
}

fn sanctions(this_term: &TermlyFigures) -> Sanctions {
    Sanctions {
        suspensions: count_of(&this_term.sanctions_by_kind, "suspended"),
        restrictions: count_of(&this_term.sanctions_by_kind, "restricted"),
    }
}

/// A filter category as people read it: the list taxonomy's name, or the monitoring
/// category's, or the key itself.
fn blocked_label(key: Option<&str>) -> String {
    match key {
        None => "Not categorised".to_owned(),
        Some(key) => {
            hedgerow_lists::category(key).map_or_else(|| category_label(key), |c| c.name.to_owned())
        }
    }
}

fn filtering(this_term: &TermlyFigures, self_test: SelfTest, today: Date) -> FilteringSummary {
    FilteringSummary {
        top_blocked: this_term
            .top_blocked_categories
            .iter()
            .map(|c| (blocked_label(c.key.as_deref()), c.count))
            .collect(),
        alerts_by_category: this_term
            .alerts_by_category
            .iter()
            .map(|c| {
                (
                    c.key
                        .as_deref()
                        .map_or_else(|| "Not categorised".to_owned(), category_label),
                    c.count,
                )
            })
            .collect(),
        checks_done: this_term.checks_done,
        checks_failed: this_term.checks_failed,
        annual_review: AnnualReview {
            last_review: this_term.last_annual_review,
            next_due: this_term.annual_review_next_due,
            overdue: this_term
                .annual_review_next_due
                .is_some_and(|due| due < today),
        },
        self_test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn term(name: &str, start: &str, end: &str) -> hedgerow_policy::Term {
        hedgerow_policy::Term {
            name: name.to_owned(),
            start: day(start),
            end: day(end),
        }
    }

    #[test]
    fn the_default_term_holds_today_else_the_latest_started() {
        let configured = [
            term("Summer 2026", "2026-04-13", "2026-07-22"),
            term("Spring 2026", "2026-01-05", "2026-03-27"),
            term("Autumn 2026", "2026-09-02", "2026-12-18"),
        ];
        let (terms, usual) = school_terms(&configured, day("2026-05-01"));
        assert!(!usual);
        let labels: Vec<&str> = terms.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["Spring 2026", "Summer 2026", "Autumn 2026"]);
        assert_eq!(chosen_term(&terms, None, day("2026-05-01")).ok(), Some(1));
        // The summer holiday: the summer term is the latest to have started.
        assert_eq!(chosen_term(&terms, None, day("2026-08-10")).ok(), Some(1));
        assert_eq!(chosen_term(&terms, None, day("2027-01-10")).ok(), Some(2));
        assert_eq!(
            chosen_term(&terms, Some("term=0"), day("2026-05-01")).ok(),
            Some(0)
        );
        assert!(chosen_term(&terms, Some("term=3"), day("2026-05-01")).is_err());
        assert!(chosen_term(&terms, Some("term=spring"), day("2026-05-01")).is_err());
    }

    #[test]
    fn without_term_dates_the_usual_english_terms_are_used() {
        let (terms, usual) = school_terms(&[], day("2026-02-10"));
        assert!(usual);
        let got: Vec<(String, Date, Date)> = terms
            .iter()
            .map(|t| (t.label.clone(), t.starts, t.ends))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Autumn term 2024".to_owned(),
                    day("2024-09-01"),
                    day("2024-12-31")
                ),
                (
                    "Spring term 2025".to_owned(),
                    day("2025-01-01"),
                    day("2025-03-31")
                ),
                (
                    "Summer term 2025".to_owned(),
                    day("2025-04-01"),
                    day("2025-08-31")
                ),
                (
                    "Autumn term 2025".to_owned(),
                    day("2025-09-01"),
                    day("2025-12-31")
                ),
                (
                    "Spring term 2026".to_owned(),
                    day("2026-01-01"),
                    day("2026-03-31")
                ),
            ]
        );
        assert_eq!(chosen_term(&terms, None, day("2026-02-10")).ok(), Some(4));
        let (autumn, _) = school_terms(&[], day("2026-09-01"));
        assert_eq!(
            autumn.last().map(|t| t.label.as_str()),
            Some("Autumn term 2026")
        );
    }

    #[test]
    fn rows_follow_the_vocabulary_and_split_referrals_from_actions() {
        let count = |key: &str, count: u64| Count {
            key: Some(key.to_owned()),
            count,
        };
        let earlier = TermlyFigures {
            by_type: vec![count("grooming", 2)],
            ..TermlyFigures::default()
        };
        let now = TermlyFigures {
            by_type: vec![count("cyberbullying", 12), count("grooming", 3)],
            actions_by_kind: vec![count("parents-informed", 4), count("ceop-report", 1)],
            sanctions_by_kind: vec![count("suspended", 2)],
            ..TermlyFigures::default()
        };
        let rows = incident_rows(&[earlier, now.clone()]);
        let got: Vec<(&str, &[u64])> = rows
            .iter()
            .map(|r| (r.label.as_str(), r.per_term.as_slice()))
            .collect();
        assert_eq!(
            got,
            [("Cyberbullying", &[0, 12][..]), ("Grooming", &[2, 3][..])]
        );
        assert_eq!(
            action_rows(&now, false),
            [("Parents or carers informed".to_owned(), 4)]
        );
        let referrals = action_rows(&now, true);
        assert_eq!(referrals.len(), 6, "every referral kind is listed");
        assert!(referrals.contains(&("Report to CEOP".to_owned(), 1)));
        assert_eq!(sanctions(&now).suspensions, 2);
    }

    #[test]
    fn a_failed_self_test_counts_its_failures() {
        let details = "Self-test of Oak (oak) at 1 Jan 2026 09:00, run by head.\nResult: fail. 120 decisions asked of the gateway; 3 did not match the policy.\n";
        assert_eq!(self_test_failures(details), 3);
        assert_eq!(self_test_failures("garbled"), 1);
    }

    #[test]
    fn the_picker_goes_inside_the_body() {
        let page = with_picker(
            "<html><head></head><body>\n<h1>R</h1></body></html>".to_owned(),
            "<nav>P</nav>",
        );
        assert_eq!(
            page,
            "<html><head></head><body>\n<nav>P</nav>\n<h1>R</h1></body></html>"
        );
    }
}
