//! When an acceptance expires (the school's yearly renewal date) and how someone's acceptance
//! stands on a given day.

use jiff::civil::Date;

/// The school's yearly renewal date and how long before it an acceptance shows as expiring
/// soon. An acceptance made on date A expires on the first renewal date R with R > A + window,
/// so someone who accepts in the weeks just before renewal is covered for the coming year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewal {
    pub month: i8,
    pub day: i8,
    pub expiring_soon_days: i32,
}

/// The longest "expiring soon" window a school may set, in days.
const LONGEST_WINDOW_DAYS: i32 = 120;

/// Why a renewal setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenewalError {
    #[error("the renewal month must be from 1 (January) to 12 (December), not {0}")]
    Month(i8),
    #[error("{month_name} has no day {day}: choose a day from 1 to {last_day}")]
    Day {
        month_name: &'static str,
        day: i8,
        last_day: i8,
    },
    #[error("the \"expiring soon\" window must be from 0 to {LONGEST_WINDOW_DAYS} days, not {0}")]
    Window(i32),
}

/// The months by name, January first, as the renewal date is shown and chosen.
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Renewal {
    /// 1 September, the start of the school year, with 30 days' warning.
    pub const DEFAULT: Renewal = Renewal {
        month: 9,
        day: 1,
        expiring_soon_days: 30,
    };

    /// A renewal date and window, checked. 29 February is allowed and means 28 February in
    /// years without it.
    pub fn new(month: i8, day: i8, expiring_soon_days: i32) -> Result<Renewal, RenewalError> {
        let month_name = usize::try_from(month)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .and_then(|index| MONTH_NAMES.get(index))
            .ok_or(RenewalError::Month(month))?;
        let last_day = match month {
            2 => 29,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if !(1..=last_day).contains(&day) {
            return Err(RenewalError::Day {
                month_name,
                day,
                last_day,
            });
        }
        if !(0..=LONGEST_WINDOW_DAYS).contains(&expiring_soon_days) {
            return Err(RenewalError::Window(expiring_soon_days));
        }
        Ok(Renewal {
            month,
            day,
            expiring_soon_days,
        })
    }

    /// The day an acceptance made on `accepted_on` stops counting: the first renewal date
    /// after `accepted_on` plus the window. Near the end of the calendar (year 9999) it is
    /// the last date there is.
    pub fn expires_on(&self, accepted_on: Date) -> Date {
        let threshold = accepted_on
            .checked_add(jiff::Span::new().days(i64::from(self.window())))
            .unwrap_or(Date::MAX);
        match self.in_year(threshold.year()) {
            Some(renewal) if renewal > threshold => renewal,
            _ => threshold
                .year()
                .checked_add(1)
                .and_then(|next_year| self.in_year(next_year))
                .unwrap_or(Date::MAX),
        }
    }

    /// How an acceptance made on `accepted_on` (if any) stands on `today`.
    /// `of_current_version` says whether it was of the agreement's current version.
    pub fn standing(
        &self,
        accepted_on: Option<Date>,
        of_current_version: bool,
        today: Date,
    ) -> Standing {
        let Some(accepted_on) = accepted_on else {
            return Standing::NotAccepted;
        };
        if !of_current_version {
            return Standing::OldVersion;
        }
        let expires_on = self.expires_on(accepted_on);
        if today >= expires_on {
            return Standing::Expired {
                expired_on: expires_on,
            };
        }
        let warning_from = expires_on
            .checked_sub(jiff::Span::new().days(i64::from(self.window())))
            .unwrap_or(Date::MIN);
        if today >= warning_from && self.window() > 0 {
            Standing::ExpiringSoon { expires_on }
        } else {
            Standing::Current { expires_on }
        }
    }

    /// The window as used in arithmetic: a value built without `new` is kept in range rather
    /// than trusted.
    fn window(&self) -> i32 {
        self.expiring_soon_days.clamp(0, LONGEST_WINDOW_DAYS)
    }

    /// This renewal date in `year`; 29 February falls on 28 February in other years. `None`
    /// only for a year outside the calendar or a date that `new` would have refused.
    fn in_year(&self, year: i16) -> Option<Date> {
        let leap_day_in_other_year = self.month == 2 && self.day == 29;
        Date::new(year, self.month, self.day)
            .ok()
            .or_else(|| leap_day_in_other_year.then(|| Date::new(year, 2, 28).ok())?)
    }
}

impl Default for Renewal {
    fn default() -> Renewal {
        Renewal::DEFAULT
    }
}

/// How someone's acceptance of their audience's agreement stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No acceptance at all.
    NotAccepted,
    /// Their latest acceptance is of an earlier version than the current one.
    OldVersion,
    Expired {
        expired_on: Date,
    },
    /// Still counts, but expires within the school's window: time for a reminder.
    ExpiringSoon {
        expires_on: Date,
    },
    Current {
        expires_on: Date,
    },
}

impl Standing {
    /// The key used in report filters and CSV exports.
    pub fn key(&self) -> &'static str {
        match self {
            Standing::NotAccepted => "not-accepted",
            Standing::OldVersion => "old-version",
            Standing::Expired { .. } => "expired",
            Standing::ExpiringSoon { .. } => "expiring-soon",
            Standing::Current { .. } => "current",
        }
    }

    /// A short sentence for reports and the portal, with the date where there is one.
    pub fn label(&self) -> String {
        match self {
            Standing::NotAccepted => "Not accepted".to_string(),
            Standing::OldVersion => "Accepted an earlier version".to_string(),
            Standing::Expired { expired_on } => format!("Expired on {}", uk_date(*expired_on)),
            Standing::ExpiringSoon { expires_on } => {
                format!("Expires soon, on {}", uk_date(*expires_on))
            }
            Standing::Current { expires_on } => format!("Current until {}", uk_date(*expires_on)),
        }
    }

    /// Whether this standing lets someone through the gateway.
    pub fn lets_in(&self) -> bool {
        matches!(
            self,
            Standing::Current { .. } | Standing::ExpiringSoon { .. }
        )
    }
}

/// A date as people in UK schools write it: "1 September 2026".
pub fn uk_date(date: Date) -> String {
    date.strftime("%-d %B %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn new_accepts_real_dates_and_leap_day() {
        assert_eq!(Renewal::new(9, 1, 30), Ok(Renewal::DEFAULT));
        assert!(Renewal::new(2, 29, 0).is_ok());
        assert!(Renewal::new(12, 31, 120).is_ok());
        assert!(Renewal::new(1, 1, 0).is_ok());
        assert_eq!(Renewal::default(), Renewal::DEFAULT);
    }

    #[test]
    fn new_refuses_impossible_settings_and_says_what_to_choose() {
        assert_eq!(Renewal::new(0, 1, 30), Err(RenewalError::Month(0)));
        assert_eq!(Renewal::new(13, 1, 30), Err(RenewalError::Month(13)));
        assert_eq!(Renewal::new(-1, 1, 30), Err(RenewalError::Month(-1)));
        assert!(matches!(
            Renewal::new(2, 30, 30),
            Err(RenewalError::Day { .. })
        ));
        assert!(matches!(
            Renewal::new(4, 31, 30),
            Err(RenewalError::Day { .. })
        ));
        assert!(matches!(
            Renewal::new(9, 0, 30),
            Err(RenewalError::Day { .. })
        ));
        assert_eq!(Renewal::new(9, 1, -1), Err(RenewalError::Window(-1)));
        assert_eq!(Renewal::new(9, 1, 121), Err(RenewalError::Window(121)));
        let message = Renewal::new(4, 31, 30).unwrap_err().to_string();
        assert_eq!(message, "April has no day 31: choose a day from 1 to 30");
    }

    #[test]
    fn an_acceptance_lasts_until_the_next_renewal_date() {
        let renewal = Renewal::DEFAULT;
        assert_eq!(renewal.expires_on(date(2025, 3, 10)), date(2025, 9, 1));
        assert_eq!(renewal.expires_on(date(2025, 9, 1)), date(2026, 9, 1));
        assert_eq!(renewal.expires_on(date(2025, 12, 15)), date(2026, 9, 1));
    }

    #[test]
    fn accepting_within_the_window_counts_for_the_coming_year() {
        let renewal = Renewal::DEFAULT;
        // 1 August + 30 days is 31 August, before the renewal date: this year's.
        assert_eq!(renewal.expires_on(date(2025, 8, 1)), date(2025, 9, 1));
        // 2 August + 30 days is 1 September itself, which is not after it: next year's.
        assert_eq!(renewal.expires_on(date(2025, 8, 2)), date(2026, 9, 1));
        assert_eq!(renewal.expires_on(date(2025, 8, 20)), date(2026, 9, 1));
        let no_window = Renewal::new(9, 1, 0).unwrap();
        assert_eq!(no_window.expires_on(date(2025, 8, 31)), date(2025, 9, 1));
    }

    #[test]
    fn a_renewal_early_in_the_year_crosses_new_year() {
        let renewal = Renewal::new(1, 1, 30).unwrap();
        assert_eq!(renewal.expires_on(date(2025, 11, 15)), date(2026, 1, 1));
        assert_eq!(renewal.expires_on(date(2025, 12, 10)), date(2027, 1, 1));
    }

    #[test]
    fn leap_day_renewal_falls_on_28_february_in_other_years() {
        let renewal = Renewal::new(2, 29, 0).unwrap();
        assert_eq!(renewal.expires_on(date(2025, 1, 10)), date(2025, 2, 28));
        assert_eq!(renewal.expires_on(date(2027, 3, 1)), date(2028, 2, 29));
        assert_eq!(renewal.expires_on(date(2024, 2, 29)), date(2025, 2, 28));
    }

    #[test]
    fn the_end_of_the_calendar_does_not_panic() {
        let renewal = Renewal::DEFAULT;
        assert_eq!(renewal.expires_on(date(9999, 12, 20)), Date::MAX);
        assert_eq!(renewal.expires_on(Date::MAX), Date::MAX);
        assert_eq!(
            renewal.standing(Some(Date::MIN), true, Date::MIN),
            Standing::Current {
                expires_on: Renewal::DEFAULT.expires_on(Date::MIN)
            }
        );
    }

    #[test]
    fn a_settings_value_built_by_hand_is_kept_in_range() {
        let wild = Renewal {
            month: 9,
            day: 1,
            expiring_soon_days: i32::MAX,
        };
        let clamped = Renewal::new(9, 1, 120).unwrap();
        assert_eq!(
            wild.expires_on(date(2025, 6, 1)),
            clamped.expires_on(date(2025, 6, 1))
        );
        let impossible = Renewal {
            month: 2,
            day: 31,
            expiring_soon_days: 0,
        };
        assert_eq!(impossible.expires_on(date(2025, 1, 1)), Date::MAX);
    }

    #[test]
    fn standing_through_the_year() {
        let renewal = Renewal::DEFAULT;
        let accepted = Some(date(2025, 3, 10));
        let expires_on = date(2025, 9, 1);
        assert_eq!(
            renewal.standing(None, true, date(2025, 6, 1)),
            Standing::NotAccepted
        );
        assert_eq!(
            renewal.standing(accepted, false, date(2025, 6, 1)),
            Standing::OldVersion
        );
        assert_eq!(
            renewal.standing(accepted, true, date(2025, 6, 1)),
            Standing::Current { expires_on }
        );
        assert_eq!(
            renewal.standing(accepted, true, date(2025, 8, 1)),
            Standing::Current { expires_on }
        );
        assert_eq!(
            renewal.standing(accepted, true, date(2025, 8, 2)),
            Standing::ExpiringSoon { expires_on }
        );
        assert_eq!(
            renewal.standing(accepted, true, date(2025, 8, 31)),
            Standing::ExpiringSoon { expires_on }
        );
        assert_eq!(
            renewal.standing(accepted, true, date(2025, 9, 1)),
            Standing::Expired {
                expired_on: expires_on
            }
        );
        let no_window = Renewal::new(9, 1, 0).unwrap();
        assert_eq!(
            no_window.standing(accepted, true, date(2025, 8, 31)),
            Standing::Current { expires_on }
        );
    }

    #[test]
    fn standing_keys_labels_and_who_gets_in() {
        let on = date(2026, 9, 1);
        let cases = [
            (Standing::NotAccepted, "not-accepted", "Not accepted", false),
            (
                Standing::OldVersion,
                "old-version",
                "Accepted an earlier version",
                false,
            ),
            (
                Standing::Expired { expired_on: on },
                "expired",
                "Expired on 1 September 2026",
                false,
            ),
            (
                Standing::ExpiringSoon { expires_on: on },
                "expiring-soon",
                "Expires soon, on 1 September 2026",
                true,
            ),
            (
                Standing::Current { expires_on: on },
                "current",
                "Current until 1 September 2026",
                true,
            ),
        ];
        for (standing, key, label, lets_in) in cases {
            assert_eq!(standing.key(), key);
            assert_eq!(standing.label(), label);
            assert_eq!(standing.lets_in(), lets_in, "{key}");
        }
    }
}
