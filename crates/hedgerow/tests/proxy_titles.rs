//! Page titles for monitoring, end to end with the real binary: a pupil opens a plain-HTTP
//! page whose address says nothing but whose title is a risk; the proxy reads the title as it
//! forwards the page, the activity log keeps it, and the monitor raises an alert triggered by
//! the page title. Compressed pages and other content types are not read (and not changed);
//! a page with an enormous head and no title passes through whole without the gateway
//! growing; page navigations ask the origin for uncompressed HTML, other requests do not.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hedgerow_store::{AlertFilter, AlertTrigger, EventFilter, Reader, StoredEvent};
use support::admin::{AdminSite, origin_for, with_store};
use support::origin::{FixedPage, TestOrigin};
use support::*;

const RISKY_TITLE: &str = "How to kill myself";
/// The body of the page whose head never ends: large enough that buffering it would show.
const HUGE_BYTES: usize = 32 * 1024 * 1024;

fn monitored_school(dir: &Path, proxy_table: &str) -> std::path::PathBuf {
    let school = format!(
        r#"{groups}{pupil}
[school.monitoring]
age_bands = {{ ks2 = "primary" }}
"#,
        groups = ks2_and_unknown(),
        pupil = pupil_and_laptop(),
    );
    SchoolConfig::new(dir)
        .table(proxy_table)
        .school("test-school", "Test School", &school)
        .write()
}

fn serve_pages(origin: &TestOrigin) {
    let page = "<!doctype html><html><head><meta charset=\"utf-8\"><title>How to &#107;ill  myself</title>\
                </head><body>invented test page</body></html>"
        .to_string();
    origin.serve_fixed("/watch/7f3a", FixedPage::html(page.clone()));
    let mut zipped = FixedPage::html(page.clone());
    // Labelled as compressed: the proxy cannot read it, so it must not try (bytes unchanged).
    zipped
        .headers
        .push(("Content-Encoding".into(), "gzip".into()));
    origin.serve_fixed("/zipped/7f3a", zipped);
    let mut text = FixedPage::html(page);
    text.content_type = "text/plain; charset=utf-8".into();
    origin.serve_fixed("/notes/7f3a", text);
    let mut huge = String::with_capacity(HUGE_BYTES + 200);
    huge.push_str("<html><head>");
    while huge.len() < HUGE_BYTES {
        huge.push_str("<meta name=\"filler\" content=\"nothing to see here, just a long head\">");
    }
    huge.push_str("<title>How to kill myself</title></head><body>end</body></html>");
    origin.serve_fixed("/huge/7f3a", FixedPage::html(huge));
}

/// curl through the proxy from the pupil's laptop; returns (status, bytes received).
fn fetch(proxy: std::net::SocketAddr, url: &str, headers: &[&str]) -> (u16, u64) {
    let mut command = Command::new("curl");
    command
        .args(["-s", "--max-time", "60", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{size_download}"])
        .args(["-x", &format!("http://{proxy}")])
        .args(["--interface", PUPIL_LAPTOP]);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let mut parts = text.split_whitespace();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let bytes = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, bytes)
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn reader() -> Reader {
    Reader {
        actor: "test:proxy-titles".into(),
        from_addr: None,
        purpose: "checking page titles in a test".into(),
    }
}

/// The stored proxy events, once one for each of `paths` has been written (or after 20 s).
fn events_for(dir: &Path, paths: &[&str]) -> Vec<StoredEvent> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = with_store(dir, async |store| {
            let school = store.school_by_slug("test-school").await.unwrap().unwrap();
            store
                .read_events(&reader(), &EventFilter::school(school.id, 500))
                .await
                .unwrap()
        });
        let all_there = paths.iter().all(|path| {
            events
                .iter()
                .any(|e| e.event.url.as_deref().is_some_and(|u| u.ends_with(path)))
        });
        if all_there || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn title_logged_for(events: &[StoredEvent], path: &str) -> Option<String> {
    events
        .iter()
        .find(|e| e.event.url.as_deref().is_some_and(|u| u.ends_with(path)))
        .unwrap_or_else(|| panic!("no event for {path}"))
        .event
        .page_title
        .clone()
}

#[test]
fn a_risky_page_title_is_logged_and_raises_an_alert() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (origin, proxy_table) =
        origin_for(dir.path(), Ipv4Addr::new(127, 0, 0, 74), &["video.example"]);
    serve_pages(&origin);
    let config = monitored_school(dir.path(), &proxy_table);
    let site = AdminSite::start(&config, dir.path(), &[]);
    let port = origin.http_addr().port();
    let url = |path: &str| format!("http://video.example:{port}{path}");
    let browser = [
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Encoding: gzip, deflate, br",
    ];

    // A page navigation: the origin is asked for uncompressed HTML so its title can be read.
    assert_eq!(fetch(site.proxy, &url("/watch/7f3a"), &browser).0, 200);
    let asked = origin.requests_for("video.example");
    let watch = asked
        .iter()
        .find(|r| r.path() == "/watch/7f3a")
        .expect("the origin saw the page request");
    assert_eq!(watch.header("accept-encoding"), Some("identity"));

    // Not a navigation (an image, a script, a fetch): the client's own Accept-Encoding goes on.
    assert_eq!(
        fetch(
            site.proxy,
            &url("/status/200"),
            &["Accept: image/avif,image/webp,*/*", "Accept-Encoding: gzip"]
        )
        .0,
        200
    );
    let image = origin
        .requests_for("video.example")
        .into_iter()
        .find(|r| r.path() == "/status/200")
        .expect("the origin saw the image request");
    assert_eq!(image.header("accept-encoding"), Some("gzip"));

    // An origin that compresses anyway, and a page that is not HTML: passed on, not read.
    assert_eq!(fetch(site.proxy, &url("/zipped/7f3a"), &browser).0, 200);
    assert_eq!(fetch(site.proxy, &url("/notes/7f3a"), &browser).0, 200);

    // A head that never ends: the page arrives whole and at once, the gateway does not hold
    // it, and no title is found (the scanner gave up after 64 KiB).
    let pid = site.process.child.id();
    let before = resident_kib(pid);
    let started = Instant::now();
    for _ in 0..3 {
        let (status, bytes) = fetch(site.proxy, &url("/huge/7f3a"), &browser);
        assert_eq!(status, 200);
        assert!(bytes as usize > HUGE_BYTES, "{bytes}");
    }
    let took = started.elapsed();
    eprintln!(
        "three huge pages: {took:?}, resident {before} KiB then {}",
        resident_kib(pid)
    );
    let after = resident_kib(pid);
    assert!(
        took < Duration::from_secs(60),
        "three huge pages took {took:?}"
    );
    assert!(
        after < before + 16 * 1024,
        "the gateway grew from {before} KiB to {after} KiB forwarding {HUGE_BYTES}-byte pages"
    );

    let paths = [
        "/watch/7f3a",
        "/status/200",
        "/zipped/7f3a",
        "/notes/7f3a",
        "/huge/7f3a",
    ];
    let events = events_for(dir.path(), &paths);
    assert_eq!(
        title_logged_for(&events, "/watch/7f3a").as_deref(),
        Some(RISKY_TITLE),
        "entities decoded, whitespace collapsed"
    );
    assert_eq!(title_logged_for(&events, "/status/200"), None);
    assert_eq!(title_logged_for(&events, "/zipped/7f3a"), None);
    assert_eq!(title_logged_for(&events, "/notes/7f3a"), None);
    assert_eq!(title_logged_for(&events, "/huge/7f3a"), None);

    // The monitor classified the title: the address alone says nothing.
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let alerts = with_store(dir.path(), async |store| {
            let school = store.school_by_slug("test-school").await.unwrap().unwrap();
            store
                .alerts(&AlertFilter::school(school.id, 50), &reader())
                .await
                .unwrap()
        });
        if let Some(alert) = alerts
            .into_iter()
            .find(|a| a.trigger == AlertTrigger::PageTitle)
        {
            break alert;
        }
        assert!(
            Instant::now() < deadline,
            "no page-title alert within 20 s; gateway log:\n{}",
            site.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert.category, "suicide_self_harm");
    assert_eq!(alert.matched_text, RISKY_TITLE);
    assert_eq!(alert.user.as_deref(), Some("pupil.a"));
    assert!(
        alert
            .url
            .as_deref()
            .is_some_and(|u| u.ends_with("/watch/7f3a")),
        "{:?}",
        alert.url
    );
}
