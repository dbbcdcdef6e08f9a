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
use crate::reply::Reply;
use crate::stream::Stream;

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
    help_reply(&[
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Print this help.",
    ])
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
    let s = match ctx.stream(&args[2]) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    let mut map = header(s);
    if full {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count as usize
        };
        let entries = s
            .range(crate::StreamId::MIN, crate::StreamId::MAX, false)
            .take(limit)
            .map(|e| entry_reply(&e))
            .collect();
        map.push((text("entries"), Reply::Array(entries)));
        map.push((text("groups"), Reply::Array(Vec::new())));
    } else {
        map.push((text("groups"), Reply::Integer(0)));
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
    ]
}

fn groups(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.stream(&args[2]) {
        Err(e) => e,
        Ok(None) => Reply::error(error::NO_SUCH_KEY),
        // Consumer groups arrive with XGROUP; until then no stream has any.
        Ok(Some(_)) => Reply::Array(Vec::new()),
    }
}

fn consumers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match ctx.stream(&args[2]) {
        Err(e) => e,
        Ok(None) => Reply::error(error::NO_SUCH_KEY),
        Ok(Some(_)) => Reply::error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(&args[3]),
            String::from_utf8_lossy(&args[2])
        )),
    }
}
