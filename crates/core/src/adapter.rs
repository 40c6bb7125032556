//! What every I/O adapter shares, whatever its runtime: how core errors become `io::Error`s,
//! what a read reports when the peer hangs up without close_notify, and why a lazy accept
//! gave no stream. tlswire-tokio and tlswire-smol re-export these, so code written against
//! one adapter matches the same types as the other.

use std::fmt;
use std::io;

use crate::{Error, Rejection};

/// What a read reports when the transport closes without the peer's close_notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EofPolicy {
    /// Fail the read with `io::ErrorKind::UnexpectedEof` (the error inside is
    /// [`UnexpectedEofError`]): the data may be truncated.
    #[default]
    Strict,
    /// Treat it as a clean end of stream (`Ok(0)`), for protocols that frame their own
    /// messages and so detect truncation themselves.
    Lenient,
}

/// The error inside the `io::ErrorKind::UnexpectedEof` a read returns when the transport closed
/// without the peer's close_notify (see [`EofPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnexpectedEofError;

impl fmt::Display for UnexpectedEofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "peer closed the connection without sending TLS close_notify; \
             the data received may be truncated",
        )
    }
}

impl std::error::Error for UnexpectedEofError {}

impl UnexpectedEofError {
    /// The `io::Error` a strict read returns.
    pub fn io_error() -> io::Error {
        io::Error::new(io::ErrorKind::UnexpectedEof, Self)
    }
}

/// A core error as an `io::Error` whose kind a caller can match on: `TimedOut` for the
/// handshake and idle timeouts, `UnexpectedEof` for a hang-up during the handshake,
/// `BrokenPipe` for writing after close, `InvalidInput` for a bad server name, `InvalidData`
/// for the rest (bad TLS, an untrusted certificate...). The core error stays reachable through
/// `get_ref()` / `into_inner()` and `downcast`.
impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::HandshakeTimeout | Error::IdleTimeout => io::ErrorKind::TimedOut,
            Error::EofDuringHandshake => io::ErrorKind::UnexpectedEof,
            Error::Closed => io::ErrorKind::BrokenPipe,
            Error::InvalidServerName(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Why an adapter's `LazyAcceptor::accept` gave no stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// The policy refused the connection before a handshake started (plaintext not allowed,
    /// unknown server name, no common ALPN, malformed ClientHello). The alert telling the
    /// client why was sent and the transport closed.
    Rejected(Rejection),
    /// The transport failed, the client hung up, the handshake failed (a client certificate
    /// that does not verify, for example: the core error is inside) or timed out (kind
    /// `TimedOut`).
    Io(io::Error),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => write!(f, "connection refused: {r}"),
            Self::Io(e) => write!(f, "TLS accept failed: {e}"),
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(r) => Some(r),
            Self::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for AcceptError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<AcceptError> for io::Error {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::Io(e) => e,
            AcceptError::Rejected(r) => io::Error::new(io::ErrorKind::ConnectionRefused, r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_io_kinds() {
        let kind = |e: Error| io::Error::from(e).kind();
        assert_eq!(kind(Error::HandshakeTimeout), io::ErrorKind::TimedOut);
        assert_eq!(kind(Error::IdleTimeout), io::ErrorKind::TimedOut);
        assert_eq!(
            kind(Error::EofDuringHandshake),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(kind(Error::Closed), io::ErrorKind::BrokenPipe);
        let inner = io::Error::from(Error::Closed).into_inner().unwrap();
        assert!(inner.downcast_ref::<Error>().is_some());
        let eof = UnexpectedEofError::io_error();
        assert_eq!(eof.kind(), io::ErrorKind::UnexpectedEof);
        assert!(eof.get_ref().unwrap().is::<UnexpectedEofError>());
    }
}
