//! The report as a PDF 1.4 file, written directly: A4 pages, the standard Helvetica fonts in
//! WinAnsiEncoding (so nothing is embedded), charts drawn as filled rectangles, and content
//! streams left uncompressed so the file stays plain and small enough for an email.
//!
//! Layout is a single cursor moving down the page; a block that would cross the bottom
//! margin starts a new page, and a section heading is never left alone at the foot of one.

use crate::figures::{self, Chart};
use crate::model::WeeklyReport;
use jiff::ZonedDateTime;

pub(crate) const PAGE_WIDTH: f32 = 595.0;
pub(crate) const PAGE_HEIGHT: f32 = 842.0;
pub(crate) const MARGIN: f32 = 50.0;
pub(crate) const TOP: f32 = PAGE_HEIGHT - MARGIN;
/// Above the footer.
pub(crate) const BOTTOM: f32 = 62.0;
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

pub(crate) const HEADING_SIZE: f32 = 13.0;
const HEADING_SPACE: f32 = 30.0;
pub(crate) const BODY_SIZE: f32 = 10.0;
pub(crate) const LINE: f32 = 15.0;

/// Chart geometry: labels right-aligned against the bars, counts just past each bar's end.
const CHART_LABEL_WIDTH: f32 = 170.0;
const CHART_BAR_X: f32 = MARGIN + CHART_LABEL_WIDTH + 8.0;
const CHART_BAR_AREA: f32 = 260.0;
const CHART_ROW: f32 = 17.0;
const CHART_BAR_HEIGHT: f32 = 11.0;

pub(crate) const BAR_COLOUR: &str = "0.184 0.400 0.565 rg";
pub(crate) const HIGH_COLOUR: &str = "0.643 0.149 0.173 rg";
pub(crate) const MUTED_COLOUR: &str = "0.333 0.369 0.408 rg";
pub(crate) const INK_COLOUR: &str = "0.106 0.122 0.141 rg";

#[derive(Clone, Copy)]
pub(crate) enum Font {
    Regular,
    Bold,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "/F1",
            Font::Bold => "/F2",
        }
    }
}

/// Renders the report as a PDF 1.4 document of A4 pages (one or two for a usual week; more
/// only when the configuration has very many categories or groups).
pub fn render_pdf(report: &WeeklyReport) -> Vec<u8> {
    let mut page = Pages::new();
    header(&mut page, report);
    summary(&mut page, report);
    if report.total_alerts() == 0 {
        page.heading("Alerts", LINE);
        page.text(MARGIN, Font::Regular, BODY_SIZE, figures::NO_ALERTS);
        page.advance(LINE);
    } else {
        for chart in figures::charts(report) {
            chart_block(&mut page, &chart);
        }
    }
    response(&mut page, report);
    circumvention(&mut page, report);
    let contents = with_footers(page.finish(), figures::TITLE, &report.school_name);
    let title = format!("{}: {}", figures::TITLE, report.school_name);
    write_document(&title, &report.generated_at, &contents)
}

/// Adds "title: school" and "Page n of m" at the foot of every page.
pub(crate) fn with_footers(pages: Vec<String>, title: &str, school_name: &str) -> Vec<String> {
    let footer_left = format!("{title}: {}", fit(school_name, Font::Regular, 8.0, 330.0));
    let page_count = pages.len();
    pages
        .into_iter()
        .enumerate()
        .map(|(index, mut content)| {
            let number = format!("Page {} of {page_count}", index + 1);
            content.push_str(MUTED_COLOUR);
            content.push('\n');
            content.push_str(&text_op(MARGIN, 34.0, Font::Regular, 8.0, &footer_left));
            let width = text_width(&number, Font::Regular, 8.0);
            content.push_str(&text_op(
                PAGE_WIDTH - MARGIN - width,
                34.0,
                Font::Regular,
                8.0,
                &number,
            ));
            content
        })
        .collect()
}

fn header(page: &mut Pages, report: &WeeklyReport) {
    page.advance(20.0);
    page.text(MARGIN, Font::Bold, 20.0, figures::TITLE);
    page.advance(22.0);
    let school = fit(&report.school_name, Font::Bold, 14.0, CONTENT_WIDTH);
    page.text(MARGIN, Font::Bold, 14.0, &school);
    page.advance(LINE);
    page.text(MARGIN, Font::Regular, BODY_SIZE, &figures::period(report));
    page.advance(13.0);
    page.colour(MUTED_COLOUR);
    page.text(
        MARGIN,
        Font::Regular,
        9.0,
        &figures::generated(&report.generated_at),
    );
    page.colour(INK_COLOUR);
    page.advance(10.0);
    page.rule();
}

fn summary(page: &mut Pages, report: &WeeklyReport) {
    let lines = figures::summary(report);
    page.heading("Summary", LINE);
    for line in lines {
        page.need(LINE);
        page.text(MARGIN, Font::Regular, BODY_SIZE, line.label);
        let value_x = MARGIN + 150.0;
        let value = fit(
            &line.value,
            Font::Bold,
            BODY_SIZE,
            PAGE_WIDTH - MARGIN - value_x,
        );
        page.text(value_x, Font::Bold, BODY_SIZE, &value);
        page.advance(LINE);
    }
}

fn chart_block(page: &mut Pages, chart: &Chart) {
    page.heading(chart.title, CHART_ROW);
    if chart.bars.is_empty() || chart.largest() == 0 {
        page.text(
            MARGIN,
            Font::Regular,
            BODY_SIZE,
            "Nothing to show this week.",
        );
        page.advance(LINE);
        return;
    }
    let largest = chart.largest().max(1) as f32;
    for bar in &chart.bars {
        page.need(CHART_ROW);
        let label = fit(&bar.label, Font::Regular, 9.0, CHART_LABEL_WIDTH - 4.0);
        let label_x = MARGIN + CHART_LABEL_WIDTH - text_width(&label, Font::Regular, 9.0);
        page.text(label_x, Font::Regular, 9.0, &label);
        let width = bar.value as f32 / largest * CHART_BAR_AREA;
        let bar_y = page.y - 2.0;
        page.rect(BAR_COLOUR, CHART_BAR_X, bar_y, width, CHART_BAR_HEIGHT);
        if let Some(high) = bar.emphasised.filter(|&n| n > 0) {
            let high_width = (high as f32 / largest * CHART_BAR_AREA).min(width);
            page.rect(
                HIGH_COLOUR,
                CHART_BAR_X,
                bar_y,
                high_width,
                CHART_BAR_HEIGHT,
            );
        }
        page.text(
            CHART_BAR_X + width + 5.0,
            Font::Regular,
            9.0,
            &figures::count(bar.value.into()),
        );
        page.advance(CHART_ROW);
    }
    if chart.emphasised_heading.is_some() {
        page.need(LINE);
        page.rect(BAR_COLOUR, CHART_BAR_X, page.y - 1.0, 8.0, 8.0);
        page.text(CHART_BAR_X + 12.0, Font::Regular, 8.0, "All alerts");
        page.rect(HIGH_COLOUR, CHART_BAR_X + 70.0, page.y - 1.0, 8.0, 8.0);
        page.text(
            CHART_BAR_X + 82.0,
            Font::Regular,
            8.0,
            "High severity (4 and 5)",
        );
        page.advance(LINE);
    }
}

fn response(page: &mut Pages, report: &WeeklyReport) {
    page.heading("Response times and outcomes", LINE);
    for (label, value) in figures::response_rows(report) {
        page.need(LINE);
        page.text(MARGIN, Font::Regular, BODY_SIZE, label);
        page.text(MARGIN + 230.0, Font::Bold, BODY_SIZE, &value);
        page.advance(LINE);
    }
}

fn circumvention(page: &mut Pages, report: &WeeklyReport) {
    page.heading("Circumvention attempts", LINE * 2.0);
    if report.circumvention.is_empty() {
        page.text(MARGIN, Font::Regular, BODY_SIZE, figures::NO_CIRCUMVENTION);
        page.advance(LINE);
        return;
    }
    let attempts_right = MARGIN + 360.0;
    let distinct_right = PAGE_WIDTH - MARGIN;
    let column_heads = |page: &mut Pages| {
        page.text(MARGIN, Font::Bold, BODY_SIZE, "Kind");
        page.text_right(attempts_right, Font::Bold, BODY_SIZE, "Attempts");
        page.text_right(distinct_right, Font::Bold, BODY_SIZE, "People or devices");
        page.advance(LINE);
    };
    column_heads(page);
    for (kind, attempts, distinct) in &report.circumvention {
        if page.need(LINE) {
            column_heads(page);
        }
        let kind = fit(kind, Font::Regular, BODY_SIZE, 270.0);
        page.text(MARGIN, Font::Regular, BODY_SIZE, &kind);
        page.text_right(
            attempts_right,
            Font::Regular,
            BODY_SIZE,
            &figures::count((*attempts).into()),
        );
        page.text_right(
            distinct_right,
            Font::Regular,
            BODY_SIZE,
            &figures::count((*distinct).into()),
        );
        page.advance(LINE);
    }
}

/// Content streams being laid out, with a cursor at the baseline of the next line.
pub(crate) struct Pages {
    done: Vec<String>,
    current: String,
    pub(crate) y: f32,
}

impl Pages {
    pub(crate) fn new() -> Self {
        Pages {
            done: Vec::new(),
            current: format!("{INK_COLOUR}\n"),
            y: TOP,
        }
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        self.done.push(self.current);
        self.done
    }

    /// Starts a new page unless `height` fits above the bottom margin; says whether it did.
    pub(crate) fn need(&mut self, height: f32) -> bool {
        if self.y - height >= BOTTOM {
            return false;
        }
        let finished = std::mem::replace(&mut self.current, format!("{INK_COLOUR}\n"));
        self.done.push(finished);
        self.y = TOP;
        true
    }

    pub(crate) fn advance(&mut self, height: f32) {
        self.y -= height;
    }

    /// A section heading, kept on the same page as `first_line` of what follows it.
    pub(crate) fn heading(&mut self, title: &str, first_line: f32) {
        self.need(HEADING_SPACE + first_line);
        self.advance(HEADING_SPACE - LINE);
        self.text(MARGIN, Font::Bold, HEADING_SIZE, title);
        self.advance(LINE + 3.0);
    }

    pub(crate) fn text(&mut self, x: f32, font: Font, size: f32, text: &str) {
        self.current.push_str(&text_op(x, self.y, font, size, text));
    }

    pub(crate) fn text_right(&mut self, right: f32, font: Font, size: f32, text: &str) {
        let x = right - text_width(text, font, size);
        self.text(x, font, size, text);
    }

    pub(crate) fn rect(&mut self, colour: &str, x: f32, y: f32, width: f32, height: f32) {
        self.current.push_str(&format!(
            "{colour}\n{x:.2} {y:.2} {width:.2} {height:.2} re f\n{INK_COLOUR}\n"
        ));
    }

    /// Drawing operators written as they are, for shapes the helpers here do not cover.
    pub(crate) fn raw(&mut self, operators: &str) {
        self.current.push_str(operators);
        self.current.push('\n');
    }

    pub(crate) fn colour(&mut self, colour: &str) {
        self.current.push_str(colour);
        self.current.push('\n');
    }

    pub(crate) fn rule(&mut self) {
        self.current.push_str(&format!(
            "0.106 0.122 0.141 RG 1 w {MARGIN:.2} {y:.2} m {right:.2} {y:.2} l S\n",
            y = self.y,
            right = PAGE_WIDTH - MARGIN
        ));
    }
}

pub(crate) fn text_op(x: f32, y: f32, font: Font, size: f32, text: &str) -> String {
    format!(
        "BT {} {size:.1} Tf {x:.2} {y:.2} Td {} Tj ET\n",
        font.resource(),
        literal(text)
    )
}

/// The text cut to fit `max_width` points, ending in an ellipsis when cut.
pub(crate) fn fit(text: &str, font: Font, size: f32, max_width: f32) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if text_width(&clean, font, size) <= max_width {
        return clean;
    }
    let ellipsis = text_width("…", font, size);
    let mut cut = String::new();
    let mut width = 0.0;
    for c in clean.chars() {
        let char_width = glyph_width(win_ansi(c).unwrap_or(b'?'), font) * size / 1000.0;
        if width + char_width + ellipsis > max_width {
            break;
        }
        width += char_width;
        cut.push(c);
    }
    cut.push('…');
    cut
}

pub(crate) fn text_width(text: &str, font: Font, size: f32) -> f32 {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| glyph_width(win_ansi(c).unwrap_or(b'?'), font))
        .sum::<f32>()
        * size
        / 1000.0
}

/// Advance widths of Helvetica (per 1000 units) for printable ASCII, from its font metrics.
const HELVETICA_ASCII: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// Near enough for fitting and aligning: exact for ASCII in Helvetica, a generous average
/// elsewhere, and Helvetica-Bold taken as a little wider throughout.
fn glyph_width(byte: u8, font: Font) -> f32 {
    let regular = byte
        .checked_sub(0x20)
        .and_then(|i| HELVETICA_ASCII.get(usize::from(i)))
        .map_or(600.0, |&w| f32::from(w));
    match font {
        Font::Regular => regular,
        Font::Bold => regular * 1.08,
    }
}

/// The WinAnsiEncoding byte for a character, if it has one.
fn win_ansi(c: char) -> Option<u8> {
    let code = u32::from(c);
    if (0x20..0x7F).contains(&code) || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    let byte = match c {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    };
    Some(byte)
}

/// A PDF literal string in WinAnsiEncoding: characters it lacks become '?', control
/// characters are dropped, and every byte outside printable ASCII is an octal escape so the
/// content stream stays plain ASCII.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        if c.is_control() {
            continue;
        }
        let byte = win_ansi(c).unwrap_or(b'?');
        match byte {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7E => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    out.push(')');
    out
}

/// Catalogue, page tree, two fonts, document information, then a page and its content stream
/// per page, followed by the cross-reference table with each object's byte offset.
pub(crate) fn write_document(
    title: &str,
    generated_at: &ZonedDateTime,
    contents: &[String],
) -> Vec<u8> {
    const FIRST_PAGE_OBJECT: usize = 6;
    let kids: Vec<String> = (0..contents.len())
        .map(|i| format!("{} 0 R", FIRST_PAGE_OBJECT + 2 * i))
        .collect();
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            contents.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_owned(),
        info(title, generated_at),
    ];
    for (i, content) in contents.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> /ProcSet [/PDF /Text] >> /Contents {} 0 R >>",
            FIRST_PAGE_OBJECT + 2 * i + 1
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }

    // The binary comment tells transfer tools the file is not text.
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref_offset = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The document information dictionary. Its strings are PDFDocEncoding, which agrees with
/// WinAnsiEncoding on ASCII and Latin-1, so other characters are replaced.
fn info(title: &str, at: &ZonedDateTime) -> String {
    let title: String = title
        .chars()
        .map(|c| if u32::from(c) < 0x100 { c } else { '?' })
        .collect();
    let mut dictionary = format!(
        "<< /Title {} /Producer (Hedgerow) /Creator (Hedgerow)",
        literal(&title)
    );
    if (1..=9999).contains(&at.year()) {
        let offset = at.offset().seconds();
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.unsigned_abs();
        dictionary.push_str(&format!(
            " /CreationDate (D:{:04}{:02}{:02}{:02}{:02}{:02}{sign}{:02}'{:02}')",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            offset / 3600,
            (offset % 3600) / 60
        ));
    }
    dictionary.push_str(" >>");
    dictionary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_delimiters_and_encode_win_ansi() {
        assert_eq!(literal("a(b)c\\d"), "(a\\(b\\)c\\\\d)");
        assert_eq!(literal("café – £5 €"), "(caf\\351 \\226 \\2435 \\200)");
        assert_eq!(literal("日本\u{7}x"), "(??x)");
    }

    #[test]
    fn fitting_cuts_long_text_to_the_width() {
        let long = "W".repeat(200);
        let cut = fit(&long, Font::Regular, 10.0, 100.0);
        assert!(cut.ends_with('…'));
        assert!(text_width(&cut, Font::Regular, 10.0) <= 100.0);
        assert_eq!(fit("Drugs", Font::Regular, 10.0, 100.0), "Drugs");
    }

    #[test]
    fn helvetica_widths_match_the_metrics() {
        // "Hello" in Helvetica: H 722 + e 556 + l 222 + l 222 + o 556 = 2278.
        assert!((text_width("Hello", Font::Regular, 1000.0) - 2278.0).abs() < 0.01);
    }
}
