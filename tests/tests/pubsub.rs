//! Pub/sub against Redis, byte for byte: the same scripts (several connections, each command
//! followed by everything every connection received) run on redis-server and on Rill.
//! Messages arrive asynchronously, so after each command the test reads until the
//! connections fall quiet instead of reading one reply per command.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rill_tests::oracle::RedisServer;

/// One step: which connection (by letter) sends which command.
type Step = (char, &'static str);

fn encode(line: &str) -> Vec<u8> {
    let parts: Vec<&str> = line.split(' ').collect();
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for p in parts {
        out.extend(format!("${}\r\n{p}\r\n", p.len()).into_bytes());
    }
    out
}

/// Everything waiting on `c`, read until it stays quiet for a moment.
fn drain(c: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// What each step made every connection receive, in order.
fn run(addr: SocketAddr, script: &[Step]) -> Vec<String> {
    let mut conns: Vec<(char, TcpStream)> = Vec::new();
    let mut seen = Vec::new();
    for &(who, line) in script {
        if !conns.iter().any(|(w, _)| *w == who) {
            let c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
            let _ = c.set_read_timeout(Some(Duration::from_millis(60)));
            conns.push((who, c));
        }
        if let Some((_, c)) = conns.iter_mut().find(|(w, _)| *w == who) {
            c.write_all(&encode(line))
                .unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let mut got = format!("{who}> {line}\n");
        for (w, c) in conns.iter_mut() {
            let bytes = drain(c);
            if !bytes.is_empty() {
                got.push_str(&format!(
                    "  {w}: {}\n",
                    String::from_utf8_lossy(&bytes).escape_debug()
                ));
            }
        }
        seen.push(got);
    }
    seen
}

fn compare(script: &[Step]) {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rill = rill_tests::rill::in_process();
    let want = run(redis.addr(), script);
    let got = run(rill.addr(), script);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w);
    }
    assert_eq!(got.len(), want.len());
}

#[test]
fn subscriber_mode_confirmations_and_refusals_match_redis() {
    compare(&[
        ('a', "SUBSCRIBE a b"),
        ('a', "GET x"),
        ('a', "PING"),
        ('a', "PING hi"),
        ('a', "PUBLISH a x"),
        ('a', "UNSUBSCRIBE a"),
        ('a', "UNSUBSCRIBE b"),
        ('a', "UNSUBSCRIBE"),
        ('a', "PSUBSCRIBE p*"),
        ('a', "PUNSUBSCRIBE"),
        ('a', "PUNSUBSCRIBE"),
        ('a', "SSUBSCRIBE s1"),
        ('a', "SUNSUBSCRIBE"),
        ('a', "SUNSUBSCRIBE"),
        ('a', "GET x"),
        ('b', "SUBSCRIBE"),
        ('b', "PSUBSCRIBE"),
        ('b', "MULTI"),
        ('b', "SUBSCRIBE m n"),
        ('b', "EXEC"),
        ('b', "PING"),
        ('b', "RESET"),
        ('b', "GET x"),
    ]);
}

#[test]
fn messages_reach_channels_patterns_and_shard_channels_as_in_redis() {
    compare(&[
        ('a', "SUBSCRIBE news"),
        ('a', "SUBSCRIBE news"),
        ('a', "PSUBSCRIBE n* x?z"),
        ('b', "PSUBSCRIBE *s"),
        ('c', "PUBLISH news hello"),
        ('c', "PUBLISH nope x"),
        ('c', "PUBLISH xyz y"),
        ('c', "PUBLISH other z"),
        ('c', "SPUBLISH news sharded"),
        ('d', "SSUBSCRIBE news"),
        ('c', "SPUBLISH news sharded"),
        ('c', "PUBSUB NUMSUB news nope"),
        ('c', "PUBSUB NUMPAT"),
        ('c', "PUBSUB CHANNELS"),
        ('c', "PUBSUB CHANNELS x*"),
        ('c', "PUBSUB SHARDCHANNELS"),
        ('c', "PUBSUB SHARDNUMSUB news x"),
        ('c', "PUBSUB NUMSUB"),
        ('c', "PUBSUB CHANNELS a b"),
        ('c', "PUBSUB FOO"),
        ('c', "PUBSUB HELP"),
        ('a', "RESET"),
        ('c', "PUBLISH news after-reset"),
        ('b', "QUIT"),
        ('c', "PUBLISH news after-quit"),
        ('c', "PUBSUB NUMPAT"),
    ]);
}

#[test]
fn resp3_subscribers_get_pushes_and_run_any_command() {
    // HELLO's own reply differs (server version, client ID): it is sent alone and not compared.
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let rill = rill_tests::rill::in_process();
    let script: &[Step] = &[
        ('a', "SUBSCRIBE a"),
        ('a', "GET x"),
        ('a', "SET x 1"),
        ('a', "PING"),
        ('a', "PUBLISH a self"),
        ('b', "PUBLISH a other"),
        ('a', "UNSUBSCRIBE a b"),
        ('a', "PING"),
    ];
    let resp3 = |addr: SocketAddr| {
        let mut c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
        let _ = c.set_read_timeout(Some(Duration::from_millis(60)));
        c.write_all(&encode("HELLO 3"))
            .unwrap_or_else(|e| panic!("{e}"));
        drain(&mut c);
        let mut b = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
        let _ = b.set_read_timeout(Some(Duration::from_millis(60)));
        let mut out = Vec::new();
        for &(who, line) in script {
            let conn = if who == 'a' { &mut c } else { &mut b };
            conn.write_all(&encode(line))
                .unwrap_or_else(|e| panic!("{e}"));
            out.push((line, drain(&mut c), drain(&mut b)));
        }
        out
    };
    let want = resp3(redis.addr());
    let got = resp3(rill.addr());
    assert_eq!(got, want);
}

#[test]
fn keyspace_notifications_match_redis() {
    compare(&[
        ('c', "CONFIG SET notify-keyspace-events KEAnm"),
        ('c', "CONFIG GET notify-keyspace-events"),
        ('s', "PSUBSCRIBE __key*__:*"),
        // Strings and generic commands.
        ('c', "SET k v"),
        ('c', "SET k v2 EX 100"),
        ('c', "APPEND k x"),
        ('c', "APPEND fresh x"),
        ('c', "INCR n"),
        ('c', "INCRBYFLOAT n 1.5"),
        ('c', "SETRANGE k 0 z"),
        ('c', "GETDEL fresh"),
        ('c', "EXPIRE k 100"),
        ('c', "PERSIST k"),
        ('c', "EXPIRE k 0"),
        ('c', "MSET a 1 b 2"),
        ('c', "RENAME a a2"),
        ('c', "COPY a2 a3"),
        ('c', "MOVE a3 1"),
        ('c', "DEL a2 b nosuch"),
        ('c', "GET nosuch"),
        // Lists, hashes, sets.
        ('c', "RPUSH l a b c"),
        ('c', "LPUSH l z"),
        ('c', "LPOP l"),
        ('c', "LSET l 0 q"),
        ('c', "LINSERT l BEFORE q p"),
        ('c', "LREM l 1 p"),
        ('c', "LMOVE l l2 RIGHT LEFT"),
        ('c', "LTRIM l 5 9"),
        ('c', "HSET h f v"),
        ('c', "HINCRBY h n 2"),
        ('c', "HINCRBYFLOAT h n 0.5"),
        ('c', "HDEL h f n"),
        ('c', "SADD s a b"),
        ('c', "SREM s a"),
        ('c', "SMOVE s s2 b"),
        ('c', "SADD s x y"),
        ('c', "SINTERSTORE s3 s s2"),
        ('c', "SUNIONSTORE s3 s s2"),
        // Sorted sets.
        ('c', "ZADD z 1 a 2 b 3 c"),
        ('c', "ZADD z INCR 5 a"),
        ('c', "ZINCRBY z 1 b"),
        ('c', "ZREM z c"),
        ('c', "ZPOPMIN z"),
        ('c', "ZUNIONSTORE z2 1 z"),
        ('c', "ZRANGESTORE z3 z 0 -1"),
        ('c', "ZREMRANGEBYSCORE z -inf +inf"),
        // Streams.
        ('c', "XADD st MAXLEN 1 1-1 f v"),
        ('c', "XADD st MAXLEN 1 2-1 f v"),
        ('c', "XGROUP CREATE st g 0"),
        ('c', "XGROUP CREATECONSUMER st g alice"),
        ('c', "XREADGROUP GROUP g bob COUNT 1 STREAMS st >"),
        ('c', "XCLAIM st g carol 0 2-1"),
        ('c', "XGROUP DELCONSUMER st g alice"),
        ('c', "XGROUP SETID st g 0"),
        ('c', "XDEL st 2-1"),
        ('c', "XTRIM st MAXLEN 0"),
        ('c', "XSETID st 5-0"),
        ('c', "XGROUP DESTROY st g"),
        ('c', "XGROUP CREATE st2 g $ MKSTREAM"),
        ('c', "CONFIG SET notify-keyspace-events Kq"),
        ('c', "CONFIG SET notify-keyspace-events Et"),
        ('c', "XADD st 6-1 f v"),
        ('c', "SET k other"),
        ('c', "CONFIG SET notify-keyspace-events \"\""),
        ('c', "XADD st 7-1 f v"),
    ]);
}
