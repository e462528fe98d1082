//! The web proxy's test support on its own, without the proxy: the test origin (HTTP, HTTPS
//! with its test CA, keep-alive, chunked bodies), the parent proxy stand-in, the hosts-file
//! writer, and a real chromium driven through chromedriver (trusting the test CA or not,
//! filling and submitting a form, downloading a file), leaving no process behind.

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::process::Command;
use std::time::Duration;

use support::browser::{self, Browser, BrowserOptions};
use support::origin::{ConnectMode, TestOrigin, TestParentProxy, hosts_file};

const ORIGIN_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 60);

/// Sends raw bytes on one connection and reads one response.
fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).unwrap();
    read_response(stream)
}

/// Reads one response with a Content-Length body.
fn read_response(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + length {
                return String::from_utf8_lossy(&buf[..end + 4 + length]).into_owned();
            }
        }
        let n = stream.read(&mut chunk).unwrap();
        if n == 0 {
            return String::from_utf8_lossy(&buf).into_owned();
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn origin_serves_http_with_keep_alive_and_request_bodies() {
    let origin = TestOrigin::start(ORIGIN_IP);
    let mut stream = TcpStream::connect(origin.http_addr()).unwrap();

    let first = exchange(
        &mut stream,
        b"GET /some/page?x=1 HTTP/1.1\r\nHost: safe.example\r\nUser-Agent: selftest\r\n\r\n",
    );
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(
        first.ends_with(
            "<html><head><title>Origin safe.example</title></head><body>origin page for safe.example/some/page?x=1</body></html>"
        ),
        "{first}"
    );

    // The same connection: a chunked POST.
    let second = exchange(
        &mut stream,
        b"POST /search HTTP/1.1\r\nHost: search.example:8080\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nq=ca\r\n6\r\nts+%26\r\n0\r\n\r\n",
    );
    assert!(
        second.contains("<title>Results for cats &amp;</title>"),
        "{second}"
    );

    // And a Content-Length body, asking to close.
    let third = exchange(
        &mut stream,
        b"PUT /upload HTTP/1.1\r\nHost: safe.example\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert!(third.contains("Connection: close"), "{third}");
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0, "closed after");

    let requests = origin.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/some/page?x=1");
    assert_eq!(requests[0].host.as_deref(), Some("safe.example"));
    assert_eq!(requests[0].header("user-agent"), Some("selftest"));
    assert_eq!(requests[0].scheme, "http");
    assert_eq!(requests[1].body, b"q=cats+%26");
    assert_eq!(requests[1].host_name(), Some("search.example"));
    assert_eq!(requests[1].on_connection, 1, "keep-alive: same connection");
    assert_eq!(requests[2].body, b"hello");
    assert_eq!(origin.connections(), 1);
}

#[test]
fn origin_answers_files_chunked_big_and_bad_requests() {
    let origin = TestOrigin::start(ORIGIN_IP);
    let mut stream = TcpStream::connect(origin.http_addr()).unwrap();
    let exe = exchange(
        &mut stream,
        b"GET /files/setup.exe HTTP/1.1\r\nHost: downloads.example\r\n\r\n",
    );
    assert!(
        exe.contains("Content-Type: application/octet-stream"),
        "{exe}"
    );
    assert!(exe.contains("Content-Disposition: attachment; filename=\"setup.exe\""));
    assert!(exe.split("\r\n\r\n").nth(1).unwrap().starts_with("MZ"));
    let txt = exchange(
        &mut stream,
        b"GET /files/notes.txt HTTP/1.1\r\nHost: downloads.example\r\n\r\n",
    );
    assert!(txt.contains("Content-Type: text/plain"), "{txt}");
    let big = exchange(
        &mut stream,
        b"GET /big?bytes=200000 HTTP/1.1\r\nHost: downloads.example\r\n\r\n",
    );
    assert!(big.contains("Content-Length: 200000\r\n"));
    assert_eq!(big.split("\r\n\r\n").nth(1).unwrap().len(), 200_000);

    // Chunked response, read to the end (HTTP/1.0 closes).
    let mut stream = TcpStream::connect(origin.http_addr()).unwrap();
    stream
        .write_all(b"GET /chunked HTTP/1.0\r\nHost: c.example\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    assert!(all.contains("Transfer-Encoding: chunked"), "{all}");
    assert!(all.contains("<title>Chunked c.example</title>"), "{all}");
    assert!(all.ends_with("0\r\n\r\n"), "{all}");

    // A request smuggling attempt is refused and the connection closed.
    let mut stream = TcpStream::connect(origin.http_addr()).unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 400 "), "{all}");
}

fn have_curl() -> bool {
    support::have_tools(&["curl"])
}

#[test]
fn origin_serves_https_for_any_name_with_its_test_ca() {
    if !have_curl() {
        return;
    }
    let origin = TestOrigin::start_with_names(ORIGIN_IP, &["www.google.com", "safe.example"]);
    let port = origin.https_addr().port();
    let curl = |name: &str, path: &str, extra: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(origin.ca_pem_path())
            .args(["--resolve", &format!("{name}:{port}:{ORIGIN_IP}")])
            .args(extra)
            .arg(format!("https://{name}:{port}{path}"))
            .output()
            .unwrap()
    };
    let out = curl("www.google.com", "/search?q=x", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "<html><head><title>Results for x</title></head><body><p id=\"results\">results for x on www.google.com</p></body></html>"
    );
    let recorded = origin.requests();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(
        (r.scheme, r.method.as_str(), r.target.as_str()),
        ("https", "GET", "/search?q=x")
    );
    assert_eq!(r.host, Some(format!("www.google.com:{port}")));
    assert_eq!(r.sni.as_deref(), Some("www.google.com"));
    assert_eq!(r.query_param("q").as_deref(), Some("x"));
    assert!(r.header("user-agent").unwrap().starts_with("curl/"));

    // A name not given at start gets a certificate minted for it.
    let out = curl("minted.example", "/", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<title>Origin minted.example</title>"));

    // Without the test CA the certificate is not trusted.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(["--resolve", &format!("safe.example:{port}:{ORIGIN_IP}")])
        .arg(format!("https://safe.example:{port}/"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(60), "curl: certificate problem");
}

#[test]
fn parent_proxy_stand_in_answers_and_records_requests_and_tunnels() {
    let parent = TestParentProxy::start();
    let mut stream = TcpStream::connect(parent.addr()).unwrap();
    let answer = exchange(
        &mut stream,
        b"GET http://blocked.example/path?q=1 HTTP/1.1\r\nHost: blocked.example\r\nVia: 1.1 hedgerow\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("X-Test-Parent: 1"));
    assert!(answer.contains("<title>Parent http://blocked.example/path?q=1</title>"));

    // CONNECT, then an echoed tunnel.
    let mut stream = TcpStream::connect(parent.addr()).unwrap();
    stream
        .write_all(b"CONNECT www.google.com:443 HTTP/1.1\r\nHost: www.google.com:443\r\n\r\nping")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let expected = b"HTTP/1.1 200 Connection established\r\n\r\nping";
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, expected);
    drop(stream);

    let seen = parent.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].target, "http://blocked.example/path?q=1");
    assert_eq!(seen[0].header("via"), Some("1.1 hedgerow"));
    assert_eq!(
        (seen[1].method.as_str(), seen[1].target.as_str()),
        ("CONNECT", "www.google.com:443")
    );

    // Tunnel mode reaches a real origin: curl through it, TLS end to end.
    if !have_curl() {
        return;
    }
    let origin = TestOrigin::start(ORIGIN_IP);
    let tunnel = TestParentProxy::start_with(
        Ipv4Addr::LOCALHOST,
        ConnectMode::Tunnel(origin.https_addr()),
    );
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(origin.ca_pem_path())
        .args(["-x", &format!("http://{}", tunnel.addr())])
        .arg("https://tunnelled.example/hello")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("origin page for tunnelled.example/hello")
    );
    assert_eq!(tunnel.requests()[0].target, "tunnelled.example:443");
    assert_eq!(
        origin.requests()[0].sni.as_deref(),
        Some("tunnelled.example")
    );
}

#[test]
fn hosts_file_is_in_etc_hosts_format() {
    let file = hosts_file(&[
        ("www.google.com", IpAddr::V4(ORIGIN_IP)),
        ("v6.example", "::1".parse().unwrap()),
    ]);
    let text = std::fs::read_to_string(file.path()).unwrap();
    assert!(text.contains("127.0.0.60\twww.google.com\n"), "{text}");
    assert!(text.contains("::1\tv6.example\n"), "{text}");
}

/// No process is left with this profile folder in its command line (zombies aside: they have
/// none).
fn assert_no_processes(profile: &std::path::Path) {
    let mut left = Vec::new();
    for _ in 0..50 {
        left = browser::processes_mentioning(&profile.display().to_string());
        if left.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromium processes left behind: {left:?}");
}

#[test]
fn browser_trusts_the_test_ca_fills_forms_and_downloads() {
    if !browser::available() {
        return;
    }
    let origin = TestOrigin::start_with_names(ORIGIN_IP, &["www.google.com"]);
    let port = origin.https_addr().port();
    let downloads = tempfile::tempdir().unwrap();
    let mut b = Browser::start(BrowserOptions {
        proxy: None,
        trust_ca_pem: Some(origin.ca_pem_path().to_path_buf()),
        download_dir: Some(downloads.path().to_path_buf()),
        extra_args: vec![format!(
            "--host-resolver-rules=MAP www.google.com {ORIGIN_IP}, MAP files.example {ORIGIN_IP}"
        )],
        ..BrowserOptions::default()
    })
    .unwrap();
    let profile = b.profile_dir().to_path_buf();

    b.goto(&format!("https://www.google.com:{port}/")).unwrap();
    assert_eq!(b.title().unwrap(), "Origin www.google.com");
    assert!(
        b.find_text_contains("origin page for www.google.com/")
            .unwrap()
    );
    assert_eq!(
        b.current_url().unwrap(),
        format!("https://www.google.com:{port}/")
    );

    // A form, filled and submitted as a user would.
    b.goto(&format!("https://www.google.com:{port}/form"))
        .unwrap();
    b.fill("#q", "hedgehogs").unwrap();
    b.submit("form#search").unwrap();
    assert_eq!(b.title().unwrap(), "Results for hedgehogs");
    b.goto(&format!("https://www.google.com:{port}/form?method=post"))
        .unwrap();
    b.fill("#q", "badgers").unwrap();
    b.click("#go").unwrap();
    b.wait_until(Duration::from_secs(10), |b| {
        Ok(b.title()? == "Results for badgers")
    })
    .unwrap();
    let posted = origin.requests_for("www.google.com");
    let post = posted
        .iter()
        .find(|r| r.method == "POST")
        .expect("the POSTed form");
    assert_eq!(post.body, b"q=badgers");
    assert_eq!(
        post.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    // A download lands in the download folder.
    let _ = b.goto(&format!(
        "http://files.example:{}/files/setup.exe",
        origin.http_addr().port()
    ));
    let saved = browser::wait_for_file(downloads.path(), "setup.exe", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", b.driver_log()));
    assert!(std::fs::read(saved).unwrap().starts_with(b"MZ"));

    b.quit().unwrap();
    assert_no_processes(&profile);
}

#[test]
fn browser_refuses_an_untrusted_ca_and_leaves_no_process() {
    if !browser::available() {
        return;
    }
    let origin = TestOrigin::start_with_names(ORIGIN_IP, &["www.google.com"]);
    let port = origin.https_addr().port();
    let mut b = Browser::start(BrowserOptions {
        extra_args: vec![format!(
            "--host-resolver-rules=MAP www.google.com {ORIGIN_IP}"
        )],
        ..BrowserOptions::default()
    })
    .unwrap();
    let profile = b.profile_dir().to_path_buf();
    let _ = b.goto(&format!("https://www.google.com:{port}/"));
    let title = b.title().unwrap();
    assert_ne!(title, "Origin www.google.com");
    let source = b.page_source().unwrap();
    assert!(
        source.contains("ERR_CERT_AUTHORITY_INVALID"),
        "expected a certificate error page, got {title:?}"
    );
    assert!(
        origin.requests().is_empty(),
        "no request reached the origin"
    );
    // Dropped, not quit: Drop must clean up too.
    drop(b);
    assert_no_processes(&profile);
}

#[test]
fn browser_sends_everything_through_the_proxy_it_is_given() {
    if !browser::available() {
        return;
    }
    let origin = TestOrigin::start(ORIGIN_IP);
    let parent = TestParentProxy::start_with(
        Ipv4Addr::LOCALHOST,
        ConnectMode::Tunnel(origin.https_addr()),
    );
    let mut b = Browser::start(BrowserOptions {
        proxy: Some(parent.addr()),
        trust_ca_pem: Some(origin.ca_pem_path().to_path_buf()),
        ..BrowserOptions::default()
    })
    .unwrap();

    // A fresh browser opens a blank page and contacts nobody on its own.
    assert_eq!(b.current_url().unwrap(), "about:blank");
    std::thread::sleep(Duration::from_secs(1));
    // Plain HTTP: an absolute-form request to the proxy, loopback names included.
    b.goto("http://plain.example/page?a=b").unwrap();
    assert_eq!(b.title().unwrap(), "Parent http://plain.example/page?a=b");
    b.goto("http://127.0.0.1:8081/loop").unwrap();
    assert_eq!(b.title().unwrap(), "Parent http://127.0.0.1:8081/loop");

    // HTTPS: CONNECT, then TLS end to end with the origin behind the tunnel.
    b.goto("https://www.google.com/").unwrap();
    assert_eq!(b.title().unwrap(), "Origin www.google.com");

    let seen = parent.requests();
    let targets: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert!(
        targets.contains(&("GET", "http://plain.example/page?a=b")),
        "{targets:?}"
    );
    assert!(
        targets.contains(&("GET", "http://127.0.0.1:8081/loop")),
        "{targets:?}"
    );
    assert!(
        targets.contains(&("CONNECT", "www.google.com:443")),
        "{targets:?}"
    );
    // Nothing else: chromium's background requests are kept away from the proxy (it does
    // fetch favicons, and may open more than one tunnel per host).
    let unexpected: Vec<_> = targets
        .iter()
        .filter(|(_, t)| {
            !t.ends_with("/favicon.ico")
                && ![
                    "http://plain.example/page?a=b",
                    "http://127.0.0.1:8081/loop",
                    "www.google.com:443",
                ]
                .contains(t)
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected requests at the proxy: {unexpected:?}"
    );
    assert_eq!(origin.requests()[0].sni.as_deref(), Some("www.google.com"));
    let profile = b.profile_dir().to_path_buf();
    b.quit().unwrap();
    assert_no_processes(&profile);
}
