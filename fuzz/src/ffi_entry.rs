//! The C ABI's buffer-level (sans-IO) server connection fed arbitrary ciphertext through
//! `tlswire_feed`, as a C host would, with output drained through `tlswire_peek_output` /
//! `tlswire_consume_output` and plaintext through `tlswire_read`.
//!
//! The ABI catches panics and reports them as `TLSWIRE_ERROR_PANIC`; that code is the crash
//! this target looks for, since a caught panic would otherwise go unnoticed.

use std::ffi::CString;
use std::sync::OnceLock;

use tlswire_ffi::{
    tlswire_conn, tlswire_conn_free, tlswire_consume_output, tlswire_error_code,
    tlswire_error_message, tlswire_feed, tlswire_peek_output, tlswire_read, tlswire_server_config,
    tlswire_server_config_new, tlswire_server_new, TLSWIRE_ERROR_PANIC,
};

/// The server configuration, made once from the fixed certificates written to a temp dir.
struct Config(*mut tlswire_server_config);
// SAFETY: the configuration is immutable after creation and the ABI documents it as shareable
// between connections; it is never freed (it lives as long as the process).
unsafe impl Send for Config {}
// SAFETY: as above.
unsafe impl Sync for Config {}

fn config() -> *const tlswire_server_config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("tlswire-fuzz-ffi-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let cert = dir.join("server.crt");
            let key = dir.join("server.key");
            std::fs::write(&cert, include_bytes!("../certs/server.crt")).expect("write cert");
            std::fs::write(&key, include_bytes!("../certs/server.key")).expect("write key");
            let cert = CString::new(cert.to_string_lossy().into_owned()).expect("path");
            let key = CString::new(key.to_string_lossy().into_owned()).expect("path");
            let mut out = std::ptr::null_mut();
            // SAFETY: two C strings and a writable pointer slot.
            let ok = unsafe { tlswire_server_config_new(cert.as_ptr(), key.as_ptr(), &mut out) };
            assert_eq!(ok, 1, "server config from the fixed certificates");
            Config(out)
        })
        .0
}

/// Asserts the connection's last error is not a caught panic.
fn no_panic(conn: *const tlswire_conn) {
    // SAFETY: `conn` is live.
    let code = unsafe { tlswire_error_code(conn) };
    if code == TLSWIRE_ERROR_PANIC {
        // SAFETY: `conn` is live; the message is a NUL-terminated string it owns.
        let message = unsafe { std::ffi::CStr::from_ptr(tlswire_error_message(conn)) };
        panic!("the C ABI caught a panic: {message:?}");
    }
}

/// Target `ffi_feed`. Input: `[chunk size, bytes...]` (chunk size 0: all at once).
pub fn ffi_feed(data: &[u8]) {
    let (chunk, data) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c), rest),
        None => (0, data),
    };
    let chunk = if chunk == 0 { data.len().max(1) } else { chunk };
    let mut conn = std::ptr::null_mut();
    // SAFETY: a live configuration and a writable pointer slot.
    assert_eq!(unsafe { tlswire_server_new(config(), &mut conn) }, 1);
    let mut plaintext = vec![0u8; 16 * 1024];
    'feed: for piece in data.chunks(chunk) {
        let mut rest = piece;
        for _ in 0..=piece.len() {
            if rest.is_empty() {
                break;
            }
            let mut consumed = 0;
            // SAFETY: `conn` is live, `rest` is readable for its length, `consumed` writable.
            let ok = unsafe { tlswire_feed(conn, rest.as_ptr(), rest.len(), &mut consumed) };
            no_panic(conn);
            assert!(consumed <= rest.len(), "consumed more than fed");
            rest = &rest[consumed..];
            let (mut out, mut len) = (std::ptr::null(), 0usize);
            // SAFETY: `conn` is live; `out` and `len` are writable.
            if unsafe { tlswire_peek_output(conn, &mut out, &mut len) } == 1 && len > 0 {
                // SAFETY: `conn` is live.
                unsafe { tlswire_consume_output(conn, len) };
            }
            let mut read = 0;
            // SAFETY: `conn` is live; the buffer is writable for its length.
            unsafe { tlswire_read(conn, plaintext.as_mut_ptr(), plaintext.len(), &mut read) };
            no_panic(conn);
            if ok != 1 || (consumed == 0 && read == 0) {
                break 'feed;
            }
        }
    }
    let mut consumed = 0;
    // SAFETY: `conn` is live; n == 0 is end of file.
    unsafe { tlswire_feed(conn, std::ptr::null(), 0, &mut consumed) };
    no_panic(conn);
    // SAFETY: `conn` came from `tlswire_server_new` and is freed once.
    unsafe { tlswire_conn_free(conn) };
}
