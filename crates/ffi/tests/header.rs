//! The committed header matches what cbindgen makes from the sources now.

use std::path::Path;

#[test]
fn committed_header_matches_a_fresh_cbindgen_run() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let path = crate_dir.join("include/tlswire.h");
    if std::env::var_os("TLSWIRE_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/tlswire.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/tlswire.h is out of date with the sources; regenerate it with \
         `TLSWIRE_BLESS=1 cargo test -p tlswire-ffi --test header` and commit it"
    );
}
