//! XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count] [KEEPREF|DELREF|ACKED]
//!
//! Removes entries from the head of a stream. With `~` only whole nodes go, so the stream may
//! keep more than asked, and LIMIT bounds the work. The reference policy says what happens
//! to consumer groups' PEL entries (see [`crate::stream::references`]). Replies with how
//! many entries went.

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
    let (outcome, len_after) = match ctx.stream_mut(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(stream)) => (stream.trim_with(trim, opts.policy), stream.len()),
    };
    if outcome.removed > 0 {
        ctx.notify(crate::notify::STREAM, "xtrim", &args[1]);
        ctx.touch(&args[1]);
        ctx.state.stats.dirty += outcome.removed - 1;
        ctx.propagate(super::xadd::logged_trim(
            &args[1],
            len_after,
            outcome,
            opts.policy,
        ));
    }
    Reply::Integer(outcome.removed as i64)
}
