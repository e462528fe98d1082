//! Hedgerow's configuration file: reading it, checking it, and building the policy and identity
//! inputs from it.
//!
//! The binary reads the file and hands the text to [`Config::parse`]; this crate does no I/O.
//! Every problem is reported with its key path, line and column, and as many problems as can
//! be found are reported at once, so a network manager can fix a file in one pass. The layout is
//! documented, with a complete example, in `docs/configuration.md`.

mod build;
mod error;
mod monitoring;
mod portal;
mod raw;
mod retention;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use hedgerow_identity::{Directory, IdentityError, SchoolDirectory};
use hedgerow_lists::{Host, normalize_host};
use hedgerow_policy::PolicySpec;

pub use error::{ConfigError, ConfigErrors};
pub use monitoring::{
    AGE_BANDS, MonitoringSettings, NoticeDetail, RISK_CATEGORIES, SchoolMonitoring, SmtpSecurity,
    SmtpSettings,
};
pub use portal::PortalSettings;
pub use retention::RetentionSettings;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub lists: ListsConfig,
    /// Listener name (e.g. `dns`, `metrics`) to the address it binds.
    pub listeners: BTreeMap<String, SocketAddr>,
    /// Upstream DNS resolvers.
    pub upstreams: Vec<SocketAddr>,
    /// Database URL; by default an SQLite file in the data directory.
    pub database_url: String,
    /// How the DNS filter answers.
    pub dns: DnsSettings,
    /// The web proxy's settings (the `[proxy]` table; its listener is `listeners.proxy`).
    pub proxy: ProxySettings,
    /// How the admin app is served (the `[admin]` table; its listener is `listeners.admin`).
    pub admin: AdminSettings,
    /// Safeguarding alerts: thresholds, digests and the mail server (the `[monitoring]` table).
    pub monitoring: MonitoringSettings,
    /// How long activity and decided alerts are kept (the `[retention]` table).
    pub retention: RetentionSettings,
    /// Where the access portal is (the `[portal]` table; its listener is `listeners.portal`).
    pub portal: PortalSettings,
    pub schools: Vec<SchoolConfig>,
}

/// How a blocked name is answered over DNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockResponse {
    /// The block page's address (A) or its IPv6 address (AAAA), so browsers show why.
    BlockPage,
    /// `0.0.0.0` or `::`: the connection fails at once.
    Null,
    /// The name does not exist.
    NxDomain,
}

/// The `[dns]` table. Unset values take the DNS filter's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    pub block_response: BlockResponse,
    /// The block page's addresses; required for [`BlockResponse::BlockPage`] (IPv6 optional).
    pub block_page_v4: Option<std::net::Ipv4Addr>,
    pub block_page_v6: Option<std::net::Ipv6Addr>,
    /// Queries per second one client may send; `0` turns the limit off.
    pub rate_limit_qps: Option<u32>,
    /// UDP worker threads; default one per core.
    pub workers: Option<usize>,
    pub cache_bytes: Option<usize>,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            block_response: BlockResponse::NxDomain,
            block_page_v4: None,
            block_page_v6: None,
            rate_limit_qps: None,
            workers: None,
            cache_bytes: None,
        }
    }
}

/// The port clients use for the web proxy when an address gives none.
pub const DEFAULT_PROXY_PORT: u16 = 3128;

/// The `[proxy]` table. Unset values take the defaults documented on each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// What clients use to reach the proxy, in the PAC file and the block page's links. As
    /// written, else the `proxy` listener's address; `None` only when neither is configured.
    pub public_address: Option<HostPort>,
    /// True when `public_address` was not written but taken from the `proxy` listener, so a
    /// listener given on the command line should replace it too.
    pub public_address_from_listener: bool,
    /// A parent proxy every request is passed to.
    pub parent: Option<HostPort>,
    /// A static host map in /etc/hosts format, consulted before the system resolver.
    pub hosts_file: Option<PathBuf>,
    /// Extra PEM files of roots trusted when verifying origins (beside the built-in roots).
    pub trust_roots: Vec<PathBuf>,
    /// Host names never inspected: each covers itself and its subdomains. Normalised (lower
    /// case, punycode, no trailing dot).
    pub no_inspect: Vec<String>,
    /// Categories never inspected, whatever a group's `inspect` says. Default `["banking"]`.
    pub no_inspect_categories: Vec<String>,
    /// Ports a CONNECT tunnel may reach. Default `[443]` (HTTPS only), so the proxy is not a
    /// way to reach mail servers, SSH or internal services. Never empty.
    pub connect_ports: Vec<u16>,
    /// Failed sign-ins (per username, and per client address) before sign-in is locked.
    /// Default 5.
    pub failed_logins: u32,
    /// How long failures are counted for, and how long a lock lasts. Default 300.
    pub lockout_seconds: u64,
    /// How long a sign-in vouches for its address (the DNS filter's attribution). Default 15.
    pub sign_in_minutes: u64,
    /// The largest request head (request line and headers) accepted; `None` for the proxy's
    /// own limit (32 KiB).
    pub max_header_bytes: Option<usize>,
    /// An idle client or origin connection is closed after this long. Default 60.
    pub idle_timeout_seconds: u64,
}

impl ProxySettings {
    pub const DEFAULT_NO_INSPECT_CATEGORIES: &[&str] = &["banking"];
    pub const DEFAULT_CONNECT_PORTS: &[u16] = &[443];
    pub const DEFAULT_FAILED_LOGINS: u32 = 5;
    pub const DEFAULT_LOCKOUT_SECONDS: u64 = 300;
    pub const DEFAULT_SIGN_IN_MINUTES: u64 = 15;
    pub const DEFAULT_IDLE_TIMEOUT_SECONDS: u64 = 60;

    /// Whether `host` (normalised) is, or is under, one of the never-inspect names.
    pub fn never_inspects_host(&self, host: &str) -> bool {
        self.no_inspect.iter().any(|name| {
            host == name
                || (host.len() > name.len()
                    && host.ends_with(name.as_str())
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.')
        })
    }

    /// Whether a site in any of these categories is never inspected.
    pub fn never_inspects_categories(&self, categories: &[&str]) -> bool {
        categories
            .iter()
            .any(|c| self.no_inspect_categories.iter().any(|n| n == c))
    }
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            public_address: None,
            public_address_from_listener: false,
            parent: None,
            hosts_file: None,
            trust_roots: Vec::new(),
            no_inspect: Vec::new(),
            no_inspect_categories: Self::DEFAULT_NO_INSPECT_CATEGORIES
                .iter()
                .map(|c| c.to_string())
                .collect(),
            connect_ports: Self::DEFAULT_CONNECT_PORTS.to_vec(),
            failed_logins: Self::DEFAULT_FAILED_LOGINS,
            lockout_seconds: Self::DEFAULT_LOCKOUT_SECONDS,
            sign_in_minutes: Self::DEFAULT_SIGN_IN_MINUTES,
            max_header_bytes: None,
            idle_timeout_seconds: Self::DEFAULT_IDLE_TIMEOUT_SECONDS,
        }
    }
}

/// How the admin app speaks HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdminTls {
    /// Plain HTTP: on a loopback listener only, or behind a reverse proxy that serves HTTPS.
    #[default]
    Off,
    /// A certificate minted from the school CA (`hedgerow ca init`) for the listener's address
    /// and [`AdminSettings::names`].
    SchoolCa,
    /// A certificate chain and private key from PEM files (paths as written).
    Files { cert: PathBuf, key: PathBuf },
}

/// The `[admin]` table. Unset values take the defaults documented on each field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminSettings {
    /// Default [`AdminTls::Off`], which only a loopback listener (or `behind_tls_proxy`) allows.
    pub tls: AdminTls,
    /// With [`AdminTls::SchoolCa`]: host names (lower case) and addresses the certificate names
    /// beside the listener's own address.
    pub names: Vec<String>,
    /// A reverse proxy in front serves HTTPS and talks plain HTTP to the app: cookies stay
    /// `Secure`, and the proxy's `X-Forwarded-For` says who the client is.
    pub behind_tls_proxy: bool,
    /// The reverse proxy's address; set exactly when `behind_tls_proxy` is. `X-Forwarded-For`
    /// is believed from this address only.
    pub trusted_proxy: Option<IpAddr>,
}

impl AdminSettings {
    /// Whether the admin app may listen on `listen` with these settings. The error says what to
    /// write instead; the gateway checks a `--admin-listen` address with it too.
    pub fn check_listener(&self, listen: SocketAddr) -> Result<(), String> {
        let ip = listen.ip().to_canonical();
        match self.tls {
            AdminTls::Off if !ip.is_loopback() && !self.behind_tls_proxy => Err(format!(
                "the admin app would listen on {listen} over plain HTTP, where staff passwords \
                 cross the network readable and browsers drop its Secure sign-in cookie; under \
                 [admin] set tls = \"school-ca\" (a certificate from the school CA, made with \
                 `hedgerow ca init`), or tls = \"files\" with cert and key naming PEM files, or \
                 behind_tls_proxy = true with trusted_proxy = the proxy's address when a reverse \
                 proxy in front serves HTTPS; or listen on 127.0.0.1 only \
                 (see docs/admin-app-https.md)"
            )),
            AdminTls::SchoolCa if ip.is_unspecified() && self.names.is_empty() => Err(format!(
                "the admin app would listen on every address ({ip}), which a certificate cannot \
                 name; under [admin] list the names staff use to reach it, e.g. names = \
                 [\"hedgerow.school.lan\"], or listen on one address"
            )),
            _ => Ok(()),
        }
    }

    /// Whether the session cookie is sent with `Secure`: always, except for plain HTTP on a
    /// loopback listener (the demo), where browsers would drop it.
    pub fn secure_cookies(&self) -> bool {
        self.tls != AdminTls::Off || self.behind_tls_proxy
    }
}

/// A host name or address with a port, such as `proxy.school.example:3128` or `[2001:db8::1]:8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Normalised: a lower-case (punycode) name, or an address.
    pub host: Host,
    pub port: u16,
}

impl HostPort {
    /// Reads `host:port`, `[v6]:port`, or (when `default_port` is given) a host alone,
    /// including a bare IPv6 address. The error says what was wrong.
    pub fn parse(text: &str, default_port: Option<u16>) -> Result<HostPort, String> {
        let text = text.trim();
        let example = "write it as \"host:port\", e.g. \"proxy.school.example:3128\" or \"[2001:db8::1]:3128\"";
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((host, after)) = rest.split_once(']') else {
                return Err(format!("{text:?} has no closing ']'; {example}"));
            };
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(format!("{text:?} has text after ']'; {example}")),
            }
        } else if text.matches(':').count() > 1 {
            // An IPv6 address without brackets cannot carry a port.
            (text, None)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            Some(port) => match port.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(format!("{port:?} is not a port (1 to 65535); {example}")),
            },
            None => default_port.ok_or_else(|| format!("{text:?} has no port; {example}"))?,
        };
        let host = normalize_host(host)
            .map_err(|e| format!("{host:?} is not a host name or address: {e}; {example}"))?;
        Ok(HostPort { host, port })
    }

    /// The socket address, when the host is an address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match &self.host {
            Host::Ipv4(a) => Some(SocketAddr::from((*a, self.port))),
            Host::Ipv6(a) => Some(SocketAddr::from((*a, self.port))),
            Host::Name(_) => None,
        }
    }
}

impl From<SocketAddr> for HostPort {
    fn from(address: SocketAddr) -> Self {
        let host = match address.ip().to_canonical() {
            std::net::IpAddr::V4(a) => Host::Ipv4(a),
            std::net::IpAddr::V6(a) => Host::Ipv6(a),
        };
        HostPort {
            host,
            port: address.port(),
        }
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            Host::Ipv6(a) => write!(f, "[{a}]:{}", self.port),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

/// Where the block lists are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListsConfig {
    /// Directories of category lists.
    pub sources: Vec<PathBuf>,
    /// Directories of illegal-content lists (IWF, CTIRU).
    pub illegal: Vec<PathBuf>,
    /// The taxonomy file mapping source lists to categories.
    pub taxonomy: Option<PathBuf>,
    /// Where the compiled index is kept; by default `lists.hidx` in the data directory.
    pub index: PathBuf,
}

/// One school: its policy and its directory of users and devices.
#[derive(Debug, Clone)]
pub struct SchoolConfig {
    pub policy: PolicySpec,
    pub directory: SchoolDirectory,
    /// Who hears about this school's alerts (the `[school.monitoring]` table).
    pub monitoring: SchoolMonitoring,
    /// Group keys whose people and devices are held at the access portal until they accept
    /// their acceptable use agreement (`[school.agreements] hold`); empty holds no one.
    pub agreement_hold: Vec<String>,
}

impl Config {
    /// Reads and checks a configuration file's text.
    pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
        let raw: raw::RawConfig =
            toml::from_str(text).map_err(|e| ConfigErrors(vec![error::from_toml(text, &e)]))?;
        build::build(text, raw)
    }

    pub fn school(&self, slug: &str) -> Option<&SchoolConfig> {
        self.schools.iter().find(|s| s.policy.school == slug)
    }

    /// The policy spec for one school, to compile with [`hedgerow_policy::Engine::new`].
    pub fn policy_spec(&self, school: &str) -> Option<&PolicySpec> {
        self.school(school).map(|s| &s.policy)
    }

    /// The directory of every school, for resolving clients.
    pub fn directory(&self) -> Result<Directory, IdentityError> {
        Directory::new(self.schools.iter().map(|s| s.directory.clone()).collect())
    }
}
