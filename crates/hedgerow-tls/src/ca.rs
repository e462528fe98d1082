//! The school CA: made once, kept in the data directory, loaded at start-up.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::TlsError;
use crate::time::{days_from_now, format_date, random_serial, unix_now};

/// The folder under the data directory that holds the school CA.
pub const CA_DIR: &str = "ca";
/// The private key, PEM (PKCS #8), mode 0600.
pub const CA_KEY_FILE: &str = "school-ca.key";
/// The certificate as PEM: for macOS, ChromeOS, iPadOS, Linux and MDM profiles.
pub const CA_CERT_PEM_FILE: &str = "school-ca.pem";
/// The certificate as DER: for Windows (Group Policy, certmgr) and some MDM tools.
pub const CA_CERT_DER_FILE: &str = "school-ca.der";

/// How long a new school CA is valid, in days (about ten years).
pub const CA_VALIDITY_DAYS: i64 = 3650;

/// No file the CA reads is anywhere near this big; a bigger one is refused unread.
const MAX_FILE: u64 = 1024 * 1024;

/// Where the school CA's files live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaFiles {
    /// `ca/school-ca.key`: the private key, readable by its owner only.
    pub key: PathBuf,
    /// `ca/school-ca.pem`: the certificate, PEM.
    pub cert_pem: PathBuf,
    /// `ca/school-ca.der`: the same certificate, DER.
    pub cert_der: PathBuf,
}

/// The paths of the school CA's files under `data_dir`, whether or not they exist.
pub fn ca_files(data_dir: &Path) -> CaFiles {
    let dir = data_dir.join(CA_DIR);
    CaFiles {
        key: dir.join(CA_KEY_FILE),
        cert_pem: dir.join(CA_CERT_PEM_FILE),
        cert_der: dir.join(CA_CERT_DER_FILE),
    }
}

/// The school's inspection CA: its key pair and its certificate.
pub struct SchoolCa {
    pub(crate) issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    common_name: String,
    not_after: i64,
}

impl fmt::Debug for SchoolCa {
    /// Never shows the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchoolCa")
            .field("common_name", &self.common_name)
            .field("expires", &self.expires())
            .field("fingerprint_sha256", &self.fingerprint_sha256())
            .finish_non_exhaustive()
    }
}

impl SchoolCa {
    /// Makes a new school CA under `data_dir/ca`: an ECDSA P-256 key and a self-signed
    /// certificate valid for ten years, named "<school name> Hedgerow inspection CA", with
    /// basicConstraints CA:true, pathlen 0 and key usages keyCertSign and cRLSign.
    ///
    /// Refuses to replace an existing key unless `force`. The key is written with mode 0600
    /// through a temporary file (fsync, then link or rename), so a crash never leaves half a
    /// key; the certificate is written as PEM and DER the same way.
    pub fn init(data_dir: &Path, school_name: &str, force: bool) -> Result<CaFiles, TlsError> {
        let files = ca_files(data_dir);
        let dir = data_dir.join(CA_DIR);
        if !force && files.key.symlink_metadata().is_ok() {
            return Err(TlsError::CaExists {
                key: files.key.clone(),
            });
        }
        create_private_dir(&dir)?;

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| {
            TlsError::Generate {
                what: "the school CA key".into(),
                source,
            }
        })?;
        let params = ca_params(school_name)?;
        let cert = params
            .self_signed(&key)
            .map_err(|source| TlsError::Generate {
                what: "the school CA certificate".into(),
                source,
            })?;

        // The key first, so that a lost race or a crash never leaves a certificate for a key
        // that was never kept.
        write_atomic(&files.key, key.serialize_pem().as_bytes(), 0o600, !force)?;
        write_atomic(&files.cert_pem, cert.pem().as_bytes(), 0o644, false)?;
        write_atomic(&files.cert_der, cert.der(), 0o644, false)?;
        sync_dir(&dir)?;
        Ok(files)
    }

    /// Loads the school CA from `data_dir/ca`, checking that the key is private to its owner,
    /// that the certificate is a CA certificate still in date, and that the two belong
    /// together.
    pub fn load(data_dir: &Path) -> Result<SchoolCa, TlsError> {
        let files = ca_files(data_dir);
        let key_text = match read_small(&files.key) {
            Ok(text) => text,
            Err(TlsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(TlsError::NoCa {
                    dir: data_dir.join(CA_DIR),
                });
            }
            Err(other) => return Err(other),
        };
        check_private(&files.key)?;
        let key_text = String::from_utf8(key_text).map_err(|_| TlsError::BadKey {
            path: files.key.clone(),
            reason: "the file is not PEM text".into(),
        })?;
        if !key_text.contains("-----BEGIN PRIVATE KEY-----") {
            return Err(TlsError::BadKey {
                path: files.key.clone(),
                reason: "it holds no PEM \"PRIVATE KEY\" block".into(),
            });
        }
        let key = KeyPair::from_pem(&key_text).map_err(|error| TlsError::BadKey {
            path: files.key.clone(),
            reason: format!("its PKCS #8 private key cannot be read: {error}"),
        })?;

        let bad_cert = |reason: String| TlsError::BadCertificate {
            path: files.cert_pem.clone(),
            reason,
        };
        let cert_text = match read_small(&files.cert_pem) {
            Ok(text) => text,
            Err(TlsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(bad_cert("the file is missing".into()));
            }
            Err(other) => return Err(other),
        };
        let cert_der = CertificateDer::from_pem_slice(&cert_text)
            .map_err(|error| bad_cert(format!("expected a PEM certificate: {error}")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|error| bad_cert(format!("it cannot be parsed: {error}")))?;
        if !parsed.is_ca() {
            return Err(bad_cert("it is not a CA certificate".into()));
        }
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(TlsError::KeyMismatch {
                key: files.key.clone(),
                cert: files.cert_pem.clone(),
            });
        }
        let not_after = parsed.validity().not_after.timestamp();
        if not_after <= unix_now() {
            return Err(TlsError::CaExpired {
                path: files.cert_pem.clone(),
                date: format_date(not_after),
            });
        }
        let common_name = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or("")
            .to_owned();
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|error| bad_cert(format!("its names cannot be read: {error}")))?;
        let cert_der = cert_der.into_owned();
        Ok(SchoolCa {
            issuer,
            cert_der,
            common_name,
            not_after,
        })
    }

    /// The certificate as PEM, to hand to devices.
    pub fn certificate_pem(&self) -> String {
        let mut text = String::from("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.cert_der);
        for line in encoded.as_bytes().chunks(64) {
            // Base64 output is ASCII.
            text.push_str(std::str::from_utf8(line).unwrap_or_default());
            text.push('\n');
        }
        text.push_str("-----END CERTIFICATE-----\n");
        text
    }

    /// The certificate as DER.
    pub fn certificate_der(&self) -> Vec<u8> {
        self.cert_der.to_vec()
    }

    /// The certificate as rustls holds it.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The SHA-256 fingerprint of the certificate, as upper-case hex pairs joined by colons:
    /// the form Keychain Access, certmgr and the Google Admin console let people compare.
    pub fn fingerprint_sha256(&self) -> String {
        fingerprint_sha256(&self.cert_der)
    }

    /// The certificate's common name, e.g. "Oakfield Primary Hedgerow inspection CA".
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// The last day the certificate is valid, as `YYYY-MM-DD` (UTC).
    pub fn expires(&self) -> String {
        format_date(self.not_after)
    }

    pub(crate) fn not_after_unix(&self) -> i64 {
        self.not_after
    }
}

/// The SHA-256 fingerprint of a DER certificate as upper-case hex pairs joined by colons.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The CA's certificate parameters. X.509 caps a common name and an organisation name at 64
/// characters, so long school names are shortened.
fn ca_params(school_name: &str) -> Result<CertificateParams, TlsError> {
    let school = school_name.split_whitespace().collect::<Vec<_>>().join(" ");
    let suffix = "Hedgerow inspection CA";
    let common_name = if school.is_empty() {
        suffix.to_owned()
    } else {
        let room = 64 - suffix.len() - 1;
        format!("{} {suffix}", truncate_chars(&school, room))
    };
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    if !school.is_empty() {
        name.push(DnType::OrganizationName, truncate_chars(&school, 64));
    }
    name.push(DnType::OrganizationalUnitName, "Hedgerow web filter");

    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = days_from_now(-1)?;
    params.not_after = days_from_now(CA_VALIDITY_DAYS)?;
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| TlsError::io("create the folder", dir, e))
}

/// Writes `bytes` to a temporary file beside `path` with `mode`, syncs it, then moves it into
/// place: with a hard link when `no_clobber` (which fails if `path` exists, even if another
/// process made it a moment ago), otherwise with a rename.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32, no_clobber: bool) -> Result<(), TlsError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let result = (|| {
        let mut file = options
            .open(&temp)
            .map_err(|e| TlsError::io("create", &temp, e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| TlsError::io("write", &temp, e))?;
        drop(file);
        if no_clobber {
            fs::hard_link(&temp, path).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    TlsError::CaExists {
                        key: path.to_path_buf(),
                    }
                } else {
                    TlsError::io("write", path, e)
                }
            })?;
            fs::remove_file(&temp).map_err(|e| TlsError::io("remove", &temp, e))
        } else {
            fs::rename(&temp, path).map_err(|e| TlsError::io("write", path, e))
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<(), TlsError> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| TlsError::io("sync the folder", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads a file of at most [`MAX_FILE`] bytes.
pub(crate) fn read_small(path: &Path) -> Result<Vec<u8>, TlsError> {
    let file = fs::File::open(path).map_err(|e| TlsError::io("read", path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TlsError::io("read", path, e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(TlsError::io(
            "read",
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the file is far bigger than a key or certificate",
            ),
        ));
    }
    Ok(bytes)
}

/// Refuses a key file that anyone but its owner can read or change.
fn check_private(path: &Path) -> Result<(), TlsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .map_err(|e| TlsError::io("read", path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(TlsError::KeyTooOpen {
                path: path.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_school_names_fit_x509_limits() {
        let params = ca_params(&"Very Long Academy Name ".repeat(10)).unwrap();
        for (_, value) in params.distinguished_name.iter() {
            if let rcgen::DnValue::Utf8String(text) = value {
                assert!(text.chars().count() <= 64, "{text}");
            }
        }
    }
}
