//! The bounded on-disk spool: batches accepted while Redis is unreachable, kept in order and
//! replayed when it returns.
//!
//! Each batch is one file, `NNNNNNNNNNNNNNNNNNNN.spool`, numbered in arrival order, written to a
//! temporary name, fsynced and renamed, so a crash leaves whole batches only. Files left by a
//! previous run are replayed first.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::mapping::Op;
use crate::IngestError;

const MAGIC: &[u8] = b"tlswire-spool-1\n";

/// The spool directory and what it holds.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    used_bytes: u64,
    payloads: u64,
    next_seq: u64,
    /// (sequence number, file size, payload count), oldest first.
    files: VecDeque<(u64, u64, u64)>,
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}.spool")
}

impl Spool {
    /// Opens `dir` (created if missing), picking up batches left by an earlier run.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> Result<Self, IngestError> {
        let io_err = |e| IngestError::io(format!("spool directory {}", dir.display()), e);
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".spool"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let size = entry.metadata().map_err(io_err)?.len();
            let count = std::fs::read(entry.path())
                .ok()
                .and_then(|bytes| decode(&bytes).ok())
                .map_or(0, |batch| batch.len() as u64);
            files.push((seq, size, count));
        }
        files.sort_unstable();
        let next_seq = files.last().map_or(0, |(seq, _, _)| seq + 1);
        Ok(Self {
            dir: dir.to_owned(),
            max_bytes,
            used_bytes: files.iter().map(|(_, size, _)| size).sum(),
            payloads: files.iter().map(|(_, _, count)| count).sum(),
            next_seq,
            files: files.into(),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Payloads waiting for replay.
    pub(crate) fn depth(&self) -> u64 {
        self.payloads
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Appends a batch; `Ok(false)` when it does not fit (the caller waits and tries again).
    /// A batch larger than the whole spool is accepted into an empty spool, so it cannot block
    /// forever.
    pub(crate) fn append(&mut self, batch: &[Vec<Op>]) -> io::Result<bool> {
        let bytes = encode(batch);
        let size = bytes.len() as u64;
        if !self.files.is_empty() && self.used_bytes + size > self.max_bytes {
            return Ok(false);
        }
        let seq = self.next_seq;
        let path = self.dir.join(file_name(seq));
        let tmp = self.dir.join(format!("{}.tmp", file_name(seq)));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.next_seq += 1;
        self.used_bytes += size;
        self.payloads += batch.len() as u64;
        self.files.push_back((seq, size, batch.len() as u64));
        Ok(true)
    }

    /// The oldest batch, if any.
    pub(crate) fn oldest(&self) -> Option<io::Result<Vec<Vec<Op>>>> {
        let (seq, _, _) = self.files.front()?;
        let path = self.dir.join(file_name(*seq));
        Some(std::fs::read(&path).and_then(|bytes| {
            decode(&bytes).map_err(|reason| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("spool file {} is damaged: {reason}", path.display()),
                )
            })
        }))
    }

    /// Removes the oldest batch once it is stored.
    pub(crate) fn pop_oldest(&mut self) -> io::Result<()> {
        if let Some((seq, size, count)) = self.files.pop_front() {
            self.used_bytes -= size;
            self.payloads -= count;
            std::fs::remove_file(self.dir.join(file_name(seq)))?;
        }
        Ok(())
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode(batch: &[Vec<Op>]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for ops in batch {
        out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
        for op in ops {
            match op {
                Op::Set { key, value } => {
                    out.push(0);
                    put_str(&mut out, key);
                    put_str(&mut out, value);
                }
                Op::HSet { key, field, value } => {
                    out.push(1);
                    put_str(&mut out, key);
                    put_str(&mut out, field);
                    put_str(&mut out, value);
                }
            }
        }
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<usize, &'static str> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
    }
    fn string(&mut self) -> Result<String, &'static str> {
        let len = self.u32()?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "invalid UTF-8")
    }
}

fn decode(bytes: &[u8]) -> Result<Vec<Vec<Op>>, &'static str> {
    let mut r = Reader(bytes);
    if r.take(MAGIC.len())? != MAGIC {
        return Err("not a spool file");
    }
    let count = r.u32()?;
    let mut batch = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let n = r.u32()?;
        let mut ops = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let op = match r.take(1)?[0] {
                0 => Op::Set {
                    key: r.string()?,
                    value: r.string()?,
                },
                1 => Op::HSet {
                    key: r.string()?,
                    field: r.string()?,
                    value: r.string()?,
                },
                _ => return Err("unknown operation"),
            };
            ops.push(op);
        }
        batch.push(ops);
    }
    if !r.0.is_empty() {
        return Err("trailing bytes");
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_in_order_across_restarts_and_the_bound_holds() {
        let dir = tlswire_testkit::temp_dir("ingest-spool");
        let batch = |n: usize| {
            vec![vec![Op::HSet {
                key: format!("k{n}"),
                field: "f".into(),
                value: "v".repeat(10),
            }]]
        };
        let mut spool = Spool::open(&dir, 200).unwrap();
        assert!(spool.append(&batch(1)).unwrap());
        assert!(spool.append(&batch(2)).unwrap());
        let mut refused = false;
        for n in 3..10 {
            refused |= !spool.append(&batch(n)).unwrap();
        }
        assert!(refused, "the spool must refuse batches past its bound");
        let depth = spool.depth();
        drop(spool);
        let mut spool = Spool::open(&dir, 200).unwrap();
        assert_eq!(spool.depth(), depth);
        assert_eq!(spool.oldest().unwrap().unwrap(), batch(1));
        spool.pop_oldest().unwrap();
        assert_eq!(spool.oldest().unwrap().unwrap(), batch(2));
    }

    #[test]
    fn damaged_file_is_an_error_naming_it() {
        assert_eq!(decode(b"nope"), Err("truncated"));
        let mut bytes = encode(&[vec![]]);
        bytes.push(0);
        assert_eq!(decode(&bytes), Err("trailing bytes"));
    }
}
