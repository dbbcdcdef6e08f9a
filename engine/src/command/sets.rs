//! The set commands: SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS, SPOP, SRANDMEMBER,
//! SMOVE, SINTER, SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN, with
//! Redis's replies (sets in RESP3) and errors. A set left empty is deleted, as in Redis.

use std::collections::HashSet;

use bytes::Bytes;

use super::random::{at_positions, Picker};
use super::typed::{self, changed};
use super::{Ctx, Group, Spec};
use crate::args::{glob_match, int_arg, is};
use crate::error;
use crate::keyspace::Value;
use crate::notify::{GENERIC, SET};
use crate::reply::Reply;
use crate::set::Set;

/// The set commands' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::Set);
    let one = (1, 1, 1);
    let all = (1, -1, 1);
    let write_fast: &'static [&'static str] = &["write", "denyoom", "fast"];
    let read_fast: &'static [&'static str] = &["readonly", "fast"];
    let read: &'static [&'static str] = &["readonly"];
    let store: &'static [&'static str] = &["write", "denyoom"];
    vec![
        spec("sadd", -3, write_fast, one, "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", sadd),
        spec("srem", -3, &["write", "fast"], one, "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", srem),
        spec("scard", 2, read_fast, one, "1.0.0", "Returns the number of members in a set.", scard),
        spec("sismember", 3, read_fast, one, "1.0.0", "Determines whether a member belongs to a set.", sismember),
        spec("smismember", -3, read_fast, one, "6.2.0", "Determines whether multiple members belong to a set.", smismember),
        spec("smembers", 2, read, one, "1.0.0", "Returns all members of a set.", smembers),
        spec("spop", -2, &["write", "fast"], one, "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", spop),
        spec("srandmember", -2, read, one, "1.0.0", "Get one or multiple random members from a set", srandmember),
        spec("smove", 4, &["write", "fast"], (1, 2, 1), "1.0.0", "Moves a member from one set to another.", smove),
        spec("sinter", -2, read, all, "1.0.0", "Returns the intersect of multiple sets.", sinter),
        spec("sintercard", -3, &["readonly", "movablekeys"], (0, 0, 0), "7.0.0", "Returns the number of members of the intersect of multiple sets.", sintercard),
        spec("sinterstore", -3, store, all, "1.0.0", "Stores the intersect of multiple sets in a key.", sinterstore),
        spec("sunion", -2, read, all, "1.0.0", "Returns the union of multiple sets.", sunion),
        spec("sunionstore", -3, store, all, "1.0.0", "Stores the union of multiple sets in a key.", sunionstore),
        spec("sdiff", -2, read, all, "1.0.0", "Returns the difference of multiple sets.", sdiff),
        spec("sdiffstore", -3, store, all, "1.0.0", "Stores the difference of multiple sets in a key.", sdiffstore),
        spec("sscan", -3, read, one, "2.8.0", "Iterates over members of a set.", sscan),
    ]
}

/// The set at `key` for a read.
fn read_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Set>, Reply> {
    typed::read(ctx, key)
}

/// The set at `key` for a change; `None` when absent.
fn write_set<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Set>, Reply> {
    typed::write(ctx, key)
}

fn bulks(members: impl IntoIterator<Item = Bytes>) -> Vec<Reply> {
    members.into_iter().map(Reply::Bulk).collect()
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = ctx.state.config.set_limits();
    let (key, members) = (&args[1], &args[2..]);
    match write_set(ctx, key) {
        Err(e) => return e,
        Ok(Some(_)) => {}
        Ok(None) => {
            let fresh = Set::for_first(&members[0], members.len(), limits);
            ctx.db().set(key.clone(), Value::Set(fresh), false);
        }
    }
    let Ok(Some(set)) = write_set(ctx, key) else {
        return Reply::error(error::WRONGTYPE);
    };
    let added = members.iter().filter(|m| set.add(m, limits)).count();
    if added > 0 {
        ctx.notify(SET, "sadd", key);
        ctx.touch(key);
    }
    Reply::Integer(added as i64)
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::remove_each::<Set>(ctx, args, (SET, "srem"))
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::cardinality::<Set>(ctx, args)
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_set(ctx, &args[1]) {
        Err(e) => e,
        Ok(s) => Reply::Integer(i64::from(s.is_some_and(|s| s.contains(&args[2])))),
    }
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_set(ctx, &args[1]) {
        Err(e) => e,
        Ok(s) => Reply::Array(
            args[2..]
                .iter()
                .map(|m| Reply::Integer(i64::from(s.is_some_and(|s| s.contains(m)))))
                .collect(),
        ),
    }
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_set(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Set(Vec::new()),
        Ok(Some(s)) => Reply::Set(bulks(s.members())),
    }
}

/// `count` distinct members picked at random (all of them when the set has no more).
fn distinct_sample(set: &Set, count: usize, picker: &mut Picker) -> Vec<Bytes> {
    at_positions(set.members(), &picker.distinct(set.len(), count))
}

/// SPOP key [count]: logged as the SREM of what went (a random pick must not be replayed).
fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::error(error::SYNTAX);
    }
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n as usize),
        Some(_) => return Reply::error("ERR value is out of range, must be positive"),
    };
    let set = match write_set(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) if count.is_some() => return Reply::Set(Vec::new()),
        Ok(None) => return Reply::Null,
        Ok(Some(s)) => s,
    };
    let mut picker = Picker::new();
    let popped = match count {
        None => set.random_member(picker.next()).into_iter().collect(),
        Some(n) => distinct_sample(set, n, &mut picker),
    };
    for m in &popped {
        set.remove(m);
    }
    let emptied = set.is_empty();
    if !popped.is_empty() {
        changed(ctx, &args[1], emptied, (SET, "spop"));
        if ctx.state.propagation.enabled() {
            let mut logged = vec![Bytes::from_static(b"SREM"), args[1].clone()];
            logged.extend(popped.iter().cloned());
            ctx.propagate(logged);
        }
    }
    match count {
        None => popped.into_iter().next().map_or(Reply::Null, Reply::Bulk),
        Some(_) => Reply::Set(bulks(popped)),
    }
}

/// The most picks a negative SRANDMEMBER count may ask for (Rill's bound, as HRANDFIELD's).
const MAX_PICKS: u64 = super::random::MAX_PICKS;

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::error(error::SYNTAX);
    }
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Err(e)) => return e,
        Some(Ok(i64::MIN)) => {
            return Reply::error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        }
        Some(Ok(n)) if n < -(MAX_PICKS as i64) => return Reply::error("ERR value is out of range"),
        Some(Ok(n)) => Some(n),
    };
    let missing = if count.is_some() {
        Reply::Array(Vec::new())
    } else {
        Reply::Null
    };
    let set = match read_set(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return missing,
        Ok(Some(s)) => s,
    };
    let mut picker = Picker::new();
    match count {
        None => set
            .random_member(picker.next())
            .map_or(Reply::Null, Reply::Bulk),
        Some(n) if n < 0 => Reply::Array(bulks(
            (0..n.unsigned_abs()).filter_map(|_| set.random_member(picker.next())),
        )),
        Some(n) => Reply::Array(bulks(distinct_sample(set, n as usize, &mut picker))),
    }
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let limits = ctx.state.config.set_limits();
    let now = ctx.now_ms;
    let has = match write_set(ctx, src) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(s)) => Some(s.contains(member)),
    };
    if !matches!(ctx.db().get(dst, now), None | Some(Value::Set(_))) {
        return Reply::error(error::WRONGTYPE);
    }
    match has {
        None | Some(false) => return Reply::Integer(0),
        Some(true) if src == dst => return Reply::Integer(1),
        Some(true) => {}
    }
    if let Ok(Some(s)) = write_set(ctx, src) {
        s.remove(member);
        let emptied = s.is_empty();
        changed(ctx, src, emptied, (SET, "srem"));
    }
    match write_set(ctx, dst) {
        Ok(Some(s)) => {
            s.add(member, limits);
        }
        _ => {
            let fresh = Set::from_members([member.clone()], limits);
            ctx.db().set(dst.clone(), Value::Set(fresh), false);
        }
    }
    ctx.notify(SET, "sadd", dst);
    ctx.touch(dst);
    Reply::Integer(1)
}

/// The sets at `keys` (missing ones as `None`); WRONGTYPE when any holds another type.
fn sets_of(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Vec<Option<Set>>, Reply> {
    keys.iter()
        .map(|k| read_set(ctx, k).map(|s| s.cloned()))
        .collect()
}

/// Which of the algebra operations.
#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The members of the operation over `sets`, in a stable order (the first set's, then
/// each new one's).
fn combine(op: Op, sets: &[Option<Set>], limit: usize) -> Vec<Bytes> {
    match op {
        Op::Inter => {
            if sets.iter().any(Option::is_none) {
                return Vec::new();
            }
            let mut sorted: Vec<&Set> = sets.iter().flatten().collect();
            sorted.sort_by_key(|s| s.len());
            let Some((smallest, rest)) = sorted.split_first() else {
                return Vec::new();
            };
            smallest
                .members()
                .filter(|m| rest.iter().all(|s| s.contains(m)))
                .take(limit)
                .collect()
        }
        Op::Union => {
            let mut seen = HashSet::new();
            sets.iter()
                .flatten()
                .flat_map(|s| s.members())
                .filter(|m| seen.insert(m.clone()))
                .collect()
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Vec::new();
            };
            first
                .members()
                .filter(|m| !sets[1..].iter().flatten().any(|s| s.contains(m)))
                .collect()
        }
    }
}

fn algebra(ctx: &mut Ctx, keys: &[Bytes], op: Op) -> Reply {
    match sets_of(ctx, keys) {
        Err(e) => e,
        Ok(sets) => Reply::Set(bulks(combine(op, &sets, usize::MAX))),
    }
}

fn store(ctx: &mut Ctx, args: &[Bytes], op: Op) -> Reply {
    let sets = match sets_of(ctx, &args[2..]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let members = combine(op, &sets, usize::MAX);
    let n = members.len();
    let dst = &args[1];
    if n == 0 {
        if ctx.db().remove(dst).is_some() {
            ctx.notify(GENERIC, "del", dst);
        }
    } else {
        let limits = ctx.state.config.set_limits();
        let set = Set::from_members(members, limits);
        ctx.db().set(dst.clone(), Value::Set(set), false);
        let event = match op {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        ctx.notify(SET, event, dst);
    }
    ctx.touch(dst);
    Reply::Integer(n as i64)
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, &args[1..], Op::Inter)
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, &args[1..], Op::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, &args[1..], Op::Diff)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    store(ctx, args, Op::Inter)
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    store(ctx, args, Op::Union)
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    store(ctx, args, Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let numkeys = match int_arg(&args[1]) {
        Ok(n) if n > 0 => n as usize,
        Ok(_) | Err(_) => return Reply::error("ERR numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    let rest = &args[2 + numkeys..];
    let limit = match rest.len() {
        0 => usize::MAX,
        2 if is(&rest[0], "limit") => match int_arg(&rest[1]) {
            Ok(0) => usize::MAX,
            Ok(n) if n > 0 => n as usize,
            Ok(_) | Err(_) => return Reply::error("ERR LIMIT can't be negative"),
        },
        _ => return Reply::error(error::SYNTAX),
    };
    match sets_of(ctx, &args[2..2 + numkeys]) {
        Err(e) => e,
        Ok(sets) => Reply::Integer(combine(Op::Inter, &sets, limit).len() as i64),
    }
}

/// SSCAN key cursor [MATCH pattern] [COUNT count].
fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::scan::<Set>(ctx, args, |s, cursor, count, pattern| {
        let (next, batch) = s.scan(cursor, count);
        let members = batch
            .into_iter()
            .filter(|m| pattern.is_none_or(|p| glob_match(p, m, false)))
            .map(Reply::Bulk)
            .collect();
        (next, members)
    })
}
