//! `SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time|PXAT unix-time-ms|KEEPTTL]`
//! `GET key`
//! `GETEX key [EX seconds|PX milliseconds|EXAT unix-time|PXAT unix-time-ms|PERSIST]`
//! `GETDEL key`
//! `GETSET key value`
//! `SETNX key value`
//! `SETEX key seconds value`
//! `PSETEX key milliseconds value`
//! `MGET key [key ...]`
//! `MSET key value [key value ...]`
//! `MSETNX key value [key value ...]`
//! `APPEND key value`
//! `STRLEN key`
//! `GETRANGE key start end` (and its old name SUBSTR)
//! `SETRANGE key offset value`
//! `INCR key`, `DECR key`, `INCRBY key increment`, `DECRBY key decrement`
//!
//! String values. Writes that replace a value (SET, GETSET, MSET...) drop its time to live;
//! writes that change it in place (APPEND, SETRANGE, INCR...) keep it.

use bytes::Bytes;

use super::keys::lookup_read;
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is, parse_i64_strict};
use crate::error;
use crate::keyspace::Value;
use crate::long_double::LongDouble;
use crate::notify::{GENERIC, STRING};
use crate::reply::Reply;
use crate::string_value::Str;

/// Table entries for the string commands (SET, GET, GETEX, MSET, INCR, APPEND...).
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::String);
    let one = (1, 1, 1);
    let write_fast: &'static [&'static str] = &["write", "denyoom", "fast"];
    let read_fast: &'static [&'static str] = &["readonly", "fast"];
    vec![
        spec(
            "set",
            -3,
            &["write", "denyoom"],
            one,
            "1.0.0",
            "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
            set,
        ),
        spec(
            "get",
            2,
            read_fast,
            one,
            "1.0.0",
            "Returns the string value of a key.",
            get,
        ),
        spec(
            "getex",
            -2,
            &["write", "fast"],
            one,
            "6.2.0",
            "Returns the string value of a key after setting its expiration time.",
            getex,
        ),
        spec(
            "getdel",
            2,
            &["write", "fast"],
            one,
            "6.2.0",
            "Returns the string value of a key after deleting the key.",
            getdel,
        ),
        spec(
            "getset",
            3,
            write_fast,
            one,
            "1.0.0",
            "Returns the previous string value of a key after setting it to a new value.",
            getset,
        ),
        spec(
            "setnx",
            3,
            write_fast,
            one,
            "1.0.0",
            "Set the string value of a key only when the key doesn't exist.",
            setnx,
        ),
        spec(
            "setex",
            4,
            &["write", "denyoom"],
            one,
            "2.0.0",
            "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
            setex,
        ),
        spec(
            "psetex",
            4,
            &["write", "denyoom"],
            one,
            "2.6.0",
            "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
            psetex,
        ),
        spec(
            "mget",
            -2,
            read_fast,
            (1, -1, 1),
            "1.0.0",
            "Atomically returns the string values of one or more keys.",
            mget,
        ),
        spec(
            "mset",
            -3,
            &["write", "denyoom"],
            (1, -1, 2),
            "1.0.1",
            "Atomically creates or modifies the string values of one or more keys.",
            mset,
        ),
        spec(
            "msetnx",
            -3,
            &["write", "denyoom"],
            (1, -1, 2),
            "1.0.1",
            "Atomically modifies the string values of one or more keys only when all keys don't exist.",
            msetnx,
        ),
        spec(
            "append",
            3,
            write_fast,
            one,
            "2.0.0",
            "Appends a string to the value of a key. Creates the key if it doesn't exist.",
            append,
        ),
        spec(
            "strlen",
            2,
            read_fast,
            one,
            "2.2.0",
            "Returns the length of a string value.",
            strlen,
        ),
        spec(
            "getrange",
            4,
            &["readonly"],
            one,
            "2.4.0",
            "Returns a substring of the string stored at a key.",
            getrange,
        ),
        spec(
            "substr",
            4,
            &["readonly"],
            one,
            "1.0.0",
            "Returns a substring from a string value.",
            getrange,
        ),
        spec(
            "setrange",
            4,
            &["write", "denyoom"],
            one,
            "2.2.0",
            "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
            setrange,
        ),
        spec(
            "incr",
            2,
            write_fast,
            one,
            "1.0.0",
            "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
            incr,
        ),
        spec(
            "decr",
            2,
            write_fast,
            one,
            "1.0.0",
            "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
            decr,
        ),
        spec(
            "incrbyfloat",
            3,
            write_fast,
            one,
            "2.6.0",
            "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
            incrbyfloat,
        ),
        spec(
            "incrby",
            3,
            write_fast,
            one,
            "1.0.0",
            "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
            incrby,
        ),
        spec(
            "decrby",
            3,
            write_fast,
            one,
            "1.0.0",
            "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
            decrby,
        ),
    ]
}

/// OBJECT ENCODING of a string as Redis picks it when storing one: `int` for a canonical
/// 64-bit integer, `embstr` up to 44 bytes, `raw` beyond. (Redis also answers `raw` for a
/// short string changed in place by APPEND or SETRANGE; Rill does not track that.)
pub fn encoding(s: &[u8]) -> &'static str {
    let canonical_int =
        crate::args::parse_i64_strict(s).is_some_and(|n| n.to_string().as_bytes() == s);
    if canonical_int {
        "int"
    } else if s.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// The string at `key` for a read (counted in INFO's hits and misses): `Ok(None)` when absent,
/// WRONGTYPE when it holds another type.
fn read_string<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Str>, Reply> {
    super::typed::read(ctx, key)
}

/// The string at `key` for a write (not counted as a hit or miss).
fn write_string<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Str>, Reply> {
    super::typed::write(ctx, key)
}

/// Redis refuses to grow a string past `proto-max-bulk-len`.
fn check_length(ctx: &Ctx, total: u64) -> Result<(), Reply> {
    if total > ctx.state.config.proto_max_bulk_len {
        Err(Reply::error(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ))
    } else {
        Ok(())
    }
}

/// How an expiry argument reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpireUnit {
    /// EX: seconds from now.
    Ex,
    /// PX: milliseconds from now.
    Px,
    /// EXAT: Unix time in seconds.
    ExAt,
    /// PXAT: Unix time in milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn from_keyword(word: &[u8]) -> Option<ExpireUnit> {
        [
            ("ex", ExpireUnit::Ex),
            ("px", ExpireUnit::Px),
            ("exat", ExpireUnit::ExAt),
            ("pxat", ExpireUnit::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| is(word, name))
        .map(|(_, unit)| unit)
    }
}

/// The options shared by SET and GETEX (Redis's `parseExtendedStringArgumentsOrReply`).
#[derive(Debug, Default)]
struct Extended<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, &'a Bytes)>,
}

impl<'a> Extended<'a> {
    /// Reads `options`, SET's when `for_set`, else GETEX's. As in Redis, repeating an option is
    /// fine (the last time wins) and any conflicting or unknown word is a syntax error.
    fn parse(options: &'a [Bytes], for_set: bool) -> Result<Extended<'a>, Reply> {
        let mut o = Extended::default();
        let mut i = 0;
        while i < options.len() {
            let opt = &options[i];
            let next = options.get(i + 1);
            if for_set && is(opt, "nx") && !o.xx {
                o.nx = true;
            } else if for_set && is(opt, "xx") && !o.nx {
                o.xx = true;
            } else if for_set && is(opt, "get") {
                o.get = true;
            } else if for_set && is(opt, "keepttl") && o.expire.is_none() {
                o.keep_ttl = true;
            } else if !for_set && is(opt, "persist") && o.expire.is_none() {
                o.persist = true;
            } else if let (Some(unit), Some(value)) = (ExpireUnit::from_keyword(opt), next) {
                let compatible = o.expire.is_none_or(|(u, _)| u == unit);
                if o.keep_ttl || o.persist || !compatible {
                    return Err(Reply::error(error::SYNTAX));
                }
                o.expire = Some((unit, value));
                i += 1;
            } else {
                return Err(Reply::error(error::SYNTAX));
            }
            i += 1;
        }
        Ok(o)
    }
}

/// The absolute expiry (ms) an expiry argument asks for. It must be positive and must not
/// overflow once converted to milliseconds since the epoch; else
/// `ERR invalid expire time in '<command>' command`.
fn expire_at(unit: ExpireUnit, arg: &[u8], now_ms: u64, command: &str) -> Result<u64, Reply> {
    let n = int_arg(arg)?;
    let ms = match unit {
        ExpireUnit::Ex | ExpireUnit::ExAt => n.checked_mul(1000),
        ExpireUnit::Px | ExpireUnit::PxAt => Some(n),
    };
    let at = match (ms, unit) {
        (Some(ms), ExpireUnit::Ex | ExpireUnit::Px) if ms > 0 => {
            ms.checked_add(i64::try_from(now_ms).unwrap_or(i64::MAX))
        }
        (Some(ms), _) if n > 0 => Some(ms),
        _ => None,
    };
    at.and_then(|at| u64::try_from(at).ok())
        .ok_or_else(|| Reply::error(format!("ERR invalid expire time in '{command}' command")))
}

/// Stores a string, replacing whatever was there, and records the write: a `set` event (or
/// the command's own: `append`, `incrbyfloat`), then `expire` when a time is given.
fn store(ctx: &mut Ctx, key: &Bytes, value: Bytes, keep_ttl: bool, expire_at: Option<u64>) {
    let now = ctx.now_ms;
    let db = ctx.db();
    db.set(key.clone(), Value::Str(Str::new(&value)), keep_ttl);
    let event = match ctx.session.last_command {
        "append" => "append",
        "incrbyfloat" => "incrbyfloat",
        _ => "set",
    };
    ctx.notify(STRING, event, key);
    let db = ctx.db();
    match expire_at {
        // EXAT/PXAT in the past: the key is written and at once expired (except while a
        // log loads, when nothing expires).
        Some(at) if at <= now && !db.is_loading() => {
            db.remove(key);
            ctx.notify(GENERIC, "del", key);
        }
        Some(at) => {
            db.set_expiry(key, at);
            ctx.notify(GENERIC, "expire", key);
        }
        None => {}
    }
    ctx.touch(key);
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = match Extended::parse(&args[3..], true) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let at = match opts.expire {
        Some((unit, arg)) => match expire_at(unit, arg, ctx.now_ms, "set") {
            Ok(at) => Some(at),
            Err(e) => return e,
        },
        None => None,
    };
    let key = &args[1];
    let old = if opts.get {
        match read_string(ctx, key) {
            Ok(old) => Some(old.map(Str::to_bytes)),
            Err(e) => return e,
        }
    } else {
        None
    };
    let now = ctx.now_ms;
    let found = ctx.db().contains(key, now);
    if (opts.nx && found) || (opts.xx && !found) {
        return match old {
            Some(Some(value)) => Reply::Bulk(value),
            _ => Reply::Null,
        };
    }
    store(ctx, key, args[2].clone(), opts.keep_ttl, at);
    match old {
        None => Reply::ok(),
        Some(None) => Reply::Null,
        Some(Some(value)) => Reply::Bulk(value),
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_string(ctx, &args[1]) {
        Ok(Some(value)) => Reply::Bulk(value.to_bytes()),
        Ok(None) => Reply::Null,
        Err(e) => e,
    }
}

/// GETEX: a missing key answers nil before the expiry argument is even looked at.
fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = match Extended::parse(&args[2..], false) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let key = &args[1];
    let value = match read_string(ctx, key) {
        Ok(Some(value)) => value.to_bytes(),
        Ok(None) => return Reply::Null,
        Err(e) => return e,
    };
    let now = ctx.now_ms;
    if let Some((unit, arg)) = opts.expire {
        let at = match expire_at(unit, arg, now, "getex") {
            Ok(at) => at,
            Err(e) => return e,
        };
        let db = ctx.db();
        if at <= now && !db.is_loading() {
            db.remove(key);
            ctx.notify(GENERIC, "del", key);
        } else {
            db.set_expiry(key, at);
            ctx.notify(GENERIC, "expire", key);
        }
        ctx.touch(key);
    } else if opts.persist && ctx.db().persist(key) {
        ctx.notify(GENERIC, "persist", key);
        ctx.touch(key);
    }
    Reply::Bulk(value)
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let value = match read_string(ctx, key) {
        Ok(Some(value)) => value.to_bytes(),
        Ok(None) => return Reply::Null,
        Err(e) => return e,
    };
    ctx.db().remove(key);
    ctx.notify(GENERIC, "del", key);
    ctx.touch(key);
    Reply::Bulk(value)
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let old = match read_string(ctx, key) {
        Ok(old) => old.map(Str::to_bytes),
        Err(e) => return e,
    };
    store(ctx, key, args[2].clone(), false, None);
    old.map(Reply::Bulk).unwrap_or(Reply::Null)
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let now = ctx.now_ms;
    if ctx.db().contains(key, now) {
        return Reply::Integer(0);
    }
    store(ctx, key, args[2].clone(), false, None);
    Reply::Integer(1)
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_with_expiry(ctx, args, ExpireUnit::Ex, "setex")
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_with_expiry(ctx, args, ExpireUnit::Px, "psetex")
}

/// SETEX and PSETEX: a SET with a relative expiry, whatever the key held before.
fn set_with_expiry(ctx: &mut Ctx, args: &[Bytes], unit: ExpireUnit, command: &str) -> Reply {
    let at = match expire_at(unit, &args[2], ctx.now_ms, command) {
        Ok(at) => at,
        Err(e) => return e,
    };
    store(ctx, &args[1], args[3].clone(), false, Some(at));
    Reply::ok()
}

/// MGET: anything that is not a string reads as nil.
fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut values = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        values.push(match lookup_read(ctx, key) {
            Some(Value::Str(s)) => Reply::Bulk(s.to_bytes()),
            _ => Reply::Null,
        });
    }
    Reply::Array(values)
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::error(error::arity("mset"));
    }
    for pair in args[1..].chunks_exact(2) {
        store(ctx, &pair[0], pair[1].clone(), false, None);
    }
    Reply::ok()
}

/// MSETNX: all or nothing; one existing key (of any type) and nothing is set.
fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::error(error::arity("msetnx"));
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    if args[1..].iter().step_by(2).any(|key| db.contains(key, now)) {
        return Reply::Integer(0);
    }
    for pair in args[1..].chunks_exact(2) {
        store(ctx, &pair[0], pair[1].clone(), false, None);
    }
    Reply::Integer(1)
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, tail) = (&args[1], &args[2]);
    let current_len = match write_string(ctx, key) {
        Ok(current) => current.map(|s| s.len()),
        Err(e) => return e,
    };
    let total = match current_len {
        None => {
            store(ctx, key, tail.clone(), false, None);
            tail.len()
        }
        Some(len) => {
            if let Err(e) = check_length(ctx, (len + tail.len()) as u64) {
                return e;
            }
            if let Ok(Some(current)) = write_string(ctx, key) {
                let mut joined = Vec::with_capacity(len + tail.len());
                joined.extend_from_slice(current);
                joined.extend_from_slice(tail);
                *current = Str::new(&joined);
            }
            ctx.notify(STRING, "append", key);
            ctx.touch(key);
            len + tail.len()
        }
    };
    Reply::Integer(total as i64)
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_string(ctx, &args[1]) {
        Ok(value) => Reply::Integer(value.map_or(0, |v| v.len() as i64)),
        Err(e) => e,
    }
}

/// GETRANGE: negative indexes count from the end; out-of-range ends are clamped, so (as in
/// every Redis so far) `GETRANGE k 0 -100` still answers the first byte.
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut start, mut end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let value = match read_string(ctx, &args[1]) {
        Ok(Some(value)) => value,
        Ok(None) => return Reply::Bulk(Bytes::new()),
        Err(e) => return e,
    };
    // Both counted from the end with the start past the end: empty, before any clamping
    // (which would make `-10 -20` of "hello" its first byte).
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    let len = value.len() as i64;
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if len == 0 || start > end {
        return Reply::Bulk(Bytes::new());
    }
    Reply::Bulk(value.slice(start as usize..=end as usize))
}

/// SETRANGE: pads with zero bytes up to `offset`; an empty value changes nothing (and never
/// creates the key).
fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let patch = &args[3];
    let offset = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let Ok(offset) = usize::try_from(offset) else {
        return Reply::error("ERR offset is out of range");
    };
    let current = match write_string(ctx, key) {
        Ok(current) => current.cloned(),
        Err(e) => return e,
    };
    if patch.is_empty() {
        return Reply::Integer(current.map_or(0, |s| s.len() as i64));
    }
    if let Err(e) = check_length(ctx, offset as u64 + patch.len() as u64) {
        return e;
    }
    let mut bytes = current.as_deref().unwrap_or_default().to_vec();
    let end = offset + patch.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[offset..end].copy_from_slice(patch);
    let total = bytes.len() as i64;
    match write_string(ctx, key) {
        Ok(Some(slot)) => *slot = Str::new(&bytes),
        _ => {
            let db = ctx.db();
            db.set(key.clone(), Value::Str(Str::new(&bytes)), false);
        }
    }
    ctx.notify(STRING, "setrange", key);
    ctx.touch(key);
    Reply::Integer(total)
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match int_arg(&args[2]) {
        Ok(n) => incr_by(ctx, &args[1], n),
        Err(e) => e,
    }
}

/// DECRBY: refuses i64::MIN up front, since its negation does not exist.
fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match int_arg(&args[2]) {
        Ok(i64::MIN) => Reply::error("ERR decrement would overflow"),
        Ok(n) => incr_by(ctx, &args[1], -n),
        Err(e) => e,
    }
}

/// Adds `delta` to the integer at `key` (0 when missing), keeping its time to live.
/// INCRBYFLOAT: the sum in C's `long double`, printed as Redis prints it; the key keeps its
/// time to live. Logged as the SET of the result (see [`crate::propagate`]).
fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let current = match write_string(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => LongDouble::from_i64(0),
        Ok(Some(text)) => match LongDouble::parse(text) {
            Some(v) => v,
            None => return Reply::error(NOT_A_FLOAT),
        },
    };
    let Some(by) = LongDouble::parse(&args[2]) else {
        return Reply::error(NOT_A_FLOAT);
    };
    let Some(sum) = current.add(&by) else {
        return Reply::error(NAN_OR_INFINITY);
    };
    let text = Bytes::from(sum.to_human());
    store(ctx, &args[1], text.clone(), true, None);
    Reply::Bulk(text)
}

/// What INCRBYFLOAT and HINCRBYFLOAT answer for an increment that is not a number.
pub const NOT_A_FLOAT: &str = "ERR value is not a valid float";
/// ... and for a sum that is infinite.
pub const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";

fn incr_by(ctx: &mut Ctx, key: &Bytes, delta: i64) -> Reply {
    let current = match write_string(ctx, key) {
        Ok(Some(s)) => match parse_i64_strict(s) {
            Some(n) => Some(n),
            None => return Reply::error(error::NOT_INTEGER),
        },
        Ok(None) => None,
        Err(e) => return e,
    };
    let Some(value) = current.unwrap_or(0).checked_add(delta) else {
        return Reply::error(error::INCR_OVERFLOW);
    };
    let text = Bytes::from(value.to_string());
    match write_string(ctx, key) {
        Ok(Some(slot)) => *slot = Str::new(&text),
        _ => {
            let db = ctx.db();
            db.set(key.clone(), Value::Str(Str::new(&text)), false);
        }
    }
    ctx.notify(STRING, "incrby", key);
    ctx.touch(key);
    Reply::Integer(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{bulk, err, int, run};
    use crate::Engine;

    fn wrongtype() -> Reply {
        Reply::error(error::WRONGTYPE)
    }

    #[test]
    fn set_conditions_and_get() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["SET", "a", "1"]), Reply::ok());
        assert_eq!(run(&mut s, &["SET", "a", "1", "NX"]), Reply::Null);
        assert_eq!(run(&mut s, &["SET", "a", "2", "XX", "GET"]), bulk("1"));
        assert_eq!(run(&mut s, &["SET", "b", "1", "NX", "GET"]), Reply::Null);
        assert_eq!(run(&mut s, &["GET", "b"]), bulk("1"));
        assert_eq!(run(&mut s, &["SET", "a", "3", "NX", "GET"]), bulk("2"));
        assert_eq!(run(&mut s, &["GET", "a"]), bulk("2"));
        assert_eq!(run(&mut s, &["SET", "q", "3", "XX", "GET"]), Reply::Null);
        assert_eq!(run(&mut s, &["EXISTS", "q"]), int(0));
        assert_eq!(run(&mut s, &["SET", "a", "4", "nx", "nx"]), Reply::Null);
        assert_eq!(run(&mut s, &["SET", "a", "4", "get", "get"]), bulk("2"));
        assert_eq!(run(&mut s, &["GET", "nokey"]), Reply::Null);
    }

    #[test]
    fn set_syntax_errors() {
        let engine = Engine::new();
        let mut s = engine.session();
        for bad in [
            &["SET", "a", "1", "NX", "XX"][..],
            &["SET", "a", "1", "EX", "10", "PX", "10"],
            &["SET", "a", "1", "KEEPTTL", "EX", "10"],
            &["SET", "a", "1", "EX", "10", "KEEPTTL"],
            &["SET", "a", "1", "EX"],
            &["SET", "a", "1", "foo"],
            &["SET", "a", "1", "PERSIST"],
            &["SET", "a", "1", "EX", "abc", "foo"],
            &["SET", "a", "1", "EX", "0", "foo"],
        ] {
            assert_eq!(run(&mut s, bad), err(error::SYNTAX), "{bad:?}");
        }
        assert_eq!(
            run(&mut s, &["SET", "a", "1", "EX", "abc"]),
            err(error::NOT_INTEGER)
        );
        assert_eq!(
            run(&mut s, &["SET", "a", "1", "EX", "1.5"]),
            err(error::NOT_INTEGER)
        );
        assert_eq!(
            run(&mut s, &["SET", "a", "1", "EX", "10", "EX", "20"]),
            Reply::ok()
        );
        assert_eq!(run(&mut s, &["TTL", "a"]), int(20));
        assert_eq!(
            run(&mut s, &["SET", "a", "1", "KEEPTTL", "KEEPTTL"]),
            Reply::ok()
        );
    }

    #[test]
    fn set_expire_times() {
        let engine = Engine::new();
        let mut s = engine.session();
        let invalid = err("ERR invalid expire time in 'set' command");
        for bad in [
            &["SET", "a", "1", "EX", "0"][..],
            &["SET", "a", "1", "EX", "-1"],
            &["SET", "a", "1", "PX", "0"],
            &["SET", "a", "1", "EXAT", "0"],
            &["SET", "a", "1", "PXAT", "-1"],
            &["SET", "a", "1", "EX", "9223372036854775807"],
            &["SET", "a", "1", "EX", "9223372036854775"],
            &["SET", "a", "1", "PX", "9223372036854775807"],
            &["SET", "a", "1", "EXAT", "9223372036854776"],
            &["SET", "a", "1", "NX", "GET", "EX", "0"],
        ] {
            assert_eq!(run(&mut s, bad), invalid, "{bad:?}");
        }
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
        assert_eq!(
            run(&mut s, &["SET", "a", "1", "EX", "9223372036854"]),
            Reply::ok()
        );
        assert_eq!(run(&mut s, &["TTL", "a"]), int(9223372036854));
        assert_eq!(
            run(&mut s, &["SET", "a", "1", "PXAT", "9223372036854775807"]),
            Reply::ok()
        );
        assert_eq!(run(&mut s, &["PEXPIRETIME", "a"]), int(9223372036854775807));
        assert_eq!(
            run(&mut s, &["SET", "a", "1", "EXAT", "9223372036854775"]),
            Reply::ok()
        );
        assert_eq!(run(&mut s, &["SET", "a", "1", "PXAT", "1"]), Reply::ok());
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
        assert_eq!(run(&mut s, &["SET", "a", "1", "PX", "100000"]), Reply::ok());
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
    }

    #[test]
    fn set_ttl_is_dropped_unless_keepttl() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1", "EX", "100"]);
        assert_eq!(run(&mut s, &["SET", "a", "2", "KEEPTTL"]), Reply::ok());
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
        assert_eq!(run(&mut s, &["SET", "a", "3"]), Reply::ok());
        assert_eq!(run(&mut s, &["TTL", "a"]), int(-1));
    }

    #[test]
    fn wrong_types() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["XADD", "s", "*", "f", "v"]);
        for cmd in [
            &["SET", "s", "x", "GET"][..],
            &["SET", "s", "x", "NX", "GET"],
            &["SET", "s", "x", "XX", "GET"],
            &["GET", "s"],
            &["GETEX", "s"],
            &["GETEX", "s", "EX", "0"],
            &["GETDEL", "s"],
            &["GETSET", "s", "x"],
            &["APPEND", "s", "x"],
            &["STRLEN", "s"],
            &["INCR", "s"],
            &["DECRBY", "s", "2"],
            &["GETRANGE", "s", "0", "1"],
            &["SETRANGE", "s", "0", ""],
        ] {
            assert_eq!(run(&mut s, cmd), wrongtype(), "{cmd:?}");
        }
        assert_eq!(run(&mut s, &["TYPE", "s"]), Reply::simple("stream"));
        assert_eq!(
            run(&mut s, &["MGET", "s", "nokey"]),
            Reply::Array(vec![Reply::Null, Reply::Null])
        );
        assert_eq!(run(&mut s, &["SETNX", "s", "x"]), int(0));
        assert_eq!(run(&mut s, &["MSETNX", "s", "x"]), int(0));
        assert_eq!(run(&mut s, &["SETEX", "s", "10", "v"]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "s"]), bulk("v"));
        run(&mut s, &["DEL", "s"]);
        run(&mut s, &["XADD", "s", "*", "f", "v"]);
        assert_eq!(run(&mut s, &["SET", "s", "x"]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "s"]), bulk("x"));
    }

    #[test]
    fn setex_psetex() {
        let engine = Engine::new();
        let mut s = engine.session();
        let setex = err("ERR invalid expire time in 'setex' command");
        let psetex = err("ERR invalid expire time in 'psetex' command");
        assert_eq!(run(&mut s, &["SETEX", "a", "0", "v"]), setex);
        assert_eq!(run(&mut s, &["SETEX", "a", "-5", "v"]), setex);
        assert_eq!(run(&mut s, &["SETEX", "a", "9223372036854775", "v"]), setex);
        assert_eq!(
            run(&mut s, &["SETEX", "a", "x", "v"]),
            err(error::NOT_INTEGER)
        );
        assert_eq!(run(&mut s, &["PSETEX", "a", "0", "v"]), psetex);
        assert_eq!(
            run(&mut s, &["PSETEX", "a", "9223372036854775807", "v"]),
            psetex
        );
        assert_eq!(run(&mut s, &["SETEX", "a", "100", "v"]), Reply::ok());
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
        assert_eq!(run(&mut s, &["PSETEX", "a", "100000", "w"]), Reply::ok());
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
        assert_eq!(run(&mut s, &["GET", "a"]), bulk("w"));
    }

    #[test]
    fn getex_getdel_getset() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["GETEX", "nokey", "EX", "0"]), Reply::Null);
        assert_eq!(run(&mut s, &["GETEX", "nokey", "EX", "abc"]), Reply::Null);
        assert_eq!(run(&mut s, &["GETEX", "nokey", "foo"]), err(error::SYNTAX));
        assert_eq!(
            run(&mut s, &["GETEX", "nokey", "PERSIST", "EX", "1"]),
            err(error::SYNTAX)
        );
        run(&mut s, &["SET", "a", "v"]);
        for bad in ["NX", "XX", "GET", "KEEPTTL"] {
            assert_eq!(run(&mut s, &["GETEX", "a", bad]), err(error::SYNTAX));
        }
        assert_eq!(
            run(&mut s, &["GETEX", "a", "EX", "0"]),
            err("ERR invalid expire time in 'getex' command")
        );
        assert_eq!(run(&mut s, &["GETEX", "a", "EX", "100"]), bulk("v"));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
        assert_eq!(run(&mut s, &["GETEX", "a"]), bulk("v"));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
        assert_eq!(run(&mut s, &["GETEX", "a", "PERSIST"]), bulk("v"));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(-1));
        assert_eq!(run(&mut s, &["GETEX", "a", "PXAT", "1"]), bulk("v"));
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));

        assert_eq!(run(&mut s, &["GETSET", "g", "1"]), Reply::Null);
        run(&mut s, &["EXPIRE", "g", "100"]);
        assert_eq!(run(&mut s, &["GETSET", "g", "2"]), bulk("1"));
        assert_eq!(run(&mut s, &["TTL", "g"]), int(-1));
        assert_eq!(run(&mut s, &["GETDEL", "g"]), bulk("2"));
        assert_eq!(run(&mut s, &["GETDEL", "g"]), Reply::Null);
        assert_eq!(run(&mut s, &["EXISTS", "g"]), int(0));
    }

    #[test]
    fn multi_key() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(
            run(&mut s, &["MSET", "a"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            run(&mut s, &["MSET", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(
            run(&mut s, &["MSETNX", "a", "1", "b"]),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
        assert_eq!(run(&mut s, &["MSET", "a", "1", "b", "2"]), Reply::ok());
        assert_eq!(
            run(&mut s, &["MGET", "a", "nokey", "b"]),
            Reply::Array(vec![bulk("1"), Reply::Null, bulk("2")])
        );
        assert_eq!(run(&mut s, &["MSETNX", "a", "9", "c", "3"]), int(0));
        assert_eq!(run(&mut s, &["EXISTS", "c"]), int(0));
        assert_eq!(run(&mut s, &["MSETNX", "c", "3", "d", "4"]), int(1));
        assert_eq!(run(&mut s, &["MSETNX", "e", "1", "e", "2"]), int(1));
        assert_eq!(run(&mut s, &["GET", "e"]), bulk("2"));
        assert_eq!(run(&mut s, &["SETNX", "e", "3"]), int(0));
        assert_eq!(run(&mut s, &["SETNX", "f", "3"]), int(1));
    }

    #[test]
    fn append_strlen_ranges() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["STRLEN", "g"]), int(0));
        assert_eq!(run(&mut s, &["APPEND", "g", "foo"]), int(3));
        run(&mut s, &["EXPIRE", "g", "100"]);
        assert_eq!(run(&mut s, &["APPEND", "g", "bar"]), int(6));
        assert_eq!(run(&mut s, &["GET", "g"]), bulk("foobar"));
        assert_eq!(run(&mut s, &["TTL", "g"]), int(100));
        assert_eq!(run(&mut s, &["STRLEN", "g"]), int(6));

        run(&mut s, &["SET", "a", "hello"]);
        for (start, end, want) in [
            ("0", "-1", "hello"),
            ("-3", "-1", "llo"),
            ("3", "1", ""),
            ("-100", "100", "hello"),
            ("10", "20", ""),
            ("0", "-100", "h"),
            ("-1", "-5", ""),
            ("9223372036854775807", "-9223372036854775808", ""),
        ] {
            assert_eq!(run(&mut s, &["GETRANGE", "a", start, end]), bulk(want));
        }
        assert_eq!(run(&mut s, &["SUBSTR", "a", "1", "2"]), bulk("el"));
        assert_eq!(run(&mut s, &["GETRANGE", "nokey", "0", "-1"]), bulk(""));
        assert_eq!(
            run(&mut s, &["GETRANGE", "a", "x", "1"]),
            err(error::NOT_INTEGER)
        );

        assert_eq!(run(&mut s, &["SETRANGE", "a", "1", "E"]), int(5));
        assert_eq!(run(&mut s, &["SETRANGE", "a", "7", "X"]), int(8));
        assert_eq!(run(&mut s, &["GET", "a"]), Reply::bulk(b"hEllo\0\0X"));
        assert_eq!(run(&mut s, &["SETRANGE", "a", "0", ""]), int(8));
        assert_eq!(run(&mut s, &["SETRANGE", "nk", "0", ""]), int(0));
        assert_eq!(run(&mut s, &["EXISTS", "nk"]), int(0));
        assert_eq!(run(&mut s, &["SETRANGE", "nk", "2", "x"]), int(3));
        assert_eq!(run(&mut s, &["GET", "nk"]), Reply::bulk(b"\0\0x"));
        assert_eq!(
            run(&mut s, &["SETRANGE", "a", "-1", "x"]),
            err("ERR offset is out of range")
        );
        assert_eq!(
            run(&mut s, &["SETRANGE", "a", "536870912", "x"]),
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        );
    }

    #[test]
    fn counters() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["INCR", "n"]), int(1));
        assert_eq!(run(&mut s, &["DECRBY", "m", "5"]), int(-5));
        run(&mut s, &["SET", "i", "10"]);
        run(&mut s, &["EXPIRE", "i", "100"]);
        assert_eq!(run(&mut s, &["INCR", "i"]), int(11));
        assert_eq!(run(&mut s, &["INCRBY", "i", "-5"]), int(6));
        assert_eq!(run(&mut s, &["DECR", "i"]), int(5));
        assert_eq!(run(&mut s, &["DECRBY", "i", "3"]), int(2));
        assert_eq!(run(&mut s, &["GET", "i"]), bulk("2"));
        assert_eq!(run(&mut s, &["TTL", "i"]), int(100));

        let overflow = err("ERR increment or decrement would overflow");
        assert_eq!(
            run(&mut s, &["DECRBY", "i", "-9223372036854775808"]),
            err("ERR decrement would overflow")
        );
        assert_eq!(
            run(&mut s, &["DECRBY", "nokey", "-9223372036854775808"]),
            err("ERR decrement would overflow")
        );
        run(&mut s, &["SET", "i", "-1"]);
        assert_eq!(
            run(&mut s, &["DECRBY", "i", "9223372036854775807"]),
            int(i64::MIN)
        );
        assert_eq!(run(&mut s, &["DECR", "i"]), overflow);
        run(&mut s, &["SET", "i", "9223372036854775807"]);
        assert_eq!(run(&mut s, &["INCR", "i"]), overflow);
        assert_eq!(
            run(&mut s, &["INCRBY", "i", "abc"]),
            err(error::NOT_INTEGER)
        );
        assert_eq!(run(&mut s, &["INCRBY", "i", ""]), err(error::NOT_INTEGER));
        for bad in [
            " 1",
            "01",
            "+1",
            "-0",
            "1.0",
            "",
            "12345678901234567890",
            "abc",
        ] {
            run(&mut s, &["SET", "i", bad]);
            assert_eq!(
                run(&mut s, &["INCR", "i"]),
                err(error::NOT_INTEGER),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keyspace_hits_and_misses() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        run(&mut s, &["GET", "a"]);
        run(&mut s, &["GET", "nokey"]);
        run(&mut s, &["MGET", "a", "a", "nokey"]);
        let stats = engine.shared.state.lock().stats.clone();
        assert_eq!(stats.keyspace_hits, 3);
        assert_eq!(stats.keyspace_misses, 2);
    }
}
