//! `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
//!
//! The summary form answers the PEL size, its first and last IDs and the pending count per
//! consumer; the extended form lists entries (ID, owner, idle ms, deliveries) in an ID range,
//! optionally only those idle long enough or owned by one consumer.

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::group::PendingEntry;
use crate::id::parse_range_bound;
use crate::reply::{PendingList, Reply};

/// XPENDING's table entry: arity -3 (key and group for the summary; the extended form adds start,
/// end and count).
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xpending",
        -3,
        Group::Stream,
        &["readonly"],
        (1, 1, 1),
        "Returns the information and entries from a stream consumer group's pending entries list.",
        run,
    )
    .since("5.0.0")]
}

/// `-NOGROUP No such key 'k' or consumer group 'g'`
pub fn no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        crate::error::c_str(key),
        crate::error::c_str(group)
    ))
}

struct Extended {
    min_idle: i64,
    start: crate::StreamId,
    end: crate::StreamId,
    count: usize,
    consumer: Option<Bytes>,
}

fn parse_extended(args: &[Bytes]) -> Result<Extended, Reply> {
    let mut at = 3;
    let mut min_idle = 0;
    if is(&args[3], "idle") {
        min_idle = int_arg(&args[4])?;
        if args.len() < 8 {
            return Err(Reply::error(error::SYNTAX));
        }
        at += 2;
    }
    let count = int_arg(&args[at + 2])?.max(0) as usize;
    let (mut start, start_ex) = parse_range_bound(&args[at], 0)?;
    if start_ex {
        start = start
            .successor()
            .ok_or_else(|| Reply::error("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = parse_range_bound(&args[at + 1], u64::MAX)?;
    if end_ex {
        end = end
            .predecessor()
            .ok_or_else(|| Reply::error("ERR invalid end ID for the interval"))?;
    }
    Ok(Extended {
        min_idle,
        start,
        end,
        count,
        consumer: args.get(at + 3).cloned(),
    })
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Reply::error(error::SYNTAX);
    }
    let extended = if argc >= 6 {
        match parse_extended(args) {
            Ok(e) => Some(e),
            Err(e) => return e,
        }
    } else {
        None
    };
    let now = ctx.now_ms;
    let stream = match ctx.stream(&args[1]) {
        Err(e) => return e,
        Ok(s) => s,
    };
    let Some(group) = stream.and_then(|s| s.groups.get(&args[2])) else {
        return no_group(&args[1], &args[2]);
    };
    let Some(ext) = extended else {
        if group.pel.is_empty() {
            return Reply::Array(vec![
                Reply::Integer(0),
                Reply::Null,
                Reply::Null,
                Reply::NullArray,
            ]);
        }
        let first = group
            .pel
            .first_id()
            .map(|id| id.to_reply())
            .unwrap_or(Reply::Null);
        let last = group
            .pel
            .last_id()
            .map(|id| id.to_reply())
            .unwrap_or(Reply::Null);
        let owners = group
            .consumers()
            .filter(|c| !c.pending.is_empty())
            .map(|c| {
                Reply::Array(vec![
                    Reply::Bulk(c.name.clone()),
                    Reply::text(c.pending.len().to_string()),
                ])
            })
            .collect();
        return Reply::Array(vec![
            Reply::Integer(group.pel.len() as i64),
            first,
            last,
            Reply::Array(owners),
        ]);
    };
    if ext.start > ext.end {
        return Reply::Array(Vec::new());
    }
    // The group's PEL gives each entry as it goes; a consumer's list gives IDs to look up.
    let pel = &group.pel;
    let entries: Box<dyn Iterator<Item = (crate::StreamId, &PendingEntry)>> = match &ext.consumer {
        Some(name) => match group.consumer(name) {
            Some(c) => Box::new(
                c.pending
                    .range(ext.start, ext.end)
                    .filter_map(|(id, _)| pel.get(&id).map(|p| (id, p))),
            ),
            None => return Reply::Array(Vec::new()),
        },
        None => Box::new(pel.range(ext.start, ext.end)),
    };
    let mut out = PendingList::with_capacity(ext.count.min(pel.len()));
    for (id, p) in entries {
        if out.len() >= ext.count {
            break;
        }
        // A NACKed entry has no owner and no idle time (Redis 8.8 shows "" and -1); IDLE
        // never hides it: it is claimable at once.
        let Some(owner) = group.owner_name(p) else {
            out.push(id, b"", -1, p.delivery_count as i64);
            continue;
        };
        let idle = now.saturating_sub(p.delivery_time) as i64;
        if ext.min_idle != 0 && idle < ext.min_idle {
            continue;
        }
        out.push(id, owner, idle, p.delivery_count as i64);
    }
    Reply::Pending(Box::new(out))
}
