//! The propagation seam replays: random command sequences run on one engine with a journal
//! attached; the journal's effects, replayed on a fresh engine, must leave the same data
//! (values, stream entries and counters, absolute expiry times) in every database.
//!
//! Covers what the seam covers so far: strings with relative and absolute expiries, key
//! commands, streams without consumer groups (XADD with generated IDs and approximate or
//! limited trims, XTRIM, XDEL, XSETID), MULTI/EXEC, SELECT, lazy and active expiry.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rill_engine::aof::log::Record;
use rill_engine::aof::replay::replay;
use rill_engine::propagate::{Effect, Journal};
use rill_engine::{Engine, Reply, Session};

/// Collects every unit the engine hands over.
struct Collect(Arc<Mutex<Vec<Effect>>>);

impl Journal for Collect {
    fn append(&mut self, effects: &[Effect]) {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(effects);
        }
    }
}

fn record(args: Vec<Bytes>) -> Record {
    Record { args, end: 0 }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn exec(s: &mut Session, words: &[String]) -> Reply {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.clone())).collect();
    s.execute(&args)
}

const KEYS: [&str; 4] = ["a", "b", "s", "t"];

/// One random command over a few keys, strings and streams mixed (WRONGTYPE errors are
/// part of the test: they must log nothing).
fn random_command(rng: &mut Rng) -> Vec<String> {
    let key = KEYS[rng.below(4) as usize].to_string();
    let n = rng.below(5).to_string();
    let w = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match rng.below(22) {
        0 => w(&["SET", &key, &n]),
        1 => w(&["SET", &key, &n, "EX", "1000"]),
        2 => w(&["SET", &key, &n, "PX", "1"]),
        3 => w(&["SET", &key, &n, "KEEPTTL", "XX"]),
        4 => w(&["INCR", &key]),
        5 => w(&["INCRBYFLOAT", &key, "1.5"]),
        6 => w(&["DEL", &key]),
        7 => w(&["EXPIRE", &key, "500"]),
        8 => w(&["PEXPIRE", &key, "1"]),
        9 => w(&["PERSIST", &key]),
        10 => w(&["SETEX", &key, "100", "v"]),
        11 | 12 => w(&["XADD", &key, "*", "f", &n]),
        13 => w(&["XADD", &key, "MAXLEN", "~", "3", "*", "f", &n]),
        14 => w(&[
            "XADD", &key, "MINID", "~", "0-1", "LIMIT", "2", "*", "f", &n,
        ]),
        15 => w(&["XTRIM", &key, "MAXLEN", "2"]),
        16 => w(&["XTRIM", &key, "MAXLEN", "~", "1"]),
        17 => w(&["XDEL", &key, &format!("{}-0", rng.below(3))]),
        18 => w(&["SELECT", &rng.below(2).to_string()]),
        19 => w(&["RENAME", &key, KEYS[rng.below(4) as usize]]),
        20 => w(&["GETEX", &key, "PX", "100000"]),
        _ => w(&["APPEND", &key, "x"]),
    }
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
        let expiry = format!("{:?}", exec(s, &["PEXPIRETIME".into(), k.clone()]));
        out.push(format!("{db}/{key}: {kind} {value} {expiry}"));
    }
    out
}

#[test]
fn what_the_journal_receives_replays_to_the_same_data() {
    for seed in 1..=200u64 {
        let log = Arc::new(Mutex::new(Vec::new()));
        let source = Engine::new();
        source.set_journal(Some(Box::new(Collect(log.clone()))));
        let mut s = source.session();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for _ in 0..60 {
            if rng.below(10) == 0 {
                // A transaction of a few commands.
                exec(&mut s, &["MULTI".into()]);
                for _ in 0..1 + rng.below(3) {
                    let c = random_command(&mut rng);
                    if c[0] != "SELECT" {
                        exec(&mut s, &c);
                    }
                }
                exec(&mut s, &["EXEC".into()]);
            } else {
                exec(&mut s, &random_command(&mut rng));
            }
            if rng.below(15) == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
                source.active_expire_cycle();
            }
        }
        // Replayed as the AOF will be: SELECT when the database changes, loaded with
        // expiry suspended.
        let effects = log.lock().map(|l| l.clone()).unwrap_or_default();
        let mut records = Vec::new();
        let mut db = 0;
        for effect in &effects {
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
        replay(&replica, "journal", &records).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
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
}
