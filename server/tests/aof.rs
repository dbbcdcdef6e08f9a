//! The append-only log, as an operator relies on it: `appendonly yes` keeps every
//! acknowledged write through SIGKILL, and Redis 7.0 and Rill open each other's directories.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::resp::{Conn, Resp};
use common::{call, connect, free_port, scratch, start_on_free_port, Server, BIN};

/// The tests of this file start and kill servers in quick succession; run one at a time so
/// that one test's free port is never another's server.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Starts `program` with `args` on a free port (see [`start_on_free_port`]).
fn spawn(program: &str, args: &[&str]) -> Server {
    start_on_free_port("127.0.0.1", |port| {
        let mut command = Command::new(program);
        command.args(["--port", &port.to_string()]).args(args);
        command
    })
}

fn rill(dir: &Path, fsync: &str) -> Server {
    rill_with(dir, fsync, &[])
}

fn rill_with(dir: &Path, fsync: &str, extra: &[&str]) -> Server {
    let dir = dir.to_str().unwrap_or_default();
    let mut args = vec!["--dir", dir, "--appendonly", "yes", "--appendfsync", fsync];
    args.extend_from_slice(extra);
    spawn(BIN, &args)
}

/// Starts Rill on `dir` (loading its log) and answers XLEN s.
fn xlen_after_restart(dir: &Path, fsync: &str) -> usize {
    let server = rill(dir, fsync);
    let mut c = connect(server.port);
    let len = call(&mut c, "XLEN s");
    len.trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or(usize::MAX)
}

/// Waits until the server at `c` has no rewrite running.
fn wait_for_rewrite(c: &mut std::net::TcpStream) {
    for _ in 0..1000 {
        if call(c, "INFO persistence").contains("aof_rewrite_in_progress:0") {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the rewrite did not finish");
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    crash_loop("crash", &[], false);
}

#[test]
fn every_acknowledged_write_survives_sigkill_during_rewrites() {
    // BGREWRITEAOF in a loop, and automatic rewrites at every 10% of growth past 16 KB: the
    // kills land before, during and after manifest swaps.
    crash_loop(
        "crash-rewrite",
        &[
            "--auto-aof-rewrite-percentage",
            "10",
            "--auto-aof-rewrite-min-size",
            "16kb",
        ],
        true,
    );
}

/// The stream IDs (`ms-seq`) among a reply's bulk strings: digits, a dash and digits
/// (values here hold a colon).
fn ids_in(reply: &Resp) -> Vec<String> {
    match reply {
        Resp::Array(Some(items)) => items.iter().flat_map(ids_in).collect(),
        Resp::Bulk(Some(b)) => {
            let text = String::from_utf8_lossy(b);
            let is_id = text.split_once('-').is_some_and(|(ms, seq)| {
                !ms.is_empty()
                    && !seq.is_empty()
                    && ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
            });
            if is_id {
                vec![text.into_owned()]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// What a group reader saw answered: entries delivered to it, and entries it acknowledged.
#[derive(Default, Clone)]
struct GroupSeen {
    delivered: std::collections::BTreeSet<String>,
    acked: std::collections::BTreeSet<String>,
    /// Acknowledged by an XACK whose answer never came (the kill came first): either way.
    unsure: std::collections::BTreeSet<String>,
}

/// Writers on three connections XADD with explicit increasing IDs under `appendfsync
/// always`, and a fourth connection reads s0 through group g (XREADGROUP COUNT 3) and
/// acknowledges some of what it got; the server is killed with SIGKILL at arbitrary moments
/// and restarted on the same directory; every acknowledged entry must be there with its
/// fields, and nothing never sent; every delivery answered must be pending unless its XACK
/// was answered, and no answered XACK undone.
fn crash_loop(tag: &str, extra: &[&str], rewrites: bool) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch(tag);
    let acked: Arc<Mutex<Vec<(usize, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let seen: Arc<Mutex<GroupSeen>> = Arc::default();
    let cycles: u64 = std::env::var("RILL_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    for cycle in 0..cycles {
        let server = rill_with(&dir, "always", extra);
        let stop = Arc::new(AtomicBool::new(false));
        let rewriter = rewrites.then(|| {
            let (stop, port) = (stop.clone(), server.port);
            std::thread::spawn(move || {
                let mut c = connect(port);
                while !stop.load(Ordering::Relaxed) {
                    if call(&mut c, "BGREWRITEAOF").is_empty() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(7));
                }
            })
        });
        let writers: Vec<_> = (0..3usize)
            .map(|w| {
                let (stop, acked, port) = (stop.clone(), acked.clone(), server.port);
                std::thread::spawn(move || {
                    let mut c = connect(port);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        // IDs increase across cycles: cycle in the milliseconds.
                        let id = format!("{}-{n}", cycle + 1);
                        let reply = call(&mut c, &format!("XADD s{w} {id} f {cycle}:{n}"));
                        if reply != format!("${}\r\n{id}\r\n", id.len()) {
                            // The server died mid-request: this write was never acknowledged.
                            break;
                        }
                        if let Ok(mut a) = acked.lock() {
                            a.push((w, (cycle + 1) << 32 | n));
                        }
                    }
                })
            })
            .collect();
        let reader = {
            let (stop, seen, port) = (stop.clone(), seen.clone(), server.port);
            std::thread::spawn(move || {
                let mut c = Conn::new(port);
                // The first cycle creates the group; later ones are answered BUSYGROUP.
                if c.try_cmd("XGROUP CREATE s0 g 0 MKSTREAM").is_none() {
                    return;
                }
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let read = "XREADGROUP GROUP g c COUNT 3 STREAMS s0 >";
                    let Some(reply) = c.try_cmd(read) else {
                        break;
                    };
                    let ids = ids_in(&reply);
                    if let Ok(mut s) = seen.lock() {
                        s.delivered.extend(ids.iter().cloned());
                    }
                    reads += 1;
                    let Some(first) = ids.first().filter(|_| reads.is_multiple_of(2)) else {
                        continue;
                    };
                    let ack = c.try_cmd(&format!("XACK s0 g {first}"));
                    let answered = ack == Some(Resp::Int(1));
                    if let Ok(mut s) = seen.lock() {
                        if answered {
                            s.acked.insert(first.clone());
                        } else {
                            s.unsure.insert(first.clone());
                        }
                    }
                    if !answered {
                        break;
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(50 + 37 * cycle));
        // SIGKILL at an arbitrary moment, writers still going.
        drop(server);
        stop.store(true, Ordering::Relaxed);
        for w in writers.into_iter().chain(rewriter).chain([reader]) {
            let _ = w.join();
        }
        // Restart on the same directory: every acknowledged entry is there, nothing else.
        let server = rill_with(&dir, "always", extra);
        let mut c = connect(server.port);
        let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
        for w in 0..3usize {
            let expected = acked.iter().filter(|(x, _)| *x == w).count();
            let len = call(&mut c, &format!("XLEN s{w}"));
            let len: usize = len.trim().trim_start_matches(':').parse().unwrap_or(0);
            // An entry may be on disk and unacknowledged (the kill came between its write and
            // its reply: at most one per writer per kill), never the other way round.
            assert!(
                len >= expected && len <= expected + cycle as usize + 1,
                "cycle {cycle}, stream s{w}: {len} entries, {expected} acknowledged"
            );
        }
        for (w, packed) in acked.iter().rev().take(20) {
            let id = format!("{}-{}", packed >> 32, packed & 0xffff_ffff);
            let got = call(&mut c, &format!("XRANGE s{w} {id} {id}"));
            let fields = format!("{}:{}", (packed >> 32) - 1, packed & 0xffff_ffff);
            assert!(
                got.contains(&id) && got.contains(&fields),
                "cycle {cycle}: acknowledged {id} on s{w} lost"
            );
        }
        // Deliveries logged but unanswered (the kill came first) may be pending too: they
        // join what the reader saw. Nothing answered is lost, no answered XACK undone.
        let listed = Conn::new(server.port).cmd("XPENDING s0 g - + 1000000");
        let pending: std::collections::BTreeSet<String> = ids_in(&listed).into_iter().collect();
        if let Ok(mut s) = seen.lock() {
            let lost: Vec<_> = s
                .delivered
                .difference(&s.acked)
                .filter(|id| !pending.contains(*id) && !s.unsure.contains(*id))
                .collect();
            assert!(
                lost.is_empty(),
                "cycle {cycle}: delivered, unacknowledged, not pending: {lost:?}"
            );
            let undone: Vec<_> = s.acked.intersection(&pending).collect();
            assert!(
                undone.is_empty(),
                "cycle {cycle}: acknowledged, pending again: {undone:?}"
            );
            assert!(
                cycle == 0 || !s.delivered.is_empty(),
                "the reader read nothing"
            );
            // An unanswered XACK took effect exactly when its entry is no longer pending.
            let unsure = std::mem::take(&mut s.unsure);
            let applied = unsure.into_iter().filter(|id| !pending.contains(id));
            s.acked.extend(applied.collect::<Vec<_>>());
            s.delivered.extend(pending);
        }
        if rewrites {
            let info = call(&mut c, "INFO persistence");
            assert!(info.contains("aof_last_write_status:ok"), "{info}");
        }
    }
    if rewrites {
        // The rewrites did happen: the base is no longer the first one.
        let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
            .unwrap_or_default();
        assert!(
            !manifest.contains("appendonly.aof.1.base."),
            "no rewrite completed: {manifest}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_and_rill_open_each_other_s_directories_with_rdb_bases() {
    // Redis 7.0 reads RDB up to version 10.
    open_each_other_s_directories("rdb", &["--rdb-write-version", "10"]);
}

#[test]
fn redis_and_rill_open_each_other_s_directories_with_command_bases() {
    open_each_other_s_directories("aof", &["--aof-use-rdb-preamble", "no"]);
}

/// Rill writes, Redis 7.0 reads: a rewritten base (`base_form`: "rdb" or "aof", as `options`
/// choose) and the incremental file after it; then Redis appends and rewrites its own base
/// of the same form, and Rill reads that.
fn open_each_other_s_directories(base_form: &str, options: &[&str]) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !common::resp::redis_available() {
        return;
    }
    let dir = scratch(&format!("to-redis-{base_form}"));
    let rill_view;
    {
        let server = rill_with(&dir, "everysec", options);
        let mut c = connect(server.port);
        for i in 1..=3 {
            assert!(call(&mut c, &format!("XADD s {i}-1 f v{i}")).contains(&format!("{i}-1")));
        }
        assert_eq!(call(&mut c, "XGROUP CREATE s g 0"), "+OK\r\n");
        assert!(call(&mut c, "XREADGROUP GROUP g c COUNT 2 STREAMS s >").starts_with("*1"));
        assert_eq!(call(&mut c, "XDEL s 3-1"), ":1\r\n");
        assert_eq!(call(&mut c, "XGROUP CREATE e g $ MKSTREAM"), "+OK\r\n");
        assert!(call(&mut c, "BGREWRITEAOF").contains("rewriting started"));
        wait_for_rewrite(&mut c);
        for i in 4..=6 {
            assert!(call(&mut c, &format!("XADD s {i}-1 f v{i}")).contains(&format!("{i}-1")));
        }
        // Two deliveries of one read: logged as one XCLAIM naming both, which Redis loads.
        assert!(call(&mut c, "XREADGROUP GROUP g d COUNT 2 STREAMS s >").starts_with("*1"));
        assert_eq!(call(&mut c, "SET k v EX 1000"), "+OK\r\n");
        assert_eq!(call(&mut c, "HSET h a 1 b 2"), ":2\r\n");
        for i in 0..150 {
            call(&mut c, &format!("HSET big-hash f{i} {i}"));
            call(&mut c, &format!("RPUSH list {i}"));
            call(&mut c, &format!("SADD set {i} m{i}"));
            call(&mut c, &format!("ZADD zset {i}.5 m{i}"));
        }
        assert_eq!(call(&mut c, "ZADD small-zset 0.1 a -inf b"), ":2\r\n");
        rill_view = stream_view(&mut c);
        // A clean stop: the log is synced on the way out.
        let _ = call(&mut c, "SHUTDOWN");
    }
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .unwrap_or_default();
    assert!(
        manifest.contains(&format!("appendonly.aof.2.base.{base_form}")),
        "{manifest}"
    );
    let d = dir.to_str().unwrap_or_default().to_string();
    let preamble = if base_form == "rdb" { "yes" } else { "no" };
    let redis_args = [
        "--dir",
        &d,
        "--appendonly",
        "yes",
        "--save",
        "",
        "--aof-use-rdb-preamble",
        preamble,
    ];
    let redis = spawn("redis-server", &redis_args);
    let mut r = connect(redis.port);
    assert!(rill_view.contains("c\r\n:T\r\n:1"), "{rill_view}");
    assert_eq!(stream_view(&mut r), rill_view);
    assert_eq!(call(&mut r, "GET k"), "$1\r\nv\r\n");
    assert_eq!(
        call(&mut r, "HGETALL h"),
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(call(&mut r, "HLEN big-hash"), ":150\r\n");
    assert_eq!(call(&mut r, "HDEL h a"), ":1\r\n");
    assert_eq!(call(&mut r, "LINDEX list 149"), "$3\r\n149\r\n");
    assert_eq!(call(&mut r, "LPOP list"), "$1\r\n0\r\n");
    assert_eq!(call(&mut r, "SCARD set"), ":300\r\n");
    assert_eq!(call(&mut r, "SREM set m0"), ":1\r\n");
    assert_eq!(call(&mut r, "ZCARD zset"), ":150\r\n");
    assert_eq!(call(&mut r, "ZSCORE zset m149"), "$5\r\n149.5\r\n");
    assert_eq!(call(&mut r, "ZSCORE small-zset b"), "$4\r\n-inf\r\n");
    assert_eq!(
        call(&mut r, "ZSCORE small-zset a"),
        "$19\r\n0.10000000000000001\r\n"
    );
    assert_eq!(call(&mut r, "ZREM zset m0"), ":1\r\n");
    // Redis appends to the same directory and rewrites it; Rill reads what Redis wrote.
    assert!(call(&mut r, "XADD s 7-1 f v7").contains("7-1"));
    assert_eq!(call(&mut r, "INCR n"), ":1\r\n");
    assert!(call(&mut r, "BGREWRITEAOF").contains("rewriting"));
    wait_for_rewrite(&mut r);
    assert!(call(&mut r, "XREADGROUP GROUP g c COUNT 1 STREAMS s >").starts_with("*1"));
    let redis_view = stream_view(&mut r);
    let _ = call(&mut r, "SHUTDOWN");
    drop(redis);
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .unwrap_or_default();
    assert!(
        manifest.contains(&format!("appendonly.aof.3.base.{base_form}")),
        "{manifest}"
    );
    let server = rill_with(&dir, "everysec", options);
    let mut c = connect(server.port);
    assert_eq!(stream_view(&mut c), redis_view);
    assert_eq!(call(&mut c, "GET n"), "$1\r\n1\r\n");
    assert_eq!(call(&mut c, "GET k"), "$1\r\nv\r\n");
    assert_eq!(call(&mut c, "HGETALL h"), "*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    assert_eq!(call(&mut c, "HGET big-hash f149"), "$3\r\n149\r\n");
    assert_eq!(call(&mut c, "LLEN list"), ":149\r\n");
    assert_eq!(call(&mut c, "LINDEX list 0"), "$1\r\n1\r\n");
    assert_eq!(call(&mut c, "SCARD set"), ":299\r\n");
    assert_eq!(call(&mut c, "SISMEMBER set 149"), ":1\r\n");
    assert_eq!(call(&mut c, "ZCARD zset"), ":149\r\n");
    assert_eq!(call(&mut c, "ZRANK zset m149"), ":148\r\n");
    assert_eq!(call(&mut c, "ZSCORE small-zset a"), "$3\r\n0.1\r\n");
    assert_eq!(call(&mut c, "ZSCORE small-zset b"), "$4\r\n-inf\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What both servers must agree on after a reload: the entries, the groups' positions,
/// counters and lag, and the PEL (owner and delivery count; times left out), of `s` and `e`,
/// and the absolute expiry time of `k`.
fn stream_view(c: &mut std::net::TcpStream) -> String {
    let mut view = String::new();
    for command in [
        "XRANGE s - +",
        "XINFO GROUPS s",
        "XPENDING s g - + 100",
        "XLEN e",
        "XINFO GROUPS e",
        "PEXPIRETIME k",
    ] {
        let reply = call(c, command);
        view.push_str(&if command.starts_with("XPENDING") {
            mask_idle(&reply)
        } else {
            reply
        });
    }
    view
}

/// XPENDING's rows with the idle times (clock readings) replaced by `T`: in a row, the idle
/// time is the first of its two integers.
fn mask_idle(reply: &str) -> String {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let idle = line.starts_with(':') && lines.get(i + 1).is_some_and(|l| l.starts_with(':'));
        out.push(if idle { ":T" } else { line });
    }
    out.join("\r\n")
}

#[test]
fn a_torn_tail_is_cut_or_refused_as_aof_load_truncated_says() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("torn");
    {
        let server = rill(&dir, "always");
        let mut c = connect(server.port);
        for i in 1..=3 {
            assert!(call(&mut c, &format!("XADD s {i}-1 f v{i}")).contains(&format!("{i}-1")));
        }
    }
    // A crash in the middle of writing the last record: its last bytes never reached the disk.
    let incr = dir.join("appendonlydir").join("appendonly.aof.1.incr.aof");
    let whole = std::fs::read(&incr).unwrap_or_else(|e| panic!("read: {e}"));
    std::fs::write(&incr, &whole[..whole.len() - 5]).unwrap_or_else(|e| panic!("write: {e}"));
    // aof-load-truncated no: the server refuses to start and says why.
    let out = Command::new(BIN)
        .args([
            "--port",
            &free_port().to_string(),
            "--dir",
            dir.to_str().unwrap_or_default(),
            "--appendonly",
            "yes",
            "--aof-load-truncated",
            "no",
        ])
        .output()
        .unwrap_or_else(|e| panic!("run: {e}"));
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Unexpected end of file"), "{text}");
    // The default (yes): the torn record is cut, the rest loads, and writing goes on after it.
    let server = rill(&dir, "always");
    let mut c = connect(server.port);
    assert_eq!(call(&mut c, "XLEN s"), ":2\r\n");
    assert!(call(&mut c, "XADD s 4-1 f v4").contains("4-1"));
    drop(server);
    assert_eq!(xlen_after_restart(&dir, "always"), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn appendonly_turned_on_and_off_at_run_time() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("runtime");
    let d = dir.to_str().unwrap_or_default().to_string();
    let server = spawn(BIN, &["--dir", &d]);
    let mut c = connect(server.port);
    assert!(call(&mut c, "XADD s 1-1 f v1").contains("1-1"));
    assert_eq!(call(&mut c, "SET k v"), "+OK\r\n");
    assert!(call(&mut c, "INFO persistence").contains("aof_enabled:0"));
    // On: a rewrite writes the data so far as the base; changes go to the file after it.
    assert_eq!(call(&mut c, "CONFIG SET appendonly yes"), "+OK\r\n");
    assert!(call(&mut c, "INFO persistence").contains("aof_enabled:1"));
    wait_for_rewrite(&mut c);
    assert!(call(&mut c, "XADD s 2-1 f v2").contains("2-1"));
    assert_eq!(call(&mut c, "CONFIG SET appendfsync always"), "+OK\r\n");
    assert!(call(&mut c, "XADD s 3-1 f v3").contains("3-1"));
    let info = call(&mut c, "INFO persistence");
    assert!(
        info.contains("aof_rewrites:1") && info.contains("aof_last_bgrewrite_status:ok"),
        "{info}"
    );
    drop(server); // SIGKILL
    let server = rill(&dir, "everysec");
    let mut c = connect(server.port);
    assert_eq!(call(&mut c, "XLEN s"), ":3\r\n");
    assert_eq!(call(&mut c, "GET k"), "$1\r\nv\r\n");
    // Off: nothing more is logged.
    assert_eq!(call(&mut c, "CONFIG SET appendonly no"), "+OK\r\n");
    assert!(call(&mut c, "INFO persistence").contains("aof_enabled:0"));
    assert!(call(&mut c, "XADD s 4-1 f v4").contains("4-1"));
    drop(server);
    assert_eq!(xlen_after_restart(&dir, "everysec"), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clients_get_loading_while_the_log_loads() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("loading");
    let aof = dir.join("appendonlydir");
    std::fs::create_dir_all(&aof).unwrap_or_else(|e| panic!("{e}"));
    // Loaded with Redis's key-load-delay, so that the load lasts long enough to be seen
    // whatever the machine's speed.
    const ENTRIES: usize = 20_000;
    let mut base = Vec::with_capacity(ENTRIES * 60);
    for i in 1..=ENTRIES {
        let id = format!("{i}-1");
        base.extend_from_slice(
            format!(
                "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n${}\r\n{id}\r\n$1\r\nf\r\n$1\r\nv\r\n",
                id.len()
            )
            .as_bytes(),
        );
    }
    std::fs::write(aof.join("appendonly.aof.1.base.aof"), &base).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(aof.join("appendonly.aof.1.incr.aof"), b"").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        aof.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            dir.to_str().unwrap_or_default(),
            "--appendonly",
            "yes",
            "--key-load-delay",
            "50",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let server = Server { child, port };
    let mut c = loop {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            c.set_read_timeout(Some(Duration::from_secs(5))).ok();
            break c;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (mut loading, mut info_while_loading) = (0, false);
    loop {
        let reply = call(&mut c, "PING");
        if reply == "+PONG\r\n" {
            break;
        }
        assert_eq!(reply, "-LOADING Redis is loading the dataset in memory\r\n");
        loading += 1;
        info_while_loading |= call(&mut c, "INFO persistence").contains("\r\nloading:1\r\n");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        loading > 0 && info_while_loading,
        "the load of {ENTRIES} entries was never seen"
    );
    assert_eq!(call(&mut c, "XLEN s"), format!(":{ENTRIES}\r\n"));
    assert!(call(&mut c, "INFO persistence").contains("\r\nloading:0\r\n"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_embedded_engine_and_the_server_open_each_other_s_directories() {
    use rill_engine::{Bytes, Config, Engine, Reply};
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("embedded");
    let run = |engine: &Engine, words: &[&str]| -> Reply {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        engine.session().execute(&args).into_tree()
    };
    let engine = Engine::open(&dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
    run(&engine, &["XADD", "s", "1-1", "f", "v1"]);
    run(&engine, &["XGROUP", "CREATE", "s", "g", "0"]);
    run(
        &engine,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
    );
    engine.close();
    drop(engine);
    let server = rill(&dir, "everysec");
    let mut c = connect(server.port);
    assert_eq!(call(&mut c, "XLEN s"), ":1\r\n");
    assert!(call(&mut c, "XPENDING s g").starts_with("*4\r\n:1\r\n"));
    assert!(call(&mut c, "XADD s 2-1 f v2").contains("2-1"));
    let _ = call(&mut c, "SHUTDOWN");
    drop(server);
    let engine = Engine::open(&dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run(&engine, &["XLEN", "s"]), Reply::Integer(2));
    engine.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rill_loads_a_redis_directory_whose_base_is_rdb() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !common::resp::redis_available() {
        return;
    }
    // Redis's defaults: aof-use-rdb-preamble yes, so its rewrite writes an RDB base.
    let dir = scratch("rdb-base");
    let d = dir.to_str().unwrap_or_default().to_string();
    let redis = spawn(
        "redis-server",
        &["--dir", &d, "--appendonly", "yes", "--save", ""],
    );
    let mut r = connect(redis.port);
    for i in 1..=3 {
        assert!(call(&mut r, &format!("XADD s {i}-1 f v{i}")).contains(&format!("{i}-1")));
    }
    assert_eq!(call(&mut r, "XGROUP CREATE s g 0"), "+OK\r\n");
    assert!(call(&mut r, "XREADGROUP GROUP g c COUNT 2 STREAMS s >").starts_with("*1"));
    assert!(call(&mut r, "BGREWRITEAOF").contains("rewriting"));
    wait_for_rewrite(&mut r);
    // After the base: commands in the incremental file.
    assert!(call(&mut r, "XADD s 4-1 f v4").contains("4-1"));
    assert_eq!(call(&mut r, "SET k v"), "+OK\r\n");
    let redis_view = stream_view(&mut r);
    let _ = call(&mut r, "SHUTDOWN");
    drop(redis);
    let base = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".base.rdb"));
    assert!(base.is_some(), "Redis wrote no RDB base");
    let server = rill(&dir, "everysec");
    let mut c = connect(server.port);
    assert_eq!(stream_view(&mut c), redis_view);
    assert_eq!(call(&mut c, "GET k"), "$1\r\nv\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
