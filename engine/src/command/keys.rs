//! `DEL key [key ...]`
//! `UNLINK key [key ...]`
//! `EXISTS key [key ...]`
//! `TYPE key`
//! `KEYS pattern`
//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
//! `DBSIZE`
//! `RANDOMKEY`
//! `TOUCH key [key ...]`
//! `FLUSHDB [ASYNC|SYNC]`
//! `FLUSHALL [ASYNC|SYNC]`
//! `SWAPDB index1 index2`
//! `RENAME key newkey`
//! `RENAMENX key newkey`
//! `COPY source destination [DB destination-db] [REPLACE]`
//! `MOVE key db`
//!
//! The generic keyspace commands. Every write touches the keys it changes (WATCH, blocked
//! readers) and counts in `dirty` the way Redis counts `server.dirty`.

use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::args::{glob_match, int_arg, is, parse_i64_strict};
use crate::error;
use crate::keyspace::Value;
use crate::notify::GENERIC;
use crate::reply::Reply;

/// Table entries for the key commands (DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE...) and
/// the database ones (DBSIZE, FLUSHDB, FLUSHALL, SWAPDB).
pub fn specs() -> Vec<Spec> {
    vec![
        Spec::new(
            "del",
            -2,
            Group::Generic,
            &["write"],
            (1, -1, 1),
            "Deletes one or more keys.",
            del,
        ),
        Spec::new(
            "unlink",
            -2,
            Group::Generic,
            &["write", "fast"],
            (1, -1, 1),
            "Asynchronously deletes one or more keys.",
            del,
        )
        .since("4.0.0"),
        Spec::new(
            "exists",
            -2,
            Group::Generic,
            &["readonly", "fast"],
            (1, -1, 1),
            "Determines whether one or more keys exist.",
            exists,
        ),
        Spec::new(
            "type",
            2,
            Group::Generic,
            &["readonly", "fast"],
            (1, 1, 1),
            "Determines the type of value stored at a key.",
            type_of,
        ),
        Spec::new(
            "keys",
            2,
            Group::Generic,
            &["readonly"],
            (0, 0, 0),
            "Returns all key names that match a pattern.",
            keys,
        ),
        Spec::new(
            "scan",
            -2,
            Group::Generic,
            &["readonly"],
            (0, 0, 0),
            "Iterates over the key names in the database.",
            scan,
        )
        .since("2.8.0"),
        Spec::new(
            "dbsize",
            1,
            Group::Server,
            &["readonly", "fast"],
            (0, 0, 0),
            "Returns the number of keys in the database.",
            dbsize,
        ),
        Spec::new(
            "randomkey",
            1,
            Group::Generic,
            &["readonly"],
            (0, 0, 0),
            "Returns a random key name from the database.",
            randomkey,
        ),
        Spec::new(
            "touch",
            -2,
            Group::Generic,
            &["readonly", "fast"],
            (1, -1, 1),
            "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
            touch,
        )
        .since("3.2.1"),
        Spec::new(
            "flushdb",
            -1,
            Group::Server,
            &["write"],
            (0, 0, 0),
            "Remove all keys from the current database.",
            flushdb,
        ),
        Spec::new(
            "flushall",
            -1,
            Group::Server,
            &["write"],
            (0, 0, 0),
            "Removes all keys from all databases.",
            flushall,
        ),
        Spec::new(
            "swapdb",
            3,
            Group::Server,
            &["write", "fast"],
            (0, 0, 0),
            "Swaps two Redis databases.",
            swapdb,
        )
        .since("4.0.0"),
        Spec::new(
            "rename",
            3,
            Group::Generic,
            &["write"],
            (1, 2, 1),
            "Renames a key and overwrites the destination.",
            rename,
        ),
        Spec::new(
            "renamenx",
            3,
            Group::Generic,
            &["write", "fast"],
            (1, 2, 1),
            "Renames a key only when the target key name doesn't exist.",
            renamenx,
        ),
        Spec::new(
            "copy",
            -3,
            Group::Generic,
            &["write", "denyoom"],
            (1, 2, 1),
            "Copies the value of a key to a new key.",
            copy,
        )
        .since("6.2.0"),
        Spec::new(
            "move",
            3,
            Group::Generic,
            &["write", "fast"],
            (1, 1, 1),
            "Moves a key to another database.",
            move_key,
        ),
    ]
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// Looks a key up for reading, as Redis's `lookupKeyRead` does: expired keys go, and the
/// lookup counts as a keyspace hit or miss in INFO stats. Writes look up without counting.
pub(crate) fn lookup_read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a Value> {
    let (db, now) = (ctx.session.db, ctx.now_ms);
    if ctx.state.config.keyspace_events & crate::notify::KEY_MISS != 0
        && !ctx.state.keyspace.dbs[db].contains(key, now)
    {
        ctx.state.stats.keyspace_misses += 1;
        ctx.notify(crate::notify::KEY_MISS, "keymiss", key);
        return None;
    }
    let state = &mut *ctx.state;
    let value = state.keyspace.dbs[db].get(key, now);
    if value.is_some() {
        state.stats.keyspace_hits += 1;
    } else {
        state.stats.keyspace_misses += 1;
    }
    value
}

/// A database index argument as `selectDb` checks it, `None` when out of range.
fn db_index(ctx: &Ctx, index: i64) -> Option<usize> {
    usize::try_from(index)
        .ok()
        .filter(|&i| i < ctx.state.keyspace.dbs.len())
}

/// DEL and UNLINK (Rill frees values at once either way).
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let mut deleted = 0;
    for key in &args[1..] {
        let db = ctx.db();
        if db.contains(key, now) && db.remove(key).is_some() {
            ctx.notify(GENERIC, "del", key);
            ctx.touch(key);
            deleted += 1;
        }
    }
    Reply::Integer(deleted)
}

/// EXISTS counts a key once per time it is named.
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut count = 0;
    for key in &args[1..] {
        if lookup_read(ctx, key).is_some() {
            count += 1;
        }
    }
    Reply::Integer(count)
}

fn type_of(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::simple(
        lookup_read(ctx, &args[1])
            .map(Value::type_name)
            .unwrap_or("none"),
    )
}

/// KEYS: Redis special-cases the pattern `*` to mean every key, which the glob would not
/// give for the empty key.
fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let pattern = &args[1];
    let all = pattern.as_ref() == b"*";
    let now = ctx.now_ms;
    let found = ctx
        .db()
        .keys(now)
        .filter(|k| all || glob_match(pattern, k, false))
        .map(|k| Reply::Bulk(Bytes::copy_from_slice(k)))
        .collect();
    Reply::Array(found)
}

/// A SCAN cursor as Redis 7 reads it, with `strtoul`: no leading blank, an optional sign (a
/// `-` wraps around, so `-1` is the largest cursor), digits that fit 64 bits, nothing after.
/// The empty string reads as 0, as it does in Redis 7.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    match arg.first() {
        None => Some(0),
        Some(c) if c.is_ascii_whitespace() || *c == 0x0b => None,
        Some(_) => crate::args::c_strtoull(arg),
    }
}

/// SSCAN's and ZSCAN's options from `args[at]` on: `[MATCH pattern] [COUNT count]` in any
/// order; the COUNT (10 by default) and the pattern (`None` for `*`).
pub(crate) fn scan_options(args: &[Bytes], at: usize) -> Result<(usize, Option<&Bytes>), Reply> {
    let (mut count, mut pattern) = (10usize, None);
    let mut i = at;
    while i < args.len() {
        if args.len() - i < 2 {
            return Err(Reply::error(error::SYNTAX));
        }
        if is(&args[i], "count") {
            match int_arg(&args[i + 1]) {
                Ok(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Ok(_) => return Err(Reply::error(error::SYNTAX)),
                Err(e) => return Err(e),
            }
        } else if is(&args[i], "match") {
            pattern = Some(&args[i + 1]).filter(|p| p.as_ref() != b"*");
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
        i += 2;
    }
    Ok((count, pattern))
}

/// SCAN: fetches COUNT keys in hash order from the cursor, then filters them (expired, MATCH,
/// TYPE) the way Redis does, so a step may return fewer keys than COUNT, or none.
fn scan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Reply::error("ERR invalid cursor");
    };
    let mut count = 10usize;
    let mut pattern: Option<&Bytes> = None;
    let mut type_name: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        let has_value = args.len() - i >= 2;
        let opt = &args[i];
        if is(opt, "count") && has_value {
            let n = match int_arg(&args[i + 1]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            if n < 1 {
                return Reply::error(error::SYNTAX);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(opt, "match") && has_value {
            // `*` matches everything, the empty key included: no filtering at all.
            pattern = Some(&args[i + 1]).filter(|p| p.as_ref() != b"*");
        } else if is(opt, "type") && has_value {
            type_name = Some(&args[i + 1]);
        } else {
            return Reply::error(error::SYNTAX);
        }
        i += 2;
    }
    let (dbi, now) = (ctx.session.db, ctx.now_ms);
    let state = &mut *ctx.state;
    let db = &mut state.keyspace.dbs[dbi];
    let (next, batch) = db.scan(cursor, count);
    let mut keys = Vec::with_capacity(batch.len());
    for key in batch {
        if let Some(p) = pattern {
            if !glob_match(p, &key, false) {
                continue;
            }
        }
        let value = db.get(&key, now);
        if let Some(t) = type_name {
            // Redis looks the key up to learn its type: a read that counts in the stats.
            if value.is_some() {
                state.stats.keyspace_hits += 1;
            } else {
                state.stats.keyspace_misses += 1;
            }
            if !value.is_some_and(|v| is(t, v.type_name())) {
                continue;
            }
        }
        if value.is_some() {
            keys.push(Reply::Bulk(key));
        }
    }
    Reply::Array(vec![Reply::text(next.to_string()), Reply::Array(keys)])
}

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.db().len() as i64)
}

/// A seed that differs on every call, for RANDOMKEY.
fn random_seed(now_ms: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms);
    h.finish()
}

/// RANDOMKEY: picks keys until a live one turns up; each expired pick is reclaimed, so this
/// ends even when every key has expired.
fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    while let Some(key) = db.any_key(random_seed(now)) {
        if db.contains(&key, now) {
            return Reply::Bulk(key);
        }
    }
    Reply::Null
}

fn touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    exists(ctx, args)
}

/// The optional ASYNC|SYNC of FLUSHDB and FLUSHALL; Rill always frees synchronously.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => is(&args[1], "async") || is(&args[1], "sync"),
        _ => false,
    }
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !flush_mode_ok(args) {
        return Reply::error(error::SYNTAX);
    }
    let db = ctx.session.db;
    flush_one(ctx, db);
    Reply::ok()
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !flush_mode_ok(args) {
        return Reply::error(error::SYNTAX);
    }
    for db in 0..ctx.state.keyspace.dbs.len() {
        flush_one(ctx, db);
    }
    Reply::ok()
}

/// Empties one database: watched keys that existed are touched, each removed key is a change.
fn flush_one(ctx: &mut Ctx, db: usize) {
    let keyspace = &mut ctx.state.keyspace;
    keyspace.touch_db_existing(db, None);
    let removed = keyspace.dbs[db].len() as u64;
    keyspace.dbs[db].clear();
    ctx.state.stats.dirty += removed;
}

/// An integer argument that fits a C `int`, as Redis's `getIntFromObjectOrReply` reads it.
fn int32_arg(arg: &[u8]) -> Option<i64> {
    parse_i64_strict(arg).filter(|n| i32::try_from(*n).is_ok())
}

/// A database index for MOVE and COPY: Redis's `getIntFromObjectOrReply` without a custom
/// message, which has its own words for an integer beyond a C `int`.
fn db_arg(ctx: &Ctx, arg: &[u8]) -> Result<usize, Reply> {
    let n = int_arg(arg)?;
    if i32::try_from(n).is_err() {
        return Err(Reply::error(format!(
            "ERR value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        )));
    }
    db_index(ctx, n).ok_or_else(|| Reply::error(error::DB_INDEX_OUT_OF_RANGE))
}

/// SWAPDB: clients stay on their database index and see the other database's keys.
fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(first) = int32_arg(&args[1]) else {
        return Reply::error("ERR invalid first DB index");
    };
    let Some(second) = int32_arg(&args[2]) else {
        return Reply::error("ERR invalid second DB index");
    };
    let (Some(first), Some(second)) = (db_index(ctx, first), db_index(ctx, second)) else {
        return Reply::error(error::DB_INDEX_OUT_OF_RANGE);
    };
    if first != second {
        let keyspace = &mut ctx.state.keyspace;
        keyspace.touch_db_existing(first, Some(second));
        keyspace.touch_db_existing(second, Some(first));
        keyspace.dbs.swap(first, second);
    }
    ctx.state.stats.dirty += 1;
    Reply::ok()
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, true)
}

/// RENAME and RENAMENX: the value and its time to live move to the new name.
fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let (from, to) = (&args[1], &args[2]);
    let now = ctx.now_ms;
    let dbi = ctx.session.db;
    let db = ctx.db();
    if !db.contains(from, now) {
        return Reply::error(error::NO_SUCH_KEY);
    }
    if from == to {
        return if nx { Reply::Integer(0) } else { Reply::ok() };
    }
    if db.contains(to, now) {
        if nx {
            return Reply::Integer(0);
        }
        db.remove(to);
    }
    let expiry = db.expiry(from);
    let Some(value) = db.remove(from) else {
        return Reply::error(error::NO_SUCH_KEY);
    };
    db.set(to.clone(), value, false);
    if let Some(at) = expiry {
        db.set_expiry(to, at);
    }
    ctx.state.keyspace.touch(dbi, from);
    ctx.state.keyspace.touch(dbi, to);
    ctx.state.stats.dirty += 1;
    ctx.notify(GENERIC, "rename_from", from);
    ctx.notify(GENERIC, "rename_to", to);
    if nx {
        Reply::Integer(1)
    } else {
        Reply::ok()
    }
}

/// COPY: a deep copy (streams included) with the source's time to live.
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (source, dest) = (&args[1], &args[2]);
    let src_db = ctx.session.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            match db_arg(ctx, &args[i + 1]) {
                Ok(d) => dst_db = d,
                Err(e) => return e,
            }
            i += 1;
        } else {
            return Reply::error(error::SYNTAX);
        }
        i += 1;
    }
    if src_db == dst_db && source == dest {
        return Reply::error(SAME_OBJECT);
    }
    let Some(value) = lookup_read(ctx, source).cloned() else {
        return Reply::Integer(0);
    };
    let now = ctx.now_ms;
    let expiry = ctx.db().expiry(source);
    let db = &mut ctx.state.keyspace.dbs[dst_db];
    if db.contains(dest, now) {
        if !replace {
            return Reply::Integer(0);
        }
        db.remove(dest);
    }
    db.set(dest.clone(), value, false);
    if let Some(at) = expiry {
        db.set_expiry(dest, at);
    }
    ctx.state.keyspace.touch(dst_db, dest);
    ctx.state.stats.dirty += 1;
    ctx.notify_in(dst_db, GENERIC, "copy_to", dest);
    Reply::Integer(1)
}

/// MOVE: to another database, with the time to live, unless the key is already there.
fn move_key(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let dst_db = match db_arg(ctx, &args[2]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let src_db = ctx.session.db;
    if src_db == dst_db {
        return Reply::error(SAME_OBJECT);
    }
    let now = ctx.now_ms;
    if !ctx.db().contains(key, now) {
        return Reply::Integer(0);
    }
    let dbs = &mut ctx.state.keyspace.dbs;
    if dbs[dst_db].contains(key, now) {
        return Reply::Integer(0);
    }
    let expiry = dbs[src_db].expiry(key);
    let Some(value) = dbs[src_db].remove(key) else {
        return Reply::Integer(0);
    };
    dbs[dst_db].set(key.clone(), value, false);
    if let Some(at) = expiry {
        dbs[dst_db].set_expiry(key, at);
    }
    ctx.state.keyspace.touch(src_db, key);
    ctx.state.keyspace.touch(dst_db, key);
    ctx.state.stats.dirty += 1;
    ctx.notify_in(src_db, GENERIC, "move_from", key);
    ctx.notify_in(dst_db, GENERIC, "move_to", key);
    Reply::Integer(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{bulk, err, int, run};
    use crate::Engine;

    /// The keys of an array reply, sorted.
    fn sorted(reply: Reply) -> Vec<Bytes> {
        let Reply::Array(items) = reply else {
            panic!("not an array: {reply:?}");
        };
        let mut keys: Vec<Bytes> = items
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => b,
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn del_unlink_exists_type() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        run(&mut s, &["SET", "b", "2"]);
        run(&mut s, &["XADD", "s", "*", "f", "v"]);
        assert_eq!(run(&mut s, &["EXISTS", "a", "a", "b", "nokey"]), int(3));
        assert_eq!(run(&mut s, &["TYPE", "a"]), Reply::simple("string"));
        assert_eq!(run(&mut s, &["TYPE", "s"]), Reply::simple("stream"));
        assert_eq!(run(&mut s, &["TYPE", "nokey"]), Reply::simple("none"));
        assert_eq!(run(&mut s, &["DEL", "a", "a", "nokey"]), int(1));
        assert_eq!(run(&mut s, &["UNLINK", "b", "s"]), int(2));
        assert_eq!(run(&mut s, &["DBSIZE"]), int(0));
        assert_eq!(
            run(&mut s, &["DEL"]),
            err("ERR wrong number of arguments for 'del' command")
        );
    }

    #[test]
    fn keys_star_includes_the_empty_key() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["MSET", "", "e", "a", "1", "ab", "2", "b", "3"]);
        assert_eq!(sorted(run(&mut s, &["KEYS", "*"])).len(), 4);
        assert_eq!(sorted(run(&mut s, &["KEYS", ""])), vec![Bytes::new()]);
        assert_eq!(
            sorted(run(&mut s, &["KEYS", "a*"])),
            vec![Bytes::from("a"), Bytes::from("ab")]
        );
        assert_eq!(
            sorted(run(&mut s, &["KEYS", "?"])),
            vec![Bytes::from("a"), Bytes::from("b")]
        );
        run(&mut s, &["PEXPIRE", "b", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(sorted(run(&mut s, &["KEYS", "?"])), vec![Bytes::from("a")]);
    }

    #[test]
    fn scan_walks_every_key_and_filters() {
        let engine = Engine::new();
        let mut s = engine.session();
        for i in 0..100 {
            run(&mut s, &["SET", &format!("k{i}"), "v"]);
        }
        run(&mut s, &["XADD", "stream", "*", "f", "v"]);
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let Reply::Array(parts) = run(&mut s, &["SCAN", &cursor, "COUNT", "7"]) else {
                panic!("bad scan reply");
            };
            let Reply::Bulk(next) = &parts[0] else {
                panic!("bad cursor");
            };
            cursor = String::from_utf8_lossy(next).into_owned();
            seen.extend(sorted(parts[1].clone()));
            if cursor == "0" {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 101);

        let all = run(&mut s, &["SCAN", "0", "COUNT", "1000", "TYPE", "STREAM"]);
        assert_eq!(
            all,
            Reply::Array(vec![bulk("0"), Reply::Array(vec![bulk("stream")])])
        );
        let matched = run(&mut s, &["SCAN", "0", "MATCH", "k1?", "COUNT", "1000"]);
        let Reply::Array(parts) = matched else {
            panic!("bad scan reply");
        };
        assert_eq!(sorted(parts[1].clone()).len(), 10);
        let none = run(&mut s, &["SCAN", "0", "COUNT", "1000", "TYPE", "foo"]);
        assert_eq!(none, Reply::Array(vec![bulk("0"), Reply::Array(vec![])]));
    }

    #[test]
    fn scan_argument_errors() {
        let engine = Engine::new();
        let mut s = engine.session();
        let invalid = err("ERR invalid cursor");
        for bad in ["abc", "-", "+", " 1", "1 ", "0x1", "18446744073709551616"] {
            assert_eq!(run(&mut s, &["SCAN", bad]), invalid, "{bad:?}");
        }
        let empty = Reply::Array(vec![bulk("0"), Reply::Array(vec![])]);
        for good in ["-1", "18446744073709551615", "01", "+1", "-0", ""] {
            assert_eq!(run(&mut s, &["SCAN", good]), empty, "{good:?}");
        }
        assert_eq!(
            run(&mut s, &["SCAN", "0", "COUNT", "0"]),
            err(error::SYNTAX)
        );
        assert_eq!(
            run(&mut s, &["SCAN", "0", "COUNT", "-1"]),
            err(error::SYNTAX)
        );
        assert_eq!(
            run(&mut s, &["SCAN", "0", "COUNT", "x"]),
            err(error::NOT_INTEGER)
        );
        assert_eq!(run(&mut s, &["SCAN", "0", "MATCH"]), err(error::SYNTAX));
        assert_eq!(
            run(&mut s, &["SCAN", "0", "foo", "bar"]),
            err(error::SYNTAX)
        );
    }

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-18446744073709551615"), Some(1));
        assert_eq!(parse_cursor(b"-18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 7"), None);
        assert_eq!(parse_cursor(b"7 "), None);
    }

    #[test]
    fn randomkey_and_dbsize() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["RANDOMKEY"]), Reply::Null);
        run(&mut s, &["SET", "only", "1"]);
        assert_eq!(run(&mut s, &["RANDOMKEY"]), bulk("only"));
        run(&mut s, &["SET", "other", "1"]);
        assert_eq!(run(&mut s, &["DBSIZE"]), int(2));
        run(&mut s, &["PEXPIRE", "only", "1"]);
        run(&mut s, &["PEXPIRE", "other", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(run(&mut s, &["RANDOMKEY"]), Reply::Null);
        assert_eq!(run(&mut s, &["DBSIZE"]), int(0));
    }

    #[test]
    fn touch_counts_repeats() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["TOUCH", "a", "b"]), int(0));
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["TOUCH", "a", "a", "b"]), int(2));
    }

    #[test]
    fn flushes() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        run(&mut s, &["SELECT", "1"]);
        run(&mut s, &["SET", "b", "1"]);
        assert_eq!(run(&mut s, &["FLUSHDB", "ASYNC"]), Reply::ok());
        assert_eq!(run(&mut s, &["DBSIZE"]), int(0));
        run(&mut s, &["SELECT", "0"]);
        assert_eq!(run(&mut s, &["DBSIZE"]), int(1));
        assert_eq!(run(&mut s, &["FLUSHDB", "foo"]), err(error::SYNTAX));
        assert_eq!(
            run(&mut s, &["FLUSHDB", "async", "sync"]),
            err(error::SYNTAX)
        );
        assert_eq!(run(&mut s, &["FLUSHALL", "foo"]), err(error::SYNTAX));
        run(&mut s, &["SELECT", "2"]);
        run(&mut s, &["SET", "c", "1"]);
        assert_eq!(run(&mut s, &["FLUSHALL", "SYNC"]), Reply::ok());
        assert_eq!(run(&mut s, &["DBSIZE"]), int(0));
        run(&mut s, &["SELECT", "0"]);
        assert_eq!(run(&mut s, &["DBSIZE"]), int(0));
    }

    #[test]
    fn flush_aborts_exec_only_for_keys_that_existed() {
        let engine = Engine::new();
        let mut s = engine.session();
        let mut other = engine.session();
        run(&mut s, &["WATCH", "absent"]);
        run(&mut other, &["FLUSHALL"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["PING"]);
        assert_eq!(
            run(&mut s, &["EXEC"]),
            Reply::Array(vec![Reply::simple("PONG")])
        );
        run(&mut s, &["SET", "x", "1"]);
        run(&mut s, &["WATCH", "x"]);
        run(&mut other, &["FLUSHDB"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["PING"]);
        assert_eq!(run(&mut s, &["EXEC"]), Reply::NullArray);
    }

    #[test]
    fn swapdb() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "0"]);
        assert_eq!(run(&mut s, &["SWAPDB", "0", "1"]), Reply::ok());
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
        run(&mut s, &["SELECT", "1"]);
        assert_eq!(run(&mut s, &["GET", "a"]), bulk("0"));
        assert_eq!(run(&mut s, &["SWAPDB", "0", "0"]), Reply::ok());
        let range = err(error::DB_INDEX_OUT_OF_RANGE);
        assert_eq!(run(&mut s, &["SWAPDB", "0", "16"]), range);
        assert_eq!(run(&mut s, &["SWAPDB", "16", "0"]), range);
        assert_eq!(run(&mut s, &["SWAPDB", "-1", "0"]), range);
        assert_eq!(
            run(&mut s, &["SWAPDB", "a", "0"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(
            run(&mut s, &["SWAPDB", "0", "a"]),
            err("ERR invalid second DB index")
        );
        assert_eq!(
            run(&mut s, &["SWAPDB", "a", "b"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(
            run(&mut s, &["SWAPDB", "0", "4294967296"]),
            err("ERR invalid second DB index")
        );
    }

    #[test]
    fn swapdb_aborts_watchers_of_keys_on_either_side() {
        let engine = Engine::new();
        let mut s = engine.session();
        let mut other = engine.session();
        run(&mut other, &["SELECT", "1"]);
        run(&mut other, &["SET", "z", "1"]);
        run(&mut s, &["WATCH", "z"]);
        run(&mut other, &["SWAPDB", "0", "1"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["PING"]);
        assert_eq!(run(&mut s, &["EXEC"]), Reply::NullArray);
    }

    #[test]
    fn rename_moves_value_and_ttl() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(
            run(&mut s, &["RENAME", "nokey", "x"]),
            err(error::NO_SUCH_KEY)
        );
        assert_eq!(
            run(&mut s, &["RENAME", "nokey", "nokey"]),
            err(error::NO_SUCH_KEY)
        );
        assert_eq!(
            run(&mut s, &["RENAMENX", "nokey", "x"]),
            err(error::NO_SUCH_KEY)
        );
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["RENAME", "a", "a"]), Reply::ok());
        assert_eq!(run(&mut s, &["RENAMENX", "a", "a"]), int(0));
        run(&mut s, &["EXPIRE", "a", "100"]);
        assert_eq!(run(&mut s, &["RENAME", "a", "b"]), Reply::ok());
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
        assert_eq!(run(&mut s, &["TTL", "b"]), int(100));
        run(&mut s, &["SET", "c", "3"]);
        assert_eq!(run(&mut s, &["RENAMENX", "b", "c"]), int(0));
        assert_eq!(run(&mut s, &["RENAME", "b", "c"]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "c"]), bulk("1"));
        assert_eq!(run(&mut s, &["TTL", "c"]), int(100));
        assert_eq!(run(&mut s, &["RENAMENX", "c", "d"]), int(1));
        assert_eq!(run(&mut s, &["DBSIZE"]), int(1));
    }

    #[test]
    fn copy_semantics() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["COPY", "a", "b"]), int(1));
        assert_eq!(run(&mut s, &["COPY", "a", "b"]), int(0));
        assert_eq!(run(&mut s, &["COPY", "a", "b", "REPLACE"]), int(1));
        assert_eq!(
            run(&mut s, &["COPY", "a", "a"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(
            run(&mut s, &["COPY", "a", "a", "DB", "0"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(run(&mut s, &["COPY", "nokey", "b"]), int(0));
        let range = err(error::DB_INDEX_OUT_OF_RANGE);
        assert_eq!(run(&mut s, &["COPY", "a", "b", "DB", "16"]), range);
        assert_eq!(run(&mut s, &["COPY", "a", "b", "DB", "-1"]), range);
        assert_eq!(
            run(&mut s, &["COPY", "a", "b", "DB", "x"]),
            err(error::NOT_INTEGER)
        );
        assert_eq!(run(&mut s, &["COPY", "a", "b", "DB"]), err(error::SYNTAX));
        assert_eq!(
            run(&mut s, &["COPY", "a", "b", "DB", "4294967296"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        assert_eq!(run(&mut s, &["COPY", "a", "b", "foo"]), err(error::SYNTAX));
        run(&mut s, &["EXPIRE", "a", "100"]);
        assert_eq!(run(&mut s, &["COPY", "a", "a", "DB", "1"]), int(1));
        run(&mut s, &["SELECT", "1"]);
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
        run(&mut s, &["SELECT", "0"]);

        // A stream copy is deep: adding to the copy leaves the original alone.
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        assert_eq!(run(&mut s, &["COPY", "s", "s2"]), int(1));
        run(&mut s, &["XADD", "s2", "2-1", "f", "v"]);
        assert_eq!(run(&mut s, &["XLEN", "s"]), int(1));
        assert_eq!(run(&mut s, &["XLEN", "s2"]), int(2));
    }

    #[test]
    fn move_semantics() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "m", "1"]);
        assert_eq!(
            run(&mut s, &["MOVE", "m", "0"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(
            run(&mut s, &["MOVE", "m", "16"]),
            err(error::DB_INDEX_OUT_OF_RANGE)
        );
        assert_eq!(run(&mut s, &["MOVE", "m", "x"]), err(error::NOT_INTEGER));
        assert_eq!(
            run(&mut s, &["MOVE", "m", "4294967296"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        run(&mut s, &["EXPIRE", "m", "100"]);
        assert_eq!(run(&mut s, &["MOVE", "m", "1"]), int(1));
        assert_eq!(run(&mut s, &["MOVE", "m", "1"]), int(0));
        run(&mut s, &["SET", "m", "2"]);
        assert_eq!(run(&mut s, &["MOVE", "m", "1"]), int(0));
        run(&mut s, &["SELECT", "1"]);
        assert_eq!(run(&mut s, &["GET", "m"]), bulk("1"));
        assert_eq!(run(&mut s, &["TTL", "m"]), int(100));
    }

    #[test]
    fn writes_touch_watched_keys() {
        let engine = Engine::new();
        let mut s = engine.session();
        let mut other = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        run(&mut s, &["WATCH", "b"]);
        run(&mut other, &["RENAME", "a", "b"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["PING"]);
        assert_eq!(run(&mut s, &["EXEC"]), Reply::NullArray);

        run(&mut s, &["WATCH", "nokey"]);
        run(&mut other, &["DEL", "nokey"]);
        run(&mut s, &["MULTI"]);
        run(&mut s, &["PING"]);
        assert_eq!(
            run(&mut s, &["EXEC"]),
            Reply::Array(vec![Reply::simple("PONG")])
        );
    }

    #[test]
    fn dirty_counts_like_server_dirty() {
        let engine = Engine::new();
        let mut s = engine.session();
        let dirty = || engine.shared.state.lock().stats.dirty;
        run(&mut s, &["MSET", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(dirty(), 3);
        run(&mut s, &["DEL", "a", "b", "nokey"]);
        assert_eq!(dirty(), 5);
        run(&mut s, &["RENAME", "c", "d"]);
        run(&mut s, &["RENAME", "d", "d"]);
        assert_eq!(dirty(), 6);
        run(&mut s, &["FLUSHALL"]);
        assert_eq!(dirty(), 7);
        run(&mut s, &["FLUSHALL"]);
        run(&mut s, &["FLUSHDB"]);
        assert_eq!(dirty(), 7);
        run(&mut s, &["SWAPDB", "0", "0"]);
        assert_eq!(dirty(), 8);
    }
}
