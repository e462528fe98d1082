//! The report's words and numbers, worked out once so that the HTML and the PDF say exactly
//! the same thing: formatted counts, dates, durations and rates, the summary lines and the
//! rows of each chart.

use jiff::ZonedDateTime;
use jiff::civil::{Date, Weekday};

use crate::model::WeeklyReport;

pub(crate) const TITLE: &str = "Weekly monitoring report";
pub(crate) const NO_ALERTS: &str = "No alerts this week.";
pub(crate) const NO_CIRCUMVENTION: &str = "No circumvention attempts this week.";
pub(crate) const NOT_AVAILABLE: &str = "not available";

/// Names for severities 1 to 5, in order.
pub(crate) const SEVERITY_LABELS: [&str; 5] = [
    "1 (advisory)",
    "2 (low)",
    "3 (moderate)",
    "4 (high)",
    "5 (imminent risk)",
];

/// A count with thousands separators: 12345 is "12,345".
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

fn month_name(month: i8) -> &'static str {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    usize::try_from(month - 1)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("")
}

/// "Monday 1 December 2026", built by hand because a strftime failure would panic in
/// `to_string`.
pub(crate) fn long_date(date: Date) -> String {
    format!(
        "{} {} {} {}",
        weekday_name(date.weekday()),
        date.day(),
        month_name(date.month()),
        date.year()
    )
}

pub(crate) fn period(report: &WeeklyReport) -> String {
    format!(
        "{} to {}",
        long_date(report.period_start),
        long_date(report.period_end)
    )
}

/// When the report was made, in the school's time (Europe/London) whatever zone it came in.
pub(crate) fn generated(at: &ZonedDateTime) -> String {
    let london = jiff::tz::TimeZone::get("Europe/London")
        .map(|tz| at.with_time_zone(tz))
        .unwrap_or_else(|_| at.clone());
    format!(
        "Generated on {} at {:02}:{:02}",
        long_date(london.date()),
        london.hour(),
        london.minute()
    )
}

/// A response time for people: "under 1 min", "42 min", "3 h 5 min", "2 days 4 h".
pub(crate) fn minutes(value: Option<f64>) -> String {
    let Some(value) = value.filter(|v| v.is_finite() && *v >= 0.0) else {
        return NOT_AVAILABLE.to_owned();
    };
    if value < 1.0 {
        return "under 1 min".to_owned();
    }
    // Saturating cast: absurd inputs give a large number, not a panic.
    let total = value.round() as u64;
    let (days, hours, mins) = (total / 1440, (total % 1440) / 60, total % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, _) => format!("{hours} h {mins} min"),
        (1, _) => format!("1 day {hours} h"),
        _ => format!("{} days {hours} h", count(days)),
    }
}

pub(crate) fn percent(fraction: Option<f64>) -> String {
    match fraction.filter(|f| f.is_finite()) {
        Some(f) => format!("{:.1}%", f * 100.0),
        None => NOT_AVAILABLE.to_owned(),
    }
}

/// The week-on-week change, "up 3 on last week".
pub(crate) fn trend(total: u64, previous: Option<u32>) -> String {
    let Some(previous) = previous.map(u64::from) else {
        return "no figure for last week".to_owned();
    };
    if total > previous {
        format!("up {} on last week", count(total - previous))
    } else if total < previous {
        format!("down {} on last week", count(previous - total))
    } else {
        "the same as last week".to_owned()
    }
}

/// One line of the summary: what is counted and its figure.
pub(crate) struct SummaryLine {
    pub label: &'static str,
    pub value: String,
}

pub(crate) fn summary(report: &WeeklyReport) -> Vec<SummaryLine> {
    let total = report.total_alerts();
    let outcomes = &report.outcomes;
    let attempts: u64 = report
        .circumvention
        .iter()
        .map(|(_, n, _)| u64::from(*n))
        .sum();
    let false_positive = match outcomes.false_positive_rate() {
        Some(rate) => format!(
            "{} ({} of {} given an outcome)",
            percent(Some(rate)),
            count(outcomes.false_positive.into()),
            count(outcomes.total())
        ),
        None => format!("{NOT_AVAILABLE} (nothing given an outcome)"),
    };
    vec![
        SummaryLine {
            label: "Alerts",
            value: format!(
                "{} ({})",
                count(total),
                trend(total, report.previous_week_total)
            ),
        },
        SummaryLine {
            label: "High severity (4 and 5)",
            value: count(report.high_severity_alerts()),
        },
        SummaryLine {
            label: "Triaged",
            value: format!(
                "{}, with {} awaiting triage",
                count(report.response.triaged.into()),
                count(report.response.untriaged.into())
            ),
        },
        SummaryLine {
            label: "Median time to triage",
            value: minutes(report.response.median_minutes),
        },
        SummaryLine {
            label: "False-positive rate",
            value: false_positive,
        },
        SummaryLine {
            label: "Circumvention attempts",
            value: count(attempts),
        },
    ]
}

/// Rows of the response and outcome table.
pub(crate) fn response_rows(report: &WeeklyReport) -> Vec<(&'static str, String)> {
    let response = &report.response;
    let outcomes = &report.outcomes;
    vec![
        ("Alerts triaged", count(response.triaged.into())),
        ("Alerts awaiting triage", count(response.untriaged.into())),
        ("Median time to triage", minutes(response.median_minutes)),
        (
            "90th percentile time to triage",
            minutes(response.p90_minutes),
        ),
        (
            "Median time to triage, high severity",
            minutes(response.high_severity_median_minutes),
        ),
        (
            "Linked to a safeguarding concern",
            count(outcomes.triaged_to_concern.into()),
        ),
        ("False positive", count(outcomes.false_positive.into())),
        (
            "No further action",
            count(outcomes.no_further_action.into()),
        ),
        (
            "False-positive rate",
            percent(outcomes.false_positive_rate()),
        ),
    ]
}

/// One bar: its label, its length, and the part of it drawn darker (high severity).
pub(crate) struct Bar {
    pub label: String,
    pub value: u32,
    pub emphasised: Option<u32>,
}

/// A bar chart and the table that says the same in text.
pub(crate) struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub label_heading: &'static str,
    pub value_heading: &'static str,
    pub emphasised_heading: Option<&'static str>,
    pub bars: Vec<Bar>,
}

impl Chart {
    pub fn largest(&self) -> u32 {
        self.bars.iter().map(|bar| bar.value).max().unwrap_or(0)
    }
}

/// The three charts, largest bars first where the order is not fixed.
pub(crate) fn charts(report: &WeeklyReport) -> [Chart; 3] {
    let mut categories: Vec<Bar> = report
        .by_category
        .iter()
        .map(|c| Bar {
            label: c.label.clone(),
            value: c.count,
            emphasised: Some(c.high_severity.min(c.count)),
        })
        .collect();
    categories.sort_by_key(|bar| std::cmp::Reverse(bar.value));
    let severities = SEVERITY_LABELS
        .iter()
        .zip(report.by_severity)
        .map(|(label, value)| Bar {
            label: (*label).to_owned(),
            value,
            emphasised: None,
        })
        .collect();
    let mut groups: Vec<Bar> = report
        .by_group
        .iter()
        .map(|(label, value)| Bar {
            label: label.clone(),
            value: *value,
            emphasised: None,
        })
        .collect();
    groups.sort_by_key(|bar| std::cmp::Reverse(bar.value));
    [
        Chart {
            id: "by-category",
            title: "Alerts by category",
            label_heading: "Category",
            value_heading: "Alerts",
            emphasised_heading: Some("High severity (4 and 5)"),
            bars: categories,
        },
        Chart {
            id: "by-severity",
            title: "Alerts by severity",
            label_heading: "Severity",
            value_heading: "Alerts",
            emphasised_heading: None,
            bars: severities,
        },
        Chart {
            id: "by-group",
            title: "Alerts by group",
            label_heading: "Group",
            value_heading: "Alerts",
            emphasised_heading: None,
            bars: groups,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(u64::from(u32::MAX)), "4,294,967,295");
    }

    #[test]
    fn response_times_read_as_people_say_them() {
        assert_eq!(minutes(None), NOT_AVAILABLE);
        assert_eq!(minutes(Some(f64::NAN)), NOT_AVAILABLE);
        assert_eq!(minutes(Some(-3.0)), NOT_AVAILABLE);
        assert_eq!(minutes(Some(0.4)), "under 1 min");
        assert_eq!(minutes(Some(42.4)), "42 min");
        assert_eq!(minutes(Some(185.0)), "3 h 5 min");
        assert_eq!(minutes(Some(1440.0 + 240.0)), "1 day 4 h");
        assert_eq!(minutes(Some(3.0 * 1440.0)), "3 days 0 h");
        assert!(!minutes(Some(f64::MAX)).is_empty());
    }

    #[test]
    fn trend_says_which_way_and_by_how_much() {
        assert_eq!(trend(23, Some(20)), "up 3 on last week");
        assert_eq!(trend(20, Some(23)), "down 3 on last week");
        assert_eq!(trend(5, Some(5)), "the same as last week");
        assert_eq!(trend(5, None), "no figure for last week");
    }

    #[test]
    fn dates_are_written_out_in_full() {
        let date = jiff::civil::date(2026, 12, 1);
        assert_eq!(long_date(date), "Tuesday 1 December 2026");
    }

    #[test]
    fn generated_time_is_shown_in_london_time() {
        // 12:30 UTC in July is 13:30 British Summer Time.
        let at: ZonedDateTime = "2026-07-06T12:30:00+00:00[UTC]".parse().unwrap();
        assert_eq!(generated(&at), "Generated on Monday 6 July 2026 at 13:30");
    }
}
