//! Counters in the Prometheus text format, served on the admin port at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Store latency histogram buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Everything the daemon counts.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Payloads framed, parsed and queued for the store.
    pub accepted: AtomicU64,
    /// Payloads the store confirmed (directly or on replay from the spool).
    pub stored: AtomicU64,
    /// Payloads written to the spool.
    pub spooled: AtomicU64,
    /// Bytes received from clients (plaintext).
    pub bytes_received: AtomicU64,
    /// Connections accepted (TCP).
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Payloads in the spool now.
    pub spool_depth: AtomicU64,
    /// Bytes in the spool now.
    pub spool_bytes: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    handshake_failures: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts a rejected payload by reason label.
    pub fn reject(&self, label: &'static str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(label)
            .or_default() += 1;
    }

    /// Rejected payloads with this label so far.
    pub fn rejected(&self, label: &str) -> u64 {
        self.rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(label)
            .copied()
            .unwrap_or(0)
    }

    /// Counts a failed handshake by cause.
    pub fn handshake_failed(&self, cause: &'static str) {
        *self
            .handshake_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(cause)
            .or_default() += 1;
    }

    /// Failed handshakes with this cause so far.
    pub fn handshake_failures(&self, cause: &str) -> u64 {
        self.handshake_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(cause)
            .copied()
            .unwrap_or(0)
    }

    /// Records how long one store write took.
    pub fn observe_store_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "tlswire_ingest_payloads_accepted_total",
            "Payloads received and queued for the store.",
            self.accepted.load(Relaxed),
        );
        counter(
            &mut out,
            "tlswire_ingest_payloads_stored_total",
            "Payloads the store confirmed.",
            self.stored.load(Relaxed),
        );
        counter(
            &mut out,
            "tlswire_ingest_payloads_spooled_total",
            "Payloads written to the on-disk spool while the store was unreachable.",
            self.spooled.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tlswire_ingest_payloads_rejected_total Payloads rejected, by reason.\n# TYPE tlswire_ingest_payloads_rejected_total counter"
        );
        for (reason, n) in self
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "tlswire_ingest_payloads_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        counter(
            &mut out,
            "tlswire_ingest_bytes_received_total",
            "Plaintext bytes received from clients.",
            self.bytes_received.load(Relaxed),
        );
        counter(
            &mut out,
            "tlswire_ingest_connections_total",
            "TCP connections accepted.",
            self.connections_total.load(Relaxed),
        );
        gauge(
            &mut out,
            "tlswire_ingest_connections_open",
            "Connections open now.",
            self.connections_open.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tlswire_ingest_handshake_failures_total Failed TLS handshakes, by cause.\n# TYPE tlswire_ingest_handshake_failures_total counter"
        );
        for (cause, n) in self
            .handshake_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "tlswire_ingest_handshake_failures_total{{cause=\"{cause}\"}} {n}"
            );
        }
        gauge(
            &mut out,
            "tlswire_ingest_spool_payloads",
            "Payloads in the spool waiting for the store.",
            self.spool_depth.load(Relaxed),
        );
        gauge(
            &mut out,
            "tlswire_ingest_spool_bytes",
            "Bytes in the spool.",
            self.spool_bytes.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tlswire_ingest_store_write_seconds Time per batch written to the store.\n# TYPE tlswire_ingest_store_write_seconds histogram"
        );
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(
                out,
                "tlswire_ingest_store_write_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let sum = self.latency_sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "tlswire_ingest_store_write_seconds_bucket{{le=\"+Inf\"}} {count}\ntlswire_ingest_store_write_seconds_sum {sum}\ntlswire_ingest_store_write_seconds_count {count}"
        );
        out
    }
}

/// Serves `GET /metrics` (and `/`) on `listener` until the task is dropped.
pub(crate) async fn serve_admin(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut request));
            let n = match read.await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let head = String::from_utf8_lossy(&request[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" | "/" => ("200 OK", metrics.render()),
                "/ready" => ("200 OK", "ready\n".to_owned()),
                _ => ("404 Not Found", "not found; try /metrics\n".to_owned()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(e) = stream.write_all(response.as_bytes()).await {
                tracing::debug!(%peer, "admin response not sent: {e}");
            }
        });
    }
}

/// Binds the admin listener, naming the address on failure.
pub(crate) async fn bind_admin(addr: SocketAddr) -> Result<TcpListener, crate::IngestError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| crate::IngestError::io(format!("cannot listen for metrics on {addr}"), e))
}
