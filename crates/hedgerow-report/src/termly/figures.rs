//! The termly report's tables and charts, with every count already suppressed, worked out
//! once so that the HTML and the PDF show exactly the same figures. Nothing downstream of
//! this module sees a raw count that is not shown.

use crate::figures::{count, long_date};
use crate::suppress::{Shown, ShownGroup, SuppressionPolicy, suppress, suppress_group};
use crate::termly::model::{MAX_PREVIOUS_TERMS, SelfTest, TermCounts, TermlyReport};

pub(crate) const TITLE: &str = "Governors' termly safeguarding report";
pub(crate) const WITHHELD: &str = "withheld";

/// A count as text: the figure, "<5", or "withheld".
pub(crate) fn shown_text(shown: Shown, policy: SuppressionPolicy) -> String {
    match shown {
        Shown::Count(n) => count(n),
        Shown::Suppressed => policy.marker(),
        Shown::Withheld => WITHHELD.to_owned(),
    }
}

/// What the marks mean, printed on the report.
pub(crate) fn suppression_note(policy: SuppressionPolicy) -> String {
    let t = policy.threshold();
    format!(
        "So that no child can be identified, counts from 1 to {} are shown as {} (fewer than {t}), and so are totals that small. \"{WITHHELD}\" marks a count of {t} or more hidden so that a {} beside it cannot be worked out from the total. Charts draw hidden counts as a short hatched bar of fixed length, not at their size. This report holds counts only and names no one.",
        t - 1,
        policy.marker(),
        policy.marker()
    )
}

/// A table of shown counts; each column is one group whose total is in `total`.
pub(crate) struct Table {
    pub id: &'static str,
    pub title: &'static str,
    pub label_heading: &'static str,
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<Shown>)>,
    pub total: Option<(String, Vec<Shown>)>,
}

/// A bar chart of shown counts.
pub(crate) struct BarChart {
    pub id: &'static str,
    pub title: &'static str,
    pub bars: Vec<(String, Shown)>,
}

impl BarChart {
    /// The largest shown count: hidden counts never set the scale.
    pub fn largest(&self) -> u64 {
        self.bars
            .iter()
            .filter_map(|(_, s)| match s {
                Shown::Count(n) => Some(*n),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// Everything the report shows, suppressed.
pub(crate) struct Figures {
    pub policy: SuppressionPolicy,
    pub term_labels: Vec<String>,
    pub summary: Vec<(&'static str, String)>,
    pub trend: BarChart,
    pub types_this_term: BarChart,
    pub tables: Vec<Table>,
    pub filtering: Vec<(&'static str, String)>,
}

/// How many terms are shown (this one and up to five before it).
fn term_count(report: &TermlyReport) -> usize {
    report.previous_terms.len().min(MAX_PREVIOUS_TERMS) + 1
}

/// The last `terms` figures of a row, oldest first; a missing earlier figure counts as 0.
fn aligned(per_term: &[u64], terms: usize) -> Vec<u64> {
    let mut out = vec![0; terms.saturating_sub(per_term.len())];
    out.extend(per_term.iter().skip(per_term.len().saturating_sub(terms)));
    out
}

/// Suppresses each term's column of a label-by-term table as one group.
fn term_table(rows: &[TermCounts], terms: usize, policy: SuppressionPolicy) -> Vec<ShownGroup> {
    let values: Vec<Vec<u64>> = rows.iter().map(|r| aligned(&r.per_term, terms)).collect();
    (0..terms)
        .map(|term| {
            let column: Vec<u64> = values
                .iter()
                .map(|row| row.get(term).copied().unwrap_or(0))
                .collect();
            suppress_group(&column, policy)
        })
        .collect()
}

/// Turns per-column groups back into rows for a table.
fn rows_of(labels: &[String], columns: &[ShownGroup]) -> Vec<(String, Vec<Shown>)> {
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let cells = columns
                .iter()
                .map(|c| c.cells.get(i).copied().unwrap_or(Shown::Withheld))
                .collect();
            (label.clone(), cells)
        })
        .collect()
}

fn one_column(
    id: &'static str,
    title: &'static str,
    label_heading: &'static str,
    column: &str,
    rows: &[(String, u64)],
    group: ShownGroup,
) -> Table {
    Table {
        id,
        title,
        label_heading,
        columns: vec![column.to_owned()],
        rows: rows
            .iter()
            .zip(group.cells)
            .map(|((label, _), shown)| (label.clone(), vec![shown]))
            .collect(),
        total: Some(("Total".to_owned(), vec![group.total])),
    }
}

fn values(rows: &[(String, u64)]) -> Vec<u64> {
    rows.iter().map(|(_, n)| *n).collect()
}

pub(crate) fn figures(report: &TermlyReport) -> Figures {
    let policy = report.suppression;
    let terms = term_count(report);
    let term_labels: Vec<String> = report
        .previous_terms
        .iter()
        .skip(
            report
                .previous_terms
                .len()
                .saturating_sub(MAX_PREVIOUS_TERMS),
        )
        .chain(std::iter::once(&report.term))
        .map(|t| t.label.clone())
        .collect();

    let mut record_types = term_table(&report.by_record_type, terms, policy);
    // This term's records total appears in three groups (record type, location, open or
    // closed); if any of them must hide it, all must, or one table would give another away.
    let mut location = suppress_group(&values(&report.by_location), policy);
    let mut status = suppress_group(&[report.open, report.closed], policy);
    if let Some(this_term) = record_types.last_mut() {
        let hidden = [this_term.total, location.total, status.total]
            .into_iter()
            .find(|s| s.is_hidden());
        if let Some(hidden) = hidden {
            for group in [this_term, &mut location, &mut status] {
                if !group.total.is_hidden() {
                    group.total = hidden;
                }
            }
        }
    }
    let records_this_term = record_types
        .last()
        .map_or(Shown::Count(0), |group| group.total);

    let types = term_table(&report.by_incident_type, terms, policy);
    let type_labels: Vec<String> = report
        .by_incident_type
        .iter()
        .map(|r| r.label.clone())
        .collect();
    let type_rows = rows_of(&type_labels, &types);
    let types_this_term = BarChart {
        id: "types-this-term",
        title: "Records by incident type this term",
        bars: type_rows
            .iter()
            .filter_map(|(label, cells)| {
                let last = cells.last().copied()?;
                (last != Shown::Count(0)).then(|| (label.clone(), last))
            })
            .collect(),
    };
    let trend = BarChart {
        id: "trend",
        title: "Records by term",
        bars: term_labels
            .iter()
            .zip(&record_types)
            .map(|(label, group)| (label.clone(), group.total))
            .collect(),
    };

    let sanctions = suppress_group(
        &[report.sanctions.suspensions, report.sanctions.restrictions],
        policy,
    );
    let referrals = suppress_group(&values(&report.referrals), policy);
    let median = if status.cells.get(1).is_some_and(|s| s.is_hidden()) {
        format!(
            "not shown (fewer than {} records closed)",
            policy.threshold()
        )
    } else {
        match report
            .median_days_to_close
            .filter(|d| d.is_finite() && *d >= 0.0)
        {
            Some(days) => format!("{days:.1} days"),
            None => "not available".to_owned(),
        }
    };
    let summary = vec![
        ("Records this term", shown_text(records_this_term, policy)),
        (
            "Still open",
            shown_text(
                status.cells.first().copied().unwrap_or(Shown::Withheld),
                policy,
            ),
        ),
        (
            "Closed",
            shown_text(
                status.cells.get(1).copied().unwrap_or(Shown::Withheld),
                policy,
            ),
        ),
        ("Median time to close", median),
        ("Referrals made", shown_text(referrals.total, policy)),
        ("Sanctions", shown_text(sanctions.total, policy)),
    ];

    let record_type_labels: Vec<String> = report
        .by_record_type
        .iter()
        .map(|r| r.label.clone())
        .collect();
    let tables = vec![
        Table {
            id: "by-type",
            title: "Records by incident type and term",
            label_heading: "Incident type",
            columns: term_labels.clone(),
            rows: type_rows,
            total: Some((
                "All types (records may have several)".to_owned(),
                types.iter().map(|g| g.total).collect(),
            )),
        },
        Table {
            id: "by-record-type",
            title: "Records by record type and term",
            label_heading: "Record type",
            columns: term_labels.clone(),
            rows: rows_of(&record_type_labels, &record_types),
            total: Some((
                "All records".to_owned(),
                record_types.iter().map(|g| g.total).collect(),
            )),
        },
        one_column(
            "by-location",
            "Where it happened",
            "Location",
            "Records",
            &report.by_location,
            location,
        ),
        one_column(
            "status",
            "Open and closed",
            "Status",
            "Records",
            &[("Still open".to_owned(), 0), ("Closed".to_owned(), 0)],
            status,
        ),
        one_column(
            "actions",
            "Actions taken",
            "Action",
            "Actions",
            &report.actions,
            suppress_group(&values(&report.actions), policy),
        ),
        one_column(
            "referrals",
            "Referrals by kind",
            "Referral",
            "Referrals",
            &report.referrals,
            referrals,
        ),
        one_column(
            "sanctions",
            "Sanctions",
            "Sanction",
            "Sanctions",
            &[
                ("Internet access suspended".to_owned(), 0),
                ("Restricted filtering".to_owned(), 0),
            ],
            sanctions,
        ),
        Table {
            id: "blocked",
            title: "Most blocked categories",
            label_heading: "Category",
            columns: vec!["Requests blocked".to_owned()],
            rows: report
                .filtering
                .top_blocked
                .iter()
                .zip(suppress(
                    &values(&report.filtering.top_blocked),
                    false,
                    policy,
                ))
                .map(|((label, _), shown)| (label.clone(), vec![shown]))
                .collect(),
            total: None,
        },
        one_column(
            "alerts",
            "Monitoring alerts by category",
            "Category",
            "Alerts",
            &report.filtering.alerts_by_category,
            suppress_group(&values(&report.filtering.alerts_by_category), policy),
        ),
    ];

    Figures {
        policy,
        term_labels,
        summary,
        trend,
        types_this_term,
        tables,
        filtering: filtering_lines(report),
    }
}

/// Checks, the annual review and the self-test: facts about the system, not about people,
/// so they are shown as they are.
fn filtering_lines(report: &TermlyReport) -> Vec<(&'static str, String)> {
    let filtering = &report.filtering;
    let review = &filtering.annual_review;
    let date_or = |date: Option<jiff::civil::Date>, none: &str| {
        date.map_or_else(|| none.to_owned(), long_date)
    };
    let review_status = if review.overdue {
        "Overdue"
    } else if review.last_review.is_none() {
        "No review recorded"
    } else {
        "Up to date"
    };
    let self_test = match filtering.self_test {
        SelfTest::NotRun => "Not run".to_owned(),
        SelfTest::Passed { on } => format!("Passed on {}", long_date(on)),
        SelfTest::Failed { on, failures } => {
            format!("Failed on {} ({} failures)", long_date(on), count(failures))
        }
    };
    vec![
        ("Checks done this term", count(filtering.checks_done)),
        ("Checks failed", count(filtering.checks_failed)),
        ("Annual review", review_status.to_owned()),
        ("Last review", date_or(review.last_review, "none recorded")),
        ("Next review due", date_or(review.next_due, "not set")),
        ("Filter self-test", self_test),
    ]
}

pub(crate) fn term_dates(report: &TermlyReport) -> String {
    format!(
        "{}: {} to {}",
        report.term.label,
        long_date(report.term.starts),
        long_date(report.term.ends)
    )
}
