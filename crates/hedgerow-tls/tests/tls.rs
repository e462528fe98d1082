//! The school CA on real files, and real TLS handshakes over loopback sockets.

use std::io;
use std::path::Path;
use std::sync::Arc;

use hedgerow_tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use hedgerow_tls::{
    LeafCertificates, OriginCertificateProblem, SchoolCa, ServerName, TlsAcceptor, TlsConnector,
    TlsError, ca_files, describe_origin_error, origin_certificate_problem, origin_client_config,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn new_ca(dir: &Path) -> SchoolCa {
    SchoolCa::init(dir, "Oakfield Primary", false).unwrap();
    SchoolCa::load(dir).unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn init_writes_the_key_privately_and_both_certificate_forms() {
    let dir = tempfile::tempdir().unwrap();
    let files = SchoolCa::init(dir.path(), "Oakfield Primary", false).unwrap();
    assert_eq!(files, ca_files(dir.path()));
    assert!(files.key.starts_with(dir.path().join("ca")));
    #[cfg(unix)]
    assert_eq!(mode(&files.key), 0o600);
    let key = std::fs::read_to_string(&files.key).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));

    let ca = SchoolCa::load(dir.path()).unwrap();
    assert_eq!(
        ca.certificate_pem(),
        std::fs::read_to_string(&files.cert_pem).unwrap()
    );
    assert_eq!(
        ca.certificate_der(),
        std::fs::read(&files.cert_der).unwrap()
    );
    assert_eq!(ca.common_name(), "Oakfield Primary Hedgerow inspection CA");
    let fingerprint = ca.fingerprint_sha256();
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    assert!(fingerprint.split(':').all(|pair| pair.len() == 2));
    // About ten years ahead.
    let year: i32 = ca.expires()[..4].parse().unwrap();
    assert!(year >= 2035, "{}", ca.expires());
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("ca"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // The debug form never shows the key.
    assert!(!format!("{ca:?}").contains("PRIVATE"));
}

#[test]
fn init_refuses_to_replace_a_ca_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let files = SchoolCa::init(dir.path(), "Oakfield", false).unwrap();
    let key_before = std::fs::read(&files.key).unwrap();

    let error = SchoolCa::init(dir.path(), "Oakfield", false).unwrap_err();
    assert!(matches!(error, TlsError::CaExists { .. }), "{error}");
    assert!(error.to_string().contains("--force"), "{error}");
    assert_eq!(std::fs::read(&files.key).unwrap(), key_before);

    SchoolCa::init(dir.path(), "Oakfield", true).unwrap();
    assert_ne!(std::fs::read(&files.key).unwrap(), key_before);
    #[cfg(unix)]
    assert_eq!(mode(&files.key), 0o600);
    SchoolCa::load(dir.path()).unwrap();
}

#[test]
fn load_explains_missing_open_damaged_and_mismatched_files() {
    let dir = tempfile::tempdir().unwrap();
    let error = SchoolCa::load(dir.path()).unwrap_err();
    assert!(matches!(error, TlsError::NoCa { .. }), "{error}");
    assert!(error.to_string().contains("hedgerow ca init"), "{error}");

    let files = SchoolCa::init(dir.path(), "Oakfield", false).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = SchoolCa::load(dir.path()).unwrap_err();
        assert!(
            matches!(error, TlsError::KeyTooOpen { mode: 0o644, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("chmod 600"), "{error}");
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // A certificate from another CA.
    let other = tempfile::tempdir().unwrap();
    let other_files = SchoolCa::init(other.path(), "Elsewhere", false).unwrap();
    let good_pem = std::fs::read(&files.cert_pem).unwrap();
    std::fs::copy(&other_files.cert_pem, &files.cert_pem).unwrap();
    let error = SchoolCa::load(dir.path()).unwrap_err();
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error}");
    std::fs::write(&files.cert_pem, &good_pem).unwrap();

    // Damaged certificates.
    for junk in [
        &b""[..],
        b"not a certificate",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        std::fs::write(&files.cert_pem, junk).unwrap();
        let error = SchoolCa::load(dir.path()).unwrap_err();
        assert!(matches!(error, TlsError::BadCertificate { .. }), "{error}");
    }
    std::fs::remove_file(&files.cert_pem).unwrap();
    let error = SchoolCa::load(dir.path()).unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
    std::fs::write(&files.cert_pem, &good_pem).unwrap();

    // Damaged keys, written as 0600 so only the contents are wrong.
    let good_key = std::fs::read(&files.key).unwrap();
    let mut truncated = good_key.clone();
    truncated.truncate(good_key.len() / 2);
    let mut flipped = good_key.clone();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    for junk in [
        Vec::new(),
        b"garbage".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        truncated,
        flipped,
        good_pem.clone(),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
    ] {
        std::fs::write(&files.key, &junk).unwrap();
        let error = SchoolCa::load(dir.path()).unwrap_err();
        assert!(
            matches!(
                error,
                TlsError::BadKey { .. } | TlsError::KeyMismatch { .. }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("ca init --force"), "{error}");
    }
    std::fs::write(&files.key, &good_key).unwrap();
    SchoolCa::load(dir.path()).unwrap();
}

/// A client that trusts only `root`.
fn client_trusting(root: &[u8]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(root.to_vec().into()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Serves one TLS connection with `config`, echoing one line back. The server's own result is
/// ignored: a client that refuses the certificate makes it fail, which is expected.
async fn serve_once(config: Arc<ServerConfig>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        if let Ok(mut tls) = TlsAcceptor::from(config).accept(stream).await {
            let mut buf = [0u8; 5];
            if tls.read_exact(&mut buf).await.is_ok() {
                let _ = tls.write_all(&buf).await;
                let _ = tls.shutdown().await;
            }
        }
    });
    addr
}

/// Connects to `addr` as `name`, says hello, and returns the echo or the handshake error.
async fn hello(
    config: Arc<ClientConfig>,
    addr: std::net::SocketAddr,
    name: &str,
) -> io::Result<Vec<u8>> {
    let stream = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = TlsConnector::from(config)
        .connect(server_name, stream)
        .await?;
    tls.write_all(b"hello").await?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await?;
    Ok(buf)
}

#[tokio::test]
async fn a_leaf_is_trusted_for_its_own_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path());
    let client = client_trusting(&ca.certificate_der());
    let leaves = LeafCertificates::new(ca, 100).unwrap();

    let config = leaves.server_config("www.example.com").unwrap();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let addr = serve_once(config.clone()).await;
    assert_eq!(
        hello(client.clone(), addr, "www.example.com")
            .await
            .unwrap(),
        b"hello"
    );

    let addr = serve_once(config).await;
    let error = hello(client.clone(), addr, "www.other.example")
        .await
        .unwrap_err();
    assert_eq!(
        origin_certificate_problem(&error),
        Some(OriginCertificateProblem::WrongName),
        "{error}"
    );
    assert!(describe_origin_error(&error).contains("different name"));

    // Addresses get IP address names.
    let addr = serve_once(leaves.server_config("127.0.0.1").unwrap()).await;
    assert_eq!(
        hello(client.clone(), addr, "127.0.0.1").await.unwrap(),
        b"hello"
    );
    let addr = serve_once(leaves.server_config("[::1]").unwrap()).await;
    assert_eq!(hello(client, addr, "::1").await.unwrap(), b"hello");
}

#[tokio::test]
async fn leaves_are_cached_per_host_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let leaves = Arc::new(LeafCertificates::new(new_ca(dir.path()), 16).unwrap());
    let first = leaves.server_config("www.example.com").unwrap();
    assert!(Arc::ptr_eq(
        &first,
        &leaves.server_config("www.example.com").unwrap()
    ));
    assert!(Arc::ptr_eq(
        &first,
        &leaves.server_config("WWW.Example.com.").unwrap()
    ));
    assert_eq!(leaves.minted(), 1);

    // Many tasks at once, over more hosts than the cache holds.
    let mut tasks = Vec::new();
    for task in 0..8 {
        let leaves = leaves.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            for i in 0..40 {
                let host = format!("host{}.example", (i + task) % 40);
                leaves.server_config(&host).unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(leaves.cached() <= 16, "{}", leaves.cached());
    assert!(leaves.minted() >= 40);

    for bad in ["", "*.example.com", "bad host", "a..b"] {
        let error = leaves.server_config(bad).unwrap_err();
        assert!(matches!(error, TlsError::BadHost { .. }), "{error}");
    }
    assert!(matches!(
        LeafCertificates::new(new_ca(tempfile::tempdir().unwrap().path()), 0),
        Err(TlsError::ZeroCapacity)
    ));
}

#[tokio::test]
async fn origin_config_trusts_extra_roots_and_refuses_unknown_issuers() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path());
    let ca_pem = ca_files(dir.path()).cert_pem;
    let leaves = LeafCertificates::new(ca, 10).unwrap();

    let with_root = origin_client_config(std::slice::from_ref(&ca_pem)).unwrap();
    assert_eq!(with_root.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let addr = serve_once(leaves.server_config("intranet.school.example").unwrap()).await;
    assert_eq!(
        hello(with_root.clone(), addr, "intranet.school.example")
            .await
            .unwrap(),
        b"hello"
    );

    // Without the extra root the same server is refused.
    let web_only = origin_client_config(&[]).unwrap();
    let addr = serve_once(leaves.server_config("intranet.school.example").unwrap()).await;
    let error = hello(web_only, addr, "intranet.school.example")
        .await
        .unwrap_err();
    assert_eq!(
        origin_certificate_problem(&error),
        Some(OriginCertificateProblem::UnknownIssuer),
        "{error}"
    );

    // A self-signed certificate nobody vouches for.
    let other = rcgen_self_signed("intranet.school.example");
    let addr = serve_once(other).await;
    let error = hello(with_root, addr, "intranet.school.example")
        .await
        .unwrap_err();
    assert_eq!(
        origin_certificate_problem(&error),
        Some(OriginCertificateProblem::UnknownIssuer),
        "{error}"
    );
    let sentence = describe_origin_error(&error);
    assert!(sentence.contains("unknown issuer"), "{sentence}");

    // Errors that are not about certificates still read as sentences.
    let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
    assert_eq!(origin_certificate_problem(&refused), None);
    assert!(describe_origin_error(&refused).contains("could not be reached"));
    let expired = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
    );
    assert!(describe_origin_error(&expired).contains("expired"));
    let revoked = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked),
    );
    assert!(describe_origin_error(&revoked).contains("revoked"));
}

/// A server config with a fresh self-signed certificate for `name`.
fn rcgen_self_signed(name: &str) -> Arc<ServerConfig> {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap(),
    )
}

#[test]
fn extra_root_files_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "nothing here\n").unwrap();
    let error = origin_client_config(&[empty]).unwrap_err();
    assert!(matches!(error, TlsError::BadRoots { .. }), "{error}");
    let missing = dir.path().join("missing.pem");
    let error = origin_client_config(&[missing]).unwrap_err();
    assert!(matches!(error, TlsError::Io { .. }), "{error}");
}
