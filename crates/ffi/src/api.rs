//! The connection calls of the C ABI.

use std::ffi::{c_char, c_int};
use std::os::fd::{FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use tlswire_core::Session;
use tlswire_fd::FdSession;

use crate::config::{client_config, server_config, tlswire_client_config, tlswire_server_config};
use crate::conn::{tlswire_conn, Transport};
use crate::connect::{adopt, Dialing};
use crate::error::{
    boundary, from_session_error, set_last_error, FfiError, TLSWIRE_ERROR_INVALID_ARGUMENT,
    TLSWIRE_ERROR_NULL_ARGUMENT, TLSWIRE_ERROR_PANIC,
};
use crate::ptr::{bytes, bytes_mut, c_str, out_ptr, this};

/// `tlswire_interest` bit: the connection waits for its fd to be readable.
pub const TLSWIRE_INTEREST_READ: i32 = 1;
/// `tlswire_interest` bit: the connection waits for its fd to be writable.
pub const TLSWIRE_INTEREST_WRITE: i32 = 2;

/// Runs `f` on a connection behind the panic boundary; errors go to the connection and to the
/// thread's last error.
fn with_conn(
    conn: *mut tlswire_conn,
    f: impl FnOnce(&mut tlswire_conn) -> Result<(), FfiError>,
) -> c_int {
    if conn.is_null() {
        set_last_error(&FfiError::null("conn"));
        return 0;
    }
    // SAFETY: non-NULL, and the caller promises a live connection from this library that no
    // other thread uses during the call.
    let outcome = catch_unwind(AssertUnwindSafe(|| f(unsafe { &mut *conn })));
    // SAFETY: as above; the closure's borrow has ended.
    let conn = unsafe { &mut *conn };
    let result = outcome.unwrap_or_else(|_| Err(FfiError::panic()));
    match result {
        Ok(()) => {
            conn.clear_passing_error();
            1
        }
        Err(e) => {
            conn.record(&e);
            set_last_error(&e);
            0
        }
    }
}

fn new_conn(transport: Transport, peer: String) -> *mut tlswire_conn {
    Box::into_raw(Box::new(tlswire_conn::new(transport, peer)))
}

/// Prepares the library; call it once before anything else (calling it again is harmless).
/// Returns 1.
#[no_mangle]
pub extern "C" fn tlswire_init() -> c_int {
    boundary(|| {
        // Runs the crypto library's one-time CPU feature detection now, not in a handshake.
        let _ = tlswire_core::provider();
        Ok(())
    })
}

/// Starts a TLS connection to `host:port` and returns at once: a numeric host starts a
/// non-blocking connect, a name is resolved on a helper thread first. The handshake runs as the
/// connection is used (`tlswire_wait`, `tlswire_read`, ...); errors (refused, bad certificate)
/// surface on those later calls. `host` is also the name the certificate must match.
///
/// # Safety
/// `config` NULL or live; `host` NULL or a C string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_connect(
    config: *const tlswire_client_config,
    host: *const c_char,
    port: u16,
    out: *mut *mut tlswire_conn,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or live pointers.
        let (config, host, mut out) = unsafe {
            (
                client_config(config)?,
                c_str(host, "host")?,
                out_ptr(out, "out")?,
            )
        };
        let name = host.trim_start_matches('[').trim_end_matches(']');
        let session =
            Session::client(config.rustls()?, name).map_err(|e| from_session_error(&e, host))?;
        let dialing = Dialing::start(host, port)?;
        let peer = format!("{host}:{port}");
        out.set(new_conn(
            Transport::Dialing(Box::new(dialing), Box::new(session)),
            peer,
        ));
        Ok(())
    })
}

/// Starts a TLS client over `fd`, a connected stream socket the connection takes over: it is
/// made non-blocking and closed by `tlswire_conn_free` (also when this call fails).
/// `server_name` is the name the certificate must match and the SNI sent.
///
/// # Safety
/// `config` NULL or live; `server_name` NULL or a C string; `out` NULL or writable; `fd` an
/// open descriptor owned by nobody else.
#[no_mangle]
pub unsafe extern "C" fn tlswire_connect_fd(
    config: *const tlswire_client_config,
    fd: c_int,
    server_name: *const c_char,
    out: *mut *mut tlswire_conn,
) -> c_int {
    boundary(|| {
        let fd = owned_fd(fd)?;
        // SAFETY: the caller passes NULL or live pointers.
        let (config, name, mut out) = unsafe {
            (
                client_config(config)?,
                c_str(server_name, "server_name")?,
                out_ptr(out, "out")?,
            )
        };
        let peer = format!("fd {}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let session =
            Session::client(config.rustls()?, name).map_err(|e| from_session_error(&e, &peer))?;
        let tcp = adopt(fd)
            .map_err(|e| FfiError::new(TLSWIRE_ERROR_INVALID_ARGUMENT, format!("{peer}: {e}")))?;
        let transport = Transport::Socket(Box::new(FdSession::new(session, tcp)));
        out.set(new_conn(transport, peer));
        Ok(())
    })
}

/// Starts a TLS server connection over `fd`, an accepted stream socket the connection takes
/// over (made non-blocking, closed by `tlswire_conn_free`, also when this call fails). Client
/// certificates are verified as the config's client-auth mode says.
///
/// # Safety
/// `config` NULL or live; `out` NULL or writable; `fd` an open descriptor owned by nobody
/// else.
#[no_mangle]
pub unsafe extern "C" fn tlswire_accept_fd(
    config: *const tlswire_server_config,
    fd: c_int,
    out: *mut *mut tlswire_conn,
) -> c_int {
    boundary(|| {
        let fd = owned_fd(fd)?;
        // SAFETY: the caller passes NULL or live pointers.
        let (config, mut out) = unsafe { (server_config(config)?, out_ptr(out, "out")?) };
        let peer = format!("fd {}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let session =
            Session::server(config.rustls()?).map_err(|e| from_session_error(&e, &peer))?;
        let tcp = adopt(fd)
            .map_err(|e| FfiError::new(TLSWIRE_ERROR_INVALID_ARGUMENT, format!("{peer}: {e}")))?;
        let transport = Transport::Socket(Box::new(FdSession::new(session, tcp)));
        out.set(new_conn(transport, peer));
        Ok(())
    })
}

fn owned_fd(fd: c_int) -> Result<OwnedFd, FfiError> {
    if fd < 0 {
        return Err(FfiError::new(
            TLSWIRE_ERROR_INVALID_ARGUMENT,
            format!("fd {fd} is not a file descriptor"),
        ));
    }
    // SAFETY: the caller hands over an open descriptor it no longer owns (documented on the
    // entry points).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A sans-IO client connection: no socket; the caller moves ciphertext with `tlswire_feed`,
/// `tlswire_peek_output` and `tlswire_consume_output`. The ClientHello is ready at once.
///
/// # Safety
/// `config` NULL or live; `server_name` NULL or a C string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_client_new(
    config: *const tlswire_client_config,
    server_name: *const c_char,
    out: *mut *mut tlswire_conn,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or live pointers.
        let (config, name, mut out) = unsafe {
            (
                client_config(config)?,
                c_str(server_name, "server_name")?,
                out_ptr(out, "out")?,
            )
        };
        let session = Session::client(config.rustls()?, name)
            .map_err(|e| from_session_error(&e, "buffers"))?;
        out.set(new_conn(buffers(session), "buffers".into()));
        Ok(())
    })
}

/// A sans-IO server connection (see `tlswire_client_new`).
///
/// # Safety
/// `config` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_server_new(
    config: *const tlswire_server_config,
    out: *mut *mut tlswire_conn,
) -> c_int {
    boundary(|| {
        // SAFETY: the caller passes NULL or live pointers.
        let (config, mut out) = unsafe { (server_config(config)?, out_ptr(out, "out")?) };
        let session =
            Session::server(config.rustls()?).map_err(|e| from_session_error(&e, "buffers"))?;
        out.set(new_conn(buffers(session), "buffers".into()));
        Ok(())
    })
}

fn buffers(mut session: Session) -> Transport {
    session.handle_timeout(std::time::Instant::now());
    Transport::Buffers {
        session: Box::new(session),
        out: Vec::new(),
        out_pos: 0,
        eof: false,
    }
}

/// Feeds `n` bytes of ciphertext that arrived from the peer; `*consumed` says how many were
/// taken (fewer when the plaintext buffer is full: read, then feed the rest). `n == 0` means the
/// transport reached end of file.
///
/// # Safety
/// `conn` NULL or live; `input` NULL or `n` readable bytes; `consumed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_feed(
    conn: *mut tlswire_conn,
    input: *const u8,
    n: usize,
    consumed: *mut usize,
) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or valid pointers.
        let (data, mut consumed) =
            unsafe { (bytes(input, n, "input")?, out_ptr(consumed, "consumed")?) };
        consumed.set(0);
        consumed.set(conn.feed(data)?);
        Ok(())
    })
}

/// Points `*data` at the ciphertext waiting to be sent and sets `*len` (0: nothing). The
/// bytes stay valid until the next call on this connection other than
/// `tlswire_consume_output`.
///
/// # Safety
/// `conn` NULL or live; `data` and `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_peek_output(
    conn: *mut tlswire_conn,
    data: *mut *const u8,
    len: *mut usize,
) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or writable pointers.
        let (mut data, mut len) = unsafe { (out_ptr(data, "data")?, out_ptr(len, "len")?) };
        let out = conn.peek_output()?;
        data.set(out.as_ptr());
        len.set(out.len());
        Ok(())
    })
}

/// Marks the first `n` bytes shown by `tlswire_peek_output` as sent.
///
/// # Safety
/// `conn` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tlswire_consume_output(conn: *mut tlswire_conn, n: usize) -> c_int {
    with_conn(conn, |conn| conn.consume_output(n))
}

/// Buffers up to `n` bytes of plaintext and sends what the socket takes now; `*nout` says how
/// many bytes were taken. Fewer than `n` is back-pressure: wait for `TLSWIRE_INTEREST_WRITE`
/// (or `tlswire_wait`) and write the rest. Data written before the handshake ends is sent when it
/// does.
///
/// # Safety
/// `conn` NULL or live; `buf` NULL or `n` readable bytes; `nout` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_write(
    conn: *mut tlswire_conn,
    buf: *const u8,
    n: usize,
    nout: *mut usize,
) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or valid pointers.
        let (data, mut nout) = unsafe { (bytes(buf, n, "buf")?, out_ptr(nout, "nout")?) };
        nout.set(0);
        nout.set(conn.write(data)?);
        Ok(())
    })
}

/// Reads up to `n` bytes of plaintext into `buf`; `*nin` says how many. Zero bytes with a
/// return of 1 means nothing has arrived yet — not end of stream: that is `tlswire_isopen`
/// returning 0. Never blocks.
///
/// # Safety
/// `conn` NULL or live; `buf` NULL or `n` writable bytes; `nin` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_read(
    conn: *mut tlswire_conn,
    buf: *mut u8,
    n: usize,
    nin: *mut usize,
) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or valid pointers.
        let (buf, mut nin) = unsafe { (bytes_mut(buf, n, "buf")?, out_ptr(nin, "nin")?) };
        nin.set(0);
        nin.set(conn.read(buf)?);
        Ok(())
    })
}

/// Does the I/O possible without blocking and sets `*n` to the plaintext bytes ready for
/// `tlswire_read`. Call it (or `tlswire_read`) whenever the pollfd is ready.
///
/// # Safety
/// `conn` NULL or live; `n` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_bytesavailable(conn: *mut tlswire_conn, n: *mut usize) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or a writable pointer.
        let mut n = unsafe { out_ptr(n, "n") }?;
        n.set(0);
        if !matches!(conn.transport, Transport::Buffers { .. }) {
            conn.pump();
        }
        n.set(conn.session().map_or(0, Session::readable_bytes));
        Ok(())
    })
}

/// 1 while data can still come or go: the connection has not failed, was not closed with
/// `tlswire_close`, and is not closed by the peer with all its data read. 0 otherwise (and for
/// NULL). A handshake in progress counts as open.
///
/// # Safety
/// `conn` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tlswire_isopen(conn: *const tlswire_conn) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes NULL or a live connection.
        match unsafe { this(conn, "conn") } {
            Ok(conn) => c_int::from(conn.is_open()),
            Err(e) => {
                set_last_error(&e);
                0
            }
        }
    }))
    .unwrap_or(0)
}

/// 1 once the handshake has completed, else 0.
///
/// # Safety
/// `conn` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tlswire_handshake_complete(conn: *const tlswire_conn) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes NULL or a live connection.
        unsafe { this(conn, "conn") }.map_or(0, |conn| c_int::from(conn.is_handshake_complete()))
    }))
    .unwrap_or(0)
}

/// Starts a clean close: sends close_notify (if the socket takes it now; otherwise it goes out
/// as the connection is waited on). Reading and writing end; the connection stays allocated
/// until `tlswire_conn_free`. Calling it again does nothing.
///
/// # Safety
/// `conn` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tlswire_close(conn: *mut tlswire_conn) -> c_int {
    with_conn(conn, |conn| {
        conn.close();
        Ok(())
    })
}

/// Blocks until plaintext can be read, the handshake completes, the connection ends (closed or
/// failed: check `tlswire_isopen`), output that pushed back drains, or `timeout_ms` passes
/// (negative: no limit). Returns at once when plaintext is already buffered. A timeout returns
/// 0 with `TLSWIRE_ERROR_TIMEOUT`; the connection stays usable. The only call that blocks.
///
/// # Safety
/// `conn` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tlswire_wait(conn: *mut tlswire_conn, timeout_ms: c_int) -> c_int {
    with_conn(conn, |conn| {
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        conn.wait(timeout)
    })
}

/// Sets `*fd` to the descriptor to wait on in the host's own event loop, for the events
/// `tlswire_interest` names. Its number stays the same for the connection's life. Not for
/// sans-IO connections.
///
/// # Safety
/// `conn` NULL or live; `fd` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_pollfd(conn: *mut tlswire_conn, fd: *mut c_int) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or a writable pointer.
        let mut fd = unsafe { out_ptr(fd, "fd") }?;
        fd.set(-1);
        fd.set(conn.pollfd()?);
        Ok(())
    })
}

/// Sets `*events` to what the connection waits for: `TLSWIRE_INTEREST_READ` and/or
/// `TLSWIRE_INTEREST_WRITE` (0: nothing; it is closed or failed). When the fd is ready, call
/// `tlswire_bytesavailable` or `tlswire_read`, then ask again. For a sans-IO connection, READ
/// means it can take input and WRITE that output is waiting.
///
/// # Safety
/// `conn` NULL or live; `events` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_interest(conn: *mut tlswire_conn, events: *mut c_int) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or a writable pointer.
        let mut events = unsafe { out_ptr(events, "events") }?;
        let interest = conn.interest();
        let mut bits = 0;
        if interest.read {
            bits |= TLSWIRE_INTEREST_READ;
        }
        if interest.write {
            bits |= TLSWIRE_INTEREST_WRITE;
        }
        events.set(bits);
        Ok(())
    })
}

/// Points `*data`/`*len` at the negotiated ALPN protocol (`*len` 0: none). Valid until the
/// connection is freed.
///
/// # Safety
/// `conn` NULL or live; `data` and `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_alpn(
    conn: *mut tlswire_conn,
    data: *mut *const u8,
    len: *mut usize,
) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or writable pointers.
        let (mut data, mut len) = unsafe { (out_ptr(data, "data")?, out_ptr(len, "len")?) };
        let alpn = conn
            .peer_info()
            .and_then(|info| info.alpn.as_deref())
            .unwrap_or_default();
        data.set(alpn.as_ptr());
        len.set(alpn.len());
        Ok(())
    })
}

/// Points `*data`/`*len` at the DER of the peer's certificate number `index` (0: the peer's own,
/// then its chain). Fails with `TLSWIRE_ERROR_INVALID_ARGUMENT` past the last one or before
/// the handshake completed. Valid until the connection is freed.
///
/// # Safety
/// `conn` NULL or live; `data` and `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tlswire_peer_certificate(
    conn: *mut tlswire_conn,
    index: usize,
    data: *mut *const u8,
    len: *mut usize,
) -> c_int {
    with_conn(conn, |conn| {
        // SAFETY: the caller passes NULL or writable pointers.
        let (mut data, mut len) = unsafe { (out_ptr(data, "data")?, out_ptr(len, "len")?) };
        let cert = conn
            .peer_info()
            .and_then(|info| info.certificates.get(index))
            .ok_or_else(|| {
                FfiError::new(
                    TLSWIRE_ERROR_INVALID_ARGUMENT,
                    format!("the peer presented no certificate number {index}"),
                )
            })?;
        data.set(cert.as_ref().as_ptr());
        len.set(cert.as_ref().len());
        Ok(())
    })
}

/// The connection's error code: the error that ended it, else the outcome of the last call on
/// it (`TLSWIRE_ERROR_TIMEOUT` after a wait timed out), else `TLSWIRE_OK`. For NULL:
/// `TLSWIRE_ERROR_NULL_ARGUMENT`.
///
/// # Safety
/// `conn` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tlswire_error_code(conn: *const tlswire_conn) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes NULL or a live connection.
        unsafe { this(conn, "conn") }.map_or(TLSWIRE_ERROR_NULL_ARGUMENT, |c| c.error_code())
    }))
    .unwrap_or(TLSWIRE_ERROR_PANIC)
}

/// The message for `tlswire_error_code`, NUL-terminated; "" when there is none. Valid until
/// the next call on the connection. Never NULL.
///
/// # Safety
/// `conn` NULL or live.
#[no_mangle]
pub unsafe extern "C" fn tlswire_error_message(conn: *const tlswire_conn) -> *const c_char {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller passes NULL or a live connection.
        match unsafe { this(conn, "conn") } {
            Ok(conn) => conn.error_message().as_ptr(),
            Err(_) => c"conn is NULL".as_ptr(),
        }
    }))
    .unwrap_or(c"internal error".as_ptr())
}

/// Frees a connection and closes its socket, without sending close_notify (call
/// `tlswire_close` first for a clean close). NULL is ignored.
///
/// # Safety
/// `conn` NULL or from this library, not freed before.
#[no_mangle]
pub unsafe extern "C" fn tlswire_conn_free(conn: *mut tlswire_conn) {
    let _ = boundary(|| {
        if !conn.is_null() {
            // SAFETY: the caller gives back a pointer from `Box::into_raw`, once.
            drop(unsafe { Box::from_raw(conn) });
        }
        Ok(())
    });
}
