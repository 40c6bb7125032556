//! Connecting without blocking the caller: numeric hosts connect at once, other names are
//! resolved on a helper thread; each address is tried with a non-blocking connect.
//!
//! The file descriptor a host polls keeps its number from `tlswire_connect` on: while the name
//! is resolved it is the read end of a pipe that the resolver closes when it is done, and each
//! connection attempt's socket is `dup3`'d onto that number. Hosts that cache the number in a
//! poll(2) loop keep working; hosts that register the fd with epoll should register it again
//! after it became ready once while `tlswire_interest` changed (see docs/c.md).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tlswire_fd::{poll_fd, Interest};

use crate::error::{FfiError, TLSWIRE_ERROR_CONNECT, TLSWIRE_ERROR_RESOLVE};

enum Stage {
    /// Waiting for the resolver thread.
    Lookup(Receiver<io::Result<Vec<SocketAddr>>>),
    /// A non-blocking connect to `addr` is in flight; `rest` are tried next.
    Connecting {
        addr: SocketAddr,
        rest: VecDeque<SocketAddr>,
    },
}

/// A connection on its way: resolving, then connecting.
pub(crate) struct Dialing {
    /// The pipe's read end while resolving, then the socket of the current attempt.
    fd: OwnedFd,
    stage: Stage,
    host: String,
    port: u16,
    /// The last attempt's error, for the message when every address failed.
    last_error: Option<String>,
}

impl Dialing {
    /// Starts connecting to `host:port` without blocking.
    pub(crate) fn start(host: &str, port: u16) -> Result<Self, FfiError> {
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            let addr = SocketAddr::new(ip, port);
            let socket = start_attempt(addr).map_err(|e| connect_error(host, port, &e))?;
            return Ok(Self {
                fd: socket.into(),
                stage: Stage::Connecting {
                    addr,
                    rest: VecDeque::new(),
                },
                host: host.to_owned(),
                port,
                last_error: None,
            });
        }
        let resolve_error = |e: io::Error| {
            FfiError::new(
                TLSWIRE_ERROR_RESOLVE,
                format!("cannot start resolving {host:?}: {e}"),
            )
        };
        let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| resolve_error(e.into()))?;
        let (tx, rx) = mpsc::channel();
        let name = host.to_owned();
        std::thread::Builder::new()
            .name("tlswire-resolve".into())
            .spawn(move || {
                let result = (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect);
                let _ = tx.send(result);
                // Closing the write end makes the read end readable: the host's poll wakes.
                drop(write_end);
            })
            .map_err(resolve_error)?;
        Ok(Self {
            fd: read_end,
            stage: Stage::Lookup(rx),
            host: host.to_owned(),
            port,
            last_error: None,
        })
    }

    /// The descriptor to poll; its number never changes.
    pub(crate) fn pollfd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// What to poll it for.
    pub(crate) fn interest(&self) -> Interest {
        match self.stage {
            Stage::Lookup(_) => Interest {
                read: true,
                write: false,
            },
            Stage::Connecting { .. } => Interest {
                read: false,
                write: true,
            },
        }
    }

    /// Waits up to `limit` for the current stage to make progress.
    pub(crate) fn wait(&self, limit: Option<Duration>) -> io::Result<Interest> {
        poll_fd(self.fd.as_fd(), self.interest(), limit)
    }

    /// Advances without blocking; true once connected (then take [`into_stream`](Self::into_stream)).
    pub(crate) fn poll(&mut self) -> Result<bool, FfiError> {
        // Bounded by the number of addresses: each round starts the next one or returns.
        loop {
            match &mut self.stage {
                Stage::Lookup(rx) => match rx.try_recv() {
                    Err(TryRecvError::Empty) => return Ok(false),
                    Err(TryRecvError::Disconnected) => {
                        return Err(self.resolve_failed("the resolver thread ended"))
                    }
                    Ok(Err(e)) => return Err(self.resolve_failed(&e.to_string())),
                    Ok(Ok(addrs)) => {
                        let mut rest: VecDeque<SocketAddr> = addrs.into();
                        if !self.next_attempt(&mut rest) {
                            return Err(self.all_failed());
                        }
                    }
                },
                Stage::Connecting { addr, rest } => {
                    let ready = poll_fd(
                        self.fd.as_fd(),
                        Interest {
                            read: false,
                            write: true,
                        },
                        Some(Duration::ZERO),
                    )
                    .map_err(|e| connect_error(&self.host, self.port, &e))?;
                    if ready.is_none() {
                        return Ok(false);
                    }
                    let outcome = SockRef::from(&self.fd).take_error();
                    let failure = match outcome {
                        Ok(None) => return Ok(true),
                        Ok(Some(e)) | Err(e) => e,
                    };
                    let addr = *addr;
                    let mut rest = std::mem::take(rest);
                    tracing::debug!(%addr, error = %failure, "connect attempt failed");
                    self.last_error = Some(format!("{addr}: {failure}"));
                    if !self.next_attempt(&mut rest) {
                        return Err(self.all_failed());
                    }
                }
            }
        }
    }

    /// The connected socket.
    pub(crate) fn into_stream(self) -> TcpStream {
        TcpStream::from(self.fd)
    }

    /// Starts the next address's attempt on this descriptor number; false when none is left.
    fn next_attempt(&mut self, rest: &mut VecDeque<SocketAddr>) -> bool {
        while let Some(addr) = rest.pop_front() {
            let started = start_attempt(addr).and_then(|socket| {
                rustix::io::dup3(&socket, &mut self.fd, rustix::io::DupFlags::CLOEXEC)
                    .map_err(io::Error::from)
            });
            match started {
                Ok(()) => {
                    self.stage = Stage::Connecting {
                        addr,
                        rest: std::mem::take(rest),
                    };
                    return true;
                }
                Err(e) => self.last_error = Some(format!("{addr}: {e}")),
            }
        }
        false
    }

    fn resolve_failed(&self, why: &str) -> FfiError {
        FfiError::fatal(
            TLSWIRE_ERROR_RESOLVE,
            format!("cannot resolve {:?}: {why}", self.host),
        )
    }

    fn all_failed(&self) -> FfiError {
        FfiError::fatal(
            TLSWIRE_ERROR_CONNECT,
            format!(
                "cannot connect to {}:{}: {}",
                self.host,
                self.port,
                self.last_error.as_deref().unwrap_or("no addresses")
            ),
        )
    }
}

fn connect_error(host: &str, port: u16, e: &io::Error) -> FfiError {
    FfiError::fatal(
        TLSWIRE_ERROR_CONNECT,
        format!("cannot connect to {host}:{port}: {e}"),
    )
}

/// A non-blocking socket with a connect to `addr` in flight.
fn start_attempt(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    // Small TLS records (handshake, short messages) should not wait for Nagle.
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {
            Ok(socket)
        }
        Err(e) => Err(e),
    }
}

/// Makes a caller's connected socket non-blocking and takes ownership of it.
pub(crate) fn adopt(fd: OwnedFd) -> io::Result<TcpStream> {
    let tcp = TcpStream::from(fd);
    tcp.set_nonblocking(true)?;
    // Not every socket is TCP (a Unix socketpair is fine too); Nagle only matters for TCP.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}
