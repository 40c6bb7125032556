//! `tlswire certs gen`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

/// `tlswire certs …`
#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Generate a dev CA, a server certificate and client certificates as PEM files.
    Gen(GenArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GenArgs {
    /// Directory to write into (created if missing).
    #[arg(long, default_value = "./certs")]
    out: PathBuf,
    /// Host names and IP addresses the server certificate is valid for.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
    hosts: Vec<String>,
    /// Client certificates to make, by name.
    #[arg(long, value_delimiter = ',')]
    clients: Vec<String>,
}

pub(crate) fn run(cmd: CertsCommand) -> anyhow::Result<()> {
    match cmd {
        CertsCommand::Gen(args) => {
            let hosts: Vec<&str> = args.hosts.iter().map(String::as_str).collect();
            let clients: Vec<&str> = args.clients.iter().map(String::as_str).collect();
            let set =
                tlswire_devcerts::generate(&hosts, &clients).context("generating certificates")?;
            let files = set.write_to(&args.out)?;
            println!("CA:      {}", files.ca_cert.display());
            println!(
                "server:  {} {}",
                files.server_cert.display(),
                files.server_key.display()
            );
            for (name, cert, key) in &files.clients {
                println!("client {name}: {} {}", cert.display(), key.display());
            }
            if !files.clients.is_empty() {
                println!("pinned client bundle: {}", files.client_bundle.display());
            }
            Ok(())
        }
    }
}
