//! Reading CSV text as school information systems and spreadsheets write it (RFC 4180):
//! quoted fields with doubled quotes, commas and line breaks inside quotes, CRLF, LF or CR line
//! ends, a UTF-8 byte order mark, and Windows-1252 text from older exports.
//!
//! Fields are returned exactly as written (no trimming); what a field means is the caller's
//! business. Rows are numbered as a spreadsheet numbers them: the header is row 1, and a
//! quoted line break does not start a new row.

use crate::error::{ImportError, RowProblem};

/// How the file's bytes were read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8, with or without a byte order mark.
    Utf8,
    /// Not valid UTF-8, so read as Windows-1252 (what Excel writes as "CSV" on Windows).
    Windows1252,
}

impl TextEncoding {
    /// The encoding's usual name.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Windows1252 => "Windows-1252",
        }
    }
}

/// Windows-1252's characters for bytes 0x80 to 0x9F; the five bytes it leaves undefined map to
/// the C1 control characters of the same number, as browsers do (and are then refused as
/// control characters wherever they appear).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
];

/// The file's text: UTF-8 (a byte order mark removed) or, failing that, Windows-1252.
/// UTF-16 (Excel's "Unicode text") is refused with a note on how to save the file instead.
pub fn decode(bytes: &[u8]) -> Result<(String, TextEncoding), ImportError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(ImportError::Utf16);
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((text.to_owned(), TextEncoding::Utf8)),
        Err(_) => {
            let text = bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                    _ => char::from(b),
                })
                .collect();
            Ok((text, TextEncoding::Windows1252))
        }
    }
}

/// The delimiter of the header line: a comma when it has one, else a tab, else a semicolon
/// (spreadsheets in some locales write those), else a comma (a one-column file).
pub fn detect_delimiter(text: &str) -> char {
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    for c in text.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\n' | '\r' if !in_quotes => break,
            ',' if !in_quotes => counts[0] += 1,
            '\t' if !in_quotes => counts[1] += 1,
            ';' if !in_quotes => counts[2] += 1,
            _ => {}
        }
    }
    if counts[0] > 0 {
        ','
    } else if counts[1] > 0 {
        '\t'
    } else if counts[2] > 0 {
        ';'
    } else {
        ','
    }
}

/// One row of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// The row's number as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The fields as written, quotes removed and doubled quotes undone.
    pub fields: Vec<String>,
}

/// Splits text into rows. Problems that spoil one row are reported with its number and
/// reading goes on; a quote that is never closed swallows the rest of the file, so reading
/// stops there. At most `max_rows` rows are read; one more is [`ImportError::TooManyRows`].
pub fn rows(text: &str, delimiter: char, max_rows: usize) -> (Vec<CsvRow>, Vec<ImportError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut row = 1usize;
    let mut in_quotes = false;
    // The field began with a quote (so a quote later in it is not the start of quoting).
    let mut quoted = false;
    // The field's closing quote has been read; more text before the delimiter is an error.
    let mut closed = false;
    let mut text_after_quote = false;
    let mut chars = text.chars().peekable();

    macro_rules! end_field {
        () => {{
            if text_after_quote {
                errors.push(ImportError::Row {
                    row,
                    problem: RowProblem::TextAfterQuote {
                        column: fields.len() + 1,
                    },
                });
            }
            fields.push(std::mem::take(&mut field));
            quoted = false;
            closed = false;
            text_after_quote = false;
        }};
    }
    macro_rules! end_row {
        () => {{
            end_field!();
            if rows.len() >= max_rows {
                errors.push(ImportError::TooManyRows { max: max_rows });
                return (rows, errors);
            }
            rows.push(CsvRow {
                row,
                fields: std::mem::take(&mut fields),
            });
            row += 1;
        }};
    }

    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                    closed = true;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            c if c == delimiter => end_field!(),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                end_row!();
            }
            '\n' => end_row!(),
            '"' if field.is_empty() && !quoted && !closed => {
                in_quotes = true;
                quoted = true;
            }
            c => {
                if closed {
                    text_after_quote = true;
                }
                field.push(c);
            }
        }
    }
    if in_quotes {
        errors.push(ImportError::Row {
            row,
            problem: RowProblem::UnterminatedQuote,
        });
    } else if !field.is_empty() || !fields.is_empty() || quoted {
        // The last row, without a line end after it (as end_row! does, with nothing after).
        if text_after_quote {
            errors.push(ImportError::Row {
                row,
                problem: RowProblem::TextAfterQuote {
                    column: fields.len() + 1,
                },
            });
        }
        fields.push(field);
        if rows.len() >= max_rows {
            errors.push(ImportError::TooManyRows { max: max_rows });
        } else {
            rows.push(CsvRow { row, fields });
        }
    }
    (rows, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        let (rows, errors) = rows(text, ',', 100);
        assert!(errors.is_empty(), "{errors:?}");
        rows.into_iter().map(|r| r.fields).collect()
    }

    #[test]
    fn quoted_fields_with_commas_quotes_and_line_breaks() {
        assert_eq!(
            fields("a,b\r\n\"Smith, John\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",x"),
            vec![
                vec!["a", "b"],
                vec!["Smith, John", "say \"hi\""],
                vec!["two\nlines", "x"]
            ]
        );
    }

    #[test]
    fn rows_are_numbered_as_a_spreadsheet_numbers_them() {
        let (rows, _) = rows("h\n\"a\nb\"\n\nc", ',', 100);
        let numbers: Vec<usize> = rows.iter().map(|r| r.row).collect();
        assert_eq!(numbers, vec![1, 2, 3, 4]);
    }

    #[test]
    fn line_ends_of_every_kind_and_no_final_line_end() {
        assert_eq!(
            fields("a\rb\r\nc\nd"),
            vec![vec!["a"], vec!["b"], vec!["c"], vec!["d"]]
        );
        assert_eq!(fields("a,\n"), vec![vec!["a", ""]]);
        assert_eq!(fields("\"\""), vec![vec![""]]);
    }

    #[test]
    fn unterminated_quote_and_text_after_quote_are_reported_with_rows() {
        let (_, errors) = rows("a\n\"open", ',', 100);
        assert_eq!(
            errors,
            vec![ImportError::Row {
                row: 2,
                problem: RowProblem::UnterminatedQuote
            }]
        );
        let (rows_read, errors) = rows("a,b\n\"x\"y,z\nok,ok", ',', 100);
        assert_eq!(rows_read.len(), 3);
        assert_eq!(
            errors,
            vec![ImportError::Row {
                row: 2,
                problem: RowProblem::TextAfterQuote { column: 1 }
            }]
        );
    }

    #[test]
    fn too_many_rows_stops_reading() {
        let (rows_read, errors) = rows("a\nb\nc\nd", ',', 2);
        assert_eq!(rows_read.len(), 2);
        assert_eq!(errors, vec![ImportError::TooManyRows { max: 2 }]);
    }

    #[test]
    fn decoding_handles_bom_windows_1252_and_refuses_utf16() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFname").unwrap(),
            ("name".to_owned(), TextEncoding::Utf8)
        );
        assert_eq!(
            decode(b"Zo\xEB \x80").unwrap(),
            ("Zoë €".to_owned(), TextEncoding::Windows1252)
        );
        assert_eq!(decode(b"\xFF\xFEn\0"), Err(ImportError::Utf16));
    }

    #[test]
    fn delimiter_is_taken_from_the_header() {
        assert_eq!(detect_delimiter("a,b\nc;d"), ',');
        assert_eq!(detect_delimiter("a\tb\n"), '\t');
        assert_eq!(detect_delimiter("a;b\n"), ';');
        assert_eq!(detect_delimiter("\"a,b\";c\n"), ';');
        assert_eq!(detect_delimiter("name"), ',');
    }
}
