//! Building TLS from the configuration: server sites per SNI with client authentication and
//! ACLs, upstream client configurations, and the reload actions that rotate them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tlswire_core::rustls::pki_types::CertificateDer;
use tlswire_core::rustls::sign::CertifiedKey;
use tlswire_core::rustls::{ClientConfig, RootCertStore};
use tlswire_core::{
    AcceptPolicy, ClientAuth, ClientOptions, Limits, PinnedCerts, ReloadableIdentity, ServerTrust,
    Site, SiteOptions, SniPolicy, TlsVersions,
};
use tlswire_tokio::{EofPolicy, Handshake, TlsConnector};
use tokio::net::TcpStream;

use crate::acl::Acl;
use crate::config::{
    ClientAuthConfig, ClientAuthMode, ClientIdentityConfig, ClientTlsConfig, IdentityConfig,
    ServerTlsConfig,
};
use crate::reload::Reloader;
use crate::tickets::FileTicketer;

/// Loads a chain from several PEM files (end-entity first) and its key.
fn load_identity(certs: &[PathBuf], key: &Path) -> Result<CertifiedKey, String> {
    let mut chain = Vec::new();
    for file in certs {
        chain.extend(tlswire_core::load_certs(file).map_err(|e| e.to_string())?);
    }
    let first = certs
        .first()
        .ok_or_else(|| "certs lists no certificate file".to_owned())?;
    let private_key = tlswire_core::load_private_key(key).map_err(|e| e.to_string())?;
    tlswire_core::certified_key(chain, private_key, first, key).map_err(|e| e.to_string())
}

fn load_roots(files: &[PathBuf]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for file in files {
        let store = tlswire_core::load_roots(file).map_err(|e| e.to_string())?;
        roots.roots.extend(store.roots);
    }
    Ok(roots)
}

fn load_pins(files: &[PathBuf]) -> Result<PinnedCerts, String> {
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    for file in files {
        certs.extend(tlswire_core::load_certs(file).map_err(|e| e.to_string())?);
    }
    Ok(PinnedCerts::new(certs))
}

fn client_auth(config: Option<&ClientAuthConfig>) -> Result<ClientAuth, String> {
    let Some(config) = config else {
        return Ok(ClientAuth::None);
    };
    let needs_files = config.mode != ClientAuthMode::None;
    if needs_files && config.trust_certs.is_empty() {
        return Err("clientAuth needs trustCerts for this mode".into());
    }
    Ok(match config.mode {
        ClientAuthMode::None => ClientAuth::None,
        ClientAuthMode::Optional => {
            ClientAuth::Optional(Arc::new(load_roots(&config.trust_certs)?))
        }
        ClientAuthMode::Required => {
            ClientAuth::Required(Arc::new(load_roots(&config.trust_certs)?))
        }
        ClientAuthMode::Pinned => ClientAuth::Pinned(load_pins(&config.trust_certs)?),
    })
}

fn versions(list: Option<&Vec<String>>) -> Result<TlsVersions, String> {
    let Some(list) = list else {
        return Ok(TlsVersions::Both);
    };
    let has = |v: &str| list.iter().any(|x| x.eq_ignore_ascii_case(v));
    for v in list {
        if !v.eq_ignore_ascii_case("tls12") && !v.eq_ignore_ascii_case("tls13") {
            return Err(format!("unknown TLS version {v:?} (use tls12, tls13)"));
        }
    }
    match (has("tls12"), has("tls13")) {
        (true, true) => Ok(TlsVersions::Both),
        (true, false) => Ok(TlsVersions::Tls12Only),
        (false, true) => Ok(TlsVersions::Tls13Only),
        (false, false) => Err("versions is empty".into()),
    }
}

/// ACLs by SNI, looked up the way [`SniPolicy`] picks a site.
#[derive(Debug, Default)]
pub(crate) struct SniAcls {
    exact: HashMap<String, Acl>,
    wildcard: HashMap<String, Acl>,
    default: Option<Acl>,
}

impl SniAcls {
    fn insert(&mut self, pattern: &str, acl: Acl) {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(domain) => self.wildcard.insert(domain.to_owned(), acl),
            None => self.exact.insert(pattern, acl),
        };
    }

    /// The ACL for a client that asked for `sni`. The most specific identity decides, so an
    /// identity without an ACL shadows a default that has one.
    pub(crate) fn lookup(&self, sni: Option<&str>, identities: &SniPresence) -> Option<&Acl> {
        let Some(name) = sni.map(|n| n.trim_end_matches('.').to_ascii_lowercase()) else {
            return self.default.as_ref();
        };
        if identities.exact.contains(&name) {
            return self.exact.get(&name);
        }
        if let Some((_, parent)) = name.split_once('.') {
            if identities.wildcard.contains(parent) {
                return self.wildcard.get(parent);
            }
        }
        self.default.as_ref()
    }
}

/// Which identity patterns exist, so an ACL lookup stops where the site lookup stops.
#[derive(Debug, Default)]
pub(crate) struct SniPresence {
    exact: std::collections::HashSet<String>,
    wildcard: std::collections::HashSet<String>,
}

impl SniPresence {
    fn insert(&mut self, pattern: &str) {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(domain) => self.wildcard.insert(domain.to_owned()),
            None => self.exact.insert(pattern),
        };
    }
}

/// What a TLS listener decides with.
#[derive(Debug)]
pub(crate) struct ListenerTls {
    pub(crate) policy: Arc<AcceptPolicy>,
    pub(crate) acls: SniAcls,
    pub(crate) identities: SniPresence,
}

/// Builds a listener's sites and registers their files for reloading.
pub(crate) fn listener_tls(
    config: &ServerTlsConfig,
    handshake_timeout: Duration,
    ticketer: Option<Arc<FileTicketer>>,
    reloader: &Reloader,
    key: &str,
) -> Result<ListenerTls, String> {
    let versions =
        versions(config.versions.as_ref()).map_err(|e| format!("{key}.versions: {e}"))?;
    let mut sni = SniPolicy::new();
    let mut acls = SniAcls::default();
    let mut identities = SniPresence::default();
    let entries = config
        .identities
        .iter()
        .map(|(name, id)| (Some(name.as_str()), id))
        .chain(config.default_identity.iter().map(|id| (None, id)));
    for (pattern, id) in entries {
        let id_key = match pattern {
            Some(name) => format!("{key}.identities[{name:?}]"),
            None => format!("{key}.defaultIdentity"),
        };
        let site = build_site(id, config, versions, ticketer.clone(), reloader, &id_key)?;
        let acl = id
            .client_auth
            .as_ref()
            .and_then(|auth| auth.acl.clone())
            .map(Acl::new);
        match pattern {
            Some(name) => {
                sni.insert(name, site)
                    .map_err(|e| format!("{id_key}: {e}"))?;
                identities.insert(name);
                if let Some(acl) = acl {
                    acls.insert(name, acl);
                }
            }
            None => {
                sni.set_default(site);
                acls.default = acl;
            }
        }
    }
    let limits = Limits::default().with_handshake_timeout(handshake_timeout);
    let policy = AcceptPolicy::new(sni)
        .allow_plaintext(config.allow_plaintext)
        .with_limits(limits);
    Ok(ListenerTls {
        policy: Arc::new(policy),
        acls,
        identities,
    })
}

fn build_site(
    id: &IdentityConfig,
    server: &ServerTlsConfig,
    versions: TlsVersions,
    ticketer: Option<Arc<FileTicketer>>,
    reloader: &Reloader,
    key: &str,
) -> Result<Arc<Site>, String> {
    let loaded = load_identity(&id.certs, &id.private_key).map_err(|e| format!("{key}: {e}"))?;
    let identity = ReloadableIdentity::new(loaded);
    let auth =
        client_auth(id.client_auth.as_ref()).map_err(|e| format!("{key}.clientAuth: {e}"))?;
    let alpn = id.alpn_protocols.as_ref().unwrap_or(&server.alpn_protocols);
    let mut options = SiteOptions::default()
        .with_client_auth(auth)
        .with_alpn(alpn.iter().map(String::as_bytes))
        .with_versions(versions);
    if let Some(ticketer) = ticketer {
        options = options.with_ticketer(ticketer);
    }
    let site = Site::new(identity.clone(), options).map_err(|e| format!("{key}: {e}"))?;

    let mut files = id.certs.clone();
    files.push(id.private_key.clone());
    let (certs, private_key) = (id.certs.clone(), id.private_key.clone());
    reloader.watch("identity", key.to_owned(), files, move || {
        identity.replace(load_identity(&certs, &private_key)?);
        Ok(())
    });
    if let Some(auth) = id.client_auth.clone() {
        if !auth.trust_certs.is_empty() {
            let site = site.clone();
            reloader.watch(
                "trust",
                format!("{key}.clientAuth"),
                auth.trust_certs.clone(),
                move || {
                    let next = client_auth(Some(&auth))?;
                    site.set_client_auth(next).map_err(|e| e.to_string())
                },
            );
        }
    }
    Ok(site)
}

/// An upstream TLS configuration that key rotation can replace.
#[derive(Debug)]
pub(crate) struct UpstreamTls {
    pub(crate) dns_name: String,
    config: RwLock<Arc<ClientConfig>>,
}

impl UpstreamTls {
    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts a handshake with an upstream over `tcp`, verifying it as `dnsName` with the
    /// current trust. A missing close_notify from the upstream ends the stream cleanly: the
    /// proxy passes the end on and lets the application protocol judge.
    pub(crate) fn connect(&self, tcp: TcpStream) -> Handshake<TcpStream> {
        TlsConnector::new(self.config())
            .with_eof_policy(EofPolicy::Lenient)
            .connect(&self.dns_name, tcp)
    }
}

fn client_identity_files(id: &ClientIdentityConfig) -> Vec<PathBuf> {
    let mut files = id.certs.clone();
    files.push(id.private_key.clone());
    files
}

fn build_client_config(config: &ClientTlsConfig) -> Result<Arc<ClientConfig>, String> {
    let trust = if config.pinned_certs.is_empty() {
        ServerTrust::Roots(Arc::new(load_roots(&config.trust_certs)?))
    } else {
        ServerTrust::Pinned(load_pins(&config.pinned_certs)?)
    };
    let mut options =
        ClientOptions::new(trust).with_alpn(config.alpn_protocols.iter().map(String::as_bytes));
    if let Some(id) = &config.client_identity {
        options = options.with_identity(load_identity(&id.certs, &id.private_key)?);
    }
    options.build().map_err(|e| e.to_string())
}

/// Builds an upstream TLS configuration and registers its files for reloading.
pub(crate) fn upstream_tls(
    config: &ClientTlsConfig,
    reloader: &Reloader,
    key: &str,
) -> Result<Arc<UpstreamTls>, String> {
    tlswire_core::rustls::pki_types::ServerName::try_from(config.dns_name.as_str()).map_err(
        |_| {
            format!(
                "{key}.dnsName: {:?} is not a DNS name or IP address",
                config.dns_name
            )
        },
    )?;
    let built = build_client_config(config).map_err(|e| format!("{key}: {e}"))?;
    let upstream = Arc::new(UpstreamTls {
        dns_name: config.dns_name.clone(),
        config: RwLock::new(built),
    });
    let mut files = config.trust_certs.clone();
    files.extend(config.pinned_certs.iter().cloned());
    files.extend(
        config
            .client_identity
            .iter()
            .flat_map(client_identity_files),
    );
    let (target, config) = (upstream.clone(), config.clone());
    reloader.watch("upstream", key.to_owned(), files, move || {
        let next = build_client_config(&config)?;
        *target
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
        Ok(())
    });
    Ok(upstream)
}
