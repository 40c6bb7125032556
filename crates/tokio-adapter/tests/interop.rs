//! Interop with real peers started on free loopback ports: `openssl s_client`,
//! `openssl s_server` and `redis-server --tls-port`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::STEP;
use tlswire_testkit::{
    free_port, require_program, temp_dir, wait_for_port, ChildGuard, OpensslServer, TestPki,
};
use tlswire_tokio::{EofPolicy, TlsAcceptor, TlsConnector};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// `openssl s_client` verifies our server against the CA, sends a line and gets it back
/// upper-cased, then sees our close_notify.
#[tokio::test]
async fn openssl_s_client_talks_to_our_acceptor() {
    let pki = TestPki::new();
    let dir = temp_dir("tokio-s-client");
    pki.write_all(&dir);
    let (listener, addr) = common::listener().await;
    let acceptor = TlsAcceptor::new(pki.server_config());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let version = tls.peer().version;
        let mut lines = BufReader::new(tls);
        let mut line = String::new();
        lines.read_line(&mut line).await.unwrap();
        let mut tls = lines.into_inner();
        tls.write_all(line.to_uppercase().as_bytes()).await.unwrap();
        tls.shutdown().await.unwrap();
        version
    });

    let openssl = require_program("openssl");
    let mut child = tokio::process::Command::new(openssl)
        .arg("s_client")
        .args(["-connect", &addr.to_string(), "-servername", "localhost"])
        .arg("-CAfile")
        .arg(dir.join("ca.crt"))
        .args(["-verify_return_error", "-quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello from openssl\n").await.unwrap();
    stdin.flush().await.unwrap();
    let output = timeout(STEP, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("HELLO FROM OPENSSL"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let version = timeout(STEP, server).await.unwrap().unwrap();
    assert!(version.is_some());
    drop(stdin);
}

/// Our connector against `openssl s_server -rev` (which sends each line back reversed), with
/// TLS 1.3 and with TLS 1.2.
#[tokio::test]
async fn our_connector_talks_to_openssl_s_server() {
    let pki = TestPki::new();
    let dir = temp_dir("tokio-s-server");
    pki.write_all(&dir);
    for version_flag in ["-tls1_3", "-tls1_2"] {
        let server = OpensslServer::start(
            &dir.join("server.crt"),
            &dir.join("server.key"),
            &["-rev", version_flag],
        );
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        // s_server closes without close_notify when the client goes; a line protocol does not
        // need it.
        let connector = TlsConnector::new(pki.client_config()).with_eof_policy(EofPolicy::Lenient);
        let tls = timeout(STEP, connector.connect("localhost", tcp))
            .await
            .unwrap()
            .unwrap();
        let expected = if version_flag == "-tls1_3" {
            tlswire_core::rustls::ProtocolVersion::TLSv1_3
        } else {
            tlswire_core::rustls::ProtocolVersion::TLSv1_2
        };
        assert_eq!(tls.peer().version, Some(expected));
        let mut lines = BufReader::new(tls);
        lines.get_mut().write_all(b"tlswire\n").await.unwrap();
        lines.get_mut().flush().await.unwrap();
        let mut line = String::new();
        timeout(STEP, lines.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line.trim_end(), "eriwslt");
        lines.into_inner().shutdown().await.unwrap();
    }
}

/// Starts `redis-server` with TLS only, on a free loopback port, with the test PKI's server
/// certificate; no persistence.
fn start_redis(dir: &std::path::Path) -> (ChildGuard, SocketAddr) {
    let redis = require_program("redis-server");
    let port = free_port();
    let child = Command::new(redis)
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .arg("--tls-cert-file")
        .arg(dir.join("server.crt"))
        .arg("--tls-key-file")
        .arg(dir.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(dir.join("ca.crt"))
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let guard = ChildGuard(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_port(addr, Duration::from_secs(10));
    (guard, addr)
}

#[tokio::test]
async fn ping_a_real_redis_server_over_tls() {
    let pki = TestPki::new();
    let dir = temp_dir("tokio-redis");
    pki.write_all(&dir);
    let (_redis, addr) = start_redis(&dir);
    let connector = TlsConnector::new(pki.client_config());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = timeout(STEP, connector.connect("localhost", tcp))
        .await
        .unwrap()
        .unwrap();
    tls.write_all(b"PING\r\n").await.unwrap();
    tls.flush().await.unwrap();
    let mut reply = [0u8; 7];
    timeout(STEP, tls.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
    // A RESP array command too, and a value round trip.
    tls.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\ntlswire\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let mut reply = [0u8; 5 + 13];
    timeout(STEP, tls.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&reply, b"+OK\r\n$7\r\ntlswire\r\n");
    tls.shutdown().await.unwrap();
}
