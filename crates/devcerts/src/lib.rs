//! Development certificates: a dev CA, a server certificate for the given host names and IP
//! addresses, and one client certificate per name, written as PEM files.
//!
//! This is what `tlswire certs gen` and `tlswire ingest --dev` use; it is meant for development
//! and tests, never for production keys.
//!
//! ```no_run
//! let set = tlswire_devcerts::generate(&["localhost", "127.0.0.1"], &["alice"])?;
//! let files = set.write_to(std::path::Path::new("./certs"))?;
//! println!("CA at {}", files.ca_cert.display());
//! # Ok::<(), tlswire_devcerts::DevCertError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Why certificates could not be made or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum DevCertError {
    /// rcgen refused the parameters (for example an invalid host name).
    Generate(String),
    /// A file could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl fmt::Display for DevCertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Generate(reason) => write!(f, "cannot generate certificate: {reason}"),
            Self::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for DevCertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Write { source, .. } => Some(source),
            Self::Generate(_) => None,
        }
    }
}

impl From<rcgen::Error> for DevCertError {
    fn from(e: rcgen::Error) -> Self {
        Self::Generate(e.to_string())
    }
}

/// A certificate and its private key, as PEM.
#[derive(Debug, Clone)]
pub struct PemPair {
    /// The certificate.
    pub cert: String,
    /// The PKCS#8 private key.
    pub key: String,
}

/// A dev CA with the certificates it signed.
#[derive(Debug, Clone)]
pub struct DevCerts {
    /// The CA that signed everything below.
    pub ca: PemPair,
    /// The server certificate.
    pub server: PemPair,
    /// Client certificates by name.
    pub clients: Vec<(String, PemPair)>,
}

/// Where [`DevCerts::write_to`] put each file.
#[derive(Debug, Clone)]
pub struct DevCertFiles {
    /// `ca.crt`.
    pub ca_cert: PathBuf,
    /// `ca.key`.
    pub ca_key: PathBuf,
    /// `server.crt`.
    pub server_cert: PathBuf,
    /// `server.key`.
    pub server_key: PathBuf,
    /// `NAME.crt` and `NAME.key` per client.
    pub clients: Vec<(String, PathBuf, PathBuf)>,
    /// `client_certs.crt`: every client certificate concatenated, the pinned-bundle format.
    pub client_bundle: PathBuf,
}

fn ca_params() -> Result<CertificateParams, DevCertError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "tlswire development CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    names: Vec<String>,
    common_name: &str,
    purpose: ExtendedKeyUsagePurpose,
) -> Result<PemPair, DevCertError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![purpose];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&key, issuer)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Makes a CA, a server certificate for `hosts` (DNS names or IP addresses) and a client
/// certificate per name in `clients` (the name becomes the subject CN and a DNS SAN).
pub fn generate(hosts: &[&str], clients: &[&str]) -> Result<DevCerts, DevCertError> {
    for name in hosts.iter().chain(clients) {
        check_name(name)?;
    }
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params()?.self_signed(&ca_key)?;
    let ca = PemPair {
        cert: ca_cert.pem(),
        key: ca_key.serialize_pem(),
    };
    let issuer = Issuer::new(ca_params()?, ca_key);
    let host_names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let server_cn = hosts.first().copied().unwrap_or("localhost");
    let server = leaf(
        &issuer,
        host_names,
        server_cn,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let clients = clients
        .iter()
        .map(|name| {
            leaf(
                &issuer,
                vec![name.to_string()],
                name,
                ExtendedKeyUsagePurpose::ClientAuth,
            )
            .map(|pair| (name.to_string(), pair))
        })
        .collect::<Result<_, _>>()?;
    Ok(DevCerts {
        ca,
        server,
        clients,
    })
}

/// rcgen accepts any string as a DNS name; a typo should fail here, not at the first handshake.
fn check_name(name: &str) -> Result<(), DevCertError> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let labels: Vec<&str> = name.split('.').collect();
    let wildcard_ok = labels.first() == Some(&"*") && labels.len() > 1;
    let valid = name.len() <= 253
        && labels
            .iter()
            .enumerate()
            .all(|(i, label)| (i == 0 && wildcard_ok) || label_ok(label));
    if valid {
        Ok(())
    } else {
        Err(DevCertError::Generate(format!(
            "{name:?} is not a DNS name or an IP address"
        )))
    }
}

fn write(path: PathBuf, contents: &str) -> Result<PathBuf, DevCertError> {
    std::fs::write(&path, contents).map_err(|source| DevCertError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

impl DevCerts {
    /// Writes every certificate and key into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> Result<DevCertFiles, DevCertError> {
        std::fs::create_dir_all(dir).map_err(|source| DevCertError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let mut bundle = String::new();
        let mut clients = Vec::new();
        for (name, pair) in &self.clients {
            let cert = write(dir.join(format!("{name}.crt")), &pair.cert)?;
            let key = write(dir.join(format!("{name}.key")), &pair.key)?;
            bundle.push_str(&pair.cert);
            clients.push((name.clone(), cert, key));
        }
        Ok(DevCertFiles {
            ca_cert: write(dir.join("ca.crt"), &self.ca.cert)?,
            ca_key: write(dir.join("ca.key"), &self.ca.key)?,
            server_cert: write(dir.join("server.crt"), &self.server.cert)?,
            server_key: write(dir.join("server.key"), &self.server.key)?,
            client_bundle: write(dir.join("client_certs.crt"), &bundle)?,
            clients,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file() {
        let dir = std::env::temp_dir().join(format!("tlswire-devcerts-{}", std::process::id()));
        let set = generate(&["localhost", "127.0.0.1"], &["alice", "bob"]).unwrap();
        let files = set.write_to(&dir).unwrap();
        assert!(std::fs::read_to_string(&files.server_cert)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        let bundle = std::fs::read_to_string(&files.client_bundle).unwrap();
        assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_host_is_an_error() {
        assert!(generate(&["not a host name!"], &[]).is_err());
    }
}
