//! The engine under pressure and hostile input: back-pressure, floods of key updates and empty
//! records, idle timeout, key-update misuse and 0-RTT on the server side.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::io::{IoSlice, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConnection;
use tlswire_core::{ClientAuth, Error, Event, Limits, Session, SiteOptions, TlsVersions};
use tlswire_testkit::{Pair, Side, TestPki};

fn pair(pki: &TestPki) -> Pair {
    Pair::from_configs(pki.client_config(), pki.server_config(), "localhost")
}

#[test]
fn a_full_read_buffer_pushes_back_and_read_chunk_resumes() {
    let pki = TestPki::new();
    let limits = Limits::default().with_buffer_limits(64 * 1024, 16 * 1024);
    let server = Session::server(pki.server_config())
        .unwrap()
        .with_limits(limits);
    let client = Session::client(pki.client_config(), "localhost").unwrap();
    let mut pair = Pair::new(client, server);
    pair.handshake().unwrap();

    // 1 MiB of ciphertext offered to a server whose reader does not read.
    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7) as u8).collect();
    let mut wire = Vec::new();
    let mut written = 0;
    while written < data.len() {
        written += pair.client.session.write(&data[written..]).unwrap();
        let _ = pair.client.session.poll_transmit(&mut wire);
    }
    let server = &mut pair.server.session;
    let now = pair.now;
    let mut offered = &wire[..];
    let mut short_takes = 0;
    let mut received = Vec::new();
    for _ in 0..100_000 {
        if offered.is_empty() && server.read_chunk().is_none() {
            break;
        }
        let taken = server.handle_input(offered, now).unwrap();
        if taken < offered.len() {
            short_takes += 1;
            // Bounded: at most a read buffer of plaintext plus the ciphertext backlog.
            assert!(
                server.buffered_bytes() <= 512 * 1024,
                "{}",
                server.buffered_bytes()
            );
            assert!(!server.wants_input() || taken > 0);
        }
        offered = &offered[taken..];
        // Read a little at a time; each read_chunk decrypts more when the buffer ran dry.
        if let Some(chunk) = server.read_chunk() {
            let n = chunk.len().min(5000);
            received.extend_from_slice(&chunk[..n]);
            server.consume(n);
        }
    }
    assert!(short_takes > 0, "the server never pushed back");
    assert!(received == data, "bytes arrive intact after back-pressure");
    assert_eq!(
        server.buffered_bytes(),
        0,
        "an idle session holds no buffers"
    );
}

#[test]
fn endless_key_updates_end_in_an_error_not_a_loop() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    let now = pair.now;
    let mut wire = Vec::new();
    let mut server_out = Vec::new();
    let mut result = Ok(0);
    for _ in 0..1000 {
        pair.client.session.refresh_traffic_keys().unwrap();
        wire.clear();
        let _ = pair.client.session.poll_transmit(&mut wire);
        result = pair.server.session.handle_input(&wire, now);
        server_out.clear();
        let _ = pair.server.session.poll_transmit(&mut server_out);
        // Each request is answered by at most one key update of our own.
        assert!(server_out.len() < 100, "{}", server_out.len());
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(Error::Tls(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::TooManyKeyUpdateRequests
        )))
    );
}

#[test]
fn key_updates_interleaved_with_data_keep_working() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    for i in 0..50u8 {
        pair.client.session.refresh_traffic_keys().unwrap();
        pair.server.session.refresh_traffic_keys().unwrap();
        pair.send(Side::Client, &[i; 100]);
        pair.send(Side::Server, &[i; 10]);
    }
    assert_eq!(pair.server.received.len(), 5000);
    assert_eq!(pair.client.received.len(), 500);
    assert!(pair.server.error.is_none() && pair.client.error.is_none());
}

#[test]
fn key_update_needs_an_established_tls13_session() {
    let pki = TestPki::new();
    let mut early = Session::client(pki.client_config(), "localhost").unwrap();
    assert_eq!(
        early.refresh_traffic_keys(),
        Err(Error::KeyUpdateUnavailable)
    );
    let config = tlswire_core::ClientOptions::new(tlswire_core::ServerTrust::Roots(pki.roots()))
        .with_versions(TlsVersions::Tls12Only)
        .build()
        .unwrap();
    let mut tls12 = Pair::from_configs(config, pki.server_config(), "localhost");
    tls12.handshake().unwrap();
    assert_eq!(
        tls12.client.session.refresh_traffic_keys(),
        Err(Error::KeyUpdateUnavailable)
    );
}

#[test]
fn floods_of_empty_or_stray_records_fail_fast() {
    let pki = TestPki::new();
    let now = Instant::now();
    for (what, record) in [
        ("empty handshake", &[0x16, 0x03, 0x01, 0x00, 0x00][..]),
        (
            "empty application data",
            &[0x17, 0x03, 0x03, 0x00, 0x00][..],
        ),
        (
            "change cipher spec",
            &[0x14, 0x03, 0x03, 0x00, 0x01, 0x01][..],
        ),
        (
            "warning alert",
            &[0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 90][..],
        ),
    ] {
        let mut server = Session::server(pki.server_config()).unwrap();
        let flood = record.repeat(10_000);
        let mut fed = 0;
        let error = loop {
            match server.handle_input(&flood[fed..], now) {
                Ok(n) if n > 0 && fed + n < flood.len() => fed += n,
                Ok(n) => panic!("{what}: flood accepted ({} of {})", fed + n, flood.len()),
                Err(e) => break e,
            }
        };
        assert!(matches!(error, Error::Tls(_)), "{what}: {error:?}");
        let mut alert = Vec::new();
        let _ = server.poll_transmit(&mut alert);
        assert!(alert.len() < 64, "{what}: {} bytes of alert", alert.len());
        // The same error, every time after.
        assert_eq!(server.handle_input(b"x", now), Err(error));
    }
}

#[test]
fn idle_timeout_fails_a_quiet_session_and_input_postpones_it() {
    let pki = TestPki::new();
    let limits = Limits::default().with_idle_timeout(Some(Duration::from_secs(30)));
    let server = Session::server(pki.server_config())
        .unwrap()
        .with_limits(limits);
    let client = Session::client(pki.client_config(), "localhost").unwrap();
    let mut pair = Pair::new(client, server);
    pair.handshake().unwrap();
    let start = pair.now;
    assert_eq!(
        pair.server.session.poll_timeout(),
        Some(start + Duration::from_secs(30))
    );
    pair.advance(Duration::from_secs(29));
    assert!(pair.server.error.is_none());
    pair.send(Side::Client, b"still alive");
    pair.advance(Duration::from_secs(29));
    assert!(pair.server.error.is_none(), "input postponed the deadline");
    pair.advance(Duration::from_secs(2));
    assert_eq!(pair.server.error, Some(Error::IdleTimeout));
    assert!(pair.server.saw(|e| *e == Event::Failed(Error::IdleTimeout)));
    assert_eq!(pair.server.session.poll_timeout(), None);
    assert_eq!(pair.server.session.write(b"x"), Err(Error::IdleTimeout));
}

/// Moves bytes between a bare rustls client and a core server until neither sends.
fn pump(client: &mut ClientConnection, server: &mut Session, received: &mut Vec<u8>) {
    let now = Instant::now();
    for _ in 0..20 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        let mut fed = 0;
        while fed < wire.len() {
            fed += server.handle_input(&wire[fed..], now).unwrap();
            while let Some(chunk) = server.read_chunk() {
                received.extend_from_slice(chunk);
                let n = chunk.len();
                server.consume(n);
            }
        }
        let mut back = Vec::new();
        let _ = server.poll_transmit(&mut back);
        let mut rest = &back[..];
        while !rest.is_empty() {
            client.read_tls(&mut rest).unwrap();
            client.process_new_packets().unwrap();
        }
        if wire.is_empty() && back.is_empty() {
            return;
        }
    }
    panic!("did not settle");
}

#[test]
fn zero_rtt_data_reaches_the_server() {
    let pki = TestPki::new();
    let mut options = SiteOptions::default();
    options.max_early_data_size = 16 * 1024;
    let site = tlswire_core::Site::new(
        tlswire_core::ReloadableIdentity::new(pki.server.certified_key()),
        options.with_client_auth(ClientAuth::None),
    )
    .unwrap();
    let mut client_config = (*pki.client_config()).clone();
    client_config.enable_early_data = true;
    let client_config = Arc::new(client_config);

    // The first connection leaves a ticket that allows early data.
    let mut first =
        ClientConnection::new(client_config.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut server = Session::server(site.server_config()).unwrap();
    let mut received = Vec::new();
    pump(&mut first, &mut server, &mut received);
    assert!(!first.is_handshaking());

    let mut second = ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
    second
        .early_data()
        .expect("the ticket allows early data")
        .write_all(b"early ")
        .unwrap();
    let mut server = Session::server(site.server_config()).unwrap();
    let mut received = Vec::new();
    pump(&mut second, &mut server, &mut received);
    assert!(second.is_early_data_accepted());
    second.writer().write_all(b"and late").unwrap();
    pump(&mut second, &mut server, &mut received);
    assert!(server.received_early_data());
    assert_eq!(received, b"early and late");
    assert_eq!(
        server.peer().handshake_kind,
        Some(rustls::HandshakeKind::Resumed)
    );
}

#[test]
fn an_endless_partial_record_fills_the_backlog_and_fails() {
    let pki = TestPki::new();
    let mut limits = Limits::default();
    limits.max_record_backlog = 4096;
    let mut server = Session::server(pki.server_config())
        .unwrap()
        .with_limits(limits);
    // A handshake record that announces 16,000 bytes and never completes.
    let mut bytes = vec![0x16, 0x03, 0x01, 0x3e, 0x80];
    bytes.resize(10_000, 0x01);
    let now = Instant::now();
    let mut fed = 0;
    let error = loop {
        match server.handle_input(&bytes[fed..], now) {
            Ok(n) => {
                assert!(n > 0, "no progress and no error");
                fed += n;
                assert!(fed < bytes.len(), "backlog limit ignored");
            }
            Err(e) => break e,
        }
    };
    assert_eq!(error, Error::RecordBacklogFull);
    assert!(server.buffered_bytes() <= 2 * 4096);
}

#[test]
fn small_writes_share_records_and_large_ones_fill_them() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    let client = &mut pair.client.session;
    for _ in 0..100 {
        assert_eq!(client.write(&[b'x'; 10]).unwrap(), 10);
    }
    let mut wire = Vec::new();
    let _ = client.poll_transmit(&mut wire);
    // TLS 1.3: one record of 5 header bytes, 1,000 bytes, 1 content type and a 16-byte tag.
    assert_eq!(wire.len(), 5 + 1000 + 1 + 16);

    let parts = [IoSlice::new(&[1; 10_000]), IoSlice::new(&[2; 10_000])];
    assert_eq!(client.write_vectored(&parts).unwrap(), 20_000);
    wire.clear();
    let _ = client.poll_transmit(&mut wire);
    // One full 16 KiB record spanning both slices, and one for the remaining 3,616 bytes.
    assert_eq!(wire.len(), 2 * (5 + 1 + 16) + 20_000);
    assert_eq!(&wire[3..5], &((16_384 + 17) as u16).to_be_bytes());
}

#[test]
fn zero_rtt_data_arriving_with_the_hello_passes_through_accept() {
    let pki = TestPki::new();
    let mut options = SiteOptions::default();
    options.max_early_data_size = 16 * 1024;
    let site = tlswire_core::Site::new(
        tlswire_core::ReloadableIdentity::new(pki.server.certified_key()),
        options,
    )
    .unwrap();
    let policy = Arc::new(tlswire_core::AcceptPolicy::new(
        tlswire_core::SniPolicy::single(site),
    ));
    let mut client_config = (*pki.client_config()).clone();
    client_config.enable_early_data = true;
    let client_config = Arc::new(client_config);
    let accept_all = |bytes: &[u8]| match tlswire_core::Accept::new(policy.clone())
        .handle_input(bytes, Instant::now())
    {
        Ok(Some(tlswire_core::Decision::Tls(session))) => *session,
        other => panic!("expected TLS, got {other:?}"),
    };

    let mut first =
        ClientConnection::new(client_config.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    first.write_tls(&mut hello).unwrap();
    let mut server = accept_all(&hello);
    pump(&mut first, &mut server, &mut Vec::new());
    assert!(!first.is_handshaking());

    // The second client's first flight: ClientHello and an early-data record, read together.
    let mut second = ClientConnection::new(client_config, "localhost".try_into().unwrap()).unwrap();
    second
        .early_data()
        .expect("the ticket allows early data")
        .write_all(b"GET /early")
        .unwrap();
    let mut flight = Vec::new();
    while second.wants_write() {
        second.write_tls(&mut flight).unwrap();
    }
    let mut server = accept_all(&flight);
    let mut received = Vec::new();
    while let Some(chunk) = server.read_chunk() {
        received.extend_from_slice(chunk);
        let n = chunk.len();
        server.consume(n);
    }
    pump(&mut second, &mut server, &mut received);
    assert!(second.is_early_data_accepted());
    assert!(server.received_early_data());
    assert_eq!(received, b"GET /early");
}

#[test]
fn endless_durations_mean_no_deadline_not_a_panic() {
    let pki = TestPki::new();
    let limits = Limits::default()
        .with_handshake_timeout(Duration::MAX)
        .with_idle_timeout(Some(Duration::MAX))
        .with_close_linger(Duration::MAX);
    let client = Session::client(pki.client_config(), "localhost")
        .unwrap()
        .with_limits(limits);
    let server = Session::server(pki.server_config())
        .unwrap()
        .with_limits(limits);
    let mut pair = Pair::new(client, server);
    assert_eq!(pair.client.session.poll_timeout(), None);
    pair.handshake().unwrap();
    pair.send(Side::Client, b"data");
    let now = pair.now;
    pair.client.session.close(now);
    pair.advance(Duration::from_secs(3600 * 24 * 365));
    assert_eq!(pair.client.session.poll_timeout(), None);
    assert!(pair.client.error.is_none() && pair.server.error.is_none());
}

#[test]
fn a_flood_of_empty_encrypted_records_fails() {
    use rustls::crypto::cipher::{OutboundChunks, OutboundPlainMessage};
    use rustls::{ConnectionTrafficSecrets, ContentType, ProtocolVersion, SupportedCipherSuite};

    let pki = TestPki::new();
    let mut config = (*pki.client_config()).clone();
    config.enable_secret_extraction = true;
    let mut client =
        ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut server = Session::server(pki.server_config()).unwrap();
    pump(&mut client, &mut server, &mut Vec::new());

    // rustls never sends empty records, so make them with the client's own traffic keys.
    let Some(SupportedCipherSuite::Tls13(suite)) = client.negotiated_cipher_suite() else {
        panic!("expected TLS 1.3");
    };
    let (mut seq, secrets) = client.dangerous_extract_secrets().unwrap().tx;
    let (key, iv) = match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        | ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        | ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (key, iv),
        _ => panic!("unexpected traffic secrets"),
    };
    let mut encrypter = suite.aead_alg.encrypter(key, iv);
    let mut record = |payload: &[u8]| {
        let message = OutboundPlainMessage {
            typ: ContentType::ApplicationData,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(payload),
        };
        let bytes = encrypter.encrypt(message, seq).unwrap().encode();
        seq += 1;
        bytes
    };

    // The hand-made records are genuine: a non-empty one arrives.
    let now = Instant::now();
    let hello = record(b"hi");
    assert_eq!(server.handle_input(&hello, now).unwrap(), hello.len());
    assert_eq!(server.read_chunk(), Some(&b"hi"[..]));
    server.consume(2);

    let flood: Vec<u8> = (0..1000).flat_map(|_| record(b"")).collect();
    let mut fed = 0;
    let error = loop {
        match server.handle_input(&flood[fed..], now) {
            Ok(n) if n > 0 && fed + n < flood.len() => fed += n,
            Ok(_) => panic!("a flood of empty records was accepted"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        error,
        Error::Tls(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::TooManyEmptyFragments
        ))
    );
}

#[test]
fn a_failed_session_sends_nothing_more_and_repeats_its_error() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    let now = pair.now;
    let server = &mut pair.server.session;
    let error = server
        .handle_input(&[0x17, 0x03, 0x03, 0x00, 0x20], now)
        .and_then(|_| server.handle_input(&[0xaa; 0x20], now))
        .unwrap_err();
    let mut alert = Vec::new();
    let _ = server.poll_transmit(&mut alert);
    assert!(!alert.is_empty(), "the alert goes out once");
    assert_eq!(server.refresh_traffic_keys(), Err(error.clone()));
    assert_eq!(server.write(b"more"), Err(error.clone()));
    assert_eq!(server.handle_input(b"more", now), Err(error.clone()));
    server.close(now);
    server.handle_timeout(now + Duration::from_secs(60));
    let mut after = Vec::new();
    assert_eq!(
        server.poll_transmit(&mut after),
        0,
        "nothing after the alert"
    );
    assert_eq!(server.error(), Some(&error));
    assert!(!server.is_handshaking() && !server.wants_input());
}

#[test]
fn a_reader_that_keeps_a_tail_still_gets_the_rest_without_new_input() {
    let pki = TestPki::new();
    let limits = Limits::default().with_buffer_limits(64 * 1024, 16 * 1024);
    let server = Session::server(pki.server_config())
        .unwrap()
        .with_limits(limits);
    let client = Session::client(pki.client_config(), "localhost").unwrap();
    let mut pair = Pair::new(client, server);
    pair.handshake().unwrap();
    let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(pair.client.session.write(&data).unwrap(), data.len());
    let mut wire = Vec::new();
    let _ = pair.client.session.poll_transmit(&mut wire);
    let server = &mut pair.server.session;
    assert_eq!(server.handle_input(&wire, pair.now).unwrap(), wire.len());

    // Like a parser waiting for the end of a line: always keep the last 100 bytes unread.
    let mut received = Vec::new();
    for _ in 0..1000 {
        let Some(chunk) = server.read_chunk() else {
            break;
        };
        if chunk.len() <= 100 {
            break;
        }
        let n = chunk.len() - 100;
        received.extend_from_slice(&chunk[..n]);
        server.consume(n);
    }
    assert_eq!(
        received.len(),
        data.len() - 100,
        "decryption resumed for a partial reader"
    );
    assert_eq!(received, data[..data.len() - 100]);
}
