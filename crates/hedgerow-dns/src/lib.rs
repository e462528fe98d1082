//! Hedgerow's DNS server: answers clients over UDP and TCP, asks a [`QueryPolicy`] about every
//! question, answers blocked names itself, and forwards the rest to upstream resolvers through
//! a cache. The policy (lists, schools, schedules) lives elsewhere and is reached only through
//! the trait, which is also how query events leave this crate.
//!
//! # API
//!
//! [`DnsServer::start`] binds every [`DnsConfig::listen`] address for UDP and TCP and returns
//! a running server (binding errors name the address and what to do); [`DnsServer::shutdown`]
//! stops reading, lets queries already read finish, and closes. Policy reloads need nothing
//! from the server: the policy swaps its own state behind the trait.
//!
//! # Fast path
//!
//! Most queries are cache hits or blocked names, so those never build a message structure.
//! Each UDP worker thread owns a socket bound with `SO_REUSEPORT` (the kernel spreads clients
//! over them) and runs a poll loop over it and its upstream sockets, with no executor in
//! between. For each
//! packet it reads the header, the single question and the OPT record straight from the bytes
//! (bounds-checked; compressed names are refused in the question and pointers elsewhere must
//! point backwards, so loops are impossible), asks the rate limiter and the policy, and then:
//!
//! * **blocked**: writes the answer bytes directly: the block page's address or `0.0.0.0`/`::`
//!   for A/AAAA, NODATA for other types, or NXDOMAIN in NXDOMAIN mode and for
//!   `force_nxdomain`. When the client sent EDNS, the OPT record carries an Extended DNS Error
//!   (RFC 8914): INFO-CODE 16 Censored for illegal-content lists, 17 Filtered otherwise, with
//!   the category as EXTRA-TEXT. A client without EDNS gets no EDE: it can only travel in an
//!   OPT record, and RFC 6891 forbids sending OPT to a client that did not send one.
//! * **held at the portal** ([`PolicyAnswer::Portal`]): a client that has not accepted its
//!   acceptable use agreement gets the access portal's address for A, its IPv6 address (or
//!   NODATA) for AAAA and NODATA for other types, TTL 10 s and never cached, so the real answer
//!   comes back within seconds of accepting; EDE 17 Filtered says why to EDNS clients.
//! * **cache hit**: copies the stored response bytes, patches the ID, RD/CD, the question's
//!   letter case (0x20) and every TTL (the offsets of the TTL fields were found when the entry
//!   was stored, and each is decremented by the entry's age), and appends the client's OPT.
//!   The CNAME targets stored with the entry go through [`QueryPolicy::decide_alias`] for this
//!   client first, so a chain into a blocked name is blocked on hits too, without reparsing.
//! * **miss**: the worker asks the first upstream itself, on connected sockets it polls beside
//!   its listening socket (`direct.rs`), and answers when the reply comes, so the usual miss
//!   never leaves the thread. A question already in flight, a safe-search redirect, a
//!   truncated or failed answer and a timeout go to a tokio task instead, which resolves it
//!   (joining the question in flight, retrying over TCP, or moving on to the next upstreams)
//!   and replies through the same UDP socket.
//!
//! A response bigger than the client's UDP limit (512 without EDNS, else the advertised size
//! capped at [`DnsConfig::max_udp_payload`]) is replaced by the question with TC=1, so the
//! client retries over TCP. Packets shorter than a header, or with QR=1, are dropped; a header
//! with a broken question gets FORMERR; opcodes other than QUERY get NOTIMP; an EDNS version
//! other than 0 gets BADVERS; AXFR/IXFR get REFUSED.
//!
//! TCP runs on tokio: length-prefixed messages, pipelined (answers go out as they are ready,
//! at most 64 waiting per connection), an idle timeout, and a bound on connections.
//!
//! Measured on the two-core development machine, dnsperf sharing the cores, names in cache:
//! about 100k queries/s with two workers (unbound 1.17 with one thread, as a caching
//! forwarder, about 90k; dnsperf itself is the limit at that point), p99 latency 0.15 ms at
//! 5,000 q/s, 11 MB RSS. A query costs about 8 µs of CPU, almost all of it in the kernel
//! (socket wake-ups and loopback delivery), which is why the loop has nothing between the
//! socket and the fast path and why cache hits avoid allocation beyond the policy's name.
//! `examples/bench_server.rs` reproduces this; turn the rate limit off (or up) when load
//! comes from one address.
//!
//! # Cache
//!
//! Keyed by (lower-case name, type, class), plus the target for safe-search answers, which are
//! cached as whole responses of their own. An entry is the upstream response minus its OPT
//! record, kept for the least TTL of its answer records, or for negative answers the lesser of
//! the SOA's TTL and MINIMUM (RFC 2308; without an SOA a negative answer is not cached),
//! capped at [`DnsConfig::max_cache_ttl`]. When every upstream fails, a SERVFAIL is cached for
//! [`DnsConfig::servfail_ttl`] (1 s). Memory is bounded in bytes over 16 mutex-protected
//! shards and evicted by CLOCK, so a hit costs one lock, a hash lookup and a relaxed store.
//!
//! # Forwarder
//!
//! Misses go to the upstreams in order: the first one asked by the UDP worker directly (above;
//! the same defences as below, with the worker's own sockets), the rest, and every TCP
//! client's misses, by tokio tasks. The tasks' UDP goes through a pool of 32 sockets per upstream,
//! opened lazily, each bound by the kernel to a random ephemeral port and connected to the
//! upstream (so the kernel drops datagrams from other sources), and each read by one tokio
//! task that hands every datagram to the query waiting for it. This spares each miss the
//! `socket`/`connect`/`epoll_ctl`/`close` and the 64 KB buffer that a fresh socket per attempt
//! cost (on the two-core machine, dnsperf over the 200,000-query benchmark workload with a
//! local dnsmasq upstream went from about 40k to about 49k queries/s). Spoofing stays
//! expensive:
//!
//! * a query's ID is random and unique among the queries in flight on its socket, and an
//!   answer is handed over only if both its ID and its question match that query; anything
//!   else is dropped and the query keeps waiting for its real answer;
//! * source ports keep rotating: a socket takes at most 256 queries or 5 s of them, then a
//!   new socket (new random port) replaces it, and the old one is read until its last query
//!   is answered or times out, then closed (`pool.rs` has the constants);
//! * a datagram that matches no waiting query (a forgery, or an answer after its query timed
//!   out) retires its socket at once, so a port someone is probing stops being used.
//!
//! A truncated answer is asked again over TCP (a connection per question, same ID and
//! question checks). A timeout, SERVFAIL, REFUSED or malformed answer moves on to the next
//! upstream, and so does an ICMP error (`ECONNREFUSED` on the connected socket), which fails
//! every query waiting on that socket and retires it; when no upstream answers, the client
//! gets SERVFAIL. Identical misses in flight at the same time share one upstream query.
//! hickory-proto validates and re-encodes every upstream answer before it is cached (so its
//! compression pointers aim only at names, never into the header or the TTL fields that a hit
//! patches), and builds the safe-search responses (`name CNAME target` plus the target's
//! records).
//!
//! # Limits and metrics
//!
//! A token bucket per client address ([`DnsConfig::rate_limit`]) drops excess UDP queries
//! (answering a possibly forged source would help reflection attacks) and answers excess TCP
//! queries REFUSED; the table of clients is bounded. Misses waiting for an upstream are
//! bounded by [`DnsConfig::max_pending`]. Counters (`hedgerow_dns_*_total`) go through the
//! `metrics` crate: queries (by transport), blocked, safe_search, portal, cache_hits, cache_misses,
//! upstream_failures (questions no upstream could answer), upstream_attempt_failures (each
//! upstream that failed, even when the next one answered), rate_limited, malformed,
//! not_implemented, overloaded (misses refused because too many were waiting).

mod cache;
mod config;
mod direct;
mod engine;
mod error;
mod forward;
pub mod fuzzing;
mod policy;
mod pool;
mod ratelimit;
mod server;
mod wire;

pub use cache::CacheStats;
pub use config::{BlockResponse, DnsConfig, RateLimit};
pub use error::DnsError;
pub use policy::{AllowInfo, BlockInfo, PolicyAnswer, QueryEvent, QueryPolicy, Transport, Verdict};
pub use server::DnsServer;
