//! The consumer runtime: reads a group's entries, hands them to an async handler, acknowledges
//! successes, retries failures with backoff, dead-letters entries that keep failing, reclaims
//! the entries of dead consumers, and stops cleanly on a [`Shutdown`] signal.
//!
//! # Guarantees
//!
//! At least once. An entry is acknowledged only after its handler returned `Ok` (or after it
//! was copied to the dead-letter stream); until then it stays in the group's pending list
//! (PEL), where a retry, a restart of the same consumer or another consumer's reclaim finds it.
//! A handler can run twice for one entry when it outlives `claim_idle` (another consumer takes
//! the entry over meanwhile) or when the process dies between the handler and the XACK, so
//! handlers should be idempotent. A consumer that reads while a slow handler runs (handlers
//! side by side) first renews what it holds for half of `claim_idle` or more (an XCLAIM
//! JUSTID of its own: the delivery count stays), so neither its own reads nor, as long as it
//! keeps reading, other consumers take those entries over.
//!
//! # How an entry moves
//!
//! Handlers run up to `concurrency` at a time and start as soon as a slot is free: a slow
//! handler holds its own slot only. Whenever a slot is free and no fetched entry waits for
//! one, the consumer acknowledges what finished (one XACK, sent in the same round trip as
//! the read that follows it) and fetches the next batch (at most `batch_size` entries), from
//! the first source that has one:
//!
//! 1. **Retries that are due.** A failed entry stays in the consumer's own PEL and is put in an
//!    in-memory retry queue, due `backoff(n)` after its `n`-th delivery failed, where
//!    `backoff(n) = min(initial * 2^(n-1), max)`. When due, the consumer takes it again with
//!    `XCLAIM` from itself. XCLAIM raises the entry's delivery count, so the count the server
//!    keeps is the number of attempts, and `max_deliveries` holds across restarts and across
//!    consumers. The XCLAIM's min-idle is the time since the consumer got the entry: if anyone
//!    took the entry over meanwhile (its idle time restarted), the claim does nothing and the
//!    retry is dropped, so two consumers never retry the same entry.
//! 2. **Reclaims and new entries in one read**, where the server has `XREADGROUP ... CLAIM`
//!    (Redis 8.4, rill-server): `XREADGROUP ... CLAIM <claim_idle> STREAMS key >` returns
//!    first the group's pending entries idle longer than `claim_idle` (those of dead or stuck
//!    consumers, or own entries whose retry got lost) and the entries handed back with
//!    XNACK, taken over for this consumer with their delivery counts, then new entries.
//!    Reclaiming costs no call of its own.
//! 3. On older servers, **reclaims** (`claim_idle`): `XAUTOCLAIM` with a cursor scans the
//!    group's PEL for entries idle longer than `claim_idle` and takes them over; a full pass
//!    starts every `claim_idle / 2`. The delivery counts of a page of claimed entries
//!    (XAUTOCLAIM does not return them) are read back with one `XPENDING` over the page's ID
//!    span for this consumer. Then **new entries**: `XREADGROUP ... >`.
//!
//! Which of the two the server takes is found out on the first read (Redis before 8.4
//! answers `ERR syntax error` to CLAIM, having done nothing) and remembered by every clone of
//! the client, per hash slot on Redis Cluster (nodes of a cluster being upgraded differ); a
//! refusal after successes (the address now leads to an older server) switches to the old
//! path, which is tried again after a minute. [`ConsumerOptions::newer_commands`] turns the
//! newer commands off. A server that is not ready (`LOADING` after a restart, `BUSY`,
//! `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`) is waited out with the backoff, like a lost
//! connection. Reads are raced against the shutdown signal. A read blocks at most `block`
//! (less when a retry or a reclaim pass is due sooner) when no handler runs; with handlers
//! running it does not block, and the consumer waits for the next handler to finish (or the
//! next retry or reclaim) before fetching again.
//!
//! On start, a consumer lists its own PEL (entries a previous run under the same name left
//! behind) and schedules each of them as a retry.
//!
//! Before its handler runs, an entry is checked: an entry delivered more than `max_deliveries`
//! times (its consumers died while handling it, e.g. it crashes the process) goes to the
//! dead-letter stream without running the handler again; an entry the codec cannot decode is
//! a failure (`decode_errors`) and goes to the dead-letter stream at once, whatever
//! `max_deliveries` is, since decoding it again would fail again. A handler error on delivery
//! `n` schedules a retry, or dead-letters the entry when `n >= max_deliveries`: the handler runs
//! at most `max_deliveries` times for one entry. A handler error that is a [`Fatal`] (bare,
//! or boxed as `Box<dyn Error + Send + Sync>`) dead-letters the entry at once. A panicking
//! handler counts as a failed one. Failures are retried by the consumer that had them, after
//! their backoff (a failing downstream gets its pause), not handed to another consumer at
//! once.
//!
//! With [`ConsumerOptions::delete_on_ack`], acknowledging is `XACKDEL` (Redis 8.2,
//! rill-server): handled entries leave the stream too, as in a work queue.
//!
//! # Dead letters
//!
//! A dead letter is an `XADD` to the dead-letter stream (default `<stream>:dead`) with flat
//! fields that `redis-cli` shows as they are: `stream`, `id`, `group`, `consumer`,
//! `deliveries`, `error`, then every field of the original entry under the prefix `entry.`
//! (`entry.data` for the JSON and MessagePack codecs), and the original entry's `XACK`, both in
//! one `MULTI`/`EXEC` transaction: a crash never leaves an entry dead-lettered and still
//! pending, to be dead-lettered twice. That holds on the embedded engine, rill-server and a
//! single Redis; on Redis Cluster (a transaction must stay in one hash slot) the letter is
//! written first and the entry acknowledged after, so a crash between the two can duplicate a
//! letter. [`Stream::dead_letters`] reads them back as [`DeadLetter`]s.
//!
//! # Shutdown
//!
//! [`Shutdown::trigger`] stops reading: a blocked read is abandoned at once, no new handler
//! starts, the handlers already running finish, their successes are acknowledged, and `run`
//! returns a [`RunSummary`]. None is acknowledged without having been handled. Where the
//! server has `XNACK` (Redis 8.8, rill-server), the consumer then hands back what it holds
//! and will not handle: fetched entries it never started (`SILENT`: the delivery does not
//! count) and failed ones waiting for their retry (`FAIL`). They stay pending, owned by no
//! one, and the next read of any consumer of the group takes them at once. On older servers
//! they stay in this consumer's PEL, for its next run or another consumer's reclaim after
//! `claim_idle`; the fetched ones never started get back the delivery count they had (an
//! XCLAIM with RETRYCOUNT), so restarts do not count deliveries no handler saw.
//!
//! Acknowledging, handing back and counting what is left are the run's last calls to the
//! server; they get [`WIND_DOWN_LIMIT`] together. A server that cannot be reached then
//! (down, or hung) does not make `run` fail or wait longer: it returns its summary with
//! `left_pending` as this consumer knows it, and whatever it could not acknowledge stays
//! pending, to be handled again (at least once).

mod dead_letter;
mod metrics;
mod options;
mod pool;
mod retry;
mod shutdown;
mod verdict;
mod worker;

pub use dead_letter::{DeadLetter, DEAD_LETTER_FIELD_PREFIX};
pub use metrics::{Metrics, MetricsSnapshot};
pub use options::ConsumerOptions;
pub use pool::WorkerPool;
pub use shutdown::Shutdown;
pub use verdict::Fatal;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;
use crate::parse;
use crate::stream::Stream;
use crate::types::{Entry, IdRange};

use worker::Worker;

/// How long the end of a run may wait for the server (see "Shutdown" above): long enough for
/// a server that answers at all, short enough that stopping during an outage stays prompt.
pub const WIND_DOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

impl<T: Send + 'static> Stream<T> {
    /// A consumer named `name` in `group`, to [`run`](Consumer::run) with a handler. Names must
    /// be unique among the group's live consumers: a consumer takes over the pending entries
    /// its name already holds when it starts.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rill::consumer::Shutdown;
    /// use rill::{Client, ConsumerOptions, GroupStart};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Order { item: String, qty: u32 }
    ///
    /// let client = Client::embedded();
    /// let orders = client.stream::<Order>("orders");
    /// orders.ensure_group("billing", GroupStart::Beginning).await?;
    /// orders.add(&Order { item: "book".into(), qty: 1 }).await?;
    /// orders.add(&Order { item: "pen".into(), qty: 3 }).await?;
    ///
    /// // In a service the shutdown would come from Ctrl-C; here the last order triggers it.
    /// let shutdown = Shutdown::new();
    /// let stop = shutdown.clone();
    /// let consumer = orders.consumer("billing", "worker-1", ConsumerOptions::default());
    /// let metrics = consumer.metrics(); // readable from elsewhere while it runs
    /// let summary = consumer
    ///     .run(
    ///         move |order| {
    ///             let stop = stop.clone();
    ///             async move {
    ///                 if order.value.qty == 0 {
    ///                     return Err("empty order"); // retried after a backoff
    ///                 }
    ///                 if order.value.item == "pen" {
    ///                     stop.trigger();
    ///                 }
    ///                 Ok(()) // acknowledged
    ///             }
    ///         },
    ///         shutdown,
    ///     )
    ///     .await?;
    /// assert_eq!(summary.metrics.processed, 2);
    /// assert_eq!(summary.left_pending, 0);
    /// assert_eq!(metrics.snapshot().processed, 2);
    /// assert_eq!(orders.pending("billing").await?.count, 0);
    /// # Ok::<(), rill::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn consumer(&self, group: &str, name: &str, options: ConsumerOptions) -> Consumer<T> {
        Consumer {
            stream: self.clone(),
            group: group.to_string(),
            name: name.to_string(),
            options,
            metrics: Metrics::new(),
        }
    }

    /// Reads dead letters: from `dead_letter_stream`, or from `<this stream>:dead` when `None`.
    /// A shared dead-letter stream may hold letters of other streams too (see
    /// [`DeadLetter::stream`]).
    pub async fn dead_letters(
        &self,
        dead_letter_stream: Option<&str>,
        range: IdRange,
        count: Option<usize>,
    ) -> Result<Vec<DeadLetter>> {
        let key = options::dead_letter_key(dead_letter_stream, self.key());
        let mut args = vec![
            Bytes::from_static(b"XRANGE"),
            Bytes::from(key),
            Bytes::from(range.start.arg(true)),
            Bytes::from(range.end.arg(false)),
        ];
        if let Some(n) = count {
            args.push(Bytes::from_static(b"COUNT"));
            args.push(Bytes::from(n.to_string()));
        }
        let reply = self.client.backend.call(args).await?;
        parse::entries(&reply)?
            .iter()
            .map(DeadLetter::from_raw)
            .collect()
    }
}

/// One named consumer of a group, ready to [`run`](Consumer::run). Made by
/// [`Stream::consumer`].
pub struct Consumer<T> {
    stream: Stream<T>,
    group: String,
    name: String,
    options: ConsumerOptions,
    metrics: Metrics,
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("stream", &self.stream.key)
            .field("group", &self.group)
            .field("name", &self.name)
            .field("options", &self.options)
            .finish()
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The metrics when the run ended (for a pool: of all workers together).
    pub metrics: MetricsSnapshot,
    /// Entries left in the consumer's pending list (for a pool: all workers'): on servers
    /// without XNACK, failures waiting for their retry and fetched entries that were never
    /// started (with XNACK those are handed back to the group). The next run under the same
    /// name, or another consumer's reclaim, picks them up. When the server could not be
    /// reached at the end of the run: what this consumer knew it held (its handled entries
    /// not acknowledged included).
    pub left_pending: u64,
}

impl<T: Send + 'static> Consumer<T> {
    /// The consumer's name in its group.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group it consumes for.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// A handle on its metrics, readable while [`Consumer::run`] runs.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Runs the consumer until `shutdown` is triggered: each entry goes to `handler`, whose
    /// `Ok` acknowledges it and whose error schedules a retry (see the [module
    /// docs](crate::consumer) for the whole life of an entry).
    ///
    /// A handler that panics fails its entry, not the consumer (handlers run as tokio tasks,
    /// or inside the consumer's task with the panic caught at `concurrency` 1). The run
    /// returns an error only for what retrying cannot fix: a missing group (NOGROUP), a
    /// dead-letter stream of the wrong type, a reply it cannot read. Lost connections and a
    /// server not ready yet (LOADING, BUSY, TRYAGAIN, CLUSTERDOWN, MASTERDOWN) are retried
    /// with the backoff. Dropping the future instead of triggering `shutdown` aborts
    /// the handlers in flight; their entries stay pending.
    pub async fn run<F, Fut, E>(self, handler: F, shutdown: Shutdown) -> Result<RunSummary>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.run_shared(Arc::new(handler), shutdown).await
    }

    async fn run_shared<F, Fut, E>(self, handler: Arc<F>, shutdown: Shutdown) -> Result<RunSummary>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let mut worker = Worker::new(self);
        let outcome = worker.run(&handler, &shutdown).await;
        // Whatever ended the run, finished handlers' successes are acknowledged first; a
        // server that cannot be reached does not hold the end of the run up for long.
        let wound_down = tokio::time::timeout(WIND_DOWN_LIMIT, worker.wind_down(outcome.is_ok()));
        let wound_down = wound_down.await;
        outcome?;
        let left_pending = match wound_down {
            Ok(Ok(held)) => held,
            Ok(Err(e)) if !worker::is_transient(&e) => return Err(e),
            Ok(Err(e)) => {
                tracing::warn!(consumer = %worker.name, "ending the run: {e}");
                worker.known_held()
            }
            Err(_) => {
                tracing::warn!(consumer = %worker.name, "ending the run: no answer within {WIND_DOWN_LIMIT:?}");
                worker.known_held()
            }
        };
        Ok(RunSummary {
            metrics: worker.metrics.snapshot(),
            left_pending,
        })
    }
}
