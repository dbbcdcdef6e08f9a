//! The sorted-set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD, with
//! WEIGHTS and AGGREGATE SUM|MIN|MAX. Plain sets count as sorted sets whose scores are all 1,
//! as in Redis; a missing key is an empty input. Weighted scores and sums that come out NaN
//! (`inf * 0`, `inf + -inf`) become 0, as Redis makes them.

use std::collections::HashMap;

use bytes::Bytes;

use super::keys::lookup_read;
use super::zrange::store;
use super::zsets::entries_reply;
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::score;
use crate::zset::{order, Entry};

/// The algebra commands' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::SortedSet);
    let read: &'static [&'static str] = &["readonly", "movablekeys"];
    let store: &'static [&'static str] = &["write", "denyoom", "movablekeys"];
    let none = (0, 0, 0);
    let dst = (1, 1, 1);
    vec![
        spec(
            "zunion",
            -3,
            read,
            none,
            "6.2.0",
            "Returns the union of multiple sorted sets.",
            zunion,
        ),
        spec(
            "zinter",
            -3,
            read,
            none,
            "6.2.0",
            "Returns the intersect of multiple sorted sets.",
            zinter,
        ),
        spec(
            "zdiff",
            -3,
            read,
            none,
            "6.2.0",
            "Returns the difference between multiple sorted sets.",
            zdiff,
        ),
        spec(
            "zunionstore",
            -4,
            store,
            dst,
            "2.0.0",
            "Stores the union of multiple sorted sets in a key.",
            zunionstore,
        ),
        spec(
            "zinterstore",
            -4,
            store,
            dst,
            "2.0.0",
            "Stores the intersect of multiple sorted sets in a key.",
            zinterstore,
        ),
        spec(
            "zdiffstore",
            -4,
            store,
            dst,
            "6.2.0",
            "Stores the difference of multiple sorted sets in a key.",
            zdiffstore,
        ),
        spec(
            "zintercard",
            -3,
            read,
            none,
            "7.0.0",
            "Returns the number of members of the intersect of multiple sorted sets.",
            zintercard,
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn fold(self, target: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = target + value;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => {
                if value < target {
                    value
                } else {
                    target
                }
            }
            Aggregate::Max => {
                if value > target {
                    value
                } else {
                    target
                }
            }
        }
    }
}

/// One input: its members and scores (a set's are all 1), and its weight.
struct Source {
    scores: HashMap<Bytes, f64>,
    weight: f64,
}

impl Source {
    fn weighted(&self, score: f64) -> f64 {
        let v = self.weight * score;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    }
}

/// A parsed call: inputs in the order named, the aggregate, WITHSCORES and LIMIT.
struct Call {
    sources: Vec<Source>,
    aggregate: Aggregate,
    with_scores: bool,
    limit: usize,
}

/// Reads `numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE ...] [WITHSCORES] [LIMIT n]` from
/// `args[at]` on, as Redis's `zunionInterDiffGenericCommand`: the keys are looked up (and
/// WRONGTYPE reported) before the options are read.
fn parse(
    ctx: &mut Ctx,
    args: &[Bytes],
    at: usize,
    op: Op,
    store: bool,
    card: bool,
    name: &str,
) -> Result<Call, Reply> {
    let numkeys = int_arg(&args[at])?;
    if numkeys < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > (args.len() - at - 1) as u64 {
        return Err(Reply::error(error::SYNTAX));
    }
    let numkeys = numkeys as usize;
    let mut sources = Vec::with_capacity(numkeys);
    for key in &args[at + 1..at + 1 + numkeys] {
        let scores = match lookup_read(ctx, key) {
            None => HashMap::new(),
            Some(Value::ZSet(z)) => z.iter().map(|(s, m)| (m, s)).collect(),
            Some(Value::Set(s)) => s.members().map(|m| (m, 1.0)).collect(),
            Some(_) => return Err(Reply::error(error::WRONGTYPE)),
        };
        sources.push(Source {
            scores,
            weight: 1.0,
        });
    }
    let (mut aggregate, mut with_scores, mut limit) = (Aggregate::Sum, false, 0usize);
    let mut j = at + 1 + numkeys;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != Op::Diff && !card && remaining > numkeys && is(a, "weights") {
            for (i, source) in sources.iter_mut().enumerate() {
                source.weight = score::parse_strict(&args[j + 1 + i])
                    .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
            }
            j += 1 + numkeys;
        } else if op != Op::Diff && !card && remaining >= 2 && is(a, "aggregate") {
            let which = &args[j + 1];
            aggregate = if is(which, "sum") {
                Aggregate::Sum
            } else if is(which, "min") {
                Aggregate::Min
            } else if is(which, "max") {
                Aggregate::Max
            } else {
                return Err(Reply::error(error::SYNTAX));
            };
            j += 2;
        } else if !store && !card && is(a, "withscores") {
            with_scores = true;
            j += 1;
        } else if card && remaining >= 2 && is(a, "limit") {
            limit = match int_arg(&args[j + 1]) {
                Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                Ok(_) | Err(_) => return Err(Reply::error("ERR LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
    }
    Ok(Call {
        sources,
        aggregate,
        with_scores,
        limit,
    })
}

/// The result of `op` over the call's inputs, in sorted-set order.
fn compute(op: Op, call: &Call) -> Vec<Entry> {
    let mut result: HashMap<Bytes, f64> = HashMap::new();
    match op {
        Op::Diff => {
            let Some((first, rest)) = call.sources.split_first() else {
                return Vec::new();
            };
            for (m, s) in &first.scores {
                if !rest.iter().any(|r| r.scores.contains_key(m)) {
                    result.insert(m.clone(), *s);
                }
            }
        }
        Op::Union => {
            let mut by_size: Vec<&Source> = call.sources.iter().collect();
            by_size.sort_by_key(|s| s.scores.len());
            for source in by_size {
                for (m, s) in &source.scores {
                    let v = source.weighted(*s);
                    result
                        .entry(m.clone())
                        .and_modify(|t| *t = call.aggregate.fold(*t, v))
                        .or_insert(v);
                }
            }
        }
        Op::Inter => {
            let mut by_size: Vec<&Source> = call.sources.iter().collect();
            by_size.sort_by_key(|s| s.scores.len());
            let Some((smallest, others)) = by_size.split_first() else {
                return Vec::new();
            };
            'members: for (m, s) in &smallest.scores {
                let mut score = smallest.weighted(*s);
                for other in others {
                    let Some(os) = other.scores.get(m) else {
                        continue 'members;
                    };
                    // Unlike the first input's, these weighted scores keep a NaN: the
                    // aggregate decides (a SUM makes it 0, MIN and MAX pass it over).
                    score = call.aggregate.fold(score, other.weight * os);
                }
                result.insert(m.clone(), score);
            }
        }
    }
    let mut entries: Vec<Entry> = result.into_iter().map(|(m, s)| (s, m)).collect();
    entries.sort_by(|a, b| order((a.0, &a.1), (b.0, &b.1)));
    entries
}

/// ZUNION / ZINTER / ZDIFF numkeys key [key ...] [options] [WITHSCORES]
fn algebra(ctx: &mut Ctx, args: &[Bytes], op: Op, name: &str) -> Reply {
    let call = match parse(ctx, args, 1, op, false, false, name) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let resp3 = ctx.session.protocol >= 3;
    entries_reply(compute(op, &call), call.with_scores, resp3)
}

/// The STORE forms: `dst numkeys key [key ...] [options]`.
fn algebra_store(ctx: &mut Ctx, args: &[Bytes], op: Op, name: &'static str) -> Reply {
    let call = match parse(ctx, args, 2, op, true, false, name) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let entries = compute(op, &call);
    store(ctx, &args[1], entries, name)
}

fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, args, Op::Union, "zunion")
}

fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, args, Op::Inter, "zinter")
}

fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, args, Op::Diff, "zdiff")
}

fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, Op::Union, "zunionstore")
}

fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, Op::Inter, "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, Op::Diff, "zdiffstore")
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]: counts, stopping at the limit (0: none).
fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let call = match parse(ctx, args, 1, Op::Inter, false, true, "zintercard") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut by_size: Vec<&Source> = call.sources.iter().collect();
    by_size.sort_by_key(|s| s.scores.len());
    let Some((smallest, others)) = by_size.split_first() else {
        return Reply::Integer(0);
    };
    let mut n = 0usize;
    for m in smallest.scores.keys() {
        if others.iter().all(|o| o.scores.contains_key(m)) {
            n += 1;
            if n == call.limit {
                break;
            }
        }
    }
    Reply::Integer(n as i64)
}
