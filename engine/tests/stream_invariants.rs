//! An attacker's run at the Redis 8 stream commands: random sequences of XADD, XDELEX,
//! XACKDEL, XTRIM and XADD trims under every reference policy, claiming reads with COUNT,
//! MAXCOUNT and MAXSIZE, XNACK in every mode (FORCE, RETRYCOUNT), XACK, XCLAIM, XAUTOCLAIM and
//! group changes on a few streams, and idempotent XADDs with XCFGSET changes on another.
//! After every command the stream's bookkeeping must still agree with itself: XLEN with the
//! entries XRANGE returns, each group's pending count with what its consumers own plus its
//! NACK zone (every pending entry has exactly one owner, or none and is NACKed), XPENDING's
//! rows likewise, a lag that is never negative, and idempotency counts within their limits.
//! No command may panic.

mod common;

use bytes::Bytes;
use common::{line as exec, Rng};
use rill_engine::{Engine, Reply, Session};

fn int(r: &Reply) -> i64 {
    match r {
        Reply::Integer(n) => *n,
        _ => -1,
    }
}

/// A field of an XINFO reply (a map, or a flat field/value array).
fn field(reply: &Reply, name: &str) -> Option<Reply> {
    let pairs: Vec<(Reply, Reply)> = match reply {
        Reply::Map(m) => m.clone(),
        Reply::Array(flat) => flat
            .chunks(2)
            .filter_map(|p| match p {
                [k, v] => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    pairs
        .into_iter()
        .find(|(k, _)| matches!(k, Reply::Bulk(b) if b.as_ref() == name.as_bytes()))
        .map(|(_, v)| v)
}

fn random_command(rng: &mut Rng, clock: &mut u64) -> String {
    let key = rng.pick(&["s", "t"]);
    let group = rng.pick(&["g", "h"]);
    let consumer = rng.pick(&["c1", "c2", "c3"]);
    let policy = rng.pick(&["KEEPREF", "DELREF", "ACKED", ""]);
    let id = |rng: &mut Rng, clock: u64| format!("{}-{}", rng.below(clock + 1), rng.below(3));
    let ids = |rng: &mut Rng, clock: u64| {
        let n = 1 + rng.below(3);
        let list: Vec<String> = (0..n).map(|_| id(rng, clock)).collect();
        format!("IDS {n} {}", list.join(" "))
    };
    if rng.below(8) == 0 {
        return idempotent_command(rng);
    }
    match rng.below(18) {
        0..=3 => {
            *clock += rng.below(2);
            let trim = match rng.below(4) {
                0 => format!("MAXLEN ~ {} ", rng.below(6)),
                1 => format!("MINID = {}-0 ", rng.below(*clock + 1)),
                _ => String::new(),
            };
            format!("XADD {key} {policy} {trim}{}-* f {}", clock, rng.below(9)).replace("  ", " ")
        }
        4 => format!("XDELEX {key} {policy} {}", ids(rng, *clock)).replace("  ", " "),
        // IDs of the form XADD `ms-*` gives first, so that acknowledgements hit.
        5 => format!(
            "XACKDEL {key} {group} {policy} IDS 2 {}-0 {}-0",
            rng.below(*clock + 1),
            rng.below(*clock + 1)
        )
        .replace("  ", " "),
        6 => format!(
            "XTRIM {key} {} {} {policy}",
            rng.pick(&["MAXLEN =", "MAXLEN ~", "MINID ="]),
            if rng.below(2) == 0 {
                rng.below(5).to_string()
            } else {
                format!("{}-0", rng.below(*clock + 1))
            }
        )
        .trim_end()
        .to_string(),
        7 => format!(
            "XGROUP CREATE {key} {group} {} MKSTREAM",
            rng.pick(&["0", "$"])
        ),
        8..=10 => {
            let mut line = format!("XREADGROUP GROUP {group} {consumer}");
            if rng.below(2) == 0 {
                line.push_str(&format!(" COUNT {}", 1 + rng.below(3)));
            }
            if rng.below(3) == 0 {
                line.push_str(&format!(" MAXCOUNT {}", 3 + rng.below(3)));
            }
            if rng.below(4) == 0 {
                line.push_str(&format!(" MAXSIZE {}", 1 + rng.below(200)));
            }
            if rng.below(2) == 0 {
                line.push_str(&format!(" CLAIM {}", rng.below(2)));
            }
            if rng.below(4) == 0 {
                line.push_str(" NOACK");
            }
            let start = if rng.below(5) == 0 { "0" } else { ">" };
            format!("{line} STREAMS {key} {start}")
        }
        11 => format!("XACK {key} {group} {}", id(rng, *clock)),
        12 => format!("XCLAIM {key} {group} {consumer} 0 {}", id(rng, *clock)),
        13 => format!("XAUTOCLAIM {key} {group} {consumer} 0 0-0 COUNT 2"),
        // Without ENTRIESREAD: an arbitrary counter makes lag arbitrary (negative too), in
        // Redis as in Rill.
        14 => format!("XGROUP SETID {key} {group} {}", id(rng, *clock)),
        15 | 16 => {
            let mut line = format!(
                "XNACK {key} {group} {} {}",
                rng.pick(&["SILENT", "FAIL", "FATAL"]),
                ids(rng, *clock).replace("-1", "-0").replace("-2", "-0")
            );
            if rng.below(3) == 0 {
                line.push_str(&format!(" RETRYCOUNT {}", rng.below(4)));
            }
            if rng.below(3) == 0 {
                line.push_str(" FORCE");
            }
            line
        }
        _ => format!("XDEL {key} {}", id(rng, *clock)),
    }
}

/// XADD IDMP / IDMPAUTO (IDs from the clock, so on a stream of their own) and XCFGSET.
fn idempotent_command(rng: &mut Rng) -> String {
    let producer = rng.pick(&["p1", "p2", "p3"]);
    match rng.below(8) {
        0 => format!(
            "XCFGSET u IDMP-MAXSIZE {} IDMP-DURATION {}",
            1 + rng.below(3),
            1 + rng.below(2)
        ),
        1..=3 => format!("XADD u IDMPAUTO {producer} * f {}", rng.below(4)),
        _ => format!(
            "XADD u IDMP {producer} iid{} MAXLEN {} * f v",
            rng.below(5),
            rng.below(4)
        ),
    }
}

/// Idempotency counts within their limits.
fn check_idempotency(s: &mut Session) -> Result<(), String> {
    if exec(s, "TYPE u") != Reply::Simple("stream".into()) {
        return Ok(());
    }
    let info = exec(s, "XINFO STREAM u");
    let get = |name: &str| field(&info, name).map(|v| int(&v)).unwrap_or(-1);
    let (pids, iids, max) = (
        get("pids-tracked"),
        get("iids-tracked"),
        get("idmp-maxsize"),
    );
    if pids < 0 || iids < pids || iids > pids * max {
        return Err(format!("{pids} producers, {iids} iids, maxsize {max}"));
    }
    if get("iids-added") < iids {
        return Err(format!(
            "iids-added {} < iids-tracked {iids}",
            get("iids-added")
        ));
    }
    Ok(())
}

/// The bookkeeping checks; `Err` says what disagrees.
fn check(s: &mut Session, key: &str) -> Result<(), String> {
    if exec(s, &format!("TYPE {key}")) != Reply::Simple("stream".into()) {
        return Ok(()); // no stream there: nothing to check
    }
    let len = int(&exec(s, &format!("XLEN {key}")));
    let entries = match exec(s, &format!("XRANGE {key} - +")) {
        Reply::Array(e) => e.len() as i64,
        other => return Err(format!("XRANGE: {other:?}")),
    };
    if len != entries {
        return Err(format!("XLEN {len} but XRANGE has {entries}"));
    }
    let Reply::Array(groups) = exec(s, &format!("XINFO GROUPS {key}")) else {
        return Err("XINFO GROUPS".into());
    };
    let full = exec(s, &format!("XINFO STREAM {key} FULL COUNT 0"));
    let nacked_of = |name: &str| -> i64 {
        let Some(Reply::Array(groups)) = field(&full, "groups") else {
            return -1;
        };
        groups
            .iter()
            .find(|g| matches!(field(g, "name"), Some(Reply::Bulk(n)) if n.as_ref() == name.as_bytes()))
            .and_then(|g| field(g, "nacked-count"))
            .map(|n| int(&n))
            .unwrap_or(-1)
    };
    for g in groups {
        let Some(Reply::Bulk(name)) = field(&g, "name") else {
            continue;
        };
        let name = String::from_utf8_lossy(&name).into_owned();
        let pending = field(&g, "pending").map(|p| int(&p)).unwrap_or(-1);
        if let Some(Reply::Integer(lag)) = field(&g, "lag") {
            if lag < 0 {
                return Err(format!("group {name}: lag {lag}"));
            }
        }
        let Reply::Array(consumers) = exec(s, &format!("XINFO CONSUMERS {key} {name}")) else {
            return Err("XINFO CONSUMERS".into());
        };
        let owned: i64 = consumers
            .iter()
            .filter_map(|c| field(c, "pending").map(|p| int(&p)))
            .sum();
        let nacked = nacked_of(&name);
        if owned + nacked != pending {
            return Err(format!(
                "group {name}: {pending} pending, consumers own {owned}, {nacked} NACKed"
            ));
        }
        let rows = match exec(s, &format!("XPENDING {key} {name} - + 1000")) {
            Reply::Array(r) => r,
            other => return Err(format!("XPENDING: {other:?}")),
        };
        let unowned = rows
            .iter()
            .filter(|r| matches!(r, Reply::Array(cols) if cols.get(1) == Some(&Reply::Bulk(Bytes::new()))))
            .count() as i64;
        if rows.len() as i64 != pending || unowned != nacked {
            return Err(format!(
                "group {name}: {pending} pending ({nacked} NACKed), XPENDING lists {} ({unowned} unowned)",
                rows.len()
            ));
        }
    }
    Ok(())
}

/// Seeds a random test runs: `RILL_INVARIANT_SEEDS` for a longer run by hand, else `default`.
fn seed_count(default: u64) -> u64 {
    std::env::var("RILL_INVARIANT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generator of one seed's command sequence.
fn seeded(seed: u64) -> Rng {
    Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
}

/// An extended XPENDING reply with every idle time set to 0: two engines run one after the
/// other see different idle times, but the same IDs, owners and delivery counts.
fn without_idle_times(reply: Reply) -> Reply {
    match reply {
        Reply::Array(rows) => Reply::Array(
            rows.into_iter()
                .map(|row| match row {
                    Reply::Array(mut cells) if cells.len() == 4 => {
                        cells[2] = Reply::Integer(0);
                        Reply::Array(cells)
                    }
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn bookkeeping_holds_under_random_redis_8_commands() {
    let seeds = seed_count(300);
    // Commands that did something (a 1 or 2 in their reply): the run must reach them.
    let mut hits = [
        ("XDELEX", 0usize),
        ("XACKDEL", 0),
        ("XTRIM", 0),
        ("XREADGROUP", 0),
        ("XNACK", 0),
    ];
    for seed in 1..=seeds {
        let engine = Engine::new();
        let mut s = engine.session();
        let mut rng = seeded(seed);
        let mut clock = 1u64;
        let mut history = Vec::new();
        for _ in 0..80 {
            let line = random_command(&mut rng, &mut clock);
            let reply = exec(&mut s, &line);
            let shown = format!("{reply:?}");
            let hit = !shown.starts_with("Error")
                && (shown.contains("Integer(1)") || shown.contains("Integer(2)"));
            for (name, count) in &mut hits {
                *count += usize::from(hit && line.starts_with(*name));
            }
            history.push(format!("{line} -> {reply:?}"));
            for key in ["s", "t"] {
                if let Err(why) = check(&mut s, key) {
                    panic!("seed {seed}, {key}: {why}\n{}", history.join("\n"));
                }
            }
            if let Err(why) = check_idempotency(&mut s) {
                panic!("seed {seed}, u: {why}\n{}", history.join("\n"));
            }
        }
    }
    for (name, count) in hits {
        assert!(
            count >= 20,
            "{name} did something only {count} times: {hits:?}"
        );
    }
}

/// An XREADGROUP line without its COUNT, MAXCOUNT and MAXSIZE options (and their values).
fn without_limits(line: &str) -> String {
    let mut kept = Vec::new();
    let mut words = line.split(' ');
    while let Some(word) = words.next() {
        if matches!(word, "COUNT" | "MAXCOUNT" | "MAXSIZE") {
            words.next();
        } else {
            kept.push(word);
        }
    }
    kept.join(" ")
}

/// The same random commands on two engines, one packing sealed nodes (tiny nodes, so most
/// are sealed) and one keeping them plain: every reply and every read of the streams after
/// each command must be the same, forwards and backwards, across deletions and trims inside
/// packed nodes.
#[test]
fn packed_nodes_read_and_change_as_plain_ones() {
    let seeds = seed_count(100);
    let mut packed_reads = 0usize;
    for seed in 1..=seeds {
        let (packed, plain) = (Engine::new(), Engine::new());
        let (mut p, mut q) = (packed.session(), plain.session());
        // Nodes close on entries (four) or on bytes (long values): a node closed on bytes
        // still has room for a short entry, which it takes when it is the tail again (the
        // node after it lost its last entry).
        for s in [&mut p, &mut q] {
            exec(s, "CONFIG SET stream-node-max-entries 4");
            exec(s, "CONFIG SET stream-node-max-bytes 200");
        }
        assert_eq!(
            exec(&mut q, "CONFIG SET rill-stream-compression no"),
            Reply::ok()
        );
        // Enough sealed nodes that later ones are packed against a dictionary.
        for key in ["s", "t"] {
            for i in 1..=80 {
                let line = format!("XADD {key} 0-{i} f {i} payload event-payload-{}", i % 7);
                assert_eq!(exec(&mut p, &line), exec(&mut q, &line));
            }
        }
        let mut rng = seeded(seed);
        let mut clock = 1u64;
        let mut history = Vec::new();
        for _ in 0..80 {
            // A claiming read's reply carries idle times, which differ between two engines
            // run one after the other; CLAIM 0 claims the same entries on both, once it
            // claims them all: under COUNT, MAXCOUNT or MAXSIZE it takes the longest idle
            // first, and which those are depends on the milliseconds each engine ran in.
            let mut line = random_command(&mut rng, &mut clock).replace("CLAIM 1", "CLAIM 0");
            if line.contains(" CLAIM ") {
                line = without_limits(&line);
            }
            if line.split(' ').nth(1) == Some("u") {
                continue; // stream `u` takes IDs from the clock: they differ between engines
            }
            if line.starts_with("XADD") && rng.below(3) > 0 {
                // Values that repeat, so that LZ4 packs the nodes; some long enough to close
                // a node on bytes.
                let repeat = if rng.below(2) == 0 { 1 } else { 3 };
                line.push_str(" payload ");
                line.push_str(&"event-payload-event-payload-0123456789-".repeat(repeat));
            }
            let (a, b) = (exec(&mut p, &line), exec(&mut q, &line));
            history.push(format!("{line} -> {b:?}"));
            if !line.contains(" CLAIM ") {
                assert_eq!(a, b, "seed {seed}: {line}\n{}", history.join("\n"));
            }
            for key in ["s", "t"] {
                let count = 1 + rng.below(6);
                for read in [
                    format!("XRANGE {key} - +"),
                    format!("XREVRANGE {key} + - COUNT {count}"),
                    format!("XRANGE {key} {}-0 + COUNT {count}", rng.below(clock + 1)),
                    format!("XREVRANGE {key} {}-0 - COUNT {count}", rng.below(clock + 1)),
                    format!("XINFO STREAM {key}"),
                    format!("XPENDING {key} g - + 100"),
                ] {
                    let (mut a, mut b) = (exec(&mut p, &read), exec(&mut q, &read));
                    if read.starts_with("XPENDING") {
                        (a, b) = (without_idle_times(a), without_idle_times(b));
                    }
                    assert_eq!(a, b, "seed {seed}: {read}\n{}", history.join("\n"));
                }
            }
            // Packing shows in the memory a stream takes.
            let usage = |s: &mut Session, key: &str| int(&exec(s, &format!("MEMORY USAGE {key}")));
            packed_reads += usize::from(
                ["s", "t"]
                    .iter()
                    .any(|k| usage(&mut p, k) < usage(&mut q, k)),
            );
        }
    }
    assert!(
        packed_reads > 500,
        "the run must read packed nodes: {packed_reads} steps with any"
    );
}
