//! Test support for tlswire: certificates made with rcgen, an in-memory client/server
//! [`Pair`] with a fake clock, and real peer processes (`openssl s_server`, `openssl s_client`)
//! on free loopback ports; backends, clients and admin requests for the proxy's tests; and
//! the replay of the fuzz corpora; clients that damage their handshake on purpose.
//!
//! A test that needs a program which is not installed fails with a message that says how to
//! install it; it never skips silently.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod certs;
mod corpus;
mod damage;
mod pair;
mod process;
mod proxy_peers;

pub use certs::{TestIdentity, TestPki};
pub use corpus::replay_corpus;
pub use damage::{closed_by_server, damaged_connection, Damage, DAMAGES};
pub use pair::{Pair, Side};
pub use process::{
    free_port, require_program, temp_dir, wait_for_port, ChildGuard, OpensslClient, OpensslServer,
};
pub use proxy_peers::{
    admin_get, metric, metric_sum, read_line, tag_and_echo, tag_via, tls_connect, wait_ready,
    Backend, Behaviour,
};
