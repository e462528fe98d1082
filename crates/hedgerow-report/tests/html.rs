//! The HTML report: every figure present, well-formed markup, hostile names escaped, empty
//! weeks said in words, and accessible charts.

mod common;

use common::{check_well_formed, empty_week, sample_week};
use hedgerow_report::render_html;

#[test]
fn every_figure_of_a_usual_week_is_in_the_page() {
    let html = render_html(&sample_week());
    for expected in [
        "Oakfield Academy",
        "Monday 30 November 2026 to Sunday 6 December 2026",
        "Generated on Monday 7 December 2026 at 07:00",
        // Summary: total, trend, high severity, triage, rate, circumvention attempts.
        "48 (up 3 on last week)",
        "<dd>8</dd>",
        "41, with 7 awaiting triage",
        "19.5% (8 of 41 given an outcome)",
        "<dd>28</dd>",
        // Response times.
        "42 min",
        "3 h 5 min",
        "9 min",
        // Categories with their high-severity counts, in the table.
        "<tr><th scope=\"row\">Suicide and self-harm</th><td class=\"n\">7</td><td class=\"n\">4</td></tr>",
        "<tr><th scope=\"row\">Gambling</th><td class=\"n\">11</td><td class=\"n\">0</td></tr>",
        "<tr><th scope=\"row\">Grooming and sexual exploitation</th><td class=\"n\">0</td>",
        // Severities and groups.
        "<tr><th scope=\"row\">5 (imminent risk)</th><td class=\"n\">2</td></tr>",
        "<tr><th scope=\"row\">1 (advisory)</th><td class=\"n\">14</td></tr>",
        "<tr><th scope=\"row\">Year 9</th><td class=\"n\">12</td></tr>",
        "<tr><th scope=\"row\">Staff</th><td class=\"n\">2</td></tr>",
        // Outcomes.
        "<tr><th scope=\"row\">Linked to a safeguarding concern</th><td class=\"n\">12</td></tr>",
        "<tr><th scope=\"row\">No further action</th><td class=\"n\">21</td></tr>",
        // Circumvention.
        "<tr><th scope=\"row\">VPN and proxy services</th><td class=\"n\">23</td><td class=\"n\">6</td></tr>",
        "<tr><th scope=\"row\">SNI mismatch</th><td class=\"n\">1</td><td class=\"n\">1</td></tr>",
    ] {
        assert!(html.contains(expected), "missing {expected:?}");
    }
    assert!(!html.contains("No alerts this week"));
}

#[test]
fn the_page_is_well_formed() {
    check_well_formed(&render_html(&sample_week())).unwrap();
    check_well_formed(&render_html(&empty_week())).unwrap();
}

#[test]
fn the_checker_catches_broken_markup() {
    assert!(check_well_formed("<p><b>x</p></b>").is_err());
    assert!(check_well_formed("<p>a & b</p>").is_err());
    assert!(check_well_formed("<p class=x>a</p>").is_err());
    assert!(check_well_formed("<div><p>open</div>").is_err());
    assert!(check_well_formed("<p>fine &amp; <br> closed</p>").is_ok());
}

#[test]
fn each_chart_is_an_image_with_a_title_and_a_table_beside_it() {
    let html = render_html(&sample_week());
    for id in ["by-category", "by-severity", "by-group"] {
        let svg = format!("role=\"img\" aria-labelledby=\"{id}-title {id}-desc\"");
        assert!(html.contains(&svg), "{id} has no accessible svg");
        assert!(html.contains(&format!("<title id=\"{id}-title\">")));
        assert!(html.contains(&format!("<desc id=\"{id}-desc\">")));
    }
    assert_eq!(html.matches("<svg ").count(), 3);
    assert_eq!(html.matches("<table>").count(), 5);
    // Bars: one per category, severity and group, plus the high-severity parts.
    let high_parts = sample_week()
        .by_category
        .iter()
        .filter(|c| c.high_severity > 0)
        .count();
    assert_eq!(
        html.matches("<rect class=\"bar\"").count(),
        10 + 5 + 7,
        "one bar per row"
    );
    assert_eq!(html.matches("<rect class=\"high\"").count(), high_parts);
}

#[test]
fn the_largest_bar_fills_the_chart_and_others_are_in_proportion() {
    let html = render_html(&sample_week());
    // Gambling (11) is the largest category, Hate (3) is 3/11 of it: 390 * 3 / 11 = 106.
    let category_svg =
        &html[html.find("by-category-title").unwrap()..html.find("by-severity-title").unwrap()];
    assert!(category_svg.contains("width=\"390\""));
    assert!(category_svg.contains("width=\"106\""));
    // Largest first.
    let gambling = category_svg.find(">Gambling<").unwrap();
    let pornography = category_svg.find(">Pornography<").unwrap();
    let radicalisation = category_svg.find(">Radicalisation<").unwrap();
    assert!(gambling < pornography && pornography < radicalisation);
}

#[test]
fn hostile_names_from_configuration_are_escaped() {
    let mut week = sample_week();
    week.school_name = "<script>alert(\"pwned\")</script> & Sons".to_owned();
    week.by_category[0].label = "<img src=x onerror=alert(1)>".to_owned();
    week.by_group[0].0 = "\"><svg onload=alert(2)>".to_owned();
    week.circumvention[0].0 = "</table><script>x</script>".to_owned();
    let html = render_html(&week);
    check_well_formed(&html).unwrap();
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("<svg onload"));
    assert!(html.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; Sons"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn an_empty_week_says_so_instead_of_drawing_empty_charts() {
    let html = render_html(&empty_week());
    assert!(html.contains("No alerts this week."));
    assert!(html.contains("No circumvention attempts this week."));
    assert!(!html.contains("<svg"));
    assert!(html.contains("0 (no figure for last week)"));
    assert!(html.contains("not available (nothing given an outcome)"));
    assert!(!html.contains("NaN"));
    assert!(!html.contains("inf"));
}

#[test]
fn the_page_stands_alone_and_prints_on_a4() {
    let html = render_html(&sample_week());
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en-GB\">"));
    assert!(html.contains("@media print"));
    assert!(html.contains("size:A4"));
    for fetch in ["src=", "href=", "<script", "url("] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }
}

#[test]
fn counts_are_written_with_thousands_separators() {
    let mut week = sample_week();
    week.by_severity = [1_234_567, 0, 0, 0, 0];
    week.previous_week_total = Some(1_000);
    let html = render_html(&week);
    assert!(html.contains("1,234,567 (up 1,233,567 on last week)"));
}
