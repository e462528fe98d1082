//! Reading pupils, classes and staff from the CSV exports of school information systems
//! (SIMS, Arbor, Bromcom) and hand-made spreadsheets.
//!
//! A pure crate: bytes in, records or row-numbered errors out; no I/O, no clocks, and no input
//! panics it (property-tested, and fuzzed by `fuzz/fuzz_targets/import_csv.rs`).
//!
//! An import is all or nothing: [`read_import`] returns every record, or every problem it
//! found ([`Refused`], each problem with its row and what to do), never a part of the file.
//! What the store then does with the records (create, update, disable leavers) is
//! `hedgerow-store`'s `people` module; the formats are described in `docs/people-import.md`.
//!
//! # Public API
//!
//! - [`read_import`]`(Kind, &[u8], &ImportOptions) -> Result<Import, Refused>`.
//! - [`Kind`]: pupils, classes or staff; [`Import`] with [`Records`] ([`Pupil`], [`Class`],
//!   [`StaffMember`]), [`Warning`]s and the columns not used.
//! - [`year`]: [`YearGroup`] (`parse`, `label`), [`YearMapping`] (`suggested` from the
//!   school's [`SchoolGroup`]s, `parse`, `to_text`, `group_for`).
//! - [`csv`]: the RFC 4180 reader ([`csv::decode`], [`csv::rows`]).
//! - [`columns`]: header names and their synonyms.
//! - [`birth`]: dates of birth ([`birth::parse_date`], [`birth::parse_pupil_date_of_birth`],
//!   [`DateProblem`]); a pupils file's date of birth column gives [`Pupil::date_of_birth`].
//! - Limits: [`MAX_BYTES`], [`MAX_ROWS`], [`MAX_COLUMNS`].

pub mod birth;
pub mod columns;
pub mod csv;
mod error;
mod records;
pub mod year;

use std::fmt;

pub use birth::DateProblem;
pub use csv::TextEncoding;
pub use error::{ImportError, Refused, RowProblem, SHOWN_CHARS};
/// Dates, as [`ImportOptions::today`] and [`Pupil::date_of_birth`] hold them.
pub use jiff::civil::Date;
pub use records::read_import;
pub use year::{GroupKind, SchoolGroup, YearGroup, YearMapping};

/// The largest file an import takes: 5 MB, several times a large secondary school's export.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// The most rows an import takes, the header included.
pub const MAX_ROWS: usize = 20_000;
/// The most columns a row may have.
pub const MAX_COLUMNS: usize = 200;
/// The longest username, as the admin app allows.
pub const MAX_USERNAME: usize = 100;
/// The longest name (of a person, or a class's teacher).
pub const MAX_NAME: usize = 200;
/// The longest class name.
pub const MAX_CLASS: usize = 100;
/// The longest e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// The longest staff code.
pub const MAX_STAFF_CODE: usize = 20;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Pupils: username, name, year group, class, date of birth.
    Pupils,
    /// Classes: name, year group, teacher.
    Classes,
    /// Staff: username, name, e-mail address, roles.
    Staff,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Pupils, Kind::Classes, Kind::Staff];

    /// The key used in forms and on the command line: `pupils`, `classes`, `staff`.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Pupils => "pupils",
            Kind::Classes => "classes",
            Kind::Staff => "staff",
        }
    }

    /// Reads a key written by [`Kind::key`] (case ignored).
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.key().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What an import needs to know about the school.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// The school's filtering groups, as its policy has them.
    pub groups: &'a [SchoolGroup],
    /// Which pupil group each year group goes into.
    pub mapping: &'a YearMapping,
    /// The day of the import in the school's time zone: a pupil's date of birth after it, or
    /// more than 30 years before it, is a row problem. Given, not read from a clock, so the
    /// crate stays pure and tests can fix the day.
    pub today: Date,
}

/// A pupil to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pupil {
    /// The row in the file.
    pub row: usize,
    /// The sign-in name.
    pub username: String,
    /// The name shown to staff: preferred (else legal) forename and surname, or the full name.
    pub display_name: String,
    /// The year group; `None` only when the row gives a Hedgerow group instead.
    pub year: Option<YearGroup>,
    /// The class (registration group), if given.
    pub class: Option<String>,
    /// E-mail address, if given.
    pub email: Option<String>,
    /// Date of birth, if the file has a date of birth column and the row fills it in. Kept
    /// for safeguarding records (a child-protection record's review date counts from it).
    pub date_of_birth: Option<Date>,
    /// The filtering group: from the row's Hedgerow group, else from the year group mapping.
    /// Always one of the school's pupil groups.
    pub group: String,
}

/// A class to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The row in the file.
    pub row: usize,
    /// The class's name, such as `4B` or `7R/Sc`.
    pub name: String,
    /// Its year group, if it has one (a mixed-age class may not).
    pub year: Option<YearGroup>,
    /// The pupil group its year maps to, if the mapping has one.
    pub group: Option<String>,
    /// Its teacher, as the file gives them (a name, code or username).
    pub teacher: Option<String>,
}

/// A member of staff to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// The row in the file.
    pub row: usize,
    /// The sign-in name.
    pub username: String,
    /// The name shown.
    pub display_name: String,
    /// E-mail address, if given.
    pub email: Option<String>,
    /// Staff code (initials), if given.
    pub staff_code: Option<String>,
    /// Hedgerow role keys the file asks for, sorted, without repeats. Suggestions only: an
    /// import never grants a role (accounts and roles are made on the people page, where who
    /// may grant what is checked).
    pub roles: Vec<String>,
    /// The filtering group: the row's Hedgerow group, else the school's staff group. Always
    /// one of the school's staff groups.
    pub group: String,
}

/// The records of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Records {
    /// Pupils.
    Pupils(Vec<Pupil>),
    /// Classes.
    Classes(Vec<Class>),
    /// Staff.
    Staff(Vec<StaffMember>),
}

impl Records {
    /// How many records.
    pub fn len(&self) -> usize {
        match self {
            Records::Pupils(v) => v.len(),
            Records::Classes(v) => v.len(),
            Records::Staff(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Something worth knowing that does not stop the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The row, or `None` for the whole file.
    pub row: Option<usize>,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(row) => write!(f, "row {row}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A file read without problems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// What it holds.
    pub kind: Kind,
    /// How its bytes were read.
    pub encoding: TextEncoding,
    /// The records, one per data row (blank rows are skipped).
    pub records: Records,
    /// Things worth knowing.
    pub warnings: Vec<Warning>,
    /// Headers of columns the import does not use (such as UPN, or a date of birth in a staff file).
    pub unused_columns: Vec<String>,
}
