//! The termly report as a PDF 1.4 file, drawn with the weekly report's page writer: A4
//! pages, standard Helvetica, plain content streams. Hidden counts are drawn as a hatched
//! stub of fixed length labelled "<5", never at their size.

use crate::pdf::{
    BAR_COLOUR, BODY_SIZE, CONTENT_WIDTH, Font, LINE, MARGIN, MUTED_COLOUR, PAGE_WIDTH, Pages, fit,
    text_width, with_footers, write_document,
};
use crate::suppress::{Shown, SuppressionPolicy};
use crate::termly::figures::{self, BarChart, Table, shown_text};
use crate::termly::model::TermlyReport;

const CHART_LABEL_WIDTH: f32 = 170.0;
const CHART_BAR_X: f32 = MARGIN + CHART_LABEL_WIDTH + 8.0;
const CHART_BAR_AREA: f32 = 250.0;
const CHART_ROW: f32 = 17.0;
const CHART_BAR_HEIGHT: f32 = 11.0;
const STUB_WIDTH: f32 = 14.0;
const TABLE_LABEL_WIDTH: f32 = 185.0;
const HIGH_STROKE: &str = "0.643 0.149 0.173 RG";

/// Renders the termly report as a PDF 1.4 document of A4 pages.
pub fn render_termly_pdf(report: &TermlyReport) -> Vec<u8> {
    let figures = figures::figures(report);
    let policy = figures.policy;
    let mut page = Pages::new();
    page.advance(20.0);
    page.text(MARGIN, Font::Bold, 18.0, figures::TITLE);
    page.advance(22.0);
    page.text(
        MARGIN,
        Font::Bold,
        14.0,
        &fit(&report.school_name, Font::Bold, 14.0, CONTENT_WIDTH),
    );
    page.advance(LINE);
    page.text(
        MARGIN,
        Font::Regular,
        BODY_SIZE,
        &fit(
            &figures::term_dates(report),
            Font::Regular,
            BODY_SIZE,
            CONTENT_WIDTH,
        ),
    );
    page.advance(13.0);
    page.colour(MUTED_COLOUR);
    let generated = crate::figures::generated(&report.generated_at);
    page.text(MARGIN, Font::Regular, 9.0, &generated);
    page.advance(10.0);
    page.rule();
    page.advance(16.0);
    for line in wrap(&figures::suppression_note(policy), 9.0, CONTENT_WIDTH) {
        page.need(12.0);
        page.text(MARGIN, Font::Regular, 9.0, &line);
        page.advance(12.0);
    }
    page.colour(crate::pdf::INK_COLOUR);

    lines(&mut page, "Summary", &figures.summary);
    chart(&mut page, &figures.trend, policy);
    chart(&mut page, &figures.types_this_term, policy);
    for table_figures in &figures.tables {
        table(&mut page, table_figures, policy);
    }
    lines(&mut page, "Filtering and monitoring", &figures.filtering);

    let contents = with_footers(page.finish(), figures::TITLE, &report.school_name);
    let title = format!("{}: {}", figures::TITLE, report.school_name);
    write_document(&title, &report.generated_at, &contents)
}

fn lines(page: &mut Pages, title: &str, lines: &[(&str, String)]) {
    page.heading(title, LINE);
    for (label, value) in lines {
        page.need(LINE);
        page.text(MARGIN, Font::Regular, BODY_SIZE, label);
        let value_x = MARGIN + 170.0;
        let value = fit(value, Font::Bold, BODY_SIZE, PAGE_WIDTH - MARGIN - value_x);
        page.text(value_x, Font::Bold, BODY_SIZE, &value);
        page.advance(LINE);
    }
}

fn chart(page: &mut Pages, chart: &BarChart, policy: SuppressionPolicy) {
    page.heading(chart.title, CHART_ROW);
    if chart.bars.is_empty() {
        page.text(
            MARGIN,
            Font::Regular,
            BODY_SIZE,
            "Nothing to show this term.",
        );
        page.advance(LINE);
        return;
    }
    let largest = chart.largest().max(1) as f32;
    for (label, shown) in &chart.bars {
        page.need(CHART_ROW);
        let label = fit(label, Font::Regular, 9.0, CHART_LABEL_WIDTH - 4.0);
        page.text_right(MARGIN + CHART_LABEL_WIDTH, Font::Regular, 9.0, &label);
        let bar_y = page.y - 2.0;
        let width = match shown {
            Shown::Count(n) => {
                let width = *n as f32 / largest * CHART_BAR_AREA;
                page.rect(BAR_COLOUR, CHART_BAR_X, bar_y, width, CHART_BAR_HEIGHT);
                width
            }
            Shown::Suppressed | Shown::Withheld => {
                hatched_stub(page, CHART_BAR_X, bar_y);
                STUB_WIDTH
            }
        };
        page.text(
            CHART_BAR_X + width + 5.0,
            Font::Regular,
            9.0,
            &shown_text(*shown, policy),
        );
        page.advance(CHART_ROW);
    }
    if chart.bars.iter().any(|(_, s)| s.is_hidden()) {
        page.need(LINE);
        hatched_stub(page, CHART_BAR_X, page.y - 2.0);
        page.colour(MUTED_COLOUR);
        page.text(
            CHART_BAR_X + STUB_WIDTH + 5.0,
            Font::Regular,
            8.0,
            "hidden count, drawn the same length whatever its size",
        );
        page.colour(crate::pdf::INK_COLOUR);
        page.advance(LINE);
    }
}

/// A short bar outlined and hatched with diagonal lines, clipped to its box.
fn hatched_stub(page: &mut Pages, x: f32, y: f32) {
    let (w, h) = (STUB_WIDTH, CHART_BAR_HEIGHT);
    let mut ops = format!("q {x:.2} {y:.2} {w:.2} {h:.2} re W n {HIGH_STROKE} 1 w");
    let mut offset = -h;
    while offset < w {
        ops.push_str(&format!(
            " {:.2} {y:.2} m {:.2} {:.2} l",
            x + offset,
            x + offset + h,
            y + h
        ));
        offset += 3.5;
    }
    ops.push_str(&format!(
        " S Q {HIGH_STROKE} 0.8 w {x:.2} {y:.2} {w:.2} {h:.2} re S"
    ));
    page.raw(&ops);
}

fn table(page: &mut Pages, table: &Table, policy: SuppressionPolicy) {
    let header_height = if table.columns.len() > 1 { 2.0 } else { 1.0 } * LINE;
    // A short table is kept whole on one page; a long one starts with at least one row.
    let rows = table.rows.len() + usize::from(table.total.is_some());
    let whole = header_height + rows as f32 * LINE;
    page.heading(
        table.title,
        if whole < 300.0 {
            whole
        } else {
            header_height + LINE
        },
    );
    if table.rows.is_empty() {
        page.text(MARGIN, Font::Regular, BODY_SIZE, "Nothing recorded.");
        page.advance(LINE);
        return;
    }
    let columns = table.columns.len().max(1) as f32;
    let column_width = ((CONTENT_WIDTH - TABLE_LABEL_WIDTH) / columns).min(90.0);
    let right = |i: usize| MARGIN + TABLE_LABEL_WIDTH + column_width * (i as f32 + 1.0);
    let heads = |page: &mut Pages| {
        page.text(MARGIN, Font::Bold, 9.0, table.label_heading);
        for (i, column) in table.columns.iter().enumerate() {
            // Term labels go on two lines, "Autumn term" over "2026", to fit narrow columns.
            let (first, second) = if table.columns.len() > 1 {
                column.rsplit_once(' ').unwrap_or((column.as_str(), ""))
            } else {
                (column.as_str(), "")
            };
            let fitted = fit(first, Font::Bold, 8.0, column_width - 4.0);
            page.text_right(right(i), Font::Bold, 8.0, &fitted);
            if !second.is_empty() {
                let y = page.y;
                page.y -= 10.0;
                page.text_right(right(i), Font::Bold, 8.0, second);
                page.y = y;
            }
        }
        page.advance(header_height);
    };
    heads(page);
    let row = |page: &mut Pages, label: &str, cells: &[Shown], font: Font| {
        if page.need(LINE) {
            heads(page);
        }
        let label = fit(label, font, 9.0, TABLE_LABEL_WIDTH - 6.0);
        page.text(MARGIN, font, 9.0, &label);
        for (i, cell) in cells.iter().enumerate() {
            page.text_right(right(i), font, 9.0, &shown_text(*cell, policy));
        }
        page.advance(LINE);
    };
    for (label, cells) in &table.rows {
        row(page, label, cells, Font::Regular);
    }
    if let Some((label, cells)) = &table.total {
        row(page, label, cells, Font::Bold);
    }
}

/// Greedy word wrap to `width` points of regular text.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_width(&candidate, Font::Regular, size) > width {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_each_line_fits() {
        let text = "So that no child can be identified, counts from 1 to 4 are shown as <5 and so are small totals.";
        let lines = wrap(text, 9.0, 120.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.join(" "), text);
        for line in &lines {
            assert!(text_width(line, Font::Regular, 9.0) <= 120.0 || !line.contains(' '));
        }
    }
}
