//! `redis`: PING, SET and GET against a Redis server over TLS or plain TCP, with `clients`
//! connections and `pipeline` requests in flight on each, like `redis-benchmark --tls`.
//! Each command is its own phase, run one after another as redis-benchmark does.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{run_phase, Common, RETRY_PAUSE};
use crate::connect::{connect, io_cause};
use crate::report::Report;
use crate::resp::{self, Command, Encoder, Reply};

/// `redis` options.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Connections (`-c`).
    pub clients: usize,
    /// Requests in flight per connection (`-P`).
    pub pipeline: usize,
    /// Commands to run, one phase each (`-t`).
    pub commands: Vec<Command>,
    /// Keys are drawn at random below this (`-r`); without it one key is used.
    pub keyspace: Option<u64>,
    /// SET value size in bytes (`-d`).
    pub value_size: usize,
}

/// Runs each command as a phase under the common limits (`-n` requests or a duration each).
pub async fn run(common: &Common, options: &RedisOptions) -> Report {
    let mut phases = Vec::new();
    let mut interrupted = false;
    for &command in &options.commands {
        let (phase, stopped_by_user) = run_phase(
            command.name(),
            "request",
            common.limits,
            common.display,
            options.clients.max(1),
            |worker, control, stats| {
                let target = common.target.clone();
                let options = options.clone();
                async move {
                    let mut local = stats.local();
                    let pipeline = options.pipeline.max(1);
                    let mut encoder = Encoder::new(
                        command,
                        pipeline,
                        options.value_size,
                        options.keyspace,
                        0x9e37_79b9_7f4a_7c15 ^ (worker as u64 + 1),
                    );
                    let mut inbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
                    'connect: while !control.stopped() {
                        let mut stream = match connect(&target).await {
                            Ok((stream, _)) => stream,
                            Err(failure) => {
                                local.error(failure.cause);
                                tokio::time::sleep(RETRY_PAUSE).await;
                                continue;
                            }
                        };
                        inbuf.clear();
                        loop {
                            let n = control.claim(pipeline as u64);
                            if n == 0 {
                                break 'connect;
                            }
                            let started = Instant::now();
                            let batch = encoder.batch(n as usize);
                            if let Err(e) = stream.write_all(batch).await {
                                local.error(io_cause("write", &e));
                                continue 'connect;
                            }
                            let mut pending = n;
                            let mut parsed_to = 0;
                            while pending > 0 {
                                match resp::parse(&inbuf[parsed_to..]) {
                                    Ok(Some((reply, len))) => {
                                        parsed_to += len;
                                        pending -= 1;
                                        if let Reply::Error(text) = reply {
                                            local.error(format!("redis: {}", first_word(&text)));
                                        }
                                        continue;
                                    }
                                    Ok(None) => {}
                                    Err(e) => {
                                        local.error(e.to_string());
                                        continue 'connect;
                                    }
                                }
                                inbuf.drain(..parsed_to);
                                parsed_to = 0;
                                let len = inbuf.len();
                                inbuf.resize(len + 32 * 1024, 0);
                                let read = tokio::select! {
                                    r = stream.read(&mut inbuf[len..]) => r,
                                    () = control.wait_stopped() => break 'connect,
                                };
                                match read {
                                    Ok(0) => {
                                        local.error("read: closed by server");
                                        continue 'connect;
                                    }
                                    Ok(got) => inbuf.truncate(len + got),
                                    Err(e) => {
                                        local.error(io_cause("read", &e));
                                        continue 'connect;
                                    }
                                }
                            }
                            inbuf.drain(..parsed_to);
                            local.ops(n, started.elapsed());
                        }
                    }
                }
            },
        )
        .await;
        phases.push(phase);
        if stopped_by_user {
            interrupted = true;
            break;
        }
    }
    common.report("redis", interrupted, phases)
}

/// The error code of a Redis error reply (`ERR`, `WRONGTYPE`, `NOAUTH`), so counts group.
fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or(text)
}
