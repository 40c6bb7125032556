//! [`LazyAcceptor`]: one listener for plaintext, TLS and mutual TLS. It reads the first bytes,
//! lets the core's [`Accept`] decide, and yields a plaintext stream (the bytes replayed) or a
//! TLS stream whose site was chosen by SNI.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::Timer;
use futures_io::{AsyncRead, AsyncWrite};
use tlswire_core::{Accept, AcceptPolicy, Decision};

use crate::conn::Conn;
use crate::handshake::handshake;
use crate::{AcceptError, EofPolicy, TlsStream};

/// Bytes read per call while sniffing; a ClientHello usually fits in one read.
const SNIFF_CHUNK: usize = 4 * 1024;

/// What [`LazyAcceptor::accept`] found on a connection.
#[derive(Debug)]
pub enum Accepted<IO> {
    /// The client does not speak TLS and the policy allows plaintext. Reading starts with the
    /// bytes that were sniffed.
    Plaintext(PlainStream<IO>),
    /// A completed TLS handshake with the site the client's SNI chose.
    Tls(TlsStream<IO>),
}

/// Accepts plaintext, TLS and mutual TLS on one listener, by an [`AcceptPolicy`].
///
/// Sniffing reads the connection's first bytes: a TLS connection opens with a handshake
/// record (byte `0x16`, then major version 3), which no text protocol does, so one or two bytes
/// decide. For TLS it keeps reading until the ClientHello is complete, looks the SNI up in the
/// [`SniPolicy`](tlswire_core::SniPolicy) — certificate, client-authentication mode and ALPN
/// — and finishes the handshake. The whole accept, sniffing included, is bounded by the
/// policy's handshake timeout, so a client that never speaks costs only that long.
///
/// ```no_run
/// # async fn run(policy: std::sync::Arc<tlswire_core::AcceptPolicy>) -> std::io::Result<()> {
/// use tlswire_smol::{Accepted, LazyAcceptor};
/// let listener = smol::net::TcpListener::bind("127.0.0.1:8443").await?;
/// let acceptor = LazyAcceptor::new(policy); // e.g. AcceptPolicy::new(sni).allow_plaintext(true)
/// let (tcp, peer) = listener.accept().await?;
/// match acceptor.accept(tcp).await {
///     Ok(Accepted::Plaintext(plain)) => { /* speak plaintext; first bytes are replayed */ }
///     Ok(Accepted::Tls(tls)) => println!("TLS for {:?}", tls.peer().sni),
///     Err(e) => eprintln!("{peer}: {e}"), // the alert was already sent
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LazyAcceptor {
    policy: Arc<AcceptPolicy>,
    eof_policy: EofPolicy,
}

impl LazyAcceptor {
    /// An acceptor deciding by `policy`.
    pub fn new(policy: Arc<AcceptPolicy>) -> Self {
        Self {
            policy,
            eof_policy: EofPolicy::Strict,
        }
    }

    /// What TLS streams' reads report when the transport closes without close_notify.
    #[must_use]
    pub fn with_eof_policy(mut self, policy: EofPolicy) -> Self {
        self.eof_policy = policy;
        self
    }

    /// The policy connections are accepted by.
    pub fn policy(&self) -> &Arc<AcceptPolicy> {
        &self.policy
    }

    /// Reads the first bytes of `io` and decides. A refused connection gets its alert and
    /// its transport closed before [`AcceptError::Rejected`] is returned.
    pub async fn accept<IO>(&self, mut io: IO) -> Result<Accepted<IO>, AcceptError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let started = Instant::now();
        let deadline = started + self.policy.limits.handshake_timeout;
        let mut timer = Timer::at(deadline);
        let mut accept = Accept::new(self.policy.clone());
        let decision = poll_fn(|cx| {
            let mut chunk = [0u8; SNIFF_CHUNK];
            loop {
                let n = match Pin::new(&mut io).poll_read(cx, &mut chunk) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(AcceptError::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "client closed the connection before saying what it speaks",
                        ))))
                    }
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(AcceptError::Io(e))),
                    Poll::Pending => {
                        if Pin::new(&mut timer).poll(cx).is_ready() {
                            return Poll::Ready(Err(AcceptError::Io(io::Error::from(
                                tlswire_core::Error::HandshakeTimeout,
                            ))));
                        }
                        return Poll::Pending;
                    }
                };
                match accept.handle_input(&chunk[..n], Instant::now()) {
                    Ok(None) => continue,
                    Ok(Some(decision)) => return Poll::Ready(Ok(decision)),
                    Err(rejection) => return Poll::Ready(Err(AcceptError::Rejected(rejection))),
                }
            }
        })
        .await;
        match decision {
            Ok(Decision::Plaintext { buffered }) => Ok(Accepted::Plaintext(PlainStream {
                io,
                replay: buffered,
                replay_pos: 0,
            })),
            Ok(Decision::Tls(session)) => {
                let mut conn = Conn::new(io, *session);
                conn.eof_policy = self.eof_policy;
                handshake(conn)
                    .await
                    .map(Accepted::Tls)
                    .map_err(AcceptError::Io)
            }
            Err(AcceptError::Rejected(rejection)) => {
                tracing::debug!(reason = %rejection, "refused connection");
                send_and_close(&mut io, &rejection.alert, deadline).await;
                Err(AcceptError::Rejected(rejection))
            }
            Err(e) => Err(e),
        }
    }
}

/// Best effort: sends `alert` and closes, giving up at `deadline` (the peer may not read).
async fn send_and_close<IO: AsyncWrite + Unpin>(io: &mut IO, alert: &[u8], deadline: Instant) {
    let mut timer = Timer::at(deadline.max(Instant::now() + std::time::Duration::from_secs(1)));
    let mut sent = 0;
    poll_fn(|cx| {
        if Pin::new(&mut timer).poll(cx).is_ready() {
            return Poll::Ready(());
        }
        while sent < alert.len() {
            match Pin::new(&mut *io).poll_write(cx, &alert[sent..]) {
                Poll::Ready(Ok(n)) if n > 0 => sent += n,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut *io).poll_close(cx).map(|_| ())
    })
    .await;
}

/// A plaintext connection from [`LazyAcceptor`]: the bytes read while sniffing come first,
/// then the transport's own.
#[derive(Debug)]
pub struct PlainStream<IO> {
    io: IO,
    replay: Vec<u8>,
    replay_pos: usize,
}

impl<IO> PlainStream<IO> {
    /// The sniffed bytes not yet read.
    pub fn buffered(&self) -> &[u8] {
        &self.replay[self.replay_pos..]
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The transport, mutably.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// The transport and the sniffed bytes not yet read.
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
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let buffered = &this.replay[this.replay_pos..];
        if buffered.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = buffered.len().min(buf.len());
        buf[..n].copy_from_slice(&buffered[..n]);
        this.replay_pos += n;
        if this.replay_pos == this.replay.len() {
            this.replay = Vec::new();
            this.replay_pos = 0;
        }
        Poll::Ready(Ok(n))
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
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_close(cx)
    }
}
