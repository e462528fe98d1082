//! Differential check of the web proxy: for every URL of the shared workload (`urls.txt`) and
//! every CONNECT target (`connect.txt`), Hedgerow's proxy blocks or passes on exactly as squid
//! with squidGuard does when both filter with the same lists, except where a documented,
//! deliberate difference says why not (docs/proxy-differential.md).
//!
//! squidGuard is set up as `../shared/bench/peers/proxy_bench.sh` sets it up: one `dest` per
//! category of `policy-school.txt` with its `.domains` and `.urls`, `pass !cat1 !cat2 ... all`,
//! a redirect on block, the Berkeley DB compiled with `-C all`. It is asked through its
//! standard input exactly as squid asks a `url_rewrite_program` (one line per request:
//! `URL client_ip/fqdn ident method myip=... myport=...`, and `host:443` as the URL of a
//! CONNECT), which is the whole of the decision squid + squidGuard makes; squid itself adds
//! nothing to it.
//!
//! Hedgerow runs as the real binary, its proxy passing allowed requests to the parent proxy
//! stand-in (so nothing leaves the machine), with the same lists blocked for the pupil group of
//! the test client's address. Proxy-only rules that squidGuard has no equivalent of (safe
//! search, unlockable search engines, YouTube restrictions, file types) are turned off, so only
//! list semantics are compared, as in `dns_differential.rs`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::origin::{ConnectMode, TestParentProxy, html_escape};
use support::*;

/// Client threads for each phase (the machine has few cores; the proxy is asynchronous).
const CLIENT_THREADS: usize = 4;

/// Connections the client opened, and requests it had to send again on a new connection
/// (the proxy had closed a kept-alive one without saying so).
static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
static RETRIES: AtomicUsize = AtomicUsize::new(0);

/// True when every named tool is installed. When one is missing the test is skipped with a
/// note, unless `HEDGEROW_REQUIRE_PROXY_PEERS` or `HEDGEROW_REQUIRE_DNS_TOOLS` is set, in which
/// case it fails.
fn have_peer_tools(tools: &[&str]) -> bool {
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
    if std::env::var_os("HEDGEROW_REQUIRE_PROXY_PEERS").is_some()
        || std::env::var_os("HEDGEROW_REQUIRE_DNS_TOOLS").is_some()
    {
        panic!("missing {missing:?}; scripts/test-env.sh installs them");
    }
    eprintln!("SKIPPED: {missing:?} not installed (scripts/test-env.sh installs them)");
    false
}

// ---- the workload ---------------------------------------------------------------------------

/// One URL of the workload, as a client sends it.
#[derive(Clone, Debug)]
struct Url {
    /// Without its fragment (`#...`): clients never send one, so neither squid nor Hedgerow
    /// ever sees it.
    sent: String,
    /// `host[:port]` as written.
    authority: String,
    /// The host, lower-case, without port.
    host: String,
    /// Path and query as sent (`/` when the URL has none).
    path: String,
}

impl Url {
    fn parse(line: &str) -> Url {
        let sent = line.split('#').next().unwrap().to_string();
        let rest = sent
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("urls.txt holds a URL that is not http://: {line}"));
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = rest[..end].to_string();
        let path = match &rest[end..] {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        let host = strip_port(&authority).to_ascii_lowercase();
        Url {
            sent,
            authority,
            host,
            path,
        }
    }
}

fn strip_port(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn workload_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(shared_data().join("workload").join(name))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `target \t verdict \t category` rows, checked to be in the workload's order.
fn expected(name: &str, targets: &[String]) -> Vec<Verdict> {
    let rows = workload_lines(name);
    assert_eq!(
        rows.len(),
        targets.len(),
        "{name}: one row per workload line"
    );
    rows.iter()
        .zip(targets)
        .map(|(row, target)| {
            let mut fields = row.split('\t');
            assert_eq!(
                fields.next(),
                Some(target.as_str()),
                "{name}: rows out of order"
            );
            match fields.next() {
                Some("block") => Verdict::Block,
                Some("allow") => Verdict::Allow,
                other => panic!("{name}: bad verdict {other:?} in {row}"),
            }
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Verdict {
    Allow,
    Block,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
        }
    }
}

// ---- squidGuard ------------------------------------------------------------------------------

/// squidGuard set up as the peer bench sets it up, its database compiled.
struct SquidGuard {
    conf: PathBuf,
    compile_time: Duration,
}

impl SquidGuard {
    fn set_up(dir: &Path) -> SquidGuard {
        let blocklists = shared_data().join("blocklists");
        let db = dir.join("sgdb");
        let log = dir.join("sglog");
        std::fs::create_dir_all(&log).unwrap();
        let categories = policy_lists();
        let mut conf = format!("dbhome {}\nlogdir {}\n", db.display(), log.display());
        for category in &categories {
            let folder = db.join(category);
            std::fs::create_dir_all(&folder).unwrap();
            for kind in ["domains", "urls"] {
                // Copied as text, so the copies are writable whatever the originals' modes.
                let text = std::fs::read(blocklists.join(format!("{category}.{kind}")))
                    .unwrap_or_default();
                std::fs::write(folder.join(kind), text).unwrap();
            }
            conf.push_str(&format!(
                "dest {category} {{\n  domainlist {category}/domains\n  urllist {category}/urls\n}}\n"
            ));
        }
        conf.push_str("acl {\n  default {\n    pass");
        for category in &categories {
            conf.push_str(&format!(" !{category}"));
        }
        conf.push_str(" all\n    redirect 302:http://blocked.invalid/?cat=%t\n  }\n}\n");
        let path = dir.join("squidGuard.conf");
        std::fs::write(&path, conf).unwrap();
        let started = Instant::now();
        let out = Command::new("squidGuard")
            .arg("-c")
            .arg(&path)
            .args(["-C", "all"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "squidGuard -C all failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let compile_time = started.elapsed();
        assert!(
            db.join("adult/domains.db").is_file(),
            "squidGuard compiled no database; see {}",
            log.display()
        );
        SquidGuard {
            conf: path,
            compile_time,
        }
    }

    /// Runs squidGuard as squid runs its url_rewrite helper and returns its verdict (and
    /// category, when blocked) for each request line.
    fn ask(&self, requests: Vec<String>) -> Vec<(Verdict, Option<String>)> {
        let mut child = Command::new("squidGuard")
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let count = requests.len();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let mut text = String::with_capacity(count * 80);
            for line in &requests {
                assert!(!line.contains(['\n', '\r']), "{line:?}");
                text.push_str(line);
                text.push('\n');
            }
            stdin.write_all(text.as_bytes())
        });
        let mut answers = Vec::with_capacity(count);
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            answers.push(parse_helper_answer(&line.unwrap()));
        }
        writer.join().unwrap().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            answers.len(),
            count,
            "squidGuard ({status}) answered {} of {count} requests",
            answers.len()
        );
        answers
    }
}

/// squidGuard 1.6 answers a url_rewrite request with `OK status=302 url="..."` (a redirect),
/// `OK rewrite-url="..."` (a rewrite) or `ERR` (leave it alone); older versions with the new
/// URL or an empty line.
fn parse_helper_answer(line: &str) -> (Verdict, Option<String>) {
    let line = line.trim();
    if line.is_empty() || line == "ERR" {
        return (Verdict::Allow, None);
    }
    let category = line
        .split("cat=")
        .nth(1)
        .map(|rest| rest.trim_end_matches('"').to_string());
    if line.starts_with("OK ") && (line.contains("url=") || line.contains("rewrite-url=")) {
        return (Verdict::Block, category);
    }
    if line.starts_with("http://blocked.invalid/") || line.starts_with("302:") {
        return (Verdict::Block, category);
    }
    panic!("squidGuard answered {line:?}, which is neither a redirect nor a pass");
}

// ---- Hedgerow --------------------------------------------------------------------------------

/// The gateway with its proxy, passing allowed requests to the parent stand-in.
struct Proxy {
    _process: Running,
    addr: SocketAddr,
    /// Every listener, `addr` first.
    addrs: Vec<SocketAddr>,
    log: PathBuf,
}

/// `HEDGEROW_PROXY_DIFF_ALL_RULES=1` keeps the pupil group's proxy-only rules (safe search,
/// unlockable search engines, file types) at their defaults, to see what they add; their
/// blocks are then counted apart, by the rule Hedgerow names.
fn all_rules() -> bool {
    std::env::var_os("HEDGEROW_PROXY_DIFF_ALL_RULES").is_some_and(|v| v != "0")
}

/// Whether Hedgerow's rule is one of the proxy-only rules (not a list).
fn proxy_only_rule(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Blocked { rule, .. }
        if ["/search:", "/file-type:", "/download-limit"].iter().any(|r| rule.contains(r)))
}

/// The device the test client's address belongs to: pupils, no sign-in.
const CLIENT_DEVICE: &str = "\n[[school.devices]]\nname = \"differential-client\"\nkind = \"laptop\"\ngroup = \"pupils\"\naddresses = [\"127.0.0.1\"]\n";

fn start_proxy(dir: &Path, parent: SocketAddr) -> Proxy {
    // One listener per client thread: each tunnel the CONNECT phase opens and closes leaves a
    // TIME_WAIT behind, and spreading them over several server ports keeps the client's
    // ephemeral ports from running out.
    let addrs: Vec<SocketAddr> = (0..CLIENT_THREADS)
        .map(|_| format!("127.0.0.1:{}", free_port()).parse().unwrap())
        .collect();
    let proxy = addrs[0];
    let metrics = format!("127.0.0.1:{}", free_port());
    let config = workload_school(
        dir,
        // Only list semantics are compared: the proxy-only rules squidGuard has no
        // equivalent of are off (docs/proxy-differential.md), unless asked for.
        if all_rules() {
            ""
        } else {
            "safe_search = false\nyoutube = \"off\"\nblock_unsafe_search_engines = false\nblocked_file_types = []\n"
        },
        &format!(
            "[listeners]\nproxy = \"{proxy}\"\n\n[proxy]\nparent = \"{parent}\"\nconnect_ports = [443]\n"
        ),
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(CLIENT_DEVICE);
    std::fs::write(&config, text).unwrap();

    let log = dir.join("gateway.log");
    let child = Command::new(env!("CARGO_BIN_EXE_hedgerow"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(
            addrs
                .iter()
                .flat_map(|a| ["--proxy-listen".to_string(), a.to_string()]),
        )
        .args(["--metrics-listen", &metrics])
        .env("HEDGEROW_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut process = Running {
        child,
        name: "hedgerow",
    };
    // Ready when an allowed request comes back from the parent stand-in.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let answers = |addr: &SocketAddr| {
            TcpStream::connect(addr).is_ok_and(|stream| {
                Client::new(stream)
                    .get("http://probe.example/ready", "probe.example")
                    .is_ok_and(|response| response.header("x-test-parent").is_some())
            })
        };
        if addrs.iter().all(answers) {
            break;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("hedgerow exited with {status}:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "hedgerow's proxy did not pass a request to the parent within 180 s:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Proxy {
        _process: process,
        addr: proxy,
        addrs,
        log,
    }
}

/// One response, as much as the test needs of it.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"))
    }

    fn summary(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(200).collect();
        format!("{} {:?} {body:?}", self.status, self.headers)
    }
}

/// A keep-alive HTTP/1.1 client connection to the proxy.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            reader: BufReader::with_capacity(64 * 1024, stream),
        }
    }

    fn get(&mut self, url: &str, authority: &str) -> std::io::Result<Response> {
        let request = format!(
            "GET {url} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: hedgerow-proxy-differential\r\nAccept: */*\r\n\r\n"
        );
        self.reader.get_mut().write_all(request.as_bytes())?;
        self.read_response(false)
    }

    fn connect(&mut self, target: &str) -> std::io::Result<Response> {
        let request = format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: hedgerow-proxy-differential\r\n\r\n"
        );
        self.reader.get_mut().write_all(request.as_bytes())?;
        self.read_response(true)
    }

    fn read_response(&mut self, connect: bool) -> std::io::Result<Response> {
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection",
            ));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(bad("the head ended early".into()));
            }
            let field = line.trim_end_matches(['\r', '\n']);
            if field.is_empty() {
                break;
            }
            let (name, value) = field
                .split_once(':')
                .ok_or_else(|| bad(format!("bad field {field:?}")))?;
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if connect && status == 200 {
            // The tunnel starts here.
            return Ok(response);
        }
        if let Some(length) = response.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| bad(format!("bad Content-Length {length:?}")))?;
            response.body = vec![0; length];
            self.reader.read_exact(&mut response.body)?;
        } else if response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16)
                    .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                response.body.extend_from_slice(&chunk[..size]);
            }
        } else if response.status >= 200 && response.status != 204 && response.status != 304 {
            self.reader.read_to_end(&mut response.body)?;
        }
        Ok(response)
    }
}

/// What Hedgerow did with one request.
#[derive(Clone, Debug)]
enum Outcome {
    /// Passed on: the parent stand-in answered.
    Allowed,
    /// Refused with a block page (or a CONNECT refusal) naming the rule that decided.
    Blocked { status: u16, rule: String },
    /// Anything else: a failure of the test or of the proxy.
    Failed(String),
}

impl Outcome {
    fn verdict(&self) -> Option<Verdict> {
        match self {
            Outcome::Allowed => Some(Verdict::Allow),
            Outcome::Blocked { .. } => Some(Verdict::Block),
            Outcome::Failed(_) => None,
        }
    }
}

fn judge_get(url: &Url, response: &Response) -> Outcome {
    if let Some(rule) = response.header("x-hedgerow-rule") {
        return if matches!(response.status, 403 | 451) {
            Outcome::Blocked {
                status: response.status,
                rule: rule.to_string(),
            }
        } else {
            Outcome::Failed(format!(
                "a Hedgerow answer that is no block page: {}",
                response.summary()
            ))
        };
    }
    if response.status == 200 && response.header("x-test-parent").is_some() {
        // The parent's page names the URL it was asked for: the proxy must pass it on as
        // the client sent it.
        let body = String::from_utf8_lossy(&response.body);
        let title = format!("<title>Parent {}", html_escape(&url.sent));
        if all_rules() && body.contains(&title) {
            // Safe search may have added to the query.
            return Outcome::Allowed;
        }
        if !body.contains(&format!("{title}</title>")) {
            return Outcome::Failed(format!(
                "the parent was asked for another URL than {}: {body}",
                url.sent
            ));
        }
        return Outcome::Allowed;
    }
    Outcome::Failed(format!(
        "neither a block page nor the parent's answer: {}",
        response.summary()
    ))
}

fn judge_connect(response: &Response) -> Outcome {
    match (response.status, response.header("x-hedgerow-rule")) {
        (200, None) => Outcome::Allowed,
        (403 | 451, Some(rule)) => Outcome::Blocked {
            status: response.status,
            rule: rule.to_string(),
        },
        _ => Outcome::Failed(format!(
            "neither a tunnel nor a refusal: {}",
            response.summary()
        )),
    }
}

/// Sends every URL through the proxy from a few keep-alive connections.
fn run_gets(proxies: &[SocketAddr], urls: &[Url]) -> Vec<Outcome> {
    run_parallel(urls.len(), |thread, indices| {
        let proxy = proxies[thread % proxies.len()];
        let mut client: Option<Client> = None;
        let mut out = Vec::with_capacity(indices.len());
        for index in indices {
            let url = &urls[index];
            let mut outcome = None;
            for _attempt in 0..2 {
                let conn = match &mut client {
                    Some(c) => c,
                    None => client.insert(Client::new(TcpStream::connect(proxy).unwrap())),
                };
                match conn.get(&url.sent, &url.authority) {
                    Ok(response) => {
                        if response.closes() {
                            client = None;
                        }
                        outcome = Some(judge_get(url, &response));
                        break;
                    }
                    Err(e) => {
                        // A kept-alive connection the proxy had just closed: once more on a
                        // new one.
                        RETRIES.fetch_add(1, Ordering::Relaxed);
                        client = None;
                        outcome = Some(Outcome::Failed(format!("{e}")));
                    }
                }
            }
            out.push((index, outcome.unwrap()));
        }
        out
    })
}

/// Sends every CONNECT through the proxy: a tunnel is closed as soon as it is granted; a
/// refusal keeps the connection for the next CONNECT.
fn run_connects(proxies: &[SocketAddr], targets: &[String]) -> Vec<Outcome> {
    run_parallel(targets.len(), |thread, indices| {
        let proxy = proxies[thread % proxies.len()];
        let mut client: Option<Client> = None;
        let mut out = Vec::with_capacity(indices.len());
        for index in indices {
            let mut outcome = None;
            for _attempt in 0..2 {
                let conn = match &mut client {
                    Some(c) => c,
                    None => client.insert(Client::new(connect_retrying(proxy))),
                };
                match conn.connect(&targets[index]) {
                    Ok(response) => {
                        let judged = judge_connect(&response);
                        if response.status == 200 || response.closes() {
                            client = None;
                        }
                        outcome = Some(judged);
                        break;
                    }
                    Err(e) => {
                        RETRIES.fetch_add(1, Ordering::Relaxed);
                        client = None;
                        outcome = Some(Outcome::Failed(format!("{e}")));
                    }
                }
            }
            out.push((index, outcome.unwrap()));
        }
        out
    })
}

/// Connects, waiting a little when the machine has run out of ephemeral ports for a moment.
fn connect_retrying(addr: SocketAddr) -> TcpStream {
    let mut tries = 0;
    loop {
        match TcpStream::connect(addr) {
            Ok(stream) => return stream,
            Err(e) if tries < 50 => {
                tries += 1;
                if tries == 1 {
                    eprintln!("connecting to {addr} failed ({e}); retrying");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot connect to the proxy at {addr}: {e}"),
        }
    }
}

/// Runs `work(thread, indices)` over `n` indices split among the client threads; returns the
/// outcomes in index order.
fn run_parallel<F>(n: usize, work: F) -> Vec<Outcome>
where
    F: Fn(usize, Vec<usize>) -> Vec<(usize, Outcome)> + Sync,
{
    let mut results: Vec<Option<Outcome>> = vec![None; n];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENT_THREADS)
            .map(|t| {
                let indices: Vec<usize> = (t..n).step_by(CLIENT_THREADS).collect();
                let work = &work;
                scope.spawn(move || work(t, indices))
            })
            .collect();
        for handle in handles {
            for (index, outcome) in handle.join().unwrap() {
                results[index] = Some(outcome);
            }
        }
    });
    results.into_iter().map(Option::unwrap).collect()
}

// ---- why the two differ ----------------------------------------------------------------------
//
// Two readings of the same lists, each checked against the program it describes on every row
// before it is used to explain anything:
//
// - `HedgerowReading`: list semantics as docs/lists.md states them (a host or a parent in a
//   `.domains` list; a host or parent plus a plain, case-sensitive path prefix in a `.urls`
//   list; `#` starts a comment on any list line).
// - `SquidGuardModel`: squidGuard 1.6's decision, step by step as its source does it
//   (`parseLine` in sgDiv.c, `sgDbLoadTextFile` and `defined` in sgDb.c): the request URL
//   percent-decoded (except encoded white space), lower-cased, repeated slashes collapsed; list
//   keys lower-cased but otherwise as written; each list a Berkeley DB B-tree looked up with one
//   `DB_SET_RANGE` and at most one step back.
//
// A disagreement is explained when the model reproduces squidGuard's answer and the step of
// the model that departs from Hedgerow's reading is one of the deliberate differences.

/// One entry Hedgerow's reading matches, and where it is.
#[derive(Clone, Debug)]
enum Match {
    /// `entry` (the host or a parent) in `list.domains`.
    Domain { list: String, entry: String },
    /// `line` of `list.urls`, as written.
    Url { list: String, line: String },
}

/// The policy's lists read as Hedgerow documents them.
struct HedgerowReading {
    /// name -> lists that hold it
    domains: HashMap<String, Vec<String>>,
    /// host -> (list, line, path prefix) of the URL entries on that host
    urls: HashMap<String, Vec<(String, String, Option<String>)>>,
}

impl HedgerowReading {
    fn read() -> HedgerowReading {
        let blocklists = shared_data().join("blocklists");
        let mut domains: HashMap<String, Vec<String>> = HashMap::new();
        let mut urls: HashMap<String, Vec<(String, String, Option<String>)>> = HashMap::new();
        for list in policy_lists() {
            let read = |kind: &str| {
                std::fs::read_to_string(blocklists.join(format!("{list}.{kind}")))
                    .unwrap_or_default()
            };
            for line in read("domains").lines() {
                let name = strip_comment(line);
                if !name.is_empty() {
                    domains
                        .entry(
                            name.trim_start_matches("*.")
                                .trim_start_matches('.')
                                .to_ascii_lowercase(),
                        )
                        .or_default()
                        .push(list.clone());
                }
            }
            for line in read("urls").lines() {
                let entry = strip_comment(line);
                if entry.is_empty() {
                    continue;
                }
                let entry = entry
                    .split_once("://")
                    .map_or(entry, |(_, rest)| rest)
                    .trim_start_matches("*.")
                    .trim_start_matches('.');
                let (host, path) = match entry.find('/') {
                    Some(at) => (&entry[..at], Some(entry[at..].to_string())),
                    None => (entry, None),
                };
                let host = strip_port(host).to_ascii_lowercase();
                match path {
                    // A URL entry without a path is the whole site.
                    None => domains.entry(host).or_default().push(list.clone()),
                    Some(path) => urls.entry(host).or_default().push((
                        list.clone(),
                        line.trim().to_string(),
                        Some(path),
                    )),
                }
            }
        }
        HedgerowReading { domains, urls }
    }

    /// Every entry that blocks `host` (and `path`, when the request shows one).
    fn matches(&self, host: &str, path: Option<&str>) -> Vec<Match> {
        let mut found = Vec::new();
        for name in suffixes(host) {
            for list in self.domains.get(name).into_iter().flatten() {
                found.push(Match::Domain {
                    list: list.clone(),
                    entry: name.to_string(),
                });
            }
            let Some(path) = path else { continue };
            for (list, line, prefix) in self.urls.get(name).into_iter().flatten() {
                if prefix.as_deref().is_none_or(|p| path.starts_with(p)) {
                    found.push(Match::Url {
                        list: list.clone(),
                        line: line.clone(),
                    });
                }
            }
        }
        found
    }
}

/// A list line without its comment, trimmed.
fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

/// `host` and each parent domain, longest first.
fn suffixes(host: &str) -> impl Iterator<Item = &str> {
    std::iter::once(host).chain(
        host.char_indices()
            .filter(|(_, c)| *c == '.')
            .map(move |(i, _)| &host[i + 1..]),
    )
}

/// One policy list as squidGuard's two databases hold it.
struct SgList {
    name: String,
    /// Domain keys (`.entry`) in `domainCompare` order ...
    domain_keys: Vec<Vec<u8>>,
    /// ... and the same keys transformed so that plain byte order is that order.
    domain_order: Vec<Vec<u8>>,
    /// URL keys in Berkeley DB's default (byte) order.
    url_keys: Vec<Vec<u8>>,
}

/// A request as squidGuard's `parseLine` takes it apart.
#[derive(Debug)]
struct SgRequest {
    /// The host (after decoding, lower-casing and dropping one trailing dot).
    domain: Vec<u8>,
    /// host (without a leading `www.`/`web.`/`ftp.`, digits allowed) + path.
    surl: Vec<u8>,
    /// The whole URL after the scheme, port included.
    furl: Vec<u8>,
}

/// How squidGuard came to block a request.
#[derive(Clone, Debug)]
enum SgHit {
    Domain { list: String, key: String },
    Url { list: String, key: String },
}

/// squidGuard's decision over the policy's lists.
struct SquidGuardModel {
    lists: Vec<SgList>,
}

impl SquidGuardModel {
    fn load() -> SquidGuardModel {
        let blocklists = shared_data().join("blocklists");
        let lists = policy_lists()
            .into_iter()
            .map(|name| {
                let read = |kind: &str| {
                    std::fs::read(blocklists.join(format!("{name}.{kind}"))).unwrap_or_default()
                };
                let mut domain_keys: Vec<(Vec<u8>, Vec<u8>)> = sg_list_keys(&read("domains"))
                    .into_iter()
                    .map(|key| {
                        let mut dotted = b".".to_vec();
                        dotted.extend_from_slice(&key);
                        (domain_order_key(&dotted), dotted)
                    })
                    .collect();
                domain_keys.sort();
                domain_keys.dedup_by(|a, b| a.0 == b.0);
                let mut url_keys: Vec<Vec<u8>> = sg_list_keys(&read("urls"))
                    .into_iter()
                    .map(|key| {
                        if key.starts_with(b".") {
                            key
                        } else {
                            sg_strip_url(&key)
                        }
                    })
                    .collect();
                url_keys.sort();
                url_keys.dedup();
                let (domain_order, domain_keys) = domain_keys.into_iter().unzip();
                SgList {
                    name,
                    domain_keys,
                    domain_order,
                    url_keys,
                }
            })
            .collect();
        SquidGuardModel { lists }
    }

    /// What squidGuard decides: the first list (in `pass` order) whose domain or URL database
    /// holds the request.
    fn decide(&self, request: &SgRequest) -> Option<SgHit> {
        for list in &self.lists {
            if let Some(key) = list.domain_lookup(&request.domain) {
                return Some(SgHit::Domain {
                    list: list.name.clone(),
                    key: String::from_utf8_lossy(&key).into_owned(),
                });
            }
            for url in [&request.surl, &request.furl] {
                if let Some(key) = list.url_lookup(url) {
                    return Some(SgHit::Url {
                        list: list.name.clone(),
                        key: String::from_utf8_lossy(&key).into_owned(),
                    });
                }
            }
        }
        None
    }

    fn list(&self, name: &str) -> &SgList {
        self.lists.iter().find(|l| l.name == name).unwrap()
    }
}

impl SgList {
    /// `defined()` on the domain database: the key found, if any.
    fn domain_lookup(&self, domain: &[u8]) -> Option<Vec<u8>> {
        if self.domain_keys.is_empty() {
            return None;
        }
        let mut request = b".".to_vec();
        request.extend_from_slice(domain);
        let order = domain_order_key(&request);
        // DB_SET_RANGE: the smallest key not below the request.
        let at = self
            .domain_order
            .partition_point(|k| k.as_slice() < order.as_slice());
        match self.domain_keys.get(at) {
            Some(next) => {
                if request.starts_with(next) {
                    return Some(next.clone());
                }
                // DB_PREV: one step back, and only if the key found is not under it.
                let previous = &self.domain_keys[at.checked_sub(1)?];
                (str_rncmp(next, previous, previous.len()) != 0
                    && str_rncmp(previous, &request, previous.len()) == 0)
                    .then(|| previous.clone())
            }
            None => {
                let last = self.domain_keys.last().unwrap();
                (str_rncmp(last, &request, last.len()) == 0).then(|| last.clone())
            }
        }
    }

    /// `defined()` on the URL database (plain `strncmp` prefixes): the key found, if any.
    fn url_lookup(&self, url: &[u8]) -> Option<Vec<u8>> {
        if self.url_keys.is_empty() {
            return None;
        }
        let at = self.url_keys.partition_point(|k| k.as_slice() < url);
        match self.url_keys.get(at) {
            Some(next) => {
                if url.starts_with(next) {
                    return Some(next.clone());
                }
                let previous = &self.url_keys[at.checked_sub(1)?];
                (!next.starts_with(previous) && url.starts_with(previous)).then(|| previous.clone())
            }
            None => {
                let last = self.url_keys.last().unwrap();
                url.starts_with(last).then(|| last.clone())
            }
        }
    }
}

/// The keys of a list file as `sgDbLoadTextFile` makes them: lines starting with `#` skipped,
/// a leading `+`/`-` dropped, the first word, lower-cased (ASCII only, as C's `tolower`).
fn sg_list_keys(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|b| *b == b'\n')
        .filter(|line| line.first() != Some(&b'#'))
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = match line.first() {
                Some(b'+' | b'-') => &line[1..],
                _ => line,
            };
            line.split(|b| matches!(b, b' ' | b'\t'))
                .find(|w| !w.is_empty())
                .map(|w| w.to_ascii_lowercase())
        })
        .collect()
}

/// `sgStripUrl`: a URL key without user information and port.
fn sg_strip_url(key: &[u8]) -> Vec<u8> {
    let slash = key.iter().position(|b| *b == b'/');
    let before_slash = |i: usize| slash.is_none_or(|d| i < d);
    let mut start = 0;
    if let Some(at) = key.iter().position(|b| *b == b'@')
        && before_slash(at)
    {
        start = at + 1;
    }
    let mut end = slash.unwrap_or(key.len());
    if let Some(colon) = key[start..].iter().position(|b| *b == b':')
        && before_slash(start + colon)
    {
        end = start + colon;
    }
    let mut out = key[start..end.max(start)].to_vec();
    if let Some(d) = slash {
        out.extend_from_slice(&key[d..]);
    }
    out
}

/// `parseLine` of squidGuard 1.6 on the URL field of a helper request.
fn sg_parse(url: &str) -> SgRequest {
    sg_parse_with(url, true, true)
}

/// `parseLine`, with its percent-decoding and its slash collapsing each optional, to tell
/// which of them makes a key miss.
fn sg_parse_with(url: &str, decode: bool, collapse: bool) -> SgRequest {
    // Percent-decoded first (encoded white space stays encoded), then lower-cased.
    let bytes = url.as_bytes();
    let mut field = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if decode
            && bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            let byte = (h * 16 + l) as u8;
            if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                field.push(byte);
                i += 3;
                continue;
            }
        }
        field.push(bytes[i]);
        i += 1;
    }
    field.make_ascii_lowercase();
    let p: Vec<u8> = match field.windows(3).position(|w| w == b"://") {
        Some(at) => {
            let mut p = field[at + 3..].to_vec();
            if collapse {
                collapse_slashes(&mut p);
            }
            p
        }
        None => field,
    };
    let slash = p.iter().position(|b| *b == b'/');
    let before_slash = |i: usize| slash.is_none_or(|d| i < d);
    let mut start = 0;
    if let Some(at) = p.iter().position(|b| *b == b'@')
        && before_slash(at)
    {
        start = at + 1;
    }
    let mut end = slash;
    if let Some(colon) = p[start..].iter().position(|b| *b == b':')
        && before_slash(start + colon)
    {
        end = Some(start + colon);
    }
    let furl = p[start..].to_vec();
    let mut stripped = start;
    for prefix in [&b"www"[..], b"web", b"ftp"] {
        if p[start..].starts_with(prefix) {
            let mut q = start + 3;
            while p.get(q).is_some_and(u8::is_ascii_digit) {
                q += 1;
            }
            if p.get(q) == Some(&b'.') {
                stripped = q + 1;
            }
        }
    }
    let (domain, mut surl) = match end {
        None => (p[start..].to_vec(), p[stripped..].to_vec()),
        Some(e) => (p[start..e].to_vec(), p[stripped..e.max(stripped)].to_vec()),
    };
    if let Some(d) = slash {
        surl.extend_from_slice(&p[d..]);
    }
    SgRequest { domain, surl, furl }
}

/// The "multiple slash" and "trailing dot" fixes of `parseLine`: up to the query, `//`
/// becomes `/` (repeatedly) and the first `./` becomes `/`.
fn collapse_slashes(p: &mut Vec<u8>) {
    let size = p.len();
    let mut trailing_dot = false;
    let mut i = 0;
    while i < p.len() && p[i] != b'?' {
        if size >= i + 3 && p[i..].starts_with(b"://") && p.len() > i + 3 {
            i += 3;
        }
        if p.get(i) == Some(&b'/') && p.get(i + 1) == Some(&b'/') {
            p.remove(i);
        } else if p.get(i) == Some(&b'.') && p.get(i + 1) == Some(&b'/') && !trailing_dot {
            trailing_dot = true;
            p.remove(i);
        } else {
            i += 1;
        }
    }
}

/// A key whose plain byte order is squidGuard's `domainCompare` order: reversed, with a dot
/// below every other byte and bytes compared as C's signed `char`.
fn domain_order_key(key: &[u8]) -> Vec<u8> {
    key.iter()
        .rev()
        .map(|&c| {
            if c == b'.' {
                129
            } else {
                (c as i8 as i16 + 128) as u8
            }
        })
        .collect()
}

/// squidGuard's `sgStrRncmp(a, b, blen)`: compares the ends of two C strings, from their
/// terminating NULs back over `blen` bytes.
fn str_rncmp(a: &[u8], b: &[u8], blen: usize) -> i32 {
    let at = |s: &[u8], i: usize| if i == s.len() { 0 } else { s[i] as i8 as i32 };
    let (mut i, mut j, mut left) = (a.len(), b.len(), blen);
    while at(a, i) == at(b, j) && left > 0 {
        if i == 0 || j == 0 {
            break;
        }
        i -= 1;
        j -= 1;
        left -= 1;
    }
    if (i == 0 && j == 0) || left == 0 {
        return at(a, i) - at(b, j);
    }
    if i == 0 {
        return -1;
    }
    if j == 0 {
        return 1;
    }
    at(a, i) - at(b, j)
}

/// The rule Hedgerow named, without the group.
fn rule_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Blocked { rule, .. } => rule
            .split_once('/')
            .map_or(rule.as_str(), |(_, r)| r)
            .to_string(),
        _ => String::new(),
    }
}

/// The deliberate differences, by key (docs/proxy-differential.md has one section each).
const NEIGHBOUR_DOMAIN: &str = "squidguard-lookup-misses-listed-parent-domain";
const NEIGHBOUR_URL: &str = "squidguard-lookup-misses-listed-url-prefix";
const HASH_IN_ENTRY: &str = "hash-starts-a-comment-in-list-lines";
const PERCENT: &str = "squidguard-decodes-the-request-but-not-the-list";
const SLASHES: &str = "squidguard-collapses-slashes-in-the-request-but-not-the-list";
const PROXY_ONLY: &str = "proxy-only-rule";

/// Why Hedgerow and squidGuard disagree on one request (`field`: the URL field squidGuard
/// was given), or `None` when no deliberate difference explains it.
fn why_they_differ(
    model: &SquidGuardModel,
    field: &str,
    ours: &[Match],
    theirs: Option<&SgHit>,
) -> Option<&'static str> {
    if theirs.is_some() || ours.is_empty() {
        // squidGuard blocks what Hedgerow allows: no such difference is known (none occurs
        // on the shared workload), so nothing explains it.
        return None;
    }
    let request = sg_parse(field);
    // Hedgerow blocks and squidGuard does not: every entry Hedgerow matched must be one
    // squidGuard cannot see, for a known reason.
    let mut reasons = Vec::new();
    for found in ours {
        let reason = match found {
            Match::Domain { list, entry } => {
                // squidGuard's key is a parent of the request's host, yet its lookup misses
                // it: the key it lands on is another name under that parent.
                let key = format!(".{entry}").into_bytes();
                let mut dotted = b".".to_vec();
                dotted.extend_from_slice(&request.domain);
                (str_rncmp(&key, &dotted, key.len()) == 0
                    && model.list(list).domain_lookup(&request.domain).is_none())
                .then_some(NEIGHBOUR_DOMAIN)
            }
            Match::Url { list, line } => {
                let key = sg_list_keys(line.as_bytes())
                    .into_iter()
                    .next()
                    .map(|k| sg_strip_url(&k))
                    .unwrap_or_default();
                let prefix = |r: &SgRequest| r.surl.starts_with(&key) || r.furl.starts_with(&key);
                if line.contains('#') {
                    // squidGuard keeps `#...` in the key; no request carries a fragment.
                    Some(HASH_IN_ENTRY)
                } else if prefix(&request) {
                    // The key is a prefix of the request, yet the lookup misses it.
                    let sg = model.list(list);
                    (sg.url_lookup(&request.surl).is_none()
                        && sg.url_lookup(&request.furl).is_none())
                    .then_some(NEIGHBOUR_URL)
                } else if prefix(&sg_parse_with(field, false, true)) {
                    // It would match but for squidGuard decoding the request.
                    Some(PERCENT)
                } else if prefix(&sg_parse_with(field, true, false)) {
                    // It would match but for squidGuard collapsing the request's slashes.
                    Some(SLASHES)
                } else {
                    None
                }
            }
        };
        reasons.push(reason?);
    }
    reasons.first().copied()
}

// ---- the test --------------------------------------------------------------------------------

/// One request of a workload, with every answer to it.
struct Row<'a> {
    /// The workload line.
    target: &'a str,
    /// The URL field squidGuard was given.
    field: String,
    host: String,
    /// Path and query, for GET; none for CONNECT.
    path: Option<&'a str>,
    ours: &'a Outcome,
    theirs: &'a (Verdict, Option<String>),
    expected: Verdict,
}

/// Counts and examples of one comparison.
#[derive(Default)]
struct Tally {
    rows: usize,
    agree: usize,
    /// kind -> (count, examples)
    kinds: BTreeMap<String, (usize, Vec<String>)>,
    undocumented: usize,
    /// Rows Hedgerow blocked by a proxy-only rule (HEDGEROW_PROXY_DIFF_ALL_RULES only).
    proxy_only: usize,
    /// Rows where Hedgerow's answer is not the expected verdict.
    unexpected: Vec<String>,
    /// Rows where the test's reading of Hedgerow's semantics does not give Hedgerow's answer.
    reading_wrong: Vec<String>,
    /// Rows where the model of squidGuard does not give squidGuard's answer.
    model_wrong: Vec<String>,
}

impl Tally {
    fn add(&mut self, kind: String, example: String) {
        let entry = self.kinds.entry(kind).or_default();
        entry.0 += 1;
        if entry.1.len() < 10 {
            entry.1.push(example);
        }
    }

    fn print(&self, title: &str) {
        println!(
            "{title}: {} rows, {} agree, {} differ ({} undocumented); hedgerow matches the expected verdict on {}; the reading of Hedgerow's semantics reproduces it on {}; the model of squidGuard reproduces squidGuard on {}",
            self.rows,
            self.agree,
            self.rows - self.agree,
            self.undocumented,
            self.rows - self.unexpected.len(),
            self.rows - self.reading_wrong.len(),
            self.rows - self.model_wrong.len(),
        );
        if self.proxy_only > 0 {
            println!(
                "  {} rows were blocked by proxy-only rules and not compared with the expected verdicts or the readings",
                self.proxy_only
            );
        }
        for (kind, (count, examples)) in &self.kinds {
            println!("  {kind}: {count}");
            for example in examples {
                println!("    {example}");
            }
        }
        for (what, rows) in [
            ("hedgerow is not the expected verdict", &self.unexpected),
            (
                "the reading of Hedgerow's semantics is wrong",
                &self.reading_wrong,
            ),
            ("the model of squidGuard is wrong", &self.model_wrong),
        ] {
            if !rows.is_empty() {
                println!("  {what}: {}", rows.len());
                for row in rows.iter().take(10) {
                    println!("    {row}");
                }
            }
        }
    }
}

fn compare(rows: &[Row<'_>], reading: &HedgerowReading, model: &SquidGuardModel) -> Tally {
    let mut tally = Tally::default();
    for row in rows {
        tally.rows += 1;
        let ours = row.ours.verdict().expect("failures were reported above");
        let (theirs, category) = row.theirs;
        if proxy_only_rule(row.ours) {
            // Only with HEDGEROW_PROXY_DIFF_ALL_RULES: a rule no list reading can know, so
            // neither the expected verdicts nor the readings apply.
            tally.proxy_only += 1;
            if ours == *theirs {
                tally.agree += 1;
            } else {
                tally.add(
                    format!("{PROXY_ONLY}: {}", rule_name(row.ours)),
                    format!("{}  squidGuard {}", row.target, theirs.word()),
                );
            }
            continue;
        }
        if ours != row.expected {
            tally.unexpected.push(format!(
                "{}: expected {}, hedgerow {:?}",
                row.target,
                row.expected.word(),
                row.ours
            ));
        }
        let matches = reading.matches(&row.host, row.path);
        if matches.is_empty() == (ours == Verdict::Block) {
            tally.reading_wrong.push(format!(
                "{}: {:?}, reading {matches:?}",
                row.target, row.ours
            ));
        }
        let request = sg_parse(&row.field);
        let hit = model.decide(&request);
        if hit.is_some() != (*theirs == Verdict::Block) {
            tally.model_wrong.push(format!(
                "{}: squidGuard {} ({category:?}), model {hit:?} from {request:?}",
                row.target,
                theirs.word()
            ));
        }
        if ours == *theirs {
            tally.agree += 1;
            continue;
        }
        let rule = match row.ours {
            Outcome::Blocked { rule, status } => format!("{status} {rule}"),
            _ if row.path.is_some() => "passed to the parent".into(),
            _ => "tunnel granted".into(),
        };
        let how = match &hit {
            Some(SgHit::Domain { list, key }) => format!(" ({list}: domain {key})"),
            Some(SgHit::Url { list, key }) => format!(" ({list}: url {key})"),
            None => String::new(),
        };
        let entry = match matches.first() {
            Some(Match::Domain { list, entry }) => format!(" ({list}: domain {entry})"),
            Some(Match::Url { list, line, .. }) => format!(" ({list}: url {line})"),
            None => String::new(),
        };
        let example = format!(
            "{}  hedgerow {}{entry} [{rule}]; squidGuard {}{how}; expected {}",
            row.target,
            ours.word(),
            theirs.word(),
            row.expected.word()
        );
        let why = if hit.is_some() == (*theirs == Verdict::Block) {
            why_they_differ(model, &row.field, &matches, hit.as_ref())
        } else {
            None
        };
        let kind = match why {
            Some(kind) => kind.to_string(),
            None => {
                tally.undocumented += 1;
                format!(
                    "UNDOCUMENTED: hedgerow {} / squidGuard {}",
                    ours.word(),
                    theirs.word()
                )
            }
        };
        tally.add(kind, example);
    }
    tally
}

#[test]
fn proxy_verdicts_match_squidguard_on_every_workload_url_and_connect() {
    if !have_peer_tools(&["squidGuard"]) {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();

    let url_lines = workload_lines("urls.txt");
    let urls: Vec<Url> = url_lines.iter().map(|l| Url::parse(l)).collect();
    let connects = workload_lines("connect.txt");
    let url_expected = expected("urls.expected.tsv", &url_lines);
    let connect_expected = expected("connect.expected.tsv", &connects);

    let squidguard = SquidGuard::set_up(dir.path());
    println!(
        "squidGuard {}: database compiled in {:.1} s",
        squidguard_version(),
        squidguard.compile_time.as_secs_f64()
    );
    // As squid 5 asks its url_rewrite helper (url_rewrite_extras' default adds myip/myport).
    let sg_url_fields: Vec<String> = urls.iter().map(|u| u.sent.clone()).collect();
    let sg_connect_fields: Vec<String> = connects.clone();
    let helper_line = |field: &str, method: &str| {
        format!("{field} 127.0.0.1/- - {method} myip=127.0.0.1 myport=3128")
    };
    let sg_requests: Vec<String> = sg_url_fields
        .iter()
        .map(|f| helper_line(f, "GET"))
        .collect();
    let sg_connects: Vec<String> = sg_connect_fields
        .iter()
        .map(|f| helper_line(f, "CONNECT"))
        .collect();

    // squidGuard answers, and the two readings are loaded, while Hedgerow starts and is asked.
    let (sg_urls, sg_connect, ours_urls, ours_connect, reading, model, timings) =
        std::thread::scope(|scope| {
            let sg = &squidguard;
            let theirs = scope.spawn(move || {
                let t = Instant::now();
                let urls = sg.ask(sg_requests);
                let connects = sg.ask(sg_connects);
                let reading = HedgerowReading::read();
                let model = SquidGuardModel::load();
                (urls, connects, reading, model, t.elapsed())
            });
            let parent =
                TestParentProxy::start_with(std::net::Ipv4Addr::LOCALHOST, ConnectMode::Close);
            let t = Instant::now();
            let proxy = start_proxy(dir.path(), parent.addr());
            let start_time = t.elapsed();
            let t = Instant::now();
            let (connections, parent_connections) =
                (CONNECTIONS.load(Ordering::Relaxed), parent.connections());
            let ours_urls = run_gets(&proxy.addrs, &urls);
            let get_time = t.elapsed();
            println!(
                "GET phase: {} client connections, {} requests sent again, {} requests on {} connections at the parent",
                CONNECTIONS.load(Ordering::Relaxed) - connections,
                RETRIES.load(Ordering::Relaxed),
                parent.requests().len(),
                parent.connections() - parent_connections,
            );
            let t = Instant::now();
            let ours_connect = run_connects(&proxy.addrs, &connects);
            let connect_time = t.elapsed();
            let log = std::fs::read_to_string(&proxy.log).unwrap_or_default();
            assert!(!log.contains("panicked"), "the gateway panicked:\n{log}");
            let complaints: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            println!(
                "gateway log: {} warnings and errors{}",
                complaints.len(),
                complaints
                    .iter()
                    .take(5)
                    .map(|l| format!("\n  {l}"))
                    .collect::<String>()
            );
            let (sg_urls, sg_connect, reading, model, sg_time) = theirs.join().unwrap();
            (
                sg_urls,
                sg_connect,
                ours_urls,
                ours_connect,
                reading,
                model,
                (start_time, get_time, connect_time, sg_time),
            )
        });
    println!(
        "hedgerow ready in {:.1} s; {} GETs in {:.1} s; {} CONNECTs in {:.1} s; squidGuard answered both (and the lists were read) in {:.1} s",
        timings.0.as_secs_f64(),
        urls.len(),
        timings.1.as_secs_f64(),
        connects.len(),
        timings.2.as_secs_f64(),
        timings.3.as_secs_f64(),
    );

    // Every request must have had a clear answer from Hedgerow.
    let failures: Vec<String> = url_lines
        .iter()
        .zip(&ours_urls)
        .chain(connects.iter().zip(&ours_connect))
        .filter_map(|(target, outcome)| match outcome {
            Outcome::Failed(why) => Some(format!("{target}: {why}")),
            _ => None,
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} requests had no clear answer from Hedgerow, first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    let t = Instant::now();
    let url_rows: Vec<Row<'_>> = (0..urls.len())
        .map(|i| Row {
            target: &url_lines[i],
            field: sg_url_fields[i].clone(),
            host: urls[i].host.clone(),
            path: Some(&urls[i].path),
            ours: &ours_urls[i],
            theirs: &sg_urls[i],
            expected: url_expected[i],
        })
        .collect();
    let connect_rows: Vec<Row<'_>> = (0..connects.len())
        .map(|i| Row {
            target: &connects[i],
            field: sg_connect_fields[i].clone(),
            host: strip_port(&connects[i]).to_ascii_lowercase(),
            path: None,
            ours: &ours_connect[i],
            theirs: &sg_connect[i],
            expected: connect_expected[i],
        })
        .collect();
    let (url_tally, connect_tally) = std::thread::scope(|scope| {
        let urls = scope.spawn(|| compare(&url_rows, &reading, &model));
        let connects = compare(&connect_rows, &reading, &model);
        (urls.join().unwrap(), connects)
    });
    println!("compared in {:.1} s", t.elapsed().as_secs_f64());

    url_tally.print("urls.txt (GET through the proxy)");
    connect_tally.print("connect.txt (CONNECT host:443)");
    let blocked = |v: &[Outcome]| {
        v.iter()
            .filter(|o| matches!(o, Outcome::Blocked { .. }))
            .count()
    };
    let sg_blocked =
        |v: &[(Verdict, Option<String>)]| v.iter().filter(|(v, _)| *v == Verdict::Block).count();
    println!(
        "blocked: hedgerow {} URLs and {} CONNECTs, squidGuard {} and {}, expected {} and {}",
        blocked(&ours_urls),
        blocked(&ours_connect),
        sg_blocked(&sg_urls),
        sg_blocked(&sg_connect),
        url_expected
            .iter()
            .filter(|v| **v == Verdict::Block)
            .count(),
        connect_expected
            .iter()
            .filter(|v| **v == Verdict::Block)
            .count(),
    );
    println!("total {:.1} s", started.elapsed().as_secs_f64());

    assert!(blocked(&ours_urls) > 10_000, "the lists were not applied");
    for (name, tally) in [("urls.txt", &url_tally), ("connect.txt", &connect_tally)] {
        assert!(
            tally.unexpected.is_empty(),
            "{name}: hedgerow disagrees with the expected verdicts on {} rows (above)",
            tally.unexpected.len()
        );
        assert!(
            tally.reading_wrong.is_empty() && tally.model_wrong.is_empty(),
            "{name}: a reading used to explain differences does not reproduce its program (above)"
        );
        assert_eq!(
            tally.undocumented, 0,
            "{name}: disagreements with squidGuard that no documented difference explains (above)"
        );
    }
}

/// The installed squidGuard's version line.
fn squidguard_version() -> String {
    Command::new("squidGuard")
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(if o.stdout.is_empty() {
                &o.stderr
            } else {
                &o.stdout
            })
            .lines()
            .next()
            .unwrap_or("?")
            .trim()
            .to_string()
        })
        .unwrap_or_else(|_| "?".into())
}

/// Spellings of a blocked URL that every web server reads as that URL (RFC 3986 §6.2.2:
/// percent-encoded unreserved characters, the case of percent-encoding hex digits, dot
/// segments; and repeated slashes, which common servers merge) must be blocked too. squidGuard
/// blocks some of them (it decodes and collapses slashes); Hedgerow normalises the path of
/// list entries and requests alike (`hedgerow_lists::normalize_path`) and blocks them all.
/// See docs/proxy-differential.md, "Beyond the workload".
#[test]
fn equivalent_spellings_of_a_blocked_url_are_blocked() {
    if !have_peer_tools(&["squidGuard"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let urls_of = |list: &str| {
        std::fs::read_to_string(shared_data().join(format!("blocklists/{list}.urls")))
            .unwrap_or_default()
    };
    // The bench's blocked-URL probe (the first `.urls` entry of games with a path) ...
    let games = urls_of("games");
    let entry = games.lines().find(|l| l.contains('/')).unwrap().trim();
    let canonical = format!("http://{entry}");
    let (site, path) = entry.split_at(entry.find('/').unwrap());
    let last = path.chars().last().unwrap();
    assert!(last.is_ascii_alphanumeric(), "{entry}: pick another probe");
    let mut variants = vec![
        (
            format!(
                "http://{site}{}%{:02X}",
                &path[..path.len() - 1],
                last as u32
            ),
            canonical.clone(),
        ),
        (format!("http://{site}/{path}"), canonical.clone()),
        (format!("http://{site}/.{path}"), canonical.clone()),
        (format!("http://{site}/x/..{path}"), canonical.clone()),
    ];
    // ... and a listed URL written with lower-case percent-encoding, asked for in upper case
    // (as browsers write it).
    let lower_hex = policy_lists()
        .iter()
        .flat_map(|l| urls_of(l).lines().map(str::to_string).collect::<Vec<_>>())
        .find(|l| {
            let b = l.as_bytes();
            !l.contains('#')
                && b.windows(3).any(|w| {
                    w[0] == b'%'
                        && w[1..].iter().all(u8::is_ascii_hexdigit)
                        && w[1..].iter().any(u8::is_ascii_lowercase)
                })
        });
    if let Some(line) = lower_hex {
        let line = line.trim();
        let mut upper = String::new();
        let mut rest = line;
        while let Some(at) = rest.find('%') {
            upper.push_str(&rest[..at]);
            let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
            upper.push_str(&escape.to_ascii_uppercase());
            rest = &rest[at + escape.len()..];
        }
        upper.push_str(rest);
        variants.push((format!("http://{upper}"), format!("http://{line}")));
    }

    let squidguard = SquidGuard::set_up(dir.path());
    let parent = TestParentProxy::start_with(std::net::Ipv4Addr::LOCALHOST, ConnectMode::Close);
    let proxy = start_proxy(dir.path(), parent.addr());
    let mut client = Client::new(TcpStream::connect(proxy.addr).unwrap());
    let mut ask = |url: &str| {
        let url = Url::parse(url);
        judge_get(&url, &client.get(&url.sent, &url.authority).unwrap())
    };
    let theirs = squidguard.ask(
        variants
            .iter()
            .map(|(v, _)| format!("{v} 127.0.0.1/- - GET myip=127.0.0.1 myport=3128"))
            .collect(),
    );
    let mut missed = Vec::new();
    for ((variant, canonical), (sg, _)) in variants.iter().zip(&theirs) {
        let blocked = ask(canonical);
        assert!(
            matches!(blocked, Outcome::Blocked { .. }),
            "{canonical} is not blocked: {blocked:?}"
        );
        let ours = ask(variant);
        println!("{variant}: hedgerow {ours:?}, squidGuard {}", sg.word());
        if !matches!(ours, Outcome::Blocked { .. }) {
            missed.push(format!(
                "{variant} (the same as {canonical}): {ours:?}; squidGuard {}",
                sg.word()
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "equivalent spellings of blocked URLs are passed on:\n{}",
        missed.join("\n")
    );
}
