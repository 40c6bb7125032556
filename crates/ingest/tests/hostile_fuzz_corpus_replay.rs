//! Replays the ingest fuzz corpus (`fuzz/corpus/ingest_frames/`) through the entry point the
//! fuzz target calls, so `cargo test` covers it without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../fuzz/src/ingest_entry.rs"]
mod ingest_entry;

use tlswire_testkit::replay_corpus;

#[test]
fn ingest_frames_corpus() {
    replay_corpus("ingest_frames", ingest_entry::ingest_frames);
}
