//! tlswire-smol against real loopback sockets, each test on smol and on async-std.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod runtime;

mod accept;
mod examples;
mod interop;
mod server;
mod streams;

use std::sync::OnceLock;
use std::time::Duration;

use tlswire_core::Limits;
use tlswire_smol::{TlsAcceptor, TlsConnector};
use tlswire_testkit::TestPki;

/// One PKI for the whole test binary (key generation is the slow part).
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::new)
}

pub fn connector() -> TlsConnector {
    TlsConnector::new(pki().client_config())
}

pub fn acceptor() -> TlsAcceptor {
    TlsAcceptor::new(pki().server_config())
}

pub fn short_handshake() -> Limits {
    Limits::default().with_handshake_timeout(Duration::from_millis(300))
}

/// A pseudo-random table whose length (a prime) matches no buffer size, so a lost,
/// duplicated or reordered chunk of a test stream is caught.
fn pattern_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut x: u32 = 0x9E37_79B9;
        (0..65_521)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect()
    })
}

/// Fills `out` with bytes `start..start + out.len()` of the stream seeded by `seed`.
pub fn pattern(seed: u8, start: usize, out: &mut [u8]) {
    let table = pattern_table();
    let mut pos = start % table.len();
    let mut filled = 0;
    while filled < out.len() {
        let n = (table.len() - pos).min(out.len() - filled);
        out[filled..filled + n].copy_from_slice(&table[pos..pos + n]);
        filled += n;
        pos = 0;
    }
    for b in out.iter_mut() {
        *b ^= seed;
    }
}
