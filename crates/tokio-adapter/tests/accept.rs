//! LazyAcceptor on one loopback listener: plaintext, TLS and mutual TLS chosen by SNI; and
//! certificate rotation while connections are live.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use common::STEP;
use tlswire_core::{
    AcceptPolicy, ClientAuth, ClientOptions, Limits, RejectReason, ReloadableIdentity, ServerTrust,
    Site, SiteOptions, SniPolicy,
};
use tlswire_testkit::{TestIdentity, TestPki};
use tlswire_tokio::{AcceptError, Accepted, LazyAcceptor, TlsAcceptor, TlsConnector};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

/// What the server saw for one connection.
#[derive(Debug)]
enum Outcome {
    Plain,
    Tls {
        sni: Option<String>,
        client_cert: bool,
    },
    Rejected(RejectReason),
    Failed(io::ErrorKind),
}

/// Serves every connection: plaintext clients get their line back with `plain:`, TLS clients
/// get `tls:` and whether they showed a certificate.
async fn serve(
    acceptor: LazyAcceptor,
    outcomes: mpsc::UnboundedSender<Outcome>,
) -> std::net::SocketAddr {
    let (listener, addr) = common::listener().await;
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let outcomes = outcomes.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(Accepted::Plaintext(plain)) => {
                        outcomes.send(Outcome::Plain).unwrap();
                        let mut lines = BufReader::new(plain);
                        let mut line = String::new();
                        lines.read_line(&mut line).await.unwrap();
                        let mut plain = lines.into_inner();
                        plain
                            .write_all(format!("plain:{line}").as_bytes())
                            .await
                            .unwrap();
                        plain.shutdown().await.unwrap();
                    }
                    Ok(Accepted::Tls(mut tls)) => {
                        let peer = tls.peer();
                        let client_cert = !peer.certificates.is_empty();
                        outcomes
                            .send(Outcome::Tls {
                                sni: peer.sni.clone(),
                                client_cert,
                            })
                            .unwrap();
                        let reply = format!("tls:{}\n", if client_cert { "cert" } else { "none" });
                        tls.write_all(reply.as_bytes()).await.unwrap();
                        tls.shutdown().await.unwrap();
                    }
                    Err(AcceptError::Rejected(r)) => {
                        outcomes.send(Outcome::Rejected(r.reason)).unwrap()
                    }
                    Err(AcceptError::Io(e)) => outcomes.send(Outcome::Failed(e.kind())).unwrap(),
                    Err(e) => panic!("unexpected accept error {e}"),
                }
            });
        }
    });
    addr
}

async fn next(outcomes: &mut mpsc::UnboundedReceiver<Outcome>) -> Outcome {
    timeout(STEP, outcomes.recv()).await.unwrap().unwrap()
}

fn policy(pki: &TestPki) -> AcceptPolicy {
    let mut sni = SniPolicy::new();
    sni.insert(
        "tls.example.test",
        pki.site(&pki.server, ClientAuth::None, &[]),
    )
    .unwrap();
    sni.insert(
        "mtls.example.test",
        pki.site(&pki.server, ClientAuth::Required(pki.roots()), &[]),
    )
    .unwrap();
    AcceptPolicy::new(sni).allow_plaintext(true)
}

async fn tls_request(
    config: Arc<tlswire_core::rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    name: &str,
) -> io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = TlsConnector::new(config).connect(name, tcp).await?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply).await?;
    Ok(reply)
}

#[tokio::test]
async fn one_listener_serves_plaintext_tls_and_mtls_by_sni() {
    let pki = TestPki::new();
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    let addr = serve(LazyAcceptor::new(Arc::new(policy(&pki))), tx).await;

    // Plaintext: the sniffed bytes are replayed, so the server reads the whole line.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"hello there\n").await.unwrap();
    let mut reply = String::new();
    timeout(STEP, tcp.read_to_string(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, "plain:hello there\n");
    assert!(matches!(next(&mut outcomes).await, Outcome::Plain));

    // TLS without client authentication.
    let reply = tls_request(pki.client_config(), addr, "tls.example.test")
        .await
        .unwrap();
    assert_eq!(reply, "tls:none\n");
    let outcome = next(&mut outcomes).await;
    assert!(
        matches!(&outcome, Outcome::Tls { sni: Some(s), client_cert: false } if s == "tls.example.test"),
        "{outcome:?}"
    );

    // Mutual TLS with a certificate signed by the trusted CA.
    let reply = tls_request(
        pki.client_config_with(&pki.client),
        addr,
        "mtls.example.test",
    )
    .await
    .unwrap();
    assert_eq!(reply, "tls:cert\n");
    let outcome = next(&mut outcomes).await;
    assert!(
        matches!(&outcome, Outcome::Tls { sni: Some(s), client_cert: true } if s == "mtls.example.test"),
        "{outcome:?}"
    );

    // Mutual TLS with a certificate from an unrelated CA: the handshake fails on both sides.
    let e = tls_request(
        pki.client_config_with(&pki.stranger_client),
        addr,
        "mtls.example.test",
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(matches!(
        next(&mut outcomes).await,
        Outcome::Failed(io::ErrorKind::InvalidData)
    ));

    // Mutual TLS without any certificate.
    let e = tls_request(pki.client_config(), addr, "mtls.example.test")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(matches!(
        next(&mut outcomes).await,
        Outcome::Failed(io::ErrorKind::InvalidData)
    ));

    // A name no site serves, and no default: refused by the policy with an alert.
    let e = tls_request(pki.client_config(), addr, "other.example.test")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("UnrecognisedName") || e.to_string().contains("unrecognised"),
        "{e}"
    );
    let outcome = next(&mut outcomes).await;
    assert!(
        matches!(&outcome, Outcome::Rejected(RejectReason::UnknownServerName(Some(n))) if n == "other.example.test"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn plaintext_refused_when_policy_does_not_allow_it_and_silence_times_out() {
    let pki = TestPki::new();
    let limits = Limits::default().with_handshake_timeout(Duration::from_millis(300));
    let policy = policy(&pki).allow_plaintext(false).with_limits(limits);
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    let addr = serve(LazyAcceptor::new(Arc::new(policy)), tx).await;

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut reply = Vec::new();
    let _ = timeout(STEP, tcp.read_to_end(&mut reply)).await.unwrap();
    // A fatal unexpected_message alert, in the clear.
    assert_eq!(reply, [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 10]);
    let outcome = timeout(STEP, outcomes.recv()).await.unwrap().unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Rejected(RejectReason::PlaintextNotAllowed)
        ),
        "{outcome:?}"
    );

    let silent = TcpStream::connect(addr).await.unwrap();
    let outcome = timeout(STEP, outcomes.recv()).await.unwrap().unwrap();
    assert!(
        matches!(outcome, Outcome::Failed(io::ErrorKind::TimedOut)),
        "{outcome:?}"
    );
    drop(silent);
}

fn certified(identity: &TestIdentity) -> tlswire_core::rustls::sign::CertifiedKey {
    identity.certified_key()
}

/// Replacing the identity switches new handshakes to the new certificate; connections made
/// before go on working with the old one.
#[tokio::test]
async fn certificate_rotation_while_connections_are_live() {
    let pki = TestPki::new();
    let first = pki.server_for(&["localhost"]);
    let second = pki.server_for(&["localhost"]);
    let identity = ReloadableIdentity::new(certified(&first));
    let site = Site::new(identity.clone(), SiteOptions::default()).unwrap();
    let (addr, server) = common::spawn_echo_server(site.server_config(), 3).await;
    let connector = TlsConnector::new(
        ClientOptions::new(ServerTrust::Roots(pki.roots()))
            .with_resumption(false)
            .build()
            .unwrap(),
    );

    let mut before = connector
        .connect("localhost", TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    assert_eq!(before.peer().certificates[0], first.cert());

    identity.replace(certified(&second));

    let mut after = connector
        .connect("localhost", TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    assert_eq!(after.peer().certificates[0], second.cert());

    for tls in [&mut before, &mut after] {
        tls.write_all(b"still here").await.unwrap();
        tls.flush().await.unwrap();
        let mut back = [0u8; 10];
        timeout(STEP, tls.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&back, b"still here");
        tls.shutdown().await.unwrap();
    }

    // A rotation through TlsAcceptor made from the same site behaves the same way.
    identity.replace(certified(&first));
    let acceptor_config = TlsAcceptor::new(site.server_config());
    assert!(Arc::ptr_eq(acceptor_config.config(), &site.server_config()));
    let mut third = connector
        .connect("localhost", TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    assert_eq!(third.peer().certificates[0], first.cert());
    third.shutdown().await.unwrap();
    timeout(STEP, server).await.unwrap().unwrap();
}
