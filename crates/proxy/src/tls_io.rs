//! A tokio stream over a core [`Session`]: the proxy's bridge between sockets and TLS.
//!
//! It follows the adapter rules from the design: every read also flushes pending output, a
//! 0-byte read is end of stream, shutdown sends close_notify before closing the write half,
//! and reading and writing progress independently. A missing close_notify from the peer is
//! treated as end of stream: a proxy relays what it got and lets the upstream protocol judge.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use tlswire_core::{Event, PeerInfo, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Size of the stack buffer each socket read goes through.
const READ_CHUNK: usize = 16 * 1024;

/// A TLS connection over `IO`, readable and writable as plaintext.
#[derive(Debug)]
pub struct TlsConn<IO> {
    io: IO,
    session: Session,
    /// Ciphertext taken from the session but not yet written to `io`.
    out: Vec<u8>,
    out_pos: usize,
    /// Ciphertext read from `io` that the session could not take yet.
    pending_in: Vec<u8>,
    io_eof: bool,
    peer_done: bool,
    handshake: Option<PeerInfo>,
    shutdown_started: bool,
}

fn tls_error(e: tlswire_core::Error) -> io::Error {
    io::Error::other(e)
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsConn<IO> {
    /// Wraps a session (client, or server from [`tlswire_core::Accept`]) and its transport.
    pub fn new(io: IO, session: Session) -> Self {
        Self {
            io,
            session,
            out: Vec::new(),
            out_pos: 0,
            pending_in: Vec::new(),
            io_eof: false,
            peer_done: false,
            handshake: None,
            shutdown_started: false,
        }
    }

    /// What was negotiated (empty fields before the handshake completes).
    pub fn peer(&self) -> PeerInfo {
        self.handshake
            .clone()
            .unwrap_or_else(|| self.session.peer())
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// Drives the handshake to its end.
    pub async fn handshake(&mut self) -> io::Result<PeerInfo> {
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<PeerInfo>> {
        loop {
            self.drain_events()?;
            let flushed = self.poll_flush_out(cx)?;
            if let Some(peer) = &self.handshake {
                if flushed.is_ready() {
                    return Poll::Ready(Ok(peer.clone()));
                }
                return Poll::Pending;
            }
            if self.io_eof {
                self.session.handle_eof(Instant::now());
                self.drain_events()?;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed the connection during the TLS handshake",
                )));
            }
            if ready!(self.poll_feed(cx))? == 0 && !self.io_eof {
                self.drain_events()?;
                if self.handshake.is_none() {
                    return Poll::Ready(Err(io::Error::other(
                        "TLS handshake stalled: the peer sent data the session cannot take",
                    )));
                }
            }
        }
    }

    /// Handles every queued event, turning failures into errors.
    fn drain_events(&mut self) -> io::Result<()> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::HandshakeComplete(peer) => self.handshake = Some(peer),
                Event::PeerClosed | Event::UnexpectedEof | Event::Closed { .. } => {
                    self.peer_done = true
                }
                Event::Failed(e) => return Err(tls_error(e)),
                _ => {}
            }
        }
        match self.session.error() {
            Some(e) => Err(tls_error(e.clone())),
            None => Ok(()),
        }
    }

    /// Writes out every pending byte of ciphertext.
    fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.out_pos < self.out.len() {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.out_pos += n;
            }
            self.out.clear();
            self.out_pos = 0;
            if self.session.poll_transmit(&mut self.out) == 0 {
                // Give the buffer's memory back while idle.
                self.out = Vec::new();
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// Reads ciphertext from the transport into the session; returns how many bytes the
    /// session took (0 at end of stream or when it is full).
    fn poll_feed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let now = Instant::now();
        if !self.pending_in.is_empty() {
            let n = self
                .session
                .handle_input(&self.pending_in, now)
                .map_err(tls_error)?;
            self.pending_in.drain(..n);
            if self.pending_in.is_empty() {
                self.pending_in = Vec::new();
            }
            return Poll::Ready(Ok(n));
        }
        // Uninitialised: zeroing 16 KiB per read would cost more than the copy.
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let data = buf.filled();
        if data.is_empty() {
            self.io_eof = true;
            self.session.handle_eof(now);
            return Poll::Ready(Ok(0));
        }
        let n = self.session.handle_input(data, now).map_err(tls_error)?;
        if n < data.len() {
            self.pending_in.extend_from_slice(&data[n..]);
        }
        Poll::Ready(Ok(n.max(1)))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsConn<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Every read also sends what is pending (alerts, key updates, handshake replies).
            let _ = this.poll_flush_out(cx)?;
            if let Some(chunk) = this.session.read_chunk() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                this.session.consume(n);
                return Poll::Ready(Ok(()));
            }
            this.drain_events()?;
            if this.peer_done || (this.io_eof && this.pending_in.is_empty()) {
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_feed(cx))?;
            this.drain_events()?;
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsConn<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let flushed = this.poll_flush_out(cx)?;
            let n = this.session.write(data).map_err(tls_error)?;
            if n > 0 {
                // Records are cut and sent now, so a writer that never flushes still progresses.
                let _ = this.poll_flush_out(cx)?;
                return Poll::Ready(Ok(n));
            }
            if flushed.is_pending() {
                return Poll::Pending;
            }
            if this.session.is_handshaking() {
                // Buffered plaintext waits for the handshake, which needs input.
                ready!(this.poll_feed(cx))?;
                this.drain_events()?;
                continue;
            }
            // Output is flushed yet nothing fits: the buffered tail is below a record; push it.
            if this.session.write_capacity() == 0 {
                ready!(this.poll_flush_out(cx))?;
                if this.session.write_capacity() == 0 {
                    return Poll::Ready(Err(io::Error::other("TLS write buffer stuck full")));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_out(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shutdown_started {
            this.shutdown_started = true;
            this.session.close(Instant::now());
        }
        ready!(this.poll_flush_out(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
