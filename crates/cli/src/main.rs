//! The `tlswire` command: argument parsing and wiring only; the logic lives in library crates.

use clap::{Parser, Subcommand};

mod bench;
mod certs;
mod client;
mod ingest;
mod proxy;
mod send;

/// TLS as a pure function of bytes: a TLS proxy, an mTLS ingest daemon, a TLS load generator.
#[derive(Debug, Parser)]
#[command(name = "tlswire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make development certificates (a CA, a server certificate, client certificates).
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// The TLS load generator: handshake, throughput, hold, redis and latency modes.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Connect to a TLS server: standard input to it, its replies to standard output.
    Client(client::ClientArgs),
    /// The mTLS JSON ingest daemon (stores into Redis or the embedded store).
    Ingest(ingest::IngestArgs),
    /// Send JSON dicts to an ingest daemon over mutual TLS.
    Send(send::SendArgs),
    /// The TLS-terminating TCP proxy: `tlswire proxy CONFIG.yml`.
    Proxy(proxy::ProxyArgs),
    // Each product adds its subcommand here, with its arguments in its own module.
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Certs(cmd) => certs::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Client(args) => client::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Send(args) => send::run(args),
        Command::Proxy(args) => proxy::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tlswire: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
