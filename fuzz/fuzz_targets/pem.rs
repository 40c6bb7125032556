#![no_main]
//! The PEM certificate, key and trust-bundle loaders (see `core_entry::pem`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::core_entry::pem(data));
