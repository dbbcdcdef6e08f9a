//! EXPIRE key seconds [NX|XX|GT|LT]
//! PEXPIRE key milliseconds [NX|XX|GT|LT]
//! EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
//! PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
//! TTL key
//! PTTL key
//! EXPIRETIME key
//! PEXPIRETIME key
//! PERSIST key
//!
//! Times to live. A time that is already past deletes the key (and still answers 1). For the
//! conditions, a key without a time to live counts as living forever: GT never passes on it,
//! LT always does.

use crate::notify::GENERIC;
use bytes::Bytes;

use super::keys::lookup_read;
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::reply::Reply;

/// Table entries for EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (arity -3: the NX|XX|GT|LT flag is
/// optional), TTL, PTTL, EXPIRETIME, PEXPIRETIME and PERSIST (arity 2).
pub fn specs() -> Vec<Spec> {
    let set = |name, since, summary, run| {
        Spec::new(
            name,
            -3,
            Group::Generic,
            &["write", "fast"],
            (1, 1, 1),
            summary,
            run,
        )
        .since(since)
    };
    let get = |name, since, summary, run| {
        Spec::new(
            name,
            2,
            Group::Generic,
            &["readonly", "fast"],
            (1, 1, 1),
            summary,
            run,
        )
        .since(since)
    };
    vec![
        set(
            "expire",
            "1.0.0",
            "Sets the expiration time of a key in seconds.",
            expire as super::Handler,
        ),
        set(
            "pexpire",
            "2.6.0",
            "Sets the expiration time of a key in milliseconds.",
            pexpire,
        ),
        set(
            "expireat",
            "1.2.0",
            "Sets the expiration time of a key to a Unix timestamp.",
            expireat,
        ),
        set(
            "pexpireat",
            "2.6.0",
            "Sets the expiration time of a key to a Unix milliseconds timestamp.",
            pexpireat,
        ),
        get(
            "ttl",
            "1.0.0",
            "Returns the expiration time in seconds of a key.",
            ttl as super::Handler,
        ),
        get(
            "pttl",
            "2.6.0",
            "Returns the expiration time in milliseconds of a key.",
            pttl,
        ),
        get(
            "expiretime",
            "7.0.0",
            "Returns the expiration time of a key as a Unix timestamp.",
            expiretime,
        ),
        get(
            "pexpiretime",
            "7.0.0",
            "Returns the expiration time of a key as a Unix milliseconds timestamp.",
            pexpiretime,
        ),
        Spec::new(
            "persist",
            2,
            Group::Generic,
            &["write", "fast"],
            (1, 1, 1),
            "Removes the expiration time of a key.",
            persist,
        )
        .since("2.2.0"),
    ]
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "expire", true, false)
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "pexpire", false, false)
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "expireat", true, true)
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_expiry(ctx, args, "pexpireat", false, true)
}

/// The NX|XX|GT|LT condition of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy)]
struct Condition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Condition {
    /// Reads the options after the time; repeats are allowed, conflicts are not.
    fn parse(options: &[Bytes]) -> Result<Condition, Reply> {
        let mut c = Condition::default();
        for opt in options {
            if is(opt, "nx") {
                c.nx = true;
            } else if is(opt, "xx") {
                c.xx = true;
            } else if is(opt, "gt") {
                c.gt = true;
            } else if is(opt, "lt") {
                c.lt = true;
            } else {
                return Err(Reply::error(format!(
                    "ERR Unsupported option {}",
                    error::printable(opt, opt.len())
                )));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(Reply::error(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(Reply::error(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether the new expiry `when` may replace `current` (`None`: no time to live).
    fn allows(self, current: Option<i64>, when: i64) -> bool {
        match current {
            None => !(self.xx || self.gt),
            Some(current) => {
                !(self.nx || (self.gt && when <= current) || (self.lt && when >= current))
            }
        }
    }
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT. Negative times are allowed (they are in the past);
/// only a time that overflows milliseconds since the epoch is refused.
fn set_expiry(ctx: &mut Ctx, args: &[Bytes], name: &str, seconds: bool, absolute: bool) -> Reply {
    let condition = match Condition::parse(&args[3..]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut when = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let invalid = || Reply::error(format!("ERR invalid expire time in '{name}' command"));
    if seconds {
        match when.checked_mul(1000) {
            Some(ms) => when = ms,
            None => return invalid(),
        }
    }
    let now = i64::try_from(ctx.now_ms).unwrap_or(i64::MAX);
    if !absolute {
        match when.checked_add(now) {
            Some(at) => when = at,
            None => return invalid(),
        }
    }
    let key = &args[1];
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    if !db.contains(key, now_ms) {
        return Reply::Integer(0);
    }
    let current = db
        .expiry(key)
        .map(|at| i64::try_from(at).unwrap_or(i64::MAX));
    if !condition.allows(current, when) {
        return Reply::Integer(0);
    }
    let loading = db.is_loading();
    match u64::try_from(when) {
        Ok(at) if at > now_ms || loading => {
            db.set_expiry(key, at);
            ctx.notify(GENERIC, "expire", key);
        }
        _ => {
            db.remove(key);
            ctx.notify(GENERIC, "del", key);
        }
    }
    ctx.touch(key);
    Reply::Integer(1)
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    report(ctx, &args[1], false, false)
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    report(ctx, &args[1], true, false)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    report(ctx, &args[1], false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    report(ctx, &args[1], true, true)
}

/// TTL and friends: -2 when the key is missing, -1 when it has no expiry. Seconds are rounded
/// to the nearest, as Redis does (`(ms + 500) / 1000`).
fn report(ctx: &mut Ctx, key: &[u8], millis: bool, absolute: bool) -> Reply {
    if lookup_read(ctx, key).is_none() {
        return Reply::Integer(-2);
    }
    let now = ctx.now_ms;
    let Some(at) = ctx.db().expiry(key) else {
        return Reply::Integer(-1);
    };
    let ms = if absolute { at } else { at.saturating_sub(now) };
    let value = if millis {
        ms
    } else {
        ms.saturating_add(500) / 1000
    };
    Reply::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let now = ctx.now_ms;
    let db = ctx.db();
    if db.contains(key, now) && db.persist(key) {
        ctx.notify(GENERIC, "persist", key);
        ctx.touch(key);
        Reply::Integer(1)
    } else {
        Reply::Integer(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{err, int, run};
    use crate::Engine;

    #[test]
    fn expire_ttl_persist() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["EXPIRE", "nokey", "10"]), int(0));
        assert_eq!(run(&mut s, &["TTL", "nokey"]), int(-2));
        assert_eq!(run(&mut s, &["PTTL", "nokey"]), int(-2));
        assert_eq!(run(&mut s, &["EXPIRETIME", "nokey"]), int(-2));
        assert_eq!(run(&mut s, &["PERSIST", "nokey"]), int(0));
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["TTL", "a"]), int(-1));
        assert_eq!(run(&mut s, &["PEXPIRETIME", "a"]), int(-1));
        assert_eq!(run(&mut s, &["PERSIST", "a"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "100"]), int(1));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(100));
        let Reply::Integer(pttl) = run(&mut s, &["PTTL", "a"]) else {
            panic!("PTTL is an integer");
        };
        assert!((99_000..=100_000).contains(&pttl));
        assert_eq!(run(&mut s, &["PEXPIRE", "a", "1499"]), int(1));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(1));
        assert_eq!(run(&mut s, &["PERSIST", "a"]), int(1));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(-1));
    }

    #[test]
    fn absolute_times() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["EXPIREAT", "a", "9223372036854775"]), int(1));
        assert_eq!(run(&mut s, &["EXPIRETIME", "a"]), int(9223372036854775));
        assert_eq!(
            run(&mut s, &["PEXPIREAT", "a", "9223372036854775807"]),
            int(1)
        );
        assert_eq!(run(&mut s, &["PEXPIRETIME", "a"]), int(9223372036854775807));
        assert_eq!(run(&mut s, &["EXPIRETIME", "a"]), int(9223372036854776));
        assert_eq!(run(&mut s, &["PEXPIREAT", "a", "-1"]), int(1));
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
    }

    #[test]
    fn past_times_delete() {
        let engine = Engine::new();
        let mut s = engine.session();
        for time in ["0", "-1"] {
            run(&mut s, &["SET", "a", "1"]);
            assert_eq!(run(&mut s, &["EXPIRE", "a", time]), int(1));
            assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
        }
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["EXPIREAT", "a", "1"]), int(1));
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["EXPIRE", "a", "-1", "NX"]), int(1));
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["EXPIRE", "a", "-1", "XX"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "-1", "LT"]), int(1));
        assert_eq!(run(&mut s, &["EXISTS", "a"]), int(0));
    }

    #[test]
    fn conditions() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["EXPIRE", "a", "10", "XX"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "10", "GT"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "10", "NX"]), int(1));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "20", "NX"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "20", "XX"]), int(1));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "10", "GT"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "30", "gt"]), int(1));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "40", "LT"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "5", "LT"]), int(1));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(5));
        // 4, not 5: "5 s from now" is a millisecond past the deadline set above once the clock
        // has moved on, and GT would then rightly pass.
        assert_eq!(run(&mut s, &["EXPIRE", "a", "4", "XX", "GT"]), int(0));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "50", "XX", "GT"]), int(1));
        // The same absolute deadline is neither greater nor less than itself.
        let at = "99999999999999";
        assert_eq!(run(&mut s, &["PEXPIREAT", "a", at]), int(1));
        assert_eq!(run(&mut s, &["PEXPIREAT", "a", at, "GT"]), int(0));
        assert_eq!(run(&mut s, &["PEXPIREAT", "a", at, "LT"]), int(0));
        run(&mut s, &["PERSIST", "a"]);
        assert_eq!(run(&mut s, &["EXPIRE", "a", "5", "LT"]), int(1));
        assert_eq!(run(&mut s, &["EXPIRE", "a", "6", "NX", "NX"]), int(0));
    }

    #[test]
    fn option_and_time_errors() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        let nx = err("ERR NX and XX, GT or LT options at the same time are not compatible");
        assert_eq!(run(&mut s, &["EXPIRE", "a", "5", "NX", "XX"]), nx);
        assert_eq!(run(&mut s, &["EXPIRE", "a", "5", "NX", "GT"]), nx);
        assert_eq!(
            run(&mut s, &["EXPIRE", "a", "5", "GT", "LT"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut s, &["EXPIRE", "a", "abc", "foo"]),
            err("ERR Unsupported option foo")
        );
        assert_eq!(
            run(&mut s, &["EXPIRE", "a", "5", "NX", "XX", "foo"]),
            err("ERR Unsupported option foo")
        );
        assert_eq!(
            run(&mut s, &["EXPIRE", "a", "abc"]),
            err(error::NOT_INTEGER)
        );
        assert_eq!(
            run(&mut s, &["EXPIRE", "a", "9223372036854775"]),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            run(&mut s, &["EXPIRE", "a", "-9223372036854775808"]),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            run(&mut s, &["PEXPIRE", "a", "9223372036854775000"]),
            err("ERR invalid expire time in 'pexpire' command")
        );
        assert_eq!(
            run(&mut s, &["EXPIREAT", "a", "9223372036854775807"]),
            err("ERR invalid expire time in 'expireat' command")
        );
        assert_eq!(
            run(&mut s, &["EXPIRE", "nokey", "9223372036854775"]),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(run(&mut s, &["EXPIRE", "a", "9223372036854"]), int(1));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(9223372036854));
    }

    #[test]
    fn expired_keys_vanish() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["SET", "a", "1"]);
        assert_eq!(run(&mut s, &["PEXPIRE", "a", "1"]), int(1));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(run(&mut s, &["TTL", "a"]), int(-2));
        assert_eq!(run(&mut s, &["GET", "a"]), Reply::Null);
        assert_eq!(run(&mut s, &["PERSIST", "a"]), int(0));
        // Dropped on access, and counted as expired as Redis does.
        let (Reply::Bulk(info) | Reply::Verbatim(info)) = run(&mut s, &["INFO", "stats"]) else {
            panic!("INFO stats")
        };
        assert!(String::from_utf8_lossy(&info).contains("expired_keys:1\r\n"));
    }
}
