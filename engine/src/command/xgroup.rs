//! `XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]`
//! `XGROUP SETID key group id|$ [ENTRIESREAD entries-read]`
//! `XGROUP DESTROY key group`
//! `XGROUP CREATECONSUMER key group consumer`
//! `XGROUP DELCONSUMER key group consumer`
//! `XGROUP HELP`
//!
//! Manages consumer groups. Every subcommand but CREATE ... MKSTREAM needs the stream to
//! exist; all but CREATE and DESTROY need the group.

use crate::notify::STREAM;
use bytes::Bytes;

use super::{container_arity, help_reply, Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::group::ConsumerGroup;
use crate::id::{parse_id, parse_strict_id, StreamId};
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::stream::Stream;

/// XGROUP's table entry: a container whose subcommands (CREATE, SETID, DESTROY, CREATECONSUMER,
/// DELCONSUMER, HELP) hold the real arities, with the key as their second argument.
pub fn specs() -> Vec<Spec> {
    let sub = |name, arity, flags, keys, summary, run| {
        Spec::new(name, arity, Group::Stream, flags, keys, summary, run).since("5.0.0")
    };
    vec![Spec::new(
        "xgroup",
        -2,
        Group::Stream,
        &[],
        (0, 0, 0),
        "A container for consumer groups commands.",
        container_arity,
    )
    .since("5.0.0")
    .with_subcommands(vec![
        sub(
            "xgroup|create",
            -5,
            &["write", "denyoom"],
            (2, 2, 1),
            "Creates a consumer group.",
            create,
        ),
        sub(
            "xgroup|setid",
            -5,
            &["write"],
            (2, 2, 1),
            "Sets the last-delivered ID of a consumer group.",
            setid,
        ),
        sub(
            "xgroup|destroy",
            4,
            &["write"],
            (2, 2, 1),
            "Destroys a consumer group.",
            destroy,
        ),
        sub(
            "xgroup|createconsumer",
            5,
            &["write", "denyoom"],
            (2, 2, 1),
            "Creates a consumer in a consumer group.",
            create_consumer,
        )
        .since("6.2.0"),
        sub(
            "xgroup|delconsumer",
            5,
            &["write"],
            (2, 2, 1),
            "Deletes a consumer from a consumer group.",
            delete_consumer,
        ),
        sub(
            "xgroup|help",
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
        "xgroup",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

const NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

/// `-NOGROUP No such consumer group 'g' for key name 'k'`
fn no_group(key: &[u8], group: &[u8]) -> Reply {
    error::no_such_group(key, group)
}

/// A group cannot have read more entries than the stream ever had: Redis 8.2.2 on lowers
/// ENTRIESREAD to entries-added (before, a larger value gave a negative lag).
fn capped(entries_read: Option<u64>, stream: &Stream) -> Option<u64> {
    entries_read.map(|n| n.min(stream.entries_added))
}

/// ENTRIESREAD's value: a count, or -1 for "unknown".
fn entries_read_arg(arg: &[u8]) -> Result<Option<u64>, Reply> {
    let n = int_arg(arg)?;
    if n < 0 && n != -1 {
        return Err(Reply::error(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok((n >= 0).then_some(n as u64))
}

/// Looks the stream up for a subcommand that needs it: WRONGTYPE, or the "requires the key"
/// error when absent.
fn existing_stream<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c mut Stream, Reply> {
    match ctx.stream_mut(key)? {
        Some(s) => Ok(s),
        None => Err(Reply::error(NEEDS_KEY)),
    }
}

fn create(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < args.len() {
        if is(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(&args[i], "entriesread") && i + 1 < args.len() {
            entries_read = match entries_read_arg(&args[i + 1]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            i += 2;
        } else {
            return Reply::error(error::subcommand_syntax("xgroup", &args[1]));
        }
    }
    let (key, name) = (&args[2], &args[3]);
    let exists = match ctx.stream(key) {
        Err(e) => return e,
        Ok(s) => s.is_some(),
    };
    if !exists && !mkstream {
        return Reply::error(NEEDS_KEY);
    }
    // Redis takes at most three options' worth of words, checked only at this point.
    if args.len() > 8 {
        return Reply::error(error::subcommand_syntax("xgroup", &args[1]));
    }
    let id = if args[4].as_ref() == b"$" {
        match ctx.stream(key) {
            Ok(Some(s)) => s.last_id,
            _ => StreamId::MIN,
        }
    } else {
        match parse_strict_id(&args[4]) {
            Ok(id) => id,
            Err(e) => return e,
        }
    };
    if !exists {
        let fresh = ctx.state.config.new_stream();
        ctx.db()
            .set(key.clone(), Value::Stream(Box::new(fresh)), false);
        // Creating the key is the one group change WATCH sees.
        ctx.touch(key);
    }
    let Ok(Some(stream)) = ctx.stream_mut(key) else {
        return Reply::error(error::WRONGTYPE);
    };
    if stream.groups.contains_key(name) {
        return Reply::error("BUSYGROUP Consumer Group name already exists");
    }
    let entries_read = capped(entries_read, stream);
    stream.groups.insert(
        Bytes::copy_from_slice(name),
        ConsumerGroup::new(id, entries_read),
    );
    ctx.state.stats.dirty += 1;
    ctx.notify(STREAM, "xgroup-create", key);
    Reply::ok()
}

fn setid(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut entries_read = None;
    match args.len() {
        5 => {}
        7 if is(&args[5], "entriesread") => {
            entries_read = match entries_read_arg(&args[6]) {
                Ok(n) => n,
                Err(e) => return e,
            }
        }
        _ => return Reply::error(error::subcommand_syntax("xgroup", &args[1])),
    }
    let (key, name) = (&args[2], &args[3]);
    let stream = match existing_stream(ctx, key) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if !stream.groups.contains_key(name) {
        return no_group(key, name);
    }
    let id = if args[4].as_ref() == b"$" {
        stream.last_id
    } else {
        match parse_id(&args[4], false, 0, false) {
            Ok(p) => p.id,
            Err(e) => return e,
        }
    };
    let entries_read = capped(entries_read, stream);
    if let Some(group) = stream.groups.get_mut(name) {
        group.last_id = id;
        group.entries_read = entries_read;
    }
    ctx.state.stats.dirty += 1;
    ctx.notify(STREAM, "xgroup-setid", key);
    Reply::ok()
}

fn destroy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, name) = (&args[2], &args[3]);
    let stream = match existing_stream(ctx, key) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if stream.groups.remove(name).is_none() {
        return Reply::Integer(0);
    }
    // Clients blocked on the group are released, with NOGROUP.
    ctx.signal_blocked(key);
    ctx.state.stats.dirty += 1;
    ctx.notify(STREAM, "xgroup-destroy", key);
    Reply::Integer(1)
}

fn create_consumer(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, name, consumer) = (&args[2], &args[3], &args[4]);
    let now = ctx.now_ms;
    let stream = match existing_stream(ctx, key) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let Some(group) = stream.groups.get_mut(name) else {
        return no_group(key, name);
    };
    let created = group.create_consumer(consumer, now);
    if created {
        ctx.state.stats.dirty += 1;
        ctx.notify(STREAM, "xgroup-createconsumer", key);
    }
    Reply::Integer(i64::from(created))
}

fn delete_consumer(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, name, consumer) = (&args[2], &args[3], &args[4]);
    let stream = match existing_stream(ctx, key) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let Some(group) = stream.groups.get_mut(name) else {
        return no_group(key, name);
    };
    let pending = group.delete_consumer(consumer);
    ctx.state.stats.dirty += 1;
    ctx.notify(STREAM, "xgroup-delconsumer", key);
    Reply::Integer(pending as i64)
}
