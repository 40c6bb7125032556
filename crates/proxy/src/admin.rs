//! The admin HTTP server: `GET /metrics` (Prometheus text), `GET /ready`, `POST /shutdown`.
//! A minimal HTTP/1.1 server: one request per connection, `Connection: close`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// What the admin endpoints read and trigger.
pub(crate) struct AdminState {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ready: Box<dyn Fn() -> bool + Send + Sync>,
    pub(crate) shutdown: watch::Sender<bool>,
}

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;

pub(crate) async fn serve(socket: TcpListener, state: Arc<AdminState>) {
    loop {
        let Ok((stream, peer)) = socket.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) =
                tokio::time::timeout(Duration::from_secs(5), handle(stream, &state)).await
            {
                tracing::debug!(%peer, "admin request timed out: {e}");
            }
        });
    }
}

async fn handle(mut stream: TcpStream, state: &AdminState) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            let _ = respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request head too large\n",
            )
            .await;
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4",
            state.metrics.render(),
        ),
        ("GET", "/ready") => {
            if (state.ready)() {
                ("200 OK", "text/plain", "ready\n".to_owned())
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    "not ready\n".to_owned(),
                )
            }
        }
        ("POST", "/shutdown") => {
            tracing::info!("shutdown requested through the admin server");
            let _ = state.shutdown.send(true);
            ("202 Accepted", "text/plain", "draining\n".to_owned())
        }
        (_, "/metrics" | "/ready" | "/shutdown") => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".to_owned(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let _ = respond(&mut stream, status, content_type, &body).await;
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
