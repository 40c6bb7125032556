//! tlswire proxy: a TLS-terminating TCP proxy in the shape of linkerd-tcp.
//!
//! `tlswire proxy CONFIG.yml` runs it; this crate is the library behind the command, so tests
//! and other programs can start a proxy in-process with [`Proxy::start`].
//!
//! What it does: listeners that speak TLS, plaintext or both on one port (told apart by the
//! first bytes); a certificate, client-authentication mode and ALPN list per SNI; an ACL on
//! the client certificate; routing by SNI, listener and ALPN; upstreams reached in plaintext
//! or TLS (with SAN verification and an optional client certificate), optionally behind a
//! PROXY protocol header; power-of-two-choices least-connections balancing with weights and
//! fail-fast parking; discovery from static lists, watched files, DNS and namerd; connection
//! limits and timeouts; key rotation on file change and SIGHUP; session-ticket keys shared
//! through a file; an admin HTTP server with Prometheus metrics, readiness and a graceful
//! shutdown.
//!
//! The configuration is documented key by key in `docs/proxy.md`.
//!
//! ```no_run
//! use std::path::Path;
//! use tlswire_proxy::{Config, Proxy};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load(Path::new("examples/proxy/linkerd-tcp.yml"))?;
//! let proxy = Proxy::start(config).await?; // listeners and admin server are bound here
//! println!("admin on {}", proxy.admin_addr());
//! proxy.wait().await; // until POST /shutdown (or begin_shutdown), then a graceful drain
//! # Ok(())
//! # }
//! ```
//!
//! # Panics, errors and unwraps
//!
//! Nothing a peer sends can panic the proxy: a connection that misbehaves fails alone, is
//! counted under `tlswire_proxy_failures_total{cause}` and closed. A bad configuration is a
//! [`ConfigFileError`] naming the file, the key and the line; a file that cannot be used at
//! start (a missing certificate, a port in use) is a [`StartError`] naming the key; a file that
//! turns bad later is logged and the previous version stays in use.

pub mod balancer;
pub mod config;
mod legacy;
pub mod metrics;

pub use config::{Config, ConfigFileError};
pub mod acl;
mod admin;
pub mod discovery;
mod listener;
mod proxy;
pub mod proxy_protocol;
mod relay;
mod reload;
pub mod tickets;
mod tls_setup;

pub use proxy::{run, Proxy, StartError};
