//! Delivery guarantees under load: many clients, Redis restarting, SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tlswire_ingest::ConfigFile;
use tlswire_testkit::{require_program, wait_for_port, ChildGuard};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn payload(client: usize, i: usize) -> String {
    format!("{{\"c{client}:{i}\": \"value {client}/{i} with a \\\"quote\\\" and {{braces}}\"}}")
}

fn expected(client: usize, i: usize) -> String {
    format!("value {client}/{i} with a \"quote\" and {{braces}}")
}

/// Checks that keys `c{client}:0..count` hold their values.
fn check_client(redis: &Redis, client: usize, count: usize) {
    for start in (0..count).step_by(500) {
        let keys: Vec<String> = (start..count.min(start + 500))
            .map(|i| format!("c{client}:{i}"))
            .collect();
        let mut args = vec!["MGET"];
        args.extend(keys.iter().map(String::as_str));
        let reply = redis.query(&args);
        for (offset, value) in reply.arr().iter().enumerate() {
            let i = start + offset;
            assert_eq!(
                value,
                &Resp::Str(expected(client, i)),
                "key c{client}:{i} missing or wrong"
            );
        }
    }
}

/// Sends `count` payloads from one client in writes of `per_write`, without acks.
async fn send_all(
    daemon: std::net::SocketAddr,
    setup: Arc<OldSetup>,
    client: usize,
    count: usize,
    per_write: usize,
    pause: Duration,
) {
    let mut stream = connect(daemon, &setup.clients[0], &setup.server.0)
        .await
        .unwrap();
    let mut i = 0;
    while i < count {
        let mut chunk = String::new();
        for j in i..count.min(i + per_write) {
            chunk.push_str(&payload(client, j));
            if j % 3 == 0 {
                chunk.push('\n');
            }
        }
        i = count.min(i + per_write);
        stream.write_all(chunk.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    stream.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_times_a_thousand_payloads_all_land() {
    const CLIENTS: usize = 200;
    const PAYLOADS: usize = 1000;
    let setup = Arc::new(old_setup("ingest-many", 1, 1));
    let redis = Redis::start(&setup.dir.join("redis"), &[]);
    let daemon = start_daemon(setup.config(ConfigFile {
        redis_url: Some(redis.url()),
        ..ConfigFile::default()
    }))
    .await;
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        clients.spawn(send_all(
            daemon.addr,
            setup.clone(),
            client,
            PAYLOADS,
            100,
            Duration::ZERO,
        ));
    }
    while let Some(result) = clients.join_next().await {
        result.unwrap();
    }
    let total = (CLIENTS * PAYLOADS) as u64;
    wait_until("every payload stored", Duration::from_secs(90), || {
        daemon.stored() >= total
    })
    .await;
    assert_eq!(daemon.stored(), total);
    assert_eq!(redis.query(&["DBSIZE"]).int(), total as i64);
    for client in 0..CLIENTS {
        check_client(&redis, client, PAYLOADS);
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_load_loses_nothing() {
    const CLIENTS: usize = 10;
    const PAYLOADS: usize = 3000;
    let setup = Arc::new(old_setup("ingest-restart", 1, 1));
    // Durable Redis: what it acknowledged survives SIGKILL.
    let mut redis = Redis::start(
        &setup.dir.join("redis"),
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let daemon = start_daemon(setup.config(ConfigFile {
        redis_url: Some(redis.url()),
        ..ConfigFile::default()
    }))
    .await;
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        clients.spawn(send_all(
            daemon.addr,
            setup.clone(),
            client,
            PAYLOADS,
            25,
            Duration::from_millis(10),
        ));
    }
    wait_until("some payloads stored", Duration::from_secs(30), || {
        daemon.stored() > 2000
    })
    .await;
    redis.kill();
    wait_until("payloads spooled", Duration::from_secs(30), || {
        daemon.metrics.spool_depth.load(Relaxed) > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.restart();
    while let Some(result) = clients.join_next().await {
        result.unwrap();
    }
    let total = (CLIENTS * PAYLOADS) as u64;
    wait_until("every payload stored", Duration::from_secs(60), || {
        daemon.stored() >= total && daemon.metrics.spool_depth.load(Relaxed) == 0
    })
    .await;
    assert!(daemon.metrics.spooled.load(Relaxed) > 0);
    assert_eq!(redis.query(&["DBSIZE"]).int(), total as i64);
    for client in 0..CLIENTS {
        check_client(&redis, client, PAYLOADS);
    }
    daemon.stop().await;
}

const CHILD_CONFIG: &str = "TLSWIRE_INGEST_TEST_CHILD_CONFIG";

/// Not a test of its own: the daemon process that `sigterm_mid_load_loses_nothing_acked`
/// starts (this test binary run again with the config in the environment), so SIGTERM is a
/// real signal to a real process.
#[test]
fn sigterm_child_daemon() {
    let Some(path) = std::env::var_os(CHILD_CONFIG) else {
        return;
    };
    let config = ConfigFile::load(std::path::Path::new(&path)).unwrap();
    let settings = tlswire_ingest::Settings::resolve(config).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let daemon = tlswire_ingest::Ingest::bind(settings).await.unwrap();
        daemon.run(tlswire_ingest::shutdown_signal()).await.unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_loses_nothing_acked() {
    const CLIENTS: usize = 10;
    let setup = Arc::new(old_setup("ingest-sigterm", 1, 1));
    let redis = Redis::start(&setup.dir.join("redis"), &[]);
    let config = setup.config(ConfigFile {
        redis_url: Some(redis.url()),
        ack: Some(true),
        ..ConfigFile::default()
    });
    let port = config.port.unwrap();
    let toml = format!(
        "host = \"127.0.0.1\"\nport = {port}\ncert = {:?}\nkey = {:?}\nclient_certs = {:?}\nredis_url = {:?}\nspool_dir = {:?}\nack = true\nadmin = \"off\"\n",
        setup.server.0,
        setup.server.1,
        setup.bundle,
        redis.url(),
        setup.dir.join("spool"),
    );
    let config_path = setup.dir.join("ingest.toml");
    std::fs::write(&config_path, toml).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigterm_child_daemon",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_CONFIG, &config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = ChildGuard(child);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    wait_for_port(addr, Duration::from_secs(20));

    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..CLIENTS).map(|_| AtomicU64::new(0)).collect());
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (setup, acked) = (setup.clone(), acked.clone());
        clients.spawn(async move {
            let stream = connect(addr, &setup.clients[0], &setup.server.0)
                .await
                .unwrap();
            let (reader, mut writer) = stream.into_split();
            let sender = tokio::spawn(async move {
                for start in (0..1_000_000).step_by(20) {
                    let chunk: String = (start..start + 20).map(|i| payload(client, i)).collect();
                    if writer.write_all(chunk.as_bytes()).await.is_err()
                        || writer.flush().await.is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                assert_eq!(line, "ok");
                acked[client].fetch_add(1, Relaxed);
            }
            sender.abort();
        });
    }
    let total_acked = |acked: &[AtomicU64]| acked.iter().map(|a| a.load(Relaxed)).sum::<u64>();
    wait_until("acks flowing", Duration::from_secs(30), || {
        total_acked(&acked) > 3000
    })
    .await;
    let status = Command::new(require_program("kill"))
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "daemon exited with {exit:?} after SIGTERM");
    while let Some(result) = clients.join_next().await {
        result.unwrap();
    }
    for (client, count) in acked.iter().enumerate() {
        check_client(&redis, client, count.load(Relaxed) as usize);
    }
}
