//! The policy as plain data: what the configuration crate builds and the engine compiles.
//!
//! Nothing here is checked on construction; [`crate::Engine::new`] checks a spec as a whole,
//! because a spec can be built by any caller and must not be trusted just for having a type.

use std::fmt;

use hedgerow_lists::{CategoryKind, Host, taxonomy};
use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

/// Everything one school's filtering depends on.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    /// The school's short key, e.g. `oakfield`.
    pub school: String,
    pub school_name: String,
    /// Schedules and "school days" are read in this zone (Europe/London by default).
    pub time_zone: TimeZone,
    pub terms: Vec<Term>,
    pub closures: Vec<Closure>,
    pub schedules: Vec<ScheduleSpec>,
    pub groups: Vec<GroupSpec>,
    /// The group for clients nobody can identify. Must name one of `groups`.
    pub unknown_group: String,
    pub overrides: Vec<SiteOverride>,
    pub sanctions: Vec<Sanction>,
    /// Search engines that cannot be locked to safe search (names; subdomains included).
    /// [`crate::safesearch::DEFAULT_UNSAFE_ENGINES`] unless the school says otherwise.
    pub unsafe_search_engines: Vec<String>,
    /// The person pupils and staff are told to speak to about online safety, by name (shown on
    /// the block page).
    pub online_safety_lead: Option<String>,
    /// How to reach them: an email address, a room, an extension.
    pub online_safety_contact: Option<String>,
}

/// A school term, first and last day inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub name: String,
    pub start: Date,
    pub end: Date,
}

/// Days inside a term when the school is closed (INSET days, bank holidays), inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub start: Date,
    pub end: Date,
    pub reason: String,
}

/// A named stretch of the week, such as `lunch` or `after-school`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub key: String,
    /// Days of the week the schedule runs on; empty means every day.
    pub weekdays: Vec<Weekday>,
    /// Only on school days: Monday to Friday, inside a term, and not a closure.
    pub school_days: bool,
    /// Times of day in the school's zone; empty means all day.
    pub times: Vec<TimeRange>,
}

/// From `start` up to but not including `end`, in local time. `end` of [`Time::MAX`] stands
/// for midnight at the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Time,
    pub end: Time,
}

impl TimeRange {
    /// Reads `"12:00-13:00"` (24-hour clock; `24:00` is midnight at the end of the day).
    /// The error is a sentence saying how to write it.
    pub fn parse(text: &str) -> Result<TimeRange, String> {
        let bad =
            || format!("{text:?} is not a time range; write e.g. \"12:00-13:00\" (24-hour clock)");
        let (start, end) = text.split_once('-').ok_or_else(bad)?;
        let parse = |t: &str| -> Option<Time> {
            let t = t.trim();
            if t == "24:00" {
                return Some(Time::MAX);
            }
            let (hour, minute) = t.split_once(':')?;
            if hour.len() > 2 || minute.len() != 2 {
                return None;
            }
            Time::new(hour.parse().ok()?, minute.parse().ok()?, 0, 0).ok()
        };
        let (Some(start), Some(end)) = (parse(start), parse(end)) else {
            return Err(bad());
        };
        if start == Time::MAX || end <= start {
            return Err(format!(
                "{text:?} ends before it starts; write the earlier time first, e.g. \"12:00-13:00\""
            ));
        }
        Ok(TimeRange { start, end })
    }

    pub fn contains(&self, time: Time) -> bool {
        self.start <= time && (time < self.end || self.end == Time::MAX)
    }
}

/// Who a group is for. Pupil groups set the floor for how strict the unknown-client group
/// must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    Pupil,
    Staff,
    Visitor,
    /// Clients that could not be identified.
    Unidentified,
}

impl GroupKind {
    /// The kind as the configuration file and the API write it.
    pub fn key(self) -> &'static str {
        match self {
            GroupKind::Pupil => "pupil",
            GroupKind::Staff => "staff",
            GroupKind::Visitor => "visitor",
            GroupKind::Unidentified => "unidentified",
        }
    }
}

/// A filtering group, such as `ks2` or `staff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub key: String,
    /// How the group is named in sentences, e.g. "KS2 pupils".
    pub name: String,
    pub kind: GroupKind,
    pub actions: Vec<(Selector, Action)>,
    /// For anything no action covers, including sites on no list at all.
    pub default: Action,
    /// Safe search, YouTube Restricted Mode and unlockable engines for this group.
    pub search: crate::safesearch::SearchSettings,
    /// What the web proxy does beyond allowing and blocking: inspection, file types, sizes.
    pub web: WebSettings,
}

impl GroupSpec {
    /// The action written for exactly this selector, if any.
    pub fn action_for(&self, selector: &Selector) -> Option<(usize, &Action)> {
        self.actions
            .iter()
            .position(|(s, _)| s == selector)
            .map(|at| (at, &self.actions[at].1))
    }

    /// What this group does with a category (without a list-specific action): the category's
    /// own action, else its parent's for a named service, else the group default.
    pub fn resolve_category(&self, category_key: &str) -> (Via, &Action) {
        if let Some((at, action)) = self.action_for(&Selector::Category(category_key.to_string())) {
            return (Via::Category(at), action);
        }
        if let Some(parent) = taxonomy::category(category_key).and_then(|c| c.parent)
            && let Some((at, action)) = self.action_for(&Selector::Category(parent.to_string()))
        {
            return (Via::Parent(at), action);
        }
        (Via::Default, &self.default)
    }

    /// What this group does with one list: `list:NAME` first, then as for its category.
    pub fn resolve_list(&self, list_name: &str, category_key: &str) -> (Via, &Action) {
        match self.action_for(&Selector::List(list_name.to_string())) {
            Some((at, action)) => (Via::List(at), action),
            None => self.resolve_category(category_key),
        }
    }
}

/// Which HTTPS sites the web proxy decrypts and inspects for a group (with the school's own
/// certificate authority). Sites that are not inspected are still filtered by host name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InspectScope {
    /// No inspection: the default, and the only choice until the school has a CA.
    #[default]
    Nothing,
    /// Every site (apart from the proxy's never-inspect names and categories).
    All,
    /// Sites in these categories (Hedgerow category keys). A named service is covered by its
    /// parent category too: `streaming` covers `youtube`.
    Categories(Vec<String>),
}

impl InspectScope {
    /// Whether a site in these categories (the categories of every list it is on; empty for a
    /// site on no list) is inspected.
    pub fn covers(&self, categories: &[&str]) -> bool {
        match self {
            InspectScope::Nothing => false,
            InspectScope::All => true,
            InspectScope::Categories(keys) => categories.iter().any(|category| {
                let parent = taxonomy::category(category).and_then(|c| c.parent);
                keys.iter()
                    .any(|key| key == category || parent.is_some_and(|p| p == key))
            }),
        }
    }

    pub fn is_nothing(&self) -> bool {
        matches!(self, InspectScope::Nothing)
    }
}

/// The kinds of download a group can be kept from, by key.
pub const FILE_TYPE_KEYS: &[&str] = &[
    "executables",
    "installers",
    "scripts",
    "disk-images",
    "archives",
];

/// What the web proxy does for a group beyond allowing and blocking sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// Which HTTPS sites are decrypted and inspected.
    pub inspect: InspectScope,
    /// Kinds of download refused (keys from [`FILE_TYPE_KEYS`]), in that list's order.
    pub blocked_file_types: Vec<String>,
    /// Downloads larger than this are refused.
    pub download_limit_bytes: Option<u64>,
}

impl WebSettings {
    /// The file types blocked for pupils and unidentified devices unless a group says otherwise.
    pub const PUPIL_BLOCKED_FILE_TYPES: &[&str] =
        &["executables", "installers", "scripts", "disk-images"];

    /// The defaults for a kind of group: no inspection and no size limit for anyone; pupils
    /// and unidentified devices cannot download programs, installers, scripts or disk images.
    pub fn default_for(kind: GroupKind) -> WebSettings {
        let blocked: &[&str] = match kind {
            GroupKind::Pupil | GroupKind::Unidentified => Self::PUPIL_BLOCKED_FILE_TYPES,
            GroupKind::Staff | GroupKind::Visitor => &[],
        };
        WebSettings {
            inspect: InspectScope::Nothing,
            blocked_file_types: blocked.iter().map(|s| s.to_string()).collect(),
            download_limit_bytes: None,
        }
    }

    /// Whether downloads of this kind (a [`FILE_TYPE_KEYS`] key) are refused.
    pub fn blocks_file_type(&self, key: &str) -> bool {
        self.blocked_file_types.iter().any(|k| k == key)
    }
}

/// Which of a group's settings an action came from. Indexes are into [`GroupSpec::actions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    List(usize),
    Category(usize),
    /// The parent category's action, applied to a named service.
    Parent(usize),
    Default,
}

/// What a group's action is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// A Hedgerow category key, e.g. `gambling` or `youtube`.
    Category(String),
    /// One source list, written `list:NAME`.
    List(String),
}

impl Selector {
    /// Reads `list:NAME` or a category key. Whether the category exists is checked separately.
    pub fn parse(key: &str) -> Selector {
        match key.strip_prefix("list:") {
            Some(name) => Selector::List(name.to_string()),
            None => Selector::Category(key.to_string()),
        }
    }

    /// True for a category of illegal content, which no action can allow.
    pub fn is_illegal_category(&self) -> bool {
        matches!(self, Selector::Category(key)
            if taxonomy::category(key).is_some_and(|c| c.kind == CategoryKind::Illegal))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Category(key) => write!(f, "category:{key}"),
            Selector::List(name) => write!(f, "list:{name}"),
        }
    }
}

/// What a group does with a category or list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Allow,
    Block,
    /// Allowed only while one of these named schedules is running.
    AllowDuring(Vec<String>),
    /// Allowed only for these usernames.
    AllowFor(Vec<String>),
}

impl Action {
    /// The short name used in configuration and rule ids.
    pub fn keyword(&self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::AllowDuring(_) => "allow-during",
            Action::AllowFor(_) => "allow-for",
        }
    }

    /// Whether `self` (the unknown group's action) lets through no more than `pupil` does.
    /// Actions of different shapes cannot be compared, so they count as not strict enough.
    pub fn at_least_as_strict_as(&self, pupil: &Action) -> bool {
        match (self, pupil) {
            (Action::Block, _) | (_, Action::Allow) => true,
            (Action::AllowDuring(mine), Action::AllowDuring(theirs))
            | (Action::AllowFor(mine), Action::AllowFor(theirs)) => mine
                .iter()
                .all(|m| theirs.iter().any(|t| t.eq_ignore_ascii_case(m))),
            _ => false,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Allow | Action::Block => f.write_str(self.keyword()),
            Action::AllowDuring(names) | Action::AllowFor(names) => {
                write!(f, "{} [{}]", self.keyword(), names.join(", "))
            }
        }
    }
}

/// Allowed or blocked.
/// YouTube's Restricted Mode, as the DNS filter and the proxy enforce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YoutubeRestrict {
    Off,
    Moderate,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    Block,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
        }
    }
}

/// A site allowed or blocked by hand, such as a teacher-approved site for one lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteOverride {
    /// A short stable key, used in rule ids and logs.
    pub id: String,
    /// Covers this host and its subdomains.
    pub host: Host,
    /// When set, only paths starting with this (which starts with `/`).
    pub path: Option<String>,
    pub verdict: Verdict,
    /// The groups it applies to; `None` for every group.
    pub groups: Option<Vec<String>>,
    /// Ignored from this instant on.
    pub until: Option<Timestamp>,
    pub by: String,
    pub reason: String,
}

/// A restriction on one user, for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanction {
    pub id: String,
    pub username: String,
    pub kind: SanctionKind,
    /// Ignored from this instant on.
    pub until: Timestamp,
    pub by: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanctionKind {
    /// Every request is blocked.
    NoInternet,
    /// The user is filtered as a member of this (stricter) group.
    Restricted { group: String },
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.end == Time::MAX {
            "24:00".to_string()
        } else {
            format!("{:02}:{:02}", self.end.hour(), self.end.minute())
        };
        write!(
            f,
            "{:02}:{:02}-{end}",
            self.start.hour(),
            self.start.minute()
        )
    }
}

/// Reads a day of the week: `mon` or `monday`, any case.
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let lower = text.trim().to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|(_, _, day)| *day)
}

/// A day's short name, as [`parse_weekday`] reads it.
pub fn weekday_short(day: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(_, _, d)| *d == day)
        .map_or("?", |(short, _, _)| short)
}

const WEEKDAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Monday),
    ("tue", "tuesday", Weekday::Tuesday),
    ("wed", "wednesday", Weekday::Wednesday),
    ("thu", "thursday", Weekday::Thursday),
    ("fri", "friday", Weekday::Friday),
    ("sat", "saturday", Weekday::Saturday),
    ("sun", "sunday", Weekday::Sunday),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_scopes_cover_categories_and_their_services() {
        assert!(!InspectScope::Nothing.covers(&["gambling"]));
        assert!(InspectScope::All.covers(&[]));
        let scope = InspectScope::Categories(vec!["streaming".into(), "chat".into()]);
        assert!(scope.covers(&["chat"]));
        assert!(
            scope.covers(&["news", "youtube"]),
            "a service's parent covers it"
        );
        assert!(!scope.covers(&["news"]));
        assert!(!scope.covers(&[]));
        let youtube_only = InspectScope::Categories(vec!["youtube".into()]);
        assert!(
            !youtube_only.covers(&["streaming"]),
            "a service does not cover its parent"
        );
    }

    #[test]
    fn web_defaults_by_kind() {
        let pupil = WebSettings::default_for(GroupKind::Pupil);
        assert!(pupil.blocks_file_type("executables") && !pupil.blocks_file_type("archives"));
        assert_eq!(pupil, WebSettings::default_for(GroupKind::Unidentified));
        let staff = WebSettings::default_for(GroupKind::Staff);
        assert!(staff.blocked_file_types.is_empty() && staff.inspect.is_nothing());
        assert!(
            WebSettings::PUPIL_BLOCKED_FILE_TYPES
                .iter()
                .all(|k| FILE_TYPE_KEYS.contains(k))
        );
    }
}
