//! `throughput`: N connections streaming as fast as they can, one way or both ways, in MB/s.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{run_phase, Common, RETRY_PAUSE};
use crate::connect::{connect, io_cause};
use crate::report::Report;

/// Which way the bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Direction {
    /// Client to server (the server is a sink, or an echo whose answer is read and discarded).
    #[default]
    Up,
    /// Server to client (the server is a source).
    Down,
    /// Both at once (the server echoes).
    Both,
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "up" | "upload" => Ok(Self::Up),
            "down" | "download" => Ok(Self::Down),
            "both" | "echo" => Ok(Self::Both),
            other => Err(format!(
                "unknown direction {other:?} (use up, down or both)"
            )),
        }
    }
}

/// `throughput` options.
#[derive(Debug, Clone)]
pub struct ThroughputOptions {
    /// Connections streaming at once.
    pub connections: usize,
    /// Which way.
    pub direction: Direction,
    /// Bytes per write.
    pub chunk: usize,
}

/// Streams on `connections` connections; an operation is one byte moved (sent or received),
/// so the rate column reads in bytes per second and `MB/s` counts both directions. A count
/// limit caps the bytes sent.
pub async fn run(common: &Common, options: &ThroughputOptions) -> Report {
    let direction = options.direction;
    let chunk = options.chunk.max(1);
    let (phase, interrupted) = run_phase(
        "stream",
        "bytes",
        common.limits,
        common.display,
        options.connections.max(1),
        |_, control, stats| {
            let target = common.target.clone();
            async move {
                let stream = loop {
                    if control.stopped() {
                        return;
                    }
                    match connect(&target).await {
                        Ok((stream, _)) => break stream,
                        Err(failure) => {
                            stats.local().error(failure.cause);
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                    }
                };
                let _open = stats.open_guard();
                let (mut reader, mut writer) = tokio::io::split(stream);
                let send = async {
                    let mut local = stats.local();
                    if direction == Direction::Down {
                        return;
                    }
                    let data = vec![0x5a_u8; chunk];
                    loop {
                        let granted = control.claim(chunk as u64);
                        if granted == 0 {
                            break;
                        }
                        let n = usize::try_from(granted).unwrap_or(chunk).min(chunk);
                        if let Err(e) = writer.write_all(&data[..n]).await {
                            local.error(io_cause("write", &e));
                            return;
                        }
                        local.sent(n);
                        local.count_ops(n as u64);
                    }
                    let _ = writer.shutdown().await;
                };
                let receive = async {
                    let mut local = stats.local();
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match reader.read(&mut buf).await {
                            Ok(0) => {
                                if direction == Direction::Down && !control.stopped() {
                                    local.error("read: closed by server");
                                }
                                return;
                            }
                            Ok(n) => {
                                local.received(n);
                                local.count_ops(n as u64);
                            }
                            Err(e) => {
                                if !control.stopped() {
                                    local.error(io_cause("read", &e));
                                }
                                return;
                            }
                        }
                    }
                };
                tokio::select! {
                    _ = async { tokio::join!(send, receive) } => {}
                    () = control.wait_stopped() => {}
                }
            }
        },
    )
    .await;
    common.report("throughput", interrupted, vec![phase])
}
