//! Replays the C ABI's fuzz corpus (`fuzz/corpus/ffi_feed/`) through the entry point the fuzz
//! target calls, so `cargo test` covers it without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code, unreachable_pub, missing_docs, unsafe_code)]
#[path = "../../../fuzz/src/ffi_entry.rs"]
mod ffi_entry;

use tlswire_testkit::replay_corpus;

#[test]
fn ffi_feed_corpus() {
    replay_corpus("ffi_feed", ffi_entry::ffi_feed);
}
