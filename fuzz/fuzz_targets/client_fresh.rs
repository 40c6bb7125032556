#![no_main]
//! A new client session fed an arbitrary server answer (see `core_entry::client_fresh`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::core_entry::client_fresh(data));
