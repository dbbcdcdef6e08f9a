//! OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP: what Redis tells about how a value is
//! stored and used, without counting as an access to it.

use bytes::Bytes;

use super::{container_arity, help_reply, Ctx, Group, Spec};
use crate::keyspace::Value;
use crate::reply::Reply;

/// OBJECT's table entry: a container whose subcommands take the key as their second argument.
pub fn specs() -> Vec<Spec> {
    let sub = |name, summary, run| {
        Spec::new(
            name,
            3,
            Group::Generic,
            &["readonly"],
            (2, 2, 1),
            summary,
            run,
        )
        .since("2.2.3")
    };
    vec![Spec::new(
        "object",
        -2,
        Group::Generic,
        &[],
        (0, 0, 0),
        "A container for object introspection commands.",
        container_arity,
    )
    .since("2.2.3")
    .with_subcommands(vec![
        sub(
            "object|encoding",
            "Returns the internal encoding of a Redis object.",
            encoding,
        ),
        sub(
            "object|freq",
            "Returns the logarithmic access frequency counter of a Redis object.",
            freq,
        )
        .since("4.0.0"),
        sub(
            "object|idletime",
            "Returns the time since the last access to a Redis object.",
            idletime,
        ),
        sub(
            "object|refcount",
            "Returns the reference count of a value of a key.",
            refcount,
        ),
        Spec::new(
            "object|help",
            2,
            Group::Generic,
            &["loading", "stale"],
            (0, 0, 0),
            "Returns helpful text about the different subcommands.",
            help,
        )
        .since("6.2.0"),
    ])]
}

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "object",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

/// Whether `key` is there (an expired key goes now, as Redis's lookup does), without
/// touching its access data.
fn present(ctx: &mut Ctx, key: &[u8]) -> bool {
    let now = ctx.now_ms;
    ctx.db().contains(key, now)
}

fn encoding(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !present(ctx, &args[2]) {
        return Reply::Null;
    }
    ctx.db()
        .peek(&args[2])
        .map_or(Reply::Null, |v| Reply::text(v.encoding()))
}

/// The policy's family: LFU policies track frequency, the others idle time.
fn lfu(ctx: &Ctx) -> bool {
    ctx.state.config.eviction_policy().ends_with("-lfu")
}

const SWITCHING: &str = "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

fn freq(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !present(ctx, &args[2]) {
        return Reply::Null;
    }
    if !lfu(ctx) {
        return Reply::error(format!(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. {SWITCHING}"
        ));
    }
    let now = ctx.now_ms;
    ctx.db()
        .frequency(&args[2], now)
        .map_or(Reply::Null, |f| Reply::Integer(i64::from(f)))
}

fn idletime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !present(ctx, &args[2]) {
        return Reply::Null;
    }
    if lfu(ctx) {
        return Reply::error(format!(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. {SWITCHING}"
        ));
    }
    let now = ctx.now_ms;
    ctx.db()
        .idle_seconds(&args[2], now)
        .map_or(Reply::Null, |s| Reply::Integer(s as i64))
}

/// Redis shares the integers 0 to 9999 between all keys (refcount `INT_MAX`), unless
/// `maxmemory` is set with an LRU or LFU policy (each key then needs its own access data).
fn refcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !present(ctx, &args[2]) {
        return Reply::Null;
    }
    let config = &ctx.state.config;
    let policy = config.eviction_policy();
    let sharing = config.maxmemory == 0 || !(policy.ends_with("-lru") || policy.ends_with("-lfu"));
    let shared = match ctx.db().peek(&args[2]) {
        Some(Value::Str(s)) => {
            sharing
                && crate::args::parse_i64_strict(s).is_some_and(|n| {
                    (0..10_000).contains(&n) && n.to_string().as_bytes() == s.as_bytes()
                })
        }
        _ => false,
    };
    Reply::Integer(if shared { i32::MAX as i64 } else { 1 })
}
