//! End-to-end ingest benchmark: 100 concurrent mTLS clients → daemon → Redis, 200-byte dicts.
//!
//! Measures payloads/s (no acks) and the send→stored latency in ack mode, and, in the same
//! run, `redis-benchmark --tls -P 16`'s SET rate against the same redis-server (the ceiling
//! Redis itself sets on this machine). Prints the ratios.
//!
//! Run: `cargo bench -p tlswire-ingest --bench ingest_throughput` (env `RUNS`, `PAYLOADS`).
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a tiny smoke run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_ingest::{ConfigFile, Ingest, Metrics, Settings};
use tlswire_testkit::{free_port, require_program, wait_for_port, ChildGuard};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const CLIENTS: usize = 100;
const PAYLOAD_BYTES: usize = 200;
/// Payloads in flight per client in ack mode.
const ACK_WINDOW: usize = 8;

struct Files {
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    bundle: PathBuf,
    dir: PathBuf,
}

/// A 200-byte JSON dict (key cycles over 1,000 per client so Redis memory stays bounded).
fn payload(client: usize, i: usize) -> Vec<u8> {
    let head = format!("{{\"bench:{client}:{}\": \"", i % 1000);
    let tail = "\"}";
    let pad = PAYLOAD_BYTES - head.len() - tail.len();
    let mut out = head.into_bytes();
    out.extend(std::iter::repeat_n(b'x', pad));
    out.extend_from_slice(tail.as_bytes());
    out
}

async fn start_daemon(
    files: &Files,
    redis_port: u16,
    ack: bool,
) -> (SocketAddr, Arc<Metrics>, tokio::sync::oneshot::Sender<()>) {
    let settings = Settings::resolve(ConfigFile {
        host: Some("127.0.0.1".into()),
        port: Some(free_port()),
        cert: Some(files.server.0.clone()),
        key: Some(files.server.1.clone()),
        client_certs: Some(files.bundle.clone()),
        redis_url: Some(format!("redis://127.0.0.1:{redis_port}")),
        spool_dir: Some(files.dir.join("spool")),
        admin: Some("off".into()),
        ack: Some(ack),
        ..ConfigFile::default()
    })
    .unwrap();
    let daemon = Ingest::bind(settings).await.unwrap();
    let addr = daemon.local_addr().unwrap();
    let metrics = daemon.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(daemon.run(async {
        let _ = stopped.await;
    }));
    (addr, metrics, stop)
}

async fn connect(
    addr: SocketAddr,
    files: &Files,
) -> tlswire_tokio::TlsStream<tokio::net::TcpStream> {
    let config = tlswire_core::ClientOptions::new(tlswire_core::ServerTrust::Roots(Arc::new(
        tlswire_core::load_roots(&files.ca).unwrap(),
    )))
    .with_identity(tlswire_core::load_identity(&files.client.0, &files.client.1).unwrap())
    .build()
    .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tlswire_tokio::TlsConnector::new(config)
        .connect("localhost", tcp)
        .await
        .unwrap()
}

/// Payloads/s from the first byte sent until the store confirmed the last payload.
async fn throughput_run(files: Arc<Files>, redis_port: u16, total: usize) -> f64 {
    let (addr, metrics, stop) = start_daemon(&files, redis_port, false).await;
    let per_client = total / CLIENTS;
    let mut streams = Vec::new();
    for _ in 0..CLIENTS {
        streams.push(connect(addr, &files).await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (client, mut stream) in streams.into_iter().enumerate() {
        tasks.spawn(async move {
            let mut chunk = Vec::with_capacity(64 * PAYLOAD_BYTES);
            for i in 0..per_client {
                chunk.extend_from_slice(&payload(client, i));
                if chunk.len() >= 64 * PAYLOAD_BYTES || i + 1 == per_client {
                    stream.write_all(&chunk).await.unwrap();
                    chunk.clear();
                }
            }
            stream.flush().await.unwrap();
            stream
        });
    }
    let mut streams = Vec::new();
    while let Some(stream) = tasks.join_next().await {
        streams.push(stream.unwrap());
    }
    let expected = (per_client * CLIENTS) as u64;
    while metrics.stored.load(Relaxed) < expected {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = expected as f64 / started.elapsed().as_secs_f64();
    for mut stream in streams {
        let _ = stream.shutdown().await;
    }
    let _ = stop.send(());
    rate
}

/// Ack mode: each client keeps `ACK_WINDOW` payloads in flight; returns (payloads/s, p50 µs,
/// p99 µs) of send→ack (the ack is sent once Redis confirmed the write).
async fn ack_run(files: Arc<Files>, redis_port: u16, total: usize) -> (f64, u64, u64) {
    let (addr, _metrics, stop) = start_daemon(&files, redis_port, true).await;
    let per_client = total / CLIENTS;
    let mut streams = Vec::new();
    for _ in 0..CLIENTS {
        streams.push(connect(addr, &files).await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (client, stream) in streams.into_iter().enumerate() {
        tasks.spawn(async move {
            let (reader, mut writer) = stream.into_split();
            let mut lines = BufReader::new(reader).lines();
            let mut sent_at = VecDeque::with_capacity(ACK_WINDOW);
            let mut latencies = Vec::with_capacity(per_client);
            let mut next = 0;
            while latencies.len() < per_client {
                while sent_at.len() < ACK_WINDOW && next < per_client {
                    writer.write_all(&payload(client, next)).await.unwrap();
                    writer.flush().await.unwrap();
                    sent_at.push_back(Instant::now());
                    next += 1;
                }
                let line = lines.next_line().await.unwrap().expect("ack");
                assert_eq!(line, "ok");
                let sent = sent_at.pop_front().expect("an ack answers a payload");
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            let _ = writer.shutdown().await;
            latencies
        });
    }
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let mut count = 0;
    while let Some(latencies) = tasks.join_next().await {
        for latency in latencies.unwrap() {
            histogram.record(latency.max(1)).unwrap();
            count += 1;
        }
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    (
        rate,
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
    )
}

/// `redis-benchmark --tls -P 16` SET rate against the same server's TLS port.
fn redis_benchmark(files: &Files, tls_port: u16, requests: usize) -> (f64, String) {
    let args = [
        "--tls".to_owned(),
        "--cacert".to_owned(),
        path(&files.ca),
        "--cert".to_owned(),
        path(&files.client.0),
        "--key".to_owned(),
        path(&files.client.1),
        "-h".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        tls_port.to_string(),
        "-t".to_owned(),
        "set".to_owned(),
        "-P".to_owned(),
        "16".to_owned(),
        "-c".to_owned(),
        CLIENTS.to_string(),
        "-d".to_owned(),
        "180".to_owned(),
        "-r".to_owned(),
        "100000".to_owned(),
        "-n".to_owned(),
        requests.to_string(),
        "-q".to_owned(),
    ];
    let out = Command::new(require_program("redis-benchmark"))
        .args(&args)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // "SET: 123456.79 requests per second, p50=…" (the last carriage-return-separated part).
    let rate = text
        .rsplit(['\r', '\n'])
        .find_map(|part| {
            let rest = part.trim().strip_prefix("SET: ")?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .unwrap_or_else(|| panic!("cannot read redis-benchmark output: {text}"));
    (rate, format!("redis-benchmark {}", args.join(" ")))
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it,
    // and then a tiny smoke run checks the benchmark still works without costing CI minutes.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = if smoke { 1 } else { env("RUNS", 3) };
    let total = if smoke {
        CLIENTS * 20
    } else {
        env("PAYLOADS", 1_000_000)
    };
    let dir = tlswire_testkit::temp_dir("ingest-bench");
    let certs = tlswire_devcerts::generate(&["localhost", "127.0.0.1"], &["bench"]).unwrap();
    let written = certs.write_to(&dir).unwrap();
    let files = Arc::new(Files {
        ca: written.ca_cert.clone(),
        server: (written.server_cert.clone(), written.server_key.clone()),
        client: (written.clients[0].1.clone(), written.clients[0].2.clone()),
        bundle: written.client_bundle.clone(),
        dir: dir.clone(),
    });
    let (port, tls_port) = (free_port(), free_port());
    let redis = Command::new(require_program("redis-server"))
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args([
            "--port",
            &port.to_string(),
            "--tls-port",
            &tls_port.to_string(),
        ])
        .args(["--tls-cert-file", &path(&written.server_cert)])
        .args(["--tls-key-file", &path(&written.server_key)])
        .args(["--tls-ca-cert-file", &path(&written.ca_cert)])
        .args(["--loglevel", "warning"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _redis = ChildGuard(redis);
    wait_for_port(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(10),
    );
    wait_for_port(
        SocketAddr::from(([127, 0, 0, 1], tls_port)),
        Duration::from_secs(10),
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut ingest, mut redis_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ack_rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    let mut command = String::new();
    for run in 1..=runs {
        let rate = runtime.block_on(throughput_run(files.clone(), port, total));
        let (redis_rate, cmd) = redis_benchmark(&files, tls_port, total * 2);
        command = cmd;
        let (ack_rate, p50, p99) = runtime.block_on(ack_run(files.clone(), port, total / 5));
        println!(
            "run {run}: ingest {rate:.0} payloads/s, redis-benchmark SET {redis_rate:.0}/s, ratio {:.2}; ack mode {ack_rate:.0} payloads/s, send→stored p50 {:.2} ms p99 {:.2} ms",
            rate / redis_rate,
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0
        );
        ingest.push(rate);
        redis_rates.push(redis_rate);
        ratios.push(rate / redis_rate);
        ack_rates.push(ack_rate);
        p50s.push(p50 as f64 / 1000.0);
        p99s.push(p99 as f64 / 1000.0);
    }
    println!("\nmedian of {runs} runs ({total} payloads of {PAYLOAD_BYTES} bytes from {CLIENTS} mTLS clients per run):");
    println!("| measure | value |\n|---|---|");
    println!(
        "| tlswire ingest, payloads/s (no acks) | {:.0} |",
        median(&mut ingest)
    );
    println!(
        "| redis-benchmark --tls -P 16 SET/s | {:.0} |",
        median(&mut redis_rates)
    );
    println!(
        "| ratio ingest / redis-benchmark | {:.2} |",
        median(&mut ratios)
    );
    println!(
        "| ack mode payloads/s ({ACK_WINDOW} in flight per client) | {:.0} |",
        median(&mut ack_rates)
    );
    println!("| ack mode send→stored p50 | {:.2} ms |", median(&mut p50s));
    println!("| ack mode send→stored p99 | {:.2} ms |", median(&mut p99s));
    println!("\npeer command: {command}");
}
