#![no_main]
//! A new server session fed arbitrary bytes (see `core_entry::server_fresh`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::core_entry::server_fresh(data));
