//! Echo throughput and handshakes per second through the C API (the `extern "C"` functions,
//! exactly as a C program calls them) against the Rust fd adapter, in one run, against the same
//! tlswire echo server on loopback.
//!
//! `cargo bench -p tlswire-ffi --bench c_api_vs_fd` prints medians and the C/Rust ratios.
//! Without `--bench` (as `cargo test --all-targets` runs it) it does one small round as a smoke
//! test. `BENCH_ONLY=c-handshake|rust-handshake|c-echo|rust-echo BENCH_N=n` does n operations of
//! one kind (echo: 1 MiB each way per connection) after the warm-up, for instruction counts
//! under `valgrind --tool=callgrind`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlswire_core::{ClientOptions, ServerTrust, Session};
use tlswire_fd::FdSession;
use tlswire_ffi as c;
use tlswire_testkit::{temp_dir, TestPki};

const CHUNK: usize = 16 * 1024;

/// A tlswire echo server: one blocking thread per connection.
fn start_server(pki: &TestPki) -> u16 {
    // No session tickets: every handshake is a full one on both paths. (With tickets, whether a
    // client resumes depends on whether it happened to read the ticket before closing.)
    let mut config = (*pki.server_config()).clone();
    config.send_tls13_tickets = 0;
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_nodelay(true);
                let mut tls = FdSession::new(Session::server(config).unwrap(), tcp);
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = tls.read(&mut buf) {
                    if n == 0 || tls.write_all(&buf[..n]).is_err() || tls.flush().is_err() {
                        break;
                    }
                }
                let _ = tls.close(Instant::now());
            });
        }
    });
    port
}

/// The C API's client: connect, then write and read through `tlswire_wait`.
struct CClient {
    config: *mut c::tlswire_client_config,
}

impl CClient {
    fn new(ca: &Path) -> Self {
        let mut config = std::ptr::null_mut();
        let ca = CString::new(ca.to_str().unwrap()).unwrap();
        // SAFETY: valid out-pointer and C string; the config lives until drop.
        unsafe {
            assert_eq!(c::tlswire_client_config_new(&mut config), 1);
            assert_eq!(
                c::tlswire_client_config_trust_pem_file(config, ca.as_ptr()),
                1
            );
        }
        Self { config }
    }

    fn connect(&self, port: u16) -> *mut c::tlswire_conn {
        let host = c"127.0.0.1";
        let mut conn = std::ptr::null_mut();
        // SAFETY: live config, C string, valid out-pointer.
        unsafe {
            assert_eq!(
                c::tlswire_connect(self.config, host.as_ptr(), port, &mut conn),
                1
            );
            for _ in 0..10_000 {
                if c::tlswire_handshake_complete(conn) == 1 {
                    break;
                }
                assert!(c::tlswire_wait(conn, 5000) == 1, "handshake stalled");
            }
        }
        conn
    }

    fn handshake(&self, port: u16) {
        let conn = self.connect(port);
        // SAFETY: a live connection, freed once.
        unsafe {
            c::tlswire_close(conn);
            c::tlswire_conn_free(conn);
        }
    }

    fn echo(&self, port: u16, total: usize) {
        let conn = self.connect(port);
        let data = vec![7u8; CHUNK];
        let mut buf = vec![0u8; 64 * 1024];
        let (mut sent, mut received) = (0, 0);
        // SAFETY: a live connection and buffers of the lengths given.
        unsafe {
            while received < total {
                if sent < total {
                    let mut n = 0;
                    let len = CHUNK.min(total - sent);
                    assert_eq!(c::tlswire_write(conn, data.as_ptr(), len, &mut n), 1);
                    sent += n;
                }
                let mut n = 0;
                assert_eq!(
                    c::tlswire_read(conn, buf.as_mut_ptr(), buf.len(), &mut n),
                    1
                );
                received += n;
                if n == 0 {
                    assert_eq!(c::tlswire_wait(conn, 5000), 1, "echo stalled");
                }
            }
            c::tlswire_close(conn);
            c::tlswire_conn_free(conn);
        }
    }
}

impl Drop for CClient {
    fn drop(&mut self) {
        // SAFETY: from tlswire_client_config_new, freed once.
        unsafe { c::tlswire_client_config_free(self.config) }
    }
}

/// The same client on the Rust fd adapter, non-blocking with poll(2) waits.
struct RustClient {
    config: Arc<tlswire_core::rustls::ClientConfig>,
}

impl RustClient {
    fn new(pki: &TestPki) -> Self {
        let config = ClientOptions::new(ServerTrust::Roots(pki.roots()))
            .build()
            .unwrap();
        Self { config }
    }

    fn connect(&self, port: u16) -> FdSession<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.set_nonblocking(true).unwrap();
        let session = Session::client(self.config.clone(), "127.0.0.1").unwrap();
        let mut tls = FdSession::new(session, tcp);
        for _ in 0..10_000 {
            tls.pump(Instant::now()).unwrap();
            if tls.is_handshake_complete() {
                break;
            }
            tls.wait(Some(Duration::from_secs(5))).unwrap();
        }
        tls
    }

    fn handshake(&self, port: u16) {
        let mut tls = self.connect(port);
        tls.close(Instant::now()).unwrap();
    }

    fn echo(&self, port: u16, total: usize) {
        let mut tls = self.connect(port);
        let data = vec![7u8; CHUNK];
        let mut buf = vec![0u8; 64 * 1024];
        let (mut sent, mut received) = (0, 0);
        while received < total {
            if sent < total {
                let len = CHUNK.min(total - sent);
                match tls.write(&data[..len]) {
                    Ok(n) => sent += n,
                    Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
                }
                let _ = tls.flush();
            }
            match tls.read(&mut buf) {
                Ok(n) => received += n,
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
                    tls.wait(Some(Duration::from_secs(5))).unwrap();
                }
            }
        }
        tls.close(Instant::now()).unwrap();
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, handshakes, echo_bytes) = if full {
        (9, 200, 32 << 20)
    } else {
        (1, 2, 256 << 10)
    };
    let pki = TestPki::new();
    let dir = temp_dir("ffi-bench");
    pki.write_all(&dir);
    let port = start_server(&pki);
    c::tlswire_init();
    let c_client = CClient::new(&dir.join("ca.crt"));
    let rust_client = RustClient::new(&pki);

    // Warm-up: first connections pay for lazy initialisation on both sides.
    c_client.handshake(port);
    rust_client.handshake(port);

    // One kind of work only, for instruction counting under callgrind (see docs/BENCHMARKS.md).
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        let n: usize = std::env::var("BENCH_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10);
        for _ in 0..n {
            match only.as_str() {
                "c-handshake" => c_client.handshake(port),
                "rust-handshake" => rust_client.handshake(port),
                "c-echo" => c_client.echo(port, 1 << 20),
                "rust-echo" => rust_client.echo(port, 1 << 20),
                other => panic!(
                    "BENCH_ONLY={other}: use c-handshake, rust-handshake, c-echo or rust-echo"
                ),
            }
        }
        return;
    }

    // Per-operation times, finely interleaved in alternating order so both clients see the same
    // machine conditions; medians ignore the operations another process preempted.
    let mut samples: [Vec<f64>; 4] = Default::default();
    let echo_piece = echo_bytes / 8;
    for round in 0..rounds {
        let c_first = round % 2 == 0;
        let mut hs = [vec![], vec![]];
        for _ in 0..handshakes {
            for first in [true, false] {
                let start = Instant::now();
                if first == c_first {
                    c_client.handshake(port);
                    hs[0].push(start.elapsed().as_secs_f64());
                } else {
                    rust_client.handshake(port);
                    hs[1].push(start.elapsed().as_secs_f64());
                }
            }
        }
        let mut echo = [vec![], vec![]];
        for _ in 0..8 {
            for first in [true, false] {
                let start = Instant::now();
                if first == c_first {
                    c_client.echo(port, echo_piece);
                    echo[0].push(start.elapsed().as_secs_f64());
                } else {
                    rust_client.echo(port, echo_piece);
                    echo[1].push(start.elapsed().as_secs_f64());
                }
            }
        }
        let [hs_c, hs_rust] = hs;
        let [echo_c, echo_rust] = echo;
        samples[0].push(1.0 / median(hs_c));
        samples[1].push(1.0 / median(hs_rust));
        samples[2].push(echo_piece as f64 / median(echo_c) / 1e6);
        samples[3].push(echo_piece as f64 / median(echo_rust) / 1e6);
    }
    let ratio = |c: &[f64], r: &[f64]| median(c.iter().zip(r).map(|(c, r)| c / r).collect());
    let [c_hs, rust_hs, c_tp, rust_tp] = samples;
    let (hs_ratio, tp_ratio) = (ratio(&c_hs, &rust_hs), ratio(&c_tp, &rust_tp));
    let spread = |c: &[f64], r: &[f64]| {
        let mut v: Vec<f64> = c.iter().zip(r).map(|(c, r)| c / r).collect();
        v.sort_by(f64::total_cmp);
        format!("{:.3}..{:.3}", v[0], v[v.len() - 1])
    };
    let (hs_spread, tp_spread) = (spread(&c_hs, &rust_hs), spread(&c_tp, &rust_tp));
    println!(
        "C API vs Rust fd adapter against one tlswire echo server: {rounds} rounds, each the \
         median per-operation rate; ratio = median of the per-round ratios"
    );
    println!("| measure | C API | Rust fd adapter | C / Rust (median) | C / Rust (range) |");
    println!("|---|---|---|---|---|");
    println!(
        "| handshakes/s ({handshakes} sequential, TLS 1.3, full) | {:.0} | {:.0} | {hs_ratio:.3} | {hs_spread} |",
        median(c_hs),
        median(rust_hs)
    );
    println!(
        "| echo MB/s ({} MiB each way per connection, 16 KiB writes) | {:.0} | {:.0} | {tp_ratio:.3} | {tp_spread} |",
        echo_piece >> 20,
        median(c_tp),
        median(rust_tp)
    );
}
