//! The five load modes. Each takes the [`Common`] settings plus its own options and returns a
//! [`Report`](crate::Report).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::connect::Target;
use crate::report::{Phase, Report};
use crate::run::{drive, Control, Display, Limits};
use crate::stats::Stats;

pub mod handshake;
pub mod hold;
pub mod latency;
pub mod redis;
pub mod throughput;

/// Settings every mode shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// Where to connect, and the TLS settings.
    pub target: Arc<Target>,
    /// When the run (each phase, for redis) ends.
    pub limits: Limits,
    /// Live progress line.
    pub display: Display,
    /// Settings to record in the report.
    pub settings: BTreeMap<String, String>,
}

impl Common {
    /// A report for this target with these phases.
    pub(crate) fn report(&self, mode: &str, interrupted: bool, phases: Vec<Phase>) -> Report {
        Report {
            mode: mode.to_owned(),
            target: self.target.display.clone(),
            interrupted,
            settings: self.settings.clone(),
            phases,
        }
    }
}

/// Runs `spawn(worker index, control, stats)` for `workers` workers under `limits` and returns
/// the phase's figures and whether Ctrl-C ended it.
pub(crate) async fn run_phase<F, Fut>(
    name: &str,
    unit: &str,
    limits: Limits,
    display: Display,
    workers: usize,
    spawn: F,
) -> (Phase, bool)
where
    F: Fn(usize, Arc<Control>, Arc<Stats>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stats = Stats::new();
    let control = Control::new(limits);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..workers {
        set.spawn(spawn(i, control.clone(), stats.clone()));
    }
    let work = async { while set.join_next().await.is_some() {} };
    drive(limits, control.clone(), stats.clone(), display, work).await;
    // Stragglers are cancelled; their recorders flush as they drop.
    set.shutdown().await;
    let phase = Phase {
        name: name.to_owned(),
        unit: unit.to_owned(),
        totals: stats.totals(),
    };
    (phase, control.interrupted())
}

/// How long a worker waits after a failed connection before trying again, so a dead target is
/// probed steadily instead of in a busy loop.
pub(crate) const RETRY_PAUSE: Duration = Duration::from_millis(50);
