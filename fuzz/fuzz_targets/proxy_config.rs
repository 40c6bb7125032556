#![no_main]
//! The proxy's YAML configuration (see `proxy_entry::proxy_config`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::proxy_entry::proxy_config(data));
