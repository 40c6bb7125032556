//! [`TlsConnector`] and [`TlsAcceptor`]: run a handshake over a transport, within a deadline.

use std::io;
use std::sync::Arc;

use tlswire_core::rustls::{ClientConfig, ServerConfig};
use tlswire_core::{Limits, Session};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::conn::{now, Conn};
use crate::error::to_io;
use crate::{EofPolicy, TlsStream};

/// Opens client TLS connections over any tokio transport.
///
/// ```no_run
/// # async fn run(config: std::sync::Arc<tlswire_core::rustls::ClientConfig>) -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let connector = tlswire_tokio::TlsConnector::new(config);
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:4433").await?;
/// let mut tls = connector.connect("localhost", tcp).await?;
/// tls.write_all(b"hello").await?;
/// tls.flush().await?;
/// let mut reply = Vec::new();
/// tls.read_to_end(&mut reply).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    limits: Limits,
    eof_policy: EofPolicy,
}

impl TlsConnector {
    /// A connector with the core's default [`Limits`] (10 s handshake timeout) and
    /// [`EofPolicy::Strict`].
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            limits: Limits::default(),
            eof_policy: EofPolicy::default(),
        }
    }

    /// Sets buffer limits and timeouts; `handshake_timeout` bounds [`connect`](Self::connect).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets what reads report when the server closes the transport without close_notify.
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        self.eof_policy = policy;
        self
    }

    /// The rustls configuration used.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs a handshake with the server at the other end of `io`, verifying it as
    /// `server_name` (a DNS name, sent as SNI, or an IP address).
    ///
    /// Fails with `TimedOut` past the handshake timeout, `InvalidData` when the server is not
    /// trusted or speaks bad TLS (the core error is inside), `UnexpectedEof` when the server
    /// hangs up, `InvalidInput` for a server name that is neither a DNS name nor an IP.
    pub async fn connect<IO>(&self, server_name: &str, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let session = Session::client(self.config.clone(), server_name)
            .map_err(to_io)?
            .with_limits(self.limits);
        handshake(session, io, self.eof_policy).await
    }
}

/// Accepts server TLS connections with one fixed configuration.
///
/// To pick the certificate and client authentication by SNI, or to serve plaintext on the
/// same port, use [`LazyAcceptor`](crate::LazyAcceptor).
///
/// ```no_run
/// # async fn run(config: std::sync::Arc<tlswire_core::rustls::ServerConfig>) -> std::io::Result<()> {
/// let acceptor = tlswire_tokio::TlsAcceptor::new(config);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:4433").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let acceptor = acceptor.clone();
///     tokio::spawn(async move {
///         let mut tls = acceptor.accept(tcp).await?;
///         let (mut r, mut w) = tokio::io::split(&mut tls);
///         tokio::io::copy(&mut r, &mut w).await?;
///         tokio::io::AsyncWriteExt::shutdown(&mut tls).await
///     });
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    limits: Limits,
    eof_policy: EofPolicy,
}

impl TlsAcceptor {
    /// An acceptor with the core's default [`Limits`] and [`EofPolicy::Strict`].
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            limits: Limits::default(),
            eof_policy: EofPolicy::default(),
        }
    }

    /// Sets buffer limits and timeouts; `handshake_timeout` bounds [`accept`](Self::accept).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets what reads report when the client closes the transport without close_notify.
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        self.eof_policy = policy;
        self
    }

    /// The rustls configuration used.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs a handshake with the client at the other end of `io`.
    ///
    /// 0-RTT data (when the configuration's `max_early_data_size` allows it) is readable from
    /// the returned stream first; [`TlsStream::received_early_data`] says whether any came.
    pub async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let session = Session::server(self.config.clone())
            .map_err(to_io)?
            .with_limits(self.limits);
        handshake(session, io, self.eof_policy).await
    }
}

/// Drives `session`'s handshake over `io` within the session's handshake timeout.
pub(crate) async fn handshake<IO>(
    mut session: Session,
    io: IO,
    eof_policy: EofPolicy,
) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    session.handle_timeout(now());
    let deadline = session.poll_timeout();
    let mut conn = Conn::new(io, session, eof_policy);
    let run = std::future::poll_fn(|cx| conn.poll_handshake(cx));
    match deadline {
        Some(deadline) => {
            tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), run)
                .await
                .map_err(|_| to_io(tlswire_core::Error::HandshakeTimeout))??;
        }
        None => run.await?,
    }
    Ok(TlsStream::new(conn))
}
