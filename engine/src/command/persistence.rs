//! `BGREWRITEAOF`
//! `LASTSAVE`
//! `SAVE`
//! `BGSAVE [SCHEDULE]`
//!
//! Saving the dataset: the append-only log's rewrite (see [`crate::aof::rewrite`]) and RDB
//! snapshots (see [`crate::rdb::save`]).

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::aof;
use crate::args::is;
use crate::error;
use crate::rdb;
use crate::reply::Reply;

/// Table entries for the persistence commands.
// The table reads best one command a line.
#[rustfmt::skip]
pub fn specs() -> Vec<Spec> {
    let srv = Group::Server;
    vec![
        Spec::new("bgrewriteaof", 1, srv, &["admin", "noscript", "no_async_loading"], (0, 0, 0), "Asynchronously rewrites the append-only file to disk.", bgrewriteaof),
        Spec::new("lastsave", 1, srv, &["loading", "stale", "fast"], (0, 0, 0), "Returns the Unix timestamp of the last successful save to disk.", lastsave),
        Spec::new("save", 1, srv, &["admin", "noscript", "no_async_loading", "no_multi"], (0, 0, 0), "Synchronously saves the database(s) to disk.", save),
        Spec::new("bgsave", -1, srv, &["admin", "noscript", "no_async_loading"], (0, 0, 0), "Asynchronously saves the database(s) to disk.", bgsave),
    ]
}

/// BGREWRITEAOF: a new base from the current data, written by a thread while the server
/// goes on; with the log off, the AOF directory gets a base alone (as in Redis).
fn bgrewriteaof(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let target = match &ctx.state.persistence.log {
        Some(log) => log.target().clone(),
        None => aof::Options::from_config(&ctx.state.config).target,
    };
    match aof::rewrite::start(ctx.state, &target) {
        Ok(()) => Reply::Simple("Background append only file rewriting started".into()),
        Err(e) => Reply::error(format!("ERR {e}")),
    }
}

/// LASTSAVE: the Unix time of the last successful save (the start time before any).
fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.state.persistence.save.lock().last_save as i64)
}

/// SAVE: writes `<dir>/<dbfilename>` now; the server waits, as Redis's does.
fn save(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match rdb::save::save_now(ctx.state, ctx.now_ms) {
        Ok(()) => Reply::ok(),
        Err(e) if e.contains("already in progress") => Reply::error(format!("ERR {e}")),
        Err(e) => {
            eprintln!("Failed saving the DB: {e}");
            Reply::error("ERR")
        }
    }
}

/// BGSAVE [SCHEDULE]: a snapshot written by a thread; with SCHEDULE, once a running AOF
/// rewrite ends. Inside EXEC it is always scheduled (the periodic work starts it), as Redis
/// does.
fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let schedule = match args.len() {
        1 => false,
        2 if is(&args[1], "schedule") => true,
        _ => return Reply::error(error::SYNTAX),
    };
    if ctx.state.persistence.save.lock().running.is_some() {
        return Reply::error("ERR Background save already in progress");
    }
    if ctx.session.in_exec {
        ctx.state.persistence.save.lock().scheduled = true;
        return Reply::simple("Background saving scheduled");
    }
    if ctx.state.persistence.rewrite.lock().running_since.is_some() {
        if !schedule {
            return Reply::error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        }
        ctx.state.persistence.save.lock().scheduled = true;
        return Reply::simple("Background saving scheduled");
    }
    match rdb::save::start_background(ctx.state, ctx.now_ms) {
        Ok(()) => Reply::simple("Background saving started"),
        Err(e) => Reply::error(format!("ERR {e}")),
    }
}
