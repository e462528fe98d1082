//! Listeners: UDP worker threads (one `SO_REUSEPORT` socket each, polled with the sockets of
//! the worker's direct upstream exchanges) and tokio TCP tasks; start-up, and a shutdown that
//! lets in-flight queries finish.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use crate::cache::CacheStats;
use crate::config::DnsConfig;
use crate::direct::{Direct, EXPIRY_TICK};
use crate::engine::{Engine, Outcome, Pending, PendingSlot};
use crate::error::DnsError;
use crate::policy::{QueryPolicy, Transport};

/// How often an idle UDP worker looks at the stop flag.
const UDP_POLL: Duration = Duration::from_millis(100);
/// Queries a UDP worker reads in one go before it looks at its upstream sockets again.
const LISTEN_BATCH: usize = 64;
/// The poll token of a UDP worker's listening socket; its upstream sockets count up from 1.
const LISTEN: Token = Token(0);
/// Largest UDP datagram; a query longer than the buffer would be cut and then fail to parse.
const UDP_BUF: usize = 65_535;
/// Queries one TCP connection may have waiting for upstreams at once (RFC 7766 pipelining).
const TCP_PIPELINE: usize = 64;
/// Tries at finding a port free for both UDP and TCP when the configuration says port 0.
const PORT_ZERO_TRIES: usize = 16;

/// Counts running tasks so that shutdown can wait for them.
#[derive(Default)]
struct Tracker {
    running: AtomicUsize,
    idle: Notify,
}

struct TrackGuard(Arc<Tracker>);

impl Tracker {
    fn track(self: &Arc<Self>) -> TrackGuard {
        self.running.fetch_add(1, Ordering::AcqRel);
        TrackGuard(self.clone())
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A running DNS server.
pub struct DnsServer {
    engine: Arc<Engine>,
    local: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    udp_threads: Vec<JoinHandle<()>>,
    tcp_stop: watch::Sender<bool>,
    tasks: Arc<Tracker>,
    drain_limit: Duration,
}

impl DnsServer {
    /// Binds every listen address (UDP and TCP) and starts serving. Must be called from within
    /// a tokio runtime, which runs the TCP listeners and the upstream forwarding.
    ///
    /// Install the `metrics` recorder before calling this: counter handles are taken here.
    pub fn start(config: DnsConfig, policy: Arc<dyn QueryPolicy>) -> Result<DnsServer, DnsError> {
        let handle = Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
        if config.listen.is_empty() {
            return Err(DnsError::Config("no listen address".into()));
        }
        if config.upstreams.is_empty() {
            return Err(DnsError::Config("no upstream resolver".into()));
        }
        let workers = config.workers.max(1);
        let mut bound = Vec::new();
        for &addr in &config.listen {
            bound.push(bind_pair(addr, workers)?);
        }
        let engine = Arc::new(Engine::new(&config, policy));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = Arc::new(Tracker::default());
        let (tcp_stop, _) = watch::channel(false);
        let mut server = DnsServer {
            engine: engine.clone(),
            local: bound.iter().map(|b| b.local).collect(),
            stop: stop.clone(),
            udp_threads: Vec::new(),
            tcp_stop,
            tasks: tasks.clone(),
            drain_limit: config.upstream_timeout * (config.upstreams.len() as u32 + 1)
                + Duration::from_secs(1),
        };
        let connections = Arc::new(Semaphore::new(config.max_tcp_connections.max(1)));
        let (upstream_timeout, upstream_payload) = engine.upstream_limits();
        for (n, pair) in bound.into_iter().enumerate() {
            for (i, sock) in pair.udp.into_iter().enumerate() {
                let poll = Poll::new().map_err(DnsError::Poll)?;
                poll.registry()
                    .register(&mut SourceFd(&sock.as_raw_fd()), LISTEN, Interest::READABLE)
                    .map_err(DnsError::Poll)?;
                let worker = UdpWorker {
                    ctx: WorkerContext {
                        engine: engine.clone(),
                        sock: Arc::new(sock),
                        handle: handle.clone(),
                        tasks: tasks.clone(),
                    },
                    stop: stop.clone(),
                    poll,
                    direct: Direct::new(upstream_timeout, upstream_payload, 1),
                };
                let spawned = std::thread::Builder::new()
                    .name(format!("dns-udp-{n}-{i}"))
                    .spawn(move || worker.run());
                match spawned {
                    Ok(t) => server.udp_threads.push(t),
                    Err(e) => {
                        stop.store(true, Ordering::Release);
                        return Err(DnsError::Thread(e));
                    }
                }
            }
            let listener = {
                let _enter = handle.enter();
                TcpListener::from_std(pair.tcp).map_err(|e| DnsError::bind("TCP", pair.local, e))?
            };
            handle.spawn(accept_loop(
                engine.clone(),
                listener,
                connections.clone(),
                server.tcp_stop.subscribe(),
                tasks.clone(),
                config.tcp_idle_timeout,
            ));
        }
        tracing::info!(listen = ?server.local, upstreams = ?config.upstreams, "DNS server started");
        Ok(server)
    }

    /// The addresses actually bound (with the chosen port when the configuration said 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Size of the answer cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.engine.cache.stats()
    }

    /// Stops reading new queries, lets queries already received finish (bounded by the
    /// upstream timeouts), and closes every socket.
    pub async fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.tcp_stop.send(true);
        let threads = std::mem::take(&mut self.udp_threads);
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        let _ = joined.await;
        if tokio::time::timeout(self.drain_limit, self.tasks.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!("DNS shutdown: some queries were still waiting and were dropped");
        }
        tracing::info!("DNS server stopped");
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Dropped without `shutdown`: at least stop the threads and listeners.
        self.stop.store(true, Ordering::Release);
        let _ = self.tcp_stop.send(true);
    }
}

struct BoundPair {
    local: SocketAddr,
    udp: Vec<UdpSocket>,
    tcp: std::net::TcpListener,
}

/// Binds `workers` UDP sockets and one TCP listener on the same address and port.
fn bind_pair(addr: SocketAddr, workers: usize) -> Result<BoundPair, DnsError> {
    let tries = if addr.port() == 0 { PORT_ZERO_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        match try_bind_pair(addr, workers) {
            Ok(pair) => return Ok(pair),
            // With port 0 the kernel chose a UDP port whose TCP twin may be taken: try again.
            Err(e @ DnsError::Bind { .. }) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| DnsError::Config(format!("cannot bind {addr}"))))
}

fn try_bind_pair(addr: SocketAddr, workers: usize) -> Result<BoundPair, DnsError> {
    let first = udp_socket(addr).map_err(|e| DnsError::bind("UDP", addr, e))?;
    let local = first
        .local_addr()
        .map_err(|e| DnsError::bind("UDP", addr, e))?;
    let mut udp = vec![first];
    for _ in 1..workers {
        udp.push(udp_socket(local).map_err(|e| DnsError::bind("UDP", local, e))?);
    }
    let tcp = tcp_listener(local).map_err(|e| DnsError::bind("TCP", local, e))?;
    Ok(BoundPair { local, udp, tcp })
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    // One socket per worker, the kernel spreading clients over them by address hash.
    sock.set_reuse_port(true)?;
    // Absorbs bursts while a worker is busy; the kernel caps it at rmem_max, so best effort.
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    sock.bind(&addr.into())?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// What a UDP worker shares with the tasks it hands misses to.
pub(crate) struct WorkerContext {
    pub(crate) engine: Arc<Engine>,
    sock: Arc<UdpSocket>,
    handle: Handle,
    tasks: Arc<Tracker>,
}

impl WorkerContext {
    /// Sends an answer. The socket does not block: if its (4 MiB) send buffer is full the
    /// answer is dropped, and the client asks again.
    pub(crate) fn reply(&self, out: &[u8], peer: SocketAddr) {
        let _ = self.sock.send_to(out, peer);
    }

    /// Completes a miss on a tokio task (the task path), leaving out the first `skip`
    /// upstreams, and replies through this worker's socket.
    pub(crate) fn spawn_task(
        &self,
        pending: Box<Pending>,
        slot: PendingSlot,
        peer: SocketAddr,
        skip: usize,
    ) {
        let engine = self.engine.clone();
        let sock = self.sock.clone();
        let guard = self.tasks.track();
        self.handle.spawn(async move {
            let (out, event) = engine.complete_after(&pending, skip).await;
            let _ = sock.send_to(&out, peer);
            engine.record(event, pending.received);
            drop((slot, guard));
        });
    }
}

struct UdpWorker {
    ctx: WorkerContext,
    stop: Arc<AtomicBool>,
    poll: Poll,
    direct: Direct,
}

impl UdpWorker {
    /// The worker's loop: no executor between the socket and the fast path, which is what
    /// makes cache hits and blocks cheap, and misses asked of the first upstream on sockets
    /// polled here too (see `direct.rs`).
    fn run(mut self) {
        let mut buf = vec![0u8; UDP_BUF];
        let mut out = Vec::with_capacity(4096);
        let mut key = Vec::with_capacity(300);
        let mut events = Events::with_capacity(64);
        let mut listen_ready = false;
        let mut next_expiry = Instant::now() + EXPIRY_TICK;
        while !self.stop.load(Ordering::Acquire) {
            let timeout = if listen_ready {
                Duration::ZERO
            } else if self.direct.is_idle() {
                UDP_POLL
            } else {
                next_expiry.saturating_duration_since(Instant::now())
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::warn!(error = %e, "DNS UDP worker cannot poll its sockets");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for event in events.iter() {
                if event.token() == LISTEN {
                    listen_ready = true;
                } else {
                    self.direct
                        .read(&self.ctx, event.token(), &mut buf, &mut out);
                }
            }
            if listen_ready {
                listen_ready = self.read_queries(&mut buf, &mut out, &mut key);
            }
            let now = Instant::now();
            if now >= next_expiry {
                self.direct.expire(&self.ctx, self.poll.registry(), now);
                next_expiry = now + EXPIRY_TICK;
            }
        }
        // No more answers will be read here: the task path finishes what is waiting.
        self.direct.abandon_all(&self.ctx);
    }

    /// Reads and answers up to [`LISTEN_BATCH`] queries; true if more may be waiting.
    fn read_queries(&mut self, buf: &mut [u8], out: &mut Vec<u8>, key: &mut Vec<u8>) -> bool {
        for _ in 0..LISTEN_BATCH {
            let (n, peer) = match self.ctx.sock.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "DNS UDP receive failed");
                    std::thread::sleep(Duration::from_millis(10));
                    return true;
                }
            };
            let received = Instant::now();
            let packet = buf.get(..n).unwrap_or_default();
            match self
                .ctx
                .engine
                .process(packet, peer.ip(), Transport::Udp, received, out, key)
            {
                Outcome::Drop => {}
                Outcome::Reply(event) => {
                    self.ctx.reply(out, peer);
                    if let Some(event) = event {
                        self.ctx.engine.record(event, received);
                    }
                }
                Outcome::Resolve(pending) => {
                    let Some(slot) = self.ctx.engine.admit(&pending, out) else {
                        self.ctx.reply(out, peer);
                        continue;
                    };
                    self.direct
                        .send(&self.ctx, self.poll.registry(), pending, slot, peer);
                }
            }
        }
        true
    }
}

async fn accept_loop(
    engine: Arc<Engine>,
    listener: TcpListener,
    connections: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    tasks: Arc<Tracker>,
    idle: Duration,
) {
    let _guard = tasks.track();
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => break,
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "DNS TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let guard = tasks.track();
        let conn = Connection {
            engine: engine.clone(),
            peer,
            idle,
            tasks: tasks.clone(),
        };
        let stop = stop.clone();
        tokio::spawn(async move {
            conn.serve(stream, stop).await;
            drop((permit, guard));
        });
    }
}

struct Connection {
    engine: Arc<Engine>,
    peer: SocketAddr,
    idle: Duration,
    tasks: Arc<Tracker>,
}

impl Connection {
    /// Reads length-prefixed queries until idle, closed or shut down; answers go out in the
    /// order they are ready (RFC 7766 allows that), and the connection closes only after every
    /// query read has been answered.
    async fn serve(self, stream: TcpStream, mut stop: watch::Receiver<bool>) {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_PIPELINE);
        let idle = self.idle;
        // A client that stops reading must not hold its connection slot for ever: a write
        // that makes no progress for the idle time ends the writer, and with it the readers'
        // sends.
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                match tokio::time::timeout(idle, wr.write_all(&msg)).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
            }
            let _ = tokio::time::timeout(idle, wr.shutdown()).await;
        });
        let pipeline = Arc::new(Semaphore::new(TCP_PIPELINE));
        let mut key = Vec::with_capacity(300);
        let mut out = Vec::with_capacity(512);
        loop {
            let len = tokio::select! {
                _ = stop.changed() => break,
                r = tokio::time::timeout(self.idle, rd.read_u16()) => match r {
                    Ok(Ok(len)) => usize::from(len),
                    _ => break,
                },
            };
            let mut packet = vec![0u8; len];
            match tokio::time::timeout(self.idle, rd.read_exact(&mut packet)).await {
                Ok(Ok(_)) => {}
                _ => break,
            }
            let received = Instant::now();
            match self.engine.process(
                &packet,
                self.peer.ip(),
                Transport::Tcp,
                received,
                &mut out,
                &mut key,
            ) {
                Outcome::Drop => {}
                Outcome::Reply(event) => {
                    if !send_within(&tx, frame(&out), idle).await {
                        break;
                    }
                    if let Some(event) = event {
                        self.engine.record(event, received);
                    }
                }
                Outcome::Resolve(pending) => {
                    let Some(slot) = self.engine.admit(&pending, &mut out) else {
                        if !send_within(&tx, frame(&out), idle).await {
                            break;
                        }
                        continue;
                    };
                    let Ok(permit) = pipeline.clone().acquire_owned().await else {
                        break;
                    };
                    let engine = self.engine.clone();
                    let tx = tx.clone();
                    let guard = self.tasks.track();
                    tokio::spawn(async move {
                        let (out, event) = engine.complete(&pending).await;
                        send_within(&tx, frame(&out), idle).await;
                        engine.record(event, pending.received);
                        drop((slot, permit, guard));
                    });
                }
            }
        }
        drop(tx);
        let _ = writer.await;
    }
}

/// Queues a response for the writer; false when the connection is gone or stuck.
async fn send_within(tx: &mpsc::Sender<Vec<u8>>, msg: Vec<u8>, limit: Duration) -> bool {
    matches!(tokio::time::timeout(limit, tx.send(msg)).await, Ok(Ok(())))
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg.get(..usize::from(len)).unwrap_or(msg));
    framed
}
