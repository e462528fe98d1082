//! The configuration file exactly as written, before any meaning is checked.
//!
//! Every table refuses unknown keys, so a misspelt key is an error rather than a setting that
//! silently does nothing. Values whose meaning needs checking keep their position in the file
//! (`Spanned`) so that errors can point at them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type Sp<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub data_dir: Sp<String>,
    #[serde(default)]
    pub upstreams: Vec<Sp<String>>,
    pub lists: Sp<RawLists>,
    #[serde(default)]
    pub listeners: BTreeMap<String, Sp<String>>,
    pub database: Option<Sp<RawDatabase>>,
    pub dns: Option<Sp<RawDns>>,
    pub proxy: Option<Sp<RawProxy>>,
    pub admin: Option<Sp<RawAdmin>>,
    pub monitoring: Option<Sp<crate::monitoring::RawMonitoring>>,
    pub retention: Option<Sp<crate::retention::RawRetention>>,
    pub portal: Option<Sp<crate::portal::RawPortal>>,
    #[serde(default)]
    pub school: Vec<Sp<RawSchool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLists {
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub illegal: Vec<String>,
    pub taxonomy: Option<String>,
    pub index: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub block_response: Option<RawBlockResponse>,
    pub block_page_address: Option<Sp<String>>,
    pub block_page_address_v6: Option<Sp<String>>,
    pub rate_limit_qps: Option<u32>,
    pub workers: Option<usize>,
    pub cache_mb: Option<usize>,
}

/// The `[proxy]` table: the web proxy's settings. Every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProxy {
    /// What clients use to reach the proxy (PAC file, block-page links): "host[:port]".
    pub public_address: Option<Sp<String>>,
    /// A parent proxy every request is passed to: "host:port".
    pub parent: Option<Sp<String>>,
    /// A static host map in /etc/hosts format, consulted before the system resolver.
    pub hosts_file: Option<Sp<String>>,
    /// Extra PEM files of roots trusted when verifying origins.
    #[serde(default)]
    pub trust_roots: Vec<Sp<String>>,
    /// Host names (and their subdomains) never inspected.
    #[serde(default)]
    pub no_inspect: Vec<Sp<String>>,
    /// Categories never inspected; by default `["banking"]`.
    pub no_inspect_categories: Option<Vec<Sp<String>>>,
    /// Ports CONNECT may reach; by default 443 only.
    pub connect_ports: Option<Sp<Vec<Sp<u16>>>>,
    pub failed_logins: Option<Sp<u32>>,
    pub lockout_seconds: Option<Sp<u64>>,
    pub sign_in_minutes: Option<Sp<u64>>,
    pub max_header_bytes: Option<Sp<usize>>,
    pub idle_timeout_seconds: Option<Sp<u64>>,
}

/// The `[admin]` table: how the admin app is served. Every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    /// "off" (plain HTTP, loopback only), "school-ca" or "files".
    pub tls: Option<Sp<RawAdminTls>>,
    /// With "files": the PEM certificate chain and private key.
    pub cert: Option<Sp<String>>,
    pub key: Option<Sp<String>>,
    /// With "school-ca": host names (or addresses) the certificate names beside the listener's.
    #[serde(default)]
    pub names: Vec<Sp<String>>,
    /// A reverse proxy in front serves HTTPS; the app speaks plain HTTP to it.
    pub behind_tls_proxy: Option<Sp<bool>>,
    /// The reverse proxy's address, whose `X-Forwarded-For` is believed.
    pub trusted_proxy: Option<Sp<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawAdminTls {
    Off,
    SchoolCa,
    Files,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawBlockResponse {
    BlockPage,
    Null,
    Nxdomain,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    pub url: Option<Sp<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchool {
    pub slug: Sp<String>,
    pub name: String,
    pub timezone: Option<Sp<String>>,
    pub unknown_group: Option<Sp<String>>,
    #[serde(default)]
    pub terms: Vec<Sp<RawTerm>>,
    #[serde(default)]
    pub closures: Vec<Sp<RawClosure>>,
    #[serde(default)]
    pub schedules: BTreeMap<String, Sp<RawSchedule>>,
    #[serde(default)]
    pub groups: BTreeMap<String, Sp<RawGroup>>,
    #[serde(default)]
    pub devices: Vec<Sp<RawDevice>>,
    #[serde(default)]
    pub users: Vec<Sp<RawUser>>,
    #[serde(default)]
    pub overrides: Vec<Sp<RawOverride>>,
    #[serde(default)]
    pub sanctions: Vec<Sp<RawSanction>>,
    /// Replaces the built-in list of search engines that cannot be locked to safe search.
    pub unsafe_search_engines: Option<Vec<Sp<String>>>,
    /// Who to speak to about online safety, by name (shown on block pages).
    pub online_safety_lead: Option<Sp<String>>,
    /// How to reach them: an email address, a room.
    pub online_safety_contact: Option<Sp<String>>,
    /// Who hears about safeguarding alerts, and each group's age band.
    pub monitoring: Option<Sp<crate::monitoring::RawSchoolMonitoring>>,
    /// Which groups are held at the access portal until they accept their agreement.
    pub agreements: Option<Sp<crate::portal::RawSchoolAgreements>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTerm {
    pub name: String,
    pub start: Sp<toml::Value>,
    pub end: Sp<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClosure {
    pub date: Option<Sp<toml::Value>>,
    pub start: Option<Sp<toml::Value>>,
    pub end: Option<Sp<toml::Value>>,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    #[serde(default)]
    pub days: Vec<Sp<String>>,
    #[serde(default)]
    pub school_days: bool,
    #[serde(default)]
    pub times: Vec<Sp<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawGroupKind {
    Pupil,
    Staff,
    Visitor,
    Unidentified,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    pub name: Option<String>,
    pub kind: RawGroupKind,
    pub default: Sp<toml::Value>,
    #[serde(default)]
    pub actions: BTreeMap<String, Sp<toml::Value>>,
    /// Google, Bing and DuckDuckGo locked to safe search (default by kind).
    pub safe_search: Option<bool>,
    /// YouTube Restricted Mode (default by kind).
    pub youtube: Option<RawYoutube>,
    /// Block search engines that cannot be locked to safe search (default by kind).
    pub block_unsafe_search_engines: Option<bool>,
    /// Which HTTPS sites the proxy inspects: "all", or a list of category keys (default none).
    pub inspect: Option<Sp<toml::Value>>,
    /// Kinds of download refused (default by kind).
    pub blocked_file_types: Option<Vec<Sp<String>>>,
    /// The largest download allowed, in MB.
    pub download_limit_mb: Option<Sp<u64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawYoutube {
    Off,
    Moderate,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawUserKind {
    Pupil,
    Staff,
    Visitor,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDevice {
    pub name: Sp<String>,
    pub kind: String,
    pub group: Option<Sp<String>>,
    pub addresses: Vec<Sp<String>>,
    #[serde(default)]
    pub requires_login: bool,
    /// The user a 1:1 device is assigned to.
    pub owner: Option<Sp<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    pub username: Sp<String>,
    pub name: String,
    pub kind: RawUserKind,
    pub group: Sp<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawVerdict {
    Allow,
    Block,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverride {
    pub id: Sp<String>,
    pub site: Sp<String>,
    pub action: RawVerdict,
    pub groups: Option<Vec<Sp<String>>>,
    pub until: Option<Sp<toml::Value>>,
    pub by: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSanction {
    pub id: Sp<String>,
    pub user: Sp<String>,
    #[serde(default)]
    pub no_internet: bool,
    pub filter_as: Option<Sp<String>>,
    pub until: Sp<toml::Value>,
    pub by: String,
    pub reason: String,
}
