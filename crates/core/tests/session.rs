//! API-level tests of `Session` driven in memory.

use std::time::Duration;

use tlswire_core::{
    ClientAuth, ClientOptions, Error, Event, Limits, ServerTrust, Session, TlsVersions,
};
use tlswire_testkit::{Pair, Side, TestPki};

fn pair(pki: &TestPki) -> Pair {
    Pair::from_configs(pki.client_config(), pki.server_config(), "localhost")
}

#[test]
fn handshake_and_data_both_ways() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    pair.send(Side::Client, b"hello server");
    pair.send(Side::Server, b"hello client");
    assert_eq!(pair.server.received, b"hello server");
    assert_eq!(pair.client.received, b"hello client");
    let peer = pair.server.session.peer();
    assert_eq!(peer.sni.as_deref(), Some("localhost"));
    assert_eq!(peer.version, Some(rustls::ProtocolVersion::TLSv1_3));
}

#[test]
fn writes_before_handshake_are_sent_after_it() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.client.session.write(b"early bird").unwrap();
    pair.run();
    assert_eq!(pair.server.received, b"early bird");
}

#[test]
fn tls12_works() {
    let pki = TestPki::new();
    let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_versions(TlsVersions::Tls12Only)
        .build()
        .unwrap();
    let mut pair = Pair::from_configs(config, pki.server_config(), "localhost");
    pair.handshake().unwrap();
    pair.send(Side::Server, &vec![7u8; 100_000]);
    assert_eq!(pair.client.received.len(), 100_000);
    assert_eq!(
        pair.client.session.peer().version,
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn close_notify_is_peer_closed_and_then_closed() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    pair.client.session.write(b"last words").unwrap();
    let now = pair.now;
    pair.client.session.close(now);
    pair.run();
    assert_eq!(pair.server.received, b"last words");
    assert!(pair.server.saw(|e| *e == Event::PeerClosed));
    pair.server.session.close(now);
    pair.run();
    assert!(pair.client.saw(|e| *e == Event::PeerClosed));
    assert!(pair.client.saw(|e| *e
        == Event::Closed {
            peer_confirmed: true
        }));
    assert!(pair.server.saw(|e| *e
        == Event::Closed {
            peer_confirmed: true
        }));
    assert_eq!(pair.client.session.write(b"x"), Err(Error::Closed));
}

#[test]
fn eof_without_close_notify_is_unexpected_eof() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    let now = pair.now;
    pair.server.session.handle_eof(now);
    assert_eq!(pair.server.session.poll_event(), Some(Event::UnexpectedEof));
}

#[test]
fn eof_during_handshake_fails() {
    let pki = TestPki::new();
    let mut client = Session::client(pki.client_config(), "localhost").unwrap();
    let mut out = Vec::new();
    assert!(client.poll_transmit(&mut out) > 0);
    client.handle_eof(std::time::Instant::now());
    assert_eq!(
        client.poll_event(),
        Some(Event::Failed(Error::EofDuringHandshake))
    );
}

#[test]
fn handshake_timeout_fires() {
    let pki = TestPki::new();
    let client = Session::client(pki.client_config(), "localhost")
        .unwrap()
        .with_limits(Limits::default().with_handshake_timeout(Duration::from_secs(3)));
    let server = Session::server(pki.server_config()).unwrap();
    let mut pair = Pair::new(client, server);
    // Nothing is delivered: the server never answers.
    let deadline = pair.client.session.poll_timeout().unwrap();
    assert_eq!(deadline, pair.now + Duration::from_secs(3));
    pair.advance(Duration::from_secs(2));
    assert!(pair.client.error.is_none());
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.client.error, Some(Error::HandshakeTimeout));
}

#[test]
fn close_linger_expires() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    let now = pair.now;
    pair.client.session.close(now);
    let mut out = Vec::new();
    assert!(
        pair.client.session.poll_transmit(&mut out) > 0,
        "close_notify queued"
    );
    pair.advance(Limits::default().close_linger);
    assert!(pair.client.saw(|e| *e
        == Event::Closed {
            peer_confirmed: false
        }));
}

#[test]
fn key_update_keeps_data_flowing() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    pair.client.session.refresh_traffic_keys().unwrap();
    pair.send(Side::Client, b"after update");
    pair.send(Side::Server, b"reply");
    assert_eq!(pair.server.received, b"after update");
    assert_eq!(pair.client.received, b"reply");
}

#[test]
fn mutual_tls_required() {
    let pki = TestPki::new();
    let ok = Pair::from_configs(
        pki.client_config_with(&pki.client),
        pki.mtls_server_config(),
        "localhost",
    )
    .handshake();
    assert!(ok.is_ok());
    let peer_certs = {
        let mut p = Pair::from_configs(
            pki.client_config_with(&pki.client),
            pki.mtls_server_config(),
            "localhost",
        );
        p.handshake().unwrap();
        p.server.session.peer().certificates
    };
    assert_eq!(peer_certs[0], pki.client.cert());
    let mut stranger = Pair::from_configs(
        pki.client_config_with(&pki.stranger_client),
        pki.mtls_server_config(),
        "localhost",
    );
    assert!(stranger.handshake().is_err());
    assert!(matches!(
        stranger.server.error,
        Some(Error::Tls(rustls::Error::InvalidCertificate(_)))
    ));
    let mut anonymous =
        Pair::from_configs(pki.client_config(), pki.mtls_server_config(), "localhost");
    assert!(anonymous.handshake().is_err());
}

#[test]
fn pinned_self_signed_client() {
    let pki = TestPki::new();
    let site = pki.site(
        &pki.server,
        ClientAuth::Pinned(pki.pinned(&[&pki.self_signed_client])),
        &[],
    );
    let mut pinned = Pair::from_configs(
        pki.client_config_with(&pki.self_signed_client),
        site.server_config(),
        "localhost",
    );
    pinned.handshake().unwrap();
    let mut other = Pair::from_configs(
        pki.client_config_with(&pki.client),
        site.server_config(),
        "localhost",
    );
    assert!(other.handshake().is_err());
    let msg = other.server.error.unwrap().to_string();
    assert!(msg.contains("not in the pinned set"), "{msg}");
}

#[test]
fn server_trusted_by_pin_or_by_chain() {
    let pki = TestPki::new();
    let trust = ServerTrust::PinnedOrRoots(pki.pinned(&[&pki.self_signed_client]), pki.roots());
    let client = ClientOptions::new(trust).build().unwrap();
    let serving = |identity| pki.site(identity, ClientAuth::None, &[]).server_config();

    let mut pinned = Pair::from_configs(
        client.clone(),
        serving(&pki.self_signed_client),
        "localhost",
    );
    pinned
        .handshake()
        .expect("a pinned self-signed server is trusted");
    let mut chained = Pair::from_configs(client.clone(), serving(&pki.server), "localhost");
    chained
        .handshake()
        .expect("a server chaining to the roots is trusted");
    let mut expired = Pair::from_configs(client, serving(&pki.expired_server), "localhost");
    assert!(
        expired.handshake().is_err(),
        "neither pinned nor valid under the roots"
    );
    let msg = expired.client.error.unwrap().to_string();
    assert!(msg.to_ascii_lowercase().contains("expired"), "{msg}");
}

#[test]
fn big_transfers_respect_buffer_limits() {
    let pki = TestPki::new();
    let mut pair = pair(&pki);
    pair.handshake().unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
    let n = pair.client.session.write(&data).unwrap();
    assert_eq!(n, Limits::default().max_write_buffer);
    pair.send(Side::Client, &data[n..]);
    assert!(pair.server.received == data, "all bytes arrive in order");
    assert!(
        pair.server.session.buffered_bytes() == 0,
        "idle session released its buffers"
    );
}
