//! What can be wrong with an import, each said with how to put it right.
//!
//! Values from the file are quoted in messages shortened to [`SHOWN_CHARS`] characters; the
//! pages that show these messages escape them.

use std::fmt;

use crate::birth::DateProblem;

/// The most characters of a value from the file repeated in a message.
pub const SHOWN_CHARS: usize = 64;

/// A value from the file, shortened for a message.
pub(crate) fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(SHOWN_CHARS).collect();
    if value.chars().count() > SHOWN_CHARS {
        out.push('…');
    }
    out
}

/// One problem with an import. Any one of them refuses the whole import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file is over the size limit.
    #[error(
        "the file is {bytes} bytes, more than the {max} bytes an import takes; split it into \
         smaller files (for example one per year group) and import each"
    )]
    TooLarge {
        /// The file's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The file has more rows than the limit.
    #[error(
        "the file has more than {max} rows; split it into smaller files (for example one per \
         year group) and import each"
    )]
    TooManyRows {
        /// The limit.
        max: usize,
    },
    /// Nothing but perhaps a header.
    #[error(
        "the file has no rows to import; export the list again with a header row and one row \
         per person or class"
    )]
    Empty,
    /// UTF-16 text (Excel's "Unicode text").
    #[error(
        "the file is UTF-16 text (Excel's \"Unicode text\"); save it again as \"CSV UTF-8 \
         (comma delimited)\" and import that"
    )]
    Utf16,
    /// A column the import needs is not in the header row.
    #[error("the header row has no {what} column; add one headed {accepted}")]
    MissingColumn {
        /// What the column holds.
        what: &'static str,
        /// Header names that are accepted for it.
        accepted: String,
    },
    /// Two columns give the same thing.
    #[error(
        "the header row has two columns for the {what}: \"{first}\" and \"{second}\"; \
         remove one of them"
    )]
    DuplicateColumn {
        /// What both columns hold.
        what: &'static str,
        /// The first column's header.
        first: String,
        /// The second column's header.
        second: String,
    },
    /// A row has more columns than any import needs.
    #[error(
        "row {row} has {count} columns, more than the {max} an import reads; remove the extra columns"
    )]
    TooManyColumns {
        /// The row.
        row: usize,
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Staff are imported into the school's staff group, and it has none.
    #[error(
        "the school's policy has no staff group to put staff in; add a group with kind = \
         \"staff\" to the configuration, or give each person's group in a \"Hedgerow Group\" \
         column"
    )]
    NoStaffGroup,
    /// The year group mapping has a problem.
    #[error("the year group mapping, line {line}: {message}")]
    Mapping {
        /// The line of the mapping.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// One row has a problem.
    #[error("row {row}: {problem}")]
    Row {
        /// The row as a spreadsheet numbers it (the header is row 1).
        row: usize,
        /// What is wrong with it.
        problem: RowProblem,
    },
}

impl ImportError {
    /// The row the problem is on, if it is about one row.
    pub fn row(&self) -> Option<usize> {
        match self {
            ImportError::Row { row, .. } | ImportError::TooManyColumns { row, .. } => Some(*row),
            _ => None,
        }
    }
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowProblem {
    /// A quote opened on this row is never closed.
    #[error(
        "a quote (\") opened on this row is never closed, so the rest of the file is inside \
         it; close the quote, or double any quote that is part of a name (\"\")"
    )]
    UnterminatedQuote,
    /// Text between a closing quote and the next comma.
    #[error(
        "column {column} has text after its closing quote; put the whole value in quotes and \
         double any quote inside it (\"\")"
    )]
    TextAfterQuote {
        /// The column (1 is the first).
        column: usize,
    },
    /// More values than header columns.
    #[error(
        "it has {got} values but the header row has {want} columns; a value with a comma in it \
         (such as \"Smith, Jo\") must be in quotes"
    )]
    ExtraValues {
        /// Values on the row.
        got: usize,
        /// Columns in the header.
        want: usize,
    },
    /// A value the import needs is empty.
    #[error("the {what} is empty (column \"{column}\"); fill it in, or remove the row")]
    Missing {
        /// What is missing.
        what: &'static str,
        /// The column's header.
        column: String,
    },
    /// A value is too long.
    #[error("the {what} has more than {max} characters; shorten it")]
    TooLong {
        /// What is too long.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A value holds control characters or a line break.
    #[error("the {what} contains a line break or control character; remove it")]
    ControlCharacters {
        /// Which value.
        what: &'static str,
    },
    /// A username with characters that cannot be used to sign in.
    #[error(
        "\"{given}\" is not a username Hedgerow can use: use only letters, digits, dots, \
         dashes, underscores and @, with no spaces, at most 100 characters"
    )]
    BadUsername {
        /// The value given.
        given: String,
    },
    /// An e-mail address that is not one.
    #[error(
        "\"{given}\" is not an e-mail address; write it as name@school.example, or leave it empty"
    )]
    BadEmail {
        /// The value given.
        given: String,
    },
    /// A year group Hedgerow does not recognise.
    #[error(
        "\"{given}\" is not a year group; write Nursery, Reception or Year 1 to Year 14 (N1, \
         N2, R and 1 to 14 work too)"
    )]
    UnknownYear {
        /// The value given.
        given: String,
    },
    /// A year group the mapping does not send to any group.
    #[error(
        "{year} has no filtering group in the year group mapping; add a line such as \
         \"{year} = {example}\" to the mapping (the school's pupil groups are {groups})"
    )]
    UnmappedYear {
        /// The year, as "Year 9".
        year: String,
        /// A pupil group to suggest.
        example: String,
        /// The school's pupil groups, comma-separated.
        groups: String,
    },
    /// A group the school's policy does not have (or of the wrong kind).
    #[error("\"{given}\" is not one of the school's {kind} groups; use one of {groups}")]
    UnknownGroup {
        /// The value given.
        given: String,
        /// "pupil" or "staff".
        kind: &'static str,
        /// The groups that may be used, comma-separated.
        groups: String,
    },
    /// A date of birth that cannot be used.
    #[error("the date of birth \"{given}\" (column \"{column}\") {problem}")]
    DateOfBirth {
        /// The value given.
        given: String,
        /// The column's header.
        column: String,
        /// What is wrong with it, and what to do.
        problem: DateProblem,
    },
    /// The same username or class twice.
    #[error(
        "the {what} \"{given}\" is also on row {first_row}; each must appear once (capitals do not count as a difference)"
    )]
    Duplicate {
        /// "username" or "class".
        what: &'static str,
        /// The value.
        given: String,
        /// Where it was first.
        first_row: usize,
    },
}

/// An import refused: every problem found (up to [`Refused::MAX_LISTED`]), and how many there
/// were in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The problems, in the order of the file.
    pub problems: Vec<ImportError>,
    /// How many problems there were, including any not listed.
    pub total: usize,
}

impl Refused {
    /// The most problems kept; a file that is wrong on every one of 20,000 rows has one
    /// mistake repeated, and the first few hundred show it.
    pub const MAX_LISTED: usize = 500;

    pub(crate) fn new(mut problems: Vec<ImportError>) -> Refused {
        let total = problems.len();
        problems.sort_by_key(|p| p.row().unwrap_or(0));
        problems.truncate(Refused::MAX_LISTED);
        Refused { problems, total }
    }

    pub(crate) fn one(problem: ImportError) -> Refused {
        Refused::new(vec![problem])
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nothing was imported: the file has {} problem{}; put {} right and import the whole file again",
            self.total,
            if self.total == 1 { "" } else { "s" },
            if self.total == 1 { "it" } else { "them" },
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        if self.total > self.problems.len() {
            write!(f, "\n  and {} more", self.total - self.problems.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}
