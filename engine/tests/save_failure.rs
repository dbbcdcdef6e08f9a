//! A failed background save stops writes while save points are set, as Redis's
//! `stop-writes-on-bgsave-error` does: writes (and PING) get MISCONF, reads go on, and
//! writes pass again when the directive is off or no save point is set.

use std::time::{Duration, Instant};

use rill_engine::{Bytes, Config, Engine, Reply, Session};

fn run(s: &mut Session, line: &[&str]) -> Reply {
    let args: Vec<Bytes> = line
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    s.execute(&args).into_tree()
}

fn text(reply: Reply) -> String {
    match reply {
        Reply::Bulk(b) | Reply::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
        Reply::Simple(s) => s.to_string(),
        Reply::Error(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_failed_background_save_stops_writes_until_told_otherwise() {
    let dir = std::env::temp_dir().join(format!("rill-save-failure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::open(&dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut s = engine.session();
    assert_eq!(text(run(&mut s, &["SET", "k", "v"])), "OK");
    // The snapshot has nowhere to go.
    std::fs::remove_dir_all(&dir).expect("remove the data directory");
    assert!(text(run(&mut s, &["BGSAVE"])).contains("Background saving started"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = text(run(&mut s, &["INFO", "persistence"]));
        if info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_last_bgsave_status:err")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the save did not fail: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = text(run(&mut s, &["SET", "k", "v2"]));
    assert!(refused.starts_with("MISCONF"), "{refused}");
    assert!(text(run(&mut s, &["PING"])).starts_with("MISCONF"));
    assert_eq!(text(run(&mut s, &["GET", "k"])), "v");
    run(
        &mut s,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    );
    assert_eq!(text(run(&mut s, &["SET", "k", "v3"])), "OK");
    run(
        &mut s,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    );
    assert!(text(run(&mut s, &["SET", "k", "v4"])).starts_with("MISCONF"));
    run(&mut s, &["CONFIG", "SET", "save", ""]);
    assert_eq!(text(run(&mut s, &["SET", "k", "v5"])), "OK");
}
