//! [`TlsConnector`] and [`TlsAcceptor`]: run a handshake, bounded by the session's handshake
//! timeout, and hand back a [`TlsStream`].

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use async_io::Timer;
use futures_io::{AsyncRead, AsyncWrite};
use tlswire_core::rustls::{ClientConfig, ServerConfig};
use tlswire_core::{Limits, Session};

use crate::conn::Conn;
use crate::{EofPolicy, TlsStream};

/// Drives `conn`'s handshake to completion or to the session's handshake deadline, which an
/// `async_io::Timer` watches (the core keeps no clock of its own).
pub(crate) async fn handshake<IO>(mut conn: Box<Conn<IO>>) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut timer: Option<(Instant, Timer)> = None;
    poll_fn(|cx| {
        if let Poll::Ready(result) = conn.poll_handshake(cx) {
            return Poll::Ready(result);
        }
        let Some(deadline) = conn.session.poll_timeout() else {
            return Poll::Pending;
        };
        if timer.as_ref().map(|(at, _)| *at) != Some(deadline) {
            timer = Some((deadline, Timer::at(deadline)));
        }
        if let Some((_, t)) = timer.as_mut() {
            if Pin::new(t).poll(cx).is_ready() {
                conn.session.handle_timeout(Instant::now());
                let e = conn
                    .session
                    .error()
                    .cloned()
                    .unwrap_or(tlswire_core::Error::HandshakeTimeout);
                return Poll::Ready(Err(e.into()));
            }
        }
        Poll::Pending
    })
    .await?;
    Ok(TlsStream::from_conn(conn))
}

/// Opens TLS client connections over futures-io transports.
///
/// ```no_run
/// # async fn run(config: std::sync::Arc<rustls::ClientConfig>) -> std::io::Result<()> {
/// use smol::io::{AsyncReadExt, AsyncWriteExt};
/// let tcp = smol::net::TcpStream::connect("127.0.0.1:4433").await?;
/// let mut tls = tlswire_smol::TlsConnector::new(config).connect("localhost", tcp).await?;
/// tls.write_all(b"ping\n").await?;
/// tls.flush().await?; // a partial record waits for flush (or the next read)
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
    /// A connector using `config` (build one with `tlswire_core::ClientOptions`).
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            limits: Limits::default(),
            eof_policy: EofPolicy::Strict,
        }
    }

    /// Buffer limits and the handshake timeout of the sessions this connector opens.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What reads report when the transport closes without close_notify; see the
    /// [crate docs](crate#unexpected-eof).
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        self.eof_policy = policy;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs a TLS handshake over `io`, verifying the server as `server_name` (a DNS name or
    /// an IP address). Fails with `TimedOut` after [`Limits::handshake_timeout`].
    pub async fn connect<IO>(&self, server_name: &str, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let mut session = Session::client(self.config.clone(), server_name)
            .map_err(io::Error::from)?
            .with_limits(self.limits);
        session.handle_timeout(Instant::now());
        let mut conn = Conn::new(io, session);
        conn.eof_policy = self.eof_policy;
        handshake(conn).await
    }
}

/// Accepts TLS server connections with one fixed configuration. To choose the certificate and
/// client authentication by SNI, or to serve plaintext on the same port, use
/// [`LazyAcceptor`](crate::LazyAcceptor).
///
/// ```no_run
/// # async fn run(config: std::sync::Arc<rustls::ServerConfig>) -> std::io::Result<()> {
/// let listener = smol::net::TcpListener::bind("127.0.0.1:4433").await?;
/// let acceptor = tlswire_smol::TlsAcceptor::new(config);
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let acceptor = acceptor.clone();
///     smol::spawn(async move {
///         let tls = acceptor.accept(tcp).await?;
///         let (reader, mut writer) = tls.into_split();
///         smol::io::copy(reader, &mut writer).await?;
///         smol::io::AsyncWriteExt::close(&mut writer).await
///     })
///     .detach();
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
    /// An acceptor using `config` (for example `Site::server_config()`).
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            limits: Limits::default(),
            eof_policy: EofPolicy::Strict,
        }
    }

    /// Buffer limits and the handshake timeout of the sessions this acceptor starts.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What reads report when the transport closes without close_notify.
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        self.eof_policy = policy;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the server side of a TLS handshake over `io`. Fails with `TimedOut` after
    /// [`Limits::handshake_timeout`], which also bounds a client that never speaks.
    pub async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let mut session = Session::server(self.config.clone())
            .map_err(io::Error::from)?
            .with_limits(self.limits);
        session.handle_timeout(Instant::now());
        let mut conn = Conn::new(io, session);
        conn.eof_policy = self.eof_policy;
        handshake(conn).await
    }
}
