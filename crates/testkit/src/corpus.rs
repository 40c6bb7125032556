//! Replaying the checked-in fuzz corpora (`fuzz/corpus/<target>/`) in `cargo test`, so every
//! input the fuzzer kept, and every crash it ever found, is rerun without cargo-fuzz.

use std::path::PathBuf;

/// Runs `entry` (the function the fuzz target calls) on every file of `target`'s corpus, in
/// name order. A panic names the file that caused it and what it said; an empty or missing
/// corpus fails too, so a renamed target cannot silently replay nothing.
pub fn replay_corpus(target: &str, entry: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for file in files {
        let data = std::fs::read(&file).expect("corpus file");
        if let Err(payload) = std::panic::catch_unwind(|| entry(&data)) {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            panic!(
                "{target}: {} crashes the entry point: {message}",
                file.display()
            );
        }
    }
}
