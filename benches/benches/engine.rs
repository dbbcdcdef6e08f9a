//! Criterion benches for the embedded engine: the cost of one command through
//! `Session::execute`, with no sockets and no RESP framing in the way.
//!
//! Run with `cargo bench -p rill-benches --bench engine`; see `benches/README.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use rill_engine::{Engine, Reply, Session};

/// Entries in the stream the XRANGE benches read from.
const XRANGE_STREAM_LEN: u64 = 100_000;

/// The XADD benches delete their stream once it holds this many entries (outside the timed
/// region), so a long run measures appends to a stream of realistic size instead of filling RAM.
const XADD_STREAM_CAP: u64 = 100_000;

/// Where the five-field XADD and `compare.py` agree: five fields of 60-byte values.
const FIVE_FIELDS: [(&str, &str); 5] = [
    ("user", "user:7f3a9c2e-1b4d-4e8f-a6c5-0d9e8b7a6f5e:acct:-"),
    ("event", "event:checkout.completed:web:region=eu-west-1:ab"),
    ("page", "https://shop.example.com/cart/checkout/confirm?="),
    (
        "session",
        "sess:5c0ffee0-dead-4bee-f00d-0123456789ab:seq:00",
    ),
    ("agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 b:"),
];

fn args(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

/// Runs a command that must succeed (set-up and clean-up, not measured).
fn run(session: &mut Session, parts: &[&str]) -> Reply {
    let reply = session.execute(&args(parts));
    assert!(
        !matches!(reply, Reply::Error(_)),
        "{parts:?} failed: {reply:?}"
    );
    reply
}

/// Checks that an XRANGE answered what the bench claims to measure.
fn assert_ten_entries(reply: Reply) {
    match reply {
        Reply::Entries(entries) => assert_eq!(entries.len(), 10, "XRANGE ... COUNT 10"),
        other => panic!("XRANGE answered {other:?}"),
    }
}

/// Times `iters` XADDs built by `command(i)`, deleting the stream (untimed) whenever it
/// reaches `XADD_STREAM_CAP` entries.
fn timed_xadds(
    session: &mut Session,
    iters: u64,
    mut command: impl FnMut(u64) -> Vec<Bytes>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let chunk = (iters - done).min(XADD_STREAM_CAP);
        let commands: Vec<Vec<Bytes>> = (done..done + chunk).map(&mut command).collect();
        let started = Instant::now();
        for cmd in &commands {
            black_box(session.execute(black_box(cmd)));
        }
        total += started.elapsed();
        // Every XADD must have added an entry: a bench of error replies measures nothing.
        assert_eq!(run(session, &["XLEN", "s"]), Reply::Integer(chunk as i64));
        run(session, &["DEL", "s"]);
        done += chunk;
    }
    total
}

/// A short configuration: these benches are a regression check, not a paper.
fn quick(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .throughput(Throughput::Elements(1));
}

fn xadd(c: &mut Criterion) {
    let mut group = c.benchmark_group("xadd");
    quick(&mut group);

    group.bench_function("f_v_auto_id", |b| {
        let engine = Engine::new();
        let mut session = engine.session();
        let cmd = args(&["XADD", "s", "*", "f", "v"]);
        b.iter_custom(|iters| timed_xadds(&mut session, iters, |_| cmd.clone()));
    });

    group.bench_function("five_fields_60b_auto_id", |b| {
        let engine = Engine::new();
        let mut session = engine.session();
        // Values differ per entry (a 12-digit counter ends each one), as in compare.py.
        b.iter_custom(|iters| {
            timed_xadds(&mut session, iters, |i| {
                let mut cmd = args(&["XADD", "s", "*"]);
                for (name, prefix) in FIVE_FIELDS {
                    cmd.push(Bytes::from_static(name.as_bytes()));
                    cmd.push(Bytes::from(format!("{prefix}{i:012}")));
                }
                cmd
            })
        });
    });

    // The same JSON events, sealed nodes packed and plain: what packing costs an append.
    for (label, compression) in [("json_event_packed", "lz4"), ("json_event_plain", "no")] {
        group.bench_function(label, |b| {
            let engine = Engine::new();
            let mut session = engine.session();
            run(
                &mut session,
                &["CONFIG", "SET", "rill-stream-compression", compression],
            );
            b.iter_custom(|iters| {
                timed_xadds(&mut session, iters, |i| {
                    args(&["XADD", "s", "*", "data", &json_event(i)])
                })
            });
        });
    }

    group.finish();
}

/// A ~250-byte JSON event with random IDs and numbers (a counter-seeded xorshift, so every
/// run reads the same bytes): what applications and the rill client write, and what
/// `compare.py` measures memory with.
fn json_event(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const TYPES: [&str; 4] = ["order.created", "order.paid", "cart.updated", "page.viewed"];
    format!(
        concat!(
            r#"{{"event_id":"{:016x}{:016x}","type":"{}","ts":{},"user_id":{},"#,
            r#""session":"{:016x}","amount":{}.{:02},"currency":"EUR","items":{},"#,
            r#""country":"DE","device":"mobile","source":"campaign-{}","latency_ms":{}}}"#
        ),
        next(),
        next(),
        TYPES[(next() % 4) as usize],
        1_733_000_000_000 + i * 7,
        next() % 10_000_000,
        next(),
        next() % 5000,
        next() % 100,
        1 + next() % 19,
        next() % 1000,
        1 + next() % 2000,
    )
}

/// XRANGE ... COUNT 10 on a 100,000-entry stream of `f v` entries or of JSON events, its
/// sealed nodes packed (`rill-stream-compression lz4`, the default) or plain (`no`): reading
/// from the start (the same nodes every time) and from 1,024 points scattered over the stream
/// (a different node each time: every read of a packed stream unpacks one).
fn xrange(c: &mut Criterion) {
    for (payload, compression) in [("fv", "lz4"), ("fv", "no"), ("json", "lz4"), ("json", "no")] {
        let name = format!(
            "xrange_count_10_of_100k/{payload}_{}",
            if compression == "no" {
                "plain"
            } else {
                "packed"
            }
        );
        let mut group = c.benchmark_group(name);
        quick(&mut group);
        xrange_group(&mut group, payload, compression);
        group.finish();
    }
}

fn xrange_group(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    payload: &str,
    compression: &str,
) {
    let engine = Engine::new();
    let mut session = engine.session();
    run(
        &mut session,
        &["CONFIG", "SET", "rill-stream-compression", compression],
    );
    // Explicit IDs 1-0 .. 100000-0, so the benches can seek to known places.
    for ms in 1..=XRANGE_STREAM_LEN {
        let id = format!("{ms}-0");
        match payload {
            "json" => run(&mut session, &["XADD", "s", &id, "data", &json_event(ms)]),
            _ => run(&mut session, &["XADD", "s", &id, "f", "v"]),
        };
    }
    assert_eq!(
        run(&mut session, &["XLEN", "s"]),
        Reply::Integer(XRANGE_STREAM_LEN as i64)
    );

    group.bench_function("from_start", |b| {
        let cmd = args(&["XRANGE", "s", "-", "+", "COUNT", "10"]);
        assert_ten_entries(session.execute(&cmd));
        b.iter(|| black_box(session.execute(black_box(&cmd))));
    });

    // Starting points spread over the whole stream: the cost of finding the first entry.
    let starts: Vec<Vec<Bytes>> = (0..1024u64)
        .map(|k| {
            let ms = 1 + k * (XRANGE_STREAM_LEN - 10) / 1024;
            args(&["XRANGE", "s", &ms.to_string(), "+", "COUNT", "10"])
        })
        .collect();
    for cmd in &starts {
        assert_ten_entries(session.execute(cmd));
    }
    group.bench_function("from_scattered_ids", |b| {
        let mut next = 0;
        b.iter(|| {
            next = (next + 1) % starts.len();
            black_box(session.execute(black_box(&starts[next])))
        });
    });
}

/// `XRANGE s <id> + COUNT 10` from 1,024 starting points spread over `session`'s stream of
/// `n` entries (the IDs [`filled`] gave).
fn scattered_reads(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: u64,
    session: &mut Session,
) {
    let starts: Vec<Vec<Bytes>> = (0..1024u64)
        .map(|k| {
            let ms = 1 + k * (n - 10) / 1024;
            args(&["XRANGE", "s", &format!("{ms}-0"), "+", "COUNT", "10"])
        })
        .collect();
    assert_ten_entries(session.execute(&starts[0]));
    // The starts are the stream's own entries (not trimmed away: each read begins there).
    let last = (1 + 1023 * (n - 10) / 1024).to_string() + "-0";
    match session.execute(&args(&["XRANGE", "s", &last, &last])) {
        Reply::Entries(entries) => assert_eq!(entries.len(), 1, "entry {last} is in the stream"),
        other => panic!("XRANGE answered {other:?}"),
    }
    group.bench_function(name, |b| {
        let mut next = 0;
        b.iter(|| {
            next = (next + 1) % starts.len();
            black_box(session.execute(black_box(&starts[next])))
        });
    });
}

/// Stream sizes the size benches compare: the cost of an append, a read or an
/// acknowledgement should not depend on how much the stream or the PEL already holds.
const SIZES: [(&str, u64); 3] = [("1k", 1_000), ("1m", 1_000_000), ("10m", 10_000_000)];

/// Fills `s` with `n` entries `f v`, IDs `1-0` .. `n-0` (explicit, so reads can seek).
fn filled(n: u64, compression: &str) -> (Engine, Session) {
    let engine = Engine::new();
    let mut session = engine.session();
    run(
        &mut session,
        &["CONFIG", "SET", "rill-stream-compression", compression],
    );
    let mut cmd = args(&["XADD", "s", "", "f", "v"]);
    for ms in 1..=n {
        cmd[2] = Bytes::from(format!("{ms}-0"));
        session.execute(&cmd);
    }
    assert_eq!(run(&mut session, &["XLEN", "s"]), Reply::Integer(n as i64));
    (engine, session)
}

/// XADD and XRANGE COUNT 10 on streams of 1k, 1M and 10M entries (sealed nodes packed, the
/// default; the reads also of plain nodes); XREADGROUP COUNT 10 + XACK of what it read with 1k and 1M other entries
/// pending in the group. Each appended chunk is trimmed back off (untimed), so the stream
/// keeps its size.
fn size(c: &mut Criterion) {
    let mut group = c.benchmark_group("size");
    quick(&mut group);
    for (label, n) in SIZES {
        // The reads first: the XADD bench below replaces the stream's entries (it trims back
        // to `n` after each chunk it appends), after which every "scattered" start would lie
        // before the stream's first entry and read its head.
        let (engine, mut session) = filled(n, "lz4");
        let name = format!("xrange_count_10_scattered/{label}");
        scattered_reads(&mut group, &name, n, &mut session);
        group.bench_function(format!("xadd_f_v/{label}"), |b| {
            let cmd = args(&["XADD", "s", "*", "f", "v"]);
            let keep = n.to_string();
            let trim = args(&["XTRIM", "s", "MAXLEN", "=", &keep]);
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let chunk = (iters - done).min(n).min(10_000);
                    let started = Instant::now();
                    for _ in 0..chunk {
                        black_box(session.execute(black_box(&cmd)));
                    }
                    total += started.elapsed();
                    session.execute(&trim);
                    done += chunk;
                }
                total
            });
        });
        drop((session, engine));
        // The same reads of plain nodes: what the memory hierarchy alone makes of the sizes
        // (a 1k stream's nodes stay in the CPU's caches; a 1M one's do not).
        let (_engine, mut session) = filled(n, "no");
        let name = format!("xrange_count_10_scattered_plain/{label}");
        scattered_reads(&mut group, &name, n, &mut session);
    }
    for (label, pending) in &SIZES[..2] {
        group.bench_function(format!("xreadgroup_10_xack_10/pel_{label}"), |b| {
            let (_engine, mut session) = filled(pending + 100_000, "lz4");
            run(&mut session, &["XGROUP", "CREATE", "s", "g", "0"]);
            // Another consumer holds `pending` entries, never acknowledged.
            let count = pending.to_string();
            let read = ["XREADGROUP", "GROUP", "g", "holder", "COUNT", &count];
            run(&mut session, &[&read[..], &["STREAMS", "s", ">"]].concat());
            let read = args(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "COUNT",
                "10",
                "STREAMS",
                "s",
                ">",
            ]);
            let mut next_ms = pending + 100_001;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let reply = session.execute(black_box(&read));
                    let ids = read_ids(&reply);
                    let mut ack = args(&["XACK", "s", "g"]);
                    ack.extend(ids.iter().map(|id| id.to_bytes()));
                    black_box(session.execute(&ack));
                    total += started.elapsed();
                    if ids.len() < 10 {
                        // Out of new entries: 100,000 more (untimed).
                        let mut cmd = args(&["XADD", "s", "", "f", "v"]);
                        for _ in 0..100_000 {
                            cmd[2] = Bytes::from(format!("{next_ms}-0"));
                            session.execute(&cmd);
                            next_ms += 1;
                        }
                    }
                }
                total
            });
        });
    }
    group.finish();
}

/// The IDs of a one-stream XREADGROUP reply.
fn read_ids(reply: &Reply) -> Vec<rill_engine::StreamId> {
    let Reply::Array(streams) = reply else {
        return Vec::new();
    };
    match streams.first() {
        Some(Reply::Array(pair)) => match pair.get(1) {
            Some(Reply::Entries(list)) => list.iter().map(|e| e.id).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

criterion_group!(benches, xadd, xrange, size);
criterion_main!(benches);
