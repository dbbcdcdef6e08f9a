//! XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
//!
//! Removes entries from the head of a stream. With `~` only whole nodes go, so the stream may
//! keep more than asked, and LIMIT bounds the work. Replies with how many entries went.

use bytes::Bytes;

use super::trim_args;
use super::{Ctx, Group, Spec};
use crate::reply::Reply;

/// XTRIM's table entry: arity -4 (key, MAXLEN or MINID, threshold).
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xtrim",
        -4,
        Group::Stream,
        &["write"],
        (1, 1, 1),
        "Deletes entries from the beginning of a stream.",
        run,
    )
    .since("5.0.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = ctx.state.config.node_limits;
    let opts = match trim_args::parse(args, false, limits) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Some(trim) = opts.trim else {
        return Reply::Integer(0);
    };
    let (removed, len_after) = match ctx.stream_mut(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(stream)) => (stream.trim(trim), stream.len()),
    };
    if removed > 0 {
        ctx.touch(&args[1]);
        ctx.state.stats.dirty += removed - 1;
        ctx.propagate(super::xadd::exact_trim(&args[1], len_after));
    }
    Reply::Integer(removed as i64)
}
