//! `tlswire proxy CONFIG.yml`: the TLS-terminating TCP proxy (see docs/proxy.md).

use std::path::PathBuf;

use clap::Args;

/// Arguments of `tlswire proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The configuration file (YAML, linkerd-tcp's shape; see docs/proxy.md).
    config: PathBuf,
    /// Only check the configuration and exit.
    #[arg(long)]
    check: bool,
}

pub(crate) fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if args.check {
        tlswire_proxy::Config::load(&args.config)?;
        println!("{}: ok", args.config.display());
        return Ok(());
    }
    tlswire_proxy::run(&args.config)?;
    Ok(())
}
