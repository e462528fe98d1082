//! The report as one self-contained HTML document: no scripts, fonts or images to fetch, so
//! it reads the same served by the admin app, opened from an email or printed. Charts are
//! inline SVG, each with a title and description for screen readers and a table beside it
//! that gives every figure in text.

use crate::figures::{self, Chart};
use crate::model::WeeklyReport;

/// Chart geometry, in SVG user units.
const CHART_WIDTH: u32 = 720;
const LABEL_WIDTH: u32 = 250;
const BAR_AREA: u32 = 390;
const ROW_HEIGHT: u32 = 28;
const BAR_HEIGHT: u32 = 18;
const TOP_PADDING: u32 = 8;
/// Longer labels are cut in the chart (the table beside it has them whole).
const CHART_LABEL_CHARS: usize = 34;

pub(crate) const STYLE: &str = "\
:root{color-scheme:light;--ink:#1b1f24;--muted:#555e68;--bar:#2f6690;--high:#a4262c;--rule:#c9d1d9}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Arial,sans-serif;color:var(--ink);background:#fff}
header,main,footer{max-width:52rem;margin:0 auto;padding:0 1.25rem}
header{padding-top:1.5rem;border-bottom:2px solid var(--ink)}
h1{font-size:1.75rem;margin:0 0 .25rem}
h2{font-size:1.25rem;margin:2rem 0 .75rem}
.school{font-size:1.2rem;font-weight:600;margin:0}
.period,.generated{margin:.25rem 0;color:var(--muted)}
.summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.75rem;margin:0}
.summary div{border:1px solid var(--rule);border-radius:4px;padding:.5rem .75rem}
.summary dt{font-size:.85rem;color:var(--muted)}
.summary dd{margin:0;font-size:1.1rem;font-weight:600}
figure{margin:0 0 .75rem}
figcaption{font-size:.85rem;color:var(--muted)}
svg{width:100%;height:auto;display:block}
svg text{font:13px system-ui,-apple-system,'Segoe UI',Arial,sans-serif;fill:var(--ink)}
.bar{fill:var(--bar)}
.high{fill:var(--high)}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em;vertical-align:-.05em}
.key-all{background:var(--bar)}
.key-high{background:var(--high)}
tbody th{font-weight:normal}
table{border-collapse:collapse;width:100%;margin:0 0 1rem}
caption{text-align:left;font-weight:600;padding-bottom:.25rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--rule)}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
footer{margin-top:2rem;padding-bottom:2rem;border-top:1px solid var(--rule);color:var(--muted);font-size:.85rem}
@media print{
@page{size:A4;margin:15mm}
body{font-size:11pt}
header,main,footer{max-width:none;padding:0}
section,figure,table{break-inside:avoid}
h2{break-after:avoid}
*{print-color-adjust:exact;-webkit-print-color-adjust:exact}
}
";

/// Renders the report as a complete HTML document. Every string from configuration is
/// escaped; the output never contains markup that came from the report's contents.
pub fn render_html(report: &WeeklyReport) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let school = escape(&report.school_name);
    let period = escape(&figures::period(report));
    out.push_str("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<title>{}: {school}, {period}</title>\n",
        figures::TITLE
    ));
    out.push_str(&format!("<style>\n{STYLE}</style>\n</head>\n<body>\n"));

    out.push_str(&format!(
        "<header>\n<h1>{}</h1>\n<p class=\"school\">{school}</p>\n<p class=\"period\">{period}</p>\n<p class=\"generated\">{}</p>\n</header>\n<main>\n",
        figures::TITLE,
        escape(&figures::generated(&report.generated_at))
    ));

    summary_section(&mut out, report);
    if report.total_alerts() == 0 {
        out.push_str(&format!(
            "<section aria-labelledby=\"alerts-heading\">\n<h2 id=\"alerts-heading\">Alerts</h2>\n<p class=\"none\">{}</p>\n</section>\n",
            figures::NO_ALERTS
        ));
    } else {
        for chart in figures::charts(report) {
            chart_section(&mut out, &chart);
        }
    }
    response_section(&mut out, report);
    circumvention_section(&mut out, report);

    out.push_str("</main>\n<footer>\n<p>This report holds counts only and names no pupils. Individual alerts are in the triage queue, open to the designated safeguarding lead and deputies.</p>\n</footer>\n</body>\n</html>\n");
    out
}

fn summary_section(out: &mut String, report: &WeeklyReport) {
    out.push_str("<section aria-labelledby=\"summary-heading\">\n<h2 id=\"summary-heading\">Summary</h2>\n<dl class=\"summary\">\n");
    for line in figures::summary(report) {
        out.push_str(&format!(
            "<div><dt>{}</dt><dd>{}</dd></div>\n",
            escape(line.label),
            escape(&line.value)
        ));
    }
    out.push_str("</dl>\n</section>\n");
}

fn chart_section(out: &mut String, chart: &Chart) {
    let id = chart.id;
    out.push_str(&format!(
        "<section aria-labelledby=\"{id}-heading\">\n<h2 id=\"{id}-heading\">{}</h2>\n",
        chart.title
    ));
    if chart.bars.is_empty() || chart.largest() == 0 {
        out.push_str("<p class=\"none\">Nothing to show this week.</p>\n</section>\n");
        return;
    }
    chart_svg(out, chart);
    chart_table(out, chart);
    out.push_str("</section>\n");
}

/// A horizontal bar chart, scaled so the largest bar fills the bar area.
fn chart_svg(out: &mut String, chart: &Chart) {
    let id = chart.id;
    let largest = u64::from(chart.largest().max(1));
    let rows = u32::try_from(chart.bars.len()).unwrap_or(u32::MAX);
    let height = rows
        .saturating_mul(ROW_HEIGHT)
        .saturating_add(TOP_PADDING * 2);
    let description = describe(chart);
    out.push_str("<figure>\n");
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\">\n<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>\n",
        chart.title,
        escape(&description)
    ));
    let mut y = TOP_PADDING;
    for bar in &chart.bars {
        let width = scaled(bar.value, largest, BAR_AREA);
        let text_y = y + ROW_HEIGHT / 2 + 4;
        let bar_y = y + (ROW_HEIGHT - BAR_HEIGHT) / 2;
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{text_y}\" text-anchor=\"end\">{}</text>\n",
            LABEL_WIDTH - 8,
            escape(&shorten(&bar.label, CHART_LABEL_CHARS))
        ));
        out.push_str(&format!(
            "<rect class=\"bar\" x=\"{LABEL_WIDTH}\" y=\"{bar_y}\" width=\"{width}\" height=\"{BAR_HEIGHT}\"/>\n"
        ));
        if let Some(high) = bar.emphasised.filter(|&n| n > 0) {
            let high_width = scaled(high, largest, BAR_AREA).min(width);
            out.push_str(&format!(
                "<rect class=\"high\" x=\"{LABEL_WIDTH}\" y=\"{bar_y}\" width=\"{high_width}\" height=\"{BAR_HEIGHT}\"/>\n"
            ));
        }
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{text_y}\">{}</text>\n",
            LABEL_WIDTH + width + 6,
            figures::count(bar.value.into())
        ));
        y += ROW_HEIGHT;
    }
    out.push_str("</svg>\n");
    if chart.emphasised_heading.is_some() {
        out.push_str("<figcaption><span class=\"key key-all\"></span>All alerts<span class=\"key key-high\"></span>High severity (4 and 5). Every figure is in the table below.</figcaption>\n");
    } else {
        out.push_str("<figcaption>Every figure is in the table below.</figcaption>\n");
    }
    out.push_str("</figure>\n");
}

fn chart_table(out: &mut String, chart: &Chart) {
    out.push_str(&format!(
        "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"n\">{}</th>",
        chart.title, chart.label_heading, chart.value_heading
    ));
    if let Some(heading) = chart.emphasised_heading {
        out.push_str(&format!("<th scope=\"col\" class=\"n\">{heading}</th>"));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for bar in &chart.bars {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td>",
            escape(&bar.label),
            figures::count(bar.value.into())
        ));
        if chart.emphasised_heading.is_some() {
            out.push_str(&format!(
                "<td class=\"n\">{}</td>",
                figures::count(bar.emphasised.unwrap_or(0).into())
            ));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn response_section(out: &mut String, report: &WeeklyReport) {
    out.push_str("<section aria-labelledby=\"response-heading\">\n<h2 id=\"response-heading\">Response times and outcomes</h2>\n<table>\n<caption>Triage this week</caption>\n<tbody>\n");
    for (label, value) in figures::response_rows(report) {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{label}</th><td class=\"n\">{}</td></tr>\n",
            escape(&value)
        ));
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn circumvention_section(out: &mut String, report: &WeeklyReport) {
    out.push_str("<section aria-labelledby=\"circumvention-heading\">\n<h2 id=\"circumvention-heading\">Circumvention attempts</h2>\n");
    if report.circumvention.is_empty() {
        out.push_str(&format!(
            "<p class=\"none\">{}</p>\n</section>\n",
            figures::NO_CIRCUMVENTION
        ));
        return;
    }
    out.push_str("<table>\n<caption>Attempts to get round the filter</caption>\n<thead><tr><th scope=\"col\">Kind</th><th scope=\"col\" class=\"n\">Attempts</th><th scope=\"col\" class=\"n\">People or devices</th></tr></thead>\n<tbody>\n");
    for (kind, attempts, distinct) in &report.circumvention {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(kind),
            figures::count((*attempts).into()),
            figures::count((*distinct).into())
        ));
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The chart in one sentence, for screen readers.
fn describe(chart: &Chart) -> String {
    let leader = chart.bars.iter().max_by_key(|bar| bar.value);
    let rows = chart.bars.len();
    match leader {
        Some(bar) => format!(
            "Bar chart of {rows} {}; the largest is {} with {}. The table below gives every figure.",
            if rows == 1 { "row" } else { "rows" },
            bar.label,
            figures::count(bar.value.into())
        ),
        None => "Empty bar chart.".to_owned(),
    }
}

/// `value / largest` of `span`, in whole units; `largest` is never zero.
fn scaled(value: u32, largest: u64, span: u32) -> u32 {
    let scaled = u64::from(value) * u64::from(span) / largest;
    u32::try_from(scaled).unwrap_or(span).min(span)
}

pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Escapes text for HTML content and double- or single-quoted attributes, and drops control
/// characters, which are not allowed in HTML or in the SVG's XML.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(' '),
            c if c.is_control() || is_noncharacter(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_drops_controls() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("a\u{0}b\u{7f}c\u{FFFE}d\ne"), "abcd e");
    }

    #[test]
    fn shorten_keeps_short_labels_and_cuts_long_ones() {
        assert_eq!(shorten("Drugs", 10), "Drugs");
        assert_eq!(shorten("abcdefghijkl", 5), "abcd…");
    }

    #[test]
    fn bars_scale_to_the_largest() {
        assert_eq!(scaled(10, 10, 390), 390);
        assert_eq!(scaled(5, 10, 390), 195);
        assert_eq!(scaled(u32::MAX, u64::from(u32::MAX), 390), 390);
    }
}
