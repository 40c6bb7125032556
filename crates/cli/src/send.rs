//! `tlswire send`: send JSON dicts to an ingest daemon over mutual TLS.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tlswire_ingest::SendOptions;

/// `tlswire send ADDR --cert C --key K --ca SERVER_CERT [FILE|-]`
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The daemon's address, HOST:PORT.
    addr: String,
    /// Client certificate (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Client private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// The server's certificate, pinned by exact match (the old setup's self-signed server.crt
    /// works as is).
    #[arg(long = "ca", value_name = "SERVER_CERT")]
    server_cert: PathBuf,
    /// Server name to send (default: the host part of ADDR).
    #[arg(long)]
    sni: Option<String>,
    /// Wait for one ack line per payload (the daemon must run with --ack).
    #[arg(long)]
    ack: bool,
    /// JSON objects, back to back or one per line; `-` or nothing reads stdin.
    input: Option<PathBuf>,
}

pub(crate) fn run(args: SendArgs) -> anyhow::Result<()> {
    let input = match args.input.as_deref() {
        None => read_stdin()?,
        Some(path) if path.as_os_str() == "-" => read_stdin()?,
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
    };
    let options = SendOptions {
        addr: args.addr,
        server_name: args.sni,
        cert: args.cert,
        key: args.key,
        server_cert: args.server_cert,
        wait_for_acks: args.ack,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    let report = runtime.block_on(tlswire_ingest::send(&options, &input))?;
    for reason in &report.skipped {
        eprintln!("skipped: {reason}");
    }
    for ack in &report.acks {
        println!("{ack}");
    }
    eprintln!("sent {} payload(s) to {}", report.sent, options.addr);
    if args.ack && report.acks.len() < report.sent {
        anyhow::bail!(
            "only {} of {} payloads were acknowledged",
            report.acks.len(),
            report.sent
        );
    }
    Ok(())
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .context("cannot read stdin")?;
    Ok(input)
}
