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
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "peer closed the connection without sending TLS close_notify; the data may be truncated",
    )
}

/// Why [`LazyAcceptor::accept`](crate::LazyAcceptor::accept) gave no stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum AcceptError {
    /// The policy refused the connection before a handshake started (plaintext not allowed,
    /// unknown server name, no common ALPN, malformed ClientHello). The alert was sent and the
    /// transport closed.
    Rejected(Rejection),
    /// The TLS handshake failed after it started (for example a client certificate that does
    /// not verify) or timed out; the core error is inside, with kind `TimedOut` for a timeout.
    Handshake(io::Error),
    /// The transport failed, or closed before the first bytes said what the client speaks.
    Io(io::Error),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(r) => write!(f, "connection refused: {r}"),
            Self::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            Self::Io(e) => write!(f, "transport error before the TLS handshake: {e}"),
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(r) => Some(r),
            Self::Handshake(e) | Self::Io(e) => Some(e),
        }
    }
}

impl From<AcceptError> for io::Error {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::Handshake(e) | AcceptError::Io(e) => e,
            AcceptError::Rejected(r) => io::Error::new(io::ErrorKind::ConnectionRefused, r),
        }
    }
}
