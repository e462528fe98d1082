//! The client side: talking to origin servers, and saying why one could not be trusted.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use crate::TlsError;
use crate::ca::read_small;
use crate::time::format_date;

/// A client configuration for connections to origin servers: Mozilla's web PKI roots (from
/// `webpki-roots`) plus every certificate in the PEM files `extra_roots` (a school's own
/// internal CA, say), ALPN `http/1.1`, SNI on, TLS 1.2 and 1.3 on the ring provider.
///
/// Certificates are always verified: a failure ends the handshake with an error (see
/// [`describe_origin_error`]); there is no way to turn verification off.
pub fn origin_client_config(extra_roots: &[PathBuf]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in extra_roots {
        add_roots(&mut roots, path)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            what: "choosing protocol versions",
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.enable_sni = true;
    Ok(Arc::new(config))
}

fn add_roots(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    let bad = |reason: String| TlsError::BadRoots {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = read_small(path)?;
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| bad(format!("its PEM cannot be read: {e}")))?;
        roots.add(cert).map_err(|e| {
            bad(format!(
                "certificate {} in it cannot be a root: {e}",
                added + 1
            ))
        })?;
        added += 1;
    }
    if added == 0 {
        return Err(bad("it holds no PEM certificate".into()));
    }
    Ok(())
}

/// Why an origin's certificate was refused, in the broad kinds a block page or a metric needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OriginCertificateProblem {
    Expired,
    NotYetValid,
    WrongName,
    UnknownIssuer,
    Revoked,
    /// Any other refusal of the certificate (bad signature, wrong purpose, damaged...).
    Other,
}

impl OriginCertificateProblem {
    /// A short stable name, for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongName => "wrong_name",
            Self::UnknownIssuer => "unknown_issuer",
            Self::Revoked => "revoked",
            Self::Other => "other",
        }
    }
}

/// The rustls error inside an I/O error from tokio-rustls, if there is one.
pub fn rustls_error(err: &io::Error) -> Option<&rustls::Error> {
    let mut next = err
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(inner) = next {
        if let Some(found) = inner.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        next = inner.source();
    }
    None
}

/// What was wrong with the origin's certificate, when the error is a refused certificate.
pub fn origin_certificate_problem(err: &io::Error) -> Option<OriginCertificateProblem> {
    match rustls_error(err)? {
        rustls::Error::InvalidCertificate(problem) => Some(classify(problem)),
        _ => None,
    }
}

fn classify(problem: &CertificateError) -> OriginCertificateProblem {
    use OriginCertificateProblem as P;
    match problem {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => P::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            P::NotYetValid
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            P::WrongName
        }
        CertificateError::UnknownIssuer => P::UnknownIssuer,
        CertificateError::Revoked => P::Revoked,
        _ => P::Other,
    }
}

/// One plain sentence or two saying why a connection to an origin failed, for a block page:
/// expired, not yet valid, for another name, from an unknown issuer, revoked, or otherwise.
/// Takes the `io::Error` that tokio-rustls returns from a handshake (which carries the rustls
/// error inside) or any other I/O error from reaching the site.
pub fn describe_origin_error(err: &io::Error) -> String {
    let Some(error) = rustls_error(err) else {
        return format!("The site could not be reached ({err}).");
    };
    let rustls::Error::InvalidCertificate(problem) = error else {
        return format!("The secure connection to the site failed ({error}).");
    };
    match problem {
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "The site's security certificate expired on {}, so there is no way to be sure this is the real site. The site's owners need to renew it.",
            format_date(unix(not_after))
        ),
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "The site's security certificate is not valid until {}, so it cannot be trusted yet. The site's certificate or a clock may be set wrongly.",
            format_date(unix(not_before))
        ),
        CertificateError::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
            format!(
                "The site's security certificate is for a different name ({}), so this may not be the site you asked for.",
                presented.join(", ")
            )
        }
        other => match classify(other) {
            OriginCertificateProblem::Expired => "The site's security certificate has expired, so there is no way to be sure this is the real site. The site's owners need to renew it.".into(),
            OriginCertificateProblem::NotYetValid => "The site's security certificate is not valid yet, so it cannot be trusted. The site's certificate or a clock may be set wrongly.".into(),
            OriginCertificateProblem::WrongName => "The site's security certificate is for a different name, so this may not be the site you asked for.".into(),
            OriginCertificateProblem::UnknownIssuer => "The site's security certificate comes from an unknown issuer that this school does not trust, so there is no way to be sure this is the real site. If it is one of the school's own systems, the network manager can add its certificate authority to Hedgerow's trusted roots.".into(),
            OriginCertificateProblem::Revoked => "The site's security certificate has been revoked by the authority that issued it, so it must not be trusted.".into(),
            OriginCertificateProblem::Other => format!("The site's security certificate could not be checked ({error})."),
        },
    }
}

fn unix(time: &rustls::pki_types::UnixTime) -> i64 {
    i64::try_from(time.as_secs()).unwrap_or(i64::MAX)
}
