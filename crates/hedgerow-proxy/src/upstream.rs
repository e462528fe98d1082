//! Connections to origins: name resolution (static hosts first, then the system resolver, with
//! a short cache), direct or through a parent proxy, plain or TLS-verified, and a pool of idle
//! kept-alive connections.
//!
//! Plain HTTP connections are pooled by the origin's socket address, not its name: HTTP/1.1
//! routes by the Host field, so one connection serves every site on that address, which is
//! what keeps a school's many small requests to one CDN cheap.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hedgerow_proxy_wire::{Host, parse_response_head};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::hooks::UpstreamFailure;
use crate::io::{BoxIo, read_more, write_all};
use crate::{Parent, ProxyConfig};

/// Most names remembered by the resolver cache; past this it starts again, which costs only
/// some lookups.
const RESOLVE_CACHE_MAX: usize = 100_000;
/// How long a failed lookup is remembered, so a page full of one broken name does not
/// queue a lookup per request.
const NEGATIVE_TTL: Duration = Duration::from_secs(5);

/// A cached lookup: the addresses (or why there are none), and until when it holds.
type Resolved = (Result<Arc<[IpAddr]>, String>, Instant);

/// Where a pooled connection goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    addr: SocketAddr,
    /// The TLS server name for TLS connections, with the tunnelled authority when the
    /// connection goes through a parent proxy.
    tls: Option<String>,
    via_parent: Option<String>,
}

/// An open connection to an origin (or a parent proxy standing in for it).
pub struct OriginConn {
    pub io: BoxIo,
    /// Bytes read from the origin but not yet used.
    pub buf: Vec<u8>,
    /// It came from the pool, so the origin may have closed it meanwhile.
    pub reused: bool,
    /// Requests go to it in absolute form (it is a parent proxy, plain HTTP).
    pub absolute_form: bool,
    key: PoolKey,
}

pub struct Upstreams {
    parent: Option<Parent>,
    hosts: HashMap<String, Vec<IpAddr>>,
    resolve_ttl: Duration,
    cache: Mutex<HashMap<String, Resolved>>,
    pool: Mutex<HashMap<PoolKey, Vec<(OriginConn, Instant)>>>,
    pool_per_origin: usize,
    pool_idle: Duration,
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
    io_timeout: Duration,
    local_addrs: Vec<SocketAddr>,
}

impl Upstreams {
    pub(crate) fn new(config: &ProxyConfig, local_addrs: Vec<SocketAddr>) -> Upstreams {
        Upstreams {
            parent: config.parent.clone(),
            hosts: config.hosts.clone(),
            resolve_ttl: config.resolve_ttl,
            cache: Mutex::new(HashMap::new()),
            pool: Mutex::new(HashMap::new()),
            pool_per_origin: config.pool_per_origin,
            pool_idle: config.pool_idle_timeout,
            tls: config.origin_tls.clone().map(TlsConnector::from),
            connect_timeout: config.connect_timeout,
            io_timeout: config.io_timeout,
            local_addrs,
        }
    }

    /// Addresses for `host`, from the static hosts, the cache, or the system resolver.
    pub async fn resolve(&self, host: &Host, port: u16) -> Result<Vec<SocketAddr>, io::Error> {
        let name = match host {
            Host::Ipv4(a) => return Ok(vec![SocketAddr::new(IpAddr::V4(*a), port)]),
            Host::Ipv6(a) => return Ok(vec![SocketAddr::new(IpAddr::V6(*a), port)]),
            Host::Name(name) => name,
        };
        if let Some(ips) = self.hosts.get(name) {
            return Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        if let Ok(cache) = self.cache.lock()
            && let Some((result, until)) = cache.get(name.as_str())
            && Instant::now() < *until
        {
            return match result {
                Ok(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()),
                Err(e) => Err(io::Error::new(io::ErrorKind::NotFound, e.clone())),
            };
        }
        let looked_up = tokio::net::lookup_host((name.as_str(), port)).await;
        let result: Result<Arc<[IpAddr]>, String> = match looked_up {
            Ok(addrs) => {
                let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                if ips.is_empty() {
                    Err("no addresses".to_string())
                } else {
                    Ok(ips.into())
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let ttl = if result.is_ok() {
            self.resolve_ttl
        } else {
            NEGATIVE_TTL
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= RESOLVE_CACHE_MAX {
                cache.clear();
            }
            cache.insert(name.clone(), (result.clone(), Instant::now() + ttl));
        }
        match result {
            Ok(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()),
            Err(e) => Err(io::Error::new(io::ErrorKind::NotFound, e)),
        }
    }

    fn is_self(&self, addr: SocketAddr) -> bool {
        self.local_addrs.iter().any(|l| {
            l.port() == addr.port()
                && (l.ip() == addr.ip() || (l.ip().is_unspecified() && addr.ip().is_loopback()))
        })
    }

    async fn connect_any(&self, addrs: &[SocketAddr]) -> Result<TcpStream, UpstreamFailure> {
        if addrs.iter().any(|a| self.is_self(*a)) {
            return Err(UpstreamFailure::Loop);
        }
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connection timed out"),
            }
        }
        Err(UpstreamFailure::Connect(last))
    }

    async fn parent_addrs(&self, parent: &Parent) -> Result<Vec<SocketAddr>, UpstreamFailure> {
        let bare = parent.host.trim_start_matches('[').trim_end_matches(']');
        let host = match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Host::Ipv4(a),
            Ok(IpAddr::V6(a)) => Host::Ipv6(a),
            Err(_) => Host::Name(bare.to_ascii_lowercase()),
        };
        self.resolve(&host, parent.port)
            .await
            .map_err(UpstreamFailure::Resolve)
    }

    /// A raw byte stream to `host:port` for a spliced tunnel: direct, or a CONNECT tunnel
    /// through the parent proxy.
    pub async fn tunnel(&self, host: &Host, port: u16) -> Result<BoxIo, UpstreamFailure> {
        match &self.parent {
            None => {
                let addrs = self
                    .resolve(host, port)
                    .await
                    .map_err(UpstreamFailure::Resolve)?;
                Ok(Box::new(self.connect_any(&addrs).await?))
            }
            Some(parent) => {
                let addrs = self.parent_addrs(parent).await?;
                let stream = self.connect_any(&addrs).await?;
                let (io, buf) = self.parent_connect(stream, host, port).await?;
                Ok(Box::new(crate::io::Rewind::new(buf, io)))
            }
        }
    }

    /// Asks the parent proxy for a tunnel; returns the stream and any bytes read past the
    /// parent's answer.
    async fn parent_connect(
        &self,
        mut stream: TcpStream,
        host: &Host,
        port: u16,
    ) -> Result<(TcpStream, Vec<u8>), UpstreamFailure> {
        let request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
        write_all(&mut stream, request.as_bytes(), self.io_timeout)
            .await
            .map_err(UpstreamFailure::Connect)?;
        let mut buf = Vec::new();
        loop {
            match parse_response_head(&buf) {
                Ok(Some((head, used))) => {
                    if !(200..300).contains(&head.status) {
                        return Err(UpstreamFailure::ParentRefused(head.status));
                    }
                    buf.drain(..used);
                    return Ok((stream, buf));
                }
                Ok(None) => {}
                Err(e) => return Err(UpstreamFailure::BadResponse(e.to_string())),
            }
            match read_more(&mut stream, &mut buf, self.io_timeout).await {
                Ok(0) => {
                    return Err(UpstreamFailure::BadResponse(
                        "the parent proxy closed the connection".into(),
                    ));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(UpstreamFailure::Timeout);
                }
                Err(e) => return Err(UpstreamFailure::Connect(e)),
            }
        }
    }

    /// A connection for an HTTP request to `host:port`, reused from the pool when one is idle.
    /// `tls_name` is the server name to verify for https origins (`None` for plain HTTP).
    pub async fn http(
        &self,
        host: &Host,
        port: u16,
        tls_name: Option<&str>,
    ) -> Result<OriginConn, UpstreamFailure> {
        let (addrs, via_parent) = match (&self.parent, tls_name) {
            (Some(parent), None) => (self.parent_addrs(parent).await?, None),
            (Some(parent), Some(_)) => (
                self.parent_addrs(parent).await?,
                Some(format!("{host}:{port}")),
            ),
            (None, _) => (
                self.resolve(host, port)
                    .await
                    .map_err(UpstreamFailure::Resolve)?,
                None,
            ),
        };
        let Some(&first) = addrs.first() else {
            return Err(UpstreamFailure::Resolve(io::Error::new(
                io::ErrorKind::NotFound,
                "no addresses",
            )));
        };
        let key = PoolKey {
            addr: first,
            tls: tls_name.map(str::to_string),
            via_parent,
        };
        if let Some(conn) = self.take_pooled(&key) {
            return Ok(conn);
        }
        let stream = self.connect_any(&addrs).await?;
        let absolute_form = self.parent.is_some() && tls_name.is_none();
        let Some(tls_name) = tls_name else {
            return Ok(OriginConn {
                io: Box::new(stream),
                buf: Vec::new(),
                reused: false,
                absolute_form,
                key,
            });
        };
        let (stream, leftover) = if self.parent.is_some() {
            self.parent_connect(stream, host, port).await?
        } else {
            (stream, Vec::new())
        };
        let Some(connector) = &self.tls else {
            return Err(UpstreamFailure::Tls(io::Error::other(
                "no trust roots are configured for origins",
            )));
        };
        let server_name = ServerName::try_from(tls_name.to_string()).map_err(|_| {
            UpstreamFailure::Tls(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid TLS server name",
            ))
        })?;
        let stream = crate::io::Rewind::new(leftover, stream);
        let tls = tokio::time::timeout(self.io_timeout, connector.connect(server_name, stream))
            .await
            .map_err(|_| UpstreamFailure::Timeout)?
            .map_err(UpstreamFailure::Tls)?;
        Ok(OriginConn {
            io: Box::new(tls),
            buf: Vec::new(),
            reused: false,
            absolute_form: false,
            key,
        })
    }

    fn take_pooled(&self, key: &PoolKey) -> Option<OriginConn> {
        let mut pool = self.pool.lock().ok()?;
        let idle = pool.get_mut(key)?;
        let now = Instant::now();
        while let Some((mut conn, since)) = idle.pop() {
            if now.duration_since(since) < self.pool_idle {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection whose last response was read completely, for reuse.
    pub fn release(&self, conn: OriginConn) {
        if !conn.buf.is_empty() {
            // The origin sent more than it said; the connection is out of step.
            return;
        }
        if let Ok(mut pool) = self.pool.lock() {
            let idle = pool.entry(conn.key.clone()).or_default();
            let now = Instant::now();
            idle.retain(|(_, since)| now.duration_since(*since) < self.pool_idle);
            if idle.len() < self.pool_per_origin {
                idle.push((conn, now));
            }
        }
    }
}
