#![no_main]
//! An established client session driven by a script of honest, tampered and raw server input
//! (see `core_entry::established_script`).

use tlswire_fuzz::core_entry::{established_script, Under};

libfuzzer_sys::fuzz_target!(|data: &[u8]| established_script(Under::Client, data));
