//! `redis`: PING, SET and GET against a Redis server over TLS or plain TCP, with `clients`
//! connections and `pipeline` requests in flight on each, like `redis-benchmark --tls`.
//! Each command is its own phase, run one after another as redis-benchmark does.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Barrier;

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
        let ready = Arc::new(Barrier::new(options.clients.max(1)));
        let (phase, stopped_by_user) = run_phase(
            command.name(),
            "request",
            common.limits,
            common.display,
            options.clients.max(1),
            |worker, control, stats| {
                let target = common.target.clone();
                let options = options.clone();
                let ready = ready.clone();
                async move {
                    let mut local = stats.local();
                    let pipeline = options.pipeline.max(1);
                    let mut encoder = Encoder::new(
                        command,
                        pipeline,
                        options.value_size,
                        options.keyspace,
                        spread_seed(worker as u64),
                    );
                    let mut replies = ReplyBuffer::new();
                    // Every client connects before the clock starts, as in redis-benchmark:
                    // the figure is requests per second, not handshakes.
                    let mut first = match connect(&target).await {
                        Ok((stream, _)) => Some(stream),
                        Err(failure) => {
                            local.error(failure.cause);
                            None
                        }
                    };
                    local.flush();
                    if ready.wait().await.is_leader() {
                        stats.restart_clock();
                    }
                    'connect: while !control.stopped() {
                        let mut stream = match first.take() {
                            Some(stream) => stream,
                            None => match connect(&target).await {
                                Ok((stream, _)) => stream,
                                Err(failure) => {
                                    local.error(failure.cause);
                                    tokio::time::sleep(RETRY_PAUSE).await;
                                    continue;
                                }
                            },
                        };
                        replies.clear();
                        loop {
                            let n = control.claim(pipeline as u64);
                            if n == 0 {
                                break 'connect;
                            }
                            let started = Instant::now();
                            let batch = encoder.batch(n as usize);
                            let sent = async {
                                stream.write_all(batch).await?;
                                stream.flush().await
                            };
                            if let Err(e) = sent.await {
                                local.error(io_cause("write", &e));
                                continue 'connect;
                            }
                            let mut pending = n;
                            while pending > 0 {
                                match resp::parse(replies.filled()) {
                                    Ok(Some((reply, len))) => {
                                        replies.consume(len);
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
                                // No stop check here: replies are due, and a server that
                                // never answers is cut off by the run's end (tasks abort).
                                match stream.read(replies.spare()).await {
                                    Ok(0) => {
                                        local.error("read: closed by server");
                                        continue 'connect;
                                    }
                                    Ok(got) => replies.filled_by(got),
                                    Err(e) => {
                                        local.error(io_cause("read", &e));
                                        continue 'connect;
                                    }
                                }
                            }
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

/// splitmix64: well-spread generator seeds from consecutive worker numbers, so clients do not
/// walk correlated key sequences.
fn spread_seed(worker: u64) -> u64 {
    let mut z = worker.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Received bytes not yet parsed, in one reused allocation (no zeroing per read).
struct ReplyBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReplyBuffer {
    fn new() -> Self {
        Self {
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    fn filled(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.clear();
        }
    }

    /// Room to read into: moves unparsed bytes to the front, grows when full.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        &mut self.buf[self.end..]
    }

    fn filled_by(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }
}

/// The error code of a Redis error reply (`ERR`, `WRONGTYPE`, `NOAUTH`), so counts group.
fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or(text)
}
