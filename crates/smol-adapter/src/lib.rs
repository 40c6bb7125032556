//! TLS streams for futures-io: smol, async-std, async-net or any `AsyncRead + AsyncWrite`
//! transport, on the sans-IO [`tlswire_core`].
//!
//! The API has the shape of tlswire-tokio (and of tokio-rustls): [`TlsConnector`],
//! [`TlsAcceptor`], [`LazyAcceptor`] for one listener serving plaintext, TLS and mutual TLS,
//! and [`TlsStream`] with `AsyncRead`/`AsyncWrite`, vectored writes, [`TlsStream::peer`] and
//! [`TlsStream::into_split`]. The only runtime piece it uses is `async_io::Timer` for the
//! handshake timeout, which works under any executor.
//!
//! ```no_run
//! use smol::io::{AsyncReadExt, AsyncWriteExt};
//! use tlswire_core::{load_roots, ClientOptions, ServerTrust};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let config = ClientOptions::new(ServerTrust::Roots(load_roots("ca.crt")?.into())).build()?;
//!     let tcp = smol::net::TcpStream::connect("127.0.0.1:4433").await?;
//!     let mut tls = tlswire_smol::TlsConnector::new(config).connect("localhost", tcp).await?;
//!     tls.write_all(b"hello\n").await?;
//!     tls.flush().await?;
//!     let mut line = [0u8; 6];
//!     tls.read_exact(&mut line).await?;
//!     tls.close().await?; // close_notify, then the TCP write side
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Why and when to flush
//!
//! A `TlsStream` writes like a `BufWriter` one TLS record (16 KiB) long: once a record's worth
//! is buffered, `write` encrypts it and hands it to the transport, but less than that waits, so
//! that many small writes share one record instead of paying a header, a MAC and a syscall
//! each. What is waiting goes out when you
//! - call `flush` — do it whenever you are done writing for now and the peer should see it,
//!   for example after a request and before waiting for its reply;
//! - read: every read first hands everything pending (buffered plaintext, key-update replies,
//!   alerts) to the transport, as far as it takes it without waiting (a write half blocked on a
//!   full socket sends it instead), so a request/response protocol that reads after writing
//!   works without `flush`;
//! - call `close`, which flushes before sending close_notify.
//!
//! `flush` returns once every byte is on the transport (and the transport flushed), so it is
//! also how to wait for a slow peer to take data. A write never waits for a read, and a read
//! never waits for a write, so two peers writing large amounts at each other do not deadlock
//! as long as each side keeps reading (for example from two tasks: [`TlsStream::into_split`]).
//!
//! # Unexpected EOF
//!
//! TLS marks the end of data with a close_notify alert, so a reader can tell the end of the
//! stream from a connection cut short. A read returns
//! - `Ok(0)` when the peer sent close_notify (a clean end of stream), and
//! - an `io::Error` of kind `UnexpectedEof` when the transport closed without it (a 0-byte
//!   transport read after the handshake). The data received is authentic but may be
//!   truncated: a crashed peer, or an attacker who can reset TCP connections, ends it there.
//!
//! Keep the strict default when the stream's end is the message's end (a file, an HTTP/1.0
//! body without a length). Choose [`EofPolicy::Lenient`] ([`TlsConnector::with_eof_policy`],
//! [`TlsStream::set_eof_policy`]) when the protocol frames its own messages (HTTP with
//! `Content-Length`, Redis, length-prefixed records) and you talk to peers that skip
//! close_notify — many do; the read then returns `Ok(0)` for both. A transport closed during
//! the handshake is always an error.
//!
//! ```no_run
//! # async fn run(config: std::sync::Arc<rustls::ClientConfig>) -> std::io::Result<()> {
//! use smol::io::AsyncReadExt;
//! use tlswire_smol::{EofPolicy, TlsConnector, UnexpectedEofError};
//!
//! // Strict (the default): a cut connection is an error you can tell apart.
//! let tcp = smol::net::TcpStream::connect("127.0.0.1:4433").await?;
//! let mut tls = TlsConnector::new(config.clone()).connect("localhost", tcp).await?;
//! let mut body = Vec::new();
//! match tls.read_to_end(&mut body).await {
//!     Ok(_) => println!("complete: {} bytes", body.len()),
//!     Err(e) if e.get_ref().is_some_and(|inner| inner.is::<UnexpectedEofError>()) => {
//!         println!("truncated after {} bytes", body.len())
//!     }
//!     Err(e) => return Err(e),
//! }
//!
//! // Lenient: for a protocol that frames its own messages (Redis, HTTP with Content-Length).
//! let tcp = smol::net::TcpStream::connect("127.0.0.1:6380").await?;
//! let redis = TlsConnector::new(config)
//!     .with_eof_policy(EofPolicy::Lenient)
//!     .connect("localhost", tcp)
//!     .await?;
//! # drop(redis); Ok(()) }
//! ```
//!
//! `close` writes close_notify (waiting for room on the transport if the socket's send buffer
//! is full: it is never dropped) and then closes the transport's write side. Reading can go on
//! until the peer's own close_notify.
//!
//! # Sniffing
//!
//! [`LazyAcceptor`] reads a connection's first bytes. A TLS connection starts with a handshake
//! record: byte `0x16`, then a major version of 3. Text protocols (HTTP, Redis, SMTP) start with
//! a printable byte, so one byte usually decides and two always do. Non-TLS connections become
//! [`Accepted::Plaintext`] if the [`AcceptPolicy`] allows it, with
//! the sniffed bytes replayed before the socket's own; TLS connections are read up to the end
//! of the ClientHello, whose SNI picks a [`Site`](tlswire_core::Site) — certificate,
//! client-authentication mode, ALPN — and then complete the handshake as [`Accepted::Tls`].
//! A refused client (plaintext not allowed, unknown name, wrong client certificate) gets a TLS
//! alert and an [`AcceptError`] naming the cause.
//!
//! # Panics, errors and unwraps
//!
//! Nothing here panics on any input. TLS failures come back as `io::Error`s whose inner error
//! is the core's [`tlswire_core::Error`] (`get_ref()` and downcast), with kinds `InvalidData`
//! (the peer broke the protocol or its certificate did not verify), `TimedOut` (handshake
//! timeout), `UnexpectedEof` (see above) and `BrokenPipe` (writing after `close`).
//!
//! # Known gaps
//!
//! 0-RTT: a server site with `SiteOptions::max_early_data_size` set accepts a resuming
//! client's early data, which reads first like any other data
//! ([`TlsStream::received_early_data`] tells; it is replayable, so use it only for idempotent
//! requests). Sending 0-RTT as a client is not in the core yet.
#![cfg_attr(not(test), warn(missing_docs))]

mod conn;
mod handshake;
mod lazy;
mod stream;

pub use handshake::{TlsAcceptor, TlsConnector};
pub use lazy::{Accepted, LazyAcceptor, PlainStream};
pub use stream::{ReadHalf, ReuniteError, TlsStream, WriteHalf};

pub use tlswire_core;
pub use tlswire_core::{
    AcceptError, AcceptPolicy, EofPolicy, Limits, PeerInfo, UnexpectedEofError,
};
