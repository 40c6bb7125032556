//! Just enough RESP (the Redis protocol) for a load generator: encoding PING, SET and GET
//! batches with keys drawn from a key space, and counting replies in a byte stream.

/// A command the `redis` mode sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Command {
    /// `PING` (multi-bulk, as redis-benchmark's `PING_MBULK`).
    Ping,
    /// `SET key:NNNNNNNNNNNN <value>`.
    Set,
    /// `GET key:NNNNNNNNNNNN`.
    Get,
}

impl Command {
    /// The name in reports (`PING`, `SET`, `GET`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "PING",
            Self::Set => "SET",
            Self::Get => "GET",
        }
    }
}

impl std::str::FromStr for Command {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ping" | "ping_mbulk" => Ok(Self::Ping),
            "set" => Ok(Self::Set),
            "get" => Ok(Self::Get),
            other => Err(format!(
                "unsupported redis command {other:?} (use ping, set, get)"
            )),
        }
    }
}

/// Digits in a key's number: `key:` plus 12 digits, as redis-benchmark's `key:__rand_int__`.
const KEY_DIGITS: usize = 12;

/// Builds pipelined batches of one command, rewriting key digits in place between batches.
#[derive(Debug)]
pub struct Encoder {
    command: Command,
    template: Vec<u8>,
    /// Offsets of each request's key digits inside `template`.
    key_offsets: Vec<usize>,
    per_request: usize,
    keyspace: Option<u64>,
    rng: u64,
}

impl Encoder {
    /// An encoder for batches of up to `pipeline` requests. With a key space, keys are drawn
    /// at random below it; without one every request uses `key:000000000000`.
    pub fn new(
        command: Command,
        pipeline: usize,
        value_size: usize,
        keyspace: Option<u64>,
        seed: u64,
    ) -> Self {
        let value = vec![b'x'; value_size];
        let key = [b"key:".as_slice(), &[b'0'; KEY_DIGITS]].concat();
        let mut one = Vec::new();
        match command {
            Command::Ping => encode(&mut one, &[b"PING"]),
            Command::Set => encode(&mut one, &[b"SET", &key, &value]),
            Command::Get => encode(&mut one, &[b"GET", &key]),
        }
        let key_at = one.windows(4).position(|w| w == b"key:");
        let per_request = one.len();
        let pipeline = pipeline.max(1);
        let mut template = Vec::with_capacity(per_request * pipeline);
        let mut key_offsets = Vec::new();
        for i in 0..pipeline {
            template.extend_from_slice(&one);
            if let Some(at) = key_at {
                key_offsets.push(i * per_request + at + 4);
            }
        }
        Self {
            command,
            template,
            key_offsets,
            per_request,
            keyspace,
            rng: seed | 1,
        }
    }

    /// The command this encoder sends.
    pub fn command(&self) -> Command {
        self.command
    }

    /// The bytes of a batch of `n` requests (at most the pipeline depth).
    pub fn batch(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.template.len() / self.per_request.max(1));
        if let Some(space) = self.keyspace.filter(|s| *s > 0) {
            for &offset in self.key_offsets.iter().take(n) {
                // xorshift64: cheap and good enough to spread keys.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let mut k = self.rng % space;
                for digit in self.template[offset..offset + KEY_DIGITS].iter_mut().rev() {
                    *digit = b'0' + (k % 10) as u8;
                    k /= 10;
                }
            }
        }
        &self.template[..n * self.per_request]
    }
}

/// Appends `args` as a RESP array of bulk strings.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// One parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+...`, `:...`, `$...` or `*...`: a normal reply.
    Ok,
    /// `-...`: an error reply, with its text.
    Error(String),
}

/// Why the reply stream cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis protocol error: {}", self.0)
    }
}

/// Parses one reply at the start of `buf`: `Ok(Some((reply, length)))`, `Ok(None)` when more
/// bytes are needed, or an error for bytes that are not RESP.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    if depth > 8 {
        return Err(ProtocolError("replies nested more than 8 deep".into()));
    }
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some(line_end) = find_crlf(buf, at + 1) else {
        if buf.len() - at > 64 * 1024 {
            return Err(ProtocolError("line longer than 64 KiB".into()));
        }
        return Ok(None);
    };
    let line = &buf[at + 1..line_end];
    let next = line_end + 2;
    let number = || -> Result<i64, ProtocolError> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ProtocolError(format!("bad length {:?}", String::from_utf8_lossy(line))))
    };
    match kind {
        b'+' | b':' => Ok(Some((Reply::Ok, next))),
        b'-' => Ok(Some((
            Reply::Error(String::from_utf8_lossy(line).into_owned()),
            next,
        ))),
        b'$' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Reply::Ok, next)));
            }
            let end = next + usize::try_from(len).unwrap_or(usize::MAX / 2) + 2;
            if buf.len() < end {
                return Ok(None);
            }
            Ok(Some((Reply::Ok, end)))
        }
        b'*' => {
            let count = number()?;
            let mut pos = next;
            for _ in 0..count.max(0) {
                match parse_at(buf, pos, depth + 1)? {
                    Some((_, end)) => pos = end,
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Ok, pos)))
        }
        other => Err(ProtocolError(format!(
            "unexpected reply type byte 0x{other:02x}"
        ))),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_batches_carry_random_keys_in_place() {
        let mut enc = Encoder::new(Command::Set, 3, 5, Some(1000), 7);
        let batch = enc.batch(2).to_vec();
        let text = String::from_utf8(batch).unwrap();
        assert_eq!(
            text.matches("*3\r\n$3\r\nSET\r\n$16\r\nkey:").count(),
            2,
            "{text}"
        );
        assert_eq!(text.matches("\r\n$5\r\nxxxxx\r\n").count(), 2, "{text}");
        for part in text.split("key:").skip(1) {
            let n: u64 = part[..12].parse().unwrap();
            assert!(n < 1000);
        }
    }

    #[test]
    fn get_and_ping_encode_as_redis_expects() {
        let mut enc = Encoder::new(Command::Get, 1, 3, None, 1);
        assert_eq!(
            enc.batch(1),
            b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000000\r\n"
        );
        let mut ping = Encoder::new(Command::Ping, 2, 3, None, 1);
        assert_eq!(ping.batch(5), b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n");
    }

    #[test]
    fn parses_every_reply_kind_and_waits_for_more() {
        assert_eq!(parse(b"+PONG\r\n").unwrap(), Some((Reply::Ok, 7)));
        assert_eq!(parse(b"$3\r\nabc\r\n+OK").unwrap(), Some((Reply::Ok, 9)));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Some((Reply::Ok, 5)));
        assert_eq!(parse(b"$3\r\nab").unwrap(), None);
        assert_eq!(
            parse(b"*2\r\n:1\r\n$1\r\na\r\n").unwrap(),
            Some((Reply::Ok, 15))
        );
        assert_eq!(
            parse(b"-ERR wrong\r\n").unwrap(),
            Some((Reply::Error("ERR wrong".into()), 12))
        );
        assert!(parse(b"HTTP/1.1 400\r\n").is_err());
    }
}
