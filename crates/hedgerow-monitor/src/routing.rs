//! Routing: whether an alert goes out at once or waits for the daily or weekly digest, and
//! whether it arrived out of school hours (so the escalation list hears too).

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;

/// Europe/London, where every English school keeps its hours.
///
/// The bundled time zone database always has it; should it ever be missing, the same rules
/// written as a POSIX TZ string (GMT, BST from the last Sunday of March at 01:00 to the last
/// Sunday of October at 02:00 local) stand in, so times are never silently shown in UTC.
pub fn london() -> TimeZone {
    TimeZone::get("Europe/London")
        .or_else(|_| TimeZone::posix("GMT0BST,M3.5.0/1,M10.5.0"))
        .unwrap_or(TimeZone::UTC)
}

/// The days and times someone is in school to act on an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct SchoolHours {
    pub days: Vec<Weekday>,
    /// When the school day starts, inclusive.
    pub start: Time,
    /// When the school day ends, exclusive.
    pub end: Time,
    pub zone: TimeZone,
}

impl Default for SchoolHours {
    /// Monday to Friday, 08:00 to 17:30, Europe/London.
    fn default() -> Self {
        SchoolHours {
            days: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            start: Time::constant(8, 0, 0, 0),
            end: Time::constant(17, 30, 0, 0),
            zone: london(),
        }
    }
}

impl SchoolHours {
    /// Whether `at` falls within school hours, judged on the local clock.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.zone.clone());
        let time = local.time();
        self.days.contains(&local.weekday()) && self.start <= time && time < self.end
    }
}

/// How an alert is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// At once, by email and webhook.
    Immediate,
    DailyDigest,
    WeeklyDigest,
}

/// Where one alert goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub delivery: Delivery,
    /// Immediate and outside school hours: the out-of-hours escalation list hears as well.
    pub out_of_hours: bool,
}

/// How a school routes alerts by severity (1 advisory to 5 imminent risk) and category.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingPolicy {
    /// This severity and above go out at once.
    pub immediate_min_severity: u8,
    /// These categories go out at once whatever the severity.
    pub immediate_categories: Vec<String>,
    /// Below immediate, this severity and above go in the daily digest; lower, the weekly.
    pub daily_min_severity: u8,
    pub school_hours: SchoolHours,
}

impl Default for RoutingPolicy {
    /// Severity 4 and 5 at once, suicide and self-harm at once whatever the severity, 2 and 3
    /// daily, 1 weekly; school hours as [`SchoolHours::default`].
    fn default() -> Self {
        RoutingPolicy {
            immediate_min_severity: 4,
            immediate_categories: vec!["suicide_self_harm".to_string()],
            daily_min_severity: 2,
            school_hours: SchoolHours::default(),
        }
    }
}

impl RoutingPolicy {
    /// Routes an alert in `category` of `severity` raised at `at`.
    pub fn route(&self, category: &str, severity: u8, at: Timestamp) -> Route {
        let immediate = severity >= self.immediate_min_severity
            || self.immediate_categories.iter().any(|c| c == category);
        let delivery = if immediate {
            Delivery::Immediate
        } else if severity >= self.daily_min_severity {
            Delivery::DailyDigest
        } else {
            Delivery::WeeklyDigest
        };
        Route {
            delivery,
            out_of_hours: immediate && !self.school_hours.contains(at),
        }
    }
}

/// Whether a repeat folded into an existing alert should be sent again: only if it has become
/// immediate or risen in severity. Anything else would only repeat what the DSL already has.
pub fn renotify(
    previous_severity: u8,
    new_severity: u8,
    route_before: &Route,
    route_now: &Route,
) -> bool {
    let became_immediate =
        route_now.delivery == Delivery::Immediate && route_before.delivery != Delivery::Immediate;
    became_immediate || new_severity > previous_severity
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn london_time(y: i16, m: i8, d: i8, h: i8, min: i8) -> Timestamp {
        date(y, m, d)
            .at(h, min, 0, 0)
            .to_zoned_datetime(london())
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn london_is_the_real_zone() {
        assert_eq!(london().iana_name(), Some("Europe/London"));
    }

    #[test]
    fn severity_decides_the_delivery() {
        let policy = RoutingPolicy::default();
        // Monday 7 December 2026, 10:42: in school hours.
        let at = london_time(2026, 12, 7, 10, 42);
        let delivery = |severity| policy.route("drugs", severity, at).delivery;
        assert_eq!(delivery(5), Delivery::Immediate);
        assert_eq!(delivery(4), Delivery::Immediate);
        assert_eq!(delivery(3), Delivery::DailyDigest);
        assert_eq!(delivery(2), Delivery::DailyDigest);
        assert_eq!(delivery(1), Delivery::WeeklyDigest);
        assert_eq!(delivery(0), Delivery::WeeklyDigest);
    }

    #[test]
    fn suicide_and_self_harm_go_at_once_whatever_the_severity() {
        let policy = RoutingPolicy::default();
        let at = london_time(2026, 12, 7, 10, 42);
        for severity in 1..=5 {
            let route = policy.route("suicide_self_harm", severity, at);
            assert_eq!(route.delivery, Delivery::Immediate, "{severity}");
            assert!(!route.out_of_hours);
        }
    }

    #[test]
    fn immediate_alerts_outside_school_hours_are_escalated() {
        let policy = RoutingPolicy::default();
        let cases = [
            (london_time(2026, 12, 7, 7, 59), true), // Monday before school
            (london_time(2026, 12, 7, 8, 0), false), // the bell
            (london_time(2026, 12, 7, 17, 29), false),
            (london_time(2026, 12, 7, 17, 30), true), // end is exclusive
            (london_time(2026, 12, 12, 11, 0), true), // Saturday
            (london_time(2026, 7, 1, 8, 30), false),  // summer time: 08:30 BST is 07:30 UTC
        ];
        for (at, expected) in cases {
            assert_eq!(
                policy.route("weapons_violence", 5, at).out_of_hours,
                expected,
                "{at}"
            );
        }
        // A digest item is never escalated, whenever it arrives.
        let saturday = london_time(2026, 12, 12, 11, 0);
        assert!(!policy.route("gambling", 2, saturday).out_of_hours);
    }

    #[test]
    fn a_school_can_set_its_own_hours() {
        let mut policy = RoutingPolicy::default();
        policy.school_hours.days = vec![Weekday::Saturday];
        policy.school_hours.start = Time::constant(9, 0, 0, 0);
        policy.school_hours.end = Time::constant(12, 0, 0, 0);
        assert!(
            !policy
                .route("drugs", 5, london_time(2026, 12, 12, 11, 0))
                .out_of_hours
        );
        assert!(
            policy
                .route("drugs", 5, london_time(2026, 12, 7, 11, 0))
                .out_of_hours
        );
    }

    #[test]
    fn repeats_are_sent_again_only_when_they_matter_more() {
        let daily = Route {
            delivery: Delivery::DailyDigest,
            out_of_hours: false,
        };
        let now = Route {
            delivery: Delivery::Immediate,
            out_of_hours: false,
        };
        assert!(renotify(3, 3, &daily, &now), "became immediate");
        assert!(renotify(4, 5, &now, &now), "rose in severity");
        assert!(!renotify(5, 5, &now, &now), "same again");
        assert!(!renotify(3, 2, &daily, &daily), "fell");
        assert!(!renotify(2, 2, &daily, &daily));
    }
}
