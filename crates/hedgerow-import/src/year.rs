//! Year groups as school information systems write them, and the school's mapping from year
//! groups to its filtering groups.
//!
//! The mapping is text, one line per year or range of years (`Reception = ks1`,
//! `Year 3 - Year 6 = ks2`, `# comments`), so a school can read and change it on the import
//! page. It may only name the school's pupil groups: a pupil must never land in a staff or
//! visitor group's more open policy because of a typing mistake.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{ImportError, shown};

/// A year group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum YearGroup {
    /// Nursery (N1, N2, FS1).
    Nursery,
    /// Reception (R, FS2, NC year 0).
    Reception,
    /// Year 1 to Year 14 (12 and 13 are the sixth form; 14 is used by some special schools).
    Year(u8),
}

/// The highest year group.
pub const MAX_YEAR: u8 = 14;

impl YearGroup {
    /// Every year group in order.
    pub fn all() -> impl Iterator<Item = YearGroup> {
        [YearGroup::Nursery, YearGroup::Reception]
            .into_iter()
            .chain((1..=MAX_YEAR).map(YearGroup::Year))
    }

    /// Reads a year group as SIMS, Arbor, Bromcom and spreadsheets write it: `Year 7`, `Y7`,
    /// `Yr 7`, `7`, `07`, `NC Year 7`, `R`, `Reception`, `Rec`, `FS2`, `0`, `N`, `N1`, `N2`,
    /// `Nursery`, `FS1`, `L6`/`U6` (lower and upper sixth). Case, spaces and punctuation
    /// are ignored.
    pub fn parse(text: &str) -> Option<YearGroup> {
        let squashed: String = text
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-')
            .flat_map(char::to_lowercase)
            .collect();
        if squashed == "-1" {
            return Some(YearGroup::Nursery);
        }
        let squashed = squashed.replace('-', "");
        let mut rest = squashed.as_str();
        for prefix in [
            "nationalcurriculumyear",
            "ncyear",
            "yeargroup",
            "year",
            "yr",
            "nc",
            "y",
        ] {
            if let Some(after) = rest.strip_prefix(prefix)
                && !after.is_empty()
            {
                rest = after;
                break;
            }
        }
        match rest {
            "n" | "n1" | "n2" | "nursery" | "nur" | "fs1" | "f1" | "nursery1" | "nursery2" => {
                Some(YearGroup::Nursery)
            }
            "r" | "rec" | "reception" | "fs2" | "f2" | "0" | "00" => Some(YearGroup::Reception),
            "l6" | "lowersixth" | "lower6" => Some(YearGroup::Year(12)),
            "u6" | "uppersixth" | "upper6" => Some(YearGroup::Year(13)),
            digits
                if !digits.is_empty()
                    && digits.len() <= 2
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let n: u8 = digits.parse().ok()?;
                (1..=MAX_YEAR).contains(&n).then_some(YearGroup::Year(n))
            }
            _ => None,
        }
    }

    /// How the year is written in messages and in the mapping: `Nursery`, `Reception`,
    /// `Year 7`.
    pub fn label(self) -> String {
        match self {
            YearGroup::Nursery => "Nursery".to_owned(),
            YearGroup::Reception => "Reception".to_owned(),
            YearGroup::Year(n) => format!("Year {n}"),
        }
    }

    /// The key stage's name for choosing a default group.
    fn stage_words(self) -> &'static [&'static str] {
        match self {
            YearGroup::Nursery | YearGroup::Reception => &[
                "eyfs",
                "early",
                "earlyyears",
                "foundation",
                "ks1",
                "infants",
                "infant",
                "primary",
                "pupils",
                "pupil",
                "children",
            ],
            YearGroup::Year(1..=2) => &[
                "ks1", "infants", "infant", "primary", "pupils", "pupil", "children",
            ],
            YearGroup::Year(3..=6) => &[
                "ks2", "juniors", "junior", "primary", "pupils", "pupil", "children",
            ],
            YearGroup::Year(7..=9) => &["ks3", "lower", "secondary", "pupils", "pupil", "students"],
            YearGroup::Year(10..=11) => {
                &["ks4", "upper", "secondary", "pupils", "pupil", "students"]
            }
            YearGroup::Year(_) => &[
                "ks5",
                "sixthform",
                "sixth",
                "post16",
                "secondary",
                "pupils",
                "pupil",
                "students",
            ],
        }
    }

    /// Words that name exactly this year in a group key (`y7`, `year7`, `reception`).
    fn own_words(self) -> Vec<String> {
        match self {
            YearGroup::Nursery => vec!["nursery".into(), "n".into()],
            YearGroup::Reception => vec!["reception".into(), "rec".into()],
            YearGroup::Year(n) => vec![format!("y{n}"), format!("year{n}"), format!("yr{n}")],
        }
    }
}

impl fmt::Display for YearGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// What kind of people a school's group is for, as far as an import cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// A pupil group.
    Pupil,
    /// A staff group.
    Staff,
    /// Visitors, unidentified clients and anything else: never chosen by an import.
    Other,
}

/// One of the school's filtering groups, as its policy has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchoolGroup {
    /// The group's key, such as `ks2`.
    pub key: String,
    /// Its kind.
    pub kind: GroupKind,
}

impl SchoolGroup {
    /// A group with this key and kind.
    pub fn new(key: impl Into<String>, kind: GroupKind) -> SchoolGroup {
        SchoolGroup {
            key: key.into(),
            kind,
        }
    }
}

/// The keys of the school's groups of one kind, comma-separated, for messages.
pub(crate) fn keys_of(groups: &[SchoolGroup], kind: GroupKind) -> String {
    let keys: Vec<&str> = groups
        .iter()
        .filter(|g| g.kind == kind)
        .map(|g| g.key.as_str())
        .collect();
    if keys.is_empty() {
        "(none: the policy has no such group)".to_owned()
    } else {
        keys.join(", ")
    }
}

/// The school's group of this kind with this key, ignoring case; its key as the policy
/// spells it.
pub(crate) fn find_group<'a>(
    groups: &'a [SchoolGroup],
    kind: GroupKind,
    key: &str,
) -> Option<&'a str> {
    groups
        .iter()
        .find(|g| g.kind == kind && g.key.eq_ignore_ascii_case(key.trim()))
        .map(|g| g.key.as_str())
}

/// Which pupil group each year group goes into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearMapping {
    groups: BTreeMap<YearGroup, String>,
}

impl YearMapping {
    /// The mapping a school starts with, from its pupil groups' keys: a group named for the
    /// year (`y7`), else for its key stage (`eyfs`, `ks1` ... `ks5`, or `eyfs-ks1`, which
    /// names both), else for its phase (`infants`, `juniors`, `primary`, `secondary`,
    /// `sixth-form`), else a general `pupils` group; with only one pupil group, every year
    /// goes there. Years that match nothing are left out, and importing one is an error that
    /// asks for a line in the mapping.
    pub fn suggested(groups: &[SchoolGroup]) -> YearMapping {
        let pupil: Vec<&SchoolGroup> = groups
            .iter()
            .filter(|g| g.kind == GroupKind::Pupil)
            .collect();
        let words_of = |key: &str| -> Vec<String> {
            let lower = key.to_lowercase();
            let mut words: Vec<String> = lower
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            words.push(lower.chars().filter(|c| c.is_alphanumeric()).collect());
            words
        };
        let mut mapping = YearMapping::default();
        for year in YearGroup::all() {
            let wanted = year
                .own_words()
                .into_iter()
                .chain(year.stage_words().iter().map(|w| (*w).to_owned()));
            let found = wanted.into_iter().find_map(|word| {
                pupil
                    .iter()
                    .find(|g| words_of(&g.key).contains(&word))
                    .map(|g| g.key.clone())
            });
            let found = found.or_else(|| match pupil.as_slice() {
                [only] => Some(only.key.clone()),
                _ => None,
            });
            if let Some(key) = found {
                mapping.groups.insert(year, key);
            }
        }
        mapping
    }

    /// Reads a mapping written as [`YearMapping::to_text`] writes it. Each line is
    /// `YEAR = GROUP` or `YEAR - YEAR = GROUP`; blank lines and `#` comments are ignored; a
    /// later line wins over an earlier one for the same year. Every group must be one of the
    /// school's pupil groups.
    pub fn parse(text: &str, groups: &[SchoolGroup]) -> Result<YearMapping, Vec<ImportError>> {
        let mut mapping = YearMapping::default();
        let mut problems = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let problem = |message: String| ImportError::Mapping {
                line: line_number,
                message,
            };
            let Some((years, group)) = line.split_once('=').or_else(|| line.split_once(':')) else {
                problems.push(problem(format!(
                    "\"{}\" has no \"=\"; write a year and a group like \"Year 7 = ks3\"",
                    shown(line)
                )));
                continue;
            };
            let group = group.trim();
            let Some(key) = find_group(groups, GroupKind::Pupil, group) else {
                problems.push(problem(format!(
                    "\"{}\" is not one of the school's pupil groups; use one of {}",
                    shown(group),
                    keys_of(groups, GroupKind::Pupil)
                )));
                continue;
            };
            let range = YearGroup::parse(years).map(|y| (y, y)).or_else(|| {
                let (from, to) = years.split_once(" to ").or_else(|| years.split_once('-'))?;
                YearGroup::parse(from).zip(YearGroup::parse(to))
            });
            let Some((from, to)) = range.filter(|(from, to)| from <= to) else {
                problems.push(problem(format!(
                    "\"{}\" is not a year group or a range of them; write for example \
                     \"Reception\", \"Year 7\" or \"Year 3 - Year 6\"",
                    shown(years.trim())
                )));
                continue;
            };
            for year in YearGroup::all().filter(|y| (from..=to).contains(y)) {
                mapping.groups.insert(year, key.to_owned());
            }
        }
        if problems.is_empty() {
            Ok(mapping)
        } else {
            Err(problems)
        }
    }

    /// The mapping as text, one line per year group that has a group.
    pub fn to_text(&self) -> String {
        self.groups
            .iter()
            .map(|(year, key)| format!("{year} = {key}\n"))
            .collect()
    }

    /// The group for a year, if the mapping has one.
    pub fn group_for(&self, year: YearGroup) -> Option<&str> {
        self.groups.get(&year).map(String::as_str)
    }

    /// Every year with its group, in year order.
    pub fn iter(&self) -> impl Iterator<Item = (YearGroup, &str)> {
        self.groups.iter().map(|(y, k)| (*y, k.as_str()))
    }

    /// Whether the mapping sends no year anywhere.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(spec: &[(&str, GroupKind)]) -> Vec<SchoolGroup> {
        spec.iter()
            .map(|(k, kind)| SchoolGroup::new(*k, *kind))
            .collect()
    }

    #[test]
    fn years_as_information_systems_write_them() {
        for (text, year) in [
            ("Year 7", YearGroup::Year(7)),
            ("Y7", YearGroup::Year(7)),
            ("yr 07", YearGroup::Year(7)),
            ("7", YearGroup::Year(7)),
            ("NC Year 11", YearGroup::Year(11)),
            ("Year Group 3", YearGroup::Year(3)),
            ("R", YearGroup::Reception),
            ("Reception", YearGroup::Reception),
            ("Year R", YearGroup::Reception),
            ("FS2", YearGroup::Reception),
            ("0", YearGroup::Reception),
            ("N1", YearGroup::Nursery),
            ("Nursery 2", YearGroup::Nursery),
            ("-1", YearGroup::Nursery),
            ("L6", YearGroup::Year(12)),
            ("Upper Sixth", YearGroup::Year(13)),
            ("14", YearGroup::Year(14)),
        ] {
            assert_eq!(YearGroup::parse(text), Some(year), "{text}");
        }
        for bad in ["", "Year", "15", "Year 0x", "Staff", "y", "100", "３"] {
            assert_eq!(YearGroup::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn suggested_mapping_follows_the_school_groups() {
        let demo = groups(&[
            ("ks1", GroupKind::Pupil),
            ("ks2", GroupKind::Pupil),
            ("staff", GroupKind::Staff),
            ("unknown", GroupKind::Other),
        ]);
        let m = YearMapping::suggested(&demo);
        assert_eq!(m.group_for(YearGroup::Nursery), Some("ks1"));
        assert_eq!(m.group_for(YearGroup::Reception), Some("ks1"));
        assert_eq!(m.group_for(YearGroup::Year(2)), Some("ks1"));
        assert_eq!(m.group_for(YearGroup::Year(3)), Some("ks2"));
        assert_eq!(m.group_for(YearGroup::Year(6)), Some("ks2"));
        assert_eq!(m.group_for(YearGroup::Year(7)), None);

        let combined = groups(&[("eyfs-ks1", GroupKind::Pupil), ("ks2", GroupKind::Pupil)]);
        let m = YearMapping::suggested(&combined);
        assert_eq!(m.group_for(YearGroup::Reception), Some("eyfs-ks1"));
        assert_eq!(m.group_for(YearGroup::Year(1)), Some("eyfs-ks1"));

        let one = groups(&[("pupils", GroupKind::Pupil), ("staff", GroupKind::Staff)]);
        assert!(
            YearGroup::all().all(|y| YearMapping::suggested(&one).group_for(y) == Some("pupils"))
        );

        let only_staff = groups(&[("staff", GroupKind::Staff)]);
        assert!(YearMapping::suggested(&only_staff).is_empty());
    }

    #[test]
    fn mapping_text_round_trips_and_refuses_other_groups() {
        let school = groups(&[
            ("ks3", GroupKind::Pupil),
            ("ks4", GroupKind::Pupil),
            ("staff", GroupKind::Staff),
        ]);
        let m = YearMapping::parse(
            "# secondary\nYear 7 - Year 9 = ks3\n10 to 13 = KS4\n",
            &school,
        )
        .unwrap();
        assert_eq!(m.group_for(YearGroup::Year(8)), Some("ks3"));
        assert_eq!(m.group_for(YearGroup::Year(13)), Some("ks4"));
        assert_eq!(YearMapping::parse(&m.to_text(), &school).unwrap(), m);

        let errors = YearMapping::parse(
            "Year 7 = staff\nYear 8 = nowhere\nbanana\nYear 9 - Year 7 = ks3",
            &school,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4);
        let text = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains("line 1") && text.contains("ks3, ks4"),
            "{text}"
        );
        assert!(
            text.contains("line 2") && text.contains("nowhere"),
            "{text}"
        );
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("line 4"), "{text}");
    }
}
