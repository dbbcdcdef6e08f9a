//! XINFO STREAM key [FULL [COUNT count]]
//! XINFO GROUPS key
//! XINFO CONSUMERS key group
//! XINFO HELP
//!
//! Stream health as Redis reports it: length, node counts, IDs and counters, first and last
//! entries (or, with FULL, the entries themselves and the groups in detail).

use bytes::Bytes;

use super::xrange::entry_reply;
use super::{container_arity, help_reply, Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::group::ConsumerGroup;
use crate::id::StreamId;
use crate::reply::Reply;
use crate::stream::Stream;

/// XINFO's table entry: a container for STREAM, GROUPS, CONSUMERS and HELP, which hold the real
/// arities, with the key as their second argument.
pub fn specs() -> Vec<Spec> {
    let sub = |name, arity, flags, keys, summary, run| {
        Spec::new(name, arity, Group::Stream, flags, keys, summary, run).since("5.0.0")
    };
    vec![Spec::new(
        "xinfo",
        -2,
        Group::Stream,
        &[],
        (0, 0, 0),
        "A container for stream introspection commands.",
        container_arity,
    )
    .since("5.0.0")
    .with_subcommands(vec![
        sub(
            "xinfo|stream",
            -3,
            &["readonly"],
            (2, 2, 1),
            "Returns information about a stream.",
            stream,
        ),
        sub(
            "xinfo|groups",
            3,
            &["readonly"],
            (2, 2, 1),
            "Returns a list of the consumer groups of a stream.",
            groups,
        ),
        sub(
            "xinfo|consumers",
            4,
            &["readonly"],
            (2, 2, 1),
            "Returns a list of the consumers in a consumer group.",
            consumers,
        ),
        sub(
            "xinfo|help",
            2,
            &["loading", "stale"],
            (0, 0, 0),
            "Returns helpful text about the different subcommands.",
            help,
        ),
    ])]
}

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "xinfo",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

fn text(s: &str) -> Reply {
    Reply::text(s)
}

fn stream(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut full = false;
    let mut count: i64 = 10;
    if args.len() > 3 {
        let shape_error = || Reply::error(error::subcommand_syntax("xinfo", &args[1]));
        if !is(&args[3], "full") {
            return shape_error();
        }
        full = true;
        match args.len() {
            4 => {}
            6 if is(&args[4], "count") => {
                count = match int_arg(&args[5]) {
                    Ok(n) => n.max(0),
                    Err(e) => return e,
                }
            }
            _ => return shape_error(),
        }
    }
    let now = ctx.now_ms;
    let s = match ctx.stream_mut(&args[2]) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    // Counts of iids still remembered: what expired is forgotten first.
    s.idmp.expire(now);
    let s = &*s;
    let mut map = header(s);
    if full {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count as usize
        };
        let entries = s
            .range(StreamId::MIN, StreamId::MAX, false)
            .take(limit)
            .map(|e| entry_reply(&e))
            .collect();
        map.push((text("entries"), Reply::Array(entries)));
        let groups = s
            .groups
            .iter()
            .map(|(name, g)| full_group(s, name, g, limit))
            .collect();
        map.push((text("groups"), Reply::Array(groups)));
    } else {
        map.push((text("groups"), Reply::Integer(s.groups.len() as i64)));
        let first = s
            .first_entry()
            .map(|e| entry_reply(&e))
            .unwrap_or(Reply::Null);
        let last = s
            .last_entry()
            .map(|e| entry_reply(&e))
            .unwrap_or(Reply::Null);
        map.push((text("first-entry"), first));
        map.push((text("last-entry"), last));
    }
    Reply::Map(map)
}

/// A group in XINFO STREAM FULL: its position, lag, PEL and consumers with their PELs.
fn full_group(s: &Stream, name: &Bytes, g: &ConsumerGroup, limit: usize) -> Reply {
    let pel = g
        .pel
        .iter()
        .take(limit)
        .map(|(id, p)| {
            Reply::Array(vec![
                id.to_reply(),
                Reply::Bulk(g.owner_name(p).cloned().unwrap_or_default()),
                Reply::Integer(p.delivery_time as i64),
                Reply::Integer(p.delivery_count as i64),
            ])
        })
        .collect();
    let consumers = g
        .consumers()
        .map(|c| {
            let pending = c
                .pending
                .keys()
                .take(limit)
                .filter_map(|id| g.pel.get(&id).map(|p| (id, p)))
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id.to_reply(),
                        Reply::Integer(p.delivery_time as i64),
                        Reply::Integer(p.delivery_count as i64),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (text("name"), Reply::Bulk(c.name.clone())),
                (text("seen-time"), Reply::Integer(c.seen_time as i64)),
                (
                    text("active-time"),
                    Reply::Integer(c.active_time.map_or(-1, |t| t as i64)),
                ),
                (text("pel-count"), Reply::Integer(c.pending.len() as i64)),
                (text("pending"), Reply::Array(pending)),
            ])
        })
        .collect();
    Reply::Map(vec![
        (text("name"), Reply::Bulk(name.clone())),
        (text("last-delivered-id"), g.last_id.to_reply()),
        (text("entries-read"), entries_read(g)),
        (text("lag"), lag(s, g)),
        (text("pel-count"), Reply::Integer(g.pel.len() as i64)),
        // Redis 8.8: the entries handed back with XNACK, owned by no one.
        (
            text("nacked-count"),
            Reply::Integer(g.nacked_count() as i64),
        ),
        (text("pending"), Reply::Array(pel)),
        (text("consumers"), Reply::Array(consumers)),
    ])
}

fn entries_read(g: &ConsumerGroup) -> Reply {
    g.entries_read
        .map_or(Reply::Null, |n| Reply::Integer(n as i64))
}

fn lag(s: &Stream, g: &ConsumerGroup) -> Reply {
    s.lag(g).map_or(Reply::Null, Reply::Integer)
}

/// The fields both forms of XINFO STREAM start with.
fn header(s: &Stream) -> Vec<(Reply, Reply)> {
    vec![
        (text("length"), Reply::Integer(s.len() as i64)),
        (
            text("radix-tree-keys"),
            Reply::Integer(s.node_count() as i64),
        ),
        // Rill indexes nodes in an ordered map, not a radix tree: this counts the index's
        // entries plus its root, the closest honest equivalent.
        (
            text("radix-tree-nodes"),
            Reply::Integer(s.node_count() as i64 + 1),
        ),
        (text("last-generated-id"), s.last_id.to_reply()),
        (text("max-deleted-entry-id"), s.max_deleted_id.to_reply()),
        (
            text("entries-added"),
            Reply::Integer(s.entries_added as i64),
        ),
        (text("recorded-first-entry-id"), s.first_id.to_reply()),
        // Idempotent production (Redis 8.6): shown for every stream.
        (
            text("idmp-duration"),
            Reply::Integer(s.idmp.duration as i64),
        ),
        (text("idmp-maxsize"), Reply::Integer(s.idmp.max_size as i64)),
        (
            text("pids-tracked"),
            Reply::Integer(s.idmp.producer_count() as i64),
        ),
        (
            text("iids-tracked"),
            Reply::Integer(s.idmp.iid_count() as i64),
        ),
        (text("iids-added"), Reply::Integer(s.idmp.iids_added as i64)),
        (
            text("iids-duplicates"),
            Reply::Integer(s.idmp.iids_duplicates as i64),
        ),
    ]
}

fn groups(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let s = match ctx.stream(&args[2]) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            Reply::Map(vec![
                (text("name"), Reply::Bulk(name.clone())),
                (text("consumers"), Reply::Integer(g.consumer_count() as i64)),
                (text("pending"), Reply::Integer(g.pel.len() as i64)),
                (text("last-delivered-id"), g.last_id.to_reply()),
                (text("entries-read"), entries_read(g)),
                (text("lag"), lag(s, g)),
            ])
        })
        .collect();
    Reply::Array(groups)
}

fn consumers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let s = match ctx.stream(&args[2]) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let Some(g) = s.groups.get(&args[3]) else {
        return error::no_such_group(&args[2], &args[3]);
    };
    let list = g
        .consumers()
        .map(|c| {
            Reply::Map(vec![
                (text("name"), Reply::Bulk(c.name.clone())),
                (text("pending"), Reply::Integer(c.pending.len() as i64)),
                (
                    text("idle"),
                    Reply::Integer(now.saturating_sub(c.seen_time) as i64),
                ),
                (
                    text("inactive"),
                    Reply::Integer(c.active_time.map_or(-1, |t| now.saturating_sub(t) as i64)),
                ),
            ])
        })
        .collect();
    Reply::Array(list)
}
