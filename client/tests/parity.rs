//! Parity: the same typed-client code against every backend — the embedded engine, an
//! in-process `rill-server`, and Debian's `redis-server` (the specification); both servers are
//! reached over RESP2 and RESP3, whose replies the client parses along different paths.
//!
//! Each scenario drives the whole [`Stream`] API and writes a transcript of everything a
//! caller can observe that does not depend on the clock: entry IDs are explicit (or, for
//! auto IDs, recorded by their order of appearance), idle times are never recorded. The
//! transcripts of all backends must be identical, line for line. Each scenario also checks the
//! values it knows (`Transcript::check`), so a bug that every backend shares still fails.
//!
//! The oracle is Redis 7.0, while Rill follows 7.2–7.4 where they differ
//! (`tests/cases/newer_than_7_0.md`): the scenarios stay clear of those cases (no `>` read or
//! claim that delivers nothing to a consumer that does not exist yet, no group lag across
//! tombstones, no `inactive` time).

use std::fmt::Debug;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rill::testing::TestServer;
use rill::{
    Client, Entry, Error, GroupInfo, GroupStart, IdRange, PendingQuery, PendingRead,
    PendingSummary, Stream, StreamId, StreamInfo, Trim,
};
use rill_tests::oracle::RedisServer;
use serde::{Deserialize, Serialize};

/// The three provided codecs as one value to loop over; it is itself a codec (delegating),
/// as a user's own would be.
#[derive(Debug, Clone, Copy)]
enum Codec {
    Json,
    MessagePack,
    Flat,
}

impl<T: Serialize + serde::de::DeserializeOwned> rill::codec::Codec<T> for Codec {
    fn encode(&self, value: &T) -> rill::Result<rill::codec::Fields> {
        match self {
            Codec::Json => rill::codec::Codec::encode(&rill::codec::Json, value),
            Codec::MessagePack => rill::codec::Codec::encode(&rill::codec::MessagePack, value),
            Codec::Flat => rill::codec::Codec::encode(&rill::codec::Flat, value),
        }
    }

    fn decode(&self, fields: &[(bytes::Bytes, bytes::Bytes)]) -> rill::Result<T> {
        match self {
            Codec::Json => rill::codec::Codec::decode(&rill::codec::Json, fields),
            Codec::MessagePack => rill::codec::Codec::decode(&rill::codec::MessagePack, fields),
            Codec::Flat => rill::codec::Codec::decode(&rill::codec::Flat, fields),
        }
    }
}

/// A timed-out blocking read must have waited at least this long (asked: 50 ms).
const MIN_BLOCK_WAIT: Duration = Duration::from_millis(40);
/// Short enough to keep the suite fast, long enough to tell "waited" from "answered at once".
const SHORT_BLOCK: Duration = Duration::from_millis(50);
/// A block that must never be reached because data is already there.
const LONG_BLOCK: Duration = Duration::from_secs(5);
/// An idle time no entry of a sub-second test can reach.
const HUGE_IDLE: Duration = Duration::from_secs(3600);
/// How long a 500 µs block may take before the test calls it "blocked forever" (BLOCK 0):
/// seconds, as a loaded machine may answer a short block late.
const SUB_MS_GUARD: Duration = Duration::from_secs(2);
const DAY_MS: u64 = 24 * 3600 * 1000;

// ---------------------------------------------------------------------------------------------
// Backends and transcripts
// ---------------------------------------------------------------------------------------------

/// One backend under test: a name for reports and a client.
struct Backend {
    name: &'static str,
    client: Client,
}

/// The servers behind the remote backends; they stop when dropped.
struct Servers {
    _rill: TestServer,
    _redis: Option<RedisServer>,
}

/// The backend every other transcript is compared with: Redis is the specification.
const REFERENCE: &str = "redis-server";

/// Embedded, in-process rill-server, and redis-server when it is installed (else a loud skip
/// message from the oracle, and a panic under `RILL_REQUIRE_REDIS=1`). Each server is also
/// reached over RESP3, where XREAD and XINFO answer maps instead of arrays.
async fn backends() -> (Vec<Backend>, Servers) {
    // `TestServer::start` blocks on a runtime of its own, which panics inside this test's
    // runtime ("Cannot start a runtime from within a runtime"): start it off the runtime.
    let rill = tokio::task::spawn_blocking(TestServer::start)
        .await
        .expect("the start thread")
        .expect("start the in-process rill-server");
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("the start thread");
    let mut urls = vec![
        ("rill-server", rill.url()),
        (
            "rill-server/resp3",
            format!("{}?protocol=resp3", rill.url()),
        ),
    ];
    if let Some(redis) = &redis {
        urls.push(("redis-server", format!("redis://{}/", redis.addr())));
        urls.push((
            "redis-server/resp3",
            format!("redis://{}/?protocol=resp3", redis.addr()),
        ));
    }
    let mut all = vec![Backend {
        name: "embedded",
        client: Client::embedded(),
    }];
    for (name, url) in urls {
        let client = Client::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connect to {name} at {url}: {e}"));
        all.push(Backend { name, client });
    }
    let servers = Servers {
        _rill: rill,
        _redis: redis,
    };
    (all, servers)
}

/// What one backend showed during one scenario, and what it got wrong.
struct Transcript {
    backend: &'static str,
    lines: Vec<String>,
    failures: Vec<String>,
}

impl Transcript {
    fn new(backend: &'static str) -> Transcript {
        Transcript {
            backend,
            lines: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Records an observation that is compared across backends only.
    fn log(&mut self, step: &str, value: impl Debug) {
        self.lines.push(format!("{step}: {value:?}"));
    }

    /// Records an observation and checks it against the value the scenario knows is right.
    fn check<V: Debug + PartialEq>(&mut self, step: &str, actual: V, expected: V) {
        if actual != expected {
            self.failures.push(format!(
                "[{}] {step}:\n      got      {actual:?}\n      expected {expected:?}",
                self.backend
            ));
        }
        self.log(step, actual);
    }

    /// A check that is not recorded: for clock-dependent facts (a block that really waited).
    fn require(&mut self, step: &str, ok: bool, detail: impl Debug) {
        if !ok {
            self.failures
                .push(format!("[{}] {step}: {detail:?}", self.backend));
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Scenario {
    Reads,
    Trims,
    Groups,
    CodecsAndErrors,
}

/// Runs `scenario` on every backend, each in a freshly flushed keyspace, then fails with every
/// wrong value and every line where a backend's transcript differs from the reference (Redis
/// over RESP2 when present, else the embedded engine).
async fn parity(scenario: Scenario) {
    let started = Instant::now();
    // Shared by every backend so explicit IDs "near now" are the same everywhere.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64;
    let (backends, servers) = backends().await;
    let mut runs = Vec::new();
    for b in &backends {
        let mut t = Transcript::new(b.name);
        let flushed = b.client.command(&["FLUSHALL"]).await;
        t.check("FLUSHALL", flushed, Ok(rill::Reply::ok()));
        match scenario {
            Scenario::Reads => reads(&mut t, &b.client).await,
            Scenario::Trims => trims(&mut t, &b.client, now_ms).await,
            Scenario::Groups => groups(&mut t, &b.client).await,
            Scenario::CodecsAndErrors => codecs_and_errors(&mut t, &b.client).await,
        }
        runs.push(t);
    }

    // Stopping a server joins its thread: not on the runtime, which drives the clients.
    drop(backends);
    tokio::task::spawn_blocking(move || drop(servers))
        .await
        .expect("the stop thread");

    let mut report = Vec::new();
    for run in &runs {
        report.extend(run.failures.iter().cloned());
    }
    let reference = runs
        .iter()
        .find(|r| r.backend == REFERENCE)
        .unwrap_or(&runs[0]);
    for run in runs.iter().filter(|r| r.backend != reference.backend) {
        report.extend(differences(reference, run));
    }
    if std::env::var("RILL_PARITY_PRINT").as_deref() == Ok("1") {
        for line in &reference.lines {
            eprintln!("{}: {line}", reference.backend);
        }
    }
    eprintln!(
        "parity {scenario:?}: {} lines on {} backends ({}) in {:?}",
        reference.lines.len(),
        runs.len(),
        runs.iter()
            .map(|r| r.backend)
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed()
    );
    assert!(
        report.is_empty(),
        "parity {scenario:?}: {} problem(s)\n  {}",
        report.len(),
        report.join("\n  ")
    );
}

/// How many differing lines a report shows per backend: after a missing or extra line, every
/// later line differs too.
const MAX_DIFFERENCES: usize = 20;

/// The first lines where `other` differs from `reference`, aligned by position.
fn differences(reference: &Transcript, other: &Transcript) -> Vec<String> {
    let n = reference.lines.len().max(other.lines.len());
    let missing = "<no line>".to_string();
    (0..n)
        .filter_map(|i| {
            let a = reference.lines.get(i).unwrap_or(&missing);
            let b = other.lines.get(i).unwrap_or(&missing);
            (a != b).then(|| {
                format!(
                    "line {i} differs:\n      {:<18} {a}\n      {:<18} {b}",
                    reference.backend, other.backend
                )
            })
        })
        .take(MAX_DIFFERENCES)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Values and how a transcript shows them
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Job {
    n: u32,
    name: String,
}

fn job(n: u32) -> Job {
    Job {
        n,
        name: format!("job-{n}"),
    }
}

/// Entries whose size matters.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Blob {
    i: u64,
    body: String,
}

/// Tiny entries, so that node boundaries depend on the entry count only (100 a node).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Tick {
    i: u64,
}

fn id(ms: u64, seq: u64) -> StreamId {
    StreamId::new(ms, seq)
}

/// `MAXLEN = len`, or `MAXLEN ~ len` when `approx`.
fn max_len(len: u64, approx: bool) -> Trim {
    Trim::MaxLen { len, approx }
}

/// `MINID = ms-0`, or `MINID ~ ms-0` when `approx`.
fn min_id(ms: u64, approx: bool) -> Trim {
    Trim::MinId {
        id: id(ms, 0),
        approx,
    }
}

/// Entries older than `age` go.
fn max_age(age: Duration, approx: bool) -> Trim {
    Trim::MaxAge { age, approx }
}

/// `id/n`, after checking that the value is the job it claims to be.
fn show_job(e: &Entry<Job>) -> String {
    if e.value == job(e.value.n) {
        format!("{}/{}", e.id, e.value.n)
    } else {
        format!("{}/CORRUPT {:?}", e.id, e.value)
    }
}

fn jobs(r: rill::Result<Vec<Entry<Job>>>) -> rill::Result<Vec<String>> {
    r.map(|v| v.iter().map(show_job).collect())
}

fn ticks(r: rill::Result<Vec<Entry<Tick>>>) -> rill::Result<Vec<String>> {
    r.map(|v| {
        v.iter()
            .map(|e| format!("{}/{}", e.id, e.value.i))
            .collect()
    })
}

fn ok(items: &[&str]) -> rill::Result<Vec<String>> {
    Ok(items.iter().map(|s| s.to_string()).collect())
}

/// Auto IDs depend on the clock: a transcript names them by order of first appearance.
#[derive(Default)]
struct AutoIds(Vec<StreamId>);

impl AutoIds {
    fn label(&mut self, id: StreamId) -> String {
        let k = match self.0.iter().position(|x| *x == id) {
            Some(k) => k,
            None => {
                self.0.push(id);
                self.0.len() - 1
            }
        };
        format!("auto{}", k + 1)
    }
}

/// XINFO STREAM, with the fields an auto ID would put there shown by label.
fn show_info(info: &rill::Result<StreamInfo>, auto: &mut AutoIds) -> String {
    match info {
        Ok(i) => format!(
            "length {} entries-added {} groups {} max-deleted {} recorded-first {} first {:?} last {:?}",
            i.length,
            i.entries_added,
            i.groups,
            i.max_deleted_entry_id,
            auto.label(i.recorded_first_entry_id),
            i.first_entry_id.map(|x| auto.label(x)),
            i.last_entry_id.map(|x| auto.label(x)),
        ),
        Err(e) => format!("{e:?}"),
    }
}

/// XPENDING rows without their idle times.
fn rows(r: rill::Result<Vec<rill::PendingEntry>>) -> rill::Result<Vec<String>> {
    r.map(|v| {
        v.iter()
            .map(|p| format!("{} {} x{}", p.id, p.consumer, p.deliveries))
            .collect()
    })
}

fn own_pending(r: rill::Result<Vec<PendingRead<Job>>>) -> rill::Result<Vec<String>> {
    r.map(|v| {
        v.iter()
            .map(|p| match &p.value {
                Some(j) => show_job(&Entry {
                    id: p.id,
                    value: j.clone(),
                }),
                None => format!("{} deleted", p.id),
            })
            .collect()
    })
}

/// XINFO GROUPS without the fields 7.0 computes differently after tombstones.
fn group_lines(r: &rill::Result<Vec<GroupInfo>>) -> rill::Result<Vec<String>> {
    r.clone().map(|v| {
        v.iter()
            .map(|g| {
                format!(
                    "{} consumers {} pending {} last {}",
                    g.name, g.consumers, g.pending, g.last_delivered_id
                )
            })
            .collect()
    })
}

fn consumer_lines(r: rill::Result<Vec<rill::ConsumerInfo>>) -> rill::Result<Vec<String>> {
    r.map(|v| {
        v.iter()
            .map(|c| format!("{} pending {}", c.name, c.pending))
            .collect()
    })
}

fn streams_read(r: rill::Result<Vec<(String, Vec<Entry<Job>>)>>) -> rill::Result<Vec<String>> {
    r.map(|v| {
        v.iter()
            .map(|(k, es)| {
                format!(
                    "{k}: {}",
                    es.iter().map(show_job).collect::<Vec<_>>().join(" ")
                )
            })
            .collect()
    })
}

fn ms(t: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(t)
}

// ---------------------------------------------------------------------------------------------
// Scenario: publishing and reading
// ---------------------------------------------------------------------------------------------

/// add (explicit and auto IDs), add_batch, range/rev_range over every kind of IdRange, windows,
/// latest, read_from with and without BLOCK, read_streams across three streams, len, delete,
/// info.
async fn reads(t: &mut Transcript, client: &Client) {
    let s = client.stream::<Job>("events");
    let layout = [
        (1, id(1000, 0)),
        (2, id(1000, 1)),
        (3, id(1001, 0)),
        (4, id(1500, 0)),
        (5, id(1999, 5)),
        (6, id(2000, 0)),
        (7, id(2000, 1)),
        (8, id(2500, 0)),
        (9, id(3000, 0)),
        (10, id(3000, 7)),
    ];
    for (n, at) in layout {
        let r = s.add_with(&job(n), Some(at), None).await;
        t.check(&format!("add {at}"), r, Ok(at));
    }
    t.check(
        "add at the top id",
        s.add_with(&job(11), Some(id(3000, 7)), None).await,
        Err(Error::server(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        )),
    );
    t.check(
        "add 0-0 to a new stream",
        client
            .stream::<Job>("zero")
            .add_with(&job(1), Some(id(0, 0)), None)
            .await,
        Err(Error::server(
            "ERR The ID specified in XADD must be greater than 0-0",
        )),
    );
    t.check("len", s.len().await, Ok(10));

    let all = [
        "1000-0/1",
        "1000-1/2",
        "1001-0/3",
        "1500-0/4",
        "1999-5/5",
        "2000-0/6",
        "2000-1/7",
        "2500-0/8",
        "3000-0/9",
        "3000-7/10",
    ];
    t.check(
        "range all",
        jobs(s.range(IdRange::all(), None).await),
        ok(&all),
    );
    t.check(
        "range all count 3",
        jobs(s.range(IdRange::all(), Some(3)).await),
        ok(&all[..3]),
    );
    t.check(
        "range all count 0",
        jobs(s.range(IdRange::all(), Some(0)).await),
        ok(&[]),
    );
    t.check(
        "range from 2000-0",
        jobs(s.range(IdRange::from(id(2000, 0)), None).await),
        ok(&all[5..]),
    );
    t.check(
        "range after 2000-0 count 2",
        jobs(s.range(IdRange::after(id(2000, 0)), Some(2)).await),
        ok(&all[6..8]),
    );
    t.check(
        "range after 1000-max",
        jobs(s.range(IdRange::after(id(1000, u64::MAX)), None).await),
        ok(&all[2..]),
    );
    t.check(
        "range after the last possible id",
        jobs(s.range(IdRange::after(StreamId::MAX), None).await),
        Err(Error::server("ERR invalid start ID for the interval")),
    );
    t.check(
        "range between 1001-0 and 2000-1",
        jobs(
            s.range(IdRange::between(id(1001, 0), id(2000, 1)), None)
                .await,
        ),
        ok(&all[2..7]),
    );
    t.check(
        "range between in a gap",
        jobs(
            s.range(IdRange::between(id(1500, 1), id(1999, 4)), None)
                .await,
        ),
        ok(&[]),
    );
    t.check(
        "range from beyond the end",
        jobs(s.range(IdRange::from(id(4000, 0)), None).await),
        ok(&[]),
    );
    let newest_first: Vec<&str> = all.iter().rev().copied().collect();
    t.check(
        "rev_range all count 4",
        jobs(s.rev_range(IdRange::all(), Some(4)).await),
        ok(&newest_first[..4]),
    );
    t.check(
        "rev_range between 1001-0 and 2000-1",
        jobs(
            s.rev_range(IdRange::between(id(1001, 0), id(2000, 1)), None)
                .await,
        ),
        ok(&newest_first[3..8]),
    );
    t.check(
        "rev_range after 1999-5",
        jobs(s.rev_range(IdRange::after(id(1999, 5)), None).await),
        ok(&newest_first[..5]),
    );
    t.check(
        "rev_range from 2500-0 count 1",
        jobs(s.rev_range(IdRange::from(id(2500, 0)), Some(1)).await),
        ok(&["3000-7/10"]),
    );

    // Wall-clock windows over IDs at known milliseconds: [from, to).
    t.check(
        "window [1000ms, 2000ms)",
        jobs(s.range(IdRange::window(ms(1000), ms(2000)), None).await),
        ok(&all[..5]),
    );
    t.check(
        "rev window [1000ms, 2000ms)",
        jobs(s.rev_range(IdRange::window(ms(1000), ms(2000)), None).await),
        ok(&newest_first[5..]),
    );
    t.check(
        "window [1500ms, 1501ms)",
        jobs(s.range(IdRange::window(ms(1500), ms(1501)), None).await),
        ok(&["1500-0/4"]),
    );
    t.check(
        "window [2000ms, 3000ms)",
        jobs(s.range(IdRange::window(ms(2000), ms(3000)), None).await),
        ok(&all[5..8]),
    );
    t.check(
        "window [3001ms, 9000ms)",
        jobs(s.range(IdRange::window(ms(3001), ms(9000)), None).await),
        ok(&[]),
    );

    t.check("latest 3", jobs(s.latest(3).await), ok(&all[7..]));
    t.check("latest 0", jobs(s.latest(0).await), ok(&[]));
    t.check("latest 50", jobs(s.latest(50).await), ok(&all));

    t.check(
        "read_from 0-0",
        jobs(s.read_from(StreamId::MIN, None, None).await),
        ok(&all),
    );
    t.check(
        "read_from 2000-0 count 2",
        jobs(s.read_from(id(2000, 0), Some(2), None).await),
        ok(&all[6..8]),
    );
    t.check(
        "read_from the last id",
        jobs(s.read_from(id(3000, 7), None, None).await),
        ok(&[]),
    );
    t.check(
        "read_from a missing stream",
        jobs(
            client
                .stream::<Job>("nosuch")
                .read_from(StreamId::MIN, None, None)
                .await,
        ),
        ok(&[]),
    );
    let clock = Instant::now();
    t.check(
        "read_from 1500-0 count 1, block, data there",
        jobs(s.read_from(id(1500, 0), Some(1), Some(LONG_BLOCK)).await),
        ok(&["1999-5/5"]),
    );
    t.require(
        "a block with data there answers at once",
        clock.elapsed() < LONG_BLOCK / 2,
        clock.elapsed(),
    );
    let clock = Instant::now();
    t.check(
        "read_from the last id, short block",
        jobs(s.read_from(id(3000, 7), None, Some(SHORT_BLOCK)).await),
        ok(&[]),
    );
    t.require(
        "a short block waits before it answers empty",
        clock.elapsed() >= MIN_BLOCK_WAIT,
        clock.elapsed(),
    );
    // A sub-millisecond block is a short wait, not "wait forever" (BLOCK 0).
    let sub_ms = tokio::time::timeout(
        SUB_MS_GUARD,
        s.read_from(id(3000, 7), None, Some(Duration::from_micros(500))),
    )
    .await;
    t.check(
        "read_from the last id, 500 µs block",
        sub_ms.map(jobs).map_err(|_| "still blocked after 2 s"),
        Ok(ok(&[])),
    );

    // Three streams at once (XREAD aggregation): streams with nothing new are left out, the
    // order is the order asked.
    let a = client.stream::<Job>("a");
    let b = client.stream::<Job>("b");
    let c = client.stream::<Job>("c");
    for (st, n, at) in [
        (&a, 101, id(1, 1)),
        (&a, 102, id(1, 2)),
        (&a, 103, id(1, 3)),
        (&b, 201, id(2, 1)),
        (&b, 202, id(2, 2)),
        (&c, 301, id(3, 1)),
    ] {
        let r = st.add_with(&job(n), Some(at), None).await;
        t.check(&format!("add {} {at}", st.key()), r, Ok(at));
    }
    t.check(
        "read_streams a:0 b:2-2 c:0",
        streams_read(
            client
                .read_streams(
                    &[(&a, StreamId::MIN), (&b, id(2, 2)), (&c, StreamId::MIN)],
                    None,
                    None,
                )
                .await,
        ),
        ok(&["a: 1-1/101 1-2/102 1-3/103", "c: 3-1/301"]),
    );
    t.check(
        "read_streams count 2",
        streams_read(
            client
                .read_streams(
                    &[(&a, StreamId::MIN), (&b, id(2, 2)), (&c, StreamId::MIN)],
                    Some(2),
                    None,
                )
                .await,
        ),
        ok(&["a: 1-1/101 1-2/102", "c: 3-1/301"]),
    );
    t.check(
        "read_streams c:0 b:0 a:1-2 (order asked)",
        streams_read(
            client
                .read_streams(
                    &[(&c, StreamId::MIN), (&b, StreamId::MIN), (&a, id(1, 2))],
                    None,
                    None,
                )
                .await,
        ),
        ok(&["c: 3-1/301", "b: 2-1/201 2-2/202", "a: 1-3/103"]),
    );
    t.check(
        "read_streams count 1, block, data there",
        streams_read(
            client
                .read_streams(
                    &[(&a, id(1, 1)), (&b, StreamId::MIN), (&c, id(3, 1))],
                    Some(1),
                    Some(LONG_BLOCK),
                )
                .await,
        ),
        ok(&["a: 1-2/102", "b: 2-1/201"]),
    );
    let clock = Instant::now();
    t.check(
        "read_streams all at their end, short block",
        streams_read(
            client
                .read_streams(
                    &[(&a, id(1, 3)), (&b, id(2, 2)), (&c, id(3, 1))],
                    None,
                    Some(SHORT_BLOCK),
                )
                .await,
        ),
        ok(&[]),
    );
    t.require(
        "read_streams waits before it answers empty",
        clock.elapsed() >= MIN_BLOCK_WAIT,
        clock.elapsed(),
    );
    t.log(
        "read_streams of no stream",
        streams_read(client.read_streams::<Job>(&[], None, None).await),
    );

    // Deleting.
    t.check(
        "delete 1000-1 9999-0 1500-0",
        s.delete(&[id(1000, 1), id(9999, 0), id(1500, 0)]).await,
        Ok(2),
    );
    t.check("delete 1000-1 again", s.delete(&[id(1000, 1)]).await, Ok(0));
    t.check("len after delete", s.len().await, Ok(8));
    t.check("is_empty", s.is_empty().await, Ok(false));
    let nosuch = client.stream::<Job>("nosuch");
    t.check("len of a missing stream", nosuch.len().await, Ok(0));
    t.check(
        "is_empty of a missing stream",
        nosuch.is_empty().await,
        Ok(true),
    );
    t.check(
        "delete from a missing stream",
        nosuch.delete(&[id(1, 1)]).await,
        Ok(0),
    );
    t.check(
        "range all after delete",
        jobs(s.range(IdRange::all(), None).await),
        ok(&[
            "1000-0/1",
            "1001-0/3",
            "1999-5/5",
            "2000-0/6",
            "2000-1/7",
            "2500-0/8",
            "3000-0/9",
            "3000-7/10",
        ]),
    );
    t.check(
        "info",
        s.info().await,
        Ok(StreamInfo {
            length: 8,
            last_generated_id: id(3000, 7),
            max_deleted_entry_id: id(1500, 0),
            entries_added: 10,
            recorded_first_entry_id: id(1000, 0),
            groups: 0,
            first_entry_id: Some(id(1000, 0)),
            last_entry_id: Some(id(3000, 7)),
        }),
    );
    t.check(
        "info of a missing stream",
        nosuch.info().await,
        Err(Error::server("ERR no such key")),
    );

    // Auto IDs: only their order is recorded.
    let mut auto = AutoIds::default();
    let st = client.stream::<Job>("auto");
    let mut ids = Vec::new();
    for n in [1, 2] {
        match st.add(&job(n)).await {
            Ok(i) => ids.push(i),
            Err(e) => t.check("add auto", Err::<(), _>(e), Ok(())),
        }
    }
    match st
        .add_batch(&[job(3), job(4), job(5), job(6), job(7)])
        .await
    {
        Ok(more) => ids.extend(more),
        Err(e) => t.check("add_batch", Err::<(), _>(e), Ok(())),
    }
    let labels: Vec<String> = ids.iter().map(|i| auto.label(*i)).collect();
    t.check(
        "auto ids, distinct and by order",
        labels,
        (1..=7).map(|k| format!("auto{k}")).collect(),
    );
    t.check(
        "auto ids increase",
        ids.windows(2).all(|w| w[0] < w[1]),
        true,
    );
    let now = SystemTime::now();
    t.require(
        "auto ids carry the wall clock",
        ids.first().is_some_and(|i| {
            let at = rill::time_of(*i);
            at <= now && now.duration_since(at).unwrap_or_default() < Duration::from_secs(60)
        }),
        ids.first(),
    );
    t.check("add_batch of nothing", st.add_batch(&[]).await, Ok(vec![]));
    let shown = st.range(IdRange::all(), None).await.map(|v| {
        v.iter()
            .map(|e| format!("{}/{}", auto.label(e.id), e.value.n))
            .collect::<Vec<_>>()
    });
    t.check(
        "range of the auto stream",
        shown,
        Ok((1..=7).map(|k| format!("auto{k}/{k}")).collect()),
    );
    let capped = st
        .add_with(&job(8), None, Some(max_len(3, false)))
        .await
        .map(|i| auto.label(i));
    t.check("add auto with MAXLEN = 3", capped, Ok("auto8".to_string()));
    let shown = st.range(IdRange::all(), None).await.map(|v| {
        v.iter()
            .map(|e| format!("{}/{}", auto.label(e.id), e.value.n))
            .collect::<Vec<_>>()
    });
    t.check(
        "auto stream after MAXLEN = 3",
        shown,
        ok(&["auto6/6", "auto7/7", "auto8/8"]),
    );
    t.check(
        "add an explicit id below the auto ids",
        st.add_with(&job(9), Some(id(1, 1)), None).await,
        Err(Error::server(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        )),
    );
    let info = st.info().await;
    t.check(
        "info of the auto stream",
        show_info(&info, &mut auto),
        "length 3 entries-added 8 groups 0 max-deleted 0-0 recorded-first auto6 first Some(\"auto6\") last Some(\"auto8\")".to_string(),
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario: trimming
// ---------------------------------------------------------------------------------------------

/// XTRIM and XADD trimming: MAXLEN and MINID, exact and approximate (whole nodes of 100
/// entries, as in Redis), and MaxAge against IDs at known distances from `now_ms`.
async fn trims(t: &mut Transcript, client: &Client, now_ms: u64) {
    let s = client.stream::<Tick>("ticks").with_codec(Codec::Flat);
    let mut added = 0;
    for i in 1..=250 {
        if s.add_with(&Tick { i }, Some(id(i, 0)), None).await.is_ok() {
            added += 1;
        }
    }
    t.check("added", added, 250);
    let steps: [(&str, Trim, u64, u64, &str); 7] = [
        (
            "MAXLEN ~ 240: no whole node can go",
            max_len(240, true),
            0,
            250,
            "1-0/1",
        ),
        (
            "MAXLEN ~ 120: the first node goes",
            max_len(120, true),
            100,
            150,
            "101-0/101",
        ),
        ("MAXLEN = 140", max_len(140, false), 10, 140, "111-0/111"),
        ("MINID = 120-0", min_id(120, false), 9, 131, "120-0/120"),
        (
            "MINID ~ 230-0: a whole node",
            min_id(230, true),
            81,
            50,
            "201-0/201",
        ),
        ("MINID = 230-0", min_id(230, false), 29, 21, "230-0/230"),
        (
            "MAXLEN = 21: nothing to do",
            max_len(21, false),
            0,
            21,
            "230-0/230",
        ),
    ];
    for (what, trim, removed, len, head) in steps {
        t.check(&format!("trim {what}"), s.trim(trim).await, Ok(removed));
        t.check(&format!("len after {what}"), s.len().await, Ok(len));
        t.check(
            &format!("first entry after {what}"),
            ticks(s.range(IdRange::all(), Some(1)).await),
            ok(&[head]),
        );
    }
    t.check("trim MAXLEN = 0", s.trim(max_len(0, false)).await, Ok(21));
    t.check(
        "info of the emptied stream",
        s.info().await,
        Ok(StreamInfo {
            length: 0,
            last_generated_id: id(250, 0),
            max_deleted_entry_id: StreamId::MIN,
            entries_added: 250,
            recorded_first_entry_id: StreamId::MIN,
            groups: 0,
            first_entry_id: None,
            last_entry_id: None,
        }),
    );
    // Large entries of varied sizes: nodes close on stream-node-max-bytes (4096) before 100
    // entries, so approximate trims show whether node boundaries fall where Redis puts them.
    let big = client.stream::<Blob>("big").with_codec(Codec::Flat);
    for i in 1..=60u64 {
        let body = "x".repeat(150 + (i as usize * 37) % 400);
        let r = big.add_with(&Blob { i, body }, Some(id(i, 0)), None).await;
        t.check(&format!("add big {i}-0"), r, Ok(id(i, 0)));
    }
    for (what, trim, at_least) in [
        ("MAXLEN ~ 50", max_len(50, true), 50),
        ("MAXLEN ~ 30", max_len(30, true), 30),
        ("MINID ~ 45-0", min_id(45, true), 16),
        ("MAXLEN ~ 1", max_len(1, true), 1),
    ] {
        let removed = big.trim(trim).await;
        t.log(&format!("big: trim {what}"), removed);
        let len = big.len().await;
        t.require(
            &format!("big: {what} keeps at least {at_least}"),
            matches!(len, Ok(n) if n >= at_least),
            &len,
        );
        t.log(&format!("big: len after {what}"), len);
        let head = big
            .range(IdRange::all(), Some(1))
            .await
            .map(|v| v.iter().map(|e| e.id).collect::<Vec<_>>());
        t.log(&format!("big: first entry after {what}"), head);
    }
    let r = big
        .add_with(
            &Blob {
                i: 61,
                body: "y".repeat(3000),
            },
            Some(id(61, 0)),
            Some(max_len(1, true)),
        )
        .await;
    t.check(
        "big: add a 3000-byte entry with MAXLEN ~ 1",
        r,
        Ok(id(61, 0)),
    );
    t.log("big: len after the 3000-byte entry", big.len().await);

    t.check(
        "trim a missing stream",
        client
            .stream::<Tick>("nosuch")
            .trim(max_len(1, false))
            .await,
        Ok(0),
    );

    // Trimming in XADD.
    let c = client.stream::<Tick>("capped").with_codec(Codec::Flat);
    for i in 1..=5 {
        let r = c
            .add_with(&Tick { i }, Some(id(i, 0)), Some(max_len(3, false)))
            .await;
        t.check(&format!("add {i}-0 MAXLEN = 3"), r, Ok(id(i, 0)));
    }
    t.check(
        "capped after MAXLEN = 3",
        ticks(c.range(IdRange::all(), None).await),
        ok(&["3-0/3", "4-0/4", "5-0/5"]),
    );
    let r = c
        .add_with(&Tick { i: 6 }, Some(id(6, 0)), Some(min_id(5, false)))
        .await;
    t.check("add 6-0 MINID = 5-0", r, Ok(id(6, 0)));
    t.check(
        "capped after MINID = 5-0",
        ticks(c.range(IdRange::all(), None).await),
        ok(&["5-0/5", "6-0/6"]),
    );
    let r = c
        .add_with(&Tick { i: 7 }, Some(id(7, 0)), Some(max_len(1, true)))
        .await;
    t.check(
        "add 7-0 MAXLEN ~ 1 (one node: nothing goes)",
        r,
        Ok(id(7, 0)),
    );
    t.check("len after MAXLEN ~ 1", c.len().await, Ok(3));
    t.check(
        "info of capped",
        c.info().await,
        Ok(StreamInfo {
            length: 3,
            last_generated_id: id(7, 0),
            max_deleted_entry_id: StreamId::MIN,
            entries_added: 7,
            recorded_first_entry_id: id(5, 0),
            groups: 0,
            first_entry_id: Some(id(5, 0)),
            last_entry_id: Some(id(7, 0)),
        }),
    );

    // MaxAge: three entries three days old, two from the last hour.
    let old = now_ms - 3 * DAY_MS;
    let recent = [now_ms - 3_600_000, now_ms - 1_800_000];
    let day = Duration::from_millis(DAY_MS);
    let aged = client.stream::<Tick>("aged").with_codec(Codec::Flat);
    for seq in 0..3 {
        let r = aged
            .add_with(&Tick { i: seq }, Some(id(old, seq)), None)
            .await;
        t.check(&format!("add old-{seq}"), r.map(|_| ()), Ok(()));
    }
    let r = aged
        .add_with(&Tick { i: 10 }, Some(id(recent[0], 0)), None)
        .await;
    t.check("add recent 1h", r.map(|_| ()), Ok(()));
    let r = aged
        .add_with(
            &Tick { i: 11 },
            Some(id(recent[1], 0)),
            Some(max_age(day, false)),
        )
        .await;
    t.check(
        "add recent 30min with MaxAge = 1 day",
        r.map(|_| ()),
        Ok(()),
    );
    t.check(
        "aged after MaxAge = 1 day",
        aged.range(IdRange::all(), None)
            .await
            .map(|v| v.iter().map(|e| e.value.i).collect::<Vec<_>>()),
        Ok(vec![10, 11]),
    );

    let aged2 = client.stream::<Tick>("aged2").with_codec(Codec::Flat);
    for (i, at) in [
        id(old, 0),
        id(old, 1),
        id(old, 2),
        id(recent[0], 0),
        id(recent[1], 0),
    ]
    .into_iter()
    .enumerate()
    {
        let r = aged2.add_with(&Tick { i: i as u64 }, Some(at), None).await;
        t.check(&format!("add aged2 #{i}"), r.map(|_| ()), Ok(()));
    }
    t.check(
        "trim MaxAge ~ 1 day (the node holds recent entries: nothing goes)",
        aged2.trim(max_age(day, true)).await,
        Ok(0),
    );
    t.check(
        "trim MaxAge = 1 day",
        aged2.trim(max_age(day, false)).await,
        Ok(3),
    );
    t.check(
        "trim MaxAge ~ 1 min (the whole node is older)",
        aged2.trim(max_age(Duration::from_secs(60), true)).await,
        Ok(2),
    );
    t.check("len of aged2", aged2.len().await, Ok(0));
}

// ---------------------------------------------------------------------------------------------
// Scenario: consumer groups
// ---------------------------------------------------------------------------------------------

/// create/ensure/destroy groups, read_group, read_own_pending, ack, pending, claim, autoclaim,
/// XINFO GROUPS/CONSUMERS, delete_consumer, set_group_id, and the NOGROUP/BUSYGROUP errors.
async fn groups(t: &mut Transcript, client: &Client) {
    let s = client.stream::<Job>("orders");
    let create_needs_key = Error::server(
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want \
         to use the MKSTREAM option to create an empty stream automatically.",
    );
    t.check(
        "create_group on a missing key",
        s.create_group("all", GroupStart::Beginning, false).await,
        Err(create_needs_key),
    );
    let no_group = s
        .read_group("nope", "x", 1, None)
        .await
        .and_then(rill::Batch::into_decoded);
    t.check(
        "read_group on a missing key is NOGROUP",
        no_group.as_ref().err().is_some_and(Error::is_no_group),
        true,
    );
    t.check(
        "read_group on a missing key",
        jobs(no_group),
        Err(Error::server(
            "NOGROUP No such key 'orders' or consumer group 'nope' in XREADGROUP with GROUP option",
        )),
    );
    for n in 1..=6 {
        let r = s.add_with(&job(n), Some(id(10, n as u64)), None).await;
        t.check(&format!("add 10-{n}"), r, Ok(id(10, n as u64)));
    }
    let no_group = s
        .read_group("nope", "x", 1, Some(SHORT_BLOCK))
        .await
        .and_then(rill::Batch::into_decoded);
    t.check(
        "read_group of a missing group is NOGROUP",
        no_group.as_ref().err().is_some_and(Error::is_no_group),
        true,
    );
    t.log("read_group of a missing group", jobs(no_group));

    t.check(
        "create_group all at the beginning",
        s.create_group("all", GroupStart::Beginning, false).await,
        Ok(()),
    );
    let again = s.create_group("all", GroupStart::Beginning, false).await;
    t.check(
        "create_group twice is BUSYGROUP",
        again.as_ref().err().is_some_and(Error::is_busy_group),
        true,
    );
    t.check(
        "create_group twice",
        again,
        Err(Error::server(
            "BUSYGROUP Consumer Group name already exists",
        )),
    );
    t.check(
        "ensure_group on an existing group",
        s.ensure_group("all", GroupStart::NewOnly).await,
        Ok(()),
    );
    t.check(
        "ensure_group on an existing group, again",
        s.ensure_group("all", GroupStart::NewOnly).await,
        Ok(()),
    );
    t.check(
        "create_group new, NewOnly",
        s.create_group("new", GroupStart::NewOnly, false).await,
        Ok(()),
    );
    t.check(
        "create_group mid, after 10-3",
        s.create_group("mid", GroupStart::After(id(10, 3)), false)
            .await,
        Ok(()),
    );
    let fresh = client.stream::<Job>("fresh");
    t.check(
        "ensure_group makes the stream",
        fresh.ensure_group("g", GroupStart::NewOnly).await,
        Ok(()),
    );
    t.check("len of the made stream", fresh.len().await, Ok(0));
    t.check(
        "groups of the made stream",
        fresh.groups().await,
        Ok(vec![GroupInfo {
            name: "g".into(),
            consumers: 0,
            pending: 0,
            last_delivered_id: StreamId::MIN,
            entries_read: None,
            lag: Some(0),
        }]),
    );
    let before = s.groups().await;
    t.log("groups before any read (full)", &before);
    t.check(
        "groups before any read",
        group_lines(&before),
        ok(&[
            "all consumers 0 pending 0 last 0-0",
            "mid consumers 0 pending 0 last 10-3",
            "new consumers 0 pending 0 last 10-6",
        ]),
    );

    // Deliveries.
    t.check(
        "read_group all alice 2",
        jobs(
            s.read_group("all", "alice", 2, None)
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&["10-1/1", "10-2/2"]),
    );
    let clock = Instant::now();
    t.check(
        "read_group all bob 2, block, data there",
        jobs(
            s.read_group("all", "bob", 2, Some(LONG_BLOCK))
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&["10-3/3", "10-4/4"]),
    );
    t.require(
        "a group block with data there answers at once",
        clock.elapsed() < LONG_BLOCK / 2,
        clock.elapsed(),
    );
    t.check(
        "read_group mid carol",
        jobs(
            s.read_group("mid", "carol", 10, None)
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&["10-4/4", "10-5/5", "10-6/6"]),
    );
    t.check(
        "add 10-7",
        s.add_with(&job(7), Some(id(10, 7)), None).await,
        Ok(id(10, 7)),
    );
    t.check(
        "read_group new dave",
        jobs(
            s.read_group("new", "dave", 10, None)
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&["10-7/7"]),
    );
    let clock = Instant::now();
    t.check(
        "read_group new dave, nothing new, short block",
        jobs(
            s.read_group("new", "dave", 10, Some(SHORT_BLOCK))
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&[]),
    );
    t.require(
        "a group block waits before it answers empty",
        clock.elapsed() >= MIN_BLOCK_WAIT,
        clock.elapsed(),
    );
    let groups_read = s.groups().await;
    t.log("groups after reads (full)", &groups_read);
    t.check(
        "groups after reads",
        groups_read,
        Ok(vec![
            GroupInfo {
                name: "all".into(),
                consumers: 2,
                pending: 4,
                last_delivered_id: id(10, 4),
                entries_read: Some(4),
                lag: Some(3),
            },
            GroupInfo {
                name: "mid".into(),
                consumers: 1,
                pending: 3,
                last_delivered_id: id(10, 6),
                entries_read: Some(6),
                lag: Some(1),
            },
            GroupInfo {
                name: "new".into(),
                consumers: 1,
                pending: 1,
                last_delivered_id: id(10, 7),
                entries_read: Some(7),
                lag: Some(0),
            },
        ]),
    );

    // The pending lists.
    t.check(
        "pending all",
        s.pending("all").await,
        Ok(PendingSummary {
            count: 4,
            first_id: Some(id(10, 1)),
            last_id: Some(id(10, 4)),
            consumers: vec![("alice".into(), 2), ("bob".into(), 2)],
        }),
    );
    let everything = PendingQuery::default();
    t.check(
        "pending_entries all",
        rows(s.pending_entries("all", &everything).await),
        ok(&[
            "10-1 alice x1",
            "10-2 alice x1",
            "10-3 bob x1",
            "10-4 bob x1",
        ]),
    );
    let of_bob = PendingQuery {
        consumer: Some("bob".into()),
        ..PendingQuery::default()
    };
    t.check(
        "pending_entries of bob",
        rows(s.pending_entries("all", &of_bob).await),
        ok(&["10-3 bob x1", "10-4 bob x1"]),
    );
    let long_idle = PendingQuery {
        min_idle: Some(HUGE_IDLE),
        ..PendingQuery::default()
    };
    t.check(
        "pending_entries idle at least an hour",
        rows(s.pending_entries("all", &long_idle).await),
        ok(&[]),
    );
    let idle_zero_of_alice = PendingQuery {
        consumer: Some("alice".into()),
        min_idle: Some(Duration::ZERO),
        ..PendingQuery::default()
    };
    t.check(
        "pending_entries of alice idle at least 0",
        rows(s.pending_entries("all", &idle_zero_of_alice).await),
        ok(&["10-1 alice x1", "10-2 alice x1"]),
    );
    let window = PendingQuery {
        range: IdRange::between(id(10, 2), id(10, 3)),
        count: 1,
        ..PendingQuery::default()
    };
    t.check(
        "pending_entries between 10-2 and 10-3, count 1",
        rows(s.pending_entries("all", &window).await),
        ok(&["10-2 alice x1"]),
    );
    let after = PendingQuery {
        range: IdRange::after(id(10, 2)),
        ..PendingQuery::default()
    };
    t.check(
        "pending_entries after 10-2",
        rows(s.pending_entries("all", &after).await),
        ok(&["10-3 bob x1", "10-4 bob x1"]),
    );
    let nobody = PendingQuery {
        consumer: Some("nobody".into()),
        ..PendingQuery::default()
    };
    t.check(
        "pending_entries of an unknown consumer",
        rows(s.pending_entries("all", &nobody).await),
        ok(&[]),
    );

    // Acknowledging.
    t.check(
        "ack 10-1 10-9",
        s.ack("all", &[id(10, 1), id(10, 9)]).await,
        Ok(1),
    );
    t.check("ack 10-1 again", s.ack("all", &[id(10, 1)]).await, Ok(0));
    t.check("ack nothing", s.ack("all", &[]).await, Ok(0));
    t.log("ack in a missing group", s.ack("ghost", &[id(10, 2)]).await);

    // A pending entry deleted from the stream.
    t.check("delete 10-2", s.delete(&[id(10, 2)]).await, Ok(1));
    t.check(
        "read_own_pending alice",
        own_pending(s.read_own_pending("all", "alice", StreamId::MIN, 10).await),
        ok(&["10-2 deleted"]),
    );
    t.check(
        "read_own_pending bob",
        own_pending(s.read_own_pending("all", "bob", StreamId::MIN, 10).await),
        ok(&["10-3/3", "10-4/4"]),
    );
    t.check(
        "read_own_pending bob after 10-3",
        own_pending(s.read_own_pending("all", "bob", id(10, 3), 10).await),
        ok(&["10-4/4"]),
    );
    t.check(
        "read_own_pending bob count 1",
        own_pending(s.read_own_pending("all", "bob", StreamId::MIN, 1).await),
        ok(&["10-3/3"]),
    );
    t.check(
        "pending_entries after history reads (each one counts as a delivery)",
        rows(s.pending_entries("all", &everything).await),
        ok(&["10-2 alice x1", "10-3 bob x3", "10-4 bob x3"]),
    );

    // Claims.
    t.check(
        "claim 10-3 and deleted 10-2 for carol",
        jobs(
            s.claim("all", "carol", Duration::ZERO, &[id(10, 3), id(10, 2)])
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&["10-3/3"]),
    );
    t.check(
        "pending_entries after claim (deleted 10-2 dropped)",
        rows(s.pending_entries("all", &everything).await),
        ok(&["10-3 carol x4", "10-4 bob x3"]),
    );
    t.check(
        "claim with an hour of min idle",
        jobs(
            s.claim("all", "carol", HUGE_IDLE, &[id(10, 4)])
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&[]),
    );
    t.check(
        "read_group all alice, the rest",
        jobs(
            s.read_group("all", "alice", 10, None)
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&["10-5/5", "10-6/6", "10-7/7"]),
    );
    t.check("delete 10-6", s.delete(&[id(10, 6)]).await, Ok(1));
    let mut cursor = StreamId::MIN;
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    for round in 1..=10 {
        let r = s.autoclaim("all", "erin", Duration::ZERO, cursor, 2).await;
        let shown = r.as_ref().map(|a| {
            format!(
                "next {} claimed {:?} deleted {:?}",
                a.next,
                a.claimed.iter().map(show_job).collect::<Vec<_>>(),
                a.deleted.iter().map(|d| d.to_string()).collect::<Vec<_>>()
            )
        });
        t.log(&format!("autoclaim round {round} from {cursor}"), shown);
        let Ok(a) = r else {
            t.check("autoclaim", r.map(|_| ()), Ok(()));
            break;
        };
        claimed.extend(a.claimed.iter().map(show_job));
        deleted.extend(a.deleted.iter().map(|d| d.to_string()));
        cursor = a.next;
        if cursor == StreamId::MIN {
            break;
        }
    }
    t.check("autoclaim scanned the whole PEL", cursor, StreamId::MIN);
    t.check(
        "autoclaim claimed",
        claimed,
        vec!["10-3/3", "10-4/4", "10-5/5", "10-7/7"]
            .into_iter()
            .map(String::from)
            .collect(),
    );
    t.check("autoclaim deleted", deleted, vec!["10-6".to_string()]);
    t.check(
        "autoclaim with an hour of min idle",
        s.autoclaim("all", "erin", HUGE_IDLE, StreamId::MIN, 10)
            .await
            .map(|a| (a.next, a.claimed.len(), a.deleted)),
        Ok((StreamId::MIN, 0, vec![])),
    );
    t.check(
        "pending_entries after autoclaim",
        rows(s.pending_entries("all", &everything).await),
        ok(&[
            "10-3 erin x5",
            "10-4 erin x4",
            "10-5 erin x2",
            "10-7 erin x2",
        ]),
    );

    // Introspection.
    t.check(
        "consumers of all",
        consumer_lines(s.consumers("all").await),
        ok(&[
            "alice pending 0",
            "bob pending 0",
            "carol pending 0",
            "erin pending 4",
        ]),
    );
    t.check(
        "consumers of a missing group",
        consumer_lines(s.consumers("ghost").await),
        Err(Error::server(
            "NOGROUP No such consumer group 'ghost' for key name 'orders'",
        )),
    );
    let after_claims = s.groups().await;
    // The last-delivered IDs are the last entry: lag is 0 in 7.0 and 7.4 alike.
    t.log("groups after claims (full)", &after_claims);
    t.check(
        "groups after claims",
        group_lines(&after_claims),
        ok(&[
            "all consumers 4 pending 4 last 10-7",
            "mid consumers 1 pending 3 last 10-6",
            "new consumers 1 pending 1 last 10-7",
        ]),
    );
    t.check(
        "info of orders",
        s.info().await,
        Ok(StreamInfo {
            length: 5,
            last_generated_id: id(10, 7),
            max_deleted_entry_id: id(10, 6),
            entries_added: 7,
            recorded_first_entry_id: id(10, 1),
            groups: 3,
            first_entry_id: Some(id(10, 1)),
            last_entry_id: Some(id(10, 7)),
        }),
    );

    // Removing consumers and groups.
    t.check(
        "delete_consumer erin",
        s.delete_consumer("all", "erin").await,
        Ok(4),
    );
    t.check(
        "delete_consumer of an unknown consumer",
        s.delete_consumer("all", "ghost").await,
        Ok(0),
    );
    t.check(
        "delete_consumer in a missing group",
        s.delete_consumer("ghost", "x").await,
        Err(Error::server(
            "NOGROUP No such consumer group 'ghost' for key name 'orders'",
        )),
    );
    t.check(
        "consumers of all after delete_consumer",
        consumer_lines(s.consumers("all").await),
        ok(&["alice pending 0", "bob pending 0", "carol pending 0"]),
    );
    t.check(
        "pending all, now empty",
        s.pending("all").await,
        Ok(PendingSummary::default()),
    );
    t.check(
        "set_group_id new to the beginning",
        s.set_group_id("new", GroupStart::Beginning).await,
        Ok(()),
    );
    t.check(
        "read_group new dave after set_group_id",
        jobs(
            s.read_group("new", "dave", 10, None)
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        ok(&["10-1/1", "10-3/3", "10-4/4", "10-5/5", "10-7/7"]),
    );
    t.check(
        "pending_entries of new (10-7 delivered anew: its count restarts)",
        rows(s.pending_entries("new", &everything).await),
        ok(&[
            "10-1 dave x1",
            "10-3 dave x1",
            "10-4 dave x1",
            "10-5 dave x1",
            "10-7 dave x1",
        ]),
    );
    t.check("destroy_group mid", s.destroy_group("mid").await, Ok(true));
    t.check(
        "destroy_group mid again",
        s.destroy_group("mid").await,
        Ok(false),
    );
    t.check(
        "groups after destroy",
        group_lines(&s.groups().await),
        ok(&[
            "all consumers 3 pending 0 last 10-7",
            "new consumers 1 pending 5 last 10-7",
        ]),
    );
    let gone = s.pending("mid").await;
    t.check(
        "pending of a destroyed group is NOGROUP",
        gone.as_ref().err().is_some_and(Error::is_no_group),
        true,
    );
    t.log("pending of a destroyed group", gone);
    t.log(
        "destroy_group on a missing key",
        client.stream::<Job>("nosuch").destroy_group("g").await,
    );
    t.log(
        "set_group_id of a missing group",
        s.set_group_id("ghost", GroupStart::Beginning).await,
    );
    t.log("delete of no id", s.delete(&[]).await);
    t.log(
        "claim of no id",
        jobs(
            s.claim("all", "alice", Duration::ZERO, &[])
                .await
                .and_then(rill::Batch::into_decoded),
        ),
    );
    t.check(
        "read_group of a destroyed group",
        jobs(
            s.read_group("mid", "carol", 1, None)
                .await
                .and_then(rill::Batch::into_decoded),
        ),
        Err(Error::server(
            "NOGROUP No such key 'orders' or consumer group 'mid' in XREADGROUP with GROUP option",
        )),
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario: codecs and errors
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Status {
    Pending,
    Shipped,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Address {
    city: String,
    zip: Option<String>,
    lines: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    id: u64,
    item: String,
    price: f64,
    paid: bool,
    note: Option<String>,
    tags: Vec<String>,
    ship_to: Address,
    status: Status,
}

/// Every field optional: a flat entry of `None`s has no field at all.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Maybe {
    a: Option<u32>,
}

/// A shape no `Order` entry can decode into.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

fn orders() -> [Order; 2] {
    [
        Order {
            id: 7,
            item: "book \"quoted\"\r\n ünï €".into(),
            price: 9.5,
            paid: true,
            note: Some("gift".into()),
            tags: vec!["a".into(), "b c".into()],
            ship_to: Address {
                city: "Lyon".into(),
                zip: Some("69001".into()),
                lines: vec!["1 rue X".into(), "".into()],
            },
            status: Status::Shipped,
        },
        Order {
            id: 8,
            item: "123".into(),
            price: -0.25,
            paid: false,
            note: None,
            tags: vec![],
            ship_to: Address {
                city: "".into(),
                zip: None,
                lines: vec![],
            },
            status: Status::Pending,
        },
    ]
}

/// Whether `r` is a codec error that names entry `id`.
fn codec_error_at<T>(r: &rill::Result<T>, id: &str) -> bool {
    matches!(r, Err(Error::Codec { id: Some(at), .. }) if at.to_string() == id)
}

/// Every codec round-trips nested structs, options, vectors, enums and awkward strings through
/// every read path; a wrong shape is a codec error naming the entry, never a skip; server
/// errors keep their code (WRONGTYPE).
async fn codecs_and_errors(t: &mut Transcript, client: &Client) {
    let expected = orders();
    for codec in [Codec::Json, Codec::MessagePack, Codec::Flat] {
        let key = format!("orders-{codec:?}");
        let s: Stream<Order> = client.stream(&key).with_codec(codec);
        for (k, o) in expected.iter().enumerate() {
            let at = id(1, k as u64 + 1);
            t.check(
                &format!("{key}: add {at}"),
                s.add_with(o, Some(at), None).await,
                Ok(at),
            );
        }
        let values = |r: rill::Result<Vec<Entry<Order>>>| {
            r.map(|v| v.into_iter().map(|e| (e.id, e.value)).collect::<Vec<_>>())
        };
        let both = Ok(vec![
            (id(1, 1), expected[0].clone()),
            (id(1, 2), expected[1].clone()),
        ]);
        t.check(
            &format!("{key}: range"),
            values(s.range(IdRange::all(), None).await),
            both.clone(),
        );
        t.check(
            &format!("{key}: read_from"),
            values(s.read_from(StreamId::MIN, None, None).await),
            both.clone(),
        );
        t.check(
            &format!("{key}: latest 1"),
            values(s.latest(1).await),
            Ok(vec![(id(1, 2), expected[1].clone())]),
        );
        t.check(
            &format!("{key}: read_streams"),
            client
                .read_streams(&[(&s, StreamId::MIN)], None, None)
                .await
                .map(|v| {
                    v.into_iter()
                        .map(|(k, es)| (k, es.into_iter().map(|e| e.value).collect::<Vec<_>>()))
                        .collect::<Vec<_>>()
                }),
            Ok(vec![(key.clone(), expected.to_vec())]),
        );
        t.check(
            &format!("{key}: ensure_group"),
            s.ensure_group("g", GroupStart::Beginning).await,
            Ok(()),
        );
        t.check(
            &format!("{key}: read_group"),
            values(
                s.read_group("g", "c1", 10, None)
                    .await
                    .and_then(rill::Batch::into_decoded),
            ),
            both.clone(),
        );
        t.check(
            &format!("{key}: read_own_pending"),
            s.read_own_pending("g", "c1", StreamId::MIN, 10).await,
            Ok(vec![
                PendingRead {
                    id: id(1, 1),
                    value: Some(expected[0].clone()),
                },
                PendingRead {
                    id: id(1, 2),
                    value: Some(expected[1].clone()),
                },
            ]),
        );
        t.check(
            &format!("{key}: claim"),
            values(
                s.claim("g", "c2", Duration::ZERO, &[id(1, 1)])
                    .await
                    .and_then(rill::Batch::into_decoded),
            ),
            Ok(vec![(id(1, 1), expected[0].clone())]),
        );
        t.check(
            &format!("{key}: autoclaim"),
            s.autoclaim("g", "c1", Duration::ZERO, StreamId::MIN, 10)
                .await
                .map(|a| {
                    (
                        a.next,
                        a.claimed.into_iter().map(|e| e.value).collect::<Vec<_>>(),
                    )
                }),
            Ok((StreamId::MIN, expected.to_vec())),
        );
        // What is stored, as any Redis client sees it.
        t.log(
            &format!("{key}: stored"),
            client.command(&["XRANGE", &key, "-", "+"]).await,
        );

        // The same entries read as an incompatible type.
        let wrong: Stream<Point> = client.stream(&key).with_codec(codec);
        let r = wrong.range(IdRange::all(), None).await;
        t.check(
            &format!("{key} as Point: range fails at 1-1"),
            codec_error_at(&r, "1-1"),
            true,
        );
        t.log(&format!("{key} as Point: range"), &r);
        let r = wrong.rev_range(IdRange::all(), None).await;
        t.check(
            &format!("{key} as Point: rev_range fails at 1-2"),
            codec_error_at(&r, "1-2"),
            true,
        );
        let r = wrong.read_from(id(1, 1), None, Some(LONG_BLOCK)).await;
        t.check(
            &format!("{key} as Point: read_from fails at 1-2"),
            codec_error_at(&r, "1-2"),
            true,
        );
        let r = client
            .read_streams(&[(&wrong, StreamId::MIN)], None, None)
            .await;
        t.check(
            &format!("{key} as Point: read_streams fails at 1-1"),
            codec_error_at(&r, "1-1"),
            true,
        );
        t.check(
            &format!("{key}: group h"),
            wrong.create_group("h", GroupStart::Beginning, false).await,
            Ok(()),
        );
        let r = wrong
            .read_group("h", "c", 10, None)
            .await
            .and_then(rill::Batch::into_decoded);
        t.check(
            &format!("{key} as Point: read_group fails at 1-1"),
            codec_error_at(&r, "1-1"),
            true,
        );
        let r = wrong.read_own_pending("h", "c", StreamId::MIN, 10).await;
        t.check(
            &format!("{key} as Point: read_own_pending fails at 1-1"),
            codec_error_at(&r, "1-1"),
            true,
        );
        let r = wrong
            .claim("h", "d", Duration::ZERO, &[id(1, 2)])
            .await
            .and_then(rill::Batch::into_decoded);
        t.check(
            &format!("{key} as Point: claim fails at 1-2"),
            codec_error_at(&r, "1-2"),
            true,
        );
        let r = wrong
            .autoclaim("h", "d", Duration::ZERO, StreamId::MIN, 10)
            .await
            .and_then(|a| a.claimed.into_decoded());
        t.check(
            &format!("{key} as Point: autoclaim fails at 1-1"),
            codec_error_at(&r, "1-1"),
            true,
        );
    }

    // Written with one codec, read with another.
    for (written, read) in [
        (Codec::Json, Codec::MessagePack),
        (Codec::Json, Codec::Flat),
        (Codec::MessagePack, Codec::Json),
        (Codec::Flat, Codec::Json),
    ] {
        let s: Stream<Order> = client
            .stream(&format!("orders-{written:?}"))
            .with_codec(read);
        let r = s.range(IdRange::all(), None).await;
        t.check(
            &format!("{written:?} read as {read:?} fails at 1-1"),
            codec_error_at(&r, "1-1"),
            true,
        );
        t.log(&format!("{written:?} read as {read:?}"), r.map(|v| v.len()));
    }
    let nothing = client
        .stream::<Maybe>("empty")
        .with_codec(Codec::Flat)
        .add(&Maybe { a: None })
        .await;
    t.check(
        "flat: a value with no field to store is a codec error",
        matches!(nothing, Err(Error::Codec { id: None, .. })),
        true,
    );
    t.log("flat: a value with no field to store", nothing);
    t.check(
        "nothing was stored",
        client.stream::<Maybe>("empty").len().await,
        Ok(0),
    );

    // Server errors keep their code.
    t.check(
        "SET plain x",
        client.command(&["SET", "plain", "x"]).await,
        Ok(rill::Reply::ok()),
    );
    let plain = client.stream::<Job>("plain");
    let wrongtype =
        Error::server("WRONGTYPE Operation against a key holding the wrong kind of value");
    let results: Vec<(&str, rill::Result<()>)> = vec![
        ("len", plain.len().await.map(|_| ())),
        ("add", plain.add(&job(1)).await.map(|_| ())),
        (
            "add_batch",
            plain.add_batch(&[job(1), job(2)]).await.map(|_| ()),
        ),
        ("range", plain.range(IdRange::all(), None).await.map(|_| ())),
        (
            "rev_range",
            plain.rev_range(IdRange::all(), None).await.map(|_| ()),
        ),
        (
            "read_from",
            plain.read_from(StreamId::MIN, None, None).await.map(|_| ()),
        ),
        (
            "read_from with block",
            plain
                .read_from(StreamId::MIN, None, Some(SHORT_BLOCK))
                .await
                .map(|_| ()),
        ),
        ("delete", plain.delete(&[id(1, 1)]).await.map(|_| ())),
        ("trim", plain.trim(max_len(1, false)).await.map(|_| ())),
        ("info", plain.info().await.map(|_| ())),
        (
            "create_group",
            plain.create_group("g", GroupStart::Beginning, true).await,
        ),
        (
            "ensure_group",
            plain.ensure_group("g", GroupStart::Beginning).await,
        ),
        (
            "read_group",
            plain.read_group("g", "c", 1, None).await.map(|_| ()),
        ),
    ];
    for (what, r) in results {
        t.check(
            &format!("{what} on a string key is WRONGTYPE"),
            r.as_ref().err().is_some_and(Error::is_wrong_type),
            true,
        );
        t.log(&format!("{what} on a string key"), r);
    }
    let wt = plain.len().await;
    t.check("len on a string key", wt, Err(wrongtype));
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn reads_match_on_every_backend() {
    parity(Scenario::Reads).await;
}

#[tokio::test]
async fn trims_match_on_every_backend() {
    parity(Scenario::Trims).await;
}

#[tokio::test]
async fn groups_match_on_every_backend() {
    parity(Scenario::Groups).await;
}

#[tokio::test]
async fn codecs_and_errors_match_on_every_backend() {
    parity(Scenario::CodecsAndErrors).await;
}

/// `TestServer` is meant for async tests: starting and stopping one inside a runtime must work
/// (the parity tests above start it off the runtime until it does).
#[tokio::test]
async fn test_server_starts_inside_a_tokio_runtime() {
    let server = TestServer::start().expect("start the in-process rill-server");
    let client = Client::connect(&server.url()).await.expect("connect");
    let pong = client.command(&["PING"]).await;
    assert_eq!(pong, Ok(rill::Reply::Simple("PONG".into())));
    drop(client);
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .expect("the stop thread");
}
