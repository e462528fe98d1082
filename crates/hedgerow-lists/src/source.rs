//! Reading list files: squidGuard/UT1 `domains` and `urls`, hosts files, and the mixed
//! domain-and-exact-URL form in which illegal-content lists are delivered.
//!
//! A bad line never spoils a list: it is reported with its line number and skipped, and the
//! caller decides what to do with the report (the catalog refuses to replace a working index
//! when a whole file is unusable, but tolerates a few broken lines).

use crate::name::{Host, normalize_host};

/// Longest path kept in a URL entry. Real list entries are short; anything longer is a broken
/// line, and bounding it keeps index keys small.
pub const MAX_PATH_LEN: usize = 2048;

/// How the lines of a list file are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListFormat {
    /// One name per line: the name and all its subdomains. IPv4 literals match that address.
    Domains,
    /// squidGuard `urllist`: `host/path`, matching that path prefix on the host and its subdomains.
    Urls,
    /// A hosts file: `0.0.0.0 name [name...]`; the names are read as domain entries.
    Hosts,
    /// Illegal-content delivery: a line with a `/` is one exact URL, any other line a domain.
    ExactUrls,
}

/// One parsed list entry, already normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A name and all its subdomains, or exactly one address.
    Domain(Host),
    /// A path prefix on a host and its subdomains. The path starts with `/`.
    UrlPrefix { host: Host, path: String },
    /// Exactly one address: this host (no subdomains), this path and query.
    ExactUrl { host: Host, path: String },
}

/// A line that could not be read, with the reason in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// The offending text, shortened when very long.
    pub text: String,
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} ({:?})", self.line, self.reason, self.text)
    }
}

/// Parses a whole list file, handing each good entry to `add` and returning the bad lines.
pub fn parse_list(bytes: &[u8], format: ListFormat, mut add: impl FnMut(Entry)) -> Vec<LineError> {
    let mut errors = Vec::new();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = index + 1;
        let line = match std::str::from_utf8(raw) {
            Ok(line) => line,
            Err(_) => {
                errors.push(LineError {
                    line: line_no,
                    text: shorten(&String::from_utf8_lossy(raw)),
                    reason: "the line is not valid UTF-8 text".into(),
                });
                continue;
            }
        };
        let line = strip_comment(line).trim();
        if line.is_empty() {
            continue;
        }
        let parsed = match format {
            ListFormat::Domains => parse_domain(line).map(|e| vec![e]),
            ListFormat::Urls => parse_url_prefix(line).map(|e| vec![e]),
            ListFormat::Hosts => parse_hosts_line(line),
            ListFormat::ExactUrls => parse_exact(line).map(|e| vec![e]),
        };
        match parsed {
            Ok(entries) => entries.into_iter().for_each(&mut add),
            Err(reason) => errors.push(LineError {
                line: line_no,
                text: shorten(line),
                reason,
            }),
        }
    }
    errors
}

fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(at) => &line[..at],
        None => line,
    }
}

fn shorten(text: &str) -> String {
    const KEEP: usize = 120;
    if text.chars().count() <= KEEP {
        text.to_string()
    } else {
        let kept: String = text.chars().take(KEEP).collect();
        format!("{kept}…")
    }
}

fn parse_domain(line: &str) -> Result<Entry, String> {
    if line.contains(char::is_whitespace) {
        return Err("a domain entry must be a single name; this line has spaces in it".into());
    }
    let name = line.trim_start_matches("*.").trim_start_matches('.');
    let host = normalize_host(name).map_err(|e| e.to_string())?;
    Ok(Entry::Domain(host))
}

fn split_url(line: &str) -> Result<(Host, Option<String>), String> {
    if line.contains(char::is_whitespace) {
        return Err("a URL entry must be a single address; this line has spaces in it".into());
    }
    let without_scheme = line
        .split_once("://")
        .map_or(line, |(_, rest)| rest)
        .trim_start_matches("*.")
        .trim_start_matches('.');
    let (host, path) = match without_scheme.find('/') {
        Some(at) => (&without_scheme[..at], Some(&without_scheme[at..])),
        None => (without_scheme, None),
    };
    let host = host.split_once(':').map_or(host, |(h, _)| h);
    let host = normalize_host(host).map_err(|e| e.to_string())?;
    if let Some(path) = path
        && path.len() > MAX_PATH_LEN
    {
        return Err(format!("the path is longer than {MAX_PATH_LEN} characters"));
    }
    // Entries are stored in the spelling requests are matched in (see `path`).
    Ok((
        host,
        path.map(|p| crate::path::normalize_path(p).into_owned()),
    ))
}

fn parse_url_prefix(line: &str) -> Result<Entry, String> {
    match split_url(line)? {
        // squidGuard reads a URL entry without a path as the whole site.
        (host, None) => Ok(Entry::Domain(host)),
        (host, Some(path)) => Ok(Entry::UrlPrefix { host, path }),
    }
}

fn parse_exact(line: &str) -> Result<Entry, String> {
    match split_url(line)? {
        (host, None) => Ok(Entry::Domain(host)),
        (host, Some(path)) => Ok(Entry::ExactUrl { host, path }),
    }
}

fn parse_hosts_line(line: &str) -> Result<Vec<Entry>, String> {
    let mut fields = line.split_whitespace();
    let first = fields.next().unwrap_or_default();
    let names: Vec<&str> = if first.parse::<std::net::IpAddr>().is_ok() {
        fields.collect()
    } else {
        // Some "hosts" lists are plain name-per-line; accept both.
        std::iter::once(first).chain(fields).collect()
    };
    if names.is_empty() {
        return Err("a hosts line needs a name after the address".into());
    }
    let mut entries = Vec::with_capacity(names.len());
    for name in names {
        // Hosts files conventionally begin by mapping the machine's own names; those are not
        // list entries.
        if matches!(
            name,
            "localhost" | "localhost.localdomain" | "local" | "broadcasthost"
        ) || name.starts_with("ip6-")
        {
            continue;
        }
        entries.push(Entry::Domain(
            normalize_host(name).map_err(|e| e.to_string())?,
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, format: ListFormat) -> (Vec<Entry>, Vec<LineError>) {
        let mut entries = Vec::new();
        let errors = parse_list(text.as_bytes(), format, |e| entries.push(e));
        (entries, errors)
    }

    fn dom(s: &str) -> Entry {
        Entry::Domain(normalize_host(s).unwrap())
    }

    #[test]
    fn domains_with_comments_wildcards_and_crlf() {
        let (entries, errors) = parse(
            "# header\r\nExample.COM\r\n*.wild.example\n.dot.example\n\n1.2.3.4 # an address\n",
            ListFormat::Domains,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            entries,
            vec![
                dom("example.com"),
                dom("wild.example"),
                dom("dot.example"),
                dom("1.2.3.4")
            ]
        );
    }

    #[test]
    fn broken_lines_are_reported_with_their_number_and_skipped() {
        let (entries, errors) = parse(
            "good.example\nbad..example\nsp ace.example\nok.example\n",
            ListFormat::Domains,
        );
        assert_eq!(entries, vec![dom("good.example"), dom("ok.example")]);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(errors[0].reason.contains("empty label"));
    }

    #[test]
    fn invalid_utf8_is_a_line_error_not_a_failure() {
        let mut entries = Vec::new();
        let errors = parse_list(
            b"a.example\n\xff\xfe.example\nb.example",
            ListFormat::Domains,
            |e| entries.push(e),
        );
        assert_eq!(entries.len(), 2);
        assert_eq!(errors[0].line, 2);
    }

    #[test]
    fn url_lines_keep_path_case_and_fall_back_to_domains() {
        let (entries, errors) = parse(
            "Example.com/Some/Path\nhttp://x.example/a?b=1\nwhole.example\n",
            ListFormat::Urls,
        );
        assert!(errors.is_empty());
        assert_eq!(
            entries,
            vec![
                Entry::UrlPrefix {
                    host: normalize_host("example.com").unwrap(),
                    path: "/Some/Path".into()
                },
                Entry::UrlPrefix {
                    host: normalize_host("x.example").unwrap(),
                    path: "/a?b=1".into()
                },
                dom("whole.example"),
            ]
        );
    }

    #[test]
    fn hosts_files() {
        let (entries, errors) = parse(
            "127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example\nplain.example\n0.0.0.0\n",
            ListFormat::Hosts,
        );
        assert_eq!(
            entries,
            vec![
                dom("ads.example"),
                dom("tracker.example"),
                dom("plain.example")
            ]
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 4);
    }

    #[test]
    fn exact_urls() {
        let (entries, _) = parse(
            "bad.example/img/1.jpg\nwhole.example\n",
            ListFormat::ExactUrls,
        );
        assert_eq!(
            entries,
            vec![
                Entry::ExactUrl {
                    host: normalize_host("bad.example").unwrap(),
                    path: "/img/1.jpg".into()
                },
                dom("whole.example"),
            ]
        );
    }
}
