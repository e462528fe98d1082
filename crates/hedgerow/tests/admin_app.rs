//! The admin app's sign-in as a browser meets it, with curl and a cookie jar: security headers,
//! CSRF, wrong passwords, a teacher signed in with a password, a DSL who also needs a TOTP code
//! (which cannot be used twice), a new session id at sign-in, and signing out.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::admin::{Client, create_account};
use support::*;

fn config(dir: &Path) -> std::path::PathBuf {
    let lists = dir.join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(lists.join("gambling.domains"), "bets.example\n").unwrap();
    let path = dir.join("school.toml");
    std::fs::write(
        &path,
        format!(
            r#"data_dir = "{data}"
[lists]
sources = ["{lists}"]

[[school]]
slug = "test-school"
name = "Test School"

[school.groups.ks2]
kind = "pupil"
default = "allow"
[school.groups.ks2.actions]
gambling = "block"

[school.groups.unknown]
kind = "unidentified"
default = "allow"
[school.groups.unknown.actions]
gambling = "block"
"#,
            data = dir.join("data").display(),
            lists = lists.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn staff_sign_in_with_password_then_code_and_sign_out() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    create_account(
        &config,
        "t.teacher",
        "teacher",
        "a long and unusual passphrase",
    );
    let enrolment = create_account(&config, "d.dsl", "dsl", "correct horse battery staple");
    let secret = enrolment
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .expect("the DSL gets a TOTP secret")
        .to_string();
    let secret = hedgerow_accounts::TotpSecret::from_base32(&secret).unwrap();

    let app: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--admin-listen", &app.to_string()])
        .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut gateway = Running {
        child,
        name: "hedgerow",
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(app).is_err() {
        assert!(Instant::now() < deadline, "the admin app did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Every page carries the security headers, and signed-out visitors go to the sign-in page.
    let teacher = Client::new(app);
    let (status, headers, _) = teacher.request("/", &[]);
    assert_eq!(status, 303, "{headers}");
    assert!(headers.contains("location: /login"), "{headers}");
    let (status, headers, body) = teacher.request("/login", &[]);
    assert_eq!(status, 200);
    for header in [
        "content-security-policy: default-src 'none'",
        "x-frame-options: DENY",
        "x-content-type-options: nosniff",
        "cache-control: no-store",
    ] {
        assert!(headers.contains(header), "{header} in {headers}");
    }
    assert!(
        headers.to_ascii_lowercase().contains("httponly") && headers.contains("SameSite=Strict"),
        "{headers}"
    );
    assert!(
        body.contains("<label for=\"password\">"),
        "labelled controls"
    );

    // A form without this session's CSRF token is refused.
    let (status, _, _) = teacher.request(
        "/login",
        &[
            ("username", "t.teacher"),
            ("password", "a long and unusual passphrase"),
            ("csrf", "forged"),
        ],
    );
    assert_eq!(status, 403);

    // A wrong password is refused; the right one signs the teacher in with a new session id.
    let csrf = teacher.csrf("/login");
    let (status, _, body) = teacher.request(
        "/login",
        &[
            ("username", "t.teacher"),
            ("password", "not the passphrase"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 401);
    assert!(body.contains("not right"), "{body}");
    let before = teacher.cookie();
    let (status, headers, _) = teacher.request(
        "/login",
        &[
            ("username", "T.Teacher"),
            ("password", "a long and unusual passphrase"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 303, "{headers}");
    assert_ne!(teacher.cookie(), before, "a new session id at sign-in");
    let (status, _, body) = teacher.request("/", &[]);
    assert_eq!(status, 200);
    assert!(
        body.contains("t.teacher (test)")
            && body.contains("Dashboard")
            && !body.contains("Blocked by category"),
        "{body}"
    );

    // The DSL needs a code as well; a used code cannot be used again.
    let dsl = Client::new(app);
    let csrf = dsl.csrf("/login");
    let (status, headers, _) = dsl.request(
        "/login",
        &[
            ("username", "d.dsl"),
            ("password", "correct horse battery staple"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 303);
    assert!(headers.contains("location: /login/code"), "{headers}");
    let (status, _, _) = dsl.request("/", &[]);
    assert_eq!(status, 303, "not signed in before the code");
    let now = jiff::Timestamp::now().as_second() as u64;
    let code = hedgerow_accounts::totp::code_at(&secret, now);
    let (status, _, _) = dsl.request("/login/code", &[("code", "000000"), ("csrf", &csrf)]);
    assert_eq!(status, 401);
    let (status, _, _) = dsl.request("/login/code", &[("code", &code), ("csrf", &csrf)]);
    assert_eq!(status, 303);
    let (status, _, body) = dsl.request("/", &[]);
    assert_eq!(status, 200, "{body}");

    let again = Client::new(app);
    let csrf2 = again.csrf("/login");
    again.request(
        "/login",
        &[
            ("username", "d.dsl"),
            ("password", "correct horse battery staple"),
            ("csrf", &csrf2),
        ],
    );
    let (status, _, _) = again.request("/login/code", &[("code", &code), ("csrf", &csrf2)]);
    assert_eq!(status, 401, "a code already used is refused");

    // Signing out ends the session.
    let csrf = dsl.csrf("/");
    let (status, _, _) = dsl.request("/logout", &[("csrf", &csrf)]);
    assert_eq!(status, 303);
    let (status, _, _) = dsl.request("/", &[]);
    assert_eq!(status, 303);
    assert!(gateway.stop(), "the gateway stops cleanly");
}

#[test]
fn a_trust_administrator_works_across_schools_and_a_school_account_does_not() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lists = dir.path().join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(lists.join("gambling.domains"), "bets.example\n").unwrap();
    let mut text = format!(
        "data_dir = \"{}\"\n[lists]\nsources = [\"{}\"]\n",
        dir.path().join("data").display(),
        lists.display()
    );
    for (slug, name) in [("oak", "Oak Primary"), ("ash", "Ash Academy")] {
        text.push_str(&format!(
            "\n[[school]]\nslug = \"{slug}\"\nname = \"{name}\"\n[school.groups.pupils]\nkind = \"pupil\"\ndefault = \"allow\"\n[school.groups.pupils.actions]\ngambling = \"block\"\n[school.groups.unknown]\nkind = \"unidentified\"\ndefault = \"allow\"\n[school.groups.unknown.actions]\ngambling = \"block\"\n"
        ));
    }
    let config = dir.path().join("trust.toml");
    std::fs::write(&config, text).unwrap();

    // A trust-wide account, and a network manager of one school; both manage accounts, so
    // both sign in with a second factor.
    let create = |extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
            .args(["admin", "create-account", "--config"])
            .arg(&config)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"lantern meadow copper ninety")
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|l| l.trim().strip_prefix("secret: ").map(str::to_string))
            .map(|s| hedgerow_accounts::TotpSecret::from_base32(&s).unwrap())
    };
    let trust_secret = create(&[
        "--username",
        "trust.it",
        "--name",
        "Trust IT",
        "--email",
        "it@trust.invalid",
        "--roles",
        "trust-admin",
        "--trust-wide",
    ]);
    let nm_secret = create(&[
        "--username",
        "oak.nm",
        "--name",
        "Oak NM",
        "--email",
        "nm@oak.invalid",
        "--roles",
        "network-manager",
        "--school",
        "oak",
    ]);

    let site = support::admin::AdminSite::start(&config, dir.path(), &[]);
    let sign_in = |user: &str| {
        let client = site.client();
        let csrf = client.csrf("/login");
        let (status, headers, _) = client.request(
            "/login",
            &[
                ("username", user),
                ("password", "lantern meadow copper ninety"),
                ("csrf", &csrf),
            ],
        );
        assert_eq!(status, 303);
        if headers.contains("location: /login/code") {
            let secret = if user == "trust.it" {
                &trust_secret
            } else {
                &nm_secret
            };
            let secret = secret.as_ref().expect("a second factor");
            let code =
                hedgerow_accounts::totp::code_at(secret, jiff::Timestamp::now().as_second() as u64);
            let (status, _, _) = client.request("/login/code", &[("code", &code), ("csrf", &csrf)]);
            assert_eq!(status, 303);
        }
        client
    };
    let trust = sign_in("trust.it");
    let (status, headers, home) = trust.request("/", &[]);
    assert!(
        home.contains("Oak Primary") && home.contains("id=\"switch-school\""),
        "{status} {headers} {home}\n{}",
        site.log()
    );
    let (status, _, _) = trust.submit("/", "/school", &[("school", "ash")]);
    assert_eq!(status, 303);
    let (_, _, policy) = trust.request("/policy", &[]);
    assert!(
        policy.contains("Filtering policy for Ash Academy"),
        "{policy}"
    );
    let (status, _, _) = trust.submit("/", "/school", &[("school", "elm")]);
    assert_eq!(status, 400, "a school that does not exist");

    // Its API token names the school it works on in a header.
    let (status, _, page) = trust.submit("/api-tokens", "/api-tokens", &[("name", "trust sync")]);
    assert_eq!(status, 201, "{page}");
    let token = page
        .split("id=\"new-token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the new token, shown once")
        .to_string();
    let api = |school: Option<&str>| {
        let bearer = format!("Authorization: Bearer {token}");
        let mut extra = vec!["-H", bearer.as_str()];
        let header = school.map(|s| format!("X-Hedgerow-School: {s}"));
        if let Some(h) = &header {
            extra.extend(["-H", h.as_str()]);
        }
        let reply = site.client().send("GET", "/api/v1/me", &[], &extra);
        (reply.status, reply.body)
    };
    let (status, body) = api(Some("ash"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"slug\":\"ash\""), "{body}");
    let (_, default) = api(None);
    assert!(
        default.contains("\"slug\":\"ash\""),
        "the first school by slug: {default}"
    );
    assert!(api(Some("oak")).1.contains("\"slug\":\"oak\""));
    assert_eq!(api(Some("elm")).0, 404, "a school the trust does not have");

    let nm = sign_in("oak.nm");
    let (_, _, home) = nm.request("/", &[]);
    assert!(
        !home.contains("switch-school"),
        "one school's account has no picker"
    );
    let (status, _, _) = nm.submit("/", "/school", &[("school", "ash")]);
    assert_eq!(status, 403);
    let (_, _, policy) = nm.request("/policy", &[]);
    assert!(
        policy.contains("Filtering policy for Oak Primary"),
        "{policy}"
    );
}
