//! tokio streams on the tlswire sans-IO TLS core.
//!
//! `tlswire-tokio` is a thin driver: the TLS protocol lives in [`tlswire_core::Session`], which
//! turns bytes into bytes; this crate moves those bytes between the session and a tokio
//! transport (`TcpStream`, `UnixStream`, `DuplexStream`, anything `AsyncRead + AsyncWrite +
//! Unpin`). It has the shape tokio-rustls users know:
//!
//! - [`TlsConnector::connect`] and [`TlsAcceptor::accept`] run a handshake (within the
//!   [`Limits::handshake_timeout`]) and return a [`TlsStream`];
//! - [`LazyAcceptor::accept`] reads the first bytes of a connection and returns plaintext or a
//!   TLS stream whose certificate and client authentication were chosen by the client's SNI:
//!   one listener for plain, TLS and mutual TLS;
//! - [`TlsStream`] is `AsyncRead + AsyncWrite` (vectored writes included), tells what was
//!   negotiated ([`TlsStream::peer`]) and splits into halves ([`TlsStream::into_split`]) that
//!   two tasks drive independently.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tlswire_core::{load_roots, ClientOptions, ServerTrust};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let roots = load_roots("ca.crt")?;
//! let config = ClientOptions::new(ServerTrust::Roots(Arc::new(roots))).build()?;
//! let connector = tlswire_tokio::TlsConnector::new(config);
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:6379").await?;
//! let mut tls = connector.connect("localhost", tcp).await?;
//! tls.write_all(b"PING\r\n").await?;
//! let mut reply = [0u8; 7];
//! tls.read_exact(&mut reply).await?;
//! assert_eq!(&reply, b"+PONG\r\n");
//! tls.shutdown().await?; // close_notify, then the TCP write side
//! # Ok(()) }
//! ```
//!
//! # Why and when to flush
//!
//! A write hands plaintext to the session, which encrypts it and sends the records at once,
//! as far as the transport takes them. When the socket's send buffer is full, the rest of the
//! ciphertext waits in the stream and the *next* write, read or flush sends it; a write only
//! returns `Pending` (back-pressure) while earlier ciphertext is still waiting. So:
//!
//! - after the last write of a request, call `flush().await` before waiting for the reply:
//!   it returns once every byte written has been handed to the transport (and the transport
//!   flushed). Without it, a request that met a full socket buffer could sit in the stream
//!   while you wait for a reply that cannot come;
//! - `shutdown().await` flushes too, then sends close_notify, waits until the transport took
//!   it (it is never dropped because the send buffer was full), then shuts the transport's
//!   write side;
//! - dropping a stream without `shutdown` sends no close_notify: the peer sees an abrupt close.
//!
//! Reads flush as well: every `poll_read` first sends pending TLS output (key updates,
//! alerts), so a connection that only reads does not leave the peer waiting for them.
//!
//! # End of stream, and "unexpected EOF"
//!
//! A read that returns 0 bytes means end of stream; nothing else does. A peer ends its stream
//! cleanly by sending close_notify (then the read returns `Ok(0)`). If the transport closes
//! *without* close_notify, the data may have been cut short by an attacker or a crash, and by
//! default ([`EofPolicy::Strict`]) the read fails with `io::ErrorKind::UnexpectedEof` (the
//! error inside is [`UnexpectedEofError`]). That is what you want when the length of the data
//! matters and the protocol does not frame it (HTTP/1.0 bodies read to EOF, file transfers).
//!
//! Many peers close abruptly as a habit (HTTP servers with `Connection: close`, `openssl
//! s_server`, crashed clients). If your protocol frames its own messages (HTTP/1.1 with
//! `Content-Length`, Redis RESP, length-prefixed records), a truncation is detected there and
//! [`EofPolicy::Lenient`] turns the abrupt close into `Ok(0)`:
//!
//! ```no_run
//! # fn config() -> std::sync::Arc<tlswire_core::rustls::ClientConfig> { unimplemented!() }
//! use tlswire_tokio::{EofPolicy, TlsConnector};
//! let connector = TlsConnector::new(config()).with_eof_policy(EofPolicy::Lenient);
//! ```
//!
//! # How sniffing works
//!
//! [`LazyAcceptor`] reads the connection's first bytes. A TLS connection opens with a
//! handshake record: byte `0x16`, then major version `3`. Anything else (`GET `, `PING`, a
//! JSON brace) is plaintext: if the [`AcceptPolicy`] allows plaintext, you get
//! [`Accepted::Plaintext`], a [`PlainStream`] that replays the sniffed bytes before the
//! transport's own, so the application sees the connection from its first byte. Otherwise the
//! acceptor reads the whole ClientHello (however the client split it), looks the SNI up in the
//! [`SniPolicy`](tlswire_core::SniPolicy) and runs the handshake with that site's certificate,
//! client authentication and ALPN. A client the policy refuses (unknown name, no common ALPN,
//! plaintext not allowed) is sent an alert and you get [`AcceptError::Rejected`]; a client
//! certificate that does not verify fails the handshake ([`AcceptError::Io`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use tlswire_core::{AcceptPolicy, ClientAuth, IdentityFiles, ReloadableIdentity, Site, SiteOptions, SniPolicy};
//! use tlswire_tokio::{Accepted, LazyAcceptor};
//! use tokio::io::AsyncWriteExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let identity = ReloadableIdentity::from_files(IdentityFiles::new("server.crt", "server.key"))?;
//! let roots = Arc::new(tlswire_core::load_roots("clients-ca.crt")?);
//! let mut sni = SniPolicy::new();
//! sni.insert("mtls.example.com", Site::new(identity.clone(),
//!     SiteOptions::default().with_client_auth(ClientAuth::Required(roots)))?)?;
//! sni.set_default(Site::new(identity, SiteOptions::default())?);
//! let acceptor = LazyAcceptor::new(Arc::new(AcceptPolicy::new(sni).allow_plaintext(true)));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let (tcp, _) = listener.accept().await?;
//! match acceptor.accept(tcp).await? {
//!     Accepted::Plaintext(mut plain) => plain.write_all(b"plaintext\n").await?,
//!     Accepted::Tls(mut tls) => {
//!         let client_cert = tls.peer().certificates.first().cloned();
//!         tls.write_all(format!("TLS, client cert: {}\n", client_cert.is_some()).as_bytes()).await?;
//!         tls.shutdown().await?;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Split halves
//!
//! [`TlsStream::into_split`] gives a [`ReadHalf`] and a [`WriteHalf`] for two tasks. The TLS
//! state sits behind a mutex held only inside one `poll_*` call (never across an `.await`),
//! and the two halves keep separate wakers for the transport's write readiness, so both
//! peers writing large amounts at once does not deadlock, and a read that sends a key update
//! does not steal the writer's wake-up. (`tokio::io::split` on a `TlsStream` works too.)
//!
//! # 0-RTT early data
//!
//! Servers accept early data when the site's `max_early_data_size` is set
//! (`SiteOptions::max_early_data_size`, or `ServerConfig::max_early_data_size`): it is read
//! first from the accepted stream, and [`TlsStream::received_early_data`] says whether it came.
//! Early data can be replayed by an attacker; use it only for idempotent requests. Sending
//! early data as a client is not supported yet: the core's client session has no 0-RTT API,
//! so a client always waits for the handshake before its first byte of data.
//!
//! # Memory
//!
//! An idle connection holds no buffers of its own: reads go through a stack buffer for the
//! length of one call, ciphertext waiting for the transport is freed once sent, and the core
//! releases its buffers when they empty. What remains is rustls's key state.
//!
//! # Panics, errors and unwraps
//!
//! Nothing here panics on any input. Errors are `io::Error`s whose kind says what happened
//! (`TimedOut`, `UnexpectedEof`, `InvalidData` for TLS protocol and certificate failures,
//! `BrokenPipe` for writing after close) and whose inner error is the core's
//! [`tlswire_core::Error`] (reach it with `get_ref()` and `downcast_ref`).
#![warn(missing_docs)]

mod conn;
mod connect;
mod lazy;
mod stream;

pub use connect::{Handshake, TlsAcceptor, TlsConnector};
pub use lazy::{Accepted, LazyAcceptor, PlainStream, Sniffed};
pub use stream::{ReadHalf, ReuniteError, TlsStream, WriteHalf};

pub use tlswire_core;
pub use tlswire_core::{
    AcceptError, AcceptPolicy, EofPolicy, Limits, PeerInfo, UnexpectedEofError,
};
