//! DNS discovery against a real `dnsmasq` on a loopback port: SRV weights and priorities,
//! following record changes, keeping endpoints when the name goes away, and A records from a
//! configured nameserver.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tlswire_proxy::Proxy;
use tlswire_testkit::{free_port, require_program, temp_dir, ChildGuard};

const SRV_NAME: &str = "_echo._tcp.test.internal";

/// `dnsmasq` answering from its command line only, on `127.0.0.1:port` (UDP and TCP).
///
/// `records` are `--srv-host=...` / `--host-record=...` arguments; `--local` makes every other
/// name under test.internal NXDOMAIN instead of a query to an upstream.
fn start_dnsmasq(port: u16, records: &[String]) -> ChildGuard {
    let program = require_program("dnsmasq");
    let child = Command::new(program)
        .args([
            "--keep-in-foreground",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
            "--local=/test.internal/",
            "--log-facility=-",
        ])
        .args(records)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dnsmasq did not start");
    let guard = ChildGuard(child);
    wait_answering(port);
    guard
}

/// Waits until the server answers a UDP question (any answer).
fn wait_answering(port: u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // A query for `x.test.internal` type A, id 0x0102.
    let query = b"\x01\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01x\x04test\x08internal\x00\x00\x01\x00\x01";
    let mut buf = [0u8; 512];
    for _ in 0..100 {
        let _ = socket.send_to(query, ("127.0.0.1", port));
        if socket.recv(&mut buf).is_ok() {
            return;
        }
    }
    panic!("dnsmasq never answered on port {port}");
}

fn srv(target: &str, backend: &Backend, priority: u16, weight: u16) -> String {
    format!(
        "--srv-host={SRV_NAME},{target},{},{priority},{weight}",
        backend.addr.port()
    )
}

fn host(name: &str) -> String {
    format!("--host-record={name},127.0.0.1")
}

/// A proxy whose listener 0 serves `/svc/echo` (the SRV name) and listener 1 `/svc/host`
/// (`host:PORT` of `backend`), both resolved by `dnsmasq` on `dns_port` every second.
async fn start_dns_proxy(dns_port: u16, host: &str, backend: &Backend, dir: &str) -> Proxy {
    let yaml = format!(
        r#"
admin: {{port: 0}}
routers:
  - interpreter:
      kind: io.l5d.dns
      names: {{/svc/echo: {SRV_NAME}, /svc/host: "{host}:{port}"}}
      nameservers: ["127.0.0.1:{dns_port}"]
      periodSecs: 1
    servers: [{{port: 0, dstName: /svc/echo}}, {{port: 0, dstName: /svc/host}}]
"#,
        port = backend.addr.port()
    );
    start_proxy(&yaml, &temp_dir(dir)).await
}

/// Connects until a backend other than `old` answers; false if none does within ~6 s.
async fn moves_away_from(addr: SocketAddr, old: &str) -> bool {
    for _ in 0..120 {
        if tag_via(addr).await.map(|t| t != old).unwrap_or(false) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_weights_split_traffic_and_the_lowest_priority_number_wins() {
    let heavy = Backend::start("heavy", Behaviour::Tagged).await;
    let light = Backend::start("light", Behaviour::Tagged).await;
    let backup = Backend::start("backup", Behaviour::Tagged).await;
    let dns_port = free_port();
    let _dns = start_dnsmasq(
        dns_port,
        &[
            // Priority 0 wins over all, but its target has no address: the next group is used.
            format!("--srv-host={SRV_NAME},gone.test.internal,9,0,50"),
            srv("a.test.internal", &heavy, 1, 3),
            srv("b.test.internal", &light, 1, 1),
            srv("c.test.internal", &backup, 2, 100),
            host("a.test.internal"),
            host("b.test.internal"),
            host("c.test.internal"),
        ],
    );
    let proxy = start_dns_proxy(dns_port, "a.test.internal", &heavy, "proxy-dns-srv").await;
    wait_ready(&proxy).await;
    let addr = listener(&proxy, 0);
    let total = 300;
    let mut to_heavy = 0;
    for i in 0..total {
        match tag_via(addr).await.unwrap().as_str() {
            "heavy" => to_heavy += 1,
            "light" => {}
            other => panic!("connection {i} reached {other}, outside the winning priority group"),
        }
    }
    // Expected 225 of 300 (weights 3:1); the binomial standard deviation is 7.5.
    assert!(
        (190..=260).contains(&to_heavy),
        "SRV weight 3 of 4 got {to_heavy} of {total}"
    );
    assert_eq!(backup.connections(), 0);
    // The HOST:PORT form asks the configured nameserver too.
    assert_eq!(tag_via(listener(&proxy, 1)).await.unwrap(), "heavy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_changes_are_followed_and_a_vanished_name_keeps_the_endpoints() {
    let one = Backend::start("one", Behaviour::Tagged).await;
    let two = Backend::start("two", Behaviour::Tagged).await;
    let dns_port = free_port();
    let hosts = [host("a.test.internal"), host("b.test.internal")];
    let mut records = vec![srv("a.test.internal", &one, 0, 1)];
    records.extend(hosts.iter().cloned());
    let dns = start_dnsmasq(dns_port, &records);
    let proxy = start_dns_proxy(dns_port, "b.test.internal", &two, "proxy-dns-change").await;
    wait_ready(&proxy).await;
    let addr = listener(&proxy, 0);
    assert_eq!(tag_via(addr).await.unwrap(), "one");

    // New records: `two` at a lower priority number, `one` demoted to a backup.
    drop(dns);
    let mut records = vec![
        srv("b.test.internal", &two, 0, 1),
        srv("a.test.internal", &one, 10, 1),
    ];
    records.extend(hosts.iter().cloned());
    let dns = start_dnsmasq(dns_port, &records);
    assert!(
        moves_away_from(addr, "one").await,
        "the proxy did not follow the new SRV records"
    );
    for _ in 0..20 {
        assert_eq!(tag_via(addr).await.unwrap(), "two");
    }

    // The name disappears (NXDOMAIN), then the server itself: the last endpoints stay.
    drop(dns);
    let dns = start_dnsmasq(dns_port, &hosts);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for _ in 0..10 {
        assert_eq!(tag_via(addr).await.unwrap(), "two");
    }
    drop(dns);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for _ in 0..10 {
        assert_eq!(tag_via(addr).await.unwrap(), "two");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_name_without_records_fails_alone() {
    let backend = Backend::start("backend", Behaviour::Tagged).await;
    let dns_port = free_port();
    let _dns = start_dnsmasq(dns_port, &[host("a.test.internal")]);
    let proxy = start_dns_proxy(dns_port, "a.test.internal", &backend, "proxy-dns-empty").await;
    let host_route = listener(&proxy, 1);
    let mut reached = false;
    for _ in 0..100 {
        if tag_via(host_route).await.is_ok() {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reached, "the HOST:PORT route never resolved");
    // Two periods later the SRV route has still nothing: its connections fail, alone.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for _ in 0..5 {
        assert!(tag_via(listener(&proxy, 0)).await.is_err());
    }
    assert_eq!(tag_via(host_route).await.unwrap(), "backend");
    let (status, _) = admin_get(proxy.admin_addr(), "/ready", "GET").await;
    assert_eq!(status, 503, "a destination without endpoints is not ready");
}
