//! The hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HSTRLEN, HEXISTS, HKEYS,
//! HVALS, HGETALL, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN, with Redis's replies and errors. A hash left
//! with no field is deleted, as in Redis.

use bytes::Bytes;

use super::hash_ttl::expire_fields;
use super::random::{at_positions, Picker};
use super::strings::{NAN_OR_INFINITY, NOT_A_FLOAT};
use super::typed;
use super::{Ctx, Group, Spec};
use crate::args::{glob_match, int_arg, is, parse_i64_strict};
use crate::error;
use crate::hash::Hash;
use crate::keyspace::Value;
use crate::long_double::LongDouble;
use crate::notify::HASH;
use crate::reply::Reply;

/// The hash commands' table entries.
pub fn specs() -> Vec<Spec> {
    let family = Spec::family(Group::Hash);
    let spec = |name, arity, flags, since, summary, run| {
        family(name, arity, flags, (1, 1, 1), since, summary, run)
    };
    let write_fast: &'static [&'static str] = &["write", "denyoom", "fast"];
    let read_fast: &'static [&'static str] = &["readonly", "fast"];
    let read: &'static [&'static str] = &["readonly"];
    vec![
        spec("hset", -4, write_fast, "2.0.0", "Creates or modifies the value of a field in a hash.", hset),
        spec("hmset", -4, write_fast, "2.0.0", "Sets the values of multiple fields.", hmset),
        spec("hsetnx", 4, write_fast, "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", hsetnx),
        spec("hget", 3, read_fast, "2.0.0", "Returns the value of a field in a hash.", hget),
        spec("hmget", -3, read_fast, "2.0.0", "Returns the values of all fields in a hash.", hmget),
        spec("hdel", -3, &["write", "fast"], "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", hdel),
        spec("hlen", 2, read_fast, "2.0.0", "Returns the number of fields in a hash.", hlen),
        spec("hstrlen", 3, read_fast, "3.2.0", "Returns the length of the value of a field.", hstrlen),
        spec("hexists", 3, read_fast, "2.0.0", "Determines whether a field exists in a hash.", hexists),
        spec("hkeys", 2, read, "2.0.0", "Returns all fields in a hash.", hkeys),
        spec("hvals", 2, read, "2.0.0", "Returns all values in a hash.", hvals),
        spec("hgetall", 2, read, "2.0.0", "Returns all fields and values in a hash.", hgetall),
        spec("hincrby", 4, write_fast, "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", hincrby),
        spec("hincrbyfloat", 4, write_fast, "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", hincrbyfloat),
        spec("hrandfield", -2, read, "6.2.0", "Returns one or more random fields from a hash.", hrandfield),
        spec("hscan", -3, read, "2.8.0", "Iterates over fields and values of a hash.", hscan),
    ]
}

/// A bulk reply of its own bytes.
fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

/// The hash at `key` for a read.
fn read_hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Hash>, Reply> {
    typed::read(ctx, key)
}

/// The hash at `key` for a change, created empty when `create` and absent.
fn write_hash<'a>(
    ctx: &'a mut Ctx,
    key: &Bytes,
    create: bool,
) -> Result<Option<&'a mut Hash>, Reply> {
    if create {
        typed::write_or_create(ctx, key, || Value::Hash(Hash::default())).map(Some)
    } else {
        typed::write(ctx, key)
    }
}

/// Sets the pairs of `args[2..]`; the number of new fields.
fn set_pairs(ctx: &mut Ctx, args: &[Bytes]) -> Result<i64, Reply> {
    if !args.len().is_multiple_of(2) {
        return Err(Reply::error(error::arity(
            &String::from_utf8_lossy(&args[0]).to_lowercase(),
        )));
    }
    let limits = ctx.state.config.hash_limits();
    let hash = write_hash(ctx, &args[1], true)?.ok_or_else(|| Reply::error(error::WRONGTYPE))?;
    let added = args[2..]
        .chunks_exact(2)
        .filter(|pair| hash.set(&pair[0], &pair[1], limits))
        .count();
    ctx.notify(HASH, "hset", &args[1]);
    ctx.touch(&args[1]);
    Ok(added as i64)
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_pairs(ctx, args).map_or_else(|e| e, Reply::Integer)
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_pairs(ctx, args).map_or_else(|e| e, |_| Reply::ok())
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = ctx.state.config.hash_limits();
    expire_fields(ctx, &args[1], Some(&args[2..3]));
    let hash = match write_hash(ctx, &args[1], true) {
        Ok(Some(h)) => h,
        Ok(None) => return Reply::error(error::WRONGTYPE),
        Err(e) => return e,
    };
    if hash.get(&args[2]).is_some() {
        return Reply::Integer(0);
    }
    hash.set(&args[2], &args[3], limits);
    ctx.notify(HASH, "hset", &args[1]);
    ctx.touch(&args[1]);
    Reply::Integer(1)
}

/// Runs `f` on the hash at `args[1]` for a read; `missing` when there is none.
fn with_hash(
    ctx: &mut Ctx,
    args: &[Bytes],
    missing: Reply,
    f: impl FnOnce(&Hash) -> Reply,
) -> Reply {
    match read_hash(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => missing,
        Ok(Some(h)) => f(h),
    }
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_fields(ctx, &args[1], Some(&args[2..3]));
    with_hash(ctx, args, Reply::Null, |h| {
        h.get(&args[2]).map_or(Reply::Null, bulk)
    })
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let fields = &args[2..];
    expire_fields(ctx, &args[1], Some(fields));
    let missing = Reply::Array(vec![Reply::Null; fields.len()]);
    with_hash(ctx, args, missing, |h| {
        Reply::Array(
            fields
                .iter()
                .map(|f| h.get(f).map_or(Reply::Null, bulk))
                .collect(),
        )
    })
}

/// HDEL removes fields whose time has passed too, and counts them, as Redis does.
fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::remove_each::<Hash>(ctx, args, (HASH, "hdel"))
}

/// HLEN counts fields whose time has passed but that are not deleted yet, as Redis does.
fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    typed::cardinality::<Hash>(ctx, args)
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_fields(ctx, &args[1], Some(&args[2..3]));
    with_hash(ctx, args, Reply::Integer(0), |h| {
        Reply::Integer(h.get(&args[2]).map_or(0, |v| v.len() as i64))
    })
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_fields(ctx, &args[1], Some(&args[2..3]));
    with_hash(ctx, args, Reply::Integer(0), |h| {
        Reply::Integer(i64::from(h.get(&args[2]).is_some()))
    })
}

// HKEYS, HVALS and HGETALL pass over fields whose time has passed without deleting them.

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    with_hash(ctx, args, Reply::Array(Vec::new()), |h| {
        Reply::Array(h.live_pairs(now).map(|(f, _)| bulk(f)).collect())
    })
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    with_hash(ctx, args, Reply::Array(Vec::new()), |h| {
        Reply::Array(h.live_pairs(now).map(|(_, v)| bulk(v)).collect())
    })
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    with_hash(ctx, args, Reply::Map(Vec::new()), |h| {
        Reply::Map(h.live_pairs(now).map(|(f, v)| (bulk(f), bulk(v))).collect())
    })
}

/// Sets field `args[2]` of the hash at `args[1]` (created if absent) to what `next` makes of
/// its current value, and counts the write; `next`'s error changes nothing.
fn update_field(
    ctx: &mut Ctx,
    args: &[Bytes],
    next: impl FnOnce(Option<&[u8]>) -> Result<Bytes, Reply>,
) -> Result<Bytes, Reply> {
    let limits = ctx.state.config.hash_limits();
    expire_fields(ctx, &args[1], Some(&args[2..3]));
    let hash: &mut Hash = typed::write_or_create(ctx, &args[1], || Value::Hash(Hash::default()))?;
    let value = next(hash.get(&args[2]))?;
    // An increment keeps the field's time (and its place), as in Redis.
    hash.set_keep_ttl(&args[2], &value, limits);
    let event = if is(&args[0], "hincrbyfloat") {
        "hincrbyfloat"
    } else {
        "hincrby"
    };
    ctx.notify(HASH, event, &args[1]);
    ctx.touch(&args[1]);
    Ok(value)
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let by = match int_arg(&args[3]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let mut result = 0;
    let updated = update_field(ctx, args, |current| {
        let current = match current {
            None => 0,
            Some(v) => parse_i64_strict(v)
                .ok_or_else(|| Reply::error("ERR hash value is not an integer"))?,
        };
        result = current
            .checked_add(by)
            .ok_or_else(|| Reply::error("ERR increment or decrement would overflow"))?;
        Ok(Bytes::from(result.to_string()))
    });
    updated.map_or_else(|e| e, |_| Reply::Integer(result))
}

/// HINCRBYFLOAT: the sum in C's `long double`, as INCRBYFLOAT; logged as the HSET of the
/// result, as Redis propagates it.
fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(by) = LongDouble::parse(&args[3]) else {
        return Reply::error(NOT_A_FLOAT);
    };
    if matches!(by, LongDouble::Infinite { .. }) {
        return Reply::error("ERR value is NaN or Infinity");
    }
    let updated = update_field(ctx, args, |current| {
        let current = match current {
            None => LongDouble::from_i64(0),
            Some(v) => {
                LongDouble::parse(v).ok_or_else(|| Reply::error("ERR hash value is not a float"))?
            }
        };
        let sum = current
            .add(&by)
            .ok_or_else(|| Reply::error(NAN_OR_INFINITY))?;
        Ok(Bytes::from(sum.to_human()))
    });
    let text = match updated {
        Ok(t) => t,
        Err(e) => return e,
    };
    if ctx.state.propagation.enabled() {
        ctx.propagate(vec![
            Bytes::from_static(b"HSET"),
            args[1].clone(),
            args[2].clone(),
            text.clone(),
        ]);
    }
    Reply::Bulk(text)
}

/// HRANDFIELD key [count [WITHVALUES]]: without a count one field (nil when no hash); a
/// positive count gives distinct fields (the whole hash when it has no more), a negative one
/// that many picks, repeats allowed.
fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (count, with_values) = match super::random::count_and_option(args, "withvalues") {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let resp3 = ctx.session.protocol >= 3;
    let missing = if count.is_some() {
        Reply::Array(Vec::new())
    } else {
        Reply::Null
    };
    // Redis deletes every expired field first.
    expire_fields(ctx, &args[1], None);
    with_hash(ctx, args, missing, |h| {
        let mut picker = Picker::new();
        let Some(count) = count else {
            return h
                .random_pair(picker.next())
                .map_or(Reply::Null, |(f, _)| bulk(f));
        };
        let picks: Vec<(&[u8], &[u8])> = if count < 0 {
            (0..count.unsigned_abs())
                .filter_map(|_| h.random_pair(picker.next()))
                .collect()
        } else if count as u64 >= h.len() as u64 {
            h.pairs().collect()
        } else {
            at_positions(h.pairs(), &picker.distinct(h.len(), count as usize))
        };
        let items = picks.into_iter().map(|(f, v)| {
            if !with_values {
                vec![bulk(f)]
            } else if resp3 {
                vec![Reply::Array(vec![bulk(f), bulk(v)])]
            } else {
                vec![bulk(f), bulk(v)]
            }
        });
        Reply::Array(items.flatten().collect())
    })
}

/// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES].
fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = super::keys::parse_cursor(&args[2]) else {
        return Reply::error("ERR invalid cursor");
    };
    // The key before the options, as SSCAN and ZSCAN (see `typed::scan`).
    match read_hash(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return super::typed::empty_scan(),
        Ok(Some(_)) => {}
    }
    let (mut count, mut pattern, mut no_values) = (10usize, None, false);
    let mut i = 3;
    while i < args.len() {
        let has_value = args.len() - i >= 2;
        if is(&args[i], "count") && has_value {
            match int_arg(&args[i + 1]) {
                Ok(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Ok(_) => return Reply::error(error::SYNTAX),
                Err(e) => return e,
            }
            i += 2;
        } else if is(&args[i], "match") && has_value {
            pattern = Some(&args[i + 1]).filter(|p| p.as_ref() != b"*");
            i += 2;
        } else if is(&args[i], "novalues") {
            no_values = true;
            i += 1;
        } else {
            return Reply::error(error::SYNTAX);
        }
    }
    let now = ctx.now_ms;
    with_hash(ctx, args, super::typed::empty_scan(), |h| {
        let (next, batch) = h.scan(cursor, count);
        let mut items = Vec::with_capacity(batch.len() * 2);
        for (f, v) in batch {
            if pattern.is_some_and(|p| !glob_match(p, f, false)) || h.is_expired(f, now) {
                continue;
            }
            items.push(bulk(f));
            if !no_values {
                items.push(bulk(v));
            }
        }
        Reply::Array(vec![Reply::text(next.to_string()), Reply::Array(items)])
    })
}
