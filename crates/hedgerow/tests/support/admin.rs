//! The admin app under test: staff accounts made with `hedgerow admin create-account`, the
//! gateway started with `serve`, and a browser-like client (curl with a cookie jar) that signs
//! in with a password and, where the role needs one, a TOTP code.

use std::cell::Cell;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Running, free_port};

/// `hedgerow admin create-account`; returns its standard output.
pub fn create_account(config: &Path, username: &str, roles: &str, password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["admin", "create-account", "--config"])
        .arg(config)
        .args([
            "--username",
            username,
            "--name",
            &format!("{username} (test)"),
        ])
        .args(["--email", "staff@school.invalid", "--roles", roles])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A staff account made for a test, with what signing in needs.
pub struct StaffAccount {
    pub username: String,
    pub password: String,
    pub secret: Option<hedgerow_accounts::TotpSecret>,
    /// The last TOTP step this test used, so the next sign-in uses a fresh code.
    last_step: Cell<u64>,
}

impl StaffAccount {
    /// Creates the account; roles as `dsl,online-safety-lead`.
    pub fn create(config: &Path, username: &str, roles: &str) -> StaffAccount {
        let password = "lantern meadow copper ninety".to_string();
        let output = create_account(config, username, roles, &password);
        let secret = output
            .lines()
            .find_map(|l| l.trim().strip_prefix("secret: "))
            .map(|s| hedgerow_accounts::TotpSecret::from_base32(s).unwrap());
        StaffAccount {
            username: username.into(),
            password,
            secret,
            last_step: Cell::new(0),
        }
    }

    /// A code the app has not seen yet for this account: the current step, or the next one
    /// (which the app accepts for clock drift) when the current one was used; waits for a
    /// later step only when both were.
    pub fn fresh_code(&self) -> Option<String> {
        let secret = self.secret.as_ref()?;
        loop {
            let now = jiff::Timestamp::now().as_second() as u64;
            let step = now / 30;
            for candidate in [step, step + 1] {
                if candidate > self.last_step.get() {
                    self.last_step.set(candidate);
                    return Some(hedgerow_accounts::totp::code_at(secret, candidate * 30));
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// One account per role, named after the role (`dsl`, `teacher`, ...).
pub fn one_per_role(config: &Path) -> Vec<(String, StaffAccount)> {
    [
        "dsl",
        "deputy-dsl",
        "online-safety-lead",
        "headteacher",
        "network-manager",
        "teacher",
        "governor",
        "trust-admin",
    ]
    .into_iter()
    .map(|role| (role.to_string(), StaffAccount::create(config, role, role)))
    .collect()
}

/// `hedgerow serve --config CONFIG` with the admin app on a free loopback port (and the
/// DNS filter, proxy and metrics on free ports too, so tests never meet).
pub struct AdminSite {
    pub process: Running,
    pub app: SocketAddr,
    pub dns: SocketAddr,
    pub proxy: SocketAddr,
    pub log: PathBuf,
}

impl AdminSite {
    pub fn start(config: &Path, dir: &Path, extra: &[&str]) -> AdminSite {
        let port = |_| -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
        let (app, dns, proxy) = (port(()), port(()), port(()));
        let log = dir.join("gateway.log");
        let child = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--admin-listen", &app.to_string()])
            .args(["--dns-listen", &dns.to_string()])
            .args(["--proxy-listen", &proxy.to_string()])
            .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
            .args(extra)
            .env("HEDGEROW_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut process = Running {
            child,
            name: "hedgerow",
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(app).is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!(
                    "hedgerow exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the admin app did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        AdminSite {
            process,
            app,
            dns,
            proxy,
            log,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.app)
    }

    /// A client signed in as `account` (password, then a code where the role needs one).
    pub fn signed_in(&self, account: &StaffAccount) -> Client {
        let client = self.client();
        client.sign_in(account);
        client
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A browser-like client: curl with its own cookie jar.
pub struct Client {
    jar: tempfile::NamedTempFile,
    pub base: String,
}

/// What a request got back.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Client {
    pub fn new(app: SocketAddr) -> Client {
        Client {
            jar: tempfile::NamedTempFile::new().unwrap(),
            base: format!("http://{app}"),
        }
    }

    /// GET without a form, POST (url-encoded) with one. Returns (status, headers, body).
    pub fn request(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let reply = self.send("", path, form, &[]);
        (reply.status, reply.headers, reply.body)
    }

    /// Any method, with extra curl arguments (`-H`, `--data-binary`, ...).
    pub fn send(&self, method: &str, path: &str, form: &[(&str, &str)], extra: &[&str]) -> Reply {
        let headers = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new("curl");
        command
            .args(["-s", "--max-time", "30", "-b"])
            .arg(self.jar.path())
            .arg("-c")
            .arg(self.jar.path())
            .arg("-D")
            .arg(headers.path())
            .args(["-w", "\n%{http_code}"]);
        if !method.is_empty() {
            command.args(["-X", method]);
        }
        for (name, value) in form {
            command.args(["--data-urlencode", &format!("{name}={value}")]);
        }
        command.args(extra);
        let output = command
            .arg(format!("{}{path}", self.base))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Reply {
            status: code.trim().parse().unwrap_or(0),
            headers: std::fs::read_to_string(headers.path()).unwrap_or_default(),
            body: body.to_string(),
        }
    }

    /// The CSRF token of the form on `path`.
    pub fn csrf(&self, path: &str) -> String {
        let (_, _, body) = self.request(path, &[]);
        csrf_in(&body).unwrap_or_else(|| panic!("a CSRF field on {path}: {body}"))
    }

    /// The session cookie's value.
    pub fn cookie(&self) -> String {
        std::fs::read_to_string(self.jar.path())
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("hedgerow-session"))
            .and_then(|l| l.split('\t').next_back())
            .unwrap_or_default()
            .to_string()
    }

    /// Signs in; panics if the app refuses.
    pub fn sign_in(&self, account: &StaffAccount) {
        let csrf = self.csrf("/login");
        let (status, headers, body) = self.request(
            "/login",
            &[
                ("username", &account.username),
                ("password", &account.password),
                ("csrf", &csrf),
            ],
        );
        assert_eq!(
            status, 303,
            "sign-in of {}: {headers}{body}",
            account.username
        );
        if headers.contains("location: /login/code") {
            let code = account.fresh_code().expect("the role needs a TOTP secret");
            let (status, headers, body) =
                self.request("/login/code", &[("code", &code), ("csrf", &csrf)]);
            assert_eq!(status, 303, "code of {}: {headers}{body}", account.username);
        }
    }

    /// POSTs a form from `page` with that page's CSRF token added.
    pub fn submit(&self, page: &str, action: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let csrf = self.csrf(page);
        let mut all: Vec<(&str, &str)> = form.to_vec();
        all.push(("csrf", &csrf));
        self.request(action, &all)
    }
}

/// The value of the first `name="csrf"` field in a page.
pub fn csrf_in(body: &str) -> Option<String> {
    let at = body.find("name=\"csrf\" value=\"")? + 19;
    body[at..].split('"').next().map(str::to_string)
}
