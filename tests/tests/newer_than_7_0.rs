//! Behaviours where Rill follows Redis 7.2–7.4 rather than the 7.0 oracle, so they cannot be
//! differential: each is checked directly against the 7.4 reply (see cases/newer_than_7_0.md).

use rill_tests::client::Connection;
use rill_tests::reply::Reply;

fn server() -> rill_server::RunningServer {
    rill_tests::rill::in_process()
}

fn call(c: &mut Connection, line: &str) -> Reply {
    let args: Vec<&str> = line.split(' ').collect();
    c.call(&args).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn entry(id: &str, fields: &[&str]) -> Reply {
    Reply::Array(vec![
        bulk(id),
        Reply::Array(fields.iter().map(|f| bulk(f)).collect()),
    ])
}

fn error(text: &str) -> Reply {
    Reply::Error(text.as_bytes().to_vec())
}

#[test]
fn xread_plus_reads_the_last_live_entry() {
    let rill = server();
    let mut c = Connection::open(rill.addr()).unwrap_or_else(|e| panic!("connect: {e}"));
    call(&mut c, "XADD s 1-1 a 1");
    call(&mut c, "XADD s 1-2 b 2");
    let last = Reply::Array(vec![Reply::Array(vec![
        bulk("s"),
        Reply::Array(vec![entry("1-2", &["b", "2"])]),
    ])]);
    assert_eq!(call(&mut c, "XREAD STREAMS s +"), last);
    assert_eq!(call(&mut c, "XREAD COUNT 10 STREAMS s +"), last);
    call(&mut c, "XDEL s 1-2");
    assert_eq!(
        call(&mut c, "XREAD STREAMS s +"),
        Reply::Array(vec![Reply::Array(vec![
            bulk("s"),
            Reply::Array(vec![entry("1-1", &["a", "1"])]),
        ])])
    );
    assert_eq!(call(&mut c, "XREAD STREAMS nosuch +"), Reply::NullArray);
    call(&mut c, "XADD e MAXLEN 0 5-5 f v");
    assert_eq!(call(&mut c, "XREAD STREAMS e +"), Reply::NullArray);
    call(&mut c, "XADD t 9-9 x y");
    let both = Reply::Array(vec![
        Reply::Array(vec![
            bulk("s"),
            Reply::Array(vec![entry("1-1", &["a", "1"])]),
        ]),
        Reply::Array(vec![
            bulk("t"),
            Reply::Array(vec![entry("9-9", &["x", "y"])]),
        ]),
    ]);
    assert_eq!(call(&mut c, "XREAD STREAMS s t + +"), both);
    assert_eq!(call(&mut c, "XREAD STREAMS s t + 0"), both);
    // With BLOCK, `+` on a stream with entries answers at once.
    assert_eq!(
        call(&mut c, "XREAD BLOCK 0 STREAMS t +").type_name(),
        "array"
    );
    // RESP3: a map keyed by stream name.
    call(&mut c, "HELLO 3");
    assert_eq!(
        call(&mut c, "XREAD STREAMS t +"),
        Reply::Map(vec![(
            bulk("t"),
            Reply::Array(vec![entry("9-9", &["x", "y"])])
        )])
    );
}

#[test]
fn xread_unbalanced_streams_uses_the_7_4_text() {
    let rill = server();
    let mut c = Connection::open(rill.addr()).unwrap_or_else(|e| panic!("connect: {e}"));
    let text = "ERR Unbalanced 'xread' list of streams: for each stream key an ID, '+', or '$' must be specified.";
    for line in [
        "XREAD STREAMS s t 0",
        "XREAD STREAMS a b c 0 0",
        "XREAD COUNT 1 STREAMS s t 0",
    ] {
        assert_eq!(call(&mut c, line), error(text), "{line}");
    }
    assert_eq!(
        call(&mut c, "XREAD STREAMS s"),
        error("ERR wrong number of arguments for 'xread' command")
    );
}

#[test]
fn xsetid_below_max_deleted_id_is_refused() {
    let rill = server();
    let mut c = Connection::open(rill.addr()).unwrap_or_else(|e| panic!("connect: {e}"));
    for line in [
        "XADD s 1-1 a 1",
        "XADD s 2-1 a 2",
        "XADD s 3-1 a 3",
        "XDEL s 3-1",
    ] {
        call(&mut c, line);
    }
    let refused =
        error("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id");
    assert_eq!(call(&mut c, "XSETID s 2-5"), refused);
    assert_eq!(call(&mut c, "XSETID s 3-0"), refused);
    assert_eq!(call(&mut c, "XSETID s 3-1"), Reply::Simple(b"OK".to_vec()));
    assert_eq!(call(&mut c, "XSETID s 2-5 MAXDELETEDID 1-0"), refused);
    assert_eq!(
        call(&mut c, "XSETID s 5-0 MAXDELETEDID 1-0"),
        Reply::Simple(b"OK".to_vec())
    );
    // The recorded max-deleted-entry-id moved back to 1-0.
    let info = call(&mut c, "XINFO STREAM s");
    let Reply::Array(fields) = info else {
        panic!("XINFO STREAM: {info:?}")
    };
    let at = fields
        .iter()
        .position(|f| *f == bulk("max-deleted-entry-id"))
        .unwrap_or_else(|| panic!("no max-deleted-entry-id"));
    assert_eq!(fields[at + 1], bulk("1-0"));
}

/// HSCAN NOVALUES (Redis 7.4): the fields alone, in either encoding; HRANDFIELD's negative
/// counts are bounded so that a reply never exhausts memory (Redis 7.0 is killed by
/// `HRANDFIELD h -9223372036854775807`).
#[test]
fn hscan_novalues_and_bounded_hrandfield() {
    let rill = server();
    let mut c = Connection::open(rill.addr()).expect("connect");
    call(&mut c, "HSET h a 1 b 2 ab 3");
    assert_eq!(
        call(&mut c, "HSCAN h 0 NOVALUES"),
        Reply::Array(vec![
            bulk("0"),
            Reply::Array(vec![bulk("a"), bulk("b"), bulk("ab")])
        ])
    );
    assert_eq!(
        call(&mut c, "HSCAN h 0 MATCH *b NOVALUES COUNT 100"),
        Reply::Array(vec![bulk("0"), Reply::Array(vec![bulk("b"), bulk("ab")])])
    );
    for i in 0..300 {
        call(&mut c, &format!("HSET big f{i} v"));
    }
    let (mut cursor, mut seen) = ("0".to_string(), 0);
    loop {
        let Reply::Array(parts) = call(&mut c, &format!("HSCAN big {cursor} COUNT 7 NOVALUES"))
        else {
            panic!("HSCAN");
        };
        let (Reply::Bulk(next), Reply::Array(fields)) = (&parts[0], &parts[1]) else {
            panic!("HSCAN shape");
        };
        seen += fields.len();
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen, 300);
    assert_eq!(
        call(&mut c, "HRANDFIELD h -9223372036854775807"),
        error("ERR value is out of range")
    );
    let Reply::Array(picks) = call(&mut c, "HRANDFIELD h -1000") else {
        panic!("HRANDFIELD");
    };
    assert_eq!(picks.len(), 1000);
}

/// Lists are listpacks until `list-max-listpack-size` (8 KB by default), then quicklists, and
/// listpacks again once back under half of it (Redis 7.2; 7.0 says `quicklist` always).
#[test]
fn list_encodings_follow_redis_7_2() {
    let rill = server();
    let mut c = Connection::open(rill.addr()).expect("connect");
    call(&mut c, "RPUSH l a b c");
    assert_eq!(call(&mut c, "OBJECT ENCODING l"), bulk("listpack"));
    for i in 0..1000 {
        call(&mut c, &format!("RPUSH l element-{i}"));
    }
    assert_eq!(call(&mut c, "OBJECT ENCODING l"), bulk("quicklist"));
    call(&mut c, "LTRIM l 0 9");
    assert_eq!(call(&mut c, "OBJECT ENCODING l"), bulk("listpack"));
    call(&mut c, "CONFIG SET list-max-listpack-size 4");
    call(&mut c, "RPUSH small 1 2 3 4");
    assert_eq!(call(&mut c, "OBJECT ENCODING small"), bulk("listpack"));
    call(&mut c, "RPUSH small 5");
    assert_eq!(call(&mut c, "OBJECT ENCODING small"), bulk("quicklist"));
}

#[test]
fn zset_scores_print_as_redis_7_2_and_zrank_has_withscore() {
    // Redis 7.2 prints doubles in their shortest form (7.0: `%.17g`); the replies below are
    // Valkey 8.1's, which shares 7.2's printing.
    let rill = server();
    let mut c = Connection::open(rill.addr()).unwrap_or_else(|e| panic!("connect: {e}"));
    for (given, printed) in [
        ("0.1", "0.1"),
        ("1.1", "1.1"),
        ("1e17", "100000000000000000"),
        ("123456789012345678", "123456789012345680"),
        ("5e-324", "5e-324"),
        ("1e-5", "0.00001"),
        ("0.0009765625", "9.765625e-4"),
        ("1e-7", "1e-7"),
        ("1e21", "1e+21"),
        ("123456.7890123", "1.234567890123e+5"),
    ] {
        call(&mut c, &format!("ZADD z {given} m"));
        assert_eq!(call(&mut c, "ZSCORE z m"), bulk(printed), "{given}");
    }
    // -0: a listpack keeps the integer 0, a skiplist the sign; an increment answers what it
    // computed.
    call(&mut c, "ZADD small -0 m");
    assert_eq!(call(&mut c, "ZSCORE small m"), bulk("0"));
    assert_eq!(call(&mut c, "ZINCRBY fresh -0 m"), bulk("-0"));
    assert_eq!(call(&mut c, "ZSCORE fresh m"), bulk("0"));
    call(&mut c, "CONFIG SET zset-max-listpack-entries 0");
    call(&mut c, "ZADD big -0 m");
    assert_eq!(call(&mut c, "OBJECT ENCODING big"), bulk("skiplist"));
    assert_eq!(call(&mut c, "ZSCORE big m"), bulk("-0"));
    call(&mut c, "CONFIG SET zset-max-listpack-entries 128");

    // ZRANK / ZREVRANK WITHSCORE (7.2).
    call(&mut c, "ZADD r 1 a 2.5 b");
    let pair = |rank: i64| Reply::Array(vec![Reply::Integer(rank), bulk("2.5")]);
    assert_eq!(call(&mut c, "ZRANK r b WITHSCORE"), pair(1));
    assert_eq!(call(&mut c, "ZREVRANK r b withscore"), pair(0));
    assert_eq!(call(&mut c, "ZRANK r nosuch WITHSCORE"), Reply::NullArray);
    assert_eq!(call(&mut c, "ZRANK nosuch a WITHSCORE"), Reply::NullArray);
    assert_eq!(call(&mut c, "ZRANK r nosuch"), Reply::NullBulk);
    assert_eq!(call(&mut c, "ZRANK r b FOO"), error("ERR syntax error"));
    assert_eq!(
        call(&mut c, "ZRANK r b WITHSCORE x"),
        error("ERR wrong number of arguments for 'zrank' command")
    );
}
