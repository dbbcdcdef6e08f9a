//! `SLOWLOG GET [count]`
//! `SLOWLOG LEN`
//! `SLOWLOG RESET`
//! `SLOWLOG HELP`
//!
//! The commands that took longer than `slowlog-log-slower-than` microseconds (0 logs every
//! command, -1 none), newest first, at most `slowlog-max-len` of them.

use std::collections::VecDeque;

use bytes::Bytes;

use super::prepared::Request;
use super::{container_arity, help_reply, Ctx, Group, Spec};
use crate::args::parse_i64_strict;
use crate::reply::Reply;

/// Most arguments an entry keeps; the last kept one says how many more there were.
const MAX_ARGS: usize = 32;
/// Longest argument kept whole; longer ones are cut and say by how much.
const MAX_ARG_LEN: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    id: u64,
    unix_secs: u64,
    usec: u64,
    args: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// The slow log: newest entry first.
#[derive(Debug, Default)]
pub struct SlowLog {
    entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Records a command that took `usec`, if the configuration asks for it (a command
    /// given as values is written out as text only then).
    pub fn record(ctx: &mut Ctx, request: Request, usec: u64) {
        let config = &ctx.state.config;
        let threshold = config.slowlog_threshold;
        if threshold < 0 || (usec as i64) < threshold {
            return;
        }
        let max_len = config.int("slowlog-max-len") as usize;
        let (addr, name) = ctx
            .state
            .clients
            .by_id
            .get(&ctx.session.id)
            .map(|c| (c.addr.clone(), c.name().cloned().unwrap_or_default()))
            .unwrap_or_default();
        let log = &mut ctx.state.slowlog;
        let entry = SlowEntry {
            id: log.next_id,
            unix_secs: ctx.now_ms / 1000,
            usec,
            args: kept_args(&request.args()),
            addr,
            name,
        };
        log.next_id += 1;
        log.entries.push_front(entry);
        log.entries.truncate(max_len);
    }
}

/// Which arguments are secrets that SLOWLOG must not keep, as Redis redacts them: AUTH's,
/// the user name and password after HELLO's AUTH, and the value CONFIG SET gives
/// `requirepass`.
fn is_secret(args: &[Bytes], i: usize) -> bool {
    use crate::args::is;
    if is(&args[0], "auth") {
        return i > 0;
    }
    if is(&args[0], "hello") {
        return (2..args.len()).any(|a| is(&args[a - 1], "auth") && (i == a || i == a + 1));
    }
    if is(&args[0], "config") && args.len() > 1 && is(&args[1], "set") {
        return i >= 3 && (i - 3).is_multiple_of(2) && is(&args[i - 1], "requirepass");
    }
    false
}

/// The arguments as the log keeps them: secrets redacted, bounded in number and length, as
/// Redis does, so a huge command does not make a huge log.
fn kept_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGS);
    let mut out = Vec::with_capacity(kept);
    for (i, arg) in args.iter().take(kept).enumerate() {
        if is_secret(args, i) {
            out.push(Bytes::from_static(b"(redacted)"));
        } else if i == kept - 1 && args.len() > kept {
            out.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - kept + 1
            )));
        } else if arg.len() > MAX_ARG_LEN {
            let mut cut = arg[..MAX_ARG_LEN].to_vec();
            cut.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - MAX_ARG_LEN).as_bytes(),
            );
            out.push(Bytes::from(cut));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// Table entries for SLOWLOG and its subcommands.
#[rustfmt::skip]
pub fn specs() -> Vec<Spec> {
    let admin: &'static [&'static str] = &["admin", "loading", "stale"];
    let sub = |name, arity, flags, summary, run| {
        Spec::new(name, arity, Group::Server, flags, (0, 0, 0), summary, run).since("2.2.12")
    };
    vec![Spec::new("slowlog", -2, Group::Server, &[], (0, 0, 0), "A container for slow log commands.", container_arity)
        .since("2.2.12")
        .with_subcommands(vec![
            sub("slowlog|get", -2, admin, "Returns the slow log's entries.", get),
            sub("slowlog|len", 2, admin, "Returns the number of entries in the slow log.", len),
            sub("slowlog|reset", 2, admin, "Clears all entries from the slow log.", reset),
            sub("slowlog|help", 2, &["loading", "stale"], "Show helpful text about the different subcommands", help),
        ])]
}

/// SLOWLOG GET [count]: the newest `count` entries (10 by default, -1 for all).
fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return Reply::error(crate::error::subcommand_syntax("slowlog", &args[1]));
    }
    let count = match args.get(2) {
        None => 10,
        Some(arg) => match parse_i64_strict(arg) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return Reply::error("ERR count should be greater than or equal to -1"),
        },
    };
    Reply::Array(
        ctx.state
            .slowlog
            .entries
            .iter()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Integer(e.id as i64),
                    Reply::Integer(e.unix_secs as i64),
                    Reply::Integer(e.usec as i64),
                    Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::text(e.addr.clone()),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect(),
    )
}

fn len(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.state.slowlog.entries.len() as i64)
}

fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.state.slowlog.entries.clear();
    Reply::ok()
}

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "slowlog",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::test_support::run;
    use crate::{Engine, Reply};

    #[test]
    fn every_command_is_logged_at_threshold_zero() {
        let mut s = Engine::new().session();
        assert_eq!(
            run(&mut s, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
            Reply::ok()
        );
        run(&mut s, &["SLOWLOG", "RESET"]);
        let long = "x".repeat(200);
        run(&mut s, &["ECHO", &long]);
        let Reply::Array(entries) = run(&mut s, &["SLOWLOG", "GET", "1"]) else {
            panic!("SLOWLOG GET is not an array")
        };
        let Reply::Array(fields) = &entries[0] else {
            panic!("entry is not an array")
        };
        let Reply::Array(args) = &fields[3] else {
            panic!("args are not an array")
        };
        let expected = format!("{}... (72 more bytes)", "x".repeat(128));
        assert_eq!(args[1], Reply::text(expected));
        assert_eq!(
            run(&mut s, &["CONFIG", "SET", "slowlog-max-len", "2"]),
            Reply::ok()
        );
        run(&mut s, &["PING"]);
        run(&mut s, &["PING"]);
        assert_eq!(run(&mut s, &["SLOWLOG", "LEN"]), Reply::Integer(2));
        assert_eq!(
            run(&mut s, &["SLOWLOG", "GET", "-2"]),
            Reply::error("ERR count should be greater than or equal to -1")
        );
        run(&mut s, &["CONFIG", "SET", "slowlog-max-len", "10"]);
        run(&mut s, &["AUTH", "user", "secret"]);
        run(&mut s, &["CONFIG", "SET", "requirepass", "pw2", "hz", "10"]);
        let logged = format!("{:?}", run(&mut s, &["SLOWLOG", "GET", "3"]));
        assert!(
            !logged.contains("secret") && !logged.contains("pw2"),
            "{logged}"
        );
        assert!(logged.contains("redacted"), "{logged}");
        run(&mut s, &["AUTH", "pw2"]);
        run(&mut s, &["CONFIG", "SET", "requirepass", ""]);
        run(&mut s, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        run(&mut s, &["SLOWLOG", "RESET"]);
        run(&mut s, &["PING"]);
        assert_eq!(run(&mut s, &["SLOWLOG", "LEN"]), Reply::Integer(0));
    }
}
