//! The `[portal]` table: where the access portal is, for clients held until they accept their
//! acceptable use agreement, and each school's `[school.agreements]` hold list.
//!
//! The DNS filter answers a held client's lookups with the portal's addresses, and the proxy
//! sends held requests to the portal's URL, so both must be addresses clients can reach. They
//! default to the `portal` listener's, which is only possible when it listens on one address.

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

use crate::error::Report;
use crate::raw::Sp;

/// The `[portal]` table, with defaults from the `portal` listener filled in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortalSettings {
    /// The IPv4 address DNS gives held clients (A): as written, else the `portal` listener's
    /// address when it listens on one IPv4 address.
    pub address: Option<Ipv4Addr>,
    /// The IPv6 address DNS gives held clients (AAAA); without one they get no AAAA records.
    pub address_v6: Option<Ipv6Addr>,
    /// The portal's public URL, always ending in `/`: as written, else
    /// `http://<address>[:<port>]/` from the listener.
    pub url: Option<String>,
    /// Which values were not written but taken from `listeners.portal`, so a listener given
    /// on the command line replaces them too.
    pub defaults_from_listener: bool,
    written_address: bool,
    written_address_v6: bool,
    written_url: bool,
}

impl PortalSettings {
    /// These settings as they are when the portal listens on `listener` (the command line's
    /// `--portal-listen`): unwritten values are taken from it.
    pub fn for_listener(&self, listener: SocketAddr) -> PortalSettings {
        let mut settings = self.clone();
        if !settings.written_address {
            settings.address = None;
        }
        if !settings.written_address_v6 {
            settings.address_v6 = None;
        }
        if !settings.written_url {
            settings.url = None;
        }
        fill_from_listener(&mut settings, Some(listener));
        settings
    }

    /// The portal's host name or address (lower case, no port, IPv6 without brackets), from
    /// its URL: requests for this host are never held.
    pub fn host(&self) -> Option<String> {
        let url = self.url.as_deref()?;
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    }

    /// The port of the portal's URL (80 or 443 when it names none).
    pub fn port(&self) -> Option<u16> {
        let url = self.url.as_deref()?;
        let (rest, default) = match url.strip_prefix("https://") {
            Some(rest) => (rest, 443),
            None => (url.strip_prefix("http://")?, 80),
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        let after_host = match authority.strip_prefix('[') {
            Some(v6) => v6.split_once(']').map_or("", |(_, after)| after),
            None => authority.rsplit_once(':').map_or("", |(_, port)| port),
        };
        match after_host.trim_start_matches(':') {
            "" => Some(default),
            port => port.parse().ok(),
        }
    }

    /// Whether `host` (a request's host, any case, no port) is the portal's own.
    pub fn is_portal_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        self.host()
            .is_some_and(|own| own.eq_ignore_ascii_case(host))
            || host
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.is_portal_address(ip))
    }

    /// Whether `ip` is one of the portal's addresses.
    pub fn is_portal_address(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.address == Some(v4),
            IpAddr::V6(v6) => self.address_v6 == Some(v6),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPortal {
    pub address: Option<Sp<String>>,
    pub address_v6: Option<Sp<String>>,
    pub url: Option<Sp<String>>,
}

/// `[school.agreements]`: which filtering groups are held at the portal until they accept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchoolAgreements {
    #[serde(default)]
    pub hold: Vec<Sp<String>>,
}

pub(crate) fn portal_settings(
    report: &mut Report,
    raw: Option<&Sp<RawPortal>>,
    raw_listeners: &BTreeMap<String, Sp<String>>,
    listeners: &BTreeMap<String, SocketAddr>,
) -> PortalSettings {
    let mut settings = PortalSettings::default();
    if let Some(raw) = raw {
        let table = raw.get_ref();
        if let Some(value) = &table.address {
            match value.get_ref().trim().parse::<IpAddr>() {
                Ok(IpAddr::V4(v4)) if !v4.is_unspecified() => {
                    settings.address = Some(v4);
                    settings.written_address = true;
                }
                Ok(IpAddr::V4(_)) => report.add(
                    "portal.address",
                    value.span(),
                    "0.0.0.0 is not an address clients can reach; give the portal's own IPv4 address",
                ),
                Ok(IpAddr::V6(_)) => report.add(
                    "portal.address",
                    value.span(),
                    "must be an IPv4 address; put the IPv6 one in address_v6",
                ),
                Err(_) => report.add(
                    "portal.address",
                    value.span(),
                    format!(
                        "{:?} is not an IPv4 address; write e.g. \"10.20.0.5\"",
                        value.get_ref()
                    ),
                ),
            }
        }
        if let Some(value) = &table.address_v6 {
            match value.get_ref().trim().parse::<IpAddr>() {
                Ok(IpAddr::V6(v6)) if !v6.is_unspecified() => {
                    settings.address_v6 = Some(v6);
                    settings.written_address_v6 = true;
                }
                _ => report.add(
                    "portal.address_v6",
                    value.span(),
                    format!(
                        "{:?} is not an IPv6 address clients can reach; write e.g. \"2001:db8::5\", or leave it out",
                        value.get_ref()
                    ),
                ),
            }
        }
        if let Some(value) = &table.url {
            match normalise_url(value.get_ref()) {
                Ok(url) => {
                    settings.url = Some(url);
                    settings.written_url = true;
                }
                Err(message) => report.add("portal.url", value.span(), message),
            }
        }
    }
    let listener = listeners.get("portal").copied();
    if let Some(listener) = listener
        && listener.ip().is_unspecified()
        && !settings.written_address
        && !settings.written_address_v6
    {
        let span = raw_listeners.get("portal").map_or(0..0, |v| v.span());
        report.add(
            "listeners.portal",
            span,
            format!(
                "the portal listens on every address ({}), which cannot be given to held clients; set address under [portal] to the address clients reach it on, e.g. \"10.20.0.5\"",
                listener.ip()
            ),
        );
    }
    fill_from_listener(&mut settings, listener);
    settings
}

/// Fills what was not written from the listener (a specific address only).
fn fill_from_listener(settings: &mut PortalSettings, listener: Option<SocketAddr>) {
    let Some(listener) = listener else {
        return;
    };
    let mut used = false;
    match listener.ip().to_canonical() {
        IpAddr::V4(v4) if !v4.is_unspecified() && !settings.written_address => {
            settings.address = Some(v4);
            used = true;
        }
        IpAddr::V6(v6) if !v6.is_unspecified() && !settings.written_address_v6 => {
            settings.address_v6 = Some(v6);
            used = true;
        }
        _ => {}
    }
    if !settings.written_url {
        let port = match listener.port() {
            80 => String::new(),
            port => format!(":{port}"),
        };
        settings.url = match (settings.address, settings.address_v6) {
            (Some(v4), _) => Some(format!("http://{v4}{port}/")),
            (None, Some(v6)) => Some(format!("http://[{v6}]{port}/")),
            (None, None) => None,
        };
        used |= settings.url.is_some();
    }
    settings.defaults_from_listener |= used;
}

/// An `http://` or `https://` URL of a host (and port) only, ending in `/`.
fn normalise_url(text: &str) -> Result<String, String> {
    const EXAMPLE: &str = "write e.g. \"http://portal.school.example/\"";
    let text = text.trim();
    let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
        ("http://", rest)
    } else if let Some(rest) = text.strip_prefix("https://") {
        ("https://", rest)
    } else {
        return Err(format!(
            "{text:?} is not a web address starting http:// or https://; {EXAMPLE}"
        ));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@'])
        || authority.contains(char::is_whitespace)
    {
        return Err(format!(
            "{text:?} must be the portal's address alone, with no path (it is served at the root); {EXAMPLE}"
        ));
    }
    Ok(format!("{scheme}{}/", authority.to_ascii_lowercase()))
}

/// The groups a school holds at the portal: each must be one of its groups.
pub(crate) fn agreement_hold(
    report: &mut Report,
    path: &str,
    raw: Option<&Sp<RawSchoolAgreements>>,
    groups: &HashSet<&str>,
) -> Vec<String> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    let mut hold: Vec<String> = Vec::new();
    for (at, key) in raw.get_ref().hold.iter().enumerate() {
        let text = key.get_ref().trim();
        if !groups.contains(text) {
            let mut known: Vec<&str> = groups.iter().copied().collect();
            known.sort_unstable();
            report.add(
                format!("{path}.agreements.hold[{at}]"),
                key.span(),
                format!(
                    "there is no group {text:?} to hold at the portal; use group keys defined under [school.groups]: {}",
                    known.join(", ")
                ),
            );
        } else if !hold.iter().any(|h| h == text) {
            hold.push(text.to_string());
        }
    }
    hold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_paths_refused() {
        assert_eq!(
            normalise_url("http://Portal.School.Example").unwrap(),
            "http://portal.school.example/"
        );
        assert_eq!(
            normalise_url("https://10.0.0.5:8443/").unwrap(),
            "https://10.0.0.5:8443/"
        );
        assert!(normalise_url("http://portal.example/welcome").is_err());
        assert!(normalise_url("http://").is_err());
        assert!(normalise_url("portal.example").is_err());
    }

    #[test]
    fn the_host_comes_from_the_url() {
        let mut settings = PortalSettings {
            url: Some("http://portal.school.example:8080/".into()),
            address: Some(Ipv4Addr::new(10, 0, 0, 5)),
            ..PortalSettings::default()
        };
        assert_eq!(settings.host().as_deref(), Some("portal.school.example"));
        assert!(settings.is_portal_host("PORTAL.school.example."));
        assert!(settings.is_portal_host("10.0.0.5"));
        assert!(!settings.is_portal_host("portal.school.example.evil"));
        settings.url = Some("http://[2001:db8::5]:81/".into());
        assert_eq!(settings.host().as_deref(), Some("2001:db8::5"));
        assert!(settings.is_portal_host("[2001:db8::5]"));
        for (url, port) in [
            ("http://portal.school.example/", 80),
            ("https://portal.school.example/", 443),
            ("http://10.0.0.5:8081/", 8081),
            ("http://[2001:db8::5]:8081/", 8081),
            ("http://[2001:db8::5]/", 80),
        ] {
            let with_url = PortalSettings {
                url: Some(url.into()),
                ..settings.clone()
            };
            assert_eq!(with_url.port(), Some(port), "{url}");
        }
    }

    #[test]
    fn a_listener_fills_what_was_not_written() {
        let settings = PortalSettings::default();
        let filled = settings.for_listener("10.1.2.3:80".parse().unwrap());
        assert_eq!(filled.address, Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(filled.url.as_deref(), Some("http://10.1.2.3/"));
        let filled = settings.for_listener("127.0.0.1:8081".parse().unwrap());
        assert_eq!(filled.url.as_deref(), Some("http://127.0.0.1:8081/"));
        let written = PortalSettings {
            address: Some(Ipv4Addr::new(10, 9, 9, 9)),
            written_address: true,
            ..PortalSettings::default()
        };
        let filled = written.for_listener("0.0.0.0:8081".parse().unwrap());
        assert_eq!(filled.address, Some(Ipv4Addr::new(10, 9, 9, 9)));
        assert_eq!(filled.url.as_deref(), Some("http://10.9.9.9:8081/"));
    }
}
