//! Running the real thing in tests: the `hedgerow` binary, a dnsmasq upstream, and real clients
//! (dig, dnsperf), all on loopback addresses.

#![allow(dead_code)]

pub mod admin;
pub mod browser;
pub mod mail;
pub mod origin;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The shared data set beside the checkout (lists and workloads), as on every machine this
/// project is built on.
pub fn shared_data() -> PathBuf {
    let data = repo().join("../shared/data");
    assert!(
        data.is_dir(),
        "the shared data set is missing at {}",
        data.display()
    );
    data.canonicalize().unwrap()
}

/// The source lists the benchmark policy blocks (`policy-school.txt`).
pub fn policy_lists() -> Vec<String> {
    std::fs::read_to_string(shared_data().join("blocklists/policy-school.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Writes a school whose pupil and unknown groups block exactly the benchmark policy's lists
/// from the shared list folder. `group_extra` is added to both group tables, `top_extra` (such
/// as a `[dns]` table) before the school.
pub fn workload_school(dir: &Path, group_extra: &str, top_extra: &str) -> PathBuf {
    let actions: String = policy_lists()
        .iter()
        .map(|l| format!("\"list:{l}\" = \"block\"\n"))
        .collect();
    let group = |key: &str, kind: &str| {
        format!(
            "[school.groups.{key}]\nkind = \"{kind}\"\ndefault = \"allow\"\n{group_extra}[school.groups.{key}.actions]\n{actions}\n"
        )
    };
    let repo = repo();
    let text = format!(
        "data_dir = \"{data}\"\n[lists]\nsources = [\"{lists}\"]\nillegal = [\"{illegal}\"]\ntaxonomy = \"{taxonomy}\"\n\n{top_extra}\n[[school]]\nslug = \"workload\"\nname = \"Workload School\"\n\n{pupils}{unknown}",
        data = dir.join("data").display(),
        lists = shared_data().join("blocklists").display(),
        illegal = repo.join("lists/illegal").display(),
        taxonomy = repo.join("lists/taxonomy.toml").display(),
        pupils = group("pupils", "pupil"),
        unknown = group("unknown", "unidentified"),
    );
    let path = dir.join("workload.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// True when every named tool is installed. When one is missing the test is skipped with a
/// note, unless `HEDGEROW_REQUIRE_DNS_TOOLS` is set (the project's test command sets it), in
/// which case it fails.
pub fn have_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map_or(true, |o| !o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("HEDGEROW_REQUIRE_DNS_TOOLS").is_some() {
        panic!("missing {missing:?}; scripts/test-env.sh installs them");
    }
    eprintln!("SKIPPED: {missing:?} not installed (scripts/test-env.sh installs them)");
    false
}

/// A port free for both UDP and TCP on 127.0.0.1 right now, and never handed out before in
/// this test binary: the port is released before the program under test binds it, and tests
/// run in parallel, so without the record two of them could be given the same port and one
/// gateway would fail to start with the other's listener in its way.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }
}

/// A loopback address whose port is free (for UDP and TCP) right now.
pub fn free_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A process killed (politely first) when the test ends, however it ends.
pub struct Running {
    pub child: Child,
    pub name: &'static str,
}

impl Running {
    /// Asks the process to stop (SIGTERM) and waits for it; true if it exited cleanly.
    pub fn stop(&mut self) -> bool {
        signal(&self.child, "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(&self.child, "TERM");
            std::thread::sleep(Duration::from_millis(200));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
}

/// A local upstream resolver that answers every name itself: A 192.0.2.1 and AAAA 2001:db8::1,
/// plus a few fixed records the tests rely on.
pub fn start_upstream(extra: &[&str]) -> (Running, SocketAddr) {
    let port = free_port();
    let mut args = vec![
        "-k".to_string(),
        "--conf-file=/dev/null".into(),
        format!("--port={port}"),
        "--listen-address=127.0.0.1".into(),
        "--bind-interfaces".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--cache-size=0".into(),
        "--pid-file=".into(),
        "--address=/#/192.0.2.1".into(),
        "--address=/#/2001:db8::1".into(),
        // A name known upstream as an alias of a blocked name.
        "--host-record=pokerstars.com,192.0.2.77".into(),
        "--cname=cdn-alias.example,pokerstars.com".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let running = spawn_resolver(Command::new("dnsmasq").args(&args), "dnsmasq", addr);
    (running, addr)
}

/// Starts a resolver (any DNS server that answers `probe.example` with 192.0.2.1 once ready)
/// and waits for it to answer at `addr`.
pub fn spawn_resolver(command: &mut Command, name: &'static str, addr: SocketAddr) -> Running {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running { child, name };
    wait_for(
        || dig(addr, &["+short", "probe.example"]).contains("192.0.2.1"),
        name,
    );
    running
}

/// Runs dig against `server` with extra arguments; returns its standard output.
pub fn dig(server: SocketAddr, args: &[&str]) -> String {
    let out: Output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+tries=1", "+time=2"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not become ready within 30 s");
}

/// The gateway under test, with its DNS and metrics addresses.
pub struct Gateway {
    pub process: Running,
    pub dns: SocketAddr,
    pub data_dir: PathBuf,
}

/// Starts `command` (a run of the `hedgerow` binary) logging at the info level to `log`, and
/// waits up to 60 s until `ready`; panics with the log if it exits first, or saying that
/// `what` did not start.
pub fn start_hedgerow(
    command: &mut Command,
    log: &Path,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Running {
    let child = command
        .env("HEDGEROW_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut process = Running {
        child,
        name: "hedgerow",
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        if let Ok(Some(status)) = process.child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("hedgerow exited with {status}:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    process
}

/// Starts `hedgerow ARGS... --dns-listen ... --metrics-listen ... --upstream UPSTREAM` and waits
/// until its DNS filter answers.
pub fn start_gateway(args: &[&str], upstream: SocketAddr, data_dir: &Path) -> Gateway {
    let dns = free_address();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hedgerow"));
    command.args(args);
    if !args.contains(&"--portal-listen") {
        // Its own port too, so demos started at once never meet on the demo's portal (8081).
        command.args(["--portal-listen", &free_address().to_string()]);
    }
    let process = start_hedgerow(
        command.args([
            "--dns-listen",
            &dns.to_string(),
            "--metrics-listen",
            &free_address().to_string(),
            // Its own port, so gateways started by tests running at once never meet on the
            // demo's default (3128).
            "--proxy-listen",
            &free_address().to_string(),
            "--admin-listen",
            &free_address().to_string(),
            "--upstream",
            &upstream.to_string(),
        ]),
        &data_dir.join("gateway.log"),
        "hedgerow's DNS filter",
        || dig(dns, &["+short", "probe.example"]).contains("192.0.2.1"),
    );
    Gateway {
        process,
        dns,
        data_dir: data_dir.to_path_buf(),
    }
}

impl Gateway {
    /// dig from a given source address (each demo device has its own loopback address).
    pub fn dig_from(&self, source: &str, args: &[&str]) -> String {
        let mut all = vec!["-b", source];
        all.extend_from_slice(args);
        dig(self.dns, &all)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("gateway.log")).unwrap_or_default()
    }
}

/// The status word of a dig answer: NOERROR, NXDOMAIN, ...
pub fn status(answer: &str) -> &str {
    answer
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("NO ANSWER")
}

/// The EDE line of a dig answer, e.g. `; EDE: 17 (Filtered): (Gambling)`.
pub fn ede(answer: &str) -> Option<&str> {
    answer.lines().find(|l| l.starts_with("; EDE:"))
}

/// A school configuration written for a test: the data folder `dir/data`, a lists folder
/// `dir/lists` holding a gambling list (`bets.example`), tables before the schools and the
/// schools themselves. Group tables come from [`group`].
pub struct SchoolConfig {
    dir: PathBuf,
    lists: Vec<(String, String)>,
    lists_keys: String,
    tables: String,
    schools: String,
}

impl SchoolConfig {
    pub fn new(dir: &Path) -> SchoolConfig {
        SchoolConfig {
            dir: dir.to_path_buf(),
            lists: vec![("gambling.domains".into(), "bets.example\n".into())],
            lists_keys: String::new(),
            tables: String::new(),
            schools: String::new(),
        }
    }

    /// A list file in the lists folder (one domain a line), replacing one of the same name.
    pub fn list(mut self, file: &str, domains: &str) -> SchoolConfig {
        self.lists.retain(|(name, _)| name != file);
        self.lists.push((file.into(), domains.into()));
        self
    }

    /// More keys of the `[lists]` table, such as `illegal = [...]`.
    pub fn lists_keys(mut self, toml: &str) -> SchoolConfig {
        self.lists_keys.push_str(toml);
        self.lists_keys.push('\n');
        self
    }

    /// Tables before the schools: `[dns]`, `[listeners]`, `[admin]`.
    pub fn table(mut self, toml: &str) -> SchoolConfig {
        self.tables.push_str(toml);
        self.tables.push('\n');
        self
    }

    /// A `[[school]]` with its slug and name, then `body`: its keys, groups, users, devices
    /// (and, after the last school, any table that follows the schools).
    pub fn school(mut self, slug: &str, name: &str, body: &str) -> SchoolConfig {
        self.schools.push_str(&format!(
            "\n[[school]]\nslug = \"{slug}\"\nname = \"{name}\"\n{body}"
        ));
        self
    }

    /// Writes the lists and the configuration as `school.toml`; returns its path.
    pub fn write(self) -> PathBuf {
        self.write_as("school.toml")
    }

    /// Writes the lists and the configuration as `file` in the folder; returns its path.
    pub fn write_as(self, file: &str) -> PathBuf {
        let lists = self.dir.join("lists");
        std::fs::create_dir_all(&lists).unwrap();
        for (name, domains) in &self.lists {
            std::fs::write(lists.join(name), domains).unwrap();
        }
        let text = format!(
            "data_dir = \"{data}\"\n[lists]\nsources = [\"{lists}\"]\n{keys}\n{tables}{schools}",
            data = self.dir.join("data").display(),
            lists = lists.display(),
            keys = self.lists_keys,
            tables = self.tables,
            schools = self.schools,
        );
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// The table of group `key` of `kind` (pupil, staff, unidentified), allowing by default and
/// blocking the `blocked` categories.
pub fn group(key: &str, kind: &str, blocked: &[&str]) -> String {
    group_with(key, kind, "", blocked)
}

/// [`group`] with more keys of the group (`name = "KS2 pupils"`), one a line.
pub fn group_with(key: &str, kind: &str, keys: &str, blocked: &[&str]) -> String {
    let mut text =
        format!("\n[school.groups.{key}]\n{keys}kind = \"{kind}\"\ndefault = \"allow\"\n");
    if !blocked.is_empty() {
        text.push_str(&format!("[school.groups.{key}.actions]\n"));
        for category in blocked {
            text.push_str(&format!("{category} = \"block\"\n"));
        }
    }
    text
}

/// The groups most test schools have: KS2 pupils and unidentified devices, both kept from
/// gambling.
pub fn ks2_and_unknown() -> String {
    group("ks2", "pupil", &["gambling"]) + &group("unknown", "unidentified", &["gambling"])
}

/// The address of the small school's KS2 laptop (`laptop-a`, pupil.a's).
pub const PUPIL_LAPTOP: &str = "127.0.0.21";

/// The small school's KS2 pupil (`pupil.a`, "Pupil A") and their laptop at [`PUPIL_LAPTOP`],
/// as `[[school.users]]` and `[[school.devices]]` tables.
pub fn pupil_and_laptop() -> String {
    format!(
        r#"
[[school.users]]
username = "pupil.a"
name = "Pupil A"
kind = "pupil"
group = "ks2"

[[school.devices]]
name = "laptop-a"
kind = "laptop"
group = "ks2"
addresses = ["{PUPIL_LAPTOP}"]
owner = "pupil.a"
"#
    )
}

/// A small school whose KS2 pupil has an assigned laptop ([`PUPIL_LAPTOP`]) and gambling
/// blocked; `extra` (a sanction, say) is appended. For sanctions, reloads and live policy
/// changes.
pub fn small_school(dir: &Path, extra: &str) -> PathBuf {
    let pupil_and_laptop = pupil_and_laptop();
    SchoolConfig::new(dir)
        .table(
            r#"[dns]
# One client sends thousands of queries a second in the load test.
rate_limit_qps = 0
block_response = "block-page"
block_page_address = "127.0.0.1"
block_page_address_v6 = "::1""#,
        )
        .school(
            "test-school",
            "Test School",
            &format!("{}{pupil_and_laptop}{extra}", ks2_and_unknown()),
        )
        .write()
}

/// Polls `done` for at most `limit`; how long it took to hold, or `None` if it never did.
pub fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Runs `hedgerow ARGS...` to the end; what it printed and how it exited.
pub fn hedgerow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(args)
        .output()
        .unwrap()
}

/// A fresh, empty PostgreSQL database on the test server (`HEDGEROW_TEST_POSTGRES_URL`, from
/// `scripts/test-env.sh`), for running the whole gateway on PostgreSQL; its URL. `None`
/// without a server, which fails instead when `HEDGEROW_REQUIRE_POSTGRES` is set.
pub fn postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("HEDGEROW_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("HEDGEROW_REQUIRE_POSTGRES").is_none(),
            "HEDGEROW_REQUIRE_POSTGRES is set but HEDGEROW_TEST_POSTGRES_URL is not: run `eval \"$(scripts/test-env.sh --print-env)\"`"
        );
        eprintln!("skipping the PostgreSQL variant: HEDGEROW_TEST_POSTGRES_URL is not set");
        return None;
    };
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "hedgerow_gateway_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let made = Command::new("psql")
        .args([&admin_url, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs (apt-get install postgresql-client)");
    assert!(
        made.status.success(),
        "cannot create a test database: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    Some(format!("{base}/{name}"))
}

/// The `[database]` table for a PostgreSQL URL (from [`postgres_database`]), or nothing for
/// the embedded SQLite store.
pub fn database_table(database: Option<&str>) -> String {
    database
        .map(|url| format!("\n[database]\nurl = \"{url}\"\n"))
        .unwrap_or_default()
}

/// Runs curl; returns (status code, headers, body).
pub fn curl(args: &[&str]) -> (u16, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let output = Command::new("curl")
        .args(["-s", "--max-time", "20", "-D"])
        .arg(&headers)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let headers = std::fs::read_to_string(headers).unwrap_or_default();
    (code.trim().parse().unwrap_or(0), headers, body.to_string())
}
