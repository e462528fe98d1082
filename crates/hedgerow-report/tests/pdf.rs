//! The PDF report: a valid file whose cross-reference table points at every object, one or
//! two A4 pages for a usual week, every figure in the page text, and page breaks that carry
//! long tables on.

mod common;

use common::{check_xref, empty_week, page_texts, sample_week};
use hedgerow_report::{CategoryCount, render_pdf};

fn all_text(pages: &[Vec<String>]) -> Vec<String> {
    pages.iter().flatten().cloned().collect()
}

#[test]
fn a_usual_week_is_a_valid_pdf_of_at_most_two_a4_pages() {
    let pdf = render_pdf(&sample_week());
    let objects = check_xref(&pdf).unwrap();
    let document = lopdf::Document::load_mem(&pdf).unwrap();
    let pages = document.get_pages();
    assert!((1..=2).contains(&pages.len()), "{} pages", pages.len());
    assert_eq!(objects, 5 + 2 * pages.len());
    for page_id in pages.values() {
        let page = document.get_dictionary(*page_id).unwrap();
        let media_box = page.get(b"MediaBox").unwrap().as_array().unwrap();
        let size: Vec<f32> = media_box.iter().map(|n| n.as_float().unwrap()).collect();
        assert_eq!(size, [0.0, 0.0, 595.0, 842.0]);
    }
}

#[test]
fn every_figure_is_in_the_page_text() {
    let pages = page_texts(&render_pdf(&sample_week())).unwrap();
    let text = all_text(&pages);
    for expected in [
        "Weekly monitoring report",
        "Oakfield Academy",
        "Monday 30 November 2026 to Sunday 6 December 2026",
        "Generated on Monday 7 December 2026 at 07:00",
        "48 (up 3 on last week)",
        "41, with 7 awaiting triage",
        "19.5% (8 of 41 given an outcome)",
        "42 min",
        "3 h 5 min",
        "9 min",
        "Suicide and self-harm",
        "Grooming and sexual exploitation",
        "5 (imminent risk)",
        "Year 9",
        "Sixth form",
        "VPN and proxy services",
        "Encrypted DNS",
        "SNI mismatch",
        "Alerts by category",
        "Alerts by severity",
        "Alerts by group",
        "Response times and outcomes",
        "Circumvention attempts",
    ] {
        assert!(text.iter().any(|t| t == expected), "missing {expected:?}");
    }
    // Counts drawn beside bars and in tables.
    for count in ["11", "12", "14", "23", "28", "8"] {
        assert!(text.iter().any(|t| t == count), "missing count {count}");
    }
    let last = pages.len();
    assert!(text.iter().any(|t| *t == format!("Page {last} of {last}")));
}

#[test]
fn bars_are_drawn_as_filled_rectangles_in_proportion() {
    let pdf = render_pdf(&sample_week());
    let document = lopdf::Document::load_mem(&pdf).unwrap();
    let mut widths = Vec::new();
    for page_id in document.get_pages().values() {
        let content = document.get_page_content(*page_id);
        let content = lopdf::content::Content::decode(&content).unwrap();
        for op in content.operations.iter().filter(|op| op.operator == "re") {
            widths.push(op.operands[2].as_float().unwrap());
        }
    }
    // Bars for 10 categories, 5 severities and 7 groups, 4 high-severity parts, 2 legend keys.
    assert_eq!(widths.len(), 10 + 5 + 7 + 4 + 2);
    let full = widths.iter().cloned().fold(0.0_f32, f32::max);
    assert!((full - 260.0).abs() < 0.01, "largest bar {full}");
    // Hate: 3 of the largest category's 11.
    assert!(widths.iter().any(|w| (w - 260.0 * 3.0 / 11.0).abs() < 0.01));
}

#[test]
fn an_empty_week_says_so() {
    let pdf = render_pdf(&empty_week());
    check_xref(&pdf).unwrap();
    let pages = page_texts(&pdf).unwrap();
    assert_eq!(pages.len(), 1);
    let text = all_text(&pages);
    assert!(text.iter().any(|t| t == "No alerts this week."));
    assert!(
        text.iter()
            .any(|t| t == "No circumvention attempts this week.")
    );
    assert!(!text.iter().any(|t| t.contains("NaN") || t.contains("inf")));
}

#[test]
fn many_categories_and_groups_run_on_to_further_pages() {
    let mut week = sample_week();
    week.by_category = (1..=40)
        .map(|n| CategoryCount {
            category: format!("c{n}"),
            label: format!("Category {n}"),
            count: n,
            high_severity: n / 3,
        })
        .collect();
    week.by_group = (1..=40).map(|n| (format!("Group {n}"), n)).collect();
    let pdf = render_pdf(&week);
    check_xref(&pdf).unwrap();
    let pages = page_texts(&pdf).unwrap();
    assert!(pages.len() > 2);
    let text = all_text(&pages);
    for n in 1..=40 {
        assert!(text.contains(&format!("Category {n}")));
        assert!(text.contains(&format!("Group {n}")));
    }
    // Nothing drawn below the footer line or above the top margin.
    let document = lopdf::Document::load_mem(&pdf).unwrap();
    for page_id in document.get_pages().values() {
        let content = document.get_page_content(*page_id);
        let content = lopdf::content::Content::decode(&content).unwrap();
        for op in &content.operations {
            let y = match op.operator.as_str() {
                "Td" | "re" => op.operands[1].as_float().unwrap(),
                _ => continue,
            };
            assert!(y == 34.0 || (50.0..=800.0).contains(&y), "drawn at y={y}");
        }
    }
}

#[test]
fn text_outside_win_ansi_is_replaced_and_delimiters_survive() {
    let mut week = sample_week();
    week.school_name = "St Ætheldreda’s (C of E) \\ Primary – 学校".to_owned();
    let pdf = render_pdf(&week);
    check_xref(&pdf).unwrap();
    let text = all_text(&page_texts(&pdf).unwrap());
    assert!(
        text.iter()
            .any(|t| t == "St Ætheldreda’s (C of E) \\ Primary – ??"),
        "{:?}",
        &text[..3]
    );
}

#[test]
fn a_very_long_school_name_is_cut_to_the_page() {
    let mut week = sample_week();
    week.school_name = "The Very Long Name Multi-Academy Trust ".repeat(10);
    let text = all_text(&page_texts(&render_pdf(&week)).unwrap());
    let name = text
        .iter()
        .find(|t| t.starts_with("The Very Long"))
        .unwrap();
    assert!(name.ends_with('…'));
    assert!(name.chars().count() < 80);
}

#[test]
fn the_checker_catches_a_wrong_offset() {
    let mut pdf = render_pdf(&sample_week());
    assert!(check_xref(&pdf).is_ok());
    // Shift every object by one byte: each offset is now wrong.
    pdf.insert(15, b'\n');
    assert!(check_xref(&pdf).is_err());
}
