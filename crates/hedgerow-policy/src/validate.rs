//! Whole-spec checks shared by the engine and the configuration crate.
//!
//! The configuration crate runs the same checks with line numbers attached; the engine runs them
//! again because a spec can reach it from anywhere.

use hedgerow_lists::{CATEGORIES, CategoryKind};

use crate::error::PolicyError;
use crate::spec::{Action, GroupKind, GroupSpec, PolicySpec, SanctionKind, Selector};

/// Every problem found in a spec, without reference to any list index.
pub fn validate(spec: &PolicySpec) -> Vec<PolicyError> {
    let mut problems = Vec::new();
    for (at, group) in spec.groups.iter().enumerate() {
        if spec.groups[..at].iter().any(|g| g.key == group.key) {
            problems.push(PolicyError::DuplicateGroup(group.key.clone()));
        }
    }
    for (at, schedule) in spec.schedules.iter().enumerate() {
        if spec.schedules[..at].iter().any(|s| s.key == schedule.key) {
            problems.push(PolicyError::DuplicateSchedule(schedule.key.clone()));
        }
        for range in &schedule.times {
            if range.end <= range.start {
                problems.push(PolicyError::BadTimeRange {
                    schedule: schedule.key.clone(),
                    range: format!("{}-{}", range.start, range.end),
                });
            }
        }
    }
    for term in &spec.terms {
        if term.end < term.start {
            problems.push(PolicyError::EndsBeforeStart {
                what: format!("term {:?}", term.name),
                start: term.start.to_string(),
                end: term.end.to_string(),
            });
        }
    }
    for closure in &spec.closures {
        if closure.end < closure.start {
            problems.push(PolicyError::EndsBeforeStart {
                what: format!("closure {:?}", closure.reason),
                start: closure.start.to_string(),
                end: closure.end.to_string(),
            });
        }
    }
    let group_exists = |key: &str| spec.groups.iter().any(|g| g.key == key);
    for group in &spec.groups {
        for (at, (selector, _)) in group.actions.iter().enumerate() {
            if group.actions[..at].iter().any(|(s, _)| s == selector) {
                problems.push(PolicyError::DuplicateAction {
                    group: group.key.clone(),
                    selector: selector.to_string(),
                });
            }
            if let Selector::Category(key) = selector
                && hedgerow_lists::category(key).is_none()
            {
                problems.push(PolicyError::UnknownCategory {
                    group: group.key.clone(),
                    key: key.clone(),
                });
            }
        }
        let actions = group.actions.iter().map(|(_, a)| a).chain([&group.default]);
        for action in actions {
            if let Action::AllowDuring(schedules) = action {
                for schedule in schedules {
                    if !spec.schedules.iter().any(|s| &s.key == schedule) {
                        problems.push(PolicyError::UnknownSchedule {
                            schedule: schedule.clone(),
                            used_by: format!("group {:?}", group.key),
                        });
                    }
                }
            }
        }
    }
    for entry in &spec.overrides {
        for group in entry.groups.iter().flatten() {
            if !group_exists(group) {
                problems.push(PolicyError::UnknownGroup {
                    group: group.clone(),
                    used_by: format!("override {:?}", entry.id),
                });
            }
        }
    }
    for sanction in &spec.sanctions {
        if let SanctionKind::Restricted { group } = &sanction.kind
            && !group_exists(group)
        {
            problems.push(PolicyError::UnknownGroup {
                group: group.clone(),
                used_by: format!("sanction {:?}", sanction.id),
            });
        }
    }
    if !group_exists(&spec.unknown_group) {
        problems.push(PolicyError::MissingUnknownGroup(spec.unknown_group.clone()));
    } else {
        problems.extend(strictness_problems(spec));
    }
    problems
}

/// Where the unknown-client group lets through something a pupil group restricts, judged by
/// category (including named services through their parents) and by group default. List-level
/// actions are checked by the engine, which knows each list's category.
pub fn strictness_problems(spec: &PolicySpec) -> Vec<PolicyError> {
    let Some(unknown) = spec.groups.iter().find(|g| g.key == spec.unknown_group) else {
        return Vec::new();
    };
    let pupils: Vec<&GroupSpec> = spec
        .groups
        .iter()
        .filter(|g| g.kind == GroupKind::Pupil)
        .collect();
    let mut problems = Vec::new();
    let mut compare =
        |subject: &str, unknown_action: &Action, pupil: &GroupSpec, pupil_action: &Action| {
            if !unknown_action.at_least_as_strict_as(pupil_action) {
                problems.push(not_strict(
                    spec,
                    subject,
                    unknown_action,
                    pupil,
                    pupil_action,
                ));
                return false;
            }
            true
        };
    for pupil in &pupils {
        if !compare("default", &unknown.default, pupil, &pupil.default) {
            break;
        }
    }
    for category in CATEGORIES
        .iter()
        .filter(|c| c.kind != CategoryKind::Illegal)
    {
        for pupil in &pupils {
            let (_, pupil_action) = pupil.resolve_category(category.key);
            let (_, unknown_action) = unknown.resolve_category(category.key);
            if !compare(category.key, unknown_action, pupil, pupil_action) {
                break;
            }
        }
    }
    problems
}

pub(crate) fn not_strict(
    spec: &PolicySpec,
    subject: &str,
    unknown_action: &Action,
    pupil: &GroupSpec,
    pupil_action: &Action,
) -> PolicyError {
    PolicyError::UnknownNotStrict {
        unknown_group: spec.unknown_group.clone(),
        pupil_group: pupil.key.clone(),
        subject: subject.to_string(),
        unknown_action: unknown_action.to_string(),
        pupil_action: pupil_action.to_string(),
    }
}
