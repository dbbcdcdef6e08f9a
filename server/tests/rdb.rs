//! RDB snapshots as an operator relies on them: SAVE, BGSAVE and save points write
//! `<dir>/<dbfilename>`, it loads at start, Redis 7.0 loads Rill's file (written with
//! `rdb-write-version 10`) and Rill loads Redis's, SHUTDOWN saves or not as Redis does, and a
//! damaged file stops the start naming the file.

use std::process::Command;
use std::time::Duration;

mod common;

use common::resp::{
    mask_clock_readings, redis_available, start, without_fields, Conn, Resp, NEWER_STREAM_FIELDS,
};
use common::{d, scratch, BIN};

fn fill(c: &mut Conn) {
    for line in [
        "SET n 42",
        "SET k hello",
        "SET ttl v PX 100000",
        "XADD s 1-1 a 1 b 2",
        "XADD s 2-1 c x",
        "XADD s 3-1 a 5 b 6",
        "XDEL s 2-1",
        "XGROUP CREATE s g 0",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS s >",
        "SELECT 3",
        "SET other-db yes",
        "SELECT 0",
    ] {
        let r = c.cmd(line);
        assert!(!matches!(r, Resp::Error(_)), "{line}: {r:?}");
    }
}

/// What must survive a save and a load, in both servers' words.
fn view(c: &mut Conn) -> Vec<Resp> {
    let mut out = Vec::new();
    for q in [
        "GET n",
        "GET k",
        "XRANGE s - +",
        "XINFO GROUPS s",
        "XLEN s",
        "SELECT 3",
        "GET other-db",
        "SELECT 0",
    ] {
        out.push(c.cmd(q));
    }
    out.push(as_redis_7_0(mask_clock_readings(
        c.cmd("XINFO STREAM s FULL"),
    )));
    let pending = c.cmd("XPENDING s g - + 10");
    out.push(match pending {
        Resp::Array(Some(mut rows)) => {
            for row in &mut rows {
                if let Resp::Array(Some(f)) = row {
                    f[2] = Resp::Int(0);
                }
            }
            Resp::Array(Some(rows))
        }
        other => other,
    });
    let ttl = c.cmd("PTTL ttl");
    assert!(matches!(ttl, Resp::Int(t) if t > 50_000), "{ttl:?}");
    out
}

/// XINFO STREAM FULL as Redis 7.0 words it: without the consumers' `active-time` that 7.2
/// added and the idempotency fields of 8.6 (Rill follows the newest).
fn as_redis_7_0(reply: Resp) -> Resp {
    let mut names = NEWER_STREAM_FIELDS.to_vec();
    names.push("active-time");
    without_fields(reply, &names)
}

#[test]
fn redis_and_rill_load_each_other_s_snapshots() {
    if !redis_available() {
        return;
    }
    // Rill saves (in the version Redis 7.0 reads), Redis loads.
    let dir = scratch("to-redis");
    let rill = start(BIN, &["--dir", d(&dir), "--rdb-write-version", "10"]);
    let mut c = Conn::new(rill.port);
    fill(&mut c);
    let rill_view = view(&mut c);
    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(rill);
    let check = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output();
    if let Ok(out) = check {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("RDB looks OK"), "{text}");
    }
    let redis = start("redis-server", &["--dir", d(&dir), "--appendonly", "no"]);
    let mut r = Conn::new(redis.port);
    assert_eq!(view(&mut r), rill_view);
    // Redis saves, Rill loads.
    assert_eq!(r.cmd("XADD s 9-1 z z"), Resp::Bulk(Some(b"9-1".to_vec())));
    let redis_view = view(&mut r);
    assert_eq!(r.cmd("SAVE"), Resp::Simple("OK".into()));
    drop(redis);
    let rill = start(BIN, &["--dir", d(&dir)]);
    let mut c = Conn::new(rill.port);
    assert_eq!(view(&mut c), redis_view);
    drop(rill);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bgsave_save_points_and_shutdown() {
    let dir = scratch("points");
    let rill = start(BIN, &["--dir", d(&dir), "--save", "1 1"]);
    let mut c = Conn::new(rill.port);
    let before = c.cmd("LASTSAVE");
    assert_eq!(c.cmd("XADD s 1-1 f v"), Resp::Bulk(Some(b"1-1".to_vec())));
    // The save point (1 change within 1 second) writes the file in the background.
    let mut saved = false;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(50));
        if let Resp::Bulk(Some(info)) = c.cmd("INFO persistence") {
            let info = String::from_utf8_lossy(&info).into_owned();
            if info.contains("rdb_saves:1") && info.contains("rdb_changes_since_last_save:0") {
                assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
                saved = true;
                break;
            }
        }
    }
    assert!(saved, "the save point never saved");
    assert!(dir.join("dump.rdb").exists());
    assert_ne!(c.cmd("LASTSAVE"), before);
    assert_eq!(
        c.cmd("BGSAVE"),
        Resp::Simple("Background saving started".into())
    );
    // Inside EXEC a BGSAVE is scheduled, as in Redis, and the periodic work runs it.
    std::thread::sleep(Duration::from_millis(200));
    c.cmd("MULTI");
    c.cmd("BGSAVE");
    assert_eq!(
        c.cmd("EXEC"),
        Resp::Array(Some(vec![Resp::Simple(
            "Background saving scheduled".into()
        )]))
    );
    let mut scheduled_ran = false;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(50));
        if let Resp::Bulk(Some(info)) = c.cmd("INFO persistence") {
            if String::from_utf8_lossy(&info).contains("rdb_saves:3") {
                scheduled_ran = true;
                break;
            }
        }
    }
    assert!(scheduled_ran, "the scheduled BGSAVE never ran");
    // SHUTDOWN saves (save points are set): the entry added since is in the file.
    assert_eq!(c.cmd("XADD s 2-1 f v"), Resp::Bulk(Some(b"2-1".to_vec())));
    let _ = c.call(&[b"SHUTDOWN"]);
    drop(rill);
    let rill = start(BIN, &["--dir", d(&dir)]);
    let mut c = Conn::new(rill.port);
    assert_eq!(c.cmd("XLEN s"), Resp::Int(2));
    // NOSAVE: what came after the last save is gone, as the user asked.
    assert_eq!(c.cmd("XADD s 3-1 f v"), Resp::Bulk(Some(b"3-1".to_vec())));
    let _ = c.call(&[b"SHUTDOWN", b"NOSAVE"]);
    drop(rill);
    let rill = start(BIN, &["--dir", d(&dir)]);
    let mut c = Conn::new(rill.port);
    assert_eq!(c.cmd("XLEN s"), Resp::Int(2));
    drop(rill);
    // A damaged file stops the start, naming it.
    let file = dir.join("dump.rdb");
    let mut bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(BIN)
        .args(["--port", &common::free_port().to_string(), "--dir", d(&dir)])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("dump.rdb"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_cli_rdb_takes_a_backup_that_redis_loads() {
    if !redis_available() {
        return;
    }
    let dir = scratch("cli-rdb");
    let rill = start(BIN, &["--dir", d(&dir), "--rdb-write-version", "10"]);
    let mut c = Conn::new(rill.port);
    fill(&mut c);
    let rill_view = view(&mut c);
    let backup = scratch("cli-rdb-backup");
    let out = Command::new("redis-cli")
        .args(["-p", &rill.port.to_string(), "--rdb"])
        .arg(backup.join("dump.rdb"))
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Transfer finished with success"), "{said}");
    let check = Command::new("redis-check-rdb")
        .arg(backup.join("dump.rdb"))
        .output()
        .unwrap_or_else(|e| panic!("redis-check-rdb: {e}"));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("RDB looks OK"), "{text}");
    // The server went on serving, and Redis restores the backup as Rill showed it.
    assert_eq!(c.cmd("PING"), Resp::Simple("PONG".into()));
    let redis = start("redis-server", &["--dir", d(&backup), "--appendonly", "no"]);
    assert_eq!(view(&mut Conn::new(redis.port)), rill_view);
    drop(redis);
    // `--functions-rdb`: only functions, and Rill holds none: an empty snapshot.
    let functions = backup.join("functions.rdb");
    let out = Command::new("redis-cli")
        .args(["-p", &rill.port.to_string(), "--functions-rdb"])
        .arg(&functions)
        .output()
        .unwrap_or_else(|e| panic!("redis-cli: {e}"));
    assert!(out.status.success());
    let empty = std::fs::read(&functions).unwrap_or_default();
    assert!(
        empty.starts_with(b"REDIS0010") && empty.len() < 200,
        "{empty:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&backup);
}

#[test]
fn sync_and_psync_send_a_snapshot_only_to_a_client_that_asked_for_it_alone() {
    use std::io::{Read, Write};
    let rill = start(BIN, &[]);
    let mut c = Conn::new(rill.port);
    assert_eq!(c.cmd("XADD s 1-1 f v"), Resp::Bulk(Some(b"1-1".to_vec())));
    let error = |text: &str| Resp::Error(text.to_string());
    // A replica (no rdb-only) is refused: Rill does not replicate.
    assert!(matches!(c.cmd("SYNC"), Resp::Error(e) if e.contains("does not replicate")));
    assert_eq!(
        c.cmd("REPLCONF listening-port 6380"),
        error("ERR Unrecognized REPLCONF option: listening-port")
    );
    assert_eq!(c.cmd("REPLCONF rdb-only"), error("ERR syntax error"));
    assert_eq!(
        c.cmd("REPLCONF rdb-only 2"),
        error("ERR value is out of range, value must between 0 and 1")
    );
    assert_eq!(
        c.cmd("REPLCONF rdb-filter-only keys"),
        error("ERR Unsupported rdb-filter-only option: keys")
    );
    assert_eq!(
        c.cmd("PSYNC ?"),
        error("ERR wrong number of arguments for 'psync' command")
    );
    assert_eq!(c.cmd("MULTI"), Resp::Simple("OK".into()));
    assert_eq!(
        c.cmd("SYNC"),
        error("ERR Command not allowed inside a transaction")
    );
    assert_eq!(
        c.cmd("EXEC"),
        error("EXECABORT Transaction discarded because of previous errors.")
    );

    // Without `capa eof`: `$<length>` and the file.
    let everything = |request: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", rill.port))
            .unwrap_or_else(|e| panic!("connect: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        s.write_all(request)
            .unwrap_or_else(|e| panic!("write: {e}"));
        let mut all = Vec::new();
        // The server closes the connection after the snapshot.
        s.read_to_end(&mut all)
            .unwrap_or_else(|e| panic!("read: {e}"));
        all
    };
    let all = everything(b"REPLCONF rdb-only 1\r\nSYNC\r\n");
    let text = String::from_utf8_lossy(&all).into_owned();
    let body_at = text.find("\r\n$").map(|i| i + 3).unwrap_or(0);
    let header_end = text[body_at..]
        .find("\r\n")
        .map(|i| body_at + i)
        .unwrap_or(0);
    assert!(text.starts_with("+OK\r\n$"), "{text}");
    let length: usize = text[body_at..header_end].parse().unwrap_or(0);
    let body = &all[header_end + 2..];
    assert_eq!(body.len(), length);
    assert!(body.starts_with(b"REDIS0012"));

    // With `capa eof` and PSYNC: FULLRESYNC, then the file between two EOF marks.
    let all = everything(b"REPLCONF capa eof capa psync2 rdb-only 1\r\nPSYNC ? -1\r\n");
    let text = String::from_utf8_lossy(&all).into_owned();
    assert!(text.starts_with("+OK\r\n+FULLRESYNC "), "{text}");
    let mark_at = text.find("$EOF:").map(|i| i + 5).unwrap_or(0);
    let mark = &all[mark_at..mark_at + 40];
    assert_eq!(&all[mark_at + 40..mark_at + 42], b"\r\n");
    let body = &all[mark_at + 42..];
    assert!(body.ends_with(mark) && body.starts_with(b"REDIS0012"));
    // The file in between loads: it holds the stream.
    let file = &body[..body.len() - 40];
    let dir = scratch("psync");
    std::fs::write(dir.join("dump.rdb"), file).unwrap_or_else(|e| panic!("{e}"));
    let again = start(BIN, &["--dir", d(&dir)]);
    assert_eq!(Conn::new(again.port).cmd("XLEN s"), Resp::Int(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Redis 7.0's file of every type and encoding, for the two tests below.
fn redis_file_of_every_type(dir: &std::path::Path) {
    // Redis writes small hashes, lists, sets and sorted sets as listpacks and intsets, large
    // ones as tables, quicklists and skiplists.
    let redis = start("redis-server", &["--dir", d(dir), "--appendonly", "no"]);
    let mut r = Conn::new(redis.port);
    for line in [
        "HSET small-hash f v",
        "RPUSH small-list a b",
        "SADD small-set a b",
        "SADD int-set 1 2 3",
        "ZADD small-zset 1 a 2.5 b",
        "XADD s 1-1 f v",
        "SET k v",
        "SET victim hello",
    ] {
        assert!(!matches!(r.cmd(line), Resp::Error(_)), "{line}");
    }
    for i in 0..300 {
        for line in [
            format!("HSET big-hash f{i} v{i}"),
            format!("RPUSH big-list {i}-{}", "x".repeat(100)),
            format!("SADD big-set m{i}"),
            format!("ZADD big-zset {i}.5 m{i}"),
        ] {
            assert!(!matches!(r.cmd(&line), Resp::Error(_)), "{line}");
        }
    }
    assert_eq!(r.cmd("PEXPIRE big-zset 100000"), Resp::Int(1));
    assert_eq!(r.cmd("SAVE"), Resp::Simple("OK".into()));
}

#[test]
fn redis_7_0_files_of_every_type_and_encoding_load() {
    if !redis_available() {
        return;
    }
    let dir = scratch("every-type");
    redis_file_of_every_type(&dir);
    let rill = start(BIN, &["--dir", d(&dir)]);
    let mut c = Conn::new(rill.port);
    assert_eq!(c.cmd("DBSIZE"), Resp::Int(12));
    let bulk = |s: &str| Resp::Bulk(Some(s.as_bytes().to_vec()));
    assert_eq!(c.cmd("SCARD small-set"), Resp::Int(2));
    assert_eq!(c.cmd("SISMEMBER int-set 3"), Resp::Int(1));
    assert_eq!(c.cmd("OBJECT ENCODING int-set"), bulk("intset"));
    assert_eq!(c.cmd("SCARD big-set"), Resp::Int(300));
    assert_eq!(
        c.cmd("LRANGE small-list 0 -1"),
        Resp::Array(Some(vec![bulk("a"), bulk("b")]))
    );
    assert_eq!(c.cmd("LLEN big-list"), Resp::Int(300));
    assert_eq!(
        c.cmd("LINDEX big-list 299"),
        bulk(&format!("299-{}", "x".repeat(100)))
    );
    assert_eq!(c.cmd("XLEN s"), Resp::Int(1));
    assert_eq!(c.cmd("HGET small-hash f"), bulk("v"));
    assert_eq!(c.cmd("HLEN big-hash"), Resp::Int(300));
    assert_eq!(c.cmd("HGET big-hash f150"), bulk("v150"));
    assert_eq!(c.cmd("GET k"), bulk("v"));
    assert_eq!(
        c.cmd("ZRANGE small-zset 0 -1 WITHSCORES"),
        Resp::Array(Some(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2.5")]))
    );
    assert_eq!(c.cmd("OBJECT ENCODING small-zset"), bulk("listpack"));
    assert_eq!(c.cmd("ZCARD big-zset"), Resp::Int(300));
    assert_eq!(c.cmd("ZSCORE big-zset m299"), bulk("299.5"));
    assert_eq!(c.cmd("ZRANK big-zset m150"), Resp::Int(150));
    assert_eq!(c.cmd("OBJECT ENCODING big-zset"), bulk("skiplist"));
    assert!(matches!(c.cmd("PTTL big-zset"), Resp::Int(n) if n > 0));
    drop(rill);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn types_rill_does_not_hold_stop_the_load_or_are_skipped_as_the_user_chooses() {
    if !redis_available() {
        return;
    }
    // Rill holds every type Redis 7.0 writes; a zipmap (RDB type 9, hashes of Redis 2.4 and
    // older) it does not. Redis's file gets one: the string `victim` retyped as a zipmap (both
    // are one string in the file), and the checksum made right again.
    let dir = scratch("unsupported");
    redis_file_of_every_type(&dir);
    let path = dir.join("dump.rdb");
    let mut file = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let at = file
        .windows(7)
        .position(|w| w == b"\x06victim")
        .unwrap_or_else(|| panic!("no victim key in the file"));
    assert_eq!(file[at - 1], 0, "victim is a string");
    file[at - 1] = 9;
    let body = file.len() - 8;
    let crc = rill_engine::rdb::crc64::crc64(&file[..body]);
    file[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &file).unwrap_or_else(|e| panic!("{e}"));

    // By default the start stops, naming the key and its type.
    let out = Command::new(BIN)
        .args(["--port", &common::free_port().to_string(), "--dir", d(&dir)])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("Rill does not support the value of key 'victim'")
            && said.contains("rdb-unsupported-types skip"),
        "{said}"
    );

    // With skip: the rest loads, the skipped key is counted in INFO.
    let rill = start(BIN, &["--dir", d(&dir), "--rdb-unsupported-types", "skip"]);
    let mut c = Conn::new(rill.port);
    assert_eq!(c.cmd("DBSIZE"), Resp::Int(11));
    assert_eq!(c.cmd("EXISTS victim"), Resp::Int(0));
    assert_eq!(c.cmd("ZCARD big-zset"), Resp::Int(300));
    let Resp::Bulk(Some(info)) = c.cmd("INFO persistence") else {
        panic!("INFO");
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(
        info.contains("\r\nrdb_last_load_keys_skipped:1\r\n"),
        "{info}"
    );
    assert!(
        info.contains("\r\nrdb_last_load_keys_loaded:11\r\n"),
        "{info}"
    );
    drop(rill);
    let _ = std::fs::remove_dir_all(&dir);
}
