//! When the daily and weekly digests fall due, and what each covers, on the school's local
//! clock, so "07:30" stays 07:30 across the March and October clock changes.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::routing::london;

/// Which digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestKind {
    Daily,
    Weekly,
}

/// When digests are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestSchedule {
    pub daily_at: Time,
    pub weekly_on: Weekday,
    pub weekly_at: Time,
    pub zone: TimeZone,
}

impl Default for DigestSchedule {
    /// Daily at 07:30, weekly on Monday at 07:30, Europe/London: before the school day starts.
    fn default() -> Self {
        DigestSchedule {
            daily_at: Time::constant(7, 30, 0, 0),
            weekly_on: Weekday::Monday,
            weekly_at: Time::constant(7, 30, 0, 0),
            zone: london(),
        }
    }
}

impl DigestSchedule {
    /// The first time the digest is due strictly after `after`.
    ///
    /// A time that the spring change skips is sent at the same distance after the change (as
    /// clocks jump from 01:00 to 02:00, 01:30 becomes 02:30); a time that the autumn change
    /// repeats is sent the first time round. At the very end of the representable range,
    /// where no later time exists, it gives [`Timestamp::MAX`].
    pub fn next_due(&self, kind: DigestKind, after: Timestamp) -> Timestamp {
        let mut day = self.occurrence_on_or_before(kind, after);
        for _ in 0..3 {
            let Some(next) = day.and_then(|d| self.step(kind, d, 1)) else {
                return Timestamp::MAX;
            };
            if let Some(due) = self.due_on(kind, next).filter(|due| *due > after) {
                return due;
            }
            day = Some(next);
        }
        Timestamp::MAX
    }

    /// The half-open span `[start, end)` a digest sent at `due` covers: from the scheduled
    /// time before to the scheduled time at or before `due`. A digest sent late still covers
    /// up to its scheduled time, so consecutive digests neither overlap nor leave gaps.
    pub fn period(&self, kind: DigestKind, due: Timestamp) -> (Timestamp, Timestamp) {
        let end_day = self.occurrence_on_or_before(kind, due);
        let end = end_day
            .and_then(|d| self.due_on(kind, d))
            .unwrap_or(Timestamp::MIN);
        let start = end_day
            .and_then(|d| self.step(kind, d, -1))
            .and_then(|d| self.due_on(kind, d))
            .unwrap_or(Timestamp::MIN);
        (start, end)
    }

    /// The local date of the last scheduled send at or before `at`.
    fn occurrence_on_or_before(&self, kind: DigestKind, at: Timestamp) -> Option<Date> {
        let today = at.to_zoned_datetime(self.zone.clone()).date();
        let mut day = match kind {
            DigestKind::Daily => today,
            DigestKind::Weekly => {
                let back = (today.weekday().to_monday_zero_offset()
                    - self.weekly_on.to_monday_zero_offset())
                .rem_euclid(7);
                today.checked_sub(i64::from(back).days()).ok()?
            }
        };
        // At most twice: the day's send may still be ahead of `at`.
        for _ in 0..2 {
            if self.due_on(kind, day).is_some_and(|due| due <= at) {
                return Some(day);
            }
            day = self.step(kind, day, -1)?;
        }
        Some(day)
    }

    /// The day `steps` sends away from `day`.
    fn step(&self, kind: DigestKind, day: Date, steps: i64) -> Option<Date> {
        let days = match kind {
            DigestKind::Daily => steps,
            DigestKind::Weekly => steps * 7,
        };
        day.checked_add(days.days()).ok()
    }

    /// When the digest is sent on local date `day`.
    fn due_on(&self, kind: DigestKind, day: Date) -> Option<Timestamp> {
        let time = match kind {
            DigestKind::Daily => self.daily_at,
            DigestKind::Weekly => self.weekly_at,
        };
        self.zone
            .to_ambiguous_timestamp(day.to_datetime(time))
            .compatible()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn utc(text: &str) -> Timestamp {
        text.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn daily_digest_is_at_half_past_seven_local_time() {
        let schedule = DigestSchedule::default();
        // Winter: 07:30 GMT is 07:30 UTC.
        assert_eq!(
            schedule.next_due(DigestKind::Daily, utc("2026-12-07T06:00:00Z")),
            utc("2026-12-07T07:30:00Z")
        );
        // Exactly at the time: the next one is tomorrow.
        assert_eq!(
            schedule.next_due(DigestKind::Daily, utc("2026-12-07T07:30:00Z")),
            utc("2026-12-08T07:30:00Z")
        );
        // Summer: 07:30 BST is 06:30 UTC.
        assert_eq!(
            schedule.next_due(DigestKind::Daily, utc("2026-07-01T12:00:00Z")),
            utc("2026-07-02T06:30:00Z")
        );
    }

    #[test]
    fn daily_digest_across_the_march_and_october_changes() {
        let schedule = DigestSchedule::default();
        // Clocks go forward at 01:00 GMT on Sunday 29 March 2026.
        let saturday = schedule.next_due(DigestKind::Daily, utc("2026-03-28T08:00:00Z"));
        assert_eq!(saturday, utc("2026-03-29T06:30:00Z"));
        assert_eq!(
            schedule.period(DigestKind::Daily, saturday),
            (utc("2026-03-28T07:30:00Z"), utc("2026-03-29T06:30:00Z"))
        );
        // That day is 23 hours long.
        let (start, end) = schedule.period(DigestKind::Daily, saturday);
        assert_eq!(end.duration_since(start), SignedDuration::from_hours(23));

        // Clocks go back at 01:00 UTC on Sunday 25 October 2026.
        let sunday = schedule.next_due(DigestKind::Daily, utc("2026-10-24T12:00:00Z"));
        assert_eq!(sunday, utc("2026-10-25T07:30:00Z"));
        let (start, end) = schedule.period(DigestKind::Daily, sunday);
        assert_eq!(start, utc("2026-10-24T06:30:00Z"));
        assert_eq!(end.duration_since(start), SignedDuration::from_hours(25));
    }

    #[test]
    fn a_time_the_clock_change_skips_or_repeats_is_sent_once() {
        let schedule = DigestSchedule {
            daily_at: Time::constant(1, 30, 0, 0),
            ..DigestSchedule::default()
        };
        // 01:30 does not exist on 29 March 2026: sent at 02:30 BST (01:30 UTC).
        assert_eq!(
            schedule.next_due(DigestKind::Daily, utc("2026-03-28T12:00:00Z")),
            utc("2026-03-29T01:30:00Z")
        );
        // 01:30 happens twice on 25 October 2026: sent the first time (BST, 00:30 UTC), and
        // the next send is the following night, not the repeat an hour later.
        let first = schedule.next_due(DigestKind::Daily, utc("2026-10-24T12:00:00Z"));
        assert_eq!(first, utc("2026-10-25T00:30:00Z"));
        assert_eq!(
            schedule.next_due(DigestKind::Daily, first),
            utc("2026-10-26T01:30:00Z")
        );
    }

    #[test]
    fn weekly_digest_is_on_monday_morning() {
        let schedule = DigestSchedule::default();
        // Wednesday 9 December 2026 -> Monday 14 December.
        let due = schedule.next_due(DigestKind::Weekly, utc("2026-12-09T10:00:00Z"));
        assert_eq!(due, utc("2026-12-14T07:30:00Z"));
        assert_eq!(due.to_zoned_datetime(london()).weekday(), Weekday::Monday);
        assert_eq!(
            schedule.period(DigestKind::Weekly, due),
            (utc("2026-12-07T07:30:00Z"), due)
        );
        // Monday before the send, and just after.
        assert_eq!(
            schedule.next_due(DigestKind::Weekly, utc("2026-12-14T07:00:00Z")),
            due
        );
        assert_eq!(
            schedule.next_due(DigestKind::Weekly, due),
            utc("2026-12-21T07:30:00Z")
        );
    }

    #[test]
    fn weekly_digest_across_the_clock_changes() {
        let schedule = DigestSchedule::default();
        // The week containing Sunday 29 March 2026: Monday 30 March 07:30 BST.
        let due = schedule.next_due(DigestKind::Weekly, utc("2026-03-24T12:00:00Z"));
        assert_eq!(due, utc("2026-03-30T06:30:00Z"));
        let (start, end) = schedule.period(DigestKind::Weekly, due);
        assert_eq!(start, utc("2026-03-23T07:30:00Z"));
        assert_eq!(
            end.duration_since(start),
            SignedDuration::from_hours(7 * 24 - 1)
        );
        // And the week containing Sunday 25 October 2026.
        let due = schedule.next_due(DigestKind::Weekly, utc("2026-10-20T12:00:00Z"));
        assert_eq!(due, utc("2026-10-26T07:30:00Z"));
        let (start, end) = schedule.period(DigestKind::Weekly, due);
        assert_eq!(
            end.duration_since(start),
            SignedDuration::from_hours(7 * 24 + 1)
        );
    }

    #[test]
    fn a_late_digest_covers_up_to_its_scheduled_time() {
        let schedule = DigestSchedule::default();
        let late = utc("2026-12-07T07:45:00Z");
        assert_eq!(
            schedule.period(DigestKind::Daily, late),
            (utc("2026-12-06T07:30:00Z"), utc("2026-12-07T07:30:00Z"))
        );
    }

    #[test]
    fn consecutive_periods_meet_exactly() {
        let schedule = DigestSchedule::default();
        for kind in [DigestKind::Daily, DigestKind::Weekly] {
            let mut due = schedule.next_due(kind, utc("2026-01-01T00:00:00Z"));
            for _ in 0..60 {
                let next = schedule.next_due(kind, due);
                assert!(next > due);
                assert_eq!(schedule.period(kind, next).0, schedule.period(kind, due).1);
                due = next;
            }
        }
    }

    #[test]
    fn the_end_of_time_does_not_panic() {
        let schedule = DigestSchedule::default();
        assert_eq!(
            schedule.next_due(DigestKind::Weekly, Timestamp::MAX),
            Timestamp::MAX
        );
        let _ = schedule.period(DigestKind::Daily, Timestamp::MIN);
        let _ = schedule.next_due(DigestKind::Daily, Timestamp::MIN);
    }
}
