//! A small in-memory list index and school policy shared by the engine tests.

#![allow(dead_code)]

use std::sync::Arc;

use hedgerow_lists::{Entry, IndexBuilder, ListClass, ListIndex, Target, normalize_host};
use hedgerow_policy::*;
use jiff::Timestamp;
use jiff::civil::{Time, Weekday, date, time};
use jiff::tz::TimeZone;

fn domain(text: &str) -> Entry {
    Entry::Domain(normalize_host(text).unwrap())
}

fn prefix(host: &str, path: &str) -> Entry {
    Entry::UrlPrefix {
        host: normalize_host(host).unwrap(),
        path: path.into(),
    }
}

fn exact(host: &str, path: &str) -> Entry {
    Entry::ExactUrl {
        host: normalize_host(host).unwrap(),
        path: path.into(),
    }
}

pub fn index() -> Arc<ListIndex> {
    let mut b = IndexBuilder::new();
    let lists: Vec<(&str, &str, ListClass, Vec<Entry>)> = vec![
        (
            "gambling",
            "gambling",
            ListClass::Category,
            vec![domain("example.com"), domain("bet.example")],
        ),
        (
            "adult",
            "pornography",
            ListClass::Category,
            vec![domain("adult.example")],
        ),
        (
            "games",
            "online-games",
            ListClass::Category,
            vec![domain("games.example"), domain("play.example")],
        ),
        (
            "coolmath",
            "online-games",
            ListClass::Category,
            vec![prefix("coolmath.example", "/games")],
        ),
        (
            "youtube",
            "youtube",
            ListClass::Category,
            vec![domain("youtube.com")],
        ),
        (
            "streaming",
            "streaming",
            ListClass::Category,
            vec![domain("netflix.example")],
        ),
        (
            "education",
            "education",
            ListClass::Category,
            vec![domain("bbc.example"), domain("play.example")],
        ),
        (
            "iwf",
            "illegal-child-abuse",
            ListClass::Illegal,
            vec![
                exact("host.example", "/abuse/page.html"),
                domain("evil.example"),
            ],
        ),
        (
            "ctiru",
            "illegal-terrorism",
            ListClass::Illegal,
            vec![prefix("forum.example", "/t/")],
        ),
    ];
    for (name, category, class, entries) in lists {
        let id = b.add_list(name, category, class).unwrap();
        for entry in &entries {
            b.add(id, entry).unwrap();
        }
    }
    Arc::new(ListIndex::from_vec(b.build().unwrap()).unwrap())
}

pub fn cat(key: &str, action: Action) -> (Selector, Action) {
    (Selector::Category(key.into()), action)
}

pub fn list(name: &str, action: Action) -> (Selector, Action) {
    (Selector::List(name.into()), action)
}

pub fn group(
    key: &str,
    name: &str,
    kind: GroupKind,
    default: Action,
    actions: Vec<(Selector, Action)>,
) -> GroupSpec {
    GroupSpec {
        key: key.into(),
        name: name.into(),
        kind,
        actions,
        default,
        search: SearchSettings::default_for(kind),
        web: WebSettings::default_for(kind),
    }
}

pub fn during(names: &[&str]) -> Action {
    Action::AllowDuring(names.iter().map(|n| n.to_string()).collect())
}

pub fn allow_for(names: &[&str]) -> Action {
    Action::AllowFor(names.iter().map(|n| n.to_string()).collect())
}

/// Oakfield Primary: KS1 and KS2 pupils, staff, visitors, and a strict unknown group.
pub fn spec() -> PolicySpec {
    use Action::*;
    let base = || vec![cat("pornography", Block), cat("gambling", Block)];
    PolicySpec {
        school: "oakfield".into(),
        school_name: "Oakfield Primary".into(),
        time_zone: TimeZone::get("Europe/London").unwrap(),
        terms: vec![
            Term {
                name: "Spring 2026".into(),
                start: date(2026, 1, 5),
                end: date(2026, 4, 2),
            },
            Term {
                name: "Autumn 2026".into(),
                start: date(2026, 9, 2),
                end: date(2026, 12, 18),
            },
        ],
        closures: vec![Closure {
            start: date(2026, 11, 2),
            end: date(2026, 11, 2),
            reason: "INSET day".into(),
        }],
        schedules: vec![
            ScheduleSpec {
                key: "lunch".into(),
                weekdays: vec![],
                school_days: true,
                times: vec![TimeRange {
                    start: time(12, 0, 0, 0),
                    end: time(13, 0, 0, 0),
                }],
            },
            ScheduleSpec {
                key: "always".into(),
                weekdays: vec![
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                    Weekday::Saturday,
                    Weekday::Sunday,
                ],
                school_days: false,
                times: vec![TimeRange {
                    start: Time::MIN,
                    end: Time::MAX,
                }],
            },
        ],
        groups: vec![
            group("ks1", "KS1 pupils", GroupKind::Pupil, Allow, {
                let mut a = base();
                a.extend([
                    cat("online-games", Block),
                    cat("streaming", Block),
                    list("coolmath", Allow),
                ]);
                a
            }),
            group("ks2", "KS2 pupils", GroupKind::Pupil, Allow, {
                let mut a = base();
                a.extend([
                    cat("online-games", during(&["lunch"])),
                    cat("streaming", Block),
                    cat("youtube", allow_for(&["j.bloggs"])),
                ]);
                a
            }),
            group("staff", "staff", GroupKind::Staff, Allow, base()),
            group("visitors", "visitors", GroupKind::Visitor, Allow, base()),
            group(
                "unknown",
                "unidentified devices",
                GroupKind::Unidentified,
                Block,
                vec![cat("education", Allow)],
            ),
        ],
        unknown_group: "unknown".into(),
        overrides: vec![],
        sanctions: vec![],
        unsafe_search_engines: hedgerow_policy::safesearch::DEFAULT_UNSAFE_ENGINES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        online_safety_lead: Some("Mrs Online-Safety Lead".into()),
        online_safety_contact: None,
    }
}

pub fn engine(spec: PolicySpec) -> Engine {
    Engine::new(spec, index()).unwrap()
}

pub fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub fn target(text: &str) -> Target {
    Target::parse(text).unwrap()
}

/// A Monday lunchtime in term (12:30 GMT).
pub const LUNCH: &str = "2026-03-23T12:30:00Z";
/// The same Monday, in lessons (10:00 GMT).
pub const LESSONS: &str = "2026-03-23T10:00:00Z";

pub struct Ask<'e> {
    pub engine: &'e Engine,
    pub group: &'e str,
    pub user: Option<&'e str>,
    pub at: Timestamp,
}

impl Ask<'_> {
    /// (allowed, rule id) for a URL or host.
    pub fn check(&self, url: &str) -> (bool, String) {
        let t = target(url);
        let d = self.engine.decide(&Request {
            group: self.group,
            user: self.user,
            device: None,
            target: &t,
            at: self.at,
        });
        (d.is_allowed(), d.rule_id())
    }

    pub fn allowed(&self, url: &str) -> bool {
        self.check(url).0
    }

    pub fn reason(&self, url: &str) -> String {
        let t = target(url);
        let d = self.engine.decide(&Request {
            group: self.group,
            user: self.user,
            device: None,
            target: &t,
            at: self.at,
        });
        d.reason()
    }
}

pub fn ask<'e>(engine: &'e Engine, group: &'e str, user: Option<&'e str>, when: &str) -> Ask<'e> {
    Ask {
        engine,
        group,
        user,
        at: at(when),
    }
}
