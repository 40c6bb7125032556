//! PROXY protocol headers (HAProxy's spec): the text v1 and the binary v2 with TLS details as
//! TLVs, sent upstream before any other byte so the backend learns the real client.

use std::net::SocketAddr;

use tlswire_core::PeerInfo;

use crate::config::ProxyProtocolVersion;

const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const PP2_TYPE_ALPN: u8 = 0x01;
const PP2_TYPE_AUTHORITY: u8 = 0x02;
const PP2_TYPE_SSL: u8 = 0x20;
const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
const PP2_CLIENT_SSL: u8 = 0x01;
const PP2_CLIENT_CERT_CONN: u8 = 0x02;

/// The header for a connection from `client` to `local`; `tls` is what was negotiated with
/// the client, if it spoke TLS.
pub fn header(
    version: ProxyProtocolVersion,
    client: SocketAddr,
    local: SocketAddr,
    tls: Option<&PeerInfo>,
) -> Vec<u8> {
    match version {
        ProxyProtocolVersion::V1 => v1(client, local),
        ProxyProtocolVersion::V2 => v2(client, local, tls),
    }
}

fn v1(client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    let family = match (client, local) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => "TCP4",
        (SocketAddr::V6(_), SocketAddr::V6(_)) => "TCP6",
        _ => return b"PROXY UNKNOWN\r\n".to_vec(),
    };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        client.ip(),
        local.ip(),
        client.port(),
        local.port()
    )
    .into_bytes()
}

fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&value[..usize::from(len)]);
}

fn v2(client: SocketAddr, local: SocketAddr, tls: Option<&PeerInfo>) -> Vec<u8> {
    let mut body = Vec::new();
    let family = match (client, local) {
        (SocketAddr::V4(c), SocketAddr::V4(l)) => {
            body.extend_from_slice(&c.ip().octets());
            body.extend_from_slice(&l.ip().octets());
            body.extend_from_slice(&c.port().to_be_bytes());
            body.extend_from_slice(&l.port().to_be_bytes());
            0x11
        }
        (SocketAddr::V6(c), SocketAddr::V6(l)) => {
            body.extend_from_slice(&c.ip().octets());
            body.extend_from_slice(&l.ip().octets());
            body.extend_from_slice(&c.port().to_be_bytes());
            body.extend_from_slice(&l.port().to_be_bytes());
            0x21
        }
        _ => 0x00,
    };
    if let Some(peer) = tls {
        if let Some(alpn) = &peer.alpn {
            tlv(&mut body, PP2_TYPE_ALPN, alpn);
        }
        if let Some(sni) = &peer.sni {
            tlv(&mut body, PP2_TYPE_AUTHORITY, sni.as_bytes());
        }
        let mut ssl = Vec::new();
        let mut client_flags = PP2_CLIENT_SSL;
        if !peer.certificates.is_empty() {
            client_flags |= PP2_CLIENT_CERT_CONN;
        }
        ssl.push(client_flags);
        // verify = 0: the certificate, if any, was verified.
        ssl.extend_from_slice(&0u32.to_be_bytes());
        if let Some(version) = peer.version {
            let name = match version {
                tlswire_core::rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                tlswire_core::rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                other => format!("{other:?}"),
            };
            tlv(&mut ssl, PP2_SUBTYPE_SSL_VERSION, name.as_bytes());
        }
        if let Some(suite) = peer.cipher_suite {
            tlv(
                &mut ssl,
                PP2_SUBTYPE_SSL_CIPHER,
                format!("{suite:?}").as_bytes(),
            );
        }
        tlv(&mut body, PP2_TYPE_SSL, &ssl);
    }
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&V2_SIGNATURE);
    // Version 2, command PROXY.
    out.push(0x21);
    out.push(family);
    out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_text() {
        let h = header(
            ProxyProtocolVersion::V1,
            "192.0.2.1:5000".parse().unwrap(),
            "127.0.0.1:443".parse().unwrap(),
            None,
        );
        assert_eq!(h, b"PROXY TCP4 192.0.2.1 127.0.0.1 5000 443\r\n");
    }

    #[test]
    fn v2_with_tls_tlvs() {
        let peer = PeerInfo {
            sni: Some("api.example.test".into()),
            alpn: Some(b"h2".to_vec()),
            version: Some(tlswire_core::rustls::ProtocolVersion::TLSv1_3),
            ..PeerInfo::default()
        };
        let h = header(
            ProxyProtocolVersion::V2,
            "[2001:db8::1]:5000".parse().unwrap(),
            "[::1]:443".parse().unwrap(),
            Some(&peer),
        );
        assert_eq!(&h[..12], &V2_SIGNATURE);
        assert_eq!(h[12], 0x21);
        assert_eq!(h[13], 0x21);
        let len = usize::from(u16::from_be_bytes([h[14], h[15]]));
        assert_eq!(h.len(), 16 + len);
        let tlvs = &h[16 + 36..];
        assert_eq!(&tlvs[..5], &[PP2_TYPE_ALPN, 0, 2, b'h', b'2']);
        assert_eq!(tlvs[5], PP2_TYPE_AUTHORITY);
        let ssl_at = 5 + 3 + "api.example.test".len();
        assert_eq!(tlvs[ssl_at], PP2_TYPE_SSL);
        assert_eq!(tlvs[ssl_at + 3], PP2_CLIENT_SSL);
        assert!(tlvs.windows(7).any(|w| w == b"TLSv1.3"));
    }
}
