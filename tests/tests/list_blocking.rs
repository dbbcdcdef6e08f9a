//! Blocking list pops compared with Redis: the same scenarios (clients that block, others
//! that push, in a fixed order) run against redis-server and rill-server, and every reply
//! must be the same. FIFO service, wake-ups by the right type only, MULTI, WRONGTYPE on the
//! destination, timeouts and their errors. (An infinite timeout is left out: Redis 7.0 calls
//! it negative, newer Redis out of range, as Rill does.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rill_tests::client::Connection;
use rill_tests::oracle::RedisServer;
use rill_tests::reply::Reply;

fn connect(addr: SocketAddr) -> Connection {
    Connection::open(addr).unwrap_or_else(|e| panic!("connect: {e}"))
}

fn call(c: &mut Connection, line: &str) -> Reply {
    let words: Vec<&str> = line.split(' ').collect();
    c.call(&words).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn send(c: &mut Connection, line: &str) {
    let words: Vec<&str> = line.split(' ').collect();
    c.send(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
}

fn reply(c: &mut Connection) -> Reply {
    c.read_reply()
        .unwrap_or_else(|e| panic!("blocked reply: {e}"))
}

/// Waits until `n` clients are blocked, so that the order of blocking is the order sent.
fn wait_blocked(c: &mut Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Reply::Bulk(info) = call(c, "INFO clients") else {
            panic!("INFO");
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        if info.contains(&format!("blocked_clients:{n}\r\n")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} blocked clients: {info}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every reply a scenario saw, in order.
fn scenario(addr: SocketAddr) -> Vec<(String, Reply)> {
    let mut out = Vec::new();
    let mut c = connect(addr);
    let mut a = connect(addr);
    let mut b = connect(addr);
    let mut note = |what: &str, r: Reply| out.push((what.to_string(), r));

    // Errors and immediate answers.
    for line in [
        "BLPOP l -1",
        "BLPOP l x",
        "BLPOP l nan",
        "BLMOVE a b UP LEFT 0",
        "BLMPOP 0 0 a LEFT",
        "BLMPOP x 1 a LEFT",
        "BLMPOP 0 1 a LEFT COUNT 0",
        "SET str v",
        "BLPOP str 0",
        "BLPOP nosuch str 0",
        "BRPOPLPUSH str dst 0",
        "RPUSH l 1 2 3",
        "BLPOP nosuch l 0",
        "BRPOP l 0",
        "BLMOVE l dst RIGHT LEFT 0",
        "BLMPOP 0 2 nosuch dst LEFT COUNT 5",
        "RPUSH l 4 5",
        "BLMOVE l str LEFT LEFT 0",
        "LRANGE l 0 -1",
        "DEL l",
        "BLPOP l 0.01",
        "BLPOP l 0.05",
        "MULTI",
        "BLPOP empty 0",
        "BLMOVE empty dst LEFT LEFT 0",
        "BRPOPLPUSH empty dst 0",
        "BLMPOP 0 1 empty LEFT",
        "EXEC",
    ] {
        note(line, call(&mut c, line));
    }

    // FIFO: a blocks first, b second; one push of two elements serves both in that order.
    send(&mut a, "BLPOP q 0");
    wait_blocked(&mut c, 1);
    send(&mut b, "BLPOP other q 0");
    wait_blocked(&mut c, 2);
    note("RPUSH q x y", call(&mut c, "RPUSH q x y"));
    note("a", reply(&mut a));
    note("b", reply(&mut b));
    note("EXISTS q", call(&mut c, "EXISTS q"));

    // A push into the second key serves it; BRPOPLPUSH/BLMOVE/BLMPOP when served.
    send(&mut a, "BRPOPLPUSH src dst 0");
    wait_blocked(&mut c, 1);
    note("LPUSH src m n", call(&mut c, "LPUSH src m n"));
    note("a brpoplpush", reply(&mut a));
    send(&mut a, "BLMPOP 0 2 x1 x2 RIGHT COUNT 2");
    wait_blocked(&mut c, 1);
    note("RPUSH x2 1 2 3", call(&mut c, "RPUSH x2 1 2 3"));
    note("a blmpop", reply(&mut a));
    note("LRANGE dst", call(&mut c, "LRANGE dst 0 -1"));

    // The destination's type is checked when the element moves: WRONGTYPE, nothing moved.
    call(&mut c, "SET wrong v");
    send(&mut a, "BLMOVE from wrong LEFT LEFT 0");
    wait_blocked(&mut c, 1);
    note("RPUSH from e", call(&mut c, "RPUSH from e"));
    note("a blmove wrongtype", reply(&mut a));
    note("LLEN from", call(&mut c, "LLEN from"));

    // A stream write never serves a list pop, nor a list push a stream read. The blocks last
    // a second: long enough to still be waiting when the poller sees them on a loaded
    // machine, and so when the write comes.
    send(&mut a, "BLPOP k1 1");
    wait_blocked(&mut c, 1);
    call(&mut c, "XADD k1 * f v");
    note("a after XADD", reply(&mut a));
    send(&mut a, "XREAD BLOCK 1000 STREAMS k2 $");
    wait_blocked(&mut c, 1);
    call(&mut c, "LPUSH k2 v");
    note("a after LPUSH", reply(&mut a));

    // DEL and a push inside one transaction: the waiter sees the new list.
    send(&mut a, "BLPOP t 0");
    wait_blocked(&mut c, 1);
    for line in ["MULTI", "DEL t", "RPUSH t fresh", "EXEC"] {
        note(line, call(&mut c, line));
    }
    note("a after MULTI", reply(&mut a));
    note("EXISTS t", call(&mut c, "EXISTS t"));

    // Sorted sets: errors, immediate answers, no waiting inside MULTI.
    for line in [
        "BZPOPMIN z -1",
        "BZPOPMAX z x",
        "BZMPOP 0 0 z MIN",
        "BZMPOP 0 1 z LEFT",
        "BZMPOP 0 1 z MIN COUNT 0",
        "BZMPOP 0 5 z MIN",
        "BZPOPMIN str 0",
        "RPUSH l2 x",
        "BZPOPMIN l2 0",
        "ZADD z 1 a 2 b 3 c 1.5 d",
        "BZPOPMIN nosuch z 0",
        "BZPOPMAX z 0",
        "BZMPOP 0 2 nosuch z MAX COUNT 2",
        "ZADD z 9 e 8 f",
        "BZMPOP 0 1 z MIN COUNT 10",
        "EXISTS z",
        "BZPOPMIN z 0.01",
        "MULTI",
        "BZPOPMIN empty 0",
        "BZMPOP 0 1 empty MAX",
        "EXEC",
    ] {
        note(line, call(&mut c, line));
    }
    // FIFO across sorted-set waiters; a list push does not serve them, a ZADD does.
    send(&mut a, "BZPOPMIN zq 0");
    wait_blocked(&mut c, 1);
    send(&mut b, "BZMPOP 0 2 other zq MAX COUNT 5");
    wait_blocked(&mut c, 2);
    call(&mut c, "RPUSH other x");
    note("ZADD zq 5 p 6 q 7 r", call(&mut c, "ZADD zq 5 p 6 q 7 r"));
    note("a bzpopmin", reply(&mut a));
    note("b bzmpop", reply(&mut b));
    note("EXISTS zq", call(&mut c, "EXISTS zq"));
    // A second, as above.
    send(&mut a, "BLPOP zl 1");
    wait_blocked(&mut c, 1);
    call(&mut c, "ZADD zl 1 m");
    note("a after ZADD", reply(&mut a));
    out
}

#[test]
fn blocking_pops_match_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rill = rill_tests::rill::in_process();
    let expected = scenario(redis.addr());
    let got = scenario(rill.addr());
    for ((what, want), (_, have)) in expected.iter().zip(&got) {
        assert_eq!(have, want, "{what}");
    }
    assert_eq!(got.len(), expected.len());
}
