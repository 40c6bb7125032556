//! Errors of the session layer and of the configuration helpers.

use std::fmt;
use std::path::PathBuf;

/// Why a [`Session`](crate::Session) failed.
///
/// A session that returned an error is finished: drain
/// [`Session::poll_transmit`](crate::Session::poll_transmit) once more to send the alert that tells
/// the peer why, then close the transport.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// rustls refused the peer's bytes or the handshake: a bad record MAC, a certificate that does
    /// not verify, no common cipher suite, a decode error. The alert that rustls chose is queued.
    Tls(rustls::Error),
    /// The handshake did not finish before the deadline set by
    /// [`Limits::handshake_timeout`](crate::Limits::handshake_timeout).
    HandshakeTimeout,
    /// The transport closed before the handshake finished.
    EofDuringHandshake,
    /// Nothing arrived for [`Limits::idle_timeout`](crate::Limits::idle_timeout).
    IdleTimeout,
    /// The peer sent more than [`Limits::max_record_backlog`](crate::Limits::max_record_backlog)
    /// bytes that do not form a complete record.
    RecordBacklogFull,
    /// The session was already closed (by us, by the peer, or by an earlier error) when this call
    /// asked it to send application data.
    Closed,
    /// Key update was requested on a connection that does not support it (TLS 1.2, or before the
    /// handshake completed).
    KeyUpdateUnavailable,
    /// The server name given to [`Session::client`](crate::Session::client) is neither a DNS name
    /// nor an IP address.
    InvalidServerName(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // rustls prints custom certificate errors with Debug; ours read better as Display.
            Self::Tls(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                rustls::OtherError(e),
            ))) => write!(f, "TLS error: invalid peer certificate: {e}"),
            Self::Tls(e) => write!(f, "TLS error: {e}"),
            Self::HandshakeTimeout => f.write_str("TLS handshake timed out"),
            Self::EofDuringHandshake => {
                f.write_str("peer closed the connection before the TLS handshake finished")
            }
            Self::IdleTimeout => f.write_str("TLS session idle timeout"),
            Self::RecordBacklogFull => {
                f.write_str("peer sent more undecodable bytes than the record backlog allows")
            }
            Self::Closed => f.write_str("TLS session is closed"),
            Self::KeyUpdateUnavailable => {
                f.write_str("key update needs an established TLS 1.3 session")
            }
            Self::InvalidServerName(name) => {
                write!(f, "{name:?} is not a valid DNS name or IP address")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Self::Tls(e)
    }
}

/// Why a certificate, key, trust bundle or TLS configuration could not be loaded.
///
/// Every variant that comes from a file names it, so an operator can act on the message alone.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not valid PEM (bad base64, unterminated section).
    InvalidPem {
        /// The file.
        path: PathBuf,
        /// What the PEM decoder said.
        reason: String,
    },
    /// The file holds no `CERTIFICATE` section.
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no private key (PKCS#8, PKCS#1 or SEC1).
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// A certificate's PEM decoded, but its contents are not a valid X.509 certificate.
    InvalidCertificate {
        /// The file.
        path: PathBuf,
        /// 1-based position of the certificate in the file.
        index: usize,
        /// What the parser said.
        reason: String,
    },
    /// The private key is not one rustls can sign with (unsupported algorithm or corrupt).
    UnsupportedKey {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The private key does not belong to the end-entity certificate.
    KeyMismatch {
        /// The certificate chain file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
    },
    /// A certificate chain or key given in memory was unusable.
    InvalidKeyPair(String),
    /// rustls rejected the configuration (for example no usable protocol versions).
    Rustls(rustls::Error),
    /// A certificate verifier could not be built (for example from an empty trust bundle).
    Verifier(String),
    /// A server name pattern in an SNI policy is neither a DNS name nor a `*.` wildcard.
    InvalidServerNamePattern(String),
    /// The same server name pattern appears twice in an SNI policy.
    DuplicateServerName(String),
    /// The platform trust store could not be used.
    PlatformVerifier(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::InvalidPem { path, reason } => {
                write!(f, "{} is not valid PEM: {reason}", path.display())
            }
            Self::NoCertificates { path } => write!(f, "no certificate in {}", path.display()),
            Self::NoPrivateKey { path } => write!(
                f,
                "no private key (PKCS#8, PKCS#1 or SEC1) in {}",
                path.display()
            ),
            Self::InvalidCertificate {
                path,
                index,
                reason,
            } => write!(
                f,
                "certificate {index} in {} is not valid DER: {reason}",
                path.display()
            ),
            Self::UnsupportedKey { path, reason } => {
                write!(f, "private key in {} is unusable: {reason}", path.display())
            }
            Self::KeyMismatch {
                cert_path,
                key_path,
            } => write!(
                f,
                "key in {} does not match certificate in {}",
                key_path.display(),
                cert_path.display()
            ),
            Self::InvalidKeyPair(reason) => write!(f, "unusable certificate and key: {reason}"),
            Self::Rustls(e) => write!(f, "invalid TLS configuration: {e}"),
            Self::Verifier(reason) => write!(f, "cannot build certificate verifier: {reason}"),
            Self::InvalidServerNamePattern(name) => write!(
                f,
                "{name:?} is not a DNS name or a wildcard of the form *.example.com"
            ),
            Self::DuplicateServerName(name) => {
                write!(f, "server name {name:?} appears twice in the SNI policy")
            }
            Self::PlatformVerifier(reason) => {
                write!(f, "cannot use the OS trust store: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rustls::Error> for ConfigError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}
