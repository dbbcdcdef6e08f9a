//! XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
//!
//! Reads entries after the given IDs from one or more streams. `$` means "after the last
//! entry now"; `+` reads the last entry (Redis 7.4). Only streams with entries appear in the
//! reply; when none has any, the reply is null.

use bytes::Bytes;

use super::xrange::entry_reply;
use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::blocking::BlockedRead;
use crate::error;
use crate::id::{parse_strict_id, StreamId};
use crate::reply::Reply;

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

/// Parsed XREAD arguments.
#[derive(Debug, Clone)]
pub struct XRead {
    /// COUNT per stream; 0 (not given) means no limit.
    pub count: usize,
    /// BLOCK timeout in ms, when given.
    pub block: Option<u64>,
    /// The streams: the first half of the words after STREAMS.
    pub keys: Vec<Bytes>,
    /// One unparsed ID per key (`$`, `+` or an ID), resolved against its stream only when the read
    /// runs.
    pub ids: Vec<Bytes>,
}

/// Parses a BLOCK timeout the way Redis does.
pub fn parse_timeout(arg: &[u8]) -> Result<u64, Reply> {
    let n = crate::args::parse_i64_strict(arg)
        .ok_or_else(|| Reply::error("ERR timeout is not an integer or out of range"))?;
    if n < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok(n as u64)
}

fn parse(args: &[Bytes]) -> Result<XRead, Reply> {
    let mut count = 0usize;
    let mut block = None;
    let mut streams_at = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if is(opt, "block") && more > 0 {
            i += 1;
            block = Some(parse_timeout(&args[i])?);
        } else if is(opt, "count") && more > 0 {
            i += 1;
            count = int_arg(&args[i])?.max(0) as usize;
        } else if is(opt, "streams") && more > 0 {
            streams_at = Some(i + 1);
            break;
        } else if is(opt, "group") && more >= 2 {
            return Err(Reply::error(
                "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else if is(opt, "noack") {
            return Err(Reply::error(
                "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(Reply::error(error::SYNTAX));
    };
    let rest = &args[at..];
    if !rest.len().is_multiple_of(2) {
        return Err(Reply::error(
            "ERR Unbalanced 'xread' list of streams: for each stream key an ID, '+', or '$' must be specified.",
        ));
    }
    let half = rest.len() / 2;
    Ok(XRead {
        count,
        block,
        keys: rest[..half].to_vec(),
        ids: rest[half..].to_vec(),
    })
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let req = match parse(args) {
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
    let reply = read_available(ctx, &req.keys, &from, req.count);
    match req.block {
        Some(timeout) if reply == Reply::NullArray && !ctx.session.in_exec => {
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
        BlockedRead::XRead { keys, from, count } => {
            let reply = read_available(ctx, keys, from, *count);
            (reply != Reply::NullArray).then_some(reply)
        }
        BlockedRead::XReadGroup(_) => None,
    }
}

/// Serves an XREAD from what the streams hold now: the reply, or null when nothing matched.
pub fn read_available(ctx: &mut Ctx, keys: &[Bytes], from: &[ReadFrom], count: usize) -> Reply {
    let limit = if count == 0 { usize::MAX } else { count };
    let resp3 = ctx.session.protocol >= 3;
    let mut per_stream = Vec::new();
    for (key, start) in keys.iter().zip(from) {
        let Ok(Some(stream)) = ctx.stream(key) else {
            continue;
        };
        let entries: Vec<Reply> = match start {
            ReadFrom::Last => stream
                .last_entry()
                .map(|e| entry_reply(&e))
                .into_iter()
                .collect(),
            ReadFrom::After(id) => match id.successor() {
                Some(first) => stream
                    .range(first, StreamId::MAX, false)
                    .take(limit)
                    .map(|e| entry_reply(&e))
                    .collect(),
                None => Vec::new(),
            },
        };
        if !entries.is_empty() {
            per_stream.push((Reply::Bulk(key.clone()), Reply::Array(entries)));
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
