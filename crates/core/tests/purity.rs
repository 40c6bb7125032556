//! The core stays pure: no async runtime, libc or socket crate among its dependencies, and no
//! clock, socket, thread or process in its source outside `#[cfg(test)]`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use std::path::Path;
use std::process::Command;

/// Crates that would mean the core does I/O, talks to the OS directly or needs a runtime.
const FORBIDDEN_CRATES: &[&str] = &[
    "tokio",
    "futures",
    "futures-util",
    "futures-io",
    "futures-core",
    "mio",
    "async-io",
    "async-std",
    "smol",
    "libc",
    "socket2",
    "nix",
];

/// The normal (non-dev, non-build) dependency tree of tlswire-core, one crate name a line.
fn dependency_names(features: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "-p", "tlswire-core", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .args(features)
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_runtime_libc_or_socket_crate_in_the_dependency_tree() {
    let names = dependency_names(&[]);
    assert!(
        names.iter().any(|n| n == "rustls"),
        "tree looks wrong: {names:?}"
    );
    let found: Vec<_> = names
        .iter()
        .filter(|n| FORBIDDEN_CRATES.contains(&n.as_str()))
        .collect();
    assert!(found.is_empty(), "tlswire-core depends on {found:?}");
}

/// `rustls-platform-verifier` reads the OS trust store and stays behind a non-default feature.
/// On Linux it brings rustls-native-certs and openssl-probe, and none of the crates above;
/// should an upgrade change that, this fails and the feature's docs need a word.
#[test]
fn the_platform_verifier_feature_is_off_by_default() {
    let default = dependency_names(&[]);
    assert!(!default.iter().any(|n| n == "rustls-platform-verifier"));
    let with = dependency_names(&["--features", "platform-verifier"]);
    assert!(with.iter().any(|n| n == "rustls-platform-verifier"));
    let found: Vec<_> = with
        .iter()
        .filter(|n| FORBIDDEN_CRATES.contains(&n.as_str()))
        .collect();
    assert!(found.is_empty(), "platform-verifier pulls in {found:?}");
}

/// Source patterns that read a clock, open a socket, start a thread or a process, or sleep.
const FORBIDDEN_SOURCE: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "UNIX_EPOCH",
    "std::net",
    "TcpStream",
    "TcpListener",
    "UdpSocket",
    "std::thread",
    "thread::spawn",
    "thread::sleep",
    "std::process",
    "std::fs::File::create",
    "tokio",
];

/// The lines of a source file that are compiled outside tests: comments and everything from
/// the first `#[cfg(test)]` on are dropped (test modules sit at the end of each file).
fn non_test_code(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source
        .lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(i, line)| (i + 1, line))
}

#[test]
fn the_source_reads_no_clock_and_opens_no_socket_or_thread() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offences = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let source = std::fs::read_to_string(&path).unwrap();
        for (number, line) in non_test_code(&source) {
            for pattern in FORBIDDEN_SOURCE {
                if line.contains(pattern) {
                    offences.push(format!("{}:{number}: {pattern}", path.display()));
                }
            }
        }
    }
    assert!(
        files >= 10,
        "only {files} source files found in {}",
        src.display()
    );
    assert!(offences.is_empty(), "impure code:\n{}", offences.join("\n"));
}
