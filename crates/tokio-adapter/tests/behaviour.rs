//! The failure modes tokio-rustls users have met, checked one by one: output stuck until the
//! next write, self-wakeups, and server-side 0-RTT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::STEP;
use tlswire_core::{ReloadableIdentity, Site, SiteOptions};
use tlswire_testkit::TestPki;
use tlswire_tokio::{TlsAcceptor, TlsConnector};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// A transport that counts the bytes read through it.
struct Counting<IO> {
    io: IO,
    read: Arc<AtomicUsize>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Counting<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        self.read
            .fetch_add(buf.filled().len() - before, Ordering::SeqCst);
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Counting<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Reads with a deadline; the read is expected to stay pending (nothing to read).
async fn read_nothing_for<R: AsyncRead + Unpin>(r: &mut R, wait: Duration) {
    let mut buf = [0u8; 64];
    assert!(
        timeout(wait, r.read(&mut buf)).await.is_err(),
        "expected no plaintext"
    );
}

/// A key update requested by the application goes out with the next read: a connection that
/// only reads does not keep it back until its next write.
#[tokio::test]
async fn key_update_is_sent_by_a_read_without_any_write() {
    let pki = TestPki::new();
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config());
    let counter = Arc::new(AtomicUsize::new(0));
    let server_counter = counter.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tcp = Counting {
            io: tcp,
            read: server_counter,
        };
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        got
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = TlsConnector::new(pki.client_config())
        .connect("localhost", tcp)
        .await
        .unwrap();
    read_nothing_for(&mut tls, Duration::from_millis(200)).await;
    let before = counter.load(Ordering::SeqCst);

    tls.session_mut().refresh_traffic_keys().unwrap();
    // No write, no flush: only a read.
    read_nothing_for(&mut tls, Duration::from_millis(300)).await;
    let sent = counter.load(Ordering::SeqCst) - before;
    assert!(sent > 0, "the KeyUpdate was kept back until the next write");

    // Data flows under the new keys.
    tls.write_all(b"after key update").await.unwrap();
    tls.shutdown().await.unwrap();
    let got = timeout(STEP, server).await.unwrap().unwrap();
    assert_eq!(got, b"after key update");
}

/// A corrupt record makes the reading side fail; the alert telling the peer why is sent by
/// that read, not held until a write that will never come.
#[tokio::test]
async fn alert_from_a_failed_read_reaches_the_peer() {
    let pki = TestPki::new();
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut buf = [0u8; 64];
        let e = tls.read(&mut buf).await.unwrap_err();
        // Keep the socket open: the client must learn of the failure from the alert alone.
        tokio::time::sleep(Duration::from_secs(2)).await;
        e
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = TlsConnector::new(pki.client_config())
        .connect("localhost", tcp)
        .await
        .unwrap();
    // An application-data record whose authentication tag cannot verify.
    let mut bogus = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    bogus.extend_from_slice(&[0x42; 0x20]);
    tls.get_mut().write_all(&bogus).await.unwrap();
    let mut buf = [0u8; 64];
    let e = timeout(Duration::from_secs(1), tls.read(&mut buf))
        .await
        .expect("no alert arrived")
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("alert"), "{e}");
    let server_err = timeout(STEP, server).await.unwrap().unwrap();
    assert_eq!(
        server_err.kind(),
        io::ErrorKind::InvalidData,
        "{server_err}"
    );
}

/// Wraps a poll function and counts how often it is polled.
async fn count_polls<F>(wait: Duration, mut f: F) -> usize
where
    F: FnMut(&mut Context<'_>) -> Poll<()>,
{
    let mut polls = 0;
    let run = std::future::poll_fn(|cx| {
        polls += 1;
        f(cx)
    });
    let _ = timeout(wait, run).await;
    polls
}

/// An idle read, and a write blocked by a full socket, sleep until the socket is ready: they
/// do not wake themselves.
#[tokio::test]
async fn idle_read_and_blocked_write_do_not_spin() {
    let pki = TestPki::new();
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config());
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        // Neither reads nor writes until released.
        release_rx.await.unwrap();
        drop(tls);
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = TlsConnector::new(pki.client_config())
        .connect("localhost", tcp)
        .await
        .unwrap();
    read_nothing_for(&mut tls, Duration::from_millis(100)).await;

    let mut buf = [0u8; 1024];
    let read_polls = count_polls(Duration::from_millis(400), |cx| {
        let mut rb = ReadBuf::new(&mut buf);
        Pin::new(&mut tls).poll_read(cx, &mut rb).map(|r| {
            r.unwrap();
        })
    })
    .await;
    assert!(read_polls <= 2, "idle read was polled {read_polls} times");

    // Fill the socket buffers: the server does not read.
    let chunk = vec![7u8; 256 * 1024];
    let mut filled = false;
    for _ in 0..1024 {
        if timeout(Duration::from_millis(200), tls.write_all(&chunk))
            .await
            .is_err()
        {
            filled = true;
            break;
        }
    }
    assert!(filled, "socket buffers never filled");
    let write_polls = count_polls(Duration::from_millis(400), |cx| {
        Pin::new(&mut tls).poll_write(cx, &chunk).map(|r| {
            r.unwrap();
        })
    })
    .await;
    assert!(
        write_polls <= 2,
        "blocked write was polled {write_polls} times"
    );
    release_tx.send(()).unwrap();
    timeout(STEP, server).await.unwrap().unwrap();
}

/// A server whose site allows early data reads a resuming client's 0-RTT bytes first. The
/// client here is tokio-rustls (the core has no client-side 0-RTT yet).
#[tokio::test]
async fn server_accepts_early_data_from_a_resuming_client() {
    let pki = TestPki::new();
    let mut options = SiteOptions::default();
    options.max_early_data_size = 16 * 1024;
    let site = Site::new(ReloadableIdentity::new(pki.server.certified_key()), options).unwrap();
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(site.server_config());
    let server = tokio::spawn(async move {
        let mut early = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut request = [0u8; 5];
            tls.read_exact(&mut request).await.unwrap();
            early.push(tls.received_early_data());
            tls.write_all(&request).await.unwrap();
            tls.shutdown().await.unwrap();
        }
        early
    });

    let mut config = (*pki.client_config()).clone();
    config.enable_early_data = true;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config)).early_data(true);
    for _ in 0..2 {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = tlswire_core::rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"early").await.unwrap();
        tls.flush().await.unwrap();
        let mut reply = Vec::new();
        timeout(STEP, tls.read_to_end(&mut reply))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply, b"early");
    }
    let early = timeout(STEP, server).await.unwrap().unwrap();
    assert_eq!(
        early,
        [false, true],
        "the resumed connection should carry 0-RTT data"
    );
}
