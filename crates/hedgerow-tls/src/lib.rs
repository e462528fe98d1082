//! The school CA and the certificates for selective HTTPS inspection.
//!
//! Hedgerow inspects HTTPS only for the sites a school chooses (search engines, say, so that
//! search terms can be filtered and recorded), never for banking, health or government sites.
//! To read such a connection the proxy ends the client's TLS itself, with a certificate for the
//! site signed by the school's own certificate authority, which the school installs as trusted
//! on its devices, and opens a second TLS connection to the real site. This crate holds
//! everything certificate-shaped in that:
//!
//! - [`SchoolCa`]: the school CA. [`SchoolCa::init`] makes it once (`hedgerow ca init`) under
//!   the data directory: `ca/school-ca.key` (the private key, PEM PKCS #8, mode 0600),
//!   `ca/school-ca.pem` and `ca/school-ca.der` (the certificate to install on devices; see
//!   `docs/https-inspection.md`). [`SchoolCa::load`] reads it back and refuses a key other
//!   users could read, a damaged file, a certificate for another key or an expired CA, each
//!   with a message saying what to do.
//! - [`LeafCertificates`]: mints a leaf certificate per inspected host (one shared ECDSA P-256
//!   key, so minting is one signature), and caches the rustls [`ServerConfig`] presenting it.
//! - [`origin_client_config`]: the rustls [`ClientConfig`] for the connection to the real
//!   site, trusting Mozilla's roots plus any PEM roots the school adds, always verifying.
//! - [`describe_origin_error`]: turns a refused origin certificate into a sentence for the
//!   block page.
//!
//! All cryptography is rustls' and rcgen's on the `ring` provider; nothing here links OpenSSL
//! or aws-lc. The web PKI roots come from the `webpki-roots` crate, whose data is under the
//! CDLA-Permissive-2.0 licence.
//!
//! # Serving an inspected connection
//!
//! ```no_run
//! # async fn run(stream: tokio::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use hedgerow_tls::{LeafCertificates, SchoolCa, ServerName, TlsAcceptor, TlsConnector};
//!
//! let ca = SchoolCa::load("/var/lib/hedgerow".as_ref())?;
//! let leaves = Arc::new(LeafCertificates::new(ca, hedgerow_tls::DEFAULT_LEAF_CACHE)?);
//! let origins = TlsConnector::from(hedgerow_tls::origin_client_config(&[])?);
//!
//! // After answering `CONNECT www.example.com:443` with 200:
//! let client = TlsAcceptor::from(leaves.server_config("www.example.com")?)
//!     .accept(stream)
//!     .await?;
//! let upstream = tokio::net::TcpStream::connect("www.example.com:443").await?;
//! match origins
//!     .connect(ServerName::try_from("www.example.com")?.to_owned(), upstream)
//!     .await
//! {
//!     Ok(_origin) => { /* relay HTTP/1.1 between `client` and `_origin` */ }
//!     Err(error) => {
//!         let _sentence = hedgerow_tls::describe_origin_error(&error); // for the block page
//!     }
//! }
//! # drop(client);
//! # Ok(())
//! # }
//! ```

mod ca;
mod error;
mod leaf;
mod origin;
mod time;

pub use ca::{
    CA_CERT_DER_FILE, CA_CERT_PEM_FILE, CA_DIR, CA_KEY_FILE, CA_VALIDITY_DAYS, CaFiles, SchoolCa,
    ca_files, fingerprint_sha256,
};
pub use error::TlsError;
pub use leaf::{DEFAULT_LEAF_CACHE, LEAF_VALIDITY_DAYS, LeafCertificates};
pub use origin::{
    OriginCertificateProblem, describe_origin_error, origin_certificate_problem,
    origin_client_config, rustls_error,
};

pub use rustls;
pub use rustls::pki_types::{CertificateDer, ServerName};
pub use rustls::{ClientConfig, ServerConfig};
pub use tokio_rustls;
pub use tokio_rustls::{TlsAcceptor, TlsConnector};
