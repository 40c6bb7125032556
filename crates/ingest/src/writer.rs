//! The one task that writes to the store: it gathers jobs from every connection into batches,
//! writes each batch pipelined, answers each job, and spools batches while the store is
//! unreachable.
//!
//! Ordering: while the spool holds anything, new batches go to the spool too, behind it, so
//! replay preserves arrival order. Back-pressure: while a batch can be neither stored nor
//! spooled (spool full), the task stops taking jobs; the bounded job queue fills, connections
//! stop reading, and TCP pushes back on clients.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::mapping::Op;
use crate::metrics::Metrics;
use crate::spool::Spool;
use crate::store::{Backend, PayloadResult};

/// What one connection hands the writer: the payloads parsed from one read.
pub(crate) struct Job {
    pub(crate) payloads: Vec<Vec<Op>>,
    /// Receives one result per payload once stored (or spooled) — in ack mode.
    pub(crate) done: Option<oneshot::Sender<Vec<PayloadResult>>>,
}

/// Jobs gathered into one write.
struct Batch {
    payloads: Arc<Vec<Vec<Op>>>,
    /// Each job's reply channel and payload count, in order.
    jobs: Vec<(Option<oneshot::Sender<Vec<PayloadResult>>>, usize)>,
}

impl Batch {
    fn respond(self, results: Vec<PayloadResult>) {
        let mut results = results.into_iter();
        for (done, count) in self.jobs {
            let mine: Vec<PayloadResult> = results.by_ref().take(count).collect();
            if let Some(done) = done {
                let _ = done.send(mine);
            }
        }
    }

    fn len(&self) -> usize {
        self.payloads.len()
    }
}

const RETRY_INTERVAL: Duration = Duration::from_millis(500);

pub(crate) struct Writer {
    pub(crate) backend: Backend,
    pub(crate) spool: Option<Spool>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) batch_max: usize,
}

enum Outcome {
    Done,
    Blocked(Batch),
}

impl Writer {
    /// Runs until every sender of `jobs` is gone and every job taken is stored or spooled.
    pub(crate) async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut pending: Option<Batch> = None;
        let mut retry_at = Instant::now();
        self.update_spool_gauges();
        if self.spool.as_ref().is_some_and(|s| !s.is_empty()) {
            tracing::info!(
                payloads = self.spool.as_ref().map_or(0, Spool::depth),
                "spool holds payloads from an earlier run; replaying them first"
            );
        }
        loop {
            if self.spooling() && Instant::now() >= retry_at && !self.replay().await {
                retry_at = Instant::now() + RETRY_INTERVAL;
            }
            if let Some(batch) = pending.take() {
                match self.store_or_spool(batch, &mut retry_at).await {
                    Outcome::Done => {}
                    Outcome::Blocked(batch) => {
                        pending = Some(batch);
                        tokio::time::sleep_until(retry_at.max(Instant::now()).into()).await;
                        retry_at = retry_at.max(Instant::now());
                        continue;
                    }
                }
            }
            let job = if self.spooling() {
                tokio::select! {
                    job = jobs.recv() => job,
                    () = tokio::time::sleep_until(retry_at.into()) => continue,
                }
            } else {
                jobs.recv().await
            };
            let Some(job) = job else {
                break;
            };
            pending = Some(self.gather(job, &mut jobs));
        }
        if self.spooling() && !self.replay().await {
            tracing::warn!(
                payloads = self.spool.as_ref().map_or(0, Spool::depth),
                "store unreachable at shutdown; spooled payloads are replayed on the next start"
            );
        }
    }

    fn spooling(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| !s.is_empty())
    }

    fn gather(&self, first: Job, jobs: &mut mpsc::Receiver<Job>) -> Batch {
        let mut payloads = Vec::new();
        let mut answers = Vec::new();
        let mut add = |job: Job, payloads: &mut Vec<Vec<Op>>| {
            answers.push((job.done, job.payloads.len()));
            payloads.extend(job.payloads);
        };
        add(first, &mut payloads);
        while payloads.len() < self.batch_max {
            match jobs.try_recv() {
                Ok(job) => add(job, &mut payloads),
                Err(_) => break,
            }
        }
        Batch {
            payloads: Arc::new(payloads),
            jobs: answers,
        }
    }

    async fn store_or_spool(&mut self, batch: Batch, retry_at: &mut Instant) -> Outcome {
        if !self.spooling() {
            let started = Instant::now();
            match self.backend.write(batch.payloads.clone()).await {
                Ok(results) => {
                    self.metrics.observe_store_latency(started.elapsed());
                    self.count_stored(&results);
                    batch.respond(results);
                    return Outcome::Done;
                }
                Err(e) if self.spool.is_some() && self.backend.is_remote() => {
                    tracing::warn!("store unreachable, spooling to disk: {e}");
                    *retry_at = Instant::now() + RETRY_INTERVAL;
                }
                Err(e) => {
                    tracing::error!("store write failed, retrying: {e}");
                    *retry_at = Instant::now() + RETRY_INTERVAL;
                    return Outcome::Blocked(batch);
                }
            }
        }
        let Some(spool) = self.spool.as_mut() else {
            return Outcome::Blocked(batch);
        };
        match spool.append(&batch.payloads) {
            Ok(true) => {
                self.metrics.spooled.fetch_add(batch.len() as u64, Relaxed);
                self.update_spool_gauges();
                let count = batch.len();
                batch.respond(vec![Ok(()); count]);
                Outcome::Done
            }
            Ok(false) => Outcome::Blocked(batch),
            Err(e) => {
                tracing::error!("cannot write to the spool: {e}");
                Outcome::Blocked(batch)
            }
        }
    }

    /// Writes spooled batches to the store, oldest first; false when the store failed.
    async fn replay(&mut self) -> bool {
        let mut replayed = 0u64;
        loop {
            let Some(spool) = self.spool.as_mut() else {
                return true;
            };
            let Some(batch) = spool.oldest() else {
                break;
            };
            match batch {
                Err(e) => {
                    tracing::error!("skipping unreadable spool batch: {e}");
                }
                Ok(batch) => {
                    let started = Instant::now();
                    match self.backend.write(Arc::new(batch)).await {
                        Ok(results) => {
                            self.metrics.observe_store_latency(started.elapsed());
                            self.count_stored(&results);
                            replayed += results.len() as u64;
                        }
                        Err(e) => {
                            tracing::debug!("store still unreachable: {e}");
                            return false;
                        }
                    }
                }
            }
            if let Some(spool) = self.spool.as_mut() {
                if let Err(e) = spool.pop_oldest() {
                    tracing::error!("cannot remove a replayed spool file: {e}");
                    return false;
                }
            }
            self.update_spool_gauges();
        }
        if replayed > 0 {
            tracing::info!(
                payloads = replayed,
                "store reachable again: {} replayed from the spool",
                self.backend.describe()
            );
        }
        true
    }

    fn count_stored(&self, results: &[PayloadResult]) {
        let mut stored = 0;
        for result in results {
            match result {
                Ok(()) => stored += 1,
                Err(e) => {
                    tracing::warn!("payload rejected by the store: {e}");
                    self.metrics.reject("store_error");
                }
            }
        }
        self.metrics.stored.fetch_add(stored, Relaxed);
    }

    fn update_spool_gauges(&self) {
        if let Some(spool) = &self.spool {
            self.metrics.spool_depth.store(spool.depth(), Relaxed);
            self.metrics.spool_bytes.store(spool.bytes(), Relaxed);
        }
    }
}
