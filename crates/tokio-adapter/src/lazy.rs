//! [`LazyAcceptor`]: one listener for plaintext, TLS and mutual TLS, decided by the first bytes
//! and the client's SNI.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tlswire_core::{Accept, AcceptPolicy, Decision, Rejection};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::conn::now;
use crate::connect::Handshake;
use crate::{AcceptError, EofPolicy, TlsStream};

/// Bytes read per call while sniffing; a ClientHello usually fits in one.
const SNIFF_CHUNK: usize = 4 * 1024;

/// Reads a connection's first bytes and decides: plaintext (if the policy allows it), or a TLS
/// handshake with the site that the client's SNI selects — its certificate, its client
/// authentication mode (none, optional, required, pinned) and its ALPN protocols.
///
/// The handshake timeout of the policy's [`Limits`](tlswire_core::Limits) covers the whole
/// accept, sniffing included, so a client that connects and says nothing is dropped in time.
///
/// ```no_run
/// # async fn run(policy: std::sync::Arc<tlswire_core::AcceptPolicy>) -> std::io::Result<()> {
/// use tlswire_tokio::{Accepted, LazyAcceptor};
/// let acceptor = LazyAcceptor::new(policy);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// loop {
///     let (tcp, addr) = listener.accept().await?;
///     let acceptor = acceptor.clone();
///     tokio::spawn(async move {
///         match acceptor.accept(tcp).await {
///             Ok(Accepted::Plaintext(plain)) => { /* serve plain, sniffed bytes replayed */ }
///             Ok(Accepted::Tls(tls)) => println!("{addr}: TLS for {:?}", tls.peer().sni),
///             Err(e) => eprintln!("{addr}: refused: {e}"),
///         }
///     });
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LazyAcceptor {
    policy: Arc<AcceptPolicy>,
    eof_policy: EofPolicy,
}

/// What [`LazyAcceptor::accept`] found.
// The TLS variant is the common one and is moved out at once; boxing it would cost every
// connection an allocation to save a moment's stack space.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Accepted<IO> {
    /// The client did not start TLS and the policy serves plaintext.
    Plaintext(PlainStream<IO>),
    /// The client completed a TLS handshake.
    Tls(TlsStream<IO>),
}

/// What [`LazyAcceptor::sniff`] found: the decision, before the expensive part of a TLS
/// handshake.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Sniffed<IO> {
    /// The client did not start TLS and the policy serves plaintext.
    Plaintext(PlainStream<IO>),
    /// The client sent a ClientHello the policy accepts; await the handshake to finish it.
    Tls(Handshake<IO>),
}

impl LazyAcceptor {
    /// An acceptor deciding by `policy`.
    pub fn new(policy: Arc<AcceptPolicy>) -> Self {
        Self {
            policy,
            eof_policy: EofPolicy::default(),
        }
    }

    /// Sets what TLS streams' reads report when the client closes without close_notify.
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        self.eof_policy = policy;
        self
    }

    /// The policy decided with.
    pub fn policy(&self) -> &Arc<AcceptPolicy> {
        &self.policy
    }

    /// The first half of [`accept`](Self::accept): reads the first bytes of `io` and returns a
    /// plaintext stream, or the TLS handshake the client's hello selects, not yet run. A server
    /// that bounds concurrent handshakes takes its slot between the two. A refused client has
    /// been sent its alert. No timeout applies: wrap the call (and the handshake) in one.
    pub fn sniff<IO>(&self, io: IO) -> impl Future<Output = Result<Sniffed<IO>, AcceptError>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        sniff_inner(self.policy.clone(), self.eof_policy, io)
    }

    /// Reads the first bytes of `io` and returns a plaintext stream or a TLS stream whose
    /// handshake has completed. The future owns what it needs (it does not borrow the
    /// acceptor), so it can be spawned as it is.
    pub fn accept<IO>(&self, io: IO) -> impl Future<Output = Result<Accepted<IO>, AcceptError>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let timeout = self.policy.limits.handshake_timeout;
        let (policy, eof_policy) = (self.policy.clone(), self.eof_policy);
        async move {
            match tokio::time::timeout(timeout, accept_inner(policy, eof_policy, io)).await {
                Ok(result) => result,
                Err(_) => Err(AcceptError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    tlswire_core::Error::HandshakeTimeout,
                ))),
            }
        }
    }
}

async fn accept_inner<IO>(
    policy: Arc<AcceptPolicy>,
    eof_policy: EofPolicy,
    io: IO,
) -> Result<Accepted<IO>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match sniff_inner(policy, eof_policy, io).await? {
        Sniffed::Plaintext(plain) => Ok(Accepted::Plaintext(plain)),
        Sniffed::Tls(handshake) => Ok(Accepted::Tls(handshake.await?)),
    }
}

async fn sniff_inner<IO>(
    policy: Arc<AcceptPolicy>,
    eof_policy: EofPolicy,
    mut io: IO,
) -> Result<Sniffed<IO>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut accept = Accept::new(policy);
    // Each round reads at least one byte; the policy's ClientHello limit ends the loop.
    loop {
        let decision = std::future::poll_fn(|cx| poll_sniff(&mut io, &mut accept, cx)).await?;
        match decision {
            Ok(None) => continue,
            Ok(Some(Decision::Plaintext { buffered })) => {
                return Ok(Sniffed::Plaintext(PlainStream::new(io, buffered)));
            }
            Ok(Some(Decision::Tls(session))) => {
                return Ok(Sniffed::Tls(Handshake::new(*session, io, eof_policy)));
            }
            Err(rejection) => {
                tracing::debug!(reason = %rejection, "refused connection");
                // Best effort: the client may already be gone.
                let _ = io.write_all(&rejection.alert).await;
                let _ = io.shutdown().await;
                return Err(AcceptError::Rejected(rejection));
            }
        }
    }
}

/// Reads once into a stack buffer (so the accept future carries no read buffer across its
/// awaits) and hands the bytes to the sniffer.
fn poll_sniff<IO: AsyncRead + Unpin>(
    io: &mut IO,
    accept: &mut Accept,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Result<Option<Decision>, Rejection>>> {
    let mut storage = [MaybeUninit::<u8>::uninit(); SNIFF_CHUNK];
    let mut buf = ReadBuf::uninit(&mut storage);
    std::task::ready!(Pin::new(io).poll_read(cx, &mut buf))?;
    if buf.filled().is_empty() {
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "client closed the connection before deciding between plaintext and TLS",
        )));
    }
    Poll::Ready(Ok(accept.handle_input(buf.filled(), now())))
}

/// A plaintext connection accepted by [`LazyAcceptor`] (or built with [`PlainStream::new`] from
/// the core's [`Decision::Plaintext`]): the bytes read while sniffing come first, then the
/// transport's own.
#[derive(Debug)]
pub struct PlainStream<IO> {
    io: IO,
    replay: Vec<u8>,
    replay_pos: usize,
}

impl<IO> PlainStream<IO> {
    /// A stream that replays `buffered` (the bytes a sniffer already read from `io`) before
    /// reading `io` itself.
    pub fn new(io: IO, buffered: Vec<u8>) -> Self {
        let replay = buffered;
        Self {
            io,
            replay,
            replay_pos: 0,
        }
    }

    /// The sniffed bytes not read yet.
    pub fn buffered(&self) -> &[u8] {
        &self.replay[self.replay_pos..]
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The transport; reading it directly skips the sniffed bytes.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// The transport and the sniffed bytes not read yet.
    pub fn into_parts(self) -> (IO, Vec<u8>) {
        let mut replay = self.replay;
        replay.drain(..self.replay_pos);
        (self.io, replay)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for PlainStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replay_pos < this.replay.len() {
            let n = buf.remaining().min(this.replay.len() - this.replay_pos);
            buf.put_slice(&this.replay[this.replay_pos..this.replay_pos + n]);
            this.replay_pos += n;
            if this.replay_pos == this.replay.len() {
                this.replay = Vec::new();
                this.replay_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for PlainStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
