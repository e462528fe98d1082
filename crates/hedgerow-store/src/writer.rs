//! Background batching of activity events, kept off the filtering decision path.
//!
//! The DNS resolver and proxy call [`EventSink::record`], which only tries to put the event in
//! a bounded queue: it never waits, so a slow or failing database can cost browsing history
//! but never slows a child's page load. A single background task drains the queue in batches.
//!
//! What "accepted" means: `record` returned `Ok`. Every accepted event is either written, or
//! (only if the database rejects that very event as invalid, e.g. an unknown school) dropped
//! with an error log and counted in [`WriterStats::dropped_invalid`]. Transient failures are
//! retried with backoff for as long as the writer runs; while it retries, it stops draining the
//! queue, so the memory held for the retry is bounded by `capacity + max_batch` events and new
//! events are rejected (counted) instead of piling up.
//!
//! Monitoring: [`EventWriter::spawn_observed`] also hands every written batch to an observer
//! (the safeguarding detector) with `try_send`, moving the batch rather than copying it. The
//! writer never waits for the observer: if the observer's queue is full the batch is dropped
//! from monitoring (never from the database), counted in [`WriterStats::observer_dropped`] and
//! `hedgerow_monitor_events_dropped_total`, and logged once per burst of drops. Detection can
//! therefore never delay filtering nor the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::model::ActivityEvent;
use crate::store::is_data_error;
use crate::{Store, StoreError};

/// First pause after a failed write; doubled per failure up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// Long enough not to hammer a struggling database, short enough to recover promptly.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// While a batch is open, how long events gather in the queue between looks at it. Under load
/// this turns one wake-up per event into one per interval; it never delays a write past the
/// flush interval.
const GATHER: Duration = Duration::from_millis(10);

const METRIC_WRITTEN: &str = "hedgerow_events_written_total";
const METRIC_REJECTED: &str = "hedgerow_events_rejected_total";
const METRIC_DROPPED: &str = "hedgerow_events_dropped_total";
const METRIC_WRITE_FAILURES: &str = "hedgerow_event_write_failures_total";
const METRIC_MONITOR_DROPPED: &str = "hedgerow_monitor_events_dropped_total";

/// Tuning for [`EventWriter::spawn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Events the queue holds before `record` starts rejecting (minimum 1).
    pub capacity: usize,
    /// Most events written in one transaction (minimum 1).
    pub max_batch: usize,
    /// Longest an accepted event waits in a partial batch before being written.
    pub flush_interval: Duration,
    /// At shutdown, how long to keep retrying a failing database before giving up and
    /// reporting the unwritten events in [`StoreError::ShutdownIncomplete`].
    pub shutdown_grace: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            // About a second of what SQLite takes on a small machine (docs/benchmarks.md,
            // "Activity log writes"), a few MB of memory: enough for the bursts of a school
            // morning; beyond that, traffic outruns the database and events are rejected and
            // counted rather than held until memory runs out.
            capacity: 16_384,
            // One statement, which SQLite writes without a statement journal.
            max_batch: crate::EVENT_ROWS_PER_INSERT,
            flush_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Why [`EventSink::record`] refused an event. The event is gone; the caller carries on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The queue is full: events arrive faster than the database takes them.
    #[error(
        "activity event dropped: the writer queue is full because the database is slower than the traffic; check the database, or raise the writer capacity"
    )]
    Full,
    /// The writer is shutting down or has stopped.
    #[error("activity event dropped: the activity writer has shut down")]
    Closed,
}

/// Counters of a writer, as a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Events `record` accepted.
    pub accepted: u64,
    /// Events `record` rejected (queue full or writer closed).
    pub rejected: u64,
    /// Events written to the store.
    pub written: u64,
    /// Accepted events the database refused as invalid (e.g. unknown school) and were dropped.
    pub dropped_invalid: u64,
    /// Failed write attempts (each is retried).
    pub write_failures: u64,
    /// Successful batch transactions.
    pub batches: u64,
    /// Written events not handed to the observer of [`EventWriter::spawn_observed`] because
    /// its queue was full or it had stopped (they are in the database, but went unmonitored).
    pub observer_dropped: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    written: AtomicU64,
    dropped_invalid: AtomicU64,
    write_failures: AtomicU64,
    batches: AtomicU64,
    observer_dropped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WriterStats {
        WriterStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            dropped_invalid: self.dropped_invalid.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            observer_dropped: self.observer_dropped.load(Ordering::Relaxed),
        }
    }
}

/// The non-blocking intake of an [`EventWriter`]. Clone it freely into every task that
/// makes decisions.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<ActivityEvent>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl EventSink {
    /// Queues an event for writing. Never blocks or waits; if the queue is full or the
    /// writer has stopped, the event is rejected and counted.
    pub fn record(&self, event: ActivityEvent) -> Result<(), Rejected> {
        match self.tx.try_send(event) {
            Ok(()) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(METRIC_REJECTED).increment(1);
                match e {
                    mpsc::error::TrySendError::Full(_) => Err(Rejected::Full),
                    mpsc::error::TrySendError::Closed(_) => Err(Rejected::Closed),
                }
            }
        }
    }

    /// Events rejected so far by every clone of this sink.
    pub fn rejected(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }

    /// Events accepted so far by every clone of this sink.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }
}

/// Controls a running writer. Dropping it without [`WriterHandle::shutdown`] leaves the writer
/// running until every [`EventSink`] is dropped, and then it drains and stops by itself.
pub struct WriterHandle {
    stop: oneshot::Sender<()>,
    /// Fires with the writer's result when its thread ends.
    finished: oneshot::Receiver<Result<WriterStats, StoreError>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl WriterHandle {
    /// Current counters.
    pub fn stats(&self) -> WriterStats {
        self.counters.snapshot()
    }

    /// Stops accepting events, writes everything already accepted, and returns the final
    /// counters. If the database keeps failing for longer than
    /// [`WriterConfig::shutdown_grace`], returns [`StoreError::ShutdownIncomplete`].
    pub async fn shutdown(self) -> Result<WriterStats, StoreError> {
        // An error means the writer already ended (all sinks dropped); its result says how.
        let _ = self.stop.send(());
        match self.finished.await {
            Ok(result) => result,
            Err(_) => Err(StoreError::WriterTask(
                "its thread ended without a result (a panic, logged above; this is a bug in Hedgerow, please report it)"
                    .to_string(),
            )),
        }
    }
}

/// Spawns the background writer; see the module documentation.
#[derive(Debug)]
pub struct EventWriter;

impl EventWriter {
    /// Starts the writer on a thread of its own (`activity-writer`, with a single-threaded
    /// Tokio runtime) and returns its intake and its handle.
    ///
    /// Not a task on the caller's runtime: binding a 1,600-row batch takes a few milliseconds
    /// of CPU without a yield, and on the gateway's runtime that held up the DNS answers and
    /// proxy requests waiting on the same worker threads.
    pub fn spawn(store: Store, config: WriterConfig) -> (EventSink, WriterHandle) {
        EventWriter::start(store, config, None)
    }

    /// Like [`EventWriter::spawn`], and after each successful write hands the written events
    /// to `observer` without waiting (see the module documentation). Events the writer had to
    /// write one by one are handed over too, minus any the database refused.
    pub fn spawn_observed(
        store: Store,
        config: WriterConfig,
        observer: mpsc::Sender<Vec<ActivityEvent>>,
    ) -> (EventSink, WriterHandle) {
        EventWriter::start(store, config, Some(Observer::new(observer)))
    }

    fn start(
        store: Store,
        config: WriterConfig,
        observer: Option<Observer>,
    ) -> (EventSink, WriterHandle) {
        let config = WriterConfig {
            capacity: config.capacity.max(1),
            max_batch: config.max_batch.max(1),
            ..config
        };
        describe_metrics();
        let (tx, rx) = mpsc::channel(config.capacity);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (finished_tx, finished) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            store,
            rx,
            stop: Some(stop_rx),
            give_up_at: None,
            config,
            counters: Arc::clone(&counters),
            rejected_seen: 0,
            observer,
        };
        let spawned = std::thread::Builder::new()
            .name("activity-writer".to_string())
            .spawn(move || {
                let _ = finished_tx.send(worker.run_on_own_runtime());
            });
        if let Err(e) = spawned {
            // The worker, and with it the queue's far end, is gone: every record() is refused
            // and counted, and shutdown() reports the failure.
            tracing::error!(error = %e, "cannot start the activity writer's thread: activity will not be saved; check the gateway's thread and memory limits");
        }
        (
            EventSink {
                tx,
                counters: Arc::clone(&counters),
            },
            WriterHandle {
                stop: stop_tx,
                finished,
                counters,
            },
        )
    }
}

fn describe_metrics() {
    metrics::describe_counter!(METRIC_WRITTEN, "Activity events written to the store");
    metrics::describe_counter!(
        METRIC_REJECTED,
        "Activity events rejected because the writer queue was full or closed"
    );
    metrics::describe_counter!(
        METRIC_DROPPED,
        "Accepted activity events the database refused as invalid"
    );
    metrics::describe_counter!(
        METRIC_WRITE_FAILURES,
        "Failed activity event writes (retried)"
    );
    metrics::describe_counter!(
        METRIC_MONITOR_DROPPED,
        "Written activity events the safeguarding monitor did not get because its queue was full"
    );
}

/// The far end of [`EventWriter::spawn_observed`], and whether it is in a burst of drops.
struct Observer {
    tx: mpsc::Sender<Vec<ActivityEvent>>,
    /// Events dropped since the last batch the observer took; non-zero means a burst is on
    /// and has already been logged.
    dropped_in_burst: u64,
    closed: bool,
}

impl Observer {
    fn new(tx: mpsc::Sender<Vec<ActivityEvent>>) -> Observer {
        Observer {
            tx,
            dropped_in_burst: 0,
            closed: false,
        }
    }

    /// Offers `events` to the observer without waiting; counts them if it cannot take them.
    fn offer(&mut self, events: Vec<ActivityEvent>, counters: &Counters) {
        if events.is_empty() {
            return;
        }
        let n = events.len() as u64;
        if self.closed {
            return self.count_dropped(n, counters);
        }
        match self.tx.try_send(events) {
            Ok(()) => {
                if self.dropped_in_burst > 0 {
                    tracing::info!(
                        dropped = self.dropped_in_burst,
                        "the safeguarding monitor is keeping up again"
                    );
                    self.dropped_in_burst = 0;
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.dropped_in_burst == 0 {
                    tracing::warn!(
                        "the safeguarding monitor is behind: written activity events are going unmonitored until it catches up; check the gateway's CPU, or raise the monitor's queue size"
                    );
                }
                self.dropped_in_burst += n;
                self.count_dropped(n, counters);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!(
                    "the safeguarding monitor has stopped: activity is still saved but no longer checked for risks; restart the gateway"
                );
                self.closed = true;
                self.count_dropped(n, counters);
            }
        }
    }

    fn count_dropped(&self, n: u64, counters: &Counters) {
        counters.observer_dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(METRIC_MONITOR_DROPPED).increment(n);
    }
}

/// What woke the main loop.
enum Wake {
    Stop(Result<(), oneshot::error::RecvError>),
    Received(usize),
    Timer,
}

struct Worker {
    store: Store,
    rx: mpsc::Receiver<ActivityEvent>,
    /// `None` once the stop signal has fired or its sender was dropped.
    stop: Option<oneshot::Receiver<()>>,
    /// Set once shutdown starts: retries stop at this instant.
    give_up_at: Option<Instant>,
    config: WriterConfig,
    counters: Arc<Counters>,
    rejected_seen: u64,
    observer: Option<Observer>,
}

/// Resolves when the stop signal fires (or its sender is dropped); never if already consumed.
async fn stop_signal(
    stop: &mut Option<oneshot::Receiver<()>>,
) -> Result<(), oneshot::error::RecvError> {
    match stop {
        Some(rx) => rx.await,
        None => std::future::pending().await,
    }
}

impl Worker {
    fn run_on_own_runtime(mut self) -> Result<WriterStats, StoreError> {
        // Before the runtime and the SQLite connection's thread exist, so they inherit it.
        crate::sched::yield_to_waking_threads();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "cannot start the activity writer's runtime: activity will not be saved");
                StoreError::WriterTask(format!("cannot start the activity writer's runtime: {e}"))
            })?;
        runtime.block_on(async move {
            let own = self.store.with_own_activity_connection();
            if let Some(own) = &own {
                self.store = own.clone();
            }
            let result = self.run().await;
            if let Some(own) = own {
                own.close_activity_writes().await;
            }
            result
        })
    }

    async fn run(mut self) -> Result<WriterStats, StoreError> {
        let mut batch: Vec<ActivityEvent> = Vec::with_capacity(self.config.max_batch);
        let mut deadline = Instant::now();
        while self.give_up_at.is_none() {
            let wake = if batch.is_empty() {
                tokio::select! {
                    biased;
                    r = stop_signal(&mut self.stop) => Wake::Stop(r),
                    n = self.rx.recv_many(&mut batch, self.config.max_batch) => Wake::Received(n),
                }
            } else {
                // A batch is open: let events gather instead of waiting on the queue, which
                // would wake this task (and often a sleeping thread) for every event sent.
                let until = deadline.min(Instant::now() + GATHER);
                tokio::select! {
                    biased;
                    r = stop_signal(&mut self.stop) => Wake::Stop(r),
                    () = tokio::time::sleep_until(until) => Wake::Timer,
                }
            };
            match wake {
                Wake::Stop(r) => {
                    self.on_stop_signal(r);
                    continue;
                }
                // Zero means every sink is gone and the queue is empty: nothing more can come.
                Wake::Received(0) => break,
                Wake::Received(_) => deadline = Instant::now() + self.config.flush_interval,
                Wake::Timer => {}
            }
            let open = self.take_queued(&mut batch);
            if batch.len() >= self.config.max_batch || Instant::now() >= deadline || !open {
                self.write_batch(&mut batch).await?;
            }
            if !open {
                break;
            }
        }
        self.drain(batch).await
    }

    /// Moves queued events into `batch` up to a full batch, without waiting. False once every
    /// sink is gone and the queue is empty.
    fn take_queued(&mut self, batch: &mut Vec<ActivityEvent>) -> bool {
        while batch.len() < self.config.max_batch {
            match self.rx.try_recv() {
                Ok(event) => batch.push(event),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    fn on_stop_signal(&mut self, signal: Result<(), oneshot::error::RecvError>) {
        self.stop = None;
        if signal.is_ok() {
            self.give_up_at = Some(Instant::now() + self.config.shutdown_grace);
        }
        // A dropped handle without a stop request: keep running until the sinks go away.
    }

    /// Closes intake and writes everything still queued.
    async fn drain(mut self, mut batch: Vec<ActivityEvent>) -> Result<WriterStats, StoreError> {
        // After close() every later record() fails, so the queue can only shrink from here.
        self.rx.close();
        if self.give_up_at.is_none() {
            self.give_up_at = Some(Instant::now() + self.config.shutdown_grace);
        }
        loop {
            self.take_queued(&mut batch);
            if batch.is_empty() {
                break;
            }
            self.write_batch(&mut batch).await?;
        }
        self.note_rejections();
        let stats = self.counters.snapshot();
        tracing::info!(
            written = stats.written,
            rejected = stats.rejected,
            dropped_invalid = stats.dropped_invalid,
            "activity writer stopped"
        );
        Ok(stats)
    }

    /// Writes and clears `batch`, retrying transient failures. Fails only after shutdown
    /// started and the grace period ran out; `batch` then holds what was not written.
    async fn write_batch(&mut self, batch: &mut Vec<ActivityEvent>) -> Result<(), StoreError> {
        self.note_rejections();
        let mut backoff = INITIAL_BACKOFF;
        loop {
            match self.store.insert_events(batch).await {
                Ok(()) => {
                    self.note_written(batch.len());
                    match &mut self.observer {
                        Some(observer) => {
                            let room = self.config.max_batch;
                            observer.offer(
                                std::mem::replace(batch, Vec::with_capacity(room)),
                                &self.counters,
                            );
                        }
                        None => batch.clear(),
                    }
                    return Ok(());
                }
                Err(e) if is_data_error(&e) => return self.write_one_by_one(batch).await,
                Err(e) => self.wait_before_retry(&mut backoff, e, batch.len()).await?,
            }
        }
    }

    /// Writes each event on its own, so one the database will never take costs only itself.
    async fn write_one_by_one(&mut self, batch: &mut Vec<ActivityEvent>) -> Result<(), StoreError> {
        let mut done = 0;
        // Which of the first `done` events were written, to hand just those to the observer.
        let mut written = Vec::with_capacity(batch.len());
        let mut result = Ok(());
        'events: while done < batch.len() {
            let mut backoff = INITIAL_BACKOFF;
            loop {
                let event = std::slice::from_ref(&batch[done]);
                match self.store.insert_events(event).await {
                    Ok(()) => {
                        self.note_written(1);
                        written.push(true);
                        break;
                    }
                    Err(e) if is_data_error(&e) => {
                        self.counters
                            .dropped_invalid
                            .fetch_add(1, Ordering::Relaxed);
                        metrics::counter!(METRIC_DROPPED).increment(1);
                        tracing::error!(
                            error = %e,
                            school = %batch[done].school,
                            host = %batch[done].host,
                            "activity event dropped: the database refused it"
                        );
                        written.push(false);
                        break;
                    }
                    Err(e) => {
                        let pending = batch.len() - done;
                        if let Err(e) = self.wait_before_retry(&mut backoff, e, pending).await {
                            result = Err(e);
                            break 'events;
                        }
                    }
                }
            }
            done += 1;
        }
        let gone = batch.drain(..done);
        match &mut self.observer {
            Some(observer) => {
                let observed = gone
                    .zip(written)
                    .filter_map(|(event, ok)| ok.then_some(event))
                    .collect();
                observer.offer(observed, &self.counters);
            }
            None => drop(gone),
        }
        result
    }

    /// Logs a failed write and sleeps before the next attempt. Returns the error (as
    /// [`StoreError::ShutdownIncomplete`]) once shutdown's grace period is over.
    async fn wait_before_retry(
        &mut self,
        backoff: &mut Duration,
        error: StoreError,
        pending: usize,
    ) -> Result<(), StoreError> {
        self.counters.write_failures.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(METRIC_WRITE_FAILURES).increment(1);
        let now = Instant::now();
        if let Some(give_up_at) = self.give_up_at
            && now >= give_up_at
        {
            let unwritten = pending as u64 + self.rx.len() as u64;
            tracing::error!(error = %error, unwritten, "activity writer giving up at shutdown");
            return Err(StoreError::ShutdownIncomplete {
                unwritten,
                last_error: error.to_string(),
            });
        }
        tracing::warn!(
            error = %error,
            pending,
            retry_in_ms = backoff.as_millis() as u64,
            "saving activity events failed; will retry"
        );
        let mut wake = now + *backoff;
        if let Some(give_up_at) = self.give_up_at {
            wake = wake.min(give_up_at);
        }
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        let signal = tokio::select! {
            () = tokio::time::sleep_until(wake) => None,
            r = stop_signal(&mut self.stop) => Some(r),
        };
        if let Some(r) = signal {
            self.on_stop_signal(r);
        }
        Ok(())
    }

    fn note_written(&self, n: usize) {
        self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(METRIC_WRITTEN).increment(n as u64);
    }

    /// Logs rejections once per batch rather than per event, which would flood the log
    /// exactly when the system is already overloaded.
    fn note_rejections(&mut self) {
        let rejected = self.counters.rejected.load(Ordering::Relaxed);
        if rejected > self.rejected_seen {
            tracing::warn!(
                dropped = rejected - self.rejected_seen,
                total = rejected,
                "activity events were rejected because the writer queue was full or closed"
            );
            self.rejected_seen = rejected;
        }
    }
}
