//! Safeguarding risk detection for monitoring: risk libraries (phrases per category with a
//! severity, context rules and age-band profiles) and the [`Classifier`] that matches them
//! against search terms, URLs and page titles.
//!
//! The crate is pure: it reads no files and opens no sockets. Libraries arrive as text
//! ([`RiskLibrary::parse`]) or are compiled in ([`RiskLibrary::builtin`]); a school's own changes
//! arrive as [`Tuning`] values that the store keeps under change control.
//!
//! Matching works on normalised words rather than raw characters, so that obfuscated spellings
//! (`k1ll mys3lf`, `s u i c i d e`, `diiiie`, `sucide`) are caught while words that merely contain
//! a risk word (`skill`, `therapist`) are not. See [`library`] for the file format.

mod classifier;
pub mod library;
mod normalise;

pub use classifier::Classifier;
pub use library::{
    BandAdjustment, BandRule, BandTarget, ContextEffect, ContextRule, ContextScope, Misspelling,
    RiskEntry, RiskLibrary,
};

/// The risks named by the school's safeguarding policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RiskCategory {
    SuicideSelfHarm,
    EatingDisorder,
    Radicalisation,
    Hate,
    Bullying,
    GroomingSexualExploitation,
    Pornography,
    Drugs,
    WeaponsViolence,
    Gambling,
}

impl RiskCategory {
    pub const ALL: [RiskCategory; 10] = [
        RiskCategory::SuicideSelfHarm,
        RiskCategory::EatingDisorder,
        RiskCategory::Radicalisation,
        RiskCategory::Hate,
        RiskCategory::Bullying,
        RiskCategory::GroomingSexualExploitation,
        RiskCategory::Pornography,
        RiskCategory::Drugs,
        RiskCategory::WeaponsViolence,
        RiskCategory::Gambling,
    ];

    /// The stable machine name, as used in library files, the store and the classify command.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskCategory::SuicideSelfHarm => "suicide_self_harm",
            RiskCategory::EatingDisorder => "eating_disorder",
            RiskCategory::Radicalisation => "radicalisation",
            RiskCategory::Hate => "hate",
            RiskCategory::Bullying => "bullying",
            RiskCategory::GroomingSexualExploitation => "grooming_sexual_exploitation",
            RiskCategory::Pornography => "pornography",
            RiskCategory::Drugs => "drugs",
            RiskCategory::WeaponsViolence => "weapons_violence",
            RiskCategory::Gambling => "gambling",
        }
    }

    /// Reads a machine name written by [`RiskCategory::as_str`].
    pub fn parse(s: &str) -> Option<RiskCategory> {
        RiskCategory::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The name shown to staff.
    pub fn label(self) -> &'static str {
        match self {
            RiskCategory::SuicideSelfHarm => "Suicide and self-harm",
            RiskCategory::EatingDisorder => "Eating disorders",
            RiskCategory::Radicalisation => "Radicalisation and extremism",
            RiskCategory::Hate => "Hate",
            RiskCategory::Bullying => "Bullying",
            RiskCategory::GroomingSexualExploitation => "Grooming and sexual exploitation",
            RiskCategory::Pornography => "Pornography",
            RiskCategory::Drugs => "Drugs and alcohol",
            RiskCategory::WeaponsViolence => "Weapons and violence",
            RiskCategory::Gambling => "Gambling",
        }
    }
}

impl std::fmt::Display for RiskCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is at the keyboard, by age: what is a concern at 7 differs from 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgeBand {
    /// EYFS and key stage 1, ages 4 to 7.
    EarlyYears,
    /// Key stage 2, ages 7 to 11.
    Primary,
    /// Ages 11 to 16.
    Secondary,
    /// Ages 16 to 18.
    SixthForm,
    /// Staff and visitors.
    Adult,
}

impl AgeBand {
    pub const ALL: [AgeBand; 5] = [
        AgeBand::EarlyYears,
        AgeBand::Primary,
        AgeBand::Secondary,
        AgeBand::SixthForm,
        AgeBand::Adult,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AgeBand::EarlyYears => "early_years",
            AgeBand::Primary => "primary",
            AgeBand::Secondary => "secondary",
            AgeBand::SixthForm => "sixth_form",
            AgeBand::Adult => "adult",
        }
    }

    pub fn parse(s: &str) -> Option<AgeBand> {
        AgeBand::ALL.into_iter().find(|b| b.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for AgeBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the classifier found: the most severe match in a text after context rules and the
/// age-band profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskMatch {
    pub category: RiskCategory,
    /// 1 (advisory) to 5 (imminent risk).
    pub severity: u8,
    /// The stable id of the library entry, e.g. `en.suicide.kill-myself`.
    pub entry: String,
    /// The span of the text given to the classifier that matched, as written there.
    pub matched: String,
    /// The language of the entry that matched, e.g. `en` or `pl`.
    pub language: String,
}

/// A school's change to the libraries, applied on top of them when a [`Classifier`] is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tuning {
    /// Stop matching an entry.
    Disable { entry: String },
    /// Give an entry another severity (1 to 5).
    SetSeverity { entry: String, severity: u8 },
    /// A school's own entry.
    Add { entry: RiskEntry },
}

/// Why a library or a tuning was refused; each says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    #[error("{source_name}, line {line}: {message}")]
    Syntax {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error(
        "the tuning names entry {entry:?}, which is in none of the risk libraries; check the entry id, or add the entry instead"
    )]
    UnknownEntry { entry: String },
    #[error(
        "entry {entry:?}: severity {severity} is out of range; use 1 (advisory) to 5 (imminent risk)"
    )]
    BadSeverity { entry: String, severity: u8 },
    #[error(
        "entry {entry:?} is already in the risk libraries; choose another id, or tune the existing entry"
    )]
    DuplicateEntry { entry: String },
    #[error("entry {entry:?}: {problem}")]
    BadEntry { entry: String, problem: String },
}
