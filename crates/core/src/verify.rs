//! Certificate verifiers that pin exact certificates instead of building chains.
//!
//! Self-signed certificates made with `openssl req -x509` carry `CA:TRUE`, which webpki refuses
//! as an end-entity certificate (`CaUsedAsEndEntity`). Users who distribute such certificates
//! out of band want an exact match, plus proof that the peer holds the key: the handshake
//! signature is still checked with the pinned certificate's public key.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use crate::provider;

/// A set of certificates accepted by exact (DER) match.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PinnedCerts {
    certs: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for PinnedCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedCerts({} certificates)", self.certs.len())
    }
}

impl PinnedCerts {
    /// Pins exactly these certificates.
    pub fn new(certs: Vec<CertificateDer<'static>>) -> Self {
        Self { certs }
    }

    /// Whether `cert` is one of the pinned certificates.
    pub fn contains(&self, cert: &CertificateDer<'_>) -> bool {
        self.certs.iter().any(|c| c.as_ref() == cert.as_ref())
    }

    /// How many certificates are pinned.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether nothing is pinned (every peer is refused).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The pinned certificates.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

#[derive(Debug)]
struct NotPinned(&'static str);

impl fmt::Display for NotPinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} certificate is not in the pinned set", self.0)
    }
}

impl std::error::Error for NotPinned {}

fn not_pinned(side: &'static str) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(NotPinned(
        side,
    )))))
}

/// The three signature methods every verifier here shares: a pin or a skipped chain check still
/// requires the peer to prove it holds the certificate's key.
macro_rules! check_handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    provider().signature_verification_algorithms
}

/// Accepts a client only if its end-entity certificate is pinned; what
/// [`ClientAuth::Pinned`](crate::ClientAuth::Pinned) installs. Public for products that build
/// their own rustls configurations.
#[derive(Debug)]
pub struct PinnedClientVerifier {
    pins: PinnedCerts,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientVerifier {
    /// Accepts exactly the certificates in `pins`.
    pub fn new(pins: PinnedCerts) -> Self {
        Self {
            pins,
            algorithms: algorithms(),
        }
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.pins.contains(end_entity) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(not_pinned("client"))
        }
    }

    check_handshake_signatures!();
}

/// Accepts a server only if its end-entity certificate is pinned; the name is not checked,
/// since the pin already names exactly one certificate. What
/// [`ServerTrust::Pinned`](crate::ServerTrust::Pinned) installs; with a fallback
/// ([`or_else`](Self::or_else)), what [`ServerTrust::PinnedOrRoots`](crate::ServerTrust::PinnedOrRoots)
/// installs.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    pins: PinnedCerts,
    /// Judges a certificate that is not pinned; without it such a certificate is refused.
    fallback: Option<Arc<dyn ServerCertVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedServerVerifier {
    /// Accepts exactly the certificates in `pins`.
    pub fn new(pins: PinnedCerts) -> Self {
        Self {
            pins,
            fallback: None,
            algorithms: algorithms(),
        }
    }

    /// Hands a certificate that is not pinned to `fallback` (a chain check, say) instead of
    /// refusing it.
    #[must_use]
    pub fn or_else(mut self, fallback: Arc<dyn ServerCertVerifier>) -> Self {
        self.fallback = Some(fallback);
        self
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.contains(end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.fallback {
            Some(fallback) => fallback.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(not_pinned("server")),
        }
    }

    check_handshake_signatures!();
}

/// Accepts any server certificate (handshake signatures are still checked). Only for tests and
/// load generation against throwaway servers: it gives no security at all. What
/// [`ServerTrust::DangerousAcceptAnyCertificate`](crate::ServerTrust::DangerousAcceptAnyCertificate)
/// installs.
#[derive(Debug)]
pub struct DangerousAcceptAnyServer {
    algorithms: WebPkiSupportedAlgorithms,
}

impl DangerousAcceptAnyServer {
    /// Accepts every server certificate.
    pub fn new() -> Self {
        Self {
            algorithms: algorithms(),
        }
    }
}

impl ServerCertVerifier for DangerousAcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    check_handshake_signatures!();
}

impl Default for DangerousAcceptAnyServer {
    fn default() -> Self {
        Self::new()
    }
}
