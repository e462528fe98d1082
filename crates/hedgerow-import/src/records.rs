//! From rows to records: each row becomes a pupil, class or member of staff, or a
//! row-numbered problem; any problem refuses the whole import.

use std::collections::HashMap;

use hedgerow_accounts::Role;

use crate::birth::parse_pupil_date_of_birth;
use crate::columns::{Columns, Field};
use crate::csv::{self, CsvRow};
use crate::error::{ImportError, Refused, RowProblem, shown};
use crate::year::{GroupKind, SchoolGroup, YearGroup, find_group, keys_of};
use crate::{
    Class, Date, Import, ImportOptions, Kind, MAX_BYTES, MAX_CLASS, MAX_COLUMNS, MAX_EMAIL,
    MAX_NAME, MAX_ROWS, MAX_STAFF_CODE, MAX_USERNAME, Pupil, Records, StaffMember, Warning,
};

/// The most warnings listed; more are counted in one last warning.
const MAX_WARNINGS: usize = 500;

/// Reads a whole file of `kind`: every record, or every problem (see the crate
/// documentation). Never panics, whatever the bytes.
pub fn read_import(kind: Kind, bytes: &[u8], options: &ImportOptions) -> Result<Import, Refused> {
    if bytes.len() > MAX_BYTES {
        return Err(Refused::one(ImportError::TooLarge {
            bytes: bytes.len(),
            max: MAX_BYTES,
        }));
    }
    let (text, encoding) = csv::decode(bytes).map_err(Refused::one)?;
    let delimiter = csv::detect_delimiter(&text);
    let (rows, mut errors) = csv::rows(&text, delimiter, MAX_ROWS);
    let mut rows = rows
        .into_iter()
        .filter(|r| r.fields.iter().any(|f| !f.trim().is_empty()));
    let Some(header) = rows.next() else {
        errors.push(ImportError::Empty);
        return Err(Refused::new(errors));
    };
    if header.fields.len() > MAX_COLUMNS {
        errors.push(ImportError::TooManyColumns {
            row: header.row,
            count: header.fields.len(),
            max: MAX_COLUMNS,
        });
        return Err(Refused::new(errors));
    }
    let columns = match Columns::read(kind, &header.fields) {
        Ok(columns) => columns,
        Err(problems) => {
            errors.extend(problems);
            return Err(Refused::new(errors));
        }
    };
    let mut warnings = Vec::new();
    if let Err(missing) = required_columns(kind, &columns, &mut warnings) {
        errors.extend(missing);
        return Err(Refused::new(errors));
    }
    let staff_group = default_staff_group(options.groups);
    if kind == Kind::Staff && staff_group.is_none() && !columns.has(Field::Group) {
        errors.push(ImportError::NoStaffGroup);
        return Err(Refused::new(errors));
    }

    let mut reader = RowReader {
        kind,
        columns: &columns,
        options,
        staff_group,
        seen: HashMap::new(),
        warnings,
    };
    let mut pupils = Vec::new();
    let mut classes = Vec::new();
    let mut staff = Vec::new();
    for row in rows {
        let number = row.row;
        let result = reader.check_width(&row).and_then(|()| match kind {
            Kind::Pupils => reader.pupil(&row).map(|p| pupils.push(p)),
            Kind::Classes => reader.class(&row).map(|c| classes.push(c)),
            Kind::Staff => reader.staff(&row).map(|s| staff.push(s)),
        });
        if let Err(problems) = result {
            errors.extend(problems.into_iter().map(|problem| match problem {
                Problem::Row(problem) => ImportError::Row {
                    row: number,
                    problem,
                },
                Problem::File(e) => e,
            }));
        }
    }
    let records = match kind {
        Kind::Pupils => Records::Pupils(pupils),
        Kind::Classes => Records::Classes(classes),
        Kind::Staff => Records::Staff(staff),
    };
    if records.is_empty() && errors.is_empty() {
        errors.push(ImportError::Empty);
    }
    if !errors.is_empty() {
        return Err(Refused::new(errors));
    }
    let mut warnings = reader.warnings;
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - MAX_WARNINGS;
        warnings.truncate(MAX_WARNINGS);
        warnings.push(Warning {
            row: None,
            message: format!("and {more} more warnings like these"),
        });
    }
    Ok(Import {
        kind,
        encoding,
        records,
        warnings,
        unused_columns: columns.unused.clone(),
    })
}

/// The columns each kind cannot do without.
fn required_columns(
    kind: Kind,
    columns: &Columns,
    warnings: &mut Vec<Warning>,
) -> Result<(), Vec<ImportError>> {
    let mut missing = Vec::new();
    if kind == Kind::Classes {
        if !columns.has(Field::Class) {
            missing.push(Columns::missing(kind, Field::Class));
        }
        return if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        };
    }
    if !columns.has(Field::Username) {
        if columns.has(Field::Email) {
            warnings.push(Warning {
                row: None,
                message: format!(
                    "the file has no username column, so each person's e-mail address (column \"{}\") is their username",
                    columns.header(Field::Email)
                ),
            });
        } else {
            missing.push(Columns::missing(kind, Field::Username));
        }
    }
    let forename = columns.has(Field::Forename) || columns.has(Field::PreferredForename);
    let surname = columns.has(Field::Surname) || columns.has(Field::PreferredSurname);
    if !(columns.has(Field::FullName) || forename || surname) {
        missing.push(ImportError::MissingColumn {
            what: "name",
            accepted: format!(
                "{}, or a forename column (\"Legal Forename\", \"Forename\" or \"First Name\") and a surname column (\"Legal Surname\", \"Surname\" or \"Last Name\")",
                crate::columns::accepted_names(kind, Field::FullName)
            ),
        });
    }
    if kind == Kind::Pupils && !columns.has(Field::Year) && !columns.has(Field::Group) {
        missing.push(Columns::missing(kind, Field::Year));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// The group staff go into: the staff group keyed `staff`, else the first staff group.
fn default_staff_group(groups: &[SchoolGroup]) -> Option<String> {
    find_group(groups, GroupKind::Staff, "staff")
        .or_else(|| {
            groups
                .iter()
                .find(|g| g.kind == GroupKind::Staff)
                .map(|g| g.key.as_str())
        })
        .map(str::to_owned)
}

enum Problem {
    Row(RowProblem),
    File(ImportError),
}

impl From<RowProblem> for Problem {
    fn from(p: RowProblem) -> Problem {
        Problem::Row(p)
    }
}

struct RowReader<'a> {
    kind: Kind,
    columns: &'a Columns,
    options: &'a ImportOptions<'a>,
    staff_group: Option<String>,
    /// Usernames or class names already read (lower case), with their rows.
    seen: HashMap<String, usize>,
    warnings: Vec<Warning>,
}

/// Collects a row's problems so one row reports all of them, not just the first.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn take<T>(&mut self, result: Result<T, RowProblem>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(p) => {
                self.0.push(Problem::Row(p));
                None
            }
        }
    }

    fn push(&mut self, p: RowProblem) {
        self.0.push(Problem::Row(p));
    }

    fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Vec<Problem>> {
        if self.0.is_empty()
            && let Some(v) = value()
        {
            return Ok(v);
        }
        Err(self.0)
    }
}

impl RowReader<'_> {
    fn check_width(&self, row: &CsvRow) -> Result<(), Vec<Problem>> {
        if row.fields.len() > MAX_COLUMNS {
            return Err(vec![Problem::File(ImportError::TooManyColumns {
                row: row.row,
                count: row.fields.len(),
                max: MAX_COLUMNS,
            })]);
        }
        let width = self.columns.width();
        if row.fields.len() > width && row.fields[width..].iter().any(|f| !f.trim().is_empty()) {
            return Err(vec![Problem::Row(RowProblem::ExtraValues {
                got: row.fields.len(),
                want: width,
            })]);
        }
        Ok(())
    }

    /// The raw value of a field on a row ("" when the column is missing or the row short).
    fn raw<'r>(&self, row: &'r CsvRow, field: Field) -> &'r str {
        self.columns
            .index(field)
            .and_then(|i| row.fields.get(i))
            .map_or("", |s| s.as_str())
    }

    /// A cleaned single-line value: `None` when empty.
    fn text(&self, row: &CsvRow, field: Field, max: usize) -> Result<Option<String>, RowProblem> {
        clean(self.raw(row, field), field.what(self.kind), max)
    }

    fn required(&self, row: &CsvRow, field: Field, max: usize) -> Result<String, RowProblem> {
        self.text(row, field, max)?
            .ok_or_else(|| RowProblem::Missing {
                what: field.what(self.kind),
                column: self.columns.header(field),
            })
    }

    fn username(&mut self, row: &CsvRow, problems: &mut Problems) -> Option<String> {
        let field = if self.columns.has(Field::Username) {
            Field::Username
        } else {
            Field::Email
        };
        let username =
            problems.take(
                self.required(row, field, MAX_USERNAME * 4)
                    .map_err(|e| match e {
                        RowProblem::Missing { column, .. } => RowProblem::Missing {
                            what: "username",
                            column,
                        },
                        other => other,
                    }),
            )?;
        if !valid_username(&username) {
            problems.push(RowProblem::BadUsername {
                given: shown(&username),
            });
            return None;
        }
        if let Some(first_row) = self.first_seen(&username, row.row) {
            problems.push(RowProblem::Duplicate {
                what: "username",
                given: shown(&username),
                first_row,
            });
            return None;
        }
        Some(username)
    }

    /// The row a key was first seen on, or `None` (and remembered) if this is the first.
    fn first_seen(&mut self, key: &str, row: usize) -> Option<usize> {
        let lower = key.to_lowercase();
        match self.seen.get(&lower) {
            Some(first) => Some(*first),
            None => {
                self.seen.insert(lower, row);
                None
            }
        }
    }

    fn name(&self, row: &CsvRow, problems: &mut Problems) -> Option<String> {
        let pick = |preferred: Field, legal: Field, problems: &mut Problems| -> Option<String> {
            let preferred = problems.take(self.text(row, preferred, MAX_NAME)).flatten();
            let legal = problems.take(self.text(row, legal, MAX_NAME)).flatten();
            preferred.or(legal)
        };
        let forename = pick(Field::PreferredForename, Field::Forename, problems);
        let surname = pick(Field::PreferredSurname, Field::Surname, problems);
        let full = problems
            .take(self.text(row, Field::FullName, MAX_NAME))
            .flatten();
        let name = match (forename, surname, full) {
            (Some(f), Some(s), _) => format!("{f} {s}"),
            (_, _, Some(full)) => full,
            (Some(one), None, None) | (None, Some(one), None) => one,
            (None, None, None) => {
                let field = if self.columns.has(Field::FullName) {
                    Field::FullName
                } else if self.columns.has(Field::Surname) {
                    Field::Surname
                } else {
                    Field::Forename
                };
                problems.push(RowProblem::Missing {
                    what: "name",
                    column: self.columns.header(field),
                });
                return None;
            }
        };
        if name.chars().count() > MAX_NAME {
            problems.push(RowProblem::TooLong {
                what: "name",
                max: MAX_NAME,
            });
            return None;
        }
        Some(name)
    }

    fn email(&self, row: &CsvRow, problems: &mut Problems) -> Option<Option<String>> {
        let email = problems.take(self.text(row, Field::Email, MAX_EMAIL))?;
        match email {
            Some(e) if !valid_email(&e) => {
                problems.push(RowProblem::BadEmail { given: shown(&e) });
                None
            }
            other => Some(other),
        }
    }

    fn date_of_birth(&self, row: &CsvRow, problems: &mut Problems) -> Option<Option<Date>> {
        let text = problems.take(self.text(row, Field::DateOfBirth, MAX_NAME))?;
        match text {
            None => Some(None),
            Some(text) => match parse_pupil_date_of_birth(&text, self.options.today) {
                Ok(date) => Some(Some(date)),
                Err(problem) => {
                    problems.push(RowProblem::DateOfBirth {
                        given: shown(&text),
                        column: self.columns.header(Field::DateOfBirth),
                        problem,
                    });
                    None
                }
            },
        }
    }

    fn year(&self, row: &CsvRow, problems: &mut Problems) -> Option<Option<YearGroup>> {
        let text = problems.take(self.text(row, Field::Year, MAX_NAME))?;
        match text {
            None => Some(None),
            Some(text) => match YearGroup::parse(&text) {
                Some(year) => Some(Some(year)),
                None => {
                    problems.push(RowProblem::UnknownYear {
                        given: shown(&text),
                    });
                    None
                }
            },
        }
    }

    /// The row's own Hedgerow group, if it gives one, checked against the groups of `kind`.
    fn own_group(
        &self,
        row: &CsvRow,
        kind: GroupKind,
        problems: &mut Problems,
    ) -> Option<Option<String>> {
        let given = problems.take(self.text(row, Field::Group, MAX_NAME))?;
        match given {
            None => Some(None),
            Some(given) => match find_group(self.options.groups, kind, &given) {
                Some(key) => Some(Some(key.to_owned())),
                None => {
                    problems.push(RowProblem::UnknownGroup {
                        given: shown(&given),
                        kind: if kind == GroupKind::Pupil {
                            "pupil"
                        } else {
                            "staff"
                        },
                        groups: keys_of(self.options.groups, kind),
                    });
                    None
                }
            },
        }
    }

    /// The pupil group the mapping gives a year, if it is one of the school's pupil groups.
    fn mapped(&self, year: YearGroup) -> Option<String> {
        let key = self.options.mapping.group_for(year)?;
        find_group(self.options.groups, GroupKind::Pupil, key).map(str::to_owned)
    }

    fn pupil(&mut self, row: &CsvRow) -> Result<Pupil, Vec<Problem>> {
        let mut problems = Problems::default();
        let username = self.username(row, &mut problems);
        let name = self.name(row, &mut problems);
        let email = if self.columns.has(Field::Username) {
            self.email(row, &mut problems)
        } else {
            Some(None)
        };
        let class = problems.take(self.text(row, Field::Class, MAX_CLASS));
        let own_group = self.own_group(row, GroupKind::Pupil, &mut problems);
        let year = self.year(row, &mut problems);
        let date_of_birth = self.date_of_birth(row, &mut problems);
        let group = match (&own_group, year) {
            (Some(Some(group)), _) => Some(group.clone()),
            (Some(None), Some(None)) => {
                problems.push(RowProblem::Missing {
                    what: "year group",
                    column: self.columns.header(Field::Year),
                });
                None
            }
            (Some(None), Some(Some(year))) => match self.mapped(year) {
                Some(group) => Some(group),
                None => {
                    let groups = keys_of(self.options.groups, GroupKind::Pupil);
                    let example = self
                        .options
                        .groups
                        .iter()
                        .find(|g| g.kind == GroupKind::Pupil)
                        .map_or_else(|| "pupils".to_owned(), |g| g.key.clone());
                    problems.push(RowProblem::UnmappedYear {
                        year: year.label(),
                        example,
                        groups,
                    });
                    None
                }
            },
            _ => None,
        };
        problems.finish(|| {
            Some(Pupil {
                row: row.row,
                username: username?,
                display_name: name?,
                year: year?,
                class: class?,
                email: email?,
                date_of_birth: date_of_birth?,
                group: group?,
            })
        })
    }

    fn class(&mut self, row: &CsvRow) -> Result<Class, Vec<Problem>> {
        let mut problems = Problems::default();
        let name = problems.take(self.required(row, Field::Class, MAX_CLASS));
        if let Some(name) = &name
            && let Some(first_row) = self.first_seen(name, row.row)
        {
            problems.push(RowProblem::Duplicate {
                what: "class",
                given: shown(name),
                first_row,
            });
        }
        let year = self.year(row, &mut problems);
        let teacher = problems.take(self.text(row, Field::Teacher, MAX_NAME));
        problems.finish(|| {
            let year = year?;
            Some(Class {
                row: row.row,
                name: name?,
                group: year.and_then(|y| self.mapped(y)),
                year,
                teacher: teacher?,
            })
        })
    }

    fn staff(&mut self, row: &CsvRow) -> Result<StaffMember, Vec<Problem>> {
        let mut problems = Problems::default();
        let username = self.username(row, &mut problems);
        let name = self.name(row, &mut problems);
        let email = if self.columns.has(Field::Username) {
            self.email(row, &mut problems)
        } else {
            Some(None)
        };
        let staff_code = problems.take(self.text(row, Field::StaffCode, MAX_STAFF_CODE));
        let roles = problems
            .take(self.text(row, Field::Roles, MAX_NAME))
            .map(|text| self.roles(row.row, text.as_deref().unwrap_or("")));
        let own_group = self.own_group(row, GroupKind::Staff, &mut problems);
        let group = match own_group {
            Some(Some(group)) => Some(group),
            Some(None) => match &self.staff_group {
                Some(group) => Some(group.clone()),
                None => {
                    problems.push(RowProblem::Missing {
                        what: "Hedgerow group",
                        column: self.columns.header(Field::Group),
                    });
                    None
                }
            },
            None => None,
        };
        problems.finish(|| {
            Some(StaffMember {
                row: row.row,
                username: username?,
                display_name: name?,
                email: email?,
                staff_code: staff_code?,
                roles: roles?,
                group: group?,
            })
        })
    }

    /// Role keys from a roles cell; what is not a Hedgerow role is left out with a warning
    /// (information systems put job titles such as "Teaching Assistant" in their role column).
    fn roles(&mut self, row: usize, text: &str) -> Vec<String> {
        let mut roles = Vec::new();
        for item in text.split([',', ';', '/', '|', '+']) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match role_from_text(item) {
                Some(role) => roles.push(role.key().to_owned()),
                None => self.warnings.push(Warning {
                    row: Some(row),
                    message: format!(
                        "\"{}\" is not a Hedgerow role, so it was left out (the roles are {})",
                        shown(item),
                        Role::ALL
                            .iter()
                            .map(|r| r.key())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            }
        }
        roles.sort_unstable();
        roles.dedup();
        roles
    }
}

/// A role from the words a school might write for it.
fn role_from_text(text: &str) -> Option<Role> {
    let key: String = text
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let key = match key.as_str() {
        "head" | "head-teacher" | "principal" | "head-of-school" | "executive-headteacher" => {
            "headteacher"
        }
        "designated-safeguarding-lead" | "safeguarding-lead" => "dsl",
        "deputy-designated-safeguarding-lead" | "deputy-safeguarding-lead" | "ddsl" => "deputy-dsl",
        "e-safety-lead" | "esafety-lead" | "online-safety-coordinator" => "online-safety-lead",
        "it-manager" => "network-manager",
        "class-teacher" | "form-tutor" => "teacher",
        other => other,
    };
    Role::parse(key).ok()
}

/// A value trimmed, with runs of spaces made one; `None` when empty. Line breaks and other
/// control characters are refused rather than silently joined.
fn clean(raw: &str, what: &'static str, max: usize) -> Result<Option<String>, RowProblem> {
    let trimmed = raw.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(RowProblem::ControlCharacters { what });
    }
    if trimmed.is_empty() {
        return Ok(None);
    }
    let value = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    if value.chars().count() > max {
        return Err(RowProblem::TooLong { what, max });
    }
    Ok(Some(value))
}

/// Usernames as the admin app and the proxy's sign-in take them.
fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USERNAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// One `@` with something on both sides, no spaces, a dot in the domain.
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.chars().count() <= MAX_EMAIL
}
