//! Property tests: random chunking and interleaving, corrupted records, truncation, and the
//! accept decision under every split of the first bytes.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use proptest::prelude::*;
use rustls::{ClientConfig, ServerConfig};
use tlswire_core::{
    Accept, AcceptPolicy, ClientAuth, ClientOptions, Decision, Error, Event, RejectReason,
    ServerTrust, Session, SniPolicy, TlsVersions,
};
use tlswire_testkit::TestPki;

/// Certificates and configurations shared by every case (key generation is slow in debug).
struct Fixture {
    pki: TestPki,
    server: Arc<ServerConfig>,
    clients: [Arc<ClientConfig>; 2],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pki = TestPki::new();
        let client = |versions| {
            ClientOptions::new(ServerTrust::Roots(pki.roots()))
                .with_versions(versions)
                .with_alpn(["h2", "http/1.1"])
                .build()
                .unwrap()
        };
        let clients = [
            client(TlsVersions::Tls13Only),
            client(TlsVersions::Tls12Only),
        ];
        Fixture {
            server: pki
                .site(&pki.server, ClientAuth::None, &["http/1.1"])
                .server_config(),
            clients,
            pki,
        }
    })
}

fn sessions(tls12: bool) -> (Session, Session) {
    let f = fixture();
    let client = Session::client(f.clients[usize::from(tls12)].clone(), "localhost").unwrap();
    let server = Session::server(f.server.clone()).unwrap();
    (client, server)
}

/// A small deterministic generator, so one proptest seed drives a long random schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A size from 1 byte to 64 KiB, spread evenly over the powers of two.
    fn chunk_size(&mut self) -> usize {
        let bits = self.below(17) as u32;
        1 + self.below(1 << bits) as usize
    }
}

/// One direction of the in-memory network, plus what its sender wants to send.
#[derive(Default)]
struct Direction {
    to_send: Vec<u8>,
    written: usize,
    wire: Vec<u8>,
    delivered: usize,
    received: Vec<u8>,
}

fn read_all(session: &mut Session, received: &mut Vec<u8>) {
    while let Some(chunk) = session.read_chunk() {
        received.extend_from_slice(chunk);
        let n = chunk.len();
        session.consume(n);
    }
}

fn drain(session: &mut Session, received: &mut Vec<u8>) -> Vec<Event> {
    read_all(session, received);
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Runs a random schedule of writes, transmits and deliveries in random chunk sizes until
/// everything arrives; returns both ends' events.
fn run_schedule(
    tls12: bool,
    seed: u64,
    c2s_len: usize,
    s2c_len: usize,
) -> Result<(Direction, Direction), TestCaseError> {
    let (mut client, mut server) = sessions(tls12);
    let now = Instant::now();
    client.handle_timeout(now);
    server.handle_timeout(now);
    let mut rng = Rng(seed | 1);
    let mut c2s = Direction {
        to_send: data(c2s_len, 1),
        ..Direction::default()
    };
    let mut s2c = Direction {
        to_send: data(s2c_len, 2),
        ..Direction::default()
    };
    let mut completed = [false; 2];
    for _ in 0..200_000 {
        let done = completed == [true, true]
            && c2s.received.len() == c2s_len
            && s2c.received.len() == s2c_len;
        if done {
            return Ok((c2s, s2c));
        }
        let client_turn = rng.below(2) == 0;
        let (sender, receiver, out, inn, index) = if client_turn {
            (&mut client, &mut server, &mut c2s, &mut s2c, 0)
        } else {
            (&mut server, &mut client, &mut s2c, &mut c2s, 1)
        };
        let _ = inn;
        match rng.below(3) {
            0 if out.written < out.to_send.len() => {
                let end = (out.written + rng.chunk_size()).min(out.to_send.len());
                out.written += sender.write(&out.to_send[out.written..end]).unwrap();
            }
            1 => {
                let _ = sender.poll_transmit(&mut out.wire);
            }
            _ if out.delivered < out.wire.len() => {
                let end = (out.delivered + rng.chunk_size()).min(out.wire.len());
                let n = receiver.handle_input(&out.wire[out.delivered..end], now);
                out.delivered += n.map_err(|e| TestCaseError::fail(format!("input: {e}")))?;
                for event in drain(receiver, &mut out.received) {
                    match event {
                        Event::HandshakeComplete(_) => completed[1 - index] = true,
                        other => return Err(TestCaseError::fail(format!("event {other:?}"))),
                    }
                }
            }
            _ => {}
        }
    }
    Err(TestCaseError::fail(format!(
        "did not finish: handshake {completed:?}, c2s {}/{c2s_len}, s2c {}/{s2c_len}",
        c2s.received.len(),
        s2c.received.len()
    )))
}

/// An established pair with the server's flight fully delivered to the client.
fn established(tls12: bool) -> (Session, Session, Instant) {
    let (mut client, mut server) = sessions(tls12);
    let now = Instant::now();
    let mut wire = Vec::new();
    for _ in 0..10 {
        let mut moved = false;
        for client_sends in [true, false] {
            let (from, to) = if client_sends {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            wire.clear();
            if from.poll_transmit(&mut wire) > 0 {
                moved = true;
                let mut fed = 0;
                while fed < wire.len() {
                    fed += to.handle_input(&wire[fed..], now).unwrap();
                }
            }
        }
        if !moved {
            break;
        }
    }
    while client.poll_event().is_some() {}
    while server.poll_event().is_some() {}
    assert!(!client.is_handshaking() && !server.is_handshaking());
    (client, server, now)
}

/// Feeds `bytes` to `session` as far as it takes them; returns the first error.
fn feed_all(
    session: &mut Session,
    bytes: &[u8],
    now: Instant,
    received: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut fed = 0;
    while fed < bytes.len() {
        let n = session.handle_input(&bytes[fed..], now)?;
        read_all(session, received);
        if n == 0 && session.readable_bytes() == 0 {
            break;
        }
        fed += n;
    }
    Ok(())
}

/// What an accept attempt came to, in a form that can be compared across splits.
#[derive(Debug, PartialEq)]
enum Outcome {
    Undecided,
    Plaintext,
    Tls {
        sni: Option<String>,
        alpn: Vec<Vec<u8>>,
    },
    Rejected(tlswire_core::Rejection),
    /// rustls refused bytes of the hello's flight, in `Accept` or in the session it made.
    SessionFailed(Error),
}

fn accept_policy() -> Arc<AcceptPolicy> {
    static POLICY: OnceLock<Arc<AcceptPolicy>> = OnceLock::new();
    POLICY
        .get_or_init(|| {
            let pki = &fixture().pki;
            let mut sni = SniPolicy::new();
            sni.insert(
                "localhost",
                pki.site(&pki.server, ClientAuth::None, &["http/1.1"]),
            )
            .unwrap();
            sni.insert(
                "*.example.test",
                pki.site(&pki.server, ClientAuth::None, &[]),
            )
            .unwrap();
            Arc::new(AcceptPolicy::new(sni).allow_plaintext(true))
        })
        .clone()
}

fn accept_in_chunks(bytes: &[u8], cuts: &[usize]) -> Outcome {
    let mut accept = Accept::new(accept_policy());
    let now = Instant::now();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    for window in points.windows(2) {
        match accept.handle_input(&bytes[window[0]..window[1]], now) {
            Ok(None) => {}
            Ok(Some(Decision::Plaintext { .. })) => return Outcome::Plaintext,
            Ok(Some(Decision::Tls(mut session))) => {
                // Bytes after the hello belong to the session; feed them as a caller would.
                let mut received = Vec::new();
                if let Err(e) = feed_all(&mut session, &bytes[window[1]..], now, &mut received) {
                    return Outcome::SessionFailed(e);
                }
                let hello = accept.client_hello().expect("hello read");
                return Outcome::Tls {
                    sni: hello.server_name.clone(),
                    alpn: hello.alpn.clone(),
                };
            }
            Err(rejection) => {
                return match rejection.reason {
                    RejectReason::Handshake(e) => Outcome::SessionFailed(e),
                    _ => Outcome::Rejected(rejection),
                }
            }
        }
    }
    Outcome::Undecided
}

fn client_hello(server_name: &str, tls12: bool) -> Vec<u8> {
    let config = fixture().clients[usize::from(tls12)].clone();
    let mut client = Session::client(config, server_name).unwrap();
    let mut hello = Vec::new();
    let _ = client.poll_transmit(&mut hello);
    hello
}

proptest! {
    // 64 cases keep the suite at a few seconds in debug; PROPTEST_CASES=5000 digs deeper.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_chunking_and_interleaving_delivers_exact_bytes(
        tls12 in any::<bool>(),
        seed in any::<u64>(),
        c2s_len in 0usize..150_000,
        s2c_len in 0usize..150_000,
    ) {
        let (c2s, s2c) = run_schedule(tls12, seed, c2s_len, s2c_len)?;
        prop_assert!(c2s.received == c2s.to_send, "client to server bytes differ");
        prop_assert!(s2c.received == s2c.to_send, "server to client bytes differ");
    }

    #[test]
    fn a_flipped_byte_is_an_error_never_wrong_plaintext(
        tls12 in any::<bool>(),
        len in 1usize..40_000,
        position in any::<usize>(),
        mask in 1u8..=255,
    ) {
        let (mut client, mut server, now) = established(tls12);
        let message = data(len, 3);
        prop_assert_eq!(client.write(&message).unwrap(), len);
        let mut wire = Vec::new();
        let _ = client.poll_transmit(&mut wire);
        let at = position % wire.len();
        wire[at] ^= mask;
        // A longer length field waits for more bytes: whatever comes next completes the
        // damaged record, which must then fail to authenticate.
        wire.extend_from_slice(&[0u8; 20 * 1024]);
        let mut received = Vec::new();
        let result = feed_all(&mut server, &wire, now, &mut received);
        prop_assert!(result.is_err(), "flip at {at} of {} went unnoticed", wire.len());
        prop_assert!(message.starts_with(&received), "wrong plaintext delivered");
        prop_assert!(received.len() < len);
        // A failed session keeps returning the same error.
        prop_assert_eq!(server.handle_input(b"more", now).err(), result.err());
    }

    #[test]
    fn a_flipped_handshake_byte_never_yields_wrong_plaintext(
        tls12 in any::<bool>(),
        from_server in any::<bool>(),
        position in any::<usize>(),
        mask in 1u8..=255,
    ) {
        let (mut client, mut server) = sessions(tls12);
        let now = Instant::now();
        let mut client_received = Vec::new();
        let mut server_received = Vec::new();
        client.write(b"client data").unwrap();
        server.write(b"server data").unwrap();
        let mut corrupted = false;
        let mut wire = Vec::new();
        for _ in 0..10 {
            wire.clear();
            let _ = client.poll_transmit(&mut wire);
            if !from_server && !corrupted && !wire.is_empty() {
                let at = position % wire.len();
                wire[at] ^= mask;
                corrupted = true;
            }
            let to_server = feed_all(&mut server, &wire, now, &mut server_received);
            let sent = !wire.is_empty();
            wire.clear();
            let _ = server.poll_transmit(&mut wire);
            if from_server && !corrupted && !wire.is_empty() {
                let at = position % wire.len();
                wire[at] ^= mask;
                corrupted = true;
            }
            let to_client = feed_all(&mut client, &wire, now, &mut client_received);
            if to_server.is_err() || to_client.is_err() || (!sent && wire.is_empty()) {
                break;
            }
        }
        prop_assert!(b"client data".starts_with(&server_received));
        prop_assert!(b"server data".starts_with(&client_received));
    }

    #[test]
    fn truncation_is_unexpected_eof_and_close_notify_is_peer_closed(
        tls12 in any::<bool>(),
        len in 0usize..40_000,
        close in any::<bool>(),
        cut in any::<usize>(),
        truncate in any::<bool>(),
    ) {
        let (mut client, mut server, now) = established(tls12);
        let message = data(len, 4);
        prop_assert_eq!(client.write(&message).unwrap(), len);
        if close {
            client.close(now);
        }
        let mut wire = Vec::new();
        let _ = client.poll_transmit(&mut wire);
        let delivered = if truncate && !wire.is_empty() { cut % wire.len() } else { wire.len() };
        let mut received = Vec::new();
        feed_all(&mut server, &wire[..delivered], now, &mut received).unwrap();
        server.handle_eof(now);
        let events = drain(&mut server, &mut received);
        let complete = delivered == wire.len();
        if close && complete {
            prop_assert_eq!(events, vec![Event::PeerClosed]);
            prop_assert!(received == message);
        } else {
            prop_assert_eq!(events, vec![Event::UnexpectedEof]);
            prop_assert!(message.starts_with(&received));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_become_plaintext(
        established_first in any::<bool>(),
        to_client in any::<bool>(),
        tls12 in any::<bool>(),
        prefix_tls in any::<bool>(),
        noise in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let (mut client, mut server, now) = if established_first {
            established(tls12)
        } else {
            let (client, server) = sessions(tls12);
            (client, server, Instant::now())
        };
        let target = if to_client { &mut client } else { &mut server };
        // Half the inputs start like a TLS record, to get past the first checks.
        let bytes = if prefix_tls {
            [&[0x17, 0x03, 0x03][..], &noise].concat()
        } else {
            noise
        };
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.extend([0, bytes.len()]);
        points.sort_unstable();
        let mut received = Vec::new();
        for window in points.windows(2) {
            if feed_all(target, &bytes[window[0]..window[1]], now, &mut received).is_err() {
                break;
            }
        }
        target.handle_eof(now);
        let _ = drain(target, &mut received);
        let mut out = Vec::new();
        let _ = target.poll_transmit(&mut out);
        prop_assert!(received.is_empty(), "noise decrypted to {} bytes", received.len());
    }

    #[test]
    fn the_accept_decision_does_not_depend_on_the_split(
        kind in 0u8..5,
        name in prop::sample::select(vec!["localhost", "a.example.test", "unknown.test", "127.0.0.1"]),
        tls12 in any::<bool>(),
        garbage in prop::collection::vec(any::<u8>(), 1..600),
        flip in any::<(usize, u8)>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes = match kind {
            0 => client_hello(name, tls12),
            1 => {
                let mut hello = client_hello(name, tls12);
                let at = flip.0 % hello.len();
                hello[at] ^= flip.1.max(1);
                hello
            }
            2 => b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
            3 => [&[0x16, 0x03][..], &garbage].concat(),
            _ => garbage,
        };
        let whole = accept_in_chunks(&bytes, &[]);
        let split = accept_in_chunks(&bytes, &cuts);
        prop_assert_eq!(&whole, &split);
        if kind == 0 {
            let sni = (name != "127.0.0.1").then(|| name.to_owned());
            let expected = match name {
                "unknown.test" => Outcome::Rejected(split_rejection(&bytes)),
                "127.0.0.1" => Outcome::Rejected(split_rejection(&bytes)),
                _ => Outcome::Tls {
                    sni,
                    alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                },
            };
            prop_assert_eq!(whole, expected);
        }
    }
}

/// The rejection an unknown or missing SNI gets (the policy has no default).
fn split_rejection(bytes: &[u8]) -> tlswire_core::Rejection {
    match accept_in_chunks(bytes, &[]) {
        Outcome::Rejected(r) => {
            assert!(matches!(r.reason, RejectReason::UnknownServerName(_)));
            assert_eq!(r.alert, [0x15, 3, 3, 0, 2, 2, 112]);
            r
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}
