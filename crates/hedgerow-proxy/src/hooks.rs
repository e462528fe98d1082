//! The proxy's phases, as the policy sees them.
//!
//! The server owns sockets, framing and timeouts; everything a school decides (who is asking,
//! whether they may, what they see when they may not, what is logged) happens in a
//! [`ProxyHooks`] implementation, called at fixed points of each exchange:
//!
//! 1. [`ProxyHooks::connect`] when a CONNECT head arrives, before anything is answered;
//! 2. [`ProxyHooks::tunnel`] once the first bytes inside an accepted tunnel (normally a TLS
//!    ClientHello) have been read: splice, inspect or close;
//! 3. [`ProxyHooks::request`] for every HTTP request, plain or inside an inspected tunnel;
//! 4. [`ProxyHooks::response`] when the origin's response head arrives;
//! 5. [`ProxyHooks::upstream_failed`] when the origin cannot be reached or fails TLS checks;
//! 6. [`ProxyHooks::finished`] once per exchange, with what was transferred (the log line).
//!
//! Requests addressed to the proxy itself (origin-form, or an absolute URL naming one of the
//! proxy's own names) go to [`ProxyHooks::local`] instead, with their body read.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hedgerow_proxy_wire::{ClientHello, Headers, HelloError, Host, ResponseHead, Scheme};

/// Who is on the other end of a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address as the proxy's socket sees it.
    pub addr: SocketAddr,
    /// The proxy's own address the client connected to.
    pub local: SocketAddr,
}

/// An HTTP request head, as the hooks see it.
#[derive(Debug)]
pub struct RequestInfo<'a> {
    pub client: Client,
    pub method: &'a str,
    pub scheme: Scheme,
    /// Where the request says it is going: the absolute URL's host for plain HTTP; the Host
    /// header (or the tunnel's host without one) inside an inspected tunnel.
    pub host: &'a Host,
    pub port: u16,
    pub path_and_query: &'a str,
    pub headers: &'a Headers,
    /// Inside an inspected tunnel: the tunnel's state, from [`ProxyHooks::connect`].
    pub tunnel: Option<&'a TunnelInfo>,
}

/// A CONNECT head, as the hooks see it.
#[derive(Debug)]
pub struct ConnectInfo<'a> {
    pub client: Client,
    pub host: &'a Host,
    pub port: u16,
    pub headers: &'a Headers,
}

/// What an inspected tunnel's requests know about the tunnel they travel in.
#[derive(Debug, Clone)]
pub struct TunnelInfo {
    /// The CONNECT host and port.
    pub host: Host,
    pub port: u16,
    /// The SNI the client sent, if any.
    pub sni: Option<String>,
    /// Set by the hooks at [`ProxyHooks::connect`]: the identity established for the tunnel
    /// (typically the authenticated user name), which the tunnel's requests inherit because
    /// they carry no Proxy-Authorization of their own.
    pub identity: Option<Arc<str>>,
}

/// A request for the proxy itself (PAC file, WPAD, block-page forms).
#[derive(Debug)]
pub struct LocalRequest<'a> {
    pub client: Client,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a Headers,
    /// The body, read whole (bounded by [`crate::ProxyConfig::max_local_body`]).
    pub body: &'a [u8],
}

/// A response the proxy makes itself: a block page, 407, an error, a PAC file.
#[derive(Debug, Clone)]
pub struct LocalResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this response (for example after a protocol error, when
    /// the rest of the stream cannot be trusted).
    pub close: bool,
}

impl LocalResponse {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> LocalResponse {
        LocalResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            close: false,
        }
    }

    /// A short plain-text response.
    pub fn text(status: u16, text: impl Into<String>) -> LocalResponse {
        let mut body = text.into();
        body.push('\n');
        LocalResponse::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> LocalResponse {
        // A value with CR or LF would split the head; such a value is dropped, not sent.
        let value = value.into();
        if !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            self.headers.push((name.into(), value));
        }
        self
    }

    pub fn closing(mut self) -> LocalResponse {
        self.close = true;
        self
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum RequestDecision<C> {
    /// Pass it on to the origin.
    Forward {
        ctx: C,
        /// A replacement path and query (safe-search parameters, for example).
        rewrite: Option<String>,
        /// Header fields to add (replacing any field of the same name the client sent).
        set_headers: Vec<(String, String)>,
    },
    /// Answer it here. `ctx`, when present, is passed to [`ProxyHooks::finished`].
    Respond {
        ctx: Option<C>,
        response: LocalResponse,
    },
}

/// What to do with a CONNECT request.
#[derive(Debug)]
pub enum ConnectDecision<C> {
    /// Answer 200 and read what the client sends first. `identity` is kept for the requests
    /// of an inspected tunnel (see [`TunnelInfo::identity`]).
    Accept { ctx: C, identity: Option<Arc<str>> },
    Respond {
        ctx: Option<C>,
        response: LocalResponse,
    },
}

/// What to do with an accepted tunnel once its first bytes are known.
#[derive(Debug)]
pub enum TunnelDecision {
    /// Connect to the origin and copy bytes both ways, unseen.
    Splice,
    /// Terminate TLS here with this configuration (a leaf certificate for the host) and
    /// handle the requests inside as HTTP.
    Inspect(Arc<rustls::ServerConfig>),
    /// Close the tunnel without connecting anywhere.
    Close,
}

/// What the tunnel's first bytes turned out to be.
#[derive(Debug)]
pub enum TunnelStart<'a> {
    /// A TLS ClientHello.
    Hello(&'a ClientHello),
    /// Bytes that are not a usable ClientHello.
    NotTls(&'a HelloError),
    /// The client sent nothing before the deadline, or closed its side.
    Silent,
}

/// What to do with an origin's response.
#[derive(Debug)]
pub enum ResponseDecision {
    /// Pass it to the client, stopping after `max_body` bytes of body if set (the
    /// connection is then closed, which the client sees as an incomplete download).
    ///
    /// With `read_title`, an uncompressed HTML body (`Content-Type: text/html` or XHTML, no
    /// `Content-Encoding` but `identity`) has its first bytes copied, as they are forwarded,
    /// into a bounded buffer to find its `<title>` for [`Summary::page_title`]. Other bodies
    /// are not copied at all, and the body is forwarded unchanged either way.
    Continue {
        max_body: Option<u64>,
        read_title: bool,
    },
    /// Drop it (and the origin connection) and answer with this instead.
    Replace(LocalResponse),
}

/// Why the origin could not be used.
#[derive(Debug)]
pub enum UpstreamFailure {
    /// The host name did not resolve.
    Resolve(std::io::Error),
    /// No address accepted a connection in time.
    Connect(std::io::Error),
    /// The origin's TLS certificate (or handshake) failed verification.
    Tls(std::io::Error),
    /// The origin (or parent proxy) sent something that is not a valid HTTP response, or
    /// closed the connection without answering.
    BadResponse(String),
    /// The origin did not answer in time.
    Timeout,
    /// The address is the proxy itself; forwarding would loop.
    Loop,
    /// The parent proxy refused the tunnel with this status.
    ParentRefused(u16),
}

impl std::fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamFailure::Resolve(e) => write!(f, "the site's name could not be found ({e})"),
            UpstreamFailure::Connect(e) => write!(f, "the site could not be reached ({e})"),
            UpstreamFailure::Tls(e) => write!(f, "the site's certificate was not accepted ({e})"),
            UpstreamFailure::BadResponse(e) => write!(f, "the site sent an invalid answer ({e})"),
            UpstreamFailure::Timeout => write!(f, "the site did not answer in time"),
            UpstreamFailure::Loop => write!(f, "the address is this proxy itself"),
            UpstreamFailure::ParentRefused(s) => {
                write!(f, "the parent proxy refused the connection (status {s})")
            }
        }
    }
}

/// What an exchange came to, for the log.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The status sent to the client (0 if none was: a tunnel closed, a client gone).
    pub status: u16,
    /// Body bytes from the client (request body, or tunnel bytes upstream).
    pub bytes_up: u64,
    /// Body bytes to the client (response body, or tunnel bytes downstream).
    pub bytes_down: u64,
    pub duration: Duration,
    /// What went wrong, if anything, in a few words.
    pub error: Option<String>,
    /// The tunnel was inspected (for CONNECT summaries).
    pub inspected: bool,
    /// The client gave up the TLS handshake with the school's certificate: an app that pins
    /// its certificates, or a device that does not trust the school CA.
    pub client_refused_certificate: bool,
    /// The page's title, when the hooks asked for it ([`ResponseDecision::Continue`]) and the
    /// response was an uncompressed HTML page with a title in its first 64 KiB.
    pub page_title: Option<String>,
}

/// The policy side of the proxy. See the module documentation for the order of calls.
pub trait ProxyHooks: Send + Sync + 'static {
    /// State carried from a decision to the log line.
    type Ctx: Send + 'static;

    fn request(
        &self,
        request: &RequestInfo<'_>,
    ) -> impl Future<Output = RequestDecision<Self::Ctx>> + Send;

    fn connect(
        &self,
        request: &ConnectInfo<'_>,
    ) -> impl Future<Output = ConnectDecision<Self::Ctx>> + Send;

    fn tunnel(
        &self,
        ctx: &mut Self::Ctx,
        tunnel: &TunnelInfo,
        start: TunnelStart<'_>,
    ) -> TunnelDecision;

    fn response(&self, ctx: &mut Self::Ctx, head: &ResponseHead) -> ResponseDecision;

    fn upstream_failed(&self, ctx: &mut Self::Ctx, failure: &UpstreamFailure) -> LocalResponse;

    fn local(&self, request: &LocalRequest<'_>) -> impl Future<Output = LocalResponse> + Send;

    fn finished(&self, ctx: Self::Ctx, summary: &Summary);
}
