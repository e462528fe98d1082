//! What request and response heads share: size limits, line splitting, header fields, host
//! names and message framing (Content-Length versus Transfer-Encoding).
//!
//! The rules follow RFC 9110 and RFC 9112, choosing the strict option wherever the RFC allows
//! a recipient to reject: a proxy that reads a message differently from the origin behind it
//! is how request smuggling happens, so ambiguity is an error rather than a guess.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Deref;

/// Size limits for a message head. The defaults are generous for browsers (whose heads are
/// typically under 2 KiB, with cookies rarely past 8 KiB) and small enough that a client
/// cannot make the proxy buffer much per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The whole head, start line to the blank line, in bytes.
    pub max_head: usize,
    /// The request or status line, without its CRLF.
    pub max_start_line: usize,
    /// One header field line, without its CRLF.
    pub max_header_line: usize,
    /// Number of header fields.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 32 * 1024,
            max_start_line: 8 * 1024,
            max_header_line: 8 * 1024,
            max_headers: 100,
        }
    }
}

/// The HTTP versions the proxy speaks on either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Why a head (or its framing headers) was refused. [`HeadError::status`] gives the response
/// the proxy should send a client whose request failed this way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("message head is larger than {limit} bytes")]
    HeadTooLarge { limit: usize },
    #[error("request or status line is longer than {limit} bytes")]
    StartLineTooLong { limit: usize },
    #[error("a header field line is longer than {limit} bytes")]
    HeaderLineTooLong { limit: usize },
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    #[error("line ends with a bare LF instead of CRLF")]
    BareLineFeed,
    #[error("malformed start line: {0}")]
    BadStartLine(&'static str),
    #[error("unsupported HTTP version {0:?}")]
    UnsupportedVersion(String),
    #[error("invalid request target: {0}")]
    BadTarget(&'static str),
    #[error("invalid CONNECT target: {0}")]
    BadConnectTarget(&'static str),
    #[error("malformed header field: {0}")]
    BadHeader(&'static str),
    #[error("header field continued with obsolete line folding")]
    ObsoleteLineFolding,
    #[error("Content-Length is not a decimal number that fits in 64 bits")]
    BadContentLength,
    #[error("Content-Length values disagree")]
    ConflictingContentLength,
    #[error("both Transfer-Encoding and Content-Length are present")]
    TransferEncodingWithContentLength,
    #[error("invalid Transfer-Encoding: {0}")]
    BadTransferEncoding(&'static str),
}

impl HeadError {
    /// The status code for a client whose request head failed with this error. (For an
    /// origin's response head every error means 502, which the caller knows without this.)
    pub fn status(&self) -> u16 {
        match self {
            HeadError::HeadTooLarge { .. }
            | HeadError::HeaderLineTooLong { .. }
            | HeadError::TooManyHeaders { .. } => 431,
            HeadError::StartLineTooLong { .. } => 414,
            HeadError::UnsupportedVersion(_) => 505,
            // RFC 9112 §6.1: a transfer coding the server does not understand gets 501.
            HeadError::BadTransferEncoding("unknown transfer coding") => 501,
            _ => 400,
        }
    }
}

/// How the body that follows a head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding; see [`crate::ChunkedDecoder`].
    Chunked,
    /// The body runs until the origin closes the connection (responses only).
    CloseDelimited,
}

/// Header fields in the order received. Names are lower-cased (they are case-insensitive and
/// HTTP/2 sends them lower-case anyway); values are raw bytes without surrounding whitespace,
/// because obs-text (bytes 0x80 to 0xFF) is legal in a value and must be forwarded unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, Vec<u8>)>);

impl Deref for Headers {
    type Target = [(String, Vec<u8>)];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Headers {
    /// The first value of the named field; `name` is matched case-insensitively.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of the named field, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The comma-separated elements of every value of the named field, trimmed and
    /// lower-cased, skipping empty elements (RFC 9110 §5.6.1 lets senders write `a, , b`).
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim_ows)
            .filter(|t| !t.is_empty())
            .map(|t| String::from_utf8_lossy(t).to_ascii_lowercase())
            .collect()
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.0 {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The single Content-Length, if any. Repeats (in separate fields or as a list in one) are
    /// accepted only when they all agree, as RFC 9112 §6.3 allows; anything else is refused,
    /// because a proxy and an origin picking different values is a smuggling vector.
    pub fn content_length(&self) -> Result<Option<u64>, HeadError> {
        let mut found = None;
        for value in self.get_all("content-length") {
            for item in value.split(|&b| b == b',') {
                let n = parse_decimal(trim_ows(item)).ok_or(HeadError::BadContentLength)?;
                match found {
                    Some(previous) if previous != n => {
                        return Err(HeadError::ConflictingContentLength);
                    }
                    _ => found = Some(n),
                }
            }
        }
        Ok(found)
    }

    /// The transfer codings, lower-cased, in the order applied; `None` without the field.
    pub fn transfer_codings(&self) -> Result<Option<Vec<String>>, HeadError> {
        if self.get("transfer-encoding").is_none() {
            return Ok(None);
        }
        let mut codings = Vec::new();
        for element in self.tokens("transfer-encoding") {
            // Parameters belong to codings other than chunked; only the name matters here.
            let name = element
                .split(';')
                .next()
                .unwrap_or_default()
                .trim_end_matches([' ', '\t']);
            if !name.bytes().all(is_tchar) || name.is_empty() {
                return Err(HeadError::BadTransferEncoding("coding is not a token"));
            }
            if name == "chunked" && codings.iter().any(|c| c == "chunked") {
                return Err(HeadError::BadTransferEncoding(
                    "chunked applied more than once",
                ));
            }
            codings.push(name.to_owned());
        }
        if codings.is_empty() {
            return Err(HeadError::BadTransferEncoding("empty field"));
        }
        Ok(Some(codings))
    }

    /// Framing shared by requests and responses: `Ok(Some(chunked))` when Transfer-Encoding
    /// is present, after refusing it next to Content-Length. RFC 9112 §6.3 lets a recipient
    /// let Transfer-Encoding win, but says such a message "ought to be handled as an error".
    pub(crate) fn transfer_encoding_framing(
        &self,
        version: Version,
    ) -> Result<Option<bool>, HeadError> {
        let Some(codings) = self.transfer_codings()? else {
            return Ok(None);
        };
        if self.get("content-length").is_some() {
            return Err(HeadError::TransferEncodingWithContentLength);
        }
        // An HTTP/1.0 recipient would not understand the chunking, so the framing is faulty
        // (RFC 9112 §6.1); refusing is simpler than re-framing.
        if version == Version::Http10 {
            return Err(HeadError::BadTransferEncoding(
                "Transfer-Encoding in an HTTP/1.0 message",
            ));
        }
        Ok(Some(codings.last().is_some_and(|c| c == "chunked")))
    }

    /// Whether the connection may carry another message after this one (RFC 9112 §9.3).
    /// `also` names a second field read like Connection (Proxy-Connection, for requests).
    pub(crate) fn keep_alive(&self, version: Version, also: Option<&str>) -> bool {
        let mut tokens = self.tokens("connection");
        if let Some(other) = also {
            tokens.extend(self.tokens(other));
        }
        if tokens.iter().any(|t| t == "close") {
            return false;
        }
        version == Version::Http11 || tokens.iter().any(|t| t == "keep-alive")
    }

    /// Field names (lower-case) the proxy must not forward: the fixed hop-by-hop fields plus
    /// every field the Connection header names (RFC 9110 §7.6.1).
    pub fn hop_by_hop(&self) -> Vec<String> {
        let mut names: Vec<String> = HOP_BY_HOP.iter().map(|&n| n.to_owned()).collect();
        for token in self.tokens("connection") {
            if token.bytes().all(is_tchar) && !names.contains(&token) {
                names.push(token);
            }
        }
        names
    }

    /// The fields that remain once the hop-by-hop ones are removed.
    pub fn end_to_end(&self) -> Headers {
        let hop = self.hop_by_hop();
        Headers(
            self.0
                .iter()
                .filter(|(n, _)| !hop.contains(n))
                .cloned()
                .collect(),
        )
    }
}

/// Fields that describe one connection rather than the message, per RFC 9110 §7.6.1, plus
/// Proxy-Connection (a non-standard field old clients still send) and the proxy's own
/// authentication fields, which must never reach the origin.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// A host from a request target: a DNS name (lower-case ASCII, no trailing dot) or an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host {
    /// Written as it appears in an authority, so IPv6 addresses are bracketed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ipv4(addr) => write!(f, "{addr}"),
            Host::Ipv6(addr) => write!(f, "[{addr}]"),
        }
    }
}

/// Parses the host part of an authority. Only the plain forms are accepted: a name whose
/// last label is numeric (`2130706433`, `0x7f.1`, `1.2.3.256`) is refused, because
/// resolvers and browsers read some of those as addresses, which would let a client reach an
/// address the policy only knows by its dotted form.
pub(crate) fn parse_host(bytes: &[u8]) -> Result<Host, &'static str> {
    if let Some(inner) = bytes.strip_prefix(b"[") {
        let inner = inner.strip_suffix(b"]").ok_or("unclosed '[' in host")?;
        let text = std::str::from_utf8(inner).map_err(|_| "non-ASCII IPv6 address")?;
        return text
            .parse()
            .map(Host::Ipv6)
            .map_err(|_| "invalid IPv6 address");
    }
    let name = bytes.strip_suffix(b".").unwrap_or(bytes);
    if name.is_empty() {
        return Err("empty host");
    }
    if name.len() > 253 {
        return Err("host name longer than 253 bytes");
    }
    if !name
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("host name has a character other than letters, digits, '-', '_' and '.'");
    }
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    if let Ok(addr) = name.parse::<Ipv4Addr>() {
        return Ok(Host::Ipv4(addr));
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label in host name");
        }
        if label.len() > 63 {
            return Err("host name label longer than 63 bytes");
        }
        last = label;
    }
    let hex_number = last
        .strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if last.bytes().all(|b| b.is_ascii_digit()) || hex_number {
        return Err("host name ends in a numeric label");
    }
    Ok(Host::Name(name))
}

/// Splits `host[:port]`; `None` for the port when it is absent.
pub(crate) fn parse_authority(bytes: &[u8]) -> Result<(Host, Option<u16>), &'static str> {
    let (host, port) = if bytes.starts_with(b"[") {
        let close = bytes
            .iter()
            .position(|&b| b == b']')
            .ok_or("unclosed '[' in host")?;
        let (host, rest) = bytes.split_at(close + 1);
        match rest {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return Err("junk after IPv6 address"),
        }
    } else {
        match bytes.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (host, port) = bytes.split_at(colon);
                (host, port.get(1..))
            }
            None => (bytes, None),
        }
    };
    let port = match port {
        None => None,
        Some(digits) => Some(parse_port(digits)?),
    };
    Ok((parse_host(host)?, port))
}

fn parse_port(digits: &[u8]) -> Result<u16, &'static str> {
    if digits.is_empty() || digits.len() > 5 {
        return Err("port is empty or longer than 5 digits");
    }
    match parse_decimal(digits).and_then(|n| u16::try_from(n).ok()) {
        Some(0) | None => Err("port is not a number from 1 to 65535"),
        Some(port) => Ok(port),
    }
}

pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// RFC 9110 §5.6.2 token characters.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn parse_version(bytes: &[u8]) -> Result<Version, HeadError> {
    match bytes {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(HeadError::UnsupportedVersion(
                String::from_utf8_lossy(bytes).into_owned(),
            ))
        }
        _ => Err(HeadError::BadStartLine("invalid HTTP version")),
    }
}

/// A head split into its start line and parsed fields, and how many bytes it took.
pub(crate) struct RawHead<'a> {
    pub start_line: &'a [u8],
    pub headers: Headers,
    pub consumed: usize,
}

enum LineError {
    TooLong,
    BareLineFeed,
}

/// Finds the CRLF-terminated line at `pos`: `Ok(None)` when it is not all there yet.
/// Only `max_line + 2` bytes are searched, so a client cannot make each call rescan a huge
/// buffer, and an over-long line fails as soon as it is known to be over-long.
fn next_line(buf: &[u8], pos: usize, max_line: usize) -> Result<Option<(&[u8], usize)>, LineError> {
    let rest = buf.get(pos..).unwrap_or_default();
    let window = rest.get(..max_line.saturating_add(2)).unwrap_or(rest);
    match window.iter().position(|&b| b == b'\n') {
        None if window.len() > max_line.saturating_add(1) => Err(LineError::TooLong),
        None => Ok(None),
        Some(lf) => match lf.checked_sub(1).and_then(|cr| Some((cr, *rest.get(cr)?))) {
            Some((cr, b'\r')) => Ok(Some((rest.get(..cr).unwrap_or_default(), pos + lf + 1))),
            _ => Err(LineError::BareLineFeed),
        },
    }
}

/// Splits a head into its start line and header fields, enforcing `limits`.
pub(crate) fn split_head<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<RawHead<'a>>, HeadError> {
    let too_large = HeadError::HeadTooLarge {
        limit: limits.max_head,
    };
    // Looking only at the first max_head bytes bounds the work per call and makes "the head
    // does not end within the limit" an error as soon as that many bytes have arrived.
    let limited = buf.get(..limits.max_head).unwrap_or(buf);
    let need_more = || {
        if buf.len() >= limits.max_head {
            Err(too_large.clone())
        } else {
            Ok(None)
        }
    };

    // RFC 9112 §2.2: a server SHOULD ignore empty lines before the request line (some
    // clients send a stray CRLF after a body).
    let mut pos = 0;
    while limited.get(pos..pos + 2) == Some(b"\r\n") {
        pos += 2;
    }
    let (start_line, mut pos) = match next_line(limited, pos, limits.max_start_line) {
        Ok(Some(found)) => found,
        Ok(None) => return need_more(),
        Err(LineError::TooLong) => {
            return Err(HeadError::StartLineTooLong {
                limit: limits.max_start_line,
            });
        }
        Err(LineError::BareLineFeed) => return Err(HeadError::BareLineFeed),
    };
    let mut headers = Vec::new();
    loop {
        let (line, next) = match next_line(limited, pos, limits.max_header_line) {
            Ok(Some(found)) => found,
            Ok(None) => return need_more(),
            Err(LineError::TooLong) => {
                return Err(HeadError::HeaderLineTooLong {
                    limit: limits.max_header_line,
                });
            }
            Err(LineError::BareLineFeed) => return Err(HeadError::BareLineFeed),
        };
        pos = next;
        if line.is_empty() {
            return Ok(Some(RawHead {
                start_line,
                headers: Headers(headers),
                consumed: pos,
            }));
        }
        if headers.len() >= limits.max_headers {
            return Err(HeadError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        headers.push(parse_header_line(line)?);
    }
}

fn parse_header_line(line: &[u8]) -> Result<(String, Vec<u8>), HeadError> {
    // RFC 9112 §5.2 allows rejecting obs-fold; unfolding it would let the proxy and an origin
    // disagree about where a field ends.
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(HeadError::ObsoleteLineFolding);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::BadHeader("no ':' in field line"))?;
    let (name, value) = line.split_at(colon);
    let value = value.get(1..).unwrap_or_default();
    if name.is_empty() {
        return Err(HeadError::BadHeader("empty field name"));
    }
    // Whitespace before the colon must be rejected (RFC 9112 §5.1): it is a known smuggling
    // trick ("Transfer-Encoding : chunked") that some servers honour and others ignore.
    if !name.iter().copied().all(is_tchar) {
        return Err(HeadError::BadHeader("field name is not a token"));
    }
    let value = trim_ows(value);
    if !value
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
    {
        return Err(HeadError::BadHeader(
            "control character (such as NUL or CR) in field value",
        ));
    }
    Ok((
        String::from_utf8_lossy(name).to_ascii_lowercase(),
        value.to_vec(),
    ))
}
