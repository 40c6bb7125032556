//! Ctrl-C (SIGINT) ends a run early with the partial figures. Its own test binary, because the
//! signal goes to the whole process.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_bench::connect::Target;
use tlswire_bench::modes::{self, Common};
use tlswire_bench::run::{Display, Limits};
use tlswire_bench::servers::{self, Behavior, ServerTls};
use tlswire_bench::tls::ClientTls;
use tlswire_testkit::{require_program, temp_dir, TestPki};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_the_run_with_a_partial_summary() {
    let kill = require_program("kill");
    let pki = TestPki::new();
    let dir = temp_dir("bench-int");
    let (ca, _) = pki.ca.write(&dir, "ca");
    let (cert, key) = pki.server.write(&dir, "server");
    let config = servers::server_config(&cert, &key, true).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(servers::serve(
        listener,
        ServerTls::Tlswire(config),
        Behavior::Echo,
    ));

    let tls = ClientTls {
        ca: Some(ca),
        ..ClientTls::default()
    }
    .build()
    .unwrap();
    let target = Target::resolve(&addr, Some("localhost"), Some(tls))
        .await
        .unwrap();
    let common = Common {
        target: Arc::new(target),
        limits: Limits {
            duration: Some(Duration::from_secs(60)),
            count: None,
        },
        display: Display { progress: false },
        settings: BTreeMap::new(),
    };
    // Installed first, so a SIGINT that arrives before the run listens cannot kill the test
    // process (tokio keeps its handler for the process once installed).
    let _guard = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).unwrap();
    let started = Instant::now();
    let run = tokio::spawn(async move {
        modes::latency::run(
            &common,
            &modes::latency::LatencyOptions {
                connections: 1,
                size: 32,
            },
        )
        .await
    });
    // Let the run get going (and its signal handler be installed), then press Ctrl-C.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = Command::new(kill)
        .args(["-INT", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run stops soon after Ctrl-C")
        .unwrap();
    assert!(report.interrupted, "{}", report.to_table());
    assert!(report.phases[0].totals.ops > 0, "{}", report.to_table());
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(report.to_table().contains("interrupted: partial figures"));
}
