//! Runs the built `tlswire proxy` binary for the end-to-end tests and reaches it only through
//! its outside interfaces: the log on stderr (the bound addresses of `port: 0` listeners), the
//! admin server (`/ready`, `/metrics`, `POST /shutdown`) and signals.
//!
//! Every log line the proxy writes is kept; a test that fails prints them.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Each test file uses some of these.
#[allow(unused_imports)]
pub use tlswire_testkit::{
    admin_get, metric, read_line, tag_and_echo, tag_via, tls_connect, Backend, Behaviour,
};
use tlswire_testkit::{metric_sum, ChildGuard};
use tokio::sync::mpsc;

/// Bound on the proxy's start: the log lines that name its addresses, then `/ready`.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A `tlswire proxy` child process, killed when dropped.
pub struct ProxyProcess {
    child: ChildGuard,
    admin: SocketAddr,
    listeners: Vec<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

/// Writes `yaml` next to its files in `dir` (relative paths in it resolve against `dir`),
/// starts the binary on it and waits until it is ready.
pub async fn start_proxy(yaml: &str, dir: &Path) -> ProxyProcess {
    static CONFIGS: AtomicUsize = AtomicUsize::new(0);
    let path = dir.join(format!(
        "proxy-{}.yml",
        CONFIGS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlswire"))
        .arg("proxy")
        .arg(&path)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tlswire binary");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            kept.lock().unwrap().push(line.clone());
            // Nobody listens once the proxy has started; the log is still kept.
            let _ = lines_tx.send(line);
        }
    });
    let mut proxy = ProxyProcess {
        child: ChildGuard(child),
        admin: SocketAddr::from(([0, 0, 0, 0], 0)),
        listeners: Vec::new(),
        log,
    };
    let started = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.recv().await {
            if line.contains("admin server listening ") {
                return field_addr(&line, "admin_addr=");
            }
            if line.contains(": listening listener=") {
                proxy.listeners.push(field_addr(&line, "addr=")?);
            }
        }
        None
    })
    .await;
    match started {
        Ok(Some(admin)) => proxy.admin = admin,
        Ok(None) => {
            let exit = proxy.child.0.wait().unwrap();
            proxy.fail(&format!("the proxy exited while starting ({exit})"));
        }
        Err(_) => proxy.fail("the proxy did not log its admin address in time"),
    }
    tlswire_testkit::wait_ready(proxy.admin).await;
    proxy
}

/// The address in the `name=IP:PORT` field of a log line.
fn field_addr(line: &str, name: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(name))
        .and_then(|addr| addr.parse().ok())
}

/// The address of the proxy's `n`th listener, in configuration order.
pub fn listener(proxy: &ProxyProcess, n: usize) -> SocketAddr {
    proxy.listeners[n]
}

/// Waits until the admin server reports ready (every balancer has endpoints).
pub async fn wait_ready(proxy: &ProxyProcess) {
    tlswire_testkit::wait_ready(proxy.admin).await;
}

impl ProxyProcess {
    /// The admin server's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = admin_get(self.admin, "/metrics", "GET").await;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        body
    }

    /// `tlswire_proxy_failures_total{cause="CAUSE"}`, 0 when not yet counted.
    pub async fn failure_count(&self, cause: &str) -> u64 {
        let prefix = format!("tlswire_proxy_failures_total{{cause=\"{cause}\"}}");
        metric(&self.metrics().await, &prefix).unwrap_or(0.0) as u64
    }

    /// Completed client handshakes.
    pub async fn handshake_count(&self) -> u64 {
        let metrics = self.metrics().await;
        metric(&metrics, "tlswire_proxy_handshake_seconds_count").unwrap_or(0.0) as u64
    }

    /// Connections refused at `maxConcurrency`.
    pub async fn refused_count(&self) -> u64 {
        metric(&self.metrics().await, "tlswire_proxy_refused_total").unwrap_or(0.0) as u64
    }

    /// File reloads of every kind that succeeded (`ok`) or failed.
    pub async fn reload_count(&self, ok: bool) -> u64 {
        let result = if ok {
            "result=\"ok\""
        } else {
            "result=\"failed\""
        };
        let metrics = self.metrics().await;
        metric_sum(&metrics, "tlswire_proxy_reloads_total{", result) as u64
    }

    /// Sends SIGHUP (reload every file now) and waits until the reloads are counted; returns
    /// how many of them failed, as `Proxy::reload` does.
    pub async fn reload(&self) -> u64 {
        let (ok, failed) = (
            self.reload_count(true).await,
            self.reload_count(false).await,
        );
        self.signal("HUP");
        for _ in 0..500 {
            let now = (
                self.reload_count(true).await,
                self.reload_count(false).await,
            );
            if now.0 + now.1 > ok + failed {
                return now.1 - failed;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.fail("SIGHUP reloaded nothing");
    }

    /// Sends `SIGNAL` (such as `HUP` or `TERM`) with procps' `kill`.
    pub fn signal(&self, signal: &str) {
        let kill = tlswire_testkit::require_program("kill");
        let status = Command::new(kill)
            .arg(format!("-{signal}"))
            .arg(self.child.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed: {status}");
    }

    /// Waits until a drain has begun: `/ready` answers 503.
    pub async fn wait_draining(&self) {
        for _ in 0..500 {
            if admin_get(self.admin, "/ready", "GET").await.0 == 503 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.fail("the proxy never began to drain");
    }

    /// Waits (up to `timeout`) for the proxy to exit after a shutdown request; returns its
    /// exit status.
    pub async fn wait_exit(mut self, timeout: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                return status;
            }
            if tokio::time::Instant::now() >= deadline {
                self.fail(&format!("the proxy did not exit within {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the proxy has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Fails the test; dropping `self` while panicking prints the log.
    fn fail(&self, why: &str) -> ! {
        panic!("{why}; the proxy's log follows");
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- the proxy's log ---\n{}\n--- end ---", self.log());
        }
    }
}
