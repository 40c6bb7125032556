//! The older configuration shape shown in linkerd-tcp's README (`proxies:` with `servers[].addr`,
//! `namerd:` and snake_case TLS keys), translated into the current model.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{
    AdminConfig, ClientConfig, ClientTlsConfig, Config, IdentityConfig, InterpreterConfig,
    ReloadConfig, RouterConfig, ServerConfig, ServerTlsConfig,
};

/// The older file: a list of proxies, each with listeners, a namerd path and a client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacyConfig {
    #[serde(default)]
    admin: Option<AdminConfig>,
    proxies: Vec<LegacyProxy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyProxy {
    #[serde(default)]
    label: Option<String>,
    servers: Vec<LegacyServer>,
    namerd: LegacyNamerd,
    #[serde(default)]
    client: Option<LegacyClient>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyServer {
    addr: SocketAddr,
    #[serde(default)]
    tls: Option<LegacyServerTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyServerTls {
    private_key_path: PathBuf,
    cert_paths: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyNamerd {
    /// namerd's HTTP address, `host:port`.
    addr: String,
    path: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    interval_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyClient {
    #[serde(default)]
    tls: Option<LegacyClientTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyClientTls {
    name: String,
    #[serde(default)]
    trust_cert_paths: Vec<PathBuf>,
}

impl LegacyConfig {
    /// The same proxy in the current model: one router per proxy, namerd as its interpreter.
    pub(crate) fn into_config(self) -> Config {
        let routers = self
            .proxies
            .into_iter()
            .enumerate()
            .map(|(i, proxy)| {
                let dst_name = proxy.namerd.path.clone();
                let servers = proxy
                    .servers
                    .into_iter()
                    .map(|server| legacy_server(server, &dst_name))
                    .collect();
                let tls = proxy.client.and_then(|c| c.tls).map(|tls| ClientTlsConfig {
                    dns_name: tls.name,
                    trust_certs: tls.trust_cert_paths,
                    pinned_certs: Vec::new(),
                    client_identity: None,
                    alpn_protocols: Vec::new(),
                });
                RouterConfig {
                    label: proxy.label.unwrap_or_else(|| format!("proxy{i}")),
                    interpreter: InterpreterConfig::Namerd {
                        base_url: format!("http://{}", proxy.namerd.addr),
                        namespace: proxy.namerd.namespace.unwrap_or_else(|| "default".into()),
                        period_secs: proxy.namerd.interval_secs.unwrap_or(20),
                        long_poll: false,
                        tls: None,
                    },
                    servers,
                    client: ClientConfig {
                        tls,
                        ..ClientConfig::default()
                    },
                }
            })
            .collect();
        Config {
            admin: self.admin.unwrap_or_default(),
            routers,
            reload: ReloadConfig::default(),
            session_tickets: None,
        }
    }
}

fn legacy_server(server: LegacyServer, dst_name: &str) -> ServerConfig {
    let tls = server.tls.map(|tls| ServerTlsConfig {
        default_identity: Some(IdentityConfig {
            certs: tls.cert_paths,
            private_key: tls.private_key_path,
            client_auth: None,
            alpn_protocols: None,
        }),
        identities: BTreeMap::new(),
        alpn_protocols: Vec::new(),
        versions: None,
        allow_plaintext: false,
    });
    let mut config = ServerConfig::new(server.addr, dst_name);
    config.tls = tls;
    config
}
