//! The configuration file: YAML in linkerd-tcp's shape (`admin`, `routers`, `servers`, `client`),
//! extended for everything the proxy does. The older `proxies:` shape is translated into the
//! same model by [`crate::legacy`].
//!
//! Every struct denies unknown keys, so a typo is an error that names the key and the line.
//! Relative paths are resolved against the directory of the configuration file.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

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
    /// namerd's HTTP interface: `GET {baseUrl}/api/1/resolve/{namespace}?path={dstName}`, over
    /// plain HTTP or, with an `https://` baseUrl and `tls`, over TLS.
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
        /// TLS to namerd, for an `https://` baseUrl: the same keys as `client.tls`.
        #[serde(default)]
        tls: Option<ClientTlsConfig>,
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

mod load;
mod locate;
#[cfg(test)]
mod tests;

pub use load::ConfigFileError;
