#![no_main]
//! Plaintext sniffing, the ClientHello reader and SNI policy (see `core_entry::accept`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::core_entry::accept(data));
