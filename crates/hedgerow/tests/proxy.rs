//! The web proxy as a school meets it: `hedgerow demo` and `hedgerow serve` with real clients
//! (curl, and headless Chromium trusting the school CA), in front of local stand-ins for the
//! internet (support::origin), everything on loopback addresses.

mod support;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::browser::{Browser, BrowserOptions};
use support::origin::{OriginOptions, TestOrigin, hosts_file};
use support::*;

/// Starts `hedgerow ARGS... --proxy-listen ... --metrics-listen ...` and waits for the proxy.
fn start_proxying(args: &[&str], dir: &Path) -> (Running, SocketAddr) {
    let (running, proxy, _) = start_proxying_with_dns(args, dir);
    (running, proxy)
}

/// As [`start_proxying`], also returning the DNS filter's address.
fn start_proxying_with_dns(args: &[&str], dir: &Path) -> (Running, SocketAddr, SocketAddr) {
    let (proxy, dns) = (free_address(), free_address());
    let process = start_hedgerow(
        Command::new(env!("CARGO_BIN_EXE_hedgerow"))
            .args(args)
            .args([
                "--proxy-listen",
                &proxy.to_string(),
                "--metrics-listen",
                &free_address().to_string(),
                "--dns-listen",
                &dns.to_string(),
                "--admin-listen",
                &free_address().to_string(),
                "--portal-listen",
                &free_address().to_string(),
            ]),
        &dir.join("gateway.log"),
        "the web proxy",
        || TcpStream::connect(proxy).is_ok(),
    );
    (process, proxy, dns)
}

/// A minimal TLS ClientHello naming `sni`, optionally with an outer Encrypted Client Hello
/// extension (so the real destination is hidden behind `sni`).
fn client_hello(sni: &str, ech: bool) -> Vec<u8> {
    fn extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
        out.extend(kind.to_be_bytes());
        out.extend((data.len() as u16).to_be_bytes());
        out.extend(data);
    }
    let mut extensions = Vec::new();
    let name = sni.as_bytes();
    let mut server_name = Vec::new();
    server_name.extend(((name.len() + 3) as u16).to_be_bytes());
    server_name.push(0);
    server_name.extend((name.len() as u16).to_be_bytes());
    server_name.extend(name);
    extension(&mut extensions, 0, &server_name);
    if ech {
        // Outer ECH: cipher suite, config id, enc, payload.
        let outer = [0u8, 0, 1, 0, 1, 7, 0, 2, 1, 2, 0, 4, 9, 9, 9, 9];
        extension(&mut extensions, 0xfe0d, &outer);
    }
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.push(0);
    body.extend([0, 2, 0x13, 0x01, 1, 0]);
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);
    let mut handshake = vec![1];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![22, 3, 1];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

/// Opens a tunnel from `source` to `connect_host:443` and sends `first`; returns the CONNECT
/// answer's status line and whether the proxy then closed the tunnel without a byte.
fn tunnel_then(
    proxy: SocketAddr,
    source: &str,
    connect_host: &str,
    first: &[u8],
) -> (String, bool) {
    use std::io::{Read, Write};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(proxy).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stream = stream;
    write!(
        stream,
        "CONNECT {connect_host}:443 HTTP/1.1\r\nHost: {connect_host}:443\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => break,
        }
    }
    let status = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    stream.write_all(first).unwrap();
    let mut rest = Vec::new();
    let closed = stream.read_to_end(&mut rest).is_ok() && rest.is_empty();
    (status, closed)
}

fn activity(config_args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .arg("activity")
        .args(config_args)
        .args(["--purpose", "proxy test", "--limit", "500"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The first gambling name of the shipped sample lists (blocked in every test school).
fn gambling_domain() -> String {
    std::fs::read_to_string(repo().join("lists/sample/gambling.domains"))
        .unwrap()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && l.parse::<Ipv4Addr>().is_err())
        .unwrap()
        .to_string()
}

fn have(tools: &[&str]) -> bool {
    have_tools(tools)
}

#[test]
fn the_demo_proxy_signs_people_in_and_blocks_with_reasons() {
    if !have(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (mut gateway, proxy, dns) =
        start_proxying_with_dns(&["demo", "--data-dir", data.to_str().unwrap()], dir.path());
    let proxy_url = format!("http://{proxy}");
    let origin = TestOrigin::start(Ipv4Addr::new(127, 0, 0, 71));
    let allowed = format!("http://{}/hello", origin.http_addr());
    let gambling = gambling_domain();

    // The PAC and WPAD files point browsers at the proxy, with no DIRECT fallback.
    let (code, headers, body) = curl(&[&format!("http://{proxy}/proxy.pac")]);
    assert_eq!(code, 200);
    assert!(
        headers.contains("application/x-ns-proxy-autoconfig"),
        "{headers}"
    );
    assert!(
        body.contains(&format!("return \"PROXY {proxy}\"")),
        "{body}"
    );
    let (code, _, wpad) = curl(&[&format!("http://{proxy}/wpad.dat")]);
    assert_eq!((code, wpad), (200, body));

    // A KS2 iPad is known by its address: no sign-in, its group applies.
    let (code, _, body) = curl(&["-x", &proxy_url, "--interface", "127.0.0.20", &allowed]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("origin page for 127.0.0.71"), "{body}");
    let (code, headers, body) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.20",
        &format!("http://{gambling}/casino?q=1"),
    ]);
    assert_eq!(code, 403);
    assert!(
        headers.contains("X-Hedgerow-Rule: group:ks2/category:gambling"),
        "{headers}"
    );
    assert!(
        body.contains("Ms Rowan Ashdown"),
        "the online-safety lead is named"
    );
    assert!(body.contains("ceop.police.uk") && body.contains("0800 1111"));
    assert!(
        body.contains("/hedgerow/review"),
        "the review form posts to the proxy"
    );

    // Uninspected HTTPS to a blocked site: 403 to the CONNECT with the reason in a header.
    // (curl reports no final status for a refused tunnel, only the CONNECT's headers.)
    let (_, headers, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.20",
        &format!("https://{gambling}/"),
    ]);
    assert!(headers.starts_with("HTTP/1.1 403"), "{headers}");
    assert!(
        headers.contains("X-Hedgerow-Reason: Gambling:"),
        "{headers}"
    );
    // CONNECT only reaches HTTPS ports.
    let (_, headers, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.30",
        "-p",
        &format!("http://{}/", origin.http_addr()),
    ]);
    assert!(headers.starts_with("HTTP/1.1 403"), "{headers}");
    assert!(headers.contains("port not allowed"), "{headers}");

    // The shared laptop needs a sign-in: 407 without one, and with a wrong password.
    let (code, headers, _) = curl(&["-x", &proxy_url, "--interface", "127.0.0.50", &allowed]);
    assert_eq!(code, 407);
    assert!(
        headers.contains("Proxy-Authenticate: Basic realm="),
        "{headers}"
    );
    let (code, _, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.50",
        "-U",
        "pupil.ks2:not-the-password",
        &allowed,
    ]);
    assert_eq!(code, 407);
    // The documented demo password works in demo mode, and the sign-in applies the user's group.
    let (code, _, body) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.50",
        "-U",
        "pupil.ks2:hedgerow-demo",
        &format!("http://{gambling}/"),
    ]);
    assert_eq!(code, 403);
    assert!(body.contains("blocked"), "{body}");
    let (code, _, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.50",
        "-U",
        "teacher:hedgerow-demo",
        &allowed,
    ]);
    assert_eq!(code, 200);

    // The sign-in is shared with the DNS filter: the shared laptop's lookups are the pupil's.
    // (The teacher signed in last on 127.0.0.50; sign the pupil in again on another address.)
    let (code, _, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.52",
        "-U",
        "pupil.ks2:hedgerow-demo",
        &allowed,
    ]);
    assert_eq!(code, 200);
    if have(&["dig"]) {
        let answer = dig(dns, &["-b", "127.0.0.52", "www.pokerstars.com"]);
        assert!(answer.contains("NXDOMAIN"), "{answer}");
    }

    // A tunnel whose TLS server name is not the host it asked for is closed as circumvention,
    // and so is one that hides its destination with Encrypted Client Hello, for pupils.
    let (status, closed) = tunnel_then(
        proxy,
        "127.0.0.20",
        "www.example.com",
        &client_hello(&gambling, false),
    );
    assert!(status.starts_with("HTTP/1.1 200") && closed, "{status}");
    let (status, closed) = tunnel_then(
        proxy,
        "127.0.0.20",
        "www.example.com",
        &client_hello("public.example", true),
    );
    assert!(status.starts_with("HTTP/1.1 200") && closed, "{status}");

    // Repeated failures lock the account for a while, right password or not. (The same wrong
    // password sent again, as a browser with a stale saved password does, counts once.)
    for guess in 0..6 {
        curl(&[
            "-x",
            &proxy_url,
            "--interface",
            "127.0.0.51",
            "-U",
            &format!("dsl:guess-{guess}"),
            &allowed,
        ]);
    }
    let (code, headers, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.51",
        "-U",
        "dsl:hedgerow-demo",
        &allowed,
    ]);
    assert_eq!(code, 429, "{headers}");
    assert!(headers.contains("Retry-After:"), "{headers}");

    // The review form stores a request.
    let (code, _, body) = curl(&[
        "--interface",
        "127.0.0.20",
        "--data-urlencode",
        &format!("url=http://{gambling}/casino"),
        "--data-urlencode",
        "kind=should_not_be_blocked",
        "--data-urlencode",
        "comment=We need this for a maths lesson on probability",
        &format!("http://{proxy}/hedgerow/review"),
    ]);
    assert_eq!(code, 200, "{body}");
    let (code, _, _) = curl(&[
        "--data-urlencode",
        "kind=please",
        &format!("http://{proxy}/hedgerow/review"),
    ]);
    assert_eq!(code, 400, "a form without a valid choice is refused");

    // Malformed and oversized requests get clear errors and the proxy carries on.
    let (code, _, body) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        "127.0.0.30",
        "-H",
        &format!("X-Huge: {}", "a".repeat(40_000)),
        &allowed,
    ]);
    assert_eq!(code, 431, "{body}");
    let (code, _, _) = curl(&["-x", &proxy_url, "--interface", "127.0.0.30", &allowed]);
    assert_eq!(code, 200);

    // Everything was logged, with who and why.
    let log = activity(&["--data-dir", data.to_str().unwrap()]);
    assert!(
        log.lines().any(|l| l.contains("\tproxy\t127.0.0.20\t")
            && l.contains(&format!("http://{gambling}/casino?q=1"))
            && l.contains("\tblock\tgambling\tgroup:ks2/category:gambling")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("\tproxy\t")
            && l.contains("\tpupil.ks2\t")
            && l.contains("\tblock\t")),
        "the signed-in pupil is named: {log}"
    );
    if have(&["dig"]) {
        assert!(
            log.lines()
                .any(|l| l.contains("\tdns\t127.0.0.52\tpupil.ks2\t")
                    && l.contains("www.pokerstars.com")),
            "the DNS filter attributes the signed-in address: {log}"
        );
    }
    assert!(
        log.lines().any(|l| l.contains("www.example.com:443")
            && l.contains("\tblock\tcircumvention\tproxy:sni-mismatch")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("www.example.com:443")
            && l.contains("\tblock\tcircumvention\tproxy:ech-hidden-destination")),
        "{log}"
    );
    assert!(
        gateway.stop(),
        "the gateway stops cleanly:\n{}",
        std::fs::read_to_string(dir.path().join("gateway.log")).unwrap_or_default()
    );
}

/// A school whose one browser device (127.0.0.1) is in `group`, inspecting everything, with
/// the test origins' names in its hosts file.
fn inspecting_school(
    dir: &Path,
    group: &str,
    hosts: &Path,
    trust: &Path,
    ports: &[u16],
) -> PathBuf {
    let repo = repo();
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let text = format!(
        r#"data_dir = "{data}"
[lists]
sources = ["{repo}/lists/sample"]
illegal = ["{repo}/lists/illegal"]
taxonomy = "{repo}/lists/taxonomy.toml"

[proxy]
hosts_file = "{hosts}"
trust_roots = ["{trust}"]
connect_ports = [443, {ports}]

[[school]]
slug = "test-academy"
name = "Test Academy"
online_safety_lead = "Mx Alder Test"
unknown_group = "unknown"

[school.groups.pupils]
kind = "pupil"
default = "allow"
inspect = ["all"]
[school.groups.pupils.actions]
gambling = "block"

[school.groups.staff]
kind = "staff"
default = "allow"
inspect = ["all"]
download_limit_mb = 1
[school.groups.staff.actions]
gambling = "block"

[school.groups.unknown]
kind = "unidentified"
default = "allow"
[school.groups.unknown.actions]
gambling = "block"

[[school.devices]]
name = "test-browser"
kind = "laptop"
group = "{group}"
addresses = ["127.0.0.1"]
"#,
        data = dir.join("data").display(),
        repo = repo.display(),
        hosts = hosts.display(),
        trust = trust.display(),
        ports = ports.join(", "),
    );
    let path = dir.join("school.toml");
    std::fs::write(&path, text).unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["ca", "init", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    path
}

struct InspectingGateway {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
    gateway: Running,
    proxy: SocketAddr,
    origin: TestOrigin,
    untrusted: TestOrigin,
    gambling: String,
    bank: String,
}

/// The first name of a shipped sample list.
fn first_listed(file: &str) -> String {
    std::fs::read_to_string(repo().join("lists/sample").join(file))
        .unwrap()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && l.parse::<Ipv4Addr>().is_err())
        .unwrap()
        .to_string()
}

fn inspecting_gateway(group: &str) -> InspectingGateway {
    inspecting_gateway_with(group, "")
}

/// As [`inspecting_gateway`], with `school_extra` appended to the school (such as an
/// `[school.agreements]` table).
fn inspecting_gateway_with(group: &str, school_extra: &str) -> InspectingGateway {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let origin = TestOrigin::start(Ipv4Addr::new(127, 0, 0, 72));
    let mut options = OriginOptions::new(Ipv4Addr::new(127, 0, 0, 73));
    options.names = vec!["untrusted.test".into()];
    let untrusted = TestOrigin::start_with(options);
    let gambling = gambling_domain();
    let bank = first_listed("bank.domains");
    let ip = origin.ip();
    let hosts = hosts_file(&[
        (bank.as_str(), ip),
        ("www.ecosia.org", ip),
        ("www.allowed.test", ip),
        ("www.google.com", ip),
        ("www.youtube.com", ip),
        ("files.test", ip),
        (gambling.as_str(), ip),
        ("untrusted.test", untrusted.ip()),
    ]);
    let hosts_path = path.join("hosts");
    std::fs::copy(hosts.path(), &hosts_path).unwrap();
    let config = inspecting_school(
        &path,
        group,
        &hosts_path,
        origin.ca_pem_path(),
        &[origin.https_addr().port(), untrusted.https_addr().port()],
    );
    if !school_extra.is_empty() {
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(school_extra);
        std::fs::write(&config, text).unwrap();
    }
    let (gateway, proxy) = start_proxying(&["serve", "--config", config.to_str().unwrap()], &path);
    InspectingGateway {
        _dir: dir,
        dir: path,
        config,
        gateway,
        proxy,
        origin,
        untrusted,
        gambling,
        bank,
    }
}

fn browser(gateway: &InspectingGateway, downloads: &Path) -> Browser {
    Browser::start(BrowserOptions {
        proxy: Some(gateway.proxy),
        trust_ca_pem: Some(gateway.dir.join("data/ca/school-ca.pem")),
        download_dir: Some(downloads.to_path_buf()),
        ..BrowserOptions::default()
    })
    .expect("chromium starts")
}

#[test]
fn a_pupil_browsing_through_the_inspecting_proxy() {
    if !have(&["curl"]) || !support::browser::available() {
        return;
    }
    let mut school = inspecting_gateway("pupils");
    let downloads = tempfile::tempdir().unwrap();
    let mut browser = browser(&school, downloads.path());
    let https = school.origin.https_addr().port();

    // An allowed page loads, through a tunnel the proxy inspects with the school CA.
    browser
        .goto(&format!("https://www.allowed.test:{https}/hello"))
        .unwrap();
    assert_eq!(browser.title().unwrap(), "Origin www.allowed.test");

    // A blocked page shows the block page inside the inspected tunnel, and nothing is fetched.
    browser
        .goto(&format!("https://{}:{https}/casino", school.gambling))
        .unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("blocked"), "{text}");
    assert!(text.contains("Mx Alder Test"), "{text}");
    assert!(school.origin.requests_for(&school.gambling).is_empty());

    // The review form on the block page reaches the proxy and is stored.
    browser
        .fill("textarea", "We use this site in class")
        .unwrap();
    browser
        .click("input[type=radio][value=should_not_be_blocked]")
        .unwrap();
    browser.submit("form").unwrap();
    let thanks = browser.body_text().unwrap();
    assert!(thanks.to_lowercase().contains("thank"), "{thanks}");

    // A search on the stand-in for Google: safe search is forced and the term is logged.
    browser
        .goto(&format!(
            "https://www.google.com:{https}/search?q=volcano+facts+for+kids"
        ))
        .unwrap();
    assert_eq!(
        browser.title().unwrap(),
        "Results for volcano facts for kids"
    );
    let searches = school.origin.requests_for("www.google.com");
    let search = searches
        .iter()
        .find(|r| r.path() == "/search")
        .expect("the search reached the origin");
    assert_eq!(search.query_param("safe").as_deref(), Some("active"));

    // YouTube gets the Restricted Mode header.
    browser
        .goto(&format!("https://www.youtube.com:{https}/watch?v=abc"))
        .unwrap();
    let youtube = school.origin.requests_for("www.youtube.com");
    assert!(!youtube.is_empty());
    assert!(
        youtube
            .iter()
            .all(|r| r.header("youtube-restrict") == Some("Strict")),
        "{youtube:?}"
    );

    // A program download is refused with the block page.
    browser
        .goto(&format!("https://files.test:{https}/files/setup.exe"))
        .unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("blocked"), "{text}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !downloads.path().join("setup.exe").exists(),
        "the executable was not saved"
    );

    // A site whose certificate the proxy cannot verify is not opened silently.
    browser
        .goto(&format!(
            "https://untrusted.test:{}/",
            school.untrusted.https_addr().port()
        ))
        .unwrap();
    let text = browser.body_text().unwrap();
    assert!(text.contains("certificate"), "{text}");
    assert!(school.untrusted.requests().is_empty());
    browser.quit().unwrap();

    // Banking is never inspected: the tunnel is spliced, so the client meets the bank's own
    // certificate (here the test origin's), not the school's.
    let proxy_url = format!("http://{}", school.proxy);
    let (code, _, body) = curl(&[
        "-x",
        &proxy_url,
        "--cacert",
        school.origin.ca_pem_path().to_str().unwrap(),
        &format!("https://{}:{https}/account", school.bank),
    ]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("origin page for"), "{body}");
    // An image search that cannot be locked to safe search is blocked for pupils.
    let (code, headers, _) = curl(&[
        "-x",
        &proxy_url,
        &format!(
            "http://www.ecosia.org:{}/images?q=cats",
            school.origin.http_addr().port()
        ),
    ]);
    assert_eq!(code, 403, "{headers}");
    assert!(headers.contains("/search:"), "{headers}");

    let log = activity(&["--config", school.config.to_str().unwrap()]);
    assert!(
        log.lines()
            .any(|l| l.contains("\tproxy\t") && l.contains("\tvolcano facts for kids\t")),
        "the search term is logged: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("files.test") && l.contains("file-type:executables")),
        "{log}"
    );
    assert!(school.gateway.stop());
}

#[test]
fn staff_may_download_programs() {
    if !support::browser::available() {
        return;
    }
    let mut school = inspecting_gateway("staff");
    let downloads = tempfile::tempdir().unwrap();
    let mut browser = browser(&school, downloads.path());
    let https = school.origin.https_addr().port();
    browser
        .goto(&format!("https://files.test:{https}/files/setup.exe"))
        .ok();
    let saved =
        support::browser::wait_for_file(downloads.path(), "setup.exe", Duration::from_secs(20))
            .expect("the download is saved");
    assert!(std::fs::read(saved).unwrap().starts_with(b"MZ"));
    browser.quit().unwrap();

    // The group's download limit (1 MB here) stops a larger file and lets a small one through.
    let proxy_url = format!("http://{}", school.proxy);
    let http = school.origin.http_addr().port();
    let (code, headers, _) = curl(&[
        "-x",
        &proxy_url,
        &format!("http://files.test:{http}/big?bytes=2000000"),
    ]);
    assert_eq!(code, 403, "{headers}");
    assert!(headers.contains("download-limit"), "{headers}");
    let (code, _, body) = curl(&[
        "-x",
        &proxy_url,
        &format!("http://files.test:{http}/big?bytes=1000"),
    ]);
    assert_eq!((code, body.len()), (200, 1000));
    assert!(school.gateway.stop());
}

/// A pupil held at the access portal meets it inside an inspected tunnel too: the proxy
/// answers with `511 Network Authentication Required` and a page that sends the browser to the
/// portal with the page it asked for, and fetches nothing from the site.
#[test]
fn a_held_pupil_meets_the_portal_inside_an_inspected_tunnel() {
    if !have(&["curl"]) {
        return;
    }
    let school = inspecting_gateway_with("pupils", "\n[school.agreements]\nhold = [\"pupils\"]\n");
    let https = school.origin.https_addr().port();
    let before = school.origin.requests().len();
    let ca = school.dir.join("data/ca/school-ca.pem");
    let (status, headers, body) = curl(&[
        "-x",
        &format!("http://{}", school.proxy),
        "--cacert",
        ca.to_str().unwrap(),
        &format!("https://www.allowed.test:{https}/hello"),
    ]);
    assert_eq!(status, 511, "{headers}{body}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("x-hedgerow-rule: agreement:not-accepted"),
        "{headers}"
    );
    assert!(
        body.contains("Accept the school's agreement first"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "?then=https%3A%2F%2Fwww.allowed.test%3A{https}%2Fhello"
        )),
        "the portal link carries the page asked for: {body}"
    );
    assert_eq!(
        school.origin.requests().len(),
        before,
        "nothing was fetched from the site"
    );
}
