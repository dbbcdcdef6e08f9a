//! The append-only log, as an operator relies on it: `appendonly yes` keeps every
//! acknowledged write through SIGKILL, and Redis 7.0 and Rill open each other's directories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{call, connect, free_port, start_command, Server, BIN};

/// The tests of this file start and kill servers in quick succession; run one at a time so
/// that one test's free port is never another's server.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rill-aof-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    dir
}

fn spawn(program: &str, args: &[&str], port: u16) -> Server {
    let mut command = Command::new(program);
    command.args(args);
    start_command(command, "127.0.0.1", port)
}

fn rill(dir: &Path, fsync: &str) -> Server {
    let port = free_port();
    let dir = dir.to_str().unwrap_or_default();
    let p = port.to_string();
    spawn(
        BIN,
        &[
            "--port",
            &p,
            "--dir",
            dir,
            "--appendonly",
            "yes",
            "--appendfsync",
            fsync,
        ],
        port,
    )
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("crash");
    let acked: Arc<Mutex<Vec<(usize, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    for cycle in 0..6u64 {
        let server = rill(&dir, "always");
        let stop = Arc::new(AtomicBool::new(false));
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
        std::thread::sleep(Duration::from_millis(50 + 37 * cycle));
        // SIGKILL at an arbitrary moment, writers still going.
        drop(server);
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.join();
        }
        // Restart on the same directory: every acknowledged entry is there, nothing else.
        let server = rill(&dir, "always");
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
            assert!(
                got.contains(&id),
                "cycle {cycle}: acknowledged {id} on s{w} lost"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_and_rill_open_each_other_s_directories() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if which("redis-server").is_none() {
        eprintln!("SKIPPED AOF interchange: redis-server is not installed");
        assert!(
            std::env::var("RILL_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-server is required"
        );
        return;
    }
    // Rill writes, Redis 7.0 reads.
    let dir = scratch("to-redis");
    {
        let server = rill(&dir, "everysec");
        let mut c = connect(server.port);
        for i in 1..=5 {
            assert!(call(&mut c, &format!("XADD s {i}-1 f v{i}")).contains(&format!("{i}-1")));
        }
        assert_eq!(call(&mut c, "XGROUP CREATE s g 0"), "+OK\r\n");
        assert!(call(&mut c, "XREADGROUP GROUP g c COUNT 2 STREAMS s >").starts_with("*1"));
        assert_eq!(call(&mut c, "SET k v EX 1000"), "+OK\r\n");
        // A clean stop: the log is synced on the way out.
        let _ = call(&mut c, "SHUTDOWN");
    }
    let port = free_port();
    let p = port.to_string();
    let d = dir.to_str().unwrap_or_default().to_string();
    let redis = spawn(
        "redis-server",
        &[
            "--port",
            &p,
            "--dir",
            &d,
            "--appendonly",
            "yes",
            "--save",
            "",
            "--aof-use-rdb-preamble",
            "no",
        ],
        port,
    );
    let mut r = connect(redis.port);
    assert_eq!(call(&mut r, "XLEN s"), ":5\r\n");
    assert!(call(&mut r, "XPENDING s g").starts_with("*4\r\n:2\r\n"));
    assert_eq!(call(&mut r, "GET k"), "$1\r\nv\r\n");
    // Redis appends to the same directory; Rill reads what Redis wrote.
    assert!(call(&mut r, "XADD s 6-1 f v6").contains("6-1"));
    assert_eq!(call(&mut r, "INCR n"), ":1\r\n");
    let _ = call(&mut r, "SHUTDOWN");
    drop(redis);
    let server = rill(&dir, "everysec");
    let mut c = connect(server.port);
    assert_eq!(call(&mut c, "XLEN s"), ":6\r\n");
    assert_eq!(call(&mut c, "GET n"), "$1\r\n1\r\n");
    assert!(call(&mut c, "XPENDING s g").starts_with("*4\r\n:2\r\n"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
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
    let server = rill(&dir, "always");
    let mut c = connect(server.port);
    assert_eq!(call(&mut c, "XLEN s"), ":3\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
