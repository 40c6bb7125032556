//! `hold`: opens N connections at a ramp rate and holds them open; reports how many were
//! established and why the others failed or dropped.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::{run_phase, Common};
use crate::connect::{connect, io_cause};
use crate::report::Report;

/// `hold` options.
#[derive(Debug, Clone)]
pub struct HoldOptions {
    /// Connections to open.
    pub connections: usize,
    /// New connections per second while ramping up.
    pub ramp_per_sec: f64,
}

impl HoldOptions {
    /// How long the ramp takes.
    pub fn ramp_time(&self) -> Duration {
        Duration::from_secs_f64(self.connections as f64 / self.ramp_per_sec.max(0.001))
    }
}

/// Connection `i` starts at `i / ramp` seconds, counts as `established` (its connect and
/// handshake time is the latency) and then waits; the server closing it early counts as a
/// failure by cause. The run ends at the duration (the CLI defaults it to the ramp plus 10 s).
pub async fn run(common: &Common, options: &HoldOptions) -> Report {
    let ramp = options.ramp_per_sec.max(0.001);
    let (phase, interrupted) = run_phase(
        "hold",
        crate::report::HELD,
        common.limits,
        common.display,
        options.connections,
        |i, control, stats| {
            let target = common.target.clone();
            let start_at = tokio::time::Instant::now() + Duration::from_secs_f64(i as f64 / ramp);
            async move {
                tokio::select! {
                    () = tokio::time::sleep_until(start_at) => {}
                    () = control.wait_stopped() => return,
                }
                if control.claim(1) == 0 {
                    return;
                }
                let mut local = stats.local();
                let started = Instant::now();
                let mut stream = match connect(&target).await {
                    Ok((stream, _)) => stream,
                    Err(failure) => {
                        local.error(failure.cause);
                        return;
                    }
                };
                local.op(started.elapsed());
                local.count("established");
                local.flush();
                let _open = stats.open_guard();
                let mut buf = [0u8; 1024];
                loop {
                    let read = tokio::select! {
                        r = stream.read(&mut buf) => r,
                        () = control.wait_stopped() => {
                            local.count("held to the end");
                            return;
                        }
                    };
                    match read {
                        Ok(0) => {
                            local.error("held: closed by server");
                            return;
                        }
                        Ok(_) => {} // Whatever the server says is ignored; the point is to hold.
                        Err(e) => {
                            local.error(io_cause("held", &e));
                            return;
                        }
                    }
                }
            }
        },
    )
    .await;
    common.report("hold", interrupted, vec![phase])
}
