//! A throwaway PKI: a CA, server and client certificates, and the broken variants tests need.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use tlswire_core::{
    ClientAuth, ClientOptions, PinnedCerts, ReloadableIdentity, ServerTrust, Site, SiteOptions,
};

/// A certificate (with its chain) and private key, as DER and PEM.
#[derive(Clone)]
pub struct TestIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestIdentity {
    pub fn cert(&self) -> CertificateDer<'static> {
        self.chain[0].clone()
    }

    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    pub fn certified_key(&self) -> CertifiedKey {
        tlswire_core::certified_key(
            self.chain.clone(),
            self.key(),
            Path::new("cert"),
            Path::new("key"),
        )
        .expect("test identity is consistent")
    }

    /// Writes `NAME.crt` (the chain) and `NAME.key` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A CA with a server certificate and client certificates, plus certificates that must fail.
pub struct TestPki {
    pub ca: TestIdentity,
    /// Valid for `localhost`, `127.0.0.1` and `*.example.test`, signed by `ca`.
    pub server: TestIdentity,
    /// Signed by `ca`, for client authentication.
    pub client: TestIdentity,
    /// A second client signed by `ca`.
    pub client2: TestIdentity,
    /// Signed by an unrelated CA.
    pub stranger_client: TestIdentity,
    /// Self-signed with `CA:TRUE`, as `openssl req -x509` makes them (for pinning).
    pub self_signed_client: TestIdentity,
    /// Signed by `ca`, but expired.
    pub expired_server: TestIdentity,
    /// Signed by `ca`, for `wrong.invalid` only.
    pub wrong_name_server: TestIdentity,
    ca_issuer: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn identity(
    cert: &rcgen::Certificate,
    key: &KeyPair,
    chain_tail: &[CertificateDer<'static>],
    tail_pem: &str,
) -> TestIdentity {
    let mut chain = vec![cert.der().clone()];
    chain.extend_from_slice(chain_tail);
    TestIdentity {
        chain,
        key_der: key.serialize_der(),
        cert_pem: format!("{}{}", cert.pem(), tail_pem),
        key_pem: key.serialize_pem(),
    }
}

impl TestPki {
    pub fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params("tlswire test CA").self_signed(&ca_key).unwrap();
        let ca = identity(&ca_cert, &ca_key, &[], "");
        let ca_issuer = Issuer::new(ca_params("tlswire test CA"), ca_key);

        let server = Self::leaf_with(
            &ca_issuer,
            &["localhost", "127.0.0.1", "*.example.test"],
            "localhost",
            true,
            None,
        );
        let client = Self::leaf_with(&ca_issuer, &["client.test"], "client-one", false, None);
        let client2 = Self::leaf_with(&ca_issuer, &["client2.test"], "client-two", false, None);
        let expired_server = Self::leaf_with(
            &ca_issuer,
            &["localhost"],
            "expired",
            true,
            Some((2000, 2001)),
        );
        let wrong_name_server =
            Self::leaf_with(&ca_issuer, &["wrong.invalid"], "wrong", true, None);

        let stranger_key = KeyPair::generate().unwrap();
        let stranger_issuer = Issuer::new(ca_params("stranger CA"), stranger_key);
        let stranger_client = Self::leaf_with(
            &stranger_issuer,
            &["stranger.test"],
            "stranger",
            false,
            None,
        );

        let self_key = KeyPair::generate().unwrap();
        let mut self_params = CertificateParams::new(vec!["pinned-client".to_string()]).unwrap();
        self_params
            .distinguished_name
            .push(DnType::CommonName, "pinned-client");
        self_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let self_cert = self_params.self_signed(&self_key).unwrap();
        let self_signed_client = identity(&self_cert, &self_key, &[], "");

        Self {
            ca,
            server,
            client,
            client2,
            stranger_client,
            self_signed_client,
            expired_server,
            wrong_name_server,
            ca_issuer,
        }
    }

    fn leaf_with(
        issuer: &Issuer<'static, KeyPair>,
        names: &[&str],
        cn: &str,
        server: bool,
        years: Option<(i32, i32)>,
    ) -> TestIdentity {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::NoCa;
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if let Some((from, to)) = years {
            params.not_before = rcgen::date_time_ymd(from, 1, 1);
            params.not_after = rcgen::date_time_ymd(to, 1, 1);
        }
        let cert = params.signed_by(&key, issuer).unwrap();
        identity(&cert, &key, &[], "")
    }

    /// Another server certificate signed by this CA, for other names.
    pub fn server_for(&self, names: &[&str]) -> TestIdentity {
        Self::leaf_with(
            &self.ca_issuer,
            names,
            names.first().copied().unwrap_or("server"),
            true,
            None,
        )
    }

    /// Another client certificate signed by this CA.
    pub fn client_named(&self, cn: &str) -> TestIdentity {
        Self::leaf_with(&self.ca_issuer, &[cn], cn, false, None)
    }

    pub fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.cert()).unwrap();
        Arc::new(roots)
    }

    /// A site serving `identity` with the given client-auth mode and ALPN.
    pub fn site(
        &self,
        identity: &TestIdentity,
        client_auth: ClientAuth,
        alpn: &[&str],
    ) -> Arc<Site> {
        Site::new(
            ReloadableIdentity::new(identity.certified_key()),
            SiteOptions::default()
                .with_client_auth(client_auth)
                .with_alpn(alpn.iter().copied()),
        )
        .unwrap()
    }

    /// A server config with the server certificate and no client auth.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.site(&self.server, ClientAuth::None, &[])
            .server_config()
    }

    /// A server config requiring clients signed by the CA.
    pub fn mtls_server_config(&self) -> Arc<rustls::ServerConfig> {
        self.site(&self.server, ClientAuth::Required(self.roots()), &[])
            .server_config()
    }

    /// A client config trusting the CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        ClientOptions::new(ServerTrust::Roots(self.roots()))
            .build()
            .unwrap()
    }

    /// A client config trusting the CA and presenting `identity`.
    pub fn client_config_with(&self, identity: &TestIdentity) -> Arc<rustls::ClientConfig> {
        ClientOptions::new(ServerTrust::Roots(self.roots()))
            .with_identity(identity.certified_key())
            .build()
            .unwrap()
    }

    pub fn pinned(&self, identities: &[&TestIdentity]) -> PinnedCerts {
        PinnedCerts::new(identities.iter().map(|i| i.cert()).collect())
    }

    /// Writes `ca.crt`, `server.crt/.key`, `client.crt/.key` and the others into `dir`.
    pub fn write_all(&self, dir: &Path) {
        self.ca.write(dir, "ca");
        self.server.write(dir, "server");
        self.client.write(dir, "client");
        self.client2.write(dir, "client2");
        self.stranger_client.write(dir, "stranger");
        self.self_signed_client.write(dir, "self_signed_client");
        self.expired_server.write(dir, "expired");
        self.wrong_name_server.write(dir, "wrong_name");
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}
