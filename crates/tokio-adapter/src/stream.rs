//! [`TlsStream`]: an established TLS connection as a tokio `AsyncRead + AsyncWrite`, and its
//! halves.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tlswire_core::{PeerInfo, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::conn::Conn;
use crate::EofPolicy;

/// An established TLS connection over the transport `IO`.
///
/// Reading returns the peer's plaintext; a read also sends whatever TLS output is pending
/// (key updates, alerts), so a connection that only reads never leaves the peer waiting.
/// Writing takes plaintext into the session and sends it at once as far as the transport
/// allows; what the transport cannot take yet is sent by the next write, read or flush.
/// `shutdown` sends close_notify, waits until the transport has taken it, then shuts the
/// transport's write side. See the crate docs for when to flush and for end-of-stream rules.
#[derive(Debug)]
pub struct TlsStream<IO> {
    conn: Conn<IO>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    pub(crate) fn new(conn: Conn<IO>) -> Self {
        Self { conn }
    }

    /// What was negotiated: protocol version, cipher suite, ALPN, SNI, the peer's certificates.
    pub fn peer(&self) -> PeerInfo {
        self.conn.session.peer()
    }

    /// Whether this server session received 0-RTT early data (replayable by an attacker: use it
    /// only for idempotent requests). It is read first, like any other data.
    pub fn received_early_data(&self) -> bool {
        self.conn.session.received_early_data()
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.conn.io
    }

    /// The transport. Reading or writing it directly corrupts the TLS stream.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.conn.io
    }

    /// The core session, for what this type does not expose (key updates, buffer sizes).
    pub fn session(&self) -> &Session {
        &self.conn.session
    }

    /// The core session, mutably. After calling anything that produces output (for example
    /// `refresh_traffic_keys`), flush the stream.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.conn.session
    }

    /// Gives back the transport, dropping the TLS state and any unsent ciphertext.
    pub fn into_inner(self) -> IO {
        self.conn.io
    }

    /// Sets what a read reports when the transport closes without close_notify.
    pub fn set_eof_policy(&mut self, policy: EofPolicy) {
        self.conn.eof_policy = policy;
    }

    /// Whether our close_notify has been handed to the transport.
    pub fn close_notify_sent(&self) -> bool {
        self.conn.close_notify_sent()
    }

    /// Splits the stream into a reading half and a writing half that two tasks can drive at the
    /// same time. Each half keeps its own waker, so a reader that sends a key update never
    /// steals the writer's wake-up (or the other way round). `shutdown` on the writing half
    /// sends close_notify; [`ReadHalf::unsplit`] puts the halves back together.
    pub fn into_split(self) -> (ReadHalf<IO>, WriteHalf<IO>) {
        let shared = Arc::new(Mutex::new(self.conn));
        (
            ReadHalf {
                shared: shared.clone(),
            },
            WriteHalf { shared },
        )
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().conn.poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().conn.poll_write(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().conn.poll_write(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().conn.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().conn.poll_shutdown(cx)
    }
}

type Shared<IO> = Arc<Mutex<Conn<IO>>>;

fn lock<IO>(shared: &Shared<IO>) -> MutexGuard<'_, Conn<IO>> {
    // A panic while holding the lock cannot leave the connection half-updated in a way that
    // matters more than the panic itself; carry on with the state as it is.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reading half of a [`TlsStream`], from [`TlsStream::into_split`].
///
/// Its reads also send pending TLS output (key updates, alerts), as the whole stream's do.
#[derive(Debug)]
pub struct ReadHalf<IO> {
    shared: Shared<IO>,
}

/// The writing half of a [`TlsStream`], from [`TlsStream::into_split`].
///
/// `shutdown` sends close_notify and shuts the transport's write side; the reading half can
/// go on reading until the peer closes.
#[derive(Debug)]
pub struct WriteHalf<IO> {
    shared: Shared<IO>,
}

/// The halves given to [`ReadHalf::unsplit`] came from different streams.
#[derive(Debug)]
pub struct ReuniteError<IO>(pub ReadHalf<IO>, pub WriteHalf<IO>);

impl<IO> std::fmt::Display for ReuniteError<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tried to unsplit halves of two different TLS streams")
    }
}

impl<IO: std::fmt::Debug> std::error::Error for ReuniteError<IO> {}

impl<IO: AsyncRead + AsyncWrite + Unpin> ReadHalf<IO> {
    /// What was negotiated with the peer.
    pub fn peer(&self) -> PeerInfo {
        lock(&self.shared).session.peer()
    }

    /// Puts the halves back together into the stream they came from.
    pub fn unsplit(self, write: WriteHalf<IO>) -> Result<TlsStream<IO>, ReuniteError<IO>> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(mutex) => Ok(TlsStream::new(
                mutex.into_inner().unwrap_or_else(PoisonError::into_inner),
            )),
            // Cannot happen (the state is shared by exactly these two halves), but if it did,
            // hand both halves back rather than panic.
            Err(shared) => Err(ReuniteError(
                ReadHalf {
                    shared: shared.clone(),
                },
                WriteHalf { shared },
            )),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> WriteHalf<IO> {
    /// What was negotiated with the peer.
    pub fn peer(&self) -> PeerInfo {
        lock(&self.shared).session.peer()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for ReadHalf<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        lock(&self.shared).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WriteHalf<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).poll_write(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).poll_write(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.shared).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.shared).poll_shutdown(cx)
    }
}
