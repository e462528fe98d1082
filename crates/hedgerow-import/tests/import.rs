//! Whole files as information systems export them, and properties over arbitrary input: no
//! panic, all or nothing, groups only from the school's policy, and quoting round trips.

use hedgerow_import::{
    Date, DateProblem, GroupKind, ImportError, ImportOptions, Kind, MAX_BYTES, MAX_ROWS, Records,
    RowProblem, SchoolGroup, TextEncoding, YearGroup, YearMapping, read_import,
};
use proptest::prelude::*;

/// The day every import here is read on (a fixed day, so range checks do not drift).
const TODAY: Date = Date::constant(2025, 9, 1);

fn demo_groups() -> Vec<SchoolGroup> {
    vec![
        SchoolGroup::new("ks1", GroupKind::Pupil),
        SchoolGroup::new("ks2", GroupKind::Pupil),
        SchoolGroup::new("staff", GroupKind::Staff),
        SchoolGroup::new("visitors", GroupKind::Other),
        SchoolGroup::new("unknown", GroupKind::Other),
    ]
}

fn read(kind: Kind, text: &[u8]) -> Result<hedgerow_import::Import, hedgerow_import::Refused> {
    let groups = demo_groups();
    let mapping = YearMapping::suggested(&groups);
    read_import(
        kind,
        text,
        &ImportOptions {
            groups: &groups,
            mapping: &mapping,
            today: TODAY,
        },
    )
}

#[test]
fn a_sims_pupil_export_with_bom_crlf_quotes_and_hostile_names() {
    let file = "\u{FEFF}UPN,Legal Surname,Legal Forename,Preferred Forename,Year,Reg Group,Username\r\n\
        A123,\"O'Neill, Jr\",Siobhan,,Year 2,2B,s.oneill\r\n\
        A124,Smith,\"Jo, \"\"JJ\"\"\",Jo,R,RA,j.smith\r\n\
        A125,<script>alert(1)</script>,Bobby,,Y6,6C,b.tables\r\n\
        \r\n\
        A126,Ng,\"Multi\r\nLine\",,5,,m.ng2\r\n";
    let err = read(Kind::Pupils, file.as_bytes()).unwrap_err();
    // The line break inside a name is refused, with its row (row 6: the blank row 5 counts).
    assert_eq!(err.total, 1, "{err}");
    assert!(
        matches!(
            &err.problems[0],
            ImportError::Row {
                row: 6,
                problem: RowProblem::ControlCharacters { .. }
            }
        ),
        "{err}"
    );

    let file = file.replace("\"Multi\r\nLine\"", "Min");
    let import = read(Kind::Pupils, file.as_bytes()).unwrap();
    assert_eq!(import.encoding, TextEncoding::Utf8);
    assert_eq!(import.unused_columns, vec!["UPN"]);
    let Records::Pupils(pupils) = import.records else {
        panic!("pupils")
    };
    assert_eq!(pupils.len(), 4);
    assert_eq!(pupils[0].display_name, "Siobhan O'Neill, Jr");
    assert_eq!(pupils[0].group, "ks1");
    assert_eq!(pupils[0].class.as_deref(), Some("2B"));
    // The preferred forename wins over the legal one.
    assert_eq!(pupils[1].display_name, "Jo Smith");
    assert_eq!(pupils[1].year, Some(YearGroup::Reception));
    assert_eq!(pupils[2].display_name, "Bobby <script>alert(1)</script>");
    assert_eq!(pupils[2].group, "ks2");
    assert_eq!(pupils[3].row, 6);
    assert_eq!(pupils[3].class, None);
}

#[test]
fn one_bad_row_refuses_the_whole_file_and_every_problem_is_listed() {
    let file = "Forename,Surname,Year,Class,Username\n\
        Ann,Able,1,1A,a.able\n\
        Ben,,Year 9,9X,b bad\n\
        Cat,Cole,Year Z,3C,c.cole\n\
        Dan,Dee,4,4D,A.ABLE\n";
    let err = read(Kind::Pupils, file.as_bytes()).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("nothing was imported"), "{text}");
    let rows: Vec<Option<usize>> = err.problems.iter().map(ImportError::row).collect();
    assert_eq!(rows, vec![Some(3), Some(3), Some(4), Some(5)], "{text}");
    // Ben has a one-word name (allowed), a username with a space, and a year no group takes.
    assert!(
        text.contains("row 3: \"b bad\" is not a username"),
        "{text}"
    );
    assert!(
        text.contains("row 3: Year 9 has no filtering group") && text.contains("ks1, ks2"),
        "{text}"
    );
    assert!(
        text.contains("row 4: \"Year Z\" is not a year group"),
        "{text}"
    );
    assert!(
        text.contains("row 5: the username \"A.ABLE\" is also on row 2"),
        "{text}"
    );
}

#[test]
fn missing_columns_say_which_names_are_accepted() {
    let err = read(Kind::Pupils, b"Forename,Surname\nA,B\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("no username column") && text.contains("\"Login\""),
        "{text}"
    );
    assert!(
        text.contains("no year group column") && text.contains("\"NC Year\""),
        "{text}"
    );
    let err = read(Kind::Classes, b"Teacher\nMrs A\n").unwrap_err();
    assert!(err.to_string().contains("no class name column"), "{err}");
    assert!(matches!(
        read(Kind::Staff, b"").unwrap_err().problems[0],
        ImportError::Empty
    ));
    assert!(matches!(
        read(Kind::Staff, b"Name,Email\n\n").unwrap_err().problems[0],
        ImportError::Empty
    ));
}

#[test]
fn staff_roles_are_suggestions_and_job_titles_are_left_out_with_a_warning() {
    let file = "Staff Code,Title,First Name,Last Name,Email,Role\n\
        ABC,Mrs,Alice,Brown,alice.brown@school.example,Head Teacher/DSL\n\
        DEF,Mr,Dev,Evans,dev.evans@school.example,Teaching Assistant\n";
    let import = read(Kind::Staff, file.as_bytes()).unwrap();
    let Records::Staff(staff) = &import.records else {
        panic!("staff")
    };
    assert_eq!(staff[0].username, "alice.brown@school.example");
    assert_eq!(staff[0].roles, vec!["dsl", "headteacher"]);
    assert_eq!(staff[0].group, "staff");
    assert_eq!(staff[0].staff_code.as_deref(), Some("ABC"));
    assert!(staff[1].roles.is_empty());
    let warnings: Vec<String> = import.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.contains("e-mail address")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("row 3: \"Teaching Assistant\"")),
        "{warnings:?}"
    );

    // A school without a staff group cannot import staff unless each row names a group.
    let groups = vec![SchoolGroup::new("pupils", GroupKind::Pupil)];
    let mapping = YearMapping::suggested(&groups);
    let err = read_import(
        Kind::Staff,
        file.as_bytes(),
        &ImportOptions {
            groups: &groups,
            mapping: &mapping,
            today: TODAY,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err.problems[0], ImportError::NoStaffGroup),
        "{err}"
    );
}

#[test]
fn classes_with_years_teachers_and_duplicates() {
    let import = read(
        Kind::Classes,
        b"Class,Year,Teacher\n3A,Year 3,Mrs Ash\nRB,Reception,\nMixed,,Mr Oak\n",
    )
    .unwrap();
    let Records::Classes(classes) = &import.records else {
        panic!("classes")
    };
    assert_eq!(classes[0].group.as_deref(), Some("ks2"));
    assert_eq!(classes[1].group.as_deref(), Some("ks1"));
    assert_eq!(classes[1].teacher, None);
    assert_eq!(classes[2].year, None);
    let err = read(Kind::Classes, b"Class\n3A\n3a\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("row 3: the class \"3a\" is also on row 2"),
        "{err}"
    );
}

#[test]
fn a_hedgerow_group_column_must_name_a_group_of_the_right_kind() {
    let err = read(
        Kind::Pupils,
        b"Name,Username,Hedgerow Group\nA B,a.b,staff\n",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"staff\" is not one of the school's pupil groups; use one of ks1, ks2"),
        "{text}"
    );
    let import = read(Kind::Pupils, b"Name,Username,Hedgerow Group\nA B,a.b,KS2\n").unwrap();
    let Records::Pupils(p) = import.records else {
        panic!()
    };
    assert_eq!(p[0].group, "ks2");
    assert_eq!(p[0].year, None);
}

#[test]
fn windows_1252_and_semicolons_from_older_exports() {
    let import = read(
        Kind::Pupils,
        b"Name;Username;Year\nZo\xEB Br\xFBl\xE9;z.brule;3\n",
    )
    .unwrap();
    assert_eq!(import.encoding, TextEncoding::Windows1252);
    let Records::Pupils(p) = import.records else {
        panic!()
    };
    assert_eq!(p[0].display_name, "Zoë Brûlé");
}

#[test]
fn size_and_row_limits() {
    let big = vec![b'a'; MAX_BYTES + 1];
    assert!(matches!(
        read(Kind::Pupils, &big).unwrap_err().problems[0],
        ImportError::TooLarge { .. }
    ));
    let mut many = String::from("Name,Username,Year\n");
    for i in 0..MAX_ROWS {
        many.push_str(&format!("P {i},p{i},3\n"));
    }
    let err = read(Kind::Pupils, many.as_bytes()).unwrap_err();
    assert!(
        err.problems
            .iter()
            .any(|p| matches!(p, ImportError::TooManyRows { .. })),
        "{err}"
    );
    // Thousands of bad rows are counted, and the first few hundred listed.
    let mut bad = String::from("Name,Username,Year\n");
    for i in 0..2_000 {
        bad.push_str(&format!("P {i},p {i},3\n"));
    }
    let err = read(Kind::Pupils, bad.as_bytes()).unwrap_err();
    assert_eq!(err.total, 2_000);
    assert_eq!(err.problems.len(), hedgerow_import::Refused::MAX_LISTED);
    assert!(err.to_string().ends_with("and 1500 more"));
}

/// A value written as a careful exporter writes it: quoted when it must be.
fn quote(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[test]
fn dates_of_birth_are_read_from_sims_arbor_and_bromcom_headers() {
    for header in [
        "Date of birth",
        "DOB",
        "Date Of Birth",
        "Birth date",
        "Legal DOB",
        "D.O.B.",
    ] {
        let file = format!(
            "Username,Legal Forename,Legal Surname,Year,{header}\n\
             a.able,Ann,Able,Year 2,23/04/2018\n\
             b.bell,Ben,Bell,Year 5,2015-01-09\n\
             c.cole,Cat,Cole,Year 5,\n\
             d.dee,Dan,Dee,Year 4,1/9/2016\n"
        );
        let import = read(Kind::Pupils, file.as_bytes()).unwrap();
        assert!(
            import.unused_columns.is_empty(),
            "{header}: {:?}",
            import.unused_columns
        );
        let Records::Pupils(pupils) = import.records else {
            panic!("pupils")
        };
        let dates: Vec<Option<Date>> = pupils.iter().map(|p| p.date_of_birth).collect();
        assert_eq!(
            dates,
            vec![
                Some(Date::constant(2018, 4, 23)),
                Some(Date::constant(2015, 1, 9)),
                None,
                Some(Date::constant(2016, 9, 1)),
            ],
            "{header}"
        );
    }

    // Without the column, nobody has a date of birth (and nothing is refused).
    let file = "Username,Name,Year\na.able,Ann Able,2\n";
    let Records::Pupils(pupils) = read(Kind::Pupils, file.as_bytes()).unwrap().records else {
        panic!("pupils")
    };
    assert_eq!(pupils[0].date_of_birth, None);

    // A staff file's date of birth is not read: it is listed as unused.
    let file = "Username,Name,DOB\nt.teach,Tess Teach,01/02/1980\n";
    let import = read(Kind::Staff, file.as_bytes()).unwrap();
    assert_eq!(import.unused_columns, vec!["DOB"]);
}

#[test]
fn a_bad_date_of_birth_refuses_the_file_naming_the_row_and_what_to_do() {
    let file = "Username,Name,Year,Date of Birth\n\
        a.able,Ann Able,2,23/04/2018\n\
        b.bell,Ben Bell,5,23/04/18\n\
        c.cole,Cat Cole,5,31/02/2016\n\
        d.dee,Dan Dee,4,04/23/2016\n\
        e.eve,Eve East,4,02/09/2025\n\
        f.fox,Fay Fox,4,31/08/1995\n\
        g.gee,Gus Gee,4,next Tuesday\n\
        h.hay,Hal Hay,4,01/09/1995\n";
    let err = read(Kind::Pupils, file.as_bytes()).unwrap_err();
    let found: Vec<(usize, DateProblem)> = err
        .problems
        .iter()
        .map(|p| match p {
            ImportError::Row {
                row,
                problem: RowProblem::DateOfBirth { problem, .. },
            } => (*row, *problem),
            other => panic!("unexpected problem: {other}"),
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (3, DateProblem::TwoDigitYear),
            (4, DateProblem::Impossible),
            (5, DateProblem::Impossible),
            (6, DateProblem::InFuture),
            (7, DateProblem::TooLongAgo),
            (8, DateProblem::Unreadable),
        ]
    );
    let text = err.to_string();
    assert!(
        text.starts_with("nothing was imported: the file has 6 problems"),
        "{text}"
    );
    assert!(
        text.contains(
            "row 3: the date of birth \"23/04/18\" (column \"Date of Birth\") has a two-digit year"
        ) && text.contains("with the year in full"),
        "{text}"
    );
    assert!(
        text.contains(
            "row 6: the date of birth \"02/09/2025\" (column \"Date of Birth\") is in the future"
        ),
        "{text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_date_written_day_first_reads_back(day in 0i32..=(365 * 30)) {
        let date = TODAY
            .checked_sub(jiff::Span::new().days(i64::from(day)))
            .expect("in range");
        let written = format!("{:02}/{:02}/{:04}", date.day(), date.month(), date.year());
        prop_assert_eq!(hedgerow_import::birth::parse_date(&written), Ok(date));
        let unpadded = format!("{}-{}-{}", date.day(), date.month(), date.year());
        prop_assert_eq!(hedgerow_import::birth::parse_date(&unpadded), Ok(date));
        prop_assert_eq!(hedgerow_import::birth::parse_date(&date.to_string()), Ok(date));
        let file = format!("Username,Name,Year,DOB\np.pupil,Pat Pupil,3,{written}\n");
        let Records::Pupils(pupils) = read(Kind::Pupils, file.as_bytes()).unwrap().records else {
            panic!("pupils")
        };
        prop_assert_eq!(pupils[0].date_of_birth, Some(date));
    }

    #[test]
    fn any_valid_date_parses_back_from_dd_mm_yyyy(
        year in 1i16..=9999,
        month in 1i8..=12,
        day in 1i8..=31,
    ) {
        if let Ok(date) = Date::new(year, month, day) {
            let written = format!("{day:02}/{month:02}/{year:04}");
            prop_assert_eq!(hedgerow_import::birth::parse_date(&written), Ok(date));
        } else {
            let written = format!("{day:02}/{month:02}/{year:04}");
            prop_assert_eq!(hedgerow_import::birth::parse_date(&written), Err(DateProblem::Impossible));
        }
    }

    #[test]
    fn date_text_never_panics(text in "[0-9/\\-. :T]{0,24}") {
        let _ = hedgerow_import::birth::parse_date(&text);
        let _ = hedgerow_import::birth::parse_pupil_date_of_birth(&text, TODAY);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_groups_are_the_schools(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        kind in 0usize..3,
        mapping in "[ -~\n]{0,80}",
    ) {
        let groups = demo_groups();
        let mapping = YearMapping::parse(&mapping, &groups).unwrap_or_else(|_| YearMapping::suggested(&groups));
        let kind = Kind::ALL[kind];
        let options = ImportOptions { groups: &groups, mapping: &mapping, today: TODAY };
        if let Ok(import) = read_import(kind, &bytes, &options) {
            prop_assert!(!import.records.is_empty());
            match import.records {
                Records::Pupils(p) => for p in p {
                    prop_assert!(p.group == "ks1" || p.group == "ks2", "{p:?}");
                    prop_assert!(p.date_of_birth.is_none_or(|d| d <= TODAY && d.year() >= 1995), "{p:?}");
                },
                Records::Staff(s) => for s in s { prop_assert_eq!(&s.group, "staff") },
                Records::Classes(c) => for c in c {
                    prop_assert!(c.group.as_deref().is_none_or(|g| g == "ks1" || g == "ks2"));
                },
            }
        }
    }

    #[test]
    fn csv_shaped_noise_never_panics(
        text in "([a-zA-Z0-9 ,\"\r\n;\t@.<>]|Year|Username|Name|Class){0,120}",
        kind in 0usize..3,
    ) {
        let _ = read(Kind::ALL[kind], text.as_bytes());
    }

    #[test]
    fn quoted_names_round_trip(
        names in proptest::collection::vec("[a-zA-Z][a-zA-Z ,\"'<>&]{0,20}[a-zA-Z]", 1..20),
        crlf in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut file = format!("Name,Username,Year{end}");
        for (i, name) in names.iter().enumerate() {
            file.push_str(&format!("{},user{i},Year {}{end}", quote(name), i % 6 + 1));
        }
        let import = read(Kind::Pupils, file.as_bytes()).unwrap();
        let Records::Pupils(pupils) = import.records else { panic!() };
        let read_names: Vec<String> = pupils.into_iter().map(|p| p.display_name).collect();
        let expected: Vec<String> = names.iter().map(|n| n.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        prop_assert_eq!(read_names, expected);
    }

    #[test]
    fn one_spoiled_row_refuses_everything(
        count in 1usize..40,
        spoil in any::<prop::sample::Index>(),
        how in 0usize..4,
    ) {
        let spoiled = spoil.index(count);
        let mut file = String::from("Username,Forename,Surname,Year\n");
        for i in 0..count {
            let row = if i == spoiled {
                match how {
                    0 => format!("bad name{i},A,B,3\n"),
                    1 => format!("u{i},A,B,Year 40\n"),
                    2 => format!("u{i},,,3\n"),
                    _ => format!("u{i},A,B,3,extra\n"),
                }
            } else {
                format!("u{i},A,B,{}\n", i % 6 + 1)
            };
            file.push_str(&row);
        }
        let err = read(Kind::Pupils, file.as_bytes()).unwrap_err();
        prop_assert_eq!(err.total, 1, "{}", err);
        prop_assert_eq!(err.problems[0].row(), Some(spoiled + 2));
    }
}
