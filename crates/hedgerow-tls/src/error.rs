//! What can go wrong, said so that a network manager knows what to do next.

use std::io;
use std::path::PathBuf;

/// Every failure in this crate. Each message says what was wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file or folder could not be read or written.
    #[error("cannot {action} {}: {source}; check that the path exists and that Hedgerow may use it", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// `init` found a key already there and was not told to replace it.
    #[error(
        "a school CA already exists ({} is there); keep it, or run `hedgerow ca init --force` to replace it, after which every device must be given the new certificate",
        key.display()
    )]
    CaExists { key: PathBuf },

    /// `load` found no key.
    #[error(
        "there is no school CA in {}: make one with `hedgerow ca init` and install its certificate on the school's devices",
        dir.display()
    )]
    NoCa { dir: PathBuf },

    /// The key file can be read or changed by users other than its owner.
    #[error(
        "the school CA private key {} can be read or changed by other users (mode {mode:04o}); run `chmod 600 {}` so that only Hedgerow's user can use it",
        path.display(),
        path.display()
    )]
    KeyTooOpen { path: PathBuf, mode: u32 },

    /// The key file is not a private key this crate can use.
    #[error(
        "the school CA private key {} is not usable ({reason}); restore it from a backup, or make a new CA with `hedgerow ca init --force` and install the new certificate on every device",
        path.display()
    )]
    BadKey { path: PathBuf, reason: String },

    /// The certificate file is missing, damaged or not a CA certificate.
    #[error(
        "the school CA certificate {} is not usable ({reason}); restore it from a backup, or make a new CA with `hedgerow ca init --force` and install the new certificate on every device",
        path.display()
    )]
    BadCertificate { path: PathBuf, reason: String },

    /// The certificate was made for another key.
    #[error(
        "the school CA certificate {} does not belong to the private key {}; the files come from two different CAs: restore the matching pair from a backup, or make a new CA with `hedgerow ca init --force`",
        cert.display(),
        key.display()
    )]
    KeyMismatch { key: PathBuf, cert: PathBuf },

    /// The school CA is past its end date.
    #[error(
        "the school CA certificate {} expired on {date}; make a new CA with `hedgerow ca init --force` and install its certificate on every device",
        path.display()
    )]
    CaExpired { path: PathBuf, date: String },

    /// A file of extra trusted roots held no usable certificate.
    #[error(
        "the trusted root file {} is not usable ({reason}); it must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
        path.display()
    )]
    BadRoots { path: PathBuf, reason: String },

    /// A certificate cannot name this host.
    #[error(
        "cannot make a certificate for {host:?}: it is not a host name or IP address a certificate can name"
    )]
    BadHost { host: String },

    /// Making a key or a certificate failed.
    #[error("cannot make {what}: {source}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },

    /// rustls refused a configuration (for example no usable protocol versions).
    #[error("cannot set up TLS ({what}): {source}")]
    Rustls {
        what: &'static str,
        #[source]
        source: rustls::Error,
    },

    /// The capacity given to the leaf cache was zero.
    #[error(
        "the leaf certificate cache must hold at least one certificate; give a capacity of 1 or more"
    )]
    ZeroCapacity,
}

impl TlsError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        TlsError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
