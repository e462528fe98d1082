//! Changes to a school's policy made after the configuration file, under change control.
//!
//! The TOML configuration is the base. Everything the admin app changes (a site allowed for a
//! lesson, a category action, a sanction) is a [`PolicyChange`]: plain data, stored with who
//! made it, when, why and the difference it made, and applied in order on top of the
//! configured [`PolicySpec`] each time the gateway builds its engine snapshot.
//!
//! * [`PolicyChange::apply`] changes a spec, then runs the same whole-spec checks the engine
//!   runs ([`crate::validate`]). A change that would allow an illegal-content category is
//!   refused with [`ChangeError::Illegal`]; whatever a change says, the engine still checks
//!   the illegal lists first.
//! * [`PolicyChange::describe_diff`] says what the change does to a spec, in one line such as
//!   `ks2: gambling block → allow`.
//! * [`PolicyChange::kind`] sorts a change into a [`ChangeKind`], which the school's approval
//!   rules are written in (for example "`unblock-for-pupils` needs a second person").
//!
//! Changes are serialised as JSON (`serde`), tagged by `type`:
//! `{"type":"site-override","host":"example.org","verdict":"allow","groups":["ks2"],"until":"2025-03-01T12:00:00Z"}`.
//!
//! This module does no I/O.

use std::fmt;

use hedgerow_lists::{Host, Target};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::spec::{
    Action, GroupKind, GroupSpec, PolicySpec, Sanction, SanctionKind, ScheduleSpec, Selector,
    SiteOverride, TimeRange, Verdict,
};

/// One change to a school's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PolicyChange {
    /// Allow or block a site (and its subdomains), or a site and path prefix, for some groups
    /// (every group when `groups` is absent), until a moment or for good. Replaces any override
    /// with exactly the same site, path and groups.
    SiteOverride {
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        verdict: ChangeVerdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        groups: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
    },
    /// Removes a site override by id (one from the configuration, or `change-N`).
    RemoveOverride { id: String },
    /// A sanction on one user until a moment: no internet at all, or filtered as a stricter
    /// group (`filter_as`).
    Sanction {
        username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter_as: Option<String>,
        until: Timestamp,
    },
    /// Ends a sanction early, by id.
    LiftSanction { id: String },
    /// Sets what a group does with a category or list (`list:NAME`); `action` absent removes
    /// the group's own action, so the parent category or the group default applies again.
    CategoryAction {
        group: String,
        selector: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<ChangeAction>,
    },
    /// Sets a group's default action (for anything no category action covers).
    GroupDefault { group: String, action: ChangeAction },
    /// Sets a named schedule's days and times, creating it if it is new. Days as `mon` or
    /// `monday` (none: every day); times as `12:00-13:00` (none: all day); `school_days`
    /// limits it to term-time weekdays that are not closures.
    Schedule {
        key: String,
        #[serde(default)]
        days: Vec<String>,
        #[serde(default)]
        school_days: bool,
        #[serde(default)]
        times: Vec<String>,
    },
    /// Tunes the monitoring risk libraries for this school: switches an entry off, gives it
    /// another severity, or adds the school's own entry. Filtering is untouched; the monitor
    /// reads these from the change log. Switching an entry back on is reverting the change.
    RiskEntry { entry: String, tuning: RiskTuning },
}

/// What a [`PolicyChange::RiskEntry`] does to its entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum RiskTuning {
    /// The entry no longer raises alerts.
    Disable,
    /// The entry's severity, 1 (advisory) to 5 (imminent risk).
    Severity(u8),
    /// A new entry of the school's own, matching any of `phrases`.
    Add {
        category: String,
        severity: u8,
        language: String,
        phrases: Vec<String>,
    },
}

/// The longest risk entry id and phrase a change may carry.
const MAX_RISK_TEXT: usize = 200;

/// Allow or block, as a change writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeVerdict {
    Allow,
    Block,
}

impl From<ChangeVerdict> for Verdict {
    fn from(v: ChangeVerdict) -> Verdict {
        match v {
            ChangeVerdict::Allow => Verdict::Allow,
            ChangeVerdict::Block => Verdict::Block,
        }
    }
}

/// A group's action, as a change writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeAction {
    Allow,
    Block,
    /// Allowed while one of these schedules runs.
    AllowDuring(Vec<String>),
    /// Allowed for these usernames only.
    AllowFor(Vec<String>),
}

impl From<&ChangeAction> for Action {
    fn from(a: &ChangeAction) -> Action {
        match a {
            ChangeAction::Allow => Action::Allow,
            ChangeAction::Block => Action::Block,
            ChangeAction::AllowDuring(s) => Action::AllowDuring(s.clone()),
            ChangeAction::AllowFor(u) => Action::AllowFor(u.clone()),
        }
    }
}

/// The kinds of change the approval rules are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// Anything that lets pupils (or unidentified devices) reach more than before.
    UnblockForPupils,
    /// A site blocked by hand.
    Block,
    /// Other site overrides (allowing for staff or visitors, removing an override).
    Override,
    /// Sanctions on a user, and lifting them.
    Sanction,
    /// Category and default actions that do not loosen pupils' filtering.
    CategoryAction,
    /// A schedule's days and times, where no pupils' group allows anything by it.
    Schedule,
    /// Monitoring's risk libraries tuned: an entry switched off, re-rated or added.
    RiskLibrary,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 7] = [
        ChangeKind::UnblockForPupils,
        ChangeKind::Block,
        ChangeKind::Override,
        ChangeKind::Sanction,
        ChangeKind::CategoryAction,
        ChangeKind::Schedule,
        ChangeKind::RiskLibrary,
    ];

    /// The key used in approval rules and the change log.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::UnblockForPupils => "unblock-for-pupils",
            ChangeKind::Block => "block",
            ChangeKind::Override => "override",
            ChangeKind::Sanction => "sanction",
            ChangeKind::CategoryAction => "category-action",
            ChangeKind::Schedule => "schedule",
            ChangeKind::RiskLibrary => "risk-library",
        }
    }

    pub fn parse(key: &str) -> Option<ChangeKind> {
        ChangeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == key.trim())
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made an applied change, and under which id: the id becomes the override's or
/// sanction's id (`change-12`), so rules and logs name the change that decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeStamp {
    pub id: String,
    pub by: String,
    pub reason: String,
}

/// Why a change cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("{0} is illegal content, which is always blocked and cannot be allowed by any change")]
    Illegal(String),
    #[error("there is no group {0:?}; use one of the school's group keys")]
    UnknownGroup(String),
    #[error("{0:?} is not a Hedgerow category; use a category key or list:NAME")]
    UnknownCategory(String),
    #[error("{0:?} is not a site name or address: {1}")]
    BadHost(String, String),
    #[error("the path {0:?} must start with /")]
    BadPath(String),
    #[error("there is no {what} with id {id:?}")]
    NotFound { what: &'static str, id: String },
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("the policy would not be valid after this change: {0}")]
    Invalid(String),
    #[error("the change cannot be read: {0}")]
    Unreadable(String),
}

impl PolicyChange {
    /// The JSON form stored in the change log.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_string())
    }

    pub fn from_json(text: &str) -> Result<PolicyChange, ChangeError> {
        serde_json::from_str(text).map_err(|e| ChangeError::Unreadable(e.to_string()))
    }

    /// When the change stops applying by itself, if it does.
    pub fn until(&self) -> Option<Timestamp> {
        match self {
            PolicyChange::SiteOverride { until, .. } => *until,
            PolicyChange::Sanction { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// Applies the change to `spec`, then checks the spec as a whole. On error the spec may be
    /// half-changed: apply to a clone and keep it only on success.
    pub fn apply(&self, spec: &mut PolicySpec, stamp: &ChangeStamp) -> Result<(), ChangeError> {
        match self {
            // Filtering is untouched; the shape is checked so that nothing unusable is logged.
            PolicyChange::RiskEntry { entry, tuning } => return check_risk_entry(entry, tuning),
            PolicyChange::SiteOverride {
                host,
                path,
                verdict,
                groups,
                until,
            } => {
                let (parsed, path) = site(host, path)?;
                let groups = normalise_groups(groups);
                for g in groups.iter().flatten() {
                    group(spec, g)?;
                }
                spec.overrides.retain(|o| {
                    !(o.host == parsed && o.path == path && same_groups(&o.groups, &groups))
                });
                spec.overrides.push(SiteOverride {
                    id: stamp.id.clone(),
                    host: parsed,
                    path,
                    verdict: (*verdict).into(),
                    groups,
                    until: *until,
                    by: stamp.by.clone(),
                    reason: stamp.reason.clone(),
                });
            }
            PolicyChange::RemoveOverride { id } => {
                let at = spec
                    .overrides
                    .iter()
                    .position(|o| &o.id == id)
                    .ok_or_else(|| ChangeError::NotFound {
                        what: "site override",
                        id: id.clone(),
                    })?;
                spec.overrides.remove(at);
            }
            PolicyChange::Sanction {
                username,
                filter_as,
                until,
            } => {
                if username.trim().is_empty() {
                    return Err(ChangeError::Empty("the username"));
                }
                let kind = match filter_as {
                    Some(g) => {
                        group(spec, g)?;
                        SanctionKind::Restricted { group: g.clone() }
                    }
                    None => SanctionKind::NoInternet,
                };
                spec.sanctions.push(Sanction {
                    id: stamp.id.clone(),
                    username: username.trim().to_string(),
                    kind,
                    until: *until,
                    by: stamp.by.clone(),
                    reason: stamp.reason.clone(),
                });
            }
            PolicyChange::LiftSanction { id } => {
                let at = spec
                    .sanctions
                    .iter()
                    .position(|s| &s.id == id)
                    .ok_or_else(|| ChangeError::NotFound {
                        what: "sanction",
                        id: id.clone(),
                    })?;
                spec.sanctions.remove(at);
            }
            PolicyChange::CategoryAction {
                group: key,
                selector,
                action,
            } => {
                let selector = checked_selector(selector)?;
                if selector.is_illegal_category() && action.as_ref() != Some(&ChangeAction::Block) {
                    return Err(ChangeError::Illegal(selector.to_string()));
                }
                let group = group_mut(spec, key)?;
                let at = group.actions.iter().position(|(s, _)| *s == selector);
                match (action, at) {
                    (Some(action), Some(at)) => group.actions[at].1 = action.into(),
                    (Some(action), None) => group.actions.push((selector, action.into())),
                    (None, Some(at)) => {
                        group.actions.remove(at);
                    }
                    (None, None) => {}
                }
            }
            PolicyChange::GroupDefault { group: key, action } => {
                group_mut(spec, key)?.default = action.into();
            }
            PolicyChange::Schedule {
                key,
                days,
                school_days,
                times,
            } => {
                let schedule = schedule_spec(key, days, *school_days, times)?;
                if schedule.school_days && spec.terms.is_empty() {
                    return Err(ChangeError::Invalid(
                        "school days need term dates, and this school lists none; add terms to the configuration or leave school days off".into(),
                    ));
                }
                match spec.schedules.iter_mut().find(|s| s.key == schedule.key) {
                    Some(existing) => *existing = schedule,
                    None => spec.schedules.push(schedule),
                }
            }
        }
        let problems = crate::validate(spec);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ChangeError::Invalid(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ))
        }
    }

    /// Which kind of change this is for the approval rules, judged against the spec it would
    /// change (which groups are pupils', what an action was before).
    pub fn kind(&self, before: &PolicySpec) -> ChangeKind {
        let for_pupils = |groups: &Option<Vec<String>>| match groups {
            None => true,
            Some(keys) => keys
                .iter()
                .any(|k| before.groups.iter().any(|g| &g.key == k && is_pupilish(g))),
        };
        match self {
            PolicyChange::SiteOverride {
                verdict: ChangeVerdict::Block,
                ..
            } => ChangeKind::Block,
            PolicyChange::SiteOverride { groups, .. } => {
                if for_pupils(groups) {
                    ChangeKind::UnblockForPupils
                } else {
                    ChangeKind::Override
                }
            }
            PolicyChange::RemoveOverride { id } => {
                match before.overrides.iter().find(|o| &o.id == id) {
                    Some(o) if o.verdict == Verdict::Block && for_pupils(&o.groups) => {
                        ChangeKind::UnblockForPupils
                    }
                    _ => ChangeKind::Override,
                }
            }
            PolicyChange::Sanction { .. } | PolicyChange::LiftSanction { .. } => {
                ChangeKind::Sanction
            }
            PolicyChange::CategoryAction {
                group,
                selector,
                action,
            } => {
                let Some(g) = before.groups.iter().find(|g| &g.key == group) else {
                    return ChangeKind::CategoryAction;
                };
                let selector = Selector::parse(selector);
                let old = current_action(g, &selector).1.clone();
                let new = match action {
                    Some(a) => Action::from(a),
                    None => {
                        let mut without = g.clone();
                        without.actions.retain(|(s, _)| *s != selector);
                        current_action(&without, &selector).1.clone()
                    }
                };
                if is_pupilish(g) && !new.at_least_as_strict_as(&old) {
                    ChangeKind::UnblockForPupils
                } else {
                    ChangeKind::CategoryAction
                }
            }
            PolicyChange::GroupDefault { group, action } => {
                match before.groups.iter().find(|g| &g.key == group) {
                    Some(g)
                        if is_pupilish(g)
                            && !Action::from(action).at_least_as_strict_as(&g.default) =>
                    {
                        ChangeKind::UnblockForPupils
                    }
                    _ => ChangeKind::CategoryAction,
                }
            }
            // Whether new times widen or narrow what pupils reach cannot be judged in general,
            // so a schedule any pupils' group allows something by counts as unblocking.
            PolicyChange::RiskEntry { .. } => ChangeKind::RiskLibrary,
            PolicyChange::Schedule { key, .. } => {
                let uses = |a: &Action| matches!(a, Action::AllowDuring(keys) if keys.iter().any(|k| k == key.trim()));
                if before.groups.iter().any(|g| {
                    is_pupilish(g) && (uses(&g.default) || g.actions.iter().any(|(_, a)| uses(a)))
                }) {
                    ChangeKind::UnblockForPupils
                } else {
                    ChangeKind::Schedule
                }
            }
        }
    }

    /// The difference this change makes to `before`, in one readable line.
    pub fn describe_diff(&self, before: &PolicySpec) -> String {
        let group_name = |key: &str| {
            before
                .groups
                .iter()
                .find(|g| g.key == key)
                .map(|g| g.key.clone())
                .unwrap_or_else(|| format!("{key} (unknown group)"))
        };
        match self {
            PolicyChange::SiteOverride {
                host,
                path,
                verdict,
                groups,
                until,
            } => {
                let shown_site = format!("{}{}", host.trim(), path.as_deref().unwrap_or(""));
                let who = describe_groups(&normalise_groups(groups));
                let when = match until {
                    Some(t) => format!(" until {}", local(before, *t)),
                    None => " permanently".to_string(),
                };
                let verb = match verdict {
                    ChangeVerdict::Allow => "allow",
                    ChangeVerdict::Block => "block",
                };
                let replaced = site(host, path).ok().and_then(|(h, p)| {
                    let g = normalise_groups(groups);
                    before
                        .overrides
                        .iter()
                        .find(|o| o.host == h && o.path == p && same_groups(&o.groups, &g))
                });
                match replaced {
                    Some(o) => format!(
                        "site {shown_site} for {who}: {} (override {}) → {verb}{when}",
                        o.verdict.as_str(),
                        o.id
                    ),
                    None => format!("site {shown_site} for {who}: (lists) → {verb}{when}"),
                }
            }
            PolicyChange::RemoveOverride { id } => {
                match before.overrides.iter().find(|o| &o.id == id) {
                    Some(o) => format!(
                        "remove override {id}: site {}{} for {}: {} → (lists)",
                        o.host,
                        o.path.as_deref().unwrap_or(""),
                        describe_groups(&o.groups),
                        o.verdict.as_str()
                    ),
                    None => format!("remove override {id} (not found)"),
                }
            }
            PolicyChange::Sanction {
                username,
                filter_as,
                until,
            } => {
                let what = match filter_as {
                    Some(g) => format!("filtered as {}", group_name(g)),
                    None => "no internet".to_string(),
                };
                format!(
                    "sanction on {}: none → {what} until {}",
                    username.trim(),
                    local(before, *until)
                )
            }
            PolicyChange::LiftSanction { id } => {
                match before.sanctions.iter().find(|s| &s.id == id) {
                    Some(s) => {
                        let what = match &s.kind {
                            SanctionKind::NoInternet => "no internet".to_string(),
                            SanctionKind::Restricted { group } => format!("filtered as {group}"),
                        };
                        format!("sanction {id} on {}: {what} → lifted", s.username)
                    }
                    None => format!("lift sanction {id} (not found)"),
                }
            }
            PolicyChange::CategoryAction {
                group,
                selector,
                action,
            } => {
                let sel = Selector::parse(selector);
                let shown = match &sel {
                    Selector::Category(k) => k.clone(),
                    Selector::List(_) => sel.to_string(),
                };
                let Some(g) = before.groups.iter().find(|g| &g.key == group) else {
                    return format!("{}: {shown} → {}", group_name(group), show(action));
                };
                let (inherited, old) = current_action(g, &sel);
                let old = if inherited {
                    format!("{old} (inherited)")
                } else {
                    old.to_string()
                };
                let new = match action {
                    Some(a) => Action::from(a).to_string(),
                    None => {
                        let mut without = g.clone();
                        without.actions.retain(|(s, _)| *s != sel);
                        format!("{} (inherited)", current_action(&without, &sel).1)
                    }
                };
                format!("{}: {shown} {old} → {new}", g.key)
            }
            PolicyChange::GroupDefault { group, action } => {
                match before.groups.iter().find(|g| &g.key == group) {
                    Some(g) => format!(
                        "{}: default {} → {}",
                        g.key,
                        g.default,
                        Action::from(action)
                    ),
                    None => format!("{}: default → {}", group_name(group), Action::from(action)),
                }
            }
            PolicyChange::Schedule {
                key,
                days,
                school_days,
                times,
            } => {
                let new = match schedule_spec(key, days, *school_days, times) {
                    Ok(s) => describe_schedule(&s),
                    Err(e) => format!("(not valid: {e})"),
                };
                match before.schedules.iter().find(|s| s.key == key.trim()) {
                    Some(old) => {
                        format!("schedule {}: {} → {new}", old.key, describe_schedule(old))
                    }
                    None => format!("schedule {} (new): {new}", key.trim()),
                }
            }
            PolicyChange::RiskEntry { entry, tuning } => match tuning {
                RiskTuning::Disable => format!("risk library: {entry} switched off"),
                RiskTuning::Severity(n) => format!("risk library: {entry} severity → {n}"),
                RiskTuning::Add {
                    category,
                    severity,
                    phrases,
                    ..
                } => format!(
                    "risk library: new entry {entry} ({category}, severity {severity}): {}",
                    phrases.join(" | ")
                ),
            },
        }
    }
}

/// A risk library change's shape: whether the entry exists is the monitor's to say.
fn check_risk_entry(entry: &str, tuning: &RiskTuning) -> Result<(), ChangeError> {
    let well_formed = |text: &str| {
        !text.is_empty()
            && text.len() <= MAX_RISK_TEXT
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    if !well_formed(entry) {
        return Err(ChangeError::Invalid(format!(
            "{entry:?} is not a risk entry id; ids are letters, digits, dots, hyphens and underscores, such as en.drugs.buying"
        )));
    }
    let severity_ok = |n: u8| (1..=5).contains(&n);
    match tuning {
        RiskTuning::Disable => Ok(()),
        RiskTuning::Severity(n) if severity_ok(*n) => Ok(()),
        RiskTuning::Severity(n) => Err(ChangeError::Invalid(format!(
            "{n} is not a severity; use 1 (advisory) to 5 (imminent risk)"
        ))),
        RiskTuning::Add {
            category,
            severity,
            language,
            phrases,
        } => {
            if !severity_ok(*severity) {
                return Err(ChangeError::Invalid(format!(
                    "{severity} is not a severity; use 1 (advisory) to 5 (imminent risk)"
                )));
            }
            if !well_formed(category) || !well_formed(language) {
                return Err(ChangeError::Invalid(
                    "a new entry needs a category and a language code, such as drugs and en".into(),
                ));
            }
            if phrases.is_empty() {
                return Err(ChangeError::Empty("a new entry's phrases"));
            }
            match phrases.iter().find(|p| {
                p.trim().is_empty() || p.len() > MAX_RISK_TEXT || p.contains(['\n', '\r'])
            }) {
                Some(bad) => Err(ChangeError::Invalid(format!(
                    "{bad:?} is not a usable phrase; give one phrase per line, each under {MAX_RISK_TEXT} characters"
                ))),
                None => Ok(()),
            }
        }
    }
}

/// A schedule change's days and times, read.
fn schedule_spec(
    key: &str,
    days: &[String],
    school_days: bool,
    times: &[String],
) -> Result<ScheduleSpec, ChangeError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(ChangeError::Empty("the schedule's name"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ChangeError::Invalid(format!(
            "{key:?} is not a schedule name; use letters, digits, - and _ only"
        )));
    }
    let mut weekdays = Vec::new();
    for day in days.iter().filter(|d| !d.trim().is_empty()) {
        let day = crate::spec::parse_weekday(day).ok_or_else(|| {
            ChangeError::Invalid(format!(
                "{day:?} is not a day of the week; write e.g. \"mon\" or \"monday\""
            ))
        })?;
        if !weekdays.contains(&day) {
            weekdays.push(day);
        }
    }
    let mut ranges = Vec::new();
    for text in times.iter().filter(|t| !t.trim().is_empty()) {
        ranges.push(TimeRange::parse(text).map_err(ChangeError::Invalid)?);
    }
    Ok(ScheduleSpec {
        key: key.to_string(),
        weekdays,
        school_days,
        times: ranges,
    })
}

/// `mon, tue 12:00-13:00 (school days)`; `every day, all day` for an empty schedule.
pub fn describe_schedule(s: &ScheduleSpec) -> String {
    let days = if s.weekdays.is_empty() {
        "every day".to_string()
    } else {
        s.weekdays
            .iter()
            .map(|d| crate::spec::weekday_short(*d))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let times = if s.times.is_empty() {
        "all day".to_string()
    } else {
        s.times
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let school = if s.school_days { " (school days)" } else { "" };
    format!("{days} {times}{school}")
}

/// The host and path of a site override, in the spelling the engine compares.
fn site(host: &str, path: &Option<String>) -> Result<(Host, Option<String>), ChangeError> {
    if let Some(p) = path
        && !p.starts_with('/')
    {
        return Err(ChangeError::BadPath(p.clone()));
    }
    if host.contains('/') {
        return Err(ChangeError::BadHost(
            host.to_string(),
            "give the path separately".to_string(),
        ));
    }
    let text = format!("{}{}", host.trim(), path.as_deref().unwrap_or(""));
    let target =
        Target::parse(&text).map_err(|e| ChangeError::BadHost(host.to_string(), e.to_string()))?;
    Ok((target.host, target.path.filter(|p| p != "/")))
}

fn show(action: &Option<ChangeAction>) -> String {
    match action {
        Some(a) => Action::from(a).to_string(),
        None => "(inherited)".to_string(),
    }
}

/// What a group does now with a selector: `(inherited, action)`.
fn current_action<'a>(g: &'a GroupSpec, selector: &Selector) -> (bool, &'a Action) {
    if let Some((_, a)) = g.action_for(selector) {
        return (false, a);
    }
    match selector {
        Selector::Category(key) => (true, g.resolve_category(key).1),
        Selector::List(_) => (true, &g.default),
    }
}

fn is_pupilish(g: &GroupSpec) -> bool {
    matches!(g.kind, GroupKind::Pupil | GroupKind::Unidentified)
}

fn normalise_groups(groups: &Option<Vec<String>>) -> Option<Vec<String>> {
    groups.as_ref().map(|keys| {
        let mut keys: Vec<String> = keys.iter().map(|k| k.trim().to_string()).collect();
        keys.sort();
        keys.dedup();
        keys
    })
}

fn same_groups(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
    normalise_groups(a) == normalise_groups(b)
}

fn describe_groups(groups: &Option<Vec<String>>) -> String {
    match groups {
        None => "every group".to_string(),
        Some(keys) => keys.join(", "),
    }
}

fn local(spec: &PolicySpec, at: Timestamp) -> String {
    let local = spec.time_zone.to_datetime(at);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} {}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        spec.time_zone.iana_name().unwrap_or("UTC")
    )
}

fn group<'a>(spec: &'a PolicySpec, key: &str) -> Result<&'a GroupSpec, ChangeError> {
    spec.groups
        .iter()
        .find(|g| g.key == key)
        .ok_or_else(|| ChangeError::UnknownGroup(key.to_string()))
}

fn group_mut<'a>(spec: &'a mut PolicySpec, key: &str) -> Result<&'a mut GroupSpec, ChangeError> {
    spec.groups
        .iter_mut()
        .find(|g| g.key == key)
        .ok_or_else(|| ChangeError::UnknownGroup(key.to_string()))
}

fn checked_selector(text: &str) -> Result<Selector, ChangeError> {
    let text = text.trim();
    let selector = Selector::parse(text);
    match &selector {
        Selector::Category(key) if hedgerow_lists::category(key).is_none() => {
            Err(ChangeError::UnknownCategory(text.to_string()))
        }
        Selector::List(name) if name.is_empty() => Err(ChangeError::Empty("the list name")),
        _ => Ok(selector),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safesearch::SearchSettings;
    use crate::spec::WebSettings;
    use hedgerow_lists::CATEGORIES;
    use hedgerow_lists::CategoryKind;

    fn group(key: &str, kind: GroupKind, actions: Vec<(Selector, Action)>) -> GroupSpec {
        GroupSpec {
            key: key.into(),
            name: key.into(),
            kind,
            actions,
            default: Action::Allow,
            search: SearchSettings::default_for(kind),
            web: WebSettings::default_for(kind),
        }
    }

    fn spec() -> PolicySpec {
        let gambling = || (Selector::Category("gambling".into()), Action::Block);
        PolicySpec {
            school: "oak".into(),
            school_name: "Oak".into(),
            time_zone: jiff::tz::TimeZone::UTC,
            terms: vec![],
            closures: vec![],
            schedules: vec![],
            groups: vec![
                group("pupils", GroupKind::Pupil, vec![gambling()]),
                group("staff", GroupKind::Staff, vec![gambling()]),
                group("unknown", GroupKind::Unidentified, vec![gambling()]),
            ],
            unknown_group: "unknown".into(),
            overrides: vec![],
            sanctions: vec![],
            unsafe_search_engines: vec![],
            online_safety_lead: None,
            online_safety_contact: None,
        }
    }

    fn stamp(id: &str) -> ChangeStamp {
        ChangeStamp {
            id: id.into(),
            by: "lead".into(),
            reason: "testing".into(),
        }
    }

    #[test]
    fn schedule_changes_create_replace_and_judge_pupils_use() {
        let mut before = spec();
        let lunch = PolicyChange::Schedule {
            key: "lunch".into(),
            days: vec!["Mon".into(), "friday".into(), "mon".into()],
            school_days: false,
            times: vec!["12:00-13:00".into()],
        };
        assert_eq!(lunch.kind(&before), ChangeKind::Schedule);
        assert_eq!(
            lunch.describe_diff(&before),
            "schedule lunch (new): mon, fri 12:00-13:00"
        );
        lunch.apply(&mut before, &stamp("change-1")).unwrap();
        assert_eq!(before.schedules.len(), 1);
        assert_eq!(before.schedules[0].weekdays.len(), 2, "repeats dropped");

        // Once pupils are allowed something by it, changing it needs the approval pupils'
        // unblocking needs.
        before.groups[0].actions.push((
            Selector::Category("online-games".into()),
            Action::AllowDuring(vec!["lunch".into()]),
        ));
        before.groups[2]
            .actions
            .push((Selector::Category("online-games".into()), Action::Block));
        let longer = PolicyChange::Schedule {
            key: "lunch".into(),
            days: vec![],
            school_days: false,
            times: vec!["12:00-14:00".into()],
        };
        assert_eq!(longer.kind(&before), ChangeKind::UnblockForPupils);
        assert_eq!(
            longer.describe_diff(&before),
            "schedule lunch: mon, fri 12:00-13:00 → every day 12:00-14:00"
        );
        longer.apply(&mut before, &stamp("change-2")).unwrap();
        assert_eq!(before.schedules.len(), 1, "replaced, not added");

        for (bad, says) in [
            (vec!["funday"], "not a day"),
            (vec![], "ends before it starts"),
        ] {
            let change = PolicyChange::Schedule {
                key: "lunch".into(),
                days: bad.into_iter().map(String::from).collect(),
                school_days: false,
                times: vec!["13:00-12:00".into()],
            };
            let e = change.apply(&mut spec(), &stamp("x")).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        let needs_terms = PolicyChange::Schedule {
            key: "lunch".into(),
            days: vec![],
            school_days: true,
            times: vec![],
        };
        assert!(
            needs_terms
                .apply(&mut spec(), &stamp("x"))
                .unwrap_err()
                .to_string()
                .contains("term dates")
        );
    }

    #[test]
    fn category_action_applies_with_a_readable_diff_and_kind() {
        let before = spec();
        let change = PolicyChange::CategoryAction {
            group: "staff".into(),
            selector: "gambling".into(),
            action: Some(ChangeAction::Allow),
        };
        assert_eq!(
            change.describe_diff(&before),
            "staff: gambling block → allow"
        );
        assert_eq!(change.kind(&before), ChangeKind::CategoryAction);
        let mut after = before.clone();
        change.apply(&mut after, &stamp("change-1")).unwrap();
        assert_eq!(
            after.groups[1]
                .action_for(&Selector::Category("gambling".into()))
                .unwrap()
                .1,
            &Action::Allow
        );

        // Loosening for pupils is an unblock for pupils; the unknown group must stay as strict.
        let pupils = PolicyChange::CategoryAction {
            group: "pupils".into(),
            selector: "gambling".into(),
            action: Some(ChangeAction::Allow),
        };
        assert_eq!(pupils.kind(&before), ChangeKind::UnblockForPupils);
        let mut after = before.clone();
        pupils.apply(&mut after, &stamp("change-2")).unwrap();
        let unknown = PolicyChange::CategoryAction {
            group: "unknown".into(),
            selector: "chat".into(),
            action: Some(ChangeAction::Allow),
        };
        let mut strict = before.clone();
        strict.groups[0]
            .actions
            .push((Selector::Category("chat".into()), Action::Block));
        let err = unknown.apply(&mut strict, &stamp("change-3")).unwrap_err();
        assert!(matches!(err, ChangeError::Invalid(_)), "{err}");

        // Removing an action shows what is inherited instead.
        let remove = PolicyChange::CategoryAction {
            group: "staff".into(),
            selector: "gambling".into(),
            action: None,
        };
        assert_eq!(
            remove.describe_diff(&before),
            "staff: gambling block → allow (inherited)"
        );
    }

    #[test]
    fn no_change_can_allow_an_illegal_category() {
        let illegal: Vec<&str> = CATEGORIES
            .iter()
            .filter(|c| c.kind == CategoryKind::Illegal)
            .map(|c| c.key)
            .collect();
        assert!(!illegal.is_empty());
        for key in illegal {
            for action in [
                Some(ChangeAction::Allow),
                Some(ChangeAction::AllowFor(vec!["x".into()])),
                Some(ChangeAction::AllowDuring(vec![])),
                None,
            ] {
                let change = PolicyChange::CategoryAction {
                    group: "staff".into(),
                    selector: key.into(),
                    action,
                };
                let mut s = spec();
                let err = change.apply(&mut s, &stamp("c")).unwrap_err();
                assert!(matches!(err, ChangeError::Illegal(_)), "{key}: {err}");
                assert!(err.to_string().contains("cannot be allowed"));
            }
            let block = PolicyChange::CategoryAction {
                group: "staff".into(),
                selector: key.into(),
                action: Some(ChangeAction::Block),
            };
            block.apply(&mut spec(), &stamp("c")).unwrap();
        }
    }

    #[test]
    fn site_overrides_replace_the_same_scope_and_are_kinded_by_group() {
        let before = spec();
        let allow = PolicyChange::SiteOverride {
            host: "Games.Example.".into(),
            path: None,
            verdict: ChangeVerdict::Allow,
            groups: Some(vec!["pupils".into()]),
            until: None,
        };
        assert_eq!(allow.kind(&before), ChangeKind::UnblockForPupils);
        let staff_only = PolicyChange::SiteOverride {
            host: "games.example".into(),
            path: None,
            verdict: ChangeVerdict::Allow,
            groups: Some(vec!["staff".into()]),
            until: None,
        };
        assert_eq!(staff_only.kind(&before), ChangeKind::Override);
        let mut s = before.clone();
        allow.apply(&mut s, &stamp("change-1")).unwrap();
        assert_eq!(s.overrides.len(), 1);
        assert_eq!(s.overrides[0].host.to_string(), "games.example");
        let block = PolicyChange::SiteOverride {
            host: "games.example".into(),
            path: None,
            verdict: ChangeVerdict::Block,
            groups: Some(vec!["pupils".into()]),
            until: None,
        };
        assert_eq!(block.kind(&s), ChangeKind::Block);
        assert_eq!(
            block.describe_diff(&s),
            "site games.example for pupils: allow (override change-1) → block permanently"
        );
        block.apply(&mut s, &stamp("change-2")).unwrap();
        assert_eq!(s.overrides.len(), 1, "the same scope is replaced");
        assert_eq!(s.overrides[0].id, "change-2");
        let remove = PolicyChange::RemoveOverride {
            id: "change-2".into(),
        };
        assert_eq!(remove.kind(&s), ChangeKind::UnblockForPupils);
        remove.apply(&mut s, &stamp("change-3")).unwrap();
        assert!(s.overrides.is_empty());
        assert!(matches!(
            remove.apply(&mut s, &stamp("change-4")),
            Err(ChangeError::NotFound { .. })
        ));
        let bad = PolicyChange::SiteOverride {
            host: "x.example".into(),
            path: None,
            verdict: ChangeVerdict::Allow,
            groups: Some(vec!["nobody".into()]),
            until: None,
        };
        assert_eq!(
            bad.apply(&mut s, &stamp("c")),
            Err(ChangeError::UnknownGroup("nobody".into()))
        );
    }

    #[test]
    fn risk_entries_are_tuned_without_touching_filtering() {
        let before = spec();
        let mut after = before.clone();
        let off = PolicyChange::RiskEntry {
            entry: "en.drugs.buying".into(),
            tuning: RiskTuning::Disable,
        };
        off.apply(&mut after, &stamp("change-9")).unwrap();
        assert_eq!(format!("{after:?}"), format!("{before:?}"));
        assert_eq!(off.kind(&before), ChangeKind::RiskLibrary);
        assert_eq!(
            off.describe_diff(&before),
            "risk library: en.drugs.buying switched off"
        );
        assert_eq!(PolicyChange::from_json(&off.to_json()).unwrap(), off);
        let add = PolicyChange::RiskEntry {
            entry: "school.vapes".into(),
            tuning: RiskTuning::Add {
                category: "drugs".into(),
                severity: 2,
                language: "en".into(),
                phrases: vec!["elf bar".into(), "geek bar".into()],
            },
        };
        add.apply(&mut after, &stamp("change-10")).unwrap();
        assert_eq!(PolicyChange::from_json(&add.to_json()).unwrap(), add);
        for bad in [
            PolicyChange::RiskEntry {
                entry: "has space".into(),
                tuning: RiskTuning::Disable,
            },
            PolicyChange::RiskEntry {
                entry: "en.x".into(),
                tuning: RiskTuning::Severity(6),
            },
            PolicyChange::RiskEntry {
                entry: "school.x".into(),
                tuning: RiskTuning::Add {
                    category: "drugs".into(),
                    severity: 2,
                    language: "en".into(),
                    phrases: vec!["  ".into()],
                },
            },
        ] {
            assert!(
                bad.apply(&mut after, &stamp("change-11")).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sanctions_and_json_round_trip() {
        let until: Timestamp = "2030-01-01T12:00:00Z".parse().unwrap();
        let change = PolicyChange::Sanction {
            username: "alice".into(),
            filter_as: Some("unknown".into()),
            until,
        };
        let json = change.to_json();
        assert_eq!(
            json,
            r#"{"type":"sanction","username":"alice","filter_as":"unknown","until":"2030-01-01T12:00:00Z"}"#
        );
        assert_eq!(PolicyChange::from_json(&json).unwrap(), change);
        assert_eq!(change.until(), Some(until));
        let mut s = spec();
        assert_eq!(
            change.describe_diff(&s),
            "sanction on alice: none → filtered as unknown until 2030-01-01 12:00 UTC"
        );
        change.apply(&mut s, &stamp("change-9")).unwrap();
        assert_eq!(s.sanctions[0].id, "change-9");
        let lift = PolicyChange::LiftSanction {
            id: "change-9".into(),
        };
        assert_eq!(
            lift.describe_diff(&s),
            "sanction change-9 on alice: filtered as unknown → lifted"
        );
        lift.apply(&mut s, &stamp("change-10")).unwrap();
        assert!(s.sanctions.is_empty());
        assert!(PolicyChange::from_json(r#"{"type":"nonsense"}"#).is_err());
        for kind in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(kind.as_str()), Some(kind));
        }
    }
}
