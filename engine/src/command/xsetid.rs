//! XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
//!
//! Sets a stream's last generated ID (and optionally its counters). The ID may not go below
//! the top entry nor below the max deleted ID (Redis 7.4 refuses the latter too).

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::id::{parse_strict_id, StreamId};
use crate::reply::Reply;

/// XSETID's table entry: arity -3 (key and last ID). Redis calls it internal (for replication), but
/// any client may send it.
pub fn specs() -> Vec<Spec> {
    vec![Spec::new(
        "xsetid",
        -3,
        Group::Stream,
        &["write", "denyoom", "fast"],
        (1, 1, 1),
        "An internal command for replicating stream values.",
        run,
    )
    .since("5.0.0")]
}

fn run(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let id = match parse_strict_id(&args[2]) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(&args[i], "entriesadded") && more > 0 {
            entries_added = match int_arg(&args[i + 1]) {
                Ok(n) if n < 0 => return Reply::error("ERR entries_added must be positive"),
                Ok(n) => n,
                Err(e) => return e,
            };
        } else if is(&args[i], "maxdeletedid") && more > 0 {
            max_deleted = match parse_strict_id(&args[i + 1]) {
                Ok(m) => m,
                Err(e) => return e,
            };
            if id < max_deleted {
                return Reply::error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
        } else {
            return Reply::error(error::SYNTAX);
        }
        i += 2;
    }
    let stream = match ctx.stream_mut(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    if id < stream.max_deleted_id {
        return Reply::error(
            "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
        );
    }
    if !stream.is_empty() {
        let top = stream.last_entry().map(|e| e.id).unwrap_or(StreamId::MIN);
        if id < top {
            return Reply::error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && stream.len() > entries_added as u64 {
            return Reply::error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    stream.last_id = id;
    if entries_added != -1 {
        stream.entries_added = entries_added as u64;
    }
    if max_deleted != StreamId::MIN {
        stream.max_deleted_id = max_deleted;
    }
    ctx.notify(crate::notify::STREAM, "xsetid", &args[1]);
    ctx.touch(&args[1]);
    Reply::ok()
}
