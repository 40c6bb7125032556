//! Turning destination names into weighted endpoint sets, and keeping them current: static
//! lists, files re-read on change, DNS (A/AAAA and SRV, in [`dns`]) re-resolved on a period,
//! and namerd's HTTP interface (polled, or streamed with `watch=true`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::balancer::Balancer;
use crate::config::InterpreterConfig;
use crate::tls_setup::UpstreamTls;

pub mod dns;
pub mod dns_wire;
mod namerd;

use dns::{DnsTarget, Resolver};
use namerd::Namerd;

/// A set of weighted addresses.
pub type Endpoints = Vec<(SocketAddr, f64)>;

/// Starts keeping `balancer` (named by its destination) current. `namerd_tls` is the TLS
/// client for an `https://` namerd. Returns an error for a name the interpreter cannot know
/// about at all (a static list without it).
pub(crate) fn spawn(
    interpreter: &InterpreterConfig,
    balancer: Arc<Balancer>,
    shutdown: watch::Receiver<bool>,
    namerd_tls: Option<Arc<UpstreamTls>>,
) -> Result<(), String> {
    let name = balancer.name().to_owned();
    if let Some(target) = inet_target(&name) {
        let task = dns::dns_loop(target, Resolver::System, Duration::from_secs(30), balancer);
        tokio::spawn(run_until_shutdown(task, shutdown));
        return Ok(());
    }
    match interpreter {
        InterpreterConfig::Static { names } => {
            let endpoints = names
                .get(&name)
                .ok_or_else(|| format!("interpreter.names has no entry for dstName {name:?}"))?;
            let set: Endpoints = endpoints.iter().map(|e| (e.addr, e.weight)).collect();
            balancer.update(&set);
        }
        InterpreterConfig::Fs {
            root_dir,
            period_ms,
        } => {
            let file = root_dir.join(last_segment(&name));
            let period = Duration::from_millis((*period_ms).max(10));
            tokio::spawn(run_until_shutdown(
                fs_loop(file, period, balancer),
                shutdown,
            ));
        }
        InterpreterConfig::Dns {
            names,
            nameservers,
            period_secs,
        } => {
            let target = names.get(&name).cloned().ok_or_else(|| {
                format!("interpreter.names has no HOST:PORT or SRV name for dstName {name:?}")
            })?;
            let period = Duration::from_secs((*period_secs).max(1));
            let task = dns::dns_loop(target, Resolver::new(nameservers), period, balancer);
            tokio::spawn(run_until_shutdown(task, shutdown));
        }
        InterpreterConfig::Namerd {
            base_url,
            namespace,
            period_secs,
            long_poll,
            tls: _,
        } => {
            let namerd = Namerd::new(base_url, namespace, &name, namerd_tls)?;
            let period = Duration::from_secs((*period_secs).max(1));
            let task = namerd::namerd_loop(namerd, period, *long_poll, balancer);
            tokio::spawn(run_until_shutdown(task, shutdown));
        }
    }
    Ok(())
}

async fn run_until_shutdown(
    task: impl std::future::Future<Output = ()>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::select! {
        () = task => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

/// `/$/inet/HOST/PORT` as a `HOST:PORT` target.
fn inet_target(name: &str) -> Option<DnsTarget> {
    let rest = name.strip_prefix("/$/inet/")?;
    let (host, port) = rest.rsplit_once('/')?;
    let port: u16 = port.parse().ok()?;
    Some(DnsTarget::HostPort {
        host: host.to_owned(),
        port,
    })
}

fn last_segment(name: &str) -> &str {
    name.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(name)
}

/// Parses an endpoint file: each line `IP:PORT [WEIGHT]` or `HOST PORT [WEIGHT]` (linkerd's
/// io.l5d.fs form); `#` starts a comment.
pub fn parse_endpoint_file(text: &str, source: &Path) -> Result<Endpoints, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |what: &str| format!("{}:{}: {what}: {line:?}", source.display(), i + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (addr, weight) = match fields.as_slice() {
            [addr] => (addr.parse().map_err(|_| bad("not IP:PORT"))?, None),
            [first, second] => match first.parse::<SocketAddr>() {
                Ok(addr) => (addr, Some(*second)),
                Err(_) => (
                    host_port(first, second).ok_or_else(|| bad("not HOST PORT"))?,
                    None,
                ),
            },
            [host, port, weight] => (
                host_port(host, port).ok_or_else(|| bad("not HOST PORT WEIGHT"))?,
                Some(*weight),
            ),
            _ => return Err(bad("expected `IP:PORT [WEIGHT]` or `HOST PORT [WEIGHT]`")),
        };
        let weight = match weight {
            Some(w) => w
                .parse::<f64>()
                .ok()
                .filter(|w| w.is_finite() && *w >= 0.0)
                .ok_or_else(|| bad("weight is not a non-negative number"))?,
            None => 1.0,
        };
        out.push((addr, weight));
    }
    Ok(out)
}

fn host_port(host: &str, port: &str) -> Option<SocketAddr> {
    let ip: std::net::IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

async fn fs_loop(file: PathBuf, period: Duration, balancer: Arc<Balancer>) {
    let mut last: Option<SystemTime> = None;
    loop {
        let modified = tokio::fs::metadata(&file).await.and_then(|m| m.modified());
        match modified {
            Ok(mtime) if Some(mtime) != last => match tokio::fs::read_to_string(&file).await {
                Ok(text) => match parse_endpoint_file(&text, &file) {
                    Ok(set) => {
                        balancer.update(&set);
                        last = Some(mtime);
                    }
                    Err(e) => tracing::warn!("keeping previous endpoints: {e}"),
                },
                Err(e) => tracing::warn!(file = %file.display(), "cannot read endpoints: {e}"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!(file = %file.display(), "cannot stat endpoints: {e}"),
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_file_forms() {
        let text = "# web\n127.0.0.1:8080 2\n10.0.0.1 9000\n::1 9001 0.5\n\n[::1]:7000\n";
        let set = parse_endpoint_file(text, Path::new("web")).unwrap();
        assert_eq!(set.len(), 4);
        assert_eq!(set[0], ("127.0.0.1:8080".parse().unwrap(), 2.0));
        assert_eq!(set[1], ("10.0.0.1:9000".parse().unwrap(), 1.0));
        assert_eq!(set[2], ("[::1]:9001".parse().unwrap(), 0.5));
        let err = parse_endpoint_file("127.0.0.1:1 x\n", Path::new("web")).unwrap_err();
        assert!(err.starts_with("web:1: weight"), "{err}");
    }

    #[test]
    fn names() {
        assert_eq!(
            inet_target("/$/inet/localhost/80").unwrap().to_string(),
            "localhost:80"
        );
        assert_eq!(
            inet_target("/$/inet/::1/80").unwrap().to_string(),
            "[::1]:80"
        );
        assert_eq!(last_segment("/svc/web"), "web");
    }
}
