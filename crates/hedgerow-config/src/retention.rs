//! The `[retention]` table: how long browsing history and decided alerts are kept.
//!
//! Browsing logs are sensitive data about children, kept only as long as the school needs them
//! to answer questions about what happened; the defaults (a year of activity, a year for
//! alerts found to be false positives or needing no further action) match a school year with
//! a term to spare. Alerts that became safeguarding records are kept with those records.

use serde::Deserialize;

use crate::error::Report;
use crate::raw::Sp;

/// The `[retention]` table, with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Activity events older than this many days are deleted.
    pub activity_days: u32,
    /// Alerts decided as false positive or no further action, with no concern, are deleted
    /// this many days after their last match.
    pub decided_alert_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            activity_days: 365,
            decided_alert_days: 365,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub activity_days: Option<Sp<u32>>,
    pub decided_alert_days: Option<Sp<u32>>,
}

/// The shortest period allowed: long enough to investigate what a child reported late.
const MIN_DAYS: u32 = 30;
/// The longest: seven years, beyond which browsing history serves no school purpose.
const MAX_DAYS: u32 = 7 * 366;

pub(crate) fn retention_settings(
    report: &mut Report,
    raw: Option<&Sp<RawRetention>>,
) -> RetentionSettings {
    let mut settings = RetentionSettings::default();
    let Some(raw) = raw else {
        return settings;
    };
    let table = raw.get_ref();
    for (key, value, out) in [
        (
            "activity_days",
            &table.activity_days,
            &mut settings.activity_days,
        ),
        (
            "decided_alert_days",
            &table.decided_alert_days,
            &mut settings.decided_alert_days,
        ),
    ] {
        if let Some(value) = value {
            let days = *value.get_ref();
            if (MIN_DAYS..=MAX_DAYS).contains(&days) {
                *out = days;
            } else {
                report.add(
                    format!("retention.{key}"),
                    value.span(),
                    format!("{days} days is out of range; keep records from {MIN_DAYS} to {MAX_DAYS} days"),
                );
            }
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn config(extra: &str) -> String {
        format!(
            r#"
data_dir = "/tmp/h"
[lists]
sources = ["/tmp/l"]
{extra}
[[school]]
slug = "oak"
name = "Oak"
[school.groups.unknown]
kind = "unidentified"
default = "allow"
"#
        )
    }

    #[test]
    fn a_year_by_default_and_bounded_when_set() {
        let c = Config::parse(&config("")).expect("valid");
        assert_eq!(c.retention.activity_days, 365);
        let c = Config::parse(&config("[retention]\nactivity_days = 200\n")).expect("valid");
        assert_eq!(c.retention.activity_days, 200);
        assert_eq!(c.retention.decided_alert_days, 365);
        let e =
            Config::parse(&config("[retention]\ndecided_alert_days = 3\n")).expect_err("too short");
        assert!(
            e.to_string().contains("retention.decided_alert_days"),
            "{e}"
        );
    }
}
