//! TLS termination and origination against real peers: curl, openssl s_client and s_server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod proxy_support;

use std::process::Stdio;
use std::time::Duration;

use proxy_support::*;
use tlswire_core::{ClientOptions, ServerTrust};
use tlswire_testkit::{require_program, temp_dir, OpensslServer, TestPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_openssl_s_client_through_termination_to_plain_backend() {
    let curl = require_program("curl");
    let openssl = require_program("openssl");
    let dir = temp_dir("proxy-term");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let backend = Backend::start("web", Behaviour::Http).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - label: web
    interpreter:
      kind: io.l5d.static
      names:
        /svc/web: [{{addr: "{b}"}}]
    servers:
      - port: 0
        dstName: /svc/web
        tls:
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let port = listener(&proxy, 0).port();

    let out = tokio::process::Command::new(curl)
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(dir.join("ca.crt"))
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg(format!("https://localhost:{port}/"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from web\n");

    let mut child = tokio::process::Command::new(openssl)
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args([
            "-servername",
            "localhost",
            "-verify_return_error",
            "-quiet",
            "-CAfile",
        ])
        .arg(dir.join("ca.crt"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stdout.read_to_string(&mut response),
    )
    .await
    .expect("s_client did not finish")
    .unwrap();
    assert!(response.contains("hello from web"), "got {response:?}");
    assert_eq!(backend.connections(), 2);
    assert_eq!(proxy.handshake_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origination_to_openssl_s_server_checks_the_san() {
    let dir = temp_dir("proxy-orig");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let good = OpensslServer::start(&dir.join("server.crt"), &dir.join("server.key"), &["-rev"]);
    let wrong = OpensslServer::start(
        &dir.join("wrong_name.crt"),
        &dir.join("wrong_name.key"),
        &["-rev"],
    );
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - label: good
    interpreter: {{kind: io.l5d.static, names: {{/svc/good: [{{addr: "{good}"}}]}}}}
    servers: [{{port: 0, dstName: /svc/good}}]
    client:
      tls: {{dnsName: localhost, trustCerts: [ca.crt]}}
  - label: wrong
    interpreter: {{kind: io.l5d.static, names: {{/svc/wrong: [{{addr: "{wrong}"}}]}}}}
    servers: [{{port: 0, dstName: /svc/wrong}}]
    client:
      tls: {{dnsName: localhost, trustCerts: [ca.crt]}}
"#,
        good = good.addr,
        wrong = wrong.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;

    let mut client = TcpStream::connect(listener(&proxy, 0)).await.unwrap();
    client.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_line(&mut client).await.unwrap(), "olleh\n");

    let mut refused = TcpStream::connect(listener(&proxy, 1)).await.unwrap();
    let _ = refused.write_all(b"hello\n").await;
    assert!(
        read_line(&mut refused).await.is_err(),
        "a backend whose certificate is for another name must be refused"
    );
    assert_eq!(proxy.failure_count("upstream_tls").await, 1);
}

fn client_options(pki: &TestPki) -> ClientOptions {
    ClientOptions::new(ServerTrust::Roots(pki.roots()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_per_sni_alongside_plaintext_on_one_port() {
    let dir = temp_dir("proxy-mtls");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let backend = Backend::start("app", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/app: [{{addr: "{b}"}}]}}}}
    servers:
      - port: 0
        dstName: /svc/app
        tls:
          allowPlaintext: true
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
          identities:
            secure.example.test:
              certs: [server.crt]
              privateKey: server.key
              clientAuth:
                mode: required
                trustCerts: [ca.crt]
                acl: {{commonNames: [client-one]}}
            pinned.example.test:
              certs: [server.crt]
              privateKey: server.key
              clientAuth: {{mode: pinned, trustCerts: [self_signed_client.crt]}}
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let addr = listener(&proxy, 0);

    let mut plain = TcpStream::connect(addr).await.unwrap();
    assert_eq!(tag_and_echo(&mut plain).await.unwrap(), "app");

    let anonymous = client_options(&pki).build().unwrap();
    let mut open = tls_connect(addr, anonymous.clone(), "localhost")
        .await
        .unwrap();
    assert_eq!(tag_and_echo(&mut open).await.unwrap(), "app");

    let refused = async {
        let mut conn = tls_connect(addr, anonymous.clone(), "secure.example.test").await?;
        tag_and_echo(&mut conn).await
    };
    assert!(
        refused.await.is_err(),
        "no client certificate must be refused"
    );

    let one = client_options(&pki)
        .with_identity(pki.client.certified_key())
        .build()
        .unwrap();
    let mut secure = tls_connect(addr, one.clone(), "secure.example.test")
        .await
        .unwrap();
    assert_eq!(tag_and_echo(&mut secure).await.unwrap(), "app");
    assert!(!secure.peer().certificates.is_empty());

    let two = client_options(&pki)
        .with_identity(pki.client2.certified_key())
        .build()
        .unwrap();
    let denied = async {
        let mut conn = tls_connect(addr, two, "secure.example.test").await?;
        tag_and_echo(&mut conn).await
    };
    assert!(denied.await.is_err(), "client-two is not on the ACL");
    assert_eq!(proxy.failure_count("acl_denied").await, 1);

    let self_signed = client_options(&pki)
        .with_identity(pki.self_signed_client.certified_key())
        .build()
        .unwrap();
    let mut pinned = tls_connect(addr, self_signed, "pinned.example.test")
        .await
        .unwrap();
    assert_eq!(tag_and_echo(&mut pinned).await.unwrap(), "app");
    let not_pinned = async {
        let mut conn = tls_connect(addr, one, "pinned.example.test").await?;
        tag_and_echo(&mut conn).await
    };
    assert!(
        not_pinned.await.is_err(),
        "only the pinned certificate passes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_sni_and_alpn_to_different_backends() {
    let dir = temp_dir("proxy-sni");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let a = Backend::start("a", Behaviour::Tagged).await;
    let b = Backend::start("b", Behaviour::Tagged).await;
    let h2 = Backend::start("h2", Behaviour::Tagged).await;
    let fallback = Backend::start("default", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter:
      kind: io.l5d.static
      names:
        /svc/a: [{{addr: "{a}"}}]
        /svc/b: [{{addr: "{b}"}}]
        /svc/h2: [{{addr: "{h2}"}}]
        /svc/default: [{{addr: "{d}"}}]
    servers:
      - port: 0
        dstName: /svc/default
        routes:
          - {{sni: a.example.test, dstName: /svc/a}}
          - {{sni: b.example.test, dstName: /svc/b}}
          - {{alpn: h2, dstName: /svc/h2}}
        tls:
          alpnProtocols: [h2, http/1.1]
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
"#,
        a = a.addr,
        b = b.addr,
        h2 = h2.addr,
        d = fallback.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let addr = listener(&proxy, 0);
    let config = client_options(&pki).build().unwrap();
    for (sni, expected) in [
        ("a.example.test", "a"),
        ("b.example.test", "b"),
        ("localhost", "default"),
        ("A.Example.Test", "a"),
    ] {
        let mut conn = tls_connect(addr, config.clone(), sni).await.unwrap();
        assert_eq!(
            tag_and_echo(&mut conn).await.unwrap(),
            expected,
            "sni {sni}"
        );
    }
    let h2_client = client_options(&pki).with_alpn(["h2"]).build().unwrap();
    let mut conn = tls_connect(addr, h2_client, "localhost").await.unwrap();
    assert_eq!(conn.peer().alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(tag_and_echo(&mut conn).await.unwrap(), "h2");
}
