//! Monitoring rules for Hedgerow, with no I/O: when blocked attempts add up to an alert
//! (`burst`), who hears about an alert and how soon (`routing`), when digests fall due
//! (`digest`), what an alert says in an email or a webhook (`message`), and how a school's
//! risk-library changes from the change log tune the classifier (`tuning`).
//!
//! Alerts carry the risk categories' plain keys (`"suicide_self_harm"`, `"gambling"`, ...);
//! only `tuning` knows the classifier and the change log's types.

pub mod burst;
pub mod digest;
pub mod message;
pub mod routing;
pub mod tuning;

pub use burst::{Burst, BurstDetector, BurstRule, PersonKey, burst_category_for};
pub use digest::{DigestKind, DigestSchedule};
pub use message::{
    AlertNotice, Detail, DigestItem, EmailMessage, RecordNotice, digest_email, email_for,
    format_time, record_email, severity_label, webhook_json,
};
pub use routing::{Delivery, Route, RoutingPolicy, SchoolHours, london, renotify};
pub use tuning::{tuned_classifier, tuning_for, tunings_in};
