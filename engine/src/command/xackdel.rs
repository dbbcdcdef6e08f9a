//! `XACKDEL key group [KEEPREF | DELREF | ACKED] IDS numids id [id ...]` (Redis 8.2)
//!
//! Acknowledges entries in a group and deletes them from the stream in one step, with a say
//! in what happens to other groups' references (see [`crate::stream::references`]). Replies
//! with one code per ID: -1 not pending in the group (or no such key or group: nothing
//! happens to that ID), 1 acknowledged and deleted (or already gone from the stream), 2
//! acknowledged but kept because another group still needs it (ACKED).

use bytes::Bytes;

use super::{ids_args, Ctx, Group, Spec};
use crate::reply::Reply;

/// XACKDEL's table entry: arity -6 (key, group, IDS, numids, one ID).
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xackdel",
        -6,
        Group::Stream,
        &["write", "fast"],
        (1, 1, 1),
        "Acknowledges and conditionally deletes one or multiple entries for a stream consumer group.",
        run,
    )
    .since("8.2.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[1], &args[2]);
    let has_group = match ctx.stream(key) {
        Err(e) => return e,
        Ok(s) => s.map(|s| s.groups.contains_key(group)),
    };
    let parsed = match ids_args::parse(args, 3) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if has_group != Some(true) {
        return parsed.all_missing();
    }
    let ids = match parsed.parsed_ids() {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let Ok(Some(stream)) = ctx.stream_mut(key) else {
        return parsed.all_missing();
    };
    let (mut acked, mut deleted) = (0u64, 0u64);
    let mut codes = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(g) = stream.groups.get_mut(group) else {
            break;
        };
        if !g.ack(id) {
            codes.push(Reply::Integer(-1));
            continue;
        }
        acked += 1;
        let code = match stream.delete_with(id, parsed.policy).0 {
            2 => 2,
            1 => {
                deleted += 1;
                1
            }
            // Acknowledged; the entry had already gone from the stream.
            _ => 1,
        };
        codes.push(Reply::Integer(code));
    }
    // One change per acknowledgement, as in Redis (a deletion adds none); the touch that
    // tells WATCH about deletions counts as one of them.
    if deleted > 0 {
        ctx.notify(crate::notify::STREAM, "xdel", key);
        ctx.touch(key);
        ctx.state.stats.dirty += acked - 1;
    } else {
        ctx.state.stats.dirty += acked;
    }
    Reply::Array(codes)
}
