//! namerd's HTTP interface (`io.l5d.namerd.http`): `GET {baseUrl}/api/1/resolve/{namespace}?
//! path={name}`, polled, or streamed with `watch=true` (one JSON object per change), over plain
//! HTTP or TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::Endpoints;
use crate::balancer::Balancer;
use crate::tls_setup::UpstreamTls;

/// Where and how to ask namerd about one name.
#[derive(Debug, Clone)]
pub(super) struct Namerd {
    authority: String,
    request_path: String,
    /// Set for an `https://` namerd.
    tls: Option<Arc<UpstreamTls>>,
}

impl Namerd {
    pub(super) fn new(
        base_url: &str,
        namespace: &str,
        name: &str,
        tls: Option<Arc<UpstreamTls>>,
    ) -> Result<Self, String> {
        let (rest, tls) = match (base_url.split_once("://"), tls) {
            (Some(("http", rest)), _) => (rest, None),
            (Some(("https", rest)), Some(tls)) => (rest, Some(tls)),
            (Some(("https", _)), None) => {
                return Err(format!(
                    "interpreter.tls is needed for an https:// baseUrl ({base_url:?})"
                ))
            }
            _ => {
                return Err(format!(
                    "interpreter.baseUrl must start with http:// or https:// ({base_url:?})"
                ))
            }
        };
        let (authority, prefix) = match rest.split_once('/') {
            Some((a, p)) => (a, format!("/{}", p.trim_end_matches('/'))),
            None => (rest, String::new()),
        };
        let prefix = prefix.trim_end_matches('/');
        Ok(Self {
            tls,
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

pub(super) async fn namerd_loop(
    namerd: Namerd,
    period: Duration,
    long_poll: bool,
    balancer: Arc<Balancer>,
) {
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
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(namerd.authority.as_str()),
    )
    .await
    .map_err(|_| "connect timed out".to_owned())?
    .map_err(|e| format!("cannot connect: {e}"))?;
    let mut stream: Box<dyn NamerdStream> = match &namerd.tls {
        None => Box::new(tcp),
        Some(tls) => Box::new(
            tokio::time::timeout(Duration::from_secs(5), tls.connect(tcp))
                .await
                .map_err(|_| "TLS handshake timed out".to_owned())?
                .map_err(|e| format!("TLS handshake failed: {e}"))?,
        ),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        namerd.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send request: {e}"))?;
    stream
        .flush()
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

/// A connection to namerd, plain or TLS.
trait NamerdStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> NamerdStream for T {}

/// A response body being read: chunked, sized, or up to the end of the connection.
struct HttpBody {
    reader: BufReader<Box<dyn NamerdStream>>,
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
    fn namerd_bodies() {
        let body = br#"{"type":"bound","addrs":[{"ip":"127.0.0.1","port":8080,"meta":{"endpoint_addr_weight":3.0}},{"ip":"127.0.0.2","port":8081,"meta":{}}],"meta":{}}"#;
        let set = parse_namerd(body).unwrap().unwrap();
        assert_eq!(set[0], ("127.0.0.1:8080".parse().unwrap(), 3.0));
        assert_eq!(set[1].1, 1.0);
        assert_eq!(parse_namerd(br#"{"type":"pending"}"#).unwrap(), None);
        assert!(parse_namerd(b"{").is_err());
    }

    #[test]
    fn base_urls() {
        let n = Namerd::new("http://127.0.0.1:4180", "default", "/svc/web", None).unwrap();
        assert_eq!(n.authority, "127.0.0.1:4180");
        assert_eq!(n.request_path, "/api/1/resolve/default?path=/svc/web");
        let n = Namerd::new("http://namerd:4180/prefix/", "ns", "/svc/a b", None).unwrap();
        assert_eq!(n.request_path, "/prefix/api/1/resolve/ns?path=/svc/a%20b");
        let err = Namerd::new("https://x", "default", "/svc/web", None).unwrap_err();
        assert!(err.contains("tls"), "{err}");
        assert!(Namerd::new("ftp://x", "default", "/svc/web", None).is_err());
    }
}
