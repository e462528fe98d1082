//! Counting school days, for deadlines such as a transfer's "within 5 school days".

use jiff::{Span, civil::Date, civil::Weekday};

/// How many days in a row may pass without a school day before the calendar is taken to be
/// wrong (no school day in over a year) and plain weekdays are counted instead.
const GIVE_UP_AFTER_DAYS: u32 = 400;

/// The `n`th school day after `from` (`from` itself never counts), asking `is_school_day`
/// (the school's calendar: weekdays outside holidays and closures). `n = 0` is `from`. If the
/// calendar has no school day for 400 days in a row, gives `from` plus `n` weekdays instead.
/// Dates past the calendar's end are its end.
pub fn add_school_days(from: Date, n: u32, is_school_day: impl Fn(Date) -> bool) -> Date {
    let mut day = from;
    let mut counted = 0;
    let mut days_without = 0;
    while counted < n {
        let Ok(next) = day.tomorrow() else {
            return Date::MAX;
        };
        day = next;
        if is_school_day(day) {
            counted += 1;
            days_without = 0;
        } else {
            days_without += 1;
            if days_without >= GIVE_UP_AFTER_DAYS {
                return add_weekdays(from, n);
            }
        }
    }
    day
}

/// `from` plus `n` weekdays (Monday to Friday), `from` itself not counting.
fn add_weekdays(from: Date, n: u32) -> Date {
    if n == 0 {
        return from;
    }
    // Whole weeks keep the weekday and pass exactly five weekdays each; the last one to five
    // are stepped through so that a start at the weekend still ends on a weekday.
    let weeks = Span::new()
        .try_weeks(i64::from((n - 1) / 5))
        .ok()
        .and_then(|span| from.checked_add(span).ok());
    let Some(mut day) = weeks else {
        return Date::MAX;
    };
    let mut left = (n - 1) % 5 + 1;
    while left > 0 {
        let Ok(next) = day.tomorrow() else {
            return Date::MAX;
        };
        day = next;
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn weekday(day: Date) -> bool {
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    #[test]
    fn skips_weekends_and_holidays() {
        // Friday 2025-10-17, half term 20-24 October.
        let half_term =
            |d: Date| weekday(d) && !(date(2025, 10, 20)..=date(2025, 10, 24)).contains(&d);
        assert_eq!(
            add_school_days(date(2025, 10, 17), 5, half_term),
            date(2025, 10, 31)
        );
        assert_eq!(
            add_school_days(date(2025, 10, 15), 5, weekday),
            date(2025, 10, 22)
        );
        assert_eq!(
            add_school_days(date(2025, 10, 18), 1, weekday),
            date(2025, 10, 20)
        );
        assert_eq!(
            add_school_days(date(2025, 10, 15), 0, |_| false),
            date(2025, 10, 15)
        );
    }

    #[test]
    fn a_calendar_without_school_days_falls_back_to_weekdays() {
        assert_eq!(
            add_school_days(date(2025, 10, 15), 5, |_| false),
            date(2025, 10, 22)
        );
        // From a Saturday, five weekdays end on the Friday, not the Saturday a week on.
        assert_eq!(
            add_school_days(date(2025, 10, 18), 5, |_| false),
            date(2025, 10, 24)
        );
        assert_eq!(add_school_days(date(9999, 12, 30), 5, weekday), Date::MAX);
    }

    proptest! {
        #[test]
        fn lands_on_the_nth_school_day(
            start in 0i64..20_000,
            n in 0u32..60,
            holidays in proptest::collection::btree_set(0i64..20_200, 0..80),
        ) {
            let base = date(1990, 1, 1);
            let from = base.checked_add(Span::new().days(start)).unwrap();
            let holiday_dates: std::collections::BTreeSet<Date> = holidays
                .iter()
                .map(|&d| base.checked_add(Span::new().days(d)).unwrap())
                .collect();
            let calendar = |d: Date| weekday(d) && !holiday_dates.contains(&d);
            let due = add_school_days(from, n, calendar);
            let mut school_days_between = 0;
            let mut day = from;
            while day < due {
                day = day.tomorrow().unwrap();
                if calendar(day) {
                    school_days_between += 1;
                }
            }
            prop_assert_eq!(school_days_between, n);
            prop_assert!(n == 0 && due == from || calendar(due));
        }

        #[test]
        fn weekday_fallback_agrees_with_a_weekday_calendar(start in 0i64..20_000, n in 0u32..300) {
            let from = date(1990, 1, 1).checked_add(Span::new().days(start)).unwrap();
            prop_assert_eq!(add_weekdays(from, n), add_school_days(from, n, weekday));
        }
    }
}
