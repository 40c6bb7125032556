//! What the measurements share: the libraries compared, their configurations, and one way to
//! connect and accept with each.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};
use tlswire_core::{
    load_identity, load_roots, ClientOptions, ReloadableIdentity, ServerTrust, Site, SiteOptions,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The handshake timeout: tlswire-tokio's default, and what the timeout variant of
/// tokio-rustls is given.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A stream of any of the libraries, so every measurement runs the same code for each.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

pub(crate) type BoxStream = Box<dyn Stream>;

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lib {
    Tlswire,
    TokioRustls,
    /// tokio-rustls with `tokio::time::timeout` around each handshake, as a server needs
    /// against silent peers; tlswire-tokio has that timeout built in.
    TokioRustlsWithTimeout,
    /// TCP without TLS: the baseline that shows how much of a figure is TLS.
    PlainTcp,
}

impl Lib {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tlswire => "tlswire-tokio",
            Self::TokioRustls => "tokio-rustls",
            Self::TokioRustlsWithTimeout => "tokio-rustls+timeout",
            Self::PlainTcp => "plain-tcp",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [
            Self::Tlswire,
            Self::TokioRustls,
            Self::TokioRustlsWithTimeout,
            Self::PlainTcp,
        ]
        .into_iter()
        .find(|l| l.name() == s)
    }
}

/// Both libraries use the very same rustls configurations (aws-lc-rs, TLS 1.3 preferred,
/// the test PKI's ECDSA P-256 server certificate), so the comparison is of the drivers.
#[derive(Clone)]
pub(crate) struct Configs {
    pub(crate) server: Arc<ServerConfig>,
    /// Resumption off: every handshake is a full one.
    pub(crate) client_full: Arc<ClientConfig>,
    /// Resumption on (TLS 1.3 tickets).
    pub(crate) client_resuming: Arc<ClientConfig>,
}

impl Configs {
    /// Loads the certificates that `TestPki::write_all` wrote into `dir`.
    pub(crate) fn load(dir: &Path) -> Self {
        let identity =
            load_identity(dir.join("server.crt"), dir.join("server.key")).expect("server identity");
        let site =
            Site::new(ReloadableIdentity::new(identity), SiteOptions::default()).expect("site");
        let roots = Arc::new(load_roots(dir.join("ca.crt")).expect("CA"));
        let client = |resumption| {
            ClientOptions::new(ServerTrust::Roots(roots.clone()))
                .with_resumption(resumption)
                .build()
                .expect("client config")
        };
        Self {
            server: site.server_config(),
            client_full: client(false),
            client_resuming: client(true),
        }
    }
}

/// The server side of one connection, handshake done.
pub(crate) async fn accept(
    lib: Lib,
    server: &Arc<ServerConfig>,
    tcp: TcpStream,
) -> io::Result<BoxStream> {
    tcp.set_nodelay(true)?;
    Ok(match lib {
        Lib::Tlswire => Box::new(
            tlswire_tokio::TlsAcceptor::new(server.clone())
                .accept(tcp)
                .await?,
        ),
        Lib::TokioRustls => Box::new(
            tokio_rustls::TlsAcceptor::from(server.clone())
                .accept(tcp)
                .await?,
        ),
        Lib::TokioRustlsWithTimeout => {
            let accept = tokio_rustls::TlsAcceptor::from(server.clone()).accept(tcp);
            Box::new(
                tokio::time::timeout(HANDSHAKE_TIMEOUT, accept)
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??,
            )
        }
        Lib::PlainTcp => Box::new(tcp),
    })
}

/// The client side of one connection, handshake done; also says whether it resumed.
pub(crate) async fn connect(
    lib: Lib,
    client: &Arc<ClientConfig>,
    addr: std::net::SocketAddr,
) -> io::Result<(BoxStream, bool)> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(match lib {
        Lib::Tlswire => {
            let tls = tlswire_tokio::TlsConnector::new(client.clone())
                .connect("localhost", tcp)
                .await?;
            let resumed = tls.peer().handshake_kind == Some(rustls::HandshakeKind::Resumed);
            (Box::new(tls), resumed)
        }
        Lib::TokioRustls | Lib::TokioRustlsWithTimeout => {
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let connect = tokio_rustls::TlsConnector::from(client.clone()).connect(name, tcp);
            let tls = if lib == Lib::TokioRustlsWithTimeout {
                tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??
            } else {
                connect.await?
            };
            let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            (Box::new(tls), resumed)
        }
        Lib::PlainTcp => (Box::new(tcp), false),
    })
}

/// Median of a few measurements.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
