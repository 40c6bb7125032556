//! Finding JSON objects in a byte stream that has no delimiters.
//!
//! The old daemon's clients call `sock.send(json.dumps(d).encode())`: objects arrive back to
//! back, several in one read or one split across reads, sometimes separated by newlines. The
//! [`Framer`] scans the bytes once, tracking strings, escapes and nesting, and hands out each
//! complete top-level value; parsing it is left to serde_json.

/// Something the framer found in the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// One complete top-level JSON object or array (not yet validated beyond its brackets).
    Payload(&'a [u8]),
    /// A value longer than the maximum payload size; its bytes were skipped.
    Oversized {
        /// How many bytes it had.
        size: usize,
    },
    /// Bytes between values that cannot start a JSON object (skipped up to the next `{`, `[`
    /// or newline).
    Garbage {
        /// The first few of those bytes, for the log line.
        sample: String,
    },
    /// The stream ended in the middle of a value.
    Truncated {
        /// How many bytes of it had arrived.
        size: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between values.
    Idle,
    /// Inside a value that is being kept.
    Value,
    /// Inside a value past the size limit: tracked but not kept.
    Discard,
    /// Inside a run of bytes that cannot start a value.
    Garbage,
}

const GARBAGE_SAMPLE: usize = 40;

/// A streaming scanner that splits a byte stream into top-level JSON values.
#[derive(Debug)]
pub struct Framer {
    max_payload: usize,
    buf: Vec<u8>,
    mode: Mode,
    depth: u64,
    in_string: bool,
    escaped: bool,
    /// Bytes of the current value or garbage run seen so far (also those not kept).
    current_len: usize,
}

impl Framer {
    /// A framer that rejects values longer than `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload: max_payload.max(2),
            buf: Vec::new(),
            mode: Mode::Idle,
            depth: 0,
            in_string: false,
            escaped: false,
            current_len: 0,
        }
    }

    /// Scans `input`, calling `on_frame` for each value (or rejection) it completes.
    pub fn feed(&mut self, input: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        for &byte in input {
            match self.mode {
                Mode::Idle => match byte {
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    b'{' | b'[' => {
                        self.mode = Mode::Value;
                        self.depth = 1;
                        self.current_len = 1;
                        self.buf.clear();
                        self.buf.push(byte);
                    }
                    _ => {
                        self.mode = Mode::Garbage;
                        self.current_len = 1;
                        self.buf.clear();
                        self.buf.push(byte);
                    }
                },
                Mode::Garbage => {
                    if matches!(byte, b'{' | b'[' | b'\n') {
                        self.emit_garbage(&mut on_frame);
                        if byte != b'\n' {
                            self.mode = Mode::Value;
                            self.depth = 1;
                            self.current_len = 1;
                            self.buf.push(byte);
                        }
                    } else {
                        self.current_len += 1;
                        if self.buf.len() < GARBAGE_SAMPLE {
                            self.buf.push(byte);
                        }
                    }
                }
                Mode::Value | Mode::Discard => {
                    self.current_len += 1;
                    if self.mode == Mode::Value {
                        if self.current_len > self.max_payload {
                            self.mode = Mode::Discard;
                            self.buf = Vec::new();
                        } else {
                            self.buf.push(byte);
                        }
                    }
                    if self.step_value(byte) {
                        match self.mode {
                            Mode::Value => on_frame(Frame::Payload(&self.buf)),
                            _ => on_frame(Frame::Oversized {
                                size: self.current_len,
                            }),
                        }
                        self.reset();
                    }
                }
            }
        }
        if self.mode == Mode::Garbage && self.current_len >= self.max_payload {
            self.emit_garbage(&mut on_frame);
        }
        // A big buffer left by one large payload is not kept for the connection's lifetime.
        if self.mode == Mode::Idle && self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        }
    }

    /// The stream ended: reports a value or garbage run left incomplete.
    pub fn finish(&mut self, mut on_frame: impl FnMut(Frame<'_>)) {
        match self.mode {
            Mode::Idle => {}
            Mode::Garbage => self.emit_garbage(&mut on_frame),
            Mode::Value | Mode::Discard => on_frame(Frame::Truncated {
                size: self.current_len,
            }),
        }
        self.reset();
    }

    /// Whether the framer holds part of a value.
    pub fn is_mid_value(&self) -> bool {
        self.mode != Mode::Idle
    }

    /// Advances the string/nesting state by one byte of a value; true when the value ends.
    fn step_value(&mut self, byte: u8) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
            }
            return false;
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }

    fn emit_garbage(&mut self, on_frame: &mut impl FnMut(Frame<'_>)) {
        let sample = String::from_utf8_lossy(&self.buf).into_owned();
        on_frame(Frame::Garbage { sample });
        self.reset();
    }

    fn reset(&mut self) {
        self.mode = Mode::Idle;
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.current_len = 0;
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.feed(chunk, |f| out.push(describe(f)));
        }
        framer.finish(|f| out.push(describe(f)));
        out
    }

    fn describe(frame: Frame<'_>) -> String {
        match frame {
            Frame::Payload(p) => String::from_utf8_lossy(p).into_owned(),
            Frame::Oversized { size } => format!("oversized {size}"),
            Frame::Garbage { sample } => format!("garbage {sample}"),
            Frame::Truncated { size } => format!("truncated {size}"),
        }
    }

    #[test]
    fn back_to_back_objects_in_one_read() {
        assert_eq!(
            frames(100, &[br#"{"a": 1}{"b": {"c": "}"}}"#]),
            [r#"{"a": 1}"#, r#"{"b": {"c": "}"}}"#]
        );
    }

    #[test]
    fn an_object_split_at_every_byte() {
        let text = br#"{"k": "a \"quoted\" {brace} \\", "n": {"x": [1, 2]}}"#;
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(frames(1000, &chunks), [String::from_utf8_lossy(text)]);
    }

    #[test]
    fn newline_delimited_json() {
        assert_eq!(
            frames(100, &[b"{\"a\":1}\n{\"b\":2}\r\n\n{\"c\"", b":3}\n"]),
            [r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]
        );
    }

    #[test]
    fn oversized_payload_is_skipped_and_the_next_one_kept() {
        let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(50));
        assert_eq!(
            frames(20, &[big.as_bytes(), br#"{"b":1}"#]),
            [format!("oversized {}", big.len()), r#"{"b":1}"#.to_owned()]
        );
    }

    #[test]
    fn garbage_between_objects_is_reported_once() {
        assert_eq!(
            frames(100, &[b"hello world{\"a\":1}oops\n{\"b\":2}"]),
            [
                "garbage hello world",
                r#"{"a":1}"#,
                "garbage oops",
                r#"{"b":2}"#
            ]
        );
    }

    #[test]
    fn truncated_value_at_the_end() {
        assert_eq!(frames(100, &[br#"{"a":"#]), ["truncated 5"]);
    }

    #[test]
    fn top_level_arrays_are_framed_for_the_mapper_to_reject() {
        assert_eq!(frames(100, &[b"[1,{}]"]), ["[1,{}]"]);
    }
}
