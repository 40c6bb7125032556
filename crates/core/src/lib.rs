//! TLS as a pure function of bytes.
//!
//! `tlswire-core` is a TLS session state machine on [rustls]. It does **no I/O**, reads **no
//! clock** and starts **no threads**: bytes from the network go in through
//! [`Session::handle_input`], bytes for the network come out of [`Session::poll_transmit`], and
//! time is an argument ([`Session::handle_timeout`]). Adapters (tokio, futures-io, raw file
//! descriptors, a C ABI) own sockets and the event loop; this crate owns the protocol.
//!
//! # The run loop
//!
//! The one invariant: **after every input, drain every output** — `poll_transmit`,
//! `poll_event`, `read_chunk` — and then wait for the network or for
//! [`Session::poll_timeout`].
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::time::Instant;
//! use tlswire_core::{ClientOptions, Event, ServerTrust, Session};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let roots = tlswire_core::load_roots("ca.crt")?;
//! let config = ClientOptions::new(ServerTrust::Roots(roots.into())).build()?;
//! let mut session = Session::client(config, "localhost")?;
//! let mut tcp = std::net::TcpStream::connect("127.0.0.1:4433")?;
//! session.handle_timeout(Instant::now()); // starts the handshake clock
//! session.write(b"hello")?;
//! let (mut out, mut buf) = (Vec::new(), vec![0u8; 16 * 1024]);
//! loop {
//!     if session.poll_transmit(&mut out) > 0 {
//!         tcp.write_all(&out)?;
//!         out.clear();
//!     }
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::HandshakeComplete(peer) => println!("connected: {:?}", peer.version),
//!             Event::PeerClosed | Event::UnexpectedEof => return Ok(()),
//!             Event::Failed(e) => return Err(e.into()),
//!             _ => {}
//!         }
//!     }
//!     while let Some(chunk) = session.read_chunk() {
//!         std::io::stdout().write_all(chunk)?;
//!         let n = chunk.len();
//!         session.consume(n);
//!     }
//!     let n = tcp.read(&mut buf)?;
//!     if n == 0 {
//!         session.handle_eof(Instant::now());
//!         continue;
//!     }
//!     // handle_input may take less than offered while the read buffer is full: read, then
//!     // offer the rest again.
//!     let mut fed = 0;
//!     while fed < n {
//!         fed += session.handle_input(&buf[fed..n], Instant::now())?;
//!         while let Some(chunk) = session.read_chunk() {
//!             std::io::stdout().write_all(chunk)?;
//!             let len = chunk.len();
//!             session.consume(len);
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! # Serving: one port for plaintext, TLS and mutual TLS
//!
//! [`Accept`] reads a connection's first bytes. If they are not TLS and the [`AcceptPolicy`]
//! allows it, the connection is plaintext and the bytes are handed back for replay. Otherwise
//! it reads the ClientHello (however it is split), picks a [`Site`] from the [`SniPolicy`] by
//! the client's SNI — certificate, client-authentication mode ([`ClientAuth`]) and ALPN — and
//! returns a [`Session`] that has consumed the hello. A refusal comes as a [`Rejection`] with
//! the alert bytes to send.
//!
//! # Buffers and memory
//!
//! The caller owns the output buffer (`poll_transmit(&mut Vec<u8>)`); received plaintext is
//! lent out by [`Session::read_chunk`]. Buffers are bounded by [`Limits`] (writes push back;
//! a full read buffer stops decryption) and released whenever they empty, so an idle session
//! holds only rustls's key state. The session is built on rustls's unbuffered connections,
//! where every buffer belongs to the caller; rustls 0.24 moves its whole API that way.
//!
//! # Panics, errors and unwraps
//!
//! No input — bytes, timing or call order — makes this crate panic. Malformed or hostile
//! input fails the session with an [`Error`] that names the cause (and, when rustls detects
//! it, queues rustls's alert for the peer); a failed session returns the same error from every
//! later call. Every buffer is bounded by [`Limits`], and rustls caps what a peer may repeat
//! without progress (key updates, empty records, warning alerts). Loading
//! configuration fails with a [`ConfigError`] naming the file and the fault.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accept;
mod adapter;
mod client;
mod engine;
mod error;
mod event;
mod hello;
mod pem;
mod policy;
mod server;
mod session;
mod verify;

pub use accept::{sniff, Accept, Decision, RejectReason, Rejection};
pub use adapter::{AcceptError, EofPolicy, UnexpectedEofError};
pub use client::{ClientOptions, ServerTrust};
pub use error::{ConfigError, Error};
pub use event::{Event, Limits, PeerInfo};
pub use hello::{ClientHello, HelloError};
pub use pem::{
    certified_key, certs_from_pem, load_certs, load_identity, load_pinned, load_private_key,
    load_roots, private_key_from_pem, roots_from_pem, IdentityFiles,
};
pub use policy::{AcceptPolicy, SniPolicy};
pub use server::{ClientAuth, ReloadableIdentity, Site, SiteOptions};
pub use session::Session;
pub use verify::{
    DangerousAcceptAnyServer, PinnedCerts, PinnedClientVerifier, PinnedServerVerifier,
};

/// The rustls types this crate's API speaks in.
pub use rustls;

/// Which TLS versions to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.2 and TLS 1.3.
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

impl TlsVersions {
    fn as_rustls(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        match self {
            Self::Both => rustls::ALL_VERSIONS,
            Self::Tls12Only => TLS12,
            Self::Tls13Only => TLS13,
        }
    }
}

/// The crypto provider every configuration here is built with (aws-lc-rs).
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}
