//! The configuration file: YAML in linkerd-tcp's shape (`admin`, `routers`, `servers`, `client`),
//! extended for everything the proxy does. The older `proxies:` shape is translated into the
//! same model by [`crate::legacy`].
//!
//! Every struct denies unknown keys, so a typo is an error that names the key and the line.
//! Relative paths are resolved against the directory of the configuration file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// The admin HTTP server (`/metrics`, `/ready`, `POST /shutdown`).
    #[serde(default)]
    pub admin: AdminConfig,
    /// The routers: each owns listeners, a way to resolve destinations and an upstream client.
    pub routers: Vec<RouterConfig>,
    /// How often certificate, key and trust files are checked for changes.
    #[serde(default)]
    pub reload: ReloadConfig,
    /// Session-ticket keys shared by several proxy instances.
    #[serde(default)]
    pub session_tickets: Option<TicketConfig>,
}

/// `admin:` — the admin HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdminConfig {
    /// Port of the admin server (default 9989; 0 picks a free port).
    #[serde(default = "default_admin_port")]
    pub port: u16,
    /// Address of the admin server (default 127.0.0.1).
    #[serde(default = "default_loopback")]
    pub ip: IpAddr,
    /// How often a metrics summary is logged (0: never).
    #[serde(default = "default_metrics_interval")]
    pub metrics_interval_secs: u64,
    /// How long a graceful drain waits for live connections before closing them.
    #[serde(default = "default_grace")]
    pub grace_secs: u64,
}

fn default_admin_port() -> u16 {
    9989
}
fn default_loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
fn default_metrics_interval() -> u64 {
    60
}
fn default_grace() -> u64 {
    10
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            port: default_admin_port(),
            ip: default_loopback(),
            metrics_interval_secs: default_metrics_interval(),
            grace_secs: default_grace(),
        }
    }
}

/// `reload:` — file watching for key rotation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReloadConfig {
    /// How often file modification times are checked, in milliseconds (default 1000; 0: only
    /// on SIGHUP).
    #[serde(default = "default_reload_interval")]
    pub interval_ms: u64,
}

fn default_reload_interval() -> u64 {
    1000
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            interval_ms: default_reload_interval(),
        }
    }
}

/// `sessionTickets:` — stateless resumption keys read from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TicketConfig {
    /// A file with one key per line: 64 hex digits (32 bytes). The first key issues tickets;
    /// every key decrypts them. Rotate by putting a new key first and keeping the old ones.
    pub keys_path: PathBuf,
    /// How long a ticket is valid, in seconds (default 3600).
    #[serde(default = "default_ticket_lifetime")]
    pub lifetime_secs: u32,
}

fn default_ticket_lifetime() -> u32 {
    3600
}

/// `routers[]` — listeners, a name interpreter and an upstream client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouterConfig {
    /// The router's name in logs and metrics.
    #[serde(default = "default_label")]
    pub label: String,
    /// How destination names become endpoint addresses.
    #[serde(default)]
    pub interpreter: InterpreterConfig,
    /// The listeners.
    pub servers: Vec<ServerConfig>,
    /// How upstream connections are made.
    #[serde(default)]
    pub client: ClientConfig,
}

fn default_label() -> String {
    "default".into()
}

/// `interpreter:` — resolving a destination name (`dstName`) to weighted addresses.
///
/// Whatever the kind, a name of the form `/$/inet/HOST/PORT` is resolved through DNS (A/AAAA)
/// and re-resolved every `periodSecs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind")]
pub enum InterpreterConfig {
    /// Fixed lists: `names: {"/svc/web": [{addr: "127.0.0.1:8080", weight: 2}]}`.
    #[serde(rename = "io.l5d.static", alias = "static")]
    Static {
        /// Endpoints per destination name.
        #[serde(default)]
        names: BTreeMap<String, Vec<StaticEndpoint>>,
    },
    /// A directory with one file per name (`/svc/web` reads `rootDir/web`), each line `ADDR
    /// [WEIGHT]`; files are re-read when they change.
    #[serde(rename = "io.l5d.fs", alias = "file")]
    Fs {
        /// The directory.
        #[serde(rename = "rootDir")]
        root_dir: PathBuf,
        /// How often files are checked, in milliseconds (default 1000).
        #[serde(rename = "periodMs", default = "default_fs_period")]
        period_ms: u64,
    },
    /// DNS: `names` maps each destination name to `HOST:PORT` (A and AAAA records) or to an
    /// SRV name `_service._proto.name` (RFC 2782: the lowest priority number with a resolvable
    /// target, SRV weights as endpoint weights), re-resolved every `periodSecs`.
    #[serde(rename = "io.l5d.dns", alias = "dns")]
    Dns {
        /// Destination name to what to resolve.
        #[serde(default)]
        names: BTreeMap<String, crate::discovery::dns::DnsTarget>,
        /// Nameservers (`IP` or `IP:PORT`) asked instead of the system's (`/etc/resolv.conf`).
        #[serde(default)]
        nameservers: Vec<crate::discovery::dns::Nameserver>,
        /// Re-resolution period (default 30).
        #[serde(rename = "periodSecs", default = "default_dns_period")]
        period_secs: u64,
    },
    /// namerd's HTTP interface: `GET {baseUrl}/api/1/resolve/{namespace}?path={dstName}`.
    #[serde(rename = "io.l5d.namerd.http", alias = "namerd")]
    Namerd {
        /// For example `http://127.0.0.1:4180`.
        #[serde(rename = "baseUrl")]
        base_url: String,
        /// The dtab namespace (default `default`).
        #[serde(default = "default_label")]
        namespace: String,
        /// Polling period (default 20); ignored with `longPoll`.
        #[serde(rename = "periodSecs", default = "default_namerd_period")]
        period_secs: u64,
        /// Use namerd's streaming form (`watch=true`): updates arrive as namerd sees them.
        #[serde(rename = "longPoll", default)]
        long_poll: bool,
    },
}

fn default_fs_period() -> u64 {
    1000
}
fn default_dns_period() -> u64 {
    30
}
fn default_namerd_period() -> u64 {
    20
}

impl Default for InterpreterConfig {
    fn default() -> Self {
        Self::Static {
            names: BTreeMap::new(),
        }
    }
}

/// One endpoint of a static list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticEndpoint {
    /// `IP:PORT`.
    pub addr: SocketAddr,
    /// Relative share of new connections (default 1).
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_weight() -> f64 {
    1.0
}

/// `servers[]` — one listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerConfig {
    /// Port to listen on (0 picks a free port).
    pub port: u16,
    /// Address to listen on (default 127.0.0.1; `::` for IPv6).
    #[serde(default = "default_loopback")]
    pub ip: IpAddr,
    /// The destination name connections go to, unless a route says otherwise.
    pub dst_name: String,
    /// Routes by SNI and ALPN, tried in order before `dstName`.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// TLS termination; without it the listener is plaintext.
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Upstream connect timeout, overriding the client's.
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Connections are closed after this long, however busy.
    #[serde(default)]
    pub connection_lifetime_secs: Option<u64>,
    /// Connections idle in both directions for this long are closed.
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    /// Time allowed for the client's TLS handshake (default 10000).
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_ms: u64,
    /// Live connections allowed on this listener; the excess is closed at once and counted
    /// (default 10000).
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// TLS handshakes in progress allowed at once; others wait their turn (default 256).
    #[serde(default = "default_max_handshakes")]
    pub max_concurrent_handshakes: usize,
}

fn default_handshake_timeout() -> u64 {
    10_000
}
fn default_max_concurrency() -> usize {
    10_000
}
fn default_max_handshakes() -> usize {
    256
}

impl ServerConfig {
    /// A plaintext listener on `addr` sending everything to `dst_name`, other keys at their
    /// defaults.
    pub fn new(addr: SocketAddr, dst_name: &str) -> Self {
        Self {
            port: addr.port(),
            ip: addr.ip(),
            dst_name: dst_name.to_owned(),
            routes: Vec::new(),
            tls: None,
            connect_timeout_ms: None,
            connection_lifetime_secs: None,
            idle_timeout_secs: None,
            handshake_timeout_ms: default_handshake_timeout(),
            max_concurrency: default_max_concurrency(),
            max_concurrent_handshakes: default_max_handshakes(),
        }
    }
}

/// `routes[]` — picks a destination by what the client asked for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteConfig {
    /// Matches the client's SNI: a name, or `*.domain` (one label).
    #[serde(default)]
    pub sni: Option<String>,
    /// Matches the negotiated ALPN protocol.
    #[serde(default)]
    pub alpn: Option<String>,
    /// Matches plaintext connections (`true`) or TLS ones (`false`).
    #[serde(default)]
    pub plaintext: Option<bool>,
    /// Where matching connections go.
    pub dst_name: String,
    /// An upstream client for this route, replacing the router's.
    #[serde(default)]
    pub client: Option<ClientConfig>,
}

/// `servers[].tls` — certificates per SNI, client authentication and ALPN.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerTlsConfig {
    /// Served to clients whose SNI matches no identity, or who send none.
    #[serde(default)]
    pub default_identity: Option<IdentityConfig>,
    /// Identities by SNI: names or `*.domain` wildcards.
    #[serde(default)]
    pub identities: BTreeMap<String, IdentityConfig>,
    /// ALPN protocols, most preferred first (an identity may override).
    #[serde(default)]
    pub alpn_protocols: Vec<String>,
    /// Protocol versions: `["tls12", "tls13"]` (default both).
    #[serde(default)]
    pub versions: Option<Vec<String>>,
    /// Also serve plaintext clients on the same port (told apart by their first bytes).
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// A certificate chain and key, and what clients of that name must present.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentityConfig {
    /// PEM files making up the chain, end-entity first.
    pub certs: Vec<PathBuf>,
    /// The PEM private key.
    pub private_key: PathBuf,
    /// How clients of this name authenticate (default: they don't).
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
    /// ALPN protocols for this name, replacing the server's list.
    #[serde(default)]
    pub alpn_protocols: Option<Vec<String>>,
}

/// `clientAuth:` — verification of client certificates for one identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientAuthConfig {
    /// `none`, `optional`, `required` or `pinned`.
    pub mode: ClientAuthMode,
    /// CA bundles (`optional`, `required`) or the exact certificates (`pinned`).
    #[serde(default)]
    pub trust_certs: Vec<PathBuf>,
    /// Which verified clients are let through; unset lets every verified client through.
    #[serde(default)]
    pub acl: Option<AclConfig>,
}

/// Client-authentication modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthMode {
    /// No certificate asked for.
    None,
    /// Asked for; verified when sent.
    Optional,
    /// Required, chaining to `trustCerts`.
    Required,
    /// Required, exactly one of `trustCerts`.
    Pinned,
}

/// `acl:` — a client passes if its certificate matches any entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AclConfig {
    /// DNS subject alternative names (`*.domain` matches one label).
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// URI subject alternative names, such as SPIFFE IDs; a trailing `*` matches a prefix.
    #[serde(default)]
    pub uris: Vec<String>,
    /// Subject common names.
    #[serde(default)]
    pub common_names: Vec<String>,
}

/// `client:` — how upstream connections are made.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientConfig {
    /// TLS to the upstream; without it upstream connections are plaintext.
    #[serde(default)]
    pub tls: Option<ClientTlsConfig>,
    /// Upstream connect timeout (default 1000).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Park endpoints that keep failing to connect (default true).
    #[serde(default = "default_true")]
    pub fail_fast: bool,
    /// Consecutive connect failures that park an endpoint (default 3).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// How long a parked endpoint is skipped, in milliseconds (default 5000).
    #[serde(default = "default_penalty")]
    pub penalty_ms: u64,
    /// Connect attempts per client connection, each to another endpoint when possible
    /// (default 3).
    #[serde(default = "default_attempts")]
    pub connect_attempts: u32,
    /// Send a PROXY protocol header upstream: `v1` or `v2`.
    #[serde(default)]
    pub proxy_protocol: Option<ProxyProtocolVersion>,
}

fn default_connect_timeout() -> u64 {
    1000
}
fn default_true() -> bool {
    true
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_penalty() -> u64 {
    5000
}
fn default_attempts() -> u32 {
    3
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            tls: None,
            connect_timeout_ms: default_connect_timeout(),
            fail_fast: true,
            failure_threshold: default_failure_threshold(),
            penalty_ms: default_penalty(),
            connect_attempts: default_attempts(),
            proxy_protocol: None,
        }
    }
}

/// PROXY protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProtocolVersion {
    /// The text form.
    V1,
    /// The binary form, with TLS details as TLVs.
    V2,
}

/// `client.tls` — TLS to the upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientTlsConfig {
    /// The name sent as SNI and required in the upstream's certificate.
    pub dns_name: String,
    /// CA bundles the upstream's certificate must chain to.
    #[serde(default)]
    pub trust_certs: Vec<PathBuf>,
    /// Upstream certificates accepted by exact match instead (self-signed backends).
    #[serde(default)]
    pub pinned_certs: Vec<PathBuf>,
    /// A client certificate for mutual TLS to the upstream.
    #[serde(default)]
    pub client_identity: Option<ClientIdentityConfig>,
    /// ALPN protocols offered upstream.
    #[serde(default)]
    pub alpn_protocols: Vec<String>,
}

/// A client certificate chain and key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientIdentityConfig {
    /// PEM files making up the chain, end-entity first.
    pub certs: Vec<PathBuf>,
    /// The PEM private key.
    pub private_key: PathBuf,
}

/// A configuration file that could not be loaded.
#[derive(Debug)]
pub enum ConfigFileError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed or a key is unknown, missing or of the wrong type.
    Yaml {
        /// The file.
        path: PathBuf,
        /// serde_yaml's message: the key path, the fault and the line and column.
        message: String,
    },
    /// The values are well-formed but make no sense together.
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key at fault, such as `routers[0].servers[1].tls`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            Self::Yaml { path, message } => write!(f, "{}: {message}", path.display()),
            Self::Invalid { path, key, reason } => {
                write!(f, "{}: {key}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigFileError {}

impl Config {
    /// Reads and checks a configuration file; relative paths in it are resolved against its
    /// directory.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_yaml(&text, path, base)
    }

    /// Parses configuration text. `source` names it in errors; relative paths are resolved
    /// against `base`.
    pub fn from_yaml(text: &str, source: &Path, base: &Path) -> Result<Self, ConfigFileError> {
        let yaml_error = |e: serde_yaml::Error| ConfigFileError::Yaml {
            path: source.to_owned(),
            message: e.to_string(),
        };
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(yaml_error)?;
        let is_legacy = value
            .as_mapping()
            .is_some_and(|m| m.contains_key("proxies"));
        let mut config = if is_legacy {
            let legacy: crate::legacy::LegacyConfig =
                serde_yaml::from_str(text).map_err(yaml_error)?;
            legacy.into_config()
        } else {
            serde_yaml::from_str::<Self>(text).map_err(yaml_error)?
        };
        config.resolve_paths(base);
        config.validate(source)?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(t) = &mut self.session_tickets {
            fix(&mut t.keys_path);
        }
        for router in &mut self.routers {
            if let InterpreterConfig::Fs { root_dir, .. } = &mut router.interpreter {
                fix(root_dir);
            }
            let mut clients: Vec<&mut ClientConfig> = vec![&mut router.client];
            for server in &mut router.servers {
                if let Some(tls) = &mut server.tls {
                    for id in tls
                        .default_identity
                        .iter_mut()
                        .chain(tls.identities.values_mut())
                    {
                        id.certs.iter_mut().for_each(fix);
                        fix(&mut id.private_key);
                        if let Some(auth) = &mut id.client_auth {
                            auth.trust_certs.iter_mut().for_each(fix);
                        }
                    }
                }
                clients.extend(server.routes.iter_mut().filter_map(|r| r.client.as_mut()));
            }
            for client in clients {
                if let Some(tls) = &mut client.tls {
                    tls.trust_certs.iter_mut().for_each(fix);
                    tls.pinned_certs.iter_mut().for_each(fix);
                    if let Some(id) = &mut tls.client_identity {
                        id.certs.iter_mut().for_each(fix);
                        fix(&mut id.private_key);
                    }
                }
            }
        }
    }

    fn validate(&self, source: &Path) -> Result<(), ConfigFileError> {
        let invalid = |key: String, reason: &str| ConfigFileError::Invalid {
            path: source.to_owned(),
            key,
            reason: reason.to_owned(),
        };
        if self.routers.is_empty() {
            return Err(invalid("routers".into(), "at least one router is needed"));
        }
        for (r, router) in self.routers.iter().enumerate() {
            if router.servers.is_empty() {
                return Err(invalid(
                    format!("routers[{r}].servers"),
                    "at least one server is needed",
                ));
            }
            for (s, server) in router.servers.iter().enumerate() {
                let key = format!("routers[{r}].servers[{s}]");
                if !server.dst_name.starts_with('/') {
                    return Err(invalid(
                        format!("{key}.dstName"),
                        "a destination name starts with `/`, such as /svc/web",
                    ));
                }
                if server.max_concurrency == 0 || server.max_concurrent_handshakes == 0 {
                    return Err(invalid(key.clone(), "limits must be at least 1"));
                }
                if let Some(tls) = &server.tls {
                    if tls.default_identity.is_none() && tls.identities.is_empty() {
                        return Err(invalid(
                            format!("{key}.tls"),
                            "needs a defaultIdentity or at least one entry in identities",
                        ));
                    }
                }
                for (i, route) in server.routes.iter().enumerate() {
                    if route.sni.is_some() && server.tls.is_none() {
                        return Err(invalid(
                            format!("{key}.routes[{i}].sni"),
                            "routing by SNI needs `tls` on the server",
                        ));
                    }
                }
            }
            let mut clients = vec![(format!("routers[{r}].client"), &router.client)];
            for (s, server) in router.servers.iter().enumerate() {
                for (i, route) in server.routes.iter().enumerate() {
                    if let Some(c) = &route.client {
                        clients.push((format!("routers[{r}].servers[{s}].routes[{i}].client"), c));
                    }
                }
            }
            for (key, client) in clients {
                if let Some(tls) = &client.tls {
                    if tls.trust_certs.is_empty() && tls.pinned_certs.is_empty() {
                        return Err(invalid(
                            format!("{key}.tls"),
                            "needs trustCerts or pinnedCerts to verify the upstream",
                        ));
                    }
                }
                if client.connect_attempts == 0 {
                    return Err(invalid(
                        format!("{key}.connectAttempts"),
                        "must be at least 1",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigFileError> {
        Config::from_yaml(text, Path::new("proxy.yml"), Path::new("/etc/tlswire"))
    }

    #[test]
    fn linkerd_tcp_shape() {
        let config = parse(
            r#"
admin:
  port: 9989
  metricsIntervalSecs: 10
routers:
  - label: default
    interpreter:
      kind: io.l5d.namerd.http
      baseUrl: http://localhost:4180
      namespace: default
      periodSecs: 20
    servers:
      - port: 7474
        dstName: /svc/default
        connectTimeoutMs: 500
      - ip: 0.0.0.0
        port: 7575
        dstName: /svc/default
        connectionLifetimeSecs: 60
        maxConcurrency: 100
        tls:
          alpnProtocols: [h2]
          defaultIdentity:
            privateKey: private.pem
            certs: [cert.pem, ca-chain.pem]
          identities:
            api.example.com:
              privateKey: /keys/api.key
              certs: [/keys/api.crt]
    client:
      tls:
        dnsName: "www.google.com"
        trustCerts: [ca-chain.pem]
"#,
        )
        .unwrap();
        assert_eq!(config.admin.port, 9989);
        assert_eq!(config.admin.grace_secs, 10);
        let router = &config.routers[0];
        assert!(matches!(
            router.interpreter,
            InterpreterConfig::Namerd {
                period_secs: 20,
                ..
            }
        ));
        let tls = router.servers[1].tls.as_ref().unwrap();
        let default = tls.default_identity.as_ref().unwrap();
        assert_eq!(default.private_key, Path::new("/etc/tlswire/private.pem"));
        assert_eq!(
            tls.identities["api.example.com"].certs[0],
            Path::new("/keys/api.crt")
        );
        assert_eq!(router.servers[1].max_concurrency, 100);
        assert_eq!(router.servers[0].ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let client_tls = router.client.tls.as_ref().unwrap();
        assert_eq!(
            client_tls.trust_certs[0],
            Path::new("/etc/tlswire/ca-chain.pem")
        );
    }

    #[test]
    fn older_proxies_shape() {
        let config = parse(
            r#"
proxies:
  - servers:
      - addr: 127.0.0.1:7474
      - addr: 0.0.0.0:7575
        tls:
          private_key_path: private.pem
          cert_paths:
            - cert.pem
            - ../eg-ca/ca/intermediate/certs/ca-chain.cert.pem
    namerd:
      addr: 127.0.0.1:4180
      path: /svc/google
    client:
      tls:
        name: "www.google.com"
        trust_cert_paths:
          - ../eg-ca/ca/intermediate/certs/ca-chain.cert.pem
          - /usr/local/etc/openssl/cert.pem
"#,
        )
        .unwrap();
        let router = &config.routers[0];
        assert_eq!(router.servers.len(), 2);
        assert_eq!(router.servers[1].port, 7575);
        assert_eq!(router.servers[1].dst_name, "/svc/google");
        let InterpreterConfig::Namerd { base_url, .. } = &router.interpreter else {
            panic!("namerd interpreter expected");
        };
        assert_eq!(base_url, "http://127.0.0.1:4180");
        let id = router.servers[1]
            .tls
            .as_ref()
            .unwrap()
            .default_identity
            .as_ref()
            .unwrap();
        assert_eq!(id.certs.len(), 2);
        assert_eq!(
            router.client.tls.as_ref().unwrap().dns_name,
            "www.google.com"
        );
        assert_eq!(
            router.client.tls.as_ref().unwrap().trust_certs[1],
            Path::new("/usr/local/etc/openssl/cert.pem")
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse("routers:\n  - servers:\n      - port: 1\n        dstName: /svc/a\n        maxConcurency: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("maxConcurency"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.starts_with("proxy.yml: "), "{err}");
    }

    #[test]
    fn dns_interpreter_names_and_nameservers() {
        use crate::discovery::dns::{DnsTarget, Nameserver};
        let config = parse(
            r#"
routers:
  - interpreter:
      kind: io.l5d.dns
      names:
        /svc/web: web.internal:8080
        /svc/api: _api._tcp.example.internal
      nameservers: ["127.0.0.1:5353", "::1"]
    servers: [{port: 1, dstName: /svc/web}]
"#,
        )
        .unwrap();
        let InterpreterConfig::Dns {
            names,
            nameservers,
            period_secs,
        } = &config.routers[0].interpreter
        else {
            panic!("dns interpreter expected");
        };
        assert_eq!(*period_secs, 30);
        assert_eq!(
            names["/svc/api"],
            DnsTarget::Srv("_api._tcp.example.internal".into())
        );
        assert!(matches!(
            names["/svc/web"],
            DnsTarget::HostPort { port: 8080, .. }
        ));
        assert_eq!(
            nameservers,
            &[
                Nameserver("127.0.0.1:5353".parse().unwrap()),
                Nameserver("[::1]:53".parse().unwrap())
            ]
        );
    }

    #[test]
    fn bad_dns_values_are_named() {
        let with = |interpreter: &str| {
            parse(&format!(
                "routers:\n  - interpreter: {interpreter}\n    servers: [{{port: 1, dstName: /a}}]\n"
            ))
            .unwrap_err()
            .to_string()
        };
        let err = with("{kind: io.l5d.dns, names: {/a: web.internal}}");
        assert!(
            err.contains("routers[0]: interpreter.names: \"web.internal\" is neither"),
            "{err}"
        );
        assert!(err.contains("line 2"), "{err}");
        let err = with("{kind: io.l5d.dns, nameservers: [resolver.internal]}");
        assert!(
            err.contains("interpreter.nameservers: \"resolver.internal\""),
            "{err}"
        );
        let err = with("{kind: io.l5d.dns, nameserver: [127.0.0.1]}");
        assert!(err.contains("nameserver"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = parse("routers:\n  - servers:\n      - port: 1\n        dstName: svc\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("routers[0].servers[0].dstName"), "{err}");
        let err = parse(
            "routers:\n  - servers:\n      - port: 1\n        dstName: /a\n    client:\n      tls:\n        dnsName: x\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("routers[0].client.tls: needs trustCerts"),
            "{err}"
        );
    }
}
