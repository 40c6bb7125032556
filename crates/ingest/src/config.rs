//! `ingest.toml` and the flags that override it.
//!
//! Every key of the file has a flag of the same name (`redis_url` → `--redis-url`); a flag
//! wins over the file, the file over the default. [`ConfigFile`] is both: the CLI fills one
//! from its flags and [`Settings::resolve`] merges the two.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::redis::RedisUrl;
use crate::IngestError;

/// The old daemon's port.
pub const DEFAULT_PORT: u16 = 1191;

/// The keys of `ingest.toml`; every one optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Address to listen on (default `0.0.0.0`).
    pub host: Option<String>,
    /// Port to listen on (default 1191).
    pub port: Option<u16>,
    /// Log to this file instead of stderr.
    pub log_file: Option<PathBuf>,
    /// The server certificate chain (PEM; default `server.crt`).
    pub cert: Option<PathBuf>,
    /// The server's private key (PEM; default `server.key`).
    pub key: Option<PathBuf>,
    /// Allowed clients' certificates, pinned by exact match (default `client_certs.crt`
    /// unless `client_ca` is set).
    pub client_certs: Option<PathBuf>,
    /// Accept clients whose certificate chains to these CA certificates instead.
    pub client_ca: Option<PathBuf>,
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). Unset, and no
    /// `redis_cluster`: the embedded store.
    pub redis_url: Option<String>,
    /// The Redis database index (overrides the URL's).
    pub redis_db: Option<u32>,
    /// Redis Cluster seed nodes (`host:port`); used instead of `redis_url`.
    pub redis_cluster: Option<Vec<String>>,
    /// CA certificate(s) to verify a `rediss://` server with; a self-signed server
    /// certificate here is pinned.
    pub redis_tls_ca: Option<PathBuf>,
    /// Client certificate for a `rediss://` server that asks for one.
    pub redis_tls_cert: Option<PathBuf>,
    /// Key of `redis_tls_cert`.
    pub redis_tls_key: Option<PathBuf>,
    /// The embedded store's file (default `./tlswire-ingest.redb`).
    pub store: Option<PathBuf>,
    /// Directory of the on-disk spool used while Redis is down (default `./tlswire-spool`).
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool may hold before the daemon stops reading from clients (default 1 GiB).
    pub spool_max_bytes: Option<u64>,
    /// Largest payload in bytes (default 1 MiB).
    pub max_payload: Option<usize>,
    /// Send one line per payload (`ok` or `error: …`) once it is stored.
    pub ack: Option<bool>,
    /// Address of the Prometheus metrics endpoint (default `127.0.0.1:9192`; `off` disables).
    pub admin: Option<String>,
    /// Most payloads written to the store in one pipelined batch (default 4096).
    pub batch_max: Option<usize>,
}

impl ConfigFile {
    /// Reads and parses a config file; errors name the file, the key and the line.
    pub fn load(path: &Path) -> Result<Self, IngestError> {
        let text = std::fs::read_to_string(path).map_err(|source| IngestError::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, IngestError> {
        toml::from_str(text).map_err(|e| IngestError::ParseConfig {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// `self` with every key set in `flags` replaced by the flag's value.
    pub fn overridden_by(self, flags: ConfigFile) -> ConfigFile {
        macro_rules! pick {
            ($($field:ident),*) => { ConfigFile { $($field: flags.$field.or(self.$field)),* } };
        }
        pick!(
            host,
            port,
            log_file,
            cert,
            key,
            client_certs,
            client_ca,
            redis_url,
            redis_db,
            redis_cluster,
            redis_tls_ca,
            redis_tls_cert,
            redis_tls_key,
            store,
            spool_dir,
            spool_max_bytes,
            max_payload,
            ack,
            admin,
            batch_max
        )
    }
}

/// How clients are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthFile {
    /// Exact match against the certificates in this bundle.
    Pinned(PathBuf),
    /// Chain to the CA certificates in this file.
    Ca(PathBuf),
}

/// Where payloads are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// One Redis server.
    Redis(RedisUrl),
    /// A Redis Cluster, found through these seed nodes.
    Cluster(Vec<String>),
    /// The embedded redb store in this file.
    Embedded(PathBuf),
}

/// TLS files for a `rediss://` connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// CA or pinned server certificate(s).
    pub ca: Option<PathBuf>,
    /// Client certificate.
    pub cert: Option<PathBuf>,
    /// Client key.
    pub key: Option<PathBuf>,
}

/// Everything the daemon runs with, defaults applied and values checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// Log file (stderr when unset).
    pub log_file: Option<PathBuf>,
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server key.
    pub key: PathBuf,
    /// Client authentication.
    pub client_auth: ClientAuthFile,
    /// The store.
    pub storage: Storage,
    /// TLS files for `rediss://`.
    pub redis_tls: RedisTls,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// Spool bound in bytes.
    pub spool_max_bytes: u64,
    /// Largest payload.
    pub max_payload: usize,
    /// Ack mode.
    pub ack: bool,
    /// Metrics endpoint.
    pub admin: Option<SocketAddr>,
    /// Largest batch.
    pub batch_max: usize,
}

fn invalid(key: &'static str, value: impl Into<String>, reason: impl Into<String>) -> IngestError {
    IngestError::InvalidSetting {
        key,
        value: value.into(),
        reason: reason.into(),
    }
}

fn resolve_addr(key: &'static str, text: &str) -> Result<SocketAddr, IngestError> {
    text.to_socket_addrs()
        .map_err(|e| invalid(key, text, e.to_string()))?
        .next()
        .ok_or_else(|| invalid(key, text, "resolves to no address"))
}

impl Settings {
    /// Applies defaults to a merged [`ConfigFile`] and checks every value.
    pub fn resolve(file: ConfigFile) -> Result<Self, IngestError> {
        let host = file.host.unwrap_or_else(|| "0.0.0.0".to_owned());
        let port = file.port.unwrap_or(DEFAULT_PORT);
        let listen = if host.contains(':') && !host.starts_with('[') {
            resolve_addr("host", &format!("[{host}]:{port}"))?
        } else {
            resolve_addr("host", &format!("{host}:{port}"))?
        };
        let client_auth = match (file.client_certs, file.client_ca) {
            (Some(pinned), None) => ClientAuthFile::Pinned(pinned),
            (None, Some(ca)) => ClientAuthFile::Ca(ca),
            (None, None) => ClientAuthFile::Pinned(PathBuf::from("client_certs.crt")),
            (Some(pinned), Some(_)) => {
                return Err(invalid(
                    "client_ca",
                    pinned.display().to_string(),
                    "set either client_certs (pinned) or client_ca, not both",
                ))
            }
        };
        let storage = match (file.redis_url, file.redis_cluster) {
            (Some(url), None) => {
                let mut url =
                    RedisUrl::parse(&url).map_err(|reason| invalid("redis_url", url, reason))?;
                if let Some(db) = file.redis_db {
                    url.db = db;
                }
                Storage::Redis(url)
            }
            (None, Some(seeds)) if !seeds.is_empty() => Storage::Cluster(seeds),
            (None, Some(_)) => {
                return Err(invalid(
                    "redis_cluster",
                    "[]",
                    "list at least one seed node",
                ))
            }
            (None, None) => Storage::Embedded(
                file.store
                    .unwrap_or_else(|| PathBuf::from("./tlswire-ingest.redb")),
            ),
            (Some(url), Some(_)) => {
                return Err(invalid(
                    "redis_cluster",
                    url,
                    "set either redis_url or redis_cluster, not both",
                ))
            }
        };
        let admin = match file.admin.as_deref() {
            Some("off") | Some("") => None,
            Some(addr) => Some(resolve_addr("admin", addr)?),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 9192))),
        };
        let max_payload = file.max_payload.unwrap_or(1024 * 1024);
        if max_payload < 2 {
            return Err(invalid(
                "max_payload",
                max_payload.to_string(),
                "must be at least 2",
            ));
        }
        Ok(Self {
            listen,
            log_file: file.log_file,
            cert: file.cert.unwrap_or_else(|| PathBuf::from("server.crt")),
            key: file.key.unwrap_or_else(|| PathBuf::from("server.key")),
            client_auth,
            storage,
            redis_tls: RedisTls {
                ca: file.redis_tls_ca,
                cert: file.redis_tls_cert,
                key: file.redis_tls_key,
            },
            spool_dir: file
                .spool_dir
                .unwrap_or_else(|| PathBuf::from("./tlswire-spool")),
            spool_max_bytes: file.spool_max_bytes.unwrap_or(1 << 30),
            max_payload,
            ack: file.ack.unwrap_or(false),
            admin,
            batch_max: file.batch_max.unwrap_or(4096).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = ConfigFile::parse("port = 1191\nprot = 2\n", Path::new("ingest.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ingest.toml"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn flags_override_the_file_and_defaults_fill_the_rest() {
        let file = ConfigFile::parse(
            "port = 2000\nredis_url = \"redis://127.0.0.1:6379/3\"\nack = true\n",
            Path::new("ingest.toml"),
        )
        .unwrap();
        let flags = ConfigFile {
            port: Some(3000),
            redis_db: Some(5),
            ..ConfigFile::default()
        };
        let settings = Settings::resolve(file.overridden_by(flags)).unwrap();
        assert_eq!(settings.listen.port(), 3000);
        assert!(settings.ack);
        let Storage::Redis(url) = settings.storage else {
            panic!("expected redis");
        };
        assert_eq!(url.db, 5);
        assert_eq!(
            settings.client_auth,
            ClientAuthFile::Pinned("client_certs.crt".into())
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Settings::resolve(ConfigFile {
            redis_url: Some("http://x".into()),
            ..ConfigFile::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("redis_url"), "{err}");
        let default = Settings::resolve(ConfigFile::default()).unwrap();
        assert_eq!(default.listen.port(), DEFAULT_PORT);
        assert!(matches!(default.storage, Storage::Embedded(_)));
    }
}
