//! Operating a proxy: key rotation under load, graceful drain, shared session tickets, admin.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod proxy_support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proxy_support::*;
use tlswire_core::rustls::{ClientConfig, HandshakeKind};
use tlswire_core::{ClientOptions, ServerTrust};
use tlswire_testkit::{temp_dir, TestIdentity, TestPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Replaces a file in one step, as deployment tools do.
fn replace_file(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn install(dir: &Path, identity: &TestIdentity) {
    replace_file(&dir.join("server.key"), &identity.key_pem);
    replace_file(&dir.join("server.crt"), &identity.cert_pem);
}

/// A TLS-terminating proxy in front of one tagged backend `app` (weight `weight`), with
/// `server_keys` added to its listener; and a client configuration that trusts it.
async fn tls_proxy_to_app(
    name: &str,
    weight: u32,
    server_keys: &str,
) -> (ProxyProcess, Backend, Arc<ClientConfig>) {
    let dir = temp_dir(name);
    let pki = TestPki::new();
    pki.write_all(&dir);
    let backend = Backend::start("app", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/app: [{{addr: "{b}", weight: {weight}}}]}}}}
    servers:
      - port: 0
        dstName: /svc/app
        {server_keys}
        tls:
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .build()
        .unwrap();
    (proxy, backend, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_has_zero_failed_handshakes() {
    let dir = temp_dir("proxy-reload");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let backend = Backend::start("app", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
reload: {{intervalMs: 50}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/app: [{{addr: "{b}"}}]}}}}
    servers:
      - port: 0
        dstName: /svc/app
        tls:
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let addr = listener(&proxy, 0);
    let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_resumption(false)
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed, config) = (stop.clone(), ok.clone(), failed.clone(), config.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..10_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let result = async {
                    let mut conn = tls_connect(addr, config.clone(), "localhost").await?;
                    tag_and_echo(&mut conn).await
                };
                match result.await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("client failed during reload: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let mut latest = pki.server.clone();
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        latest = pki.server_for(&["localhost", "127.0.0.1"]);
        install(&dir, &latest);
        if round == 2 {
            // A broken file keeps the previous certificate in use.
            tokio::time::sleep(Duration::from_millis(150)).await;
            replace_file(&dir.join("server.crt"), "not a certificate\n");
            tokio::time::sleep(Duration::from_millis(150)).await;
            install(&dir, &latest);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 20, "too little load: {ok} handshakes");
    assert_eq!(
        failed,
        0,
        "{failed} of {} handshakes failed during reloads",
        ok + failed
    );
    assert!(proxy.reload_count(true).await >= 4);
    assert!(
        proxy.reload_count(false).await >= 1,
        "the broken file was not reported"
    );
    assert_eq!(proxy.failure_count("handshake").await, 0);

    let conn = tls_connect(addr, config, "localhost").await.unwrap();
    assert_eq!(
        conn.peer().certificates[0],
        latest.cert(),
        "the newest certificate is served"
    );
    assert_eq!(
        proxy.reload().await,
        0,
        "a forced reload (SIGHUP) of good files succeeds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_drain_keeps_in_flight_transfers_whole() {
    let size = 4 * 1024 * 1024;
    let backend = Backend::start("bulk", Behaviour::Bulk(size)).await;
    let yaml = format!(
        r#"
admin: {{port: 0, graceSecs: 20}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/bulk: [{{addr: "{b}"}}]}}}}
    servers: [{{port: 0, dstName: /svc/bulk}}]
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &temp_dir("proxy-drain")).await;
    let (addr, admin) = (listener(&proxy, 0), proxy.admin_addr());
    assert_eq!(admin_get(admin, "/ready", "GET").await.0, 200);

    let mut transfers = Vec::new();
    for _ in 0..3 {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"go").await.unwrap();
        let mut first = [0u8; 1];
        conn.read_exact(&mut first).await.unwrap();
        transfers.push(tokio::spawn(async move {
            let mut rest = Vec::new();
            conn.read_to_end(&mut rest).await.unwrap();
            rest.len() + 1
        }));
    }
    let (status, body) = admin_get(admin, "/shutdown", "POST").await;
    assert_eq!((status, body.as_str()), (202, "draining\n"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(admin_get(admin, "/ready", "GET").await.0, 503);
    let refused = match TcpStream::connect(addr).await {
        Err(_) => true,
        Ok(mut late) => {
            let mut buf = [0u8; 1];
            matches!(late.read(&mut buf).await, Ok(0) | Err(_))
        }
    };
    assert!(refused, "a new connection was served after the drain began");
    for transfer in transfers {
        assert_eq!(
            transfer.await.unwrap(),
            size,
            "an in-flight transfer was cut"
        );
    }
    // The drain ends the process once the transfers have ended.
    let exit = proxy.wait_exit(Duration::from_secs(10)).await;
    assert!(exit.success(), "the drained proxy exited with {exit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_ticket_keys_resume_each_others_sessions() {
    let dir = temp_dir("proxy-tickets");
    let pki = TestPki::new();
    pki.write_all(&dir);
    std::fs::write(
        dir.join("ticket.keys"),
        "# newest first\n6b1f0c9a3e5d7b2c4a6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c\n",
    )
    .unwrap();
    let backend = Backend::start("app", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
sessionTickets: {{keysPath: ticket.keys, lifetimeSecs: 600}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/app: [{{addr: "{b}"}}]}}}}
    servers:
      - port: 0
        dstName: /svc/app
        tls:
          defaultIdentity: {{certs: [server.crt], privateKey: server.key}}
"#,
        b = backend.addr
    );
    let first = start_proxy(&yaml, &dir).await;
    let second = start_proxy(&yaml, &dir).await;
    let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .build()
        .unwrap();
    let mut conn = tls_connect(listener(&first, 0), config.clone(), "localhost")
        .await
        .unwrap();
    assert_eq!(conn.peer().handshake_kind, Some(HandshakeKind::Full));
    // Reading lets the client take the tickets that follow the handshake.
    assert_eq!(tag_and_echo(&mut conn).await.unwrap(), "app");
    let mut resumed = tls_connect(listener(&second, 0), config, "localhost")
        .await
        .unwrap();
    assert_eq!(
        resumed.peer().handshake_kind,
        Some(HandshakeKind::Resumed),
        "the second instance did not resume the first one's session"
    );
    assert_eq!(tag_and_echo(&mut resumed).await.unwrap(), "app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_serves_metrics_in_prometheus_text() {
    let (proxy, backend, config) = tls_proxy_to_app("proxy-admin", 2, "").await;
    let addr = listener(&proxy, 0);
    let mut conn = tls_connect(addr, config, "localhost").await.unwrap();
    assert_eq!(tag_and_echo(&mut conn).await.unwrap(), "app");
    // A peer that is not TLS at all is counted and closed without affecting others.
    let mut bad = TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = bad.read_to_end(&mut sink).await;
    conn.write_all(b"still here\n").await.unwrap();
    assert_eq!(read_line(&mut conn).await.unwrap(), "still here\n");

    let (status, metrics) = admin_get(proxy.admin_addr(), "/metrics", "GET").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&metrics, "tlswire_proxy_accepts_total"), Some(2.0));
    assert_eq!(
        metric(&metrics, "tlswire_proxy_active_connections"),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "tlswire_proxy_handshake_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "tlswire_proxy_failures_total{cause=\"rejected\"}"),
        Some(1.0)
    );
    // Counted as they move, while the connection is still open: "ping\n" and "still here\n"
    // up; the tag line and both echoes down.
    assert_eq!(
        metric(&metrics, "tlswire_proxy_bytes_to_upstream_total"),
        Some(16.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "tlswire_proxy_bytes_to_client_total"),
        Some(20.0),
        "{metrics}"
    );
    let endpoint = format!(
        "tlswire_proxy_endpoint_active{{dst=\"/svc/app\",endpoint=\"{}\",weight=\"2\"}}",
        backend.addr
    );
    assert_eq!(metric(&metrics, &endpoint), Some(1.0), "{metrics}");
    assert_eq!(admin_get(proxy.admin_addr(), "/nope", "GET").await.0, 404);
    assert_eq!(
        admin_get(proxy.admin_addr(), "/shutdown", "GET").await.0,
        405
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_trust_bundle_reloads_on_change() {
    let dir = temp_dir("proxy-trust");
    let pki = TestPki::new();
    pki.write_all(&dir);
    std::fs::copy(dir.join("ca.crt"), dir.join("clients-ca.crt")).unwrap();
    let backend = Backend::start("app", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
reload: {{intervalMs: 50}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/app: [{{addr: "{b}"}}]}}}}
    servers:
      - port: 0
        dstName: /svc/app
        tls:
          defaultIdentity:
            certs: [server.crt]
            privateKey: server.key
            clientAuth: {{mode: required, trustCerts: [clients-ca.crt]}}
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &dir).await;
    let addr = listener(&proxy, 0);
    let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_identity(pki.client.certified_key())
        .with_resumption(false)
        .build()
        .unwrap();
    let mut conn = tls_connect(addr, config.clone(), "localhost")
        .await
        .unwrap();
    assert_eq!(tag_and_echo(&mut conn).await.unwrap(), "app");

    let other = TestPki::new();
    replace_file(&dir.join("clients-ca.crt"), &other.ca.cert_pem);
    let mut refused = false;
    for _ in 0..100 {
        let attempt = async {
            let mut conn = tls_connect(addr, config.clone(), "localhost").await?;
            tag_and_echo(&mut conn).await
        };
        if attempt.await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the new trust bundle was not applied");
    assert!(proxy.reload_count(true).await >= 1);
    // The connection made under the old bundle lives on.
    conn.write_all(b"still\n").await.unwrap();
    assert_eq!(read_line(&mut conn).await.unwrap(), "still\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_beyond_max_concurrent_handshakes_wait_their_turn() {
    let (proxy, _backend, config) =
        tls_proxy_to_app("proxy-handshake-limit", 1, "maxConcurrentHandshakes: 1").await;
    let addr = listener(&proxy, 0);

    // A client that sends its ClientHello and then goes quiet takes the only handshake slot.
    let mut staller = TcpStream::connect(addr).await.unwrap();
    let mut session = tlswire_core::Session::client(config.clone(), "localhost").unwrap();
    session.handle_timeout(std::time::Instant::now());
    let mut hello = Vec::new();
    assert!(
        session.poll_transmit(&mut hello) > 0,
        "a ClientHello to send"
    );
    staller.write_all(&hello).await.unwrap();
    let mut server_flight = [0u8; 512];
    let n = staller.read(&mut server_flight).await.unwrap();
    assert!(n > 0, "the proxy answered the stalled client's hello");

    // The next client's handshake waits for that slot...
    let waiting = tokio::spawn(tls_connect(addr, config, "localhost"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a second handshake ran while the only slot was taken"
    );
    // ...and runs once the slot is given back.
    drop(staller);
    let mut conn = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting handshake never got the freed slot")
        .unwrap()
        .unwrap();
    assert_eq!(tag_and_echo(&mut conn).await.unwrap(), "app");

    let (_, metrics) = admin_get(proxy.admin_addr(), "/metrics", "GET").await;
    assert_eq!(
        metric(&metrics, "tlswire_proxy_handshake_seconds_count"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "tlswire_proxy_failures_total{cause=\"handshake\"}"
        ),
        Some(1.0),
        "the stalled client's handshake is counted as failed: {metrics}"
    );
}
