//! Balancing, fail-fast parking, connection limits and discovery, with real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod proxy_support;

use std::time::Duration;

use proxy_support::*;
use tlswire_testkit::{temp_dir, TestPki};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_distribution_within_tolerance() {
    let light = Backend::start("light", Behaviour::Tagged).await;
    let heavy = Backend::start("heavy", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter:
      kind: io.l5d.static
      names:
        /svc/w: [{{addr: "{l}", weight: 1}}, {{addr: "{h}", weight: 3}}]
    servers: [{{port: 0, dstName: /svc/w}}]
"#,
        l = light.addr,
        h = heavy.addr
    );
    let proxy = start_proxy(&yaml, &temp_dir("proxy-weights")).await;
    let addr = listener(&proxy, 0);
    let total = 400;
    let mut to_heavy = 0;
    for _ in 0..total {
        if tag_via(addr).await.unwrap() == "heavy" {
            to_heavy += 1;
        }
    }
    // Expected 300 of 400; the binomial standard deviation is about 9.
    assert!(
        (255..=345).contains(&to_heavy),
        "weight 3 of 4 got {to_heavy} of {total}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backend_is_parked_while_traffic_continues_then_recovers() {
    let steady = Backend::start("steady", Behaviour::Tagged).await;
    let flaky = Backend::start("flaky", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter:
      kind: io.l5d.static
      names:
        /svc/p: [{{addr: "{s}"}}, {{addr: "{f}"}}]
    servers: [{{port: 0, dstName: /svc/p}}]
    client: {{failureThreshold: 2, penaltyMs: 1500, connectAttempts: 3}}
"#,
        s = steady.addr,
        f = flaky.addr
    );
    let proxy = start_proxy(&yaml, &temp_dir("proxy-park")).await;
    let addr = listener(&proxy, 0);
    for _ in 0..20 {
        tag_via(addr).await.unwrap();
    }
    assert!(flaky.connections() > 0);

    let flaky_addr = flaky.kill().await;
    for i in 0..40 {
        let tag = tag_via(addr)
            .await
            .unwrap_or_else(|e| panic!("connection {i} failed while one backend is down: {e}"));
        assert_eq!(tag, "steady");
    }
    let (_, metrics) = admin_get(proxy.admin_addr(), "/metrics", "GET").await;
    let parked = metric(
        &metrics,
        &format!("tlswire_proxy_endpoint_parked{{dst=\"/svc/p\",endpoint=\"{flaky_addr}\""),
    );
    assert_eq!(parked, Some(1.0), "{metrics}");

    let revived = Backend::start_on(flaky_addr, "flaky", Behaviour::Tagged).await;
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let mut back = 0;
    for _ in 0..40 {
        if tag_via(addr).await.unwrap() == "flaky" {
            back += 1;
        }
    }
    assert!(
        back > 0,
        "the revived backend got no traffic after the penalty"
    );
    assert_eq!(revived.connections(), back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_connections_are_refused_fast_and_counted() {
    let backend = Backend::start("b", Behaviour::Tagged).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter: {{kind: io.l5d.static, names: {{/svc/b: [{{addr: "{b}"}}]}}}}
    servers: [{{port: 0, dstName: /svc/b, maxConcurrency: 2}}]
"#,
        b = backend.addr
    );
    let proxy = start_proxy(&yaml, &temp_dir("proxy-limit")).await;
    let addr = listener(&proxy, 0);
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert_eq!(tag_and_echo(&mut first).await.unwrap(), "b");
    assert_eq!(tag_and_echo(&mut second).await.unwrap(), "b");
    let mut third = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("the excess connection must be closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(proxy.refused_count().await, 1);
    drop(first);
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_file_discovery_follows_changes() {
    let dir = temp_dir("proxy-fs");
    let one = Backend::start("one", Behaviour::Tagged).await;
    let two = Backend::start("two", Behaviour::Tagged).await;
    std::fs::create_dir_all(dir.join("disco")).unwrap();
    std::fs::write(dir.join("disco/web"), format!("{} 1\n", one.addr)).unwrap();
    let yaml = r#"
admin: {port: 0}
routers:
  - interpreter: {kind: io.l5d.fs, rootDir: disco, periodMs: 50}
    servers: [{port: 0, dstName: /svc/web}]
"#;
    let proxy = start_proxy(yaml, &dir).await;
    let addr = listener(&proxy, 0);
    wait_ready(&proxy).await;
    assert_eq!(tag_via(addr).await.unwrap(), "one");
    std::fs::write(
        dir.join("disco/web"),
        format!("# moved\n{} {}\n", two.addr.ip(), two.addr.port()),
    )
    .unwrap();
    let mut moved = false;
    for _ in 0..100 {
        if tag_via(addr).await.unwrap() == "two" {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(moved, "the endpoint file change was not picked up");
}

/// A fake namerd speaking the HTTP interface, over TLS when `tls` is given: plain answers, or a
/// chunked watch stream that sends the first address set, then the second after `switch`.
async fn fake_namerd(
    first: std::net::SocketAddr,
    second: std::net::SocketAddr,
    switch: tokio::sync::watch::Receiver<bool>,
    tls: Option<tlswire_tokio::TlsAcceptor>,
) -> std::net::SocketAddr {
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let body = |a: std::net::SocketAddr| {
        format!(
            r#"{{"type":"bound","addrs":[{{"ip":"{}","port":{},"meta":{{"endpoint_addr_weight":1.0}}}}],"meta":{{}}}}"#,
            a.ip(),
            a.port()
        )
    };
    tokio::spawn(async move {
        loop {
            let (tcp, _) = socket.accept().await.unwrap();
            let (switch, tls) = (switch.clone(), tls.clone());
            let (first, second) = (body(first), body(second));
            tokio::spawn(async move {
                match tls {
                    None => answer_namerd(tcp, switch, first, second).await,
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(tcp).await {
                            answer_namerd(stream, switch, first, second).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn answer_namerd<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut switch: tokio::sync::watch::Receiver<bool>,
    first: String,
    second: String,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(
        head.starts_with("GET /api/1/resolve/default?path=/svc/web"),
        "unexpected namerd request {head:?}"
    );
    if head.contains("watch=true") {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let current = if *switch.borrow() { &second } else { &first };
        let chunk = format!("{:x}\r\n{current}\r\n", current.len());
        let _ = stream.write_all(chunk.as_bytes()).await;
        let _ = stream.flush().await;
        let _ = switch.wait_for(|s| *s).await;
        // Split the update across two chunks, as a stream may.
        let (x, y) = second.split_at(10);
        let chunks = format!("{:x}\r\n{x}\r\n{:x}\r\n{y}\r\n", x.len(), y.len());
        let _ = stream.write_all(chunks.as_bytes()).await;
        let _ = stream.flush().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    } else {
        let current = if *switch.borrow() { &second } else { &first };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{current}",
            current.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

/// Checks that both listeners of `proxy` (polled, then watched) send to `one`, and to `two`
/// once `switch` tells the fake namerd to change its answer.
async fn follows_namerd(proxy: &ProxyProcess, switch: &tokio::sync::watch::Sender<bool>) {
    let (polled, watched) = (listener(proxy, 0), listener(proxy, 1));
    assert_eq!(tag_via(polled).await.unwrap(), "one");
    assert_eq!(tag_via(watched).await.unwrap(), "one");
    switch.send(true).unwrap();
    for addr in [watched, polled] {
        let mut moved = false;
        for _ in 0..150 {
            if tag_via(addr).await.unwrap() == "two" {
                moved = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(moved, "namerd's update did not reach the listener {addr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namerd_polling_and_long_polling() {
    let one = Backend::start("one", Behaviour::Tagged).await;
    let two = Backend::start("two", Behaviour::Tagged).await;
    let (switch, switch_rx) = tokio::sync::watch::channel(false);
    let namerd = fake_namerd(one.addr, two.addr, switch_rx, None).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - label: polled
    interpreter: {{kind: io.l5d.namerd.http, baseUrl: "http://{namerd}", namespace: default, periodSecs: 1}}
    servers: [{{port: 0, dstName: /svc/web}}]
  - label: watched
    interpreter: {{kind: io.l5d.namerd.http, baseUrl: "http://{namerd}", longPoll: true}}
    servers: [{{port: 0, dstName: /svc/web}}]
"#
    );
    let proxy = start_proxy(&yaml, &temp_dir("proxy-namerd")).await;
    wait_ready(&proxy).await;
    follows_namerd(&proxy, &switch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namerd_over_tls() {
    let dir = temp_dir("proxy-namerd-tls");
    let pki = TestPki::new();
    pki.write_all(&dir);
    let one = Backend::start("one", Behaviour::Tagged).await;
    let two = Backend::start("two", Behaviour::Tagged).await;
    let (switch, switch_rx) = tokio::sync::watch::channel(false);
    let acceptor = tlswire_tokio::TlsAcceptor::new(pki.server_config());
    let namerd = fake_namerd(one.addr, two.addr, switch_rx, Some(acceptor)).await;
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - label: polled
    interpreter:
      kind: io.l5d.namerd.http
      baseUrl: "https://{namerd}"
      periodSecs: 1
      tls: {{dnsName: localhost, trustCerts: [ca.crt]}}
    servers: [{{port: 0, dstName: /svc/web}}]
  - label: watched
    interpreter:
      kind: io.l5d.namerd.http
      baseUrl: "https://{namerd}"
      longPoll: true
      tls: {{dnsName: localhost, trustCerts: [ca.crt]}}
    servers: [{{port: 0, dstName: /svc/web}}]
"#
    );
    let proxy = start_proxy(&yaml, &dir).await;
    follows_namerd(&proxy, &switch).await;
}
