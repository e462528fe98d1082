//! HTTPS for the admin app, so that a school can serve it on its network: staff passwords
//! and the session cookie never cross the network readable.
//!
//! - [`serve_tls`]: the app over TLS (rustls on the `ring` provider). Each connection gets
//!   [`HANDSHAKE_TIMEOUT`] to finish its handshake; one that fails, stalls or speaks plain
//!   HTTP (which is told, in plain HTTP, to use `https://`) is closed without disturbing
//!   anything else. Every answer carries `Strict-Transport-Security`, so browsers stay on
//!   HTTPS. Shutdown stops accepting, lets requests in flight finish, and closes idle
//!   connections.
//! - [`school_ca_server_config`]: certificates minted from the school CA (`hedgerow ca init`)
//!   for the listener's address and the configured names, chosen by the name the browser asks
//!   for (SNI) and minted afresh well before they expire.
//! - [`files_server_config`]: a certificate chain and key from PEM files (a commercial or
//!   local-authority certificate, or one from an ACME client), read again when the files
//!   change, so a renewed certificate is used without a restart.
//! - [`serve_behind_proxy`]: plain HTTP behind a reverse proxy that serves HTTPS. The client
//!   address for the audit log and the sign-in throttle comes from `X-Forwarded-For`, but only
//!   on connections from the one trusted proxy address; from anywhere else the header is
//!   ignored, so nobody can claim another address.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use hedgerow_tls::{LEAF_VALIDITY_DAYS, LeafCertificates, SchoolCa, TlsError};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, info, warn};

use crate::AdminApp;

/// How long a connection has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request head may take to arrive once the connection is up.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// `Strict-Transport-Security`: a year, the value browsers' preload rules expect.
const HSTS: &str = "max-age=31536000";
/// School-CA certificates are minted afresh after half their life.
const RENEW_SCHOOL_CA_EVERY: Duration =
    Duration::from_secs(LEAF_VALIDITY_DAYS.unsigned_abs() * 86_400 / 2);
/// After a failed renewal (the CA moved or expired, say) the old certificate is kept and
/// renewal tried again this much later.
const RETRY_RENEWAL_AFTER: Duration = Duration::from_secs(3_600);
/// How often the certificate files are looked at for a change.
const CHECK_FILES_EVERY: Duration = Duration::from_secs(60);
/// No certificate or key file is anywhere near this big; a bigger one is refused unread.
const MAX_PEM_FILE: u64 = 1024 * 1024;
/// The most of a plain-HTTP request read before answering it.
const MAX_PLAIN_HEAD: usize = 8 * 1024;

/// Why HTTPS for the admin app cannot be set up. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AdminTlsError {
    /// The school CA is missing or unusable (its own message says how to fix it).
    #[error("the admin app's HTTPS (tls = \"school-ca\") needs the school CA: {0}")]
    SchoolCa(#[source] TlsError),

    /// A certificate could not be minted for a name.
    #[error("cannot make the admin app's certificate for {host:?}: {source}")]
    Mint {
        host: String,
        #[source]
        source: TlsError,
    },

    /// Nothing for a certificate to name.
    #[error(
        "the admin app listens on every address ({listen}), which a certificate cannot name; under [admin] list the names staff use to reach it, e.g. names = [\"hedgerow.school.lan\"], or listen on one address"
    )]
    NoNames { listen: SocketAddr },

    /// A certificate or key file could not be read.
    #[error(
        "cannot read the admin app's {what} {} ([admin] {key}): {source}; check the path, and that Hedgerow's user may read the file",
        path.display()
    )]
    Read {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A certificate or key file holds nothing usable.
    #[error("the admin app's {what} {} ([admin] {key}) is not usable: {reason}", path.display())]
    BadPem {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
        reason: String,
    },

    /// The private key file is open to every user on the machine.
    #[error(
        "the admin app's private key {} can be read or changed by every user on this machine (mode {mode:04o}); run `chmod 600 {}` (or 640, with a group such as ssl-cert) so that only Hedgerow and its administrators can",
        path.display(),
        path.display()
    )]
    KeyTooOpen { path: PathBuf, mode: u32 },

    /// The key belongs to another certificate.
    #[error(
        "the private key {} ([admin] key) does not belong to the certificate {} ([admin] cert): the files come from two different certificates; give the key that was made with this certificate",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },

    /// rustls refused the configuration.
    #[error("cannot set up HTTPS for the admin app ({what}): {source}")]
    Rustls {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },
}

/// Serves the app over TLS on `listener` until `shutdown` completes.
///
/// Every handler sees the client's address as `ConnectInfo<SocketAddr>`, as with
/// [`crate::serve`]. Cookies should be `Secure` (`AdminApp::new(.., true)`).
pub async fn serve_tls(
    listener: TcpListener,
    app: Arc<AdminApp>,
    server_config: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = app
        .router()
        .layer(middleware::map_response(strict_transport_security));
    let acceptor = TlsAcceptor::from(server_config);
    let (closing, _) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = shutdown.as_mut() => break,
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = finished
                    && error.is_panic()
                {
                    warn!("an admin app connection ended in a panic: {error}");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(connection(
                        stream,
                        peer,
                        acceptor.clone(),
                        router.clone(),
                        closing.subscribe(),
                    ));
                }
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin. The loop
                    // itself never stops for one connection.
                    debug!("the admin app could not accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    closing.send_replace(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        debug!("admin app connections still busy at shutdown were closed");
        connections.shutdown().await;
    }
    Ok(())
}

/// One TLS connection: the handshake, then HTTP/1.1 requests until either side closes or
/// the server shuts down.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    mut closing: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let tls = tokio::select! {
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, &acceptor)) => {
            match handshake {
                Ok(Ok(Some(tls))) => tls,
                Ok(Ok(None)) => return,
                Ok(Err(error)) => {
                    debug!(%peer, "admin app: TLS handshake failed: {error}");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "admin app: no TLS handshake within {HANDSHAKE_TIMEOUT:?}; closed");
                    return;
                }
            }
        }
        () = until_closing(&mut closing) => return,
    };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut router.clone(), request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let serving = builder.serve_connection(TokioIo::new(tls), service);
    let mut serving = std::pin::pin!(serving);
    tokio::select! {
        result = serving.as_mut() => {
            if let Err(error) = result {
                debug!(%peer, "admin app connection: {error}");
            }
        }
        () = until_closing(&mut closing) => {
            // Finishes the request in flight, if any, then closes.
            serving.as_mut().graceful_shutdown();
            if let Err(error) = serving.await {
                debug!(%peer, "admin app connection at shutdown: {error}");
            }
        }
    }
}

async fn until_closing(closing: &mut watch::Receiver<bool>) {
    // An error means the server is gone, which is closing too.
    let _ = closing.wait_for(|closing| *closing).await;
}

/// The TLS handshake, or `None` when the client spoke plain HTTP (and was told to use HTTPS)
/// or closed before saying anything.
async fn handshake(
    stream: TcpStream,
    acceptor: &TlsAcceptor,
) -> io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    // A TLS connection opens with a handshake record (22); an HTTP request with its method.
    if first[0].is_ascii_alphabetic() {
        refuse_plain_http(stream).await;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}

/// Answers a plain-HTTP request on the HTTPS port with a 400 saying what to do, as a person
/// who typed `http://` would otherwise see only a broken connection.
async fn refuse_plain_http(mut stream: TcpStream) {
    // Read the head first: closing with unread data would reset the connection and the
    // browser could lose the answer.
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while head.len() < MAX_PLAIN_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let body = "This address serves the Hedgerow admin app over HTTPS only: write https:// at the start of the address.\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn strict_transport_security(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    response
}

/// Serves the app over plain HTTP behind a reverse proxy that serves HTTPS, until `shutdown`
/// completes. On connections from `trusted_proxy` the client's address is the one the proxy
/// appended to `X-Forwarded-For` (its last entry), and answers carry
/// `Strict-Transport-Security` for the browser on the far side; from any other address the
/// header is ignored. Cookies should be `Secure` (`AdminApp::new(.., true)`).
pub async fn serve_behind_proxy(
    listener: TcpListener,
    app: Arc<AdminApp>,
    trusted_proxy: IpAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = app.router().layer(middleware::from_fn_with_state(
        Arc::new(TrustedProxy {
            address: trusted_proxy.to_canonical(),
            warned: AtomicBool::new(false),
        }),
        client_behind_proxy,
    ));
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

struct TrustedProxy {
    address: IpAddr,
    /// Whether the log has already said that the proxy sends no usable `X-Forwarded-For`.
    warned: AtomicBool,
}

async fn client_behind_proxy(
    State(proxy): State<Arc<TrustedProxy>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let from_proxy = peer.is_some_and(|peer| peer.ip().to_canonical() == proxy.address);
    if from_proxy {
        match forwarded_client(request.headers()) {
            Some(client) => {
                request
                    .extensions_mut()
                    .insert(ConnectInfo(SocketAddr::new(client, 0)));
            }
            None => {
                if !proxy.warned.swap(true, Ordering::Relaxed) {
                    warn!(
                        proxy = %proxy.address,
                        "the reverse proxy sent a request without a usable X-Forwarded-For, so it counts as coming from the proxy itself (for the audit log and the sign-in throttle); set the proxy to append the client's address to X-Forwarded-For"
                    );
                }
            }
        }
    }
    let mut response = next.run(request).await;
    if from_proxy {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// The address the nearest proxy appended to `X-Forwarded-For`: the last entry of the last
/// header. Entries before it were written by the client and prove nothing.
fn forwarded_client(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = value.to_str().ok()?.rsplit(',').next()?.trim();
    let address = last
        .parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))?;
    Some(address.to_canonical())
}

/// A server configuration presenting certificates minted from the school CA in `data_dir`:
/// one for the listener's address (unless it is every address) and one for each of `names`
/// (host names or addresses). The browser's SNI picks one; without SNI (a browser reaching
/// the app by address) the first is used. Certificates are minted afresh every fortnight,
/// from the CA as it is then.
pub fn school_ca_server_config(
    data_dir: &Path,
    names: &[String],
    listen: SocketAddr,
) -> Result<Arc<ServerConfig>, AdminTlsError> {
    let mut hosts = Vec::new();
    let ip = listen.ip().to_canonical();
    if !ip.is_unspecified() {
        hosts.push(ip.to_string());
    }
    for name in names {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !hosts.contains(&name) {
            hosts.push(name);
        }
    }
    if hosts.is_empty() {
        return Err(AdminTlsError::NoNames { listen });
    }
    let certificates = SchoolCaCertificates::new(data_dir, hosts, RENEW_SCHOOL_CA_EVERY)?;
    server_config(Arc::new(certificates))
}

/// A server configuration presenting the certificate chain in `cert` with the private key in
/// `key` (PEM files). The files are looked at again every minute and read again when they
/// change; a change that cannot be used is logged and the previous certificate kept.
pub fn files_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, AdminTlsError> {
    server_config(Arc::new(FileCertificate::new(cert, key)?))
}

fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, AdminTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| AdminTlsError::Rustls {
            what: "choosing protocol versions",
            source,
        })?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Certificates from the school CA, one per host, renewed on a timer.
struct SchoolCaCertificates {
    data_dir: PathBuf,
    hosts: Vec<String>,
    renew_every: Duration,
    current: RwLock<Arc<Minted>>,
}

struct Minted {
    /// In the order of `hosts`; the first answers clients that name no host.
    by_host: Vec<(String, Arc<dyn ResolvesServerCert>)>,
    renew_at: Instant,
}

impl std::fmt::Debug for SchoolCaCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchoolCaCertificates")
            .field("data_dir", &self.data_dir)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl SchoolCaCertificates {
    fn new(
        data_dir: &Path,
        hosts: Vec<String>,
        renew_every: Duration,
    ) -> Result<Self, AdminTlsError> {
        let mut certificates = SchoolCaCertificates {
            data_dir: data_dir.to_path_buf(),
            hosts,
            renew_every,
            current: RwLock::new(Arc::new(Minted {
                by_host: Vec::new(),
                renew_at: Instant::now(),
            })),
        };
        let minted = certificates.mint()?;
        certificates.current = RwLock::new(Arc::new(minted));
        Ok(certificates)
    }

    fn mint(&self) -> Result<Minted, AdminTlsError> {
        let ca = SchoolCa::load(&self.data_dir).map_err(AdminTlsError::SchoolCa)?;
        let leaves = LeafCertificates::new(ca, self.hosts.len().max(1)).map_err(|source| {
            AdminTlsError::Mint {
                host: self.hosts.join(", "),
                source,
            }
        })?;
        let by_host = self
            .hosts
            .iter()
            .map(|host| {
                let config = leaves
                    .server_config(host)
                    .map_err(|source| AdminTlsError::Mint {
                        host: host.clone(),
                        source,
                    })?;
                Ok((host.clone(), Arc::clone(&config.cert_resolver)))
            })
            .collect::<Result<Vec<_>, AdminTlsError>>()?;
        Ok(Minted {
            by_host,
            renew_at: Instant::now() + self.renew_every,
        })
    }

    /// The certificates to present, minted afresh first when they are due. One handshake
    /// renews; others meanwhile use the certificates they have.
    fn current(&self) -> Arc<Minted> {
        let minted = Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()));
        if Instant::now() < minted.renew_at {
            return minted;
        }
        let Ok(mut slot) = self.current.try_write() else {
            return minted;
        };
        if Instant::now() >= slot.renew_at {
            *slot = match self.mint() {
                Ok(fresh) => {
                    info!(hosts = ?self.hosts, "the admin app's certificates were minted afresh from the school CA");
                    Arc::new(fresh)
                }
                Err(error) => {
                    warn!(
                        "the admin app's certificates could not be renewed, so the present ones are kept for now (tried again in an hour): {error}"
                    );
                    Arc::new(Minted {
                        by_host: slot.by_host.clone(),
                        renew_at: Instant::now() + RETRY_RENEWAL_AFTER,
                    })
                }
            };
        }
        Arc::clone(&slot)
    }
}

impl ResolvesServerCert for SchoolCaCertificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let minted = self.current();
        let asked = client_hello
            .server_name()
            .map(|name| name.trim_end_matches('.').to_ascii_lowercase());
        let (_, resolver) = asked
            .and_then(|asked| minted.by_host.iter().find(|(host, _)| *host == asked))
            .or_else(|| minted.by_host.first())?;
        resolver.resolve(client_hello)
    }
}

/// A certificate from PEM files, read again when they change.
struct FileCertificate {
    cert: PathBuf,
    key: PathBuf,
    provider: CryptoProvider,
    current: RwLock<Loaded>,
}

struct Loaded {
    certified: Arc<CertifiedKey>,
    /// The files' modification times when last read.
    stamp: Option<(SystemTime, SystemTime)>,
    check_at: Instant,
}

impl std::fmt::Debug for FileCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCertificate")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl FileCertificate {
    fn new(cert: &Path, key: &Path) -> Result<Self, AdminTlsError> {
        let provider = rustls::crypto::ring::default_provider();
        let stamp = stamp(cert, key);
        let certified = load_files(cert, key, &provider)?;
        Ok(FileCertificate {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Loaded {
                certified: Arc::new(certified),
                stamp,
                check_at: Instant::now() + CHECK_FILES_EVERY,
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        {
            let loaded = self.current.read().unwrap_or_else(|e| e.into_inner());
            if Instant::now() < loaded.check_at {
                return Arc::clone(&loaded.certified);
            }
        }
        let Ok(mut loaded) = self.current.try_write() else {
            let loaded = self.current.read().unwrap_or_else(|e| e.into_inner());
            return Arc::clone(&loaded.certified);
        };
        if Instant::now() >= loaded.check_at {
            loaded.check_at = Instant::now() + CHECK_FILES_EVERY;
            let now = stamp(&self.cert, &self.key);
            if now != loaded.stamp {
                // Remembered either way: a broken change is reported once, not every minute.
                loaded.stamp = now;
                match load_files(&self.cert, &self.key, &self.provider) {
                    Ok(certified) => {
                        info!(cert = %self.cert.display(), "the admin app's certificate was read again after a change");
                        loaded.certified = Arc::new(certified);
                    }
                    Err(error) => warn!(
                        "the admin app's certificate files changed but cannot be used, so the previous certificate is kept: {error}"
                    ),
                }
            }
        }
        Arc::clone(&loaded.certified)
    }
}

impl ResolvesServerCert for FileCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Both files' modification times, or `None` when either cannot be read.
fn stamp(cert: &Path, key: &Path) -> Option<(SystemTime, SystemTime)> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    Some((modified(cert)?, modified(key)?))
}

/// Reads and checks a PEM certificate chain and its private key.
fn load_files(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, AdminTlsError> {
    const CERT: (&str, &str) = ("certificate", "cert");
    const KEY: (&str, &str) = ("private key", "key");
    let bad = |(what, key): (&'static str, &'static str), path: &Path, reason: String| {
        AdminTlsError::BadPem {
            what,
            key,
            path: path.to_path_buf(),
            reason,
        }
    };

    let text = read_pem(cert, CERT)?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(CERT, cert, format!("its PEM cannot be read ({error})")))?;
    if chain.is_empty() {
        return Err(bad(
            CERT,
            cert,
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the certificate chain, the server's own certificate first".into(),
        ));
    }
    warn_if_out_of_date(cert, &chain[0]);

    check_key_private(key)?;
    let text = read_pem(key, KEY)?;
    let private = PrivateKeyDer::from_pem_slice(&text).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => bad(
            KEY,
            key,
            "it holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)".into(),
        ),
        other => bad(KEY, key, format!("its PEM cannot be read ({other})")),
    })?;
    CertifiedKey::from_der(chain, private, provider).map_err(|error| match error {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            AdminTlsError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }
        }
        other => bad(
            KEY,
            key,
            format!("it is not a key Hedgerow can use ({other}); use an RSA, ECDSA P-256/P-384 or Ed25519 key"),
        ),
    })
}

fn read_pem(
    path: &Path,
    (what, key): (&'static str, &'static str),
) -> Result<Vec<u8>, AdminTlsError> {
    let read = |source| AdminTlsError::Read {
        what,
        key,
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_PEM_FILE {
        return Err(AdminTlsError::BadPem {
            what,
            key,
            path: path.to_path_buf(),
            reason: format!("it is {size} bytes, far too big for a PEM file; check the path"),
        });
    }
    std::fs::read(path).map_err(read)
}

/// Refuses a private key every user on the machine can read or change.
fn check_key_private(path: &Path) -> Result<(), AdminTlsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            let mode = metadata.permissions().mode() & 0o7777;
            if mode & 0o006 != 0 {
                return Err(AdminTlsError::KeyTooOpen {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Logs a certificate that browsers will refuse for its dates; serving goes on, as the rest
/// of the gateway must not stop for the admin app's certificate.
fn warn_if_out_of_date(path: &Path, certificate: &CertificateDer<'_>) {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate) else {
        return;
    };
    let now = jiff::Timestamp::now().as_second();
    let date = |unix: i64| {
        jiff::Timestamp::from_second(unix)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let validity = parsed.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if not_after < now {
        warn!(
            "the admin app's certificate {} expired on {}; browsers will refuse it: renew it, and Hedgerow reads the new files within a minute",
            path.display(),
            date(not_after)
        );
    } else if not_before > now {
        warn!(
            "the admin app's certificate {} is not valid until {}; check the machine's clock",
            path.display(),
            date(not_before)
        );
    } else if not_after - now < 14 * 86_400 {
        warn!(
            "the admin app's certificate {} expires on {}: renew it soon",
            path.display(),
            date(not_after)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_last_forwarded_address() {
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
            }
            map
        };
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(forwarded_client(&headers(&[])), None);
        assert_eq!(
            forwarded_client(&headers(&["10.1.1.1"])),
            Some(ip("10.1.1.1"))
        );
        // What the client wrote comes first and proves nothing.
        assert_eq!(
            forwarded_client(&headers(&["6.6.6.6, 10.1.1.2"])),
            Some(ip("10.1.1.2"))
        );
        assert_eq!(
            forwarded_client(&headers(&["6.6.6.6", "10.1.1.3"])),
            Some(ip("10.1.1.3"))
        );
        assert_eq!(
            forwarded_client(&headers(&["2001:db8::7"])),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(
            forwarded_client(&headers(&["::ffff:10.1.1.4"])),
            Some(ip("10.1.1.4"))
        );
        assert_eq!(
            forwarded_client(&headers(&["10.1.1.5:51234"])),
            Some(ip("10.1.1.5"))
        );
        assert_eq!(
            forwarded_client(&headers(&["[2001:db8::8]:443"])),
            Some(ip("2001:db8::8"))
        );
        for useless in ["unknown", "", "10.1.1.1, ", "hedgerow.school.lan"] {
            assert_eq!(forwarded_client(&headers(&[useless])), None, "{useless:?}");
        }
    }

    /// The certificate a client verifying against `roots` is shown when it asks for `name`.
    async fn presented(
        config: Arc<ServerConfig>,
        roots: &[CertificateDer<'static>],
        name: &str,
    ) -> Result<CertificateDer<'static>, io::Error> {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root.clone()).unwrap();
        }
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
        let (near, far) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { TlsAcceptor::from(config).accept(far).await });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let stream = connector.connect(server_name, near).await;
        let _ = server.await;
        let stream = stream?;
        let (_, session) = stream.get_ref();
        Ok(session.peer_certificates().unwrap()[0].clone())
    }

    #[tokio::test]
    async fn school_ca_certificates_name_the_listener_and_each_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = school_ca_server_config(dir.path(), &[], "127.0.0.1:8443".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("hedgerow ca init"), "{missing}");

        SchoolCa::init(dir.path(), "Test School", false).unwrap();
        let ca = SchoolCa::load(dir.path()).unwrap().certificate().clone();
        let config = school_ca_server_config(
            dir.path(),
            &["Hedgerow.School.Test".into(), "admin.school.test".into()],
            "127.0.0.1:8443".parse().unwrap(),
        )
        .unwrap();
        let roots = [ca];
        for name in ["127.0.0.1", "hedgerow.school.test", "admin.school.test"] {
            presented(config.clone(), &roots, name)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // A name not configured gets the listener's certificate, which does not name it.
        assert!(
            presented(config.clone(), &roots, "other.school.test")
                .await
                .is_err()
        );
        // And nothing is trusted without the school CA.
        assert!(presented(config, &[], "127.0.0.1").await.is_err());

        assert!(matches!(
            school_ca_server_config(dir.path(), &[], "0.0.0.0:8443".parse().unwrap()),
            Err(AdminTlsError::NoNames { .. })
        ));
    }

    #[tokio::test]
    async fn school_ca_certificates_are_minted_afresh_when_due() {
        let dir = tempfile::tempdir().unwrap();
        SchoolCa::init(dir.path(), "Test School", false).unwrap();
        let roots = [SchoolCa::load(dir.path()).unwrap().certificate().clone()];
        let hosts = vec!["127.0.0.1".to_string()];
        let fresh = |every| {
            server_config(Arc::new(
                SchoolCaCertificates::new(dir.path(), hosts.clone(), every).unwrap(),
            ))
            .unwrap()
        };
        let kept = fresh(Duration::from_secs(3_600));
        let first = presented(kept.clone(), &roots, "127.0.0.1").await.unwrap();
        assert_eq!(
            first,
            presented(kept, &roots, "127.0.0.1").await.unwrap(),
            "not due: the same certificate"
        );
        let renewed = fresh(Duration::ZERO);
        let first = presented(renewed.clone(), &roots, "127.0.0.1")
            .await
            .unwrap();
        assert_ne!(
            first,
            presented(renewed.clone(), &roots, "127.0.0.1")
                .await
                .unwrap(),
            "due: a new certificate"
        );

        // A CA that has gone: the present certificate is kept.
        std::fs::remove_dir_all(dir.path().join("ca")).unwrap();
        presented(renewed, &roots, "127.0.0.1").await.unwrap();
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
    }

    #[tokio::test]
    async fn certificate_files_are_checked_and_served() {
        let dir = tempfile::tempdir().unwrap();
        let made =
            rcgen::generate_simple_self_signed(vec!["admin.school.test".to_string()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["other.test".to_string()]).unwrap();
        let (cert, key) = (dir.path().join("admin.pem"), dir.path().join("admin.key"));
        write(&cert, &made.cert.pem(), 0o644);
        write(&key, &made.signing_key.serialize_pem(), 0o600);

        let config = files_server_config(&cert, &key).unwrap();
        let shown = presented(config, &[made.cert.der().clone()], "admin.school.test")
            .await
            .unwrap();
        assert_eq!(&shown, made.cert.der());

        let error = |cert: &Path, key: &Path| files_server_config(cert, key).unwrap_err();
        let missing = dir.path().join("missing.pem");
        let message = error(&missing, &key).to_string();
        assert!(
            message.contains("cannot read") && message.contains("[admin] cert"),
            "{message}"
        );
        let message = error(&cert, &missing).to_string();
        assert!(message.contains("[admin] key"), "{message}");

        let empty = dir.path().join("empty.pem");
        write(&empty, "not a certificate\n", 0o600);
        let message = error(&empty, &key).to_string();
        assert!(message.contains("holds no PEM certificate"), "{message}");
        let message = error(&cert, &empty).to_string();
        assert!(message.contains("holds no PEM private key"), "{message}");

        let wrong_key = dir.path().join("other.key");
        write(&wrong_key, &other.signing_key.serialize_pem(), 0o600);
        assert!(matches!(
            error(&cert, &wrong_key),
            AdminTlsError::KeyMismatch { .. }
        ));

        #[cfg(unix)]
        {
            let open_key = dir.path().join("open.key");
            write(&open_key, &made.signing_key.serialize_pem(), 0o644);
            let message = error(&cert, &open_key).to_string();
            assert!(message.contains("chmod 600"), "{message}");
        }
    }
}
