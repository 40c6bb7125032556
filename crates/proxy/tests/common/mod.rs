//! An in-process proxy starter for the tests that need the library's view of the proxy
//! (hostile input, DNS discovery); backends and clients come from `tlswire_testkit`. The
//! end-to-end tests run the built binary instead (`crates/cli/tests/proxy_*.rs`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;

use tlswire_proxy::{Config, Proxy};
// Each test file uses some of these.
#[allow(unused_imports)]
pub use tlswire_testkit::{
    admin_get, read_line, tag_and_echo, tag_via, tls_connect, Backend, Behaviour,
};

/// Starts a proxy from YAML; relative paths resolve against `dir`.
pub async fn start_proxy(yaml: &str, dir: &Path) -> Proxy {
    let config = Config::from_yaml(yaml, Path::new("test.yml"), dir)
        .unwrap_or_else(|e| panic!("bad test config: {e}\n{yaml}"));
    Proxy::start(config)
        .await
        .unwrap_or_else(|e| panic!("proxy did not start: {e}"))
}

/// The address of the proxy's `n`th listener.
pub fn listener(proxy: &Proxy, n: usize) -> SocketAddr {
    proxy.listen_addrs()[n].1
}

/// Waits until the admin server reports ready (every balancer has endpoints).
pub async fn wait_ready(proxy: &Proxy) {
    tlswire_testkit::wait_ready(proxy.admin_addr()).await;
}
