//! Real peer processes on loopback, and small helpers for tests that use them.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Finds `program` on PATH or fails the test with an install hint.
pub fn require_program(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{program}` is not installed; run scripts/test, which installs the test prerequisites");
}

/// A loopback port that was free a moment ago, and that this process has not handed out before.
///
/// The kernel may give a just-released port to the next `bind(0)`; two tests running in
/// parallel would then start their peers on the same port, and one would talk to the other's
/// server. Remembering every port handed out rules that out within a test binary.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// Waits until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {addr} after {timeout:?}");
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tlswire-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills the child when dropped, so a failing test leaves no process behind.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl s_server` on a free loopback port.
pub struct OpensslServer {
    pub addr: SocketAddr,
    pub child: ChildGuard,
}

impl OpensslServer {
    /// Starts `openssl s_server -cert CERT -key KEY <extra>` on a free port.
    ///
    /// Put `-rev` (answers each line reversed) or `-www` (answers `GET /` with a status page)
    /// in `extra` for the server to answer at all: without them s_server only relays its
    /// stdin, which is null here.
    pub fn start(cert: &Path, key: &Path, extra: &[&str]) -> Self {
        let openssl = require_program("openssl");
        let port = free_port();
        let child = Command::new(openssl)
            .arg("s_server")
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl s_server");
        let child = ChildGuard(child);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_for_port(addr, Duration::from_secs(10));
        Self { addr, child }
    }
}

/// `openssl s_client` connected to a server, with piped stdin and stdout.
pub struct OpensslClient {
    pub child: ChildGuard,
}

impl OpensslClient {
    pub fn start(addr: SocketAddr, extra: &[&str]) -> Self {
        let openssl = require_program("openssl");
        let child = Command::new(openssl)
            .arg("s_client")
            .args(["-connect", &addr.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn openssl s_client");
        Self {
            child: ChildGuard(child),
        }
    }
}
