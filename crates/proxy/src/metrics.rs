//! Counters, gauges and a handshake-latency histogram, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::balancer::Balancer;

/// Upper bounds of the handshake-latency buckets, in seconds.
const HANDSHAKE_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Everything the proxy counts.
#[derive(Debug, Default)]
pub struct Metrics {
    accepts: AtomicU64,
    active: AtomicI64,
    refused: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
    handshake_buckets: [AtomicU64; HANDSHAKE_BUCKETS.len()],
    handshake_count: AtomicU64,
    handshake_sum_micros: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    reloads: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    balancers: Mutex<Vec<Arc<Balancer>>>,
}

/// Why a connection failed, as a metrics label.
pub mod cause {
    /// The client's TLS handshake failed.
    pub const HANDSHAKE: &str = "handshake";
    /// The client's handshake did not finish in time.
    pub const HANDSHAKE_TIMEOUT: &str = "handshake_timeout";
    /// The ClientHello was refused (unknown SNI, no common ALPN, plaintext not allowed...).
    pub const REJECTED: &str = "rejected";
    /// The client certificate did not pass the ACL.
    pub const ACL: &str = "acl_denied";
    /// No upstream endpoint accepted a connection.
    pub const UPSTREAM_CONNECT: &str = "upstream_connect";
    /// The TLS handshake with the upstream failed (for example a certificate for another name).
    pub const UPSTREAM_TLS: &str = "upstream_tls";
    /// The destination has no endpoints.
    pub const NO_ENDPOINTS: &str = "no_endpoints";
    /// An I/O error while relaying.
    pub const RELAY: &str = "relay_io";
    /// The connection idled out.
    pub const IDLE: &str = "idle_timeout";
    /// The connection reached its maximum lifetime.
    pub const LIFETIME: &str = "lifetime";
    /// The listener was at maxConcurrency.
    pub const OVER_CAPACITY: &str = "over_capacity";
    /// The drain's grace period ran out.
    pub const DRAIN: &str = "drain_timeout";
}

impl Metrics {
    /// A fresh set of metrics.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counts an accepted connection.
    pub fn accepted(&self) {
        self.accepts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection refused because the listener was full.
    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.failed(cause::OVER_CAPACITY);
    }

    /// Connections refused because the listener was full, so far.
    pub fn refused_count(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts a live connection until the guard drops.
    pub fn active_guard(self: &Arc<Self>) -> ActiveConnection {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveConnection(self.clone())
    }

    /// Live connections.
    pub fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a failure by cause.
    pub fn failed(&self, cause: &'static str) {
        *self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(cause)
            .or_default() += 1;
    }

    /// Failures of one cause so far.
    pub fn failure_count(&self, cause: &str) -> u64 {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(cause)
            .copied()
            .unwrap_or(0)
    }

    /// Records a completed client handshake that took `elapsed`.
    pub fn handshake(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, count) in HANDSHAKE_BUCKETS.iter().zip(&self.handshake_buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.handshake_count.fetch_add(1, Ordering::Relaxed);
        self.handshake_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Completed client handshakes so far.
    pub fn handshake_count(&self) -> u64 {
        self.handshake_count.load(Ordering::Relaxed)
    }

    /// The relayed-byte counters, client → upstream and upstream → client, which relays add
    /// to as bytes move.
    pub(crate) fn byte_totals(&self) -> (&AtomicU64, &AtomicU64) {
        (&self.bytes_to_upstream, &self.bytes_to_client)
    }

    /// Counts a reload of `kind` (`identity`, `trust`, `tickets`, `upstream`) by result.
    pub fn reload(&self, kind: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        *self
            .reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((kind, result))
            .or_default() += 1;
    }

    /// Reloads of any kind with this result so far.
    pub fn reload_count(&self, ok: bool) -> u64 {
        let result = if ok { "ok" } else { "failed" };
        self.reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|((_, r), _)| *r == result)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Includes a balancer's endpoints in the output.
    pub fn track(&self, balancer: Arc<Balancer>) {
        self.balancers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(balancer);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "tlswire_proxy_accepts_total",
            "Connections accepted.",
            self.accepts.load(Ordering::Relaxed),
        );
        counter(
            "tlswire_proxy_refused_total",
            "Connections refused at maxConcurrency.",
            self.refused.load(Ordering::Relaxed),
        );
        counter(
            "tlswire_proxy_bytes_to_upstream_total",
            "Bytes relayed from clients to upstreams.",
            self.bytes_to_upstream.load(Ordering::Relaxed),
        );
        counter(
            "tlswire_proxy_bytes_to_client_total",
            "Bytes relayed from upstreams to clients.",
            self.bytes_to_client.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tlswire_proxy_active_connections Live client connections.\n\
             # TYPE tlswire_proxy_active_connections gauge\n\
             tlswire_proxy_active_connections {}",
            self.active()
        );
        let _ = writeln!(
            out,
            "# HELP tlswire_proxy_handshake_seconds Client TLS handshake latency.\n\
             # TYPE tlswire_proxy_handshake_seconds histogram"
        );
        for (bound, count) in HANDSHAKE_BUCKETS.iter().zip(&self.handshake_buckets) {
            let _ = writeln!(
                out,
                "tlswire_proxy_handshake_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let count = self.handshake_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tlswire_proxy_handshake_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             tlswire_proxy_handshake_seconds_sum {}\n\
             tlswire_proxy_handshake_seconds_count {count}",
            self.handshake_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP tlswire_proxy_failures_total Failed connections by cause.\n\
             # TYPE tlswire_proxy_failures_total counter"
        );
        for (cause, n) in self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "tlswire_proxy_failures_total{{cause=\"{cause}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP tlswire_proxy_reloads_total File reloads by kind and result.\n\
             # TYPE tlswire_proxy_reloads_total counter"
        );
        for ((kind, result), n) in self
            .reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "tlswire_proxy_reloads_total{{kind=\"{kind}\",result=\"{result}\"}} {n}"
            );
        }
        self.render_endpoints(&mut out);
        out
    }

    fn render_endpoints(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP tlswire_proxy_endpoint_active Live connections per endpoint.\n\
             # TYPE tlswire_proxy_endpoint_active gauge\n\
             # HELP tlswire_proxy_endpoint_parked Whether the endpoint is parked by fail-fast.\n\
             # TYPE tlswire_proxy_endpoint_parked gauge\n\
             # HELP tlswire_proxy_endpoint_connects_total Successful upstream connects.\n\
             # TYPE tlswire_proxy_endpoint_connects_total counter\n\
             # HELP tlswire_proxy_endpoint_connect_failures_total Failed upstream connects.\n\
             # TYPE tlswire_proxy_endpoint_connect_failures_total counter"
        );
        let now = Instant::now();
        for balancer in self
            .balancers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            for e in balancer.endpoints().iter() {
                let labels = format!(
                    "dst=\"{}\",endpoint=\"{}\",weight=\"{}\"",
                    escape(balancer.name()),
                    e.addr(),
                    e.weight()
                );
                let _ = writeln!(
                    out,
                    "tlswire_proxy_endpoint_active{{{labels}}} {}\n\
                     tlswire_proxy_endpoint_parked{{{labels}}} {}\n\
                     tlswire_proxy_endpoint_connects_total{{{labels}}} {}\n\
                     tlswire_proxy_endpoint_connect_failures_total{{{labels}}} {}",
                    e.active(),
                    u8::from(e.is_parked(now)),
                    e.connects(),
                    e.failures()
                );
            }
        }
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Keeps the live-connection gauge up while held.
#[derive(Debug)]
pub struct ActiveConnection(Arc<Metrics>);

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}
