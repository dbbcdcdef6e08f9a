//! The consumer runtime's promises, one test each: successes are acknowledged, a stopped
//! consumer's entries are reclaimed, failures are retried with rising delivery counts, poison
//! entries end in the dead-letter stream, shutdown loses nothing, competing workers handle
//! every entry exactly once, undecodable entries are dead-lettered rather than skipped.
//!
//! Every wait is bounded by [`bounded`] only as a failure guard; no assertion depends on time.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use rill::consumer::{RunSummary, Shutdown};
use rill::{
    Client, ConsumerOptions, GroupStart, IdRange, PendingQuery, Stream, StreamId, Trim, WorkerPool,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;

mod common;
use common::{bounded, quick};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job {
    n: u32,
    poison: bool,
}

fn job(n: u32) -> Job {
    Job { n, poison: false }
}

const GROUP: &str = "workers";

async fn stream_with(client: &Client, key: &str, n: u32) -> (Stream<Job>, Vec<StreamId>) {
    let stream = client.stream::<Job>(key);
    stream
        .ensure_group(GROUP, GroupStart::Beginning)
        .await
        .expect("group");
    let jobs: Vec<Job> = (0..n).map(job).collect();
    let mut ids = Vec::new();
    for chunk in jobs.chunks(1000) {
        ids.extend(stream.add_batch(chunk).await.expect("add"));
    }
    (stream, ids)
}

/// Every pending entry of the group: ID -> (consumer, deliveries).
async fn pel(stream: &Stream<Job>) -> HashMap<StreamId, (String, u64)> {
    let query = PendingQuery {
        count: 1_000_000,
        ..PendingQuery::default()
    };
    stream
        .pending_entries(GROUP, &query)
        .await
        .expect("xpending")
        .into_iter()
        .map(|p| (p.id, (p.consumer, p.deliveries)))
        .collect()
}

/// The delivery count of one pending entry, and who holds it.
async fn pending_one(stream: &Stream<Job>, id: StreamId) -> Option<(String, u64)> {
    let query = PendingQuery {
        range: IdRange::between(id, id),
        count: 1,
        ..PendingQuery::default()
    };
    let rows = stream
        .pending_entries(GROUP, &query)
        .await
        .expect("xpending");
    rows.into_iter().next().map(|p| (p.consumer, p.deliveries))
}

/// Consumer `a` reads up to `batch` entries and its process dies while the first is being
/// handled (the run's future is dropped: nothing is acknowledged or handed back): every
/// entry it read stays in its PEL, delivered once. Returns how many it left pending.
async fn crash_holding(stream: &Stream<Job>, batch: usize) -> u64 {
    let a = stream.consumer(GROUP, "a", quick().batch_size(batch).newer_commands(false));
    let started = Arc::new(tokio::sync::Notify::new());
    let handler = {
        let started = started.clone();
        move |_e: rill::Entry<Job>| {
            let started = started.clone();
            async move {
                started.notify_one();
                std::future::pending::<Result<(), String>>().await
            }
        }
    };
    let run = a.run(handler, Shutdown::new());
    bounded(async {
        tokio::select! {
            _ = run => panic!("consumer a ended on its own"),
            _ = started.notified() => {}
        }
    })
    .await;
    pel(stream)
        .await
        .values()
        .filter(|(owner, n)| owner == "a" && *n == 1)
        .count() as u64
}

/// Consumer `b` (`options` with a 50 ms `claim_idle`) reclaims all of `ids`, which a crashed
/// holder left pending, and handles them in ID order; its summary.
async fn reclaim_everything(
    stream: &Stream<Job>,
    ids: &[StreamId],
    options: ConsumerOptions,
) -> RunSummary {
    let shutdown = Shutdown::new();
    let options = options.claim_idle(Some(Duration::from_millis(50)));
    let b = stream.consumer(GROUP, "b", options);
    let (seen, handler) = recording(ids.len(), &shutdown);
    let summary = bounded(b.run(handler, shutdown)).await.expect("run b");
    assert_eq!(*seen.lock(), ids);
    assert_eq!(summary.metrics.reclaimed, ids.len() as u64);
    summary
}

/// The IDs a [`recording`] handler was given, in order.
type Seen = Arc<Mutex<Vec<StreamId>>>;

/// The outcome a [`recording`] handler returns at once.
type Handled = std::future::Ready<Result<(), String>>;

/// A handler that records the IDs it is given and stops the run after `n` of them.
fn recording(
    n: usize,
    shutdown: &Shutdown,
) -> (
    Seen,
    impl Fn(rill::Entry<Job>) -> Handled + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (log, stop) = (seen.clone(), shutdown.clone());
    let handler = move |e: rill::Entry<Job>| {
        let mut log = log.lock();
        log.push(e.id);
        if log.len() == n {
            stop.trigger();
        }
        std::future::ready(Ok(()))
    };
    (seen, handler)
}

/// Runs the success path on any client: every entry handled once, in order, and acknowledged.
async fn success_path(client: Client) {
    let (stream, ids) = stream_with(&client, "jobs", 25).await;
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(GROUP, "c-1", quick().batch_size(10));
    let (seen, handler) = recording(25, &shutdown);
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(*seen.lock(), ids, "each entry once, in ID order");
    assert_eq!(summary.metrics.processed, 25);
    assert_eq!(summary.metrics.failed, 0);
    assert_eq!(summary.metrics.dead_lettered, 0);
    assert_eq!(summary.metrics.last_error, None);
    assert_eq!(summary.left_pending, 0);
    assert!(pel(&stream).await.is_empty());
    let group = &stream.groups().await.expect("groups")[0];
    assert_eq!((group.pending, group.entries_read), (0, Some(25)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_acknowledges_every_entry() {
    success_path(Client::embedded()).await;
}

/// The same over TCP through rill-server and the `redis` crate (blocking reads on their own
/// connections).
#[test]
fn success_acknowledges_every_entry_over_tcp() {
    // The server runs its own runtime: start it outside the test's.
    let server = rill::testing::TestServer::start().expect("server");
    let runtime = common::runtime();
    runtime.block_on(async {
        let client = Client::connect(&server.url()).await.expect("connect");
        success_path(client.clone()).await;
        poison_path(client).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_consumer_entries_are_reclaimed_by_another() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 5).await;

    // Consumer A reads all five and dies handling the first: five entries stay in its PEL.
    assert_eq!(crash_holding(&stream, 10).await, 5);
    let before = pel(&stream).await;
    assert!(before.values().all(|(owner, n)| owner == "a" && *n == 1));

    // Consumer B reclaims them once idle for 50 ms; each comes with its delivery count at 2.
    let shutdown = Shutdown::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let b = stream.consumer(
        GROUP,
        "b",
        quick().claim_idle(Some(Duration::from_millis(50))),
    );
    let handler = {
        let (seen, stop, stream) = (seen.clone(), shutdown.clone(), stream.clone());
        move |e: rill::Entry<Job>| {
            let (seen, stop, stream) = (seen.clone(), stop.clone(), stream.clone());
            async move {
                let holder = pending_one(&stream, e.id).await;
                let mut seen = seen.lock();
                seen.push((e.id, holder));
                if seen.len() == 5 {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        }
    };
    let summary = bounded(b.run(handler, shutdown)).await.expect("run b");
    let expected: Vec<_> = ids
        .iter()
        .map(|id| (*id, Some(("b".to_string(), 2))))
        .collect();
    assert_eq!(*seen.lock(), expected);
    assert_eq!(summary.metrics.reclaimed, 5);
    assert_eq!(summary.metrics.processed, 5);
    assert!(pel(&stream).await.is_empty());
}

/// How many XPENDING calls the server has run (INFO commandstats).
async fn xpending_calls(client: &Client) -> u64 {
    command_calls(client, "xpending").await
}

/// How many times the server has run `command` (INFO commandstats).
async fn command_calls(client: &Client, command: &str) -> u64 {
    command_stat(client, command, "calls").await
}

/// One counter of `command` in INFO commandstats (`calls`, `failed_calls`...); 0 if absent.
async fn command_stat(client: &Client, command: &str, counter: &str) -> u64 {
    let info = client
        .command(&["INFO", "commandstats"])
        .await
        .expect("info");
    let text = match info {
        rill::Reply::Verbatim(b) | rill::Reply::Bulk(b) => String::from_utf8(b.to_vec()),
        other => panic!("INFO answered {other:?}"),
    }
    .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:")))
        .and_then(|stats| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{counter}=")))
        })
        .map_or(0, |n| n.parse().expect("a count"))
}

/// Reclaiming with XAUTOCLAIM (servers before Redis 8.4) reads the claimed entries'
/// delivery counts in one XPENDING per page, not one per entry: 50 entries in pages of 10
/// cost a handful of calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_reads_delivery_counts_once_per_page() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 50).await;
    assert_eq!(crash_holding(&stream, 50).await, 50);

    let before = xpending_calls(&client).await;
    let shutdown = Shutdown::new();
    let b = stream.consumer(
        GROUP,
        "b",
        quick()
            .batch_size(10)
            .newer_commands(false)
            .claim_idle(Some(Duration::from_millis(50))),
    );
    let (seen, handler) = recording(50, &shutdown);
    let summary = bounded(b.run(handler, shutdown)).await.expect("run b");
    let calls = xpending_calls(&client).await - before;
    assert_eq!(summary.metrics.reclaimed, 50);
    assert_eq!(*seen.lock(), ids);
    // One listing of b's own entries at start, one per page of ten.
    assert!(
        calls <= 7,
        "{calls} XPENDING calls for 50 reclaimed entries"
    );
}

/// A handler failing twice, then succeeding: two retries after their backoff, each a new
/// delivery that the server counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_entry_is_retried_until_it_succeeds() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 3).await;
    let flaky = ids[1];
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(GROUP, "c-1", quick().max_deliveries(Some(5)));
    let metrics = consumer.metrics();
    let handler = {
        let (attempts, stop, stream) = (attempts.clone(), shutdown.clone(), stream.clone());
        move |e: rill::Entry<Job>| {
            let (attempts, stop, stream) = (attempts.clone(), stop.clone(), stream.clone());
            async move {
                let deliveries = pending_one(&stream, e.id).await.map(|(_, n)| n);
                let mut attempts = attempts.lock();
                attempts.push((e.id, deliveries));
                let tries = attempts.iter().filter(|(id, _)| *id == flaky).count();
                if e.id == flaky && tries < 3 {
                    return Err(format!("attempt {tries} failed"));
                }
                if attempts.len() == 5 {
                    stop.trigger();
                }
                Ok(())
            }
        }
    };
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    let flaky_deliveries: Vec<_> = attempts
        .lock()
        .iter()
        .filter(|(id, _)| *id == flaky)
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(flaky_deliveries, [Some(1), Some(2), Some(3)]);
    let m = metrics.snapshot();
    assert_eq!(
        (m.processed, m.failed, m.retries, m.dead_lettered),
        (3, 2, 2, 0)
    );
    assert_eq!(
        m.last_error,
        Some(format!("entry {flaky}: attempt 2 failed"))
    );
    assert!(m.p50 <= m.p95 && m.p95 <= m.p99);
    assert_eq!(summary.left_pending, 0);
    assert!(pel(&stream).await.is_empty());
    assert!(stream
        .dead_letters(None, IdRange::all(), None)
        .await
        .expect("dlq")
        .is_empty());
}

/// Poison: the handler fails every time; after `max_deliveries` attempts the entry is in the
/// dead-letter stream with its metadata, and acknowledged.
async fn poison_path(client: Client) {
    let stream = client.stream::<Job>("poisoned");
    stream
        .ensure_group(GROUP, GroupStart::Beginning)
        .await
        .expect("group");
    let good = stream.add(&job(1)).await.expect("add");
    let poison = stream.add(&Job { n: 2, poison: true }).await.expect("add");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::new();
    let options = quick()
        .max_deliveries(Some(3))
        .dead_letter_stream("graveyard");
    let consumer = stream.consumer(GROUP, "c-1", options);
    let metrics = consumer.metrics();
    let handler = {
        let (calls, stop, metrics) = (calls.clone(), shutdown.clone(), metrics.clone());
        move |e: rill::Entry<Job>| {
            let (calls, stop, metrics) = (calls.clone(), stop.clone(), metrics.clone());
            async move {
                calls.lock().push(e.id);
                if !e.value.poison {
                    return Ok(());
                }
                // The third failure is the last: stop once it is booked.
                if calls.lock().iter().filter(|id| **id == e.id).count() == 3 {
                    tokio::spawn(async move {
                        while metrics.snapshot().dead_lettered == 0 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        stop.trigger();
                    });
                }
                Err(format!("cannot handle job {}", e.value.n))
            }
        }
    };
    let transactions = command_calls(&client, "exec").await;
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(*calls.lock(), [good, poison, poison, poison]);
    assert_eq!(
        command_calls(&client, "exec").await - transactions,
        1,
        "the dead letter and its XACK are one transaction"
    );
    let m = summary.metrics;
    assert_eq!(
        (m.processed, m.failed, m.retries, m.dead_lettered),
        (1, 3, 2, 1)
    );
    assert_eq!(summary.left_pending, 0);
    assert!(
        pel(&stream).await.is_empty(),
        "the poison entry is acknowledged"
    );

    let letters = stream
        .dead_letters(Some("graveyard"), IdRange::all(), None)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.stream, "poisoned");
    assert_eq!(letter.entry_id, poison);
    assert_eq!(letter.group, GROUP);
    assert_eq!(letter.consumer, "c-1");
    assert_eq!(letter.deliveries, 3);
    assert_eq!(letter.error, "cannot handle job 2");
    assert_eq!(
        letter.decode::<Job>(stream.codec()),
        Ok(Job { n: 2, poison: true })
    );
    // Flat fields, readable with redis-cli.
    let raw = client
        .command(&["XRANGE", "graveyard", "-", "+"])
        .await
        .expect("xrange");
    let text = format!("{raw:?}");
    for field in [
        "stream",
        "id",
        "group",
        "consumer",
        "deliveries",
        "error",
        "entry.data",
    ] {
        assert!(
            text.contains(&format!("\"{field}\"")),
            "{field} missing in {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_entry_is_dead_lettered_after_max_deliveries() {
    poison_path(Client::embedded()).await;
}

/// An entry whose consumers kept dying while handling it arrives with its delivery count past
/// the limit: it goes to the dead-letter stream without running the handler again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_delivered_too_often_is_dead_lettered_without_handling() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 1).await;
    let _ = stream
        .read_group(GROUP, "crashed", 1, None)
        .await
        .expect("read");
    for _ in 0..2 {
        let _ = stream
            .claim(GROUP, "crashed", Duration::ZERO, &ids)
            .await
            .expect("claim");
    }
    assert_eq!(
        pending_one(&stream, ids[0]).await,
        Some(("crashed".into(), 3))
    );

    let shutdown = Shutdown::new();
    let options = quick()
        .max_deliveries(Some(3))
        .claim_idle(Some(Duration::from_millis(10)));
    let consumer = stream.consumer(GROUP, "c-1", options);
    let metrics = consumer.metrics();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        while metrics.snapshot().dead_lettered == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stop.trigger();
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let summary = bounded(consumer.run(
        move |_e| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), String>(()) }
        },
        shutdown,
    ))
    .await
    .expect("run");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(summary.metrics.reclaimed, 1);
    assert_eq!(summary.metrics.dead_lettered, 1);
    assert!(pel(&stream).await.is_empty());
    let letters = stream
        .dead_letters(None, IdRange::all(), None)
        .await
        .expect("dlq");
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].entry_id, letters[0].deliveries), (ids[0], 4));
    assert!(
        letters[0].error.contains("max_deliveries (3)"),
        "{}",
        letters[0].error
    );
}

/// Shutdown in the middle of a batch on a server without XNACK: what was handled is
/// acknowledged, what was not stays pending (or unread), nothing is acknowledged unhandled,
/// and a restart of the same consumer picks the rest up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_batch_loses_nothing() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 20).await;
    let handled = Arc::new(Mutex::new(Vec::new()));
    let run = |stop_after: Option<usize>| {
        let shutdown = Shutdown::new();
        let consumer = stream.consumer(GROUP, "c-1", quick().batch_size(10).newer_commands(false));
        let (handled, stop) = (handled.clone(), shutdown.clone());
        let total = ids.len();
        consumer.run(
            move |e: rill::Entry<Job>| {
                let (handled, stop) = (handled.clone(), stop.clone());
                async move {
                    let mut handled = handled.lock();
                    handled.push(e.id);
                    if Some(handled.len()) == stop_after || handled.len() == total {
                        stop.trigger();
                    }
                    Ok::<(), String>(())
                }
            },
            shutdown,
        )
    };

    let summary = bounded(run(Some(4))).await.expect("first run");
    let first: Vec<StreamId> = handled.lock().clone();
    assert_eq!(first, ids[..4]);
    assert_eq!(summary.metrics.processed, 4);
    // The rest of the first batch is pending, unhandled; the second batch was never read.
    let pending: BTreeSet<StreamId> = pel(&stream).await.into_keys().collect();
    assert_eq!(pending, ids[4..10].iter().copied().collect());
    assert_eq!(summary.left_pending, 6);
    let group = &stream.groups().await.expect("groups")[0];
    assert_eq!(group.entries_read, Some(10));

    // The same consumer again: it retries its six pending entries, then reads the rest.
    let summary = bounded(run(None)).await.expect("second run");
    let all: Vec<StreamId> = handled.lock().clone();
    assert_eq!(all.len(), 20, "each entry handled exactly once: {all:?}");
    assert_eq!(
        all.iter().copied().collect::<BTreeSet<_>>(),
        ids.iter().copied().collect()
    );
    assert_eq!(summary.metrics.retries, 6);
    assert_eq!(summary.left_pending, 0);
    assert!(pel(&stream).await.is_empty());
}

/// With concurrent handlers, shutdown lets the ones in flight finish and acknowledges them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_handlers_in_flight() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 10).await;
    let shutdown = Shutdown::new();
    let done = Arc::new(Mutex::new(BTreeSet::new()));
    let consumer = stream.consumer(GROUP, "c-1", quick().batch_size(10).concurrency(4));
    let first = ids[0];
    // The first handler stops the consumer once all four run.
    let all_started = Arc::new(Barrier::new(4));
    let handler = {
        let (done, stop) = (done.clone(), shutdown.clone());
        move |e: rill::Entry<Job>| {
            let (done, stop, all_started) = (done.clone(), stop.clone(), all_started.clone());
            async move {
                all_started.wait().await;
                if e.id == first {
                    stop.trigger();
                } else {
                    // Still running when shutdown comes; must be allowed to finish.
                    stop.triggered().await;
                    tokio::task::yield_now().await;
                }
                done.lock().insert(e.id);
                Ok::<(), String>(())
            }
        }
    };
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(*done.lock(), ids[..4].iter().copied().collect());
    assert_eq!(summary.metrics.processed, 4);
    let pending: BTreeSet<StreamId> = pel(&stream).await.into_keys().collect();
    assert_eq!(pending, ids[4..].iter().copied().collect());
}

/// Four competing workers, 40,000 entries: each handled exactly once and acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_pool_handles_every_entry_exactly_once() {
    const N: usize = 40_000;
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", N as u32).await;
    let seen = Arc::new(Mutex::new(HashMap::<StreamId, (u32, usize)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let shutdown = Shutdown::new();
    let pool = WorkerPool::new(&stream, GROUP, quick().batch_size(50).concurrency(2)).workers(4);
    assert_eq!(
        pool.consumer_names(),
        ["worker-1", "worker-2", "worker-3", "worker-4"]
    );
    let metrics = pool.metrics();
    let handler = {
        let (seen, count, stop) = (seen.clone(), count.clone(), shutdown.clone());
        move |e: rill::Entry<Job>| {
            let (seen, count, stop) = (seen.clone(), count.clone(), stop.clone());
            async move {
                seen.lock().entry(e.id).or_insert((e.value.n, 0)).1 += 1;
                if count.fetch_add(1, Ordering::SeqCst) + 1 == N {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        }
    };
    let started = std::time::Instant::now();
    let summary: RunSummary = bounded(pool.run(handler, shutdown)).await.expect("pool");
    eprintln!("4 workers, {N} entries: {:?}", started.elapsed());
    let seen = std::mem::take(&mut *seen.lock());
    assert_eq!(seen.len(), N);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(seen.get(id), Some(&(i as u32, 1)), "entry {id}");
    }
    assert_eq!(summary.metrics.processed, N as u64);
    assert_eq!(metrics.snapshot().processed, N as u64);
    assert_eq!(summary.left_pending, 0);
    assert!(pel(&stream).await.is_empty());
    let consumers = stream.consumers(GROUP).await.expect("consumers");
    assert_eq!(consumers.len(), 4, "all four workers joined the group");
}

/// Entries the codec cannot read are failures that go to the dead-letter stream at once,
/// with their original fields; the handler never sees them and good entries still flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_entries_are_dead_lettered_not_skipped() {
    let client = Client::embedded();
    let stream = client.stream::<Job>("jobs");
    stream
        .ensure_group(GROUP, GroupStart::Beginning)
        .await
        .expect("group");
    let good = stream.add(&job(1)).await.expect("add");
    let reply = client
        .command(&["XADD", "jobs", "*", "data", "not json"])
        .await
        .expect("xadd");
    let garbled = rill::parse_id(&String::from_utf8_lossy(&bulk(&reply))).expect("id");
    client
        .command(&["XADD", "jobs", "*", "other", "field"])
        .await
        .expect("xadd");
    let good2 = stream.add(&job(2)).await.expect("add");

    let handled = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(GROUP, "c-1", quick().max_deliveries(Some(5)));
    let metrics = consumer.metrics();
    let handler = {
        let (handled, stop) = (handled.clone(), shutdown.clone());
        move |e: rill::Entry<Job>| {
            let (handled, stop) = (handled.clone(), stop.clone());
            async move {
                let mut handled = handled.lock();
                handled.push(e.id);
                if handled.len() == 2 {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        }
    };
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(*handled.lock(), [good, good2]);
    let m = metrics.snapshot();
    assert_eq!(
        (m.processed, m.failed, m.decode_errors, m.dead_lettered),
        (2, 2, 2, 2)
    );
    assert_eq!(m.retries, 0);
    assert!(m
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("codec error")));
    assert_eq!(summary.left_pending, 0);
    assert!(pel(&stream).await.is_empty());

    let letters = stream
        .dead_letters(None, IdRange::all(), None)
        .await
        .expect("dlq");
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].entry_id, garbled);
    assert_eq!(letters[0].deliveries, 1);
    assert!(letters[0]
        .error
        .contains(&format!("codec error in entry {garbled}")));
    let field = |f: &'static str, v: &'static str| {
        (
            Bytes::from_static(f.as_bytes()),
            Bytes::from_static(v.as_bytes()),
        )
    };
    assert_eq!(letters[0].fields, [field("data", "not json")]);
    assert!(letters[0].decode::<Job>(stream.codec()).is_err());
    assert!(
        letters[1].error.contains("no 'data' field"),
        "{}",
        letters[1].error
    );
    assert_eq!(letters[1].fields, [field("other", "field")]);
}

/// Metrics can be read while the consumer runs: each handler sees the successes before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_readable_while_running() {
    let client = Client::embedded();
    let (stream, _ids) = stream_with(&client, "jobs", 5).await;
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(GROUP, "c-1", quick());
    let metrics = consumer.metrics();
    let observed = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let (observed, stop, metrics) = (observed.clone(), shutdown.clone(), metrics.clone());
        move |e: rill::Entry<Job>| {
            let (observed, stop, metrics) = (observed.clone(), stop.clone(), metrics.clone());
            async move {
                observed.lock().push(metrics.snapshot().processed);
                if e.value.n == 4 {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        }
    };
    bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(*observed.lock(), [0, 1, 2, 3, 4]);
    let m = metrics.snapshot();
    assert_eq!(m.processed, 5);
    assert!(m.p50 <= m.p95 && m.p95 <= m.p99);
}

/// A missing group is an error from `run`, not a silent loop; `create_group` makes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_group_fails_unless_created() {
    let client = Client::embedded();
    let stream = client.stream::<Job>("jobs");
    stream.add(&job(0)).await.expect("add");
    let handler = |_e: rill::Entry<Job>| async { Ok::<(), String>(()) };
    let err = bounded(
        stream
            .consumer(GROUP, "c-1", quick())
            .run(handler, Shutdown::new()),
    )
    .await
    .expect_err("no group");
    assert!(err.is_no_group(), "{err}");

    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let options = quick().create_group(GroupStart::Beginning);
    let summary = bounded(stream.consumer(GROUP, "c-1", options).run(
        move |_e| {
            stop.trigger();
            async { Ok::<(), String>(()) }
        },
        shutdown,
    ))
    .await
    .expect("run");
    assert_eq!(summary.metrics.processed, 1);
}

fn bulk(reply: &rill::Reply) -> Vec<u8> {
    match reply {
        rill::Reply::Bulk(b) => b.to_vec(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_handler_times_out_and_is_dead_lettered() {
    let client = Client::embedded();
    let stream = client.stream::<Job>("hanging");
    stream
        .ensure_group(GROUP, GroupStart::Beginning)
        .await
        .expect("group");
    let id = stream.add(&job(7)).await.expect("add");
    let shutdown = Shutdown::new();
    let options = quick()
        .max_deliveries(Some(2))
        .handler_timeout(Some(Duration::from_millis(50)))
        .dead_letter_stream("hanging:dead");
    let consumer = stream.consumer(GROUP, "c-1", options);
    let metrics = consumer.metrics();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        while metrics.snapshot().dead_lettered == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.trigger();
    });
    // The handler never finishes: only the timeout can end each attempt.
    let handler = |_e: rill::Entry<Job>| async move {
        std::future::pending::<()>().await;
        Ok::<(), String>(())
    };
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(summary.metrics.failed, 2);
    assert_eq!(summary.metrics.dead_lettered, 1);
    let letters = stream
        .dead_letters(Some("hanging:dead"), IdRange::all(), None)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].entry_id, id);
    assert_eq!(letters[0].error, "handler timed out after 50ms");
    assert!(pel(&stream).await.is_empty());
}

/// No batch barrier: a slow handler holds one slot while the others keep taking new entries,
/// beyond its own batch, and never more than `concurrency` handlers run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_does_not_hold_up_the_others() {
    const N: usize = 40;
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", N as u32).await;
    let shutdown = Shutdown::new();
    let others_done = Arc::new(AtomicUsize::new(0));
    let (running, most_running) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let slow_saw_all = Arc::new(Mutex::new(None));
    let consumer = stream.consumer(GROUP, "c-1", quick().batch_size(5).concurrency(3));
    let slow = ids[0];
    let handler = {
        let stop = shutdown.clone();
        let (others_done, running, most_running, slow_saw_all) = (
            others_done.clone(),
            running.clone(),
            most_running.clone(),
            slow_saw_all.clone(),
        );
        move |e: rill::Entry<Job>| {
            let (stop, others_done, running, most_running, slow_saw_all) = (
                stop.clone(),
                others_done.clone(),
                running.clone(),
                most_running.clone(),
                slow_saw_all.clone(),
            );
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most_running.fetch_max(now, Ordering::SeqCst);
                if e.id == slow {
                    // Waits for every other entry: seven batches' worth, read while it runs.
                    let waited = tokio::time::timeout(Duration::from_secs(10), async {
                        while others_done.load(Ordering::SeqCst) < N - 1 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    })
                    .await;
                    *slow_saw_all.lock() = Some(waited.is_ok());
                    stop.trigger();
                } else {
                    tokio::task::yield_now().await;
                    others_done.fetch_add(1, Ordering::SeqCst);
                }
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), String>(())
            }
        }
    };
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(
        *slow_saw_all.lock(),
        Some(true),
        "the other {} entries ran while the slow one held its slot",
        N - 1
    );
    assert!(most_running.load(Ordering::SeqCst) <= 3);
    assert_eq!(summary.metrics.processed, N as u64);
    assert_eq!(summary.left_pending, 0);
}

/// On a server with XREADGROUP ... CLAIM (rill-server, Redis 8.4+), reclaiming is part of
/// the read: no XAUTOCLAIM, no XPENDING for delivery counts, and each reclaimed entry comes
/// with its count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_happens_in_the_read_where_the_server_can() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 30).await;
    assert_eq!(crash_holding(&stream, 30).await, 30);
    let (autoclaims, pendings) = (
        command_calls(&client, "xautoclaim").await,
        xpending_calls(&client).await,
    );
    reclaim_everything(&stream, &ids, quick().batch_size(10)).await;
    assert_eq!(command_calls(&client, "xautoclaim").await, autoclaims);
    // One XPENDING when b starts (its own leftovers), one for its first look for entries
    // trimmed away while pending (a summary: nothing is below the stream's first entry) and
    // one for its summary.
    assert!(xpending_calls(&client).await - pendings <= 3);
    assert!(pel(&stream).await.is_empty());
}

/// Entries trimmed away, or deleted from the middle of the stream (XDEL), while pending: a
/// claiming read passes over them (as Redis 8.4 does), so on that path the consumer, once
/// they are idle past `claim_idle`, acknowledges the ones below the stream's first entry and
/// looks up the others up to the highest deleted ID; XAUTOCLAIM drops them on the other
/// path. Either way they count as gone and leave the PEL, and the others are reclaimed and
/// handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_gone_while_pending_leave_the_pel() {
    let backends = common::backends().await;
    let paths = [("CLAIM", true), ("XAUTOCLAIM", false)];
    for ((backend, client, _server), (path, newer)) in
        backends.iter().flat_map(|b| paths.map(|p| (b, p)))
    {
        for how in ["trimmed", "deleted"] {
            let key = format!("jobs-{path}-{how}");
            let (stream, ids) = stream_with(client, &key, 10).await;
            assert_eq!(crash_holding(&stream, 10).await, 10);
            let gone: Vec<StreamId> = if how == "trimmed" {
                let trim = Trim::MaxLen {
                    len: 3,
                    approx: false,
                };
                assert_eq!(stream.trim(trim).await.expect("trim"), 7);
                ids[..7].to_vec()
            } else {
                let deleted = vec![ids[2], ids[4], ids[9]];
                assert_eq!(stream.delete(&deleted).await.expect("xdel"), 3);
                deleted
            };
            let what = format!("{backend}, {path} path, {how}");
            assert_eq!(pel(&stream).await.len(), 10, "{what}: the PEL stays");
            // Idle past b's claim_idle (50 ms) before b starts.
            tokio::time::sleep(Duration::from_millis(60)).await;
            let kept: Vec<StreamId> = ids
                .iter()
                .copied()
                .filter(|id| !gone.contains(id))
                .collect();
            let options = quick().batch_size(10).newer_commands(newer);
            let summary = reclaim_everything(&stream, &kept, options).await;
            assert_eq!(summary.metrics.gone, gone.len() as u64, "{what}");
            assert!(pel(&stream).await.is_empty(), "{what}");
        }
    }
}

/// At shutdown a consumer hands back what it holds and will not handle (XNACK): another
/// consumer takes those entries at once, not after `claim_idle` (an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_held_entries_back_to_the_group() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 20).await;
    let hour = Some(Duration::from_secs(3600));
    let handled = Arc::new(Mutex::new(Vec::new()));
    let run = |name: &'static str, stop_after: usize| {
        let shutdown = Shutdown::new();
        let consumer = stream.consumer(GROUP, name, quick().batch_size(10).claim_idle(hour));
        let (handled, stop) = (handled.clone(), shutdown.clone());
        consumer.run(
            move |e: rill::Entry<Job>| {
                let (handled, stop) = (handled.clone(), stop.clone());
                async move {
                    let mut handled = handled.lock();
                    handled.push(e.id);
                    if handled.len() == stop_after {
                        stop.trigger();
                    }
                    Ok::<(), String>(())
                }
            },
            shutdown,
        )
    };
    let first = bounded(run("c-1", 4)).await.expect("c-1");
    assert_eq!(first.metrics.processed, 4);
    assert_eq!(first.left_pending, 0, "the six unstarted ones went back");
    let pel_now = pel(&stream).await;
    assert_eq!(pel_now.len(), 6);
    assert!(
        pel_now
            .values()
            .all(|(owner, n)| owner.is_empty() && *n == 0),
        "unowned, and the unstarted delivery does not count: {pel_now:?}"
    );

    let second = bounded(run("c-2", 20)).await.expect("c-2");
    assert_eq!(second.metrics.reclaimed, 6);
    let all = handled.lock().clone();
    assert_eq!(all.len(), 20, "each entry handled once: {all:?}");
    assert_eq!(
        all.iter().copied().collect::<BTreeSet<_>>(),
        ids.iter().copied().collect()
    );
    assert!(pel(&stream).await.is_empty());
}

/// A handler that returns [`rill::consumer::Fatal`] sends its entry to the dead-letter
/// stream at once: no retries, whatever `max_deliveries` allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_verdict_dead_letters_at_once() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 5).await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(GROUP, "c-1", quick().max_deliveries(Some(5)));
    let handler = {
        let (calls, stop) = (calls.clone(), shutdown.clone());
        move |e: rill::Entry<Job>| {
            let (calls, stop) = (calls.clone(), stop.clone());
            async move {
                let n = {
                    let mut calls = calls.lock();
                    calls.push(e.id);
                    calls.len()
                };
                if n == 5 {
                    stop.trigger();
                }
                if e.value.n == 2 {
                    let fatal: Box<dyn std::error::Error + Send + Sync> =
                        Box::new(rill::consumer::Fatal("refers to a deleted account".into()));
                    return Err(fatal);
                }
                Ok(())
            }
        }
    };
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(*calls.lock(), ids, "the fatal entry ran once");
    let m = summary.metrics;
    assert_eq!(
        (m.processed, m.failed, m.retries, m.dead_lettered),
        (4, 1, 0, 1)
    );
    let letters = stream
        .dead_letters(None, IdRange::all(), None)
        .await
        .expect("letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].entry_id, ids[2]);
    assert_eq!(letters[0].error, "refers to a deleted account");
    assert!(pel(&stream).await.is_empty());
}

/// `delete_on_ack` turns the stream into a work queue: handled entries are acknowledged and
/// deleted in one XACKDEL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_ack_empties_a_work_queue() {
    let client = Client::embedded();
    let (stream, _ids) = stream_with(&client, "jobs", 25).await;
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(
        GROUP,
        "c-1",
        quick()
            .batch_size(10)
            .delete_on_ack(Some(rill::RefPolicy::KeepRef)),
    );
    let (_seen, handler) = recording(25, &shutdown);
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(summary.metrics.processed, 25);
    assert_eq!(stream.len().await.expect("len"), 0);
    assert!(command_calls(&client, "xackdel").await >= 3);
    assert!(pel(&stream).await.is_empty());
}

/// Runs `test` with the URL of a fresh Redis 7.0 (the oracle) on a runtime of its own
/// (the oracle's process is started outside it); nothing when there is no Redis (the oracle
/// printed why, and fails under RILL_REQUIRE_REDIS=1).
fn on_redis_7<F: std::future::Future<Output = ()>>(test: impl FnOnce(String) -> F) {
    let Some(redis) = rill_tests::oracle::RedisServer::start() else {
        return;
    };
    let runtime = common::runtime();
    runtime.block_on(test(format!("redis://{}/", redis.addr())));
}

/// Runs `check` on the embedded engine and a rill-server, then on Redis 7.0 when one is
/// installed: behaviour that must be the same on every backend.
fn on_every_backend<F: std::future::Future<Output = ()>>(check: impl Fn(Client) -> F) {
    let runtime = common::runtime();
    runtime.block_on(async {
        for (backend, client, _server) in common::backends().await {
            eprintln!("{backend}");
            check(client).await;
        }
    });
    drop(runtime);
    let check = &check;
    on_redis_7(|url| async move {
        let client = Client::connect(&url).await.expect("connect");
        check(client).await;
    });
}

/// Against Redis 7.0 (no CLAIM, no XNACK): the consumer finds that out once and takes the
/// XAUTOCLAIM path; reclaim, retries and shutdown work as before.
#[test]
fn redis_7_gets_the_redis_7_commands_after_one_refusal() {
    on_redis_7(|url| async move {
        let client = Client::connect(&url).await.expect("connect");
        let (stream, ids) = stream_with(&client, "fallback", 12).await;
        assert_eq!(crash_holding(&stream, 12).await, 12);
        reclaim_everything(&stream, &ids, quick().batch_size(5)).await;
        assert!(command_calls(&client, "xautoclaim").await > 0);
        let refused = command_stat(&client, "xreadgroup", "failed_calls").await
            + command_stat(&client, "xreadgroup", "rejected_calls").await;
        assert_eq!(refused, 1, "CLAIM was tried once");
        assert!(pel(&stream).await.is_empty());

        // A pool on a fresh client: its workers may all try CLAIM at once; each falls back.
        let client = Client::connect(&url).await.expect("connect");
        let (stream, ids) = stream_with(&client, "pooled", 300).await;
        let shutdown = Shutdown::new();
        let pool = WorkerPool::new(&stream, GROUP, quick().batch_size(20)).workers(3);
        let (seen, handler) = recording(300, &shutdown);
        let summary = bounded(pool.run(handler, shutdown)).await.expect("pool");
        assert_eq!(summary.metrics.processed, 300);
        let seen: BTreeSet<StreamId> = seen.lock().iter().copied().collect();
        assert_eq!(seen, ids.iter().copied().collect());
    });
}

/// Against Redis 7.0, the reclaim pass that a refused CLAIM read puts off runs on the next
/// turn, not one `claim_idle` later: the first turn tries the read that reclaims (and, as
/// it would with CLAIM, only sweeps entries trimmed away), the server refuses it, and the
/// XAUTOCLAIM pass follows at once. With `claim_idle` at 30 s, entries idle for ten minutes
/// are reclaimed well within it.
#[test]
fn a_refused_claim_read_does_not_put_off_the_reclaim_pass() {
    on_redis_7(|url| async move {
        let client = Client::connect(&url).await.expect("connect");
        let (stream, ids) = stream_with(&client, "idle", 3).await;
        assert_eq!(crash_holding(&stream, 3).await, 3);
        let mut claim = vec!["XCLAIM", "idle", GROUP, "a", "0"];
        let texts: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        claim.extend(texts.iter().map(String::as_str));
        claim.extend(["IDLE", "600000", "JUSTID"]);
        client.command(&claim).await.expect("XCLAIM IDLE");

        let shutdown = Shutdown::new();
        let options = quick().claim_idle(Some(Duration::from_secs(30)));
        let b = stream.consumer(GROUP, "b", options);
        let (seen, handler) = recording(ids.len(), &shutdown);
        let run = tokio::time::timeout(Duration::from_secs(15), b.run(handler, shutdown));
        let summary = run
            .await
            .expect("reclaimed within 15 s, not after claim_idle")
            .expect("run b");
        assert_eq!(*seen.lock(), ids);
        assert_eq!(summary.metrics.reclaimed, ids.len() as u64);
    });
}

/// A handler that panics fails its entry, which is retried, whether handlers run inside the
/// consumer's task (concurrency 1) or as tasks of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_its_entry_only() {
    for concurrency in [1, 3] {
        let client = Client::embedded();
        let (stream, ids) = stream_with(&client, "jobs", 6).await;
        let attempts = Arc::new(Mutex::new(HashMap::<StreamId, u32>::new()));
        let shutdown = Shutdown::new();
        let consumer = stream.consumer(GROUP, "c-1", quick().concurrency(concurrency));
        let handler = {
            let (attempts, stop) = (attempts.clone(), shutdown.clone());
            move |e: rill::Entry<Job>| {
                let (attempts, stop) = (attempts.clone(), stop.clone());
                async move {
                    let (tries, done) = {
                        let mut attempts = attempts.lock();
                        *attempts.entry(e.id).or_default() += 1;
                        let done = attempts.len() == 6 && attempts.values().sum::<u32>() == 7;
                        (attempts[&e.id], done)
                    };
                    if done {
                        stop.trigger();
                    }
                    if e.value.n == 3 && tries == 1 {
                        panic!("job 3 blew up");
                    }
                    Ok::<(), String>(())
                }
            }
        };
        let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
        let m = summary.metrics;
        assert_eq!(
            (m.processed, m.failed, m.retries),
            (6, 1, 1),
            "concurrency {concurrency}"
        );
        let last = m.last_error.unwrap_or_default();
        assert!(
            last.contains("job 3 blew up") && last.contains(&ids[3].to_string()),
            "concurrency {concurrency}: {last}"
        );
        assert!(pel(&stream).await.is_empty());
    }
}

/// A dead-letter key of another type refuses the letter; MULTI/EXEC would still run the
/// XACK, so the consumer checks the key first: the run fails and the entry stays pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_key_of_another_type_loses_nothing() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 1).await;
    client
        .command(&["SET", "jobs:dead", "not a stream"])
        .await
        .expect("set");
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(GROUP, "c-1", quick().max_deliveries(Some(1)));
    let outcome = bounded(consumer.run(
        |_e: rill::Entry<Job>| async { Err::<(), _>("always fails") },
        shutdown,
    ))
    .await;
    assert!(
        matches!(&outcome, Err(e) if e.is_wrong_type()),
        "{outcome:?}"
    );
    assert_eq!(
        pending_one(&stream, ids[0]).await,
        Some(("c-1".to_string(), 1))
    );
}

/// At shutdown a consumer hands back only what it still owns: an entry another consumer
/// took over meanwhile stays with that consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_back_only_what_is_still_owned() {
    let client = Client::embedded();
    let (stream, ids) = stream_with(&client, "jobs", 2).await;
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(
        GROUP,
        "c-1",
        quick().backoff(Duration::from_secs(3600), Duration::from_secs(3600)),
    );
    let handler = {
        let (stop, client, first) = (shutdown.clone(), client.clone(), ids[0]);
        move |e: rill::Entry<Job>| {
            let (stop, client) = (stop.clone(), client.clone());
            async move {
                if e.id == first {
                    return Err("fails; its retry is an hour away".to_string());
                }
                // Meanwhile another consumer takes the failed entry over.
                client
                    .command(&["XCLAIM", "jobs", GROUP, "thief", "0", &first.to_string()])
                    .await
                    .map_err(|e| e.to_string())?;
                stop.trigger();
                Ok(())
            }
        }
    };
    bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(
        pending_one(&stream, ids[0]).await,
        Some(("thief".to_string(), 2))
    );
}

/// Consumer `name` runs until its handler has handled `stop_after` entries, then stops
/// (batches of 10, one handler at a time: the rest of its batch was fetched, never started).
async fn run_until(
    stream: &Stream<Job>,
    name: &str,
    stop_after: usize,
    options: ConsumerOptions,
) -> RunSummary {
    let shutdown = Shutdown::new();
    let consumer = stream.consumer(GROUP, name, options.batch_size(10));
    let (seen, handler) = recording(stop_after, &shutdown);
    let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
    assert_eq!(seen.lock().len(), stop_after);
    summary
}

/// Without XNACK (Redis 7.0, or `newer_commands(false)`), a consumer that stops with a
/// fetched backlog leaves it in its PEL, but with the delivery counts the entries had: a
/// rolling restart never counts deliveries no handler saw, so five restarts in a row with
/// `max_deliveries` 3 dead-letter nothing, and every entry is handled once.
async fn restarts_do_not_count_unstarted_deliveries(client: Client) {
    let (stream, ids) = stream_with(&client, "restarts", 30).await;
    let options = quick().max_deliveries(Some(3)).newer_commands(false);
    let first = run_until(&stream, "w", 1, options.clone()).await;
    assert_eq!(first.left_pending, 9);
    let counts: Vec<u64> = pel(&stream).await.values().map(|(_, n)| *n).collect();
    assert_eq!(counts, [0; 9], "unstarted deliveries taken back");
    for _ in 0..4 {
        run_until(&stream, "w", 1, options.clone()).await;
    }
    let last = run_until(&stream, "w", 25, options).await;
    assert_eq!(last.metrics.dead_lettered, 0);
    assert!(pel(&stream).await.is_empty());
    let letters = stream
        .dead_letters(None, IdRange::all(), None)
        .await
        .expect("dead letters");
    assert!(letters.is_empty(), "{letters:?}");
    assert_eq!(ids.len(), 30);
}

#[test]
fn restarts_do_not_count_unstarted_deliveries_on_every_backend() {
    on_every_backend(restarts_do_not_count_unstarted_deliveries);
}

/// A `claim_idle` meant as "never" (`Duration::MAX`) works on every backend: it used to
/// overflow the consumer's clock arithmetic (a panic), and Redis 7.0 refuses XAUTOCLAIM
/// min-idle-times above i64::MAX ms.
async fn claim_idle_of_never(client: Client) {
    for newer in [true, false] {
        let key = format!("never-{newer}");
        let (stream, _ids) = stream_with(&client, &key, 5).await;
        let options = quick()
            .claim_idle(Some(Duration::MAX))
            .newer_commands(newer);
        let summary = run_until(&stream, "w", 5, options).await;
        assert_eq!(summary.metrics.processed, 5);
    }
}

#[test]
fn a_claim_idle_of_never_runs() {
    on_every_backend(claim_idle_of_never);
}

/// Stopping while the server is down, or hung, is prompt: `run` returns its summary within
/// the wind-down limit, with what the consumer knew it held, instead of an error after the
/// connection's own timeouts (30 s and more for a hung server).
#[test]
fn shutdown_during_an_outage_returns_promptly() {
    let Some(redis) = rill_tests::oracle::RedisServer::start() else {
        return;
    };
    let runtime = common::runtime();
    runtime.block_on(async {
        let url = format!("redis://{}/", redis.addr());
        let client = Client::connect(&url).await.expect("connect");
        let (stream, _ids) = stream_with(&client, "outage", 0).await;
        let shutdown = Shutdown::new();
        let consumer = stream.consumer(GROUP, "w", quick().block(Duration::from_secs(10)));
        let handler = |_e: rill::Entry<Job>| async { Ok::<(), String>(()) };
        let run = tokio::spawn(consumer.run(handler, shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.signal("-STOP");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stopping = std::time::Instant::now();
        shutdown.trigger();
        let summary = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("returned")
            .expect("joined");
        let took = stopping.elapsed();
        redis.signal("-CONT");
        let summary = summary.expect("a summary, not an error");
        assert_eq!(summary.left_pending, 0);
        assert!(
            took <= rill::consumer::WIND_DOWN_LIMIT + Duration::from_secs(2),
            "{took:?}"
        );
    });
}

/// A consumer keeps what it is handling its own: with handlers running side by side, a
/// handler slower than `claim_idle` used to see its entry claimed again by its own
/// consumer's next read, a delivery counted each time, so its one failure dead-lettered the
/// entry (6 deliveries counted against `max_deliveries` 3). Now the entry is handled twice
/// (the failure, then the retry) and nothing is dead-lettered, on both claim paths.
async fn slow_handler_keeps_its_entry(client: Client) {
    for newer in [true, false] {
        let key = format!("slow-{newer}");
        let (stream, ids) = stream_with(&client, &key, 2).await;
        let calls: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
        let shutdown = Shutdown::new();
        let options = quick()
            .concurrency(2)
            .claim_idle(Some(Duration::from_millis(200)))
            .max_deliveries(Some(3))
            .block(Duration::from_millis(20))
            .newer_commands(newer);
        let consumer = stream.consumer(GROUP, "only", options);
        let handler = {
            let (calls, stop) = (calls.clone(), shutdown.clone());
            move |e: rill::Entry<Job>| {
                let (calls, stop) = (calls.clone(), stop.clone());
                async move {
                    let call = {
                        let mut calls = calls.lock();
                        let n = calls.entry(e.value.n).or_insert(0);
                        *n += 1;
                        *n
                    };
                    if e.value.n == 0 && call == 1 {
                        tokio::time::sleep(Duration::from_millis(1000)).await;
                        return Err("first attempt failed".to_string());
                    }
                    if e.value.n == 0 {
                        stop.trigger();
                    }
                    Ok(())
                }
            }
        };
        let summary = bounded(consumer.run(handler, shutdown)).await.expect("run");
        let calls = calls.lock().clone();
        assert_eq!(calls, HashMap::from([(0, 2), (1, 1)]), "newer {newer}");
        assert_eq!(summary.metrics.dead_lettered, 0, "newer {newer}");
        assert_eq!(summary.metrics.reclaimed, 0, "newer {newer}");
        assert!(pel(&stream).await.is_empty(), "newer {newer}");
        assert_eq!(ids.len(), 2);
    }
}

#[test]
fn a_slow_handler_keeps_its_entry() {
    on_every_backend(slow_handler_keeps_its_entry);
}
