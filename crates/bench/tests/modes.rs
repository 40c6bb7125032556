//! Every mode against a real server on loopback: a tlswire (tokio adapter) echo/sink server
//! started in-process, and a real `redis-server --tls-port` for the redis mode. Each run is
//! bounded by an operation count and a duration.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tlswire_bench::connect::Target;
use tlswire_bench::modes::{self, Common};
use tlswire_bench::run::{Display, Limits};
use tlswire_bench::servers::{self, Behavior, ServerTls};
use tlswire_bench::tls::{ClientTls, ResumeMode, TlsSetupError, Version};
use tlswire_testkit::{free_port, require_program, temp_dir, wait_for_port, ChildGuard, TestPki};

struct Fixture {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn fixture(tag: &str) -> Fixture {
    let pki = TestPki::new();
    let dir = temp_dir(tag);
    let (ca, _) = pki.ca.write(&dir, "ca");
    let (cert, key) = pki.server.write(&dir, "server");
    Fixture { dir, ca, cert, key }
}

/// Starts a tlswire server with `behavior` on a free loopback port; returns its address.
async fn start_server(fx: &Fixture, behavior: Behavior, tickets: bool) -> String {
    let config = servers::server_config(&fx.cert, &fx.key, tickets).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(servers::serve(
        listener,
        ServerTls::Tlswire(config),
        behavior,
    ));
    addr.to_string()
}

fn client(fx: &Fixture) -> ClientTls {
    ClientTls {
        ca: Some(fx.ca.clone()),
        ..ClientTls::default()
    }
}

async fn common(target: &str, tls: Option<ClientTls>, count: Option<u64>, secs: u64) -> Common {
    let config = tls.map(|t| t.build().unwrap());
    let mut target = Target::resolve(target, Some("localhost"), config)
        .await
        .unwrap();
    target.connect_timeout = Duration::from_secs(5);
    Common {
        target: Arc::new(target),
        limits: Limits {
            duration: Some(Duration::from_secs(secs)),
            count,
        },
        display: Display { progress: false },
        settings: BTreeMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_mode_counts_full_and_ticket_resumed_handshakes() {
    let fx = fixture("bench-hs");
    let addr = start_server(&fx, Behavior::Echo, true).await;
    let tls = ClientTls {
        resume: ResumeMode::Tickets,
        version: Version::Tls13,
        cipher_suite: Some("TLS13_CHACHA20_POLY1305_SHA256".into()),
        group: Some("secp384r1".into()),
        ..client(&fx)
    };
    let common = common(&addr, Some(tls), Some(30), 30).await;
    let options = modes::handshake::HandshakeOptions { concurrency: 2 };
    let report = modes::handshake::run(&common, &options).await;
    let phase = &report.phases[0];
    assert_eq!(phase.totals.ops, 30, "{}", report.to_table());
    assert!(phase.totals.errors.is_empty(), "{}", report.to_table());
    let resumed = phase.totals.counters.get("resumed").copied().unwrap_or(0);
    assert!(resumed >= 20, "{}", report.to_table());
    assert!(phase.totals.latency_ms.as_ref().unwrap().count == 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_mode_resumes_tls12_by_session_id_and_full_when_asked() {
    let fx = fixture("bench-hs12");
    let addr = start_server(&fx, Behavior::Echo, false).await;
    let tls = ClientTls {
        resume: ResumeMode::SessionIds,
        version: Version::Tls12,
        cipher_suite: Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into()),
        ..client(&fx)
    };
    let report = modes::handshake::run(
        &common(&addr, Some(tls), Some(20), 30).await,
        &modes::handshake::HandshakeOptions { concurrency: 1 },
    )
    .await;
    let counters = &report.phases[0].totals.counters;
    assert_eq!(counters.get("resumed"), Some(&19), "{}", report.to_table());

    let full = ClientTls {
        resume: ResumeMode::Full,
        ..client(&fx)
    };
    let report = modes::handshake::run(
        &common(&addr, Some(full), Some(10), 30).await,
        &modes::handshake::HandshakeOptions { concurrency: 2 },
    )
    .await;
    let counters = &report.phases[0].totals.counters;
    assert_eq!(counters.get("full"), Some(&10), "{}", report.to_table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_cause_while_the_run_goes_on() {
    let fx = fixture("bench-fail");
    let addr = start_server(&fx, Behavior::Echo, true).await;
    // Wrong CA: the server's certificate does not chain to the client's roots.
    let other = fixture("bench-fail-other");
    let report = modes::handshake::run(
        &common(&addr, Some(client(&other)), Some(5), 30).await,
        &modes::handshake::HandshakeOptions { concurrency: 1 },
    )
    .await;
    let totals = &report.phases[0].totals;
    assert_eq!(totals.ops, 0);
    let causes: Vec<&String> = totals.errors.keys().collect();
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert!(causes[0].contains("bad server certificate"), "{causes:?}");
    assert_eq!(totals.errors[causes[0]], 5);
    assert!(report.to_table().contains("errors by cause"));

    // Unreachable: nothing listens on the port.
    let closed = format!("127.0.0.1:{}", free_port());
    let report = modes::latency::run(
        &common(&closed, Some(client(&fx)), Some(10), 1).await,
        &modes::latency::LatencyOptions {
            connections: 1,
            size: 16,
        },
    )
    .await;
    let errors = &report.phases[0].totals.errors;
    assert!(
        errors
            .get("connect: connection refused")
            .copied()
            .unwrap_or(0)
            >= 3,
        "{errors:?}"
    );

    // A bad setting is refused before the run, naming the valid choices.
    let bad = ClientTls {
        cipher_suite: Some("TLS_NO_SUCH_SUITE".into()),
        ..client(&fx)
    };
    match bad.build() {
        Err(e @ TlsSetupError::UnknownCipherSuite { .. }) => {
            assert!(e.to_string().contains("TLS13_AES_128_GCM_SHA256"), "{e}")
        }
        other => panic!("expected an unknown-suite error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_mode_streams_both_ways_through_an_echo_and_up_to_a_sink() {
    let fx = fixture("bench-tp");
    let echo = start_server(&fx, Behavior::Echo, true).await;
    let total: u64 = 4 * 1024 * 1024;
    let report = modes::throughput::run(
        &common(&echo, Some(client(&fx)), Some(total), 3).await,
        &modes::throughput::ThroughputOptions {
            connections: 2,
            direction: modes::throughput::Direction::Both,
            chunk: 16 * 1024,
        },
    )
    .await;
    let totals = &report.phases[0].totals;
    assert_eq!(totals.bytes_sent, total, "{}", report.to_table());
    assert!(totals.bytes_received > 0, "{}", report.to_table());
    assert!(totals.errors.is_empty(), "{}", report.to_table());

    let sink = start_server(&fx, Behavior::Sink, true).await;
    let report = modes::throughput::run(
        &common(&sink, Some(client(&fx)), Some(total), 3).await,
        &modes::throughput::ThroughputOptions {
            connections: 1,
            direction: modes::throughput::Direction::Up,
            chunk: 16 * 1024,
        },
    )
    .await;
    assert_eq!(report.phases[0].totals.bytes_sent, total);
    assert!(report.phases[0].totals.mb_per_s > 0.0);

    let source = start_server(&fx, Behavior::Source, true).await;
    let report = modes::throughput::run(
        &common(&source, Some(client(&fx)), None, 1).await,
        &modes::throughput::ThroughputOptions {
            connections: 1,
            direction: modes::throughput::Direction::Down,
            chunk: 16 * 1024,
        },
    )
    .await;
    assert!(
        report.phases[0].totals.bytes_received > 0,
        "{}",
        report.to_table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_mode_ramps_up_and_holds_every_connection() {
    let fx = fixture("bench-hold");
    let addr = start_server(&fx, Behavior::Echo, true).await;
    let options = modes::hold::HoldOptions {
        connections: 40,
        ramp_per_sec: 100.0,
    };
    let report = modes::hold::run(&common(&addr, Some(client(&fx)), None, 2).await, &options).await;
    let totals = &report.phases[0].totals;
    assert_eq!(
        totals.counters.get("established"),
        Some(&40),
        "{}",
        report.to_table()
    );
    assert_eq!(
        totals.counters.get("held to the end"),
        Some(&40),
        "{}",
        report.to_table()
    );
    assert!(
        totals.timeline.iter().any(|s| s.open == 40),
        "{:?}",
        totals.timeline
    );
    let svg = report.to_svg();
    assert!(svg.contains("<polyline"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_mode_measures_round_trips_against_an_echo() {
    let fx = fixture("bench-lat");
    let addr = start_server(&fx, Behavior::Echo, true).await;
    let report = modes::latency::run(
        &common(&addr, Some(client(&fx)), Some(300), 30).await,
        &modes::latency::LatencyOptions {
            connections: 3,
            size: 100,
        },
    )
    .await;
    let totals = &report.phases[0].totals;
    assert_eq!(totals.ops, 300, "{}", report.to_table());
    assert_eq!(totals.bytes_sent, 30_000);
    let latency = totals.latency_ms.as_ref().unwrap();
    assert!(latency.p50 > 0.0 && latency.p50 <= latency.p999);
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["phases"][0]["ops"], 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_mode_pipelines_ping_set_get_over_tls_and_plain() {
    let fx = fixture("bench-redis");
    let redis = require_program("redis-server");
    let (tls_port, plain_port) = (free_port(), free_port());
    let child = Command::new(redis)
        .args(["--port", &plain_port.to_string()])
        .args(["--tls-port", &tls_port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--tls-cert-file")
        .arg(&fx.cert)
        .arg("--tls-key-file")
        .arg(&fx.key)
        .arg("--tls-ca-cert-file")
        .arg(&fx.ca)
        .args(["--tls-auth-clients", "no", "--dir"])
        .arg(&fx.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let _guard = ChildGuard(child);
    let tls_addr = format!("127.0.0.1:{tls_port}");
    wait_for_port(tls_addr.parse().unwrap(), Duration::from_secs(10));

    let options = modes::redis::RedisOptions {
        clients: 4,
        pipeline: 8,
        commands: vec![
            tlswire_bench::resp::Command::Ping,
            tlswire_bench::resp::Command::Set,
            tlswire_bench::resp::Command::Get,
        ],
        keyspace: Some(1000),
        value_size: 10,
    };
    let report = modes::redis::run(
        &common(&tls_addr, Some(client(&fx)), Some(4000), 30).await,
        &options,
    )
    .await;
    assert_eq!(report.phases.len(), 3);
    for phase in &report.phases {
        assert_eq!(phase.totals.ops, 4000, "{}", report.to_table());
        assert!(phase.totals.errors.is_empty(), "{}", report.to_table());
    }
    assert!(report.rate("GET").unwrap() > 0.0);

    let plain = format!("127.0.0.1:{plain_port}");
    let report = modes::redis::run(&common(&plain, None, Some(1000), 30).await, &options).await;
    assert_eq!(report.phases[2].totals.ops, 1000, "{}", report.to_table());
}
