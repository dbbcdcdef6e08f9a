//! XACK key group id [id ...]
//!
//! Acknowledges entries: they leave the group's and their consumer's pending lists. All IDs
//! are validated first, so one malformed ID acknowledges nothing. No key or no group: 0.

use std::borrow::Cow;

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::id::{parse_strict_id, StreamId};
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
    // A few IDs (a worker acknowledging one entry) are parsed onto the stack.
    let mut few = [StreamId::MIN; 8];
    ack(ctx, &args[1], &args[2], || {
        let texts = &args[3..];
        if texts.len() <= few.len() {
            for (slot, arg) in few.iter_mut().zip(texts) {
                *slot = parse_strict_id(arg)?;
            }
            return Ok(Cow::Borrowed(&few[..texts.len()]));
        }
        let ids: Result<Vec<StreamId>, Reply> = texts.iter().map(|a| parse_strict_id(a)).collect();
        Ok(Cow::Owned(ids?))
    })
}

/// Acknowledges the entries `ids` gives (read only once the stream and group are found: a
/// malformed ID is an error only then, as in Redis).
pub(crate) fn ack<'i>(
    ctx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    ids: impl FnOnce() -> Result<Cow<'i, [StreamId]>, Reply>,
) -> Reply {
    // One lookup of the key (its read and its change are the same access).
    let stream = match ctx.stream_mut(key) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(s)) => s,
    };
    let Some(group) = stream.groups.get_mut(group) else {
        return Reply::Integer(0);
    };
    let ids = match ids() {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let acked = group.ack_all(&ids);
    ctx.state.stats.dirty += acked;
    Reply::Integer(acked as i64)
}
