//! The daemon's TLS configuration: its certificate, and client authentication by pinned
//! certificates (`client_certs.crt`, the old daemon's setup) or by CA.
//!
//! The client verifier also notes the subject of a certificate it refuses, so the refusal
//! can be logged with who tried: the note goes to the connection's task through a task-local.

use std::sync::{Arc, Mutex, PoisonError};

use tlswire_core::rustls::client::danger::HandshakeSignatureValid;
use tlswire_core::rustls::pki_types::{CertificateDer, UnixTime};
use tlswire_core::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tlswire_core::rustls::server::WebPkiClientVerifier;
use tlswire_core::rustls::{
    self, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};
use tlswire_core::{PinnedClientVerifier, ReloadableIdentity};

use crate::config::ClientAuthFile;
use crate::IngestError;

tokio::task_local! {
    /// The subject of a client certificate refused during this task's handshake.
    pub(crate) static REFUSED_SUBJECT: Arc<Mutex<Option<String>>>;
}

/// The subject of a certificate as text (`CN=x, O=…`), or a note saying it cannot be read.
pub fn subject_of(cert: &CertificateDer<'_>) -> String {
    match x509_parser::parse_x509_certificate(cert.as_ref()) {
        Ok((_, parsed)) => parsed.subject().to_string(),
        Err(_) => "<unparseable certificate>".to_owned(),
    }
}

/// Checks client certificates with `inner` (pinned, or by CA) and notes the subject of each
/// refused one.
#[derive(Debug)]
struct NotingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for NotingVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let result = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        if result.is_err() {
            let subject = subject_of(end_entity);
            let _ = REFUSED_SUBJECT.try_with(|note| {
                *note.lock().unwrap_or_else(PoisonError::into_inner) = Some(subject);
            });
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Builds the daemon's server configuration from its files.
pub fn server_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_auth: &ClientAuthFile,
) -> Result<Arc<ServerConfig>, IngestError> {
    let identity = ReloadableIdentity::from_files(tlswire_core::IdentityFiles::new(cert, key))?;
    let provider = Arc::new(tlswire_core::provider());
    let inner: Arc<dyn ClientCertVerifier> = match client_auth {
        ClientAuthFile::Pinned(path) => {
            Arc::new(PinnedClientVerifier::new(tlswire_core::load_pinned(path)?))
        }
        ClientAuthFile::Ca(path) => {
            let roots = Arc::new(tlswire_core::load_roots(path)?);
            WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| IngestError::InvalidSetting {
                    key: "client_ca",
                    value: path.display().to_string(),
                    reason: e.to_string(),
                })?
        }
    };
    let verifier = NotingVerifier { inner };
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tlswire_core::ConfigError::from)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(identity);
    Ok(Arc::new(config))
}

/// A short cause for the handshake-failure metric, from the adapter's error text.
pub(crate) fn failure_cause(error: &std::io::Error) -> &'static str {
    let text = error.to_string().to_ascii_lowercase();
    if error.kind() == std::io::ErrorKind::TimedOut || text.contains("timed out") {
        "timeout"
    } else if text.contains("no certificate") || text.contains("nocertificatespresented") {
        "no_client_certificate"
    } else if text.contains("certificate") {
        "client_certificate_refused"
    } else if error.kind() == std::io::ErrorKind::UnexpectedEof || text.contains("eof") {
        "client_disconnected"
    } else if text.contains("alert") {
        "alert_received"
    } else {
        "protocol_error"
    }
}
