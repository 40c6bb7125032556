//! The driver shared by whole streams and split halves: it moves bytes between a futures-io
//! transport and a core [`Session`], and owns the rules learned from tokio-rustls's issue
//! tracker (every read flushes, a 0-byte read is EOF, close_notify is written before the
//! transport closes, reading never waits for writing).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use tlswire_core::{Event, Session};

use crate::{EofPolicy, UnexpectedEofError};

/// Ciphertext read from the transport per call when the caller's buffer is too small to read
/// into directly. It lives on the stack, so an idle connection holds no read buffer at all.
const READ_CHUNK: usize = 16 * 1024;

/// A caller's read buffer at least this large takes the ciphertext itself (no zeroed stack
/// buffer per read); the session copies it out before plaintext is copied back in.
const DIRECT_READ_MIN: usize = 8 * 1024;

/// At most this much is read into a caller's buffer at once: more would not fit the session's
/// record backlog and would be copied aside.
const DIRECT_READ_MAX: usize = 64 * 1024;

/// Plaintext buffered before records are encrypted and sent without waiting for a flush: one
/// full TLS record.
const RECORD: usize = 16 * 1024;

/// Ciphertext waiting for the transport beyond which `poll_write` pushes back.
const SEND_HIGH_WATER: usize = 64 * 1024;

/// Who is driving the connection; it decides who may register for write readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Reader,
    Writer,
}

/// A transport and the TLS session on it.
#[derive(Debug)]
pub(crate) struct Conn<IO> {
    pub(crate) io: IO,
    pub(crate) session: Session,
    /// Ciphertext for the transport; `out[out_pos..]` is unsent.
    out: Vec<u8>,
    out_pos: usize,
    /// Ciphertext read from the transport that the session had no room for yet.
    pending_in: Vec<u8>,
    pending_in_pos: usize,
    /// Plaintext written since the last transmit.
    unflushed: usize,
    pub(crate) eof_policy: EofPolicy,
    handshake_done: bool,
    peer_closed: bool,
    unexpected_eof: bool,
    transport_eof: bool,
    close_started: bool,
    /// Whether the halves live in two tasks; see [`Conn::poll_send`].
    pub(crate) split: bool,
    /// The writer returned `Pending` waiting for the transport to take ciphertext.
    writer_parked: bool,
    /// A reader that had ciphertext to send while the writer was parked.
    reader_send_waker: Option<Waker>,
}

impl<IO> Conn<IO> {
    fn unsent(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Ends a write-side call that returns `Ready`: the writer is no longer waiting, so a
    /// reader that left ciphertext behind must come back and send it itself.
    fn writer_returns(&mut self) {
        self.writer_parked = false;
        if let Some(waker) = self.reader_send_waker.take() {
            if self.unsent() > 0 {
                waker.wake();
            }
        }
    }

    /// Whether our close_notify has been handed to the transport.
    pub(crate) fn close_notify_sent(&self) -> bool {
        self.close_started
            && self.session.close_notify_queued()
            && !self.session.wants_transmit()
            && self.unsent() == 0
    }

    /// Called when a write half goes away in the middle of a call.
    pub(crate) fn writer_gone(&mut self) {
        self.writer_returns();
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    /// Boxed: a stream (and every future holding one) stays pointer-sized, so a task that
    /// ran a handshake does not keep room for a whole session in its idle state.
    pub(crate) fn new(io: IO, session: Session) -> Box<Self> {
        Box::new(Self {
            io,
            session,
            out: Vec::new(),
            out_pos: 0,
            pending_in: Vec::new(),
            pending_in_pos: 0,
            unflushed: 0,
            eof_policy: EofPolicy::Strict,
            handshake_done: false,
            peer_closed: false,
            unexpected_eof: false,
            transport_eof: false,
            close_started: false,
            split: false,
            writer_parked: false,
            reader_send_waker: None,
        })
    }

    /// Moves everything the session has to send (buffered plaintext included) into `out`.
    fn transmit(&mut self) {
        self.unflushed = 0;
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos > self.out.len() / 2 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        let _ = self.session.poll_transmit(&mut self.out);
    }

    /// Writes `out` to the transport until it is empty (`Ready(Ok)`) or the transport is full.
    ///
    /// async-io keeps one write-readiness waker per socket and wakes the old one when another
    /// task registers, so two halves both registering would wake each other forever. When the
    /// writer is parked on the transport, a reader therefore leaves its ciphertext (key
    /// updates, alerts) to the writer, which sends `out` in order, and asks to be woken if the
    /// writer returns before it is gone.
    fn poll_send(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<io::Result<()>> {
        if self.unsent() == 0 {
            return Poll::Ready(Ok(()));
        }
        if side == Side::Reader && self.split && self.writer_parked {
            self.reader_send_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        while self.out_pos < self.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "transport accepted no bytes of TLS output",
                    )))
                }
                Poll::Ready(Ok(n)) => self.out_pos += n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if side == Side::Writer {
                        self.writer_parked = true;
                    }
                    return Poll::Pending;
                }
            }
        }
        // Release the buffer: an idle connection holds none.
        self.out = Vec::new();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    fn absorb_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::HandshakeComplete(_) => self.handshake_done = true,
                Event::PeerClosed => self.peer_closed = true,
                Event::UnexpectedEof => self.unexpected_eof = true,
                // Failures are read from `session.error()`; `Closed` needs no action here.
                _ => {}
            }
        }
    }

    /// Sends what the session has for the peer without waiting: every read does this, so key
    /// updates, alerts and buffered writes never wait for the next write.
    fn flush_from_reader(&mut self, cx: &mut Context<'_>) {
        if self.unflushed > 0 || self.session.wants_transmit() {
            self.transmit();
        }
        // A send error surfaces on the next write; the read goes on with what has arrived.
        let _ = self.poll_send(cx, Side::Reader);
    }

    /// Feeds ciphertext to the session; keeps what it has no room for.
    fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.pending_in.is_empty() {
            // Keep the order: older leftovers go first.
            self.pending_in.extend_from_slice(data);
            return Ok(());
        }
        let taken = self
            .session
            .handle_input(data, Instant::now())
            .map_err(io::Error::from)?;
        if taken < data.len() {
            self.pending_in.extend_from_slice(&data[taken..]);
        }
        Ok(())
    }

    /// Feeds ciphertext left over from an earlier read; returns whether the session took any.
    fn feed_pending(&mut self) -> io::Result<bool> {
        let taken = self
            .session
            .handle_input(&self.pending_in[self.pending_in_pos..], Instant::now())
            .map_err(io::Error::from)?;
        self.pending_in_pos += taken;
        if self.pending_in_pos == self.pending_in.len() {
            self.pending_in = Vec::new();
            self.pending_in_pos = 0;
        }
        Ok(taken > 0)
    }

    /// Reads one chunk of ciphertext from the transport into the session, through a stack
    /// buffer. `Ready(Ok(()))` means progress (bytes or EOF).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; READ_CHUNK];
        self.poll_fill_via(cx, &mut chunk)
    }

    /// [`poll_fill`](Self::poll_fill) through `scratch`, whose contents are overwritten.
    fn poll_fill_via(&mut self, cx: &mut Context<'_>, scratch: &mut [u8]) -> Poll<io::Result<()>> {
        loop {
            return match Pin::new(&mut self.io).poll_read(cx, scratch) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => {
                    // A 0-byte read is end of stream, never "try again".
                    self.transport_eof = true;
                    self.session.handle_eof(Instant::now());
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Ok(n)) => Poll::Ready(self.feed(&scratch[..n])),
            };
        }
    }

    /// Drives the handshake: `Ready(Ok(()))` once it is complete and our last flight is on
    /// the transport.
    pub(crate) fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            self.transmit();
            let sent = self.poll_send(cx, Side::Writer);
            self.absorb_events();
            if let Some(e) = self.session.error() {
                // The alert that explains the failure went out with the send just tried.
                return Poll::Ready(Err(io::Error::from(e.clone())));
            }
            match sent {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if self.handshake_done => {
                    self.writer_parked = false;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending if self.handshake_done => return Poll::Pending,
                _ => {}
            }
            if self.transport_eof {
                return Poll::Ready(Err(tlswire_core::Error::EofDuringHandshake.into()));
            }
            match self.poll_fill(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    // Send the alert the session queued, if it did, before giving up.
                    self.transmit();
                    let _ = self.poll_send(cx, Side::Writer);
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => {}
            }
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.flush_from_reader(cx);
        loop {
            if let Some(chunk) = self.session.read_chunk() {
                let n = chunk.len().min(buf.len());
                buf[..n].copy_from_slice(&chunk[..n]);
                self.session.consume(n);
                return Poll::Ready(Ok(n));
            }
            self.absorb_events();
            if let Some(e) = self.session.error() {
                return Poll::Ready(Err(io::Error::from(e.clone())));
            }
            if self.peer_closed {
                return Poll::Ready(Ok(0));
            }
            if self.unexpected_eof {
                return Poll::Ready(if self.eof_policy == EofPolicy::Lenient {
                    Ok(0)
                } else {
                    Err(UnexpectedEofError::io_error())
                });
            }
            if self.transport_eof {
                return Poll::Ready(Ok(0));
            }
            let progress = if self.pending_in.is_empty() {
                let filled = if buf.len() >= DIRECT_READ_MIN {
                    let direct = buf.len().min(DIRECT_READ_MAX);
                    self.poll_fill_via(cx, &mut buf[..direct])
                } else {
                    self.poll_fill(cx)
                };
                match filled {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => r.map(|()| true),
                }
            } else {
                self.feed_pending()
            };
            // Input may have produced a key update or an alert: send it now.
            self.flush_from_reader(cx);
            match progress {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(false) if self.session.readable_bytes() == 0 => {
                    return Poll::Ready(Err(io::Error::other(
                        "TLS session took no input and produced no plaintext",
                    )))
                }
                Ok(_) => {}
            }
        }
    }

    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.writer_parked = false;
        if self.close_started {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after the TLS stream was closed",
            )));
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let result = loop {
            if self.unsent() >= SEND_HIGH_WATER {
                match self.poll_send(cx, Side::Writer) {
                    Poll::Ready(Err(e)) => break Err(e),
                    Poll::Pending if self.unsent() >= SEND_HIGH_WATER => return Poll::Pending,
                    _ => {}
                }
            }
            let n = match self.session.write_vectored(bufs) {
                Ok(n) => n,
                Err(e) => break Err(e.into()),
            };
            if n > 0 {
                self.unflushed += n;
                if self.unflushed >= RECORD {
                    self.transmit();
                    if let Poll::Ready(Err(e)) = self.poll_send(cx, Side::Writer) {
                        break Err(e);
                    }
                }
                break Ok(n);
            }
            // The session's buffer is full: move its records out, then try again.
            let before = self.unsent();
            self.transmit();
            if self.unsent() == before {
                break Err(io::Error::other(
                    "TLS session accepts no data and has none to send",
                ));
            }
        };
        self.writer_returns();
        Poll::Ready(result)
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer_parked = false;
        self.transmit();
        let result = match self.poll_send(cx, Side::Writer) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(())) => Pin::new(&mut self.io).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        };
        if result.is_ready() {
            self.writer_returns();
        }
        result
    }

    /// Flushes, sends close_notify, waits until it is on the transport, then closes the
    /// transport's write side.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer_parked = false;
        if !self.close_started {
            self.close_started = true;
            self.session.close(Instant::now());
        }
        self.transmit();
        let result = match self.poll_send(cx, Side::Writer) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => match Pin::new(&mut self.io).poll_close(cx) {
                    // The peer reset the connection after close_notify left: it is closed,
                    // which is what was asked.
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => {
                        Poll::Ready(Ok(()))
                    }
                    other => other,
                },
            },
        };
        if result.is_ready() {
            self.writer_returns();
        }
        result
    }
}
