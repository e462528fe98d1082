//! Hedgerow's explicit forward proxy: the server half of the web filter.
//!
//! This crate owns sockets, HTTP/1.1 framing, CONNECT tunnels, TLS termination for inspected
//! tunnels, origin connections and timeouts. It knows nothing of schools: every decision is a
//! call to a [`ProxyHooks`] implementation (the gateway's policy), made at the phases listed in
//! [`hooks`]. Every byte read from a client or an origin goes through the parsers of
//! `hedgerow-proxy-wire`, which bound sizes and refuse ambiguous framing.
//!
//! Shape of one client connection ([`conn`]): read a request head; a CONNECT becomes a tunnel
//! ([`tunnel`]); a request for the proxy itself goes to [`ProxyHooks::local`]; anything else
//! is decided, forwarded to the origin over a pooled connection ([`upstream`]) and its response
//! streamed back, with keep-alive on both sides.

pub mod conn;
pub mod hooks;
mod io;
pub mod tunnel;
pub mod upstream;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hedgerow_proxy_wire::Limits;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tracing::{debug, warn};

pub use hooks::{
    Client, ConnectDecision, ConnectInfo, LocalRequest, LocalResponse, ProxyHooks, RequestDecision,
    RequestInfo, ResponseDecision, Summary, TunnelDecision, TunnelInfo, TunnelStart,
    UpstreamFailure,
};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no listen address is configured for the web proxy")]
    NoListener,
    #[error("cannot listen on {addr}: {source}; is another program using that port?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A parent proxy that every origin connection goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub host: String,
    pub port: u16,
}

/// How the proxy runs. [`ProxyConfig::new`] gives sensible values for everything but the
/// listeners.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: Vec<SocketAddr>,
    /// `host:port` authorities that mean the proxy itself (its public name for PAC files and
    /// block-page forms), besides the listen addresses.
    pub local_names: Vec<String>,
    pub limits: Limits,
    /// Time allowed for a whole request head to arrive once its first byte has (slow clients).
    pub header_timeout: Duration,
    /// Time a kept-alive client connection may sit between requests.
    pub idle_timeout: Duration,
    /// Time without progress allowed while waiting for an origin or moving a body.
    pub io_timeout: Duration,
    pub connect_timeout: Duration,
    /// Time allowed for a tunnel's first bytes (the ClientHello) to arrive.
    pub hello_timeout: Duration,
    /// Time a tunnel may carry nothing in either direction before it is closed.
    pub tunnel_idle_timeout: Duration,
    pub parent: Option<Parent>,
    /// Static host names, consulted before the system resolver (like `/etc/hosts`).
    pub hosts: HashMap<String, Vec<IpAddr>>,
    /// How long a resolved name is reused.
    pub resolve_ttl: Duration,
    /// TLS client settings for origins (roots to verify them against). Without it, https
    /// origins cannot be reached from inspected tunnels.
    pub origin_tls: Option<Arc<rustls::ClientConfig>>,
    /// Client connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Largest request body read for a request to the proxy itself (forms).
    pub max_local_body: usize,
    /// Idle origin connections kept per origin address.
    pub pool_per_origin: usize,
    pub pool_idle_timeout: Duration,
}

impl ProxyConfig {
    pub fn new(listen: Vec<SocketAddr>) -> ProxyConfig {
        ProxyConfig {
            listen,
            local_names: Vec::new(),
            limits: Limits::default(),
            header_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            io_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(5),
            tunnel_idle_timeout: Duration::from_secs(600),
            parent: None,
            hosts: HashMap::new(),
            resolve_ttl: Duration::from_secs(60),
            origin_tls: None,
            max_connections: 10_000,
            max_local_body: 64 * 1024,
            pool_per_origin: 32,
            pool_idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Counts connections still being served, so shutdown can wait for them.
#[derive(Default)]
pub(crate) struct Tracker {
    active: AtomicUsize,
    idle: Notify,
}

pub(crate) struct TrackGuard(Arc<Tracker>);

impl Tracker {
    fn enter(self: &Arc<Self>) -> TrackGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        metrics::gauge!("hedgerow_proxy_connections").increment(1.0);
        TrackGuard(Arc::clone(self))
    }
}

impl Drop for TrackGuard {
    fn drop(&mut self) {
        metrics::gauge!("hedgerow_proxy_connections").decrement(1.0);
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What every connection task shares.
pub(crate) struct Shared<H> {
    pub config: ProxyConfig,
    pub hooks: Arc<H>,
    pub upstream: upstream::Upstreams,
    pub stop: watch::Receiver<bool>,
    pub local_addrs: Vec<SocketAddr>,
}

impl<H> Shared<H> {
    /// Whether `host:port` names the proxy itself.
    pub fn is_local(&self, host: &hedgerow_proxy_wire::Host, port: u16) -> bool {
        use hedgerow_proxy_wire::Host;
        let ip = match host {
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            Host::Name(_) => None,
        };
        if let Some(ip) = ip
            && self
                .local_addrs
                .iter()
                .any(|a| a.port() == port && (a.ip() == ip || a.ip().is_unspecified()))
        {
            return true;
        }
        let authority = format!("{host}:{port}");
        self.config
            .local_names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&authority))
    }
}

/// A running proxy.
pub struct ProxyServer {
    local: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tracker: Arc<Tracker>,
    accept_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ProxyServer {
    /// Binds every listener and starts serving on the current tokio runtime.
    pub async fn start<H: ProxyHooks>(
        config: ProxyConfig,
        hooks: Arc<H>,
    ) -> Result<ProxyServer, ProxyError> {
        if config.listen.is_empty() {
            return Err(ProxyError::NoListener);
        }
        let mut listeners = Vec::new();
        for &addr in &config.listen {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ProxyError::Bind { addr, source })?;
            listeners.push(listener);
        }
        let local: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let (stop_tx, stop_rx) = watch::channel(false);
        let tracker = Arc::new(Tracker::default());
        let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let shared = Arc::new(Shared {
            upstream: upstream::Upstreams::new(&config, local.clone()),
            config,
            hooks,
            stop: stop_rx,
            local_addrs: local.clone(),
        });
        let mut accept_tasks = Vec::new();
        for listener in listeners {
            let shared = Arc::clone(&shared);
            let tracker = Arc::clone(&tracker);
            let permits = Arc::clone(&permits);
            let mut stop = shared.stop.clone();
            accept_tasks.push(tokio::spawn(async move {
                loop {
                    let permit = tokio::select! {
                        _ = stop.changed() => return,
                        permit = Arc::clone(&permits).acquire_owned() => match permit {
                            Ok(p) => p,
                            Err(_) => return,
                        },
                    };
                    let accepted = tokio::select! {
                        _ = stop.changed() => return,
                        accepted = listener.accept() => accepted,
                    };
                    let (stream, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // Out of file descriptors and the like: wait rather than spin.
                            warn!("web proxy cannot accept a connection: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(peer);
                    let guard = tracker.enter();
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let client = Client { addr: peer, local };
                        conn::serve_client(shared, stream, client).await;
                        drop(guard);
                        drop(permit);
                    });
                }
            }));
        }
        debug!(listen = ?local, "web proxy listening");
        Ok(ProxyServer {
            local,
            stop: stop_tx,
            tracker,
            accept_tasks,
        })
    }

    /// The addresses actually bound (useful when a port was 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Stops accepting, lets exchanges in progress finish for up to `drain`, then returns.
    /// Idle kept-alive connections close at once.
    pub async fn shutdown(self, drain: Duration) {
        let _ = self.stop.send(true);
        for task in self.accept_tasks {
            let _ = task.await;
        }
        let deadline = tokio::time::Instant::now() + drain;
        loop {
            let notified = self.tracker.idle.notified();
            if self.tracker.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                warn!(
                    open = self.tracker.active.load(Ordering::SeqCst),
                    "web proxy stopped with connections still open"
                );
                return;
            }
        }
    }
}
