#![no_main]
//! The ingest framer and JSON-to-store mapping (see `ingest_entry::ingest_frames`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlswire_fuzz::ingest_entry::ingest_frames(data));
