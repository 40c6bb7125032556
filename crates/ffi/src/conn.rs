//! A connection behind the C handle: a session over a socket (possibly still resolving its
//! host name), or over caller-owned buffers.

use std::ffi::CString;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use tlswire_core::{Event, PeerInfo, Session};
use tlswire_fd::{poll_fd, FdSession, Interest};

use crate::connect::Dialing;
use crate::error::{
    c_message, from_fd_error, from_session_error, FfiError, TLSWIRE_ERROR_CLOSED,
    TLSWIRE_ERROR_TIMEOUT, TLSWIRE_ERROR_UNEXPECTED_EOF, TLSWIRE_ERROR_WRONG_KIND, TLSWIRE_OK,
};

/// Where a connection's ciphertext goes.
pub(crate) enum Transport {
    /// The host name is being resolved on a helper thread; the session buffers writes.
    Dialing(Box<Dialing>, Box<Session>),
    /// A connected (or connecting) socket.
    Socket(Box<FdSession<TcpStream>>),
    /// Caller-owned I/O: ciphertext in through `tlswire_feed`, out through
    /// `tlswire_peek_output` / `tlswire_consume_output`.
    Buffers {
        session: Box<Session>,
        out: Vec<u8>,
        out_pos: usize,
        eof: bool,
    },
    /// Only while switching from `Dialing` to `Socket`.
    Switching,
}

/// One TLS connection; the C side sees it as `tlswire_conn`.
pub struct tlswire_conn {
    pub(crate) transport: Transport,
    /// Who the peer is, for messages: `host:port`, `fd 7`, `buffers`.
    pub(crate) peer: String,
    error: Option<(i32, CString)>,
    fatal: bool,
    locally_closed: bool,
    /// Whether the socket has carried bytes: errors before that are connect errors.
    connected: bool,
    handshake_complete: bool,
    peer_closed: bool,
    peer_info: Option<PeerInfo>,
}

impl tlswire_conn {
    pub(crate) fn new(transport: Transport, peer: String) -> Self {
        let connected = !matches!(transport, Transport::Dialing(..));
        Self {
            transport,
            peer,
            error: None,
            fatal: false,
            locally_closed: false,
            connected,
            handshake_complete: false,
            peer_closed: false,
            peer_info: None,
        }
    }

    /// Records an error: a fatal one sticks, a passing one (a wait timeout) is replaced by the
    /// next call's outcome.
    pub(crate) fn record(&mut self, e: &FfiError) {
        if self.fatal {
            return;
        }
        self.error = Some((e.code, c_message(&e.message)));
        self.fatal = e.fatal;
    }

    /// Forgets a passing error after a call that succeeded.
    pub(crate) fn clear_passing_error(&mut self) {
        if !self.fatal {
            self.error = None;
        }
    }

    pub(crate) fn error_code(&self) -> i32 {
        self.error.as_ref().map_or(TLSWIRE_OK, |e| e.0)
    }

    pub(crate) fn error_message(&self) -> &std::ffi::CStr {
        self.error.as_ref().map_or(c"", |e| e.1.as_c_str())
    }

    fn failure(&self) -> Result<(), FfiError> {
        match (&self.error, self.fatal) {
            (Some((code, message)), true) => Err(FfiError::fatal(
                *code,
                message.to_string_lossy().into_owned(),
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn session(&self) -> Option<&Session> {
        match &self.transport {
            Transport::Dialing(_, session) => Some(session),
            Transport::Socket(fd) => Some(fd.session()),
            Transport::Buffers { session, .. } => Some(session),
            Transport::Switching => None,
        }
    }

    pub(crate) fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.transport {
            Transport::Dialing(_, session) => Some(session),
            Transport::Socket(fd) => Some(fd.session_mut()),
            Transport::Buffers { session, .. } => Some(session),
            Transport::Switching => None,
        }
    }

    fn readable(&self) -> usize {
        self.session().map_or(0, Session::readable_bytes)
    }

    /// Whether data can still come or go: not failed, not closed by us, and not closed by the
    /// peer with everything it sent already read.
    pub(crate) fn is_open(&self) -> bool {
        let drained = self.peer_done() && self.readable() == 0;
        !(self.fatal || self.locally_closed || drained)
    }

    fn peer_done(&self) -> bool {
        self.peer_closed
            || match &self.transport {
                Transport::Socket(fd) => fd.is_transport_eof(),
                Transport::Buffers { eof, .. } => *eof,
                _ => false,
            }
    }

    pub(crate) fn is_handshake_complete(&self) -> bool {
        self.handshake_complete
    }

    pub(crate) fn peer_info(&self) -> Option<&PeerInfo> {
        self.peer_info.as_ref()
    }

    /// Does the I/O that is possible without blocking, then takes stock. Errors are recorded
    /// on the connection, not returned: plaintext that arrived before an error is still read.
    pub(crate) fn pump(&mut self) {
        if self.fatal {
            return;
        }
        let now = Instant::now();
        if let Transport::Dialing(dialing, session) = &mut self.transport {
            session.handle_timeout(now);
            match dialing.poll() {
                Ok(false) => return self.take_stock(),
                Ok(true) => self.switch_to_socket(),
                Err(e) => return self.record(&e),
            }
        }
        match &mut self.transport {
            Transport::Socket(fd) => {
                // One read per call (a full record); errors are kept by the fd session and
                // picked up by take_stock.
                let _ = fd.pump(now);
            }
            Transport::Buffers { session, .. } => session.handle_timeout(now),
            Transport::Dialing(..) | Transport::Switching => {}
        }
        self.take_stock();
    }

    fn switch_to_socket(&mut self) {
        let Transport::Dialing(dialing, session) =
            std::mem::replace(&mut self.transport, Transport::Switching)
        else {
            return;
        };
        self.transport =
            Transport::Socket(Box::new(FdSession::new(*session, dialing.into_stream())));
        self.connected = true;
    }

    /// Drains events into the connection's state and records failures.
    pub(crate) fn take_stock(&mut self) {
        let mut events = Vec::new();
        let failure = match &mut self.transport {
            Transport::Socket(fd) => {
                while let Some(event) = fd.poll_event() {
                    events.push(event);
                }
                fd.error()
                    .map(|e| from_fd_error(e, self.connected, &self.peer))
            }
            Transport::Buffers { session, .. } | Transport::Dialing(_, session) => {
                while let Some(event) = session.poll_event() {
                    events.push(event);
                }
                session.error().map(|e| from_session_error(e, &self.peer))
            }
            Transport::Switching => None,
        };
        for event in events {
            match event {
                Event::HandshakeComplete(info) => {
                    self.handshake_complete = true;
                    self.connected = true;
                    self.peer_info = Some(info);
                }
                Event::PeerClosed => self.peer_closed = true,
                _ => {}
            }
        }
        if let Some(e) = failure {
            self.record(&e);
        } else if self.peer_done()
            && !self.peer_closed
            && self.handshake_complete
            && self.readable() == 0
        {
            // Truncation is reported once everything before it has been read.
            self.record(&FfiError::fatal(
                TLSWIRE_ERROR_UNEXPECTED_EOF,
                format!(
                    "{}: peer closed the connection without TLS close_notify \
                     (the data may be truncated)",
                    self.peer
                ),
            ));
        }
    }

    /// Copies plaintext into `buf`; 0 bytes with success means nothing yet (or the end, when
    /// the connection is no longer open).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<usize, FfiError> {
        if self.readable() == 0 {
            self.pump();
        }
        let n = self.session_mut().map_or(0, |s| s.read(buf));
        if n == 0 {
            self.take_stock();
            self.failure()?;
        }
        Ok(n)
    }

    /// Buffers plaintext for sending and sends what the socket takes; returns how much was
    /// taken (fewer bytes: back-pressure, wait for write interest).
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<usize, FfiError> {
        self.failure()?;
        if self.locally_closed {
            return Err(FfiError::new(
                TLSWIRE_ERROR_CLOSED,
                format!("{}: write after tlswire_close", self.peer),
            ));
        }
        let result = match self.session_mut() {
            Some(session) => session.write(data),
            None => Ok(0),
        };
        let taken = match result {
            Ok(n) => n,
            Err(e) => {
                let e = from_session_error(&e, &self.peer);
                self.record(&e);
                return Err(e);
            }
        };
        self.flush();
        if taken == 0 {
            // The flush may have made room.
            let again = match self.session_mut() {
                Some(session) => session.write(data).unwrap_or(0),
                None => 0,
            };
            if again > 0 {
                self.flush();
                return Ok(again);
            }
        }
        Ok(taken)
    }

    /// Sends buffered output as far as the socket takes it, without reading.
    fn flush(&mut self) {
        match &mut self.transport {
            // Errors are kept by the fd session and picked up by take_stock.
            Transport::Socket(fd) => {
                let _ = std::io::Write::flush(&mut **fd);
            }
            Transport::Dialing(..) => return self.pump(),
            _ => {}
        }
        self.take_stock();
    }

    /// Queues close_notify and sends it if the socket takes it.
    pub(crate) fn close(&mut self) {
        let now = Instant::now();
        if let Some(session) = self.session_mut() {
            session.close(now);
        }
        self.locally_closed = true;
        if let Transport::Socket(fd) = &mut self.transport {
            let _ = fd.close(now);
        }
        self.take_stock();
    }

    pub(crate) fn pollfd(&self) -> Result<RawFd, FfiError> {
        match &self.transport {
            Transport::Dialing(dialing, _) => Ok(dialing.pollfd()),
            Transport::Socket(fd) => Ok(fd.get_ref().as_raw_fd()),
            _ => Err(self.wrong_kind("tlswire_pollfd")),
        }
    }

    pub(crate) fn interest(&self) -> Interest {
        if self.fatal {
            return Interest::NONE;
        }
        match &self.transport {
            Transport::Dialing(dialing, _) => dialing.interest(),
            Transport::Socket(fd) => fd.interest(),
            Transport::Buffers {
                session,
                out,
                out_pos,
                eof,
            } => Interest {
                read: !*eof && session.wants_input(),
                write: *out_pos < out.len() || session.wants_transmit(),
            },
            Transport::Switching => Interest::NONE,
        }
    }

    pub(crate) fn wrong_kind(&self, call: &str) -> FfiError {
        let kind = match self.transport {
            Transport::Buffers { .. } => "a sans-IO connection (it has no socket)",
            _ => "a socket connection (it does its own I/O)",
        };
        FfiError::new(
            TLSWIRE_ERROR_WRONG_KIND,
            format!("{call} does not apply to {kind}"),
        )
    }

    /// Blocks until plaintext is readable, the handshake completes, the connection ends,
    /// blocked output drains, or `timeout` passes (a `TLSWIRE_ERROR_TIMEOUT` error).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Result<(), FfiError> {
        if matches!(self.transport, Transport::Buffers { .. }) {
            return Err(self.wrong_kind("tlswire_wait"));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let was_complete = self.handshake_complete;
        let was_full = self.session().is_some_and(|s| s.write_capacity() == 0);
        let was_backed_up = self.interest().write;
        // Bounded in rounds and, through `deadline` and the session's timers, in time.
        for round in 0..1_000_000 {
            if round > 0 {
                self.pump();
            }
            let room = self.session().is_some_and(|s| s.write_capacity() > 0);
            let interest = self.interest();
            if self.readable() > 0
                || self.handshake_complete != was_complete
                || (was_full && room)
                || (was_backed_up && !interest.write)
                || (!self.is_open() && !interest.write)
            {
                return Ok(());
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(FfiError::new(
                    TLSWIRE_ERROR_TIMEOUT,
                    format!("{}: tlswire_wait timed out", self.peer),
                ));
            }
            let timer = self.session().and_then(Session::poll_timeout);
            let limit = [deadline, timer]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t.saturating_duration_since(now));
            if interest.is_none() && limit.is_none() {
                // Nothing could ever wake us.
                return Ok(());
            }
            let ready = match &self.transport {
                Transport::Dialing(dialing, _) => dialing.wait(limit),
                Transport::Socket(fd) => poll_fd(fd.get_ref().as_fd(), interest, limit),
                _ => return Ok(()),
            };
            if let Err(e) = ready {
                return Err(FfiError::new(
                    crate::error::TLSWIRE_ERROR_IO,
                    format!("{}: poll failed: {e}", self.peer),
                ));
            }
        }
        Ok(())
    }

    /// Feeds ciphertext from the caller's transport; `data` empty means it reached EOF.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<usize, FfiError> {
        let now = Instant::now();
        let peer = self.peer.clone();
        if !matches!(self.transport, Transport::Buffers { .. }) {
            return Err(self.wrong_kind("tlswire_feed"));
        }
        self.failure()?;
        let Transport::Buffers { session, eof, .. } = &mut self.transport else {
            return Ok(0);
        };
        let result = if data.is_empty() {
            *eof = true;
            session.handle_eof(now);
            Ok(0)
        } else if *eof {
            Ok(data.len())
        } else {
            session.handle_input(data, now)
        };
        self.take_stock();
        match result {
            Ok(n) => {
                self.failure()?;
                Ok(n)
            }
            Err(e) => Err(from_session_error(&e, &peer)),
        }
    }

    /// The ciphertext waiting to be sent, as a slice valid until the next call on this
    /// connection other than `consume_output`.
    pub(crate) fn peek_output(&mut self) -> Result<&[u8], FfiError> {
        if !matches!(self.transport, Transport::Buffers { .. }) {
            return Err(self.wrong_kind("tlswire_peek_output"));
        }
        let Transport::Buffers {
            session,
            out,
            out_pos,
            ..
        } = &mut self.transport
        else {
            return Ok(&[]);
        };
        if *out_pos == out.len() {
            out.clear();
            *out_pos = 0;
            let _ = session.poll_transmit(out);
        }
        Ok(&out[*out_pos..])
    }

    /// Marks `n` bytes of `peek_output` as sent.
    pub(crate) fn consume_output(&mut self, n: usize) -> Result<(), FfiError> {
        if !matches!(self.transport, Transport::Buffers { .. }) {
            return Err(self.wrong_kind("tlswire_consume_output"));
        }
        let Transport::Buffers { out, out_pos, .. } = &mut self.transport else {
            return Ok(());
        };
        let left = out.len() - *out_pos;
        if n > left {
            return Err(FfiError::new(
                crate::error::TLSWIRE_ERROR_INVALID_ARGUMENT,
                format!("tlswire_consume_output: {n} bytes consumed but only {left} were peeked"),
            ));
        }
        *out_pos += n;
        Ok(())
    }
}
