//! Hash-field expiration (Redis 7.4 and 8.0): HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HTTL,
//! HPTTL, HEXPIRETIME, HPEXPIRETIME, HPERSIST, HGETDEL, HGETEX, HSETEX, with Redis 8.0–8.2's
//! argument rules and error texts, and the lazy expiry of fields the other hash commands
//! share ([`expire_fields`]).
//!
//! A field whose time has passed is deleted when a command touches it (logged as HDEL, a
//! `hexpired` event, the key deleted with its last field) or by the cron's sweep; until then
//! HGETALL, HKEYS, HVALS and HSCAN pass over it and HLEN still counts it, as in Redis. Times
//! are logged as absolute milliseconds (HPEXPIREAT, HSETEX ... PXAT).

use bytes::Bytes;

use super::typed;
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::hash::Hash;
use crate::keyspace::Value;
use crate::notify::{GENERIC, HASH};
use crate::reply::Reply;

/// The latest time a command may set: 2^46-1 ms (Redis's `HFE_MAX_ABS_TIME_MSEC`).
const MAX_TIME_MS: i64 = (1 << 46) - 1;

const FIELDS_MISSING: &str =
    "ERR Mandatory argument FIELDS is missing or not at the right position";
const NUMFIELDS_MISMATCH: &str = "ERR The `numfields` parameter must match the number of arguments";
const NUMFIELDS_EXPIRE: &str = "ERR Parameter `numFields` should be greater than 0";
const NUMFIELDS_POSITIVE: &str = "ERR Number of fields must be a positive integer";

/// The field-expiration commands' table entries.
pub fn specs() -> Vec<Spec> {
    let spec = Spec::family(Group::Hash);
    let one = (1, 1, 1);
    let write: &'static [&'static str] = &["write", "fast"];
    let read: &'static [&'static str] = &["readonly", "fast"];
    vec![
        spec("hexpire", -6, write, one, "7.4.0", "Set expiry for hash field using relative time to expire (seconds)", hexpire),
        spec("hpexpire", -6, write, one, "7.4.0", "Set expiry for hash field using relative time to expire (milliseconds)", hpexpire),
        spec("hexpireat", -6, write, one, "7.4.0", "Set expiry for hash field using an absolute Unix timestamp (seconds)", hexpireat),
        spec("hpexpireat", -6, write, one, "7.4.0", "Set expiry for hash field using an absolute Unix timestamp (milliseconds)", hpexpireat),
        spec("httl", -5, read, one, "7.4.0", "Returns the TTL in seconds of a hash field.", httl),
        spec("hpttl", -5, read, one, "7.4.0", "Returns the TTL in milliseconds of a hash field.", hpttl),
        spec("hexpiretime", -5, read, one, "7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in seconds.", hexpiretime),
        spec("hpexpiretime", -5, read, one, "7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in msec.", hpexpiretime),
        spec("hpersist", -5, write, one, "7.4.0", "Removes the expiration time for each specified field", hpersist),
        spec("hgetdel", -5, write, one, "8.0.0", "Returns the value of a field and deletes it from the hash.", hgetdel),
        spec("hgetex", -5, write, one, "8.0.0", "Get the value of one or more fields of a given hash key, and optionally set their expiration.", hgetex),
        spec("hsetex", -6, &["write", "denyoom", "fast"], one, "8.0.0", "Set the value of one or more fields of a given hash key, and optionally set their expiration.", hsetex),
    ]
}

/// A time argument as Redis's `parseExpireTime` reads it: unix ms, from `base` (now, or 0 for
/// the absolute forms) plus `arg` seconds or milliseconds.
fn expire_time(arg: &[u8], seconds: bool, base: u64, command: &str) -> Result<u64, Reply> {
    let mut value = int_arg(arg)?;
    if value < 0 {
        return Err(Reply::error("ERR invalid expire time, must be >= 0"));
    }
    let too_big = || Reply::error(format!("ERR invalid expire time in '{command}' command"));
    if seconds {
        if value > MAX_TIME_MS / 1000 {
            return Err(too_big());
        }
        value *= 1000;
    }
    if value > MAX_TIME_MS - base as i64 {
        return Err(too_big());
    }
    Ok(value as u64 + base)
}

/// `FIELDS numfields field...` at `args[at]`, ending the command.
fn fields_block<'a>(args: &'a [Bytes], at: usize, bad_count: &str) -> Result<&'a [Bytes], Reply> {
    if !args.get(at).is_some_and(|a| is(a, "fields")) {
        return Err(Reply::error(FIELDS_MISSING));
    }
    let n = match args.get(at + 1).map(|a| int_arg(a)) {
        Some(Ok(n)) if n >= 1 => n as u64,
        _ => return Err(Reply::error(bad_count)),
    };
    let given = (args.len() - at - 2) as u64;
    if n != given {
        return Err(Reply::error(NUMFIELDS_MISMATCH));
    }
    Ok(&args[at + 2..])
}

/// The hash at `key` for a change, WRONGTYPE for another type.
fn hash_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Hash>, Reply> {
    typed::write(ctx, key)
}

/// Deletes the fields of the hash at `key` (among `only`, or all) whose time has passed, as
/// Redis's lazy expiry does: each logged as an HDEL, one `hexpired` event, and the key
/// deleted (with a `del` event) when that emptied it. Returns how many went.
pub(super) fn expire_fields(ctx: &mut Ctx, key: &[u8], only: Option<&[Bytes]>) -> usize {
    let now = ctx.now_ms;
    let db_index = ctx.session.db;
    let db = &ctx.state.keyspace.dbs[db_index];
    if db.no_field_times() || db.is_loading() {
        return 0;
    }
    let Ok(Some(hash)) = hash_mut(ctx, key) else {
        return 0;
    };
    if !hash.has_ttls() {
        return 0;
    }
    let mut due = hash.expired_fields(now);
    if let Some(only) = only {
        due.retain(|f| only.contains(f));
    }
    for field in &due {
        hash.remove(field);
    }
    let emptied = hash.is_empty();
    if due.is_empty() {
        return 0;
    }
    let owned = Bytes::copy_from_slice(key);
    let db = &mut ctx.state.keyspace.dbs[db_index];
    for field in &due {
        db.note_expired_field(&owned, field);
    }
    ctx.state.stats.expired_subkeys += due.len() as u64;
    ctx.notify(HASH, "hexpired", key);
    if emptied {
        ctx.db().remove(key);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.state.keyspace.touch(db_index, key);
    due.len()
}

/// HEXPIRE's condition on a field's current time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT key time [NX|XX|GT|LT] FIELDS n field...
fn expire_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    seconds: bool,
    absolute: bool,
    command: &str,
) -> Reply {
    let key = &args[1];
    let exists = match hash_mut(ctx, key) {
        Err(e) => return e,
        Ok(h) => h.is_some(),
    };
    let now = ctx.now_ms;
    let at = match expire_time(&args[2], seconds, if absolute { 0 } else { now }, command) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let condition = match &args[3] {
        a if is(a, "nx") => Condition::Nx,
        a if is(a, "xx") => Condition::Xx,
        a if is(a, "gt") => Condition::Gt,
        a if is(a, "lt") => Condition::Lt,
        _ => Condition::Always,
    };
    let fields_at = if condition == Condition::Always { 3 } else { 4 };
    let fields = match fields_block(args, fields_at, NUMFIELDS_EXPIRE) {
        Ok(f) => f,
        Err(e) => return e,
    };
    if !exists {
        return Reply::Array(vec![Reply::Integer(-2); fields.len()]);
    }
    let loading = ctx.db().is_loading();
    let db_index = ctx.session.db;
    let Ok(Some(hash)) = hash_mut(ctx, key) else {
        return Reply::error(error::WRONGTYPE);
    };
    hash.mark_expiring();
    let (mut codes, mut updated, mut deleted) =
        (Vec::with_capacity(fields.len()), Vec::new(), Vec::new());
    for field in fields {
        if hash.get(field).is_none() {
            codes.push(Reply::Integer(-2));
            continue;
        }
        let current = hash.ttl(field);
        let allowed = match condition {
            Condition::Always => true,
            Condition::Nx => current.is_none(),
            Condition::Xx => current.is_some(),
            // No time counts as an infinite one.
            Condition::Gt => current.is_some_and(|old| at > old),
            Condition::Lt => current.is_none_or(|old| at < old),
        };
        if !allowed {
            codes.push(Reply::Integer(0));
        } else if at <= now && !loading {
            hash.remove(field);
            deleted.push(field.clone());
            codes.push(Reply::Integer(2));
        } else {
            hash.set_ttl(field, at);
            updated.push(field.clone());
            codes.push(Reply::Integer(1));
        }
    }
    let emptied = hash.is_empty();
    if updated.len() + deleted.len() > 0 {
        ctx.state.stats.dirty += (updated.len() + deleted.len()) as u64;
        ctx.state.keyspace.touch(db_index, key);
        ctx.notify(
            HASH,
            if deleted.is_empty() {
                "hexpire"
            } else {
                "hdel"
            },
            key,
        );
        for field in &deleted {
            ctx.propagate(vec![
                Bytes::from_static(b"HDEL"),
                key.clone(),
                field.clone(),
            ]);
        }
        if !updated.is_empty() {
            let mut logged = vec![
                Bytes::from_static(b"HPEXPIREAT"),
                key.clone(),
                Bytes::from(at.to_string()),
            ];
            if condition != Condition::Always {
                logged.push(args[3].clone());
            }
            logged.push(Bytes::from_static(b"FIELDS"));
            logged.push(Bytes::from(updated.len().to_string()));
            logged.extend(updated);
            ctx.propagate(logged);
        }
    }
    if emptied {
        ctx.db().remove(key);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.db().track_field_expiry(key);
    Reply::Array(codes)
}

fn hexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, true, false, "hexpire")
}

fn hpexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, false, false, "hpexpire")
}

fn hexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, true, true, "hexpireat")
}

fn hpexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, false, true, "hpexpireat")
}

/// HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME key FIELDS n field...
fn ttl_generic(ctx: &mut Ctx, args: &[Bytes], millis: bool, absolute: bool) -> Reply {
    let now = ctx.now_ms;
    let hash = match typed::read::<Hash>(ctx, &args[1]) {
        Err(e) => return e,
        Ok(h) => h.cloned(),
    };
    let fields = match fields_block(args, 2, NUMFIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let Some(hash) = hash else {
        return Reply::Array(vec![Reply::Integer(-2); fields.len()]);
    };
    // Redis's listpackex path counts a time equal to now as passed, its table path does not.
    let small = hash.is_small();
    let codes = fields.iter().map(|field| {
        if hash.get(field).is_none() {
            return Reply::Integer(-2);
        }
        let Some(at) = hash.ttl(field) else {
            return Reply::Integer(-1);
        };
        if at < now || (small && at == now) {
            return Reply::Integer(-2);
        }
        let ms = if absolute { at } else { at - now };
        Reply::Integer(if millis { ms } else { ms.div_ceil(1000) } as i64)
    });
    Reply::Array(codes.collect())
}

fn httl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, false)
}

fn hpttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, false)
}

fn hexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, true)
}

fn hpexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, true)
}

/// HPERSIST key FIELDS n field...
fn hpersist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let now = ctx.now_ms;
    let exists = match hash_mut(ctx, key) {
        Err(e) => return e,
        Ok(h) => h.is_some(),
    };
    let fields = match fields_block(args, 2, NUMFIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let Ok(Some(hash)) = hash_mut(ctx, key).map(|h| h.filter(|_| exists)) else {
        return Reply::Array(vec![Reply::Integer(-2); fields.len()]);
    };
    let mut persisted = 0;
    let codes = fields
        .iter()
        .map(|field| {
            if hash.get(field).is_none() || hash.is_expired(field, now) {
                Reply::Integer(-2)
            } else if hash.persist(field) {
                persisted += 1;
                Reply::Integer(1)
            } else {
                Reply::Integer(-1)
            }
        })
        .collect();
    if persisted > 0 {
        ctx.notify(HASH, "hpersist", key);
        ctx.touch(key);
    }
    Reply::Array(codes)
}

/// HGETDEL key FIELDS n field...
fn hgetdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    if let Err(e) = hash_mut(ctx, key) {
        return e;
    }
    let fields = match fields_block(args, 2, NUMFIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return e,
    };
    expire_fields(ctx, key, Some(fields));
    let Ok(Some(hash)) = hash_mut(ctx, key) else {
        return Reply::Array(vec![Reply::Null; fields.len()]);
    };
    let mut deleted = 0;
    let values = fields
        .iter()
        .map(|field| match hash.get(field).map(Bytes::copy_from_slice) {
            Some(value) => {
                hash.remove(field);
                deleted += 1;
                Reply::Bulk(value)
            }
            None => Reply::Null,
        })
        .collect();
    let emptied = hash.is_empty();
    if deleted > 0 {
        let mut logged = vec![Bytes::from_static(b"HDEL"), key.clone()];
        logged.extend(fields.iter().cloned());
        ctx.propagate(logged);
        ctx.state.stats.dirty += deleted - 1;
        super::typed::changed(ctx, key, emptied, (HASH, "hdel"));
    }
    Reply::Array(values)
}

/// What HGETEX and HSETEX do to the times of the fields they name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeOption {
    None,
    At(u64),
    Persist,
    KeepTtl,
}

/// EX, PX, EXAT or PXAT at `args[at]` with its time at `args[at + 1]`; `None` for another word.
fn timed_option(args: &[Bytes], at: usize, now: u64, command: &str) -> Option<Result<u64, Reply>> {
    let word = args.get(at)?;
    let (seconds, absolute) = if is(word, "ex") {
        (true, false)
    } else if is(word, "px") {
        (false, false)
    } else if is(word, "exat") {
        (true, true)
    } else if is(word, "pxat") {
        (false, true)
    } else {
        return None;
    };
    let Some(time) = args.get(at + 1) else {
        return Some(Err(Reply::error("ERR missing expire time")));
    };
    Some(expire_time(
        time,
        seconds,
        if absolute { 0 } else { now },
        command,
    ))
}

/// Sets `at` on `field`, or deletes it when `at` has passed; true when it was deleted.
fn apply_time(hash: &mut Hash, field: &[u8], at: u64, now: u64, loading: bool) -> bool {
    if at <= now && !loading {
        hash.remove(field);
        true
    } else {
        hash.set_ttl(field, at);
        false
    }
}

/// HGETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST] FIELDS n field...
fn hgetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let now = ctx.now_ms;
    let exists = match hash_mut(ctx, key) {
        Err(e) => return e,
        Ok(h) => h.is_some(),
    };
    let (option, fields_at) = match timed_option(args, 2, now, "hgetex") {
        Some(Ok(at)) => (TimeOption::At(at), 4),
        Some(Err(e)) => return e,
        None if is(&args[2], "persist") => (TimeOption::Persist, 3),
        None => (TimeOption::None, 2),
    };
    let fields = match fields_block(args, fields_at, NUMFIELDS_POSITIVE) {
        Ok(f) => f,
        Err(e) => return e,
    };
    if !exists {
        return Reply::Array(vec![Reply::Null; fields.len()]);
    }
    expire_fields(ctx, key, Some(fields));
    let loading = ctx.db().is_loading();
    let Ok(Some(hash)) = hash_mut(ctx, key) else {
        return Reply::Array(vec![Reply::Null; fields.len()]);
    };
    if option != TimeOption::None {
        hash.mark_expiring();
    }
    let (mut updated, mut deleted) = (0u64, Vec::new());
    let mut values = Vec::with_capacity(fields.len());
    for field in fields {
        let Some(value) = hash.get(field).map(Bytes::copy_from_slice) else {
            values.push(Reply::Null);
            continue;
        };
        values.push(Reply::Bulk(value));
        match option {
            TimeOption::Persist if hash.persist(field) => updated += 1,
            TimeOption::At(at) => {
                if apply_time(hash, field, at, now, loading) {
                    deleted.push(field.clone());
                } else {
                    updated += 1;
                }
            }
            _ => {}
        }
    }
    let emptied = hash.is_empty();
    for field in &deleted {
        ctx.propagate(vec![
            Bytes::from_static(b"HDEL"),
            key.clone(),
            field.clone(),
        ]);
    }
    if updated > 0 {
        let mut logged = match option {
            TimeOption::At(at) => vec![
                Bytes::from_static(b"HPEXPIREAT"),
                key.clone(),
                Bytes::from(at.to_string()),
            ],
            _ => vec![Bytes::from_static(b"HPERSIST"), key.clone()],
        };
        logged.extend_from_slice(&args[fields_at..]);
        ctx.propagate(logged);
    }
    if updated + deleted.len() as u64 > 0 {
        ctx.state.stats.dirty += updated + deleted.len() as u64;
        ctx.state.keyspace.touch(ctx.session.db, key);
        let event = match option {
            _ if updated == 0 => "hdel",
            TimeOption::Persist => "hpersist",
            _ => "hexpire",
        };
        ctx.notify(HASH, event, key);
    }
    if emptied {
        ctx.db().remove(key);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.db().track_field_expiry(key);
    Reply::Array(values)
}

/// HSETEX's options, read before the key is looked up, as Redis reads them.
struct SetEx<'a> {
    only_new: Option<bool>,
    option: TimeOption,
    pairs: &'a [Bytes],
}

fn parse_hsetex<'a>(args: &'a [Bytes], now: u64) -> Result<SetEx<'a>, Reply> {
    let mut parsed = SetEx {
        only_new: None,
        option: TimeOption::None,
        pairs: &[],
    };
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "fields") {
            if i + 3 >= args.len() {
                return Err(Reply::error(error::arity("hsetex")));
            }
            let n = match int_arg(&args[i + 1]) {
                Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => n as usize,
                _ => return Err(Reply::error("ERR invalid number of fields")),
            };
            let remaining = args.len() - i - 2;
            if !remaining.is_multiple_of(2) || n != remaining / 2 {
                return Err(Reply::error(error::arity("hsetex")));
            }
            parsed.pairs = &args[i + 2..];
            return Ok(parsed);
        }
        let conflict = || {
            Reply::error("ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified")
        };
        if let Some(time) = timed_option(args, i, now, "hsetex") {
            if parsed.option != TimeOption::None {
                return Err(conflict());
            }
            parsed.option = TimeOption::At(time?);
            i += 2;
        } else if is(a, "keepttl") {
            if parsed.option != TimeOption::None {
                return Err(conflict());
            }
            parsed.option = TimeOption::KeepTtl;
            i += 1;
        } else if is(a, "fnx") || is(a, "fxx") {
            if parsed.only_new.is_some() {
                return Err(Reply::error(
                    "ERR Only one of FXX or FNX arguments can be specified",
                ));
            }
            parsed.only_new = Some(is(a, "fnx"));
            i += 1;
        } else {
            return Err(Reply::error(format!(
                "ERR unknown argument: {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    Err(Reply::error(error::arity("hsetex")))
}

/// HSETEX key [FNX|FXX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] FIELDS n field value...
fn hsetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let now = ctx.now_ms;
    let parsed = match parse_hsetex(args, now) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let exists = match hash_mut(ctx, key) {
        Err(e) => return e,
        Ok(h) => h.is_some(),
    };
    if !exists && parsed.only_new == Some(false) {
        return Reply::Integer(0);
    }
    let fields: Vec<Bytes> = parsed.pairs.chunks(2).map(|p| p[0].clone()).collect();
    if exists {
        expire_fields(ctx, key, Some(&fields));
    }
    if let Some(only_new) = parsed.only_new {
        let present = |ctx: &mut Ctx, f: &Bytes| matches!(hash_mut(ctx, key), Ok(Some(h)) if h.get(f).is_some());
        let ok = fields.iter().all(|f| present(ctx, f) != only_new);
        if !ok {
            return Reply::Integer(0);
        }
    }
    let limits = ctx.state.config.hash_limits();
    let loading = ctx.db().is_loading();
    let hash: &mut Hash = match typed::write_or_create(ctx, key, || Value::Hash(Hash::default())) {
        Ok(h) => h,
        Err(e) => return e,
    };
    if matches!(parsed.option, TimeOption::At(_)) {
        hash.mark_expiring();
    }
    let mut deleted = Vec::new();
    for pair in parsed.pairs.chunks(2) {
        if parsed.option == TimeOption::None {
            hash.set(&pair[0], &pair[1], limits);
        } else {
            hash.set_keep_ttl(&pair[0], &pair[1], limits);
        }
        if let TimeOption::At(at) = parsed.option {
            if apply_time(hash, &pair[0], at, now, loading) {
                deleted.push(pair[0].clone());
            }
        }
    }
    let emptied = hash.is_empty();
    ctx.state.stats.dirty += fields.len() as u64;
    ctx.state.keyspace.touch(ctx.session.db, key);
    ctx.notify(HASH, "hset", key);
    if !deleted.is_empty() {
        ctx.notify(HASH, "hdel", key);
        for field in &deleted {
            ctx.propagate(vec![
                Bytes::from_static(b"HDEL"),
                key.clone(),
                field.clone(),
            ]);
        }
    } else if let TimeOption::At(at) = parsed.option {
        ctx.notify(HASH, "hexpire", key);
        let mut logged = args.to_vec();
        let options_end = args.len() - parsed.pairs.len() - 2;
        if let Some(i) = (2..options_end).find(|&i| timed_option(args, i, now, "hsetex").is_some())
        {
            logged[i] = Bytes::from_static(b"PXAT");
            logged[i + 1] = Bytes::from(at.to_string());
        }
        ctx.propagate(logged);
    }
    if emptied {
        ctx.db().remove(key);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.db().track_field_expiry(key);
    Reply::Integer(1)
}
