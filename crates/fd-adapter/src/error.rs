//! Why a driven session stopped.

use std::fmt;
use std::io;
use std::sync::Arc;

/// Why an [`FdSession`](crate::FdSession) failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The stream failed (connection refused, reset, ...).
    Io(Arc<io::Error>),
    /// The TLS session failed; the alert for the peer was sent if the stream allowed it.
    Tls(tlswire_core::Error),
    /// The peer closed the transport after the handshake without sending close_notify, so the
    /// data may be truncated.
    UnexpectedEof,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "transport error: {e}"),
            Self::Tls(e) => e.fmt(f),
            Self::UnexpectedEof => f.write_str(
                "peer closed the connection without TLS close_notify (data may be truncated)",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(&**e),
            Self::Tls(e) => Some(e),
            Self::UnexpectedEof => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

impl From<tlswire_core::Error> for Error {
    fn from(e: tlswire_core::Error) -> Self {
        Self::Tls(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(inner) => io::Error::new(inner.kind(), Error::Io(inner)),
            Error::UnexpectedEof => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            Error::Tls(_) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
