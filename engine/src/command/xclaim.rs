//! `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]`
//!     `[RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]`
//!
//! Takes pending entries idle for at least min-idle-time over to `consumer` (how a worker
//! reclaims what a crashed one left). Entries deleted from the stream leave the PEL and are
//! not returned. JUSTID replies IDs only and leaves delivery counts alone.

use bytes::Bytes;

use super::xpending::no_group;
use super::xrange::entry_reply;
use super::{Ctx, Group, Spec};
use crate::args::{is, parse_i64_strict};
use crate::id::{parse_strict_id, StreamId};
use crate::propagate::Unit;
use crate::reply::Reply;

/// XCLAIM's table entry: arity -6 (key, group, consumer, min-idle-time and at least one ID).
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xclaim",
        -6,
        Group::Stream,
        &["write", "fast"],
        (1, 1, 1),
        "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
        run,
    )
    .since("5.0.0")]
}

fn int_or(arg: &[u8], text: &str) -> Result<i64, Reply> {
    parse_i64_strict(arg).ok_or_else(|| Reply::error(format!("ERR {text}")))
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group_name, consumer) = (&args[1], &args[2], &args[3]);
    match ctx.stream(key) {
        Err(e) => return e,
        Ok(Some(s)) if s.groups.contains_key(group_name) => {}
        Ok(_) => return no_group(key, group_name),
    }
    let min_idle = match int_or(&args[4], "Invalid min-idle-time argument for XCLAIM") {
        Ok(n) => n.max(0) as u64,
        Err(e) => return e,
    };
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_strict_id(&args[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now_ms;
    let mut force = false;
    let mut justid = false;
    let mut delivery_time: Option<i64> = None;
    let mut retry_count: Option<u64> = None;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            match int_or(&args[j], "Invalid IDLE option argument for XCLAIM") {
                Ok(idle) => delivery_time = Some((now as i64).saturating_sub(idle)),
                Err(e) => return e,
            }
        } else if is(opt, "time") && more > 0 {
            j += 1;
            match int_or(&args[j], "Invalid TIME option argument for XCLAIM") {
                Ok(t) => delivery_time = Some(t),
                Err(e) => return e,
            }
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            match int_or(&args[j], "Invalid RETRYCOUNT option argument for XCLAIM") {
                Ok(n) => retry_count = (n >= 0).then_some(n as u64),
                Err(e) => return e,
            }
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            match parse_strict_id(&args[j]) {
                Ok(id) => last_id = id,
                Err(e) => return e,
            }
        } else {
            return Reply::error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                crate::error::c_str(opt)
            ));
        }
        j += 1;
    }
    // A bogus time (negative, or in the future) means "now": clients compute it from their
    // own clocks, which is no reason to fail.
    let delivery_time = match delivery_time {
        Some(t) if t >= 0 && (t as u64) <= now => t as u64,
        _ => now,
    };
    let db = ctx.session.db;
    let Ok(Some(stream)) = ctx.stream_mut(key) else {
        return no_group(key, group_name);
    };
    let Some((stored_name, mut group)) = stream.groups.remove_entry(group_name) else {
        return no_group(key, group_name);
    };
    // Since Redis 7.2 a claim attempt creates the consumer and counts as it being seen.
    let created = group.touch_consumer(consumer, now);
    let mut changes = 0u64;
    let moved = last_id > group.last_id;
    if moved {
        group.last_id = last_id;
        changes += 1;
    }
    let mut out = Vec::new();
    let (mut claimed, mut gone) = (Vec::new(), Vec::new());
    for id in ids {
        if !stream.contains(id) {
            if group.ack(id) {
                changes += 1;
                gone.push(id);
            }
            continue;
        }
        let mut forced = false;
        if force && !group.pel.contains_key(&id) {
            group.force_pending(id, now);
            forced = true;
        }
        let Some(pending) = group.pel.get(&id) else {
            continue;
        };
        // A NACKed entry (no owner) is claimable at once, whatever the idle time asked.
        let nacked = !pending.is_owned();
        if !forced
            && !nacked
            && min_idle > 0
            && now.saturating_sub(pending.delivery_time) < min_idle
        {
            continue;
        }
        group.claim(id, consumer, delivery_time, retry_count, justid);
        claimed.push(id);
        if let Some(c) = group.consumer_mut(consumer) {
            c.active_time = Some(now);
        }
        out.push(if justid {
            id.to_reply()
        } else {
            match stream.range(id, id, false).next() {
                Some(entry) => entry_reply(&entry),
                None => id.to_reply(),
            }
        });
        changes += 1;
    }
    let names = (key, group_name, consumer);
    let effects = claim_effects(db, names, &group, created, moved, &claimed, &gone);
    stream.groups.insert(stored_name, group);
    if changes > 0 {
        ctx.state.stats.dirty += changes;
    }
    if created {
        ctx.notify(crate::notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.state.propagation.push_unit(effects);
    Reply::Array(out)
}

/// What a claim logs: the consumer it created, each claimed entry as Redis's absolute
/// XCLAIM form, each entry it dropped because it was deleted as an XACK, the position it
/// moved to.
/// `names` is (key, group, consumer); the effects are logged in database `db`.
pub(crate) fn claim_effects(
    db: usize,
    (key, group_name, consumer): (&Bytes, &Bytes, &Bytes),
    group: &crate::group::ConsumerGroup,
    created: bool,
    moved: bool,
    claimed: &[StreamId],
    gone: &[StreamId],
) -> Unit {
    use crate::propagate::{ack_effect, claim_effect, consumer_effect, position_effect};
    let mut effects = Unit::default();
    if created {
        consumer_effect(&mut effects, db, key, group_name, consumer);
    }
    for id in claimed {
        claim_effect(&mut effects, db, (key, group_name), group, *id);
    }
    for id in gone {
        ack_effect(&mut effects, db, key, group_name, *id);
    }
    if moved {
        position_effect(&mut effects, db, key, group_name, group);
    }
    effects
}
