//! The forwarder: asks the upstream resolvers over UDP, falls back to TCP for truncated
//! answers, and fails over to the next upstream on timeout, SERVFAIL, REFUSED or garbage.
//!
//! Every attempt uses a fresh socket (so a fresh, kernel-randomised source port) and a random
//! query ID, and an answer is only taken if its ID and question match; anything else on the
//! socket is ignored, which together make blind spoofing expensive.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout_at;

use crate::cache::{self, Entry, Limits, Reject};
use crate::wire;

pub(crate) struct Forwarder {
    pub upstreams: Vec<SocketAddr>,
    /// Counts each failed attempt, so a dead upstream shows even when failover hides it.
    pub attempt_failures: metrics::Counter,
    pub timeout: Duration,
    pub payload: u16,
    pub limits: Limits,
}

/// Why one upstream attempt gave nothing usable.
#[derive(Debug)]
enum Failure {
    Timeout,
    Io(std::io::Error),
    Rejected(Reject),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timed out"),
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Rejected(Reject::Malformed) => f.write_str("malformed or mismatched answer"),
            Failure::Rejected(Reject::Rcode(rcode)) => write!(f, "RCODE {rcode}"),
            Failure::Rejected(Reject::Truncated) => f.write_str("truncated even over TCP"),
        }
    }
}

impl Forwarder {
    /// Resolves one question through the upstreams in order; `None` when all failed.
    pub async fn resolve(&self, qname: &[u8], qtype: u16, qclass: u16) -> Option<Entry> {
        let mut query = Vec::with_capacity(64);
        for &upstream in &self.upstreams {
            let id: u16 = rand::random();
            wire::write_upstream_query(&mut query, id, qname, qtype, qclass, self.payload);
            match self
                .attempt(upstream, &query, id, qname, qtype, qclass)
                .await
            {
                Ok(entry) => return Some(entry),
                Err(failure) => {
                    self.attempt_failures.increment(1);
                    tracing::debug!(%upstream, %failure, "upstream attempt failed, trying the next");
                }
            }
        }
        None
    }

    async fn attempt(
        &self,
        upstream: SocketAddr,
        query: &[u8],
        id: u16,
        qname: &[u8],
        qtype: u16,
        qclass: u16,
    ) -> Result<Entry, Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let resp = udp_exchange(upstream, query, id, qname, qtype, qclass, deadline).await?;
        match cache::build_entry(&resp, qname, qtype, qclass, Instant::now(), self.limits) {
            Err(Reject::Truncated) => {
                // RFC 7766: a truncated UDP answer is retried over TCP, with its own timeout.
                let deadline = tokio::time::Instant::now() + self.timeout;
                let resp =
                    tcp_exchange(upstream, query, id, qname, qtype, qclass, deadline).await?;
                cache::build_entry(&resp, qname, qtype, qclass, Instant::now(), self.limits)
                    .map_err(Failure::Rejected)
            }
            other => other.map_err(Failure::Rejected),
        }
    }
}

async fn udp_exchange(
    upstream: SocketAddr,
    query: &[u8],
    id: u16,
    qname: &[u8],
    qtype: u16,
    qclass: u16,
    deadline: tokio::time::Instant,
) -> Result<Vec<u8>, Failure> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await.map_err(Failure::Io)?;
    // Connecting makes the kernel drop datagrams from other sources.
    sock.connect(upstream).await.map_err(Failure::Io)?;
    sock.send(query).await.map_err(Failure::Io)?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = match timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Err(Failure::Timeout),
            // ICMP port unreachable shows up as ECONNREFUSED on a connected socket.
            Ok(Err(e)) => return Err(Failure::Io(e)),
            Ok(Ok(n)) => n,
        };
        let resp = buf.get(..n).unwrap_or_default();
        if wire::response_matches(resp, id, qname, qtype, qclass) {
            return Ok(resp.to_vec());
        }
        tracing::debug!(%upstream, "dropped an upstream datagram that does not match the query");
    }
}

async fn tcp_exchange(
    upstream: SocketAddr,
    query: &[u8],
    id: u16,
    qname: &[u8],
    qtype: u16,
    qclass: u16,
    deadline: tokio::time::Instant,
) -> Result<Vec<u8>, Failure> {
    let exchange = async {
        let mut stream = TcpStream::connect(upstream).await.map_err(Failure::Io)?;
        stream.set_nodelay(true).map_err(Failure::Io)?;
        let len = u16::try_from(query.len()).map_err(|_| Failure::Rejected(Reject::Malformed))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await.map_err(Failure::Io)?;
        loop {
            let len = stream.read_u16().await.map_err(Failure::Io)?;
            let mut resp = vec![0u8; usize::from(len)];
            stream.read_exact(&mut resp).await.map_err(Failure::Io)?;
            if wire::response_matches(&resp, id, qname, qtype, qclass) {
                return Ok(resp);
            }
        }
    };
    timeout_at(deadline, exchange)
        .await
        .unwrap_or(Err(Failure::Timeout))
}
