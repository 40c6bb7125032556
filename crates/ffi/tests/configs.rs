//! Configuration choices through the C entry points (called from Rust as a C program would):
//! client-auth modes, ALPN, the OS trust store, and config errors that name the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::{CStr, CString};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tlswire_ffi::*;
use tlswire_testkit::{temp_dir, TestPki};

fn certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("ffi-configs");
        TestPki::new().write_all(&dir);
        dir
    })
}

fn c_path(name: &str) -> CString {
    CString::new(certs().join(name).to_str().unwrap()).unwrap()
}

fn last_error() -> String {
    // SAFETY: the library returns a valid C string.
    unsafe { CStr::from_ptr(tlswire_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn conn_error(conn: *mut tlswire_conn) -> (i32, String) {
    // SAFETY: a live connection.
    unsafe {
        (
            tlswire_error_code(conn),
            CStr::from_ptr(tlswire_error_message(conn))
                .to_string_lossy()
                .into_owned(),
        )
    }
}

struct Client(*mut tlswire_client_config);

impl Client {
    fn trusting_ca() -> Self {
        let mut config = std::ptr::null_mut();
        // SAFETY: valid out-pointer and C string.
        unsafe {
            assert_eq!(tlswire_client_config_new(&mut config), 1);
            assert_eq!(
                tlswire_client_config_trust_pem_file(config, c_path("ca.crt").as_ptr()),
                1
            );
        }
        Self(config)
    }

    fn identity(self, name: &str) -> Self {
        let (cert, key) = (
            c_path(&format!("{name}.crt")),
            c_path(&format!("{name}.key")),
        );
        // SAFETY: live config, C strings.
        let ok = unsafe {
            tlswire_client_config_identity_pem_files(self.0, cert.as_ptr(), key.as_ptr())
        };
        assert_eq!(ok, 1, "{}", last_error());
        self
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: freed once.
        unsafe { tlswire_client_config_free(self.0) }
    }
}

struct Server(*mut tlswire_server_config);

impl Server {
    fn new() -> Self {
        let mut config = std::ptr::null_mut();
        let (cert, key) = (c_path("server.crt"), c_path("server.key"));
        // SAFETY: C strings, valid out-pointer.
        assert_eq!(
            unsafe { tlswire_server_config_new(cert.as_ptr(), key.as_ptr(), &mut config) },
            1
        );
        Self(config)
    }

    fn client_auth(self, mode: i32, file: &str) -> Self {
        let path = c_path(file);
        // SAFETY: live config, C string.
        let ok = unsafe { tlswire_server_config_client_auth(self.0, mode, path.as_ptr()) };
        assert_eq!(ok, 1, "{}", last_error());
        self
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: freed once.
        unsafe { tlswire_server_config_free(self.0) }
    }
}

/// Connects a client and a server over a socketpair and drives both until the handshake is
/// done or either side stops; returns both connections (to be freed by the caller).
fn handshake(client: &Client, server: &Server) -> (*mut tlswire_conn, *mut tlswire_conn) {
    let (a, b) = UnixStream::pair().unwrap();
    let (mut c, mut s) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: live configs, fds handed over, valid out-pointers; the loop uses live conns.
    unsafe {
        assert_eq!(
            tlswire_connect_fd(client.0, a.into_raw_fd(), c"localhost".as_ptr(), &mut c),
            1
        );
        assert_eq!(tlswire_accept_fd(server.0, b.into_raw_fd(), &mut s), 1);
        for _ in 0..2000 {
            let mut n = 0;
            tlswire_bytesavailable(c, &mut n);
            tlswire_bytesavailable(s, &mut n);
            let done = tlswire_handshake_complete(c) == 1 && tlswire_handshake_complete(s) == 1;
            if done || tlswire_isopen(c) == 0 || tlswire_isopen(s) == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    (c, s)
}

fn free(conns: (*mut tlswire_conn, *mut tlswire_conn)) {
    // SAFETY: each freed once.
    unsafe {
        tlswire_conn_free(conns.0);
        tlswire_conn_free(conns.1);
    }
}

#[test]
fn required_client_auth_refuses_a_client_without_a_certificate() {
    let server = Server::new().client_auth(TLSWIRE_CLIENT_AUTH_REQUIRED, "ca.crt");
    let conns = handshake(&Client::trusting_ca(), &server);
    let (code, message) = conn_error(conns.1);
    assert_eq!(code, TLSWIRE_ERROR_BAD_CERTIFICATE, "{message}");
    free(conns);

    let conns = handshake(&Client::trusting_ca().identity("client"), &server);
    // SAFETY: live connections.
    assert_eq!(
        unsafe { tlswire_handshake_complete(conns.1) },
        1,
        "{:?}",
        conn_error(conns.1)
    );
    free(conns);
}

#[test]
fn required_client_auth_refuses_a_stranger() {
    let server = Server::new().client_auth(TLSWIRE_CLIENT_AUTH_REQUIRED, "ca.crt");
    let conns = handshake(&Client::trusting_ca().identity("stranger"), &server);
    let (code, message) = conn_error(conns.1);
    assert_eq!(code, TLSWIRE_ERROR_BAD_CERTIFICATE, "{message}");
    assert!(message.contains("invalid peer certificate"), "{message}");
    free(conns);
}

#[test]
fn optional_and_pinned_client_auth() {
    let optional = Server::new().client_auth(TLSWIRE_CLIENT_AUTH_OPTIONAL, "ca.crt");
    let conns = handshake(&Client::trusting_ca(), &optional);
    // SAFETY: live connection.
    assert_eq!(unsafe { tlswire_handshake_complete(conns.1) }, 1);
    free(conns);

    let pinned = Server::new().client_auth(TLSWIRE_CLIENT_AUTH_PINNED, "self_signed_client.crt");
    let conns = handshake(
        &Client::trusting_ca().identity("self_signed_client"),
        &pinned,
    );
    let (mut der, mut len) = (std::ptr::null(), 0);
    // SAFETY: live connection, valid out-pointers.
    unsafe {
        assert_eq!(
            tlswire_handshake_complete(conns.1),
            1,
            "{:?}",
            conn_error(conns.1)
        );
        assert_eq!(tlswire_peer_certificate(conns.1, 0, &mut der, &mut len), 1);
    }
    assert!(len > 0);
    free(conns);

    let conns = handshake(&Client::trusting_ca().identity("client"), &pinned);
    assert_eq!(conn_error(conns.1).0, TLSWIRE_ERROR_BAD_CERTIFICATE);
    free(conns);
}

#[test]
fn alpn_is_negotiated() {
    let (client, server) = (Client::trusting_ca(), Server::new());
    // SAFETY: live configs, C strings.
    unsafe {
        assert_eq!(tlswire_client_config_alpn(client.0, c"h2".as_ptr()), 1);
        assert_eq!(
            tlswire_client_config_alpn(client.0, c"http/1.1".as_ptr()),
            1
        );
        assert_eq!(
            tlswire_server_config_alpn(server.0, c"http/1.1".as_ptr()),
            1
        );
    }
    let conns = handshake(&client, &server);
    let (mut p, mut len) = (std::ptr::null(), 0);
    // SAFETY: live connection; the slice lives as long as it.
    let alpn = unsafe {
        assert_eq!(tlswire_alpn(conns.0, &mut p, &mut len), 1);
        std::slice::from_raw_parts(p, len).to_vec()
    };
    assert_eq!(alpn, b"http/1.1");
    free(conns);
}

#[test]
fn os_trust_store_does_not_trust_the_test_ca() {
    let mut config = std::ptr::null_mut();
    // SAFETY: valid out-pointer; the config is freed below.
    unsafe {
        assert_eq!(tlswire_client_config_new(&mut config), 1);
        assert_eq!(tlswire_client_config_trust_os(config), 1);
    }
    let client = Client(config);
    let conns = handshake(&client, &Server::new());
    let (code, message) = conn_error(conns.0);
    assert_eq!(code, TLSWIRE_ERROR_BAD_CERTIFICATE, "{message}");
    free(conns);
}

#[test]
fn config_errors_name_the_file() {
    let mut config = std::ptr::null_mut();
    let missing = CString::new("/nonexistent/server.key").unwrap();
    // SAFETY: C strings and a valid out-pointer.
    let ok = unsafe {
        tlswire_server_config_new(c_path("server.crt").as_ptr(), missing.as_ptr(), &mut config)
    };
    assert_eq!(ok, 0);
    assert_eq!(tlswire_last_error_code(), TLSWIRE_ERROR_CONFIG);
    assert!(
        last_error().contains("/nonexistent/server.key"),
        "{}",
        last_error()
    );

    // A key that does not belong to the certificate.
    // SAFETY: as above.
    let ok = unsafe {
        tlswire_server_config_new(
            c_path("server.crt").as_ptr(),
            c_path("client.key").as_ptr(),
            &mut config,
        )
    };
    assert_eq!(ok, 0);
    assert!(last_error().contains("does not match"), "{}", last_error());

    let server = Server::new();
    // SAFETY: live config, NULL file on purpose.
    let ok = unsafe {
        tlswire_server_config_client_auth(server.0, TLSWIRE_CLIENT_AUTH_REQUIRED, std::ptr::null())
    };
    assert_eq!(ok, 0);
    assert_eq!(tlswire_last_error_code(), TLSWIRE_ERROR_NULL_ARGUMENT);
    // SAFETY: live config.
    let ok = unsafe { tlswire_server_config_client_auth(server.0, 42, std::ptr::null()) };
    assert_eq!(ok, 0);
    assert_eq!(tlswire_last_error_code(), TLSWIRE_ERROR_INVALID_ARGUMENT);
}
