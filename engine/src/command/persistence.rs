//! `BGREWRITEAOF`
//! `LASTSAVE`
//! `SAVE`
//! `BGSAVE [SCHEDULE]`
//!
//! Saving the dataset: the append-only log's rewrite (see [`crate::aof::rewrite`]); RDB
//! snapshots are refused until Rill writes RDB.

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::aof;
use crate::args::is;
use crate::error;
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

/// LASTSAVE: with nothing ever saved, Redis answers its start time; so does Rill.
fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer((ctx.shared.started_ms / 1000) as i64)
}

fn save(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::error("ERR SAVE is not supported: Rill has no snapshot persistence")
}

fn bgsave(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 2 || (args.len() == 2 && !is(&args[1], "schedule")) {
        return Reply::error(error::SYNTAX);
    }
    Reply::error("ERR BGSAVE is not supported: Rill has no snapshot persistence")
}
