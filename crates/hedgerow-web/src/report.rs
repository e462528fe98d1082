//! The weekly monitoring report for senior leaders and governors (`/monitoring/report`, and
//! `/monitoring/report.pdf` to download): alerts by category, severity and group, how quickly
//! they were triaged, the false-positive rate and circumvention attempts, for one week from
//! Monday to Sunday in the school's time zone.
//!
//! The figures come from [`hedgerow_store::Store::alert_summary`], which holds counts only, so
//! the report names no one and governors may read it ([`Permission::ViewMonitoringReport`]).
//! Rendering is `hedgerow-report`'s, the same for the page and the PDF.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hedgerow_accounts::Permission;
use hedgerow_report::{CategoryCount, Outcomes, ResponseTimes, WeeklyReport};
use hedgerow_store::{AlertSummary, Verdict};
use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, ToSpan};

use crate::AdminApp;
use crate::alerts::category_label;
use crate::form::Fields;
use crate::frame::{Staff, bad_request, server_error};

pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/monitoring/report"),
    ("GET", "/monitoring/report.pdf"),
];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
        .route("/monitoring/report", get(html))
        .route("/monitoring/report.pdf", get(pdf))
}

async fn html(State(app): State<Arc<AdminApp>>, staff: Staff, query: RawQuery) -> Response {
    match report(&app, &staff, query).await {
        Ok(report) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            hedgerow_report::render_html(&report),
        )
            .into_response(),
        Err(refusal) => refusal,
    }
}

async fn pdf(State(app): State<Arc<AdminApp>>, staff: Staff, query: RawQuery) -> Response {
    match report(&app, &staff, query).await {
        Ok(report) => {
            let name = format!(
                "attachment; filename=\"monitoring-report-{}.pdf\"",
                report.period_start
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
                hedgerow_report::render_pdf(&report),
            )
                .into_response()
        }
        Err(refusal) => refusal,
    }
}

/// The Monday of the week the report covers: the week holding `?week=DATE`, or by default the
/// last complete week.
#[allow(clippy::result_large_err)]
fn week_start(query: Option<&str>, today: Date) -> Result<Date, Response> {
    let fields = Fields(
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let day = match fields.get("week") {
        None | Some("") => today
            .checked_sub(7.days())
            .map_err(|_| bad_request("That week is out of range."))?,
        Some(text) => text.parse::<Date>().map_err(|_| {
            bad_request(format!(
                "{text:?} is not a date. Give any day of the week as YYYY-MM-DD, e.g. 2026-11-30."
            ))
        })?,
    };
    let back = i64::from(day.weekday().to_monday_zero_offset());
    day.checked_sub(back.days())
        .map_err(|_| bad_request("That week is out of range."))
}

#[allow(clippy::result_large_err)]
async fn report(
    app: &AdminApp,
    staff: &Staff,
    RawQuery(query): RawQuery,
) -> Result<WeeklyReport, Response> {
    staff.require(Permission::ViewMonitoringReport)?;
    let zone = app.zone.clone();
    let now = Timestamp::now().to_zoned_datetime(zone.clone());
    let monday = week_start(query.as_deref(), now.date())?;
    debug_assert_eq!(monday.weekday(), Weekday::Monday);
    let bounds = |start: Date| -> Result<(Timestamp, Timestamp), Response> {
        let end = start
            .checked_add(7.days())
            .map_err(|_| bad_request("That week is out of range."))?;
        let at = |d: Date| {
            d.to_zoned_datetime(zone.clone())
                .map(|z| z.timestamp())
                .map_err(|_| bad_request("That week is out of range."))
        };
        Ok((at(start)?, at(end)?))
    };
    let (since, until) = bounds(monday)?;
    let summary = app
        .store
        .alert_summary(staff.school, since, until)
        .await
        .map_err(|e| server_error("reading the alert figures", e))?;
    let previous = match monday.checked_sub(7.days()) {
        Ok(before) => {
            let (since, until) = bounds(before)?;
            app.store
                .alert_summary(staff.school, since, until)
                .await
                .ok()
                .map(|s| saturate(s.total))
        }
        Err(_) => None,
    };
    Ok(weekly_report(
        &staff.school_name,
        monday,
        &summary,
        previous,
        now,
    ))
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn minutes(seconds: Option<i64>) -> Option<f64> {
    seconds.map(|s| s as f64 / 60.0)
}

/// What a circumvention rule means, in words.
fn circumvention_label(rule: &str, verdict: Verdict) -> String {
    let what = match rule {
        "dns:doh-canary" => "Browsers checking whether they may bypass the school's DNS",
        "proxy:sni-mismatch" => "HTTPS with a disguised destination",
        "proxy:ech-hidden-destination" => {
            "HTTPS with a hidden destination (Encrypted Client Hello)"
        }
        "proxy:not-tls" => "Other traffic through an HTTPS tunnel",
        _ => "VPN, proxy and encrypted-DNS services",
    };
    match verdict {
        Verdict::Block => format!("{what} (blocked)"),
        Verdict::Allow => format!("{what} (allowed, staff)"),
    }
}

fn weekly_report(
    school_name: &str,
    monday: Date,
    summary: &AlertSummary,
    previous_week_total: Option<u32>,
    generated_at: jiff::ZonedDateTime,
) -> WeeklyReport {
    let high_median = {
        let seconds = &summary.high_severity_response_seconds;
        (!seconds.is_empty()).then(|| seconds[(seconds.len() - 1) / 2] as f64 / 60.0)
    };
    WeeklyReport {
        school_name: school_name.to_string(),
        period_start: monday,
        period_end: monday.checked_add(6.days()).unwrap_or(monday),
        generated_at,
        by_category: summary
            .by_category
            .iter()
            .map(|c| CategoryCount {
                category: c.category.clone(),
                label: category_label(&c.category),
                count: saturate(c.count),
                high_severity: saturate(c.high_severity),
            })
            .collect(),
        by_severity: summary.by_severity.map(saturate),
        by_group: summary
            .by_group
            .iter()
            .map(|g| {
                (
                    g.key.clone().unwrap_or_else(|| "no group".to_string()),
                    saturate(g.count),
                )
            })
            .collect(),
        response: ResponseTimes {
            triaged: saturate(summary.response_seconds.len() as u64),
            untriaged: saturate(summary.by_status.new),
            median_minutes: minutes(summary.median_response_seconds()),
            p90_minutes: minutes(summary.p90_response_seconds()),
            high_severity_median_minutes: high_median,
        },
        outcomes: Outcomes {
            triaged_to_concern: saturate(summary.by_status.triaged),
            false_positive: saturate(summary.by_status.false_positive),
            no_further_action: saturate(summary.by_status.no_further_action),
        },
        circumvention: summary
            .circumvention
            .iter()
            .map(|c| {
                (
                    circumvention_label(&c.rule, c.verdict),
                    saturate(c.attempts),
                    saturate(c.people),
                )
            })
            .collect(),
        previous_week_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_week_is_the_last_complete_one() {
        let wednesday: Date = "2026-12-09".parse().unwrap();
        assert_eq!(
            week_start(None, wednesday).ok(),
            Some("2026-11-30".parse().unwrap())
        );
        let sunday: Date = "2026-12-06".parse().unwrap();
        assert_eq!(
            week_start(Some("week=2026-12-06"), sunday).ok(),
            Some("2026-11-30".parse().unwrap())
        );
        assert!(week_start(Some("week=last+tuesday"), sunday).is_err());
    }

    #[test]
    fn figures_carry_over_without_names() {
        let mut summary = AlertSummary {
            total: 3,
            by_severity: [0, 1, 0, 1, 1],
            ..AlertSummary::default()
        };
        summary.by_status.false_positive = 1;
        summary.by_status.triaged = 1;
        summary.response_seconds = vec![60, 600];
        let generated = Timestamp::UNIX_EPOCH.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let report = weekly_report(
            "Oak",
            "2026-11-30".parse().unwrap(),
            &summary,
            Some(1),
            generated,
        );
        assert_eq!(report.period_end, "2026-12-06".parse().unwrap());
        assert_eq!(report.outcomes.false_positive_rate(), Some(0.5));
        assert_eq!(report.response.triaged, 2);
        assert_eq!(report.total_alerts(), 3);
    }
}
