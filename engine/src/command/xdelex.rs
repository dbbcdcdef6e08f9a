//! `XDELEX key [KEEPREF | DELREF | ACKED] IDS numids id [id ...]` (Redis 8.2)
//!
//! Deletes entries like XDEL, with a say in what happens to consumer groups' references
//! (see [`crate::stream::references`]). Replies with one code per ID: 1 deleted, -1 no
//! such entry (or no such key), 2 kept because a group still needs it (ACKED).

use bytes::Bytes;

use super::{ids_args, Ctx, Group, Spec};
use crate::reply::Reply;
use crate::stream::references::RefPolicy;

/// XDELEX's table entry: arity -5 (key, IDS, numids, one ID).
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xdelex",
        -5,
        Group::Stream,
        &["write", "fast"],
        (1, 1, 1),
        "Deletes one or multiple entries from the stream.",
        run,
    )
    .since("8.2.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // A key of another type is refused before the arguments are looked at, as in Redis.
    let exists = match ctx.stream(&args[1]) {
        Err(e) => return e,
        Ok(s) => s.is_some(),
    };
    let parsed = match ids_args::parse(args, 2) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if !exists {
        return parsed.all_missing();
    }
    let ids = match parsed.parsed_ids() {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let Ok(Some(stream)) = ctx.stream_mut(&args[1]) else {
        return parsed.all_missing();
    };
    let (mut deleted, mut dropped_only) = (0u64, 0u64);
    let codes: Vec<Reply> = ids
        .into_iter()
        .map(|id| {
            let (code, dropped) = stream.delete_with(id, parsed.policy);
            if code == 1 {
                deleted += 1;
            } else if dropped {
                dropped_only += 1;
            }
            Reply::Integer(code)
        })
        .collect();
    if deleted > 0 {
        ctx.notify(crate::notify::STREAM, "xdel", &args[1]);
        ctx.touch(&args[1]);
        ctx.state.stats.dirty += deleted - 1;
    }
    // DELREF that only dropped dangling PEL entries changed the data too: counted (and so
    // logged), as Redis does since its fix #15569.
    if parsed.policy == RefPolicy::DelRef {
        ctx.state.stats.dirty += dropped_only;
    }
    Reply::Array(codes)
}
