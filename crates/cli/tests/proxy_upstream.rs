//! Upstream details: PROXY protocol headers, mutual TLS and pinning to the backend, IPv6
//! listeners, idle and lifetime limits.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod proxy_support;

use std::net::SocketAddr;
use std::time::Duration;

use proxy_support::*;
use tlswire_core::{ClientOptions, ServerTrust};
use tlswire_testkit::{temp_dir, OpensslServer, TestPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A backend that reports the first `n` bytes of each connection (the PROXY header), then
/// echoes.
async fn header_backend(n: usize) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut header = vec![0u8; n];
                if stream.read_exact(&mut header).await.is_ok() {
                    let _ = tx.send(header);
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_v1_over_ipv6_and_v2_with_tls_tlvs() {
    let dir = temp_dir("proxy-pp");
    let pki = TestPki::new();
    pki.write_all(&dir);
    // "PROXY TCP6 ::1 ::1 PPPPP PPPPP\r\n" is at most 46 bytes; read a fixed prefix of it.
    let (v1_backend, mut v1_headers) = header_backend(15).await;
    let (v2_backend, mut v2_headers) = header_backend(16).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - label: v1
    interpreter: {{kind: io.l5d.static, names: {{/svc/v1: [{{addr: "{v1_backend}"}}]}}}}
    servers: [{{port: 0, ip: "::1", dstName: /svc/v1}}]
    client: {{proxyProtocol: v1}}
  - label: v2
    interpreter: {{kind: io.l5d.static, names: {{/svc/v2: [{{addr: "{v2_backend}"}}]}}}}
    servers:
      - port: 0
        dstName: /svc/v2
        tls:
          alpnProtocols: [h2]
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
    client: {{proxyProtocol: v2}}
"#
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let v6 = listener(&proxy, 0);
    assert!(v6.is_ipv6());
    let mut plain = TcpStream::connect(v6).await.unwrap();
    plain.write_all(b"x").await.unwrap();
    let header = v1_headers.recv().await.unwrap();
    assert_eq!(&header, b"PROXY TCP6 ::1 ");

    let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_alpn(["h2"])
        .build()
        .unwrap();
    let mut tls = tls_connect(listener(&proxy, 1), config, "localhost")
        .await
        .unwrap();
    tls.write_all(b"x").await.unwrap();
    tls.flush().await.unwrap();
    let fixed = v2_headers.recv().await.unwrap();
    assert_eq!(&fixed[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(fixed[12], 0x21, "version 2, PROXY command");
    assert_eq!(fixed[13], 0x11, "TCP over IPv4");
    // The rest of the header came before the client's byte; the echo brings it back after.
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    assert!(
        len > 12 + 9,
        "TLVs expected after the addresses, length {len}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_and_pinning_to_the_upstream() {
    let dir = temp_dir("proxy-up-mtls");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let ca = dir.join("ca.crt");
    let verify = ["-rev", "-Verify", "1", "-CAfile", ca.to_str().unwrap()];
    let demanding = OpensslServer::start(&dir.join("server.crt"), &dir.join("server.key"), &verify);
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - label: with-cert
    interpreter: {{kind: io.l5d.static, names: {{/svc/up: [{{addr: "{up}"}}]}}}}
    servers: [{{port: 0, dstName: /svc/up}}]
    client:
      tls:
        dnsName: localhost
        pinnedCerts: [server.crt]
        clientIdentity: {{certs: [client.crt], privateKey: client.key}}
  - label: without-cert
    interpreter: {{kind: io.l5d.static, names: {{/svc/up: [{{addr: "{up}"}}]}}}}
    servers: [{{port: 0, dstName: /svc/up}}]
    client:
      tls: {{dnsName: localhost, trustCerts: [ca.crt]}}
"#,
        up = demanding.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let mut good = TcpStream::connect(listener(&proxy, 0)).await.unwrap();
    good.write_all(b"mutual\n").await.unwrap();
    assert_eq!(read_line(&mut good).await.unwrap(), "lautum\n");

    let mut refused = TcpStream::connect(listener(&proxy, 1)).await.unwrap();
    let _ = refused.write_all(b"anyone\n").await;
    assert!(
        read_line(&mut refused).await.is_err(),
        "the backend demands a client certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_lifetime_limits_close_connections() {
    let backend = Backend::start("b", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/b: [{{addr: "{b}"}}]}}}}
    servers:
      - {{port: 0, dstName: /svc/b, idleTimeoutSecs: 1}}
      - {{port: 0, dstName: /svc/b, connectionLifetimeSecs: 1}}
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &temp_dir("proxy-idle")).await;
    for n in 0..2 {
        let mut conn = TcpStream::connect(listener(&proxy, n)).await.unwrap();
        assert_eq!(tag_and_echo(&mut conn).await.unwrap(), "b");
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .expect("the limit did not close the connection");
        assert!(matches!(read, Ok(0) | Err(_)));
    }
    assert_eq!(proxy.failure_count("idle_timeout").await, 1);
    assert_eq!(proxy.failure_count("lifetime").await, 1);
}
