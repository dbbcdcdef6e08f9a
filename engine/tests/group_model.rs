//! One consumer group's PEL against a model of it (entry -> owner and delivery count), over
//! thousands of entries so that its sorted runs split and merge: reads in COUNT batches,
//! acknowledgements from anywhere, claims between consumers (also of deleted entries), NACKs,
//! XGROUP SETID backwards (entries delivered again), consumers deleted with what they own,
//! XDEL and XAUTOCLAIM. The group's XPENDING and each consumer's must match the model
//! throughout, and DUMP/RESTORE must give the same `XINFO STREAM FULL`.
//! (From a review session's attacker, which found it passing.)

mod common;
use common::{args, line};

use rill_engine::{Engine, Reply};

fn bulk_text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) => s.clone(),
        Reply::Integer(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn items(r: &Reply) -> Vec<Reply> {
    match r {
        Reply::Array(v) | Reply::Set(v) => v.clone(),
        _ => Vec::new(),
    }
}

/// The millisecond part of an ID `ms-0` (every ID here has sequence 0).
fn ms_of(id: &str) -> u64 {
    id.split('-')
        .next()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("an ID, not {id:?}"))
}

/// The (ms, owner, delivery count) rows of an extended XPENDING.
fn pending_rows(r: &Reply) -> Vec<(u64, String, i64)> {
    items(r)
        .iter()
        .map(|row| {
            let cols = items(row);
            let count = match cols[3] {
                Reply::Integer(n) => n,
                _ => -1,
            };
            (ms_of(&bulk_text(&cols[0])), bulk_text(&cols[1]), count)
        })
        .collect()
}

#[test]
fn a_large_pel_reads_as_its_model_through_every_change() {
    use std::collections::{BTreeMap, BTreeSet};
    let engine = Engine::new();
    let mut s = engine.session();
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    const N: u64 = 6000;
    for i in 1..=N {
        line(&mut s, &format!("XADD s {i}-0 f v"));
    }
    line(&mut s, "XGROUP CREATE s g 0");
    let consumers = ["a", "b", "c", "d"];
    // id (ms) -> (owner or "" when NACKed, count)
    let mut model: BTreeMap<u64, (String, i64)> = BTreeMap::new();
    let mut deleted: BTreeSet<u64> = BTreeSet::new();
    let mut last = 0u64;
    for step in 0..1500 {
        let c = consumers[rng.below(4) as usize];
        let op = rng.below(20);
        let what = match op {
            0..=4 => {
                let k = 1 + rng.below(60);
                let r = line(
                    &mut s,
                    &format!("XREADGROUP GROUP g {c} COUNT {k} STREAMS s >"),
                );
                for stream in items(&r) {
                    for e in items(&items(&stream)[1]) {
                        let id = bulk_text(&items(&e)[0]);
                        let ms = ms_of(&id);
                        model.insert(ms, (c.to_string(), 1));
                        last = last.max(ms);
                    }
                }
                format!("read {c} {k}")
            }
            5..=8 => {
                let n = 1 + rng.below(40);
                let ids: Vec<u64> = (0..n).map(|_| 1 + rng.below(N)).collect();
                let text: Vec<String> = ids.iter().map(|i| format!("{i}-0")).collect();
                let r = line(&mut s, &format!("XACK s g {}", text.join(" ")));
                let mut expect = 0;
                for i in &ids {
                    if model.remove(i).is_some() {
                        expect += 1;
                    }
                }
                assert_eq!(r, Reply::Integer(expect), "step {step} XACK");
                "ack".into()
            }
            9..=11 => {
                let n = 1 + rng.below(20);
                let ids: Vec<u64> = (0..n).map(|_| 1 + rng.below(N)).collect();
                let text: Vec<String> = ids.iter().map(|i| format!("{i}-0")).collect();
                line(
                    &mut s,
                    &format!("XCLAIM s g {c} 0 {} JUSTID", text.join(" ")),
                );
                for i in &ids {
                    if deleted.contains(i) {
                        model.remove(i);
                    } else if let Some(e) = model.get_mut(i) {
                        e.0 = c.to_string();
                    }
                }
                "claim".into()
            }
            12 | 13 => {
                let n = 1 + rng.below(20);
                let ids: Vec<u64> = (0..n).map(|_| 1 + rng.below(N)).collect();
                let text: Vec<String> = ids.iter().map(|i| format!("{i}-0")).collect();
                line(
                    &mut s,
                    &format!("XNACK s g FAIL IDS {n} {}", text.join(" ")),
                );
                for i in &ids {
                    if let Some(e) = model.get_mut(i) {
                        e.0 = String::new();
                    }
                }
                "nack".into()
            }
            14 => {
                let back = rng.below(last + 1);
                line(&mut s, &format!("XGROUP SETID s g {back}-0"));
                "setid".into()
            }
            15 if rng.below(4) == 0 => {
                line(&mut s, &format!("XGROUP DELCONSUMER s g {c}"));
                model.retain(|_, e| e.0 != c);
                "delconsumer".into()
            }
            16 => {
                let i = 1 + rng.below(N);
                line(&mut s, &format!("XDEL s {i}-0"));
                deleted.insert(i);
                "xdel".into()
            }
            17 => {
                let start = rng.below(N);
                let r = line(
                    &mut s,
                    &format!("XAUTOCLAIM s g {c} 0 {start}-0 COUNT 30 JUSTID"),
                );
                let parts = items(&r);
                for id in items(&parts[1]) {
                    let ms = ms_of(&bulk_text(&id));
                    if let Some(e) = model.get_mut(&ms) {
                        e.0 = c.to_string();
                    }
                }
                for id in items(&parts[2]) {
                    let ms = ms_of(&bulk_text(&id));
                    assert!(
                        deleted.contains(&ms),
                        "step {step}: autoclaim dropped a live entry"
                    );
                    model.remove(&ms);
                }
                "autoclaim".into()
            }
            _ => "nothing".into(),
        };
        if step % 25 == 0 || what == "setid" || what == "delconsumer" {
            let got = pending_rows(&line(&mut s, "XPENDING s g - + 1000000"));
            let want: Vec<(u64, String, i64)> = model
                .iter()
                .map(|(k, (o, n))| (*k, o.clone(), *n))
                .collect();
            assert_eq!(got.len(), want.len(), "step {step} after {what}: PEL size");
            assert_eq!(got, want, "step {step} after {what}");
            for c in consumers {
                let got = pending_rows(&line(&mut s, &format!("XPENDING s g - + 1000000 {c}")));
                let want: Vec<(u64, String, i64)> = model
                    .iter()
                    .filter(|(_, (o, _))| o == c)
                    .map(|(k, (o, n))| (*k, o.clone(), *n))
                    .collect();
                assert_eq!(got, want, "step {step} after {what}: consumer {c}");
            }
        }
    }
    // Round trip through DUMP/RESTORE: same PEL, same consumers, same NACK zone.
    let before = line(&mut s, "XINFO STREAM s FULL COUNT 0");
    let dump = line(&mut s, "DUMP s");
    let Reply::Bulk(payload) = dump else {
        panic!("DUMP: {dump:?}")
    };
    let mut restore = args("RESTORE r 0 x");
    restore[3] = payload;
    assert_eq!(s.execute(&restore).into_tree(), Reply::Simple("OK".into()));
    let after = line(&mut s, "XINFO STREAM r FULL COUNT 0");
    assert_eq!(format!("{before:?}"), format!("{after:?}"));
}
