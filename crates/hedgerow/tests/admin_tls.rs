//! The admin app served safely beyond loopback, with the real binary and curl: HTTPS with a
//! certificate from the school CA (checked against that CA, by name and by address), HTTPS
//! with certificate files, the refusal of plain HTTP on a network address, and plain HTTP
//! behind a reverse proxy whose `X-Forwarded-For` is believed from the proxy's address only.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use support::admin::{AdminSite, Client, Reply, StaffAccount, serve_command};
use support::*;

/// A school whose configuration holds `admin_table` (the `[admin]` keys) and `listeners`.
fn school(dir: &Path, listeners: &str, admin_table: &str) -> PathBuf {
    SchoolConfig::new(dir)
        .table(&format!(
            "[listeners]\n{listeners}\n\n[admin]\n{admin_table}\n"
        ))
        .school(
            "test-school",
            "Test School",
            &group("unknown", "unidentified", &["gambling"]),
        )
        .write()
}

/// Runs `serve` as [`AdminSite::start`] does, expecting it to refuse to start; returns what
/// it said.
fn serve_refuses(config: &Path, admin_listen: &str) -> String {
    let (mut command, _, _) = serve_command(config, admin_listen, &[]);
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hedgerow serve kept running with admin listener {admin_listen}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    stderr
}

/// The `Set-Cookie` line of the session cookie, lower case.
fn session_cookie(headers: &str) -> String {
    headers
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: hedgerow-session=")
        })
        .unwrap_or_else(|| panic!("a session cookie in {headers}"))
        .to_ascii_lowercase()
}

fn hsts(headers: &str) -> bool {
    headers
        .to_ascii_lowercase()
        .contains("strict-transport-security: max-age=31536000")
}

#[test]
fn https_with_a_school_ca_certificate() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = school(
        dir.path(),
        "",
        "tls = \"school-ca\"\nnames = [\"hedgerow.school.test\"]",
    );

    // Without the school CA the gateway refuses to start and says how to make one.
    let said = serve_refuses(&config, &free_address().to_string());
    assert!(said.contains("hedgerow ca init"), "{said}");

    let out = hedgerow(&["ca", "init", "--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca = dir.path().join("data/ca/school-ca.pem");
    let governor = StaffAccount::create(&config, "g.governor", "governor");

    let mut site = AdminSite::start(&config, dir.path(), &[]);
    let port = site.app.port();
    let resolve = format!("hedgerow.school.test:{port}:127.0.0.1");
    let ca_arg = ca.to_str().unwrap();
    let by_name = Client::at(
        format!("https://hedgerow.school.test:{port}"),
        &["--cacert", ca_arg, "--resolve", &resolve],
    );

    // Over HTTPS, checked against the school CA by name: the sign-in page, a Secure session
    // cookie, and HSTS beside the usual security headers.
    let login = by_name.get("/login");
    assert_eq!(login.status, 200, "{}{}", login.headers, login.body);
    let cookie = session_cookie(&login.headers);
    assert!(cookie.contains("; secure"), "{cookie}");
    assert!(cookie.contains("httponly"), "{cookie}");
    assert!(hsts(&login.headers), "{}", login.headers);
    assert!(
        login
            .headers
            .contains("content-security-policy: default-src 'none'"),
        "{}",
        login.headers
    );

    // By the listener's address too (no SNI), still checked against the school CA.
    let by_address = Client::at(format!("https://127.0.0.1:{port}"), &["--cacert", ca_arg]);
    assert_eq!(by_address.get("/healthz").status, 200);

    // Without the school CA the certificate is not trusted: curl refuses, nothing is served.
    let untrusting = Client::at(format!("https://127.0.0.1:{port}"), &[]);
    assert_eq!(untrusting.get("/healthz").status, 0);

    // Plain HTTP to the HTTPS port is told to use HTTPS, and nothing else.
    let plain = Client::at(format!("http://127.0.0.1:{port}"), &[]);
    let refused = plain.get("/login");
    assert_eq!(refused.status, 400, "{}{}", refused.headers, refused.body);
    assert!(refused.body.contains("https://"), "{}", refused.body);
    assert!(
        !refused.headers.to_ascii_lowercase().contains("set-cookie"),
        "{}",
        refused.headers
    );

    // A connection that sends junk, and one that never starts its handshake, disturb nobody.
    let mut junk = TcpStream::connect(site.app).unwrap();
    junk.write_all(&[0x01, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    if let Err(error) = junk.read_to_end(&mut answer) {
        assert!(
            error.kind() == std::io::ErrorKind::ConnectionReset,
            "the junk connection was not closed: {error}"
        );
    }
    let mut silent = TcpStream::connect(site.app).unwrap();
    let silent_since = Instant::now();

    // A governor (no second factor) signs in over HTTPS and reaches the dashboard.
    let signed_in = by_name
        .sign_in_with_password(&governor.username, &governor.password)
        .0;
    assert_eq!(
        signed_in.status, 303,
        "{}{}",
        signed_in.headers, signed_in.body
    );
    assert!(session_cookie(&signed_in.headers).contains("; secure"));
    let dashboard = by_name.get("/");
    assert_eq!(
        dashboard.status, 200,
        "{}{}",
        dashboard.headers, dashboard.body
    );
    assert!(hsts(&dashboard.headers));

    // The silent connection is closed when its 10 seconds for a handshake are up.
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    match silent.read(&mut [0u8; 16]) {
        Ok(0) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the silent connection got {other:?}"),
    }
    let waited = silent_since.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );

    // It stops cleanly.
    assert!(site.process.stop(), "hedgerow did not stop cleanly");
    let log = site.log();
    assert!(log.contains("admin app listening over HTTPS"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// A test CA and a certificate it issued for `names`: (CA PEM, chain PEM, key PEM).
fn certificate_files(names: &[&str]) -> (String, String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Test Local Authority CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(params, ca_key);

    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (
        ca.pem(),
        format!("{}{}", leaf.pem(), ca.pem()),
        key.serialize_pem(),
    )
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn https_with_certificate_files() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, chain, key) = certificate_files(&["admin.school.test", "127.0.0.1"]);
    std::fs::write(dir.path().join("la-ca.pem"), ca).unwrap();
    std::fs::write(dir.path().join("admin.pem"), chain).unwrap();
    let key_path = dir.path().join("admin.key");
    std::fs::write(&key_path, key).unwrap();
    // The certificate is named relative to the configuration file, the key absolutely.
    let config = school(
        dir.path(),
        "",
        &format!(
            "tls = \"files\"\ncert = \"admin.pem\"\nkey = \"{}\"",
            key_path.display()
        ),
    );

    // A key every user can read is refused, with the fix.
    #[cfg(unix)]
    {
        chmod(&key_path, 0o644);
        let said = serve_refuses(&config, &free_address().to_string());
        assert!(said.contains("chmod 600"), "{said}");
        chmod(&key_path, 0o600);
    }

    let governor = StaffAccount::create(&config, "g.governor", "governor");
    let mut site = AdminSite::start(&config, dir.path(), &[]);
    let port = site.app.port();
    let ca_path = dir.path().join("la-ca.pem");
    let ca_arg = ca_path.to_str().unwrap();
    let resolve = format!("admin.school.test:{port}:127.0.0.1");
    let browser = Client::at(
        format!("https://admin.school.test:{port}"),
        &["--cacert", ca_arg, "--resolve", &resolve],
    );
    let login = browser.get("/login");
    assert_eq!(login.status, 200, "{}{}", login.headers, login.body);
    assert!(session_cookie(&login.headers).contains("; secure"));
    assert!(hsts(&login.headers), "{}", login.headers);
    let signed_in = browser
        .sign_in_with_password(&governor.username, &governor.password)
        .0;
    assert_eq!(
        signed_in.status, 303,
        "{}{}",
        signed_in.headers, signed_in.body
    );
    let by_address = Client::at(format!("https://127.0.0.1:{port}"), &["--cacert", ca_arg]);
    assert_eq!(by_address.get("/healthz").status, 200);
    assert!(site.process.stop());
}

#[test]
fn plain_http_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // In the file: `config check` names the key and line and gives the choices.
    let config = school(dir.path(), "admin = \"192.0.2.10:8080\"", "");
    let out = hedgerow(&["config", "check", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    for choice in [
        "listeners.admin",
        "tls = \"school-ca\"",
        "tls = \"files\"",
        "behind_tls_proxy = true",
    ] {
        assert!(said.contains(choice), "{choice} in {said}");
    }

    // On the command line: `serve` refuses before binding anything.
    let config = school(dir.path(), "", "");
    let said = serve_refuses(&config, "192.0.2.10:8080");
    assert!(
        said.contains("cannot start the admin app") && said.contains("tls = \"school-ca\""),
        "{said}"
    );
}

#[test]
fn behind_a_tls_proxy_the_forwarded_address_counts_only_from_the_proxy() {
    if !have_tools(&["curl"]) {
        return;
    }
    // 127.0.0.2 plays the reverse proxy; requests from 127.0.0.1 come from somebody else.
    let dir = tempfile::tempdir().unwrap();
    let config = school(
        dir.path(),
        "",
        "behind_tls_proxy = true\ntrusted_proxy = \"127.0.0.2\"",
    );
    let governor = StaffAccount::create(&config, "g.governor", "governor");
    let mut site = AdminSite::start(&config, dir.path(), &[]);
    let base = format!("http://{}", site.app);
    let via_proxy = |client: &str| {
        Client::at(
            base.clone(),
            &[
                "--interface",
                "127.0.0.2",
                "-H",
                &format!("X-Forwarded-For: {client}"),
            ],
        )
    };
    let direct = |claimed: &str| {
        Client::at(
            base.clone(),
            &["-H", &format!("X-Forwarded-For: {claimed}")],
        )
    };
    let locked = |reply: &Reply| reply.body.contains("Too many failed attempts");

    // Through the proxy: the cookie is Secure (the browser sees HTTPS) and HSTS is sent.
    let page = via_proxy("203.0.113.7").get("/login");
    assert_eq!(page.status, 200, "{}{}", page.headers, page.body);
    assert!(session_cookie(&page.headers).contains("; secure"));
    assert!(hsts(&page.headers), "{}", page.headers);

    // Five failed sign-ins (each under a different name, so only the address adds up) from
    // one forwarded address lock that address...
    for attempt in 1..=5 {
        let reply = via_proxy("203.0.113.7")
            .sign_in_with_password(&format!("nobody{attempt}"), "wrong guess")
            .0;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(!locked(&reply), "attempt {attempt} locked too soon");
    }
    let reply = via_proxy("203.0.113.7")
        .sign_in_with_password(&governor.username, &governor.password)
        .0;
    assert!(locked(&reply), "the sixth: {}", reply.body);
    // ...whatever the client wrote before the proxy's own entry...
    let reply = via_proxy("198.51.100.99, 203.0.113.7")
        .sign_in_with_password("nobody6", "wrong guess")
        .0;
    assert!(locked(&reply), "{}", reply.body);
    // ...while another forwarded address signs in.
    let reply = via_proxy("203.0.113.8")
        .sign_in_with_password(&governor.username, &governor.password)
        .0;
    assert_eq!(reply.status, 303, "{}{}", reply.headers, reply.body);

    // From anywhere but the proxy the header is ignored: five failures claiming five different
    // addresses all count against the real one, which is locked...
    for attempt in 1..=5 {
        let claimed = format!("198.51.100.{attempt}");
        let reply = direct(&claimed)
            .sign_in_with_password(&format!("someone{attempt}"), "wrong guess")
            .0;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(!locked(&reply), "attempt {attempt} locked too soon");
    }
    let reply = direct("198.51.100.6")
        .sign_in_with_password(&governor.username, &governor.password)
        .0;
    assert!(locked(&reply), "{}", reply.body);
    // ...and those answers carry no HSTS, as they did not come through the proxy.
    assert!(!hsts(&direct("198.51.100.7").get("/login").headers));
    // The proxy's clients are not affected.
    let reply = via_proxy("203.0.113.9")
        .sign_in_with_password(&governor.username, &governor.password)
        .0;
    assert_eq!(reply.status, 303, "{}{}", reply.headers, reply.body);

    assert!(site.process.stop());
    let log = site.log();
    assert!(log.contains("behind a reverse proxy"), "{log}");
}
