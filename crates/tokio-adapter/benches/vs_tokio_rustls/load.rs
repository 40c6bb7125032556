//! Bulk throughput over one loopback connection, and handshakes per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::{accept, connect, Configs, Lib};

/// Bytes per write and per read in the bulk measurement.
const CHUNK: usize = 256 * 1024;

/// Sends `total` bytes client → server over one connection per library, in `slices` slices;
/// the libraries take turns slice by slice (so a burst of load on the shared machine hits
/// them alike), and each slice is timed from its first write to the server's acknowledgement
/// that it read the slice's last byte. Returns, per library, bytes per second over the median
/// slice.
pub(crate) async fn bulk<const N: usize>(
    libs: [Lib; N],
    configs: &Configs,
    total: u64,
    slices: u64,
) -> [f64; N] {
    let slice = (total / slices).max(CHUNK as u64) / CHUNK as u64 * CHUNK as u64;
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for lib in libs {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server_config = configs.server.clone();
        servers.push(tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut stream = accept(lib, &server_config, tcp)
                .await
                .expect("server handshake");
            let mut buf = vec![0u8; CHUNK];
            let mut in_slice = 0u64;
            let mut received = 0u64;
            loop {
                let n = stream.read(&mut buf).await.expect("server read");
                if n == 0 {
                    break;
                }
                received += n as u64;
                in_slice += n as u64;
                if in_slice >= slice {
                    in_slice -= slice;
                    stream.write_all(b"k").await.expect("ack");
                    stream.flush().await.expect("ack flush");
                }
            }
            received
        }));
        let (stream, _) = connect(lib, &configs.client_full, addr)
            .await
            .expect("client handshake");
        clients.push(stream);
    }
    let chunk = vec![0x5au8; CHUNK];
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for i in 0..slices as usize {
        for k in (0..N).map(|k| (k + i) % N) {
            let stream = &mut clients[k];
            let start = Instant::now();
            for _ in 0..slice / CHUNK as u64 {
                stream.write_all(&chunk).await.expect("client write");
            }
            stream.flush().await.expect("client flush");
            let mut ack = [0u8; 1];
            stream.read_exact(&mut ack).await.expect("ack read");
            times[k].push(start.elapsed().as_secs_f64());
        }
    }
    for stream in &mut clients {
        stream.shutdown().await.expect("client shutdown");
    }
    for (k, server) in servers.into_iter().enumerate() {
        let received = server.await.expect("server task");
        assert_eq!(received, slice * slices, "{}: bytes lost", libs[k].name());
    }
    std::array::from_fn(|k| slice as f64 / crate::common::median(times[k].clone()))
}

/// Serves handshakes for `lib` until aborted: each connection exchanges one byte each way and
/// closes cleanly.
fn spawn_handshake_server(
    lib: Lib,
    configs: &Configs,
    listener: TcpListener,
) -> tokio::task::JoinHandle<()> {
    let server_config = configs.server.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let server_config = server_config.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = accept(lib, &server_config, tcp).await else {
                    return;
                };
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_err() {
                    return;
                }
                let _ = stream.write_all(b"y").await;
                let _ = stream.flush().await;
                let _ = stream.read(&mut byte).await;
                let _ = stream.shutdown().await;
            });
        }
    })
}

/// Times `count` handshakes per library, one at a time, alternating between the libraries
/// (so a burst of load on the shared machine hits both alike). Each handshake exchanges one
/// byte each way (so the client takes in the server's session tickets) and closes cleanly.
/// Returns, per library, handshakes per second as 1 / median time, and how many resumed.
pub(crate) async fn handshakes<const N: usize>(
    libs: [Lib; N],
    configs: &Configs,
    resuming: bool,
    count: usize,
) -> [(f64, usize); N] {
    let client = if resuming {
        configs.client_resuming.clone()
    } else {
        configs.client_full.clone()
    };
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for lib in libs {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        addrs.push(listener.local_addr().expect("addr"));
        servers.push(spawn_handshake_server(lib, configs, listener));
        if resuming {
            // One full handshake first, for the tickets.
            one_exchange(lib, &client, addrs[addrs.len() - 1]).await;
        }
    }
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(count));
    let mut resumed = [0usize; N];
    for i in 0..count {
        // Rotate which library goes first.
        for k in (0..N).map(|k| (k + i) % N) {
            let start = Instant::now();
            resumed[k] += usize::from(one_exchange(libs[k], &client, addrs[k]).await);
            times[k].push(start.elapsed().as_secs_f64());
        }
    }
    for server in servers {
        server.abort();
    }
    std::array::from_fn(|k| (1.0 / crate::common::median(times[k].clone()), resumed[k]))
}

/// One connection: handshake, one byte each way, clean close. Returns whether it resumed.
async fn one_exchange(
    lib: Lib,
    client: &Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
) -> bool {
    let step = Duration::from_secs(10);
    let (mut stream, resumed) = tokio::time::timeout(step, connect(lib, client, addr))
        .await
        .expect("handshake timed out")
        .expect("client handshake");
    stream.write_all(b"x").await.expect("write");
    stream.flush().await.expect("flush");
    let mut byte = [0u8; 1];
    tokio::time::timeout(step, stream.read_exact(&mut byte))
        .await
        .expect("reply timed out")
        .expect("read");
    stream.shutdown().await.expect("shutdown");
    resumed
}
