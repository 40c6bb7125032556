//! Compiles the C tests in `tests/c/` against the committed header with the system C compiler,
//! links them statically and dynamically, and runs them — plain, under AddressSanitizer and
//! under valgrind — against tlswire servers and `openssl s_server`. Also: the header compiles
//! as C++, the shared library exports only `tlswire_` symbols, and the Python ctypes example
//! works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use tlswire_testkit::{require_program, temp_dir, OpensslServer, TestPki};

mod common;
use common::lib_dir;

/// Libraries a Rust staticlib needs from the system (`rustc --print native-static-libs`).
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];
const CFLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"];

struct Fixture {
    /// Test certificates written as PEM files.
    certs: PathBuf,
    /// Where the compiled C programs go.
    build: PathBuf,
    /// The directory holding libtlswire_ffi.so and libtlswire_ffi.a.
    lib_dir: PathBuf,
    pki: TestPki,
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pki = TestPki::new();
        let certs = temp_dir("ffi-certs");
        pki.write_all(&certs);
        Fixture {
            certs,
            build: temp_dir("ffi-build"),
            lib_dir: lib_dir(),
            pki,
        }
    })
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Compiles the C test program once per variant and returns its path.
fn compile(variant: &str) -> PathBuf {
    let f = fixture();
    let cc = require_program("cc");
    let out = f.build.join(format!("tlswire_test_{variant}"));
    let mut cmd = Command::new(cc);
    cmd.args(CFLAGS)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c/tlswire_test.c"))
        .arg("-o")
        .arg(&out);
    match variant {
        "dynamic" => {
            cmd.arg("-L")
                .arg(&f.lib_dir)
                .arg("-ltlswire_ffi")
                .arg(format!("-Wl,-rpath,{}", f.lib_dir.display()));
        }
        "static" | "asan" => {
            if variant == "asan" {
                cmd.args(["-fsanitize=address", "-fno-omit-frame-pointer"]);
            }
            cmd.arg(f.lib_dir.join("libtlswire_ffi.a"))
                .args(NATIVE_LIBS);
        }
        other => panic!("unknown variant {other}"),
    }
    run(&mut cmd);
    out
}

/// Runs the C tests (optionally under a wrapper such as valgrind) against a fresh
/// `openssl s_server -rev`, and checks every test passed.
fn run_c_tests(program: &Path, wrapper: &[&str], envs: &[(&str, &str)]) {
    let f = fixture();
    let (cert, key) = f.pki.server.write(&f.certs, "openssl_server");
    let server = OpensslServer::start(&cert, &key, &["-rev", "-quiet"]);
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(require_program(first));
            cmd.args(rest).arg(program);
            cmd
        }
        None => Command::new(program),
    };
    cmd.arg(&f.certs).arg(server.addr.port().to_string());
    cmd.envs(envs.iter().copied());
    let output = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("0 failure(s)"), "{stdout}");
    assert_eq!(stdout.matches("ok  ").count(), 11, "{stdout}");
}

#[test]
fn c_tests_linked_statically() {
    run_c_tests(&compile("static"), &[], &[]);
}

#[test]
fn c_tests_linked_dynamically() {
    run_c_tests(&compile("dynamic"), &[], &[]);
}

#[test]
fn c_tests_under_address_sanitizer() {
    run_c_tests(
        &compile("asan"),
        &[],
        &[(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:exitcode=86",
        )],
    );
}

#[test]
fn c_tests_under_valgrind() {
    run_c_tests(
        &compile("dynamic"),
        &[
            "valgrind",
            "--quiet",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
        ],
        &[],
    );
}

#[test]
fn header_compiles_as_cpp() {
    let gxx = require_program("g++");
    let out = fixture().build.join("header_cpp");
    run(Command::new(gxx)
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-fsyntax-only",
        ])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c/header_cpp.cpp"))
        .arg("-o")
        .arg(out));
}

#[test]
fn shared_library_exports_only_tlswire_symbols() {
    let nm = require_program("nm");
    let output = run(Command::new(nm)
        .args(["-D", "--defined-only"])
        .arg(fixture().lib_dir.join("libtlswire_ffi.so")));
    let symbols: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().last().map(str::to_owned))
        .collect();
    assert!(
        symbols.iter().any(|s| s == "tlswire_connect"),
        "{symbols:?}"
    );
    let foreign: Vec<&String> = symbols
        .iter()
        .filter(|s| !s.starts_with("tlswire_"))
        .collect();
    assert!(
        foreign.is_empty(),
        "exported symbols without the tlswire_ prefix: {foreign:?}"
    );
}

#[test]
fn python_ctypes_example_connects_writes_waits_and_reads() {
    let f = fixture();
    let python = require_program("python3");
    let (cert, key) = f.pki.server.write(&f.certs, "python_server");
    let server = OpensslServer::start(&cert, &key, &["-rev", "-quiet"]);
    let example = crate_dir().join("../../examples/python/tlswire_client.py");
    let output = run(Command::new(python)
        .arg(example)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(server.addr.port().to_string())
        .arg("--ca")
        .arg(f.certs.join("ca.crt"))
        .args(["--message", "hello from python"])
        .env("TLSWIRE_LIB", f.lib_dir.join("libtlswire_ffi.so")));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("nohtyp morf olleh"), "{stdout}");
}
