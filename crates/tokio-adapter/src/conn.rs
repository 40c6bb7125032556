//! The bridge between a core [`Session`] and a tokio transport: the poll functions that every
//! public stream type (whole or split) calls with its own [`Context`].

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use tlswire_core::{Event, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::{EofPolicy, UnexpectedEofError};

/// Bytes read from the transport per call: two full TLS records. The buffer lives on the stack
/// for the duration of one call, so an idle connection holds no read buffer at all. (Reading
/// 64 KiB at a time measured slower: the session then decrypts up to four records per call
/// into a plaintext buffer that grows, and is freed, each time.)
const READ_CHUNK: usize = 33 * 1024;

/// Rounds of read → decrypt one poll may make before yielding. Each round either returns or
/// consumes transport bytes, so the bound only matters for a peer that floods us with records
/// that carry no application data.
const MAX_ROUNDS: usize = 64;

/// Which side of the stream is asking to be woken when the transport can take more bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Reader = 0,
    Writer = 1,
}

/// The wakers of the tasks waiting for the transport to become writable.
///
/// Both the reading and the writing side write to the transport (a read sends key updates and
/// alerts), but a transport keeps one write waker. Registering this fan-out waker instead means
/// neither side overwrites the other's registration: both are woken, and neither is forgotten.
#[derive(Debug, Default)]
pub(crate) struct WriteWakers {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl WriteWakers {
    fn register(&self, role: Role, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut slots[role as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl WriteWakers {
    /// Forgets `role`'s waker; returns whether no waker is left.
    fn unregister(&self, role: Role) -> bool {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots[role as usize] = None;
        slots.iter().all(Option::is_none)
    }
}

impl Wake for WriteWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let taken = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            [slots[0].take(), slots[1].take()]
        };
        for waker in taken.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// Bytes in transit between the session and the transport. Boxed, and only while there are
/// some: an idle connection carries none of it.
#[derive(Debug, Default)]
struct InFlight {
    /// Ciphertext from `poll_transmit` that the transport has not taken yet; `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// Ciphertext read from the transport that the session could not take yet (its read
    /// buffer was full).
    leftover: Vec<u8>,
}

impl InFlight {
    fn unsent(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

/// One TLS connection: the transport, the core session and the bytes in transit.
///
/// Kept small on purpose: it sits inline in every connection's task.
pub(crate) struct Conn<IO> {
    pub(crate) io: IO,
    pub(crate) session: Session,
    in_flight: Option<Box<InFlight>>,
    /// The write-readiness waker fan-out, while a reader or writer waits on the transport.
    wakers: Option<Arc<WriteWakers>>,
    /// Armed only while the session has a timer running (handshake, idle timeout, linger).
    timer: Option<Pin<Box<Sleep>>>,
    /// An earlier transport write failed; later writes report it.
    write_error: Option<io::ErrorKind>,
    /// The transport reported end of stream (a 0-byte read).
    transport_eof: bool,
    close_started: bool,
    pub(crate) eof_policy: EofPolicy,
}

impl<IO> std::fmt::Debug for Conn<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("session", &self.session)
            .field(
                "unsent_ciphertext",
                &self.in_flight.as_ref().map_or(0, |f| f.unsent()),
            )
            .field("transport_eof", &self.transport_eof)
            .field("close_started", &self.close_started)
            .finish_non_exhaustive()
    }
}

/// Now, as the core wants it. tokio's clock, so paused-time tests see the same time as timers.
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    pub(crate) fn new(io: IO, session: Session, eof_policy: EofPolicy) -> Self {
        Self {
            io,
            session,
            in_flight: None,
            wakers: None,
            timer: None,
            write_error: None,
            transport_eof: false,
            close_started: false,
            eof_policy,
        }
    }

    fn has_unsent(&self) -> bool {
        self.in_flight.as_ref().is_some_and(|f| f.unsent() > 0)
    }

    fn has_leftover(&self) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|f| !f.leftover.is_empty())
    }

    /// Frees the in-transit box once nothing is in it.
    fn release_in_flight(&mut self) {
        if self
            .in_flight
            .as_ref()
            .is_some_and(|f| f.unsent() == 0 && f.leftover.is_empty())
        {
            self.in_flight = None;
        }
    }

    /// Moves the session's pending ciphertext (handshake, records, alerts) into `out`.
    fn take_transmit(&mut self) {
        match &mut self.in_flight {
            Some(f) => {
                if f.out_pos == f.out.len() {
                    f.out.clear();
                    f.out_pos = 0;
                }
                let _ = self.session.poll_transmit(&mut f.out);
            }
            None => {
                let mut out = Vec::new();
                if self.session.poll_transmit(&mut out) > 0 {
                    self.in_flight = Some(Box::new(InFlight {
                        out,
                        ..InFlight::default()
                    }));
                }
            }
        }
    }

    /// Calls a write-side operation of the transport with a waker that wakes whichever side
    /// (reader or writer) is waiting, so neither overwrites the other's registration.
    ///
    /// While nobody waits, the caller's own waker is given (no fan-out is made); if the
    /// transport then says Pending, that waker is recorded, so the other side, should it come
    /// to wait too, registers a fan-out that wakes both.
    fn with_write_waker<T>(
        &mut self,
        role: Role,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let Some(wakers) = &self.wakers else {
            let result = op(Pin::new(&mut self.io), cx);
            if result.is_pending() {
                let wakers = Arc::<WriteWakers>::default();
                wakers.register(role, cx.waker());
                self.wakers = Some(wakers);
            }
            return result;
        };
        wakers.register(role, cx.waker());
        let fanout = Waker::from(wakers.clone());
        let result = op(Pin::new(&mut self.io), &mut Context::from_waker(&fanout));
        if result.is_ready() && self.wakers.as_ref().is_some_and(|w| w.unregister(role)) {
            // Nobody waits any more; the transport may keep its clone until it next wakes.
            self.wakers = None;
        }
        result
    }

    /// Writes pending ciphertext to the transport until none is left or the transport would
    /// block.
    fn poll_drain(&mut self, cx: &mut Context<'_>, role: Role) -> Poll<io::Result<()>> {
        if let Some(kind) = self.write_error {
            return Poll::Ready(Err(io::Error::new(
                kind,
                "an earlier write of TLS output to the transport failed",
            )));
        }
        // The box is taken out while the transport writes from it, and put back after.
        while let Some(mut f) = self.in_flight.take() {
            if f.unsent() == 0 {
                self.in_flight = Some(f);
                break;
            }
            let result =
                self.with_write_waker(role, cx, |io, cx| io.poll_write(cx, &f.out[f.out_pos..]));
            match result {
                Poll::Pending => {
                    self.in_flight = Some(f);
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => {
                    self.in_flight = Some(f);
                    return Poll::Ready(Err(self.fail_writes(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "transport accepted no bytes of TLS output",
                    ))));
                }
                Poll::Ready(Ok(n)) => {
                    f.out_pos += n;
                    if f.out_pos == f.out.len() {
                        // Release the buffer: an idle connection should hold none.
                        f.out = Vec::new();
                        f.out_pos = 0;
                    }
                    self.in_flight = Some(f);
                }
                Poll::Ready(Err(e)) => {
                    self.in_flight = Some(f);
                    return Poll::Ready(Err(self.fail_writes(e)));
                }
            }
        }
        self.release_in_flight();
        Poll::Ready(Ok(()))
    }

    fn fail_writes(&mut self, e: io::Error) -> io::Error {
        self.write_error = Some(e.kind());
        if let Some(f) = &mut self.in_flight {
            f.out = Vec::new();
            f.out_pos = 0;
        }
        self.release_in_flight();
        e
    }

    /// Sends what is pending without waiting: used by reads, so key updates and alerts the
    /// peer is owed leave even when the application never writes.
    fn flush_opportunistically(&mut self, cx: &mut Context<'_>) {
        self.take_transmit();
        if self.has_unsent() {
            if let Poll::Ready(Ok(())) = self.poll_drain(cx, Role::Reader) {
                let _ = self.with_write_waker(Role::Reader, cx, |io, cx| io.poll_flush(cx));
            }
        }
    }

    /// Feeds ciphertext to the session, keeping what it cannot take yet. A TLS error is kept by
    /// the session (`session.error()`), which also queues the alert telling the peer why; the
    /// callers check it after sending that alert.
    fn feed(&mut self, data: &[u8]) {
        let mut fed = 0;
        while fed < data.len() {
            match self.session.handle_input(&data[fed..], now()) {
                Ok(0) => {
                    self.in_flight
                        .get_or_insert_with(Box::default)
                        .leftover
                        .extend_from_slice(&data[fed..]);
                    break;
                }
                Ok(n) => fed += n,
                Err(_) => break,
            }
        }
        self.drain_events();
    }

    fn feed_leftover(&mut self) {
        let leftover = self
            .in_flight
            .as_mut()
            .map(|f| std::mem::take(&mut f.leftover))
            .unwrap_or_default();
        self.release_in_flight();
        self.feed(&leftover);
    }

    /// Events carry nothing the stream needs that the session cannot tell later (peer info,
    /// closure, errors are all queryable); drain them so they hold no memory.
    fn drain_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            if let Event::Failed(e) = &event {
                tracing::debug!(error = %e, "TLS session failed");
            }
        }
    }

    /// Reads from the transport into a stack buffer and feeds the session. Ready(Ok(())) means
    /// progress was made (bytes fed or EOF seen).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut storage = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut storage);
        std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        if buf.filled().is_empty() {
            self.transport_eof = true;
            self.session.handle_eof(now());
            self.drain_events();
            return Poll::Ready(Ok(()));
        }
        self.feed(buf.filled());
        Poll::Ready(Ok(()))
    }

    /// Fires the session's timer (idle timeout, close linger) when it is due.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.session.poll_timeout() else {
            self.timer = None;
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        match &mut self.timer {
            Some(timer) if timer.deadline() == deadline => {}
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        let Some(timer) = &mut self.timer else {
            return Poll::Pending;
        };
        std::task::ready!(timer.as_mut().poll(cx));
        self.session.handle_timeout(now());
        self.drain_events();
        Poll::Ready(())
    }

    /// Drives the handshake to completion and sends its last flight. The session's handshake
    /// deadline runs on the connection's timer; when it passes, the session fails with
    /// `HandshakeTimeout`.
    pub(crate) fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        for _ in 0..MAX_ROUNDS {
            self.take_transmit();
            let drained = self.poll_drain(cx, Role::Writer)?;
            if let Some(e) = self.session.error() {
                let e = io::Error::from(e.clone());
                self.timer = None;
                // The alert explaining the failure goes out first, if the transport takes it.
                return drained.map(|()| Err(e));
            }
            if !self.session.is_handshaking() {
                self.timer = None;
                std::task::ready!(drained);
                return self.with_write_waker(Role::Writer, cx, |io, cx| io.poll_flush(cx));
            }
            if self.has_leftover() {
                self.feed_leftover();
                continue;
            }
            if self.transport_eof {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    tlswire_core::Error::EofDuringHandshake,
                )));
            }
            if self.poll_timer(cx).is_ready() {
                continue;
            }
            std::task::ready!(self.poll_fill(cx))?;
        }
        yield_now(cx)
    }

    /// Reads plaintext into `buf`. Ready with nothing added is end of stream.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        for _ in 0..MAX_ROUNDS {
            self.flush_opportunistically(cx);
            let mut copied = 0;
            while buf.remaining() > 0 {
                let Some(chunk) = self.session.read_chunk() else {
                    break;
                };
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                self.session.consume(n);
                copied += n;
            }
            if copied > 0 {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = self.session.error() {
                return Poll::Ready(Err(io::Error::from(e.clone())));
            }
            if self.session.is_peer_closed() {
                return Poll::Ready(Ok(()));
            }
            if self.transport_eof {
                return Poll::Ready(match self.eof_policy {
                    EofPolicy::Strict => Err(UnexpectedEofError::io_error()),
                    EofPolicy::Lenient => Ok(()),
                });
            }
            if self.has_leftover() {
                self.feed_leftover();
                continue;
            }
            if self.poll_timer(cx).is_ready() {
                continue;
            }
            std::task::ready!(self.poll_fill(cx))?;
        }
        yield_now(cx)
    }

    /// Takes plaintext into the session; sends what the transport will take now.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Back-pressure: new plaintext is taken only once earlier ciphertext has left.
        self.take_transmit();
        std::task::ready!(self.poll_drain(cx, Role::Writer))?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        let written = match self.session.write_vectored(bufs) {
            Ok(n) => n,
            Err(e) => {
                // A failed session has an alert queued; send it on the way out.
                self.take_transmit();
                let _ = self.poll_drain(cx, Role::Writer);
                return Poll::Ready(Err(e.into()));
            }
        };
        self.take_transmit();
        // Errors are kept for the next call: these bytes were accepted.
        let _ = self.poll_drain(cx, Role::Writer);
        Poll::Ready(Ok(written))
    }

    /// Sends everything written so far and flushes the transport.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.take_transmit();
        std::task::ready!(self.poll_drain(cx, Role::Writer))?;
        self.with_write_waker(Role::Writer, cx, |io, cx| io.poll_flush(cx))
    }

    /// Sends close_notify (after everything written before it), waits until the transport has
    /// taken it, then shuts the transport's write side.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.close_started {
            self.close_started = true;
            self.session.close(now());
        }
        self.take_transmit();
        std::task::ready!(self.poll_drain(cx, Role::Writer))?;
        std::task::ready!(self.with_write_waker(Role::Writer, cx, |io, cx| io.poll_flush(cx)))?;
        self.with_write_waker(Role::Writer, cx, |io, cx| io.poll_shutdown(cx))
    }

    /// Whether close_notify was queued and the transport has taken it.
    pub(crate) fn close_notify_sent(&self) -> bool {
        self.session.close_notify_queued() && !self.has_unsent()
    }
}

/// Gives other tasks a turn after a long run of work in one poll.
fn yield_now<T>(cx: &mut Context<'_>) -> Poll<T> {
    cx.waker().wake_by_ref();
    Poll::Pending
}
