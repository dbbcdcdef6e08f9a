//! The patterns people run on Redis Streams, driven through the `redis` crate (a real client)
//! against Rill and against redis-server: competing consumers, reclaim of a crashed worker's
//! entries after an idle time with rising delivery counts, a dead-letter stream after N
//! deliveries, and the health view (XINFO, XPENDING). Both servers must tell the same story.

use std::time::Duration;

use redis::{Connection, Value};
use rill_tests::oracle::RedisServer;

fn open(addr: std::net::SocketAddr) -> Connection {
    redis::Client::open(format!("redis://{addr}/"))
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

fn q(con: &mut Connection, words: &[&str]) -> Value {
    let mut cmd = redis::cmd(words[0]);
    for w in &words[1..] {
        cmd.arg(*w);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{}: {e}", words.join(" ")))
}

fn ids_of(read: &Value) -> Vec<String> {
    // XREADGROUP reply: [[stream, [[id, fields], ...]]] (RESP2).
    let mut out = Vec::new();
    if let Value::Array(streams) = read {
        for s in streams {
            if let Value::Array(pair) = s {
                if let Some(Value::Array(entries)) = pair.get(1) {
                    for e in entries {
                        if let Value::Array(parts) = e {
                            if let Some(Value::BulkString(id)) = parts.first() {
                                out.push(String::from_utf8_lossy(id).into_owned());
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Pending entries as (id, consumer, deliveries), idle time left out (it is the clock's).
fn pending(con: &mut Connection) -> Vec<(String, String, i64)> {
    let Value::Array(rows) = q(con, &["XPENDING", "jobs", "workers", "-", "+", "100"]) else {
        panic!("XPENDING")
    };
    rows.iter()
        .filter_map(|r| match r {
            Value::Array(f) => match (&f[0], &f[1], &f[3]) {
                (Value::BulkString(id), Value::BulkString(c), Value::Int(n)) => Some((
                    String::from_utf8_lossy(id).into_owned(),
                    String::from_utf8_lossy(c).into_owned(),
                    *n,
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Runs the whole story and returns everything observable that does not depend on the clock.
fn story(con: &mut Connection) -> Vec<String> {
    let mut log = Vec::new();
    q(con, &["FLUSHALL"]);
    for n in 1..=10 {
        let id = format!("1-{n}");
        let job = format!("job-{n}");
        q(con, &["XADD", "jobs", &id, "job", &job]);
    }
    q(con, &["XGROUP", "CREATE", "jobs", "workers", "0"]);

    // Competing consumers: each entry goes to exactly one worker.
    let mut seen = Vec::new();
    for worker in ["w1", "w2", "w3"] {
        let read = q(
            con,
            &[
                "XREADGROUP",
                "GROUP",
                "workers",
                worker,
                "COUNT",
                "4",
                "STREAMS",
                "jobs",
                ">",
            ],
        );
        let ids = ids_of(&read);
        log.push(format!("{worker} got {ids:?}"));
        seen.extend(ids);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "every job delivered once: {seen:?}");
    assert_eq!(seen.len(), 10);

    // w1 finishes its work; w2 crashes with its four jobs pending.
    for id in ["1-1", "1-2", "1-3", "1-4"] {
        q(con, &["XACK", "jobs", "workers", id]);
    }
    log.push(format!("after w1 acked: {:?}", pending(con)));

    // Reclaim after an idle time: w3 takes over what has been idle for 50 ms.
    std::thread::sleep(Duration::from_millis(120));
    let claimed = q(
        con,
        &[
            "XAUTOCLAIM",
            "jobs",
            "workers",
            "w3",
            "50",
            "0",
            "COUNT",
            "10",
            "JUSTID",
        ],
    );
    log.push(format!("autoclaim: {claimed:?}"));
    // JUSTID leaves delivery counts alone; two more failed attempts make them rise.
    for _ in 0..2 {
        q(
            con,
            &[
                "XCLAIM", "jobs", "workers", "w3", "0", "1-5", "1-6", "1-7", "1-8",
            ],
        );
    }
    let rows = pending(con);
    log.push(format!("after retries: {rows:?}"));

    // Dead letter: jobs delivered 3 times or more move to jobs:dead with their history.
    for (id, consumer, deliveries) in rows.iter().filter(|r| r.2 >= 3) {
        let read = q(con, &["XRANGE", "jobs", id, id]);
        let body = format!("{read:?}");
        let count = deliveries.to_string();
        q(
            con,
            &[
                "XADD",
                "jobs:dead",
                "*",
                "stream",
                "jobs",
                "id",
                id,
                "group",
                "workers",
                "consumer",
                consumer,
                "deliveries",
                &count,
                "entry",
                &body,
            ],
        );
        q(con, &["XACK", "jobs", "workers", id]);
    }
    log.push(format!(
        "dead letters: {:?}",
        q(con, &["XLEN", "jobs:dead"])
    ));
    log.push(format!("left pending: {:?}", pending(con)));

    // Health: groups, pending summary, stream length.
    log.push(format!(
        "groups: {:?}",
        q(con, &["XINFO", "GROUPS", "jobs"])
    ));
    log.push(format!(
        "summary: {:?}",
        q(con, &["XPENDING", "jobs", "workers"])
    ));
    log.push(format!("length: {:?}", q(con, &["XLEN", "jobs"])));
    log
}

#[test]
fn worker_pool_reclaim_and_dead_letter_tell_the_same_story_on_both_servers() {
    let rill = rill_tests::rill::in_process();
    let rill_story = story(&mut open(rill.addr()));
    // What Rill did is what a user expects, whatever Redis says:
    assert!(
        rill_story.iter().any(|l| l == "dead letters: int(4)"),
        "{rill_story:#?}"
    );
    assert!(
        rill_story.iter().any(|l| l == "after retries: [(\"1-5\", \"w3\", 3), (\"1-6\", \"w3\", 3), (\"1-7\", \"w3\", 3), (\"1-8\", \"w3\", 3), (\"1-9\", \"w3\", 1), (\"1-10\", \"w3\", 1)]"),
        "{rill_story:#?}"
    );
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let redis_story = story(&mut open(redis.addr()));
    assert_eq!(rill_story, redis_story);
}
