//! School days and named schedules, evaluated on the school's local date and time.
//!
//! Instants are turned into local civil time once per decision, and schedules compare civil
//! times, so "12:00 to 13:00" means noon on the school's clocks in both GMT and BST.

use jiff::civil::{DateTime, Weekday};

use crate::spec::{Closure, ScheduleSpec, Term};

/// Terms and closures, sorted for quick tests of "is this a school day?". Schedules use it,
/// and so does the admin app for deadlines counted in school days.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    terms: Vec<Term>,
    closures: Vec<Closure>,
}

impl Calendar {
    pub fn new(terms: &[Term], closures: &[Closure]) -> Self {
        let mut terms = terms.to_vec();
        terms.sort_by_key(|t| t.start);
        let mut closures = closures.to_vec();
        closures.sort_by_key(|c| c.start);
        Calendar { terms, closures }
    }

    /// Monday to Friday, inside a term, and not a closure. With no terms listed there are no
    /// school days, so a forgotten term list restricts rather than opens up.
    pub fn is_school_day(&self, date: jiff::civil::Date) -> bool {
        let weekday_ok = !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday);
        weekday_ok
            && self.terms.iter().any(|t| t.start <= date && date <= t.end)
            && !self
                .closures
                .iter()
                .any(|c| c.start <= date && date <= c.end)
    }
}

/// Whether a schedule is running at a local date and time.
pub(crate) fn schedule_active(
    schedule: &ScheduleSpec,
    calendar: &Calendar,
    local: DateTime,
) -> bool {
    let date = local.date();
    (schedule.weekdays.is_empty() || schedule.weekdays.contains(&date.weekday()))
        && (!schedule.school_days || calendar.is_school_day(date))
        && (schedule.times.is_empty() || schedule.times.iter().any(|r| r.contains(local.time())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::TimeRange;
    use jiff::civil::{Time, date, time};

    fn calendar() -> Calendar {
        Calendar::new(
            &[
                Term {
                    name: "Spring".into(),
                    start: date(2026, 1, 5),
                    end: date(2026, 3, 27),
                },
                Term {
                    name: "Summer".into(),
                    start: date(2026, 4, 13),
                    end: date(2026, 7, 22),
                },
            ],
            &[Closure {
                start: date(2026, 5, 4),
                end: date(2026, 5, 4),
                reason: "Early May bank holiday".into(),
            }],
        )
    }

    #[test]
    fn school_days_need_a_weekday_in_term_and_no_closure() {
        let cal = calendar();
        assert!(cal.is_school_day(date(2026, 3, 27)));
        assert!(!cal.is_school_day(date(2026, 3, 28)), "Saturday");
        assert!(!cal.is_school_day(date(2026, 3, 30)), "Easter holidays");
        assert!(cal.is_school_day(date(2026, 4, 13)));
        assert!(!cal.is_school_day(date(2026, 5, 4)), "bank holiday");
        assert!(cal.is_school_day(date(2026, 5, 5)));
        assert!(
            !Calendar::default().is_school_day(date(2026, 5, 5)),
            "no terms, no school days"
        );
    }

    #[test]
    fn schedules_combine_days_school_days_and_times() {
        let cal = calendar();
        let lunch = ScheduleSpec {
            key: "lunch".into(),
            weekdays: vec![],
            school_days: true,
            times: vec![TimeRange {
                start: time(12, 0, 0, 0),
                end: time(13, 0, 0, 0),
            }],
        };
        assert!(schedule_active(
            &lunch,
            &cal,
            date(2026, 5, 5).at(12, 0, 0, 0)
        ));
        assert!(schedule_active(
            &lunch,
            &cal,
            date(2026, 5, 5).at(12, 59, 59, 0)
        ));
        assert!(!schedule_active(
            &lunch,
            &cal,
            date(2026, 5, 5).at(13, 0, 0, 0)
        ));
        assert!(!schedule_active(
            &lunch,
            &cal,
            date(2026, 5, 4).at(12, 30, 0, 0)
        ));
        let weekends = ScheduleSpec {
            key: "weekends".into(),
            weekdays: vec![Weekday::Saturday, Weekday::Sunday],
            school_days: false,
            times: vec![TimeRange {
                start: time(18, 0, 0, 0),
                end: Time::MAX,
            }],
        };
        assert!(schedule_active(
            &weekends,
            &cal,
            date(2026, 5, 2).at(23, 59, 59, 999_999_999)
        ));
        assert!(!schedule_active(
            &weekends,
            &cal,
            date(2026, 5, 2).at(17, 59, 0, 0)
        ));
        assert!(!schedule_active(
            &weekends,
            &cal,
            date(2026, 5, 5).at(19, 0, 0, 0)
        ));
    }
}
