//! `latency`: request/response round trips of a fixed size against an echo server.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{run_phase, Common, RETRY_PAUSE};
use crate::connect::{connect, io_cause};
use crate::report::Report;

/// `latency` options.
#[derive(Debug, Clone)]
pub struct LatencyOptions {
    /// Connections, each with one request in flight.
    pub connections: usize,
    /// Bytes per request (the echo server returns as many).
    pub size: usize,
}

/// Sends `size` bytes and waits for `size` bytes back, in a loop, on each connection; a
/// failed connection is counted by cause and opened again.
pub async fn run(common: &Common, options: &LatencyOptions) -> Report {
    let size = options.size.max(1);
    let (phase, interrupted) = run_phase(
        "round trip",
        "round trip",
        common.limits,
        common.display,
        options.connections.max(1),
        |worker, control, stats| {
            let target = common.target.clone();
            async move {
                let mut local = stats.local();
                let request: Vec<u8> = (0..size)
                    .map(|i| b'a' + ((i + worker) % 26) as u8)
                    .collect();
                let mut response = vec![0u8; size];
                'connect: while !control.stopped() {
                    let mut stream = match connect(&target).await {
                        Ok((stream, _)) => stream,
                        Err(failure) => {
                            local.error(failure.cause);
                            tokio::time::sleep(RETRY_PAUSE).await;
                            continue;
                        }
                    };
                    while control.claim(1) == 1 {
                        let started = Instant::now();
                        let round_trip = async {
                            stream
                                .write_all(&request)
                                .await
                                .map_err(|e| io_cause("write", &e))?;
                            stream.flush().await.map_err(|e| io_cause("write", &e))?;
                            stream
                                .read_exact(&mut response)
                                .await
                                .map_err(|e| io_cause("read", &e))?;
                            Ok::<(), String>(())
                        };
                        let result = tokio::select! {
                            r = round_trip => r,
                            () = control.wait_stopped() => break 'connect,
                        };
                        match result {
                            Ok(()) if response == request => {
                                local.op(started.elapsed());
                                local.sent(size);
                                local.received(size);
                            }
                            Ok(()) => {
                                local.error(
                                    "read: response differs from the request (not an echo server?)",
                                );
                                continue 'connect;
                            }
                            Err(cause) => {
                                local.error(cause);
                                continue 'connect;
                            }
                        }
                    }
                    super::handshake::close(stream).await;
                    break;
                }
            }
        },
    )
    .await;
    common.report("latency", interrupted, vec![phase])
}
