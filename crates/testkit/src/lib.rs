//! Test support for tlswire: certificates made with rcgen, an in-memory client/server
//! [`Pair`] with a fake clock, and real peer processes (`openssl s_server`, `openssl s_client`)
//! on free loopback ports.
//!
//! A test that needs a program which is not installed fails with a message that says how to
//! install it; it never skips silently.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod certs;
mod pair;
mod process;

pub use certs::{TestIdentity, TestPki};
pub use pair::{Pair, Side};
pub use process::{
    free_port, require_program, temp_dir, wait_for_port, ChildGuard, OpensslClient, OpensslServer,
};
