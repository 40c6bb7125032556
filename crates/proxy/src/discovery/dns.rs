//! DNS discovery: `HOST:PORT` names (A/AAAA) and SRV names (`_service._proto.name`, RFC 2782),
//! re-resolved on a period; a failed or empty answer keeps the previous endpoints.
//!
//! Without configured `nameservers`, `HOST:PORT` goes through the system resolver
//! (`getaddrinfo`, so `/etc/hosts` applies) and SRV questions go to the nameservers of
//! `/etc/resolv.conf`, re-read on every round. With `nameservers`, every question goes to them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::dns_wire::{self, RecordData, Response, TYPE_A, TYPE_AAAA, TYPE_SRV};
use super::Endpoints;
use crate::balancer::Balancer;

/// A value of `io.l5d.dns` `names`: what to resolve for one destination name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DnsTarget {
    /// `HOST:PORT` (`[v6]:PORT` for an IPv6 literal): the host's A and AAAA records, weight 1
    /// each, on `port`.
    HostPort {
        /// A DNS name or an IP literal (without brackets).
        host: String,
        /// The port every address gets.
        port: u16,
    },
    /// `_service._proto.name`: SRV records, their targets' addresses and ports.
    Srv(String),
}

impl TryFrom<String> for DnsTarget {
    type Error = String;

    /// For the config: the error names the key, since serde loses the path inside the
    /// interpreter's tagged enum.
    fn try_from(value: String) -> Result<Self, String> {
        value.parse().map_err(|e| format!("interpreter.names: {e}"))
    }
}

impl std::str::FromStr for DnsTarget {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        if let Some((host, port)) = value.rsplit_once(':') {
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            let port: u16 = port
                .parse()
                .map_err(|_| format!("{value:?}: the port {port:?} is not a number 0-65535"))?;
            if host.parse::<IpAddr>().is_err() {
                check_dns_name(host).map_err(|why| format!("{value:?}: {why}"))?;
            }
            return Ok(Self::HostPort {
                host: host.to_owned(),
                port,
            });
        }
        let labels: Vec<&str> = value.trim_end_matches('.').split('.').collect();
        if labels.len() >= 3 && labels[0].starts_with('_') && labels[1].starts_with('_') {
            check_dns_name(value).map_err(|why| format!("{value:?}: {why}"))?;
            return Ok(Self::Srv(dns_wire::normalize(value)));
        }
        Err(format!(
            "{value:?} is neither HOST:PORT nor an SRV name such as _web._tcp.example.internal"
        ))
    }
}

impl std::fmt::Display for DnsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HostPort { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::HostPort { host, port } => write!(f, "{host}:{port}"),
            Self::Srv(name) => f.write_str(name),
        }
    }
}

fn check_dns_name(name: &str) -> Result<(), &'static str> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err("a DNS name has 1 to 253 characters");
    }
    if trimmed.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err("each label of a DNS name has 1 to 63 characters");
    }
    Ok(())
}

/// A value of `io.l5d.dns` `nameservers`: `IP` (port 53) or `IP:PORT` (`[v6]:PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Nameserver(pub SocketAddr);

impl TryFrom<String> for Nameserver {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        if let Ok(addr) = value.parse::<SocketAddr>() {
            return Ok(Self(addr));
        }
        value
            .parse::<IpAddr>()
            .map(|ip| Self(SocketAddr::new(ip, 53)))
            .map_err(|_| format!("interpreter.nameservers: {value:?} is not IP or IP:PORT"))
    }
}

/// Where questions go.
#[derive(Debug, Clone)]
pub(crate) enum Resolver {
    /// The system's: `getaddrinfo` for A/AAAA, `/etc/resolv.conf`'s nameservers for SRV.
    System,
    /// These nameservers, tried in order, for everything.
    Servers(Vec<SocketAddr>),
}

const RESOLV_CONF: &str = "/etc/resolv.conf";
/// At most this many SRV records are used from one answer (each may cost two queries).
const MAX_SRV_RECORDS: usize = 64;

impl Resolver {
    /// From the `nameservers` key: empty means the system's.
    pub(crate) fn new(nameservers: &[Nameserver]) -> Self {
        if nameservers.is_empty() {
            Self::System
        } else {
            Self::Servers(nameservers.iter().map(|n| n.0).collect())
        }
    }

    fn servers(&self) -> Vec<SocketAddr> {
        match self {
            Self::Servers(servers) => servers.clone(),
            Self::System => {
                let text = std::fs::read_to_string(Path::new(RESOLV_CONF)).unwrap_or_default();
                resolv_conf_nameservers(&text)
            }
        }
    }

    /// Asks the nameservers in turn; the first that answers (NOERROR or NXDOMAIN) wins.
    async fn query(&self, name: &str, qtype: u16) -> Result<Response, String> {
        let mut failures = Vec::new();
        for server in self.servers() {
            match dns_wire::query(server, name, qtype).await {
                Ok(response) => return Ok(response),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        Err(failures.join("; "))
    }

    /// The A and AAAA addresses of `host`; empty when the name has none.
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if let Self::System = self {
            let addrs = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| e.to_string())?;
            return Ok(addrs.map(|a| a.ip()).collect());
        }
        let (v4, v6) = tokio::join!(self.query(host, TYPE_A), self.query(host, TYPE_AAAA));
        match (v4, v6) {
            (Err(e), Err(_)) => Err(e),
            (v4, v6) => Ok([v4, v6]
                .into_iter()
                .flatten()
                .flat_map(|r| r.addresses_of(host))
                .collect()),
        }
    }

    /// The endpoints for `target`, or why there are none.
    pub(crate) async fn resolve(&self, target: &DnsTarget) -> Result<Endpoints, String> {
        let mut set = match target {
            DnsTarget::HostPort { host, port } => self
                .addresses(host)
                .await?
                .into_iter()
                .map(|ip| (SocketAddr::new(ip, *port), 1.0))
                .collect(),
            DnsTarget::Srv(name) => self.resolve_srv(name).await?,
        };
        set.sort_by_key(|(addr, _)| *addr);
        set.dedup_by_key(|(addr, _)| *addr);
        if set.is_empty() {
            return Err("no addresses".into());
        }
        Ok(set)
    }

    async fn resolve_srv(&self, name: &str) -> Result<Endpoints, String> {
        let response = self.query(name, TYPE_SRV).await?;
        if response.nxdomain {
            return Err("no such name (NXDOMAIN)".into());
        }
        let records: Vec<SrvRecord> = response
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RecordData::Srv {
                    priority,
                    weight,
                    port,
                    target,
                } => Some(SrvRecord {
                    priority: *priority,
                    weight: *weight,
                    port: *port,
                    target: target.clone(),
                }),
                _ => None,
            })
            .take(MAX_SRV_RECORDS)
            .collect();
        if records.is_empty() {
            return Err("no SRV records".into());
        }
        let mut addresses: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for record in &records {
            // Target `.` (empty here) says the service is not offered there (RFC 2782).
            if record.target.is_empty() || addresses.contains_key(&record.target) {
                continue;
            }
            let mut found: Vec<IpAddr> = response
                .additional
                .iter()
                .filter(|r| r.name == record.target)
                .filter_map(|r| match r.data {
                    RecordData::Address(ip) => Some(ip),
                    _ => None,
                })
                .collect();
            if found.is_empty() {
                found = self.addresses(&record.target).await.unwrap_or_else(|e| {
                    tracing::debug!(srv = name, target = %record.target, "cannot resolve: {e}");
                    Vec::new()
                });
            }
            addresses.insert(record.target.clone(), found);
        }
        let resolved: Vec<(SrvRecord, Vec<IpAddr>)> = records
            .into_iter()
            .map(|r| {
                let addrs = addresses.get(&r.target).cloned().unwrap_or_default();
                (r, addrs)
            })
            .collect();
        let set = select_srv(&resolved);
        if set.is_empty() {
            return Err("no SRV target has an address".into());
        }
        Ok(set)
    }
}

/// `nameserver` lines of resolv.conf (port 53); 127.0.0.1 when there are none, as in glibc.
fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    let servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(ip)) => {
                    // A link-local IPv6 server may carry a zone (`fe80::1%eth0`): not usable here.
                    ip.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
                }
                _ => None,
            }
        })
        .collect();
    if servers.is_empty() {
        vec![SocketAddr::from(([127, 0, 0, 1], 53))]
    } else {
        servers
    }
}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvRecord {
    pub(crate) priority: u16,
    pub(crate) weight: u16,
    pub(crate) port: u16,
    pub(crate) target: String,
}

/// A weight-0 record's share, as a fraction of the smallest non-zero weight in its group.
///
/// RFC 2782 gives weight-0 records "a very small chance of being selected" when others have
/// weight; one hundredth of the lightest one is that, whatever scale the weights use.
pub const ZERO_WEIGHT_FRACTION: f64 = 0.01;

/// The endpoints of the lowest-numbered priority group with at least one resolved target.
///
/// Each record's weight is split evenly across its target's addresses, so a host keeps its
/// share whatever number of addresses it has. If every record of the group has weight 0, all
/// count equally.
pub(crate) fn select_srv(records: &[(SrvRecord, Vec<IpAddr>)]) -> Endpoints {
    let Some(priority) = records
        .iter()
        .filter(|(_, addrs)| !addrs.is_empty())
        .map(|(r, _)| r.priority)
        .min()
    else {
        return Vec::new();
    };
    let group: Vec<&(SrvRecord, Vec<IpAddr>)> = records
        .iter()
        .filter(|(r, addrs)| r.priority == priority && !addrs.is_empty())
        .collect();
    let lightest = group.iter().map(|(r, _)| r.weight).filter(|w| *w > 0).min();
    let mut set: Endpoints = Vec::new();
    for (record, addrs) in group {
        let weight = match lightest {
            None => 1.0,
            Some(lightest) if record.weight == 0 => f64::from(lightest) * ZERO_WEIGHT_FRACTION,
            Some(_) => f64::from(record.weight),
        };
        let share = weight / addrs.len() as f64;
        for ip in addrs {
            let addr = SocketAddr::new(*ip, record.port);
            // Two records naming the same host and port add up.
            match set.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, w)) => *w += share,
                None => set.push((addr, share)),
            }
        }
    }
    set
}

/// Keeps `balancer` set to what `target` resolves to, every `period`.
pub(crate) async fn dns_loop(
    target: DnsTarget,
    resolver: Resolver,
    period: Duration,
    balancer: Arc<Balancer>,
) {
    loop {
        match resolver.resolve(&target).await {
            Ok(set) => balancer.update(&set),
            Err(e) => {
                tracing::warn!(name = %target, "DNS lookup failed, keeping previous endpoints: {e}")
            }
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
