//! The entry points of `tlswire-proxy` that the fuzz targets call: the YAML configuration, the
//! PROXY protocol header encoder and the DNS stub client's response parser.
//!
//! Shared like `core_entry.rs`: `crates/proxy/tests/hostile_fuzz_corpus_replay.rs` includes it
//! with `#[path]` and replays the corpora through it. It may only use what the proxy crate and
//! its tests have: `tlswire-proxy` and `tlswire-core`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use tlswire_core::rustls::pki_types::CertificateDer;
use tlswire_core::rustls::{CipherSuite, ProtocolVersion};
use tlswire_core::PeerInfo;
use tlswire_proxy::config::ProxyProtocolVersion;
use tlswire_proxy::discovery::dns_wire::{
    encode_query, normalize, parse_response, Record, RecordData, Response, WireError, TYPE_A,
    TYPE_AAAA, TYPE_CNAME, TYPE_SRV,
};
use tlswire_proxy::proxy_protocol::header;
use tlswire_proxy::Config;

/// Target `proxy_config`: arbitrary text as a proxy configuration file. Relative paths resolve
/// into a directory that does not exist, so nothing outside the input is read.
pub fn proxy_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Path::new("fuzz-input.yml");
    if let Err(e) = Config::from_yaml(text, source, Path::new("/nonexistent/tlswire-fuzz")) {
        let message = e.to_string();
        assert!(
            message.contains("fuzz-input.yml"),
            "error names no file: {message}"
        );
    }
}

/// Reads fixed-size fields from the input, zeros once it runs out.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }

    fn byte(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }

    fn vec(&mut self) -> Vec<u8> {
        let len = usize::from(self.byte()).min(self.0.len());
        let (value, rest) = self.0.split_at(len);
        self.0 = rest;
        value.to_vec()
    }

    fn addr(&mut self, v6: bool) -> SocketAddr {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.bytes::<16>()))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.bytes::<4>()))
        };
        SocketAddr::new(ip, u16::from_be_bytes(self.bytes::<2>()))
    }
}

/// What a decoded PROXY v2 header says.
#[derive(Debug, Default)]
struct V2 {
    family: u8,
    addrs: Option<(SocketAddr, SocketAddr)>,
    tlvs: Vec<(u8, Vec<u8>)>,
}

/// An independent PROXY v2 decoder (HAProxy's proxy-protocol.txt, section 2.2).
fn decode_v2(h: &[u8]) -> V2 {
    assert!(h.len() >= 16, "v2 header shorter than 16 bytes");
    assert_eq!(&h[..12], b"\r\n\r\n\0\r\nQUIT\n", "v2 signature");
    assert_eq!(h[12], 0x21, "version 2, command PROXY");
    let declared = usize::from(u16::from_be_bytes([h[14], h[15]]));
    let body = &h[16..];
    assert_eq!(
        declared,
        body.len(),
        "declared length differs from the body"
    );
    let (addrs, mut rest) = match h[13] {
        0x11 => {
            let ip = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            let a = (
                SocketAddr::new(ip(&body[0..4]), port(&body[8..10])),
                SocketAddr::new(ip(&body[4..8]), port(&body[10..12])),
            );
            (Some(a), &body[12..])
        }
        0x21 => {
            let ip = |b: &[u8]| {
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            let a = (
                SocketAddr::new(ip(&body[0..16]), port(&body[32..34])),
                SocketAddr::new(ip(&body[16..32]), port(&body[34..36])),
            );
            (Some(a), &body[36..])
        }
        0x00 => (None, body),
        other => panic!("unexpected family byte {other:#x}"),
    };
    let mut tlvs = Vec::new();
    while !rest.is_empty() {
        assert!(rest.len() >= 3, "truncated TLV header");
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        assert!(rest.len() >= 3 + len, "TLV overruns the header");
        tlvs.push((rest[0], rest[3..3 + len].to_vec()));
        rest = &rest[3 + len..];
    }
    V2 {
        family: h[13],
        addrs,
        tlvs,
    }
}

/// Target `proxy_protocol`: PROXY v1 and v2 headers built from arbitrary addresses and TLS
/// details, decoded again by an independent decoder and compared with what went in.
///
/// Input: `[flags, client address, local address, ALPN, SNI, suite, version]`; flag bits:
/// 0 client IPv6, 1 local IPv6, 2 TLS, 3 ALPN, 4 SNI, 5 client certificate.
pub fn proxy_protocol(data: &[u8]) {
    let mut f = Fields(data);
    let flags = f.byte();
    let client = f.addr(flags & 1 != 0);
    let local = f.addr(flags & 2 != 0);
    let alpn = f.vec();
    let sni = String::from_utf8_lossy(&f.vec()).into_owned();
    let suite = CipherSuite::from(u16::from_be_bytes(f.bytes::<2>()));
    let version = ProtocolVersion::from(u16::from_be_bytes(f.bytes::<2>()));
    let peer = PeerInfo {
        alpn: (flags & 8 != 0).then_some(alpn),
        sni: (flags & 16 != 0).then_some(sni),
        cipher_suite: Some(suite),
        version: Some(version),
        certificates: if flags & 32 != 0 {
            vec![CertificateDer::from(vec![0x30, 0x00])]
        } else {
            Vec::new()
        },
        ..PeerInfo::default()
    };
    let tls = (flags & 4 != 0).then_some(&peer);
    let same_family = client.is_ipv4() == local.is_ipv4();

    let v1 = header(ProxyProtocolVersion::V1, client, local, tls);
    assert!(
        v1.len() <= 107,
        "v1 header longer than the spec's 107 bytes"
    );
    let text = std::str::from_utf8(&v1).expect("v1 header is text");
    let line = text.strip_suffix("\r\n").expect("v1 header ends in CRLF");
    let words: Vec<&str> = line.split(' ').collect();
    if same_family {
        let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
        assert_eq!(words.len(), 6, "v1 fields: {line}");
        assert_eq!((words[0], words[1]), ("PROXY", family));
        assert_eq!(words[2].parse::<IpAddr>().ok(), Some(client.ip()));
        assert_eq!(words[3].parse::<IpAddr>().ok(), Some(local.ip()));
        assert_eq!(words[4].parse::<u16>().ok(), Some(client.port()));
        assert_eq!(words[5].parse::<u16>().ok(), Some(local.port()));
    } else {
        assert_eq!(line, "PROXY UNKNOWN");
    }

    let decoded = decode_v2(&header(ProxyProtocolVersion::V2, client, local, tls));
    if same_family {
        assert_eq!(decoded.family, if client.is_ipv4() { 0x11 } else { 0x21 });
        assert_eq!(decoded.addrs, Some((client, local)));
    } else {
        assert_eq!(decoded.family, 0x00);
    }
    let tlv = |kind: u8| {
        decoded
            .tlvs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.clone())
    };
    match tls {
        None => assert!(decoded.tlvs.is_empty(), "TLVs without TLS"),
        Some(peer) => {
            assert_eq!(tlv(0x01), peer.alpn, "ALPN TLV");
            assert_eq!(
                tlv(0x02),
                peer.sni.clone().map(String::into_bytes),
                "authority TLV"
            );
            let ssl = tlv(0x20).expect("SSL TLV");
            assert!(ssl.len() >= 5, "SSL TLV too short");
            assert_eq!(ssl[0] & 1, 1, "PP2_CLIENT_SSL");
            assert_eq!(
                ssl[0] & 2 != 0,
                !peer.certificates.is_empty(),
                "PP2_CLIENT_CERT_CONN"
            );
            let mut sub = &ssl[5..];
            while !sub.is_empty() {
                assert!(sub.len() >= 3, "truncated SSL sub-TLV");
                let len = usize::from(u16::from_be_bytes([sub[1], sub[2]]));
                assert!(sub.len() >= 3 + len, "SSL sub-TLV overruns the SSL TLV");
                sub = &sub[3 + len..];
            }
        }
    }
}

/// Target `dns_response`: the DNS stub client's response parser, two ways.
///
/// 1. The input itself as a response, answered to the id in its first two bytes: it parses or
///    is refused with a `WireError`, never a panic; a parsed response has exactly the records
///    its header counts, every address and SRV field in it is bytes of the message, and names
///    are in the normalized form. The same bytes under another id are a `Mismatch`.
/// 2. A response built from the input with the crate's own `encode_query` for the question,
///    A/AAAA/SRV/CNAME records with and without compression pointers to the question name,
///    in the answer and additional sections, NXDOMAIN or not: it must parse back to exactly
///    what was written; then, with TC set and up to 15 bytes cut off the end, to an empty
///    truncated response.
pub fn dns_response(data: &[u8]) {
    dns_parse_arbitrary(data);
    dns_round_trip(data);
}

fn dns_parse_arbitrary(msg: &[u8]) {
    let id = match msg {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    };
    let response = match parse_response(msg, id) {
        Ok(response) => response,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "empty error message");
            return;
        }
    };
    assert!(msg.len() >= 12, "a response shorter than its header parsed");
    assert_eq!(
        parse_response(msg, id.wrapping_add(1)),
        Err(WireError::Mismatch),
        "a response parsed under another id"
    );
    let count = |at: usize| usize::from(u16::from_be_bytes([msg[at], msg[at + 1]]));
    if response.truncated {
        assert!(
            response.answers.is_empty() && response.additional.is_empty(),
            "a truncated response returned records"
        );
        return;
    }
    assert_eq!(response.answers.len(), count(6), "answer count");
    assert_eq!(response.additional.len(), count(10), "additional count");
    let contains = |bytes: &[u8]| msg.windows(bytes.len()).any(|w| w == bytes);
    // The byte search is quadratic; a few dozen records show it as well as all of them.
    for record in response.answers.iter().chain(&response.additional).take(32) {
        assert_normalized(&record.name);
        match &record.data {
            RecordData::Address(IpAddr::V4(ip)) => assert!(contains(&ip.octets()), "A {ip}"),
            RecordData::Address(IpAddr::V6(ip)) => assert!(contains(&ip.octets()), "AAAA {ip}"),
            RecordData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                let mut fixed = priority.to_be_bytes().to_vec();
                fixed.extend_from_slice(&weight.to_be_bytes());
                fixed.extend_from_slice(&port.to_be_bytes());
                assert!(contains(&fixed), "SRV fields not in the message");
                assert_normalized(target);
            }
            RecordData::Cname(target) => assert_normalized(target),
            RecordData::Other => {}
        }
    }
    if let Some(first) = response.answers.first() {
        let all: Vec<IpAddr> = response
            .answers
            .iter()
            .filter_map(|r| match r.data {
                RecordData::Address(ip) => Some(ip),
                _ => None,
            })
            .collect();
        for ip in response.addresses_of(&first.name) {
            assert!(all.contains(&ip), "addresses_of invented {ip}");
        }
    }
}

/// A parsed name: lower case, no trailing dot, at most 255 wire bytes (each escaped as 4).
fn assert_normalized(name: &str) {
    assert_eq!(normalize(name), name, "name not normalized: {name:?}");
    assert!(name.len() <= 4 * 255, "name of {} characters", name.len());
}

/// Hostname characters, upper case included: the parser must return them in lower case.
const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

impl Fields<'_> {
    /// Up to `max` labels of 1..=20 hostname characters (short enough that a name plus a
    /// pointer to the question stays under 255 wire bytes).
    fn labels(&mut self, max: u8) -> Vec<String> {
        let count = self.byte() % (max + 1);
        (0..count)
            .map(|_| {
                let raw = self.vec();
                let mut label: String = raw
                    .iter()
                    .take(20)
                    .map(|b| char::from(NAME_CHARS[usize::from(*b) % NAME_CHARS.len()]))
                    .collect();
                if label.is_empty() {
                    label.push('x');
                }
                label
            })
            .collect()
    }
}

/// Writes `labels` as uncompressed labels, then either the root or a pointer to the question
/// name at offset 12; returns the name the parser should read.
fn put_name(out: &mut Vec<u8>, labels: &[String], to_question: bool, question: &str) -> String {
    for label in labels {
        out.push(u8::try_from(label.len()).expect("label of at most 20 bytes"));
        out.extend_from_slice(label.as_bytes());
    }
    let mut name = labels.join(".");
    if to_question {
        out.extend_from_slice(&[0xC0, 12]);
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(question);
    } else {
        out.push(0);
    }
    normalize(&name)
}

fn dns_round_trip(data: &[u8]) {
    let mut f = Fields(data);
    let id = u16::from_be_bytes(f.bytes::<2>());
    let flags = f.byte();
    let mut question_labels = f.labels(3);
    if question_labels.is_empty() {
        question_labels.push("svc".into());
    }
    let question = question_labels.join(".");
    let qtype = [TYPE_A, TYPE_AAAA, TYPE_SRV][usize::from(flags % 3)];
    let mut msg = encode_query(id, &question, qtype).expect("a valid name encodes");
    msg[2] |= 0x80; // QR
    let nxdomain = flags & 4 != 0;
    if nxdomain {
        msg[3] |= 3;
    }
    let question = normalize(&question);
    let mut expected = Response {
        nxdomain,
        ..Response::default()
    };
    let mut sections = [Vec::new(), Vec::new()];
    let records = f.byte() % 9;
    for _ in 0..records {
        let shape = f.byte();
        let mut wire = Vec::new();
        let owner_labels = f.labels(2);
        let owner = put_name(&mut wire, &owner_labels, shape & 8 != 0, &question);
        let other_class = shape & 64 != 0;
        let rtype = [TYPE_A, TYPE_AAAA, TYPE_SRV, TYPE_CNAME][usize::from(shape & 3)];
        wire.extend_from_slice(&rtype.to_be_bytes());
        wire.extend_from_slice(&(if other_class { 3u16 } else { 1 }).to_be_bytes());
        wire.extend_from_slice(&f.bytes::<4>()); // TTL
        let mut rdata = Vec::new();
        let data = match rtype {
            TYPE_A => {
                let octets = f.bytes::<4>();
                rdata.extend_from_slice(&octets);
                RecordData::Address(IpAddr::V4(Ipv4Addr::from(octets)))
            }
            TYPE_AAAA => {
                let octets = f.bytes::<16>();
                rdata.extend_from_slice(&octets);
                RecordData::Address(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            TYPE_SRV => {
                let fixed = f.bytes::<6>();
                rdata.extend_from_slice(&fixed);
                let labels = f.labels(3);
                let target = put_name(&mut rdata, &labels, shape & 16 != 0, &question);
                RecordData::Srv {
                    priority: u16::from_be_bytes([fixed[0], fixed[1]]),
                    weight: u16::from_be_bytes([fixed[2], fixed[3]]),
                    port: u16::from_be_bytes([fixed[4], fixed[5]]),
                    target,
                }
            }
            _ => {
                let labels = f.labels(3);
                RecordData::Cname(put_name(&mut rdata, &labels, shape & 16 != 0, &question))
            }
        };
        let rdlength = u16::try_from(rdata.len()).expect("rdata of at most 200 bytes");
        wire.extend_from_slice(&rdlength.to_be_bytes());
        wire.extend_from_slice(&rdata);
        let record = Record {
            name: owner,
            data: if other_class { RecordData::Other } else { data },
        };
        // Bit 5 puts the record in the additional section, written after the answers.
        let additional = shape & 32 != 0;
        sections[usize::from(additional)].extend_from_slice(&wire);
        if additional {
            expected.additional.push(record);
        } else {
            expected.answers.push(record);
        }
    }
    let count = |n: usize| u16::try_from(n).expect("at most 8 records").to_be_bytes();
    msg[6..8].copy_from_slice(&count(expected.answers.len()));
    msg[10..12].copy_from_slice(&count(expected.additional.len()));
    for section in &sections {
        msg.extend_from_slice(section);
    }
    assert_eq!(
        parse_response(&msg, id),
        Ok(expected.clone()),
        "a well-formed response did not parse back"
    );
    let asked: Vec<IpAddr> = expected
        .answers
        .iter()
        .filter(|r| r.name == question)
        .filter_map(|r| match r.data {
            RecordData::Address(ip) => Some(ip),
            _ => None,
        })
        .collect();
    let found = expected.addresses_of(&question);
    for ip in asked {
        assert!(found.contains(&ip), "addresses_of missed {ip}");
    }
    // With the TC bit the sections may be cut anywhere: the parser returns no records.
    msg[2] |= 0x02;
    msg.truncate(msg.len() - usize::from(flags >> 4).min(msg.len() - 12));
    assert_eq!(
        parse_response(&msg, id),
        Ok(Response {
            nxdomain,
            truncated: true,
            ..Response::default()
        }),
        "a truncated response"
    );
}
