//! Hostile clients against an in-process proxy: silent connections by the thousand, a flood of
//! ClientHellos that never finish, truncated, tampered and oversized records at every stage of
//! the handshake, a renegotiation attempt, a client that never reads, and large payloads. After
//! each attack, legitimate clients must still complete handshakes and echo through the proxy.
//!
//! Every loop is bounded in count and time; only loopback addresses are used. The biggest test
//! holds 5,000 idle client sockets plus the proxy's 5,000 (the open-files limit is 20,000).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tlswire_core::rustls::ClientConfig;
use tlswire_core::{ClientOptions, ServerTrust, Session, TlsVersions};
use tlswire_proxy::Proxy;
use tlswire_testkit::{
    closed_by_server, damaged_connection, require_program, temp_dir, TestPki, DAMAGES,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every wait for the proxy, so a hang fails the test instead of stalling CI.
const WAIT: Duration = Duration::from_secs(30);

/// A TLS-terminating proxy in front of an echo backend tagged `web`, with `server_extra`
/// appended to the server's YAML (indented to match).
struct Setup {
    proxy: Proxy,
    pki: TestPki,
    _backend: Backend,
    _dir: PathBuf,
}

impl Setup {
    async fn start(server_extra: &str) -> Self {
        let dir = temp_dir("proxy-hostile");
        let pki = TestPki::new();
        pki.write_all(&dir);
        let backend = Backend::start("web", Behaviour::Tagged).await;
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
{server_extra}
"#,
            b = backend.addr
        );
        let proxy = start_proxy(&yaml, &dir).await;
        Self {
            proxy,
            pki,
            _backend: backend,
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        listener(&self.proxy, 0)
    }

    /// `count` legitimate clients, one after another, each handshaking and echoing.
    async fn legit_clients_work(&self, count: usize) {
        let config = self.pki.client_config();
        for i in 0..count {
            let round = async {
                let mut conn = tls_connect(self.addr(), config.clone(), "localhost").await?;
                tag_and_echo(&mut conn).await
            };
            let tag = tokio::time::timeout(WAIT, round)
                .await
                .unwrap_or_else(|_| panic!("legitimate client {i} timed out"))
                .unwrap_or_else(|e| panic!("legitimate client {i} failed: {e}"));
            assert_eq!(tag, "web");
        }
    }
}

fn client_hello(config: Arc<ClientConfig>) -> Vec<u8> {
    let mut session = Session::client(config, "localhost").unwrap();
    let mut hello = Vec::new();
    let _ = session.poll_transmit(&mut hello);
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_silent_connections_do_not_block_handshakes() {
    let setup = Setup::start("        handshakeTimeoutMs: 5000").await;
    let mut silent = Vec::with_capacity(5_000);
    for i in 0..5_000 {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(setup.addr()))
            .await
            .unwrap_or_else(|_| panic!("connect {i} timed out"))
            .unwrap_or_else(|e| panic!("connect {i}: {e}"));
        silent.push(stream);
    }
    setup.legit_clients_work(20).await;
    // The silent ones are dropped by the proxy once their handshake time runs out.
    closed_by_server(&mut silent[0], "silent connection").await;
    closed_by_server(&mut silent[4_999], "silent connection").await;
    drop(silent);
    setup.legit_clients_work(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hello_flood_does_not_lock_out_clients() {
    let setup = Setup::start("        handshakeTimeoutMs: 3000").await;
    let config = setup.pki.client_config();
    // Each flood connection sends a real ClientHello (the proxy does the key exchange and
    // signs) and then never finishes its handshake.
    let mut flood = Vec::with_capacity(1_000);
    for _ in 0..1_000 {
        let mut stream = TcpStream::connect(setup.addr()).await.unwrap();
        stream
            .write_all(&client_hello(config.clone()))
            .await
            .unwrap();
        flood.push(stream);
    }
    setup.legit_clients_work(10).await;
    closed_by_server(&mut flood[0], "stalled handshake").await;
    drop(flood);
    setup.legit_clients_work(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_records_at_every_handshake_stage_are_refused() {
    // After the handshake only the idle timeout ends a connection whose record never
    // completes (`LengthLies` at stage 2).
    let setup = Setup::start("        handshakeTimeoutMs: 3000\n        idleTimeoutSecs: 2").await;
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        let config = ClientOptions::new(ServerTrust::Roots(setup.pki.roots()))
            .with_versions(versions)
            .build()
            .unwrap();
        for stage in 0..3 {
            for damage in DAMAGES {
                let what = format!("{versions:?}, stage {stage}, {damage:?}");
                let mut tcp =
                    damaged_connection(setup.addr(), config.clone(), stage, damage, b"ping\n")
                        .await;
                closed_by_server(&mut tcp, &what).await;
            }
        }
    }
    setup.legit_clients_work(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renegotiation_attempt_is_refused_without_harm() {
    let openssl = require_program("openssl");
    let setup = Setup::start("").await;
    let mut child = tokio::process::Command::new(openssl)
        .args(["s_client", "-tls1_2", "-connect", &setup.addr().to_string()])
        .args(["-servername", "localhost"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // In s_client, a line "R" asks for renegotiation (rustls never renegotiates).
    stdin.write_all(b"R\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(stdin);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("s_client did not finish")
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("RENEGOTIATING"),
        "no renegotiation attempt: {text}"
    );
    setup.legit_clients_work(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_cross_intact() {
    let setup = Setup::start("").await;
    let mut conn = tls_connect(setup.addr(), setup.pki.client_config(), "localhost")
        .await
        .unwrap();
    assert_eq!(read_line(&mut conn).await.unwrap(), "web\n");
    let (mut reader, mut writer) = tokio::io::split(conn);
    const SIZE: usize = 8 << 20;
    let write = tokio::spawn(async move {
        let block: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
        for _ in 0..SIZE >> 20 {
            writer.write_all(&block).await.unwrap();
        }
        writer.flush().await.unwrap();
        writer
    });
    let mut received = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    let read = tokio::time::timeout(WAIT, async {
        while received < SIZE {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream ended after {received} bytes");
            for (i, byte) in buf[..n].iter().enumerate() {
                assert_eq!(
                    *byte,
                    ((received + i) % 256) as u8,
                    "byte {} differs",
                    received + i
                );
            }
            received += n;
        }
    })
    .await;
    assert!(read.is_ok(), "echo stalled after {received} bytes");
    let _writer = write.await.unwrap();
    setup.legit_clients_work(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_block_others() {
    let setup = Setup::start("").await;
    // Echo is symmetric: whatever it writes comes back, so a client that writes and never
    // reads fills the proxy's buffers and its own receive window.
    let mut stuck = tls_connect(setup.addr(), setup.pki.client_config(), "localhost")
        .await
        .unwrap();
    let block = vec![b'x'; 64 * 1024];
    let mut written = 0usize;
    for _ in 0..1_024 {
        match tokio::time::timeout(Duration::from_millis(500), stuck.write_all(&block)).await {
            Ok(Ok(())) => written += block.len(),
            Ok(Err(e)) => panic!("stuck client write failed: {e}"),
            Err(_) => break, // every buffer on the way is full
        }
    }
    assert!(written < 64 << 20, "64 MiB went in without anyone reading");
    setup.legit_clients_work(10).await;
    drop(stuck);
    setup.legit_clients_work(2).await;
}
