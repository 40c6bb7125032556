//! Server-side configuration: identities that can be reloaded, client-authentication modes and
//! sites (one certificate, client-auth mode and ALPN list each).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::server::WebPkiClientVerifier;
use rustls::server::{ClientHello, ProducesTickets, ResolvesServerCert, StoresServerSessions};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::pem::IdentityFiles;
use crate::verify::PinnedClientVerifier;
use crate::{provider, ConfigError, PinnedCerts, TlsVersions};

/// How a server authenticates its clients.
#[derive(Debug, Clone, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A certificate is asked for; one that is sent must chain to these roots, but a client may
    /// send none.
    Optional(Arc<RootCertStore>),
    /// A certificate chaining to these roots is required.
    Required(Arc<RootCertStore>),
    /// The client's end-entity certificate must be one of these exactly (self-signed
    /// certificates welcome), and the client must prove it holds the key.
    Pinned(PinnedCerts),
}

impl ClientAuth {
    /// A short name for logs and metrics: `none`, `optional`, `required` or `pinned`.
    pub fn mode_name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Optional(_) => "optional",
            Self::Required(_) => "required",
            Self::Pinned(_) => "pinned",
        }
    }
}

/// A certificate chain and key that can be replaced while sessions are live: new handshakes use
/// the new one, established sessions keep what they negotiated.
pub struct ReloadableIdentity {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<IdentityFiles>,
}

impl fmt::Debug for ReloadableIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableIdentity")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ReloadableIdentity {
    /// An identity given in memory; [`replace`](Self::replace) changes it.
    pub fn new(key: CertifiedKey) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(key)),
            files: None,
        })
    }

    /// An identity loaded from files, which [`reload`](Self::reload) reads again.
    pub fn from_files(files: IdentityFiles) -> Result<Arc<Self>, ConfigError> {
        let key = files.load()?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(key)),
            files: Some(files),
        }))
    }

    /// The certificate and key that new handshakes use.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Switches new handshakes to `key`.
    pub fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }

    /// Reads the files again. On any error the old certificate stays in use and the error says
    /// which file is at fault.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let key = files.load()?;
        self.replace(key);
        Ok(())
    }

    /// The files this identity was loaded from, if any.
    pub fn files(&self) -> Option<&IdentityFiles> {
        self.files.as_ref()
    }
}

impl ResolvesServerCert for ReloadableIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Settings of a [`Site`] beyond its identity.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct SiteOptions {
    /// How clients are authenticated.
    pub client_auth: ClientAuth,
    /// ALPN protocols in order of preference; empty means ALPN is not negotiated.
    pub alpn: Vec<Vec<u8>>,
    /// Protocol versions offered.
    pub versions: TlsVersions,
    /// Stateful resumption cache shared by several sites (rustls's in-memory cache when unset).
    pub session_storage: Option<Arc<dyn StoresServerSessions>>,
    /// Ticket keys for stateless resumption; share one across sites, or across processes, to
    /// resume each other's sessions. Unset: TLS 1.3 resumes through `session_storage` only.
    pub ticketer: Option<Arc<dyn ProducesTickets>>,
    /// Largest 0-RTT payload accepted (TLS 1.3); 0 turns early data off.
    pub max_early_data_size: u32,
}

impl fmt::Debug for SiteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SiteOptions")
            .field("client_auth", &self.client_auth.mode_name())
            .field("alpn", &self.alpn)
            .field("versions", &self.versions)
            .field("max_early_data_size", &self.max_early_data_size)
            .finish_non_exhaustive()
    }
}

impl SiteOptions {
    /// Sets the client-authentication mode.
    #[must_use]
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Sets the ALPN protocols, most preferred first.
    #[must_use]
    pub fn with_alpn<P: AsRef<[u8]>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Sets the protocol versions.
    #[must_use]
    pub fn with_versions(mut self, versions: TlsVersions) -> Self {
        self.versions = versions;
        self
    }

    /// Sets the stateful resumption cache.
    #[must_use]
    pub fn with_session_storage(mut self, storage: Arc<dyn StoresServerSessions>) -> Self {
        self.session_storage = Some(storage);
        self
    }

    /// Sets the ticket producer for stateless resumption.
    #[must_use]
    pub fn with_ticketer(mut self, ticketer: Arc<dyn ProducesTickets>) -> Self {
        self.ticketer = Some(ticketer);
        self
    }
}

/// What one host name (or the default) is served with: a reloadable identity, a
/// client-authentication mode and ALPN protocols.
pub struct Site {
    identity: Arc<ReloadableIdentity>,
    options: RwLock<SiteOptions>,
    config: RwLock<Arc<ServerConfig>>,
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Site")
            .field("identity", &self.identity)
            .field(
                "options",
                &*self.options.read().unwrap_or_else(PoisonError::into_inner),
            )
            .finish_non_exhaustive()
    }
}

impl Site {
    /// Builds a site; fails if the options cannot make a rustls configuration (for example an
    /// empty trust store for required client authentication).
    ///
    /// ```no_run
    /// use tlswire_core::{IdentityFiles, ReloadableIdentity, Site, SiteOptions};
    /// let identity = ReloadableIdentity::from_files(IdentityFiles::new("server.crt", "server.key"))?;
    /// let site = Site::new(identity, SiteOptions::default().with_alpn(["h2", "http/1.1"]))?;
    /// # Ok::<(), tlswire_core::ConfigError>(())
    /// ```
    pub fn new(
        identity: Arc<ReloadableIdentity>,
        options: SiteOptions,
    ) -> Result<Arc<Self>, ConfigError> {
        let config = build_server_config(&identity, &options)?;
        Ok(Arc::new(Self {
            identity,
            options: RwLock::new(options),
            config: RwLock::new(config),
        }))
    }

    /// The rustls configuration new sessions of this site start with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The identity; [`ReloadableIdentity::reload`] on it rotates the certificate.
    pub fn identity(&self) -> &Arc<ReloadableIdentity> {
        &self.identity
    }

    /// The ALPN protocols this site offers.
    pub fn alpn(&self) -> Vec<Vec<u8>> {
        self.options
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .alpn
            .clone()
    }

    /// The client-authentication mode's name (see [`ClientAuth::mode_name`]).
    pub fn client_auth_mode(&self) -> &'static str {
        self.options
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .client_auth
            .mode_name()
    }

    /// Replaces the client-authentication mode (a reloaded trust bundle or pin list) for new
    /// handshakes. On error the old mode stays.
    pub fn set_client_auth(&self, client_auth: ClientAuth) -> Result<(), ConfigError> {
        let mut options = self.options.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = options.clone();
        next.client_auth = client_auth;
        let config = build_server_config(&self.identity, &next)?;
        *options = next;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }
}

fn build_server_config(
    identity: &Arc<ReloadableIdentity>,
    options: &SiteOptions,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let provider = Arc::new(provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(options.versions.as_rustls())?;
    let builder = match &options.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| ConfigError::Verifier(e.to_string()))?,
        ),
        ClientAuth::Required(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider)
                .build()
                .map_err(|e| ConfigError::Verifier(e.to_string()))?,
        ),
        ClientAuth::Pinned(pins) => {
            builder.with_client_cert_verifier(Arc::new(PinnedClientVerifier::new(pins.clone())))
        }
    };
    let mut config = builder.with_cert_resolver(identity.clone());
    config.alpn_protocols = options.alpn.clone();
    if let Some(storage) = &options.session_storage {
        config.session_storage = storage.clone();
    }
    if let Some(ticketer) = &options.ticketer {
        config.ticketer = ticketer.clone();
    }
    config.max_early_data_size = options.max_early_data_size;
    Ok(Arc::new(config))
}
