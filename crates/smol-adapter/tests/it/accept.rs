//! One LazyAcceptor listener serving plaintext, TLS and mutual TLS chosen by SNI.

use std::io;
use std::sync::{Arc, Mutex};

use futures_io::{AsyncRead, AsyncWrite};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use tlswire_core::{AcceptPolicy, ClientAuth, ClientOptions, RejectReason, ServerTrust, SniPolicy};
use tlswire_smol::{AcceptError, Accepted, LazyAcceptor, TlsConnector};

use crate::pki;
use crate::runtime::{on_both_runtimes, Runtime};

on_both_runtimes!(one_listener_serves_plaintext_tls_and_mtls_by_sni);

fn policy() -> Arc<AcceptPolicy> {
    let pki = pki();
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
    Arc::new(AcceptPolicy::new(sni).allow_plaintext(true))
}

async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 1024 {
        stream.read_exact(&mut byte).await?;
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Answers one line with what kind of connection it came on.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, mode: String) -> io::Result<()> {
    let line = read_line(&mut stream).await?;
    stream
        .write_all(format!("{mode} {line}\n").as_bytes())
        .await?;
    stream.close().await
}

/// Runs a client over TLS: sends PING, returns the answer.
async fn tls_client<R: Runtime>(
    addr: std::net::SocketAddr,
    name: &str,
    connector: TlsConnector,
) -> io::Result<String> {
    let mut tls = connector.connect(name, R::connect(addr).await).await?;
    tls.write_all(b"PING\n").await?;
    tls.flush().await?;
    let mut reply = String::new();
    tls.read_to_string(&mut reply).await?;
    Ok(reply)
}

async fn one_listener_serves_plaintext_tls_and_mtls_by_sni<R: Runtime>() {
    const CLIENTS: usize = 6;
    let (listener, addr) = R::listen().await;
    let failures = Arc::new(Mutex::new(Vec::<AcceptError>::new()));
    let server_failures = failures.clone();
    let server = R::spawn(async move {
        let acceptor = LazyAcceptor::new(policy());
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let tcp = R::accept(&listener).await;
            let acceptor = acceptor.clone();
            let failures = server_failures.clone();
            tasks.push(R::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(Accepted::Plaintext(plain)) => {
                        answer(plain, "plain".into()).await.unwrap();
                    }
                    Ok(Accepted::Tls(tls)) => {
                        let peer = tls.peer();
                        let mode = format!(
                            "tls {} client_certs={}",
                            peer.sni.unwrap_or_default(),
                            peer.certificates.len()
                        );
                        answer(tls, mode).await.unwrap();
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }));
        }
        for task in tasks {
            task.await;
        }
    });

    // Plaintext: the sniffed bytes are replayed to the application.
    let mut plain = R::connect(addr).await;
    plain.write_all(b"PING\n").await.unwrap();
    let mut reply = String::new();
    plain.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, "plain PING\n");

    let pki = pki();
    let trust = || ServerTrust::Roots(pki.roots());
    let anonymous = TlsConnector::new(pki.client_config());
    let reply = tls_client::<R>(addr, "tls.example.test", anonymous.clone())
        .await
        .unwrap();
    assert_eq!(reply, "tls tls.example.test client_certs=0 PING\n");

    let with_cert = TlsConnector::new(pki.client_config_with(&pki.client));
    let reply = tls_client::<R>(addr, "mtls.example.test", with_cert)
        .await
        .unwrap();
    assert_eq!(reply, "tls mtls.example.test client_certs=1 PING\n");

    // Refused: no certificate, a certificate from another CA, an unknown name.
    let outcome = tls_client::<R>(addr, "mtls.example.test", anonymous.clone()).await;
    assert!(
        outcome.is_err(),
        "mTLS without a certificate answered {outcome:?}"
    );
    let stranger = ClientOptions::new(trust())
        .with_identity(pki.stranger_client.certified_key())
        .build()
        .unwrap();
    let outcome = tls_client::<R>(addr, "mtls.example.test", TlsConnector::new(stranger)).await;
    assert!(
        outcome.is_err(),
        "a stranger's certificate answered {outcome:?}"
    );
    let outcome = tls_client::<R>(addr, "nobody.invalid", anonymous).await;
    assert!(outcome.is_err(), "an unknown name answered {outcome:?}");

    server.await;
    let failures = failures.lock().unwrap();
    assert_eq!(failures.len(), 3, "{failures:?}");
    let handshake_failures = failures
        .iter()
        .filter(|e| matches!(e, AcceptError::Io(e) if e.kind() == io::ErrorKind::InvalidData))
        .count();
    assert_eq!(handshake_failures, 2, "{failures:?}");
    assert!(failures.iter().any(|e| matches!(
        e,
        AcceptError::Rejected(r) if r.reason == RejectReason::UnknownServerName(Some("nobody.invalid".into()))
    )));
}
