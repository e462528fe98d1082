//! Configuration of the DNS server.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// What a blocked name resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockResponse {
    /// A and AAAA questions get the block page's address; other types get NODATA.
    BlockPage {
        /// Address answered to A questions.
        v4: Ipv4Addr,
        /// Address answered to AAAA questions.
        v6: Ipv6Addr,
    },
    /// A and AAAA questions get `0.0.0.0` / `::`; other types get NODATA.
    Null,
    /// Every type gets NXDOMAIN.
    NxDomain,
}

/// Per-client token bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained queries per second per client address.
    pub qps: u32,
    /// Queries a quiet client may send at once.
    pub burst: u32,
}

/// Configuration of [`crate::DnsServer`].
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Addresses to serve on, UDP and TCP each. Port 0 picks one free port, the same for UDP
    /// and TCP (see [`crate::DnsServer::local_addrs`]).
    pub listen: Vec<SocketAddr>,
    /// Upstream resolvers, tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// Answer for blocked names.
    pub block_response: BlockResponse,
    /// TTL of block answers; short, so that a change of policy reaches clients quickly.
    pub block_ttl: u32,
    /// UDP worker threads per listen address.
    pub workers: usize,
    /// Memory bound of the answer cache, in bytes (entries and keys).
    pub cache_max_bytes: usize,
    /// Longest time an answer is cached, whatever its TTL says.
    pub max_cache_ttl: u32,
    /// How long a failed resolution (SERVFAIL) is remembered; RFC 9520 asks for at least 1 s.
    pub servfail_ttl: u32,
    /// Per-client rate limit; `None` turns it off (benchmarks from one address).
    pub rate_limit: Option<RateLimit>,
    /// Most client addresses the rate limiter remembers.
    pub rate_limit_clients: usize,
    /// Time for one upstream to answer before the next one is tried.
    pub upstream_timeout: Duration,
    /// Largest UDP response sent, whatever the client advertises (and the size advertised to
    /// upstreams); 1232 avoids IP fragmentation (DNS flag day 2020).
    pub max_udp_payload: u16,
    /// Most cache misses waiting for an upstream at once; more are answered SERVFAIL.
    pub max_pending: usize,
    /// Most simultaneous TCP connections; more wait in the kernel's backlog.
    pub max_tcp_connections: usize,
    /// A TCP connection with no query for this long is closed.
    pub tcp_idle_timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 5300))],
            upstreams: Vec::new(),
            block_response: BlockResponse::Null,
            block_ttl: 60,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cache_max_bytes: 64 * 1024 * 1024,
            max_cache_ttl: 86_400,
            servfail_ttl: 1,
            rate_limit: Some(RateLimit {
                qps: 1000,
                burst: 2000,
            }),
            rate_limit_clients: 65_536,
            upstream_timeout: Duration::from_secs(2),
            max_udp_payload: 1232,
            max_pending: 10_000,
            max_tcp_connections: 512,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}
