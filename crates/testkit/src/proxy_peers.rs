//! Backends, clients and admin-server requests for the proxy's tests, shared by the tests that
//! run it in-process (`crates/proxy/tests`) and those that run the built binary
//! (`crates/cli/tests/proxy_*.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tlswire_core::rustls::ClientConfig;
use tlswire_tokio::{EofPolicy, TlsConnector, TlsStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What a backend does with each connection.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Sends `NAME\n`, then echoes until end of stream, then half-closes.
    Tagged,
    /// Answers one HTTP request with `hello from NAME`.
    Http,
    /// After one byte arrives, sends this many bytes slowly, then closes.
    Bulk(usize),
}

/// A plaintext backend on a loopback port, counting its connections.
pub struct Backend {
    pub addr: SocketAddr,
    pub name: &'static str,
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &'static str, behaviour: Behaviour) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), name, behaviour).await
    }

    pub async fn start_on(addr: SocketAddr, name: &'static str, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, name, behaviour));
            }
        });
        Self {
            addr,
            name,
            connections,
            task,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Stops listening: once this returns, new connections are refused. Waiting for the
    /// aborted task matters: until it is dropped its listener still completes handshakes into
    /// the backlog, and such a connection would be closed unanswered.
    pub async fn kill(self) -> SocketAddr {
        self.task.abort();
        let _ = self.task.await;
        self.addr
    }
}

async fn serve(mut stream: TcpStream, name: &'static str, behaviour: Behaviour) {
    match behaviour {
        Behaviour::Tagged => {
            let _ = stream.write_all(format!("{name}\n").as_bytes()).await;
            let (mut r, mut w) = stream.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        }
        Behaviour::Http => {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!("hello from {name}\n");
            let response = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Behaviour::Bulk(size) => {
            let mut one = [0u8; 1];
            if stream.read_exact(&mut one).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < size {
                let n = chunk.len().min(size - sent);
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent += n;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = stream.shutdown().await;
        }
    }
}

/// A TLS connection through `addr` with SNI `sni`.
pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    sni: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::new(config)
        .with_eof_policy(EofPolicy::Lenient)
        .connect(sni, tcp)
        .await
}

/// Reads up to and including the first newline.
pub async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .map_err(|_| std::io::Error::other("read timed out"))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

/// Sends a line, reads the backend's tag line, then the echo.
pub async fn tag_and_echo<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> std::io::Result<String> {
    // The client speaks first: a listener that sniffs plaintext waits for the first bytes.
    stream.write_all(b"ping\n").await?;
    stream.flush().await?;
    let tag = read_line(stream).await?;
    let echo = read_line(stream).await?;
    if echo != "ping\n" {
        return Err(std::io::Error::other(format!("bad echo {echo:?}")));
    }
    Ok(tag.trim().to_owned())
}

/// Connects in plaintext to `addr` and returns the tag of the backend that answered.
pub async fn tag_via(addr: SocketAddr) -> std::io::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    tag_and_echo(&mut conn).await
}

/// Waits until the admin server at `admin` answers `/ready` with 200 (every balancer has
/// endpoints); panics after about 4 s.
pub async fn wait_ready(admin: SocketAddr) {
    for _ in 0..200 {
        if admin_get(admin, "/ready", "GET").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the proxy never became ready");
}

/// Sends `METHOD path` to the admin server; returns the status and the body.
pub async fn admin_get(admin: SocketAddr, path: &str, method: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(admin).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of a metric line starting with `prefix` (name plus labels).
pub fn metric(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The sum of the metric lines starting with `prefix` that also contain `label` (such as
/// `result="ok"`); 0 when there are none.
pub fn metric_sum(metrics: &str, prefix: &str, label: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
