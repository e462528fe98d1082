//! What an alert or a digest says by email and by webhook.
//!
//! Email and chat are less secure than the admin app: messages are read on phones, forwarded,
//! kept in mailboxes and chat histories outside the school's control. So by default
//! ([`Detail::Minimal`]) a message says only that there is an alert, how serious, when, in
//! which group, and where to open it; the child's name and what they typed stay in the admin
//! app. A school can choose [`Detail::Full`] for a private channel. Subjects never carry a
//! name, since they show on lock screens. Every value is flattened to one line, so nothing
//! inside an alert can forge a header or a line of the message.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::digest::DigestKind;

/// What one alert says, for composing its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotice {
    pub alert_id: i64,
    pub school_name: String,
    /// The category as people read it ("Suicide and self-harm").
    pub category_label: String,
    /// The category's key ("suicide_self_harm").
    pub category: String,
    pub severity: u8,
    /// The person's display name, when known.
    pub person: Option<String>,
    pub group: Option<String>,
    pub device: Option<String>,
    pub at: Timestamp,
    /// How many events are folded into the alert.
    pub count: u32,
    pub matched_text: String,
    /// The alert in the admin app.
    pub link: String,
    pub out_of_hours: bool,
}

/// How much an email or webhook reveals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// The alert number, category, severity, time, group and link: nothing identifying.
    #[default]
    Minimal,
    /// Adds the person's name, the device and the matched text.
    Full,
}

/// A plain-text email, before addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub subject: String,
    pub text_body: String,
}

/// One alert in a digest. No names or matched text: a digest lists what to open.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestItem {
    pub alert_id: i64,
    pub category: String,
    pub category_label: String,
    pub severity: u8,
    pub at: Timestamp,
    pub count: u32,
    pub group: Option<String>,
}

/// Matched text longer than this is cut, so a pasted essay does not become an email.
const MATCHED_TEXT_LIMIT: usize = 300;
/// A digest lists at most this many alerts; the rest are counted.
const DIGEST_ITEM_LIMIT: usize = 200;

/// What a severity from 1 to 5 means.
pub fn severity_label(severity: u8) -> &'static str {
    match severity {
        1 => "advisory",
        2 => "low",
        3 => "moderate",
        4 => "high",
        5 => "imminent risk",
        _ => "unrated",
    }
}

/// A time as people in school read it: "Mon 7 Dec 2026, 10:42" on the local clock.
pub fn format_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%a %-d %b %Y, %H:%M")
        .to_string()
}

/// One line of text: control characters and line separators become spaces, ends trimmed.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

fn matched_excerpt(text: &str) -> String {
    let flat = one_line(text);
    if flat.chars().count() <= MATCHED_TEXT_LIMIT {
        return flat;
    }
    let mut cut: String = flat.chars().take(MATCHED_TEXT_LIMIT).collect();
    cut.push('…');
    cut
}

fn events(count: u32) -> String {
    if count == 1 {
        "1 event".to_string()
    } else {
        format!("{count} events")
    }
}

/// The subject line of an immediate alert: the same whatever the detail.
fn alert_subject(notice: &AlertNotice) -> String {
    let urgency = if notice.out_of_hours {
        "Out of hours: "
    } else {
        ""
    };
    format!(
        "{urgency}Hedgerow alert {} at {}: {}, severity {} ({})",
        notice.alert_id,
        one_line(&notice.school_name),
        one_line(&notice.category_label),
        notice.severity,
        severity_label(notice.severity),
    )
}

/// The email for one immediate alert.
pub fn email_for(notice: &AlertNotice, detail: Detail, zone: &TimeZone) -> EmailMessage {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "Hedgerow has raised a safeguarding alert at {}.\n",
        one_line(&notice.school_name)
    );
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(body, "{:<10} {}", format!("{name}:"), value);
    };
    field("Alert", &notice.alert_id.to_string());
    field("Category", &one_line(&notice.category_label));
    field(
        "Severity",
        &format!(
            "{} of 5 ({})",
            notice.severity,
            severity_label(notice.severity)
        ),
    );
    field("When", &format_time(notice.at, zone));
    if let Some(group) = &notice.group {
        field("Group", &one_line(group));
    }
    field("Events", &events(notice.count));
    if detail == Detail::Full {
        field(
            "Person",
            &notice
                .person
                .as_deref()
                .map_or_else(|| "not known".to_string(), one_line),
        );
        if let Some(device) = &notice.device {
            field("Device", &one_line(device));
        }
        field("Matched", &matched_excerpt(&notice.matched_text));
    }
    if notice.out_of_hours {
        body.push_str(
            "\nThis alert was raised outside school hours, so it has also gone to the \
             out-of-hours escalation list.\n",
        );
    }
    let _ = write!(
        body,
        "\nOpen the alert in Hedgerow to see the evidence and record what you did:\n{}\n",
        one_line(&notice.link)
    );
    if detail == Detail::Minimal {
        body.push_str(
            "\nThe person's name and what they typed are left out of this email because email \
             is less secure than Hedgerow itself.\n",
        );
    }
    EmailMessage {
        subject: alert_subject(notice),
        text_body: body,
    }
}

/// A safeguarding record someone has just made, for telling the people who act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordNotice {
    pub record_id: i64,
    pub school_name: String,
    /// What kind of record ("Online-safety concern", "Allegation against a member of staff").
    pub record_type_label: String,
    /// The member of staff who made it, as staff know them.
    pub recorded_by: String,
    pub at: Timestamp,
    /// The record in the admin app.
    pub link: String,
}

/// The email telling the DSL (or, for an allegation against staff, the headteacher) that a
/// record was made. Whatever the school's detail setting, it carries no child's name and none
/// of the record's words: a record is fuller than an alert, and the reader opens it where
/// reads are audited.
pub fn record_email(notice: &RecordNotice, zone: &TimeZone) -> EmailMessage {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "A member of staff has made a safeguarding record at {}.\n",
        one_line(&notice.school_name)
    );
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(body, "{:<12} {}", format!("{name}:"), value);
    };
    field("Record", &notice.record_id.to_string());
    field("Kind", &one_line(&notice.record_type_label));
    field("Recorded by", &one_line(&notice.recorded_by));
    field("When", &format_time(notice.at, zone));
    let _ = write!(
        body,
        "\nOpen it in Hedgerow, take it on and record what you do:\n{}\n\n\
         Who is involved and what was said are left out of this email because email is less \
         secure than Hedgerow itself.\n",
        one_line(&notice.link)
    );
    EmailMessage {
        subject: format!(
            "Hedgerow: new safeguarding record {} at {}",
            notice.record_id,
            one_line(&notice.school_name)
        ),
        text_body: body,
    }
}

/// The JSON body of the webhook for one immediate alert, for chat tools and SMS gateways.
///
/// Always: `alert_id`, `school`, `category`, `category_label`, `severity`, `at` (RFC 3339 with
/// the local offset), `count`, `group` (or null), `link`, `out_of_hours`, and `text`, a
/// one-line summary that chat tools show as the message. With [`Detail::Full`] also `person`,
/// `device` and `matched_text`, and the person's name in `text`.
pub fn webhook_json(notice: &AlertNotice, detail: Detail, zone: &TimeZone) -> Value {
    let offset = zone.to_offset(notice.at);
    let person = notice.person.as_deref().map(one_line);
    let who = match (&person, detail) {
        (Some(name), Detail::Full) => format!(" ({name})"),
        _ => String::new(),
    };
    let urgency = if notice.out_of_hours {
        "Out of hours: "
    } else {
        ""
    };
    let text = format!(
        "{urgency}Hedgerow alert {} at {}: {}, severity {} ({}){who}, {}. {}",
        notice.alert_id,
        one_line(&notice.school_name),
        one_line(&notice.category_label),
        notice.severity,
        severity_label(notice.severity),
        format_time(notice.at, zone),
        one_line(&notice.link),
    );
    let mut body = json!({
        "alert_id": notice.alert_id,
        "school": one_line(&notice.school_name),
        "category": notice.category,
        "category_label": one_line(&notice.category_label),
        "severity": notice.severity,
        "at": notice.at.display_with_offset(offset).to_string(),
        "count": notice.count,
        "group": notice.group.as_deref().map(one_line),
        "link": one_line(&notice.link),
        "out_of_hours": notice.out_of_hours,
        "text": text,
    });
    if detail == Detail::Full
        && let Some(fields) = body.as_object_mut()
    {
        fields.insert("person".into(), json!(person));
        fields.insert(
            "device".into(),
            json!(notice.device.as_deref().map(one_line)),
        );
        fields.insert(
            "matched_text".into(),
            json!(matched_excerpt(&notice.matched_text)),
        );
    }
    body
}

/// The daily or weekly digest email: what came in over `period` and did not go out at once.
/// A digest with no alerts is still sent, so the DSL knows monitoring is running.
pub fn digest_email(
    school_name: &str,
    kind: DigestKind,
    period: (Timestamp, Timestamp),
    items: &[DigestItem],
    link: &str,
    zone: &TimeZone,
) -> EmailMessage {
    let school = one_line(school_name);
    let kind_name = match kind {
        DigestKind::Daily => "Daily",
        DigestKind::Weekly => "Weekly",
    };
    let alerts = match items.len() {
        0 => "no alerts".to_string(),
        1 => "1 alert".to_string(),
        n => format!("{n} alerts"),
    };
    let (start, end) = (format_time(period.0, zone), format_time(period.1, zone));
    let subject = format!(
        "Hedgerow {} monitoring digest for {school}: {alerts}",
        kind_name.to_lowercase()
    );

    let mut body = String::new();
    let _ = writeln!(body, "{kind_name} monitoring digest for {school}");
    let _ = writeln!(body, "From {start} to {end}.\n");
    if items.is_empty() {
        body.push_str("No alerts were raised in this period.\n");
    } else {
        let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
        for item in items {
            *by_category
                .entry(one_line(&item.category_label))
                .or_default() += 1;
        }
        let _ = writeln!(
            body,
            "{} waiting in Hedgerow, by category:",
            capitalise(&alerts)
        );
        for (label, n) in &by_category {
            let _ = writeln!(body, "  {label}: {n}");
        }
        let mut sorted: Vec<&DigestItem> = items.iter().collect();
        sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.at.cmp(&b.at)));
        body.push_str("\nMost serious first:\n");
        for item in sorted.iter().take(DIGEST_ITEM_LIMIT) {
            let group = item
                .group
                .as_deref()
                .map(|g| format!(", {}", one_line(g)))
                .unwrap_or_default();
            let _ = writeln!(
                body,
                "  Alert {}: {}, severity {} ({}), {}{group}, {}",
                item.alert_id,
                one_line(&item.category_label),
                item.severity,
                severity_label(item.severity),
                format_time(item.at, zone),
                events(item.count),
            );
        }
        if let Some(more) = sorted
            .len()
            .checked_sub(DIGEST_ITEM_LIMIT)
            .filter(|n| *n > 0)
        {
            let _ = writeln!(body, "  ... and {more} more in Hedgerow.");
        }
    }
    let _ = write!(
        body,
        "\nOpen the alerts in Hedgerow to triage them:\n{}\n\nNames and what was typed are \
         left out of this email because email is less secure than Hedgerow itself.\n",
        one_line(link)
    );
    EmailMessage {
        subject,
        text_body: body,
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::london;

    fn notice() -> AlertNotice {
        AlertNotice {
            alert_id: 4711,
            school_name: "Oakfield Academy".into(),
            category_label: "Suicide and self-harm".into(),
            category: "suicide_self_harm".into(),
            severity: 5,
            person: Some("Jamie Testpupil".into()),
            group: Some("Year 9".into()),
            device: Some("LIB-PC-07".into()),
            at: "2026-12-07T10:42:00Z"
                .parse()
                .unwrap_or(Timestamp::UNIX_EPOCH),
            count: 3,
            matched_text: "how to invented-phrase quickly".into(),
            link: "https://hedgerow.oakfield.example/alerts/4711".into(),
            out_of_hours: false,
        }
    }

    #[test]
    fn times_are_shown_on_the_london_clock() {
        let zone = london();
        let winter: Timestamp = "2026-12-07T10:42:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(format_time(winter, &zone), "Mon 7 Dec 2026, 10:42");
        let summer: Timestamp = "2026-07-01T09:05:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(format_time(summer, &zone), "Wed 1 Jul 2026, 10:05");
    }

    #[test]
    fn minimal_email_names_no_one_and_quotes_nothing() {
        let email = email_for(&notice(), Detail::Minimal, &london());
        assert_eq!(
            email.subject,
            "Hedgerow alert 4711 at Oakfield Academy: Suicide and self-harm, severity 5 (imminent risk)"
        );
        let body = &email.text_body;
        for expected in [
            "Alert:     4711",
            "Category:  Suicide and self-harm",
            "Severity:  5 of 5 (imminent risk)",
            "When:      Mon 7 Dec 2026, 10:42",
            "Group:     Year 9",
            "Events:    3 events",
            "https://hedgerow.oakfield.example/alerts/4711",
            "less secure",
        ] {
            assert!(
                body.contains(expected),
                "{expected:?} missing from:\n{body}"
            );
        }
        for secret in ["Jamie", "invented-phrase", "LIB-PC-07"] {
            assert!(!body.contains(secret), "{secret} leaked:\n{body}");
        }
    }

    #[test]
    fn full_email_adds_the_name_device_and_matched_text_but_not_to_the_subject() {
        let email = email_for(&notice(), Detail::Full, &london());
        let body = &email.text_body;
        assert!(body.contains("Person:    Jamie Testpupil"), "{body}");
        assert!(body.contains("Device:    LIB-PC-07"), "{body}");
        assert!(
            body.contains("Matched:   how to invented-phrase quickly"),
            "{body}"
        );
        assert!(!body.contains("less secure"), "{body}");
        assert!(!email.subject.contains("Jamie"));
    }

    #[test]
    fn out_of_hours_is_said_in_the_subject_and_the_body() {
        let mut n = notice();
        n.out_of_hours = true;
        let email = email_for(&n, Detail::Minimal, &london());
        assert!(
            email.subject.starts_with("Out of hours: "),
            "{}",
            email.subject
        );
        assert!(email.text_body.contains("escalation list"));
    }

    #[test]
    fn nothing_in_an_alert_can_break_a_line_or_a_header() {
        let mut n = notice();
        n.school_name = "Oakfield\r\nBcc: someone@example.invalid".into();
        n.matched_text = "line one\nline two\u{2028}three".into();
        n.group = Some("Year\t9\r".into());
        let email = email_for(&n, Detail::Full, &london());
        assert!(!email.subject.contains('\r') && !email.subject.contains('\n'));
        assert!(
            email
                .text_body
                .contains("Matched:   line one line two three")
        );
        assert!(email.text_body.contains("Group:     Year 9\n"));
        let json = webhook_json(&n, Detail::Full, &london());
        assert!(json["text"].as_str().is_some_and(|t| !t.contains('\n')));
    }

    #[test]
    fn long_matched_text_is_cut() {
        let mut n = notice();
        n.matched_text = "a".repeat(5000);
        let json = webhook_json(&n, Detail::Full, &london());
        let matched = json["matched_text"].as_str().unwrap_or_default();
        assert_eq!(matched.chars().count(), MATCHED_TEXT_LIMIT + 1);
        assert!(matched.ends_with('…'));
    }

    #[test]
    fn minimal_webhook_has_the_agreed_fields_and_no_identity() {
        let json = webhook_json(&notice(), Detail::Minimal, &london());
        assert_eq!(json["alert_id"], 4711);
        assert_eq!(json["school"], "Oakfield Academy");
        assert_eq!(json["category"], "suicide_self_harm");
        assert_eq!(json["category_label"], "Suicide and self-harm");
        assert_eq!(json["severity"], 5);
        assert_eq!(json["at"], "2026-12-07T10:42:00+00:00");
        assert_eq!(json["count"], 3);
        assert_eq!(json["group"], "Year 9");
        assert_eq!(
            json["link"],
            "https://hedgerow.oakfield.example/alerts/4711"
        );
        assert_eq!(json["out_of_hours"], false);
        assert_eq!(
            json["text"],
            "Hedgerow alert 4711 at Oakfield Academy: Suicide and self-harm, severity 5 \
             (imminent risk), Mon 7 Dec 2026, 10:42. https://hedgerow.oakfield.example/alerts/4711"
        );
        let fields = json.as_object().map(|o| o.len()).unwrap_or_default();
        assert_eq!(fields, 11);
        assert!(json.get("person").is_none() && json.get("matched_text").is_none());
        assert!(!json.to_string().contains("Jamie"));
    }

    #[test]
    fn full_webhook_adds_person_device_and_matched_text() {
        let mut n = notice();
        n.at = "2026-07-01T09:05:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let json = webhook_json(&n, Detail::Full, &london());
        assert_eq!(json["person"], "Jamie Testpupil");
        assert_eq!(json["device"], "LIB-PC-07");
        assert_eq!(json["matched_text"], "how to invented-phrase quickly");
        assert_eq!(json["at"], "2026-07-01T10:05:00+01:00");
        assert!(
            json["text"]
                .as_str()
                .is_some_and(|t| t.contains("(Jamie Testpupil)"))
        );
    }

    #[test]
    fn digest_lists_alerts_most_serious_first_by_category() {
        let zone = london();
        let at = |text: &str| text.parse().unwrap_or(Timestamp::UNIX_EPOCH);
        let items = [
            DigestItem {
                alert_id: 7,
                category: "gambling".into(),
                category_label: "Gambling".into(),
                severity: 2,
                at: at("2026-12-03T09:00:00Z"),
                count: 1,
                group: Some("Year 10".into()),
            },
            DigestItem {
                alert_id: 9,
                category: "drugs".into(),
                category_label: "Drugs".into(),
                severity: 3,
                at: at("2026-12-04T13:15:00Z"),
                count: 4,
                group: None,
            },
            DigestItem {
                alert_id: 8,
                category: "gambling".into(),
                category_label: "Gambling".into(),
                severity: 2,
                at: at("2026-12-02T09:00:00Z"),
                count: 2,
                group: None,
            },
        ];
        let period = (at("2026-11-30T07:30:00Z"), at("2026-12-07T07:30:00Z"));
        let email = digest_email(
            "Oakfield Academy",
            DigestKind::Weekly,
            period,
            &items,
            "https://hedgerow.oakfield.example/alerts",
            &zone,
        );
        assert_eq!(
            email.subject,
            "Hedgerow weekly monitoring digest for Oakfield Academy: 3 alerts"
        );
        let body = &email.text_body;
        assert!(body.contains("From Mon 30 Nov 2026, 07:30 to Mon 7 Dec 2026, 07:30."));
        assert!(body.contains("  Drugs: 1\n  Gambling: 2\n"), "{body}");
        let nine =
            body.find("Alert 9: Drugs, severity 3 (moderate), Fri 4 Dec 2026, 13:15, 4 events");
        let eight =
            body.find("Alert 8: Gambling, severity 2 (low), Wed 2 Dec 2026, 09:00, 2 events");
        let seven = body
            .find("Alert 7: Gambling, severity 2 (low), Thu 3 Dec 2026, 09:00, Year 10, 1 event");
        assert!(
            nine.is_some() && eight.is_some() && seven.is_some(),
            "{body}"
        );
        assert!(nine < eight && eight < seven, "{body}");
    }

    #[test]
    fn an_empty_digest_still_says_monitoring_ran() {
        let now = Timestamp::UNIX_EPOCH;
        let email = digest_email(
            "Oakfield Academy",
            DigestKind::Daily,
            (now, now),
            &[],
            "x",
            &london(),
        );
        assert!(email.subject.ends_with(": no alerts"), "{}", email.subject);
        assert!(
            email
                .text_body
                .contains("No alerts were raised in this period.")
        );
    }

    #[test]
    fn long_digests_are_cut_and_counted() {
        let item = DigestItem {
            alert_id: 1,
            category: "gambling".into(),
            category_label: "Gambling".into(),
            severity: 1,
            at: Timestamp::UNIX_EPOCH,
            count: 1,
            group: None,
        };
        let items = vec![item; DIGEST_ITEM_LIMIT + 5];
        let email = digest_email(
            "S",
            DigestKind::Daily,
            (Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH),
            &items,
            "x",
            &london(),
        );
        assert!(email.text_body.contains("... and 5 more in Hedgerow."));
        assert_eq!(
            email.text_body.matches("  Alert 1:").count(),
            DIGEST_ITEM_LIMIT
        );
    }

    #[test]
    fn a_record_email_names_no_one_and_quotes_nothing() {
        let notice = RecordNotice {
            record_id: 12,
            school_name: "Oak Primary".into(),
            record_type_label: "Online-safety concern".into(),
            recorded_by: "Tom Ash\r\nBcc: someone@example.invalid".into(),
            at: Timestamp::from_second(1_796_000_000).unwrap(),
            link: "https://hedgerow.oak.example/concerns/12".into(),
        };
        let zone = TimeZone::get("Europe/London").unwrap();
        let email = record_email(&notice, &zone);
        assert_eq!(
            email.subject,
            "Hedgerow: new safeguarding record 12 at Oak Primary"
        );
        assert!(
            email.text_body.contains("/concerns/12"),
            "{}",
            email.text_body
        );
        // A name typed into a field cannot start a header or a line of its own.
        assert!(!email.text_body.contains("\nBcc:"), "{}", email.text_body);
    }
}
