//! `connect-load`: bounded CONNECT (or plain HTTP) load through a forward proxy.
//!
//! A drop-in for the shared harness's `connect_load.py` (`../shared/bench/peers`), with the same
//! options (`--proxy --port --hosts -c -d --timeout`), the same work per tunnel and the same one
//! summary line, so `proxy_bench.sh`'s parsing works unchanged:
//!
//! ```text
//! CONNECT n=27638 rate=2762.7 p50_ms=11.531 p99_ms=12.987 STATUS 200=20729 302=6909
//! ```
//!
//! Each of `-c` workers starts at line `k * 7919 % len` of the target file and, until `-d`
//! seconds have passed, takes the next line, opens a TCP connection to the proxy, sends
//! `CONNECT host:port HTTP/1.1` (with `Host` and `User-Agent: bench-connect`), reads the status
//! line and headers, and closes. Every attempt counts, failures included, under its status
//! code or `err:KIND` (Python's exception names: `TimeoutError`, `ConnectionRefusedError`, ...);
//! a connection closed before any status line counts as `0`, as in the Python. The rate is
//! attempts over the whole run, in-flight attempts at the deadline included; the latency
//! percentiles are taken the same way (`sorted[min(n-1, floor(n*q))]`).
//!
//! Beyond the Python: `--tls --insecure` also does a TLS handshake inside every established
//! tunnel (SNI = the CONNECT host; no session resumption, so each is a new TLS session — for a
//! TLS-inspecting proxy, a new inspected session), and `--http` sends absolute-form GETs for
//! the URLs of the file over keep-alive connections instead (prefix `HTTP`, like wrk with
//! `urls.lua`). `--threads N` runs N single-threaded runtimes, each with its share of the
//! workers; `--multi-thread` uses one work-stealing runtime with N workers instead.
//!
//! `--http --rate R` is an open-loop load instead (as wrk2's `-R`): the workers send R requests a
//! second between them on a fixed schedule (worker `k`'s `j`-th request at `(k + j*c) / R`
//! seconds), whatever the answers do, so the percentiles are latencies *at that load*, not at
//! saturation. A request sent late because its worker was still waiting for the previous
//! answer is timed from when it was due (so a stall is not hidden by the requests it delayed);
//! one sent late only because the timer woke late is timed from when it was sent.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(clap::Args, Debug, Clone)]
pub struct ConnectLoadArgs {
    /// The proxy's address: loopback only, as connect_load.py.
    #[arg(long, default_value = "127.0.0.1")]
    proxy: String,
    /// The proxy's port.
    #[arg(long)]
    port: u16,
    /// Targets: one `host:port` per line (blank lines skipped); absolute URLs with --http.
    #[arg(long)]
    hosts: PathBuf,
    /// Concurrent connections.
    #[arg(short = 'c', long = "concurrency", default_value_t = 32)]
    concurrency: usize,
    /// Seconds to keep starting new attempts.
    #[arg(short = 'd', long = "duration", default_value_t = 10.0)]
    duration: f64,
    /// Seconds allowed for the connection and for each read.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// After a 2xx answer, do a TLS handshake inside the tunnel (needs --insecure).
    #[arg(long)]
    tls: bool,
    /// Accept any server certificate in --tls handshakes (this tool only measures).
    #[arg(long)]
    insecure: bool,
    /// Plain HTTP: GET each line's absolute URL through the proxy on keep-alive connections.
    #[arg(long, conflicts_with = "tls")]
    http: bool,
    /// With --http: count a response whose body does not start with this under `STATUS*`
    /// (as urls.lua does with the harness origin's `<html><body>xxxxxxxxxx`).
    #[arg(long, requires = "http")]
    origin_marker: Option<String>,
    /// Threads, each running a single-threaded runtime with its share of the workers.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Use one multi-threaded (work-stealing) runtime with --threads workers instead.
    #[arg(long)]
    multi_thread: bool,
    /// With --http: send this many requests a second in all, on a fixed schedule (open loop).
    #[arg(long, requires = "http")]
    rate: Option<f64>,
    /// Also print the summary as one JSON object on a second line.
    #[arg(long)]
    json: bool,
}

/// What one worker measured.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    counts: HashMap<String, u64>,
    tls_ok: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
        self.tls_ok += other.tls_ok;
    }
}

/// Everything the workers share.
struct Plan {
    proxy: SocketAddr,
    /// The request bytes for each target, built once.
    requests: Vec<Vec<u8>>,
    /// The TLS server name for each target (--tls).
    server_names: Vec<Option<rustls::pki_types::ServerName<'static>>>,
    tls: Option<tokio_rustls::TlsConnector>,
    http: bool,
    origin_marker: Option<Vec<u8>>,
    timeout: Duration,
    start: Instant,
    end: Instant,
    /// --rate: requests a second in all, and the number of workers sharing them.
    rate: Option<(f64, usize)>,
}

pub fn run(args: ConnectLoadArgs) -> anyhow::Result<()> {
    if !matches!(args.proxy.as_str(), "127.0.0.1" | "::1" | "localhost") {
        bail!(
            "--proxy must be a loopback address (127.0.0.1, ::1 or localhost), as in connect_load.py"
        );
    }
    if args.tls && !args.insecure {
        bail!("--tls needs --insecure: this tool has no trust store and accepts any certificate");
    }
    if args.concurrency == 0 || args.threads == 0 {
        bail!("-c and --threads must be at least 1");
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of requests a second, not {rate}");
    }
    let proxy = (args.proxy.as_str(), args.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", args.proxy))?
        .next()
        .context("the proxy address resolved to nothing")?;
    let text = std::fs::read_to_string(&args.hosts)
        .with_context(|| format!("reading {}", args.hosts.display()))?;
    let targets: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if targets.is_empty() {
        bail!("{} holds no targets", args.hosts.display());
    }
    let requests = targets
        .iter()
        .map(|t| {
            if args.http {
                let host = url_host(t).with_context(|| format!("not an absolute http URL: {t}"))?;
                Ok(
                    format!(
                        "GET {t} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench-connect\r\n\r\n"
                    )
                    .into_bytes(),
                )
            } else {
                Ok(format!(
                    "CONNECT {t} HTTP/1.1\r\nHost: {t}\r\nUser-Agent: bench-connect\r\n\r\n"
                )
                .into_bytes())
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let server_names = targets
        .iter()
        .map(|t| {
            if !args.tls {
                return None;
            }
            let host = strip_port(t).trim_start_matches('[').trim_end_matches(']');
            rustls::pki_types::ServerName::try_from(host.to_string()).ok()
        })
        .collect();
    let tls = args.tls.then(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(insecure::AcceptAnyServerCertificate::new(
                provider,
            )))
            .with_no_client_auth();
        // Every handshake a full one: a new TLS session, as a new browser connection would be.
        config.resumption = rustls::client::Resumption::disabled();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    });

    let started = Instant::now();
    let plan = Arc::new(Plan {
        proxy,
        requests,
        server_names,
        tls,
        http: args.http,
        origin_marker: args.origin_marker.map(String::into_bytes),
        timeout: Duration::from_secs_f64(args.timeout),
        start: started,
        end: started + Duration::from_secs_f64(args.duration),
        rate: args.rate.map(|r| (r, args.concurrency)),
    });
    let workers = args.concurrency;
    let mut total = Tally::default();
    if args.multi_thread {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?;
        total = runtime.block_on(async {
            let handles: Vec<_> = (0..workers)
                .map(|k| tokio::spawn(worker(k, plan.clone())))
                .collect();
            let mut total = Tally::default();
            for h in handles {
                total.merge(h.await.expect("worker panicked"));
            }
            total
        });
    } else {
        let threads: Vec<_> = (0..args.threads.min(workers))
            .map(|t| {
                let plan = plan.clone();
                let mine: Vec<usize> = (0..workers).filter(|k| k % args.threads == t).collect();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a tokio runtime");
                    runtime.block_on(async move {
                        let local = tokio::task::LocalSet::new();
                        local
                            .run_until(async move {
                                let handles: Vec<_> = mine
                                    .into_iter()
                                    .map(|k| tokio::task::spawn_local(worker(k, plan.clone())))
                                    .collect();
                                let mut total = Tally::default();
                                for h in handles {
                                    total.merge(h.await.expect("worker panicked"));
                                }
                                total
                            })
                            .await
                    })
                })
            })
            .collect();
        for t in threads {
            total.merge(t.join().expect("load thread panicked"));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    print_summary(
        &total,
        elapsed,
        &args_label(args.http),
        args.tls,
        args.rate.is_some(),
        args.json,
    );
    Ok(())
}

fn args_label(http: bool) -> String {
    if http { "HTTP" } else { "CONNECT" }.to_string()
}

fn print_summary(total: &Tally, elapsed: f64, label: &str, tls: bool, open_loop: bool, json: bool) {
    let mut lats = total.latencies.clone();
    lats.sort_unstable();
    let n = lats.len();
    let pct = |q: f64| -> Option<f64> {
        (n > 0).then(|| lats[(n - 1).min((n as f64 * q) as usize)].as_secs_f64() * 1000.0)
    };
    let fmt = |v: Option<f64>| v.map_or("nan".to_string(), |v| format!("{v:.3}"));
    let mut keys: Vec<(&String, &u64)> = total.counts.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    let hist: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let rate = n as f64 / elapsed;
    let tls_part = if tls {
        format!(
            " tls_ok={} tls_rate={:.1}",
            total.tls_ok,
            total.tls_ok as f64 / elapsed
        )
    } else {
        String::new()
    };
    // At a fixed rate the tail is the point, so p99.9 too (after p99: the harness's parsing of
    // the other fields is unchanged).
    let tail = if open_loop {
        format!(" p999_ms={}", fmt(pct(0.999)))
    } else {
        String::new()
    };
    println!(
        "{label} n={n} rate={rate:.1} p50_ms={} p99_ms={}{tail}{tls_part} STATUS {}",
        fmt(pct(0.5)),
        fmt(pct(0.99)),
        hist.join(" ")
    );
    if json {
        let status: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|(k, v)| ((*k).clone(), serde_json::json!(v)))
            .collect();
        let mut out = serde_json::json!({
            "kind": label.to_ascii_lowercase(),
            "n": n,
            "elapsed_s": elapsed,
            "rate": rate,
            "p50_ms": pct(0.5),
            "p90_ms": pct(0.9),
            "p99_ms": pct(0.99),
            "p999_ms": pct(0.999),
            "status": status,
        });
        if tls {
            out["tls_ok"] = serde_json::json!(total.tls_ok);
            out["tls_rate"] = serde_json::json!(total.tls_ok as f64 / elapsed);
        }
        println!("{out}");
    }
}

async fn worker(k: usize, plan: Arc<Plan>) -> Tally {
    let len = plan.requests.len();
    let mut i = k * 7919 % len;
    let mut tally = Tally::default();
    // --http keeps its connection to the proxy between requests.
    let mut kept: Option<HttpConn> = None;
    let mut sent = 0_u64;
    let mut last_done = plan.start;
    while Instant::now() < plan.end {
        i = (i + 1) % len;
        let mut t = Instant::now();
        if let Some((rate, workers)) = plan.rate {
            let due = plan.start
                + Duration::from_secs_f64((k as f64 + sent as f64 * workers as f64) / rate);
            sent += 1;
            if due >= plan.end {
                break;
            }
            if last_done > due {
                // Still busy with the previous request when this one was due.
                t = due;
            } else {
                tokio::time::sleep_until(due.into()).await;
                t = Instant::now();
            }
        }
        let key = if plan.http {
            http_once(&plan, i, &mut kept).await
        } else {
            let (key, tls_ok) = connect_once(&plan, i).await;
            tally.tls_ok += u64::from(tls_ok);
            key
        };
        tally.latencies.push(t.elapsed());
        last_done = Instant::now();
        *tally.counts.entry(key).or_default() += 1;
    }
    tally
}

/// Python's exception name for an I/O error, as connect_load.py reports it.
fn error_key(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let name = match e.kind() {
        ConnectionRefused => "ConnectionRefusedError",
        ConnectionReset => "ConnectionResetError",
        ConnectionAborted => "ConnectionAbortedError",
        BrokenPipe => "BrokenPipeError",
        TimedOut => "TimeoutError",
        _ => "OSError",
    };
    format!("err:{name}")
}

const TIMEOUT_KEY: &str = "err:TimeoutError";

async fn connect_proxy(plan: &Plan) -> Result<TcpStream, String> {
    match tokio::time::timeout(plan.timeout, TcpStream::connect(plan.proxy)).await {
        Err(_) => Err(TIMEOUT_KEY.to_string()),
        Ok(Err(e)) => Err(error_key(&e)),
        Ok(Ok(stream)) => {
            // asyncio streams set TCP_NODELAY too.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// One CONNECT: the histogram key, and whether a --tls handshake succeeded.
async fn connect_once(plan: &Plan, i: usize) -> (String, bool) {
    let mut stream = match connect_proxy(plan).await {
        Ok(s) => s,
        Err(key) => return (key, false),
    };
    if let Err(e) = stream.write_all(&plan.requests[i]).await {
        return (error_key(&e), false);
    }
    let code = match read_status_and_headers(&mut stream, plan.timeout).await {
        Ok(code) => code,
        Err(key) => return (key, false),
    };
    let key = code.to_string();
    let Some(tls) = plan.tls.as_ref().filter(|_| (200..300).contains(&code)) else {
        return (key, false);
    };
    let Some(name) = plan.server_names[i].clone() else {
        return ("tls-err:BadServerName".to_string(), false);
    };
    match tokio::time::timeout(plan.timeout, tls.connect(name, stream)).await {
        Err(_) => ("tls-err:Timeout".to_string(), false),
        Ok(Err(e)) => {
            let kind = e
                .get_ref()
                .map(|inner| inner.to_string())
                .unwrap_or_else(|| format!("{:?}", e.kind()));
            let kind: String = kind
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(40)
                .collect();
            (format!("tls-err:{kind}"), false)
        }
        Ok(Ok(_tls)) => (key, true),
    }
}

/// Reads the status line and header lines as connect_load.py does (`readline` until an empty
/// line or EOF) and returns the status code (0 when the connection closed first).
async fn read_status_and_headers(stream: &mut TcpStream, timeout: Duration) -> Result<i64, String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    let mut status_line: Option<Vec<u8>> = None;
    let mut pos = 0; // start of the next unread line in buf
    loop {
        // Consume every complete line in the buffer.
        while let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') {
            let line = &buf[pos..pos + nl + 1];
            pos += nl + 1;
            match &status_line {
                None => status_line = Some(line.to_vec()),
                Some(_) => {
                    if line == b"\r\n" || line == b"\n" {
                        return parse_code(status_line.as_deref().unwrap_or_default());
                    }
                }
            }
        }
        let n = match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
            Err(_) => return Err(TIMEOUT_KEY.to_string()),
            Ok(Err(e)) => return Err(error_key(&e)),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            // EOF: Python's readline returns what is left (maybe nothing), and an empty read
            // ends the header loop.
            let line = match status_line {
                Some(line) => line,
                None => buf[pos..].to_vec(),
            };
            return parse_code(&line);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `int(line.split()[1])`, or 0 when there is no second word.
fn parse_code(line: &[u8]) -> Result<i64, String> {
    let mut words = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let _version = words.next();
    match words.next() {
        None => Ok(0),
        Some(word) => std::str::from_utf8(word)
            .ok()
            .map(|w| w.replace('_', ""))
            .and_then(|w| w.parse::<i64>().ok())
            .ok_or_else(|| "err:ValueError".to_string()),
    }
}

/// A keep-alive connection to the proxy with its read buffer (--http).
struct HttpConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One absolute-form GET on the kept connection (reconnecting when the proxy closed it).
async fn http_once(plan: &Plan, i: usize, kept: &mut Option<HttpConn>) -> String {
    for attempt in 0..2 {
        let reused = kept.is_some();
        let mut conn = match kept.take() {
            Some(conn) => conn,
            None => match connect_proxy(plan).await {
                Ok(stream) => HttpConn {
                    stream,
                    buf: Vec::new(),
                },
                Err(key) => return key,
            },
        };
        if let Err(e) = conn.stream.write_all(&plan.requests[i]).await {
            if reused && attempt == 0 {
                continue; // the proxy had closed the idle connection: retry on a new one
            }
            return error_key(&e);
        }
        match read_http_response(&mut conn, plan).await {
            Ok((status, body_ok, keep)) => {
                if keep {
                    *kept = Some(conn);
                }
                return if body_ok {
                    status.to_string()
                } else {
                    format!("{status}*")
                };
            }
            Err(key) if reused && attempt == 0 && key == "closed" => continue,
            Err(key) if key == "closed" => return "0".to_string(),
            Err(key) => return key,
        }
    }
    "0".to_string()
}

/// Reads one response: (status, body starts with the origin marker, connection reusable).
async fn read_http_response(conn: &mut HttpConn, plan: &Plan) -> Result<(u16, bool, bool), String> {
    let head_end = loop {
        if let Some(p) = conn.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if !fill(conn, plan.timeout).await? {
            return Err("closed".to_string());
        }
    };
    let head = String::from_utf8_lossy(&conn.buf[..head_end]).into_owned();
    conn.buf.drain(..head_end);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "err:ValueError".to_string())?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = status_line.starts_with("HTTP/1.0");
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok(),
            "transfer-encoding" => chunked = value.contains("chunked"),
            "connection" | "proxy-connection" => {
                if value.contains("close") {
                    close = true;
                } else if value.contains("keep-alive") {
                    close = false;
                }
            }
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let line = read_line(conn, plan.timeout).await?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "err:ValueError".to_string())?;
            if size == 0 {
                while !read_line(conn, plan.timeout).await?.is_empty() {}
                break;
            }
            while conn.buf.len() < size + 2 {
                if !fill(conn, plan.timeout).await? {
                    return Err("err:IncompleteReadError".to_string());
                }
            }
            if body.len() < 64 {
                body.extend_from_slice(&conn.buf[..size.min(64)]);
            }
            conn.buf.drain(..size + 2);
        }
    } else if let Some(n) = length {
        while conn.buf.len() < n {
            if !fill(conn, plan.timeout).await? {
                return Err("err:IncompleteReadError".to_string());
            }
        }
        body.extend_from_slice(&conn.buf[..n.min(64)]);
        conn.buf.drain(..n);
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        // Delimited by the close.
        while fill(conn, plan.timeout).await? {}
        body = conn.buf[..conn.buf.len().min(64)].to_vec();
        conn.buf.clear();
        close = true;
    }
    let body_ok = plan
        .origin_marker
        .as_ref()
        .is_none_or(|m| body.starts_with(m));
    Ok((status, body_ok, !close))
}

async fn fill(conn: &mut HttpConn, timeout: Duration) -> Result<bool, String> {
    let mut chunk = [0u8; 16 * 1024];
    match tokio::time::timeout(timeout, conn.stream.read(&mut chunk)).await {
        Err(_) => Err(TIMEOUT_KEY.to_string()),
        Ok(Err(e)) => Err(error_key(&e)),
        Ok(Ok(0)) => Ok(false),
        Ok(Ok(n)) => {
            conn.buf.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
    }
}

async fn read_line(conn: &mut HttpConn, timeout: Duration) -> Result<String, String> {
    loop {
        if let Some(p) = conn.buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&conn.buf[..p]).into_owned();
            conn.buf.drain(..p + 2);
            return Ok(line);
        }
        if !fill(conn, timeout).await? {
            return Err("err:IncompleteReadError".to_string());
        }
    }
}

/// `host[:port]` of an absolute http URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("http://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}

fn strip_port(target: &str) -> &str {
    if target.starts_with('[') {
        return target
            .split_once(']')
            .map_or(target, |(h, _)| &target[..h.len() + 1]);
    }
    match target.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => target,
    }
}

/// Certificate verification that accepts anything: for measuring a proxy's TLS handshake rate
/// only. Signatures are still checked (that is part of the work a real client does); the
/// certificate chain and name are not.
mod insecure {
    use std::sync::Arc;

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    pub struct AcceptAnyServerCertificate(Arc<CryptoProvider>);

    impl AcceptAnyServerCertificate {
        pub fn new(provider: Arc<CryptoProvider>) -> Self {
            AcceptAnyServerCertificate(provider)
        }
    }

    impl ServerCertVerifier for AcceptAnyServerCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_parsed_as_connect_load_py_does() {
        assert_eq!(
            parse_code(b"HTTP/1.1 200 Connection established\r\n"),
            Ok(200)
        );
        assert_eq!(parse_code(b"HTTP/1.0 302 Found\n"), Ok(302));
        assert_eq!(parse_code(b""), Ok(0));
        assert_eq!(parse_code(b"HTTP/1.1\r\n"), Ok(0));
        assert_eq!(
            parse_code(b"HTTP/1.1 abc\r\n"),
            Err("err:ValueError".into())
        );
    }

    #[test]
    fn hosts_and_urls() {
        assert_eq!(strip_port("www.example.com:443"), "www.example.com");
        assert_eq!(strip_port("[::1]:443"), "[::1]");
        assert_eq!(
            url_host("http://a.example:8080/x?y"),
            Some("a.example:8080")
        );
        assert_eq!(url_host("https://a.example/"), None);
    }
}
