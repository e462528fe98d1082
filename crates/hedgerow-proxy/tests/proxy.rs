//! The proxy server against real clients (curl, raw sockets) and a small local origin, with
//! hooks that block one host and answer the proxy's own requests.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hedgerow_proxy::{
    ConnectDecision, ConnectInfo, LocalRequest, LocalResponse, ProxyConfig, ProxyHooks,
    ProxyServer, RequestDecision, RequestInfo, ResponseDecision, Summary, TunnelDecision,
    TunnelInfo, TunnelStart, UpstreamFailure,
};
use hedgerow_proxy_wire::{Host, ResponseHead};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct TestHooks {
    log: Mutex<Vec<String>>,
    /// Each finished exchange's context and page title.
    titles: Mutex<Vec<(String, Option<String>)>>,
}

impl ProxyHooks for TestHooks {
    type Ctx = String;

    async fn request(&self, request: &RequestInfo<'_>) -> RequestDecision<String> {
        let url = format!("{}{}", request.host, request.path_and_query);
        if matches!(request.host, Host::Name(n) if n == "blocked.test") {
            return RequestDecision::Respond {
                ctx: Some(url),
                response: LocalResponse::new(403, "text/html", "<p>blocked by test</p>"),
            };
        }
        RequestDecision::Forward {
            ctx: url,
            rewrite: None,
            set_headers: vec![("X-Test-Added".into(), "yes".into())],
        }
    }

    async fn connect(&self, request: &ConnectInfo<'_>) -> ConnectDecision<String> {
        let ctx = format!("CONNECT {}:{}", request.host, request.port);
        if matches!(request.host, Host::Name(n) if n == "blocked.test") {
            return ConnectDecision::Respond {
                ctx: Some(ctx),
                response: LocalResponse::text(403, "no").with_header("X-Reason", "test block"),
            };
        }
        ConnectDecision::Accept {
            ctx,
            identity: None,
        }
    }

    fn tunnel(&self, _: &mut String, _: &TunnelInfo, start: TunnelStart<'_>) -> TunnelDecision {
        match start {
            TunnelStart::NotTls(_) => TunnelDecision::Splice,
            _ => TunnelDecision::Close,
        }
    }

    fn response(&self, _: &mut String, head: &ResponseHead) -> ResponseDecision {
        if head.header("content-type") == Some(b"application/x-msdownload") {
            return ResponseDecision::Replace(LocalResponse::text(403, "no downloads"));
        }
        ResponseDecision::Continue {
            max_body: None,
            read_title: true,
        }
    }

    fn upstream_failed(&self, _: &mut String, failure: &UpstreamFailure) -> LocalResponse {
        LocalResponse::text(502, failure.to_string())
    }

    async fn local(&self, request: &LocalRequest<'_>) -> LocalResponse {
        LocalResponse::text(
            200,
            format!(
                "local {} {} {}",
                request.method,
                request.path_and_query,
                String::from_utf8_lossy(request.body)
            ),
        )
    }

    fn finished(&self, ctx: String, summary: &Summary) {
        self.titles
            .lock()
            .unwrap()
            .push((ctx.clone(), summary.page_title.clone()));
        self.log
            .lock()
            .unwrap()
            .push(format!("{ctx} {} {}", summary.status, summary.bytes_down));
    }
}

/// A tiny HTTP/1.1 origin: echoes the request head in the body; `/chunked` answers chunked,
/// `/exe` answers with an executable's content type; any other port echoes raw bytes.
async fn start_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break pos + 4;
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body =
                        String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
                    buf.drain(..head_end + length);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let reply = if path == "/chunked" {
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_string()
                    } else if let Some(reply) = page_reply(&path) {
                        reply
                    } else if path == "/exe" {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/x-msdownload\r\nContent-Length: 2\r\n\r\nMZ".to_string()
                    } else {
                        let text = format!("{head}BODY:{body}");
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                            text.len()
                        )
                    };
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The page bodies the origin serves for the title tests, by path.
fn page_reply(path: &str) -> Option<String> {
    let page = "<html><head><title>Fish &amp; chips</title></head><body>menu</body></html>";
    let fixed = |headers: &str, body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    Some(match path {
        "/page" => fixed("Content-Type: text/html; charset=utf-8\r\n", page),
        "/page-identity" => fixed(
            "Content-Type: TEXT/HTML\r\nContent-Encoding: identity\r\n",
            page,
        ),
        "/page-gzip" => fixed(
            "Content-Type: text/html\r\nContent-Encoding: gzip\r\n",
            page,
        ),
        "/page-text" => fixed("Content-Type: text/plain\r\n", page),
        "/page-chunked" => {
            let mut reply =
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_string();
            for part in [
                "<html><head><ti",
                "tle>Split ",
                "across chunks</ti",
                "tle></head>",
            ] {
                reply.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
            }
            reply.push_str("0\r\n\r\n");
            reply
        }
        "/page-huge-head" => {
            // A head of 1 MB of meta tags and no title: the proxy must look at 64 KiB at most.
            let mut body = String::from("<html><head>");
            while body.len() < 1_000_000 {
                body.push_str("<meta name=\"filler\" content=\"nothing to see here\">");
            }
            body.push_str("<title>Too late</title></head><body>end</body></html>");
            fixed("Content-Type: text/html\r\n", &body)
        }
        _ => return None,
    })
}

async fn start_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn start_proxy(origin_names: &[&str], origin: SocketAddr) -> (ProxyServer, Arc<TestHooks>) {
    start_proxy_with(origin_names, origin, |_| {}).await
}

async fn start_proxy_with(
    origin_names: &[&str],
    origin: SocketAddr,
    adjust: impl FnOnce(&mut ProxyConfig),
) -> (ProxyServer, Arc<TestHooks>) {
    let mut config = ProxyConfig::new(vec!["127.0.0.1:0".parse().unwrap()]);
    adjust(&mut config);
    for name in origin_names {
        config.hosts.insert(name.to_string(), vec![origin.ip()]);
    }
    config
        .hosts
        .insert("blocked.test".into(), vec![origin.ip()]);
    config.limits.max_head = 8 * 1024;
    config.limits.max_header_line = 4 * 1024;
    let hooks = Arc::new(TestHooks::default());
    let server = ProxyServer::start(config, Arc::clone(&hooks))
        .await
        .unwrap();
    (server, hooks)
}

async fn curl(args: Vec<String>) -> (String, String) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-s", "-S", "--max-time", "10"])
            .args(&args)
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    (
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_decides_and_keeps_connections() {
    let origin = start_origin().await;
    let (server, hooks) = start_proxy(&["site.test"], origin).await;
    let proxy = server.local_addrs()[0];
    let port = origin.port();

    // Two requests in one curl run: the second reuses the client connection.
    let (out, err) = curl(vec![
        "-x".into(),
        format!("http://{proxy}"),
        "-w".into(),
        "\n%{num_connects}\n".into(),
        format!("http://site.test:{port}/a?x=1"),
        format!("http://site.test:{port}/b"),
    ])
    .await;
    assert!(out.contains("GET /a?x=1 HTTP/1.1"), "{out} {err}");
    assert!(out.contains("GET /b HTTP/1.1"), "{out}");
    assert!(
        out.contains("x-test-added: yes") || out.contains("X-Test-Added: yes"),
        "{out}"
    );
    assert!(out.contains("Via: 1.1 hedgerow"), "{out}");
    assert!(
        !out.to_ascii_lowercase().contains("proxy-connection"),
        "{out}"
    );
    let connects: Vec<&str> = out.lines().filter(|l| *l == "0" || *l == "1").collect();
    assert_eq!(
        connects,
        ["1", "0"],
        "second request reused the connection: {out}"
    );

    // Blocked by the hooks.
    let (out, _) = curl(vec![
        "-x".into(),
        format!("http://{proxy}"),
        "-w".into(),
        "%{http_code}".into(),
        format!("http://blocked.test:{port}/"),
    ])
    .await;
    assert_eq!(out, "<p>blocked by test</p>403");

    // A POST body reaches the origin.
    let (out, _) = curl(vec![
        "-x".into(),
        format!("http://{proxy}"),
        "--data".into(),
        "a=1&b=2".into(),
        format!("http://site.test:{port}/form"),
    ])
    .await;
    assert!(out.ends_with("BODY:a=1&b=2"), "{out}");

    // A client that waits for 100 Continue (curl does for larger bodies) is not kept waiting.
    let (out, err) = curl(vec![
        "-v".into(),
        "-x".into(),
        format!("http://{proxy}"),
        "-H".into(),
        "Expect: 100-continue".into(),
        "--data".into(),
        "x".repeat(2000),
        format!("http://site.test:{port}/upload"),
    ])
    .await;
    assert!(out.ends_with(&"x".repeat(2000)), "{out}");
    assert!(!out.to_ascii_lowercase().contains("expect:"), "{out}");
    assert!(err.contains("< HTTP/1.1 100 Continue"), "{err}");

    // Chunked responses pass through whole.
    let (out, _) = curl(vec![
        "-x".into(),
        format!("http://{proxy}"),
        format!("http://site.test:{port}/chunked"),
    ])
    .await;
    assert_eq!(out, "hello world");

    // The response hook can replace a download.
    let (out, _) = curl(vec![
        "-x".into(),
        format!("http://{proxy}"),
        "-w".into(),
        " %{http_code}".into(),
        format!("http://site.test:{port}/exe"),
    ])
    .await;
    assert_eq!(out, "no downloads\n 403");

    // Requests for the proxy itself.
    let (out, _) = curl(vec![format!("http://{proxy}/proxy.pac")]).await;
    assert_eq!(out, "local GET /proxy.pac \n");

    // An origin that cannot be reached gets the hooks' page.
    let (out, _) = curl(vec![
        "-x".into(),
        format!("http://{proxy}"),
        "-w".into(),
        " %{http_code}".into(),
        "http://127.0.0.1:1/".into(),
    ])
    .await;
    assert!(
        out.contains("could not be reached") && out.ends_with("502"),
        "{out}"
    );

    let log = hooks.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|l| l.starts_with("blocked.test/ 403")),
        "{log:?}"
    );
    server.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_tunnels_and_refusals() {
    let echo = start_echo().await;
    let (server, hooks) = start_proxy(&["echo.test"], echo).await;
    let proxy = server.local_addrs()[0];

    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let request = format!(
        "CONNECT echo.test:{} HTTP/1.1\r\nHost: echo.test\r\n\r\n",
        echo.port()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Not TLS: the test hooks splice it, and the echo answers.
    stream.write_all(b"SSH-2.0-test\r\n").await.unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"SSH-2.0-test\r\n");
    drop(stream);

    // Refused: 403 with the reason in a header, and the connection stays usable.
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(b"CONNECT blocked.test:443 HTTP/1.1\r\nHost: blocked.test:443\r\n\r\n")
        .await
        .unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        text.starts_with("HTTP/1.1 403") && text.contains("X-Reason: test block"),
        "{text}"
    );

    // A head that is too large is refused with 431 and the proxy keeps serving.
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let huge = format!(
        "GET http://echo.test/ HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(5000)
    );
    stream.write_all(huge.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all).await;
    assert!(
        all.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&all)
    );

    // Garbage gets 400.
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(b"\x16\x03\x01garbage\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all).await;
    assert!(
        all.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&all)
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = hooks.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.starts_with("CONNECT blocked.test:443 403")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("CONNECT echo.test:{} 200", echo.port()))),
        "{log:?}"
    );
    server.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_time_out_and_half_closed_tunnels_finish() {
    let echo = start_echo().await;
    let (server, hooks) = start_proxy_with(&["echo.test"], echo, |config| {
        config.header_timeout = Duration::from_millis(300);
    })
    .await;
    let proxy = server.local_addrs()[0];

    // A client that starts a request and never finishes it gets 408, not a stuck connection.
    let mut slow = TcpStream::connect(proxy).await.unwrap();
    slow.write_all(b"GET http://echo.test/ HTTP/1.1\r\nHost: ech")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer))
        .await
        .expect("the proxy answers a slow client")
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A tunnel whose client stops sending (half-close) still gets the rest of the answer.
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    let request = format!(
        "CONNECT echo.test:{} HTTP/1.1\r\nHost: echo.test\r\n\r\n",
        echo.port()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    stream.write_all(b"not tls, then goodbye").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut echoed))
        .await
        .expect("the tunnel ends once both sides have finished")
        .unwrap();
    assert_eq!(echoed, b"not tls, then goodbye");

    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = hooks.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("CONNECT echo.test:{} 200 21", echo.port()))),
        "{log:?}"
    );
    server.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_titles_are_read_from_plain_html_only() {
    let origin = start_origin().await;
    let (server, hooks) = start_proxy(&["site.test"], origin).await;
    let proxy = server.local_addrs()[0];
    let port = origin.port();
    let page = "<html><head><title>Fish &amp; chips</title></head><body>menu</body></html>";
    let paths = [
        "/page",
        "/page-identity",
        "/page-gzip",
        "/page-text",
        "/page-chunked",
        "/page-huge-head",
    ];
    let mut args = vec!["-x".to_string(), format!("http://{proxy}")];
    for path in paths {
        args.push("-o".into());
        args.push("/dev/null".into());
        args.push(format!("http://site.test:{port}{path}"));
    }
    let (_, err) = curl(args).await;
    assert!(err.is_empty(), "{err}");

    // The body is forwarded unchanged, whether or not its title was read.
    for path in ["/page", "/page-gzip"] {
        let (out, _) = curl(vec![
            "-x".into(),
            format!("http://{proxy}"),
            format!("http://site.test:{port}{path}"),
        ])
        .await;
        assert_eq!(out, page, "{path}");
    }
    let (out, _) = curl(vec![
        "-x".into(),
        format!("http://{proxy}"),
        "-w".into(),
        "%{size_download}".into(),
        "-o".into(),
        "/dev/null".into(),
        format!("http://site.test:{port}/page-huge-head"),
    ])
    .await;
    let expected = page_reply("/page-huge-head").unwrap();
    let body_len = expected.len() - expected.find("\r\n\r\n").unwrap() - 4;
    assert_eq!(out, body_len.to_string());

    let titles = hooks.titles.lock().unwrap().clone();
    let title_of = |path: &str| {
        let wanted = format!("site.test{path}");
        titles
            .iter()
            .find(|(ctx, _)| *ctx == wanted)
            .unwrap_or_else(|| panic!("no exchange for {path} in {titles:?}"))
            .1
            .clone()
    };
    assert_eq!(title_of("/page").as_deref(), Some("Fish & chips"));
    assert_eq!(title_of("/page-identity").as_deref(), Some("Fish & chips"));
    assert_eq!(
        title_of("/page-gzip"),
        None,
        "compressed bodies are not read"
    );
    assert_eq!(title_of("/page-text"), None, "only HTML is read");
    assert_eq!(
        title_of("/page-chunked").as_deref(),
        Some("Split across chunks")
    );
    assert_eq!(title_of("/page-huge-head"), None, "gave up after 64 KiB");
    server.shutdown(Duration::from_secs(1)).await;
}
