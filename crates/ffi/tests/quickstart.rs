//! docs/c.md works as written: its install step, its `hello.c`, and its compile commands
//! (dynamic and static, through pkg-config), run against a local `openssl s_server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use tlswire_testkit::{require_program, temp_dir, OpensslServer, TestPki};

mod common;

/// The fenced code blocks of a Markdown file, as (language, body).
fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

fn bash(script: &str, dir: &Path, home: &Path) {
    let output = Command::new(require_program("bash"))
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("HOME", home)
        .env("TLSWIRE_LIB_DIR", common::lib_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docs/c.md step failed:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn c_quickstart_works_as_written() {
    require_program("pkg-config");
    require_program("cc");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(repo.join("docs/c.md")).unwrap();
    let blocks = code_blocks(&doc);
    let shell: Vec<&str> = blocks
        .iter()
        .filter(|(lang, _)| lang == "sh")
        .map(|(_, b)| b.as_str())
        .collect();
    let c: Vec<&str> = blocks
        .iter()
        .filter(|(lang, _)| lang == "c")
        .map(|(_, b)| b.as_str())
        .collect();
    assert_eq!(
        (shell.len(), c.len()),
        (2, 1),
        "docs/c.md: expected install, build and hello.c blocks"
    );

    let home = temp_dir("ffi-quickstart");
    // Step 1, in the checkout: install under $HOME/.local (from the libraries of this test run).
    bash(shell[0], &repo, &home);
    // Step 2: hello.c, compiled dynamically and statically; running it against the internet is
    // replaced by running it against a local server below.
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("hello.c"), c[0]).unwrap();
    let build: String = shell[1]
        .lines()
        .filter(|line| !line.starts_with("./hello"))
        .map(|line| format!("{line}\n"))
        .collect();
    bash(&build, &work, &home);

    let pki = TestPki::new();
    pki.write_all(&home);
    let server = OpensslServer::start(
        &home.join("server.crt"),
        &home.join("server.key"),
        &["-rev", "-quiet"],
    );
    for program in ["hello", "hello-static"] {
        let output = Command::new(work.join(program))
            .args(["127.0.0.1", &server.addr.port().to_string()])
            .arg(home.join("ca.crt"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("0.1/PTTH / TEG"),
            "{program}: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
