//! The blocking list pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP. With data they answer
//! at once, as their non-blocking forms; otherwise the client waits (FIFO with every other
//! blocked client, in [`crate::blocking`]) until a push makes one of its lists non-empty, or
//! the timeout (seconds, fractions allowed). A key of another type is WRONGTYPE when the
//! command runs, and is passed over while it waits. A served pop is logged as its
//! non-blocking form (LPOP, RPOP, LMOVE), as Redis propagates it.

use bytes::Bytes;

use super::lists::{move_one, multi_pop, multi_pop_reply, parse_multi_pop, side, write_list};
use super::typed::changed;
use super::{Ctx, Group, Spec};
use crate::blocking::BlockedRead;
use crate::error;
use crate::keyspace::Value;
use crate::long_double::LongDouble;
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

/// WRONGTYPE when one of `keys` holds something other than a list.
fn check_lists(ctx: &mut Ctx, keys: &[Bytes]) -> Result<(), Reply> {
    let now = ctx.now_ms;
    for key in keys {
        if matches!(ctx.db().get(key, now), Some(v) if !matches!(v, Value::List(_))) {
            return Err(Reply::error(error::WRONGTYPE));
        }
    }
    Ok(())
}

/// Serves `pop` from what the lists hold now; `None` when all are empty (or not lists).
fn serve(ctx: &mut Ctx, pop: &BlockedPop) -> Option<Reply> {
    let limit = ctx.state.config.list_limit();
    let now = ctx.now_ms;
    for key in &pop.keys {
        let ready = matches!(ctx.db().get(key, now), Some(Value::List(l)) if !l.is_empty());
        if !ready {
            continue;
        }
        let word = |left: bool| Bytes::from_static(if left { b"LEFT" } else { b"RIGHT" });
        return Some(match &pop.kind {
            PopKind::One { left } => {
                let Ok(Some(list)) = write_list(ctx, key, false) else {
                    continue;
                };
                let item = list.pop(*left, limit)?;
                let emptied = list.is_empty();
                changed(ctx, key, emptied);
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
    if let Err(e) = check_lists(ctx, &pop.keys) {
        return e;
    }
    if let Some(reply) = serve(ctx, &pop) {
        return reply;
    }
    if ctx.session.in_exec {
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
    let (keys, left, count) = match parse_multi_pop(args, 2) {
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
