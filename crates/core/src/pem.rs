//! Loading certificates, keys, trust bundles and pins from PEM, with errors that name the file.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use crate::{provider, ConfigError, PinnedCerts};

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, e: pem::Error) -> ConfigError {
    match e {
        pem::Error::Io(source) => ConfigError::Io {
            path: path.to_owned(),
            source,
        },
        other => ConfigError::InvalidPem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// Reads every certificate in a PEM file, checking that each is a parseable X.509 certificate.
///
/// `source` names the data in errors (usually the file's path).
pub fn certs_from_pem(
    pem: &[u8],
    source: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let mut certs = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = item.map_err(|e| pem_error(source, e))?;
        if let Err(e) = webpki::EndEntityCert::try_from(&cert) {
            return Err(ConfigError::InvalidCertificate {
                path: source.to_owned(),
                index: i + 1,
                reason: e.to_string(),
            });
        }
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(ConfigError::NoCertificates {
            path: source.to_owned(),
        });
    }
    Ok(certs)
}

/// Reads a certificate chain (end-entity first) from a PEM file.
///
/// ```no_run
/// let chain = tlswire_core::load_certs("server.crt")?;
/// # Ok::<(), tlswire_core::ConfigError>(())
/// ```
pub fn load_certs(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let path = path.as_ref();
    certs_from_pem(&read(path)?, path)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) from PEM data.
pub fn private_key_from_pem(
    pem: &[u8],
    source: &Path,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => ConfigError::NoPrivateKey {
            path: source.to_owned(),
        },
        other => pem_error(source, other),
    })
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) from a PEM file.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let path = path.as_ref();
    private_key_from_pem(&read(path)?, path)
}

/// Pairs a chain with its key, checking that the key belongs to the end-entity certificate.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, ConfigError> {
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => ConfigError::KeyMismatch {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
        },
        other => ConfigError::UnsupportedKey {
            path: key_path.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// Loads a certificate chain and its private key, checking that they match.
///
/// ```no_run
/// let identity = tlswire_core::load_identity("server.crt", "server.key")?;
/// # Ok::<(), tlswire_core::ConfigError>(())
/// ```
pub fn load_identity(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
) -> Result<CertifiedKey, ConfigError> {
    let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
    let chain = load_certs(cert_path)?;
    let key = load_private_key(key_path)?;
    certified_key(chain, key, cert_path, key_path)
}

/// Builds a trust store from PEM data holding one or more CA certificates.
pub fn roots_from_pem(pem: &[u8], source: &Path) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs_from_pem(pem, source)?.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|e| ConfigError::InvalidCertificate {
                path: source.to_owned(),
                index: i + 1,
                reason: e.to_string(),
            })?;
    }
    Ok(roots)
}

/// Loads a trust bundle (CA certificates) from a PEM file.
pub fn load_roots(path: impl AsRef<Path>) -> Result<RootCertStore, ConfigError> {
    let path = path.as_ref();
    roots_from_pem(&read(path)?, path)
}

/// Loads a bundle of certificates to pin by exact match, such as the `client_certs.crt` that
/// concatenates each allowed client's self-signed certificate.
pub fn load_pinned(path: impl AsRef<Path>) -> Result<PinnedCerts, ConfigError> {
    Ok(PinnedCerts::new(load_certs(path)?))
}

/// Where a certificate and key were loaded from, so they can be loaded again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFiles {
    /// The certificate chain, end-entity first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl IdentityFiles {
    /// Names the two files.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }

    /// Loads and checks the pair.
    pub fn load(&self) -> Result<CertifiedKey, ConfigError> {
        load_identity(&self.cert, &self.key)
    }
}
