//! The admin app's sign-in as a browser meets it, with curl and a cookie jar: security headers,
//! CSRF, wrong passwords, a teacher signed in with a password, a DSL who also needs a TOTP code
//! (which cannot be used twice), a new session id at sign-in, and signing out.

mod support;

use std::path::{Path, PathBuf};

use support::admin::{AdminSite, StaffAccount};
use support::*;

fn config(dir: &Path) -> PathBuf {
    SchoolConfig::new(dir)
        .school("test-school", "Test School", &ks2_and_unknown())
        .write()
}

#[test]
fn staff_sign_in_with_password_then_code_and_sign_out() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let teacher_account = StaffAccount::create(&config, "t.teacher", "teacher");
    let dsl_account = StaffAccount::create(&config, "d.dsl", "dsl");
    assert!(dsl_account.secret.is_some(), "the DSL gets a TOTP secret");
    let mut site = AdminSite::start(&config, dir.path(), &[]);

    // Every page carries the security headers, and signed-out visitors go to the sign-in page.
    let teacher = site.client();
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
            ("password", &teacher_account.password),
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
            ("password", &teacher_account.password),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 303, "{headers}");
    // Teachers record safeguarding concerns, so a code follows the password.
    assert!(headers.contains("location: /login/code"), "{headers}");
    let code = teacher_account
        .fresh_code()
        .expect("a teacher has a second factor");
    let (status, headers, _) = teacher.request("/login/code", &[("code", &code), ("csrf", &csrf)]);
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
    let dsl = site.client();
    let csrf = dsl.csrf("/login");
    let (status, headers, _) = dsl.request(
        "/login",
        &[
            ("username", "d.dsl"),
            ("password", &dsl_account.password),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 303);
    assert!(headers.contains("location: /login/code"), "{headers}");
    let (status, _, _) = dsl.request("/", &[]);
    assert_eq!(status, 303, "not signed in before the code");
    let code = dsl_account.fresh_code().expect("the DSL's code");
    let (status, _, _) = dsl.request("/login/code", &[("code", "000000"), ("csrf", &csrf)]);
    assert_eq!(status, 401);
    let (status, _, _) = dsl.request("/login/code", &[("code", &code), ("csrf", &csrf)]);
    assert_eq!(status, 303);
    let (status, _, body) = dsl.request("/", &[]);
    assert_eq!(status, 200, "{body}");

    let again = site.client();
    let csrf2 = again.csrf("/login");
    again.request(
        "/login",
        &[
            ("username", "d.dsl"),
            ("password", &dsl_account.password),
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
    assert!(site.process.stop(), "the gateway stops cleanly");
}

#[test]
fn a_trust_administrator_works_across_schools_and_a_school_account_does_not() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let groups =
        group("pupils", "pupil", &["gambling"]) + &group("unknown", "unidentified", &["gambling"]);
    let config = SchoolConfig::new(dir.path())
        .school("oak", "Oak Primary", &groups)
        .school("ash", "Ash Academy", &groups)
        .write_as("trust.toml");

    // A trust-wide account, and a network manager of one school; both manage accounts, so
    // both sign in with a second factor.
    let trust_it = StaffAccount::create_with(&config, "trust.it", "trust-admin", &["--trust-wide"]);
    let oak_nm =
        StaffAccount::create_with(&config, "oak.nm", "network-manager", &["--school", "oak"]);

    let site = AdminSite::start(&config, dir.path(), &[]);
    let trust = site.signed_in(&trust_it);
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
    let token = trust.make_token("trust sync");
    let api = |school: Option<&str>| {
        let header = school.map(|s| format!("X-Hedgerow-School: {s}"));
        let extra: Vec<&str> = header.iter().flat_map(|h| ["-H", h.as_str()]).collect();
        let reply = site.bearer("GET", "/api/v1/me", Some(&token), &extra);
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

    let nm = site.signed_in(&oak_nm);
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
