//! tlswire-core against bare rustls, side by side in one run, all in memory.
//!
//! `cargo bench -p tlswire-core` prints, for each workload, the core and rustls's own
//! `ClientConnection`/`ServerConnection` driven by hand, and the ratio core/rustls. Handshake
//! rates are 1 / the median time of one handshake, core and rustls alternating one handshake at
//! a time; throughput is the median of rounds, also alternating:
//! - full handshakes per second (TLS 1.3, resumption off),
//! - resumed handshakes per second (TLS 1.3 tickets),
//! - one-way bulk throughput in MB/s with 16 KiB writes,
//! - heap bytes per idle established server session (a counting global allocator).
//!
//! `BENCH_ROUNDS` overrides the number of rounds (default 11); `BENCH_ONLY` runs the workloads
//! whose names contain it (`full-handshake`, `resumed-handshake`, `bulk`, `idle`), for profiling one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};
use tlswire_core::{ClientOptions, Event, ServerTrust, Session, TlsVersions};
use tlswire_testkit::TestPki;

/// The system allocator, keeping a running total of live heap bytes.
struct CountingAllocator;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a side
// effect only and never influences what is returned.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout, which the caller guarantees is valid.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout (every allocation goes
        // through this type).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees `new_size` is
        // valid for `layout`'s alignment.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

const SERVER_NAME: &str = "localhost";
const WRITE_SIZE: usize = 16 * 1024;

// ---- the core, driven in memory ----

/// Feeds all of `bytes` to `session`, reading plaintext out as it arrives; returns its length.
fn core_feed(session: &mut Session, bytes: &[u8], now: Instant) -> usize {
    let mut fed = 0;
    let mut plaintext = 0;
    while fed < bytes.len() {
        fed += session
            .handle_input(&bytes[fed..], now)
            .expect("core input");
        while let Some(chunk) = session.read_chunk() {
            let n = chunk.len();
            plaintext += n;
            session.consume(n);
        }
    }
    plaintext
}

/// Moves bytes both ways until neither side has anything to send.
fn core_settle(client: &mut Session, server: &mut Session, wire: &mut Vec<u8>, now: Instant) {
    for _ in 0..100 {
        let mut moved = false;
        if client.poll_transmit(wire) > 0 {
            core_feed(server, wire, now);
            wire.clear();
            moved = true;
        }
        if server.poll_transmit(wire) > 0 {
            core_feed(client, wire, now);
            wire.clear();
            moved = true;
        }
        if !moved {
            return;
        }
    }
    panic!("core sessions did not settle");
}

fn core_handshake(
    client_config: &Arc<ClientConfig>,
    server_config: &Arc<ServerConfig>,
    wire: &mut Vec<u8>,
) -> (Session, Session) {
    let now = Instant::now();
    let mut client = Session::client(client_config.clone(), SERVER_NAME).unwrap();
    let mut server = Session::server(server_config.clone()).unwrap();
    client.handle_timeout(now);
    server.handle_timeout(now);
    core_settle(&mut client, &mut server, wire, now);
    let mut complete = 0;
    for session in [&mut client, &mut server] {
        while let Some(event) = session.poll_event() {
            match event {
                Event::HandshakeComplete(_) => complete += 1,
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    assert_eq!(complete, 2, "core handshake did not complete");
    (client, server)
}

// ---- bare rustls, driven in memory ----

/// Moves everything `from` wants to send into `to`, reading plaintext out as it arrives.
fn rustls_transfer<A, B>(from: &mut A, to: &mut B, wire: &mut Vec<u8>) -> (bool, usize)
where
    A: std::ops::DerefMut<Target = rustls::ConnectionCommon<A::Data>> + HasData,
    B: std::ops::DerefMut<Target = rustls::ConnectionCommon<B::Data>> + HasData,
{
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire).unwrap();
    }
    let mut plaintext = 0;
    let mut rest = &wire[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets().expect("rustls input");
        let mut reader = to.reader();
        loop {
            let n = match reader.fill_buf() {
                Ok(chunk) => chunk.len(),
                Err(_) => 0,
            };
            if n == 0 {
                break;
            }
            plaintext += n;
            reader.consume(n);
        }
    }
    (!wire.is_empty(), plaintext)
}

/// Names the connection-data type, so one transfer function serves both directions.
trait HasData {
    type Data;
}
impl HasData for ClientConnection {
    type Data = rustls::client::ClientConnectionData;
}
impl HasData for ServerConnection {
    type Data = rustls::server::ServerConnectionData;
}

fn rustls_settle(client: &mut ClientConnection, server: &mut ServerConnection, wire: &mut Vec<u8>) {
    for _ in 0..100 {
        let (a, _) = rustls_transfer(client, server, wire);
        let (b, _) = rustls_transfer(server, client, wire);
        if !a && !b {
            return;
        }
    }
    panic!("rustls connections did not settle");
}

fn rustls_handshake(
    client_config: &Arc<ClientConfig>,
    server_config: &Arc<ServerConfig>,
    wire: &mut Vec<u8>,
) -> (ClientConnection, ServerConnection) {
    let name = SERVER_NAME.try_into().unwrap();
    let mut client = ClientConnection::new(client_config.clone(), name).unwrap();
    let mut server = ServerConnection::new(server_config.clone()).unwrap();
    rustls_settle(&mut client, &mut server, wire);
    assert!(!client.is_handshaking() && !server.is_handshaking());
    (client, server)
}

// ---- measurement ----

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Runs `core` and `rustls` alternately for `rounds` rounds; returns their median results.
fn side_by_side(
    rounds: usize,
    mut core: impl FnMut() -> f64,
    mut bare: impl FnMut() -> f64,
) -> (f64, f64) {
    // One warm-up round each, not counted.
    core();
    bare();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so neither always runs on a warmer (or busier) machine.
        if round % 2 == 0 {
            a.push(core());
            b.push(bare());
        } else {
            b.push(bare());
            a.push(core());
        }
    }
    (median(a), median(b))
}

/// Times `core` and `bare` one operation at a time, alternating (and alternating which goes
/// first), and returns each one's rate: 1 / the median duration of one operation. Single
/// alternating operations put both under the same load on a shared machine, and the median
/// ignores the operations that another process preempted.
fn alternating(samples: usize, mut core: impl FnMut(), mut bare: impl FnMut()) -> (f64, f64) {
    core();
    bare();
    let (mut a, mut b) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_secs_f64()
    };
    for i in 0..samples {
        if i % 2 == 0 {
            a.push(time(&mut core));
            b.push(time(&mut bare));
        } else {
            b.push(time(&mut bare));
            a.push(time(&mut core));
        }
    }
    (1.0 / median(a), 1.0 / median(b))
}

struct Row {
    name: &'static str,
    unit: &'static str,
    core: f64,
    rustls: f64,
    target: &'static str,
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let pki = TestPki::new();
    let server_config = pki.server_config();
    let full_client = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_versions(TlsVersions::Tls13Only)
        .with_resumption(false)
        .build()
        .unwrap();
    let resuming_client = ClientOptions::new(ServerTrust::Roots(pki.roots()))
        .with_versions(TlsVersions::Tls13Only)
        .build()
        .unwrap();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| name.contains(only.as_str());
    let mut wire = Vec::with_capacity(64 * 1024);
    let mut rows = Vec::new();
    // Handshakes timed per kind and side: rounds x this many.
    let handshakes = 200;

    if wanted("full-handshake") {
        // Full handshakes.
        let mut bare_wire = Vec::new();
        let (core, bare) = alternating(
            rounds * handshakes,
            || drop(core_handshake(&full_client, &server_config, &mut wire)),
            || {
                drop(rustls_handshake(
                    &full_client,
                    &server_config,
                    &mut bare_wire,
                ))
            },
        );
        rows.push(Row {
            name: "full handshakes (TLS 1.3)",
            unit: "/s",
            core,
            rustls: bare,
            target: ">= 0.97",
        });
    }

    if wanted("resumed-handshake") {
        // Resumed handshakes: prime the client's ticket cache once, then check that resumption
        // happens on both paths before timing it.
        core_handshake(&resuming_client, &server_config, &mut wire);
        let (client, _) = core_handshake(&resuming_client, &server_config, &mut wire);
        assert_eq!(client.peer().handshake_kind, Some(HandshakeKind::Resumed));
        let (client, _) = rustls_handshake(&resuming_client, &server_config, &mut wire);
        assert_eq!(client.handshake_kind(), Some(HandshakeKind::Resumed));
        let mut bare_wire = Vec::new();
        let (core, bare) = alternating(
            rounds * handshakes,
            || drop(core_handshake(&resuming_client, &server_config, &mut wire)),
            || {
                drop(rustls_handshake(
                    &resuming_client,
                    &server_config,
                    &mut bare_wire,
                ))
            },
        );
        rows.push(Row {
            name: "resumed handshakes (TLS 1.3)",
            unit: "/s",
            core,
            rustls: bare,
            target: ">= 0.97",
        });
    }

    if wanted("bulk") {
        // One-way bulk throughput, client to server, 16 KiB writes.
        let total: usize = 256 * 1024 * 1024;
        let payload = vec![0x5a_u8; WRITE_SIZE];
        let (mut core_client, mut core_server) =
            core_handshake(&full_client, &server_config, &mut wire);
        let (mut bare_client, mut bare_server) =
            rustls_handshake(&full_client, &server_config, &mut wire);
        let now = Instant::now();
        let (core, bare) = side_by_side(
            rounds,
            || {
                let start = Instant::now();
                let mut received = 0;
                let mut wire = Vec::with_capacity(64 * 1024);
                while received < total {
                    let mut sent = 0;
                    while sent < WRITE_SIZE {
                        sent += core_client.write(&payload[sent..]).unwrap();
                    }
                    if core_client.poll_transmit(&mut wire) > 0 {
                        received += core_feed(&mut core_server, &wire, now);
                        wire.clear();
                    }
                }
                total as f64 / start.elapsed().as_secs_f64() / 1e6
            },
            || {
                let start = Instant::now();
                let mut received = 0;
                let mut wire = Vec::with_capacity(64 * 1024);
                while received < total {
                    bare_client.writer().write_all(&payload).unwrap();
                    received += rustls_transfer(&mut bare_client, &mut bare_server, &mut wire).1;
                }
                total as f64 / start.elapsed().as_secs_f64() / 1e6
            },
        );
        rows.push(Row {
            name: "one-way bulk, 16 KiB writes",
            unit: "MB/s",
            core,
            rustls: bare,
            target: ">= 0.97",
        });
        drop((core_client, core_server, bare_client, bare_server));
    }

    if wanted("idle") {
        // Heap bytes per idle established server session: handshake, receive a small request,
        // read it, then drop the clients and count what the servers still hold.
        let (core, bare) = idle_bytes(&pki, &full_client, 1000);
        rows.push(Row {
            name: "heap bytes per idle server session",
            unit: "B",
            core,
            rustls: bare,
            target: "<= 0.50",
        });
    }

    print_table(rounds, &rows);
    println!(
        "(inline sizes: tlswire_core::Session {} B, rustls::ServerConnection {} B; \
         the idle figures include them)",
        std::mem::size_of::<Session>(),
        std::mem::size_of::<ServerConnection>()
    );
}

fn idle_bytes(pki: &TestPki, client_config: &Arc<ClientConfig>, sessions: usize) -> (f64, f64) {
    // No tickets or session cache, so the servers' shared state does not grow per session.
    let mut config = (*pki.server_config()).clone();
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let server_config = Arc::new(config);
    let request = [b'r'; 512];
    let mut wire = Vec::new();
    let now = Instant::now();

    let before = live_bytes();
    let mut servers = Vec::with_capacity(sessions);
    let mut clients = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let (mut client, mut server) = core_handshake(client_config, &server_config, &mut wire);
        client.write(&request).unwrap();
        let _ = client.poll_transmit(&mut wire);
        assert_eq!(core_feed(&mut server, &wire, now), request.len());
        wire.clear();
        clients.push(client);
        servers.push(server);
    }
    drop(clients);
    wire = Vec::new();
    let core = (live_bytes() - before) as f64 / sessions as f64;
    drop(servers);

    let before = live_bytes();
    let mut servers = Vec::with_capacity(sessions);
    let mut clients = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let (mut client, mut server) = rustls_handshake(client_config, &server_config, &mut wire);
        client.writer().write_all(&request).unwrap();
        let (_, n) = rustls_transfer(&mut client, &mut server, &mut wire);
        assert_eq!(n, request.len());
        clients.push(client);
        servers.push(server);
    }
    drop(clients);
    drop(wire);
    let bare = (live_bytes() - before) as f64 / sessions as f64;
    drop(servers);
    (core, bare)
}

fn print_table(rounds: usize, rows: &[Row]) {
    println!();
    println!(
        "tlswire-core vs bare rustls (in memory; {rounds} rounds; handshakes: {rounds} x 200 \
         alternating, rate = 1 / median)"
    );
    println!(
        "| {:<36} | {:>14} | {:>14} | {:>11} | {:>7} |",
        "workload", "tlswire-core", "bare rustls", "core/rustls", "target"
    );
    println!(
        "|{:-<38}|{:-<16}|{:-<16}|{:-<13}|{:-<9}|",
        "", "", "", "", ""
    );
    for row in rows {
        println!(
            "| {:<36} | {:>9.0} {:<4} | {:>9.0} {:<4} | {:>11.3} | {:>7} |",
            row.name,
            row.core,
            row.unit,
            row.rustls,
            row.unit,
            row.core / row.rustls,
            row.target
        );
    }
}
