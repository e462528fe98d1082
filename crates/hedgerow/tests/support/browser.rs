//! A real browser in tests: Debian's chromium, headless, driven through chromedriver with the
//! W3C WebDriver protocol over a minimal HTTP/1.1 client (std `TcpStream` + serde_json).
//!
//! Each [`Browser`] has its own chromedriver on a free port, its own `HOME` (holding the NSS
//! database chromium reads trusted CAs from) and its own profile, all in a temporary folder.
//! Dropping it ends the session and kills chromedriver and every chromium process it started,
//! by process id.
//!
//! Tests call [`available`] first: it is false (the test skips with a note) when chromium,
//! chromedriver or certutil is missing, unless `HEDGEROW_REQUIRE_BROWSER` is set
//! (`scripts/test-all.sh` sets it), in which case it panics.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

/// Debian's chromium itself, not its `/usr/bin/chromium` wrapper script: the wrapper adds
/// Google API keys and remote extensions, and with them background requests to Google.
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";
/// The W3C key of an element reference.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// True when chromium, chromedriver and certutil are installed. When one is missing the test
/// should skip (this prints a note), unless `HEDGEROW_REQUIRE_BROWSER` is set: then it panics.
pub fn available() -> bool {
    let missing: Vec<&str> = ["chromium", "chromedriver", "certutil"]
        .into_iter()
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
    if std::env::var_os("HEDGEROW_REQUIRE_BROWSER").is_some() {
        panic!("missing {missing:?}; scripts/test-env.sh installs them");
    }
    eprintln!("SKIPPED: {missing:?} not installed (scripts/test-env.sh installs them)");
    false
}

/// How to start a [`Browser`].
#[derive(Clone, Debug, Default)]
pub struct BrowserOptions {
    /// Send everything, loopback included, through this HTTP proxy.
    pub proxy: Option<SocketAddr>,
    /// Trust this CA (PEM) for TLS server certificates.
    pub trust_ca_pem: Option<PathBuf>,
    /// Save downloads here without asking (safe browsing off).
    pub download_dir: Option<PathBuf>,
    /// More chromium arguments, such as `--host-resolver-rules=MAP www.google.com 127.0.0.60`
    /// (merged with the rules that silence [`BACKGROUND_HOSTS`]).
    pub extra_args: Vec<String>,
    /// Let chromium's own background requests ([`BACKGROUND_HOSTS`]) through like any other.
    /// By default they bypass the proxy and fail name resolution at once, so that neither the
    /// proxy under test nor the internet sees them; a test of one of those hosts (say
    /// accounts.google.com) sets this and ignores the noise.
    pub keep_background_traffic: bool,
}

/// Hosts chromium contacts on its own even with background networking off (an on-demand
/// component update check, Google account cookies; seen with Debian's chromium 156).
pub const BACKGROUND_HOSTS: &[&str] = &[
    "update.googleapis.com",
    "accounts.google.com",
    "clients2.google.com",
    "clients2.googleusercontent.com",
    "redirector.gvt1.com",
    "edgedl.me.gvt1.com",
    "optimizationguide-pa.googleapis.com",
    "safebrowsing.googleapis.com",
    "content-autofill.googleapis.com",
    "start.duckduckgo.com",
];

/// A headless chromium session.
pub struct Browser {
    driver: Option<Child>,
    port: u16,
    session: Option<String>,
    home: tempfile::TempDir,
    profile: PathBuf,
}

impl Browser {
    pub fn start(options: BrowserOptions) -> anyhow::Result<Browser> {
        let home = tempfile::Builder::new()
            .prefix("hedgerow-browser-")
            .tempdir()
            .context("temporary HOME for chromium")?;
        let profile = home.path().join("profile");
        std::fs::create_dir_all(&profile)?;

        // Chromium on Linux trusts the CAs in $HOME/.pki/nssdb (plus the system store).
        let nssdb = home.path().join(".pki/nssdb");
        std::fs::create_dir_all(&nssdb)?;
        let db = format!("sql:{}", nssdb.display());
        certutil(&["-N", "--empty-password", "-d", &db])?;
        if let Some(ca) = &options.trust_ca_pem {
            let ca = ca.to_str().context("CA path is not UTF-8")?;
            certutil(&[
                "-A",
                "-n",
                "hedgerow-test",
                "-t",
                "C,,",
                "-i",
                ca,
                "-d",
                &db,
            ])?;
        }

        let mut browser = Browser {
            driver: None,
            port: 0,
            session: None,
            home,
            profile,
        };
        // A free port can be taken between choosing it and chromedriver binding it: retry.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match browser.spawn_driver() {
                Ok(()) => break,
                Err(e) if attempt >= 3 => return Err(e),
                Err(_) => {
                    if let Some(mut driver) = browser.driver.take() {
                        let _ = driver.kill();
                        let _ = driver.wait();
                    }
                }
            }
        }

        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--disable-breakpad",
            "--disable-crash-reporter",
            "--no-pings",
            "--metrics-recording-only",
            "--password-store=basic",
            // Navigations go where the test says: no upgrade of http:// to https://.
            "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,OptimizationHints,MediaRouter,Translate,InterestFeedContentSuggestions,AutofillServerCommunication,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,PrivacySandboxSettings4",
            "--disable-component-extensions-with-background-pages",
            "--disable-search-engine-choice-screen",
            "--no-service-autorun",
            "--disable-field-trial-config",
            "--window-size=1280,800",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        let quiet: &[&str] = if options.keep_background_traffic {
            &[]
        } else {
            BACKGROUND_HOSTS
        };
        if let Some(proxy) = options.proxy {
            args.push(format!("--proxy-server=http://{proxy}"));
            // Chromium bypasses the proxy for loopback unless told not to.
            let mut bypass = vec!["<-loopback>"];
            bypass.extend_from_slice(quiet);
            args.push(format!("--proxy-bypass-list={}", bypass.join(";")));
        }
        // Chromium honours only the last --host-resolver-rules: merge the caller's with ours.
        let mut rules: Vec<String> = quiet.iter().map(|h| format!("MAP {h} ~NOTFOUND")).collect();
        for arg in &options.extra_args {
            match arg.strip_prefix("--host-resolver-rules=") {
                Some(theirs) => rules.push(theirs.to_string()),
                None => args.push(arg.clone()),
            }
        }
        if !rules.is_empty() {
            args.push(format!("--host-resolver-rules={}", rules.join(", ")));
        }
        let mut prefs = json!({
            "safebrowsing.enabled": false,
            "safebrowsing.disable_download_protection": true,
            "download.prompt_for_download": false,
            "signin.allowed": false,
            // Debian's chromium opens its search engine's start page in the first tab.
            "session.restore_on_startup": 4,
            "session.startup_urls": ["about:blank"],
            "homepage": "about:blank",
            "homepage_is_newtabpage": false,
        });
        if let Some(dir) = &options.download_dir {
            prefs["download.default_directory"] = json!(dir);
            prefs["download.directory_upgrade"] = json!(true);
            prefs["profile.default_content_setting_values.automatic_downloads"] = json!(1);
        }
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": false,
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": args,
                        "prefs": prefs,
                    }
                }
            }
        });
        let created = browser.call("POST", "/session", Some(&capabilities))?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId in {created}"))?
            .to_string();
        browser.session = Some(id);
        browser.command(
            "POST",
            "/timeouts",
            Some(&json!({"pageLoad": 30_000, "script": 10_000, "implicit": 0})),
        )?;
        if let Some(dir) = &options.download_dir {
            // Headless chromium saves downloads only where DevTools says it may.
            browser.cdp(
                "Browser.setDownloadBehavior",
                json!({"behavior": "allow", "downloadPath": dir, "eventsEnabled": false}),
            )?;
        }
        Ok(browser)
    }

    /// The profile folder (`--user-data-dir`); every chromium process has it in its command line.
    pub fn profile_dir(&self) -> &Path {
        &self.profile
    }

    /// chromedriver's log, for failure messages.
    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// Navigates and waits for the page to load. Network errors (refused, reset, no proxy)
    /// are errors (`net::ERR_...`); a certificate error is not: its interstitial page loads.
    pub fn goto(&mut self, url: &str) -> anyhow::Result<()> {
        self.command("POST", "/url", Some(&json!({ "url": url })))
            .map(drop)
    }

    pub fn title(&mut self) -> anyhow::Result<String> {
        string(self.command("GET", "/title", None)?)
    }

    pub fn current_url(&mut self) -> anyhow::Result<String> {
        string(self.command("GET", "/url", None)?)
    }

    pub fn page_source(&mut self) -> anyhow::Result<String> {
        string(self.command("GET", "/source", None)?)
    }

    /// The page's visible text.
    pub fn body_text(&mut self) -> anyhow::Result<String> {
        let text = self.execute(
            "return document.body ? document.body.innerText : '';",
            vec![],
        )?;
        Ok(text.as_str().unwrap_or_default().to_string())
    }

    /// Whether the page's visible text (or failing that, its source) contains `text`.
    pub fn find_text_contains(&mut self, text: &str) -> anyhow::Result<bool> {
        Ok(self.body_text()?.contains(text) || self.page_source()?.contains(text))
    }

    /// Runs JavaScript in the page (`arguments` are `args`) and returns its result.
    pub fn execute(&mut self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.command(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// The first element matching a CSS selector.
    pub fn element(&mut self, css: &str) -> anyhow::Result<String> {
        let found = self.command(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        found[ELEMENT_KEY]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no element for {css:?}: {found}"))
    }

    /// Replaces the text of the input matching `css`.
    pub fn fill(&mut self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.element(css)?;
        self.command("POST", &format!("/element/{id}/clear"), Some(&json!({})))?;
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": text })),
        )?;
        Ok(())
    }

    /// Chooses a file for the file input matching `css`, as a person picking it would.
    pub fn attach(&mut self, css: &str, file: &Path) -> anyhow::Result<()> {
        let id = self.element(css)?;
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": file.display().to_string() })),
        )?;
        Ok(())
    }

    /// Clicks the element matching `css` (and waits for a navigation it starts).
    pub fn click(&mut self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css)?;
        self.command("POST", &format!("/element/{id}/click"), Some(&json!({})))?;
        Ok(())
    }

    /// Submits the form matching `css` as a user would (validation and submit events
    /// included), then waits for the next page to load.
    pub fn submit(&mut self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css)?;
        let before = self.execute("return window.performance.timeOrigin;", vec![])?;
        self.execute(
            "const f = arguments[0]; if (f.requestSubmit) { f.requestSubmit(); } else { f.submit(); }",
            vec![json!({ ELEMENT_KEY: id })],
        )?;
        // The submission navigates: wait until a new document has replaced this one.
        self.wait_until(Duration::from_secs(30), |b| {
            let now = b.execute(
                "return document.readyState === 'complete' ? window.performance.timeOrigin : null;",
                vec![],
            );
            Ok(matches!(now, Ok(v) if !v.is_null() && v != before))
        })
    }

    /// Signs `account` in to the admin app at `app` through its pages, typing a fresh code
    /// where the role needs one, and checks it reached the dashboard.
    pub fn sign_in(&mut self, app: SocketAddr, account: &super::admin::StaffAccount) {
        self.goto(&format!("http://{app}/login")).unwrap();
        self.fill("#username", &account.username).unwrap();
        self.fill("#password", &account.password).unwrap();
        self.submit("form").unwrap();
        if self.current_url().unwrap().ends_with("/login/code") {
            let code = account.fresh_code().expect("a TOTP secret");
            self.fill("#code", &code).unwrap();
            self.submit("form").unwrap();
        }
        let url = self.current_url().unwrap();
        assert!(
            url.ends_with(&format!("{app}/")),
            "{} signed in: {url} {}",
            account.username,
            self.body_text().unwrap_or_default()
        );
    }

    /// Sets a form control's value directly (selects, and date and time fields whose typing
    /// differs between locales).
    pub fn set_value(&mut self, css: &str, value: &str) {
        let id = self.element(css).unwrap();
        self.execute(
            "arguments[0].value = arguments[1];",
            vec![json!({ ELEMENT_KEY: id }), json!(value)],
        )
        .unwrap();
    }

    /// Polls `ready` every 100 ms until it returns true or `timeout` passes.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut(&mut Browser) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready(self)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("condition not met within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends a DevTools command through chromedriver.
    pub fn cdp(&mut self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.command(
            "POST",
            "/goog/cdp/execute",
            Some(&json!({ "cmd": cmd, "params": params })),
        )
    }

    /// Ends the session and stops chromedriver and every chromium process it started.
    pub fn quit(mut self) -> anyhow::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        if let Some(session) = self.session.take()
            && let Err(e) = self.call("DELETE", &format!("/session/{session}"), None)
        {
            result = Err(e);
        }
        if let Some(mut driver) = self.driver.take() {
            // Everything chromedriver started, found before anything is killed (a killed
            // parent's children are re-parented and could no longer be traced to it).
            let mut pids = descendants(driver.id());
            pids.extend(processes_mentioning(
                &self.home.path().display().to_string(),
            ));
            let _ = Command::new("kill")
                .args(["-TERM", &driver.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = driver.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = driver.kill();
            let _ = driver.wait();
            pids.extend(processes_mentioning(
                &self.home.path().display().to_string(),
            ));
            pids.sort_unstable();
            pids.dedup();
            for pid in pids {
                kill_pid(pid);
            }
        }
        result
    }

    /// Starts chromedriver on a free port and waits until it is ready.
    fn spawn_driver(&mut self) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        self.port = free_tcp_port();
        let log = std::fs::File::create(self.home.path().join("chromedriver.log"))?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={}", self.port))
            .env("HOME", self.home.path())
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, apart from the test's.
            .process_group(0)
            .spawn()
            .context("starting chromedriver")?;
        self.driver = Some(driver);
        self.wait_for_driver()
    }

    fn wait_for_driver(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = self.call("GET", "/status", None)
                && status["ready"].as_bool() == Some(true)
            {
                return Ok(());
            }
            if let Some(driver) = self.driver.as_mut()
                && let Ok(Some(status)) = driver.try_wait()
            {
                bail!("chromedriver exited with {status}:\n{}", self.driver_log());
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready:\n{}", self.driver_log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A command in the current session.
    fn command(&mut self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let session = self
            .session
            .clone()
            .ok_or_else(|| anyhow!("the browser session has ended"))?;
        self.call(method, &format!("/session/{session}{path}"), body)
    }

    /// One WebDriver request; returns the response's `value`, or the WebDriver error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to chromedriver on {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.port
        );
        if method != "GET" && method != "DELETE" || !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes())?;
        // Read until the response is complete: chromedriver may keep the connection open.
        let mut response = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let (status, payload) = loop {
            // A signal (a child process ending) can interrupt a blocking read: try again.
            let n = match stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other
                    .with_context(|| format!("reading chromedriver's answer to {method} {path}"))?,
            };
            response.extend_from_slice(&chunk[..n]);
            match parse_response(&response, n == 0) {
                Ok(Some(done)) => break done,
                Ok(None) => {}
                Err(e) => {
                    return Err(e.context(format!("chromedriver's answer to {method} {path}")));
                }
            }
        };
        let parsed: Value = serde_json::from_slice(&payload).with_context(|| {
            format!(
                "chromedriver answered {method} {path} with {status} and no JSON: {}",
                String::from_utf8_lossy(&payload)
            )
        })?;
        let value = parsed.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 || value.get("error").is_some_and(|e| !e.is_null()) {
            let message = value["message"].as_str().unwrap_or_default();
            let message = message.lines().next().unwrap_or_default();
            bail!(
                "WebDriver {method} {path}: {} ({status}): {message}",
                value["error"].as_str().unwrap_or("error")
            );
        }
        Ok(value)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Waits until `dir/name` exists and chromium has finished writing it (no `.crdownload` left
/// and its size has stopped changing); returns its path.
pub fn wait_for_file(dir: &Path, name: &str, timeout: Duration) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let partial = dir.join(format!("{name}.crdownload"));
    let deadline = Instant::now() + timeout;
    let mut last_size = None;
    loop {
        if path.is_file() && !partial.exists() {
            let size = std::fs::metadata(&path)?.len();
            if last_size == Some(size) {
                return Ok(path);
            }
            last_size = Some(size);
        }
        if Instant::now() > deadline {
            let present: Vec<String> = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            bail!(
                "{} did not appear within {timeout:?}; the folder holds {present:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn string(value: Value) -> anyhow::Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("expected a string, got {value}"))
}

fn certutil(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("certutil")
        .args(args)
        .output()
        .context("running certutil (libnss3-tools)")?;
    if !out.status.success() {
        bail!(
            "certutil {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Status code and de-chunked body of an HTTP/1.1 response, or None while it is incomplete
/// (`eof`: the server has closed, so what is there is all there will be).
fn parse_response(bytes: &[u8], eof: bool) -> anyhow::Result<Option<(u16, Vec<u8>)>> {
    let incomplete = |what: &str| {
        if eof {
            Err(anyhow!("connection closed before the {what} was complete"))
        } else {
            Ok(None)
        }
    };
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return incomplete("response head");
    };
    let head = std::str::from_utf8(&bytes[..end])?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line in {head:?}"))?;
    let mut body = &bytes[end + 4..];
    let mut length = None;
    let mut chunked = false;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    if chunked {
        let mut out = Vec::new();
        loop {
            let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
                return incomplete("chunked body");
            };
            let size_text = std::str::from_utf8(&body[..line_end])?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)?;
            body = &body[line_end + 2..];
            if size == 0 {
                return Ok(Some((status, out)));
            }
            if body.len() < size + 2 {
                return incomplete("chunked body");
            }
            out.extend_from_slice(&body[..size]);
            body = &body[size + 2..];
        }
    }
    match length {
        Some(n) if body.len() >= n => Ok(Some((status, body[..n].to_vec()))),
        Some(_) => incomplete("body"),
        None if eof => Ok(Some((status, body.to_vec()))),
        None => Ok(None),
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Parent PID of a process, from /proc.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Every descendant of `root` (not `root` itself).
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Processes with `text` in one of their command-line arguments (our unique temporary folder:
/// chromium's helpers name the profile in `--user-data-dir=` or in paths under it).
pub fn processes_mentioning(text: &str) -> Vec<u32> {
    let own = std::process::id();
    all_pids()
        .into_iter()
        .filter(|pid| *pid != own)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmd| {
                    cmd.split(|b| *b == 0)
                        .any(|a| a.windows(text.len()).any(|w| w == text.as_bytes()))
                })
                .unwrap_or(false)
        })
        .collect()
}

fn kill_pid(pid: u32) {
    // By process id only; a process already gone is fine.
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
