//! How core errors surface through `std::io::Error`, and the error of [`LazyAcceptor`](crate::LazyAcceptor).

use std::fmt;
use std::io;

use tlswire_core::Rejection;

/// Wraps a core error in an `io::Error` of the matching kind; the core error stays reachable
/// through [`io::Error::get_ref`] (downcast to [`tlswire_core::Error`]).
pub(crate) fn session_error(e: tlswire_core::Error) -> io::Error {
    use tlswire_core::Error;
    let kind = match &e {
        Error::HandshakeTimeout | Error::IdleTimeout => io::ErrorKind::TimedOut,
        Error::EofDuringHandshake => io::ErrorKind::UnexpectedEof,
        Error::Closed => io::ErrorKind::BrokenPipe,
        Error::InvalidServerName(_) => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

/// The error a read returns when the transport closed without close_notify (strict policy).
pub(crate) fn unexpected_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, UnexpectedEofError)
}

/// The error inside the `io::ErrorKind::UnexpectedEof` a read returns when the transport
/// closed without the peer's close_notify (see [`EofPolicy`](crate::EofPolicy)).
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

/// Why [`LazyAcceptor::accept`](crate::LazyAcceptor::accept) gave no stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// The policy refused the connection before a handshake started (plaintext not allowed,
    /// unknown server name, no common ALPN, malformed ClientHello). The alert was sent and the
    /// transport closed.
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
