//! A server that changes under a running consumer. rill-server (with XREADGROUP ... CLAIM and
//! XNACK) is replaced on its address by Redis 7.0 (without them) loading its data, as in a
//! migration or a failover to an older node: the consumer, which learned that the newer
//! commands work, finds them refused, falls back to the Redis 7.0 path and goes on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rill::consumer::Shutdown;
use rill::testing::TestServer;
use rill::{Client, GroupStart};
use rill_tests::client::Connection;
use rill_tests::oracle::RedisServer;
use rill_tests::reply::Reply;

mod common;
use common::{bounded, quick};

/// Polls `done` every 10 ms for up to 30 s (a failure guard, not a timing assertion).
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SAVEs the server at `addr` in Redis 7.0's RDB version and says where the dump is.
fn save(addr: std::net::SocketAddr) -> PathBuf {
    let mut conn = Connection::open(addr).expect("connect");
    let version = ["CONFIG", "SET", "rdb-write-version", "10"];
    assert_eq!(
        conn.call(&version).expect("CONFIG SET"),
        Reply::Simple(b"OK".to_vec())
    );
    assert_eq!(
        conn.call(&["SAVE"]).expect("SAVE"),
        Reply::Simple(b"OK".to_vec())
    );
    let dir = match conn
        .call(&["CONFIG", "GET", "dir"])
        .expect("CONFIG GET dir")
    {
        Reply::Array(items) => match items.get(1) {
            Some(Reply::Bulk(dir)) => PathBuf::from(String::from_utf8_lossy(dir).into_owned()),
            other => panic!("CONFIG GET dir: {other:?}"),
        },
        other => panic!("CONFIG GET dir: {other:?}"),
    };
    dir.join("dump.rdb")
}

/// The (major, minor) version of the server at `addr` (INFO server).
fn redis_version(addr: std::net::SocketAddr) -> (u32, u32) {
    let mut conn = Connection::open(addr).expect("connect");
    let info = match conn.call(&["INFO", "server"]).expect("INFO") {
        Reply::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("INFO: {other:?}"),
    };
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .expect("redis_version");
    let mut parts = version.trim().split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn a_consumer_falls_back_when_an_older_server_takes_the_address() {
    // The server runs its own runtime: start it outside the test's.
    let rill = TestServer::start().expect("server");
    let addr = rill.addr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = runtime
        .block_on(Client::connect(&rill.url()))
        .expect("connect");
    let jobs = client.stream::<u32>("jobs");
    runtime.block_on(async {
        jobs.ensure_group("workers", GroupStart::Beginning)
            .await
            .expect("group");
        for n in 0..5 {
            jobs.add(&n).await.expect("add");
        }
    });

    // Reads that reclaim (CLAIM) are used from the first turn on rill-server.
    let shutdown = Shutdown::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let (seen, stop) = (seen.clone(), shutdown.clone());
        move |entry: rill::Entry<u32>| {
            let (seen, stop) = (seen.clone(), stop.clone());
            async move {
                let mut seen = seen.lock();
                seen.push(entry.value);
                if seen.len() == 10 {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        }
    };
    let options = quick().claim_idle(Some(Duration::from_millis(200)));
    let consumer = jobs.consumer("workers", "c", options);
    let run = runtime.spawn(bounded(consumer.run(handler, shutdown.clone())));
    wait_until("the first five on rill-server", || seen.lock().len() == 5);

    // Redis 7.0 takes the address with rill-server's data (its RDB, acknowledged group
    // included).
    let dump = save(addr);
    rill.stop();
    let Some(redis) = RedisServer::start_on(addr.port(), Some(&dump)) else {
        shutdown.trigger();
        let _ = runtime.block_on(run);
        return;
    };
    // The story needs a Redis without CLAIM (before 8.4), as Debian's 7.0 is.
    let version = redis_version(redis.addr());
    if version >= (8, 4) {
        eprintln!("redis-server {version:?} has XREADGROUP CLAIM: no fallback to show");
        shutdown.trigger();
        let _ = runtime.block_on(run);
        return;
    }
    runtime.block_on(async {
        for n in 5..10 {
            // The client reconnects on its own; the first tries may meet no server yet.
            let deadline = Instant::now() + Duration::from_secs(30);
            while let Err(e) = jobs.add(&n).await {
                assert!(Instant::now() < deadline, "add on Redis: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let summary = runtime
        .block_on(run)
        .expect("the consumer task")
        .expect("the consumer goes on against Redis 7.0");
    let mut all = seen.lock().clone();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<u32>>(), "each job once");
    assert_eq!(summary.metrics.processed, 10);
    assert_eq!(summary.metrics.failed, 0);
    // Everything was acknowledged on Redis too.
    let mut conn = Connection::open(redis.addr()).expect("connect to Redis");
    match conn
        .call(&["XPENDING", "jobs", "workers"])
        .expect("XPENDING")
    {
        Reply::Array(items) => assert_eq!(items.first(), Some(&Reply::Integer(0))),
        other => panic!("XPENDING: {other:?}"),
    }
}
