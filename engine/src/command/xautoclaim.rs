//! `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
//!
//! Walks the group's PEL from `start` like SCAN, claiming for `consumer` up to COUNT entries
//! idle for at least min-idle-time and looking at no more than COUNT × 10. Replies with the
//! cursor to continue from (0-0 at the end), the claimed entries, and the IDs it dropped from
//! the PEL because their entries were deleted.

use bytes::Bytes;

use super::xpending::no_group;
use super::xrange::entry_reply;
use super::{Ctx, Group, Spec};
use crate::args::{is, parse_i64_strict};
use crate::error;
use crate::id::{parse_range_bound, StreamId};
use crate::reply::Reply;

/// How many PEL entries one call may examine per entry it may claim.
const ATTEMPTS_FACTOR: u64 = 10;

/// XAUTOCLAIM's table entry: arity -6 (key, group, consumer, min-idle-time, start); Redis 6.2 and
/// later.
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xautoclaim",
        -6,
        Group::Stream,
        &["write", "fast"],
        (1, 1, 1),
        "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
        run,
    )
    .since("6.2.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group_name, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle = match parse_i64_strict(&args[4]) {
        Some(n) => n.max(0) as u64,
        None => return Reply::error("ERR Invalid min-idle-time argument for XAUTOCLAIM"),
    };
    let mut start = match parse_range_bound(&args[5], 0) {
        Ok((id, false)) => id,
        Ok((id, true)) => match id.successor() {
            Some(s) => s,
            None => return Reply::error("ERR invalid start ID for the interval"),
        },
        Err(e) => return e,
    };
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is(&args[j], "count") && more > 0 {
            let max = (i64::MAX / 16) as u64;
            count = match parse_i64_strict(&args[j + 1]) {
                Some(n) if n >= 1 && (n as u64) <= max => n as u64,
                _ => return Reply::error("ERR COUNT must be > 0"),
            };
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return Reply::error(error::SYNTAX);
        }
        j += 1;
    }
    let now = ctx.now_ms;
    let db = ctx.session.db;
    let stream = match ctx.stream_mut(key) {
        Err(e) => return e,
        Ok(Some(s)) => s,
        Ok(None) => return no_group(key, group_name),
    };
    let Some((stored_name, mut group)) = stream.groups.remove_entry(group_name) else {
        return no_group(key, group_name);
    };
    // Since Redis 7.2 a claim attempt creates the consumer and counts as it being seen.
    let created = group.touch_consumer(consumer, now);
    let (mut claimed_ids, mut gone) = (Vec::new(), Vec::new());
    let mut attempts = count * ATTEMPTS_FACTOR;
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut cursor = StreamId::MIN;
    loop {
        let next = group
            .pel
            .range(start, StreamId::MAX)
            .next()
            .map(|(id, p)| (id, !p.is_owned(), p.delivery_time));
        let Some((id, nacked, delivered_at)) = next else {
            break;
        };
        if attempts == 0 || count == 0 {
            cursor = id;
            break;
        }
        attempts -= 1;
        start = match id.successor() {
            Some(s) => s,
            None => StreamId::MAX,
        };
        if !stream.contains(id) {
            group.ack(id);
            gone.push(id);
            deleted.push(id.to_reply());
            count -= 1;
            if id == StreamId::MAX {
                break;
            }
            continue;
        }
        // A NACKed entry is claimable at once, whatever the idle time asked.
        if !nacked && min_idle > 0 && now.saturating_sub(delivered_at) < min_idle {
            if id == StreamId::MAX {
                break;
            }
            continue;
        }
        group.claim(id, consumer, now, None, justid);
        claimed_ids.push(id);
        if let Some(c) = group.consumer_mut(consumer) {
            c.active_time = Some(now);
        }
        claimed.push(if justid {
            id.to_reply()
        } else {
            match stream.range(id, id, false).next() {
                Some(entry) => entry_reply(&entry),
                None => id.to_reply(),
            }
        });
        count -= 1;
        if id == StreamId::MAX {
            break;
        }
    }
    let effects = super::xclaim::claim_effects(
        db,
        (key, group_name, consumer),
        &group,
        created,
        false,
        &claimed_ids,
        &gone,
    );
    stream.groups.insert(stored_name, group);
    if created {
        ctx.notify(crate::notify::STREAM, "xgroup-createconsumer", key);
    }
    let changes = (claimed.len() + deleted.len()) as u64;
    ctx.state.stats.dirty += changes;
    ctx.state.propagation.push_unit(effects);
    Reply::Array(vec![
        cursor.to_reply(),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ])
}
