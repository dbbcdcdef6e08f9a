//! Damaged logs, as a crash or a bad disk leaves them: a log cut at any byte of its last
//! record loads everything before that record (`aof-load-truncated yes`) or refuses to start
//! (`no`); a byte changed anywhere either loads or is refused with the file and offset;
//! nothing panics.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use rill_engine::{Config, Engine, Reply};

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rill-damage-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(engine: &Engine, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
    engine.session().execute(&args).into_tree()
}

/// A log with a few records; returns the incremental file's path and where its last record
/// starts.
fn written_log(dir: &Path) -> (PathBuf, usize) {
    let engine = Engine::open(dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
    run(&engine, &["XADD", "s", "1-1", "f", "v1"]);
    run(&engine, &["XADD", "s", "2-1", "f", "v2"]);
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    let before_last = std::fs::metadata(&incr).map(|m| m.len()).unwrap_or(0) as usize;
    run(&engine, &["XADD", "s", "3-1", "field", "a longer value"]);
    engine.close();
    (incr, before_last)
}

fn config(load_truncated: &str) -> Config {
    let mut config = Config::default();
    config
        .set("aof-load-truncated", load_truncated, true)
        .unwrap_or_else(|e| panic!("{e}"));
    config
}

#[test]
fn a_log_cut_anywhere_in_its_last_record_loads_the_rest_or_is_refused() {
    let dir = scratch("cut");
    let (incr, last_start) = written_log(&dir);
    let whole = std::fs::read(&incr).unwrap_or_else(|e| panic!("{e}"));
    for cut in last_start..whole.len() {
        std::fs::write(&incr, &whole[..cut]).unwrap_or_else(|e| panic!("{e}"));
        let refused = Engine::open(&dir, config("no"));
        if cut == last_start {
            // Cut between records: nothing is torn.
            assert!(refused.is_ok(), "cut at {cut}: {:?}", refused.err());
        } else {
            let err = refused.err().map(|e| e.0).unwrap_or_default();
            assert!(
                err.contains("Unexpected end of file") && err.contains("appendonly.aof.1.incr.aof"),
                "cut at {cut}: {err}"
            );
        }
        std::fs::write(&incr, &whole[..cut]).unwrap_or_else(|e| panic!("{e}"));
        let engine =
            Engine::open(&dir, config("yes")).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(
            run(&engine, &["XLEN", "s"]),
            Reply::Integer(2),
            "cut at {cut}"
        );
        // The torn bytes are gone from the file, and new records follow the good ones.
        run(&engine, &["XADD", "s", "9-1", "f", "v9"]);
        engine.close();
        let engine =
            Engine::open(&dir, config("no")).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(
            run(&engine, &["XLEN", "s"]),
            Reply::Integer(3),
            "cut at {cut}"
        );
        engine.close();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_changed_byte_anywhere_loads_or_is_refused_naming_the_file() {
    let dir = scratch("flip");
    let (incr, _) = written_log(&dir);
    let whole = std::fs::read(&incr).unwrap_or_else(|e| panic!("{e}"));
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let manifest_text = std::fs::read(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let (mut loaded, mut refused) = (0, 0);
    for at in 0..whole.len() {
        for replacement in [b'x', b'\r', b'9', 0u8] {
            let mut damaged = whole.clone();
            if damaged[at] == replacement {
                continue;
            }
            damaged[at] = replacement;
            std::fs::write(&incr, &damaged).unwrap_or_else(|e| panic!("{e}"));
            match Engine::open(&dir, config("no")) {
                Ok(engine) => {
                    loaded += 1;
                    engine.close();
                }
                Err(e) => {
                    refused += 1;
                    assert!(
                        e.0.contains("appendonly.aof.1.incr.aof")
                            || e.0.contains("Unknown command"),
                        "byte {at} = {replacement}: {e}"
                    );
                }
            }
            // Opening may have appended nothing, but restore the file for the next case.
            std::fs::write(&incr, &whole).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert!(
        refused > 0 && loaded > 0,
        "loaded {loaded}, refused {refused}"
    );
    // A damaged manifest is refused with Redis's words, never half-read.
    for at in 0..manifest_text.len() {
        let mut damaged = manifest_text.clone();
        damaged[at] = b'"';
        std::fs::write(&manifest, &damaged).unwrap_or_else(|e| panic!("{e}"));
        if let Ok(engine) = Engine::open(&dir, config("no")) {
            engine.close();
        }
    }
    std::fs::write(&manifest, &manifest_text).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A blocking command in the log (no server writes one, but a file can hold anything)
/// answers at once while loading, as for Redis's AOF client, instead of waiting for ever.
#[test]
fn a_blocking_command_in_the_log_does_not_hang_the_load() {
    let dir = scratch("blocking");
    let (incr, _) = written_log(&dir);
    let mut log = std::fs::read(&incr).unwrap_or_else(|e| panic!("{e}"));
    log.extend_from_slice(b"*3\r\n$5\r\nBLPOP\r\n$4\r\nnone\r\n$1\r\n0\r\n");
    log.extend_from_slice(b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$3\r\n4-1\r\n$1\r\nf\r\n$2\r\nv4\r\n");
    std::fs::write(&incr, &log).unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::open(&dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run(&engine, &["XLEN", "s"]), Reply::Integer(4));
    engine.close();
    let _ = std::fs::remove_dir_all(&dir);
}
