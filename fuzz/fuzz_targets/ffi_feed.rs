#![no_main]
//! The C ABI's sans-IO `tlswire_feed` on a server connection (see `ffi_entry::ffi_feed`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::ffi_entry::ffi_feed(data));
