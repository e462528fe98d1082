//! How long records are kept. Reaching the review date puts a record on the review list;
//! nothing is ever deleted by itself, and a record under legal hold cannot be destroyed.

use jiff::{Span, civil::Date};

use crate::{RecordError, RecordType};

/// Years each kind of record is kept before it is reviewed (`[retention]` in the
/// configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRules {
    /// Child-protection records: years after the (first) pupil's date of birth, or after the
    /// incident, or the report, when no date of birth is known.
    pub child_protection_years_after_birth: u32,
    /// Allegations against staff: years after the report.
    pub staff_allegation_years: u32,
    /// Online-safety concerns: years after the report.
    pub online_safety_years: u32,
}

impl Default for RetentionRules {
    fn default() -> Self {
        RetentionRules {
            child_protection_years_after_birth: 25,
            staff_allegation_years: 10,
            online_safety_years: 6,
        }
    }
}

impl RetentionRules {
    /// The date a record of `record_type` falls due for review. `dob_of_first_pupil` is the
    /// date of birth of the first pupil involved, if known; `incident_on` the day it happened,
    /// if known; `reported_on` the day of the report. A child-protection record counts from
    /// the date of birth, else the incident, else the report (each later than the one
    /// before, so a missing date of birth keeps a record longer, never shorter). A 29 February
    /// lands on 28 February in years without one; a date past the calendar's end is its end.
    pub fn review_due(
        &self,
        record_type: RecordType,
        dob_of_first_pupil: Option<Date>,
        incident_on: Option<Date>,
        reported_on: Date,
    ) -> Date {
        let (from, years) = match record_type {
            RecordType::ChildProtection => (
                dob_of_first_pupil.or(incident_on).unwrap_or(reported_on),
                self.child_protection_years_after_birth,
            ),
            RecordType::StaffAllegation => (reported_on, self.staff_allegation_years),
            RecordType::OnlineSafety => (reported_on, self.online_safety_years),
        };
        Span::new()
            .try_years(i64::from(years))
            .ok()
            .and_then(|span| from.checked_add(span).ok())
            .unwrap_or(Date::MAX)
    }

    /// Whether a record of `record_type` is due for review on `today`.
    pub fn is_due(
        &self,
        record_type: RecordType,
        dob_of_first_pupil: Option<Date>,
        incident_on: Option<Date>,
        reported_on: Date,
        today: Date,
    ) -> bool {
        self.review_due(record_type, dob_of_first_pupil, incident_on, reported_on) <= today
    }
}

/// Checks that a record may be destroyed: not under legal hold, and with a reason for the
/// certificate of destruction.
pub fn check_destroy(legal_hold: bool, reason: &str) -> Result<(), RecordError> {
    if legal_hold {
        return Err(RecordError::UnderLegalHold);
    }
    if reason.trim().is_empty() {
        return Err(RecordError::DestructionReasonMissing);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn each_record_type_counts_from_the_right_date() {
        let rules = RetentionRules::default();
        let reported = date(2025, 3, 14);
        let dob = Some(date(2014, 6, 2));
        assert_eq!(
            rules.review_due(RecordType::ChildProtection, dob, None, reported),
            date(2039, 6, 2)
        );
        assert_eq!(
            rules.review_due(RecordType::ChildProtection, None, None, reported),
            date(2050, 3, 14)
        );
        assert_eq!(
            rules.review_due(RecordType::StaffAllegation, dob, None, reported),
            date(2035, 3, 14)
        );
        assert_eq!(
            rules.review_due(RecordType::OnlineSafety, dob, None, reported),
            date(2031, 3, 14)
        );
        assert_eq!(
            rules.review_due(
                RecordType::ChildProtection,
                None,
                Some(date(2024, 12, 1)),
                reported
            ),
            date(2049, 12, 1),
            "with no date of birth, from the incident"
        );
        assert!(rules.is_due(
            RecordType::OnlineSafety,
            None,
            None,
            reported,
            date(2031, 3, 14)
        ));
        assert!(!rules.is_due(
            RecordType::OnlineSafety,
            None,
            None,
            reported,
            date(2031, 3, 13)
        ));
    }

    #[test]
    fn leap_days_and_the_end_of_the_calendar_do_not_fail() {
        let rules = RetentionRules {
            online_safety_years: 1,
            ..RetentionRules::default()
        };
        assert_eq!(
            rules.review_due(RecordType::OnlineSafety, None, None, date(2024, 2, 29)),
            date(2025, 2, 28)
        );
        assert_eq!(
            rules.review_due(
                RecordType::ChildProtection,
                Some(date(2012, 2, 29)),
                None,
                date(2020, 1, 1)
            ),
            date(2037, 2, 28)
        );
        let forever = RetentionRules {
            online_safety_years: u32::MAX,
            ..RetentionRules::default()
        };
        assert_eq!(
            forever.review_due(RecordType::OnlineSafety, None, None, date(2025, 1, 1)),
            Date::MAX
        );
        assert_eq!(
            rules.review_due(RecordType::OnlineSafety, None, None, date(9999, 6, 1)),
            Date::MAX
        );
    }

    #[test]
    fn destroying_needs_no_hold_and_a_reason() {
        assert_eq!(
            check_destroy(true, "over"),
            Err(RecordError::UnderLegalHold)
        );
        assert_eq!(
            check_destroy(false, " "),
            Err(RecordError::DestructionReasonMissing)
        );
        assert_eq!(check_destroy(false, "Retention period over"), Ok(()));
    }
}
