//! What a session reports to its driver, and the limits it works within.

use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::{CipherSuite, HandshakeKind, ProtocolVersion};

use crate::Error;

/// Something that happened inside a [`Session`](crate::Session); drained with
/// [`Session::poll_event`](crate::Session::poll_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake finished; application data flows both ways from here.
    HandshakeComplete(PeerInfo),
    /// The peer sent close_notify: it will send no more data. Everything it sent has been
    /// delivered through [`Session::read_chunk`](crate::Session::read_chunk). We may still write.
    PeerClosed,
    /// The transport closed after the handshake without close_notify. The data received may be
    /// truncated: an attacker (or a crashed peer) can cut a connection short. Protocols that
    /// frame their own messages may choose to treat this like [`Event::PeerClosed`].
    UnexpectedEof,
    /// Both directions are closed: we sent close_notify and the peer sent its own, or the close
    /// linger ran out waiting for it (`peer_confirmed` is then false).
    Closed {
        /// Whether the peer's close_notify arrived before the linger ran out.
        peer_confirmed: bool,
    },
    /// The session failed without a call that could return the error: a timer fired or the
    /// transport closed during the handshake.
    Failed(Error),
}

/// What was negotiated with the peer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeerInfo {
    /// The server name: the one we asked for as a client, the SNI the client sent as a server.
    pub sni: Option<String>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The negotiated protocol version.
    pub version: Option<ProtocolVersion>,
    /// The negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
    /// Whether the handshake was full or resumed a previous session.
    pub handshake_kind: Option<HandshakeKind>,
    /// The peer's certificate chain, end-entity first; empty when the peer sent none.
    pub certificates: Vec<CertificateDer<'static>>,
}

/// Bounds on a session's buffers and on how long it waits.
///
/// The defaults suit a server facing the open internet: 64 KiB of plaintext buffered each way,
/// a 10 second handshake, a 5 second close linger and no idle timeout. A duration too large to
/// add to an [`Instant`](std::time::Instant) (such as [`Duration::MAX`]) means no deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Plaintext accepted by [`Session::write`](crate::Session::write) but not yet drained as
    /// ciphertext. Past it, `write` accepts fewer bytes (back-pressure).
    pub max_write_buffer: usize,
    /// Decrypted plaintext waiting for [`Session::read_chunk`](crate::Session::read_chunk).
    /// Past it, the session stops decrypting and `handle_input` consumes fewer bytes.
    pub max_read_buffer: usize,
    /// Ciphertext held that does not yet form complete records or handshake messages. TLS
    /// handshake messages may span records; 80 KiB covers rustls's 64 KiB handshake limit.
    pub max_record_backlog: usize,
    /// How long the handshake may take, counted from the first call that passes `now`.
    pub handshake_timeout: Duration,
    /// After we send close_notify, how long to wait for the peer's before reporting
    /// [`Event::Closed`] anyway.
    pub close_linger: Duration,
    /// Fail an established session that receives nothing for this long.
    pub idle_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_write_buffer: 64 * 1024,
            max_read_buffer: 64 * 1024,
            max_record_backlog: 80 * 1024,
            handshake_timeout: Duration::from_secs(10),
            close_linger: Duration::from_secs(5),
            idle_timeout: None,
        }
    }
}

impl Limits {
    /// Sets [`Limits::handshake_timeout`].
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`Limits::idle_timeout`].
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`Limits::close_linger`].
    #[must_use]
    pub fn with_close_linger(mut self, linger: Duration) -> Self {
        self.close_linger = linger;
        self
    }

    /// Sets both plaintext buffer limits.
    #[must_use]
    pub fn with_buffer_limits(mut self, write: usize, read: usize) -> Self {
        self.max_write_buffer = write.max(1);
        self.max_read_buffer = read.max(1);
        self
    }
}
