#![no_main]
//! DNS responses: arbitrary bytes, and well-formed ones parsed back (see
//! `proxy_entry::dns_response`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::proxy_entry::dns_response(data));
