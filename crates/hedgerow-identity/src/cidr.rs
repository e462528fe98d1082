//! Address ranges as network managers write them: `10.20.0.0/16`, `2001:db8::/48`, or a single
//! address.
//!
//! A range written with host bits set (`10.20.1.7/16`) is refused rather than silently widened:
//! it is almost always a typing mistake, and guessing could put a pupil laptop in a staff range.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and how many leading bits of it are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

/// Why text is not a usable address or network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error(
        "{0:?} is not an IP address; write an address such as 10.20.0.5 or a network such as 10.20.0.0/24"
    )]
    BadAddress(String),
    #[error(
        "{text:?} has prefix length {prefix}, but an {family} network has at most {max} bits; write e.g. 10.20.0.0/24"
    )]
    BadPrefix {
        text: String,
        prefix: String,
        family: &'static str,
        max: u8,
    },
    #[error("{text:?} has bits set after the first {prefix_len}; did you mean {suggestion}?")]
    HostBitsSet {
        text: String,
        prefix_len: u8,
        suggestion: String,
    },
}

impl Cidr {
    /// A network from an address and prefix length, refusing host bits set past the prefix.
    pub fn new(network: IpAddr, prefix_len: u8) -> Result<Self, CidrError> {
        let (family, max) = family_of(&network);
        if prefix_len > max {
            return Err(CidrError::BadPrefix {
                text: format!("{network}/{prefix_len}"),
                prefix: prefix_len.to_string(),
                family,
                max,
            });
        }
        let cidr = Cidr {
            network,
            prefix_len,
        };
        let masked = cidr.masked_network();
        if masked != network {
            return Err(CidrError::HostBitsSet {
                text: format!("{network}/{prefix_len}"),
                prefix_len,
                suggestion: format!("{masked}/{prefix_len}"),
            });
        }
        Ok(cidr)
    }

    /// A network holding exactly one address.
    pub fn host(address: IpAddr) -> Self {
        let address = address.to_canonical();
        let (_, max) = family_of(&address);
        Cidr {
            network: address,
            prefix_len: max,
        }
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True when the address lies inside this network. IPv4-mapped IPv6 client addresses
    /// (`::ffff:10.0.0.1`, as dual-stack sockets report them) count as their IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                u32::from(addr) & mask_u32(self.prefix_len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                u128::from(addr) & mask_u128(self.prefix_len) == u128::from(net)
            }
            _ => false,
        }
    }

    fn masked_network(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask_u32(self.prefix_len)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask_u128(self.prefix_len)).into()),
        }
    }
}

fn family_of(address: &IpAddr) -> (&'static str, u8) {
    match address {
        IpAddr::V4(_) => ("IPv4", 32),
        IpAddr::V6(_) => ("IPv6", 128),
    }
}

pub(crate) fn mask_u32(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0)
}

pub(crate) fn mask_u128(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len.min(128)))
        .unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let (address_text, prefix_text) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let address: IpAddr = address_text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| CidrError::BadAddress(trimmed.to_string()))?;
        let Some(prefix_text) = prefix_text else {
            return Ok(Cidr::host(address));
        };
        let (family, max) = family_of(&address);
        let prefix_len = prefix_text
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| CidrError::BadPrefix {
                text: trimmed.to_string(),
                prefix: prefix_text.to_string(),
                family,
                max,
            })?;
        Cidr::new(address, prefix_len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, max) = family_of(&self.network);
        if self.prefix_len == max {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix_len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_single_addresses() {
        assert_eq!(cidr("10.20.0.0/16").prefix_len(), 16);
        assert_eq!(cidr("10.20.0.5").prefix_len(), 32);
        assert_eq!(cidr("2001:db8::/48").prefix_len(), 48);
        assert_eq!(cidr("[2001:db8::1]").prefix_len(), 128);
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("10.20.0.5").to_string(), "10.20.0.5");
    }

    #[test]
    fn containment_respects_the_prefix() {
        let net = cidr("10.20.0.0/16");
        assert!(net.contains("10.20.255.1".parse().unwrap()));
        assert!(!net.contains("10.21.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.20.3.4".parse().unwrap()));
        assert!(!net.contains("2001:db8::1".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
        assert!(cidr("2001:db8::/32").contains("2001:db8:ffff::1".parse().unwrap()));
    }

    #[test]
    fn mistakes_are_explained() {
        let err = "10.20.1.7/16".parse::<Cidr>().unwrap_err();
        assert!(
            err.to_string().contains("did you mean 10.20.0.0/16"),
            "{err}"
        );
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::BadPrefix { .. })
        ));
        assert!(matches!(
            "10.0.0.0/x".parse::<Cidr>(),
            Err(CidrError::BadPrefix { .. })
        ));
        assert!(matches!(
            "laptop".parse::<Cidr>(),
            Err(CidrError::BadAddress(_))
        ));
    }
}
