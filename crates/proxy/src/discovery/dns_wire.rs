//! A minimal DNS stub client: one question (A, AAAA or SRV) sent to a nameserver over UDP,
//! retried over TCP when the answer comes back truncated (RFC 1035, RFC 7766).
//!
//! Responses are parsed with bounds checks on every read: any byte string yields a parsed
//! [`Response`] or a [`WireError`], never a panic. Each name compression pointer must point
//! before the labels that led to it, so a pointer loop cannot make parsing run forever.
//!
//! The parser and the query encoder are public so the fuzz target `dns_response` (`fuzz/`) and
//! its corpus replay can call them; the resolver that uses them is [`super::dns`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Record type A (RFC 1035).
pub const TYPE_A: u16 = 1;
/// Record type CNAME (RFC 1035).
pub const TYPE_CNAME: u16 = 5;
/// Record type AAAA (RFC 3596).
pub const TYPE_AAAA: u16 = 28;
/// Record type SRV (RFC 2782).
pub const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
const HEADER_LEN: usize = 12;
/// Largest UDP answer read; without EDNS a server sends at most 512 bytes and sets TC beyond.
const UDP_BUFFER: usize = 4096;
/// How long one nameserver gets to answer one question (UDP, or TCP after truncation).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a name may be on the wire (RFC 1035 §3.1).
const MAX_NAME_LEN: usize = 255;

/// Why a question got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The name cannot be put in a query (empty label, label over 63 bytes, name over 255).
    BadName(String),
    /// The response does not parse (truncated, bad pointer, counts past the end, ...).
    Malformed(&'static str),
    /// The response is not an answer to our question (wrong id, not a response).
    Mismatch,
    /// The server answered with this RCODE other than NOERROR/NXDOMAIN (SERVFAIL, REFUSED...).
    ServerError(u8),
    /// No answer in time.
    Timeout,
    /// A socket error.
    Io(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadName(name) => write!(f, "{name:?} is not a valid DNS name"),
            Self::Malformed(why) => write!(f, "malformed DNS response: {why}"),
            Self::Mismatch => f.write_str("the response does not answer the question sent"),
            Self::ServerError(2) => f.write_str("server failure (SERVFAIL)"),
            Self::ServerError(5) => f.write_str("query refused (REFUSED)"),
            Self::ServerError(code) => write!(f, "server answered with RCODE {code}"),
            Self::Timeout => write!(f, "no answer within {}s", QUERY_TIMEOUT.as_secs()),
            Self::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// The data of one resource record, for the types discovery uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// An IPv4 or IPv6 address (A or AAAA).
    Address(IpAddr),
    /// An alias to this name.
    Cname(String),
    /// A service location.
    Srv {
        /// Lower is preferred.
        priority: u16,
        /// Relative share within a priority.
        weight: u16,
        /// Where the service listens on `target`.
        port: u16,
        /// The host; `.` (empty here) means the service is not offered.
        target: String,
    },
    /// Any other type: ignored.
    Other,
}

/// One resource record: owner name (lower case, no trailing dot) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name.
    pub name: String,
    /// What the record says.
    pub data: RecordData,
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// RCODE 3: the name does not exist.
    pub nxdomain: bool,
    /// The TC bit: the answer did not fit in the UDP datagram.
    pub truncated: bool,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The additional section (often the addresses of SRV targets).
    pub additional: Vec<Record>,
}

impl Response {
    /// The addresses for `name` in the answer section, following CNAMEs in it.
    pub fn addresses_of(&self, name: &str) -> Vec<IpAddr> {
        let mut aliases = vec![normalize(name)];
        // Each pass adds at least one alias or stops; the answer count bounds the passes.
        for _ in 0..=self.answers.len() {
            let before = aliases.len();
            for record in &self.answers {
                if let RecordData::Cname(target) = &record.data {
                    if aliases.contains(&record.name) && !aliases.contains(target) {
                        aliases.push(target.clone());
                    }
                }
            }
            if aliases.len() == before {
                break;
            }
        }
        self.answers
            .iter()
            .filter(|r| aliases.contains(&r.name))
            .filter_map(|r| match r.data {
                RecordData::Address(ip) => Some(ip),
                _ => None,
            })
            .collect()
    }
}

/// Lower case, without a trailing dot: the form names are compared in.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Encodes a query for (`name`, `qtype`, IN) with recursion desired.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00]); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1
    let bad = || WireError::BadName(name.to_owned());
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(bad());
    }
    let start = out.len();
    for label in trimmed.split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|n| (1..=63).contains(n))
            .ok_or_else(bad)?;
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    if out.len() - start > MAX_NAME_LEN {
        return Err(bad());
    }
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// Reads a big-endian u16 at `pos`.
fn u16_at(msg: &[u8], pos: usize) -> Result<u16, WireError> {
    match msg.get(pos..pos.saturating_add(2)) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(WireError::Malformed("ends inside a field")),
    }
}

/// Reads the (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], pos: usize) -> Result<(String, usize), WireError> {
    let mut name = String::new();
    let mut wire_len = 1; // the root label
    let mut cursor = pos;
    // Where the labels being read began; each pointer must point before it, so the
    // positions visited strictly decrease from jump to jump and loops are impossible.
    let mut segment_start = pos;
    let mut end = None;
    loop {
        let len = *msg
            .get(cursor)
            .ok_or(WireError::Malformed("ends inside a name"))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                let after = end.unwrap_or(cursor + 1);
                return Ok((name, after));
            }
            0x00 => {
                let label = msg
                    .get(cursor + 1..cursor + 1 + usize::from(len))
                    .ok_or(WireError::Malformed("ends inside a label"))?;
                wire_len += 1 + label.len();
                if wire_len > MAX_NAME_LEN {
                    return Err(WireError::Malformed("name longer than 255 bytes"));
                }
                if !name.is_empty() {
                    name.push('.');
                }
                push_label(&mut name, label);
                cursor += 1 + label.len();
            }
            0xC0 => {
                let target = usize::from(u16_at(msg, cursor)? & 0x3FFF);
                if target >= segment_start {
                    return Err(WireError::Malformed(
                        "compression pointer does not point back",
                    ));
                }
                end.get_or_insert(cursor + 2);
                cursor = target;
                segment_start = target;
            }
            _ => return Err(WireError::Malformed("unknown label type")),
        }
    }
}

/// Appends a label in lower case, escaping bytes that are not hostname characters as `\DDD`.
fn push_label(name: &mut String, label: &[u8]) {
    for &byte in label {
        match byte {
            b'A'..=b'Z' => name.push(char::from(byte.to_ascii_lowercase())),
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'*' => name.push(char::from(byte)),
            other => name.push_str(&format!("\\{other:03}")),
        }
    }
}

/// Reads a name that makes up the last `len` bytes of a record's data, starting at `pos`: it
/// must end exactly where the data ends (pointers may still point back into the message), so
/// a record cannot borrow the bytes of the records after it.
fn read_name_in_rdata(msg: &[u8], pos: usize, len: usize) -> Result<String, WireError> {
    let end = pos + len;
    let within = msg
        .get(..end)
        .ok_or(WireError::Malformed("record data past the end"))?;
    match read_name(within, pos)? {
        (name, after) if after == end => Ok(name),
        _ => Err(WireError::Malformed("name does not fill its record's data")),
    }
}

/// Parses the records of one section starting at `pos`.
fn read_records(msg: &[u8], mut pos: usize, count: u16) -> Result<(Vec<Record>, usize), WireError> {
    let mut records = Vec::new();
    for _ in 0..count {
        let (name, after) = read_name(msg, pos)?;
        let rtype = u16_at(msg, after)?;
        let class = u16_at(msg, after + 2)?;
        let rdlength = usize::from(u16_at(msg, after + 8)?);
        let rdata_start = after + 10;
        let rdata = msg
            .get(rdata_start..rdata_start + rdlength)
            .ok_or(WireError::Malformed("record data past the end"))?;
        let data = match (rtype, class, rdata.len()) {
            (_, c, _) if c != CLASS_IN => RecordData::Other,
            (TYPE_A, _, 4) => {
                let octets: [u8; 4] = rdata.try_into().map_err(|_| WireError::Malformed("A"))?;
                RecordData::Address(IpAddr::V4(Ipv4Addr::from(octets)))
            }
            (TYPE_AAAA, _, 16) => {
                let octets: [u8; 16] =
                    rdata.try_into().map_err(|_| WireError::Malformed("AAAA"))?;
                RecordData::Address(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            (TYPE_A | TYPE_AAAA, _, _) => {
                return Err(WireError::Malformed("address record of the wrong length"))
            }
            (TYPE_CNAME, _, _) => {
                RecordData::Cname(read_name_in_rdata(msg, rdata_start, rdlength)?)
            }
            (TYPE_SRV, _, len) if len >= 7 => RecordData::Srv {
                priority: u16_at(rdata, 0)?,
                weight: u16_at(rdata, 2)?,
                port: u16_at(rdata, 4)?,
                target: read_name_in_rdata(msg, rdata_start + 6, rdlength - 6)?,
            },
            (TYPE_SRV, _, _) => return Err(WireError::Malformed("SRV record too short")),
            _ => RecordData::Other,
        };
        records.push(Record { name, data });
        pos = rdata_start + rdlength;
    }
    Ok((records, pos))
}

/// Parses a response to the query with `id`. NOERROR and NXDOMAIN parse; other RCODEs are
/// errors.
pub fn parse_response(msg: &[u8], id: u16) -> Result<Response, WireError> {
    let header = msg
        .get(..HEADER_LEN)
        .ok_or(WireError::Malformed("shorter than a header"))?;
    let (flags_hi, flags_lo) = (header[2], header[3]);
    if u16_at(msg, 0)? != id || flags_hi & 0x80 == 0 {
        return Err(WireError::Mismatch);
    }
    let truncated = flags_hi & 0x02 != 0;
    let rcode = flags_lo & 0x0F;
    let nxdomain = match rcode {
        0 => false,
        3 => true,
        other => return Err(WireError::ServerError(other)),
    };
    if truncated {
        // The sections may be cut anywhere; the caller retries over TCP.
        return Ok(Response {
            truncated,
            nxdomain,
            ..Response::default()
        });
    }
    let (qdcount, ancount, nscount, arcount) = (
        u16_at(msg, 4)?,
        u16_at(msg, 6)?,
        u16_at(msg, 8)?,
        u16_at(msg, 10)?,
    );
    let mut pos = HEADER_LEN;
    for _ in 0..qdcount {
        pos = read_name(msg, pos)?.1 + 4;
        if pos > msg.len() {
            return Err(WireError::Malformed("ends inside the question"));
        }
    }
    let (answers, pos) = read_records(msg, pos, ancount)?;
    let (_, pos) = read_records(msg, pos, nscount)?;
    let (additional, _) = read_records(msg, pos, arcount)?;
    Ok(Response {
        nxdomain,
        truncated,
        answers,
        additional,
    })
}

/// Asks `server` the question (`name`, `qtype`): over UDP, then over TCP if truncated.
pub(crate) async fn query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
) -> Result<Response, WireError> {
    let id = fastrand::u16(..);
    let message = encode_query(id, name, qtype)?;
    let response = tokio::time::timeout(QUERY_TIMEOUT, query_udp(server, &message, id))
        .await
        .map_err(|_| WireError::Timeout)??;
    if !response.truncated {
        return Ok(response);
    }
    tokio::time::timeout(QUERY_TIMEOUT, query_tcp(server, &message, id))
        .await
        .map_err(|_| WireError::Timeout)?
}

async fn query_udp(server: SocketAddr, message: &[u8], id: u16) -> Result<Response, WireError> {
    let io = |e: std::io::Error| WireError::Io(e.to_string());
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    // A connected socket only receives datagrams from the server.
    socket.connect(server).await.map_err(io)?;
    socket.send(message).await.map_err(io)?;
    let mut buf = vec![0u8; UDP_BUFFER];
    // A stray or forged datagram with another id is skipped; the caller's timeout bounds this.
    loop {
        let n = socket.recv(&mut buf).await.map_err(io)?;
        match parse_response(buf.get(..n).unwrap_or_default(), id) {
            Err(WireError::Mismatch) => continue,
            other => return other,
        }
    }
}

async fn query_tcp(server: SocketAddr, message: &[u8], id: u16) -> Result<Response, WireError> {
    let io = |e: std::io::Error| WireError::Io(e.to_string());
    let mut stream = TcpStream::connect(server).await.map_err(io)?;
    let len = u16::try_from(message.len()).map_err(|_| WireError::BadName("too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed).await.map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(io)?;
    parse_response(&buf, id)
}

#[cfg(test)]
#[path = "dns_wire_tests.rs"]
mod tests;
