//! [`TlsStream`], an established TLS connection over a futures-io transport, and its split
//! halves.

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use tlswire_core::{PeerInfo, Session};

use crate::conn::Conn;
use crate::EofPolicy;

/// A TLS connection whose handshake has completed, over any futures-io transport (smol's and
/// async-net's `TcpStream`, async-std's, a Unix socket, an in-memory pipe).
///
/// Reading gives the peer's plaintext; `Ok(0)` means the peer closed cleanly with
/// close_notify. Writing buffers like a `BufWriter` of one TLS record: call `flush` (or read,
/// or close) to send a partial record. `close` sends close_notify, waits until it is on the
/// transport, then closes the transport's write side. See the [crate docs](crate) for why.
pub struct TlsStream<IO> {
    conn: Box<Conn<IO>>,
}

impl<IO> fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream").finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    pub(crate) fn from_conn(conn: Box<Conn<IO>>) -> Self {
        Self { conn }
    }

    /// What was negotiated: SNI, ALPN, version, cipher suite, the peer's certificates.
    pub fn peer(&self) -> PeerInfo {
        self.conn.session.peer()
    }

    /// Whether this server session received 0-RTT early data (replayable by an attacker: use
    /// it only for idempotent requests). It is read first, like any other data.
    pub fn received_early_data(&self) -> bool {
        self.conn.session.received_early_data()
    }

    /// The core session, for what this type does not expose (limits, buffer sizes).
    pub fn session(&self) -> &Session {
        &self.conn.session
    }

    /// The core session, mutably. After calling anything that produces output (for example
    /// `refresh_traffic_keys`), flush the stream.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.conn.session
    }

    /// Whether our close_notify has been handed to the transport.
    pub fn close_notify_sent(&self) -> bool {
        self.conn.close_notify_sent()
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.conn.io
    }

    /// The transport, mutably. Reading or writing it directly corrupts the TLS stream.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.conn.io
    }

    /// The transport, giving up the TLS session (without sending close_notify).
    pub fn into_inner(self) -> IO {
        self.conn.io
    }

    /// Sets what a read reports when the transport closes without close_notify; see the
    /// [crate docs](crate#unexpected-eof).
    pub fn set_eof_policy(&mut self, policy: EofPolicy) {
        self.conn.eof_policy = policy;
    }

    /// Splits the stream into a read half and a write half that can be moved to two tasks and
    /// progress independently: a reader never waits for a writer stuck on a full socket.
    pub fn into_split(self) -> (ReadHalf<IO>, WriteHalf<IO>) {
        let mut conn = *self.conn;
        conn.split = true;
        let shared = Arc::new(Mutex::new(conn));
        (
            ReadHalf {
                shared: shared.clone(),
            },
            WriteHalf { shared },
        )
    }

    /// The same as [`into_split`](Self::into_split), named like futures'
    /// `AsyncReadExt::split` (which this inherent method shadows with a better version).
    pub fn split(self) -> (ReadHalf<IO>, WriteHalf<IO>) {
        self.into_split()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().conn.poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .conn
            .poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().conn.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().conn.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().conn.poll_close(cx)
    }
}

type Shared<IO> = Arc<Mutex<Conn<IO>>>;

fn lock<IO>(shared: &Shared<IO>) -> MutexGuard<'_, Conn<IO>> {
    // The lock is held only inside one poll call, which never panics on input.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The reading half of a [`TlsStream`], from [`TlsStream::into_split`].
///
/// Reads also send what the session owes the peer (key-update replies, alerts, buffered
/// writes) unless the write half is already waiting to send it.
pub struct ReadHalf<IO> {
    shared: Shared<IO>,
}

/// The writing half of a [`TlsStream`], from [`TlsStream::into_split`].
pub struct WriteHalf<IO> {
    shared: Shared<IO>,
}

impl<IO> fmt::Debug for ReadHalf<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<IO> fmt::Debug for WriteHalf<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

/// [`ReadHalf::unsplit`] was given the write half of another stream; both halves come back.
pub struct ReuniteError<IO>(pub ReadHalf<IO>, pub WriteHalf<IO>);

impl<IO> fmt::Debug for ReuniteError<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError")
    }
}

impl<IO> fmt::Display for ReuniteError<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the halves come from different TLS streams")
    }
}

impl<IO> std::error::Error for ReuniteError<IO> {}

impl<IO: AsyncRead + AsyncWrite + Unpin> ReadHalf<IO> {
    /// What was negotiated with the peer.
    pub fn peer(&self) -> PeerInfo {
        lock(&self.shared).session.peer()
    }

    /// Puts the halves back together.
    pub fn unsplit(self, write: WriteHalf<IO>) -> Result<TlsStream<IO>, ReuniteError<IO>> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(mutex) => {
                let mut conn = mutex.into_inner().unwrap_or_else(PoisonError::into_inner);
                conn.split = false;
                Ok(TlsStream {
                    conn: Box::new(conn),
                })
            }
            // Unreachable: the two halves held the only references.
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

impl<IO> Drop for WriteHalf<IO> {
    fn drop(&mut self) {
        // A write half dropped while parked must not leave the reader's output stranded.
        let mut conn = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        conn.writer_gone();
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for ReadHalf<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WriteHalf<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        lock(&self.shared).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.shared).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(&self.shared).poll_close(cx)
    }
}
