//! Replays the proxy's fuzz corpora (`fuzz/corpus/proxy_config/`, `fuzz/corpus/proxy_protocol/`,
//! `fuzz/corpus/dns_response/`) through the entry points the fuzz targets call, so `cargo test`
//! covers them without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../fuzz/src/proxy_entry.rs"]
mod proxy_entry;

use std::path::PathBuf;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        if std::panic::catch_unwind(|| entry(&data)).is_err() {
            panic!("{target}: {} crashes the entry point", file.display());
        }
    }
}

#[test]
fn proxy_config_corpus() {
    replay("proxy_config", proxy_entry::proxy_config);
}

#[test]
fn proxy_protocol_corpus() {
    replay("proxy_protocol", proxy_entry::proxy_protocol);
}

#[test]
fn dns_response_corpus() {
    replay("dns_response", proxy_entry::dns_response);
}
