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
    // tlswire-tokio, tokio-rustls, tokio-rustls with a handshake timeout.
    let handshake_libs = [Lib::Tlswire, Lib::TokioRustls, Lib::TokioRustlsWithTimeout];
    let mut full: [Vec<f64>; 3] = Default::default();
    let mut resumed: [Vec<f64>; 3] = Default::default();
    let mut memory: [Vec<f64>; 3] = Default::default();
    for round in 0..options.rounds {
        // Alternate which library goes first.
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        runtime.block_on(async {
            if options.wants("bulk") {
                let libs = [Lib::Tlswire, Lib::TokioRustls, Lib::PlainTcp];
                let rates = load::bulk(libs, &configs, options.bulk_mib << 20, 16).await;
                for (i, rate) in rates.into_iter().enumerate() {
                    bulk[i].push(rate);
                }
            }
            if options.wants("handshakes") {
                let n = options.handshakes;
                for (resuming, rates) in [(false, &mut full), (true, &mut resumed)] {
                    let results = load::handshakes(handshake_libs, &configs, resuming, n).await;
                    for (i, (rate, resumed_count)) in results.into_iter().enumerate() {
                        assert!(
                            !resuming || resumed_count * 10 >= n * 9,
                            "{}: only {resumed_count} of {n} handshakes resumed",
                            handshake_libs[i].name(),
                        );
                        rates[i].push(rate);
                    }
                }
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
    // Ratios are medians of the per-round ratios: each round measures both libraries under the
    // same load, so its ratio is fairer than a ratio of medians taken from different rounds.
    let ratio = |a: &Vec<f64>, b: &Vec<f64>| median(a.iter().zip(b).map(|(x, y)| x / y).collect());
    let mib = |v: f64| v / f64::from(1u32 << 20);
    let tls_share: [Vec<f64>; 2] = std::array::from_fn(|i| {
        memory[i]
            .iter()
            .zip(&memory[2])
            .map(|(m, tcp)| m - tcp)
            .collect()
    });
    println!();
    println!(
        "tlswire-tokio vs tokio-rustls: medians of {} rounds (ratio: median of per-round ratios); bulk {} MiB over one connection per library, 16 slices timed alone, libraries alternating slice by slice, rate over the median slice; handshakes/s = 1 / median time of {} handshakes per library, one at a time, libraries alternating; {} idle connections",
        options.rounds, options.bulk_mib, options.handshakes, options.idle_connections
    );
    println!();
    println!("| measure | tlswire-tokio | tokio-rustls | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| bulk throughput, 1 connection (MiB/s) | {:.0} | {:.0} | {:.2}x | >= 1.0x |",
        mib(med(&bulk[0])),
        mib(med(&bulk[1])),
        ratio(&bulk[0], &bulk[1])
    );
    for (name, rates) in [("full", &full), ("resumed", &resumed)] {
        println!(
            "| {name} handshakes/s | {:.0} | {:.0} | {:.2}x | >= 1.0x |",
            med(&rates[0]),
            med(&rates[1]),
            ratio(&rates[0], &rates[1])
        );
        println!(
            "| {name} handshakes/s, tokio-rustls given the same 10 s handshake timeout | {:.0} | {:.0} | {:.2}x | |",
            med(&rates[0]),
            med(&rates[2]),
            ratio(&rates[0], &rates[2])
        );
    }
    println!(
        "| idle memory per connection, in all (bytes) | {:.0} | {:.0} | {:.2}x | |",
        med(&memory[0]),
        med(&memory[1]),
        ratio(&memory[0], &memory[1])
    );
    println!(
        "| idle memory per connection, TLS share (bytes) | {:.0} | {:.0} | {:.2}x | <= 0.5x |",
        med(&tls_share[0]),
        med(&tls_share[1]),
        ratio(&tls_share[0], &tls_share[1])
    );
    println!();
    println!(
        "plain TCP, same programs: bulk {:.0} MiB/s; idle memory {:.0} bytes per connection",
        mib(med(&bulk[2])),
        med(&memory[2])
    );
    let rounded =
        |v: &Vec<f64>, scale: f64| v.iter().map(|x| (x / scale).round()).collect::<Vec<_>>();
    println!(
        "all rounds: bulk MiB/s tlswire {:?} tokio-rustls {:?} tcp {:?}",
        rounded(&bulk[0], f64::from(1u32 << 20)),
        rounded(&bulk[1], f64::from(1u32 << 20)),
        rounded(&bulk[2], f64::from(1u32 << 20)),
    );
    println!(
        "all rounds: full/s tlswire {:?} tokio-rustls {:?} +timeout {:?}; resumed/s tlswire {:?} tokio-rustls {:?} +timeout {:?}",
        rounded(&full[0], 1.0),
        rounded(&full[1], 1.0),
        rounded(&full[2], 1.0),
        rounded(&resumed[0], 1.0),
        rounded(&resumed[1], 1.0),
        rounded(&resumed[2], 1.0),
    );
    println!(
        "all rounds: idle memory bytes/connection tlswire {:?} tokio-rustls {:?} tcp {:?}",
        rounded(&memory[0], 1.0),
        rounded(&memory[1], 1.0),
        rounded(&memory[2], 1.0),
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
