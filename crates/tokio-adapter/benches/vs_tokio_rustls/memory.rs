//! Memory per idle established connection: a server process holds N connections that a client
//! process opened; the server's resident set grows by (RSS after − RSS before) / N per
//! connection. Each library runs in a fresh server process so none reuses another's freed heap.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;

use crate::common::{accept, connect, Configs, Lib};

/// The server process's resident set in bytes (Linux).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Runs one measurement in a fresh server process; returns bytes per connection.
pub(crate) fn measure(lib: Lib, dir: &Path, connections: usize) -> f64 {
    let exe = std::env::current_exe().expect("current exe");
    let output = Command::new(exe)
        .args(["--mem-server", lib.name(), &connections.to_string()])
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn memory server");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Some(size) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TASK_FUTURE_BYTES "))
    {
        eprintln!("{}: server task future {size} bytes", lib.name());
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("PER_CONNECTION "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("memory server for {} said: {stdout}", lib.name()))
}

/// `--mem-server LIB N DIR`: accepts N connections from a client process and reports its RSS
/// growth per connection once all are established and idle.
pub(crate) fn server_main(lib: Lib, connections: usize, dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let configs = Configs::load(dir);
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        let listener = socket.listen(4096).expect("listen");
        let established = Arc::new(AtomicUsize::new(0));

        // Warm up allocator arenas, rustls and tokio with one connection before the baseline.
        let mut client = spawn_client(lib, dir, addr, 1);
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut warm = accept(lib, &configs.server, tcp)
            .await
            .expect("warm-up handshake");
        wait_for_line(&mut client, "HELD");
        drop(client.stdin.take());
        let mut byte = [0u8; 1];
        let _ = warm.read(&mut byte).await;
        drop(warm);
        let _ = client.wait();
        tokio::time::sleep(Duration::from_millis(200)).await;

        let before = rss_bytes();
        let mut client = spawn_client(lib, dir, addr, connections);
        let mut task_size = 0;
        for _ in 0..connections {
            let (tcp, _) = listener.accept().await.expect("accept");
            tcp.set_nodelay(true).expect("nodelay");
            // One task type per library, as a real server would have: the task's allocation
            // (sized by its largest await point, the handshake included) is part of the cost.
            task_size = match lib {
                Lib::Tlswire => {
                    let acceptor = tlswire_tokio::TlsAcceptor::new(configs.server.clone());
                    spawn_idle(move || acceptor.accept(tcp), &established)
                }
                Lib::TokioRustls | Lib::TokioRustlsWithTimeout => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(configs.server.clone());
                    spawn_idle(move || acceptor.accept(tcp), &established)
                }
                Lib::PlainTcp => spawn_idle(
                    move || std::future::ready(Ok::<_, std::io::Error>(tcp)),
                    &established,
                ),
            };
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while established.load(Ordering::SeqCst) < connections && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        wait_for_line(&mut client, "HELD");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_bytes();
        let done = established.load(Ordering::SeqCst);
        assert_eq!(
            done, connections,
            "only {done} connections were established"
        );
        println!("TASK_FUTURE_BYTES {task_size}");
        println!(
            "PER_CONNECTION {}",
            after.saturating_sub(before) as f64 / connections as f64
        );
        drop(client.stdin.take());
        let _ = client.wait();
    });
}

/// Spawns a task that runs the handshake, counts it, and idles in a read until the client
/// goes away; returns the size of the task's future. The handshake future is made inside the
/// task, as a server would write it, so its state and the stream's can share the task's memory.
fn spawn_idle<M, F, S>(make_handshake: M, established: &Arc<AtomicUsize>) -> usize
where
    M: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = std::io::Result<S>> + Send,
    S: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let established = established.clone();
    let task = async move {
        let Ok(mut stream) = make_handshake().await else {
            return;
        };
        established.fetch_add(1, Ordering::SeqCst);
        let mut byte = [0u8; 1];
        let _ = stream.read(&mut byte).await;
    };
    let size = std::mem::size_of_val(&task);
    tokio::spawn(task);
    size
}

fn spawn_client(
    lib: Lib,
    dir: &Path,
    addr: std::net::SocketAddr,
    connections: usize,
) -> std::process::Child {
    Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--mem-client",
            lib.name(),
            &connections.to_string(),
            &addr.to_string(),
        ])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn memory client")
}

fn wait_for_line(child: &mut std::process::Child, expected: &str) {
    let Some(stdout) = child.stdout.as_mut() else {
        panic!("client has no stdout");
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("client output");
    assert_eq!(line.trim(), expected, "memory client said {line:?}");
}

/// `--mem-client LIB N ADDR DIR`: opens N connections, prints HELD, and holds them until its
/// standard input closes.
pub(crate) fn client_main(lib: Lib, connections: usize, addr: std::net::SocketAddr, dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let configs = Configs::load(dir);
        let permits = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::with_capacity(connections);
        for _ in 0..connections {
            let permit = permits.clone().acquire_owned().await.expect("semaphore");
            let client = configs.client_full.clone();
            tasks.push(tokio::spawn(async move {
                let stream = connect(lib, &client, addr).await.expect("client handshake");
                drop(permit);
                stream
            }));
        }
        let mut held = Vec::with_capacity(connections);
        for t in tasks {
            held.push(t.await.expect("client task"));
        }
        println!("HELD");
        std::io::stdout().flush().expect("stdout");
        // Hold until the server is done measuring (it closes our stdin).
        let mut line = String::new();
        let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
        drop(held);
    });
}
