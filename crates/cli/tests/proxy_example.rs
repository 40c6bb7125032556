//! The built `tlswire proxy` binary with the linkerd-tcp-shaped example configuration: it
//! starts, resolves through namerd's HTTP interface, proxies plaintext and TLS, reloads on
//! SIGHUP and drains on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tlswire_testkit::{free_port, require_program, temp_dir, wait_for_port, ChildGuard, TestPki};

/// A backend that sends `app\n`, then echoes.
fn tagged_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.write_all(b"app\n");
                let mut reader = stream.try_clone().unwrap();
                let _ = std::io::copy(&mut reader, &mut stream);
            });
        }
    });
    addr
}

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

fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

fn read_line(stream: &mut impl BufRead) -> String {
    let mut line = String::new();
    stream.read_line(&mut line).unwrap();
    line
}

#[test]
fn linkerd_tcp_example_config_starts_proxies_reloads_on_sighup_and_drains_on_sigterm() {
    let openssl = require_program("openssl");
    let dir = temp_dir("proxy-example");
    let pki = TestPki::new();
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    pki.write_all(&dir.join("certs"));
    let backend = tagged_backend();
    let namerd = fake_namerd(backend);

    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/proxy/linkerd-tcp.yml");
    let (admin, plain, tls) = (free_port(), free_port(), free_port());
    let config = std::fs::read_to_string(&example)
        .unwrap()
        .replace("port: 9989", &format!("port: {admin}"))
        .replace("port: 7474", &format!("port: {plain}"))
        .replace("port: 7575", &format!("port: {tls}"))
        .replace("http://localhost:4180", &format!("http://{namerd}"));
    let config_path = dir.join("linkerd-tcp.yml");
    std::fs::write(&config_path, config).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_tlswire"))
        .arg("proxy")
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let admin_addr: SocketAddr = format!("127.0.0.1:{admin}").parse().unwrap();
    wait_for_port(admin_addr, Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(admin_addr, "/ready").0 != 200 {
        assert!(Instant::now() < deadline, "the proxy never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut conn = TcpStream::connect(("127.0.0.1", plain)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    assert_eq!(read_line(&mut reader), "app\n");
    conn.write_all(b"ping\n").unwrap();
    assert_eq!(read_line(&mut reader), "ping\n");

    let mut s_client = Command::new(openssl)
        .args(["s_client", "-connect", &format!("127.0.0.1:{tls}")])
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
        .spawn()
        .unwrap();
    s_client
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"over tls\n")
        .unwrap();
    let mut tls_out = BufReader::new(s_client.stdout.take().unwrap());
    assert_eq!(read_line(&mut tls_out), "app\n");
    assert_eq!(read_line(&mut tls_out), "over tls\n");
    let _ = s_client.kill();
    let _ = s_client.wait();

    let (_, metrics) = http_get(admin_addr, "/metrics");
    assert!(
        metrics.contains("tlswire_proxy_handshake_seconds_count 1"),
        "{metrics}"
    );

    // SIGHUP reloads every certificate and key file.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -HUP {}", child.0.id()))
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !http_get(admin_addr, "/metrics")
        .1
        .contains("tlswire_proxy_reloads_total{kind=\"identity\",result=\"ok\"} 1")
    {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload the identity"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // SIGTERM drains: the live plaintext connection keeps working until it ends.
    // The shell's built-in `kill`, so no extra package is needed.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -TERM {}", child.0.id()))
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    conn.write_all(b"still\n").unwrap();
    assert_eq!(read_line(&mut reader), "still\n");
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    drop(reader);
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
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
