//! MULTI
//! EXEC
//! DISCARD
//! WATCH key [key ...]
//! UNWATCH
//!
//! Transactions: after MULTI, commands are checked (name, arity) and queued; EXEC runs them
//! all under the engine lock, so nothing interleaves. A command refused while queuing makes
//! EXEC answer EXECABORT; a WATCHed key written by anyone (or expired) makes EXEC answer null.

use bytes::Bytes;

use super::{call, lookup, Ctx, Group, Spec};
use crate::error;
use crate::reply::Reply;
use crate::session::Multi;

/// Table entries for MULTI, EXEC, DISCARD, WATCH and UNWATCH; all are `noscript`, and EXEC alone is
/// not `fast` since it runs the whole queue.
pub fn specs() -> Vec<Spec> {
    let flags: &'static [&'static str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
    vec![
        Spec::new(
            "multi",
            1,
            Group::Transactions,
            flags,
            (0, 0, 0),
            "Starts a transaction.",
            multi,
        )
        .since("1.2.0"),
        Spec::new(
            "exec",
            1,
            Group::Transactions,
            &["noscript", "loading", "stale", "skip_slowlog"],
            (0, 0, 0),
            "Executes all commands in a transaction.",
            exec,
        )
        .since("1.2.0"),
        Spec::new(
            "discard",
            1,
            Group::Transactions,
            flags,
            (0, 0, 0),
            "Discards a transaction.",
            discard,
        )
        .since("2.0.0"),
        Spec::new(
            "watch",
            -2,
            Group::Transactions,
            flags,
            (1, -1, 1),
            "Monitors changes to keys to determine the execution of a transaction.",
            watch,
        )
        .since("2.2.0"),
        Spec::new(
            "unwatch",
            1,
            Group::Transactions,
            flags,
            (0, 0, 0),
            "Forgets about watched keys of a transaction.",
            unwatch,
        )
        .since("2.2.0"),
    ]
}

fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.session.multi.is_some() {
        return Reply::error(error::MULTI_NESTED);
    }
    ctx.session.multi = Some(Multi::default());
    Reply::ok()
}

fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let Some(multi) = ctx.session.multi.take() else {
        return Reply::error(error::EXEC_WITHOUT_MULTI);
    };
    let watch_broken = watch_broken(ctx);
    unwatch_all(ctx);
    if multi.failed {
        return Reply::error(error::EXECABORT);
    }
    if watch_broken {
        return Reply::NullArray;
    }
    ctx.session.in_exec = true;
    let mut replies = Vec::with_capacity(multi.queue.len());
    for args in &multi.queue {
        let reply = match lookup(args) {
            Ok(spec) => call(ctx, spec, args),
            Err(text) => Reply::Error(text),
        };
        replies.push(reply);
    }
    ctx.session.in_exec = false;
    Reply::Array(replies)
}

/// Whether any WATCHed key changed or expired since WATCH.
fn watch_broken(ctx: &Ctx) -> bool {
    if ctx
        .session
        .watch_deadline
        .is_some_and(|deadline| deadline <= ctx.now_ms)
    {
        return true;
    }
    ctx.session
        .watched
        .iter()
        .any(|(db, key, version)| ctx.state.keyspace.watch_version(*db, key) != *version)
}

fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.session.multi.take().is_none() {
        return Reply::error(error::DISCARD_WITHOUT_MULTI);
    }
    unwatch_all(ctx);
    Reply::ok()
}

fn watch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.session.multi.is_some() {
        return Reply::error(error::WATCH_IN_MULTI);
    }
    let db = ctx.session.db;
    for key in &args[1..] {
        if ctx
            .session
            .watched
            .iter()
            .any(|(d, k, _)| *d == db && k == key)
        {
            continue;
        }
        let now = ctx.now_ms;
        if ctx.db().contains(key, now) {
            if let Some(at) = ctx.db().expiry(key) {
                let deadline = ctx.session.watch_deadline.map_or(at, |d| d.min(at));
                ctx.session.watch_deadline = Some(deadline);
            }
        }
        let version = ctx.state.keyspace.watch(db, key.clone());
        ctx.session.watched.push((db, key.clone(), version));
    }
    Reply::ok()
}

fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    unwatch_all(ctx);
    Reply::ok()
}

/// Forgets every WATCHed key of the session (EXEC, DISCARD, UNWATCH, RESET).
pub fn unwatch_all(ctx: &mut Ctx) {
    for (db, key, _) in ctx.session.watched.drain(..) {
        ctx.state.keyspace.unwatch(db, &key);
    }
    ctx.session.watch_deadline = None;
}

#[cfg(test)]
mod tests {
    use crate::{Bytes, Engine, Reply};

    fn cmd(s: &mut crate::Session, words: &[&str]) -> Reply {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        s.execute(&args)
    }

    #[test]
    fn queued_commands_run_on_exec() {
        let engine = Engine::new();
        let mut s = engine.session();
        assert_eq!(cmd(&mut s, &["MULTI"]), Reply::ok());
        assert_eq!(
            cmd(&mut s, &["XADD", "s", "1-1", "f", "v"]),
            Reply::simple("QUEUED")
        );
        assert_eq!(cmd(&mut s, &["XLEN", "s"]), Reply::simple("QUEUED"));
        assert_eq!(
            cmd(&mut s, &["EXEC"]),
            Reply::Array(vec![Reply::text("1-1"), Reply::Integer(1)])
        );
    }

    #[test]
    fn queue_error_aborts() {
        let engine = Engine::new();
        let mut s = engine.session();
        cmd(&mut s, &["MULTI"]);
        assert!(cmd(&mut s, &["XLEN"]).is_error());
        assert_eq!(
            cmd(&mut s, &["EXEC"]),
            Reply::error("EXECABORT Transaction discarded because of previous errors.")
        );
    }

    #[test]
    fn touched_watch_aborts() {
        let engine = Engine::new();
        let mut a = engine.session();
        let mut b = engine.session();
        cmd(&mut a, &["WATCH", "s"]);
        cmd(&mut b, &["XADD", "s", "1-1", "f", "v"]);
        cmd(&mut a, &["MULTI"]);
        cmd(&mut a, &["XLEN", "s"]);
        assert_eq!(cmd(&mut a, &["EXEC"]), Reply::NullArray);
        // The watch is gone after EXEC.
        cmd(&mut a, &["MULTI"]);
        cmd(&mut a, &["XLEN", "s"]);
        assert_eq!(
            cmd(&mut a, &["EXEC"]),
            Reply::Array(vec![Reply::Integer(1)])
        );
    }
}
