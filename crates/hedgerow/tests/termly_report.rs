//! The governors' termly report against the real binary: records seeded in the store of a
//! running gateway (12 cyberbullying, 3 grooming and 1 gambling this term, with invented
//! pupils' names) come out of `/records/termly.pdf` as a governor downloads it with the 12
//! shown, the 3 and the 1 as "<5", and no pupil's name or username anywhere, in the PDF's
//! pages (rendered to PNG and checked not blank), its text or the HTML page, while the same
//! names are on the DSL's record page (so the check could fail). A teacher is refused both.
//! A school with no term dates gets the usual English terms and is told so.
//!
//! The PDF is read with poppler's `pdftoppm` and `pdftotext`; without them the test is
//! skipped unless `HEDGEROW_REQUIRE_PDF_TOOLS` is set (scripts/test-all.sh sets it).

#[path = "../../hedgerow-report/tests/pdf_pages/mod.rs"]
mod pdf_pages;
mod support;

use std::path::{Path, PathBuf};

use hedgerow_store::{ActingUser, ConcernId, NewRecord, PersonInvolved};
use jiff::{SignedDuration, Timestamp, ToSpan};
use support::admin::{AdminSite, StaffAccount, with_database};
use support::*;

/// Invented pupils, one per seeded record: (display name, username).
const PUPILS: &[(&str, &str)] = &[
    ("Zephyrine Quabble", "zquabble26"),
    ("Barnaby Thistlewood", "bthistle26"),
    ("Ottoline Farthingale", "ofarthing26"),
    ("Peregrine Mossbottom", "pmossbot26"),
    ("Clementine Wobblesworth", "cwobbles26"),
    ("Ignatius Pumblechook", "ipumble26"),
    ("Marigold Snickerfield", "msnicker26"),
    ("Thaddeus Crumplehorn", "tcrumple26"),
];
/// Who the seeded records say reported them, and the staff account that recorded them.
const REPORTER: &str = "Mrs Hortensia Gribblethorpe";
const RECORDED_BY: &str = "staff.gribblethorpe";

/// A school whose terms are "Spring test term" (long past) and "Summer test term" (holding
/// today), in the school's zone.
fn school_with_terms(dir: &Path, database: Option<&str>) -> PathBuf {
    let today = Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    let day = |days: i64| today.checked_add(days.days()).unwrap();
    let terms = format!(
        "terms = [\n  {{ name = \"Spring test term\", start = {}, end = {} }},\n  {{ name = \"Summer test term\", start = {}, end = {} }},\n]\n",
        day(-240),
        day(-120),
        day(-40),
        day(40)
    );
    let database = database_table(database);
    SchoolConfig::new(dir)
        .table(&database)
        .school(
            "test-school",
            "Test School",
            &format!("{terms}{}", ks2_and_unknown()),
        )
        .write()
}

fn record(types: &[&str], pupil: (&str, &str), reported_at: Timestamp) -> NewRecord {
    NewRecord {
        record_type: "online-safety".into(),
        reporter: REPORTER.into(),
        reported_at,
        incident_at: None,
        location: "in-school".into(),
        people: vec![PersonInvolved {
            person_role: "pupil".into(),
            involvement: "affected".into(),
            display_name: pupil.0.into(),
            username: Some(pupil.1.into()),
            date_of_birth: None,
        }],
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        summary: format!("Concern about {}", pupil.0),
        disclosure: format!("{} said it started last week.", pupil.0),
        observations: String::new(),
        websites: String::new(),
        apps_games: String::new(),
        online_names: format!("{}_online", pupil.1),
        evidence_description: String::new(),
        alert_ids: Vec::new(),
    }
}

/// Seeds this term's 12 cyberbullying, 3 grooming (each reported to CEOP) and 1 gambling
/// records and 6 cyberbullying records last term; the first record's id.
fn seed(dir: &Path, database: Option<&str>) -> ConcernId {
    with_database(dir, database, async |store| {
        let school = store
            .school_by_slug("test-school")
            .await
            .unwrap()
            .expect("the gateway stored its school")
            .id;
        let by = ActingUser::new(RECORDED_BY);
        let now = Timestamp::now() - SignedDuration::from_hours(1);
        let long_ago = now - SignedDuration::from_hours(24 * 180);
        let mut pupils = PUPILS.iter().copied().cycle();
        let mut first = None;
        let this_term = std::iter::repeat_n("cyberbullying", 12)
            .chain(std::iter::repeat_n("grooming", 3))
            .chain(std::iter::once("gambling"));
        for kind in this_term {
            let id = store
                .create_record(school, &record(&[kind], pupils.next().unwrap(), now), &by)
                .await
                .unwrap();
            first.get_or_insert(id);
            if kind == "grooming" {
                store
                    .add_action(school, id, "ceop-report", "", now, &by)
                    .await
                    .unwrap();
            }
        }
        for _ in 0..6 {
            let pupil = pupils.next().unwrap();
            store
                .create_record(school, &record(&["cyberbullying"], pupil, long_ago), &by)
                .await
                .unwrap();
        }
        first.unwrap()
    })
}

/// Every seeded name, username and free text that could name someone, with where it was met.
fn assert_names_absent(text: &str, place: &str) {
    let mut forbidden: Vec<String> = vec![REPORTER.into(), RECORDED_BY.into()];
    for (name, username) in PUPILS {
        forbidden.push((*name).into());
        forbidden.push((*username).into());
        // A surname alone, as a table cell might break a full name.
        forbidden.push(name.rsplit(' ').next().unwrap().into());
    }
    for word in forbidden {
        assert!(
            !text.to_lowercase().contains(&word.to_lowercase()),
            "{word:?} appears in {place}:\n{text}"
        );
    }
}

/// The lines of the PDF's text whose first words are `label`.
fn rows<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|line| {
            line.strip_prefix(label)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("  "))
        })
        .collect()
}

#[test]
fn governors_get_a_pdf_with_small_counts_suppressed_and_no_names() {
    governors_report(None);
}

#[test]
fn governors_get_a_pdf_with_small_counts_suppressed_and_no_names_on_postgresql() {
    if let Some(url) = postgres_database() {
        governors_report(Some(&url));
    }
}

fn governors_report(database: Option<&str>) {
    if !have_tools(&["curl"]) || !pdf_pages::tools_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = school_with_terms(dir.path(), database);
    let governor = StaffAccount::create(&config, "gv", "governor");
    let teacher = StaffAccount::create(&config, "tc", "teacher");
    let dsl = StaffAccount::create(&config, "ds", "dsl");
    let site = AdminSite::start(&config, dir.path(), &[]);
    let first = seed(dir.path(), database);

    // The names are in the store and the DSL's record shows them: the checks below would see
    // a name if the report let one through.
    let record_page = site.signed_in(&dsl).page(&format!("/concerns/{}", first.0));
    assert!(
        record_page.contains(PUPILS[0].0),
        "the DSL's record page shows the pupil: {record_page}"
    );

    let teacher = site.signed_in(&teacher);
    for path in ["/records/termly", "/records/termly.pdf"] {
        let reply = teacher.get(path);
        assert_eq!(reply.status, 403, "a teacher opened {path}");
        assert_names_absent(&reply.body, "the teacher's refusal");
    }

    let governor = site.signed_in(&governor);
    let page = governor.page("/records/termly");
    assert!(
        page.contains("Governors&#39; termly safeguarding report")
            || page.contains("Governors' termly safeguarding report"),
        "{page}"
    );
    assert!(page.contains("Summer test term"), "{page}");
    assert!(
        page.contains("Spring test term"),
        "the picker lists every term: {page}"
    );
    assert!(
        page.contains("<option value=\"1\" selected>"),
        "the term holding today is chosen: {page}"
    );
    assert!(!page.contains("usual-terms"), "the school has term dates");
    assert_names_absent(&page, "the HTML page");
    let earlier = governor.page("/records/termly?term=0");
    assert!(
        earlier.contains("<option value=\"0\" selected>"),
        "{earlier}"
    );
    assert_names_absent(&earlier, "last term's HTML page");
    assert_eq!(governor.get("/records/termly?term=7").status, 400);

    let pdf_path = dir.path().join("termly.pdf");
    let reply = governor.send(
        "",
        "/records/termly.pdf",
        &[],
        &["-o", pdf_path.to_str().unwrap()],
    );
    assert_eq!(reply.status, 200, "{}", reply.headers);
    let headers = reply.headers.to_lowercase();
    assert!(
        headers.contains("content-type: application/pdf"),
        "{headers}"
    );
    assert!(
        headers.contains("content-disposition: attachment; filename=\"termly-report-"),
        "{headers}"
    );
    let pdf = std::fs::read(&pdf_path).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    assert_names_absent(&String::from_utf8_lossy(&pdf), "the PDF's bytes");

    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    let text = pdf_pages::look_at(&pdf_path, &pages).text;
    assert_names_absent(&text, "the PDF's text");
    assert!(text.contains("Summer test term"), "{text}");

    let cyberbullying = rows(&text, "Cyberbullying");
    assert!(!cyberbullying.is_empty(), "no cyberbullying row:\n{text}");
    assert!(
        cyberbullying.iter().any(|row| row.ends_with("12")),
        "this term's 12 is shown: {cyberbullying:?}"
    );
    assert!(
        cyberbullying.iter().any(|row| row.contains(" 6 ")),
        "last term's 6 is shown in the trend: {cyberbullying:?}"
    );
    for (label, hidden) in [("Grooming", '3'), ("Online gambling", '1')] {
        let found = rows(&text, label);
        assert!(!found.is_empty(), "no {label} row:\n{text}");
        for row in found {
            assert!(row.contains("<5"), "{label} is not suppressed: {row:?}");
            assert!(
                !row.contains(hidden),
                "{label}'s count {hidden} shows: {row:?}"
            );
        }
    }
    for label in ["Report to CEOP", "Referrals made"] {
        let found = rows(&text, label);
        assert!(!found.is_empty(), "no {label} row:\n{text}");
        for row in found {
            assert!(row.contains("<5") && !row.contains('3'), "{row:?}");
        }
    }
    let records = rows(&text, "Records this term");
    assert!(
        records.iter().any(|row| row.ends_with(" 16")),
        "this term's 16 records: {records:?}"
    );
}

#[test]
fn without_term_dates_the_usual_terms_are_used_and_the_page_says_so() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = small_school(dir.path(), "");
    let governor = StaffAccount::create(&config, "gv", "governor");
    let site = AdminSite::start(&config, dir.path(), &[]);
    let page = site.signed_in(&governor).page("/records/termly");
    assert!(page.contains("id=\"usual-terms\""), "{page}");
    assert!(page.contains("the usual English terms are used"), "{page}");
    let today = Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    let season = match today.month() {
        1..=3 => "Spring",
        4..=8 => "Summer",
        _ => "Autumn",
    };
    let expected = format!("{season} term {}", today.year());
    assert!(
        page.contains(&format!("selected>{expected} (")),
        "{expected} is chosen: {page}"
    );
}
