//! TlsStream over real loopback TCP: echo, bulk both ways at once, split halves, close
//! semantics, handshake timeouts.

use std::io::{ErrorKind, IoSlice};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use tlswire_core::rustls::HandshakeKind;
use tlswire_smol::LazyAcceptor;

use crate::runtime::{on_both_runtimes, Runtime};
use crate::{acceptor, connector, pattern, pki, short_handshake};

on_both_runtimes!(
    echo,
    bulk_64_mib_both_directions_at_once,
    split_halves_from_two_tasks,
    close_notify_and_abrupt_close_are_distinct,
    handshake_times_out_against_a_silent_peer,
    close_notify_waits_for_a_full_send_buffer,
    split_halves_do_not_wake_each_other_in_a_loop,
    a_read_that_fails_sends_the_alert,
);

/// Serves one connection: echoes everything until the client's close_notify, then closes.
async fn echo_server<R: Runtime>(listener: R::Listener) {
    let tcp = R::accept(&listener).await;
    let tls = acceptor().accept(tcp).await.unwrap();
    let (reader, mut writer) = tls.into_split();
    // The read half flushes what the write half buffered: no flush needed inside copy.
    smol::io::copy(reader, &mut writer).await.unwrap();
    writer.close().await.unwrap();
}

async fn echo<R: Runtime>() {
    let (listener, addr) = R::listen().await;
    let server = R::spawn(echo_server::<R>(listener));
    let mut tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    let peer = tls.peer();
    assert_eq!(peer.sni.as_deref(), Some("localhost"));
    assert!(peer.version.is_some() && peer.cipher_suite.is_some());
    assert_eq!(peer.certificates.len(), 1);
    assert_eq!(peer.handshake_kind, Some(HandshakeKind::Full));

    let n = tls
        .write_vectored(&[IoSlice::new(b"hello, "), IoSlice::new(b"world")])
        .await
        .unwrap();
    assert_eq!(n, 12);
    // No flush: the read sends the buffered record first.
    let mut reply = [0u8; 12];
    tls.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"hello, world");

    tls.write_all(b"second").await.unwrap();
    tls.flush().await.unwrap();
    let mut reply = [0u8; 6];
    tls.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"second");

    tls.close().await.unwrap();
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    server.await;
}

const BULK: usize = 64 << 20;
const CHUNK: usize = 64 * 1024;

async fn send_pattern<W: AsyncWrite + Unpin>(mut writer: W, seed: u8) -> W {
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0;
    while sent < BULK {
        let n = CHUNK.min(BULK - sent);
        pattern(seed, sent, &mut buf[..n]);
        writer.write_all(&buf[..n]).await.unwrap();
        sent += n;
    }
    writer.close().await.unwrap();
    writer
}

async fn receive_pattern<Rd: AsyncRead + Unpin>(mut reader: Rd, seed: u8) {
    let (mut buf, mut expected) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut received = 0;
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        pattern(seed, received, &mut expected[..n]);
        if buf[..n] != expected[..n] {
            let at = (0..n).find(|&i| buf[i] != expected[i]).unwrap_or(0);
            panic!("stream {seed} differs at byte {}", received + at);
        }
        received += n;
    }
    assert_eq!(received, BULK, "stream {seed} ended early");
}

/// Both peers write 64 MiB at each other before reading anything back: a writer stuck on a
/// full socket must not stop its own reader.
async fn bulk_64_mib_both_directions_at_once<R: Runtime>() {
    let (listener, addr) = R::listen().await;
    let server = R::spawn(async move {
        let tls = acceptor().accept(R::accept(&listener).await).await.unwrap();
        let (reader, writer) = tls.into_split();
        let writing = R::spawn(send_pattern(writer, 2));
        receive_pattern(reader, 1).await;
        writing.await;
    });
    let tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    let (reader, writer) = tls.into_split();
    let writing = R::spawn(send_pattern(writer, 1));
    receive_pattern(reader, 2).await;
    let writer = writing.await;
    drop(writer);
    server.await;
}

/// A reader task blocked on the socket does not hold up a writer task, and the halves join
/// back into one stream.
async fn split_halves_from_two_tasks<R: Runtime>() {
    let (listener, addr) = R::listen().await;
    let server = R::spawn(echo_server::<R>(listener));
    let tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    let (mut reader, mut writer) = tls.into_split();
    let reading = R::spawn(async move {
        let mut got = vec![0u8; 3 * 5];
        reader.read_exact(&mut got).await.unwrap();
        (reader, got)
    });
    let writing = R::spawn(async move {
        for word in [b"one  ", b"two  ", b"three"] {
            writer.write_all(word).await.unwrap();
            writer.flush().await.unwrap();
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
        writer
    });
    let writer = writing.await;
    let (reader, got) = reading.await;
    assert_eq!(&got, b"one  two  three");
    let mut tls = reader.unsplit(writer).unwrap();
    tls.close().await.unwrap();
    server.await;
}

/// The server ends three connections: with close_notify, then twice by dropping TCP. The
/// client sees a clean EOF, an `UnexpectedEof` error, and (lenient) a clean EOF.
async fn close_notify_and_abrupt_close_are_distinct<R: Runtime>() {
    let (listener, addr) = R::listen().await;
    let server = R::spawn(async move {
        for clean in [true, false, false] {
            let mut tls = acceptor().accept(R::accept(&listener).await).await.unwrap();
            tls.write_all(b"bye").await.unwrap();
            if clean {
                tls.close().await.unwrap();
            } else {
                tls.flush().await.unwrap();
                drop(tls.into_inner());
            }
        }
    });
    let mut tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");

    let mut tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    let mut got = [0u8; 3];
    tls.read_exact(&mut got).await.unwrap();
    let err = tls.read(&mut got).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    assert!(err.to_string().contains("close_notify"), "{err}");
    assert!(err
        .get_ref()
        .is_some_and(|e| e.is::<tlswire_smol::UnexpectedEofError>()));

    let mut tls = connector()
        .with_eof_policy(tlswire_smol::EofPolicy::Lenient)
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    server.await;
}

/// A server that accepts TCP and never answers, and clients that connect and never speak,
/// all fail with `TimedOut` after the handshake timeout.
async fn handshake_times_out_against_a_silent_peer<R: Runtime>() {
    let (listener, addr) = R::listen().await;
    let tcp = R::connect(addr).await;
    let err = connector()
        .with_limits(short_handshake())
        .connect("localhost", tcp)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");

    let _silent_client = R::connect(addr).await;
    let tcp = R::accept(&listener).await; // the first connection, from the client above
    drop(tcp);
    let tcp = R::accept(&listener).await;
    let err = acceptor()
        .with_limits(short_handshake())
        .accept(tcp)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");

    let _another_silent_client = R::connect(addr).await;
    let tcp = R::accept(&listener).await;
    let policy = tlswire_core::AcceptPolicy::new(tlswire_core::SniPolicy::single(pki().site(
        &pki().server,
        tlswire_core::ClientAuth::None,
        &[],
    )))
    .with_limits(short_handshake());
    let err = LazyAcceptor::new(std::sync::Arc::new(policy))
        .accept(tcp)
        .await
        .unwrap_err();
    let err = std::io::Error::from(err);
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
}

/// The server writes far more than the socket buffers hold, then closes while the client is
/// not reading yet: `close` must wait until close_notify is on the wire, so the client reads
/// every byte and then a clean end of stream.
async fn close_notify_waits_for_a_full_send_buffer<R: Runtime>() {
    const SIZE: usize = 8 << 20;
    let (listener, addr) = R::listen().await;
    let server = R::spawn(async move {
        let mut tls = acceptor().accept(R::accept(&listener).await).await.unwrap();
        let mut data = vec![0u8; SIZE];
        pattern(7, 0, &mut data);
        tls.write_all(&data).await.unwrap();
        tls.close().await.unwrap();
        assert!(tls.close_notify_sent());
    });
    let mut tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    async_io::Timer::after(Duration::from_millis(200)).await;
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await.unwrap();
    let mut expected = vec![0u8; SIZE];
    pattern(7, 0, &mut expected);
    assert!(
        got == expected,
        "received {} bytes, not the {SIZE} sent",
        got.len()
    );
    server.await;
}

/// Counts how often a future is polled: a task that wakes itself, or two halves that keep
/// stealing each other's write-readiness registration, shows up as thousands of polls.
struct CountPolls<F> {
    inner: F,
    polls: usize,
}

impl<F: std::future::Future + Unpin> std::future::Future for CountPolls<F> {
    type Output = (F::Output, usize);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.polls += 1;
        let polls = self.polls;
        std::pin::Pin::new(&mut self.inner)
            .poll(cx)
            .map(|out| (out, polls))
    }
}

fn count_polls<F: std::future::Future + Unpin>(inner: F) -> CountPolls<F> {
    CountPolls { inner, polls: 0 }
}

/// A reader half waiting on a silent peer while its writer half is parked on a full socket:
/// neither may spin.
async fn split_halves_do_not_wake_each_other_in_a_loop<R: Runtime>() {
    const SIZE: usize = 8 << 20;
    let (listener, addr) = R::listen().await;
    let server = R::spawn(async move {
        let mut tls = acceptor().accept(R::accept(&listener).await).await.unwrap();
        // Read nothing for a while, so the client's socket fills up.
        async_io::Timer::after(Duration::from_millis(300)).await;
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0;
        while received < SIZE {
            received += tls.read(&mut buf).await.unwrap();
        }
        tls.close().await.unwrap();
    });
    let tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    let (mut reader, mut writer) = tls.into_split();
    let reading = R::spawn(async move {
        let mut buf = [0u8; 16];
        let (n, polls) = count_polls(Box::pin(reader.read(&mut buf))).await;
        assert_eq!(n.unwrap(), 0, "the server sends nothing but close_notify");
        polls
    });
    let writing = R::spawn(async move {
        let data = vec![0u8; SIZE];
        let (result, polls) = count_polls(Box::pin(async {
            writer.write_all(&data).await?;
            writer.flush().await
        }))
        .await;
        result.unwrap();
        (writer, polls)
    });
    let (_writer, writer_polls) = writing.await;
    let reader_polls = reading.await;
    server.await;
    // Each poll here follows a real readiness event; a spin would be in the hundreds of
    // thousands within the 300 ms the server waits.
    assert!(reader_polls <= 200, "reader polled {reader_polls} times");
    assert!(writer_polls <= 5_000, "writer polled {writer_polls} times");
    eprintln!("reader polls: {reader_polls}, writer polls: {writer_polls}");
}

/// The client corrupts the stream; the server's read fails and, without any write of its own,
/// sends the alert that tells the client why.
async fn a_read_that_fails_sends_the_alert<R: Runtime>() {
    let (listener, addr) = R::listen().await;
    let (done_tx, done_rx) = smol::channel::bounded::<()>(1);
    let server = R::spawn(async move {
        let mut tls = acceptor().accept(R::accept(&listener).await).await.unwrap();
        let mut buf = [0u8; 64];
        let err = tls.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
        // No further call on the stream: only the failed read can have sent the alert.
        let _ = done_rx.recv().await;
        drop(tls);
    });
    let mut tls = connector()
        .connect("localhost", R::connect(addr).await)
        .await
        .unwrap();
    // An application-data record whose authentication tag cannot verify.
    let mut forged = vec![0x17, 0x03, 0x03, 0x00, 0x20];
    forged.extend_from_slice(&[0x55; 0x20]);
    tls.get_mut().write_all(&forged).await.unwrap();
    let mut buf = [0u8; 64];
    let read = async { Some(tls.read(&mut buf).await) };
    let give_up = async {
        async_io::Timer::after(Duration::from_secs(20)).await;
        None
    };
    let err = smol::future::or(read, give_up)
        .await
        .expect("no alert arrived: the failed read did not send it")
        .unwrap_err();
    assert!(err.to_string().contains("alert"), "{err}");
    done_tx.send(()).await.unwrap();
    server.await;
}
