//! tlswire-tokio against tokio-rustls, on this machine, in one run.
//!
//! ```text
//! cargo bench -p tlswire-tokio --bench vs_tokio_rustls            # all, 5 rounds
//! cargo bench -p tlswire-tokio --bench vs_tokio_rustls -- --rounds 3 --bulk-mib 1024
//! cargo bench -p tlswire-tokio --bench vs_tokio_rustls -- --only memory --idle-connections 5000
//! ```
//!
//! Both libraries use the same rustls configurations; rounds alternate between them so the
//! machine's noise falls on both, and each figure is the median of the rounds. Memory runs each
//! library in a fresh server process, with the clients in another process.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;
mod load;
mod memory;

use std::path::PathBuf;

use common::{median, Configs, Lib};

struct Options {
    /// Which measurements to run: "bulk", "handshakes", "memory" (all when empty).
    only: Vec<String>,
    rounds: usize,
    bulk_mib: u64,
    handshakes: usize,
    concurrency: usize,
    idle_connections: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Child-process roles for the memory measurement.
    match args.first().map(String::as_str) {
        Some("--mem-server") => {
            let lib = Lib::parse(&args[1]).expect("library name");
            return memory::server_main(lib, args[2].parse().expect("N"), &PathBuf::from(&args[3]));
        }
        Some("--mem-client") => {
            let lib = Lib::parse(&args[1]).expect("library name");
            let addr = args[3].parse().expect("address");
            return memory::client_main(
                lib,
                args[2].parse().expect("N"),
                addr,
                &PathBuf::from(&args[4]),
            );
        }
        _ => {}
    }
    let mut options = Options {
        only: Vec::new(),
        rounds: 5,
        bulk_mib: 1024,
        handshakes: 1000,
        concurrency: 4,
        idle_connections: 5000,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a number after the option")
        };
        match arg.as_str() {
            "--only" => options.only.extend(
                it.next()
                    .into_iter()
                    .flat_map(|v| v.split(','))
                    .map(str::to_owned),
            ),
            "--rounds" => options.rounds = value() as usize,
            "--bulk-mib" => options.bulk_mib = value(),
            "--handshakes" => options.handshakes = value() as usize,
            "--concurrency" => options.concurrency = value() as usize,
            "--idle-connections" => options.idle_connections = value() as usize,
            // cargo bench passes --bench; other flags are ignored.
            _ => {}
        }
    }
    run(&options);
}

impl Options {
    fn wants(&self, measurement: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|m| m == measurement)
    }
}

fn run(options: &Options) {
    let pki = tlswire_testkit::TestPki::new();
    let dir = tlswire_testkit::temp_dir("bench-vs-tokio-rustls");
    pki.write_all(&dir);
    let configs = Configs::load(&dir);
    let tls_libs = [Lib::Tlswire, Lib::TokioRustls];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let mut bulk: [Vec<f64>; 3] = Default::default();
    let mut full: [Vec<f64>; 2] = Default::default();
    let mut resumed: [Vec<f64>; 2] = Default::default();
    let mut memory: [Vec<f64>; 3] = Default::default();
    for round in 0..options.rounds {
        // Alternate which library goes first.
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        runtime.block_on(async {
            for &i in &order {
                let lib = tls_libs[i];
                if options.wants("bulk") {
                    bulk[i].push(load::bulk(lib, &configs, options.bulk_mib << 20).await);
                }
                if options.wants("handshakes") {
                    let n = options.handshakes;
                    let c = options.concurrency;
                    let (rate, _) = load::handshakes(lib, &configs, false, n, c).await;
                    full[i].push(rate);
                    let (rate, resumed_count) = load::handshakes(lib, &configs, true, n, c).await;
                    assert!(
                        resumed_count * 10 >= n * 9,
                        "{}: only {resumed_count} of {n} handshakes resumed",
                        lib.name(),
                    );
                    resumed[i].push(rate);
                }
            }
            if options.wants("bulk") {
                let total = options.bulk_mib << 20;
                bulk[2].push(load::bulk(Lib::PlainTcp, &configs, total).await);
            }
        });
        if options.wants("memory") {
            let n = options.idle_connections;
            for &i in &order {
                memory[i].push(memory::measure(tls_libs[i], &dir, n));
            }
            memory[2].push(memory::measure(Lib::PlainTcp, &dir, n));
        }
        eprintln!("round {} of {} done", round + 1, options.rounds);
    }

    let med = |v: &Vec<f64>| median(v.clone());
    let mib = |v: f64| v / f64::from(1u32 << 20);
    let tcp_mem = med(&memory[2]);
    let tls_share = |i: usize| med(&memory[i]) - tcp_mem;
    println!();
    println!(
        "tlswire-tokio vs tokio-rustls: median of {} rounds; bulk {} MiB over one connection; {} handshakes at concurrency {}; {} idle connections",
        options.rounds, options.bulk_mib, options.handshakes, options.concurrency, options.idle_connections
    );
    println!();
    println!("| measure | tlswire-tokio | tokio-rustls | ratio | target |");
    println!("|---|---|---|---|---|");
    let ratio = |a: f64, b: f64| a / b;
    println!(
        "| bulk throughput (MiB/s) | {:.0} | {:.0} | {:.2}x | >= 1.0x |",
        mib(med(&bulk[0])),
        mib(med(&bulk[1])),
        ratio(med(&bulk[0]), med(&bulk[1]))
    );
    println!(
        "| full handshakes/s | {:.0} | {:.0} | {:.2}x | >= 1.0x |",
        med(&full[0]),
        med(&full[1]),
        ratio(med(&full[0]), med(&full[1]))
    );
    println!(
        "| resumed handshakes/s | {:.0} | {:.0} | {:.2}x | >= 1.0x |",
        med(&resumed[0]),
        med(&resumed[1]),
        ratio(med(&resumed[0]), med(&resumed[1]))
    );
    println!(
        "| idle memory per connection, in all (bytes) | {:.0} | {:.0} | {:.2}x | |",
        med(&memory[0]),
        med(&memory[1]),
        ratio(med(&memory[0]), med(&memory[1]))
    );
    println!(
        "| idle memory per connection, TLS share (bytes) | {:.0} | {:.0} | {:.2}x | <= 0.5x |",
        tls_share(0),
        tls_share(1),
        ratio(tls_share(0), tls_share(1))
    );
    println!();
    println!(
        "plain TCP, same programs: bulk {:.0} MiB/s; idle memory {:.0} bytes per connection",
        mib(med(&bulk[2])),
        tcp_mem
    );
    println!(
        "all rounds: bulk MiB/s tlswire {:?} tokio-rustls {:?}; full/s {:?} {:?}; resumed/s {:?} {:?}; memory B {:?} {:?} tcp {:?}",
        bulk[0].iter().map(|v| mib(*v).round()).collect::<Vec<_>>(),
        bulk[1].iter().map(|v| mib(*v).round()).collect::<Vec<_>>(),
        full[0].iter().map(|v| v.round()).collect::<Vec<_>>(),
        full[1].iter().map(|v| v.round()).collect::<Vec<_>>(),
        resumed[0].iter().map(|v| v.round()).collect::<Vec<_>>(),
        resumed[1].iter().map(|v| v.round()).collect::<Vec<_>>(),
        memory[0].iter().map(|v| v.round()).collect::<Vec<_>>(),
        memory[1].iter().map(|v| v.round()).collect::<Vec<_>>(),
        memory[2].iter().map(|v| v.round()).collect::<Vec<_>>(),
    );
    println!(
        "size_of: TlsStream<TcpStream> {} bytes (Session {}, Event {}, rustls UnbufferedServerConnection {}), tokio_rustls::server::TlsStream<TcpStream> {} bytes",
        std::mem::size_of::<tlswire_tokio::TlsStream<tokio::net::TcpStream>>(),
        std::mem::size_of::<tlswire_core::Session>(),
        std::mem::size_of::<tlswire_core::Event>(),
        std::mem::size_of::<rustls::server::UnbufferedServerConnection>(),
        std::mem::size_of::<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>()
    );
}
