//! Drives a [`tlswire_core::Session`] over anything that is `std::io::Read + Write`: a
//! `TcpStream`, a `UnixStream`, or a raw file descriptor turned into one with `FromRawFd`.
//!
//! The core does no I/O; this crate does the I/O and nothing else. It works with blocking and
//! non-blocking streams alike: a `WouldBlock` from the stream becomes read or write
//! [`Interest`], which a caller waits on with [`FdSession::wait`] (poll(2)) or in its own event
//! loop (the raw fd and the interest are all it needs). It starts no threads and keeps no global
//! state.
//!
//! # The run loop
//!
//! After every wake-up call [`FdSession::pump`]: it sends pending ciphertext, reads once from
//! the stream, feeds the session, and records events. Then read plaintext, write plaintext, and
//! wait for [`FdSession::interest`].
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use tlswire_core::{ClientOptions, ServerTrust, Session};
//! use tlswire_fd::FdSession;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let roots = tlswire_core::load_roots("ca.crt")?;
//! let config = ClientOptions::new(ServerTrust::Roots(roots.into())).build()?;
//! let session = Session::client(config, "localhost")?;
//! // Blocking: FdSession is a Read + Write stream.
//! let mut tls = FdSession::new(session, TcpStream::connect("127.0.0.1:4433")?);
//! tls.write_all(b"ping\n")?;
//! tls.flush()?; // writes are buffered until a flush, a read, or 16 KiB
//! let mut reply = [0u8; 64];
//! let n = tls.read(&mut reply)?;
//! println!("{:?}", &reply[..n]);
//! # Ok(()) }
//! ```
//!
//! # Questions users ask
//!
//! - *Why must I flush?* `write` buffers plaintext so small writes share TLS records; the
//!   ciphertext goes out on `flush`, on the next `read`, or when a full record is ready.
//! - *Why did I get `UnexpectedEof`?* The peer closed the transport without sending TLS
//!   close_notify, so the data may have been cut short by an attacker or a crash. It is
//!   [`Error::UnexpectedEof`]; [`FdSession::set_lenient_eof`] treats it as a clean end.
//! - *Can both sides write large amounts at once?* With non-blocking streams, yes: reading and
//!   writing progress independently. A blocking stream blocks in `write` while the peer does not
//!   read, as any blocking socket does.
//!
//! # Panics, errors and unwraps
//!
//! Nothing here panics on any input. Stream errors and TLS errors come back as [`Error`]
//! (or as `std::io::Error` through the `Read`/`Write` impls); the first error ends the session
//! and is returned again by every later call.

mod error;
mod poll;
mod session;

pub use error::Error;
pub use poll::{poll_fd, Interest};
pub use session::{FdSession, Progress};
pub use tlswire_core;
