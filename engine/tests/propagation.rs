//! The propagation seam replays: random command sequences run on one engine with a journal
//! attached; the journal's effects, replayed on a fresh engine, must leave the same data
//! (values, stream entries and counters, absolute expiry times) in every database.
//!
//! Covers what the seam covers so far: strings with relative and absolute expiries, key
//! commands, streams without consumer groups (XADD with generated IDs and approximate or
//! limited trims, XTRIM, XDEL, XSETID), MULTI/EXEC, SELECT, lazy and active expiry.

mod common;

use common::Rng;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rill_engine::aof::log::Record;
use rill_engine::aof::replay::replay;
use rill_engine::propagate::{Effect, Journal, Unit};
use rill_engine::{Engine, Reply, Session};

/// Collects every unit the engine hands over.
struct Collect(Arc<Mutex<Vec<Effect>>>);

impl Journal for Collect {
    fn append(&mut self, unit: &Unit) {
        if let Ok(mut all) = self.0.lock() {
            all.extend(unit.effects());
        }
    }
}

fn record(args: Vec<Bytes>) -> Record {
    Record { args, end: 0 }
}

fn exec(s: &mut Session, words: &[String]) -> Reply {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.clone())).collect();
    s.execute(&args).into_tree()
}

const KEYS: [&str; 4] = ["a", "b", "s", "t"];

/// One random command over a few keys, strings and streams mixed (WRONGTYPE errors are
/// part of the test: they must log nothing).
fn random_command(rng: &mut Rng, clock: &mut u64) -> Vec<String> {
    // Strings mostly on a and b, streams mostly on s and t; now and then the other kind.
    let mixed = rng.below(8) == 0;
    let string_key = KEYS[(rng.below(2) + if mixed { 2 } else { 0 }) as usize].to_string();
    let stream_key = KEYS[(rng.below(2) + if mixed { 0 } else { 2 }) as usize].to_string();
    let n = rng.below(5).to_string();
    let w = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let g = ["g", "h"][rng.below(2) as usize];
    let c = ["c1", "c2"][rng.below(2) as usize];
    let policy = ["KEEPREF", "DELREF", "ACKED"][rng.below(3) as usize];
    let near = [
        format!("{clock}-0"),
        format!("{}-0", clock.saturating_sub(1)),
    ];
    // IDs near the small clock the explicit XADDs below advance, so acks and claims hit.
    let id = format!("{}-{}", clock.saturating_sub(rng.below(6)), rng.below(2));
    match rng.below(22) {
        _ if rng.below(3) == 0 => match rng.below(13) {
            0 => w(&["XGROUP", "CREATE", &stream_key, g, "$", "MKSTREAM"]),
            1 => w(&["XGROUP", "CREATE", &stream_key, g, "0"]),
            2 | 3 => w(&[
                "XREADGROUP",
                "GROUP",
                g,
                c,
                "COUNT",
                "2",
                "STREAMS",
                &stream_key,
                ">",
            ]),
            4 => w(&[
                "XREADGROUP",
                "GROUP",
                g,
                c,
                "NOACK",
                "STREAMS",
                &stream_key,
                ">",
            ]),
            5 => w(&["XACK", &stream_key, g, &id]),
            6 => w(&["XCLAIM", &stream_key, g, c, "0", &id]),
            7 => w(&["XAUTOCLAIM", &stream_key, g, c, "0", "0-0", "COUNT", "2"]),
            // Redis 8.2's reference policies.
            9 => w(&[
                "XDELEX",
                &stream_key,
                policy,
                "IDS",
                "3",
                &id,
                &near[0],
                &near[1],
            ]),
            10 => w(&[
                "XACKDEL",
                &stream_key,
                g,
                policy,
                "IDS",
                "3",
                &id,
                &near[0],
                &near[1],
            ]),
            11 => w(&["XTRIM", &stream_key, "MAXLEN", "~", "2", policy]),
            12 => w(&["XTRIM", &stream_key, "MAXLEN", "=", "1", policy]),
            _ => w(&["XGROUP", "SETID", &stream_key, g, "$"]),
        },
        0 => w(&["SET", &string_key, &n]),
        1 => w(&["SET", &string_key, &n, "EX", "1000"]),
        2 => w(&["SET", &string_key, &n, "PX", "1"]),
        3 => w(&["SET", &stream_key, &n, "KEEPTTL", "XX"]),
        4 => w(&["INCR", &string_key]),
        5 => w(&["INCRBYFLOAT", &string_key, "1.5"]),
        6 => w(&["DEL", &string_key]),
        7 => w(&["EXPIRE", &string_key, "500"]),
        8 => w(&["PEXPIRE", &string_key, "1"]),
        9 => w(&["PERSIST", &string_key]),
        10 => w(&["SETEX", &string_key, "100", "v"]),
        11 => w(&["XADD", "t", "*", "f", &n]),
        12 => {
            *clock += rng.below(2);
            w(&["XADD", &stream_key, &format!("{clock}-*"), "f", &n])
        }
        13 => w(&["XADD", "t", "MAXLEN", "~", "3", "*", "f", &n]),
        14 => w(&["XADD", "t", "MINID", "~", "0-1", "LIMIT", "2", "*", "f", &n]),
        15 => w(&["XTRIM", &stream_key, "MAXLEN", "2"]),
        16 => w(&["XTRIM", &stream_key, "MAXLEN", "~", "1"]),
        17 => w(&["XDEL", &stream_key, &format!("{}-0", rng.below(3))]),
        18 => w(&["SELECT", &rng.below(2).to_string()]),
        19 => w(&["RENAME", &string_key, KEYS[rng.below(4) as usize]]),
        20 => w(&["GETEX", &string_key, "PX", "100000"]),
        _ => w(&["APPEND", &string_key, "x"]),
    }
}

/// One random command, or now and then a transaction of a few.
fn random_step(s: &mut Session, rng: &mut Rng, clock: &mut u64) {
    if rng.below(10) != 0 {
        exec(s, &random_command(rng, clock));
        return;
    }
    exec(s, &["MULTI".into()]);
    for _ in 0..1 + rng.below(3) {
        let c = random_command(rng, clock);
        if c[0] != "SELECT" {
            exec(s, &c);
        }
    }
    exec(s, &["EXEC".into()]);
}

/// What a key holds, as comparable text: type, value or stream entries and counters, and
/// its absolute expiry.
fn dump(s: &mut Session, db: usize) -> Vec<String> {
    let mut out = Vec::new();
    exec(s, &["SELECT".into(), db.to_string()]);
    for key in KEYS {
        let k = key.to_string();
        let kind = format!("{:?}", exec(s, &["TYPE".into(), k.clone()]));
        let value = if kind.contains("stream") {
            format!(
                "{:?} {:?}",
                exec(s, &["XRANGE".into(), k.clone(), "-".into(), "+".into()]),
                exec(s, &["XINFO".into(), "STREAM".into(), k.clone()])
            )
        } else {
            format!("{:?}", exec(s, &["GET".into(), k.clone()]))
        };
        let groups = if kind.contains("stream") {
            group_state(s, &k)
        } else {
            String::new()
        };
        let expiry = format!("{:?} {groups}", exec(s, &["PEXPIRETIME".into(), k.clone()]));
        out.push(format!("{db}/{key}: {kind} {value} {expiry}"));
    }
    out
}

/// A stream's groups as comparable text: position, counters, consumers and their pending
/// counts, and the PEL (owner and delivery count; idle times leave out the clock).
fn group_state(s: &mut Session, key: &str) -> String {
    let mut out = format!(
        "{:?}",
        exec(s, &["XINFO".into(), "GROUPS".into(), key.into()])
    );
    for g in ["g", "h"] {
        let consumers = exec(
            s,
            &["XINFO".into(), "CONSUMERS".into(), key.into(), g.into()],
        );
        if let Reply::Array(list) = consumers {
            for c in list {
                if let Reply::Map(fields) = c {
                    let kept: Vec<_> = fields
                        .into_iter()
                        .filter(|(k, _)| matches!(k, Reply::Bulk(b) if &b[..] == b"name" || &b[..] == b"pending"))
                        .collect();
                    out.push_str(&format!(" {kept:?}"));
                }
            }
        }
        let pel = exec(
            s,
            &[
                "XPENDING".into(),
                key.into(),
                g.into(),
                "-".into(),
                "+".into(),
                "100".into(),
            ],
        );
        if let Reply::Array(rows) = pel {
            for row in rows {
                if let Reply::Array(mut f) = row {
                    if f.len() == 4 {
                        f.remove(2);
                    }
                    out.push_str(&format!(" {f:?}"));
                }
            }
        }
    }
    out
}

/// A new engine that replayed `effects` as the AOF would: SELECT when the database changes.
fn replayed(effects: &[Effect]) -> Result<Engine, String> {
    let mut records = Vec::new();
    let mut db = 0;
    for effect in effects {
        if effect.db != db {
            db = effect.db;
            records.push(record(vec![
                Bytes::from("SELECT"),
                Bytes::from(db.to_string()),
            ]));
        }
        records.push(record(effect.args.clone()));
    }
    let replica = Engine::new();
    replay(&replica, "journal", &records).map_err(|e| e.to_string())?;
    Ok(replica)
}

/// Redis 8.2's reference policies, scripted so that each case hits: deletions and trims
/// that skip entries still needed (ACKED), drop PEL entries (DELREF), acknowledge and delete
/// (XACKDEL), approximate trims; and 8.4's claiming reads. The journal replays to the same
/// entries and PELs.
#[test]
fn redis_8_stream_changes_replay_to_the_same_data() {
    let scripts: [&[&str]; 7] = [
        &["XTRIM s MAXLEN = 3 ACKED", "XTRIM s MINID = 9-0 DELREF"],
        &["XTRIM s MAXLEN ~ 1 ACKED", "XTRIM s MAXLEN ~ 1 DELREF"],
        &[
            "XADD s MAXLEN = 2 ACKED 20-0 f v",
            "XADD s DELREF MINID = 5-0 21-0 f v",
        ],
        &[
            "XACKDEL s g KEEPREF IDS 2 2-0 4-0",
            "XACKDEL s h ACKED IDS 2 2-0 5-0",
        ],
        &[
            "XACKDEL s g DELREF IDS 2 5-0 6-0",
            "XDELEX s ACKED IDS 3 7-0 8-0 1-0",
        ],
        &[
            "XDELEX s IDS 1 2-0",
            "XDELEX s DELREF IDS 2 2-0 4-0",
            "XDELEX s ACKED IDS 1 9-0",
        ],
        // Redis 8.4's XREADGROUP CLAIM: claims logged as XCLAIM, new entries as before.
        &[
            "XDELEX s IDS 1 4-0",
            "XREADGROUP GROUP g c3 COUNT 3 CLAIM 0 STREAMS s >",
            "XREADGROUP GROUP h c4 NOACK CLAIM 0 STREAMS s >",
        ],
    ];
    for script in scripts {
        let log = Arc::new(Mutex::new(Vec::new()));
        let source = Engine::new();
        source.set_journal(Some(Box::new(Collect(log.clone()))));
        let mut s = source.session();
        let run = |s: &mut Session, line: &str| {
            let words: Vec<String> = line.split(' ').map(str::to_string).collect();
            let reply = exec(s, &words);
            assert!(!matches!(reply, Reply::Error(_)), "{line}: {reply:?}");
        };
        // Ten entries; g delivered six and acknowledged two, h delivered three.
        for i in 1..=10 {
            run(&mut s, &format!("XADD s {i}-0 f {i}"));
        }
        for line in [
            "XGROUP CREATE s g 0",
            "XGROUP CREATE s h 0",
            "XREADGROUP GROUP g c1 COUNT 6 STREAMS s >",
            "XREADGROUP GROUP h c2 COUNT 3 STREAMS s >",
            "XACK s g 1-0 3-0",
        ] {
            run(&mut s, line);
        }
        for line in script {
            run(&mut s, line);
        }
        let effects = log.lock().map(|l| l.clone()).unwrap_or_default();
        let replica = replayed(&effects).unwrap_or_else(|e| panic!("{script:?}: {e}"));
        assert_eq!(
            dump(&mut s, 0),
            dump(&mut replica.session(), 0),
            "{script:?}: replay differs; effects: {effects:?}"
        );
    }
}

#[test]
fn what_the_journal_receives_replays_to_the_same_data() {
    // How often each rewritten form was replayed: the test must exercise them all.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for seed in 1..=200u64 {
        let log = Arc::new(Mutex::new(Vec::new()));
        let source = Engine::new();
        source.set_journal(Some(Box::new(Collect(log.clone()))));
        let mut s = source.session();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut clock = 1u64;
        for _ in 0..60 {
            random_step(&mut s, &mut rng, &mut clock);
            if rng.below(15) == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
                source.active_expire_cycle();
            }
        }
        // Replayed as the AOF will be: SELECT when the database changes, loaded with
        // expiry suspended.
        let effects = log.lock().map(|l| l.clone()).unwrap_or_default();
        for effect in &effects {
            let mut name = String::from_utf8_lossy(&effect.args[0]).to_uppercase();
            if name == "XGROUP" || name == "SET" {
                name = format!(
                    "{name} {}",
                    String::from_utf8_lossy(&effect.args[effect.args.len().min(2) - 1])
                );
            }
            *seen.entry(name).or_default() += 1;
        }
        let replica = replayed(&effects).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let mut r = replica.session();
        // Every short time to live (a few ms) has passed on both sides; the long ones (100 s
        // and more) have not: the two dumps see the same keys.
        std::thread::sleep(std::time::Duration::from_millis(20));
        for db in 0..2 {
            assert_eq!(
                dump(&mut s, db),
                dump(&mut r, db),
                "seed {seed}: replay differs; effects: {effects:?}"
            );
        }
    }
    // Each rewritten form, and the verbatim XACK, must have been replayed often enough.
    for (form, least) in [
        ("XCLAIM", 10),
        ("XGROUP SETID", 10),
        ("XGROUP CREATECONSUMER", 10),
        ("XADD", 10),
        ("XTRIM", 10),
        ("DEL", 10),
        ("PEXPIREAT", 10),
        ("MULTI", 10),
        ("XACK", 1),
        ("XDELEX", 1),
    ] {
        let count: usize = seen
            .iter()
            .filter(|(k, _)| k.starts_with(form))
            .map(|(_, n)| n)
            .sum();
        assert!(count >= least, "{form} replayed {count} times: {seen:?}");
    }
}

/// Waits until no rewrite runs (BGREWRITEAOF's thread finished).
fn wait_for_rewrite(s: &mut Session) {
    for _ in 0..500 {
        let info = exec(s, &["INFO".into(), "persistence".into()]);
        if format!("{info:?}").contains("aof_rewrite_in_progress:0") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    panic!("the rewrite did not finish");
}

/// Acknowledges, on `s`, the pending entries whose stream entry is gone. A rewrite drops
/// them, as Redis's does: the XCLAIM ... FORCE that replays a pending entry creates it only
/// for an entry that exists.
fn forget_deleted_pending(s: &mut Session, db: usize) {
    exec(s, &["SELECT".into(), db.to_string()]);
    for key in ["s", "t", "a", "b"] {
        for group in ["g", "h"] {
            let rows = exec(
                s,
                &[
                    "XPENDING".into(),
                    key.into(),
                    group.into(),
                    "-".into(),
                    "+".into(),
                    "1000".into(),
                ],
            );
            let Reply::Array(rows) = rows else { continue };
            for row in rows {
                let Reply::Array(fields) = row else { continue };
                let Some(Reply::Bulk(id)) = fields.first() else {
                    continue;
                };
                let id = String::from_utf8_lossy(id).into_owned();
                let found = exec(s, &["XRANGE".into(), key.into(), id.clone(), id.clone()]);
                if found == Reply::Array(Vec::new()) {
                    exec(s, &["XACK".into(), key.into(), group.into(), id]);
                }
            }
        }
    }
}

#[test]
fn a_rewritten_log_reloads_to_the_same_data() {
    // The same random sequences, on an engine keeping an append-only log: a rewrite in the
    // middle writes a base from the data of that moment, the rest goes to the incremental
    // file after it; reopening the directory must give back the same data.
    let root = std::env::temp_dir().join(format!("rill-rewrite-prop-{}", std::process::id()));
    for seed in 1..=60u64 {
        let dir = root.join(seed.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let source = Engine::open(&dir, rill_engine::Config::default())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let mut s = source.session();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut clock = 1u64;
        for step in 0..60 {
            if step == 40 {
                let started = exec(&mut s, &["BGREWRITEAOF".into()]);
                assert!(
                    format!("{started:?}").contains("rewriting started"),
                    "{started:?}"
                );
                wait_for_rewrite(&mut s);
            }
            random_step(&mut s, &mut rng, &mut clock);
        }
        source.close();
        let replica = Engine::open(&dir, rill_engine::Config::default())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let mut r = replica.session();
        std::thread::sleep(std::time::Duration::from_millis(20));
        for db in 0..2 {
            forget_deleted_pending(&mut s, db);
            forget_deleted_pending(&mut r, db);
            assert_eq!(
                dump(&mut s, db),
                dump(&mut r, db),
                "seed {seed}: the reloaded log differs"
            );
        }
        replica.close();
    }
    let _ = std::fs::remove_dir_all(&root);
}
