//! Files and DUMP payloads crossing between Rill and servers other than Debian's Redis 7.0:
//! Redis 6.2 (RDB version 9, the stream encoding of Redis 5 to 6.2: no lag counters) and
//! Valkey 8.1 (RDB version 11, the stream encoding of Redis 7.2: consumers' active time).
//! Both come from `.ci/fetch-oracles`.
//!
//! What 6.2 wrote is read by Rill as Redis 7.0 reads it (the counters 6.2 never kept are
//! rebuilt the same way); what Rill writes with `rdb-write-version 9` / `11` loads there.

mod common;

use common::resp::{
    mask_clock_readings, oracle, redis_available, start, without_fields, Conn, Resp,
    NEWER_STREAM_FIELDS,
};
use common::{d, scratch, BIN};

/// Streams in the shapes the encodings differ on: deletions (max deleted ID, first ID),
/// a trim, groups before and after the deletions, PEL entries of several consumers, a
/// consumer with nothing pending, an empty stream with a group; and strings.
fn fill(c: &mut Conn) {
    for line in [
        "SET int 12345",
        "SET text hello",
        "XADD s 1-1 a 1 b 2",
        "XADD s 1-2 a 3 b 4",
        "XADD s 2-1 c x",
        "XADD s 3-1 a 5 b 6",
        "XADD s 4-1 a 7 b 8",
        "XDEL s 1-2",
        "XDEL s 4-1",
        "XGROUP CREATE s g 0",
        "XGROUP CREATE s h $",
        "XGROUP CREATE s late 2-1",
        "XREADGROUP GROUP g alice COUNT 2 STREAMS s >",
        "XREADGROUP GROUP g bob COUNT 1 STREAMS s >",
        "XGROUP CREATECONSUMER s g carol",
        "XADD t * f v",
        "XGROUP CREATE e g $ MKSTREAM",
    ] {
        let r = c.cmd(line);
        assert!(!matches!(r, Resp::Error(_)), "{line}: {r:?}");
    }
    for i in 0..250 {
        c.cmd(&format!(
            "XADD t {}-1 f {i} g {}",
            i + 10,
            "y".repeat(i % 7)
        ));
    }
    c.cmd("XTRIM t MAXLEN 230");
}

const KEYS: [&str; 5] = ["int", "text", "s", "t", "e"];

/// What 6.2, 7.0 and Rill all answer alike: values and entries, and for groups their
/// name, consumers, pending count and last-delivered ID; the PEL without idle times.
fn common_view(c: &mut Conn, key: &str) -> Vec<Resp> {
    let mut out = vec![c.cmd(&format!("TYPE {key}"))];
    if out[0] != Resp::Simple("stream".into()) {
        out.push(c.cmd(&format!("GET {key}")));
        return out;
    }
    out.push(c.cmd(&format!("XRANGE {key} - +")));
    out.push(c.cmd(&format!("XLEN {key}")));
    if let Resp::Array(Some(groups)) = c.cmd(&format!("XINFO GROUPS {key}")) {
        for group in groups {
            out.push(only_fields(
                group,
                &["name", "consumers", "pending", "last-delivered-id"],
            ));
        }
    }
    out.push(mask_clock_readings(
        c.cmd(&format!("XPENDING {key} g - + 100")),
    ));
    out
}

/// The stream counters 7.0 added, as 7.0 derives them from a 6.2 file: entries-added,
/// max-deleted-entry-id, recorded-first-entry-id, and each group's entries-read and lag.
fn counters_view(c: &mut Conn, key: &str) -> Vec<Resp> {
    let mut out = Vec::new();
    if let Resp::Array(Some(info)) = c.cmd(&format!("XINFO STREAM {key}")) {
        out.push(only_fields(
            Resp::Array(Some(info)),
            &[
                "entries-added",
                "max-deleted-entry-id",
                "recorded-first-entry-id",
                "last-generated-id",
            ],
        ));
    }
    if let Resp::Array(Some(groups)) = c.cmd(&format!("XINFO GROUPS {key}")) {
        for group in groups {
            out.push(only_fields(group, &["name", "entries-read", "lag"]));
        }
    }
    out
}

/// A flat field/value reply reduced to `names`.
fn only_fields(reply: Resp, names: &[&str]) -> Resp {
    let Resp::Array(Some(fields)) = reply else {
        return reply;
    };
    Resp::Array(Some(
        fields
            .chunks(2)
            .filter(|p| matches!(&p[0], Resp::Bulk(Some(n)) if names.iter().any(|w| w.as_bytes() == n.as_slice())))
            .flat_map(|p| p.to_vec())
            .collect(),
    ))
}

/// XINFO STREAM FULL, times masked, without the fields of Redis 8.6 the older servers lack.
fn full_view(c: &mut Conn, key: &str) -> Resp {
    let full = c.cmd(&format!("XINFO STREAM {key} FULL"));
    without_fields(mask_clock_readings(full), &NEWER_STREAM_FIELDS)
}

fn dump_all(c: &mut Conn) -> Vec<Vec<u8>> {
    dump_keys(c, &KEYS)
}

fn dump_keys(c: &mut Conn, keys: &[&str]) -> Vec<Vec<u8>> {
    keys.iter()
        .map(|k| match c.cmd(&format!("DUMP {k}")) {
            Resp::Bulk(Some(p)) => p,
            other => panic!("DUMP {k}: {other:?}"),
        })
        .collect()
}

/// Checks that the server behind `c` shows `expected` (one `view` per key) as it loaded its
/// file, and again after FLUSHALL and a RESTORE of each of `payloads` (keys and payloads).
fn same_from_file_and_payloads<T: PartialEq + std::fmt::Debug>(
    c: &mut Conn,
    keys: &[&str],
    expected: &[T],
    view: fn(&mut Conn, &str) -> T,
    payloads: (&[&str], &[Vec<u8>]),
    what: &str,
) {
    assert_eq!(keys.len(), expected.len(), "{what}");
    for (key, want) in keys.iter().zip(expected) {
        assert_eq!(&view(c, key), want, "{what}: {key} from the file");
    }
    assert_eq!(c.cmd("FLUSHALL"), Resp::Simple("OK".into()));
    restore_keys(c, payloads.0, payloads.1);
    for (key, want) in keys.iter().zip(expected) {
        assert_eq!(&view(c, key), want, "{what}: {key} from its payload");
    }
}

fn restore_all(c: &mut Conn, payloads: &[Vec<u8>]) {
    restore_keys(c, &KEYS, payloads);
}

fn restore_keys(c: &mut Conn, keys: &[&str], payloads: &[Vec<u8>]) {
    for (key, payload) in keys.iter().zip(payloads) {
        let r = c.call(&[b"RESTORE", key.as_bytes(), b"0", payload]);
        assert_eq!(r, Resp::Simple("OK".into()), "RESTORE {key}");
    }
}

#[test]
fn redis_6_2_files_and_payloads_load_in_rill_as_in_redis_7_0_and_back() {
    let Some(redis62) = oracle("redis-6.2-server") else {
        return;
    };
    if !redis_available() {
        return;
    }
    // 6.2 writes a snapshot and payloads.
    let dir = scratch("from-6.2");
    let old = start(&redis62, &["--dir", d(&dir), "--save", ""]);
    let mut o = Conn::new(old.port);
    fill(&mut o);
    let old_view: Vec<_> = KEYS.iter().map(|k| common_view(&mut o, k)).collect();
    let payloads = dump_all(&mut o);
    assert_eq!(o.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(old);
    let file = std::fs::read(dir.join("dump.rdb")).unwrap_or_default();
    assert!(file.starts_with(b"REDIS0009"));

    // Redis 7.0 and Rill read the file alike, counters included.
    let redis = start("redis-server", &["--dir", d(&dir), "--save", ""]);
    let mut r = Conn::new(redis.port);
    let rill = start(BIN, &["--dir", d(&dir), "--save", ""]);
    let mut c = Conn::new(rill.port);
    for (i, key) in KEYS.iter().enumerate() {
        assert_eq!(common_view(&mut c, key), old_view[i], "{key} from the file");
        assert_eq!(
            counters_view(&mut c, key),
            counters_view(&mut r, key),
            "{key} counters"
        );
    }
    // And the payloads, restored into empty databases.
    for conn in [&mut r, &mut c] {
        assert_eq!(conn.cmd("FLUSHALL"), Resp::Simple("OK".into()));
        restore_all(conn, &payloads);
    }
    for (i, key) in KEYS.iter().enumerate() {
        assert_eq!(
            common_view(&mut c, key),
            old_view[i],
            "{key} from its payload"
        );
        assert_eq!(
            counters_view(&mut c, key),
            counters_view(&mut r, key),
            "{key} counters"
        );
    }
    drop(redis);
    drop(rill);

    // Rill writes version 9: 6.2 loads the file and restores the payloads.
    let back = scratch("to-6.2");
    let rill = start(BIN, &["--dir", d(&back), "--rdb-write-version", "9"]);
    let mut c = Conn::new(rill.port);
    fill(&mut c);
    let rill_view: Vec<_> = KEYS.iter().map(|k| common_view(&mut c, k)).collect();
    let payloads = dump_all(&mut c);
    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(rill);
    let old = start(&redis62, &["--dir", d(&back), "--save", ""]);
    let mut o = Conn::new(old.port);
    same_from_file_and_payloads(
        &mut o,
        &KEYS,
        &rill_view,
        common_view,
        (&KEYS, &payloads),
        "6.2 from Rill",
    );
    drop(old);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&back);
}

#[test]
fn valkey_8_1_files_and_payloads_cross_with_xinfo_stream_full_intact() {
    let Some(valkey) = oracle("valkey-8.1-server") else {
        return;
    };
    cross_with_full_view("from-valkey", (&valkey, &[]), (BIN, &[]), b"REDIS0011");
    cross_with_full_view(
        "to-valkey",
        (BIN, &["--rdb-write-version", "11"]),
        (&valkey, &[]),
        b"REDIS0011",
    );
}

/// The streams `writer` (a program and its arguments) holds after [`fill`] reach `reader`
/// through its dump.rdb (which starts with `header`) and through DUMP payloads, with the
/// same XINFO STREAM FULL (times masked).
fn cross_with_full_view(
    tag: &str,
    writer: (&str, &[&str]),
    reader: (&str, &[&str]),
    header: &[u8],
) {
    const STREAMS: [&str; 3] = ["s", "t", "e"];
    let dir = scratch(tag);
    let mut args = vec!["--dir", d(&dir), "--save", ""];
    args.extend_from_slice(writer.1);
    let server = start(writer.0, &args);
    let mut w = Conn::new(server.port);
    fill(&mut w);
    let expected: Vec<_> = STREAMS.iter().map(|k| full_view(&mut w, k)).collect();
    let payloads = dump_all(&mut w);
    assert_eq!(w.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(server);
    let file = std::fs::read(dir.join("dump.rdb")).unwrap_or_default();
    assert!(
        file.starts_with(header),
        "{tag}: {:?}",
        &file[..9.min(file.len())]
    );
    let mut args = vec!["--dir", d(&dir), "--save", ""];
    args.extend_from_slice(reader.1);
    let server = start(reader.0, &args);
    let mut r = Conn::new(server.port);
    same_from_file_and_payloads(
        &mut r,
        &STREAMS,
        &expected,
        full_view,
        (&KEYS, &payloads),
        tag,
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The situations of Redis's own "Loading from legacy persistence" stream tests, dumped by
/// the real old servers: a Redis 6.2 stream with deletions (its counters must be rebuilt)
/// and a Redis 7.0 stream whose consumers have one time each (7.2 on loads it as both the
/// seen and the active time). Restored into Rill and into Valkey 8.1 (7.2's stream
/// semantics), XINFO STREAM FULL must be identical, times included: they come from the
/// payload.
#[test]
fn legacy_payloads_restore_as_a_7_2_server_restores_them() {
    let (Some(redis62), Some(valkey)) = (oracle("redis-6.2-server"), oracle("valkey-8.1-server"))
    else {
        return;
    };
    if !redis_available() {
        return;
    }
    let scenarios: [(&str, &[&str]); 2] = [
        (
            redis62.as_str(),
            &[
                "XADD x 1-1 data a",
                "XADD x 1-2 data b",
                "XADD x 1-3 data c",
                "XADD x 1-4 data d",
                "XADD x 1-5 data e",
                "XDEL x 1-2",
                "XDEL x 1-3",
                "XGROUP CREATE x g1 0",
                "XREADGROUP GROUP g1 Alice COUNT 1 STREAMS x >",
            ],
        ),
        (
            "redis-server",
            &[
                "XADD x 1-1 data a",
                "XADD x 1-2 data b",
                "XGROUP CREATE x g1 0",
                "XADD x 1-3 data c",
                "XREADGROUP GROUP g1 Alice COUNT 1 STREAMS x >",
                "XREADGROUP GROUP g1 Bob COUNT 1 STREAMS x >",
            ],
        ),
    ];
    let rill = start(BIN, &["--save", ""]);
    let mut c = Conn::new(rill.port);
    let other = start(&valkey, &["--save", ""]);
    let mut v = Conn::new(other.port);
    for (program, commands) in scenarios {
        let old = start(program, &["--save", ""]);
        let mut o = Conn::new(old.port);
        for line in commands {
            assert!(!matches!(o.cmd(line), Resp::Error(_)), "{program}: {line}");
        }
        let Resp::Bulk(Some(payload)) = o.cmd("DUMP x") else {
            panic!("{program}: DUMP x");
        };
        drop(old);
        for conn in [&mut c, &mut v] {
            conn.cmd("DEL x");
            let r = conn.call(&[b"RESTORE", b"x", b"0", &payload]);
            assert_eq!(r, Resp::Simple("OK".into()), "{program}");
        }
        let full = without_fields(c.cmd("XINFO STREAM x FULL"), &NEWER_STREAM_FIELDS);
        assert_eq!(full, v.cmd("XINFO STREAM x FULL"), "{program}'s payload");
        assert!(matches!(full, Resp::Array(Some(_))));
    }
}

/// Hashes, lists and sorted sets in 6.2's ziplist encodings (small) and its tables,
/// quicklists and skiplists (large), and sets as intsets and tables.
fn fill_collections(c: &mut Conn) {
    c.call(&[
        b"HSET",
        b"small-hash",
        b"n",
        b"-7",
        b"bin",
        b"\x00\r\n",
        b"",
        b"",
    ]);
    c.call(&[
        b"RPUSH",
        b"small-list",
        b"1",
        b"-300",
        b"70000",
        b"-5000000000",
        b"",
        b"x",
    ]);
    c.call(&[
        b"ZADD",
        b"small-zset",
        b"1",
        b"a",
        b"2.5",
        b"b",
        b"-inf",
        b"c",
        b"12",
        b"13",
    ]);
    c.cmd("SADD int-set 1 -300 70000");
    for i in 0..300 {
        c.cmd(&format!("HSET big-hash f{i} {i}"));
        c.cmd(&format!("RPUSH big-list {i}-{}", "w".repeat(i % 80)));
        c.cmd(&format!("ZADD big-zset {i}.75 m{i}"));
        c.cmd(&format!("SADD big-set m{i}"));
    }
}

const COLLECTIONS: [&str; 8] = [
    "small-hash",
    "small-list",
    "small-zset",
    "int-set",
    "big-hash",
    "big-list",
    "big-zset",
    "big-set",
];

/// A collection's content, in an order both versions share (scores as numbers: 6.2 prints
/// them with 17 digits, Rill as Redis 7.2+).
fn collection_view(c: &mut Conn, key: &str) -> Vec<String> {
    let kind = c.cmd(&format!("TYPE {key}"));
    let read = match &kind {
        Resp::Simple(t) if t == "hash" => format!("HGETALL {key}"),
        Resp::Simple(t) if t == "list" => format!("LRANGE {key} 0 -1"),
        Resp::Simple(t) if t == "set" => format!("SMEMBERS {key}"),
        _ => format!("ZRANGE {key} 0 -1 WITHSCORES"),
    };
    let Resp::Array(Some(items)) = c.cmd(&read) else {
        panic!("{read}");
    };
    let text = |r: &Resp| match r {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    let mut out: Vec<String> = match &kind {
        Resp::Simple(t) if t == "zset" => items
            .chunks(2)
            .map(|p| {
                let score: f64 = text(&p[1]).parse().unwrap_or(f64::NAN);
                format!("{} {}", text(&p[0]), score.to_bits())
            })
            .collect(),
        Resp::Simple(t) if t == "hash" => items
            .chunks(2)
            .map(|p| format!("{}={}", text(&p[0]), text(&p[1])))
            .collect(),
        _ => items.iter().map(text).collect(),
    };
    if !matches!(&kind, Resp::Simple(t) if t == "list" || t == "zset") {
        out.sort();
    }
    out.insert(0, format!("{kind:?}"));
    out
}

#[test]
fn redis_6_2_ziplists_and_other_collections_cross_both_ways() {
    let Some(redis62) = oracle("redis-6.2-server") else {
        return;
    };
    // 6.2 writes its file and payloads; Rill reads both.
    let dir = scratch("collections-from-6.2");
    let old = start(&redis62, &["--dir", d(&dir), "--save", ""]);
    let mut o = Conn::new(old.port);
    fill_collections(&mut o);
    assert_eq!(
        o.cmd("OBJECT ENCODING small-zset"),
        Resp::Bulk(Some(b"ziplist".to_vec()))
    );
    let old_view: Vec<_> = COLLECTIONS
        .iter()
        .map(|k| collection_view(&mut o, k))
        .collect();
    let payloads = dump_keys(&mut o, &COLLECTIONS);
    assert_eq!(o.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(old);
    let rill = start(BIN, &["--dir", d(&dir), "--save", ""]);
    let mut c = Conn::new(rill.port);
    same_from_file_and_payloads(
        &mut c,
        &COLLECTIONS,
        &old_view,
        collection_view,
        (&COLLECTIONS, &payloads),
        "Rill from 6.2",
    );
    assert_eq!(
        c.cmd("OBJECT ENCODING small-zset"),
        Resp::Bulk(Some(b"listpack".to_vec()))
    );
    drop(rill);

    // Rill writes version 9 (no listpacks): 6.2 reads the file and the payloads.
    let back = scratch("collections-to-6.2");
    let rill = start(BIN, &["--dir", d(&back), "--rdb-write-version", "9"]);
    let mut c = Conn::new(rill.port);
    fill_collections(&mut c);
    let rill_view: Vec<_> = COLLECTIONS
        .iter()
        .map(|k| collection_view(&mut c, k))
        .collect();
    assert_eq!(rill_view, old_view);
    let payloads = dump_keys(&mut c, &COLLECTIONS);
    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(rill);
    let old = start(&redis62, &["--dir", d(&back), "--save", ""]);
    let mut o = Conn::new(old.port);
    same_from_file_and_payloads(
        &mut o,
        &COLLECTIONS,
        &rill_view,
        collection_view,
        (&COLLECTIONS, &payloads),
        "6.2 from Rill",
    );
    drop(old);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&back);
}
