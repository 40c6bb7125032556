//! What the integration tests share: where cargo put the C libraries.

use std::path::PathBuf;

/// The directory with the libtlswire_ffi.so and libtlswire_ffi.a that cargo built for this test
/// run: target/<profile>/, next to deps/.
pub(crate) fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [deps.parent().unwrap().to_path_buf(), deps.to_path_buf()];
    candidates
        .into_iter()
        .find(|dir| {
            dir.join("libtlswire_ffi.so").is_file() && dir.join("libtlswire_ffi.a").is_file()
        })
        .expect("cargo built libtlswire_ffi.so and libtlswire_ffi.a next to the test binary")
}
