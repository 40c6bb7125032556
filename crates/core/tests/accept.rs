//! Every way `Accept` refuses a connection, with its reason and its alert; and the SNI policy's
//! exact, wildcard and default choices.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::sync::Arc;
use std::time::Instant;

use tlswire_core::{
    Accept, AcceptPolicy, ClientAuth, ClientOptions, Decision, Error, HelloError, RejectReason,
    Rejection, ServerTrust, Session, SniPolicy, TlsVersions,
};
use tlswire_testkit::{Pair, TestPki};

const UNEXPECTED_MESSAGE: u8 = 10;
const HANDSHAKE_FAILURE: u8 = 40;
const DECODE_ERROR: u8 = 50;
const PROTOCOL_VERSION: u8 = 70;
const UNRECOGNIZED_NAME: u8 = 112;
const NO_APPLICATION_PROTOCOL: u8 = 120;

fn alert(description: u8) -> Vec<u8> {
    vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]
}

/// The ClientHello a client session sends first.
fn client_hello(config: Arc<rustls::ClientConfig>, server_name: &str) -> (Session, Vec<u8>) {
    let mut client = Session::client(config, server_name).unwrap();
    let mut hello = Vec::new();
    assert!(client.poll_transmit(&mut hello) > 0);
    (client, hello)
}

fn accept(policy: AcceptPolicy, bytes: &[u8]) -> Result<Option<Decision>, Rejection> {
    Accept::new(Arc::new(policy)).handle_input(bytes, Instant::now())
}

fn rejection(policy: AcceptPolicy, bytes: &[u8]) -> Rejection {
    match accept(policy, bytes) {
        Err(rejection) => rejection,
        Ok(Some(Decision::Tls(_))) => panic!("accepted as TLS"),
        Ok(Some(Decision::Plaintext { .. })) => panic!("accepted as plaintext"),
        Ok(None) => panic!("undecided"),
    }
}

fn session(decision: Result<Option<Decision>, Rejection>) -> Session {
    match decision {
        Ok(Some(Decision::Tls(session))) => *session,
        other => panic!("expected a TLS session, got {other:?}"),
    }
}

/// A policy serving the test server certificate for `localhost` only, TLS only.
fn localhost_policy(pki: &TestPki, alpn: &[&str]) -> AcceptPolicy {
    let mut sni = SniPolicy::new();
    sni.insert("localhost", pki.site(&pki.server, ClientAuth::None, alpn))
        .unwrap();
    AcceptPolicy::new(sni)
}

/// A hand-made ClientHello record around `body` (the handshake body after its header).
fn hello_record(handshake_type: u8, body: &[u8]) -> Vec<u8> {
    let mut message = vec![handshake_type, 0];
    message.extend_from_slice(&(body.len() as u16).to_be_bytes());
    message.extend_from_slice(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(message.len() as u16).to_be_bytes());
    record.extend_from_slice(&message);
    record
}

/// A ClientHello body with the given extensions block.
fn hello_body(extensions: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[9; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(extensions);
    body
}

#[test]
fn unknown_server_name_is_refused_with_unrecognized_name() {
    let pki = TestPki::new();
    let (_, hello) = client_hello(pki.client_config(), "other.example.test");
    let r = rejection(localhost_policy(&pki, &[]), &hello);
    assert_eq!(
        r.reason,
        RejectReason::UnknownServerName(Some("other.example.test".into()))
    );
    assert_eq!(r.alert, alert(UNRECOGNIZED_NAME));
    assert_eq!(r.server_name.as_deref(), Some("other.example.test"));
    assert!(r.to_string().contains("other.example.test"), "{r}");
}

#[test]
fn no_server_name_without_default_is_refused() {
    let pki = TestPki::new();
    // An IP address is never sent as SNI.
    let (_, hello) = client_hello(pki.client_config(), "127.0.0.1");
    let r = rejection(localhost_policy(&pki, &[]), &hello);
    assert_eq!(r.reason, RejectReason::UnknownServerName(None));
    assert_eq!(r.alert, alert(UNRECOGNIZED_NAME));
    assert_eq!(r.server_name, None);
}

#[test]
fn plaintext_is_refused_unless_allowed() {
    let pki = TestPki::new();
    let request = b"GET / HTTP/1.1\r\n";
    let r = rejection(localhost_policy(&pki, &[]), request);
    assert_eq!(r.reason, RejectReason::PlaintextNotAllowed);
    assert_eq!(r.alert, alert(UNEXPECTED_MESSAGE));

    match accept(localhost_policy(&pki, &[]).allow_plaintext(true), request) {
        Ok(Some(Decision::Plaintext { buffered })) => assert_eq!(buffered, request),
        other => panic!("expected plaintext, got {other:?}"),
    }
    // 0x16 followed by a byte that is not a TLS major version is not TLS either.
    let r = rejection(localhost_policy(&pki, &[]), &[0x16, 0x47]);
    assert_eq!(r.reason, RejectReason::PlaintextNotAllowed);
}

#[test]
fn no_common_alpn_is_refused_with_no_application_protocol() {
    let pki = TestPki::new();
    let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_alpn(["http/1.1"])
        .build()
        .unwrap();
    let (_, hello) = client_hello(config, "localhost");
    let r = rejection(localhost_policy(&pki, &["h2"]), &hello);
    assert_eq!(
        r.reason,
        RejectReason::NoCommonAlpn {
            offered: vec![b"http/1.1".to_vec()]
        }
    );
    assert_eq!(r.alert, alert(NO_APPLICATION_PROTOCOL));

    // A client that offers no ALPN at all is served.
    let (client, hello) = client_hello(pki.client_config(), "localhost");
    let server = session(accept(localhost_policy(&pki, &["h2"]), &hello));
    Pair::new(client, server).handshake().unwrap();
}

#[test]
fn malformed_hellos_are_refused_with_decode_or_unexpected_message() {
    let pki = TestPki::new();
    let policy = || localhost_policy(&pki, &[]);
    let cases: Vec<(&str, Vec<u8>, HelloError, u8)> = vec![
        (
            "zero-length record",
            vec![0x16, 0x03, 0x01, 0x00, 0x00],
            HelloError::BadRecordLength,
            DECODE_ERROR,
        ),
        (
            "record longer than 2^14",
            vec![0x16, 0x03, 0x01, 0x40, 0x01],
            HelloError::BadRecordLength,
            DECODE_ERROR,
        ),
        (
            "a ServerHello instead",
            hello_record(2, &hello_body(&[])),
            HelloError::NotClientHello,
            UNEXPECTED_MESSAGE,
        ),
        (
            "second record not a handshake",
            {
                let whole = hello_record(1, &hello_body(&[]));
                // The first 10 bytes of the message in one record, then an application-data
                // record where the rest should be.
                let mut bytes = vec![0x16, 0x03, 0x01, 0x00, 0x0a];
                bytes.extend_from_slice(&whole[5..15]);
                bytes.extend_from_slice(&[0x17, 0x03, 0x03, 0x00, 0x01, 0x00]);
                bytes
            },
            HelloError::NotHandshake,
            UNEXPECTED_MESSAGE,
        ),
        (
            "truncated extension",
            hello_record(1, &hello_body(&[0x00, 0x00, 0x00, 0x09, 0x00])),
            HelloError::Truncated("extension data"),
            DECODE_ERROR,
        ),
        (
            "truncated random",
            hello_record(1, &[0x03, 0x03, 1, 2, 3]),
            HelloError::Truncated("random"),
            DECODE_ERROR,
        ),
        (
            "empty server name",
            hello_record(
                1,
                &hello_body(&[0x00, 0x00, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00]),
            ),
            HelloError::BadServerName,
            DECODE_ERROR,
        ),
        (
            "server name with a space",
            hello_record(
                1,
                &hello_body(&[0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00, 0x00, 0x01, b' ']),
            ),
            HelloError::BadServerName,
            DECODE_ERROR,
        ),
    ];
    for (what, bytes, error, description) in cases {
        let r = rejection(policy(), &bytes);
        assert_eq!(
            r.reason,
            RejectReason::MalformedClientHello(error),
            "{what}: {r}"
        );
        assert_eq!(r.alert, alert(description), "{what}");
        assert!(
            r.to_string().starts_with("malformed ClientHello"),
            "{what}: {r}"
        );
    }
}

#[test]
fn a_hello_larger_than_the_limit_is_refused() {
    let pki = TestPki::new();
    let (_, hello) = client_hello(pki.client_config(), "localhost");
    let mut policy = localhost_policy(&pki, &[]);
    policy.max_client_hello = 64;
    let r = rejection(policy, &hello);
    assert_eq!(
        r.reason,
        RejectReason::MalformedClientHello(HelloError::TooLarge)
    );
    assert_eq!(r.alert, alert(HANDSHAKE_FAILURE));
}

#[test]
fn rustls_refusing_the_hello_is_a_handshake_rejection_with_its_alert() {
    let pki = TestPki::new();
    let tls12_client = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_versions(TlsVersions::Tls12Only)
        .build()
        .unwrap();
    let tls13_site = tlswire_core::Site::new(
        tlswire_core::ReloadableIdentity::new(pki.server.certified_key()),
        tlswire_core::SiteOptions::default().with_versions(TlsVersions::Tls13Only),
    )
    .unwrap();
    let (_, hello) = client_hello(tls12_client, "localhost");
    let r = rejection(AcceptPolicy::new(SniPolicy::single(tls13_site)), &hello);
    assert!(
        matches!(
            r.reason,
            RejectReason::Handshake(Error::Tls(rustls::Error::PeerIncompatible(_)))
        ),
        "{:?}",
        r.reason
    );
    assert_eq!(r.alert, alert(PROTOCOL_VERSION));
    assert_eq!(r.server_name.as_deref(), Some("localhost"));
}

#[test]
fn the_hello_split_byte_by_byte_gives_the_same_session() {
    let pki = TestPki::new();
    let (client, hello) = client_hello(pki.client_config(), "localhost");
    let mut accept = Accept::new(Arc::new(localhost_policy(&pki, &[])));
    let now = Instant::now();
    let mut decision = None;
    for (i, byte) in hello.iter().enumerate() {
        match accept
            .handle_input(std::slice::from_ref(byte), now)
            .unwrap()
        {
            None => assert!(i + 1 < hello.len(), "undecided after the whole hello"),
            Some(d) => {
                assert_eq!(i + 1, hello.len(), "decided before the hello was complete");
                decision = Some(d);
            }
        }
    }
    let server = session(Ok(decision));
    assert_eq!(
        accept.client_hello().unwrap().server_name.as_deref(),
        Some("localhost")
    );
    let mut pair = Pair::new(client, server);
    pair.handshake().unwrap();
    assert_eq!(pair.server.session.peer().sni.as_deref(), Some("localhost"));
}

#[test]
fn sni_exact_wildcard_and_default() {
    let pki = TestPki::new();
    let exact = pki.site(
        &pki.server_for(&["api.example.test"]),
        ClientAuth::None,
        &[],
    );
    let wildcard = pki.site(&pki.server, ClientAuth::None, &[]);
    let fallback = pki.site(&pki.server_for(&["fallback.test"]), ClientAuth::None, &[]);
    let mut sni = SniPolicy::new();
    sni.insert("API.example.test.", exact.clone()).unwrap();
    sni.insert("*.example.test", wildcard.clone()).unwrap();
    assert!(matches!(
        sni.insert("api.example.test", wildcard.clone()),
        Err(tlswire_core::ConfigError::DuplicateServerName(_))
    ));
    assert!(matches!(
        sni.insert("*.*.test", wildcard.clone()),
        Err(tlswire_core::ConfigError::InvalidServerNamePattern(_))
    ));
    assert!(sni.lookup(Some("nothing.test")).is_none());
    assert!(sni.lookup(None).is_none());
    sni.set_default(fallback.clone());

    let picks = |name: Option<&str>| sni.lookup(name).unwrap().clone();
    assert!(Arc::ptr_eq(&picks(Some("api.example.test")), &exact));
    assert!(Arc::ptr_eq(&picks(Some("Api.Example.Test.")), &exact));
    assert!(Arc::ptr_eq(&picks(Some("www.example.test")), &wildcard));
    // Wildcards match one label, as in certificates.
    assert!(Arc::ptr_eq(&picks(Some("a.b.example.test")), &fallback));
    assert!(Arc::ptr_eq(&picks(Some("example.test")), &fallback));
    assert!(Arc::ptr_eq(&picks(None), &fallback));

    // And through real handshakes: the client sees the certificate of the chosen site.
    let policy = Arc::new(AcceptPolicy::new(sni));
    let anyone = ClientOptions::new(ServerTrust::DangerousAcceptAnyCertificate)
        .build()
        .unwrap();
    for (name, site) in [
        ("api.example.test", &exact),
        ("www.example.test", &wildcard),
        ("other.test", &fallback),
    ] {
        let (client, hello) = client_hello(anyone.clone(), name);
        let server = session(Accept::new(policy.clone()).handle_input(&hello, Instant::now()));
        let mut pair = Pair::new(client, server);
        pair.handshake().unwrap();
        let served = &pair.client.session.peer().certificates[0];
        assert_eq!(served, &site.identity().current().cert[0], "{name}");
    }
}
