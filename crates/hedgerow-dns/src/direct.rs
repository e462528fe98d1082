//! Direct forwarding: a UDP worker asks the first upstream itself, on sockets it polls beside
//! its listening socket, so a cache miss the first upstream answers never leaves the thread.
//!
//! The task path (`Engine::complete` on the tokio runtime) costs a hand-off to a runtime
//! thread, a wake-up for the answer's socket and another for the waiting task: on a small box
//! those wake-ups cost more than the query itself, and under load they are what delays
//! answers. Anything out of the ordinary still goes to the task path: a question already in
//! flight (it joins that one), a safe-search redirect, a truncated answer (retried over TCP),
//! and every failure (timeout, network error, failure code, garbage), which moves on to the
//! next upstream there.
//!
//! The spoofing defences are the pool's (`pool.rs`): connected sockets on kernel-chosen
//! ports that are replaced after [`MAX_USES`] queries or [`MAX_AGE`]; random IDs unique among
//! the queries waiting on a socket; an answer taken only if its ID and question match; and a
//! socket that receives anything else is retired at once.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::engine::{Pending, PendingSlot};
use crate::pool::{MAX_AGE, MAX_USES};
use crate::server::WorkerContext;
use crate::wire;

/// Tries at finding an ID not in flight on a socket before giving the query to the task path.
const ID_TRIES: usize = 16;
/// How often waiting queries are checked for their deadline while any are waiting; a query
/// may wait this much longer than the upstream timeout before moving on.
pub(crate) const EXPIRY_TICK: Duration = Duration::from_millis(10);

/// A miss waiting for the first upstream's answer.
struct Waiting {
    pending: Box<Pending>,
    slot: PendingSlot,
    peer: SocketAddr,
    deadline: Instant,
}

/// One socket to the first upstream.
struct Upstream {
    token: Token,
    sock: UdpSocket,
    waiting: HashMap<u16, Waiting>,
    uses: u32,
    born: Instant,
    /// Takes no new queries; closed once nothing waits on it.
    retired: bool,
}

/// A worker's direct exchanges with the first upstream.
pub(crate) struct Direct {
    upstreams: Vec<Upstream>,
    next_token: usize,
    timeout: Duration,
    payload: u16,
    query: Vec<u8>,
}

impl Direct {
    /// `first_token` must not clash with the tokens the worker gives its own sockets.
    pub(crate) fn new(timeout: Duration, payload: u16, first_token: usize) -> Self {
        Direct {
            upstreams: Vec::new(),
            next_token: first_token,
            timeout,
            payload,
            query: Vec::with_capacity(64),
        }
    }

    /// Nothing is waiting for an upstream.
    pub(crate) fn is_idle(&self) -> bool {
        self.upstreams.iter().all(|u| u.waiting.is_empty())
    }

    /// Asks the first upstream for this miss, or hands it to the task path.
    pub(crate) fn send(
        &mut self,
        ctx: &WorkerContext,
        registry: &Registry,
        pending: Box<Pending>,
        slot: PendingSlot,
        peer: SocketAddr,
    ) {
        let Some((upstream, qname, qtype, qclass)) = ctx.engine.direct_question(&pending) else {
            return ctx.spawn_task(pending, slot, peer, 0);
        };
        if !ctx.engine.lead_direct(&pending) {
            return ctx.spawn_task(pending, slot, peer, 0);
        }
        let at = match self.socket(registry, upstream) {
            Ok(at) => at,
            Err(e) => {
                tracing::warn!(%upstream, error = %e, "cannot open a socket to the upstream");
                ctx.engine.abandon_direct(&pending, true);
                return ctx.spawn_task(pending, slot, peer, 1);
            }
        };
        let Some(up) = self.upstreams.get_mut(at) else {
            ctx.engine.abandon_direct(&pending, false);
            return ctx.spawn_task(pending, slot, peer, 0);
        };
        let Some(id) = (0..ID_TRIES)
            .map(|_| rand::random::<u16>())
            .find(|id| !up.waiting.contains_key(id))
        else {
            ctx.engine.abandon_direct(&pending, false);
            return ctx.spawn_task(pending, slot, peer, 0);
        };
        wire::write_upstream_query(&mut self.query, id, qname, qtype, qclass, self.payload);
        if let Err(e) = up.sock.send(&self.query) {
            tracing::debug!(%upstream, error = %e, "sending to the upstream failed");
            up.retired = true;
            ctx.engine.abandon_direct(&pending, true);
            return ctx.spawn_task(pending, slot, peer, 1);
        }
        up.waiting.insert(
            id,
            Waiting {
                pending,
                slot,
                peer,
                deadline: Instant::now() + self.timeout,
            },
        );
    }

    /// Reads every answer waiting on the socket with this token, answering the clients.
    /// False if the token is not one of these sockets.
    pub(crate) fn read(
        &mut self,
        ctx: &WorkerContext,
        token: Token,
        buf: &mut [u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(up) = self.upstreams.iter_mut().find(|u| u.token == token) else {
            return false;
        };
        loop {
            let n = match up.sock.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // An ICMP error (ECONNREFUSED on a connected socket) or worse: everything
                    // waiting here moves on to the next upstream.
                    tracing::debug!(error = %e, "upstream socket failed; retiring it");
                    up.retired = true;
                    for (_, w) in up.waiting.drain() {
                        ctx.engine.abandon_direct(&w.pending, true);
                        ctx.spawn_task(w.pending, w.slot, w.peer, 1);
                    }
                    break;
                }
            };
            let resp = buf.get(..n).unwrap_or_default();
            let matched = wire::u16_at(resp, 0).and_then(|id| {
                let w = up.waiting.get(&id)?;
                let (_, qname, qtype, qclass) = ctx.engine.direct_question(&w.pending)?;
                wire::response_matches(resp, id, qname, qtype, qclass)
                    .then(|| up.waiting.remove(&id))
                    .flatten()
            });
            let Some(w) = matched else {
                // A forgery attempt, or an answer that came after its query timed out: this
                // port is known to someone, so it takes no more queries.
                if !up.retired {
                    tracing::debug!(
                        "dropped an upstream datagram that matches no waiting query; retiring its port"
                    );
                }
                up.retired = true;
                continue;
            };
            match ctx.engine.finish_direct(&w.pending, resp, out) {
                Ok(event) => {
                    ctx.reply(out, w.peer);
                    ctx.engine.record(event, w.pending.received);
                }
                Err(reject) => {
                    let skip = usize::from(!matches!(reject, crate::cache::Reject::Truncated));
                    ctx.spawn_task(w.pending, w.slot, w.peer, skip);
                }
            }
        }
        true
    }

    /// Moves the queries whose upstream did not answer in time to the task path (and so to
    /// the next upstream), and closes retired sockets nothing waits on any more.
    pub(crate) fn expire(&mut self, ctx: &WorkerContext, registry: &Registry, now: Instant) {
        for up in &mut self.upstreams {
            let late: Vec<u16> = up
                .waiting
                .iter()
                .filter(|(_, w)| w.deadline <= now)
                .map(|(&id, _)| id)
                .collect();
            for id in late {
                if let Some(w) = up.waiting.remove(&id) {
                    tracing::debug!("the first upstream timed out; trying the next");
                    ctx.engine.abandon_direct(&w.pending, true);
                    ctx.spawn_task(w.pending, w.slot, w.peer, 1);
                }
            }
        }
        self.upstreams.retain_mut(|up| {
            let keep = !(up.retired && up.waiting.is_empty());
            if !keep {
                let _ = registry.deregister(&mut SourceFd(&up.sock.as_raw_fd()));
            }
            keep
        });
    }

    /// Hands every waiting query to the task path (the worker is stopping and will read no
    /// more answers).
    pub(crate) fn abandon_all(&mut self, ctx: &WorkerContext) {
        for up in &mut self.upstreams {
            for (_, w) in up.waiting.drain() {
                ctx.engine.abandon_direct(&w.pending, false);
                ctx.spawn_task(w.pending, w.slot, w.peer, 0);
            }
        }
    }

    /// The socket to send the next query on: the newest, unless it is worn out, in which
    /// case a new one (a new random port) replaces it.
    fn socket(&mut self, registry: &Registry, upstream: SocketAddr) -> io::Result<usize> {
        if let Some(at) = self.upstreams.iter().rposition(|u| !u.retired)
            && let Some(up) = self.upstreams.get_mut(at)
        {
            if up.uses < MAX_USES && up.born.elapsed() < MAX_AGE {
                up.uses += 1;
                return Ok(at);
            }
            up.retired = true;
        }
        let local: SocketAddr = if upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local)?;
        // Connecting makes the kernel drop datagrams from any other source.
        sock.connect(upstream)?;
        sock.set_nonblocking(true)?;
        let token = Token(self.next_token);
        self.next_token = self.next_token.wrapping_add(1).max(1);
        registry.register(&mut SourceFd(&sock.as_raw_fd()), token, Interest::READABLE)?;
        self.upstreams.push(Upstream {
            token,
            sock,
            waiting: HashMap::new(),
            uses: 1,
            born: Instant::now(),
            retired: false,
        });
        Ok(self.upstreams.len() - 1)
    }
}
