//! The sorted-set commands on members and scores: ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE,
//! ZMSCORE, ZRANK, ZREVRANK, ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER, ZSCAN, with Redis's replies
//! (doubles in RESP3, member/score pairs) and errors. The range commands are in
//! [`super::zrange`], the set operations in [`super::zsetops`], the blocking pops in
//! [`super::blocking_pops`]. A sorted set left empty is deleted, as in Redis.

use bytes::Bytes;

use super::random::{at_positions, Picker};
use super::typed::{self, changed};
use super::{Ctx, Group, Spec};
use crate::args::{glob_match, int_arg, is};
use crate::error;
use crate::keyspace::Value;
use crate::notify::ZSET;
use crate::reply::Reply;
use crate::score;
use crate::zset::{Entry, ZSet};

/// The member and score commands' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::SortedSet);
    let one = (1, 1, 1);
    let read_fast: &'static [&'static str] = &["readonly", "fast"];
    let pop: &'static [&'static str] = &["write", "fast"];
    vec![
        spec("zadd", -4, &["write", "denyoom", "fast"], one, "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", zadd),
        spec("zincrby", 4, &["write", "denyoom", "fast"], one, "1.2.0", "Increments the score of a member in a sorted set.", zincrby),
        spec("zrem", -3, &["write", "fast"], one, "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", zrem),
        spec("zcard", 2, read_fast, one, "1.2.0", "Returns the number of members in a sorted set.", zcard),
        spec("zscore", 3, read_fast, one, "1.2.0", "Returns the score of a member in a sorted set.", zscore),
        spec("zmscore", -3, read_fast, one, "6.2.0", "Returns the score of one or more members in a sorted set.", zmscore),
        spec("zrank", -3, read_fast, one, "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", zrank),
        spec("zrevrank", -3, read_fast, one, "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", zrevrank),
        spec("zpopmin", -2, pop, one, "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zpopmin),
        spec("zpopmax", -2, pop, one, "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zpopmax),
        spec("zmpop", -4, &["write", "movablekeys"], (0, 0, 0), "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", zmpop),
        spec("zrandmember", -2, &["readonly"], one, "6.2.0", "Returns one or more random members from a sorted set.", zrandmember),
        spec("zscan", -3, &["readonly"], one, "2.8.0", "Iterates over members and scores of a sorted set.", zscan),
    ]
}

/// The sorted set at `key` for a read.
pub(super) fn read_zset<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a ZSet>, Reply> {
    typed::read(ctx, key)
}

/// The sorted set at `key` for a change; `None` when absent.
pub(super) fn write_zset<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut ZSet>, Reply> {
    typed::write(ctx, key)
}

/// Entries as a reply: members alone, or with their scores (flat in RESP2, pairs in RESP3).
pub(super) fn entries_reply(entries: Vec<Entry>, with_scores: bool, resp3: bool) -> Reply {
    if !with_scores {
        return Reply::Array(entries.into_iter().map(|e| Reply::Bulk(e.1)).collect());
    }
    if resp3 {
        return Reply::Array(
            entries
                .into_iter()
                .map(|(s, m)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
                .collect(),
        );
    }
    let mut flat = Vec::with_capacity(entries.len() * 2);
    for (s, m) in entries {
        flat.push(Reply::Bulk(m));
        flat.push(Reply::Double(s));
    }
    Reply::Array(flat)
}

/// What ZADD's flags ask of each pair.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What ZADD did to one member.
enum Added {
    New(f64),
    Updated(f64),
    /// Same score, or a flag kept it as it was (`true` when a flag did).
    Kept(f64, bool),
}

/// Applies one score (or increment) to `member`, as Redis's `zsetAdd`.
fn add_one(
    z: &mut ZSet,
    member: &[u8],
    score: f64,
    flags: AddFlags,
    limits: crate::zset::ZSetLimits,
) -> Result<Added, Reply> {
    match z.score(member) {
        Some(current) => {
            if flags.nx {
                return Ok(Added::Kept(current, true));
            }
            let mut new = score;
            if flags.incr {
                new += current;
                if new.is_nan() {
                    return Err(Reply::error("ERR resulting score is not a number (NaN)"));
                }
            }
            if (flags.lt && new >= current) || (flags.gt && new <= current) {
                return Ok(Added::Kept(current, true));
            }
            if new == current {
                return Ok(Added::Kept(current, false));
            }
            z.insert(member, new, limits);
            Ok(Added::Updated(new))
        }
        None if flags.xx => Ok(Added::Kept(0.0, true)),
        None => {
            z.insert(member, score, limits);
            Ok(Added::New(score))
        }
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut flags = AddFlags::default();
    let mut at = 2;
    while at < args.len() {
        let a = &args[at];
        let flag = if is(a, "nx") {
            &mut flags.nx
        } else if is(a, "xx") {
            &mut flags.xx
        } else if is(a, "gt") {
            &mut flags.gt
        } else if is(a, "lt") {
            &mut flags.lt
        } else if is(a, "ch") {
            &mut flags.ch
        } else if is(a, "incr") {
            &mut flags.incr
        } else {
            break;
        };
        *flag = true;
        at += 1;
    }
    let pairs = &args[at..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Reply::error(error::SYNTAX);
    }
    if flags.nx && flags.xx {
        return Reply::error("ERR XX and NX options at the same time are not compatible");
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Reply::error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if flags.incr && pairs.len() > 2 {
        return Reply::error("ERR INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        match score::parse_strict(&pair[0]) {
            Some(s) => scores.push(s),
            None => return Reply::error("ERR value is not a valid float"),
        }
    }
    add_pairs(ctx, &args[1], pairs, &scores, flags)
}

/// The second half of ZADD (and ZINCRBY): the key looked up or created, each pair applied.
fn add_pairs(
    ctx: &mut Ctx,
    key: &Bytes,
    pairs: &[Bytes],
    scores: &[f64],
    flags: AddFlags,
) -> Reply {
    let limits = ctx.state.config.zset_limits();
    let longest = pairs.chunks(2).map(|p| p[1].len()).max().unwrap_or(0);
    let nothing = if flags.incr {
        Reply::Null
    } else {
        Reply::Integer(0)
    };
    let z = match write_zset(ctx, key) {
        Err(e) => return e,
        Ok(None) if flags.xx => return nothing,
        Ok(None) => {
            let fresh = ZSet::with_hint(scores.len(), longest, limits);
            ctx.db().set(key.clone(), Value::ZSet(fresh), false);
            match write_zset(ctx, key) {
                Ok(Some(z)) => z,
                _ => return Reply::error(error::WRONGTYPE),
            }
        }
        Ok(Some(z)) => {
            z.grow_for(scores.len(), limits);
            z
        }
    };
    let (mut added, mut updated, mut last) = (0, 0, None);
    for (pair, &score) in pairs.chunks(2).zip(scores) {
        match add_one(z, &pair[1], score, flags, limits) {
            Err(e) => {
                let emptied = z.is_empty();
                if emptied {
                    ctx.db().remove(key);
                }
                return e;
            }
            Ok(Added::New(s)) => {
                added += 1;
                last = Some(s);
            }
            Ok(Added::Updated(s)) => {
                updated += 1;
                last = Some(s);
            }
            Ok(Added::Kept(s, by_flag)) => last = (!by_flag).then_some(s),
        }
    }
    let emptied = z.is_empty();
    if added + updated > 0 {
        let event = if flags.incr { "zincr" } else { "zadd" };
        changed(ctx, key, emptied, (ZSET, event));
    } else if emptied {
        ctx.db().remove(key);
    }
    if flags.incr {
        return last.map_or(Reply::Null, Reply::Double);
    }
    Reply::Integer(if flags.ch { added + updated } else { added })
}

/// ZINCRBY key increment member: ZADD INCR's work.
fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(by) = score::parse_strict(&args[2]) else {
        return Reply::error("ERR value is not a valid float");
    };
    let pair = [args[2].clone(), args[3].clone()];
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add_pairs(ctx, &args[1], &pair, &[by], flags)
}

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::remove_each::<ZSet>(ctx, args, (ZSET, "zrem"))
}

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::cardinality::<ZSet>(ctx, args)
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_zset(ctx, &args[1]) {
        Err(e) => e,
        Ok(z) => z
            .and_then(|z| z.score(&args[2]))
            .map_or(Reply::Null, Reply::Double),
    }
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_zset(ctx, &args[1]) {
        Err(e) => e,
        Ok(z) => Reply::Array(
            args[2..]
                .iter()
                .map(|m| {
                    z.and_then(|z| z.score(m))
                        .map_or(Reply::Null, Reply::Double)
                })
                .collect(),
        ),
    }
}

/// ZRANK / ZREVRANK key member [WITHSCORE] (WITHSCORE from Redis 7.2).
fn rank(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    if args.len() > 4 {
        return Reply::error(format!(
            "ERR wrong number of arguments for '{}' command",
            if rev { "zrevrank" } else { "zrank" }
        ));
    }
    let with_score = match args.get(3) {
        None => false,
        Some(a) if is(a, "withscore") => true,
        Some(_) => return Reply::error(error::SYNTAX),
    };
    let missing = if with_score {
        Reply::NullArray
    } else {
        Reply::Null
    };
    let z = match read_zset(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return missing,
        Ok(Some(z)) => z,
    };
    let (Some(r), Some(s)) = (z.rank(&args[2]), z.score(&args[2])) else {
        return missing;
    };
    let r = if rev { z.len() - 1 - r } else { r } as i64;
    if with_score {
        Reply::Array(vec![Reply::Integer(r), Reply::Double(s)])
    } else {
        Reply::Integer(r)
    }
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank(ctx, args, true)
}

/// Pops up to `count` entries from the low end (`min`) or the high end of the sorted set at
/// `key`; deletes it when emptied. `Ok(None)` when there is no such key.
pub(super) fn pop_entries(
    ctx: &mut Ctx,
    key: &[u8],
    min: bool,
    count: usize,
) -> Result<Option<Vec<Entry>>, Reply> {
    let Some(z) = write_zset(ctx, key)? else {
        return Ok(None);
    };
    let n = count.min(z.len());
    let mut popped = if min {
        z.remove_ranks(0, n)
    } else {
        z.remove_ranks(z.len() - n, z.len())
    };
    if !min {
        popped.reverse();
    }
    let emptied = z.is_empty();
    if !popped.is_empty() {
        let event = if min { "zpopmin" } else { "zpopmax" };
        changed(ctx, key, emptied, (ZSET, event));
    }
    Ok(Some(popped))
}

/// ZPOPMIN / ZPOPMAX key [count]: pairs in RESP3 when a count is given, flat otherwise.
fn zpop(ctx: &mut Ctx, args: &[Bytes], min: bool) -> Reply {
    if args.len() > 3 {
        return Reply::error(error::SYNTAX);
    }
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n as usize),
        Some(_) => return Reply::error("ERR value is out of range, must be positive"),
    };
    let resp3 = ctx.session.protocol >= 3;
    match pop_entries(ctx, &args[1], min, count.unwrap_or(1)) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(popped)) if count.is_none() => entries_reply(popped, true, false),
        Ok(Some(popped)) => entries_reply(popped, true, resp3),
    }
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop(ctx, args, true)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    zpop(ctx, args, false)
}

/// MIN or MAX: which end ZMPOP and BZMPOP pop from (true for MIN).
pub(super) fn end(arg: &[u8]) -> Option<bool> {
    if is(arg, "min") {
        Some(true)
    } else if is(arg, "max") {
        Some(false)
    } else {
        None
    }
}

/// Pops from the first non-empty sorted set of `keys`: its key and what went.
pub(super) fn multi_pop(
    ctx: &mut Ctx,
    keys: &[Bytes],
    min: bool,
    count: u64,
) -> Result<Option<(Bytes, Vec<Entry>)>, Reply> {
    for key in keys {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if let Some(popped) = pop_entries(ctx, key, min, count)? {
            if !popped.is_empty() {
                return Ok(Some((key.clone(), popped)));
            }
        }
    }
    Ok(None)
}

/// ZMPOP's reply: the key and its member/score pairs.
pub(super) fn multi_pop_reply(key: Bytes, popped: Vec<Entry>) -> Reply {
    Reply::Array(vec![Reply::Bulk(key), entries_reply(popped, true, true)])
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (keys, min, count) = match super::lists::parse_multi_pop(args, 1, end) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    match multi_pop(ctx, &keys, min, count) {
        Err(e) => e,
        Ok(None) => Reply::NullArray,
        Ok(Some((key, popped))) => multi_pop_reply(key, popped),
    }
}

/// ZRANDMEMBER key [count [WITHSCORES]], bounded as HRANDFIELD is.
fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (count, with_scores) = match super::random::count_and_option(args, "withscores") {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let resp3 = ctx.session.protocol >= 3;
    let z = match read_zset(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) if count.is_some() => return Reply::Array(Vec::new()),
        Ok(None) => return Reply::Null,
        Ok(Some(z)) => z,
    };
    let mut picker = Picker::new();
    let len = z.len();
    let Some(count) = count else {
        let i = (picker.next() % len as u64) as usize;
        return z.at(i).map_or(Reply::Null, |e| Reply::Bulk(e.1));
    };
    let picks: Vec<Entry> = if count < 0 {
        (0..count.unsigned_abs())
            .filter_map(|_| z.at((picker.next() % len as u64) as usize))
            .collect()
    } else if count as u64 >= len as u64 {
        z.iter().collect()
    } else {
        at_positions(z.iter(), &picker.distinct(len, count as usize))
    };
    entries_reply(picks, with_scores, resp3)
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: members and scores (as strings).
/// ZSCAN: scores as Redis shows them, as stored for a listpack, with `%.17Lg` for the
/// skiplist form (Redis reads those from its member index as doubles).
fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::scan::<ZSet>(ctx, args, |z, cursor, count, pattern| {
        let print = if z.encoding() == "skiplist" {
            score::format_g17
        } else {
            score::format
        };
        let (next, batch) = z.scan(cursor, count);
        let mut items = Vec::with_capacity(batch.len() * 2);
        for (s, m) in batch {
            if pattern.is_none_or(|p| glob_match(p, &m, false)) {
                items.push(Reply::Bulk(m));
                items.push(Reply::Bulk(Bytes::from(print(s))));
            }
        }
        (next, items)
    })
}
