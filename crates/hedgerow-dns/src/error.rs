//! Errors from starting the DNS server.

use std::io;
use std::net::SocketAddr;

/// Why the DNS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A listen address could not be bound.
    #[error("cannot listen for DNS over {transport} on {addr}: {source}; {hint}")]
    Bind {
        /// "UDP" or "TCP".
        transport: &'static str,
        /// The address from the configuration.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
        /// What the operator can do about it.
        hint: &'static str,
    },
    /// The configuration cannot work (for example no listen address or no upstream).
    #[error("invalid DNS configuration: {0}")]
    Config(String),
    /// A UDP worker thread could not be started.
    #[error("cannot start DNS worker thread: {0}")]
    Thread(#[source] io::Error),
    /// A UDP worker could not set up polling for its sockets.
    #[error(
        "cannot set up polling for a DNS worker's sockets: {0}; check the open-file limit (ulimit -n)"
    )]
    Poll(#[source] io::Error),
    /// `start` was called outside a tokio runtime.
    #[error("the DNS server must be started from within a tokio runtime")]
    NoRuntime,
}

impl DnsError {
    pub(crate) fn bind(transport: &'static str, addr: SocketAddr, source: io::Error) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::AddrInUse => {
                "another DNS server (systemd-resolved, dnsmasq, unbound or a second Hedgerow) \
                 already uses this port: stop it or choose another listen address"
            }
            io::ErrorKind::PermissionDenied => {
                "ports below 1024 need root or CAP_NET_BIND_SERVICE \
                 (setcap cap_net_bind_service=+ep on the binary), or use a port above 1023"
            }
            io::ErrorKind::AddrNotAvailable => {
                "this machine has no such address: check the listen address in the configuration"
            }
            _ => "check the listen address in the configuration",
        };
        DnsError::Bind {
            transport,
            addr,
            source,
            hint,
        }
    }
}
