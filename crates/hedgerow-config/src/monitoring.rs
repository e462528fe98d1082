//! The `[monitoring]` table and each school's `[school.monitoring]` table: who hears about
//! safeguarding alerts, how fast, and how they are worked out.
//!
//! Everything has a default a primary school can run with, so a file without the tables still
//! monitors: alerts are raised and kept for the admin app's triage queue, but nobody is emailed
//! until a school names its DSL. Recipient lists are per school because in a trust each school
//! has its own designated safeguarding lead; the mail server is shared.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::civil::{Time, Weekday};
use serde::Deserialize;

use crate::error::Report;
use crate::raw::Sp;

/// The names of the ten risk categories alerts are raised in (the classifier's vocabulary).
pub const RISK_CATEGORIES: [&str; 10] = [
    "suicide_self_harm",
    "eating_disorder",
    "radicalisation",
    "hate",
    "bullying",
    "grooming_sexual_exploitation",
    "pornography",
    "drugs",
    "weapons_violence",
    "gambling",
];

/// The age bands a policy group can be matched against (the classifier's profiles).
pub const AGE_BANDS: [&str; 5] = ["early_years", "primary", "secondary", "sixth_form", "adult"];

/// How much an alert email or webhook says. The admin app always shows everything to those
/// allowed to see it; email and chat are less safe places for a child's name and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoticeDetail {
    /// Alert number, category, severity, time, group and a link: no name, no search text.
    #[default]
    Minimal,
    /// Also the person's name and the text that matched.
    Full,
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a relay on this machine (loopback).
    None,
    /// SMTP upgraded with STARTTLS (usually port 587).
    StartTls,
    /// SMTP inside TLS from the first byte (usually port 465).
    Tls,
}

/// The `[monitoring.smtp]` table: the mail server alerts and digests go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    /// A file holding the password (kept out of the configuration, which many people read).
    pub password_file: Option<PathBuf>,
    /// The sender address, e.g. `hedgerow@school.example`.
    pub from: String,
}

/// The `[monitoring]` table, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoringSettings {
    /// Monitoring can be switched off only as a whole (for a filtering-only trial).
    pub enabled: bool,
    pub detail: NoticeDetail,
    /// The admin app's address as staff reach it, for links in emails, e.g.
    /// `https://hedgerow.school.example`. By default the admin listener's address.
    pub admin_url: Option<String>,
    /// Repeats by one person in one category within this many minutes fold into one alert.
    pub fold_minutes: u32,
    /// A burst: this many blocked attempts in one risk category ...
    pub burst_count: u32,
    /// ... within this many minutes.
    pub burst_minutes: u32,
    /// Alerts at or above this severity are sent at once.
    pub immediate_min_severity: u8,
    /// Categories sent at once whatever their severity.
    pub immediate_categories: Vec<String>,
    /// Alerts below the immediate threshold and at or above this go in the daily digest; the
    /// rest in the weekly one.
    pub daily_min_severity: u8,
    /// When the school is staffed; an immediate alert outside these hours also goes to each
    /// school's out-of-hours list.
    pub school_days: Vec<Weekday>,
    pub school_day_start: Time,
    pub school_day_end: Time,
    /// When the daily digest is sent (school's local time).
    pub daily_digest_at: Time,
    /// When the weekly digest and report are sent.
    pub weekly_digest_day: Weekday,
    pub weekly_digest_at: Time,
    /// Extra risk library files, on top of the built-in ones.
    pub libraries: Vec<PathBuf>,
    pub smtp: Option<SmtpSettings>,
    /// A file holding a bearer token sent with every webhook call.
    pub webhook_token_file: Option<PathBuf>,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            enabled: true,
            detail: NoticeDetail::Minimal,
            admin_url: None,
            fold_minutes: 60,
            burst_count: 5,
            burst_minutes: 10,
            immediate_min_severity: 4,
            immediate_categories: vec!["suicide_self_harm".to_string()],
            daily_min_severity: 2,
            school_days: vec![
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
            ],
            school_day_start: Time::constant(8, 0, 0, 0),
            school_day_end: Time::constant(17, 30, 0, 0),
            daily_digest_at: Time::constant(7, 30, 0, 0),
            weekly_digest_day: Weekday::Monday,
            weekly_digest_at: Time::constant(7, 30, 0, 0),
            libraries: Vec::new(),
            smtp: None,
            webhook_token_file: None,
        }
    }
}

/// One school's `[school.monitoring]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchoolMonitoring {
    /// The DSL and deputies: every immediate alert and every digest.
    pub dsl: Vec<String>,
    /// Also told of immediate alerts outside school hours (e.g. the headteacher's phone).
    pub out_of_hours: Vec<String>,
    /// The headteacher: told that a record of an allegation against a member of staff was
    /// made, which only the headteacher may read (not the DSL).
    pub headteacher: Vec<String>,
    /// A URL that receives each immediate alert as JSON (a chat or SMS gateway).
    pub webhook: Option<String>,
    /// Policy group key to age band (`early_years`, `primary`, `secondary`, `sixth_form`,
    /// `adult`). Groups not named use [`SchoolMonitoring::band_for`]'s default.
    pub age_bands: BTreeMap<String, String>,
}

impl SchoolMonitoring {
    /// The age band for a group: as configured, else `adult` for staff and visitors and
    /// `secondary` for everyone else (the band whose profile flags the most of what older
    /// children search for; primary schools name their groups' bands).
    pub fn band_for(&self, group: &str, is_adult_group: bool) -> &str {
        match self.age_bands.get(group) {
            Some(band) => band,
            None if is_adult_group => "adult",
            None => "secondary",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMonitoring {
    pub enabled: Option<bool>,
    pub detail: Option<Sp<String>>,
    pub admin_url: Option<Sp<String>>,
    pub fold_minutes: Option<Sp<u32>>,
    pub burst_count: Option<Sp<u32>>,
    pub burst_minutes: Option<Sp<u32>>,
    pub immediate_min_severity: Option<Sp<u8>>,
    pub immediate_categories: Option<Vec<Sp<String>>>,
    pub daily_min_severity: Option<Sp<u8>>,
    pub school_days: Option<Vec<Sp<String>>>,
    pub school_hours: Option<Sp<String>>,
    pub daily_digest_at: Option<Sp<String>>,
    pub weekly_digest: Option<Sp<String>>,
    #[serde(default)]
    pub libraries: Vec<Sp<String>>,
    pub smtp: Option<Sp<RawSmtp>>,
    pub webhook_token_file: Option<Sp<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    pub host: Sp<String>,
    pub port: Option<Sp<u16>>,
    pub security: Option<Sp<String>>,
    pub username: Option<Sp<String>>,
    pub password_file: Option<Sp<String>>,
    pub from: Sp<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchoolMonitoring {
    #[serde(default)]
    pub dsl: Vec<Sp<String>>,
    #[serde(default)]
    pub out_of_hours: Vec<Sp<String>>,
    #[serde(default)]
    pub headteacher: Vec<Sp<String>>,
    pub webhook: Option<Sp<String>>,
    #[serde(default)]
    pub age_bands: BTreeMap<String, Sp<String>>,
}

/// Checks the `[monitoring]` table.
pub(crate) fn monitoring_settings(
    report: &mut Report,
    raw: Option<&Sp<RawMonitoring>>,
) -> MonitoringSettings {
    let mut settings = MonitoringSettings::default();
    let Some(raw) = raw else {
        return settings;
    };
    let table = raw.get_ref();
    if let Some(enabled) = table.enabled {
        settings.enabled = enabled;
    }
    if let Some(detail) = &table.detail {
        match detail.get_ref().as_str() {
            "minimal" => settings.detail = NoticeDetail::Minimal,
            "full" => settings.detail = NoticeDetail::Full,
            other => report.add(
                "monitoring.detail",
                detail.span(),
                format!("{other:?} is not a level of detail; write \"minimal\" (no names or search text in email and chat) or \"full\""),
            ),
        }
    }
    if let Some(url) = &table.admin_url {
        let text = url.get_ref().trim().trim_end_matches('/');
        if is_http_url(text) {
            settings.admin_url = Some(text.to_string());
        } else {
            report.add(
                "monitoring.admin_url",
                url.span(),
                format!("{text:?} is not a web address; write the address staff open the admin app at, e.g. \"https://hedgerow.school.example\""),
            );
        }
    }
    let mut minutes = |key: &str, value: &Option<Sp<u32>>, low: u32, high: u32, out: &mut u32| {
        if let Some(value) = value {
            let n = *value.get_ref();
            if (low..=high).contains(&n) {
                *out = n;
            } else {
                report.add(
                    format!("monitoring.{key}"),
                    value.span(),
                    format!("{n} is out of range; use a number from {low} to {high}"),
                );
            }
        }
    };
    minutes(
        "fold_minutes",
        &table.fold_minutes,
        1,
        7 * 24 * 60,
        &mut settings.fold_minutes,
    );
    minutes(
        "burst_count",
        &table.burst_count,
        2,
        1000,
        &mut settings.burst_count,
    );
    minutes(
        "burst_minutes",
        &table.burst_minutes,
        1,
        24 * 60,
        &mut settings.burst_minutes,
    );
    let mut severity = |key: &str, value: &Option<Sp<u8>>, out: &mut u8| {
        if let Some(value) = value {
            let n = *value.get_ref();
            if (1..=5).contains(&n) {
                *out = n;
            } else {
                report.add(
                    format!("monitoring.{key}"),
                    value.span(),
                    format!("{n} is not a severity; severities run from 1 (advisory) to 5 (imminent risk)"),
                );
            }
        }
    };
    severity(
        "immediate_min_severity",
        &table.immediate_min_severity,
        &mut settings.immediate_min_severity,
    );
    severity(
        "daily_min_severity",
        &table.daily_min_severity,
        &mut settings.daily_min_severity,
    );
    if let Some(categories) = &table.immediate_categories {
        settings.immediate_categories.clear();
        for (at, category) in categories.iter().enumerate() {
            let name = category.get_ref().trim();
            if RISK_CATEGORIES.contains(&name) {
                settings.immediate_categories.push(name.to_string());
            } else {
                report.add(
                    format!("monitoring.immediate_categories[{at}]"),
                    category.span(),
                    format!(
                        "{name:?} is not a risk category; use one of {}",
                        RISK_CATEGORIES.join(", ")
                    ),
                );
            }
        }
    }
    if let Some(days) = &table.school_days {
        settings.school_days.clear();
        for (at, day) in days.iter().enumerate() {
            match weekday(day.get_ref()) {
                Some(d) => settings.school_days.push(d),
                None => report.add(
                    format!("monitoring.school_days[{at}]"),
                    day.span(),
                    format!(
                        "{:?} is not a day; write \"monday\" to \"sunday\"",
                        day.get_ref()
                    ),
                ),
            }
        }
    }
    if let Some(hours) = &table.school_hours {
        match hours
            .get_ref()
            .split_once('-')
            .and_then(|(a, b)| Some((clock(a)?, clock(b)?)))
        {
            Some((start, end)) if start < end => {
                settings.school_day_start = start;
                settings.school_day_end = end;
            }
            _ => report.add(
                "monitoring.school_hours",
                hours.span(),
                format!(
                    "{:?} is not a span of the day; write it like \"08:00-17:30\"",
                    hours.get_ref()
                ),
            ),
        }
    }
    if let Some(at) = &table.daily_digest_at {
        match clock(at.get_ref()) {
            Some(t) => settings.daily_digest_at = t,
            None => report.add(
                "monitoring.daily_digest_at",
                at.span(),
                format!(
                    "{:?} is not a time of day; write it like \"07:30\"",
                    at.get_ref()
                ),
            ),
        }
    }
    if let Some(weekly) = &table.weekly_digest {
        match weekly
            .get_ref()
            .split_once(' ')
            .and_then(|(d, t)| Some((weekday(d)?, clock(t)?)))
        {
            Some((day, time)) => {
                settings.weekly_digest_day = day;
                settings.weekly_digest_at = time;
            }
            None => report.add(
                "monitoring.weekly_digest",
                weekly.span(),
                format!(
                    "{:?} is not a day and time; write it like \"monday 07:30\"",
                    weekly.get_ref()
                ),
            ),
        }
    }
    for (at, library) in table.libraries.iter().enumerate() {
        let path = library.get_ref().trim();
        if path.is_empty() {
            report.add(
                format!("monitoring.libraries[{at}]"),
                library.span(),
                "is empty; give the path of a risk library file",
            );
        } else {
            settings.libraries.push(PathBuf::from(path));
        }
    }
    if let Some(smtp) = &table.smtp {
        settings.smtp = smtp_settings(report, smtp);
    }
    if let Some(file) = &table.webhook_token_file {
        settings.webhook_token_file = Some(PathBuf::from(file.get_ref().trim()));
    }
    settings
}

fn smtp_settings(report: &mut Report, raw: &Sp<RawSmtp>) -> Option<SmtpSettings> {
    let table = raw.get_ref();
    let errors_before = report.errors.len();
    let host = table.host.get_ref().trim().to_string();
    if host.is_empty() || host.contains(char::is_whitespace) {
        report.add(
            "monitoring.smtp.host",
            table.host.span(),
            "is not a host name; give the mail server's name or address, e.g. \"smtp.school.example\"",
        );
    }
    let security = match table.security.as_ref() {
        None => SmtpSecurity::StartTls,
        Some(value) => match value.get_ref().as_str() {
            "none" => SmtpSecurity::None,
            "starttls" => SmtpSecurity::StartTls,
            "tls" => SmtpSecurity::Tls,
            other => {
                report.add(
                    "monitoring.smtp.security",
                    value.span(),
                    format!("{other:?} is not a kind of connection; write \"starttls\" (port 587), \"tls\" (port 465) or \"none\" (a relay on this machine only)"),
                );
                SmtpSecurity::StartTls
            }
        },
    };
    let is_loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if security == SmtpSecurity::None && !is_loopback {
        let span = table.security.as_ref().map_or(raw.span(), |s| s.span());
        report.add(
            "monitoring.smtp.security",
            span,
            format!("\"none\" would send children's safeguarding alerts across the network unencrypted to {host}; use \"starttls\" or \"tls\", or a relay on this machine (127.0.0.1)"),
        );
    }
    let port = table.port.as_ref().map_or(
        match security {
            SmtpSecurity::None => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        },
        |p| *p.get_ref(),
    );
    if port == 0 {
        let span = table.port.as_ref().map_or(raw.span(), |p| p.span());
        report.add(
            "monitoring.smtp.port",
            span,
            "0 is not a port; leave it out for the usual one",
        );
    }
    let from = table.from.get_ref().trim().to_string();
    if !is_email(&from) {
        report.add(
            "monitoring.smtp.from",
            table.from.span(),
            format!("{from:?} is not an email address; write the sender, e.g. \"hedgerow@school.example\""),
        );
    }
    if table.username.is_some() != table.password_file.is_some() {
        report.add(
            "monitoring.smtp",
            raw.span(),
            "give both username and password_file (a file holding the password), or neither",
        );
    }
    (report.errors.len() == errors_before).then(|| SmtpSettings {
        host,
        port,
        security,
        username: table
            .username
            .as_ref()
            .map(|u| u.get_ref().trim().to_string()),
        password_file: table
            .password_file
            .as_ref()
            .map(|p| PathBuf::from(p.get_ref().trim())),
        from,
    })
}

/// Checks one school's `[school.monitoring]` table; `path` is e.g. `school[0]` and `groups`
/// the school's group keys.
pub(crate) fn school_monitoring(
    report: &mut Report,
    path: &str,
    raw: Option<&Sp<RawSchoolMonitoring>>,
    groups: &std::collections::HashSet<&str>,
) -> SchoolMonitoring {
    let mut settings = SchoolMonitoring::default();
    let Some(raw) = raw else {
        return settings;
    };
    let table = raw.get_ref();
    let mut emails = |key: &str, list: &[Sp<String>], out: &mut Vec<String>| {
        for (at, address) in list.iter().enumerate() {
            let text = address.get_ref().trim();
            if is_email(text) {
                out.push(text.to_string());
            } else {
                report.add(
                    format!("{path}.monitoring.{key}[{at}]"),
                    address.span(),
                    format!("{text:?} is not an email address"),
                );
            }
        }
    };
    emails("dsl", &table.dsl, &mut settings.dsl);
    emails(
        "out_of_hours",
        &table.out_of_hours,
        &mut settings.out_of_hours,
    );
    emails("headteacher", &table.headteacher, &mut settings.headteacher);
    if let Some(url) = &table.webhook {
        let text = url.get_ref().trim();
        if is_http_url(text) {
            settings.webhook = Some(text.to_string());
        } else {
            report.add(
                format!("{path}.monitoring.webhook"),
                url.span(),
                format!("{text:?} is not a web address; write the URL that receives alerts, starting https://"),
            );
        }
    }
    for (group, band) in &table.age_bands {
        if !groups.contains(group.as_str()) {
            report.add(
                format!("{path}.monitoring.age_bands.{group}"),
                band.span(),
                format!("there is no group {group:?}; name a group defined under [school.groups]"),
            );
        } else if !AGE_BANDS.contains(&band.get_ref().as_str()) {
            report.add(
                format!("{path}.monitoring.age_bands.{group}"),
                band.span(),
                format!(
                    "{:?} is not an age band; use one of {}",
                    band.get_ref(),
                    AGE_BANDS.join(", ")
                ),
            );
        } else {
            settings
                .age_bands
                .insert(group.clone(), band.get_ref().clone());
        }
    }
    settings
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty() && !r.starts_with('/') && !r.contains(|c: char| c.is_whitespace())
    })
}

fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.contains(|c: char| c.is_whitespace() || c.is_control() || c == ',')
                && !domain.contains('@')
        }
        None => false,
    }
}

fn clock(text: &str) -> Option<Time> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    Time::new(h, m, 0, 0).ok()
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Config, NoticeDetail, SmtpSecurity};

    fn config(extra: &str, school_extra: &str) -> String {
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
[school.groups.ks2]
kind = "pupil"
default = "allow"
{school_extra}
"#
        )
    }

    #[test]
    fn defaults_apply_without_tables() {
        let c = Config::parse(&config("", "")).expect("valid");
        assert!(c.monitoring.enabled);
        assert_eq!(c.monitoring.immediate_categories, ["suicide_self_harm"]);
        assert_eq!(c.monitoring.detail, NoticeDetail::Minimal);
        assert!(c.schools[0].monitoring.dsl.is_empty());
        assert_eq!(c.schools[0].monitoring.band_for("ks2", false), "secondary");
        assert_eq!(c.schools[0].monitoring.band_for("staff", true), "adult");
    }

    #[test]
    fn full_tables_are_read() {
        let c = Config::parse(&config(
            r#"[monitoring]
detail = "full"
admin_url = "https://hedgerow.oak.example/"
burst_count = 3
burst_minutes = 5
immediate_categories = ["suicide_self_harm", "grooming_sexual_exploitation"]
school_hours = "08:15-16:00"
weekly_digest = "friday 15:00"
[monitoring.smtp]
host = "127.0.0.1"
port = 2525
security = "none"
from = "hedgerow@oak.example"
"#,
            r#"[school.monitoring]
dsl = ["dsl@oak.example", "deputy@oak.example"]
out_of_hours = ["head@oak.example"]
webhook = "http://127.0.0.1:9999/hook"
age_bands = { ks2 = "primary" }
"#,
        ))
        .expect("valid");
        let m = &c.monitoring;
        assert_eq!(m.detail, NoticeDetail::Full);
        assert_eq!(m.admin_url.as_deref(), Some("https://hedgerow.oak.example"));
        assert_eq!((m.burst_count, m.burst_minutes), (3, 5));
        assert_eq!(m.immediate_categories.len(), 2);
        assert_eq!(m.school_day_start, jiff::civil::time(8, 15, 0, 0));
        assert_eq!(m.weekly_digest_day, jiff::civil::Weekday::Friday);
        let smtp = m.smtp.as_ref().expect("smtp");
        assert_eq!((smtp.port, smtp.security), (2525, SmtpSecurity::None));
        let s = &c.schools[0].monitoring;
        assert_eq!(s.dsl.len(), 2);
        assert_eq!(s.band_for("ks2", false), "primary");
        assert_eq!(s.webhook.as_deref(), Some("http://127.0.0.1:9999/hook"));
    }

    #[test]
    fn mistakes_are_reported_with_their_keys() {
        let errors = Config::parse(&config(
            r#"[monitoring]
detail = "chatty"
immediate_categories = ["suicide"]
immediate_min_severity = 9
school_hours = "17:00-08:00"
[monitoring.smtp]
host = "smtp.oak.example"
security = "none"
from = "not-an-address"
"#,
            r#"[school.monitoring]
dsl = ["dsl at oak"]
webhook = "ftp://x"
age_bands = { ks3 = "primary", ks2 = "toddler" }
"#,
        ))
        .expect_err("invalid");
        let text = errors.to_string();
        for key in [
            "monitoring.detail",
            "monitoring.immediate_categories[0]",
            "monitoring.immediate_min_severity",
            "monitoring.school_hours",
            "monitoring.smtp.security",
            "monitoring.smtp.from",
            "school[0].monitoring.dsl[0]",
            "school[0].monitoring.webhook",
            "school[0].monitoring.age_bands.ks3",
            "school[0].monitoring.age_bands.ks2",
        ] {
            assert!(text.contains(key), "{key} missing from:\n{text}");
        }
    }
}
