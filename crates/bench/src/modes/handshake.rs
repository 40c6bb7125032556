//! `handshake`: connections per second, each a full or a resumed TLS handshake, at a fixed
//! concurrency.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{run_phase, Common, RETRY_PAUSE};
use crate::connect::{connect, BoxStream};
use crate::report::Report;

/// `handshake` options.
#[derive(Debug, Clone)]
pub struct HandshakeOptions {
    /// Connections in flight at once.
    pub concurrency: usize,
}

/// Opens, handshakes and closes connections in a loop on `concurrency` workers. Whether a
/// handshake resumed is counted (`resumed` / `full`); resumption itself is set in the client's
/// TLS configuration ([`crate::tls::ResumeMode`]).
pub async fn run(common: &Common, options: &HandshakeOptions) -> Report {
    let (phase, interrupted) = run_phase(
        "handshake",
        "handshake",
        common.limits,
        common.display,
        options.concurrency.max(1),
        |_, control, stats| {
            let target = common.target.clone();
            async move {
                let mut local = stats.local();
                while control.claim(1) == 1 {
                    let started = Instant::now();
                    match connect(&target).await {
                        Ok((stream, handshake)) => {
                            local.op(started.elapsed());
                            local.count(if !handshake.tls {
                                "plain"
                            } else if handshake.resumed {
                                "resumed"
                            } else {
                                "full"
                            });
                            close(stream).await;
                        }
                        Err(failure) => {
                            local.error(failure.cause);
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                    }
                }
            }
        },
    )
    .await;
    common.report("handshake", interrupted, vec![phase])
}

/// Sends close_notify and reads to the end, so TLS 1.3 session tickets (sent after the
/// handshake) reach the client's cache and the server closes first and cleanly.
pub(crate) async fn close(mut stream: BoxStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.shutdown().await;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
