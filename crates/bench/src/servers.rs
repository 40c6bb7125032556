//! The servers the load generator is measured against: echo, sink and source behaviours over
//! tlswire, over tokio-rustls or plain TCP, and a TLS terminator in front of a plain backend
//! (tlswire's counterpart to stunnel and haproxy in TCP mode).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a server does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Writes back what it reads.
    Echo,
    /// Reads and discards.
    Sink,
    /// Writes as fast as it can until the client goes away.
    Source,
}

impl std::str::FromStr for Behavior {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "echo" => Ok(Self::Echo),
            "sink" => Ok(Self::Sink),
            "source" => Ok(Self::Source),
            other => Err(format!(
                "unknown behaviour {other:?} (use echo, sink or source)"
            )),
        }
    }
}

/// Which TLS implementation terminates.
#[derive(Debug, Clone)]
pub enum ServerTls {
    /// tlswire (the tokio adapter over tlswire-core).
    Tlswire(Arc<ServerConfig>),
    /// tokio-rustls, the peer tlswire is compared with.
    TokioRustls(Arc<ServerConfig>),
    /// Plain TCP.
    None,
}

/// A server configuration from PEM files, built by tlswire-core, with stateless session
/// tickets when `tickets` is set (TLS 1.2 session IDs are served from rustls's in-memory
/// cache either way).
pub fn server_config(
    cert: &Path,
    key: &Path,
    tickets: bool,
) -> Result<Arc<ServerConfig>, tlswire_core::ConfigError> {
    let identity =
        tlswire_core::ReloadableIdentity::from_files(tlswire_core::IdentityFiles::new(cert, key))?;
    let mut options = tlswire_core::SiteOptions::default();
    if tickets {
        let ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| tlswire_core::ConfigError::Verifier(format!("ticketer: {e}")))?;
        options = options.with_ticketer(ticketer);
    }
    let site = tlswire_core::Site::new(identity, options)?;
    Ok(site.server_config())
}

/// Accepts on `listener` forever, serving each connection with `behavior` over `tls`.
pub async fn serve(listener: TcpListener, tls: ServerTls, behavior: Behavior) -> io::Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_one(tcp, tls, behavior).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn serve_one(tcp: TcpStream, tls: ServerTls, behavior: Behavior) -> io::Result<()> {
    match tls {
        ServerTls::None => run_behavior(tcp, behavior).await,
        ServerTls::TokioRustls(config) => {
            let stream = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
            run_behavior(stream, behavior).await
        }
        ServerTls::Tlswire(config) => {
            let stream = tlswire_accept(config, tcp).await?;
            run_behavior(stream, behavior).await
        }
    }
}

/// The tlswire server side: tlswire's tokio adapter.
async fn tlswire_accept(
    config: Arc<ServerConfig>,
    tcp: TcpStream,
) -> io::Result<tlswire_tokio::TlsStream<TcpStream>> {
    tlswire_tokio::TlsAcceptor::new(config).accept(tcp).await
}

async fn run_behavior<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    behavior: Behavior,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    match behavior {
        Behavior::Echo => loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).await?;
            stream.flush().await?;
        },
        Behavior::Sink => loop {
            if stream.read(&mut buf).await? == 0 {
                break;
            }
        },
        Behavior::Source => {
            buf.fill(0xa5);
            loop {
                stream.write_all(&buf[..16 * 1024]).await?;
            }
        }
    }
    stream.shutdown().await
}

/// Accepts TLS on `listener` and relays the plaintext to `backend` (a plain server).
pub async fn terminate(
    listener: TcpListener,
    tls: ServerTls,
    backend: SocketAddr,
) -> io::Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = async {
                let mut upstream = TcpStream::connect(backend).await?;
                let _ = upstream.set_nodelay(true);
                match tls {
                    ServerTls::None => {
                        let mut tcp = tcp;
                        tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await
                    }
                    ServerTls::TokioRustls(config) => {
                        let mut stream =
                            tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
                        tokio::io::copy_bidirectional(&mut stream, &mut upstream).await
                    }
                    ServerTls::Tlswire(config) => {
                        let mut stream = tlswire_accept(config, tcp).await?;
                        tokio::io::copy_bidirectional(&mut stream, &mut upstream).await
                    }
                }
            }
            .await;
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "relay ended with an error");
            }
        });
    }
}
