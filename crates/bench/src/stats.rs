//! Measurements: an HDR latency histogram, operation and byte counters, errors counted by cause,
//! and a once-a-second timeline for the progress line and the plot.
//!
//! Workers record into a [`Local`] that they own and that merges into the shared [`Stats`] every
//! few milliseconds, so the hot path takes no lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in nanoseconds, from 1 ns to this bound (longer ones are clamped).
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
/// How often a worker's [`Local`] merges into the shared totals.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

fn new_histogram() -> Histogram<u64> {
    // 3 significant digits over 1 ns .. 1 h; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

#[cold]
fn unreachable_histogram() -> Histogram<u64> {
    // Histogram::new(3) only fails for more than 5 significant digits.
    Histogram::new(2).unwrap_or_else(|_| std::process::abort())
}

#[derive(Debug, Default)]
struct Counts {
    ops: u64,
    bytes_sent: u64,
    bytes_received: u64,
    errors: BTreeMap<String, u64>,
    counters: BTreeMap<&'static str, u64>,
}

impl Counts {
    fn merge(&mut self, other: &Counts) {
        self.ops += other.ops;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        for (cause, n) in &other.errors {
            *self.errors.entry(cause.clone()).or_default() += n;
        }
        for (name, n) in &other.counters {
            *self.counters.entry(name).or_default() += n;
        }
    }

    fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

struct Shared {
    total: Counts,
    total_latency: Histogram<u64>,
    interval: Counts,
    interval_latency: Histogram<u64>,
    last_tick: Instant,
    timeline: Vec<Sample>,
    /// When the measured part of the run began (see [`Stats::restart_clock`]).
    started: Instant,
}

/// The shared totals of one run.
pub struct Stats {
    shared: Mutex<Shared>,
    open: AtomicI64,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").finish_non_exhaustive()
    }
}

/// One second of the run: what the progress line shows and the plot draws.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the start of the run, at the end of this interval.
    pub t: f64,
    /// Operations completed in the interval.
    pub ops: u64,
    /// Operations per second over the interval.
    pub rate: f64,
    /// Megabytes (10^6) per second sent plus received over the interval.
    pub mb_per_s: f64,
    /// Median latency over the interval, in milliseconds (0 when nothing was measured).
    pub p50_ms: f64,
    /// 99th-percentile latency over the interval, in milliseconds.
    pub p99_ms: f64,
    /// Errors in the interval.
    pub errors: u64,
    /// Connections open at the end of the interval.
    pub open: i64,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    /// Number of latencies measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        Some(Self {
            count: h.len(),
            mean: h.mean() / 1e6,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

/// The totals of a run (or of one phase of it), before the mode names it.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Seconds from start to the snapshot.
    pub elapsed_secs: f64,
    /// Operations completed.
    pub ops: u64,
    /// Operations per second.
    pub rate: f64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Megabytes (10^6) per second, both directions together.
    pub mb_per_s: f64,
    /// Latency percentiles, if the mode measures latency.
    pub latency_ms: Option<Percentiles>,
    /// Errors by cause.
    pub errors: BTreeMap<String, u64>,
    /// Mode-specific counters (`resumed`, `full`, `established`, ...).
    pub counters: BTreeMap<String, u64>,
    /// Once-a-second samples.
    pub timeline: Vec<Sample>,
}

impl Stats {
    /// Fresh totals; the clock starts now.
    pub fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            shared: Mutex::new(Shared {
                total: Counts::default(),
                total_latency: new_histogram(),
                interval: Counts::default(),
                interval_latency: new_histogram(),
                last_tick: now,
                timeline: Vec::new(),
                started: now,
            }),
            open: AtomicI64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A recorder for one worker.
    pub fn local(self: &Arc<Self>) -> Local {
        Local {
            stats: self.clone(),
            counts: Counts::default(),
            latency: new_histogram(),
            last_flush: Instant::now(),
        }
    }

    /// Counts a connection as open until the guard drops.
    pub fn open_guard(self: &Arc<Self>) -> OpenGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(self.clone())
    }

    /// Connections open right now.
    pub fn open_now(&self) -> i64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Starts the clock again from now, dropping the timeline so far; for modes that set up
    /// all their connections before measuring (as redis-benchmark does).
    pub fn restart_clock(&self) {
        let mut shared = self.lock();
        let now = Instant::now();
        shared.started = now;
        shared.last_tick = now;
        shared.timeline.clear();
    }

    /// Closes the current interval: appends a [`Sample`] to the timeline and returns it.
    pub fn tick(&self) -> Sample {
        let open = self.open_now();
        let mut shared = self.lock();
        let now = Instant::now();
        let secs = now.duration_since(shared.last_tick).as_secs_f64().max(1e-9);
        let interval = std::mem::take(&mut shared.interval);
        let pct = Percentiles::of(&shared.interval_latency);
        shared.interval_latency.reset();
        shared.last_tick = now;
        let sample = Sample {
            t: now.duration_since(shared.started).as_secs_f64(),
            ops: interval.ops,
            rate: interval.ops as f64 / secs,
            mb_per_s: (interval.bytes_sent + interval.bytes_received) as f64 / 1e6 / secs,
            p50_ms: pct.as_ref().map_or(0.0, |p| p.p50),
            p99_ms: pct.as_ref().map_or(0.0, |p| p.p99),
            errors: interval.error_total(),
            open,
        };
        shared.timeline.push(sample.clone());
        sample
    }

    /// Closes the last, partial interval at the end of a run, unless it is too short for its
    /// rate to mean anything (its operations still count in the totals).
    pub fn finish_timeline(&self) {
        let since = self.lock().last_tick.elapsed();
        if since >= Duration::from_millis(250) {
            self.tick();
        }
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        let shared = self.lock();
        let elapsed = shared.started.elapsed().as_secs_f64().max(1e-9);
        let t = &shared.total;
        Totals {
            elapsed_secs: elapsed,
            ops: t.ops,
            rate: t.ops as f64 / elapsed,
            bytes_sent: t.bytes_sent,
            bytes_received: t.bytes_received,
            mb_per_s: (t.bytes_sent + t.bytes_received) as f64 / 1e6 / elapsed,
            latency_ms: Percentiles::of(&shared.total_latency),
            errors: t.errors.clone(),
            counters: t
                .counters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            timeline: shared.timeline.clone(),
        }
    }
}

/// Keeps [`Stats::open_now`] counting one connection.
#[derive(Debug)]
pub struct OpenGuard(Arc<Stats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One worker's recorder; merges into the shared totals every 50 ms and when dropped.
pub struct Local {
    stats: Arc<Stats>,
    counts: Counts,
    latency: Histogram<u64>,
    last_flush: Instant,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}

impl Local {
    /// One operation that took `latency`.
    pub fn op(&mut self, latency: Duration) {
        self.ops(1, latency);
    }

    /// `n` operations that each took `latency` (a pipelined batch).
    pub fn ops(&mut self, n: u64, latency: Duration) {
        self.counts.ops += n;
        let ns = u64::try_from(latency.as_nanos())
            .unwrap_or(MAX_LATENCY_NS)
            .clamp(1, MAX_LATENCY_NS);
        // Within bounds by the clamp, so recording cannot fail.
        let _ = self.latency.record_n(ns, n);
        self.maybe_flush();
    }

    /// Operations without a latency (bytes streamed, for instance).
    pub fn count_ops(&mut self, n: u64) {
        self.counts.ops += n;
        self.maybe_flush();
    }

    /// Payload bytes sent.
    pub fn sent(&mut self, n: usize) {
        self.counts.bytes_sent += n as u64;
        self.maybe_flush();
    }

    /// Payload bytes received.
    pub fn received(&mut self, n: usize) {
        self.counts.bytes_received += n as u64;
        self.maybe_flush();
    }

    /// A failure, by cause.
    pub fn error(&mut self, cause: impl Into<String>) {
        *self.counts.errors.entry(cause.into()).or_default() += 1;
        self.flush();
    }

    /// Bumps a named counter.
    pub fn count(&mut self, name: &'static str) {
        *self.counts.counters.entry(name).or_default() += 1;
        self.maybe_flush();
    }

    fn maybe_flush(&mut self) {
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Merges into the shared totals now.
    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        let counts = std::mem::take(&mut self.counts);
        let mut shared = self.stats.lock();
        shared.total.merge(&counts);
        shared.interval.merge(&counts);
        // Same bounds on both sides, so adding cannot fail.
        let _ = shared.total_latency.add(&self.latency);
        let _ = shared.interval_latency.add(&self.latency);
        drop(shared);
        self.latency.reset();
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locals_merge_into_totals_and_timeline() {
        let stats = Stats::new();
        let mut a = stats.local();
        let mut b = stats.local();
        a.op(Duration::from_millis(1));
        b.ops(9, Duration::from_millis(3));
        b.error("connection refused");
        b.error("connection refused");
        a.count("resumed");
        a.sent(100);
        drop(a);
        drop(b);
        let sample = stats.tick();
        assert_eq!(sample.ops, 10);
        assert_eq!(sample.errors, 2);
        let totals = stats.totals();
        assert_eq!(totals.ops, 10);
        assert_eq!(totals.bytes_sent, 100);
        assert_eq!(totals.errors["connection refused"], 2);
        assert_eq!(totals.counters["resumed"], 1);
        let lat = totals.latency_ms.unwrap();
        assert_eq!(lat.count, 10);
        assert!((lat.p50 - 3.0).abs() < 0.01, "{lat:?}");
        assert_eq!(totals.timeline.len(), 1);
    }
}
