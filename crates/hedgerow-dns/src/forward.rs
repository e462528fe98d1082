//! The forwarder: asks the upstream resolvers over UDP, falls back to TCP for truncated
//! answers, and fails over to the next upstream on timeout, SERVFAIL, REFUSED or garbage.
//!
//! UDP goes through a [`UdpPool`] per upstream: connected sockets on kernel-randomised ports
//! that rotate, random IDs unique per socket among queries in flight, and an answer is only
//! taken if its ID and question match (see `pool.rs`). TCP uses a fresh connection per
//! truncated answer, with the same ID and question checks.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use crate::cache::{self, Entry, Limits, Reject};
use crate::pool::{PoolError, UdpPool};
use crate::wire;

pub(crate) struct Forwarder {
    upstreams: Vec<(SocketAddr, UdpPool)>,
    /// Counts each failed attempt, so a dead upstream shows even when failover hides it.
    attempt_failures: metrics::Counter,
    timeout: Duration,
    payload: u16,
    limits: Limits,
}

/// Why one upstream attempt gave nothing usable.
#[derive(Debug)]
enum Failure {
    Timeout,
    Io(std::io::Error),
    Rejected(Reject),
}

impl From<PoolError> for Failure {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Timeout => Failure::Timeout,
            PoolError::Io(e) => Failure::Io(e),
        }
    }
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
    pub fn new(
        upstreams: &[SocketAddr],
        attempt_failures: metrics::Counter,
        timeout: Duration,
        payload: u16,
        limits: Limits,
    ) -> Self {
        Forwarder {
            upstreams: upstreams.iter().map(|&a| (a, UdpPool::new(a))).collect(),
            attempt_failures,
            timeout,
            payload,
            limits,
        }
    }

    /// Resolves one question through the upstreams in order, leaving out the first `skip`
    /// (already tried by a UDP worker's direct exchange); `None` when all failed.
    pub async fn resolve(
        &self,
        qname: &[u8],
        qtype: u16,
        qclass: u16,
        skip: usize,
    ) -> Option<Entry> {
        let mut query = Vec::with_capacity(64);
        for (upstream, pool) in self.upstreams.iter().skip(skip) {
            match self
                .attempt(*upstream, pool, &mut query, qname, qtype, qclass)
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

    /// The upstream asked first, if any.
    pub fn first_upstream(&self) -> Option<SocketAddr> {
        self.upstreams.first().map(|(addr, _)| *addr)
    }

    /// How long one upstream attempt may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The EDNS payload size offered upstream.
    pub fn payload(&self) -> u16 {
        self.payload
    }

    /// Counts one failed upstream attempt (made elsewhere, by a direct exchange).
    pub fn count_attempt_failure(&self) {
        self.attempt_failures.increment(1);
    }

    async fn attempt(
        &self,
        upstream: SocketAddr,
        pool: &UdpPool,
        query: &mut Vec<u8>,
        qname: &[u8],
        qtype: u16,
        qclass: u16,
    ) -> Result<Entry, Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let payload = self.payload;
        let write = |out: &mut Vec<u8>, id: u16| {
            wire::write_upstream_query(out, id, qname, qtype, qclass, payload);
        };
        let (resp, id) = pool
            .exchange(query, write, qname, qtype, qclass, deadline)
            .await?;
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
