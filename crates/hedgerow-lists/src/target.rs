//! What a request asks for: a host, and the path when the asker can see it.
//!
//! DNS and CONNECT see only a host; plain HTTP and inspected HTTPS see the full URL. Everything
//! the engine decides on is first reduced to a [`Target`], so list semantics are the same for
//! every front end.

use crate::name::{Host, NameError, normalize_host};

/// A normalised request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: Host,
    /// Path and query, starting with `/`, when known. Case is kept: paths are case-sensitive.
    pub path: Option<String>,
}

/// Why text could not be read as a URL or host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Host(#[from] NameError),
    #[error("the port {0:?} is not a number between 0 and 65535")]
    BadPort(String),
    #[error("only http and https addresses can be checked, not {0:?}")]
    UnsupportedScheme(String),
}

impl Target {
    /// A target with no path, as DNS and CONNECT see it.
    pub fn host_only(host: Host) -> Self {
        Target { host, path: None }
    }

    /// A target for a request's host and path (with query, starting with `/`), the path put
    /// in the spelling list entries are stored in ([`crate::normalize_path`]).
    pub fn with_path(host: Host, path: &str) -> Self {
        Target {
            host,
            path: Some(crate::path::normalize_path(path).into_owned()),
        }
    }

    /// Reads `http://host[:port]/path?query`, `https://…`, `host[:port]/path` or a bare host.
    ///
    /// User information and fragments are dropped, since neither reaches a server.
    pub fn parse(input: &str) -> Result<Self, TargetError> {
        let input = input.trim();
        let rest = match input.split_once("://") {
            Some((scheme, rest)) => {
                if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                    return Err(TargetError::UnsupportedScheme(scheme.to_string()));
                }
                rest
            }
            None => input,
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => (&rest[..at], Some(&rest[at..])),
            None => (rest, None),
        };
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let host = strip_port(authority)?;
        let path = path.map(|p| {
            let p = if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            };
            crate::path::normalize_path(&p).into_owned()
        });
        Ok(Target {
            host: normalize_host(host)?,
            path,
        })
    }
}

/// Removes a `:port` suffix, leaving bracketed IPv6 literals intact.
fn strip_port(authority: &str) -> Result<&str, TargetError> {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                check_port(&authority[end + 1..])?;
                Ok(&authority[..=end])
            }
            None => Ok(authority),
        };
    }
    // More than one colon and no brackets: a bare IPv6 literal, which has no port.
    if authority.matches(':').count() == 1 {
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        check_port(&format!(":{port}"))?;
        return Ok(host);
    }
    Ok(authority)
}

fn check_port(suffix: &str) -> Result<(), TargetError> {
    match suffix.strip_prefix(':') {
        None if suffix.is_empty() => Ok(()),
        Some(port) if port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(TargetError::BadPort(
            suffix.trim_start_matches(':').to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn t(input: &str) -> Target {
        Target::parse(input).unwrap()
    }

    #[test]
    fn urls_hosts_and_ports() {
        let target = t("HTTP://User@WWW.Example.com:8080/Path/Page?q=Cats#top");
        assert_eq!(target.host, Host::Name("www.example.com".into()));
        assert_eq!(target.path.as_deref(), Some("/Path/Page?q=Cats"));
        assert_eq!(t("example.com").path, None);
        assert_eq!(t("example.com:443").host, Host::Name("example.com".into()));
        assert_eq!(t("example.com?x=1").path.as_deref(), Some("/?x=1"));
        assert_eq!(
            t("http://10.0.0.1/x").host,
            Host::Ipv4(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert!(t("http://[::1]:80/").host.is_address());
    }

    #[test]
    fn bad_targets_are_refused() {
        assert!(matches!(
            Target::parse("ftp://example.com"),
            Err(TargetError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Target::parse("example.com:http"),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            Target::parse("http:///path"),
            Err(TargetError::Host(_))
        ));
    }
}
