//! HTTP/1.1 request heads as a forward proxy receives them: absolute-form targets for plain
//! HTTP, authority-form targets for CONNECT, and origin-form targets for requests addressed
//! to the proxy itself (PAC and WPAD files, the block page).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::head::{self, BodyFraming, HeadError, Headers, Host, Limits, Version, is_tchar};

/// The scheme of an absolute-form target. `https` appears when a client asks the proxy to
/// fetch an https URL itself rather than through CONNECT (rare, but some tools do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Where a request is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestTarget {
    /// `GET http://host[:port]/path?query`; the port is the scheme's default when absent,
    /// and the path is `/` when the URL has none.
    Absolute {
        scheme: Scheme,
        host: Host,
        port: u16,
        path_and_query: String,
    },
    /// `CONNECT host:port`; the port is required.
    Authority { host: Host, port: u16 },
    /// `GET /path?query`: a request for the proxy itself.
    Origin(String),
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method as sent (methods are case-sensitive; `get` is not `GET`).
    pub method: String,
    pub target: RequestTarget,
    pub version: Version,
    pub headers: Headers,
}

/// Why Proxy-Authorization could not be read as Basic credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Proxy-Authorization uses a scheme other than Basic")]
    NotBasic,
    #[error("more than one Proxy-Authorization field")]
    Duplicate,
    #[error("Basic credentials are not valid base64")]
    BadBase64,
    #[error("Basic credentials are not UTF-8")]
    NotUtf8,
    #[error("Basic credentials have no ':' between user and password")]
    NoColon,
    #[error("Basic credentials contain a control character")]
    ControlCharacter,
}

/// Parses a request head with the default [`Limits`]. See [`parse_request_head_with`].
pub fn parse_request_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    parse_request_head_with(buf, &Limits::default())
}

/// Parses the request head at the start of `buf`. `Ok(None)` means the head is not complete
/// yet: read more and call again with everything so far. On success the `usize` is the
/// number of bytes the head took; the body (if any) starts there.
pub fn parse_request_head_with(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let Some(raw) = head::split_head(buf, limits)? else {
        return Ok(None);
    };
    let mut parts = raw.start_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::BadStartLine(
            "request line is not METHOD SP TARGET SP VERSION",
        ));
    };
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        return Err(HeadError::BadStartLine("method is not a token"));
    }
    let version = head::parse_version(version)?;
    let method = String::from_utf8_lossy(method).into_owned();
    let target = parse_target(&method, target)?;
    let request = RequestHead {
        method,
        target,
        version,
        headers: raw.headers,
    };
    // A Host field is required in HTTP/1.1 (RFC 9112 §3.2) and more than one is a known
    // way to make a proxy and an origin disagree about the destination.
    match request.headers.get_all("host").count() {
        0 if version == Version::Http11
            && !matches!(request.target, RequestTarget::Authority { .. }) =>
        {
            return Err(HeadError::BadHeader("HTTP/1.1 request without Host"));
        }
        0 | 1 => {}
        _ => return Err(HeadError::BadHeader("more than one Host field")),
    }
    Ok(Some((request, raw.consumed)))
}

fn parse_target(method: &str, target: &[u8]) -> Result<RequestTarget, HeadError> {
    if target.is_empty() {
        return Err(HeadError::BadTarget("empty"));
    }
    if method == "CONNECT" {
        return match head::parse_authority(target).map_err(HeadError::BadConnectTarget)? {
            (host, Some(port)) => Ok(RequestTarget::Authority { host, port }),
            (_, None) => Err(HeadError::BadConnectTarget("no port")),
        };
    }
    if target.first() == Some(&b'/') {
        return Ok(RequestTarget::Origin(path_and_query(target)?));
    }
    let (scheme, rest) = if let Some(rest) = strip_prefix_ignore_case(target, b"http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(target, b"https://") {
        (Scheme::Https, rest)
    } else {
        return Err(HeadError::BadTarget(
            "not an http or https URL, a path, or a CONNECT authority",
        ));
    };
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // Credentials in the URL are refused rather than stripped: `http://allowed.example@evil/`
    // is a classic way to make a filter and a human read different hosts.
    if authority.contains(&b'@') {
        return Err(HeadError::BadTarget("user information in URL"));
    }
    let (host, port) = head::parse_authority(authority).map_err(HeadError::BadTarget)?;
    let path_and_query = match path {
        [] | [b'#', ..] => "/".to_owned(),
        [b'?', ..] => format!("/{}", path_and_query(path)?),
        _ => path_and_query(path)?,
    };
    Ok(RequestTarget::Absolute {
        scheme,
        port: port.unwrap_or(scheme.default_port()),
        host,
        path_and_query,
    })
}

fn path_and_query(bytes: &[u8]) -> Result<String, HeadError> {
    // A fragment never reaches a server, and browsers never send one; some tools do. It is
    // dropped here (as the origin would ignore it), so every later step sees the URL the
    // origin would serve. Everything else must be percent-encoded (RFC 3986).
    let bytes = bytes.split(|&b| b == b'#').next().unwrap_or_default();
    if !bytes.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(HeadError::BadTarget(
            "byte outside visible ASCII in request target",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

fn strip_prefix_ignore_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = bytes.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| bytes.get(prefix.len()..).unwrap_or_default())
}

impl RequestHead {
    /// The first value of the named header field (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }

    /// The Content-Length, refusing repeats that disagree.
    pub fn content_length(&self) -> Result<Option<u64>, HeadError> {
        self.headers.content_length()
    }

    /// Whether the body is chunked. Errors when Transfer-Encoding is present but unusable:
    /// next to Content-Length, in HTTP/1.0, with chunked not last (the length of such a
    /// request cannot be known, RFC 9112 §6.3), or with any coding but chunked (501).
    pub fn is_chunked(&self) -> Result<bool, HeadError> {
        let Some(chunked) = self.headers.transfer_encoding_framing(self.version)? else {
            return Ok(false);
        };
        if !chunked {
            return Err(HeadError::BadTransferEncoding(
                "chunked is not the final coding",
            ));
        }
        if self
            .headers
            .transfer_codings()?
            .is_some_and(|c| c.len() > 1)
        {
            return Err(HeadError::BadTransferEncoding("unknown transfer coding"));
        }
        Ok(true)
    }

    /// How the request body is delimited; requests without either field have no body.
    pub fn body(&self) -> Result<BodyFraming, HeadError> {
        if self.is_chunked()? {
            return Ok(BodyFraming::Chunked);
        }
        Ok(match self.content_length()? {
            None | Some(0) => BodyFraming::Empty,
            Some(n) => BodyFraming::Length(n),
        })
    }

    /// Whether the client wants the connection kept open after this request. Old clients
    /// say so in Proxy-Connection, which is honoured like Connection.
    pub fn keep_alive(&self) -> bool {
        self.headers
            .keep_alive(self.version, Some("proxy-connection"))
    }

    /// Lower-case names of the fields to strip before forwarding.
    pub fn hop_by_hop_headers(&self) -> Vec<String> {
        self.headers.hop_by_hop()
    }

    /// The user name and password from `Proxy-Authorization: Basic ...` (RFC 7617), or
    /// `None` when the client sent no Proxy-Authorization.
    pub fn proxy_basic_credentials(&self) -> Option<Result<(String, String), AuthError>> {
        let mut values = self.headers.get_all("proxy-authorization");
        let value = values.next()?;
        if values.next().is_some() {
            return Some(Err(AuthError::Duplicate));
        }
        Some(decode_basic(value))
    }

    /// Writes the head back out as HTTP/1.1 wire bytes, fields unchanged and in order.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        match &self.target {
            RequestTarget::Absolute {
                scheme,
                host,
                port,
                path_and_query,
            } => {
                out.extend_from_slice(
                    format!("{}://{host}:{port}{path_and_query}", scheme.as_str()).as_bytes(),
                );
            }
            RequestTarget::Authority { host, port } => {
                out.extend_from_slice(format!("{host}:{port}").as_bytes())
            }
            RequestTarget::Origin(path) => out.extend_from_slice(path.as_bytes()),
        }
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        self.headers.write_to(out);
        out.extend_from_slice(b"\r\n");
    }
}

fn decode_basic(value: &[u8]) -> Result<(String, String), AuthError> {
    let space = value
        .iter()
        .position(|&b| b == b' ')
        .ok_or(AuthError::NotBasic)?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(AuthError::NotBasic);
    }
    // Some clients leave off the padding; accepting either costs nothing.
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let decoded = engine
        .decode(head::trim_ows(rest))
        .map_err(|_| AuthError::BadBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthError::NotUtf8)?;
    // RFC 7617 forbids control characters in both parts; they would also corrupt logs.
    if text.chars().any(char::is_control) {
        return Err(AuthError::ControlCharacter);
    }
    let (user, password) = text.split_once(':').ok_or(AuthError::NoColon)?;
    Ok((user.to_owned(), password.to_owned()))
}
