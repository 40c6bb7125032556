//! Core errors as `io::Error`s, with a kind that says what happened and the core error inside.

use std::io;

/// Wraps a core error in an `io::Error` whose kind a caller can match on; the core error stays
/// reachable through `get_ref()` / `into_inner()` and `downcast`.
pub(crate) fn to_io(e: tlswire_core::Error) -> io::Error {
    use tlswire_core::Error as E;
    let kind = match &e {
        E::HandshakeTimeout | E::IdleTimeout => io::ErrorKind::TimedOut,
        E::EofDuringHandshake => io::ErrorKind::UnexpectedEof,
        E::Closed => io::ErrorKind::BrokenPipe,
        E::InvalidServerName(_) => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}
