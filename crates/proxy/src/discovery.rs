//! Turning destination names into weighted endpoint sets, and keeping them current: static
//! lists, files re-read on change, DNS (A/AAAA and SRV, in [`dns`]) re-resolved on a period,
//! and namerd's HTTP interface (polled, or streamed with `watch=true`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::balancer::Balancer;
use crate::config::InterpreterConfig;

pub mod dns;
pub mod dns_wire;

use dns::{DnsTarget, Resolver};

/// A set of weighted addresses.
pub type Endpoints = Vec<(SocketAddr, f64)>;

/// Starts keeping `balancer` (named by its destination) current. Returns an error for a name
/// the interpreter cannot know about at all (a static list without it).
pub fn spawn(
    interpreter: &InterpreterConfig,
    balancer: Arc<Balancer>,
    shutdown: watch::Receiver<bool>,
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
        } => {
            let namerd = Namerd::new(base_url, namespace, &name)?;
            let period = Duration::from_secs((*period_secs).max(1));
            let task = namerd_loop(namerd, period, *long_poll, balancer);
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

/// Where to ask namerd about one name.
#[derive(Debug, Clone)]
struct Namerd {
    authority: String,
    request_path: String,
}

impl Namerd {
    fn new(base_url: &str, namespace: &str, name: &str) -> Result<Self, String> {
        let rest = base_url
            .strip_prefix("http://")
            .ok_or_else(|| format!("interpreter.baseUrl must start with http:// ({base_url:?})"))?;
        let (authority, prefix) = match rest.split_once('/') {
            Some((a, p)) => (a, format!("/{}", p.trim_end_matches('/'))),
            None => (rest, String::new()),
        };
        let prefix = prefix.trim_end_matches('/');
        Ok(Self {
            authority: authority.to_owned(),
            request_path: format!(
                "{prefix}/api/1/resolve/{}?path={}",
                percent_encode(namespace),
                percent_encode(name)
            ),
        })
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// namerd's answer for a name.
#[derive(Debug, Deserialize)]
struct NamerdResponse {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    addrs: Vec<NamerdAddr>,
}

#[derive(Debug, Deserialize)]
struct NamerdAddr {
    ip: String,
    port: u16,
    #[serde(default)]
    meta: NamerdMeta,
}

#[derive(Debug, Default, Deserialize)]
struct NamerdMeta {
    #[serde(default)]
    endpoint_addr_weight: Option<f64>,
}

/// Endpoints from a namerd response body; `None` for a name namerd has not bound yet.
fn parse_namerd(body: &[u8]) -> Result<Option<Endpoints>, String> {
    let response: NamerdResponse =
        serde_json::from_slice(body).map_err(|e| format!("namerd sent malformed JSON: {e}"))?;
    match response.kind.as_str() {
        "bound" => {
            let mut set = Vec::new();
            for a in response.addrs {
                let ip =
                    a.ip.parse()
                        .map_err(|_| format!("namerd sent a bad IP {:?}", a.ip))?;
                set.push((
                    SocketAddr::new(ip, a.port),
                    a.meta.endpoint_addr_weight.unwrap_or(1.0),
                ));
            }
            Ok(Some(set))
        }
        "neg" => Ok(Some(Vec::new())),
        _ => Ok(None),
    }
}

async fn namerd_loop(namerd: Namerd, period: Duration, long_poll: bool, balancer: Arc<Balancer>) {
    loop {
        let result = if long_poll {
            namerd_watch(&namerd, &balancer).await
        } else {
            namerd_get(&namerd).await.map(|set| {
                if let Some(set) = set {
                    balancer.update(&set);
                }
            })
        };
        if let Err(e) = result {
            tracing::warn!(name = balancer.name(), namerd = %namerd.authority, "namerd: {e}");
        }
        tokio::time::sleep(period).await;
    }
}

async fn namerd_request(namerd: &Namerd, watch: bool) -> Result<HttpBody, String> {
    let path = if watch {
        format!("{}&watch=true", namerd.request_path)
    } else {
        namerd.request_path.clone()
    };
    let mut stream = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(namerd.authority.as_str()),
    )
    .await
    .map_err(|_| "connect timed out".to_owned())?
    .map_err(|e| format!("cannot connect: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        namerd.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send request: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader
        .read_line(&mut status)
        .await
        .map_err(|e| format!("cannot read response: {e}"))?;
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("unexpected status {:?}", status.trim()));
    }
    let mut chunked = false;
    let mut length = None;
    loop {
        let mut line = String::new();
        let n = reader
            .read_line(&mut line)
            .await
            .map_err(|e| format!("cannot read headers: {e}"))?;
        let line = line.trim();
        if n == 0 || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if name == "content-length" {
                length = value.parse::<usize>().ok();
            }
        }
    }
    Ok(HttpBody {
        reader,
        chunked,
        length,
    })
}

/// A response body being read: chunked, sized, or up to the end of the connection.
struct HttpBody {
    reader: BufReader<TcpStream>,
    chunked: bool,
    length: Option<usize>,
}

/// Largest body or chunk accepted from namerd.
const MAX_BODY: usize = 4 * 1024 * 1024;

impl HttpBody {
    /// The next chunk (chunked encoding) or the whole body; `None` at the end.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        let io = |e: std::io::Error| format!("reading the body: {e}");
        if !self.chunked {
            let mut body = Vec::new();
            match self.length.take() {
                Some(0) => return Ok(None),
                Some(n) if n <= MAX_BODY => {
                    body.resize(n, 0);
                    self.reader.read_exact(&mut body).await.map_err(io)?;
                    self.length = Some(0);
                }
                Some(_) => return Err("body too large".into()),
                None => {
                    (&mut self.reader)
                        .take(MAX_BODY as u64)
                        .read_to_end(&mut body)
                        .await
                        .map_err(io)?;
                    self.length = Some(0);
                }
            }
            return Ok(Some(body));
        }
        let mut size_line = String::new();
        if self.reader.read_line(&mut size_line).await.map_err(io)? == 0 {
            return Ok(None);
        }
        let size_text = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        if size == 0 {
            return Ok(None);
        }
        if size > MAX_BODY {
            return Err("chunk too large".into());
        }
        let mut chunk = vec![0u8; size + 2];
        self.reader.read_exact(&mut chunk).await.map_err(io)?;
        chunk.truncate(size);
        Ok(Some(chunk))
    }
}

async fn namerd_get(namerd: &Namerd) -> Result<Option<Endpoints>, String> {
    let mut body = namerd_request(namerd, false).await?;
    let mut all = Vec::new();
    while let Some(chunk) = body.next().await? {
        all.extend_from_slice(&chunk);
        if all.len() > MAX_BODY {
            return Err("body too large".into());
        }
    }
    parse_namerd(&all)
}

/// Follows namerd's streaming form: a JSON object per change, possibly split across chunks.
async fn namerd_watch(namerd: &Namerd, balancer: &Balancer) -> Result<(), String> {
    let mut body = namerd_request(namerd, true).await?;
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await? {
        pending.extend_from_slice(&chunk);
        if pending.len() > MAX_BODY {
            return Err("update too large".into());
        }
        let mut stream =
            serde_json::Deserializer::from_slice(&pending).into_iter::<serde_json::Value>();
        let mut consumed = 0;
        while let Some(value) = stream.next() {
            match value {
                Ok(value) => {
                    consumed = stream.byte_offset();
                    let text = value.to_string();
                    if let Some(set) = parse_namerd(text.as_bytes())? {
                        balancer.update(&set);
                    }
                }
                Err(e) if e.is_eof() => break,
                Err(e) => return Err(format!("namerd sent malformed JSON: {e}")),
            }
        }
        pending.drain(..consumed);
    }
    Err("namerd closed the watch".into())
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
    fn namerd_bodies() {
        let body = br#"{"type":"bound","addrs":[{"ip":"127.0.0.1","port":8080,"meta":{"endpoint_addr_weight":3.0}},{"ip":"127.0.0.2","port":8081,"meta":{}}],"meta":{}}"#;
        let set = parse_namerd(body).unwrap().unwrap();
        assert_eq!(set[0], ("127.0.0.1:8080".parse().unwrap(), 3.0));
        assert_eq!(set[1].1, 1.0);
        assert_eq!(parse_namerd(br#"{"type":"pending"}"#).unwrap(), None);
        assert!(parse_namerd(b"{").is_err());
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
        let n = Namerd::new("http://127.0.0.1:4180", "default", "/svc/web").unwrap();
        assert_eq!(n.request_path, "/api/1/resolve/default?path=/svc/web");
        assert!(Namerd::new("https://x", "default", "/svc/web").is_err());
    }
}
