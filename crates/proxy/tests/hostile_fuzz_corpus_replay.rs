//! Replays the proxy's fuzz corpora (`fuzz/corpus/proxy_config/`, `fuzz/corpus/proxy_protocol/`,
//! `fuzz/corpus/dns_response/`) through the entry points the fuzz targets call, so `cargo test`
//! covers them without cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../../fuzz/src/proxy_entry.rs"]
mod proxy_entry;

use tlswire_testkit::replay_corpus;

#[test]
fn proxy_config_corpus() {
    replay_corpus("proxy_config", proxy_entry::proxy_config);
}

#[test]
fn proxy_protocol_corpus() {
    replay_corpus("proxy_protocol", proxy_entry::proxy_protocol);
}

#[test]
fn dns_response_corpus() {
    replay_corpus("dns_response", proxy_entry::dns_response);
}
