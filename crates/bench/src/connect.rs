//! Opening one connection to the target (TCP, then TLS unless the run is plain) and naming the
//! cause when that fails, so failures are counted by cause while the run goes on.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A connection: plain TCP or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed connection.
pub type BoxStream = Box<dyn Stream>;

/// Where to connect and how.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resolved address.
    pub addr: SocketAddr,
    /// `HOST:PORT` as given, for reports.
    pub display: String,
    /// The server name sent as SNI and checked in the certificate.
    pub server_name: String,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<Arc<ClientConfig>>,
    /// How long one connect plus handshake may take.
    pub connect_timeout: Duration,
}

/// Why `target` could not be resolved or named.
#[derive(Debug)]
#[non_exhaustive]
pub enum TargetError {
    /// `HOST:PORT` could not be resolved.
    Resolve {
        /// The target as given.
        target: String,
        /// The resolver's reason.
        source: io::Error,
    },
    /// The name for SNI is not a DNS name or an IP address.
    ServerName(String),
}

impl std::fmt::Display for TargetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Resolve { target, source } => write!(f, "cannot resolve {target}: {source}"),
            Self::ServerName(name) => {
                write!(
                    f,
                    "{name:?} is not a valid server name (DNS name or IP address)"
                )
            }
        }
    }
}

impl std::error::Error for TargetError {}

impl Target {
    /// Resolves `host:port` once (so a run measures connections, not DNS); the server name is
    /// `sni` or else the host part.
    pub async fn resolve(
        target: &str,
        sni: Option<&str>,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<Self, TargetError> {
        let resolve_error = |source| TargetError::Resolve {
            target: target.to_owned(),
            source,
        };
        let addr = tokio::net::lookup_host(target)
            .await
            .map_err(resolve_error)?
            .next()
            .ok_or_else(|| {
                resolve_error(io::Error::new(io::ErrorKind::NotFound, "no addresses"))
            })?;
        let host = match sni {
            Some(name) => name.to_owned(),
            None => target
                .rsplit_once(':')
                .map_or(target, |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        };
        if ServerName::try_from(host.as_str()).is_err() {
            return Err(TargetError::ServerName(host));
        }
        Ok(Self {
            addr,
            display: target.to_owned(),
            server_name: host,
            tls,
            connect_timeout: Duration::from_secs(10),
        })
    }
}

/// What the handshake negotiated.
#[derive(Debug, Clone, Copy, Default)]
pub struct Handshake {
    /// The session was resumed (abbreviated handshake).
    pub resumed: bool,
    /// The connection is TLS (false for plain runs).
    pub tls: bool,
}

/// A failed connection attempt, by cause.
#[derive(Debug)]
pub struct ConnectFailure {
    /// A short, stable cause used as the key when counting.
    pub cause: String,
}

/// Connects and completes the TLS handshake.
pub async fn connect(target: &Target) -> Result<(BoxStream, Handshake), ConnectFailure> {
    let attempt = async {
        let tcp = TcpStream::connect(target.addr)
            .await
            .map_err(|e| ConnectFailure {
                cause: connect_cause(&e),
            })?;
        let _ = tcp.set_nodelay(true);
        match &target.tls {
            None => Ok((Box::new(tcp) as BoxStream, Handshake::default())),
            Some(config) => tls_handshake(config.clone(), &target.server_name, tcp)
                .await
                .map_err(|e| ConnectFailure {
                    cause: handshake_cause(&e),
                }),
        }
    };
    match tokio::time::timeout(target.connect_timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ConnectFailure {
            cause: "connect+handshake: timed out".into(),
        }),
    }
}

/// The TLS client: tlswire's tokio adapter.
async fn tls_handshake(
    config: Arc<ClientConfig>,
    name: &str,
    tcp: TcpStream,
) -> io::Result<(BoxStream, Handshake)> {
    let stream = tlswire_tokio::TlsConnector::new(config)
        .connect(name, tcp)
        .await?;
    let resumed = matches!(
        stream.peer().handshake_kind,
        Some(rustls::HandshakeKind::Resumed)
    );
    Ok((Box::new(stream), Handshake { resumed, tls: true }))
}

fn connect_cause(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        io::ErrorKind::TimedOut => "connect: timed out".into(),
        io::ErrorKind::AddrNotAvailable => "connect: no local port available".into(),
        io::ErrorKind::PermissionDenied => "connect: permission denied".into(),
        _ => format!("connect: {e}"),
    }
}

/// Names the cause of a failed handshake.
pub fn handshake_cause(e: &io::Error) -> String {
    if let Some(tls) = rustls_error(e) {
        return match tls {
            rustls::Error::InvalidCertificate(c) => {
                format!("handshake: bad server certificate ({c:?})")
            }
            rustls::Error::AlertReceived(alert) => {
                format!("handshake: refused by server (alert {alert:?})")
            }
            other => format!("handshake: {other}"),
        };
    }
    if let Some(core) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<tlswire_core::Error>())
    {
        if let tlswire_core::Error::EofDuringHandshake = core {
            return "handshake: closed by server".into();
        }
        return format!("handshake: {core}");
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "handshake: closed by server".into(),
        io::ErrorKind::ConnectionReset => "handshake: connection reset".into(),
        _ => format!("handshake: {e}"),
    }
}

/// Names the cause of an I/O failure after the handshake.
pub fn io_cause(stage: &str, e: &io::Error) -> String {
    if let Some(tls) = rustls_error(e) {
        return format!("{stage}: TLS error: {tls}");
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => format!("{stage}: closed by server"),
        io::ErrorKind::ConnectionReset => format!("{stage}: connection reset"),
        io::ErrorKind::BrokenPipe => format!("{stage}: broken pipe"),
        io::ErrorKind::TimedOut => format!("{stage}: timed out"),
        _ => format!("{stage}: {e}"),
    }
}

fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    let inner = e.get_ref()?;
    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    match inner.downcast_ref::<tlswire_core::Error>() {
        Some(tlswire_core::Error::Tls(tls)) => Some(tls),
        _ => None,
    }
}
