//! Shared by the report's tests: an invented week of figures, a checker that every HTML tag is
//! closed in order, and readers for the PDF's cross-reference table and page text.

#![allow(dead_code)]

use hedgerow_report::{CategoryCount, Outcomes, ResponseTimes, WeeklyReport};
use jiff::civil::date;

fn category(category: &str, label: &str, count: u32, high_severity: u32) -> CategoryCount {
    CategoryCount {
        category: category.to_owned(),
        label: label.to_owned(),
        count,
        high_severity,
    }
}

/// A plausible week at an invented secondary school; the figures add up.
pub fn sample_week() -> WeeklyReport {
    WeeklyReport {
        school_name: "Oakfield Academy".to_owned(),
        period_start: date(2026, 11, 30),
        period_end: date(2026, 12, 6),
        generated_at: "2026-12-07T07:00:00+00:00[Europe/London]"
            .parse()
            .expect("a valid timestamp"),
        by_category: vec![
            category("suicide_self_harm", "Suicide and self-harm", 7, 4),
            category("eating_disorder", "Eating disorders", 2, 0),
            category("radicalisation", "Radicalisation", 1, 1),
            category("hate", "Hate", 3, 0),
            category("bullying", "Bullying", 5, 0),
            category(
                "grooming_sexual_exploitation",
                "Grooming and sexual exploitation",
                0,
                0,
            ),
            category("pornography", "Pornography", 9, 1),
            category("drugs", "Drugs", 4, 0),
            category("weapons_violence", "Weapons and violence", 6, 2),
            category("gambling", "Gambling", 11, 0),
        ],
        by_severity: [14, 13, 13, 6, 2],
        by_group: vec![
            ("Year 7".to_owned(), 6),
            ("Year 8".to_owned(), 9),
            ("Year 9".to_owned(), 12),
            ("Year 10".to_owned(), 8),
            ("Year 11".to_owned(), 7),
            ("Sixth form".to_owned(), 4),
            ("Staff".to_owned(), 2),
        ],
        response: ResponseTimes {
            triaged: 41,
            untriaged: 7,
            median_minutes: Some(42.0),
            p90_minutes: Some(185.0),
            high_severity_median_minutes: Some(9.0),
        },
        outcomes: Outcomes {
            triaged_to_concern: 12,
            false_positive: 8,
            no_further_action: 21,
        },
        circumvention: vec![
            ("VPN and proxy services".to_owned(), 23, 6),
            ("Encrypted DNS".to_owned(), 4, 2),
            ("SNI mismatch".to_owned(), 1, 1),
        ],
        previous_week_total: Some(45),
    }
}

/// A week in which nothing was flagged, triaged or attempted.
pub fn empty_week() -> WeeklyReport {
    WeeklyReport {
        by_category: Vec::new(),
        by_severity: [0; 5],
        by_group: Vec::new(),
        response: ResponseTimes {
            triaged: 0,
            untriaged: 0,
            median_minutes: None,
            p90_minutes: None,
            high_severity_median_minutes: None,
        },
        outcomes: Outcomes {
            triaged_to_concern: 0,
            false_positive: 0,
            no_further_action: 0,
        },
        circumvention: Vec::new(),
        previous_week_total: None,
        ..sample_week()
    }
}

const VOID_ELEMENTS: [&str; 6] = ["meta", "link", "br", "hr", "img", "input"];

/// Checks that every element is closed, in order, that attribute values are quoted, and that
/// every `&` starts an entity. Not a full HTML parser: enough to catch a broken template or
/// text that escaped into markup.
pub fn check_well_formed(html: &str) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    let mut in_style = false;
    loop {
        if in_style {
            // CSS is raw text; only its end tag matters.
            let end = rest.find("</style>").ok_or("unterminated <style>")?;
            rest = &rest[end..];
            in_style = false;
        }
        let Some(start) = rest.find('<') else { break };
        check_entities(&rest[..start])?;
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!DOCTYPE html>") {
            rest = after;
            continue;
        }
        let end = tag_end(rest).ok_or_else(|| format!("unterminated tag near {:?}", head(rest)))?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name.is_empty() {
            return Err(format!("not a tag: <{}>", head(tag)));
        }
        check_attributes(&tag[name.len()..])?;
        if name == "style" {
            in_style = true;
        }
        if !self_closing && !VOID_ELEMENTS.contains(&name.as_str()) {
            open.push(name);
        }
    }
    check_entities(rest)?;
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("left open: {open:?}"))
    }
}

fn head(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The index of the `>` that ends the tag at the start of `text`, skipping quoted values.
fn tag_end(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn check_attributes(attributes: &str) -> Result<(), String> {
    let mut rest = attributes.trim_end_matches('/').trim();
    while !rest.is_empty() {
        let name_end = rest
            .find('=')
            .ok_or_else(|| format!("attribute without value: {rest:?}"))?;
        let name = &rest[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad attribute name {name:?}"));
        }
        let value = rest[name_end + 1..]
            .strip_prefix('"')
            .ok_or_else(|| format!("unquoted value for {name}"))?;
        let close = value
            .find('"')
            .ok_or_else(|| format!("unterminated value for {name}"))?;
        check_entities(&value[..close])?;
        if value[..close].contains('<') {
            return Err(format!("'<' in the value of {name}"));
        }
        rest = value[close + 1..].trim_start();
    }
    Ok(())
}

fn check_entities(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
            .iter()
            .any(|known| entity.starts_with(known));
        if !ok {
            return Err(format!("bare '&' in {:?}", head(entity)));
        }
    }
    if text.contains('>') {
        return Err(format!("bare '>' in text {:?}", head(text)));
    }
    Ok(())
}

/// Follows `startxref` to the cross-reference table and checks that each entry points at the
/// start of its object, that the trailer's /Size agrees, and that each stream's /Length ends
/// exactly at `endstream`. Returns the number of objects.
pub fn check_xref(pdf: &[u8]) -> Result<usize, String> {
    let text =
        std::str::from_utf8(&pdf[15..]).map_err(|e| format!("not ASCII after the header: {e}"))?;
    if !pdf.starts_with(b"%PDF-1.4\n") {
        return Err("no %PDF-1.4 header".into());
    }
    if !text.ends_with("%%EOF\n") {
        return Err("no %%EOF at the end".into());
    }
    let startxref = text.rfind("startxref\n").ok_or("no startxref")?;
    let xref_offset: usize = text[startxref + 10..]
        .lines()
        .next()
        .and_then(|line| line.parse().ok())
        .ok_or("startxref has no offset")?;
    let xref = pdf.get(xref_offset..).ok_or("startxref past the end")?;
    let xref = std::str::from_utf8(xref).map_err(|e| e.to_string())?;
    let mut lines = xref.split('\n');
    if lines.next() != Some("xref") {
        return Err(format!("startxref {xref_offset} does not point at 'xref'"));
    }
    let subsection = lines.next().ok_or("no xref subsection")?;
    let count: usize = subsection
        .strip_prefix("0 ")
        .and_then(|n| n.parse().ok())
        .ok_or("bad subsection header")?;
    let table_start = xref_offset + 5 + subsection.len() + 1;
    for number in 0..count {
        let entry = pdf
            .get(table_start + 20 * number..table_start + 20 * (number + 1))
            .ok_or("xref table cut short")?;
        let entry = std::str::from_utf8(entry).map_err(|e| e.to_string())?;
        if number == 0 {
            if entry != "0000000000 65535 f \n" {
                return Err(format!("bad free entry {entry:?}"));
            }
            continue;
        }
        if !entry.ends_with(" 00000 n \n") || entry.len() != 20 {
            return Err(format!("bad entry {entry:?}"));
        }
        let offset: usize = entry[..10]
            .parse()
            .map_err(|_| format!("bad offset {entry:?}"))?;
        let object = pdf.get(offset..).ok_or("offset past the end")?;
        let expected = format!("{number} 0 obj\n");
        if !object.starts_with(expected.as_bytes()) {
            return Err(format!(
                "entry {number} points at {:?}",
                String::from_utf8_lossy(&object[..20.min(object.len())])
            ));
        }
        let object = std::str::from_utf8(object).map_err(|e| e.to_string())?;
        let object = &object[..object.find("endobj").ok_or("no endobj")?];
        if let Some(stream) = object.find("stream\n") {
            let length: usize = object
                .split("/Length ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .ok_or("stream without /Length")?;
            let data_end = stream + 7 + length;
            if object.get(data_end..) != Some("\nendstream\n") {
                return Err(format!(
                    "object {number}: /Length {length} does not end at endstream"
                ));
            }
        }
    }
    let trailer = &text[text.rfind("trailer").ok_or("no trailer")?..];
    if !trailer.contains(&format!("/Size {count} ")) {
        return Err(format!("trailer /Size is not {count}"));
    }
    Ok(count - 1)
}

/// Each page's text, one string per text-showing operator, decoded from WinAnsiEncoding.
pub fn page_texts(pdf: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let document = lopdf::Document::load_mem(pdf).map_err(|e| format!("lopdf: {e}"))?;
    let mut pages = Vec::new();
    for (_, page_id) in document.get_pages() {
        let content = document.get_page_content(page_id);
        let content =
            lopdf::content::Content::decode(&content).map_err(|e| format!("content: {e}"))?;
        let texts = content
            .operations
            .iter()
            .filter(|op| op.operator == "Tj")
            .filter_map(|op| op.operands.first())
            .filter_map(|operand| operand.as_str().ok())
            .map(|bytes| bytes.iter().map(|&b| from_win_ansi(b)).collect())
            .collect();
        pages.push(texts);
    }
    Ok(pages)
}

/// The few WinAnsiEncoding bytes above ASCII that the report uses, and Latin-1 for the rest.
fn from_win_ansi(byte: u8) -> char {
    match byte {
        0x85 => '…',
        0x96 => '–',
        0x92 => '’',
        0x80 => '€',
        b => char::from(b),
    }
}
