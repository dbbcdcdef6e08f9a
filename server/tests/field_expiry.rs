//! Hash fields' expiry times survive what Redis 7.4 says they survive: a snapshot (RDB types
//! 25 for a listpackex, 24 for a table), DUMP/RESTORE, the append-only log (a relative
//! HEXPIRE logged as an absolute HPEXPIREAT) and both forms of its rewrite; and fields whose
//! time passes go, by the cron's sweep, as Redis's active expiry removes them.

mod common;

use common::resp::{logged_server_args, rdb_header, start, wait_for_rewrite, Conn, Resp};
use common::{d, scratch, BIN};

/// A small hash with times on some fields (a listpackex), a large one (a table), and a hash
/// whose only time was removed again (still a listpackex).
fn fill(c: &mut Conn) {
    for line in [
        "HSET small a 1 b 2 c 3 d 4",
        "HEXPIRE small 1000 FIELDS 1 c",
        "HPEXPIRE small 500000 FIELDS 1 a",
        "HSET persisted x 1",
        "HEXPIRE persisted 100 FIELDS 1 x",
        "HPERSIST persisted FIELDS 1 x",
    ] {
        let r = c.cmd(line);
        assert!(!matches!(r, Resp::Error(_)), "{line}: {r:?}");
    }
    for i in 0..300 {
        c.cmd(&format!("HSET big f{i} v{i}"));
    }
    assert_eq!(
        c.cmd("HEXPIRE big 2000 FIELDS 2 f7 f250"),
        Resp::Array(Some(vec![Resp::Int(1), Resp::Int(1)]))
    );
}

/// What must survive: each hash's encoding, its pairs in order (sorted for the table), and
/// the absolute expiry time of every field.
fn view(c: &mut Conn) -> Vec<Resp> {
    let mut out = Vec::new();
    for key in ["small", "persisted", "big"] {
        out.push(c.cmd(&format!("OBJECT ENCODING {key}")));
        let Resp::Array(Some(mut pairs)) = c.cmd(&format!("HGETALL {key}")) else {
            panic!("HGETALL {key}");
        };
        if key == "big" {
            let mut chunks: Vec<Vec<Resp>> = pairs.chunks(2).map(<[Resp]>::to_vec).collect();
            chunks.sort_by_key(|p| format!("{p:?}"));
            pairs = chunks.concat();
        }
        out.extend(pairs);
    }
    for (key, fields) in [
        ("small", "4 a b c d"),
        ("persisted", "1 x"),
        ("big", "3 f7 f250 f8"),
    ] {
        out.push(c.cmd(&format!("HPEXPIRETIME {key} FIELDS {fields}")));
    }
    out
}

#[test]
fn snapshots_and_payloads_keep_field_times() {
    let dir = scratch("hfe-rdb");
    let rill = start(BIN, &["--dir", d(&dir)]);
    let mut c = Conn::new(rill.port);
    fill(&mut c);
    let before = view(&mut c);
    assert_eq!(before[0], Resp::Bulk(Some(b"listpackex".to_vec())));
    // The small hash's fields with times come first, soonest first (a in 500 s, c in 1000 s).
    assert_eq!(before[1], Resp::Bulk(Some(b"a".to_vec())));
    assert_eq!(before[3], Resp::Bulk(Some(b"c".to_vec())));
    let payloads: Vec<Resp> = ["small", "persisted", "big"]
        .iter()
        .map(|k| c.cmd(&format!("DUMP {k}")))
        .collect();
    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(rill);
    assert_eq!(rdb_header(&dir.join("dump.rdb")), "REDIS0012");
    let rill = start(BIN, &["--dir", d(&dir)]);
    let mut c = Conn::new(rill.port);
    assert_eq!(view(&mut c), before, "from the snapshot");
    assert_eq!(c.cmd("FLUSHALL"), Resp::Simple("OK".into()));
    for (key, payload) in ["small", "persisted", "big"].iter().zip(payloads) {
        let Resp::Bulk(Some(p)) = payload else {
            panic!("DUMP {key}");
        };
        assert_eq!(
            c.call(&[b"RESTORE", key.as_bytes(), b"0", &p]),
            Resp::Simple("OK".into())
        );
    }
    assert_eq!(view(&mut c), before, "from the payloads");
    drop(rill);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_log_and_its_rewrites_keep_field_times() {
    for preamble in ["yes", "no"] {
        let dir = scratch(&format!("hfe-aof-{preamble}"));
        let args = logged_server_args(&dir, preamble);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        fill(&mut c);
        let before = view(&mut c);
        drop(rill);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        let replayed = view(&mut c);
        // A replay rebuilds values and times exactly; a table's order is its own.
        assert_eq!(replayed[8..], before[8..], "{preamble}: times after replay");
        assert!(matches!(c.cmd("BGREWRITEAOF"), Resp::Simple(_)));
        wait_for_rewrite(&mut c);
        drop(rill);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        let rewritten = view(&mut c);
        let n = rewritten.len();
        assert_eq!(rewritten[n - 3..], before[before.len() - 3..], "{preamble}");
        drop(rill);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn fields_go_when_their_time_passes() {
    let rill = start(BIN, &["--save", ""]);
    let mut c = Conn::new(rill.port);
    assert_eq!(c.cmd("HSET h a 1 b 2"), Resp::Int(2));
    assert_eq!(c.cmd("HSET gone x 1"), Resp::Int(1));
    // Times far enough off that the cron (every 100 ms) cannot take a field before INFO
    // counts both.
    c.cmd("HPEXPIRE h 500 FIELDS 1 a");
    c.cmd("HPEXPIRE gone 500 FIELDS 1 x");
    let Resp::Bulk(Some(keyspace)) = c.cmd("INFO keyspace") else {
        panic!("INFO keyspace");
    };
    let keyspace = String::from_utf8_lossy(&keyspace).into_owned();
    assert!(keyspace.contains(",subexpiry=2\r\n"), "{keyspace}");
    // The cron removes them without any command touching the keys (INFO touches none):
    // waited for with a deadline, as a loaded machine may run it late.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let Resp::Bulk(Some(info)) = c.cmd("INFO stats") else {
            panic!("INFO");
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        if info.contains("\r\nexpired_subkeys:2\r\n") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(c.cmd("HLEN h"), Resp::Int(1));
    assert_eq!(c.cmd("EXISTS gone"), Resp::Int(0));
    // A time already past deletes at once; the reply says so.
    assert_eq!(
        c.cmd("HPEXPIREAT h 1 FIELDS 2 b nosuch"),
        Resp::Array(Some(vec![Resp::Int(2), Resp::Int(-2)]))
    );
    assert_eq!(c.cmd("EXISTS h"), Resp::Int(0));
}
