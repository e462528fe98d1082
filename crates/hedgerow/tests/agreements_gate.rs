//! The access portal hold as a school meets it: a pupil's laptop in a held group is sent to
//! the portal by the DNS filter (dig) and the proxy (curl) until the pupil accepts their
//! agreement at the portal, through the proxy; groups that are not held, and illegal-content
//! blocks, are untouched.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;

/// The value of the first `name="NAME" value="..."` in a page.
fn form_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{page}"))
        + marker.len();
    page[start..].split('"').next().unwrap_or("").to_string()
}

/// The A (or AAAA) records of a dig answer, `+short`.
fn short(answer: &str) -> Vec<String> {
    answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_held_pupil_is_sent_to_the_portal_until_they_accept() {
    held_pupil_on(None);
}

/// The same with the whole gateway on PostgreSQL: the gate reads acceptances, and notices new
/// ones, through the other backend.
#[test]
fn a_held_pupil_is_sent_to_the_portal_until_they_accept_on_postgresql() {
    if let Some(url) = postgres_database() {
        held_pupil_on(Some(&url));
    }
}

fn held_pupil_on(database: Option<&str>) {
    if !have_tools(&["dig", "curl", "dnsmasq"]) {
        return;
    }
    let database = database_table(database);
    let (_upstream, upstream) = start_upstream(&[]);
    let dir = tempfile::tempdir().unwrap();
    let pupil_and_laptop = format!(
        "{}\n[school.agreements]\nhold = [\"ks2\"]\n",
        pupil_and_laptop()
    );
    let config = SchoolConfig::new(dir.path())
        .table(
            r#"[dns]
rate_limit_qps = 0
block_response = "block-page"
block_page_address = "127.0.0.9"
block_page_address_v6 = "::9"

[portal]
address_v6 = "::1""#,
        )
        .table(&database)
        .school(
            "test-school",
            "Test School",
            &format!("{}{pupil_and_laptop}", ks2_and_unknown()),
        )
        .write();
    let portal: SocketAddr = free_address();
    let proxy: SocketAddr = free_address();
    let gateway = start_gateway(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--portal-listen",
            &portal.to_string(),
            "--proxy-listen",
            &proxy.to_string(),
        ],
        upstream,
        dir.path(),
    );
    let portal_url = format!("http://{portal}/");
    let proxy_url = format!("http://{proxy}");

    // DNS: the held laptop gets the portal's addresses, for any web name.
    let a = gateway.dig_from(PUPIL_LAPTOP, &["+short", "www.example.test", "A"]);
    assert_eq!(short(&a), vec!["127.0.0.1"], "{}", gateway.log());
    let aaaa = gateway.dig_from(PUPIL_LAPTOP, &["+short", "www.example.test", "AAAA"]);
    assert_eq!(short(&aaaa), vec!["::1"]);
    let full = gateway.dig_from(PUPIL_LAPTOP, &["www.example.test", "A"]);
    assert!(
        full.contains("Acceptable use agreement not accepted"),
        "{full}"
    );
    // An unidentified client is not held: the real answer.
    let other = gateway.dig_from("127.0.0.99", &["+short", "www.example.test", "A"]);
    assert_eq!(short(&other), vec!["192.0.2.1"]);
    // Illegal content keeps its block answer for a held client, never the portal's.
    let illegal = gateway.dig_from(PUPIL_LAPTOP, &["iwf-check.hedgerow.test", "A"]);
    assert!(illegal.contains("127.0.0.9"), "{illegal}");
    assert!(illegal.contains("EDE: 16"), "{illegal}");

    // Proxy: plain HTTP is redirected to the portal, remembering where it was going.
    let (code, headers, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        PUPIL_LAPTOP,
        "http://www.example.test/news?x=1",
    ]);
    assert_eq!(code, 302, "{headers}");
    assert!(
        headers.contains(&format!(
            "Location: {portal_url}?then=http%3A%2F%2Fwww.example.test%2Fnews%3Fx%3D1"
        )),
        "{headers}"
    );
    // HTTPS that is not inspected: 511 naming the portal.
    let (_, headers, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        PUPIL_LAPTOP,
        "https://www.example.test/",
    ]);
    assert!(headers.starts_with("HTTP/1.1 511"), "{headers}");
    assert!(
        headers.contains(&format!(
            "X-Hedgerow-Reason: agreement not accepted; open {portal_url}"
        )),
        "{headers}"
    );

    // The portal itself is reachable through the proxy, and knows who is asking.
    let (code, _, page) = curl(&["-x", &proxy_url, "--interface", PUPIL_LAPTOP, &portal_url]);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Pupil A"), "{page}");
    let version = form_value(&page, "version");
    let token = form_value(&page, "token");
    let (code, headers, body) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        PUPIL_LAPTOP,
        "--data",
        &format!("version={version}&token={token}&agree=yes"),
        &format!("{portal_url}accept"),
    ]);
    assert!(
        (200..400).contains(&code),
        "accepting: {code}\n{headers}\n{body}"
    );

    // Accepted: the real answer within seconds, and the proxy lets the request through.
    let released = within(Duration::from_secs(10), || {
        short(&gateway.dig_from(PUPIL_LAPTOP, &["+short", "www.example.test", "A"]))
            == vec!["192.0.2.1"]
    });
    assert!(released.is_some(), "still held:\n{}", gateway.log());
    let (code, headers, _) = curl(&[
        "-x",
        &proxy_url,
        "--interface",
        PUPIL_LAPTOP,
        "http://www.example.test/news",
    ]);
    assert_ne!(code, 302, "{headers}");
    assert!(!headers.contains("511"), "{headers}");
}
