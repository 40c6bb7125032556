//! Choosing a [`Site`] by the server name a client asked for.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::pki_types::DnsName;

use crate::{ConfigError, Limits, Site};

/// Maps server names to sites: exact names, `*.example.com` wildcards (one label deep, as in
/// certificates) and a default for clients that send no SNI or an unknown one.
///
/// ```no_run
/// # fn sites() -> (std::sync::Arc<tlswire_core::Site>, std::sync::Arc<tlswire_core::Site>) { unimplemented!() }
/// let (api, fallback) = sites();
/// let mut policy = tlswire_core::SniPolicy::new();
/// policy.insert("api.example.com", api)?;
/// policy.set_default(fallback);
/// # Ok::<(), tlswire_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SniPolicy {
    exact: HashMap<String, Arc<Site>>,
    wildcard: HashMap<String, Arc<Site>>,
    default: Option<Arc<Site>>,
}

impl SniPolicy {
    /// An empty policy: every client is refused until a site is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy serving one site to every client, whatever its SNI.
    pub fn single(site: Arc<Site>) -> Self {
        Self {
            default: Some(site),
            ..Self::default()
        }
    }

    /// Serves `site` for `pattern`: a host name, or `*.` followed by a domain.
    pub fn insert(&mut self, pattern: &str, site: Arc<Site>) -> Result<(), ConfigError> {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        let (table, name) = match pattern.strip_prefix("*.") {
            Some(domain) => (&mut self.wildcard, domain),
            None => (&mut self.exact, pattern.as_str()),
        };
        if DnsName::try_from(name).is_err() || name.contains('*') {
            return Err(ConfigError::InvalidServerNamePattern(pattern.clone()));
        }
        // Checked before inserting: a refused duplicate must not replace the first site.
        if table.contains_key(name) {
            return Err(ConfigError::DuplicateServerName(pattern.clone()));
        }
        table.insert(name.to_owned(), site);
        Ok(())
    }

    /// Serves `site` to clients whose SNI matches nothing, or who send none.
    pub fn set_default(&mut self, site: Arc<Site>) {
        self.default = Some(site);
    }

    /// The site for a client that asked for `server_name`.
    pub fn lookup(&self, server_name: Option<&str>) -> Option<&Arc<Site>> {
        let Some(name) = server_name else {
            return self.default.as_ref();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(site) = self.exact.get(&name) {
            return Some(site);
        }
        let wildcard = name
            .split_once('.')
            .and_then(|(_, parent)| self.wildcard.get(parent));
        wildcard.or(self.default.as_ref())
    }

    /// Every site, each once per pattern (the default last).
    pub fn sites(&self) -> impl Iterator<Item = &Arc<Site>> {
        self.exact
            .values()
            .chain(self.wildcard.values())
            .chain(self.default.iter())
    }

    /// Whether no site is configured.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.default.is_none()
    }
}

/// Everything [`Accept`](crate::Accept) decides with: the SNI policy, whether plaintext is
/// served on the same port, and the limits sessions start with.
///
/// Plaintext is a property of the listener, not of a site: a plaintext client sends no SNI.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AcceptPolicy {
    /// Sites by server name.
    pub sni: SniPolicy,
    /// Whether a client whose first bytes are not TLS is served in plaintext.
    pub allow_plaintext: bool,
    /// Limits for the sessions this policy creates.
    pub limits: Limits,
    /// Largest ClientHello accepted; rustls's own limit is 64 KiB.
    pub max_client_hello: usize,
}

impl AcceptPolicy {
    /// TLS only, with the given sites.
    pub fn new(sni: SniPolicy) -> Self {
        Self {
            sni,
            allow_plaintext: false,
            limits: Limits::default(),
            max_client_hello: 64 * 1024,
        }
    }

    /// Also serve clients that speak plaintext on the same port.
    #[must_use]
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// Sets the limits of the sessions created.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
