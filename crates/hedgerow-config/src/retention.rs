//! The `[retention]` table: how long browsing history and decided alerts are kept.
//!
//! Browsing logs are sensitive data about children, kept only as long as the school needs them
//! to answer questions about what happened; the defaults (a year of activity, a year for
//! alerts found to be false positives or needing no further action) match a school year with
//! a term to spare. Alerts that became safeguarding records are kept with those records.
//!
//! Safeguarding records are kept far longer, by record type, as the records management
//! guidance for schools advises: a child-protection record until the child is 25 (date of
//! birth plus 25 years), an allegation against a member of staff for 10 years from the
//! allegation, any other online-safety incident for 6 years. Reaching that date puts a record
//! up for review in the admin app; a person decides, and nothing is deleted by itself.

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
    /// Visitors' day codes, the devices they let on and the visitors' acceptances of the
    /// visitor agreement are deleted this many days after they were made.
    pub visitor_days: u32,
    /// Child-protection records come up for review this many years after the child's date of
    /// birth (or, with no date of birth, after the report).
    pub child_protection_years: u32,
    /// Records of allegations against staff come up for review this many years after the
    /// allegation.
    pub staff_allegation_years: u32,
    /// Other online-safety records come up for review this many years after the report.
    pub online_safety_years: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            activity_days: 365,
            decided_alert_days: 365,
            visitor_days: 365,
            child_protection_years: 25,
            staff_allegation_years: 10,
            online_safety_years: 6,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    pub activity_days: Option<Sp<u32>>,
    pub decided_alert_days: Option<Sp<u32>>,
    pub visitor_days: Option<Sp<u32>>,
    pub child_protection_years: Option<Sp<u32>>,
    pub staff_allegation_years: Option<Sp<u32>>,
    pub online_safety_years: Option<Sp<u32>>,
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
        (
            "visitor_days",
            &table.visitor_days,
            &mut settings.visitor_days,
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
    for (key, value, out, min) in [
        (
            "child_protection_years",
            &table.child_protection_years,
            &mut settings.child_protection_years,
            MIN_CHILD_PROTECTION_YEARS,
        ),
        (
            "staff_allegation_years",
            &table.staff_allegation_years,
            &mut settings.staff_allegation_years,
            MIN_RECORD_YEARS,
        ),
        (
            "online_safety_years",
            &table.online_safety_years,
            &mut settings.online_safety_years,
            MIN_RECORD_YEARS,
        ),
    ] {
        if let Some(value) = value {
            let years = *value.get_ref();
            if (min..=MAX_RECORD_YEARS).contains(&years) {
                *out = years;
            } else {
                report.add(
                    format!("retention.{key}"),
                    value.span(),
                    format!("{years} years is out of range; keep these records from {min} to {MAX_RECORD_YEARS} years"),
                );
            }
        }
    }
    settings
}

/// A child-protection record must outlive the child's childhood: 18 years after birth at least.
const MIN_CHILD_PROTECTION_YEARS: u32 = 18;
/// Other records: long enough for a complaint or a claim to be answered.
const MIN_RECORD_YEARS: u32 = 1;
/// Beyond this a record has outlived any purpose a school could give for it.
const MAX_RECORD_YEARS: u32 = 100;

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
        assert_eq!(c.retention.visitor_days, 365);
        let c = Config::parse(&config("[retention]\nvisitor_days = 90\n")).expect("valid");
        assert_eq!(c.retention.visitor_days, 90);
        let e = Config::parse(&config("[retention]\nvisitor_days = 5000\n")).expect_err("too long");
        assert!(e.to_string().contains("retention.visitor_days"), "{e}");
    }

    #[test]
    fn records_are_kept_for_years_by_type() {
        let c = Config::parse(&config("")).expect("valid");
        assert_eq!(c.retention.child_protection_years, 25);
        assert_eq!(c.retention.staff_allegation_years, 10);
        assert_eq!(c.retention.online_safety_years, 6);
        let c = Config::parse(&config(
            "[retention]
online_safety_years = 7
",
        ))
        .expect("valid");
        assert_eq!(c.retention.online_safety_years, 7);
        let e = Config::parse(&config(
            "[retention]
child_protection_years = 5
",
        ))
        .expect_err("a child-protection record cannot go before the child is grown up");
        assert!(
            e.to_string().contains("retention.child_protection_years"),
            "{e}"
        );
    }
}
