//! One stream against a model of it (an ordered map of IDs to fields): random XADDs with IDs
//! far apart in milliseconds or near the top of the sequence, empty and duplicate field
//! names, many fields, values from empty to 70 KB; XDEL aimed mostly at the newest entries
//! (so tail nodes empty and sealed ones become the tail again); exact and approximate trims,
//! with LIMIT; XSETID, also lowering max-deleted-entry-id so that new entries land after a
//! tombstone with a larger ID; DUMP and RESTORE; and node limits and packing changed in the
//! middle of the stream. After every step XLEN, whole reads both ways, and reads, exact
//! look-ups and XREADs from probe IDs must agree with the model.
//!
//! `RILL_MODEL_SEEDS` and `RILL_MODEL_STEPS` make a longer run by hand.

mod common;
use common::{line, words};

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use common::Rng;
use rill_engine::{Engine, Reply, Session};

type Id = (u64, u64);
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// Runs `command` and checks that it answers `count` (entries it removed).
fn answers_count(s: &mut Session, command: &str, count: usize) {
    assert_eq!(line(s, command), Reply::Integer(count as i64), "{command}");
}

fn text(id: Id) -> String {
    format!("{}-{}", id.0, id.1)
}

/// The entries of an XRANGE-shaped reply, fields and values as bytes.
fn entries(reply: &Reply) -> Vec<(String, Fields)> {
    let bulk = |r: &Reply| match r {
        Reply::Bulk(b) => b.to_vec(),
        other => panic!("not a bulk string: {other:?}"),
    };
    let Reply::Array(items) = reply else {
        panic!("not an array: {reply:?}")
    };
    items
        .iter()
        .map(|entry| match entry {
            Reply::Array(pair) => match &pair[..] {
                [id, Reply::Array(flat)] => (
                    String::from_utf8_lossy(&bulk(id)).into_owned(),
                    flat.chunks(2).map(|p| (bulk(&p[0]), bulk(&p[1]))).collect(),
                ),
                other => panic!("entry {other:?}"),
            },
            other => panic!("entry {other:?}"),
        })
        .collect()
}

/// Entries with long values cut short, for messages.
fn shown(entries: &[(String, Fields)]) -> Vec<String> {
    entries
        .iter()
        .map(|(id, fields)| {
            let parts: Vec<String> = fields
                .iter()
                .map(|(f, v)| format!("{}=<{} bytes>", String::from_utf8_lossy(f), v.len()))
                .collect();
            format!("{id}:{}", parts.join(","))
        })
        .collect()
}

/// What the stream should hold.
#[derive(Default)]
struct Model {
    entries: BTreeMap<Id, Fields>,
    /// The stream's last ID (XADD's floor).
    last: Id,
}

impl Model {
    fn listed<'a>(it: impl Iterator<Item = (&'a Id, &'a Fields)>) -> Vec<(String, Fields)> {
        it.map(|(id, f)| (text(*id), f.clone())).collect()
    }

    /// The newest live entry, or 0-0.
    fn top(&self) -> Id {
        self.entries.keys().next_back().copied().unwrap_or((0, 0))
    }
}

fn random_fields(rng: &mut Rng) -> Fields {
    let value = |rng: &mut Rng| -> Vec<u8> {
        match rng.below(40) {
            0 => vec![],
            1 => vec![b'z'; 70_000 + rng.below(1000) as usize],
            2..=4 => vec![b'q'; 200 + rng.below(900) as usize],
            _ => format!("v{}", rng.below(1000)).into_bytes(),
        }
    };
    match rng.below(10) {
        0 => vec![(vec![], value(rng))],
        1 => (0..3 + rng.below(30))
            .map(|i| (format!("k{i}").into_bytes(), value(rng)))
            .collect(),
        2 => vec![(b"g".to_vec(), value(rng)), (b"f".to_vec(), value(rng))],
        3 => vec![(b"f".to_vec(), value(rng)), (b"f".to_vec(), value(rng))],
        _ => vec![(b"f".to_vec(), value(rng))],
    }
}

/// An ID above `last`: next to it, milliseconds or years later, or near the top of the
/// sequence; `None` when `last` leaves no room for the kind picked.
fn next_id(rng: &mut Rng, last: Id) -> Option<Id> {
    let id = match rng.below(12) {
        0 => (last.0.checked_add(1 << (20 + rng.below(30)))?, rng.below(3)),
        1 => (
            last.0,
            (last.1.checked_add(1)?).max(u64::MAX - 1 - rng.below(3)),
        ),
        2 => (last.0.checked_add(1)?, u64::MAX - rng.below(2)),
        3..=6 => (last.0, last.1.checked_add(1 + rng.below(2))?),
        _ => (last.0.checked_add(1 + rng.below(3))?, rng.below(2)),
    };
    (id > last).then_some(id)
}

/// One random step, applied to the stream and the model; returns the command for the log.
fn step(s: &mut Session, m: &mut Model, rng: &mut Rng) -> Option<String> {
    let command = match rng.below(100) {
        0..=54 => {
            let id = next_id(rng, m.last)?;
            let fields = random_fields(rng);
            let id_text = text(id);
            let mut args: Vec<&[u8]> = vec![b"XADD", b"s", id_text.as_bytes()];
            for (f, v) in &fields {
                args.extend([&f[..], &v[..]]);
            }
            assert_eq!(words(s, &args), Reply::Bulk(Bytes::from(id_text.clone())));
            let sizes: Vec<usize> = fields.iter().map(|(_, v)| v.len()).take(3).collect();
            m.entries.insert(id, fields);
            m.last = id;
            format!("XADD s {id_text} (value sizes {sizes:?})")
        }
        55..=66 => {
            let keys: Vec<Id> = m.entries.keys().copied().collect();
            let ids: Vec<Id> = (0..1 + rng.below(3))
                .map(|_| match (keys.is_empty(), rng.below(10)) {
                    (false, 0..=3) => {
                        keys[keys.len() - 1 - rng.below(keys.len().min(3) as u64) as usize]
                    }
                    (false, 4..=7) => keys[rng.below(keys.len() as u64) as usize],
                    _ => (rng.below(m.last.0.saturating_add(2)), rng.below(3)),
                })
                .collect();
            let texts: Vec<String> = ids.iter().map(|id| text(*id)).collect();
            let command = format!("XDEL s {}", texts.join(" "));
            let removed = ids
                .iter()
                .filter(|id| m.entries.remove(id).is_some())
                .count();
            answers_count(s, &command, removed);
            command
        }
        67..=74 => {
            let keep = rng.below(m.entries.len() as u64 + 1);
            let command = format!("XTRIM s MAXLEN = {keep}");
            let reply = line(s, &command);
            if m.last == (0, 0) {
                return None; // no stream yet: XTRIM answers an error
            }
            let before = m.entries.len();
            while m.entries.len() as u64 > keep {
                m.entries.pop_first();
            }
            assert_eq!(
                reply,
                Reply::Integer((before - m.entries.len()) as i64),
                "{command}"
            );
            command
        }
        75..=80 => {
            let keys: Vec<Id> = m.entries.keys().copied().collect();
            let k = *keys.get(rng.below(keys.len().max(1) as u64) as usize)?;
            let min = if rng.below(2) == 0 {
                k
            } else {
                (k.0, k.1.saturating_add(1))
            };
            let command = format!("XTRIM s MINID = {}", text(min));
            let before = m.entries.len();
            m.entries.retain(|id, _| *id >= min);
            answers_count(s, &command, before - m.entries.len());
            command
        }
        81..=85 => {
            if m.entries.is_empty() {
                return None;
            }
            let limit = match rng.below(2) {
                0 => format!(" LIMIT {}", rng.below(300)),
                _ => String::new(),
            };
            let command = if rng.below(2) == 0 {
                format!(
                    "XTRIM s MAXLEN ~ {}{limit}",
                    rng.below(m.entries.len() as u64 + 1)
                )
            } else {
                let keys: Vec<Id> = m.entries.keys().copied().collect();
                let min = keys[rng.below(keys.len() as u64) as usize];
                format!("XTRIM s MINID ~ {}{limit}", text(min))
            };
            // Which entries go depends on node boundaries: the model takes the count.
            let Reply::Integer(removed) = line(s, &command) else {
                panic!("{command}: not a count")
            };
            for _ in 0..removed {
                m.entries.pop_first();
            }
            command
        }
        86..=89 => {
            let command = match rng.below(7) {
                0 => format!("CONFIG SET stream-node-max-entries {}", rng.below(30)),
                1 => format!(
                    "CONFIG SET stream-node-max-entries {}",
                    100 + rng.below(200)
                ),
                2 => format!("CONFIG SET stream-node-max-bytes {}", rng.below(300)),
                3 => "CONFIG SET stream-node-max-bytes 0".to_string(),
                4 => format!(
                    "CONFIG SET stream-node-max-bytes {}",
                    4096 * (1 + rng.below(40))
                ),
                5 => "CONFIG SET rill-stream-compression no".to_string(),
                _ => "CONFIG SET rill-stream-compression lz4".to_string(),
            };
            assert_eq!(line(s, &command), Reply::ok(), "{command}");
            command
        }
        90..=91 => {
            if m.last == (0, 0) {
                return None;
            }
            let id = next_id(rng, m.last)?;
            let command = format!("XSETID s {}", text(id));
            assert_eq!(line(s, &command), Reply::ok(), "{command}");
            m.last = id;
            command
        }
        92..=93 => {
            // Lower max-deleted-entry-id, then the last ID to just above the newest live
            // entry: the next XADD may land after a tombstone with a larger ID, in the same
            // node (Redis allows both).
            if m.last == (0, 0) {
                return None;
            }
            let lower = format!("XSETID s {} MAXDELETEDID 0-1", text(m.last));
            assert_eq!(line(s, &lower), Reply::ok(), "{lower}");
            let top = m.top();
            let floor = (top.0, top.1.checked_add(1)?);
            let command = format!("XSETID s {}", text(floor));
            assert_eq!(line(s, &command), Reply::ok(), "{lower}; {command}");
            m.last = floor.max(top);
            format!("{lower}; {command}")
        }
        94..=95 => {
            if m.last == (0, 0) {
                return None;
            }
            let Reply::Bulk(payload) = line(s, "DUMP s") else {
                panic!("DUMP s")
            };
            let reply = words(s, &[b"RESTORE", b"s", b"0", &payload, b"REPLACE"]);
            assert_eq!(reply, Reply::ok());
            "DUMP s; RESTORE s 0 <payload> REPLACE".to_string()
        }
        _ => {
            let id = next_id(rng, m.last)?;
            let keep = rng.below(m.entries.len() as u64 + 2);
            let command = format!("XADD s MAXLEN = {keep} {} f x", text(id));
            assert_eq!(
                line(s, &command),
                Reply::Bulk(Bytes::from(text(id))),
                "{command}"
            );
            m.entries.insert(id, vec![(b"f".to_vec(), b"x".to_vec())]);
            m.last = id;
            while m.entries.len() as u64 > keep {
                m.entries.pop_first();
            }
            command
        }
    };
    Some(command)
}

/// The stream agrees with the model: length, whole reads both ways, and reads from probes
/// (entry IDs, their neighbours, IDs between them).
fn check(s: &mut Session, m: &Model, rng: &mut Rng) -> Result<(), String> {
    let agree = |what: &str, got: Vec<(String, Fields)>, want: Vec<(String, Fields)>| {
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "{what}:\n got {:?}\nwant {:?}",
                shown(&got),
                shown(&want)
            ))
        }
    };
    let len = line(s, "XLEN s");
    if len != Reply::Integer(m.entries.len() as i64) {
        return Err(format!("XLEN {len:?}, model {}", m.entries.len()));
    }
    agree(
        "XRANGE s - +",
        entries(&line(s, "XRANGE s - +")),
        Model::listed(m.entries.iter()),
    )?;
    agree(
        "XREVRANGE s + -",
        entries(&line(s, "XREVRANGE s + -")),
        Model::listed(m.entries.iter().rev()),
    )?;
    let keys: Vec<Id> = m.entries.keys().copied().collect();
    for _ in 0..4 {
        let probe = match (keys.is_empty(), rng.below(6)) {
            (false, 0..=1) => keys[rng.below(keys.len() as u64) as usize],
            (false, 2) => {
                let k = keys[rng.below(keys.len() as u64) as usize];
                (k.0, k.1.wrapping_add(1))
            }
            (false, 3) => {
                let k = keys[rng.below(keys.len() as u64) as usize];
                match k.1 {
                    0 => (k.0.saturating_sub(1), u64::MAX),
                    seq => (k.0, seq - 1),
                }
            }
            _ => (rng.below(m.last.0.saturating_add(2)), rng.below(3)),
        };
        let p = text(probe);
        agree(
            &format!("XRANGE s {p} + COUNT 3"),
            entries(&line(s, &format!("XRANGE s {p} + COUNT 3"))),
            Model::listed(m.entries.range(probe..).take(3)),
        )?;
        agree(
            &format!("XREVRANGE s {p} - COUNT 3"),
            entries(&line(s, &format!("XREVRANGE s {p} - COUNT 3"))),
            Model::listed(m.entries.range(..=probe).rev().take(3)),
        )?;
        agree(
            &format!("XRANGE s {p} {p}"),
            entries(&line(s, &format!("XRANGE s {p} {p}"))),
            Model::listed(m.entries.range(probe..=probe)),
        )?;
        let read = match line(s, &format!("XREAD COUNT 2 STREAMS s {p}")) {
            Reply::NullArray | Reply::Null => vec![],
            Reply::Array(streams) => match &streams[..] {
                [Reply::Array(pair)] => entries(&pair[1]),
                other => return Err(format!("XREAD replied {other:?}")),
            },
            other => return Err(format!("XREAD replied {other:?}")),
        };
        let after = (Bound::Excluded(probe), Bound::Unbounded);
        agree(
            &format!("XREAD COUNT 2 STREAMS s {p}"),
            read,
            Model::listed(m.entries.range(after).take(2)),
        )?;
    }
    Ok(())
}

fn from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_stream_reads_as_its_model_after_every_change() {
    let (seeds, steps) = (
        from_env("RILL_MODEL_SEEDS", 20),
        from_env("RILL_MODEL_STEPS", 400),
    );
    for seed in 1..=seeds {
        let engine = Engine::new();
        let mut s = engine.session();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut model = Model::default();
        let mut log = Vec::new();
        for _ in 0..steps {
            let Some(command) = step(&mut s, &mut model, &mut rng) else {
                continue;
            };
            log.push(command);
            if model.last == (0, 0) {
                continue;
            }
            if let Err(why) = check(&mut s, &model, &mut rng) {
                let recent = &log[log.len().saturating_sub(30)..];
                panic!("seed {seed}: {why}\nafter:\n{}", recent.join("\n"));
            }
        }
    }
}

/// One node without limits, far past 64 KB and eight seek points (where they stop): read
/// from every entry, deleted from through the seek points, then sealed (packed, or not) and
/// read again, then dumped and restored.
#[test]
fn a_node_past_its_seek_points_reads_and_deletes_from_every_entry() {
    for compression in ["lz4", "no"] {
        let engine = Engine::new();
        let mut s = engine.session();
        for config in [
            "CONFIG SET stream-node-max-entries 0",
            "CONFIG SET stream-node-max-bytes 0",
            &format!("CONFIG SET rill-stream-compression {compression}"),
        ] {
            assert_eq!(line(&mut s, config), Reply::ok());
        }
        let mut rng = Rng(77);
        let mut model = Model::default();
        for i in 0..300u64 {
            let id = (
                1000 + i / 3,
                if i % 7 == 0 {
                    u64::MAX - 10 + i % 3
                } else {
                    i % 3
                },
            );
            if id <= model.last {
                continue;
            }
            let value = vec![b'a' + (i % 26) as u8; 100 + rng.below(3000) as usize];
            let id_text = text(id);
            let reply = words(&mut s, &[b"XADD", b"s", id_text.as_bytes(), b"f", &value]);
            assert_eq!(reply, Reply::Bulk(Bytes::from(id_text)));
            model.entries.insert(id, vec![(b"f".to_vec(), value)]);
            model.last = id;
        }
        let reads_from_every_entry = |s: &mut Session, model: &Model, when: &str| {
            for id in model.entries.keys() {
                let p = text(*id);
                let got = entries(&line(s, &format!("XRANGE s {p} + COUNT 2")));
                let want = Model::listed(model.entries.range(*id..).take(2));
                assert!(got == want, "{compression}, {when}: XRANGE s {p} + COUNT 2");
            }
            let len = line(s, "XLEN s");
            assert_eq!(len, Reply::Integer(model.entries.len() as i64), "{when}");
        };
        reads_from_every_entry(&mut s, &model, "one node");
        let keys: Vec<Id> = model.entries.keys().copied().collect();
        for id in keys.iter().step_by(4) {
            let command = format!("XDEL s {}", text(*id));
            assert_eq!(
                line(&mut s, &command),
                Reply::Integer(1),
                "{compression}: {command}"
            );
            model.entries.remove(id);
        }
        reads_from_every_entry(&mut s, &model, "after deletes");
        assert_eq!(
            line(&mut s, "CONFIG SET stream-node-max-entries 5"),
            Reply::ok()
        );
        line(&mut s, "XADD s 99999-0 f last");
        model
            .entries
            .insert((99999, 0), vec![(b"f".to_vec(), b"last".to_vec())]);
        reads_from_every_entry(&mut s, &model, "sealed");
        let Reply::Bulk(payload) = line(&mut s, "DUMP s") else {
            panic!("DUMP s")
        };
        let reply = words(&mut s, &[b"RESTORE", b"s", b"0", &payload, b"REPLACE"]);
        assert_eq!(reply, Reply::ok());
        reads_from_every_entry(&mut s, &model, "restored");
    }
}
