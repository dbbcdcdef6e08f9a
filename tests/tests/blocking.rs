//! Blocking reads over TCP: timeouts, wake-ups, MULTI, disconnects, and the Redis 7.4 rules
//! for what releases a blocked XREADGROUP (7.0 differs, so these are direct tests).

use std::time::{Duration, Instant};

use rill_tests::client::Connection;
use rill_tests::reply::Reply;

fn server() -> rill_server::RunningServer {
    rill_tests::rill::in_process()
}

fn connect(rill: &rill_server::RunningServer) -> Connection {
    Connection::open(rill.addr()).unwrap_or_else(|e| panic!("connect: {e}"))
}

fn words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

fn call(c: &mut Connection, line: &str) -> Reply {
    c.call(&words(line))
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn send(c: &mut Connection, line: &str) {
    c.send(&words(line))
        .unwrap_or_else(|e| panic!("{line}: {e}"));
}

fn reply(c: &mut Connection) -> Reply {
    c.read_reply()
        .unwrap_or_else(|e| panic!("reading a blocked reply: {e}"))
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Simple(b) | Reply::Error(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        Reply::Verbatim { text, .. } => String::from_utf8_lossy(text).into_owned(),
        other => format!("{other:?}"),
    }
}

fn info_field(c: &mut Connection, section: &str, field: &str) -> String {
    let info = text(&call(c, &format!("INFO {section}")));
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// Waits until `n` clients are blocked, so a test never races its own setup.
fn wait_blocked(c: &mut Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(c, "clients", "blocked_clients") != n.to_string() {
        assert!(Instant::now() < deadline, "expected {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn served(key: &str, id: &str, field: &str, value: &str) -> Reply {
    Reply::Array(vec![Reply::Array(vec![
        bulk(key),
        Reply::Array(vec![Reply::Array(vec![
            bulk(id),
            Reply::Array(vec![bulk(field), bulk(value)]),
        ])]),
    ])])
}

#[test]
fn timeouts_answer_null_in_both_protocols() {
    let rill = server();
    let mut c = connect(&rill);
    let started = Instant::now();
    assert_eq!(call(&mut c, "XREAD BLOCK 50 STREAMS s $"), Reply::NullArray);
    assert!(started.elapsed() >= Duration::from_millis(50));
    call(&mut c, "HELLO 3");
    assert_eq!(call(&mut c, "XREAD BLOCK 20 STREAMS s $"), Reply::Null);
    call(&mut c, "XGROUP CREATE s g $ MKSTREAM");
    assert_eq!(
        call(&mut c, "XREADGROUP GROUP g c BLOCK 20 STREAMS s >"),
        Reply::Null
    );
}

#[test]
fn block_zero_waits_for_a_write_on_any_of_its_keys() {
    let rill = server();
    let mut reader = connect(&rill);
    let mut writer = connect(&rill);
    send(&mut reader, "XREAD BLOCK 0 STREAMS a b $ $");
    wait_blocked(&mut writer, 1);
    call(&mut writer, "XADD b 5-1 f v");
    assert_eq!(reply(&mut reader), served("b", "5-1", "f", "v"));
    wait_blocked(&mut writer, 0);
}

#[test]
fn one_exec_of_several_writes_wakes_the_reader_once_with_all_of_them() {
    let rill = server();
    let mut reader = connect(&rill);
    let mut writer = connect(&rill);
    send(&mut reader, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut writer, 1);
    call(&mut writer, "MULTI");
    call(&mut writer, "XADD s 1-1 a 1");
    call(&mut writer, "XADD s 1-2 b 2");
    call(&mut writer, "EXEC");
    let got = reply(&mut reader);
    let Reply::Array(streams) = &got else {
        panic!("{got:?}")
    };
    let Reply::Array(pair) = &streams[0] else {
        panic!("{got:?}")
    };
    let Reply::Array(entries) = &pair[1] else {
        panic!("{got:?}")
    };
    assert_eq!(entries.len(), 2, "{got:?}");
}

#[test]
fn inside_multi_a_blocking_read_does_not_block() {
    let rill = server();
    let mut c = connect(&rill);
    call(&mut c, "MULTI");
    call(&mut c, "XREAD BLOCK 0 STREAMS s $");
    call(&mut c, "XGROUP CREATE s g $ MKSTREAM");
    call(&mut c, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >");
    assert_eq!(
        call(&mut c, "EXEC"),
        Reply::Array(vec![
            Reply::NullArray,
            Reply::Simple(b"OK".to_vec()),
            Reply::NullArray
        ])
    );
}

#[test]
fn clients_are_served_in_the_order_they_blocked() {
    let rill = server();
    let mut admin = connect(&rill);
    call(&mut admin, "XGROUP CREATE s g $ MKSTREAM");
    let mut readers: Vec<Connection> = (0..3).map(|_| connect(&rill)).collect();
    for (i, r) in readers.iter_mut().enumerate() {
        send(
            r,
            &format!("XREADGROUP GROUP g c{i} COUNT 1 BLOCK 0 STREAMS s >"),
        );
        wait_blocked(&mut admin, i + 1);
    }
    for (i, r) in readers.iter_mut().enumerate() {
        let id = format!("1-{i}");
        call(&mut admin, &format!("XADD s {id} n {i}"));
        assert_eq!(reply(r), served("s", &id, "n", &i.to_string()));
    }
}

#[test]
fn a_client_that_hangs_up_while_blocked_is_cleaned_up() {
    let rill = server();
    let mut admin = connect(&rill);
    {
        let mut gone = connect(&rill);
        send(&mut gone, "XREAD BLOCK 0 STREAMS s $");
        wait_blocked(&mut admin, 1);
    }
    wait_blocked(&mut admin, 0);
    assert_eq!(info_field(&mut admin, "clients", "connected_clients"), "1");
}

/// Blocks `XREADGROUP GROUP g c BLOCK 0 STREAMS s >` on a stream with group g, runs `trigger`
/// on another connection, and returns what the blocked client got.
fn release_with(trigger: &[&str]) -> Reply {
    let rill = server();
    let mut admin = connect(&rill);
    call(&mut admin, "XGROUP CREATE s g $ MKSTREAM");
    let mut reader = connect(&rill);
    send(&mut reader, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >");
    wait_blocked(&mut admin, 1);
    for line in trigger {
        call(&mut admin, line);
    }
    let got = reply(&mut reader);
    wait_blocked(&mut admin, 0);
    got
}

const NOGROUP: &str =
    "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn xreadgroup_is_released_with_nogroup_when_the_stream_goes() {
    for trigger in [
        &["DEL s"][..],
        &["FLUSHDB"],
        &["FLUSHALL"],
        &["XGROUP DESTROY s g"],
        &["SWAPDB 0 1"],
    ] {
        assert_eq!(
            release_with(trigger),
            Reply::Error(NOGROUP.as_bytes().to_vec()),
            "{trigger:?}"
        );
    }
}

/// The server's expiry cycle releases a reader whose stream expires, at once rather than at
/// its own timeout (Valkey 8.1 does the same; Redis 7.0 answered UNBLOCKED).
#[test]
fn xreadgroup_is_released_with_nogroup_when_the_stream_expires() {
    let rill = server();
    let mut admin = connect(&rill);
    call(&mut admin, "XGROUP CREATE s g $ MKSTREAM");
    let mut reader = connect(&rill);
    let started = Instant::now();
    send(&mut reader, "XREADGROUP GROUP g c BLOCK 20000 STREAMS s >");
    wait_blocked(&mut admin, 1);
    call(&mut admin, "PEXPIRE s 50");
    assert_eq!(
        reply(&mut reader),
        Reply::Error(NOGROUP.as_bytes().to_vec())
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    wait_blocked(&mut admin, 0);
}

#[test]
fn xreadgroup_is_released_with_wrongtype_when_the_key_changes_type() {
    assert_eq!(
        release_with(&["SET s x"]),
        Reply::Error(WRONGTYPE.as_bytes().to_vec())
    );
    assert_eq!(
        release_with(&["SELECT 1", "SET s x", "SWAPDB 0 1"]),
        Reply::Error(WRONGTYPE.as_bytes().to_vec())
    );
}

#[test]
fn xreadgroup_after_rename_is_served_when_the_new_stream_has_the_group() {
    let got = release_with(&[
        "XADD other 9-1 f v",
        "XGROUP CREATE other g 0",
        "RENAME other s",
    ]);
    assert_eq!(got, served("s", "9-1", "f", "v"));
    let got = release_with(&["XADD other 9-1 f v", "RENAME other s"]);
    assert_eq!(got, Reply::Error(NOGROUP.as_bytes().to_vec()));
}

#[test]
fn a_released_client_counts_as_a_failed_call_and_in_errorstats() {
    let rill = server();
    let mut admin = connect(&rill);
    call(&mut admin, "XGROUP CREATE s g $ MKSTREAM");
    let mut reader = connect(&rill);
    send(&mut reader, "XREADGROUP GROUP g c BLOCK 0 STREAMS s >");
    wait_blocked(&mut admin, 1);
    call(&mut admin, "DEL s");
    assert!(reply(&mut reader).is_error());
    let stats = info_field(&mut admin, "commandstats", "cmdstat_xreadgroup");
    assert!(stats.contains("failed_calls=1"), "{stats}");
    assert_eq!(
        info_field(&mut admin, "errorstats", "errorstat_NOGROUP"),
        "count=1"
    );
}

#[test]
fn plain_xread_stays_blocked_across_del_and_set_and_is_served_by_a_new_stream() {
    let rill = server();
    let mut admin = connect(&rill);
    call(&mut admin, "XADD s 5-1 f v");
    let mut reader = connect(&rill);
    send(&mut reader, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut admin, 1);
    call(&mut admin, "DEL s");
    call(&mut admin, "SET s x");
    call(&mut admin, "DEL s");
    // Still blocked: nothing after 5-1 exists.
    wait_blocked(&mut admin, 1);
    call(&mut admin, "XADD s 3-1 old v");
    wait_blocked(&mut admin, 1);
    call(&mut admin, "XADD s 9-1 new v");
    let got = reply(&mut reader);
    let Reply::Array(streams) = &got else {
        panic!("{got:?}")
    };
    assert!(got.to_string().contains("9-1"), "{got}");
    assert_eq!(streams.len(), 1);
}

#[test]
fn history_reads_do_not_count_as_writes_unless_they_create_a_consumer() {
    let rill = server();
    let mut c = connect(&rill);
    call(&mut c, "XADD s 1-1 f v");
    call(&mut c, "XGROUP CREATE s g 0");
    call(&mut c, "XREADGROUP GROUP g c STREAMS s >");
    let before = info_field(&mut c, "persistence", "rdb_changes_since_last_save");
    for _ in 0..3 {
        call(&mut c, "XREADGROUP GROUP g c STREAMS s 0");
    }
    let after = info_field(&mut c, "persistence", "rdb_changes_since_last_save");
    assert_eq!(before, after);
    // A history read by a consumer the group does not know creates it: that is a change.
    call(&mut c, "XREADGROUP GROUP g newcomer STREAMS s 0");
    let created = info_field(&mut c, "persistence", "rdb_changes_since_last_save");
    assert_eq!(
        created.parse::<u64>().unwrap_or(0),
        after.parse::<u64>().unwrap_or(0) + 1
    );
    // ...but they do count as deliveries.
    let pending = call(&mut c, "XPENDING s g - + 10");
    let Reply::Array(rows) = &pending else {
        panic!("{pending}")
    };
    let Reply::Array(row) = &rows[0] else {
        panic!("{pending}")
    };
    assert_eq!(row[3], Reply::Integer(4), "{pending}");
}

#[test]
fn consumers_report_seen_and_active_times_as_in_7_2() {
    let rill = server();
    let mut c = connect(&rill);
    call(&mut c, "XADD s 1-1 f v");
    call(&mut c, "XGROUP CREATE s g 0");
    call(&mut c, "XGROUP CREATECONSUMER s g idle");
    call(&mut c, "XREADGROUP GROUP g busy STREAMS s >");
    let consumers = call(&mut c, "XINFO CONSUMERS s g");
    let Reply::Array(list) = &consumers else {
        panic!("{consumers:?}")
    };
    // busy: [name, busy, pending, 1, idle, n, inactive, n]; idle: inactive is -1.
    let fields = |r: &Reply| match r {
        Reply::Array(f) => f.clone(),
        other => panic!("{other:?}"),
    };
    let busy = fields(&list[0]);
    let never = fields(&list[1]);
    assert_eq!(busy[1], bulk("busy"));
    assert_eq!(busy[6], bulk("inactive"));
    assert!(matches!(busy[7], Reply::Integer(n) if n >= 0));
    assert_eq!(never[1], bulk("idle"));
    assert_eq!(never[7], Reply::Integer(-1));
    let full = call(&mut c, "XINFO STREAM s FULL").to_string();
    assert!(full.contains("active-time"), "{full}");
}

/// The id CLIENT ID gives `c`.
fn client_id(c: &mut Connection) -> String {
    match call(c, "CLIENT ID") {
        Reply::Integer(id) => id.to_string(),
        other => panic!("CLIENT ID answered {other:?}"),
    }
}

/// CLIENT UNBLOCK on a server at `addr`: what the unblocked clients and the caller saw, in
/// order, for blocked list pops and stream reads (RESP2 and RESP3), the ERROR reason, clients
/// that are not blocked, and bad arguments.
fn unblock_transcript(addr: std::net::SocketAddr) -> Vec<Reply> {
    let open = || Connection::open(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let (mut blocked, mut admin) = (open(), open());
    let id = client_id(&mut blocked);
    let mut seen = Vec::new();
    call(&mut admin, "XGROUP CREATE s g $ MKSTREAM");
    for (read, how) in [
        ("BLPOP l 0", ""),
        ("XREAD BLOCK 0 STREAMS s $", " ERROR"),
        ("XREADGROUP GROUP g c BLOCK 0 STREAMS s >", " timeout"),
        ("BLMOVE l m LEFT RIGHT 0", " error"),
    ] {
        send(&mut blocked, read);
        wait_blocked(&mut admin, 1);
        // CLIENT LIST shows the blocked client with flag b.
        let list = text(&call(&mut admin, "CLIENT LIST"));
        let flags = list
            .lines()
            .find(|l| l.starts_with(&format!("id={id} ")))
            .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("flags=")))
            .map(|f| Reply::Bulk(f.as_bytes().to_vec()));
        seen.push(flags.unwrap_or(Reply::Null));
        seen.push(call(&mut admin, &format!("CLIENT UNBLOCK {id}{how}")));
        seen.push(reply(&mut blocked));
        wait_blocked(&mut admin, 0);
    }
    // The unblocked client works on, and a later write is not taken by its old read.
    seen.push(call(&mut blocked, "PING"));
    call(&mut admin, "RPUSH l x");
    seen.push(call(&mut admin, "LRANGE l 0 -1"));
    call(&mut blocked, "HELLO 3");
    send(&mut blocked, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut admin, 1);
    seen.push(call(&mut admin, &format!("CLIENT UNBLOCK {id} TIMEOUT")));
    seen.push(reply(&mut blocked));
    for line in [
        format!("CLIENT UNBLOCK {id}"),
        format!("CLIENT UNBLOCK {}", client_id(&mut admin)),
        "CLIENT UNBLOCK 999999".to_string(),
        "CLIENT UNBLOCK -1".to_string(),
        "CLIENT UNBLOCK x".to_string(),
        "CLIENT UNBLOCK x later".to_string(),
        format!("CLIENT UNBLOCK {id} ERROR now"),
        "CLIENT UNBLOCK".to_string(),
    ] {
        seen.push(call(&mut admin, &line));
    }
    seen
}

#[test]
fn client_unblock_answers_a_blocked_read_as_redis_does() {
    let rill = server();
    let ours = unblock_transcript(rill.addr());
    let error = |text: &str| Reply::Error(text.as_bytes().to_vec());
    let unblocked = error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    let b = bulk("b");
    assert_eq!(
        ours[..12],
        [
            b.clone(),
            Reply::Integer(1),
            Reply::NullArray,
            b.clone(),
            Reply::Integer(1),
            unblocked.clone(),
            b.clone(),
            Reply::Integer(1),
            Reply::NullArray,
            b,
            Reply::Integer(1),
            unblocked,
        ],
        "flags b while blocked, then what each unblock answered"
    );
    assert_eq!(ours[13], Reply::Array(vec![bulk("x")]));
    assert_eq!(ours[15], Reply::Null, "RESP3 answers a timeout with null");
    assert_eq!(
        ours[16..20],
        [const { Reply::Integer(0) }; 4],
        "not blocked"
    );
    assert_eq!(
        ours[20],
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(
        ours[21],
        error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    if let Some(redis) = rill_tests::oracle::RedisServer::start() {
        assert_eq!(ours, unblock_transcript(redis.addr()), "Rill, then Redis");
    }
}
