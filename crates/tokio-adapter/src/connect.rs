//! [`TlsConnector`] and [`TlsAcceptor`]: run a handshake over a transport, within a deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tlswire_core::rustls::{ClientConfig, ServerConfig};
use tlswire_core::{Limits, Session};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::conn::{now, Conn};
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
    // One pointer: tasks capture a clone per connection.
    inner: Arc<Settings<ClientConfig>>,
}

/// What a connector or acceptor starts sessions with.
#[derive(Debug)]
struct Settings<C> {
    config: Arc<C>,
    limits: Limits,
    eof_policy: EofPolicy,
}

// Not derived: a derive would require `C: Clone`, and only the `Arc` is cloned.
impl<C> Clone for Settings<C> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            limits: self.limits,
            eof_policy: self.eof_policy,
        }
    }
}

impl<C> Settings<C> {
    fn new(config: Arc<C>) -> Arc<Self> {
        Arc::new(Self {
            config,
            limits: Limits::default(),
            eof_policy: EofPolicy::default(),
        })
    }
}

impl TlsConnector {
    /// A connector with the core's default [`Limits`] (10 s handshake timeout) and
    /// [`EofPolicy::Strict`].
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Self {
            inner: Settings::new(config),
        }
    }

    /// Sets buffer limits and timeouts; `handshake_timeout` bounds [`connect`](Self::connect).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        Arc::make_mut(&mut self.inner).limits = limits;
        self
    }

    /// Sets what reads report when the server closes the transport without close_notify.
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        Arc::make_mut(&mut self.inner).eof_policy = policy;
        self
    }

    /// The rustls configuration used.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.inner.config
    }

    /// Runs a handshake with the server at the other end of `io`, verifying it as
    /// `server_name` (a DNS name, sent as SNI, or an IP address).
    ///
    /// Fails with `TimedOut` past the handshake timeout, `InvalidData` when the server is not
    /// trusted or speaks bad TLS (the core error is inside), `UnexpectedEof` when the server
    /// hangs up, `InvalidInput` for a server name that is neither a DNS name nor an IP.
    pub fn connect<IO>(&self, server_name: &str, io: IO) -> Handshake<IO>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let settings = &self.inner;
        match Session::client(settings.config.clone(), server_name) {
            Ok(session) => Handshake::new(
                session.with_limits(settings.limits),
                io,
                settings.eof_policy,
            ),
            Err(e) => Handshake::failed(e.into()),
        }
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
    // One pointer: tasks capture a clone per connection.
    inner: Arc<Settings<ServerConfig>>,
}

impl TlsAcceptor {
    /// An acceptor with the core's default [`Limits`] and [`EofPolicy::Strict`].
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            inner: Settings::new(config),
        }
    }

    /// Sets buffer limits and timeouts; `handshake_timeout` bounds [`accept`](Self::accept).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        Arc::make_mut(&mut self.inner).limits = limits;
        self
    }

    /// Sets what reads report when the client closes the transport without close_notify.
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        Arc::make_mut(&mut self.inner).eof_policy = policy;
        self
    }

    /// The rustls configuration used.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.inner.config
    }

    /// Runs a handshake with the client at the other end of `io`.
    ///
    /// 0-RTT data (when the configuration's `max_early_data_size` allows it) is readable from
    /// the returned stream first; [`TlsStream::received_early_data`] says whether any came.
    pub fn accept<IO>(&self, io: IO) -> Handshake<IO>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let settings = &self.inner;
        match Session::server(settings.config.clone()) {
            Ok(session) => Handshake::new(
                session.with_limits(settings.limits),
                io,
                settings.eof_policy,
            ),
            Err(e) => Handshake::failed(e.into()),
        }
    }
}

/// A TLS handshake in progress: the future [`TlsConnector::connect`] and
/// [`TlsAcceptor::accept`] return. It resolves to the established [`TlsStream`], or to the error
/// that ended the handshake (`TimedOut` once the [`Limits::handshake_timeout`] has passed).
///
/// It holds no more than the stream it becomes, so a task that awaits it stays small.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Handshake<IO> {
    state: HandshakeState<IO>,
}

// The running connection is the state that matters; boxing it would cost every handshake an
// allocation to save nothing (the stream it becomes is just as large).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum HandshakeState<IO> {
    Running(Conn<IO>),
    Failed(io::Error),
    Done,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Handshake<IO> {
    /// Starts `session`'s handshake clock and wraps it with `io`.
    pub(crate) fn new(mut session: Session, io: IO, eof_policy: EofPolicy) -> Self {
        session.handle_timeout(now());
        Self {
            state: HandshakeState::Running(Conn::new(io, session, eof_policy)),
        }
    }

    fn failed(error: io::Error) -> Self {
        Self {
            state: HandshakeState::Failed(error),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for Handshake<IO> {
    type Output = io::Result<TlsStream<IO>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let HandshakeState::Running(conn) = &mut this.state {
            std::task::ready!(conn.poll_handshake(cx))?;
        }
        match std::mem::replace(&mut this.state, HandshakeState::Done) {
            HandshakeState::Running(conn) => Poll::Ready(Ok(TlsStream::new(conn))),
            HandshakeState::Failed(e) => Poll::Ready(Err(e)),
            HandshakeState::Done => Poll::Ready(Err(io::Error::other(
                "TLS handshake future polled after it completed",
            ))),
        }
    }
}
