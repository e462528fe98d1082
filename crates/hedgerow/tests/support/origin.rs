//! Local stand-ins for the internet, for the web proxy's tests: a test origin (HTTP and HTTPS,
//! with its own test CA that mints a certificate for whatever name a client asks for), a parent
//! proxy stand-in, and a hosts-file writer. Both servers record every request they see.
//!
//! Each server runs on its own small tokio runtime, so tests may be plain `#[test]` functions or
//! `#[tokio::test]`s; dropping the server stops it.
//!
//! The origin answers by path (`{host}` is the Host header without its port, HTML-escaped):
//!
//! | path | answer |
//! |---|---|
//! | `/search?q=Q` | 200 text/html titled `Results for Q` (GET query, or a POSTed form body) |
//! | `/files/setup.exe` | 200 application/octet-stream, `Content-Disposition: attachment; filename="setup.exe"`, body starts `MZ` |
//! | `/files/notes.txt` | 200 text/plain |
//! | `/chunked` | 200 text/html sent with `Transfer-Encoding: chunked`, titled `Chunked {host}` |
//! | `/big?bytes=N` | 200 application/octet-stream, N bytes of `x` |
//! | `/form` (`?method=post`) | a search form: `<input id="q" name="q">`, `<button id="go">`, posting to `/search` |
//! | `/status/N` | status N with a small text/plain body |
//! | `/redirect?to=URL` | 302 to URL |
//! | anything else | 200 text/html `<html><head><title>Origin {host}</title></head><body>origin page for {host}{path}</body></html>` |
//!
//! Fixed pages set with [`TestOrigin::serve_fixed`] answer their exact path first, with the
//! status, headers and body given (bytes as they are: a body labelled gzip is sent unchanged).
//!
//! HTTP/1.1 with keep-alive (HTTP/1.0 closes unless asked), Content-Length and chunked request
//! bodies, HEAD. A request it cannot parse gets a 400 and the connection is closed.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// The most a request head may take; more is answered 431 and the connection closed.
const MAX_HEAD: usize = 64 * 1024;
/// The most a request body may take.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One request as a test server saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `http` or `https` at the origin; `proxy` at the parent proxy stand-in.
    pub scheme: &'static str,
    /// The TLS server name the client sent (HTTPS only).
    pub sni: Option<String>,
    /// The client's address (the proxy's, when a proxy forwarded the request).
    pub peer: SocketAddr,
    pub method: String,
    /// The request target as sent: path and query at the origin; an absolute URL or, for
    /// CONNECT, `host:port` at the parent proxy.
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// The Host header as sent (with its port, if any).
    pub host: Option<String>,
    /// Every header in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Which request this was on its connection (0 for the first): keep-alive shows as > 0.
    pub on_connection: usize,
}

impl RecordedRequest {
    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header of this name (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        form_value(query, name)
    }

    /// The Host header without its port.
    pub fn host_name(&self) -> Option<&str> {
        self.host.as_deref().map(strip_port)
    }
}

/// What a test server has seen, shared with the test.
#[derive(Default)]
struct Record {
    requests: Mutex<Vec<RecordedRequest>>,
    connections: Mutex<usize>,
    tls_failures: Mutex<Vec<String>>,
    /// Pages served as given, by exact path (query excluded).
    fixed: Mutex<HashMap<String, FixedPage>>,
}

/// A page the origin serves exactly as given (see [`TestOrigin::serve_fixed`]).
#[derive(Clone, Debug)]
pub struct FixedPage {
    pub status: u16,
    pub content_type: String,
    /// Further header fields, such as `Content-Encoding`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl FixedPage {
    /// A 200 `text/html; charset=utf-8` page with this body.
    pub fn html(body: impl Into<Vec<u8>>) -> FixedPage {
        FixedPage {
            status: 200,
            content_type: "text/html; charset=utf-8".into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

impl Record {
    fn push(&self, request: RecordedRequest) {
        self.requests.lock().unwrap().push(request);
    }
}

/// A test certificate authority: a self-signed ECDSA P-256 CA that issues short-lived server
/// certificates (valid from yesterday for 30 days, as browsers require) for any names.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    pub fn new(common_name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Hedgerow tests");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, 2, 3650);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// A server certificate for these names (DNS names or IP addresses) and its key.
    pub fn issue(&self, names: &[String]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let mut params = CertificateParams::new(names.to_vec()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or("test origin", String::as_str),
        );
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, 1, 30);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key_der)
    }

    /// A server certificate for these names, ready for rustls.
    pub fn certified_key(&self, names: &[String]) -> Arc<CertifiedKey> {
        let (cert, key) = self.issue(names);
        let key = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
        Arc::new(CertifiedKey::new(vec![cert], key))
    }

    /// A rustls client configuration that trusts only this CA.
    pub fn client_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
    }
}

/// Valid from `days_back` days ago to `days_ahead` days ahead, at midnight UTC.
fn set_validity(params: &mut CertificateParams, days_back: i64, days_ahead: i64) {
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 86_400;
    let date = |days: i64| {
        let (y, m, d) = civil_from_days(days);
        rcgen::date_time_ymd(y, m, d)
    };
    params.not_before = date(today - days_back);
    params.not_after = date(today + days_ahead);
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as i32, m as u8, d as u8)
}

/// Serves a certificate for whatever name the client asks for: the names given at start share
/// one certificate; any other name (when allowed) gets its own, minted on first use.
#[derive(Debug)]
struct MintingResolver {
    ca: Arc<TestCa>,
    /// Used when the client sends no SNI (it connected to an address).
    no_sni: Arc<CertifiedKey>,
    known: HashMap<String, Arc<CertifiedKey>>,
    any_name: bool,
    minted: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for MintingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.no_sni.clone());
        };
        let name = name.to_ascii_lowercase();
        if let Some(key) = self.known.get(&name) {
            return Some(key.clone());
        }
        if !self.any_name {
            // A certificate for other names only: the client sees a name mismatch.
            return Some(self.no_sni.clone());
        }
        let mut minted = self.minted.lock().unwrap();
        Some(
            minted
                .entry(name.clone())
                .or_insert_with(|| self.ca.certified_key(&[name]))
                .clone(),
        )
    }
}

/// How to start a [`TestOrigin`].
#[derive(Clone, Debug)]
pub struct OriginOptions {
    pub bind_ip: Ipv4Addr,
    /// 0 picks a free port.
    pub http_port: u16,
    /// 0 picks a free port.
    pub https_port: u16,
    /// Names the first certificate covers (with the bind address).
    pub names: Vec<String>,
    /// Mint a certificate for any other SNI name too (default). When false, other names get
    /// the first certificate, whose names do not match.
    pub any_name: bool,
}

impl OriginOptions {
    pub fn new(bind_ip: Ipv4Addr) -> OriginOptions {
        OriginOptions {
            bind_ip,
            http_port: 0,
            https_port: 0,
            names: Vec::new(),
            any_name: true,
        }
    }
}

/// A local web origin on HTTP and HTTPS that records every request.
pub struct TestOrigin {
    runtime: Option<Runtime>,
    http: SocketAddr,
    https: SocketAddr,
    ca: Arc<TestCa>,
    ca_pem: tempfile::TempPath,
    record: Arc<Record>,
}

impl TestOrigin {
    /// HTTP and HTTPS on free ports of `bind_ip` (any loopback address, such as 127.0.0.60).
    pub fn start(bind_ip: Ipv4Addr) -> TestOrigin {
        TestOrigin::start_with(OriginOptions::new(bind_ip))
    }

    /// As [`start`](Self::start), with one certificate covering these names up front (other
    /// names still get one minted on first use).
    pub fn start_with_names(bind_ip: Ipv4Addr, names: &[&str]) -> TestOrigin {
        let mut options = OriginOptions::new(bind_ip);
        options.names = names.iter().map(|n| n.to_string()).collect();
        TestOrigin::start_with(options)
    }

    pub fn start_with(options: OriginOptions) -> TestOrigin {
        let ca = Arc::new(TestCa::new("Hedgerow test origin CA"));
        let mut ca_file = tempfile::Builder::new()
            .prefix("hedgerow-origin-ca-")
            .suffix(".pem")
            .tempfile()
            .unwrap();
        ca_file.write_all(ca.pem().as_bytes()).unwrap();
        let ca_pem = ca_file.into_temp_path();

        let mut first_names: Vec<String> = options.names.clone();
        first_names.push(options.bind_ip.to_string());
        let first = ca.certified_key(&first_names);
        let known = options
            .names
            .iter()
            .map(|n| (n.to_ascii_lowercase(), first.clone()))
            .collect();
        let resolver = MintingResolver {
            ca: ca.clone(),
            no_sni: first,
            known,
            any_name: options.any_name,
            minted: Mutex::new(HashMap::new()),
        };
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let runtime = small_runtime("test-origin");
        let record = Arc::new(Record::default());
        let http_std = bind(options.bind_ip, options.http_port);
        let https_std = bind(options.bind_ip, options.https_port);
        let http = http_std.local_addr().unwrap();
        let https = https_std.local_addr().unwrap();
        {
            let _guard = runtime.enter();
            let http_listener = TcpListener::from_std(http_std).unwrap();
            let https_listener = TcpListener::from_std(https_std).unwrap();
            let rec = record.clone();
            runtime.spawn(async move {
                while let Ok((stream, peer)) = http_listener.accept().await {
                    *rec.connections.lock().unwrap() += 1;
                    let rec = rec.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        serve_origin(stream, peer, "http", None, rec).await;
                    });
                }
            });
            let rec = record.clone();
            runtime.spawn(async move {
                while let Ok((stream, peer)) = https_listener.accept().await {
                    *rec.connections.lock().unwrap() += 1;
                    let rec = rec.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        let handshake =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                                .await;
                        match handshake {
                            Ok(Ok(tls)) => {
                                let sni = tls.get_ref().1.server_name().map(str::to_string);
                                serve_origin(tls, peer, "https", sni, rec).await;
                            }
                            Ok(Err(e)) => rec.tls_failures.lock().unwrap().push(e.to_string()),
                            Err(_) => rec
                                .tls_failures
                                .lock()
                                .unwrap()
                                .push("handshake timed out".into()),
                        }
                    });
                }
            });
        }
        TestOrigin {
            runtime: Some(runtime),
            http,
            https,
            ca,
            ca_pem,
            record,
        }
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.https
    }

    pub fn ip(&self) -> IpAddr {
        self.http.ip()
    }

    /// The test CA's certificate (PEM file), for a client to trust.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem
    }

    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// Serves `page` at `path` (exactly, any query) from now on, on HTTP and HTTPS.
    pub fn serve_fixed(&self, path: &str, page: FixedPage) {
        self.record
            .fixed
            .lock()
            .unwrap()
            .insert(path.to_string(), page);
    }

    /// Every request so far, in the order they were read.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.record.requests.lock().unwrap().clone()
    }

    /// The requests so far whose Host (without port) is `host`.
    pub fn requests_for(&self, host: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.host_name().is_some_and(|h| h.eq_ignore_ascii_case(host)))
            .collect()
    }

    pub fn clear_requests(&self) {
        self.record.requests.lock().unwrap().clear();
    }

    /// Waits (up to `timeout`) until at least `n` requests were recorded; returns them all.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        wait_for_records(&self.record, n, timeout)
    }

    /// TCP connections accepted so far (both ports).
    pub fn connections(&self) -> usize {
        *self.record.connections.lock().unwrap()
    }

    /// TLS handshakes that failed (a client that did not trust the certificate aborts one).
    pub fn tls_failures(&self) -> Vec<String> {
        self.record.tls_failures.lock().unwrap().clone()
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the parent proxy stand-in does with a CONNECT after answering `200`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectMode {
    /// Echo every byte back until the client closes.
    Echo,
    /// Close the connection at once.
    Close,
    /// Tunnel to this address whatever the CONNECT named (e.g. a [`TestOrigin`]'s HTTPS port).
    Tunnel(SocketAddr),
}

/// A parent proxy stand-in: answers every absolute-form request `200` with a page naming the
/// method and URL (`<title>Parent {url}</title>`, header `X-Test-Parent: 1`), answers every
/// CONNECT `200 Connection established` and then does what its [`ConnectMode`] says, and records
/// all of it.
pub struct TestParentProxy {
    runtime: Option<Runtime>,
    addr: SocketAddr,
    record: Arc<Record>,
}

impl TestParentProxy {
    /// On a free port of 127.0.0.1, echoing CONNECT tunnels.
    pub fn start() -> TestParentProxy {
        TestParentProxy::start_with(Ipv4Addr::LOCALHOST, ConnectMode::Echo)
    }

    pub fn start_with(bind_ip: Ipv4Addr, mode: ConnectMode) -> TestParentProxy {
        let runtime = small_runtime("test-parent");
        let record = Arc::new(Record::default());
        let listener = bind(bind_ip, 0);
        let addr = listener.local_addr().unwrap();
        {
            let _guard = runtime.enter();
            let listener = TcpListener::from_std(listener).unwrap();
            let rec = record.clone();
            runtime.spawn(async move {
                while let Ok((stream, peer)) = listener.accept().await {
                    *rec.connections.lock().unwrap() += 1;
                    let rec = rec.clone();
                    tokio::spawn(async move {
                        let _ = stream.set_nodelay(true);
                        serve_parent(stream, peer, mode, rec).await;
                    });
                }
            });
        }
        TestParentProxy {
            runtime: Some(runtime),
            addr,
            record,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.record.requests.lock().unwrap().clone()
    }

    pub fn clear_requests(&self) {
        self.record.requests.lock().unwrap().clear();
    }

    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        wait_for_records(&self.record, n, timeout)
    }

    pub fn connections(&self) -> usize {
        *self.record.connections.lock().unwrap()
    }
}

impl Drop for TestParentProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Writes an /etc/hosts-format file with these entries; deleted when the handle is dropped.
pub fn hosts_file(entries: &[(&str, IpAddr)]) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("hedgerow-hosts-")
        .tempfile()
        .unwrap();
    let mut text = String::from("# written by the Hedgerow tests\n");
    for (name, ip) in entries {
        text.push_str(&format!("{ip}\t{name}\n"));
    }
    file.write_all(text.as_bytes()).unwrap();
    file.flush().unwrap();
    file
}

fn wait_for_records(record: &Record, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
    let deadline = Instant::now() + timeout;
    loop {
        let requests = record.requests.lock().unwrap().clone();
        if requests.len() >= n || Instant::now() >= deadline {
            return requests;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn small_runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

fn bind(ip: Ipv4Addr, port: u16) -> StdTcpListener {
    let listener = StdTcpListener::bind((ip, port))
        .unwrap_or_else(|e| panic!("test server cannot listen on {ip}:{port}: {e}"));
    listener.set_nonblocking(true).unwrap();
    listener
}

// ---- HTTP/1.1, just enough and strict enough for tests --------------------------------------

struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            return false;
        }
        self.version == "HTTP/1.1" || self.has_token("connection", "keep-alive")
    }
}

enum ReadError {
    /// The client closed between requests.
    Closed,
    /// Answer with this status and close.
    Bad(u16, &'static str),
    Io,
}

/// A connection with a read buffer.
struct Conn<S> {
    io: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn fill(&mut self) -> Result<usize, ReadError> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.io.read(&mut chunk).await.map_err(|_| ReadError::Io)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn read_head(&mut self) -> Result<Head, ReadError> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return parse_head(&head[..end]);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(431, "Request Header Fields Too Large"));
            }
            if self.fill().await? == 0 {
                return Err(if self.buf.is_empty() {
                    ReadError::Closed
                } else {
                    ReadError::Io
                });
            }
        }
    }

    async fn read_exact_buf(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(ReadError::Io);
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn read_line(&mut self) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                return Ok(line[..end].to_vec());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad(400, "Bad Request"));
            }
            if self.fill().await? == 0 {
                return Err(ReadError::Io);
            }
        }
    }

    async fn read_body(&mut self, head: &Head) -> Result<Vec<u8>, ReadError> {
        let chunked = head.has_token("transfer-encoding", "chunked");
        let length = head.header("content-length");
        if chunked && length.is_some() {
            return Err(ReadError::Bad(400, "Bad Request"));
        }
        if chunked {
            let mut body = Vec::new();
            loop {
                let line = self.read_line().await?;
                let size = std::str::from_utf8(&line)
                    .ok()
                    .map(|l| l.split(';').next().unwrap_or("").trim())
                    .and_then(|s| usize::from_str_radix(s, 16).ok())
                    .ok_or(ReadError::Bad(400, "Bad Request"))?;
                if size == 0 {
                    // Trailers, then the blank line.
                    while !self.read_line().await?.is_empty() {}
                    return Ok(body);
                }
                if body.len() + size > MAX_BODY {
                    return Err(ReadError::Bad(413, "Content Too Large"));
                }
                body.extend(self.read_exact_buf(size).await?);
                if !self.read_line().await?.is_empty() {
                    return Err(ReadError::Bad(400, "Bad Request"));
                }
            }
        }
        match length {
            None => Ok(Vec::new()),
            Some(v) => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| ReadError::Bad(400, "Bad Request"))?;
                if n > MAX_BODY {
                    return Err(ReadError::Bad(413, "Content Too Large"));
                }
                self.read_exact_buf(n).await
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> bool {
        self.io.write_all(bytes).await.is_ok() && self.io.flush().await.is_ok()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(bytes: &[u8]) -> Result<Head, ReadError> {
    let bad = ReadError::Bad(400, "Bad Request");
    let text = std::str::from_utf8(bytes).map_err(|_| ReadError::Bad(400, "Bad Request"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(ReadError::Bad(400, "Bad Request"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    if method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(bad);
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(400, "Bad Request"));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ReadError::Bad(400, "Bad Request"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn response_head(status: u16, headers: &[(&str, String)], keep_alive: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn simple_response(
    status: u16,
    content_type: &str,
    extra: &[(&str, String)],
    body: &[u8],
    head_only: bool,
    keep_alive: bool,
) -> Vec<u8> {
    let mut headers: Vec<(&str, String)> = vec![
        ("Content-Type", content_type.to_string()),
        ("Content-Length", body.len().to_string()),
        ("Cache-Control", "no-store".to_string()),
    ];
    headers.extend(extra.iter().cloned());
    let mut out = response_head(status, &headers, keep_alive);
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A host without its port (`[::1]:80` → `[::1]`, `example.com:8443` → `example.com`).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The decoded value of `name` in an `application/x-www-form-urlencoded` string.
pub fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn serve_origin<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    peer: SocketAddr,
    scheme: &'static str,
    sni: Option<String>,
    record: Arc<Record>,
) {
    let mut conn = Conn {
        io,
        buf: Vec::new(),
    };
    let mut count = 0;
    loop {
        let head = match conn.read_head().await {
            Ok(head) => head,
            Err(ReadError::Bad(status, _)) => {
                let _ = conn
                    .send(&simple_response(
                        status,
                        "text/plain",
                        &[],
                        b"bad request\n",
                        false,
                        false,
                    ))
                    .await;
                return;
            }
            Err(_) => return,
        };
        let body = match conn.read_body(&head).await {
            Ok(body) => body,
            Err(ReadError::Bad(status, _)) => {
                let _ = conn
                    .send(&simple_response(
                        status,
                        "text/plain",
                        &[],
                        b"bad body\n",
                        false,
                        false,
                    ))
                    .await;
                return;
            }
            Err(_) => return,
        };
        let keep_alive = head.keep_alive();
        let request = RecordedRequest {
            scheme,
            sni: sni.clone(),
            peer,
            method: head.method.clone(),
            target: head.target.clone(),
            version: head.version.clone(),
            host: head.header("host").map(str::to_string),
            headers: head.headers.clone(),
            body,
            on_connection: count,
        };
        count += 1;
        record.push(request.clone());
        let fixed = record.fixed.lock().unwrap().get(request.path()).cloned();
        let answered = match fixed {
            Some(page) => {
                let headers: Vec<(&str, String)> = page
                    .headers
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.clone()))
                    .collect();
                let out = simple_response(
                    page.status,
                    &page.content_type,
                    &headers,
                    &page.body,
                    request.method == "HEAD",
                    keep_alive,
                );
                conn.send(&out).await
            }
            None => answer_origin(&mut conn, &request, keep_alive).await,
        };
        if !answered || !keep_alive {
            let _ = conn.io.shutdown().await;
            return;
        }
    }
}

async fn answer_origin<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    request: &RecordedRequest,
    keep_alive: bool,
) -> bool {
    let head_only = request.method == "HEAD";
    let host_raw = request
        .host_name()
        .map(str::to_string)
        .or_else(|| request.sni.clone())
        .unwrap_or_else(|| "unknown".to_string());
    let host = html_escape(&host_raw);
    let path = request.path();
    let html = |title: &str, body: &str| {
        format!("<html><head><title>{title}</title></head><body>{body}</body></html>")
    };
    let out = match path {
        "/search" => {
            let q = request
                .query_param("q")
                .or_else(|| form_value(&String::from_utf8_lossy(&request.body), "q"))
                .unwrap_or_default();
            let q = html_escape(&q);
            let page = html(
                &format!("Results for {q}"),
                &format!("<p id=\"results\">results for {q} on {host}</p>"),
            );
            simple_response(
                200,
                "text/html; charset=utf-8",
                &[],
                page.as_bytes(),
                head_only,
                keep_alive,
            )
        }
        "/files/setup.exe" => {
            let mut body = b"MZ".to_vec();
            body.extend_from_slice(
                b"\x90\x00\x03\x00\x00\x00 hedgerow test executable, not a real program ",
            );
            body.resize(4096, 0);
            simple_response(
                200,
                "application/octet-stream",
                &[(
                    "Content-Disposition",
                    "attachment; filename=\"setup.exe\"".to_string(),
                )],
                &body,
                head_only,
                keep_alive,
            )
        }
        "/files/notes.txt" => {
            let body = format!("notes from {host_raw}\nline two\n");
            simple_response(
                200,
                "text/plain; charset=utf-8",
                &[],
                body.as_bytes(),
                head_only,
                keep_alive,
            )
        }
        "/chunked" => {
            let mut out = response_head(
                200,
                &[
                    ("Content-Type", "text/html; charset=utf-8".to_string()),
                    ("Transfer-Encoding", "chunked".to_string()),
                    ("Cache-Control", "no-store".to_string()),
                ],
                keep_alive,
            );
            if !head_only {
                let parts = [
                    format!("<html><head><title>Chunked {host}</title></head>"),
                    "<body>chunked ".to_string(),
                    format!("page for {host}</body></html>"),
                ];
                for part in parts {
                    out.extend_from_slice(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes());
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            out
        }
        "/big" => {
            let n: u64 = request
                .query_param("bytes")
                .and_then(|b| b.parse().ok())
                .unwrap_or(1_000_000);
            let head = response_head(
                200,
                &[
                    ("Content-Type", "application/octet-stream".to_string()),
                    ("Content-Length", n.to_string()),
                ],
                keep_alive,
            );
            if !conn.send(&head).await {
                return false;
            }
            if !head_only {
                let block = vec![b'x'; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    let take = left.min(block.len() as u64) as usize;
                    if conn.io.write_all(&block[..take]).await.is_err() {
                        return false;
                    }
                    left -= take as u64;
                }
                if conn.io.flush().await.is_err() {
                    return false;
                }
            }
            return true;
        }
        "/form" => {
            let method = if request.query_param("method").as_deref() == Some("post") {
                "post"
            } else {
                "get"
            };
            let page = html(
                &format!("Form {host}"),
                &format!(
                    "<form id=\"search\" action=\"/search\" method=\"{method}\"><input id=\"q\" name=\"q\" type=\"text\"><button id=\"go\" type=\"submit\">Search</button></form>"
                ),
            );
            simple_response(
                200,
                "text/html; charset=utf-8",
                &[],
                page.as_bytes(),
                head_only,
                keep_alive,
            )
        }
        "/redirect" => {
            let to = request.query_param("to").unwrap_or_else(|| "/".to_string());
            simple_response(
                302,
                "text/html",
                &[("Location", to)],
                b"<html><head><title>Redirect</title></head><body>moved</body></html>",
                head_only,
                keep_alive,
            )
        }
        p if p.starts_with("/status/") => {
            let status: u16 = p["/status/".len()..].parse().unwrap_or(500).clamp(200, 599);
            let body = format!("status {status} from {host_raw}\n");
            if status == 204 || status == 304 {
                response_head(status, &[], keep_alive)
            } else {
                simple_response(
                    status,
                    "text/plain",
                    &[],
                    body.as_bytes(),
                    head_only,
                    keep_alive,
                )
            }
        }
        _ => {
            let page = html(
                &format!("Origin {host}"),
                &format!("origin page for {host}{}", html_escape(&request.target)),
            );
            simple_response(
                200,
                "text/html; charset=utf-8",
                &[],
                page.as_bytes(),
                head_only,
                keep_alive,
            )
        }
    };
    conn.send(&out).await
}

async fn serve_parent(stream: TcpStream, peer: SocketAddr, mode: ConnectMode, record: Arc<Record>) {
    let mut conn = Conn {
        io: stream,
        buf: Vec::new(),
    };
    let mut count = 0;
    loop {
        let head = match conn.read_head().await {
            Ok(head) => head,
            Err(ReadError::Bad(status, _)) => {
                let _ = conn
                    .send(&simple_response(
                        status,
                        "text/plain",
                        &[],
                        b"bad request\n",
                        false,
                        false,
                    ))
                    .await;
                return;
            }
            Err(_) => return,
        };
        let connect = head.method.eq_ignore_ascii_case("CONNECT");
        let body = if connect {
            Vec::new()
        } else {
            match conn.read_body(&head).await {
                Ok(body) => body,
                Err(_) => return,
            }
        };
        let keep_alive = head.keep_alive();
        let request = RecordedRequest {
            scheme: "proxy",
            sni: None,
            peer,
            method: head.method.clone(),
            target: head.target.clone(),
            version: head.version.clone(),
            host: head.header("host").map(str::to_string),
            headers: head.headers.clone(),
            body,
            on_connection: count,
        };
        count += 1;
        record.push(request);
        if connect {
            if !conn
                .send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
            {
                return;
            }
            match mode {
                ConnectMode::Close => {
                    let _ = conn.io.shutdown().await;
                }
                ConnectMode::Echo => {
                    let leftover = std::mem::take(&mut conn.buf);
                    if !leftover.is_empty() && !conn.send(&leftover).await {
                        return;
                    }
                    let mut chunk = vec![0u8; 16 * 1024];
                    loop {
                        match conn.io.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if conn.io.write_all(&chunk[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                }
                ConnectMode::Tunnel(to) => {
                    let Ok(mut upstream) = TcpStream::connect(to).await else {
                        return;
                    };
                    let leftover = std::mem::take(&mut conn.buf);
                    if upstream.write_all(&leftover).await.is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut conn.io, &mut upstream).await;
                }
            }
            return;
        }
        let url = html_escape(&head.target);
        let page = format!(
            "<html><head><title>Parent {url}</title></head><body>parent proxy: {} {url}</body></html>",
            html_escape(&head.method)
        );
        let out = simple_response(
            200,
            "text/html; charset=utf-8",
            &[("X-Test-Parent", "1".to_string())],
            page.as_bytes(),
            head.method == "HEAD",
            keep_alive,
        );
        if !conn.send(&out).await || !keep_alive {
            return;
        }
    }
}
