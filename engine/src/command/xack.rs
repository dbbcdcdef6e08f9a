//! XACK key group id [id ...]
//!
//! Acknowledges entries: they leave the group's and their consumer's pending lists. All IDs
//! are validated first, so one malformed ID acknowledges nothing. No key or no group: 0.

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::id::parse_strict_id;
use crate::reply::Reply;

/// XACK's table entry: arity -4 (key, group and at least one ID), a fast write.
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xack",
        -4,
        Group::Stream,
        &["write", "fast"],
        (1, 1, 1),
        "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        run,
    )
    .since("5.0.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // One lookup of the key (its read and its change are the same access).
    let stream = match ctx.stream_mut(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(s)) => s,
    };
    let Some(group) = stream.groups.get_mut(&args[2]) else {
        return Reply::Integer(0);
    };
    let mut ids = Vec::with_capacity(args.len() - 3);
    for arg in &args[3..] {
        match parse_strict_id(arg) {
            Ok(id) => ids.push(id),
            Err(e) => return e,
        }
    }
    let acked = group.ack_all(&ids);
    ctx.state.stats.dirty += acked;
    Reply::Integer(acked as i64)
}
