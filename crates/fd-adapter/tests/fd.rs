//! The fd adapter over real sockets: blocking and non-blocking, TCP, Unix and raw fds, against
//! itself and against `openssl s_server`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_core::{Session, TlsVersions};
use tlswire_fd::{Error, FdSession};
use tlswire_testkit::{temp_dir, OpensslServer, TestPki};

fn client(pki: &TestPki) -> Session {
    Session::client(pki.client_config(), "localhost").unwrap()
}

fn server(pki: &TestPki) -> Session {
    Session::server(pki.server_config()).unwrap()
}

/// A blocking echo server on a free loopback port that serves one connection.
fn echo_server_once(
    config: Arc<tlswire_core::rustls::ServerConfig>,
) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut tls = FdSession::new(Session::server(config).unwrap(), tcp);
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tls.write_all(&buf[..n]).unwrap();
                    tls.flush().unwrap();
                }
            }
        }
        let _ = tls.close(Instant::now());
    });
    (port, handle)
}

#[test]
fn blocking_tcp_echo_and_clean_close() {
    let pki = TestPki::new();
    let (port, server) = echo_server_once(pki.server_config());
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = FdSession::new(client(&pki), tcp);
    for round in 0..3 {
        let msg = format!("hello {round}");
        tls.write_all(msg.as_bytes()).unwrap();
        tls.flush().unwrap();
        let mut got = vec![0u8; msg.len()];
        tls.read_exact(&mut got).unwrap();
        assert_eq!(got, msg.as_bytes());
    }
    assert!(tls.is_handshake_complete());
    tls.close(Instant::now()).unwrap();
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(tls.is_peer_closed());
    server.join().unwrap();
}

/// Drives two non-blocking sessions in one thread until `done` or a bounded number of rounds.
fn drive_pair(
    a: &mut FdSession<UnixStream>,
    b: &mut FdSession<UnixStream>,
    mut step: impl FnMut(&mut FdSession<UnixStream>, &mut FdSession<UnixStream>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..100_000 {
        if step(a, b) {
            return;
        }
        a.pump(Instant::now()).unwrap();
        b.pump(Instant::now()).unwrap();
        assert!(Instant::now() < deadline, "pair did not finish in time");
    }
    panic!("pair did not finish in 100000 rounds");
}

#[test]
fn nonblocking_unix_pair_full_duplex_does_not_deadlock() {
    let pki = TestPki::new();
    let (x, y) = UnixStream::pair().unwrap();
    x.set_nonblocking(true).unwrap();
    y.set_nonblocking(true).unwrap();
    let mut a = FdSession::new(client(&pki), x);
    let mut b = FdSession::new(server(&pki), y);
    let total = 1 << 20;
    let payload: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let (mut a_sent, mut b_sent) = (0, 0);
    let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 32 * 1024];
    drive_pair(&mut a, &mut b, |a, b| {
        // Both sides write as fast as they can, and read only what arrives.
        for (end, sent) in [(&mut *a, &mut a_sent), (&mut *b, &mut b_sent)] {
            if *sent < total {
                match end.write(&payload[*sent..]) {
                    Ok(n) => *sent += n,
                    Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
                }
            }
            match end.flush() {
                Ok(()) => {}
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
            }
        }
        for (end, got) in [(&mut *a, &mut a_got), (&mut *b, &mut b_got)] {
            match end.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
            }
        }
        a_got.len() == total && b_got.len() == total
    });
    assert!(a_got == payload && b_got == payload);
}

#[test]
fn raw_fd_with_wait_and_interest() {
    let pki = TestPki::new();
    let (x, y) = UnixStream::pair().unwrap();
    let raw = x.into_raw_fd();
    // SAFETY: `raw` was just released by `into_raw_fd` and is owned by nobody else.
    let x = unsafe { UnixStream::from_raw_fd(raw) };
    x.set_nonblocking(true).unwrap();
    y.set_nonblocking(true).unwrap();
    let mut a = FdSession::new(client(&pki), x);
    let mut b = FdSession::new(server(&pki), y);
    a.write_all(b"over a raw fd").unwrap();
    assert!(a.interest().read || a.interest().write);
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    for _ in 0..200 {
        a.wait(Some(Duration::from_millis(50))).unwrap();
        b.wait(Some(Duration::from_millis(50))).unwrap();
        if let Ok(n) = b.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == 13 {
            break;
        }
    }
    assert_eq!(got, b"over a raw fd");
    assert!(a.is_handshake_complete() && b.is_handshake_complete());
    // Nothing more is coming: a wait with a short timeout reports no readiness.
    assert!(!b.wait(Some(Duration::from_millis(20))).unwrap());
}

#[test]
fn close_without_close_notify_is_unexpected_eof() {
    let pki = TestPki::new();
    let (x, y) = UnixStream::pair().unwrap();
    let mut a = FdSession::new(client(&pki), x);
    let server_thread = std::thread::spawn({
        let config = pki.server_config();
        move || {
            let mut b = FdSession::new(Session::server(config).unwrap(), y);
            b.write_all(b"last words").unwrap();
            b.flush().unwrap();
            while !b.is_handshake_complete() {
                b.pump(Instant::now()).unwrap();
            }
            b.flush().unwrap();
            // Dropped without close(): the transport closes with no close_notify.
        }
    });
    let mut got = [0u8; 10];
    a.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"last words");
    server_thread.join().unwrap();
    let e = a.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    assert!(matches!(a.error(), Some(Error::UnexpectedEof)));
}

#[test]
fn lenient_eof_reads_as_end_of_stream() {
    let pki = TestPki::new();
    let (x, y) = UnixStream::pair().unwrap();
    let mut a = FdSession::new(client(&pki), x);
    a.set_lenient_eof(true);
    let server_thread = std::thread::spawn({
        let config = pki.server_config();
        move || {
            let mut b = FdSession::new(Session::server(config).unwrap(), y);
            b.write_all(b"bye").unwrap();
            while !b.is_handshake_complete() {
                b.pump(Instant::now()).unwrap();
            }
            b.flush().unwrap();
        }
    });
    let mut got = Vec::new();
    a.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    server_thread.join().unwrap();
}

#[test]
fn untrusted_server_fails_with_certificate_error() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let (x, y) = UnixStream::pair().unwrap();
    let server_thread = std::thread::spawn({
        let config = other.server_config();
        move || {
            let mut b = FdSession::new(Session::server(config).unwrap(), y);
            let _ = b.read(&mut [0u8; 8]);
        }
    });
    let mut a = FdSession::new(client(&pki), x);
    let e = a.read(&mut [0u8; 8]).unwrap_err();
    assert!(e.to_string().contains("invalid peer certificate"), "{e}");
    server_thread.join().unwrap();
}

#[test]
fn against_openssl_s_server() {
    let pki = TestPki::new();
    let dir = temp_dir("fd-openssl");
    let (cert, key) = pki.server.write(&dir, "server");
    let server = OpensslServer::start(&cert, &key, &["-rev", "-quiet"]);
    for versions in [TlsVersions::Tls12Only, TlsVersions::Tls13Only] {
        let config =
            tlswire_core::ClientOptions::new(tlswire_core::ServerTrust::Roots(pki.roots()))
                .with_versions(versions)
                .build()
                .unwrap();
        let tcp = TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let tls = FdSession::new(Session::client(config, "localhost").unwrap(), tcp);
        let mut tls = BufReader::new(tls);
        tls.get_mut().write_all(b"abcdef\n").unwrap();
        tls.get_mut().flush().unwrap();
        let mut line = String::new();
        tls.read_line(&mut line).unwrap();
        assert_eq!(line, "fedcba\n", "{versions:?}");
        tls.get_mut().close(Instant::now()).unwrap();
    }
}
