//! `tlswire bench MODE --target HOST:PORT ...`: argument parsing for the load generator in
//! `tlswire-bench`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use tlswire_bench::connect::Target;
use tlswire_bench::modes::{self, Common};
use tlswire_bench::resp::Command as RedisCommand;
use tlswire_bench::run::{Display, Limits};
use tlswire_bench::tls::{ClientTls, ResumeMode, Version};
use tlswire_bench::Report;

/// `tlswire bench …`
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Full or resumed TLS handshakes per second at a concurrency.
    Handshake {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections in flight at once.
        #[arg(short = 'c', long, default_value_t = 8)]
        concurrency: usize,
    },
    /// N connections streaming one way or both ways; MB/s.
    Throughput {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections streaming at once.
        #[arg(short = 'c', long, default_value_t = 1)]
        connections: usize,
        /// up (to a sink or echo), down (from a source) or both (through an echo).
        #[arg(long, default_value = "up")]
        direction: modes::throughput::Direction,
        /// Bytes per write.
        #[arg(long, default_value_t = 16 * 1024)]
        chunk: usize,
    },
    /// Open N connections at a ramp rate and hold them; successes and failures by cause.
    Hold {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections to open.
        #[arg(short = 'c', long, default_value_t = 100)]
        connections: usize,
        /// New connections per second.
        #[arg(long, default_value_t = 100.0)]
        ramp: f64,
    },
    /// PING/SET/GET against Redis with clients and pipelining, like `redis-benchmark --tls`.
    Redis {
        #[command(flatten)]
        common: CommonArgs,
        /// Clients (connections).
        #[arg(short = 'c', long, default_value_t = 50)]
        clients: usize,
        /// Requests pipelined per client.
        #[arg(short = 'P', long, default_value_t = 1)]
        pipeline: usize,
        /// Commands to run, one after another.
        #[arg(
            short = 't',
            long,
            value_delimiter = ',',
            default_value = "ping,set,get"
        )]
        tests: Vec<RedisCommand>,
        /// Random keys below this number (like redis-benchmark's -r).
        #[arg(short = 'r', long)]
        keyspace: Option<u64>,
        /// SET value size in bytes.
        #[arg(short = 'd', long = "data-size", default_value_t = 3)]
        data_size: usize,
    },
    /// Request/response round trips of a size against an echo server.
    Latency {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections, each with one request in flight.
        #[arg(short = 'c', long, default_value_t = 1)]
        connections: usize,
        /// Bytes per request.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
}

/// Options every mode takes.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// The server, as HOST:PORT.
    #[arg(long)]
    target: String,
    /// CA certificates (PEM) that the server's certificate must chain to.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Do not verify the server's certificate (measurement only).
    #[arg(long)]
    insecure: bool,
    /// Client certificate chain (PEM) for mutual TLS.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Server name for SNI and certificate checks (default: the target's host).
    #[arg(long)]
    sni: Option<String>,
    /// Plain TCP, no TLS.
    #[arg(long, conflicts_with_all = ["ca", "insecure", "cert"])]
    plain: bool,
    /// TLS version: 1.2, 1.3 or any.
    #[arg(long = "tls-version", default_value = "any")]
    tls_version: Version,
    /// Only this cipher suite (IANA name, e.g. TLS13_AES_128_GCM_SHA256).
    #[arg(long)]
    cipher: Option<String>,
    /// Only this key-exchange group (X25519, secp256r1, secp384r1, X25519MLKEM768).
    #[arg(long)]
    group: Option<String>,
    /// Resumption: full (none), tickets or session-ids (TLS 1.2).
    #[arg(long, default_value = "full")]
    resume: ResumeMode,
    /// ALPN protocols to offer.
    #[arg(long, value_delimiter = ',')]
    alpn: Vec<String>,
    /// Run this long (e.g. 10s, 500ms, 2m); with neither this nor --count, 10 s
    /// (redis: 100000 requests per command).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many operations (redis: requests per command; throughput: bytes sent).
    #[arg(short = 'n', long)]
    count: Option<u64>,
    /// Limit for one connect plus handshake.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    connect_timeout: Duration,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Write a chart of rate and latency over time to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No live progress line (it only shows on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {s:?} (use e.g. 10s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

pub(crate) fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let common_args = match &cmd {
        BenchCommand::Handshake { common, .. }
        | BenchCommand::Throughput { common, .. }
        | BenchCommand::Hold { common, .. }
        | BenchCommand::Redis { common, .. }
        | BenchCommand::Latency { common, .. } => common,
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = common_args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime.build().context("starting the async runtime")?;
    let report = runtime.block_on(run_mode(&cmd, common_args))?;
    let text = if common_args.json {
        report.to_json() + "\n"
    } else {
        report.to_table()
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing the report");
        }
    }
    if let Some(plot) = &common_args.plot {
        std::fs::write(plot, report.to_svg())
            .with_context(|| format!("writing the plot to {}", plot.display()))?;
    }
    let ops: u64 = report.phases.iter().map(|p| p.totals.ops).sum();
    if ops == 0 && report.error_total() > 0 && !report.interrupted {
        bail!("every attempt failed (see the errors by cause above)");
    }
    Ok(())
}

async fn run_mode(cmd: &BenchCommand, args: &CommonArgs) -> anyhow::Result<Report> {
    let tls = if args.plain {
        None
    } else {
        let client = ClientTls {
            ca: args.ca.clone(),
            insecure: args.insecure,
            identity: args.cert.clone().zip(args.key.clone()),
            version: args.tls_version,
            cipher_suite: args.cipher.clone(),
            group: args.group.clone(),
            resume: args.resume,
            alpn: args.alpn.clone(),
        };
        Some(client.build()?)
    };
    let mut target = Target::resolve(&args.target, args.sni.as_deref(), tls).await?;
    target.connect_timeout = args.connect_timeout;
    let mut settings = BTreeMap::new();
    settings.insert(
        "tls".to_owned(),
        if args.plain {
            "off".to_owned()
        } else {
            format!("{:?}", args.tls_version)
        },
    );
    if !args.plain {
        settings.insert("resume".to_owned(), format!("{:?}", args.resume));
        if let Some(cipher) = &args.cipher {
            settings.insert("cipher".to_owned(), cipher.clone());
        }
        if let Some(group) = &args.group {
            settings.insert("group".to_owned(), group.clone());
        }
    }
    let mut limits = Limits {
        duration: args.duration,
        count: args.count,
    };
    let is_redis = matches!(cmd, BenchCommand::Redis { .. });
    if limits.duration.is_none() && limits.count.is_none() {
        if is_redis {
            limits.count = Some(100_000);
        } else if let BenchCommand::Hold {
            connections, ramp, ..
        } = cmd
        {
            let options = modes::hold::HoldOptions {
                connections: *connections,
                ramp_per_sec: *ramp,
            };
            limits.duration = Some(options.ramp_time() + Duration::from_secs(10));
        } else {
            limits.duration = Some(Duration::from_secs(10));
        }
    }
    let mut common = Common {
        target: Arc::new(target),
        limits,
        display: Display {
            progress: !args.no_progress && !args.json,
        },
        settings,
    };
    let report = match cmd {
        BenchCommand::Handshake { concurrency, .. } => {
            common
                .settings
                .insert("concurrency".into(), concurrency.to_string());
            let options = modes::handshake::HandshakeOptions {
                concurrency: *concurrency,
            };
            modes::handshake::run(&common, &options).await
        }
        BenchCommand::Throughput {
            connections,
            direction,
            chunk,
            ..
        } => {
            common
                .settings
                .insert("connections".into(), connections.to_string());
            common
                .settings
                .insert("direction".into(), format!("{direction:?}"));
            let options = modes::throughput::ThroughputOptions {
                connections: *connections,
                direction: *direction,
                chunk: *chunk,
            };
            modes::throughput::run(&common, &options).await
        }
        BenchCommand::Hold {
            connections, ramp, ..
        } => {
            common
                .settings
                .insert("connections".into(), connections.to_string());
            common.settings.insert("ramp/s".into(), ramp.to_string());
            let options = modes::hold::HoldOptions {
                connections: *connections,
                ramp_per_sec: *ramp,
            };
            modes::hold::run(&common, &options).await
        }
        BenchCommand::Redis {
            clients,
            pipeline,
            tests,
            keyspace,
            data_size,
            ..
        } => {
            common
                .settings
                .insert("clients".into(), clients.to_string());
            common
                .settings
                .insert("pipeline".into(), pipeline.to_string());
            let options = modes::redis::RedisOptions {
                clients: *clients,
                pipeline: *pipeline,
                commands: tests.clone(),
                keyspace: *keyspace,
                value_size: *data_size,
            };
            modes::redis::run(&common, &options).await
        }
        BenchCommand::Latency {
            connections, size, ..
        } => {
            common
                .settings
                .insert("connections".into(), connections.to_string());
            common.settings.insert("size".into(), size.to_string());
            let options = modes::latency::LatencyOptions {
                connections: *connections,
                size: *size,
            };
            modes::latency::run(&common, &options).await
        }
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
