//! [`WorkerPool`]: N competing consumers of one group in this process.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::metrics::Metrics;
use super::options::ConsumerOptions;
use super::shutdown::Shutdown;
use super::{Consumer, RunSummary};
use crate::error::Result;
use crate::stream::Stream;
use crate::types::Entry;

/// N competing consumers of one group in this process, named `<prefix>-1` to `<prefix>-N`,
/// sharing one handler and one [`Metrics`]. The group spreads entries among them; each runs
/// the whole consumer loop (retries, reclaims, dead letters) on its own.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rill::consumer::Shutdown;
/// use rill::{Client, ConsumerOptions, GroupStart, WorkerPool};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// let client = Client::embedded();
/// let jobs = client.stream::<u32>("jobs");
/// jobs.add_batch(&(1..=100).collect::<Vec<u32>>()).await?;
///
/// let shutdown = Shutdown::new();
/// let pool = WorkerPool::new(&jobs, "workers", ConsumerOptions::default().create_group(GroupStart::Beginning))
///     .workers(4);
/// let metrics = pool.metrics();
/// let stop = shutdown.clone();
/// let seen = Arc::new(AtomicU32::new(0));
/// let summary = pool
///     .run(
///         move |_job| {
///             let (stop, seen) = (stop.clone(), seen.clone());
///             async move {
///                 if seen.fetch_add(1, Ordering::SeqCst) + 1 == 100 {
///                     stop.trigger(); // the last job
///                 }
///                 Ok::<(), String>(())
///             }
///         },
///         shutdown,
///     )
///     .await?;
/// assert_eq!(summary.metrics.processed, 100);
/// assert_eq!(metrics.snapshot().processed, 100);
/// # Ok::<(), rill::Error>(())
/// # }).unwrap();
/// ```
pub struct WorkerPool<T> {
    /// The streams consumed: one, or each partition of a [`crate::PartitionedStream`], where
    /// every partition gets its own set of workers.
    streams: Vec<Stream<T>>,
    group: String,
    options: ConsumerOptions,
    workers: usize,
    prefix: String,
    metrics: Metrics,
}

impl<T> fmt::Debug for WorkerPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field(
                "streams",
                &self.streams.iter().map(|s| &s.key).collect::<Vec<_>>(),
            )
            .field("group", &self.group)
            .field("workers", &self.workers)
            .field("prefix", &self.prefix)
            .field("options", &self.options)
            .finish()
    }
}

impl<T: Send + 'static> WorkerPool<T> {
    /// A pool of one worker named `worker-1`; see [`WorkerPool::workers`] and
    /// [`WorkerPool::prefix`].
    pub fn new(stream: &Stream<T>, group: &str, options: ConsumerOptions) -> WorkerPool<T> {
        WorkerPool::over(vec![stream.clone()], group, options)
    }

    /// A pool with the same workers on each of `streams` (the partitions of one logical
    /// stream), each consuming its stream's `group`.
    pub(crate) fn over(
        streams: Vec<Stream<T>>,
        group: &str,
        options: ConsumerOptions,
    ) -> WorkerPool<T> {
        WorkerPool {
            streams,
            group: group.to_string(),
            options,
            workers: 1,
            prefix: "worker".to_string(),
            metrics: Metrics::new(),
        }
    }

    /// How many consumers to run (at least 1), on each stream of the pool.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// The start of the consumers' names (default `worker`). Processes sharing a group need
    /// different prefixes (a host name, a pod name): a consumer takes over what its name holds.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// The names the consumers will have.
    pub fn consumer_names(&self) -> Vec<String> {
        (1..=self.workers)
            .map(|i| format!("{}-{i}", self.prefix))
            .collect()
    }

    /// The pool's metrics (all workers together), readable while it runs.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Runs every worker until `shutdown` is triggered, then waits for all of them. If one
    /// fails, the others are stopped too and the first error is returned.
    pub async fn run<F, Fut, E>(self, handler: F, shutdown: Shutdown) -> Result<RunSummary>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let handler = Arc::new(handler);
        // The workers' own signal: the caller's, or the first worker that fails.
        let stop = Shutdown::new();
        let mut workers = JoinSet::new();
        for stream in &self.streams {
            for name in self.consumer_names() {
                let consumer = Consumer {
                    stream: stream.clone(),
                    group: self.group.clone(),
                    name,
                    options: self.options.clone(),
                    metrics: self.metrics.clone(),
                };
                workers.spawn(consumer.run_shared(Arc::clone(&handler), stop.clone()));
            }
        }
        let mut left_pending = 0;
        let mut first_error = None;
        let mut panic = None;
        loop {
            tokio::select! {
                joined = workers.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(summary))) => left_pending += summary.left_pending,
                    Some(Ok(Err(e))) => {
                        first_error.get_or_insert(e);
                        stop.trigger();
                    }
                    Some(Err(e)) => {
                        if e.is_panic() {
                            panic.get_or_insert(e.into_panic());
                        }
                        stop.trigger();
                    }
                },
                _ = shutdown.triggered(), if !stop.is_triggered() => stop.trigger(),
            }
        }
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(RunSummary {
                metrics: self.metrics.snapshot(),
                left_pending,
            }),
        }
    }
}
