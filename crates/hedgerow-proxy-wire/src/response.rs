//! HTTP/1.1 response heads from origin servers, read with the same limits and field rules
//! as requests, so an origin cannot smuggle a second response past the proxy either.

use crate::head::{self, BodyFraming, HeadError, Headers, Limits, Version};

/// Alias kept for readers looking for the response side of [`BodyFraming`].
pub type ResponseBody = BodyFraming;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub version: Version,
    pub status: u16,
    /// The reason phrase, raw: it may hold obs-text and means nothing to the proxy.
    pub reason: Vec<u8>,
    pub headers: Headers,
}

/// Parses a response head with the default [`Limits`].
pub fn parse_response_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    parse_response_head_with(buf, &Limits::default())
}

/// Parses the response head at the start of `buf`; `Ok(None)` means read more and retry.
pub fn parse_response_head_with(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let Some(raw) = head::split_head(buf, limits)? else {
        return Ok(None);
    };
    let line = raw.start_line;
    let version = head::parse_version(line.get(..8).unwrap_or(line))?;
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]; some servers leave
    // out the second SP when there is no reason, which is harmless to accept.
    let (status, reason) = match line.get(8..) {
        Some([b' ', a, b, c, rest @ ..]) if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            let reason = match rest {
                [] => &[][..],
                [b' ', reason @ ..] => reason,
                _ => return Err(HeadError::BadStartLine("status code is not three digits")),
            };
            (
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
                reason,
            )
        }
        _ => {
            return Err(HeadError::BadStartLine(
                "status line is not VERSION SP STATUS SP REASON",
            ));
        }
    };
    if !(100..=599).contains(&status) {
        return Err(HeadError::BadStartLine("status code outside 100 to 599"));
    }
    if !reason
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
    {
        return Err(HeadError::BadStartLine(
            "control character in reason phrase",
        ));
    }
    let response = ResponseHead {
        version,
        status,
        reason: reason.to_vec(),
        headers: raw.headers,
    };
    Ok(Some((response, raw.consumed)))
}

impl ResponseHead {
    /// The first value of the named header field (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }

    pub fn content_length(&self) -> Result<Option<u64>, HeadError> {
        self.headers.content_length()
    }

    /// How the body is delimited (RFC 9112 §6.3). `request_method` is the method of the
    /// request this answers: a response to HEAD never has a body, whatever it says.
    pub fn body(&self, request_method: &str) -> Result<BodyFraming, HeadError> {
        if request_method == "HEAD"
            || (100..200).contains(&self.status)
            || matches!(self.status, 204 | 304)
        {
            return Ok(BodyFraming::Empty);
        }
        // Unlike a request, a response may end its codings with something other than
        // chunked; then only closing the connection marks the end.
        match self.headers.transfer_encoding_framing(self.version)? {
            Some(true) => return Ok(BodyFraming::Chunked),
            Some(false) => return Ok(BodyFraming::CloseDelimited),
            None => {}
        }
        Ok(match self.content_length()? {
            Some(0) => BodyFraming::Empty,
            Some(n) => BodyFraming::Length(n),
            None => BodyFraming::CloseDelimited,
        })
    }

    /// Whether the origin will keep the connection open after this response.
    pub fn keep_alive(&self) -> bool {
        self.headers.keep_alive(self.version, None)
    }

    /// Lower-case names of the fields to strip before forwarding to the client.
    pub fn hop_by_hop_headers(&self) -> Vec<String> {
        self.headers.hop_by_hop()
    }

    /// Writes the head back out as wire bytes.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{} {:03} ", self.version.as_str(), self.status).as_bytes());
        out.extend_from_slice(&self.reason);
        out.extend_from_slice(b"\r\n");
        self.headers.write_to(out);
        out.extend_from_slice(b"\r\n");
    }
}
