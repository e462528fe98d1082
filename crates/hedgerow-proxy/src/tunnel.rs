//! CONNECT tunnels: decide by host, answer 200, read the ClientHello, then splice the bytes
//! to the origin unseen, terminate TLS with a school certificate and serve the requests
//! inside, or close.
//!
//! Reading the ClientHello before connecting anywhere is what lets the proxy catch a CONNECT
//! host that disagrees with the TLS server name (a way to hide a blocked site behind an
//! allowed one) and hellos that hide their destination with Encrypted Client Hello.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hedgerow_proxy_wire::{
    HelloError, MAX_CLIENT_HELLO, RequestHead, RequestTarget, parse_client_hello,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::Shared;
use crate::conn::{ClientConn, http_loop, send_local};
use crate::hooks::{
    Client, ConnectDecision, ConnectInfo, ProxyHooks, Summary, TunnelDecision, TunnelInfo,
    TunnelStart,
};
use crate::io::{Io, Rewind, read_more, write_all};

const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

pub(crate) async fn handle_connect<H: ProxyHooks>(
    shared: &Arc<Shared<H>>,
    mut conn: ClientConn<TcpStream>,
    client: Client,
    head: RequestHead,
) {
    let started = Instant::now();
    metrics::counter!("hedgerow_proxy_connects_total").increment(1);
    let RequestTarget::Authority { host, port } = &head.target else {
        return;
    };
    let info = ConnectInfo {
        client,
        host,
        port: *port,
        headers: &head.headers,
    };
    let (mut ctx, identity) = match shared.hooks.connect(&info).await {
        ConnectDecision::Respond { ctx, response } => {
            // A refused tunnel may be retried with credentials (407) on the same connection.
            let keep = head.keep_alive() && !response.close && conn.buf.is_empty();
            let _ = send_local(shared, &mut conn.io, &response, keep, false).await;
            if let Some(ctx) = ctx {
                let summary = Summary {
                    status: response.status,
                    duration: started.elapsed(),
                    ..Summary::default()
                };
                shared.hooks.finished(ctx, &summary);
            }
            if keep
                && let crate::conn::LoopEnd::Connect(next) =
                    http_loop(shared, &mut conn, client, None).await
            {
                // Box the recursion: a client may retry CONNECT several times.
                Box::pin(handle_connect(shared, conn, client, next)).await;
            }
            return;
        }
        ConnectDecision::Accept { ctx, identity } => (ctx, identity),
    };
    let mut summary = Summary {
        status: 200,
        ..Summary::default()
    };
    if write_all(&mut conn.io, ESTABLISHED, shared.config.io_timeout)
        .await
        .is_err()
    {
        summary.error = Some("client went away".into());
        summary.duration = started.elapsed();
        shared.hooks.finished(ctx, &summary);
        return;
    }
    let first = read_hello(shared, &mut conn).await;
    if matches!(first, First::Closed) {
        // Nothing to carry: the origin is only ever connected once the client has spoken.
        summary.error = Some("the client closed the tunnel without sending anything".into());
        summary.duration = started.elapsed();
        shared.hooks.finished(ctx, &summary);
        return;
    }
    let sni = match &first {
        First::Hello(hello) => hello.sni.clone(),
        _ => None,
    };
    let tunnel = TunnelInfo {
        host: host.clone(),
        port: *port,
        sni,
        identity,
    };
    let start = match &first {
        First::Hello(hello) => TunnelStart::Hello(hello),
        First::NotTls(e) => TunnelStart::NotTls(e),
        First::Silent | First::Closed => TunnelStart::Silent,
    };
    let decision = shared.hooks.tunnel(&mut ctx, &tunnel, start);
    match decision {
        TunnelDecision::Close => {
            summary.error = Some("closed by policy".into());
        }
        TunnelDecision::Splice => match shared.upstream.tunnel(host, *port).await {
            Err(failure) => summary.error = Some(failure.to_string()),
            Ok(mut origin) => {
                let early = std::mem::take(&mut conn.buf);
                if write_all(&mut origin, &early, shared.config.io_timeout)
                    .await
                    .is_err()
                {
                    summary.error = Some("origin closed at once".into());
                } else {
                    let (up, down, error) =
                        pump(conn.io, origin, shared.config.tunnel_idle_timeout).await;
                    summary.bytes_up = up + early.len() as u64;
                    summary.bytes_down = down;
                    summary.error = error;
                }
            }
        },
        TunnelDecision::Inspect(config) => {
            summary.inspected = true;
            metrics::counter!("hedgerow_proxy_inspected_total").increment(1);
            let early = std::mem::take(&mut conn.buf);
            let stream = Rewind::new(early, conn.io);
            let accept = TlsAcceptor::from(config).accept(stream);
            match tokio::time::timeout(shared.config.io_timeout, accept).await {
                Ok(Ok(tls)) => {
                    let mut inner = ClientConn {
                        io: tls,
                        buf: Vec::with_capacity(4096),
                    };
                    http_loop(shared, &mut inner, client, Some(&tunnel)).await;
                    let _ = inner.io.shutdown().await;
                }
                Ok(Err(e)) => {
                    summary.client_refused_certificate = true;
                    summary.error = Some(format!("the client ended the TLS handshake: {e}"));
                }
                Err(_) => {
                    summary.error = Some("the client's TLS handshake timed out".into());
                }
            }
        }
    }
    summary.duration = started.elapsed();
    shared.hooks.finished(ctx, &summary);
}

enum First {
    Hello(hedgerow_proxy_wire::ClientHello),
    NotTls(HelloError),
    /// Nothing arrived before the deadline.
    Silent,
    /// The client closed its side without sending anything.
    Closed,
}

/// Reads the tunnel's first bytes until they make a ClientHello, prove not to be one, or
/// stop arriving.
async fn read_hello<H>(shared: &Shared<H>, conn: &mut ClientConn<TcpStream>) -> First {
    let deadline = Instant::now() + shared.config.hello_timeout;
    loop {
        if !conn.buf.is_empty() {
            match parse_client_hello(&conn.buf) {
                Ok(Some(hello)) => return First::Hello(hello),
                Ok(None) if conn.buf.len() >= MAX_CLIENT_HELLO => {
                    return First::NotTls(HelloError::TooLarge(conn.buf.len()));
                }
                Ok(None) => {}
                Err(e) => return First::NotTls(e),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match read_more(&mut conn.io, &mut conn.buf, left).await {
            Ok(n) if n > 0 => {}
            Ok(_) if conn.buf.is_empty() => return First::Closed,
            _ if conn.buf.is_empty() => return First::Silent,
            _ => return First::NotTls(HelloError::Truncated("the tunnel's first record")),
        }
    }
}

/// Copies bytes both ways until both sides have finished, or nothing has moved for `idle`.
/// Each direction's end is passed on as a half-close. Returns bytes up, bytes down and what
/// ended the tunnel early, if anything.
async fn pump<A: Io, B: Io>(a: A, b: B, idle: Duration) -> (u64, u64, Option<String>) {
    let started = Instant::now();
    let last = AtomicU64::new(0);
    let (mut a_read, mut a_write) = tokio::io::split(a);
    let (mut b_read, mut b_write) = tokio::io::split(b);
    let up_bytes = AtomicU64::new(0);
    let down_bytes = AtomicU64::new(0);
    let up = async {
        let mut buf = vec![0u8; crate::io::READ_CHUNK];
        loop {
            match a_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    up_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if b_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = b_write.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; crate::io::READ_CHUNK];
        loop {
            match b_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    down_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if a_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = a_write.shutdown().await;
    };
    let watchdog = async {
        let tick = (idle / 4).max(Duration::from_millis(250));
        loop {
            tokio::time::sleep(tick).await;
            let quiet = started.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
            if quiet > idle.as_millis() as u64 {
                return;
            }
        }
    };
    let error = tokio::select! {
        _ = async { tokio::join!(up, down) } => None,
        _ = watchdog => Some("tunnel idle for too long".to_string()),
    };
    (
        up_bytes.load(Ordering::Relaxed),
        down_bytes.load(Ordering::Relaxed),
        error,
    )
}
