//! The examples run to success (cargo builds them before the tests).

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // This test runs from target/<profile>/deps; examples sit in target/<profile>/examples.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir.join("examples").join(name)
}

#[test]
fn echo_examples_run_on_both_runtimes() {
    for name in ["smol_echo", "async_std_echo"] {
        let path = example(name);
        assert!(path.is_file(), "{} was not built", path.display());
        let output = Command::new(&path).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("echoed: hello over TLS"),
            "{name} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
