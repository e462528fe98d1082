//! The TLS ClientHello at the start of a CONNECT tunnel (RFC 8446 §4.1.2, with RFC 6066
//! server_name, RFC 7301 ALPN and the encrypted_client_hello extension from the TLS ECH
//! draft), read only far enough to learn where the client says it is going.
//!
//! The hello may span several TLS records (large post-quantum key shares push it past one
//! 16 KiB record, and a client may fragment it on purpose to hide the SNI from filters), so
//! records are reassembled before the handshake message is read.

use crate::head::{Host, parse_host};

/// Largest ClientHello accepted. Real ones are under 2 KiB, or about 3 KiB with a hybrid
/// post-quantum key share; 64 KiB leaves room for growth and bounds what a client can make
/// the proxy hold.
pub const MAX_CLIENT_HELLO: usize = 64 * 1024;
/// RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes.
const MAX_RECORD: usize = 1 << 14;

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
/// encrypted_client_hello, draft-ietf-tls-esni (the codepoint browsers ship).
pub const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;

/// Which of the two ECH hellos this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchKind {
    /// The outer hello: the real one (with the real server name) is encrypted inside it,
    /// for the ECH config with this id. The outer SNI is the config's public name.
    Outer { config_id: u8 },
    /// An inner hello; a client never sends this in the clear.
    Inner,
}

/// What the proxy needs from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The host_name from server_name: a validated, lower-case DNS name.
    pub sni: Option<String>,
    /// ALPN protocol names in the client's order (non-UTF-8 bytes replaced).
    pub alpn: Vec<String>,
    /// The encrypted_client_hello extension is present.
    pub has_ech: bool,
    /// Which ECH hello was sent, when `has_ech`.
    pub ech: Option<EchKind>,
    /// An outer ECH hello: `sni`, if any, is only the ECH public name, and the name the
    /// client is really going to is encrypted. Browsers also send "GREASE" ECH that looks
    /// exactly like this whenever they have no ECH config, so this alone does not mean the
    /// SNI is unusable: compare `sni` with the CONNECT host ([`ClientHello::sni_matches`]).
    pub ech_outer_only: bool,
    /// The legacy_version field (0x0303 for TLS 1.2 and 1.3 hellos).
    pub legacy_version: u16,
    /// The supported_versions extension, in the client's order (empty without it).
    pub supported_versions: Vec<u16>,
}

impl ClientHello {
    /// Whether the SNI names `host` (as the proxy parsed it from CONNECT). With ECH, a
    /// mismatch means the SNI is a public name and the real destination is hidden.
    pub fn sni_matches(&self, host: &Host) -> bool {
        matches!((host, &self.sni), (Host::Name(name), Some(sni)) if name == sni)
    }

    /// True when the client offers ECH and its visible SNI is missing or is not the host it
    /// asked to CONNECT to: the proxy cannot see the destination and should treat the
    /// tunnel as unidentifiable.
    pub fn hides_destination(&self, connect_host: &Host) -> bool {
        self.ech_outer_only && !self.sni_matches(connect_host)
    }
}

/// Why the tunnel's first bytes are not a usable ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("TLS record of content type {0}, not handshake (22)")]
    NotHandshake(u8),
    #[error("record version {0:#06x} is not TLS")]
    NotTls(u16),
    #[error("TLS record length {0} is zero or over 16384")]
    BadRecordLength(usize),
    #[error("handshake message type {0}, not ClientHello (1)")]
    NotClientHello(u8),
    #[error("ClientHello of {0} bytes is over the {MAX_CLIENT_HELLO}-byte limit")]
    TooLarge(usize),
    #[error("ClientHello is truncated or has a bad length in {0}")]
    Truncated(&'static str),
    #[error("ClientHello has extension {0:#06x} more than once")]
    DuplicateExtension(u16),
    #[error("invalid server_name: {0}")]
    BadServerName(&'static str),
    #[error("invalid ALPN extension: {0}")]
    BadAlpn(&'static str),
    #[error("invalid supported_versions extension")]
    BadSupportedVersions,
    #[error("invalid encrypted_client_hello extension: {0}")]
    BadEch(&'static str),
}

/// Parses the ClientHello at the start of a tunnel. `Ok(None)` means the records so far
/// are fine but the hello is not complete: read more and call again with everything.
pub fn parse_client_hello(buf: &[u8]) -> Result<Option<ClientHello>, HelloError> {
    let mut message = Vec::new();
    let mut rest = buf;
    loop {
        // Checking the type and version as soon as they arrive lets the proxy reject
        // non-TLS traffic without waiting for a full record.
        if let Some(&content_type) = rest.first()
            && content_type != CONTENT_HANDSHAKE
        {
            return Err(HelloError::NotHandshake(content_type));
        }
        if let Some(&major) = rest.get(1)
            && major != 3
        {
            return Err(HelloError::NotTls(
                u16::from(major) << 8 | u16::from(rest.get(2).copied().unwrap_or(0)),
            ));
        }
        let Some(&[_, _, _, hi, lo]) = rest.get(..5) else {
            return Ok(None);
        };
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        if length == 0 || length > MAX_RECORD {
            return Err(HelloError::BadRecordLength(length));
        }
        let Some(fragment) = rest.get(5..5 + length) else {
            return Ok(None);
        };
        rest = rest.get(5 + length..).unwrap_or_default();
        message.extend_from_slice(fragment);

        if let Some(&msg_type) = message.first()
            && msg_type != HANDSHAKE_CLIENT_HELLO
        {
            return Err(HelloError::NotClientHello(msg_type));
        }
        let Some(&[_, a, b, c]) = message.get(..4) else {
            continue;
        };
        let body_len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        if body_len > MAX_CLIENT_HELLO {
            return Err(HelloError::TooLarge(body_len));
        }
        if let Some(body) = message.get(4..4 + body_len) {
            return parse_body(body).map(Some);
        }
    }
}

/// A bounds-checked cursor: every read returns `Truncated` naming the field rather than
/// indexing past the end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        if n > self.bytes.len() {
            return Err(HelloError::Truncated(what));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        match self.take(2, what)? {
            &[hi, lo] => Ok(u16::from_be_bytes([hi, lo])),
            _ => Err(HelloError::Truncated(what)),
        }
    }

    /// A vector with a one-byte length prefix.
    fn vec8(&mut self, what: &'static str) -> Result<Reader<'a>, HelloError> {
        let n = self.u8(what)?;
        Ok(Reader {
            bytes: self.take(usize::from(n), what)?,
        })
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self, what: &'static str) -> Result<Reader<'a>, HelloError> {
        let n = self.u16(what)?;
        Ok(Reader {
            bytes: self.take(usize::from(n), what)?,
        })
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

fn parse_body(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut r = Reader { bytes: body };
    let legacy_version = r.u16("legacy_version")?;
    r.take(32, "random")?;
    let session_id = r.vec8("legacy_session_id")?;
    if session_id.bytes.len() > 32 {
        return Err(HelloError::Truncated("legacy_session_id"));
    }
    let suites = r.vec16("cipher_suites")?;
    if suites.bytes.is_empty() || suites.bytes.len() % 2 != 0 {
        return Err(HelloError::Truncated("cipher_suites"));
    }
    if r.vec8("legacy_compression_methods")?.is_empty() {
        return Err(HelloError::Truncated("legacy_compression_methods"));
    }
    let mut hello = ClientHello {
        sni: None,
        alpn: Vec::new(),
        has_ech: false,
        ech: None,
        ech_outer_only: false,
        legacy_version,
        supported_versions: Vec::new(),
    };
    // Pre-TLS-1.2 clients may end the hello here, with no extensions block at all.
    if r.is_empty() {
        return Ok(hello);
    }
    let mut extensions = r.vec16("extensions")?;
    if !r.is_empty() {
        return Err(HelloError::Truncated("extensions (bytes after the block)"));
    }
    let mut seen = Vec::new();
    while !extensions.is_empty() {
        let kind = extensions.u16("extension type")?;
        let data = extensions.vec16("extension data")?;
        // RFC 8446 §4.2 forbids repeats; a filter reading the first server_name while the
        // server reads the last would be an easy bypass.
        if seen.contains(&kind) {
            return Err(HelloError::DuplicateExtension(kind));
        }
        seen.push(kind);
        match kind {
            EXT_SERVER_NAME => hello.sni = parse_server_name(data)?,
            EXT_ALPN => hello.alpn = parse_alpn(data)?,
            EXT_SUPPORTED_VERSIONS => hello.supported_versions = parse_supported_versions(data)?,
            EXT_ENCRYPTED_CLIENT_HELLO => {
                let kind = parse_ech(data)?;
                hello.has_ech = true;
                hello.ech = Some(kind);
                hello.ech_outer_only = matches!(kind, EchKind::Outer { .. });
            }
            _ => {}
        }
    }
    Ok(hello)
}

fn parse_server_name(mut data: Reader<'_>) -> Result<Option<String>, HelloError> {
    let mut list = data.vec16("server_name_list")?;
    if !data.is_empty() || list.is_empty() {
        return Err(HelloError::BadServerName(
            "list length does not match the extension",
        ));
    }
    let mut host_name = None;
    while !list.is_empty() {
        let name_type = list.u8("server_name type")?;
        let name = list.vec16("server_name")?.bytes;
        // RFC 6066 §3: only host_name (0) is defined, and at most one name of each type.
        if name_type != 0 {
            continue;
        }
        if host_name.is_some() {
            return Err(HelloError::BadServerName("more than one host_name"));
        }
        // RFC 6066 §3: no trailing dot, and never an IP address literal.
        if name.last() == Some(&b'.') {
            return Err(HelloError::BadServerName("trailing dot"));
        }
        match parse_host(name).map_err(HelloError::BadServerName)? {
            Host::Name(name) => host_name = Some(name),
            Host::Ipv4(_) | Host::Ipv6(_) => {
                return Err(HelloError::BadServerName("IP address literal"));
            }
        }
    }
    Ok(host_name)
}

fn parse_alpn(mut data: Reader<'_>) -> Result<Vec<String>, HelloError> {
    let mut list = data.vec16("ALPN list")?;
    if !data.is_empty() || list.is_empty() {
        return Err(HelloError::BadAlpn(
            "list length does not match the extension",
        ));
    }
    let mut protocols = Vec::new();
    while !list.is_empty() {
        let name = list.vec8("ALPN protocol")?.bytes;
        if name.is_empty() {
            return Err(HelloError::BadAlpn("empty protocol name"));
        }
        protocols.push(String::from_utf8_lossy(name).into_owned());
    }
    Ok(protocols)
}

fn parse_supported_versions(mut data: Reader<'_>) -> Result<Vec<u16>, HelloError> {
    let mut list = data.vec8("supported_versions")?;
    if !data.is_empty() || list.is_empty() || list.bytes.len() % 2 != 0 {
        return Err(HelloError::BadSupportedVersions);
    }
    let mut versions = Vec::new();
    while !list.is_empty() {
        versions.push(list.u16("supported_versions")?);
    }
    Ok(versions)
}

fn parse_ech(mut data: Reader<'_>) -> Result<EchKind, HelloError> {
    let kind = match data.u8("ECH type")? {
        0 => {
            // HpkeSymmetricCipherSuite (KDF and AEAD ids), config_id, enc, payload.
            data.take(4, "ECH cipher suite")?;
            let config_id = data.u8("ECH config_id")?;
            data.vec16("ECH enc")?;
            if data.vec16("ECH payload")?.is_empty() {
                return Err(HelloError::BadEch("empty payload"));
            }
            EchKind::Outer { config_id }
        }
        1 => EchKind::Inner,
        _ => return Err(HelloError::BadEch("unknown ECH type")),
    };
    if !data.is_empty() {
        return Err(HelloError::BadEch("bytes after the ECH fields"));
    }
    Ok(kind)
}
