//! [`FdSession`]: a session plus the stream it talks over.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use tlswire_core::{Event, Session};

use crate::{poll_fd, Error, Interest};

/// Bytes asked of the stream per read: one full TLS record with its header and tag.
const READ_CHUNK: usize = 16 * 1024 + 256;

/// Stream reads one `read` call makes at most while no plaintext arrives.
const MAX_READ_ROUNDS: usize = 10_000;

/// What one [`FdSession::pump`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Ciphertext was written to the stream.
    pub wrote: bool,
    /// Ciphertext (or end of stream) was read from the stream.
    pub read: bool,
    /// The stream had nothing to read (`WouldBlock`).
    pub read_would_block: bool,
    /// Ciphertext is left over because the stream would not take it (`WouldBlock`).
    pub write_would_block: bool,
}

/// A TLS session driven over a stream.
///
/// It is `Read + Write` itself: on a blocking stream those calls block like the stream's own;
/// on a non-blocking stream they return `WouldBlock`, and [`interest`](Self::interest) says
/// what to wait for. Events (handshake done, peer closed) are kept for
/// [`poll_event`](Self::poll_event) and summed up by the `is_*` methods.
#[derive(Debug)]
pub struct FdSession<S> {
    session: Session,
    io: S,
    /// Ciphertext taken from the session and not yet accepted by the stream.
    outgoing: Vec<u8>,
    sent: usize,
    /// Ciphertext read from the stream that the session has not consumed yet (its read buffer
    /// was full).
    incoming: Vec<u8>,
    events: VecDeque<Event>,
    handshake_complete: bool,
    peer_closed: bool,
    transport_eof: bool,
    lenient_eof: bool,
    failure: Option<Error>,
}

impl<S: Read + Write> FdSession<S> {
    /// Drives `session` over `io`. The session's handshake clock starts now.
    pub fn new(mut session: Session, io: S) -> Self {
        session.handle_timeout(Instant::now());
        Self {
            session,
            io,
            outgoing: Vec::new(),
            sent: 0,
            incoming: Vec::new(),
            events: VecDeque::new(),
            handshake_complete: false,
            peer_closed: false,
            transport_eof: false,
            lenient_eof: false,
            failure: None,
        }
    }

    /// Treats a transport close without close_notify as a clean end of stream instead of
    /// [`Error::UnexpectedEof`]. For protocols that frame their own messages.
    pub fn set_lenient_eof(&mut self, lenient: bool) {
        self.lenient_eof = lenient;
    }

    /// One step of I/O without blocking on a non-blocking stream: fires due timers, sends
    /// pending ciphertext until the stream pushes back, reads from the stream at most once,
    /// feeds the session, and sends what that produced (handshake replies, alerts).
    ///
    /// On a blocking stream the read blocks until the peer sends something, so call it only
    /// when [`interest`](Self::interest) asks to read, or use the `Read` impl.
    pub fn pump(&mut self, now: Instant) -> Result<Progress, Error> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let mut progress = Progress::default();
        self.session.handle_timeout(now);
        self.flush_ciphertext(&mut progress)?;
        self.feed_leftover(now);
        if self.wants_read() && self.incoming.is_empty() {
            self.read_once(now, &mut progress)?;
        }
        self.flush_ciphertext(&mut progress)?;
        self.collect_events();
        match &self.failure {
            Some(e) => Err(e.clone()),
            None => Ok(progress),
        }
    }

    /// What the session waits for: to read when it can use ciphertext, to write when the
    /// stream pushed back.
    pub fn interest(&self) -> Interest {
        if self.failure.is_some() {
            return Interest::NONE;
        }
        Interest {
            read: self.wants_read() && self.incoming.is_empty(),
            write: self.sent < self.outgoing.len(),
        }
    }

    /// The next event the session reported (handshake complete, peer closed, ...).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the handshake has completed.
    pub fn is_handshake_complete(&self) -> bool {
        self.handshake_complete
    }

    /// Whether the peer sent close_notify.
    pub fn is_peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Whether the stream reached end of file.
    pub fn is_transport_eof(&self) -> bool {
        self.transport_eof
    }

    /// The error that ended this session, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// Whether ciphertext waits for the stream (call [`pump`](Self::pump) when it is writable).
    pub fn has_pending_output(&self) -> bool {
        self.sent < self.outgoing.len() || self.session.wants_transmit()
    }

    /// Starts a clean close: queues close_notify and tries to send it. The peer's close_notify
    /// is still read (see [`is_peer_closed`](Self::is_peer_closed)).
    pub fn close(&mut self, now: Instant) -> Result<(), Error> {
        self.session.close(now);
        let mut progress = Progress::default();
        self.flush_ciphertext(&mut progress)
    }

    /// The session, to read plaintext or ask what was negotiated.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, mutably (for `read_chunk`, `write`, `peer`).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream, mutably. Reading or writing it directly corrupts the TLS stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The session and the stream, taken apart.
    pub fn into_parts(self) -> (Session, S) {
        (self.session, self.io)
    }

    fn wants_read(&self) -> bool {
        !self.transport_eof && self.session.wants_input()
    }

    fn fail(&mut self, e: Error) -> Error {
        if self.failure.is_none() {
            tracing::debug!(error = %e, "TLS stream failed");
            self.failure = Some(e.clone());
        }
        self.failure.clone().unwrap_or(e)
    }

    /// Writes ciphertext until the session has none or the stream pushes back.
    fn flush_ciphertext(&mut self, progress: &mut Progress) -> Result<(), Error> {
        loop {
            if self.sent == self.outgoing.len() {
                self.outgoing.clear();
                self.sent = 0;
                if self.session.poll_transmit(&mut self.outgoing) == 0 {
                    return Ok(());
                }
            }
            match self.io.write(&self.outgoing[self.sent..]) {
                Ok(0) => return Err(self.fail(io::Error::from(io::ErrorKind::WriteZero).into())),
                Ok(n) => {
                    self.sent += n;
                    progress.wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    progress.write_would_block = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e.into())),
            }
        }
    }

    /// Offers ciphertext that did not fit into the session before.
    fn feed_leftover(&mut self, now: Instant) {
        if self.incoming.is_empty() || !self.session.wants_input() {
            return;
        }
        match self.session.handle_input(&self.incoming, now) {
            Ok(n) => {
                self.incoming.drain(..n);
            }
            Err(e) => {
                self.fail(e.into());
            }
        }
    }

    fn read_once(&mut self, now: Instant, progress: &mut Progress) -> Result<(), Error> {
        let mut buf = [0u8; READ_CHUNK];
        let n = loop {
            match self.io.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    progress.read_would_block = true;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e.into())),
            }
        };
        progress.read = true;
        if n == 0 {
            self.transport_eof = true;
            self.session.handle_eof(now);
            return Ok(());
        }
        match self.session.handle_input(&buf[..n], now) {
            Ok(taken) => self.incoming.extend_from_slice(&buf[taken..n]),
            Err(e) => {
                self.fail(e.into());
            }
        }
        Ok(())
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match &event {
                Event::HandshakeComplete(_) => self.handshake_complete = true,
                Event::PeerClosed => self.peer_closed = true,
                Event::UnexpectedEof if !self.lenient_eof => {
                    // Reported once the plaintext before it has been read (see `Read`).
                }
                Event::Failed(e) => {
                    self.fail(e.clone().into());
                }
                _ => {}
            }
            self.events.push_back(event);
        }
    }

    /// Whether the stream ended without close_notify and that counts as an error.
    fn truncated(&self) -> bool {
        self.transport_eof && !self.peer_closed && self.handshake_complete && !self.lenient_eof
    }

    /// Copies buffered plaintext into `buf`; `None` when there is none.
    fn read_buffered(&mut self, buf: &mut [u8]) -> Option<usize> {
        (self.session.readable_bytes() > 0).then(|| self.session.read(buf))
    }
}

impl<S: Read + Write + AsFd> FdSession<S> {
    /// Waits with poll(2) until the stream is ready for [`interest`](Self::interest), a session
    /// timer is due, or `timeout` passes (`None`: no limit), then [`pump`](Self::pump)s.
    /// Returns at once when plaintext is already buffered. Returns whether the stream was ready.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<bool, Error> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if self.session.readable_bytes() > 0 {
            return Ok(true);
        }
        let now = Instant::now();
        let timer = self
            .session
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now));
        let limit = match (timeout, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ready =
            poll_fd(self.io.as_fd(), self.interest(), limit).map_err(|e| self.fail(e.into()))?;
        self.pump(Instant::now())?;
        Ok(!ready.is_none())
    }
}

impl<S: Read + Write> Read for FdSession<S> {
    /// Reads plaintext; `Ok(0)` is the end of the stream (close_notify, or a transport close
    /// with [`set_lenient_eof`](FdSession::set_lenient_eof)). A close without close_notify is
    /// an `UnexpectedEof` error once the plaintext before it has been read.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Each round reads from the stream (which blocks or says WouldBlock) or finds it at its
        // end; only records without application data (handshake, tickets, key updates) make
        // another round, and a peer cannot send unboundedly many of those to one read.
        for _ in 0..MAX_READ_ROUNDS {
            if let Some(n) = self.read_buffered(buf) {
                return Ok(n);
            }
            if let Some(e) = &self.failure {
                return Err(e.clone().into());
            }
            if self.truncated() {
                return Err(self.fail(Error::UnexpectedEof).into());
            }
            if self.peer_closed || self.transport_eof {
                return Ok(0);
            }
            let progress = self.pump(Instant::now())?;
            if self.session.readable_bytes() == 0 && progress.read_would_block {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if !progress.read && !progress.wrote && !self.wants_read() && self.incoming.is_empty() {
                // Nothing can change without the caller: the stream is writable-blocked.
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl<S: Read + Write> Write for FdSession<S> {
    /// Buffers plaintext (sent when a record fills, on `flush`, or on the next read). Returns
    /// `WouldBlock` on a non-blocking stream when the session's write buffer is full.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        for _ in 0..2 {
            let n = self
                .session
                .write(buf)
                .map_err(|e| io::Error::from(self.fail(e.into())))?;
            if n > 0 {
                return Ok(n);
            }
            let mut progress = Progress::default();
            self.flush_ciphertext(&mut progress)?;
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Encrypts buffered plaintext and writes all ciphertext to the stream.
    fn flush(&mut self) -> io::Result<()> {
        let mut progress = Progress::default();
        self.flush_ciphertext(&mut progress)?;
        if self.sent < self.outgoing.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.io.flush()
    }
}
