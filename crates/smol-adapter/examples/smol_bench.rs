//! tlswire-smol against futures-rustls on smol, side by side in one run, with the same rustls
//! configurations: bulk throughput over one loopback connection, full and resumed handshakes
//! per second, and memory per idle established connection (server RSS delta / N, clients in
//! another process) next to plain TCP.
//!
//! ```text
//! cargo run --release -p tlswire-smol --example smol_bench            # everything
//! cargo run --release -p tlswire-smol --example smol_bench -- throughput|handshakes|idle
//! ```
//! Environment: `BENCH_BYTES` (bulk bytes per run, default 1 GiB), `BENCH_RUNS` (bulk and idle
//! runs per implementation, default 5, bulk runs alternating; the median is reported),
//! `BENCH_HANDSHAKES` (handshakes per implementation, default 2000, alternating one at a time;
//! the rate is 1 / the median time), `BENCH_IDLE` (connections held, default 5000),
//! `BENCH_ONLY` (`tlswire-smol` or `futures-rustls`, bulk only, for profiling).

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use tlswire_core::{
    certified_key, certs_from_pem, private_key_from_pem, roots_from_pem, ClientOptions,
    ReloadableIdentity, ServerTrust, Site, SiteOptions,
};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Impl {
    Tlswire,
    FuturesRustls,
    PlainTcp,
}

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Tlswire => "tlswire-smol",
            Impl::FuturesRustls => "futures-rustls",
            Impl::PlainTcp => "plain-tcp",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        [Impl::Tlswire, Impl::FuturesRustls, Impl::PlainTcp]
            .into_iter()
            .find(|i| i.name() == s)
            .ok_or_else(|| format!("unknown implementation {s:?}").into())
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Configurations both implementations share. Certificates are generated once per process;
/// the child processes of the idle benchmark get them through files.
struct Configs {
    server: Arc<ServerConfig>,
    client_full: Arc<ClientConfig>,
    client_resuming: Arc<ClientConfig>,
}

fn configs(dir: &std::path::Path) -> Result<Configs> {
    let (ca, cert, key) = (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    if !ca.exists() {
        tlswire_devcerts::generate(&["localhost"], &[])?.write_to(dir)?;
    }
    let chain = certs_from_pem(&std::fs::read(&cert)?, &cert)?;
    let private = private_key_from_pem(&std::fs::read(&key)?, &key)?;
    let identity = ReloadableIdentity::new(certified_key(chain, private, &cert, &key)?);
    let server = Site::new(identity, SiteOptions::default())?.server_config();
    let roots = Arc::new(roots_from_pem(&std::fs::read(&ca)?, &ca)?);
    let options = ClientOptions::new(ServerTrust::Roots(roots));
    Ok(Configs {
        server,
        client_full: options.clone().with_resumption(false).build()?,
        client_resuming: options.build()?,
    })
}

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

async fn server_side(
    which: Impl,
    config: &Arc<ServerConfig>,
    tcp: TcpStream,
) -> Result<Box<dyn Duplex>> {
    Ok(match which {
        Impl::Tlswire => Box::new(
            tlswire_smol::TlsAcceptor::new(config.clone())
                .accept(tcp)
                .await?,
        ),
        Impl::FuturesRustls => Box::new(
            futures_rustls::TlsAcceptor::from(config.clone())
                .accept(tcp)
                .await?,
        ),
        Impl::PlainTcp => Box::new(tcp),
    })
}

/// Connects; returns the stream and whether the handshake resumed a session.
async fn client_side(
    which: Impl,
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
) -> Result<(Box<dyn Duplex>, bool)> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(match which {
        Impl::Tlswire => {
            let tls = tlswire_smol::TlsConnector::new(config.clone())
                .connect("localhost", tcp)
                .await?;
            let resumed = tls.peer().handshake_kind == Some(rustls::HandshakeKind::Resumed);
            (Box::new(tls), resumed)
        }
        Impl::FuturesRustls => {
            let name = ServerName::try_from("localhost")?;
            let tls = futures_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await?;
            let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            (Box::new(tls), resumed)
        }
        Impl::PlainTcp => (Box::new(tcp), false),
    })
}

/// Seconds to move `bytes` from client to server over one connection, measured at the server
/// from the end of the handshake to the client's close.
async fn throughput_once(which: Impl, configs: &Configs, bytes: usize) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_config = configs.server.clone();
    let server = smol::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let mut stream = server_side(which, &server_config, tcp).await?;
        let started = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        let mut received = 0;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            received += n;
        }
        if received != bytes {
            return Err(format!("received {received} of {bytes} bytes").into());
        }
        Ok::<f64, Box<dyn Error + Send + Sync>>(started.elapsed().as_secs_f64())
    });
    let (mut stream, _) = client_side(which, &configs.client_full, addr).await?;
    let chunk = vec![0x5au8; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        let n = chunk.len().min(bytes - sent);
        stream.write_all(&chunk[..n]).await?;
        sent += n;
    }
    stream.close().await?;
    server.await
}

/// Starts a server that completes handshakes with `which`, answers one byte and closes.
async fn handshake_server(
    which: Impl,
    config: Arc<ServerConfig>,
) -> Result<(SocketAddr, smol::Task<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = smol::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let config = config.clone();
            smol::spawn(async move {
                let served = async {
                    tcp.set_nodelay(true)?;
                    let mut stream = server_side(which, &config, tcp).await?;
                    let mut byte = [0u8; 1];
                    stream.read_exact(&mut byte).await?;
                    stream.write_all(&byte).await?;
                    stream.close().await?;
                    Ok::<(), Box<dyn Error + Send + Sync>>(())
                };
                let _ = served.await;
            })
            .detach();
        }
    });
    Ok((addr, task))
}

/// One client handshake plus one byte each way (which also delivers the session tickets);
/// returns the seconds it took and whether it resumed.
async fn one_handshake(
    which: Impl,
    config: &Arc<ClientConfig>,
    addr: SocketAddr,
) -> Result<(f64, bool)> {
    let started = Instant::now();
    let (mut stream, resumed) = client_side(which, config, addr).await?;
    stream.write_all(b"x").await?;
    stream.flush().await?;
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stream.close().await;
    Ok((elapsed, resumed))
}

/// Handshakes per second, as 1 / the median time of one handshake. The two implementations
/// alternate one handshake at a time (alternating which goes first), so a burst of load from
/// the shared machine hits both alike.
async fn handshake_rates(configs: &Configs, count: usize, resume: bool) -> Result<[f64; 2]> {
    let pair = [Impl::Tlswire, Impl::FuturesRustls];
    let config = if resume {
        &configs.client_resuming
    } else {
        &configs.client_full
    };
    let mut servers = Vec::new();
    for which in pair {
        let (addr, task) = handshake_server(which, configs.server.clone()).await?;
        if resume {
            one_handshake(which, config, addr).await?; // the first has no ticket yet
        }
        servers.push((addr, task));
    }
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..count {
        for k in 0..2 {
            let i = if round % 2 == 0 { k } else { 1 - k };
            let (secs, resumed) = one_handshake(pair[i], config, servers[i].0).await?;
            if resume != resumed {
                return Err(
                    format!("{}: resumed {resumed}, wanted {resume}", pair[i].name()).into(),
                );
            }
            times[i].push(secs);
        }
    }
    Ok(times.map(|t| 1.0 / median(t)))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn bench_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tlswire-smol-bench-{}", std::process::id()))
}

/// CPU time (user + system, all threads) this process has used so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the name;
    // Linux reports them in USER_HZ = 100 ticks per second.
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `measure` for tlswire and futures-rustls `runs` times each, alternating which goes
/// first, and returns the median of each (`BENCH_ONLY` skips the other).
fn alternate(runs: usize, mut measure: impl FnMut(Impl) -> Result<f64>) -> Result<[f64; 2]> {
    let pair = [Impl::Tlswire, Impl::FuturesRustls];
    let mut values = [Vec::new(), Vec::new()];
    for round in 0..runs {
        for k in 0..2 {
            let i = if round % 2 == 0 { k } else { 1 - k };
            if std::env::var("BENCH_ONLY").is_ok_and(|only| only != pair[i].name()) {
                continue;
            }
            values[i].push(measure(pair[i])?);
        }
    }
    for (i, v) in values.iter().enumerate() {
        eprintln!("  {}: {v:.0?}", pair[i].name());
    }
    let [ours, theirs] = values;
    let med = |v: Vec<f64>| if v.is_empty() { f64::NAN } else { median(v) };
    Ok([med(ours), med(theirs)])
}

fn row(measure: &str, [ours, theirs]: [f64; 2], unit: &str) {
    println!(
        "| {measure} | {ours:.0} {unit} | {theirs:.0} {unit} | {:.2}x |",
        ours / theirs
    );
}

fn run_throughput(configs: &Configs) -> Result<()> {
    let bytes = env_usize("BENCH_BYTES", 1 << 30);
    let runs = env_usize("BENCH_RUNS", 5);
    let mut cpu = [Vec::new(), Vec::new()];
    eprintln!("bulk throughput, MB/s:");
    let rates = alternate(runs, |which| {
        let cpu_before = cpu_seconds();
        let secs = smol::block_on(throughput_once(which, configs, bytes))?;
        let used = cpu_seconds() - cpu_before;
        cpu[usize::from(which != Impl::Tlswire)].push(used / (bytes as f64 / (1 << 30) as f64));
        Ok(bytes as f64 / secs / 1e6)
    })?;
    row(
        &format!("bulk throughput, {} MiB over one connection", bytes >> 20),
        rates,
        "MB/s",
    );
    let cpu = cpu.map(|v| if v.is_empty() { f64::NAN } else { median(v) });
    println!(
        "| CPU time per GiB moved (client + server, lower is better) | {:.2} s | {:.2} s | {:.2}x |",
        cpu[0],
        cpu[1],
        cpu[0] / cpu[1]
    );
    Ok(())
}

fn run_handshakes(configs: &Configs) -> Result<()> {
    let count = env_usize("BENCH_HANDSHAKES", 2000);
    for resume in [false, true] {
        let rates = smol::block_on(handshake_rates(configs, count, resume))?;
        let kind = if resume { "resumed" } else { "full" };
        row(
            &format!("{kind} handshakes/s (TLS 1.3; 1 / median of {count}, alternating)"),
            rates,
            "/s",
        );
    }
    Ok(())
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Child process: accepts `count` connections, holds each in a task waiting to read, prints
/// the RSS growth per connection.
fn idle_server(which: Impl, dir: &std::path::Path, count: usize) -> Result<()> {
    let configs = configs(dir)?;
    // One thread: every connection's allocations come from one malloc arena.
    let executor = smol::LocalExecutor::new();
    smol::block_on(executor.run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (done_tx, done_rx) = smol::channel::unbounded::<()>();
        // Let the runtime and allocator settle before the baseline.
        smol::Timer::after(Duration::from_millis(200)).await;
        let baseline = rss_bytes();
        println!("ready {}", listener.local_addr()?);
        let mut held = 0;
        while held < count {
            let (tcp, _) = listener.accept().await?;
            let config = configs.server.clone();
            let done = done_tx.clone();
            executor
                .spawn(async move {
                    if let Ok(mut stream) = server_side(which, &config, tcp).await {
                        let _ = done.send(()).await;
                        let mut byte = [0u8; 1];
                        let _ = stream.read(&mut byte).await;
                    }
                })
                .detach();
            held += 1;
        }
        for _ in 0..count {
            done_rx.recv().await?;
        }
        smol::Timer::after(Duration::from_millis(500)).await;
        let delta = rss_bytes().saturating_sub(baseline);
        println!("per_connection {}", delta as f64 / count as f64);
        if std::env::var_os("BENCH_EXIT_AFTER_IDLE").is_some() {
            // For heap profilers (`valgrind --tool=massif`), which report at exit.
            return Ok(());
        }
        // Hold until the parent kills us.
        smol::Timer::after(Duration::from_secs(600)).await;
        Ok(())
    }))
}

/// Child process: opens `count` connections, ten at a time (so that the server's transient
/// handshake memory stays small next to what it holds), and holds them.
fn idle_clients(which: Impl, dir: &std::path::Path, addr: SocketAddr, count: usize) -> Result<()> {
    let configs = configs(dir)?;
    smol::block_on(async {
        let mut held = Vec::with_capacity(count);
        while held.len() < count {
            let batch: Vec<_> = (0..(count - held.len()).min(10))
                .map(|_| {
                    let config = configs.client_full.clone();
                    smol::spawn(async move { client_side(which, &config, addr).await })
                })
                .collect();
            for task in batch {
                held.push(task.await?.0);
            }
        }
        println!("connected {}", held.len());
        smol::Timer::after(Duration::from_secs(600)).await;
        Ok(())
    })
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_line_with(child: &mut Child, prefix: &str) -> Result<String> {
    let stdout = child.stdout.as_mut().ok_or("child has no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    for _ in 0..10 {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(format!("child exited before printing {prefix:?}").into());
        }
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return Ok(rest.trim().to_owned());
        }
    }
    Err(format!("child never printed {prefix:?}").into())
}

fn idle_per_connection(which: Impl, dir: &std::path::Path, count: usize) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let mut server = Killed(
        Command::new(&exe)
            .args(["idle-server", which.name(), &count.to_string()])
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let addr = read_line_with(&mut server.0, "ready")?;
    let mut clients = Killed(
        Command::new(&exe)
            .args(["idle-clients", which.name(), &count.to_string()])
            .arg(dir)
            .arg(&addr)
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let per_connection: f64 = read_line_with(&mut server.0, "per_connection")?.parse()?;
    read_line_with(&mut clients.0, "connected")?;
    Ok(per_connection)
}

fn run_idle(dir: &std::path::Path) -> Result<()> {
    let count = env_usize("BENCH_IDLE", 5000);
    let runs = env_usize("BENCH_RUNS", 3);
    let mut results = Vec::new();
    for which in [Impl::Tlswire, Impl::FuturesRustls, Impl::PlainTcp] {
        let mut values = Vec::new();
        for _ in 0..runs {
            values.push(idle_per_connection(which, dir, count)?);
        }
        eprintln!("idle {}: {values:.0?} bytes/connection", which.name());
        results.push(median(values));
    }
    let (ours, theirs, tcp) = (results[0], results[1], results[2]);
    println!(
        "| memory per idle connection ({count} held), all | {ours:.0} B | {theirs:.0} B | {:.2}x |",
        ours / theirs
    );
    println!(
        "| memory per idle connection, TLS share (minus plain TCP {tcp:.0} B) | {:.0} B | {:.0} B | {:.2}x |",
        ours - tcp,
        theirs - tcp,
        (ours - tcp) / (theirs - tcp)
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["idle-server", which, count, dir] => {
            return idle_server(Impl::parse(which)?, dir.as_ref(), count.parse()?)
        }
        ["idle-clients", which, count, dir, addr] => {
            return idle_clients(
                Impl::parse(which)?,
                dir.as_ref(),
                addr.parse()?,
                count.parse()?,
            )
        }
        _ => {}
    }
    let dir = bench_dir();
    std::fs::create_dir_all(&dir)?;
    let configs = configs(&dir)?;
    eprintln!(
        "size_of TlsStream<TcpStream>: tlswire-smol {} B, futures-rustls server {} B",
        std::mem::size_of::<tlswire_smol::TlsStream<TcpStream>>(),
        std::mem::size_of::<futures_rustls::server::TlsStream<TcpStream>>()
    );
    println!("| measure | tlswire-smol | futures-rustls | ratio |");
    println!("|---|---|---|---|");
    let what = args.first().copied().unwrap_or("all");
    if matches!(what, "all" | "throughput") {
        run_throughput(&configs)?;
    }
    if matches!(what, "all" | "handshakes") {
        run_handshakes(&configs)?;
    }
    if matches!(what, "all" | "idle") {
        run_idle(&dir)?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
