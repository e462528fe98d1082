//! The admin app under test: staff accounts made with `hedgerow admin create-account`, the
//! gateway started with `serve`, a browser-like client (curl with a cookie jar) that signs
//! in with a password and, where the role needs one, a TOTP code, the JSON API called with a
//! bearer token, and what a pupil's device meets in the DNS filter and the proxy.

use std::cell::Cell;
use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::origin::{TestOrigin, hosts_file};
use super::{Running, dig, free_address, start_hedgerow, wait_for};

/// `hedgerow admin create-account --config CONFIG ARGS...` with `password` on its standard
/// input; how it ended.
pub fn create_account_output(config: &Path, args: &[&str], password: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["admin", "create-account", "--config"])
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let written = child.stdin.take().unwrap().write_all(password.as_bytes());
    // A refusal (of an unknown role, say) may come before the password is read, closing the
    // pipe; how the command ended says what happened.
    if let Err(error) = written {
        assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
    }
    child.wait_with_output().unwrap()
}

/// [`create_account_output`] that must succeed; its standard output.
pub fn run_create_account(config: &Path, args: &[&str], password: &str) -> String {
    let output = create_account_output(config, args, password);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The TOTP secret `create-account` printed (for roles that need a second factor).
pub fn secret_in(output: &str) -> Option<hedgerow_accounts::TotpSecret> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .map(|s| hedgerow_accounts::TotpSecret::from_base32(s).unwrap())
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
    /// Every test account's password: long enough, not common, and free of any test user name.
    pub const PASSWORD: &str = "lantern meadow copper ninety";

    /// Creates the account; roles as `dsl,online-safety-lead`.
    pub fn create(config: &Path, username: &str, roles: &str) -> StaffAccount {
        StaffAccount::create_with(config, username, roles, &[])
    }

    /// [`StaffAccount::create`] with more arguments to `create-account`: `--trust-wide`, or
    /// `--school SLUG` in a trust.
    pub fn create_with(config: &Path, username: &str, roles: &str, extra: &[&str]) -> StaffAccount {
        let name = format!("{username} (test)");
        let mut args = vec![
            "--username",
            username,
            "--name",
            &name,
            "--email",
            "staff@school.invalid",
            "--roles",
            roles,
        ];
        args.extend_from_slice(extra);
        let output = run_create_account(config, &args, StaffAccount::PASSWORD);
        StaffAccount {
            username: username.into(),
            password: StaffAccount::PASSWORD.into(),
            secret: secret_in(&output),
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

/// The store the gateway in `dir` writes (`dir/data/hedgerow.db`), opened beside it (SQLite
/// in WAL mode takes a second reader) for `work`, and closed after.
pub fn with_store<T>(dir: &Path, work: impl AsyncFnOnce(hedgerow_store::Store) -> T) -> T {
    with_database(dir, None, work)
}

/// As [`with_store`], or, given a `database` URL (a gateway configured with `[database] url`),
/// that database.
pub fn with_database<T>(
    dir: &Path,
    database: Option<&str>,
    work: impl AsyncFnOnce(hedgerow_store::Store) -> T,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = match database {
            Some(url) => hedgerow_store::Store::open(url).await.unwrap(),
            None => hedgerow_store::Store::open_sqlite_file(&dir.join("data/hedgerow.db"))
                .await
                .unwrap(),
        };
        let out = work(store.clone()).await;
        store.close().await;
        out
    })
}

/// `hedgerow serve --config CONFIG --admin-listen ADMIN EXTRA...` with the DNS filter, proxy
/// and metrics on free loopback ports, so tests never meet; the command (not yet started)
/// and the DNS filter's and proxy's addresses.
pub fn serve_command(
    config: &Path,
    admin: &str,
    extra: &[&str],
) -> (Command, SocketAddr, SocketAddr) {
    let (dns, proxy) = (free_address(), free_address());
    let mut command = Command::new(env!("CARGO_BIN_EXE_hedgerow"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .args(["--admin-listen", admin])
        .args(["--dns-listen", &dns.to_string()])
        .args(["--proxy-listen", &proxy.to_string()])
        .args(["--metrics-listen", &free_address().to_string()])
        .args(extra);
    (command, dns, proxy)
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
    /// Starts the gateway (`extra` added to `serve`, such as `--upstream`) and waits until the
    /// admin app takes connections; its log is `dir/gateway.log`.
    pub fn start(config: &Path, dir: &Path, extra: &[&str]) -> AdminSite {
        let app = free_address();
        let (mut command, dns, proxy) = serve_command(config, &app.to_string(), extra);
        let log = dir.join("gateway.log");
        let process = start_hedgerow(&mut command, &log, "the admin app", || {
            std::net::TcpStream::connect(app).is_ok()
        });
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

    /// Waits until the DNS filter answers a name from its upstream (for a site started with
    /// `--upstream`).
    pub fn wait_for_dns(&self) {
        wait_for(
            || {
                !dig(self.dns, &["+short", "probe.example"])
                    .trim()
                    .is_empty()
            },
            "the DNS filter",
        );
    }

    /// dig asking the DNS filter from `device` (a loopback address); the whole answer.
    pub fn dig_from(&self, device: &str, args: &[&str]) -> String {
        let mut all = vec!["-b", device];
        all.extend_from_slice(args);
        dig(self.dns, &all)
    }

    /// What `device` is told for `name`, as `dig +short` prints it, trimmed: the block page's
    /// address when it is blocked.
    pub fn dns_answer(&self, device: &str, name: &str) -> String {
        self.dig_from(device, &["+short", name]).trim().to_string()
    }

    /// `url` fetched through the proxy, from `device` where given (else from 127.0.0.1).
    pub fn through_proxy(&self, device: Option<&str>, url: &str) -> Reply {
        let proxy = format!("http://{}", self.proxy);
        let mut extra = vec!["-x", proxy.as_str()];
        if let Some(device) = device {
            extra.extend(["--interface", device]);
        }
        Client::at(String::new(), &extra).get(url)
    }

    /// An API request with no cookies: `token` as a bearer token, `extra` curl arguments
    /// (headers, a body).
    pub fn bearer(&self, method: &str, path: &str, token: Option<&str>, extra: &[&str]) -> Reply {
        let authorization = token.map(|token| format!("Authorization: Bearer {token}"));
        let mut all: Vec<&str> = Vec::new();
        if let Some(header) = &authorization {
            all.extend(["-H", header.as_str()]);
        }
        all.extend_from_slice(extra);
        self.client().send(method, path, &[], &all)
    }

    /// An API request with no cookies: `token` as a bearer token, `body` as JSON.
    pub fn api(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
        match body {
            Some(body) => self.bearer(
                method,
                path,
                token,
                &[
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    body,
                ],
            ),
            None => self.bearer(method, path, token, &[]),
        }
    }

    /// A JSON POST whose body is read from a file (curl's `@file`): for bodies longer than one
    /// command-line argument may be.
    pub fn api_file(&self, path: &str, token: &str, body: &Path) -> Reply {
        self.api(
            "POST",
            path,
            Some(token),
            Some(&format!("@{}", body.display())),
        )
    }
}

/// A test origin at `ip` standing in for the sites `names`: the origin, and the `[proxy]`
/// table that sends the proxy there (through a hosts file written into `dir`).
pub fn origin_for(dir: &Path, ip: Ipv4Addr, names: &[&str]) -> (TestOrigin, String) {
    let origin = TestOrigin::start(ip);
    let entries: Vec<_> = names.iter().map(|name| (*name, origin.ip())).collect();
    let hosts = hosts_file(&entries);
    let hosts_path = dir.join("hosts");
    std::fs::copy(hosts.path(), &hosts_path).unwrap();
    let table = format!("\n[proxy]\nhosts_file = \"{}\"\n", hosts_path.display());
    (origin, table)
}

/// A browser-like client: curl with its own cookie jar.
pub struct Client {
    jar: tempfile::NamedTempFile,
    pub base: String,
    /// curl arguments added to every request (`--cacert`, `--resolve`, `--interface`, `-H`).
    extra: Vec<String>,
}

/// What a request got back.
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Client {
    pub fn new(app: SocketAddr) -> Client {
        Client::at(format!("http://{app}"), &[])
    }

    /// A client of the app at `base` (`https://name:port`) with `extra` curl arguments on
    /// every request.
    pub fn at(base: String, extra: &[&str]) -> Client {
        Client {
            jar: tempfile::NamedTempFile::new().unwrap(),
            base,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// GET without a form, POST (url-encoded) with one. Returns (status, headers, body).
    pub fn request(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let reply = self.send("", path, form, &[]);
        (reply.status, reply.headers, reply.body)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Reply {
        self.send("", path, &[], &[])
    }

    /// The body of a page that must answer 200.
    pub fn page(&self, path: &str) -> String {
        let reply = self.get(path);
        assert_eq!(
            reply.status, 200,
            "GET {path}: {}{}",
            reply.headers, reply.body
        );
        reply.body
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
            .args(["-w", "\n%{http_code}"])
            .args(&self.extra);
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

    /// The first step of signing in: the sign-in form's CSRF token, then the username and
    /// password. The reply (a 303 to `/` or, where a code is needed, to `/login/code`), and
    /// the token, which the code form needs too.
    pub fn sign_in_with_password(&self, username: &str, password: &str) -> (Reply, String) {
        let csrf = self.csrf("/login");
        let reply = self.send(
            "",
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
            &[],
        );
        (reply, csrf)
    }

    /// Signs in; panics if the app refuses.
    pub fn sign_in(&self, account: &StaffAccount) {
        let (reply, csrf) = self.sign_in_with_password(&account.username, &account.password);
        assert_eq!(
            reply.status, 303,
            "sign-in of {}: {}{}",
            account.username, reply.headers, reply.body
        );
        if reply.headers.contains("location: /login/code") {
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

    /// Makes an API token named `name` on the tokens page; returns it (it is shown once).
    pub fn make_token(&self, name: &str) -> String {
        let (status, _, body) = self.submit("/api-tokens", "/api-tokens", &[("name", name)]);
        assert_eq!(status, 201, "{body}");
        let marker = "id=\"new-token\" value=\"";
        let at = body
            .find(marker)
            .unwrap_or_else(|| panic!("the new token on the page: {body}"))
            + marker.len();
        let token = body[at..].split('"').next().unwrap().to_owned();
        assert!(token.starts_with("hr_") && token.len() == 46, "{token}");
        token
    }
}

/// Where a redirect sends the browser.
pub fn location(headers: &str) -> String {
    headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_else(|| panic!("no location in {headers}"))
        .trim()
        .to_string()
}

/// The value of the first field called `name` in a page, as written (HTML-escaped).
pub fn field_value(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = body.find(&marker)? + marker.len();
    body[at..].split('"').next().map(str::to_string)
}

/// The value of the first `name="csrf"` field in a page.
pub fn csrf_in(body: &str) -> Option<String> {
    field_value(body, "csrf")
}
