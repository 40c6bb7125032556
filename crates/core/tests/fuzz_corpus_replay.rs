//! Replays every checked-in fuzz corpus file (`fuzz/corpus/<target>/`) through the entry points
//! the fuzz targets call, so `cargo test` covers the corpora, and every crash the fuzzer ever
//! found, without cargo-fuzz or a nightly toolchain.

#[allow(dead_code, unreachable_pub, missing_docs, clippy::expect_used)]
#[path = "../../../fuzz/src/core_entry.rs"]
mod core_entry;

use tlswire_testkit::replay_corpus;

#[test]
fn server_fresh_corpus() {
    replay_corpus("server_fresh", core_entry::server_fresh);
}

#[test]
fn client_fresh_corpus() {
    replay_corpus("client_fresh", core_entry::client_fresh);
}

#[test]
fn accept_corpus() {
    replay_corpus("accept", core_entry::accept);
}

#[test]
fn pem_corpus() {
    replay_corpus("pem", core_entry::pem);
}

#[test]
fn server_established_corpus() {
    replay_corpus("server_established", |data| {
        core_entry::established_script(core_entry::Under::Server, data)
    });
}

#[test]
fn client_established_corpus() {
    replay_corpus("client_established", |data| {
        core_entry::established_script(core_entry::Under::Client, data)
    });
}
