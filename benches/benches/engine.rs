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

criterion_group!(benches, xadd, xrange);
criterion_main!(benches);
