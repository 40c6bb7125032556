//! TlsStream over real loopback sockets: echo, bulk both ways, split halves, closing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::time::Duration;

use common::{pattern, spawn_echo_server, STEP};
use tlswire_testkit::TestPki;
use tlswire_tokio::{EofPolicy, Limits, TlsAcceptor, TlsConnector, UnexpectedEofError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[tokio::test]
async fn echo_round_trips_and_reports_peer() {
    let pki = TestPki::new();
    let (addr, server) = spawn_echo_server(pki.server_config(), 1).await;
    let connector = TlsConnector::new(pki.client_config());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = timeout(STEP, connector.connect("localhost", tcp))
        .await
        .unwrap()
        .unwrap();
    let peer = tls.peer();
    assert_eq!(peer.sni.as_deref(), Some("localhost"));
    assert!(peer.version.is_some());
    assert_eq!(peer.certificates.first(), Some(&pki.server.cert()));

    for round in 0..5u8 {
        let msg = pattern(1000 + round as usize * 7000, round);
        tls.write_all(&msg).await.unwrap();
        tls.flush().await.unwrap();
        let mut back = vec![0u8; msg.len()];
        timeout(STEP, tls.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, msg);
    }
    // Vectored writes fill records across buffers.
    let parts = [b"one ".as_slice(), b"two ", b"three"];
    let slices: Vec<_> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
    let n = tls.write_vectored(&slices).await.unwrap();
    assert_eq!(n, 13);
    tls.flush().await.unwrap();
    let mut back = [0u8; 13];
    timeout(STEP, tls.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"one two three");

    tls.shutdown().await.unwrap();
    assert!(tls.close_notify_sent());
    let mut rest = Vec::new();
    let n = timeout(STEP, tls.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "the server echoes nothing after our close");
    timeout(STEP, server).await.unwrap().unwrap();
}

/// Both peers write 64 MiB at once on one connection, each reading concurrently: no deadlock,
/// every byte arrives in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_directions_at_once_64_mib() {
    const LEN: usize = 64 * 1024 * 1024;
    let pki = TestPki::new();
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        exchange(tls, LEN, 1, 2).await
    });
    let connector = TlsConnector::new(pki.client_config());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect("localhost", tcp).await.unwrap();
    let client = tokio::spawn(exchange(tls, LEN, 2, 1));
    let limit = Duration::from_secs(240);
    timeout(limit, client).await.unwrap().unwrap();
    timeout(limit, server).await.unwrap().unwrap();
}

/// Writes `len` bytes of pattern `send_seed` from one task while another reads and checks
/// `len` bytes of pattern `recv_seed`.
async fn exchange<IO>(tls: tlswire_tokio::TlsStream<IO>, len: usize, send_seed: u8, recv_seed: u8)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut r, mut w) = tls.into_split();
    let writer = tokio::spawn(async move {
        let chunk = pattern(1024 * 1024, send_seed);
        for _ in 0..len / chunk.len() {
            w.write_all(&chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let expected = pattern(1024 * 1024, recv_seed);
    let mut got = vec![0u8; 256 * 1024];
    let mut total = 0usize;
    loop {
        let n = r.read(&mut got).await.unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in got[..n].iter().enumerate() {
            let at = (total + i) % expected.len();
            assert_eq!(*b, expected[at], "byte {} differs", total + i);
        }
        total += n;
    }
    assert_eq!(total, len);
    writer.await.unwrap();
}

/// A split stream: one task writes requests while another reads replies, and the halves
/// put back together make a working stream again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_from_two_tasks_and_unsplit() {
    let pki = TestPki::new();
    let (addr, server) = spawn_echo_server(pki.server_config(), 1).await;
    let connector = TlsConnector::new(pki.client_config());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect("localhost", tcp).await.unwrap();
    let (mut r, mut w) = tls.into_split();
    assert_eq!(r.peer(), w.peer());
    let data = pattern(3 * 1024 * 1024 + 17, 9);
    let to_send = data.clone();
    let writer = tokio::spawn(async move {
        for piece in to_send.chunks(10_000) {
            w.write_all(piece).await.unwrap();
        }
        w.flush().await.unwrap();
        w
    });
    let reader = tokio::spawn(async move {
        let mut back = vec![0u8; data.len()];
        r.read_exact(&mut back).await.unwrap();
        assert!(back == data, "echoed bytes differ");
        r
    });
    let w = timeout(STEP, writer).await.unwrap().unwrap();
    let r = timeout(STEP, reader).await.unwrap().unwrap();
    let mut tls = r.unsplit(w).unwrap();
    tls.write_all(b"again").await.unwrap();
    tls.flush().await.unwrap();
    let mut back = [0u8; 5];
    timeout(STEP, tls.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"again");
    tls.shutdown().await.unwrap();
    timeout(STEP, server).await.unwrap().unwrap();
}

/// A clean close (close_notify) reads as `Ok(0)`; an abrupt one as `UnexpectedEof`, unless the
/// lenient policy is chosen.
#[tokio::test]
async fn close_notify_and_abrupt_close_are_distinct() {
    let pki = TestPki::new();
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config());
    let server = tokio::spawn(async move {
        for mode in ["clean", "abrupt", "abrupt"] {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            tls.write_all(b"bye").await.unwrap();
            tls.flush().await.unwrap();
            if mode == "clean" {
                tls.shutdown().await.unwrap();
            } else {
                // Dropping without shutdown: the TCP connection ends without close_notify.
                drop(tls);
            }
        }
    });
    let connector = TlsConnector::new(pki.client_config());
    for (policy, expect_ok) in [
        (EofPolicy::Strict, true),
        (EofPolicy::Strict, false),
        (EofPolicy::Lenient, true),
    ] {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector
            .clone()
            .with_eof_policy(policy)
            .connect("localhost", tcp)
            .await
            .unwrap();
        let mut got = Vec::new();
        let result = timeout(STEP, tls.read_to_end(&mut got)).await.unwrap();
        assert_eq!(got, b"bye");
        if expect_ok {
            assert_eq!(result.unwrap(), 3);
        } else {
            let e = result.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert!(e.get_ref().unwrap().is::<UnexpectedEofError>(), "{e:?}");
        }
    }
    timeout(STEP, server).await.unwrap().unwrap();
}

/// A server that accepts the TCP connection and never speaks: connect fails with TimedOut at the
/// handshake deadline; the same for an acceptor facing a silent client.
#[tokio::test]
async fn handshake_times_out_against_a_silent_peer() {
    let pki = TestPki::new();
    let (listener, addr) = common::listener().await;
    let silent = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(tcp);
    });
    let limits = Limits::default().with_handshake_timeout(Duration::from_millis(300));
    let connector = TlsConnector::new(pki.client_config()).with_limits(limits);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let e = timeout(STEP, connector.connect("localhost", tcp))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert_eq!(
        e.get_ref()
            .and_then(|e| e.downcast_ref::<tlswire_core::Error>()),
        Some(&tlswire_core::Error::HandshakeTimeout)
    );
    silent.abort();

    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config()).with_limits(limits);
    let quiet_client = TcpStream::connect(addr).await.unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let e = timeout(STEP, acceptor.accept(tcp))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    drop(quiet_client);
}

/// close_notify is not lost when the socket's send buffer is full: shutdown waits until the
/// peer has read enough to take it, and the peer then sees a clean end of stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_notify_survives_a_full_send_buffer() {
    const LEN: usize = 16 * 1024 * 1024;
    let pki = TestPki::new();
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let data = pattern(LEN, 3);
        tls.write_all(&data).await.unwrap();
        tls.shutdown().await.unwrap();
        assert!(tls.close_notify_sent());
    });
    let connector = TlsConnector::new(pki.client_config());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector.connect("localhost", tcp).await.unwrap();
    // Let the server fill both socket buffers and block in write_all or shutdown.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut got = Vec::new();
    let n = timeout(STEP, tls.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, LEN);
    assert!(got == pattern(LEN, 3));
    timeout(STEP, server).await.unwrap().unwrap();
}

/// Bad certificates fail the handshake with InvalidData naming the cause.
#[tokio::test]
async fn untrusted_server_fails_with_invalid_data() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let (addr, server) = spawn_echo_server(other.server_config(), 0).await;
    let (listener, addr2) = common::listener().await;
    let acceptor = TlsAcceptor::new(other.server_config());
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.unwrap_err()
    });
    let connector = TlsConnector::new(pki.client_config());
    let tcp = TcpStream::connect(addr2).await.unwrap();
    let e = timeout(STEP, connector.connect("localhost", tcp))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("certificate"), "{e}");
    let server_err = timeout(STEP, srv).await.unwrap().unwrap();
    assert_eq!(
        server_err.kind(),
        io::ErrorKind::InvalidData,
        "{server_err}"
    );
    let _ = addr;
    server.abort();
}
