//! The entry point of `tlswire-ingest` that the fuzz target calls: the stream framer and the
//! JSON-to-store mapping, as one connection's bytes go through them.
//!
//! Shared like `core_entry.rs`: `crates/ingest/tests/hostile_fuzz_corpus_replay.rs` includes it
//! with `#[path]` and replays the corpus through it. It may only use `tlswire-ingest`.

use tlswire_ingest::{map_payload, Frame, Framer};

/// The frames of a stream that do not depend on how it was split into reads, as text.
fn frames(max_payload: usize, data: &[u8], chunk: usize) -> Vec<String> {
    let mut framer = Framer::new(max_payload);
    let mut seen = Vec::new();
    let mut record = |frame: Frame<'_>| match frame {
        Frame::Payload(bytes) => {
            assert!(bytes.len() <= max_payload.max(2), "payload over the limit");
            assert!(
                matches!(bytes.first(), Some(b'{' | b'[')),
                "payload starts with {bytes:?}"
            );
            let mut ops = Vec::new();
            match map_payload(bytes, &mut ops) {
                Ok(()) => seen.push(format!("{ops:?}")),
                Err(rejected) => {
                    assert!(ops.is_empty(), "a rejected payload produced writes");
                    seen.push(format!("{}: {rejected}", rejected.label()));
                }
            }
        }
        // Garbage runs are cut at the payload limit per read, so they depend on the split.
        Frame::Garbage { .. } => {}
        other => seen.push(format!("{other:?}")),
    };
    for piece in data.chunks(chunk.max(1)) {
        framer.feed(piece, &mut record);
    }
    framer.finish(&mut record);
    seen
}

/// Target `ingest_frames`: a connection's bytes through the framer and the mapping, whole and
/// split into reads of another size, which must give the same payloads and writes.
///
/// Input: `[chunk size, payload limit / 16, bytes...]`.
pub fn ingest_frames(data: &[u8]) {
    let [chunk, limit, rest @ ..] = data else {
        return;
    };
    let max_payload = usize::from(*limit) * 16;
    let whole = frames(max_payload, rest, rest.len());
    let split = frames(max_payload, rest, usize::from(*chunk));
    assert_eq!(whole, split, "framing depends on how the stream is split");
}
