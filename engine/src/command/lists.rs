//! The list commands without blocking: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN,
//! LRANGE, LINDEX, LSET, LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP, with Redis's
//! replies and errors. A list left empty is deleted, as in Redis. The blocking forms are in
//! [`super::blocking_pops`].

pub use super::blocking_pops::{retry_blocked, BlockedPop};

use bytes::Bytes;

use super::typed::{self, changed};
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::keyspace::Value;
use crate::list::List;
use crate::notify::LIST;
use crate::reply::Reply;

/// The list commands' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::List);
    let one = (1, 1, 1);
    let write_fast: &'static [&'static str] = &["write", "denyoom", "fast"];
    let write: &'static [&'static str] = &["write", "fast"];
    let read: &'static [&'static str] = &["readonly"];
    vec![
        spec("lpush", -3, write_fast, one, "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", lpush),
        spec("rpush", -3, write_fast, one, "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", rpush),
        spec("lpushx", -3, write_fast, one, "2.2.0", "Prepends one or more elements to a list only when the list exists.", lpushx),
        spec("rpushx", -3, write_fast, one, "2.2.0", "Appends an element to a list only when the list exists.", rpushx),
        spec("lpop", -2, write, one, "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", lpop),
        spec("rpop", -2, write, one, "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", rpop),
        spec("llen", 2, &["readonly", "fast"], one, "1.0.0", "Returns the length of a list.", llen),
        spec("lrange", 4, read, one, "1.0.0", "Returns a range of elements from a list.", lrange),
        spec("lindex", 3, read, one, "1.0.0", "Returns an element from a list by its index.", lindex),
        spec("lset", 4, &["write", "denyoom"], one, "1.0.0", "Sets the value of an element in a list by its index.", lset),
        spec("linsert", 5, &["write", "denyoom"], one, "2.2.0", "Inserts an element before or after another element in a list.", linsert),
        spec("lrem", 4, &["write"], one, "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", lrem),
        spec("ltrim", 4, &["write"], one, "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", ltrim),
        spec("lpos", -3, read, one, "6.0.6", "Returns the index of matching elements in a list.", lpos),
        spec("lmove", 5, &["write", "denyoom"], (1, 2, 1), "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", lmove),
        spec("rpoplpush", 3, &["write", "denyoom"], (1, 2, 1), "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", rpoplpush),
        spec("lmpop", -4, &["write", "movablekeys"], (0, 0, 0), "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", lmpop),
    ]
}

/// The list at `key` for a read.
fn read_list<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a List>, Reply> {
    typed::read(ctx, key)
}

/// The list at `key` for a change, created empty when `create` and absent.
pub(super) fn write_list<'a>(
    ctx: &'a mut Ctx,
    key: &Bytes,
    create: bool,
) -> Result<Option<&'a mut List>, Reply> {
    if create {
        typed::write_or_create(ctx, key, || Value::List(List::default())).map(Some)
    } else {
        typed::write(ctx, key)
    }
}

fn push(ctx: &mut Ctx, args: &[Bytes], left: bool, create: bool) -> Reply {
    let limit = ctx.state.config.list_limit();
    let list = match write_list(ctx, &args[1], create) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(l)) => l,
    };
    for item in &args[2..] {
        list.push(left, item, limit);
    }
    let len = list.len();
    changed(
        ctx,
        &args[1],
        false,
        (LIST, if left { "lpush" } else { "rpush" }),
    );
    Reply::Integer(len as i64)
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, true, true)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, false, true)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, true, false)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    push(ctx, args, false, false)
}

/// LPOP/RPOP key [count]: without a count one element or nil; with one an array (nil when
/// there is no list).
fn pop(ctx: &mut Ctx, args: &[Bytes], left: bool) -> Reply {
    if args.len() > 3 {
        return Reply::error(error::arity(if left { "lpop" } else { "rpop" }));
    }
    let count = match args.get(2).map(|a| int_arg(a)) {
        None => None,
        Some(Err(_)) | Some(Ok(i64::MIN..=-1)) => {
            return Reply::error("ERR value is out of range, must be positive")
        }
        Some(Ok(n)) => Some(n as u64),
    };
    let limit = ctx.state.config.list_limit();
    let list = match write_list(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(None) if count.is_some() => return Reply::NullArray,
        Ok(None) => return Reply::Null,
        Ok(Some(l)) => l,
    };
    let Some(count) = count else {
        let item = list.pop(left, limit);
        let emptied = list.is_empty();
        changed(
            ctx,
            &args[1],
            emptied,
            (LIST, if left { "lpop" } else { "rpop" }),
        );
        return item.map_or(Reply::Null, Reply::Bulk);
    };
    if count == 0 {
        return Reply::Array(Vec::new());
    }
    let items: Vec<Reply> = (0..count)
        .map_while(|_| list.pop(left, limit))
        .map(Reply::Bulk)
        .collect();
    let emptied = list.is_empty();
    changed(
        ctx,
        &args[1],
        emptied,
        (LIST, if left { "lpop" } else { "rpop" }),
    );
    Reply::Array(items)
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, true)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop(ctx, args, false)
}

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_list(ctx, &args[1]) {
        Err(e) => e,
        Ok(l) => Reply::Integer(l.map_or(0, List::len) as i64),
    }
}

/// Redis's index rules: negative counts from the end; `None` when outside the list.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { index + len as i64 } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// LRANGE and LTRIM's clamping of a start/stop pair; `None` for an empty range.
fn clamp(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { stop + len } else { stop }.min(len - 1);
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, stop) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match read_list(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some(l)) => match clamp(start, stop, l.len()) {
            None => Reply::Array(Vec::new()),
            Some((a, b)) => Reply::Array(l.range(a, b).map(Reply::bulk).collect()),
        },
    }
}

/// LINDEX: the key is looked up before the index is read, as in Redis (a missing key is nil
/// and another type WRONGTYPE, whatever the index).
fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let list = match read_list(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Null,
        Ok(Some(l)) => l,
    };
    let index = match int_arg(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    position(index, list.len())
        .and_then(|i| list.get(i))
        .map_or(Reply::Null, Reply::bulk)
}

/// LSET: the key is looked up before the index is read, as LINDEX.
fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limit = ctx.state.config.list_limit();
    let list = match write_list(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(l)) => l,
    };
    let index = match int_arg(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let Some(i) = position(index, list.len()) else {
        return Reply::error("ERR index out of range");
    };
    list.set(i, &args[3], limit);
    changed(ctx, &args[1], false, (LIST, "lset"));
    Reply::ok()
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Reply::error(error::SYNTAX);
    };
    let limit = ctx.state.config.list_limit();
    let list = match write_list(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(l)) => l,
    };
    let Some(at) = list.iter().position(|v| v == args[3]) else {
        return Reply::Integer(-1);
    };
    list.insert(at + usize::from(after), &args[4], limit);
    let len = list.len();
    changed(ctx, &args[1], false, (LIST, "linsert"));
    Reply::Integer(len as i64)
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let count = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let limit = ctx.state.config.list_limit();
    let list = match write_list(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(l)) => l,
    };
    let len = list.len();
    let max = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    // Positions of the matches to remove, from the head or (count < 0) from the tail.
    let matches: Vec<usize> = if count >= 0 {
        list.iter()
            .enumerate()
            .filter(|(_, v)| **v == args[3])
            .map(|(i, _)| i)
            .take(max)
            .collect()
    } else {
        list.iter()
            .enumerate()
            .rev()
            .filter(|(_, v)| **v == args[3])
            .map(|(i, _)| i)
            .take(max)
            .collect()
    };
    if matches.is_empty() {
        return Reply::Integer(0);
    }
    let mut doomed = vec![false; len];
    for &i in &matches {
        doomed[i] = true;
    }
    list.retain_positions(limit, |i, _| !doomed[i]);
    let emptied = list.is_empty();
    changed(ctx, &args[1], emptied, (LIST, "lrem"));
    Reply::Integer(matches.len() as i64)
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, stop) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let limit = ctx.state.config.list_limit();
    let list = match write_list(ctx, &args[1], false) {
        Err(e) => return e,
        Ok(None) => return Reply::ok(),
        Ok(Some(l)) => l,
    };
    let kept = clamp(start, stop, list.len());
    list.retain_positions(limit, |i, _| {
        kept.is_some_and(|(a, b)| (a..=b).contains(&i))
    });
    let emptied = list.is_empty();
    changed(ctx, &args[1], emptied, (LIST, "ltrim"));
    Reply::ok()
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    let mut i = 3;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Reply::error(error::SYNTAX);
        };
        let n = match int_arg(value) {
            Ok(n) => n,
            // Redis reads COUNT and MAXLEN as non-negative numbers with one message for
            // both faults.
            Err(_) if is(&args[i], "count") => return Reply::error("ERR COUNT can't be negative"),
            Err(_) if is(&args[i], "maxlen") => {
                return Reply::error("ERR MAXLEN can't be negative")
            }
            Err(e) => return e,
        };
        if is(&args[i], "rank") {
            if n == 0 {
                return Reply::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
            }
            rank = n;
        } else if is(&args[i], "count") {
            if n < 0 {
                return Reply::error("ERR COUNT can't be negative");
            }
            count = Some(n as usize);
        } else if is(&args[i], "maxlen") {
            if n < 0 {
                return Reply::error("ERR MAXLEN can't be negative");
            }
            maxlen = n;
        } else {
            return Reply::error(error::SYNTAX);
        }
        i += 2;
    }
    let missing = if count.is_some() {
        Reply::Array(Vec::new())
    } else {
        Reply::Null
    };
    let list = match read_list(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return missing,
        Ok(Some(l)) => l,
    };
    let len = list.len();
    let scan = if maxlen == 0 {
        len
    } else {
        (maxlen as usize).min(len)
    };
    // Redis negates the rank in a signed long: the smallest one stays negative and skips
    // nothing, as -1 would.
    let skip = if rank == i64::MIN {
        0
    } else {
        (rank.unsigned_abs() - 1) as usize
    };
    let wanted = match count {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 1,
    };
    let found: Vec<usize> = if rank > 0 {
        list.iter()
            .take(scan)
            .enumerate()
            .filter(|(_, v)| **v == args[2])
            .map(|(i, _)| i)
            .skip(skip)
            .take(wanted)
            .collect()
    } else {
        list.iter()
            .enumerate()
            .rev()
            .take(scan)
            .filter(|(_, v)| **v == args[2])
            .map(|(i, _)| i)
            .skip(skip)
            .take(wanted)
            .collect()
    };
    match count {
        Some(_) => Reply::Array(
            found
                .into_iter()
                .map(|i| Reply::Integer(i as i64))
                .collect(),
        ),
        None => found
            .first()
            .map_or(Reply::Null, |&i| Reply::Integer(i as i64)),
    }
}

pub(super) fn side(arg: &[u8]) -> Option<bool> {
    if is(arg, "left") {
        Some(true)
    } else if is(arg, "right") {
        Some(false)
    } else {
        None
    }
}

/// Pops from `src` at `from_left`, pushes to `dst` at `to_left`; nil when `src` is empty.
pub(super) fn move_one(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
) -> Reply {
    let now = ctx.now_ms;
    match ctx.db().get(src, now) {
        None => return Reply::Null,
        Some(Value::List(_)) => {}
        Some(_) => return Reply::error(error::WRONGTYPE),
    }
    if !matches!(ctx.db().get(dst, now), None | Some(Value::List(_))) {
        return Reply::error(error::WRONGTYPE);
    }
    let limit = ctx.state.config.list_limit();
    let Ok(Some(list)) = write_list(ctx, src, false) else {
        return Reply::Null;
    };
    let Some(item) = list.pop(from_left, limit) else {
        return Reply::Null;
    };
    // As Redis: the push first, then the pop's event, then the source goes if it is empty
    // (never when it is the destination).
    if let Ok(Some(target)) = write_list(ctx, dst, true) {
        target.push(to_left, &item, limit);
    }
    ctx.notify(LIST, if to_left { "lpush" } else { "rpush" }, dst);
    ctx.touch(dst);
    let now = ctx.now_ms;
    let emptied = matches!(ctx.db().get(src, now), Some(Value::List(l)) if l.is_empty());
    changed(
        ctx,
        src,
        emptied,
        (LIST, if from_left { "lpop" } else { "rpop" }),
    );
    Reply::Bulk(item)
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Some(from), Some(to)) = (side(&args[3]), side(&args[4])) else {
        return Reply::error(error::SYNTAX);
    };
    move_one(ctx, &args[1], &args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    move_one(ctx, &args[1], &args[2], false, true)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: from the first non-empty list.
fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (keys, left, count) = match parse_multi_pop(args, 1, side) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    match multi_pop(ctx, &keys, left, count) {
        Err(e) => e,
        Ok(None) => Reply::NullArray,
        Ok(Some((key, items))) => multi_pop_reply(key, items),
    }
}

/// `numkeys key [key ...] LEFT|RIGHT [COUNT count]` from `args[at]` on (LMPOP, BLMPOP; the
/// sorted sets' MIN|MAX with their own `end`). More keys than arguments is a syntax error,
/// as in Redis.
pub(super) fn parse_multi_pop(
    args: &[Bytes],
    at: usize,
    end: fn(&[u8]) -> Option<bool>,
) -> Result<(Vec<Bytes>, bool, u64), Reply> {
    let numkeys = match int_arg(&args[at]) {
        Ok(n) if n > 0 => n as usize,
        Ok(_) | Err(_) => return Err(Reply::error("ERR numkeys should be greater than 0")),
    };
    if numkeys > args.len() - at - 1 {
        return Err(Reply::error(error::SYNTAX));
    }
    let keys = args[at + 1..at + 1 + numkeys].to_vec();
    let rest = &args[at + 1 + numkeys..];
    let Some(left) = rest.first().and_then(|a| end(a)) else {
        return Err(Reply::error(error::SYNTAX));
    };
    let count = match rest.len() {
        1 => 1,
        3 if is(&rest[1], "count") => match int_arg(&rest[2]) {
            Ok(n) if n > 0 => n as u64,
            Ok(_) | Err(_) => return Err(Reply::error("ERR count should be greater than 0")),
        },
        _ => return Err(Reply::error(error::SYNTAX)),
    };
    Ok((keys, left, count))
}

/// Pops up to `count` from the first non-empty list of `keys`; a key of another type is
/// WRONGTYPE.
pub(super) fn multi_pop(
    ctx: &mut Ctx,
    keys: &[Bytes],
    left: bool,
    count: u64,
) -> Result<Option<(Bytes, Vec<Bytes>)>, Reply> {
    let limit = ctx.state.config.list_limit();
    for key in keys {
        let Some(list) = write_list(ctx, key, false)? else {
            continue;
        };
        let items: Vec<Bytes> = (0..count).map_while(|_| list.pop(left, limit)).collect();
        let emptied = list.is_empty();
        changed(
            ctx,
            key,
            emptied,
            (LIST, if left { "lpop" } else { "rpop" }),
        );
        return Ok(Some((key.clone(), items)));
    }
    Ok(None)
}

/// `[key, [element ...]]`.
pub(super) fn multi_pop_reply(key: Bytes, items: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(key),
        Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
    ])
}
