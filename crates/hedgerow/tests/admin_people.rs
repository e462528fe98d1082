//! The people page and My account as a browser meets them (curl with a cookie jar, against the
//! real binary): a headteacher imports a SIMS-like pupils export (a byte order mark, quoted
//! names with commas, a hostile name) through a preview and a confirm; a file with a bad row is
//! refused whole; teachers are kept out; a network manager creates a teacher but cannot grant
//! the DSL role; password rules; a password change; enrolling an authenticator app.

mod support;

use std::path::{Path, PathBuf};

use support::admin::{AdminSite, StaffAccount, field_value, with_store};
use support::*;

fn config(dir: &Path) -> PathBuf {
    let groups = [
        group("ks1", "pupil", &["gambling"]),
        group("ks2", "pupil", &["gambling"]),
        group("staff", "staff", &[]),
        group("unknown", "unidentified", &["gambling"]),
    ];
    SchoolConfig::new(dir)
        .school("test-school", "Test School", &groups.concat())
        .write()
}

/// The value of the hidden field `name` in a page.
fn hidden(body: &str, name: &str) -> String {
    field_value(body, name).unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// Undoes the HTML escaping of an attribute value (askama writes numeric references).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some(end) = after.find(';') else {
            out.push_str(&rest[at..]);
            return out;
        };
        let entity = &after[..end];
        let ch = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        out.push(ch.expect("a known character reference"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Standard base64 with padding, as the confirm form carries a file.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const MAPPING: &str = "Reception - Year 2 = ks1\nYear 3 - Year 6 = ks2\n";

#[test]
fn headteacher_imports_pupils_through_a_preview_and_teachers_are_kept_out() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let head = StaffAccount::create(&config, "head", "headteacher");
    let teacher = StaffAccount::create(&config, "teacher", "teacher");
    let site = AdminSite::start(&config, dir.path(), &[]);

    // Teachers see no one's details and import nothing.
    let t = site.signed_in(&teacher);
    let (status, _, body) = t.request("/people", &[]);
    assert_eq!(status, 403, "{body}");
    let csrf = t.csrf("/account");
    let (status, _, _) = t.request(
        "/people/import",
        &[("csrf", &csrf), ("kind", "pupils"), ("csv", "Name\nA\n")],
    );
    assert_eq!(status, 403);
    let (status, _, _) = t.request(
        "/people/import/confirm",
        &[("csrf", &csrf), ("kind", "pupils"), ("data", "")],
    );
    assert_eq!(status, 403);

    let h = site.signed_in(&head);
    let (status, _, page) = h.request("/people", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<label for=\"import-file\">"),
        "labelled import form"
    );
    assert!(
        page.contains("ks1, ks2"),
        "the pupil groups are named: {page}"
    );

    // A SIMS-like export: a byte order mark, CRLF, quoted names with commas and quotes, and
    // a name that is an attack on whoever views it.
    let file = dir.path().join("pupils.csv");
    std::fs::write(
        &file,
        "\u{FEFF}UPN,Legal Surname,Legal Forename,Preferred Forename,NC Year,Reg Group,Network Login\r\n\
         A1,\"O'Neill, Jr\",Siobhan,,R,RA,s.oneill\r\n\
         A2,Smith,\"Jo, \"\"JJ\"\"\",,Year 2,2B,j.smith\r\n\
         A3,<script>alert(1)</script>,Bobby,,Y5,5C,b.tables\r\n",
    )
    .unwrap();
    let csrf = h.csrf("/people");
    let reply = h.send(
        "POST",
        "/people/import",
        &[],
        &[
            "--form-string",
            &format!("csrf={csrf}"),
            "--form-string",
            "kind=pupils",
            "--form-string",
            &format!("mapping={MAPPING}"),
            "-F",
            &format!("file=@{};type=text/csv", file.display()),
        ],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let preview = reply.body;
    assert!(
        preview.contains("<strong>3</strong> rows read"),
        "{preview}"
    );
    assert!(preview.contains("<strong>3</strong> new"), "{preview}");
    assert!(preview.contains("Columns not used: UPN"), "{preview}");
    assert!(
        preview.contains("Bobby &#60;script&#62;alert(1)&#60;/script&#62;"),
        "escaped: {preview}"
    );
    assert!(!preview.contains("<script>alert"), "never raw: {preview}");
    assert!(preview.contains("Siobhan O&#39;Neill, Jr"), "{preview}");
    // Nothing has changed yet.
    let before = with_store(dir.path(), async |s| {
        let school = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        s.person(school, "b.tables").await.unwrap()
    });
    assert!(before.is_none());

    // Confirm: the file comes back from the hidden field.
    let data = unescape(&hidden(&preview, "data"));
    let mapping = unescape(&hidden(&preview, "mapping"));
    let (status, _, done) = h.submit(
        "/people",
        "/people/import/confirm",
        &[("kind", "pupils"), ("data", &data), ("mapping", &mapping)],
    );
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("3 new, 0 changed"), "{done}");

    let (_, _, page) = h.request("/people", &[]);
    assert!(
        page.contains("<th scope=\"row\">ks1</th><td>pupil</td><td class=\"n\">2</td>"),
        "{page}"
    );
    assert!(
        page.contains("<th scope=\"row\">ks2</th><td>pupil</td><td class=\"n\">1</td>"),
        "{page}"
    );
    assert!(page.contains("<th scope=\"row\">2B</th>"), "{page}");
    let (people, audit) = with_store(dir.path(), async |s| {
        let school = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        let mut people = Vec::new();
        for name in ["s.oneill", "j.smith", "b.tables"] {
            people.push(s.person(school, name).await.unwrap().unwrap());
        }
        (people, s.audit_entries(Some(school), 50).await.unwrap())
    });
    assert_eq!(people[0].group_key, "ks1");
    assert_eq!(people[0].display_name, "Siobhan O'Neill, Jr");
    assert_eq!(people[1].display_name, "Jo, \"JJ\" Smith");
    assert_eq!(people[1].class_name.as_deref(), Some("2B"));
    assert_eq!(people[2].group_key, "ks2");
    assert_eq!(people[2].display_name, "Bobby <script>alert(1)</script>");
    let import = audit
        .iter()
        .find(|r| r.entry.action == "people.import")
        .expect("the import is audited");
    assert_eq!(import.entry.actor, "head");
    assert!(
        import.entry.detail.contains("created=3"),
        "{:?}",
        import.entry
    );
    assert!(
        !import.entry.detail.contains("oneill"),
        "counts only: {:?}",
        import.entry
    );

    // A file with one bad row is refused whole, every problem with its row, pasted this time.
    let bad =
        "Name,Username,Year\nNew Pupil,new.pupil,3\nNo Year,no.year,\nOdd Year,odd.year,Year 40\n";
    let (status, _, refused) = h.submit(
        "/people",
        "/people/import",
        &[("kind", "pupils"), ("csv", bad), ("mapping", MAPPING)],
    );
    assert_eq!(status, 422, "{refused}");
    assert!(refused.contains("Nothing was imported"), "{refused}");
    assert!(
        refused.contains("row 3: the year group is empty"),
        "{refused}"
    );
    assert!(
        refused.contains("row 4: &#34;Year 40&#34; is not a year group"),
        "{refused}"
    );
    assert!(
        !refused.contains("confirm-import"),
        "no way to confirm: {refused}"
    );
    // Even sent straight to the confirm step, the file is refused and nothing changes.
    let data = base64(bad.as_bytes());
    let (status, _, _) = h.submit(
        "/people",
        "/people/import/confirm",
        &[("kind", "pupils"), ("data", &data), ("mapping", MAPPING)],
    );
    assert_eq!(status, 422);
    let new_pupil = with_store(dir.path(), async |s| {
        let school = s.school_by_slug("test-school").await.unwrap().unwrap().id;
        s.person(school, "new.pupil").await.unwrap()
    });
    assert!(new_pupil.is_none(), "all or nothing");
}

/// Signs in with a password only; the status and where it sends the browser.
fn password_sign_in(site: &AdminSite, username: &str, password: &str) -> (u16, String) {
    let (reply, _) = site.client().sign_in_with_password(username, password);
    (reply.status, reply.headers)
}

#[test]
fn accounts_passwords_and_authenticator_apps() {
    if !have_tools(&["curl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let manager = StaffAccount::create(&config, "manager", "network-manager");
    let head = StaffAccount::create(&config, "head", "headteacher");
    // Someone whose role needs no second factor, to enrol one of their own free will.
    let governor = StaffAccount::create(&config, "governor", "governor");
    let site = AdminSite::start(&config, dir.path(), &[]);

    let m = site.signed_in(&manager);
    let (status, _, page) = m.request("/people", &[]);
    assert_eq!(status, 200, "{page}");
    // The DSL role is not offered to a network manager.
    assert!(!page.contains("id=\"new-role-dsl\""), "{page}");
    let new_teacher = [
        ("username", "new.teacher"),
        ("display_name", "New <i>Teacher</i>"),
        ("email", "new.teacher@school.example"),
        ("password", "grapefruit lantern otter"),
        ("password_again", "grapefruit lantern otter"),
    ];

    // Not the DSL role, even by posting it.
    let mut as_dsl = new_teacher.to_vec();
    as_dsl.push(("role", "dsl"));
    let (status, _, body) = m.submit("/people", "/people/accounts", &as_dsl);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("You cannot give or take away the role"),
        "{body}"
    );

    // A common password is refused with the rule named.
    let mut weak = new_teacher.to_vec();
    weak[3] = ("password", "Password123!");
    weak[4] = ("password_again", "Password123!");
    weak.push(("role", "teacher"));
    let (status, _, body) = m.submit("/people", "/people/accounts", &weak);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("most common passwords"), "{body}");
    let mut short = weak.clone();
    short[3] = ("password", "short");
    short[4] = ("password_again", "short");
    let (status, _, body) = m.submit("/people", "/people/accounts", &short);
    assert_eq!(status, 422);
    assert!(body.contains("needs at least 10"), "{body}");
    assert_eq!(
        password_sign_in(&site, "new.teacher", "grapefruit lantern otter").0,
        401
    );

    let mut good = new_teacher.to_vec();
    good.push(("role", "teacher"));
    let (status, _, body) = m.submit("/people", "/people/accounts", &good);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("The account new.teacher was created"),
        "{body}"
    );
    assert!(
        body.contains("totp-secret"),
        "teachers record safeguarding concerns, so they enrol a second factor: {body}"
    );
    let (status, headers) = password_sign_in(&site, "new.teacher", "grapefruit lantern otter");
    assert_eq!(status, 303, "{headers}");
    assert!(headers.contains("location: /login/code"), "{headers}");
    let (_, _, page) = m.request("/people", &[]);
    assert!(
        page.contains("New &#60;i&#62;Teacher&#60;/i&#62;"),
        "escaped: {page}"
    );

    // The manager may disable the teacher they made, but not the headteacher, nor themselves.
    let (id_teacher, id_head, id_manager) = with_store(dir.path(), async |s| {
        let id = async |name: &str| {
            s.admin_account_by_username(name)
                .await
                .unwrap()
                .unwrap()
                .id
                .0
        };
        (
            id("new.teacher").await,
            id("head").await,
            id("manager").await,
        )
    });
    let (status, _, body) = m.submit(
        "/people",
        &format!("/people/accounts/{id_head}/disable"),
        &[],
    );
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = m.submit(
        "/people",
        &format!("/people/accounts/{id_manager}/disable"),
        &[],
    );
    assert_eq!(status, 422);
    let (status, _, _) = m.submit(
        "/people",
        &format!("/people/accounts/{id_teacher}/disable"),
        &[],
    );
    assert_eq!(status, 303);
    assert_eq!(
        password_sign_in(&site, "new.teacher", "grapefruit lantern otter").0,
        401
    );
    // Roles: the manager cannot make the teacher a deputy DSL, nor drop their own last
    // account-managing role.
    let (status, _, _) = m.submit(
        "/people",
        &format!("/people/accounts/{id_teacher}/roles"),
        &[("role", "teacher"), ("role", "deputy-dsl")],
    );
    assert_eq!(status, 403);
    let (status, _, body) = m.submit(
        "/people",
        &format!("/people/accounts/{id_manager}/roles"),
        &[("role", "teacher")],
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("your own last role that manages accounts"),
        "{body}"
    );
    // The headteacher (who reads browsing) may make the teacher an online-safety lead. The
    // teacher enrolled an authenticator app when the account was made (teachers record
    // safeguarding concerns), so no new secret is issued: the change simply takes effect.
    let h = site.signed_in(&head);
    let (status, headers, body) = h.submit(
        "/people",
        &format!("/people/accounts/{id_teacher}/roles"),
        &[("role", "teacher"), ("role", "online-safety-lead")],
    );
    assert!(matches!(status, 200 | 303), "{headers}{body}");
    assert!(!body.contains("id=\"totp-secret\""), "{body}");
    let roles = with_store(dir.path(), async |s| {
        s.admin_account_by_username("new.teacher")
            .await
            .unwrap()
            .unwrap()
            .roles
    });
    assert_eq!(roles, ["online-safety-lead", "teacher"]);

    // My account: a password change, after which the old password no longer works.
    let t = site.signed_in(&governor);
    let (status, _, page) = t.request("/account", &[]);
    assert_eq!(status, 200);
    assert!(page.contains("<label for=\"new-password\">"), "{page}");
    let (status, _, body) = t.submit(
        "/account",
        "/account/password",
        &[
            ("current", "not my password"),
            ("new_password", "marmalade bicycle heron"),
            ("new_again", "marmalade bicycle heron"),
        ],
    );
    assert_eq!(status, 422);
    assert!(body.contains("current password is not right"), "{body}");
    let (status, _, body) = t.submit(
        "/account",
        "/account/password",
        &[
            ("current", &governor.password),
            ("new_password", "qwertyuiop1"),
            ("new_again", "qwertyuiop1"),
        ],
    );
    assert_eq!(status, 422);
    assert!(body.contains("not accepted"), "{body}");
    let (status, _, body) = t.submit(
        "/account",
        "/account/password",
        &[
            ("current", &governor.password),
            ("new_password", "marmalade bicycle heron"),
            ("new_again", "marmalade bicycle heron"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Your password was changed"), "{body}");
    assert_eq!(
        password_sign_in(&site, "governor", &governor.password).0,
        401
    );
    assert_eq!(
        password_sign_in(&site, "governor", "marmalade bicycle heron").0,
        303
    );

    // An authenticator app: a wrong code is refused, the right one saves the secret.
    let t = site.client();
    t.sign_in_with_password("governor", "marmalade bicycle heron");
    let (status, _, page) = t.request("/account/totp", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("otpauth://totp/"), "{page}");
    let at = page.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    let secret_text = page[at..].split('<').next().unwrap().to_string();
    let secret = hedgerow_accounts::TotpSecret::from_base32(&secret_text).unwrap();
    let csrf = hidden(&page, "csrf");
    let right =
        hedgerow_accounts::totp::code_at(&secret, jiff::Timestamp::now().as_second() as u64);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let (status, _, body) = t.request(
        "/account/totp",
        &[
            ("password", "marmalade bicycle heron"),
            ("code", &wrong),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("That code is not right"), "{body}");
    assert!(
        body.contains(&secret_text),
        "the same secret is offered again"
    );
    let enrolled = with_store(dir.path(), async |s| {
        s.admin_account_by_username("governor")
            .await
            .unwrap()
            .unwrap()
            .totp_secret
    });
    assert_eq!(enrolled, None, "a wrong code saves nothing");
    let right =
        hedgerow_accounts::totp::code_at(&secret, jiff::Timestamp::now().as_second() as u64);
    let (status, _, body) = t.request(
        "/account/totp",
        &[
            ("password", "marmalade bicycle heron"),
            ("code", &right),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Your authenticator app is set up"), "{body}");
    let enrolled = with_store(dir.path(), async |s| {
        s.admin_account_by_username("governor")
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(enrolled.totp_secret.as_deref(), Some(secret_text.as_str()));
    assert!(
        enrolled.totp_last_step.is_some(),
        "the enrolment code cannot be used again"
    );
    let audit = with_store(dir.path(), async |s| {
        s.audit_entries(None, 100).await.unwrap()
    });
    for action in [
        "account.create",
        "account.disable",
        "account.roles",
        "account.password",
        "account.totp",
    ] {
        assert!(
            audit.iter().any(|r| r.entry.action == action),
            "{action} audited"
        );
    }
}
