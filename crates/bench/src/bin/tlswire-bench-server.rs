//! `tlswire-bench-server`: the echo, sink and source servers (and the TLS terminator) that
//! `scripts/compare` runs the load generator against.
//!
//! ```text
//! tlswire-bench-server --listen 127.0.0.1:4433 --tls tlswire --cert server.crt --key server.key --behavior echo
//! tlswire-bench-server --listen 127.0.0.1:4434 --tls tokio-rustls --cert .. --key .. --backend 127.0.0.1:7000
//! tlswire-bench-server --listen 127.0.0.1:7000 --tls none --behavior echo
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tlswire_bench::servers::{self, Behavior, ServerTls};

/// An echo/sink/source server, or a TLS terminator in front of a plain backend.
#[derive(Debug, Parser)]
#[command(name = "tlswire-bench-server", version)]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// TLS implementation: tlswire, tokio-rustls or none.
    #[arg(long, default_value = "tlswire")]
    tls: String,
    /// Server certificate chain (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// echo, sink or source.
    #[arg(long, default_value = "echo")]
    behavior: Behavior,
    /// Relay decrypted bytes to this plain backend instead of serving them here.
    #[arg(long)]
    backend: Option<SocketAddr>,
    /// Do not issue session tickets (TLS 1.2 session IDs and TLS 1.3 stateful resumption only).
    #[arg(long)]
    no_tickets: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlswire-bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = || -> Result<_, Box<dyn std::error::Error>> {
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            return Err(format!("--tls {} needs --cert and --key", args.tls).into());
        };
        Ok(servers::server_config(cert, key, !args.no_tickets)?)
    };
    let tls = match args.tls.as_str() {
        "tlswire" => ServerTls::Tlswire(config()?),
        "tokio-rustls" => ServerTls::TokioRustls(config()?),
        "none" | "plain" => ServerTls::None,
        other => {
            return Err(format!("unknown --tls {other:?} (tlswire, tokio-rustls, none)").into())
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.build()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        match args.backend {
            Some(backend) => servers::terminate(listener, tls, backend).await?,
            None => servers::serve(listener, tls, args.behavior).await?,
        }
        Ok(())
    })
}
