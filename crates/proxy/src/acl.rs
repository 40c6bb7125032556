//! Who may pass: matching a client certificate's DNS and URI subject alternative names and its
//! subject common name against an allow-list.

use tlswire_core::rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::AclConfig;

/// The names a client certificate carries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CertNames {
    /// DNS subject alternative names.
    pub dns: Vec<String>,
    /// URI subject alternative names (SPIFFE IDs and the like).
    pub uris: Vec<String>,
    /// Subject common names.
    pub common_names: Vec<String>,
}

impl CertNames {
    /// Reads the names from a DER certificate; `None` if it cannot be parsed.
    pub fn from_der(cert: &CertificateDer<'_>) -> Option<Self> {
        let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
        let mut names = Self::default();
        if let Ok(Some(san)) = parsed.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.dns.push(dns.to_ascii_lowercase()),
                    GeneralName::URI(uri) => names.uris.push((*uri).to_owned()),
                    _ => {}
                }
            }
        }
        for cn in parsed.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                names.common_names.push(cn.to_owned());
            }
        }
        Some(names)
    }
}

/// An allow-list for client certificates.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    config: AclConfig,
}

impl Acl {
    /// The allow-list in `config`.
    pub fn new(config: AclConfig) -> Self {
        Self { config }
    }

    /// Whether a client whose end-entity certificate is `cert` may pass. A client without a
    /// certificate never passes an ACL.
    pub fn allows(&self, cert: Option<&CertificateDer<'_>>) -> bool {
        let Some(names) = cert.and_then(CertNames::from_der) else {
            return false;
        };
        self.allows_names(&names)
    }

    /// Whether a certificate with these names may pass.
    pub fn allows_names(&self, names: &CertNames) -> bool {
        let dns_ok = self.config.dns_names.iter().any(|pattern| {
            names
                .dns
                .iter()
                .any(|name| dns_matches(&pattern.to_ascii_lowercase(), name))
        });
        let uri_ok = self.config.uris.iter().any(|pattern| {
            names
                .uris
                .iter()
                .any(|uri| match pattern.strip_suffix('*') {
                    Some(prefix) => uri.starts_with(prefix),
                    None => uri == pattern,
                })
        });
        let cn_ok = self
            .config
            .common_names
            .iter()
            .any(|cn| names.common_names.contains(cn));
        dns_ok || uri_ok || cn_ok
    }
}

fn dns_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => name
            .split_once('.')
            .is_some_and(|(label, parent)| !label.is_empty() && parent == domain),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> CertNames {
        CertNames {
            dns: vec!["api.example.test".into()],
            uris: vec!["spiffe://example.test/ns/prod/sa/web".into()],
            common_names: vec!["client-one".into()],
        }
    }

    #[test]
    fn matches_each_kind() {
        let acl = |c: AclConfig| Acl::new(c).allows_names(&names());
        assert!(acl(AclConfig {
            dns_names: vec!["*.example.test".into()],
            ..Default::default()
        }));
        assert!(acl(AclConfig {
            uris: vec!["spiffe://example.test/ns/prod/*".into()],
            ..Default::default()
        }));
        assert!(acl(AclConfig {
            common_names: vec!["client-one".into()],
            ..Default::default()
        }));
        assert!(!acl(AclConfig {
            dns_names: vec!["other.example.test".into()],
            uris: vec!["spiffe://example.test/ns/dev/*".into()],
            common_names: vec!["client-two".into()],
        }));
    }

    #[test]
    fn reads_real_certificate() {
        let pki = tlswire_testkit::TestPki::new();
        let names = CertNames::from_der(&pki.client.cert()).unwrap();
        assert_eq!(names.dns, vec!["client.test".to_string()]);
        assert_eq!(names.common_names, vec!["client-one".to_string()]);
        assert!(!Acl::default().allows(None));
    }
}
