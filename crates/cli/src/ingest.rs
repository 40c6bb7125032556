//! `tlswire ingest`: the mTLS JSON ingest daemon, and `tlswire ingest dump`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use tlswire_ingest::{ConfigFile, Ingest, Settings};

/// `tlswire ingest …`: every key of `ingest.toml` has a flag of the same name, which wins.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct IngestArgs {
    #[command(subcommand)]
    action: Option<IngestAction>,
    /// The config file (TOML); flags override its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Development mode: makes certificates under ./tlswire-dev when none exist, stores into
    /// the embedded store, listens on 127.0.0.1 and prints the `tlswire send` command to try.
    #[arg(long)]
    dev: bool,
    /// Where to listen, as HOST:PORT (sets `host` and `port`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Address to listen on.
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on (default 1191).
    #[arg(long)]
    port: Option<u16>,
    /// Log to this file instead of stderr.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Server certificate chain (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Bundle of allowed clients' certificates, pinned by exact match.
    #[arg(long)]
    client_certs: Option<PathBuf>,
    /// Accept clients whose certificates chain to these CA certificates instead.
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Redis URL, `redis[s]://[user:password@]host:port[/db]`; unset: the embedded store.
    #[arg(long = "redis", alias = "redis-url", value_name = "URL")]
    redis_url: Option<String>,
    /// Redis database index (overrides the URL's).
    #[arg(long)]
    redis_db: Option<u32>,
    /// Redis Cluster seed nodes, comma-separated host:port.
    #[arg(long, value_delimiter = ',')]
    redis_cluster: Option<Vec<String>>,
    /// CA (or pinned self-signed server certificate) for rediss://.
    #[arg(long)]
    redis_tls_ca: Option<PathBuf>,
    /// Client certificate for rediss://.
    #[arg(long)]
    redis_tls_cert: Option<PathBuf>,
    /// Client key for rediss://.
    #[arg(long)]
    redis_tls_key: Option<PathBuf>,
    /// The embedded store's file.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Spool directory used while Redis is unreachable.
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    /// Spool bound in bytes.
    #[arg(long)]
    spool_max_bytes: Option<u64>,
    /// Largest payload in bytes.
    #[arg(long)]
    max_payload: Option<usize>,
    /// Ack mode: one line per payload (`ok` or `error: …`) once it is stored.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    ack: Option<bool>,
    /// Metrics endpoint address (`off` disables).
    #[arg(long)]
    admin: Option<String>,
    /// Most payloads per pipelined batch.
    #[arg(long)]
    batch_max: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum IngestAction {
    /// Print the embedded store's contents as SET/HSET lines.
    Dump {
        /// The embedded store's file.
        #[arg(long, default_value = "./tlswire-ingest.redb")]
        store: PathBuf,
    },
}

/// The directory `--dev` keeps its certificates and store in.
const DEV_DIR: &str = "./tlswire-dev";

impl IngestArgs {
    fn flags(&self) -> anyhow::Result<ConfigFile> {
        let (mut host, mut port) = (self.host.clone(), self.port);
        if let Some(listen) = &self.listen {
            let (h, p) = listen
                .rsplit_once(':')
                .with_context(|| format!("--listen {listen:?}: expected HOST:PORT"))?;
            host = Some(h.trim_start_matches('[').trim_end_matches(']').to_owned());
            port = Some(
                p.parse()
                    .with_context(|| format!("--listen {listen:?}: invalid port"))?,
            );
        }
        Ok(ConfigFile {
            host,
            port,
            log_file: self.log_file.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_certs: self.client_certs.clone(),
            client_ca: self.client_ca.clone(),
            redis_url: self.redis_url.clone(),
            redis_db: self.redis_db,
            redis_cluster: self.redis_cluster.clone(),
            redis_tls_ca: self.redis_tls_ca.clone(),
            redis_tls_cert: self.redis_tls_cert.clone(),
            redis_tls_key: self.redis_tls_key.clone(),
            store: self.store.clone(),
            spool_dir: self.spool_dir.clone(),
            spool_max_bytes: self.spool_max_bytes,
            max_payload: self.max_payload,
            ack: self.ack,
            admin: self.admin.clone(),
            batch_max: self.batch_max,
        })
    }
}

fn init_logging(log_file: Option<&Path>) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

pub(crate) fn run(args: IngestArgs) -> anyhow::Result<()> {
    if let Some(IngestAction::Dump { store }) = &args.action {
        for line in tlswire_ingest::dump(store)? {
            println!("{line}");
        }
        return Ok(());
    }
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let mut merged = file.overridden_by(args.flags()?);
    let dev = if args.dev {
        let setup = tlswire_ingest::prepare_dev(Path::new(DEV_DIR))?;
        merged.cert.get_or_insert(setup.server_cert.clone());
        merged.key.get_or_insert(setup.server_key.clone());
        if merged.client_ca.is_none() {
            merged
                .client_certs
                .get_or_insert(setup.client_certs.clone());
        }
        merged.host.get_or_insert_with(|| "127.0.0.1".to_owned());
        merged
            .store
            .get_or_insert_with(|| Path::new(DEV_DIR).join("ingest.redb"));
        Some(setup)
    } else {
        None
    };
    let settings = Settings::resolve(merged)?;
    init_logging(settings.log_file.as_deref())?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let daemon = Ingest::bind(settings).await?;
        if let Some(setup) = dev {
            let port = daemon.local_addr().map_or(1191, |a| a.port());
            if setup.created {
                println!("made development certificates under {DEV_DIR}");
            }
            println!("tlswire ingest (dev) listening on port {port}; try, from another shell:\n");
            println!("  {}\n", setup.send_command(port).replacen("tlswire send", "cargo run --release -- send", 1));
            if let Some(admin) = daemon.admin_addr() {
                println!("metrics: curl http://{admin}/metrics");
            }
            println!("stored data: cargo run --release -- ingest dump --store {DEV_DIR}/ingest.redb (after stopping the daemon)");
        }
        daemon.run(tlswire_ingest::shutdown_signal()).await?;
        Ok(())
    })
}
