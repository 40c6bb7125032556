//! Stable error codes, the thread-local last error, and the panic boundary.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// No error.
pub const TLSWIRE_OK: i32 = 0;
/// A required pointer argument was NULL.
pub const TLSWIRE_ERROR_NULL_ARGUMENT: i32 = 1;
/// An argument was out of range or not valid UTF-8.
pub const TLSWIRE_ERROR_INVALID_ARGUMENT: i32 = 2;
/// A certificate, key, trust bundle or configuration could not be loaded or built; the message
/// names the file.
pub const TLSWIRE_ERROR_CONFIG: i32 = 3;
/// The host name could not be resolved.
pub const TLSWIRE_ERROR_RESOLVE: i32 = 4;
/// The TCP connection could not be established (refused, unreachable).
pub const TLSWIRE_ERROR_CONNECT: i32 = 5;
/// The socket failed after connecting (reset, broken pipe).
pub const TLSWIRE_ERROR_IO: i32 = 6;
/// The peer's certificate was refused (unknown issuer, expired, not pinned, ...).
pub const TLSWIRE_ERROR_BAD_CERTIFICATE: i32 = 7;
/// The server's certificate is valid but not for the name that was asked for.
pub const TLSWIRE_ERROR_NAME_MISMATCH: i32 = 8;
/// Any other TLS failure (an alert from the peer, a protocol error, no common cipher).
pub const TLSWIRE_ERROR_TLS: i32 = 9;
/// The transport closed before the handshake finished.
pub const TLSWIRE_ERROR_EOF_DURING_HANDSHAKE: i32 = 10;
/// The transport closed after the handshake without TLS close_notify: the data received may be
/// truncated.
pub const TLSWIRE_ERROR_UNEXPECTED_EOF: i32 = 11;
/// The handshake did not finish in time.
pub const TLSWIRE_ERROR_HANDSHAKE_TIMEOUT: i32 = 12;
/// The connection was already closed when this call needed it open.
pub const TLSWIRE_ERROR_CLOSED: i32 = 13;
/// `tlswire_wait` timed out; the connection is still usable.
pub const TLSWIRE_ERROR_TIMEOUT: i32 = 14;
/// The call does not apply to this kind of connection (a socket call on a sans-IO connection or
/// the other way round).
pub const TLSWIRE_ERROR_WRONG_KIND: i32 = 15;
/// A bug inside tlswire was caught at the boundary; the object it happened on is unusable.
pub const TLSWIRE_ERROR_PANIC: i32 = 16;

/// An error on its way to the C caller.
#[derive(Debug, Clone)]
pub(crate) struct FfiError {
    pub(crate) code: i32,
    pub(crate) message: String,
    /// Whether the connection it happened on is finished.
    pub(crate) fatal: bool,
}

impl FfiError {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fatal: false,
        }
    }

    pub(crate) fn fatal(code: i32, message: impl Into<String>) -> Self {
        Self {
            fatal: true,
            ..Self::new(code, message)
        }
    }

    pub(crate) fn null(name: &str) -> Self {
        Self::new(
            TLSWIRE_ERROR_NULL_ARGUMENT,
            format!("argument `{name}` is NULL"),
        )
    }

    pub(crate) fn panic() -> Self {
        Self::fatal(
            TLSWIRE_ERROR_PANIC,
            "internal error: a panic was caught at the C boundary",
        )
    }
}

/// A message as a C string; interior NULs (which C cannot show) become spaces.
pub(crate) fn c_message(message: &str) -> CString {
    CString::new(message.replace('\0', " ")).unwrap_or_default()
}

thread_local! {
    static LAST_ERROR: RefCell<(i32, CString)> = RefCell::new((TLSWIRE_OK, CString::default()));
}

pub(crate) fn set_last_error(e: &FfiError) {
    LAST_ERROR.with(|last| *last.borrow_mut() = (e.code, c_message(&e.message)));
}

pub(crate) fn last_error_code() -> i32 {
    LAST_ERROR.with(|last| last.borrow().0)
}

/// The thread's last message; the pointer stays valid until the next failing call on this
/// thread (the thread-local string is replaced then, never freed earlier).
pub(crate) fn last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().1.as_ptr())
}

/// Runs `f` behind the panic boundary: 1 on success, 0 on failure with the thread's last error
/// set.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), FfiError>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 1,
        Ok(Err(e)) => {
            set_last_error(&e);
            0
        }
        Err(_) => {
            set_last_error(&FfiError::panic());
            0
        }
    }
}

/// Maps a session or transport failure to its stable code and message.
pub(crate) fn from_fd_error(e: &tlswire_fd::Error, connected: bool, peer: &str) -> FfiError {
    use tlswire_fd::Error as E;
    match e {
        E::Io(io) if !connected => FfiError::fatal(
            TLSWIRE_ERROR_CONNECT,
            format!("cannot connect to {peer}: {io}"),
        ),
        E::Io(io) => FfiError::fatal(TLSWIRE_ERROR_IO, format!("connection to {peer}: {io}")),
        E::UnexpectedEof => FfiError::fatal(TLSWIRE_ERROR_UNEXPECTED_EOF, format!("{peer}: {e}")),
        E::Tls(tls) => from_session_error(tls, peer),
        other => FfiError::fatal(TLSWIRE_ERROR_TLS, format!("{peer}: {other}")),
    }
}

/// Maps a core session error to its stable code and message.
pub(crate) fn from_session_error(e: &tlswire_core::Error, peer: &str) -> FfiError {
    use tlswire_core::rustls::{CertificateError, Error as Rustls};
    use tlswire_core::Error as E;
    let code = match e {
        E::Tls(Rustls::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => TLSWIRE_ERROR_NAME_MISMATCH,
        E::Tls(Rustls::InvalidCertificate(_) | Rustls::NoCertificatesPresented) => {
            TLSWIRE_ERROR_BAD_CERTIFICATE
        }
        E::EofDuringHandshake => TLSWIRE_ERROR_EOF_DURING_HANDSHAKE,
        E::HandshakeTimeout => TLSWIRE_ERROR_HANDSHAKE_TIMEOUT,
        E::Closed => TLSWIRE_ERROR_CLOSED,
        E::InvalidServerName(_) => TLSWIRE_ERROR_INVALID_ARGUMENT,
        _ => TLSWIRE_ERROR_TLS,
    };
    FfiError::fatal(code, format!("{peer}: {e}"))
}
