//! RESTORE is network input: every damaged payload (each byte changed, with the checksum
//! made right again so the parser sees it; each truncation) is refused or restored, never a
//! panic or an unbounded allocation; and every payload Rill dumps, in every RDB version it
//! writes, restores to the same data.

mod common;
use common::{line, words};

use rill_engine::rdb::crc64::crc64;
use rill_engine::{Engine, Reply, Session};

/// A stream with two nodes, mixed field sets, a deletion, groups with PEL and consumers.
fn sample(s: &mut Session) {
    for i in 1..=130 {
        let fields = if i % 3 == 0 {
            "x 1 y long-value-here"
        } else {
            "a 5 b 6"
        };
        line(s, &format!("XADD s {i}-1 {fields}"));
    }
    line(s, "XDEL s 7-1");
    line(s, "XGROUP CREATE s g 0");
    line(s, "XREADGROUP GROUP g alice COUNT 3 STREAMS s >");
    line(s, "XREADGROUP GROUP g bob COUNT 2 STREAMS s >");
    line(s, "XGROUP CREATE s h $");
    line(s, "SET str hello-world-hello-world-hello-world");
    // Redis 8 state in a stream of its own: a NACK zone and idempotency.
    for i in 1..=5 {
        line(s, &format!("XADD n {i}-1 a {i}"));
    }
    line(s, "XGROUP CREATE n g 0");
    line(s, "XREADGROUP GROUP g alice COUNT 3 STREAMS n >");
    line(s, "XNACK n g FAIL IDS 2 3-1 1-1");
    line(s, "XNACK n g FATAL IDS 1 5-1 FORCE");
    line(s, "XADD n IDMP p1 iid-1 * f v");
    line(s, "XCFGSET n IDMP-DURATION 600");
    // Sorted sets (a listpack, a skiplist) and hashes with field times (a listpackex, a table).
    line(s, "ZADD z 1 a 2.5 b -inf c 12 13");
    for i in 0..140 {
        line(s, &format!("ZADD zbig {i}.5 m{i}"));
        line(s, &format!("HSET htbl f{i} v{i}"));
    }
    line(s, "HSET hx a 1 b 2 c 3");
    line(s, "HEXPIRE hx 1000 FIELDS 2 c a");
    line(s, "HEXPIRE htbl 1000 FIELDS 2 f1 f99");
}

/// A reply's debug text with each run of digits replaced by `#`: its shape and every word,
/// whatever times it holds.
fn numbers_blanked(reply: &Reply) -> String {
    let text = format!("{reply:?}");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

fn payload(s: &mut Session, key: &str) -> Vec<u8> {
    match line(s, &format!("DUMP {key}")) {
        Reply::Bulk(p) => p.to_vec(),
        other => panic!("DUMP {key}: {other:?}"),
    }
}

/// Puts the right checksum back on a changed payload.
fn reseal(p: &mut [u8]) {
    let n = p.len();
    let crc = crc64(&p[..n - 8]);
    p[n - 8..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn damaged_payloads_are_refused_never_a_panic() {
    let engine = Engine::new();
    let mut s = engine.session();
    sample(&mut s);
    for key in ["s", "str", "n", "z", "zbig", "hx", "htbl"] {
        let good = payload(&mut s, key);
        let (mut refused, mut restored) = (0, 0);
        for at in 0..good.len() - 10 {
            for change in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= change;
                reseal(&mut bad);
                match words(&mut s, &[b"RESTORE", b"x", b"0", &bad, b"REPLACE"]) {
                    Reply::Error(e) => {
                        assert!(
                            e == "ERR Bad data format"
                                || e == "ERR DUMP payload version or checksum are wrong",
                            "{e}"
                        );
                        refused += 1;
                    }
                    _ => {
                        // What was restored is read like any value, without a panic (a
                        // counter that makes no sense once read is the loader's to refuse).
                        for read in [
                            "XINFO STREAM x FULL",
                            "XINFO GROUPS x",
                            "XRANGE x - +",
                            "XREVRANGE x + - COUNT 3",
                            "XPENDING x g",
                            "XREADGROUP GROUP g c COUNT 2 STREAMS x >",
                        ] {
                            line(&mut s, read);
                        }
                        restored += 1
                    }
                }
            }
        }
        for cut in 0..good.len() {
            let mut short = good[..cut].to_vec();
            if short.len() >= 10 {
                reseal(&mut short);
            }
            assert!(matches!(
                words(&mut s, &[b"RESTORE", b"y", b"0", &short]),
                Reply::Error(_)
            ));
        }
        assert!(refused > 0, "{key}: nothing refused ({restored} restored)");
    }
}

#[test]
fn every_written_version_restores_to_the_same_data() {
    let engine = Engine::new();
    let mut s = engine.session();
    sample(&mut s);
    for version in 9..=14 {
        line(&mut s, &format!("CONFIG SET rdb-write-version {version}"));
        // Redis 8 state needs 13 (idempotency) and 14 (NACKed entries).
        let keys: &[&str] = if version >= 14 {
            &["s", "str", "n"]
        } else {
            &["s", "str"]
        };
        for &key in keys {
            let p = payload(&mut s, key);
            assert_eq!(
                u16::from_le_bytes([p[p.len() - 10], p[p.len() - 9]]),
                version
            );
            let copy = format!("{key}-v{version}");
            assert_eq!(
                words(&mut s, &[b"RESTORE", copy.as_bytes(), b"0", &p]),
                Reply::ok()
            );
            for q in [
                "XRANGE {} - +",
                "XPENDING {} g - + 100",
                "GET {}",
                "XINFO CONSUMERS {} g",
            ] {
                let original = line(&mut s, &q.replace("{}", key));
                let restored = line(&mut s, &q.replace("{}", &copy));
                if q.starts_with("XPENDING") || q.starts_with("XINFO") {
                    // Idle times move between the two calls (and may gain a digit, 999 ms
                    // becoming 1000): compare the replies with every number blanked out.
                    assert_eq!(
                        numbers_blanked(&original),
                        numbers_blanked(&restored),
                        "{q} v{version}"
                    );
                } else {
                    assert_eq!(original, restored, "{q} v{version}");
                }
            }
            if version >= 10 {
                assert_eq!(
                    line(&mut s, &format!("XINFO GROUPS {key}")),
                    line(&mut s, &format!("XINFO GROUPS {copy}")),
                    "XINFO GROUPS v{version}"
                );
            }
            if version >= 13 {
                let info = |s: &mut Session, k: &str| {
                    let reply = line(s, &format!("XINFO STREAM {k} FULL"));
                    format!("{reply:?}")
                        .split("entries")
                        .next()
                        .unwrap_or_default()
                        .to_string()
                };
                assert_eq!(info(&mut s, key), info(&mut s, &copy), "v{version}");
            }
        }
    }
}

/// A stream whose entries-added is below its length (a damaged count: every entry was added
/// once) is refused; the group read counters it would feed subtract the length from it.
#[test]
fn a_stream_with_fewer_entries_added_than_entries_is_refused() {
    let engine = Engine::new();
    let mut s = engine.session();
    line(&mut s, "XADD s 1-1 a 1");
    line(&mut s, "XADD s 1-2 a 2");
    line(&mut s, "XGROUP CREATE s g 1-1");
    let mut p = payload(&mut s, "s");
    // The stream's trailer: length 2, last ID 1-2, first ID 1-1, max-deleted 0-0,
    // entries-added 2, then one group named g.
    let trailer = [2u8, 1, 2, 1, 1, 0, 0, 2, 1, 1, b'g'];
    let at = p
        .windows(trailer.len())
        .position(|w| w == trailer)
        .expect("the stream's trailer in the payload");
    p[at + 7] = 1;
    reseal(&mut p);
    let reply = words(&mut s, &[b"RESTORE", b"r", b"0", &p]);
    assert_eq!(reply, Reply::Error("ERR Bad data format".into()));
    p[at + 7] = 3;
    reseal(&mut p);
    assert_eq!(words(&mut s, &[b"RESTORE", b"r", b"0", &p]), Reply::ok());
    assert_eq!(line(&mut s, "XLEN r"), Reply::Integer(2));
}

#[test]
fn idempotency_counters_beyond_redis_s_range_are_refused() {
    use rill_engine::keyspace::Value;
    use rill_engine::rdb::{dump, Version};
    use rill_engine::stream::{NodeLimits, Stream};
    let mut stream = Stream::new();
    stream
        .idmp
        .record(b"p", b"i", rill_engine::StreamId::new(1, 0));
    for (added, duplicates, ok) in [
        (i64::MAX as u64, i64::MAX as u64, true),
        (u64::MAX, 0, false),
        (0, i64::MAX as u64 + 1, false),
    ] {
        stream.idmp.iids_added = added;
        stream.idmp.iids_duplicates = duplicates;
        let payload = dump::dump(
            &Value::Stream(Box::new(stream.clone())),
            Version::Auto,
            false,
        );
        let restored = dump::restore(&payload, NodeLimits::default());
        assert_eq!(restored.is_ok(), ok, "{added} {duplicates}");
        if let Ok(Value::Stream(mut s)) = restored {
            // At the top of the range a duplicate or an addition saturates.
            assert!(s.idmp.find_duplicate(b"p", b"i", 2).is_some());
            s.idmp.record(b"p", b"j", rill_engine::StreamId::new(2, 0));
            assert_eq!(s.idmp.iids_duplicates, i64::MAX as u64);
        }
    }
}
