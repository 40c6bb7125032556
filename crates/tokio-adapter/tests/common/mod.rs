//! Helpers shared by the integration tests: loopback listeners and echo servers.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tlswire_core::rustls::ServerConfig;
use tlswire_tokio::{TlsAcceptor, TlsStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Upper bound for any single step of a test, so a bug fails the test instead of hanging it.
pub(crate) const STEP: Duration = Duration::from_secs(30);

pub(crate) async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves `connections` TLS connections, echoing each until the client closes.
pub(crate) async fn spawn_echo_server(
    config: Arc<ServerConfig>,
    connections: usize,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let (listener, addr) = listener().await;
    let acceptor = TlsAcceptor::new(config);
    let task = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tasks.push(tokio::spawn(async move {
                let tls = acceptor.accept(tcp).await.unwrap();
                echo(tls).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    (addr, task)
}

/// Echoes until the peer closes, then closes cleanly.
pub(crate) async fn echo(tls: TlsStream<TcpStream>) {
    let (mut r, mut w) = tls.into_split();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n]).await.unwrap();
        w.flush().await.unwrap();
    }
    w.shutdown().await.unwrap();
}

/// Deterministic test data: byte `i` is a function of `i` and `seed`.
pub(crate) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 13) as u8) ^ seed)
        .collect()
}
