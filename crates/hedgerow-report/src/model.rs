//! The weekly report's input: counts the store has already added up for one school and one
//! week. It holds no names of children, by design: the report goes to senior leaders and
//! governors, who need the pattern, not the people.

use jiff::ZonedDateTime;
use jiff::civil::Date;

/// Everything one weekly monitoring report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyReport {
    /// As configured; escaped wherever it is shown.
    pub school_name: String,
    /// First day of the week, inclusive, in Europe/London.
    pub period_start: Date,
    /// Last day of the week, inclusive, in Europe/London.
    pub period_end: Date,
    pub generated_at: ZonedDateTime,
    pub by_category: Vec<CategoryCount>,
    /// Alerts at severity 1 (advisory) to 5 (imminent risk): index 0 is severity 1.
    pub by_severity: [u32; 5],
    /// Policy group label and its number of alerts.
    pub by_group: Vec<(String, u32)>,
    pub response: ResponseTimes,
    pub outcomes: Outcomes,
    /// Kind of circumvention (for example "VPN and proxy services"), attempts, and the number
    /// of distinct people or devices that made them.
    pub circumvention: Vec<(String, u32, u32)>,
    /// Last week's total, for the trend ("up 3 on last week"); `None` when there was no
    /// report last week.
    pub previous_week_total: Option<u32>,
}

/// Alerts in one risk category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    /// The category's key, such as `suicide_self_harm`.
    pub category: String,
    /// The category's name for people, such as "Suicide and self-harm".
    pub label: String,
    pub count: u32,
    /// Of `count`, those at severity 4 or 5.
    pub high_severity: u32,
}

/// How quickly alerts were triaged this week.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseTimes {
    pub triaged: u32,
    pub untriaged: u32,
    /// Minutes from alert to triage; `None` when nothing was triaged.
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
    /// Median for alerts at severity 4 or 5 only.
    pub high_severity_median_minutes: Option<f64>,
}

/// What triage decided about this week's alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcomes {
    pub triaged_to_concern: u32,
    pub false_positive: u32,
    pub no_further_action: u32,
}

impl Outcomes {
    /// Every alert given an outcome.
    pub fn total(&self) -> u64 {
        u64::from(self.triaged_to_concern)
            + u64::from(self.false_positive)
            + u64::from(self.no_further_action)
    }

    /// False positives as a fraction (0 to 1) of every alert given an outcome; `None` when
    /// nothing was, since a rate over nothing means nothing.
    pub fn false_positive_rate(&self) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            None
        } else {
            Some(self.false_positive as f64 / total as f64)
        }
    }
}

impl WeeklyReport {
    /// Alerts this week: the sum over severities, since every alert has exactly one.
    pub fn total_alerts(&self) -> u64 {
        self.by_severity.iter().map(|&n| u64::from(n)).sum()
    }

    /// Alerts at severity 4 or 5.
    pub fn high_severity_alerts(&self) -> u64 {
        u64::from(self.by_severity[3]) + u64::from(self.by_severity[4])
    }
}
