//! `XNACK key group SILENT|FAIL|FATAL IDS numids id [id ...] [RETRYCOUNT count] [FORCE]`
//! (Redis 8.8)
//!
//! A consumer hands entries back without acknowledging them: each stays pending, owned by no
//! one, at the end of the group's NACK zone, where the next claim (XREADGROUP CLAIM, XCLAIM,
//! XAUTOCLAIM, any idle time) takes it at once instead of after an idle timeout. The mode says
//! what the failed delivery counts for: SILENT takes it back (one delivery less), FAIL keeps
//! it, FATAL marks a poison message (the largest count). RETRYCOUNT sets the count outright
//! and FORCE NACKs entries nobody read yet: both are for rebuilding state from the log.
//! Replies with the number of IDs NACKed.

use bytes::Bytes;

use super::xpending::no_group;
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is, parse_i64_strict};
use crate::group::NackMode;
use crate::id::parse_strict_id;
use crate::reply::Reply;

/// XNACK's table entry: arity -7 (key, group, mode, IDS, numids, one ID).
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xnack",
        -7,
        Group::Stream,
        &["write", "fast"],
        (1, 1, 1),
        "Releases pending entries back to the consumer group without acknowledging them.",
        run,
    )
    .since("8.8.0")]
}

/// XNACK's arguments after the mode.
struct NackArgs<'a> {
    ids: &'a [Bytes],
    retry: Option<u64>,
    force: bool,
}

/// Parses the options from `args[4]` on, in any order, with Redis's words for each mistake.
fn parse_options(args: &[Bytes]) -> Result<NackArgs<'_>, Reply> {
    let mut out = NackArgs {
        ids: &[],
        retry: None,
        force: false,
    };
    let mut seen_ids = false;
    let mut i = 4;
    while i < args.len() {
        let opt = &args[i];
        let more = args.len() - 1 - i;
        if is(opt, "ids") && more > 0 {
            let numids = parse_i64_strict(&args[i + 1])
                .filter(|n| (1..=i32::MAX as i64).contains(n))
                .ok_or_else(|| Reply::error("ERR numids must be a positive integer"))?
                as usize;
            if numids > more - 1 {
                return Err(Reply::error("ERR number of IDs doesn't match numids"));
            }
            out.ids = &args[i + 2..i + 2 + numids];
            seen_ids = true;
            i += 2 + numids;
            continue;
        } else if is(opt, "force") {
            out.force = true;
        } else if is(opt, "retrycount") && more > 0 {
            let n = int_arg(&args[i + 1])?;
            if n < 0 {
                return Err(Reply::error("ERR Invalid RETRYCOUNT value, must be >= 0"));
            }
            out.retry = Some(n as u64);
            i += 1;
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized XNACK option '{}'",
                crate::error::c_str(opt)
            )));
        }
        i += 1;
    }
    if !seen_ids {
        return Err(Reply::error("ERR syntax error, expected IDS keyword"));
    }
    Ok(out)
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group_name) = (&args[1], &args[2]);
    // The key and group are looked up before any argument is, as in Redis.
    match ctx.stream(key) {
        Err(e) => return e,
        Ok(Some(s)) if s.groups.contains_key(group_name) => {}
        Ok(_) => return no_group(key, group_name),
    }
    let mode = if is(&args[3], "silent") {
        NackMode::Silent
    } else if is(&args[3], "fail") {
        NackMode::Fail
    } else if is(&args[3], "fatal") {
        NackMode::Fatal
    } else {
        return Reply::error("ERR mode must be SILENT, FAIL, or FATAL");
    };
    let opts = match parse_options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    // All or nothing: every ID is checked before anything changes.
    let ids = match opts
        .ids
        .iter()
        .map(|a| parse_strict_id(a))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let Ok(Some(stream)) = ctx.stream_mut(key) else {
        return no_group(key, group_name);
    };
    let Some((stored_name, mut group)) = stream.groups.remove_entry(group_name) else {
        return no_group(key, group_name);
    };
    let nacked = ids
        .into_iter()
        .filter(|&id| group.nack(id, mode, opts.retry, opts.force, stream.contains(id)))
        .count() as u64;
    stream.groups.insert(stored_name, group);
    if nacked > 0 {
        // Logged as it came (it depends on no clock); readers blocked with CLAIM wake up.
        ctx.touch(key);
        ctx.state.stats.dirty += nacked - 1;
    }
    Reply::Integer(nacked as i64)
}
