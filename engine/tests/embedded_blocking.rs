//! The embedded engine's blocking reads as futures, driven by a bare executor to show that
//! no particular async runtime is needed.

mod common;
use common::{args, line};

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rill_engine::{Bytes, Engine, Reply, Request, Session};

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls a future on this thread, parking between wake-ups.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(200));
    }
}

#[test]
fn a_blocked_read_times_out_with_null() {
    let engine = Engine::new();
    let mut s = engine.session();
    let started = Instant::now();
    let reply = block_on(s.execute_async(&args("XREAD BLOCK 100 STREAMS s $")));
    assert_eq!(reply, Reply::NullArray);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn a_write_from_another_thread_wakes_the_reader() {
    let engine = Engine::new();
    let reader_engine = engine.clone();
    let reader = std::thread::spawn(move || {
        let mut s = reader_engine.session();
        block_on(s.execute_async(&args("XREAD BLOCK 0 STREAMS s $")))
    });
    // Wait until the reader is really blocked, then write.
    let mut probe = engine.session();
    while !String::from_utf8_lossy(&info_clients(&mut probe)).contains("blocked_clients:1") {
        std::thread::sleep(Duration::from_millis(5));
    }
    line(&mut probe, "XADD s 7-1 f v");
    let got = reader.join().unwrap_or(Reply::Null);
    assert_eq!(
        got,
        Reply::Array(vec![Reply::Array(vec![
            Reply::text("s"),
            Reply::Array(vec![Reply::Array(vec![
                Reply::text("7-1"),
                Reply::Array(vec![Reply::text("f"), Reply::text("v")]),
            ])]),
        ])])
    );
}

#[test]
fn a_blocked_group_reader_is_released_with_nogroup_when_the_key_goes() {
    let engine = Engine::new();
    let mut admin = engine.session();
    line(&mut admin, "XGROUP CREATE s g $ MKSTREAM");
    let reader_engine = engine.clone();
    let reader = std::thread::spawn(move || {
        let mut s = reader_engine.session();
        block_on(s.execute_async(&args("XREADGROUP GROUP g c BLOCK 0 STREAMS s >")))
    });
    while !String::from_utf8_lossy(&info_clients(&mut admin)).contains("blocked_clients:1") {
        std::thread::sleep(Duration::from_millis(5));
    }
    line(&mut admin, "DEL s");
    let got = reader.join().unwrap_or(Reply::Null);
    assert_eq!(
        got,
        Reply::error(
            "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option"
        )
    );
}

/// A stream that expires releases its blocked group readers at once, as deleting it does
/// (Redis 7.2 and Valkey 8.1 answer the re-run read's NOGROUP), whether a lookup finds it
/// expired (also one run while another database is selected) or the active cycle removes
/// it; before, they waited for their own timeout.
#[test]
fn a_blocked_group_reader_is_released_when_its_stream_expires() {
    for removed_by in [
        "a lookup",
        "a lookup from another database",
        "the active cycle",
    ] {
        let engine = Engine::new();
        let mut admin = engine.session();
        line(&mut admin, "XGROUP CREATE s g $ MKSTREAM");
        line(&mut admin, "PEXPIRE s 150");
        let reader_engine = engine.clone();
        let reader = std::thread::spawn(move || {
            let mut s = reader_engine.session();
            let read = args("XREADGROUP GROUP g c BLOCK 20000 STREAMS s >");
            let started = Instant::now();
            (block_on(s.execute_async(&read)), started.elapsed())
        });
        while !String::from_utf8_lossy(&info_clients(&mut admin)).contains("blocked_clients:1") {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300));
        if removed_by == "a lookup" {
            assert_eq!(line(&mut admin, "EXISTS s"), Reply::Integer(0));
        } else if removed_by == "a lookup from another database" {
            // The command ends in database 1; the stream expired in database 0.
            for step in ["SELECT 1", "MULTI", "SELECT 0", "EXISTS s", "SELECT 1"] {
                line(&mut admin, step);
            }
            let replies = Reply::Array(vec![Reply::ok(), Reply::Integer(0), Reply::ok()]);
            assert_eq!(line(&mut admin, "EXEC"), replies);
        } else {
            assert_eq!(engine.active_expire_cycle(), 1);
        }
        let (got, waited) = reader.join().unwrap_or((Reply::Null, Duration::MAX));
        assert_eq!(
            got,
            Reply::error(
                "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option"
            ),
            "removed by {removed_by}"
        );
        assert!(
            waited < Duration::from_secs(10),
            "removed by {removed_by}: {waited:?}"
        );
    }
}

#[test]
fn a_dropped_future_gives_its_block_up() {
    let engine = Engine::new();
    let mut s = engine.session();
    {
        let words = args("XREAD BLOCK 0 STREAMS s $");
        let fut = s.execute_async(&words);
        let mut fut = std::pin::pin!(fut);
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    let mut probe = engine.session();
    assert!(String::from_utf8_lossy(&info_clients(&mut probe)).contains("blocked_clients:0"));
}

fn info_clients(s: &mut Session) -> Vec<u8> {
    match line(s, "INFO clients") {
        Reply::Bulk(b) | Reply::Verbatim(b) => b.to_vec(),
        other => panic!("INFO clients: {other:?}"),
    }
}

/// The synchronous `execute` waits like a client would: a BLPOP holds the thread until a
/// write on another session serves it, and the popped element reaches it (before, it
/// answered nil at once and the element later vanished into an abandoned block).
#[test]
fn execute_waits_for_a_blocking_command_to_be_served() {
    let engine = Engine::new();
    let popper_engine = engine.clone();
    let popper = std::thread::spawn(move || {
        let mut s = popper_engine.session();
        line(&mut s, "BLPOP jobs 0")
    });
    let mut writer = engine.session();
    // Push only once the popper waits, so the element must travel through its block.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&info_clients(&mut writer)).contains("blocked_clients:1") {
        assert!(Instant::now() < deadline, "the popper never blocked");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(line(&mut writer, "RPUSH jobs a"), Reply::Integer(1));
    let popped = popper.join().expect("popper");
    assert_eq!(
        popped,
        Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"jobs")),
            Reply::Bulk(Bytes::from_static(b"a"))
        ])
    );
    assert_eq!(line(&mut writer, "LLEN jobs"), Reply::Integer(0));
    // With a timeout, execute answers the timeout's nil after waiting it out.
    let started = Instant::now();
    assert_eq!(line(&mut writer, "BLPOP jobs 0.05"), Reply::NullArray);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

/// A trusted session (the process owning the engine) runs commands under `requirepass`;
/// an ordinary one is asked to authenticate.
#[test]
fn trusted_sessions_skip_requirepass() {
    let engine = Engine::new();
    line(&mut engine.session(), "CONFIG SET requirepass sesame");
    let mut plain = engine.session();
    assert!(matches!(line(&mut plain, "PING"), Reply::Error(e) if e.starts_with("NOAUTH")));
    let mut trusted = engine.trusted_session();
    assert_eq!(line(&mut trusted, "PING"), Reply::Simple("PONG".into()));
}

/// A pipeline reads the clock once per command (each one's end starts the next), yet times
/// each command alone: a read that blocked waited, and its wait is neither its own time nor
/// the next command's.
#[test]
fn a_pipeline_times_each_command_alone() {
    let engine = Engine::new();
    let mut s = engine.session();
    line(&mut s, "CONFIG SET slowlog-log-slower-than 50000");
    let pipeline = [
        args("XREAD BLOCK 100 STREAMS s $"),
        args("PING"),
        args("INCR n"),
        args("INCR n"),
    ];
    let started = Instant::now();
    let replies = s.execute_all(pipeline.iter().map(|a| Request::Text(a)));
    assert!(started.elapsed() >= Duration::from_millis(100));
    let replies: Vec<Reply> = replies.into_iter().map(Reply::into_tree).collect();
    assert_eq!(replies[0], Reply::NullArray);
    assert_eq!(replies[3], Reply::Integer(2));
    assert_eq!(line(&mut s, "SLOWLOG LEN"), Reply::Integer(0));
    let stats = match line(&mut s, "INFO commandstats") {
        Reply::Bulk(text) | Reply::Verbatim(text) => text,
        other => panic!("INFO replies text, not {other:?}"),
    };
    let stats = String::from_utf8_lossy(&stats);
    for expected in [
        "cmdstat_ping:calls=1,",
        "cmdstat_incr:calls=2,",
        "cmdstat_xread:calls=1,",
    ] {
        assert!(stats.contains(expected), "{expected} in {stats}");
    }
}

/// Time spent between the commands of a pipeline, here by the caller's own iterator before
/// it yields the second one, ages neither that command's clock nor its statistics: a key
/// set to live 150 ms is there right after, and nothing lands in the slow log.
#[test]
fn a_slow_pipeline_iterator_ages_no_command() {
    let engine = Engine::new();
    let mut s = engine.session();
    line(&mut s, "CONFIG SET slowlog-log-slower-than 50000");
    let lines = [args("PING"), args("SET k v PX 150"), args("GET k")];
    let slow = lines.iter().enumerate().map(|(n, line)| {
        if n == 1 {
            std::thread::sleep(Duration::from_millis(200));
        }
        Request::Text(line)
    });
    let replies: Vec<Reply> = s
        .execute_all(slow)
        .into_iter()
        .map(Reply::into_tree)
        .collect();
    assert_eq!(replies[2], Reply::Bulk(Bytes::from_static(b"v")));
    assert_eq!(line(&mut s, "SLOWLOG LEN"), Reply::Integer(0));
}
