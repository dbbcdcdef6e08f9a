//! Per-client limits and controls, side by side with Redis where Redis answers the same way:
//! `client-output-buffer-limit` (hard and soft) and CLIENT PAUSE.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rill_tests::oracle::RedisServer;

fn rill() -> rill_server::RunningServer {
    rill_tests::rill::in_process()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s
}

/// Sends an inline command and reads its (short) reply.
fn call(s: &mut TcpStream, line: &str) -> String {
    s.write_all(format!("{line}\r\n").as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A stream of 500 entries of 200 bytes: `XRANGE s - +` answers about 110 KB.
fn fill(addr: SocketAddr) {
    let mut c = connect(addr);
    let value = "x".repeat(200);
    let mut pipeline = String::new();
    for i in 1..=500 {
        pipeline.push_str(&format!("XADD s {i}-1 f {value}\r\n"));
    }
    pipeline.push_str("QUIT\r\n");
    c.write_all(pipeline.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut sink = Vec::new();
    let _ = c.read_to_end(&mut sink);
}

/// Fills the stream (see [`fill`]), sets `client-output-buffer-limit` to `limit` and returns
/// the connection that did it.
fn filled_with_limit(addr: SocketAddr, limit: &str) -> TcpStream {
    fill(addr);
    let mut admin = connect(addr);
    let set = format!("CONFIG SET client-output-buffer-limit \"{limit}\"");
    assert_eq!(call(&mut admin, &set), "+OK\r\n", "{addr}");
    admin
}

/// Reads until the server closes (true) or stays silent for `quiet` (false).
fn drain(s: &mut TcpStream, quiet: Duration) -> (usize, bool) {
    s.set_read_timeout(Some(quiet)).ok();
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (total, true),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (total, true),
            Err(_) => return (total, false),
        }
    }
}

/// Runs `check` on a fresh Rill, then on a fresh Redis when one is installed: each behaviour
/// here is Redis's, so Redis must pass the same test.
fn on_each_server(check: impl Fn(&str, SocketAddr)) {
    let rill = rill();
    check("rill", rill.addr());
    if let Some(redis) = RedisServer::start() {
        check("redis", redis.addr());
    }
}

#[test]
fn a_reply_past_the_hard_output_limit_closes_the_client() {
    on_each_server(|name, addr| {
        let mut admin = filled_with_limit(addr, "normal 100kb 0 0");
        // Small replies pass.
        let mut c = connect(addr);
        assert!(
            call(&mut c, "XRANGE s - + COUNT 1").starts_with("*1\r\n"),
            "{name}"
        );
        c.write_all(b"XRANGE s - +\r\n")
            .unwrap_or_else(|e| panic!("write: {e}"));
        let (got, closed) = drain(&mut c, Duration::from_secs(3));
        assert!(closed, "{name}: a 110 KB reply passed a 100 KB hard limit");
        assert!(got < 100 * 1024, "{name}: {got} bytes arrived");
        // The limit is per client: the others go on.
        assert_eq!(call(&mut admin, "PING"), "+PONG\r\n", "{name}");
    });
}

#[test]
fn output_above_the_soft_limit_for_its_seconds_closes_the_client() {
    on_each_server(|name, addr| {
        let mut admin = filled_with_limit(addr, "normal 0 100kb 1");
        // 200 pipelined reads of 110 KB each, and the client does not read for 3 s. (Rill
        // runs a pipeline in batches of about 64 KB of replies, so its pending output
        // passes 100 KB only because each reply does.)
        let mut c = connect(addr);
        c.write_all(&b"XRANGE s - +\r\n".repeat(200))
            .unwrap_or_else(|e| panic!("write: {e}"));
        std::thread::sleep(Duration::from_secs(3));
        let (got, closed) = drain(&mut c, Duration::from_secs(3));
        assert!(closed, "{name}: the soft limit never closed the client");
        assert!(
            got < 200 * 110 * 1024,
            "{name}: every reply arrived ({got} bytes)"
        );
        assert_eq!(call(&mut admin, "PING"), "+PONG\r\n", "{name}");
    });
}

/// A subscriber that does not read is closed once its messages stay above the `pubsub`
/// class's soft limit for longer than its seconds, even with no hard limit: the publisher
/// then reaches no one, and the server does not grow with the pile.
#[test]
fn a_subscriber_above_the_pubsub_soft_limit_for_its_seconds_is_closed() {
    on_each_server(|name, addr| {
        let mut admin = connect(addr);
        let set = "CONFIG SET client-output-buffer-limit \"pubsub 0 256kb 1\"";
        assert_eq!(call(&mut admin, set), "+OK\r\n", "{name}");
        let mut subscriber = connect(addr);
        assert!(
            call(&mut subscriber, "SUBSCRIBE ch").contains("subscribe"),
            "{name}"
        );
        let message = "x".repeat(256 * 1024);
        let started = Instant::now();
        let mut reached = String::new();
        // About 20 MB over 4 s (more than the kernel's socket buffers take); the subscriber
        // reads nothing.
        let publish = format!(
            "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n${}\r\n{message}\r\n",
            message.len()
        );
        while started.elapsed() < Duration::from_secs(4) {
            admin
                .write_all(publish.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: write: {e}"));
            let mut buf = [0u8; 64];
            let n = admin.read(&mut buf).unwrap_or(0);
            reached = String::from_utf8_lossy(&buf[..n]).into_owned();
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(reached, ":0\r\n", "{name}: the subscriber was still there");
        let (_, closed) = drain(&mut subscriber, Duration::from_secs(3));
        assert!(closed, "{name}: the subscriber's connection was not closed");
    });
}

#[test]
fn client_pause_holds_writes_or_everything_until_it_ends() {
    on_each_server(|name, addr| {
        let mut a = connect(addr);
        let mut b = connect(addr);
        // Pauses are timed from before CLIENT PAUSE is sent: the server's pause starts
        // later, so a held command cannot answer earlier than that plus the pause (less a
        // margin for servers that count whole milliseconds).
        let margin = Duration::from_millis(20);
        let paused = Instant::now();
        assert_eq!(call(&mut a, "CLIENT PAUSE 3000 WRITE"), "+OK\r\n", "{name}");
        // Reads go on: answered within half the pause, which a held read could not be, with
        // more than a second to spare for a loaded machine.
        assert_eq!(call(&mut b, "GET k"), "$-1\r\n", "{name}");
        assert!(
            paused.elapsed() < Duration::from_millis(1500),
            "{name}: GET answered {:?} into a 3 s write pause",
            paused.elapsed()
        );
        // A write waits for the end of the pause.
        assert_eq!(call(&mut b, "SET k v"), "+OK\r\n", "{name}");
        assert!(
            paused.elapsed() >= Duration::from_millis(3000) - margin,
            "{name}: SET ran {:?} into a 3 s write pause",
            paused.elapsed()
        );
        // PUBLISH and SPUBLISH, which Redis propagates, are held as writes are.
        for publish in ["PUBLISH c x", "SPUBLISH c x"] {
            let paused = Instant::now();
            assert_eq!(call(&mut a, "CLIENT PAUSE 300 WRITE"), "+OK\r\n", "{name}");
            assert_eq!(call(&mut b, publish), ":0\r\n", "{name}");
            assert!(
                paused.elapsed() >= Duration::from_millis(300) - margin,
                "{name}: {publish} ran {:?} into a 300 ms write pause",
                paused.elapsed()
            );
        }
        // ALL holds reads too; UNPAUSE (itself held under ALL in Redis) is not needed: the
        // pause ends on time.
        let paused = Instant::now();
        assert_eq!(call(&mut a, "CLIENT PAUSE 500 ALL"), "+OK\r\n", "{name}");
        assert_eq!(call(&mut b, "GET k"), "$1\r\nv\r\n", "{name}");
        assert!(
            paused.elapsed() >= Duration::from_millis(500) - margin,
            "{name}: GET ran {:?} into a 500 ms pause of everything",
            paused.elapsed()
        );
        // UNPAUSE ends a write pause at once.
        assert_eq!(
            call(&mut a, "CLIENT PAUSE 100000 WRITE"),
            "+OK\r\n",
            "{name}"
        );
        let mut writer = connect(addr);
        writer
            .write_all(b"SET k w\r\n")
            .unwrap_or_else(|e| panic!("write: {e}"));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(call(&mut a, "CLIENT UNPAUSE"), "+OK\r\n", "{name}");
        let mut buf = [0u8; 16];
        let n = writer.read(&mut buf).unwrap_or(0);
        assert_eq!(&buf[..n], b"+OK\r\n", "{name}");
        // A pause freezes the dataset: an expired key reads as missing but is not removed
        // until the pause ends. Its time is long enough that the cron (every 100 ms) cannot
        // remove it before the pause starts, and the pause long enough to see it expire.
        assert_eq!(call(&mut b, "SET e v PX 300"), "+OK\r\n", "{name}");
        assert_eq!(call(&mut a, "CLIENT PAUSE 1500 WRITE"), "+OK\r\n", "{name}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while call(&mut b, "GET e") != "$-1\r\n" {
            assert!(Instant::now() < deadline, "{name}: e never expired");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            call(&mut b, "DBSIZE"),
            ":2\r\n",
            "{name}: expired key removed in a pause"
        );
        // Removed once the pause ends (by the cron, within a deadline).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let size = call(&mut b, "DBSIZE");
            if size == ":1\r\n" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: DBSIZE {size} after the pause"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Argument errors as Redis words them.
        assert_eq!(
            call(&mut a, "CLIENT PAUSE x"),
            "-ERR timeout is not an integer or out of range\r\n",
            "{name}"
        );
        assert_eq!(
            call(&mut a, "CLIENT PAUSE 10 SOME"),
            "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n",
            "{name}"
        );
    });
}

/// A client may write a whole pipeline before it reads a single reply, as redis-py's
/// pipelines do: the server must keep reading while the replies it cannot deliver yet wait,
/// or each side waits on the other once the kernel's buffers are full (30 MB each way here).
#[test]
fn a_pipeline_written_whole_before_any_read_is_answered() {
    on_each_server(|name, addr| {
        const REQUESTS: usize = 30_000;
        let payload = "p".repeat(1000);
        let mut pipeline = Vec::with_capacity(REQUESTS * 1030);
        for _ in 0..REQUESTS {
            pipeline.extend_from_slice(
                format!("*2\r\n$4\r\nECHO\r\n$1000\r\n{payload}\r\n").as_bytes(),
            );
        }
        pipeline.extend_from_slice(b"PING\r\n");
        let mut c = connect(addr);
        c.set_write_timeout(Some(Duration::from_secs(20))).ok();
        let started = Instant::now();
        c.write_all(&pipeline)
            .unwrap_or_else(|e| panic!("{name}: the server stopped reading the pipeline: {e}"));
        let expected = REQUESTS * format!("$1000\r\n{payload}\r\n").len() + b"+PONG\r\n".len();
        let mut replies = Vec::with_capacity(expected);
        let mut buf = vec![0u8; 64 * 1024];
        while replies.len() < expected {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => replies.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(replies.len(), expected, "{name}: replies cut short");
        assert!(replies.ends_with(b"+PONG\r\n"), "{name}");
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
    });
}
