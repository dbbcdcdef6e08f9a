//! Idempotent production survives what Redis 8.6 says it survives: a restart on a snapshot
//! (RDB 13, with the lifetime counters), DUMP/RESTORE, the append-only log replayed, and a
//! rewrite of the log in both base forms (RDB, or XCFGSET + XIDMPRECORD commands). A producer
//! retrying after any of these still gets its first ID back and adds nothing.

mod common;

use common::resp::{logged_server_args, rdb_header, start, wait_for_rewrite, Conn, Resp};
use common::{d, scratch, BIN};

fn bulk(reply: Resp) -> String {
    match reply {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected a bulk reply, got {other:?}"),
    }
}

/// The integer fields of XINFO STREAM about idempotency, in order.
fn idmp_view(c: &mut Conn, key: &str) -> Vec<(String, i64)> {
    let Resp::Array(Some(fields)) = c.cmd(&format!("XINFO STREAM {key}")) else {
        panic!("XINFO STREAM {key}");
    };
    fields
        .chunks(2)
        .filter_map(|p| match (&p[0], &p[1]) {
            (Resp::Bulk(Some(name)), Resp::Int(n))
                if name.starts_with(b"i") || name.starts_with(b"p") =>
            {
                Some((String::from_utf8_lossy(name).into_owned(), *n))
            }
            _ => None,
        })
        .collect()
}

/// Fills `s` (IDMP, IDMPAUTO, a retry, a deleted entry) and `t` (its own settings); returns
/// the IDs the producers got, in order.
fn produce(c: &mut Conn) -> Vec<String> {
    let ids = vec![
        bulk(c.cmd("XADD s IDMP p1 order-1 * f v")),
        bulk(c.cmd("XADD s IDMP p1 order-2 * f v")),
        bulk(c.cmd("XADD s IDMPAUTO p2 * amount 10 currency eur")),
        bulk(c.cmd("XADD s IDMP p3 gone * f v")),
    ];
    assert_eq!(bulk(c.cmd("XADD s IDMP p1 order-1 * f v")), ids[0]);
    assert_eq!(c.cmd(&format!("XDEL s {}", ids[3])), Resp::Int(1));
    bulk(c.cmd("XADD t * f v"));
    bulk(c.cmd("XADD t IDMP p x * f v"));
    assert_eq!(
        c.cmd("XCFGSET t IDMP-DURATION 600 IDMP-MAXSIZE 2"),
        Resp::Simple("OK".into())
    );
    ids
}

/// What `produce` left, as a producer retrying sees it: every retry answers the first ID.
fn retries_answer_first_ids(c: &mut Conn, ids: &[String]) {
    assert_eq!(bulk(c.cmd("XADD s IDMP p1 order-1 * f other")), ids[0]);
    assert_eq!(bulk(c.cmd("XADD s IDMP p1 order-2 * f other")), ids[1]);
    assert_eq!(
        bulk(c.cmd("XADD s IDMPAUTO p2 * currency eur amount 10")),
        ids[2]
    );
    assert_eq!(bulk(c.cmd("XADD s IDMP p3 gone * f v")), ids[3]);
    assert_eq!(c.cmd("XLEN s"), Resp::Int(3));
}

#[test]
fn snapshots_and_payloads_keep_idempotency_state() {
    let dir = scratch("idmp-rdb");
    let rill = start(BIN, &["--dir", d(&dir), "--save", ""]);
    let mut c = Conn::new(rill.port);
    // Without idempotency state the file stays in Redis 7.4's version.
    c.cmd("XADD plain * f v");
    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    assert_eq!(rdb_header(&dir.join("dump.rdb")), "REDIS0012");
    let ids = produce(&mut c);
    let (s_view, t_view) = (idmp_view(&mut c, "s"), idmp_view(&mut c, "t"));
    assert_eq!(
        s_view,
        [
            ("idmp-duration".to_string(), 100),
            ("idmp-maxsize".to_string(), 100),
            ("pids-tracked".to_string(), 3),
            ("iids-tracked".to_string(), 4),
            ("iids-added".to_string(), 4),
            ("iids-duplicates".to_string(), 1),
        ]
    );
    // A payload of a stream with state is RDB 13, of a plain one 12.
    let payload = |c: &mut Conn, key: &str| match c.cmd(&format!("DUMP {key}")) {
        Resp::Bulk(Some(p)) => p,
        other => panic!("DUMP {key}: {other:?}"),
    };
    let with_state = payload(&mut c, "s");
    assert_eq!(with_state[0], 26, "RDB_TYPE_STREAM_LISTPACKS_4");
    assert_eq!(&with_state[with_state.len() - 10..][..2], &[13, 0]);
    let plain = payload(&mut c, "plain");
    assert_eq!(&plain[plain.len() - 10..][..2], &[12, 0]);
    assert_eq!(
        c.call(&[b"RESTORE", b"copy", b"0", &with_state]),
        Resp::Simple("OK".into())
    );
    assert_eq!(idmp_view(&mut c, "copy"), s_view);
    assert_eq!(bulk(c.cmd("XADD copy IDMP p1 order-2 * f v")), ids[1]);

    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    assert_eq!(rdb_header(&dir.join("dump.rdb")), "REDIS0013");
    drop(rill);
    let rill = start(BIN, &["--dir", d(&dir), "--save", ""]);
    let mut c = Conn::new(rill.port);
    assert_eq!(idmp_view(&mut c, "s"), s_view);
    assert_eq!(idmp_view(&mut c, "t"), t_view);
    retries_answer_first_ids(&mut c, &ids);

    // Told to write 7.4's version, Rill leaves the state out (and says so in its log).
    assert_eq!(
        c.cmd("CONFIG SET rdb-write-version 12"),
        Resp::Simple("OK".into())
    );
    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    assert_eq!(rdb_header(&dir.join("dump.rdb")), "REDIS0012");
    drop(rill);
    let rill = start(BIN, &["--dir", d(&dir), "--save", ""]);
    let mut c = Conn::new(rill.port);
    assert_eq!(
        idmp_view(&mut c, "s")[2..4],
        [
            ("pids-tracked".to_string(), 0),
            ("iids-tracked".to_string(), 0),
        ]
    );
    drop(rill);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_log_and_its_rewrites_keep_idempotency_state() {
    for preamble in ["yes", "no"] {
        let dir = scratch(&format!("idmp-aof-{preamble}"));
        let args = logged_server_args(&dir, preamble);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        let ids = produce(&mut c);
        let t_settings = idmp_view(&mut c, "t")[..2].to_vec();
        drop(rill);
        // The log replayed: IDMP XADDs carry the IDs they got.
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        retries_answer_first_ids(&mut c, &ids);
        assert_eq!(idmp_view(&mut c, "t")[..2], t_settings[..]);
        // A rewrite, then the new base replayed.
        assert!(matches!(c.cmd("BGREWRITEAOF"), Resp::Simple(_)));
        wait_for_rewrite(&mut c);
        let before = idmp_view(&mut c, "s");
        drop(rill);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        retries_answer_first_ids(&mut c, &ids);
        assert_eq!(idmp_view(&mut c, "t")[..2], t_settings[..], "{preamble}");
        let after = idmp_view(&mut c, "s");
        // What is tracked survives both forms; the lifetime counters live in RDB form only,
        // as in Redis.
        assert_eq!(after[..4], before[..4], "{preamble}");
        if preamble == "yes" {
            let dups = |v: &[(String, i64)]| v[5].1;
            assert_eq!(dups(&after), dups(&before) + 4, "{preamble}");
        }
        drop(rill);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_replayed_log_appends_what_was_appended_whatever_the_settings_now() {
    for preamble in ["yes", "no"] {
        let dir = scratch(&format!("idmp-replay-{preamble}"));
        let args = logged_server_args(&dir, preamble);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        // Set at run time only: a restart starts with the defaults again.
        assert_eq!(
            c.cmd("CONFIG SET stream-idmp-maxsize 1"),
            Resp::Simple("OK".into())
        );
        bulk(c.cmd("XADD k IDMP p i1 * f 1"));
        bulk(c.cmd("XADD k IDMP p i2 * f 2"));
        // i1 was pushed out by i2: this adds.
        bulk(c.cmd("XADD k IDMP p i1 * f 3"));
        assert_eq!(c.cmd("XLEN k"), Resp::Int(3));
        drop(rill);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        assert_eq!(c.cmd("XLEN k"), Resp::Int(3), "{preamble}: replayed");
        // A rewrite keeps the stream's own settings, whatever the configuration says later.
        assert!(matches!(c.cmd("BGREWRITEAOF"), Resp::Simple(_)));
        wait_for_rewrite(&mut c);
        c.cmd("CONFIG SET stream-idmp-maxsize 7");
        bulk(c.cmd("XADD made-at-7 IDMP p a * f v"));
        assert!(matches!(c.cmd("BGREWRITEAOF"), Resp::Simple(_)));
        wait_for_rewrite(&mut c);
        drop(rill);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        assert_eq!(c.cmd("XLEN k"), Resp::Int(3), "{preamble}: rewritten");
        let maxsize = |c: &mut Conn, key: &str| idmp_view(c, key)[1].1;
        assert_eq!(maxsize(&mut c, "made-at-7"), 7, "{preamble}");
        drop(rill);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
