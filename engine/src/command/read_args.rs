//! The arguments XREAD and XREADGROUP share, parsed the one way Redis parses them for both:
//! `[GROUP group consumer] [COUNT count] [MAXCOUNT maxcount] [MAXSIZE maxsize]
//! [BLOCK milliseconds] [CLAIM min-idle-time] [NOACK] STREAMS key ... id ...`.

use bytes::Bytes;

use crate::args::{int_arg, is};
use crate::error;
use crate::reply::{EntryList, Reply};

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
    /// MAXCOUNT and MAXSIZE (Redis 8.10): caps over the whole reply.
    pub caps: ReplyCaps,
    /// GROUP group consumer (XREADGROUP only; required there).
    pub group: Option<(Bytes, Bytes)>,
    /// The stream keys, in order.
    pub keys: Vec<Bytes>,
    /// The ID argument of each key, as written.
    pub ids: Vec<Bytes>,
}

/// MAXCOUNT and MAXSIZE (Redis 8.10): a cap on the entries of a whole reply across its
/// streams, and a soft cap on its size in bytes (the entry that crosses it is kept, and the
/// first entry is always returned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyCaps {
    /// MAXCOUNT.
    pub max_count: Option<u64>,
    /// MAXSIZE, in reply bytes.
    pub max_size: Option<u64>,
}

/// What one reply has used of its caps.
#[derive(Debug)]
pub struct Budget {
    caps: ReplyCaps,
    entries: u64,
    bytes: u64,
}

impl Budget {
    /// Nothing used yet.
    pub fn new(caps: ReplyCaps) -> Budget {
        Budget {
            caps,
            entries: 0,
            bytes: 0,
        }
    }

    /// Whether another entry may go into the reply.
    pub fn allows(&self) -> bool {
        if self.caps.max_count.is_some_and(|max| self.entries >= max) {
            return false;
        }
        !(self.entries > 0 && self.caps.max_size.is_some_and(|max| self.bytes >= max))
    }

    /// Counts the entry just put last into `list`.
    pub fn add_last(&mut self, list: &EntryList) {
        self.entries += 1;
        if self.caps.max_size.is_some() {
            self.bytes += list.last_encoded_len() as u64;
        }
    }
}

/// A MAXCOUNT or MAXSIZE value: a positive integer.
fn positive(arg: &[u8], option: &str) -> Result<u64, Reply> {
    crate::args::parse_i64_strict(arg)
        .filter(|n| *n > 0)
        .map(|n| n as u64)
        .ok_or_else(|| Reply::error(format!("ERR {option} must be a positive integer")))
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
        caps: ReplyCaps::default(),
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
        } else if is(opt, "maxcount") && more > 0 {
            i += 1;
            out.caps.max_count = Some(positive(&args[i], "MAXCOUNT")?);
        } else if is(opt, "maxsize") && more > 0 {
            i += 1;
            out.caps.max_size = Some(positive(&args[i], "MAXSIZE")?);
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
    if out
        .caps
        .max_count
        .is_some_and(|max| out.count > 0 && (out.count as u64) > max)
    {
        // A cap over every stream below the per-stream count (Redis rejects it; its exact
        // words were not available, these say what is wrong).
        return Err(Reply::error(
            "ERR MAXCOUNT must be greater than or equal to COUNT",
        ));
    }
    if group_read && out.group.is_none() {
        return Err(Reply::error("ERR Missing GROUP option for XREADGROUP"));
    }
    let half = (args.len() - at) / 2;
    out.keys = args[at..at + half].to_vec();
    out.ids = args[at + half..].to_vec();
    Ok(out)
}
