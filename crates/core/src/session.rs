//! [`Session`]: one TLS connection as a pure function of bytes and time.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Instant;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, ServerConfig};

use crate::engine::{self, Buffers, Flush, Progress};
use crate::hello::{ClientHello, HelloReader};
use crate::{Error, Event, Limits, PeerInfo};

/// The rustls connection behind a session.
enum Conn {
    Client(UnbufferedClientConnection),
    Server(UnbufferedServerConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Client(_) => "Client",
            Self::Server(_) => "Server",
        })
    }
}

/// One TLS connection, client or server, with no I/O of its own.
///
/// Feed it the bytes that arrive from the network with [`handle_input`](Self::handle_input), hand
/// what [`poll_transmit`](Self::poll_transmit) gives you to the network, and drain
/// [`poll_event`](Self::poll_event) and [`read_chunk`](Self::read_chunk) after every input. Time
/// enters only as arguments; ask [`poll_timeout`](Self::poll_timeout) when to call
/// [`handle_timeout`](Self::handle_timeout).
///
/// ```no_run
/// # use std::time::Instant;
/// # fn run(config: std::sync::Arc<rustls::ClientConfig>, net: &mut std::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::{Read, Write};
/// let mut session = tlswire_core::Session::client(config, "example.com")?;
/// session.write(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n")?;
/// let (mut out, mut buf) = (Vec::new(), [0u8; 16 * 1024]);
/// loop {
///     // Invariant: after every input, drain every output.
///     session.poll_transmit(&mut out);
///     net.write_all(&out)?;
///     out.clear();
///     while let Some(event) = session.poll_event() {
///         println!("{event:?}");
///     }
///     while let Some(chunk) = session.read_chunk() {
///         std::io::stdout().write_all(chunk)?;
///         let n = chunk.len();
///         session.consume(n);
///     }
///     let n = net.read(&mut buf)?;
///     if n == 0 {
///         session.handle_eof(Instant::now());
///         break;
///     }
///     let mut fed = 0;
///     while fed < n {
///         // Less than offered is taken while the read buffer is full: read, then go on.
///         fed += session.handle_input(&buf[fed..n], Instant::now())?;
///         while let Some(chunk) = session.read_chunk() {
///             std::io::stdout().write_all(chunk)?;
///             let n = chunk.len();
///             session.consume(n);
///         }
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Session {
    conn: Conn,
    buf: Buffers,
    limits: Limits,
    events: VecDeque<Event>,
    sni: Option<String>,
    /// A server session made without [`Accept`](crate::Accept) reads the SNI from the first
    /// bytes itself; this holds them until the ClientHello is complete.
    hello_bytes: Option<Vec<u8>>,
    hello_reader: HelloReader,
    handshake_complete: bool,
    failure: Option<Error>,
    eof: bool,
    closed_reported: bool,
    last_now: Option<Instant>,
    handshake_deadline: Option<Instant>,
    linger_deadline: Option<Instant>,
    idle_deadline: Option<Instant>,
}

impl Session {
    /// Starts a client session that will verify the server as `server_name` (a DNS name or an IP
    /// address) and send it as SNI when it is a DNS name.
    ///
    /// The ClientHello is ready at once: call [`poll_transmit`](Self::poll_transmit).
    pub fn client(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, Error> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| Error::InvalidServerName(server_name.to_owned()))?;
        let conn = UnbufferedClientConnection::new(config, name)?;
        let mut session = Self::new(Conn::Client(conn));
        session.sni = Some(server_name.to_owned());
        session.drive(Flush::FullRecords);
        Ok(session)
    }

    /// Starts a server session with one fixed configuration.
    ///
    /// To choose the certificate, client authentication and ALPN by the client's SNI, or to
    /// accept plaintext on the same port, use [`Accept`](crate::Accept) instead.
    pub fn server(config: Arc<ServerConfig>) -> Result<Self, Error> {
        let mut session = Self::server_with_hello(config, None)?;
        session.hello_bytes = Some(Vec::new());
        Ok(session)
    }

    pub(crate) fn server_with_hello(
        config: Arc<ServerConfig>,
        hello: Option<&ClientHello>,
    ) -> Result<Self, Error> {
        let conn = UnbufferedServerConnection::new(config)?;
        let mut session = Self::new(Conn::Server(conn));
        session.sni = hello.and_then(|h| h.server_name.clone());
        Ok(session)
    }

    fn new(conn: Conn) -> Self {
        Self {
            conn,
            buf: Buffers::default(),
            limits: Limits::default(),
            events: VecDeque::new(),
            sni: None,
            hello_bytes: None,
            hello_reader: HelloReader::default(),
            handshake_complete: false,
            failure: None,
            eof: false,
            closed_reported: false,
            last_now: None,
            handshake_deadline: None,
            linger_deadline: None,
            idle_deadline: None,
        }
    }

    /// Replaces the buffer limits and timeouts (see [`Limits`]).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits this session works within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes ciphertext that arrived from the network and returns how many bytes were consumed.
    ///
    /// Fewer than `data.len()` bytes are consumed when the plaintext read buffer is full and
    /// [`Limits::max_record_backlog`] bytes of ciphertext wait behind it: read with
    /// [`read_chunk`](Self::read_chunk) (which decrypts more as it empties) and offer the rest
    /// again. After every call, drain
    /// [`poll_transmit`](Self::poll_transmit) (key updates and alerts are produced here),
    /// [`poll_event`](Self::poll_event) and [`read_chunk`](Self::read_chunk).
    ///
    /// An error ends the session for good; the alert that explains it to the peer is queued
    /// for [`poll_transmit`](Self::poll_transmit), and later calls return the same error.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<usize, Error> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        self.tick(now);
        if self.buf.peer_closed || self.eof {
            // After close_notify nothing more is authenticated; drop it.
            return Ok(data.len());
        }
        if let Some(limit) = self.limits.idle_timeout {
            if self.handshake_complete && !data.is_empty() {
                self.idle_deadline = now.checked_add(limit);
            }
        }
        let room = self
            .limits
            .max_record_backlog
            .saturating_sub(self.buf.unprocessed_input());
        let taken = room.min(data.len());
        if taken > 0 {
            self.buf.compact_incoming();
            self.buf.incoming.extend_from_slice(&data[..taken]);
            self.observe_client_hello(&data[..taken]);
        }
        self.drive(Flush::FullRecords);
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if self.buf.unprocessed_input() >= self.limits.max_record_backlog
            && self.buf.unread_plaintext() < self.limits.max_read_buffer
        {
            return Err(self.fail(Error::RecordBacklogFull));
        }
        self.buf.release_empty();
        Ok(taken)
    }

    /// Tells the session the transport was closed by the peer (a 0-byte read).
    ///
    /// Reports [`Event::UnexpectedEof`] when the peer did not send close_notify first, or
    /// [`Event::Failed`] with [`Error::EofDuringHandshake`] during the handshake.
    pub fn handle_eof(&mut self, now: Instant) {
        self.tick(now);
        if self.eof || self.failure.is_some() {
            return;
        }
        self.eof = true;
        if !self.handshake_complete {
            let e = self.fail(Error::EofDuringHandshake);
            self.events.push_back(Event::Failed(e));
        } else if !self.buf.peer_closed {
            self.events.push_back(Event::UnexpectedEof);
        }
    }

    /// Appends the ciphertext that should be sent to the peer to `out`; returns how many bytes.
    ///
    /// Call it after every other call. Buffered plaintext from [`write`](Self::write) is
    /// encrypted here (this is the flush), so small writes between two calls share records.
    #[must_use = "the returned bytes must be sent to the peer"]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        if self.failure.is_none() {
            self.drive(Flush::All);
        }
        let n = self.buf.outgoing.len();
        if out.is_empty() {
            std::mem::swap(out, &mut self.buf.outgoing);
            self.buf.outgoing = Vec::new();
        } else {
            out.extend_from_slice(&self.buf.outgoing);
            self.buf.outgoing = Vec::new();
        }
        n
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has bytes to give.
    pub fn wants_transmit(&self) -> bool {
        !self.buf.outgoing.is_empty()
            || (self.handshake_complete && !self.buf.plaintext_out.is_empty())
    }

    /// The next event, if any. Drain it after every input.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if self.events.is_empty() {
            // Events are rare; an idle session should not keep their queue allocated.
            self.events = VecDeque::new();
        }
        event
    }

    /// Plaintext received from the peer, borrowed without a copy. Call [`consume`](Self::consume)
    /// with how much of it you used; the same bytes come back until you do.
    #[must_use]
    pub fn read_chunk(&mut self) -> Option<&[u8]> {
        if self.buf.read_paused
            && self.buf.unread_plaintext() < self.limits.max_read_buffer
            && self.failure.is_none()
        {
            // The read buffer was full when this input arrived, and now has room: decrypt
            // more now, even if the caller keeps part of what it read (a partial line, say).
            self.drive(Flush::FullRecords);
        }
        let unread = &self.buf.plaintext_in[self.buf.plaintext_in_start..];
        (!unread.is_empty()).then_some(unread)
    }

    /// Marks `n` bytes of [`read_chunk`](Self::read_chunk)'s output as read.
    pub fn consume(&mut self, n: usize) {
        self.buf.plaintext_in_start =
            (self.buf.plaintext_in_start + n).min(self.buf.plaintext_in.len());
        if self.buf.plaintext_in_start == self.buf.plaintext_in.len() {
            self.buf.plaintext_in = Vec::new();
            self.buf.plaintext_in_start = 0;
        }
    }

    /// Copies received plaintext into `out`; returns how many bytes (0 when none is buffered,
    /// which is not end of stream: see [`Event::PeerClosed`]).
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut copied = 0;
        while copied < out.len() {
            let Some(chunk) = self.read_chunk() else {
                break;
            };
            let n = chunk.len().min(out.len() - copied);
            out[copied..copied + n].copy_from_slice(&chunk[..n]);
            self.consume(n);
            copied += n;
        }
        copied
    }

    /// Bytes of received plaintext waiting to be read.
    pub fn readable_bytes(&self) -> usize {
        self.buf.unread_plaintext()
    }

    /// Buffers plaintext to send; returns how many bytes were taken, which is fewer than
    /// `data.len()` when the write buffer is full (back-pressure: drain
    /// [`poll_transmit`](Self::poll_transmit), send, then write the rest).
    ///
    /// Writes are coalesced: whole 16 KiB records are encrypted at once, a remainder waits for
    /// the next `poll_transmit`, which flushes it. Data written before the handshake ends is
    /// sent when it does.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.write_vectored(&[IoSlice::new(data)])
    }

    /// [`write`](Self::write) for several buffers at once, filling records across them.
    pub fn write_vectored(&mut self, data: &[IoSlice<'_>]) -> Result<usize, Error> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if self.buf.close_requested {
            return Err(Error::Closed);
        }
        let mut room = self.write_capacity();
        let mut taken = 0;
        for slice in data {
            let n = slice.len().min(room);
            self.buf.plaintext_out.extend_from_slice(&slice[..n]);
            room -= n;
            taken += n;
            if room == 0 {
                break;
            }
        }
        if self.handshake_complete && self.buf.plaintext_out.len() >= engine::MAX_RECORD_PLAINTEXT {
            self.drive(Flush::FullRecords);
        }
        match &self.failure {
            Some(e) => Err(e.clone()),
            None => Ok(taken),
        }
    }

    /// How many more plaintext bytes [`write`](Self::write) would take now.
    pub fn write_capacity(&self) -> usize {
        self.limits
            .max_write_buffer
            .saturating_sub(self.buf.plaintext_out.len() + self.buf.outgoing.len())
    }

    /// Starts a clean close: buffered plaintext is flushed, then close_notify is queued for
    /// [`poll_transmit`](Self::poll_transmit). Calling it again does nothing.
    ///
    /// Reading goes on until the peer's close_notify ([`Event::PeerClosed`]); when both sides
    /// have closed, or the close linger runs out, [`Event::Closed`] is reported.
    pub fn close(&mut self, now: Instant) {
        self.tick(now);
        if self.buf.close_requested || self.failure.is_some() {
            return;
        }
        self.buf.close_requested = true;
        self.linger_deadline = now.checked_add(self.limits.close_linger);
        self.drive(Flush::All);
    }

    /// Whether close_notify has been queued (it is sent once `poll_transmit` hands it out).
    pub fn close_notify_queued(&self) -> bool {
        self.buf.close_notify_queued
    }

    /// Asks for a TLS 1.3 key update: new traffic keys for what we send, and a request that the
    /// peer update its own. The message goes out with the next `poll_transmit`.
    pub fn refresh_traffic_keys(&mut self) -> Result<(), Error> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if !self.handshake_complete
            || self.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3)
        {
            return Err(Error::KeyUpdateUnavailable);
        }
        self.buf.key_update_requested = true;
        self.drive(Flush::All);
        match &self.failure {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if a timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failure.is_some() || self.closed_reported {
            return None;
        }
        let handshake = self.handshake_deadline.filter(|_| !self.handshake_complete);
        let linger = self.linger_deadline.filter(|_| self.buf.close_requested);
        [handshake, linger, self.idle_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers that are due at `now`. Calling it early, or often, is harmless.
    ///
    /// The handshake clock starts at the first call that passes `now`; call this once right
    /// after creating a session to start it.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        if self.failure.is_some() || self.closed_reported {
            return;
        }
        if !self.handshake_complete && self.handshake_deadline.is_some_and(|d| now >= d) {
            let e = self.fail(Error::HandshakeTimeout);
            self.events.push_back(Event::Failed(e));
        } else if self.idle_deadline.is_some_and(|d| now >= d) {
            let e = self.fail(Error::IdleTimeout);
            self.events.push_back(Event::Failed(e));
        } else if self.buf.close_requested && self.linger_deadline.is_some_and(|d| now >= d) {
            self.closed_reported = true;
            self.events.push_back(Event::Closed {
                peer_confirmed: false,
            });
        }
    }

    /// What was negotiated; fields are empty until the handshake completes.
    pub fn peer(&self) -> PeerInfo {
        let common: &rustls::CommonState = match &self.conn {
            Conn::Client(c) => c,
            Conn::Server(c) => c,
        };
        PeerInfo {
            sni: self.sni.clone(),
            alpn: common.alpn_protocol().map(<[u8]>::to_vec),
            version: common.protocol_version(),
            cipher_suite: common.negotiated_cipher_suite().map(|s| s.suite()),
            handshake_kind: common.handshake_kind(),
            certificates: common
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
        }
    }

    fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        match &self.conn {
            Conn::Client(c) => c.protocol_version(),
            Conn::Server(c) => c.protocol_version(),
        }
    }

    /// Whether this is the client side.
    pub fn is_client(&self) -> bool {
        matches!(self.conn, Conn::Client(_))
    }

    /// Whether the handshake is still in progress (and has not failed).
    pub fn is_handshaking(&self) -> bool {
        !self.handshake_complete && self.failure.is_none()
    }

    /// Whether the peer's close_notify has arrived.
    pub fn is_peer_closed(&self) -> bool {
        self.buf.peer_closed
    }

    /// Whether the session can use more input: it has not failed, the peer has not closed, and
    /// the read buffer has room.
    pub fn wants_input(&self) -> bool {
        self.failure.is_none()
            && !self.buf.peer_closed
            && !self.eof
            && self.buf.unread_plaintext() < self.limits.max_read_buffer
    }

    /// The error that ended the session, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// Whether 0-RTT data was received (server side); it is delivered through `read_chunk`
    /// ahead of the rest, and is replayable by an attacker.
    pub fn received_early_data(&self) -> bool {
        self.buf.received_early_data
    }

    /// Heap bytes held in this session's own buffers (not counting rustls's state).
    pub fn buffered_bytes(&self) -> usize {
        self.buf.incoming.capacity()
            + self.buf.outgoing.capacity()
            + self.buf.plaintext_in.capacity()
            + self.buf.plaintext_out.capacity()
    }

    fn tick(&mut self, now: Instant) {
        self.last_now = Some(now);
        if self.handshake_deadline.is_none() {
            self.handshake_deadline = now.checked_add(self.limits.handshake_timeout);
        }
    }

    fn drive(&mut self, flush: Flush) {
        if self.failure.is_some() {
            // A failed connection sends nothing more than the alert already queued.
            return;
        }
        let max_read = self.limits.max_read_buffer;
        let result = match &mut self.conn {
            Conn::Client(c) => engine::drive(c, &mut self.buf, flush, max_read),
            Conn::Server(c) => engine::drive(c, &mut self.buf, flush, max_read),
        };
        match result {
            Ok(progress) => self.on_progress(progress),
            Err(e) => {
                self.fail(e);
            }
        }
    }

    fn on_progress(&mut self, progress: Progress) {
        if progress.handshake_completed && !self.handshake_complete {
            self.handshake_complete = true;
            self.hello_bytes = None;
            self.hello_reader = HelloReader::default();
            if let (Some(limit), Some(now)) = (self.limits.idle_timeout, self.last_now) {
                self.idle_deadline = now.checked_add(limit);
            }
            self.events.push_back(Event::HandshakeComplete(self.peer()));
        }
        if progress.peer_closed {
            self.events.push_back(Event::PeerClosed);
        }
        if self.buf.close_notify_queued && self.buf.peer_closed && !self.closed_reported {
            self.closed_reported = true;
            self.events.push_back(Event::Closed {
                peer_confirmed: true,
            });
        }
    }

    /// Records a fatal error. The alert rustls chose for its own errors was queued by the
    /// engine as the error arose; our own errors (timeouts, EOF, backlog) send none.
    fn fail(&mut self, e: Error) -> Error {
        if let Some(first) = &self.failure {
            return first.clone();
        }
        // Whatever was buffered will never be processed; keep only the alert.
        self.buf.incoming = Vec::new();
        self.buf.incoming_start = 0;
        self.buf.plaintext_out = Vec::new();
        self.failure = Some(e.clone());
        e
    }

    fn observe_client_hello(&mut self, data: &[u8]) {
        let Some(bytes) = &mut self.hello_bytes else {
            return;
        };
        bytes.extend_from_slice(data);
        match self
            .hello_reader
            .read(bytes, self.limits.max_record_backlog)
        {
            Ok(None) => {}
            Ok(Some(hello)) => {
                self.sni = hello.server_name;
                self.hello_bytes = None;
                self.hello_reader = HelloReader::default();
            }
            // rustls will reject the same bytes with a precise alert.
            Err(_) => {
                self.hello_bytes = None;
                self.hello_reader = HelloReader::default();
            }
        }
    }
}
