//! XDEL key id [id ...]
//!
//! Deletes entries by ID; every ID is validated before anything is deleted. Replies with how
//! many existed. Moves max-deleted-entry-id, and the first ID when the head went.

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::id::parse_strict_id;
use crate::reply::Reply;

/// XDEL's table entry: arity -3 (key and at least one ID).
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xdel",
        -3,
        Group::Stream,
        &["write", "fast"],
        (1, 1, 1),
        "Deletes one or more entries from a stream by ID.",
        run,
    )
    .since("5.0.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.stream(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(_)) => {}
    }
    let mut ids = Vec::with_capacity(args.len() - 2);
    for arg in &args[2..] {
        match parse_strict_id(arg) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let Ok(Some(stream)) = ctx.stream_mut(&args[1]) else {
        return Reply::Integer(0);
    };
    let deleted = ids
        .into_iter()
        .filter(|id| stream.delete_recorded(*id))
        .count() as i64;
    if deleted > 0 {
        ctx.notify(crate::notify::STREAM, "xdel", &args[1]);
        ctx.touch(&args[1]);
        ctx.state.stats.dirty += deleted as u64 - 1;
    }
    Reply::Integer(deleted)
}
