//! XRANGE key start end [COUNT count]
//! XREVRANGE key end start [COUNT count]
//! XLEN key
//!
//! Reads entries in ID order (or reverse) between two bounds; `(` makes a bound exclusive.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::id::parse_range_bound;
use crate::reply::{EntryList, Reply};
use crate::stream::EntryView;

/// Table entries for XRANGE and XREVRANGE (arity -4: key and two bounds, COUNT optional) and XLEN
/// (arity 2).
pub fn specs() -> Vec<Spec> {
    vec![
        Spec::new(
            "xrange",
            -4,
            Group::Stream,
            &["readonly"],
            (1, 1, 1),
            "Returns the entries of a stream within a range of IDs.",
            xrange,
        )
        .since("5.0.0"),
        Spec::new(
            "xrevrange",
            -4,
            Group::Stream,
            &["readonly"],
            (1, 1, 1),
            "Returns the entries of a stream within a range of IDs, newest first.",
            xrevrange,
        )
        .since("5.0.0"),
        Spec::new(
            "xlen",
            2,
            Group::Stream,
            &["readonly", "fast"],
            (1, 1, 1),
            "Returns the number of entries in a stream.",
            xlen,
        )
        .since("5.0.0"),
    ]
}

/// An entry as every stream read replies it: `[id, [field, value, ...]]`.
pub fn entry_reply(entry: &EntryView<'_>) -> Reply {
    // The ID and every field and value copied into one buffer, each reply a slice of it:
    // one allocation for the entry's bytes instead of one per string.
    let mut id_text = [0u8; 41];
    let id = entry.id.text(&mut id_text);
    let size = id.len()
        + entry
            .fields()
            .map(|(f, v)| f.len() + v.len())
            .sum::<usize>();
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(id);
    for (f, v) in entry.fields() {
        buf.extend_from_slice(f);
        buf.extend_from_slice(v);
    }
    let buf = Bytes::from(buf);
    // The fields again, for their lengths: walking a node entry costs less than a vector of
    // offsets would.
    let mut flat = Vec::with_capacity(entry.field_count() * 2);
    let mut at = id.len();
    for (f, v) in entry.fields() {
        for len in [f.len(), v.len()] {
            flat.push(Reply::Bulk(buf.slice(at..at + len)));
            at += len;
        }
    }
    Reply::Array(vec![Reply::Bulk(buf.slice(..id.len())), Reply::Array(flat)])
}

fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range(ctx, args, true)
}

fn range(ctx: &mut Ctx, args: &[Bytes], reverse: bool) -> Reply {
    let (start_arg, end_arg) = if reverse {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let (mut start, start_ex) = match parse_range_bound(start_arg, 0) {
        Ok(b) => b,
        Err(e) => return e,
    };
    if start_ex {
        match start.successor() {
            Some(s) => start = s,
            None => return Reply::error("ERR invalid start ID for the interval"),
        }
    }
    let (mut end, end_ex) = match parse_range_bound(end_arg, u64::MAX) {
        Ok(b) => b,
        Err(e) => return e,
    };
    if end_ex {
        match end.predecessor() {
            Some(e) => end = e,
            None => return Reply::error("ERR invalid end ID for the interval"),
        }
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            count = match int_arg(&args[j + 1]) {
                Ok(n) => n.max(0),
                Err(e) => return e,
            };
            j += 2;
        } else {
            return Reply::error(error::SYNTAX);
        }
    }
    let stream = match ctx.stream(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(s)) => s,
    };
    if count == 0 {
        return Reply::NullArray;
    }
    let limit = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let mut list = EntryList::with_capacity(limit.min(stream.len() as usize));
    stream.range(start, end, reverse).visit(limit, |entry| {
        list.push(entry);
        ControlFlow::Continue(())
    });
    Reply::Entries(Box::new(list))
}

fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.stream(&args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Integer(0),
        Ok(Some(s)) => Reply::Integer(s.len() as i64),
    }
}
