#![no_main]
//! An established server session driven by a script of honest, tampered and raw client input
//! (see `core_entry::established_script`).

use tlswire_fuzz::core_entry::{established_script, Under};

libfuzzer_sys::fuzz_target!(|data: &[u8]| established_script(Under::Server, data));
