//! The arguments XREAD and XREADGROUP share, parsed the one way Redis parses them for both:
//! `[GROUP group consumer] [COUNT count] [BLOCK milliseconds] [CLAIM min-idle-time] [NOACK]
//! STREAMS key ... id ...`.

use bytes::Bytes;

use crate::args::{int_arg, is};
use crate::error;
use crate::reply::Reply;

/// Parsed read options; `keys` and `ids` pair up by position.
#[derive(Debug, Clone)]
pub struct ReadArgs {
    /// COUNT (0: no limit; negative counts read as 0).
    pub count: usize,
    /// BLOCK timeout in ms, when given (0: forever).
    pub block: Option<u64>,
    /// NOACK (XREADGROUP only).
    pub noack: bool,
    /// CLAIM min-idle-time (XREADGROUP only, Redis 8.4): idle pending entries of any
    /// consumer are claimed and returned before new ones.
    pub claim: Option<u64>,
    /// GROUP group consumer (XREADGROUP only; required there).
    pub group: Option<(Bytes, Bytes)>,
    /// The stream keys, in order.
    pub keys: Vec<Bytes>,
    /// The ID argument of each key, as written.
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

/// Parses from `args[1]` on; `group_read` selects XREADGROUP's rules and error texts.
pub fn parse(args: &[Bytes], group_read: bool) -> Result<ReadArgs, Reply> {
    let mut out = ReadArgs {
        count: 0,
        block: None,
        noack: false,
        claim: None,
        group: None,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut streams_at = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if is(opt, "block") && more > 0 {
            i += 1;
            out.block = Some(parse_timeout(&args[i])?);
        } else if is(opt, "count") && more > 0 {
            i += 1;
            out.count = int_arg(&args[i])?.max(0) as usize;
        } else if is(opt, "streams") && more > 0 {
            streams_at = Some(i + 1);
            if !(args.len() - i - 1).is_multiple_of(2) {
                return Err(Reply::error(if group_read {
                    "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."
                } else {
                    "ERR Unbalanced 'xread' list of streams: for each stream key an ID, '+', or '$' must be specified."
                }));
            }
            break;
        } else if is(opt, "group") && more >= 2 {
            if !group_read {
                return Err(Reply::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(opt, "claim") && more > 0 {
            if !group_read {
                return Err(Reply::error(
                    "ERR The CLAIM option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            i += 1;
            let idle = crate::args::parse_i64_strict(&args[i]).ok_or_else(|| {
                Reply::error("ERR min-idle-time is not an integer or out of range")
            })?;
            if idle < 0 {
                return Err(Reply::error("ERR min-idle-time must be a positive integer"));
            }
            out.claim = Some(idle as u64);
        } else if is(opt, "noack") {
            if !group_read {
                return Err(Reply::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.noack = true;
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(Reply::error(error::SYNTAX));
    };
    if group_read && out.group.is_none() {
        return Err(Reply::error("ERR Missing GROUP option for XREADGROUP"));
    }
    let half = (args.len() - at) / 2;
    out.keys = args[at..at + half].to_vec();
    out.ids = args[at + half..].to_vec();
    Ok(out)
}
