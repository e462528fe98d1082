//! Configuration errors that say where: the key path, the line and the column.
//!
//! Semantic checks know their key path and span directly. Errors from the TOML reader carry only
//! a span, so the path is recovered by finding the innermost key in the document whose value
//! covers that span.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One problem in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {path}: {message}")]
pub struct ConfigError {
    /// The key path, e.g. `school[0].groups.ks2.actions.gambling`; empty for the whole file.
    pub path: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// Every problem found in a configuration file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        writeln!(
            f,
            "the configuration has {count} problem{}:",
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors against one configuration text.
pub(crate) struct Report<'t> {
    text: &'t str,
    pub(crate) errors: Vec<ConfigError>,
}

impl<'t> Report<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Report {
            text,
            errors: Vec::new(),
        }
    }

    pub(crate) fn add(
        &mut self,
        path: impl fmt::Display,
        span: Range<usize>,
        message: impl Into<String>,
    ) {
        let (line, column) = line_and_column(self.text, span.start);
        self.errors.push(ConfigError {
            path: path.to_string(),
            line,
            column,
            message: message.into(),
        });
    }

    pub(crate) fn finish(mut self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.errors.dedup();
        Err(ConfigErrors(self.errors))
    }
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The TOML reader's error, located and with its key path where the document can be read.
pub(crate) fn from_toml(text: &str, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let path = DeTable::parse(text)
        .ok()
        .map(|table| {
            let mut path = Vec::new();
            find_path(table.get_ref(), &span, &mut path);
            path.join("")
        })
        .unwrap_or_default();
    let (line, column) = line_and_column(text, span.start);
    let message = error.message().trim().to_string();
    let message = if message.starts_with("unknown field") {
        format!("{message}; remove or correct the key (see docs/configuration.md)")
    } else {
        message
    };
    ConfigError {
        path,
        line,
        column,
        message,
    }
}

/// Walks down to the innermost key whose key or value covers the span.
fn find_path(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) {
    for (key, value) in table {
        let key_span = key.span();
        let value_span = value.span();
        let covers =
            |s: &Range<usize>| s.start <= span.start && span.start < s.end.max(s.start + 1);
        if covers(&key_span) {
            push_key(path, key.get_ref());
            return;
        }
        if covers(&value_span) || descend_covers(value.get_ref(), span) {
            push_key(path, key.get_ref());
            descend(value.get_ref(), span, path);
            return;
        }
    }
}

fn push_key(path: &mut Vec<String>, key: &str) {
    if path.is_empty() {
        path.push(key.to_string());
    } else {
        path.push(format!(".{key}"));
    }
}

fn descend(value: &DeValue<'_>, span: &Range<usize>, path: &mut Vec<String>) {
    match value {
        DeValue::Table(table) => find_path(table, span, path),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let s = item.span();
                if (s.start <= span.start && span.start < s.end)
                    || descend_covers(item.get_ref(), span)
                {
                    path.push(format!("[{index}]"));
                    descend(item.get_ref(), span, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Tables opened with `[header]` lines may be spread over the file, so their own span need not
/// cover their keys; look inside.
fn descend_covers(value: &DeValue<'_>, span: &Range<usize>) -> bool {
    match value {
        DeValue::Table(table) => table.iter().any(|(key, value)| {
            let k = key.span();
            let v = value.span();
            (k.start <= span.start && span.start < k.end)
                || (v.start <= span.start && span.start < v.end)
                || descend_covers(value.get_ref(), span)
        }),
        DeValue::Array(items) => items.iter().any(|item| {
            let s = item.span();
            (s.start <= span.start && span.start < s.end) || descend_covers(item.get_ref(), span)
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_characters() {
        let text = "a = 1\nb = \"é\" x\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 6), (2, 1));
        assert_eq!(line_and_column(text, text.find('x').unwrap()), (2, 9));
        assert_eq!(line_and_column(text, 10_000), (3, 1));
    }
}
