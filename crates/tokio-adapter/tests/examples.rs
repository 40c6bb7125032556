//! The examples, run as the programs they are: `curl` against `https_server`, and the
//! `client` example piping through `echo_server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use tlswire_testkit::{require_program, temp_dir, ChildGuard, TestPki};

/// `cargo test` builds the examples next to the test binaries: target/<profile>/examples.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "example binary {} missing; `cargo test -p tlswire-tokio` builds it",
        path.display()
    );
    path
}

/// Starts an example server on port 0 and reads the address it prints.
fn start_server(name: &str, dir: &std::path::Path) -> (ChildGuard, String) {
    let mut child = Command::new(example(name))
        .arg("127.0.0.1:0")
        .arg(dir.join("server.crt"))
        .arg(dir.join("server.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    (ChildGuard(child), addr)
}

#[test]
fn curl_gets_pages_from_the_https_example() {
    let curl = require_program("curl");
    let pki = TestPki::new();
    let dir = temp_dir("tokio-https-example");
    pki.write_all(&dir);
    let (_server, addr) = start_server("https_server", &dir);
    let port = addr.rsplit_once(':').unwrap().1;
    let output = Command::new(curl)
        .args(["--silent", "--show-error", "--max-time", "20"])
        .arg("--cacert")
        .arg(dir.join("ca.crt"))
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        // Two requests on one kept-alive connection.
        .arg(format!("https://localhost:{port}/one"))
        .arg(format!("https://localhost:{port}/two"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout,
        "hello from tlswire over TLS; you asked for /one\n\
         hello from tlswire over TLS; you asked for /two\n"
    );
}

#[test]
fn client_example_echoes_through_the_echo_server_example() {
    let pki = TestPki::new();
    let dir = temp_dir("tokio-echo-example");
    pki.write_all(&dir);
    let (_server, addr) = start_server("echo_server", &dir);
    let port = addr.rsplit_once(':').unwrap().1;
    let mut client = Command::new(example("client"))
        .arg(format!("localhost:{port}"))
        .arg(dir.join("ca.crt"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"round trip through two examples\n")
        .unwrap();
    // stdin is closed here: the client sends close_notify, the server echoes and closes.
    let output = client.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "round trip through two examples\n"
    );
}
