//! The entry points of `tlswire-proxy` that the fuzz targets call: the YAML configuration and
//! the PROXY protocol header encoder.
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
