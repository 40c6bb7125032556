//! The Redis protocol (RESP2), just what pipelined writes need: encoding commands and parsing
//! replies from a byte buffer, over any tokio stream (plain TCP or TLS).

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A byte stream Redis can be spoken over.
pub(crate) trait RedisStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RedisStream for T {}

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`, the answer to every SET (kept apart to save an allocation per write).
    Ok,
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub(crate) fn error(&self) -> Option<&str> {
        match self {
            Self::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// Appends `args` as one RESP command.
pub(crate) fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_decimal(out, args.len());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_decimal(out, arg.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `n` in decimal without allocating (this runs for every argument of every write).
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

fn protocol_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad reply from Redis: {what}"),
    )
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn number(bytes: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol_error("invalid length or integer"))
}

/// Parses one reply from the start of `buf`: `Ok(None)` when more bytes are needed.
pub(crate) fn parse(buf: &[u8], depth: usize) -> io::Result<Option<(Reply, usize)>> {
    if depth > 8 {
        return Err(protocol_error("nested too deep"));
    }
    let Some((&kind, rest)) = buf.split_first() else {
        return Ok(None);
    };
    let Some((head, head_len)) = line(rest) else {
        return Ok(None);
    };
    let mut used = 1 + head_len;
    let text = || String::from_utf8_lossy(head).into_owned();
    let reply = match kind {
        b'+' if head == b"OK" => Reply::Ok,
        b'+' => Reply::Simple(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Integer(number(head)?),
        b'$' => {
            let len = number(head)?;
            if len < 0 {
                Reply::Bulk(None)
            } else {
                let len = usize::try_from(len).map_err(|_| protocol_error("bulk length"))?;
                if buf.len() < used + len + 2 {
                    return Ok(None);
                }
                let data = buf[used..used + len].to_vec();
                used += len + 2;
                Reply::Bulk(Some(data))
            }
        }
        b'*' => {
            let count = number(head)?;
            if count < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::new();
                for _ in 0..count {
                    match parse(&buf[used..], depth + 1)? {
                        Some((item, n)) => {
                            items.push(item);
                            used += n;
                        }
                        None => return Ok(None),
                    }
                }
                Reply::Array(Some(items))
            }
        }
        _ => return Err(protocol_error("unknown reply type")),
    };
    Ok(Some((reply, used)))
}

/// How long one pipelined exchange may take before the connection is given up.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to one Redis server.
pub(crate) struct RespConn {
    stream: Box<dyn RedisStream>,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
}

impl RespConn {
    pub(crate) fn new(stream: Box<dyn RedisStream>) -> Self {
        Self {
            stream,
            read_buf: Vec::with_capacity(16 * 1024),
            write_buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// The buffer the next [`exchange`](Self::exchange) sends; append commands with [`encode`].
    pub(crate) fn commands(&mut self) -> &mut Vec<u8> {
        &mut self.write_buf
    }

    /// Sends the buffered commands and reads `count` replies, in order.
    pub(crate) async fn exchange(&mut self, count: usize) -> io::Result<Vec<Reply>> {
        match tokio::time::timeout(EXCHANGE_TIMEOUT, self.exchange_inner(count)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "Redis did not answer within 10 s",
            )),
        }
    }

    async fn exchange_inner(&mut self, count: usize) -> io::Result<Vec<Reply>> {
        let result = self.stream.write_all(&self.write_buf).await;
        self.write_buf.clear();
        result?;
        self.stream.flush().await?;
        let mut replies = Vec::with_capacity(count);
        let mut pos = 0;
        while replies.len() < count {
            match parse(&self.read_buf[pos..], 0)? {
                Some((reply, used)) => {
                    replies.push(reply);
                    pos += used;
                }
                None => {
                    self.read_buf.drain(..pos);
                    pos = 0;
                    self.read_buf.reserve(16 * 1024);
                    if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "Redis closed the connection",
                        ));
                    }
                }
            }
        }
        self.read_buf.drain(..pos);
        Ok(replies)
    }

    /// Runs one command and fails if Redis answers with an error.
    pub(crate) async fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        encode(&mut self.write_buf, args);
        let reply = self
            .exchange(1)
            .await?
            .pop()
            .ok_or_else(|| protocol_error("missing reply"))?;
        if let Some(e) = reply.error() {
            let name = String::from_utf8_lossy(args.first().copied().unwrap_or_default());
            return Err(io::Error::other(format!("Redis refused {name}: {e}")));
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reply_type_and_waits_for_more() {
        let data = b"+OK\r\n-ERR x\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$1\r\nz\r\n";
        let mut pos = 0;
        let mut replies = Vec::new();
        while let Some((reply, used)) = parse(&data[pos..], 0).unwrap() {
            replies.push(reply);
            pos += used;
        }
        assert_eq!(pos, data.len());
        assert_eq!(replies[1], Reply::Error("ERR x".into()));
        assert_eq!(replies[3], Reply::Bulk(Some(b"abc".to_vec())));
        assert_eq!(replies.len(), 6);
        assert_eq!(parse(b"$3\r\nab", 0).unwrap(), None);
        assert_eq!(parse(b"*2\r\n:1\r\n", 0).unwrap(), None);
        assert!(parse(b"?x\r\n", 0).is_err());
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode(&mut out, &[b"SET", b"k", b"v v"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv v\r\n");
        out.clear();
        let long = vec![b'x'; 1234567];
        encode(&mut out, &[&long, b""]);
        assert!(out.starts_with(b"*2\r\n$1234567\r\nxx"));
        assert!(out.ends_with(b"\r\n$0\r\n\r\n"));
    }
}
