//! A subject-access export: everything Hedgerow holds about one person, machine-readable
//! (this module's types, through serde) and readable ([`render_html`]).
//!
//! Other people in the person's records are third parties, and their data is not the
//! requester's to receive. [`SubjectAccessExport::redact_third_parties`] replaces them before
//! the export is given out. The choice made there:
//!
//! - other pupils, parents or carers and anyone else become "another pupil", "a parent or
//!   carer" and "another person";
//! - staff stay named where they acted in their work (recorded, were told, took an action,
//!   witnessed), as is usual in a subject-access response; a member of staff who is alleged
//!   to have done something becomes "a member of staff", because the allegation is their
//!   personal data rather than an act of their job;
//! - the free-text reporter is kept only when it is the person themselves or a named member
//!   of staff on the record, since a report often comes from another child or a parent;
//! - the full names and usernames of everyone replaced are replaced in the written text too,
//!   but other ways of identifying them (a first name alone, a nickname) may remain, so the
//!   export says the DSL must read it through before it is sent.

use jiff::{Timestamp, civil::Date, tz::TimeZone};
use serde::{Deserialize, Serialize};

use crate::{
    ActionKind, IncidentType, Involvement, Location, PersonRole, RecordType, SanctionKind,
};

/// Everything held about one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectAccessExport {
    /// When the export was made.
    pub generated_at: Timestamp,
    /// The school's name.
    pub school: String,
    /// Who the export is about, from the directory.
    pub person: PersonDetails,
    /// The safeguarding records they are involved in.
    pub records: Vec<RecordExport>,
    /// Monitoring alerts about them.
    pub alerts: Vec<AlertExport>,
    /// Their browsing activity, as the filter logged it.
    pub activity: Vec<ActivityExport>,
    /// Notes for the reader (what was left out and why).
    pub notes: Vec<String>,
}

/// The person the export is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonDetails {
    /// Sign-in name.
    pub username: String,
    /// Full name.
    pub name: String,
    /// Pupil, staff or visitor.
    pub kind: String,
    /// Filtering group.
    pub group: Option<String>,
    /// Year group.
    pub year_group: Option<String>,
    /// Class.
    pub class_name: Option<String>,
    /// Date of birth, if the school recorded it.
    pub date_of_birth: Option<Date>,
}

/// One safeguarding record. Vocabulary fields hold the store's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordExport {
    /// The record's number.
    pub id: i64,
    /// Record type key.
    pub record_type: String,
    /// `new`, `open` or `closed`.
    pub status: String,
    /// The staff account that recorded it.
    pub recorded_by: String,
    /// Who reported it, as written.
    pub reporter: String,
    /// When it was reported.
    pub reported_at: Timestamp,
    /// When it happened, if known.
    pub incident_at: Option<Timestamp>,
    /// Location key.
    pub location: String,
    /// Incident type keys.
    pub types: Vec<String>,
    /// Short summary.
    pub summary: String,
    /// The people involved.
    pub people: Vec<PersonExport>,
    /// The child's own words.
    pub disclosure: String,
    /// What was observed, heard and told.
    pub observations: String,
    /// Websites involved.
    pub websites: String,
    /// Apps and games involved.
    pub apps_games: String,
    /// Avatar and online-friend names.
    pub online_names: String,
    /// Description of the evidence.
    pub evidence_description: String,
    /// The DSL it was handed to.
    pub handed_to: Option<String>,
    /// What was done.
    pub actions: Vec<ActionExport>,
    /// Sanctions applied.
    pub sanctions: Vec<SanctionExport>,
    /// The outcome, once closed.
    pub outcome: Option<String>,
    /// Why no referral was made, if none was.
    pub no_referral_reason: Option<String>,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
}

/// A person involved in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonExport {
    /// Person role key.
    pub person_role: String,
    /// Involvement key.
    pub involvement: String,
    /// Name (a description once redacted).
    pub name: String,
    /// Username, if they have one (removed once redacted).
    pub username: Option<String>,
}

/// An entry in a record's record of action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionExport {
    /// Action kind key.
    pub kind: String,
    /// When.
    pub at: Timestamp,
    /// The staff account that did it.
    pub by: String,
    /// Note.
    pub note: String,
}

/// A sanction on a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanctionExport {
    /// Sanction kind key.
    pub kind: String,
    /// When it started.
    pub starts_at: Timestamp,
    /// When it was set to end.
    pub until: Timestamp,
    /// When it was lifted early, if it was.
    pub lifted_at: Option<Timestamp>,
}

/// A monitoring alert about the person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertExport {
    /// The alert's number.
    pub id: i64,
    /// The first matching event.
    pub first_at: Timestamp,
    /// The latest matching event.
    pub last_at: Timestamp,
    /// Risk category.
    pub category: String,
    /// Severity, 1 to 5.
    pub severity: u8,
    /// How it was triaged.
    pub status: String,
    /// The text that matched.
    pub matched_text: String,
}

/// One logged browsing decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityExport {
    /// When.
    pub at: Timestamp,
    /// Host name.
    pub host: String,
    /// Full address, when the proxy saw it.
    pub url: Option<String>,
    /// Allowed or blocked.
    pub decision: String,
    /// Content category.
    pub category: Option<String>,
    /// Device name.
    pub device: Option<String>,
}

/// The note added by [`SubjectAccessExport::redact_third_parties`].
pub const REDACTION_NOTE: &str = "Other people in these records are described instead of \
named (\"another pupil\", \"a parent or carer\", \"another person\", and \"a member of staff\" \
where something was alleged against them); staff are named where they acted in their work. \
Their full names and usernames were also replaced in the written text, but a first name, \
nickname or description may still identify someone: the DSL must read this export through \
before it is sent.";

impl SubjectAccessExport {
    /// Replaces the third parties in every record (see the module's documentation for who
    /// counts as one) and adds [`REDACTION_NOTE`] to the notes. Safe to call more than once.
    pub fn redact_third_parties(&mut self) {
        for record in &mut self.records {
            redact_record(record, &self.person);
        }
        if !self.notes.iter().any(|note| note == REDACTION_NOTE) {
            self.notes.push(REDACTION_NOTE.to_owned());
        }
    }
}

fn redact_record(record: &mut RecordExport, subject: &PersonDetails) {
    let mut replacements: Vec<(String, &'static str)> = Vec::new();
    let mut named_staff: Vec<String> = Vec::new();
    for person in &mut record.people {
        let is_subject = person.username.as_deref() == Some(subject.username.as_str())
            || (person.username.is_none() && same_name(&person.name, &subject.name));
        if is_subject {
            continue;
        }
        let alleged = Involvement::parse(&person.involvement) == Some(Involvement::Responsible);
        let description = match PersonRole::parse(&person.person_role) {
            Some(PersonRole::Staff) if !alleged => {
                named_staff.push(person.name.clone());
                continue;
            }
            Some(PersonRole::Staff) => "a member of staff",
            Some(PersonRole::Pupil) => "another pupil",
            Some(PersonRole::ParentCarer) => "a parent or carer",
            Some(PersonRole::Other) | None => "another person",
        };
        replacements.push((
            std::mem::replace(&mut person.name, description.to_owned()),
            description,
        ));
        if let Some(username) = person.username.take() {
            replacements.push((username, description));
        }
    }
    let reporter_known = same_name(&record.reporter, &subject.name)
        || named_staff
            .iter()
            .any(|name| same_name(name, &record.reporter));
    if !reporter_known && !record.reporter.trim().is_empty() {
        record.reporter = "the person who reported it".to_owned();
    }
    // Longest first, so a full name goes before a shorter name inside it.
    replacements.sort_by_key(|(name, _)| std::cmp::Reverse(name.chars().count()));
    let texts = [
        &mut record.summary,
        &mut record.disclosure,
        &mut record.observations,
        &mut record.websites,
        &mut record.apps_games,
        &mut record.online_names,
        &mut record.evidence_description,
    ];
    let optional = [&mut record.outcome, &mut record.no_referral_reason];
    let notes = record.actions.iter_mut().map(|action| &mut action.note);
    for text in texts
        .into_iter()
        .chain(optional.into_iter().flatten())
        .chain(notes)
    {
        for (name, description) in &replacements {
            *text = replace_words(text, name, description);
        }
    }
}

fn same_name(a: &str, b: &str) -> bool {
    let a = a.trim();
    !a.is_empty() && a.to_lowercase() == b.trim().to_lowercase()
}

/// Replaces `name` in `text`, ignoring case, where it stands as a word or words (not inside
/// a longer word). Names under three letters are left alone: they would match too much.
fn replace_words(text: &str, name: &str, replacement: &str) -> String {
    let name = name.trim();
    if name.chars().count() < 3 {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(first) = rest.chars().next() {
        let starts_word = !previous.is_some_and(char::is_alphanumeric);
        let matched = if starts_word {
            match_len(rest, name)
        } else {
            None
        };
        match matched.and_then(|len| rest.get(len..).map(|after| (len, after))) {
            Some((len, after)) if !after.chars().next().is_some_and(char::is_alphanumeric) => {
                out.push_str(replacement);
                previous = rest.get(..len).and_then(|m| m.chars().last());
                rest = after;
            }
            _ => {
                out.push(first);
                previous = Some(first);
                rest = rest.get(first.len_utf8()..).unwrap_or_default();
            }
        }
    }
    out
}

/// The length in bytes of `needle` at the start of `haystack`, ignoring case.
fn match_len(haystack: &str, needle: &str) -> Option<usize> {
    let mut hay = haystack.char_indices();
    for wanted in needle.chars() {
        let (_, found) = hay.next()?;
        if !found.to_lowercase().eq(wanted.to_lowercase()) {
            return None;
        }
    }
    Some(hay.next().map_or(haystack.len(), |(at, _)| at))
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The export as one readable HTML page (UK dates and times, labels instead of keys), with
/// every piece of text escaped. Redact it first when it is going to the person.
pub fn render_html(export: &SubjectAccessExport) -> String {
    let london = TimeZone::get("Europe/London").unwrap_or(TimeZone::UTC);
    let when = |at: &Timestamp| {
        escape_html(
            &at.to_zoned_datetime(london.clone())
                .strftime("%-d %B %Y, %H:%M")
                .to_string(),
        )
    };
    let maybe = |at: &Option<Timestamp>| at.as_ref().map(&when).unwrap_or_default();
    let text = |s: &str| escape_html(s);
    let optional = |s: &Option<String>| s.as_deref().map(escape_html).unwrap_or_default();
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">\
         <title>Subject-access export</title><style>body{font-family:sans-serif;max-width:60em;\
         margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #999;\
         padding:.2em .5em;text-align:left;vertical-align:top}</style></head><body>\n",
    );
    let person = &export.person;
    html += &format!(
        "<h1>Subject-access export: {}</h1>\n<p>{}, made {}.</p>\n<table>\
         <tr><th>Username</th><td>{}</td></tr><tr><th>Kind</th><td>{}</td></tr>\
         <tr><th>Group</th><td>{}</td></tr><tr><th>Year group</th><td>{}</td></tr>\
         <tr><th>Class</th><td>{}</td></tr><tr><th>Date of birth</th><td>{}</td></tr></table>\n",
        text(&person.name),
        text(&export.school),
        when(&export.generated_at),
        text(&person.username),
        text(&person.kind),
        optional(&person.group),
        optional(&person.year_group),
        optional(&person.class_name),
        person
            .date_of_birth
            .map(|d| d.strftime("%-d %B %Y").to_string())
            .unwrap_or_default(),
    );
    if !export.notes.is_empty() {
        html += "<h2>Notes</h2>\n<ul>";
        for note in &export.notes {
            html += &format!("<li>{}</li>", text(note));
        }
        html += "</ul>\n";
    }
    html += &format!("<h2>Safeguarding records ({})</h2>\n", export.records.len());
    for record in &export.records {
        let types: Vec<&str> = record
            .types
            .iter()
            .map(|t| IncidentType::label_for(t))
            .collect();
        html += &format!(
            "<section><h3>Record {}: {}</h3>\n<table>\
             <tr><th>Type of record</th><td>{}</td></tr><tr><th>Status</th><td>{}</td></tr>\
             <tr><th>Incident types</th><td>{}</td></tr><tr><th>Reported</th><td>{} by {}, recorded by {}</td></tr>\
             <tr><th>Happened</th><td>{} ({})</td></tr><tr><th>In their own words</th><td>{}</td></tr>\
             <tr><th>Observed, heard and told</th><td>{}</td></tr><tr><th>Websites</th><td>{}</td></tr>\
             <tr><th>Apps and games</th><td>{}</td></tr><tr><th>Online names</th><td>{}</td></tr>\
             <tr><th>Evidence</th><td>{}</td></tr><tr><th>Handed to</th><td>{}</td></tr>\
             <tr><th>Outcome</th><td>{}</td></tr><tr><th>Reason for no referral</th><td>{}</td></tr>\
             <tr><th>Closed</th><td>{}</td></tr></table>\n",
            record.id,
            text(&record.summary),
            text(RecordType::label_for(&record.record_type)),
            text(&record.status),
            text(&types.join("; ")),
            when(&record.reported_at),
            text(&record.reporter),
            text(&record.recorded_by),
            maybe(&record.incident_at),
            text(Location::label_for(&record.location)),
            text(&record.disclosure),
            text(&record.observations),
            text(&record.websites),
            text(&record.apps_games),
            text(&record.online_names),
            text(&record.evidence_description),
            optional(&record.handed_to),
            optional(&record.outcome),
            optional(&record.no_referral_reason),
            maybe(&record.closed_at),
        );
        html += "<h4>People involved</h4>\n<ul>";
        for person in &record.people {
            html += &format!(
                "<li>{}: {}, {}</li>",
                text(&person.name),
                text(PersonRole::label_for(&person.person_role)),
                text(Involvement::label_for(&person.involvement)),
            );
        }
        html += "</ul>\n<h4>Actions</h4>\n<ul>";
        for action in &record.actions {
            html += &format!(
                "<li>{}: {} ({}) {}</li>",
                when(&action.at),
                text(ActionKind::label_for(&action.kind)),
                text(&action.by),
                text(&action.note),
            );
        }
        for sanction in &record.sanctions {
            html += &format!(
                "<li>{} from {} until {}{}</li>",
                text(SanctionKind::label_for(&sanction.kind)),
                when(&sanction.starts_at),
                when(&sanction.until),
                sanction
                    .lifted_at
                    .map(|at| format!(", lifted {}", when(&at)))
                    .unwrap_or_default(),
            );
        }
        html += "</ul></section>\n";
    }
    html += &format!(
        "<h2>Monitoring alerts ({})</h2>\n<table><tr><th>Alert</th><th>From</th><th>To</th>\
         <th>Category</th><th>Severity</th><th>Status</th><th>Matched</th></tr>\n",
        export.alerts.len()
    );
    for alert in &export.alerts {
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            alert.id,
            when(&alert.first_at),
            when(&alert.last_at),
            text(&alert.category),
            alert.severity,
            text(&alert.status),
            text(&alert.matched_text),
        );
    }
    html += &format!(
        "</table>\n<h2>Browsing activity ({})</h2>\n<table><tr><th>When</th><th>Site</th>\
         <th>Decision</th><th>Category</th><th>Device</th></tr>\n",
        export.activity.len()
    );
    for event in &export.activity {
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            when(&event.at),
            event
                .url
                .as_deref()
                .map_or_else(|| text(&event.host), escape_html),
            text(&event.decision),
            optional(&event.category),
            optional(&event.device),
        );
    }
    html += "</table>\n</body></html>\n";
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// An export whose strings are taken in turn from `strings` (repeating the last when they
    /// run out), so a test can put anything into every field.
    fn export_from(strings: &[String]) -> SubjectAccessExport {
        let mut next = {
            let mut iter = strings.iter().cycle();
            move || iter.next().cloned().unwrap_or_default()
        };
        SubjectAccessExport {
            generated_at: at("2025-07-18T14:30:00Z"),
            school: next(),
            person: PersonDetails {
                username: next(),
                name: next(),
                kind: next(),
                group: Some(next()),
                year_group: Some(next()),
                class_name: Some(next()),
                date_of_birth: Some(jiff::civil::date(2014, 2, 28)),
            },
            records: vec![RecordExport {
                id: 3,
                record_type: next(),
                status: next(),
                recorded_by: next(),
                reporter: next(),
                reported_at: at("2025-03-01T09:00:00Z"),
                incident_at: Some(at("2025-02-28T19:00:00Z")),
                location: next(),
                types: vec![next(), next()],
                summary: next(),
                people: vec![
                    PersonExport {
                        person_role: next(),
                        involvement: next(),
                        name: next(),
                        username: Some(next()),
                    },
                    PersonExport {
                        person_role: next(),
                        involvement: next(),
                        name: next(),
                        username: None,
                    },
                ],
                disclosure: next(),
                observations: next(),
                websites: next(),
                apps_games: next(),
                online_names: next(),
                evidence_description: next(),
                handed_to: Some(next()),
                actions: vec![ActionExport {
                    kind: next(),
                    at: at("2025-03-01T10:00:00Z"),
                    by: next(),
                    note: next(),
                }],
                sanctions: vec![SanctionExport {
                    kind: next(),
                    starts_at: at("2025-03-01T10:00:00Z"),
                    until: at("2025-03-03T10:00:00Z"),
                    lifted_at: Some(at("2025-03-02T10:00:00Z")),
                }],
                outcome: Some(next()),
                no_referral_reason: Some(next()),
                closed_at: None,
            }],
            alerts: vec![AlertExport {
                id: 9,
                first_at: at("2025-02-28T19:00:00Z"),
                last_at: at("2025-02-28T19:05:00Z"),
                category: next(),
                severity: 4,
                status: next(),
                matched_text: next(),
            }],
            activity: vec![ActivityExport {
                at: at("2025-02-28T19:00:00Z"),
                host: next(),
                url: Some(next()),
                decision: next(),
                category: Some(next()),
                device: None,
            }],
            notes: vec![next()],
        }
    }

    fn example() -> SubjectAccessExport {
        let mut export = export_from(&["x".to_owned()]);
        export.person.username = "ada.e".into();
        export.person.name = "Ada Example".into();
        let record = &mut export.records[0];
        record.reporter = "Bea Friend's mum".into();
        record.people = vec![
            PersonExport {
                person_role: "pupil".into(),
                involvement: "affected".into(),
                name: "Ada Example".into(),
                username: Some("ada.e".into()),
            },
            PersonExport {
                person_role: "pupil".into(),
                involvement: "responsible".into(),
                name: "Cal Other".into(),
                username: Some("cal.o".into()),
            },
            PersonExport {
                person_role: "parent-carer".into(),
                involvement: "witness".into(),
                name: "Dee Parent".into(),
                username: None,
            },
            PersonExport {
                person_role: "staff".into(),
                involvement: "witness".into(),
                name: "Mr Evans".into(),
                username: Some("evans".into()),
            },
            PersonExport {
                person_role: "staff".into(),
                involvement: "responsible".into(),
                name: "Ms Fox".into(),
                username: None,
            },
        ];
        record.disclosure =
            "CAL OTHER sent it, then cal.o said Mr Evans saw. Ms Foxley too; Dee Parent rang."
                .into();
        export
    }

    #[test]
    fn third_parties_are_described_and_staff_who_acted_stay_named() {
        let mut export = example();
        export.redact_third_parties();
        export.redact_third_parties();
        let record = &export.records[0];
        let names: Vec<&str> = record.people.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Ada Example",
                "another pupil",
                "a parent or carer",
                "Mr Evans",
                "a member of staff"
            ]
        );
        assert_eq!(record.people[1].username, None);
        assert_eq!(record.people[0].username.as_deref(), Some("ada.e"));
        assert_eq!(
            record.disclosure,
            "another pupil sent it, then another pupil said Mr Evans saw. Ms Foxley too; a parent or carer rang."
        );
        assert_eq!(record.reporter, "the person who reported it");
        assert_eq!(
            export.notes.iter().filter(|n| *n == REDACTION_NOTE).count(),
            1
        );
    }

    #[test]
    fn a_reporter_who_is_named_staff_or_the_person_is_kept() {
        let mut export = example();
        export.records[0].reporter = "mr evans".into();
        export.redact_third_parties();
        assert_eq!(export.records[0].reporter, "mr evans");
    }

    #[test]
    fn the_page_shows_labels_and_escapes_what_it_is_given() {
        let mut export = example();
        export.records[0].record_type = "child-protection".into();
        export.records[0].types = vec!["grooming".into(), "made-up".into()];
        export.person.name = "<script>alert('x')</script>".into();
        let html = render_html(&export);
        assert!(html.contains("Child-protection record"));
        assert!(html.contains("Grooming; made-up"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("1 March 2025, 09:00"), "GMT in winter");
        assert!(html.contains("28 February 2014"));
    }

    #[test]
    fn the_export_reads_back_as_written() {
        let export = example();
        let json = serde_json::to_string(&export).unwrap();
        assert_eq!(
            serde_json::from_str::<SubjectAccessExport>(&json).unwrap(),
            export
        );
    }

    fn strip_angle_brackets(export: &SubjectAccessExport) -> SubjectAccessExport {
        fn walk(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::String(s) => *s = s.replace('<', ""),
                serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
                serde_json::Value::Object(map) => map.values_mut().for_each(walk),
                _ => {}
            }
        }
        let mut value = serde_json::to_value(export).unwrap();
        walk(&mut value);
        serde_json::from_value(value).unwrap()
    }

    proptest! {
        #[test]
        fn escaping_leaves_no_markup_and_loses_nothing(text in ".*") {
            let escaped = escape_html(&text);
            prop_assert!(!escaped.contains(['<', '>', '"', '\'']));
            let back = escaped
                .replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"")
                .replace("&#39;", "'").replace("&amp;", "&");
            prop_assert_eq!(back, text);
        }

        #[test]
        fn no_angle_bracket_from_any_field_reaches_the_page(
            strings in proptest::collection::vec(prop_oneof!["[<>&\"' a-z/]{0,12}", ".{0,12}"], 1..60),
        ) {
            let export = export_from(&strings);
            let with = render_html(&export);
            let without = render_html(&strip_angle_brackets(&export));
            prop_assert_eq!(with.matches('<').count(), without.matches('<').count());
        }

        #[test]
        fn redaction_never_panics_and_keeps_the_subject(strings in proptest::collection::vec(".{0,12}", 1..60)) {
            let mut export = export_from(&strings);
            let subject = export.person.clone();
            export.redact_third_parties();
            prop_assert_eq!(export.person, subject);
        }
    }
}
