//! Commands given as values (`Prepared`, what the embedded client sends) behave as their
//! text: same replies and errors, same refusals, MULTI queuing, counting, slow log, and the
//! append-only log replays them.

use std::path::PathBuf;

use bytes::Bytes;
use rill_engine::{Config, Engine, Prepared, Reply, Session, StreamId};

fn args(words: &[&str]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::from(w.to_string())).collect()
}

fn run(session: &mut Session, words: &[&str]) -> Reply {
    session.execute(&args(words)).into_tree()
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
    pairs
        .iter()
        .map(|(f, v)| (Bytes::from(f.to_string()), Bytes::from(v.to_string())))
        .collect()
}

fn add(session: &mut Session, key: &str, pairs: &[(&str, &str)]) -> Reply {
    let key = Bytes::from(key.to_string());
    let fields = fields(pairs);
    session
        .execute_prepared(Prepared::Add {
            key: &key,
            fields: &fields,
        })
        .into_tree()
}

fn ack(session: &mut Session, key: &str, group: &str, ids: &[StreamId]) -> Reply {
    let (key, group) = (Bytes::from(key.to_string()), Bytes::from(group.to_string()));
    session
        .execute_prepared(Prepared::Ack {
            key: &key,
            group: &group,
            ids,
        })
        .into_tree()
}

fn id_of(reply: &Reply) -> StreamId {
    match reply {
        Reply::Bulk(b) => StreamId::from_text(b),
        Reply::Id(id) => Some(*id),
        _ => None,
    }
    .unwrap_or_else(|| panic!("not an ID: {reply:?}"))
}

#[test]
fn prepared_commands_answer_as_their_text() {
    let engine = Engine::new();
    let mut s = engine.session();
    run(&mut s, &["SET", "str", "x"]);
    // Errors: another type, no fields, no IDs.
    assert_eq!(
        add(&mut s, "str", &[("f", "v")]),
        run(&mut s, &["XADD", "str", "*", "f", "v"])
    );
    assert_eq!(
        add(&mut s, "s", &[]),
        run(&mut s, &["XADD", "s", "*"]),
        "no fields: XADD's arity error"
    );
    assert_eq!(ack(&mut s, "s", "g", &[]), run(&mut s, &["XACK", "s", "g"]));
    assert_eq!(
        ack(&mut s, "str", "g", &[StreamId::new(1, 1)]),
        run(&mut s, &["XACK", "str", "g", "1-1"])
    );
    // No key, no group: nothing acknowledged.
    let one = [StreamId::new(1, 1)];
    assert_eq!(ack(&mut s, "none", "g", &one), Reply::Integer(0));

    // The entries are what the text would have stored, in order, with rising IDs.
    let a = id_of(&add(&mut s, "s", &[("f", "1"), ("g", "2")]));
    let b = id_of(&run(&mut s, &["XADD", "s", "*", "f", "3"]));
    let c = id_of(&add(&mut s, "s", &[("f", "4")]));
    assert!(a < b && b < c);
    let range = run(&mut s, &["XRANGE", "s", "-", "+"]);
    let entry = |id: StreamId, kv: &[&str]| {
        Reply::Array(vec![
            Reply::Bulk(id.to_bytes()),
            Reply::Array(
                kv.iter()
                    .map(|w| Reply::Bulk(Bytes::from(w.to_string())))
                    .collect(),
            ),
        ])
    };
    assert_eq!(
        range,
        Reply::Array(vec![
            entry(a, &["f", "1", "g", "2"]),
            entry(b, &["f", "3"]),
            entry(c, &["f", "4"])
        ])
    );

    // Acknowledging: as many as were pending, the others not counted.
    run(&mut s, &["XGROUP", "CREATE", "s", "g", "0"]);
    run(
        &mut s,
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
    );
    assert_eq!(ack(&mut s, "s", "nogroup", &[a]), Reply::Integer(0));
    assert_eq!(ack(&mut s, "s", "g", &[a, b]), Reply::Integer(2));
    assert_eq!(ack(&mut s, "s", "g", &[a, b, c]), Reply::Integer(1));
    let pending = run(&mut s, &["XPENDING", "s", "g"]);
    assert!(
        matches!(&pending, Reply::Array(p) if p[0] == Reply::Integer(0)),
        "{pending:?}"
    );

    // Counted as the commands they are.
    let stats = run(&mut s, &["INFO", "commandstats"]);
    let (Reply::Bulk(stats) | Reply::Verbatim(stats)) = stats else {
        panic!("INFO: {stats:?}")
    };
    let stats = String::from_utf8_lossy(&stats);
    let calls = |name: &str| {
        stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .and_then(|l| l.split_once(':'))
            .map(|(_, counts)| {
                counts
                    .split(',')
                    .filter(|c| !c.starts_with("usec"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
    };
    // Refused for arity: rejected calls; WRONGTYPE: failed calls.
    let counts = "calls=5,rejected_calls=2,failed_calls=2";
    assert_eq!(calls("xadd").as_deref(), Some(counts), "{stats}");
    let counts = "calls=6,rejected_calls=2,failed_calls=2";
    assert_eq!(calls("xack").as_deref(), Some(counts), "{stats}");
}

#[test]
fn prepared_commands_queue_in_multi_and_show_as_text_in_the_slow_log() {
    let engine = Engine::new();
    let mut s = engine.session();
    run(&mut s, &["MULTI"]);
    assert_eq!(
        add(&mut s, "s", &[("f", "v")]),
        Reply::Simple("QUEUED".into())
    );
    let exec = run(&mut s, &["EXEC"]);
    let Reply::Array(items) = &exec else {
        panic!("EXEC: {exec:?}")
    };
    let id = id_of(&items[0]);
    assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(1));

    run(&mut s, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    run(&mut s, &["SLOWLOG", "RESET"]);
    ack(&mut s, "s", "g", &[id]);
    let log = run(&mut s, &["SLOWLOG", "GET", "1"]);
    let Reply::Array(entries) = &log else {
        panic!("SLOWLOG: {log:?}")
    };
    let Reply::Array(entry) = &entries[0] else {
        panic!("SLOWLOG entry: {log:?}")
    };
    let text: Vec<Reply> = ["XACK", "s", "g", &id.to_string()]
        .iter()
        .map(|w| Reply::Bulk(Bytes::from(w.to_string())))
        .collect();
    assert_eq!(entry[3], Reply::Array(text));
}

#[test]
fn prepared_commands_are_refused_as_their_text() {
    let mut config = Config::default();
    config
        .set("requirepass", "secret", true)
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::with_config(config);
    let mut s = engine.session();
    let refused = add(&mut s, "s", &[("f", "v")]);
    assert_eq!(refused, run(&mut s, &["XADD", "s", "*", "f", "v"]));
    assert!(matches!(&refused, Reply::Error(e) if e.starts_with("NOAUTH")));
    let mut trusted = engine.trusted_session();
    assert_eq!(run(&mut trusted, &["XLEN", "s"]), Reply::Integer(0));
}

#[test]
fn prepared_commands_are_logged_and_replayed() {
    let dir: PathBuf = std::env::temp_dir().join(format!("rill-prepared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = |s: &mut Session| {
        [
            run(s, &["XRANGE", "s", "-", "+"]),
            run(s, &["XPENDING", "s", "g", "-", "+", "10"]),
            run(s, &["XINFO", "GROUPS", "s"]),
        ]
    };
    let before = {
        let engine = Engine::open(&dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut s = engine.session();
        let ids: Vec<StreamId> = (0..5)
            .map(|n| id_of(&add(&mut s, "s", &[("n", &n.to_string())])))
            .collect();
        run(&mut s, &["XGROUP", "CREATE", "s", "g", "0"]);
        run(
            &mut s,
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        );
        assert_eq!(ack(&mut s, "s", "g", &ids[1..3]), Reply::Integer(2));
        let before = state(&mut s);
        let Reply::Array(pending) = &before[1] else {
            panic!("XPENDING: {:?}", before[1])
        };
        assert_eq!(pending.len(), 3, "two of five acknowledged");
        engine.close();
        before
    };
    let engine = Engine::open(&dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut s = engine.session();
    let after = state(&mut s);
    // Idle times differ after a reload; the rest must not.
    assert_eq!(before[0], after[0]);
    assert_eq!(before[2], after[2]);
    let shape = |r: &Reply| match r {
        Reply::Array(rows) => rows
            .iter()
            .map(|row| match row {
                Reply::Array(cols) => vec![cols[0].clone(), cols[1].clone(), cols[3].clone()],
                other => vec![other.clone()],
            })
            .collect::<Vec<_>>(),
        other => vec![vec![other.clone()]],
    };
    assert_eq!(shape(&before[1]), shape(&after[1]));
    engine.close();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pipeline (`Session::execute_all`) of text and prepared commands answers as the same
/// commands one by one do, and once it returns under `appendfsync always` the log on disk
/// holds all of them (the log is waited for once, after the last).
#[test]
fn a_pipeline_answers_as_its_commands_and_is_logged_when_it_returns() {
    let dir: PathBuf = std::env::temp_dir().join(format!("rill-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::default();
    config
        .set("appendfsync", "always", true)
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::open(&dir, config).unwrap_or_else(|e| panic!("{e}"));
    let mut s = engine.session();
    let (key, values) = (Bytes::from_static(b"s"), fields(&[("f", "v")]));
    let explicit = args(&["XADD", "s", "5-1", "n", "1"]);
    let group = args(&["XGROUP", "CREATE", "s", "g", "0"]);
    let read = args(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
    let replies = s.execute_all([
        rill_engine::Request::Text(&explicit),
        rill_engine::Request::Prepared(Prepared::Add {
            key: &key,
            fields: &values,
        }),
        rill_engine::Request::Text(&group),
        rill_engine::Request::Text(&read),
    ]);
    let replies: Vec<Reply> = replies.into_iter().map(Reply::into_tree).collect();
    assert_eq!(replies[0], Reply::Bulk(Bytes::from_static(b"5-1")));
    let second = id_of(&replies[1]);
    assert!(second > StreamId { ms: 5, seq: 1 });
    assert_eq!(replies[2], Reply::Simple("OK".into()));
    let Reply::Array(streams) = &replies[3] else {
        panic!("XREADGROUP: {:?}", replies[3]);
    };
    assert_eq!(streams.len(), 1);
    let log = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof"))
        .unwrap_or_else(|e| panic!("the log: {e}"));
    let text = String::from_utf8_lossy(&log);
    assert_eq!(text.matches("XADD").count(), 2, "{text}");
    assert!(text.contains("CREATE"), "{text}");
    engine.close();
    let _ = std::fs::remove_dir_all(&dir);
}
