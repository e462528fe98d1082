//! The governors' termly report's input: counts the store has already added up for one school
//! and one term, with the terms before it for the trend. Nothing here can hold the name of a
//! person: every string is a label the caller chose from its own vocabulary (an incident
//! type, a location, a filter category), and every figure is a count.

use jiff::ZonedDateTime;
use jiff::civil::Date;

use crate::suppress::SuppressionPolicy;

/// The most earlier terms the trend shows.
pub const MAX_PREVIOUS_TERMS: usize = 5;

/// Everything one termly report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TermlyReport {
    /// As configured; escaped wherever it is shown.
    pub school_name: String,
    pub term: Term,
    /// Earlier terms for the trend, oldest first; only the last [`MAX_PREVIOUS_TERMS`] are
    /// shown.
    pub previous_terms: Vec<Term>,
    pub generated_at: ZonedDateTime,
    /// Incident type label and its records per term: oldest first, one figure for each of
    /// `previous_terms` and the last for this term. A record may have several types.
    pub by_incident_type: Vec<TermCounts>,
    /// Record type label ("Online safety", ...) and its records per term, as above. Every
    /// record has exactly one type, so these add up to the records made each term.
    pub by_record_type: Vec<TermCounts>,
    /// Location label and this term's records.
    pub by_location: Vec<(String, u64)>,
    /// Of this term's records, those still open and those closed.
    pub open: u64,
    pub closed: u64,
    /// Median days from report to closing, over records closed this term.
    pub median_days_to_close: Option<f64>,
    /// Action kind label and this term's actions of that kind, referrals apart.
    pub actions: Vec<(String, u64)>,
    /// Referral kind label (children's social care, police, CEOP, IWF, LADO) and this term's
    /// referrals of that kind.
    pub referrals: Vec<(String, u64)>,
    pub sanctions: Sanctions,
    pub filtering: FilteringSummary,
    pub suppression: SuppressionPolicy,
}

/// A term: its label, such as "Autumn term 2026", and its first and last days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub label: String,
    pub starts: Date,
    pub ends: Date,
}

/// A label and a count for each term shown, oldest first, the last for this term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermCounts {
    pub label: String,
    pub per_term: Vec<u64>,
}

/// Sanctions recorded this term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sanctions {
    /// Internet access suspended.
    pub suspensions: u64,
    /// Moved to a stricter filtering profile for a time.
    pub restrictions: u64,
}

/// The filtering and monitoring side of the term.
#[derive(Debug, Clone, PartialEq)]
pub struct FilteringSummary {
    /// Blocked category label and requests blocked, largest first (the caller picks how many).
    pub top_blocked: Vec<(String, u64)>,
    /// Monitoring category label and alerts raised.
    pub alerts_by_category: Vec<(String, u64)>,
    /// Filtering and monitoring checks done this term, and of those, failed.
    pub checks_done: u64,
    pub checks_failed: u64,
    pub annual_review: AnnualReview,
    pub self_test: SelfTest,
}

/// The yearly review of filtering and monitoring that the school's governors see to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnualReview {
    pub last_review: Option<Date>,
    pub next_due: Option<Date>,
    pub overdue: bool,
}

/// The latest self-test of the filter (known bad sites must be blocked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfTest {
    NotRun,
    Passed { on: Date },
    Failed { on: Date, failures: u64 },
}
