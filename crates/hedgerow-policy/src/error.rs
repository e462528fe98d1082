//! Why a policy was refused, in words a network manager can act on.

/// A problem with a policy spec, found when the engine is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the group {0:?} is defined twice; give each group its own key")]
    DuplicateGroup(String),
    #[error("group {group:?} has two actions for {selector}; keep one")]
    DuplicateAction { group: String, selector: String },
    #[error("the schedule {0:?} is defined twice; give each schedule its own key")]
    DuplicateSchedule(String),
    #[error(
        "the unknown-client group {0:?} is not defined; define it, or name an existing group as the unknown-client group"
    )]
    MissingUnknownGroup(String),
    #[error(
        "{used_by} names the group {group:?}, which is not defined; define it or use one of the defined groups"
    )]
    UnknownGroup { group: String, used_by: String },
    #[error(
        "{used_by} names the schedule {schedule:?}, which is not defined; define it or use a defined schedule"
    )]
    UnknownSchedule { schedule: String, used_by: String },
    #[error(
        "group {group:?} has an action for {key:?}, which is not a Hedgerow category; use a category key (see `hedgerow lists categories`) or `list:NAME`"
    )]
    UnknownCategory { group: String, key: String },
    #[error(
        "group {group:?} has an action for list {list:?}, but the compiled lists have no list of that name; check the spelling or compile the lists again"
    )]
    UnknownList { group: String, list: String },
    #[error(
        "schedule {schedule:?} has the time range {range}, which ends before it starts; write the earlier time first"
    )]
    BadTimeRange { schedule: String, range: String },
    #[error("{what} ends ({end}) before it starts ({start}); check the dates")]
    EndsBeforeStart {
        what: String,
        start: String,
        end: String,
    },
    #[error(
        "the unknown-client group {unknown_group:?} has \"{unknown_action}\" for {subject:?}, but pupil group {pupil_group:?} has \"{pupil_action}\"; \
         unidentified clients must be filtered at least as strictly as every pupil group, so set {subject:?} = \"block\" in group {unknown_group:?}"
    )]
    UnknownNotStrict {
        unknown_group: String,
        pupil_group: String,
        subject: String,
        unknown_action: String,
        pupil_action: String,
    },
    #[error("{what} is {count}, more than the engine supports ({max})")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
}
