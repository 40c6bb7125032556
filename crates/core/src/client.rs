//! Client-side configuration: how the server is trusted, an optional client certificate, ALPN.

use std::fmt;
use std::sync::Arc;

use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureScheme};

use crate::verify::{DangerousAcceptAnyServer, PinnedServerVerifier};
use crate::{provider, ConfigError, PinnedCerts, TlsVersions};

/// How a client decides to trust the server's certificate.
#[derive(Clone)]
#[non_exhaustive]
pub enum ServerTrust {
    /// The chain must lead to one of these roots, and name the server.
    Roots(Arc<RootCertStore>),
    /// The server's end-entity certificate must be one of these exactly. Use it for
    /// self-signed certificates made with `openssl req -x509`, which webpki refuses.
    Pinned(PinnedCerts),
    /// Either: the server's certificate is one of the pins exactly, or its chain leads to one
    /// of the roots and names the server. For a trust file that may hold the server's own
    /// self-signed certificate or the CA that signed it.
    PinnedOrRoots(PinnedCerts, Arc<RootCertStore>),
    /// The operating system's trust store (needs the `platform-verifier` feature).
    Platform,
    /// Accept any certificate. Only for tests: this gives no security at all.
    DangerousAcceptAnyCertificate,
}

impl fmt::Debug for ServerTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Roots(r) => write!(f, "Roots({} roots)", r.len()),
            Self::Pinned(p) => write!(f, "Pinned({})", p.len()),
            Self::PinnedOrRoots(p, r) => write!(f, "PinnedOrRoots({}, {} roots)", p.len(), r.len()),
            Self::Platform => f.write_str("Platform"),
            Self::DangerousAcceptAnyCertificate => f.write_str("DangerousAcceptAnyCertificate"),
        }
    }
}

/// Everything a client configuration needs, with sane defaults: TLS 1.2 and 1.3, resumption on,
/// no client certificate, no ALPN.
///
/// ```no_run
/// use tlswire_core::{load_roots, ClientOptions, ServerTrust};
/// let roots = load_roots("ca.crt")?;
/// let config = ClientOptions::new(ServerTrust::Roots(roots.into()))
///     .with_alpn(["http/1.1"])
///     .build()?;
/// # Ok::<(), tlswire_core::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// How the server is trusted.
    pub trust: ServerTrust,
    /// The certificate and key presented when the server asks for one.
    pub identity: Option<Arc<CertifiedKey>>,
    /// ALPN protocols to offer, most preferred first.
    pub alpn: Vec<Vec<u8>>,
    /// Protocol versions offered.
    pub versions: TlsVersions,
    /// Whether to keep session tickets and resume with them.
    pub resumption: bool,
}

impl ClientOptions {
    /// Options trusting the server as `trust` says.
    pub fn new(trust: ServerTrust) -> Self {
        Self {
            trust,
            identity: None,
            alpn: Vec::new(),
            versions: TlsVersions::default(),
            resumption: true,
        }
    }

    /// Presents this certificate when the server asks for one (mutual TLS).
    #[must_use]
    pub fn with_identity(mut self, identity: CertifiedKey) -> Self {
        self.identity = Some(Arc::new(identity));
        self
    }

    /// Offers these ALPN protocols.
    #[must_use]
    pub fn with_alpn<P: AsRef<[u8]>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Offers these protocol versions.
    #[must_use]
    pub fn with_versions(mut self, versions: TlsVersions) -> Self {
        self.versions = versions;
        self
    }

    /// Turns session resumption on or off.
    #[must_use]
    pub fn with_resumption(mut self, resumption: bool) -> Self {
        self.resumption = resumption;
        self
    }

    /// Builds the rustls configuration.
    pub fn build(&self) -> Result<Arc<ClientConfig>, ConfigError> {
        let provider = Arc::new(provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(self.versions.as_rustls())?;
        let builder = match &self.trust {
            ServerTrust::Roots(roots) => builder.with_root_certificates(roots.clone()),
            ServerTrust::Pinned(pins) => {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(
                        pins.clone(),
                    )))
            }
            ServerTrust::PinnedOrRoots(pins, roots) => {
                let chain = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider)
                    .build()
                    .map_err(|e| ConfigError::Verifier(e.to_string()))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(
                        PinnedServerVerifier::new(pins.clone()).or_else(chain),
                    ))
            }
            ServerTrust::DangerousAcceptAnyCertificate => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(DangerousAcceptAnyServer::new())),
            ServerTrust::Platform => builder
                .dangerous()
                .with_custom_certificate_verifier(platform_verifier(provider)?),
        };
        let mut config = match &self.identity {
            Some(identity) => {
                builder.with_client_cert_resolver(Arc::new(FixedClientCert(identity.clone())))
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        if !self.resumption {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Arc::new(config))
    }
}

#[cfg(feature = "platform-verifier")]
fn platform_verifier(
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, ConfigError> {
    rustls_platform_verifier::Verifier::new(provider)
        .map(|v| Arc::new(v) as Arc<dyn rustls::client::danger::ServerCertVerifier>)
        .map_err(|e| ConfigError::PlatformVerifier(e.to_string()))
}

#[cfg(not(feature = "platform-verifier"))]
fn platform_verifier(
    _provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, ConfigError> {
    Err(ConfigError::PlatformVerifier(
        "tlswire-core was built without the `platform-verifier` feature".into(),
    ))
}

/// Presents one certificate whenever the server asks.
#[derive(Debug)]
struct FixedClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0.key.choose_scheme(sigschemes).map(|_| self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
