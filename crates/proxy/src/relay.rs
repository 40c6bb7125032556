//! The bidirectional copy between a client and its upstream, with half-close.
//!
//! Unlike `tokio::io::copy_bidirectional`, which gives every connection two 8 KiB buffers for
//! its whole life, this reads into one scratch buffer per worker thread and writes straight
//! on; only bytes the other side cannot take yet are kept, in a buffer that is freed once
//! drained. An idle connection holds no relay buffer at all, which is what makes holding tens
//! of thousands of connections cheap.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read per call from one side.
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH].into_boxed_slice());
}

/// One direction of the copy.
#[derive(Debug, Default)]
struct Direction {
    /// Bytes read but not yet taken by the writer.
    pending: Vec<u8>,
    pos: usize,
    read_done: bool,
    done: bool,
}

/// Copies `a → b` and `b → a` until both directions have ended; each end of stream is passed on
/// with `poll_shutdown` (a TCP FIN, or close_notify and FIN for TLS).
pub(crate) struct Relay<'a, A: ?Sized, B: ?Sized> {
    a: &'a mut A,
    b: &'a mut B,
    a_to_b: Direction,
    b_to_a: Direction,
    started: Instant,
    activity: Option<Arc<AtomicU64>>,
    /// Shared totals for `a → b` and `b → a`, added to as bytes are read, so they are current
    /// while the connection lives and still right when it ends by a timeout or a drain.
    totals: Option<(&'a AtomicU64, &'a AtomicU64)>,
}

impl<'a, A, B> Relay<'a, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    /// A relay between `a` and `b`; `activity`, when given, receives the milliseconds since
    /// `started` at which bytes last moved.
    pub(crate) fn new(
        a: &'a mut A,
        b: &'a mut B,
        started: Instant,
        activity: Option<Arc<AtomicU64>>,
    ) -> Self {
        Self {
            a,
            b,
            a_to_b: Direction::default(),
            b_to_a: Direction::default(),
            started,
            activity,
            totals: None,
        }
    }

    /// Also adds the bytes moved `a → b` and `b → a` to these counters as they move.
    pub(crate) fn with_totals(mut self, a_to_b: &'a AtomicU64, b_to_a: &'a AtomicU64) -> Self {
        self.totals = Some((a_to_b, b_to_a));
        self
    }
}

fn poll_direction<R, W>(
    cx: &mut Context<'_>,
    reader: &mut R,
    writer: &mut W,
    dir: &mut Direction,
    total: Option<&AtomicU64>,
    moved: &mut bool,
) -> Poll<io::Result<()>>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    loop {
        while dir.pos < dir.pending.len() {
            let n = ready!(Pin::new(&mut *writer).poll_write(cx, &dir.pending[dir.pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            dir.pos += n;
        }
        if !dir.pending.is_empty() {
            dir.pending = Vec::new();
            dir.pos = 0;
        }
        if dir.read_done {
            ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
            dir.done = true;
            return Poll::Ready(Ok(()));
        }
        let step = SCRATCH_BUF.with(|scratch| -> Poll<io::Result<()>> {
            let mut scratch = scratch.borrow_mut();
            let mut buf = ReadBuf::new(&mut scratch[..]);
            ready!(Pin::new(&mut *reader).poll_read(cx, &mut buf))?;
            let data = buf.filled();
            if data.is_empty() {
                dir.read_done = true;
                return Poll::Ready(Ok(()));
            }
            *moved = true;
            if let Some(total) = total {
                total.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            let mut written = 0;
            while written < data.len() {
                match Pin::new(&mut *writer).poll_write(cx, &data[written..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            if written < data.len() {
                dir.pending.extend_from_slice(&data[written..]);
            }
            Poll::Ready(Ok(()))
        });
        ready!(step)?;
    }
}

impl<A, B> Future for Relay<'_, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut moved = false;
        let (a_to_b_total, b_to_a_total) = this.totals.unzip();
        if !this.a_to_b.done {
            if let Poll::Ready(Err(e)) = poll_direction(
                cx,
                this.a,
                this.b,
                &mut this.a_to_b,
                a_to_b_total,
                &mut moved,
            ) {
                return Poll::Ready(Err(e));
            }
        }
        if !this.b_to_a.done {
            if let Poll::Ready(Err(e)) = poll_direction(
                cx,
                this.b,
                this.a,
                &mut this.b_to_a,
                b_to_a_total,
                &mut moved,
            ) {
                return Poll::Ready(Err(e));
            }
        }
        if moved {
            if let Some(activity) = &this.activity {
                activity.store(this.started.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        }
        if this.a_to_b.done && this.b_to_a.done {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn copies_both_ways_with_half_close() {
        let (mut client, mut proxy_client_side) = tokio::io::duplex(1024);
        let (mut proxy_upstream_side, mut upstream) = tokio::io::duplex(1024);
        let relay = tokio::spawn(async move {
            let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
            Relay::new(
                &mut proxy_client_side,
                &mut proxy_upstream_side,
                Instant::now(),
                None,
            )
            .with_totals(&up, &down)
            .await
            .unwrap();
            (up.into_inner(), down.into_inner())
        });
        let big = vec![7u8; 100_000];
        let writer = {
            let big = big.clone();
            tokio::spawn(async move {
                client.write_all(&big).await.unwrap();
                client.shutdown().await.unwrap();
                let mut back = Vec::new();
                client.read_to_end(&mut back).await.unwrap();
                back
            })
        };
        let mut received = Vec::new();
        upstream.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, big, "client to upstream, ended by the half-close");
        upstream.write_all(b"reply after half-close").await.unwrap();
        upstream.shutdown().await.unwrap();
        assert_eq!(writer.await.unwrap(), b"reply after half-close");
        assert_eq!(relay.await.unwrap(), (100_000, 22));
    }
}
