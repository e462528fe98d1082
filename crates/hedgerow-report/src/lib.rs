//! The weekly monitoring report for senior leaders and governors: alerts by category,
//! severity and group, response times, the false-positive rate and circumvention attempts,
//! rendered as a self-contained HTML document and as a PDF; and the governors' termly
//! safeguarding report, whose small counts are suppressed so that no child can be identified.
//!
//! This crate does no I/O. The caller adds the week up from the store into a
//! [`WeeklyReport`]; [`render_html`] and [`render_pdf`] turn it into a page to serve or a file
//! to attach to an email. The report holds counts only, never the names of children.

mod figures;
mod html;
mod model;
mod pdf;
mod suppress;
mod termly;

pub use html::render_html;
pub use model::{CategoryCount, Outcomes, ResponseTimes, WeeklyReport};
pub use pdf::render_pdf;
pub use suppress::{Shown, ShownGroup, SuppressionPolicy, suppress, suppress_group, suppress_one};
pub use termly::html::render_termly_html;
pub use termly::model::{
    AnnualReview, FilteringSummary, MAX_PREVIOUS_TERMS, Sanctions, SelfTest, Term, TermCounts,
    TermlyReport,
};
pub use termly::pdf::render_termly_pdf;
