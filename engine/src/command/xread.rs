//! XREAD [COUNT count] [MAXCOUNT maxcount] [MAXSIZE maxsize] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
//!
//! Reads entries after the given IDs from one or more streams. `$` means "after the last
//! entry now"; `+` reads the last entry (Redis 7.4). Only streams with entries appear in the
//! reply; when none has any, the reply is null.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::read_args::{self, Budget, ReplyCaps};
use super::{Ctx, Group, Spec};
use crate::blocking::BlockedRead;
use crate::id::{parse_strict_id, StreamId};
use crate::reply::{EntryList, Reply};
use crate::stream::EntryView;

/// XREAD's table entry: arity -4 (STREAMS, a key and an ID at least). `movablekeys` with a (0, 0,
/// 0) key spec, because the keys follow STREAMS at no fixed position.
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xread",
        -4,
        Group::Stream,
        &["readonly", "blocking", "movablekeys"],
        (0, 0, 0),
        "Returns new or historical entries from one or more streams.",
        run,
    )
    .since("5.0.0")]
}

/// Where reading starts in one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Entries strictly after this ID.
    After(StreamId),
    /// The last entry (`+`).
    Last,
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let req = match read_args::parse(args, false) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut from = Vec::with_capacity(req.keys.len());
    for (key, id) in req.keys.iter().zip(&req.ids) {
        let stream = match ctx.stream(key) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let start = match id.as_ref() {
            b"$" => ReadFrom::After(stream.map(|s| s.last_id).unwrap_or(StreamId::MIN)),
            b"+" => ReadFrom::Last,
            b">" => {
                return Reply::error(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                )
            }
            other => match parse_strict_id(other) {
                Ok(id) => ReadFrom::After(id),
                Err(e) => return e,
            },
        };
        from.push(start);
    }
    let reply = read_available(ctx, &req.keys, &from, req.count, req.caps);
    match req.block {
        Some(timeout) if reply == Reply::NullArray && ctx.session.may_block() => {
            // `+` on a stream with no entry waits for the next one, like `$`.
            let from = from
                .into_iter()
                .zip(&req.keys)
                .map(|(f, key)| match f {
                    ReadFrom::Last => ReadFrom::After(
                        ctx.stream(key)
                            .ok()
                            .flatten()
                            .map(|s| s.last_id)
                            .unwrap_or(StreamId::MIN),
                    ),
                    other => other,
                })
                .collect();
            let read = BlockedRead::XRead {
                keys: req.keys.clone(),
                from,
                count: req.count,
                caps: req.caps,
            };
            ctx.block(read, timeout);
            Reply::NullArray
        }
        _ => reply,
    }
}

/// Re-runs a blocked read; `Some` when it has an answer now.
pub fn retry_blocked(ctx: &mut Ctx, read: &BlockedRead) -> Option<Reply> {
    match read {
        BlockedRead::XRead {
            keys,
            from,
            count,
            caps,
        } => {
            let reply = read_available(ctx, keys, from, *count, *caps);
            (reply != Reply::NullArray).then_some(reply)
        }
        BlockedRead::XReadGroup(_) | BlockedRead::ListPop(_) => None,
    }
}

/// Serves an XREAD from what the streams hold now: the reply, or null when nothing matched.
/// Streams are served in the order given, within MAXCOUNT and MAXSIZE over all of them.
pub fn read_available(
    ctx: &mut Ctx,
    keys: &[Bytes],
    from: &[ReadFrom],
    count: usize,
    caps: ReplyCaps,
) -> Reply {
    let limit = if count == 0 { usize::MAX } else { count };
    let mut budget = Budget::new(caps);
    let resp3 = ctx.session.protocol >= 3;
    let mut per_stream = Vec::new();
    for (key, start) in keys.iter().zip(from) {
        let Ok(Some(stream)) = ctx.stream(key) else {
            continue;
        };
        let mut entries = EntryList::with_capacity(limit.min(stream.len() as usize));
        let mut take = |entry: &EntryView<'_>| {
            if !budget.allows() {
                return ControlFlow::Break(());
            }
            entries.push(entry);
            budget.add_last(&entries);
            ControlFlow::Continue(())
        };
        match start {
            ReadFrom::Last => {
                if let Some(last) = stream.last_entry() {
                    let _ = take(&last);
                }
            }
            ReadFrom::After(id) => {
                if let Some(first) = id.successor() {
                    stream
                        .range(first, StreamId::MAX, false)
                        .visit(limit, &mut take);
                }
            }
        }
        if !entries.is_empty() {
            per_stream.push((Reply::Bulk(key.clone()), Reply::Entries(Box::new(entries))));
        }
    }
    if per_stream.is_empty() {
        Reply::NullArray
    } else if resp3 {
        Reply::Map(per_stream)
    } else {
        Reply::Array(
            per_stream
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![k, v]))
                .collect(),
        )
    }
}
