//! A pool of connected UDP sockets to one upstream, shared by concurrent queries.
//!
//! A fresh socket per query costs `socket`, `connect`, two `epoll_ctl` and `close` on top of
//! the exchange itself, which dominated the miss path. Instead each upstream has
//! [`POOL_SIZE`] sockets, each bound by the kernel to a random ephemeral port and connected
//! to the upstream (so the kernel drops datagrams from any other source), and each read by
//! one task that hands every answer to the query waiting for it.
//!
//! Spoofing defences:
//!
//! * A query's ID is random and unique among the queries in flight on its socket, and an
//!   answer is handed over only if its ID *and* question match that query; anything else is
//!   dropped and the query keeps waiting for the real answer.
//! * Ports keep rotating: a socket takes new queries for at most [`MAX_USES`] queries or
//!   [`MAX_AGE`], whichever comes first, and is then replaced by a new one (new random port);
//!   the old one is read until its last query is answered or times out, then closed.
//! * A socket that receives a datagram matching no waiting query (a forgery attempt, or an
//!   answer arriving after its query timed out) is retired at once, so someone probing IDs on
//!   a port they learned loses that port.
//! * An ICMP error (`ECONNREFUSED` on a connected socket) or any other receive error fails
//!   the queries waiting on that socket, so they move on to the next upstream, and retires it.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{Notify, oneshot};
use tokio::time::timeout_at;

use crate::wire;

/// Sockets per upstream.
pub(crate) const POOL_SIZE: usize = 32;
/// Queries a socket is given before it is replaced (so a new random source port).
pub(crate) const MAX_USES: u32 = 256;
/// Time a socket is given new queries before it is replaced.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(5);
/// Largest UDP datagram; an upstream may send more than it was told we accept.
const RECV_BUF: usize = 65_535;
/// Tries at finding an ID not in flight on a socket before giving up on it.
const ID_TRIES: usize = 64;

/// Why a pooled exchange gave no answer.
#[derive(Debug)]
pub(crate) enum PoolError {
    Timeout,
    Io(io::Error),
}

/// One upstream's sockets.
pub(crate) struct UdpPool {
    upstream: SocketAddr,
    slots: Box<[Mutex<Option<Arc<Shared>>>]>,
    next: AtomicUsize,
    max_uses: u32,
    max_age: Duration,
}

impl UdpPool {
    pub fn new(upstream: SocketAddr) -> Self {
        Self::with_limits(upstream, POOL_SIZE, MAX_USES, MAX_AGE)
    }

    pub fn with_limits(
        upstream: SocketAddr,
        size: usize,
        max_uses: u32,
        max_age: Duration,
    ) -> Self {
        UdpPool {
            upstream,
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            max_uses: max_uses.max(1),
            max_age,
        }
    }

    /// Sends the query that `write(id)` puts into `query` and waits until `deadline` for the
    /// answer with that ID and question. Returns the answer; `query` keeps the bytes sent and
    /// the returned ID is the one in them (for a TCP retry of a truncated answer).
    pub async fn exchange(
        &self,
        query: &mut Vec<u8>,
        write: impl Fn(&mut Vec<u8>, u16),
        qname: &[u8],
        qtype: u16,
        qclass: u16,
        deadline: tokio::time::Instant,
    ) -> Result<(Vec<u8>, u16), PoolError> {
        let (shared, id, seq, rx) = self.register(qname, qtype, qclass)?;
        let guard = WaitGuard {
            shared: &shared,
            id,
            seq,
        };
        write(query, id);
        if let Err(e) = shared.sock.send(query).await {
            shared.retire();
            return Err(PoolError::Io(e));
        }
        let result = match timeout_at(deadline, rx).await {
            Err(_) => Err(PoolError::Timeout),
            Ok(Ok(Ok(resp))) => Ok((resp, id)),
            Ok(Ok(Err(kind))) => Err(PoolError::Io(kind.into())),
            Ok(Err(_)) => Err(PoolError::Io(io::Error::other("upstream socket closed"))),
        };
        drop(guard);
        result
    }

    /// Picks a socket (round robin, replacing a worn one) and registers a waiter on it under
    /// a fresh ID.
    fn register(
        &self,
        qname: &[u8],
        qtype: u16,
        qclass: u16,
    ) -> Result<(Arc<Shared>, u16, u64, oneshot::Receiver<Answer>), PoolError> {
        // A socket may close between being picked and being registered on: pick again.
        for _ in 0..4 {
            let shared = self.socket().map_err(PoolError::Io)?;
            let (tx, rx) = oneshot::channel();
            let mut state = shared.state();
            if state.closed {
                continue;
            }
            state.next_seq += 1;
            let seq = state.next_seq;
            for _ in 0..ID_TRIES {
                let id: u16 = rand::random();
                if let MapEntry::Vacant(v) = state.waiting.entry(id) {
                    v.insert(Waiter {
                        seq,
                        qname: qname.into(),
                        qtype,
                        qclass,
                        tx,
                    });
                    drop(state);
                    return Ok((shared, id, seq, rx));
                }
            }
            // Practically unreachable (tens of thousands in flight on one socket).
            drop(state);
            shared.retire();
            break;
        }
        Err(PoolError::Io(io::Error::other(
            "no upstream socket could take the query",
        )))
    }

    fn socket(&self) -> io::Result<Arc<Shared>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let Some(slot) = self.slots.get(i) else {
            return Err(io::Error::other("empty upstream socket pool"));
        };
        let mut slot = lock(slot);
        if let Some(s) = slot.as_ref()
            && !s.retired.load(Ordering::Acquire)
            && s.uses.fetch_add(1, Ordering::Relaxed) < self.max_uses
            && s.born.elapsed() < self.max_age
        {
            return Ok(s.clone());
        }
        if let Some(old) = slot.take() {
            old.retire();
        }
        let s = Shared::open(self.upstream)?;
        s.uses.store(1, Ordering::Relaxed);
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Ports of the sockets currently taking queries (for tests).
    #[cfg(test)]
    fn ports(&self) -> Vec<u16> {
        self.slots
            .iter()
            .filter_map(|s| lock(s).as_ref().and_then(|s| s.sock.local_addr().ok()))
            .map(|a| a.port())
            .collect()
    }
}

impl Drop for UdpPool {
    fn drop(&mut self) {
        // The receive tasks end once their last query is answered or gone.
        for slot in self.slots.iter() {
            if let Some(s) = lock(slot).take() {
                s.retire();
            }
        }
    }
}

type Answer = Result<Vec<u8>, io::ErrorKind>;

struct Waiter {
    /// Tells this query from a later one that reuses its ID once it is done.
    seq: u64,
    qname: Box<[u8]>,
    qtype: u16,
    qclass: u16,
    tx: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct State {
    waiting: HashMap<u16, Waiter>,
    /// Set by the receive task as it ends; nothing may be registered afterwards.
    closed: bool,
    next_seq: u64,
}

/// One socket, shared by its receive task and the queries waiting on it.
struct Shared {
    sock: UdpSocket,
    state: Mutex<State>,
    uses: AtomicU32,
    born: Instant,
    /// No new queries; the receive task ends when the last waiting one is done.
    retired: AtomicBool,
    wake: Notify,
}

impl Shared {
    /// Binds a kernel-chosen (random) port, connects it to the upstream and starts its
    /// receive task. Must run within a tokio runtime.
    fn open(upstream: SocketAddr) -> io::Result<Arc<Shared>> {
        let local: SocketAddr = if upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = std::net::UdpSocket::bind(local)?;
        // Connecting makes the kernel drop datagrams from other sources.
        sock.connect(upstream)?;
        sock.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            sock: UdpSocket::from_std(sock)?,
            state: Mutex::new(State::default()),
            uses: AtomicU32::new(0),
            born: Instant::now(),
            retired: AtomicBool::new(false),
            wake: Notify::new(),
        });
        tokio::spawn(receive(shared.clone()));
        Ok(shared)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Hands `resp` to the query it answers; anything else retires the socket.
    fn deliver(&self, resp: &[u8]) {
        let mut state = self.state();
        if let Some(id) = wire::u16_at(resp, 0)
            && let Some(w) = state.waiting.remove(&id)
        {
            if wire::response_matches(resp, id, &w.qname, w.qtype, w.qclass) {
                drop(state);
                let _ = w.tx.send(Ok(resp.to_vec()));
                return;
            }
            // Right ID, wrong question: the query keeps waiting for its real answer.
            state.waiting.insert(id, w);
        }
        drop(state);
        tracing::debug!(
            "dropped an upstream datagram that matches no waiting query; retiring its port"
        );
        self.retire();
    }

    /// Fails every waiting query with `kind`, so they move on to the next upstream.
    fn fail_all(&self, kind: io::ErrorKind) {
        let waiting = std::mem::take(&mut self.state().waiting);
        for (_, w) in waiting {
            let _ = w.tx.send(Err(kind));
        }
    }
}

/// Removes a query's waiter when it is answered, times out or is cancelled.
struct WaitGuard<'a> {
    shared: &'a Shared,
    id: u16,
    seq: u64,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        // Once answered, the ID is free and may already belong to another query: remove
        // only this query's own waiter.
        if state
            .waiting
            .get(&self.id)
            .is_some_and(|w| w.seq == self.seq)
        {
            state.waiting.remove(&self.id);
        }
        let idle = state.waiting.is_empty();
        drop(state);
        if idle && self.shared.retired.load(Ordering::Acquire) {
            self.shared.wake.notify_one();
        }
    }
}

/// Reads one socket until it is retired and nothing waits on it any more.
async fn receive(shared: Arc<Shared>) {
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        if shared.retired.load(Ordering::Acquire) {
            let mut state = shared.state();
            if state.waiting.is_empty() {
                state.closed = true;
                return;
            }
        }
        let received = tokio::select! {
            biased;
            () = shared.wake.notified() => continue,
            r = shared.sock.recv(&mut buf) => r,
        };
        match received {
            Ok(n) => shared.deliver(buf.get(..n).unwrap_or_default()),
            // ICMP port unreachable shows up as ECONNREFUSED on a connected socket.
            Err(e) => {
                tracing::debug!(error = %e, "upstream socket failed; retiring it");
                shared.retire();
                shared.fail_all(e.kind());
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QTYPE_A: u16 = 1;
    const QCLASS_IN: u16 = 1;

    fn name(text: &str) -> Vec<u8> {
        wire::text_to_name(text).expect("valid name")
    }

    fn write(qname: &[u8]) -> impl Fn(&mut Vec<u8>, u16) + '_ {
        move |out, id| wire::write_upstream_query(out, id, qname, QTYPE_A, QCLASS_IN, 1232)
    }

    /// The query's header and question with QR set, then `marker`.
    fn reply(query: &[u8], id: u16, marker: &[u8]) -> Vec<u8> {
        let mut name_end = wire::HEADER_LEN;
        while let Some(&len) = query.get(name_end) {
            name_end += 1 + usize::from(len);
            if len == 0 {
                break;
            }
        }
        let mut r = query.get(..name_end + 4).unwrap_or_default().to_vec();
        r[0..2].copy_from_slice(&id.to_be_bytes());
        r[2] |= 0x80;
        r[11] = 0; // no OPT record follows
        r.extend_from_slice(marker);
        r
    }

    async fn server() -> (Arc<tokio::net::UdpSocket>, SocketAddr) {
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        (Arc::new(s), addr)
    }

    fn deadline(ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_reach_the_right_query_under_concurrency() {
        let (up, addr) = server().await;
        // Collects queries in batches and answers each batch in reverse order, each answer
        // carrying its question's name as a marker.
        let upstream = up.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let mut batch = Vec::new();
                let (n, from) = upstream.recv_from(&mut buf).await.unwrap();
                batch.push((buf[..n].to_vec(), from));
                while let Ok((n, from)) = upstream.try_recv_from(&mut buf) {
                    batch.push((buf[..n].to_vec(), from));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                for (q, from) in batch.into_iter().rev() {
                    let id = u16::from_be_bytes([q[0], q[1]]);
                    let marker = q[wire::HEADER_LEN..q.len() - 15].to_vec();
                    upstream
                        .send_to(&reply(&q, id, &marker), from)
                        .await
                        .unwrap();
                }
            }
        });
        // Few sockets, so that many queries share each one.
        let pool = Arc::new(UdpPool::with_limits(addr, 3, 1000, Duration::from_secs(60)));
        let mut tasks = Vec::new();
        for i in 0..300 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let qname = name(&format!("n{i}.example."));
                let mut query = Vec::new();
                let (resp, id) = pool
                    .exchange(
                        &mut query,
                        write(&qname),
                        &qname,
                        QTYPE_A,
                        QCLASS_IN,
                        deadline(5000),
                    )
                    .await
                    .expect("answered");
                assert!(wire::response_matches(
                    &resp, id, &qname, QTYPE_A, QCLASS_IN
                ));
                assert!(resp.ends_with(&qname), "got another query's answer");
                assert_eq!(u16::from_be_bytes([query[0], query[1]]), id);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(pool.ports().len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forged_answers_are_ignored_and_retire_the_port() {
        let (up, addr) = server().await;
        let upstream = up.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let (n, from) = upstream.recv_from(&mut buf).await.unwrap();
                let q = buf[..n].to_vec();
                let id = u16::from_be_bytes([q[0], q[1]]);
                let other = name("evil.example.");
                let mut wrong_question = Vec::new();
                wire::write_upstream_query(&mut wrong_question, 0, &other, QTYPE_A, QCLASS_IN, 0);
                for forged in [
                    reply(&q, id.wrapping_add(1), b"forged"),
                    reply(&q, id ^ 0x8000, b"forged"),
                    reply(&wrong_question, id, b"forged"),
                    b"\x00".to_vec(),
                ] {
                    upstream.send_to(&forged, from).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                upstream
                    .send_to(&reply(&q, id, b"real"), from)
                    .await
                    .unwrap();
            }
        });
        let pool = UdpPool::with_limits(addr, 1, 1000, Duration::from_secs(60));
        let qname = name("victim.example.");
        let mut query = Vec::new();
        let (resp, _) = pool
            .exchange(
                &mut query,
                write(&qname),
                &qname,
                QTYPE_A,
                QCLASS_IN,
                deadline(2000),
            )
            .await
            .expect("the real answer is taken");
        assert!(resp.ends_with(b"real"));
        let first = pool.ports();
        // The forgeries retired that socket: the next query goes out from a new one.
        let (resp, _) = pool
            .exchange(
                &mut query,
                write(&qname),
                &qname,
                QTYPE_A,
                QCLASS_IN,
                deadline(2000),
            )
            .await
            .expect("answered again");
        assert!(resp.ends_with(b"real"));
        assert_ne!(pool.ports(), first, "a probed port is not used again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn silence_times_out_and_closed_ports_fail_fast() {
        let (_silent, addr) = server().await;
        let pool = UdpPool::with_limits(addr, 2, 1000, Duration::from_secs(60));
        let qname = name("a.example.");
        let mut query = Vec::new();
        let r = pool
            .exchange(
                &mut query,
                write(&qname),
                &qname,
                QTYPE_A,
                QCLASS_IN,
                deadline(200),
            )
            .await;
        assert!(matches!(r, Err(PoolError::Timeout)), "{r:?}");

        // Nobody listens: the ICMP error fails the query long before its deadline.
        let closed = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let pool = UdpPool::with_limits(closed, 2, 1000, Duration::from_secs(60));
        let t = Instant::now();
        let r = pool
            .exchange(
                &mut query,
                write(&qname),
                &qname,
                QTYPE_A,
                QCLASS_IN,
                deadline(5000),
            )
            .await;
        assert!(matches!(r, Err(PoolError::Io(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_finished_query_does_not_remove_the_next_one_with_its_id() {
        let (_up, addr) = server().await;
        let pool = UdpPool::with_limits(addr, 1, 1000, Duration::from_secs(60));
        let qname = name("a.example.");
        let (shared, id, seq, _rx) = pool.register(&qname, QTYPE_A, QCLASS_IN).unwrap();
        let guard = WaitGuard {
            shared: &shared,
            id,
            seq,
        };
        // The answer arrives and frees the ID, which the next query happens to draw.
        let mut query = Vec::new();
        write(&qname)(&mut query, id);
        shared.deliver(&reply(&query, id, b""));
        let (tx, mut next) = oneshot::channel();
        shared.state().waiting.insert(
            id,
            Waiter {
                seq: seq + 1,
                qname: qname.clone().into(),
                qtype: QTYPE_A,
                qclass: QCLASS_IN,
                tx,
            },
        );
        drop(guard);
        assert!(shared.state().waiting.contains_key(&id));
        assert!(next.try_recv().is_err(), "the next query still waits");
        shared.deliver(&reply(&query, id, b"next"));
        assert!(next.try_recv().unwrap().unwrap().ends_with(b"next"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sockets_rotate_after_their_uses() {
        let (up, addr) = server().await;
        let upstream = up.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let (n, from) = upstream.recv_from(&mut buf).await.unwrap();
                let q = buf[..n].to_vec();
                let id = u16::from_be_bytes([q[0], q[1]]);
                upstream.send_to(&reply(&q, id, b""), from).await.unwrap();
            }
        });
        let pool = UdpPool::with_limits(addr, 1, 3, Duration::from_secs(60));
        let qname = name("a.example.");
        let mut query = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..9 {
            pool.exchange(
                &mut query,
                write(&qname),
                &qname,
                QTYPE_A,
                QCLASS_IN,
                deadline(2000),
            )
            .await
            .expect("answered");
            ports.extend(pool.ports());
        }
        ports.dedup();
        assert_eq!(
            ports.len(),
            3,
            "a new socket every three queries: {ports:?}"
        );
    }
}
