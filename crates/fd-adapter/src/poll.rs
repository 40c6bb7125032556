//! Readiness: what a session waits for, and waiting for it with poll(2).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

/// What a session waits for on its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest {
    /// The session can use more ciphertext from the peer.
    pub read: bool,
    /// Ciphertext is waiting for the stream to accept it.
    pub write: bool,
}

impl Interest {
    /// Neither reading nor writing.
    pub const NONE: Self = Self {
        read: false,
        write: false,
    };

    /// Whether the session waits for nothing.
    pub fn is_none(self) -> bool {
        !self.read && !self.write
    }
}

/// Waits until `fd` is ready for `interest` or `timeout` passes (`None` waits without limit);
/// returns the readiness seen. Errors and hang-ups count as ready for both, so the next I/O call
/// reports them. An interrupted wait (`EINTR`) returns no readiness.
pub fn poll_fd(
    fd: BorrowedFd<'_>,
    interest: Interest,
    timeout: Option<Duration>,
) -> io::Result<Interest> {
    let mut flags = PollFlags::empty();
    if interest.read {
        flags |= PollFlags::IN;
    }
    if interest.write {
        flags |= PollFlags::OUT;
    }
    let mut fds = [PollFd::from_borrowed_fd(fd, flags)];
    // A wait too long for a timespec is a wait without limit.
    let timeout = timeout.and_then(|t| Timespec::try_from(t).ok());
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok(Interest::NONE),
        Err(e) => return Err(e.into()),
    }
    let seen = fds[0].revents();
    let failed = seen.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL);
    Ok(Interest {
        read: seen.contains(PollFlags::IN) || (failed && interest.read),
        write: seen.contains(PollFlags::OUT) || (failed && interest.write),
    })
}
