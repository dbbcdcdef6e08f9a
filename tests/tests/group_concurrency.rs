//! Consumer groups under real concurrency: producers and consumers on their own connections.
//!
//! The promise a consumer group makes is that every entry goes to exactly one consumer of the
//! group, and that a consumer blocked on `>` is woken by new data (first-come first-served).
//! These tests drive `rill-server` over TCP from many threads and check that promise on the
//! outcome only: which consumer got which entry, what XPENDING and XINFO GROUPS say at the end.
//! No assertion depends on timing; the only clock involved is a generous bound (20 s) that turns
//! a lost wake-up into a failure with a message instead of a hung test.
//!
//! The scenarios repeat `RILL_CONCURRENCY_LOOPS` times (100 by default). With
//! `RILL_DIFF_SELFTEST=1` they run against redis-server instead, to validate the tests.

use rill_tests::client::Connection;
use rill_tests::reply::Reply;
use rill_tests::rill::ServerUnderTest;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Loops per scenario when `RILL_CONCURRENCY_LOOPS` is not set.
const DEFAULT_LOOPS: usize = 100;

/// Producer threads, each with its own connection.
const PRODUCERS: usize = 3;

/// Consumer threads (consumers `c0`..`c3` of group `g`), each with its own connection.
const CONSUMERS: usize = 4;

/// Entries each producer adds per loop (300 per loop in all).
const ENTRIES_PER_PRODUCER: usize = 100;

/// How long everything in one loop may take before the test calls it stuck: far above what a
/// loop needs (milliseconds), so reaching it means a lost wake-up or a hang, not slowness.
const STUCK_AFTER: Duration = Duration::from_secs(20);

/// The group every consumer reads through.
const GROUP: &str = "g";

fn loops() -> usize {
    match std::env::var("RILL_CONCURRENCY_LOOPS") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("RILL_CONCURRENCY_LOOPS={text:?} is not a number")),
        Err(_) => DEFAULT_LOOPS,
    }
}

fn start() -> ServerUnderTest {
    match ServerUnderTest::start() {
        Some(server) => server,
        // Only in selftest mode without redis-server; the oracle printed a loud warning.
        None => panic!("no server to test: RILL_DIFF_SELFTEST=1 needs redis-server"),
    }
}

fn open(addr: SocketAddr) -> Connection {
    Connection::open(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

fn call(conn: &mut Connection, args: &[&str]) -> Reply {
    conn.call(args)
        .unwrap_or_else(|e| panic!("`{}` got no reply: {e}", args.join(" ")))
}

fn text(reply: &Reply) -> String {
    match reply.as_text() {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => panic!("expected a string, got {reply}"),
    }
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// `ms-seq` as a pair, so IDs compare numerically.
fn parse_id(id: &str) -> (u64, u64) {
    let parsed = id
        .split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse().ok()?, seq.parse().ok()?)));
    parsed.unwrap_or_else(|| panic!("not a stream ID: {id:?}"))
}

/// The value after `field` in a flat field/value array or a map.
fn field<'a>(reply: &'a Reply, name: &str) -> &'a Reply {
    let found = match reply {
        Reply::Array(items) => items
            .chunks(2)
            .find(|pair| pair[0].as_text() == Some(name.as_bytes()))
            .and_then(|pair| pair.get(1)),
        Reply::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_text() == Some(name.as_bytes()))
            .map(|(_, v)| v),
        _ => None,
    };
    found.unwrap_or_else(|| panic!("no field {name:?} in {reply}"))
}

/// `blocked_clients` from `INFO clients`.
fn blocked_clients(conn: &mut Connection) -> usize {
    let info = text(&call(conn, &["INFO", "clients"]));
    info.lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no blocked_clients in INFO clients:\n{info}"))
}

/// Polls `INFO clients` until exactly `expected` clients are blocked. Used to make "this client
/// blocked before that one" a fact rather than a hope.
fn wait_for_blocked(conn: &mut Connection, expected: usize, what: &str) {
    let deadline = Instant::now() + STUCK_AFTER;
    loop {
        let now = blocked_clients(conn);
        if now == expected {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: blocked_clients stayed {now}, expected {expected} within {STUCK_AFTER:?}"
            );
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// One delivered entry: its ID and its field/value pairs.
type Entry = (String, Vec<String>);

/// Parses an XREADGROUP reply for one stream: `[[key, [[id, [f, v, ...]], ...]]]`.
fn entries_of(reply: &Reply, key: &str) -> Vec<Entry> {
    let parsed = (|| {
        let Reply::Array(streams) = reply else {
            return None;
        };
        let [Reply::Array(stream)] = streams.as_slice() else {
            return None;
        };
        let [name, Reply::Array(entries)] = stream.as_slice() else {
            return None;
        };
        if name.as_text() != Some(key.as_bytes()) {
            return None;
        }
        entries
            .iter()
            .map(|entry| {
                let Reply::Array(parts) = entry else {
                    return None;
                };
                let [id, Reply::Array(fields)] = parts.as_slice() else {
                    return None;
                };
                let id = String::from_utf8(id.as_text()?.to_vec()).ok()?;
                let fields = fields
                    .iter()
                    .map(|f| Some(String::from_utf8_lossy(f.as_text()?).into_owned()))
                    .collect::<Option<Vec<_>>>()?;
                Some((id, fields))
            })
            .collect()
    })();
    parsed.unwrap_or_else(|| panic!("unexpected XREADGROUP reply shape for {key}: {reply}"))
}

/// What one consumer thread saw, sent to the main thread when it stops.
struct Consumed {
    name: String,
    /// Entries in the order they were delivered to this consumer.
    entries: Vec<Entry>,
    /// Sum of XACK replies.
    acked: i64,
    /// Something that must fail the test (an unexpected error, a short XACK).
    problem: Option<String>,
}

/// How consumers wait for new entries.
#[derive(Clone, Copy, PartialEq)]
enum Wait {
    /// `BLOCK 1000`, consumers start together with the producers.
    Block1000,
    /// `BLOCK 0`, and every consumer is blocked before the first XADD: nothing but a wake-up
    /// can deliver an entry, so a lost wake-up leaves entries undelivered and the loop fails.
    Block0Prearmed,
}

/// Reads `>` through the group until told to stop, acknowledging each batch before reporting
/// its size, so "all delivered" on the main thread implies "all acknowledged".
fn consume(
    addr: SocketAddr,
    key: String,
    name: String,
    block_ms: &'static str,
    stop: Arc<AtomicBool>,
    delivered: mpsc::Sender<usize>,
) -> Consumed {
    let mut conn = open(addr);
    let mut out = Consumed {
        name,
        entries: Vec::new(),
        acked: 0,
        problem: None,
    };
    // The main thread bounds every wait; the connection must not give up first.
    if let Err(e) = conn.set_read_timeout(Some(STUCK_AFTER * 2)) {
        out.problem = Some(format!("set_read_timeout: {e}"));
        return out;
    }
    let name = out.name.clone();
    while !stop.load(Ordering::SeqCst) {
        let read = [
            "XREADGROUP",
            "GROUP",
            GROUP,
            &name,
            "COUNT",
            "10",
            "BLOCK",
            block_ms,
            "STREAMS",
            &key,
            ">",
        ];
        let reply = match conn.call(&read) {
            Ok(reply) => reply,
            Err(e) => {
                out.problem = Some(format!("{name}: XREADGROUP got no reply: {e}"));
                break;
            }
        };
        match reply {
            Reply::NullArray | Reply::Null => continue, // BLOCK 1000 timed out
            Reply::Error(_) if stop.load(Ordering::SeqCst) => break, // group destroyed: done
            Reply::Error(e) => {
                out.problem = Some(format!(
                    "{name}: XREADGROUP failed: {}",
                    String::from_utf8_lossy(&e)
                ));
                break;
            }
            reply => {
                let batch = entries_of(&reply, &key);
                if batch.is_empty() {
                    out.problem = Some(format!("{name}: XREADGROUP returned no entries: {reply}"));
                    break;
                }
                let mut ack = vec!["XACK", &key, GROUP];
                ack.extend(batch.iter().map(|(id, _)| id.as_str()));
                match conn.call(&ack) {
                    Ok(Reply::Integer(n)) => {
                        out.acked += n;
                        if n != batch.len() as i64 {
                            out.problem = Some(format!(
                                "{name}: XACK of {} fresh entries answered {n}",
                                batch.len()
                            ));
                        }
                    }
                    other => {
                        out.problem = Some(format!("{name}: XACK answered {other:?}"));
                    }
                }
                let size = batch.len();
                out.entries.extend(batch);
                let _ = delivered.send(size);
                if out.problem.is_some() {
                    break;
                }
            }
        }
    }
    out
}

/// Adds this producer's entries one XADD at a time; returns (ID, index) per entry.
fn produce(
    addr: SocketAddr,
    key: String,
    producer: usize,
    start: Arc<Barrier>,
) -> Vec<(String, usize)> {
    let mut conn = open(addr);
    start.wait();
    let p = producer.to_string();
    (0..ENTRIES_PER_PRODUCER)
        .map(|i| {
            let n = i.to_string();
            let reply = call(&mut conn, &["XADD", &key, "*", "p", &p, "n", &n]);
            if reply.is_error() {
                panic!("producer {producer}: XADD failed: {reply}");
            }
            (text(&reply), i)
        })
        .collect()
}

/// One loop of the scenario on a fresh stream: produce, consume, check the group's end state,
/// then check that every entry went to exactly one consumer and was acknowledged.
fn run_loop(addr: SocketAddr, round: usize, wait: Wait) {
    let key = format!("s{round}");
    let total = PRODUCERS * ENTRIES_PER_PRODUCER;
    let mut admin = open(addr);
    let created = call(
        &mut admin,
        &["XGROUP", "CREATE", &key, GROUP, "$", "MKSTREAM"],
    );
    assert_eq!(
        created,
        Reply::Simple(b"OK".to_vec()),
        "XGROUP CREATE {key}"
    );
    let baseline_blocked = blocked_clients(&mut admin);

    let stop = Arc::new(AtomicBool::new(false));
    let (delivered_tx, delivered_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let block_ms = match wait {
        Wait::Block1000 => "1000",
        Wait::Block0Prearmed => "0",
    };
    for c in 0..CONSUMERS {
        let (key, stop, delivered, done) = (
            key.clone(),
            stop.clone(),
            delivered_tx.clone(),
            done_tx.clone(),
        );
        thread::spawn(move || {
            let consumed = consume(addr, key, format!("c{c}"), block_ms, stop, delivered);
            let _ = done.send(consumed);
        });
        if wait == Wait::Block0Prearmed {
            wait_for_blocked(
                &mut admin,
                baseline_blocked + c + 1,
                &format!("loop {round}: consumer c{c} blocking before any XADD"),
            );
        }
    }
    drop(delivered_tx);
    drop(done_tx);

    let start = Arc::new(Barrier::new(PRODUCERS));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (key, start) = (key.clone(), start.clone());
            thread::spawn(move || produce(addr, key, p, start))
        })
        .collect();
    let mut produced: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (p, handle) in producers.into_iter().enumerate() {
        let ids = handle
            .join()
            .unwrap_or_else(|_| panic!("loop {round}: producer {p} panicked"));
        for (id, i) in ids {
            assert!(
                produced.insert(id.clone(), (p, i)).is_none(),
                "loop {round}: XADD * returned {id} twice"
            );
        }
    }
    assert_eq!(produced.len(), total, "loop {round}: produced IDs");

    // Wait until consumers report every entry delivered (and acknowledged).
    let deadline = Instant::now() + STUCK_AFTER;
    let mut seen = 0;
    while seen < total {
        let left = deadline.saturating_duration_since(Instant::now());
        match delivered_rx.recv_timeout(left) {
            Ok(n) => seen += n,
            Err(RecvTimeoutError::Timeout) => panic!(
                "loop {round}: only {seen} of {total} entries delivered after {STUCK_AFTER:?} \
                 (lost wake-up?); blocked_clients={}, XPENDING {:?}, XINFO GROUPS {}",
                blocked_clients(&mut admin),
                call(&mut admin, &["XPENDING", &key, GROUP]).to_string(),
                call(&mut admin, &["XINFO", "GROUPS", &key]),
            ),
            Err(RecvTimeoutError::Disconnected) => {
                // Every consumer stopped early; their problems are reported below.
                break;
            }
        }
    }

    // The group's state with everything delivered and acknowledged. Nothing runs but blocked
    // reads, so this is a stable snapshot.
    let consumed_so_far = seen;
    if consumed_so_far >= total {
        let pending = call(&mut admin, &["XPENDING", &key, GROUP]);
        assert_eq!(
            pending,
            Reply::Array(vec![
                Reply::Integer(0),
                Reply::NullBulk,
                Reply::NullBulk,
                Reply::NullArray
            ]),
            "loop {round}: XPENDING summary after acknowledging everything"
        );
        let groups = call(&mut admin, &["XINFO", "GROUPS", &key]);
        let Reply::Array(groups) = &groups else {
            panic!("loop {round}: XINFO GROUPS: {groups}");
        };
        assert_eq!(groups.len(), 1, "loop {round}: one group");
        let group = &groups[0];
        let last = produced.keys().max_by_key(|id| parse_id(id)).cloned();
        let last = last.unwrap_or_default();
        assert_eq!(
            field(group, "pending"),
            &Reply::Integer(0),
            "loop {round}: pending in {group}"
        );
        assert_eq!(
            field(group, "lag"),
            &Reply::Integer(0),
            "loop {round}: lag in {group}"
        );
        assert_eq!(
            field(group, "entries-read"),
            &Reply::Integer(total as i64),
            "loop {round}: entries-read in {group}"
        );
        assert_eq!(
            field(group, "last-delivered-id"),
            &bulk(&last),
            "loop {round}: last-delivered-id in {group}"
        );
        if wait == Wait::Block0Prearmed {
            // Each consumer read before the first XADD, so each exists.
            assert_eq!(
                field(group, "consumers"),
                &Reply::Integer(CONSUMERS as i64),
                "loop {round}: consumers in {group}"
            );
        }
        let len = call(&mut admin, &["XLEN", &key]);
        assert_eq!(len, Reply::Integer(total as i64), "loop {round}: XLEN");
    }

    // Release the consumers: destroying the group wakes blocked readers with NOGROUP.
    stop.store(true, Ordering::SeqCst);
    let destroyed = call(&mut admin, &["XGROUP", "DESTROY", &key, GROUP]);
    assert_eq!(destroyed, Reply::Integer(1), "loop {round}: XGROUP DESTROY");
    let mut consumers = Vec::new();
    let deadline = Instant::now() + STUCK_AFTER;
    while consumers.len() < CONSUMERS {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(consumed) => consumers.push(consumed),
            Err(_) => panic!(
                "loop {round}: {} of {CONSUMERS} consumers still blocked {STUCK_AFTER:?} after \
                 XGROUP DESTROY (lost wake-up); blocked_clients={}",
                CONSUMERS - consumers.len(),
                blocked_clients(&mut admin)
            ),
        }
    }
    call(&mut admin, &["DEL", &key]);

    // Every entry delivered to exactly one consumer, with its own fields, all acknowledged.
    let problems: Vec<&String> = consumers
        .iter()
        .filter_map(|c| c.problem.as_ref())
        .collect();
    assert!(
        problems.is_empty(),
        "loop {round}: consumer problems: {problems:?}"
    );
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for consumer in &consumers {
        let mut previous = None;
        for (id, fields) in &consumer.entries {
            if let Some(first) = owner.insert(id, &consumer.name) {
                panic!(
                    "loop {round}: entry {id} delivered to {first} and to {}",
                    consumer.name
                );
            }
            let Some((p, i)) = produced.get(id) else {
                panic!(
                    "loop {round}: {} got {id}, which no producer added",
                    consumer.name
                );
            };
            let expected = ["p".to_string(), p.to_string(), "n".into(), i.to_string()];
            assert_eq!(fields, &expected, "loop {round}: fields of {id}");
            // `>` hands out entries in ID order, so each consumer's share is increasing.
            let this = parse_id(id);
            assert!(
                previous < Some(this),
                "loop {round}: {} got {id} after a larger ID",
                consumer.name
            );
            previous = Some(this);
        }
    }
    let missing: BTreeSet<&String> = produced
        .keys()
        .filter(|id| !owner.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "loop {round}: {} entries never delivered: {missing:?}",
        missing.len()
    );
    let acked: i64 = consumers.iter().map(|c| c.acked).sum();
    assert_eq!(acked, total as i64, "loop {round}: entries acknowledged");
}

fn run_scenario(label: &str, wait: Wait) {
    let server = start();
    let loops = loops();
    let started = Instant::now();
    for round in 0..loops {
        run_loop(server.addr(), round, wait);
    }
    eprintln!(
        "group concurrency ({label}): {loops} loops x {PRODUCERS} producers x {CONSUMERS} \
         consumers x {} entries against {} in {:.1?}",
        PRODUCERS * ENTRIES_PER_PRODUCER,
        server.label(),
        started.elapsed()
    );
}

#[test]
fn producers_and_blocking_consumers_deliver_each_entry_exactly_once() {
    run_scenario("BLOCK 1000, started together", Wait::Block1000);
}

#[test]
fn consumers_blocked_before_any_xadd_are_all_woken() {
    run_scenario("BLOCK 0, consumers blocked first", Wait::Block0Prearmed);
}

/// Sends a blocking XREADGROUP on `conn` and waits until the server counts it as blocked.
fn block(conn: &mut Connection, admin: &mut Connection, consumer: &str, blocked_before: usize) {
    let read = [
        "XREADGROUP",
        "GROUP",
        GROUP,
        consumer,
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ];
    conn.send(&read)
        .unwrap_or_else(|e| panic!("{consumer}: send XREADGROUP: {e}"));
    wait_for_blocked(admin, blocked_before + 1, &format!("{consumer} blocking"));
}

/// The consumer that owns `id` according to `XPENDING s g - + 100`.
fn owner_of(admin: &mut Connection, id: &str) -> String {
    let pending = call(admin, &["XPENDING", "s", GROUP, "-", "+", "100"]);
    let Reply::Array(rows) = &pending else {
        panic!("XPENDING: {pending}");
    };
    let row = rows.iter().find_map(|row| match row {
        Reply::Array(cols) if cols.first().and_then(Reply::as_text) == Some(id.as_bytes()) => {
            cols.get(1).map(text)
        }
        _ => None,
    });
    row.unwrap_or_else(|| panic!("{id} is not pending: {pending}"))
}

#[test]
fn clients_blocked_on_the_same_group_are_served_in_blocking_order() {
    let server = start();
    let addr = server.addr();
    let mut admin = open(addr);
    let created = call(
        &mut admin,
        &["XGROUP", "CREATE", "s", GROUP, "$", "MKSTREAM"],
    );
    assert_eq!(created, Reply::Simple(b"OK".to_vec()));
    let mut conns: Vec<Connection> = (0..4).map(|_| open(addr)).collect();
    for conn in &mut conns {
        conn.set_read_timeout(Some(STUCK_AFTER))
            .unwrap_or_else(|e| panic!("set_read_timeout: {e}"));
    }
    let names = ["c1", "c2", "c3", "c4"];
    let mut serial = 0;
    // The same connections block in different orders: service follows the order of blocking,
    // not connection age, client id or consumer name.
    for order in [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]] {
        let base = blocked_clients(&mut admin);
        for (k, &c) in order.iter().enumerate() {
            block(&mut conns[c], &mut admin, names[c], base + k);
        }
        for (k, &c) in order.iter().enumerate() {
            serial += 1;
            let n = serial.to_string();
            let id = text(&call(&mut admin, &["XADD", "s", "*", "n", &n]));
            // Exactly one client is served per entry; the PEL says which.
            wait_for_blocked(
                &mut admin,
                base + order.len() - k - 1,
                &format!("serving {id}"),
            );
            assert_eq!(
                owner_of(&mut admin, &id),
                names[c],
                "entry {k} of round {order:?} must go to the client that blocked {k}th"
            );
            let reply = conns[c].read_reply().unwrap_or_else(|e| {
                panic!("{}: no reply after {id} was delivered to it: {e}", names[c])
            });
            assert_eq!(
                entries_of(&reply, "s"),
                vec![(id.clone(), vec!["n".to_string(), n])],
                "{} got the wrong entry",
                names[c]
            );
        }
    }
    let pending = call(&mut admin, &["XPENDING", "s", GROUP]);
    assert_eq!(field_at(&pending, 0), &Reply::Integer(serial as i64));
}

fn field_at(reply: &Reply, i: usize) -> &Reply {
    match reply {
        Reply::Array(items) if i < items.len() => &items[i],
        _ => panic!("no element {i} in {reply}"),
    }
}
