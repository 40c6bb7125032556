#![no_main]
//! PROXY protocol v1/v2 headers, encoded and decoded again (see `proxy_entry::proxy_protocol`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::proxy_entry::proxy_protocol(data));
