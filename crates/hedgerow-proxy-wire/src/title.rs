//! The `<title>` of an HTML page, read from the first bytes of its body.
//!
//! Monitoring matches risk phrases against page titles where the proxy can see pages (plain
//! HTTP and inspected tunnels). The proxy tees the start of an HTML body into a
//! [`TitleScanner`] as it forwards it; the scanner keeps at most [`TITLE_SCAN_LIMIT`] bytes,
//! gives up at `</head>` or `<body`, and never changes what is forwarded.
//!
//! This is not an HTML parser: it finds the first `title` element outside comments, scripts
//! and styles, which is what browsers show for every page that is not deliberately odd. A page
//! that hides its title from this scanner hides it only from the log, not from filtering.

/// Most body bytes looked at for a title; a head without one in this much is given up on.
pub const TITLE_SCAN_LIMIT: usize = 64 * 1024;

/// Most characters of a title kept (after entities are decoded and whitespace collapsed).
pub const MAX_TITLE_CHARS: usize = 300;

/// Bytes that must arrive after a scan before the next one, so that an origin sending one byte
/// at a time cannot make the proxy scan the same prefix thousands of times.
const RESCAN_STEP: usize = 512;

/// What a scan of a body prefix found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TitleScan {
    /// The title, decoded, whitespace collapsed, at most [`MAX_TITLE_CHARS`] characters.
    Found(String),
    /// The page has no (non-empty) title before `</head>`, `<body` or the limit.
    Absent,
    /// More bytes are needed to tell; scanning may resume at this offset.
    NeedMore { resume_at: usize },
}

/// Finds the title in `prefix`, the first bytes of an HTML body. `complete` says no more
/// bytes will come (the body ended, or the caller stops looking), so an unfinished title is
/// taken as it stands and anything else unfinished means there is none.
pub fn find_title(prefix: &[u8], complete: bool) -> TitleScan {
    scan_from(prefix, 0, complete)
}

fn scan_from(doc: &[u8], start: usize, complete: bool) -> TitleScan {
    let doc = match doc.get(..TITLE_SCAN_LIMIT) {
        Some(limited) => limited,
        None => doc,
    };
    // Past the limit nothing more will be looked at, whatever the caller says.
    let complete = complete || doc.len() >= TITLE_SCAN_LIMIT;
    let need_more = |at: usize| {
        if complete {
            TitleScan::Absent
        } else {
            TitleScan::NeedMore { resume_at: at }
        }
    };
    let mut at = start;
    while let Some(found) = find_byte(doc, at, b'<') {
        let tag = found + 1;
        let Some(&first) = doc.get(tag) else {
            return need_more(found);
        };
        if first == b'!' {
            if starts_with_at(doc, tag, b"!--") {
                match find_seq(doc, tag + 3, b"-->") {
                    Some(end) => at = end + 3,
                    None => return need_more(found),
                }
            } else if doc.len() < tag + 3 && b"!--".starts_with(&doc[tag..]) {
                return need_more(found);
            } else {
                // A doctype or other declaration: ends at the next `>`.
                match find_byte(doc, tag, b'>') {
                    Some(end) => at = end + 1,
                    None => return need_more(found),
                }
            }
            continue;
        }
        let closing = first == b'/';
        let name_start = if closing { tag + 1 } else { tag };
        let name = match tag_name(doc, name_start) {
            NameRead::Name(name) => name,
            NameRead::Unfinished => return need_more(found),
            NameRead::NotATag => {
                at = tag;
                continue;
            }
        };
        let name_end = name_start + name.len();
        if closing {
            if name.eq_ignore_ascii_case(b"head") {
                return TitleScan::Absent;
            }
            at = name_end;
            continue;
        }
        if name.eq_ignore_ascii_case(b"body") {
            return TitleScan::Absent;
        }
        let Some(open_end) = end_of_tag(doc, name_end) else {
            return need_more(found);
        };
        if name.eq_ignore_ascii_case(b"title") {
            let text_start = open_end + 1;
            return match find_closing(doc, text_start, b"title") {
                Some(text_end) => found_or_absent(doc.get(text_start..text_end)),
                None => {
                    let so_far = doc.get(text_start..).unwrap_or_default();
                    let title = decode_title(so_far, true);
                    if complete || title.chars().count() >= MAX_TITLE_CHARS {
                        found_or_absent_text(title)
                    } else {
                        TitleScan::NeedMore { resume_at: found }
                    }
                }
            };
        }
        if name.eq_ignore_ascii_case(b"script") || name.eq_ignore_ascii_case(b"style") {
            // Their text may spell `<title>` (in a string, say) without being one.
            match find_closing(doc, open_end + 1, name) {
                Some(end) => at = end,
                None => return need_more(found),
            }
            continue;
        }
        at = open_end + 1;
    }
    need_more(doc.len())
}

enum NameRead<'a> {
    Name(&'a [u8]),
    /// The name runs to the end of the bytes so far.
    Unfinished,
    /// `<` not followed by a letter: text, not a tag.
    NotATag,
}

fn tag_name(doc: &[u8], start: usize) -> NameRead<'_> {
    match doc.get(start) {
        None => return NameRead::Unfinished,
        Some(b) if !b.is_ascii_alphabetic() => return NameRead::NotATag,
        Some(_) => {}
    }
    let rest = doc.get(start..).unwrap_or_default();
    match rest
        .iter()
        .position(|&b| is_space(b) || b == b'/' || b == b'>')
    {
        Some(len) => NameRead::Name(&rest[..len]),
        None => NameRead::Unfinished,
    }
}

/// The position of the `>` that ends a tag whose attributes start at `from`, skipping quoted
/// attribute values.
fn end_of_tag(doc: &[u8], from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (offset, &b) in doc.get(from..)?.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            // A quote opens a value only after `=` in real HTML; taking every quote keeps this
            // simple and errs towards finding nothing, never towards a wrong title.
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(from + offset),
            None => {}
        }
    }
    None
}

/// The position of `</NAME` (any case, followed by a space, `/` or `>`) at or after `from`.
fn find_closing(doc: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut at = from;
    while let Some(found) = find_seq(doc, at, b"</") {
        let name_at = found + 2;
        let candidate = doc.get(name_at..name_at + name.len())?;
        if candidate.eq_ignore_ascii_case(name) {
            match doc.get(name_at + name.len()) {
                Some(&b) if is_space(b) || b == b'/' || b == b'>' => return Some(found),
                None => return None,
                Some(_) => {}
            }
        }
        at = name_at;
    }
    None
}

fn found_or_absent(bytes: Option<&[u8]>) -> TitleScan {
    found_or_absent_text(decode_title(bytes.unwrap_or_default(), false))
}

fn found_or_absent_text(title: String) -> TitleScan {
    if title.is_empty() {
        TitleScan::Absent
    } else {
        TitleScan::Found(title)
    }
}

fn find_byte(doc: &[u8], from: usize, byte: u8) -> Option<usize> {
    doc.get(from..)?
        .iter()
        .position(|&b| b == byte)
        .map(|p| from + p)
}

fn find_seq(doc: &[u8], from: usize, seq: &[u8]) -> Option<usize> {
    let first = *seq.first()?;
    let mut at = from;
    while let Some(found) = find_byte(doc, at, first) {
        if starts_with_at(doc, found, seq) {
            return Some(found);
        }
        at = found + 1;
    }
    None
}

fn starts_with_at(doc: &[u8], at: usize, seq: &[u8]) -> bool {
    doc.get(at..).is_some_and(|rest| rest.starts_with(seq))
}

/// HTML's ASCII whitespace.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// The text of a title element: bytes to characters (UTF-8; Windows-1252 when the bytes are
/// not UTF-8), entities decoded, whitespace and control characters collapsed to single spaces,
/// trimmed, and cut at [`MAX_TITLE_CHARS`] characters. `truncated` says the bytes may end in
/// the middle of a character or an entity, which is then dropped rather than garbled.
pub fn decode_title(bytes: &[u8], truncated: bool) -> String {
    let text = to_text(bytes, truncated);
    let mut out = String::new();
    let mut count = 0usize;
    let mut pending_space = false;
    let mut push = |c: char, out: &mut String| -> bool {
        if c.is_whitespace() || c.is_control() {
            pending_space = count > 0;
            return true;
        }
        if pending_space {
            if count + 1 >= MAX_TITLE_CHARS {
                return false;
            }
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count >= MAX_TITLE_CHARS {
            return false;
        }
        out.push(c);
        count += 1;
        true
    };
    let mut rest = text.as_str();
    while let Some(amp) = rest.find('&') {
        for c in rest[..amp].chars() {
            if !push(c, &mut out) {
                return out;
            }
        }
        let after = &rest[amp + 1..];
        match decode_entity(after) {
            Entity::Char(c, used) => {
                if !push(c, &mut out) {
                    return out;
                }
                rest = &after[used..];
            }
            Entity::Unfinished if truncated => return out,
            Entity::Unfinished | Entity::NotOne => {
                if !push('&', &mut out) {
                    return out;
                }
                rest = after;
            }
        }
    }
    for c in rest.chars() {
        if !push(c, &mut out) {
            break;
        }
    }
    out
}

enum Entity {
    /// The character and the bytes used after the `&`, including the `;`.
    Char(char, usize),
    /// Runs to the end of the text without a `;`.
    Unfinished,
    NotOne,
}

/// Longest entity reference read: `&#x10FFFF;` and the named ones below fit well inside.
const MAX_ENTITY: usize = 12;

fn decode_entity(after: &str) -> Entity {
    let window = &after.as_bytes()[..after.len().min(MAX_ENTITY)];
    let Some(semi) = window.iter().position(|&b| b == b';') else {
        let plausible = window
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'#');
        return if plausible && window.len() < MAX_ENTITY {
            Entity::Unfinished
        } else {
            Entity::NotOne
        };
    };
    let body = &after[..semi];
    let c = match body {
        "amp" | "AMP" => Some('&'),
        "lt" | "LT" => Some('<'),
        "gt" | "GT" => Some('>'),
        "quot" | "QUOT" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => body.strip_prefix('#').and_then(|number| {
            let value = match number.strip_prefix(['x', 'X']) {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()
                }
                None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                    number.parse::<u32>().ok()
                }
                _ => return None,
            };
            // Zero, surrogates and numbers past Unicode are replaced, as browsers do.
            Some(
                value
                    .filter(|&v| v != 0)
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}'),
            )
        }),
    };
    match c {
        Some(c) => Entity::Char(c, semi + 1),
        None => Entity::NotOne,
    }
}

fn to_text(bytes: &[u8], truncated: bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        // Cut in the middle of a character by the scan limit: the whole characters before it.
        Err(e) if truncated && e.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

/// Windows-1252, the encoding browsers assume for a page that is not UTF-8 and names none.
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Collects the start of an HTML body as it is forwarded and finds its title, keeping at most
/// [`TITLE_SCAN_LIMIT`] bytes. Feed it every body chunk (decoded from chunked framing) until
/// [`TitleScanner::wants_more`] is false, then take [`TitleScanner::finish`].
#[derive(Debug, Default)]
pub struct TitleScanner {
    buf: Vec<u8>,
    resume_at: usize,
    scanned_len: usize,
    outcome: Option<Option<String>>,
}

impl TitleScanner {
    pub fn new() -> TitleScanner {
        TitleScanner::default()
    }

    /// Whether more body bytes could still change the outcome.
    pub fn wants_more(&self) -> bool {
        self.outcome.is_none()
    }

    /// Takes the next body bytes (only as many as the limit leaves room for).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.outcome.is_some() {
            return;
        }
        let room = TITLE_SCAN_LIMIT.saturating_sub(self.buf.len());
        let take = bytes.get(..room).unwrap_or(bytes);
        self.buf.extend_from_slice(take);
        let full = self.buf.len() >= TITLE_SCAN_LIMIT;
        if full || self.buf.len() >= self.scanned_len + RESCAN_STEP {
            self.scan(full);
        }
    }

    /// The title, once the body has ended or the scanner stopped wanting bytes.
    pub fn finish(mut self) -> Option<String> {
        if self.outcome.is_none() {
            self.scan(true);
        }
        self.outcome.flatten()
    }

    fn scan(&mut self, complete: bool) {
        self.scanned_len = self.buf.len();
        match scan_from(&self.buf, self.resume_at, complete) {
            TitleScan::Found(title) => self.found(Some(title)),
            TitleScan::Absent => self.found(None),
            TitleScan::NeedMore { resume_at } => self.resume_at = resume_at,
        }
    }

    fn found(&mut self, title: Option<String>) {
        self.outcome = Some(title);
        // The bytes are no longer needed; give the memory back while the body streams on.
        self.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(html: &str) -> Option<String> {
        match find_title(html.as_bytes(), true) {
            TitleScan::Found(t) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn plain_titles_are_found() {
        assert_eq!(
            title("<!DOCTYPE html><html><head><title>Hello</title></head>").as_deref(),
            Some("Hello")
        );
        assert_eq!(
            title("<TITLE lang=\"en\" data-x='a>b'>Shouting</TiTlE >").as_deref(),
            Some("Shouting")
        );
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            title("<title>Fish &amp; chips &lt;3 &gt; &quot;x&quot; &#39;y&#39; &#163;5 &#x20AC;1 &#xe9;</title>")
                .as_deref(),
            Some("Fish & chips <3 > \"x\" 'y' £5 €1 é")
        );
        assert_eq!(
            title("<title>&bogus; & alone &#0; &#xD800; &#1114112;</title>").as_deref(),
            Some("&bogus; & alone \u{FFFD} \u{FFFD} \u{FFFD}")
        );
    }

    #[test]
    fn whitespace_is_collapsed_and_trimmed() {
        assert_eq!(
            title("<title>\n   How  to\t\r\n revise\u{0007}  </title>").as_deref(),
            Some("How to revise")
        );
        assert_eq!(title("<title>   </title><title>Second</title>"), None);
    }

    #[test]
    fn titles_are_cut_at_the_limit() {
        let long = "x".repeat(1000);
        let found = title(&format!("<title>{long}</title>")).unwrap();
        assert_eq!(found.chars().count(), MAX_TITLE_CHARS);
        let words = "word ".repeat(200);
        let found = title(&format!("<title>{words}</title>")).unwrap();
        assert!(found.chars().count() <= MAX_TITLE_CHARS);
        assert!(found.chars().count() >= MAX_TITLE_CHARS - 5);
        assert!(!found.ends_with(' '));
    }

    #[test]
    fn comments_scripts_and_styles_do_not_count() {
        let html = "<head><!-- <title>Commented</title> --><script>var t = '<title>Script</title>';</script>\
                    <style>/* <title>Style</title> */</style><title>Real</title>";
        assert_eq!(title(html).as_deref(), Some("Real"));
        assert_eq!(
            title("<titles>No</titles><title>Yes</title>").as_deref(),
            Some("Yes")
        );
    }

    #[test]
    fn scanning_stops_at_the_body_or_the_end_of_the_head() {
        assert_eq!(title("<head></head><title>Late</title>"), None);
        assert_eq!(title("<head><body><title>Late</title>"), None);
        assert_eq!(
            find_title(b"<head><meta charset=utf-8></head>", false),
            TitleScan::Absent
        );
    }

    #[test]
    fn unfinished_prefixes_ask_for_more() {
        for prefix in [
            "<html><he",
            "<html><head><ti",
            "<title>Half",
            "<!-- comment",
            "<",
            "<script>x",
        ] {
            assert!(
                matches!(
                    find_title(prefix.as_bytes(), false),
                    TitleScan::NeedMore { .. }
                ),
                "{prefix}"
            );
        }
        assert_eq!(title("<title>Half a ti").as_deref(), Some("Half a ti"));
    }

    #[test]
    fn windows_1252_pages_are_read() {
        let mut html = b"<title>Caf".to_vec();
        html.push(0xE9);
        html.extend_from_slice(b" \x93quoted\x94 \x80</title>");
        assert_eq!(
            find_title(&html, true),
            TitleScan::Found("Café “quoted” €".into())
        );
    }

    #[test]
    fn the_scanner_finds_titles_split_across_chunks() {
        let html = "<!doctype html><html><head><meta name=x content=\"y\"><title>Split &amp; \
                    joined</title></head><body>rest</body></html>";
        for size in [1, 2, 3, 7, 64, 1000] {
            let mut scanner = TitleScanner::new();
            for chunk in html.as_bytes().chunks(size) {
                scanner.feed(chunk);
            }
            assert_eq!(
                scanner.finish().as_deref(),
                Some("Split & joined"),
                "{size}"
            );
        }
    }

    #[test]
    fn the_scanner_gives_up_at_the_limit() {
        let mut scanner = TitleScanner::new();
        let filler = format!("<head><meta name=a content=\"{}\">", "x".repeat(1000));
        let mut fed = 0;
        while scanner.wants_more() && fed < 10 * TITLE_SCAN_LIMIT {
            scanner.feed(filler.as_bytes());
            fed += filler.len();
        }
        assert!(!scanner.wants_more());
        assert!(fed <= TITLE_SCAN_LIMIT + filler.len());
        assert_eq!(scanner.finish(), None);
    }

    #[test]
    fn a_title_started_before_the_limit_is_kept() {
        let mut html = format!("<head><!-- {} -->", "p".repeat(TITLE_SCAN_LIMIT - 100));
        html.push_str("<title>Near the end ");
        html.push_str(&"and on ".repeat(100));
        let mut scanner = TitleScanner::new();
        scanner.feed(html.as_bytes());
        let found = scanner.finish().unwrap();
        assert!(found.starts_with("Near the end and on"), "{found}");
    }

    #[test]
    fn the_scanner_stops_early_once_found() {
        let mut scanner = TitleScanner::new();
        scanner.feed(b"<title>Early</title>");
        scanner.feed(&[b' '; RESCAN_STEP]);
        assert!(!scanner.wants_more());
        assert_eq!(scanner.finish().as_deref(), Some("Early"));
    }
}
