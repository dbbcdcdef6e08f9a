//! The commands around idempotent production (Redis 8.6; XADD's side is in [`super::xadd`]):
//!
//! - `XCFGSET key [IDMP-DURATION seconds] [IDMP-MAXSIZE count]`: a stream's settings; a
//!   change forgets every producer's iids (the lifetime counters stay).
//! - `XIDMPRECORD key producer-id idempotent-id stream-id`: puts one remembered mapping back,
//!   as an AOF rewrite writes them (Redis calls it internal; clients should not need it).

use bytes::Bytes;

use super::{Ctx, Group, Spec};
use crate::args::{int_arg, is};
use crate::error;
use crate::id::parse_strict_id;
use crate::reply::Reply;
use crate::stream::idmp::{RecordConflict, DURATION_RANGE, MAX_SIZE_RANGE};

/// The table entries: XCFGSET (arity -2: the key alone passes and is told to say more) and
/// XIDMPRECORD (arity 5).
pub fn specs() -> Vec<Spec> {
    vec![
        Spec::new(
            "xcfgset",
            -2,
            Group::Stream,
            &["write", "fast"],
            (1, 1, 1),
            "Sets the IDMP configuration parameters for a stream.",
            xcfgset,
        )
        .since("8.6.0"),
        Spec::new(
            "xidmprecord",
            5,
            Group::Stream,
            &["write", "denyoom", "fast"],
            (1, 1, 1),
            "Records an idempotent ID mapping for a stream, as replayed from the AOF.",
            xidmprecord,
        )
        .since("8.6.2"),
    ]
}

/// One setting's value, checked against its range with Redis's words.
fn setting(arg: &Bytes, name: &str, (lo, hi): (u64, u64), unit: &str) -> Result<u64, Reply> {
    let n = int_arg(arg)?;
    if n < lo as i64 || n > hi as i64 {
        return Err(Reply::error(format!(
            "ERR {name} must be between {lo} and {hi} {unit}"
        )));
    }
    Ok(n as u64)
}

fn xcfgset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut duration, mut max_size) = (None, None);
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Reply::error(error::SYNTAX);
        };
        let parsed = if is(&args[i], "idmp-duration") {
            setting(value, "IDMP-DURATION", DURATION_RANGE, "seconds").map(|d| duration = Some(d))
        } else if is(&args[i], "idmp-maxsize") {
            setting(value, "IDMP-MAXSIZE", MAX_SIZE_RANGE, "entries").map(|m| max_size = Some(m))
        } else {
            return Reply::error(error::SYNTAX);
        };
        if let Err(e) = parsed {
            return e;
        }
        i += 2;
    }
    if duration.is_none() && max_size.is_none() {
        return Reply::error("ERR At least one parameter must be specified");
    }
    let stream = match ctx.stream_mut(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    stream.idmp.configure(duration, max_size);
    ctx.touch(&args[1]);
    Reply::ok()
}

fn xidmprecord(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (pid, iid) = (&args[2], &args[3]);
    if pid.is_empty() {
        return Reply::error("ERR IDMP requires a non-empty producer ID");
    }
    if iid.is_empty() {
        return Reply::error("ERR IDMP requires a non-empty idempotent ID");
    }
    let id = match parse_strict_id(&args[4]) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let now = ctx.now_ms;
    let loader = ctx.session.loader;
    let stream = match ctx.stream_mut(&args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::error(error::NO_SUCH_KEY),
        Ok(Some(s)) => s,
    };
    // A mapping outlives its entry (XDEL and trims leave it), so Rill's own log may replay
    // one whose entry is gone; a client may only point at a live entry, as in Redis.
    let known = stream.contains(id) || (loader && id <= stream.last_id);
    if !known {
        return Reply::error("ERR The stream ID does not exist in the stream");
    }
    match stream.idmp.replay_record(pid, iid, id, now) {
        Ok(()) => {}
        Err(RecordConflict::OtherId) => {
            return Reply::error("ERR The idempotent ID is already recorded with another stream ID")
        }
    }
    ctx.db().track_idmp(&args[1]);
    ctx.touch(&args[1]);
    Reply::ok()
}
