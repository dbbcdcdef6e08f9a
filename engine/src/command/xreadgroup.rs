//! `XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK]`
//!     `STREAMS key [key ...] id [id ...]`
//!
//! Reads as a consumer of a group. `>` delivers entries no consumer of the group has seen:
//! the group's last-delivered ID and entries-read move, and each entry joins the group's and
//! the consumer's pending lists (unless NOACK). An explicit ID re-reads the consumer's own
//! pending entries after it (deleted ones come back with a null body) and never blocks.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::read_args::{self, Budget, ReplyCaps};
use super::{Ctx, Group, Spec};
use crate::blocking::BlockedRead;
use crate::group::ConsumerGroup;
use crate::id::{parse_strict_id, StreamId};
use crate::propagate::{self, Unit};
use crate::reply::{EntryList, Reply};
use crate::stream::Stream;

/// XREADGROUP's table entry: arity -7 (GROUP group consumer STREAMS key ID). A write, because
/// delivering entries fills the PEL.
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xreadgroup",
        -7,
        Group::Stream,
        &["write", "blocking", "movablekeys"],
        (0, 0, 0),
        "Returns new or historical entries from a stream for a consumer in a group.",
        run,
    )
    .since("5.0.0")]
}

/// A `>` read for a consumer, kept by a blocked client to re-run.
#[derive(Debug, Clone)]
pub struct GroupRead {
    /// The group's name.
    pub group: Bytes,
    /// The consumer's name; the read creates the consumer when the group does not know it.
    pub consumer: Bytes,
    /// The streams read; each must have the group, or NOGROUP.
    pub keys: Vec<Bytes>,
    /// COUNT per stream; 0 means no limit.
    pub count: usize,
    /// NOACK: delivered entries skip the PEL, so they need no XACK and can never be claimed.
    pub noack: bool,
    /// CLAIM min-idle-time (Redis 8.4): before new entries, pending entries of any consumer
    /// idle at least this long (ms) are claimed for this one and returned, oldest delivery
    /// first; every entry then carries its idle time and delivery count before this read.
    pub claim: Option<u64>,
    /// MAXCOUNT and MAXSIZE over the whole reply (Redis 8.10).
    pub caps: ReplyCaps,
}

/// Where a read starts in one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    /// `>`: entries never delivered to the group.
    New,
    /// The consumer's pending entries after this ID.
    History(StreamId),
}

struct Request {
    read: GroupRead,
    block: Option<u64>,
    ids: Vec<Bytes>,
}

const DOLLAR: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
const PLUS: &str = "ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set.";

fn parse(args: &[Bytes]) -> Result<Request, Reply> {
    let parsed = read_args::parse(args, true)?;
    let (group, consumer) = parsed
        .group
        .ok_or_else(|| Reply::error("ERR Missing GROUP option for XREADGROUP"))?;
    Ok(Request {
        read: GroupRead {
            group,
            consumer,
            keys: parsed.keys,
            count: parsed.count,
            noack: parsed.noack,
            claim: parsed.claim,
            caps: parsed.caps,
        },
        block: parsed.block,
        ids: parsed.ids,
    })
}

/// `-NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option`
fn no_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        crate::error::c_str(key),
        crate::error::c_str(group)
    ))
}

/// Checks, for a blocked read about to run again, that every key still holds a stream with
/// the group. A client whose stream went (deleted, flushed, renamed away, expired) or whose
/// group was destroyed is released with the error a new call would get (NOGROUP, or
/// WRONGTYPE for a key of another type), as Redis 7.2 on re-runs a released command; 7.0
/// answered `UNBLOCKED the stream key no longer exists` instead.
fn check_groups(ctx: &mut Ctx, read: &GroupRead) -> Result<(), Reply> {
    for key in &read.keys {
        match ctx.stream(key)? {
            Some(s) if s.groups.contains_key(&read.group) => {}
            _ => return Err(no_group(key, &read.group)),
        }
    }
    Ok(())
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let req = match parse(args) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut from = Vec::with_capacity(req.ids.len());
    for (key, id) in req.read.keys.iter().zip(&req.ids) {
        match ctx.stream(key) {
            Err(e) => return e,
            Ok(Some(s)) if s.groups.contains_key(&req.read.group) => {}
            Ok(_) => return no_group(key, &req.read.group),
        }
        from.push(match id.as_ref() {
            b"$" => return Reply::error(DOLLAR),
            b"+" => return Reply::error(PLUS),
            b">" => From::New,
            other => match parse_strict_id(other) {
                // Redis marks `>` internally as the maximum ID, so that ID reads as `>`.
                Ok(StreamId::MAX) => From::New,
                Ok(id) => From::History(id),
                Err(e) => return e,
            },
        });
    }
    let served = serve(ctx, &req.read, &from);
    if served.is_empty() {
        if let Some(timeout) = req.block {
            if ctx.session.may_block() && from.iter().all(|f| *f == From::New) {
                ctx.block(BlockedRead::XReadGroup(req.read), timeout);
                return Reply::NullArray;
            }
        }
        return Reply::NullArray;
    }
    shape(ctx, served)
}

/// The reply for the streams that were served: an array of `[key, entries]`, or a map in RESP3.
fn shape(ctx: &Ctx, served: Vec<(Bytes, EntryList)>) -> Reply {
    let pairs = served
        .into_iter()
        .map(|(k, e)| (Reply::Bulk(k), Reply::Entries(Box::new(e))));
    if ctx.session.protocol >= 3 {
        Reply::Map(pairs.collect())
    } else {
        Reply::Array(pairs.map(|(k, e)| Reply::Array(vec![k, e])).collect())
    }
}

/// Serves each stream that has something for the consumer. History reads are always served
/// (possibly empty); `>` reads only when the stream has entries past the group's position.
fn serve(ctx: &mut Ctx, read: &GroupRead, from: &[From]) -> Vec<(Bytes, EntryList)> {
    let now = ctx.now_ms;
    let journaled = ctx.state.propagation.enabled();
    // The database the effects are logged in, when a journal is attached.
    let journal = journaled.then_some(ctx.session.db);
    let db = ctx.session.db;
    let mut effects = Unit::default();
    let mut served = Vec::new();
    let mut delivered_new = false;
    let mut claimed_any = false;
    let mut consumers_created = 0;
    let mut created_on: Vec<Bytes> = Vec::new();
    let mut claim = read.claim;
    let mut budget = Budget::new(read.caps);
    for (key, start) in read.keys.iter().zip(from) {
        if !budget.allows() {
            // MAXCOUNT or MAXSIZE reached: the streams after it are not read at all.
            break;
        }
        if matches!(start, From::History(_)) {
            // As in Redis, a history read turns CLAIM off for the streams after it too.
            claim = None;
        }
        let Ok(Some(stream)) = ctx.stream_mut(key) else {
            continue;
        };
        let Some((stored_name, mut group)) = stream.groups.remove_entry(&read.group) else {
            continue;
        };
        let created = group.touch_consumer(&read.consumer, now);
        // A new consumer is a change even when the read delivers nothing (a history read
        // by a consumer the group did not know), as in Redis.
        consumers_created += u64::from(created);
        if created {
            created_on.push(key.clone());
        }
        if journaled && created {
            propagate::consumer_effect(&mut effects, db, key, &read.group, &read.consumer);
        }
        let entries = match *start {
            From::History(after) => Some(history(
                stream,
                &mut group,
                &read.consumer,
                after,
                read.count,
                now,
                &mut budget,
            )),
            From::New => {
                let claimed = match claim {
                    Some(min_idle) => claim_idle(
                        stream,
                        &mut group,
                        read,
                        (min_idle, now),
                        &mut budget,
                        journal,
                        key,
                    ),
                    None => Claimed::default(),
                };
                let room = if read.count == 0 {
                    usize::MAX
                } else {
                    read.count.saturating_sub(claimed.entries.len())
                };
                if !claimed.entries.is_empty() {
                    claimed_any = true;
                    effects.extend(claimed.effects);
                }
                if room > 0 && stream.last_valid_id() > group.last_id {
                    let mut ids = Vec::new();
                    let mut all = claimed.entries;
                    if all.is_empty() {
                        all = EntryList::with_capacity(room.min(stream.len() as usize));
                    }
                    deliver_new(
                        stream,
                        &mut group,
                        read,
                        (now, room),
                        claim.is_some(),
                        &mut budget,
                        (&mut all, &mut ids),
                    );
                    delivered_new |= !ids.is_empty();
                    if journaled && !ids.is_empty() {
                        // Logged as absolute XCLAIMs, as Redis logs them (a NOACK read
                        // leaves no PEL entry), then the group's position.
                        if !read.noack {
                            // deliver_new filed each of them as delivered now, once.
                            let names = (&key[..], &read.group[..]);
                            let shared = (names, &read.consumer[..], group.last_id);
                            propagate::deliveries_effect(&mut effects, db, shared, &ids, (now, 1));
                        }
                        propagate::position_effect(&mut effects, db, key, &read.group, &group);
                    }
                    Some(all)
                } else if !claimed.entries.is_empty() {
                    Some(claimed.entries)
                } else {
                    None
                }
            }
        };
        stream.groups.insert(stored_name, group);
        if let Some(entries) = entries {
            served.push((key.clone(), entries));
        }
    }
    if delivered_new || claimed_any {
        // New deliveries and claims are changes. A history read's re-deliveries (count and
        // time, `history`) are neither logged nor counted as changes, as in Redis, which
        // propagates nothing for them either: a reload from the log keeps the last logged
        // count and time (a snapshot or a rewrite keeps the bumped ones).
        ctx.state.stats.dirty += 1;
    }
    ctx.state.stats.dirty += consumers_created;
    for key in &created_on {
        ctx.notify(crate::notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.state.propagation.push_unit(effects);
    served
}

/// Delivers entries after the group's last ID to the consumer.
fn deliver_new(
    stream: &Stream,
    group: &mut ConsumerGroup,
    read: &GroupRead,
    (now, limit): (u64, usize),
    with_metadata: bool,
    budget: &mut Budget,
    (out, ids): (&mut EntryList, &mut Vec<StreamId>),
) {
    let Some(first) = group.last_id.successor() else {
        return;
    };
    stream
        .range(first, StreamId::MAX, false)
        .visit(limit, |entry| {
            if !budget.allows() {
                // Not delivered: no PEL entry, and the group stays before it.
                return ControlFlow::Break(());
            }
            let id = entry.id;
            advance_group(stream, group, id);
            ids.push(id);
            if with_metadata {
                // With CLAIM, new entries carry an idle time and delivery count of 0.
                out.push_claimed(entry, 0, 0);
            } else {
                out.push(entry);
            }
            budget.add_last(out);
            ControlFlow::Continue(())
        });
    if !read.noack {
        group.deliver_all(ids, &read.consumer, now);
    }
    if !ids.is_empty() {
        if let Some(c) = group.consumer_mut(&read.consumer) {
            c.active_time = Some(now);
        }
    }
}

/// What a CLAIM read took: the entries as replied (with idle time and delivery count before
/// the claim), and the effects that log the claims.
#[derive(Default)]
struct Claimed {
    entries: EntryList,
    effects: Unit,
}

/// CLAIM's first phase: the group's pending entries idle at least `min_idle` ms, oldest
/// delivery first (entries gone from the stream are passed over and stay pending), at most
/// COUNT, move to the reading consumer with one more delivery, as Redis 8.4 does.
fn claim_idle(
    stream: &Stream,
    group: &mut ConsumerGroup,
    read: &GroupRead,
    (min_idle, now): (u64, u64),
    budget: &mut Budget,
    journal: Option<usize>,
    key: &Bytes,
) -> Claimed {
    let limit = if read.count == 0 {
        usize::MAX
    } else {
        read.count
    };
    if !group.may_have_idle(now, min_idle) {
        // Nothing NACKed, and nothing delivered long enough ago: no walk of the PEL.
        return Claimed::default();
    }
    // The NACK zone first, in NACK order (those entries count as idle forever), then owned
    // entries by delivery time. The walk also finds the oldest delivery, for the next read.
    let mut oldest = u64::MAX;
    let mut idle: Vec<(u64, StreamId)> = Vec::new();
    for (id, p) in group.pel.iter() {
        if !p.is_owned() {
            continue;
        }
        oldest = oldest.min(p.delivery_time);
        if now.saturating_sub(p.delivery_time) >= min_idle {
            idle.push((p.delivery_time, id));
        }
    }
    group.set_oldest_delivery(oldest);
    idle.sort_unstable();
    let nacked: Vec<(u64, StreamId)> = group.nacked().map(|id| (0, id)).collect();
    let mut out = Claimed::default();
    for (delivery_time, id) in nacked.into_iter().chain(idle) {
        if out.entries.len() >= limit || !budget.allows() {
            break;
        }
        let Some(entry) = stream.range(id, id, false).next() else {
            continue;
        };
        let before = group.pel.get(&id).map_or(0, |p| p.delivery_count);
        let idle = now.saturating_sub(delivery_time) as i64;
        out.entries.push_claimed(&entry, idle, before as i64);
        budget.add_last(&out.entries);
        group.claim(
            id,
            &read.consumer,
            now,
            Some(crate::group::one_more(before)),
            false,
        );
        if let Some(db) = journal {
            let names = (&key[..], &read.group[..]);
            propagate::claim_effect(&mut out.effects, db, names, group, id);
        }
    }
    if !out.entries.is_empty() {
        if let Some(c) = group.consumer_mut(&read.consumer) {
            c.active_time = Some(now);
        }
    }
    out
}

/// Moves the group's last-delivered ID to `id` and keeps its entries-read counter exact when
/// it can (Redis 7.4 rules, with the later fix for groups left behind by trimming).
pub fn advance_group(stream: &Stream, group: &mut ConsumerGroup, id: StreamId) {
    if id <= group.last_id {
        return;
    }
    if stream.group_counter_valid(group) {
        group.entries_read = group.entries_read.map(|n| n + 1);
    } else if stream.entries_added > 0 {
        group.entries_read = stream.estimate_entries_read(id);
    }
    group.last_id = id;
}

/// The consumer's pending entries after `after`, re-delivered (count + 1, time now).
fn history(
    stream: &Stream,
    group: &mut ConsumerGroup,
    consumer: &Bytes,
    after: StreamId,
    count: usize,
    now: u64,
    budget: &mut Budget,
) -> EntryList {
    let Some(start) = after.successor() else {
        return EntryList::new();
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let ids: Vec<StreamId> = match group.consumer(consumer) {
        Some(c) => c
            .pending
            .range(start, StreamId::MAX)
            .take(limit)
            .map(|(id, _)| id)
            .collect(),
        None => Vec::new(),
    };
    let mut out = EntryList::with_capacity(ids.len());
    for id in ids {
        if !budget.allows() {
            break;
        }
        match stream.range(id, id, false).next() {
            Some(entry) => {
                out.push(&entry);
                budget.add_last(&out);
                if let Some(p) = group.pel.get_mut(&id) {
                    p.delivery_time = now;
                    p.delivery_count = crate::group::one_more(p.delivery_count);
                }
                group.note_delivery_time(now);
            }
            None => {
                out.push_deleted(id);
                budget.add_last(&out);
            }
        }
    }
    out
}

/// Re-runs a blocked `>` read; `Some` with the reply when there is data or an error.
pub fn retry_blocked(ctx: &mut Ctx, read: &GroupRead) -> Option<Reply> {
    if let Err(e) = check_groups(ctx, read) {
        return Some(e);
    }
    let from = vec![From::New; read.keys.len()];
    let served = serve(ctx, read, &from);
    (!served.is_empty()).then(|| shape(ctx, served))
}

#[cfg(test)]
mod tests {
    use crate::test_support::run;
    use crate::{Engine, Reply};

    /// The IDs a claiming read returned.
    fn claimed_ids(reply: &Reply) -> Vec<String> {
        let Reply::Array(streams) = reply else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        for stream in streams {
            if let Reply::Array(parts) = stream {
                if let Some(Reply::Array(entries)) = parts.get(1) {
                    for entry in entries {
                        if let Reply::Array(e) = entry {
                            if let Some(Reply::Bulk(id)) = e.first() {
                                ids.push(String::from_utf8_lossy(id).into_owned());
                            }
                        }
                    }
                }
            }
        }
        ids
    }

    /// A claiming read skips the PEL walk while nothing can be idle enough, and still finds
    /// an entry whose delivery time XCLAIM IDLE moved into the past after such a read.
    #[test]
    fn claim_reads_skip_the_walk_only_when_nothing_can_be_idle() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        run(&mut s, &["XADD", "s", "2-1", "f", "v"]);
        run(&mut s, &["XGROUP", "CREATE", "s", "g", "0"]);
        let claim = [
            "XREADGROUP",
            "GROUP",
            "g",
            "b",
            "COUNT",
            "10",
            "CLAIM",
            "100000",
            "STREAMS",
            "s",
            ">",
        ];
        run(
            &mut s,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "a",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">",
            ],
        );
        // Nothing idle for 100 s yet: nothing claimed (and the walk records the oldest).
        assert!(claimed_ids(&run(&mut s, &claim)).is_empty());
        assert!(claimed_ids(&run(&mut s, &claim)).is_empty());
        // 1-1 delivered 500 s ago, as far as the group knows now.
        run(
            &mut s,
            &["XCLAIM", "s", "g", "a", "0", "1-1", "IDLE", "500000"],
        );
        assert_eq!(claimed_ids(&run(&mut s, &claim)), ["1-1"]);
        // NACKed entries are claimed whatever their idle time.
        run(&mut s, &["XNACK", "s", "g", "FAIL", "IDS", "1", "2-1"]);
        assert_eq!(claimed_ids(&run(&mut s, &claim)), ["2-1"]);
        assert!(claimed_ids(&run(&mut s, &claim)).is_empty());
    }
}
