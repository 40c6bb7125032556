//! The client side's TLS settings: trust (`--ca`, `--insecure`), a client certificate, the
//! protocol version, cipher suite, key-exchange group and resumption mode.
//!
//! The configuration is built here with rustls directly rather than through
//! `tlswire_core::ClientOptions`, because a load generator must pin one cipher suite and one
//! key-exchange group, which a product's client options rightly do not offer.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::{Resumption, Tls12Resumption};
use rustls::{ClientConfig, RootCertStore};
use serde::Serialize;
use tlswire_core::DangerousAcceptAnyServer;

/// Which protocol version to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Version {
    /// TLS 1.2 and 1.3 (the server picks; usually 1.3).
    #[default]
    Any,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "any" => Ok(Self::Any),
            "1.2" | "tls1.2" | "tls12" => Ok(Self::Tls12),
            "1.3" | "tls1.3" | "tls13" => Ok(Self::Tls13),
            other => Err(format!(
                "unknown TLS version {other:?} (use 1.2, 1.3 or any)"
            )),
        }
    }
}

/// How handshakes after the first one resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum ResumeMode {
    /// Every handshake is a full one (resumption off).
    #[default]
    Full,
    /// Resume with session tickets (TLS 1.2 tickets, TLS 1.3 PSK tickets).
    Tickets,
    /// Resume with TLS 1.2 session IDs (TLS 1.3 has no session IDs and resumes by ticket).
    SessionIds,
}

impl std::str::FromStr for ResumeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" | "none" | "off" => Ok(Self::Full),
            "tickets" | "ticket" => Ok(Self::Tickets),
            "session-ids" | "session-id" | "ids" => Ok(Self::SessionIds),
            other => Err(format!(
                "unknown resumption mode {other:?} (use full, tickets or session-ids)"
            )),
        }
    }
}

/// Everything the client's TLS configuration is made from.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificates (PEM) the server's chain must lead to; `None` with `insecure` off means
    /// the target must be reached without TLS.
    pub ca: Option<PathBuf>,
    /// Accept any server certificate (measurement only: no security).
    pub insecure: bool,
    /// Client certificate chain and key (PEM) for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Protocol version to offer.
    pub version: Version,
    /// Only this cipher suite, by its IANA name (`TLS13_AES_128_GCM_SHA256`, ...).
    pub cipher_suite: Option<String>,
    /// Only this key-exchange group (`X25519`, `secp256r1`, `X25519MLKEM768`, ...).
    pub group: Option<String>,
    /// Resumption mode.
    pub resume: ResumeMode,
    /// ALPN protocols to offer.
    pub alpn: Vec<String>,
}

/// Why the client's TLS configuration could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A certificate, key or CA file could not be loaded.
    Config(tlswire_core::ConfigError),
    /// No cipher suite of the provider has this name (the valid names are listed).
    UnknownCipherSuite {
        /// The name asked for.
        name: String,
        /// The names this build knows.
        known: Vec<String>,
    },
    /// No key-exchange group of the provider has this name.
    UnknownGroup {
        /// The name asked for.
        name: String,
        /// The names this build knows.
        known: Vec<String>,
    },
    /// rustls refused the combination (for example a TLS 1.2 suite with `--tls 1.3`).
    Rustls(rustls::Error),
    /// Neither `--ca` nor `--insecure` says how to trust the server.
    NoTrust,
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::UnknownCipherSuite { name, known } => write!(
                f,
                "unknown cipher suite {name:?}; known: {}",
                known.join(", ")
            ),
            Self::UnknownGroup { name, known } => write!(
                f,
                "unknown key-exchange group {name:?}; known: {}",
                known.join(", ")
            ),
            Self::Rustls(e) => write!(f, "TLS settings rejected: {e}"),
            Self::NoTrust => f.write_str(
                "no way to trust the server: give --ca FILE, or --insecure to skip verification",
            ),
        }
    }
}

impl std::error::Error for TlsSetupError {}

impl From<tlswire_core::ConfigError> for TlsSetupError {
    fn from(e: tlswire_core::ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<rustls::Error> for TlsSetupError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}

impl ClientTls {
    /// Builds the rustls client configuration.
    pub fn build(&self) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let mut provider = tlswire_core::provider();
        if let Some(name) = &self.cipher_suite {
            let known: Vec<String> = provider
                .cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect();
            provider
                .cipher_suites
                .retain(|s| format!("{:?}", s.suite()).eq_ignore_ascii_case(name));
            if provider.cipher_suites.is_empty() {
                return Err(TlsSetupError::UnknownCipherSuite {
                    name: name.clone(),
                    known,
                });
            }
        }
        if let Some(name) = &self.group {
            let known: Vec<String> = provider
                .kx_groups
                .iter()
                .map(|g| format!("{:?}", g.name()))
                .collect();
            provider
                .kx_groups
                .retain(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(name));
            if provider.kx_groups.is_empty() {
                return Err(TlsSetupError::UnknownGroup {
                    name: name.clone(),
                    known,
                });
            }
        }
        let provider = Arc::new(provider);
        let versions: &[&rustls::SupportedProtocolVersion] = match self.version {
            Version::Any => rustls::ALL_VERSIONS,
            Version::Tls12 => &[&rustls::version::TLS12],
            Version::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)?;
        let builder = if self.insecure {
            builder
                .dangerous()
                // Skips the chain check (`--insecure`) but still checks handshake signatures, so the
                // key exchange costs what it costs in real use.
                .with_custom_certificate_verifier(Arc::new(DangerousAcceptAnyServer::new()))
        } else if let Some(ca) = &self.ca {
            let roots: RootCertStore = tlswire_core::load_roots(ca)?;
            builder.with_root_certificates(roots)
        } else {
            return Err(TlsSetupError::NoTrust);
        };
        let mut config = match &self.identity {
            Some((cert, key)) => {
                let chain = tlswire_core::load_certs(cert)?;
                let key_der = tlswire_core::load_private_key(key)?;
                // Checks that the key matches, with an error naming both files.
                tlswire_core::certified_key(chain.clone(), key_der.clone_key(), cert, key)?;
                builder.with_client_auth_cert(chain, key_der)?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config.resumption = match self.resume {
            ResumeMode::Full => Resumption::disabled(),
            ResumeMode::Tickets => Resumption::in_memory_sessions(4096)
                .tls12_resumption(Tls12Resumption::SessionIdOrTickets),
            ResumeMode::SessionIds => Resumption::in_memory_sessions(4096)
                .tls12_resumption(Tls12Resumption::SessionIdOnly),
        };
        Ok(Arc::new(config))
    }
}
