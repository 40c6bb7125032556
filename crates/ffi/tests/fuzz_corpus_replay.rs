//! Replays the C ABI's fuzz corpus (`fuzz/corpus/ffi_feed/`) through the entry point the fuzz
//! target calls, so `cargo test` covers it without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code, unreachable_pub, missing_docs, unsafe_code)]
#[path = "../../../fuzz/src/ffi_entry.rs"]
mod ffi_entry;

use std::path::PathBuf;

#[test]
fn ffi_feed_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ffi_feed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        if std::panic::catch_unwind(|| ffi_entry::ffi_feed(&data)).is_err() {
            panic!("ffi_feed: {} crashes the entry point", file.display());
        }
    }
}
