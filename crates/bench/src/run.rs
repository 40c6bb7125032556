//! Run control shared by every mode: a duration or an operation count, Ctrl-C, the
//! once-a-second tick that feeds the timeline and the live progress line.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::stats::{Sample, Stats};

/// When a run (or one phase of it) ends: after a duration, after a number of operations, or
/// whichever comes first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many operations.
    pub count: Option<u64>,
}

/// The stop signal and the operation budget that workers consult.
#[derive(Debug)]
pub struct Control {
    stop_tx: watch::Sender<bool>,
    interrupted: AtomicBool,
    remaining: Option<AtomicU64>,
}

impl Control {
    /// A control for these limits (the duration is enforced by [`drive`]).
    pub fn new(limits: Limits) -> Arc<Self> {
        let (stop_tx, _) = watch::channel(false);
        Arc::new(Self {
            stop_tx,
            interrupted: AtomicBool::new(false),
            remaining: limits.count.map(AtomicU64::new),
        })
    }

    /// Whether the run should stop.
    pub fn stopped(&self) -> bool {
        *self.stop_tx.borrow()
    }

    /// Asks every worker to stop.
    pub fn stop(&self) {
        self.stop_tx.send_replace(true);
    }

    /// Whether Ctrl-C ended the run.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Resolves once the run should stop.
    pub async fn wait_stopped(&self) {
        let mut rx = self.stop_tx.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Claims up to `n` operations of the budget; returns how many were granted (0: done).
    pub fn claim(&self, n: u64) -> u64 {
        if self.stopped() {
            return 0;
        }
        let Some(remaining) = &self.remaining else {
            return n;
        };
        let mut current = remaining.load(Ordering::Relaxed);
        loop {
            let take = current.min(n);
            if take == 0 {
                return 0;
            }
            match remaining.compare_exchange_weak(
                current,
                current - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take,
                Err(now) => current = now,
            }
        }
    }
}

/// How the run reports while it goes.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    /// Print a live progress line on stderr when stderr is a terminal.
    pub progress: bool,
}

/// Runs `work` under `limits`: ticks the timeline every second, prints the progress line,
/// stops at the deadline or on Ctrl-C (then waits up to 2 s for workers to wind down).
pub async fn drive<F>(
    limits: Limits,
    control: Arc<Control>,
    stats: Arc<Stats>,
    display: Display,
    work: F,
) where
    F: std::future::Future<Output = ()>,
{
    let show = display.progress && std::io::stderr().is_terminal();
    let ticker = {
        let stats = stats.clone();
        async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            interval.tick().await;
            loop {
                interval.tick().await;
                let sample = stats.tick();
                if show {
                    progress_line(&sample);
                }
            }
        }
    };
    let ctrl_c = {
        let control = control.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                control.interrupted.store(true, Ordering::Relaxed);
                control.stop();
            }
        }
    };
    let deadline = async {
        match limits.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
        control.stop();
        std::future::pending::<()>().await;
    };
    tokio::pin!(work);
    tokio::select! {
        () = &mut work => {}
        () = async {
            tokio::join!(ticker, ctrl_c, deadline);
        } => {}
        () = async {
            control.wait_stopped().await;
            // Workers notice the stop between operations; give stragglers a moment.
            tokio::time::sleep(Duration::from_secs(2)).await;
        } => {}
    }
    control.stop();
    // The last partial second goes into the timeline too.
    stats.finish_timeline();
    if show {
        eprintln!();
    }
}

fn progress_line(sample: &Sample) {
    let mut line = format!(
        "\r[{:>5.0}s] {:>10.0}/s  {:>8.2} MB/s  p50 {:>8.3} ms  p99 {:>8.3} ms  open {:>6}  errors {:>6}",
        sample.t, sample.rate, sample.mb_per_s, sample.p50_ms, sample.p99_ms, sample.open, sample.errors
    );
    line.push_str("   ");
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_never_exceed_the_budget() {
        let control = Control::new(Limits {
            duration: None,
            count: Some(10),
        });
        assert_eq!(control.claim(4), 4);
        assert_eq!(control.claim(4), 4);
        assert_eq!(control.claim(4), 2);
        assert_eq!(control.claim(4), 0);
        let unlimited = Control::new(Limits::default());
        assert_eq!(unlimited.claim(7), 7);
        unlimited.stop();
        assert_eq!(unlimited.claim(7), 0);
    }
}
