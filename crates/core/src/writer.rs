//! The group-commit writer: one task that turns many small writes (each account's batch of
//! updates, each send's idempotency outcome, state-transition events) into few transactions.
//!
//! Why: at thousands of sends per second a commit per message would cost a WAL sync (SQLite) or
//! a round trip (PostgreSQL) each; instead whatever is queued when the previous commit finishes
//! goes into the next one (no timer, so an idle gateway adds no latency). Each submitter waits
//! for *its* commit, so "written" always means durable, and per-account order is kept because a
//! submitter never has two writes in flight. After each commit the last event id is published
//! on a `watch` channel: the API's SSE/WebSocket/webhook loops wake up on it and read the log.

use std::sync::Arc;

use telegate_store::{IdempotencyRecord, Store, UpdateBatch};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{CoreError, CoreResult};

struct Job {
    batch: Option<UpdateBatch>,
    outcome: Option<IdempotencyRecord>,
    /// Whether `batch`/`outcome` were given (they are taken out for the commit).
    had_batch: bool,
    had_outcome: bool,
    done: Option<oneshot::Sender<CoreResult<Vec<i64>>>>,
}

/// Handle to the writer task. Cloneable.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
    last_event: watch::Receiver<i64>,
}

impl Writer {
    /// Starts the writer; `last_event_id` seeds the wake-up channel.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        last_event_id: i64,
        max_batch: usize,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
        let (last_tx, last_rx) = watch::channel(last_event_id);
        let task = tokio::spawn(run(store, rx, last_tx, max_batch.max(1)));
        (
            Self {
                tx,
                last_event: last_rx,
            },
            task,
        )
    }

    pub(crate) fn last_event(&self) -> watch::Receiver<i64> {
        self.last_event.clone()
    }

    async fn submit(
        &self,
        job_batch: Option<UpdateBatch>,
        outcome: Option<IdempotencyRecord>,
    ) -> CoreResult<Vec<i64>> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Job {
                had_batch: job_batch.is_some(),
                had_outcome: outcome.is_some(),
                batch: job_batch,
                outcome,
                done: Some(done),
            })
            .await
            .map_err(|_| {
                CoreError::new(
                    crate::ErrorCode::ShuttingDown,
                    "the gateway is shutting down",
                )
            })?;
        rx.await.map_err(|_| {
            CoreError::new(
                crate::ErrorCode::ShuttingDown,
                "the gateway is shutting down",
            )
        })?
    }

    /// Writes one account's batch (events + mirror + update state) durably; returns event ids.
    pub(crate) async fn write_batch(&self, batch: UpdateBatch) -> CoreResult<Vec<i64>> {
        self.submit(Some(batch), None).await
    }

    /// Records an idempotency outcome durably.
    pub(crate) async fn write_outcome(&self, record: IdempotencyRecord) -> CoreResult<()> {
        self.submit(None, Some(record)).await.map(drop)
    }

    /// Waits until everything submitted before is committed.
    pub(crate) async fn flush(&self) {
        let _ = self.submit(None, None).await;
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    last_tx: watch::Sender<i64>,
    max_batch: usize,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(64);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        let mut items = 1usize;
        while items < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    items += job.batch.as_ref().map_or(1, |b| b.events.len().max(1));
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        commit(&*store, &mut jobs, &last_tx).await;
        if jobs.capacity() > 4096 {
            jobs = Vec::with_capacity(64); // give a burst's memory back
        }
    }
}

fn publish(last_tx: &watch::Sender<i64>, max: i64) {
    last_tx.send_if_modified(|last| {
        if max > *last {
            *last = max;
            true
        } else {
            false
        }
    });
}

async fn commit(store: &dyn Store, jobs: &mut Vec<Job>, last_tx: &watch::Sender<i64>) {
    let started = std::time::Instant::now();
    let batches: Vec<UpdateBatch> = jobs.iter_mut().filter_map(|j| j.batch.take()).collect();
    let outcomes: Vec<IdempotencyRecord> =
        jobs.iter_mut().filter_map(|j| j.outcome.take()).collect();
    let n_events: usize = batches.iter().map(|b| b.events.len()).sum();
    let result = store.commit_group(&batches, &outcomes).await;
    metrics::histogram!("telegate_store_commit_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(ids) => {
            metrics::counter!("telegate_events_written_total").increment(n_events as u64);
            if let Some(max) = ids.iter().flat_map(|v| v.iter()).max() {
                publish(last_tx, *max);
            }
            let mut ids = ids.into_iter();
            for job in jobs.drain(..) {
                let mine = if job.had_batch {
                    ids.next().unwrap_or_default()
                } else {
                    Vec::new()
                };
                if let Some(done) = job.done {
                    let _ = done.send(Ok(mine));
                }
            }
        }
        Err(e) if jobs.len() > 1 => {
            // One bad write (e.g. an account deleted meanwhile) must not fail the others:
            // redo them one by one.
            tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed; retrying writes one by one");
            let mut batches = batches.into_iter();
            let mut outcomes = outcomes.into_iter();
            for job in jobs.drain(..) {
                let single: Vec<UpdateBatch> = if job.had_batch { batches.next() } else { None }
                    .into_iter()
                    .collect();
                let single_o: Vec<IdempotencyRecord> = if job.had_outcome {
                    outcomes.next()
                } else {
                    None
                }
                .into_iter()
                .collect();
                let r = match store.commit_group(&single, &single_o).await {
                    Ok(mut ids) => {
                        let mine = ids.pop().unwrap_or_default();
                        if let Some(max) = mine.iter().max() {
                            publish(last_tx, *max);
                        }
                        Ok(mine)
                    }
                    Err(e) => Err(CoreError::from(e)),
                };
                if let Some(done) = job.done {
                    let _ = done.send(r);
                }
            }
        }
        Err(e) => {
            let err = CoreError::from(e);
            for job in jobs.drain(..) {
                if let Some(done) = job.done {
                    let _ = done.send(Err(CoreError::new(err.code, err.message.clone())));
                }
            }
        }
    }
}
