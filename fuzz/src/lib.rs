//! The fuzzed entry points, shared by the targets in `fuzz_targets/` and by the corpus replay
//! tests in the workspace (which include the same files with `#[path]`).

pub mod core_entry;
pub mod ffi_entry;
pub mod ingest_entry;
pub mod proxy_entry;
