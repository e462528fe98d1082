//! Monitoring rules for Hedgerow, with no I/O: when blocked attempts add up to an alert
//! (`burst`), who hears about an alert and how soon (`routing`), when digests fall due
//! (`digest`), and what an alert says in an email or a webhook (`message`).
//!
//! Categories are the risk categories' plain keys (`"suicide_self_harm"`, `"gambling"`, ...),
//! so this crate does not depend on the classifier that produces them.

pub mod burst;
pub mod digest;
pub mod message;
pub mod routing;

pub use burst::{Burst, BurstDetector, BurstRule, PersonKey, burst_category_for};
pub use digest::{DigestKind, DigestSchedule};
pub use message::{
    AlertNotice, Detail, DigestItem, EmailMessage, digest_email, email_for, format_time,
    severity_label, webhook_json,
};
pub use routing::{Delivery, Route, RoutingPolicy, SchoolHours, london, renotify};
