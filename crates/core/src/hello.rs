//! Reading a TLS ClientHello from the first bytes of a connection, before any session exists.
//!
//! Only what the accept path needs is decoded (server name, ALPN offers, offered versions); the
//! bytes themselves are later handed unchanged to rustls, which checks everything else.

use std::fmt;

/// A TLS record carrying a handshake message starts with this content type.
pub(crate) const CONTENT_TYPE_HANDSHAKE: u8 = 0x16;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const RECORD_HEADER_LEN: usize = 5;
/// TLS caps a record's plaintext at 2^14 bytes; a ClientHello record is never encrypted.
const MAX_PLAINTEXT_RECORD: usize = 1 << 14;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// What a client offered in its ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The host name from the `server_name` extension (SNI), lower-cased, if the client sent one.
    pub server_name: Option<String>,
    /// ALPN protocols offered, in the client's order of preference.
    pub alpn: Vec<Vec<u8>>,
    /// Whether the client offered TLS 1.3 (in `supported_versions`).
    pub offers_tls13: bool,
}

/// Why the first bytes of a connection are not a usable ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloError {
    /// A record that should carry the ClientHello has another content type.
    NotHandshake,
    /// The first handshake message is not a ClientHello.
    NotClientHello,
    /// A record header announces a length TLS does not allow.
    BadRecordLength,
    /// The ClientHello is larger than the configured limit.
    TooLarge,
    /// A length field inside the ClientHello runs past its end.
    Truncated(&'static str),
    /// The `server_name` extension holds a name that is not valid ASCII or is empty.
    BadServerName,
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotHandshake => f.write_str("first TLS record is not a handshake record"),
            Self::NotClientHello => f.write_str("first handshake message is not a ClientHello"),
            Self::BadRecordLength => f.write_str("TLS record length out of range"),
            Self::TooLarge => f.write_str("ClientHello exceeds the size limit"),
            Self::Truncated(field) => write!(f, "ClientHello field {field} is truncated"),
            Self::BadServerName => f.write_str("server_name extension holds an invalid name"),
        }
    }
}

impl std::error::Error for HelloError {}

/// Reassembles the ClientHello handshake message from records, however the bytes are split.
///
/// `buffered` holds every byte seen; the reader only looks at it, so the caller can hand the
/// exact same bytes to the session afterwards.
#[cfg(test)]
pub(crate) fn read_client_hello(
    buffered: &[u8],
    max_size: usize,
) -> Result<Option<ClientHello>, HelloError> {
    HelloReader::default().read(buffered, max_size)
}

/// Reads a ClientHello from a growing buffer, taking each record apart only once: a client
/// that trickles its hello in one-byte pieces costs linear time, not quadratic.
#[derive(Debug, Default)]
pub(crate) struct HelloReader {
    /// How many bytes of the buffer have been taken apart into whole records.
    records_end: usize,
    /// The handshake message reassembled from those records so far.
    message: Vec<u8>,
}

impl HelloReader {
    /// Continues reading `buffered`, which must begin with the bytes seen by earlier calls.
    /// `Ok(None)` means more bytes are needed.
    pub(crate) fn read(
        &mut self,
        buffered: &[u8],
        max_size: usize,
    ) -> Result<Option<ClientHello>, HelloError> {
        loop {
            let rest = buffered.get(self.records_end..).unwrap_or_default();
            if rest.len() < RECORD_HEADER_LEN {
                return Ok(None);
            }
            if rest[0] != CONTENT_TYPE_HANDSHAKE {
                return Err(HelloError::NotHandshake);
            }
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            if len == 0 || len > MAX_PLAINTEXT_RECORD {
                return Err(HelloError::BadRecordLength);
            }
            let Some(fragment) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
                return Ok(None);
            };
            self.message.extend_from_slice(fragment);
            self.records_end += RECORD_HEADER_LEN + len;

            let message = &self.message;
            if message[0] != HANDSHAKE_CLIENT_HELLO {
                return Err(HelloError::NotClientHello);
            }
            if message.len() < 4 {
                continue;
            }
            let body_len = usize::from(message[1]) << 16
                | usize::from(message[2]) << 8
                | usize::from(message[3]);
            if body_len + 4 > max_size {
                return Err(HelloError::TooLarge);
            }
            if message.len() >= body_len + 4 {
                return parse_body(&message[4..4 + body_len]).map(Some);
            }
        }
    }
}

/// A cursor over a byte slice that reports which field ran short.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], HelloError> {
        if self.bytes.len() < n {
            return Err(HelloError::Truncated(field));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, HelloError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn vec_u8(&mut self, field: &'static str) -> Result<&'a [u8], HelloError> {
        let len = usize::from(self.u8(field)?);
        self.take(len, field)
    }

    fn vec_u16(&mut self, field: &'static str) -> Result<Reader<'a>, HelloError> {
        let len = usize::from(self.u16(field)?);
        Ok(Reader {
            bytes: self.take(len, field)?,
        })
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

fn parse_body(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut r = Reader { bytes: body };
    r.take(2, "legacy_version")?;
    r.take(32, "random")?;
    r.vec_u8("session_id")?;
    r.vec_u16("cipher_suites")?;
    r.vec_u8("compression_methods")?;
    let mut hello = ClientHello::default();
    if r.is_empty() {
        return Ok(hello);
    }
    let mut extensions = r.vec_u16("extensions")?;
    while !extensions.is_empty() {
        let kind = extensions.u16("extension type")?;
        let mut data = extensions.vec_u16("extension data")?;
        match kind {
            EXT_SERVER_NAME => hello.server_name = parse_server_name(&mut data)?,
            EXT_ALPN => {
                let mut list = data.vec_u16("alpn list")?;
                while !list.is_empty() {
                    hello.alpn.push(list.vec_u8("alpn protocol")?.to_vec());
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                let versions = data.vec_u8("supported_versions")?;
                hello.offers_tls13 = versions.chunks_exact(2).any(|v| v == [0x03, 0x04]);
            }
            _ => {}
        }
    }
    Ok(hello)
}

fn parse_server_name(data: &mut Reader<'_>) -> Result<Option<String>, HelloError> {
    let mut list = data.vec_u16("server_name list")?;
    while !list.is_empty() {
        let name_type = list.u8("server_name type")?;
        let len = usize::from(list.u16("server_name")?);
        let name = list.take(len, "server_name")?;
        if name_type == 0 {
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(HelloError::BadServerName);
            }
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            return Ok(Some(name.trim_end_matches('.').to_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_record(extensions: &[u8]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(extensions);
        let mut msg = vec![HANDSHAKE_CLIENT_HELLO, 0];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&body);
        let mut rec = vec![CONTENT_TYPE_HANDSHAKE, 3, 1];
        rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        rec.extend_from_slice(&msg);
        rec
    }

    fn sni_ext(name: &str) -> Vec<u8> {
        let mut ext = vec![0, 0];
        let inner_len = name.len() as u16 + 3;
        ext.extend_from_slice(&(inner_len + 2).to_be_bytes());
        ext.extend_from_slice(&inner_len.to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name.as_bytes());
        ext
    }

    #[test]
    fn reads_sni_whatever_the_split() {
        let rec = hello_record(&sni_ext("Example.COM."));
        for split in 0..rec.len() {
            assert_eq!(read_client_hello(&rec[..split], 1 << 16), Ok(None));
        }
        let hello = read_client_hello(&rec, 1 << 16).unwrap().unwrap();
        assert_eq!(hello.server_name.as_deref(), Some("example.com"));
    }

    #[test]
    fn reads_incrementally_one_byte_at_a_time() {
        let rec = hello_record(&sni_ext("a.example"));
        let mut reader = HelloReader::default();
        for end in 0..rec.len() {
            assert_eq!(reader.read(&rec[..end], 1 << 16), Ok(None));
        }
        let hello = reader.read(&rec, 1 << 16).unwrap().unwrap();
        assert_eq!(hello.server_name.as_deref(), Some("a.example"));
    }

    #[test]
    fn rejects_truncated_extension() {
        let mut ext = sni_ext("a.b");
        ext.truncate(ext.len() - 1);
        let rec = hello_record(&ext);
        assert_eq!(
            read_client_hello(&rec, 1 << 16),
            Err(HelloError::Truncated("extension data"))
        );
    }

    #[test]
    fn rejects_non_handshake_and_too_large() {
        assert_eq!(
            read_client_hello(&[0x17, 3, 3, 0, 1, 0], 1 << 16),
            Err(HelloError::NotHandshake)
        );
        let rec = hello_record(&sni_ext("a.b"));
        assert_eq!(read_client_hello(&rec, 20), Err(HelloError::TooLarge));
    }
}
