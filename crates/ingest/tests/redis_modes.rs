//! Redis Cluster through seed nodes, and `rediss://` through tlswire-tokio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tlswire_ingest::ConfigFile;
use tlswire_testkit::require_program;

/// A free port whose cluster bus port (+10000) is free too.
fn cluster_port() -> u16 {
    for _ in 0..200 {
        let port = tlswire_testkit::free_port();
        if port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

fn payloads(count: usize) -> (Vec<u8>, Vec<(String, String)>) {
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..count {
        input.extend_from_slice(
            format!("{{\"key{i}\": \"value{i}\", \"hash{i}\": {{\"f\": {i}}}}}").as_bytes(),
        );
        expected.push((format!("key{i}"), format!("value{i}")));
    }
    (input, expected)
}

async fn send(daemon: &Daemon, setup: &OldSetup, input: &[u8]) -> usize {
    let options = tlswire_ingest::SendOptions {
        addr: daemon.addr.to_string(),
        server_name: None,
        cert: setup.clients[0].0.clone(),
        key: setup.clients[0].1.clone(),
        server_cert: setup.server.0.clone(),
        wait_for_acks: true,
    };
    let report = tlswire_ingest::send(&options, input).await.unwrap();
    assert!(report.acks.iter().all(|a| a == "ok"), "{:?}", report.acks);
    report.acks.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_redis_cluster_round_trips() {
    let setup = old_setup("ingest-cluster", 1, 1);
    let nodes: Vec<Redis> = (0..3)
        .map(|i| {
            Redis::start_on(
                cluster_port(),
                &setup.dir.join(format!("node{i}")),
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ],
            )
        })
        .collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let created = Command::new(require_program("redis-cli"))
        .arg("--cluster")
        .arg("create")
        .args(&addresses)
        .arg("--cluster-yes")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "redis-cli --cluster create failed: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    wait_until(
        "cluster_state:ok on every node",
        Duration::from_secs(30),
        || {
            nodes.iter().all(|n| match n.query(&["CLUSTER", "INFO"]) {
                Resp::Str(info) => info.contains("cluster_state:ok"),
                _ => false,
            })
        },
    )
    .await;
    let daemon = start_daemon(setup.config(ConfigFile {
        // One seed is enough: the slot map names the others.
        redis_cluster: Some(vec![addresses[0].clone()]),
        ack: Some(true),
        ..ConfigFile::default()
    }))
    .await;
    let (input, expected) = payloads(200);
    assert_eq!(send(&daemon, &setup, &input).await, 200);
    let sizes: Vec<i64> = nodes.iter().map(|n| n.query(&["DBSIZE"]).int()).collect();
    assert_eq!(sizes.iter().sum::<i64>(), 400, "{sizes:?}");
    assert!(
        sizes.iter().all(|&n| n > 0),
        "keys spread over every node: {sizes:?}"
    );
    for (i, (key, value)) in expected.iter().enumerate() {
        let found: Vec<Resp> = nodes
            .iter()
            .map(|n| n.query(&["GET", key]))
            .filter(|r| !matches!(r, Resp::Err(_)))
            .collect();
        assert_eq!(found, [Resp::Str(value.clone())], "{key}");
        let field: Vec<Resp> = nodes
            .iter()
            .map(|n| n.query(&["HGET", &format!("hash{i}"), "f"]))
            .filter(|r| !matches!(r, Resp::Err(_)))
            .collect();
        assert_eq!(field, [Resp::Str(i.to_string())]);
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_to_redis_server_tls_port_round_trips() {
    let setup = old_setup("ingest-rediss", 1, 1);
    let certs = tlswire_devcerts::generate(&["localhost", "127.0.0.1"], &["ingest"]).unwrap();
    let files = certs.write_to(&setup.dir.join("redis-tls")).unwrap();
    let (client_cert, client_key) = (files.clients[0].1.clone(), files.clients[0].2.clone());
    let tls_port = tlswire_testkit::free_port();
    let redis = Redis::start_on(
        tls_port,
        &setup.dir.join("redis"),
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            files.server_cert.to_str().unwrap(),
            "--tls-key-file",
            files.server_key.to_str().unwrap(),
            "--tls-ca-cert-file",
            files.ca_cert.to_str().unwrap(),
        ],
    );
    let daemon = start_daemon(setup.config(ConfigFile {
        redis_url: Some(format!("rediss://127.0.0.1:{}/3", redis.port)),
        redis_tls_ca: Some(files.ca_cert.clone()),
        redis_tls_cert: Some(client_cert.clone()),
        redis_tls_key: Some(client_key.clone()),
        ack: Some(true),
        ..ConfigFile::default()
    }))
    .await;
    let (input, expected) = payloads(50);
    assert_eq!(send(&daemon, &setup, &input).await, 50);
    let spooled = daemon
        .metrics
        .spooled
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(spooled, 0, "every batch went straight to Redis over TLS");
    daemon.stop().await;
    let cli = |args: &[&str]| {
        let out = Command::new(require_program("redis-cli"))
            .args([
                "--tls",
                "-h",
                "127.0.0.1",
                "-p",
                &redis.port.to_string(),
                "-n",
                "3",
            ])
            .arg("--cacert")
            .arg(&files.ca_cert)
            .arg("--cert")
            .arg(&client_cert)
            .arg("--key")
            .arg(&client_key)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cli(&["DBSIZE"]), "100");
    assert_eq!(cli(&["GET", &expected[7].0]), expected[7].1);
    assert_eq!(cli(&["HGET", "hash42", "f"]), "42");
}
