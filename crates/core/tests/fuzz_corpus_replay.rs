//! Replays every checked-in fuzz corpus file (`fuzz/corpus/<target>/`) through the entry points
//! the fuzz targets call, so `cargo test` covers the corpora, and every crash the fuzzer ever
//! found, without cargo-fuzz or a nightly toolchain.

#[allow(dead_code, unreachable_pub, missing_docs, clippy::expect_used)]
#[path = "../../../fuzz/src/core_entry.rs"]
mod core_entry;

use std::path::PathBuf;

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

/// Runs `entry` on every file of `target`'s corpus; a panic names the file that caused it.
fn replay(target: &str, entry: fn(&[u8])) {
    for file in corpus_files(target) {
        let data = std::fs::read(&file).expect("corpus file");
        if let Err(payload) = std::panic::catch_unwind(|| entry(&data)) {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            panic!(
                "{target}: {} crashes the entry point: {message}",
                file.display()
            );
        }
    }
}

#[test]
fn server_fresh_corpus() {
    replay("server_fresh", core_entry::server_fresh);
}

#[test]
fn client_fresh_corpus() {
    replay("client_fresh", core_entry::client_fresh);
}

#[test]
fn accept_corpus() {
    replay("accept", core_entry::accept);
}

#[test]
fn pem_corpus() {
    replay("pem", core_entry::pem);
}

#[test]
fn server_established_corpus() {
    replay("server_established", |data| {
        core_entry::established_script(core_entry::Under::Server, data)
    });
}

#[test]
fn client_established_corpus() {
    replay("client_established", |data| {
        core_entry::established_script(core_entry::Under::Client, data)
    });
}
