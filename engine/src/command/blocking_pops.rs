//! The blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP on lists, BZPOPMIN, BZPOPMAX,
//! BZMPOP on sorted sets. With data they answer at once, as their non-blocking forms;
//! otherwise the client waits (FIFO with every other blocked client, in [`crate::blocking`])
//! until a write makes one of its keys a non-empty value of its type, or the timeout (seconds,
//! fractions allowed). A key of another type met before a non-empty one is WRONGTYPE when
//! the command runs, and is passed over while it waits. A served pop is logged as its non-blocking form (LPOP, RPOP, LMOVE,
//! ZPOPMIN, ZPOPMAX), as Redis propagates it.

use bytes::Bytes;

use super::lists::{move_one, multi_pop, multi_pop_reply, parse_multi_pop, side, write_list};
use super::typed::changed;
use super::zsets::{self, pop_entries};
use super::{Ctx, Group, Spec};
use crate::blocking::BlockedRead;
use crate::error;
use crate::keyspace::Value;
use crate::long_double::LongDouble;
use crate::notify::LIST;
use crate::reply::Reply;

/// What a blocked pop does once a list has an element.
#[derive(Debug, Clone)]
pub enum PopKind {
    /// BLPOP/BRPOP: one element from the head (`left`) or the tail.
    One {
        /// From the head.
        left: bool,
    },
    /// BLMOVE/BRPOPLPUSH: one element moved to `dst`.
    Move {
        /// The destination list.
        dst: Bytes,
        /// Popped from the head of the source.
        from_left: bool,
        /// Pushed at the head of the destination.
        to_left: bool,
    },
    /// BLMPOP: up to `count` elements.
    Many {
        /// From the head.
        left: bool,
        /// At most this many.
        count: u64,
    },
    /// BZPOPMIN/BZPOPMAX: the lowest (`min`) or highest member of a sorted set.
    ZOne {
        /// The lowest.
        min: bool,
    },
    /// BZMPOP: up to `count` members of a sorted set.
    ZMany {
        /// The lowest.
        min: bool,
        /// At most this many.
        count: u64,
    },
}

impl PopKind {
    /// Whether the pop takes from sorted sets (else lists).
    fn on_zsets(&self) -> bool {
        matches!(self, PopKind::ZOne { .. } | PopKind::ZMany { .. })
    }
}

/// A blocked list pop.
#[derive(Debug, Clone)]
pub struct BlockedPop {
    /// The lists, in the order named: the first with an element serves.
    pub keys: Vec<Bytes>,
    /// What it pops.
    pub kind: PopKind,
    /// The command's name, for INFO's error counts.
    pub command: &'static str,
}

/// The blocking pops' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::List);
    vec![
        spec("blpop", -3, &["write", "blocking"], (1, -2, 1), "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", blpop),
        spec("brpop", -3, &["write", "blocking"], (1, -2, 1), "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", brpop),
        spec("blmove", 6, &["write", "denyoom", "blocking"], (1, 2, 1), "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", blmove),
        spec("brpoplpush", 4, &["write", "denyoom", "blocking"], (1, 2, 1), "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", brpoplpush),
        spec("blmpop", -5, &["write", "blocking", "movablekeys"], (0, 0, 0), "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", blmpop),
    ]
}

/// The blocking sorted-set pops' table entries.
pub fn zset_specs() -> Vec<Spec> {
    let spec = Spec::family(Group::SortedSet);
    vec![
        spec("bzpopmin", -3, &["write", "noscript", "blocking", "fast"], (1, -2, 1), "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", bzpopmin),
        spec("bzpopmax", -3, &["write", "noscript", "blocking", "fast"], (1, -2, 1), "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", bzpopmax),
        spec("bzmpop", -5, &["write", "blocking", "movablekeys"], (0, 0, 0), "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", bzmpop),
    ]
}

/// A timeout in seconds (fractions allowed), as Redis reads it, in ms; 0 waits forever.
fn timeout_ms(arg: &[u8]) -> Result<u64, Reply> {
    let seconds = LongDouble::parse(arg)
        .ok_or_else(|| Reply::error("ERR timeout is not a float or out of range"))?;
    let ms = seconds.to_f64() * 1000.0;
    if ms > i64::MAX as f64 {
        return Err(Reply::error("ERR timeout is out of range"));
    }
    let ms = ms.ceil();
    if ms < 0.0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok(ms as u64)
}

/// Whether `value` is a non-empty value of the type the pop takes from; `None` when it is of
/// another type.
fn holds_items(value: &Value, zsets: bool) -> Option<bool> {
    match value {
        Value::List(l) if !zsets => Some(!l.is_empty()),
        Value::ZSet(z) if zsets => Some(!z.is_empty()),
        _ => None,
    }
}

/// WRONGTYPE when, walking `keys` in order as Redis does, one holds something other than
/// what the pop takes from before one holds items: keys after the one served are not looked
/// at (`BLPOP full other-type 0` pops).
fn check_types(ctx: &mut Ctx, keys: &[Bytes], zsets: bool) -> Result<(), Reply> {
    let now = ctx.now_ms;
    for key in keys {
        match ctx.db().get(key, now).map(|v| holds_items(v, zsets)) {
            Some(None) => return Err(Reply::error(error::WRONGTYPE)),
            Some(Some(true)) => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// Pops from the sorted set at `key` for a served BZPOPMIN/BZPOPMAX/BZMPOP, logged as
/// ZPOPMIN/ZPOPMAX with the count taken.
fn serve_zset(ctx: &mut Ctx, key: &Bytes, min: bool, count: Option<u64>) -> Option<Reply> {
    let n = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let popped = match pop_entries(ctx, key, min, n) {
        Err(e) => return Some(e),
        Ok(None) => return None,
        Ok(Some(p)) if p.is_empty() => return None,
        Ok(Some(p)) => p,
    };
    let verb: &'static [u8] = if min { b"ZPOPMIN" } else { b"ZPOPMAX" };
    let mut logged = vec![Bytes::from_static(verb), key.clone()];
    if count.is_some() {
        logged.push(Bytes::from(popped.len().to_string()));
    }
    ctx.propagate(logged);
    Some(match count {
        Some(_) => zsets::multi_pop_reply(key.clone(), popped),
        None => {
            let (score, member) = popped.into_iter().next()?;
            Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Bulk(member),
                Reply::Double(score),
            ])
        }
    })
}

/// Serves `pop` from what the lists hold now; `None` when all are empty (or not lists).
fn serve(ctx: &mut Ctx, pop: &BlockedPop) -> Option<Reply> {
    let limit = ctx.state.config.list_limit();
    let now = ctx.now_ms;
    let zsets = pop.kind.on_zsets();
    for key in &pop.keys {
        let ready =
            matches!(ctx.db().get(key, now), Some(v) if holds_items(v, zsets) == Some(true));
        if !ready {
            continue;
        }
        let word = |left: bool| Bytes::from_static(if left { b"LEFT" } else { b"RIGHT" });
        return Some(match &pop.kind {
            PopKind::ZOne { min } => serve_zset(ctx, key, *min, None)?,
            PopKind::ZMany { min, count } => serve_zset(ctx, key, *min, Some(*count))?,
            PopKind::One { left } => {
                let Ok(Some(list)) = write_list(ctx, key, false) else {
                    continue;
                };
                let item = list.pop(*left, limit)?;
                let emptied = list.is_empty();
                changed(
                    ctx,
                    key,
                    emptied,
                    (LIST, if *left { "lpop" } else { "rpop" }),
                );
                let verb: &'static [u8] = if *left { b"LPOP" } else { b"RPOP" };
                ctx.propagate(vec![Bytes::from_static(verb), key.clone()]);
                Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(item)])
            }
            PopKind::Move {
                dst,
                from_left,
                to_left,
            } => {
                let reply = move_one(ctx, key, dst, *from_left, *to_left);
                if matches!(reply, Reply::Bulk(_)) {
                    ctx.propagate(vec![
                        Bytes::from_static(b"LMOVE"),
                        key.clone(),
                        dst.clone(),
                        word(*from_left),
                        word(*to_left),
                    ]);
                }
                reply
            }
            PopKind::Many { left, count } => {
                match multi_pop(ctx, std::slice::from_ref(key), *left, *count) {
                    Err(e) => e,
                    Ok(None) => continue,
                    Ok(Some((key, items))) => {
                        let verb: &'static [u8] = if *left { b"LPOP" } else { b"RPOP" };
                        ctx.propagate(vec![
                            Bytes::from_static(verb),
                            key.clone(),
                            Bytes::from(items.len().to_string()),
                        ]);
                        multi_pop_reply(key, items)
                    }
                }
            }
        });
    }
    None
}

/// Re-runs a blocked pop; `Some` when it has an answer now.
pub fn retry_blocked(ctx: &mut Ctx, pop: &BlockedPop) -> Option<Reply> {
    serve(ctx, pop)
}

/// Answers now, or blocks. Inside MULTI (or a script) there is no waiting: the empty answer
/// is `empty` (nil array for the pops, nil for the moves, as in Redis).
fn pop_or_block(ctx: &mut Ctx, pop: BlockedPop, timeout: u64, empty: Reply) -> Reply {
    if let Err(e) = check_types(ctx, &pop.keys, pop.kind.on_zsets()) {
        return e;
    }
    if let Some(reply) = serve(ctx, &pop) {
        return reply;
    }
    if !ctx.session.may_block() {
        return empty;
    }
    ctx.block(BlockedRead::ListPop(pop), timeout);
    Reply::NullArray
}

fn bpop(ctx: &mut Ctx, args: &[Bytes], left: bool, command: &'static str) -> Reply {
    let timeout = match timeout_ms(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let pop = BlockedPop {
        keys: args[1..args.len() - 1].to_vec(),
        kind: PopKind::One { left },
        command,
    };
    pop_or_block(ctx, pop, timeout, Reply::NullArray)
}

fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, true, "blpop")
}

fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, false, "brpop")
}

fn bmove(
    ctx: &mut Ctx,
    args: &[Bytes],
    from_left: bool,
    to_left: bool,
    timeout_at: usize,
    command: &'static str,
) -> Reply {
    let timeout = match timeout_ms(&args[timeout_at]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    // Only the source is checked before waiting; the destination when an element moves.
    let pop = BlockedPop {
        keys: vec![args[1].clone()],
        kind: PopKind::Move {
            dst: args[2].clone(),
            from_left,
            to_left,
        },
        command,
    };
    pop_or_block(ctx, pop, timeout, Reply::Null)
}

fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Some(from), Some(to)) = (side(&args[3]), side(&args[4])) else {
        return Reply::error(error::SYNTAX);
    };
    bmove(ctx, args, from, to, 5, "blmove")
}

fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bmove(ctx, args, false, true, 3, "brpoplpush")
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let timeout = match timeout_ms(&args[1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let (keys, left, count) = match parse_multi_pop(args, 2, side) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let pop = BlockedPop {
        keys,
        kind: PopKind::Many { left, count },
        command: "blmpop",
    };
    pop_or_block(ctx, pop, timeout, Reply::NullArray)
}

fn bzpop(ctx: &mut Ctx, args: &[Bytes], min: bool, command: &'static str) -> Reply {
    let timeout = match timeout_ms(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let pop = BlockedPop {
        keys: args[1..args.len() - 1].to_vec(),
        kind: PopKind::ZOne { min },
        command,
    };
    pop_or_block(ctx, pop, timeout, Reply::NullArray)
}

fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, true, "bzpopmin")
}

fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, false, "bzpopmax")
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let timeout = match timeout_ms(&args[1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let (keys, min, count) = match parse_multi_pop(args, 2, zsets::end) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let pop = BlockedPop {
        keys,
        kind: PopKind::ZMany { min, count },
        command: "bzmpop",
    };
    pop_or_block(ctx, pop, timeout, Reply::NullArray)
}
