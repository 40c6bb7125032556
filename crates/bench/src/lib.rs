//! tlswire's TLS load generator, as a library; `tlswire bench` is its command line.
//!
//! Modes ([`modes`]): `handshake` (full or resumed handshakes per second), `throughput`
//! (MB/s one way or both), `hold` (N connections opened at a ramp rate and held), `redis`
//! (PING/SET/GET with clients and pipelining, like `redis-benchmark --tls`) and `latency`
//! (request/response round trips against an echo server).
//!
//! Every run records into [`stats::Stats`] — an HDR latency histogram, counters, errors by
//! cause and a once-a-second timeline — and ends in a [`Report`] that prints as a table, as
//! JSON or as an SVG chart. Failures (unreachable target, refused handshake, wrong CA) are
//! counted by cause while the run goes on; Ctrl-C ends the run with the partial figures.
//!
//! [`servers`] holds the small echo, sink and source servers the integration tests and
//! `scripts/compare` measure against: over tlswire, over tokio-rustls, plain, and a TLS
//! terminator in front of a plain backend.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use tlswire_bench::{connect::Target, modes, run, tls::ClientTls};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = ClientTls { insecure: true, ..ClientTls::default() }.build()?;
//! let target = Target::resolve("127.0.0.1:4433", Some("localhost"), Some(tls)).await?;
//! let common = modes::Common {
//!     target: Arc::new(target),
//!     limits: run::Limits { duration: Some(std::time::Duration::from_secs(5)), count: None },
//!     display: run::Display { progress: true },
//!     settings: BTreeMap::new(),
//! };
//! let report = modes::handshake::run(&common, &modes::handshake::HandshakeOptions { concurrency: 8 }).await;
//! println!("{}", report.to_table());
//! # Ok(()) }
//! ```

pub mod connect;
pub mod modes;
pub mod report;
pub mod resp;
pub mod run;
pub mod servers;
pub mod stats;
pub mod tls;

pub use report::{Phase, Report};
