//! The built `tlswire proxy` binary with the linkerd-tcp-shaped example configuration: it
//! starts, resolves through namerd's HTTP interface, proxies plaintext and TLS, reloads on
//! SIGHUP and drains on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod proxy_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use proxy_support::*;
use tlswire_testkit::{require_program, temp_dir, TestPki};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A namerd HTTP interface that binds every name to `backend`.
fn fake_namerd(backend: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!(
                r#"{{"type":"bound","addrs":[{{"ip":"{}","port":{},"meta":{{}}}}],"meta":{{}}}}"#,
                backend.ip(),
                backend.port()
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkerd_tcp_example_config_starts_proxies_reloads_on_sighup_and_drains_on_sigterm() {
    let openssl = require_program("openssl");
    let dir = temp_dir("proxy-example");
    let pki = TestPki::new();
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    pki.write_all(&dir.join("certs"));
    let backend = Backend::start("app", Behaviour::Tagged).await;
    let namerd = fake_namerd(backend.addr);

    // Every port becomes 0; the harness learns the bound ones from the proxy's log.
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/proxy/linkerd-tcp.yml");
    let config = std::fs::read_to_string(&example)
        .unwrap()
        .replace("port: 9989", "port: 0")
        .replace("port: 7474", "port: 0")
        .replace("port: 7575", "port: 0")
        .replace("http://localhost:4180", &format!("http://{namerd}"));
    let proxy = start_proxy(&config, &dir).await;
    let (plain, tls) = (listener(&proxy, 0), listener(&proxy, 1));

    let mut conn = TcpStream::connect(plain).await.unwrap();
    assert_eq!(read_line(&mut conn).await.unwrap(), "app\n");
    conn.write_all(b"ping\n").await.unwrap();
    assert_eq!(read_line(&mut conn).await.unwrap(), "ping\n");

    let mut s_client = tokio::process::Command::new(openssl)
        .args(["s_client", "-connect", &tls.to_string()])
        .args([
            "-servername",
            "localhost",
            "-verify_return_error",
            "-quiet",
            "-CAfile",
        ])
        .arg(dir.join("certs/ca.crt"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = s_client.stdin.take().unwrap();
    stdin.write_all(b"over tls\n").await.unwrap();
    let mut tls_out = s_client.stdout.take().unwrap();
    assert_eq!(read_line(&mut tls_out).await.unwrap(), "app\n");
    assert_eq!(read_line(&mut tls_out).await.unwrap(), "over tls\n");
    let _ = s_client.kill().await;

    assert_eq!(proxy.handshake_count().await, 1);

    // SIGHUP reloads every certificate and key file.
    assert_eq!(proxy.reload().await, 0, "SIGHUP failed to reload a file");
    let identity = "tlswire_proxy_reloads_total{kind=\"identity\",result=\"ok\"}";
    assert_eq!(
        metric(&proxy.metrics().await, identity),
        Some(1.0),
        "SIGHUP did not reload the identity"
    );

    // SIGTERM drains: the live plaintext connection keeps working until it ends.
    proxy.signal("TERM");
    proxy.wait_draining().await;
    conn.write_all(b"still\n").await.unwrap();
    assert_eq!(read_line(&mut conn).await.unwrap(), "still\n");
    conn.shutdown().await.unwrap();
    drop(conn);
    let exit = proxy.wait_exit(Duration::from_secs(15)).await;
    assert!(exit.success(), "exit status {exit}");
}

#[test]
fn a_bad_config_names_the_key_and_line() {
    let dir = temp_dir("proxy-badconfig");
    let path = dir.join("bad.yml");
    std::fs::write(
        &path,
        "routers:\n  - servers:\n      - port: 1\n        dstName: /svc/a\n        tsl: {}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tlswire"))
        .args(["proxy", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `tsl`"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("bad.yml"), "{err}");
}
