//! The governors' termly report, built from seeded invented records the way the store adds
//! them up: the PDF reads back with lopdf, renders to non-blank PNG pages with poppler's
//! `pdftoppm`, and its text (from `pdftotext`) shows the expected counts, "<5" where a count
//! is small, and none of the pupils' names that were in the raw records.

mod common;
mod pdf_pages;

use common::{check_xref, page_texts};
use hedgerow_report::{
    AnnualReview, FilteringSummary, Sanctions, SelfTest, SuppressionPolicy, Term, TermCounts,
    TermlyReport, render_termly_html, render_termly_pdf,
};
use jiff::civil::date;

/// Invented pupils; none of them may reach the report.
const PUPIL_NAMES: [&str; 8] = [
    "Amelia Thornbury",
    "Oliver Pennyworth",
    "Zara Quillfeather",
    "Kit Marchbanks",
    "Priya Oakhurst",
    "Ned Fallowfield",
    "Isla Brackenridge",
    "Tomasz Wheatcroft",
];

const TYPES: [(&str, &str); 5] = [
    (
        "age-inappropriate",
        "Accessing age-inappropriate sites, apps or social media",
    ),
    ("cyberbullying", "Cyberbullying"),
    ("grooming", "Grooming"),
    ("gambling", "Online gambling"),
    (
        "hate-material",
        "Racist, sexist, homophobic, religious or other hate material",
    ),
];

/// A record as the store holds it, names and all.
struct RawRecord {
    term: usize,
    pupils: Vec<&'static str>,
    incident_type: &'static str,
    record_type: &'static str,
    location: &'static str,
    closed: bool,
}

/// Three terms of records; this term (2) has 7 age-inappropriate, 12 cyberbullying,
/// 2 grooming (child protection) and 6 gambling.
fn raw_records() -> Vec<RawRecord> {
    let plan: [(usize, &str, usize); 8] = [
        (0, "cyberbullying", 9),
        (0, "age-inappropriate", 4),
        (1, "cyberbullying", 6),
        (1, "age-inappropriate", 8),
        (2, "age-inappropriate", 7),
        (2, "cyberbullying", 12),
        (2, "grooming", 2),
        (2, "gambling", 6),
    ];
    let mut records = Vec::new();
    for (term, incident_type, how_many) in plan {
        for i in 0..how_many {
            let pupil = PUPIL_NAMES[(records.len() + i) % PUPIL_NAMES.len()];
            records.push(RawRecord {
                term,
                pupils: vec![pupil, PUPIL_NAMES[(i + 3) % PUPIL_NAMES.len()]],
                incident_type,
                record_type: if incident_type == "grooming" {
                    "Child protection"
                } else {
                    "Online safety"
                },
                // This term: 20 in school, 5 out of school, 2 unknown.
                location: match records.len() % 27 {
                    0..=19 => "In school",
                    20..=24 => "Out of school",
                    _ => "Not known",
                },
                closed: i >= 2 || incident_type == "age-inappropriate",
            });
        }
    }
    records
}

/// Adds the raw records up the way the store does: counts only, names left behind.
fn seeded_report() -> TermlyReport {
    let records = raw_records();
    let per_term = |keep: &dyn Fn(&RawRecord) -> bool| -> Vec<u64> {
        (0..3)
            .map(|term| records.iter().filter(|r| r.term == term && keep(r)).count() as u64)
            .collect()
    };
    let this_term: Vec<&RawRecord> = records.iter().filter(|r| r.term == 2).collect();
    let count_now = |keep: &dyn Fn(&RawRecord) -> bool| -> u64 {
        this_term.iter().filter(|r| keep(r)).count() as u64
    };
    let by_incident_type = TYPES
        .iter()
        .map(|(key, label)| TermCounts {
            label: (*label).to_owned(),
            per_term: per_term(&|r| r.incident_type == *key),
        })
        .collect();
    let by_record_type = ["Online safety", "Child protection", "Staff allegation"]
        .iter()
        .map(|label| TermCounts {
            label: (*label).to_owned(),
            per_term: per_term(&|r| r.record_type == *label),
        })
        .collect();
    let by_location = ["In school", "Out of school", "Not known"]
        .iter()
        .map(|label| ((*label).to_owned(), count_now(&|r| r.location == *label)))
        .collect();
    let term = |label: &str, starts, ends| Term {
        label: label.to_owned(),
        starts,
        ends,
    };
    TermlyReport {
        school_name: "Oakfield Academy".to_owned(),
        term: term("Autumn term 2026", date(2026, 9, 2), date(2026, 12, 18)),
        previous_terms: vec![
            term("Spring term 2026", date(2026, 1, 5), date(2026, 3, 27)),
            term("Summer term 2026", date(2026, 4, 13), date(2026, 7, 22)),
        ],
        generated_at: "2026-12-19T09:00:00+00:00[Europe/London]".parse().unwrap(),
        by_incident_type,
        by_record_type,
        by_location,
        open: count_now(&|r| !r.closed),
        closed: count_now(&|r| r.closed),
        median_days_to_close: Some(6.5),
        actions: vec![
            ("DSL informed".to_owned(), 27),
            ("Parents or carers informed".to_owned(), 15),
            ("Support offered".to_owned(), 3),
        ],
        referrals: vec![
            ("Children's social care".to_owned(), 2),
            ("CEOP".to_owned(), 2),
        ],
        sanctions: Sanctions {
            suspensions: 3,
            restrictions: 0,
        },
        filtering: FilteringSummary {
            top_blocked: vec![
                ("Adult content".to_owned(), 1_204),
                ("Gambling".to_owned(), 310),
                ("Weapons".to_owned(), 2),
            ],
            alerts_by_category: vec![
                ("Bullying".to_owned(), 14),
                ("Suicide and self-harm".to_owned(), 1),
            ],
            checks_done: 13,
            checks_failed: 1,
            annual_review: AnnualReview {
                last_review: Some(date(2025, 11, 20)),
                next_due: Some(date(2026, 11, 20)),
                overdue: true,
            },
            self_test: SelfTest::Passed {
                on: date(2026, 12, 14),
            },
        },
        suppression: SuppressionPolicy::default(),
    }
}

/// Every line of the text that starts with `label` (after spaces) ends with `expected`.
fn rows_end_with(text: &str, label: &str, expected: &str) {
    let rows: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| *line == label || line.starts_with(&format!("{label} ")))
        .collect();
    assert!(!rows.is_empty(), "no row for {label:?} in:\n{text}");
    for row in rows {
        assert!(
            row.ends_with(expected),
            "row {row:?} should end with {expected:?}"
        );
    }
}

/// What the report must show for the seeded records, whichever way its text is read.
fn check_shown_figures(text: &str) {
    rows_end_with(text, "Cyberbullying", "12");
    rows_end_with(text, "Accessing age-inappropriate", "7");
    rows_end_with(text, "Grooming", "<5");
    // 6 is not small, but with one "<5" beside a total it is withheld to protect it.
    rows_end_with(text, "Online gambling", "withheld");
    rows_end_with(text, "All types", "27");
    rows_end_with(text, "Child protection", "<5");
    rows_end_with(text, "Online safety", "withheld");
    rows_end_with(text, "All records", "27");
    rows_end_with(text, "Out of school", "withheld");
    rows_end_with(text, "Not known", "<5");
    rows_end_with(text, "Support offered", "<5");
    rows_end_with(text, "CEOP", "<5");
    rows_end_with(text, "Weapons", "<5");
    rows_end_with(text, "Adult content", "1,204");
    rows_end_with(text, "Suicide and self-harm", "<5");
    rows_end_with(text, "Internet access suspended", "<5");
    rows_end_with(text, "Records this term", "27");
    rows_end_with(text, "Referrals made", "<5");
    assert!(text.contains("fewer than 5"));
}

/// Every pupil named in the raw records: the names the report had the chance to leak.
fn names_in_raw_input() -> Vec<&'static str> {
    let mut names: Vec<&str> = raw_records()
        .iter()
        .flat_map(|r| r.pupils.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), PUPIL_NAMES.len());
    names
}

fn check_no_names(text: &str) {
    for name in names_in_raw_input() {
        assert!(!text.contains(name), "the report names {name}");
        for part in name.split(' ') {
            assert!(
                !text.contains(part),
                "the report contains {part} (of {name})"
            );
        }
    }
}

#[test]
fn html_shows_suppressed_figures_and_no_names() {
    let html = render_termly_html(&seeded_report());
    common::check_well_formed(&html).unwrap();
    // One table row a line: its cells, tags removed, read like the PDF's text.
    let text: String = html
        .lines()
        .map(|line| {
            let mut out = String::new();
            let mut in_tag = false;
            for c in line.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' if in_tag => {
                        in_tag = false;
                        out.push(' ');
                    }
                    c if !in_tag => out.push(c),
                    _ => {}
                }
            }
            out.split_whitespace().collect::<Vec<_>>().join(" ") + "\n"
        })
        .collect::<String>()
        .replace("&lt;", "<")
        .replace("&#39;", "'");
    check_shown_figures(&text);
    check_no_names(&html);
    assert!(html.contains("class=\"stub\""));
}

#[test]
fn html_escapes_labels() {
    let mut report = seeded_report();
    report.school_name = "<script>alert(1)</script>".to_owned();
    report.by_location[0].0 = "In <b>school</b>".to_owned();
    let html = render_termly_html(&report);
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<b>school"));
    common::check_well_formed(&html).unwrap();
}

#[test]
fn a_hidden_count_changes_nothing_in_the_output() {
    // Grooming 2 and gambling 6 become 3 and 5: the same total, both still hidden.
    let report = seeded_report();
    let mut other = report.clone();
    for row in &mut other.by_incident_type {
        if let Some(last) = row.per_term.last_mut() {
            match row.label.as_str() {
                "Grooming" => *last = 3,
                "Online gambling" => *last = 5,
                _ => {}
            }
        }
    }
    assert_ne!(report, other);
    assert_eq!(render_termly_pdf(&report), render_termly_pdf(&other));
    assert_eq!(render_termly_html(&report), render_termly_html(&other));
}

#[test]
fn pdf_reads_back_with_lopdf() {
    let pdf = render_termly_pdf(&seeded_report());
    let objects = check_xref(&pdf).unwrap();
    let document = lopdf::Document::load_mem(&pdf).unwrap();
    let pages = document.get_pages();
    assert!(pages.len() >= 2, "{} pages", pages.len());
    assert_eq!(objects, 5 + 2 * pages.len());
    let text: Vec<String> = page_texts(&pdf).unwrap().into_iter().flatten().collect();
    for expected in [
        "Governors' termly safeguarding report",
        "Oakfield Academy",
        "Autumn term 2026: Wednesday 2 September 2026 to Friday 18 December 2026",
        "Records by incident type and term",
        "Filtering and monitoring",
        "Overdue",
        "Passed on Monday 14 December 2026",
        "<5",
        "withheld",
    ] {
        assert!(text.iter().any(|t| t == expected), "missing {expected:?}");
    }
    check_no_names(&String::from_utf8_lossy(&pdf));
}

#[test]
fn pdf_pages_render_to_png_and_their_text_has_no_names() {
    if !pdf_pages::tools_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("termly.pdf");
    let pdf = render_termly_pdf(&seeded_report());
    std::fs::write(&pdf_path, &pdf).unwrap();
    let page_count = lopdf::Document::load_mem(&pdf).unwrap().get_pages().len();
    let seen = pdf_pages::look_at(&pdf_path, dir.path());
    assert_eq!(seen.pages.len(), page_count);
    let text = seen.text;
    check_shown_figures(&text);
    check_no_names(&text);
}
