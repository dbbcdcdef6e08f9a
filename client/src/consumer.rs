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
//! handlers should be idempotent.
//!
//! # How an entry moves
//!
//! Each turn of a consumer's loop takes one batch, from the first source that has one:
//!
//! 1. **Retries that are due.** A failed entry stays in the consumer's own PEL and is put in an
//!    in-memory retry queue, due `backoff(n)` after its `n`-th delivery failed, where
//!    `backoff(n) = min(initial * 2^(n-1), max)`. When due, the consumer takes it again with
//!    `XCLAIM` from itself. XCLAIM raises the entry's delivery count, so the count the server
//!    keeps is the number of attempts, and `max_deliveries` holds across restarts and across
//!    consumers. The XCLAIM's min-idle is the time since the consumer got the entry: if anyone
//!    took the entry over meanwhile (its idle time restarted), the claim does nothing and the
//!    retry is dropped, so two consumers never retry the same entry.
//! 2. **Reclaims** (`claim_idle`): `XAUTOCLAIM` with a cursor scans the group's PEL for entries
//!    idle longer than `claim_idle` (those of dead or stuck consumers, or own entries whose
//!    retry got lost) and takes them over; a full pass starts every `claim_idle / 2`.
//! 3. **New entries**: `XREADGROUP ... >`, blocking at most `block` (less when a retry or a
//!    reclaim pass is due sooner), raced against the shutdown signal.
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
//! at most `max_deliveries` times for one entry. A panicking handler counts as a failed one.
//!
//! # Dead letters
//!
//! A dead letter is an `XADD` to the dead-letter stream (default `<stream>:dead`) with flat
//! fields that `redis-cli` shows as they are: `stream`, `id`, `group`, `consumer`,
//! `deliveries`, `error`, then every field of the original entry under the prefix `entry.`
//! (`entry.data` for the JSON and MessagePack codecs). Then the original entry is acknowledged.
//! [`Stream::dead_letters`] reads them back as [`DeadLetter`]s.
//!
//! # Shutdown
//!
//! [`Shutdown::trigger`] stops reading: a blocked read is abandoned at once, no new handler
//! starts, the handlers already running finish, their successes are acknowledged, and `run`
//! returns a [`RunSummary`]. Entries of the batch that were not started stay pending for the
//! next run or another consumer; none is acknowledged without having been handled.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use rill_engine::StreamId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::codec::{Codec, Fields};
use crate::error::{Error, Result};
use crate::parse::{self, RawEntry};
use crate::stream::{with_id, Stream};
use crate::types::{Entry, GroupStart, IdRange, PendingQuery};

/// The prefix of the original entry's fields in a dead letter.
pub const DEAD_LETTER_FIELD_PREFIX: &str = "entry.";

/// How many own pending entries a consumer lists per XPENDING call when it starts.
const RECOVERY_PAGE: usize = 1000;

/// Room for rounding when comparing our clock with the server's idle times (ms resolution).
const CLOCK_SLACK: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------------------
// Options

/// How a consumer reads, retries, reclaims and dead-letters. Build it from the defaults with
/// the setters:
///
/// ```
/// use rill::ConsumerOptions;
/// use std::time::Duration;
///
/// let options = ConsumerOptions::default()
///     .batch_size(50)
///     .concurrency(8)
///     .max_deliveries(Some(3))
///     .backoff(Duration::from_millis(200), Duration::from_secs(5));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerOptions {
    batch_size: usize,
    block: Duration,
    concurrency: usize,
    max_deliveries: Option<u64>,
    dead_letter_stream: Option<String>,
    backoff_initial: Duration,
    backoff_max: Duration,
    claim_idle: Option<Duration>,
    ack_on_success: bool,
    create_group: Option<GroupStart>,
}

impl Default for ConsumerOptions {
    /// Batches of 10, 2 s blocking reads, one handler at a time, 5 deliveries before the
    /// dead-letter stream `<stream>:dead`, retries after 100 ms doubling up to 10 s, reclaim of
    /// entries idle for 60 s, ack on success, and no group creation.
    fn default() -> Self {
        ConsumerOptions {
            batch_size: 10,
            block: Duration::from_secs(2),
            concurrency: 1,
            max_deliveries: Some(5),
            dead_letter_stream: None,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            claim_idle: Some(Duration::from_secs(60)),
            ack_on_success: true,
            create_group: None,
        }
    }
}

impl ConsumerOptions {
    /// At most this many entries per read, retry or reclaim (the COUNT; at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The longest a read waits for new entries. Shutdown does not wait for it (the read is
    /// raced against the signal); it bounds how long the loop sleeps when nothing comes.
    /// At least 1 ms (a zero BLOCK would mean "forever" to the server).
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block.max(Duration::from_millis(1));
        self
    }

    /// How many handlers of one batch run at the same time (1: one after the other, in ID
    /// order). Each batch is finished, and acknowledged, before the next is read, so keep
    /// `batch_size` at least this large.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// After how many deliveries a failing entry goes to the dead-letter stream (`None`: retry
    /// for ever; `Some(0)` counts as `Some(1)`). The count is the server's delivery count.
    pub fn max_deliveries(mut self, max: Option<u64>) -> Self {
        self.max_deliveries = max.map(|n| n.max(1));
        self
    }

    /// The dead-letter stream's key (default `<stream>:dead`).
    pub fn dead_letter_stream(mut self, key: &str) -> Self {
        self.dead_letter_stream = Some(key.to_string());
        self
    }

    /// The wait before retrying a failed entry: `initial` after its first delivery, doubling
    /// with each further delivery, never more than `max`. Also paces reconnection attempts
    /// when the server is unreachable.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// Take over pending entries idle longer than this, from any consumer of the group
    /// (`None`: never). Keep it above the longest handler run and the longest backoff, or
    /// entries still being handled or waiting for their retry are taken over too.
    pub fn claim_idle(mut self, idle: Option<Duration>) -> Self {
        self.claim_idle = idle;
        self
    }

    /// Acknowledge an entry when its handler returns `Ok` (default). Turn it off when the
    /// handler acknowledges by itself (e.g. in the same transaction as its own writes).
    pub fn ack_on_success(mut self, ack: bool) -> Self {
        self.ack_on_success = ack;
        self
    }

    /// Create the group (and the stream) at start unless it exists, starting at `start`.
    /// By default the group must exist already, and `run` fails with NOGROUP otherwise.
    pub fn create_group(mut self, start: GroupStart) -> Self {
        self.create_group = Some(start);
        self
    }

    /// The wait before the next delivery of an entry whose `deliveries`-th delivery failed.
    pub fn retry_delay(&self, deliveries: u64) -> Duration {
        let doublings = deliveries.saturating_sub(1).min(31) as u32;
        self.backoff_initial
            .checked_mul(1u32 << doublings)
            .map_or(self.backoff_max, |d| d.min(self.backoff_max))
    }

    fn dead_letter_key(&self, stream: &str) -> String {
        match &self.dead_letter_stream {
            Some(key) => key.clone(),
            None => format!("{stream}:dead"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shutdown

/// The signal that stops consumers: clone it into whatever decides to stop (a Ctrl-C task, a
/// test, a handler), call [`Shutdown::trigger`], and every `run` holding a clone winds down.
///
/// Built on a `tokio::sync::watch` channel rather than a `Notify`: the state is sticky, so a
/// trigger that comes before anyone waits (or between two waits) is never lost, and any number
/// of consumers can wait on it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    state: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A signal not triggered yet.
    pub fn new() -> Shutdown {
        Shutdown {
            state: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Asks every consumer holding a clone to stop. Idempotent.
    pub fn trigger(&self) {
        self.state.send_replace(true);
    }

    /// Whether [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        *self.state.borrow()
    }

    /// Resolves once the signal is triggered (at once if it was already).
    pub async fn triggered(&self) {
        let mut seen = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = seen.wait_for(|stop| *stop).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// Live counters of one consumer (or of every worker of a [`WorkerPool`]): a cheap handle to
/// shared atomics, readable from any task while the consumer runs.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<MetricsInner>,
}

#[derive(Default)]
struct MetricsInner {
    processed: AtomicU64,
    failed: AtomicU64,
    dead_lettered: AtomicU64,
    retries: AtomicU64,
    decode_errors: AtomicU64,
    reclaimed: AtomicU64,
    processing: Histogram,
    last_error: Mutex<Option<String>>,
}

/// The metrics at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsSnapshot {
    /// Handler runs that returned `Ok`.
    pub processed: u64,
    /// Handler runs that returned an error or panicked, plus entries that could not be decoded.
    pub failed: u64,
    /// Entries moved to the dead-letter stream (and acknowledged).
    pub dead_lettered: u64,
    /// Failed entries taken back for another attempt after their backoff.
    pub retries: u64,
    /// Entries the codec could not decode (also counted in `failed` and, once written there,
    /// in `dead_lettered`).
    pub decode_errors: u64,
    /// Entries taken over with XAUTOCLAIM after `claim_idle`.
    pub reclaimed: u64,
    /// Mean handler run time, successes and failures alike (zero before the first run).
    pub avg_processing: Duration,
    /// Median handler run time, within about 3% (a log-scale histogram; zero before the first
    /// run). Likewise `p95` and `p99`.
    pub p50: Duration,
    /// 95th percentile of handler run times.
    pub p95: Duration,
    /// 99th percentile of handler run times.
    pub p99: Duration,
    /// The latest failure: `entry <id>: <error text>`.
    pub last_error: Option<String>,
}

impl Metrics {
    /// Fresh counters at zero.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Reads every counter now. Counters are read one by one while consumers keep counting,
    /// so a snapshot taken during a run may be off by the entries in flight.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let m = &self.inner;
        let [p50, p95, p99] = m.processing.percentiles([0.50, 0.95, 0.99]);
        MetricsSnapshot {
            processed: m.processed.load(Relaxed),
            failed: m.failed.load(Relaxed),
            dead_lettered: m.dead_lettered.load(Relaxed),
            retries: m.retries.load(Relaxed),
            decode_errors: m.decode_errors.load(Relaxed),
            reclaimed: m.reclaimed.load(Relaxed),
            avg_processing: m.processing.mean(),
            p50,
            p95,
            p99,
            last_error: m.last_error.lock().clone(),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    fn failure(&self, id: StreamId, error: &str) {
        Metrics::add(&self.inner.failed, 1);
        // Codec errors already name their entry; say it once.
        let text = if error.contains(&id.to_string()) {
            error.to_string()
        } else {
            format!("entry {id}: {error}")
        };
        *self.inner.last_error.lock() = Some(text);
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// Sub-buckets per power of two: 2^5 = 32, so a bucket spans at most 1/32 of its values.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Exact buckets below `SUB` µs, then `SUB` buckets for every power of two up to 2^63 µs.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A fixed log-linear histogram of durations in microseconds: constant memory (~8 KiB),
/// lock-free recording, percentiles within about 3%.
struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        if us < SUB as u64 {
            return us as usize;
        }
        let exp = 63 - us.leading_zeros(); // >= SUB_BITS
        let sub = (us >> (exp - SUB_BITS)) as usize & (SUB - 1);
        (exp - SUB_BITS + 1) as usize * SUB + sub
    }

    /// The lowest value of a bucket and its width.
    fn span(bucket: usize) -> (u64, u64) {
        if bucket < SUB {
            return (bucket as u64, 1);
        }
        let exp = (bucket / SUB) as u32 - 1 + SUB_BITS;
        let width = 1u64 << (exp - SUB_BITS);
        ((1u64 << exp) + (bucket % SUB) as u64 * width, width)
    }

    fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Histogram::bucket(us)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    fn mean(&self) -> Duration {
        match self.count.load(Relaxed) {
            0 => Duration::ZERO,
            n => Duration::from_micros(self.sum_us.load(Relaxed) / n),
        }
    }

    /// Each quantile (0..=1, ascending) as the middle of the bucket holding it, capped at the
    /// largest value recorded.
    fn percentiles<const N: usize>(&self, quantiles: [f64; N]) -> [Duration; N] {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let mut out = [Duration::ZERO; N];
        if total == 0 {
            return out;
        }
        let max = self.max_us.load(Relaxed);
        let mut seen = 0u64;
        let mut bucket = 0usize;
        for (slot, q) in out.iter_mut().zip(quantiles) {
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            while bucket < BUCKETS && seen + counts[bucket] < rank {
                seen += counts[bucket];
                bucket += 1;
            }
            let (low, width) = Histogram::span(bucket.min(BUCKETS - 1));
            *slot = Duration::from_micros((low + width / 2).min(max));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Dead letters

/// One entry of a dead-letter stream: where the entry came from, why it was given up, and its
/// original fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The dead letter's own ID in the dead-letter stream (its time is when it was written).
    pub id: StreamId,
    /// The key of the stream the entry came from.
    pub stream: String,
    /// The entry's ID in that stream.
    pub entry_id: StreamId,
    /// The consumer group that gave it up.
    pub group: String,
    /// The consumer that gave it up.
    pub consumer: String,
    /// The entry's delivery count when it was given up.
    pub deliveries: u64,
    /// The last error: the handler's, the codec's, or why the delivery count was exceeded.
    pub error: String,
    /// The original entry's fields, as they were stored (prefix removed).
    pub fields: Fields,
}

impl DeadLetter {
    /// Reads a dead letter from a raw dead-letter stream entry.
    pub fn from_raw(raw: &RawEntry) -> Result<DeadLetter> {
        let not_one = |what: String| Error::Codec {
            id: Some(raw.id.to_string()),
            message: format!("not a dead letter: {what}"),
        };
        let fields = raw
            .fields
            .as_ref()
            .ok_or_else(|| not_one("the entry was deleted".into()))?;
        let text = |name: &str| -> Result<String> {
            let value = fields
                .iter()
                .find(|(f, _)| f.as_ref() == name.as_bytes())
                .map(|(_, v)| v)
                .ok_or_else(|| not_one(format!("no '{name}' field")))?;
            Ok(String::from_utf8_lossy(value).into_owned())
        };
        let entry_id = text("id")?;
        let deliveries = text("deliveries")?;
        let prefix = DEAD_LETTER_FIELD_PREFIX.as_bytes();
        Ok(DeadLetter {
            id: raw.id,
            stream: text("stream")?,
            entry_id: parse::parse_id(&entry_id)
                .ok_or_else(|| not_one(format!("bad id '{entry_id}'")))?,
            group: text("group")?,
            consumer: text("consumer")?,
            deliveries: deliveries
                .parse()
                .map_err(|_| not_one(format!("bad deliveries '{deliveries}'")))?,
            error: text("error")?,
            fields: fields
                .iter()
                .filter(|(f, _)| f.starts_with(prefix))
                .map(|(f, v)| (f.slice(prefix.len()..), v.clone()))
                .collect(),
        })
    }

    /// Decodes the original entry with the stream's codec (fails for the entries that were
    /// dead-lettered because they could not be decoded).
    pub fn decode<T: DeserializeOwned>(&self, codec: Codec) -> Result<T> {
        codec
            .decode(&self.fields)
            .map_err(|e| with_id(e, self.entry_id))
    }
}

// ---------------------------------------------------------------------------------------------
// Consumer

impl<T: Serialize + DeserializeOwned + Send + 'static> Stream<T> {
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
        let key = match dead_letter_stream {
            Some(k) => k.to_string(),
            None => format!("{}:dead", self.key()),
        };
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
    /// Entries left in the consumer's pending list (for a pool: all workers'): failures
    /// waiting for their retry and entries of the last batch that were never started. The
    /// next run under the same name, or another consumer's reclaim, picks them up.
    pub left_pending: u64,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Consumer<T> {
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
    /// Handlers run as tokio tasks, so a panic fails one entry, not the consumer. The run
    /// returns an error only for what retrying cannot fix: a missing group (NOGROUP), a
    /// dead-letter stream of the wrong type, a reply it cannot read. Lost connections are
    /// retried with the backoff. Dropping the future instead of triggering `shutdown` aborts
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
        // Whatever ended the run, finished handlers' successes are acknowledged first.
        let flushed = worker.flush_acks().await;
        outcome?;
        flushed?;
        let left_pending = worker.own_pending().await?;
        Ok(RunSummary {
            metrics: worker.metrics.snapshot(),
            left_pending,
        })
    }
}

/// An entry the consumer holds: how many times the server delivered it, and since when this
/// consumer has it (for the min-idle of its retry claim).
struct Delivery {
    id: StreamId,
    fields: Option<Fields>,
    deliveries: u64,
    held_since: Instant,
}

/// A failed entry waiting in the consumer's PEL for its next attempt.
#[derive(Clone, Copy)]
struct Retry {
    due: Instant,
    deliveries: u64,
    held_since: Instant,
}

/// Failed entries by due time; one slot per entry ID.
#[derive(Default)]
struct RetryQueue {
    by_due: BTreeSet<(Instant, StreamId)>,
    items: HashMap<StreamId, Retry>,
}

impl RetryQueue {
    fn schedule(&mut self, id: StreamId, retry: Retry) {
        if let Some(old) = self.items.insert(id, retry) {
            self.by_due.remove(&(old.due, id));
        }
        self.by_due.insert((retry.due, id));
    }

    fn remove(&mut self, id: StreamId) {
        if let Some(old) = self.items.remove(&id) {
            self.by_due.remove(&(old.due, id));
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.by_due.first().map(|(due, _)| *due)
    }

    fn take_due(&mut self, now: Instant, max: usize) -> Vec<(StreamId, Retry)> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.by_due.first() {
                Some(&(due, id)) if due <= now => {
                    self.by_due.pop_first();
                    if let Some(retry) = self.items.remove(&id) {
                        out.push((id, retry));
                    }
                }
                _ => break,
            }
        }
        out
    }
}

/// The running state of one consumer.
struct Worker<T> {
    stream: Stream<T>,
    group: String,
    name: String,
    opts: ConsumerOptions,
    metrics: Metrics,
    dead_letter_key: String,
    retries: RetryQueue,
    recovered: bool,
    reclaim_cursor: StreamId,
    reclaim_at: Instant,
    /// Handled (or dead-lettered) entries not acknowledged yet: one XACK per batch.
    acks: Vec<StreamId>,
}

/// Only a lost connection is worth waiting out; anything else is a bug or a misconfiguration.
fn is_transient(e: &Error) -> bool {
    matches!(e, Error::Connection(_))
}

fn arg(text: impl ToString) -> Bytes {
    Bytes::from(text.to_string())
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Worker<T> {
    fn new(c: Consumer<T>) -> Worker<T> {
        let dead_letter_key = c.options.dead_letter_key(c.stream.key());
        Worker {
            stream: c.stream,
            group: c.group,
            name: c.name,
            opts: c.options,
            metrics: c.metrics,
            dead_letter_key,
            retries: RetryQueue::default(),
            recovered: false,
            reclaim_cursor: StreamId::MIN,
            reclaim_at: Instant::now(),
            acks: Vec::new(),
        }
    }

    async fn run<F, Fut, E>(&mut self, handler: &Arc<F>, shutdown: &Shutdown) -> Result<()>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let mut pause = self.opts.backoff_initial.max(Duration::from_millis(1));
        while !shutdown.is_triggered() {
            match self.step(handler, shutdown).await {
                Ok(()) => pause = self.opts.backoff_initial.max(Duration::from_millis(1)),
                Err(e) if is_transient(&e) => {
                    tracing::warn!(consumer = %self.name, "{e}; trying again in {pause:?}");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.triggered() => {}
                    }
                    pause = (pause * 2).min(self.opts.backoff_max.max(pause));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One turn: the next batch, its handlers, its acknowledgements.
    async fn step<F, Fut, E>(&mut self, handler: &Arc<F>, shutdown: &Shutdown) -> Result<()>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        if !self.recovered {
            if let Some(start) = self.opts.create_group {
                self.stream.ensure_group(&self.group, start).await?;
            }
            self.recover().await?;
            self.recovered = true;
        }
        let batch = self.next_batch(shutdown).await?;
        let outcome = self.process(batch, handler, shutdown).await;
        let flushed = self.flush_acks().await;
        outcome.and(flushed)
    }

    /// Schedules a retry for every entry this consumer's name already holds.
    async fn recover(&mut self) -> Result<()> {
        let mut query = PendingQuery {
            range: IdRange::all(),
            count: RECOVERY_PAGE,
            consumer: Some(self.name.clone()),
            min_idle: None,
        };
        loop {
            let page = self.stream.pending_entries(&self.group, &query).await?;
            let now = Instant::now();
            for p in &page {
                let held_since = now.checked_sub(p.idle).unwrap_or(now);
                let due = held_since + self.opts.retry_delay(p.deliveries);
                let retry = Retry {
                    due: due.max(now),
                    deliveries: p.deliveries,
                    held_since,
                };
                self.retries.schedule(p.id, retry);
            }
            match page.last() {
                Some(last) if page.len() == RECOVERY_PAGE => query.range = IdRange::after(last.id),
                _ => return Ok(()),
            }
        }
    }

    /// Due retries, else a reclaim pass's next page, else new entries.
    async fn next_batch(&mut self, shutdown: &Shutdown) -> Result<Vec<Delivery>> {
        let now = Instant::now();
        let due = self.retries.take_due(now, self.opts.batch_size);
        if !due.is_empty() {
            return self.claim_retries(due).await;
        }
        if let Some(idle) = self.opts.claim_idle {
            if now >= self.reclaim_at {
                let batch = self.reclaim(idle).await?;
                if !batch.is_empty() {
                    return Ok(batch);
                }
                // An empty page: read new entries meanwhile (without blocking while the pass
                // goes on) rather than scan a long PEL with nothing else happening.
            }
        }
        let mut wait = self.opts.block;
        if let Some(at) = self.retries.next_due() {
            wait = wait.min(at.saturating_duration_since(now));
        }
        if self.opts.claim_idle.is_some() {
            wait = wait.min(self.reclaim_at.saturating_duration_since(now));
        }
        // Never BLOCK 0: the server would wait for ever.
        let block = (wait >= Duration::from_millis(1)).then_some(wait);
        let read =
            self.stream
                .read_group_raw(&self.group, &self.name, self.opts.batch_size, block, false);
        // A read abandoned here may still have been served: its entries then stay in this
        // consumer's PEL, for the next run or a reclaim.
        let raw = tokio::select! {
            biased;
            read = read => read?,
            _ = shutdown.triggered() => return Ok(Vec::new()),
        };
        let held_since = Instant::now();
        Ok(raw
            .into_iter()
            .map(|r| Delivery {
                id: r.id,
                fields: r.fields,
                deliveries: 1,
                held_since,
            })
            .collect())
    }

    /// Takes due retries back from this consumer's own PEL with XCLAIM (one per entry, in one
    /// round trip), which raises their delivery counts.
    async fn claim_retries(&mut self, due: Vec<(StreamId, Retry)>) -> Result<Vec<Delivery>> {
        let commands = due
            .iter()
            .map(|(id, retry)| {
                let min_idle = retry.held_since.elapsed().saturating_sub(CLOCK_SLACK);
                vec![
                    Bytes::from_static(b"XCLAIM"),
                    self.stream.key.clone(),
                    arg(&self.group),
                    arg(&self.name),
                    arg(min_idle.as_millis()),
                    arg(id),
                ]
            })
            .collect();
        let replies = match self.stream.client.backend.call_many(commands).await {
            Ok(replies) => replies,
            Err(e) => {
                for (id, retry) in due {
                    self.retries.schedule(id, retry);
                }
                return Err(e);
            }
        };
        let held_since = Instant::now();
        let mut batch = Vec::with_capacity(due.len());
        for ((id, retry), reply) in due.into_iter().zip(replies) {
            // Nothing back: the entry was deleted, acknowledged, or taken over by another
            // consumer since. Either way it is no longer this consumer's to retry.
            for raw in parse::entries(&reply?)? {
                if raw.id == id {
                    Metrics::add(&self.metrics.inner.retries, 1);
                    batch.push(Delivery {
                        id,
                        fields: raw.fields,
                        deliveries: retry.deliveries + 1,
                        held_since,
                    });
                }
            }
        }
        Ok(batch)
    }

    /// The next page of a reclaim pass (XAUTOCLAIM from the cursor), with each entry's delivery
    /// count read from XPENDING since XAUTOCLAIM does not return it.
    async fn reclaim(&mut self, min_idle: Duration) -> Result<Vec<Delivery>> {
        let claimed = self
            .stream
            .autoclaim_raw(
                &self.group,
                &self.name,
                min_idle,
                self.reclaim_cursor,
                self.opts.batch_size,
            )
            .await?;
        self.reclaim_cursor = claimed.next;
        if claimed.next == StreamId::MIN {
            self.reclaim_at = Instant::now() + (min_idle / 2).max(Duration::from_millis(1));
        }
        for id in &claimed.deleted {
            self.retries.remove(*id);
        }
        if claimed.claimed.is_empty() {
            return Ok(Vec::new());
        }
        let held_since = Instant::now();
        let commands = claimed
            .claimed
            .iter()
            .map(|e| {
                vec![
                    Bytes::from_static(b"XPENDING"),
                    self.stream.key.clone(),
                    arg(&self.group),
                    arg(e.id),
                    arg(e.id),
                    Bytes::from_static(b"1"),
                ]
            })
            .collect();
        let replies = self.stream.client.backend.call_many(commands).await?;
        let mut batch = Vec::with_capacity(claimed.claimed.len());
        for (entry, reply) in claimed.claimed.into_iter().zip(replies) {
            let reply = reply?;
            // No row, or another owner: acknowledged or taken over again in between.
            let Some(row) = parse::array(&reply)?.first() else {
                continue;
            };
            let [_, owner, _, deliveries] = parse::array(row)? else {
                return Err(Error::unexpected("XPENDING row", row));
            };
            if parse::text(owner)? != self.name {
                continue;
            }
            self.retries.remove(entry.id);
            Metrics::add(&self.metrics.inner.reclaimed, 1);
            batch.push(Delivery {
                id: entry.id,
                fields: entry.value.fields,
                deliveries: parse::integer(deliveries)?.max(1) as u64,
                held_since,
            });
        }
        Ok(batch)
    }

    /// Runs the batch's handlers (up to `concurrency` at a time) and books their outcomes.
    /// Stops starting handlers once shutdown is triggered; the ones started always finish.
    async fn process<F, Fut, E>(
        &mut self,
        batch: Vec<Delivery>,
        handler: &Arc<F>,
        shutdown: &Shutdown,
    ) -> Result<()>
    where
        F: Fn(Entry<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let permits = Arc::new(Semaphore::new(self.opts.concurrency));
        let mut tasks = JoinSet::new();
        let mut running = HashMap::new();
        let mut fatal = None;
        for delivery in batch {
            if shutdown.is_triggered() {
                break;
            }
            self.retries.remove(delivery.id);
            let Some(fields) = &delivery.fields else {
                // Deleted from the stream while pending: nothing left to handle.
                self.acks.push(delivery.id);
                continue;
            };
            if let Some(max) = self.opts.max_deliveries {
                if delivery.deliveries > max {
                    let error = format!(
                        "delivered {} times, more than max_deliveries ({max}), without an outcome",
                        delivery.deliveries
                    );
                    self.dead_letter(delivery, error, &mut fatal).await;
                    continue;
                }
            }
            let value = match self.stream.codec.decode::<T>(fields) {
                Ok(value) => value,
                Err(e) => {
                    let error = with_id(e, delivery.id).to_string();
                    Metrics::add(&self.metrics.inner.decode_errors, 1);
                    self.metrics.failure(delivery.id, &error);
                    self.dead_letter(delivery, error, &mut fatal).await;
                    continue;
                }
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break; // never closed
            };
            if shutdown.is_triggered() {
                break;
            }
            let handler = Arc::clone(handler);
            let entry = Entry {
                id: delivery.id,
                value,
            };
            let metrics = self.metrics.clone();
            let task = tasks.spawn(async move {
                let (id, started) = (entry.id, Instant::now());
                let outcome = handler(entry).await.map_err(|e| e.to_string());
                // Booked here, before the next handler may start: live metrics stay exact.
                metrics.inner.processing.record(started.elapsed());
                match &outcome {
                    Ok(()) => Metrics::add(&metrics.inner.processed, 1),
                    Err(error) => metrics.failure(id, error),
                }
                drop(permit);
                outcome
            });
            running.insert(task.id(), delivery);
        }
        while let Some(joined) = tasks.join_next_with_id().await {
            let (task, outcome) = match joined {
                Ok((task, outcome)) => (task, outcome),
                Err(e) => {
                    // The task never booked its outcome: the handler panicked.
                    let (task, error) = (e.id(), panic_text(e));
                    if let Some(delivery) = running.get(&task) {
                        self.metrics.failure(delivery.id, &error);
                    }
                    (task, Err(error))
                }
            };
            let Some(delivery) = running.remove(&task) else {
                continue;
            };
            match outcome {
                Ok(()) => {
                    if self.opts.ack_on_success {
                        self.acks.push(delivery.id);
                    }
                }
                Err(error) => match self.opts.max_deliveries {
                    Some(max) if delivery.deliveries >= max => {
                        self.dead_letter(delivery, error, &mut fatal).await
                    }
                    _ => self.schedule_retry(delivery),
                },
            }
        }
        fatal.map_or(Ok(()), Err)
    }

    fn schedule_retry(&mut self, delivery: Delivery) {
        let retry = Retry {
            due: Instant::now() + self.opts.retry_delay(delivery.deliveries),
            deliveries: delivery.deliveries,
            held_since: delivery.held_since,
        };
        self.retries.schedule(delivery.id, retry);
    }

    /// Copies the entry to the dead-letter stream, then queues its XACK. If the copy fails on
    /// the connection, the entry goes back to the retry queue (and so, past the limit, to the
    /// dead-letter stream again); any other failure leaves it pending and ends the run.
    async fn dead_letter(&mut self, delivery: Delivery, error: String, fatal: &mut Option<Error>) {
        let mut args = vec![
            Bytes::from_static(b"XADD"),
            arg(&self.dead_letter_key),
            Bytes::from_static(b"*"),
            Bytes::from_static(b"stream"),
            self.stream.key.clone(),
            Bytes::from_static(b"id"),
            arg(delivery.id),
            Bytes::from_static(b"group"),
            arg(&self.group),
            Bytes::from_static(b"consumer"),
            arg(&self.name),
            Bytes::from_static(b"deliveries"),
            arg(delivery.deliveries),
            Bytes::from_static(b"error"),
            arg(error),
        ];
        for (field, value) in delivery.fields.iter().flatten() {
            let mut name = DEAD_LETTER_FIELD_PREFIX.as_bytes().to_vec();
            name.extend_from_slice(field);
            args.push(Bytes::from(name));
            args.push(value.clone());
        }
        match self.stream.client.backend.call(args).await {
            Ok(_) => {
                Metrics::add(&self.metrics.inner.dead_lettered, 1);
                self.acks.push(delivery.id);
            }
            Err(e) if is_transient(&e) => {
                tracing::warn!(consumer = %self.name, id = %delivery.id, "dead letter: {e}");
                self.schedule_retry(delivery);
            }
            Err(e) => {
                tracing::warn!(consumer = %self.name, id = %delivery.id, "dead letter: {e}");
                fatal.get_or_insert(e);
            }
        }
    }

    /// Acknowledges what was handled; on failure keeps the IDs for the next attempt.
    async fn flush_acks(&mut self) -> Result<()> {
        if self.acks.is_empty() {
            return Ok(());
        }
        self.stream.ack(&self.group, &self.acks).await?;
        self.acks.clear();
        Ok(())
    }

    /// How many entries this consumer still holds.
    async fn own_pending(&self) -> Result<u64> {
        let summary = self.stream.pending(&self.group).await?;
        Ok(summary
            .consumers
            .iter()
            .find(|(name, _)| *name == self.name)
            .map_or(0, |(_, n)| *n))
    }
}

/// A failed handler task's message.
fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "handler cancelled".to_string();
    }
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("handler panicked: {text}")
}

// ---------------------------------------------------------------------------------------------
// Worker pool

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
    stream: Stream<T>,
    group: String,
    options: ConsumerOptions,
    workers: usize,
    prefix: String,
    metrics: Metrics,
}

impl<T> fmt::Debug for WorkerPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("stream", &self.stream.key)
            .field("group", &self.group)
            .field("workers", &self.workers)
            .field("prefix", &self.prefix)
            .field("options", &self.options)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> WorkerPool<T> {
    /// A pool of one worker named `worker-1`; see [`WorkerPool::workers`] and
    /// [`WorkerPool::prefix`].
    pub fn new(stream: &Stream<T>, group: &str, options: ConsumerOptions) -> WorkerPool<T> {
        WorkerPool {
            stream: stream.clone(),
            group: group.to_string(),
            options,
            workers: 1,
            prefix: "worker".to_string(),
            metrics: Metrics::new(),
        }
    }

    /// How many consumers to run (at least 1).
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
        for name in self.consumer_names() {
            let consumer = Consumer {
                stream: self.stream.clone(),
                group: self.group.clone(),
                name,
                options: self.options.clone(),
                metrics: self.metrics.clone(),
            };
            workers.spawn(consumer.run_shared(Arc::clone(&handler), stop.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let o =
            ConsumerOptions::default().backoff(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u64> = (1..=6)
            .map(|n| o.retry_delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(o.retry_delay(0), Duration::from_millis(100));
        assert_eq!(o.retry_delay(u64::MAX), Duration::from_secs(1));
    }

    #[test]
    fn histogram_buckets_cover_their_values() {
        for us in [
            0u64,
            1,
            31,
            32,
            33,
            63,
            64,
            1000,
            123_456,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let (low, width) = Histogram::span(Histogram::bucket(us));
            assert!(
                low <= us && us - low < width,
                "{us} not in [{low}, +{width})"
            );
        }
        assert!(Histogram::bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_are_within_the_bucket_precision() {
        let h = Histogram::default();
        assert_eq!(h.percentiles([0.5]), [Duration::ZERO]);
        assert_eq!(h.mean(), Duration::ZERO);
        // 1..=1000 ms: the median is 500 ms, p95 950 ms, p99 990 ms.
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let [p50, p95, p99] = h.percentiles([0.5, 0.95, 0.99]);
        for (got, want) in [(p50, 500.0), (p95, 950.0), (p99, 990.0)] {
            let got = got.as_secs_f64() * 1000.0;
            assert!(
                (got - want).abs() / want < 0.035,
                "{got} ms, want {want} ms"
            );
        }
        assert_eq!(h.mean(), Duration::from_micros(500_500));
        // Never above the largest value seen.
        let one = Histogram::default();
        one.record(Duration::from_micros(1_000_001));
        assert_eq!(one.percentiles([0.99]), [Duration::from_micros(1_000_001)]);
    }

    #[test]
    fn retry_queue_keeps_one_slot_per_entry_in_due_order() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        let r = |due| Retry {
            due,
            deliveries: 1,
            held_since: now,
        };
        let mut q = RetryQueue::default();
        q.schedule(StreamId::new(2, 0), r(now));
        q.schedule(StreamId::new(1, 0), r(later));
        q.schedule(StreamId::new(1, 0), r(now)); // rescheduled, not duplicated
        q.schedule(StreamId::new(3, 0), r(later));
        q.remove(StreamId::new(3, 0));
        let ids: Vec<StreamId> = q.take_due(now, 10).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [StreamId::new(1, 0), StreamId::new(2, 0)]);
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn shutdown_is_sticky_and_shared() {
        let s = Shutdown::new();
        let clone = s.clone();
        assert!(!clone.is_triggered());
        s.trigger();
        s.trigger();
        assert!(clone.is_triggered());
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(clone.triggered()))
            .ok();
    }

    #[test]
    fn dead_letter_round_trips_its_fields() {
        let field = |f: &str, v: &str| (Bytes::from(f.to_string()), Bytes::from(v.to_string()));
        let raw = RawEntry {
            id: StreamId::new(9, 0),
            fields: Some(vec![
                field("stream", "orders"),
                field("id", "5-1"),
                field("group", "billing"),
                field("consumer", "w-1"),
                field("deliveries", "3"),
                field("error", "boom"),
                field("entry.data", "7"),
            ]),
        };
        let letter = DeadLetter::from_raw(&raw).expect("a dead letter");
        assert_eq!(letter.entry_id, StreamId::new(5, 1));
        assert_eq!(letter.deliveries, 3);
        assert_eq!(letter.decode::<u32>(Codec::Json), Ok(7));
        let not_one = RawEntry {
            id: StreamId::new(9, 1),
            fields: Some(vec![field("data", "7")]),
        };
        assert!(DeadLetter::from_raw(&not_one).is_err());
    }
}
