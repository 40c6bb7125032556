//! The daemon: the mTLS listener, one task per connection, the writer task and the admin port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tlswire_tokio::{EofPolicy, TlsAcceptor};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::config::{Settings, Storage};
use crate::framer::{Frame, Framer};
use crate::mapping::{map_payload, Rejected};
use crate::metrics::{bind_admin, serve_admin, Metrics};
use crate::redis::{ClusterRedis, SingleRedis};
use crate::spool::Spool;
use crate::store::{Backend, EmbeddedStore, PayloadResult};
use crate::tls::{failure_cause, server_config, subject_of, REFUSED_SUBJECT};
use crate::writer::{Job, Writer};
use crate::IngestError;

/// Jobs (one per read) queued for the writer before connections stop reading.
const JOB_QUEUE: usize = 512;
/// Ack batches queued per connection before it stops reading.
const ACK_QUEUE: usize = 64;
const READ_BUFFER: usize = 64 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound, ready-to-run daemon.
pub struct Ingest {
    settings: Settings,
    listener: TcpListener,
    admin: Option<TcpListener>,
    acceptor: TlsAcceptor,
    backend: Backend,
    spool: Option<Spool>,
    metrics: Arc<Metrics>,
}

impl Ingest {
    /// Loads certificates, opens the store and the spool, and binds the listeners. Every
    /// error names the file, key or address at fault.
    pub async fn bind(settings: Settings) -> Result<Self, IngestError> {
        let config = server_config(&settings.cert, &settings.key, &settings.client_auth)?;
        let limits = tlswire_core::Limits::default().with_handshake_timeout(HANDSHAKE_TIMEOUT);
        let acceptor = TlsAcceptor::new(config)
            .with_limits(limits)
            .with_eof_policy(EofPolicy::Lenient);
        let backend = match &settings.storage {
            Storage::Redis(url) => {
                let tls = if url.tls {
                    Some(crate::client::redis_tls_config(&settings.redis_tls)?)
                } else {
                    None
                };
                Backend::Redis(SingleRedis::new(url.clone(), tls))
            }
            Storage::Cluster(seeds) => Backend::Cluster(ClusterRedis::new(seeds.clone())),
            Storage::Embedded(path) => Backend::Embedded(EmbeddedStore::open(path)?),
        };
        let spool = if backend.is_remote() {
            Some(Spool::open(&settings.spool_dir, settings.spool_max_bytes)?)
        } else {
            None
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| IngestError::io(format!("cannot listen on {}", settings.listen), e))?;
        let admin = match settings.admin {
            Some(addr) => Some(bind_admin(addr).await?),
            None => None,
        };
        Ok(Self {
            settings,
            listener,
            admin,
            acceptor,
            backend,
            spool,
            metrics: Arc::new(Metrics::default()),
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The metrics endpoint's address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The daemon's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, reads no more, stores
    /// everything received (answering acks) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), IngestError> {
        let Self {
            settings,
            listener,
            admin,
            acceptor,
            backend,
            spool,
            metrics,
        } = self;
        tracing::info!(
            listen = %settings.listen,
            store = %backend.describe(),
            ack = settings.ack,
            "tlswire ingest listening"
        );
        let (jobs_tx, jobs_rx) = mpsc::channel(JOB_QUEUE);
        let writer = Writer {
            backend,
            spool,
            metrics: metrics.clone(),
            batch_max: settings.batch_max,
        };
        let writer = tokio::spawn(writer.run(jobs_rx));
        let admin = admin.map(|l| tokio::spawn(serve_admin(l, metrics.clone())));
        let (stop_tx, stop_rx) = watch::channel(false);
        let context = Arc::new(Context {
            acceptor,
            jobs: jobs_tx,
            metrics: metrics.clone(),
            max_payload: settings.max_payload,
            ack: settings.ack,
        });
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        metrics.connections_total.fetch_add(1, Relaxed);
                        connections.spawn(serve(tcp, peer, context.clone(), stop_rx.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors, usually: wait instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        tracing::info!(
            connections = connections.len(),
            "shutting down: no longer accepting; storing what was received"
        );
        let _ = stop_tx.send(true);
        while connections.join_next().await.is_some() {}
        drop(context);
        if let Err(e) = writer.await {
            tracing::error!("writer task failed: {e}");
        }
        if let Some(admin) = admin {
            admin.abort();
        }
        tracing::info!(
            stored = metrics.stored.load(Relaxed),
            spooled = metrics.spool_depth.load(Relaxed),
            "tlswire ingest stopped"
        );
        Ok(())
    }
}

struct Context {
    acceptor: TlsAcceptor,
    jobs: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    max_payload: usize,
    ack: bool,
}

/// Decrements the open-connections gauge however the task ends.
struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

/// One payload's place in the ack stream.
enum Slot {
    /// The job's payload at this index.
    Queued(usize),
    Rejected(String),
}

struct AckBatch {
    slots: Vec<Slot>,
    results: Option<oneshot::Receiver<Vec<PayloadResult>>>,
}

async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
) {
    ctx.metrics.connections_open.fetch_add(1, Relaxed);
    let _open = OpenConnection(ctx.metrics.clone());
    let refused = Arc::new(Mutex::new(None));
    let handshake = REFUSED_SUBJECT.scope(refused.clone(), ctx.acceptor.accept(tcp));
    let stream = tokio::select! {
        result = handshake => result,
        _ = stop.changed() => return,
    };
    let stream = match stream {
        Ok(stream) => stream,
        Err(e) => {
            let subject = refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| "none".to_owned());
            ctx.metrics.handshake_failed(failure_cause(&e));
            tracing::warn!(%peer, %subject, "client refused at the handshake: {e}");
            return;
        }
    };
    let subject = stream
        .peer()
        .certificates
        .first()
        .map(subject_of)
        .unwrap_or_default();
    tracing::debug!(%peer, %subject, "client connected");
    let (mut reader, writer) = stream.into_split();
    // Without acks the write half only sends close_notify at the end.
    let (acks_tx, acks, mut idle_writer) = if ctx.ack {
        let (tx, rx) = mpsc::channel(ACK_QUEUE);
        (
            Some(tx),
            Some(tokio::spawn(write_acks(writer, rx, peer))),
            None,
        )
    } else {
        (None, None, Some(writer))
    };
    let mut framer = Framer::new(ctx.max_payload);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let read = tokio::select! {
            read = reader.read(&mut buf) => read,
            _ = stop.changed() => break,
        };
        let (frames, ended) = match read {
            Ok(0) => (collect(&ctx, &peer, |on| framer.finish(on)), true),
            Ok(n) => {
                ctx.metrics.bytes_received.fetch_add(n as u64, Relaxed);
                (collect(&ctx, &peer, |on| framer.feed(&buf[..n], on)), false)
            }
            Err(e) => {
                if framer.is_mid_value() {
                    tracing::warn!(%peer, %subject, "connection failed mid-payload: {e}");
                } else {
                    tracing::debug!(%peer, %subject, "connection ended: {e}");
                }
                break;
            }
        };
        let (payloads, slots) = frames;
        if !payloads.is_empty() || !slots.is_empty() {
            let (done, results) = match &acks_tx {
                Some(_) if !payloads.is_empty() => {
                    let (tx, rx) = oneshot::channel();
                    (Some(tx), Some(rx))
                }
                _ => (None, None),
            };
            if !payloads.is_empty() && ctx.jobs.send(Job { payloads, done }).await.is_err() {
                break;
            }
            if let Some(acks_tx) = &acks_tx {
                if acks_tx.send(AckBatch { slots, results }).await.is_err() {
                    break;
                }
            }
        }
        if ended {
            break;
        }
    }
    drop(acks_tx);
    if let Some(acks) = acks {
        let _ = acks.await;
    }
    if let Some(writer) = idle_writer.as_mut() {
        let _ = writer.shutdown().await;
    }
    tracing::debug!(%peer, %subject, "client disconnected");
}

/// Runs the framer over some input and maps each frame: the payloads' writes, and the order
/// of accepted and rejected payloads (for acks).
fn collect(
    ctx: &Context,
    peer: &SocketAddr,
    run: impl FnOnce(&mut dyn FnMut(Frame<'_>)),
) -> (Vec<Vec<crate::mapping::Op>>, Vec<Slot>) {
    let mut payloads = Vec::new();
    let mut slots = Vec::new();
    let mut on_frame = |frame: Frame<'_>| {
        let outcome = match frame {
            Frame::Payload(bytes) => {
                let mut ops = Vec::new();
                map_payload(bytes, &mut ops).map(|()| ops)
            }
            Frame::Oversized { size } => Err(Rejected::Oversized {
                size,
                max: ctx.max_payload,
            }),
            Frame::Garbage { sample } => Err(Rejected::Garbage { sample }),
            Frame::Truncated { size } => Err(Rejected::Truncated { size }),
        };
        match outcome {
            Ok(ops) => {
                ctx.metrics.accepted.fetch_add(1, Relaxed);
                if ctx.ack {
                    slots.push(Slot::Queued(payloads.len()));
                }
                payloads.push(ops);
            }
            Err(rejected) => {
                ctx.metrics.reject(rejected.label());
                tracing::warn!(%peer, reason = rejected.label(), "payload rejected: {rejected}");
                if ctx.ack {
                    slots.push(Slot::Rejected(rejected.to_string()));
                }
            }
        }
    };
    run(&mut on_frame);
    (payloads, slots)
}

/// Writes one line per payload, in arrival order: `ok`, or `error: <reason>`.
async fn write_acks(
    mut writer: impl AsyncWrite + Unpin,
    mut batches: mpsc::Receiver<AckBatch>,
    peer: SocketAddr,
) {
    let mut out = String::new();
    while let Some(batch) = batches.recv().await {
        let results = match batch.results {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        out.clear();
        for slot in batch.slots {
            match slot {
                Slot::Queued(i) => match results.as_ref().and_then(|r| r.get(i)) {
                    Some(Ok(())) => out.push_str("ok\n"),
                    Some(Err(e)) => {
                        out.push_str("error: ");
                        out.push_str(&Rejected::Store(e.clone()).to_string());
                        out.push('\n');
                    }
                    None => out.push_str("error: not stored: the daemon is stopping\n"),
                },
                Slot::Rejected(reason) => {
                    out.push_str("error: ");
                    out.push_str(&reason.replace('\n', " "));
                    out.push('\n');
                }
            }
        }
        let sent = async {
            writer.write_all(out.as_bytes()).await?;
            writer.flush().await
        };
        if let Err(e) = sent.await {
            tracing::debug!(%peer, "acks not delivered: {e}");
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// Completes on SIGTERM or SIGINT: the shutdown signal `tlswire ingest` runs with.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
