//! Which column is which: header names as SIMS, Arbor, Bromcom and hand-made spreadsheets
//! write them, matched ignoring case, spaces and punctuation ("Reg. Group", "reg_group" and
//! "REG GROUP" are one name).

use crate::Kind;
use crate::error::ImportError;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// The sign-in name.
    Username,
    /// First name as registered.
    Forename,
    /// First name the person goes by.
    PreferredForename,
    /// Last name as registered.
    Surname,
    /// Last name the person goes by.
    PreferredSurname,
    /// The whole name in one column.
    FullName,
    /// Year group.
    Year,
    /// A pupil's class (registration group), or a class's name in a classes file.
    Class,
    /// E-mail address.
    Email,
    /// The staff code (initials) the information system gives a member of staff.
    StaffCode,
    /// Hedgerow roles.
    Roles,
    /// A class's teacher.
    Teacher,
    /// A Hedgerow filtering group, overriding the year group mapping.
    Group,
    /// A pupil's date of birth.
    DateOfBirth,
}

impl Field {
    /// How the field is named in messages.
    pub fn what(self, kind: Kind) -> &'static str {
        match self {
            Field::Username => "username",
            Field::Forename => "forename",
            Field::PreferredForename => "preferred forename",
            Field::Surname => "surname",
            Field::PreferredSurname => "preferred surname",
            Field::FullName => "name",
            Field::Year => "year group",
            Field::Class if kind == Kind::Classes => "class name",
            Field::Class => "class (registration group)",
            Field::Email => "e-mail address",
            Field::StaffCode => "staff code",
            Field::Roles => "roles",
            Field::Teacher => "teacher",
            Field::Group => "Hedgerow group",
            Field::DateOfBirth => "date of birth",
        }
    }
}

/// The header names accepted for each field of each kind of file, already normalised.
pub fn synonyms(kind: Kind, field: Field) -> &'static [&'static str] {
    match (kind, field) {
        (Kind::Classes, Field::Class) => &[
            "class",
            "class name",
            "name",
            "reg group",
            "registration group",
            "form",
            "form group",
            "tutor group",
            "group name",
            "reg",
            "registration class",
        ],
        (Kind::Classes, Field::Year) | (Kind::Pupils, Field::Year) => &[
            "year",
            "year group",
            "nc year",
            "national curriculum year",
            "curriculum year",
            "yr",
            "year grp",
            "year of study",
        ],
        (Kind::Classes, Field::Teacher) => &[
            "teacher",
            "teachers",
            "class teacher",
            "form tutor",
            "tutor",
            "main teacher",
            "teacher code",
            "tutor code",
            "staff",
            "teacher username",
        ],
        (Kind::Classes, _) => &[],
        (_, Field::Username) => &[
            "username",
            "user name",
            "login",
            "login name",
            "logon name",
            "log in",
            "network login",
            "network username",
            "network user name",
            "user id",
            "userid",
            "account",
            "account name",
            "samaccountname",
            "sam account name",
        ],
        (_, Field::Forename) => &[
            "legal forename",
            "forename",
            "first name",
            "firstname",
            "given name",
            "legal first name",
            "forenames",
        ],
        (_, Field::PreferredForename) => &[
            "preferred forename",
            "preferred first name",
            "known as",
            "chosen forename",
        ],
        (_, Field::Surname) => &[
            "legal surname",
            "surname",
            "last name",
            "lastname",
            "family name",
            "legal last name",
        ],
        (_, Field::PreferredSurname) => &["preferred surname", "preferred last name"],
        (Kind::Pupils, Field::FullName) => &[
            "name",
            "full name",
            "display name",
            "pupil name",
            "student name",
            "pupil",
            "student",
            "child name",
        ],
        (Kind::Staff, Field::FullName) => &[
            "name",
            "full name",
            "display name",
            "staff name",
            "staff member",
            "employee name",
        ],
        (Kind::Pupils, Field::Class) => &[
            "reg group",
            "registration group",
            "reg",
            "form",
            "form group",
            "tutor group",
            "class",
            "class name",
            "registration class",
        ],
        (_, Field::Email) => &[
            "email",
            "e mail",
            "email address",
            "e mail address",
            "work email",
            "school email",
            "primary email",
            "email work",
        ],
        (Kind::Staff, Field::StaffCode) => &[
            "staff code",
            "code",
            "staff initials",
            "initials",
            "teacher code",
            "staff id",
        ],
        (Kind::Staff, Field::Roles) => &["role", "roles", "hedgerow role", "hedgerow roles"],
        // Only pupils: a staff file's date of birth is listed as unused and never stored.
        (Kind::Pupils, Field::DateOfBirth) => &[
            "date of birth",
            "dob",
            "d o b",
            "birth date",
            "birthdate",
            "legal dob",
            "legal date of birth",
            "date of birth legal",
            "pupil dob",
            "student dob",
            "pupil date of birth",
            "student date of birth",
            "dateofbirth",
        ],
        (_, Field::Group) => &[
            "hedgerow group",
            "filter group",
            "filtering group",
            "policy group",
        ],
        _ => &[],
    }
}

/// Every field a kind of file can have.
fn fields_of(kind: Kind) -> &'static [Field] {
    match kind {
        Kind::Pupils => &[
            Field::Username,
            Field::Forename,
            Field::PreferredForename,
            Field::Surname,
            Field::PreferredSurname,
            Field::FullName,
            Field::Year,
            Field::Class,
            Field::Email,
            Field::Group,
            Field::DateOfBirth,
        ],
        Kind::Classes => &[Field::Class, Field::Year, Field::Teacher],
        Kind::Staff => &[
            Field::Username,
            Field::Forename,
            Field::PreferredForename,
            Field::Surname,
            Field::PreferredSurname,
            Field::FullName,
            Field::Email,
            Field::StaffCode,
            Field::Roles,
            Field::Group,
        ],
    }
}

/// A header name in the one spelling synonyms are written in: lower case, every run of
/// anything but letters and digits one space.
pub fn normalise(header: &str) -> String {
    header
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Which column holds which field.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    found: Vec<(Field, usize)>,
    headers: Vec<String>,
    /// Headers of columns the import does not use.
    pub unused: Vec<String>,
}

impl Columns {
    /// Reads the header row. Two columns for one field are an error; columns for nothing
    /// the import uses are listed in [`Columns::unused`].
    pub fn read(kind: Kind, header: &[String]) -> Result<Columns, Vec<ImportError>> {
        let mut columns = Columns {
            headers: header.iter().map(|h| h.trim().to_owned()).collect(),
            ..Columns::default()
        };
        let mut errors = Vec::new();
        for (index, name) in header.iter().enumerate() {
            let normal = normalise(name);
            let field = fields_of(kind)
                .iter()
                .copied()
                .find(|f| synonyms(kind, *f).contains(&normal.as_str()));
            match field {
                Some(field) => {
                    if let Some(first) = columns.index(field) {
                        errors.push(ImportError::DuplicateColumn {
                            what: field.what(kind),
                            first: crate::error::shown(&columns.headers[first]),
                            second: crate::error::shown(name.trim()),
                        });
                    } else {
                        columns.found.push((field, index));
                    }
                }
                None if !normal.is_empty() => columns.unused.push(crate::error::shown(name.trim())),
                None => {}
            }
        }
        if errors.is_empty() {
            Ok(columns)
        } else {
            Err(errors)
        }
    }

    /// The column of a field, if the file has one.
    pub fn index(&self, field: Field) -> Option<usize> {
        self.found
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, i)| *i)
    }

    /// Whether the file has a column for the field.
    pub fn has(&self, field: Field) -> bool {
        self.index(field).is_some()
    }

    /// The header of a field's column, as written.
    pub fn header(&self, field: Field) -> String {
        self.index(field)
            .and_then(|i| self.headers.get(i))
            .map(|h| crate::error::shown(h))
            .unwrap_or_default()
    }

    /// How many columns the header row has.
    pub fn width(&self) -> usize {
        self.headers.len()
    }

    /// The error for a missing column, listing the names accepted for it.
    pub fn missing(kind: Kind, field: Field) -> ImportError {
        ImportError::MissingColumn {
            what: field.what(kind),
            accepted: accepted_names(kind, field),
        }
    }
}

/// A field's accepted header names, for messages: `"Username", "Login" or "Network Login"`.
pub fn accepted_names(kind: Kind, field: Field) -> String {
    let names: Vec<String> = synonyms(kind, field)
        .iter()
        .take(6)
        .map(|s| {
            let titled: Vec<String> = s
                .split(' ')
                .map(|w| {
                    if matches!(w, "nc" | "id" | "upn" | "dob") {
                        return w.to_uppercase();
                    }
                    let mut chars = w.chars();
                    match chars.next() {
                        Some(first) => first.to_uppercase().chain(chars).collect(),
                        None => String::new(),
                    }
                })
                .collect();
            format!("\"{}\"", titled.join(" "))
        })
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn sims_arbor_and_bromcom_headers_are_recognised() {
        let c = Columns::read(
            Kind::Pupils,
            &header(&[
                "UPN",
                "Legal Surname",
                "Legal Forename",
                "Reg. Group",
                "NC_Year",
                "Network Login",
            ]),
        )
        .unwrap();
        assert_eq!(c.index(Field::Surname), Some(1));
        assert_eq!(c.index(Field::Forename), Some(2));
        assert_eq!(c.index(Field::Class), Some(3));
        assert_eq!(c.index(Field::Year), Some(4));
        assert_eq!(c.index(Field::Username), Some(5));
        assert_eq!(c.unused, vec!["UPN"]);

        let c = Columns::read(
            Kind::Pupils,
            &header(&["First Name", "Last Name", "Year Group", "Form", "Email"]),
        )
        .unwrap();
        assert!(
            c.has(Field::Forename)
                && c.has(Field::Surname)
                && c.has(Field::Class)
                && c.has(Field::Email)
        );

        let c = Columns::read(Kind::Classes, &header(&["Class", "Year", "Teacher"])).unwrap();
        assert_eq!(c.index(Field::Class), Some(0));
        assert_eq!(c.index(Field::Teacher), Some(2));
    }

    #[test]
    fn two_columns_for_one_thing_are_refused() {
        let errors = Columns::read(
            Kind::Pupils,
            &header(&["Forename", "First Name", "Surname"]),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        let message = errors[0].to_string();
        assert!(
            message.contains("\"Forename\"") && message.contains("\"First Name\""),
            "{message}"
        );
    }

    #[test]
    fn accepted_names_read_naturally() {
        let text = accepted_names(Kind::Staff, Field::Roles);
        assert_eq!(
            text,
            "\"Role\", \"Roles\", \"Hedgerow Role\" or \"Hedgerow Roles\""
        );
    }
}
