//! Writing to Redis: one server (`redis://`, or `rediss://` through tlswire-tokio) or a Redis
//! Cluster found through seed nodes. Writes are pipelined: a whole batch goes out before the
//! replies are read.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::mapping::Op;
use crate::resp::{encode, RedisStream, Reply, RespConn};
use crate::store::{BatchResult, PayloadResult};

/// A parsed `redis://` or `rediss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Whether to connect with TLS (`rediss://`).
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port (default 6379).
    pub port: u16,
    /// ACL user name, if any.
    pub username: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Database index (default 0).
    pub db: u32,
}

impl RedisUrl {
    /// Parses `redis[s]://[[user]:password@]host[:port][/db]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("redis://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("rediss://") {
            (true, rest)
        } else {
            return Err("must start with redis:// or rediss://".into());
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, pass)) => (
                    (!user.is_empty()).then(|| user.to_owned()),
                    Some(pass.to_owned()),
                ),
                None => (Some(info.to_owned()), None),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || hostport.starts_with('[') => {
                let port = port.parse().map_err(|_| format!("invalid port {port:?}"))?;
                (host, port)
            }
            _ => (hostport, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("no host".into());
        }
        let db = match path.trim_end_matches('/') {
            "" => 0,
            db => db
                .parse()
                .map_err(|_| format!("database index {db:?} is not a number"))?,
        };
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            username,
            password,
            db,
        })
    }

    fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a connection to `address`, with TLS when `tls` is set, then authenticates and
/// selects the database.
async fn connect(
    address: &str,
    host: &str,
    tls: Option<&Arc<tlswire_core::rustls::ClientConfig>>,
    url: Option<&RedisUrl>,
) -> io::Result<RespConn> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    tcp.set_nodelay(true)?;
    let stream: Box<dyn RedisStream> = match tls {
        None => Box::new(tcp),
        Some(config) => Box::new(
            tlswire_tokio::TlsConnector::new(config.clone())
                .connect(host, tcp)
                .await?,
        ),
    };
    let mut conn = RespConn::new(stream);
    if let Some(url) = url {
        if let Some(password) = &url.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &url.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            conn.command(&args).await?;
        }
        if url.db != 0 {
            conn.command(&[b"SELECT", url.db.to_string().as_bytes()])
                .await?;
        }
    }
    Ok(conn)
}

fn encode_op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Set { key, value } => encode(out, &[b"SET", key.as_bytes(), value.as_bytes()]),
        Op::HSet { key, field, value } => encode(
            out,
            &[b"HSET", key.as_bytes(), field.as_bytes(), value.as_bytes()],
        ),
    }
}

/// Commands per pipelined exchange: bounds what is in flight on one connection.
const PIPELINE_CHUNK: usize = 8192;

/// One Redis server; reconnects on the next write after a failure.
pub(crate) struct SingleRedis {
    url: RedisUrl,
    tls: Option<Arc<tlswire_core::rustls::ClientConfig>>,
    conn: Option<RespConn>,
}

impl SingleRedis {
    pub(crate) fn new(url: RedisUrl, tls: Option<Arc<tlswire_core::rustls::ClientConfig>>) -> Self {
        Self {
            url,
            tls,
            conn: None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        let scheme = if self.url.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}/{}", self.url.address(), self.url.db)
    }

    /// Writes every payload's ops; `Err` means Redis is unreachable and nothing can be assumed
    /// about this batch (it is written again later: SET and HSET are idempotent).
    pub(crate) async fn write(&mut self, payloads: &[Vec<Op>]) -> BatchResult {
        let result = self.write_inner(payloads).await;
        if result.is_err() {
            self.conn = None;
        }
        result.map_err(|e| format!("{}: {e}", self.describe()))
    }

    async fn write_inner(&mut self, payloads: &[Vec<Op>]) -> io::Result<Vec<PayloadResult>> {
        if self.conn.is_none() {
            let address = self.url.address();
            self.conn =
                Some(connect(&address, &self.url.host, self.tls.as_ref(), Some(&self.url)).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(io::Error::other("no connection"));
        };
        let mut results: Vec<PayloadResult> = vec![Ok(()); payloads.len()];
        // Which payload each command in the current chunk belongs to.
        let mut owners: Vec<usize> = Vec::with_capacity(PIPELINE_CHUNK);
        for (index, ops) in payloads.iter().enumerate() {
            for op in ops {
                encode_op(conn.commands(), op);
                owners.push(index);
            }
            if owners.len() >= PIPELINE_CHUNK {
                collect(conn.exchange(owners.len()).await?, &owners, &mut results);
                owners.clear();
            }
        }
        if !owners.is_empty() {
            collect(conn.exchange(owners.len()).await?, &owners, &mut results);
        }
        Ok(results)
    }
}

fn collect(replies: Vec<Reply>, owners: &[usize], results: &mut [PayloadResult]) {
    for (reply, &owner) in replies.iter().zip(owners) {
        if let (Some(e), Some(slot)) = (reply.error(), results.get_mut(owner)) {
            if slot.is_ok() {
                *slot = Err(e.to_owned());
            }
        }
    }
}

/// The CRC16 (XMODEM) Redis Cluster hashes keys with.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The cluster slot of a key, honouring `{hash tags}`.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let close = key[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &key[open + 1..open + 1 + close])
    });
    crc16(tagged.unwrap_or(key)) % 16384
}

const CLUSTER_ATTEMPTS: usize = 5;

/// A Redis Cluster: the slot map is read with `CLUSTER SLOTS` from any reachable node and
/// read again after a `MOVED`/`ASK` redirection or a failure.
pub(crate) struct ClusterRedis {
    seeds: Vec<String>,
    /// (first slot, last slot, node address), sorted.
    slots: Vec<(u16, u16, String)>,
    conns: HashMap<String, RespConn>,
}

impl ClusterRedis {
    pub(crate) fn new(seeds: Vec<String>) -> Self {
        Self {
            seeds,
            slots: Vec::new(),
            conns: HashMap::new(),
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!("Redis Cluster (seeds {})", self.seeds.join(","))
    }

    async fn refresh(&mut self) -> io::Result<()> {
        let mut candidates: Vec<String> = self.seeds.clone();
        candidates.extend(self.slots.iter().map(|(_, _, addr)| addr.clone()));
        let mut last_error = io::Error::other("no seed nodes");
        for address in candidates {
            let reply = match connect(&address, "", None, None).await {
                Ok(mut conn) => conn.command(&[b"CLUSTER", b"SLOTS"]).await,
                Err(e) => Err(e),
            };
            match reply.and_then(parse_slots) {
                Ok(slots) if !slots.is_empty() => {
                    self.slots = slots;
                    return Ok(());
                }
                Ok(_) => last_error = io::Error::other(format!("{address}: no slots assigned")),
                Err(e) => last_error = io::Error::new(e.kind(), format!("{address}: {e}")),
            }
        }
        Err(last_error)
    }

    fn node_for(&self, key: &str) -> Option<&str> {
        let slot = key_slot(key.as_bytes());
        self.slots
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, addr)| addr.as_str())
    }

    pub(crate) async fn write(&mut self, payloads: &[Vec<Op>]) -> BatchResult {
        let result = self.write_inner(payloads).await;
        if result.is_err() {
            self.conns.clear();
            self.slots.clear();
        }
        result.map_err(|e| format!("{}: {e}", self.describe()))
    }

    async fn write_inner(&mut self, payloads: &[Vec<Op>]) -> io::Result<Vec<PayloadResult>> {
        let mut results: Vec<PayloadResult> = vec![Ok(()); payloads.len()];
        // (payload index, op) still to write.
        let mut pending: Vec<(usize, &Op)> = payloads
            .iter()
            .enumerate()
            .flat_map(|(i, ops)| ops.iter().map(move |op| (i, op)))
            .collect();
        for attempt in 0..CLUSTER_ATTEMPTS {
            if self.slots.is_empty() || attempt > 0 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
                }
                self.refresh().await?;
            }
            let mut by_node: HashMap<String, Vec<(usize, &Op)>> = HashMap::new();
            for (index, op) in pending.drain(..) {
                let node = self
                    .node_for(op.key())
                    .ok_or_else(|| io::Error::other("slot not covered (cluster is down)"))?;
                by_node
                    .entry(node.to_owned())
                    .or_default()
                    .push((index, op));
            }
            for (node, ops) in by_node {
                if !self.conns.contains_key(&node) {
                    let conn = connect(&node, "", None, None).await?;
                    self.conns.insert(node.clone(), conn);
                }
                let Some(conn) = self.conns.get_mut(&node) else {
                    continue;
                };
                for chunk in ops.chunks(PIPELINE_CHUNK) {
                    for (_, op) in chunk {
                        encode_op(conn.commands(), op);
                    }
                    let replies = match conn.exchange(chunk.len()).await {
                        Ok(replies) => replies,
                        Err(e) => {
                            self.conns.remove(&node);
                            return Err(e);
                        }
                    };
                    for (reply, &(index, op)) in replies.iter().zip(chunk) {
                        match reply.error() {
                            None => {}
                            Some(e) if is_redirect(e) => pending.push((index, op)),
                            Some(e) => {
                                if let Some(slot) = results.get_mut(index) {
                                    *slot = Err(e.to_owned());
                                }
                            }
                        }
                    }
                }
            }
            if pending.is_empty() {
                return Ok(results);
            }
        }
        Err(io::Error::other(format!(
            "{} writes still redirected after {CLUSTER_ATTEMPTS} attempts",
            pending.len()
        )))
    }
}

fn is_redirect(error: &str) -> bool {
    ["MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"]
        .iter()
        .any(|prefix| error.starts_with(prefix))
}

fn parse_slots(reply: Reply) -> io::Result<Vec<(u16, u16, String)>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected CLUSTER SLOTS reply");
    let Reply::Array(Some(ranges)) = reply else {
        return Err(bad());
    };
    let mut slots = Vec::new();
    for range in ranges {
        let Reply::Array(Some(fields)) = range else {
            return Err(bad());
        };
        let (
            Some(Reply::Integer(first)),
            Some(Reply::Integer(last)),
            Some(Reply::Array(Some(master))),
        ) = (fields.first(), fields.get(1), fields.get(2))
        else {
            return Err(bad());
        };
        let (Some(Reply::Bulk(Some(ip))), Some(Reply::Integer(port))) =
            (master.first(), master.get(1))
        else {
            return Err(bad());
        };
        let ip = String::from_utf8_lossy(ip);
        let address = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let first = u16::try_from(*first).map_err(|_| bad())?;
        let last = u16::try_from(*last).map_err(|_| bad())?;
        slots.push((first, last, address));
    }
    slots.sort();
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let url = RedisUrl::parse("rediss://user:pw@example.com:7000/3").unwrap();
        assert_eq!(
            url,
            RedisUrl {
                tls: true,
                host: "example.com".into(),
                port: 7000,
                username: Some("user".into()),
                password: Some("pw".into()),
                db: 3
            }
        );
        let plain = RedisUrl::parse("redis://127.0.0.1").unwrap();
        assert_eq!((plain.port, plain.db, plain.tls), (6379, 0, false));
        assert!(RedisUrl::parse("redis://h:1/x")
            .unwrap_err()
            .contains("\"x\""));
        assert!(RedisUrl::parse("http://h").is_err());
    }

    #[test]
    fn key_slots_match_redis() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
    }
}
