//! Hedgerow's configuration file: reading it, checking it, and building the policy and identity
//! inputs from it.
//!
//! The binary reads the file and hands the text to [`Config::parse`]; this crate does no I/O.
//! Every problem is reported with its key path, line and column, and as many problems as can
//! be found are reported at once, so a network manager can fix a file in one pass. The layout is
//! documented, with a complete example, in `docs/configuration.md`.

mod build;
mod error;
mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use hedgerow_identity::{Directory, IdentityError, SchoolDirectory};
use hedgerow_policy::PolicySpec;

pub use error::{ConfigError, ConfigErrors};

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
