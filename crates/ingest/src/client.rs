//! Client-side TLS: `tlswire send` (dicts to a daemon, the server certificate pinned) and the
//! daemon's own connection to a `rediss://` server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tlswire_core::rustls::ClientConfig;
use tlswire_core::{ClientOptions, ServerTrust};
use tlswire_tokio::{EofPolicy, TlsConnector};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::RedisTls;
use crate::framer::{Frame, Framer};
use crate::IngestError;

/// A client configuration trusting the certificates in `trust_file` (pinned, or as CAs) and
/// presenting `identity` when asked.
pub(crate) fn client_config(
    trust_file: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, IngestError> {
    // The old setup's self-signed `server.crt` is refused by webpki as `CaUsedAsEndEntity`,
    // so every certificate in the file is also pinned.
    let pins = tlswire_core::PinnedCerts::new(tlswire_core::load_certs(trust_file)?);
    let roots = Arc::new(tlswire_core::load_roots(trust_file)?);
    let mut options = ClientOptions::new(ServerTrust::PinnedOrRoots(pins, roots));
    if let Some((cert, key)) = identity {
        options = options.with_identity(tlswire_core::load_identity(cert, key)?);
    }
    Ok(options.build()?)
}

/// The TLS configuration for `rediss://`: the server verified against `redis_tls_ca` (CA
/// certificates, or the server's own certificate, pinned), and a client certificate when the
/// server asks for one.
pub(crate) fn redis_tls_config(files: &RedisTls) -> Result<Arc<ClientConfig>, IngestError> {
    let Some(ca) = &files.ca else {
        return Err(IngestError::InvalidSetting {
            key: "redis_tls_ca",
            value: String::new(),
            reason: "rediss:// needs the CA (or pinned server certificate) to trust".into(),
        });
    };
    let identity = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        (None, None) => None,
        (cert, _) => {
            return Err(IngestError::InvalidSetting {
                key: if cert.is_some() {
                    "redis_tls_key"
                } else {
                    "redis_tls_cert"
                },
                value: String::new(),
                reason: "redis_tls_cert and redis_tls_key go together".into(),
            })
        }
    };
    client_config(ca, identity)
}

/// What `tlswire send` does.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// `host:port` of the daemon.
    pub addr: String,
    /// Name to send as SNI (default: the host of `addr`).
    pub server_name: Option<String>,
    /// Client certificate.
    pub cert: PathBuf,
    /// Client key.
    pub key: PathBuf,
    /// The server's certificate, pinned (the old setup's self-signed `server.crt`), or the CA
    /// that signed it.
    pub server_cert: PathBuf,
    /// Wait for one ack line per payload (the daemon must run with `ack = true`).
    pub wait_for_acks: bool,
}

/// What came of a send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Payloads sent.
    pub sent: usize,
    /// Payloads the client itself refused to send (not valid JSON objects), with reasons.
    pub skipped: Vec<String>,
    /// Ack lines received (when waiting for acks).
    pub acks: Vec<String>,
}

/// Sends every JSON object in `input` (back to back or one per line) to the daemon.
pub async fn send(options: &SendOptions, input: &[u8]) -> Result<SendReport, IngestError> {
    let config = client_config(&options.server_cert, Some((&options.cert, &options.key)))?;
    let mut report = SendReport::default();
    let mut out = Vec::new();
    let mut framer = Framer::new(usize::MAX / 2);
    let mut on_frame = |frame: Frame<'_>| match frame {
        Frame::Payload(bytes) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(serde_json::Value::Object(_)) => {
                out.extend_from_slice(bytes);
                out.push(b'\n');
                report.sent += 1;
            }
            Ok(_) => report.skipped.push("not a JSON object".into()),
            Err(e) => report.skipped.push(format!("invalid JSON: {e}")),
        },
        Frame::Garbage { sample } => report.skipped.push(format!("not JSON: {sample:?}")),
        Frame::Truncated { size } => report
            .skipped
            .push(format!("input ends inside a {size}-byte value")),
        Frame::Oversized { size } => report.skipped.push(format!("{size} bytes: too large")),
    };
    framer.feed(input, &mut on_frame);
    framer.finish(&mut on_frame);
    let tcp = TcpStream::connect(&options.addr)
        .await
        .map_err(|e| IngestError::io(format!("cannot connect to {}", options.addr), e))?;
    let host = options.server_name.clone().unwrap_or_else(|| {
        let host = options
            .addr
            .rsplit_once(':')
            .map_or(options.addr.as_str(), |(h, _)| h);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    let tls = TlsConnector::new(config)
        .with_eof_policy(EofPolicy::Lenient)
        .connect(&host, tcp)
        .await
        .map_err(|e| IngestError::io(format!("TLS handshake with {}", options.addr), e))?;
    let (reader, mut writer) = tls.into_split();
    // In TLS 1.3 a server that refuses our certificate says so after the handshake, so the
    // refusal shows up as a failed write or read.
    let failed = |e| {
        IngestError::io(
            format!(
                "sending to {} (if this is the first write, the server may have refused this client's certificate)",
                options.addr
            ),
            e,
        )
    };
    writer.write_all(&out).await.map_err(failed)?;
    writer.flush().await.map_err(failed)?;
    if options.wait_for_acks {
        let mut lines = BufReader::new(reader).lines();
        while report.acks.len() < report.sent {
            match lines.next_line().await.map_err(failed)? {
                Some(line) => report.acks.push(line),
                None => break,
            }
        }
    }
    writer.shutdown().await.map_err(failed)?;
    Ok(report)
}
