//! The termly report as one self-contained HTML document, in the weekly report's style:
//! inline SVG bar charts with a table of the same figures beside them. Hidden counts are
//! drawn as a short hatched stub of fixed length labelled "<5", never at their size.

use crate::html::{STYLE, escape, shorten};
use crate::suppress::{Shown, SuppressionPolicy};
use crate::termly::figures::{self, BarChart, Figures, Table, shown_text};
use crate::termly::model::TermlyReport;

const CHART_WIDTH: u64 = 720;
const LABEL_WIDTH: u64 = 250;
const BAR_AREA: u64 = 390;
const ROW_HEIGHT: u64 = 28;
const BAR_HEIGHT: u64 = 18;
/// A hidden count's bar: short, whatever the count, so its length says nothing.
const STUB_WIDTH: u64 = 24;

const TERMLY_STYLE: &str = "\
.stub{fill:url(#hatch);stroke:var(--high);stroke-width:1}
.note{border-left:4px solid var(--bar);padding:.5rem .75rem;background:#f3f6f9}
";

/// Renders the termly report as a complete HTML document. Every label is escaped.
pub fn render_termly_html(report: &TermlyReport) -> String {
    let figures = figures::figures(report);
    let policy = figures.policy;
    let school = escape(&report.school_name);
    let dates = escape(&figures::term_dates(report));
    let mut out = String::with_capacity(32 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<title>{}: {school}, {}</title>\n<style>\n{STYLE}{TERMLY_STYLE}</style>\n</head>\n<body>\n",
        figures::TITLE,
        escape(&report.term.label)
    ));
    out.push_str(&format!(
        "<header>\n<h1>{}</h1>\n<p class=\"school\">{school}</p>\n<p class=\"period\">{dates}</p>\n<p class=\"generated\">{}</p>\n</header>\n<main>\n",
        figures::TITLE,
        escape(&crate::figures::generated(&report.generated_at))
    ));
    out.push_str(&format!(
        "<p class=\"note\" id=\"suppression\">{}</p>\n",
        escape(&figures::suppression_note(policy))
    ));
    lines_section(&mut out, "summary", "Summary", &figures.summary);
    chart_section(&mut out, &figures.trend, policy);
    chart_section(&mut out, &figures.types_this_term, policy);
    for table in &figures.tables {
        table_section(&mut out, table, policy);
    }
    lines_section(
        &mut out,
        "filtering",
        "Filtering and monitoring",
        &figures.filtering,
    );
    footer(&mut out, &figures);
    out
}

fn footer(out: &mut String, figures: &Figures) {
    out.push_str(&format!(
        "</main>\n<footer>\n<p>Terms shown: {}. Records themselves, with the people involved, are open only to the designated safeguarding lead and deputies.</p>\n</footer>\n</body>\n</html>\n",
        escape(&figures.term_labels.join(", "))
    ));
}

fn lines_section(out: &mut String, id: &str, title: &str, lines: &[(&str, String)]) {
    out.push_str(&format!(
        "<section aria-labelledby=\"{id}-heading\">\n<h2 id=\"{id}-heading\">{title}</h2>\n<dl class=\"summary\">\n"
    ));
    for (label, value) in lines {
        out.push_str(&format!(
            "<div><dt>{}</dt><dd>{}</dd></div>\n",
            escape(label),
            escape(value)
        ));
    }
    out.push_str("</dl>\n</section>\n");
}

fn chart_section(out: &mut String, chart: &BarChart, policy: SuppressionPolicy) {
    let id = chart.id;
    out.push_str(&format!(
        "<section aria-labelledby=\"{id}-heading\">\n<h2 id=\"{id}-heading\">{}</h2>\n",
        chart.title
    ));
    if chart.bars.is_empty() {
        out.push_str("<p class=\"none\">Nothing to show this term.</p>\n</section>\n");
        return;
    }
    let largest = chart.largest().max(1);
    let rows = u64::try_from(chart.bars.len()).unwrap_or(u64::MAX);
    let height = rows.saturating_mul(ROW_HEIGHT).saturating_add(16);
    out.push_str(&format!(
        "<figure>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {CHART_WIDTH} {height}\" role=\"img\" aria-labelledby=\"{id}-title\">\n<title id=\"{id}-title\">{}. Hidden counts are drawn as short hatched bars.</title>\n",
        chart.title
    ));
    out.push_str("<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#a4262c\" stroke-width=\"3\"/></pattern></defs>\n");
    let mut y = 8;
    for (label, shown) in &chart.bars {
        let text_y = y + ROW_HEIGHT / 2 + 4;
        let bar_y = y + (ROW_HEIGHT - BAR_HEIGHT) / 2;
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{text_y}\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 8,
            escape(&shorten(label, 34))
        ));
        let (class, width) = match shown {
            Shown::Count(n) => ("bar", n.saturating_mul(BAR_AREA) / largest),
            Shown::Suppressed | Shown::Withheld => ("stub", STUB_WIDTH),
        };
        out.push_str(&format!(
            "<rect class=\"{class}\" x=\"{LABEL_WIDTH}\" y=\"{bar_y}\" width=\"{width}\" height=\"{BAR_HEIGHT}\"/><text x=\"{}\" y=\"{text_y}\">{}</text>\n",
            LABEL_WIDTH + width + 6,
            escape(&shown_text(*shown, policy))
        ));
        y += ROW_HEIGHT;
    }
    out.push_str("</svg>\n<figcaption>Hatched bars are hidden counts, drawn the same length whatever their size. See the note on suppression above.</figcaption>\n</figure>\n</section>\n");
}

fn table_section(out: &mut String, table: &Table, policy: SuppressionPolicy) {
    let id = table.id;
    out.push_str(&format!(
        "<section aria-labelledby=\"{id}-heading\">\n<h2 id=\"{id}-heading\">{}</h2>\n",
        table.title
    ));
    if table.rows.is_empty() {
        out.push_str("<p class=\"none\">Nothing recorded.</p>\n</section>\n");
        return;
    }
    out.push_str(&format!(
        "<table>\n<thead><tr><th scope=\"col\">{}</th>",
        table.label_heading
    ));
    for column in &table.columns {
        out.push_str(&format!(
            "<th scope=\"col\" class=\"n\">{}</th>",
            escape(column)
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let row = |out: &mut String, label: &str, cells: &[Shown], strong: bool| {
        out.push_str(&format!("<tr><th scope=\"row\">{}</th>", escape(label)));
        for cell in cells {
            let text = escape(&shown_text(*cell, policy));
            if strong {
                out.push_str(&format!("<td class=\"n\"><strong>{text}</strong></td>"));
            } else {
                out.push_str(&format!("<td class=\"n\">{text}</td>"));
            }
        }
        out.push_str("</tr>\n");
    };
    for (label, cells) in &table.rows {
        row(out, label, cells, false);
    }
    if let Some((label, cells)) = &table.total {
        row(out, label, cells, true);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}
